/* hyperrep joint: step 3 in pseudo mode (SPEC §6.2, §6.3, §7) — progressive
 * pruning under the accuracy constraint on one domain, then the grid search
 * over the split with the exact mask of the pruned set and the exact solver
 * beside it. Resumable: the state is checkpointed after every round. Under
 * `mpirun -np N` the candidates of each round are spread over the ranks
 * (mpi_dist.c); rank 0 alone runs stage 2 and writes. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "mpi_dist.h"
#include "train_common.h"

static const char *help =
    "usage: hyperrep joint --domain K --model M --weights W [--mode pseudo] [--method progressive]\n"
    "         [--alpha trained_hyper_weights.json] [--lut hardware_lut_complete.json] [options] [-o DIR]\n"
    "\n"
    "Step 3 on domain K. Stage 1, progressive pruning: the candidate pool holds the\n"
    "--pool least important live branches (code 2's ranking from the starting alpha);\n"
    "each round every candidate that is not its block's last live branch is pruned\n"
    "from a copy of the current alpha and alpha is retrained for --epochs epochs\n"
    "(backbone frozen); its score is its best epoch's validation accuracy. The best\n"
    "candidate is applied unless it falls more than --threshold points below the best\n"
    "accuracy so far (then the run stops); the pool is refilled from the ranking. At\n"
    "most --rounds rounds. Candidates of a round train at once on --threads threads;\n"
    "results do not depend on the thread count. Stage 2 (with --lut): the grid search\n"
    "over the split (gradient method with lambda fixed, exact mask of the pruned set)\n"
    "and the exact solver. Reported accuracies are on the domain's test part.\n"
    "\n"
    "Writes DIR/domain_K_joint.json (the original's fields plus the full pruning\n"
    "history), DIR/domain_K_alpha.safetensors (final alpha) and, after every round,\n"
    "DIR/domain_K_checkpoint.json: rerunning the same command after an interruption\n"
    "(even kill -9) resumes and ends with the same result.\n"
    "\n"
    "Processes: `mpirun -np N hyperrep joint ...` (Open MPI) spreads each round's\n"
    "candidates over the N ranks (each runs --threads threads) and ends with the same\n"
    "files as one process; rank 0 alone writes them and prints, and every rank must see\n"
    "the same data and DIR (a shared file system across machines). --method goal\n"
    "runs in one process only.\n"
    "\n"
    "options:\n"
    "  --domain K         domain 0..9 (required)\n"
    "  --mode pseudo|real real: alpha training split with an edge worker (see\n"
    "                     `hyperrep joint --mode real --help`)\n"
    "  --method progressive|goal  goal: SPEC 6.4's goal programming (needs --lut):\n"
    "                     alternates alpha training (--epochs) and --goal-steps (400) Adam\n"
    "                     steps on gamma logits, lambda and the accuracy slack, at most\n"
    "                     --alternations (5) times. Alpha training takes a proximal L1\n"
    "                     step weighted by each branch's share of its block's LUT time\n"
    "                     (--goal-l1); |alpha| < --pruning-threshold then prunes the branch.\n"
    "                     It stops, after 2 alternations at least, when J improves by\n"
    "                     less than 0.5 % and the state passes the accuracy guard\n"
    "                     (--guard bound: the bound of its paired drop on the guard\n"
    "                     half <= --threshold, A in J from the selection half; --guard\n"
    "                     point: validation accuracy within --goal-epsilon E (2) points\n"
    "                     of the start); a state that fails rolls the run back to the\n"
    "                     last one that passed and halves the L1 strength, at most\n"
    "                     --goal-backoffs (2) times; then it stops. --plain-l1: the paper's\n"
    "                     form (--l1 subgradient in the loss; stop at accuracy >= start -\n"
    "                     E - 0.5 and slack < 0.1). Checkpointed after every alternation\n"
    "                     like the rounds of progressive pruning\n"
    "  --goal-l1 X        strength of goal programming's proximal L1 step (0.1)\n"
    "  --goal-backoffs N  guard failures goal programming answers by halving --goal-l1 (2)\n"
    "  --model M          architecture; --weights W its base weights (.safetensors/.pth)\n"
    "  --alpha FILE       starting alpha (code 1's trained_hyper_weights.json, domain K);\n"
    "                     default: the weights' own alpha\n"
    "  --lut FILE         merged LUT for stage 2; without it only stage 1 runs\n"
    "  --data SRC         data source (default fashion-mnist); --max-samples N per pool\n"
    "  --rounds N (10)  --pool N (10)  --epochs N (3)  --threshold P (2 points)\n";
/* the rest of the help (one literal would exceed the 4095 characters ISO C
   requires compilers to support) */
static const char *help_more =
    "  --guard bound|point  how a round is accepted (bound): bound splits the\n"
    "                     validation part 50/50 (selection half: best epoch and\n"
    "                     candidate; guard half: acceptance) and accepts a round only\n"
    "                     when the upper bound of the cumulative paired drop against\n"
    "                     round 0 on the guard half is <= --threshold (exact binomial\n"
    "                     bound on the discordant images at level 1 - A/r, r = rounds\n"
    "                     tried); point: the original's rule on the whole validation part\n"
    "  --guard-alpha A    the bound's error level before Bonferroni (0.10)\n"
    "  --pruning-threshold T  |alpha| < T after a candidate's epoch (and, with --method\n"
    "                     goal, after each phase A) becomes 0 and the branch is\n"
    "                     pruned, never a block's last live branch (0.01; 0: off)\n"
    "  --batch N (32)  --lr X (0.01)  --momentum X (0.9)  --l1 X (0.001)  --seed S (42)\n"
    "  --threads N        threads; candidates run at once (2)\n"
    "  --objective latency|cycle|eff  stage 2 objective (latency)\n"
    "  --head client|server  device running the first blocks (client)\n"
    "  --steps N          gradient steps per split (800)\n"
    "  --min-split A --max-split B  grid range (default 8..15 for 27 blocks, else 1..N-1)\n"
    "  --restart          ignore (and replace) an existing checkpoint\n"
    "  --stop-after N     stop after N new rounds (leaves the checkpoint; for tests)\n"
    "  -o DIR             output directory (results/joint_optimization)\n";

enum {
    O_DOMAIN = 256, O_MODE, O_METHOD, O_MODEL, O_WEIGHTS, O_ALPHA, O_LUT, O_DATA, O_MAXS, O_ROUNDS, O_POOL,
    O_EPOCHS, O_THRESH, O_BATCH, O_LR, O_MOM, O_L1, O_SEED, O_THREADS, O_OBJ, O_HEAD, O_STEPS, O_MIN, O_MAX,
    O_RESTART, O_STOP, O_ALT, O_GSTEPS, O_PLAIN_L1, O_GEPS, O_GUARD, O_GALPHA, O_PTHRESH, O_GL1, O_GBACK
};

static void log_line(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

int hr_cmd_joint(int argc, char **argv)
{
    /* Real mode has its own options (listening, split): its own parser. */
    if (hr_cli_has_option(argc, argv, "--mode", "real"))
        return hr_cmd_joint_real(argc, argv);
    static const struct option opts[] = {
        {"domain", required_argument, 0, O_DOMAIN},   {"mode", required_argument, 0, O_MODE},
        {"method", required_argument, 0, O_METHOD},   {"model", required_argument, 0, O_MODEL},
        {"weights", required_argument, 0, O_WEIGHTS}, {"alpha", required_argument, 0, O_ALPHA},
        {"lut", required_argument, 0, O_LUT},         {"data", required_argument, 0, O_DATA},
        {"max-samples", required_argument, 0, O_MAXS}, {"rounds", required_argument, 0, O_ROUNDS},
        {"pool", required_argument, 0, O_POOL},       {"epochs", required_argument, 0, O_EPOCHS},
        {"threshold", required_argument, 0, O_THRESH}, {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR},           {"momentum", required_argument, 0, O_MOM},
        {"l1", required_argument, 0, O_L1},           {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"objective", required_argument, 0, O_OBJ},
        {"head", required_argument, 0, O_HEAD},       {"steps", required_argument, 0, O_STEPS},
        {"min-split", required_argument, 0, O_MIN},   {"max-split", required_argument, 0, O_MAX},
        {"restart", no_argument, 0, O_RESTART},       {"stop-after", required_argument, 0, O_STOP},
        {"alternations", required_argument, 0, O_ALT}, {"goal-steps", required_argument, 0, O_GSTEPS},
        {"plain-l1", no_argument, 0, O_PLAIN_L1}, {"goal-epsilon", required_argument, 0, O_GEPS},
        {"goal-l1", required_argument, 0, O_GL1},      {"goal-backoffs", required_argument, 0, O_GBACK},
        {"guard", required_argument, 0, O_GUARD},     {"guard-alpha", required_argument, 0, O_GALPHA},
        {"pruning-threshold", required_argument, 0, O_PTHRESH},
        {"output", required_argument, 0, 'o'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *arch = NULL, *weights = NULL, *alpha = NULL, *lut_path = NULL, *outdir = "results/joint_optimization";
    const char *mode = "pseudo", *method = "progressive";
    hr_data_params dp = hr_data_params_default();
    hr_joint_params jp = hr_joint_params_default();
    hr_optim_params op = hr_optim_params_default();
    int64_t domain = -1, threads = 2, v;
    int c, rc = 1, restart = 0, stage2 = 0, goal = 0;
    hr_goal_params gp = hr_goal_params_default();
    hr_goal_result gres;
    hr_error err = {0};
    hr_joint_dist dist = {0, 1, NULL, NULL};
    int lead = 1; /* rank 0 (or the only process): stage 2, output files, progress lines */
    hr_ctx *ctx = NULL;
    hr_data *d = NULL;
    hr_model *m = NULL;
    hr_tensor_map *map = NULL;
    hr_lut *lut = NULL;
    hr_optim_problem *prob = NULL;
    hr_optim_result grid, exact;
    hr_joint_result res;
    json_t *settings = NULL;
    char *fp = NULL, *sj = NULL, path[4096], ckpt[4096];

    memset(&gres, 0, sizeof gres);
    hr_optim_result_init(&gres.config);
    hr_optim_result_init(&grid);
    hr_optim_result_init(&exact);
    hr_joint_result_init(&res);
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case O_DOMAIN: if (!hr_cli_parse_i64("joint", "--domain", optarg, 0, HR_NUM_DOMAINS - 1, &domain)) return 2; break;
        case O_MODE: mode = optarg; break;
        case O_METHOD: method = optarg; break;
        case O_MODEL: arch = optarg; break;
        case O_WEIGHTS: weights = optarg; break;
        case O_ALPHA: alpha = optarg; break;
        case O_LUT: lut_path = optarg; break;
        case O_DATA: dp.source = optarg; break;
        case O_MAXS: if (!hr_cli_parse_i64("joint", "--max-samples", optarg, 1, INT64_MAX, &dp.load.max_samples)) return 2; break;
        case O_ROUNDS: if (!hr_cli_parse_i64("joint", "--rounds", optarg, 0, 100000, &v)) return 2; jp.rounds = (int)v; break;
        case O_POOL: if (!hr_cli_parse_i64("joint", "--pool", optarg, 1, 100000, &v)) return 2; jp.pool = (int)v; break;
        case O_EPOCHS: if (!hr_cli_parse_i64("joint", "--epochs", optarg, 1, HR_JOINT_MAX_EPOCHS, &v)) return 2; jp.epochs = (int)v; break;
        case O_THRESH: if (!hr_cli_parse_f64("joint", "--threshold", optarg, 0, 100, &jp.threshold)) return 2; break;
        case O_BATCH: if (!hr_cli_parse_i64("joint", "--batch", optarg, 1, 65536, &jp.batch)) return 2; break;
        case O_LR: if (!hr_cli_parse_f64("joint", "--lr", optarg, 0, 100, &jp.lr)) return 2; break;
        case O_MOM: if (!hr_cli_parse_f64("joint", "--momentum", optarg, 0, 0.999999, &jp.momentum)) return 2; break;
        case O_L1: if (!hr_cli_parse_f64("joint", "--l1", optarg, 0, 100, &jp.l1)) return 2; break;
        case O_SEED: if (!hr_cli_parse_i64("joint", "--seed", optarg, 0, INT64_MAX, &v)) return 2; jp.seed = (uint64_t)v; break;
        case O_THREADS: if (!hr_cli_parse_i64("joint", "--threads", optarg, 1, 1024, &threads)) return 2; break;
        case O_OBJ:
            if ((v = hr_objective_parse(optarg)) < 0) {
                hr_cli_fail("joint", "--objective must be latency, cycle or eff, not '%s'", optarg);
                return 2;
            }
            op.objective = (hr_objective)v;
            break;
        case O_HEAD:
            if (strcmp(optarg, "client") != 0 && strcmp(optarg, "server") != 0) {
                hr_cli_fail("joint", "--head must be client or server, not '%s'", optarg);
                return 2;
            }
            op.head = strcmp(optarg, "client") == 0 ? HR_DEVICE_CLIENT : HR_DEVICE_SERVER;
            break;
        case O_STEPS: if (!hr_cli_parse_i64("joint", "--steps", optarg, 0, 100000000, &v)) return 2; op.steps = (int)v; break;
        case O_MIN: if (!hr_cli_parse_i64("joint", "--min-split", optarg, -1000000, 1000000, &v)) return 2; op.min_split = (int)v; break;
        case O_MAX: if (!hr_cli_parse_i64("joint", "--max-split", optarg, -1000000, 1000000, &v)) return 2; op.max_split = (int)v; break;
        case O_RESTART: restart = 1; break;
        case O_STOP: if (!hr_cli_parse_i64("joint", "--stop-after", optarg, 1, 100000, &v)) return 2; jp.stop_after = (int)v; break;
        case O_ALT: if (!hr_cli_parse_i64("joint", "--alternations", optarg, 1, HR_GOAL_MAX_ITER, &v)) return 2; gp.alternations = (int)v; break;
        case O_GSTEPS: if (!hr_cli_parse_i64("joint", "--goal-steps", optarg, 0, 100000000, &v)) return 2; gp.steps = (int)v; break;
        case O_PLAIN_L1: gp.weighted_l1 = 0; break;
        case O_GEPS: if (!hr_cli_parse_f64("joint", "--goal-epsilon", optarg, -100, 100, &gp.epsilon)) return 2; break;
        case O_GL1: if (!hr_cli_parse_f64("joint", "--goal-l1", optarg, 0, 1e6, &gp.l1_strength)) return 2; break;
        case O_GBACK: if (!hr_cli_parse_i64("joint", "--goal-backoffs", optarg, 0, HR_GOAL_MAX_ITER, &v)) return 2; gp.backoffs = (int)v; break;
        case O_GUARD:
            if ((v = hr_guard_mode_parse(optarg)) < 0) {
                hr_cli_fail("joint", "--guard must be bound or point, not '%s'", optarg);
                return 2;
            }
            jp.guard = (hr_guard_mode)v;
            break;
        case O_GALPHA: if (!hr_cli_parse_f64("joint", "--guard-alpha", optarg, 1e-9, 0.999999, &jp.guard_alpha)) return 2; break;
        case O_PTHRESH: if (!hr_cli_parse_f64("joint", "--pruning-threshold", optarg, 0, 1e6, &jp.pruning_threshold)) return 2; break;
        case 'o': outdir = optarg; break;
        case 'h': fputs(help, stdout), fputs(help_more, stdout); return 0;
        default: fputs(help, stderr), fputs(help_more, stderr); return 2;
        }
    }
    if (optind < argc || domain < 0 || !arch || !weights) {
        hr_cli_fail("joint", optind < argc ? "unexpected argument '%s'" : "--domain, --model and --weights are required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    if (strcmp(mode, "pseudo") != 0) {
        /* --mode real was dispatched to its own command above */
        hr_cli_fail("joint", "--mode must be pseudo or real, not '%s'", mode);
        return 2;
    }
    if (strcmp(method, "progressive") != 0 && strcmp(method, "goal") != 0) {
        hr_cli_fail("joint", "--method must be progressive or goal, not '%s'", method);
        return 2;
    }
    goal = strcmp(method, "goal") == 0;
    if (goal && !lut_path) {
        hr_cli_fail("joint", "--method goal needs --lut");
        return 2;
    }
    int launched = hr_cli_mpi_launched();
    if (goal && launched != 0 && launched != 1) {
        hr_cli_fail("joint", "--method goal runs in one process: start it without mpirun (progressive pruning is "
                    "what spreads over mpirun's ranks)");
        return 2;
    }
    /* from here on a failure on one rank must end the job (hr_cli_mpi_end) */
    if (!hr_cli_mpi_init("joint", &dist))
        return hr_cli_mpi_end(1);
    lead = dist.rank == 0;
    dp.seed = jp.seed;

    /* the settings that determine the result (threads do not) */
    settings = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:I, s:i, s:i, s:i, s:f, s:I, s:f, s:f, s:f, s:I}",
                         "method", method, "model", arch, "weights", weights, "alpha", alpha, "data",
                         dp.source ? dp.source : "fashion-mnist", "max_samples", (json_int_t)dp.load.max_samples,
                         "domain", (json_int_t)domain, "rounds", jp.rounds, "pool", jp.pool, "epochs", jp.epochs,
                         "threshold", jp.threshold, "batch", (json_int_t)jp.batch, "lr", jp.lr, "momentum",
                         jp.momentum, "l1", jp.l1, "seed", (json_int_t)jp.seed);
    if (settings && (json_object_set_new(settings, "guard", json_string(hr_guard_mode_name(jp.guard))) ||
                     json_object_set_new(settings, "guard_alpha", json_real(jp.guard_alpha)) ||
                     json_object_set_new(settings, "pruning_threshold", json_real(jp.pruning_threshold)))) {
        json_decref(settings);
        settings = NULL;
    }
    fp = settings ? json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
    /* stage 2's settings and the thread count do not change stage 1: kept out of the fingerprint */
    if (!fp || json_object_set_new(settings, "threads", json_integer(threads)) ||
        json_object_set_new(settings, "processes", json_integer(dist.size)) ||
        (lut_path && json_object_set_new(settings, "lut", json_string(lut_path))) ||
        json_object_set_new(settings, "objective", json_string(hr_objective_name(op.objective))) ||
        json_object_set_new(settings, "head", json_string(hr_device_name(op.head))) ||
        json_object_set_new(settings, "steps", json_integer(op.steps)) ||
        !(sj = json_dumps(settings, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        hr_cli_fail("joint", "out of memory");
        goto done;
    }
    jp.fingerprint = fp;
    jp.log = log_line; /* the library calls it on rank 0 only */
    jp.dist = dist.size > 1 ? &dist : NULL;

    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = (int)threads;
    cp.seed = jp.seed;
    if (hr_ctx_create(&cp, &ctx, &err) || hr_model_create(ctx, arch, NULL, &m, &err) ||
        hr_weights_load(weights, &map, &err) || hr_model_load(m, map, &err)) {
        hr_cli_fail("joint", "%s", err.msg);
        goto done;
    }
    hr_tensor_map_destroy(map);
    map = NULL;
    if (alpha && !hr_cli_apply_alpha_file("joint", m, alpha, (int)domain))
        goto done;
    if (lut_path) {
        if (hr_lut_load(lut_path, &lut, &err)) {
            hr_cli_fail("joint", "%s", err.msg);
            goto done;
        }
        if (lut->nblocks != hr_model_num_blocks(m)) {
            hr_cli_fail("joint", "%s: the LUT has %d blocks, %s has %d", lut_path, lut->nblocks,
                        hr_model_arch(m)->name, hr_model_num_blocks(m));
            goto done;
        }
    }
    if (hr_data_open(ctx, &dp, &d, &err)) {
        hr_cli_fail("joint", "%s", err.msg);
        goto done;
    }
    if (lead && !hr_cli_mkdirs("joint", outdir))
        goto done;
    snprintf(ckpt, sizeof ckpt, "%s/domain_%d_checkpoint.json", outdir, (int)domain);
    if (restart && unlink(ckpt) != 0 && access(ckpt, F_OK) == 0) {
        hr_cli_fail("joint", "%s: cannot remove the old checkpoint", ckpt);
        goto done;
    }
    jp.checkpoint = ckpt;

    double t0 = hr_cli_now_ms();
    if (goal) {
        if (gp.alternations > 0 &&
            (json_object_set_new(settings, "alternations", json_integer(gp.alternations)) ||
             json_object_set_new(settings, "goal_steps", json_integer(gp.steps)) ||
             json_object_set_new(settings, "weighted_l1", json_boolean(gp.weighted_l1)) ||
             json_object_set_new(settings, "goal_l1", json_real(gp.l1_strength)) ||
             json_object_set_new(settings, "goal_backoffs", json_integer(gp.backoffs)) ||
             json_object_set_new(settings, "goal_epsilon", json_real(gp.epsilon)))) {
            hr_cli_fail("joint", "out of memory");
            goto done;
        }
        free(sj);
        if (!(sj = json_dumps(settings, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
            hr_cli_fail("joint", "out of memory");
            goto done;
        }
        gp.pruning_threshold = jp.pruning_threshold; /* one flag, one rule, both methods */
        if (hr_joint_goal_guarded(m, d, (int)domain, lut, &jp, &op, &gp, &res, &gres, &prob, &err) ||
            hr_optim_exact(prob, &exact, &err)) {
            hr_cli_fail("joint", "%s", err.msg);
            goto done;
        }
        if (!res.complete) {
            printf("stopped after %d alternations as asked (--stop-after); rerun the same command to resume from %s\n",
                   gres.niter, ckpt);
            rc = 0;
            goto done;
        }
        stage2 = 1;
        printf("goal programming: %d iterations (%s), %d branches pruned, %.4f -> %.4f GFLOPs, test accuracy %.2f%% "
               "-> %.2f%%; placement %d, latency %.3f ms, pipelined %.2f fps (%.2f %% above the exact optimum %.3f ms) "
               "(%.1f s)\n",
               gres.niter, gres.stop_reason, res.npruned, res.initial_gflops, res.final_gflops, res.initial_test,
               res.final_test, gres.config.eval.placement,
               gres.config.eval.latency_ms, gres.config.eval.pipelined_fps, gres.config.gap_to_exact_pct,
               exact.objective_value, (hr_cli_now_ms() - t0) / 1000.0);
        goto report;
    }
    if (hr_joint_progressive(m, d, (int)domain, &jp, &res, &err)) {
        hr_cli_fail("joint", "%s", err.msg);
        goto done;
    }
    if (!lead) { /* every rank holds the same result: rank 0 reports it */
        rc = 0;
        goto done;
    }
    if (!res.complete) {
        printf("stopped after %d rounds as asked (--stop-after); rerun the same command to resume from %s\n",
               res.nrounds, ckpt);
        rc = 0;
        goto done;
    }
    printf("stage 1: %d rounds, %d branches pruned, test accuracy %.2f%% -> %.2f%%, %.4f -> %.4f GFLOPs (%.1f s)\n",
           res.nrounds, res.npruned, res.initial_test, res.final_test, res.initial_gflops, res.final_gflops,
           (hr_cli_now_ms() - t0) / 1000.0);
    if (lut) {
        if (hr_joint_stage2(lut, &res, &op, &prob, &grid, &exact, &err)) {
            hr_cli_fail("joint", "stage 2: %s", err.msg);
            goto done;
        }
        stage2 = 1;
        if (grid.range_clamped)
            fprintf(stderr, "hyperrep joint: warning: split range %d..%d clamped to %d..%d\n", grid.req_min_split,
                    grid.req_max_split, grid.min_split, grid.max_split);
        printf("stage 2: grid split %d, latency %.3f ms (%.2f fps), pipelined %.2f fps; exact optimum %.3f ms "
               "(grid %.2f %% above)\n",
               grid.eval.placement, grid.eval.latency_ms, grid.eval.fps, grid.eval.pipelined_fps, exact.objective_value,
               grid.gap_to_exact_pct);
    } else {
        printf("stage 2 skipped: no --lut given\n");
    }
report:;
    hr_joint_report rep;
    memset(&rep, 0, sizeof rep);
    rep.goal = goal ? &gres : NULL;
    rep.model = m;
    rep.stage1 = &res;
    rep.problem = prob;
    rep.grid = stage2 && !goal ? &grid : NULL;
    rep.exact = stage2 ? &exact : NULL;
    rep.domain = (int)domain;
    rep.mode = mode;
    rep.method = method;
    rep.lut_file = lut_path;
    rep.settings_json = sj;
    rep.params = &jp;
    snprintf(path, sizeof path, "%s/domain_%d_joint.json", outdir, (int)domain);
    if (hr_joint_report_save(path, &rep, &err)) {
        hr_cli_fail("joint", "%s", err.msg);
        goto done;
    }
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/domain_%d_alpha.safetensors", outdir, (int)domain);
    if (hr_joint_save_alpha(path, m, &res, (int)domain, &err)) {
        hr_cli_fail("joint", "%s", err.msg);
        goto done;
    }
    printf("wrote %s\n", path);
    rc = 0;
done:
    hr_optim_problem_destroy(prob);
    hr_optim_result_deinit(&grid);
    hr_optim_result_deinit(&gres.config);
    hr_optim_result_deinit(&exact);
    hr_joint_result_deinit(&res);
    hr_lut_destroy(lut);
    hr_data_destroy(d);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    json_decref(settings);
    free(fp);
    free(sj);
    return hr_cli_mpi_end(rc);
}
