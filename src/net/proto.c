/* The wire codec: frame headers and message payloads (include/hyperrep/proto.h,
 * docs/PROTOCOL.md).
 *
 * Everything here is pure: bytes in, bytes or a decoded message out, no I/O,
 * so the same code runs under the unit tests, the channel and the fuzzer.
 * Every multi-byte field is read and written byte by byte in little-endian
 * order, whatever the host. Decoding validates the whole payload before it
 * allocates anything, and what it allocates is bounded by the payload length
 * (itself bounded by the header check), so a hostile peer can make us spend at
 * most about one payload's worth of memory per frame. */
#include "hyperrep/proto.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORAGE_ALIGN 64

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_IS_LE 1
#else
#define HOST_IS_LE 0
#endif

typedef struct msg_row {
    int id;
    const char *name;
    int lo, hi; /* tensor count bounds */
} msg_row;

static const msg_row MSG_TABLE[] = {
#define HR_MSG(e, id, name, lo, hi) {id, name, lo, hi},
#include "hyperrep/msg.def"
#undef HR_MSG
};

/* The table row of a wire id, NULL when there is none. The table is short and
 * ids may in principle have gaps, so a scan beats an index. */
static const msg_row *find_type(int id)
{
    for (size_t i = 0; i < sizeof MSG_TABLE / sizeof MSG_TABLE[0]; i++)
        if (MSG_TABLE[i].id == id)
            return &MSG_TABLE[i];
    return NULL;
}

const char *hr_msg_type_name(int type)
{
    const msg_row *r = find_type(type);
    return r ? r->name : "unknown";
}

size_t hr_wire_dtype_size(int dtype)
{
    switch (dtype) {
    case HR_WIRE_F32: return 4;
    case HR_WIRE_I64: return 8;
    case HR_WIRE_U8: return 1;
    default: return 0;
    }
}

const char *hr_wire_dtype_name(int dtype)
{
    switch (dtype) {
    case HR_WIRE_F32: return "f32";
    case HR_WIRE_I64: return "i64";
    case HR_WIRE_U8: return "u8";
    default: return "unknown";
    }
}

/* ---- little-endian helpers --------------------------------------------- */

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Two's-complement reinterpretation without relying on the implementation-
 * defined conversion of out-of-range unsigned values. */
static int64_t u64_to_i64(uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;
}

/* Copies n elements of `size` bytes from little-endian wire order to host
 * order (the conversion is its own inverse, so it serves both directions).
 * On little-endian hosts that is a plain copy; elsewhere each element goes
 * through an integer of its width, which assumes only that floats share the
 * integers' byte order (true of every platform we target). */
static void copy_le(void *dst, const void *src, size_t n, size_t size)
{
    if (HOST_IS_LE || size == 1) {
        if (n)
            memcpy(dst, src, n * size);
        return;
    }
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++, s += size, d += size) {
        if (size == 4) {
            uint32_t v = get_u32(s);
            memcpy(d, &v, 4);
        } else {
            uint64_t v = get_u64(s);
            memcpy(d, &v, 8);
        }
    }
}

/* Host-to-wire: the same byte reversal as copy_le, with the integer read
 * from host memory and written byte-wise. */
static void put_le(uint8_t *dst, const void *src, size_t n, size_t size)
{
    if (HOST_IS_LE || size == 1) {
        if (n)
            memcpy(dst, src, n * size);
        return;
    }
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++, s += size, dst += size) {
        if (size == 4) {
            uint32_t v;
            memcpy(&v, s, 4);
            put_u32(dst, v);
        } else {
            uint64_t v;
            memcpy(&v, s, 8);
            put_u64(dst, v);
        }
    }
}

/* ---- shapes ------------------------------------------------------------ */

/* Bytes of a tensor of this shape, in *out (0 when a dimension is 0).
 * Returns 0, without forming any product that could overflow, when the
 * non-zero dimensions times the element size exceed HR_PROTO_MAX_PAYLOAD.
 * That bound applies to empty tensors too: a [0, 2^31, 2^31, 2^31] tensor
 * holds nothing, but its strides and per-sample sizes would overflow int64
 * in whoever computes them, so no such shape gets past the codec. Dims must
 * already be within 0..HR_PROTO_MAX_DIM. */
static int shape_bytes(int ndim, const int64_t *shape, size_t elem, uint64_t *out)
{
    uint64_t n = elem;
    int empty = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d == 0) {
            empty = 1;
            continue;
        }
        if (n > HR_PROTO_MAX_PAYLOAD / d)
            return 0;
        n *= d;
    }
    *out = empty ? 0 : n;
    return 1;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && off + 1 < size; i++) {
        int k = snprintf(buf + off, size - off, "%s%lld", i ? ", " : "[", (long long)shape[i]);
        if (k < 0)
            return;
        off += (size_t)k;
    }
    if (off + 1 < size)
        snprintf(buf + off, size - off, "]");
}

/* ---- tensors <-> hr_tensor --------------------------------------------- */

hr_wire_tensor hr_wire_from_tensor(const hr_tensor *t)
{
    hr_wire_tensor w;
    memset(&w, 0, sizeof w);
    w.dtype = HR_WIRE_F32;
    /* ndim 0 marks an unusable view; hr_msg_encode rejects it by index. */
    if (!t || t->ndim < 1 || t->ndim > HR_MAX_DIMS || !hr_tensor_is_contiguous(t))
        return w;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return w;
        w.shape[i] = t->shape[i];
    }
    w.ndim = t->ndim;
    w.data = t->data;
    w.nbytes = (size_t)hr_tensor_numel(t) * sizeof(float);
    return w;
}

hr_status hr_wire_to_tensor(const hr_wire_tensor *w, const char *what, hr_tensor *out, hr_error *err)
{
    uint64_t bytes;
    if (!what)
        what = "tensor";
    if (!w || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: NULL argument", what);
    if (w->dtype != HR_WIRE_F32)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: dtype %s (%d), expected f32", what,
                            hr_wire_dtype_name((int)w->dtype), (int)w->dtype);
    if (w->ndim < 1 || w->ndim > HR_MAX_DIMS)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: ndim %d out of range 1..%d", what, w->ndim, HR_MAX_DIMS);
    for (int i = 0; i < w->ndim; i++)
        if (w->shape[i] < 0 || w->shape[i] > HR_PROTO_MAX_DIM)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: dim %d = %lld out of range", what, i,
                                (long long)w->shape[i]);
    if (!shape_bytes(w->ndim, w->shape, 4, &bytes) || bytes != w->nbytes)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %zu bytes do not match its shape", what, w->nbytes);
    if (bytes && !w->data)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: no data", what);
    *out = hr_tensor_view(w->data, w->ndim, w->shape);
    return HR_OK;
}

/* ---- header ------------------------------------------------------------ */

hr_status hr_frame_header_decode(const uint8_t *bytes, uint32_t max_payload, hr_frame_header *out, hr_error *err)
{
    static const uint8_t magic[4] = {0x48, 0x52, 0x50, 0x31};
    uint16_t type;
    uint32_t length;

    if (!bytes || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "frame: NULL argument");
    if (max_payload == 0 || max_payload > HR_PROTO_MAX_PAYLOAD)
        max_payload = HR_PROTO_MAX_PAYLOAD;
    if (memcmp(bytes, magic, 4) != 0)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: magic %02x %02x %02x %02x is not \"HRP1\"", bytes[0],
                            bytes[1], bytes[2], bytes[3]);
    if (bytes[4] != HR_PROTO_VERSION)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "frame: protocol version %u, this side speaks %d", bytes[4],
                            HR_PROTO_VERSION);
    if (bytes[5] != 0)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: flags 0x%02x, must be 0", bytes[5]);
    type = get_u16(bytes + 6);
    if (!find_type(type))
        return hr_error_set(err, HR_ERR_FORMAT, "frame: type %u unknown", type);
    length = get_u32(bytes + 12);
    if (length > max_payload)
        return hr_error_set(err, HR_ERR_LIMIT, "frame: %s payload length %lu over the limit of %lu bytes",
                            hr_msg_type_name(type), (unsigned long)length, (unsigned long)max_payload);
    out->version = bytes[4];
    out->type = (hr_msg_type)type;
    out->id = get_u32(bytes + 8);
    out->length = length;
    return HR_OK;
}

/* ---- messages ---------------------------------------------------------- */

void hr_msg_init(hr_msg *m)
{
    if (m)
        memset(m, 0, sizeof *m);
}

void hr_msg_deinit(hr_msg *m)
{
    if (!m)
        return;
    free(m->meta);
    free(m->storage);
    hr_msg_init(m);
}

/* Checks that text[0..len) is a JSON object that jansson accepts with
 * duplicate keys rejected (jansson also rejects invalid UTF-8 and escaped
 * NULs). Raw NUL bytes are refused first so the NUL-terminated copy the
 * message keeps means the same as the bytes on the wire. */
static hr_status check_meta(const char *who, const char *text, size_t len, hr_status bad, hr_error *err)
{
    json_error_t je;
    json_t *root;
    const char *nul = memchr(text, '\0', len);

    if (nul)
        return hr_error_set(err, bad, "%s: meta: NUL byte at offset %zu", who, (size_t)(nul - text));
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return hr_error_set(err, bad, "%s: meta: %s (line %d, column %d)", who, je.text, je.line, je.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return hr_error_set(err, bad, "%s: meta is not a JSON object", who);
    }
    json_decref(root);
    return HR_OK;
}

/* What the first pass learns about one tensor of a payload. */
typedef struct tensor_spec {
    int dtype, ndim;
    int64_t shape[HR_MAX_DIMS];
    size_t nbytes;
    const uint8_t *src;
} tensor_spec;

hr_status hr_msg_decode(const hr_frame_header *hdr, const uint8_t *payload, hr_msg *out, hr_error *err)
{
    tensor_spec spec[HR_PROTO_MAX_TENSORS];
    const msg_row *row;
    const uint8_t *p;
    size_t left, meta_len, storage_size = 0;
    uint32_t count;
    hr_msg m;

    if (!hdr || !out || (!payload && hdr->length > 0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "frame: NULL argument");
    row = find_type((int)hdr->type);
    if (!row)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: type %d unknown", (int)hdr->type);
    if (hdr->length > HR_PROTO_MAX_PAYLOAD)
        return hr_error_set(err, HR_ERR_LIMIT, "frame: %s payload length %lu over the limit of %lu bytes",
                            row->name, (unsigned long)hdr->length, (unsigned long)HR_PROTO_MAX_PAYLOAD);
    p = payload;
    left = hdr->length;

    /* Pass 1: validate everything, allocate nothing. */
    if (left < 4)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: %s payload of %zu bytes has no room for meta_len", row->name,
                            left);
    meta_len = get_u32(p);
    p += 4;
    left -= 4;
    if (meta_len > HR_PROTO_MAX_META)
        return hr_error_set(err, HR_ERR_LIMIT, "frame: %s meta_len %zu over the limit of %u bytes", row->name,
                            meta_len, HR_PROTO_MAX_META);
    if (meta_len > left)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: %s meta_len %zu past the end of the payload (%zu bytes remain)",
                            row->name, meta_len, left);
    if (meta_len > 0) {
        char who[64];
        hr_status st;
        snprintf(who, sizeof who, "frame: %s", row->name);
        st = check_meta(who, (const char *)p, meta_len, HR_ERR_FORMAT, err);
        if (st != HR_OK)
            return st;
    }
    const uint8_t *meta_src = p;
    p += meta_len;
    left -= meta_len;

    if (left < 4)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: %s payload ends before the tensor count (%zu bytes remain)",
                            row->name, left);
    count = get_u32(p);
    p += 4;
    left -= 4;
    if (count < (uint32_t)row->lo || count > (uint32_t)row->hi)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: %s tensor count %lu out of range %d..%d", row->name,
                            (unsigned long)count, row->lo, row->hi);

    for (uint32_t i = 0; i < count; i++) {
        tensor_spec *s = &spec[i];
        uint16_t reserved;
        uint64_t bytes = 0;
        size_t elem;

        if (left < 4)
            return hr_error_set(err, HR_ERR_FORMAT, "frame: tensor %lu: header truncated (%zu bytes remain)",
                                (unsigned long)i, left);
        s->dtype = p[0];
        s->ndim = p[1];
        reserved = get_u16(p + 2);
        elem = hr_wire_dtype_size(s->dtype);
        if (elem == 0)
            return hr_error_set(err, HR_ERR_FORMAT, "frame: tensor %lu: dtype %d unknown", (unsigned long)i,
                                s->dtype);
        if (s->ndim < 1 || s->ndim > HR_MAX_DIMS)
            return hr_error_set(err, HR_ERR_FORMAT, "frame: tensor %lu: ndim %d out of range 1..%d",
                                (unsigned long)i, s->ndim, HR_MAX_DIMS);
        if (reserved != 0)
            return hr_error_set(err, HR_ERR_FORMAT, "frame: tensor %lu: reserved field = 0x%04x, must be 0",
                                (unsigned long)i, reserved);
        p += 4;
        left -= 4;
        if (left < (size_t)s->ndim * 8)
            return hr_error_set(err, HR_ERR_FORMAT,
                                "frame: tensor %lu: %d dims need %d bytes, only %zu remain", (unsigned long)i,
                                s->ndim, s->ndim * 8, left);
        for (int d = 0; d < s->ndim; d++) {
            int64_t v = u64_to_i64(get_u64(p + 8 * (size_t)d));
            if (v < 0 || v > HR_PROTO_MAX_DIM)
                return hr_error_set(err, HR_ERR_FORMAT, "frame: tensor %lu: dim %d = %lld out of range 0..%lld",
                                    (unsigned long)i, d, (long long)v, (long long)HR_PROTO_MAX_DIM);
            s->shape[d] = v;
        }
        p += (size_t)s->ndim * 8;
        left -= (size_t)s->ndim * 8;
        if (!shape_bytes(s->ndim, s->shape, elem, &bytes) || bytes > left) {
            char sh[128];
            shape_text(s->ndim, s->shape, sh, sizeof sh);
            if (bytes > left)
                return hr_error_set(err, HR_ERR_FORMAT, "frame: tensor %lu: %s %s needs %llu bytes, only %zu remain",
                                    (unsigned long)i, hr_wire_dtype_name(s->dtype), sh, (unsigned long long)bytes,
                                    left);
            return hr_error_set(err, HR_ERR_FORMAT, "frame: tensor %lu: %s %s is larger than any frame",
                                (unsigned long)i, hr_wire_dtype_name(s->dtype), sh);
        }
        s->nbytes = (size_t)bytes;
        s->src = p;
        p += s->nbytes;
        left -= s->nbytes;
        /* Each block starts on a 64-byte boundary; the sum stays within the
         * payload length plus 63 bytes per tensor, far from overflow. */
        storage_size += (s->nbytes + STORAGE_ALIGN - 1) / STORAGE_ALIGN * STORAGE_ALIGN;
    }
    if (left != 0)
        return hr_error_set(err, HR_ERR_FORMAT, "frame: %s: %zu trailing bytes after the last tensor", row->name,
                            left);

    /* Pass 2: allocate and copy. */
    hr_msg_init(&m);
    m.type = (hr_msg_type)row->id;
    m.id = hdr->id;
    if (meta_len > 0) {
        m.meta = malloc(meta_len + 1);
        if (!m.meta)
            return hr_error_set(err, HR_ERR_NOMEM, "frame: out of memory for %zu bytes of meta", meta_len);
        memcpy(m.meta, meta_src, meta_len);
        m.meta[meta_len] = '\0';
        m.meta_len = meta_len;
    }
    if (storage_size > 0 && posix_memalign(&m.storage, STORAGE_ALIGN, storage_size) != 0) {
        m.storage = NULL;
        hr_msg_deinit(&m);
        return hr_error_set(err, HR_ERR_NOMEM, "frame: out of memory for %zu bytes of tensors", storage_size);
    }
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        hr_wire_tensor *t = &m.tensor[i];
        t->dtype = (hr_wire_dtype)spec[i].dtype;
        t->ndim = spec[i].ndim;
        /* only ndim entries: the rest stay 0, so decoded messages compare */
        memcpy(t->shape, spec[i].shape, (size_t)spec[i].ndim * sizeof t->shape[0]);
        t->nbytes = spec[i].nbytes;
        t->data = spec[i].nbytes ? (uint8_t *)m.storage + off : NULL;
        if (spec[i].nbytes) {
            size_t elem = hr_wire_dtype_size(spec[i].dtype);
            copy_le(t->data, spec[i].src, spec[i].nbytes / elem, elem);
        }
        off += (spec[i].nbytes + STORAGE_ALIGN - 1) / STORAGE_ALIGN * STORAGE_ALIGN;
    }
    m.ntensors = (int)count;
    hr_msg_deinit(out);
    *out = m;
    return HR_OK;
}

/* Checks one tensor handed to the encoder (the same rules as the decoder)
 * and returns its element data size in *bytes; the frame limit is applied to
 * the whole payload afterwards. */
static hr_status check_tensor(const char *who, const hr_wire_tensor *t, int i, uint64_t *bytes, hr_error *err)
{
    size_t elem = hr_wire_dtype_size((int)t->dtype);
    if (elem == 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: tensor %d: dtype %d unknown", who, i, (int)t->dtype);
    if (t->ndim < 1 || t->ndim > HR_MAX_DIMS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: tensor %d: ndim %d out of range 1..%d", who, i, t->ndim,
                            HR_MAX_DIMS);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] < 0 || t->shape[d] > HR_PROTO_MAX_DIM)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: tensor %d: dim %d = %lld out of range 0..%lld", who, i,
                                d, (long long)t->shape[d], (long long)HR_PROTO_MAX_DIM);
    if (!shape_bytes(t->ndim, t->shape, elem, bytes)) {
        char sh[128];
        shape_text(t->ndim, t->shape, sh, sizeof sh);
        return hr_error_set(err, HR_ERR_LIMIT, "%s: tensor %d: %s %s is larger than any frame", who, i,
                            hr_wire_dtype_name((int)t->dtype), sh);
    }
    if (*bytes != t->nbytes) {
        char sh[128];
        shape_text(t->ndim, t->shape, sh, sizeof sh);
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: tensor %d: nbytes %zu, but %s %s holds %llu", who, i,
                            t->nbytes, hr_wire_dtype_name((int)t->dtype), sh, (unsigned long long)*bytes);
    }
    if (*bytes > 0 && !t->data)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: tensor %d: data is NULL", who, i);
    return HR_OK;
}

/* Payload size of a valid argument set, in *size (uint64 so it cannot wrap
 * even on 32-bit hosts). */
static hr_status payload_size(const char *who, size_t meta_len, const hr_wire_tensor *tensors, int n, uint64_t *size, hr_error *err)
{
    uint64_t total = 8 + (uint64_t)meta_len;
    if (n < 0 || n > HR_PROTO_MAX_TENSORS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %d tensors, at most %d", who, n, HR_PROTO_MAX_TENSORS);
    if (n > 0 && !tensors)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %d tensors but the array is NULL", who, n);
    for (int i = 0; i < n; i++) {
        uint64_t bytes;
        hr_status st = check_tensor(who, &tensors[i], i, &bytes, err);
        if (st != HR_OK)
            return st;
        total += 4 + 8 * (uint64_t)tensors[i].ndim + bytes;
    }
    *size = total;
    return HR_OK;
}

size_t hr_msg_payload_size(const char *meta, const hr_wire_tensor *tensors, int n)
{
    size_t meta_len = meta ? strlen(meta) : 0;
    uint64_t size;
    if (meta_len > HR_PROTO_MAX_META || payload_size("encode", meta_len, tensors, n, &size, NULL) != HR_OK || size > SIZE_MAX)
        return 0;
    return (size_t)size;
}

hr_status hr_msg_encode(hr_msg_type type, uint32_t id, const char *meta, const hr_wire_tensor *tensors, int n,
                        uint8_t **out, size_t *out_len, hr_error *err)
{
    const msg_row *row = find_type((int)type);
    size_t meta_len = meta ? strlen(meta) : 0;
    uint64_t size;
    uint8_t *buf, *p;
    char who[64];
    hr_status st;

    if (!out || !out_len)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "encode: NULL output");
    if (!row)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "encode: type %d unknown", (int)type);
    if (n < row->lo || n > row->hi)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "encode: %s takes %d..%d tensors, got %d", row->name, row->lo,
                            row->hi, n);
    if (meta_len > HR_PROTO_MAX_META)
        return hr_error_set(err, HR_ERR_LIMIT, "encode: %s meta of %zu bytes over the limit of %u", row->name,
                            meta_len, HR_PROTO_MAX_META);
    snprintf(who, sizeof who, "encode: %s", row->name);
    st = payload_size(who, meta_len, tensors, n, &size, err);
    if (st != HR_OK)
        return st;
    if (size > HR_PROTO_MAX_PAYLOAD)
        return hr_error_set(err, HR_ERR_LIMIT, "encode: %s payload of %llu bytes over the limit of %u", row->name,
                            (unsigned long long)size, HR_PROTO_MAX_PAYLOAD);
    if (meta_len > 0) {
        st = check_meta(who, meta, meta_len, HR_ERR_INVALID_ARG, err);
        if (st != HR_OK)
            return st;
    }

    buf = malloc(HR_PROTO_HEADER_SIZE + (size_t)size);
    if (!buf)
        return hr_error_set(err, HR_ERR_NOMEM, "encode: %s: out of memory for a %llu-byte frame", row->name,
                            (unsigned long long)size + HR_PROTO_HEADER_SIZE);
    memcpy(buf, "HRP1", 4);
    buf[4] = HR_PROTO_VERSION;
    buf[5] = 0;
    put_u16(buf + 6, (uint16_t)row->id);
    put_u32(buf + 8, id);
    put_u32(buf + 12, (uint32_t)size);
    p = buf + HR_PROTO_HEADER_SIZE;
    put_u32(p, (uint32_t)meta_len);
    p += 4;
    if (meta_len) {
        memcpy(p, meta, meta_len);
        p += meta_len;
    }
    put_u32(p, (uint32_t)n);
    p += 4;
    for (int i = 0; i < n; i++) {
        const hr_wire_tensor *t = &tensors[i];
        size_t elem = hr_wire_dtype_size((int)t->dtype);
        p[0] = (uint8_t)t->dtype;
        p[1] = (uint8_t)t->ndim;
        put_u16(p + 2, 0);
        p += 4;
        for (int d = 0; d < t->ndim; d++, p += 8)
            put_u64(p, (uint64_t)t->shape[d]);
        if (t->nbytes)
            put_le(p, t->data, t->nbytes / elem, elem);
        p += t->nbytes;
    }
    *out = buf;
    *out_len = HR_PROTO_HEADER_SIZE + (size_t)size;
    return HR_OK;
}
