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

typedef struct hr_ctx_params {
    int threads;              /* worker threads including the caller; >= 1 */
    uint64_t seed;            /* base seed for random initialisation */
    const hr_allocator *allocator; /* NULL: aligned malloc */
    hr_log_fn log;            /* NULL: warnings and errors to stderr */
    void *log_user;
    hr_log_level log_level;   /* messages below this level are dropped */
} hr_ctx_params;

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

/* Parallel for: calls fn(arg, i, thread) for every i in [0, n) on the
 * context's threads (thread in [0, threads)). Iterations are handed out in
 * contiguous static chunks, so the same i always runs under the same thread
 * count's same partition; fn must not depend on which thread runs it for its
 * result. Returns when all iterations are done. Not reentrant: fn must not
 * call hr_ctx_parallel_for on the same context. */
typedef void (*hr_parallel_fn)(void *arg, int64_t i, int thread);
void hr_ctx_parallel_for(hr_ctx *ctx, int64_t n, hr_parallel_fn fn, void *arg);

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
