/* Problem validation and the LUT evaluator: every bad input gives a clear
 * error naming the block, γ, device or value (blocks missing, entries
 * missing, bad times, empty live sets, bad link, bad knees, bad Comm_size,
 * bad settings); notes for placements left out; hr_optim_evaluate's checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "hyperrep/optim.h"
#include "optim_test_util.h"

/* Expects problem creation to fail with st and a message containing needle. */
static void expect_fail(const hr_lut *lut, const unsigned *live, const hr_optim_params *prm, hr_status st,
                        const char *needle)
{
    hr_optim_problem *p = (hr_optim_problem *)(uintptr_t)1;
    hr_error err = {0};
    hr_status got = hr_optim_problem_create(lut, live, prm, &p, &err);
    if (got != st || !strstr(err.msg, needle)) {
        print_error("status %d (want %d), message '%s' (looked for '%s')\n", got, st, err.msg, needle);
        fail();
    }
    assert_true(p == (hr_optim_problem *)(uintptr_t)1); /* untouched on failure */
}

static void test_missing_blocks(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    char saved[HR_LUT_NAME_MAX];

    /* a hole in a stage */
    memcpy(saved, lut->blocks[5].name, sizeof saved);
    snprintf(lut->blocks[5].name, sizeof lut->blocks[5].name, "stage2.7");
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "lacks block stage2.1");
    memcpy(lut->blocks[5].name, saved, sizeof saved);
    /* a name of another form */
    snprintf(lut->blocks[3].name, sizeof lut->blocks[3].name, "layer3");
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "named 'layer3'");
    snprintf(lut->blocks[3].name, sizeof lut->blocks[3].name, "stage1.3");
    /* the LUT names RepVGG-B3: the last block of stage 3 cut off */
    memcpy(&lut->blocks[25], &lut->blocks[26], sizeof lut->blocks[0]);
    lut->nblocks = 26;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "lacks block stage3.15");
    lut->nblocks = 27;
    hr_lut_destroy(lut);
    lut = ot_ref_lut();
    /* a whole stage missing */
    hr_test_rng rng;
    unsigned ex[4] = {HR_BR_ALL, HR_BR_ALL, HR_BR_ALL, HR_BR_ALL};
    hr_test_rng_seed(&rng, 3);
    hr_lut *small = ot_random_lut(&rng, 4, ex, 0, 0);
    snprintf(small->blocks[1].name, sizeof small->blocks[1].name, "stage3.0");
    snprintf(small->blocks[2].name, sizeof small->blocks[2].name, "stage3.1");
    expect_fail(small, NULL, NULL, HR_ERR_FORMAT, "lacks every block of stage 2");
    hr_lut_destroy(small);
    hr_lut_destroy(lut);
}

static void test_bad_entries(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    double t;

    /* a γ stage2.3's branches allow, without a client time */
    t = lut->blocks[7].t_ms[HR_DEVICE_CLIENT][11];
    lut->blocks[7].t_ms[HR_DEVICE_CLIENT][11] = -1;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "stage2.3 lacks the client time of gamma 11 (PART_3I_1)");
    lut->blocks[7].t_ms[HR_DEVICE_CLIENT][11] = t;
    /* NaN, negative other than -1 */
    lut->blocks[2].t_ms[HR_DEVICE_SERVER][4] = NAN;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "stage1.2: server time of gamma 4 (FUSED_3_1) is nan");
    lut->blocks[2].t_ms[HR_DEVICE_SERVER][4] = -0.5;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "is -0.5");
    lut->blocks[2].t_ms[HR_DEVICE_SERVER][4] = 0.5;
    /* no time at all */
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            lut->blocks[9].t_ms[d][g] = -1;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "stage2.5 has no valid time");
    hr_lut_destroy(lut);

    lut = ot_ref_lut();
    lut->blocks[4].comm_mb[0] = 0;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "stage2.0: Comm_size[0] = 0 MB");
    lut->blocks[4].comm_mb[0] = 1;
    lut->blocks[4].comm_mb[2] = 0;
    hr_optim_params prm = hr_optim_params_default();
    prm.link_streams = 1; /* needs all three */
    expect_fail(lut, NULL, &prm, HR_ERR_FORMAT, "Comm_size[2]");
    lut->blocks[4].comm_mb[2] = 3;
    lut->n_stream[9] = 0;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "N_stream[9] = 0");
    lut->n_stream[9] = 3;
    lut->i_knee[HR_DEVICE_CLIENT] = 0;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "roofline knee of the client");
    lut->i_knee[HR_DEVICE_CLIENT] = 16.1;
    lut->t_stage0_ms[HR_DEVICE_SERVER] = -2;
    expect_fail(lut, NULL, NULL, HR_ERR_FORMAT, "stage-0 / classifier time of the server");
    hr_lut_destroy(lut);
}

static void test_live_link_and_settings(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    unsigned live[27];
    hr_error err = {0};
    hr_optim_params prm = hr_optim_params_default();

    HR_ASSERT_OK(hr_optim_existing_branches(lut, live, &err), &err);
    assert_int_equal(live[0], HR_BR_DENSE | HR_BR_1X1);
    assert_int_equal(live[1], HR_BR_ALL);
    live[3] = 0;
    expect_fail(lut, live, NULL, HR_ERR_INVALID_ARG, "block stage1.3: live branches none");
    live[3] = HR_BR_ALL;
    live[0] = HR_BR_IDENTITY; /* stage1.0 has no identity */
    expect_fail(lut, live, NULL, HR_ERR_INVALID_ARG, "not a non-empty subset of its branches dense+1x1");
    live[0] = HR_BR_DENSE | HR_BR_1X1;

    lut->link.bandwidth_mbit_s = 0;
    expect_fail(lut, NULL, NULL, HR_ERR_INVALID_ARG, "LUT link: bandwidth 0 Mbit/s is not positive");
    lut->link.bandwidth_mbit_s = 100;
    prm.link_override = 1;
    prm.link = lut->link;
    prm.link.bandwidth_mbit_s = -5;
    expect_fail(lut, NULL, &prm, HR_ERR_INVALID_ARG, "link: bandwidth -5 Mbit/s is not positive");
    prm.link.bandwidth_mbit_s = NAN;
    expect_fail(lut, NULL, &prm, HR_ERR_INVALID_ARG, "is not positive");
    prm.link.bandwidth_mbit_s = 10;
    prm.link.latency_ms = -1;
    expect_fail(lut, NULL, &prm, HR_ERR_INVALID_ARG, "latency -1 ms");
    prm = hr_optim_params_default();
    prm.steps = -1;
    expect_fail(lut, NULL, &prm, HR_ERR_INVALID_ARG, "-1 steps");
    prm = hr_optim_params_default();
    prm.w_trans = -1;
    expect_fail(lut, NULL, &prm, HR_ERR_INVALID_ARG, "loss weight 2 is -1");
    prm = hr_optim_params_default();
    prm.eff_omega = 1.5;
    expect_fail(lut, NULL, &prm, HR_ERR_INVALID_ARG, "omega 1.5");
    prm = hr_optim_params_default();
    prm.sigma = 0;
    expect_fail(lut, NULL, &prm, HR_ERR_INVALID_ARG, "sigma 0");
    expect_fail(NULL, NULL, NULL, HR_ERR_INVALID_ARG, "blocks");
    hr_lut_destroy(lut);
}

static void test_notes_and_io(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_error err = {0};
    hr_optim_problem *p = NULL;
    char all[2048] = "";

    /* The original's files name RepVGG-B3 but record no input shape or
     * class count: both come from the architecture. */
    memset(lut->input_shape, 0, sizeof lut->input_shape);
    lut->num_classes = 0;
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, NULL, &p, &err), &err);
    assert_int_equal(hr_optim_problem_input_shape(p)[0], 3);
    assert_int_equal(hr_optim_problem_input_shape(p)[1], 224);
    assert_int_equal(hr_optim_problem_num_classes(p), 1000);
    for (int i = 0; i < hr_optim_problem_num_notes(p); i++)
        strncat(all, hr_optim_problem_note(p, i), sizeof all - strlen(all) - 1);
    assert_non_null(strstr(all, "input shape [3, 224, 224] derived from repvgg-b3"));
    assert_non_null(strstr(all, "no stage-0 and classifier times"));
    assert_true(hr_optim_placement_available(p, HR_PLACEMENT_RAW));
    hr_optim_problem_destroy(p);

    /* An unknown model: raw and local are left out, with notes. */
    snprintf(lut->model, sizeof lut->model, "mystery-net");
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, NULL, &p, &err), &err);
    all[0] = '\0';
    for (int i = 0; i < hr_optim_problem_num_notes(p); i++)
        strncat(all, hr_optim_problem_note(p, i), sizeof all - strlen(all) - 1);
    assert_non_null(strstr(all, "placement raw left out"));
    assert_non_null(strstr(all, "placement local left out"));
    assert_false(hr_optim_placement_available(p, HR_PLACEMENT_RAW));
    assert_false(hr_optim_placement_available(p, HR_PLACEMENT_LOCAL));
    assert_true(hr_optim_placement_available(p, 0));
    hr_optim_result r;
    hr_optim_result_init(&r);
    HR_ASSERT_OK(hr_optim_exact(p, &r, &err), &err);
    assert_int_equal(r.nsplits, 28);
    assert_true(r.eval.placement >= 0);
    hr_optim_result_deinit(&r);
    hr_optim_problem_destroy(p);

    /* No block shapes: split 0 is left out; intensities from the LUT. */
    for (int k = 0; k < lut->nblocks; k++)
        memset(lut->blocks[k].in_shape, 0, sizeof lut->blocks[k].in_shape);
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, NULL, &p, &err), &err);
    assert_false(hr_optim_placement_available(p, 0));
    all[0] = '\0';
    for (int i = 0; i < hr_optim_problem_num_notes(p); i++)
        strncat(all, hr_optim_problem_note(p, i), sizeof all - strlen(all) - 1);
    assert_non_null(strstr(all, "Intensity column"));
    assert_non_null(strstr(all, "split 0 left out"));
    hr_optim_result_init(&r);
    HR_ASSERT_OK(hr_optim_gd(p, &r, &err), &err);
    hr_optim_result_deinit(&r);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
}

static void test_evaluate(void **state)
{
    (void)state;
    hr_lut *lut = ot_ref_lut();
    hr_error err = {0};
    hr_optim_problem *p = NULL;
    hr_optim_eval e;
    int gamma[27];
    HR_ASSERT_OK(hr_optim_problem_create(lut, NULL, NULL, &p, &err), &err);
    for (int k = 0; k < 27; k++)
        gamma[k] = hr_gamma_deploy(hr_optim_problem_live(p, k));
    HR_ASSERT_OK(hr_optim_evaluate(p, gamma, 11, &e, &err), &err);
    double lat = 0, cyc = 0;
    ot_eval(lut, HR_DEVICE_CLIENT, gamma, 11, 0, 0.5, &lat, &cyc);
    assert_true(fabs(e.latency_ms - lat) < 1e-12 && fabs(e.cycle_ms - cyc) < 1e-12);
    assert_true(e.bytes == 602112);
    assert_true(fabs(hr_optim_objective_value(&e, HR_OBJECTIVE_EFF, 0.5) - 0.5 * (lat + cyc)) < 1e-12);

    gamma[4] = 13; /* stage2.0 (stride 2) has no identity */
    assert_int_equal(hr_optim_evaluate(p, gamma, 11, &e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "block stage2.0: gamma 13 is not valid for its live branches dense+1x1"));
    gamma[4] = 4;
    assert_int_equal(hr_optim_evaluate(p, gamma, 28, &e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "split 28 is outside the model (0..27)"));
    assert_int_equal(hr_optim_evaluate(p, gamma, -7, &e, &err), HR_ERR_INVALID_ARG);
    HR_ASSERT_OK(hr_optim_evaluate(p, gamma, HR_PLACEMENT_LOCAL, &e, &err), &err);
    assert_true(e.tail_ms == 0 && e.bytes == 4000);
    HR_ASSERT_OK(hr_optim_evaluate(p, gamma, HR_PLACEMENT_RAW, &e, &err), &err);
    assert_true(e.head_ms == 0 && e.bytes == 3 * 224 * 224);
    hr_optim_problem_destroy(p);
    hr_lut_destroy(lut);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(hr_objective_name(HR_OBJECTIVE_CYCLE), "cycle");
    assert_int_equal(hr_objective_parse("eff"), HR_OBJECTIVE_EFF);
    assert_int_equal(hr_objective_parse("speed"), -1);
    assert_int_equal(hr_optim_method_parse("grid"), HR_METHOD_GRID);
    assert_int_equal(hr_optim_method_parse(NULL), -1);
    assert_string_equal(hr_optim_method_name(HR_METHOD_EXACT), "exact");
    assert_string_equal(hr_lambda_init_name(HR_LAMBDA_INIT_MID), "mid");
    hr_optim_params d = hr_optim_params_default();
    assert_int_equal(d.steps, 800);
    assert_true(d.head == HR_DEVICE_CLIENT && d.mask == HR_MASK_EXACT && d.z_offset == 0.5 && d.sigma == 5);
    assert_true(d.w_head == 10 && d.w_tail == 10 && d.w_trans == 5 && d.w_intensity == 0.05 && d.w_rc == 0);
    assert_true(d.lambda0 == 10 && d.lr_theta == 0.01 && d.lr_lambda == 0.01);
    hr_optim_result_deinit(NULL);
    hr_optim_problem_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_blocks), cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_live_link_and_settings), cmocka_unit_test(test_notes_and_io),
        cmocka_unit_test(test_evaluate), cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
