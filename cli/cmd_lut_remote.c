/* hyperrep lut measure --remote: step 1 in real mode (SPEC §5, §10). The
 * server waits for one worker, measures the link, has the worker measure
 * its LUT, measures its own and writes the merged LUT recording both
 * devices. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hyperrep/edge.h"
#include "hyperrep/lut.h"
#include "hyperrep/remote.h"
#include "hyperrep/weights.h"
#include "remote_common.h"

static const char *help =
    "usage: hyperrep lut measure --remote --model M [--listen ADDR] [--threads N]\n"
    "         [--client-threads N] [--input-size H] [--warmup 10] [--repeat 100] [--passes 1]\n"
    "         [--in-forward] [--stat median|mean|min] [--seed S] [--slowdown F]\n"
    "         [--link-sizes 0.1,0.5,1,2,5] [--link-repeats 5] [--probe-frames 1000] [--window 16]\n"
    "         [TLS and listen options] [-o FILE]\n"
    "\n"
    "Step 1 in real mode. Waits for one worker (`hyperrep client --server ADDR` on the\n"
    "edge device), then:\n"
    "  1. link benchmark: round trips of 0.1..5 MB messages both ways (plus empty\n"
    "     probes for the base round trip), fitted per direction as time = k*MB + b;\n"
    "     the client-to-server fit (the direction the features travel with the client\n"
    "     as head) goes into the merged LUT;\n"
    "  2. the worker measures its LUT (as `lut measure --role client`, random weights\n"
    "     from --seed, --client-threads threads) and sends it;\n"
    "  3. this machine measures its own LUT (--threads threads);\n"
    "  4. the serve probe: this machine runs a server (as `serve`, --threads threads\n"
    "     per model) and the worker streams 5 passes of --probe-frames raw frames to it\n"
    "     over the same link (random weights, --window frames in flight); the server's\n"
    "     CPU per frame minus what its LUT gives the whole model becomes its T_frame\n"
    "     (method \"serve\"): what the sockets, TLS, the event loop and the tail's\n"
    "     slower run between them cost per frame, which the in-process figure misses;\n"
    "  5. the merged LUT records both devices (host, CPU, threads, emulated or not).\n"
    "Writes FILE (default hardware_lut_complete.json) and, beside it, lut_server.json,\n"
    "lut_client.json, link.json and link_benchmark.json (every raw round trip), then\n"
    "sends the worker SHUTDOWN.\n"
    "\n"
    "options (the measurement options are those of `lut measure`):\n"
    "  --client-threads N the worker's threads (default: the worker's own --threads)\n"
    "  --slowdown F       the worker multiplies its times by F (>= 1) and marks its LUT\n"
    "                     as emulated (a slower device played by a faster one)\n"
    "  --link-sizes LIST  comma-separated message sizes in MB (0.1,0.5,1,2,5)\n"
    "  --link-repeats N   round trips per size and direction (5)\n"
    "  --probe-frames N   frames per pass of the serve probe (1000; 0: no probe, the\n"
    "                     server keeps the in-process T_frame)\n"
    "  --window W         frames in flight in the serve probe (16)\n" HR_CLI_LISTEN_HELP HR_CLI_NET_HELP;

enum {
    O_REMOTE = 256, O_ROLE, O_MODEL, O_WEIGHTS, O_INPUT, O_THREADS, O_CTHREADS, O_WARMUP, O_REPEAT, O_PASSES,
    O_INFWD, O_STAT, O_SEED, O_SLOW, O_SIZES, O_LREP, O_PFRAMES, O_WINDOW
};

static int parse_sizes(const char *s, double *sizes, int *n)
{
    char *end;
    *n = 0;
    while (*s) {
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || !isfinite(v) || v <= 0 || v > 60 || *n >= 32) {
            hr_cli_fail("lut measure", "--link-sizes: '%s' is not a list of 2..32 sizes in (0, 60] MB", s);
            return 0;
        }
        sizes[(*n)++] = v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s) {
            hr_cli_fail("lut measure", "--link-sizes: unexpected '%s'", s);
            return 0;
        }
    }
    if (*n < 2) {
        hr_cli_fail("lut measure", "--link-sizes needs at least two sizes");
        return 0;
    }
    return 1;
}

static void sibling(const char *out, const char *name, char *buf, size_t size)
{
    const char *slash = strrchr(out, '/');
    if (slash)
        snprintf(buf, size, "%.*s/%s", (int)(slash - out), out, name);
    else
        snprintf(buf, size, "%s", name);
}

/* The merged file gains metadata.devices (what each side is, as it said)
 * and metadata.link_measurement; readers ignore fields they do not know. */
static int annotate(const char *path, const hr_device_lut *sv, const hr_remote_device *cl, const hr_link_bench *lb,
                    const char *bench_path)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *meta;
    char host[128], *text = NULL;
    hr_error err = {0};
    int ok;
    if (!root || !json_is_object(meta = json_object_get(root, "metadata"))) {
        hr_cli_fail("lut measure", "%s: cannot re-read the merged LUT: %s", path, je.text);
        json_decref(root);
        return 0;
    }
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    ok = !json_object_set_new(meta, "devices",
                              json_pack("{s:{s:s, s:s, s:i, s:b, s:s}, s:{s:s, s:s, s:s, s:s, s:i, s:b, s:f, s:b, s:s}}",
                                        "server", "host", host, "cpu", sv->gpu_name, "threads", sv->threads,
                                        "emulated", 0, "measured", "locally", "client", "name", cl->name, "host",
                                        cl->host, "peer", cl->peer, "cpu", cl->cpu, "threads", cl->threads, "emulated",
                                        cl->emulated, "slowdown", cl->slowdown, "tls", cl->tls, "measured",
                                        "remotely, by the worker (hyperrep client), over the hyperrep protocol"));
    ok = ok && !json_object_set_new(meta, "link_measurement",
                                    json_pack("{s:s, s:s, s:f, s:f, s:f, s:i, s:s}", "direction", "client_to_server",
                                              "method", "round trips over the hyperrep channel, least squares "
                                              "time = k*MB + b; latency_ms = the median empty round trip "
                                              "(rtt_median_ms), not b", "rtt_median_ms", lb->rtt_ms,
                                              "server_to_client_bandwidth_mbit_s",
                                              lb->download.measured ? lb->download.bandwidth_mbit_s : 0.0,
                                              "server_to_client_latency_ms",
                                              lb->download.measured ? lb->download.latency_ms : 0.0, "samples",
                                              lb->nsamples, "raw", bench_path));
    if (ok)
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!text) {
        hr_cli_fail("lut measure", "%s: out of memory", path);
        return 0;
    }
    ok = hr_write_file_atomic(path, text, strlen(text), &err) == HR_OK;
    free(text);
    if (!ok)
        hr_cli_fail("lut measure", "%s", err.msg);
    return ok;
}

int hr_cmd_lut_remote(int argc, char **argv)
{
    static const struct option opts[] = {{"remote", no_argument, 0, O_REMOTE},
                                         {"role", required_argument, 0, O_ROLE},
                                         {"model", required_argument, 0, O_MODEL},
                                         {"weights", required_argument, 0, O_WEIGHTS},
                                         {"input-size", required_argument, 0, O_INPUT},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"client-threads", required_argument, 0, O_CTHREADS},
                                         {"warmup", required_argument, 0, O_WARMUP},
                                         {"repeat", required_argument, 0, O_REPEAT},
                                         {"passes", required_argument, 0, O_PASSES},
                                         {"in-forward", no_argument, 0, O_INFWD},
                                         {"stat", required_argument, 0, O_STAT},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"slowdown", required_argument, 0, O_SLOW},
                                         {"link-sizes", required_argument, 0, O_SIZES},
                                         {"link-repeats", required_argument, 0, O_LREP},
                                         {"probe-frames", required_argument, 0, O_PFRAMES},
                                         {"window", required_argument, 0, O_WINDOW},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         HR_CLI_NET_OPTIONS,
                                         {0, 0, 0, 0}};
    const char *cmd = "lut measure", *arch = NULL, *weights = NULL, *output = "hardware_lut_complete.json";
    int64_t threads = 1, cthreads = 0, warmup = 10, repeat = 100, passes = 1, seed = 42, lrep = 5,
            pframes = 1000, window = 16;
    double slowdown = 1, sizes[32];
    int nsizes = 0, in_forward = 0, c, r, rc = 1;
    hr_lut_stat stat = HR_LUT_STAT_MEDIAN;
    hr_model_params mp = hr_model_params_default();
    hr_cli_net net;
    hr_listener *l = NULL;
    hr_chan *ch = NULL;
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;
    hr_device_lut *dev[HR_DEVICE_COUNT] = {NULL, NULL};
    hr_lut *merged = NULL;
    hr_link_bench lb;
    hr_remote_device cl;
    hr_error err = {0};
    char p_server[4096], p_client[4096], p_link[4096], p_bench[4096];
    double t0, t_link, t_client, t_server;

    hr_link_bench_init(&lb);
    hr_cli_net_init(&net);
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case O_REMOTE: break;
        case O_ROLE:
            if (strcmp(optarg, "server") != 0) {
                hr_cli_fail(cmd, "--remote measures the server here and the client remotely (--role %s makes no "
                            "sense with it)", optarg);
                return 2;
            }
            break;
        case O_MODEL: arch = optarg; break;
        case O_WEIGHTS: weights = optarg; break;
        case 'o': output = optarg; break;
        case O_INFWD: in_forward = 1; break;
        case O_INPUT: if (!hr_cli_parse_i64(cmd, "--input-size", optarg, 1, 65536, &mp.input_size)) return 2; break;
        case O_THREADS: if (!hr_cli_parse_i64(cmd, "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case O_CTHREADS: if (!hr_cli_parse_i64(cmd, "--client-threads", optarg, 1, 1024, &cthreads)) return 2; break;
        case O_WARMUP: if (!hr_cli_parse_i64(cmd, "--warmup", optarg, 0, 1000000, &warmup)) return 2; break;
        case O_REPEAT: if (!hr_cli_parse_i64(cmd, "--repeat", optarg, 1, 1000000, &repeat)) return 2; break;
        case O_PASSES: if (!hr_cli_parse_i64(cmd, "--passes", optarg, 1, 1000000, &passes)) return 2; break;
        case O_SEED: if (!hr_cli_parse_i64(cmd, "--seed", optarg, 0, INT64_MAX, &seed)) return 2; break;
        case O_LREP: if (!hr_cli_parse_i64(cmd, "--link-repeats", optarg, 1, 1000, &lrep)) return 2; break;
        case O_PFRAMES: if (!hr_cli_parse_i64(cmd, "--probe-frames", optarg, 0, 1000000, &pframes)) return 2; break;
        case O_WINDOW:
            if (!hr_cli_parse_i64(cmd, "--window", optarg, 1, HR_EDGE_MAX_WINDOW, &window))
                return 2;
            break;
        case O_SIZES: if (!parse_sizes(optarg, sizes, &nsizes)) return 2; break;
        case O_STAT:
            if (hr_lut_stat_parse(optarg) < 0) {
                hr_cli_fail(cmd, "--stat: '%s' is not median, mean or min", optarg);
                return 2;
            }
            stat = (hr_lut_stat)hr_lut_stat_parse(optarg);
            break;
        case O_SLOW: {
            char *end;
            errno = 0;
            slowdown = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(slowdown) || slowdown < 1 || slowdown > 1e6) {
                hr_cli_fail(cmd, "--slowdown: '%s' is not a factor >= 1", optarg);
                return 2;
            }
            break;
        }
        case 'h': fputs(help, stdout); return 0;
        default:
            r = hr_cli_net_option(cmd, &net, c, optarg);
            if (r == 1)
                break;
            if (r < 0)
                fputs(help, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail(cmd, "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!arch) {
        hr_cli_fail(cmd, "--model is required (see `hyperrep models`)");
        return 2;
    }
    if (passes > repeat) {
        hr_cli_fail(cmd, "--passes %lld is more than --repeat %lld", (long long)passes, (long long)repeat);
        return 2;
    }
    if (!hr_cli_net_check(cmd, &net))
        return 2;
    sibling(output, "lut_server.json", p_server, sizeof p_server);
    sibling(output, "lut_client.json", p_client, sizeof p_client);
    sibling(output, "link.json", p_link, sizeof p_link);
    sibling(output, "link_benchmark.json", p_bench, sizeof p_bench);

    /* The server's model first: a bad model name fails before anyone waits. */
    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = (int)threads;
    cp.seed = (uint64_t)seed;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, &mp, &m, &err))
        goto fail;
    if (weights) {
        if (hr_weights_load(weights, &map, &err) || hr_model_load(m, map, &err)) {
            hr_error_prefix(&err, "%s", weights);
            goto fail;
        }
    } else if (hr_model_init_random(m, (uint64_t)seed, &err)) {
        goto fail;
    }
    if (!hr_cli_accept_worker(cmd, &net, &l, &ch))
        goto out;
    t0 = hr_cli_now_ms();

    /* 1. the link, while both machines are idle */
    hr_link_bench_params bp = hr_link_bench_params_default();
    bp.sizes_mb = nsizes ? sizes : NULL;
    bp.nsizes = nsizes;
    bp.repeats = (int)lrep;
    hr_remote_device_from_chan(ch, &cl);
    if (hr_remote_link_bench(ch, &bp, &lb, &err) || hr_link_save(p_link, &lb.upload, &err))
        goto fail;
    t_link = hr_cli_now_ms();
    printf("link: client to server %.1f Mbit/s + %.3f ms, server to client %.1f Mbit/s + %.3f ms, empty round trip "
           "%.3f ms (%d samples, %.1f s)\n", lb.upload.bandwidth_mbit_s, lb.upload.latency_ms,
           lb.download.bandwidth_mbit_s, lb.download.latency_ms, lb.rtt_ms, lb.nsamples, (t_link - t0) / 1e3);
    for (int dir = 1; dir >= 0; dir--)
        if (lb.bound_only[dir])
            fprintf(stderr, "hyperrep lut measure: warning: %s: round trips did not grow with size (a link faster "
                    "than these sizes resolve, or noise): bandwidth is the best throughput seen, a lower bound; "
                    "use larger --link-sizes for a fit\n", dir ? "client to server" : "server to client");
    fflush(stdout);

    /* 2. the client's LUT, measured there */
    hr_remote_lut_params rp = hr_remote_lut_params_default();
    rp.arch = arch;
    rp.input_size = mp.input_size;
    rp.threads = (int)cthreads; /* 0: the worker's own --threads */
    rp.warmup = (int)warmup;
    rp.repeat = (int)repeat;
    rp.passes = (int)passes;
    rp.in_forward = in_forward;
    rp.seed = (uint64_t)seed;
    rp.slowdown = slowdown;
    rp.log = hr_cli_remote_log;
    rp.log_user = (void *)cmd;
    if (hr_remote_lut_measure(ch, &rp, p_client, &dev[HR_DEVICE_CLIENT], &cl, &err))
        goto fail;
    t_client = hr_cli_now_ms();
    printf("client LUT: %s, %d thread(s), %s%s (%.1f s) -> %s\n", cl.name, cl.threads, cl.cpu,
           cl.emulated ? ", emulated" : "", (t_client - t_link) / 1e3, p_client);
    fflush(stdout);

    /* 3. the server's LUT, here */
    hr_lut_measure_params lp = hr_lut_measure_params_default();
    lp.role = HR_DEVICE_SERVER;
    lp.warmup = (int)warmup;
    lp.repeat = (int)repeat;
    lp.passes = (int)passes;
    lp.in_forward = in_forward;
    if (hr_lut_measure(m, &lp, &dev[HR_DEVICE_SERVER], &err))
        goto fail;
    t_server = hr_cli_now_ms();
    printf("server LUT: %d thread(s), %s (%.1f s)\n", dev[HR_DEVICE_SERVER]->threads, dev[HR_DEVICE_SERVER]->gpu_name,
           (t_server - t_client) / 1e3);
    fflush(stdout);

    /* 4. the server's T_frame, through a real server */
    if (pframes > 0) {
        hr_device_lut *sv = dev[HR_DEVICE_SERVER];
        hr_serve_probe_params pp = hr_serve_probe_params_default();
        hr_serve_probe probe;
        double in_process = sv->has_frame_time ? hr_lut_entry_time(&sv->frame, stat) : -1;
        pp.arch = arch;
        pp.input_size = mp.input_size;
        pp.threads = (int)threads;
        pp.tls = net.net.tls;
        pp.window = (int)window;
        pp.frames = (int)pframes;
        pp.seed = (uint64_t)seed;
        pp.log = hr_cli_remote_log;
        pp.log_user = (void *)cmd;
        hr_serve_probe_init(&probe);
        double lut_tail = 0;
        if (hr_remote_serve_probe(ch, l, &pp, &probe, &err) ||
            hr_serve_probe_apply(&probe, sv, stat, &lut_tail, &err)) {
            hr_serve_probe_deinit(&probe);
            goto fail;
        }
        printf("serve probe: %lld frames (%d passes, window %d, %.0f fps): %.4f ms of server CPU per frame, %.4f of "
               "it in the tail (the LUT: %.4f): T_frame.server %.4f ms (in-process: %.4f) (%.1f s)\n",
               (long long)probe.frames, probe.passes, probe.window, probe.fps, probe.cpu_ms, probe.tail_cpu_ms,
               lut_tail, hr_lut_entry_time(&sv->frame, stat), in_process, (hr_cli_now_ms() - t_server) / 1e3);
        hr_serve_probe_deinit(&probe);
        fflush(stdout);
    }
    if (hr_device_lut_save(p_server, dev[HR_DEVICE_SERVER], &err))
        goto fail;
    printf("wrote %s\n", p_server);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if (dev[d]->has_noise && dev[d]->noise.busy)
            fprintf(stderr, "hyperrep %s: warning: the %s's LUT is noisy (median spread %.3f, %.1f %% of its CPU "
                    "time taken by other processes)\n", cmd, hr_device_name((hr_device)d),
                    dev[d]->noise.median_spread, dev[d]->noise.stolen_cpu_pct);

    /* 5. merged */
    hr_lut_merge_params mgp = hr_lut_merge_params_default();
    mgp.stat = stat;
    mgp.link = &lb.upload;
    if (hr_lut_merge(dev[HR_DEVICE_SERVER], dev[HR_DEVICE_CLIENT], &mgp, &merged, &err) ||
        hr_lut_save(output, merged, &err) || hr_link_bench_save(p_bench, &lb, &cl, &err))
        goto fail;
    if (!annotate(output, dev[HR_DEVICE_SERVER], &cl, &lb, p_bench))
        goto out;
    if (hr_remote_shutdown(ch, 10000, &err))
        fprintf(stderr, "hyperrep %s: warning: the worker did not acknowledge the shutdown: %s\n", cmd, err.msg);
    printf("wrote %s: %s, %d blocks, %s of each entry, link %.3f Mbit/s + %.3f ms (measured), server %s, client %s "
           "(%.1f s in all)\n", output, merged->model, merged->nblocks, hr_lut_stat_name(merged->stat),
           merged->link.bandwidth_mbit_s, merged->link.latency_ms, dev[HR_DEVICE_SERVER]->gpu_name, cl.name,
           (hr_cli_now_ms() - t0) / 1e3);
    rc = 0;
    goto out;
fail:
    hr_cli_fail(cmd, "%s", err.msg);
out:
    hr_lut_destroy(merged);
    hr_device_lut_destroy(dev[0]);
    hr_device_lut_destroy(dev[1]);
    hr_link_bench_deinit(&lb);
    hr_chan_destroy(ch);
    hr_listener_destroy(l);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return rc;
}
