/* hyperrep forward: run a model under a γ assignment on an .npy input. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *help =
    "usage: hyperrep forward --model M [--weights W.safetensors|W.pth] [--input-size H]\n"
    "         [--input x.npy | --batch B] [-o y.npy]\n"
    "         [--gamma G|deploy | --gamma-file cfg.json] [--mask exact|subset]\n"
    "         [--threads N] [--repeat N] [--seed S] [--low-memory]\n"
    "\n"
    "Runs the model on x ([B, C, H, W] or [C, H, W] float32) and writes the logits\n"
    "[B, classes] to y. Without --weights the model is randomly initialised from\n"
    "--seed (default 42); without --input a random input of --batch images\n"
    "(default 1) is used.\n"
    "  --gamma G        apply gamma G (0..13 or a name such as FUSED_ALL) to every\n"
    "                   block; an error names the first block where G is invalid\n"
    "  --gamma-file F   JSON {block: gamma}, or a file holding one under\n"
    "                   optimal_gamma / gamma_config; other blocks keep deploy gamma\n"
    "  --mask subset    accept gammas that drop live branches (changes the function)\n"
    "  --repeat N       run N more timed forwards and print to stderr\n"
    "                   forward_ms median=… min=… max=… n=N threads=T\n"
    "  --low-memory     keep only fused 3x3/1x1 weights (no transformed copies, no\n"
    "                   training-time branches): least memory, slower kernels\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int hr_cmd_forward(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},      {"weights", required_argument, 0, 'w'},
        {"input-size", required_argument, 0, 's'}, {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},     {"gamma", required_argument, 0, 'g'},
        {"gamma-file", required_argument, 0, 'G'}, {"mask", required_argument, 0, 'M'},
        {"threads", required_argument, 0, 't'},    {"repeat", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 'S'},       {"batch", required_argument, 0, 'b'},
        {"low-memory", no_argument, 0, 'L'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *arch = NULL, *weights = NULL, *input = NULL, *output = NULL, *gamma = NULL, *gamma_file = NULL;
    int64_t threads = 1, repeat = 0, seed = 42, batch = 1;
    hr_mask_kind mask = HR_MASK_EXACT;
    hr_model_params mp = hr_model_params_default();
    hr_ctx_params cp = hr_ctx_params_default();
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;
    float *x = NULL, *y = NULL;
    double *times = NULL;
    int *assign = NULL;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': arch = optarg; break;
        case 'w': weights = optarg; break;
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 'g': gamma = optarg; break;
        case 'G': gamma_file = optarg; break;
        case 'L': mp.conv.low_memory = 1; break;
        case 'M':
            if (strcmp(optarg, "exact") == 0)
                mask = HR_MASK_EXACT;
            else if (strcmp(optarg, "subset") == 0)
                mask = HR_MASK_SUBSET;
            else {
                hr_cli_fail("forward", "--mask: '%s' is not exact or subset", optarg);
                return 2;
            }
            break;
        case 's':
            if (!hr_cli_parse_i64("forward", "--input-size", optarg, 1, 65536, &mp.input_size))
                return 2;
            break;
        case 't':
            if (!hr_cli_parse_i64("forward", "--threads", optarg, 1, 1024, &threads))
                return 2;
            break;
        case 'r':
            if (!hr_cli_parse_i64("forward", "--repeat", optarg, 0, 1000000, &repeat))
                return 2;
            break;
        case 'S':
            if (!hr_cli_parse_i64("forward", "--seed", optarg, 0, INT64_MAX, &seed))
                return 2;
            break;
        case 'b':
            if (!hr_cli_parse_i64("forward", "--batch", optarg, 1, 65536, &batch))
                return 2;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail("forward", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!arch) {
        hr_cli_fail("forward", "--model is required (see `hyperrep models`)");
        return 2;
    }
    if (gamma && gamma_file) {
        hr_cli_fail("forward", "--gamma and --gamma-file are exclusive");
        return 2;
    }
    if (input && batch != 1) {
        hr_cli_fail("forward", "--batch applies to the random input only; --input sets the batch");
        return 2;
    }

    cp.threads = (int)threads;
    cp.seed = (uint64_t)seed;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, &mp, &m, &err))
        goto fail;
    if (weights && hr_weights_load(weights, &map, &err)) {
        hr_error_prefix(&err, "%s", weights);
        goto fail;
    }

    /* γ assignment: -1 keeps a block's deploy γ. */
    int nb = hr_model_num_blocks(m);
    assign = malloc(sizeof(int) * (size_t)nb);
    if (!assign) {
        hr_error_set(&err, HR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < nb; i++)
        assign[i] = -1;
    if (gamma && strcmp(gamma, "deploy") != 0) {
        int g = hr_gamma_parse(gamma);
        if (g < 0) {
            hr_cli_fail("forward", "--gamma: '%s' is not 0..13, a gamma name or 'deploy'", gamma);
            rc = 2;
            goto out;
        }
        for (int i = 0; i < nb; i++)
            assign[i] = g;
    }
    if (gamma_file && !hr_cli_read_gamma_file("forward", m, gamma_file, assign))
        goto out;
    /* Forward never needs the training-time branches: build block by block,
     * holding at most one block's unfused weights. */
    if (hr_model_build_deploy(m, map, (uint64_t)seed, assign, mask, &err)) {
        if (weights)
            hr_error_prefix(&err, "%s", weights);
        goto fail;
    }
    hr_tensor_map_destroy(map);
    map = NULL;

    int64_t C = hr_model_in_channels(m), H = hr_model_input_size(m);
    if (input) {
        int nd;
        int64_t shape[HR_MAX_DIMS];
        if (hr_npy_load(input, &nd, shape, &x, &err))
            goto fail;
        if (nd == 3) {
            memmove(shape + 1, shape, 3 * sizeof shape[0]);
            shape[0] = 1;
            nd = 4;
        }
        if (nd != 4 || shape[1] != C || shape[2] != H || shape[3] != H || shape[0] < 1) {
            hr_tensor t = hr_tensor_view(NULL, nd, shape);
            char s[64];
            hr_cli_fail("forward", "%s: shape %s does not fit %s (expected [B, %lld, %lld, %lld]; see --input-size)",
                        input, hr_tensor_shape_str(&t, s, sizeof s), hr_model_arch(m)->name, (long long)C,
                        (long long)H, (long long)H);
            goto out;
        }
        batch = shape[0];
    } else {
        uint64_t s = (uint64_t)seed * 2654435761u + 1;
        x = malloc(sizeof(float) * (size_t)(batch * C * H * H));
        if (!x) {
            hr_error_set(&err, HR_ERR_NOMEM, "out of memory for the input");
            goto fail;
        }
        for (int64_t i = 0; i < batch * C * H * H; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
        }
    }
    int64_t K = hr_model_num_classes(m);
    y = malloc(sizeof(float) * (size_t)(batch * K));
    times = malloc(sizeof(double) * (size_t)(repeat + 1));
    if (!y || !times) {
        hr_error_set(&err, HR_ERR_NOMEM, "out of memory");
        goto fail;
    }
    hr_tensor tx = hr_tensor_4d(x, batch, C, H, H);
    hr_tensor ty = hr_tensor_view(y, 2, (int64_t[]){batch, K});
    if (hr_model_plan(m, batch, &err) || hr_model_forward(m, &tx, &ty, &err))
        goto fail;
    for (int64_t r = 0; r < repeat; r++) {
        double t0 = hr_cli_now_ms();
        if (hr_model_forward(m, &tx, &ty, &err))
            goto fail;
        times[r] = hr_cli_now_ms() - t0;
    }
    if (repeat > 0) {
        qsort(times, (size_t)repeat, sizeof times[0], cmp_double);
        double med = repeat % 2 ? times[repeat / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2;
        fprintf(stderr, "forward_ms median=%.3f min=%.3f max=%.3f n=%lld threads=%lld\n", med, times[0],
                times[repeat - 1], (long long)repeat, (long long)threads);
    }
    if (output) {
        const int64_t shape[2] = {batch, K};
        if (hr_npy_save(output, 2, shape, y, &err))
            goto fail;
    } else {
        int64_t *idx = malloc(sizeof(int64_t) * (size_t)batch);
        if (idx) {
            hr_argmax(&ty, idx);
            for (int64_t n = 0; n < batch && n < 8; n++)
                printf("image %lld: class %lld (logit %.4f)\n", (long long)n, (long long)idx[n], y[n * K + idx[n]]);
            free(idx);
        }
    }
    rc = 0;
    goto out;
fail:
    hr_cli_fail("forward", "%s", err.msg);
out:
    free(x);
    free(y);
    free(times);
    free(assign);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return rc;
}
