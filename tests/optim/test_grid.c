/* 6.2 grid search: default ranges, clamping to the model with the flag the
 * CLI warns on, errors for ranges outside it, every split recorded, each
 * split equal to the gradient method with λ fixed there, the best kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "hyperrep/optim.h"
#include "optim_test_util.h"

static hr_optim_problem *make(const hr_lut *lut, hr_optim_params *prm)
{
    hr_optim_problem *p = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, prm, &p, &err), &err);
    return p;
}

static void test_grid_default_range_and_splits(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_optim_params prm = hr_optim_params_default();
    hr_error err = {0};
    hr_optim_result g;
    prm.objective = HR_OBJECTIVE_EFF;
    prm.steps = 200;
    hr_optim_problem *p = make(lut, &prm);
    hr_optim_result_init(&g);
    HR_ASSERT_OK(hr_optim_grid(p, &g, &err), &err);
    /* the original's 8..15 for a 27-block model */
    assert_int_equal(g.min_split, 8);
    assert_int_equal(g.max_split, 15);
    assert_false(g.range_clamped);
    assert_int_equal(g.nsplits, 8);
    int best = 0;
    for (int i = 0; i < g.nsplits; i++) {
        assert_int_equal(g.splits[i].eval.placement, 8 + i);
        if (g.splits[i].objective_value < g.splits[best].objective_value)
            best = i;
    }
    assert_int_equal(g.eval.placement, 8 + best);
    assert_true(g.objective_value == g.splits[best].objective_value);
    assert_memory_equal(g.gamma, g.split_gamma + (size_t)best * (size_t)lut->nblocks, sizeof(int) * 27);
    assert_true(g.gap_to_exact_pct >= 0);
    assert_int_equal(g.nhistory, 2);

    /* each split is the gradient method with λ fixed there */
    for (int i = 0; i < g.nsplits; i += 3) {
        hr_optim_params q = prm;
        hr_optim_result r;
        q.lambda_fixed = 1;
        q.lambda0 = 8 + i;
        hr_optim_problem *pq = make(lut, &q);
        hr_optim_result_init(&r);
        HR_ASSERT_OK(hr_optim_gd(pq, &r, &err), &err);
        assert_memory_equal(r.gamma, g.split_gamma + (size_t)i * 27, sizeof(int) * 27);
        assert_true(r.objective_value == g.splits[i].objective_value);
        assert_true(r.final_loss.total == g.splits[i].loss.total);
        hr_optim_result_deinit(&r);
        hr_optim_problem_destroy(pq);
    }
    hr_optim_result_deinit(&g);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
}

static void test_grid_ranges(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_error err = {0};
    struct {
        int a, b, st, lo, hi, clamped;
    } cases[] = {
        {0, 27, HR_OK, 0, 27, 0},           {-5, 3, HR_OK, 0, 3, 1},
        {20, 40, HR_OK, 20, 27, 1},         {-3, 99, HR_OK, 0, 27, 1},
        {5, 5, HR_OK, 5, 5, 0},             {30, 40, HR_ERR_INVALID_ARG, 0, 0, 0},
        {-9, -1, HR_ERR_INVALID_ARG, 0, 0, 0}, {12, 4, HR_ERR_INVALID_ARG, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hr_optim_params prm = hr_optim_params_default();
        hr_optim_result g;
        prm.steps = 20;
        prm.min_split = cases[i].a;
        prm.max_split = cases[i].b;
        hr_optim_problem *p = make(lut, &prm);
        hr_optim_result_init(&g);
        hr_status st = hr_optim_grid(p, &g, &err);
        assert_int_equal(st, cases[i].st);
        if (st == HR_OK) {
            assert_int_equal(g.min_split, cases[i].lo);
            assert_int_equal(g.max_split, cases[i].hi);
            assert_int_equal(g.range_clamped, cases[i].clamped);
            assert_int_equal(g.req_min_split, cases[i].a);
            assert_int_equal(g.req_max_split, cases[i].b);
            assert_int_equal(g.nsplits, cases[i].hi - cases[i].lo + 1);
        } else {
            assert_non_null(strstr(err.msg, cases[i].a > cases[i].b ? "above max split" : "outside the model"));
            assert_null(g.gamma);
        }
        hr_optim_result_deinit(&g);
        hr_optim_problem_destroy(p);
    }

    /* other block counts: 1..N−1 */
    hr_test_rng rng;
    unsigned ex[5] = {HR_BR_ALL, HR_BR_ALL, HR_BR_ALL, HR_BR_ALL, HR_BR_ALL};
    hr_test_rng_seed(&rng, 5);
    hr_lut *small = ot_random_lut(&rng, 5, ex, 0, 0);
    hr_optim_params prm = hr_optim_params_default();
    hr_optim_result g;
    prm.steps = 10;
    hr_optim_problem *p = make(small, &prm);
    hr_optim_result_init(&g);
    HR_ASSERT_OK(hr_optim_grid(p, &g, &err), &err);
    assert_int_equal(g.min_split, 1);
    assert_int_equal(g.max_split, 4);
    hr_optim_result_deinit(&g);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(small);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_default_range_and_splits),
        cmocka_unit_test(test_grid_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
