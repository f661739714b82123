/* hyperrep plot: every figure of SPEC §9 that the results in a directory
 * support, plus report.md and a self-contained report.html; the work is
 * hr_plot_results (src/plot/results.c, src/plot/report.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "run.h"
#include "hyperrep/plot.h"

static const char help[] =
    "usage: hyperrep plot --results DIR [-o DIR/visualization] [--domain K] [--no-render] [--gnuplot PROG]\n"
    "\n"
    "Draws every figure the results in DIR support (SPEC section 9), each as NAME.dat +\n"
    "NAME.gp and, with gnuplot installed, NAME.png and NAME.pdf:\n"
    "  lut_<device>            hardware_lut_complete.json: latency per block x gamma\n"
    "  roofline_<device>       the same LUT: measured ceilings (peak GFLOP/s, bandwidth),\n"
    "                          each block's gamma at Intensity_w and attained GFLOP/s\n"
    "  convergence             initial_throughput_config.json: gradient method, relaxed\n"
    "                          latency and loss per step, the exact optimum as a line\n"
    "  hyper_weights           trained_hyper_weights.json: alpha, domains x branches\n"
    "  importance              importance_scores.json: log10(importance + 1)\n"
    "  accuracy_throughput     domain_K_joint.json: accuracy vs fps, all domains, and\n"
    "  _domain_K               one figure per domain (a point per pruning round)\n"
    "  domain_accuracy         the same with training_results.json: initial / best / final\n"
    "  domain_throughput       fps before (initial_throughput_config.json) and after\n"
    "  domain_flops            FLOPs reduction per domain\n"
    "  predicted_measured      real mode: infer results (DIR/real/**.json, DIR/infer*.json)\n"
    "                          LUT-predicted vs measured fps, pipelined and sequential\n"
    "  domain_vs_baseline      co-design vs the baseline (unpruned, deploy gamma, best\n"
    "                          split): LUT fps gain in %, latency and pipelined\n"
    "  sensitivity             where co-design pays: placement and gain of one domain's\n"
    "                          final state against its baseline, link 1-1000 Mbit/s x\n"
    "                          edge slowdown 2-32x (the LUT's link latency kept)\n"
    "and report.md / report.html (figures inlined) with the final configuration\n"
    "per domain, the baselines comparison and the LUT summary. Outputs are written\n"
    "atomically. Without gnuplot the data and scripts are written and the command\n"
    "says how to render them.\n"
    "  --domain K   the domain of the sensitivity figure (default: the lowest with a\n"
    "               domain_K_joint.json)\n"
    "  --no-render  write data and scripts only\n"
    "  --gnuplot    the gnuplot program (default gnuplot)\n";

static const char *CMD = "plot";

/* The library's notes and later failures, worded as this command's own. */
static void plot_log(void *user, hr_log_level level, const char *msg)
{
    (void)user;
    if (level >= HR_LOG_INFO)
        hr_cli_fail(CMD, "%s", msg);
}

int hr_cmd_plot(int argc, char **argv)
{
    static const struct option opts[] = {{"results", required_argument, 0, 'r'}, {"output", required_argument, 0, 'o'},
                                         {"no-render", no_argument, 0, 'n'},      {"gnuplot", required_argument, 0, 'g'},
                                         {"domain", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    hr_plot_results_params p = hr_plot_results_params_default();
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'r': p.results = optarg; break;
        case 'o': p.out = optarg; break;
        case 'n': p.plot.render = 0; break;
        case 'g': p.plot.gnuplot = optarg; break;
        case 'd': {
            int64_t v;
            if (!hr_cli_parse_i64(CMD, "--domain", optarg, 0, HR_PLOT_MAX_DOMAINS - 1, &v))
                return 2;
            p.sensitivity_domain = (int)v;
            break;
        }
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail(CMD, "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!p.results) {
        hr_cli_fail(CMD, "--results DIR is required");
        fputs(help, stderr);
        return 2;
    }
    return hr_cli_run_plot(&p);
}

int hr_cli_run_plot(hr_plot_results_params *p)
{
    hr_plot_results_summary sum;
    hr_error err = {0};
    p->log = plot_log;
    if (hr_plot_results(p, &sum, &err) != HR_OK) {
        hr_cli_fail(CMD, "%s", err.msg);
        return 1;
    }
    printf("wrote %d figures%s and report.md, report.html to %s\n", sum.figures,
           sum.unrendered ? " (data + scripts only)" : " (PNG + PDF)", sum.out);
    if (sum.unrendered)
        printf("render with: cd %s && for f in *.gp; do gnuplot \"$f\"; done\n", sum.out);
    return 0;
}
