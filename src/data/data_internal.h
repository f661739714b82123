/* Internals of the data module: the dataset object, decode scratch buffers,
 * the IDX reader, image decoding and resizing, and random-stream ids. */
#ifndef HR_DATA_INTERNAL_H
#define HR_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "hyperrep/data.h"

/* Bounds applied before allocating anything a file asks for. */
#define HR__DATA_MAX_SAMPLES ((int64_t)INT32_MAX) /* samples in one pool */
#define HR__DATA_MAX_SIDE 4096                    /* IDX image side, in-memory side */
#define HR__DATA_MAX_CLASSES 1000000
#define HR__DATA_MAX_PATH 4096

typedef enum hr__dataset_kind {
    HR__DS_U8,     /* pixels stored as bytes (value / 255) */
    HR__DS_F32,    /* pixels stored as floats in [0, 1] */
    HR__DS_FILES   /* one image file per sample, decoded on demand */
} hr__dataset_kind;

struct hr_dataset {
    hr__dataset_kind kind;
    hr_pool pool;
    int64_t n, c, h, w;
    int num_classes;
    int has_names;
    char **class_names;     /* num_classes strings */
    int32_t *labels;        /* n */
    float mean[3], std[3];  /* c <= 3 for files; in-memory datasets may have more */
    float *mean_big, *std_big; /* used instead when c > 3 */
    uint8_t *u8;            /* HR__DS_U8: n·c·h·w */
    float *f32;             /* HR__DS_F32: n·c·h·w */
    char **paths;           /* HR__DS_FILES: n */
    int resize, crop;       /* HR__DS_FILES */
    int64_t max_image_pixels;
    hr_bad_file_policy on_bad_file; /* HR__DS_FILES */
    int64_t skipped;
    char *name;
};

/* Grow-only buffers for decoding one image file (one per thread). */
typedef struct hr__decode_scratch {
    uint8_t *rgb;           /* decoded image, H0·W0·3 */
    size_t rgb_cap;
    void *rows;             /* row pointers for libpng */
    size_t rows_cap;
    float *tmp;             /* resize intermediate */
    size_t tmp_cap;
    float *coef;            /* resize coefficients */
    size_t coef_cap;
    int *bounds;            /* resize windows */
    size_t bounds_cap;
} hr__decode_scratch;

void hr__decode_scratch_free(hr__decode_scratch *s);

/* Allocates an empty dataset shell (names, labels to be filled by the
 * loader); n, c, h, w and num_classes must be set by the caller. */
hr_dataset *hr__dataset_alloc(void);
/* Sets class names "0", "1", … when a loader has none. */
hr_status hr__dataset_default_names(hr_dataset *ds, hr_error *err);
/* A file-backed dataset holding samples idx[0..n) of src (paths and labels
 * copied), as pool `pool`, named src's name + suffix. */
hr_status hr__dataset_subset(const hr_dataset *src, const int64_t *idx, int64_t n, hr_pool pool,
                             const char *suffix, hr_dataset **out, hr_error *err);
/* Mean/std of channel ch. */
float hr__dataset_mean(const hr_dataset *ds, int64_t ch);
float hr__dataset_std(const hr_dataset *ds, int64_t ch);

/* Writes the clean pixels of sample i in [0, 1] into out (c·h·w floats).
 * scratch is used (and grown) for file-backed datasets; errors name the
 * file. */
hr_status hr__dataset_pixels(const hr_dataset *ds, int64_t i, hr__decode_scratch *scratch, float *out,
                             hr_error *err);
/* In-place (x - mean) / std per channel. */
void hr__dataset_normalise(const hr_dataset *ds, float *x);

/* ---- IDX files (gzip or plain) ---- */
typedef struct hr__idx {
    int ndim;              /* 1 or 3 */
    int64_t dims[3];
    uint8_t *data;         /* dims[0]·dims[1]·dims[2] bytes, malloc'ed */
} hr__idx;

/* Reads an unsigned-byte IDX file with want_ndim dimensions in full and
 * validates it against its length. */
hr_status hr__idx_read(const char *path, int want_ndim, hr__idx *out, hr_error *err);

/* ---- image files ---- */
/* Reads the header of path (JPEG or PNG by magic): *w, *h. With full != 0 the
 * whole image is decoded too (into scratch). */
hr_status hr__image_probe(const char *path, int full, int64_t max_pixels, hr__decode_scratch *scratch, int64_t *w,
                          int64_t *h, hr_error *err);
/* Decodes path into scratch->rgb as 8-bit RGB, *w × *h. Any libjpeg warning
 * (corrupt or truncated data) is an error. */
hr_status hr__image_decode(const char *path, int64_t max_pixels, hr__decode_scratch *scratch, int64_t *w,
                           int64_t *h, hr_error *err);
/* Resizes an 8-bit RGB image (w × h, interleaved) so its shorter side is
 * `resize` (PIL's antialiased bilinear, torchvision's size rule), centre-crops
 * crop × crop (torchvision's rounding) and writes 3×crop×crop CHW floats in
 * [0, 1] (quantised to 1/255 like the 8-bit image PIL would produce). */
hr_status hr__resize_crop(const uint8_t *rgb, int64_t w, int64_t h, int resize, int crop, hr__decode_scratch *s,
                          float *out, hr_error *err);

/* ---- random streams ----
 * Every random draw in the data module comes from hr__rng_seed(seed,
 * hr__stream(tag, a, b, c)): a stream is a pure function of what it is for,
 * never of the order in which things are computed. */
enum {
    HR__STREAM_CORRUPT = 1,  /* (domain, pool, index) */
    HR__STREAM_SHUFFLE,      /* (epoch) */
    HR__STREAM_AUGMENT,      /* (pool, epoch, index) */
    HR__STREAM_CLASS_ORDER,  /* (pool, class) */
    HR__STREAM_DIRICHLET,    /* (attempt, class) */
    HR__STREAM_FOLDER_SPLIT  /* (class) */
};
uint64_t hr__stream(uint64_t tag, uint64_t a, uint64_t b, uint64_t c);

/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t hr__rng_below(hr__rng *r, uint64_t n);
/* Fisher–Yates shuffle of v[0..n). */
void hr__shuffle_i64(hr__rng *r, int64_t *v, int64_t n);

/* Builds "dir/name" into a fresh malloc'ed string; NULL when out of memory. */
char *hr__path_join(const char *dir, const char *name);

#endif
