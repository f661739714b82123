/* libFuzzer target for the wire codec (src/net/proto.c, src/net/blob.c).
 *
 * The input is read as a stream of frames, the way a channel reads a socket:
 * decode a header (with a 1 MiB payload limit, so the fuzzer's inputs stay
 * small), then the payload, then the next frame, stopping at the first error
 * or at a frame cut short. Every payload is decoded from an exact-size heap
 * copy so that AddressSanitizer reports any read past its end.
 *
 * Properties checked on every frame that decodes (abort on violation):
 *  - the status of a failure is one the header documents, with a message;
 *  - re-encoding the message gives back exactly the bytes of the frame (the
 *    encoding is canonical: reserved fields are zero, meta is kept verbatim);
 *  - those bytes decode again to an equal message;
 *  - hr_msg_payload_size agrees with the header's length.
 * MODEL_SYNC frames that carry one U8 tensor and blob metadata ("bytes",
 * "chunk", "chunks", "sha256") are fed to an hr_blob_rx, as the worker does. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hyperrep/proto.h"

#define FUZZ_MAX_PAYLOAD (1u << 20)

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz_frame: property failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

static void check_failure(hr_status st, const hr_error *err)
{
    CHECK(st == HR_ERR_FORMAT || st == HR_ERR_LIMIT || st == HR_ERR_UNSUPPORTED || st == HR_ERR_NOMEM);
    CHECK(err->status == st);
    CHECK(err->msg[0] != '\0');
}

static void check_equal(const hr_msg *a, const hr_msg *b)
{
    CHECK(a->type == b->type);
    CHECK(a->id == b->id);
    CHECK(a->meta_len == b->meta_len);
    CHECK((a->meta == NULL) == (b->meta == NULL));
    if (a->meta)
        CHECK(memcmp(a->meta, b->meta, a->meta_len + 1) == 0);
    CHECK(a->ntensors == b->ntensors);
    for (int i = 0; i < a->ntensors; i++) {
        const hr_wire_tensor *x = &a->tensor[i], *y = &b->tensor[i];
        CHECK(x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes);
        CHECK(memcmp(x->shape, y->shape, sizeof x->shape) == 0);
        if (x->nbytes) {
            CHECK(((uintptr_t)x->data & 63) == 0);
            CHECK(memcmp(x->data, y->data, x->nbytes) == 0);
        }
    }
}

/* The blob being received and what its chunk 0 announced (later chunks may
 * announce something else; the receiver goes by the first). */
typedef struct blob_state {
    hr_blob_rx *rx;
    char sha[80];
    uint64_t bytes;
} blob_state;

/* Feeds one decoded MODEL_SYNC frame to the blob receiver; chunk 0 starts a
 * new blob. Errors are expected (the metadata is fuzzed) and only end the
 * current blob. */
static void feed_blob(blob_state *b, const hr_msg *m)
{
    hr_blob_rx **rx = &b->rx;
    json_t *root, *jb, *jc, *jn, *js;
    hr_error err;

    if (m->ntensors != 1 || m->tensor[0].dtype != HR_WIRE_U8 || !m->meta)
        return;
    root = json_loads(m->meta, 0, NULL);
    CHECK(root != NULL); /* the decoder accepted it, so it parses */
    jb = json_object_get(root, "bytes");
    jc = json_object_get(root, "chunk");
    jn = json_object_get(root, "chunks");
    js = json_object_get(root, "sha256");
    if (json_is_integer(jb) && json_is_integer(jc) && json_is_integer(jn) && json_is_string(js) &&
        json_integer_value(jb) >= 0 && json_integer_value(jc) >= 0 && json_integer_value(jc) <= UINT32_MAX &&
        json_integer_value(jn) >= 0 && json_integer_value(jn) <= UINT32_MAX) {
        uint32_t chunk = (uint32_t)json_integer_value(jc);
        hr_status st = HR_OK;
        if (chunk == 0) {
            hr_blob_rx_destroy(*rx);
            *rx = NULL;
            st = hr_blob_rx_create((uint64_t)json_integer_value(jb), (uint32_t)json_integer_value(jn),
                                   json_string_value(js), FUZZ_MAX_PAYLOAD, rx, &err);
            if (st != HR_OK) {
                CHECK(*rx == NULL);
                check_failure(st, &err);
            } else {
                CHECK(strlen(json_string_value(js)) == 64);
                memcpy(b->sha, json_string_value(js), 65);
                b->bytes = (uint64_t)json_integer_value(jb);
            }
        }
        if (*rx && st == HR_OK) {
            st = hr_blob_rx_add(*rx, chunk, m->tensor[0].data, m->tensor[0].nbytes, &err);
            if (st != HR_OK) {
                check_failure(st, &err);
            } else if (hr_blob_rx_complete(*rx)) {
                void *data = NULL;
                size_t n = 0;
                st = hr_blob_rx_finish(*rx, &data, &n, &err);
                if (st == HR_OK) {
                    char hex[65];
                    CHECK(data != NULL);
                    hr_sha256_hex(data, n, hex);
                    CHECK(strcasecmp(hex, b->sha) == 0);
                    CHECK(n == b->bytes);
                    free(data);
                } else {
                    check_failure(st, &err);
                }
                hr_blob_rx_destroy(*rx);
                *rx = NULL;
            }
        }
    }
    json_decref(root);
}

static void round_trip(const hr_frame_header *h, const uint8_t *frame, const hr_msg *m)
{
    uint8_t *again = NULL;
    size_t len = 0;
    hr_frame_header h2;
    hr_msg m2;
    hr_error err;
    hr_status st;

    CHECK(hr_msg_payload_size(m->meta, m->tensor, m->ntensors) == h->length);
    st = hr_msg_encode(m->type, m->id, m->meta, m->tensor, m->ntensors, &again, &len, &err);
    if (st == HR_ERR_NOMEM)
        return;
    CHECK(st == HR_OK);
    CHECK(len == HR_PROTO_HEADER_SIZE + (size_t)h->length);
    CHECK(memcmp(again, frame, len) == 0);
    CHECK(hr_frame_header_decode(again, FUZZ_MAX_PAYLOAD, &h2, &err) == HR_OK);
    CHECK(h2.type == h->type && h2.id == h->id && h2.length == h->length);
    hr_msg_init(&m2);
    st = hr_msg_decode(&h2, again + HR_PROTO_HEADER_SIZE, &m2, &err);
    if (st != HR_ERR_NOMEM) {
        CHECK(st == HR_OK);
        check_equal(m, &m2);
    }
    hr_msg_deinit(&m2);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    blob_state blob;

    memset(&blob, 0, sizeof blob);
    while (size >= HR_PROTO_HEADER_SIZE) {
        hr_frame_header h;
        hr_error err;
        hr_status st = hr_frame_header_decode(data, FUZZ_MAX_PAYLOAD, &h, &err);
        uint8_t *payload;
        hr_msg m;

        if (st != HR_OK) {
            check_failure(st, &err);
            break;
        }
        CHECK(h.length <= FUZZ_MAX_PAYLOAD);
        if (h.length > size - HR_PROTO_HEADER_SIZE)
            break; /* a channel would wait for more bytes */
        payload = malloc(h.length ? h.length : 1);
        if (!payload)
            break;
        memcpy(payload, data + HR_PROTO_HEADER_SIZE, h.length);
        hr_msg_init(&m);
        st = hr_msg_decode(&h, payload, &m, &err);
        if (st != HR_OK) {
            /* a channel closes the connection after a malformed frame */
            check_failure(st, &err);
            CHECK(m.meta == NULL && m.storage == NULL && m.ntensors == 0);
            free(payload);
            break;
        } else {
            round_trip(&h, data, &m);
            for (int i = 0; i < m.ntensors; i++) {
                hr_tensor t;
                if (hr_wire_to_tensor(&m.tensor[i], "fuzz", &t, &err) == HR_OK)
                    CHECK(m.tensor[i].dtype == HR_WIRE_F32 && t.data == m.tensor[i].data);
            }
            if (m.type == HR_MSG_MODEL_SYNC)
                feed_blob(&blob, &m);
        }
        hr_msg_deinit(&m);
        free(payload);
        data += HR_PROTO_HEADER_SIZE + h.length;
        size -= HR_PROTO_HEADER_SIZE + h.length;
    }
    hr_blob_rx_destroy(blob.rx);
    return 0;
}
