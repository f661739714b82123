// ctest-labels: numeric
/* Where co-design pays (issue 12, part 6): every point of the sweep against
 * the exact solver run directly on a LUT modified by hand (client times
 * rescaled, bandwidth replaced) and a baseline evaluated with the test's own
 * evaluator; the region and its sentence on a hand-made LUT where a split
 * pays in a known band and on one where it never pays; argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/joint.h"
#include "../optim/optim_test_util.h"

static void assert_rel(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want))))
        fail_msg("%s: %.17g, expected %.17g", what, got, want);
}

/* A copy of lut whose blocks are its own, for the test to modify. */
static hr_lut copy_lut(const hr_lut *lut)
{
    hr_lut m = *lut;
    m.blocks = malloc(sizeof *m.blocks * (size_t)lut->nblocks);
    assert_non_null(m.blocks);
    memcpy(m.blocks, lut->blocks, sizeof *m.blocks * (size_t)lut->nblocks);
    return m;
}

/* Client times of m = the LUT's / recorded × F, written out directly. */
static void set_client(hr_lut *m, const hr_lut *lut, double recorded, double f)
{
    for (int k = 0; k < lut->nblocks; k++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            double t = lut->blocks[k].t_ms[HR_DEVICE_CLIENT][g];
            m->blocks[k].t_ms[HR_DEVICE_CLIENT][g] = t < 0 ? -1.0 : t / recorded * f;
        }
    m->t_stage0_ms[HR_DEVICE_CLIENT] = lut->t_stage0_ms[HR_DEVICE_CLIENT] / recorded * f;
    m->t_classifier_ms[HR_DEVICE_CLIENT] = lut->t_classifier_ms[HR_DEVICE_CLIENT] / recorded * f;
    m->t_frame_ms[HR_DEVICE_CLIENT] = lut->t_frame_ms[HR_DEVICE_CLIENT] / recorded * f;
}

/* The baseline from the test's evaluator: deploy γ of every existing set,
 * best placement in the order raw, 0..N, local (ties to the first). */
static double ref_baseline(const hr_lut *m, const unsigned *existing, int objective, int *placement, double *lat,
                           double *cyc)
{
    int n = m->nblocks, gamma[8];
    double best = INFINITY;
    for (int k = 0; k < n; k++)
        gamma[k] = hr_gamma_deploy(existing[k]);
    for (int i = 0; i <= n + 2; i++) {
        int pl = i == 0 ? -1 : i == n + 2 ? -2 : i - 1;
        double l = 0, c = 0, v = ot_eval(m, HR_DEVICE_CLIENT, gamma, pl, objective, 0.5, &l, &c);
        if (v < best) {
            best = v, *placement = pl, *lat = l, *cyc = c;
        }
    }
    return best;
}

static void test_points_match_exact(void **state)
{
    (void)state;
    static const double bw[] = {0.5, 3, 40, 900};
    static const double sl[] = {1, 3, 12};
    hr_test_rng rng;
    hr_test_rng_seed(&rng, 1212);
    for (int trial = 0; trial < 40; trial++) {
        int n = 1 + trial % 6;
        unsigned existing[8], live[8];
        for (int k = 0; k < n; k++)
            existing[k] = (k + trial) % 3 == 0 ? HR_BR_ALL : (k + trial) % 3 == 1 ? HR_BR_DENSE | HR_BR_1X1
                                                                                  : HR_BR_DENSE;
        hr_lut *lut = ot_random_lut(&rng, n, existing, trial % 2, 1);
        double recorded = trial % 3 == 0 ? 1.0 : 2.5;
        lut->slowdown[HR_DEVICE_CLIENT] = recorded;
        lut->t_frame_ms[HR_DEVICE_SERVER] = hr_test_uniform(&rng, 0, 0.3f);
        lut->t_frame_ms[HR_DEVICE_CLIENT] = hr_test_uniform(&rng, 0, 0.3f);
        memcpy(live, existing, sizeof live);
        live[0] &= existing[0] == HR_BR_DENSE ? ~0u : ~(unsigned)HR_BR_DENSE; /* one pruned branch */
        int objective = trial % 3; /* latency, cycle, eff */

        hr_sensitivity_params sp = hr_sensitivity_params_default();
        sp.optim.objective = (hr_objective)objective;
        sp.bandwidth_mbit_s = bw, sp.nbandwidth = 4;
        sp.slowdown = sl, sp.nslowdown = 3;
        hr_sensitivity s;
        hr_error err = {0};
        hr_sensitivity_init(&s);
        HR_ASSERT_OK(hr_sensitivity_compute(lut, live, &sp, &s, &err), &err);
        assert_int_equal(s.npoints, 12);
        assert_int_equal(s.nedges, 1);
        assert_float_equal(s.lut_slowdown, recorded, 0);

        hr_lut m = copy_lut(lut);
        for (int si = 0; si < 3; si++) {
            set_client(&m, lut, recorded, sl[si]);
            for (int bi = 0; bi < 4; bi++) {
                const hr_sensitivity_point *pt = hr_sensitivity_point_at(&s, 0, si, bi);
                assert_non_null(pt);
                assert_float_equal(pt->bandwidth_mbit_s, bw[bi], 0);
                assert_float_equal(pt->slowdown, sl[si], 0);
                assert_int_equal(pt->edges, 1);
                m.link.bandwidth_mbit_s = bw[bi]; /* latency and per-message time kept */

                /* (a) the exact solver, run directly on the modified LUT */
                hr_optim_params prm = hr_optim_params_default();
                prm.objective = (hr_objective)objective;
                hr_optim_problem *p = NULL;
                hr_optim_result ex;
                hr_optim_result_init(&ex);
                HR_ASSERT_OK(hr_optim_problem_create(&m, live, &prm, &p, &err), &err);
                HR_ASSERT_OK(hr_optim_exact(p, &ex, &err), &err);
                assert_int_equal(pt->final_eval.placement, ex.eval.placement);
                assert_rel(pt->final_value, ex.objective_value, "final objective");
                assert_rel(pt->final_eval.latency_ms, ex.eval.latency_ms, "final latency");
                assert_rel(pt->final_eval.cycle_ms, ex.eval.cycle_ms, "final cycle");
                assert_rel(pt->final_eval.fps, ex.eval.fps, "final fps");
                assert_rel(pt->final_eval.pipelined_fps, ex.eval.pipelined_fps, "final pipelined fps");

                /* (b) the baseline, from the test's own evaluator */
                int bpl = 99;
                double blat = 0, bcyc = 0;
                double bv = ref_baseline(&m, existing, objective, &bpl, &blat, &bcyc);
                assert_int_equal(pt->baseline_eval.placement, bpl);
                assert_rel(pt->baseline_value, bv, "baseline objective");
                assert_rel(pt->baseline_eval.latency_ms, blat, "baseline latency");
                assert_rel(pt->baseline_eval.cycle_ms, bcyc, "baseline cycle");
                assert_rel(pt->gain_fps_pct, 100.0 * ((1000.0 / ex.eval.latency_ms) / (1000.0 / blat) - 1),
                           "gain fps");
                assert_rel(pt->gain_pipelined_pct, 100.0 * ((1000.0 / ex.eval.cycle_ms) / (1000.0 / bcyc) - 1),
                           "gain pipelined fps");

                /* the pruned state's best split against both ends */
                double raw = INFINITY, local = INFINITY, split = INFINITY;
                int best_split = -1;
                for (int i = 0; i < ex.nsplits; i++) {
                    int pl = ex.splits[i].eval.placement;
                    double v = ex.splits[i].objective_value;
                    if (pl == HR_PLACEMENT_RAW)
                        raw = v;
                    else if (pl == HR_PLACEMENT_LOCAL)
                        local = v;
                    else if (v < split)
                        split = v, best_split = pl;
                }
                assert_int_equal(pt->best_split, best_split);
                assert_rel(pt->split_value, split, "best split");
                assert_rel(pt->raw_value, raw, "raw");
                assert_rel(pt->local_value, local, "local");
                assert_int_equal(pt->split_pays, split < fmin(raw, local));
                assert_int_equal(pt->split_pays, pt->split_saving_pct > 0);
                hr_optim_result_deinit(&ex);
                hr_optim_problem_destroy(p);
            }
        }

        /* Undoing the recorded factor: the same LUT measured as an emulation
         * 4x slower gives the same sweep. */
        hr_lut slow = copy_lut(lut);
        set_client(&slow, lut, 1.0, 4.0);
        slow.slowdown[HR_DEVICE_CLIENT] = 4.0 * recorded;
        hr_sensitivity s2;
        hr_sensitivity_init(&s2);
        HR_ASSERT_OK(hr_sensitivity_compute(&slow, live, &sp, &s2, &err), &err);
        for (int i = 0; i < s.npoints; i++) {
            assert_int_equal(s2.points[i].final_eval.placement, s.points[i].final_eval.placement);
            assert_rel(s2.points[i].final_value, s.points[i].final_value, "final objective, emulated LUT");
            assert_rel(s2.points[i].baseline_value, s.points[i].baseline_value, "baseline, emulated LUT");
        }
        hr_sensitivity_deinit(&s2);
        free(slow.blocks);
        free(m.blocks);
        hr_sensitivity_deinit(&s);
        hr_lut_destroy(lut);
    }
}

/* Four dense-only blocks, client host times a (block 0) and b (blocks
 * 1..3), server 1 ms each, no stage or frame times, zero link latency; a
 * 1×100×100 frame (10 kB), 10 classes (40 B), block 0's output `comm0` MB,
 * every other crossing tensor 1 MB or more. */
static hr_lut *band_lut(double a, double b, double client_scale, double comm0)
{
    hr_test_rng rng;
    unsigned existing[4] = {HR_BR_DENSE, HR_BR_DENSE, HR_BR_DENSE, HR_BR_DENSE};
    hr_test_rng_seed(&rng, 5);
    hr_lut *lut = ot_random_lut(&rng, 4, existing, 0, 1);
    for (int k = 0; k < 4; k++) {
        hr_lut_block *bl = &lut->blocks[k];
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (bl->t_ms[HR_DEVICE_SERVER][g] >= 0) {
                bl->t_ms[HR_DEVICE_SERVER][g] = 1.0;
                bl->t_ms[HR_DEVICE_CLIENT][g] = (k == 0 ? a : b) * client_scale;
            }
        bl->comm_mb[0] = k == 0 ? comm0 : 1.0;
    }
    lut->blocks[0].in_shape[1] = 64; /* split 0 sends 64×H×W floats: more than 1 MB */
    lut->blocks[0].in_shape[2] = lut->blocks[0].in_shape[3] = 100;
    lut->input_shape[0] = 1;
    lut->input_shape[1] = lut->input_shape[2] = 100;
    lut->num_classes = 10;
    lut->link.latency_ms = 0;
    lut->link.per_message_ms = 0;
    return lut;
}

/* With a = b = 0.2 ms, block 0's output 1 kB, latency objective:
 *   raw     = 4 + 80/B ms            (B in Mbit/s)
 *   split 1 = 0.2F + 3 + 8/B
 *   local   = 0.8F + 0.32/B
 * so split 1 beats raw when B < 72/(0.2F − 1) (always for F ≤ 5) and local
 * when B > 7.68/(0.6F − 3): at 10x from 2.56 to 72 Mbit/s, at 40x from 0.37
 * to 10.3, never at 2x (local wins) — on the default grid, 10x: 3–50 and
 * 40x: 1–10 Mbit/s. */
static void test_region_band(void **state)
{
    (void)state;
    static const double sl[] = {2, 10, 40};
    hr_lut *lut = band_lut(0.2, 0.2, 3.0, 0.001);
    lut->slowdown[HR_DEVICE_CLIENT] = 3.0; /* recorded: host times are 0.2 ms */
    hr_sensitivity_params sp = hr_sensitivity_params_default();
    sp.slowdown = sl, sp.nslowdown = 3;
    hr_sensitivity s;
    hr_error err = {0};
    char text[2048];
    hr_sensitivity_init(&s);
    HR_ASSERT_OK(hr_sensitivity_compute(lut, NULL, &sp, &s, &err), &err);
    assert_int_equal(s.nbandwidth, 13);
    for (int si = 0; si < 3; si++)
        for (int bi = 0; bi < s.nbandwidth; bi++) {
            const hr_sensitivity_point *pt = hr_sensitivity_point_at(&s, 0, si, bi);
            double B = pt->bandwidth_mbit_s, F = sl[si];
            double raw = 4 + 80 / B, split = 0.2 * F + 3 + 8 / B, local = 0.8 * F + 0.32 / B;
            assert_rel(pt->raw_value, raw, "raw");
            assert_rel(pt->local_value, local, "local");
            assert_int_equal(pt->best_split, 1);
            assert_rel(pt->split_value, split, "split 1");
            assert_int_equal(pt->split_pays, split < raw && split < local);
            if (pt->split_pays)
                assert_int_equal(pt->final_eval.placement, 1);
        }
    assert_int_equal(s.region.npoints, 6 + 5);
    assert_float_equal(s.region.bandwidth_lo, 1, 0);
    assert_float_equal(s.region.bandwidth_hi, 50, 0);
    assert_float_equal(s.region.slowdown_lo, 10, 0);
    assert_float_equal(s.region.slowdown_hi, 40, 0);
    hr_sensitivity_summary(&s, text, sizeof text);
    if (!strstr(text, "A split (s = 0..4) beats both all-edge (local) and all-server (raw) for the latency objective "
                      "at 11 of 39 grid points: link 1–50 Mbit/s, edge slowdown 10–40x (10x: 3–50 Mbit/s; 40x: "
                      "1–10 Mbit/s). It saves up to "))
        fail_msg("summary: %s", text);
    /* The largest saving is at 40x and 3 Mbit/s: raw 4 + 80/3 (the better
     * end; local 32 + 0.32/3), split 1 11 + 8/3. */
    const hr_sensitivity_point *best = &s.points[s.region.best_index];
    assert_float_equal(best->bandwidth_mbit_s, 3, 0);
    assert_float_equal(best->slowdown, 40, 0);
    assert_rel(s.region.best_saving_pct, 100.0 * 17.0 / (4 + 80 / 3.0), "best saving");
    assert_non_null(strstr(text, "It saves up to 55.4 % of the latency against the better of the two (split 1 at 3 "
                                 "Mbit/s, 40x)."));
    /* A truncated buffer still reports the whole length. */
    char small[16];
    int need = hr_sensitivity_summary(&s, small, sizeof small);
    assert_int_equal(need, (int)strlen(text));
    assert_int_equal(strlen(small), sizeof small - 1);
    hr_sensitivity_deinit(&s);
    hr_lut_destroy(lut);
}

/* Every split tensor (20 kB and up) is larger than the raw frame (10 kB)
 * and the edge is never faster than the server: raw beats every split at
 * every point, so the sentence says there is none. */
static void test_region_none(void **state)
{
    (void)state;
    hr_lut *lut = band_lut(1.0, 1.0, 1.0, 0.02);
    hr_sensitivity s;
    hr_error err = {0};
    char text[2048];
    hr_sensitivity_init(&s);
    HR_ASSERT_OK(hr_sensitivity_compute(lut, NULL, NULL, &s, &err), &err);
    assert_int_equal(s.npoints, 13 * 5);
    assert_int_equal(s.region.npoints, 0);
    for (int i = 0; i < s.npoints; i++) {
        assert_false(s.points[i].split_pays);
        assert_true(s.points[i].split_saving_pct < 0);
    }
    assert_float_equal(s.raw_bytes, 10000, 0);
    assert_float_equal(s.min_split_bytes, 20000, 1e-6);
    assert_int_equal(s.min_split_bytes_at, 1);
    hr_sensitivity_summary(&s, text, sizeof text);
    if (!strstr(text, "There is none for this model: at no point of the grid (link 1–1000 Mbit/s, edge slowdown "
                      "2–32x, K = 1) does a split (s = 0..4) beat both all-edge (local) and all-server (raw) for the "
                      "latency objective. The closest a split comes is ") ||
        !strstr(text, "A raw frame is 10 kB; the smallest tensor a split sends is 20 kB (split 1)."))
        fail_msg("summary: %s", text);
    hr_sensitivity_deinit(&s);
    hr_lut_destroy(lut);
}

static void test_errors(void **state)
{
    (void)state;
    hr_lut *lut = band_lut(0.2, 0.2, 1.0, 0.001);
    hr_sensitivity s;
    hr_error err = {0};
    hr_sensitivity_params sp = hr_sensitivity_params_default();
    static const double down[] = {10, 5}, neg[] = {-1, 2};
    static const int k8[] = {1, 8};
    unsigned live[4] = {HR_BR_1X1, HR_BR_DENSE, HR_BR_DENSE, HR_BR_DENSE};

    hr_sensitivity_init(&s);
    HR_ASSERT_OK(hr_sensitivity_compute(lut, NULL, NULL, &s, &err), &err);
    assert_int_equal(s.npoints, 65);

    sp.bandwidth_mbit_s = down, sp.nbandwidth = 2;
    assert_int_equal(hr_sensitivity_compute(lut, NULL, &sp, &s, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "increase strictly"));
    sp = hr_sensitivity_params_default();
    sp.slowdown = neg, sp.nslowdown = 2;
    assert_int_equal(hr_sensitivity_compute(lut, NULL, &sp, &s, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "edge slowdown value 0 is -1"));
    sp = hr_sensitivity_params_default();
    sp.edges = k8, sp.nedges = 2;
    assert_int_equal(hr_sensitivity_compute(lut, NULL, &sp, &s, &err), HR_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "K = 8"));
    /* A live set that is not a subset of the LUT's branches: the problem's
     * error, with the point named. */
    assert_int_equal(hr_sensitivity_compute(lut, live, NULL, &s, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "sensitivity at 1 Mbit/s, edge slowdown 2, K = 1"));
    /* out untouched by every failure */
    assert_int_equal(s.npoints, 65);
    assert_non_null(s.points);
    hr_sensitivity_deinit(&s);
    hr_sensitivity_deinit(NULL);
    assert_null(hr_sensitivity_point_at(&s, 0, 0, 0));
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_points_match_exact),
        cmocka_unit_test(test_region_band),
        cmocka_unit_test(test_region_none),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
