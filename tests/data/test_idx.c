/* IDX / Fashion-MNIST loading: small gzip files written here with zlib
 * (valid, plain, every malformation we validate), and the real Debian
 * Fashion-MNIST files when they are installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_internal.h"
#include "hr_test.h"
#include "hyperrep/data.h"

/* An IDX byte image: magic {0, 0, type, ndim}, dims, then payload bytes. */
static size_t make_idx(unsigned char *buf, int type, int ndim, const uint32_t *dims, const unsigned char *payload,
                       size_t npayload)
{
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = (unsigned char)type;
    buf[n++] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++) {
        buf[n++] = (unsigned char)(dims[d] >> 24);
        buf[n++] = (unsigned char)(dims[d] >> 16);
        buf[n++] = (unsigned char)(dims[d] >> 8);
        buf[n++] = (unsigned char)dims[d];
    }
    memcpy(buf + n, payload, npayload);
    return n + npayload;
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static char *join(const char *dir, const char *name)
{
    char *p = hr__path_join(dir, name);
    assert_non_null(p);
    return p;
}

/* Writes a consistent 5-image 3×4 set (train and t10k) into a fresh dir. */
static const char *write_valid_set(int gz)
{
    static char dir[600];
    unsigned char pix[5 * 12], lab[5] = {3, 0, 9, 1, 3}, buf[256];
    uint32_t idims[3] = {5, 3, 4}, ldims[1] = {5};
    const char *pre[2] = {"train", "t10k"};

    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    for (int i = 0; i < 60; i++)
        pix[i] = (unsigned char)(i * 4);
    for (int p = 0; p < 2; p++) {
        char name[64], *path;
        size_t n;
        n = make_idx(buf, 0x08, 3, idims, pix, sizeof pix);
        snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", pre[p], gz ? ".gz" : "");
        path = join(dir, name);
        if (gz)
            write_gz(path, buf, n);
        else
            hr_test_write_file(path, buf, n);
        free(path);
        n = make_idx(buf, 0x08, 1, ldims, lab, sizeof lab);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", pre[p], gz ? ".gz" : "");
        path = join(dir, name);
        if (gz)
            write_gz(path, buf, n);
        else
            hr_test_write_file(path, buf, n);
        free(path);
    }
    return dir;
}

static void check_valid(const char *dir)
{
    hr_error err = {0};
    hr_dataset *ds = NULL;
    int64_t chw[3];
    float x[12];

    HR_ASSERT_OK(hr_dataset_load_fashion_mnist(dir, HR_POOL_TRAIN, NULL, &ds, &err), &err);
    assert_int_equal(hr_dataset_size(ds), 5);
    hr_dataset_shape(ds, chw);
    assert_int_equal(chw[0], 1);
    assert_int_equal(chw[1], 3);
    assert_int_equal(chw[2], 4);
    assert_int_equal(hr_dataset_num_classes(ds), 10);
    assert_string_equal(hr_dataset_class_name(ds, 9), "Ankle boot");
    assert_int_equal(hr_dataset_labels(ds)[2], 9);
    HR_ASSERT_OK(hr_dataset_get(ds, 1, HR_DOMAIN_CLEAN, 42, 0, x, &err), &err);
    for (int i = 0; i < 12; i++)
        assert_float_equal(x[i], (float)((12 + i) * 4) / 255.0f, 1e-7);
    HR_ASSERT_OK(hr_dataset_get(ds, 1, HR_DOMAIN_CLEAN, 42, 1, x, &err), &err);
    assert_float_equal(x[0], ((float)48 / 255.0f - HR_FASHION_MNIST_MEAN) / HR_FASHION_MNIST_STD, 1e-6);
    assert_int_equal(hr_dataset_get(ds, 5, HR_DOMAIN_CLEAN, 42, 1, x, &err), HR_ERR_INVALID_ARG);
    hr_dataset_destroy(ds);
}

static void test_valid_gz_and_plain(void **state)
{
    hr_dataset_load_params p = hr_dataset_load_params_default();
    hr_error err = {0};
    hr_dataset *ds = NULL;
    (void)state;
    check_valid(write_valid_set(1));
    check_valid(write_valid_set(0));
    p.max_samples = 2;
    HR_ASSERT_OK(hr_dataset_load_fashion_mnist(write_valid_set(1), HR_POOL_TEST, &p, &ds, &err), &err);
    assert_int_equal(hr_dataset_size(ds), 2);
    assert_int_equal(hr_dataset_pool(ds), HR_POOL_TEST);
    assert_string_equal(hr_dataset_name(ds), "fashion-mnist:test");
    hr_dataset_destroy(ds);
}

/* Writes bytes (gzip-compressed or raw) to dir/name, reads it as an IDX of
 * ndim dims and checks the status and that the message names the file and
 * contains `what`. */
static void expect_idx_error(const char *name, const void *bytes, size_t n, int gz, int ndim, hr_status want,
                             const char *what)
{
    const char *dir = hr_test_tmpdir();
    char *path = join(dir, name);
    hr__idx idx;
    hr_error err = {0};
    hr_status st;

    memset(&idx, 0xab, sizeof idx);
    if (gz)
        write_gz(path, bytes, n);
    else
        hr_test_write_file(path, bytes, n);
    st = hr__idx_read(path, ndim, &idx, &err);
    if (st != want || !strstr(err.msg, path) || !strstr(err.msg, what)) {
        print_error("%s: got status %d '%s', want %d with '%s'\n", name, st, err.msg, want, what);
        fail();
    }
    free(path);
}

static void test_malformed(void **state)
{
    unsigned char pix[2 * 9], buf[256];
    static unsigned char gzbytes[8192];
    uint32_t d3[3] = {2, 3, 3}, d1[1] = {2};
    size_t n;
    (void)state;

    memset(pix, 7, sizeof pix);
    n = make_idx(buf, 0x08, 3, d3, pix, sizeof pix);
    /* Sanity: the unmodified file reads. */
    {
        const char *dir = hr_test_tmpdir();
        char *path = join(dir, "ok.gz");
        hr__idx idx;
        hr_error err = {0};
        write_gz(path, buf, n);
        HR_ASSERT_OK(hr__idx_read(path, 3, &idx, &err), &err);
        assert_int_equal(idx.dims[0], 2);
        assert_int_equal(idx.dims[2], 3);
        assert_int_equal(idx.data[17], 7);
        free(idx.data);
        free(path);
    }
    expect_idx_error("empty.gz", buf, 0, 1, 3, HR_ERR_FORMAT, "magic");
    expect_idx_error("short-magic.gz", buf, 3, 1, 3, HR_ERR_FORMAT, "magic");
    {
        unsigned char b[256];
        memcpy(b, buf, n);
        b[0] = 0x1f;
        expect_idx_error("bad-magic.gz", b, n, 1, 3, HR_ERR_FORMAT, "not an IDX header");
        memcpy(b, buf, n);
        b[2] = 0x0d;
        expect_idx_error("float-type.gz", b, n, 1, 3, HR_ERR_FORMAT, "data type 0x0d");
    }
    expect_idx_error("wrong-ndim.gz", buf, n, 1, 1, HR_ERR_FORMAT, "3 dimensions, expected 1");
    expect_idx_error("short-dims.gz", buf, 9, 1, 3, HR_ERR_FORMAT, "dimensions");
    expect_idx_error("truncated.gz", buf, n - 5, 1, 3, HR_ERR_FORMAT, "truncated");
    expect_idx_error("truncated-plain", buf, n - 5, 0, 3, HR_ERR_FORMAT, "1 complete items");
    {
        unsigned char b[300];
        memcpy(b, buf, n);
        b[n] = 1;
        expect_idx_error("trailing.gz", b, n + 1, 1, 3, HR_ERR_FORMAT, "trailing data");
    }
    {
        uint32_t z[3] = {2, 0, 3};
        size_t m = make_idx(buf, 0x08, 3, z, pix, 0);
        expect_idx_error("zero-dim.gz", buf, m, 1, 3, HR_ERR_FORMAT, "dimension 1 is 0");
    }
    {
        uint32_t big[3] = {2, 5000, 3};
        size_t m = make_idx(buf, 0x08, 3, big, pix, 0);
        expect_idx_error("huge-side.gz", buf, m, 1, 3, HR_ERR_LIMIT, "dimension 1 is 5000");
        big[0] = 0xffffffffu;
        big[1] = 3;
        m = make_idx(buf, 0x08, 3, big, pix, 0);
        expect_idx_error("huge-count.gz", buf, m, 1, 3, HR_ERR_LIMIT, "item count");
    }
    /* A gzip stream cut in the middle, and one with a damaged body. */
    {
        unsigned char big[4000];
        gzFile f;
        const char *dir = hr_test_tmpdir();
        char *path = join(dir, "full.gz");
        FILE *fp;
        size_t got;
        uint32_t dd[3] = {40, 10, 10};
        hr_test_rng r;
        hr_test_rng_seed(&r, 5);
        for (int i = 0; i < 4000; i++)
            big[i] = (unsigned char)(hr_test_uniform(&r, 0.0f, 256.0f));
        n = make_idx(big, 0x08, 3, dd, big + 16, 4000 - 16);
        f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, big, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
        fp = fopen(path, "rb");
        assert_non_null(fp);
        got = fread(gzbytes, 1, sizeof gzbytes, fp);
        assert_true(got > 100 && got < sizeof gzbytes);
        fclose(fp);
        expect_idx_error("cut.gz", gzbytes, 60, 0, 3, HR_ERR_FORMAT, "truncated gzip");
        gzbytes[40] ^= 0xff;
        gzbytes[41] ^= 0xff;
        expect_idx_error("damaged.gz", gzbytes, got, 0, 3, HR_ERR_FORMAT, "gzip");
        free(path);
    }
    /* The labels file is validated the same way. */
    n = make_idx(buf, 0x08, 1, d1, pix, 1);
    expect_idx_error("labels-short.gz", buf, n, 1, 1, HR_ERR_FORMAT, "truncated");
}

static void test_missing_and_inconsistent(void **state)
{
    hr_error err = {0};
    hr_dataset *ds = NULL;
    const char *dir;
    char *path;
    unsigned char buf[256], lab[5] = {1, 2, 3, 4, 10};
    uint32_t ldims[1] = {5}, l4[1] = {4};
    size_t n;
    (void)state;

    dir = hr_test_tmpdir();
    assert_int_equal(hr_dataset_load_fashion_mnist(dir, HR_POOL_TRAIN, NULL, &ds, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "train-images-idx3-ubyte.gz"));
    assert_null(ds);

    /* A label out of 0..9. */
    dir = write_valid_set(1);
    path = join(dir, "train-labels-idx1-ubyte.gz");
    n = make_idx(buf, 0x08, 1, ldims, lab, sizeof lab);
    write_gz(path, buf, n);
    assert_int_equal(hr_dataset_load_fashion_mnist(dir, HR_POOL_TRAIN, NULL, &ds, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "item 4 is 10"));
    /* Four labels for five images. */
    n = make_idx(buf, 0x08, 1, l4, lab, 4);
    write_gz(path, buf, n);
    assert_int_equal(hr_dataset_load_fashion_mnist(dir, HR_POOL_TRAIN, NULL, &ds, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "4 labels but"));
    assert_null(ds);
    free(path);
    /* A directory where a file should be. */
    dir = hr_test_tmpdir();
    path = join(dir, "t10k-images-idx3-ubyte.gz");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(hr_dataset_load_fashion_mnist(dir, HR_POOL_TEST, NULL, &ds, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    free(path);
}

/* Random byte mutations of a valid plain IDX file: every result is either a
 * successful read or an error with a message — never a crash (run under
 * AddressSanitizer in CI). */
static void test_mutations(void **state)
{
    unsigned char pix[3 * 16] = {0}, buf[128], mut[128];
    uint32_t d3[3] = {3, 4, 4};
    size_t n = make_idx(buf, 0x08, 3, d3, pix, sizeof pix);
    const char *dir = hr_test_tmpdir();
    char *path = join(dir, "m.idx");
    hr_test_rng r;
    int ok = 0, bad = 0;
    (void)state;

    hr_test_rng_seed(&r, 99);
    for (int it = 0; it < 500; it++) {
        hr__idx idx;
        hr_error err = {0};
        size_t len = n;
        hr_status st;
        memcpy(mut, buf, n);
        for (int k = 0; k < 1 + it % 3; k++)
            mut[(size_t)hr_test_uniform(&r, 0.0f, 24.0f)] = (unsigned char)hr_test_uniform(&r, 0.0f, 256.0f);
        if (it % 5 == 0)
            len = (size_t)hr_test_uniform(&r, 0.0f, (float)n);
        hr_test_write_file(path, mut, len);
        st = hr__idx_read(path, 3, &idx, &err);
        if (st == HR_OK) {
            ok++;
            free(idx.data);
        } else {
            bad++;
            assert_true(strlen(err.msg) > 0);
        }
    }
    print_message("%d mutated files read, %d rejected\n", ok, bad);
    assert_true(bad > 0);
    free(path);
}

static int have_fmnist(void)
{
    struct stat sb;
    if (stat(HR_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", &sb) == 0)
        return 1;
    print_message("Fashion-MNIST not installed (dataset-fashion-mnist); skipping\n");
    return 0;
}

static void test_real_fashion_mnist(void **state)
{
    static const int first_train[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    static const int first_test[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    hr_error err = {0};
    hr_dataset *tr = NULL, *te = NULL;
    int64_t chw[3], per_class[10] = {0};
    double sum = 0.0, sq = 0.0;
    float *x;
    (void)state;

    if (!have_fmnist())
        skip();
    HR_ASSERT_OK(hr_dataset_load_fashion_mnist(NULL, HR_POOL_TRAIN, NULL, &tr, &err), &err);
    HR_ASSERT_OK(hr_dataset_load_fashion_mnist(NULL, HR_POOL_TEST, NULL, &te, &err), &err);
    assert_int_equal(hr_dataset_size(tr), 60000);
    assert_int_equal(hr_dataset_size(te), 10000);
    hr_dataset_shape(tr, chw);
    assert_int_equal(chw[0] * 100 + chw[1] * 10 + chw[2], 100 + 280 + 28);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(hr_dataset_labels(tr)[i], first_train[i]);
        assert_int_equal(hr_dataset_labels(te)[i], first_test[i]);
    }
    for (int64_t i = 0; i < 60000; i++) {
        int32_t l = hr_dataset_labels(tr)[i];
        assert_true(l >= 0 && l <= 9);
        per_class[l]++;
    }
    for (int k = 0; k < 10; k++)
        assert_int_equal(per_class[k], 6000);
    /* The stated normalisation is the clean training set's own statistics. */
    x = malloc(784 * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < 60000; i++) {
        HR_ASSERT_OK(hr_dataset_get(tr, i, HR_DOMAIN_CLEAN, 0, 0, x, &err), &err);
        for (int j = 0; j < 784; j++) {
            sum += x[j];
            sq += (double)x[j] * x[j];
        }
    }
    sum /= 60000.0 * 784;
    sq = sqrt(sq / (60000.0 * 784) - sum * sum);
    assert_float_equal(sum, HR_FASHION_MNIST_MEAN, 1e-3);
    assert_float_equal(sq, HR_FASHION_MNIST_STD, 1e-3);
    free(x);
    hr_dataset_destroy(tr);
    hr_dataset_destroy(te);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_gz_and_plain),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_missing_and_inconsistent),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_real_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
