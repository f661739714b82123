/* .npy: round trips for 0..4 dims, numpy-written fixtures in format
 * versions 1.0/2.0/3.0, header dialects other writers produce, and a
 * malformed-input suite (every prefix of a valid file, bad headers, absurd
 * shapes) where each case fails with a message and leaves the outputs
 * untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/weights.h"

/* Writes a version-1.0 file with the given header text (no padding added)
 * and ndata float32 values 0, 1, 2, ... */
static void write_npy(const char *path, const char *header, int ndata)
{
    size_t hlen = strlen(header), n = 10 + hlen + (size_t)ndata * 4;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, header, hlen);
    for (int i = 0; i < ndata; i++) {
        float v = (float)i;
        memcpy(buf + 10 + hlen + 4 * i, &v, 4);
    }
    hr_test_write_file(path, buf, n);
    free(buf);
}

static void expect_fail(const char *path, const char *word)
{
    int ndim = -7;
    int64_t shape[HR_MAX_DIMS] = {-7, -7, -7, -7};
    float *data = (float *)(uintptr_t)0x1;
    hr_error err;
    hr_status st;

    hr_error_clear(&err);
    st = hr_npy_load(path, &ndim, shape, &data, &err);
    if (st == HR_OK) {
        print_error("%s loaded but should have failed (%s)\n", path, word);
        fail();
    }
    assert_int_equal(err.status, st);
    assert_int_equal(ndim, -7);
    assert_int_equal(shape[0], -7);
    assert_ptr_equal(data, (float *)(uintptr_t)0x1);
    if (!strstr(err.msg, word)) {
        print_error("message '%s' lacks '%s'\n", err.msg, word);
        fail();
    }
}

static void load_ok(const char *path, int want_ndim, const int64_t *want_shape, float **data)
{
    int ndim = -1;
    int64_t shape[HR_MAX_DIMS];
    hr_error err;
    HR_ASSERT_OK(hr_npy_load(path, &ndim, shape, data, &err), &err);
    assert_int_equal(ndim, want_ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(shape[i], want_shape[i]);
}

static void test_round_trip(void **state)
{
    static const int64_t shapes[][HR_MAX_DIMS] = {{0}, {5}, {2, 3}, {2, 1, 3}, {1, 2, 3, 4}, {3, 0}};
    static const int ndims[] = {0, 1, 2, 3, 4, 2};
    hr_test_rng rng;
    float buf[64];
    hr_error err;
    (void)state;

    hr_test_rng_seed(&rng, 7);
    for (size_t c = 0; c < sizeof ndims / sizeof ndims[0]; c++) {
        const char *path = hr_test_tmp_path("rt.npy");
        int64_t n = 1;
        unsigned char *raw;
        size_t size;
        float *back = NULL;
        for (int i = 0; i < ndims[c]; i++)
            n *= shapes[c][i];
        hr_test_fill(&rng, buf, n, -3, 3);
        HR_ASSERT_OK(hr_npy_save(path, ndims[c], shapes[c], buf, &err), &err);
        raw = hr_test_read_all(path, &size);
        assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
        assert_int_equal((10 + raw[8] + 256 * raw[9]) % 64, 0);
        assert_int_equal(raw[10 + raw[8] + 256 * raw[9] - 1], '\n');
        assert_int_equal(size, 10 + raw[8] + 256 * raw[9] + (size_t)n * 4);
        free(raw);
        load_ok(path, ndims[c], shapes[c], &back);
        if (n)
            assert_memory_equal(back, buf, (size_t)n * sizeof(float));
        free(back);
    }
}

static void test_header_text(void **state)
{
    const char *path = hr_test_tmp_path("hdr.npy");
    const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6};
    float *d = NULL;
    hr_error err;
    (void)state;

    write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }     \n", 6);
    load_ok(path, 2, s23, &d);
    assert_true(d[5] == 5.0f);
    free(d);
    write_npy(path, "{\"shape\":(3,2),\"fortran_order\":False,\"descr\":\"<f4\"}\n", 6);
    load_ok(path, 2, s32, &d);
    free(d);
    write_npy(path, "{ 'fortran_order' : False , 'shape' : ( 6 , ) , 'descr' : '<f4' }", 6);
    load_ok(path, 1, s6, &d);
    free(d);
    write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L), }\n", 6);
    load_ok(path, 2, s32, &d);
    free(d);
    write_npy(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 1);
    load_ok(path, 0, NULL, &d);
    assert_true(d[0] == 0.0f);
    free(d);
    assert_int_equal(hr_npy_load(path, NULL, NULL, &d, &err), HR_ERR_INVALID_ARG);
}

static void test_fixtures(void **state)
{
    static const char *const files[] = {"v1.npy", "v2.npy", "v3.npy"};
    const int64_t s23[2] = {2, 3};
    char path[600];
    (void)state;
    for (int v = 0; v < 3; v++) {
        float *d = NULL;
        snprintf(path, sizeof path, "%s/weights/%s", HR_FIXTURES_DIR, files[v]);
        load_ok(path, 2, s23, &d);
        for (int i = 0; i < 6; i++)
            assert_true(d[i] == 0.5f * (float)i);
        free(d);
    }
    expect_fail(HR_FIXTURES_DIR "/weights/f8.npy", "descr '<f8' is not supported");
    expect_fail(HR_FIXTURES_DIR "/weights/fortran.npy", "fortran_order True is not supported");
}

static void test_truncated(void **state)
{
    const char *path = hr_test_tmp_path("full.npy"), *cut = hr_test_tmp_path("cut.npy");
    const int64_t shape[3] = {2, 3, 4};
    float x[24] = {0};
    unsigned char *raw;
    size_t size;
    hr_error err;
    (void)state;

    HR_ASSERT_OK(hr_npy_save(path, 3, shape, x, &err), &err);
    raw = hr_test_read_all(path, &size);
    for (size_t n = 0; n < size; n++) {
        int ndim;
        int64_t sh[HR_MAX_DIMS];
        float *d = NULL;
        hr_test_write_file(cut, raw, n);
        if (hr_npy_load(cut, &ndim, sh, &d, &err) == HR_OK) {
            print_error("prefix of %zu/%zu bytes loaded\n", n, size);
            fail();
        }
        assert_null(d);
        assert_true(err.msg[0] != '\0');
    }
    /* One byte too many is refused as well. */
    raw = realloc(raw, size + 1);
    assert_non_null(raw);
    raw[size] = 0;
    hr_test_write_file(cut, raw, size + 1);
    expect_fail(cut, "needs 96 data bytes, the file holds 97");
    free(raw);
}

static void test_malformed(void **state)
{
    const char *p = hr_test_tmp_path("bad.npy");
    unsigned char buf[64];
    (void)state;

    hr_test_write_file(p, "\x93NUMPY", 6);
    expect_fail(p, "too short");
    hr_test_write_file(p, "PK\x03\x04xxxxxxxxxxxxxxxxx", 20);
    expect_fail(p, "bad magic");
    hr_test_write_file(p, "\x93NUMPY\x04\x00\x10\x00{}", 12);
    expect_fail(p, "version 4.0");
    hr_test_write_file(p, "\x93NUMPY\x01\x00\xff\xff{}", 12);
    expect_fail(p, "beyond the end");
    memcpy(buf, "\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12);
    hr_test_write_file(p, buf, 12);
    expect_fail(p, "exceeds the limit");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n", 0);
    expect_fail(p, "shape[1] = -3 is negative");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }\n", 1);
    expect_fail(p, "more than 4 dims");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }\n", 0);
    expect_fail(p, "more than 17179869184 elements");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536), }\n", 0);
    expect_fail(p, "more than 17179869184 elements");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }\n", 0);
    expect_fail(p, "out of range");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (1234567890123456789012345678901234,), }\n", 0);
    expect_fail(p, "too many digits");
    write_npy(p, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }\n", 1);
    expect_fail(p, "descr '>f4'");
    write_npy(p, "{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }\n", 1);
    expect_fail(p, "descr '|u1'");
    write_npy(p, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", 1);
    expect_fail(p, "structured");
    write_npy(p, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", 1);
    expect_fail(p, "fortran_order True");
    write_npy(p, "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }\n", 1);
    expect_fail(p, "True or False");
    write_npy(p, "{'descr': '<f4', 'shape': (1,), }\n", 1);
    expect_fail(p, "lacks 'fortran_order'");
    write_npy(p, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 1);
    expect_fail(p, "repeated key 'descr'");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}\n", 1);
    expect_fail(p, "key 'extra'");
    write_npy(p, "{'descr': '<f4", 0);
    expect_fail(p, "closing quote");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x\n", 1);
    expect_fail(p, "only padding");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }\n", 1);
    expect_fail(p, "',' or ')'");
    write_npy(p, "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,), }\n", 1);
    expect_fail(p, "escape");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 1);
    expect_fail(p, "header");
    write_npy(p, "", 0);
    expect_fail(p, "'{'");
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 2);
    expect_fail(p, "needs 12 data bytes, the file holds 8");
    expect_fail(hr_test_tmp_path("missing.npy"), "cannot open");
}

static void test_save_rejects(void **state)
{
    const int64_t five[5] = {1, 1, 1, 1, 1}, neg[2] = {2, -1}, ok[1] = {2};
    hr_error err;
    (void)state;
    assert_int_equal(hr_npy_save(hr_test_tmp_path("x.npy"), 5, five, NULL, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_npy_save(hr_test_tmp_path("x.npy"), 2, neg, NULL, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "negative"));
    assert_int_equal(hr_npy_save(hr_test_tmp_path("x.npy"), 1, ok, NULL, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_npy_save("/nonexistent-dir/x.npy", 0, NULL, (const float[]){1.0f}, &err), HR_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_header_text),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_save_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
