/* Pieces of `hyperrep infer` shared by the single-edge run (cmd_infer.c) and
 * the load generator (infer_load.c). */
#ifndef HR_CLI_INFER_H
#define HR_CLI_INFER_H

#include <jansson.h>
#include <stdint.h>

#include "cli.h"
#include "hyperrep/ctx.h"
#include "hyperrep/edge_emulate.h"
#include "hyperrep/net.h"
#include "hyperrep/serve.h"

/* Input frames, cycled: frame t is pix[(t % count) · C·H·W]. */
typedef struct hr_infer_frames {
    int64_t count, c, h, w;
    float *pix;
    int32_t *labels;      /* -1 when unknown (random frames) */
    float *mean, *std;    /* [c]: the normalisation the frames carry (the data
                             set's; random frames: 0 and 1), which the raw
                             placement's quantisation undoes */
    char desc[300];       /* what they are, for the output */
} hr_infer_frames;

/* src: "fashion-mnist" (its test images, clean, normalised), "random"
 * (uniform in [-1, 1) from seed) or an image folder; NULL picks
 * Fashion-MNIST when the model takes 1×28×28 and the data set is installed,
 * else random. At most `want` frames are held (fewer for random ones). */
hr_status hr_infer_frames_load(const char *src, hr_ctx *ctx, const int64_t in_shape[4], int64_t want, uint64_t seed,
                               hr_infer_frames *out, hr_error *err);
void hr_infer_frames_free(hr_infer_frames *f);
const float *hr_infer_frame(const hr_infer_frames *f, int64_t t);
int32_t hr_infer_label(const hr_infer_frames *f, int64_t t);

typedef struct hr_infer_dist {
    int64_t n;
    double mean, p50, p95, p99, max;
} hr_infer_dist;

/* Percentiles by linear interpolation between order statistics. */
hr_infer_dist hr_infer_dist_of(const double *v, int64_t n);
json_t *hr_infer_dist_json(const hr_infer_dist *d);

/* The bytes of a safetensors file holding `map` (path itself when it is a
 * .safetensors file, else map written to a temporary file and read back). */
hr_status hr_infer_weights_bytes(const char *path, const hr_tensor_map *map, void **bytes, size_t *len,
                                 hr_error *err);

/* Sends the deployment (MODEL_SYNC: random weights from seed when bytes is
 * NULL, else the bytes in chunks of at most 16 MiB) and waits up to
 * timeout_ms for the server's ACK; *ack (NULL allowed) receives its
 * metadata (malloc'd). Errors of the transport, or the server's ERROR. */
hr_status hr_infer_deploy(hr_chan *c, const hr_deploy_config *cfg, const void *bytes, size_t len, uint64_t seed,
                          int want_logits, int timeout_ms, char **ack, hr_error *err);

/* Sends SHUTDOWN and waits for the ACK (bounded); errors are ignored. */
void hr_infer_shutdown(hr_chan *c, uint32_t id);

/* The load generator: `clients` edges, each a thread with its own
 * connection and head, streaming one frame at a time at `fps` for
 * duration_s seconds. */
typedef struct hr_infer_load_opts {
    const char *server;
    hr_net_params net;
    const hr_deploy_config *cfg;  /* resolved */
    const char *config_path;
    hr_tensor_map *weights;       /* NULL: random from seed */
    const void *weights_bytes;
    size_t weights_len;
    uint64_t seed;
    const hr_infer_frames *frames;
    int clients;
    double fps, duration_s;
    int timeout_ms;               /* per result and per deployment ACK */
    int vary_split;               /* client i uses split i mod (N + 1) */
    const char *output;           /* -o */
    int quiet;
} hr_infer_load_opts;

int hr_infer_load_run(const hr_infer_load_opts *o);

/* Run-time edge emulation of this process's part (SPEC 13.2; the library's
 * edge_emulate.h does the work). */
typedef struct hr_infer_edge {
    hr_cli_edge flags;        /* --edge / --edge-slowdown as parsed */
    hr_edge_emu *emu;         /* set on the part; NULL: not emulated */
    char planned[320];        /* what the --lut was planned for; "" when a plain edge */
    int64_t units_per_frame;  /* emulated units of one frame (0: a raw head) */
} hr_infer_edge;

/* Creates the emulator the flags ask for (hr_edge_emu_setup; with --lut its
 * client times, else the flat form) and sets it on part. When --lut was
 * planned for an emulated edge and neither flag is given, prints one
 * warning naming that edge and adds a note. Errors: a --lut that does not
 * load (when a flag needs it), the library's checks. */
hr_status hr_infer_edge_setup(hr_infer_edge *ie, const char *lut_path, hr_deploy_part *part,
                              const hr_deploy_config *cfg, json_t *notes, hr_error *err);
/* The report's "edge_emulation" object: the request and, over `frames`
 * frames since the last hr_edge_emu_stats_reset, the emulated, LUT and host
 * milliseconds per frame, overruns and waits. */
json_t *hr_infer_edge_json(const hr_infer_edge *ie, const char *lut_path, int64_t frames);
/* One line for stdout ("infer: edge emulated ..."), or nothing when off. */
void hr_infer_edge_print(const hr_infer_edge *ie, int64_t frames);
void hr_infer_edge_deinit(hr_infer_edge *ie);

/* "YYYY-MM-DD HH:MM:SS" UTC into buf. */
void hr_infer_timestamp(char *buf, size_t n);

#endif
