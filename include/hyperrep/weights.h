/* Named tensors on disk: safetensors (read via mmap, write atomically),
 * PyTorch .pth checkpoints (read only, without Python) and .npy arrays.
 *
 * An hr_tensor_map is an ordered set of float32 tensors keyed by name. It owns
 * its storage: either copies made when a tensor was added or a read-only
 * memory mapping of a safetensors file (zero copy when the file's data is
 * float32 little-endian and 4-byte aligned). Tensors of other dtypes in files
 * (f16, bf16, f64, integers) are converted to float32 on load. */
#ifndef HYPERREP_WEIGHTS_H
#define HYPERREP_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/error.h"
#include "hyperrep/io.h"
#include "hyperrep/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits applied to every file we read, before allocating. */
#define HR_WEIGHTS_MAX_NAME 255            /* bytes in a tensor name */
#define HR_WEIGHTS_MAX_TENSORS 100000      /* tensors in one file */
#define HR_WEIGHTS_MAX_ELEMENTS ((int64_t)1 << 34) /* elements in one tensor */
/* A .pth view may hold at most this many elements more than its storage
 * (stride 0 repeats, PyTorch's expand; 2^24 floats, 64 MiB gathered):
 * beyond, HR_ERR_LIMIT, so a tiny file cannot ask for gigabytes. */
#define HR_PTH_MAX_EXPANSION ((int64_t)1 << 24)
/* The compressed entries of one .pth inflate to at most this many bytes in
 * all (1 GiB; torch.save stores entries uncompressed, which count as the
 * file's own bytes): beyond, HR_ERR_LIMIT. */
#define HR_PTH_MAX_INFLATED ((uint64_t)1 << 30)

typedef struct hr_named_tensor {
    const char *name;     /* NUL-terminated, owned by the map */
    int ndim;             /* 0..HR_MAX_DIMS; 0 is a scalar with one element */
    int64_t shape[HR_MAX_DIMS];
    const float *data;    /* contiguous row-major float32, owned by the map */
} hr_named_tensor;

typedef struct hr_tensor_map hr_tensor_map;

hr_status hr_tensor_map_create(hr_tensor_map **out, hr_error *err);
/* Frees the map, its copies and its mapping; NULL is a no-op. */
void hr_tensor_map_destroy(hr_tensor_map *map);

size_t hr_tensor_map_count(const hr_tensor_map *map);
/* The i-th tensor in insertion order (file order for loaded maps). */
const hr_named_tensor *hr_tensor_map_at(const hr_tensor_map *map, size_t i);
/* The tensor called name, or NULL. */
const hr_named_tensor *hr_tensor_map_find(const hr_tensor_map *map, const char *name);
/* Number of elements of a named tensor (1 for a scalar). */
int64_t hr_named_tensor_numel(const hr_named_tensor *t);

/* Adds a copy of data (numel of shape floats) under name. Fails with
 * HR_ERR_INVALID_ARG when the name exists already, is empty or too long, or
 * the shape has a negative dimension or more than HR_MAX_DIMS dims. */
hr_status hr_tensor_map_add(hr_tensor_map *map, const char *name, int ndim, const int64_t *shape,
                            const float *data, hr_error *err);

/* Declares that t's data will not be read again soon: when it lies in the
 * map's file mapping, its whole pages are returned to the OS (a later read
 * faults them back in from the file). Copied data is left alone. Lets a
 * lean loader keep resident memory at one layer's worth of source weights. */
void hr_tensor_map_release(hr_tensor_map *map, const hr_named_tensor *t);

/* Renames every tensor whose name starts with `prefix` by removing the prefix
 * (used for "module." and "state_dict." prefixes). Returns HR_ERR_FORMAT when
 * two names collide after stripping. */
hr_status hr_tensor_map_strip_prefix(hr_tensor_map *map, const char *prefix, hr_error *err);

/* safetensors (https://github.com/huggingface/safetensors format): the file is
 * mapped read-only; F32 tensors are used in place, F16/BF16/F64/I64/I32/I16/I8/
 * U8/BOOL are converted. Every header field is validated (header length within
 * the file and below 100 MB, offsets inside the data area, offsets consistent
 * with dtype and shape, no overlaps, names unique). Errors name the file and
 * the offending tensor/field. */
hr_status hr_safetensors_load(const char *path, hr_tensor_map **out, hr_error *err);

/* Writes all tensors as F32 in insertion order, with an optional metadata
 * object of string pairs (may be NULL / 0). The file is written to a
 * temporary name beside path and renamed, so readers never see half a file. */
hr_status hr_safetensors_save(const char *path, const hr_tensor_map *map, const char *const *meta_keys,
                              const char *const *meta_values, size_t n_meta, hr_error *err);
/* The same for a file only its owner may read (checkpoints): mode 0600
 * instead of 0644, set before the file appears under its name. */
hr_status hr_safetensors_save_private(const char *path, const hr_tensor_map *map, const char *const *meta_keys,
                                      const char *const *meta_values, size_t n_meta, hr_error *err);

/* The same for safetensors bytes in memory (weights received over the
 * network, weights to send): they go through a private temporary file in
 * $TMPDIR (default /tmp), unlinked at once, because the loader maps files
 * and so lets the kernel drop pages of blocks already built. load_bytes:
 * errors as hr_safetensors_load (named "safetensors bytes"), HR_ERR_IO for
 * the temporary file. save_bytes: *data is malloc'd (caller frees). */
hr_status hr_safetensors_load_bytes(const void *data, size_t n, hr_tensor_map **out, hr_error *err);
hr_status hr_safetensors_save_bytes(const hr_tensor_map *map, void **data, size_t *n, hr_error *err);

/* PyTorch checkpoints (torch.save zip format, protocol 2 pickles): reads
 * data.pkl with a restricted unpickler that accepts only the opcodes and
 * globals a state_dict needs (collections.OrderedDict, torch._utils.
 * _rebuild_tensor_v2, torch.*Storage classes, torch._utils._rebuild_parameter)
 * and rejects anything else naming the opcode/global; nothing is executed.
 * A dict nested under "state_dict" (or "model") is unwrapped and a "module."
 * prefix is stripped. Non-tensor entries (numbers, strings) are ignored. */
hr_status hr_pth_load(const char *path, hr_tensor_map **out, hr_error *err);

/* Model weights from either format, recognised by content: a zip archive
 * ("PK\3\4", torch.save's format) is read with hr_pth_load, anything else
 * with hr_safetensors_load. Errors as theirs; HR_ERR_IO when the file cannot
 * be opened. */
hr_status hr_weights_load(const char *path, hr_tensor_map **out, hr_error *err);

/* .npy files (format 1.0-3.0), float32 little-endian (`<f4`), C order,
 * 0..HR_MAX_DIMS dims. hr_npy_load allocates *data with malloc (caller frees);
 * shape receives ndim entries. */
hr_status hr_npy_load(const char *path, int *ndim, int64_t shape[HR_MAX_DIMS], float **data, hr_error *err);
/* Writes atomically (temporary file + rename). */
hr_status hr_npy_save(const char *path, int ndim, const int64_t *shape, const float *data, hr_error *err);


#ifdef __cplusplus
}
#endif
#endif
