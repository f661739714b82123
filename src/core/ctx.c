/* Context: allocator, log sink and a small persistent thread pool.
 *
 * The pool is a fork-join barrier over pthreads: hr_ctx_parallel_for publishes
 * a job, wakes the workers, does its own share and waits until every worker
 * has finished its share. Work is split statically (thread t gets the t-th
 * contiguous chunk), which keeps results independent of scheduling.
 *
 * Before sleeping on a condition variable, a waiting thread (worker between
 * jobs, caller at the barrier) polls for a bounded while (SPIN_ROUNDS pause
 * instructions, a fraction of a millisecond): the parallel regions of a
 * forward pass follow each other within microseconds. Sleeping between them
 * made every region a futex wake-up, and after the machine had idled for
 * ~0.1 s the scheduler kept waking the worker onto the caller's CPU: a
 * 2-thread convolution then ran at 1-thread speed (measured on a 2-vCPU VM). */
#include "hyperrep/ctx.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hr_ctx {
    hr_ctx_params params;
    hr_allocator allocator;

    struct hr__worker *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;   /* bumped per job; workers wait for a new one */
    int pending;           /* workers still running the current job */
    int stop;
    hr_parallel_fn fn;
    void *arg;
    int64_t n;
};

static void *default_alloc(void *user, size_t bytes, size_t align)
{
    void *p = NULL;
    (void)user;
    if (bytes == 0)
        bytes = 1;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, bytes) != 0)
        return NULL;
    return p;
}

static void default_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static void default_log(void *user, hr_log_level level, const char *msg)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    (void)user;
    fprintf(stderr, "hyperrep: %s: %s\n", names[level], msg);
}

hr_ctx_params hr_ctx_params_default(void)
{
    hr_ctx_params p;
    memset(&p, 0, sizeof p);
    p.threads = 1;
    p.seed = 42;
    p.log_level = HR_LOG_WARN;
    return p;
}

#define SPIN_ROUNDS 4096

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Polls until the generation differs from seen (or stop is set), for at most
 * SPIN_ROUNDS rounds; the caller then checks again under the lock. */
static void spin_for_job(hr_ctx *ctx, uint64_t seen)
{
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (__atomic_load_n(&ctx->generation, __ATOMIC_ACQUIRE) != seen || __atomic_load_n(&ctx->stop, __ATOMIC_ACQUIRE))
            return;
        cpu_relax();
    }
}

static void spin_for_done(hr_ctx *ctx)
{
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (__atomic_load_n(&ctx->pending, __ATOMIC_ACQUIRE) == 0)
            return;
        cpu_relax();
    }
}

static void run_share(hr_ctx *ctx, int t)
{
    int nt = ctx->nworkers + 1;
    int64_t lo = ctx->n * t / nt, hi = ctx->n * (t + 1) / nt;
    for (int64_t i = lo; i < hi; i++)
        ctx->fn(ctx->arg, i, t);
}

/* One pool thread; index 1..threads-1 (the caller is thread 0). */
typedef struct hr__worker {
    hr_ctx *ctx;
    int index;
    pthread_t tid;
} hr__worker;

static void *worker_main(void *p)
{
    const hr__worker *w = p;
    hr_ctx *ctx = w->ctx;
    uint64_t seen = 0;

    pthread_mutex_lock(&ctx->mu);
    for (;;) {
        if (!ctx->stop && ctx->generation == seen) {
            pthread_mutex_unlock(&ctx->mu);
            spin_for_job(ctx, seen);
            pthread_mutex_lock(&ctx->mu);
        }
        while (!ctx->stop && ctx->generation == seen)
            pthread_cond_wait(&ctx->wake, &ctx->mu);
        if (ctx->stop)
            break;
        seen = ctx->generation;
        pthread_mutex_unlock(&ctx->mu);
        run_share(ctx, w->index);
        pthread_mutex_lock(&ctx->mu);
        if (__atomic_sub_fetch(&ctx->pending, 1, __ATOMIC_RELEASE) == 0)
            pthread_cond_signal(&ctx->done);
    }
    pthread_mutex_unlock(&ctx->mu);
    return NULL;
}

hr_status hr_ctx_create(const hr_ctx_params *params, hr_ctx **out, hr_error *err)
{
    hr_ctx_params p = params ? *params : hr_ctx_params_default();
    hr_ctx *ctx;

    if (p.threads < 1 || p.threads > 1024)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "threads = %d, expected 1..1024", p.threads);
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return hr_error_set(err, HR_ERR_NOMEM, "context: out of memory");
    ctx->params = p;
    if (p.allocator) {
        ctx->allocator = *p.allocator;
    } else {
        ctx->allocator.alloc = default_alloc;
        ctx->allocator.free = default_free;
    }
    if (!ctx->params.log)
        ctx->params.log = default_log;
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_cond_init(&ctx->wake, NULL);
    pthread_cond_init(&ctx->done, NULL);
    if (p.threads > 1) {
        ctx->workers = calloc((size_t)p.threads - 1, sizeof *ctx->workers);
        if (!ctx->workers) {
            hr_ctx_destroy(ctx);
            return hr_error_set(err, HR_ERR_NOMEM, "context: out of memory");
        }
        /* No job is published before create returns, so workers may start
         * while later ones are still being created. */
        for (int t = 0; t < p.threads - 1; t++) {
            ctx->workers[t].ctx = ctx;
            ctx->workers[t].index = t + 1;
            if (pthread_create(&ctx->workers[t].tid, NULL, worker_main, &ctx->workers[t]) != 0) {
                hr_ctx_destroy(ctx);
                return hr_error_set(err, HR_ERR_INTERNAL, "context: cannot start worker thread %d", t + 1);
            }
            ctx->nworkers++;
        }
    }
    *out = ctx;
    return HR_OK;
}

void hr_ctx_destroy(hr_ctx *ctx)
{
    if (!ctx)
        return;
    pthread_mutex_lock(&ctx->mu);
    __atomic_store_n(&ctx->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&ctx->wake);
    pthread_mutex_unlock(&ctx->mu);
    for (int t = 0; t < ctx->nworkers; t++)
        pthread_join(ctx->workers[t].tid, NULL);
    free(ctx->workers);
    pthread_cond_destroy(&ctx->wake);
    pthread_cond_destroy(&ctx->done);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
}

int hr_ctx_threads(const hr_ctx *ctx) { return ctx->nworkers + 1; }
uint64_t hr_ctx_seed(const hr_ctx *ctx) { return ctx->params.seed; }

void *hr_ctx_alloc(hr_ctx *ctx, size_t bytes)
{
    return ctx->allocator.alloc(ctx->allocator.user, bytes, 64);
}

void *hr_ctx_calloc(hr_ctx *ctx, size_t bytes)
{
    void *p = hr_ctx_alloc(ctx, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void hr_ctx_free(hr_ctx *ctx, void *ptr)
{
    if (ptr)
        ctx->allocator.free(ctx->allocator.user, ptr);
}

void hr_ctx_log(hr_ctx *ctx, hr_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (level < ctx->params.log_level || level >= HR_LOG_LEVEL_COUNT)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->params.log(ctx->params.log_user, level, msg);
}

void hr_ctx_parallel_for(hr_ctx *ctx, int64_t n, hr_parallel_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (ctx->nworkers == 0 || n == 1) {
        for (int64_t i = 0; i < n; i++)
            fn(arg, i, 0);
        return;
    }
    pthread_mutex_lock(&ctx->mu);
    ctx->fn = fn;
    ctx->arg = arg;
    ctx->n = n;
    __atomic_store_n(&ctx->pending, ctx->nworkers, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->generation, ctx->generation + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&ctx->wake);
    pthread_mutex_unlock(&ctx->mu);

    run_share(ctx, 0);

    spin_for_done(ctx);
    pthread_mutex_lock(&ctx->mu);
    while (ctx->pending > 0)
        pthread_cond_wait(&ctx->done, &ctx->mu);
    pthread_mutex_unlock(&ctx->mu);
}

/* ---- arena ---- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    unsigned char *base;
} arena_chunk;

struct hr_arena {
    hr_ctx *ctx;
    size_t chunk_bytes;
    size_t used;
    arena_chunk *head;
};

hr_status hr_arena_create(hr_ctx *ctx, size_t chunk_bytes, hr_arena **out, hr_error *err)
{
    hr_arena *a = calloc(1, sizeof *a);
    if (!a)
        return hr_error_set(err, HR_ERR_NOMEM, "arena: out of memory");
    a->ctx = ctx;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : (size_t)1 << 20;
    *out = a;
    return HR_OK;
}

void hr_arena_destroy(hr_arena *a)
{
    if (!a)
        return;
    for (arena_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        hr_ctx_free(a->ctx, c->base);
        free(c);
    }
    free(a);
}

void *hr_arena_alloc(hr_arena *a, size_t bytes)
{
    size_t need = (bytes + 63) & ~(size_t)63;
    arena_chunk *c = a->head;

    if (need < bytes)
        return NULL;
    if (!c || c->size - c->used < need) {
        size_t size = need > a->chunk_bytes ? need : a->chunk_bytes;
        c = malloc(sizeof *c);
        if (!c)
            return NULL;
        c->base = hr_ctx_alloc(a->ctx, size);
        if (!c->base) {
            free(c);
            return NULL;
        }
        c->size = size;
        c->used = 0;
        /* A dedicated oversized chunk goes behind the head so the head's free
         * space stays usable for small requests. */
        if (a->head && size == need && a->head->size - a->head->used > 0) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->base + c->used;
    c->used += need;
    a->used += bytes;
    memset(p, 0, bytes);
    return p;
}

size_t hr_arena_used(const hr_arena *a) { return a->used; }
