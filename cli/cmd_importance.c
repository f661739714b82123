/* hyperrep importance: code 2 (SPEC §7) — branch FLOPs from each block's
 * real output size, importance = |α| / (FLOPs / 1e9) per domain, rankings
 * ascending, and the original tool's output files. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "run.h"
#include "hyperrep/joint.h"
#include "train_common.h"

static const char *help =
    "usage: hyperrep importance --model M [--alpha trained_hyper_weights.json] [-o DIR]\n"
    "\n"
    "Code 2: for every domain of the alpha file (ours or the original tool's\n"
    "trained_hyper_weights.json), importance = |alpha| / (branch FLOPs / 1e9) with\n"
    "branch FLOPs from each block's output size: dense 2*Cin*Cout*9*H*W/groups,\n"
    "1x1 2*Cin*Cout*H*W/groups, identity 4*C*H*W (a zero-FLOP branch scores 1e10).\n"
    "Blocks without an identity branch have a virtual one (0 FLOPs) that is left out\n"
    "of the ranking; pruned branches (alpha = 0) are left out too. Rankings are\n"
    "ascending (least important first). Writes to DIR (default\n"
    "task2_importance_rankings_<model>): importance_scores.json,\n"
    "importance_rankings.json, filtered_branches.json, branch_flops.json,\n"
    "branch_info.json, importance_matrix.csv, importance_heatmap.dat/.gp (.png with\n"
    "gnuplot; values log10(importance + 1)), ranking_summary.txt,\n"
    "branch_statistics.txt and run_info.json (settings).\n"
    "\n"
    "options:\n"
    "  --model M        architecture (its block shapes give the FLOPs)\n"
    "  --input-size S   input height = width (default: the architecture's)\n"
    "  --alpha FILE     default task1_trained_weights_<model>/trained_hyper_weights.json\n"
    "  --top N          branches listed per domain in ranking_summary.txt (10)\n"
    "  -o DIR           output directory\n";

int hr_cmd_importance(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"input-size", required_argument, 0, 's'},
                                         {"alpha", required_argument, 0, 'a'}, {"top", required_argument, 0, 'T'},
                                         {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    hr_joint_importance_params p = hr_joint_importance_params_default();
    int64_t v;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': p.arch = optarg; break;
        case 'a': p.alpha = optarg; break;
        case 'o': p.outdir = optarg; break;
        case 's': if (!hr_cli_parse_i64("importance", "--input-size", optarg, 1, 65536, &p.input_size)) return 2; break;
        case 'T': if (!hr_cli_parse_i64("importance", "--top", optarg, 1, 100000, &v)) return 2; p.top = (int)v; break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind < argc || !p.arch) {
        hr_cli_fail("importance", optind < argc ? "unexpected argument '%s'" : "--model is required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    return hr_cli_run_importance(&p);
}

int hr_cli_run_importance(const hr_joint_importance_params *p)
{
    hr_joint_importance_summary sum;
    hr_error err = {0};
    if (hr_joint_importance(p, &sum, &err)) {
        hr_cli_fail("importance", "%s", err.msg);
        return 1;
    }
    if (sum.unrendered)
        fprintf(stderr, "hyperrep importance: gnuplot is not installed: wrote %s/importance_heatmap.dat and "
                "importance_heatmap.gp\n", sum.outdir);
    printf("%d domains, %d ranked branches per domain; outputs in %s/\n", sum.domains, sum.ranked, sum.outdir);
    return 0;
}
