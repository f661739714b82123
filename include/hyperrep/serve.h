/* Split-inference deployment (SPEC §10): the deployment configuration shared
 * by both sides, the head and tail parts of a model, and the multi-client
 * server (`hyperrep serve`) that runs the tail for every connected edge.
 *
 * The flow is driven by the edge (docs/PROTOCOL.md, "Deployment flow"):
 *
 *   edge (hyperrep infer)                       cloud (hyperrep serve)
 *   hello  ───────────────────────────────────▶  hello
 *   MODEL_SYNC {config, weights} (1..K chunks) ▶  builds the tail on a worker
 *          ◀──────────────────────────────────  ACK (or ERROR naming the problem)
 *   INFER_FRAME id=t [crossing tensor]  ──────▶  tail: blocks [s, N) + classifier
 *          ◀──────────────────────────────────  INFER_RESULT id=t {class, tail_ms} [logits]
 *   … several frames in flight (pipelining) …
 *   SHUTDOWN ─────────────────────────────────▶  ACK, close
 *
 * Placement: the head always runs stage 0 and blocks [0, s), the tail
 * blocks [s, N) and the classifier; s = N leaves the tail only the
 * classifier. The crossing tensor is the input of block s ([1, C, H, W]
 * float32; for s = N the output of the last block). The `raw` placement
 * (the tail runs stage 0) is not offered; `local` (everything on the edge)
 * needs no server. */
#ifndef HYPERREP_SERVE_H
#define HYPERREP_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ctx.h"
#include "hyperrep/error.h"
#include "hyperrep/gamma.h"
#include "hyperrep/model.h"
#include "hyperrep/net.h"
#include "hyperrep/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- deployment configuration ---- */

/* split value of a configuration that keeps everything on the edge. */
#define HR_DEPLOY_LOCAL (-2)

typedef struct hr_deploy_config {
    char arch[64];            /* canonical architecture name ("repvgg-tiny") */
    int64_t input_size;       /* H = W; 0: the architecture's default */
    int64_t in_channels;      /* 0: default */
    int64_t num_classes;      /* 0: default */
    int nblocks;              /* N of the architecture */
    int split;                /* 0..N, or HR_DEPLOY_LOCAL */
    hr_mask_kind mask;        /* validity mask of the γ (HR_MASK_EXACT) */
    int *gamma;               /* [nblocks]; -1: the block's deploy γ */
    float *alpha;             /* [nblocks × 3] dense, 1x1, identity (0: pruned) */
    unsigned *alpha_given;    /* [nblocks] HR_BR_* of the α values given above; the
                                 others keep the weights' own α (1 for random weights) */
    int head_server;          /* the configuration was optimised with the server as
                                 head (SPEC §1 --head server): infer still runs the
                                 head on the edge and says so */
} hr_deploy_config;

void hr_deploy_config_init(hr_deploy_config *c);
/* Frees the arrays and re-initialises c; NULL is a no-op. */
void hr_deploy_config_deinit(hr_deploy_config *c);

/* Parses a configuration from JSON text. Two forms are accepted:
 *  - a deployment object (the MODEL_SYNC metadata): "arch" (or "model"),
 *    optional "input_size", "in_channels", "num_classes", "split" (0..N or
 *    "local"), "mask" ("exact"|"subset"), "gammas" [N ints, -1 = deploy γ]
 *    or "gamma" {block name: γ}, "alpha" [[dense, 1x1, identity] × N],
 *    "pruned" [hyper-weight names]; other keys are ignored;
 *  - the joint output (domain_K_joint.json): metadata.model, and from
 *    final_configuration the split_point and gamma_config, the pruned
 *    branches of stage1_accuracy.pruned_weights; metadata.head "server" sets
 *    head_server.
 * `what` names the source in messages (a file name, "model_sync"). Errors
 * name the field and value: HR_ERR_FORMAT (malformed JSON with line and
 * column, a missing or mistyped field, a γ out of 0..13, an α that is not
 * finite, the raw placement), HR_ERR_NOT_FOUND (unknown architecture or
 * block), HR_ERR_INVALID_ARG (split out of 0..N, lists of the wrong
 * length). out is deinit'd and refilled only on success. */
hr_status hr_deploy_config_parse(const char *json, const char *what, hr_deploy_config *out, hr_error *err);
/* hr_deploy_config_parse on a file's content. HR_ERR_IO naming the file. */
hr_status hr_deploy_config_load(const char *path, hr_deploy_config *out, hr_error *err);

/* Makes every α explicit from model (a head or whole part built from this
 * configuration, or any model of the same architecture with the weights
 * loaded): alpha_given becomes the block's existing branches. Also replaces
 * every -1 in gamma by the block's deploy γ of its live branches. */
hr_status hr_deploy_config_resolve(hr_deploy_config *c, const hr_model *model, hr_error *err);

/* The configuration as a MODEL_SYNC metadata object (malloc'd JSON text;
 * the caller frees): {"purpose": "infer", "arch", "input_size",
 * "in_channels", "num_classes", "split", "mask", "gammas", "alpha"} plus
 * "weights": weights_json (a JSON object text, NULL: {"kind": "random",
 * "seed": 0}) and "logits": want_logits. α must be explicit
 * (hr_deploy_config_resolve): HR_ERR_INVALID_ARG otherwise. */
hr_status hr_deploy_config_to_meta(const hr_deploy_config *c, const char *weights_json, int want_logits, char **out,
                                   hr_error *err);

/* ---- head and tail parts ---- */

typedef enum hr_deploy_role {
    HR_DEPLOY_HEAD,   /* stage 0 + blocks [0, s) */
    HR_DEPLOY_TAIL,   /* blocks [s, N) + classifier */
    HR_DEPLOY_WHOLE,  /* everything (reference, local placement, in-process comparison) */
    HR_DEPLOY_ROLE_COUNT
} hr_deploy_role;

typedef struct hr_deploy_part hr_deploy_part;

/* Builds the part of the configured model that `role` runs, on ctx (which
 * must outlive it): weights from `weights` (NULL: random from seed, the
 * same weights hr_model_init_random gives), then the α of the configuration
 * (a branch set to 0 is pruned; an α for a branch the block lacks must be
 * 0), then each of the part's blocks gets its γ under the configuration's
 * mask, the training-time weights of those blocks are freed and batch 1 is
 * planned. The weights map is not kept. Errors of the model (a γ invalid for
 * a block's live branches names the block; weights of another architecture
 * name the tensor), HR_ERR_INVALID_ARG for a local configuration asked for a
 * head or tail. */
hr_status hr_deploy_part_create(hr_ctx *ctx, const hr_deploy_config *cfg, hr_deploy_role role,
                                hr_tensor_map *weights, uint64_t seed, hr_deploy_part **out, hr_error *err);
void hr_deploy_part_destroy(hr_deploy_part *p);

const hr_model *hr_deploy_part_model(const hr_deploy_part *p);
hr_deploy_role hr_deploy_part_role(const hr_deploy_part *p);
/* Shape of one frame's input [1, C, H, W], crossing tensor [1, C, H, W]
 * (for s = N the output of the last block) and logits [1, classes]. */
void hr_deploy_part_input_shape(const hr_deploy_part *p, int64_t shape[4]);
void hr_deploy_part_crossing_shape(const hr_deploy_part *p, int64_t shape[4]);
int64_t hr_deploy_part_num_classes(const hr_deploy_part *p);

/* Head: one frame's input (C·H·W floats) → crossing tensor. */
hr_status hr_deploy_part_run_head(hr_deploy_part *p, const float *input, float *crossing, hr_error *err);
/* Tail: crossing tensor → logits (classes floats). */
hr_status hr_deploy_part_run_tail(hr_deploy_part *p, const float *crossing, float *logits, hr_error *err);
/* Whole: input → logits. */
hr_status hr_deploy_part_run_whole(hr_deploy_part *p, const float *input, float *logits, hr_error *err);

/* ---- server ---- */

typedef void (*hr_server_log_fn)(void *user, hr_log_level level, const char *line);

typedef struct hr_server_params {
    const char *listen;        /* "HOST:PORT": "127.0.0.1:6006" (port 0: any free one) */
    hr_tls_params tls;         /* cert, key and CA: mutual TLS 1.3; all NULL: plain TCP */
    int insecure_listen_any;   /* allow plain TCP on a non-loopback address: 0 */
    int workers;               /* compute threads, each with its own hr_ctx: 2 */
    int threads_per_model;     /* threads of each worker's context: 1 */
    int max_clients;           /* connections served at once; more are refused: 256 */
    int max_queue;             /* frames queued or running per session before its
                                  socket stops being read (back-pressure): 4 */
    uint64_t max_model_bytes;  /* inline weights of one session: 1 GiB */
    uint32_t max_frame_bytes;  /* largest frame payload of any type: HR_PROTO_MAX_PAYLOAD */
    int idle_timeout_ms;       /* a session without a complete frame for this long is closed: 120000 */
    int frame_timeout_ms;      /* a frame that has started must end within this: 30000 */
    int handshake_timeout_ms;  /* TCP accept to hello received (TLS included): 10000 */
    int handle_signals;        /* 1: SIGINT/SIGTERM stop the server gracefully: 0 */
    const char *name;          /* hello "name": "hyperrep-serve" */
    hr_server_log_fn log;      /* one line per connect, disconnect and error; NULL: stderr */
    void *log_user;
    hr_log_level log_level;    /* lines below this level are dropped: HR_LOG_INFO */
} hr_server_params;

hr_server_params hr_server_params_default(void);

typedef struct hr_server_stats {
    uint64_t accepted;         /* connections accepted */
    uint64_t refused;          /* refused: over max_clients */
    uint64_t active;           /* sessions open now */
    uint64_t deployed;         /* models built */
    uint64_t frames;           /* INFER_RESULTs sent */
    uint64_t protocol_errors;  /* sessions closed for a malformed, oversized,
                                  out-of-sequence, truncated or late frame */
    uint64_t timeouts;         /* sessions closed by the idle, frame or handshake timeout */
} hr_server_stats;

typedef struct hr_server hr_server;

/* Binds the listening socket (so the port is known on return), loads the
 * TLS certificate, key and CA, and starts the workers. Without TLS a
 * non-loopback address is refused unless insecure_listen_any
 * (HR_ERR_INVALID_ARG saying so). HR_ERR_IO (bind failed, a certificate
 * file unreadable), HR_ERR_FORMAT (a bad certificate), HR_ERR_INVALID_ARG
 * (a parameter out of range, naming it), HR_ERR_NOMEM. */
hr_status hr_server_create(const hr_server_params *params, hr_server **out, hr_error *err);
/* The bound port. */
int hr_server_port(const hr_server *s);
/* Runs the event loop on the calling thread until hr_server_stop (or a
 * signal with handle_signals). Sessions still open are then closed, jobs in
 * flight are awaited, and HR_OK is returned. SIGPIPE is blocked on the
 * calling thread while it runs. */
hr_status hr_server_run(hr_server *s, hr_error *err);
/* Asks a running (or about to run) server to stop; callable from any
 * thread. */
void hr_server_stop(hr_server *s);
/* A snapshot of the counters; callable from any thread. */
void hr_server_get_stats(hr_server *s, hr_server_stats *out);
/* Joins the workers and frees everything; the server must not be running.
 * NULL is a no-op. */
void hr_server_destroy(hr_server *s);

#ifdef __cplusplus
}
#endif
#endif
