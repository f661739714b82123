/* safetensors: round trips through our writer, a fixture written by an
 * independent (Python) implementation of the spec with every dtype, and a
 * malformed-input suite where each case must fail with a message naming the
 * problem, never crash (run under ASan/UBSan too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/weights.h"

static int contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Writes 8-byte length + header + data; hlen_override replaces the length
 * field when non-negative. */
static void write_st(const char *path, const char *header, const void *data, size_t dsize, int64_t hlen_override)
{
    size_t hlen = strlen(header);
    uint64_t field = hlen_override >= 0 ? (uint64_t)hlen_override : hlen;
    unsigned char *buf = malloc(8 + hlen + dsize + 1);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(field >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (dsize)
        memcpy(buf + 8 + hlen, data, dsize);
    hr_test_write_file(path, buf, 8 + hlen + dsize);
    free(buf);
}

static void expect_fail(const char *path, const char *word)
{
    hr_tensor_map *m = (hr_tensor_map *)(uintptr_t)0x1;
    hr_error err;
    hr_status st;
    hr_error_clear(&err);
    st = hr_safetensors_load(path, &m, &err);
    if (st == HR_OK) {
        print_error("%s loaded but should have failed (%s)\n", path, word);
        fail();
    }
    assert_ptr_equal(m, (hr_tensor_map *)(uintptr_t)0x1); /* untouched */
    assert_int_equal(err.status, st);
    if (!strstr(err.msg, word)) {
        print_error("message '%s' lacks '%s'\n", err.msg, word);
        fail();
    }
}

static void test_round_trip(void **state)
{
    hr_tensor_map *m = NULL, *back = NULL;
    hr_error err;
    hr_test_rng rng;
    float w[2 * 3 * 3 * 3], b[2], s = -4.25f;
    const int64_t sw[4] = {2, 3, 3, 3}, sb[1] = {2}, se[2] = {0, 5};
    const char *keys[2] = {"format", "note"}, *vals[2] = {"pt", "hyperrep test"};
    const char *path = hr_test_tmp_path("rt.safetensors");
    unsigned char *raw;
    size_t size;
    uint64_t hlen = 0;
    (void)state;

    hr_test_rng_seed(&rng, 1);
    hr_test_fill(&rng, w, 54, -1, 1);
    hr_test_fill(&rng, b, 2, -1, 1);
    HR_ASSERT_OK(hr_tensor_map_create(&m, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "stage0.0.rbr_dense.conv.weight", 4, sw, w, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "bias", 1, sb, b, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "scalar", 0, NULL, &s, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "empty", 2, se, NULL, &err), &err);
    HR_ASSERT_OK(hr_safetensors_save(path, m, keys, vals, 2, &err), &err);

    raw = hr_test_read_all(path, &size);
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | raw[i];
    assert_int_equal(hlen % 8, 0);
    assert_true(8 + hlen + (54 + 2 + 1) * 4 == size);
    assert_int_equal(raw[8], '{');
    assert_true(contains(raw + 8, hlen, "\"__metadata__\":{\"format\":\"pt\""));
    assert_true(raw[8 + hlen - 1] == '}' || raw[8 + hlen - 1] == ' ');
    free(raw);

    HR_ASSERT_OK(hr_safetensors_load(path, &back, &err), &err);
    assert_int_equal(hr_tensor_map_count(back), 4);
    for (size_t i = 0; i < 4; i++) {
        const hr_named_tensor *x = hr_tensor_map_at(m, i), *y = hr_tensor_map_at(back, i);
        int64_t n = hr_named_tensor_numel(x);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++)
            assert_int_equal(x->shape[d], y->shape[d]);
        if (n)
            assert_memory_equal(x->data, y->data, (size_t)n * sizeof(float));
        if (n)
            assert_int_equal((uintptr_t)y->data % sizeof(float), 0);
    }
    hr_tensor_map_destroy(back);

    /* Without metadata, and an empty map. */
    HR_ASSERT_OK(hr_safetensors_save(path, m, NULL, NULL, 0, &err), &err);
    HR_ASSERT_OK(hr_safetensors_load(path, &back, &err), &err);
    assert_int_equal(hr_tensor_map_count(back), 4);
    hr_tensor_map_destroy(back);
    hr_tensor_map_destroy(m);
    HR_ASSERT_OK(hr_tensor_map_create(&m, &err), &err);
    HR_ASSERT_OK(hr_safetensors_save(path, m, NULL, NULL, 0, &err), &err);
    HR_ASSERT_OK(hr_safetensors_load(path, &back, &err), &err);
    assert_int_equal(hr_tensor_map_count(back), 0);
    hr_tensor_map_destroy(back);

    assert_int_equal(hr_safetensors_save("/nonexistent-dir/x.safetensors", m, NULL, NULL, 0, &err), HR_ERR_IO);
    hr_tensor_map_destroy(m);
}

static void test_reference_fixture(void **state)
{
    hr_tensor_map *m = NULL;
    hr_error err;
    const hr_named_tensor *t;
    static const struct {
        const char *name;
        int n;
        float v[4];
    } want[] = {
        {"f32", 4, {0.0f, 0.5f, -1.5f, 3.25f}},
        {"f16", 3, {1.0f, -2.0f, 0.5f}},
        {"bf16", 2, {1.5f, -3.0f}},
        {"f64", 2, {0.125f, 1e30f}},
        {"i64", 2, {-7.0f, 1099511627776.0f}},
        {"i32", 2, {-70000.0f, 5.0f}},
        {"i16", 2, {-300.0f, 300.0f}},
        {"i8", 2, {-128.0f, 127.0f}},
        {"u8", 2, {0.0f, 255.0f}},
        {"bool", 3, {1.0f, 0.0f, 1.0f}},
        {"scalar", 1, {42.0f}},
    };
    (void)state;

    HR_ASSERT_OK(hr_safetensors_load(HR_FIXTURES_DIR "/weights/reference.safetensors", &m, &err), &err);
    assert_int_equal(hr_tensor_map_count(m), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        t = hr_tensor_map_find(m, want[i].name);
        assert_non_null(t);
        assert_ptr_equal(t, hr_tensor_map_at(m, i)); /* file order */
        assert_int_equal(hr_named_tensor_numel(t), want[i].n);
        for (int k = 0; k < want[i].n; k++)
            assert_true(t->data[k] == want[i].v[k]);
    }
    t = hr_tensor_map_find(m, "f32");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(hr_tensor_map_find(m, "scalar")->ndim, 0);
    hr_tensor_map_destroy(m);
}

/* A header whose length is not a multiple of 4 puts F32 data off alignment:
 * the loader must convert instead of pointing into the mapping. */
static void test_unaligned_f32(void **state)
{
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} ";
    float data[2] = {1.25f, -2.5f};
    hr_tensor_map *m = NULL;
    hr_error err;
    const char *path = hr_test_tmp_path("unaligned.safetensors");
    (void)state;
    assert_int_not_equal(strlen(hdr) % 4, 0);
    write_st(path, hdr, data, sizeof data, -1);
    HR_ASSERT_OK(hr_safetensors_load(path, &m, &err), &err);
    assert_true(hr_tensor_map_at(m, 0)->data[0] == 1.25f);
    assert_true(hr_tensor_map_at(m, 0)->data[1] == -2.5f);
    hr_tensor_map_destroy(m);
}

/* Every proper prefix of a valid file must be refused. */
static void test_truncated(void **state)
{
    hr_tensor_map *m = NULL;
    hr_error err;
    const char *path = hr_test_tmp_path("full.safetensors"), *cut = hr_test_tmp_path("cut.safetensors");
    const int64_t shape[2] = {3, 4};
    float x[12] = {0};
    unsigned char *raw;
    size_t size;
    (void)state;

    HR_ASSERT_OK(hr_tensor_map_create(&m, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "w", 2, shape, x, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(m, "b", 1, shape, x, &err), &err);
    HR_ASSERT_OK(hr_safetensors_save(path, m, NULL, NULL, 0, &err), &err);
    hr_tensor_map_destroy(m);
    raw = hr_test_read_all(path, &size);
    for (size_t n = 0; n < size; n++) {
        hr_tensor_map *out = NULL;
        hr_test_write_file(cut, raw, n);
        if (hr_safetensors_load(cut, &out, &err) == HR_OK) {
            print_error("prefix of %zu/%zu bytes loaded\n", n, size);
            fail();
        }
        assert_true(err.msg[0] != '\0');
        assert_null(out);
    }
    free(raw);
}

static void test_malformed(void **state)
{
    const char *p = hr_test_tmp_path("bad.safetensors");
    unsigned char zeros[1024] = {0};
    char hdr[1024];
    (void)state;

    hr_test_write_file(p, "abc", 3);
    expect_fail(p, "shorter than the 8-byte");
    write_st(p, "{}", NULL, 0, 1000);
    expect_fail(p, "beyond the end of the file");
    write_st(p, "{}", NULL, 0, (int64_t)1 << 40);
    expect_fail(p, "exceeds the limit");
    write_st(p, "[1, 2]", NULL, 0, -1);
    expect_fail(p, "not a JSON object");
    write_st(p, "{\"a\": ", NULL, 0, -1);
    expect_fail(p, "line 1 column");
    write_st(p, "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", zeros, 1, -1);
    expect_fail(p, "dtype 'F8_E4M3' is not supported");
    write_st(p, "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "\"dtype\" is missing");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "shape[0] is not a non-negative integer");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "shape[0]");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "\"shape\" is missing or not a list");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "5 dims");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "exceeds the limit");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "more than 17179869184 elements");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999999],\"data_offsets\":[0,4]}}", zeros, 4,
             -1);
    expect_fail(p, "line 1 column");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", zeros, 4, -1);
    expect_fail(p, "data_offsets");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", zeros, 4, -1);
    expect_fail(p, "outside the data area");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", zeros, 4, -1);
    expect_fail(p, "outside the data area of 4 bytes");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", zeros, 4, -1);
    expect_fail(p, "data_offsets");
    write_st(p,
             "{\"stage1.0.rbr_dense.conv.weight\":{\"dtype\":\"F32\",\"shape\":[8,3,3,3],"
             "\"data_offsets\":[0,100]}}",
             zeros, 100, -1);
    expect_fail(p, "tensor 'stage1.0.rbr_dense.conv.weight': data_offsets [0, 100] hold 100 bytes, F32 shape "
                   "[8, 3, 3, 3] needs 864");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             zeros, 12, -1);
    expect_fail(p, "overlap");
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             zeros, 8, -1);
    expect_fail(p, "duplicate");
    write_st(p, "{\"__metadata__\":{\"k\":3}}", NULL, 0, -1);
    expect_fail(p, "__metadata__");
    write_st(p, "{\"__metadata__\":[1]}", NULL, 0, -1);
    expect_fail(p, "__metadata__");
    write_st(p, "{\"a\":7}", NULL, 0, -1);
    expect_fail(p, "not a JSON object");
    write_st(p, "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros, 4, -1);
    expect_fail(p, "empty");
    memset(hdr, 0, sizeof hdr);
    strcpy(hdr, "{\"");
    memset(hdr + 2, 'n', 300);
    strcat(hdr, "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
    write_st(p, hdr, zeros, 4, -1);
    expect_fail(p, "longer than");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\x01", zeros, 4, -1);
    expect_fail(p, "line 1");
    expect_fail(hr_test_tmp_path("does-not-exist.safetensors"), "cannot open");
    expect_fail(hr_test_tmp_path(""), "not a regular file");
}

/* Bytes in memory: a round trip through save_bytes / load_bytes, a damaged
 * buffer refused with the loader's message, and no temporary file left in
 * $TMPDIR either way. */
static void test_bytes(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_tensor_map *map, *back = NULL;
    const int64_t shape[2] = {3, 5};
    float v[15];
    void *bytes = NULL;
    size_t n = 0;
    char dir[600];
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    setenv("TMPDIR", dir, 1);
    for (int i = 0; i < 15; i++)
        v[i] = (float)i * 0.25f - 1.0f;
    HR_ASSERT_OK(hr_tensor_map_create(&map, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_add(map, "stage1.0.hyper_dense", 2, shape, v, &err), &err);
    HR_ASSERT_OK(hr_safetensors_save_bytes(map, &bytes, &n, &err), &err);
    assert_true(n > 8 + sizeof v);
    HR_ASSERT_OK(hr_safetensors_load_bytes(bytes, n, &back, &err), &err);
    assert_int_equal(hr_tensor_map_count(back), 1);
    const hr_named_tensor *t = hr_tensor_map_at(back, 0);
    assert_string_equal(t->name, "stage1.0.hyper_dense");
    assert_memory_equal(t->data, v, sizeof v);
    hr_tensor_map_destroy(back);
    back = NULL;
    ((unsigned char *)bytes)[0] ^= 0xff; /* the header length becomes absurd */
    assert_int_equal(hr_safetensors_load_bytes(bytes, n, &back, &err), HR_ERR_FORMAT);
    assert_null(back);
    assert_non_null(strstr(err.msg, "safetensors bytes"));
    free(bytes);
    hr_tensor_map_destroy(map);
    char cmd[700], out[64] = "";
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(out, sizeof out, f));
    pclose(f);
    assert_int_equal(strtol(out, NULL, 10), 0);
    unsetenv("TMPDIR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reference_fixture),
        cmocka_unit_test(test_unaligned_f32),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
