/* Batch iterator: bit-identical batches for 1, 2 and 3 threads (in-memory
 * data, image files, Fashion-MNIST), every index once per epoch, reshuffling
 * by epoch, seeking, agreement with hr_dataset_get, no allocation after
 * creation, and argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hr_test.h"
#include "hyperrep/data.h"

/* ---- a counting allocator ---- */
static long g_allocs;

static void *count_alloc(void *user, size_t bytes, size_t align)
{
    void *p = NULL;
    (void)user;
    g_allocs++;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, bytes ? bytes : 1) != 0)
        return NULL;
    return p;
}

static void count_free(void *user, void *p)
{
    (void)user;
    free(p);
}

static hr_ctx *make_ctx(int threads, const hr_allocator *a)
{
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx = NULL;
    hr_error err = {0};
    cp.threads = threads;
    cp.allocator = a;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    return ctx;
}

static hr_dataset *make_memory(int64_t n, int64_t c, int64_t h, int64_t w)
{
    hr_dataset_desc d;
    float *pix = malloc((size_t)(n * c * h * w) * sizeof *pix), mean[3] = {0.4f, 0.5f, 0.6f},
          std[3] = {0.2f, 0.25f, 0.3f};
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    hr_test_rng r;
    hr_dataset *ds = NULL;
    hr_error err = {0};

    assert_non_null(pix);
    assert_non_null(lab);
    hr_test_rng_seed(&r, 3);
    hr_test_fill(&r, pix, n * c * h * w, 0.0f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        lab[i] = (int32_t)(i % 7);
    memset(&d, 0, sizeof d);
    d.n = n;
    d.c = c;
    d.h = h;
    d.w = w;
    d.pixels = pix;
    d.labels = lab;
    d.num_classes = 7;
    d.mean = mean;
    d.std = std;
    d.pool = HR_POOL_TRAIN;
    HR_ASSERT_OK(hr_dataset_create(&d, &ds, &err), &err);
    free(pix);
    free(lab);
    return ds;
}

/* All batches of `epochs` epochs, concatenated: x, labels, indices. */
typedef struct run {
    float *x;
    int64_t *labels, *indices, n;
} run;

static run collect(hr_ctx *ctx, const hr_dataset *ds, const int64_t *idx, int64_t n, const hr_batch_params *bp,
                   int epochs)
{
    hr_batch_iter *it = NULL;
    hr_error err = {0};
    int64_t chw[3], per, cap;
    run r;

    hr_dataset_shape(ds, chw);
    per = chw[0] * chw[1] * chw[2];
    HR_ASSERT_OK(hr_batch_iter_create(ctx, ds, idx, n, bp, &it, &err), &err);
    cap = hr_batch_iter_samples(it) * epochs;
    r.x = malloc((size_t)(cap * per) * sizeof *r.x);
    r.labels = malloc((size_t)cap * sizeof *r.labels);
    r.indices = malloc((size_t)cap * sizeof *r.indices);
    r.n = 0;
    assert_non_null(r.x);
    assert_non_null(r.labels);
    assert_non_null(r.indices);
    for (int e = 0; e < epochs; e++) {
        hr_batch b;
        int64_t number = 0;
        HR_ASSERT_OK(hr_batch_iter_seek(it, e, 0, &err), &err);
        for (;;) {
            HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
            if (b.n == 0)
                break;
            assert_int_equal(b.epoch, e);
            assert_int_equal(b.number, number++);
            assert_int_equal(b.x.ndim, 4);
            assert_int_equal(b.x.shape[0], b.n);
            assert_true(b.n <= bp->batch_size);
            assert_true(r.n + b.n <= cap);
            memcpy(r.x + r.n * per, b.x.data, (size_t)(b.n * per) * sizeof *r.x);
            memcpy(r.labels + r.n, b.labels, (size_t)b.n * sizeof *r.labels);
            memcpy(r.indices + r.n, b.indices, (size_t)b.n * sizeof *r.indices);
            r.n += b.n;
        }
        assert_int_equal(number, hr_batch_iter_batches(it));
    }
    hr_batch_iter_destroy(it);
    return r;
}

static void run_free(run *r)
{
    free(r->x);
    free(r->labels);
    free(r->indices);
}

static void assert_same(const run *a, const run *b, int64_t per)
{
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->indices, b->indices, (size_t)a->n * sizeof *a->indices);
    assert_memory_equal(a->labels, b->labels, (size_t)a->n * sizeof *a->labels);
    assert_memory_equal(a->x, b->x, (size_t)(a->n * per) * sizeof *a->x);
}

static void test_thread_independence(void **state)
{
    hr_dataset *ds = make_memory(103, 3, 8, 8);
    hr_batch_params bp = hr_batch_params_default();
    hr_ctx *ctx[3] = {make_ctx(1, NULL), make_ctx(2, NULL), make_ctx(3, NULL)};
    (void)state;

    for (int variant = 0; variant < 3; variant++) {
        run r[3];
        bp.batch_size = 16;
        bp.shuffle = variant != 1;
        bp.hflip = variant == 0;
        bp.shift = variant == 0 ? 2 : 0;
        bp.domain = variant == 0 ? 6 : variant == 1 ? 4 : HR_DOMAIN_CLEAN;
        bp.noise_seed = 9;
        for (int t = 0; t < 3; t++)
            r[t] = collect(ctx[t], ds, NULL, 0, &bp, 2);
        assert_int_equal(r[0].n, 2 * 103);
        assert_same(&r[0], &r[1], 3 * 64);
        assert_same(&r[0], &r[2], 3 * 64);
        for (int t = 0; t < 3; t++)
            run_free(&r[t]);
    }
    for (int t = 0; t < 3; t++)
        hr_ctx_destroy(ctx[t]);
    hr_dataset_destroy(ds);
}

static void test_epochs_and_samples(void **state)
{
    hr_dataset *ds = make_memory(103, 3, 8, 8);
    hr_batch_params bp = hr_batch_params_default();
    hr_ctx *ctx = make_ctx(2, NULL);
    int64_t idx[50];
    float want[3 * 64];
    hr_error err = {0};
    run r;
    (void)state;

    bp.batch_size = 16;
    bp.shuffle = 1;
    bp.domain = 8;
    bp.noise_seed = 5;
    r = collect(ctx, ds, NULL, 0, &bp, 2);
    /* Every index once per epoch, in another order each epoch; each sample
     * is exactly what hr_dataset_get gives (no augmentation here). */
    for (int e = 0; e < 2; e++) {
        unsigned char seen[103] = {0};
        for (int64_t j = 0; j < 103; j++) {
            int64_t i = r.indices[e * 103 + j];
            assert_int_equal(seen[i], 0);
            seen[i] = 1;
            assert_int_equal(r.labels[e * 103 + j], i % 7);
        }
    }
    assert_true(memcmp(r.indices, r.indices + 103, 103 * sizeof *r.indices) != 0);
    for (int64_t j = 0; j < 206; j += 17) {
        HR_ASSERT_OK(hr_dataset_get(ds, r.indices[j], 8, 5, 1, want, &err), &err);
        assert_memory_equal(r.x + j * 192, want, sizeof want);
    }
    /* Seeking to (1, 3) reproduces the fourth batch of epoch 1. */
    {
        hr_batch_iter *it = NULL;
        hr_batch b;
        HR_ASSERT_OK(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), &err);
        HR_ASSERT_OK(hr_batch_iter_seek(it, 1, 3, &err), &err);
        HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
        assert_int_equal(b.n, 16);
        assert_memory_equal(b.indices, r.indices + 103 + 48, 16 * sizeof *b.indices);
        assert_memory_equal(b.x.data, r.x + (103 + 48) * 192, 16 * 192 * sizeof(float));
        assert_int_equal(hr_batch_iter_seek(it, -1, 0, &err), HR_ERR_INVALID_ARG);
        hr_batch_iter_destroy(it);
    }
    run_free(&r);

    /* An index list without shuffling keeps its order; drop_last. */
    for (int i = 0; i < 50; i++)
        idx[i] = 102 - 2 * i;
    bp.shuffle = 0;
    bp.drop_last = 1;
    r = collect(ctx, ds, idx, 50, &bp, 1);
    assert_int_equal(r.n, 48);
    assert_memory_equal(r.indices, idx, 48 * sizeof *idx);
    run_free(&r);

    hr_ctx_destroy(ctx);
    hr_dataset_destroy(ds);
}

static void test_no_allocation_per_batch(void **state)
{
    hr_allocator a = {count_alloc, count_free, NULL};
    hr_ctx *ctx = make_ctx(2, &a);
    hr_dataset *ds = make_memory(100, 1, 12, 12);
    hr_batch_params bp = hr_batch_params_default();
    hr_batch_iter *it = NULL;
    hr_error err = {0};
    hr_batch b;
    long before;
    (void)state;

    bp.batch_size = 8;
    bp.shuffle = 1;
    bp.hflip = 1;
    bp.shift = 3;
    bp.domain = 3;
    HR_ASSERT_OK(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), &err);
    before = g_allocs;
    for (int e = 0; e < 3; e++) {
        HR_ASSERT_OK(hr_batch_iter_seek(it, e, 0, &err), &err);
        do
            HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
        while (b.n > 0);
    }
    assert_int_equal(g_allocs, before);
    hr_batch_iter_destroy(it);
    hr_ctx_destroy(ctx);
    hr_dataset_destroy(ds);
}

static void test_errors(void **state)
{
    hr_dataset *ds = make_memory(10, 1, 4, 4);
    hr_batch_params bp = hr_batch_params_default();
    hr_ctx *ctx = make_ctx(1, NULL);
    hr_batch_iter *it = NULL;
    hr_error err = {0};
    int64_t bad[2] = {3, 10};
    (void)state;

    bp.batch_size = 0;
    assert_int_equal(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), HR_ERR_INVALID_ARG);
    bp.batch_size = 4;
    assert_int_equal(hr_batch_iter_create(ctx, ds, bad, 2, &bp, &it, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "index[1] = 10"));
    bp.shift = 4;
    assert_int_equal(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), HR_ERR_INVALID_ARG);
    bp.shift = 0;
    bp.domain = 10;
    assert_int_equal(hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_batch_iter_create(ctx, ds, bad, 0, NULL, &it, &err), HR_ERR_INVALID_ARG);
    assert_null(it);
    hr_ctx_destroy(ctx);
    hr_dataset_destroy(ds);
}

/* An allocator that fails its n-th call (counting from 0) and every later one. */
static long g_fail_at;

static void *failing_alloc(void *user, size_t bytes, size_t align)
{
    void *p = NULL;
    (void)user;
    if (g_allocs++ >= g_fail_at)
        return NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, bytes ? bytes : 1) != 0)
        return NULL;
    return p;
}

static void test_allocation_failures(void **state)
{
    hr_dataset *ds = make_memory(20, 1, 4, 4);
    hr_batch_params bp = hr_batch_params_default();
    hr_allocator a = {failing_alloc, count_free, NULL};
    hr_error err = {0};
    int succeeded = 0;
    (void)state;

    bp.hflip = 1;
    for (g_fail_at = 0; g_fail_at < 40 && !succeeded; g_fail_at++) {
        hr_ctx *ctx;
        hr_batch_iter *it = NULL;
        hr_status st;
        g_allocs = -1000000; /* let the context itself be created */
        ctx = make_ctx(2, &a);
        g_allocs = 0;
        st = hr_batch_iter_create(ctx, ds, NULL, 0, &bp, &it, &err);
        if (st == HR_OK) {
            succeeded = 1;
            hr_batch_iter_destroy(it);
        } else {
            assert_int_equal(st, HR_ERR_NOMEM);
            assert_null(it);
        }
        hr_ctx_destroy(ctx);
    }
    assert_true(succeeded);
    hr_dataset_destroy(ds);
}

/* Image files: decoding on worker threads gives the same batches. */
static void test_files_thread_independence(void **state)
{
    char root[600], path[800];
    hr_dataset_load_params lp = hr_dataset_load_params_default();
    hr_batch_params bp = hr_batch_params_default();
    hr_dataset *ds = NULL;
    hr_ctx *c1 = make_ctx(1, NULL), *c2 = make_ctx(2, NULL);
    hr_error err = {0};
    float img[3 * 30 * 41];
    hr_test_rng rng;
    run a, b;
    (void)state;

    snprintf(root, sizeof root, "%s", hr_test_tmpdir());
    hr_test_rng_seed(&rng, 11);
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/k%d", root, k);
        assert_int_equal(mkdir(path, 0700), 0);
        for (int i = 0; i < 4; i++) {
            hr_test_fill(&rng, img, 3 * 30 * 41, 0.0f, 1.0f);
            snprintf(path, sizeof path, "%s/k%d/%d.png", root, k, i);
            HR_ASSERT_OK(hr_image_write_png(path, img, 3, 30, 41, 1, &err), &err);
        }
    }
    lp.resize = 36;
    lp.crop = 32;
    HR_ASSERT_OK(hr_dataset_load_folder(c2, root, HR_POOL_TEST, &lp, &ds, &err), &err);
    assert_int_equal(hr_dataset_size(ds), 12);
    bp.batch_size = 5;
    bp.shuffle = 1;
    bp.domain = 9;
    bp.hflip = 1;
    a = collect(c1, ds, NULL, 0, &bp, 2);
    b = collect(c2, ds, NULL, 0, &bp, 2);
    assert_same(&a, &b, 3 * 32 * 32);
    run_free(&a);
    run_free(&b);
    hr_dataset_destroy(ds);
    hr_ctx_destroy(c1);
    hr_ctx_destroy(c2);
}

static void test_fashion_mnist_domain(void **state)
{
    hr_data_params dp = hr_data_params_default();
    hr_batch_params bp = hr_batch_params_default();
    hr_ctx *c1 = make_ctx(1, NULL), *c2 = make_ctx(2, NULL);
    hr_data *d = NULL;
    hr_batch_iter *it1 = NULL, *it2 = NULL;
    hr_error err = {0};
    struct stat sb;
    float want[784];
    (void)state;

    if (stat(HR_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", &sb) != 0) {
        print_message("Fashion-MNIST not installed; skipping\n");
        hr_ctx_destroy(c1);
        hr_ctx_destroy(c2);
        skip();
    }
    dp.seed = 7;
    HR_ASSERT_OK(hr_data_open(c2, &dp, &d, &err), &err);
    bp.shuffle = 1;
    bp.hflip = 1;
    bp.domain = 0; /* replaced by the iterator's domain */
    HR_ASSERT_OK(hr_data_iter_create(c1, d, 3, HR_PART_TRAIN, &bp, &it1, &err), &err);
    HR_ASSERT_OK(hr_data_iter_create(c2, d, 3, HR_PART_TRAIN, &bp, &it2, &err), &err);
    for (int k = 0; k < 5; k++) {
        hr_batch b1, b2;
        HR_ASSERT_OK(hr_batch_iter_next(it1, &b1, &err), &err);
        HR_ASSERT_OK(hr_batch_iter_next(it2, &b2, &err), &err);
        assert_int_equal(b1.n, 32);
        assert_int_equal(b1.x.shape[1] * 100 + b1.x.shape[2] * 10 + b1.x.shape[3], 100 + 280 + 28);
        assert_memory_equal(b1.indices, b2.indices, 32 * sizeof(int64_t));
        assert_memory_equal(b1.x.data, b2.x.data, 32 * 784 * sizeof(float));
        for (int j = 0; j < 32; j++)
            assert_int_equal(b1.labels[j], hr_dataset_labels(hr_data_pool(d, HR_POOL_TRAIN))[b1.indices[j]]);
    }
    hr_batch_iter_destroy(it1);
    hr_batch_iter_destroy(it2);
    /* The test part of domain 3, unshuffled: salt-and-pepper samples equal to
     * hr_dataset_get with the data's seed. */
    bp.shuffle = 0;
    bp.hflip = 0;
    HR_ASSERT_OK(hr_data_iter_create(c2, d, 3, HR_PART_TEST, &bp, &it1, &err), &err);
    {
        hr_batch b;
        int64_t n;
        const int64_t *idx = hr_partition_indices(hr_data_partition(d), 3, HR_PART_TEST, &n);
        assert_int_equal(hr_batch_iter_samples(it1), n);
        HR_ASSERT_OK(hr_batch_iter_next(it1, &b, &err), &err);
        assert_memory_equal(b.indices, idx, (size_t)b.n * sizeof *idx);
        HR_ASSERT_OK(hr_dataset_get(hr_data_pool(d, HR_POOL_TEST), idx[1], 3, 7, 1, want, &err), &err);
        assert_memory_equal(b.x.data + 784, want, sizeof want);
    }
    hr_batch_iter_destroy(it1);
    assert_int_equal(hr_data_iter_create(c2, d, 10, HR_PART_TEST, &bp, &it1, &err), HR_ERR_INVALID_ARG);
    hr_data_destroy(d);
    hr_ctx_destroy(c1);
    hr_ctx_destroy(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_independence),
        cmocka_unit_test(test_epochs_and_samples),
        cmocka_unit_test(test_no_allocation_per_batch),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_files_thread_independence),
        cmocka_unit_test(test_fashion_mnist_domain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
