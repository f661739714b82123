/* hyperrep joint --mode real: step 3 with every α training and evaluation
 * split across the server (tail) and the edge worker (head) (SPEC §7,
 * §10): progressive pruning with candidates trained one after another
 * through the worker, then (with --lut) the split search; or, with
 * --method alpha, code 1's α training of one domain. Results equal pseudo
 * mode's (`joint --mode pseudo`, `train-hyper --domain K`, same seed) up to
 * float rounding; the outputs add the real-mode figures. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "hyperrep/remote.h"
#include "remote_common.h"
#include "train_common.h"

static const char *help =
    "usage: hyperrep joint --mode real --domain K --model M --weights W [--split S]\n"
    "         [--method progressive|alpha] [--listen ADDR] [--alpha FILE] [--lut FILE]\n"
    "         [options] [TLS and listen options] [-o DIR]\n"
    "\n"
    "Step 3 in real mode. Waits for one worker (`hyperrep client --server ADDR` on the\n"
    "edge device) and sends it the model (architecture, weights as a chunked blob with\n"
    "its SHA-256, alpha, split S). Every alpha training is then split across the two:\n"
    "the worker (head: stage 0 and blocks [0, S)) runs the forward of its blocks on its\n"
    "own copy of the data and sends the features; this side (tail: blocks [S, N) and\n"
    "the classifier) computes the loss and the gradient of the features and sends it\n"
    "back; each side updates the alpha of its own blocks (SGD). Evaluation is split\n"
    "the same way. Batches, seeds and updates are pseudo mode's, so the results agree\n"
    "with pseudo mode up to float rounding.\n"
    "  --method progressive (default): `joint --mode pseudo`'s progressive pruning,\n"
    "     candidates trained one after another through the worker, checkpointed after\n"
    "     every round (DIR/domain_K_real_checkpoint.json: rerun to resume); then with\n"
    "     --lut the split search. Writes DIR/domain_K_joint.json (metadata.mode real)\n"
    "     and DIR/domain_K_alpha.safetensors.\n"
    "  --method alpha: code 1 on domain K (`train-hyper --domain K`): writes\n"
    "     DIR/domain_K_real.json with training_results and trained_hyper_weights in\n"
    "     train-hyper's format, plus time per epoch and bytes over the link each way.\n"
    "\n"
    "options:\n"
    "  --domain K         domain 0..9 (required)\n"
    "  --model M --weights W  architecture and its base weights (sent to the worker)\n"
    "  --split S          blocks [0, S) run on the worker (default: half of the blocks)\n"
    "  --alpha FILE       starting alpha (train-hyper's trained_hyper_weights.json, domain K)\n"
    "  --data SRC         data source, which the worker must have too (fashion-mnist)\n"
    "  --max-samples N    use only N samples of each pool\n"
    "  --epochs N (3)  --batch N (32)  --lr X (0.01)  --momentum X (0.9)  --l1 X (0.001)\n"
    "  --seed S           data, partition and shuffling seed (42)\n"
    "  --rounds N (10)  --pool N (10)  --threshold P (2)  --restart  --stop-after N\n"
    "                     progressive pruning, as in pseudo mode\n"
    "  --lut FILE         merged LUT: stage 2 (grid search and exact solver) after pruning;\n"
    "                     --objective latency|cycle|eff, --steps N, --min-split A --max-split B\n"
    "  --threads N        this side's threads (2); --client-threads N the worker's\n"
    "                     (default: its own --threads)\n"
    "  --keep-worker      do not send the worker SHUTDOWN at the end\n"
    "  -o DIR             output directory (results/joint_optimization)\n" HR_CLI_LISTEN_HELP HR_CLI_NET_HELP;

enum {
    O_DOMAIN = 256, O_MODE, O_MODEL, O_WEIGHTS, O_ALPHA, O_DATA, O_MAXS, O_EPOCHS, O_BATCH, O_LR, O_MOM, O_L1, O_SEED,
    O_THREADS, O_CTHREADS, O_SPLIT, O_KEEP, O_METHOD, O_ROUNDS, O_POOL, O_THRESH, O_RESTART, O_STOP, O_LUT, O_OBJ,
    O_STEPS, O_MIN, O_MAX
};

static json_t *alpha_object(const hr_model *m, const float *a)
{
    json_t *o = json_object();
    char name[96];
    for (int i = 0; o && i < hr_model_num_blocks(m); i++) {
        hr_block_info bi = hr_model_block(m, i);
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            /* train-hyper's convention: a block without identity carries 1.0 */
            double v = (bi.existing >> br & 1u) ? a[i * 3 + br] : 1.0;
            if (json_object_set_new(o, hr_model_alpha_name(m, i, (hr_branch)br, name, sizeof name), json_real(v))) {
                json_decref(o);
                return NULL;
            }
        }
    }
    return o;
}

static json_t *darray(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *u64array(const uint64_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer((json_int_t)v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* --method alpha: code 1 on one domain, written as train-hyper writes it. */
static int run_alpha(const char *cmd, hr_split *s, const hr_model *m, const hr_split_train_params *tp,
                     const hr_split_params *sp, const hr_data_params *dp, int64_t seed, int64_t threads,
                     const char *outdir, const hr_remote_device *cl)
{
    hr_split_train_result res;
    hr_error err = {0};
    json_t *out = NULL;
    char path[4096], ts[64], key[32];
    int ok = 0;
    hr_split_train_result_init(&res);
    if (hr_split_train_alpha(s, tp, NULL, &res, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    const int domain = tp->domain;
    const hr_domain_info *di = hr_domain_get(domain);
    double ms_sum = 0;
    for (int e = 0; e < res.epochs; e++)
        ms_sum += res.epoch_ms[e];
    snprintf(key, sizeof key, "domain_%d", domain);
    json_t *tr = json_pack("{s:i, s:s, s:s, s:f, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:o, s:i}", "group_id", domain,
                           "domain_name", di->name, "domain_desc", di->description, "initial_acc", res.initial_test,
                           "train_loss", darray(res.loss, res.epochs), "val_acc", darray(res.val, res.epochs),
                           "l1_penalty", darray(res.l1, res.epochs), "best_acc", res.best_test, "improvement",
                           res.best_test - res.initial_test, "initial_val_acc", res.initial_val, "best_val_acc",
                           res.best_val, "test_acc", darray(res.test, res.epochs), "best_epoch", res.best_epoch);
    out = json_pack("{s:{s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:b}, s:{s:I, s:I, s:f, s:f, s:f, s:I, s:s, s:I, "
                    "s:i, s:I}, s:{s:o}, s:{s:o}, s:{s:o, s:f, s:o, s:o, s:I, s:I, s:I}}",
                    "metadata", "domain_id", domain, "mode", "real", "model", hr_model_arch(m)->name, "head", "client",
                    "split_point", sp->split, "timestamp", hr_cli_timestamp(ts, sizeof ts), "client_name", cl->name,
                    "client_peer", cl->peer, "tls", cl->tls, "settings", "epochs", (json_int_t)tp->epochs, "batch",
                    (json_int_t)sp->batch, "lr", tp->lr, "momentum", sp->momentum, "l1", sp->l1, "seed",
                    (json_int_t)seed, "data", dp->source ? dp->source : "fashion-mnist", "max_samples",
                    (json_int_t)dp->load.max_samples, "threads", (int)threads, "client_threads",
                    (json_int_t)sp->threads, "training_results", key, tr, "trained_hyper_weights", key,
                    alpha_object(m, res.alpha), "real", "epoch_ms", darray(res.epoch_ms, res.epochs), "mean_epoch_ms",
                    ms_sum / res.epochs, "bytes_client_to_server", u64array(res.bytes_up, res.epochs),
                    "bytes_server_to_client", u64array(res.bytes_down, res.epochs), "train_samples",
                    (json_int_t)res.sizes[0], "val_samples", (json_int_t)res.sizes[1], "test_samples",
                    (json_int_t)res.sizes[2]);
    if (!out) {
        hr_cli_fail(cmd, "out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/domain_%d_real.json", outdir, domain);
    if (!hr_cli_write_run_info(cmd, path, out))
        goto done;
    printf("domain %d: initial %.2f%% best %.2f%% (epoch %d, selected on validation); %.2f s per epoch split "
           "training, %.2f MB up / %.2f MB down per epoch\n", domain, res.initial_test, res.best_test, res.best_epoch,
           ms_sum / res.epochs / 1e3, (double)res.bytes_up[0] / 1e6, (double)res.bytes_down[0] / 1e6);
    printf("wrote %s\n", path);
    ok = 1;
done:
    json_decref(out);
    hr_split_train_result_deinit(&res);
    return ok;
}

static void log_line(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

/* --method progressive: stage 1 through the worker, stage 2 with a LUT. */
static int run_progressive(const char *cmd, hr_split *s, hr_model *m, const hr_split_data *data, int domain,
                           hr_joint_params *jp, const hr_optim_params *op, const hr_lut *lut, const char *lut_path,
                           const char *outdir, int restart, const char *weights, const char *alpha,
                           const hr_remote_device *cl)
{
    hr_joint_result res;
    hr_optim_problem *prob = NULL;
    hr_optim_result grid, exact;
    hr_error err = {0};
    json_t *settings = NULL;
    char *fp = NULL, *sj = NULL, ckpt[4096], path[4096];
    int ok = 0, stage2 = 0;
    hr_joint_result_init(&res);
    hr_optim_result_init(&grid);
    hr_optim_result_init(&exact);
    /* what determines the result (the thread counts and the link do not) */
    settings = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:I, s:i, s:i, s:i, s:i, s:f, s:I, s:f, s:f, s:f, s:I, s:i}",
                         "mode", "real", "method", "progressive", "model", hr_model_arch(m)->name, "weights", weights,
                         "alpha", alpha, "data", data->source ? data->source : "fashion-mnist", "max_samples",
                         (json_int_t)data->max_samples, "domain", domain, "rounds", jp->rounds, "pool", jp->pool,
                         "epochs", jp->epochs, "threshold", jp->threshold, "batch", (json_int_t)jp->batch, "lr",
                         jp->lr, "momentum", jp->momentum, "l1", jp->l1, "seed", (json_int_t)jp->seed, "split",
                         hr_split_point(s));
    fp = settings ? json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
    if (!fp || json_object_set_new(settings, "client", json_string(cl->name)) ||
        json_object_set_new(settings, "client_peer", json_string(cl->peer)) ||
        json_object_set_new(settings, "tls", json_boolean(cl->tls)) ||
        (lut_path && json_object_set_new(settings, "lut", json_string(lut_path))) ||
        json_object_set_new(settings, "objective", json_string(hr_objective_name(op->objective))) ||
        json_object_set_new(settings, "steps", json_integer(op->steps)) ||
        !(sj = json_dumps(settings, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        hr_cli_fail(cmd, "out of memory");
        goto done;
    }
    snprintf(ckpt, sizeof ckpt, "%s/domain_%d_real_checkpoint.json", outdir, domain);
    if (restart && unlink(ckpt) != 0 && access(ckpt, F_OK) == 0) {
        hr_cli_fail(cmd, "%s: cannot remove the old checkpoint", ckpt);
        goto done;
    }
    jp->checkpoint = ckpt;
    jp->fingerprint = fp;
    jp->log = log_line;
    double t0 = hr_cli_now_ms();
    if (hr_split_progressive(s, data, domain, jp, &res, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    if (!res.complete) {
        printf("stopped after %d rounds as asked (--stop-after); rerun the same command to resume from %s\n",
               res.nrounds, ckpt);
        ok = 1;
        goto done;
    }
    printf("stage 1 (real): %d rounds, %d branches pruned, test accuracy %.2f%% -> %.2f%%, %.4f -> %.4f GFLOPs "
           "(%.1f s)\n", res.nrounds, res.npruned, res.initial_test, res.final_test, res.initial_gflops,
           res.final_gflops, (hr_cli_now_ms() - t0) / 1000.0);
    if (lut) {
        if (hr_joint_stage2(lut, &res, op, &prob, &grid, &exact, &err)) {
            hr_cli_fail(cmd, "stage 2: %s", err.msg);
            goto done;
        }
        stage2 = 1;
        printf("stage 2: grid split %d, latency %.3f ms (%.2f fps), pipelined %.2f fps; exact optimum %.3f ms "
               "(grid %.2f %% above)\n", grid.eval.placement, grid.eval.latency_ms, grid.eval.fps,
               grid.eval.pipelined_fps, exact.objective_value, grid.gap_to_exact_pct);
    } else {
        printf("stage 2 skipped: no --lut given\n");
    }
    hr_joint_report rep;
    memset(&rep, 0, sizeof rep);
    rep.model = m;
    rep.stage1 = &res;
    rep.problem = prob;
    rep.grid = stage2 ? &grid : NULL;
    rep.exact = stage2 ? &exact : NULL;
    rep.domain = domain;
    rep.mode = "real";
    rep.method = "progressive";
    rep.lut_file = lut_path;
    rep.settings_json = sj;
    rep.params = jp;
    snprintf(path, sizeof path, "%s/domain_%d_joint.json", outdir, domain);
    if (hr_joint_report_save(path, &rep, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/domain_%d_alpha.safetensors", outdir, domain);
    if (hr_joint_save_alpha(path, m, &res, domain, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    printf("wrote %s\n", path);
    ok = 1;
done:
    hr_optim_problem_destroy(prob);
    hr_optim_result_deinit(&grid);
    hr_optim_result_deinit(&exact);
    hr_joint_result_deinit(&res);
    json_decref(settings);
    free(fp);
    free(sj);
    return ok;
}

int hr_cmd_joint_real(int argc, char **argv)
{
    static const struct option opts[] = {{"domain", required_argument, 0, O_DOMAIN},
                                         {"mode", required_argument, 0, O_MODE},
                                         {"model", required_argument, 0, O_MODEL},
                                         {"weights", required_argument, 0, O_WEIGHTS},
                                         {"alpha", required_argument, 0, O_ALPHA},
                                         {"data", required_argument, 0, O_DATA},
                                         {"max-samples", required_argument, 0, O_MAXS},
                                         {"epochs", required_argument, 0, O_EPOCHS},
                                         {"batch", required_argument, 0, O_BATCH},
                                         {"lr", required_argument, 0, O_LR},
                                         {"momentum", required_argument, 0, O_MOM},
                                         {"l1", required_argument, 0, O_L1},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"client-threads", required_argument, 0, O_CTHREADS},
                                         {"split", required_argument, 0, O_SPLIT},
                                         {"keep-worker", no_argument, 0, O_KEEP},
                                         {"method", required_argument, 0, O_METHOD},
                                         {"rounds", required_argument, 0, O_ROUNDS},
                                         {"pool", required_argument, 0, O_POOL},
                                         {"threshold", required_argument, 0, O_THRESH},
                                         {"restart", no_argument, 0, O_RESTART},
                                         {"stop-after", required_argument, 0, O_STOP},
                                         {"lut", required_argument, 0, O_LUT},
                                         {"objective", required_argument, 0, O_OBJ},
                                         {"steps", required_argument, 0, O_STEPS},
                                         {"min-split", required_argument, 0, O_MIN},
                                         {"max-split", required_argument, 0, O_MAX},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         HR_CLI_NET_OPTIONS,
                                         {0, 0, 0, 0}};
    const char *cmd = "joint", *arch = NULL, *weights = NULL, *alpha = NULL, *outdir = "results/joint_optimization";
    const char *method = "progressive", *lut_path = NULL;
    hr_split_params sp = hr_split_params_default();
    hr_split_train_params tp = hr_split_train_params_default();
    hr_joint_params jp = hr_joint_params_default();
    hr_optim_params op = hr_optim_params_default();
    hr_data_params dp = hr_data_params_default();
    int64_t domain = -1, threads = 2, epochs = 3, split = -1, seed = 42, v;
    int c, r, rc = 1, keep = 0, restart = 0, progressive;
    hr_cli_net net;
    hr_listener *l = NULL;
    hr_chan *ch = NULL;
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;
    hr_split *s = NULL;
    hr_lut *lut = NULL;
    hr_remote_device cl;
    hr_error err = {0};

    hr_cli_net_init(&net);
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case O_DOMAIN: if (!hr_cli_parse_i64(cmd, "--domain", optarg, 0, HR_NUM_DOMAINS - 1, &domain)) return 2; break;
        case O_MODE:
            if (strcmp(optarg, "real") != 0) {
                hr_cli_fail(cmd, "--mode %s reached the real-mode command", optarg);
                return 2;
            }
            break;
        case O_METHOD: method = optarg; break;
        case O_MODEL: arch = optarg; break;
        case O_WEIGHTS: weights = optarg; break;
        case O_ALPHA: alpha = optarg; break;
        case O_LUT: lut_path = optarg; break;
        case O_DATA: dp.source = optarg; break;
        case O_MAXS: if (!hr_cli_parse_i64(cmd, "--max-samples", optarg, 1, INT64_MAX, &dp.load.max_samples)) return 2; break;
        case O_EPOCHS: if (!hr_cli_parse_i64(cmd, "--epochs", optarg, 1, HR_SPLIT_MAX_EPOCHS, &epochs)) return 2; break;
        case O_BATCH: if (!hr_cli_parse_i64(cmd, "--batch", optarg, 1, 65536, &sp.batch)) return 2; break;
        case O_LR: if (!hr_cli_parse_f64(cmd, "--lr", optarg, 0, 100, &tp.lr)) return 2; break;
        case O_MOM: if (!hr_cli_parse_f64(cmd, "--momentum", optarg, 0, 0.999999, &sp.momentum)) return 2; break;
        case O_L1: if (!hr_cli_parse_f64(cmd, "--l1", optarg, 0, 100, &sp.l1)) return 2; break;
        case O_SEED: if (!hr_cli_parse_i64(cmd, "--seed", optarg, 0, INT64_MAX, &seed)) return 2; break;
        case O_THREADS: if (!hr_cli_parse_i64(cmd, "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case O_CTHREADS: if (!hr_cli_parse_i64(cmd, "--client-threads", optarg, 1, 1024, &v)) return 2; sp.threads = (int)v; break;
        case O_SPLIT: if (!hr_cli_parse_i64(cmd, "--split", optarg, 0, HR_LUT_MAX_BLOCKS, &split)) return 2; break;
        case O_ROUNDS: if (!hr_cli_parse_i64(cmd, "--rounds", optarg, 0, 100000, &v)) return 2; jp.rounds = (int)v; break;
        case O_POOL: if (!hr_cli_parse_i64(cmd, "--pool", optarg, 1, 100000, &v)) return 2; jp.pool = (int)v; break;
        case O_THRESH: if (!hr_cli_parse_f64(cmd, "--threshold", optarg, 0, 100, &jp.threshold)) return 2; break;
        case O_STOP: if (!hr_cli_parse_i64(cmd, "--stop-after", optarg, 1, 100000, &v)) return 2; jp.stop_after = (int)v; break;
        case O_RESTART: restart = 1; break;
        case O_STEPS: if (!hr_cli_parse_i64(cmd, "--steps", optarg, 0, 100000000, &v)) return 2; op.steps = (int)v; break;
        case O_MIN: if (!hr_cli_parse_i64(cmd, "--min-split", optarg, -1000000, 1000000, &v)) return 2; op.min_split = (int)v; break;
        case O_MAX: if (!hr_cli_parse_i64(cmd, "--max-split", optarg, -1000000, 1000000, &v)) return 2; op.max_split = (int)v; break;
        case O_OBJ:
            if ((v = hr_objective_parse(optarg)) < 0) {
                hr_cli_fail(cmd, "--objective must be latency, cycle or eff, not '%s'", optarg);
                return 2;
            }
            op.objective = (hr_objective)v;
            break;
        case O_KEEP: keep = 1; break;
        case 'o': outdir = optarg; break;
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
    if (optind < argc || domain < 0 || !arch || !weights) {
        hr_cli_fail(cmd, optind < argc ? "unexpected argument '%s'" : "--domain, --model and --weights are required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    if (strcmp(method, "progressive") != 0 && strcmp(method, "alpha") != 0) {
        hr_cli_fail(cmd, "--method in real mode must be progressive or alpha, not '%s'", method);
        return 2;
    }
    progressive = strcmp(method, "progressive") == 0;
    if (lut_path && !progressive) {
        hr_cli_fail(cmd, "--lut goes with --method progressive (stage 2 follows the pruning)");
        return 2;
    }
    if (!hr_cli_net_check(cmd, &net))
        return 2;
    dp.seed = (uint64_t)seed;

    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = (int)threads;
    cp.seed = (uint64_t)seed;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, NULL, &m, &err) ||
        hr_weights_load(weights, &map, &err) || hr_model_load(m, map, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    hr_tensor_map_destroy(map);
    map = NULL;
    if (alpha && !hr_cli_apply_alpha_file(cmd, m, alpha, (int)domain))
        goto done;
    if (split > hr_model_num_blocks(m)) {
        hr_cli_fail(cmd, "--split %lld is outside 0..%d for %s", (long long)split, hr_model_num_blocks(m),
                    hr_model_arch(m)->name);
        goto done;
    }
    if (lut_path) {
        if (hr_lut_load(lut_path, &lut, &err)) {
            hr_cli_fail(cmd, "%s", err.msg);
            goto done;
        }
        if (lut->nblocks != hr_model_num_blocks(m)) {
            hr_cli_fail(cmd, "%s: the LUT has %d blocks, %s has %d", lut_path, lut->nblocks, hr_model_arch(m)->name,
                        hr_model_num_blocks(m));
            goto done;
        }
    }
    sp.split = split >= 0 ? (int)split : hr_model_num_blocks(m) / 2;
    if (!hr_cli_mkdirs(cmd, outdir))
        goto done;
    if (!hr_cli_accept_worker(cmd, &net, &l, &ch))
        goto done;
    hr_remote_device_from_chan(ch, &cl);

    double t0 = hr_cli_now_ms();
    if (hr_split_create(ch, m, &sp, &s, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    printf("model sent: %s, split %d (worker: stage 0 + blocks [0, %d); here: blocks [%d, %d) + classifier) (%.1f s)\n",
           hr_model_arch(m)->name, sp.split, sp.split, sp.split, hr_model_num_blocks(m), (hr_cli_now_ms() - t0) / 1e3);
    fflush(stdout);
    tp.data.source = dp.source;
    tp.data.seed = dp.seed;
    tp.data.max_samples = dp.load.max_samples;
    tp.data.partition = dp.partition.kind;
    if (progressive) {
        jp.epochs = (int)epochs;
        jp.batch = sp.batch;
        jp.lr = tp.lr;
        jp.momentum = sp.momentum;
        jp.l1 = sp.l1;
        jp.seed = (uint64_t)seed;
        /* the candidate hook reports accuracies, not per-image results, so
           real mode keeps the original's point rule and no threshold rule */
        jp.guard = HR_GUARD_POINT;
        jp.pruning_threshold = 0;
        if (!run_progressive(cmd, s, m, &tp.data, (int)domain, &jp, &op, lut, lut_path, outdir, restart, weights,
                             alpha, &cl))
            goto done;
    } else {
        tp.domain = (int)domain;
        tp.epochs = (int)epochs;
        tp.shuffle_seed = (uint64_t)seed + (uint64_t)domain; /* train-hyper's stream of domain K */
        tp.log = hr_cli_remote_log;
        tp.log_user = (void *)cmd;
        if (!run_alpha(cmd, s, m, &tp, &sp, &dp, seed, threads, outdir, &cl))
            goto done;
    }
    if (!keep && hr_remote_shutdown(ch, 10000, &err))
        fprintf(stderr, "hyperrep %s: warning: the worker did not acknowledge the shutdown: %s\n", cmd, err.msg);
    rc = 0;
done:
    hr_lut_destroy(lut);
    hr_split_destroy(s);
    hr_chan_destroy(ch);
    hr_listener_destroy(l);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return rc;
}
