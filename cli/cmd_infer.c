/* hyperrep infer: the edge side of split inference (SPEC §10). Runs the head
 * of a deployment configuration on a stream of frames and the tail on a
 * `hyperrep serve` (or in this process), pipelined, and reports measured
 * and LUT-predicted throughput and latency. Under the raw placement the
 * head only quantises each frame to the 8-bit image a camera would send and
 * the tail runs the whole network. The library's edge (hyperrep/edge.h)
 * does the work; this file parses the flags, prints and writes the report. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/data.h"
#include "hyperrep/edge.h"
#include "hyperrep/weights.h"
#include "infer.h"
#include "remote_common.h"

static const char *help =
    "usage: hyperrep infer --deploy domain_K_joint.json (--server HOST:PORT | --in-process)\n"
    "         [--weights W] [--alpha A] [--seed S] [--input-size H] [--data SRC] [--domain K]\n"
    "         [--frames 200] [--pipelined-frames N] [--warmup 10] [--window 2] [--lut hardware_lut_complete.json]\n"
    "         [--threads N] [--verify] [--use final|grid] [--tls-cert C --tls-key K --tls-ca CA]\n"
    "         [--edge PROFILE | --edge-slowdown F] [-o infer.json]\n"
    "       hyperrep infer --deploy FILE --server HOST:PORT --clients N --fps F --duration S\n"
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
    "  --deploy FILE      the joint output (its final_configuration: placement, gamma\n"
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
    "  --alpha A          trained alpha, JSON or safetensors (the joint's\n"
    "                     domain_K_alpha.safetensors, trained_hyper_weights.json with\n"
    "                     --domain K); the configuration's pruned branches stay pruned, and a joint\n"
    "                     output's final_configuration.alpha takes precedence\n"
    "  --input-size H     input size when the model's default is not wanted\n"
    "  --data SRC         fashion-mnist (default for 1x28x28 models when installed), random\n"
    "                     (default otherwise; seeded by --seed) or an image folder\n"
    "  --domain K         frames from domain K's test part (0-9: the partition and\n"
    "                     corruption of `eval --domain K --part test`, under --seed)\n"
    "                     instead of the first clean test images\n"
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
    "  --timeout-reply S  longest wait for one result or the deployment's ACK (60)\n"
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
    "  timeouts: connect and hello 10 s, each result and the deployment ACK --timeout-reply\n" HR_CLI_NET_HELP;

enum { OPT_SERVER = 1, OPT_DEPLOY, OPT_OLD_CONFIG, OPT_OLD_TIMEOUT, OPT_WEIGHTS, OPT_ALPHA, OPT_SEED, OPT_INPUT_SIZE, OPT_DATA, OPT_FRAMES, OPT_PFRAMES, OPT_WARMUP,
       OPT_WINDOW, OPT_LUT, OPT_IN_PROCESS, OPT_THREADS, OPT_VERIFY, OPT_TIMEOUT, OPT_NAME, OPT_CLIENTS, OPT_FPS,
       OPT_DURATION, OPT_VARY_SPLIT, OPT_MODEL, OPT_QUIET, OPT_USE, OPT_EDGE, OPT_EDGE_SLOWDOWN, OPT_DOMAIN };

#define VERIFY_FRAMES 20

static json_t *stats_json(const hr_edge_stats *s, int window)
{
    json_t *stages = json_pack("{s:o, s:o, s:o, s:o, s:o}", "head_ms", hr_infer_dist_json(&s->head), "link_queue_ms",
                               hr_infer_dist_json(&s->link), "tail_ms", hr_infer_dist_json(&s->tail),
                               "server_queue_ms", hr_infer_dist_json(&s->server_queue), "end_to_end_ms",
                               hr_infer_dist_json(&s->e2e));
    json_t *o = json_pack("{s:f, s:i, s:I, s:f, s:o, s:o}", "fps", s->fps, "window", window, "frames",
                          (json_int_t)s->frames, "wall_ms", s->wall_ms,
                          "latency_ms", hr_infer_dist_json(&s->e2e), "stages", stages);
    if (o && s->labelled)
        json_object_set_new(o, "accuracy_pct", json_real(100.0 * (double)s->correct / (double)s->labelled));
    return o;
}

/* A placement as the joint output writes it: "raw", "local" or the split. */
static json_t *placement_json(int split)
{
    char name[16];
    return split < 0 ? json_string(hr_placement_format(split, name, sizeof name)) : json_integer(split);
}

static json_t *prediction_json(const hr_edge_prediction *p, const char *path)
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

/* The edge's notes on the deployment go into the report's "notes". */
static void note_sink(void *user, hr_log_level level, const char *line)
{
    (void)level;
    json_array_append_new(user, json_string(line));
}

/* The flags of one run, parsed. */
typedef struct infer_opts {
    const char *server, *config, *weights, *alpha, *data, *lut, *output, *name, *model;
    int64_t seed, input_size, frames, pframes, warmup, window, threads, clients, domain;
    double timeout_s, fps, duration;
    int in_process, verify, vary_split, quiet, use_grid;
    hr_cli_net net;
} infer_opts;

/* A run once the edge is prepared: what each mode prints and reports. */
typedef struct infer_run {
    const infer_opts *o;
    hr_edge *edge;
    const hr_deploy_config *cfg;  /* the edge's, resolved */
    const hr_deploy_part *part;   /* the head, or the whole model under local */
    const hr_edge_frames *fr;
    hr_edge_prediction pred;
    hr_infer_edge emu;
    json_t *notes;                /* taken by the report */
} infer_run;

static void print_help(FILE *f)
{
    fputs(help, f);
    fputs(help_more, f);
    fputs(help_edge, f);
    fputs(help_load, f);
}

/* Parses argv into o and the emulation flags into *ef: -1 to go on, else
 * the exit status (0 after --help, 2 for a usage error, printed). */
static int parse_args(int argc, char **argv, infer_opts *o, hr_cli_edge *ef)
{
    static const struct option opts[] = {
        {"server", required_argument, 0, OPT_SERVER},   {"deploy", required_argument, 0, OPT_DEPLOY},
        {"weights", required_argument, 0, OPT_WEIGHTS}, {"alpha", required_argument, 0, OPT_ALPHA},
        {"seed", required_argument, 0, OPT_SEED},       {"input-size", required_argument, 0, OPT_INPUT_SIZE},
        {"data", required_argument, 0, OPT_DATA},       {"frames", required_argument, 0, OPT_FRAMES},
        {"pipelined-frames", required_argument, 0, OPT_PFRAMES},
        {"warmup", required_argument, 0, OPT_WARMUP},   {"window", required_argument, 0, OPT_WINDOW},
        {"lut", required_argument, 0, OPT_LUT},         {"in-process", no_argument, 0, OPT_IN_PROCESS},
        {"threads", required_argument, 0, OPT_THREADS}, {"verify", no_argument, 0, OPT_VERIFY},
        {"timeout-reply", required_argument, 0, OPT_TIMEOUT}, {"name", required_argument, 0, OPT_NAME},
        {"clients", required_argument, 0, OPT_CLIENTS}, {"fps", required_argument, 0, OPT_FPS},
        {"duration", required_argument, 0, OPT_DURATION}, {"vary-split", no_argument, 0, OPT_VARY_SPLIT},
        {"model", required_argument, 0, OPT_MODEL},     {"quiet", no_argument, 0, OPT_QUIET},
        {"use", required_argument, 0, OPT_USE},         {"help", no_argument, 0, 'h'},
        {"edge", required_argument, 0, OPT_EDGE},       {"edge-slowdown", required_argument, 0, OPT_EDGE_SLOWDOWN},
        {"domain", required_argument, 0, OPT_DOMAIN},   {"output", required_argument, 0, 'o'},
        /* old spellings: refused, naming the new ones */
        {"config", required_argument, 0, OPT_OLD_CONFIG}, {"timeout", required_argument, 0, OPT_OLD_TIMEOUT},
        HR_CLI_NET_OPTIONS,
        {0, 0, 0, 0}};
    int c, r;

    memset(o, 0, sizeof *o);
    o->seed = 42, o->frames = 200, o->warmup = 10, o->window = 2, o->threads = 1, o->domain = -1;
    o->timeout_s = 60, o->fps = 10, o->duration = 60;
    hr_cli_net_init(&o->net);
    o->net.net.role = "infer";
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER: o->server = optarg; break;
        case OPT_DEPLOY: o->config = optarg; break;
        case OPT_OLD_TIMEOUT: return hr_cli_renamed("infer", "--timeout", "--timeout-reply");
        case OPT_OLD_CONFIG:
            return hr_cli_renamed("infer", "--config (a deployment)",
                                  "--deploy FILE (a joint output or a deployment JSON; --config is only INI settings)");
        case OPT_WEIGHTS: o->weights = optarg; break;
        case OPT_ALPHA: o->alpha = optarg; break;
        case OPT_DATA: o->data = optarg; break;
        case OPT_DOMAIN:
            if (!hr_cli_parse_i64("infer", "--domain", optarg, 0, HR_NUM_DOMAINS - 1, &o->domain))
                return 2;
            break;
        case OPT_LUT: o->lut = optarg; break;
        case OPT_NAME: o->name = optarg; break;
        case OPT_MODEL: o->model = optarg; break;
        case 'o': o->output = optarg; break;
        case OPT_IN_PROCESS: o->in_process = 1; break;
        case OPT_VERIFY: o->verify = 1; break;
        case OPT_VARY_SPLIT: o->vary_split = 1; break;
        case OPT_QUIET: o->quiet = 1; break;
        case OPT_EDGE:
        case OPT_EDGE_SLOWDOWN:
            if (!hr_cli_edge_option("infer", ef, c == OPT_EDGE, optarg))
                return 2;
            break;
        case OPT_USE:
            /* exact: the name this choice had before final_configuration became the exact optimum */
            if (strcmp(optarg, "final") != 0 && strcmp(optarg, "grid") != 0 && strcmp(optarg, "exact") != 0) {
                hr_cli_fail("infer", "--use: '%s' is not final or grid", optarg);
                return 2;
            }
            o->use_grid = strcmp(optarg, "grid") == 0;
            break;
        case OPT_SEED:
            if (!hr_cli_parse_i64("infer", "--seed", optarg, 0, INT64_MAX, &o->seed))
                return 2;
            break;
        case OPT_INPUT_SIZE:
            if (!hr_cli_parse_i64("infer", "--input-size", optarg, 1, 65536, &o->input_size))
                return 2;
            break;
        case OPT_FRAMES:
            if (!hr_cli_parse_i64("infer", "--frames", optarg, 1, 100000000, &o->frames))
                return 2;
            break;
        case OPT_PFRAMES:
            if (!hr_cli_parse_i64("infer", "--pipelined-frames", optarg, 1, 100000000, &o->pframes))
                return 2;
            break;
        case OPT_WARMUP:
            if (!hr_cli_parse_i64("infer", "--warmup", optarg, 0, 100000000, &o->warmup))
                return 2;
            break;
        case OPT_WINDOW:
            if (!hr_cli_parse_i64("infer", "--window", optarg, 1, HR_EDGE_MAX_WINDOW, &o->window))
                return 2;
            break;
        case OPT_THREADS:
            if (!hr_cli_parse_i64("infer", "--threads", optarg, 1, 1024, &o->threads))
                return 2;
            break;
        case OPT_CLIENTS:
            if (!hr_cli_parse_i64("infer", "--clients", optarg, 1, 10000, &o->clients))
                return 2;
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
                            c == OPT_TIMEOUT ? "--timeout-reply" : c == OPT_FPS ? "--fps" : "--duration", optarg);
                return 2;
            }
            *(c == OPT_TIMEOUT ? &o->timeout_s : c == OPT_FPS ? &o->fps : &o->duration) = v;
            break;
        }
        case 'h':
            print_help(stdout);
            return 0;
        default:
            r = hr_cli_net_option("infer", &o->net, c, optarg);
            if (r == 0)
                return 2;
            if (r < 0) {
                print_help(stderr);
                return 2;
            }
        }
    }
    if (optind != argc) {
        hr_cli_fail("infer", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!o->config) {
        hr_cli_fail("infer", "--deploy is required (a joint output or a deployment JSON)");
        return 2;
    }
    if (!o->pframes)
        o->pframes = o->frames;
    if (!hr_cli_net_check("infer", &o->net))
        return 2;
    if (o->server && o->in_process) {
        hr_cli_fail("infer", "--server and --in-process are exclusive");
        return 2;
    }
    if (o->clients && (!o->server || o->in_process)) {
        hr_cli_fail("infer", "--clients needs --server (the load generator streams to a running `hyperrep serve`)");
        return 2;
    }
    if (o->clients && (ef->profile || ef->slowdown > 0)) {
        hr_cli_fail("infer", "%s emulates this process's one edge: the load generator (--clients) runs unemulated",
                    ef->profile ? "--edge" : "--edge-slowdown");
        return 2;
    }
    o->net.net.name = o->name;
    o->net.net.connect_timeout_ms = 10000;
    return -1;
}

/* --clients: the load generator, with the edge's resolved configuration,
 * weights and frames. */
static int run_load(infer_run *r, hr_tensor_map *map)
{
    const infer_opts *o = r->o;
    hr_infer_load_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.params = hr_edge_load_params_default();
    lo.params.server = o->server;
    lo.params.net = o->net.net;
    lo.params.cfg = r->cfg;
    lo.params.weights = map;
    lo.params.weights_path = o->weights;
    lo.params.seed = (uint64_t)o->seed;
    lo.params.frames = r->fr;
    lo.params.clients = (int)o->clients;
    lo.params.fps = o->fps;
    lo.params.duration_s = o->duration;
    lo.params.timeout_ms = (int)(o->timeout_s * 1000);
    lo.params.vary_split = o->vary_split;
    lo.params.log = hr_infer_log_stderr;
    lo.params.log_level = o->quiet ? HR_LOG_WARN : HR_LOG_INFO;
    lo.config_path = o->config;
    lo.output = o->output;
    signal(SIGPIPE, SIG_IGN);
    return hr_infer_load_run(&lo);
}

/* The local placement: one pass, everything here. */
static int run_local(infer_run *r)
{
    const infer_opts *o = r->o;
    hr_edge_run_params rp = hr_edge_run_params_default();
    hr_edge_stats st;
    hr_error err = {0};
    json_t *root;
    int ok;

    rp.warmup = o->warmup;
    rp.frames = o->frames;
    if (hr_edge_deploy(r->edge, &err) || hr_edge_run(r->edge, &rp, &st, &err)) {
        hr_cli_fail("infer", "%s", err.msg);
        return 1;
    }
    printf("infer: %s local placement (everything on this edge; no server needed): %.1f fps, latency p50 %.3f "
           "p95 %.3f p99 %.3f ms\n",
           r->cfg->arch, st.fps, st.e2e.p50, st.e2e.p95, st.e2e.p99);
    if (r->pred.available)
        printf("infer: predicted (LUT): %.1f fps\n", r->pred.ev.fps);
    hr_infer_edge_print(&r->emu, o->frames);
    if (!o->output)
        return 0;
    json_array_append_new(r->notes, json_string("local placement: everything runs on the edge; no server is "
                                                "needed and there is nothing to pipeline"));
    root = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}, s:f, s:f, s:o, s:o, s:o, s:o}",
                     "metadata", "tool", "hyperrep infer", "config", o->config, "use", o->use_grid ? "grid" : "final",
                     "model", r->cfg->arch, "mode", "local", "placement", "local", "data", r->fr->desc, "frames",
                     (json_int_t)o->frames, "warmup", (json_int_t)o->warmup, "weights",
                     o->weights ? o->weights : "random", "measured_fps", st.fps, "sequential_fps", st.fps,
                     "predicted_fps", r->pred.available ? json_real(r->pred.ev.fps) : json_null(), "latency_ms",
                     hr_infer_dist_json(&st.e2e), "predicted", prediction_json(&r->pred, o->lut), "notes", r->notes);
    hr_cli_format_stamp(root, "hyperrep.infer");
    r->notes = NULL;
    if (root && st.labelled)
        json_object_set_new(root, "accuracy_pct", json_real(100.0 * (double)st.correct / (double)st.labelled));
    if (root)
        json_object_set_new(root, "edge_emulation", hr_infer_edge_json(&r->emu, o->lut, o->frames));
    ok = write_json(root, o->output);
    json_decref(root);
    return ok ? 0 : 1;
}

/* The report of a split or raw run. */
static json_t *split_report(infer_run *r, const hr_edge_stats *seq, const hr_edge_stats *pip,
                            const hr_edge_verification *ver)
{
    const infer_opts *o = r->o;
    const hr_deploy_part *part = r->part;
    char ts[32];
    int64_t in[4], cross[4];
    size_t cbytes = hr_deploy_part_crossing_bytes(part);
    const char *peer = hr_edge_peer(r->edge);
    json_t *root;

    hr_deploy_part_input_shape(part, in);
    hr_deploy_part_crossing_shape(part, cross);
    hr_infer_timestamp(ts, sizeof ts);
    root = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:i, s:[I,I,I], s:I, s:o, s:s, s:s, s:s, s:s, "
                     "s:s?, s:b, s:s?, s:I, s:I, s:I, s:I}}",
                     "metadata", "tool", "hyperrep infer", "timestamp", ts, "config", o->config, "use",
                     o->use_grid ? "grid" : "final", "model", r->cfg->arch, "mode", peer ? "server" : "in-process",
                     "placement", placement_json(r->cfg->split), "split", r->cfg->split, "nblocks", r->cfg->nblocks,
                     "input", (json_int_t)in[1], (json_int_t)in[2], (json_int_t)in[3], "num_classes",
                     (json_int_t)hr_deploy_part_num_classes(part), "gamma",
                     gamma_json(r->cfg, hr_deploy_part_model(part)), "mask",
                     r->cfg->mask == HR_MASK_SUBSET ? "subset" : "exact", "head", "edge (this process)", "weights",
                     o->weights ? o->weights : "random", "data", r->fr->desc, "server", o->server, "tls",
                     o->net.net.tls.cert != NULL, "server_identity", peer, "frames", (json_int_t)o->frames, "warmup",
                     (json_int_t)o->warmup, "window", (json_int_t)o->window, "threads", (json_int_t)o->threads);
    hr_cli_format_stamp(root, "hyperrep.infer");
    if (!root)
        return NULL;
    json_t *x = json_pack("{s:[I,I,I,I], s:s, s:I}", "shape", (json_int_t)cross[0], (json_int_t)cross[1],
                          (json_int_t)cross[2], (json_int_t)cross[3], "dtype",
                          hr_wire_dtype_name(hr_deploy_part_crossing_dtype(part)), "bytes", (json_int_t)cbytes);
    json_object_set_new(root, "measured_fps", json_real(pip->fps));
    json_object_set_new(root, "sequential_fps", json_real(seq->fps));
    json_object_set_new(root, "speedup", json_real(seq->fps > 0 ? pip->fps / seq->fps : 0));
    json_object_set_new(root, "predicted_fps", r->pred.available ? json_real(r->pred.ev.pipelined_fps) : json_null());
    json_object_set_new(root, "predicted_sequential_fps", r->pred.available ? json_real(r->pred.ev.fps) : json_null());
    json_object_set_new(root, "latency_ms", hr_infer_dist_json(&pip->e2e));
    json_t *pj = stats_json(pip, (int)o->window);
    json_object_set_new(root, "stages", pj ? json_deep_copy(json_object_get(pj, "stages")) : json_null());
    json_object_set_new(root, "sequential", stats_json(seq, 1));
    json_object_set_new(root, "pipelined", pj);
    json_object_set_new(json_object_get(root, "metadata"), "pipelined_frames", json_integer((json_int_t)o->pframes));
    json_object_set_new(root, "predicted", prediction_json(&r->pred, o->lut));
    json_object_set_new(root, "crossing", x);
    json_object_set_new(root, "edge_emulation", hr_infer_edge_json(&r->emu, o->lut, o->pframes));
    if (pip->labelled)
        json_object_set_new(root, "accuracy_pct", json_real(100.0 * (double)pip->correct / (double)pip->labelled));
    if (o->verify)
        json_object_set_new(root, "verified", json_pack("{s:I, s:I, s:f}", "frames", (json_int_t)ver->frames,
                                                        "class_mismatches", (json_int_t)ver->class_mismatches,
                                                        "max_abs_logit_diff", ver->max_abs_logit_diff));
    if (hr_edge_ack(r->edge)) {
        json_t *aj = json_loads(hr_edge_ack(r->edge), 0, NULL);
        if (aj)
            json_object_set_new(root, "server_ack", aj);
    }
    json_object_set_new(root, "notes", r->notes);
    r->notes = NULL;
    return root;
}

/* A split or raw placement: the tail deployed, a sequential and a
 * pipelined pass over the same frames, the verification. */
static int run_split(infer_run *r)
{
    const infer_opts *o = r->o;
    hr_edge_stats seq, pip;
    hr_edge_verification ver;
    hr_error err = {0};
    int64_t classes = hr_deploy_part_num_classes(r->part);
    /* the pipelined pass keeps the first frames' classes and logits */
    int64_t nkeep = o->warmup + o->frames < VERIFY_FRAMES ? o->warmup + o->frames : VERIFY_FRAMES;
    int *vclasses = NULL;
    float *vlogits = NULL;
    json_t *root = NULL;
    char pl[16];
    int rc = 1;

    memset(&ver, 0, sizeof ver);
    /* the tail: on the server, or here */
    if (!o->in_process)
        signal(SIGPIPE, SIG_IGN);
    if (hr_edge_deploy(r->edge, &err))
        goto fail;
    if (hr_edge_peer(r->edge) && !o->quiet)
        fprintf(stderr, "hyperrep infer: deployed on %s: %s\n", hr_edge_peer(r->edge),
                hr_edge_ack(r->edge) ? hr_edge_ack(r->edge) : "");
    if (o->verify && (!(vclasses = malloc(sizeof(int) * (size_t)nkeep)) ||
                      !(vlogits = malloc(sizeof(float) * (size_t)(nkeep * classes))))) {
        hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
        goto fail;
    }
    /* two passes over the same frames: window 1, then the pipelined window
     * (the first warmup + pframes of them) */
    for (int ps = 0; ps < 2; ps++) {
        hr_edge_run_params rp = hr_edge_run_params_default();
        rp.window = ps == 0 ? 1 : (int)o->window;
        rp.warmup = o->warmup;
        rp.frames = ps == 0 ? o->frames : o->pframes;
        if (ps == 1 && o->verify) {
            rp.keep = nkeep;
            rp.classes = vclasses;
            rp.logits = vlogits;
        }
        if (hr_edge_run(r->edge, &rp, ps == 0 ? &seq : &pip, &err))
            goto fail;
    }
    /* the reference: the whole model here, on the same frames */
    if (o->verify && hr_edge_verify(r->edge, vclasses, vlogits,
                                    o->warmup + o->pframes < nkeep ? o->warmup + o->pframes : nkeep, &ver, &err))
        goto fail;

    hr_placement_format(r->cfg->split, pl, sizeof pl);
    printf("infer: %s split %s/%d (%s, %zu bytes per frame), window %lld: %.1f fps pipelined, %.1f fps sequential "
           "(%.2fx); latency p50 %.3f p95 %.3f p99 %.3f ms; head %.3f, link+queue %.3f, tail %.3f ms (p50)\n",
           r->cfg->arch, pl, r->cfg->nblocks, hr_edge_peer(r->edge) ? "server" : "in-process",
           hr_deploy_part_crossing_bytes(r->part), (long long)o->window, pip.fps, seq.fps,
           seq.fps > 0 ? pip.fps / seq.fps : 0, pip.e2e.p50, pip.e2e.p95, pip.e2e.p99, pip.head.p50, pip.link.p50,
           pip.tail.p50);
    if (r->pred.available)
        printf("infer: predicted (LUT %s): %.1f fps pipelined, %.1f fps sequential; head %.3f, link %.3f, tail "
               "%.3f ms\n",
               o->lut, r->pred.ev.pipelined_fps, r->pred.ev.fps, r->pred.ev.head_ms, r->pred.ev.link_ms,
               r->pred.ev.tail_ms);
    else
        printf("infer: no prediction: %s\n", r->pred.reason);
    hr_infer_edge_print(&r->emu, o->pframes);
    if (o->verify)
        printf("infer: verified %lld frames against the whole model here: %lld class mismatches, max |logit diff| "
               "%.3g\n",
               (long long)ver.frames, (long long)ver.class_mismatches, ver.max_abs_logit_diff);
    fflush(stdout);
    if (o->output) {
        if (!(root = split_report(r, &seq, &pip, &ver))) {
            hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory building the report");
            goto fail;
        }
        if (!write_json(root, o->output))
            goto out;
    }
    rc = o->verify && ver.class_mismatches ? 1 : 0;
    if (rc)
        hr_cli_fail("infer", "%lld of %lld verified frames got another class from the tail",
                    (long long)ver.class_mismatches, (long long)ver.frames);
    goto out;
fail:
    hr_cli_fail("infer", "%s", err.msg);
out:
    free(vclasses);
    free(vlogits);
    json_decref(root);
    return rc;
}

int hr_cmd_infer(int argc, char **argv)
{
    infer_opts o;
    infer_run run;
    hr_error err = {0};
    hr_deploy_config cfg;
    hr_edge_params ep = hr_edge_params_default();
    hr_edge_prepare_params pp = hr_edge_prepare_params_default();
    hr_tensor_map *map = NULL;
    int rc;

    memset(&run, 0, sizeof run);
    hr_deploy_config_init(&cfg);
    if ((rc = parse_args(argc, argv, &o, &run.emu.flags)) >= 0)
        return rc;
    run.o = &o;
    run.notes = json_array();
    rc = 1;
    if (hr_deploy_config_load(o.config, &cfg, &err))
        goto fail;
    if (o.use_grid && hr_deploy_config_use_grid(&cfg, &err)) {
        hr_error_prefix(&err, "%s: --use grid", o.config);
        goto fail;
    }
    if (o.model && (!hr_arch_find(o.model) || strcmp(hr_arch_find(o.model)->name, cfg.arch) != 0)) {
        hr_cli_fail("infer", "--model %s does not match the configuration's model %s", o.model, cfg.arch);
        rc = 2;
        goto out;
    }
    if (o.input_size)
        cfg.input_size = o.input_size;
    if (cfg.split != HR_PLACEMENT_LOCAL && !o.server && !o.in_process) {
        hr_cli_fail("infer", "--server HOST:PORT (a running `hyperrep serve`) or --in-process is required");
        rc = 2;
        goto out;
    }

    ep.server = o.in_process ? NULL : o.server;
    ep.net = o.net.net;
    ep.threads = (int)o.threads;
    ep.seed = (uint64_t)o.seed;
    ep.timeout_ms = (int)(o.timeout_s * 1000);
    ep.want_logits = o.verify;
    ep.log = note_sink;
    ep.log_user = run.notes;
    ep.log_level = HR_LOG_INFO;
    if (hr_edge_create(&ep, &run.edge, &err))
        goto fail;
    if (o.weights && hr_weights_load(o.weights, &map, &err)) {
        hr_error_prefix(&err, "%s", o.weights);
        goto fail;
    }
    pp.weights = map;
    pp.weights_path = o.weights;
    pp.alpha_path = o.alpha;
    pp.data = o.data;
    pp.domain = (int)o.domain;
    pp.frames = o.clients ? 64 : o.warmup + (o.frames > o.pframes ? o.frames : o.pframes);
    if (hr_edge_prepare(run.edge, &cfg, &pp, &err))
        goto fail;
    run.cfg = hr_edge_config(run.edge);
    run.part = hr_edge_part(run.edge);
    run.fr = hr_edge_input_frames(run.edge);
    hr_edge_predict(o.lut, run.cfg, hr_deploy_part_model(run.part), &run.pred);
    if (hr_infer_edge_setup(&run.emu, o.lut, run.edge, run.notes, &err))
        goto fail;
    if (o.clients)
        rc = run_load(&run, map);
    else if (run.cfg->split == HR_PLACEMENT_LOCAL)
        rc = run_local(&run);
    else
        rc = run_split(&run);
    goto out;
fail:
    hr_cli_fail("infer", "%s", err.msg);
out:
    json_decref(run.notes);
    hr_edge_destroy(run.edge);
    hr_infer_edge_deinit(&run.emu);
    hr_tensor_map_destroy(map);
    hr_deploy_config_deinit(&cfg);
    return rc;
}
