/* Data: datasets, the 10 shifted domains, partitions and batches (SPEC §8).
 *
 * A dataset (hr_dataset) is one *pool* of N labelled samples of C×H×W float32:
 * the training pool (Fashion-MNIST's 60 000 training images) or the test pool
 * (its 10 000 test images). Samples are produced on request as pixels in
 * [0, 1], then corrupted by a domain (SPEC §8: Gaussian or salt-and-pepper
 * noise, clipped to [0, 1]) and normalised with the dataset's per-channel
 * mean/std. Corruption is a pure function of (seed, domain, pool, sample
 * index), so any sample of any domain can be regenerated on its own, in any
 * order and on any thread: runs are resumable and independent of the thread
 * count.
 *
 * A partition (hr_partition) splits the two pools into 10 disjoint domains,
 * each with three disjoint parts: train and validation (85/15 of the domain's
 * training subset, stratified by class) and test (its test subset).
 *
 * A batch iterator (hr_batch_iter) walks a list of sample indices in batches
 * of NCHW float32 + int64 labels, optionally reshuffled per epoch by
 * (seed, epoch), with the domain's corruption applied on the fly and the work
 * split over the context's threads. It allocates only when created.
 *
 *   hr_data_params dp = hr_data_params_default();    // Fashion-MNIST, dirichlet
 *   hr_data *data;
 *   hr_batch_iter *it;
 *   hr_batch b;
 *   if (hr_data_open(ctx, &dp, &data, &err) ||
 *       hr_data_iter_create(ctx, data, 3, HR_PART_TRAIN, NULL, &it, &err))
 *       ...;
 *   for (int64_t epoch = 0; epoch < 3; epoch++) {
 *       hr_batch_iter_seek(it, epoch, 0, &err);
 *       while (hr_batch_iter_next(it, &b, &err) == HR_OK && b.n > 0)
 *           train_step(&b.x, b.labels, b.n);   // b.x: [n, 1, 28, 28]
 *   }
 *
 * Image files are decoded lazily, one batch at a time on the context's
 * threads: ImageNet-style folders hold far more pixels than memory (50 000
 * validation images are 7.5 GB even as 8-bit 224×224 crops), and decoding
 * one image costs a few milliseconds, far less than a forward/backward pass
 * of the models that need 224×224 input. Fashion-MNIST is held in memory as
 * 8-bit pixels (47 MB). */
#ifndef HYPERREP_DATA_H
#define HYPERREP_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ctx.h"
#include "hyperrep/error.h"
#include "hyperrep/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ domains */

#define HR_NUM_DOMAINS 10
/* Pass as a domain to get clean (uncorrupted) samples. */
#define HR_DOMAIN_CLEAN (-1)

typedef enum hr_noise_kind {
    HR_NOISE_NONE,
    HR_NOISE_GAUSSIAN,     /* x + N(0, level²) per element */
    HR_NOISE_SALT_PEPPER,  /* each pixel hit with probability level; half → 1, half → 0 */
    HR_NOISE_KIND_COUNT
} hr_noise_kind;

typedef struct hr_domain_info {
    int id;
    hr_noise_kind kind;
    double level;             /* σ for Gaussian, hit probability p for salt-and-pepper */
    const char *name;         /* "Gaussian Noise (Weak)" — as in partition_info.json */
    const char *description;  /* "weak Gaussian noise (sigma 0.20)" */
} hr_domain_info;

/* The domain table of SPEC §8 (0..HR_NUM_DOMAINS-1); NULL when out of range. */
const hr_domain_info *hr_domain_get(int domain);

/* A set of domains as the command line writes it (docs/CLI.md, --domains):
 * comma-separated domains and ranges within 0..HR_NUM_DOMAINS-1, "0-9",
 * "3", "1,3,5", "2-4,7" -> *mask, bit k for domain k. Anything else (empty,
 * a sign, spaces, a domain out of range, a reversed range) is
 * HR_ERR_INVALID_ARG naming the text; *mask is then untouched. */
hr_status hr_domains_parse(const char *text, unsigned *mask, hr_error *err);

/* The pools of a data source. A sample is identified by (pool, index). */
typedef enum hr_pool { HR_POOL_TRAIN, HR_POOL_TEST, HR_POOL_COUNT } hr_pool;

/* Corrupts pix (c×h×w floats in [0, 1], CHW) in place with the domain's noise
 * and clips the result to [0, 1]. The noise is a pure function of
 * (seed, domain, pool, index): the same arguments give bit-identical pixels.
 * Gaussian noise is drawn per element; salt-and-pepper per pixel position
 * (all channels of a hit pixel become 1, or all 0, so hits are white or
 * black). domain HR_DOMAIN_CLEAN (or any value outside 0..9) only clips. */
void hr_domain_corrupt(int domain, uint64_t seed, hr_pool pool, int64_t index, float *pix, int64_t c,
                       int64_t h, int64_t w);

/* ----------------------------------------------------------------- datasets */

typedef enum hr_bad_file_policy {
    HR_BAD_FILE_STOP,  /* an undecodable image file is an error naming its path */
    HR_BAD_FILE_SKIP,  /* it is left out with a warning naming its path */
    HR_BAD_FILE_POLICY_COUNT
} hr_bad_file_policy;

typedef struct hr_dataset hr_dataset;

typedef struct hr_dataset_load_params {
    hr_bad_file_policy on_bad_file; /* image folders; default STOP */
    int64_t max_samples;      /* keep N samples of the pool (0: all): Fashion-MNIST's first N;
                               * for image folders N spread evenly over the sorted file
                               * list, so that every class keeps some */
    int verify;               /* image folders: decode every file fully when opening
                               * (default 0: only headers are checked then, and a file
                               * whose pixel data is corrupt is found when first read) */
    int64_t max_image_pixels; /* refuse larger images (decompression bombs); 1<<26 */
    int resize;               /* image folders: shorter side resized to this (256) */
    int crop;                 /* image folders: centre crop size (224) */
} hr_dataset_load_params;

hr_dataset_load_params hr_dataset_load_params_default(void);

/* Default location of Debian's dataset-fashion-mnist package. */
#define HR_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
/* Normalisation of Fashion-MNIST (mean and std of its clean training pixels
 * in [0, 1]); applied after the domain corruption. */
#define HR_FASHION_MNIST_MEAN 0.2860f
#define HR_FASHION_MNIST_STD 0.3530f

/* Loads one pool of Fashion-MNIST from dir (NULL: HR_FASHION_MNIST_DIR):
 * {train,t10k}-images-idx3-ubyte.gz and the matching -labels-idx1-ubyte.gz
 * (uncompressed files without .gz are accepted too). Both files are validated
 * completely: magic (type 0x08 unsigned byte, 3 or 1 dimensions), dimensions
 * (non-zero; image sides at most 4096), the item count against the file's
 * length (no missing and no trailing bytes), equal counts in the two files,
 * labels 0..9. Samples are 1×28×28, normalised with HR_FASHION_MNIST_MEAN/STD;
 * class names are Fashion-MNIST's ("T-shirt/top", …, "Ankle boot").
 * Errors name the file and the field: HR_ERR_IO (cannot open/read),
 * HR_ERR_FORMAT (bad magic, corrupt gzip, truncated, trailing data, bad label,
 * count mismatch), HR_ERR_LIMIT (absurd dimensions), HR_ERR_NOMEM. */
hr_status hr_dataset_load_fashion_mnist(const char *dir, hr_pool pool, const hr_dataset_load_params *params,
                                        hr_dataset **out, hr_error *err);

/* Opens an image folder root/<class>/<file> as one pool: classes are the
 * sub-directories sorted by name (byte order, as Python's sorted()), files
 * those ending in .jpg, .jpeg or .png (any case) sorted by name; other files
 * are ignored. The format is taken from the file's first bytes, not its name.
 * Every file's header is checked when opening (fully decoded with
 * params->verify), on ctx's threads when ctx is not NULL. A bad file is an
 * HR_ERR_FORMAT error naming its path (STOP) or is left out with a warning
 * logged to ctx (SKIP; see hr_dataset_skipped). Samples are 3×crop×crop:
 * decoded to RGB (grayscale replicated, CMYK/YCCK converted — Adobe-inverted
 * CMYK recognised, alpha dropped as PIL's convert("RGB") does, 16-bit reduced
 * to 8, palettes expanded), the shorter side resized to params->resize with
 * PIL-style antialiased bilinear filtering (torchvision's Resize), centre
 * cropped (torchvision's CenterCrop), normalised with ImageNet mean
 * (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
 * Also HR_ERR_IO (unreadable directory), HR_ERR_NOT_FOUND (no classes, or a
 * class without images under STOP), HR_ERR_NOMEM. */
hr_status hr_dataset_load_folder(hr_ctx *ctx, const char *root, hr_pool pool,
                                 const hr_dataset_load_params *params, hr_dataset **out, hr_error *err);

/* An in-memory dataset (tests, synthetic data). Everything is copied. */
typedef struct hr_dataset_desc {
    int64_t n, c, h, w;                /* n >= 1; c, h, w in 1..4096 */
    const float *pixels;               /* n·c·h·w values in [0, 1], NCHW */
    const int32_t *labels;             /* n labels in [0, num_classes) */
    int num_classes;                   /* >= 1 */
    const char *const *class_names;    /* NULL (names "0", "1", …) or num_classes names */
    const float *mean, *std;           /* c values each; NULL: 0 and 1 (no normalisation) */
    hr_pool pool;                      /* which pool the samples belong to (corruption key) */
    const char *name;                  /* for messages; NULL: "memory" */
} hr_dataset_desc;

/* Returns HR_ERR_INVALID_ARG (naming the field) for out-of-range fields,
 * labels or std <= 0; HR_ERR_NOMEM. */
hr_status hr_dataset_create(const hr_dataset_desc *desc, hr_dataset **out, hr_error *err);

/* Frees the dataset; NULL is a no-op. */
void hr_dataset_destroy(hr_dataset *ds);

int64_t hr_dataset_size(const hr_dataset *ds);
/* Sample shape: chw[0] = C, chw[1] = H, chw[2] = W. */
void hr_dataset_shape(const hr_dataset *ds, int64_t chw[3]);
int hr_dataset_num_classes(const hr_dataset *ds);
/* Class k's name (never NULL for 0 <= k < classes; "3" when names are unknown). */
const char *hr_dataset_class_name(const hr_dataset *ds, int k);
/* 1 when the class names came from the data (folder names, Fashion-MNIST). */
int hr_dataset_has_class_names(const hr_dataset *ds);
/* Labels of all samples (size entries, owned by the dataset). */
const int32_t *hr_dataset_labels(const hr_dataset *ds);
hr_pool hr_dataset_pool(const hr_dataset *ds);
/* Per-channel normalisation (C values each, owned by the dataset). */
const float *hr_dataset_mean(const hr_dataset *ds);
const float *hr_dataset_std(const hr_dataset *ds);
/* A name for messages ("fashion-mnist:train", the folder root). */
const char *hr_dataset_name(const hr_dataset *ds);
/* Path of sample i for file-backed datasets, NULL otherwise. */
const char *hr_dataset_path(const hr_dataset *ds, int64_t i);
/* Files left out under HR_BAD_FILE_SKIP when opening. */
int64_t hr_dataset_skipped(const hr_dataset *ds);

/* Writes sample i into out (C·H·W floats): pixels in [0, 1], corrupted by
 * domain (HR_DOMAIN_CLEAN: none) with seed, then normalised (normalise != 0)
 * or left in [0, 1] (normalise == 0, for viewing). Thread-safe. May allocate
 * decode buffers per call (the batch iterator keeps its own instead).
 * Returns HR_ERR_INVALID_ARG for i out of range, HR_ERR_FORMAT naming the path
 * for an undecodable file, HR_ERR_IO, HR_ERR_NOMEM. */
hr_status hr_dataset_get(const hr_dataset *ds, int64_t i, int domain, uint64_t seed, int normalise, float *out,
                         hr_error *err);

/* --------------------------------------------------------------- partitions */

typedef enum hr_partition_kind {
    HR_PARTITION_AUTO,      /* classes when there are >= 10 classes per domain, else dirichlet */
    HR_PARTITION_CLASSES,   /* the original: sorted classes in 10 contiguous groups */
    HR_PARTITION_DIRICHLET, /* Dirichlet(alpha) label skew over all classes */
    HR_PARTITION_KIND_COUNT
} hr_partition_kind;

typedef enum hr_data_part { HR_PART_TRAIN, HR_PART_VAL, HR_PART_TEST, HR_PART_COUNT } hr_data_part;

typedef struct hr_partition_params {
    hr_partition_kind kind;   /* default AUTO */
    double dirichlet_alpha;   /* 0.5 */
    double val_fraction;      /* share of a domain's training subset for validation: 0.15 */
    int64_t min_domain_size;  /* dirichlet: redraw until every domain's training subset
                               * has at least this many samples (10; lowered to
                               * N/(2·domains) for tiny pools) */
    uint64_t seed;            /* 42 */
} hr_partition_params;

hr_partition_params hr_partition_params_default(void);

typedef struct hr_partition hr_partition;

/* Partitions train (the training pool) and test (the test pool; same number
 * of classes) into HR_NUM_DOMAINS domains.
 * classes: class k goes to domain floor(k·10/K) (the original's contiguous
 *   groups of K/10 classes); the domain's subsets are all samples of its
 *   classes in each pool. Needs K >= 10 (HR_ERR_INVALID_ARG otherwise).
 * dirichlet: per class k, proportions p_k ~ Dirichlet(alpha·1) over the
 *   domains (Gamma variates by Marsaglia–Tsang from the deterministic RNG);
 *   class k's training samples, in a seeded random order, are cut at
 *   round(cumsum(p_k)·n_k), and its test samples likewise with the same p_k,
 *   so each domain's test part has its training subset's class proportions.
 * Then each domain's training subset is split into train and validation parts
 * stratified by class: round(val_fraction·size) validation samples in total,
 * spread over classes by largest remainder. Every part is sorted by index.
 * Deterministic given the pools' labels and params.
 * Returns HR_ERR_INVALID_ARG (bad params, class counts differ, a pool too
 * small for every domain to get min_domain_size samples), HR_ERR_NOMEM. */
hr_status hr_partition_create(const hr_dataset *train, const hr_dataset *test, const hr_partition_params *params,
                              hr_partition **out, hr_error *err);
void hr_partition_destroy(hr_partition *p);

/* The kind actually used (never AUTO). */
hr_partition_kind hr_partition_kind_of(const hr_partition *p);
/* "classes" / "dirichlet" / "auto". */
const char *hr_partition_kind_name(hr_partition_kind kind);
/* Parses "classes", "dirichlet" or "auto"; -1 otherwise. */
int hr_partition_kind_parse(const char *s);

/* Sample indices (into the training pool for TRAIN/VAL, the test pool for
 * TEST) of one part of a domain, ascending; *n receives the count. domain
 * HR_DOMAIN_CLEAN gives the union over all domains (for TRAIN: every
 * training-pool sample not in a validation part). Owned by the partition.
 * NULL (and *n = 0) for an out-of-range domain or part. */
const int64_t *hr_partition_indices(const hr_partition *p, int domain, hr_data_part part, int64_t *n);
/* Per-class sample counts (num_classes entries) of one part of a domain. */
const int64_t *hr_partition_class_counts(const hr_partition *p, int domain, hr_data_part part);
/* classes partition: the domain of class k; -1 for dirichlet or k out of range. */
int hr_partition_class_group(const hr_partition *p, int k);

/* Writes partition_info.json (SPEC §8) atomically: num_groups, num_classes,
 * partition, seed, domain_info {k: {name, description, noise, level}},
 * domain_sizes {k: {train, val, test}}, val_fraction; for classes the
 * original's classes_per_group, group_assignments {"class index": group},
 * class_to_group {name: group}, group_to_classes {group: [names]}; for
 * dirichlet dirichlet_alpha, domain_class_counts {k: [training subset count
 * per class]} and domain_test_class_counts. Returns HR_ERR_IO, HR_ERR_NOMEM. */
hr_status hr_partition_write_json(const hr_partition *p, const char *path, hr_error *err);

/* ------------------------------------------------------------ data sources */

typedef struct hr_data_params {
    const char *source;             /* "fashion-mnist" (default), "fashion-mnist:DIR", or
                                     * an image-folder root: root/<class>/… as one set that
                                     * is split into training and test pools, or
                                     * root/train/<class>/… with root/val/… (or root/test/…) */
    uint64_t seed;                  /* partition, folder split and corruption: 42 */
    hr_dataset_load_params load;
    hr_partition_params partition;  /* its seed is replaced by `seed` */
    double test_fraction;           /* single image folders: share of each class in the test pool (0.2) */
} hr_data_params;

hr_data_params hr_data_params_default(void);

typedef struct hr_data hr_data;

/* Opens a data source: both pools and their partition. ctx (nullable) is used
 * for parallel header checks of image files and for warnings.
 * Errors as hr_dataset_load_* and hr_partition_create, prefixed with the source. */
hr_status hr_data_open(hr_ctx *ctx, const hr_data_params *params, hr_data **out, hr_error *err);
void hr_data_destroy(hr_data *d);

const hr_dataset *hr_data_pool(const hr_data *d, hr_pool pool);
/* The pool a part's indices refer to (training pool for TRAIN/VAL). */
const hr_dataset *hr_data_part_pool(const hr_data *d, hr_data_part part);
const hr_partition *hr_data_partition(const hr_data *d);
uint64_t hr_data_seed(const hr_data *d);
/* "fashion-mnist" or the folder root. */
const char *hr_data_source(const hr_data *d);

/* ----------------------------------------------------------------- batches */

typedef struct hr_batch_params {
    int64_t batch_size;  /* 32 */
    int shuffle;         /* permute the indices per epoch by (seed, epoch); default 0 */
    int drop_last;       /* leave out a final partial batch; default 0 */
    uint64_t seed;       /* shuffling and augmentation: 42 */
    int domain;          /* corruption applied to every sample; HR_DOMAIN_CLEAN (default): none */
    uint64_t noise_seed; /* corruption seed (42); use the data's seed so every part of a run sees
                          * the same noisy samples */
    int hflip;           /* augmentation: mirror with probability 1/2 by (seed, epoch, sample) */
    int shift;           /* augmentation: translate by up to this many pixels, zero fill */
} hr_batch_params;

hr_batch_params hr_batch_params_default(void);

typedef struct hr_batch {
    int64_t n;              /* samples in this batch; 0 once the epoch is over */
    hr_tensor x;            /* [n, C, H, W] normalised float32 */
    const int64_t *labels;  /* n labels */
    const int64_t *indices; /* n sample indices into the pool */
    int64_t epoch, number;  /* this batch's epoch and number within it */
} hr_batch;

typedef struct hr_batch_iter hr_batch_iter;

/* Creates an iterator over indices[0..n) of ds (indices NULL: all samples in
 * order), positioned at epoch 0, batch 0. ctx supplies threads and memory;
 * its thread count never changes the batches (each sample is produced
 * independently, keyed by (seed, epoch, index)). All storage — one batch of
 * pixels, labels and indices, the epoch permutation and per-thread decode
 * buffers (which grow to the largest image seen, then stay) — is allocated
 * here. The dataset must outlive the iterator.
 * Returns HR_ERR_INVALID_ARG (batch_size < 1, an index out of range, shift
 * beyond the image, empty index list), HR_ERR_NOMEM. */
hr_status hr_batch_iter_create(hr_ctx *ctx, const hr_dataset *ds, const int64_t *indices, int64_t n,
                               const hr_batch_params *params, hr_batch_iter **out, hr_error *err);

/* An iterator over one part of one domain of d (HR_DOMAIN_CLEAN: that part
 * of every domain, without corruption). params NULL uses the defaults;
 * params->domain and params->noise_seed are replaced by domain and the
 * data's seed. */
hr_status hr_data_iter_create(hr_ctx *ctx, const hr_data *d, int domain, hr_data_part part,
                              const hr_batch_params *params, hr_batch_iter **out, hr_error *err);

void hr_batch_iter_destroy(hr_batch_iter *it);

/* Positions the iterator at batch `batch` of epoch `epoch` (both >= 0); the
 * permutation of that epoch is computed here. Resuming a run is a seek.
 * Returns HR_ERR_INVALID_ARG for negative values. */
hr_status hr_batch_iter_seek(hr_batch_iter *it, int64_t epoch, int64_t batch, hr_error *err);

/* Produces the next batch of the current epoch into *out (views into the
 * iterator, valid until the next call or destroy); out->n == 0 when the epoch
 * is over. Runs on the context's threads; must not be called from inside
 * hr_ctx_parallel_for on the same context. Under HR_BAD_FILE_SKIP a file that
 * fails to decode is left out of the batch (n shrinks; a batch left empty is
 * passed over, so n == 0 still means the end of the epoch) with a warning; under
 * STOP the first failing sample, in batch order, is the error (HR_ERR_FORMAT
 * naming the path; the position does not advance). */
hr_status hr_batch_iter_next(hr_batch_iter *it, hr_batch *out, hr_error *err);

/* Batches per epoch and samples per epoch. */
int64_t hr_batch_iter_batches(const hr_batch_iter *it);
int64_t hr_batch_iter_samples(const hr_batch_iter *it);

/* ---------------------------------------------------------------- pictures */

/* Writes c×h×w floats (c = 1 gray or 3 RGB, CHW, values in [0, 1], clipped)
 * as an 8-bit PNG, each pixel repeated scale×scale times (scale >= 1),
 * atomically. Returns HR_ERR_INVALID_ARG, HR_ERR_IO, HR_ERR_NOMEM. */
hr_status hr_image_write_png(const char *path, const float *pix, int64_t c, int64_t h, int64_t w, int scale,
                             hr_error *err);

/* Writes, for a person to look at, into the existing directory dir:
 * clean.png (test-pool samples 0..per_domain-1 without corruption),
 * domain_<k>.png (the same samples under domain k, k = 0..9) and
 * overview.png (those 11 rows stacked, clean first), each sample enlarged
 * scale times. Using the same images in every domain makes the noise levels
 * comparable. Returns errors of hr_dataset_get and hr_image_write_png. */
hr_status hr_data_write_samples(const hr_data *d, const char *dir, int per_domain, int scale, hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
