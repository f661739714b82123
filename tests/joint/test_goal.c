/* Goal programming that prunes (SPEC §13.5): the proximal step's arithmetic,
 * the LUT-share weights, the threshold rule's last-live-branch and
 * virtual-identity cases, and, on a fixture (repvgg-fmnist with random
 * weights, 6000 Fashion-MNIST images per pool, a synthetic LUT in which
 * stage3.1's 1x1 branch costs 100 times its block's other branches and
 * starts with a small α), that the expensive branch is pruned and J falls
 * across alternations; a guard failure rolls back to the last state that
 * passed; a resumed run ends bit-identical; and --plain-l1 reproduces the
 * previous implementation's numbers (recorded from it on this fixture);
 * hr_joint_goal_guarded's bound guard, paired counts and goal output fields
 * agree with per-image results recomputed here. The data tests are skipped
 * when Debian's dataset-fashion-mnist is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/ctx.h"
#include "hyperrep/data.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "hyperrep/train.h"
#include "joint/joint_internal.h"

#define HOT_BLOCK 5 /* stage3.1: dense, 1x1 and identity */

static int have_data(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", HR_FASHION_MNIST_DIR);
    return access(p, R_OK) == 0;
}

/* A merged LUT for the model's blocks: the server time of a γ is the sum of
 * its branches' costs (dense 0.2, 1x1 0.05, identity 0.01 ms; block `hot`'s
 * 1x1 hot_ms) plus 0.01 ms per stream, the client's 4 times that; a 100
 * Mbit/s link with 1 ms latency. */
static hr_lut *fixture_lut(const hr_model *m, int hot, double hot_ms)
{
    hr_error err = {0};
    hr_lut *lut = NULL;
    const int nb = hr_model_num_blocks(m);
    HR_ASSERT_OK(hr_lut_create(nb, &lut, &err), &err);
    snprintf(lut->model, sizeof lut->model, "%s", hr_model_arch(m)->name);
    for (int k = 0; k < nb; k++) {
        hr_block_info bi = hr_model_block(m, k);
        hr_lut_block *b = &lut->blocks[k];
        double cost[HR_BRANCH_COUNT] = {0.2, 0.05, 0.01};
        if (k == hot)
            cost[HR_BRANCH_1X1] = hot_ms;
        snprintf(b->name, sizeof b->name, "%s", bi.name);
        int64_t in[4] = {1, bi.cin, bi.in_h, bi.in_w}, out[4] = {1, bi.cout, bi.out_h, bi.out_w};
        memcpy(b->in_shape, in, sizeof in);
        memcpy(b->out_shape, out, sizeof out);
        b->groups = bi.groups;
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            const hr_gamma_info *gi = hr_gamma_get(g);
            if (!hr_gamma_valid(g, bi.existing, HR_MASK_SUBSET))
                continue;
            double t = 0.01 * gi->streams;
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (gi->branches >> br & 1u)
                    t += cost[br];
            b->t_ms[HR_DEVICE_SERVER][g] = t;
            b->t_ms[HR_DEVICE_CLIENT][g] = 4 * t;
            b->intensity[g] = hr_block_cost_eval(g, in, out, bi.groups).intensity;
        }
        b->comm_mb[0] = 4.0 * (double)(bi.cout * bi.out_h * bi.out_w) / 1e6;
        b->comm_mb[1] = 2 * b->comm_mb[0];
        b->comm_mb[2] = 3 * b->comm_mb[0];
    }
    lut->link.bandwidth_mbit_s = 100;
    lut->link.latency_ms = 1;
    lut->link.per_message_ms = 0;
    lut->input_shape[0] = 1;
    lut->input_shape[1] = lut->input_shape[2] = 28;
    lut->num_classes = 10;
    return lut;
}

typedef struct fixture {
    hr_ctx *ctx;
    hr_data *data;
    hr_lut *lut;
} fixture;

static fixture fx;

/* repvgg-fmnist with random weights (seed 7), every α 1 but the hot
 * branch's, which starts at hot_alpha. */
static hr_model *fixture_model(float hot_alpha)
{
    hr_error err = {0};
    hr_model *m = NULL;
    HR_ASSERT_OK(hr_model_create(fx.ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 7, &err), &err);
    HR_ASSERT_OK(hr_model_set_alpha(m, HOT_BLOCK, HR_BRANCH_1X1, hot_alpha, &err), &err);
    return m;
}

static int setup(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = 2;
    cp.seed = 42;
    if (hr_ctx_create(&cp, &fx.ctx, &err))
        return -1;
    if (!have_data())
        return 0;
    hr_data_params dp = hr_data_params_default();
    dp.load.max_samples = 6000;
    dp.seed = 42;
    if (hr_data_open(fx.ctx, &dp, &fx.data, &err))
        return -1;
    hr_model *m = fixture_model(1.0f);
    fx.lut = fixture_lut(m, HOT_BLOCK, 5.0);
    hr_model_destroy(m);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hr_lut_destroy(fx.lut);
    hr_data_destroy(fx.data);
    hr_ctx_destroy(fx.ctx);
    return 0;
}

static void test_prox(void **state)
{
    (void)state;
    assert_true(hr__goal_prox(0.5f, 0.125) == 0.375f);
    assert_true(hr__goal_prox(-0.5f, 0.125) == -0.375f);
    assert_true(hr__goal_prox(0.5f, 0.0) == 0.5f);
    /* inside the threshold: exactly +0, never -0 */
    float z = hr__goal_prox(-0.1f, 0.125);
    assert_true(z == 0.0f && !signbit(z));
    z = hr__goal_prox(0.125f, 0.125);
    assert_true(z == 0.0f && !signbit(z));
    assert_true(hr__goal_prox(0.0f, 0.5) == 0.0f);
    /* the shrink is computed in double, then rounded once */
    assert_true(hr__goal_prox(1.0f, 1e-9) == (float)(1.0 - 1e-9));
}

/* The threshold rule after phase A on repvgg-fmnist's structure: stage1.0
 * (stride 2) has no identity, stage1.1 and stage2.1 have all three. */
static void test_threshold(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_model *m;
    HR_ASSERT_OK(hr_model_create(fx.ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    const int nb = hr_model_num_blocks(m);
    assert_int_equal(hr_model_block(m, 0).existing, HR_BR_DENSE | HR_BR_1X1);
    assert_int_equal(hr_model_block(m, 1).existing, HR_BR_ALL);
    assert_int_equal(hr_model_block(m, 3).existing, HR_BR_ALL);
    float *a = malloc(sizeof *a * (size_t)(3 * nb));
    unsigned *live = malloc(sizeof *live * (size_t)nb);
    int *pr = malloc(sizeof *pr * (size_t)(3 * nb));
    assert_non_null(a);
    assert_non_null(live);
    assert_non_null(pr);
    for (int k = 0; k < nb; k++) {
        live[k] = hr_model_block(m, k).existing;
        for (int br = 0; br < 3; br++)
            a[k * 3 + br] = (live[k] >> br & 1u) ? 0.8f : 0.0f;
    }
    /* stage1.0: both real branches below the threshold; the original's
     * hyper_identity (virtual) holds 0.5 but is no branch, so the block keeps
     * its larger real one */
    a[0] = 0.005f, a[1] = -0.003f, a[2] = 0.5f;
    /* stage1.1: two below */
    a[3] = 0.005f, a[4] = 0.5f, a[5] = -0.002f;
    /* stage2.0: the proximal step left the 1x1 at exactly 0 (still live) */
    a[7] = 0.0f;
    /* stage2.1: every branch below: the largest |α| stays */
    a[9] = 0.004f, a[10] = -0.009f, a[11] = 0.001f;
    int n = hr__goal_threshold(m, live, a, 0.01, pr);
    int want[] = {1, 3, 5, 7, 9, 11};
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++)
        assert_int_equal(pr[i], want[i]);
    assert_true(a[0] == 0.005f && a[1] == 0.0f && a[2] == 0.5f);
    assert_true(a[3] == 0.0f && a[4] == 0.5f && a[5] == 0.0f);
    assert_true(a[9] == 0.0f && a[10] == -0.009f && a[11] == 0.0f);
    /* a block whose only live branch is tiny keeps it */
    live[0] = HR_BR_DENSE;
    a[0] = 0.001f, a[1] = 0.0f;
    live[1] = HR_BR_1X1, live[3] = HR_BR_1X1, live[2] = HR_BR_DENSE;
    n = hr__goal_threshold(m, live, a, 0.01, pr);
    assert_int_equal(n, 0);
    assert_true(a[0] == 0.001f);
    /* threshold 0: only what the proximal step zeroed */
    live[4] = HR_BR_DENSE | HR_BR_1X1;
    a[12] = 0.0f, a[13] = 0.003f;
    n = hr__goal_threshold(m, live, a, 0.0, pr);
    assert_int_equal(n, 1);
    assert_int_equal(pr[0], 12);
    free(a), free(live), free(pr);
    hr_model_destroy(m);
}

/* Each live branch's weight is its share of its block's single-branch γ time
 * on the side its soft split puts it, times the live count. */
static void test_weights(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_model *m;
    HR_ASSERT_OK(hr_model_create(fx.ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    const int nb = hr_model_num_blocks(m);
    hr_lut *lut = fixture_lut(m, HOT_BLOCK, 5.0);
    hr_optim_params op = hr_optim_params_default();
    hr_goal_params gp = hr_goal_params_default();
    hr_optim_problem *p;
    hr__goal G;
    unsigned *live = malloc(sizeof *live * (size_t)nb);
    double *w = malloc(sizeof *w * (size_t)(3 * nb));
    assert_non_null(live);
    assert_non_null(w);
    for (int k = 0; k < nb; k++)
        live[k] = hr_model_block(m, k).existing;
    live[1] = HR_BR_DENSE | HR_BR_IDENTITY; /* stage1.1's 1x1 pruned */
    HR_ASSERT_OK(hr_optim_problem_create(lut, live, &op, &p, &err), &err);
    HR_ASSERT_OK(hr__goal_init(&G, p, &gp, &err), &err);
    for (int side = 0; side < 2; side++) {
        /* λ = N: every block on the head (client); λ = 0: on the tail (server) */
        double lambda = side == 0 ? nb : 0, f = side == 0 ? 4 : 1;
        hr__goal_l1_weights(&G, p, live, lambda, w);
        for (int k = 0; k < nb; k++) {
            double c[3] = {0.21, k == HOT_BLOCK ? 5.01 : 0.06, 0.02}, sum = 0;
            int n = 0;
            for (int br = 0; br < 3; br++)
                if (live[k] >> br & 1u)
                    sum += f * c[br], n++;
            for (int br = 0; br < 3; br++) {
                double want = (live[k] >> br & 1u) ? n * f * c[br] / sum : 1.0;
                if (fabs(w[k * 3 + br] - want) > 1e-12)
                    fail_msg("side %d block %d branch %d: weight %.15g, want %.15g", side, k, br, w[k * 3 + br],
                             want);
            }
        }
        assert_true(w[HOT_BLOCK * 3 + HR_BRANCH_1X1] > 2.8);
    }
    hr__goal_deinit(&G);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
    free(live), free(w);
    hr_model_destroy(m);
}

typedef struct run {
    hr_joint_result s1;
    hr_goal_result g;
    hr_optim_problem *p;
} run;

static void run_goal(float hot_alpha, const hr_goal_params *gp, const hr_joint_params *jp_in, run *r)
{
    hr_error err = {0};
    hr_joint_params jp = jp_in ? *jp_in : hr_joint_params_default();
    hr_optim_params op = hr_optim_params_default();
    if (!jp_in)
        jp.epochs = 1;
    hr_model *m = fixture_model(hot_alpha);
    hr_joint_result_init(&r->s1);
    memset(&r->g, 0, sizeof r->g);
    hr_optim_result_init(&r->g.config);
    HR_ASSERT_OK(hr_joint_goal(m, fx.data, 3, fx.lut, &jp, &op, gp, &r->s1, &r->g, &r->p, &err), &err);
    hr_model_destroy(m);
}

static void run_free(run *r)
{
    hr_joint_result_deinit(&r->s1);
    hr_optim_result_deinit(&r->g.config);
    hr_optim_problem_destroy(r->p);
}

static int pruned_hot(const hr_joint_result *s1)
{
    for (int i = 0; i < s1->npruned; i++)
        if (s1->pruned_block[i] == HOT_BLOCK && s1->pruned_branch[i] == HR_BRANCH_1X1)
            return 1;
    return 0;
}

static void print_run(const char *what, const run *r)
{
    print_message("%s: %d alternations (%s), %d pruned, final iteration %d\n", what, r->g.niter, r->g.stop_reason,
                  r->s1.npruned, r->g.final_iteration);
    for (int i = 0; i < r->g.niter; i++) {
        const hr_goal_iter *it = &r->g.iter[i];
        print_message("  %d: val %.2f test %.2f J %.6f T_eff %.6f lambda %.4f xi %.4f pruned %d (+%d) %s\n",
                      it->iteration, it->val_acc, it->test_acc, it->j, it->t_eff, it->lambda, it->xi, it->num_pruned,
                      it->new_pruned, it->accepted ? "accepted" : "rejected");
    }
}

/* The expensive, cheap-to-lose branch is pruned; masks, FLOPs and the final
 * γ follow; J falls across alternations, and ends below plain L1's, which
 * keeps the branch. */
static void test_prunes(void **state)
{
    (void)state;
    if (!fx.data) {
        print_message("dataset-fashion-mnist not installed: skipped\n");
        skip();
    }
    hr_goal_params gp = hr_goal_params_default();
    gp.steps = 100;
    gp.alternations = 4;
    gp.l1_strength = 0.25; /* the hot 1x1 (weight 2.9) reaches 0 in the second alternation */
    gp.epsilon = 5;
    run r, plain;
    run_goal(0.15f, &gp, NULL, &r);
    print_run("weighted", &r);
    assert_true(pruned_hot(&r.s1));
    assert_true(r.g.niter >= 2);
    assert_int_equal(r.g.final_iteration, r.g.niter);
    /* the mask, the expectations and the FLOPs follow */
    assert_int_equal(hr_optim_problem_live(r.p, HOT_BLOCK) & HR_BR_1X1, 0);
    assert_true(r.s1.alpha[HOT_BLOCK * 3 + HR_BRANCH_1X1] == 0.0f);
    assert_false(hr_gamma_get(r.g.config.gamma[HOT_BLOCK])->branches & HR_BR_1X1);
    assert_true(r.s1.final_gflops < r.s1.initial_gflops);
    assert_int_equal(r.g.iter[r.g.niter - 1].num_pruned, r.s1.npruned);
    /* J falls across alternations: the alternation that pruned it is below
     * the one before */
    int at = -1;
    for (int i = 0; i < r.g.niter; i++)
        if (r.g.iter[i].new_pruned > 0 && at < 0)
            at = i;
    assert_true(at >= 1);
    assert_true(r.g.iter[at].j < r.g.iter[at - 1].j - 1.0);
    assert_true(r.g.iter[r.g.niter - 1].j < r.g.iter[0].j - 1.0);
    /* the pruning states are rounds for the report */
    assert_int_equal(r.s1.nrounds, r.g.niter);
    assert_true(r.s1.rounds[at].applied);
    assert_int_equal(r.s1.rounds[at].num_pruned, r.g.iter[at].num_pruned);
    assert_non_null(r.s1.rounds[at].alpha);
    assert_true(r.s1.rounds[at].alpha[HOT_BLOCK * 3 + HR_BRANCH_1X1] == 0.0f);

    hr_goal_params pp = gp;
    pp.weighted_l1 = 0;
    run_goal(0.15f, &pp, NULL, &plain);
    print_run("plain", &plain);
    assert_false(pruned_hot(&plain.s1));
    assert_true(r.g.iter[r.g.niter - 1].j < plain.g.iter[plain.g.niter - 1].j - 1.0);
    run_free(&r);
    run_free(&plain);
}

/* A guard that rejects from alternation `reject_at` on, counting its calls. */
typedef struct guard_state {
    int reject_at, calls, last_tried;
} guard_state;

static hr_status reject_from(void *user, struct hr_trainer *t, int tried, int *accept, double *drop, hr_error *err)
{
    (void)t, (void)err;
    guard_state *g = user;
    g->calls++;
    g->last_tried = tried;
    *accept = tried < g->reject_at;
    *drop = tried;
    return HR_OK;
}

/* A failing guard rolls the run back to the last state that passed: the
 * state of a run that stopped there. */
static void test_rollback(void **state)
{
    (void)state;
    if (!fx.data)
        skip();
    hr_goal_params gp = hr_goal_params_default();
    gp.steps = 100;
    gp.alternations = 4;
    gp.l1_strength = 0.25; /* the hot 1x1 (weight 2.9) reaches 0 in the second alternation */
    gp.backoffs = 0;       /* stop at the first failure */
    guard_state gs = {2, 0, 0};
    gp.guard.check = reject_from;
    gp.guard.user = &gs;
    run r, one;
    run_goal(0.15f, &gp, NULL, &r);
    print_run("rejected at 2", &r);
    assert_int_equal(r.g.niter, 2);
    assert_int_equal(gs.calls, 2);
    assert_int_equal(gs.last_tried, 2);
    assert_int_equal(r.g.final_iteration, 1);
    assert_false(r.g.iter[1].accepted);
    assert_non_null(strstr(r.g.stop_reason, "rolled back to alternation 1"));

    hr_goal_params g1 = gp;
    guard_state pass = {1000, 0, 0};
    g1.alternations = 1;
    g1.guard.user = &pass;
    run_goal(0.15f, &g1, NULL, &one);
    assert_memory_equal(r.s1.alpha, one.s1.alpha, sizeof(float) * 21);
    assert_int_equal(r.s1.npruned, one.s1.npruned);
    assert_true(r.g.lambda == one.g.lambda && r.g.xi == one.g.xi);
    assert_memory_equal(r.g.config.gamma, one.g.config.gamma, sizeof(int) * 7);
    assert_true(r.s1.final_val == one.s1.final_val && r.s1.final_test == one.s1.final_test);
    assert_true(r.s1.final_gflops == one.s1.final_gflops);
    run_free(&r);
    run_free(&one);

    /* rejected at once: back to the start */
    gs.reject_at = 1, gs.calls = 0;
    run_goal(0.15f, &gp, NULL, &r);
    assert_int_equal(r.g.niter, 1);
    assert_int_equal(r.g.final_iteration, 0);
    assert_int_equal(r.s1.npruned, 0);
    assert_memory_equal(r.s1.alpha, r.s1.alpha_initial, sizeof(float) * 21);
    assert_true(r.s1.final_val == r.s1.initial_val);
    assert_true(r.s1.final_gflops == r.s1.initial_gflops);
    run_free(&r);
}

/* With back-offs, a failure rolls back, halves the strength and goes on;
 * one failure more than the back-offs allow stops the run, in the state of
 * the last alternation that passed. */
static void test_backoff(void **state)
{
    (void)state;
    if (!fx.data)
        skip();
    hr_goal_params gp = hr_goal_params_default();
    gp.steps = 100;
    gp.alternations = 5;
    gp.l1_strength = 0.25;
    gp.backoffs = 2;
    guard_state gs = {2, 0, 0}; /* every alternation from the second fails */
    gp.guard.check = reject_from;
    gp.guard.user = &gs;
    run r, one;
    run_goal(0.15f, &gp, NULL, &r);
    print_run("back-offs", &r);
    assert_int_equal(r.g.niter, 4); /* 1 passes, 2 and 3 back off, 4 stops */
    assert_int_equal(gs.calls, 4);
    assert_int_equal(r.g.final_iteration, 1);
    assert_true(r.g.iter[0].accepted);
    for (int i = 1; i < 4; i++)
        assert_false(r.g.iter[i].accepted);
    assert_true(r.g.iter[0].l1_strength == 0.25 && r.g.iter[1].l1_strength == 0.25);
    assert_true(r.g.iter[2].l1_strength == 0.125 && r.g.iter[3].l1_strength == 0.0625);
    assert_non_null(strstr(r.g.stop_reason, "rolled back to alternation 1"));
    /* the result is the first alternation's state */
    hr_goal_params g1 = gp;
    guard_state pass = {1000, 0, 0};
    g1.alternations = 1;
    g1.guard.user = &pass;
    run_goal(0.15f, &g1, NULL, &one);
    assert_memory_equal(r.s1.alpha, one.s1.alpha, sizeof(float) * 21);
    run_free(&r);
    run_free(&one);
}

/* Interrupted after every alternation and resumed each time: the same
 * result, bit for bit, as one uninterrupted run, pruning included. */
static void test_resume(void **state)
{
    (void)state;
    if (!fx.data)
        skip();
    hr_goal_params gp = hr_goal_params_default();
    gp.steps = 100;
    gp.alternations = 4;
    gp.l1_strength = 0.25; /* the hot 1x1 (weight 2.9) reaches 0 in the second alternation */
    gp.epsilon = 5;
    hr_joint_params jp = hr_joint_params_default();
    jp.epochs = 1;
    char ck[600];
    snprintf(ck, sizeof ck, "%s/goal_resume.json", hr_test_tmpdir());
    unlink(ck);
    run a, b;
    run_goal(0.15f, &gp, &jp, &a);
    jp.checkpoint = ck;
    jp.stop_after = 1;
    for (int i = 0; i < 8; i++) {
        run_goal(0.15f, &gp, &jp, &b);
        int complete = b.s1.complete;
        if (!complete)
            run_free(&b);
        else
            break;
        assert_true(i < 7);
    }
    assert_true(b.s1.resumed_rounds > 0);
    assert_int_equal(a.g.niter, b.g.niter);
    assert_memory_equal(a.g.iter, b.g.iter, sizeof(hr_goal_iter) * (size_t)a.g.niter);
    assert_memory_equal(a.s1.alpha, b.s1.alpha, sizeof(float) * 21);
    assert_int_equal(a.s1.npruned, b.s1.npruned);
    assert_memory_equal(a.s1.pruned_block, b.s1.pruned_block, sizeof(int) * (size_t)a.s1.npruned);
    assert_memory_equal(a.g.config.gamma, b.g.config.gamma, sizeof(int) * 7);
    assert_true(a.g.lambda == b.g.lambda && a.g.xi == b.g.xi);
    assert_string_equal(a.g.stop_reason, b.g.stop_reason);
    run_free(&a);
    run_free(&b);
    /* another strength refuses the checkpoint */
    hr_error err = {0};
    hr_goal_params g2 = gp;
    g2.l1_strength *= 2;
    jp.stop_after = 0;
    hr_model *m = fixture_model(0.15f);
    hr_joint_result s1;
    hr_goal_result g;
    hr_optim_problem *p = NULL;
    hr_optim_params op = hr_optim_params_default();
    hr_joint_result_init(&s1);
    memset(&g, 0, sizeof g);
    assert_int_equal(hr_joint_goal(m, fx.data, 3, fx.lut, &jp, &op, &g2, &s1, &g, &p, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "other settings"));
    hr_model_destroy(m);
    unlink(ck);
}

/* ---- goal programming wired to the bound guard (hr_joint_goal_guarded) ---- */

/* Sets a fresh fixture model's α to a (non-zero values first). */
static hr_model *model_with_alpha(const float *a)
{
    hr_error err = {0};
    hr_model *m = fixture_model(1.0f);
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < hr_model_num_blocks(m); k++) {
            hr_block_info bi = hr_model_block(m, k);
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                float v = a[k * 3 + br];
                if (!(bi.existing >> br & 1u) || (pass == 0) != (v != 0.0f) || (pass == 1 && !(bi.live >> br & 1u)))
                    continue;
                HR_ASSERT_OK(hr_model_set_alpha(m, k, (hr_branch)br, v, &err), &err);
                bi = hr_model_block(m, k);
            }
        }
    return m;
}

/* Per-image results of α a on an iterator of n images (into out). */
static void per_image(const float *a, hr_batch_iter *it, int64_t n, uint8_t *out)
{
    hr_error err = {0};
    hr_model *m = model_with_alpha(a);
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_trainer *t = NULL;
    float *logits = malloc(sizeof(float) * 32 * 10);
    assert_non_null(logits);
    tp.batch = 32;
    HR_ASSERT_OK(hr_trainer_create(m, &tp, &t, &err), &err);
    HR_ASSERT_OK(hr__joint_correct_per_image(t, it, logits, out, n, &err), &err);
    hr_trainer_destroy(t);
    hr_model_destroy(m);
    free(logits);
}

/* b (right under a0, wrong under a) and c (the reverse) over n images. */
static void discordant(const uint8_t *r0, const uint8_t *r, int64_t n, int64_t *b, int64_t *c)
{
    *b = *c = 0;
    for (int64_t i = 0; i < n; i++) {
        *b += r0[i] && !r[i];
        *c += !r0[i] && r[i];
    }
}

static void run_guarded(float hot_alpha, const hr_goal_params *gp, const hr_joint_params *jp, run *r)
{
    hr_error err = {0};
    hr_optim_params op = hr_optim_params_default();
    hr_model *m = fixture_model(hot_alpha);
    hr_joint_result_init(&r->s1);
    memset(&r->g, 0, sizeof r->g);
    hr_optim_result_init(&r->g.config);
    HR_ASSERT_OK(hr_joint_goal_guarded(m, fx.data, 3, fx.lut, jp, &op, gp, &r->s1, &r->g, &r->p, &err), &err);
    /* the model ends holding the final α */
    for (int k = 0; k < hr_model_num_blocks(m); k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (hr_model_block(m, k).existing >> br & 1u)
                assert_true(hr_model_block(m, k).alpha[br] == r->s1.alpha[k * 3 + br]);
    hr_model_destroy(m);
}

/* Under the bound guard every alternation's guard_drop is the bound of its
 * paired drop on the guard half (odd positions of the validation part),
 * recomputed here from per-image results for the final state; accepted ⇔
 * bound <= threshold; A_ref is the selection half's accuracy; the result is
 * paired, so the final configuration has a finite test interval; and the
 * goal's JSON block carries its per-iteration and run fields. */
static void test_bound_guard(void **state)
{
    (void)state;
    if (!fx.data)
        skip();
    hr_error err = {0};
    hr_goal_params gp = hr_goal_params_default();
    gp.steps = 100;
    gp.alternations = 3;
    gp.l1_strength = 0.25; /* the hot 1x1 (weight 2.9) reaches 0 in the second alternation */
    hr_joint_params jp = hr_joint_params_default();
    jp.epochs = 1;
    jp.threshold = 100; /* every state passes: the final state is the last alternation's */
    jp.lr = 0.5;        /* large steps, so that guard images change their answers */
    assert_int_equal(jp.guard, HR_GUARD_BOUND);
    run r;
    run_guarded(0.15f, &gp, &jp, &r);
    print_run("bound guard, threshold 100", &r);
    const hr_joint_result *s1 = &r.s1;
    assert_true(s1->paired);
    assert_int_equal(s1->guard, HR_GUARD_BOUND);
    assert_int_equal(s1->n_select + s1->n_guard, s1->n_val);
    assert_int_equal(s1->n_select, (s1->n_val + 1) / 2);
    assert_int_equal(r.g.final_iteration, r.g.niter);
    assert_true(pruned_hot(s1));
    for (int i = 0; i < r.g.niter; i++)
        assert_int_equal(r.g.iter[i].accepted, r.g.iter[i].guard_drop <= jp.threshold);

    /* the halves and round 0, recomputed */
    int64_t nsel, ng, nval, nte;
    hr_batch_iter *sel = NULL, *grd = NULL, *te = NULL;
    hr_batch_params bp = hr_batch_params_default();
    HR_ASSERT_OK(hr__joint_val_half_iter(fx.ctx, fx.data, 3, 0, 32, &sel, &nsel, &err), &err);
    HR_ASSERT_OK(hr__joint_val_half_iter(fx.ctx, fx.data, 3, 1, 32, &grd, &ng, &err), &err);
    assert_non_null(hr_partition_indices(hr_data_partition(fx.data), 3, HR_PART_VAL, &nval));
    assert_non_null(hr_partition_indices(hr_data_partition(fx.data), 3, HR_PART_TEST, &nte));
    HR_ASSERT_OK(hr_data_iter_create(fx.ctx, fx.data, 3, HR_PART_TEST, &bp, &te, &err), &err);
    assert_int_equal(nsel, s1->n_select);
    assert_int_equal(ng, s1->n_guard);
    assert_int_equal(nte, s1->n_test);
    uint8_t *r0 = malloc((size_t)nval), *rf = malloc((size_t)nval), *t0 = malloc((size_t)nte),
            *tf = malloc((size_t)nte);
    assert_true(r0 && rf && t0 && tf);
    per_image(s1->alpha_initial, sel, nsel, r0);
    int64_t hit = 0, b, c;
    for (int64_t i = 0; i < nsel; i++)
        hit += r0[i];
    assert_true(fabs(s1->initial_val - 100.0 * (double)hit / (double)nsel) < 1e-9);
    per_image(s1->alpha_initial, grd, ng, r0);
    per_image(s1->alpha, grd, ng, rf);
    hit = 0;
    for (int64_t i = 0; i < ng; i++)
        hit += r0[i];
    assert_int_equal(hit, s1->guard_right0);
    discordant(r0, rf, ng, &b, &c);
    double bound = hr_joint_guard_bound(b, c, ng, jp.guard_alpha, r.g.niter);
    print_message("final state: b %lld, c %lld on %lld guard images, bound %.6f, recorded %.6f\n", (long long)b,
                  (long long)c, (long long)ng, bound, r.g.iter[r.g.niter - 1].guard_drop);
    assert_true(r.g.iter[r.g.niter - 1].guard_drop == bound);
    /* the final α's paired test counts */
    per_image(s1->alpha_initial, te, nte, t0);
    per_image(s1->alpha, te, nte, tf);
    discordant(t0, tf, nte, &b, &c);
    assert_int_equal(b, s1->final_test_b);
    assert_int_equal(c, s1->final_test_c);
    hit = 0;
    for (int64_t i = 0; i < nte; i++)
        hit += t0[i];
    assert_int_equal(hit, s1->test_right0);
    for (int i = 0; i < s1->nrounds; i++)
        if (s1->rounds[i].applied) {
            per_image(s1->rounds[i].alpha, te, nte, tf);
            discordant(t0, tf, nte, &b, &c);
            assert_int_equal(b, s1->rounds[i].test_b);
            assert_int_equal(c, s1->rounds[i].test_c);
        }
    free(r0), free(rf), free(t0), free(tf);
    hr_batch_iter_destroy(sel);
    hr_batch_iter_destroy(grd);
    hr_batch_iter_destroy(te);

    /* the final configuration has a finite interval around its drop */
    hr_optim_params op = hr_optim_params_default();
    hr_joint_choice ch;
    hr_joint_choice_init(&ch);
    HR_ASSERT_OK(hr_joint_choose(fx.lut, &op, s1, &ch, &err), &err);
    assert_true(isfinite(ch.drop_lo) && isfinite(ch.drop_hi));
    assert_true(ch.drop_lo <= ch.drop + 1e-9 && ch.drop <= ch.drop_hi + 1e-9);
    hr_joint_choice_deinit(&ch);

    /* the goal block of the joint output */
    hr_optim_result ex;
    hr_optim_result_init(&ex);
    HR_ASSERT_OK(hr_optim_exact(r.p, &ex, &err), &err);
    hr_model *m = fixture_model(0.15f);
    hr_joint_report rep;
    memset(&rep, 0, sizeof rep);
    rep.model = m;
    rep.stage1 = s1;
    rep.problem = r.p;
    rep.exact = &ex;
    rep.goal = &r.g;
    rep.domain = 3;
    rep.method = "goal";
    rep.params = &jp;
    char path[600];
    snprintf(path, sizeof path, "%s/goal_report.json", hr_test_tmpdir());
    HR_ASSERT_OK(hr_joint_report_save(path, &rep, &err), &err);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    json_t *js1 = json_object_get(j, "stage1_accuracy"), *gj = json_object_get(js1, "goal_programming");
    json_t *its = json_object_get(gj, "iterations"), *hist = json_object_get(js1, "pruning_history");
    int fi = (int)json_integer_value(json_object_get(gj, "final_iteration"));
    assert_int_equal(fi, r.g.final_iteration);
    assert_true(json_is_true(json_object_get(gj, "weighted_l1")));
    assert_true(json_number_value(json_object_get(gj, "l1_strength")) == gp.l1_strength);
    assert_true(json_number_value(json_object_get(gj, "pruning_threshold")) == gp.pruning_threshold);
    assert_int_equal(json_array_size(its), r.g.niter);
    assert_int_equal(json_array_size(hist), r.g.niter);
    int sum_new = 0;
    for (int i = 0; i < r.g.niter; i++) {
        json_t *it = json_array_get(its, (size_t)i);
        const hr_goal_iter *gi = &r.g.iter[i];
        int np = (int)json_integer_value(json_object_get(it, "new_pruned"));
        sum_new += np;
        assert_int_equal(np, gi->new_pruned);
        assert_int_equal(json_integer_value(json_object_get(it, "num_pruned")), sum_new);
        assert_true(fabs(json_number_value(json_object_get(it, "gflops")) - gi->gflops) <= 1e-8 * gi->gflops);
        int acc = json_is_true(json_object_get(it, "accepted"));
        assert_true(json_is_boolean(json_object_get(it, "accepted")));
        assert_int_equal(acc, gi->accepted);
        assert_true(fabs(json_number_value(json_object_get(it, "guard_drop")) - gi->guard_drop) <=
                    1e-8 * fmax(1.0, fabs(gi->guard_drop)));
        /* the history's applied flag: accepted, kept and pruning something */
        assert_int_equal(json_is_true(json_object_get(json_array_get(hist, (size_t)i), "applied")),
                         acc && i + 1 <= fi && np > 0);
    }
    /* the final state's count is the run's pruned list */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(its, (size_t)fi - 1), "num_pruned")),
                     json_array_size(json_object_get(js1, "pruned_weights")));
    assert_int_equal(json_integer_value(json_object_get(js1, "total_pruned")),
                     json_array_size(json_object_get(js1, "pruned_weights")));
    /* the input α prunes nothing here; the final configuration's interval */
    assert_true(json_is_array(json_object_get(js1, "input_pruned_weights")));
    assert_int_equal(json_array_size(json_object_get(js1, "input_pruned_weights")), 0);
    json_t *ci = json_object_get(json_object_get(j, "final_configuration"), "accuracy_drop_ci95");
    assert_true(json_is_array(ci) && json_array_size(ci) == 2);
    assert_true(isfinite(json_number_value(json_array_get(ci, 0))) &&
                isfinite(json_number_value(json_array_get(ci, 1))));
    json_decref(j);
    hr_model_destroy(m);
    hr_optim_result_deinit(&ex);
    run_free(&r);

    /* threshold 0: a state passes only when no guard image changes */
    jp.threshold = 0;
    run_guarded(0.15f, &gp, &jp, &r);
    print_run("bound guard, threshold 0", &r);
    for (int i = 0; i < r.g.niter; i++)
        assert_int_equal(r.g.iter[i].accepted, r.g.iter[i].guard_drop <= 0);
    if (!r.g.iter[r.g.niter - 1].accepted)
        assert_int_equal(r.g.final_iteration, r.g.niter - 1);
    run_free(&r);
}

/* An input α with a branch at 0: listed in input_pruned_weights, never in
 * this run's pruned_weights. */
static void test_input_pruned(void **state)
{
    (void)state;
    if (!fx.data)
        skip();
    hr_error err = {0};
    hr_goal_params gp = hr_goal_params_default();
    gp.steps = 20;
    gp.alternations = 1;
    hr_joint_params jp = hr_joint_params_default();
    jp.epochs = 1;
    jp.guard = HR_GUARD_POINT;
    run r;
    hr_optim_params op = hr_optim_params_default();
    hr_model *m = fixture_model(0.0f); /* stage3.1's 1x1 starts pruned */
    hr_joint_result_init(&r.s1);
    memset(&r.g, 0, sizeof r.g);
    hr_optim_result_init(&r.g.config);
    HR_ASSERT_OK(hr_joint_goal_guarded(m, fx.data, 3, fx.lut, &jp, &op, &gp, &r.s1, &r.g, &r.p, &err), &err);
    assert_int_equal(r.s1.guard, HR_GUARD_POINT);
    assert_int_equal(r.s1.n_select, r.s1.n_val);
    assert_int_equal(r.s1.n_guard, r.s1.n_val);
    assert_false(r.s1.unpruned_same);
    assert_true(r.s1.unpruned_test > 0);
    hr_joint_report rep;
    memset(&rep, 0, sizeof rep);
    rep.model = m;
    rep.stage1 = &r.s1;
    rep.goal = &r.g;
    rep.method = "goal";
    rep.domain = 3;
    char path[600];
    snprintf(path, sizeof path, "%s/goal_input_pruned.json", hr_test_tmpdir());
    HR_ASSERT_OK(hr_joint_report_save(path, &rep, &err), &err);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    json_t *ip = json_object_get(json_object_get(j, "stage1_accuracy"), "input_pruned_weights");
    assert_int_equal(json_array_size(ip), 1);
    assert_string_equal(json_string_value(json_array_get(ip, 0)), "stage3.1.hyper_1x1");
    json_t *pw = json_object_get(json_object_get(j, "stage1_accuracy"), "pruned_weights"), *v;
    size_t i;
    json_array_foreach(pw, i, v) assert_string_not_equal(json_string_value(v), "stage3.1.hyper_1x1");
    json_decref(j);
    hr_model_destroy(m);
    run_free(&r);
}

/* --plain-l1 against the numbers the previous implementation (before the
 * proximal step, git c9b703b's src/joint/goal.c) produced on this fixture:
 * 3 alternations of 1 epoch, 50 phase-B steps, the stop rule kept off. */
#include "goal_plain_ref.h"

static void test_plain_reproduces(void **state)
{
    (void)state;
    if (!fx.data)
        skip();
    hr_goal_params gp = hr_goal_params_default();
    gp.weighted_l1 = 0;
    gp.steps = 50;
    gp.alternations = 3;
    gp.epsilon = -100;
    run r;
    run_goal(0.15f, &gp, NULL, &r);
    print_run("plain", &r);
    assert_int_equal(r.g.niter, PLAIN_REF_NITER);
    assert_int_equal(r.s1.npruned, 0);
    for (int i = 0; i < r.g.niter; i++) {
        const hr_goal_iter *it = &r.g.iter[i];
        const double *ref = plain_ref_iter[i];
        double got[6] = {it->val_acc, it->test_acc, it->xi, it->lambda, it->j, it->t_eff};
        for (int j = 0; j < 6; j++)
            if (fabs(got[j] - ref[j]) > 1e-9 * fmax(1.0, fabs(ref[j])))
                fail_msg("alternation %d, value %d: %.17g, previously %.17g", i + 1, j, got[j], ref[j]);
    }
    for (int i = 0; i < 21; i++)
        if (fabsf(r.s1.alpha[i] - plain_ref_alpha[i]) > 1e-6f * fmaxf(1.0f, fabsf(plain_ref_alpha[i])))
            fail_msg("alpha %d: %.9g, previously %.9g", i, r.s1.alpha[i], plain_ref_alpha[i]);
    for (int k = 0; k < 7; k++)
        assert_int_equal(r.g.config.gamma[k], plain_ref_gamma[k]);
    assert_int_equal(r.g.config.eval.placement, PLAIN_REF_PLACEMENT);
    assert_string_equal(r.g.stop_reason, PLAIN_REF_STOP);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prox),       cmocka_unit_test(test_threshold), cmocka_unit_test(test_weights),
        cmocka_unit_test(test_prunes),     cmocka_unit_test(test_rollback), cmocka_unit_test(test_backoff),  cmocka_unit_test(test_resume),
        cmocka_unit_test(test_plain_reproduces), cmocka_unit_test(test_bound_guard),
        cmocka_unit_test(test_input_pruned),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
