/* The hyperrep wire protocol: frames and typed messages (docs/PROTOCOL.md).
 *
 * A frame is a 16-byte header followed by a payload:
 *
 *   offset size  field
 *   0      4     magic "HRP1" (bytes 0x48 0x52 0x50 0x31)
 *   4      1     version (HR_PROTO_VERSION)
 *   5      1     flags (0; every other value is malformed)
 *   6      2     type (msg.def id), little-endian
 *   8      4     id: a request's id; its reply carries the same id
 *   12     4     payload length, little-endian, at most the receiver's limit
 *                (HR_PROTO_MAX_PAYLOAD unless set lower)
 *
 * The payload of every type has the same layout:
 *
 *   u32 meta_len, then meta_len bytes of metadata: a UTF-8 JSON object
 *       (meta_len 0: no metadata), at most HR_PROTO_MAX_META bytes;
 *   u32 tensor count (the type's bounds in msg.def);
 *   per tensor: u8 dtype (HR_WIRE_*), u8 ndim (1..HR_MAX_DIMS), u16 0,
 *       ndim × i64 dimensions (each 0..2^31), then the elements,
 *       little-endian, packed; the payload ends exactly after the last one.
 *       The product of the non-zero dimensions times the element size is at
 *       most HR_PROTO_MAX_PAYLOAD, even for an empty tensor, so no shape
 *       that passes the codec overflows a stride or size computation.
 *
 * Everything is validated before anything is allocated from it: lengths
 * against the limits, tensor sizes against the bytes that remain. The codec
 * is pure (no I/O) so it can be fuzzed (fuzz/fuzz_frame.c). */
#ifndef HYPERREP_PROTO_H
#define HYPERREP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/error.h"
#include "hyperrep/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HR_PROTO_VERSION 1
#define HR_PROTO_HEADER_SIZE 16
#define HR_PROTO_MAX_PAYLOAD (64u << 20) /* 64 MiB: the hard maximum of any frame */
#define HR_PROTO_MAX_META (1u << 20)     /* 1 MiB of JSON metadata */
#define HR_PROTO_MAX_TENSORS 16
#define HR_PROTO_MAX_DIM (INT64_C(1) << 31) /* largest tensor dimension on the wire */

typedef enum hr_msg_type {
    HR_MSG_NONE = 0,
#define HR_MSG(e, id, name, lo, hi) e = id,
#include "hyperrep/msg.def"
#undef HR_MSG
    HR_MSG_TYPE_COUNT
} hr_msg_type;

/* "forward"; "unknown" for ids outside the table. */
const char *hr_msg_type_name(int type);

typedef enum hr_wire_dtype {
    HR_WIRE_F32 = 1, /* float32 */
    HR_WIRE_I64 = 2, /* int64 (labels) */
    HR_WIRE_U8 = 3,  /* bytes (weights chunks, link probes, images) */
    HR_WIRE_DTYPE_COUNT
} hr_wire_dtype;

/* Size in bytes of one element; 0 for an unknown dtype. */
size_t hr_wire_dtype_size(int dtype);
/* "f32", "i64", "u8"; "unknown" for any other value. */
const char *hr_wire_dtype_name(int dtype);

/* One tensor of a message. In a decoded message data points into the
 * message's own storage (64-byte aligned, native byte order; NULL when the
 * tensor is empty) and shape entries past ndim are 0. */
typedef struct hr_wire_tensor {
    hr_wire_dtype dtype;
    int ndim;
    int64_t shape[HR_MAX_DIMS];
    void *data;
    size_t nbytes;         /* elements × element size */
} hr_wire_tensor;

/* A float32 wire tensor viewing an hr_tensor (which must be contiguous).
 * When t is NULL, not contiguous or has no dimensions the result has ndim 0,
 * which hr_msg_encode rejects (HR_ERR_INVALID_ARG naming the tensor). */
hr_wire_tensor hr_wire_from_tensor(const hr_tensor *t);
/* An hr_tensor view of a float32 wire tensor; HR_ERR_FORMAT naming `what`
 * (NULL: "tensor") when the dtype is not f32, ndim is outside 1..HR_MAX_DIMS
 * or nbytes does not match the shape. */
hr_status hr_wire_to_tensor(const hr_wire_tensor *w, const char *what, hr_tensor *out, hr_error *err);

typedef struct hr_frame_header {
    int version;
    hr_msg_type type;
    uint32_t id;
    uint32_t length;       /* payload bytes */
} hr_frame_header;

/* Decodes and validates the 16 header bytes: magic, version, flags, a known
 * type, length <= max_payload (0, or anything above HR_PROTO_MAX_PAYLOAD:
 * HR_PROTO_MAX_PAYLOAD). The fields are checked in that order. HR_ERR_FORMAT (bad
 * magic, unknown type, non-zero flags), HR_ERR_UNSUPPORTED (another
 * version), HR_ERR_LIMIT (length over the limit); the message names the
 * field and the value. */
hr_status hr_frame_header_decode(const uint8_t *bytes, uint32_t max_payload, hr_frame_header *out, hr_error *err);

/* A decoded message: owns meta (NUL-terminated, NULL when meta_len is 0) and
 * the tensors' storage. */
typedef struct hr_msg {
    hr_msg_type type;
    uint32_t id;
    char *meta;
    size_t meta_len;
    int ntensors;
    hr_wire_tensor tensor[HR_PROTO_MAX_TENSORS];
    void *storage;
} hr_msg;

void hr_msg_init(hr_msg *m);
/* Frees what m owns and re-initialises it; NULL is a no-op. */
void hr_msg_deinit(hr_msg *m);

/* Decodes the payload of a frame whose header was decoded: metadata (valid
 * UTF-8 JSON object), tensor count within the type's bounds, each tensor's
 * dtype, ndim, dimensions and size, and that the payload ends exactly after
 * the last tensor (a payload is never empty: it holds at least meta_len and
 * the tensor count). Empty tensors have data NULL. payload may be NULL when
 * hdr->length is 0. out is init'd by the caller and untouched on failure; on
 * success what it held before is freed (hr_msg_deinit) and it is refilled.
 * HR_ERR_FORMAT naming the field and value ("frame: tensor 1: dim 2 = -5 out
 * of range 0..2147483648"), HR_ERR_LIMIT (meta_len over HR_PROTO_MAX_META),
 * HR_ERR_NOMEM, HR_ERR_INVALID_ARG (NULL arguments). */
hr_status hr_msg_decode(const hr_frame_header *hdr, const uint8_t *payload, hr_msg *out, hr_error *err);

/* Encodes one whole frame (header + payload) into a new malloc'd buffer
 * (*out, *out_len; the caller frees; untouched on failure). meta may be NULL
 * or "" (no metadata) and must otherwise be a JSON object (no duplicate
 * keys); it is sent byte for byte as given. Each tensor's nbytes must equal
 * its element count × element size, and data may be NULL only when nbytes is
 * 0. Elements are read in host order and written little-endian.
 * HR_ERR_LIMIT when the frame would exceed
 * HR_PROTO_MAX_PAYLOAD or the metadata HR_PROTO_MAX_META, HR_ERR_INVALID_ARG
 * for a tensor count outside the type's bounds or a bad tensor, HR_ERR_NOMEM. */
hr_status hr_msg_encode(hr_msg_type type, uint32_t id, const char *meta, const hr_wire_tensor *tensors, int n,
                        uint8_t **out, size_t *out_len, hr_error *err);

/* Payload bytes hr_msg_encode would produce (without the header); 0 when
 * the arguments are invalid (n outside 0..HR_PROTO_MAX_TENSORS, a bad tensor,
 * meta over HR_PROTO_MAX_META). The metadata is not parsed, and the result
 * may exceed HR_PROTO_MAX_PAYLOAD: compare it before sending. */
size_t hr_msg_payload_size(const char *meta, const hr_wire_tensor *tensors, int n);

/* Chunked blobs. A blob too large for one frame (model weights) travels as
 * several HR_MSG_MODEL_SYNC frames, each carrying one U8 tensor (a chunk);
 * the meta of every frame carries "bytes" (total size), "chunk" (0-based),
 * "chunks" (count) and "sha256" (lower-case hex digest of the whole blob).
 * The receiver assembles the chunks in order with an hr_blob_rx. Memory
 * grows with the bytes actually received, never beyond total_bytes. */
typedef struct hr_blob_rx hr_blob_rx;

/* ---- hello: what both ends say first (docs/PROTOCOL.md, Versioning) ---- */

typedef struct hr_hello {
    int64_t protocol;
    char role[64], name[64], software[64]; /* printable ASCII ('?' for others), "?" when absent */
} hr_hello;

/* This side's hello metadata {"protocol", "role", "name", "software"} as
 * compact JSON in *meta (malloc'd). HR_ERR_INVALID_ARG for a role or name
 * that is not UTF-8; HR_ERR_NOMEM. */
hr_status hr_hello_encode(const char *role, const char *name, char **meta, hr_error *err);

/* Checks a peer's hello metadata: a JSON object with an integer
 * "protocol" and, when present, string "role", "name", "software"
 * (HR_ERR_FORMAT otherwise); then the protocol must be HR_PROTO_VERSION
 * (HR_ERR_UNSUPPORTED, out filled). err's message is fit to send back. */
hr_status hr_hello_decode(const char *meta, hr_hello *out, hr_error *err);

/* Starts receiving a blob of total_bytes in `chunks` chunks whose SHA-256
 * must be sha256_hex (64 hex digits, either case). chunks is 1..total_bytes
 * (exactly 1 when total_bytes is 0). HR_ERR_LIMIT when total_bytes exceeds
 * limit_bytes; HR_ERR_FORMAT for a bad count or digest (the message names
 * the value); HR_ERR_NOMEM. *out is untouched on failure. */
hr_status hr_blob_rx_create(uint64_t total_bytes, uint32_t chunks, const char *sha256_hex, uint64_t limit_bytes,
                            hr_blob_rx **out, hr_error *err);
/* Appends chunk number `chunk` (n bytes at data; data may be NULL when n is
 * 0). Chunks must arrive in order 0..chunks-1, and the last one must end
 * exactly at total_bytes: HR_ERR_FORMAT naming the values for a chunk out of
 * order, a duplicate, one past the count, or bytes past (or, for the last
 * chunk, short of) the announced total; HR_ERR_NOMEM. A failed add leaves
 * the receiver as it was. */
hr_status hr_blob_rx_add(hr_blob_rx *b, uint32_t chunk, const void *data, size_t n, hr_error *err);
/* 1 when every chunk has arrived. */
int hr_blob_rx_complete(const hr_blob_rx *b);
/* Verifies that every chunk arrived, the size and the SHA-256 (OpenSSL EVP),
 * then hands over the buffer (*data malloc'd, never NULL, even for an empty
 * blob; the caller frees; *n its size). HR_ERR_FORMAT when chunks are missing
 * or the digest differs (both digests in the message); the receiver keeps
 * its buffer on failure and gives it away on success, so destroy it in
 * either case. */
hr_status hr_blob_rx_finish(hr_blob_rx *b, void **data, size_t *n, hr_error *err);
/* NULL is a no-op. */
void hr_blob_rx_destroy(hr_blob_rx *b);
/* Lower-case hex SHA-256 of data[0..n), NUL-terminated in out (out is empty
 * if OpenSSL fails, which then matches no digest). */
void hr_sha256_hex(const void *data, size_t n, char out[65]);

#ifdef __cplusplus
}
#endif
#endif
