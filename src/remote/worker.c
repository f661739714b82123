/* The edge worker of real mode (`hyperrep client`, SPEC §10): dials the
 * server, then serves its commands one at a time (docs/PROTOCOL.md,
 * "## Flows").
 *
 * The worker is a small state machine. Between commands it waits for the
 * server without a time limit (the server may be measuring its own LUT for
 * minutes); inside an exchange that it leads (a training epoch, an
 * evaluation) every reply is awaited at most reply_timeout_ms. Any
 * message that does not fit the state is a protocol violation: the worker
 * answers with an ERROR frame naming it, closes and reconnects, so a
 * confused server can never leave it stuck in a half-finished exchange. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperrep/data.h"
#include "hyperrep/lut.h"
#include "hyperrep/remote.h"
#include "hyperrep/train.h"
#include "remote/remote_internal.h"

hr_worker_params hr_worker_params_default(void)
{
    hr_worker_params p;
    memset(&p, 0, sizeof p);
    p.net = hr_net_params_default();
    p.threads = 1;
    p.reply_timeout_ms = 120000;
    p.max_model_mb = 4096;
    return p;
}

typedef struct worker {
    hr_chan *c;
    const hr_worker_params *p;
    /* the model of the last MODEL_SYNC and its head trainer */
    hr_ctx *ctx;
    hr_model *m;
    hr_trainer *head;
    hr_trainer_params tp;
    int split;
    float *feat;              /* batch × features of the head */
    /* the data of the last DOMAIN_START (kept while its settings repeat) */
    hr_data *data;
    char data_key[1024];
    hr_batch_iter *it[HR_PART_COUNT];
    int domain;               /* -1: no domain started */
    double lr;
    /* link probes */
    uint8_t *probe;
    size_t probe_cap;
} worker;

static void wlog(const worker *w, const char *fmt, ...)
{
    char line[640];
    va_list ap;
    if (!w->p->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    w->p->log(w->p->log_user, line);
}

static void drop_domain(worker *w)
{
    for (int i = 0; i < HR_PART_COUNT; i++) {
        hr_batch_iter_destroy(w->it[i]);
        w->it[i] = NULL;
    }
    w->domain = -1;
}

static void drop_model(worker *w)
{
    drop_domain(w);
    hr_trainer_destroy(w->head);
    hr_model_destroy(w->m);
    hr_ctx_destroy(w->ctx);
    free(w->feat);
    w->head = NULL;
    w->m = NULL;
    w->ctx = NULL;
    w->feat = NULL;
}

/* A protocol violation: what the server sent does not fit the state. */
static hr_status violation(hr_error *err, const char *fmt, ...)
{
    va_list ap;
    if (err) {
        err->status = HR_ERR_FORMAT;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return HR_ERR_FORMAT;
}

static const char *host_name(char *buf, size_t size)
{
    if (gethostname(buf, size) != 0)
        snprintf(buf, size, "unknown");
    buf[size - 1] = '\0';
    return buf;
}

/* ------------------------------------------------------------ LUT_MEASURE */

typedef struct lut_progress {
    worker *w;
    uint32_t id;
    double last_ms;
    hr_status st;             /* a failed progress send stops nothing but is reported */
    hr_error err;
} lut_progress;

/* Progress frames keep the server's idle timeout from firing during a
 * measurement that takes minutes; at most two a second. */
static void on_lut_progress(void *user, const hr_lut_progress *pr)
{
    lut_progress *lp = user;
    double now = hr__remote_now_ms();
    if (lp->st || (now - lp->last_ms < 500 && pr->done < pr->total))
        return;
    lp->last_ms = now;
    json_t *meta = json_pack("{s:f, s:s, s:i, s:i}", "progress", pr->total ? (double)pr->done / pr->total : 1.0,
                             "block", pr->block_name ? pr->block_name : "", "done", pr->done, "total", pr->total);
    if (meta)
        lp->st = hr__send_json(lp->w->c, HR_MSG_ACK, lp->id, meta, NULL, 0, &lp->err);
}

static hr_status do_lut_measure(worker *w, const hr_msg *msg, hr_error *err)
{
    const char *what = "lut_measure";
    json_t *meta = NULL, *lutj = NULL, *reply = NULL;
    const char *arch;
    int64_t input_size, in_ch, classes, threads, warmup, repeat, passes, in_forward, seed;
    double slowdown;
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_device_lut *lut = NULL;
    char path[512] = "", *text = NULL, host[128], cpu[128];
    size_t len = 0;
    hr_status st;
    if ((st = hr__meta_parse(msg, &meta, err)))
        return st;
    if ((st = hr__meta_str(meta, what, "model", 1, 63, &arch, err)) ||
        (st = hr__meta_int(meta, what, "input_size", 0, 0, 0, 65536, &input_size, err)) ||
        (st = hr__meta_int(meta, what, "in_channels", 0, 0, 0, 65536, &in_ch, err)) ||
        (st = hr__meta_int(meta, what, "num_classes", 0, 0, 0, 1 << 20, &classes, err)) ||
        (st = hr__meta_int(meta, what, "threads", 0, w->p->threads, 1, 1024, &threads, err)) ||
        (st = hr__meta_int(meta, what, "warmup", 0, 10, 0, 1000000, &warmup, err)) ||
        (st = hr__meta_int(meta, what, "repeat", 0, 100, 1, 1000000, &repeat, err)) ||
        (st = hr__meta_int(meta, what, "passes", 0, 1, 1, 1000000, &passes, err)) ||
        (st = hr__meta_int(meta, what, "in_forward", 0, 0, 0, 1, &in_forward, err)) ||
        (st = hr__meta_int(meta, what, "seed", 0, 42, 0, INT64_MAX, &seed, err)) ||
        (st = hr__meta_num(meta, what, "slowdown", 0, 1.0, 1.0, 1e6, &slowdown, err)))
        goto out;
    if (slowdown != 1.0 && (w->p->edge || w->p->edge_slowdown > 0)) {
        if (w->p->edge)
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "lut_measure: the server asks for slowdown %g, but this worker "
                              "emulates edge profile %s (client --edge): one emulation per LUT", slowdown,
                              w->p->edge->name);
        else
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "lut_measure: the server asks for slowdown %g, but this worker "
                              "emulates slowdown %g (client --edge-slowdown): one emulation per LUT", slowdown,
                              w->p->edge_slowdown);
        goto out;
    }
    wlog(w, "measuring the %s LUT on %lld thread(s) (warmup %lld, repeat %lld%s)", arch, (long long)threads,
         (long long)warmup, (long long)repeat, slowdown > 1 || w->p->edge || w->p->edge_slowdown > 0
                                                    ? ", emulated"
                                                    : "");

    hr_ctx_params cp = hr_ctx_params_default();
    hr_model_params mp = hr_model_params_default();
    hr_lut_measure_params lp = hr_lut_measure_params_default();
    lut_progress prog = {w, msg->id, 0, HR_OK, {0}};
    cp.threads = (int)threads;
    cp.seed = (uint64_t)seed;
    mp.input_size = input_size;
    mp.in_channels = in_ch;
    mp.num_classes = classes;
    lp.role = HR_DEVICE_CLIENT;
    lp.warmup = (int)warmup;
    lp.repeat = (int)repeat;
    lp.passes = (int)passes;
    lp.in_forward = (int)in_forward;
    lp.progress = on_lut_progress;
    lp.progress_user = &prog;
    if ((st = hr_ctx_create(&cp, &ctx, err)) || (st = hr_model_create(ctx, arch, &mp, &m, err)) ||
        (st = hr_model_init_random(m, (uint64_t)seed, err)) || (st = hr_lut_measure(m, &lp, &lut, err)))
        goto out;
    if (prog.st) {
        *err = prog.err;
        st = prog.st;
        goto out;
    }
    if (slowdown != 1.0) {
        char desc[200];
        snprintf(desc, sizeof desc, "worker %s, %lld thread(s), times x %g (asked by the server)",
                 host_name(host, sizeof host), (long long)threads, slowdown);
        if ((st = hr_device_lut_emulate(lut, desc, slowdown, err)))
            goto out;
    }
    if (w->p->edge_slowdown > 0 && (st = hr_device_lut_emulate_flat(lut, w->p->edge_slowdown, err)))
        goto out;
    if (w->p->edge) {
        /* The profile's factors compare the edge with this machine at the
         * threads the LUT was measured with, so the roofline is measured
         * here, now, on the same context. */
        hr_roofline roof;
        wlog(w, "measuring this machine's roofline at %lld thread(s) for edge profile %s", (long long)threads,
             w->p->edge->name);
        if ((st = hr_roofline_measure(ctx, NULL, &roof, err)) ||
            (st = hr_device_lut_emulate_profile(lut, w->p->edge, &roof, err)))
            goto out;
    }
    /* The LUT module serialises to files only: write one, send its text. */
    if ((st = hr__tmp_file("lut", path, sizeof path, err)) || (st = hr_device_lut_save(path, lut, err)) ||
        (st = hr__read_small_file(path, HR_PROTO_MAX_META - 4096, &text, &len, err)))
        goto out;
    json_error_t je;
    if (!(lutj = json_loadb(text, len, 0, &je))) {
        st = hr_error_set(err, HR_ERR_INTERNAL, "lut_measure: the LUT just written does not parse: %s", je.text);
        goto out;
    }
    reply = json_pack("{s:O, s:{s:s, s:s, s:i, s:b, s:f}}", "lut", lutj, "device", "host",
                      host_name(host, sizeof host), "cpu", hr_cpu_model_string(cpu, sizeof cpu), "threads",
                      (int)threads, "emulated", lut->emulated[0] != '\0', "slowdown", lut->slowdown);
    if (!reply) {
        st = hr_error_set(err, HR_ERR_NOMEM, "lut_measure: out of memory");
        goto out;
    }
    st = hr__send_json(w->c, HR_MSG_LUT_RESULT, msg->id, reply, NULL, 0, err);
    reply = NULL;
    if (!st)
        wlog(w, "sent the %s LUT (%zu bytes)", arch, len);
out:
    if (path[0])
        unlink(path);
    free(text);
    json_decref(lutj);
    json_decref(reply);
    json_decref(meta);
    hr_device_lut_destroy(lut);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return st;
}

/* ------------------------------------------------------------- LINK_PROBE */

static hr_status do_link_probe(worker *w, const hr_msg *msg, hr_error *err)
{
    json_t *meta = NULL;
    int64_t reply;
    hr_status st;
    if ((st = hr__meta_parse(msg, &meta, err)))
        return st;
    st = hr__meta_int(meta, "link_probe", "reply_bytes", 0, 0, 0, (int64_t)HR__LINK_MAX_BYTES, &reply, err);
    json_decref(meta);
    if (st)
        return st;
    if (msg->ntensors == 1 && msg->tensor[0].dtype != HR_WIRE_U8)
        return violation(err, "link_probe: the payload must be a u8 tensor");
    if (reply == 0)
        return hr_chan_send(w->c, HR_MSG_LINK_ECHO, msg->id, NULL, NULL, 0, err);
    if ((size_t)reply > w->probe_cap) {
        uint8_t *p = realloc(w->probe, (size_t)reply);
        if (!p)
            return hr_error_set(err, HR_ERR_NOMEM, "link_probe: out of memory for %lld bytes", (long long)reply);
        /* Content is irrelevant but must not be uninitialised memory. */
        memset(p + w->probe_cap, 0x5a, (size_t)reply - w->probe_cap);
        w->probe = p;
        w->probe_cap = (size_t)reply;
    }
    hr_wire_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = HR_WIRE_U8;
    t.ndim = 1;
    t.shape[0] = reply;
    t.data = w->probe;
    t.nbytes = (size_t)reply;
    return hr_chan_send(w->c, HR_MSG_LINK_ECHO, msg->id, NULL, &t, 1, err);
}

/* ------------------------------------------------------------- MODEL_SYNC */

static hr_status make_head(worker *w, hr_error *err)
{
    hr_status st;
    int64_t shape[4];
    hr_trainer_destroy(w->head);
    w->head = NULL;
    if ((st = hr_trainer_create(w->m, &w->tp, &w->head, err)))
        return st;
    if (!w->feat) {
        hr_trainer_features_shape(w->head, w->tp.batch, shape);
        size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        if (!(w->feat = malloc(sizeof(float) * (n ? n : 1))))
            return hr_error_set(err, HR_ERR_NOMEM, "model_sync: out of memory for the features");
    }
    return HR_OK;
}

/* Receives the chunks of the weights blob announced by the first frame. */
static hr_status recv_weights(worker *w, const json_t *wj, void **data, size_t *n, hr_error *err)
{
    const char *what = "model_sync weights", *sha;
    int64_t bytes, chunks;
    hr_blob_rx *rx = NULL;
    hr_msg m;
    hr_status st;
    uint64_t limit = (uint64_t)w->p->max_model_mb << 20;
    if ((st = hr__meta_int(wj, what, "bytes", 1, 0, 0, INT64_MAX, &bytes, err)) ||
        (st = hr__meta_int(wj, what, "chunks", 1, 0, 1, UINT32_MAX, &chunks, err)) ||
        (st = hr__meta_str(wj, what, "sha256", 1, 64, &sha, err)) ||
        (st = hr_blob_rx_create((uint64_t)bytes, (uint32_t)chunks, sha, limit, &rx, err)))
        return st;
    hr_msg_init(&m);
    for (int64_t k = 0; k < chunks && !st; k++) {
        json_t *meta = NULL;
        int64_t chunk;
        if ((st = hr_chan_expect(w->c, HR_MSG_MODEL_SYNC, w->p->reply_timeout_ms, &m, err)) ||
            (st = hr__meta_parse(&m, &meta, err)))
            break;
        st = hr__meta_int(meta, what, "chunk", 1, 0, 0, UINT32_MAX, &chunk, err);
        json_decref(meta);
        if (st)
            break;
        if (m.ntensors != 1 || m.tensor[0].dtype != HR_WIRE_U8) {
            st = violation(err, "model_sync chunk %lld: expected one u8 tensor", (long long)chunk);
            break;
        }
        st = hr_blob_rx_add(rx, (uint32_t)chunk, m.tensor[0].data, m.tensor[0].nbytes, err);
    }
    hr_msg_deinit(&m);
    if (!st)
        st = hr_blob_rx_finish(rx, data, n, err);
    hr_blob_rx_destroy(rx);
    return st;
}

static hr_status do_model_sync(worker *w, const hr_msg *msg, hr_error *err)
{
    const char *what = "model_sync", *arch, *purpose, *kind;
    json_t *meta = NULL, *wj;
    int64_t input_size, in_ch, classes, split, batch, threads, wseed;
    double momentum, l1;
    float *alpha = NULL;
    void *blob = NULL;
    size_t blob_n = 0;
    hr_status st;
    char desc[160];

    drop_model(w);
    if ((st = hr__meta_parse(msg, &meta, err)))
        return st;
    if ((st = hr__meta_str(meta, what, "purpose", 0, 32, &purpose, err)) ||
        (st = hr__meta_str(meta, what, "arch", 1, 63, &arch, err)) ||
        (st = hr__meta_int(meta, what, "input_size", 0, 0, 0, 65536, &input_size, err)) ||
        (st = hr__meta_int(meta, what, "in_channels", 0, 0, 0, 65536, &in_ch, err)) ||
        (st = hr__meta_int(meta, what, "num_classes", 0, 0, 0, 1 << 20, &classes, err)) ||
        (st = hr__meta_int(meta, what, "split", 1, 0, 0, HR_LUT_MAX_BLOCKS, &split, err)) ||
        (st = hr__meta_int(meta, what, "batch", 0, 32, 1, 65536, &batch, err)) ||
        (st = hr__meta_int(meta, what, "threads", 0, 0, 0, 1024, &threads, err)) ||
        (st = hr__meta_num(meta, what, "momentum", 0, 0.9, 0, 0.999999, &momentum, err)) ||
        (st = hr__meta_num(meta, what, "l1", 0, 0.001, 0, 100, &l1, err)))
        goto out;
    if (purpose && strcmp(purpose, "train") != 0) {
        st = hr_error_set(err, HR_ERR_UNSUPPORTED, "model_sync: purpose '%s' is not supported (only train)", purpose);
        goto out;
    }
    wj = json_object_get(meta, "weights");
    if (!json_is_object(wj) || (st = hr__meta_str(wj, "model_sync weights", "kind", 1, 16, &kind, err))) {
        if (!st)
            st = violation(err, "model_sync: field 'weights' must be an object");
        goto out;
    }
    if (strcmp(kind, "random") != 0 && strcmp(kind, "inline") != 0) {
        st = violation(err, "model_sync: weights kind '%s' is neither random nor inline", kind);
        goto out;
    }
    if (strcmp(kind, "inline") == 0 && (st = recv_weights(w, wj, &blob, &blob_n, err)))
        goto out;

    hr_ctx_params cp = hr_ctx_params_default();
    hr_model_params mp = hr_model_params_default();
    cp.threads = threads > 0 ? (int)threads : w->p->threads;
    mp.input_size = input_size;
    mp.in_channels = in_ch;
    mp.num_classes = classes;
    if ((st = hr_ctx_create(&cp, &w->ctx, err)) || (st = hr_model_create(w->ctx, arch, &mp, &w->m, err)))
        goto out;
    if (split > hr_model_num_blocks(w->m)) {
        st = hr_error_set(err, HR_ERR_INVALID_ARG, "model_sync: split %lld is outside 0..%d for %s", (long long)split,
                          hr_model_num_blocks(w->m), arch);
        goto out;
    }
    if (blob)
        st = hr__model_from_blob(w->m, blob, blob_n, err);
    else if (!(st = hr__meta_int(wj, "model_sync weights", "seed", 1, 0, 0, INT64_MAX, &wseed, err)))
        st = hr_model_init_random(w->m, (uint64_t)wseed, err);
    if (st)
        goto out;
    if (json_object_get(meta, "alpha")) {
        const int nb = hr_model_num_blocks(w->m);
        if (!(alpha = malloc(sizeof(float) * (size_t)(nb * 3)))) {
            st = hr_error_set(err, HR_ERR_NOMEM, "model_sync: out of memory");
            goto out;
        }
        if ((st = hr__alpha_from_json(json_object_get(meta, "alpha"), what, nb, alpha, err)) ||
            (st = hr__model_set_alpha_all(w->m, alpha, err)))
            goto out;
    }
    w->split = (int)split;
    w->tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    w->tp.batch = batch;
    w->tp.momentum = (float)momentum;
    w->tp.l1 = (float)l1;
    w->tp.part = HR_PART_HEAD;
    w->tp.split = (int)split;
    if ((st = make_head(w, err)))
        goto out;
    snprintf(desc, sizeof desc, "%s, head = stage 0 + blocks [0, %d) of %d, %s weights", hr_model_arch(w->m)->name,
             w->split, hr_model_num_blocks(w->m), kind);
    wlog(w, "model: %s", desc);
    st = hr__send_json(w->c, HR_MSG_ACK, msg->id, json_pack("{s:s, s:i}", "model", desc, "threads", cp.threads),
                       NULL, 0, err);
out:
    if (st)
        drop_model(w);
    free(blob);
    free(alpha);
    json_decref(meta);
    return st;
}

/* ------------------------------------------------------------- ALPHA_SYNC */

static hr_status send_alpha(worker *w, hr_msg_type type, uint32_t id, hr_error *err)
{
    const int nb = hr_model_num_blocks(w->m);
    float *a = malloc(sizeof(float) * (size_t)(nb * 3));
    hr_status st;
    if (!a)
        return hr_error_set(err, HR_ERR_NOMEM, "alpha_sync: out of memory");
    hr__model_get_alpha(w->m, a);
    /* The head's trained α live in its trainer; the tail's are the server's. */
    for (int i = 0; i < w->split; i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            a[i * 3 + br] = hr_trainer_alpha(w->head, i, (hr_branch)br);
    int64_t shape[2] = {nb, 3};
    hr_tensor t = hr_tensor_view(a, 2, shape);
    hr_wire_tensor wt = hr_wire_from_tensor(&t);
    st = hr_chan_send(w->c, type, id, NULL, &wt, 1, err);
    free(a);
    return st;
}

static hr_status do_alpha_sync(worker *w, const hr_msg *msg, hr_error *err)
{
    const int nb = hr_model_num_blocks(w->m);
    hr_tensor t;
    hr_status st;
    if (msg->ntensors == 0)
        return send_alpha(w, HR_MSG_ALPHA_SYNC, msg->id, err);
    if ((st = hr_wire_to_tensor(&msg->tensor[0], "alpha_sync alpha", &t, err)))
        return st;
    if (t.ndim != 2 || t.shape[0] != nb || t.shape[1] != 3)
        return hr_error_set(err, HR_ERR_SHAPE, "alpha_sync: alpha has shape [%lld, %lld], expected [%d, 3]",
                            (long long)t.shape[0], (long long)(t.ndim > 1 ? t.shape[1] : 0), nb);
    for (int i = 0; i < nb * 3; i++)
        if (!isfinite(t.data[i]))
            return hr_error_set(err, HR_ERR_FORMAT, "alpha_sync: alpha[%d][%d] is not finite", i / 3, i % 3);
    hr_trainer_destroy(w->head);
    w->head = NULL;
    if ((st = hr__model_set_alpha_all(w->m, t.data, err)) || (st = make_head(w, err)))
        return st;
    return hr_chan_send(w->c, HR_MSG_ACK, msg->id, NULL, NULL, 0, err);
}

/* ----------------------------------------------------------- DOMAIN_START */

static hr_status parse_u64(const json_t *o, const char *what, const char *key, uint64_t def, uint64_t *out,
                           hr_error *err)
{
    const json_t *v = json_object_get(o, key);
    char *end;
    if (!v) {
        *out = def;
        return HR_OK;
    }
    /* Seeds are full 64-bit values: carried as decimal strings (JSON
     * integers stop at 2^63 in most readers). */
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return HR_OK;
    }
    errno = 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        unsigned long long x = strtoull(s, &end, 10);
        if (*s >= '0' && *s <= '9' && !*end && !errno) {
            *out = (uint64_t)x;
            return HR_OK;
        }
    }
    return hr_error_set(err, HR_ERR_FORMAT, "%s: field '%s' is not an unsigned 64-bit integer", what, key);
}

static hr_status do_domain_start(worker *w, const hr_msg *msg, hr_error *err)
{
    const char *what = "domain_start", *source, *part;
    json_t *meta = NULL, *dj;
    int64_t domain, max_samples;
    uint64_t shuffle_seed, data_seed;
    double lr;
    char key[1024];
    hr_status st;
    drop_domain(w);
    if ((st = hr__meta_parse(msg, &meta, err)))
        return st;
    dj = json_object_get(meta, "data");
    if (!json_is_object(dj)) {
        st = violation(err, "domain_start: field 'data' must be an object");
        goto out;
    }
    if ((st = hr__meta_int(meta, what, "domain", 1, 0, 0, HR_NUM_DOMAINS - 1, &domain, err)) ||
        (st = hr__meta_num(meta, what, "lr", 0, 0.01, 0, 100, &lr, err)) ||
        (st = parse_u64(meta, what, "shuffle_seed", 42, &shuffle_seed, err)) ||
        (st = hr__meta_str(dj, "domain_start data", "source", 0, 900, &source, err)) ||
        (st = hr__meta_str(dj, "domain_start data", "partition", 0, 16, &part, err)) ||
        (st = parse_u64(dj, "domain_start data", "seed", 42, &data_seed, err)) ||
        (st = hr__meta_int(dj, "domain_start data", "max_samples", 0, 0, 0, INT64_MAX, &max_samples, err)))
        goto out;
    hr_data_params dp = hr_data_params_default();
    if (source && strcmp(source, "fashion-mnist") != 0 && (!w->p->data || strcmp(source, w->p->data) != 0)) {
        st = violation(err, "domain_start: data source '%.200s' is not one this worker serves (fashion-mnist%s%.200s; "
                       "start it with --data)", source, w->p->data ? " and " : "", w->p->data ? w->p->data : "");
        goto out;
    }
    if (source)
        dp.source = source;
    dp.seed = data_seed;
    dp.load.max_samples = max_samples;
    if (part) {
        int k = hr_partition_kind_parse(part);
        if (k < 0) {
            st = violation(err, "domain_start: partition '%s' is not auto, classes or dirichlet", part);
            goto out;
        }
        dp.partition.kind = (hr_partition_kind)k;
    }
    snprintf(key, sizeof key, "%s|%llu|%lld|%d", dp.source ? dp.source : "fashion-mnist",
             (unsigned long long)data_seed, (long long)max_samples, (int)dp.partition.kind);
    if (!w->data || strcmp(key, w->data_key) != 0) {
        hr_data_destroy(w->data);
        w->data = NULL;
        w->data_key[0] = '\0';
        wlog(w, "loading data %s", dp.source ? dp.source : "fashion-mnist");
        if ((st = hr_data_open(w->ctx, &dp, &w->data, err)))
            goto out;
        snprintf(w->data_key, sizeof w->data_key, "%s", key);
    }
    /* The iterators of pseudo mode: train shuffled per epoch by the seed,
     * validation and test in order, all with the trainer's batch. */
    hr_batch_params bp = hr_batch_params_default(), ev = hr_batch_params_default();
    bp.batch_size = w->tp.batch;
    bp.shuffle = 1;
    bp.seed = shuffle_seed;
    ev.batch_size = w->tp.batch;
    if ((st = hr_data_iter_create(w->ctx, w->data, (int)domain, HR_PART_TRAIN, &bp, &w->it[HR_PART_TRAIN], err)) ||
        (st = hr_data_iter_create(w->ctx, w->data, (int)domain, HR_PART_VAL, &ev, &w->it[HR_PART_VAL], err)) ||
        (st = hr_data_iter_create(w->ctx, w->data, (int)domain, HR_PART_TEST, &ev, &w->it[HR_PART_TEST], err)))
        goto out;
    {
        int64_t shape[4];
        hr_dataset_shape(hr_data_pool(w->data, HR_POOL_TRAIN), shape);
        if (shape[0] != hr_model_in_channels(w->m) || shape[1] != hr_model_input_size(w->m) ||
            shape[2] != hr_model_input_size(w->m)) {
            st = hr_error_set(err, HR_ERR_SHAPE, "domain_start: the data's samples are %lldx%lldx%lld, the model "
                              "takes %lldx%lldx%lld", (long long)shape[0], (long long)shape[1], (long long)shape[2],
                              (long long)hr_model_in_channels(w->m), (long long)hr_model_input_size(w->m),
                              (long long)hr_model_input_size(w->m));
            goto out;
        }
    }
    w->domain = (int)domain;
    w->lr = lr;
    hr_trainer_reset_momentum(w->head);
    wlog(w, "domain %d: %lld train / %lld val / %lld test samples", w->domain,
         (long long)hr_batch_iter_samples(w->it[HR_PART_TRAIN]), (long long)hr_batch_iter_samples(w->it[HR_PART_VAL]),
         (long long)hr_batch_iter_samples(w->it[HR_PART_TEST]));
    st = hr__send_json(w->c, HR_MSG_ACK, msg->id,
                       json_pack("{s:I, s:I, s:I, s:I}", "train", (json_int_t)hr_batch_iter_samples(w->it[HR_PART_TRAIN]),
                                 "val", (json_int_t)hr_batch_iter_samples(w->it[HR_PART_VAL]), "test",
                                 (json_int_t)hr_batch_iter_samples(w->it[HR_PART_TEST]), "batches",
                                 (json_int_t)hr_batch_iter_batches(w->it[HR_PART_TRAIN])),
                       NULL, 0, err);
out:
    if (st)
        drop_domain(w);
    json_decref(meta);
    return st;
}

/* ----------------------------------------------------- training and eval */

static double head_l1(const worker *w)
{
    double s = 0;
    for (int i = 0; i < w->split; i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            s += fabs((double)hr_trainer_alpha(w->head, i, (hr_branch)br));
    return s;
}

static hr_wire_tensor labels_wire(const hr_batch *b)
{
    hr_wire_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = HR_WIRE_I64;
    t.ndim = 1;
    t.shape[0] = b->n;
    t.data = (void *)b->labels; /* the encoder only reads it */
    t.nbytes = (size_t)b->n * sizeof(int64_t);
    return t;
}

/* One epoch led by the worker: FORWARD per batch, each answered by a
 * BACKWARD whose gradient runs through the head; an ACK ends the epoch. */
static hr_status do_train_epoch(worker *w, const hr_msg *msg, const json_t *meta, hr_error *err)
{
    const char *what = "ack (train_epoch)";
    int64_t epoch, steps = 0, seen = 0;
    double lr;
    hr_batch b;
    hr_msg r;
    hr_status st;
    if ((st = hr__meta_int(meta, what, "train_epoch", 1, 0, 0, 1000000, &epoch, err)) ||
        (st = hr__meta_num(meta, what, "lr", 0, w->lr, 0, 100, &lr, err)))
        return st;
    if (w->domain < 0)
        return violation(err, "train_epoch %lld without a domain (send domain_start first)", (long long)epoch);
    if ((st = hr_batch_iter_seek(w->it[HR_PART_TRAIN], epoch, 0, err)))
        return st;
    hr_msg_init(&r);
    const int64_t total = hr_batch_iter_batches(w->it[HR_PART_TRAIN]);
    while ((st = hr_batch_iter_next(w->it[HR_PART_TRAIN], &b, err)) == HR_OK && b.n > 0) {
        int64_t fs[4];
        hr_trainer_features_shape(w->head, b.n, fs);
        hr_tensor f = hr_tensor_view(w->feat, 4, fs), g;
        hr_wire_tensor wt[2];
        double l1 = head_l1(w);
        if ((st = hr_trainer_head_forward(w->head, &b.x, &f, err)))
            break;
        wt[0] = hr_wire_from_tensor(&f);
        wt[1] = labels_wire(&b);
        json_t *fm = json_pack("{s:I, s:I, s:I, s:f}", "epoch", (json_int_t)epoch, "step", (json_int_t)steps, "steps",
                               (json_int_t)total, "head_l1_sum", l1);
        if ((st = hr__send_json(w->c, HR_MSG_FORWARD, msg->id, fm, wt, 2, err)) ||
            (st = hr_chan_expect(w->c, HR_MSG_BACKWARD, w->p->reply_timeout_ms, &r, err)))
            break;
        if ((st = hr_wire_to_tensor(&r.tensor[0], "backward gradient", &g, err)))
            break;
        if (!hr_tensor_same_shape(&g, &f)) {
            st = hr_error_set(err, HR_ERR_SHAPE, "backward: gradient shape [%lld, %lld, %lld, %lld] differs from the "
                              "features [%lld, %lld, %lld, %lld]", (long long)g.shape[0],
                              (long long)(g.ndim > 1 ? g.shape[1] : 0), (long long)(g.ndim > 2 ? g.shape[2] : 0),
                              (long long)(g.ndim > 3 ? g.shape[3] : 0), (long long)fs[0], (long long)fs[1],
                              (long long)fs[2], (long long)fs[3]);
            break;
        }
        if ((st = hr_trainer_head_backward(w->head, &g, NULL, err)))
            break;
        hr_trainer_update(w->head, (float)lr);
        steps++;
        seen += b.n;
    }
    hr_msg_deinit(&r);
    if (st)
        return st;
    return hr__send_json(w->c, HR_MSG_ACK, msg->id,
                         json_pack("{s:I, s:I, s:I}", "epoch_done", (json_int_t)epoch, "batches", (json_int_t)steps,
                                   "samples", (json_int_t)seen),
                         NULL, 0, err);
}

static hr_status do_eval(worker *w, const hr_msg *msg, hr_error *err)
{
    const char *pn;
    char part_name[8];
    json_t *meta = NULL;
    hr_data_part part;
    int64_t batches = 0, n = 0, correct = 0;
    hr_batch b;
    hr_msg r;
    hr_status st;
    if (w->domain < 0)
        return violation(err, "eval_start without a domain (send domain_start first)");
    if ((st = hr__meta_parse(msg, &meta, err)))
        return st;
    st = hr__meta_str(meta, "eval_start", "part", 1, 6, &pn, err);
    if (!st)
        snprintf(part_name, sizeof part_name, "%s", pn);
    json_decref(meta);
    if (st)
        return st;
    if (strcmp(part_name, "val") == 0)
        part = HR_PART_VAL;
    else if (strcmp(part_name, "test") == 0)
        part = HR_PART_TEST;
    else if (strcmp(part_name, "train") == 0)
        part = HR_PART_TRAIN;
    else
        return violation(err, "eval_start: part '%s' is not val, test or train", part_name);
    hr_batch_iter *it = w->it[part];
    /* The training iterator shuffles per epoch; evaluate it in epoch 0's order. */
    if ((st = hr_batch_iter_seek(it, 0, 0, err)))
        return st;
    hr_msg_init(&r);
    while ((st = hr_batch_iter_next(it, &b, err)) == HR_OK && b.n > 0) {
        int64_t fs[4], rn, rc;
        hr_trainer_features_shape(w->head, b.n, fs);
        hr_tensor f = hr_tensor_view(w->feat, 4, fs);
        hr_wire_tensor wt[2];
        json_t *rm = NULL;
        if ((st = hr_trainer_head_predict(w->head, &b.x, &f, err)))
            break;
        wt[0] = hr_wire_from_tensor(&f);
        wt[1] = labels_wire(&b);
        if ((st = hr__send_json(w->c, HR_MSG_EVAL_BATCH, msg->id, json_pack("{s:I}", "batch", (json_int_t)batches),
                                wt, 2, err)) ||
            (st = hr_chan_expect(w->c, HR_MSG_EVAL_RESULT, w->p->reply_timeout_ms, &r, err)) ||
            (st = hr__meta_parse(&r, &rm, err)))
            break;
        if (!(st = hr__meta_int(rm, "eval_result", "n", 1, 0, b.n, b.n, &rn, err)))
            st = hr__meta_int(rm, "eval_result", "correct", 1, 0, 0, b.n, &rc, err);
        json_decref(rm);
        if (st)
            break;
        correct += rc;
        n += b.n;
        batches++;
    }
    hr_msg_deinit(&r);
    if (st)
        return st;
    if ((st = hr__send_json(w->c, HR_MSG_EVAL_END, msg->id,
                            json_pack("{s:s, s:I, s:I, s:I}", "part", part_name, "batches", (json_int_t)batches, "n",
                                      (json_int_t)n, "correct", (json_int_t)correct),
                            NULL, 0, err)))
        return st;
    hr_msg_init(&r);
    st = hr_chan_expect(w->c, HR_MSG_ACK, w->p->reply_timeout_ms, &r, err);
    hr_msg_deinit(&r);
    return st;
}

static hr_status do_domain_end(worker *w, const hr_msg *msg, hr_error *err)
{
    if (w->domain < 0)
        return violation(err, "domain_end without a domain");
    drop_domain(w);
    const int nb = hr_model_num_blocks(w->m);
    float *a = malloc(sizeof(float) * (size_t)(nb * 3));
    if (!a)
        return hr_error_set(err, HR_ERR_NOMEM, "domain_end: out of memory");
    hr__model_get_alpha(w->m, a);
    for (int i = 0; i < w->split; i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            a[i * 3 + br] = hr_trainer_alpha(w->head, i, (hr_branch)br);
    /* An ACK carries no tensor: the α travel as exact decimal JSON. */
    json_t *aj = hr__alpha_to_json(a, nb);
    free(a);
    if (!aj)
        return hr_error_set(err, HR_ERR_NOMEM, "domain_end: out of memory");
    return hr__send_json(w->c, HR_MSG_ACK, msg->id, json_pack("{s:o, s:i}", "alpha", aj, "head_blocks", w->split),
                         NULL, 0, err);
}

/* ---------------------------------------------------------------- serving */

static hr_status dispatch(worker *w, const hr_msg *msg, int *shutdown, hr_error *err)
{
    hr_status st;
    switch (msg->type) {
    case HR_MSG_SHUTDOWN:
        *shutdown = 1;
        return hr_chan_send(w->c, HR_MSG_ACK, msg->id, NULL, NULL, 0, err);
    case HR_MSG_LUT_MEASURE: return do_lut_measure(w, msg, err);
    case HR_MSG_LINK_PROBE: return do_link_probe(w, msg, err);
    case HR_MSG_SERVE_PROBE: return hr__worker_serve_probe(w->c, w->p, msg, err);
    case HR_MSG_MODEL_SYNC: return do_model_sync(w, msg, err);
    case HR_MSG_ALPHA_SYNC:
        if (!w->head)
            return violation(err, "alpha_sync before model_sync");
        return do_alpha_sync(w, msg, err);
    case HR_MSG_DOMAIN_START:
        if (!w->head)
            return violation(err, "domain_start before model_sync");
        return do_domain_start(w, msg, err);
    case HR_MSG_DOMAIN_END:
        if (!w->head)
            return violation(err, "domain_end before model_sync");
        return do_domain_end(w, msg, err);
    case HR_MSG_EVAL_START:
        if (!w->head)
            return violation(err, "eval_start before model_sync");
        return do_eval(w, msg, err);
    case HR_MSG_ACK: {
        /* The only ACK a server sends unasked starts a training epoch. */
        json_t *meta = NULL;
        if ((st = hr__meta_parse(msg, &meta, err)))
            return st;
        if (!json_object_get(meta, "train_epoch"))
            st = violation(err, "unexpected ack (no train_epoch in it)");
        else if (!w->head)
            st = violation(err, "train_epoch before model_sync");
        else
            st = do_train_epoch(w, msg, meta, err);
        json_decref(meta);
        return st;
    }
    default:
        return violation(err, "unexpected %s from the server between commands", hr_msg_type_name(msg->type));
    }
}

hr_status hr_worker_serve(hr_chan *c, const hr_worker_params *params, int *shutdown, hr_error *err)
{
    worker w;
    hr_msg msg;
    hr_status st;
    hr_error e = {0};
    memset(&w, 0, sizeof w);
    w.c = c;
    w.p = params;
    w.domain = -1;
    *shutdown = 0;
    hr_msg_init(&msg);
    for (;;) {
        if ((st = hr_chan_recv(c, -1, &msg, &e)))
            break;
        st = dispatch(&w, &msg, shutdown, &e);
        if (st) {
            /* Tell the server why, unless the channel itself failed. */
            if (st != HR_ERR_IO)
                hr_chan_send_error(c, msg.id, st, e.msg);
            break;
        }
        if (*shutdown)
            break;
    }
    if (st && err)
        *err = e;
    hr_msg_deinit(&msg);
    drop_model(&w);
    hr_data_destroy(w.data);
    free(w.probe);
    return st;
}

typedef struct retry_log {
    const hr_worker_params *p;
} retry_log;

static void on_retry(void *user, const hr_error *why, int wait_ms)
{
    retry_log *rl = user;
    char line[700];
    if (!rl->p->log)
        return;
    snprintf(line, sizeof line, "cannot connect to %s (%s); retrying in %.1f s", rl->p->server, why ? why->msg : "",
             wait_ms / 1000.0);
    rl->p->log(rl->p->log_user, line);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

hr_status hr_worker_run(const hr_worker_params *params, hr_error *err)
{
    hr_worker_params p;
    retry_log rl;
    int sessions = 0, pause_ms = 250;
    char host[128];
    if (!params || !params->server || params->threads < 1 || params->threads > 1024 || params->reply_timeout_ms == 0 ||
        params->give_up_ms < 0 || params->max_sessions < 0 || params->max_model_mb < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "client: bad parameters (server required, threads 1..1024)");
    if (params->edge_slowdown != 0 && (params->edge || !(params->edge_slowdown >= 1) || !isfinite(params->edge_slowdown)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "client: edge_slowdown %g: a finite factor >= 1, and not with an "
                            "edge profile (%s)", params->edge_slowdown, params->edge ? params->edge->name : "none");
    p = *params;
    p.net.role = "client";
    if (!p.net.name)
        p.net.name = host_name(host, sizeof host);
    rl.p = &p;
    for (;;) {
        hr_chan *c = NULL;
        hr_error e = {0};
        int shutdown = 0;
        hr_status st = hr_chan_connect_retry(p.server, &p.net, p.give_up_ms, on_retry, &rl, &c, &e);
        if (st) {
            if (err)
                *err = e;
            return st;
        }
        {
            worker tmp;
            memset(&tmp, 0, sizeof tmp);
            tmp.p = &p;
            wlog(&tmp, "connected to %s (%s%s)", p.server, hr_chan_peer(c), hr_chan_is_tls(c) ? ", TLS" : "");
            st = hr_worker_serve(c, &p, &shutdown, &e);
            if (st)
                wlog(&tmp, "session ended: %s", e.msg);
            else
                wlog(&tmp, "shut down by the server");
        }
        hr_chan_destroy(c);
        sessions++;
        if ((shutdown && !p.stay) || (p.max_sessions && sessions >= p.max_sessions)) {
            if (err && st)
                *err = e;
            return shutdown ? HR_OK : st;
        }
        /* A session that ends in an error right away must not turn into a
         * tight reconnect loop: back off as the connect does. */
        if (st) {
            sleep_ms(pause_ms);
            pause_ms = pause_ms < 4000 ? pause_ms * 2 : 8000;
        } else {
            pause_ms = 250;
        }
    }
}
