/* The edge side of split inference (edge.h): the edge's part of a
 * deployment configuration, the tail in this process or on a `hyperrep
 * serve`, and the passes that stream frames through them. */
#include "serve/edge_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperrep/clock.h"

enum { EDGE_CREATED, EDGE_PREPARED, EDGE_DEPLOYED };

struct hr_edge {
    hr_edge_params params;
    int state;               /* EDGE_* */
    hr_ctx *ctx;             /* the edge's part and the frames */
    hr_ctx *tctx;            /* the in-process tail */
    hr_deploy_config cfg;    /* resolved; raw: the frames' normalisation */
    hr_tensor_map *weights;  /* not owned; NULL: random from the seed */
    char *weights_path;
    hr_deploy_part *part;    /* the head; the whole model under local */
    hr_deploy_part *tail;    /* in process */
    hr_deploy_part *whole;   /* hr_edge_verify's reference, built on first use */
    hr_edge_frames frames;
    hr_chan *chan;
    char *ack;
    int broken;              /* an exchange with the server failed: no SHUTDOWN */
    uint32_t next_id;        /* id of the next frame sent (and of SHUTDOWN) */
};

/* A note on the deployment, through the edge's log. */
static void note(hr_edge *e, const char *text)
{
    if (HR_LOG_INFO < e->params.log_level)
        return;
    (e->params.log ? e->params.log : hr_log_stderr)(e->params.log_user, HR_LOG_INFO, text);
}

/* One frame's timeline (ms on the monotonic clock). */
typedef struct rec {
    double t0, t1;       /* head start / end */
    double tsend, tres;  /* handed to the link (or the in-process tail) / result back */
    double tail_ms;      /* the tail's compute, as the server reports it */
    double squeue_ms;    /* waiting at the server before the tail ran */
    int cls;
} rec;

/* A pass: the head on the calling thread, the link (or the in-process tail)
 * on a second thread, `window` crossing buffers between them. */
typedef struct pass {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int window;
    int64_t total, produced, sent, done;
    int failed;
    hr_error err;
    void **slot;         /* crossing buffers (u8 for raw, else f32) */
    const hr_deploy_part *head;
    rec *recs;
    uint32_t id0;
    /* server */
    hr_chan *chan;
    int wake[2];         /* the head writes a byte when it hands over a frame */
    int timeout_ms;
    float *vlogits;      /* [nverify × classes] logits returned for the first frames */
    int64_t nverify;
    /* edge emulation: counters restart at the first measured frame */
    hr_edge_emu *emu;
    int64_t warmup;
    /* in process */
    hr_deploy_part *tail;
    float *logits;
    int64_t classes;
} pass;

static void pass_fail(pass *p, const hr_error *e)
{
    pthread_mutex_lock(&p->mu);
    if (!p->failed) {
        p->failed = 1;
        p->err = *e;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int64_t argmax(const float *v, int64_t n)
{
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

/* The link thread owns the channel (a channel is used by one thread at a
 * time): it sends every crossing tensor as soon as the head hands it over
 * and otherwise waits for the next result. While the head is computing a
 * frame that may be sent at once, it waits for whichever comes first, the
 * result or the head's wake-up byte (hr_chan_wait), so that frame goes out
 * while the tail still works on the previous one. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *link_main(void *arg)
{
    pass *p = arg;
    hr_error e = {0};
    hr_msg m;
    double waited = 0;
    int64_t cpu_prev = -1;
    hr_msg_init(&m);
    for (;;) {
        int64_t k;
        int coming;
        pthread_mutex_lock(&p->mu);
        while (!p->failed && p->sent == p->produced && p->done == p->sent && p->done < p->total)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->failed || p->done == p->total) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (p->sent < p->produced) {
            k = p->sent;
            pthread_mutex_unlock(&p->mu);
            /* The emulated edge's framing (T_frame) passes before the bytes
             * leave, as on that device, less what this thread spends per
             * frame anyway (its CPU since the last send: that send and a
             * result), so the thread is busy T_frame per frame in all. */
            if (p->emu) {
                int64_t cpu = thread_cpu_ns();
                hr_edge_emu_frame(p->emu, hr_clock_now_ns(), cpu_prev >= 0 ? cpu - cpu_prev : 0);
                cpu_prev = cpu;
            }
            hr_wire_tensor w = hr_deploy_part_crossing_wire(p->head, p->slot[k % p->window]);
            p->recs[k].tsend = hr__edge_now_ms();
            if (hr_chan_send(p->chan, HR_MSG_INFER_FRAME, p->id0 + (uint32_t)k, NULL, &w, 1, &e)) {
                pass_fail(p, &e);
                break;
            }

            pthread_mutex_lock(&p->mu);
            p->sent++;
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        k = p->done;
        /* the head is computing a frame the window lets us send */
        coming = p->produced < p->total && p->produced - p->done < p->window;
        pthread_mutex_unlock(&p->mu);
        if (coming) {
            int readable = 0;
            double t0 = hr__edge_now_ms();
            if (hr_chan_wait(p->chan, p->wake[0], p->timeout_ms - (int)waited, &readable, &e)) {
                pass_fail(p, &e);
                break;
            }
            if (!readable) {
                char drain[64];
                while (read(p->wake[0], drain, sizeof drain) > 0)
                    ;
                waited += hr__edge_now_ms() - t0;
                if (waited < p->timeout_ms)
                    continue; /* a frame to send, or a spurious wake-up */
            }
        }
        waited = 0;
        hr_status st = hr_chan_expect(p->chan, HR_MSG_INFER_RESULT, p->timeout_ms, &m, &e);
        if (st) {
            pass_fail(p, &e);
            break;
        }
        p->recs[k].tres = hr__edge_now_ms();
        json_t *root = m.meta ? json_loads(m.meta, 0, NULL) : NULL;
        json_t *jc = json_object_get(root, "class"), *jt = json_object_get(root, "tail_ms"),
               *jq = json_object_get(root, "queue_ms");
        if (m.id != p->id0 + (uint32_t)k || !json_is_integer(jc) || !json_is_number(jt)) {
            hr_error_set(&e, HR_ERR_FORMAT, "infer_result %u: expected id %u with an integer class and tail_ms",
                         m.id, p->id0 + (uint32_t)k);
            json_decref(root);
            pass_fail(p, &e);
            break;
        }
        p->recs[k].cls = (int)json_integer_value(jc);
        p->recs[k].tail_ms = json_number_value(jt);
        p->recs[k].squeue_ms = json_is_number(jq) ? json_number_value(jq) : 0;
        json_decref(root);
        if (p->vlogits && k < p->nverify) {
            if (m.ntensors != 1 || m.tensor[0].dtype != HR_WIRE_F32 ||
                m.tensor[0].nbytes != sizeof(float) * (size_t)p->classes) {
                hr_error_set(&e, HR_ERR_FORMAT, "infer_result %u: no logits of %lld classes", m.id,
                             (long long)p->classes);
                pass_fail(p, &e);
                break;
            }
            memcpy(p->vlogits + k * p->classes, m.tensor[0].data, m.tensor[0].nbytes);
        }
        pthread_mutex_lock(&p->mu);
        p->done++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    hr_msg_deinit(&m);
    return NULL;
}

/* In-process: the tail on its own thread and context, fed from the head's
 * buffers; the "link" is the hand-over between the threads. */
static void *tail_main(void *arg)
{
    pass *p = arg;
    hr_error e = {0};
    for (;;) {
        int64_t k;
        pthread_mutex_lock(&p->mu);
        while (!p->failed && p->done == p->produced && p->done < p->total)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->failed || p->done == p->total) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        k = p->done;
        pthread_mutex_unlock(&p->mu);
        double t = hr__edge_now_ms();
        p->recs[k].tsend = p->recs[k].t1;
        p->recs[k].squeue_ms = t - p->recs[k].t1;
        if (hr_deploy_part_run_tail(p->tail, p->slot[k % p->window], p->logits, &e)) {
            pass_fail(p, &e);
            break;
        }
        p->recs[k].tres = hr__edge_now_ms();
        p->recs[k].tail_ms = p->recs[k].tres - t;
        p->recs[k].cls = (int)argmax(p->logits, p->classes);
        if (p->vlogits && k < p->nverify)
            memcpy(p->vlogits + k * p->classes, p->logits, sizeof(float) * (size_t)p->classes);
        pthread_mutex_lock(&p->mu);
        p->done++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

/* Runs `total` frames (frame t is frames[first + t]) through head and
 * link/tail with at most `window` in flight. */
static hr_status run_pass(pass *p, hr_deploy_part *head, const hr_edge_frames *fr, int64_t first, hr_error *err)
{
    pthread_t th;
    hr_error e = {0};
    if (pthread_create(&th, NULL, p->chan ? link_main : tail_main, p) != 0)
        return hr_error_set(err, HR_ERR_INTERNAL, "infer: cannot start the %s thread", p->chan ? "link" : "tail");
    for (int64_t t = 0; t < p->total; t++) {
        pthread_mutex_lock(&p->mu);
        while (!p->failed && t - p->done >= p->window)
            pthread_cond_wait(&p->cv, &p->mu);
        int failed = p->failed;
        pthread_mutex_unlock(&p->mu);
        if (failed)
            break;
        if (p->emu && t == p->warmup)
            hr_edge_emu_stats_reset(p->emu);
        p->recs[t].t0 = hr__edge_now_ms();
        if (hr_deploy_part_run_head(head, hr_edge_frames_at(fr, first + t), p->slot[t % p->window], &e)) {
            pass_fail(p, &e);
            break;
        }
        p->recs[t].t1 = hr__edge_now_ms();
        pthread_mutex_lock(&p->mu);
        p->produced = t + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (p->chan) {
            /* wake the link thread if it is waiting for a result (a full pipe
             * means a wake-up is pending already) */
            ssize_t w;
            do
                w = write(p->wake[1], "f", 1);
            while (w < 0 && errno == EINTR);
        }
    }
    pthread_join(th, NULL);
    if (p->failed) {
        if (err)
            *err = p->err;
        return p->err.status ? p->err.status : HR_ERR_INTERNAL;
    }
    return HR_OK;
}

/* Figures of the measured frames [from, to) of a pass. */
static hr_status summarise(const rec *r, int64_t from, int64_t to, const hr_edge_frames *fr, int64_t first,
                           hr_edge_stats *out, hr_error *err)
{
    int64_t n = to - from;
    double *v = malloc(sizeof(double) * (size_t)(5 * n));
    if (!v)
        return hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
    memset(out, 0, sizeof *out);
    for (int64_t i = 0; i < n; i++) {
        const rec *x = &r[from + i];
        v[i] = x->tres - x->t0;
        v[n + i] = x->t1 - x->t0;
        v[2 * n + i] = x->tres - x->tsend - x->tail_ms;
        v[3 * n + i] = x->tail_ms;
        v[4 * n + i] = x->squeue_ms;
        int32_t label = hr_edge_frames_label(fr, first + from + i);
        if (label >= 0) {
            out->labelled++;
            out->correct += x->cls == label;
        }
    }
    out->e2e = hr_edge_dist_of(v, n);
    out->head = hr_edge_dist_of(v + n, n);
    out->link = hr_edge_dist_of(v + 2 * n, n);
    out->tail = hr_edge_dist_of(v + 3 * n, n);
    out->server_queue = hr_edge_dist_of(v + 4 * n, n);
    out->frames = n;
    out->wall_ms = r[to - 1].tres - r[from].t0;
    out->fps = out->wall_ms > 0 ? 1000.0 * (double)n / out->wall_ms : 0;
    free(v);
    return HR_OK;
}

/* The raw placement's normalisation: the frames' own, which is what the edge
 * quantises with and the tail must undo. A configuration that named other
 * values is overridden, with a note. */
static hr_status raw_norm(hr_edge *e, hr_deploy_config *cfg, const hr_edge_frames *fr, hr_error *err)
{
    float *m, *sd;
    int differ = cfg->norm_channels != 0 && cfg->norm_channels != fr->c;
    for (int64_t i = 0; !differ && i < cfg->norm_channels; i++)
        differ = cfg->input_mean[i] != fr->mean[i] || cfg->input_std[i] != fr->std[i];
    if (differ)
        note(e, "the configuration's input_mean / input_std differ from the data's: the data's are used, since the "
                "frames carry them");
    m = malloc(sizeof(float) * (size_t)fr->c);
    sd = malloc(sizeof(float) * (size_t)fr->c);
    if (!m || !sd) {
        free(m), free(sd);
        return hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
    }
    memcpy(m, fr->mean, sizeof(float) * (size_t)fr->c);
    memcpy(sd, fr->std, sizeof(float) * (size_t)fr->c);
    free(cfg->input_mean);
    free(cfg->input_std);
    cfg->input_mean = m;
    cfg->input_std = sd;
    cfg->norm_channels = fr->c;
    return HR_OK;
}

/* α of a trained α file (JSON or safetensors, hr_alpha_file_read: the
 * same `--alpha` as every command's) onto the configuration, where it says
 * nothing; domain picks the entry of a file of several domains. */
static hr_status apply_alpha_file(hr_deploy_config *cfg, const char *path, int domain, const hr_model *m,
                                  hr_error *err)
{
    int n = hr_model_num_blocks(m);
    float *a = malloc(sizeof *a * (size_t)(n > 0 ? n : 1) * HR_BRANCH_COUNT);
    hr_status st;
    if (!a)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    if (!(st = hr_alpha_file_read(m, path, domain, a, err)))
        for (int k = 0; k < n && k < cfg->nblocks; k++) {
            unsigned existing = hr_model_block(m, k).existing;
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (existing >> br & 1u && !(cfg->alpha_given[k] >> br & 1u)) {
                    cfg->alpha[k * HR_BRANCH_COUNT + br] = a[k * HR_BRANCH_COUNT + br];
                    cfg->alpha_given[k] |= 1u << br;
                }
        }
    free(a);
    return st;
}

hr_edge_params hr_edge_params_default(void)
{
    hr_edge_params p;
    memset(&p, 0, sizeof p);
    p.net = hr_net_params_default();
    p.net.role = "infer";
    p.threads = 1;
    p.seed = 42;
    p.timeout_ms = 60000;
    p.log_level = HR_LOG_WARN;
    return p;
}

hr_edge_prepare_params hr_edge_prepare_params_default(void)
{
    hr_edge_prepare_params p;
    memset(&p, 0, sizeof p);
    p.frames = 64;
    p.domain = -1;
    return p;
}

hr_edge_run_params hr_edge_run_params_default(void)
{
    hr_edge_run_params p;
    memset(&p, 0, sizeof p);
    p.window = 1;
    p.warmup = 10;
    p.frames = 200;
    return p;
}

/* A context as the edge's parts want it: the edge's threads and seed, the
 * default log. */
static hr_status edge_ctx(const hr_edge *e, hr_ctx **out, hr_error *err)
{
    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = e->params.threads;
    cp.seed = e->params.seed;
    return hr_ctx_create(&cp, out, err);
}

hr_status hr_edge_create(const hr_edge_params *params, hr_edge **out, hr_error *err)
{
    hr_edge_params def = hr_edge_params_default();
    hr_edge *e;
    hr_status st;
    if (!params)
        params = &def;
    if (params->timeout_ms < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: timeout_ms = %d is negative", params->timeout_ms);
    if (!(e = calloc(1, sizeof *e)))
        return hr_error_set(err, HR_ERR_NOMEM, "edge: out of memory");
    e->params = *params;
    hr_deploy_config_init(&e->cfg);
    if ((st = edge_ctx(e, &e->ctx, err))) {
        free(e);
        return st;
    }
    *out = e;
    return HR_OK;
}

/* Back to the state hr_edge_create left: everything hr_edge_prepare
 * built is freed. */
static void unprepare(hr_edge *e)
{
    hr_deploy_part_destroy(e->part);
    e->part = NULL;
    hr_edge_frames_deinit(&e->frames);
    hr_deploy_config_deinit(&e->cfg);
    free(e->weights_path);
    e->weights_path = NULL;
    e->weights = NULL;
    e->state = EDGE_CREATED;
}

void hr_edge_destroy(hr_edge *e)
{
    if (!e)
        return;
    if (e->chan && !e->broken)
        hr__edge_shutdown(e->chan, e->next_id);
    hr_chan_destroy(e->chan);
    free(e->ack);
    hr_deploy_part_destroy(e->tail);
    hr_deploy_part_destroy(e->whole);
    unprepare(e);
    hr_ctx_destroy(e->ctx);
    hr_ctx_destroy(e->tctx);
    free(e);
}

hr_status hr_edge_prepare(hr_edge *e, const hr_deploy_config *cfg, const hr_edge_prepare_params *params,
                          hr_error *err)
{
    hr_edge_prepare_params def = hr_edge_prepare_params_default();
    const hr_edge_prepare_params *pp = params ? params : &def;
    int64_t in_shape[4];
    int local, raw;
    hr_status st;

    if (e->state != EDGE_CREATED)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: prepared already (one configuration per edge)");
    if ((st = hr_deploy_config_copy(cfg, &e->cfg, err)))
        return st;
    if (pp->weights_path && !(e->weights_path = strdup(pp->weights_path))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "edge: out of memory");
        goto fail;
    }
    e->weights = pp->weights;
    local = e->cfg.split == HR_PLACEMENT_LOCAL;
    raw = e->cfg.split == HR_PLACEMENT_RAW;
    if (e->cfg.head_server)
        note(e, "the configuration was optimised with the server as head; here the edge runs the head (blocks "
                "[0, s)) as the deployment flow does");
    if (pp->alpha_path) {
        /* a structure-only model names the blocks and branches for the file */
        hr_model *probe = NULL;
        hr_model_params mp = hr_model_params_default();
        mp.input_size = e->cfg.input_size;
        if ((st = hr_model_create(e->ctx, e->cfg.arch, &mp, &probe, err)) ||
            (st = apply_alpha_file(&e->cfg, pp->alpha_path, pp->domain, probe, err))) {
            hr_model_destroy(probe);
            goto fail;
        }
        hr_model_destroy(probe);
    }
    /* The edge's part decides the explicit α and γ the server is sent. */
    if ((st = hr_deploy_part_create(e->ctx, &e->cfg, local ? HR_DEPLOY_WHOLE : HR_DEPLOY_HEAD, e->weights,
                                    e->params.seed, &e->part, err)) ||
        (st = hr_deploy_config_resolve(&e->cfg, hr_deploy_part_model(e->part), err)))
        goto fail;
    hr_deploy_part_input_shape(e->part, in_shape);
    if ((st = pp->domain >= 0 ? hr_edge_frames_load_domain(pp->data, e->ctx, pp->domain, in_shape, pp->frames,
                                                           e->params.seed, &e->frames, err)
                              : hr_edge_frames_load(pp->data, e->ctx, in_shape, pp->frames, e->params.seed, &e->frames,
                                                    err)))
        goto fail;
    if (raw) {
        /* The head quantises with the frames' normalisation, known only now
         * that they are loaded: rebuild it (a raw head holds no weights). */
        if ((st = raw_norm(e, &e->cfg, &e->frames, err)))
            goto fail;
        hr_deploy_part_destroy(e->part);
        e->part = NULL;
        if ((st = hr_deploy_part_create(e->ctx, &e->cfg, HR_DEPLOY_HEAD, e->weights, e->params.seed, &e->part, err)))
            goto fail;
        note(e, "raw placement: the edge sends each frame as the 8-bit image (quantised with the data's mean/std; "
                "its head stage is that quantisation) and the tail runs stage 0, every block and the classifier");
    }
    e->state = EDGE_PREPARED;
    return HR_OK;
fail:
    unprepare(e);
    return st;
}

const hr_deploy_config *hr_edge_config(const hr_edge *e) { return e->state >= EDGE_PREPARED ? &e->cfg : NULL; }

const hr_deploy_part *hr_edge_part(const hr_edge *e) { return e->state >= EDGE_PREPARED ? e->part : NULL; }

const hr_edge_frames *hr_edge_input_frames(const hr_edge *e)
{
    return e->state >= EDGE_PREPARED ? &e->frames : NULL;
}

const char *hr_edge_peer(const hr_edge *e) { return e->chan ? hr_chan_peer(e->chan) : NULL; }

const char *hr_edge_ack(const hr_edge *e) { return e->ack; }

hr_status hr_edge_set_emu(hr_edge *e, hr_edge_emu *emu, hr_error *err)
{
    if (e->state < EDGE_PREPARED)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: no part to emulate: hr_edge_prepare first");
    return hr_deploy_part_set_edge_emu(e->part, emu, err);
}

hr_status hr_edge_deploy(hr_edge *e, hr_error *err)
{
    void *wbytes = NULL;
    size_t wlen = 0;
    hr_status st;

    if (e->state != EDGE_PREPARED)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s",
                            e->state == EDGE_CREATED ? "edge: nothing to deploy: hr_edge_prepare first"
                                                     : "edge: deployed already");
    if (e->cfg.split == HR_PLACEMENT_LOCAL) {
        /* everything runs here: no tail */
        e->state = EDGE_DEPLOYED;
        return HR_OK;
    }
    if (!e->params.server) {
        if ((st = edge_ctx(e, &e->tctx, err)) ||
            (st = hr_deploy_part_create(e->tctx, &e->cfg, HR_DEPLOY_TAIL, e->weights, e->params.seed, &e->tail,
                                        err))) {
            hr_ctx_destroy(e->tctx);
            e->tctx = NULL;
            return st;
        }
        e->state = EDGE_DEPLOYED;
        return HR_OK;
    }
    if ((st = hr_chan_connect(e->params.server, &e->params.net, &e->chan, err)))
        return st;
    if ((!e->weights || !(st = hr__edge_weights_bytes(e->weights_path, e->weights, &wbytes, &wlen, err))) &&
        !(st = hr__edge_sync(e->chan, &e->cfg, wbytes, wlen, e->params.seed, e->params.want_logits,
                             e->params.timeout_ms, &e->ack, err)))
        e->state = EDGE_DEPLOYED;
    free(wbytes);
    if (st) {
        /* no SHUTDOWN: the deployment never started */
        hr_chan_destroy(e->chan);
        e->chan = NULL;
    }
    return st;
}

/* One pass of a split or raw placement: the head here, the tail on the
 * link thread's server or on the in-process tail's thread. */
static hr_status run_split(hr_edge *e, const hr_edge_run_params *rp, hr_edge_stats *out, hr_error *err)
{
    int64_t total = rp->warmup + rp->frames, classes = hr_deploy_part_num_classes(e->part);
    size_t cbytes = hr_deploy_part_crossing_bytes(e->part);
    rec *recs = calloc((size_t)total, sizeof *recs);
    void **slots = calloc((size_t)rp->window, sizeof *slots);
    float *logits = malloc(sizeof(float) * (size_t)classes);
    hr_status st = HR_OK;
    pass p;

    if (!recs || !slots || !logits) {
        st = hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
        goto out;
    }
    for (int i = 0; i < rp->window; i++)
        if (!(slots[i] = malloc(cbytes))) {
            st = hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
            goto out;
        }
    memset(&p, 0, sizeof p);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    p.window = rp->window;
    p.total = total;
    p.slot = slots;
    p.head = e->part;
    p.recs = recs;
    p.id0 = e->next_id;
    p.chan = e->chan;
    p.timeout_ms = e->params.timeout_ms;
    p.tail = e->tail;
    p.logits = logits;
    p.classes = classes;
    p.emu = hr_deploy_part_edge_emu(e->part);
    p.warmup = rp->warmup;
    p.vlogits = rp->logits;
    p.nverify = total < rp->keep ? total : rp->keep;
    p.wake[0] = p.wake[1] = -1;
    e->next_id += (uint32_t)total;
    if (p.chan && (pipe(p.wake) != 0 || fcntl(p.wake[0], F_SETFL, O_NONBLOCK) != 0 ||
                   fcntl(p.wake[1], F_SETFL, O_NONBLOCK) != 0)) {
        st = hr_error_set(err, HR_ERR_IO, "infer: cannot create the wake-up pipe: %s", strerror(errno));
        if (p.wake[0] >= 0)
            close(p.wake[0]), close(p.wake[1]);
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
        goto out;
    }
    st = run_pass(&p, e->part, &e->frames, 0, err);
    if (p.wake[0] >= 0)
        close(p.wake[0]), close(p.wake[1]);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    if (st) {
        e->broken = 1;
        goto out;
    }
    for (int64_t k = 0; rp->classes && k < p.nverify; k++)
        rp->classes[k] = recs[k].cls;
    st = summarise(recs, rp->warmup, total, &e->frames, 0, out, err);
out:
    if (slots)
        for (int i = 0; i < rp->window; i++)
            free(slots[i]);
    free(slots);
    free(recs);
    free(logits);
    return st;
}

/* Everything on the edge: no link and no tail, so nothing to pipeline. */
static hr_status run_local(hr_edge *e, const hr_edge_run_params *rp, hr_edge_stats *out, hr_error *err)
{
    int64_t frames = rp->frames, warmup = rp->warmup, classes = hr_deploy_part_num_classes(e->part);
    int64_t correct = 0, labelled = 0;
    double *lat = malloc(sizeof(double) * (size_t)frames), t_start = 0;
    float *logits = malloc(sizeof(float) * (size_t)classes);
    hr_edge_emu *emu = hr_deploy_part_edge_emu(e->part);
    hr_status st;

    if (!lat || !logits) {
        free(lat);
        free(logits);
        return hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
    }
    for (int64_t t = 0; t < warmup + frames; t++) {
        double t0;
        if (emu && t == warmup)
            hr_edge_emu_stats_reset(emu);
        t0 = hr__edge_now_ms();
        if (t == warmup)
            t_start = t0;
        if ((st = hr_deploy_part_run_whole(e->part, hr_edge_frames_at(&e->frames, t), logits, err))) {
            free(lat);
            free(logits);
            return st;
        }
        if (t >= warmup) {
            int32_t label = hr_edge_frames_label(&e->frames, t);
            lat[t - warmup] = hr__edge_now_ms() - t0;
            if (label >= 0)
                labelled++, correct += argmax(logits, classes) == label;
        }
        if (t < rp->keep) {
            if (rp->classes)
                rp->classes[t] = (int)argmax(logits, classes);
            if (rp->logits)
                memcpy(rp->logits + t * classes, logits, sizeof(float) * (size_t)classes);
        }
    }
    double wall = hr__edge_now_ms() - t_start;
    memset(out, 0, sizeof *out);
    out->e2e = hr_edge_dist_of(lat, frames);
    out->frames = frames;
    out->wall_ms = wall;
    out->fps = 1000.0 * (double)frames / wall;
    out->correct = correct;
    out->labelled = labelled;
    free(lat);
    free(logits);
    return HR_OK;
}

hr_status hr_edge_run(hr_edge *e, const hr_edge_run_params *params, hr_edge_stats *out, hr_error *err)
{
    hr_edge_run_params def = hr_edge_run_params_default();
    const hr_edge_run_params *rp = params ? params : &def;
    if (e->state != EDGE_DEPLOYED)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: no deployment to run: hr_edge_prepare and "
                                                     "hr_edge_deploy first");
    if (rp->window < 1 || rp->window > HR_EDGE_MAX_WINDOW)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: window %d is out of 1..%d", rp->window,
                            HR_EDGE_MAX_WINDOW);
    if (rp->warmup < 0 || rp->frames < 1 || rp->keep < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "edge: a pass of %lld warm-up and %lld measured frames, keeping %lld: needs warm-up >= "
                            "0, measured >= 1, kept >= 0",
                            (long long)rp->warmup, (long long)rp->frames, (long long)rp->keep);
    if (e->chan && rp->keep > 0 && rp->logits && !e->params.want_logits)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: the server sends no logits: create the edge with "
                                                     "want_logits to keep them");
    if (e->cfg.split == HR_PLACEMENT_LOCAL)
        return run_local(e, rp, out, err);
    return run_split(e, rp, out, err);
}

hr_status hr_edge_verify(hr_edge *e, const int *classes, const float *logits, int64_t n, hr_edge_verification *out,
                         hr_error *err)
{
    const hr_edge_frames *fr = &e->frames;
    int64_t nclasses, chw;
    float *ref = NULL, *vframe = NULL;
    uint8_t *vpix = NULL;
    hr_status st = HR_OK;

    if (e->state != EDGE_DEPLOYED)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: nothing to verify: hr_edge_deploy first");
    if (n < 0 || (n > 0 && !classes))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge: %lld frames to verify without their classes",
                            (long long)n);
    nclasses = hr_deploy_part_num_classes(e->part);
    chw = fr->c * fr->h * fr->w;
    ref = malloc(sizeof(float) * (size_t)nclasses);
    vframe = malloc(sizeof(float) * (size_t)chw);
    vpix = malloc((size_t)chw);
    if (!ref || !vframe || !vpix) {
        st = hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
        goto out;
    }
    /* the reference: the whole model here, on the same frames */
    if (!e->whole && (st = hr_deploy_part_create(e->tctx ? e->tctx : e->ctx, &e->cfg, HR_DEPLOY_WHOLE, e->weights,
                                                 e->params.seed, &e->whole, err)))
        goto out;
    memset(out, 0, sizeof *out);
    for (int64_t k = 0; k < n; k++) {
        const float *x = hr_edge_frames_at(fr, k);
        if (e->cfg.split == HR_PLACEMENT_RAW) {
            /* the frame as the tail sees it: quantised here, dequantised there */
            hr_deploy_quantise_input(x, fr->c, fr->h * fr->w, e->cfg.input_mean, e->cfg.input_std, vpix);
            hr_deploy_dequantise_input(vpix, fr->c, fr->h * fr->w, e->cfg.input_mean, e->cfg.input_std, vframe);
            x = vframe;
        }
        if ((st = hr_deploy_part_run_whole(e->whole, x, ref, err)))
            goto out;
        out->class_mismatches += argmax(ref, nclasses) != classes[k];
        for (int64_t j = 0; logits && j < nclasses; j++) {
            double dd = fabs((double)ref[j] - (double)logits[k * nclasses + j]);
            if (dd > out->max_abs_logit_diff)
                out->max_abs_logit_diff = dd;
        }
    }
    out->frames = n;
out:
    free(ref);
    free(vframe);
    free(vpix);
    return st;
}
