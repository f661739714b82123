// ctest-labels: numeric
/* 6.1 gradient method: every loss term's analytic gradient w.r.t. θ and λ
 * against central finite differences in double precision (each term alone
 * and the default mix; both z offsets, with and without --link-streams,
 * both orientations, activation and weight intensities, on a random LUT and
 * on the reference RepVGG-B3 LUT), then the optimizer's behaviour: λ fixed
 * or learnable, λ start modes, history, argmax, rounding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "optim/optim_internal.h"
#include "optim_test_util.h"

/* How often each relu was active at the checked points (so the check covers
 * both of their pieces). */
static int active_li, active_rc_low, active_rc_high, active_rs;

/* Distance of the current point from every kink of the loss (relu
 * switches, the link-streams interpolation's integer points), in the
 * kernel's own scratch after a loss evaluation; with count set, tallies
 * which relus are active. */
static double kink_margin(const hr__gd *g, int count)
{
    double m = INFINITY, sf = 0, sb = 0, hf = 0, hb = 0;
    for (int k = 0; k < g->n; k++) {
        m = fmin(m, fabs(g->zgap[k]));
        if (g->link_streams) {
            int constant = 1;
            for (int j = g->off[k] + 1; j < g->off[k + 1]; j++)
                constant &= g->streams[j] == g->streams[g->off[k]];
            if (!constant)
                m = fmin(m, 1000 * fabs(g->e_streams[k] - nearbyint(g->e_streams[k])));
        }
        sf += g->z[k] * g->e_flops[k];
        sb += g->z[k] * g->e_bytes[k];
        hf += (1 - g->z[k]) * g->e_flops[k];
        hb += (1 - g->z[k]) * g->e_bytes[k];
    }
    double it = sf / sb, ih = hf / hb;
    if (count) {
        for (int k = 0; k < g->n; k++)
            if (g->zgap[k] > 0) {
                active_li++;
                break;
            }
        active_rc_low += it < g->knee_tail;
        active_rc_high += it > 1.2 * g->knee_tail;
        active_rs += ih > 2 * g->knee_head;
    }
    m = fmin(m, fabs(g->knee_tail - it));
    m = fmin(m, fabs(it - 1.2 * g->knee_tail));
    m = fmin(m, fabs(ih - 2 * g->knee_head));
    return m;
}

/* Checks d(loss)/dθ_j and d(loss)/dλ for the current weights at a random
 * point away from kinks. Returns the number of components checked. */
static int check_point(hr__gd *g, hr_test_rng *rng, const char *what)
{
    int T = g->total, checked = 0;
    double *theta = malloc(sizeof(double) * (size_t)T), *grad = malloc(sizeof(double) * (size_t)T), gl, lambda = 0;
    double loss = 0;
    assert_non_null(theta);
    assert_non_null(grad);
    for (int tries = 0;; tries++) {
        assert_true(tries < 200);
        for (int j = 0; j < T; j++)
            theta[j] = hr_test_uniform(rng, -1.5f, 1.5f);
        lambda = hr_test_uniform(rng, 0.3f, (float)g->n - 0.3f);
        loss = hr__gd_loss(g, theta, lambda, NULL, grad, &gl);
        if (kink_margin(g, 0) > 0.5)
            break;
    }
    kink_margin(g, 1);
    /* Central differences at h and h/2 combined by Richardson
     * extrapolation: truncation error O(h^4), rounding about eps·loss/h. */
    const double h = 2e-4;
    for (int j = 0; j <= T; j++) {
        double d[2], fd, an = j < T ? grad[j] : gl;
        for (int r = 0; r < 2; r++) {
            double step = r ? h / 2 : h, lp, lm;
            if (j < T) {
                double t0 = theta[j];
                theta[j] = t0 + step;
                lp = hr__gd_loss(g, theta, lambda, NULL, NULL, NULL);
                theta[j] = t0 - step;
                lm = hr__gd_loss(g, theta, lambda, NULL, NULL, NULL);
                theta[j] = t0;
            } else {
                lp = hr__gd_loss(g, theta, lambda + step, NULL, NULL, NULL);
                lm = hr__gd_loss(g, theta, lambda - step, NULL, NULL, NULL);
            }
            d[r] = (lp - lm) / (2 * step);
        }
        fd = (4 * d[1] - d[0]) / 3;
        double tol = 1e-6 * fmax(fabs(an), fabs(fd)) + 1e-9 * fmax(1.0, fabs(loss));
        if (fabs(fd - an) > tol) {
            print_error("%s: d/d%s[%d]: analytic %.12g, finite difference %.12g (loss %.6g)\n", what,
                        j < T ? "theta" : "lambda", j < T ? j : 0, an, fd, loss);
            fail();
        }
        checked++;
    }
    free(theta);
    free(grad);
    return checked;
}

static const char *term_names[HR__W_COUNT + 1] = {"time_head", "time_tail", "trans", "intensity",
                                                  "roofline_tail", "roofline_head", "all terms"};

/* Every term alone (weight 1), then all of them together. */
static int check_problem(const hr_optim_problem *p, hr_test_rng *rng, const char *label)
{
    hr__gd g;
    hr_error err = {0};
    int checked = 0;
    char what[256];
    HR_ASSERT_OK(hr__gd_init(&g, p, &err), &err);
    for (int t = 0; t <= HR__W_COUNT; t++) {
        for (int i = 0; i < HR__W_COUNT; i++)
            g.w[i] = t == HR__W_COUNT ? 1.0 + i : (i == t ? 1.0 : 0.0);
        snprintf(what, sizeof what, "%s, %s", label, term_names[t]);
        for (int rep = 0; rep < 3; rep++)
            checked += check_point(&g, rng, what);
    }
    hr__gd_deinit(&g);
    return checked;
}

/* Knees placed among the blocks' intensities so every relu is active for
 * some points and inactive for others. */
static void set_knees(hr_lut *lut, double head_scale, double tail_scale)
{
    double lo = INFINITY, hi = 0;
    for (int k = 0; k < lut->nblocks; k++)
        for (int gm = 0; gm < HR_GAMMA_COUNT; gm++)
            if (lut->blocks[k].t_ms[0][gm] >= 0 && lut->blocks[k].intensity[gm] > 0) {
                lo = fmin(lo, lut->blocks[k].intensity[gm]);
                hi = fmax(hi, lut->blocks[k].intensity[gm]);
            }
    lut->i_knee[HR_DEVICE_SERVER] = lo + head_scale * (hi - lo);
    lut->i_knee[HR_DEVICE_CLIENT] = lo + tail_scale * (hi - lo);
}

static void test_gradients_finite_differences(void **state)
{
    (void)state;
    hr_test_rng rng;
    int checked = 0;
    hr_test_rng_seed(&rng, 99);
    unsigned ex[6] = {HR_BR_DENSE | HR_BR_1X1, HR_BR_ALL, HR_BR_ALL, HR_BR_DENSE | HR_BR_IDENTITY, HR_BR_ALL,
                      HR_BR_DENSE | HR_BR_1X1};
    hr_lut *luts[2] = {ot_random_lut(&rng, 6, ex, 1, 1), ot_ref_lut()};
    const char *names[2] = {"random 6-block LUT", "reference B3 LUT"};
    for (int li = 0; li < 2; li++)
        for (int cfg = 0; cfg < 32; cfg++) {
            hr_optim_params prm = hr_optim_params_default();
            hr_optim_problem *p = NULL;
            hr_error err = {0};
            char label[160];
            prm.z_offset = cfg & 1 ? 0.0 : 0.5;
            prm.link_streams = (cfg >> 1) & 1;
            prm.head = (cfg >> 2) & 1 ? HR_DEVICE_SERVER : HR_DEVICE_CLIENT;
            prm.intensity_weights = (cfg >> 3) & 1;
            prm.mask = (cfg >> 4) & 1 ? HR_MASK_SUBSET : HR_MASK_EXACT;
            set_knees(luts[li], (cfg & 4) ? 0.3 : 0.05, (cfg & 8) ? 0.6 : 0.02);
            HR_ASSERT_OK(hr_optim_problem_create(luts[li], NULL, &prm, &p, &err), &err);
            snprintf(label, sizeof label, "%s, z offset %.1f, link streams %d, head %s, intensity %s, mask %s",
                     names[li], prm.z_offset, prm.link_streams, hr_device_name(prm.head),
                     prm.intensity_weights ? "weights" : "activations", prm.mask ? "subset" : "exact");
            checked += check_problem(p, &rng, label);
            hr_optim_problem_destroy(p);
        }
    print_message("%d gradient components checked; relu active at %d (L_I), %d / %d (L_rc), %d (L_rs) points\n",
                  checked, active_li, active_rc_low, active_rc_high, active_rs);
    assert_true(active_li > 0 && active_rc_low > 0 && active_rc_high > 0 && active_rs > 0);
    hr_lut_destroy(luts[0]);
    hr_lut_destroy(luts[1]);
}

/* With λ fixed and only the two time terms, block k's loss is
 * 10((1−z_k)E[T_head] + z_k E[T_tail]), linear in p_k: Adam drives p_k to the
 * γ minimising (1−z_k)T_head + z_k T_tail. */
static void test_gd_converges_to_per_block_minimum(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    for (int hd = 0; hd < HR_DEVICE_COUNT; hd++)
        for (int s = 0; s <= lut->nblocks; s += 9) {
            hr_optim_params prm = hr_optim_params_default();
            hr_optim_problem *p = NULL;
            hr_optim_result r;
            hr_error err = {0};
            prm.head = (hr_device)hd;
            prm.lambda_fixed = 1;
            prm.lambda0 = s;
            prm.w_trans = prm.w_intensity = 0;
            prm.steps = 3000;
            HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
            hr_optim_result_init(&r);
            HR_ASSERT_OK(hr_optim_gd(p, &r, &err), &err);
            assert_true(r.lambda_final == s && r.lambda_start == s);
            assert_int_equal(r.eval.placement, s);
            for (int k = 0; k < lut->nblocks; k++) {
                double z = 1 / (1 + exp(-5 * (k + 0.5 - s))), best = INFINITY, second = INFINITY;
                int bg = -1;
                hr_device tail = hd == HR_DEVICE_CLIENT ? HR_DEVICE_SERVER : HR_DEVICE_CLIENT;
                for (int gm = 0; gm < HR_GAMMA_COUNT; gm++) {
                    if (!hr_gamma_valid(gm, HR_BR_ALL & hr_optim_problem_live(p, k), HR_MASK_EXACT))
                        continue;
                    double c = (1 - z) * lut->blocks[k].t_ms[hd][gm] + z * lut->blocks[k].t_ms[tail][gm];
                    if (c < best) {
                        second = best;
                        best = c;
                        bg = gm;
                    } else if (c < second) {
                        second = c;
                    }
                }
                /* near-ties may need more steps than we give; they are rare */
                if (second - best > 1e-3 && r.gamma[k] != bg) {
                    print_error("head %s split %d block %s: gamma %d, expected %d\n", hr_device_name(prm.head), s,
                                lut->blocks[k].name, r.gamma[k], bg);
                    fail();
                }
            }
            hr_optim_result_deinit(&r);
            hr_optim_problem_destroy(p);
        }
    hr_lut_destroy(lut);
}

static void test_gd_lambda_modes_and_history(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_error err = {0};
    int n = lut->nblocks;
    struct {
        hr_lambda_init init;
        double v, want;
    } cases[] = {{HR_LAMBDA_INIT_VALUE, 10, 10},
                 {HR_LAMBDA_INIT_VALUE, 100, 27},
                 {HR_LAMBDA_INIT_VALUE, -3, 0},
                 {HR_LAMBDA_INIT_N, 0, 27},
                 {HR_LAMBDA_INIT_MID, 0, 13.5},
                 {HR_LAMBDA_INIT_EXACT, 0, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hr_optim_params prm = hr_optim_params_default();
        hr_optim_problem *p = NULL;
        hr_optim_result r, ex;
        prm.lambda_init = cases[i].init;
        prm.lambda0 = cases[i].v;
        prm.objective = HR_OBJECTIVE_CYCLE;
        HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
        hr_optim_result_init(&r);
        hr_optim_result_init(&ex);
        HR_ASSERT_OK(hr_optim_gd(p, &r, &err), &err);
        HR_ASSERT_OK(hr_optim_exact(p, &ex, &err), &err);
        double want = cases[i].want;
        if (want < 0) /* the exact solver's split; raw → 0, local → N */
            want = ex.eval.placement == HR_PLACEMENT_RAW     ? 0
                   : ex.eval.placement == HR_PLACEMENT_LOCAL ? n
                                                              : ex.eval.placement;
        assert_true(r.lambda_start == want);
        /* λ learnable: it moves; at most ~lr per step under Adam */
        assert_true(r.lambda_final != r.lambda_start);
        assert_true(fabs(r.lambda_final - r.lambda_start) <= 0.01 * 800 * 1.01);
        /* the placement is the rounded λ clamped into 0..N */
        int s = (int)floor(r.lambda_final + 0.5);
        s = s < 0 ? 0 : s > n ? n : s;
        assert_int_equal(r.eval.placement, s);
        /* history: steps 0, 100, …, 700, the loss at the start first */
        assert_int_equal(r.nhistory, 8);
        for (int h = 0; h < r.nhistory; h++)
            assert_int_equal(r.history[h].step, 100 * h);
        assert_true(r.history[0].lambda == want);
        assert_true(r.final_loss.total < r.history[0].loss.total);
        /* gap to the exact optimum is reported and never negative */
        assert_true(r.gap_to_exact_pct >= -1e-9);
        assert_true(fabs(r.exact_value - ex.objective_value) < 1e-12);
        hr_optim_result_deinit(&r);
        hr_optim_result_deinit(&ex);
        hr_optim_problem_destroy(p);
    }
    hr_lut_destroy(lut);
}

/* λ = s with the ½ offset puts the soft boundary between blocks s−1 and s;
 * without it (the original) block s sits at z = ½. */
static void test_gd_z_offset(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_error err = {0};
    for (int off = 0; off < 2; off++) {
        hr_optim_params prm = hr_optim_params_default();
        hr_optim_problem *p = NULL;
        hr__gd g;
        prm.z_offset = off ? 0.5 : 0.0;
        HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
        HR_ASSERT_OK(hr__gd_init(&g, p, &err), &err);
        double *theta = calloc((size_t)g.total, sizeof(double));
        assert_non_null(theta);
        hr__gd_loss(&g, theta, 12, NULL, NULL, NULL);
        if (off) {
            assert_true(g.z[11] < 0.5 && g.z[12] > 0.5);
            assert_true(fabs(g.z[11] + g.z[12] - 1) < 1e-15);
        } else {
            assert_true(fabs(g.z[12] - 0.5) < 1e-15);
        }
        free(theta);
        hr__gd_deinit(&g);
        hr_optim_problem_destroy(p);
    }
    hr_lut_destroy(lut);
}

/* Zero steps: θ = 0 gives the uniform softmax, every γ ties, the lowest
 * valid γ wins; λ stays at its start. The subset mask lets the gradient
 * method pick γ that drop live branches (reported, never silently). */
static void test_gd_ties_and_subset(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_error err = {0};
    hr_optim_params prm = hr_optim_params_default();
    hr_optim_problem *p = NULL;
    hr_optim_result r;
    prm.steps = 0;
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
    hr_optim_result_init(&r);
    HR_ASSERT_OK(hr_optim_gd(p, &r, &err), &err);
    for (int k = 0; k < lut->nblocks; k++)
        assert_int_equal(r.gamma[k], hr_optim_problem_existing(p, k) == HR_BR_ALL ? 9 : 3);
    assert_true(r.lambda_final == 10);
    assert_int_equal(r.nhistory, 0);
    hr_optim_result_deinit(&r);
    hr_optim_problem_destroy(p);

    prm = hr_optim_params_default();
    prm.mask = HR_MASK_SUBSET;
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
    hr_optim_result_init(&r);
    HR_ASSERT_OK(hr_optim_gd(p, &r, &err), &err);
    int dropped = 0;
    for (int k = 0; k < lut->nblocks; k++) {
        assert_true(hr_gamma_valid(r.gamma[k], hr_optim_problem_live(p, k), HR_MASK_SUBSET));
        dropped += hr_gamma_get(r.gamma[k])->branches != hr_optim_problem_live(p, k);
    }
    assert_true(dropped > 0); /* single-branch γ are much faster on the TX2 */
    int noted = 0;
    for (int i = 0; i < hr_optim_problem_num_notes(p); i++)
        noted |= strstr(hr_optim_problem_note(p, i), "subset mask") != NULL;
    assert_true(noted);
    hr_optim_result_deinit(&r);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_finite_differences),
        cmocka_unit_test(test_gd_converges_to_per_block_minimum),
        cmocka_unit_test(test_gd_lambda_modes_and_history),
        cmocka_unit_test(test_gd_z_offset),
        cmocka_unit_test(test_gd_ties_and_subset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
