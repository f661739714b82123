/* PyTorch checkpoints: real torch.save fixtures (plain, wrapped with a
 * 'module.' prefix, protocol 4, every storage dtype, strided and shared
 * views), the legacy and whole-model files that must be refused, and a
 * hostile-input suite built byte by byte here: disallowed globals (os.system
 * and friends are only ever *bytes* in this file, never run), unsupported
 * opcodes, deep nesting, huge lengths, bad storages, corrupt archives. Every
 * failure must come back as a status with a message naming the problem. */
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
#include "weights/unpickle.h"

#define FIX HR_FIXTURES_DIR "/weights/"

/* ---- a growable byte buffer, used for pickles and zip archives ---------- */

typedef struct bytes {
    unsigned char *b;
    size_t n, cap;
} bytes;

static void put(bytes *x, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 64;
        x->b = realloc(x->b, x->cap);
        assert_non_null(x->b);
    }
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void put1(bytes *x, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(x, &c, 1);
}

static void put_le(bytes *x, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        put1(x, (unsigned)(v >> (8 * i)) & 0xff);
}

static void putstr(bytes *x, const char *s)
{
    put(x, s, strlen(s));
}

/* A string literal that may contain NUL bytes. */
#define PUTLIT(x, lit) put((x), (lit), sizeof(lit) - 1)

/* ---- pickle builder: emits what torch.save's pickler emits -------------- */

static void pk_str(bytes *x, const char *s)
{
    put1(x, 'X');
    put_le(x, strlen(s), 4);
    putstr(x, s);
}

static void pk_int(bytes *x, int64_t v)
{
    if (v >= 0 && v < 256) {
        put1(x, 'K');
        put1(x, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        put1(x, 'M');
        put_le(x, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        put1(x, 'J');
        put_le(x, (uint64_t)v, 4);
    } else {
        put1(x, 0x8a);
        put1(x, 8);
        put_le(x, (uint64_t)v, 8);
    }
}

static void pk_global(bytes *x, const char *mod, const char *name)
{
    put1(x, 'c');
    putstr(x, mod);
    put1(x, '\n');
    putstr(x, name);
    put1(x, '\n');
}

/* _rebuild_tensor_v2((storage, type, key, 'cpu', numel), offset, size,
 * stride, False, OrderedDict()) */
static void pk_tensor(bytes *x, const char *stype, const char *key, int64_t numel, int64_t offset, int ndim,
                      const int64_t *size, const int64_t *stride)
{
    pk_global(x, "torch._utils", "_rebuild_tensor_v2");
    put1(x, '(');
    put1(x, '(');
    pk_str(x, "storage");
    pk_global(x, "torch", stype);
    pk_str(x, key);
    pk_str(x, "cpu");
    pk_int(x, numel);
    put1(x, 't');
    put1(x, 'Q');
    pk_int(x, offset);
    put1(x, '(');
    for (int i = 0; i < ndim; i++)
        pk_int(x, size[i]);
    put1(x, 't');
    put1(x, '(');
    for (int i = 0; i < ndim; i++)
        pk_int(x, stride[i]);
    put1(x, 't');
    put1(x, 0x89);
    pk_global(x, "collections", "OrderedDict");
    put1(x, ')');
    put1(x, 'R');
    put1(x, 't');
    put1(x, 'R');
}

static void pk_begin_dict(bytes *x)
{
    put1(x, 0x80);
    put1(x, 2);
    put1(x, '}');
    put1(x, '(');
}

static void pk_end_dict(bytes *x)
{
    put1(x, 'u');
    put1(x, '.');
}

/* ---- minimal zip writer (stored entries), as torch.save writes them ----- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

typedef struct zentry {
    const char *name;
    const void *data;
    size_t size;
    int bad_crc;
    uint32_t claim; /* when non-zero: the uncompressed size the headers claim (method deflate) */
} zentry;

static void write_zip(const char *path, const zentry *e, int n)
{
    bytes z = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        uint32_t crc = crc32_of(e[i].data, e[i].size) ^ (e[i].bad_crc ? 1u : 0u);
        size_t off = z.n, nl = strlen(e[i].name);
        unsigned method = e[i].claim ? 8 : 0;
        uint64_t usize = e[i].claim ? e[i].claim : e[i].size;
        put_le(&z, 0x04034b50, 4);
        put_le(&z, 20, 2);
        put_le(&z, 0, 2);
        put_le(&z, method, 2);
        put_le(&z, 0, 2);
        put_le(&z, 0x21, 2);
        put_le(&z, crc, 4);
        put_le(&z, e[i].size, 4);
        put_le(&z, usize, 4);
        put_le(&z, nl, 2);
        put_le(&z, 0, 2);
        putstr(&z, e[i].name);
        if (e[i].size)
            put(&z, e[i].data, e[i].size);
        put_le(&cd, 0x02014b50, 4);
        put_le(&cd, 20, 2);
        put_le(&cd, 20, 2);
        put_le(&cd, 0, 2);
        put_le(&cd, method, 2);
        put_le(&cd, 0, 2);
        put_le(&cd, 0x21, 2);
        put_le(&cd, crc, 4);
        put_le(&cd, e[i].size, 4);
        put_le(&cd, usize, 4);
        put_le(&cd, nl, 2);
        put_le(&cd, 0, 2);
        put_le(&cd, 0, 2);
        put_le(&cd, 0, 2);
        put_le(&cd, 0, 2);
        put_le(&cd, 0, 4);
        put_le(&cd, off, 4);
        putstr(&cd, e[i].name);
    }
    {
        size_t cd_off = z.n;
        put(&z, cd.b, cd.n);
        put_le(&z, 0x06054b50, 4);
        put_le(&z, 0, 2);
        put_le(&z, 0, 2);
        put_le(&z, (uint64_t)n, 2);
        put_le(&z, (uint64_t)n, 2);
        put_le(&z, cd.n, 4);
        put_le(&z, cd_off, 4);
        put_le(&z, 0, 2);
    }
    hr_test_write_file(path, z.b, z.n);
    free(z.b);
    free(cd.b);
}

/* archive/data.pkl + archive/data/0 (+ /1) + archive/version */
static void write_pth(const char *path, const bytes *pkl, const void *s0, size_t n0, const void *s1, size_t n1)
{
    zentry e[4] = {
        {"archive/data.pkl", pkl->b, pkl->n, 0, 0},
        {"archive/version", "3\n", 2, 0, 0},
        {"archive/data/0", s0, n0, 0, 0},
        {"archive/data/1", s1, n1, 0, 0},
    };
    write_zip(path, e, s1 ? 4 : s0 ? 3 : 2);
}

/* ---- expectations -------------------------------------------------------- */

static void check_msg(const char *msg, const char *word)
{
    if (!strstr(msg, word)) {
        print_error("message '%s' lacks '%s'\n", msg, word);
        fail();
    }
}

static void expect_fail(const char *path, const char *word)
{
    hr_tensor_map *m = (hr_tensor_map *)(uintptr_t)0x1;
    hr_error err;
    hr_status st;
    hr_error_clear(&err);
    st = hr_pth_load(path, &m, &err);
    if (st == HR_OK) {
        print_error("%s loaded but should have failed (%s)\n", path, word);
        fail();
    }
    assert_ptr_equal(m, (hr_tensor_map *)(uintptr_t)0x1);
    assert_int_equal(err.status, st);
    check_msg(err.msg, word);
}

static void expect_pickle_fail(const bytes *x, const char *word)
{
    hr__pickle *p = NULL;
    hr_error err;
    hr_error_clear(&err);
    if (hr__unpickle(x->b, x->n, "data.pkl", &p, &err) == HR_OK) {
        print_error("pickle accepted but should have failed (%s)\n", word);
        hr__pickle_destroy(p);
        fail();
    }
    assert_null(p);
    check_msg(err.msg, word);
}

static hr_tensor_map *load_ok(const char *path)
{
    hr_tensor_map *m = NULL;
    hr_error err;
    HR_ASSERT_OK(hr_pth_load(path, &m, &err), &err);
    assert_non_null(m);
    return m;
}

static void check_tensor(const hr_tensor_map *m, const char *name, int ndim, const int64_t *shape,
                         const float *want, int64_t n)
{
    const hr_named_tensor *t = hr_tensor_map_find(m, name);
    if (!t) {
        print_error("tensor '%s' missing\n", name);
        fail();
    }
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(t->shape[i], shape[i]);
    assert_int_equal(hr_named_tensor_numel(t), n);
    for (int64_t i = 0; i < n; i++) {
        if (t->data[i] != want[i]) {
            print_error("%s[%lld] = %g, want %g\n", name, (long long)i, t->data[i], want[i]);
            fail();
        }
    }
}

/* ---- real torch.save files ---------------------------------------------- */

/* conv_bn.pth and its variants: values ramp i * 0.25 - 1, counters 7. */
static void check_conv_bn(const hr_tensor_map *m)
{
    static const char *const names[] = {"0.weight",       "0.bias",        "1.weight",
                                        "1.bias",         "1.running_mean", "1.running_var"};
    const int64_t w[4] = {4, 3, 3, 3}, v[1] = {4};
    float ramp[108], seven = 7;
    for (int i = 0; i < 108; i++)
        ramp[i] = (float)i * 0.25f - 1.0f;
    assert_int_equal(hr_tensor_map_count(m), 7);
    check_tensor(m, "0.weight", 4, w, ramp, 108);
    for (int i = 1; i < 6; i++)
        check_tensor(m, names[i], 1, v, ramp, 4);
    check_tensor(m, "1.num_batches_tracked", 0, NULL, &seven, 1);
    assert_string_equal(hr_tensor_map_at(m, 0)->name, "0.weight"); /* pickle order */
    assert_string_equal(hr_tensor_map_at(m, 6)->name, "1.num_batches_tracked");
}

static void test_fixture_state_dict(void **state)
{
    static const char *const files[] = {FIX "conv_bn.pth", FIX "wrapped.pth", FIX "proto4.pth"};
    (void)state;
    for (int i = 0; i < 3; i++) {
        hr_tensor_map *m = load_ok(files[i]);
        check_conv_bn(m);
        hr_tensor_map_destroy(m);
    }
}

/* hr_weights_load tells the formats apart by content: a .pth under a name
 * without its extension is still read as one, and safetensors as
 * safetensors. */
static void test_weights_load_by_content(void **state)
{
    (void)state;
    size_t size;
    unsigned char *raw = hr_test_read_all(FIX "conv_bn.pth", &size);
    const char *path = hr_test_tmp_path("checkpoint.bin");
    hr_tensor_map *m = NULL;
    hr_error err = {0};
    hr_test_write_file(path, raw, size);
    free(raw);
    HR_ASSERT_OK(hr_weights_load(path, &m, &err), &err);
    check_conv_bn(m);
    const char *st = hr_test_tmp_path("checkpoint2.bin");
    HR_ASSERT_OK(hr_safetensors_save(st, m, NULL, NULL, 0, &err), &err);
    hr_tensor_map_destroy(m);
    m = NULL;
    HR_ASSERT_OK(hr_weights_load(st, &m, &err), &err);
    check_conv_bn(m);
    hr_tensor_map_destroy(m);
    assert_int_equal(hr_weights_load(hr_test_tmp_path("absent.pth"), &m, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "absent.pth"));
}

static void test_fixture_dtypes(void **state)
{
    hr_tensor_map *m = load_ok(FIX "dtypes.pth");
    const int64_t s5[1] = {5}, s4[1] = {4}, s3[1] = {3}, s2[1] = {2}, s32[2] = {3, 2}, s23[2] = {2, 3};
    const int64_t s04[2] = {0, 4};
    (void)state;
    check_tensor(m, "f16", 1, s5, (const float[]){-1, -0.5f, 0, 0.5f, 1}, 5);
    check_tensor(m, "bf16", 1, s4, (const float[]){-1, -0.5f, 0, 0.5f}, 4);
    check_tensor(m, "f64", 1, s3, (const float[]){2, 2.125f, 2.25f}, 3);
    check_tensor(m, "i64", 1, s3, (const float[]){-5, 995, 1995}, 3);
    check_tensor(m, "i32", 1, s3, (const float[]){-3, 4, 11}, 3);
    check_tensor(m, "i16", 1, s3, (const float[]){-400, -100, 200}, 3);
    check_tensor(m, "i8", 1, s3, (const float[]){-128, -28, 72}, 3);
    check_tensor(m, "u8", 1, s3, (const float[]){5, 105, 205}, 3);
    check_tensor(m, "bool", 1, s3, (const float[]){1, 0, 1}, 3);
    check_tensor(m, "scalar", 0, NULL, (const float[]){2.5f}, 1);
    check_tensor(m, "transposed", 2, s32, (const float[]){0, 3, 1, 4, 2, 5}, 6);
    check_tensor(m, "view_a", 1, s2, (const float[]){0.5f, 1.0f}, 2);
    check_tensor(m, "view_b", 1, s3, (const float[]){1.5f, 2.0f, 2.5f}, 3);
    check_tensor(m, "expanded", 2, s23, (const float[]){1, 2, 3, 1, 2, 3}, 6);
    check_tensor(m, "empty", 2, s04, NULL, 0);
    check_tensor(m, "param", 1, s2, (const float[]){10, 11}, 2);
    assert_int_equal(hr_tensor_map_count(m), 16);
    hr_tensor_map_destroy(m);
}

static void test_fixture_refused(void **state)
{
    (void)state;
    expect_fail(FIX "legacy.pth", "legacy (pre-1.6) torch.save format is not supported; re-save with "
                                  "torch.save(..., _use_new_zipfile_serialization=True)");
    expect_fail(FIX "whole_model.pth", "global 'torch.nn.modules.container.Sequential' is not allowed");
    expect_fail(FIX "whole_model.pth", "data.pkl");
    expect_fail(FIX "v1.npy", "not a PyTorch checkpoint");
    expect_fail(hr_test_tmp_path("missing.pth"), "cannot open");
}

/* Every proper prefix of a real checkpoint fails cleanly. */
static void test_fixture_truncated(void **state)
{
    size_t size;
    unsigned char *raw = hr_test_read_all(FIX "conv_bn.pth", &size);
    const char *cut = hr_test_tmp_path("cut.pth");
    hr_error err;
    (void)state;
    for (size_t n = 0; n < size; n += (n < 64 ? 1 : 3)) {
        hr_tensor_map *m = NULL;
        hr_test_write_file(cut, raw, n);
        if (hr_pth_load(cut, &m, &err) == HR_OK) {
            print_error("prefix of %zu/%zu bytes loaded\n", n, size);
            fail();
        }
        assert_null(m);
        assert_true(err.msg[0] != '\0');
    }
    free(raw);
}

/* Flipping any single byte never crashes; a failure always has a message and
 * a success still has the right tensors (the flip hit an unchecked field). */
static void test_fixture_bitflips(void **state)
{
    size_t size;
    unsigned char *raw = hr_test_read_all(FIX "conv_bn.pth", &size);
    const char *bad = hr_test_tmp_path("flip.pth");
    hr_error err;
    int failures = 0;
    (void)state;
    for (size_t i = 0; i < size; i++) {
        hr_tensor_map *m = NULL;
        raw[i] ^= 0xff;
        hr_test_write_file(bad, raw, size);
        raw[i] ^= 0xff;
        hr_error_clear(&err);
        if (hr_pth_load(bad, &m, &err) != HR_OK) {
            assert_true(err.msg[0] != '\0');
            failures++;
        } else {
            assert_int_equal(hr_tensor_map_count(m), 7);
            hr_tensor_map_destroy(m);
        }
    }
    assert_true(failures > (int)size / 2);
    free(raw);
}

/* ---- hand-built archives ------------------------------------------------- */

static void test_handmade_ok(void **state)
{
    bytes x = {0};
    const float s0[6] = {0, 1, 2, 3, 4, 5};
    const uint16_t s1[2] = {0x3c00, 0xc000}; /* f16 1.0, -2.0 */
    const int64_t sz23[2] = {2, 3}, st23[2] = {3, 1}, sz32[2] = {3, 2}, st32[2] = {1, 3}, sz2[1] = {2},
                  st1[1] = {1}, st2[1] = {2};
    const char *path = hr_test_tmp_path("hand.pth");
    hr_tensor_map *m;
    (void)state;

    pk_begin_dict(&x);
    pk_str(&x, "module.a");
    pk_tensor(&x, "FloatStorage", "0", 6, 0, 2, sz23, st23);
    pk_str(&x, "module.t");
    pk_tensor(&x, "FloatStorage", "0", 6, 0, 2, sz32, st32);
    pk_str(&x, "module.even");
    pk_tensor(&x, "FloatStorage", "0", 6, 1, 1, sz2, st2);
    pk_str(&x, "module.h");
    pk_tensor(&x, "HalfStorage", "1", 2, 0, 1, sz2, st1);
    /* Non-tensor values are ignored, including a list that contains itself. */
    pk_str(&x, "cyclic");
    PUTLIT(&x, "]q\x00h\x00" "a");
    pk_str(&x, "lr");
    PUTLIT(&x, "G\x3f\xb9\x99\x99\x99\x99\x99\x9a");
    pk_end_dict(&x);
    write_pth(path, &x, s0, sizeof s0, s1, sizeof s1);
    m = load_ok(path);
    assert_int_equal(hr_tensor_map_count(m), 4);
    check_tensor(m, "a", 2, sz23, s0, 6);
    check_tensor(m, "t", 2, sz32, (const float[]){0, 3, 1, 4, 2, 5}, 6);
    check_tensor(m, "even", 1, sz2, (const float[]){1, 3}, 2);
    check_tensor(m, "h", 1, sz2, (const float[]){1, -2}, 2);
    hr_tensor_map_destroy(m);
    free(x.b);

    /* The tensors nested under "model" are used; other keys ignored, and so
     * is a "state_dict" dict that holds no tensors. */
    memset(&x, 0, sizeof x);
    pk_begin_dict(&x);
    pk_str(&x, "epoch");
    pk_int(&x, 3);
    pk_str(&x, "state_dict");
    PUTLIT(&x, "}X\x04\x00\x00\x00nameX\x01\x00\x00\x00xs");
    pk_str(&x, "model");
    put1(&x, '}');
    put1(&x, '(');
    pk_str(&x, "w");
    pk_tensor(&x, "FloatStorage", "0", 6, 0, 2, sz23, st23);
    put1(&x, 'u');
    pk_end_dict(&x);
    write_pth(path, &x, s0, sizeof s0, NULL, 0);
    m = load_ok(path);
    assert_int_equal(hr_tensor_map_count(m), 1);
    check_tensor(m, "w", 2, sz23, s0, 6);
    hr_tensor_map_destroy(m);
    free(x.b);
}

/* One archive per broken storage/tensor/dict case. */
static void test_handmade_bad(void **state)
{
    const float s0[6] = {0};
    const int64_t sz2[1] = {2}, st1[1] = {1}, sz5[5] = {1, 1, 1, 1, 2}, st5[5] = {2, 2, 2, 2, 1};
    const char *path = hr_test_tmp_path("bad.pth");
    bytes x = {0};
    (void)state;

#define CASE(body, s0p, n0, word)                                                                                    \
    do {                                                                                                             \
        x.n = 0;                                                                                                     \
        body;                                                                                                        \
        write_pth(path, &x, s0p, n0, NULL, 0);                                                                       \
        expect_fail(path, word);                                                                                     \
    } while (0)

    CASE((pk_begin_dict(&x), pk_str(&x, "a"), pk_tensor(&x, "FloatStorage", "0", 8, 0, 1, sz2, st1), pk_end_dict(&x)),
         s0, sizeof s0, "has 24 bytes, the pickle claims 8 elements");
    CASE((pk_begin_dict(&x), pk_str(&x, "a"), pk_tensor(&x, "FloatStorage", "0", 2, 0, 1, sz2, st1), pk_end_dict(&x)),
         NULL, 0, "archive has no entry 'archive/data/0'");
    CASE((put1(&x, 0x80), put1(&x, 2), put1(&x, ']'), put1(&x, '.')), NULL, 0, "top-level object is a list");
    CASE((pk_begin_dict(&x), pk_str(&x, "module.a"), pk_tensor(&x, "FloatStorage", "0", 6, 0, 1, sz2, st1),
          pk_str(&x, "a"), pk_tensor(&x, "FloatStorage", "0", 6, 0, 1, sz2, st1), pk_end_dict(&x)),
         s0, sizeof s0, "after stripping prefix 'module.'");
    CASE((pk_begin_dict(&x), pk_str(&x, "a"), pk_tensor(&x, "FloatStorage", "0", 6, 0, 1, sz2, st1),
          pk_str(&x, "a"), pk_tensor(&x, "FloatStorage", "0", 6, 0, 1, sz2, st1), pk_end_dict(&x)),
         s0, sizeof s0, "duplicate tensor name 'a'");
    CASE((pk_begin_dict(&x), pk_int(&x, 5), pk_tensor(&x, "FloatStorage", "0", 6, 0, 1, sz2, st1), pk_end_dict(&x)),
         s0, sizeof s0, "key (of type int) is not");
    CASE((pk_begin_dict(&x), pk_str(&x, "a"), pk_tensor(&x, "FloatStorage", "0", 6, 0, 5, sz5, st5),
          pk_end_dict(&x)),
         s0, sizeof s0, "tensor 'a' has 5 dims");
    CASE((pk_begin_dict(&x), pk_str(&x, "a"), pk_tensor(&x, "FloatStorage", "0", 6, 0, 1, sz2, st1),
          pk_str(&x, "b"), pk_tensor(&x, "IntStorage", "0", 6, 0, 1, sz2, st1), pk_end_dict(&x)),
         s0, sizeof s0, "two different types");
    CASE((put1(&x, 0x80), put1(&x, 2), pk_global(&x, "posix", "system"), pk_str(&x, "echo pwned"), put1(&x, 0x85),
          put1(&x, 'R'), put1(&x, '.')),
         NULL, 0, "bad.pth: data.pkl: global 'posix.system' is not allowed");
    CASE((put1(&x, 0x80), put1(&x, 2), pk_global(&x, "posix", "system"), pk_str(&x, "echo pwned"), put1(&x, 0x85),
          put1(&x, 'R'), put1(&x, '.')),
         NULL, 0, "(offset 2)");
#undef CASE
    free(x.b);

    {
        zentry e[3] = {{"archive/data.pkl", "\x80\x02}.", 4, 0, 0}, {"archive/data/0", s0, sizeof s0, 1, 0},
                       {"archive/byteorder", "big", 3, 0, 0}};
        bytes y = {0};
        pk_begin_dict(&y);
        pk_str(&y, "a");
        pk_tensor(&y, "FloatStorage", "0", 6, 0, 1, sz2, st1);
        pk_end_dict(&y);
        e[0].data = y.b;
        e[0].size = y.n;
        write_zip(path, e, 2);
        expect_fail(path, "corrupt");
        e[1].bad_crc = 0;
        write_zip(path, e, 3);
        expect_fail(path, "byteorder is 'big'; only little-endian");
        e[2].data = "little";
        e[2].size = 6;
        write_zip(path, e, 3);
        hr_tensor_map_destroy(load_ok(path));
        /* A 24-byte deflated entry claiming to expand to 1 GB. */
        e[1].claim = 1u << 30;
        write_zip(path, e, 2);
        expect_fail(path, "claims 1073741824 bytes from 24 compressed bytes");
        /* Two deflated entries, each within deflate's ratio, 1.2 GB together */
        {
            static unsigned char junk[600000];
            zentry two[3] = {e[0], e[1], e[1]};
            two[1].name = "archive/data/0";
            two[2].name = "archive/data/1";
            for (int k = 1; k < 3; k++) {
                two[k].data = junk;
                two[k].size = sizeof junk;
                two[k].claim = 600000000u;
                two[k].bad_crc = 0;
            }
            write_zip(path, two, 3);
            expect_fail(path, "compressed entries inflate to more than 1073741824 bytes in all");
        }
        e[1].claim = 0;
        e[1].name = "other/data.pkl";
        e[1].bad_crc = 0;
        write_zip(path, e, 2);
        expect_fail(path, "more than one");
        e[0].name = "archive/weights.bin";
        e[1].name = "archive/nested/data.pkl";
        write_zip(path, e, 2);
        expect_fail(path, "no <name>/data.pkl");
        free(y.b);
    }
    hr_test_write_file(path, "PK\x03\x04 this is not really a zip archive at all", 44);
    expect_fail(path, "corrupt zip archive");
    hr_test_write_file(path, "hello", 5);
    expect_fail(path, "not a PyTorch checkpoint");
    hr_test_write_file(path, "", 0);
    expect_fail(path, "not a PyTorch checkpoint");
}

/* ---- the unpickler on hostile byte strings ------------------------------- */

static bytes from(const char *s, size_t n)
{
    bytes x = {0};
    put(&x, s, n);
    return x;
}

#define PICKLE_FAIL(lit, word)                                                                                       \
    do {                                                                                                             \
        bytes x_ = from(lit, sizeof lit - 1);                                                                        \
        expect_pickle_fail(&x_, word);                                                                               \
        free(x_.b);                                                                                                  \
    } while (0)

static void test_pickle_globals(void **state)
{
    (void)state;
    PICKLE_FAIL("\x80\x02" "cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.",
                "data.pkl: global 'posix.system' is not allowed");
    PICKLE_FAIL("\x80\x02" "cos\nsystem\n", "global 'os.system' is not allowed (offset 2)");
    PICKLE_FAIL("\x80\x02" "cbuiltins\neval\n", "global 'builtins.eval'");
    PICKLE_FAIL("\x80\x02" "c__builtin__\ngetattr\n", "global '__builtin__.getattr'");
    PICKLE_FAIL("\x80\x02" "csubprocess\nPopen\n", "global 'subprocess.Popen'");
    PICKLE_FAIL("\x80\x02" "ctorch.storage\n_load_from_bytes\n", "global 'torch.storage._load_from_bytes' is not allowed");
    PICKLE_FAIL("\x80\x02" "ctorch\nTensor\n", "global 'torch.Tensor'");
    PICKLE_FAIL("\x80\x02" "ccollections\nOrderedDictX\n", "global 'collections.OrderedDictX'");
    PICKLE_FAIL("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2", "newline-terminated");
    PICKLE_FAIL("\x80\x02" "cos\x1b[31m\nsystem\n", "global 'os?[31m.system'");
    /* Protocol 4 spells the same with STACK_GLOBAL. */
    PICKLE_FAIL("\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93",
                "global 'os.system' is not allowed (offset 25)");
    PICKLE_FAIL("\x80\x04K\x01K\x02\x93", "STACK_GLOBAL needs two strings");
}

static void test_pickle_opcodes(void **state)
{
    (void)state;
    PICKLE_FAIL("\x80\x02\xff", "unknown opcode 0xff (offset 2)");
    PICKLE_FAIL("\x80\x02\x81", "opcode 0x81 (NEWOBJ) is not supported (offset 2)");
    PICKLE_FAIL("\x80\x02(ios\nsystem\n", "opcode 0x69 (INST)");
    PICKLE_FAIL("\x80\x02P0\n", "(PERSID)");
    PICKLE_FAIL("\x80\x02\x8b\x01\x00\x00\x00\x01", "(LONG4)");
    PICKLE_FAIL("\x80\x02" "B\x01\x00\x00\x00x", "(BINBYTES)");
    PICKLE_FAIL("\x80\x02" "d", "(DICT)");
    PICKLE_FAIL("\x80\x02" "N0", "(POP)");
    PICKLE_FAIL("\x80\x06N.", "protocol 6");
    PICKLE_FAIL("\x80\x01N.", "protocol 1");
    PICKLE_FAIL("\x80", "truncated");
    PICKLE_FAIL("\x80\x02N", "without a STOP");
    PICKLE_FAIL("", "without a STOP");
    PICKLE_FAIL("\x80\x02NN.", "STOP with 2 values");
    PICKLE_FAIL("\x80\x02(N.", "1 open MARKs");
    PICKLE_FAIL("\x80\x02.", "STOP with 0 values");
    PICKLE_FAIL("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", "LONG1 integer of 9 bytes");
    PICKLE_FAIL("\x80\x02\x8a\x04\x01\x02", "truncated: opcode LONG1 needs 4 more bytes");
    PICKLE_FAIL("\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00N.", "frame of 4294967295 bytes");
    PICKLE_FAIL("\x80\x02" "X\xff\xff\xff\xff" "abc", "string of 4294967295 bytes runs past the end");
    PICKLE_FAIL("\x80\x02\x8c\x10" "abc", "string of 16 bytes");
    PICKLE_FAIL("\x80\x02h\x05", "memo index 5 was never stored");
    PICKLE_FAIL("\x80\x02j\xff\xff\xff\x7f", "memo index 2147483647 was never stored");
    PICKLE_FAIL("\x80\x02Nr\xff\xff\xff\xff", "memo index 4294967295 out of sequence");
    PICKLE_FAIL("\x80\x02q\x00", "stack underflow");
    PICKLE_FAIL("\x80\x02N(q\x00", "stack underflow");
    PICKLE_FAIL("\x80\x02N(\x85", "stack underflow");
    PICKLE_FAIL("\x80\x02t", "needs a MARK");
    PICKLE_FAIL("\x80\x02(Nu", "SETITEMS without a container");
    PICKLE_FAIL("\x80\x02](Nu", "SETITEMS on a list is not allowed");
    PICKLE_FAIL("\x80\x02}(Nu", "odd number");
    PICKLE_FAIL("\x80\x02}(Ne", "APPENDS on a dict");
    PICKLE_FAIL("\x80\x02]NNs", "SETITEM on a list is not allowed");
    PICKLE_FAIL("\x80\x02}Na", "APPEND on a dict is not allowed");
    PICKLE_FAIL("\x80\x02]Nb", "BUILD on a list is not allowed");
    PICKLE_FAIL("\x80\x02X\x01\x00\x00\x00x)R", "REDUCE on a str is not allowed");
    PICKLE_FAIL("\x80\x02" "ctorch\nFloatStorage\n)R", "REDUCE on a torch storage class");
    PICKLE_FAIL("\x80\x02" "ccollections\nOrderedDict\nN\x85R", "OrderedDict called with 1 arguments");
    PICKLE_FAIL("\x80\x02" "ccollections\nOrderedDict\nNR", "REDUCE arguments are a None");
    PICKLE_FAIL("\x80\x02" "ctorch._utils\n_rebuild_parameter\nN\x85R", "_rebuild_parameter expects");
    PICKLE_FAIL("\x80\x02N" "Q", "persistent id is a None");
    PICKLE_FAIL("\x80\x02(NNNNNtQ", "not a 'storage' reference");
}

/* Persistent ids and tensor views that lie about their storage. */
static void test_pickle_tensors(void **state)
{
    const int64_t sz2[1] = {2}, st1[1] = {1}, big[2] = {(int64_t)1 << 31, (int64_t)1 << 31}, bst[2] = {1, 1};
    const int64_t sz4[2] = {2, 2}, st4[2] = {4, 1}, s62[1] = {(int64_t)1 << 62};
    int64_t many[17];
    bytes x = {0};
    (void)state;

    for (int i = 0; i < 17; i++)
        many[i] = 1;
#define TCASE(body, word)                                                                                            \
    do {                                                                                                             \
        x.n = 0;                                                                                                     \
        body;                                                                                                        \
        expect_pickle_fail(&x, word);                                                                                \
    } while (0)
    TCASE(pk_tensor(&x, "FloatStorage", "0", 4, 0, 1, s62, st1), "tensor has more than 17179869184 elements");
    TCASE(pk_tensor(&x, "FloatStorage", "0", 4, 0, 2, big, bst), "more than 17179869184 elements");
    TCASE(pk_tensor(&x, "FloatStorage", "0", 4, 3, 1, sz2, st1), "reaches past its storage of 4 elements");
    TCASE(pk_tensor(&x, "FloatStorage", "0", 4, 4, 1, sz2, st1), "offset 4 is beyond its storage");
    TCASE(pk_tensor(&x, "FloatStorage", "0", 4, 0, 2, sz4, st4), "dim 0 size 2 stride 4");
    /* a 1-element storage viewed as 131072 x 131072 by zero strides: 64 GiB asked of a few hundred bytes */
    {
        static const int64_t huge[2] = {131072, 131072}, zero[2] = {0, 0}, edge[2] = {4097, 4096};
        TCASE(pk_tensor(&x, "FloatStorage", "0", 1, 0, 2, huge, zero), "repeats its storage of 1 elements beyond");
        TCASE(pk_tensor(&x, "FloatStorage", "0", 1, 0, 2, edge, zero), "beyond the bound of 16777216 more");
    }
    TCASE(pk_tensor(&x, "FloatStorage", "0", 4, 0, 17, many, many), "size has 17 entries");
    TCASE(pk_tensor(&x, "FloatStorage", "0", -1, 0, 1, sz2, st1), "storage element count");
    TCASE(pk_tensor(&x, "FloatStorage", "0", (int64_t)1 << 40, 0, 1, sz2, st1), "storage element count");
    TCASE(pk_tensor(&x, "FloatStorage", "../../etc/passwd", 4, 0, 1, sz2, st1), "storage key contains byte 0x2e");
    TCASE(pk_tensor(&x, "FloatStorage", "", 4, 0, 1, sz2, st1), "storage key is not a string");
    TCASE(pk_tensor(&x, "ComplexFloatStorage", "0", 4, 0, 1, sz2, st1), "global 'torch.ComplexFloatStorage'");
#undef TCASE
    /* A stride tuple shorter than the size tuple. */
    x.n = 0;
    PUTLIT(&x, "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
               "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQK\x00K\x02K\x02\x86K\x01\x85\x89}tR.");
    expect_pickle_fail(&x, "size has 2 dims but stride has 1");
    x.n = 0;
    PUTLIT(&x, "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(NK\x00))\x89}tR.");
    expect_pickle_fail(&x, "_rebuild_tensor_v2 storage is a None");
    x.n = 0;
    PUTLIT(&x, "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n)R.");
    expect_pickle_fail(&x, "takes 6 or 7 arguments, got 0");
    free(x.b);
}

/* Depth and size bounds: each must end in a clean LIMIT error. */
static void test_pickle_limits(void **state)
{
    bytes x = {0};
    hr__pickle *p = NULL;
    hr_error err;
    (void)state;

    put1(&x, 0x80);
    put1(&x, 2);
    for (int i = 0; i < 5000; i++)
        put1(&x, '(');
    expect_pickle_fail(&x, "more than 1024 nested MARKs");

    x.n = 2;
    for (size_t i = 0; i < HR__PICKLE_MAX_STACK + 10; i++)
        put1(&x, ']');
    expect_pickle_fail(&x, "stack deeper than 1048576 entries");

    /* Lists nested 200000 deep (each APPENDed into the one below it):
     * nothing recurses, so this loads and frees fine. */
    x.n = 2;
    for (int i = 0; i < 200001; i++)
        put1(&x, ']');
    for (int i = 0; i < 200000; i++)
        put1(&x, 'a');
    put1(&x, '.');
    assert_int_equal(hr__unpickle(x.b, x.n, "data.pkl", &p, &err), HR_OK);
    assert_int_equal(hr__pickle_root(p)->kind, HR__PY_LIST);
    hr__pickle_destroy(p);

    /* Each TUPLE1 makes a new value while the stack stays at one entry. */
    x.n = 2;
    put1(&x, 'N');
    for (size_t i = 0; i < HR__PICKLE_MAX_OBJECTS + 10; i++)
        put1(&x, 0x85);
    put1(&x, '.');
    hr_error_clear(&err);
    assert_int_equal(hr__unpickle(x.b, x.n, "data.pkl", &p, &err), HR_ERR_LIMIT);
    check_msg(err.msg, "more than");
    free(x.b);
}

/* Every prefix of a valid pickle fails without STOP or with a truncation. */
static void test_pickle_truncated(void **state)
{
    const int64_t sz2[1] = {2}, st1[1] = {1};
    bytes x = {0};
    hr__pickle *p = NULL;
    hr_error err;
    (void)state;
    pk_begin_dict(&x);
    pk_str(&x, "a");
    pk_tensor(&x, "FloatStorage", "0", 2, 0, 1, sz2, st1);
    pk_end_dict(&x);
    assert_int_equal(hr__unpickle(x.b, x.n, "data.pkl", &p, &err), HR_OK);
    hr__pickle_destroy(p);
    for (size_t n = 0; n < x.n; n++) {
        p = NULL;
        hr_error_clear(&err);
        assert_int_not_equal(hr__unpickle(x.b, n, "data.pkl", &p, &err), HR_OK);
        assert_null(p);
        check_msg(err.msg, "data.pkl: ");
    }
    free(x.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_state_dict), cmocka_unit_test(test_fixture_dtypes),
        cmocka_unit_test(test_weights_load_by_content),
        cmocka_unit_test(test_fixture_refused),    cmocka_unit_test(test_fixture_truncated),
        cmocka_unit_test(test_fixture_bitflips),   cmocka_unit_test(test_handmade_ok),
        cmocka_unit_test(test_handmade_bad),       cmocka_unit_test(test_pickle_globals),
        cmocka_unit_test(test_pickle_opcodes),     cmocka_unit_test(test_pickle_tensors),
        cmocka_unit_test(test_pickle_limits),      cmocka_unit_test(test_pickle_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
