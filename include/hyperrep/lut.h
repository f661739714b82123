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
/* Bounds of what a LUT may say (issue 15): a time of one block, stage or
 * frame above 1e6 ms (1000 s), a link slower than 1e-6 Mbit/s or a fixed
 * cost above 1e6 ms is refused as a file error, so that no sum the
 * optimizers make overflows into inf. */
#define HR_LUT_MAX_TIME_MS 1e6
#define HR_LUT_MIN_BANDWIDTH_MBIT 1e-6

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
    char profile[32];         /* the named link it stands for (hr_link_profile), "" when none */
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
/* MIN (appended): the fastest run. On a shared virtual machine the runs of
 * one entry fall into a fast mode and slow modes (a busy hyperthread
 * sibling, hypervisor steal; neither shows in our own scheduler statistics)
 * whose shares change from minute to minute, so the median of one
 * measurement can be the fast mode and of the next the slow one; the
 * minimum over runs spread across passes is the one statistic that does not
 * move with them (bench/lut_stability.sh). */
typedef enum hr_lut_stat { HR_LUT_STAT_MEDIAN, HR_LUT_STAT_MEAN, HR_LUT_STAT_MIN, HR_LUT_STAT_COUNT } hr_lut_stat;

/* "median" / "mean". */
const char *hr_lut_stat_name(hr_lut_stat s);
/* "median" / "mean" / "min" to the statistic; -1 for other text. */
int hr_lut_stat_parse(const char *s);

/* Where a device's roofline (knee, peak, bandwidth) in a merged LUT came from
 * (roofline.source, SPEC §13.2): the original's default knees, a roofline
 * measured on the device (roofline.json), an edge profile's published
 * figures (the client was emulated from one), or knees given by hand (INI
 * knee_*, hr_lut_merge_params.knee_override). */
typedef enum hr_roofline_source {
    HR_ROOF_DEFAULT,
    HR_ROOF_MEASURED,
    HR_ROOF_PROFILE,
    HR_ROOF_OVERRIDE,
    HR_ROOF_SOURCE_COUNT
} hr_roofline_source;

/* "default" / "measured" / "profile" / "override" (the file's tokens). */
const char *hr_roofline_source_name(hr_roofline_source s);

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
    /* Per-frame overhead of each side (SPEC §13.1, T_frame {server, client}): framing the frame
     * message, the hand-off between the I/O and the compute thread and back, returning the
     * result. 0 when absent (the original's files, older LUTs), so those give the old results.
     * The optimizers add it to head_ms / tail_ms (hyperrep/optim.h, hr_optim_eval). */
    double t_frame_ms[HR_DEVICE_COUNT];
    int has_frame_times;           /* 1 when T_frame was in the file / measured */
    /* Edge profiles (SPEC §13.2; metadata.edge_profile, roofline.source): */
    char edge_profile[HR_DEVICE_COUNT][HR_LUT_NAME_MAX]; /* profile a device was emulated from; "" none */
    hr_roofline_source roofline_source[HR_DEVICE_COUNT]; /* where i_knee / peak / bandwidth came from */
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
    double spread;      /* (Q3 - Q1) / median of the timed runs (hr_lut_spread); -1 when unknown
                           (invalid entries, the original's files, ours before it was recorded) */
} hr_lut_entry;

/* How noisy a per-device measurement was (metadata.noise). busy is the
 * warning `lut measure` prints: stolen_cpu_pct > HR_LUT_BUSY_STOLEN_PCT or
 * median_spread > HR_LUT_BUSY_SPREAD (after re-measurement), i.e. other
 * processes took a tenth of our CPU time, or for half the entries the
 * middle half of the runs still spans more than a quarter of the median.
 * (Entries of a few µs, as in small models, show spreads of 0.05–0.15 on an
 * idle machine from timer and cache jitter alone, hence not 0.10.) */
#define HR_LUT_BUSY_STOLEN_PCT 10.0
#define HR_LUT_BUSY_SPREAD 0.25
typedef struct hr_lut_noise {
    double median_spread;      /* median of `spread` over the valid entries (blocks, stage 0,
                                  classifier) after re-measurement; -1 when unknown */
    int remeasured;            /* entries that got re-measured runs */
    double remeasure_spread;   /* the threshold used (hr_lut_measure_params) */
    double remeasure_s;        /* seconds spent re-measuring */
    double stolen_cpu_pct;     /* run-queue wait of our threads over (run + wait), in %: the
                                  CPU time other processes took from ours; -1 when unknown */
    char method[16];           /* how stolen_cpu_pct was obtained: "schedstat" or "getrusage" */
    int busy;                  /* the warning above */
} hr_lut_noise;

/* What hr_device_lut_emulate_profile applied, as recorded in a per-device
 * file (metadata.edge_profile and metadata.host_roofline). name is "" when
 * no profile was applied (a real device, or a flat slowdown). */
typedef struct hr_edge_applied {
    char name[HR_LUT_NAME_MAX];    /* the profile ("rpi4") */
    char source[512];              /* its citation (docs/EDGE_PROFILES.md has the reasoning) */
    int cores;                     /* cores the device has */
    int cores_used;                /* min(LUT threads, cores): what the figures below are for */
    double peak_gflops;            /* the profile's roofline at cores_used */
    double bandwidth_gbs;          /* bytes read + written, 1e9 B/s */
    double host_peak_gflops;       /* this machine's roofline at the LUT's thread count */
    double host_bandwidth_gbs;
    int host_threads;
    char host_device[128];         /* CPU model string of the roofline */
} hr_edge_applied;

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
    /* Noise of the measurement (SPEC §13.1; metadata.noise; unknown in older files): */
    int has_noise;             /* 0: the file has no metadata.noise */
    hr_lut_noise noise;
    /* Per-frame overhead T_frame (SPEC §13.1; top-level T_frame, absent in older files): */
    int has_frame_time;        /* 0: not measured (older files, frame_repeat 0) */
    hr_lut_entry frame;        /* statistics of the per-frame overhead runs, ms */
    int64_t frame_shape[4];    /* crossing tensor it was measured for, [B, C, H, W] */
    char frame_block[HR_LUT_NAME_MAX]; /* the block whose output that tensor is ("raw": the
                                  8-bit image of the raw placement) */
    char frame_method[32];     /* how it was measured: "in-process" (hr_frame_overhead_measure;
                                  also older files) or "serve" (a real `serve` streamed to
                                  over the network: hr_remote_serve_probe) */
    /* Edge profile emulation (SPEC §13.2; hr_device_lut_emulate_profile): */
    hr_edge_applied edge;
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

/* The whole model on this device as the LUT gives it: stage 0 and the
 * classifier (when measured) and every block at its deploy γ under α = 1,
 * each entry under `stat`. */
double hr_device_lut_deploy_ms(const hr_device_lut *lut, hr_lut_stat stat);

/* Replaces lut's per-frame overhead T_frame by the statistics of n >= 1
 * measured samples (ms, each finite and >= 0; the array is sorted), taken
 * for the crossing tensor `shape` (the output of `block`; "raw" for the
 * 8-bit image) by `method` ("in-process", "serve"). HR_ERR_INVALID_ARG
 * naming a bad sample, shape or name. */
hr_status hr_device_lut_set_frame(hr_device_lut *lut, double *samples, int n, const int64_t shape[4],
                                  const char *block, const char *method, hr_error *err);

/* Marks lut as an emulation of another device: every time (mean, median,
 * std, min, stage 0, classifier, T_frame; not the scale-free spread) is
 * multiplied by slowdown (> 0, finite)
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
    hr_lut_progress_fn progress; /* NULL: silent (re-measurement reports no progress) */
    void *progress_user;
    /* Re-measurement (SPEC §13.1). After the passes, every entry whose spread exceeds
     * remeasure_spread gets more runs in later rounds, interleaved: round-robin over the
     * noisy entries, a few runs per visit (repeat / 10, 1..10, after a short warm-up), so a
     * burst of load hits a few runs of many entries rather than all runs of one. An entry
     * leaves the rotation once its spread is within the threshold or it has `repeat` extra
     * runs; re-measurement stops when the budget is spent. The entry's statistics come from
     * all its runs, the first ones and the re-measured ones alike: discarding the first runs
     * would keep whichever conditions happened to prevail during re-measurement, while pooling
     * spreads any one burst over more time slots, where the median (the merged statistic)
     * ignores a minority of disturbed runs. */
    double remeasure_spread;   /* threshold on spread (default 0.10); >= 0 */
    double remeasure_budget_s; /* seconds of re-measurement at most; 0: none; < 0 (default):
                                  a quarter of the time the passes took, at least 1 s (the
                                  cap of `repeat` extra runs per entry ends it sooner on
                                  small models) */
    int frame_repeat;          /* timed repetitions of the per-frame overhead T_frame
                                  (hr_frame_overhead_measure; default 300; 0: not measured) */
    double span_s;             /* the passes are spread over at least this many seconds
                                  (pass k starts no earlier than k·span_s/passes after the
                                  first; the waits sleep). A shared virtual machine runs in
                                  fast and slow phases of seconds that hit every core at once;
                                  a small model measured in 0.3 s can fall wholly into one,
                                  so that even its fastest runs are slow. Default 0: back to
                                  back. */
} hr_lut_measure_params;

hr_lut_measure_params hr_lut_measure_params_default(void);

/* Quantile q (0..1) of n >= 1 sorted values by linear interpolation between
 * order statistics (Hyndman & Fan type 7, numpy's default): with h = (n-1)·q,
 * x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). NAN when n < 1 or q is outside
 * [0, 1]. */
double hr_lut_quantile(const double *sorted, int n, double q);

/* Spread of n sorted times: (Q3 − Q1) / median with the quartiles of
 * hr_lut_quantile (0.25, 0.75); 0 for a single run; -1 (unknown) when
 * n < 1 or the median is not positive. Scale-free, so an emulation's
 * slowdown leaves it unchanged. */
double hr_lut_spread(const double *sorted, int n);

/* Measures every block under every γ valid for its *existing* branches (α
 * = 1 for the γ's branches through hr_model_apply_gamma's override; the
 * model's own α are never changed), plus stage 0 and the classifier, on the
 * model's context (its thread count is recorded). The model must hold
 * training-time weights (hr_model_load or hr_model_init_random). Timing
 * loops allocate nothing and do no I/O. On return every block has its
 * deploy γ under its trained α applied again. *out is a new per-device LUT. */
hr_status hr_lut_measure(hr_model *model, const hr_lut_measure_params *params, hr_device_lut **out, hr_error *err);
/* hr_lut_measure also records every entry's spread, metadata.noise (see
 * hr_lut_noise; stolen CPU from /proc/self/task/<tid>/schedstat summed over
 * our threads, else getrusage against wall time × threads) and, unless
 * frame_repeat is 0, T_frame for the median crossing tensor of the model
 * (the output of the block whose output size is the median over blocks). */

/* Per-frame overhead of one side outside the blocks (SPEC §13.1): per
 * repetition, for a float32 crossing tensor of `shape` [B, C, H, W] and a
 * result of num_classes logits, the steps the deployment runtime takes per
 * frame (src/serve, the edge runtime of `infer`):
 *   server: decode the INFER_FRAME (header and payload, the tensor copied
 *     into the message's storage), hand it to a compute thread through a
 *     mutex/condition-variable queue, hand it back the same way, encode the
 *     INFER_RESULT (metadata and logits);
 *   client: hand the crossing tensor from the head's thread to the link
 *     thread (queue), encode the INFER_FRAME, decode the INFER_RESULT and
 *     parse its metadata, hand the class back to the head's thread.
 * The blocks themselves and the bytes on the wire are not included (the
 * LUT entries and the link model hold them). `repeat` timed repetitions
 * (1..100000) after repeat / 10 untimed ones; *out receives their mean,
 * median, std, min and spread. HR_ERR_INVALID_ARG for a bad role, shape,
 * class count or repeat; HR_ERR_NOMEM; HR_ERR_INTERNAL when the thread
 * cannot be started. Starts and joins one thread. */
hr_status hr_frame_overhead_measure(hr_device side, const int64_t shape[4], int64_t num_classes, int repeat,
                                    hr_lut_entry *out, hr_error *err);

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
    double knee_override[HR_DEVICE_COUNT]; /* > 0: this knee instead (INI knee_*): source
                                              "override", roofline_measured 0, peak and
                                              bandwidth unknown (0); 0 (default): none */
} hr_lut_merge_params;

hr_lut_merge_params hr_lut_merge_params_default(void);

/* Builds the merged LUT of a server and a client file. They must be for the
 * same model and input shape (HR_ERR_INVALID_ARG naming both files and
 * values otherwise), and have the right roles. Each device's roofline, by
 * precedence: knee_override (source "override"); for a file emulated from
 * an edge profile, the profile's peak and bandwidth at the cores it used,
 * knee = peak / bandwidth (source "profile"; a roofline given for that
 * device is the host's, not the edge's, and is ignored with a note);
 * roofline[d] ("measured"); else the original's knee ("default"). The
 * profile's name is kept in edge_profile[d]. */
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
    double peak_gflops;    /* the higher of kernel_gflops and blas_gflops */
    double bandwidth_gbs;  /* best large-copy rate, bytes read + written, 1e9 B/s */
    double i_knee;         /* peak_gflops / bandwidth_gbs, FLOP/byte */
    int threads;
    int64_t gemm_n;        /* SGEMM size used (n×n×n per thread share) */
    double copy_mb;        /* bytes copied per run, MB */
    /* Appended: the two peaks behind peak_gflops (0 when unknown, e.g. in an
     * older roofline.json). */
    double kernel_gflops;  /* a large 3x3 convolution on hyperrep's own GEMM kernels over the pool */
    double blas_gflops;    /* large SGEMMs on serial OpenBLAS, one column panel per thread */
};

typedef struct hr_roofline_params {
    int64_t gemm_n;        /* default 1536 */
    size_t copy_bytes;     /* default 256 MiB (well beyond any last-level cache) */
    int repeat;            /* timed runs of each, best kept (default 5) */
} hr_roofline_params;

hr_roofline_params hr_roofline_params_default(void);

/* Times large SGEMMs (serial OpenBLAS, one column panel per thread of ctx),
 * a large 3x3 convolution on hyperrep's own GEMM kernels (the code every LUT
 * entry runs; where the distribution's OpenBLAS does not recognise the CPU,
 * as under some hypervisors, it is several times faster than the SGEMM), and
 * large copies split over ctx's threads. peak_gflops is the higher rate. */
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

/* ---- edge profiles (SPEC §13.2) ---- */

/* A real edge device's CPU roofline, from published figures (measured where
 * they exist, else derated theoretical peaks; docs/EDGE_PROFILES.md gives
 * each figure's source and the reasoning). Figures are float32 GEMM-class
 * GFLOP/s and copy bandwidth counting bytes read + written (1e9 B/s), the
 * quantities hr_roofline_measure reports for this machine. At t threads the
 * device offers min(t, cores) cores: peak min(t·core_gflops, peak_gflops),
 * bandwidth min(t·core_bandwidth_gbs, bandwidth_gbs) (hr_edge_profile_roofline). */
typedef struct hr_edge_profile {
    const char *name;              /* "rpi4" */
    const char *description;       /* "Raspberry Pi 4 Model B: 4x Cortex-A72 @ 1.5 GHz, LPDDR4-3200 32-bit" */
    int cores;                     /* CPU cores the client can use */
    double peak_gflops;            /* all cores */
    double bandwidth_gbs;          /* all cores */
    double core_gflops;            /* one core */
    double core_bandwidth_gbs;     /* one core */
    const char *derating;          /* how the figures follow from the sources */
    const char *source;            /* citations (titles / URLs) */
} hr_edge_profile;

/* Number of built-in profiles, and profile i (0..count-1; NULL outside).
 * The table is static: pointers stay valid for the program's life. */
int hr_edge_profile_count(void);
const hr_edge_profile *hr_edge_profile_get(int i);

/* The profile called name ("rpi4", "jetson-tx2-cpu", "jetson-nano").
 * HR_ERR_INVALID_ARG listing the known names when there is none; *out is
 * left untouched on failure. */
hr_status hr_edge_profile_find(const char *name, const hr_edge_profile **out, hr_error *err);

/* The profile's roofline at `threads` client threads (see hr_edge_profile):
 * out->threads = min(threads, cores), device = the description, knee =
 * peak / bandwidth. HR_ERR_INVALID_ARG when threads < 1. */
hr_status hr_edge_profile_roofline(const hr_edge_profile *prof, int threads, hr_roofline *out, hr_error *err);

/* Roofline time in ms of `flops` FLOPs moving `bytes` bytes at peak_gflops
 * and bandwidth_gbs: max(flops / peak, bytes / bandwidth). */
double hr_roofline_time_ms(double flops, double bytes, double peak_gflops, double bandwidth_gbs);

/* The slowdown of one entry on the edge: max(1, roofline time on edge /
 * roofline time on host) for its flops and bytes. Clamped at 1 because an
 * emulation on this machine can only add time, never remove it. */
double hr_edge_factor(double flops, double bytes, const hr_roofline *edge, const hr_roofline *host);

/* FLOPs and bytes (with weights) of the classifier, global average pooling
 * of a [1, C, H, W] tensor (C·H·W adds, reads C·H·W, writes C) plus a C ->
 * classes linear layer (2·C·classes FLOPs, reads C plus C·classes weights
 * and classes biases, writes classes); float32. */
void hr_classifier_cost(int64_t c, int64_t h, int64_t w, int64_t classes, double *flops, double *bytes);

/* Turns a per-device LUT measured on this machine into an emulation of the
 * edge device `prof` (SPEC §13.2). host is this machine's roofline measured
 * at the LUT's thread count (hr_roofline_measure on the client's context,
 * or hr_roofline_load of one); the edge runs min(threads, cores) cores.
 * Every statistic (mean, median, std, min) of every valid entry is
 * multiplied by its own hr_edge_factor, with F = flops_grouped and B =
 * bytes_w of hr_block_cost_eval for blocks (the arithmetic the kernels do,
 * and the weights they read), the deploy γ of stage 0 for stage 0, and
 * hr_classifier_cost for the classifier. Records lut->edge, metadata
 * emulated (a description) and lut->slowdown = the whole-model factor: the
 * sum over stage 0, every block at its deploy γ (α = 1) and the classifier
 * of the emulated times over the same sum of the host times (median, else
 * mean); T_frame, which has no FLOP or byte count, is multiplied by that
 * whole-model factor. HR_ERR_INVALID_ARG for an already emulated LUT, an unusable host
 * roofline, or a thread count that differs between host and LUT (naming
 * both); errors of building the model's shapes otherwise. On failure the
 * LUT is unchanged. */
hr_status hr_device_lut_emulate_profile(hr_device_lut *lut, const hr_edge_profile *prof, const hr_roofline *host,
                                        hr_error *err);

/* The flat form (`--edge-slowdown F`): every time x slowdown, described as
 * "this machine, N thread(s), times x F (flat --edge-slowdown)". F must be
 * finite and >= 1 (an emulation only slows down): HR_ERR_INVALID_ARG
 * otherwise, and for an already emulated LUT. */
hr_status hr_device_lut_emulate_flat(hr_device_lut *lut, double slowdown, hr_error *err);

/* ---- the scenario in words ---- */

/* The deployment a merged LUT describes, as Markdown list items: the server
 * (machine, threads, roofline and its source), the edge (measured, or
 * emulated and how: profile, factor), the link (profile, measured or given;
 * bandwidth, latency) and the per-frame overheads. Every output that depends
 * on an emulated device or link declares it with this text. Writes at most
 * size bytes (NUL-terminated when size > 0) and returns the length the whole
 * text needs, as snprintf does. */
size_t hr_lut_scenario_markdown(const hr_lut *lut, char *buf, size_t size);

/* ---- link profiles (SPEC §13.3) ---- */

/* A named link technology: the goodput an application sees and the fixed
 * cost of one transfer (docs/LINK_PROFILES.md gives the sources and which
 * figures are assumptions). */
typedef struct hr_link_profile {
    const char *name;           /* "wifi-n" */
    const char *description;
    double bandwidth_mbit_s;    /* Mbit/s */
    double latency_ms;          /* ms per transfer */
    const char *source;         /* where the figures come from */
} hr_link_profile;

/* Number of built-in link profiles, and profile i (NULL outside 0..count-1). */
int hr_link_profile_count(void);
const hr_link_profile *hr_link_profile_get(int i);
/* The profile called name (case-insensitive). HR_ERR_INVALID_ARG listing
 * the known names otherwise; *out untouched on failure. */
hr_status hr_link_profile_find(const char *name, const hr_link_profile **out, hr_error *err);
/* The link model of a profile: its bandwidth and latency, per message 0,
 * not measured, profile = its name. */
hr_link hr_link_from_profile(const hr_link_profile *prof);

#ifdef __cplusplus
}
#endif
#endif
