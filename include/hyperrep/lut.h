/* Latency look-up tables (step 1, SPEC §4–5): the cost model, per-device
 * LUTs, the merged LUT the optimizers read, link and roofline models.
 *
 * The merged LUT in memory mirrors hardware_lut_complete.json: per block (in
 * network order) the time of each of the 14 γ on the server and on the
 * client (-1 = invalid), the communication size of 1..3 output tensors, the
 * activation intensity of each γ, plus the link model, both roofline knees
 * and, when measured by us, stage 0 and classifier times. Files of the
 * original tool load into the same structure (missing fields take the
 * documented defaults and are flagged). */
#ifndef HYPERREP_LUT_H
#define HYPERREP_LUT_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ctx.h"
#include "hyperrep/error.h"
#include "hyperrep/gamma.h"
#include "hyperrep/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HR_LUT_MAX_BLOCKS 1024
#define HR_LUT_NAME_MAX 32

typedef enum hr_device { HR_DEVICE_SERVER, HR_DEVICE_CLIENT, HR_DEVICE_COUNT } hr_device;

/* "server" / "client". */
const char *hr_device_name(hr_device d);

/* Where a link's bandwidth came from: the interpretation recorded in every
 * file that carries a bandwidth (SPEC §4: ours is always Mbit/s; the
 * original stored MB/s under the key bandwidth_mbps, and its merge
 * hard-coded 100 meant as Mbit/s). */
typedef enum hr_bandwidth_source {
    HR_BW_DEFAULT,        /* nothing given: 100 Mbit/s */
    HR_BW_MBIT,           /* given in Mbit/s (a flag, or our bandwidth_mbit_s field) */
    HR_BW_FIT,            /* 8000 / k from a fitted slope k (ms per MB; ours or the original's k) */
    HR_BW_ORIGINAL_MBPS,  /* the original merged LUT's bandwidth_mbps, read as Mbit/s as its step 3 did */
    HR_BW_SOURCE_COUNT
} hr_bandwidth_source;

/* One sentence stating the interpretation, e.g. "bandwidth_mbit_s = 8000 / k
 * (k fitted in ms per MB)"; never NULL. */
const char *hr_bandwidth_source_text(hr_bandwidth_source s);

/* Link model (SPEC §4): one transfer takes latency_ms + bytes·8/(bandwidth·1000) ms;
 * the link is busy (occupancy) for bytes·8/(bandwidth·1000) + per_message_ms. */
typedef struct hr_link {
    double bandwidth_mbit_s;  /* > 0, Mbit/s */
    double latency_ms;        /* >= 0 */
    double per_message_ms;    /* >= 0, default 0 */
    double k_ms_per_mb;       /* fitted slope when measured (0 otherwise) */
    int measured;             /* 1 when fitted from measurements */
    hr_bandwidth_source source; /* where bandwidth_mbit_s came from (HR_BW_DEFAULT when built by hand) */
} hr_link;

double hr_link_time_ms(const hr_link *link, double bytes);
double hr_link_occupancy_ms(const hr_link *link, double bytes);

/* Cost model of one block under one γ (SPEC §4), batch B. */
typedef struct hr_block_cost {
    double flops;          /* the original's count: groups ignored */
    double flops_grouped;  /* groups counted */
    double bytes;          /* activations: streams·in + out, float32 */
    double bytes_w;        /* bytes + weights of the γ's kernels */
    double intensity;      /* flops / bytes */
    double intensity_w;    /* flops / bytes_w */
    int streams;
} hr_block_cost;

/* in_shape / out_shape are [B, C, H, W]. The counts follow SPEC §4 exactly
 * (they reproduce every FLOPs/Bytes/Intensity cell of the original's γ
 * report); groups < 1 counts as 1. An out-of-range γ gives all zeros. */
hr_block_cost hr_block_cost_eval(int gamma, const int64_t in_shape[4], const int64_t out_shape[4], int groups);

/* Comm size (MB, 1e6 bytes) of n = 1..3 float32 output tensors of shape
 * out_shape (SPEC §4); 0 for other n. */
double hr_block_comm_mb(const int64_t out_shape[4], int n);

typedef struct hr_lut_block {
    char name[HR_LUT_NAME_MAX];    /* "stage1.0" */
    int64_t in_shape[4], out_shape[4]; /* [B, C, H, W] */
    int groups;                    /* 1 when unknown (the original's files) */
    double t_ms[HR_DEVICE_COUNT][HR_GAMMA_COUNT]; /* -1: invalid */
    double comm_mb[3];             /* n = 1, 2, 3 output tensors, MB (1e6 bytes) */
    double intensity[HR_GAMMA_COUNT];
    double intensity_w[HR_GAMMA_COUNT]; /* with weights (SPEC §4); 0 when shapes are unknown */
} hr_lut_block;

/* Which statistic the merged arrays hold. */
typedef enum hr_lut_stat { HR_LUT_STAT_MEDIAN, HR_LUT_STAT_MEAN, HR_LUT_STAT_COUNT } hr_lut_stat;

/* "median" / "mean". */
const char *hr_lut_stat_name(hr_lut_stat s);

typedef struct hr_lut {
    char model[64];                /* as named in the file ("RepVGG-B3" or "repvgg-b3") */
    int nblocks;
    hr_lut_block *blocks;          /* network order */
    int n_stream[HR_GAMMA_COUNT];
    hr_link link;
    double i_knee[HR_DEVICE_COUNT];        /* FLOP/byte; defaults 25.15 / 16.1 */
    double t_stage0_ms[HR_DEVICE_COUNT];   /* 0 when absent */
    double t_classifier_ms[HR_DEVICE_COUNT];
    int has_stage_times;           /* 1 when t_stage0/t_classifier were measured */
    int64_t input_shape[3];        /* [C, H, W]; zeros when unknown */
    int64_t num_classes;           /* 0 when unknown */
    char device[HR_DEVICE_COUNT][128]; /* CPU/GPU model strings */
    int threads[HR_DEVICE_COUNT];  /* 0 when unknown */
    int synthetic;                 /* metadata says some entries are synthetic/emulated */
    /* Added by the step-1 implementation (fields only ever appended): */
    hr_lut_stat stat;              /* what t_ms holds (the original's files: mean) */
    int roofline_measured[HR_DEVICE_COUNT]; /* knee from a roofline.json */
    double peak_gflops[HR_DEVICE_COUNT];    /* 0 when unmeasured */
    double bandwidth_gbs[HR_DEVICE_COUNT];  /* memory bandwidth, 0 when unmeasured */
    int original_format;           /* loaded from a file without our fields */
    char timestamp[64];            /* merge time "YYYY-MM-DD HH:MM:SS.ffffff" */
    char note[512];                /* free text kept in metadata.note (synthetic entries, stat fallbacks) */
    char emulated[HR_DEVICE_COUNT][256]; /* per device: "" real, else how it was emulated */
    double slowdown[HR_DEVICE_COUNT];    /* per device: the emulation's time factor (1: none) */
} hr_lut;

/* Creates an empty LUT with n blocks (all times -1, defaults for knees,
 * N_stream from the γ table, link 100 Mbit/s, 0 ms). */
hr_status hr_lut_create(int nblocks, hr_lut **out, hr_error *err);
void hr_lut_destroy(hr_lut *lut);

/* Reads a merged LUT (ours or the original tool's hardware_lut_complete.json):
 * errors name file:line:column for malformed JSON and file, field and value
 * for bad content (missing block, wrong entry count, NaN or negative times
 * other than -1, blocks out of network order are re-sorted). */
hr_status hr_lut_load(const char *path, hr_lut **out, hr_error *err);
/* Writes a merged LUT atomically, with every field the original's optimizer
 * reads plus ours (SPEC §5). */
hr_status hr_lut_save(const char *path, const hr_lut *lut, hr_error *err);

/* Index of a block by name, -1 when absent. */
int hr_lut_find_block(const hr_lut *lut, const char *name);

/* Fills comm_mb, intensity and intensity_w of every block from its shapes
 * and groups (SPEC §4). */
void hr_lut_compute_costs(hr_lut *lut);

/* Network order of block names: "stage{s}.{i}" sorts by (s, i), so
 * stage3.2 < stage3.10. Returns <0, 0, >0; names that are not of that form
 * sort after all that are, by strcmp. */
int hr_block_name_cmp(const char *a, const char *b);

/* ---- per-device LUT (lut_server.json / lut_client.json) ---- */

/* One (block, γ) measurement. Times in ms; -1 where invalid or absent. */
typedef struct hr_lut_entry {
    int valid;          /* 0: status "invalid" (γ needs a branch the block lacks) */
    double time_ms;     /* mean, the original's time_ms */
    double median_ms;   /* -1 in the original's files, which lack it */
    double std_ms;      /* sample standard deviation */
    double min_ms;      /* -1 when absent */
} hr_lut_entry;

typedef struct hr_device_lut_block {
    char name[HR_LUT_NAME_MAX];
    int64_t in_shape[4], out_shape[4]; /* [B, C, H, W] */
    int groups;
    unsigned existing;                 /* HR_BR_* of the architecture */
    hr_lut_entry e[HR_GAMMA_COUNT];
} hr_device_lut_block;

typedef struct hr_device_lut {
    hr_device role;
    char model[64];            /* canonical architecture name ("repvgg-b3") */
    char model_label[64];      /* as written in the file ("RepVGG-B3") */
    char gpu_name[128];        /* CPU model string on CPUs */
    char timestamp[64];
    char source[256];          /* path it was loaded from ("" when measured) */
    int threads;               /* 0 when unknown */
    int warmup, repeat, passes;/* 0 when unknown */
    int64_t input_shape[3];    /* [C, H, W] */
    int64_t num_classes;
    int nblocks;
    hr_device_lut_block *blocks; /* network order */
    int has_stage_times;       /* stage0 / classifier were measured (ours) */
    hr_lut_entry stage0, classifier;
    int has_median;            /* 0 for the original's files */
    int original_format;       /* no model_info / input_shape: shapes derived from the model */
    int in_forward;            /* measured inside whole forwards (hr_lut_measure_params.in_forward) */
    /* Emulation (pseudo mode measures the client on the server's machine): */
    char emulated[256];        /* "" for a real device; else how the device was emulated */
    double slowdown;           /* factor every time was multiplied by (1: none) */
} hr_device_lut;

/* An empty per-device LUT shaped for `model` (names, shapes, groups,
 * existing branches; every entry invalid, -1). */
hr_status hr_device_lut_create(const hr_model *model, hr_device role, hr_device_lut **out, hr_error *err);
void hr_device_lut_destroy(hr_device_lut *lut);

/* Reads ours or the original's per-device file. The model is resolved from
 * metadata.model (and metadata.input_shape / model_info when present, else
 * the architecture's default input); every block of that model must be
 * present with exactly 14 entries "0".."13"; a time where the block lacks a
 * branch of γ, a block the model does not have, a shape that disagrees with
 * the model, or a NaN/negative time other than -1 is HR_ERR_FORMAT naming
 * file, field and value; malformed JSON names file:line:column. */
hr_status hr_device_lut_load(const char *path, hr_device_lut **out, hr_error *err);
/* Writes the per-device file atomically (field-compatible with the
 * original's lut_server.json / lut_client.json plus our fields). */
hr_status hr_device_lut_save(const char *path, const hr_device_lut *lut, hr_error *err);

/* Marks lut as an emulation of another device: every time (mean, median,
 * std, min, stage 0, classifier) is multiplied by slowdown (> 0, finite)
 * and `description` ("this machine, 1 thread") is recorded in
 * metadata.emulated with the factor. HR_ERR_INVALID_ARG for a bad factor or
 * an empty description. */
hr_status hr_device_lut_emulate(hr_device_lut *lut, const char *description, double slowdown, hr_error *err);

/* The entry's time under stat: the median, or the mean when the median is
 * absent (-1 when invalid). */
double hr_lut_entry_time(const hr_lut_entry *e, hr_lut_stat stat);

/* ---- measurement ---- */

/* Progress of hr_lut_measure, reported after every entry. */
typedef struct hr_lut_progress {
    int block, nblocks;        /* block index; -1 stage 0, nblocks: classifier */
    const char *block_name;    /* "stage2.3", "stage0", "classifier" */
    int gamma;                 /* -1 for stage 0 / classifier */
    int done, total;           /* entries (timed runs of one γ) done / to do */
    int pass, passes;
    const hr_lut_entry *entry; /* the finished entry (complete on the last pass) */
} hr_lut_progress;
typedef void (*hr_lut_progress_fn)(void *user, const hr_lut_progress *p);

typedef struct hr_lut_measure_params {
    hr_device role;
    int warmup;                /* untimed runs before each entry's timed runs (default 10) */
    int repeat;                /* timed runs per entry (default 100) */
    int passes;                /* the repeat runs of every entry are split over this many
                                  rounds through the whole model (γ re-applied each time;
                                  rounds after the first warm up with warmup/passes runs),
                                  so load bursts and drift touch a share of every entry
                                  rather than all runs of a few (default 1) */
    int in_forward;            /* 0 (default): each entry runs alone, back to back, on a
                                  random input (the original's method). 1: every timed run
                                  is a whole forward of the model (the other blocks at their
                                  deploy γ) timing only the entry, so it sees the caches and
                                  activations the rest of the network leaves: each entry is
                                  that piece's share of a real forward (N times slower) */
    uint64_t input_seed;       /* random block inputs (default 7) */
    hr_lut_progress_fn progress; /* NULL: silent */
    void *progress_user;
} hr_lut_measure_params;

hr_lut_measure_params hr_lut_measure_params_default(void);

/* Measures every block under every γ valid for its *existing* branches (α
 * = 1 for the γ's branches through hr_model_apply_gamma's override; the
 * model's own α are never changed), plus stage 0 and the classifier, on the
 * model's context (its thread count is recorded). The model must hold
 * training-time weights (hr_model_load or hr_model_init_random). Timing
 * loops allocate nothing and do no I/O. On return every block has its
 * deploy γ under its trained α applied again. *out is a new per-device LUT. */
hr_status hr_lut_measure(hr_model *model, const hr_lut_measure_params *params, hr_device_lut **out, hr_error *err);

/* The CPU model string ("AMD EPYC 7B13"): /proc/cpuinfo's "model name"
 * (or "Hardware", "Processor", else the machine name of uname). Writes a
 * NUL-terminated string into buf; returns buf. */
char *hr_cpu_model_string(char *buf, size_t size);

/* ---- merge ---- */

typedef struct hr_roofline hr_roofline;

typedef struct hr_lut_merge_params {
    hr_lut_stat stat;              /* median (default) or mean (the original) */
    const hr_link *link;           /* NULL: 100 Mbit/s, 1 ms (the original's merge) */
    const hr_roofline *roofline[HR_DEVICE_COUNT]; /* NULL: the original's knees */
} hr_lut_merge_params;

hr_lut_merge_params hr_lut_merge_params_default(void);

/* Builds the merged LUT of a server and a client file. They must be for the
 * same model and input shape (HR_ERR_INVALID_ARG naming both files and
 * values otherwise), and have the right roles. */
hr_status hr_lut_merge(const hr_device_lut *server, const hr_device_lut *client, const hr_lut_merge_params *params,
                       hr_lut **out, hr_error *err);

/* ---- link ---- */

/* 100 Mbit/s, latency 0, per message 0, unmeasured (HR_BW_DEFAULT). */
hr_link hr_link_default(void);

/* Fits time_ms = k·MB + b by least squares over n samples (at least two
 * distinct sizes): k_ms_per_mb = k, latency_ms = b (clamped at 0),
 * bandwidth_mbit_s = 8000 / k, measured = 1. HR_ERR_INVALID_ARG for too
 * few sizes, non-finite values or a non-positive slope. */
hr_status hr_link_fit(const double *mb, const double *ms, int n, hr_link *out, hr_error *err);
/* hr_link_fit, except that when the slope is not positive (round trips that
 * do not grow with size: a link faster than the sizes resolve, such as
 * loopback, or noise) the link becomes a lower bound instead of an error:
 * k_ms_per_mb = the smallest ms / MB seen, bandwidth 8000 / k, latency 0,
 * measured = 1, and *bounded = 1 (0 after a real fit). Other errors as
 * hr_link_fit. */
hr_status hr_link_fit_bounded(const double *mb, const double *ms, int n, hr_link *out, int *bounded, hr_error *err);

/* One round trip for the link measurement: send `bytes`, wait for a short
 * acknowledgement, report the elapsed milliseconds. */
typedef hr_status (*hr_link_transfer_fn)(void *user, size_t bytes, double *elapsed_ms, hr_error *err);

/* Measures a link with `transfer` (SPEC §5: sizes 0.1, 0.5, 1, 2, 5 MB, 5
 * repeats each when sizes_mb is NULL) and fits it. */
hr_status hr_link_measure(hr_link_transfer_fn transfer, void *user, const double *sizes_mb, int nsizes, int repeats,
                          hr_link *out, hr_error *err);

/* Reads ours (link.json: bandwidth_mbit_s, latency_ms, k_ms_per_mb,
 * measured, per_message_ms) or the original's lut_comm_model.json (k, b,
 * bandwidth_mbps = MB/s): k and b are preferred when present. */
hr_status hr_link_load(const char *path, hr_link *out, hr_error *err);
/* Writes link.json atomically, with the interpretation stated. */
hr_status hr_link_save(const char *path, const hr_link *link, hr_error *err);

/* ---- roofline ---- */

struct hr_roofline {
    char device[128];      /* CPU model string */
    double peak_gflops;    /* best large-SGEMM rate over all threads */
    double bandwidth_gbs;  /* best large-copy rate, bytes read + written, 1e9 B/s */
    double i_knee;         /* peak_gflops / bandwidth_gbs, FLOP/byte */
    int threads;
    int64_t gemm_n;        /* SGEMM size used (n×n×n per thread share) */
    double copy_mb;        /* bytes copied per run, MB */
};

typedef struct hr_roofline_params {
    int64_t gemm_n;        /* default 1536 */
    size_t copy_bytes;     /* default 256 MiB (well beyond any last-level cache) */
    int repeat;            /* timed runs of each, best kept (default 5) */
} hr_roofline_params;

hr_roofline_params hr_roofline_params_default(void);

/* Times large SGEMMs (serial OpenBLAS, one column panel per thread of ctx)
 * and large copies split over ctx's threads. */
hr_status hr_roofline_measure(hr_ctx *ctx, const hr_roofline_params *params, hr_roofline *out, hr_error *err);
hr_status hr_roofline_load(const char *path, hr_roofline *out, hr_error *err);
hr_status hr_roofline_save(const char *path, const hr_roofline *r, hr_error *err);

/* ---- γ report (SPEC §5) ---- */

/* The Markdown γ analysis of a merged LUT, in the format of the original's
 * full_gamma_analysis.md: legend, then per block (network order) a table
 * for the server and one for the client, plus Bytes_w / Intensity_w and
 * their roofline status. *text is malloc'd (caller frees). */
hr_status hr_lut_report_gamma(const hr_lut *lut, char **text, hr_error *err);
/* The same, written atomically to path. */
hr_status hr_lut_report_gamma_save(const char *path, const hr_lut *lut, hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
