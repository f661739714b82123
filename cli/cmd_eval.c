/* hyperrep eval: top-1 accuracy of a model on a domain's test or
 * validation part, through the deployment path (γ per block, fused). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_common.h"

static const char *help =
    "usage: hyperrep eval --model M --weights W [--data SRC] [options] [-o eval.json]\n"
    "\n"
    "Runs the model (each block fused under its gamma: the deploy gamma of its live\n"
    "branches, or --gamma-file's) over the test part (default) or the validation\n"
    "part of one domain (--domain K, its corruption applied) or of all domains clean,\n"
    "and prints accuracy=NN.NN%. With -o, writes JSON: accuracy, correct, samples\n"
    "and the settings.\n"
    "\n"
    "options:\n"
    "  --model M --weights W  architecture and weights (.safetensors / .pth)\n"
    "  --data SRC             fashion-mnist (default), fashion-mnist:DIR or a folder\n"
    "  --part P               test (default) or val\n"
    "  --domain K             domain 0..9 (default: clean, every domain's part)\n"
    "  --alpha FILE           alpha to use: trained_hyper_weights.json (ours or the\n"
    "                         original's; the --domain entry) or a flat object\n"
    "  --gamma-file FILE      JSON {block: gamma} (or optimize/joint output holding one)\n"
    "  --batch B              batch size (100)\n"
    "  --threads N            threads (2)\n"
    "  --seed S               data seed (42; the partition and noise of training)\n"
    "  --max-samples N        use only N samples of each pool\n"
    "  -o FILE                JSON output\n";

/* Applies γ from the file to its blocks, the deploy γ to the others. */
static int apply_gammas(hr_model *m, const char *path)
{
    hr_error err = {0};
    int nb = hr_model_num_blocks(m), ok = 1;
    int *g = malloc(sizeof(int) * (size_t)nb);
    if (!g) {
        hr_cli_fail("eval", "out of memory");
        return 0;
    }
    for (int i = 0; i < nb; i++)
        g[i] = -1;
    if (path)
        ok = hr_cli_read_gamma_file("eval", m, path, g);
    if (ok && hr_model_apply_deploy(m, &err)) {
        hr_cli_fail("eval", "%s", err.msg);
        ok = 0;
    }
    for (int i = 0; ok && i < nb; i++)
        if (g[i] >= 0 && hr_model_apply_gamma(m, i, g[i], HR_MASK_EXACT, NULL, &err)) {
            hr_cli_fail("eval", "%s", err.msg);
            ok = 0;
        }
    free(g);
    return ok;
}

int hr_cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"weights", required_argument, 0, 'w'},
        {"data", required_argument, 0, 'd'},  {"part", required_argument, 0, 'p'},
        {"domain", required_argument, 0, 'k'}, {"alpha", required_argument, 0, 'a'},
        {"gamma-file", required_argument, 0, 'G'}, {"batch", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'}, {"seed", required_argument, 0, 'S'},
        {"max-samples", required_argument, 0, 'n'}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        /* old spelling: refused, naming the new one (--split is a split point) */
        {"split", required_argument, 0, 1},   {0, 0, 0, 0}};
    const char *arch = NULL, *weights = NULL, *alpha = NULL, *gfile = NULL, *out = NULL, *split = "test";
    hr_data_params dp = hr_data_params_default();
    int64_t domain = -1, batch = 100, threads = 2, v;
    uint64_t seed = 42;
    int c, rc = 1;
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_data *d = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;
    hr_batch_iter *it = NULL;
    float *logits = NULL;
    int64_t *pred = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': arch = optarg; break;
        case 'w': weights = optarg; break;
        case 'd': dp.source = optarg; break;
        case 'a': alpha = optarg; break;
        case 'G': gfile = optarg; break;
        case 'o': out = optarg; break;
        case 1: return hr_cli_renamed("eval", "--split (a data part)", "--part test|val");
        case 'p':
            if (strcmp(optarg, "test") != 0 && strcmp(optarg, "val") != 0) {
                hr_cli_fail("eval", "--part: '%s' is not test or val", optarg);
                return 2;
            }
            split = optarg;
            break;
        case 'k': if (!hr_cli_parse_i64("eval", "--domain", optarg, 0, HR_NUM_DOMAINS - 1, &domain)) return 2; break;
        case 'b': if (!hr_cli_parse_i64("eval", "--batch", optarg, 1, 65536, &batch)) return 2; break;
        case 't': if (!hr_cli_parse_i64("eval", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case 'S': if (!hr_cli_parse_i64("eval", "--seed", optarg, 0, INT64_MAX, &v)) return 2; seed = (uint64_t)v; break;
        case 'n': if (!hr_cli_parse_i64("eval", "--max-samples", optarg, 1, INT64_MAX, &dp.load.max_samples)) return 2; break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind < argc || !arch || !weights) {
        hr_cli_fail("eval", optind < argc ? "unexpected argument '%s'" : "--model and --weights are required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    dp.seed = seed;
    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = (int)threads;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, NULL, &m, &err) ||
        hr_weights_load(weights, &map, &err) || hr_model_load(m, map, &err)) {
        hr_cli_fail("eval", "%s", err.msg);
        goto done;
    }
    if (alpha && !hr_cli_apply_alpha_file("eval", m, alpha, (int)domain))
        goto done;
    if (!apply_gammas(m, gfile))
        goto done;
    hr_batch_params bp = hr_batch_params_default();
    bp.batch_size = batch;
    if (hr_data_open(ctx, &dp, &d, &err) ||
        hr_data_iter_create(ctx, d, (int)domain, strcmp(split, "val") == 0 ? HR_PART_VAL : HR_PART_TEST, &bp, &it,
                            &err) ||
        hr_model_plan(m, batch, &err)) {
        hr_cli_fail("eval", "%s", err.msg);
        goto done;
    }
    const int64_t K = hr_model_num_classes(m);
    logits = malloc(sizeof(float) * (size_t)(batch * K));
    pred = malloc(sizeof(int64_t) * (size_t)batch);
    if (!logits || !pred) {
        hr_cli_fail("eval", "out of memory");
        goto done;
    }
    hr_batch b;
    hr_status st;
    int64_t correct = 0, total = 0;
    hr_progress pr;
    double t0 = hr_cli_now_ms();
    hr_progress_start(&pr, "eval");
    while ((st = hr_batch_iter_next(it, &b, &err)) == HR_OK && b.n > 0) {
        hr_tensor tl = hr_tensor_view(logits, 2, (int64_t[]){b.n, K});
        if ((st = hr_model_forward(m, &b.x, &tl, &err)))
            break;
        hr_argmax(&tl, pred);
        for (int64_t i = 0; i < b.n; i++)
            correct += pred[i] == b.labels[i];
        total += b.n;
        hr_progress_update(&pr, total, hr_batch_iter_samples(it), -1, 100.0 * (double)correct / (double)total,
                           (double)total / ((hr_cli_now_ms() - t0) / 1000.0));
    }
    hr_progress_end(&pr);
    if (st) {
        hr_cli_fail("eval", "%s", err.msg);
        goto done;
    }
    double acc = total ? 100.0 * (double)correct / (double)total : 0;
    printf("accuracy=%.2f%%\n", acc);
    if (out) {
        char ts[32];
        json_t *gam = json_object();
        for (int i = 0; gam && i < hr_model_num_blocks(m); i++)
            json_object_set_new(gam, hr_model_block(m, i).name, json_integer(hr_model_block(m, i).gamma));
        json_t *j = json_pack("{s:f, s:I, s:I, s:{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:I}, s:o, s:s}",
                              "accuracy", acc, "correct", (json_int_t)correct, "samples", (json_int_t)total,
                              "settings", "model", hr_model_arch(m)->name, "weights", weights, "data",
                              hr_data_source(d), "part", split, "domain",
                              domain >= 0 ? hr_domain_get((int)domain)->name : "clean (all domains)", "alpha", alpha,
                              "gamma_file", gfile, "domain_id", (json_int_t)domain, "seed", (json_int_t)seed,
                              "threads", (json_int_t)threads, "gamma", gam, "timestamp",
                              hr_cli_timestamp(ts, sizeof ts));
        hr_cli_format_stamp(j, "hyperrep.eval");
        if (!j) {
            hr_cli_fail("eval", "out of memory");
            goto done;
        }
        rc = hr_cli_write_run_info("eval", out, j) ? 0 : 1;
        json_decref(j);
    } else {
        rc = 0;
    }
done:
    free(logits);
    free(pred);
    hr_batch_iter_destroy(it);
    hr_data_destroy(d);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return rc;
}
