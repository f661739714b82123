/* Issue 13 in the library: the accuracy guard's arithmetic (incomplete beta,
 * Clopper–Pearson, the guard's bound, the paired interval), the threshold
 * rule, the final configuration against a brute force over its candidate
 * set, and the point rule's stop and best-so-far on a scripted trainer
 * whose outcomes are known. Reference values: closed forms of the beta
 * function (I_x(1/2, 1/2) = (2/π)·asin √x; integer parameters are binomial
 * tails), a Clopper–Pearson table value (5 of 10: 95 % two-sided upper
 * 0.8129) and, for Newcombe's interval, an independent Python
 * implementation of the published formula (python3, no SciPy here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/ctx.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "hyperrep/train.h"

/* P(Binomial(m, p) <= k), summed directly. */
static double binom_cdf(int k, int m, double p)
{
    double s = 0;
    for (int j = 0; j <= k; j++)
        s += exp(lgamma(m + 1.0) - lgamma(j + 1.0) - lgamma(m - j + 1.0) + j * log(p) + (m - j) * log1p(-p));
    return s;
}

static void test_beta(void **state)
{
    (void)state;
    const double xs[] = {1e-6, 0.01, 0.2, 0.5, 0.73, 0.99, 1 - 1e-6};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double x = xs[i];
        assert_true(fabs(hr_stat_beta_inc(0.5, 0.5, x) - 2 / 3.14159265358979323846 * asin(sqrt(x))) < 1e-12);
        assert_true(fabs(hr_stat_beta_inc(1, 1, x) - x) < 1e-13);
        assert_true(fabs(hr_stat_beta_inc(3, 1, x) - x * x * x) < 1e-13);
        assert_true(fabs(hr_stat_beta_inc(1, 4, x) - (1 - pow(1 - x, 4))) < 1e-13);
        /* integer parameters: I_x(k + 1, m − k) = P(Binomial(m, x) >= k + 1) */
        const int km[][2] = {{0, 5}, {3, 10}, {17, 40}, {120, 300}, {999, 2000}};
        for (size_t j = 0; j < sizeof km / sizeof km[0]; j++) {
            int k = km[j][0], m = km[j][1];
            double want = 1 - binom_cdf(k, m, x), got = hr_stat_beta_inc(k + 1, m - k, x);
            if (fabs(got - want) > 1e-11)
                fail_msg("I_%g(%d, %d) = %.15g, binomial tail %.15g", x, k + 1, m - k, got, want);
        }
    }
    assert_true(fabs(hr_stat_beta_inc(7, 7, 0.5) - 0.5) < 1e-14);
    assert_true(hr_stat_beta_inc(2, 3, 0) == 0 && hr_stat_beta_inc(2, 3, 1) == 1);
    assert_true(isnan(hr_stat_beta_inc(0, 3, 0.5)) && isnan(hr_stat_beta_inc(2, -1, 0.5)));
    /* the inverse */
    for (double p = 0.001; p < 1; p += 0.0997)
        for (double a = 0.5; a < 200; a *= 3.7) {
            double x = hr_stat_beta_inv(a, 2.5 * a + 1, p);
            assert_true(fabs(hr_stat_beta_inc(a, 2.5 * a + 1, x) - p) < 1e-10);
        }
    assert_true(hr_stat_beta_inv(2, 2, 0) == 0 && hr_stat_beta_inv(2, 2, 1) == 1);
}

static void test_clopper_pearson(void **state)
{
    (void)state;
    /* closed forms: k = 0 gives 1 − (1 − q)^(1/m); k = m − 1 gives q^(1/m) */
    for (int m = 1; m < 300; m += 37) {
        assert_true(fabs(hr_stat_cp_upper(0, m, 0.9) - (1 - pow(0.1, 1.0 / m))) < 1e-12);
        assert_true(fabs(hr_stat_cp_upper(m - 1, m, 0.95) - pow(0.95, 1.0 / m)) < 1e-12);
        assert_true(hr_stat_cp_upper(m, m, 0.9) == 1);
    }
    /* the table value: 5 of 10, 95 % two-sided (one-sided 97.5 %): 0.8129 */
    assert_true(fabs(hr_stat_cp_upper(5, 10, 0.975) - 0.81291) < 5e-5);
    /* the defining property P(Bin(m, p_hi) <= k) = 1 − level */
    const int km[][2] = {{2, 9}, {40, 100}, {333, 700}};
    for (size_t j = 0; j < 3; j++) {
        double p = hr_stat_cp_upper(km[j][0], km[j][1], 0.95);
        assert_true(fabs(binom_cdf(km[j][0], km[j][1], p) - 0.05) < 1e-10);
    }
    assert_true(hr_stat_cp_upper(0, 0, 0.9) == 1);
}

static void test_guard_bound(void **state)
{
    (void)state;
    /* no discordant pair: 0, whatever the level */
    assert_true(hr_joint_guard_bound(0, 0, 200, 0.1, 1) == 0);
    assert_true(hr_joint_guard_bound(0, 0, 200, 0.1, 7) == 0);
    assert_true(hr_joint_guard_bound(3, 1, 0, 0.1, 1) == 0);
    /* every discordant pair a loss: p_hi = 1, the bound is the whole drop */
    assert_true(fabs(hr_joint_guard_bound(3, 0, 200, 0.1, 1) - 1.5) < 1e-12);
    /* every pair a gain: p_hi = 1 − α^(1/m) */
    assert_true(fabs(hr_joint_guard_bound(0, 3, 200, 0.1, 1) - 100 * (2 * (1 - pow(0.1, 1 / 3.0)) - 1) * 3 / 200) <
                1e-12);
    /* Bonferroni: round r uses level 1 − α/r, so the bound grows with r */
    for (int r = 1; r <= 10; r++) {
        double want = 100 * (2 * hr_stat_cp_upper(7, 12, 1 - 0.1 / r) - 1) * 12 / 400;
        assert_true(fabs(hr_joint_guard_bound(7, 5, 400, 0.1, r) - want) < 1e-12);
        if (r > 1)
            assert_true(hr_joint_guard_bound(7, 5, 400, 0.1, r) > hr_joint_guard_bound(7, 5, 400, 0.1, r - 1));
    }
    /* a neutral step (b = c) on a ~200-image guard half fails a 2-point bound */
    assert_true(hr_joint_guard_bound(10, 10, 200, 0.1, 1) > 2.0);
    /* and the bound is above the point drop */
    assert_true(hr_joint_guard_bound(12, 4, 700, 0.1, 2) > 100.0 * 8 / 700);
    assert_string_equal(hr_guard_mode_name(HR_GUARD_BOUND), "bound");
    assert_int_equal(hr_guard_mode_parse("point"), HR_GUARD_POINT);
    assert_int_equal(hr_guard_mode_parse("pointy"), -1);
}

static void test_paired_ci(void **state)
{
    (void)state;
    double lo, hi;
    /* independent Python implementation of Newcombe's method 10 */
    hr_joint_paired_ci95(1000, 800, 30, 10, &lo, &hi);
    assert_true(fabs(lo - 0.7620302654) < 1e-8 && fabs(hi - 3.2635790497) < 1e-8);
    hr_joint_paired_ci95(200, 150, 0, 0, &lo, &hi);
    assert_true(fabs(lo + 0.9422663189) < 1e-8 && fabs(hi - 0.9422663189) < 1e-8);
    /* b = c: symmetric about 0; the point drop is always inside */
    hr_joint_paired_ci95(500, 300, 9, 9, &lo, &hi);
    assert_true(fabs(lo + hi) < 1e-12 && lo < 0);
    hr_joint_paired_ci95(500, 300, 25, 3, &lo, &hi);
    assert_true(lo < 100.0 * 22 / 500 && hi > 100.0 * 22 / 500);
    /* inconsistent counts */
    hr_joint_paired_ci95(100, 50, 60, 0, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));
    hr_joint_paired_ci95(0, 0, 0, 0, &lo, &hi);
    assert_true(isnan(lo));
}

/* A block of the model with an identity branch and one without (whose
 * identity is virtual). */
static void two_blocks(const hr_model *m, int *with_id, int *without_id)
{
    *with_id = *without_id = -1;
    for (int k = 0; k < hr_model_num_blocks(m); k++) {
        unsigned ex = hr_model_block(m, k).existing;
        if ((ex >> HR_BRANCH_IDENTITY & 1u) && (ex >> HR_BRANCH_1X1 & 1u) && *with_id < 0)
            *with_id = k;
        if (!(ex >> HR_BRANCH_IDENTITY & 1u) && (ex >> HR_BRANCH_1X1 & 1u) && *without_id < 0)
            *without_id = k;
    }
    assert_true(*with_id >= 0 && *without_id >= 0);
}

static void test_threshold_rule(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_ctx *ctx;
    hr_model *m;
    int wi, wo, idx[64];
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 3, &err), &err);
    const int nb = hr_model_num_blocks(m);
    float *a = calloc((size_t)nb * 3, sizeof *a);
    assert_non_null(a);
    two_blocks(m, &wi, &wo);
    for (int k = 0; k < nb; k++)
        for (int br = 0; br < 3; br++)
            a[k * 3 + br] = (hr_model_block(m, k).existing >> br & 1u) ? 1.0f : 0.0f;
    /* a block with identity: 1x1 under the threshold goes, exactly 0.01 stays, dense stays */
    a[wi * 3 + HR_BRANCH_DENSE] = 0.5f;
    a[wi * 3 + HR_BRANCH_1X1] = -0.009f;
    a[wi * 3 + HR_BRANCH_IDENTITY] = 0.01f;
    /* a block without identity, both real branches small: only the smaller
     * goes (the virtual identity does not count as the last live branch),
     * and the virtual identity's value is left alone */
    a[wo * 3 + HR_BRANCH_DENSE] = 0.004f;
    a[wo * 3 + HR_BRANCH_1X1] = 0.003f;
    a[wo * 3 + HR_BRANCH_IDENTITY] = 0.001f;
    int n = hr_alpha_threshold(m, a, 0.01, idx);
    assert_int_equal(n, 2);
    assert_true(a[wi * 3 + HR_BRANCH_1X1] == 0.0f && a[wi * 3 + HR_BRANCH_IDENTITY] == 0.01f &&
                a[wi * 3 + HR_BRANCH_DENSE] == 0.5f);
    assert_true(a[wo * 3 + HR_BRANCH_1X1] == 0.0f && a[wo * 3 + HR_BRANCH_DENSE] == 0.004f);
    assert_true(a[wo * 3 + HR_BRANCH_IDENTITY] == 0.001f);
    int lo = wi < wo ? wi : wo, hi = wi < wo ? wo : wi;
    assert_int_equal(idx[0], lo * 3 + HR_BRANCH_1X1);
    assert_int_equal(idx[1], hi * 3 + HR_BRANCH_1X1);
    /* again: nothing more (the last live branch stays), and off at 0 */
    assert_int_equal(hr_alpha_threshold(m, a, 0.01, NULL), 0);
    a[wi * 3 + HR_BRANCH_DENSE] = 0.001f;
    assert_int_equal(hr_alpha_threshold(m, a, 0, NULL), 0);
    /* with identity at 0.01 and dense at 0.001: dense goes, identity (not < 0.01) stays */
    assert_int_equal(hr_alpha_threshold(m, a, 0.01, NULL), 1);
    assert_true(a[wi * 3 + HR_BRANCH_DENSE] == 0.0f && a[wi * 3 + HR_BRANCH_IDENTITY] == 0.01f);

    /* on a trainer's α */
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_trainer *t;
    int np = -1, pr[64];
    tp.batch = 2;
    HR_ASSERT_OK(hr_trainer_create(m, &tp, &t, &err), &err);
    HR_ASSERT_OK(hr_trainer_set_alpha(t, wo, HR_BRANCH_DENSE, 0.002f, &err), &err);
    HR_ASSERT_OK(hr_trainer_set_alpha(t, wo, HR_BRANCH_1X1, 0.005f, &err), &err);
    HR_ASSERT_OK(hr_trainer_set_alpha(t, wi, HR_BRANCH_1X1, 0.0099f, &err), &err);
    HR_ASSERT_OK(hr_trainer_threshold(t, 0.01, &np, pr, &err), &err);
    assert_int_equal(np, 2);
    assert_true(hr_trainer_alpha(t, wo, HR_BRANCH_DENSE) == 0.0f && hr_trainer_alpha(t, wo, HR_BRANCH_1X1) == 0.005f);
    assert_true(hr_trainer_alpha(t, wi, HR_BRANCH_1X1) == 0.0f);
    hr_trainer_destroy(t);
    free(a);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* The final configuration is the minimum of a brute force over its
 * candidate set: every state under every placement, each block's γ
 * searched exhaustively on its own (the latency objective is a sum over
 * blocks for a fixed placement, so per-block search is exhaustive). */
static double brute_state(const hr_lut *lut, const unsigned *live, const hr_optim_params *op, int deploy_only,
                          int *best_pl)
{
    hr_optim_problem *p;
    hr_error err = {0};
    hr_optim_params prm = *op;
    if (deploy_only)
        prm.mask = HR_MASK_EXACT;
    HR_ASSERT_OK(hr_optim_problem_create(lut, live, &prm, &p, &err), &err);
    const int n = lut->nblocks;
    int *g = malloc(sizeof *g * (size_t)n);
    double best = INFINITY;
    assert_non_null(g);
    for (int pl = HR_PLACEMENT_LOCAL; pl <= n; pl++) {
        hr_optim_eval ev;
        if (!hr_optim_placement_available(p, pl))
            continue;
        for (int k = 0; k < n; k++)
            g[k] = hr_gamma_deploy(hr_optim_problem_live(p, k));
        if (!deploy_only)
            for (int k = 0; k < n; k++) {
                double bk = INFINITY;
                int bg = g[k];
                for (int gm = 0; gm < HR_GAMMA_COUNT; gm++) {
                    g[k] = gm;
                    if (hr_optim_evaluate(p, g, pl, &ev, NULL) != HR_OK)
                        continue;
                    double v = hr_optim_objective_value(&ev, prm.objective, prm.eff_omega);
                    if (v < bk)
                        bk = v, bg = gm;
                }
                g[k] = bg;
            }
        HR_ASSERT_OK(hr_optim_evaluate(p, g, pl, &ev, &err), &err);
        double v = hr_optim_objective_value(&ev, prm.objective, prm.eff_omega);
        if (v < best)
            best = v, *best_pl = pl;
    }
    free(g);
    hr_optim_problem_destroy(p);
    return best;
}

static void test_final_choice(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_lut *lut;
    HR_ASSERT_OK(hr_lut_load(HR_FIXTURES_DIR "/optim/lut_tx2_ref.json", &lut, &err), &err);
    const int nb = lut->nblocks, na = 3 * nb;
    unsigned *ex = malloc(sizeof *ex * (size_t)nb), *live = malloc(sizeof *live * (size_t)nb);
    assert_non_null(ex);
    assert_non_null(live);
    HR_ASSERT_OK(hr_optim_existing_branches(lut, ex, &err), &err);
    /* a result: round 1 prunes a dense branch of a wide block (a big saving),
     * round 2 a 1x1 branch; accuracies 80 → 79.5 → 79 */
    hr_joint_result res;
    hr_joint_result_init(&res);
    res.nblocks = nb;
    res.alpha_initial = malloc(sizeof(float) * (size_t)na);
    res.alpha = malloc(sizeof(float) * (size_t)na);
    res.pruned_block = malloc(sizeof(int) * (size_t)na);
    res.pruned_branch = malloc(sizeof(hr_branch) * (size_t)na);
    res.rounds = calloc(3, sizeof *res.rounds);
    assert_non_null(res.rounds);
    for (int i = 0; i < na; i++)
        res.alpha_initial[i] = (ex[i / 3] >> (i % 3) & 1u) ? 1.0f : 0.0f;
    int pk[2] = {-1, -1};
    for (int k = nb - 1; k >= 0 && pk[1] < 0; k--)
        if ((ex[k] & HR_BR_DENSE) && (ex[k] & HR_BR_1X1)) {
            if (pk[0] < 0)
                pk[0] = k;
            else
                pk[1] = k;
        }
    assert_true(pk[1] >= 0);
    res.pruned_block[0] = pk[0], res.pruned_branch[0] = HR_BRANCH_DENSE;
    res.pruned_block[1] = pk[1], res.pruned_branch[1] = HR_BRANCH_1X1;
    res.npruned = 2;
    res.initial_test = 80;
    res.paired = 1, res.n_test = 1000, res.test_right0 = 800, res.unpruned_same = 1;
    for (int r = 0; r < 2; r++) {
        hr_joint_round *rd = &res.rounds[r];
        rd->round = r + 1;
        rd->applied = 1;
        rd->num_pruned = r + 1;
        rd->test_acc = 79.5 - 0.5 * r;
        rd->test_b = 10 + 5 * r, rd->test_c = 5;
    }
    res.nrounds = 2;
    memcpy(res.alpha, res.alpha_initial, sizeof(float) * (size_t)na);

    for (int obj = 0; obj < HR_OBJECTIVE_COUNT; obj++) {
        hr_optim_params op = hr_optim_params_default();
        hr_joint_choice ch;
        hr_joint_baseline base;
        op.objective = (hr_objective)obj;
        hr_joint_choice_init(&ch);
        HR_ASSERT_OK(hr_joint_choose(lut, &op, &res, &ch, &err), &err);
        HR_ASSERT_OK(hr_joint_baseline_compute(lut, &op, &base, &err), &err);
        /* never worse than the baseline: the unpruned model is a candidate */
        assert_true(ch.objective_value <= base.objective_value);
        assert_true(ch.baseline_value == base.objective_value);
        if (op.objective == HR_OBJECTIVE_LATENCY) {
            /* brute force over the states −1, 0, 1, 2 */
            int pl, bpl = 0, bround = -1;
            double best = brute_state(lut, NULL, &op, 1, &pl);
            bpl = pl;
            for (int s = 0; s <= 2; s++) {
                for (int k = 0; k < nb; k++)
                    live[k] = ex[k];
                for (int i = 0; i < s; i++)
                    live[res.pruned_block[i]] &= ~(1u << res.pruned_branch[i]);
                double v = brute_state(lut, live, &op, 0, &pl);
                if (v < best)
                    best = v, bpl = pl, bround = s;
            }
            assert_true(fabs(ch.objective_value - best) <= 1e-9 * best);
            assert_int_equal(ch.round, bround);
            assert_int_equal(ch.eval.placement, bpl);
            /* the state's accuracy, drop and paired interval come with it */
            int b = ch.round >= 1 ? res.rounds[ch.round - 1].test_b : 0;
            int c = ch.round >= 1 ? res.rounds[ch.round - 1].test_c : 0;
            double acc = ch.round >= 1 ? res.rounds[ch.round - 1].test_acc : 80, lo, hi;
            assert_true(fabs(ch.accuracy - acc) < 1e-12);
            assert_true(fabs(ch.drop - (80 - acc)) < 1e-12);
            hr_joint_paired_ci95(1000, 800, b, c, &lo, &hi);
            assert_true(ch.drop_lo == lo && ch.drop_hi == hi);
            print_message("final choice on the tx2 LUT: round %d, placement %d, %.4f ms\n", ch.round,
                          ch.eval.placement, ch.objective_value);
        }
        hr_joint_choice_deinit(&ch);
    }
    /* no pruning at all: the choice is round 0 or the baseline itself, never worse */
    res.nrounds = 0, res.npruned = 0;
    {
        hr_optim_params op = hr_optim_params_default();
        hr_joint_choice ch;
        hr_joint_baseline base;
        hr_joint_choice_init(&ch);
        HR_ASSERT_OK(hr_joint_choose(lut, &op, &res, &ch, &err), &err);
        HR_ASSERT_OK(hr_joint_baseline_compute(lut, &op, &base, &err), &err);
        assert_true(ch.round == 0 || ch.round == -1);
        assert_true(ch.objective_value <= base.objective_value);
        assert_true(ch.drop == 0);
        hr_joint_choice_deinit(&ch);
    }
    res.nrounds = 2; /* so deinit frees the rounds */
    hr_joint_result_deinit(&res);
    free(ex), free(live);
    hr_lut_destroy(lut);
}

/* Ties on the objective go to the higher validation accuracy (never the
 * test part's), then to fewer prunings: a pruned branch whose block costs
 * the same under every γ ties with the unpruned state everywhere. */
static void test_final_choice_tie(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_lut *lut;
    HR_ASSERT_OK(hr_lut_load(HR_FIXTURES_DIR "/optim/lut_tx2_ref.json", &lut, &err), &err);
    const int nb = lut->nblocks, na = 3 * nb;
    unsigned *ex = malloc(sizeof *ex * (size_t)nb);
    assert_non_null(ex);
    HR_ASSERT_OK(hr_optim_existing_branches(lut, ex, &err), &err);
    int pk = -1;
    for (int k = nb - 1; k >= 0 && pk < 0; k--)
        if ((ex[k] & HR_BR_DENSE) && (ex[k] & HR_BR_1X1))
            pk = k;
    assert_true(pk >= 0);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (lut->blocks[pk].t_ms[d][g] >= 0)
                lut->blocks[pk].t_ms[d][g] = 1.0;
    hr_joint_result res;
    hr_joint_result_init(&res);
    res.nblocks = nb;
    res.alpha_initial = malloc(sizeof(float) * (size_t)na);
    res.alpha = malloc(sizeof(float) * (size_t)na);
    res.pruned_block = malloc(sizeof(int));
    res.pruned_branch = malloc(sizeof(hr_branch));
    res.rounds = calloc(1, sizeof *res.rounds);
    assert_non_null(res.rounds);
    for (int i = 0; i < na; i++)
        res.alpha_initial[i] = res.alpha[i] = (ex[i / 3] >> (i % 3) & 1u) ? 1.0f : 0.0f;
    res.pruned_block[0] = pk, res.pruned_branch[0] = HR_BRANCH_1X1;
    res.npruned = 1, res.nrounds = 1;
    res.initial_val = 80, res.initial_test = 70, res.unpruned_same = 1;
    res.rounds[0] = (hr_joint_round){.round = 1, .applied = 1, .num_pruned = 1, .test_acc = 60};
    for (int obj = 0; obj < HR_OBJECTIVE_COUNT; obj++) {
        hr_optim_params op = hr_optim_params_default();
        hr_joint_choice ch;
        op.objective = (hr_objective)obj;
        /* better on validation (though worse on test): the pruned state */
        res.rounds[0].val_acc = 81;
        hr_joint_choice_init(&ch);
        HR_ASSERT_OK(hr_joint_choose(lut, &op, &res, &ch, &err), &err);
        assert_int_equal(ch.round, 1);
        assert_true(ch.accuracy == 60);
        hr_joint_choice_deinit(&ch);
        /* worse or equal on validation: the state that prunes less */
        res.rounds[0].val_acc = 80;
        hr_joint_choice_init(&ch);
        HR_ASSERT_OK(hr_joint_choose(lut, &op, &res, &ch, &err), &err);
        assert_true(ch.round == -1 || ch.round == 0);
        hr_joint_choice_deinit(&ch);
    }
    hr_joint_result_deinit(&res);
    free(ex);
    hr_lut_destroy(lut);
}

/* A scripted candidate trainer: the initial validation accuracy is 80, and
 * in round r every candidate scores script[r − 1] − 0.001·(its index
 * block·3 + branch), so the winner and its score are known. */
static const double script[] = {81.0, 79.5, 80.5};

static hr_status fake_evaluate(void *user, const float *alpha, double *val, double *test, hr_error *err)
{
    (void)user, (void)alpha, (void)err;
    *val = 80;
    *test = 79;
    return HR_OK;
}

static hr_status fake_train(void *user, int round, const float *alpha, struct hr_joint_candidate *c,
                            float *best_alpha, hr_error *err)
{
    const int nb = *(const int *)user;
    (void)err;
    memcpy(best_alpha, alpha, sizeof(float) * (size_t)(nb * 3));
    best_alpha[c->block * 3 + c->branch] = 0.0f;
    c->epochs = 1;
    c->val[0] = script[round - 1] - 0.001 * (c->block * 3 + (int)c->branch);
    c->test[0] = c->val[0] - 1;
    c->loss[0] = 1;
    c->best_epoch = 1;
    c->best_val = c->val[0];
    c->best_test = c->test[0];
    return HR_OK;
}

static void test_point_rule(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_ctx *ctx;
    hr_model *m;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-fmnist", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 3, &err), &err);
    int nb = hr_model_num_blocks(m);
    hr_joint_trainer tr = {fake_evaluate, fake_train, &nb};
    hr_joint_params jp = hr_joint_params_default();
    hr_joint_result r;
    jp.trainer = &tr;
    jp.rounds = 3;
    jp.pool = 3;
    jp.epochs = 1;
    hr_joint_result_init(&r);
    /* the bound guard needs per-image results, which a hook does not give */
    assert_int_equal(hr_joint_progressive(m, NULL, 0, &jp, &r, &err), HR_ERR_UNSUPPORTED);
    jp.guard = HR_GUARD_POINT;
    /* threshold 1: round 1 wins 81 (best so far 81); round 2's 79.5 is 1.5
     * below 81 (only 0.5 below the initial 80): the run stops there */
    jp.threshold = 1;
    HR_ASSERT_OK(hr_joint_progressive(m, NULL, 0, &jp, &r, &err), &err);
    assert_int_equal(r.nrounds, 2);
    assert_int_equal(r.npruned, 1);
    assert_true(r.rounds[0].applied && !r.rounds[1].applied);
    assert_true(fabs(r.best_so_far - (81.0 - 0.001 * (r.pruned_block[0] * 3 + (int)r.pruned_branch[0]))) < 1e-9);
    assert_non_null(strstr(r.stop_reason, "accuracy"));
    assert_true(r.complete);
    assert_int_equal(r.paired, 0);
    hr_joint_result_deinit(&r);
    /* threshold 2: round 2 is applied; round 3 (80.5) too; the round limit ends it */
    jp.threshold = 2;
    hr_joint_result_init(&r);
    HR_ASSERT_OK(hr_joint_progressive(m, NULL, 0, &jp, &r, &err), &err);
    assert_int_equal(r.nrounds, 3);
    assert_int_equal(r.npruned, 3);
    assert_true(r.rounds[1].applied && r.rounds[2].applied);
    assert_non_null(strstr(r.stop_reason, "round limit"));
    /* best so far stays round 1's 81 (round 3's 80.5 is lower) */
    assert_true(r.best_so_far > 80.9 && r.best_so_far <= 81.0);
    /* every applied round kept its α, with its winner at 0 */
    for (int i = 0; i < 3; i++) {
        assert_non_null(r.rounds[i].alpha);
        assert_true(r.rounds[i].alpha[r.pruned_block[i] * 3 + (int)r.pruned_branch[i]] == 0.0f);
    }
    hr_joint_result_deinit(&r);
    /* bad guard settings */
    jp.guard_alpha = 1.5;
    assert_int_equal(hr_joint_progressive(m, NULL, 0, &jp, &r, &err), HR_ERR_INVALID_ARG);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beta),          cmocka_unit_test(test_clopper_pearson),
        cmocka_unit_test(test_guard_bound),   cmocka_unit_test(test_paired_ci),
        cmocka_unit_test(test_threshold_rule), cmocka_unit_test(test_final_choice),
        cmocka_unit_test(test_final_choice_tie), cmocka_unit_test(test_point_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
