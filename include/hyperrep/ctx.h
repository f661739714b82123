/* Execution context: allocator, thread pool, RNG seed and log sink.
 *
 * Nothing in hyperrep reads process-wide state: every kernel, model and
 * measurement receives its context explicitly, so one process can hold a
 * 16-thread "server" context beside a 2-thread emulated "client" context.
 *
 * Threading: hyperrep parallelises with the context's own pool and its own
 * convolution/GEMM micro-kernels. Debian's default (pthread) OpenBLAS keeps
 * one process-wide thread count, which two contexts with different counts
 * would fight over, so hyperrep links the *serial* OpenBLAS build, and uses it
 * only outside the pool (the classifier, the roofline's SGEMM): Debian's
 * serial build is not safe to call from two threads at once (measured: wrong
 * results), so never call cblas_* from inside hr_ctx_parallel_for. */
#ifndef HYPERREP_CTX_H
#define HYPERREP_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A pluggable allocator. alloc must return memory aligned to `align` (a power
 * of two, at most 4096) or NULL; free(NULL) must be a no-op. */
typedef struct hr_allocator {
    void *(*alloc)(void *user, size_t bytes, size_t align);
    void (*free)(void *user, void *ptr);
    void *user;
} hr_allocator;

typedef enum hr_log_level { HR_LOG_DEBUG, HR_LOG_INFO, HR_LOG_WARN, HR_LOG_ERROR, HR_LOG_LEVEL_COUNT } hr_log_level;

typedef void (*hr_log_fn)(void *user, hr_log_level level, const char *msg);

/* The default log sink: "hyperrep: <level>: <msg>" on stderr (user unused).
 * Also the fallback of the params structs that take a log function. */
void hr_log_stderr(void *user, hr_log_level level, const char *msg);

typedef struct hr_ctx_params {
    int threads;              /* worker threads including the caller; >= 1 */
    uint64_t seed;            /* base seed for random initialisation */
    const hr_allocator *allocator; /* NULL: aligned malloc */
    hr_log_fn log;            /* NULL: warnings and errors to stderr */
    void *log_user;
    hr_log_level log_level;   /* messages below this level are dropped */
    /* Grain rule of hr_ctx_parallel_for_work: each thread a region uses
     * beyond the first must bring at least this many microseconds of
     * estimated single-thread work (hr_work_us). 0: HR_CTX_GRAIN_US_DEFAULT;
     * < 0: every region uses every thread it has items for (tests). */
    double grain_us;
    /* Instrumentation: when set, called on the running thread before each
     * item of a parallel region (tests use it to delay a worker). */
    void (*item_hook)(void *user, int thread, int64_t item);
    void *hook_user;
} hr_ctx_params;

/* The grain: a region shorter than about twice this is not worth a second
 * thread. Waking a spinning worker and the final hand-over cost a few
 * microseconds on an idle machine; on a shared one a worker may not run at
 * all for a time slice, and then the caller does the region alone anyway. */
#define HR_CTX_GRAIN_US_DEFAULT 25.0

/* Rates for the estimate of a region's single-thread time: a typical core's
 * sustained rate in our convolution kernels and its memory rate for
 * streaming element-wise work. They need only be right within a factor of
 * about two: they decide whether splitting is worth its cost, never a
 * result. */
#define HR_WORK_FLOP_RATE 50e9 /* FLOP/s */
#define HR_WORK_BYTE_RATE 20e9 /* bytes/s */

/* The work of a parallel region: floating-point operations and bytes moved. */
typedef struct hr_work {
    double flops, bytes;
} hr_work;

/* Estimated single-thread microseconds of work (rates above); negative
 * fields count as 0. */
double hr_work_us(hr_work work);

typedef struct hr_ctx hr_ctx;

/* Defaults: 1 thread, seed 42, malloc, stderr logging at WARN. */
hr_ctx_params hr_ctx_params_default(void);

/* Creates a context and starts threads-1 worker threads.
 * Returns HR_ERR_INVALID_ARG for threads < 1 or > 1024, HR_ERR_NOMEM. */
hr_status hr_ctx_create(const hr_ctx_params *params, hr_ctx **out, hr_error *err);
/* Joins the workers and frees the context; NULL is a no-op. */
void hr_ctx_destroy(hr_ctx *ctx);

int hr_ctx_threads(const hr_ctx *ctx);
uint64_t hr_ctx_seed(const hr_ctx *ctx);

/* Allocation through the context's allocator (64-byte aligned). */
void *hr_ctx_alloc(hr_ctx *ctx, size_t bytes);
void *hr_ctx_calloc(hr_ctx *ctx, size_t bytes);
void hr_ctx_free(hr_ctx *ctx, void *ptr);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void hr_ctx_log(hr_ctx *ctx, hr_log_level level, const char *fmt, ...);

/* Parallel for: calls fn(arg, i, thread) once for every i in [0, n) on the
 * context's threads (thread in [0, threads): an index for per-thread
 * scratch). Items are claimed one at a time by whichever thread is free,
 * the caller included, so which thread runs an item depends on scheduling:
 * fn's result must depend only on i (split the work into items by the
 * problem's shape, never by the thread count, and reduce in item order
 * afterwards), and then results are bit-identical for any thread count and
 * schedule. Returns when every item is done. Not reentrant: fn must not call
 * hr_ctx_parallel_for on the same context. Uses every thread (up to n); for
 * coarse work whose size is known to be worth it. */
typedef void (*hr_parallel_fn)(void *arg, int64_t i, int thread);
void hr_ctx_parallel_for(hr_ctx *ctx, int64_t n, hr_parallel_fn fn, void *arg);

/* The same under the grain rule: the region uses hr_ctx_threads_for(ctx, n,
 * work) threads, so a small one runs on the caller alone. */
void hr_ctx_parallel_for_work(hr_ctx *ctx, int64_t n, hr_work work, hr_parallel_fn fn, void *arg);

/* The threads a region of n items and this work uses: min(threads, n,
 * max(1, floor(hr_work_us(work) / grain_us))), or min(threads, n) when the
 * grain is negative. */
int hr_ctx_threads_for(const hr_ctx *ctx, int64_t n, hr_work work);

/* Arena: a bump allocator for storage freed all at once (tensors of a model,
 * workspaces of a plan). Blocks are 64-byte aligned. */
typedef struct hr_arena hr_arena;
hr_status hr_arena_create(hr_ctx *ctx, size_t chunk_bytes, hr_arena **out, hr_error *err);
void hr_arena_destroy(hr_arena *arena);
/* Returns zeroed, 64-byte aligned storage or NULL when out of memory. */
void *hr_arena_alloc(hr_arena *arena, size_t bytes);
/* Bytes handed out so far (excluding alignment slack). */
size_t hr_arena_used(const hr_arena *arena);

#ifdef __cplusplus
}
#endif
#endif
