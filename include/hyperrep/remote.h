/* Real mode (SPEC §10): the edge worker and the server-side experiment
 * drivers that use it, over the transport of net.h (docs/PROTOCOL.md,
 * "## Flows").
 *
 * The edge device runs a *worker* (`hyperrep client`): it dials out to the
 * server (edge devices sit behind NAT), then serves the server's commands
 * one at a time until SHUTDOWN. The experiments are driven from the server
 * side: a command such as `hyperrep lut measure --remote` or `hyperrep joint
 * --mode real` listens, accepts one worker and calls the functions below on
 * the channel.
 *
 *   server (driver)                              edge (worker)
 *   hr_listener_accept ◀───────── hello ───────── hr_worker_run
 *   hr_remote_lut_measure ─── lut_measure ──────▶ hr_lut_measure
 *                         ◀── lut_result ───────
 *   hr_remote_link_bench  ─── link_probe ×n ────▶ (echo)
 *   hr_split_create       ─── model_sync ───────▶ head trainer
 *   hr_split_train_epoch  ◀── forward ─── backward ──▶ …
 *   hr_remote_shutdown    ─── shutdown ─────────▶ exit (or reconnect)
 *
 * Every function of a driver validates what the worker sends (types,
 * sequence, shapes, bounds) and fails with a status naming the message and
 * the field; after a failure the channel's state is unknown: destroy it.
 * The worker answers anything out of sequence with an ERROR frame, closes
 * and reconnects. */
#ifndef HYPERREP_REMOTE_H
#define HYPERREP_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/data.h"
#include "hyperrep/error.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "hyperrep/model.h"
#include "hyperrep/net.h"
#include "hyperrep/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress and status lines ("connected to 127.0.0.1:6006"); may be NULL. */
typedef void (*hr_remote_log_fn)(void *user, const char *line);

/* ------------------------------------------------------------------ worker */

typedef struct hr_worker_params {
    hr_net_params net;        /* TLS files and timeouts; role is always "client" */
    const char *server;       /* "HOST:PORT" to dial (required) */
    int threads;              /* compute threads for measurement and training: 1 */
    int stay;                 /* 0: exit after SHUTDOWN; 1: reconnect for the next experiment */
    int give_up_ms;           /* stop when no connection succeeds for this long: 0 = never */
    int max_sessions;         /* stop after this many sessions, however they end: 0 = no limit */
    int reply_timeout_ms;     /* wait for a reply in the middle of an exchange (backward,
                                 eval_result): 120000; between commands the worker waits forever */
    int max_model_mb;         /* largest weights blob accepted: 4096 MB */
    const char *data;         /* the one data source besides "fashion-mnist" the server may ask
                                 this worker to open (an image folder here); NULL: none. The
                                 server names the source, so the worker bounds what it reads. */
    hr_remote_log_fn log;
    void *log_user;
    /* Edge emulation of the LUT it measures (`client --edge PROFILE | --edge-slowdown F`,
     * SPEC 13.2), at most one of the two: the LUT measured for LUT_MEASURE becomes an
     * emulation of that edge (hr_device_lut_emulate_profile against this machine's roofline,
     * measured at the LUT's thread count before each such LUT; or hr_device_lut_emulate_flat),
     * so the file records it. A server asking for its own slowdown (lut_measure "slowdown" != 1)
     * is then refused: one emulation per LUT. Head passes of split training and evaluation
     * are not emulated. */
    const hr_edge_profile *edge;   /* NULL: none */
    double edge_slowdown;          /* >= 1; 0: none */
} hr_worker_params;

hr_worker_params hr_worker_params_default(void);

/* Runs the worker: connects with hr_chan_connect_retry (back-off 250 ms
 * doubling to 8 s), serves one session with hr_worker_serve, and
 * reconnects after a lost connection or a protocol error. Returns HR_OK
 * after a SHUTDOWN when !stay (or when max_sessions sessions are done);
 * with give_up_ms, the connection error once it has been failing that
 * long; HR_ERR_INVALID_ARG for bad params. Certificate and protocol
 * version errors are not retried. */
hr_status hr_worker_run(const hr_worker_params *params, hr_error *err);

/* Serves one connected channel until the server sends SHUTDOWN (*shutdown
 * = 1, HR_OK) or the session ends otherwise: the server closed (HR_ERR_IO),
 * sent an ERROR (its status), or broke the protocol (HR_ERR_FORMAT /
 * HR_ERR_LIMIT / HR_ERR_SHAPE: an ERROR frame naming the problem was sent
 * to it). A failing command (a bad model name, data that cannot be loaded)
 * is reported to the server with an ERROR frame too. */
hr_status hr_worker_serve(hr_chan *c, const hr_worker_params *params, int *shutdown, hr_error *err);

/* --------------------------------------------------------- driver: common */

/* What a worker says about itself (its hello and its LUT_RESULT). */
typedef struct hr_remote_device {
    char name[128];           /* hello "name" (its --name, or its host name) */
    char peer[256];           /* certificate CN under TLS, else "HOST:PORT" */
    char host[128];           /* host name (gethostname) */
    char cpu[128];            /* CPU model string */
    int threads;              /* threads it measured or trains with */
    int emulated;             /* 1 when its times were scaled by `slowdown` */
    double slowdown;          /* 1 when not emulated */
    int tls;                  /* 1 when the channel runs over TLS */
} hr_remote_device;

/* Fills name, peer and tls from the channel (the rest when known). */
void hr_remote_device_from_chan(const hr_chan *c, hr_remote_device *out);

/* Sends SHUTDOWN and waits (timeout_ms) for its ACK. HR_ERR_IO, or the
 * worker's error. */
hr_status hr_remote_shutdown(hr_chan *c, int timeout_ms, hr_error *err);

/* ---------------------------------------------- driver: step 1, remote LUT */

typedef struct hr_remote_lut_params {
    const char *arch;         /* architecture (required) */
    int64_t input_size, in_channels, num_classes; /* 0: the architecture's defaults */
    int threads;              /* the worker's threads (0: its own --threads): 0 */
    int warmup, repeat, passes, in_forward; /* as hr_lut_measure_params: 10, 100, 1, 0 */
    uint64_t seed;            /* random weights of the measured model: 42 */
    double slowdown;          /* emulation: the worker multiplies every time by this (>= 1): 1 */
    int idle_timeout_ms;      /* longest silence while the worker measures (progress frames
                                 arrive at least every few seconds): 600000 */
    hr_remote_log_fn log;     /* the worker's progress ("client: 40% stage2.1") */
    void *log_user;
} hr_remote_lut_params;

hr_remote_lut_params hr_remote_lut_params_default(void);

/* Asks the worker to measure its per-device LUT (role client) and receives
 * it. The LUT JSON is written verbatim to client_path (atomically) and read
 * back with hr_device_lut_load, so it passes the same checks as a file;
 * *out is that LUT (source = client_path), dev (nullable) the worker's
 * description. HR_ERR_FORMAT (a malformed or mismatching LUT: another
 * model or input shape than asked), HR_ERR_IO, the worker's errors. */
hr_status hr_remote_lut_measure(hr_chan *c, const hr_remote_lut_params *params, const char *client_path,
                                hr_device_lut **out, hr_remote_device *dev, hr_error *err);

/* ------------------------------------ driver: step 1, the server's T_frame */

/* The server's per-frame overhead measured through a real server (SPEC
 * §13.1): the in-process T_frame (hr_frame_overhead_measure) stands in for
 * the sockets with a memcpy and so misses what the kernel and the event loop
 * cost per frame, which on a small server can be a quarter of a small
 * model's tail. Here the driver runs an hr_server in this process, asks the
 * worker (SERVE_PROBE) to dial the driver's own address once more, hands
 * that connection to the server (hr_listener_accept_socket,
 * hr_server_adopt), and the worker streams frames through it as `infer`
 * does (hr_edge, random weights and frames). Each pass gives one sample:
 * this process's CPU time (CLOCK_PROCESS_CPUTIME_ID, user and system; the
 * driver's own thread only waits meanwhile) minus the tails' CPU time
 * (hr_server_stats.tail_cpu_ms), per frame. The connection crosses the
 * same path as the worker's (a shaped link, a delay relay), so the kernel's
 * per-frame work on it is in the figure. */
typedef struct hr_serve_probe_params {
    const char *arch;         /* architecture (required) */
    int64_t input_size, in_channels, num_classes; /* 0: the architecture's defaults */
    const char *placement;    /* "raw" (the 8-bit image; the placement whose server is
                                 busiest per byte) or a split "0".."N": "raw" */
    int threads;              /* the server's threads per model (its LUT's): 1 */
    hr_tls_params tls;        /* the server's TLS (the driver listener's): all NULL: plain */
    int window;               /* frames in flight (1..HR_EDGE_MAX_WINDOW): 16 */
    int warmup;               /* frames streamed before the first pass: 200 */
    int frames;               /* frames per pass: 1000 */
    int passes;               /* samples: 5 */
    uint64_t seed;            /* random weights and frames: 42 */
    int timeout_ms;           /* longest wait for the worker's connection or its next
                                 message: 120000 */
    hr_remote_log_fn log;     /* the server's warnings and the probe's progress; NULL: none */
    void *log_user;
} hr_serve_probe_params;

hr_serve_probe_params hr_serve_probe_params_default(void);

typedef struct hr_serve_probe {
    int passes;
    double *cpu_pass_ms;      /* [passes]: per frame, the server's CPU (owned) */
    double *overhead_ms;      /* [passes]: per frame, the server's CPU minus the tails' (owned) */
    double cpu_ms;            /* medians over the passes, per frame: the server's CPU, */
    double tail_cpu_ms;       /* the tails' CPU, */
    double fps;               /* and the worker's frames per second */
    int64_t frames;           /* frames of all passes */
    int window;
    char placement[16];       /* "raw" or the split */
    int64_t crossing_shape[4];
} hr_serve_probe;

void hr_serve_probe_init(hr_serve_probe *r);
void hr_serve_probe_deinit(hr_serve_probe *r);

/* Runs the probe over the worker's channel c, accepting the worker's second
 * connection on l (the listener c came from). out is init'd by the caller.
 * HR_ERR_INVALID_ARG (bad parameters), HR_ERR_IO (no connection within
 * timeout_ms, a lost channel), HR_ERR_FORMAT (a malformed reply), the
 * server's and the worker's errors. */
hr_status hr_remote_serve_probe(hr_chan *c, hr_listener *l, const hr_serve_probe_params *params,
                                hr_serve_probe *out, hr_error *err);

/* Sets the server LUT's T_frame from a raw-placement probe (SPEC §13.1,
 * method "serve"): one sample per pass, the server's CPU per frame minus
 * what `lut` gives the tail of that deployment (hr_device_lut_deploy_ms
 * under `stat`), at least 0. So T_frame is everything the server pays per
 * frame that its block entries do not account for: framing, TLS, the event
 * loop, and the tail running slower between socket work than alone (its
 * caches shared with the network path; the probe's tails' own CPU is in
 * hr_serve_probe.tail_cpu_ms for comparison). *lut_tail_ms (may be NULL)
 * gets the LUT's tail. HR_ERR_INVALID_ARG for a probe of another placement,
 * no passes, or a LUT whose deploy time is not positive. */
hr_status hr_serve_probe_apply(const hr_serve_probe *probe, hr_device_lut *lut, hr_lut_stat stat,
                               double *lut_tail_ms, hr_error *err);

/* ------------------------------------------------- driver: link benchmark */

typedef struct hr_link_bench_params {
    const double *sizes_mb;   /* NULL: 0.1, 0.5, 1, 2, 5 MB (SPEC §5) */
    int nsizes;
    int repeats;              /* round trips per size and direction: 5 */
    int rtt_repeats;          /* empty probes for the base round trip: 10 */
    int download;             /* also measure server → client: 1 */
    int timeout_ms;           /* per round trip: 60000 */
} hr_link_bench_params;

hr_link_bench_params hr_link_bench_params_default(void);

typedef struct hr_link_sample {
    int upload;               /* 1: client → server (the worker sends the bytes) */
    double mb;                /* payload, MB (1e6 bytes) */
    double ms;                /* round trip: request out, payload (or its echo) back */
} hr_link_sample;

typedef struct hr_link_bench {
    hr_link upload;           /* client → server, the direction the features travel with the
                                 client as head: what the merged LUT records */
    hr_link download;         /* server → client (measured = 0 when not measured) */
    double rtt_ms;            /* median round trip of an empty probe: the links'
                                 latency_ms (the fixed cost of one transfer) */
    double rtt_min_ms;
    /* Per direction (0 download, 1 upload): the least-squares intercept b of
     * the size fit, kept for information only. Extrapolated from 0.1..5 MB
     * messages it misjudges the fixed cost of a small message (a shaper's
     * burst allowance, TCP's window growth), which is what a split sends,
     * so latency_ms is the measured empty round trip instead. */
    double fit_intercept_ms[2];
    int nsamples;
    hr_link_sample *samples;  /* owned: every timed round trip, in order */
    /* Per direction (0 download, 1 upload): 1 when the least-squares slope was
     * not positive (a link faster than the sizes can resolve, e.g. loopback,
     * or too noisy) and the bandwidth is instead the best throughput seen,
     * size / median round trip: a lower bound, latency 0. */
    int bound_only[2];
} hr_link_bench;

void hr_link_bench_init(hr_link_bench *b);
/* Frees samples and re-initialises; NULL is a no-op. */
void hr_link_bench_deinit(hr_link_bench *b);

/* Times round trips of probes of every size (sizes interleaved, repeats
 * times): upload = LINK_PROBE {"reply_bytes": n} answered by n bytes;
 * download = n bytes answered by an empty echo. Each direction is fitted
 * with hr_link_fit (SPEC §4: time = k·MB + b, bandwidth = 8000 / k Mbit/s)
 * on the median round trip of each size (robust to a stalled repeat; the
 * raw samples are kept in out->samples).
 * When a fit's slope is not positive, the direction falls back to the
 * bound described at bound_only rather than failing.
 * per_message_ms of both directions comes from bursts of 16 empty probes
 * sent back to back (5 bursts, median): (burst − rtt_ms) / 15, at least 0,
 * the time each further message in flight occupies the path (both ends'
 * framing and handling and the empty echo included: an upper bound on one
 * direction's share).
 * out is init'd by the caller. HR_ERR_INVALID_ARG (sizes outside
 * (0, 60] MB, fewer than two sizes),
 * HR_ERR_IO, HR_ERR_FORMAT (a wrong echo). */
hr_status hr_remote_link_bench(hr_chan *c, const hr_link_bench_params *params, hr_link_bench *out, hr_error *err);

/* Writes link_benchmark.json atomically: both fits, the base round trip
 * and every raw sample. HR_ERR_IO, HR_ERR_NOMEM. */
hr_status hr_link_bench_save(const char *path, const hr_link_bench *b, const hr_remote_device *client,
                             hr_error *err);

/* ------------------------------------------------ driver: split training */

/* The weights the worker's model gets. */
typedef enum hr_split_weights {
    HR_SPLIT_WEIGHTS_INLINE,  /* the server's model's weights, sent as a chunked safetensors blob */
    HR_SPLIT_WEIGHTS_RANDOM,  /* hr_model_init_random(weights_seed) on both sides (tests, timing) */
    HR_SPLIT_WEIGHTS_COUNT
} hr_split_weights;

typedef struct hr_split_params {
    int split;                /* s in 0..N: blocks [0, s) and stage 0 on the worker (head) */
    int64_t batch;            /* largest batch: 32 */
    double momentum;          /* SGD momentum: 0.9 */
    double l1;                /* l1 weight: 0.001 */
    hr_split_weights weights; /* INLINE */
    uint64_t weights_seed;    /* RANDOM: the seed the server's model was initialised with */
    int threads;              /* the worker's compute threads (0: its own --threads) */
    int timeout_ms;           /* wait for any single reply: 120000 (model sync: 10 min) */
    size_t chunk_bytes;       /* weights blob chunk: 4 MiB */
} hr_split_params;

hr_split_params hr_split_params_default(void);

/* The data a domain's parts come from; the worker loads the same source
 * and partition, so both sides agree on every sample. */
typedef struct hr_split_data {
    const char *source;       /* hr_data_params.source (NULL: fashion-mnist) */
    uint64_t seed;            /* partition and corruption seed: 42 */
    int64_t max_samples;      /* per pool, 0: all */
    hr_partition_kind partition; /* HR_PARTITION_AUTO */
} hr_split_data;

typedef struct hr_split hr_split;

/* Builds the tail trainer over `model` (the server's model, training-time
 * weights, its α; it must outlive the split) and sends MODEL_SYNC: the
 * architecture, shapes, split, trainer settings, α and the weights. The
 * worker builds the same model and a head trainer and acknowledges.
 * HR_ERR_INVALID_ARG (bad params, a split outside 0..N), the trainer's
 * errors, HR_ERR_IO, the worker's errors. */
hr_status hr_split_create(hr_chan *c, hr_model *model, const hr_split_params *params, hr_split **out,
                          hr_error *err);
/* Frees the tail trainer (the channel stays the caller's); NULL is a no-op. */
void hr_split_destroy(hr_split *s);
/* The tail trainer (the α of blocks [s, N)). */
hr_trainer *hr_split_tail(hr_split *s);
/* The server's model, and the settings the split was created with. */
hr_model *hr_split_model(const hr_split *s);
int hr_split_point(const hr_split *s);
int64_t hr_split_batch(const hr_split *s);
double hr_split_momentum(const hr_split *s);
double hr_split_l1(const hr_split *s);

/* DOMAIN_START: the worker loads the data, builds its iterators for
 * domain (train part shuffled per epoch by shuffle_seed, as pseudo mode's
 * iterators), resets its momentum buffers (the tail's too) and reports
 * the parts' sizes into sizes[HR_PART_COUNT] (nullable). */
hr_status hr_split_domain_start(hr_split *s, const hr_split_data *data, int domain, uint64_t shuffle_seed,
                                int64_t sizes[3], hr_error *err);

/* Mean statistics of one epoch. */
typedef struct hr_split_epoch {
    double loss;              /* mean of xent + l1·Σ|α| (whole network) over samples */
    double xent;
    double acc;               /* training top-1, percent */
    int64_t n, batches;
    uint64_t bytes_up, bytes_down; /* channel bytes of the epoch (features up, gradients down) */
} hr_split_epoch;

/* One training epoch (number `epoch`, which picks the shuffle as in pseudo
 * mode): the worker streams FORWARD (features + labels) per batch; the
 * tail computes the loss and the gradient w.r.t. the features, updates its
 * α (SGD, lr) and answers BACKWARD; the worker runs its head backward and
 * updates its α. out nullable. */
hr_status hr_split_train_epoch(hr_split *s, int epoch, double lr, hr_split_epoch *out, hr_error *err);

/* Split evaluation of a part of the current domain: the worker streams
 * EVAL_BATCH (head inference features + labels), the tail classifies and
 * answers EVAL_RESULT. *acc in percent, *n samples (nullable). */
hr_status hr_split_evaluate(hr_split *s, hr_data_part part, double *acc, int64_t *n, hr_error *err);

/* α of the whole network [N·3] by HR_BRANCH_*: blocks [0, s) from the
 * worker (ALPHA_SYNC), [s, N) from the tail trainer; 0 for pruned and
 * missing branches. */
hr_status hr_split_get_alpha(hr_split *s, float *alpha, hr_error *err);
/* Sets every block's α on both sides (0 prunes; a block must keep a live
 * branch) and rebuilds both trainers (momentum starts at zero).
 * HR_ERR_INVALID_ARG naming the block, the worker's errors. */
hr_status hr_split_set_alpha(hr_split *s, const float *alpha, hr_error *err);

/* DOMAIN_END: the worker drops its iterators. */
hr_status hr_split_domain_end(hr_split *s, hr_error *err);

/* Code 1 on one domain, split across the two sides: the equivalent of
 * `hyperrep train-hyper --domain K` (same batches for the same seed, same
 * updates up to float rounding): evaluate validation and test, then per
 * epoch train, evaluate both and keep the α of the best validation epoch.
 * The α start from `start` [N·3] (NULL: the model's). */
typedef struct hr_split_train_params {
    int domain;
    int epochs;               /* 3 (1..64) */
    double lr;                /* 0.01 */
    uint64_t shuffle_seed;    /* train-hyper's: seed + domain */
    hr_split_data data;
    hr_remote_log_fn log;
    void *log_user;
} hr_split_train_params;

hr_split_train_params hr_split_train_params_default(void);

#define HR_SPLIT_MAX_EPOCHS 64

typedef struct hr_split_train_result {
    int domain, epochs;
    int64_t sizes[3];         /* train, val, test samples */
    double initial_val, initial_test;
    double loss[HR_SPLIT_MAX_EPOCHS], val[HR_SPLIT_MAX_EPOCHS], test[HR_SPLIT_MAX_EPOCHS];
    double l1[HR_SPLIT_MAX_EPOCHS];       /* Σ|α| after the epoch */
    double epoch_ms[HR_SPLIT_MAX_EPOCHS]; /* wall time of the training part of the epoch */
    uint64_t bytes_up[HR_SPLIT_MAX_EPOCHS], bytes_down[HR_SPLIT_MAX_EPOCHS];
    int best_epoch;           /* 0: no epoch beat the initial validation accuracy */
    double best_val, best_test;
    int nalpha;               /* N·3 */
    float *alpha;             /* the best epoch's α [N·3] (owned) */
} hr_split_train_result;

void hr_split_train_result_init(hr_split_train_result *r);
void hr_split_train_result_deinit(hr_split_train_result *r);

/* Runs the whole domain: DOMAIN_START, evaluations, epochs, DOMAIN_END.
 * out is init'd by the caller. Errors of the steps above. */
hr_status hr_split_train_alpha(hr_split *s, const hr_split_train_params *params, const float *start,
                               hr_split_train_result *out, hr_error *err);

/* Progressive pruning (step 3 stage 1, the rules of hr_joint_progressive)
 * with every candidate trained and evaluated split through the worker, one
 * after another. The starting α are the model's α at the call; params'
 * batch, momentum and l1 must equal the split's (HR_ERR_INVALID_ARG
 * otherwise); workers is unused. Candidates are seeded as in pseudo mode,
 * so the result equals `joint --mode pseudo`'s with the same settings up to
 * float rounding. Checkpointed and resumable as pseudo mode
 * (params->checkpoint). The model's α are left at the last candidate's:
 * the result is in out->alpha. out is init'd by the caller. Errors as
 * hr_joint_progressive and the split's. */
hr_status hr_split_progressive(hr_split *s, const hr_split_data *data, int domain, const hr_joint_params *params,
                               hr_joint_result *out, hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
