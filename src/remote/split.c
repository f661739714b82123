/* Server-side driver of split α training and split evaluation (SPEC §10):
 * the server holds the tail (blocks [s, N) and the classifier), the worker
 * the head (stage 0 and blocks [0, s)). docs/PROTOCOL.md, "### Split
 * training" and "### Split evaluation".
 *
 * Equivalence with pseudo mode: the worker iterates the same batches as
 * `train-hyper` / the joint trainer (same iterator, same seed, same epoch
 * permutation), the head and tail trainers compute together exactly what
 * one whole trainer computes (train.h), and each side applies the same SGD
 * update to its own α. What differs is only where the numbers are
 * computed, so results agree up to float rounding (in practice exactly). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/remote.h"
#include "remote/remote_internal.h"

struct hr_split {
    hr_chan *c;
    hr_model *m;
    hr_split_params p;
    hr_trainer_params tp;
    hr_trainer *tail;
    float *grad;              /* batch × features */
    float *logits;            /* batch × classes */
    int nb;
    int domain;               /* -1: none started */
    uint32_t id;              /* request ids, for logs and replies */
};

hr_split_params hr_split_params_default(void)
{
    hr_split_params p;
    memset(&p, 0, sizeof p);
    p.batch = 32;
    p.momentum = 0.9;
    p.l1 = 0.001;
    p.weights = HR_SPLIT_WEIGHTS_INLINE;
    p.weights_seed = 42;
    p.timeout_ms = 120000;
    p.chunk_bytes = (size_t)4 << 20;
    return p;
}

hr_split_train_params hr_split_train_params_default(void)
{
    hr_split_train_params p;
    memset(&p, 0, sizeof p);
    p.epochs = 3;
    p.lr = 0.01;
    p.shuffle_seed = 42;
    p.data.seed = 42;
    p.data.partition = HR_PARTITION_AUTO;
    return p;
}

void hr_split_train_result_init(hr_split_train_result *r)
{
    memset(r, 0, sizeof *r);
}

void hr_split_train_result_deinit(hr_split_train_result *r)
{
    if (!r)
        return;
    free(r->alpha);
    hr_split_train_result_init(r);
}

hr_trainer *hr_split_tail(hr_split *s)
{
    return s->tail;
}

hr_model *hr_split_model(const hr_split *s)
{
    return s->m;
}

int hr_split_point(const hr_split *s)
{
    return s->p.split;
}

int64_t hr_split_batch(const hr_split *s)
{
    return s->p.batch;
}

double hr_split_momentum(const hr_split *s)
{
    return s->p.momentum;
}

double hr_split_l1(const hr_split *s)
{
    return s->p.l1;
}

/* Every exchange needs the tail trainer; it is missing only after a
 * failed hr_split_set_alpha. */
static hr_status need_tail(const hr_split *s, hr_error *err)
{
    return s->tail ? HR_OK
                   : hr_error_set(err, HR_ERR_INVALID_ARG, "split: no tail trainer (setting alpha failed earlier)");
}

static hr_status make_tail(hr_split *s, hr_error *err)
{
    hr_trainer_destroy(s->tail);
    s->tail = NULL;
    return hr_trainer_create(s->m, &s->tp, &s->tail, err);
}

static hr_status expect(hr_split *s, hr_msg_type type, int timeout_ms, hr_msg *m, hr_error *err)
{
    return hr_chan_expect(s->c, type, timeout_ms ? timeout_ms : s->p.timeout_ms, m, err);
}

/* The weights as a chunked safetensors blob (proto.h's hr_blob_rx on the
 * other side). */
static hr_status send_weights(hr_split *s, const void *blob, size_t n, const char *sha, hr_error *err)
{
    const uint8_t *b = blob;
    size_t chunk = s->p.chunk_bytes, chunks = n ? (n + chunk - 1) / chunk : 1;
    hr_status st = HR_OK;
    for (size_t k = 0; k < chunks && !st; k++) {
        size_t off = k * chunk, len = off + chunk <= n ? chunk : n - off;
        hr_wire_tensor t;
        memset(&t, 0, sizeof t);
        t.dtype = HR_WIRE_U8;
        t.ndim = 1;
        t.shape[0] = (int64_t)len;
        t.data = (void *)(b + off);
        t.nbytes = len;
        st = hr__send_json(s->c, HR_MSG_MODEL_SYNC, s->id,
                           json_pack("{s:I, s:I, s:I, s:s}", "bytes", (json_int_t)n, "chunk", (json_int_t)k, "chunks",
                                     (json_int_t)chunks, "sha256", sha),
                           &t, 1, err);
    }
    return st;
}

hr_status hr_split_create(hr_chan *c, hr_model *model, const hr_split_params *params, hr_split **out, hr_error *err)
{
    hr_split_params p = params ? *params : hr_split_params_default();
    hr_split *s;
    hr_status st;
    void *blob = NULL;
    size_t blob_n = 0;
    char sha[65];
    float *alpha = NULL;
    json_t *meta = NULL, *wj = NULL, *aj;
    hr_msg m;
    int64_t fs[4];
    if (!c || !model || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split: channel, model and result are required");
    const int nb = hr_model_num_blocks(model);
    if (p.split < 0 || p.split > nb || p.batch < 1 || p.batch > 65536 || !(p.momentum >= 0 && p.momentum < 1) ||
        !(p.l1 >= 0) || p.timeout_ms == 0 || p.chunk_bytes < 1 || p.chunk_bytes > (size_t)32 << 20 ||
        p.threads < 0 || (unsigned)p.weights >= HR_SPLIT_WEIGHTS_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split: bad parameters (split %d in 0..%d, batch %lld >= 1, "
                            "momentum %g in [0, 1), l1 %g >= 0, chunk 1 B..32 MiB)", p.split, nb,
                            (long long)p.batch, p.momentum, p.l1);
    if (!(s = calloc(1, sizeof *s)))
        return hr_error_set(err, HR_ERR_NOMEM, "split: out of memory");
    s->c = c;
    s->m = model;
    s->p = p;
    s->nb = nb;
    s->domain = -1;
    s->id = 1;
    s->tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    s->tp.batch = p.batch;
    s->tp.momentum = (float)p.momentum;
    s->tp.l1 = (float)p.l1;
    s->tp.part = HR_PART_TAIL;
    s->tp.split = p.split;
    if ((st = make_tail(s, err)))
        goto fail;
    hr_trainer_features_shape(s->tail, p.batch, fs);
    s->grad = malloc(sizeof(float) * (size_t)(fs[0] * fs[1] * fs[2] * fs[3]) + 1);
    s->logits = malloc(sizeof(float) * (size_t)(p.batch * hr_model_num_classes(model)) + 1);
    alpha = malloc(sizeof(float) * (size_t)(nb * 3));
    if (!s->grad || !s->logits || !alpha) {
        st = hr_error_set(err, HR_ERR_NOMEM, "split: out of memory");
        goto fail;
    }
    hr__model_get_alpha(model, alpha);
    if (p.weights == HR_SPLIT_WEIGHTS_INLINE) {
        if ((st = hr__model_to_blob(model, &blob, &blob_n, err)))
            goto fail;
        hr_sha256_hex(blob, blob_n, sha);
        wj = json_pack("{s:s, s:I, s:I, s:s}", "kind", "inline", "bytes", (json_int_t)blob_n, "chunks",
                       (json_int_t)(blob_n ? (blob_n + p.chunk_bytes - 1) / p.chunk_bytes : 1), "sha256", sha);
    } else {
        wj = json_pack("{s:s, s:I}", "kind", "random", "seed", (json_int_t)(p.weights_seed & INT64_MAX));
    }
    aj = hr__alpha_to_json(alpha, nb);
    meta = wj && aj ? json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:I, s:f, s:f, s:i, s:o, s:o}", "purpose", "train",
                                "arch", hr_model_arch(model)->name, "input_size",
                                (json_int_t)hr_model_input_size(model), "in_channels",
                                (json_int_t)hr_model_in_channels(model), "num_classes",
                                (json_int_t)hr_model_num_classes(model), "split", p.split, "batch", (json_int_t)p.batch,
                                "momentum", p.momentum, "l1", p.l1, "threads", p.threads, "alpha", aj, "weights", wj)
                    : NULL;
    if (!meta) {
        json_decref(wj);
        json_decref(aj);
        st = hr_error_set(err, HR_ERR_NOMEM, "split: out of memory");
        goto fail;
    }
    if ((st = hr__send_json(c, HR_MSG_MODEL_SYNC, s->id, meta, NULL, 0, err)))
        goto fail;
    if (blob && (st = send_weights(s, blob, blob_n, sha, err)))
        goto fail;
    hr_msg_init(&m);
    /* Building a large model from its weights takes a while. */
    st = expect(s, HR_MSG_ACK, s->p.timeout_ms > 0 && s->p.timeout_ms < 600000 ? 600000 : s->p.timeout_ms, &m, err);
    hr_msg_deinit(&m);
    if (st)
        goto fail;
    free(blob);
    free(alpha);
    *out = s;
    return HR_OK;
fail:
    free(blob);
    free(alpha);
    hr_split_destroy(s);
    return st;
}

void hr_split_destroy(hr_split *s)
{
    if (!s)
        return;
    hr_trainer_destroy(s->tail);
    free(s->grad);
    free(s->logits);
    free(s);
}

static const char *part_name(hr_data_part part)
{
    return part == HR_PART_VAL ? "val" : part == HR_PART_TEST ? "test" : "train";
}

hr_status hr_split_domain_start(hr_split *s, const hr_split_data *data, int domain, uint64_t shuffle_seed,
                                int64_t sizes[3], hr_error *err)
{
    char seed_text[32], data_seed[32];
    json_t *meta, *rm = NULL;
    hr_msg m;
    hr_status st;
    int64_t v[3], batches;
    if (domain < 0 || domain >= HR_NUM_DOMAINS || !data)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split: domain %d is not in 0..%d", domain, HR_NUM_DOMAINS - 1);
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)shuffle_seed);
    snprintf(data_seed, sizeof data_seed, "%llu", (unsigned long long)data->seed);
    meta = json_pack("{s:i, s:s, s:{s:s, s:s, s:I, s:s}}", "domain", domain, "shuffle_seed", seed_text, "data",
                     "source", data->source ? data->source : "fashion-mnist", "seed", data_seed, "max_samples",
                     (json_int_t)data->max_samples, "partition", hr_partition_kind_name(data->partition));
    if (!meta)
        return hr_error_set(err, HR_ERR_NOMEM, "split: out of memory");
    if ((st = hr__send_json(s->c, HR_MSG_DOMAIN_START, ++s->id, meta, NULL, 0, err)))
        return st;
    hr_msg_init(&m);
    /* Opening the data source can take a while (decompressing, partitioning). */
    if ((st = expect(s, HR_MSG_ACK, s->p.timeout_ms > 0 && s->p.timeout_ms < 600000 ? 600000 : 0, &m, err)) ||
        (st = hr__meta_parse(&m, &rm, err)) ||
        (st = hr__meta_int(rm, "domain_start ack", "train", 1, 0, 1, INT64_MAX, &v[0], err)) ||
        (st = hr__meta_int(rm, "domain_start ack", "val", 1, 0, 0, INT64_MAX, &v[1], err)) ||
        (st = hr__meta_int(rm, "domain_start ack", "test", 1, 0, 0, INT64_MAX, &v[2], err)) ||
        (st = hr__meta_int(rm, "domain_start ack", "batches", 1, 0, 1, INT64_MAX, &batches, err)))
        goto out;
    if (sizes)
        memcpy(sizes, v, sizeof v);
    hr_trainer_reset_momentum(s->tail);
    s->domain = domain;
out:
    json_decref(rm);
    hr_msg_deinit(&m);
    return st;
}

/* Checks a FORWARD / EVAL_BATCH pair (features, labels) against the tail. */
static hr_status check_batch(hr_split *s, const hr_msg *m, hr_tensor *f, const int64_t **labels, hr_error *err)
{
    const char *what = hr_msg_type_name(m->type);
    int64_t want[4], n;
    hr_status st;
    char name[64];
    snprintf(name, sizeof name, "%s features", what);
    if (m->ntensors != 2)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %d tensors, expected features and labels", what, m->ntensors);
    if ((st = hr_wire_to_tensor(&m->tensor[0], name, f, err)))
        return st;
    n = f->shape[0];
    if (f->ndim != 4 || n < 1 || n > s->p.batch)
        return hr_error_set(err, HR_ERR_SHAPE, "%s: features must be [n, C, H, W] with 1 <= n <= %lld", what,
                            (long long)s->p.batch);
    hr_trainer_features_shape(s->tail, n, want);
    if (f->shape[1] != want[1] || f->shape[2] != want[2] || f->shape[3] != want[3])
        return hr_error_set(err, HR_ERR_SHAPE, "%s: features [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, "
                            "%lld] (the input of block %d)", what, (long long)n, (long long)f->shape[1],
                            (long long)f->shape[2], (long long)f->shape[3], (long long)want[0], (long long)want[1],
                            (long long)want[2], (long long)want[3], s->p.split);
    if (m->tensor[1].dtype != HR_WIRE_I64 || m->tensor[1].ndim != 1 || m->tensor[1].shape[0] != n)
        return hr_error_set(err, HR_ERR_SHAPE, "%s: labels must be i64 [%lld]", what, (long long)n);
    *labels = m->tensor[1].data;
    for (int64_t i = 0; i < n; i++)
        if ((*labels)[i] < 0 || (*labels)[i] >= hr_model_num_classes(s->m))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: label %lld of sample %lld is outside 0..%lld", what,
                                (long long)(*labels)[i], (long long)i, (long long)hr_model_num_classes(s->m) - 1);
    return HR_OK;
}

hr_status hr_split_train_epoch(hr_split *s, int epoch, double lr, hr_split_epoch *out, hr_error *err)
{
    hr_split_epoch e;
    hr_msg m;
    json_t *meta = NULL;
    hr_status st;
    uint64_t sent0, recv0, sent1, recv1;
    double loss = 0, xent = 0;
    int64_t correct = 0;
    const uint32_t id = ++s->id;
    memset(&e, 0, sizeof e);
    if ((st = need_tail(s, err)))
        return st;
    if (s->domain < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split: train epoch %d before a domain was started", epoch);
    if (epoch < 0 || !(lr >= 0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split: epoch %d, lr %g", epoch, lr);
    hr_chan_counters(s->c, &sent0, &recv0);
    if ((st = hr__send_json(s->c, HR_MSG_ACK, id, json_pack("{s:i, s:f}", "train_epoch", epoch, "lr", lr), NULL, 0,
                            err)))
        return st;
    hr_msg_init(&m);
    for (;;) {
        hr_tensor f, g;
        const int64_t *labels;
        hr_train_stats ts;
        double head_l1, whole;
        int64_t step;
        json_decref(meta);
        meta = NULL;
        if ((st = hr_chan_recv(s->c, s->p.timeout_ms, &m, err)) || (st = hr__meta_parse(&m, &meta, err)))
            break;
        if (m.type == HR_MSG_ACK) {
            int64_t done, batches;
            if ((st = hr__meta_int(meta, "epoch ack", "epoch_done", 1, 0, epoch, epoch, &done, err)) ||
                (st = hr__meta_int(meta, "epoch ack", "batches", 1, 0, e.batches, e.batches, &batches, err)))
                break;
            break;
        }
        if (m.type != HR_MSG_FORWARD) {
            st = hr_error_set(err, HR_ERR_FORMAT, "split training, epoch %d: expected forward or the epoch's ack, "
                              "got %s", epoch, hr_msg_type_name(m.type));
            break;
        }
        int64_t fe;
        if ((st = hr__meta_int(meta, "forward", "epoch", 1, 0, epoch, epoch, &fe, err)) ||
            (st = hr__meta_int(meta, "forward", "step", 1, 0, e.batches, e.batches, &step, err)) ||
            (st = hr__meta_num(meta, "forward", "head_l1_sum", 0, 0, 0, 1e30, &head_l1, err)) ||
            (st = check_batch(s, &m, &f, &labels, err)))
            break;
        g = hr_tensor_view(s->grad, 4, f.shape);
        if ((st = hr_trainer_tail_compute(s->tail, &f, labels, &g, &ts, err)))
            break;
        /* The loss of the whole network: the tail's plus the head's l1 share. */
        whole = ts.loss + (double)s->tp.l1 * head_l1;
        hr_wire_tensor wg = hr_wire_from_tensor(&g);
        if ((st = hr__send_json(s->c, HR_MSG_BACKWARD, m.id,
                                json_pack("{s:f, s:f, s:I, s:I}", "loss", whole, "xent", ts.xent, "correct",
                                          (json_int_t)ts.correct, "n", (json_int_t)ts.n),
                                &wg, 1, err)))
            break;
        /* The worker runs its backward meanwhile. */
        hr_trainer_update(s->tail, (float)lr);
        loss += whole * (double)ts.n;
        xent += ts.xent * (double)ts.n;
        correct += ts.correct;
        e.n += ts.n;
        e.batches++;
    }
    json_decref(meta);
    hr_msg_deinit(&m);
    if (st) {
        hr_error_prefix(err, "split training, epoch %d", epoch);
        return st;
    }
    hr_chan_counters(s->c, &sent1, &recv1);
    e.loss = e.n ? loss / (double)e.n : 0;
    e.xent = e.n ? xent / (double)e.n : 0;
    e.acc = e.n ? 100.0 * (double)correct / (double)e.n : 0;
    e.bytes_up = recv1 - recv0;
    e.bytes_down = sent1 - sent0;
    if (out)
        *out = e;
    return HR_OK;
}

hr_status hr_split_evaluate(hr_split *s, hr_data_part part, double *acc, int64_t *nout, hr_error *err)
{
    hr_msg m;
    json_t *meta = NULL;
    hr_status st;
    int64_t n = 0, correct = 0, batches = 0;
    const int64_t classes = hr_model_num_classes(s->m);
    const uint32_t id = ++s->id;
    if ((st = need_tail(s, err)))
        return st;
    if (s->domain < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split: evaluation before a domain was started");
    if ((st = hr__send_json(s->c, HR_MSG_EVAL_START, id, json_pack("{s:s}", "part", part_name(part)), NULL, 0, err)))
        return st;
    hr_msg_init(&m);
    for (;;) {
        hr_tensor f;
        const int64_t *labels;
        int64_t hit = 0;
        json_decref(meta);
        meta = NULL;
        if ((st = hr_chan_recv(s->c, s->p.timeout_ms, &m, err)) || (st = hr__meta_parse(&m, &meta, err)))
            break;
        if (m.type == HR_MSG_EVAL_END) {
            int64_t en, eb, ec;
            if ((st = hr__meta_int(meta, "eval_end", "n", 1, 0, n, n, &en, err)) ||
                (st = hr__meta_int(meta, "eval_end", "batches", 1, 0, batches, batches, &eb, err)) ||
                (st = hr__meta_int(meta, "eval_end", "correct", 1, 0, correct, correct, &ec, err)))
                break;
            break;
        }
        if (m.type != HR_MSG_EVAL_BATCH) {
            st = hr_error_set(err, HR_ERR_FORMAT, "split evaluation: expected eval_batch or eval_end, got %s",
                              hr_msg_type_name(m.type));
            break;
        }
        if ((st = check_batch(s, &m, &f, &labels, err)))
            break;
        int64_t ls[2] = {f.shape[0], classes};
        hr_tensor y = hr_tensor_view(s->logits, 2, ls);
        if ((st = hr_trainer_tail_predict(s->tail, &f, &y, err)))
            break;
        for (int64_t i = 0; i < f.shape[0]; i++) {
            const float *row = s->logits + i * classes;
            int64_t best = 0;
            for (int64_t k = 1; k < classes; k++)
                if (row[k] > row[best])
                    best = k;
            hit += best == labels[i];
        }
        if ((st = hr__send_json(s->c, HR_MSG_EVAL_RESULT, m.id,
                                json_pack("{s:I, s:I}", "correct", (json_int_t)hit, "n", (json_int_t)f.shape[0]), NULL,
                                0, err)))
            break;
        n += f.shape[0];
        correct += hit;
        batches++;
    }
    json_decref(meta);
    hr_msg_deinit(&m);
    if (st) {
        hr_error_prefix(err, "split evaluation (%s)", part_name(part));
        return st;
    }
    double a = n ? 100.0 * (double)correct / (double)n : 0.0;
    if ((st = hr__send_json(s->c, HR_MSG_ACK, id, json_pack("{s:f, s:I}", "accuracy", a, "n", (json_int_t)n), NULL, 0,
                            err)))
        return st;
    if (acc)
        *acc = a;
    if (nout)
        *nout = n;
    return HR_OK;
}

hr_status hr_split_get_alpha(hr_split *s, float *alpha, hr_error *err)
{
    hr_msg m;
    hr_tensor t;
    hr_status st;
    if ((st = need_tail(s, err)) || (st = hr_chan_send(s->c, HR_MSG_ALPHA_SYNC, ++s->id, NULL, NULL, 0, err)))
        return st;
    hr_msg_init(&m);
    if ((st = expect(s, HR_MSG_ALPHA_SYNC, 0, &m, err)))
        goto out;
    if (m.ntensors != 1 || (st = hr_wire_to_tensor(&m.tensor[0], "alpha_sync alpha", &t, err)) ||
        t.ndim != 2 || t.shape[0] != s->nb || t.shape[1] != 3) {
        if (!st)
            st = hr_error_set(err, HR_ERR_SHAPE, "alpha_sync: the worker's alpha is not [%d, 3]", s->nb);
        goto out;
    }
    for (int i = 0; i < s->nb; i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            float v = i < s->p.split ? t.data[i * 3 + br] : hr_trainer_alpha(s->tail, i, (hr_branch)br);
            if (!isfinite(v)) {
                st = hr_error_set(err, HR_ERR_FORMAT, "alpha_sync: alpha[%d][%d] is not finite", i, br);
                goto out;
            }
            alpha[i * 3 + br] = v;
        }
out:
    hr_msg_deinit(&m);
    return st;
}

hr_status hr_split_set_alpha(hr_split *s, const float *alpha, hr_error *err)
{
    hr_msg m;
    hr_status st;
    int64_t shape[2] = {s->nb, 3};
    hr_tensor t = hr_tensor_view((float *)alpha, 2, shape);
    hr_wire_tensor wt = hr_wire_from_tensor(&t);
    /* Here first: the worker would refuse the same α. */
    hr_trainer_destroy(s->tail);
    s->tail = NULL;
    if ((st = hr__model_set_alpha_all(s->m, alpha, err)) || (st = make_tail(s, err))) {
        make_tail(s, NULL); /* keep a usable tail (with the model's α) if possible */
        return st;
    }
    if ((st = hr_chan_send(s->c, HR_MSG_ALPHA_SYNC, ++s->id, NULL, &wt, 1, err)))
        return st;
    hr_msg_init(&m);
    st = expect(s, HR_MSG_ACK, 0, &m, err);
    hr_msg_deinit(&m);
    return st;
}

hr_status hr_split_domain_end(hr_split *s, hr_error *err)
{
    hr_msg m;
    hr_status st;
    if ((st = hr_chan_send(s->c, HR_MSG_DOMAIN_END, ++s->id, NULL, NULL, 0, err)))
        return st;
    hr_msg_init(&m);
    st = expect(s, HR_MSG_ACK, 0, &m, err);
    hr_msg_deinit(&m);
    s->domain = -1;
    return st;
}

static void slog(const hr_split_train_params *p, const char *fmt, ...)
{
    char line[640];
    va_list ap;
    if (!p->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->log(p->log_user, line);
}

hr_status hr_split_train_alpha(hr_split *s, const hr_split_train_params *params, const float *start,
                               hr_split_train_result *out, hr_error *err)
{
    hr_split_train_params p = params ? *params : hr_split_train_params_default();
    float *cur = NULL;
    hr_status st;
    if (p.domain < 0 || p.domain >= HR_NUM_DOMAINS || p.epochs < 1 || p.epochs > HR_SPLIT_MAX_EPOCHS || !(p.lr >= 0))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "split: domain %d (0..%d), epochs %d (1..%d), lr %g", p.domain,
                            HR_NUM_DOMAINS - 1, p.epochs, HR_SPLIT_MAX_EPOCHS, p.lr);
    hr_split_train_result_deinit(out);
    out->domain = p.domain;
    out->epochs = p.epochs;
    out->nalpha = s->nb * 3;
    out->alpha = malloc(sizeof(float) * (size_t)out->nalpha);
    cur = malloc(sizeof(float) * (size_t)out->nalpha);
    if (!out->alpha || !cur) {
        st = hr_error_set(err, HR_ERR_NOMEM, "split: out of memory");
        goto out;
    }
    if ((start && (st = hr_split_set_alpha(s, start, err))) ||
        (st = hr_split_domain_start(s, &p.data, p.domain, p.shuffle_seed, out->sizes, err)) ||
        (st = hr_split_evaluate(s, HR_PART_VAL, &out->initial_val, NULL, err)) ||
        (st = hr_split_evaluate(s, HR_PART_TEST, &out->initial_test, NULL, err)) ||
        (st = hr_split_get_alpha(s, out->alpha, err)))
        goto out;
    out->best_val = out->initial_val;
    out->best_test = out->initial_test;
    slog(&p, "domain %d: %lld train / %lld val / %lld test, initial val %.2f%% test %.2f%%", p.domain,
         (long long)out->sizes[0], (long long)out->sizes[1], (long long)out->sizes[2], out->initial_val,
         out->initial_test);
    for (int e = 0; e < p.epochs; e++) {
        hr_split_epoch ep;
        double t0 = hr__remote_now_ms(), l1 = 0;
        if ((st = hr_split_train_epoch(s, e, p.lr, &ep, err)))
            goto out;
        out->epoch_ms[e] = hr__remote_now_ms() - t0;
        out->loss[e] = ep.loss;
        out->bytes_up[e] = ep.bytes_up;
        out->bytes_down[e] = ep.bytes_down;
        if ((st = hr_split_get_alpha(s, cur, err)))
            goto out;
        for (int i = 0; i < out->nalpha; i++)
            l1 += fabs((double)cur[i]);
        out->l1[e] = l1;
        if ((st = hr_split_evaluate(s, HR_PART_VAL, &out->val[e], NULL, err)) ||
            (st = hr_split_evaluate(s, HR_PART_TEST, &out->test[e], NULL, err)))
            goto out;
        slog(&p, "domain %d epoch %d: loss %.4f val_acc %.2f%% test_acc %.2f%% sum|alpha| %.3f (%.1f s, %.1f MB up, "
             "%.1f MB down)", p.domain, e + 1, out->loss[e], out->val[e], out->test[e], l1, out->epoch_ms[e] / 1e3,
             (double)ep.bytes_up / 1e6, (double)ep.bytes_down / 1e6);
        if (out->val[e] > out->best_val) {
            out->best_val = out->val[e];
            out->best_test = out->test[e];
            out->best_epoch = e + 1;
            memcpy(out->alpha, cur, sizeof(float) * (size_t)out->nalpha);
        }
    }
    st = hr_split_domain_end(s, err);
out:
    free(cur);
    return st;
}
