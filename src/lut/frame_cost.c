/* Per-frame overhead T_frame (SPEC §13.1): what one side of a deployment
 * spends on each frame outside the blocks. The runtime (src/serve, the edge
 * runtime of `infer`) moves every frame through the wire codec and between
 * two threads; this repeats exactly those steps, with the same codec and the
 * same kind of queue, on a crossing tensor of the model's size. The bytes'
 * time on the wire belongs to the link model, so no socket is involved: the
 * copies into and out of the socket buffers, which the sender and the
 * receiver do pay per frame, are stood in for by a memcpy of the frame. */
#include "lut/lut_internal.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/clock.h"
#include "hyperrep/proto.h"

static double now_ms(void)
{
    return hr_clock_now_ms();
}

/* The two threads of one side and the queue between them: `todo` is the
 * hand-off to the helper (the server's compute worker, the client's link
 * thread), `done` the hand-off back. */
typedef struct bench {
    hr_device side;
    pthread_mutex_t mu;
    pthread_cond_t cv_todo, cv_done;
    int todo, done, stop;
    hr_status st;
    hr_error err;
    int64_t num_classes;
    /* server: the decoded frame travels to the worker, which frees it (as
     * the server's worker does) and leaves the logits it would return */
    hr_msg msg;
    float *logits;
    int64_t cls;
    /* client: the crossing tensor to frame and the result frame to read */
    hr_wire_tensor cross;
    const uint8_t *result_frame;
    size_t result_len;
    uint8_t *wire;         /* the "socket" buffer: the largest frame */
    size_t wire_cap;
} bench;

/* The client's link thread for one frame: frame the crossing tensor and put
 * it on the wire, read the result frame back, decode it and parse its
 * metadata for the class and the tail's time. */
static hr_status client_link_step(bench *b, hr_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hr_frame_header h;
    hr_msg m;
    json_t *meta;
    hr_status st;

    if ((st = hr_msg_encode(HR_MSG_INFER_FRAME, 1, NULL, &b->cross, 1, &buf, &len, err)))
        return st;
    memcpy(b->wire, buf, len);
    free(buf);
    memcpy(b->wire, b->result_frame, b->result_len);
    hr_msg_init(&m);
    if ((st = hr_frame_header_decode(b->wire, 0, &h, err)) ||
        (st = hr_msg_decode(&h, h.length ? b->wire + HR_PROTO_HEADER_SIZE : NULL, &m, err)))
        return st;
    meta = m.meta ? json_loads(m.meta, 0, NULL) : NULL;
    if (!meta || !json_is_integer(json_object_get(meta, "class")) ||
        !json_is_number(json_object_get(meta, "tail_ms")))
        st = hr_error_set(err, HR_ERR_INTERNAL, "T_frame: the result frame's metadata did not parse");
    else
        b->cls = json_integer_value(json_object_get(meta, "class"));
    json_decref(meta);
    hr_msg_deinit(&m);
    return st;
}

/* The server's compute worker for one frame, outside the tail itself: the
 * logits are allocated, the class picked, the crossing tensor freed. */
static hr_status server_worker_step(bench *b, hr_error *err)
{
    float *l = calloc((size_t)b->num_classes, sizeof(float));
    if (!l)
        return hr_error_set(err, HR_ERR_NOMEM, "T_frame: out of memory for the logits");
    b->cls = 0;
    for (int64_t c = 1; c < b->num_classes; c++)
        if (l[c] > l[b->cls])
            b->cls = c;
    hr_msg_deinit(&b->msg);
    b->logits = l;
    return HR_OK;
}

static void *helper_main(void *arg)
{
    bench *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->todo && !b->stop)
            pthread_cond_wait(&b->cv_todo, &b->mu);
        if (!b->todo)
            break;
        b->todo = 0;
        pthread_mutex_unlock(&b->mu);
        hr_status st = b->side == HR_DEVICE_SERVER ? server_worker_step(b, &b->err) : client_link_step(b, &b->err);
        pthread_mutex_lock(&b->mu);
        if (st && !b->st)
            b->st = st;
        b->done = 1;
        pthread_cond_signal(&b->cv_done);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Hands the frame to the helper and waits for it to come back. */
static hr_status hand_off(bench *b)
{
    hr_status st;
    pthread_mutex_lock(&b->mu);
    b->todo = 1;
    pthread_cond_signal(&b->cv_todo);
    while (!b->done)
        pthread_cond_wait(&b->cv_done, &b->mu);
    b->done = 0;
    st = b->st;
    pthread_mutex_unlock(&b->mu);
    return st;
}

/* One frame, timed from its arrival on this side to its result leaving it.
 * server: the frame's bytes come off the wire and are decoded, go to the
 * worker and back, and the INFER_RESULT is encoded and put on the wire.
 * client: the head's thread hands the crossing tensor to the link thread
 * and waits for the class. */
static hr_status one_frame(bench *b, const uint8_t *frame, size_t frame_len, double *ms, hr_error *err)
{
    double t0 = now_ms();
    hr_status st;
    if (b->side == HR_DEVICE_CLIENT) {
        if ((st = hand_off(b)))
            return hr_error_set(err, st, "%s", b->err.msg);
        *ms = now_ms() - t0;
        return HR_OK;
    }
    hr_frame_header h;
    uint8_t *buf = NULL;
    size_t len = 0;
    char meta[160];
    memcpy(b->wire, frame, frame_len);
    if ((st = hr_frame_header_decode(b->wire, 0, &h, err)) ||
        (st = hr_msg_decode(&h, h.length ? b->wire + HR_PROTO_HEADER_SIZE : NULL, &b->msg, err)))
        return st;
    if ((st = hand_off(b)))
        return hr_error_set(err, st, "%s", b->err.msg);
    snprintf(meta, sizeof meta, "{\"class\": %lld, \"tail_ms\": %.4f, \"queue_ms\": %.4f}", (long long)b->cls, 0.5,
             0.01);
    st = hr_msg_encode(HR_MSG_INFER_RESULT, 1, meta, NULL, 0, &buf, &len, err);
    free(b->logits);
    b->logits = NULL;
    if (st)
        return st;
    memcpy(b->wire, buf, len);
    free(buf);
    *ms = now_ms() - t0;
    return HR_OK;
}

hr_status hr_frame_overhead_measure(hr_device side, const int64_t shape[4], int64_t num_classes, int repeat,
                                    hr_lut_entry *out, hr_error *err)
{
    static const char result_meta[] = "{\"class\": 3, \"tail_ms\": 0.5000, \"queue_ms\": 0.0100}";
    bench b;
    pthread_t th;
    float *data = NULL;
    double *t = NULL;
    uint8_t *frame = NULL, *result = NULL;
    size_t frame_len = 0, result_len = 0, elems = 1;
    hr_status st = HR_OK;
    int warm = repeat / 10 < 1 ? 1 : repeat / 10;

    if (side != HR_DEVICE_SERVER && side != HR_DEVICE_CLIENT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "T_frame: role %d is not server or client", (int)side);
    if (!shape || !out || repeat < 1 || repeat > 100000 || num_classes < 1 || num_classes > 1000000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "T_frame: %d repeats (1..100000), %lld classes (1..1000000)",
                            repeat, (long long)num_classes);
    for (int d = 0; d < 4; d++) {
        if (shape[d] < 1 || shape[d] > (int64_t)1 << 20)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "T_frame: crossing shape dim %d = %lld is outside 1..2^20", d,
                                (long long)shape[d]);
        elems *= (size_t)shape[d];
        if (elems > HR_PROTO_MAX_PAYLOAD / sizeof(float) / 2)
            return hr_error_set(err, HR_ERR_LIMIT, "T_frame: a crossing tensor of %lld x %lld x %lld x %lld floats "
                                "does not fit one frame", (long long)shape[0], (long long)shape[1],
                                (long long)shape[2], (long long)shape[3]);
    }
    memset(&b, 0, sizeof b);
    b.side = side;
    b.num_classes = num_classes;
    hr_msg_init(&b.msg);
    data = malloc(elems * sizeof(float));
    t = malloc(sizeof(double) * (size_t)repeat);
    if (!data || !t) {
        st = hr_error_set(err, HR_ERR_NOMEM, "T_frame: out of memory");
        goto out;
    }
    for (size_t i = 0; i < elems; i++)
        data[i] = (float)(i % 251) * 0.01f - 1.0f;
    b.cross.dtype = HR_WIRE_F32;
    b.cross.ndim = 4;
    memcpy(b.cross.shape, shape, 4 * sizeof shape[0]);
    b.cross.data = data;
    b.cross.nbytes = elems * sizeof(float);
    /* The frames that come in: the crossing tensor (server), the result
     * (client), encoded once outside the timing as the peer would. */
    if ((st = hr_msg_encode(HR_MSG_INFER_FRAME, 1, NULL, &b.cross, 1, &frame, &frame_len, err)) ||
        (st = hr_msg_encode(HR_MSG_INFER_RESULT, 1, result_meta, NULL, 0, &result, &result_len, err)))
        goto out;
    b.result_frame = result;
    b.result_len = result_len;
    b.wire_cap = frame_len > result_len + 256 ? frame_len : result_len + 256;
    if (!(b.wire = malloc(b.wire_cap))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "T_frame: out of memory");
        goto out;
    }
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv_todo, NULL);
    pthread_cond_init(&b.cv_done, NULL);
    if (pthread_create(&th, NULL, helper_main, &b) != 0) {
        st = hr_error_set(err, HR_ERR_INTERNAL, "T_frame: cannot start a thread");
        goto destroy;
    }
    for (int i = 0; i < warm + repeat && !st; i++) {
        double ms = 0;
        st = one_frame(&b, frame, frame_len, &ms, err);
        if (i >= warm)
            t[i - warm] = ms;
    }
    pthread_mutex_lock(&b.mu);
    b.stop = 1;
    pthread_cond_signal(&b.cv_todo);
    pthread_mutex_unlock(&b.mu);
    pthread_join(th, NULL);
    if (!st)
        hr__lut_summarise(t, repeat, out);
destroy:
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv_todo);
    pthread_cond_destroy(&b.cv_done);
out:
    hr_msg_deinit(&b.msg);
    free(b.logits);
    free(b.wire);
    free(frame);
    free(result);
    free(data);
    free(t);
    return st;
}
