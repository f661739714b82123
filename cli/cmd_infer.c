/* hyperrep infer: the edge side of split inference (SPEC §10). Runs the head
 * of a deployment configuration on a stream of frames and the tail on a
 * `hyperrep serve` (or in this process), pipelined, and reports measured
 * and LUT-predicted throughput and latency. Under the raw placement the
 * head only quantises each frame to the 8-bit image a camera would send and
 * the tail runs the whole network. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hyperrep/lut.h"
#include "hyperrep/optim.h"
#include "hyperrep/serve.h"
#include "infer.h"
#include "remote_common.h"

static const char *help =
    "usage: hyperrep infer --config domain_K_joint.json (--server HOST:PORT | --in-process)\n"
    "         [--weights W] [--alpha A.safetensors] [--seed S] [--input-size H] [--data SRC]\n"
    "         [--frames 200] [--pipelined-frames N] [--warmup 10] [--window 2] [--lut hardware_lut_complete.json]\n"
    "         [--threads N] [--verify] [--use final|grid] [--tls-cert C --tls-key K --tls-ca CA]\n"
    "         [--edge PROFILE | --edge-slowdown F] [-o infer.json]\n"
    "       hyperrep infer --config CFG --server HOST:PORT --clients N --fps F --duration S\n"
    "         [--vary-split] [-o load.json]\n"
    "\n"
    "Streams frames through the configured deployment. This process is the edge: it\n"
    "runs stage 0 and blocks [0, s) (the head) and sends each frame's crossing tensor\n"
    "to `hyperrep serve`, which runs blocks [s, N) and the classifier (the tail) and\n"
    "answers with the class. Frames are pipelined: the head computes frame t+1 while\n"
    "the link and the tail handle frame t, with at most --window frames in flight.\n"
    "Every run makes a sequential pass (window 1) and a pipelined pass (--window) over\n"
    "the same frames and reports both: fps, end-to-end latency p50/p95/p99 and per\n"
    "stage (head compute; link + queue = send to result minus the tail's time; tail),\n"
    "beside the figures the LUT predicts for the configuration (--lut).\n"
    "\n"
    "  --config FILE      the joint output (its final_configuration: placement, gamma\n"
    "                     per block, pruned branches and the state's alpha) or\n"
    "                     a deployment JSON {\"arch\", \"split\", \"gammas\"|\"gamma\", \"alpha\",\n"
    "                     \"pruned\", \"input_size\", ...}; a \"local\" split runs everything here\n"
    "                     and needs no server; a \"raw\" split sends each frame as the 8-bit\n"
    "                     image (quantised with the data's mean/std, C*H*W bytes) and the\n"
    "                     tail runs everything, stage 0 included\n"
    "  --use final|grid   with a joint output: deploy its final_configuration (final, the\n"
    "                     default: the exact optimum over every accepted pruning state\n"
    "                     and the unpruned model, raw, every split and local; `exact`\n"
    "                     is accepted for it) or the original's grid result (grid:\n"
    "                     stage2_throughput.optimal_split_point and optimal_gamma with\n"
    "                     the pruned set of stage1_accuracy.pruned_weights)\n"
    "  --server ADDR      the `hyperrep serve` to use (HOST:PORT)\n"
    "  --in-process       run the tail on a thread of this process instead (no network)\n"
    "  --weights W        model weights (.safetensors or .pth), sent to the server inline;\n"
    "                     without it both sides use random weights from --seed (42)\n"
    "  --alpha A          trained alpha (the joint's domain_K_alpha.safetensors); the\n"
    "                     configuration's pruned branches stay pruned, and a joint\n"
    "                     output's final_configuration.alpha takes precedence\n"
    "  --input-size H     input size when the model's default is not wanted\n"
    "  --data SRC         fashion-mnist (default for 1x28x28 models when installed), random\n"
    "                     (default otherwise; seeded by --seed) or an image folder\n"
    "  --frames N (200)   measured frames per pass; --warmup N (10) unmeasured ones first\n"
    "  --pipelined-frames N  measured frames of the pipelined pass (default: --frames):\n"
    "                     a fast pipelined stream needs more frames to last long enough\n"
    "                     to be timed than the sequential pass does\n"
    "  --window W (2)     frames in flight in the pipelined pass (1 = sequential)\n"
    "  --lut FILE         merged LUT for the predicted figures (must describe this model);\n"
    "                     without it the prediction is omitted and the output says why\n"
    "  --threads N        threads of the head (and of the in-process tail) (1)\n"
    ;
/* ISO C guarantees string literals of 4095 characters only. */
static const char *help_more =
    "  --verify           also run the whole model here on the first 20 frames and compare\n"
    "                     the classes and logits the tail returned (raw: on the frame as\n"
    "                     the tail dequantises it)\n"
    "  --timeout S        longest wait for one result or the deployment's ACK (60)\n"
    "  --name NAME        this edge's name in the hello (default: the host name)\n"
    "  -o FILE            write the report as JSON (atomically)\n";
/* ISO C guarantees string literals of 4095 characters only: the rest of the
 * help comes in more. */
static const char *help_edge =
    "  --edge PROFILE     emulate the edge device the --lut's client was emulated from\n"
    "                     (`lut measure --role client --edge PROFILE`): each head unit\n"
    "                     (stage 0, a block; the classifier too under local) ends at its\n"
    "                     start plus the LUT's client time at the deployed gamma (an\n"
    "                     absolute-deadline sleep, then a spin of at most 80 us); a unit\n"
    "                     already slower ends at once and counts as an overrun\n"
    "  --edge-slowdown F  the flat form: with --lut, whose client slowdown must be F,\n"
    "                     the LUT's times; without, each unit ends at F x its own time\n"
    "                     here. A --lut planned for an emulated edge run without either\n"
    "                     flag prints a warning. Not with --clients\n";
static const char *help_load =
    "load generator (threads of this process, each its own connection and head, one frame\n"
    "in flight, paced; the figure for many edges):\n"
    "  --clients N        edges to simulate; --fps F frames per second each (10);\n"
    "  --duration S       seconds of streaming (60); --vary-split: edge i uses split i mod (N+1)\n"
    "  timeouts: connect and hello 10 s, each result and the deployment ACK --timeout\n" HR_CLI_NET_HELP;

enum { OPT_SERVER = 1, OPT_CONFIG, OPT_WEIGHTS, OPT_ALPHA, OPT_SEED, OPT_INPUT_SIZE, OPT_DATA, OPT_FRAMES, OPT_PFRAMES, OPT_WARMUP,
       OPT_WINDOW, OPT_LUT, OPT_IN_PROCESS, OPT_THREADS, OPT_VERIFY, OPT_TIMEOUT, OPT_NAME, OPT_CLIENTS, OPT_FPS,
       OPT_DURATION, OPT_VARY_SPLIT, OPT_MODEL, OPT_QUIET, OPT_USE, OPT_EDGE, OPT_EDGE_SLOWDOWN };

#define VERIFY_FRAMES 20

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
    float *vlogits;      /* [VERIFY_FRAMES × classes] logits returned for the first frames */
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
static void *link_main(void *arg)
{
    pass *p = arg;
    hr_error e = {0};
    hr_msg m;
    double waited = 0;
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
            hr_wire_tensor w = hr_deploy_part_crossing_wire(p->head, p->slot[k % p->window]);
            p->recs[k].tsend = hr_cli_now_ms();
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
            double t0 = hr_cli_now_ms();
            if (hr_chan_wait(p->chan, p->wake[0], p->timeout_ms - (int)waited, &readable, &e)) {
                pass_fail(p, &e);
                break;
            }
            if (!readable) {
                char drain[64];
                while (read(p->wake[0], drain, sizeof drain) > 0)
                    ;
                waited += hr_cli_now_ms() - t0;
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
        p->recs[k].tres = hr_cli_now_ms();
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
        double t = hr_cli_now_ms();
        p->recs[k].tsend = p->recs[k].t1;
        p->recs[k].squeue_ms = t - p->recs[k].t1;
        if (hr_deploy_part_run_tail(p->tail, p->slot[k % p->window], p->logits, &e)) {
            pass_fail(p, &e);
            break;
        }
        p->recs[k].tres = hr_cli_now_ms();
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
static hr_status run_pass(pass *p, hr_deploy_part *head, const hr_infer_frames *fr, int64_t first, hr_error *err)
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
        p->recs[t].t0 = hr_cli_now_ms();
        if (hr_deploy_part_run_head(head, hr_infer_frame(fr, first + t), p->slot[t % p->window], &e)) {
            pass_fail(p, &e);
            break;
        }
        p->recs[t].t1 = hr_cli_now_ms();
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
typedef struct pass_stats {
    double fps, wall_ms;
    int64_t frames;
    hr_infer_dist e2e, head, link, tail, squeue;
    int64_t correct, labelled;
} pass_stats;

static hr_status summarise(const rec *r, int64_t from, int64_t to, const hr_infer_frames *fr, int64_t first,
                           pass_stats *out, hr_error *err)
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
        int32_t label = hr_infer_label(fr, first + from + i);
        if (label >= 0) {
            out->labelled++;
            out->correct += x->cls == label;
        }
    }
    out->e2e = hr_infer_dist_of(v, n);
    out->head = hr_infer_dist_of(v + n, n);
    out->link = hr_infer_dist_of(v + 2 * n, n);
    out->tail = hr_infer_dist_of(v + 3 * n, n);
    out->squeue = hr_infer_dist_of(v + 4 * n, n);
    out->frames = n;
    out->wall_ms = r[to - 1].tres - r[from].t0;
    out->fps = out->wall_ms > 0 ? 1000.0 * (double)n / out->wall_ms : 0;
    free(v);
    return HR_OK;
}

static json_t *stats_json(const pass_stats *s, int window)
{
    json_t *stages = json_pack("{s:o, s:o, s:o, s:o, s:o}", "head_ms", hr_infer_dist_json(&s->head), "link_queue_ms",
                               hr_infer_dist_json(&s->link), "tail_ms", hr_infer_dist_json(&s->tail),
                               "server_queue_ms", hr_infer_dist_json(&s->squeue), "end_to_end_ms",
                               hr_infer_dist_json(&s->e2e));
    json_t *o = json_pack("{s:f, s:i, s:I, s:f, s:o, s:o}", "fps", s->fps, "window", window, "frames",
                          (json_int_t)s->frames, "wall_ms", s->wall_ms,
                          "latency_ms", hr_infer_dist_json(&s->e2e), "stages", stages);
    if (o && s->labelled)
        json_object_set_new(o, "accuracy_pct", json_real(100.0 * (double)s->correct / (double)s->labelled));
    return o;
}

/* ---- the LUT's prediction ---- */

typedef struct prediction {
    int available;
    char reason[HR_ERROR_MSG_MAX + 600];
    hr_optim_eval ev;
    char head_dev[128], tail_dev[128];
    int head_threads, tail_threads;
} prediction;

/* The optimiser's placement of a configuration. */
static int placement_of(const hr_deploy_config *cfg)
{
    return cfg->split == HR_DEPLOY_LOCAL ? HR_PLACEMENT_LOCAL
           : cfg->split == HR_DEPLOY_RAW ? HR_PLACEMENT_RAW
                                         : cfg->split;
}

/* A placement as the joint output writes it: "raw", "local" or the split. */
static json_t *placement_json(int split)
{
    return split == HR_DEPLOY_RAW     ? json_string("raw")
           : split == HR_DEPLOY_LOCAL ? json_string("local")
                                      : json_integer(split);
}

/* The raw placement's normalisation: the frames' own, which is what the edge
 * quantises with and the tail must undo. A configuration that named other
 * values is overridden, and the report says so. */
static hr_status raw_norm(hr_deploy_config *cfg, const hr_infer_frames *fr, json_t *notes, hr_error *err)
{
    float *m, *sd;
    int differ = cfg->norm_channels != 0 && cfg->norm_channels != fr->c;
    for (int64_t i = 0; !differ && i < cfg->norm_channels; i++)
        differ = cfg->input_mean[i] != fr->mean[i] || cfg->input_std[i] != fr->std[i];
    if (differ)
        json_array_append_new(notes, json_string("the configuration's input_mean / input_std differ from the data's: "
                                                 "the data's are used, since the frames carry them"));
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

static void predict(const char *path, const hr_deploy_config *cfg, const hr_model *m, prediction *out)
{
    hr_error e = {0};
    hr_lut *lut = NULL;
    hr_optim_problem *prob = NULL;
    hr_optim_params op = hr_optim_params_default();
    unsigned *live = NULL;
    const hr_arch *a;
    memset(out, 0, sizeof *out);
    if (!path) {
        snprintf(out->reason, sizeof out->reason, "no --lut given");
        return;
    }
    if (hr_lut_load(path, &lut, &e)) {
        snprintf(out->reason, sizeof out->reason, "%s", e.msg);
        return;
    }
    a = hr_arch_find(lut->model);
    if (!a || strcmp(a->name, cfg->arch) != 0 || lut->nblocks != cfg->nblocks) {
        snprintf(out->reason, sizeof out->reason, "%s describes %s (%d blocks), not %s (%d blocks)", path, lut->model,
                 lut->nblocks, cfg->arch, cfg->nblocks);
        goto done;
    }
    for (int k = 0; k < cfg->nblocks; k++)
        if (strcmp(lut->blocks[k].name, hr_model_block(m, k).name) != 0) {
            snprintf(out->reason, sizeof out->reason, "%s: block %d is %s, the model's is %s", path, k,
                     lut->blocks[k].name, hr_model_block(m, k).name);
            goto done;
        }
    if (lut->input_shape[0] && (lut->input_shape[0] != hr_model_in_channels(m) ||
                                lut->input_shape[1] != hr_model_input_size(m))) {
        snprintf(out->reason, sizeof out->reason, "%s was measured at input %lldx%lldx%lld, the model takes %lldx%lldx%lld",
                 path, (long long)lut->input_shape[0], (long long)lut->input_shape[1], (long long)lut->input_shape[2],
                 (long long)hr_model_in_channels(m), (long long)hr_model_input_size(m),
                 (long long)hr_model_input_size(m));
        goto done;
    }
    if (!(live = malloc(sizeof(unsigned) * (size_t)cfg->nblocks))) {
        snprintf(out->reason, sizeof out->reason, "out of memory");
        goto done;
    }
    for (int k = 0; k < cfg->nblocks; k++)
        live[k] = hr_model_block(m, k).live;
    op.mask = cfg->mask;
    op.head = HR_DEVICE_CLIENT;
    if (hr_optim_problem_create(lut, live, &op, &prob, &e) ||
        hr_optim_evaluate(prob, cfg->gamma, placement_of(cfg), &out->ev, &e)) {
        snprintf(out->reason, sizeof out->reason, "%s: %s", path, e.msg);
        goto done;
    }
    out->available = 1;
    snprintf(out->head_dev, sizeof out->head_dev, "%s", lut->device[HR_DEVICE_CLIENT]);
    snprintf(out->tail_dev, sizeof out->tail_dev, "%s", lut->device[HR_DEVICE_SERVER]);
    out->head_threads = lut->threads[HR_DEVICE_CLIENT];
    out->tail_threads = lut->threads[HR_DEVICE_SERVER];
    if (!lut->has_stage_times)
        snprintf(out->reason, sizeof out->reason, "the LUT has no stage 0 / classifier times: they count as 0");
done:
    free(live);
    hr_optim_problem_destroy(prob);
    hr_lut_destroy(lut);
}

static json_t *prediction_json(const prediction *p, const char *path)
{
    if (!p->available)
        return json_pack("{s:b, s:s}", "available", 0, "reason", p->reason);
    json_t *o = json_pack("{s:b, s:s, s:{s:s, s:i, s:s, s:i}, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
                          "available", 1, "lut", path, "devices", "head (client)", p->head_dev, "head_threads",
                          p->head_threads, "tail (server)", p->tail_dev, "tail_threads", p->tail_threads, "head_ms",
                          p->ev.head_ms, "link_ms", p->ev.link_ms, "link_busy_ms", p->ev.link_busy_ms, "tail_ms",
                          p->ev.tail_ms, "latency_ms", p->ev.latency_ms, "cycle_ms", p->ev.cycle_ms, "sequential_fps",
                          p->ev.fps, "pipelined_fps", p->ev.pipelined_fps, "bytes", p->ev.bytes);
    if (o && p->reason[0])
        json_object_set_new(o, "note", json_string(p->reason));
    return o;
}

/* α of a trained α file onto the configuration, where it says nothing. */
static hr_status apply_alpha_file(hr_deploy_config *cfg, const char *path, const hr_model *m, hr_error *err)
{
    hr_tensor_map *map = NULL;
    hr_status st = hr_safetensors_load(path, &map, err);
    if (st)
        return st;
    for (size_t i = 0; i < hr_tensor_map_count(map); i++) {
        const hr_named_tensor *t = hr_tensor_map_at(map, i);
        const char *dot = strstr(t->name, ".hyper_");
        char block[64];
        int k, br = -1;
        if (!dot || (size_t)(dot - t->name) >= sizeof block || hr_named_tensor_numel(t) != 1) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s is not a hyper-weight (block.hyper_branch, one value)",
                              path, t->name);
            break;
        }
        memcpy(block, t->name, (size_t)(dot - t->name));
        block[dot - t->name] = '\0';
        for (int b = 0; b < HR_BRANCH_COUNT; b++)
            if (strcmp(dot + 7, hr_branch_name((hr_branch)b)) == 0)
                br = b;
        if ((k = hr_model_find_block(m, block)) < 0 || br < 0) {
            st = hr_error_set(err, HR_ERR_NOT_FOUND, "%s: %s names no branch of %s", path, t->name, cfg->arch);
            break;
        }
        if (!(cfg->alpha_given[k] >> br & 1u)) {
            cfg->alpha[k * HR_BRANCH_COUNT + br] = t->data[0];
            cfg->alpha_given[k] |= 1u << br;
        }
    }
    hr_tensor_map_destroy(map);
    return st;
}

static json_t *gamma_json(const hr_deploy_config *cfg, const hr_model *m)
{
    json_t *o = json_object();
    for (int k = 0; o && k < cfg->nblocks; k++)
        json_object_set_new(o, hr_model_block(m, k).name, json_integer(cfg->gamma[k]));
    return o;
}

static int write_json(json_t *root, const char *path)
{
    hr_error e = {0};
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    int ok = text && hr_write_file_atomic(path, text, strlen(text), &e) == HR_OK;
    if (!ok)
        hr_cli_fail("infer", "%s: %s", path, text ? e.msg : "out of memory");
    free(text);
    return ok;
}

int hr_cmd_infer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, 0, OPT_SERVER},   {"config", required_argument, 0, OPT_CONFIG},
        {"weights", required_argument, 0, OPT_WEIGHTS}, {"alpha", required_argument, 0, OPT_ALPHA},
        {"seed", required_argument, 0, OPT_SEED},       {"input-size", required_argument, 0, OPT_INPUT_SIZE},
        {"data", required_argument, 0, OPT_DATA},       {"frames", required_argument, 0, OPT_FRAMES},
        {"pipelined-frames", required_argument, 0, OPT_PFRAMES},
        {"warmup", required_argument, 0, OPT_WARMUP},   {"window", required_argument, 0, OPT_WINDOW},
        {"lut", required_argument, 0, OPT_LUT},         {"in-process", no_argument, 0, OPT_IN_PROCESS},
        {"threads", required_argument, 0, OPT_THREADS}, {"verify", no_argument, 0, OPT_VERIFY},
        {"timeout", required_argument, 0, OPT_TIMEOUT}, {"name", required_argument, 0, OPT_NAME},
        {"clients", required_argument, 0, OPT_CLIENTS}, {"fps", required_argument, 0, OPT_FPS},
        {"duration", required_argument, 0, OPT_DURATION}, {"vary-split", no_argument, 0, OPT_VARY_SPLIT},
        {"model", required_argument, 0, OPT_MODEL},     {"quiet", no_argument, 0, OPT_QUIET},
        {"use", required_argument, 0, OPT_USE},         {"help", no_argument, 0, 'h'},
        {"edge", required_argument, 0, OPT_EDGE},       {"edge-slowdown", required_argument, 0, OPT_EDGE_SLOWDOWN},
        HR_CLI_NET_OPTIONS,
        {0, 0, 0, 0}};
    const char *server = NULL, *config = NULL, *weights = NULL, *alpha = NULL, *data = NULL, *lut = NULL,
               *output = NULL, *name = NULL, *model = NULL;
    int64_t seed = 42, input_size = 0, frames = 200, pframes = 0, warmup = 10, window = 2, threads = 1, clients = 0;
    double timeout_s = 60, fps = 10, duration = 60;
    int in_process = 0, verify = 0, vary_split = 0, quiet = 0, use_grid = 0, c, r, rc = 1;
    hr_cli_net net;
    hr_error err = {0};
    hr_deploy_config cfg;
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx = NULL, *tctx = NULL;
    hr_tensor_map *map = NULL;
    hr_deploy_part *head = NULL, *tail = NULL, *whole = NULL;
    hr_infer_frames fr;
    hr_chan *chan = NULL;
    void *wbytes = NULL;
    size_t wlen = 0;
    char *ack = NULL;
    rec *recs = NULL;
    void **slots = NULL;
    float *logits = NULL, *vlogits = NULL, *vframe = NULL;
    uint8_t *vpix = NULL;
    json_t *root = NULL, *notes = json_array();
    prediction pred;
    pass_stats seq, pip;
    int64_t cross[4], classes = 0;
    int local, raw;
    char pl[16];
    hr_infer_edge edge;

    memset(&fr, 0, sizeof fr);
    memset(&edge, 0, sizeof edge);
    hr_deploy_config_init(&cfg);
    hr_cli_net_init(&net);
    net.net.role = "infer";
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER: server = optarg; break;
        case OPT_CONFIG: config = optarg; break;
        case OPT_WEIGHTS: weights = optarg; break;
        case OPT_ALPHA: alpha = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_LUT: lut = optarg; break;
        case OPT_NAME: name = optarg; break;
        case OPT_MODEL: model = optarg; break;
        case 'o': output = optarg; break;
        case OPT_IN_PROCESS: in_process = 1; break;
        case OPT_VERIFY: verify = 1; break;
        case OPT_VARY_SPLIT: vary_split = 1; break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_EDGE:
        case OPT_EDGE_SLOWDOWN:
            if (!hr_cli_edge_option("infer", &edge.flags, c == OPT_EDGE, optarg))
                goto usage;
            break;
        case OPT_USE:
            /* exact: the name this choice had before final_configuration became the exact optimum */
            if (strcmp(optarg, "final") != 0 && strcmp(optarg, "grid") != 0 && strcmp(optarg, "exact") != 0) {
                hr_cli_fail("infer", "--use: '%s' is not final or grid", optarg);
                goto usage;
            }
            use_grid = strcmp(optarg, "grid") == 0;
            break;
        case OPT_SEED:
            if (!hr_cli_parse_i64("infer", "--seed", optarg, 0, INT64_MAX, &seed))
                goto usage;
            break;
        case OPT_INPUT_SIZE:
            if (!hr_cli_parse_i64("infer", "--input-size", optarg, 1, 65536, &input_size))
                goto usage;
            break;
        case OPT_FRAMES:
            if (!hr_cli_parse_i64("infer", "--frames", optarg, 1, 100000000, &frames))
                goto usage;
            break;
        case OPT_PFRAMES:
            if (!hr_cli_parse_i64("infer", "--pipelined-frames", optarg, 1, 100000000, &pframes))
                goto usage;
            break;
        case OPT_WARMUP:
            if (!hr_cli_parse_i64("infer", "--warmup", optarg, 0, 100000000, &warmup))
                goto usage;
            break;
        case OPT_WINDOW:
            if (!hr_cli_parse_i64("infer", "--window", optarg, 1, 64, &window))
                goto usage;
            break;
        case OPT_THREADS:
            if (!hr_cli_parse_i64("infer", "--threads", optarg, 1, 1024, &threads))
                goto usage;
            break;
        case OPT_CLIENTS:
            if (!hr_cli_parse_i64("infer", "--clients", optarg, 1, 10000, &clients))
                goto usage;
            break;
        case OPT_TIMEOUT:
        case OPT_FPS:
        case OPT_DURATION: {
            char *end;
            double v;
            errno = 0;
            v = strtod(optarg, &end);
            if (!*optarg || errno || *end || !isfinite(v) || v <= 0 || v > 1e6) {
                hr_cli_fail("infer", "%s: '%s' is not a positive number",
                            c == OPT_TIMEOUT ? "--timeout" : c == OPT_FPS ? "--fps" : "--duration", optarg);
                goto usage;
            }
            *(c == OPT_TIMEOUT ? &timeout_s : c == OPT_FPS ? &fps : &duration) = v;
            break;
        }
        case 'h':
            fputs(help, stdout);
            fputs(help_more, stdout);
            fputs(help_edge, stdout);
            fputs(help_load, stdout);
            rc = 0;
            goto out;
        default:
            r = hr_cli_net_option("infer", &net, c, optarg);
            if (r == 0)
                goto usage;
            if (r < 0) {
                fputs(help, stderr);
                fputs(help_more, stderr);
                fputs(help_edge, stderr);
                fputs(help_load, stderr);
                goto usage;
            }
        }
    }
    if (optind != argc) {
        hr_cli_fail("infer", "unexpected argument '%s'", argv[optind]);
        goto usage;
    }
    if (!config) {
        hr_cli_fail("infer", "--config is required (a joint output or a deployment JSON)");
        goto usage;
    }
    if (!pframes)
        pframes = frames;
    if (!hr_cli_net_check("infer", &net))
        goto usage;
    if (server && in_process) {
        hr_cli_fail("infer", "--server and --in-process are exclusive");
        goto usage;
    }
    if (clients && (!server || in_process)) {
        hr_cli_fail("infer", "--clients needs --server (the load generator streams to a running `hyperrep serve`)");
        goto usage;
    }
    if (clients && (edge.flags.profile || edge.flags.slowdown > 0)) {
        hr_cli_fail("infer", "%s emulates this process's one edge: the load generator (--clients) runs unemulated",
                    edge.flags.profile ? "--edge" : "--edge-slowdown");
        goto usage;
    }
    net.net.name = name;
    net.net.connect_timeout_ms = 10000;

    if (hr_deploy_config_load(config, &cfg, &err))
        goto fail;
    if (use_grid && hr_deploy_config_use_grid(&cfg, &err)) {
        hr_error_prefix(&err, "%s: --use grid", config);
        goto fail;
    }
    if (model && (!hr_arch_find(model) || strcmp(hr_arch_find(model)->name, cfg.arch) != 0)) {
        hr_cli_fail("infer", "--model %s does not match the configuration's model %s", model, cfg.arch);
        goto usage;
    }
    if (input_size)
        cfg.input_size = input_size;
    local = cfg.split == HR_DEPLOY_LOCAL;
    raw = cfg.split == HR_DEPLOY_RAW;
    hr_deploy_placement_str(cfg.split, pl, sizeof pl);
    if (!local && !server && !in_process) {
        hr_cli_fail("infer", "--server HOST:PORT (a running `hyperrep serve`) or --in-process is required");
        goto usage;
    }
    if (cfg.head_server)
        json_array_append_new(notes, json_string("the configuration was optimised with the server as head; here the "
                                                 "edge runs the head (blocks [0, s)) as the deployment flow does"));

    cp.threads = (int)threads;
    cp.seed = (uint64_t)seed;
    if (hr_ctx_create(&cp, &ctx, &err) || (in_process && hr_ctx_create(&cp, &tctx, &err)))
        goto fail;
    if (weights && hr_cli_load_weights(weights, &map, &err)) {
        hr_error_prefix(&err, "%s", weights);
        goto fail;
    }
    if (alpha) {
        /* a structure-only model names the blocks and branches for the file */
        hr_model *probe = NULL;
        hr_model_params mp = hr_model_params_default();
        mp.input_size = cfg.input_size;
        if (hr_model_create(ctx, cfg.arch, &mp, &probe, &err) || apply_alpha_file(&cfg, alpha, probe, &err)) {
            hr_model_destroy(probe);
            goto fail;
        }
        hr_model_destroy(probe);
    }
    /* The edge's part decides the explicit α and γ the server is sent. */
    if (hr_deploy_part_create(ctx, &cfg, local ? HR_DEPLOY_WHOLE : HR_DEPLOY_HEAD, map, (uint64_t)seed,
                              local ? &whole : &head, &err))
        goto fail;
    const hr_deploy_part *mine = local ? whole : head;
    if (hr_deploy_config_resolve(&cfg, hr_deploy_part_model(mine), &err))
        goto fail;
    int64_t in_shape[4];
    hr_deploy_part_input_shape(mine, in_shape);
    hr_deploy_part_crossing_shape(mine, cross);
    classes = hr_deploy_part_num_classes(mine);
    if (hr_infer_frames_load(data, ctx, in_shape, clients ? 64 : warmup + (frames > pframes ? frames : pframes), (uint64_t)seed, &fr, &err))
        goto fail;
    if (raw) {
        /* The head quantises with the frames' normalisation, known only now
         * that they are loaded: rebuild it (a raw head holds no weights). */
        if (raw_norm(&cfg, &fr, notes, &err))
            goto fail;
        hr_deploy_part_destroy(head);
        head = NULL;
        if (hr_deploy_part_create(ctx, &cfg, HR_DEPLOY_HEAD, map, (uint64_t)seed, &head, &err))
            goto fail;
        mine = head;
        json_array_append_new(notes, json_string("raw placement: the edge sends each frame as the 8-bit image "
                                                 "(quantised with the data's mean/std; its head stage is that "
                                                 "quantisation) and the tail runs stage 0, every block and the "
                                                 "classifier"));
    }
    predict(lut, &cfg, hr_deploy_part_model(mine), &pred);
    if (hr_infer_edge_setup(&edge, lut, local ? whole : head, &cfg, notes, &err))
        goto fail;

    if (clients) {
        hr_infer_load_opts lo;
        memset(&lo, 0, sizeof lo);
        if (weights && hr_infer_weights_bytes(weights, map, &wbytes, &wlen, &err))
            goto fail;
        lo.server = server;
        lo.net = net.net;
        lo.cfg = &cfg;
        lo.config_path = config;
        lo.weights = map;
        lo.weights_bytes = wbytes;
        lo.weights_len = wlen;
        lo.seed = (uint64_t)seed;
        lo.frames = &fr;
        lo.clients = (int)clients;
        lo.fps = fps;
        lo.duration_s = duration;
        lo.timeout_ms = (int)(timeout_s * 1000);
        lo.vary_split = vary_split;
        lo.output = output;
        lo.quiet = quiet;
        signal(SIGPIPE, SIG_IGN);
        rc = hr_infer_load_run(&lo);
        goto out;
    }

    if (local) {
        /* Everything on the edge: no link and no tail, so nothing to pipeline. */
        double *lat = malloc(sizeof(double) * (size_t)frames), t_start = 0;
        int64_t correct = 0, labelled = 0;
        if (!lat || !(logits = malloc(sizeof(float) * (size_t)classes))) {
            free(lat);
            hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
            goto fail;
        }
        for (int64_t t = 0; t < warmup + frames; t++) {
            double t0;
            if (edge.emu && t == warmup)
                hr_edge_emu_stats_reset(edge.emu);
            t0 = hr_cli_now_ms();
            if (t == warmup)
                t_start = t0;
            if (hr_deploy_part_run_whole(whole, hr_infer_frame(&fr, t), logits, &err)) {
                free(lat);
                goto fail;
            }
            if (t >= warmup) {
                int32_t label = hr_infer_label(&fr, t);
                lat[t - warmup] = hr_cli_now_ms() - t0;
                if (label >= 0)
                    labelled++, correct += argmax(logits, classes) == label;
            }
        }
        double wall = hr_cli_now_ms() - t_start;
        hr_infer_dist d = hr_infer_dist_of(lat, frames);
        free(lat);
        printf("infer: %s local placement (everything on this edge; no server needed): %.1f fps, latency p50 %.3f "
               "p95 %.3f p99 %.3f ms\n",
               cfg.arch, 1000.0 * (double)frames / wall, d.p50, d.p95, d.p99);
        if (pred.available)
            printf("infer: predicted (LUT): %.1f fps\n", pred.ev.fps);
        hr_infer_edge_print(&edge, frames);
        if (output) {
            json_array_append_new(notes, json_string("local placement: everything runs on the edge; no server is "
                                                     "needed and there is nothing to pipeline"));
            root = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}, s:f, s:f, s:o, s:o, s:o, s:o}",
                             "metadata", "tool", "hyperrep infer", "config", config, "use",
                             use_grid ? "grid" : "final", "model", cfg.arch, "mode", "local", "placement", "local",
                             "data", fr.desc, "frames", (json_int_t)frames, "warmup", (json_int_t)warmup, "weights",
                             weights ? weights : "random", "measured_fps", 1000.0 * (double)frames / wall,
                             "sequential_fps", 1000.0 * (double)frames / wall, "predicted_fps",
                             pred.available ? json_real(pred.ev.fps) : json_null(), "latency_ms",
                             hr_infer_dist_json(&d), "predicted", prediction_json(&pred, lut), "notes", notes);
            notes = NULL;
            if (root && labelled)
                json_object_set_new(root, "accuracy_pct", json_real(100.0 * (double)correct / (double)labelled));
            if (root)
                json_object_set_new(root, "edge_emulation", hr_infer_edge_json(&edge, lut, frames));
            if (!write_json(root, output))
                goto out;
        }
        rc = 0;
        goto out;
    }

    /* the tail: on the server, or here */
    if (in_process) {
        if (hr_deploy_part_create(tctx, &cfg, HR_DEPLOY_TAIL, map, (uint64_t)seed, &tail, &err))
            goto fail;
    } else {
        signal(SIGPIPE, SIG_IGN);
        if (hr_chan_connect(server, &net.net, &chan, &err))
            goto fail;
        if (weights && hr_infer_weights_bytes(weights, map, &wbytes, &wlen, &err))
            goto fail;
        if (hr_infer_deploy(chan, &cfg, wbytes, wlen, (uint64_t)seed, verify, (int)(timeout_s * 1000), &ack, &err))
            goto fail;
        if (!quiet)
            fprintf(stderr, "hyperrep infer: deployed on %s: %s\n", hr_chan_peer(chan), ack ? ack : "");
    }
    /* two passes over the same frames: window 1, then the pipelined window
     * (the first warmup + pframes of them) */
    int64_t per_pass[2] = {warmup + frames, warmup + pframes};
    int64_t per = per_pass[0] > per_pass[1] ? per_pass[0] : per_pass[1];
    size_t cbytes = hr_deploy_part_crossing_bytes(head);
    recs = calloc((size_t)per, sizeof *recs);
    slots = calloc((size_t)window, sizeof *slots);
    logits = malloc(sizeof(float) * (size_t)classes);
    if (verify) {
        vlogits = malloc(sizeof(float) * (size_t)(VERIFY_FRAMES * classes));
        vframe = malloc(sizeof(float) * (size_t)(fr.c * fr.h * fr.w));
        vpix = malloc((size_t)(fr.c * fr.h * fr.w));
    }
    if (!recs || !slots || !logits || (verify && (!vlogits || !vframe || !vpix))) {
        hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < window; i++)
        if (!(slots[i] = malloc(cbytes))) {
            hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
            goto fail;
        }
    double verify_diff = 0;
    int64_t verify_mismatch = 0, nverify = 0;
    for (int ps = 0; ps < 2; ps++) {
        pass p;
        memset(&p, 0, sizeof p);
        pthread_mutex_init(&p.mu, NULL);
        pthread_cond_init(&p.cv, NULL);
        p.window = ps == 0 ? 1 : (int)window;
        p.total = per_pass[ps];
        p.slot = slots;
        p.head = head;
        p.recs = recs;
        p.id0 = (uint32_t)(ps * per_pass[0]);
        p.chan = chan;
        p.timeout_ms = (int)(timeout_s * 1000);
        p.tail = tail;
        p.logits = logits;
        p.classes = classes;
        p.emu = edge.emu;
        p.warmup = warmup;
        /* the first frames' logits are checked after the pipelined pass */
        p.vlogits = ps == 1 ? vlogits : NULL;
        p.nverify = warmup + frames < VERIFY_FRAMES ? warmup + frames : VERIFY_FRAMES;
        memset(recs, 0, sizeof *recs * (size_t)per);
        p.wake[0] = p.wake[1] = -1;
        if (chan && (pipe(p.wake) != 0 || fcntl(p.wake[0], F_SETFL, O_NONBLOCK) != 0 ||
                     fcntl(p.wake[1], F_SETFL, O_NONBLOCK) != 0)) {
            hr_error_set(&err, HR_ERR_IO, "infer: cannot create the wake-up pipe: %s", strerror(errno));
            if (p.wake[0] >= 0)
                close(p.wake[0]), close(p.wake[1]);
            pthread_mutex_destroy(&p.mu);
            pthread_cond_destroy(&p.cv);
            goto fail;
        }
        hr_status st = run_pass(&p, head, &fr, 0, &err);
        if (p.wake[0] >= 0)
            close(p.wake[0]), close(p.wake[1]);
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.cv);
        if (st)
            goto fail;
        if (summarise(recs, warmup, per_pass[ps], &fr, 0, ps == 0 ? &seq : &pip, &err))
            goto fail;
        if (ps == 1 && vlogits) {
            /* the reference: the whole model here, on the same frames */
            hr_ctx *vctx = tctx ? tctx : ctx;
            if (hr_deploy_part_create(vctx, &cfg, HR_DEPLOY_WHOLE, map, (uint64_t)seed, &whole, &err))
                goto fail;
            nverify = p.nverify;
            for (int64_t k = 0; k < nverify; k++) {
                const float *x = hr_infer_frame(&fr, k);
                if (raw) {
                    /* the frame as the tail sees it: quantised here, dequantised there */
                    hr_deploy_quantise_input(x, fr.c, fr.h * fr.w, cfg.input_mean, cfg.input_std, vpix);
                    hr_deploy_dequantise_input(vpix, fr.c, fr.h * fr.w, cfg.input_mean, cfg.input_std, vframe);
                    x = vframe;
                }
                if (hr_deploy_part_run_whole(whole, x, logits, &err))
                    goto fail;
                verify_mismatch += argmax(logits, classes) != recs[k].cls;
                for (int64_t j = 0; j < classes; j++) {
                    double dd = fabs((double)logits[j] - (double)vlogits[k * classes + j]);
                    if (dd > verify_diff)
                        verify_diff = dd;
                }
            }
        }
    }
    if (chan)
        hr_infer_shutdown(chan, (uint32_t)(per_pass[0] + per_pass[1]));

    double speedup = seq.fps > 0 ? pip.fps / seq.fps : 0;
    printf("infer: %s split %s/%d (%s, %zu bytes per frame), window %lld: %.1f fps pipelined, %.1f fps sequential "
           "(%.2fx); latency p50 %.3f p95 %.3f p99 %.3f ms; head %.3f, link+queue %.3f, tail %.3f ms (p50)\n",
           cfg.arch, pl, cfg.nblocks, chan ? "server" : "in-process", cbytes, (long long)window, pip.fps, seq.fps,
           speedup, pip.e2e.p50, pip.e2e.p95, pip.e2e.p99, pip.head.p50, pip.link.p50, pip.tail.p50);
    if (pred.available)
        printf("infer: predicted (LUT %s): %.1f fps pipelined, %.1f fps sequential; head %.3f, link %.3f, tail "
               "%.3f ms\n",
               lut, pred.ev.pipelined_fps, pred.ev.fps, pred.ev.head_ms, pred.ev.link_ms, pred.ev.tail_ms);
    else
        printf("infer: no prediction: %s\n", pred.reason);
    hr_infer_edge_print(&edge, pframes);
    if (verify)
        printf("infer: verified %lld frames against the whole model here: %lld class mismatches, max |logit diff| "
               "%.3g\n",
               (long long)nverify, (long long)verify_mismatch, verify_diff);
    fflush(stdout);
    if (output) {
        char ts[32];
        hr_infer_timestamp(ts, sizeof ts);
        root = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:i, s:[I,I,I], s:I, s:o, s:s, s:s, s:s, s:s, "
                         "s:s?, s:b, s:s?, s:I, s:I, s:I, s:I}}",
                         "metadata", "tool", "hyperrep infer", "timestamp", ts, "config", config, "use",
                         use_grid ? "grid" : "final", "model", cfg.arch, "mode", chan ? "server" : "in-process",
                         "placement", placement_json(cfg.split), "split", cfg.split, "nblocks", cfg.nblocks, "input",
                         (json_int_t)in_shape[1], (json_int_t)in_shape[2], (json_int_t)in_shape[3], "num_classes",
                         (json_int_t)classes, "gamma", gamma_json(&cfg, hr_deploy_part_model(head)), "mask",
                         cfg.mask == HR_MASK_SUBSET ? "subset" : "exact", "head", "edge (this process)", "weights",
                         weights ? weights : "random", "data", fr.desc, "server", server, "tls",
                         net.net.tls.cert != NULL, "server_identity", chan ? hr_chan_peer(chan) : NULL, "frames",
                         (json_int_t)frames, "warmup", (json_int_t)warmup, "window", (json_int_t)window, "threads",
                         (json_int_t)threads);
        if (!root) {
            hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory building the report");
            goto fail;
        }
        json_t *x = json_pack("{s:[I,I,I,I], s:s, s:I}", "shape", (json_int_t)cross[0], (json_int_t)cross[1],
                              (json_int_t)cross[2], (json_int_t)cross[3], "dtype",
                              hr_wire_dtype_name(hr_deploy_part_crossing_dtype(head)), "bytes", (json_int_t)cbytes);
        json_object_set_new(root, "measured_fps", json_real(pip.fps));
        json_object_set_new(root, "sequential_fps", json_real(seq.fps));
        json_object_set_new(root, "speedup", json_real(speedup));
        json_object_set_new(root, "predicted_fps", pred.available ? json_real(pred.ev.pipelined_fps) : json_null());
        json_object_set_new(root, "predicted_sequential_fps", pred.available ? json_real(pred.ev.fps) : json_null());
        json_object_set_new(root, "latency_ms", hr_infer_dist_json(&pip.e2e));
        json_t *pj = stats_json(&pip, (int)window);
        json_object_set_new(root, "stages", pj ? json_deep_copy(json_object_get(pj, "stages")) : json_null());
        json_object_set_new(root, "sequential", stats_json(&seq, 1));
        json_object_set_new(root, "pipelined", pj);
        json_object_set_new(json_object_get(root, "metadata"), "pipelined_frames", json_integer((json_int_t)pframes));
        json_object_set_new(root, "predicted", prediction_json(&pred, lut));
        json_object_set_new(root, "crossing", x);
        json_object_set_new(root, "edge_emulation", hr_infer_edge_json(&edge, lut, pframes));
        if (pip.labelled)
            json_object_set_new(root, "accuracy_pct", json_real(100.0 * (double)pip.correct / (double)pip.labelled));
        if (verify)
            json_object_set_new(root, "verified", json_pack("{s:I, s:I, s:f}", "frames", (json_int_t)nverify,
                                                            "class_mismatches", (json_int_t)verify_mismatch,
                                                            "max_abs_logit_diff", verify_diff));
        if (ack) {
            json_t *aj = json_loads(ack, 0, NULL);
            if (aj)
                json_object_set_new(root, "server_ack", aj);
        }
        json_object_set_new(root, "notes", notes);
        notes = NULL;
        if (!write_json(root, output))
            goto out;
    }
    rc = verify && verify_mismatch ? 1 : 0;
    if (rc)
        hr_cli_fail("infer", "%lld of %lld verified frames got another class from the tail", (long long)verify_mismatch,
                    (long long)nverify);
    goto out;
usage:
    rc = 2;
    goto out;
fail:
    hr_cli_fail("infer", "%s", err.msg);
    rc = 1;
out:
    if (slots)
        for (int64_t i = 0; i < window; i++)
            free(slots[i]);
    free(slots);
    free(recs);
    free(logits);
    free(vlogits);
    free(vframe);
    free(vpix);
    free(ack);
    free(wbytes);
    json_decref(root);
    json_decref(notes);
    hr_chan_destroy(chan);
    hr_infer_frames_free(&fr);
    hr_deploy_part_destroy(head);
    hr_deploy_part_destroy(tail);
    hr_deploy_part_destroy(whole);
    hr_infer_edge_deinit(&edge);
    hr_tensor_map_destroy(map);
    hr_deploy_config_deinit(&cfg);
    hr_ctx_destroy(ctx);
    hr_ctx_destroy(tctx);
    return rc;
}
