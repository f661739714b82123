// ctest-labels: numeric
/* 6.3 exact solver against brute force: on many random small LUTs (1..6
 * blocks, random branch sets, pruned branches, both masks, both
 * orientations, with and without stage-0/classifier times and input shape /
 * class count), every γ assignment × every placement is evaluated with the
 * test's own evaluator; the solver's value must equal the minimum and its
 * configuration must reach it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "hyperrep/optim.h"
#include "optim_test_util.h"

#define MAXB 6

typedef struct bf_state {
    const hr_lut *lut;
    hr_device head;
    int objective;
    double omega;
    int n;
    int cand[MAXB][HR_GAMMA_COUNT], ncand[MAXB];
    int gamma[MAXB];
    double best;
    long evals;
} bf_state;

/* Every γ assignment (recursively), every placement. */
static void brute(bf_state *s, int k)
{
    if (k >= s->n || k >= MAXB) {
        for (int pl = -2; pl <= s->n; pl++) {
            double v = ot_eval(s->lut, s->head, s->gamma, pl, s->objective, s->omega, NULL, NULL);
            s->evals++;
            if (v < s->best)
                s->best = v;
        }
        return;
    }
    for (int i = 0; i < s->ncand[k]; i++) {
        s->gamma[k] = s->cand[k][i];
        brute(s, k + 1);
    }
}

static unsigned random_set(hr_test_rng *rng)
{
    static const unsigned sets[] = {HR_BR_DENSE, HR_BR_1X1, HR_BR_IDENTITY, HR_BR_DENSE | HR_BR_1X1,
                                    HR_BR_DENSE | HR_BR_IDENTITY, HR_BR_1X1 | HR_BR_IDENTITY, HR_BR_ALL};
    return sets[(int)hr_test_uniform(rng, 0, 7) % 7];
}

static void test_exact_vs_brute_force(void **state)
{
    (void)state;
    hr_test_rng rng;
    long evals = 0;
    int cases = 0, with_raw = 0, with_local = 0, picked_raw = 0, picked_local = 0, picked_split = 0;
    hr_test_rng_seed(&rng, 2024);
    for (int trial = 0; trial < 600; trial++) {
        int n = 1 + trial % MAXB;
        unsigned existing[MAXB], live[MAXB];
        hr_mask_kind mask = trial % 3 == 2 ? HR_MASK_SUBSET : HR_MASK_EXACT;
        int stage_times = (trial / 2) % 2, io = (trial / 4) % 3 != 0;
        long combos = 1;
        for (int k = 0; k < n; k++) {
            existing[k] = random_set(&rng);
            live[k] = existing[k];
            /* prune one branch now and then (never the last one) */
            if (hr_test_uniform(&rng, 0, 1) < 0.3f) {
                unsigned b = 1u << ((int)hr_test_uniform(&rng, 0, 3) % 3);
                if ((live[k] & b) && (live[k] & ~b))
                    live[k] &= ~b;
            }
            int nv = 0;
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                nv += hr_gamma_valid(g, live[k], mask);
            /* keep the brute force small: at most 4 valid γ per block */
            if (nv > 4) {
                live[k] = HR_BR_DENSE | HR_BR_1X1;
                existing[k] |= live[k];
            }
        }
        hr_lut *lut = ot_random_lut(&rng, n, existing, stage_times, io);
        for (int obj = 0; obj < HR_OBJECTIVE_COUNT; obj++)
            for (int hd = 0; hd < HR_DEVICE_COUNT; hd++) {
                hr_optim_params prm = hr_optim_params_default();
                hr_optim_problem *p = NULL;
                hr_optim_result r;
                hr_error err = {0};
                bf_state s = {0};
                prm.mask = mask;
                prm.objective = (hr_objective)obj;
                prm.head = (hr_device)hd;
                prm.eff_omega = obj == HR_OBJECTIVE_EFF ? 0.5 : prm.eff_omega;
                HR_ASSERT_OK(hr_optim_problem_create(lut, live, &prm, &p, &err), &err);
                hr_optim_result_init(&r);
                HR_ASSERT_OK(hr_optim_exact(p, &r, &err), &err);

                s.lut = lut;
                s.head = (hr_device)hd;
                s.objective = obj;
                s.omega = prm.eff_omega;
                s.n = n;
                s.best = INFINITY;
                combos = 1;
                for (int k = 0; k < n; k++) {
                    for (int g = 0; g < HR_GAMMA_COUNT; g++)
                        if (hr_gamma_valid(g, live[k], mask))
                            s.cand[k][s.ncand[k]++] = g;
                    combos *= s.ncand[k];
                }
                assert_true(combos <= 4096);
                brute(&s, 0);
                evals += s.evals;

                double tol = 1e-12 * fmax(1.0, s.best);
                if (fabs(r.objective_value - s.best) > tol) {
                    print_error("trial %d n=%d obj=%d head=%d: exact %.17g, brute force %.17g\n", trial, n, obj, hd,
                                r.objective_value, s.best);
                    fail();
                }
                /* the configuration it reports reaches that value */
                double again = ot_eval(lut, (hr_device)hd, r.gamma, r.eval.placement, obj, prm.eff_omega, NULL, NULL);
                assert_true(fabs(again - s.best) <= tol);
                assert_true(fabs(r.gap_to_exact_pct) < 1e-9);
                /* every placement is listed; unavailable ones are absent */
                assert_int_equal(r.nsplits, (n + 1) + (io ? 2 : 0));
                with_raw += io;
                with_local += io;
                picked_raw += r.eval.placement == HR_PLACEMENT_RAW;
                picked_local += r.eval.placement == HR_PLACEMENT_LOCAL;
                picked_split += r.eval.placement >= 0;
                cases++;
                hr_optim_result_deinit(&r);
                hr_optim_problem_destroy(p);
            }
        hr_lut_destroy(lut);
    }
    /* the random cases exercise every kind of placement */
    assert_true(cases == 600 * 6);
    assert_true(picked_raw > 0 && picked_local > 0 && picked_split > 0);
    assert_true(with_raw > 0 && with_local > 0);
    print_message("%d cases, %ld brute-force evaluations; optimum at raw %d, split %d, local %d times\n", cases,
                  evals, picked_raw, picked_split, picked_local);
}

/* The evaluation fields agree with SPEC §6.3 on a hand-made 4-block LUT. */
static void test_exact_hand_case(void **state)
{
    (void)state;
    unsigned ex[4] = {HR_BR_DENSE | HR_BR_1X1, HR_BR_ALL, HR_BR_DENSE | HR_BR_1X1, HR_BR_ALL};
    hr_test_rng rng;
    hr_error err = {0};
    hr_optim_problem *p = NULL;
    hr_optim_result r;
    hr_optim_params prm = hr_optim_params_default();
    hr_test_rng_seed(&rng, 7);
    hr_lut *lut = ot_random_lut(&rng, 4, ex, 1, 1);
    /* server much faster; the link slow; the crossing after block 2 tiny */
    for (int k = 0; k < 4; k++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (lut->blocks[k].t_ms[0][g] >= 0) {
                lut->blocks[k].t_ms[HR_DEVICE_CLIENT][g] = 10 + g;
                lut->blocks[k].t_ms[HR_DEVICE_SERVER][g] = 1 + 0.1 * (13 - g);
            }
    lut->blocks[0].t_ms[HR_DEVICE_CLIENT][4] = 3; /* block 0: γ4 fastest on the client */
    lut->blocks[1].comm_mb[0] = 0.001;            /* 1000 bytes after block 1 */
    lut->link.bandwidth_mbit_s = 8;               /* 1 ms per 1000 bytes */
    lut->link.latency_ms = 2;
    lut->link.per_message_ms = 0.5;
    lut->input_shape[0] = 3;
    lut->input_shape[1] = lut->input_shape[2] = 100; /* raw: 30000 bytes = 30 ms */
    lut->num_classes = 10;
    lut->t_stage0_ms[HR_DEVICE_CLIENT] = 1;
    lut->t_stage0_ms[HR_DEVICE_SERVER] = 0.5;
    lut->t_classifier_ms[HR_DEVICE_CLIENT] = 0.25;
    lut->t_classifier_ms[HR_DEVICE_SERVER] = 0.125;
    lut->blocks[0].in_shape[1] = 64; /* split 0 sends 262144 bytes */
    lut->blocks[0].in_shape[2] = lut->blocks[0].in_shape[3] = 32;
    for (int k = 0; k < 4; k++) /* other crossings are large */
        if (k != 1)
            lut->blocks[k].comm_mb[0] = 1;
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
    hr_optim_result_init(&r);
    HR_ASSERT_OK(hr_optim_exact(p, &r, &err), &err);
    /* split 2: head = stage0 1 + block0 γ4 3 + block1 fastest client (γ9: 19)
     * tail = block2 fastest server (γ4: 1.9) + block3 γ13 (1.0) + classifier */
    assert_int_equal(r.eval.placement, 2);
    assert_int_equal(r.gamma[0], 4);
    assert_int_equal(r.gamma[1], 9);
    assert_int_equal(r.gamma[2], 4);
    assert_int_equal(r.gamma[3], 13);
    assert_true(fabs(r.eval.head_ms - (1 + 3 + 19)) < 1e-12);
    assert_true(fabs(r.eval.tail_ms - (1.9 + 1.0 + 0.125)) < 1e-12);
    assert_true(fabs(r.eval.link_ms - 3.0) < 1e-12);      /* 2 + 1000·8/(8·1000) */
    assert_true(fabs(r.eval.link_busy_ms - 1.5) < 1e-12); /* 1 + 0.5 */
    assert_true(fabs(r.eval.latency_ms - (23 + 3 + 3.025)) < 1e-12);
    assert_true(fabs(r.eval.cycle_ms - 23) < 1e-12);
    assert_true(fabs(r.eval.fps - 1000 / 29.025) < 1e-9);
    assert_true(fabs(r.eval.pipelined_fps - 1000 / 23.0) < 1e-9);
    hr_optim_result_deinit(&r);
    hr_optim_problem_destroy(p);

    /* cycle: raw (stage0 + all blocks on the server, 30 ms link) vs the
     * rest: the tail alone is short, the link decides. */
    prm.objective = HR_OBJECTIVE_CYCLE;
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, &prm, &p, &err), &err);
    hr_optim_result_init(&r);
    HR_ASSERT_OK(hr_optim_exact(p, &r, &err), &err);
    for (int i = 0; i < r.nsplits; i++)
        assert_true(r.objective_value <= r.splits[i].objective_value);
    assert_true(fabs(r.objective_value - r.eval.cycle_ms) < 1e-15);
    hr_optim_result_deinit(&r);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_vs_brute_force),
        cmocka_unit_test(test_exact_hand_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
