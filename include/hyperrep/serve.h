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
 * Placement: the head runs stage 0 and blocks [0, s), the tail blocks
 * [s, N) and the classifier; s = N leaves the tail only the classifier. The
 * crossing tensor is the input of block s ([1, C, H, W] float32; for s = N
 * the output of the last block). The `raw` placement sends the 8-bit image
 * instead (u8 [1, C, H, W], what a camera produces): the head only
 * quantises the frame and the tail undoes the input normalisation and runs
 * everything, stage 0 included. `local` (everything on the edge) needs no
 * server. */
#ifndef HYPERREP_SERVE_H
#define HYPERREP_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ctx.h"
#include "hyperrep/edge_emulate.h"
#include "hyperrep/error.h"
#include "hyperrep/gamma.h"
#include "hyperrep/model.h"
#include "hyperrep/net.h"
#include "hyperrep/placement.h"
#include "hyperrep/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- deployment configuration ---- */

/* split: a placement (placement.h): 0..N, HR_PLACEMENT_RAW or
 * HR_PLACEMENT_LOCAL. */

typedef struct hr_deploy_config {
    char arch[64];            /* canonical architecture name ("repvgg-tiny") */
    int64_t input_size;       /* H = W; 0: the architecture's default */
    int64_t in_channels;      /* 0: default */
    int64_t num_classes;      /* 0: default */
    int nblocks;              /* N of the architecture */
    int split;                /* 0..N, HR_PLACEMENT_RAW or HR_PLACEMENT_LOCAL */
    hr_mask_kind mask;        /* validity mask of the γ (HR_MASK_EXACT) */
    int *gamma;               /* [nblocks]; -1: the block's deploy γ */
    float *alpha;             /* [nblocks × 3] dense, 1x1, identity (0: pruned) */
    unsigned *alpha_given;    /* [nblocks] HR_BR_* of the α values given above; the
                                 others keep the weights' own α (1 for random weights) */
    int head_server;          /* the configuration was optimised with the server as
                                 head (SPEC §1 --head server): infer still runs the
                                 head on the edge and says so */
    /* raw placement: the normalisation the frames had before the edge
     * quantised them, which the tail undoes as x = (u/255 - mean)/std */
    int64_t norm_channels;    /* values in input_mean and input_std; 0: none
                                 given (mean 0, std 1) */
    float *input_mean;        /* [norm_channels] */
    float *input_std;         /* [norm_channels], each > 0 */
    /* joint output only: stage2_throughput.exact_optimum, the step-3 exact
     * solver's placement and γ (hr_deploy_config_use_exact) */
    int has_exact;
    int exact_split;          /* 0..N, HR_PLACEMENT_RAW or HR_PLACEMENT_LOCAL */
    int *exact_gamma;         /* [nblocks]; -1 where it names no γ */
    /* joint output only: the original's grid result (stage2_throughput.
     * optimal_split_point and optimal_gamma, with the pruned set of
     * stage1_accuracy.pruned_weights), kept aside for hr_deploy_config_use_grid */
    int has_grid;
    int grid_split;
    int *grid_gamma;          /* [nblocks] */
    float *grid_alpha;        /* [nblocks × 3]: 0 on the grid's pruned branches */
    unsigned *grid_alpha_given; /* [nblocks] */
} hr_deploy_config;

void hr_deploy_config_init(hr_deploy_config *c);
/* Frees the arrays and re-initialises c; NULL is a no-op. */
void hr_deploy_config_deinit(hr_deploy_config *c);
/* A deep copy of src into dst (which is overwritten, not deinit'd).
 * HR_ERR_NOMEM (dst then initialised). */
hr_status hr_deploy_config_copy(const hr_deploy_config *src, hr_deploy_config *dst, hr_error *err);

/* Parses a configuration from JSON text. Two forms are accepted:
 *  - a deployment object (the MODEL_SYNC metadata): "arch" (or "model"),
 *    optional "input_size", "in_channels", "num_classes", "split" (0..N,
 *    "raw" or "local"; the integers -1 and -2 mean the same two), "mask"
 *    ("exact"|"subset"), "gammas" [N ints, -1 = deploy γ] or "gamma"
 *    {block name: γ}, "alpha" [[dense, 1x1, identity] × N], "pruned"
 *    [hyper-weight names], "input_mean" and "input_std" [C numbers each:
 *    the normalisation a raw tail undoes; absent: 0 and 1]; other keys are
 *    ignored;
 *  - the joint output (domain_K_joint.json): metadata.model, and from
 *    final_configuration its placement (else split_point), gamma_config,
 *    pruned (else stage1_accuracy.pruned_weights) and alpha [[dense, 1x1,
 *    identity] × N] when present (the chosen state's trained α);
 *    metadata.head "server" sets head_server; stage2_throughput.
 *    exact_optimum (placement and optimal_gamma), when present, is kept
 *    aside (has_exact), and so is the grid's result (has_grid).
 * `what` names the source in messages (a file name, "model_sync"). Errors
 * name the field and value: HR_ERR_FORMAT (malformed JSON with line and
 * column, a missing or mistyped field, a γ out of 0..13, an α that is not
 * finite, an input_mean that is not finite, an input_std that is not a
 * finite number > 0), HR_ERR_NOT_FOUND (unknown architecture or block),
 * HR_ERR_INVALID_ARG (split out of 0..N, lists of the wrong length, an
 * input_mean / input_std without one value per input channel). out is
 * deinit'd and refilled only on success. */
hr_status hr_deploy_config_parse(const char *json, const char *what, hr_deploy_config *out, hr_error *err);
/* hr_deploy_config_parse on a file's content. HR_ERR_IO naming the file. */
hr_status hr_deploy_config_load(const char *path, hr_deploy_config *out, hr_error *err);

/* Replaces the split and γ by those of the joint output's exact optimum
 * (the placement the step-3 exact solver found best: raw, a split or
 * local), keeping the pruned branches. HR_ERR_NOT_FOUND when the
 * configuration had none (not a joint output, or one run without --lut). */
hr_status hr_deploy_config_use_exact(hr_deploy_config *c, hr_error *err);

/* Replaces the split, γ and α by the joint output's grid result (the
 * original's configuration: stage2_throughput.optimal_split_point and
 * optimal_gamma, pruned as stage1_accuracy.pruned_weights, the other α
 * left to the weights or --alpha). HR_ERR_NOT_FOUND when the configuration
 * had none. */
hr_status hr_deploy_config_use_grid(hr_deploy_config *c, hr_error *err);

/* Makes every α explicit from model (a head or whole part built from this
 * configuration, or any model of the same architecture with the weights
 * loaded): alpha_given becomes the block's existing branches. Also replaces
 * every -1 in gamma by the block's deploy γ of its live branches. */
hr_status hr_deploy_config_resolve(hr_deploy_config *c, const hr_model *model, hr_error *err);

/* The configuration as a MODEL_SYNC metadata object (malloc'd JSON text;
 * the caller frees): {"purpose": "infer", "arch", "input_size",
 * "in_channels", "num_classes", "split" (a number, or "raw"), "mask",
 * "gammas", "alpha"} plus "weights": weights_json (a JSON object text,
 * NULL: {"kind": "random", "seed": 0}) and "logits": want_logits; a raw
 * configuration also carries "input_mean" and "input_std" (C values; 0 and
 * 1 when none were given). α must be explicit (hr_deploy_config_resolve):
 * HR_ERR_INVALID_ARG otherwise, and for a local configuration. */
hr_status hr_deploy_config_to_meta(const hr_deploy_config *c, const char *weights_json, int want_logits, char **out,
                                   hr_error *err);

/* ---- head and tail parts ---- */

typedef enum hr_deploy_role {
    HR_DEPLOY_HEAD,   /* stage 0 + blocks [0, s); raw: the quantisation only */
    HR_DEPLOY_TAIL,   /* blocks [s, N) + classifier; raw: the dequantisation,
                         stage 0, every block and the classifier */
    HR_DEPLOY_WHOLE,  /* everything (reference, local placement, in-process comparison) */
    HR_DEPLOY_ROLE_COUNT
} hr_deploy_role;

typedef struct hr_deploy_part hr_deploy_part;

/* Builds the part of the configured model that `role` runs, on ctx (which
 * must outlive it): weights from `weights` (NULL: random from seed, the
 * same weights hr_model_init_random gives), then the α of the configuration
 * (a branch set to 0 is pruned; an α for a branch the block lacks must be
 * 0, except the original tool's virtual identity, gamma.h: ignored with one
 * note through ctx's log), then each of the part's blocks gets its γ under
 * the configuration's mask, the training-time weights of those blocks are
 * freed and batch 1 is planned. The weights map is not kept. Errors of the model (a γ invalid for
 * a block's live branches names the block; weights of another architecture
 * name the tensor), HR_ERR_INVALID_ARG for a local configuration asked for a
 * head or tail, or a raw one whose input_mean / input_std do not have one
 * value per input channel. The head of a raw configuration keeps no
 * weights (it computes nothing but the quantisation); its model still
 * describes every block for hr_deploy_config_resolve. */
hr_status hr_deploy_part_create(hr_ctx *ctx, const hr_deploy_config *cfg, hr_deploy_role role,
                                hr_tensor_map *weights, uint64_t seed, hr_deploy_part **out, hr_error *err);
void hr_deploy_part_destroy(hr_deploy_part *p);

const hr_model *hr_deploy_part_model(const hr_deploy_part *p);
hr_deploy_role hr_deploy_part_role(const hr_deploy_part *p);
/* Shape of one frame's input [1, C, H, W], crossing tensor [1, C, H, W]
 * (for s = N the output of the last block; raw: the input's) and logits
 * [1, classes]. */
void hr_deploy_part_input_shape(const hr_deploy_part *p, int64_t shape[4]);
void hr_deploy_part_crossing_shape(const hr_deploy_part *p, int64_t shape[4]);
int64_t hr_deploy_part_num_classes(const hr_deploy_part *p);
/* Element type of the crossing tensor: HR_WIRE_U8 for raw, else
 * HR_WIRE_F32; and its size in bytes. */
hr_wire_dtype hr_deploy_part_crossing_dtype(const hr_deploy_part *p);
size_t hr_deploy_part_crossing_bytes(const hr_deploy_part *p);
/* A wire tensor (INFER_FRAME) viewing a crossing buffer of this part. */
hr_wire_tensor hr_deploy_part_crossing_wire(const hr_deploy_part *p, const void *crossing);

/* Head: one frame's input (C·H·W floats) → crossing tensor, which is
 * float for a split and uint8 for raw (hr_deploy_part_crossing_dtype). */
hr_status hr_deploy_part_run_head(hr_deploy_part *p, const float *input, void *crossing, hr_error *err);
/* Tail: crossing tensor (of the part's crossing dtype) → logits (classes
 * floats). Allocates nothing. */
hr_status hr_deploy_part_run_tail(hr_deploy_part *p, const void *crossing, float *logits, hr_error *err);
/* Whole: input → logits. */
hr_status hr_deploy_part_run_whole(hr_deploy_part *p, const float *input, float *logits, hr_error *err);

/* Emulates a slower edge on this part (edge_emulate.h; SPEC §13.2): from
 * now on hr_deploy_part_run_head runs stage 0 and each block [0, s) as
 * one unit, and hr_deploy_part_run_whole stage 0, every block and the
 * classifier, each ending at its deadline from emu. The results are the
 * same bit for bit; only the time changes. A raw head computes no LUT
 * unit (it only quantises), so it stays unemulated. emu is not owned and
 * must outlive its use; NULL turns emulation off. The first call allocates
 * two activation buffers (the hot path still allocates nothing).
 * HR_ERR_INVALID_ARG for a tail (it runs on the server), HR_ERR_NOMEM. */
hr_status hr_deploy_part_set_edge_emu(hr_deploy_part *p, hr_edge_emu *emu, hr_error *err);
/* The emulator set on the part, NULL when none. */
hr_edge_emu *hr_deploy_part_edge_emu(const hr_deploy_part *p);

/* The raw placement's pixels. Quantise: a normalised frame x (C planes of
 * hw values) back to the 8-bit image a camera would send,
 * u = clamp(round((x·std + mean)·255), 0, 255) (NaN → 0). Dequantise: the
 * tail's network input x = (u/255 − mean)/std, computed the same way on
 * every side, so a reference run on it matches the tail exactly. mean and
 * std hold C values; NULL: 0 and 1. */
void hr_deploy_quantise_input(const float *x, int64_t c, int64_t hw, const float *mean, const float *std,
                              uint8_t *u);
void hr_deploy_dequantise_input(const uint8_t *u, int64_t c, int64_t hw, const float *mean, const float *std,
                                float *x);

/* ---- server ---- */

typedef void (*hr_server_log_fn)(void *user, hr_log_level level, const char *line);

typedef struct hr_server_params {
    const char *listen;        /* "HOST:PORT": "127.0.0.1:6006" (port 0: any free one) */
    hr_tls_params tls;         /* cert, key and CA: mutual TLS 1.3; all NULL: plain TCP */
    int insecure_plain_tcp;    /* allow plain TCP on a non-loopback address: 0 */
    int workers;               /* compute threads, each with its own hr_ctx: 2 */
    int threads_per_model;     /* threads of each worker's context: 1 */
    int max_clients;           /* authenticated sessions at once (counted after the TLS
                                  handshake and the hello); more are refused: 256 */
    int max_pending;           /* connections still in the TLS handshake or before their
                                  hello; at the bound the oldest of them is closed, never
                                  the newcomer: 64 */
    int max_pending_per_source; /* of those, from one source address (edges behind one NAT
                                  share one); at the bound that source's oldest is closed: 16 */
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
    uint64_t accepted;         /* sessions admitted: TLS and hello done, under max_clients */
    uint64_t refused;          /* refused after their hello: over max_clients */
    uint64_t evicted;          /* pending connections closed to make room (max_pending,
                                  max_pending_per_source) */
    uint64_t active;           /* sessions open now */
    uint64_t deployed;         /* models built */
    uint64_t frames;           /* INFER_RESULTs sent */
    double tail_cpu_ms;        /* the workers' CPU time (their own threads' clocks) in
                                  the tails of those frames: with threads_per_model 1,
                                  all the compute they cost; the rest of the process's
                                  CPU time per frame is the server's per-frame overhead */
    uint64_t protocol_errors;  /* sessions closed for a malformed, oversized,
                                  out-of-sequence, truncated or late frame */
    uint64_t timeouts;         /* sessions closed by the idle, frame or handshake timeout */
} hr_server_stats;

typedef struct hr_server hr_server;

/* Binds the listening socket (so the port is known on return), loads the
 * TLS certificate, key and CA, and starts the workers. Without TLS a
 * non-loopback address is refused unless insecure_plain_tcp
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
/* Serves a TCP connection accepted elsewhere (by hr_listener_accept_socket,
 * say, so that a driver can bring a peer that dialled its own port to an
 * in-process server) exactly as one the server accepted: it is pending
 * (max_pending) until the TLS handshake (when the server has TLS) and the
 * hello, then counts against max_clients. The server owns fd from then on, also on failure after
 * the hand-over; callable from any thread while the server runs (a
 * connection handed over after hr_server_run returned is never served).
 * Errors (fd is then still the caller's): HR_ERR_INVALID_ARG, HR_ERR_IO (fd
 * is not a connected socket), HR_ERR_NOMEM, HR_ERR_INTERNAL. */
hr_status hr_server_adopt(hr_server *s, int fd, hr_error *err);
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
