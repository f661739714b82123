/* The edge side of split inference (SPEC §10): what `hyperrep infer` runs,
 * as a library. An edge holds the head of a deployment configuration and
 * streams frames through it to the tail, which runs on a `hyperrep serve`
 * (serve.h) or on a thread of this process; it measures throughput and
 * latency per stage. Under the raw placement the head only quantises each
 * frame to the 8-bit image a camera would send; under the local placement
 * everything runs here and there is no tail.
 *
 *   hr_edge_params ep = hr_edge_params_default();
 *   ep.server = "127.0.0.1:6006";                 // NULL: the tail in this process
 *   hr_edge *edge;
 *   hr_edge_prepare_params pp = hr_edge_prepare_params_default();
 *   pp.data = "random";
 *   pp.frames = 210;
 *   hr_edge_run_params rp = hr_edge_run_params_default();
 *   hr_edge_stats seq, pip;
 *   if (hr_edge_create(&ep, &edge, &err) ||
 *       hr_edge_prepare(edge, &cfg, &pp, &err) ||   // head, α, frames: no network yet
 *       hr_edge_deploy(edge, &err) ||               // the tail: MODEL_SYNC → ACK
 *       hr_edge_run(edge, &rp, &seq, &err))         // one pass, window 1
 *       ...
 *   rp.window = 2;
 *   hr_edge_run(edge, &rp, &pip, &err);              // pipelined
 *   hr_edge_destroy(edge);                           // SHUTDOWN → ACK
 *
 * Between prepare and deploy a program can read the resolved configuration
 * and the head (hr_edge_config, hr_edge_part) to predict the figures from
 * a LUT (hr_edge_predict) or to emulate a slower edge (hr_edge_set_emu).
 *
 * An edge is used by one thread at a time; a pass starts and joins a
 * second thread of its own (the link, or the in-process tail).
 *
 * Besides the edge object: frames (the input stream), percentile
 * distributions, and the load generator (many edges in one process, each
 * with its own connection, streaming paced frames one at a time). */
#ifndef HYPERREP_EDGE_H
#define HYPERREP_EDGE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ctx.h"
#include "hyperrep/edge_emulate.h"
#include "hyperrep/error.h"
#include "hyperrep/model.h"
#include "hyperrep/net.h"
#include "hyperrep/optim.h"
#include "hyperrep/serve.h"
#include "hyperrep/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- frames ---- */

/* Input frames, cycled: frame t is pix[(t % count) · C·H·W]. Caller
 * storage: filled by hr_edge_frames_load, freed by hr_edge_frames_deinit. */
typedef struct hr_edge_frames {
    int64_t count, c, h, w;
    float *pix;
    int32_t *labels;      /* -1 when unknown (random frames) */
    float *mean, *std;    /* [c]: the normalisation the frames carry (the data
                             set's; random frames: 0 and 1), which the raw
                             placement's quantisation undoes */
    char desc[300];       /* what they are, for a report */
} hr_edge_frames;

/* Loads at most `want` frames (at least 1; at most 32 distinct random
 * ones) of shape in_shape [1, C, H, W] from src: "fashion-mnist" (its test
 * images, clean, normalised), "random" (uniform in [-1, 1) from seed) or an
 * image folder (its test pool, resized and centre-cropped to H, decoded on
 * ctx); NULL picks Fashion-MNIST when the shape is 1×28×28 and the data set
 * is installed, else random. Errors of the data set (a missing folder, a
 * corrupt file), HR_ERR_SHAPE for images of another shape, HR_ERR_NOMEM.
 * *out is written only on success. */
hr_status hr_edge_frames_load(const char *src, hr_ctx *ctx, const int64_t in_shape[4], int64_t want, uint64_t seed,
                              hr_edge_frames *out, hr_error *err);
/* The first `want` images of domain `domain`'s test part, as `eval --domain
 * K --split test` sees them: the data of src ("fashion-mnist" when NULL, or
 * an image folder) opened with hr_data_open under seed (partition and
 * corruption), the part's indices in order, each image corrupted by the
 * domain's corruption and normalised. HR_ERR_INVALID_ARG for a domain out
 * of range; HR_ERR_SHAPE when the images are not the model's; errors of the
 * data. */
hr_status hr_edge_frames_load_domain(const char *src, hr_ctx *ctx, int domain, const int64_t in_shape[4],
                                     int64_t want, uint64_t seed, hr_edge_frames *out, hr_error *err);
/* Frees the arrays and zeroes f; a zeroed f is a no-op. */
void hr_edge_frames_deinit(hr_edge_frames *f);
/* Frame t (any t >= 0: the frames cycle): C·H·W floats, and its label
 * (-1 when unknown). */
const float *hr_edge_frames_at(const hr_edge_frames *f, int64_t t);
int32_t hr_edge_frames_label(const hr_edge_frames *f, int64_t t);

/* ---- distributions ---- */

typedef struct hr_edge_dist {
    int64_t n;
    double mean, p50, p95, p99, max;
} hr_edge_dist;

/* Mean, maximum and percentiles of n values (hr_lut_quantile's linear
 * interpolation between order statistics). All zero when n < 1, when n
 * does not fit an int, or when no memory is left for the sorted copy. */
hr_edge_dist hr_edge_dist_of(const double *v, int64_t n);

/* ---- the edge ---- */

typedef struct hr_edge hr_edge;

typedef struct hr_edge_params {
    const char *server;       /* "HOST:PORT" of a `hyperrep serve`; NULL: the tail runs
                                 on a thread of this process with its own context */
    hr_net_params net;        /* the connection to the server: hr_net_params_default()
                                 with role "infer" */
    int threads;              /* threads of the head's context (and of the in-process
                                 tail's): 1 */
    uint64_t seed;            /* the contexts' seed, the random weights (both sides,
                                 when no weights are given) and random frames: 42 */
    int timeout_ms;           /* longest wait for one result or the deployment's ACK (>= 0): 60000 */
    int want_logits;          /* ask the server to return every frame's logits, so that
                                 a pass can keep them (hr_edge_run_params.logits): 0 */
    hr_log_fn log;            /* the edge's notes on the deployment (HR_LOG_INFO: what
                                 a report should say, e.g. that the raw placement took
                                 its normalisation from the frames); NULL: stderr */
    void *log_user;
    hr_log_level log_level;   /* lines below this level are dropped: HR_LOG_WARN */
} hr_edge_params;

hr_edge_params hr_edge_params_default(void);

/* Creates an edge and its context (params->threads, params->seed; it logs
 * as hr_ctx_params_default does). Nothing is built or connected yet. The
 * strings params points to (server, the TLS files, the name) are not
 * copied: they must outlive the edge. params NULL: the defaults.
 * HR_ERR_INVALID_ARG (threads out of 1..1024, a negative timeout_ms,
 * naming the value), HR_ERR_NOMEM. *out is untouched on failure. */
hr_status hr_edge_create(const hr_edge_params *params, hr_edge **out, hr_error *err);

/* Sends SHUTDOWN to the server and waits (at most 10 s) for its ACK when
 * the edge is connected and its last exchange succeeded, closes the
 * connection and frees everything. Emulators set with hr_edge_set_emu are
 * not owned: destroy the edge first. NULL is a no-op. */
void hr_edge_destroy(hr_edge *e);

typedef struct hr_edge_prepare_params {
    hr_tensor_map *weights;   /* model weights; NULL: random from the seed. Not owned,
                                 and read again by hr_edge_deploy (the in-process tail)
                                 and hr_edge_verify: keep it until the edge is destroyed */
    const char *weights_path; /* the file weights came from: a .safetensors file is sent
                                 to the server as it is; otherwise (a .pth, or NULL)
                                 the weights are sent as safetensors made from the map */
    const char *alpha_path;   /* trained α (hr_alpha_file_read: JSON or safetensors, by
                                 content; of a file of several domains, `domain`'s)
                                 applied where the configuration gives none; NULL: none */
    const char *data;         /* the frames' source (hr_edge_frames_load); NULL: the default */
    int64_t frames;           /* frames to hold (they cycle): 64 */
    int domain;               /* >= 0: domain K's test part (hr_edge_frames_load_domain)
                                 instead of the source's first clean test images; -1 (default) */
} hr_edge_prepare_params;

hr_edge_prepare_params hr_edge_prepare_params_default(void);

/* The edge's side of configuration cfg (copied; the edge keeps its own),
 * in this order: the α of params->alpha_path where cfg gives none; the
 * edge's part (the head; the whole model under the local placement) from
 * params->weights; the configuration resolved against it (every α and γ
 * explicit, hr_deploy_config_resolve); the frames, shaped as the model's
 * input; under the raw placement, the frames' normalisation put into the
 * configuration (a configuration that named other values is overridden,
 * with a note) and the head rebuilt with it. Notes go to params.log. The
 * network is not touched. Errors: HR_ERR_INVALID_ARG when prepared
 * already; the α file's (HR_ERR_FORMAT for a tensor that is not one
 * hyper-weight, HR_ERR_NOT_FOUND for one naming no branch of the model);
 * hr_deploy_part_create's (a γ invalid for a block's live branches names
 * the block); hr_edge_frames_load's. On failure the edge is as created. */
hr_status hr_edge_prepare(hr_edge *e, const hr_deploy_config *cfg, const hr_edge_prepare_params *params,
                          hr_error *err);

/* After hr_edge_prepare (NULL before): the resolved configuration, the
 * edge's part (the head, or the whole model under local; its model names
 * the blocks) and the frames. */
const hr_deploy_config *hr_edge_config(const hr_edge *e);
const hr_deploy_part *hr_edge_part(const hr_edge *e);
const hr_edge_frames *hr_edge_input_frames(const hr_edge *e);

/* Sets an edge emulator on the edge's part (hr_deploy_part_set_edge_emu;
 * emu is not owned and must outlive the edge; NULL turns emulation off).
 * Its counters restart at the first measured frame of every pass.
 * HR_ERR_INVALID_ARG before hr_edge_prepare, hr_deploy_part_set_edge_emu's
 * errors. */
hr_status hr_edge_set_emu(hr_edge *e, hr_edge_emu *emu, hr_error *err);

/* Deploys the tail: in this process (a context of its own, the tail part
 * from the weights), or on the server: connects (params.net), sends the
 * resolved configuration and the weights in MODEL_SYNC (random weights from
 * the seed when none were given; inline in chunks of at most 16 MiB) and
 * waits up to timeout_ms for the ACK. The local placement has no tail:
 * nothing is done. Errors: HR_ERR_INVALID_ARG when not prepared or
 * deployed already; the transport's (HR_ERR_IO naming the address); the
 * server's ERROR, returned as its status with its message. */
hr_status hr_edge_deploy(hr_edge *e, hr_error *err);

/* The server's identity (its certificate CN under TLS, else HOST:PORT) and
 * its ACK's metadata (JSON object text); NULL when not connected. */
const char *hr_edge_peer(const hr_edge *e);
const char *hr_edge_ack(const hr_edge *e);

#define HR_EDGE_MAX_WINDOW 64

typedef struct hr_edge_run_params {
    int window;               /* frames in flight, 1 (sequential) .. HR_EDGE_MAX_WINDOW: 1 */
    int64_t warmup;           /* unmeasured frames first: 10 */
    int64_t frames;           /* measured frames after them (>= 1): 200 */
    int64_t keep;             /* classes and logits of the first `keep` frames of the
                                 pass (warm-up included) are written below: 0 */
    int *classes;             /* [keep]: the class the tail returned; NULL: not kept */
    float *logits;            /* [keep × classes]: the tail's logits; NULL: not kept.
                                 A server sends them only with want_logits */
} hr_edge_run_params;

hr_edge_run_params hr_edge_run_params_default(void);

/* Figures of a pass's measured frames (ms on the monotonic clock). */
typedef struct hr_edge_stats {
    double fps;               /* frames / wall time */
    double wall_ms;           /* first measured head start to last result */
    int64_t frames;
    hr_edge_dist e2e;         /* head start to result */
    hr_edge_dist head;        /* head compute */
    hr_edge_dist link;        /* hand-over to result, minus the tail's time: link + queues */
    hr_edge_dist tail;        /* the tail's compute (as the server reports it) */
    hr_edge_dist server_queue; /* waiting before the tail ran */
    int64_t correct, labelled; /* classes equal to the frames' labels, of labelled frames */
} hr_edge_stats;

/* One pass over warmup + frames frames (frame t of the pass is frame t of
 * the edge's frames): the head on the calling thread, the link (or the
 * in-process tail) on a second thread, at most `window` frames in flight:
 * the head computes frame t+1 while the link and the tail handle frame t.
 * The local placement runs each frame whole on the calling thread (window
 * ignored; of the distributions only e2e is filled). Errors:
 * HR_ERR_INVALID_ARG when not deployed, for a window out of range, no
 * measured frames, kept logits without want_logits from a server;
 * HR_ERR_NOMEM; a result that is not the one expected (HR_ERR_FORMAT);
 * errors of the head, the tail and the transport. After a failed pass the
 * connection is not used again. */
hr_status hr_edge_run(hr_edge *e, const hr_edge_run_params *params, hr_edge_stats *out, hr_error *err);

typedef struct hr_edge_verification {
    int64_t frames;           /* frames compared */
    int64_t class_mismatches; /* of which the tail's class differed */
    double max_abs_logit_diff;
} hr_edge_verification;

/* Runs the whole model here (built once, on the in-process tail's context
 * when there is one) on the first n frames and compares with what a pass
 * kept from the tail: classes[n] and logits[n × classes] (NULL: only the
 * classes are compared). Under raw each frame is quantised and dequantised
 * first, as the tail sees it. HR_ERR_INVALID_ARG when not deployed, errors
 * of the model, HR_ERR_NOMEM. */
hr_status hr_edge_verify(hr_edge *e, const int *classes, const float *logits, int64_t n, hr_edge_verification *out,
                         hr_error *err);

/* ---- the LUT's prediction ---- */

typedef struct hr_edge_prediction {
    int available;            /* 1: ev holds the figures */
    char reason[HR_ERROR_MSG_MAX + 600]; /* why not ("no --lut given", the LUT's load
                                 error, a LUT of another model); when available, a
                                 caveat or "" */
    hr_optim_eval ev;         /* the optimiser's evaluation of the configuration */
    char head_dev[128], tail_dev[128]; /* the LUT's client and server devices */
    int head_threads, tail_threads;
} hr_edge_prediction;

/* What the merged LUT at lut_path (NULL: none) predicts for configuration
 * cfg (resolved: explicit γ) with the head on the client: the LUT must
 * describe model m (same architecture, blocks and input shape). Never
 * fails: a problem is the reason. */
void hr_edge_predict(const char *lut_path, const hr_deploy_config *cfg, const hr_model *m, hr_edge_prediction *out);

/* ---- the load generator ---- */

typedef struct hr_edge_load_params {
    const char *server;       /* "HOST:PORT" (required) */
    hr_net_params net;        /* each edge's hello name is "<net.name or load>-<i>" */
    const hr_deploy_config *cfg; /* resolved (hr_edge_config); required */
    hr_tensor_map *weights;   /* NULL: random from seed; read while the heads are built */
    const char *weights_path; /* as hr_edge_prepare_params.weights_path */
    uint64_t seed;            /* random weights: 42 */
    const hr_edge_frames *frames; /* required; edge i streams frames i, i+1, … */
    int clients;              /* edges, each a thread with its own connection and head: 1 */
    double fps;               /* frames per second of each edge: 10 */
    double duration_s;        /* seconds of streaming: 60 */
    int timeout_ms;           /* each result and the deployment's ACK: 60000 */
    int vary_split;           /* edge i uses split i mod (N + 1): 0 */
    hr_log_fn log;            /* one HR_LOG_INFO line when the edges start; NULL: stderr */
    void *log_user;
    hr_log_level log_level;   /* lines below this level are dropped: HR_LOG_WARN */
} hr_edge_load_params;

hr_edge_load_params hr_edge_load_params_default(void);

typedef struct hr_edge_load_failure {
    int edge;                 /* its index */
    char msg[HR_ERROR_MSG_MAX];
} hr_edge_load_failure;

typedef struct hr_edge_load_result {
    double wall_s;            /* planned start of the first edge to the end of the last */
    int64_t frames;           /* results received, all edges */
    double aggregate_fps;     /* frames / duration_s */
    int errors;               /* edges that failed */
    hr_edge_load_failure *failures; /* [errors], in edge order (malloc'd) */
    hr_edge_dist latency_ms;  /* head start to result */
    hr_edge_dist round_trip_ms; /* send to result */
    hr_edge_dist tail_ms;     /* the server's tail time */
    int64_t min_frames, max_frames; /* results per edge */
    int64_t late_frames;      /* frames that started more than one period late */
} hr_edge_load_result;

/* Runs params->clients edges: the heads are built first (one after
 * another), then each edge connects, deploys (MODEL_SYNC without logits),
 * streams one frame at a time at params->fps for duration_s seconds (the
 * edges start spread over one frame period, 0.5 s from now), and sends
 * SHUTDOWN. An edge that fails stops and is counted in out->errors with
 * its message; the others go on. *out (deinit with
 * hr_edge_load_result_deinit) is written when the run happened, whatever
 * the edges' errors. Errors: HR_ERR_INVALID_ARG for a missing server,
 * configuration or frames, clients < 1, a rate or duration that is not a
 * positive number, a negative timeout; the weights' bytes; building a
 * head; HR_ERR_NOMEM; HR_ERR_INTERNAL when a thread cannot start. */
hr_status hr_edge_load_run(const hr_edge_load_params *params, hr_edge_load_result *out, hr_error *err);
/* Frees out->failures and zeroes out; NULL is a no-op. */
void hr_edge_load_result_deinit(hr_edge_load_result *r);

#ifdef __cplusplus
}
#endif
#endif
