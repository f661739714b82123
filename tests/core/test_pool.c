/* The context's thread pool: every item runs exactly once, the grain rule,
 * dynamic claiming (a delayed worker delays only its own item), and
 * bit-identical model outputs for any thread count and schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hr_test.h"
#include "hyperrep/ctx.h"
#include "hyperrep/model.h"

static hr_ctx *make_ctx(int threads, double grain_us, void (*hook)(void *, int, int64_t), void *user)
{
    hr_ctx_params p = hr_ctx_params_default();
    hr_ctx *ctx = NULL;
    hr_error err = {0};
    p.threads = threads;
    p.grain_us = grain_us;
    p.item_hook = hook;
    p.hook_user = user;
    HR_ASSERT_OK(hr_ctx_create(&p, &ctx, &err), &err);
    return ctx;
}

typedef struct count_job {
    int *hits;
    int *by_thread; /* items run per thread index */
} count_job;

static void count_item(void *arg, int64_t i, int thread)
{
    count_job *j = arg;
    __atomic_add_fetch(&j->hits[i], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&j->by_thread[thread], 1, __ATOMIC_RELAXED);
}

static void test_every_item_once(void **state)
{
    (void)state;
    static const int64_t sizes[] = {0, 1, 2, 3, 7, 64, 1000};
    for (int threads = 1; threads <= 4; threads++) {
        hr_ctx *ctx = make_ctx(threads, -1, NULL, NULL);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int rep = 0; rep < 50; rep++) {
                int64_t n = sizes[s];
                int *hits = calloc((size_t)n + 1, sizeof *hits), by_thread[4] = {0};
                count_job j = {hits, by_thread};
                assert_non_null(hits);
                if (rep % 2)
                    hr_ctx_parallel_for(ctx, n, count_item, &j);
                else
                    hr_ctx_parallel_for_work(ctx, n, (hr_work){1e12, 0}, count_item, &j);
                for (int64_t i = 0; i < n; i++)
                    assert_int_equal(hits[i], 1);
                free(hits);
            }
        hr_ctx_destroy(ctx);
    }
}

/* Back-to-back regions of different functions and sizes over one stack
 * slot: an item run twice, run after its region returned, or run under the
 * wrong region's function shows up as a bad count or a dead job. (Caught a
 * worker claiming past the end of an exhausted region while the caller was
 * writing the next one.) */
typedef struct churn_job {
    int kind;
    volatile int live;
    int64_t n;
    int *hits;
} churn_job;

static int churn_bad;

static void churn_a(void *arg, int64_t i, int thread)
{
    churn_job *j = arg;
    (void)thread;
    if (j->kind != 1 || !j->live || i < 0 || i >= j->n)
        __atomic_store_n(&churn_bad, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&j->hits[i], 1, __ATOMIC_RELAXED);
}

static void churn_b(void *arg, int64_t i, int thread)
{
    churn_job *j = arg;
    (void)thread;
    if (j->kind != 2 || !j->live || i < 0 || i >= j->n)
        __atomic_store_n(&churn_bad, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&j->hits[i], 1, __ATOMIC_RELAXED);
}

static void test_back_to_back_regions(void **state)
{
    (void)state;
    for (int threads = 2; threads <= 3; threads++) {
        hr_ctx *ctx = make_ctx(threads, -1, NULL, NULL);
        for (long it = 0; it < 300000 && !churn_bad; it++) {
            int hits[16] = {0};
            churn_job j = {1 + (int)(it % 2), 1, 1 + (it * 7) % 9, hits};
            hr_ctx_parallel_for(ctx, j.n, j.kind == 1 ? churn_a : churn_b, &j);
            for (int64_t i = 0; i < j.n; i++)
                if (hits[i] != 1)
                    fail_msg("%d threads, region %ld: item %lld ran %d times", threads, it, (long long)i, hits[i]);
            j.live = 0;
            j.kind = 0;
        }
        assert_int_equal(churn_bad, 0);
        hr_ctx_destroy(ctx);
    }
}

static void test_grain_rule(void **state)
{
    (void)state;
    /* 50 GFLOP/s and 20 GB/s: 1e6 FLOPs = 20 us, 1e6 bytes = 50 us */
    assert_true(hr_work_us((hr_work){1e6, 0}) > 19.999 && hr_work_us((hr_work){1e6, 0}) < 20.001);
    assert_true(hr_work_us((hr_work){0, 1e6}) > 49.999 && hr_work_us((hr_work){0, 1e6}) < 50.001);
    assert_true(hr_work_us((hr_work){-5, -5}) == 0);

    hr_ctx *ctx = make_ctx(4, 25, NULL, NULL);
    assert_int_equal(hr_ctx_threads_for(ctx, 1000, (hr_work){1e6, 0}), 1);       /* 20 us: under one grain */
    assert_int_equal(hr_ctx_threads_for(ctx, 1000, (hr_work){2.5e6, 0}), 2);     /* 50 us: two grains */
    assert_int_equal(hr_ctx_threads_for(ctx, 1000, (hr_work){3.5e6, 0}), 2);     /* 70 us: floor */
    assert_int_equal(hr_ctx_threads_for(ctx, 1000, (hr_work){1e6, 1e6}), 2);     /* 20 + 50 us */
    assert_int_equal(hr_ctx_threads_for(ctx, 1000, (hr_work){1e9, 0}), 4);       /* capped by the threads */
    assert_int_equal(hr_ctx_threads_for(ctx, 3, (hr_work){1e9, 0}), 3);          /* capped by the items */
    assert_int_equal(hr_ctx_threads_for(ctx, 0, (hr_work){1e9, 0}), 1);
    hr_ctx_destroy(ctx);

    ctx = make_ctx(4, -1, NULL, NULL);
    assert_int_equal(hr_ctx_threads_for(ctx, 1000, (hr_work){0, 0}), 4);
    assert_int_equal(hr_ctx_threads_for(ctx, 2, (hr_work){0, 0}), 2);
    hr_ctx_destroy(ctx);

    ctx = make_ctx(4, 0, NULL, NULL); /* the default grain */
    double us = 3.5 * HR_CTX_GRAIN_US_DEFAULT;
    assert_int_equal(hr_ctx_threads_for(ctx, 1000, (hr_work){us * 1e-6 * HR_WORK_FLOP_RATE, 0}), 3);
    hr_ctx_destroy(ctx);

    hr_ctx_params p = hr_ctx_params_default();
    hr_error err = {0};
    p.grain_us = 0.0 / 0.0;
    assert_int_equal(hr_ctx_create(&p, &ctx, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "grain_us"));
}

/* A region under the grain runs on the caller alone. */
static void test_small_region_serial(void **state)
{
    (void)state;
    hr_ctx *ctx = make_ctx(4, 25, NULL, NULL);
    for (int rep = 0; rep < 20; rep++) {
        int hits[64] = {0}, by_thread[4] = {0};
        count_job j = {hits, by_thread};
        hr_ctx_parallel_for_work(ctx, 64, (hr_work){1e5, 1e4}, count_item, &j);
        assert_int_equal(by_thread[0], 64);
    }
    hr_ctx_destroy(ctx);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Stalls every worker's first item of a region by 20 ms, as a worker the
 * scheduler took off its core would stall. */
typedef struct stall {
    int stalls;
} stall;

static void stall_worker(void *user, int thread, int64_t item)
{
    stall *s = user;
    (void)item;
    if (thread != 0) {
        __atomic_add_fetch(&s->stalls, 1, __ATOMIC_RELAXED);
        sleep_us(20000);
    }
}

/* With static shares the caller would run 1/threads of the items; with
 * dynamic claiming it takes every item the stalled workers do not hold. */
static void test_stalled_worker_delays_only_its_item(void **state)
{
    (void)state;
    stall s = {0};
    hr_ctx *ctx = make_ctx(2, -1, stall_worker, &s);
    int hits[200] = {0}, by_thread[2] = {0};
    count_job j = {hits, by_thread};
    hr_ctx_parallel_for(ctx, 200, count_item, &j);
    for (int i = 0; i < 200; i++)
        assert_int_equal(hits[i], 1);
    /* the worker stalls on each item it claims, so it runs at most a couple */
    assert_true(by_thread[1] <= 2);
    assert_int_equal(by_thread[0] + by_thread[1], 200);
    hr_ctx_destroy(ctx);
}

/* Random short delays on the workers: schedules that no idle machine
 * produces, for the bit-identity test below. */
typedef struct jitter {
    uint64_t state;
    int items[8];
} jitter;

static void jitter_hook(void *user, int thread, int64_t item)
{
    jitter *jt = user;
    uint64_t x = __atomic_add_fetch(&jt->state, UINT64_C(0x9E3779B97F4A7C15), __ATOMIC_RELAXED);
    x ^= x >> 31;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 29;
    __atomic_add_fetch(&jt->items[thread & 7], 1, __ATOMIC_RELAXED);
    if (thread != 0 && x % 4 == 0)
        sleep_us((long)(x % 300));
    /* the caller pauses on a region's first item, so that workers join
     * even on a busy machine */
    if (thread == 0 && item == 0)
        sleep_us(300);
}

static float *forward_once(const char *arch, int threads, double grain, jitter *jt, int64_t batch, int64_t *nout)
{
    hr_ctx *ctx = make_ctx(threads, grain, jt ? jitter_hook : NULL, jt);
    hr_model *m = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_model_create(ctx, arch, NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 11, &err), &err);
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    HR_ASSERT_OK(hr_model_plan(m, batch, &err), &err);
    const int64_t c = hr_model_in_channels(m), h = hr_model_input_size(m), w = h, k = hr_model_num_classes(m);
    int64_t xn = batch * c * h * w;
    float *x = malloc(sizeof(float) * (size_t)xn), *y = malloc(sizeof(float) * (size_t)(batch * k));
    assert_non_null(x);
    assert_non_null(y);
    hr_test_rng rng;
    hr_test_rng_seed(&rng, 3);
    hr_test_fill(&rng, x, xn, -1, 1);
    hr_tensor tx = hr_tensor_4d(x, batch, c, h, w), ty = hr_tensor_view(y, 2, (int64_t[]){batch, k});
    HR_ASSERT_OK(hr_model_forward(m, &tx, &ty, &err), &err);
    free(x);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    *nout = batch * k;
    return y;
}

static void test_bit_identical_any_threads_and_schedule(void **state)
{
    (void)state;
    static const char *archs[] = {"repvgg-fmnist", "repvgg-tiny-g2"};
    for (size_t a = 0; a < 2; a++) {
        int64_t n = 0, n2 = 0;
        float *ref = forward_once(archs[a], 1, 0, NULL, 2, &n);
        for (int threads = 2; threads <= 4; threads++) {
            jitter jt = {(uint64_t)threads * 77, {0}};
            float *y = forward_once(archs[a], threads, -1, &jt, 2, &n2);
            assert_int_equal(n, n2);
            assert_memory_equal(ref, y, sizeof(float) * (size_t)n);
            /* the schedule really was shared: a worker ran items too */
            int worker_items = 0;
            for (int t = 1; t < 8; t++)
                worker_items += jt.items[t];
            assert_true(worker_items > 0);
            free(y);
            /* and under the default grain */
            y = forward_once(archs[a], threads, 0, NULL, 2, &n2);
            assert_memory_equal(ref, y, sizeof(float) * (size_t)n);
            free(y);
        }
        free(ref);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_back_to_back_regions),
        cmocka_unit_test(test_grain_rule),
        cmocka_unit_test(test_small_region_serial),
        cmocka_unit_test(test_stalled_worker_delays_only_its_item),
        cmocka_unit_test(test_bit_identical_any_threads_and_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
