/* hyperrep optimize: step 2 and the split search on a merged LUT (SPEC §6). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/optim.h"

static const char *help =
    "usage: hyperrep optimize --lut hardware_lut_complete.json [--method gd|grid|exact|all]\n"
    "         [--objective latency|cycle|eff] [--omega W] [--head client|server]\n"
    "         [--mask exact|subset] [--pruned FILE [--pruning-threshold T] [--domain K]]\n"
    "         [--steps 800] [--lambda S | --lambda-init N|mid|exact|VALUE] [--z-offset 0.5]\n"
    "         [--sigma 5] [--link-streams] [--intensity activations|weights] [--lr 0.01]\n"
    "         [--omega-rc W] [--omega-rs W]\n"
    "         [--min-split A] [--max-split B]\n"
    "         [--bandwidth-mbit B] [--latency-ms L] [--per-message-ms M]\n"
    "         [-o initial_throughput_config.json] [--quiet]\n"
    "\n"
    "Chooses a gamma per block and where to cut the network between the head\n"
    "device (stage 0 and blocks [0, s)) and the tail (blocks [s, N) and the\n"
    "classifier), from the LUT's measured times, and writes the original's\n"
    "initial_throughput_config.json fields plus every method's LUT-evaluated\n"
    "result (head/link/tail ms, latency, cycle, fps, gap to the exact optimum).\n"
    "  --method       gd: the paper's gradient method (the original's step 2);\n"
    "                 grid: gd with lambda fixed at each split of a range;\n"
    "                 exact: the true optimum over raw, s = 0..N and local;\n"
    "                 all (default): the three; the file's top-level fields\n"
    "                 come from gd, else grid, else exact\n"
    "  --objective    latency (default): head + link + tail; cycle: max of the\n"
    "                 three with the link's occupancy (pipelined stream);\n"
    "                 eff: omega*latency + (1-omega)*cycle (--omega, default 0.5)\n"
    "  --head         which device holds the input and runs the first blocks:\n"
    "                 client (default) or server (the original's orientation)\n"
    "  --mask         exact (default): a gamma must use exactly the live\n"
    "                 branches; subset: the original's, may drop live branches\n"
    "                 (changes the network's function; the output says so)\n"
    "  --pruned FILE  a list of pruned names (\"stage2.3.hyper_dense\", ...), a\n"
    "                 joint result (its pruned_weights) or a JSON object of\n"
    "                 alpha values (pruned when |alpha| < --pruning-threshold,\n"
    "                 default 0.01; --domain K picks domain_K of a per-domain file)\n"
    "  --steps N      gradient steps (default 800); --lr sets both rates (0.01)\n"
    "  --lambda S     fix lambda at split S (0..N) instead of learning it\n"
    "  --lambda-init  start of a learnable lambda: a number (default 10, the\n"
    "                 original's, clamped into 0..N), N, mid or exact (the exact\n"
    "                 solver's split)\n"
    "  --z-offset X   soft split z_k = sigmoid(sigma(k + X - lambda)); 0.5\n"
    "                 (default) puts lambda = s between blocks s-1 and s, 0\n"
    "                 reproduces the original\n"
    "  --link-streams price the crossing tensor like the original (interpolated\n"
    "                 Comm_size at the expected stream count)\n"
    "  --intensity    bytes in the intensity terms: activations (default, the\n"
    "                 original's) or weights (activations + kernel weights)\n"
    "  --omega-rc/-rs weights of the tail/head roofline penalties (default 0)\n"
    "  --min-split/--max-split  grid range (default 8..15 for 27 blocks, else\n"
    "                 1..N-1); a range reaching outside 0..N is clamped with a\n"
    "                 warning\n"
    "  --bandwidth-mbit, --latency-ms, --per-message-ms  override the LUT's link\n"
    "                 (Mbit/s, ms per transfer, ms of link occupancy per message)\n"
    "  -o FILE        output (default initial_throughput_config.json)\n"
    "  --quiet        no summary table on stdout\n";

/* Parses a finite double in [lo, hi]; prints an error naming the flag. */
static int parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        hr_cli_fail("optimize", "%s: '%s' is not a number in [%g, %g]", flag, s, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

static const char *placement_str(int placement, char *buf, size_t size)
{
    return hr_placement_format(placement, buf, size);
}

static void print_summary(const hr_optim_problem *p, const char *lut_path, const hr_optim_result *const *res)
{
    const hr_lut *lut = hr_optim_problem_lut(p);
    const hr_optim_params *q = hr_optim_problem_params(p);
    const hr_link *l = hr_optim_problem_link(p);
    char buf[16];

    printf("LUT %s: %s, %d blocks; head = %s, mask = %s, link %.6g Mbit/s + %.6g ms; objective %s\n", lut_path,
           lut->model[0] ? lut->model : "unknown model", lut->nblocks, hr_device_name(q->head),
           q->mask == HR_MASK_EXACT ? "exact" : "subset", l->bandwidth_mbit_s, l->latency_ms,
           hr_objective_name(q->objective));
    printf("%-6s %9s %9s %9s %9s %11s %9s %8s %9s %10s %8s\n", "method", "placement", "head_ms", "link_ms", "tail_ms",
           "latency_ms", "cycle_ms", "fps", "pipe_fps", "value_ms", "gap_%");
    for (int m = 0; m < HR_METHOD_COUNT; m++) {
        const hr_optim_result *r = res[m];
        if (!r)
            continue;
        printf("%-6s %9s %9.3f %9.3f %9.3f %11.3f %9.3f %8.2f %9.2f %10.3f %8.2f\n",
               hr_optim_method_name((hr_optim_method)m), placement_str(r->eval.placement, buf, sizeof buf),
               r->eval.head_ms, r->eval.link_ms, r->eval.tail_ms, r->eval.latency_ms, r->eval.cycle_ms, r->eval.fps,
               r->eval.pipelined_fps, r->objective_value, r->gap_to_exact_pct);
    }
    for (int i = 0; i < hr_optim_problem_num_notes(p); i++)
        printf("note: %s\n", hr_optim_problem_note(p, i));
}

int hr_cmd_optimize(int argc, char **argv)
{
    enum {
        O_LUT = 256, O_METHOD, O_OBJECTIVE, O_OMEGA, O_HEAD, O_MASK, O_PRUNED, O_THRESHOLD, O_DOMAIN, O_STEPS,
        O_LAMBDA, O_LAMBDA_INIT, O_ZOFF, O_SIGMA, O_LINK_STREAMS, O_LR, O_WRC, O_WRS, O_MIN, O_MAX, O_BW, O_LAT,
        O_PERMSG, O_QUIET, O_INTENSITY
    };
    static const struct option opts[] = {
        {"lut", required_argument, 0, O_LUT},
        {"method", required_argument, 0, O_METHOD},
        {"objective", required_argument, 0, O_OBJECTIVE},
        {"omega", required_argument, 0, O_OMEGA},
        {"head", required_argument, 0, O_HEAD},
        {"mask", required_argument, 0, O_MASK},
        {"pruned", required_argument, 0, O_PRUNED},
        {"pruning-threshold", required_argument, 0, O_THRESHOLD},
        {"domain", required_argument, 0, O_DOMAIN},
        {"steps", required_argument, 0, O_STEPS},
        {"lambda", required_argument, 0, O_LAMBDA},
        {"lambda-init", required_argument, 0, O_LAMBDA_INIT},
        {"z-offset", required_argument, 0, O_ZOFF},
        {"sigma", required_argument, 0, O_SIGMA},
        {"link-streams", no_argument, 0, O_LINK_STREAMS},
        {"intensity", required_argument, 0, O_INTENSITY},
        {"lr", required_argument, 0, O_LR},
        {"omega-rc", required_argument, 0, O_WRC},
        {"omega-rs", required_argument, 0, O_WRS},
        {"min-split", required_argument, 0, O_MIN},
        {"max-split", required_argument, 0, O_MAX},
        {"bandwidth-mbit", required_argument, 0, O_BW},
        {"latency-ms", required_argument, 0, O_LAT},
        {"per-message-ms", required_argument, 0, O_PERMSG},
        {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    hr_optim_params q = hr_optim_params_default();
    hr_pruned_params pp = hr_pruned_params_default();
    const char *lut_path = NULL, *pruned = NULL, *output = "initial_throughput_config.json";
    double bw = NAN, lat = NAN, permsg = NAN, fixed_lambda = NAN, v;
    int run[HR_METHOD_COUNT] = {1, 1, 1}, quiet = 0, init_given = 0, threshold_given = 0, c, rc = 1;
    int64_t i64;
    hr_error err = {0};
    hr_lut *lut = NULL;
    hr_optim_problem *prob = NULL;
    unsigned *live = NULL;
    hr_optim_result res[HR_METHOD_COUNT];
    const hr_optim_result *done[HR_METHOD_COUNT] = {0};

    for (int m = 0; m < HR_METHOD_COUNT; m++)
        hr_optim_result_init(&res[m]);
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case O_LUT: lut_path = optarg; break;
        case O_METHOD:
            if (strcmp(optarg, "all") == 0) {
                run[0] = run[1] = run[2] = 1;
            } else {
                int m = hr_optim_method_parse(optarg);
                if (m < 0) {
                    hr_cli_fail("optimize", "--method: '%s' is not gd, grid, exact or all", optarg);
                    return 2;
                }
                run[0] = run[1] = run[2] = 0;
                run[m] = 1;
            }
            break;
        case O_OBJECTIVE: {
            int o = hr_objective_parse(optarg);
            if (o < 0) {
                hr_cli_fail("optimize", "--objective: '%s' is not latency, cycle or eff", optarg);
                return 2;
            }
            q.objective = (hr_objective)o;
            break;
        }
        case O_OMEGA:
            if (!parse_double("--omega", optarg, 0, 1, &q.eff_omega))
                return 2;
            break;
        case O_HEAD:
            if (strcmp(optarg, "client") == 0)
                q.head = HR_DEVICE_CLIENT;
            else if (strcmp(optarg, "server") == 0)
                q.head = HR_DEVICE_SERVER;
            else {
                hr_cli_fail("optimize", "--head: '%s' is not client or server", optarg);
                return 2;
            }
            break;
        case O_MASK:
            if (strcmp(optarg, "exact") == 0)
                q.mask = HR_MASK_EXACT;
            else if (strcmp(optarg, "subset") == 0)
                q.mask = HR_MASK_SUBSET;
            else {
                hr_cli_fail("optimize", "--mask: '%s' is not exact or subset", optarg);
                return 2;
            }
            break;
        case O_PRUNED: pruned = optarg; break;
        case O_THRESHOLD:
            threshold_given = 1;
            if (!parse_double("--pruning-threshold", optarg, 0, 1e300, &pp.threshold))
                return 2;
            break;
        case O_DOMAIN: pp.domain = optarg; break;
        case O_STEPS:
            if (!hr_cli_parse_i64("optimize", "--steps", optarg, 0, 100000000, &i64))
                return 2;
            q.steps = (int)i64;
            break;
        case O_LAMBDA:
            if (!parse_double("--lambda", optarg, -1e9, 1e9, &fixed_lambda))
                return 2;
            break;
        case O_LAMBDA_INIT:
            init_given = 1;
            if (strcmp(optarg, "N") == 0)
                q.lambda_init = HR_LAMBDA_INIT_N;
            else if (strcmp(optarg, "mid") == 0)
                q.lambda_init = HR_LAMBDA_INIT_MID;
            else if (strcmp(optarg, "exact") == 0)
                q.lambda_init = HR_LAMBDA_INIT_EXACT;
            else if (parse_double("--lambda-init", optarg, -1e9, 1e9, &q.lambda0))
                q.lambda_init = HR_LAMBDA_INIT_VALUE;
            else
                return 2;
            break;
        case O_ZOFF:
            if (!parse_double("--z-offset", optarg, -1e6, 1e6, &q.z_offset))
                return 2;
            break;
        case O_SIGMA:
            if (!parse_double("--sigma", optarg, 1e-9, 1e9, &q.sigma))
                return 2;
            break;
        case O_LINK_STREAMS: q.link_streams = 1; break;
        case O_INTENSITY:
            if (strcmp(optarg, "activations") == 0)
                q.intensity_weights = 0;
            else if (strcmp(optarg, "weights") == 0)
                q.intensity_weights = 1;
            else {
                hr_cli_fail("optimize", "--intensity: '%s' is not activations or weights", optarg);
                return 2;
            }
            break;
        case O_LR:
            if (!parse_double("--lr", optarg, 0, 1e6, &v))
                return 2;
            q.lr_theta = q.lr_lambda = v;
            break;
        case O_WRC:
            if (!parse_double("--omega-rc", optarg, 0, 1e12, &q.w_rc))
                return 2;
            break;
        case O_WRS:
            if (!parse_double("--omega-rs", optarg, 0, 1e12, &q.w_rs))
                return 2;
            break;
        case O_MIN:
            if (!hr_cli_parse_i64("optimize", "--min-split", optarg, -1000000, 1000000, &i64))
                return 2;
            q.min_split = (int)i64;
            break;
        case O_MAX:
            if (!hr_cli_parse_i64("optimize", "--max-split", optarg, -1000000, 1000000, &i64))
                return 2;
            q.max_split = (int)i64;
            break;
        case O_BW:
            if (!parse_double("--bandwidth-mbit", optarg, -1e300, 1e300, &bw))
                return 2;
            if (!(bw > 0)) {
                hr_cli_fail("optimize", "--bandwidth-mbit: %s Mbit/s is not positive", optarg);
                return 2;
            }
            break;
        case O_LAT:
            if (!parse_double("--latency-ms", optarg, 0, 1e9, &lat))
                return 2;
            break;
        case O_PERMSG:
            if (!parse_double("--per-message-ms", optarg, 0, 1e9, &permsg))
                return 2;
            break;
        case 'o': output = optarg; break;
        case O_QUIET: quiet = 1; break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail("optimize", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!lut_path) {
        hr_cli_fail("optimize", "--lut is required (a merged hardware_lut_complete.json)");
        return 2;
    }
    if (init_given && !isnan(fixed_lambda)) {
        hr_cli_fail("optimize", "--lambda fixes lambda; --lambda-init applies to a learnable one (use one of them)");
        return 2;
    }
    if ((pp.domain || threshold_given) && !pruned) {
        hr_cli_fail("optimize", "--domain and --pruning-threshold apply to --pruned only");
        return 2;
    }

    if (hr_lut_load(lut_path, &lut, &err))
        goto fail;
    if (!isnan(fixed_lambda)) {
        if (fixed_lambda < 0 || fixed_lambda > lut->nblocks) {
            hr_cli_fail("optimize", "--lambda %g is outside the model (splits 0..%d)", fixed_lambda, lut->nblocks);
            rc = 2;
            goto out;
        }
        q.lambda_init = HR_LAMBDA_INIT_VALUE;
        q.lambda0 = fixed_lambda;
        q.lambda_fixed = 1;
    }
    if (!isnan(bw) || !isnan(lat) || !isnan(permsg)) {
        q.link = lut->link;
        q.link_override = 1;
        if (!isnan(bw)) {
            q.link.bandwidth_mbit_s = bw;
            q.link.source = HR_BW_MBIT;
            q.link.measured = 0;
            q.link.k_ms_per_mb = 0;
        }
        if (!isnan(lat))
            q.link.latency_ms = lat;
        if (!isnan(permsg))
            q.link.per_message_ms = permsg;
    }
    if (pruned) {
        live = malloc(sizeof(unsigned) * (size_t)lut->nblocks);
        if (!live) {
            hr_error_set(&err, HR_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (hr_optim_existing_branches(lut, live, &err)) {
            hr_error_prefix(&err, "%s", lut_path);
            goto fail;
        }
        if (hr_pruned_load(pruned, lut, &pp, live, &err))
            goto fail;
    }
    if (hr_optim_problem_create(lut, live, &q, &prob, &err)) {
        hr_error_prefix(&err, "%s", lut_path);
        goto fail;
    }
    if (run[HR_METHOD_GD]) {
        if (hr_optim_gd(prob, &res[HR_METHOD_GD], &err))
            goto fail;
        done[HR_METHOD_GD] = &res[HR_METHOD_GD];
    }
    if (run[HR_METHOD_GRID]) {
        if (hr_optim_grid(prob, &res[HR_METHOD_GRID], &err))
            goto fail;
        done[HR_METHOD_GRID] = &res[HR_METHOD_GRID];
        if (res[HR_METHOD_GRID].range_clamped)
            fprintf(stderr, "hyperrep optimize: warning: split range %d..%d does not fit the model (splits 0..%d); "
                            "searching %d..%d\n",
                    res[HR_METHOD_GRID].req_min_split, res[HR_METHOD_GRID].req_max_split, lut->nblocks,
                    res[HR_METHOD_GRID].min_split, res[HR_METHOD_GRID].max_split);
    }
    if (run[HR_METHOD_EXACT]) {
        if (hr_optim_exact(prob, &res[HR_METHOD_EXACT], &err))
            goto fail;
        done[HR_METHOD_EXACT] = &res[HR_METHOD_EXACT];
    }
    {
        hr_optim_report rep = {prob, lut_path, pruned, {done[0], done[1], done[2]}};
        if (hr_optim_report_save(output, &rep, &err))
            goto fail;
    }
    if (!quiet) {
        print_summary(prob, lut_path, done);
        printf("wrote %s\n", output);
    }
    rc = 0;
    goto out;
fail:
    hr_cli_fail("optimize", "%s", err.msg);
out:
    for (int m = 0; m < HR_METHOD_COUNT; m++)
        hr_optim_result_deinit(&res[m]);
    hr_optim_problem_destroy(prob);
    hr_lut_destroy(lut);
    free(live);
    return rc;
}
