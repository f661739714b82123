/* Private helpers shared by the weight readers and writers in src/weights/:
 * tensor-map insertion without an extra copy, ownership of a file mapping,
 * dtype conversion to float32, checked size arithmetic and a streaming
 * variant of hr_write_file_atomic. Not part of the public API. */
#ifndef HR_WEIGHTS_INTERNAL_H
#define HR_WEIGHTS_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "hyperrep/weights.h"

/* ---- tensor map ---------------------------------------------------------- */

/* Adds a tensor whose data was allocated with malloc; the map takes ownership
 * of data in every case, freeing it when the add fails. */
hr_status hr__tensor_map_add_owned(hr_tensor_map *map, const char *name, size_t name_len, int ndim,
                                   const int64_t *shape, float *data, hr_error *err);

/* Adds a tensor whose data lives in storage the map already owns (its file
 * mapping); the map never frees data itself. */
hr_status hr__tensor_map_add_borrowed(hr_tensor_map *map, const char *name, size_t name_len, int ndim,
                                      const int64_t *shape, const float *data, hr_error *err);

/* Hands a read-only mapping of len bytes to the map, which munmaps it on
 * destroy. At most one mapping per map. */
void hr__tensor_map_adopt_mapping(hr_tensor_map *map, void *addr, size_t len);

/* ---- element types ------------------------------------------------------- */

typedef enum hr__dtype {
    HR__DT_F32,
    HR__DT_F16,
    HR__DT_BF16,
    HR__DT_F64,
    HR__DT_I64,
    HR__DT_I32,
    HR__DT_I16,
    HR__DT_I8,
    HR__DT_U8,
    HR__DT_BOOL,
    HR__DT_COUNT
} hr__dtype;

/* Bytes per element of dt. */
size_t hr__dtype_size(hr__dtype dt);

/* Converts element `index` of little-endian array src of type dt to float.
 * Reads through memcpy, so src needs no alignment. */
float hr__dtype_load(hr__dtype dt, const unsigned char *src, uint64_t index);

/* Converts n little-endian elements of type dt at src (any alignment) into
 * dst. */
void hr__dtype_convert(hr__dtype dt, const unsigned char *src, float *dst, uint64_t n);

/* 1 when this machine stores floats little-endian (the byte order of every
 * file format we read), so F32 data can be used or written as is. */
int hr__host_is_le(void);

/* ---- checked arithmetic -------------------------------------------------- */

/* Multiplies the ndim dimensions of shape into *numel, failing (returning 0)
 * when a dimension is negative or the product exceeds
 * HR_WEIGHTS_MAX_ELEMENTS; checked before each multiplication, so it never
 * overflows. Returns 1 on success. */
int hr__shape_numel(int ndim, const int64_t *shape, int64_t *numel);

/* Writes "[2, 3]" into buf (size bytes). Returns buf. */
char *hr__shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* ---- streaming atomic write ---------------------------------------------- */

typedef struct hr__atomic_file {
    FILE *f;
    char *tmp_path; /* "<path>.tmp.<pid>.<n>", malloc'd */
    const char *path;
    unsigned mode;  /* the file's mode once committed */
} hr__atomic_file;

/* Creates the temporary file beside path (O_CREAT|O_EXCL|O_NOFOLLOW, mode
 * 0600, so nobody else reads it half-written or plants a link there),
 * first removing stale temporaries of path left by processes that no
 * longer run. The committed file gets `mode` (0644 for results, 0600 for
 * checkpoints), set before the rename. On failure nothing is left behind. */
hr_status hr__atomic_begin_mode(hr__atomic_file *af, const char *path, unsigned mode, hr_error *err);
/* hr__atomic_begin_mode with 0644. */
hr_status hr__atomic_begin(hr__atomic_file *af, const char *path, hr_error *err);
/* Appends size bytes; on failure the temporary file is removed and af is
 * finished (do not call commit or abort afterwards). */
hr_status hr__atomic_write(hr__atomic_file *af, const void *data, size_t size, hr_error *err);
/* Appends n floats in little-endian byte order (converting on big-endian
 * hosts); same failure behaviour as hr__atomic_write. */
hr_status hr__atomic_write_f32le(hr__atomic_file *af, const float *data, uint64_t n, hr_error *err);
/* Flushes, fsyncs, closes and renames the file over path; on any failure the
 * temporary file is removed. af is finished either way. */
hr_status hr__atomic_commit(hr__atomic_file *af, hr_error *err);
/* Closes and removes the temporary file; safe on a finished af. */
void hr__atomic_abort(hr__atomic_file *af);

#endif
