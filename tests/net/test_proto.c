// ctest-labels: net
/* The wire codec: a hand-assembled golden frame (byte layout and byte
 * order), round trips of every message type with every tensor count and
 * dtype, each header field corrupted in turn, a payload truncated at every
 * offset (decoded from an exact-size heap copy, so AddressSanitizer sees any
 * read past the end), trailing bytes, bad metadata, bad tensor headers and
 * shapes, the encoder's refusals, chunked blob reassembly, and a seeded
 * mutation loop in which every decodable frame must re-encode to the same
 * bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/proto.h"

typedef struct type_row {
    int id, lo, hi;
    const char *name;
} type_row;

static const type_row TYPES[] = {
#define HR_MSG(e, id, name, lo, hi) {id, lo, hi, name},
#include "hyperrep/msg.def"
#undef HR_MSG
};
#define NTYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

/* splitmix64: the test's own integer RNG (fixed seeds only). */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void expect_msg(const hr_error *err, const char *word)
{
    if (!strstr(err->msg, word)) {
        print_error("message '%s' lacks '%s'\n", err->msg, word);
        fail();
    }
}

/* ---- a byte builder for hand-made payloads ------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void b_raw(bytes *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void b_u8(bytes *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    b_raw(b, &x, 1);
}

static void b_u16(bytes *b, unsigned v)
{
    b_u8(b, v & 0xff);
    b_u8(b, (v >> 8) & 0xff);
}

static void b_u32(bytes *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b_u8(b, (v >> (8 * i)) & 0xff);
}

static void b_u64(bytes *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b_u8(b, (unsigned)((v >> (8 * i)) & 0xff));
}

static void b_meta(bytes *b, const char *meta)
{
    size_t n = meta ? strlen(meta) : 0;
    b_u32(b, (uint32_t)n);
    b_raw(b, meta, n);
}

/* A tensor header: dtype, ndim, reserved, dims (no data). */
static void b_tensor_hdr(bytes *b, unsigned dtype, unsigned ndim, unsigned reserved, const uint64_t *dims)
{
    b_u8(b, dtype);
    b_u8(b, ndim);
    b_u16(b, reserved);
    for (unsigned i = 0; i < ndim && i < HR_MAX_DIMS; i++) /* the decoder stops at a bad ndim */
        b_u64(b, dims[i]);
}

/* Decodes payload[0..n) of a frame of this type from an exact-size heap copy
 * and returns the status; on failure checks that out was left untouched. */
static hr_status decode_raw(int type, const uint8_t *payload, size_t n, hr_msg *out, hr_error *err)
{
    hr_frame_header h = {HR_PROTO_VERSION, (hr_msg_type)type, 7, (uint32_t)n};
    uint8_t *copy = malloc(n ? n : 1);
    hr_status st;
    assert_non_null(copy);
    if (n)
        memcpy(copy, payload, n);
    hr_msg_init(out);
    out->id = 0xdeadbeef;
    hr_error_clear(err);
    st = hr_msg_decode(&h, n ? copy : NULL, out, err);
    free(copy);
    if (st != HR_OK) {
        assert_int_equal(err->status, st);
        assert_int_equal(out->id, 0xdeadbeef);
        assert_null(out->meta);
        assert_null(out->storage);
    }
    return st;
}

static void expect_bad(int type, const bytes *b, hr_status want, const char *word)
{
    hr_msg m;
    hr_error err;
    hr_status st = decode_raw(type, b->p, b->n, &m, &err);
    if (st != want) {
        print_error("status %d (%s), wanted %d; message: %s\n", (int)st, err.msg, (int)want, word);
        hr_msg_deinit(&m);
        fail();
    }
    expect_msg(&err, word);
}

/* ---- golden bytes -------------------------------------------------------- */

static void test_golden_frame(void **state)
{
    (void)state;
    /* forward, id 0x01020304, meta {"a":1}, tensor f32 [2] = {1.0, -2.5},
     * tensor i64 [1] = {-2}: every byte written out by hand. */
    static const uint8_t want[] = {
        'H', 'R', 'P', '1', 1, 0, 13, 0, 0x04, 0x03, 0x02, 0x01, 55, 0, 0, 0,
        7, 0, 0, 0, '{', '"', 'a', '"', ':', '1', '}',
        2, 0, 0, 0,
        1, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0,
        2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    };
    float f[2] = {1.0f, -2.5f};
    int64_t l[1] = {-2};
    hr_wire_tensor t[2] = {{HR_WIRE_F32, 1, {2}, f, 8}, {HR_WIRE_I64, 1, {1}, l, 8}};
    uint8_t *buf = NULL;
    size_t len = 0;
    hr_error err;
    hr_frame_header h;
    hr_msg m;

    HR_ASSERT_OK(hr_msg_encode(HR_MSG_FORWARD, 0x01020304u, "{\"a\":1}", t, 2, &buf, &len, &err), &err);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(hr_msg_payload_size("{\"a\":1}", t, 2), sizeof want - HR_PROTO_HEADER_SIZE);

    HR_ASSERT_OK(hr_frame_header_decode(want, 0, &h, &err), &err);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.type, HR_MSG_FORWARD);
    assert_int_equal(h.id, 0x01020304u);
    assert_int_equal(h.length, 55);
    hr_msg_init(&m);
    HR_ASSERT_OK(hr_msg_decode(&h, want + HR_PROTO_HEADER_SIZE, &m, &err), &err);
    assert_int_equal(m.type, HR_MSG_FORWARD);
    assert_int_equal(m.id, 0x01020304u);
    assert_string_equal(m.meta, "{\"a\":1}");
    assert_int_equal(m.meta_len, 7);
    assert_int_equal(m.ntensors, 2);
    assert_int_equal(((float *)m.tensor[0].data)[1] == -2.5f, 1);
    assert_int_equal(((int64_t *)m.tensor[1].data)[0], -2);
    assert_int_equal((uintptr_t)m.tensor[0].data % 64, 0);
    assert_int_equal((uintptr_t)m.tensor[1].data % 64, 0);

    /* hr_tensor view of the first, refusal for the second */
    hr_tensor v;
    HR_ASSERT_OK(hr_wire_to_tensor(&m.tensor[0], "features", &v, &err), &err);
    assert_int_equal(v.ndim, 1);
    assert_int_equal(v.shape[0], 2);
    assert_ptr_equal(v.data, m.tensor[0].data);
    assert_int_equal(hr_wire_to_tensor(&m.tensor[1], "labels", &v, &err), HR_ERR_FORMAT);
    expect_msg(&err, "labels: dtype i64");

    /* decoding into a message that already holds one frees the old one */
    HR_ASSERT_OK(hr_msg_decode(&h, want + HR_PROTO_HEADER_SIZE, &m, &err), &err);
    hr_msg_deinit(&m);
    assert_null(m.meta);
    hr_msg_deinit(NULL);
    free(buf);
}

static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < NTYPES; i++)
        assert_string_equal(hr_msg_type_name(TYPES[i].id), TYPES[i].name);
    assert_string_equal(hr_msg_type_name(HR_MSG_FORWARD), "forward");
    assert_string_equal(hr_msg_type_name(0), "unknown");
    assert_string_equal(hr_msg_type_name(HR_MSG_TYPE_COUNT), "unknown");
    assert_string_equal(hr_msg_type_name(-1), "unknown");
    assert_int_equal(hr_wire_dtype_size(HR_WIRE_F32), 4);
    assert_int_equal(hr_wire_dtype_size(HR_WIRE_I64), 8);
    assert_int_equal(hr_wire_dtype_size(HR_WIRE_U8), 1);
    assert_int_equal(hr_wire_dtype_size(0), 0);
    assert_int_equal(hr_wire_dtype_size(HR_WIRE_DTYPE_COUNT), 0);
    assert_string_equal(hr_wire_dtype_name(HR_WIRE_U8), "u8");
    assert_string_equal(hr_wire_dtype_name(99), "unknown");
}

/* ---- round trips --------------------------------------------------------- */

typedef struct owned_tensors {
    hr_wire_tensor t[HR_PROTO_MAX_TENSORS];
    int n;
} owned_tensors;

/* n random tensors; tensor i has dtype (i + shift) % 3 + 1, 1..4 dims of
 * 0..5 (a zero dim now and then) and random bytes. */
static void make_tensors(owned_tensors *o, int n, int shift, uint64_t *seed)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    for (int i = 0; i < n; i++) {
        hr_wire_tensor *t = &o->t[i];
        size_t numel = 1;
        t->dtype = (hr_wire_dtype)((i + shift) % 3 + 1);
        t->ndim = (int)(rnd(seed) % HR_MAX_DIMS) + 1;
        for (int d = 0; d < t->ndim; d++) {
            t->shape[d] = (int64_t)(rnd(seed) % 6);
            if (t->shape[d] == 0 && rnd(seed) % 2)
                t->shape[d] = 1;
            numel *= (size_t)t->shape[d];
        }
        t->nbytes = numel * hr_wire_dtype_size(t->dtype);
        t->data = t->nbytes ? malloc(t->nbytes) : NULL;
        for (size_t k = 0; k < t->nbytes; k++)
            ((uint8_t *)t->data)[k] = (uint8_t)rnd(seed);
    }
}

static void free_tensors(owned_tensors *o)
{
    for (int i = 0; i < o->n; i++)
        free(o->t[i].data);
}

static void check_same(const hr_msg *m, int type, uint32_t id, const char *meta, const owned_tensors *o)
{
    assert_int_equal(m->type, type);
    assert_int_equal(m->id, id);
    if (meta && *meta) {
        assert_non_null(m->meta);
        assert_string_equal(m->meta, meta);
        assert_int_equal(m->meta_len, strlen(meta));
    } else {
        assert_null(m->meta);
        assert_int_equal(m->meta_len, 0);
    }
    assert_int_equal(m->ntensors, o->n);
    for (int i = 0; i < o->n; i++) {
        const hr_wire_tensor *a = &m->tensor[i], *b = &o->t[i];
        assert_int_equal(a->dtype, b->dtype);
        assert_int_equal(a->ndim, b->ndim);
        for (int d = 0; d < a->ndim; d++)
            assert_int_equal(a->shape[d], b->shape[d]);
        for (int d = a->ndim; d < HR_MAX_DIMS; d++)
            assert_int_equal(a->shape[d], 0);
        assert_int_equal(a->nbytes, b->nbytes);
        if (a->nbytes) {
            assert_int_equal((uintptr_t)a->data % 64, 0);
            assert_memory_equal(a->data, b->data, a->nbytes);
        } else {
            assert_null(a->data);
        }
    }
}

static void test_round_trip_every_type(void **state)
{
    static const char *metas[] = {NULL, "", "{}", "{\"protocol\": 1, \"name\": \"caf\xc3\xa9\", \"x\": [1, 2.5, null]}"};
    uint64_t seed = 42;
    int cases = 0;
    (void)state;
    for (int ti = 0; ti < NTYPES; ti++) {
        for (int n = TYPES[ti].lo; n <= TYPES[ti].hi; n++) {
            for (int shift = 0; shift < 3; shift++) {
                owned_tensors o;
                const char *meta = metas[(ti + n + shift) % 4];
                uint32_t id = (uint32_t)rnd(&seed);
                uint8_t *buf = NULL, *again = NULL;
                size_t len = 0, len2 = 0;
                hr_frame_header h;
                hr_msg m;
                hr_error err;

                make_tensors(&o, n, shift, &seed);
                HR_ASSERT_OK(hr_msg_encode((hr_msg_type)TYPES[ti].id, id, meta, o.t, n, &buf, &len, &err), &err);
                assert_int_equal(len, HR_PROTO_HEADER_SIZE + hr_msg_payload_size(meta, o.t, n));
                HR_ASSERT_OK(hr_frame_header_decode(buf, 0, &h, &err), &err);
                assert_int_equal(h.length, len - HR_PROTO_HEADER_SIZE);
                hr_msg_init(&m);
                HR_ASSERT_OK(hr_msg_decode(&h, buf + HR_PROTO_HEADER_SIZE, &m, &err), &err);
                check_same(&m, TYPES[ti].id, id, meta, &o);
                /* the decoded message re-encodes to the same bytes */
                HR_ASSERT_OK(hr_msg_encode(m.type, m.id, m.meta, m.tensor, m.ntensors, &again, &len2, &err), &err);
                assert_int_equal(len2, len);
                assert_memory_equal(again, buf, len);
                free(again);
                free(buf);
                hr_msg_deinit(&m);
                free_tensors(&o);
                cases++;
                /* types with no tensors have only one dtype assignment */
                if (n == 0)
                    break;
            }
        }
    }
    assert_true(cases > 3 * NTYPES);
}

/* Every dtype in every position of a 16-tensor MODEL_SYNC, and a maximal
 * 4-d shape per dtype. */
static void test_round_trip_max_tensors(void **state)
{
    uint64_t seed = 7;
    (void)state;
    for (int shift = 0; shift < 3; shift++) {
        owned_tensors o;
        uint8_t *buf = NULL;
        size_t len = 0;
        hr_frame_header h;
        hr_msg m;
        hr_error err;
        make_tensors(&o, HR_PROTO_MAX_TENSORS, shift, &seed);
        HR_ASSERT_OK(hr_msg_encode(HR_MSG_MODEL_SYNC, 1, "{\"chunk\": 0}", o.t, o.n, &buf, &len, &err), &err);
        HR_ASSERT_OK(hr_frame_header_decode(buf, 0, &h, &err), &err);
        hr_msg_init(&m);
        HR_ASSERT_OK(hr_msg_decode(&h, buf + HR_PROTO_HEADER_SIZE, &m, &err), &err);
        check_same(&m, HR_MSG_MODEL_SYNC, 1, "{\"chunk\": 0}", &o);
        hr_msg_deinit(&m);
        free(buf);
        free_tensors(&o);
    }
}

/* An empty tensor is valid, but only if its other dimensions would still
 * fit in a frame: [0, 16, 1024, 1024] f32 (64 MiB) passes, one more column
 * does not, on either side. */
static void test_empty_tensor_bounds(void **state)
{
    hr_wire_tensor t = {HR_WIRE_F32, 4, {0, 16, 1024, 1024}, NULL, 0};
    uint8_t *buf = NULL;
    size_t len;
    hr_frame_header h;
    hr_msg m;
    hr_error err;
    (void)state;
    HR_ASSERT_OK(hr_msg_encode(HR_MSG_INFER_FRAME, 3, NULL, &t, 1, &buf, &len, &err), &err);
    HR_ASSERT_OK(hr_frame_header_decode(buf, 0, &h, &err), &err);
    hr_msg_init(&m);
    HR_ASSERT_OK(hr_msg_decode(&h, buf + HR_PROTO_HEADER_SIZE, &m, &err), &err);
    assert_int_equal(m.tensor[0].shape[3], 1024);
    assert_int_equal(m.tensor[0].nbytes, 0);
    assert_null(m.tensor[0].data);
    assert_null(m.storage);
    hr_tensor v;
    HR_ASSERT_OK(hr_wire_to_tensor(&m.tensor[0], "frame", &v, &err), &err);
    assert_int_equal(v.stride[0], 16 * 1024 * 1024);
    hr_msg_deinit(&m);

    /* the same frame with the last dim raised by one: the decoder refuses */
    buf[HR_PROTO_HEADER_SIZE + 8 + 4 + 3 * 8] = 1; /* dim 3 = 1025 */
    hr_msg_init(&m);
    assert_int_equal(hr_msg_decode(&h, buf + HR_PROTO_HEADER_SIZE, &m, &err), HR_ERR_FORMAT);
    expect_msg(&err, "tensor 0: f32 [0, 16, 1024, 1025] is larger than any frame");
    free(buf);
    buf = NULL;
    t.shape[3] = 1025;
    assert_int_equal(hr_msg_encode(HR_MSG_INFER_FRAME, 3, NULL, &t, 1, &buf, &len, &err), HR_ERR_LIMIT);
    expect_msg(&err, "larger than any frame");
    assert_int_equal(hr_wire_to_tensor(&t, "x", &v, &err), HR_ERR_FORMAT);
    t.shape[0] = HR_PROTO_MAX_DIM;
    t.shape[3] = 0;
    assert_int_equal(hr_msg_encode(HR_MSG_INFER_FRAME, 3, NULL, &t, 1, &buf, &len, &err), HR_ERR_LIMIT);
    assert_null(buf);
}

static void test_wire_from_tensor(void **state)
{
    float x[24];
    hr_tensor t = hr_tensor_4d(x, 1, 2, 3, 4), back;
    hr_wire_tensor w;
    hr_error err;
    (void)state;
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    w = hr_wire_from_tensor(&t);
    assert_int_equal(w.dtype, HR_WIRE_F32);
    assert_int_equal(w.ndim, 4);
    assert_int_equal(w.nbytes, sizeof x);
    assert_ptr_equal(w.data, x);
    HR_ASSERT_OK(hr_wire_to_tensor(&w, NULL, &back, &err), &err);
    assert_true(hr_tensor_same_shape(&back, &t));

    /* a non-contiguous view cannot be sent: ndim 0, and the encoder says so */
    t.stride[3] = 2;
    w = hr_wire_from_tensor(&t);
    assert_int_equal(w.ndim, 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(hr_msg_encode(HR_MSG_FORWARD, 1, NULL, &w, 1, &buf, &len, &err), HR_ERR_INVALID_ARG);
    expect_msg(&err, "tensor 0: ndim 0");
    assert_null(buf);
    w = hr_wire_from_tensor(NULL);
    assert_int_equal(w.ndim, 0);
    assert_int_equal(hr_wire_to_tensor(&w, "crossing", &back, &err), HR_ERR_FORMAT);
    expect_msg(&err, "crossing: ndim 0");
    w = hr_wire_from_tensor(&t);
    w.ndim = 1;
    w.shape[0] = 3;
    w.nbytes = 8;
    assert_int_equal(hr_wire_to_tensor(&w, "x", &back, &err), HR_ERR_FORMAT);
    expect_msg(&err, "x: 8 bytes");
}

/* ---- header -------------------------------------------------------------- */

static void make_header(uint8_t h[16], unsigned type, uint32_t length)
{
    memcpy(h, "HRP1", 4);
    h[4] = HR_PROTO_VERSION;
    h[5] = 0;
    h[6] = (uint8_t)type;
    h[7] = (uint8_t)(type >> 8);
    h[8] = 1, h[9] = 2, h[10] = 3, h[11] = 4;
    for (int i = 0; i < 4; i++)
        h[12 + i] = (uint8_t)(length >> (8 * i));
}

static void header_bad(const uint8_t h[16], uint32_t max, hr_status want, const char *word)
{
    hr_frame_header out = {-7, HR_MSG_NONE, 77, 77};
    hr_error err;
    hr_error_clear(&err);
    hr_status st = hr_frame_header_decode(h, max, &out, &err);
    if (st != want) {
        print_error("header: status %d (%s), wanted %d (%s)\n", (int)st, err.msg, (int)want, word);
        fail();
    }
    expect_msg(&err, word);
    assert_int_equal(out.version, -7);
    assert_int_equal(out.id, 77);
}

static void test_header_fields(void **state)
{
    uint8_t h[16], c[16];
    hr_frame_header out;
    hr_error err;
    (void)state;

    make_header(h, HR_MSG_ACK, 100);
    HR_ASSERT_OK(hr_frame_header_decode(h, 0, &out, &err), &err);
    assert_int_equal(out.type, HR_MSG_ACK);
    assert_int_equal(out.id, 0x04030201u);
    assert_int_equal(out.length, 100);

    for (int i = 0; i < 4; i++) {
        memcpy(c, h, 16);
        c[i] ^= 0x20;
        header_bad(c, 0, HR_ERR_FORMAT, "magic");
    }
    memcpy(c, h, 16);
    c[4] = 0;
    header_bad(c, 0, HR_ERR_UNSUPPORTED, "version 0");
    c[4] = 2;
    header_bad(c, 0, HR_ERR_UNSUPPORTED, "version 2");
    c[4] = 255;
    header_bad(c, 0, HR_ERR_UNSUPPORTED, "version 255");
    for (unsigned f = 1; f < 256; f <<= 1) {
        memcpy(c, h, 16);
        c[5] = (uint8_t)f;
        header_bad(c, 0, HR_ERR_FORMAT, "flags");
    }
    make_header(c, 0, 0);
    header_bad(c, 0, HR_ERR_FORMAT, "type 0 unknown");
    make_header(c, HR_MSG_TYPE_COUNT, 0);
    header_bad(c, 0, HR_ERR_FORMAT, "unknown");
    make_header(c, 77, 0);
    header_bad(c, 0, HR_ERR_FORMAT, "type 77 unknown");
    make_header(c, 0xffff, 0);
    header_bad(c, 0, HR_ERR_FORMAT, "type 65535 unknown");
    make_header(c, HR_MSG_TYPE_COUNT - 1, 0);
    HR_ASSERT_OK(hr_frame_header_decode(c, 0, &out, &err), &err);

    /* length: the limit itself passes, one byte more does not */
    make_header(c, HR_MSG_FORWARD, HR_PROTO_MAX_PAYLOAD);
    HR_ASSERT_OK(hr_frame_header_decode(c, 0, &out, &err), &err);
    make_header(c, HR_MSG_FORWARD, HR_PROTO_MAX_PAYLOAD + 1);
    header_bad(c, 0, HR_ERR_LIMIT, "67108865");
    header_bad(c, 0xffffffffu, HR_ERR_LIMIT, "limit of 67108864");
    make_header(c, HR_MSG_FORWARD, 0xffffffffu);
    header_bad(c, 0, HR_ERR_LIMIT, "length");
    make_header(c, HR_MSG_FORWARD, 1024);
    HR_ASSERT_OK(hr_frame_header_decode(c, 1024, &out, &err), &err);
    make_header(c, HR_MSG_FORWARD, 1025);
    header_bad(c, 1024, HR_ERR_LIMIT, "1025");

    assert_int_equal(hr_frame_header_decode(NULL, 0, &out, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_frame_header_decode(h, 0, NULL, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_frame_header_decode(h, 0, &out, NULL), HR_OK);
}

/* ---- payloads ------------------------------------------------------------ */

/* A small valid EVAL_BATCH payload: meta, f32 [2, 3], i64 [2]. */
static bytes small_payload(void)
{
    bytes b = {0};
    uint64_t d1[2] = {2, 3}, d2[1] = {2};
    b_meta(&b, "{\"batch\": 3, \"s\": \"x\"}");
    b_u32(&b, 2);
    b_tensor_hdr(&b, HR_WIRE_F32, 2, 0, d1);
    for (int i = 0; i < 6; i++) {
        float v = (float)i * 0.5f;
        uint32_t u;
        memcpy(&u, &v, 4);
        b_u32(&b, u);
    }
    b_tensor_hdr(&b, HR_WIRE_I64, 1, 0, d2);
    b_u64(&b, 3);
    b_u64(&b, 9);
    return b;
}

static void test_truncated_everywhere(void **state)
{
    bytes b = small_payload();
    hr_msg m;
    hr_error err;
    (void)state;
    assert_int_equal(decode_raw(HR_MSG_EVAL_BATCH, b.p, b.n, &m, &err), HR_OK);
    assert_int_equal(m.ntensors, 2);
    assert_int_equal(((int64_t *)m.tensor[1].data)[1], 9);
    hr_msg_deinit(&m);
    for (size_t cut = 0; cut < b.n; cut++) {
        hr_status st = decode_raw(HR_MSG_EVAL_BATCH, b.p, cut, &m, &err);
        if (st != HR_ERR_FORMAT) {
            print_error("cut at %zu: status %d (%s)\n", cut, (int)st, err.msg);
            hr_msg_deinit(&m);
            fail();
        }
        assert_true(err.msg[0] != '\0');
    }
    free(b.p);
}

static void test_trailing_garbage(void **state)
{
    (void)state;
    for (int extra = 1; extra <= 9; extra++) {
        bytes b = small_payload();
        for (int i = 0; i < extra; i++)
            b_u8(&b, 0);
        expect_bad(HR_MSG_EVAL_BATCH, &b, HR_ERR_FORMAT, "trailing");
        free(b.p);
    }
    /* after a tensor-less message too */
    bytes b = {0};
    b_meta(&b, NULL);
    b_u32(&b, 0);
    b_u8(&b, 1);
    expect_bad(HR_MSG_ACK, &b, HR_ERR_FORMAT, "1 trailing");
    free(b.p);
}

static void meta_bad(const char *meta, size_t len, hr_status want, const char *word)
{
    bytes b = {0};
    b_u32(&b, (uint32_t)len);
    b_raw(&b, meta, len);
    b_u32(&b, 0);
    expect_bad(HR_MSG_HELLO, &b, want, word);
    free(b.p);
}

static void test_meta(void **state)
{
    (void)state;
    meta_bad("[1, 2]", 6, HR_ERR_FORMAT, "not a JSON object");
    meta_bad("\"s\"", 3, HR_ERR_FORMAT, "meta");
    meta_bad("17", 2, HR_ERR_FORMAT, "meta");
    meta_bad("null", 4, HR_ERR_FORMAT, "meta");
    meta_bad("   ", 3, HR_ERR_FORMAT, "meta");
    meta_bad("{\"a\": 1", 7, HR_ERR_FORMAT, "meta");
    meta_bad("{\"a\": 1} x", 10, HR_ERR_FORMAT, "meta");
    meta_bad("{\"a\": \"\xff\"}", 10, HR_ERR_FORMAT, "meta");
    meta_bad("{\"a\": \"\xc0\xaf\"}", 11, HR_ERR_FORMAT, "meta");          /* overlong '/' */
    meta_bad("{\"a\": \"\xed\xa0\x80\"}", 12, HR_ERR_FORMAT, "meta");      /* UTF-16 surrogate */
    meta_bad("{\"a\": \"\\u0000\"}", 15, HR_ERR_FORMAT, "meta");
    meta_bad("{\"a\": 1, \"a\": 2}", 16, HR_ERR_FORMAT, "duplicate");
    meta_bad("{\"a\": 1}\0", 9, HR_ERR_FORMAT, "NUL byte at offset 8");
    meta_bad("{\"a\"\0: 1}", 9, HR_ERR_FORMAT, "NUL byte at offset 4");
    {
        /* nesting deeper than jansson's parser allows (no stack overflow) */
        enum { DEPTH = 5000 };
        char *deep = malloc(2 * DEPTH + 8);
        size_t k = 0;
        assert_non_null(deep);
        memcpy(deep, "{\"a\":", 5);
        k = 5;
        for (int i = 0; i < DEPTH; i++)
            deep[k++] = '[';
        for (int i = 0; i < DEPTH; i++)
            deep[k++] = ']';
        deep[k++] = '}';
        meta_bad(deep, k, HR_ERR_FORMAT, "meta");
        free(deep);
    }

    /* meta_len past the end, and over the limit (checked first) */
    bytes b = {0};
    b_u32(&b, 20);
    b_raw(&b, "{}", 2);
    b_u32(&b, 0);
    expect_bad(HR_MSG_HELLO, &b, HR_ERR_FORMAT, "meta_len 20 past the end");
    free(b.p);
    memset(&b, 0, sizeof b);
    b_u32(&b, HR_PROTO_MAX_META + 1);
    b_u32(&b, 0);
    expect_bad(HR_MSG_HELLO, &b, HR_ERR_LIMIT, "meta_len 1048577");
    free(b.p);
    memset(&b, 0, sizeof b);
    b_u32(&b, 0xffffffffu);
    expect_bad(HR_MSG_HELLO, &b, HR_ERR_LIMIT, "meta_len");
    free(b.p);

    /* exactly the maximum is fine */
    memset(&b, 0, sizeof b);
    {
        char *big = malloc(HR_PROTO_MAX_META);
        hr_msg m;
        hr_error err;
        assert_non_null(big);
        memset(big, ' ', HR_PROTO_MAX_META);
        memcpy(big, "{\"k\": 1}", 8);
        b_u32(&b, HR_PROTO_MAX_META);
        b_raw(&b, big, HR_PROTO_MAX_META);
        b_u32(&b, 0);
        assert_int_equal(decode_raw(HR_MSG_LUT_RESULT, b.p, b.n, &m, &err), HR_OK);
        assert_int_equal(m.meta_len, HR_PROTO_MAX_META);
        assert_int_equal(strlen(m.meta), HR_PROTO_MAX_META);
        hr_msg_deinit(&m);
        free(big);
        free(b.p);
    }
}

static void test_tensor_count(void **state)
{
    static const struct { int type; uint32_t count; } cases[] = {
        {HR_MSG_FORWARD, 0}, {HR_MSG_FORWARD, 3}, {HR_MSG_HELLO, 1}, {HR_MSG_BACKWARD, 2},
        {HR_MSG_MODEL_SYNC, 17}, {HR_MSG_INFER_FRAME, 0xffffffffu}, {HR_MSG_ACK, 0x80000000u},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes b = {0};
        char word[64];
        b_meta(&b, NULL);
        b_u32(&b, cases[i].count);
        snprintf(word, sizeof word, "tensor count %lu out of range", (unsigned long)cases[i].count);
        expect_bad(cases[i].type, &b, HR_ERR_FORMAT, word);
        free(b.p);
    }
    /* a payload too short for even the count */
    bytes b = {0};
    b_u32(&b, 0);
    b_u16(&b, 0);
    expect_bad(HR_MSG_ACK, &b, HR_ERR_FORMAT, "tensor count");
    free(b.p);
}

/* One bad tensor after a valid first one (so the index in the message is 1). */
static void tensor_bad(unsigned dtype, unsigned ndim, unsigned reserved, const uint64_t *dims, size_t data,
                       const char *word)
{
    bytes b = {0};
    uint64_t one[1] = {1};
    b_meta(&b, NULL);
    b_u32(&b, 2);
    b_tensor_hdr(&b, HR_WIRE_F32, 1, 0, one);
    b_u32(&b, 0);
    b_tensor_hdr(&b, dtype, ndim, reserved, dims);
    for (size_t i = 0; i < data; i++)
        b_u8(&b, 0);
    expect_bad(HR_MSG_FORWARD, &b, HR_ERR_FORMAT, word);
    free(b.p);
}

static void test_tensor_fields(void **state)
{
    const uint64_t two31 = (uint64_t)1 << 31;
    uint64_t d[4] = {2, 2, 2, 2};
    (void)state;
    tensor_bad(0, 1, 0, d, 16, "tensor 1: dtype 0 unknown");
    tensor_bad(4, 1, 0, d, 16, "tensor 1: dtype 4 unknown");
    tensor_bad(255, 1, 0, d, 16, "tensor 1: dtype 255 unknown");
    tensor_bad(HR_WIRE_F32, 0, 0, d, 16, "tensor 1: ndim 0 out of range");
    tensor_bad(HR_WIRE_F32, 5, 0, d, 16, "tensor 1: ndim 5 out of range");
    tensor_bad(HR_WIRE_F32, 255, 0, d, 0, "tensor 1: ndim 255");
    tensor_bad(HR_WIRE_F32, 1, 1, d, 8, "tensor 1: reserved field = 0x0001");
    tensor_bad(HR_WIRE_F32, 1, 0x8000, d, 8, "reserved");

    uint64_t neg[3] = {1, 1, (uint64_t)-5};
    tensor_bad(HR_WIRE_F32, 3, 0, neg, 0, "frame: tensor 1: dim 2 = -5 out of range");
    uint64_t big[2] = {two31 + 1, 1};
    tensor_bad(HR_WIRE_U8, 2, 0, big, 0, "dim 0 = 2147483649 out of range");
    uint64_t huge[1] = {UINT64_MAX / 2};
    tensor_bad(HR_WIRE_U8, 1, 0, huge, 0, "dim 0 = 9223372036854775807");

    /* products that overflow 64 bits must be caught, not wrapped */
    uint64_t over[4] = {two31, two31, two31, two31};
    tensor_bad(HR_WIRE_I64, 4, 0, over, 64, "i64 [2147483648, 2147483648, 2147483648, 2147483648] is larger");
    uint64_t wrap[3] = {two31, two31, 4}; /* 2^64 elements of u8: wraps to 0 */
    tensor_bad(HR_WIRE_U8, 3, 0, wrap, 0, "larger than any frame");
    uint64_t wrap2[2] = {two31, two31}; /* × 4 bytes = 2^64: wraps to 0 */
    tensor_bad(HR_WIRE_F32, 2, 0, wrap2, 0, "larger than any frame");
    uint64_t zero_first[4] = {0, two31, two31, two31}; /* empty, but its strides overflow */
    tensor_bad(HR_WIRE_F32, 4, 0, zero_first, 0, "larger than any frame");

    /* more elements than bytes left, by one */
    uint64_t six[2] = {2, 3};
    tensor_bad(HR_WIRE_F32, 2, 0, six, 23, "f32 [2, 3] needs 24 bytes, only 23 remain");
    /* dims cut short */
    {
        bytes b = {0};
        b_meta(&b, NULL);
        b_u32(&b, 1);
        b_u8(&b, HR_WIRE_F32);
        b_u8(&b, 3);
        b_u16(&b, 0);
        b_u64(&b, 1);
        expect_bad(HR_MSG_FORWARD, &b, HR_ERR_FORMAT, "tensor 0: 3 dims need 24 bytes, only 8 remain");
        free(b.p);
    }
}

static void test_decode_args(void **state)
{
    hr_frame_header h = {1, HR_MSG_ACK, 0, 8};
    uint8_t p[8] = {0};
    hr_msg m;
    hr_error err;
    (void)state;
    hr_msg_init(&m);
    assert_int_equal(hr_msg_decode(NULL, p, &m, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_msg_decode(&h, NULL, &m, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_msg_decode(&h, p, NULL, &err), HR_ERR_INVALID_ARG);
    h.type = (hr_msg_type)99;
    assert_int_equal(hr_msg_decode(&h, p, &m, &err), HR_ERR_FORMAT);
    h.type = HR_MSG_ACK;
    h.length = HR_PROTO_MAX_PAYLOAD + 1;
    assert_int_equal(hr_msg_decode(&h, p, &m, &err), HR_ERR_LIMIT);
    h.length = 0;
    assert_int_equal(hr_msg_decode(&h, NULL, &m, &err), HR_ERR_FORMAT);
    expect_msg(&err, "no room for meta_len");
    h.length = 8;
    HR_ASSERT_OK(hr_msg_decode(&h, p, &m, NULL), NULL);
    assert_null(m.meta);
    assert_int_equal(m.ntensors, 0);
    hr_msg_deinit(&m);
}

/* ---- encoder refusals ---------------------------------------------------- */

static void encode_bad(int type, const char *meta, const hr_wire_tensor *t, int n, hr_status want, const char *word)
{
    uint8_t *buf = (uint8_t *)(uintptr_t)1;
    size_t len = 12345;
    hr_error err;
    hr_error_clear(&err);
    hr_status st = hr_msg_encode((hr_msg_type)type, 5, meta, t, n, &buf, &len, &err);
    if (st != want) {
        print_error("encode: status %d (%s), wanted %d (%s)\n", (int)st, err.msg, (int)want, word);
        fail();
    }
    expect_msg(&err, word);
    assert_ptr_equal(buf, (uint8_t *)(uintptr_t)1);
    assert_int_equal(len, 12345);
}

static void test_encode_refusals(void **state)
{
    float x[4] = {0};
    hr_wire_tensor ok = {HR_WIRE_F32, 1, {4}, x, 16}, t[3];
    (void)state;
    t[0] = t[1] = t[2] = ok;

    encode_bad(0, NULL, NULL, 0, HR_ERR_INVALID_ARG, "type 0 unknown");
    encode_bad(HR_MSG_TYPE_COUNT, NULL, NULL, 0, HR_ERR_INVALID_ARG, "unknown");
    encode_bad(HR_MSG_FORWARD, NULL, t, 0, HR_ERR_INVALID_ARG, "forward takes 1..2 tensors, got 0");
    encode_bad(HR_MSG_FORWARD, NULL, t, 3, HR_ERR_INVALID_ARG, "got 3");
    encode_bad(HR_MSG_HELLO, NULL, t, 1, HR_ERR_INVALID_ARG, "hello takes 0..0");
    encode_bad(HR_MSG_FORWARD, NULL, NULL, 1, HR_ERR_INVALID_ARG, "NULL");
    encode_bad(HR_MSG_FORWARD, NULL, t, -1, HR_ERR_INVALID_ARG, "got -1");

    t[1].dtype = (hr_wire_dtype)9;
    encode_bad(HR_MSG_FORWARD, NULL, t, 2, HR_ERR_INVALID_ARG, "tensor 1: dtype 9 unknown");
    t[1] = ok;
    t[1].ndim = 5;
    encode_bad(HR_MSG_FORWARD, NULL, t, 2, HR_ERR_INVALID_ARG, "tensor 1: ndim 5");
    t[1] = ok;
    t[1].shape[0] = -1;
    encode_bad(HR_MSG_FORWARD, NULL, t, 2, HR_ERR_INVALID_ARG, "tensor 1: dim 0 = -1");
    t[1] = ok;
    t[1].shape[0] = HR_PROTO_MAX_DIM + 1;
    encode_bad(HR_MSG_FORWARD, NULL, t, 2, HR_ERR_INVALID_ARG, "dim 0 = 2147483649");
    t[1] = ok;
    t[1].nbytes = 15;
    encode_bad(HR_MSG_FORWARD, NULL, t, 2, HR_ERR_INVALID_ARG, "tensor 1: nbytes 15");
    t[1] = ok;
    t[1].data = NULL;
    encode_bad(HR_MSG_FORWARD, NULL, t, 2, HR_ERR_INVALID_ARG, "tensor 1: data is NULL");
    t[1] = ok;
    t[1].ndim = 4;
    t[1].shape[0] = t[1].shape[1] = t[1].shape[2] = t[1].shape[3] = HR_PROTO_MAX_DIM;
    encode_bad(HR_MSG_FORWARD, NULL, t, 2, HR_ERR_LIMIT, "tensor 1: f32 [2147483648, 2147483648, 2147483648, 2147483648] is larger");
    t[1] = ok;

    encode_bad(HR_MSG_FORWARD, "[1]", t, 1, HR_ERR_INVALID_ARG, "not a JSON object");
    encode_bad(HR_MSG_FORWARD, "{\"a\":1,\"a\":1}", t, 1, HR_ERR_INVALID_ARG, "duplicate");
    encode_bad(HR_MSG_FORWARD, "{", t, 1, HR_ERR_INVALID_ARG, "meta");
    encode_bad(HR_MSG_FORWARD, "{\"a\":\"\xff\"}", t, 1, HR_ERR_INVALID_ARG, "meta");

    char *big = malloc(HR_PROTO_MAX_META + 2);
    assert_non_null(big);
    memset(big, ' ', HR_PROTO_MAX_META + 1);
    big[0] = '{';
    big[HR_PROTO_MAX_META] = '}';
    big[HR_PROTO_MAX_META + 1] = '\0';
    encode_bad(HR_MSG_ACK, big, NULL, 0, HR_ERR_LIMIT, "1048577");
    assert_int_equal(hr_msg_payload_size(big, NULL, 0), 0);
    free(big);

    /* one byte over the frame limit (the data is never read) */
    uint8_t dummy;
    hr_wire_tensor u = {HR_WIRE_U8, 1, {HR_PROTO_MAX_PAYLOAD - 8 - 12 + 1}, &dummy, HR_PROTO_MAX_PAYLOAD - 8 - 12 + 1};
    encode_bad(HR_MSG_LINK_PROBE, NULL, &u, 1, HR_ERR_LIMIT, "67108865 bytes over the limit");
    assert_int_equal(hr_msg_payload_size(NULL, &u, 1), HR_PROTO_MAX_PAYLOAD + 1);

    /* payload_size agrees with the encoder's checks */
    assert_int_equal(hr_msg_payload_size(NULL, t, 17), 0);
    assert_int_equal(hr_msg_payload_size(NULL, NULL, 1), 0);
    assert_int_equal(hr_msg_payload_size(NULL, NULL, 0), 8);
    t[0].nbytes = 3;
    assert_int_equal(hr_msg_payload_size(NULL, t, 1), 0);

    uint8_t *buf;
    size_t len;
    hr_error err;
    assert_int_equal(hr_msg_encode(HR_MSG_ACK, 0, NULL, NULL, 0, NULL, &len, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_msg_encode(HR_MSG_ACK, 0, NULL, NULL, 0, &buf, NULL, &err), HR_ERR_INVALID_ARG);
}

/* A frame of exactly HR_PROTO_MAX_PAYLOAD bytes goes through both ways. */
static void test_largest_frame(void **state)
{
    size_t n = HR_PROTO_MAX_PAYLOAD - 8 - 12;
    uint8_t *data = malloc(n), *buf = NULL;
    size_t len = 0;
    hr_wire_tensor u = {HR_WIRE_U8, 1, {(int64_t)n}, data, n};
    hr_frame_header h;
    hr_msg m;
    hr_error err;
    (void)state;
    assert_non_null(data);
    for (size_t i = 0; i < n; i += 4096)
        data[i] = (uint8_t)(i >> 12);
    data[n - 1] = 0xab;
    HR_ASSERT_OK(hr_msg_encode(HR_MSG_LINK_PROBE, 9, NULL, &u, 1, &buf, &len, &err), &err);
    assert_int_equal(len, HR_PROTO_HEADER_SIZE + HR_PROTO_MAX_PAYLOAD);
    HR_ASSERT_OK(hr_frame_header_decode(buf, 0, &h, &err), &err);
    assert_int_equal(h.length, HR_PROTO_MAX_PAYLOAD);
    assert_int_equal(hr_frame_header_decode(buf, HR_PROTO_MAX_PAYLOAD - 1, &h, &err), HR_ERR_LIMIT);
    hr_msg_init(&m);
    HR_ASSERT_OK(hr_msg_decode(&h, buf + HR_PROTO_HEADER_SIZE, &m, &err), &err);
    assert_int_equal(m.tensor[0].nbytes, n);
    assert_memory_equal(m.tensor[0].data, data, n);
    hr_msg_deinit(&m);
    free(buf);
    free(data);
}

/* ---- blobs --------------------------------------------------------------- */

static void test_sha256(void **state)
{
    char hex[65];
    (void)state;
    hr_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hr_sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static uint8_t *blob_data(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    uint64_t s = n;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd(&s);
    return p;
}

static void test_blob_in_order(void **state)
{
    const size_t total = 100000;
    uint8_t *src = blob_data(total);
    char sha[65], upper[65];
    hr_blob_rx *b = NULL;
    hr_error err;
    void *out = NULL;
    size_t n = 0, off = 0;
    (void)state;

    hr_sha256_hex(src, total, sha);
    for (int i = 0; i < 65; i++)
        upper[i] = (char)((sha[i] >= 'a' && sha[i] <= 'f') ? sha[i] - 'a' + 'A' : sha[i]);
    HR_ASSERT_OK(hr_blob_rx_create(total, 7, upper, total, &b, &err), &err);
    for (uint32_t c = 0; c < 7; c++) {
        size_t len = c < 6 ? 14000 : total - off;
        assert_false(hr_blob_rx_complete(b));
        assert_int_equal(hr_blob_rx_finish(b, &out, &n, &err), HR_ERR_FORMAT);
        expect_msg(&err, "incomplete");
        HR_ASSERT_OK(hr_blob_rx_add(b, c, src + off, len, &err), &err);
        off += len;
    }
    assert_true(hr_blob_rx_complete(b));
    HR_ASSERT_OK(hr_blob_rx_finish(b, &out, &n, &err), &err);
    assert_int_equal(n, total);
    assert_memory_equal(out, src, total);
    assert_int_equal(hr_blob_rx_finish(b, &out, &n, &err), HR_ERR_INVALID_ARG);
    hr_blob_rx_destroy(b);
    hr_blob_rx_destroy(NULL);
    free(out);

    /* an empty blob: one empty chunk, a freeable pointer */
    hr_sha256_hex(NULL, 0, sha);
    HR_ASSERT_OK(hr_blob_rx_create(0, 1, sha, 0, &b, &err), &err);
    HR_ASSERT_OK(hr_blob_rx_add(b, 0, NULL, 0, &err), &err);
    HR_ASSERT_OK(hr_blob_rx_finish(b, &out, &n, &err), &err);
    assert_non_null(out);
    assert_int_equal(n, 0);
    free(out);
    hr_blob_rx_destroy(b);
    free(src);
}

static void test_blob_errors(void **state)
{
    const size_t total = 300;
    uint8_t *src = blob_data(total);
    char sha[65], wrong[65];
    hr_blob_rx *b = NULL;
    hr_error err;
    void *out = NULL;
    size_t n = 0;
    (void)state;
    hr_sha256_hex(src, total, sha);

    /* out of order, duplicate, a failed add changes nothing */
    HR_ASSERT_OK(hr_blob_rx_create(total, 3, sha, 1000, &b, &err), &err);
    assert_int_equal(hr_blob_rx_add(b, 1, src, 100, &err), HR_ERR_FORMAT);
    expect_msg(&err, "chunk 1 arrived, expected chunk 0 of 3");
    HR_ASSERT_OK(hr_blob_rx_add(b, 0, src, 100, &err), &err);
    assert_int_equal(hr_blob_rx_add(b, 0, src, 100, &err), HR_ERR_FORMAT);
    expect_msg(&err, "duplicate");
    assert_int_equal(hr_blob_rx_add(b, 2, src + 100, 100, &err), HR_ERR_FORMAT);
    expect_msg(&err, "chunk 2 arrived, expected chunk 1");
    /* overflow past the total */
    assert_int_equal(hr_blob_rx_add(b, 1, src + 100, 201, &err), HR_ERR_FORMAT);
    expect_msg(&err, "201 bytes at offset 100 overruns the total of 300");
    HR_ASSERT_OK(hr_blob_rx_add(b, 1, src + 100, 100, &err), &err);
    /* the last chunk must end exactly at the total */
    assert_int_equal(hr_blob_rx_add(b, 2, src + 200, 99, &err), HR_ERR_FORMAT);
    expect_msg(&err, "last chunk 2 ends at 299 bytes, the total is 300");
    HR_ASSERT_OK(hr_blob_rx_add(b, 2, src + 200, 100, &err), &err);
    assert_int_equal(hr_blob_rx_add(b, 3, src, 1, &err), HR_ERR_FORMAT);
    expect_msg(&err, "after all 3 chunks");
    HR_ASSERT_OK(hr_blob_rx_finish(b, &out, &n, &err), &err);
    assert_memory_equal(out, src, total);
    free(out);
    hr_blob_rx_destroy(b);

    /* wrong digest: finish names both */
    memcpy(wrong, sha, 65);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    HR_ASSERT_OK(hr_blob_rx_create(total, 1, wrong, 1000, &b, &err), &err);
    HR_ASSERT_OK(hr_blob_rx_add(b, 0, src, total, &err), &err);
    out = NULL;
    assert_int_equal(hr_blob_rx_finish(b, &out, &n, &err), HR_ERR_FORMAT);
    expect_msg(&err, sha);
    expect_msg(&err, wrong);
    assert_null(out);
    hr_blob_rx_destroy(b);

    /* one flipped byte of data */
    src[150] ^= 1;
    HR_ASSERT_OK(hr_blob_rx_create(total, 2, sha, 1000, &b, &err), &err);
    HR_ASSERT_OK(hr_blob_rx_add(b, 0, src, 150, &err), &err);
    HR_ASSERT_OK(hr_blob_rx_add(b, 1, src + 150, 150, &err), &err);
    assert_int_equal(hr_blob_rx_finish(b, &out, &n, &err), HR_ERR_FORMAT);
    expect_msg(&err, "SHA-256");
    hr_blob_rx_destroy(b);

    /* creation: limit, counts, digest text */
    b = (hr_blob_rx *)(uintptr_t)1;
    assert_int_equal(hr_blob_rx_create(1001, 1, sha, 1000, &b, &err), HR_ERR_LIMIT);
    expect_msg(&err, "1001 bytes over the limit of 1000");
    assert_int_equal(hr_blob_rx_create(UINT64_MAX, 1, sha, UINT64_MAX - 1, &b, &err), HR_ERR_LIMIT);
    assert_int_equal(hr_blob_rx_create(10, 0, sha, 1000, &b, &err), HR_ERR_FORMAT);
    expect_msg(&err, "0 chunks for 10 bytes");
    assert_int_equal(hr_blob_rx_create(10, 11, sha, 1000, &b, &err), HR_ERR_FORMAT);
    assert_int_equal(hr_blob_rx_create(0, 2, sha, 1000, &b, &err), HR_ERR_FORMAT);
    assert_int_equal(hr_blob_rx_create(10, 1, "abc", 1000, &b, &err), HR_ERR_FORMAT);
    expect_msg(&err, "\"abc\" is not 64 hex digits");
    memcpy(wrong, sha, 65);
    wrong[63] = 'g';
    assert_int_equal(hr_blob_rx_create(10, 1, wrong, 1000, &b, &err), HR_ERR_FORMAT);
    assert_int_equal(hr_blob_rx_create(10, 1, NULL, 1000, &b, &err), HR_ERR_FORMAT);
    assert_ptr_equal(b, (hr_blob_rx *)(uintptr_t)1);
    free(src);
}

/* ---- mutation loop ------------------------------------------------------- */

/* Frames of several types to mutate. */
static void seed_frames(uint8_t **frames, size_t *lens, int *count)
{
    uint64_t seed = 99;
    static const struct { int type, n; const char *meta; } seeds[] = {
        {HR_MSG_HELLO, 0, "{\"protocol\": 1, \"role\": \"client\", \"name\": \"tx2\", \"software\": \"hyperrep 0.1.0\"}"},
        {HR_MSG_ERROR, 0, "{\"status\": 4, \"message\": \"frame: type 77 unknown\"}"},
        {HR_MSG_FORWARD, 2, "{\"step\": 3}"},
        {HR_MSG_BACKWARD, 1, "{\"loss\": 0.25}"},
        {HR_MSG_MODEL_SYNC, 3, NULL},
        {HR_MSG_EVAL_RESULT, 1, "{\"correct\": 7, \"n\": 8}"},
        {HR_MSG_LINK_PROBE, 1, NULL},
    };
    *count = (int)(sizeof seeds / sizeof seeds[0]);
    for (int i = 0; i < *count; i++) {
        owned_tensors o;
        hr_error err;
        make_tensors(&o, seeds[i].n, i, &seed);
        HR_ASSERT_OK(hr_msg_encode((hr_msg_type)seeds[i].type, (uint32_t)i, seeds[i].meta, o.t, o.n, &frames[i],
                                   &lens[i], &err),
                     &err);
        free_tensors(&o);
    }
}

static void mutate(uint8_t *buf, size_t *len, size_t cap, uint64_t *s)
{
    static const uint64_t interesting[] = {0, 1, 2, 4, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000u, 0xffffffffu,
                                           (uint64_t)1 << 31, ((uint64_t)1 << 31) + 1, UINT64_MAX, UINT64_MAX / 2};
    int rounds = 1 + (int)(rnd(s) % 4);
    for (int r = 0; r < rounds; r++) {
        size_t n = *len;
        size_t at = n ? (size_t)(rnd(s) % n) : 0;
        switch (rnd(s) % 7) {
        case 0: /* flip a bit */
            if (n)
                buf[at] ^= (uint8_t)(1u << (rnd(s) % 8));
            break;
        case 1: /* random byte */
            if (n)
                buf[at] = (uint8_t)rnd(s);
            break;
        case 2: { /* an interesting value of 1, 2, 4 or 8 bytes */
            uint64_t v = interesting[rnd(s) % (sizeof interesting / sizeof interesting[0])];
            size_t w = (size_t)1 << (rnd(s) % 4);
            for (size_t k = 0; k < w && at + k < n; k++)
                buf[at + k] = (uint8_t)(v >> (8 * k));
            break;
        }
        case 3: /* truncate */
            *len = n ? (size_t)(rnd(s) % n) : 0;
            break;
        case 4: /* delete a run */
            if (n) {
                size_t k = 1 + (size_t)(rnd(s) % 8);
                if (at + k > n)
                    k = n - at;
                memmove(buf + at, buf + at + k, n - at - k);
                *len = n - k;
            }
            break;
        case 5: /* insert random bytes */
            if (n + 8 <= cap) {
                size_t k = 1 + (size_t)(rnd(s) % 8);
                memmove(buf + at + k, buf + at, n - at);
                for (size_t j = 0; j < k; j++)
                    buf[at + j] = (uint8_t)rnd(s);
                *len = n + k;
            }
            break;
        default: /* make the header's length agree with the bytes present */
            if (n >= HR_PROTO_HEADER_SIZE) {
                uint32_t l = (uint32_t)(n - HR_PROTO_HEADER_SIZE);
                for (int k = 0; k < 4; k++)
                    buf[12 + k] = (uint8_t)(l >> (8 * k));
            }
            break;
        }
    }
}

static void test_mutations(void **state)
{
    uint8_t *frames[8];
    size_t lens[8];
    int nframes, decoded = 0, ok = 0;
    uint64_t s = 20240601;
    (void)state;
    seed_frames(frames, lens, &nframes);
    for (int iter = 0; iter < 20000; iter++) {
        int f = (int)(rnd(&s) % (uint64_t)nframes);
        size_t cap = lens[f] + 64, len = lens[f];
        uint8_t *buf = malloc(cap);
        hr_frame_header h;
        hr_error err;
        hr_status st;
        assert_non_null(buf);
        memcpy(buf, frames[f], len);
        mutate(buf, &len, cap, &s);
        if (len < HR_PROTO_HEADER_SIZE) {
            free(buf);
            continue;
        }
        st = hr_frame_header_decode(buf, 1u << 20, &h, &err);
        assert_true(st == HR_OK || st == HR_ERR_FORMAT || st == HR_ERR_UNSUPPORTED || st == HR_ERR_LIMIT);
        if (st == HR_OK && h.length <= len - HR_PROTO_HEADER_SIZE) {
            /* the decoder sees exactly h.length heap bytes */
            uint8_t *payload = malloc(h.length ? h.length : 1);
            hr_msg m;
            assert_non_null(payload);
            memcpy(payload, buf + HR_PROTO_HEADER_SIZE, h.length);
            hr_msg_init(&m);
            st = hr_msg_decode(&h, payload, &m, &err);
            assert_true(st == HR_OK || st == HR_ERR_FORMAT || st == HR_ERR_LIMIT);
            if (st != HR_OK)
                assert_true(err.msg[0] != '\0');
            decoded++;
            if (st == HR_OK) {
                uint8_t *again = NULL;
                size_t len2 = 0;
                ok++;
                HR_ASSERT_OK(hr_msg_encode(m.type, m.id, m.meta, m.tensor, m.ntensors, &again, &len2, &err), &err);
                assert_int_equal(len2, HR_PROTO_HEADER_SIZE + h.length);
                assert_memory_equal(again, buf, len2);
                free(again);
            }
            hr_msg_deinit(&m);
            free(payload);
        }
        free(buf);
    }
    /* the loop must actually reach the payload decoder, both ways */
    assert_true(decoded > 1000);
    assert_true(ok > 100);
    for (int i = 0; i < nframes; i++)
        free(frames[i]);
}

/* The hello: what one side encodes the other decodes; every malformed
 * form is refused with the field named, another protocol is unsupported,
 * and names are made printable for the logs. */
static void test_hello(void **state)
{
    (void)state;
    hr_hello h;
    hr_error err = {0};
    char *meta = NULL;
    static const struct {
        const char *meta;
        hr_status st;
        const char *part;
    } bad[] = {
        {NULL, HR_ERR_FORMAT, "integer \"protocol\""},
        {"", HR_ERR_FORMAT, "integer \"protocol\""},
        {"[1]", HR_ERR_FORMAT, "integer \"protocol\""},
        {"{\"role\": \"client\"}", HR_ERR_FORMAT, "integer \"protocol\""},
        {"{\"protocol\": \"1\"}", HR_ERR_FORMAT, "integer \"protocol\""},
        {"{\"protocol\": 1, \"protocol\": 1}", HR_ERR_FORMAT, "integer \"protocol\""},
        {"{\"protocol\": 1, \"role\": 7}", HR_ERR_FORMAT, "\"role\" must be a string"},
        {"{\"protocol\": 1, \"name\": null}", HR_ERR_FORMAT, "\"name\" must be a string"},
        {"{\"protocol\": 1, \"software\": {}}", HR_ERR_FORMAT, "\"software\" must be a string"},
        {"{\"protocol\": 2, \"role\": \"client\"}", HR_ERR_UNSUPPORTED, "protocol 2 is not supported"},
    };
    HR_ASSERT_OK(hr_hello_encode("infer", "cam-7", &meta, &err), &err);
    HR_ASSERT_OK(hr_hello_decode(meta, &h, &err), &err);
    assert_int_equal(h.protocol, HR_PROTO_VERSION);
    assert_string_equal(h.role, "infer");
    assert_string_equal(h.name, "cam-7");
    assert_non_null(strstr(h.software, "hyperrep "));
    free(meta);
    /* absent fields read "?"; control characters and non-ASCII become '?' */
    HR_ASSERT_OK(hr_hello_decode("{\"protocol\": 1, \"name\": \"a\\nb\\u00e9\"}", &h, &err), &err);
    assert_string_equal(h.role, "?");
    assert_string_equal(h.name, "a?b??");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(hr_hello_decode(bad[i].meta, &h, &err), bad[i].st);
        if (!strstr(err.msg, bad[i].part))
            fail_msg("hello %s: '%s' does not name '%s'", bad[i].meta ? bad[i].meta : "(none)", err.msg, bad[i].part);
    }
    /* a name that is not UTF-8 cannot be sent */
    assert_int_equal(hr_hello_encode("client", "\xff\xfe", &meta, &err), HR_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_frame),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_round_trip_max_tensors),
        cmocka_unit_test(test_empty_tensor_bounds),
        cmocka_unit_test(test_wire_from_tensor),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_tensor_count),
        cmocka_unit_test(test_tensor_fields),
        cmocka_unit_test(test_decode_args),
        cmocka_unit_test(test_encode_refusals),
        cmocka_unit_test(test_largest_frame),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_blob_in_order),
        cmocka_unit_test(test_blob_errors),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
