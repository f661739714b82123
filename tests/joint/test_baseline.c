/* The co-design's yardstick on the TX2 fixture LUT: the Neurosurgeon-style
 * baseline (unpruned, deploy γ, best placement) against a brute force over
 * placements written here, never better than the exact optimum, and the
 * exact optimum after k prunings against a problem built by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/joint.h"
#include "hyperrep/lut.h"
#include "hyperrep/optim.h"

#define LUT_PATH HR_FIXTURES_DIR "/optim/lut_tx2_ref.json"

static void test_baseline(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_lut *lut;
    HR_ASSERT_OK(hr_lut_load(LUT_PATH, &lut, &err), &err);
    const int n = lut->nblocks;
    unsigned *existing = calloc((size_t)n, sizeof *existing);
    int *deploy = calloc((size_t)n, sizeof *deploy);
    assert_non_null(existing);
    assert_non_null(deploy);
    HR_ASSERT_OK(hr_optim_existing_branches(lut, existing, &err), &err);
    /* Deploy γ by hand: the single γ whose branch set is the whole block. */
    for (int k = 0; k < n; k++) {
        deploy[k] = -1;
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (hr_gamma_get(g)->branches == existing[k] && hr_gamma_get(g)->streams == 1)
                deploy[k] = g;
        assert_true(deploy[k] >= 0);
    }
    for (int obj = 0; obj < HR_OBJECTIVE_COUNT; obj++) {
        for (int head = 0; head < HR_DEVICE_COUNT; head++) {
            hr_optim_params op = hr_optim_params_default();
            hr_optim_problem *p;
            hr_optim_result ex;
            hr_joint_baseline b;
            op.objective = (hr_objective)obj;
            op.head = (hr_device)head;
            HR_ASSERT_OK(hr_joint_baseline_compute(lut, &op, &b, &err), &err);
            HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &op, &p, &err), &err);
            double best = INFINITY;
            int best_pl = 0;
            for (int pl = HR_PLACEMENT_RAW; pl <= n + 1; pl++) {
                int place = pl == n + 1 ? HR_PLACEMENT_LOCAL : pl;
                hr_optim_eval ev;
                if (!hr_optim_placement_available(p, place))
                    continue;
                HR_ASSERT_OK(hr_optim_evaluate(p, deploy, place, &ev, &err), &err);
                double v = hr_optim_objective_value(&ev, op.objective, op.eff_omega);
                if (v < best)
                    best = v, best_pl = place;
            }
            assert_int_equal(b.placement, best_pl);
            assert_true(fabs(b.objective_value - best) <= 1e-12 * fmax(1.0, best));
            hr_optim_result_init(&ex);
            HR_ASSERT_OK(hr_optim_exact(p, &ex, &err), &err);
            /* The exact optimum searches every γ: never worse than deploy γ. */
            assert_true(ex.objective_value <= b.objective_value + 1e-9);
            hr_optim_result_deinit(&ex);
            hr_optim_problem_destroy(p);
        }
    }
    free(existing);
    free(deploy);
    hr_lut_destroy(lut);
}

static void test_optimum_after(void **state)
{
    (void)state;
    hr_error err = {0};
    hr_lut *lut;
    HR_ASSERT_OK(hr_lut_load(LUT_PATH, &lut, &err), &err);
    const int n = lut->nblocks;
    hr_joint_result res;
    hr_joint_result_init(&res);
    res.nblocks = n;
    res.alpha_initial = calloc((size_t)n * 3, sizeof(float));
    res.pruned_block = calloc(4, sizeof(int));
    res.pruned_branch = calloc(4, sizeof(hr_branch));
    unsigned *live = calloc((size_t)n, sizeof *live);
    assert_non_null(res.alpha_initial);
    assert_non_null(live);
    HR_ASSERT_OK(hr_optim_existing_branches(lut, live, &err), &err);
    for (int k = 0; k < n; k++)
        for (int br = 0; br < 3; br++)
            res.alpha_initial[k * 3 + br] = (live[k] >> br & 1u) ? 1.0f : 0.0f;
    /* Prune the 1x1 branch of blocks 3 and 9, then the dense branch of block 5
     * (all have more than one live branch in the fixture). */
    const int blocks[3] = {3, 9, 5};
    const hr_branch branches[3] = {HR_BRANCH_1X1, HR_BRANCH_1X1, HR_BRANCH_DENSE};
    for (int i = 0; i < 3; i++) {
        res.pruned_block[i] = blocks[i];
        res.pruned_branch[i] = branches[i];
    }
    res.npruned = 3;
    hr_optim_params op = hr_optim_params_default();
    op.objective = HR_OBJECTIVE_CYCLE;
    for (int k = 0; k <= 3; k++) {
        hr_optim_eval ev;
        double v;
        HR_ASSERT_OK(hr_joint_optimum_after(lut, &op, &res, k, &ev, &v, &err), &err);
        unsigned *m = malloc(sizeof *m * (size_t)n);
        memcpy(m, live, sizeof *m * (size_t)n);
        for (int i = 0; i < k; i++)
            m[blocks[i]] &= ~(1u << branches[i]);
        hr_optim_problem *p;
        hr_optim_result ex;
        hr_optim_result_init(&ex);
        HR_ASSERT_OK(hr_optim_problem_create(lut, m, &op, &p, &err), &err);
        HR_ASSERT_OK(hr_optim_exact(p, &ex, &err), &err);
        assert_true(fabs(v - ex.objective_value) <= 1e-12 * fmax(1.0, v));
        assert_int_equal(ev.placement, ex.eval.placement);
        hr_optim_result_deinit(&ex);
        hr_optim_problem_destroy(p);
        free(m);
    }
    hr_optim_eval ev;
    double v;
    assert_int_equal(hr_joint_optimum_after(lut, &op, &res, 4, &ev, &v, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "4 prunings"));
    free(live);
    hr_joint_result_deinit(&res);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_baseline), cmocka_unit_test(test_optimum_after)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
