/* Context: allocator, log sink and a small persistent thread pool.
 *
 * The pool runs fork-join regions (hr_ctx_parallel_for). A region's items
 * are claimed one at a time from a shared counter by whichever threads are
 * running, the caller included, so a worker that the scheduler took off its
 * core delays only the item it holds, not a fixed share of the region: on a
 * machine where other processes compete for the cores, the caller simply
 * claims the items a descheduled worker would have taken. (The previous
 * pool gave thread t the t-th contiguous share, and a 2-thread forward of
 * repvgg-fmnist then took up to 47x its idle time when both cores were
 * busy.) Items are the problem's own units (panels, rows, chunks), and each
 * is computed the same way whichever thread runs it, so results are
 * bit-identical for any thread count and any schedule.
 *
 * Regions small enough that waking a worker costs more than it saves run on
 * the caller alone (the grain rule, hr_ctx_parallel_for_work): tiny
 * convolutions, the stem of a small model, the classifier.
 *
 * The claim word carries the region's generation in its upper 32 bits and
 * the items still unclaimed in the lower ones, and an item is claimed by a
 * compare-and-swap on the whole word, so a worker that wakes up late, after
 * its region has finished and the next one has begun, cannot take an item:
 * its swap fails. A successful claim leaves an unfinished item, which keeps
 * the region open, so the job fields read just after the swap are that
 * region's.
 *
 * Waiting threads (workers between regions, the caller for the last items
 * held by others) poll for a bounded while (SPIN_ROUNDS pause instructions,
 * a fraction of a millisecond), then sleep on a condition variable: the
 * regions of a forward pass follow each other within microseconds, and
 * sleeping between them made every region a futex wake-up. */
#include "hyperrep/ctx.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One pool thread; index 1..threads-1 (the caller is thread 0). */
typedef struct hr__worker {
    struct hr_ctx *ctx;
    int index;
    pthread_t tid;
} hr__worker;

struct hr_ctx {
    hr_ctx_params params;
    hr_allocator allocator;
    double grain_us;       /* resolved from params.grain_us */

    hr__worker *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    int stop;

    /* The current region. Written by the caller before it publishes the
     * region through `claim`, read by workers with relaxed atomics (a stale
     * read is harmless: the claim that follows it fails). */
    hr_parallel_fn fn;
    void *arg;
    int64_t n;
    int participants;      /* threads 0..participants-1 may claim items */
    uint64_t claim;        /* generation << 32 | items not yet claimed */
    int64_t done;          /* items finished in the current region */
    int sleepers;          /* workers asleep on `wake` (under mu) */
    int caller_sleeping;   /* the caller is asleep on `done_cv` (under mu) */
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

void hr_log_stderr(void *user, hr_log_level level, const char *msg)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    (void)user;
    fprintf(stderr, "hyperrep: %s: %s\n", (unsigned)level < HR_LOG_LEVEL_COUNT ? names[level] : "log", msg);
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
#define GEN_SHIFT 32
#define ITEM_MASK ((UINT64_C(1) << GEN_SHIFT) - 1)

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Claims and runs items of generation gen until none is left. Returns the
 * number of items this thread ran.
 *
 * The claim word counts the items *left*, not the next index: a claim
 * succeeds only while the region still has an unclaimed item, so a
 * successful claim always leaves that item unfinished, and the region's
 * fields (fn, arg, n) cannot change until it is done; they are read after
 * the claim. (Counting up to n instead let a worker that read a later
 * region's larger n claim past the end of an exhausted one, in the moment
 * between the caller writing the next region's fields and publishing it.) */
static int64_t run_items(hr_ctx *ctx, uint32_t gen, int thread)
{
    int64_t ran = 0;
    uint64_t w = __atomic_load_n(&ctx->claim, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((uint32_t)(w >> GEN_SHIFT) != gen || (w & ITEM_MASK) == 0)
            break;
        if (!__atomic_compare_exchange_n(&ctx->claim, &w, w - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue; /* w now holds the current word */
        hr_parallel_fn fn = __atomic_load_n(&ctx->fn, __ATOMIC_RELAXED);
        void *arg = __atomic_load_n(&ctx->arg, __ATOMIC_RELAXED);
        int64_t n = __atomic_load_n(&ctx->n, __ATOMIC_RELAXED);
        int64_t i = n - (int64_t)(w & ITEM_MASK);
        if (ctx->params.item_hook)
            ctx->params.item_hook(ctx->params.hook_user, thread, i);
        fn(arg, i, thread);
        ran++;
        if (__atomic_add_fetch(&ctx->done, 1, __ATOMIC_SEQ_CST) == n &&
            __atomic_load_n(&ctx->caller_sleeping, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&ctx->mu);
            pthread_cond_signal(&ctx->done_cv);
            pthread_mutex_unlock(&ctx->mu);
        }
        w = __atomic_load_n(&ctx->claim, __ATOMIC_ACQUIRE);
    }
    return ran;
}

static uint32_t current_gen(hr_ctx *ctx)
{
    return (uint32_t)(__atomic_load_n(&ctx->claim, __ATOMIC_ACQUIRE) >> GEN_SHIFT);
}

static void *worker_main(void *p)
{
    const hr__worker *w = p;
    hr_ctx *ctx = w->ctx;
    uint32_t seen = 0;

    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && current_gen(ctx) == seen && !__atomic_load_n(&ctx->stop, __ATOMIC_ACQUIRE);
             i++)
            cpu_relax();
        if (current_gen(ctx) == seen) {
            pthread_mutex_lock(&ctx->mu);
            /* sleepers before the generation check, and the caller publishes
             * before reading sleepers (both seq_cst): one of them sees the other */
            __atomic_add_fetch(&ctx->sleepers, 1, __ATOMIC_SEQ_CST);
            while (!ctx->stop && current_gen(ctx) == seen)
                pthread_cond_wait(&ctx->wake, &ctx->mu);
            __atomic_sub_fetch(&ctx->sleepers, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&ctx->mu);
        }
        if (__atomic_load_n(&ctx->stop, __ATOMIC_ACQUIRE))
            break;
        seen = current_gen(ctx);
        if (w->index < __atomic_load_n(&ctx->participants, __ATOMIC_RELAXED))
            run_items(ctx, seen, w->index);
    }
    return NULL;
}

hr_status hr_ctx_create(const hr_ctx_params *params, hr_ctx **out, hr_error *err)
{
    hr_ctx_params p = params ? *params : hr_ctx_params_default();
    hr_ctx *ctx;

    if (p.threads < 1 || p.threads > 1024)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "threads = %d, expected 1..1024", p.threads);
    if (!(p.grain_us == p.grain_us) || p.grain_us > 1e9)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "grain_us = %g, expected a number up to 1e9 (0: default, < 0: split every region)",
                            p.grain_us);
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return hr_error_set(err, HR_ERR_NOMEM, "context: out of memory");
    ctx->params = p;
    ctx->grain_us = p.grain_us == 0 ? HR_CTX_GRAIN_US_DEFAULT : p.grain_us;
    if (p.allocator) {
        ctx->allocator = *p.allocator;
    } else {
        ctx->allocator.alloc = default_alloc;
        ctx->allocator.free = default_free;
    }
    if (!ctx->params.log)
        ctx->params.log = hr_log_stderr;
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_cond_init(&ctx->wake, NULL);
    pthread_cond_init(&ctx->done_cv, NULL);
    if (p.threads > 1) {
        ctx->workers = calloc((size_t)p.threads - 1, sizeof *ctx->workers);
        if (!ctx->workers) {
            hr_ctx_destroy(ctx);
            return hr_error_set(err, HR_ERR_NOMEM, "context: out of memory");
        }
        /* No region is published before create returns, so workers may
         * start while later ones are still being created. */
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
    pthread_cond_destroy(&ctx->done_cv);
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

double hr_work_us(hr_work work)
{
    double f = work.flops > 0 ? work.flops : 0, b = work.bytes > 0 ? work.bytes : 0;
    return f / HR_WORK_FLOP_RATE * 1e6 + b / HR_WORK_BYTE_RATE * 1e6;
}

int hr_ctx_threads_for(const hr_ctx *ctx, int64_t n, hr_work work)
{
    int64_t t = ctx->nworkers + 1;
    if (n < t)
        t = n < 1 ? 1 : n;
    if (ctx->grain_us > 0) {
        /* each thread beyond the first must bring at least a grain of work */
        double us = hr_work_us(work);
        double by_grain = us / ctx->grain_us;
        if (by_grain < (double)t)
            t = by_grain < 1 ? 1 : (int64_t)by_grain;
    }
    return (int)t;
}

static void run_serial(hr_ctx *ctx, int64_t n, hr_parallel_fn fn, void *arg)
{
    for (int64_t i = 0; i < n; i++) {
        if (ctx->params.item_hook)
            ctx->params.item_hook(ctx->params.hook_user, 0, i);
        fn(arg, i, 0);
    }
}

static void run_region(hr_ctx *ctx, int64_t n, int participants, hr_parallel_fn fn, void *arg)
{
    if (n <= 0)
        return;
    if (participants <= 1 || n > (int64_t)ITEM_MASK) {
        run_serial(ctx, n, fn, arg);
        return;
    }
    /* The previous region is finished (every item done), so no thread can
     * claim from it any more: the fields may change. */
    __atomic_store_n(&ctx->fn, fn, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->arg, arg, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->n, n, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->participants, participants, __ATOMIC_RELAXED);
    __atomic_store_n(&ctx->done, 0, __ATOMIC_RELAXED);
    uint32_t gen = current_gen(ctx) + 1;
    __atomic_store_n(&ctx->claim, (uint64_t)gen << GEN_SHIFT | (uint64_t)n, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ctx->sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&ctx->mu);
        pthread_cond_broadcast(&ctx->wake);
        pthread_mutex_unlock(&ctx->mu);
    }

    run_items(ctx, gen, 0);

    for (int i = 0; i < SPIN_ROUNDS && __atomic_load_n(&ctx->done, __ATOMIC_ACQUIRE) < n; i++)
        cpu_relax();
    if (__atomic_load_n(&ctx->done, __ATOMIC_ACQUIRE) < n) {
        pthread_mutex_lock(&ctx->mu);
        __atomic_store_n(&ctx->caller_sleeping, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&ctx->done, __ATOMIC_SEQ_CST) < n)
            pthread_cond_wait(&ctx->done_cv, &ctx->mu);
        __atomic_store_n(&ctx->caller_sleeping, 0, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&ctx->mu);
    }
}

void hr_ctx_parallel_for(hr_ctx *ctx, int64_t n, hr_parallel_fn fn, void *arg)
{
    run_region(ctx, n, (int)(n < ctx->nworkers + 1 ? n : ctx->nworkers + 1), fn, arg);
}

void hr_ctx_parallel_for_work(hr_ctx *ctx, int64_t n, hr_work work, hr_parallel_fn fn, void *arg)
{
    run_region(ctx, n, hr_ctx_threads_for(ctx, n, work), fn, arg);
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
