/* hyperrep pipeline: every step for the embedded default (Fashion-MNIST) in
 * pseudo mode from one command — base model, code 1, code 2, step 1 (the
 * roofline, server and client LUTs measured here, the client turned into an
 * emulation of a named edge device, the merge on a named link, the γ
 * report), step 2, step 3 for every domain, step 4 — each step a subcommand run in
 * this process with the settings of an INI file (libinih) overridden by
 * flags. Resumable: finished steps are reused, step 3 resumes from its
 * checkpoints. */
#include <getopt.h>
#include <ini.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "run.h"
#include "mpi_dist.h"
#include "train_common.h"

/* The default scenario (SPEC 13.3): a Raspberry Pi 4 class edge (its
 * one-core emulation here is well over 5x slower than one core of a current
 * server; `lut profiles` and docs/EDGE_PROFILES.md) on 802.11n Wi-Fi. */
#define HR_PIPELINE_EDGE_DEFAULT "rpi4"
#define HR_PIPELINE_LINK_DEFAULT "wifi-n"

static const char *help =
    "usage: hyperrep pipeline [--quick] [--domains 0-9] [--config FILE] [--threads N]\n"
    "                         [--client-lut FILE] [--dry-run] [-o DIR]\n"
    "\n"
    "Runs every step for the embedded default (Fashion-MNIST, repvgg-fmnist) in pseudo\n"
    "mode: base model (trained, or reused from DIR/base.safetensors), code 1\n"
    "(train-hyper), code 2 (importance), step 1 (this machine's roofline, the server\n"
    "LUT on --threads threads, the client LUT measured on [lut] client_threads and\n"
    "turned into an emulation of the [edge] device, merged with the [link] and\n"
    "written up as DIR/full_gamma_analysis.md), step 2 (optimize --method all),\n"
    "step 3 (joint, progressive) for every domain, step 4 (plot). Finished steps are\n"
    "reused; step 3 resumes from its checkpoints.\n"
    "\n"
    "The scenario (SPEC 13.3): the server is this machine; the edge, by default, a\n"
    "Raspberry Pi 4 ([edge] profile = rpi4, docs/EDGE_PROFILES.md); the link, by\n"
    "default, 802.11n Wi-Fi ([link] profile = wifi-n, docs/LINK_PROFILES.md). The\n"
    "LUT files, DIR/pipeline_info.json and the report say so.\n"
    "--client-lut FILE takes a real device's client LUT (lut_client.json measured on\n"
    "it) instead of an emulated one.\n"
    "\n"
    "--quick reduces (all samples are still used): base 3 epochs, code 1 one epoch,\n"
    "step 3 2 rounds, pool 3, 1 epoch per candidate, 100 optimizer steps, LUT 5\n"
    "repeats. Without it: all samples, base 10 epochs, and the original's settings\n"
    "(10 rounds, pool 10, 3 epochs, threshold 2, 800 steps).\n"
    "\n"
    "--config FILE: INI holding defaults (configs/original.ini lists every key);\n"
    "flags override it; an unknown key or a bad value is an error naming the file,\n"
    "line and key. Sections and keys:\n"
    "  [pipeline]  model, data, seed, threads, max_samples, domains\n"
    "  [base]      epochs, batch\n"
    "  [hyper]     epochs, batch, lr, momentum, l1\n"
    "  [joint]     rounds, pool, epochs, threshold, guard (bound | point: the\n"
    "              original's point rule on the whole validation part)\n"
    "  [optimizer] steps, lr, sigma, objective, head\n"
    "  [lut]       warmup, repeat, passes, span_s (the passes spread over at least\n"
    "              this many seconds), stat (min, median or mean; default min),\n"
    "              client_threads, knee_server, knee_client\n"
    "              (a knee given here overrides the measured one: roofline.source\n"
    "              \"override\", roofline.measured false)\n"
    "  [edge]      profile (see `hyperrep lut profiles`) | slowdown F (a flat factor\n"
    "              >= 1 on this machine's times) | client_lut FILE (a real device)\n"
    "  [link]      profile (wifi-n, wifi-n-2x2, ethernet-1g) | bandwidth_mbit and\n"
    "              latency_ms\n"
    "  [real]      port (recorded in pipeline_info.json; real mode is not part of the\n"
    "              pipeline)\n"
    "The keys [lut] client_slowdown, bandwidth_mbit and latency_ms moved to [edge]\n"
    "slowdown and [link] bandwidth_mbit / latency_ms; the old names are an error.\n"
    "--dry-run prints every step's command line after reading the config.\n";

typedef struct cfg {
    char model[64], data[256], objective[16], head[16], domains[32], edge_profile[32], link_profile[32],
        client_lut[1024], guard[16], stat[16];
    long long seed, threads, max_samples, base_epochs, base_batch, hyper_epochs, hyper_batch, rounds, pool,
        joint_epochs, steps, warmup, repeat, passes, client_threads, port;
    double hyper_lr, hyper_momentum, l1, threshold, opt_lr, sigma, bandwidth, latency, knee_server, knee_client,
        edge_slowdown, span_s;
    int knee_server_set, knee_client_set, bandwidth_set, latency_set, edge_set, link_set;
    const char *file;
    char errkey[160];
} cfg;

static int parse_ll(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < lo || x > hi)
        return 0;
    *out = x;
    return 1;
}

static int parse_d(const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi))
        return 0;
    *out = x;
    return 1;
}

static int copy_s(const char *v, char *dst, size_t size)
{
    if (!*v || strlen(v) >= size)
        return 0;
    memcpy(dst, v, strlen(v) + 1);
    return 1;
}

/* Keys that moved in SPEC 13.3, with their new place. */
static const char *moved_key(const char *sec, const char *key)
{
    if (strcmp(sec, "lut") != 0)
        return NULL;
    if (strcmp(key, "client_slowdown") == 0)
        return "[edge] slowdown (or [edge] profile for a named device)";
    if (strcmp(key, "bandwidth_mbit") == 0)
        return "[link] bandwidth_mbit (or [link] profile)";
    if (strcmp(key, "latency_ms") == 0)
        return "[link] latency_ms (or [link] profile)";
    return NULL;
}

/* inih handler: 1 when the key is known and its value valid. */
static int on_key(void *user, const char *sec, const char *key, const char *val)
{
    cfg *c = user;
    int ok = -1;
    const char *moved = moved_key(sec, key);
    if (moved) {
        snprintf(c->errkey, sizeof c->errkey, "[%s] %s has moved to %s", sec, key, moved);
        return 0;
    }
#define IS(s, k) (strcmp(sec, s) == 0 && strcmp(key, k) == 0)
    if (IS("pipeline", "model")) ok = copy_s(val, c->model, sizeof c->model);
    else if (IS("pipeline", "data")) ok = copy_s(val, c->data, sizeof c->data);
    else if (IS("pipeline", "seed")) ok = parse_ll(val, 0, INT64_MAX, &c->seed);
    else if (IS("pipeline", "threads")) ok = parse_ll(val, 1, 1024, &c->threads);
    else if (IS("pipeline", "max_samples")) ok = parse_ll(val, 0, INT64_MAX, &c->max_samples);
    else if (IS("pipeline", "domains")) ok = copy_s(val, c->domains, sizeof c->domains);
    else if (IS("base", "epochs")) ok = parse_ll(val, 1, 100000, &c->base_epochs);
    else if (IS("base", "batch")) ok = parse_ll(val, 1, 65536, &c->base_batch);
    else if (IS("hyper", "epochs")) ok = parse_ll(val, 1, 64, &c->hyper_epochs);
    else if (IS("hyper", "batch")) ok = parse_ll(val, 1, 65536, &c->hyper_batch);
    else if (IS("hyper", "lr")) ok = parse_d(val, 0, 100, &c->hyper_lr);
    else if (IS("hyper", "momentum")) ok = parse_d(val, 0, 0.999999, &c->hyper_momentum);
    else if (IS("hyper", "l1")) ok = parse_d(val, 0, 100, &c->l1);
    else if (IS("joint", "rounds")) ok = parse_ll(val, 0, 100000, &c->rounds);
    else if (IS("joint", "pool")) ok = parse_ll(val, 1, 100000, &c->pool);
    else if (IS("joint", "epochs")) ok = parse_ll(val, 1, 64, &c->joint_epochs);
    else if (IS("joint", "threshold")) ok = parse_d(val, 0, 100, &c->threshold);
    else if (IS("joint", "guard"))
        ok = (!strcmp(val, "bound") || !strcmp(val, "point")) && copy_s(val, c->guard, sizeof c->guard);
    else if (IS("optimizer", "steps")) ok = parse_ll(val, 0, 100000000, &c->steps);
    else if (IS("optimizer", "lr")) ok = parse_d(val, 0, 100, &c->opt_lr);
    else if (IS("optimizer", "sigma")) ok = parse_d(val, 0, 1e6, &c->sigma);
    else if (IS("optimizer", "objective"))
        ok = (!strcmp(val, "latency") || !strcmp(val, "cycle") || !strcmp(val, "eff")) &&
             copy_s(val, c->objective, sizeof c->objective);
    else if (IS("optimizer", "head"))
        ok = (!strcmp(val, "client") || !strcmp(val, "server")) && copy_s(val, c->head, sizeof c->head);
    else if (IS("lut", "warmup")) ok = parse_ll(val, 0, 1000000, &c->warmup);
    else if (IS("lut", "repeat")) ok = parse_ll(val, 1, 1000000, &c->repeat);
    else if (IS("lut", "passes")) ok = parse_ll(val, 1, 1000000, &c->passes);
    else if (IS("lut", "span_s")) ok = parse_d(val, 0, 86400, &c->span_s);
    else if (IS("lut", "stat")) ok = hr_lut_stat_parse(val) >= 0 && copy_s(val, c->stat, sizeof c->stat);
    else if (IS("lut", "client_threads")) ok = parse_ll(val, 1, 1024, &c->client_threads);
    else if (IS("lut", "knee_server")) ok = (c->knee_server_set = parse_d(val, 1e-6, 1e6, &c->knee_server));
    else if (IS("lut", "knee_client")) ok = (c->knee_client_set = parse_d(val, 1e-6, 1e6, &c->knee_client));
    else if (IS("edge", "profile")) {
        const hr_edge_profile *prof;
        ok = hr_edge_profile_find(val, &prof, NULL) == HR_OK && copy_s(prof->name, c->edge_profile,
                                                                        sizeof c->edge_profile);
        c->edge_set |= 1;
    } else if (IS("edge", "slowdown")) {
        ok = parse_d(val, 1, 1e6, &c->edge_slowdown);
        c->edge_set |= 2;
    } else if (IS("edge", "client_lut")) ok = copy_s(val, c->client_lut, sizeof c->client_lut);
    else if (IS("link", "profile")) {
        const hr_link_profile *prof;
        ok = hr_link_profile_find(val, &prof, NULL) == HR_OK && copy_s(prof->name, c->link_profile,
                                                                        sizeof c->link_profile);
        c->link_set = 1;
    } else if (IS("link", "bandwidth_mbit")) ok = (c->bandwidth_set = parse_d(val, 1e-6, 1e9, &c->bandwidth));
    else if (IS("link", "latency_ms")) ok = (c->latency_set = parse_d(val, 0, 1e6, &c->latency));
    else if (IS("real", "port")) ok = parse_ll(val, 1, 65535, &c->port);
#undef IS
    if (ok != 1)
        snprintf(c->errkey, sizeof c->errkey, "%s [%s] %s = '%.40s'", ok < 0 ? "unknown key" : "bad value", sec, key,
                 val);
    return ok == 1;
}

static void defaults(cfg *c, int quick)
{
    memset(c, 0, sizeof *c);
    strcpy(c->model, "repvgg-fmnist");
    strcpy(c->data, "fashion-mnist");
    strcpy(c->objective, "latency");
    strcpy(c->head, "client");
    strcpy(c->guard, "bound");
    strcpy(c->domains, "0-9");
    c->seed = 42, c->threads = 2, c->max_samples = 0;
    c->base_epochs = quick ? 3 : 10, c->base_batch = 64;
    c->hyper_epochs = quick ? 1 : 3, c->hyper_batch = 32, c->hyper_lr = 0.01, c->hyper_momentum = 0.9, c->l1 = 0.001;
    c->rounds = quick ? 2 : 10, c->pool = quick ? 3 : 10, c->joint_epochs = quick ? 1 : 3, c->threshold = 2;
    c->steps = quick ? 100 : 800, c->opt_lr = 0.01, c->sigma = 5;
    /* Many runs in several passes and the fastest of them (SPEC 13.1): on a
       shared machine the median of one measurement can land in a slow mode
       and the next one's in the fast mode (bench/lut_stability.sh). A
       repvgg-fmnist LUT takes well under a second even so. */
    c->warmup = quick ? 2 : 10, c->repeat = quick ? 50 : 100, c->passes = quick ? 5 : 10, c->client_threads = 1;
    c->span_s = quick ? 5 : 20;
    strcpy(c->stat, "min");
    c->knee_server = 25.15, c->knee_client = 16.1, c->port = 6006;
    strcpy(c->edge_profile, HR_PIPELINE_EDGE_DEFAULT);
    strcpy(c->link_profile, HR_PIPELINE_LINK_DEFAULT);
}

static int dry_run;

/* Prints a step as the command line that repeats it (quoted where a shell
 * would split or expand an argument, so the line can be pasted). */
static int show(const char *label, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    printf("== %s:", label);
    for (int i = 0; i < argc; i++)
        printf(strpbrk(argv[i], " \t'\"$*?()&;|<>") ? " '%s'" : " %s", argv[i]);
    printf("\n");
    fflush(stdout);
    return argc;
}

static int step_done(const char *label, int rc)
{
    fflush(stdout);
    if (rc != 0)
        hr_cli_fail("pipeline", "step '%s' failed (exit %d)", label, rc);
    return rc == 0;
}

/* Runs one subcommand in-process with a NULL-terminated argument list
 * (prints it only under --dry-run). */
static int step(const char *label, int (*fn)(int, char **), char **argv)
{
    int argc = show(label, argv);
    return dry_run || step_done(label, fn(argc, argv));
}

/* A step the library runs from a parameter struct; argv is the command line
 * that does the same, shown for the record. */
static int step_lib(const char *label, char **argv, int (*run)(void *), void *params)
{
    show(label, argv);
    return dry_run || step_done(label, run(params));
}

static int run_train_base(void *p) { return hr_cli_run_train_base(p); }
typedef struct hyper_step {
    hr_train_hyper_params p;
    const char *outdir;
} hyper_step;

static int run_train_hyper(void *h) { return hr_cli_run_train_hyper(&((hyper_step *)h)->p, ((hyper_step *)h)->outdir); }
static int run_plot(void *p) { return hr_cli_run_plot(p); }
static int run_importance(void *p) { return hr_cli_run_importance(p); }

static int exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* The scenario's settings after the INI: one edge and one link, each either
 * named or given by numbers, never both. 1 when consistent. */
static int resolve_scenario(cfg *c, const char *client_lut_flag)
{
    if (client_lut_flag && strlen(client_lut_flag) < sizeof c->client_lut)
        strcpy(c->client_lut, client_lut_flag);
    if (c->edge_set == 3) {
        hr_cli_fail("pipeline", "%s: [edge] profile and [edge] slowdown are exclusive (one edge device)", c->file);
        return 0;
    }
    if (c->client_lut[0] && c->edge_set) {
        hr_cli_fail("pipeline", "the client LUT %s is a real device's: it takes no [edge] profile or slowdown",
                    c->client_lut);
        return 0;
    }
    if (c->edge_set == 2 || c->client_lut[0])
        c->edge_profile[0] = 0;
    if (c->bandwidth_set || c->latency_set) {
        if (!(c->bandwidth_set && c->latency_set)) {
            hr_cli_fail("pipeline", "%s: [link] bandwidth_mbit and latency_ms go together", c->file);
            return 0;
        }
        if (c->link_set) {
            hr_cli_fail("pipeline", "%s: [link] profile and [link] bandwidth_mbit/latency_ms are exclusive", c->file);
            return 0;
        }
        c->link_profile[0] = 0;
    } else {
        const hr_link_profile *lp;
        if (hr_link_profile_find(c->link_profile, &lp, NULL) != HR_OK)
            return 0;
        c->bandwidth = lp->bandwidth_mbit_s;
        c->latency = lp->latency_ms;
    }
    return 1;
}

/* One line naming the emulated or real edge, for the LUT files and
 * pipeline_info.json. */
static void describe_edge(const cfg *c, char *buf, size_t size)
{
    if (c->client_lut[0])
        snprintf(buf, size, "a real device's LUT: %s", c->client_lut);
    else if (c->edge_profile[0])
        snprintf(buf, size, "emulated: edge profile %s on this machine's %lld-thread measurement", c->edge_profile,
                 c->client_threads);
    else
        snprintf(buf, size, "emulated: this machine, %lld thread(s), times x %.15g (flat slowdown)", c->client_threads,
                 c->edge_slowdown);
}

int hr_cmd_pipeline(int argc, char **argv)
{
    static const struct option opts[] = {{"quick", no_argument, 0, 'q'},        {"domains", required_argument, 0, 'D'},
                                         {"config", required_argument, 0, 'c'}, {"threads", required_argument, 0, 't'},
                                         {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
                                         {"dry-run", no_argument, 0, 'n'},      {"client-lut", required_argument, 0, 'L'},
                                         {0, 0, 0, 0}};
    const char *config = NULL, *outdir = "results", *domains = NULL, *client_lut = NULL;
    int quick = 0, c;
    int64_t threads = 0;
    cfg cf;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'q': quick = 1; break;
        case 'n': dry_run = 1; break;
        case 'D': domains = optarg; break;
        case 'c': config = optarg; break;
        case 'o': outdir = optarg; break;
        case 'L': client_lut = optarg; break;
        case 't': if (!hr_cli_parse_i64("pipeline", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind < argc) {
        hr_cli_fail("pipeline", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    /* every rank would run every step and write the same files, and MPI can
       start only once per process while step 3 runs once per domain */
    int launched = hr_cli_mpi_launched();
    if (launched != 0 && launched != 1) {
        hr_cli_fail("pipeline", "runs in one process: start it without mpirun, or spread step 3 with "
                    "`mpirun -np N hyperrep joint ...` per domain");
        return 2;
    }
    defaults(&cf, quick);
    cf.file = config ? config : "defaults";
    if (config) {
        int line = ini_parse(config, on_key, &cf);
        if (line < 0) {
            hr_cli_fail("pipeline", "%s: cannot read the config file", config);
            return 1;
        }
        if (line > 0) {
            hr_cli_fail("pipeline", "%s:%d: %s", config, line, cf.errkey[0] ? cf.errkey : "syntax error");
            return 1;
        }
    }
    if (client_lut && strlen(client_lut) >= sizeof cf.client_lut) {
        hr_cli_fail("pipeline", "--client-lut: the path is longer than %zu bytes", sizeof cf.client_lut - 1);
        return 2;
    }
    if (!resolve_scenario(&cf, client_lut))
        return 2;
    if (threads)
        cf.threads = threads;
    if (domains && strlen(domains) < sizeof cf.domains)
        strcpy(cf.domains, domains);
    unsigned dmask;
    hr_error derr = {0};
    if (hr_domains_parse(cf.domains, &dmask, &derr)) {
        hr_cli_fail("pipeline", "--domains: %s", derr.msg);
        return 2;
    }
    if (!dry_run && cf.client_lut[0] && !exists(cf.client_lut)) {
        hr_cli_fail("pipeline", "client LUT %s cannot be read", cf.client_lut);
        return 1;
    }
    if (!dry_run && !hr_cli_mkdirs("pipeline", outdir))
        return 1;

    char base[1024], t1[1024], t1w[1100], t2[1024], ls[1024], lc[1024], lut[1024], opt[1024], jdir[1024],
        roof_s[1024], roof_h[1024], gamma_md[1024];
    char thr[16], cthr[16], ms[32], seed[32], be[16], bb[16], he[16], hb[16], hlr[32], hm[32], l1[32], rounds[16],
        pool[16], je[16], thresh[32], steps[16], olr[32], wu[16], rep[16], pas[16], span[32], bw[32], lat[32], dom[8], sig[32], slow[32],
        kns[32], knc[32], edge[1200];
    snprintf(base, sizeof base, "%s/base.safetensors", outdir);
    snprintf(t1, sizeof t1, "%s/task1_trained_weights_%s", outdir, cf.model);
    snprintf(t1w, sizeof t1w, "%s/trained_hyper_weights.json", t1);
    snprintf(t2, sizeof t2, "%s/task2_importance_rankings_%s", outdir, cf.model);
    snprintf(ls, sizeof ls, "%s/lut_server.json", outdir);
    snprintf(lc, sizeof lc, "%s/lut_client.json", outdir);
    snprintf(lut, sizeof lut, "%s/hardware_lut_complete.json", outdir);
    snprintf(opt, sizeof opt, "%s/initial_throughput_config.json", outdir);
    snprintf(jdir, sizeof jdir, "%s/joint_optimization", outdir);
    snprintf(roof_s, sizeof roof_s, "%s/roofline_server.json", outdir);
    snprintf(roof_h, sizeof roof_h, "%s/roofline_host_client_threads.json", outdir);
    snprintf(gamma_md, sizeof gamma_md, "%s/full_gamma_analysis.md", outdir);
    snprintf(thr, sizeof thr, "%lld", cf.threads);
    snprintf(cthr, sizeof cthr, "%lld", cf.client_threads);
    snprintf(slow, sizeof slow, "%.15g", cf.edge_slowdown);
    snprintf(kns, sizeof kns, "%.15g", cf.knee_server);
    snprintf(knc, sizeof knc, "%.15g", cf.knee_client);
    describe_edge(&cf, edge, sizeof edge);
    snprintf(ms, sizeof ms, "%lld", cf.max_samples);
    snprintf(seed, sizeof seed, "%lld", cf.seed);
    snprintf(be, sizeof be, "%lld", cf.base_epochs);
    snprintf(bb, sizeof bb, "%lld", cf.base_batch);
    snprintf(he, sizeof he, "%lld", cf.hyper_epochs);
    snprintf(hb, sizeof hb, "%lld", cf.hyper_batch);
    snprintf(hlr, sizeof hlr, "%.15g", cf.hyper_lr);
    snprintf(hm, sizeof hm, "%.15g", cf.hyper_momentum);
    snprintf(l1, sizeof l1, "%.15g", cf.l1);
    snprintf(rounds, sizeof rounds, "%lld", cf.rounds);
    snprintf(pool, sizeof pool, "%lld", cf.pool);
    snprintf(je, sizeof je, "%lld", cf.joint_epochs);
    snprintf(thresh, sizeof thresh, "%.15g", cf.threshold);
    snprintf(steps, sizeof steps, "%lld", cf.steps);
    snprintf(olr, sizeof olr, "%.15g", cf.opt_lr);
    snprintf(sig, sizeof sig, "%.15g", cf.sigma);
    snprintf(wu, sizeof wu, "%lld", cf.warmup);
    snprintf(rep, sizeof rep, "%lld", cf.repeat);
    snprintf(pas, sizeof pas, "%lld", cf.passes);
    snprintf(span, sizeof span, "%.15g", cf.span_s);
    snprintf(bw, sizeof bw, "%.15g", cf.bandwidth);
    snprintf(lat, sizeof lat, "%.15g", cf.latency);
    /* --max-samples 0 means all: leave the flag out */
    char *msf = cf.max_samples > 0 ? "--max-samples" : NULL;
    double t0 = hr_cli_now_ms();

    if (dry_run)
        printf("dry run: the steps with their settings (nothing runs, nothing is written)\n");
    printf("== scenario: server = this machine (%s thread(s)); edge = %s; link = %s (%s Mbit/s, %s ms)\n", thr, edge,
           cf.link_profile[0] ? cf.link_profile : "given in the config", bw, lat);
    if (!exists(base) || dry_run) {
        char *a[] = {"train-base", "--model", cf.model, "--data", cf.data, "--epochs", be, "--batch", bb, "--threads",
                     thr, "--seed", seed, "-o", base, msf, ms, NULL};
        hr_train_base_params tb = hr_train_base_params_default();
        tb.arch = cf.model;
        tb.data.source = cf.data;
        tb.data.load.max_samples = cf.max_samples > 0 ? cf.max_samples : tb.data.load.max_samples;
        tb.epochs = cf.base_epochs;
        tb.batch = cf.base_batch;
        tb.threads = (int)cf.threads;
        tb.seed = (uint64_t)cf.seed;
        tb.output = base;
        if (!step_lib("base model", a, run_train_base, &tb))
            return 1;
    } else {
        printf("== base model: reusing %s\n", base);
    }
    if (!exists(t1w) || dry_run) {
        char *a[] = {"train-hyper", "--model", cf.model, "--weights", base, "--data", cf.data, "--epochs", he, "--batch",
                     hb, "--lr", hlr, "--momentum", hm, "--l1", l1, "--threads", thr, "--seed", seed, "-o", t1, msf,
                     ms, NULL};
        hyper_step th = {hr_train_hyper_params_default(), t1};
        th.p.arch = cf.model;
        th.p.weights = base;
        th.p.data.source = cf.data;
        th.p.data.load.max_samples = cf.max_samples > 0 ? cf.max_samples : th.p.data.load.max_samples;
        th.p.epochs = cf.hyper_epochs;
        th.p.batch = cf.hyper_batch;
        th.p.lr = cf.hyper_lr;
        th.p.momentum = cf.hyper_momentum;
        th.p.l1 = cf.l1;
        th.p.threads = (int)cf.threads;
        th.p.seed = (uint64_t)cf.seed;
        if (!step_lib("code 1", a, run_train_hyper, &th))
            return 1;
    } else {
        printf("== code 1: reusing %s\n", t1w);
    }
    {
        char *a[] = {"importance", "--model", cf.model, "--alpha", t1w, "-o", t2, NULL};
        hr_joint_importance_params ip = hr_joint_importance_params_default();
        ip.arch = cf.model;
        ip.alpha = t1w;
        ip.outdir = t2;
        if (!step_lib("code 2", a, run_importance, &ip))
            return 1;
    }
    if (!exists(lut) || dry_run) {
        /* the server's knee is measured unless the config overrides it */
        if (!cf.knee_server_set) {
            char *a[] = {"roofline", "--threads", thr, "-o", roof_s, NULL};
            if (!step("step 1 server roofline", hr_cmd_roofline, a))
                return 1;
        }
        char *s[] = {"lut", "measure", "--role", "server", "--model", cf.model, "--weights", base, "--threads", thr,
                     "--warmup", wu, "--repeat", rep, "--passes", pas, "--span-s", span, "-o", ls, NULL};
        if (!step("step 1 server LUT", hr_cmd_lut, s))
            return 1;
        const char *client = lc;
        if (cf.client_lut[0]) {
            client = cf.client_lut;
            printf("== step 1 client LUT: a real device's, %s\n", client);
        } else if (cf.edge_profile[0]) {
            /* the profile's factors compare with this machine's roofline at
               the client's thread count */
            char *r[] = {"roofline", "--threads", cthr, "-o", roof_h, NULL};
            char *cl[] = {"lut", "measure", "--role", "client", "--model", cf.model, "--weights", base, "--threads",
                          cthr, "--warmup", wu, "--repeat", rep, "--passes", pas, "--span-s", span, "--edge", cf.edge_profile, "--roofline", roof_h,
                          "-o", lc, NULL};
            if (!step("step 1 this machine's roofline at the client's threads", hr_cmd_roofline, r) ||
                !step("step 1 client LUT (emulated edge)", hr_cmd_lut, cl))
                return 1;
        } else {
            char *cl[] = {"lut", "measure", "--role", "client", "--model", cf.model, "--weights", base, "--threads",
                          cthr, "--warmup", wu, "--repeat", rep, "--passes", pas, "--span-s", span, "--edge-slowdown", slow, "-o", lc, NULL};
            if (!step("step 1 client LUT (emulated edge)", hr_cmd_lut, cl))
                return 1;
        }
        char *mg[24] = {"lut", "merge", "--server-lut", ls, "--client-lut", (char *)client, "--stat", cf.stat};
        int n = 8;
        if (cf.link_profile[0]) {
            mg[n++] = "--link-profile";
            mg[n++] = cf.link_profile;
        } else {
            mg[n++] = "--bandwidth-mbit";
            mg[n++] = bw;
            mg[n++] = "--latency-ms";
            mg[n++] = lat;
        }
        if (cf.knee_server_set) {
            mg[n++] = "--knee-server";
            mg[n++] = kns;
        } else {
            mg[n++] = "--roofline-server";
            mg[n++] = roof_s;
        }
        if (cf.knee_client_set) {
            mg[n++] = "--knee-client";
            mg[n++] = knc;
        }
        mg[n++] = "-o";
        mg[n++] = lut;
        mg[n] = NULL;
        if (!step("step 1 merge", hr_cmd_lut, mg))
            return 1;
    } else {
        printf("== step 1: reusing %s\n", lut);
    }
    if (!exists(gamma_md) || dry_run) {
        char *a[] = {"report", "gamma", "--lut", lut, "-o", gamma_md, NULL};
        if (!step("step 1 gamma report", hr_cmd_report, a))
            return 1;
    }
    {
        char *a[] = {"optimize", "--lut", lut, "--method", "all", "--steps", steps, "--lr", olr, "--sigma", sig,
                     "--objective", cf.objective, "--head", cf.head, "--quiet", "-o", opt, NULL};
        if (!step("step 2", hr_cmd_optimize, a))
            return 1;
    }
    for (int k = 0; k < HR_NUM_DOMAINS; k++) {
        if (!(dmask & 1u << k))
            continue;
        snprintf(dom, sizeof dom, "%d", k);
        char *a[] = {"joint", "--domain", dom, "--model", cf.model, "--weights", base, "--alpha", t1w, "--lut", lut,
                     "--data", cf.data, "--rounds", rounds, "--pool", pool, "--epochs", je, "--threshold", thresh,
                     "--batch", hb, "--lr", hlr, "--momentum", hm, "--l1", l1, "--seed", seed, "--threads", thr,
                     "--steps", steps, "--objective", cf.objective, "--head", cf.head, "--guard", cf.guard, "-o", jdir,
                     msf, ms, NULL};
        if (!step("step 3", hr_cmd_joint, a))
            return 1;
    }
    {
        char odir[1024];
        snprintf(odir, sizeof odir, "%s", outdir);
        char *a[] = {"plot", "--results", odir, NULL};
        hr_plot_results_params pr = hr_plot_results_params_default();
        pr.results = odir;
        if (!step_lib("step 4", a, run_plot, &pr))
            return 1;
    }
    {
        char ts[32], path[1100];
        if (dry_run)
            return 0;
        snprintf(path, sizeof path, "%s/pipeline_info.json", outdir);
        json_t *info = json_pack(
            "{s:s, s:s, s:b, s:s?, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:{s:I, s:I}, s:{s:I, s:f, s:f}, "
            "s:{s:I, s:I, s:I, s:f, s:s}, s:{s:I, s:f}, s:{s:I, s:I, s:I, s:f, s:s, s:I, s:o, s:o}, "
            "s:{s:s, s:s?, s:o, s:s?}, s:{s:s?, s:f, s:f}, s:{s:I}, s:f}",
            "command", "pipeline", "timestamp", hr_cli_timestamp(ts, sizeof ts), "quick", quick, "config", config,
            "model", cf.model, "data", cf.data, "seed", (json_int_t)cf.seed, "threads", (json_int_t)cf.threads,
            "max_samples", (json_int_t)cf.max_samples, "domains", cf.domains, "orientation",
            strcmp(cf.head, "client") == 0 ? "head = client (stage 0 and the first blocks on the client)"
                                           : "head = server",
            "base", "epochs", (json_int_t)cf.base_epochs, "batch", (json_int_t)cf.base_batch, "hyper", "epochs",
            (json_int_t)cf.hyper_epochs, "lr", cf.hyper_lr, "l1", cf.l1, "joint", "rounds", (json_int_t)cf.rounds,
            "pool", (json_int_t)cf.pool, "epochs", (json_int_t)cf.joint_epochs, "threshold", cf.threshold, "guard",
            cf.guard, "optimizer", "steps", (json_int_t)cf.steps, "lr", cf.opt_lr, "lut", "warmup", (json_int_t)cf.warmup,
            "repeat", (json_int_t)cf.repeat, "passes", (json_int_t)cf.passes, "span_s", cf.span_s, "stat", cf.stat, "client_threads",
            (json_int_t)cf.client_threads, "knee_server",
            cf.knee_server_set ? json_real(cf.knee_server) : json_null(), "knee_client",
            cf.knee_client_set ? json_real(cf.knee_client) : json_null(), "edge", "description", edge, "profile",
            cf.edge_profile[0] ? cf.edge_profile : NULL, "slowdown",
            cf.edge_profile[0] || cf.client_lut[0] ? json_null() : json_real(cf.edge_slowdown), "client_lut",
            cf.client_lut[0] ? cf.client_lut : NULL, "link", "profile", cf.link_profile[0] ? cf.link_profile : NULL,
            "bandwidth_mbit", cf.bandwidth, "latency_ms", cf.latency, "real", "port", (json_int_t)cf.port, "wall_s",
            (hr_cli_now_ms() - t0) / 1000.0);
        int ok = info && hr_cli_write_run_info("pipeline", path, info);
        json_decref(info);
        if (!ok)
            return 1;
        printf("pipeline done in %.1f s; outputs in %s/\n", (hr_cli_now_ms() - t0) / 1000.0, outdir);
    }
    return 0;
}
