/* Step 3 (joint): the code-2 ranking and branch FLOPs of the library, and
 * `hyperrep joint` end to end on repvgg-fmnist and 1500 Fashion-MNIST images:
 * the output's fields, the accuracy constraint, no block left without a
 * branch, results independent of the thread count, and an interrupted run
 * (--stop-after, and kill -9 at a random moment) resumed to the same bytes
 * apart from timestamps. The CLI part is skipped when Debian's
 * dataset-fashion-mnist is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/ctx.h"
#include "hyperrep/data.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "hyperrep/weights.h"
#include "joint/joint_internal.h"

HR_CLI_BUFFERS;
static char dir[512];

static int have_data(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", HR_FASHION_MNIST_DIR);
    return access(p, R_OK) == 0;
}

/* The file without its timestamp and threads lines (settings that do not
 * change results). */
static char *stripped(const char *name)
{
    char p[1024], line[4096];
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    assert_non_null(buf);
    buf[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (!strstr(line, "\"timestamp\"") && !strstr(line, "\"threads\"") && len + strlen(line) < cap) {
            memcpy(buf + len, line, strlen(line) + 1);
            len += strlen(line);
        }
    fclose(f);
    return buf;
}

static void assert_same(const char *a, const char *b)
{
    char *x = stripped(a), *y = stripped(b);
    if (strcmp(x, y) != 0) {
        print_error("%s and %s differ\n", a, b);
        free(x), free(y);
        fail();
    }
    free(x), free(y);
}

static void assert_same_bytes(const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cmp -s %s/%s %s/%s", dir, a, dir, b);
    assert_int_equal(system(cmd), 0);
}

/* final_configuration's fields (issue 13) and their consistency with the
 * rest of the file; the guard's record of every round. */
static void check_final(json_t *fin, json_t *s1, json_t *s2)
{
    json_t *pl = json_object_get(fin, "placement"), *ci = json_object_get(fin, "accuracy_drop_ci95");
    json_t *bc = json_object_get(s2, "baseline_comparison"), *guard = json_object_get(s1, "guard");
    json_t *parts = json_object_get(guard, "parts");
    assert_true(json_is_string(pl) || json_is_integer(pl));
    if (json_is_string(pl))
        assert_true(json_is_null(json_object_get(fin, "split_point")));
    else
        assert_int_equal(json_integer_value(pl), json_integer_value(json_object_get(fin, "split_point")));
    int round = (int)json_integer_value(json_object_get(fin, "round"));
    assert_true(round >= -1);
    assert_true(json_is_array(json_object_get(fin, "pruned")));
    assert_true(json_is_object(json_object_get(fin, "gamma_config")));
    assert_true(json_is_array(ci) && json_array_size(ci) == 2);
    double drop = json_number_value(json_object_get(fin, "accuracy_drop"));
    assert_true(json_number_value(json_array_get(ci, 0)) <= drop + 1e-9);
    assert_true(json_number_value(json_array_get(ci, 1)) >= drop - 1e-9);
    assert_true(fabs(drop - (json_number_value(json_object_get(s1, "initial_accuracy")) -
                             json_number_value(json_object_get(fin, "accuracy")))) < 1e-6);
    assert_true(json_number_value(json_object_get(json_object_get(bc, "final_configuration_gain_pct"), "objective")) >=
                0.0);
    assert_true(json_number_value(json_object_get(fin, "objective_value")) <=
                json_number_value(json_object_get(json_object_get(bc, "baseline"), "objective_ms")) + 1e-9);
    /* never worse than any accepted state's exact optimum */
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(s1, "pruning_rounds"), i, r) {
        json_t *eo = json_object_get(r, "exact_optimum");
        if (eo)
            assert_true(json_number_value(json_object_get(fin, "objective_value")) <=
                        json_number_value(json_object_get(eo, "objective_ms")) + 1e-9);
    }
    /* the parts: selection and guard halves of the validation part */
    assert_non_null(parts);
    if (strcmp(json_string_value(json_object_get(guard, "mode")), "bound") == 0)
        assert_int_equal(json_integer_value(json_object_get(parts, "selection")) +
                             json_integer_value(json_object_get(parts, "guard")),
                         json_integer_value(json_object_get(parts, "validation")));
    /* every round's decision follows its recorded bound */
    double thr = json_number_value(json_object_get(guard, "threshold_points"));
    double alpha = json_number_value(json_object_get(guard, "alpha"));
    int64_t ng = json_integer_value(json_object_get(parts, "guard"));
    json_array_foreach(json_object_get(s1, "pruning_history"), i, r) {
        json_t *gd = json_object_get(r, "guard_discordant");
        if (!gd)
            continue;
        double bound = hr_joint_guard_bound(json_integer_value(json_object_get(gd, "b")),
                                            json_integer_value(json_object_get(gd, "c")), ng, alpha,
                                            (int)json_integer_value(json_object_get(r, "round")));
        /* the file holds 10 significant digits */
        assert_true(fabs(bound - json_number_value(json_object_get(r, "guard_bound_points"))) <=
                    1e-8 * fmax(1.0, fabs(bound)));
        if (strcmp(json_string_value(json_object_get(guard, "mode")), "bound") == 0)
            assert_int_equal(json_is_true(json_object_get(r, "applied")), bound <= thr);
    }
}

static void test_rank(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_ctx *ctx;
    hr_model *m;
    int *rank = NULL, n = 0;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 7, &err), &err);
    /* SPEC §7 FLOPs of block 0 (stride 1 block sizes from the model) */
    hr_block_info b0 = hr_model_block(m, 0);
    double hw = (double)(b0.out_h * b0.out_w);
    assert_true(hr_joint_branch_flops(m, 0, HR_BRANCH_DENSE) == 2.0 * b0.cin * b0.cout * 9 * hw / b0.groups);
    assert_true(hr_joint_branch_flops(m, 0, HR_BRANCH_1X1) == 2.0 * b0.cin * b0.cout * hw / b0.groups);
    /* prune one branch: it leaves the ranking */
    HR_ASSERT_OK(hr_model_set_alpha(m, 1, HR_BRANCH_1X1, 0.0f, &err), &err);
    HR_ASSERT_OK(hr_model_set_alpha(m, 2, HR_BRANCH_DENSE, 0.25f, &err), &err);
    HR_ASSERT_OK(hr_joint_rank(m, &rank, &n, &err), &err);
    int live = 0;
    for (int k = 0; k < hr_model_num_blocks(m); k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            live += hr_model_block(m, k).live >> br & 1u;
    assert_int_equal(n, live);
    double prev = -1;
    for (int i = 0; i < n; i++) {
        int k = rank[i] / 3, br = rank[i] % 3;
        assert_false(k == 1 && br == HR_BRANCH_1X1);
        double fl = hr_joint_branch_flops(m, k, (hr_branch)br);
        double s = fl > 0 ? fabs(hr_model_block(m, k).alpha[br]) / (fl / 1e9) : 1e10;
        assert_true(s >= prev);
        prev = s;
    }
    free(rank);
    /* bad settings are refused before any work */
    hr_joint_params jp = hr_joint_params_default();
    hr_joint_result r;
    hr_joint_result_init(&r);
    jp.epochs = 0;
    /* the data pointer is never dereferenced: settings and domain are checked first */
    assert_int_equal(hr_joint_progressive(m, (const hr_data *)m, 0, &jp, &r, &err), HR_ERR_INVALID_ARG);
    jp = hr_joint_params_default();
    assert_int_equal(hr_joint_progressive(m, (const hr_data *)m, 10, &jp, &r, &err), HR_ERR_INVALID_ARG);
    hr_joint_result_deinit(&r);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* Goal programming's analytic gradient against central differences, at
 * random points of the tx2 fixture LUT, on both sides of the accuracy
 * constraint. */
static void test_goal_gradient(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_lut *lut;
    hr_optim_problem *p;
    hr__goal G;
    hr_test_rng rng;
    hr_optim_params op = hr_optim_params_default();
    hr_goal_params gp = hr_goal_params_default();
    HR_ASSERT_OK(hr_lut_load(HR_FIXTURES_DIR "/optim/lut_tx2_ref.json", &lut, &err), &err);
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &op, &p, &err), &err);
    HR_ASSERT_OK(hr__goal_init(&G, p, &gp, &err), &err);
    const int np = G.g.total + 2;
    double *x = calloc((size_t)np, sizeof *x), *g = calloc((size_t)np, sizeof *g), *dummy = calloc((size_t)np, 8);
    assert_non_null(x);
    assert_non_null(g);
    assert_non_null(dummy);
    hr_test_rng_seed(&rng, 5);
    for (int trial = 0; trial < 6; trial++) {
        for (int i = 0; i < G.g.total; i++)
            x[i] = hr_test_uniform(&rng, -2, 2);
        x[G.g.total] = hr_test_uniform(&rng, 3, 20);
        x[G.g.total + 1] = hr_test_uniform(&rng, 0.2f, 3);
        double acc = trial % 2 ? 50 : 80, ref = 80; /* constraint violated, satisfied */
        hr__goal_loss(&G, x, acc, ref, NULL, g);
        for (int i = 0; i < np; i++) {
            double h = 1e-5, s = x[i];
            x[i] = s + h;
            double fp = hr__goal_loss(&G, x, acc, ref, NULL, NULL);
            x[i] = s - h;
            double fm = hr__goal_loss(&G, x, acc, ref, NULL, NULL);
            x[i] = s;
            double fd = (fp - fm) / (2 * h);
            if (fabs(fd - g[i]) > 1e-4 * fmax(1.0, fabs(fd)))
                fail_msg("trial %d, entry %d of %d: analytic %.9g, finite difference %.9g", trial, i, np, g[i], fd);
        }
    }
    free(x), free(g), free(dummy);
    hr__goal_deinit(&G);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
}

static void test_usage(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    HR_EXPECT_CLI(dir, "joint --help", 0, out_text, "domain_K_joint.json");
    HR_EXPECT_CLI(dir, "joint --model repvgg-fmnist --weights w", 2, err_text, "--domain");
    HR_EXPECT_CLI(dir, "joint --domain 11 --model repvgg-fmnist --weights w", 2, err_text, "--domain");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights w --mode real --split x", 2, err_text,
                  "--split");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights w --method goal", 2, err_text, "needs --lut");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights w --method nosuch", 2, err_text, "--method");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights w --objective fast", 2, err_text,
                  "--objective");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights w --guard maybe", 2, err_text,
                  "--guard must be");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights w --guard-alpha 1.5", 2, err_text,
                  "--guard-alpha");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights w --pruning-threshold -1", 2, err_text,
                  "--pruning-threshold");
    HR_EXPECT_CLI(dir, "joint --help", 0, out_text, "--guard bound|point");
    HR_EXPECT_CLI(dir, "joint --domain 0 --model repvgg-fmnist --weights nosuch.safetensors", 1, err_text, "nosuch");
}

#define ARGS                                                                                                  \
    "joint --domain 3 --model repvgg-fmnist --weights base.safetensors --max-samples 1500 --lut lut.json "   \
    "--rounds 2 --pool 3 --epochs 2 --steps 20 --threshold 50 "

static void test_joint(void **state)
{
    (void)state;
    if (!have_data()) {
        print_message("dataset-fashion-mnist not installed: skipped\n");
        skip();
    }
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    HR_EXPECT_CLI(dir, "train-base --model repvgg-fmnist --max-samples 600 --epochs 2 --batch 64 -o base.safetensors",
                  0, out_text, "accuracy=");
    HR_EXPECT_CLI(dir, "lut measure --role server --model repvgg-fmnist --threads 2 --warmup 1 --repeat 3 -o s.json", 0,
                  out_text, "wrote");
    HR_EXPECT_CLI(dir, "lut measure --role client --model repvgg-fmnist --threads 1 --warmup 1 --repeat 3 -o c.json", 0,
                  out_text, "wrote");
    HR_EXPECT_CLI(dir, "lut merge --server-lut s.json --client-lut c.json -o lut.json", 0, out_text, "wrote");

    HR_EXPECT_CLI(dir, ARGS "--threads 2 -o a", 0, out_text, "wrote a/domain_3_joint.json");
    assert_non_null(strstr(out_text, "round 1:"));
    /* the output */
    {
        char p[1024];
        json_error_t je;
        snprintf(p, sizeof p, "%s/a/domain_3_joint.json", dir);
        json_t *j = json_load_file(p, 0, &je), *s1, *s2, *fin, *pr;
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "metadata"), "domain_id")), 3);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "mode")), "pseudo");
        s1 = json_object_get(j, "stage1_accuracy");
        s2 = json_object_get(j, "stage2_throughput");
        fin = json_object_get(j, "final_configuration");
        assert_non_null(s1);
        assert_non_null(s2);
        assert_non_null(fin);
        pr = json_object_get(s1, "pruning_rounds");
        assert_true(json_array_size(pr) >= 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(pr, 0), "round")), 0);
        size_t np = json_array_size(json_object_get(s1, "pruned_weights"));
        assert_int_equal((int64_t)np, json_integer_value(json_object_get(s1, "total_pruned")));
        assert_true(json_array_size(json_object_get(s1, "pruning_history")) >= 1);
        assert_true(json_number_value(json_object_get(s1, "final_val_accuracy")) >=
                    json_number_value(json_object_get(s1, "initial_val_accuracy")) - 50.0);
        assert_non_null(json_object_get(s2, "exact_optimum"));
        assert_non_null(json_object_get(json_object_get(s2, "results"), "grid"));
        assert_true(json_is_integer(json_object_get(s2, "optimal_split_point")));
        /* the final configuration: the exact optimum over the accepted states
           and the unpruned model, never worse than the baseline */
        assert_true(json_number_value(json_object_get(fin, "throughput_fps")) > 0);
        check_final(fin, s1, s2);
        json_decref(j);
        /* the final α: every block keeps a live branch, the pruned are 0 */
        hr_tensor_map *map;
        hr_error err = {0};
        snprintf(p, sizeof p, "%s/a/domain_3_alpha.safetensors", dir);
        HR_ASSERT_OK(hr_safetensors_load(p, &map, &err), &err);
        for (int k = 0; k < 7; k++) {
            static const char *blocks[7] = {"stage1.0", "stage1.1", "stage2.0", "stage2.1", "stage3.0", "stage3.1",
                                            "stage4.0"};
            int live = 0;
            for (size_t i = 0; i < hr_tensor_map_count(map); i++) {
                const hr_named_tensor *t = hr_tensor_map_at(map, i);
                if (strncmp(t->name, blocks[k], strlen(blocks[k])) == 0 && t->name[strlen(blocks[k])] == '.')
                    live += t->data[0] != 0.0f;
            }
            assert_true(live >= 1);
        }
        hr_tensor_map_destroy(map);
    }
    /* one thread: the same result */
    HR_EXPECT_CLI(dir, ARGS "--threads 1 -o b", 0, out_text, "wrote b/domain_3_joint.json");
    assert_same("a/domain_3_joint.json", "b/domain_3_joint.json");
    assert_same_bytes("a/domain_3_alpha.safetensors", "b/domain_3_alpha.safetensors");
    /* interrupted after a round, resumed */
    HR_EXPECT_CLI(dir, ARGS "--threads 2 --stop-after 1 -o c", 0, out_text, "stopped after 1 rounds");
    HR_EXPECT_CLI(dir, ARGS "--threads 2 -o c", 0, out_text, "resumed from");
    assert_same("a/domain_3_joint.json", "c/domain_3_joint.json");
    assert_same_bytes("a/domain_3_alpha.safetensors", "c/domain_3_alpha.safetensors");
    /* other settings refuse the checkpoint */
    HR_EXPECT_CLI(dir, ARGS "--threads 2 --lr 0.02 -o c", 1, err_text, "other settings");
    HR_EXPECT_CLI(dir, ARGS "--threads 2 --lr 0.02 --restart -o c", 0, out_text, "wrote c/domain_3_joint.json");
    /* kill -9 at a random moment, then rerun */
    {
        unsigned delay = (unsigned)(getpid() % 7) * 100000u + 100000u;
        pid_t pid = hr_test_spawn_cli(dir, ARGS "--threads 2 -o k", NULL, NULL);
        nanosleep(&(struct timespec){0, (long)delay * 1000}, NULL);
        kill(pid, SIGKILL);
        assert_true(hr_test_wait_cli(pid, 60000) >= 0);
        HR_EXPECT_CLI(dir, ARGS "--threads 2 -o k", 0, out_text, "wrote k/domain_3_joint.json");
        assert_same("a/domain_3_joint.json", "k/domain_3_joint.json");
        assert_same_bytes("a/domain_3_alpha.safetensors", "k/domain_3_alpha.safetensors");
    }
    /* a small threshold: the bound guard decides every round (check_final
       recomputes each bound from the recorded discordant counts) */
    HR_EXPECT_CLI(dir, ARGS "--threads 2 --threshold 0.5 -o t", 0, out_text, "wrote t/domain_3_joint.json");
    {
        char p[1024];
        json_error_t je;
        snprintf(p, sizeof p, "%s/t/domain_3_joint.json", dir);
        json_t *j = json_load_file(p, 0, &je);
        assert_non_null(j);
        check_final(json_object_get(j, "final_configuration"), json_object_get(j, "stage1_accuracy"),
                    json_object_get(j, "stage2_throughput"));
        json_decref(j);
    }
    /* stage 2 settings do not touch stage 1: the checkpoint is still used */
    HR_EXPECT_CLI(dir, ARGS "--threads 1 --steps 30 --objective cycle -o k", 0, out_text, "resumed from");
    /* goal programming */
    HR_EXPECT_CLI(dir,
                  "joint --domain 3 --model repvgg-fmnist --weights base.safetensors --max-samples 1500 --lut lut.json "
                  "--method goal --epochs 1 --alternations 2 --goal-steps 50 -o g",
                  0, out_text, "goal programming:");
    {
        char p[1024];
        json_error_t je;
        snprintf(p, sizeof p, "%s/g/domain_3_joint.json", dir);
        json_t *j = json_load_file(p, 0, &je);
        assert_non_null(j);
        json_t *gpj = json_object_get(json_object_get(j, "stage1_accuracy"), "goal_programming");
        assert_true(json_array_size(json_object_get(gpj, "iterations")) >= 1);
        assert_true(json_number_value(json_object_get(gpj, "xi_A")) >= 0);
        assert_non_null(json_object_get(json_object_get(json_object_get(j, "stage2_throughput"), "results"), "exact"));
        assert_true(json_number_value(json_object_get(json_object_get(j, "final_configuration"), "latency_ms")) > 0);
        /* wired to the bound guard and the paired bookkeeping: a finite test
           interval, and every alternation judged by its bound */
        json_t *s1 = json_object_get(j, "stage1_accuracy"), *guard = json_object_get(s1, "guard");
        check_final(json_object_get(j, "final_configuration"), s1, json_object_get(j, "stage2_throughput"));
        assert_string_equal(json_string_value(json_object_get(guard, "mode")), "bound");
        double thr = json_number_value(json_object_get(guard, "threshold_points"));
        int fi = (int)json_integer_value(json_object_get(gpj, "final_iteration"));
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(gpj, "iterations"), i, it) {
            assert_int_equal(json_is_true(json_object_get(it, "accepted")),
                             json_number_value(json_object_get(it, "guard_drop")) <= thr);
            /* the state the run ends in passed; a rejected one before it was
               rolled back and answered by halving the strength */
            if ((int)i + 1 == fi)
                assert_true(json_is_true(json_object_get(it, "accepted")));
            assert_true(json_number_value(json_object_get(it, "l1_strength")) > 0);
        }
        if (fi > 0)
            assert_int_equal(json_integer_value(json_object_get(
                                 json_array_get(json_object_get(gpj, "iterations"), (size_t)fi - 1), "num_pruned")),
                             json_array_size(json_object_get(s1, "pruned_weights")));
        else
            assert_int_equal(json_array_size(json_object_get(s1, "pruned_weights")), 0);
        assert_true(json_is_array(json_object_get(s1, "input_pruned_weights")));
        json_decref(j);
    }
    /* goal programming interrupted after an alternation and resumed: the same
     * result as an uninterrupted run (--plain-l1 with epsilon -100: the
     * original stop rule never holds, so every alternation runs) */
#define GOAL                                                                                                        \
    "joint --domain 3 --model repvgg-fmnist --weights base.safetensors --max-samples 1500 --lut lut.json "         \
    "--method goal --epochs 1 --alternations 3 --goal-steps 50 --goal-epsilon -100 --plain-l1 "
    HR_EXPECT_CLI(dir, GOAL "-o g1", 0, out_text, "goal programming: 3 iterations");
    HR_EXPECT_CLI(dir, GOAL "--stop-after 1 -o g2", 0, out_text, "stopped after 1 alternations");
    HR_EXPECT_CLI(dir, GOAL "-o g2", 0, out_text, "resumed from");
    assert_non_null(strstr(out_text, "goal programming: 3 iterations"));
    assert_same("g1/domain_3_joint.json", "g2/domain_3_joint.json");
    assert_same_bytes("g1/domain_3_alpha.safetensors", "g2/domain_3_alpha.safetensors");
    HR_EXPECT_CLI(dir, GOAL "--goal-steps 60 -o g2", 1, err_text, "other settings");
#undef GOAL
    /* the same with the proximal step, which prunes (threshold 100: the bound
     * guard always holds, so at least 2 alternations run); another strength
     * refuses the checkpoint */
#define GOAL                                                                                                        \
    "joint --domain 3 --model repvgg-fmnist --weights base.safetensors --max-samples 1500 --lut lut.json "         \
    "--method goal --epochs 1 --alternations 3 --goal-steps 50 --goal-epsilon 100 --threshold 100 --goal-l1 2 "
    HR_EXPECT_CLI(dir, GOAL "-o g3", 0, out_text, "goal programming:");
    HR_EXPECT_CLI(dir, GOAL "--stop-after 1 -o g4", 0, out_text, "stopped after 1 alternations");
    HR_EXPECT_CLI(dir, GOAL "-o g4", 0, out_text, "resumed from");
    assert_same("g3/domain_3_joint.json", "g4/domain_3_joint.json");
    assert_same_bytes("g3/domain_3_alpha.safetensors", "g4/domain_3_alpha.safetensors");
    HR_EXPECT_CLI(dir, GOAL "--goal-l1 3 -o g4", 1, err_text, "other settings");
#undef GOAL
    /* a damaged checkpoint is an error naming the file */
    {
        char p[1024];
        snprintf(p, sizeof p, "%s/k/domain_3_checkpoint.json", dir);
        /* an α beyond float's range would become inf: refused, naming the field */
        {
            size_t n = 1 << 20;
            char *text = calloc(n, 1), *a;
            assert_non_null(text);
            hr_test_read_file(p, text, n);
            a = strstr(text, "\"alpha\": [");
            assert_non_null(a);
            char *num = a + strlen("\"alpha\": [");
            while (*num == ' ' || *num == '\n')
                num++;
            size_t len = strspn(num, "-+.0123456789eE");
            char *edited = malloc(n + 16);
            assert_non_null(edited);
            int k = snprintf(edited, n + 16, "%.*s1e300%s", (int)(num - text), text, num + len);
            hr_test_write_file(p, edited, (size_t)k);
            HR_EXPECT_CLI(dir, ARGS "--threads 2 -o k", 1, err_text, "checkpoint field \"alpha\"[0] is not a finite number");
            free(edited);
            free(text);
        }
        hr_test_write_file(p, "{\"format\": 1", 12);
        HR_EXPECT_CLI(dir, ARGS "--threads 2 -o k", 1, err_text, "domain_3_checkpoint.json");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rank), cmocka_unit_test(test_goal_gradient),
                                       cmocka_unit_test(test_usage),
                                       cmocka_unit_test(test_joint)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
