/* hyperrep models [NAME]: the architecture table, or one model's blocks. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: hyperrep models [NAME] [--input-size H] [--in-channels C] [--classes K]\n"
    "\n"
    "Without NAME: every architecture with its default input, block count,\n"
    "parameters and GFLOPs (deploy form, batch 1). With NAME: stage 0, every\n"
    "block (index, name, input and output shape, stride, groups, branches,\n"
    "deploy gamma, parameters, MFLOPs) and the classifier.\n";

static void totals(hr_model *m, double *params, double *flops)
{
    int n = hr_model_num_blocks(m);
    *params = 0;
    *flops = 0;
    for (int i = -1; i < n; i++) {
        *params += (double)hr_model_block_params(m, i);
        *flops += hr_model_block_flops(m, i, i < 0 ? HR_GAMMA_FUSED_3_1 : -1);
    }
    *params += (double)(hr_model_feature_channels(m) + 1) * (double)hr_model_num_classes(m);
    *flops += hr_model_classifier_flops(m);
}

int hr_cmd_models(int argc, char **argv)
{
    static const struct option opts[] = {{"input-size", required_argument, 0, 's'},
                                         {"in-channels", required_argument, 0, 'c'},
                                         {"classes", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    hr_model_params mp = hr_model_params_default();
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    int c, rc = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!hr_cli_parse_i64("models", "--input-size", optarg, 1, 65536, &mp.input_size))
                return 2;
            break;
        case 'c':
            if (!hr_cli_parse_i64("models", "--in-channels", optarg, 1, 4096, &mp.in_channels))
                return 2;
            break;
        case 'k':
            if (!hr_cli_parse_i64("models", "--classes", optarg, 1, 1000000, &mp.num_classes))
                return 2;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            fputs(help, stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        hr_cli_fail("models", "expected at most one model name");
        return 2;
    }
    if (hr_ctx_create(NULL, &ctx, &err)) {
        hr_cli_fail("models", "%s", err.msg);
        return 1;
    }
    if (optind == argc) {
        printf("%-16s %-11s %6s %12s %10s  %s\n", "name", "input", "blocks", "params(M)", "GFLOPs", "description");
        for (int i = 0; i < hr_arch_count(); i++) {
            const hr_arch *a = hr_arch_at(i);
            hr_model *m;
            double params, flops;
            char input[32];
            if (hr_model_create(ctx, a->name, &mp, &m, &err)) {
                printf("%-16s (%s)\n", a->name, err.msg);
                continue;
            }
            totals(m, &params, &flops);
            snprintf(input, sizeof input, "%lldx%lldx%lld", (long long)hr_model_in_channels(m),
                     (long long)hr_model_input_size(m), (long long)hr_model_input_size(m));
            printf("%-16s %-11s %6d %12.3f %10.3f  %s\n", a->name, input, hr_model_num_blocks(m), params / 1e6,
                   flops / 1e9, a->description);
            hr_model_destroy(m);
        }
    } else {
        hr_model *m;
        double params, flops;
        if (hr_model_create(ctx, argv[optind], &mp, &m, &err)) {
            hr_cli_fail("models", "%s", err.msg);
            hr_ctx_destroy(ctx);
            return 1;
        }
        printf("%s: %s\n", hr_model_arch(m)->name, hr_model_arch(m)->description);
        printf("input [1, %lld, %lld, %lld], %lld classes, %d blocks; FLOPs = 2 x MACs, groups counted, deploy gamma\n\n",
               (long long)hr_model_in_channels(m), (long long)hr_model_input_size(m),
               (long long)hr_model_input_size(m), (long long)hr_model_num_classes(m), hr_model_num_blocks(m));
        printf("%5s %-10s %-18s %-18s %6s %6s %-18s %6s %11s %10s\n", "index", "block", "input", "output", "stride",
               "groups", "branches", "gamma", "params", "MFLOPs");
        for (int i = -1; i < hr_model_num_blocks(m); i++) {
            hr_block_info b = hr_model_block(m, i);
            char in[40], out[40], br[40], idx[16];
            int g = i < 0 ? HR_GAMMA_FUSED_3_1 : hr_gamma_deploy(b.live);
            snprintf(in, sizeof in, "[%lld,%lld,%lld]", (long long)b.cin, (long long)b.in_h, (long long)b.in_w);
            snprintf(out, sizeof out, "[%lld,%lld,%lld]", (long long)b.cout, (long long)b.out_h, (long long)b.out_w);
            if (i < 0)
                snprintf(idx, sizeof idx, "-");
            else
                snprintf(idx, sizeof idx, "%d", i);
            printf("%5s %-10s %-18s %-18s %6d %6d %-18s %6d %11lld %10.2f\n", idx, b.name, in, out,
                   b.stride, b.groups, hr_branch_mask_str(b.existing, br, sizeof br), g,
                   (long long)hr_model_block_params(m, i), hr_model_block_flops(m, i, g) / 1e6);
        }
        printf("%5s %-10s %-18s [%lld] %*s %11lld %10.2f\n", "-", "classifier", "pool+linear",
               (long long)hr_model_num_classes(m), 46, "", (long long)((hr_model_feature_channels(m) + 1) *
                                                                         hr_model_num_classes(m)),
               hr_model_classifier_flops(m) / 1e6);
        totals(m, &params, &flops);
        printf("\ntotal: %.3f M parameters (%.1f MB float32), %.3f GFLOPs per image\n", params / 1e6,
               params * 4 / 1e6, flops / 1e9);
        hr_model_destroy(m);
    }
    hr_ctx_destroy(ctx);
    return rc;
}
