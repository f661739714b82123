/* Run-time edge emulation (edge_emulate.h, SPEC §13.2): the deadline
 * arithmetic, the LUT times a unit gets, the checks of a run's request
 * against its LUT, and a deployment part run under an emulator (same
 * results, every unit counted). Nothing here depends on how fast the
 * machine is: only orderings the clock guarantees are asserted (a wait
 * returns at its deadline or later). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/clock.h"
#include "hyperrep/edge_emulate.h"
#include "hyperrep/serve.h"

static void test_deadline_arithmetic(void **state)
{
    (void)state;
    /* start + LUT time, rounded to the nearest ns */
    assert_true(hr_edge_emu_deadline_ns(1000, 0.5) == 1000 + 500000);
    assert_true(hr_edge_emu_deadline_ns(1000, 2.25) == 1000 + 2250000);
    assert_true(hr_edge_emu_deadline_ns(7, 1e-6) == 8);
    assert_true(hr_edge_emu_deadline_ns(7, 0.4e-6) == 7);
    assert_true(hr_edge_emu_deadline_ns(INT64_C(5000000000000), 1000.0) == INT64_C(5001000000000));
    /* no time: the deadline is the start (the unit ends as soon as it is done) */
    assert_true(hr_edge_emu_deadline_ns(1000, 0) == 1000);
    assert_true(hr_edge_emu_deadline_ns(1000, -1) == 1000);
    assert_true(hr_edge_emu_deadline_ns(1000, NAN) == 1000);
    assert_true(hr_edge_emu_deadline_ns(1000, INFINITY) == 1000);
    /* flat form: start + F x the unit's own duration */
    assert_true(hr_edge_emu_flat_deadline_ns(100, 300, 3.0) == 100 + 600);
    assert_true(hr_edge_emu_flat_deadline_ns(100, 300, 1.0) == 300);
    assert_true(hr_edge_emu_flat_deadline_ns(0, 3, 2.5) == 8); /* 7.5 rounds to 8 */
    /* never shorter than the run itself */
    assert_true(hr_edge_emu_flat_deadline_ns(100, 300, 0.5) == 300);
    assert_true(hr_edge_emu_flat_deadline_ns(100, 300, NAN) == 300);
    assert_true(hr_edge_emu_flat_deadline_ns(300, 100, 2.0) == 100);
}

static void test_sleep_target(void **state)
{
    (void)state;
    /* sleep until the spin tail begins, never into the past */
    assert_true(hr_clock_sleep_target_ns(1000000, 0, 80000) == 920000);
    assert_true(hr_clock_sleep_target_ns(1000000, 950000, 80000) == 950000);
    assert_true(hr_clock_sleep_target_ns(1000000, 2000000, 80000) == 2000000);
    assert_true(hr_clock_sleep_target_ns(1000000, 0, 0) == 1000000);
    assert_true(hr_clock_sleep_target_ns(1000000, 0, -5) == 1000000);
    assert_true(HR_CLOCK_SPIN_TAIL_NS > 0 && HR_CLOCK_SPIN_TAIL_NS <= 100000);
    /* a wait returns at its deadline or later, and at once for a past one */
    int64_t t0 = hr_clock_now_ns();
    hr_clock_sleep_until(t0 + 200000);
    assert_true(hr_clock_now_ns() >= t0 + 200000);
    hr_clock_sleep_until(t0 - 1000000);
    assert_true(hr_clock_now_ns() >= t0);
}

/* A structure-only repvgg-tiny and a LUT naming its blocks, with client
 * time 0.01·(k+1) ms for block k at every γ but `bad`, stage 0 0.002 ms and
 * the classifier 0.003 ms. */
typedef struct fixture {
    hr_ctx *ctx;
    hr_model *m;
    hr_lut *lut;
    int n;
} fixture;

static void fixture_init(fixture *f, int bad_block, int bad_gamma)
{
    hr_error err;
    hr_ctx_params cp = hr_ctx_params_default();
    memset(f, 0, sizeof *f);
    HR_ASSERT_OK(hr_ctx_create(&cp, &f->ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(f->ctx, "repvgg-tiny", NULL, &f->m, &err), &err);
    f->n = hr_model_num_blocks(f->m);
    HR_ASSERT_OK(hr_lut_create(f->n, &f->lut, &err), &err);
    snprintf(f->lut->model, sizeof f->lut->model, "repvgg-tiny");
    for (int k = 0; k < f->n; k++) {
        snprintf(f->lut->blocks[k].name, sizeof f->lut->blocks[k].name, "%s", hr_model_block(f->m, k).name);
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            f->lut->blocks[k].t_ms[HR_DEVICE_CLIENT][g] = k == bad_block && g == bad_gamma ? -1 : 0.01 * (k + 1);
    }
    f->lut->has_stage_times = 1;
    f->lut->t_stage0_ms[HR_DEVICE_CLIENT] = 0.002;
    f->lut->t_classifier_ms[HR_DEVICE_CLIENT] = 0.003;
}

static void fixture_deinit(fixture *f)
{
    hr_lut_destroy(f->lut);
    hr_model_destroy(f->m);
    hr_ctx_destroy(f->ctx);
}

static void test_lut_times(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, 1, 4);
    assert_true(hr_edge_emu_lut_time_ms(f.lut, 0, 0) == 0.01);
    assert_true(hr_edge_emu_lut_time_ms(f.lut, 2, 13) == 0.03);
    assert_true(hr_edge_emu_lut_time_ms(f.lut, 1, 4) == -1); /* invalid entry */
    assert_true(hr_edge_emu_lut_time_ms(f.lut, f.n, 0) == -1);
    assert_true(hr_edge_emu_lut_time_ms(f.lut, 0, HR_GAMMA_COUNT) == -1);
    assert_true(hr_edge_emu_lut_time_ms(f.lut, HR_EDGE_EMU_STAGE0, 0) == 0.002);
    assert_true(hr_edge_emu_lut_time_ms(f.lut, HR_EDGE_EMU_CLASSIFIER, 0) == 0.003);
    f.lut->has_stage_times = 0;
    assert_true(hr_edge_emu_lut_time_ms(f.lut, HR_EDGE_EMU_STAGE0, 0) == -1);
    fixture_deinit(&f);
}

static void test_create_checks(void **state)
{
    (void)state;
    fixture f;
    hr_error err;
    hr_edge_emu *e = NULL;
    fixture_init(&f, 1, 4);
    int *g = calloc((size_t)f.n, sizeof *g);
    /* every γ has a time: the emulator holds them */
    HR_ASSERT_OK(hr_edge_emu_create(f.lut, f.m, g, &e, &err), &err);
    assert_false(hr_edge_emu_is_flat(e));
    assert_true(hr_edge_emu_time_ms(e, 2) == 0.03);
    assert_true(hr_edge_emu_time_ms(e, HR_EDGE_EMU_STAGE0) == 0.002);
    assert_true(hr_edge_emu_time_ms(e, HR_EDGE_EMU_CLASSIFIER) == 0.003);
    assert_true(hr_edge_emu_time_ms(e, f.n) == -1);
    hr_edge_emu_destroy(e);
    /* a deployed γ the LUT has no client time for names block and γ */
    e = NULL;
    g[1] = 4;
    assert_int_equal(hr_edge_emu_create(f.lut, f.m, g, &e, &err), HR_ERR_INVALID_ARG);
    assert_null(e);
    assert_non_null(strstr(err.msg, hr_model_block(f.m, 1).name));
    assert_non_null(strstr(err.msg, "gamma 4"));
    g[1] = 0;
    /* a LUT of other blocks */
    snprintf(f.lut->blocks[2].name, sizeof f.lut->blocks[2].name, "stage9.9");
    assert_int_equal(hr_edge_emu_create(f.lut, f.m, g, &e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "stage9.9"));
    snprintf(f.lut->blocks[2].name, sizeof f.lut->blocks[2].name, "%s", hr_model_block(f.m, 2).name);
    f.lut->nblocks = f.n - 1;
    assert_int_equal(hr_edge_emu_create(f.lut, f.m, g, &e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "blocks"));
    f.lut->nblocks = f.n;
    /* the flat form */
    assert_int_equal(hr_edge_emu_create_flat(0.5, &e, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_edge_emu_create_flat(NAN, &e, &err), HR_ERR_INVALID_ARG);
    assert_null(e);
    HR_ASSERT_OK(hr_edge_emu_create_flat(3, &e, &err), &err);
    assert_true(hr_edge_emu_is_flat(e));
    assert_true(hr_edge_emu_time_ms(e, 0) == -1);
    hr_edge_emu_destroy(e);
    hr_edge_emu_destroy(NULL);
    free(g);
    fixture_deinit(&f);
}

static void test_lut_request(void **state)
{
    (void)state;
    fixture f;
    hr_error err;
    char d[320];
    fixture_init(&f, -1, -1);
    /* this machine at its own speed: nothing to warn about */
    snprintf(f.lut->emulated[HR_DEVICE_CLIENT], sizeof f.lut->emulated[0], "this machine, 1 thread");
    f.lut->slowdown[HR_DEVICE_CLIENT] = 1;
    assert_int_equal(hr_edge_emu_lut_planned(f.lut, d, sizeof d), 0);
    assert_string_equal(d, "");
    HR_ASSERT_OK(hr_edge_emu_lut_check(f.lut, "l.json", NULL, 0, &err), &err);
    HR_ASSERT_OK(hr_edge_emu_lut_check(f.lut, "l.json", NULL, 1, &err), &err);
    assert_int_equal(hr_edge_emu_lut_check(f.lut, "l.json", "rpi4", 0, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "--edge rpi4"));
    assert_non_null(strstr(err.msg, "l.json"));
    assert_int_equal(hr_edge_emu_lut_check(f.lut, "l.json", NULL, 4, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "--edge-slowdown 4"));
    assert_non_null(strstr(err.msg, "slowdown is 1"));
    /* a flat slowdown */
    f.lut->slowdown[HR_DEVICE_CLIENT] = 4;
    assert_int_equal(hr_edge_emu_lut_planned(f.lut, d, sizeof d), 1);
    assert_non_null(strstr(d, "slowdown x 4"));
    HR_ASSERT_OK(hr_edge_emu_lut_check(f.lut, "l.json", NULL, 4, &err), &err);
    assert_int_equal(hr_edge_emu_lut_check(f.lut, "l.json", NULL, 3, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "--edge-slowdown 3"));
    assert_non_null(strstr(err.msg, "slowdown is 4"));
    /* an edge profile */
    snprintf(f.lut->edge_profile[HR_DEVICE_CLIENT], sizeof f.lut->edge_profile[0], "rpi4");
    f.lut->slowdown[HR_DEVICE_CLIENT] = 7.25;
    assert_int_equal(hr_edge_emu_lut_planned(f.lut, d, sizeof d), 1);
    assert_non_null(strstr(d, "edge profile rpi4"));
    assert_int_equal(hr_edge_emu_lut_planned(f.lut, NULL, 0), 1);
    HR_ASSERT_OK(hr_edge_emu_lut_check(f.lut, "l.json", "rpi4", 0, &err), &err);
    assert_int_equal(hr_edge_emu_lut_check(f.lut, "l.json", "jetson-nano", 0, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "--edge jetson-nano"));
    assert_non_null(strstr(err.msg, "edge profile rpi4"));
    assert_int_equal(hr_edge_emu_lut_check(f.lut, "l.json", NULL, 7.25, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "--edge rpi4"));

    /* what a run asks for */
    hr_edge_emu_params p = hr_edge_emu_params_default();
    hr_edge_emu *e = (hr_edge_emu *)&p; /* must become NULL */
    int *g = calloc((size_t)f.n, sizeof *g);
    HR_ASSERT_OK(hr_edge_emu_setup(&p, f.m, g, &e, &err), &err);
    assert_null(e);
    p.profile = "rpi4";
    assert_int_equal(hr_edge_emu_setup(&p, f.m, g, &e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "needs --lut"));
    p.slowdown = 2;
    assert_int_equal(hr_edge_emu_setup(&p, f.m, g, &e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "exclusive"));
    p.slowdown = 0;
    p.lut = f.lut;
    p.lut_name = "l.json";
    HR_ASSERT_OK(hr_edge_emu_setup(&p, f.m, g, &e, &err), &err);
    assert_non_null(e);
    assert_false(hr_edge_emu_is_flat(e));
    hr_edge_emu_destroy(e);
    p.profile = NULL;
    p.lut = NULL;
    p.slowdown = 0.5;
    assert_int_equal(hr_edge_emu_setup(&p, f.m, g, &e, &err), HR_ERR_INVALID_ARG);
    p.slowdown = 2;
    HR_ASSERT_OK(hr_edge_emu_setup(&p, f.m, g, &e, &err), &err);
    assert_true(hr_edge_emu_is_flat(e));
    hr_edge_emu_destroy(e);
    free(g);
    fixture_deinit(&f);
}

/* Counter invariants that hold however fast the machine is. */
static void check_stats(const hr_edge_emu_stats *s, int64_t units, double target_ms)
{
    assert_int_equal(s->units, units);
    assert_true(s->waits + s->overruns <= s->units);
    if (target_ms >= 0 && fabs(s->target_ms - target_ms) > 1e-6 * (double)units)
        fail_msg("target %.9f ms, expected %.9f", s->target_ms, target_ms);
    /* a unit ends at its deadline or later, and never before it was computed */
    assert_true(s->emulated_ms >= s->target_ms - 1e-9);
    assert_true(s->emulated_ms >= s->host_ms - 1e-9);
    assert_true(s->late_ms >= 0 && s->overrun_ms >= 0);
}

static void test_part_emulated(void **state)
{
    (void)state;
    fixture f;
    hr_error err;
    hr_deploy_config cfg;
    hr_deploy_part *head = NULL, *plain = NULL, *whole = NULL, *wplain = NULL, *tail = NULL;
    hr_edge_emu *e = NULL, *flat = NULL;
    hr_edge_emu_stats s;
    const int split = 3, frames = 3;
    fixture_init(&f, -1, -1);
    hr_deploy_config_init(&cfg);
    HR_ASSERT_OK(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": 3}", "cfg", &cfg, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_create(f.ctx, &cfg, HR_DEPLOY_HEAD, NULL, 7, &head, &err), &err);
    HR_ASSERT_OK(hr_deploy_config_resolve(&cfg, hr_deploy_part_model(head), &err), &err);
    HR_ASSERT_OK(hr_deploy_part_create(f.ctx, &cfg, HR_DEPLOY_HEAD, NULL, 7, &plain, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_create(f.ctx, &cfg, HR_DEPLOY_TAIL, NULL, 7, &tail, &err), &err);
    HR_ASSERT_OK(hr_edge_emu_create(f.lut, hr_deploy_part_model(head), cfg.gamma, &e, &err), &err);
    assert_int_equal(hr_deploy_part_set_edge_emu(tail, e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "tail"));
    HR_ASSERT_OK(hr_deploy_part_set_edge_emu(head, e, &err), &err);
    assert_ptr_equal(hr_deploy_part_edge_emu(head), e);

    int64_t in[4];
    hr_deploy_part_input_shape(head, in);
    size_t nin = (size_t)(in[1] * in[2] * in[3]), nc = hr_deploy_part_crossing_bytes(head);
    float *x = malloc(sizeof(float) * nin), *c1 = malloc(nc), *c2 = malloc(nc);
    hr_test_rng rng;
    hr_test_rng_seed(&rng, 3);
    hr_test_fill(&rng, x, (int64_t)nin, -1, 1);
    for (int t = 0; t < frames; t++) {
        HR_ASSERT_OK(hr_deploy_part_run_head(head, x, c1, &err), &err);
        HR_ASSERT_OK(hr_deploy_part_run_head(plain, x, c2, &err), &err);
        assert_memory_equal(c1, c2, nc); /* emulation changes the time, never the result */
    }
    /* stage 0 and blocks [0, 3) per frame, at the LUT's times */
    hr_edge_emu_stats_get(e, &s);
    check_stats(&s, frames * (split + 1), frames * (0.002 + 0.01 + 0.02 + 0.03));
    assert_int_equal(s.untimed, 0);
    hr_edge_emu_stats_reset(e);
    hr_edge_emu_stats_get(e, &s);
    assert_int_equal(s.units, 0);
    assert_true(s.target_ms == 0);

    /* the local placement: stage 0, every block and the classifier */
    hr_deploy_config lc;
    hr_deploy_config_init(&lc);
    HR_ASSERT_OK(hr_deploy_config_copy(&cfg, &lc, &err), &err);
    lc.split = HR_PLACEMENT_LOCAL;
    HR_ASSERT_OK(hr_deploy_part_create(f.ctx, &lc, HR_DEPLOY_WHOLE, NULL, 7, &whole, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_create(f.ctx, &lc, HR_DEPLOY_WHOLE, NULL, 7, &wplain, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_set_edge_emu(whole, e, &err), &err);
    int64_t k = hr_deploy_part_num_classes(whole);
    float *y1 = malloc(sizeof(float) * (size_t)k), *y2 = malloc(sizeof(float) * (size_t)k);
    HR_ASSERT_OK(hr_deploy_part_run_whole(whole, x, y1, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_run_whole(wplain, x, y2, &err), &err);
    assert_memory_equal(y1, y2, sizeof(float) * (size_t)k);
    double want = 0.002 + 0.003;
    for (int b = 0; b < f.n; b++)
        want += 0.01 * (b + 1);
    hr_edge_emu_stats_get(e, &s);
    check_stats(&s, f.n + 2, want);

    /* no stage times: those units run at this machine's speed */
    f.lut->has_stage_times = 0;
    hr_edge_emu_destroy(e);
    e = NULL;
    HR_ASSERT_OK(hr_edge_emu_create(f.lut, hr_deploy_part_model(whole), lc.gamma, &e, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_set_edge_emu(whole, e, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_run_whole(whole, x, y1, &err), &err);
    hr_edge_emu_stats_get(e, &s);
    check_stats(&s, f.n + 2, -1);
    assert_int_equal(s.untimed, 2);

    /* the flat form at factor 1 lands exactly on each unit's end: neither a
     * wait nor an overrun; at factor 2 the target is twice the host time */
    HR_ASSERT_OK(hr_edge_emu_create_flat(1, &flat, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_set_edge_emu(head, flat, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_run_head(head, x, c1, &err), &err);
    assert_memory_equal(c1, c2, nc);
    hr_edge_emu_stats_get(flat, &s);
    check_stats(&s, split + 1, -1);
    assert_int_equal(s.waits, 0);
    assert_int_equal(s.overruns, 0);
    assert_true(fabs(s.target_ms - s.host_ms) < 1e-9);
    hr_edge_emu_destroy(flat);
    HR_ASSERT_OK(hr_edge_emu_create_flat(2, &flat, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_set_edge_emu(head, flat, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_run_head(head, x, c1, &err), &err);
    hr_edge_emu_stats_get(flat, &s);
    check_stats(&s, split + 1, -1);
    assert_true(fabs(s.target_ms - 2 * s.host_ms) <= 1e-6 * (split + 1));
    /* off again: the plain path */
    HR_ASSERT_OK(hr_deploy_part_set_edge_emu(head, NULL, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_run_head(head, x, c1, &err), &err);
    hr_edge_emu_stats_get(flat, &s);
    assert_int_equal(s.units, split + 1);

    free(x), free(c1), free(c2), free(y1), free(y2);
    hr_edge_emu_destroy(flat);
    hr_edge_emu_destroy(e);
    hr_deploy_part_destroy(head);
    hr_deploy_part_destroy(plain);
    hr_deploy_part_destroy(tail);
    hr_deploy_part_destroy(whole);
    hr_deploy_part_destroy(wplain);
    hr_deploy_config_deinit(&cfg);
    hr_deploy_config_deinit(&lc);
    fixture_deinit(&f);
}

/* T_frame on the link thread: the wait is the emulated T_frame less what
 * this machine spends on the frame anyway (flat: (F - 1) x that), never
 * below 0; a deadline in the past is an overrun without a wait; a LUT
 * without T_frame is untimed. Only lower bounds on time are checked: a wait
 * never ends early. */
static void test_frame_emulated(void **state)
{
    (void)state;
    fixture f;
    hr_error err;
    hr_edge_emu *e = NULL, *flat = NULL;
    hr_edge_emu_stats s;
    int gamma[16];
    int64_t t0;

    assert_int_equal(hr_edge_emu_frame_wait_ns(2, 0, 0), 2000000);
    assert_int_equal(hr_edge_emu_frame_wait_ns(2, 13, 500000), 1500000); /* a T_frame wins over the factor */
    assert_int_equal(hr_edge_emu_frame_wait_ns(2, 0, 3000000), 0);
    assert_int_equal(hr_edge_emu_frame_wait_ns(2, 0, -5), 2000000);
    assert_int_equal(hr_edge_emu_frame_wait_ns(-1, 3, 1000000), 2000000);
    assert_int_equal(hr_edge_emu_frame_wait_ns(0, 1, 1000000), 0);
    assert_int_equal(hr_edge_emu_frame_wait_ns(-1, NAN, 1000000), 0);
    assert_int_equal(hr_edge_emu_frame_wait_ns(-1, 0.5, 1000000), 0);

    fixture_init(&f, -1, -1);
    for (int k = 0; k < f.n; k++)
        gamma[k] = 0;
    f.lut->has_frame_times = 1;
    f.lut->t_frame_ms[HR_DEVICE_CLIENT] = 2;
    HR_ASSERT_OK(hr_edge_emu_create(f.lut, f.m, gamma, &e, &err), &err);
    assert_true(hr_edge_emu_frame_ms(e) == 2);
    t0 = hr_clock_now_ns();
    hr_edge_emu_frame(e, t0, 0);
    assert_true(hr_clock_now_ns() - t0 >= 2000000);
    t0 = hr_clock_now_ns();
    hr_edge_emu_frame(e, t0, 500000);
    assert_true(hr_clock_now_ns() - t0 >= 1500000);
    hr_edge_emu_frame(e, t0 - 10000000, 0); /* began 10 ms ago: passed already */
    hr_edge_emu_stats_get(e, &s);
    assert_int_equal(s.frames, 3);
    assert_int_equal(s.frame_overruns, 1);
    assert_int_equal(s.frame_untimed, 0);
    /* the units' counters are the units' alone */
    assert_int_equal(s.units, 0);
    hr_edge_emu_stats_reset(e);
    hr_edge_emu_stats_get(e, &s);
    assert_int_equal(s.frames, 0);
    assert_int_equal(s.frame_overruns, 0);
    hr_edge_emu_destroy(e);
    e = NULL;

    /* no T_frame in the LUT: nothing to wait for */
    f.lut->has_frame_times = 0;
    HR_ASSERT_OK(hr_edge_emu_create(f.lut, f.m, gamma, &e, &err), &err);
    assert_true(hr_edge_emu_frame_ms(e) < 0);
    hr_edge_emu_frame(e, hr_clock_now_ns(), 0);
    hr_edge_emu_stats_get(e, &s);
    assert_int_equal(s.frames, 1);
    assert_int_equal(s.frame_untimed, 1);

    /* flat, factor 3: 1 ms of this machine's work per frame makes 2 ms more */
    HR_ASSERT_OK(hr_edge_emu_create_flat(3, &flat, &err), &err);
    assert_true(hr_edge_emu_frame_ms(flat) < 0);
    t0 = hr_clock_now_ns();
    hr_edge_emu_frame(flat, t0, 1000000);
    assert_true(hr_clock_now_ns() - t0 >= 2000000);
    hr_edge_emu_stats_get(flat, &s);
    assert_int_equal(s.frames, 1);
    assert_int_equal(s.frame_overruns, 0);
    hr_edge_emu_frame(NULL, t0, 0); /* no emulator: nothing */
    hr_edge_emu_destroy(flat);
    hr_edge_emu_destroy(e);
    fixture_deinit(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_arithmetic), cmocka_unit_test(test_sleep_target),
        cmocka_unit_test(test_lut_times),           cmocka_unit_test(test_create_checks),
        cmocka_unit_test(test_lut_request),         cmocka_unit_test(test_part_emulated),
        cmocka_unit_test(test_frame_emulated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
