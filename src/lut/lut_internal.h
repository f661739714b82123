/* Private helpers of the LUT module: JSON reading with precise errors,
 * atomic JSON writing, timestamps and the model used to check shapes. */
#ifndef HR_LUT_INTERNAL_H
#define HR_LUT_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "hyperrep/lut.h"

/* Files larger than this are refused before they are read. */
#define HR__LUT_MAX_FILE_BYTES ((long long)64 << 20)

/* Parses a JSON file with duplicate keys rejected. Malformed JSON is
 * HR_ERR_FORMAT "path:line:column: message" (with a hint when the token is
 * NaN or Infinity, which Python writes and JSON forbids); a missing or
 * oversized file is HR_ERR_IO / HR_ERR_LIMIT. */
hr_status hr__json_load(const char *path, json_t **out, hr_error *err);

/* Serialises root (2-space indent, 10 significant digits) plus a newline
 * and writes it atomically. Does not take ownership of root. */
hr_status hr__json_save(const char *path, const json_t *root, hr_error *err);

/* A short printable form of a JSON value for error messages ("\"abc\"",
 * "null", "[1, 2]"), truncated to fit buf. Returns buf. */
const char *hr__json_repr(const json_t *v, char *buf, size_t size);

/* Reads a number (integer or real) into *out; HR_ERR_FORMAT naming
 * path, field and the value otherwise. */
hr_status hr__json_number(const char *path, const char *field, const json_t *v, double *out, hr_error *err);

/* Reads a [B, C, H, W] (n = 4) or [C, H, W] (n = 3) array of positive
 * integers below 2^31. */
hr_status hr__json_shape(const char *path, const char *field, const json_t *v, int n, int64_t *out, hr_error *err);

/* A time in ms as stored in our files and the original's: a finite number
 * >= 0, or exactly -1 (invalid); null reads as -1 when allow_null. Anything
 * else (NaN, negative, a string) is HR_ERR_FORMAT naming field and value. */
hr_status hr__json_time(const char *path, const char *field, const json_t *v, int allow_null, double *out,
                        hr_error *err);

/* Copies a string field (truncated to size) when present and a string;
 * leaves buf untouched otherwise. */
void hr__json_copy_string(const json_t *obj, const char *key, char *buf, size_t size);

/* Accumulates failures while a JSON tree is built, so construction code
 * can check once at the end (every jansson constructor may fail). */
typedef struct hr__jb {
    int failed;
} hr__jb;
/* Sets obj[key] = v (stealing v); records a failure when v or obj is NULL. */
void hr__jset(hr__jb *b, json_t *obj, const char *key, json_t *v);
/* Appends v to arr (stealing v). */
void hr__jpush(hr__jb *b, json_t *arr, json_t *v);
/* A real, or null for a non-finite value (never written: callers validate). */
json_t *hr__jreal(double v);
/* A JSON array of n integers. */
json_t *hr__jints(const int64_t *v, int n);

/* metadata.emulated of a per-device file, and per device in a merged one:
 * {"description": "...", "slowdown": factor}. read: HR_ERR_FORMAT naming
 * path and field for anything else. */
json_t *hr__emulated_json(const char *description, double slowdown);
hr_status hr__emulated_read(const char *path, const char *field, const json_t *v, char *description, size_t size,
                            double *slowdown, hr_error *err);

/* ---- measurement noise (noise.c) ---- */

/* Indices (into idx, which holds n) of the entries whose spread is known
 * (>= 0) and above threshold, in order; returns their count. The rule of
 * re-measurement (hr_lut_measure_params.remeasure_spread). */
int hr__lut_select_noisy(const double *spread, int n, double threshold, int *idx);
/* Median of the known (>= 0) spreads among n; -1 when none is known. */
double hr__lut_median_spread(const double *spread, int n);
/* Mean, median, sample std, min and spread of n >= 1 times into e (valid);
 * sorts t. */
void hr__lut_summarise(double *t, int n, hr_lut_entry *e);

#define HR__CPU_MAX_TASKS 256
typedef struct hr__task_stat {
    long tid;
    double run_ns, wait_ns;     /* /proc/self/task/<tid>/schedstat fields 1 and 2 */
} hr__task_stat;
/* CPU accounting of the whole process at one instant. */
typedef struct hr__cpu_sample {
    double wall_ms, cpu_ms;     /* monotonic clock; getrusage user + system */
    int have_rusage, have_schedstat;
    int ntasks;
    hr__task_stat task[HR__CPU_MAX_TASKS];
} hr__cpu_sample;
void hr__cpu_sample_take(hr__cpu_sample *s);
/* The share of CPU time other processes took from ours between a and b, in
 * %: with schedstat, run-queue wait / (run + wait) summed over our threads;
 * else 1 − (user + system) / (wall × threads) from getrusage (which also
 * counts a pool thread's idle time as stolen: an upper bound). *method is
 * "schedstat", "getrusage", or "" with -1 when neither is available. */
double hr__cpu_stolen_pct(const hr__cpu_sample *a, const hr__cpu_sample *b, int threads, const char **method);

/* metadata.edge_profile {name, cores, cores_used, peak_gflops, bandwidth_gbs,
 * source} of a per-device file, and (in *host) metadata.host_roofline
 * {device, peak_gflops, bandwidth_gbs, threads}; NULL when out of memory.
 * read: both or neither must be present, and only with metadata.emulated
 * (emulated != 0); anything malformed is HR_ERR_FORMAT naming path, field
 * and value. e is zeroed when neither is present. (edge_profile.c) */
json_t *hr__edge_json(const hr_edge_applied *e, json_t **host);
/* Multiplies every present statistic of an entry (mean, median, std, min;
 * -1 marks an absent one) by f; spread is scale-free and stays. (device_lut.c) */
void hr__lut_entry_scale(hr_lut_entry *e, double f);
hr_status hr__edge_read(const char *path, const json_t *meta, int emulated, hr_edge_applied *e, hr_error *err);

/* "YYYY-MM-DD HH:MM:SS.ffffff" local time (the original's format). */
void hr__timestamp(char *buf, size_t size);

/* Parses "stage{s}.{i}" (s, i decimal, no sign, no junk); 1 on success. */
int hr__block_name_parse(const char *name, int *stage, int *index);

/* A structure-only model (no weights allocated) of arch at input [C, H, H]
 * with `classes` classes (0 = defaults) for checking names and shapes. The
 * caller destroys both. */
hr_status hr__shape_model(const char *arch, int64_t c, int64_t h, int64_t classes, hr_ctx **ctx, hr_model **model,
                          hr_error *err);

/* The γ report's number formats (the original's): "693.63M", "2.08G",
 * "5.62M", "0"; intensities "%.2f"; roofline status "Comp-bound (766.6%)",
 * "Balanced   (85.2%)", "Mem-bound  (54.2%)" or "No compute". */
const char *hr__report_si(double x, char *buf, size_t size);
const char *hr__report_status(double flops, double intensity, double knee, char *buf, size_t size);

#endif
