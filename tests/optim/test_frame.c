// ctest-labels: numeric
/* Per-frame overhead T_frame in the cost model (SPEC §13.1): head_ms and
 * tail_ms include each side's T_frame except at local; on a hand-made
 * 2-block LUT adding T_frame moves the exact optimum from split 1 to local,
 * both times equal to a brute force over every γ and placement; on random
 * LUTs with random T_frame the exact solver still equals brute force; a
 * LUT without T_frame gives exactly the old figures; a negative T_frame is
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/optim.h"
#include "optim_test_util.h"

#define MAXB 4

/* The minimum of ot_eval over every γ assignment (valid under live and the
 * exact mask) and every placement raw, 0..n, local; its placement in *pl. */
static double brute_min(const hr_lut *lut, const unsigned *live, hr_device head, int objective, int *pl_out)
{
    int n = lut->nblocks, cand[MAXB][HR_GAMMA_COUNT], nc[MAXB] = {0}, idx[MAXB] = {0}, gamma[MAXB];
    double best = INFINITY;
    assert_true(n <= MAXB);
    for (int k = 0; k < n; k++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (hr_gamma_valid(g, live[k], HR_MASK_EXACT))
                cand[k][nc[k]++] = g;
    for (;;) {
        for (int k = 0; k < n; k++)
            gamma[k] = cand[k][idx[k]];
        for (int pl = -2; pl <= n; pl++) {
            double v = ot_eval(lut, head, gamma, pl, objective, 0.5, NULL, NULL);
            if (v < best) {
                best = v;
                *pl_out = pl;
            }
        }
        int k = 0;
        while (k < n && ++idx[k] == nc[k])
            idx[k++] = 0;
        if (k == n)
            break;
    }
    return best;
}

/* Two blocks; the client takes 2 ms per block, the server 1 ms; 500 bytes
 * cross after block 0 (0.5 ms at 8 Mbit/s), everything else is large but
 * the 40-byte logits of local. Without T_frame split 1 wins: 2 + 0.5 + 1 =
 * 3.5 ms against local's 4 + 0.04; with 0.5 ms per side, split 1 costs 4.5
 * and local, which frames nothing, wins. */
static hr_lut *two_block_lut(unsigned *live)
{
    hr_test_rng rng;
    unsigned ex[2] = {HR_BR_DENSE | HR_BR_1X1, HR_BR_DENSE | HR_BR_1X1};
    hr_test_rng_seed(&rng, 11);
    hr_lut *lut = ot_random_lut(&rng, 2, ex, 0, 1);
    for (int k = 0; k < 2; k++) {
        live[k] = ex[k];
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (lut->blocks[k].t_ms[HR_DEVICE_SERVER][g] >= 0) {
                lut->blocks[k].t_ms[HR_DEVICE_CLIENT][g] = 2;
                lut->blocks[k].t_ms[HR_DEVICE_SERVER][g] = 1;
            }
    }
    lut->link.bandwidth_mbit_s = 8; /* 1 ms per 1000 bytes */
    lut->link.latency_ms = 0;
    lut->link.per_message_ms = 0;
    lut->blocks[0].comm_mb[0] = 0.0005;
    lut->blocks[1].comm_mb[0] = 1;
    lut->input_shape[0] = 3;
    lut->input_shape[1] = lut->input_shape[2] = 100; /* raw: 30000 bytes */
    lut->num_classes = 10;
    lut->blocks[0].in_shape[1] = 64; /* split 0: 262144 bytes */
    lut->blocks[0].in_shape[2] = lut->blocks[0].in_shape[3] = 32;
    return lut;
}

static void solve(const hr_lut *lut, hr_objective obj, hr_optim_result *r)
{
    hr_optim_params prm = hr_optim_params_default();
    hr_optim_problem *p = NULL;
    hr_error err = {0};
    prm.objective = obj;
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
    hr_optim_result_init(r);
    HR_ASSERT_OK(hr_optim_exact(p, r, &err), &err);
    hr_optim_problem_destroy(p);
}

static void test_frame_changes_the_placement(void **state)
{
    (void)state;
    unsigned live[2];
    hr_lut *lut = two_block_lut(live);
    hr_optim_result r;
    int bf_pl = 99;
    double bf;

    /* Without T_frame: split 1, as the brute force finds. */
    solve(lut, HR_OBJECTIVE_LATENCY, &r);
    bf = brute_min(lut, live, HR_DEVICE_CLIENT, 0, &bf_pl);
    assert_int_equal(r.eval.placement, 1);
    assert_int_equal(bf_pl, 1);
    assert_true(fabs(r.objective_value - bf) < 1e-12);
    assert_true(fabs(r.eval.head_ms - 2) < 1e-12 && fabs(r.eval.tail_ms - 1) < 1e-12);
    assert_true(fabs(r.objective_value - 3.5) < 1e-12);
    hr_optim_result_deinit(&r);

    /* With T_frame: local, and the brute force agrees. */
    lut->t_frame_ms[HR_DEVICE_CLIENT] = 0.5;
    lut->t_frame_ms[HR_DEVICE_SERVER] = 0.5;
    lut->has_frame_times = 1;
    solve(lut, HR_OBJECTIVE_LATENCY, &r);
    bf = brute_min(lut, live, HR_DEVICE_CLIENT, 0, &bf_pl);
    assert_int_equal(r.eval.placement, HR_PLACEMENT_LOCAL);
    assert_int_equal(bf_pl, HR_PLACEMENT_LOCAL);
    assert_true(fabs(r.objective_value - bf) < 1e-12);
    assert_true(fabs(r.eval.head_ms - 4) < 1e-12 && r.eval.tail_ms == 0); /* local frames nothing */
    assert_true(fabs(r.objective_value - 4.04) < 1e-12);
    /* split 1 now carries both sides' overhead */
    for (int i = 0; i < r.nsplits; i++)
        if (r.splits[i].eval.placement == 1) {
            assert_true(fabs(r.splits[i].eval.head_ms - 2.5) < 1e-12);
            assert_true(fabs(r.splits[i].eval.tail_ms - 1.5) < 1e-12);
            assert_true(fabs(r.splits[i].eval.latency_ms - 4.5) < 1e-12);
        }
    hr_optim_result_deinit(&r);

    /* raw: the head runs nothing but still frames the image. */
    {
        hr_optim_params prm = hr_optim_params_default();
        hr_optim_problem *p = NULL;
        hr_optim_eval e;
        hr_error err = {0};
        int g[2] = {0, 0};
        lut->t_frame_ms[HR_DEVICE_CLIENT] = 0.25;
        for (int k = 0; k < 2; k++)
            while (!hr_gamma_valid(g[k], live[k], HR_MASK_EXACT))
                g[k]++;
        HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
        HR_ASSERT_OK(hr_optim_evaluate(p, g, HR_PLACEMENT_RAW, &e, &err), &err);
        assert_true(e.head_ms == 0.25);
        assert_true(fabs(e.tail_ms - (1 + 1 + 0.5)) < 1e-12);
        hr_optim_problem_destroy(p);
    }
    hr_lut_destroy(lut);
}

/* Random LUTs with random T_frame: the exact optimum equals brute force for
 * every objective and orientation. */
static void test_frame_exact_vs_brute_force(void **state)
{
    (void)state;
    hr_test_rng rng;
    int cases = 0, local = 0, other = 0;
    hr_test_rng_seed(&rng, 77);
    for (int trial = 0; trial < 120; trial++) {
        int n = 1 + trial % 3;
        unsigned ex[MAXB];
        for (int k = 0; k < n; k++)
            ex[k] = trial % 2 ? HR_BR_DENSE | HR_BR_1X1 : HR_BR_ALL;
        hr_lut *lut = ot_random_lut(&rng, n, ex, trial % 4 < 2, 1);
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            lut->t_frame_ms[d] = hr_test_uniform(&rng, 0, 8);
        lut->has_frame_times = 1;
        for (int obj = 0; obj < HR_OBJECTIVE_COUNT; obj++)
            for (int hd = 0; hd < HR_DEVICE_COUNT; hd++) {
                hr_optim_params prm = hr_optim_params_default();
                hr_optim_problem *p = NULL;
                hr_optim_result r;
                hr_error err = {0};
                int pl = 99;
                prm.objective = (hr_objective)obj;
                prm.head = (hr_device)hd;
                HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
                hr_optim_result_init(&r);
                HR_ASSERT_OK(hr_optim_exact(p, &r, &err), &err);
                double bf = brute_min(lut, ex, (hr_device)hd, obj, &pl);
                if (fabs(r.objective_value - bf) > 1e-12 * fmax(1, bf)) {
                    print_error("trial %d obj %d head %d: exact %.17g, brute force %.17g\n", trial, obj, hd,
                                r.objective_value, bf);
                    fail();
                }
                local += r.eval.placement == HR_PLACEMENT_LOCAL;
                other += r.eval.placement != HR_PLACEMENT_LOCAL;
                cases++;
                hr_optim_result_deinit(&r);
                hr_optim_problem_destroy(p);
            }
        hr_lut_destroy(lut);
    }
    assert_int_equal(cases, 120 * 6);
    assert_true(local > 0 && other > 0);
}

/* The reference TX2 LUT has no T_frame: every placement's figures are the
 * sums of SPEC §6.3 alone, bit for bit; a negative T_frame is refused. */
static void test_frame_absent_and_invalid(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_optim_result r;
    hr_optim_params prm = hr_optim_params_default();
    hr_optim_problem *p = NULL;
    hr_error err = {0};
    unsigned existing[HR_REF_NBLOCKS];
    HR_ASSERT_OK(hr_optim_existing_branches(lut, existing, &err), &err);
    assert_false(lut->has_frame_times);
    assert_true(lut->t_frame_ms[0] == 0 && lut->t_frame_ms[1] == 0);
    solve(lut, HR_OBJECTIVE_LATENCY, &r);
    for (int i = 0; i < r.nsplits; i++) {
        const hr_optim_eval *e = &r.splits[i].eval;
        int s = e->placement == HR_PLACEMENT_RAW ? 0 : e->placement == HR_PLACEMENT_LOCAL ? lut->nblocks : e->placement;
        double h = 0, t = 0;
        for (int k = 0; k < lut->nblocks; k++) {
            hr_device d = k < s ? HR_DEVICE_CLIENT : HR_DEVICE_SERVER;
            double best = INFINITY;
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                if (hr_gamma_valid(g, existing[k], HR_MASK_EXACT) && lut->blocks[k].t_ms[d][g] < best)
                    best = lut->blocks[k].t_ms[d][g];
            if (k < s)
                h += best;
            else
                t += best;
        }
        assert_true(e->head_ms == h);
        assert_true(e->tail_ms == t);
    }
    hr_optim_result_deinit(&r);

    lut->t_frame_ms[HR_DEVICE_SERVER] = -0.5;
    assert_int_equal(hr_optim_problem_create(lut, NULL, &prm, &p, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "T_frame of the server is -0.5 ms"));
    assert_null(p);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_changes_the_placement),
        cmocka_unit_test(test_frame_exact_vs_brute_force),
        cmocka_unit_test(test_frame_absent_and_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
