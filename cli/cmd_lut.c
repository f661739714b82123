/* hyperrep lut measure | merge: per-device LUT measurement and the merged
 * LUT the optimizers read (SPEC §5). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hyperrep/lut.h"

static const char *help =
    "usage: hyperrep lut measure --role server|client --model M [--weights W] [--input-size H]\n"
    "         [--threads N] [--warmup 10] [--repeat 100] [--passes 1] [--in-forward]\n"
    "         [--stat median|mean|min] [--seed S] [-o FILE]\n"
    "         [--edge PROFILE [--roofline FILE] | --edge-slowdown F]   (--role client)\n"
    "         [--remeasure-spread 0.10] [--remeasure-budget-s S] [--frame-repeat 300] [--span-s S]\n"
    "       hyperrep lut measure --remote --model M --listen ADDR ...  (real mode: the client's LUT\n"
    "         measured by a `hyperrep client` worker, plus the link; see --remote --help)\n"
    "       hyperrep lut profiles   (the edge profiles, their figures and sources)\n"
    "       hyperrep lut merge --server-lut S --client-lut C\n"
    "         [--bandwidth-mbit B --latency-ms L | --link-profile NAME | --link link.json]\n"
    "         [--per-message-ms P] [--roofline-server R | --knee-server K]\n"
    "         [--roofline-client R | --knee-client K] [--stat median|mean|min] [-o FILE]\n"
    "\n"
    "measure: times every block under every gamma valid for its existing branches\n"
    "  (alpha = 1 on the gamma's branches, applied to a copy: trained alpha are never\n"
    "  touched), plus stage 0 and the classifier, on a context of --threads threads.\n"
    "  Without --weights the model is randomly initialised from --seed (default 42).\n"
    "  Each entry gets --warmup untimed runs, then --repeat timed ones: time_ms (mean,\n"
    "  as the original), median_ms, std_ms, min_ms. --passes P splits the timed runs\n"
    "  of every entry over P rounds through the whole model (re-applying each gamma;\n"
    "  later rounds warm up with warmup/P runs), so load from other processes or slow\n"
    "  drift touches a share of every entry instead of all runs of a few: use it on\n"
    "  a shared machine; --span-s S spreads the passes over at least S seconds (a\n"
    "  virtual machine's slow phases last seconds). --in-forward times each entry inside a whole forward of the\n"
    "  model (the other blocks at their deploy gamma), so it sees the caches the rest\n"
    "  of the network leaves: entries are shares of a real forward (N times slower to\n"
    "  measure; use a smaller --repeat). --stat picks the statistic of the printed\n"
    "  summary.\n"
    "  Pseudo mode measures the client on this machine, which is faster than any\n"
    "  edge device; two flags turn the client file into an emulation of one (SPEC\n"
    "  13.2, docs/EDGE_PROFILES.md). --edge PROFILE (see `lut profiles`) measures\n"
    "  this machine's roofline at --threads (or reads it from --roofline FILE, which\n"
    "  must have that thread count) and multiplies each entry by max(1, its roofline\n"
    "  time on the profile at min(threads, cores) cores / on this machine), from the\n"
    "  entry's FLOPs and bytes (with weights): gamma rankings and the knee follow the\n"
    "  edge. --edge-slowdown F (F >= 1) multiplies every time by F. Either is\n"
    "  recorded in metadata.emulated (with edge_profile and host_roofline for a\n"
    "  profile) and carried into the merged LUT, whose client knee then is the\n"
    "  profile's (roofline.source.client \"profile\"). The older --emulate TEXT\n"
    "  [--slowdown F] records a free-text emulation with a flat factor.\n"
    "  Noise: each entry records spread = IQR / median of its runs; entries whose\n"
    "  spread exceeds --remeasure-spread (0.10) get more runs, interleaved, for at\n"
    "  most --remeasure-budget-s seconds (default a quarter of the passes' time, at\n"
    "  least 1 s; 0: none). metadata.noise gives the median spread and the CPU share other\n"
    "  processes took; a warning is printed when the machine was busy. T_frame, the\n"
    "  per-frame overhead (framing, thread hand-offs), is timed --frame-repeat times\n"
    "  (0: not measured).\n"
    "  Writes lut_server.json / lut_client.json (or -o FILE) atomically.\n"
    ;

/* Split in two: C99 compilers need only support string literals of 4095 bytes. */
static const char *help_merge =
    "merge: reads two per-device files (ours or the original tool's) for the same\n"
    "  model and input size and writes hardware_lut_complete.json (or -o FILE): the\n"
    "  median of each entry by default (--stat mean reproduces the original; --stat\n"
    "  min, the fastest run, is the one that stays put on a shared machine, see\n"
    "  bench/lut_stability.sh), link\n"
    "  model (bandwidth in Mbit/s; default 100 Mbit/s and 1 ms, the original's; or a\n"
    "  named link, --link-profile, recorded as bandwidth.profile), and roofline knees\n"
    "  from roofline.json files (default 25.15 / 16.1); a client emulated from an\n"
    "  edge profile takes the profile's knee instead. --knee-server/--knee-client K\n"
    "  override a knee (roofline.source \"override\", not measured).\n"
    "profiles: lists the edge profiles (cores, peak GFLOP/s and bandwidth GB/s, all\n"
    "  cores / one core, how they were derived, their sources) and the link profiles\n"
    "  (docs/EDGE_PROFILES.md, docs/LINK_PROFILES.md).\n";

static void print_help(FILE *f)
{
    fputs(help, f);
    fputs(help_merge, f);
}

static int parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = s ? strtod(s, &end) : 0;
    if (!s || !*s || errno || *end || !isfinite(v) || v < lo || v > hi) {
        hr_cli_fail(cmd, "%s: '%s' is not a number in %g..%g", flag, s ? s : "", lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_stat(const char *cmd, const char *s, hr_lut_stat *out)
{
    int k = hr_lut_stat_parse(s);
    if (k < 0) {
        hr_cli_fail(cmd, "--stat: '%s' is not median, mean or min", s);
        return 0;
    }
    *out = (hr_lut_stat)k;
    return 1;
}

static void fmt_duration(double s, char *buf, size_t n)
{
    if (s < 10)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

/* Progress: a bar redrawn in place on a terminal, one line per block
 * otherwise (logs, CI). */
typedef struct progress {
    int tty;
    double t0;
    hr_lut_stat stat;
    const hr_model *m;
} progress;

/* The highest γ valid for a block's existing branches: its last entry. */
static int last_gamma(unsigned existing)
{
    int last = 0;
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        if ((hr_gamma_get(g)->branches & ~existing) == 0)
            last = g;
    return last;
}

static void on_progress(void *user, const hr_lut_progress *p)
{
    progress *pr = user;
    double el = (hr_cli_now_ms() - pr->t0) / 1e3;
    double eta = p->done > 0 ? el / p->done * (p->total - p->done) : 0;
    char e1[32], e2[32];
    fmt_duration(el, e1, sizeof e1);
    fmt_duration(eta, e2, sizeof e2);
    if (pr->tty) {
        enum { WIDTH = 30 };
        int fill = (int)((double)WIDTH * p->done / p->total);
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %-10s %-10s %s elapsed, ETA %s   ", bar, 100 * p->done / p->total,
                p->block_name, p->gamma >= 0 ? hr_gamma_get(p->gamma)->name : "", e1, e2);
        if (p->done == p->total)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    if (p->gamma < 0) {
        if (p->entry)
            fprintf(stderr, "lut measure: %s %.4f ms (%s elapsed)\n", p->block_name,
                    hr_lut_entry_time(p->entry, pr->stat), e1);
        return;
    }
    hr_block_info bi = hr_model_block(pr->m, p->block);
    if (p->gamma != last_gamma(bi.existing))
        return;
    if (p->passes > 1)
        fprintf(stderr, "lut measure: pass %d/%d block %d/%d %s done (%s elapsed, ETA %s)\n", p->pass + 1, p->passes,
                p->block + 1, p->nblocks, p->block_name, e1, e2);
    else
        fprintf(stderr, "lut measure: block %d/%d %s done (%s elapsed, ETA %s)\n", p->block + 1, p->nblocks,
                p->block_name, e1, e2);
}

/* Whole-model time the LUT predicts: stage 0 + every block at its deploy γ +
 * the classifier. */
static double predicted_ms(const hr_device_lut *lut, const hr_model *m, hr_lut_stat stat)
{
    double t = hr_lut_entry_time(&lut->stage0, stat) + hr_lut_entry_time(&lut->classifier, stat);
    for (int i = 0; i < lut->nblocks; i++)
        t += hr_lut_entry_time(&lut->blocks[i].e[hr_gamma_deploy(hr_model_block(m, i).live)], stat);
    return t;
}

static int cmd_measure(int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, 0, 'R'},    {"model", required_argument, 0, 'm'},
        {"weights", required_argument, 0, 'w'}, {"input-size", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'}, {"warmup", required_argument, 0, 'W'},
        {"repeat", required_argument, 0, 'r'},  {"passes", required_argument, 0, 'P'},
        {"stat", required_argument, 0, 'S'},    {"seed", required_argument, 0, 'e'},
        {"output", required_argument, 0, 'o'},  {"in-forward", no_argument, 0, 'F'},
        {"emulate", required_argument, 0, 'E'}, {"slowdown", required_argument, 0, 'D'},
        {"remeasure-spread", required_argument, 0, 'x'}, {"remeasure-budget-s", required_argument, 0, 'B'},
        {"frame-repeat", required_argument, 0, 'f'},
        {"span-s", required_argument, 0, 'T'},
        {"edge", required_argument, 0, 'G'},    {"edge-slowdown", required_argument, 0, 'X'},
        {"roofline", required_argument, 0, 'O'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *arch = NULL, *weights = NULL, *output = NULL, *role = NULL, *emulate = NULL, *roof_path = NULL;
    const hr_edge_profile *edge = NULL;
    hr_roofline host;
    double slowdown = 1, edge_slowdown = 0;
    int64_t threads = 1, warmup = 10, repeat = 100, passes = 1, seed = 42;
    hr_lut_stat stat = HR_LUT_STAT_MEDIAN;
    hr_model_params mp = hr_model_params_default();
    hr_ctx_params cp = hr_ctx_params_default();
    hr_lut_measure_params lp = hr_lut_measure_params_default();
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;
    hr_device_lut *lut = NULL;
    progress pr = {0};
    char path[512];
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'R': role = optarg; break;
        case 'm': arch = optarg; break;
        case 'w': weights = optarg; break;
        case 'o': output = optarg; break;
        case 'F': lp.in_forward = 1; break;
        case 'E': emulate = optarg; break;
        case 'O': roof_path = optarg; break;
        case 'G':
            if (hr_edge_profile_find(optarg, &edge, &err)) {
                hr_cli_fail("lut measure", "--edge: %s", err.msg);
                return 2;
            }
            break;
        case 'X':
            if (!parse_double("lut measure", "--edge-slowdown", optarg, 1, 1e6, &edge_slowdown))
                return 2;
            break;
        case 'D': {
            char *end;
            errno = 0;
            slowdown = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(slowdown > 0) || !isfinite(slowdown)) {
                hr_cli_fail("lut measure", "--slowdown: '%s' is not a positive factor", optarg);
                return 2;
            }
            break;
        }
        case 's':
            if (!hr_cli_parse_i64("lut measure", "--input-size", optarg, 1, 65536, &mp.input_size))
                return 2;
            break;
        case 't':
            if (!hr_cli_parse_i64("lut measure", "--threads", optarg, 1, 1024, &threads))
                return 2;
            break;
        case 'W':
            if (!hr_cli_parse_i64("lut measure", "--warmup", optarg, 0, 1000000, &warmup))
                return 2;
            break;
        case 'r':
            if (!hr_cli_parse_i64("lut measure", "--repeat", optarg, 1, 1000000, &repeat))
                return 2;
            break;
        case 'P':
            if (!hr_cli_parse_i64("lut measure", "--passes", optarg, 1, 1000000, &passes))
                return 2;
            break;
        case 'e':
            if (!hr_cli_parse_i64("lut measure", "--seed", optarg, 0, INT64_MAX, &seed))
                return 2;
            break;
        case 'S':
            if (!parse_stat("lut measure", optarg, &stat))
                return 2;
            break;
        case 'x':
            if (!parse_double("lut measure", "--remeasure-spread", optarg, 0, 1e6, &lp.remeasure_spread))
                return 2;
            break;
        case 'B':
            if (!parse_double("lut measure", "--remeasure-budget-s", optarg, 0, 1e6, &lp.remeasure_budget_s))
                return 2;
            break;
        case 'f': {
            int64_t v;
            if (!hr_cli_parse_i64("lut measure", "--frame-repeat", optarg, 0, 100000, &v))
                return 2;
            lp.frame_repeat = (int)v;
            break;
        }
        case 'T':
            if (!parse_double("lut measure", "--span-s", optarg, 0, 86400, &lp.span_s))
                return 2;
            break;
        case 'h': print_help(stdout); return 0;
        default: print_help(stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail("lut measure", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (slowdown != 1 && !emulate) {
        hr_cli_fail("lut measure", "--slowdown needs --emulate TEXT (the file must say it is an emulation)");
        return 2;
    }
    if (!!edge + (edge_slowdown > 0) + !!emulate > 1) {
        hr_cli_fail("lut measure", "--edge, --edge-slowdown and --emulate are exclusive (one emulation per file)");
        return 2;
    }
    if (roof_path && !edge) {
        hr_cli_fail("lut measure", "--roofline is this machine's roofline for --edge PROFILE; it needs --edge");
        return 2;
    }
    if ((edge || edge_slowdown > 0) && (!role || strcmp(role, "client") != 0)) {
        hr_cli_fail("lut measure", "%s emulates an edge device: it needs --role client",
                    edge ? "--edge" : "--edge-slowdown");
        return 2;
    }
    if (!role || (strcmp(role, "server") && strcmp(role, "client"))) {
        hr_cli_fail("lut measure", "--role server|client is required%s%s%s", role ? " (got '" : "", role ? role : "",
                    role ? "')" : "");
        return 2;
    }
    if (!arch) {
        hr_cli_fail("lut measure", "--model is required (see `hyperrep models`)");
        return 2;
    }
    if (passes > repeat) {
        hr_cli_fail("lut measure", "--passes %lld is more than --repeat %lld", (long long)passes, (long long)repeat);
        return 2;
    }
    lp.role = strcmp(role, "server") == 0 ? HR_DEVICE_SERVER : HR_DEVICE_CLIENT;
    lp.warmup = (int)warmup;
    lp.repeat = (int)repeat;
    lp.passes = (int)passes;
    if (!output) {
        snprintf(path, sizeof path, "lut_%s.json", role);
        output = path;
    }
    cp.threads = (int)threads;
    cp.seed = (uint64_t)seed;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, &mp, &m, &err))
        goto fail;
    if (weights) {
        if (hr_weights_load(weights, &map, &err) || hr_model_load(m, map, &err)) {
            hr_error_prefix(&err, "%s", weights);
            goto fail;
        }
        hr_tensor_map_destroy(map);
        map = NULL;
    } else if (hr_model_init_random(m, (uint64_t)seed, &err)) {
        goto fail;
    }
    pr.tty = isatty(STDERR_FILENO);
    pr.t0 = hr_cli_now_ms();
    pr.stat = stat;
    pr.m = m;
    lp.progress = on_progress;
    lp.progress_user = &pr;
    if (roof_path) {
        if (hr_roofline_load(roof_path, &host, &err))
            goto fail;
        if (host.threads != (int)threads) {
            hr_error_set(&err, HR_ERR_INVALID_ARG, "%s: threads %d, but --threads is %lld: the host roofline must "
                         "be this machine at the client's thread count", roof_path, host.threads, (long long)threads);
            goto fail;
        }
    }
    if (hr_lut_measure(m, &lp, &lut, &err) || (emulate && hr_device_lut_emulate(lut, emulate, slowdown, &err)) ||
        (edge_slowdown > 0 && hr_device_lut_emulate_flat(lut, edge_slowdown, &err)))
        goto fail;
    if (edge) {
        if (!roof_path) {
            fprintf(stderr, "lut measure: measuring this machine's roofline at %lld thread%s for --edge %s\n",
                    (long long)threads, threads == 1 ? "" : "s", edge->name);
            if (hr_roofline_measure(ctx, NULL, &host, &err))
                goto fail;
        }
        if (hr_device_lut_emulate_profile(lut, edge, &host, &err))
            goto fail;
    }
    if (hr_device_lut_save(output, lut, &err))
        goto fail;
    {
        char d[32];
        fmt_duration((hr_cli_now_ms() - pr.t0) / 1e3, d, sizeof d);
        printf("wrote %s: %s %s LUT, %d blocks, %lld thread%s, %s, %s, in %s\n", output, hr_model_arch(m)->name,
               role, lut->nblocks, (long long)threads, threads == 1 ? "" : "s", lut->gpu_name,
               lut->in_forward ? "timed inside whole forwards" : "each entry alone", d);
        printf("predicted whole model (%s, deploy gamma): %.3f ms = stage0 %.3f + blocks %.3f + classifier %.3f\n",
               hr_lut_stat_name(stat), predicted_ms(lut, m, stat), hr_lut_entry_time(&lut->stage0, stat),
               predicted_ms(lut, m, stat) - hr_lut_entry_time(&lut->stage0, stat) -
                   hr_lut_entry_time(&lut->classifier, stat),
               hr_lut_entry_time(&lut->classifier, stat));
        if (lut->emulated[0])
            printf("emulated: %s\n", lut->emulated);
        if (lut->has_frame_time)
            printf("T_frame (per-frame overhead, %s crossing tensor %lldx%lldx%lld): %.4f ms\n", lut->frame_block,
                   (long long)lut->frame_shape[1], (long long)lut->frame_shape[2], (long long)lut->frame_shape[3],
                   hr_lut_entry_time(&lut->frame, stat));
        printf("noise: median spread %.3f, %d entries re-measured, %.1f %% CPU stolen (%s)\n",
               lut->noise.median_spread, lut->noise.remeasured, lut->noise.stolen_cpu_pct,
               lut->noise.method[0] ? lut->noise.method : "unknown");
        if (lut->noise.busy)
            fprintf(stderr, "hyperrep lut measure: warning: %s (median spread %.3f, %.1f %% of our CPU time taken "
                    "by other processes): the LUT is noisy; measure again on a quieter machine, or with more "
                    "--passes\n", lut->noise.stolen_cpu_pct > HR_LUT_BUSY_STOLEN_PCT ? "the machine was busy"
                    : "the runs were noisy", lut->noise.median_spread, lut->noise.stolen_cpu_pct);
    }
    rc = 0;
    goto out;
fail:
    hr_cli_fail("lut measure", "%s", err.msg);
out:
    hr_device_lut_destroy(lut);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return rc;
}

static int cmd_merge(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server-lut", required_argument, 0, 'S'},      {"client-lut", required_argument, 0, 'C'},
        /* old spellings: refused, naming the new ones */
        {"server", required_argument, 0, 1},            {"client", required_argument, 0, 2},
        {"bandwidth-mbit", required_argument, 0, 'B'},  {"latency-ms", required_argument, 0, 'L'},
        {"per-message-ms", required_argument, 0, 'M'},  {"link", required_argument, 0, 'l'},
        {"roofline-server", required_argument, 0, 'r'}, {"roofline-client", required_argument, 0, 'c'},
        {"stat", required_argument, 0, 's'},            {"output", required_argument, 0, 'o'},
        {"link-profile", required_argument, 0, 'P'},    {"knee-server", required_argument, 0, 'K'},
        {"knee-client", required_argument, 0, 'k'},     {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *spath = NULL, *cpath = NULL, *link_path = NULL, *roof[HR_DEVICE_COUNT] = {NULL, NULL};
    const hr_link_profile *link_prof = NULL;
    const char *output = "hardware_lut_complete.json";
    double bw = -1, lat = -1, pm = 0;
    hr_lut_merge_params mp = hr_lut_merge_params_default();
    hr_device_lut *dev[HR_DEVICE_COUNT] = {NULL, NULL};
    hr_roofline rl[HR_DEVICE_COUNT];
    hr_link link;
    hr_lut *lut = NULL;
    hr_error err = {0};
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'S': spath = optarg; break;
        case 'C': cpath = optarg; break;
        case 1: return hr_cli_renamed("lut merge", "--server", "--server-lut");
        case 2: return hr_cli_renamed("lut merge", "--client", "--client-lut");
        case 'l': link_path = optarg; break;
        case 'r': roof[HR_DEVICE_SERVER] = optarg; break;
        case 'c': roof[HR_DEVICE_CLIENT] = optarg; break;
        case 'o': output = optarg; break;
        case 'B':
            if (!parse_double("lut merge", "--bandwidth-mbit", optarg, 1e-6, 1e9, &bw))
                return 2;
            break;
        case 'L':
            if (!parse_double("lut merge", "--latency-ms", optarg, 0, 1e7, &lat))
                return 2;
            break;
        case 'M':
            if (!parse_double("lut merge", "--per-message-ms", optarg, 0, 1e7, &pm))
                return 2;
            break;
        case 's':
            if (!parse_stat("lut merge", optarg, &mp.stat))
                return 2;
            break;
        case 'P':
            if (hr_link_profile_find(optarg, &link_prof, &err)) {
                hr_cli_fail("lut merge", "--link-profile: %s", err.msg);
                return 2;
            }
            break;
        case 'K':
        case 'k':
            if (!parse_double("lut merge", c == 'K' ? "--knee-server" : "--knee-client", optarg, 1e-6, 1e6,
                              &mp.knee_override[c == 'K' ? HR_DEVICE_SERVER : HR_DEVICE_CLIENT]))
                return 2;
            break;
        case 'h': print_help(stdout); return 0;
        default: print_help(stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail("lut merge", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!spath || !cpath) {
        hr_cli_fail("lut merge", "--server-lut and --client-lut are required");
        return 2;
    }
    if ((bw >= 0) != (lat >= 0)) {
        hr_cli_fail("lut merge", "--bandwidth-mbit and --latency-ms go together");
        return 2;
    }
    if ((bw >= 0) + (link_path != NULL) + (link_prof != NULL) > 1) {
        hr_cli_fail("lut merge", "--link, --link-profile and --bandwidth-mbit/--latency-ms are exclusive");
        return 2;
    }
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if (roof[d] && mp.knee_override[d] > 0) {
            hr_cli_fail("lut merge", "--roofline-%s and --knee-%s are exclusive", hr_device_name((hr_device)d),
                        hr_device_name((hr_device)d));
            return 2;
        }
    if (link_prof) {
        link = hr_link_from_profile(link_prof);
        link.per_message_ms = pm;
        mp.link = &link;
    } else if (link_path) {
        if (hr_link_load(link_path, &link, &err))
            goto fail;
        mp.link = &link;
    } else if (bw >= 0) {
        link = hr_link_default();
        link.bandwidth_mbit_s = bw;
        link.latency_ms = lat;
        link.per_message_ms = pm;
        link.source = HR_BW_MBIT;
        mp.link = &link;
    }
    if (link_path && pm > 0)
        link.per_message_ms = pm;
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if (roof[d]) {
            if (hr_roofline_load(roof[d], &rl[d], &err))
                goto fail;
            mp.roofline[d] = &rl[d];
        }
    if (hr_device_lut_load(spath, &dev[HR_DEVICE_SERVER], &err) ||
        hr_device_lut_load(cpath, &dev[HR_DEVICE_CLIENT], &err) ||
        hr_lut_merge(dev[HR_DEVICE_SERVER], dev[HR_DEVICE_CLIENT], &mp, &lut, &err) || hr_lut_save(output, lut, &err))
        goto fail;
    printf("wrote %s: %s, %d blocks, %s of each entry, link %s%s%.3f Mbit/s + %.3f ms (%s), knees %.2f / %.2f "
           "(server %s, client %s%s%s)\n", output, lut->model, lut->nblocks, hr_lut_stat_name(lut->stat),
           lut->link.profile, lut->link.profile[0] ? " " : "", lut->link.bandwidth_mbit_s, lut->link.latency_ms,
           hr_bandwidth_source_text(lut->link.source),
           lut->i_knee[HR_DEVICE_SERVER], lut->i_knee[HR_DEVICE_CLIENT],
           hr_roofline_source_name(lut->roofline_source[HR_DEVICE_SERVER]),
           hr_roofline_source_name(lut->roofline_source[HR_DEVICE_CLIENT]),
           lut->edge_profile[HR_DEVICE_CLIENT][0] ? " " : "", lut->edge_profile[HR_DEVICE_CLIENT]);
    if (lut->note[0])
        printf("note: %s\n", lut->note);
    rc = 0;
    goto out;
fail:
    hr_cli_fail("lut merge", "%s", err.msg);
out:
    hr_lut_destroy(lut);
    hr_device_lut_destroy(dev[0]);
    hr_device_lut_destroy(dev[1]);
    return rc;
}

/* hyperrep lut profiles: the built-in edge profiles, their figures and sources. */
static int cmd_profiles(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_help(stdout);
        return 0;
    }
    if (argc >= 2) {
        hr_cli_fail("lut profiles", "unexpected argument '%s'", argv[1]);
        return 2;
    }
    printf("%-16s %5s %21s %21s\n", "profile", "cores", "GFLOP/s (all / 1)", "GB/s (all / 1)");
    for (int i = 0; i < hr_edge_profile_count(); i++) {
        const hr_edge_profile *p = hr_edge_profile_get(i);
        printf("%-16s %5d %10.1f / %-8.2f %10.1f / %-8.2f\n", p->name, p->cores, p->peak_gflops, p->core_gflops,
               p->bandwidth_gbs, p->core_bandwidth_gbs);
    }
    for (int i = 0; i < hr_edge_profile_count(); i++) {
        const hr_edge_profile *p = hr_edge_profile_get(i);
        printf("\n%s: %s\n  figures: %s\n  sources: %s\n", p->name, p->description, p->derating, p->source);
    }
    printf("\nGFLOP/s: float32 GEMM-class; GB/s: copy, bytes read + written. Reasoning: docs/EDGE_PROFILES.md\n");
    printf("\n%-16s %14s %12s\n", "link profile", "Mbit/s", "ms/transfer");
    for (int i = 0; i < hr_link_profile_count(); i++) {
        const hr_link_profile *p = hr_link_profile_get(i);
        printf("%-16s %14.1f %12.2f  %s\n", p->name, p->bandwidth_mbit_s, p->latency_ms, p->description);
    }
    printf("Sources and assumptions: docs/LINK_PROFILES.md\n");
    return 0;
}

int hr_cmd_lut(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "measure") == 0)
        return hr_cli_has_option(argc - 1, argv + 1, "--remote", NULL) ? hr_cmd_lut_remote(argc - 1, argv + 1)
                                                                       : cmd_measure(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "profiles") == 0)
        return cmd_profiles(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_help(stdout);
        return 0;
    }
    if (argc >= 2)
        hr_cli_fail("lut", "unknown subcommand '%s' (measure, merge or profiles)", argv[1]);
    print_help(stderr);
    return 2;
}
