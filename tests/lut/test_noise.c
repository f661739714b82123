/* LUT noise and per-frame costs (SPEC §13.1): quartiles and spread on
 * hand-made samples; the rule that picks entries to re-measure; the stolen
 * CPU share from hand-made accounting samples; spread, metadata.noise and
 * T_frame through save and load (per-device and merged); the original's
 * files and ours without them load as unknown / 0; malformed fields fail
 * naming file and field; T_frame's measurement returns a complete entry
 * (no timing is judged). */
// ctest-labels: numeric
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/lut.h"
#include "lut/lut_internal.h"
#include "lut_test_util.h"

#define ORIG HR_FIXTURES_DIR "/lut/original/"

static void test_quantiles_and_spread(void **state)
{
    (void)state;
    const double five[5] = {1, 2, 3, 4, 5}, four[4] = {1, 2, 3, 4}, outlier[5] = {10, 10, 10, 10, 50};
    const double two[2] = {2, 4}, zero[3] = {0, 0, 1};
    /* type 7: h = (n-1)q */
    assert_true(hr_lut_quantile(five, 5, 0.25) == 2);
    assert_true(hr_lut_quantile(five, 5, 0.5) == 3);
    assert_true(hr_lut_quantile(five, 5, 0.75) == 4);
    assert_true(hr_lut_quantile(five, 5, 0) == 1 && hr_lut_quantile(five, 5, 1) == 5);
    assert_true(hr_lut_quantile(four, 4, 0.25) == 1.75); /* h = 0.75 */
    assert_true(hr_lut_quantile(four, 4, 0.5) == 2.5);
    assert_true(hr_lut_quantile(four, 4, 0.75) == 3.25);
    assert_true(isnan(hr_lut_quantile(four, 4, 1.5)) && isnan(hr_lut_quantile(four, 0, 0.5)));
    assert_true(fabs(hr_lut_spread(five, 5) - 2.0 / 3.0) < 1e-15);
    assert_true(fabs(hr_lut_spread(four, 4) - 0.6) < 1e-15); /* (3.25 - 1.75) / 2.5 */
    assert_true(hr_lut_spread(outlier, 5) == 0);             /* one slow run does not count */
    assert_true(fabs(hr_lut_spread(two, 2) - 1.0 / 3.0) < 1e-15); /* (3.5 - 2.5) / 3 */
    assert_true(hr_lut_spread(five, 1) == 0);
    assert_true(hr_lut_spread(five, 0) == -1);
    assert_true(hr_lut_spread(zero, 3) == -1); /* median 0: unknown */

    /* the summary of an entry carries the spread of its runs, in any order */
    double runs[8] = {5, 1, 4, 2, 3, 8, 6, 7};
    hr_lut_entry e;
    hr__lut_summarise(runs, 8, &e);
    assert_true(e.valid && e.median_ms == 4.5 && e.min_ms == 1 && e.time_ms == 4.5);
    assert_true(fabs(e.spread - (6.25 - 2.75) / 4.5) < 1e-15);
}

static void test_select_noisy(void **state)
{
    (void)state;
    const double spread[8] = {0.05, 0.2, -1, 0.1, 0.11, 0, 3.0, 0.0999};
    int idx[8], n;
    n = hr__lut_select_noisy(spread, 8, 0.10, idx);
    assert_int_equal(n, 3); /* above, not at, the threshold; unknown never */
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 4);
    assert_int_equal(idx[2], 6);
    n = hr__lut_select_noisy(spread, 8, 0, idx);
    assert_int_equal(n, 6);
    n = hr__lut_select_noisy(spread, 8, 5, idx);
    assert_int_equal(n, 0);
    assert_true(fabs(hr__lut_median_spread(spread, 8) - 0.1) < 1e-15); /* 7 known: 0 .05 .0999 .1 .11 .2 3 */
    const double none[2] = {-1, -1};
    assert_true(hr__lut_median_spread(none, 2) == -1);
}

static void test_stolen_cpu(void **state)
{
    (void)state;
    hr__cpu_sample *a = calloc(2, sizeof *a), *b = a + 1;
    const char *method = NULL;
    assert_non_null(a);
    /* schedstat: thread 10 ran 300 ns and waited 100 ns in between; thread
     * 11 started in between (counts from 0); thread 9 ended (ignored). */
    a->have_schedstat = b->have_schedstat = 1;
    a->ntasks = 2;
    a->task[0] = (hr__task_stat){10, 100, 0};
    a->task[1] = (hr__task_stat){9, 50, 50};
    b->ntasks = 2;
    b->task[0] = (hr__task_stat){10, 400, 100};
    b->task[1] = (hr__task_stat){11, 100, 100};
    assert_true(fabs(hr__cpu_stolen_pct(a, b, 2, &method) - 100.0 * 200 / 600) < 1e-12);
    assert_string_equal(method, "schedstat");
    /* getrusage: 2 threads for 1000 ms offer 2000 ms; 1500 used: 25 % */
    a->have_schedstat = 0;
    a->have_rusage = b->have_rusage = 1;
    a->wall_ms = 5000;
    b->wall_ms = 6000;
    a->cpu_ms = 100;
    b->cpu_ms = 1600;
    assert_true(fabs(hr__cpu_stolen_pct(a, b, 2, &method) - 25) < 1e-12);
    assert_string_equal(method, "getrusage");
    b->cpu_ms = 3000; /* more than offered (clock granularity): none stolen */
    assert_true(hr__cpu_stolen_pct(a, b, 2, &method) == 0);
    a->have_rusage = 0;
    assert_true(hr__cpu_stolen_pct(a, b, 2, &method) == -1);
    assert_string_equal(method, "");
    /* a real sample of this process: schedstat on Linux, else getrusage */
    hr__cpu_sample_take(a);
    assert_true(a->have_rusage || a->have_schedstat);
    free(a);
}

/* A per-device LUT of repvgg-tiny with hand-set entries, noise and T_frame. */
static hr_device_lut *hand_lut(hr_device role, hr_ctx **ctx, hr_model **m)
{
    hr_ctx_params cp = hr_ctx_params_default();
    hr_device_lut *lut = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_ctx_create(&cp, ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(*ctx, "repvgg-tiny", NULL, m, &err), &err);
    HR_ASSERT_OK(hr_device_lut_create(*m, role, &lut, &err), &err);
    for (int i = 0; i < lut->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            hr_lut_entry *e = &lut->blocks[i].e[g];
            if (hr_gamma_get(g)->branches & ~lut->blocks[i].existing)
                continue;
            e->valid = 1;
            e->time_ms = 1 + i + 0.125 * g;
            e->median_ms = e->time_ms - 0.0625;
            e->std_ms = 0.25;
            e->min_ms = 0.5;
            e->spread = g == 3 ? -1 : 0.01 * (g + 1); /* one unknown */
        }
    lut->has_stage_times = 1;
    lut->stage0 = (hr_lut_entry){1, 0.5, 0.5, 0.01, 0.4, 0.02};
    lut->classifier = (hr_lut_entry){1, 0.1, 0.1, 0.01, 0.09, 0.03};
    lut->has_median = 1;
    lut->has_noise = 1;
    lut->noise.median_spread = 0.045;
    lut->noise.remeasured = 7;
    lut->noise.remeasure_spread = 0.1;
    lut->noise.remeasure_s = 1.5;
    lut->noise.stolen_cpu_pct = 12.5;
    snprintf(lut->noise.method, sizeof lut->noise.method, "schedstat");
    lut->noise.busy = 1;
    lut->has_frame_time = 1;
    lut->frame = (hr_lut_entry){1, role == HR_DEVICE_SERVER ? 0.03 : 0.05, role == HR_DEVICE_SERVER ? 0.02 : 0.04,
                                0.01, 0.015, 0.25};
    memcpy(lut->frame_shape, lut->blocks[3].out_shape, sizeof lut->frame_shape);
    snprintf(lut->frame_block, sizeof lut->frame_block, "%s", lut->blocks[3].name);
    return lut;
}

static void test_round_trip(void **state)
{
    (void)state;
    hr_ctx *ctx[2];
    hr_model *m[2];
    hr_device_lut *d[2], *back = NULL;
    hr_lut *merged = NULL, *mback = NULL;
    hr_error err = {0};
    const char *path = hr_test_tmp_path("noise_lut_client.json"), *mpath = hr_test_tmp_path("noise_merged.json");

    for (int r = 0; r < 2; r++)
        d[r] = hand_lut((hr_device)r, &ctx[r], &m[r]);
    HR_ASSERT_OK(hr_device_lut_save(path, d[1], &err), &err);
    HR_ASSERT_OK(hr_device_lut_load(path, &back, &err), &err);
    for (int i = 0; i < back->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            assert_true(back->blocks[i].e[g].spread == d[1]->blocks[i].e[g].spread);
    assert_true(back->stage0.spread == 0.02 && back->classifier.spread == 0.03);
    assert_true(back->has_noise);
    assert_true(back->noise.median_spread == 0.045 && back->noise.remeasured == 7);
    assert_true(back->noise.stolen_cpu_pct == 12.5 && back->noise.busy == 1);
    assert_true(back->noise.remeasure_spread == 0.1 && back->noise.remeasure_s == 1.5);
    assert_string_equal(back->noise.method, "schedstat");
    assert_true(back->has_frame_time);
    assert_true(back->frame.median_ms == 0.04 && back->frame.time_ms == 0.05 && back->frame.spread == 0.25);
    assert_memory_equal(back->frame_shape, d[1]->frame_shape, sizeof back->frame_shape);
    assert_string_equal(back->frame_block, d[1]->frame_block);
    /* emulation scales T_frame with every other time, and never the spread */
    HR_ASSERT_OK(hr_device_lut_emulate(back, "a slower core", 4, &err), &err);
    assert_true(back->frame.median_ms == 0.16 && back->frame.spread == 0.25);
    assert_true(back->blocks[0].e[0].spread == d[1]->blocks[0].e[0].spread);
    hr_device_lut_destroy(back);
    back = NULL;

    /* merged: T_frame {server, client} under the merge's statistic */
    HR_ASSERT_OK(hr_lut_merge(d[0], d[1], NULL, &merged, &err), &err);
    assert_true(merged->has_frame_times);
    assert_true(merged->t_frame_ms[HR_DEVICE_SERVER] == 0.02 && merged->t_frame_ms[HR_DEVICE_CLIENT] == 0.04);
    merged->link.per_message_ms = 0.125;
    HR_ASSERT_OK(hr_lut_save(mpath, merged, &err), &err);
    HR_ASSERT_OK(hr_lut_load(mpath, &mback, &err), &err);
    assert_true(mback->has_frame_times);
    assert_true(mback->t_frame_ms[HR_DEVICE_SERVER] == 0.02 && mback->t_frame_ms[HR_DEVICE_CLIENT] == 0.04);
    assert_true(mback->link.per_message_ms == 0.125);
    hr_lut_destroy(mback);
    hr_lut_destroy(merged);
    merged = NULL;
    /* a device without T_frame counts 0 in the merge, with a note */
    d[0]->has_frame_time = 0;
    HR_ASSERT_OK(hr_lut_merge(d[0], d[1], NULL, &merged, &err), &err);
    assert_true(merged->has_frame_times && merged->t_frame_ms[HR_DEVICE_SERVER] == 0);
    assert_non_null(strstr(merged->note, "T_frame"));
    hr_lut_destroy(merged);

    /* a non-finite spread is not written */
    d[1]->blocks[0].e[0].spread = NAN;
    assert_int_equal(hr_device_lut_save(path, d[1], &err), HR_ERR_INVALID_ARG);
    for (int r = 0; r < 2; r++) {
        hr_device_lut_destroy(d[r]);
        hr_model_destroy(m[r]);
        hr_ctx_destroy(ctx[r]);
    }
}

static void test_old_files(void **state)
{
    (void)state;
    hr_device_lut *s = NULL;
    hr_lut *lut = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_device_lut_load(ORIG "lut_server.json", &s, &err), &err);
    assert_false(s->has_noise);
    assert_false(s->has_frame_time);
    assert_true(s->noise.median_spread == -1 && s->noise.stolen_cpu_pct == -1);
    for (int i = 0; i < s->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            assert_true(s->blocks[i].e[g].spread == -1);
    hr_device_lut_destroy(s);
    HR_ASSERT_OK(hr_lut_load(ORIG "hardware_lut_complete.json", &lut, &err), &err);
    assert_false(lut->has_frame_times);
    assert_true(lut->t_frame_ms[0] == 0 && lut->t_frame_ms[1] == 0);
    assert_true(lut->link.per_message_ms == 0);
    hr_lut_destroy(lut);
    HR_ASSERT_OK(hr_lut_load(HR_FIXTURES_DIR "/lut/hardware_lut_tx2.json", &lut, &err), &err);
    assert_false(lut->has_frame_times);
    assert_true(lut->t_frame_ms[0] == 0 && lut->t_frame_ms[1] == 0);
    hr_lut_destroy(lut);
}

/* Writes text to a temporary file and expects the load to fail with
 * HR_ERR_FORMAT and a message holding `want`. */
static void expect_device_fail(const char *name, const char *text, const char *want)
{
    const char *path = hr_test_tmp_path(name);
    hr_device_lut *lut = NULL;
    hr_error err = {0};
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    fclose(f);
    assert_int_equal(hr_device_lut_load(path, &lut, &err), HR_ERR_FORMAT);
    assert_null(lut);
    if (!strstr(err.msg, want)) {
        print_error("message '%s' lacks '%s'\n", err.msg, want);
        fail();
    }
}

static void test_malformed(void **state)
{
    (void)state;
    hr_ctx *ctx;
    hr_model *m;
    hr_device_lut *d = hand_lut(HR_DEVICE_SERVER, &ctx, &m);
    hr_error err = {0};
    const char *path = hr_test_tmp_path("noise_good.json");
    char *text, *bad;
    HR_ASSERT_OK(hr_device_lut_save(path, d, &err), &err);
    text = lt_read_file(path, NULL);
    assert_non_null(text);

    bad = lt_replace(text, "\"busy\": true", "\"busy\": \"yes\"");
    assert_non_null(bad);
    expect_device_fail("noise_bad1.json", bad, "metadata.noise.busy: \"yes\" is not true or false");
    free(bad);
    bad = lt_replace(text, "\"stolen_cpu_pct\": 12.5", "\"stolen_cpu_pct\": 250");
    assert_non_null(bad);
    expect_device_fail("noise_bad2.json", bad, "metadata.noise.stolen_cpu_pct: 250 is over 100");
    free(bad);
    bad = lt_replace(text, "\"remeasured\": 7", "\"remeasured\": -2");
    assert_non_null(bad);
    expect_device_fail("noise_bad3.json", bad, "metadata.noise.remeasured: -2 is not a count");
    free(bad);
    bad = lt_replace(text, "\"spread\": 0.01,", "\"spread\": -0.5,");
    assert_non_null(bad);
    expect_device_fail("noise_bad4.json", bad, ".spread");
    free(bad);
    bad = lt_replace(text, "\"spread\": 0.25,\n    \"status\": \"ok\"", "\"spread\": 0.25,\n    \"status\": \"invalid\"");
    assert_non_null(bad);
    expect_device_fail("noise_bad5.json", bad, "T_frame");
    free(bad);
    free(text);
    hr_device_lut_destroy(d);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

static void test_frame_overhead(void **state)
{
    (void)state;
    const int64_t shape[4] = {1, 32, 7, 7}, bad[4] = {1, 0, 7, 7};
    hr_lut_entry e;
    hr_error err = {0};
    for (int r = 0; r < HR_DEVICE_COUNT; r++) {
        memset(&e, 0, sizeof e);
        HR_ASSERT_OK(hr_frame_overhead_measure((hr_device)r, shape, 10, 20, &e, &err), &err);
        assert_true(e.valid && e.median_ms > 0 && e.min_ms <= e.median_ms && e.spread >= 0 && e.std_ms >= 0);
    }
    assert_int_equal(hr_frame_overhead_measure(HR_DEVICE_SERVER, bad, 10, 20, &e, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "dim 1 = 0"));
    assert_int_equal(hr_frame_overhead_measure(HR_DEVICE_CLIENT, shape, 10, 0, &e, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_frame_overhead_measure(HR_DEVICE_COUNT, shape, 10, 5, &e, &err), HR_ERR_INVALID_ARG);
}

/* A real (tiny) measurement records the noise and T_frame; no budget
 * re-measures nothing, and the parameters are checked. Nothing about the
 * figures themselves is judged: they depend on the machine's load. */
static void test_measure_records_noise(void **state)
{
    (void)state;
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_model *m;
    hr_lut_measure_params p = hr_lut_measure_params_default();
    hr_device_lut *lut = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 3, &err), &err);
    assert_true(p.remeasure_spread == 0.10 && p.remeasure_budget_s < 0 && p.frame_repeat == 300);
    p.warmup = 1;
    p.repeat = 5;
    p.remeasure_budget_s = 0;
    p.frame_repeat = 10;
    HR_ASSERT_OK(hr_lut_measure(m, &p, &lut, &err), &err);
    assert_true(lut->has_noise && lut->noise.remeasured == 0);
    assert_true(lut->noise.median_spread >= 0);
    assert_true(lut->noise.method[0] != '\0' && lut->noise.stolen_cpu_pct >= 0 && lut->noise.stolen_cpu_pct <= 100);
    assert_int_equal(lut->noise.busy, lut->noise.stolen_cpu_pct > HR_LUT_BUSY_STOLEN_PCT ||
                                          lut->noise.median_spread > HR_LUT_BUSY_SPREAD);
    assert_true(lut->stage0.spread >= 0 && lut->blocks[0].e[0].spread >= 0);
    /* T_frame for the median crossing tensor: repvgg-tiny's 7 block outputs
     * sorted by size, the 4th */
    assert_true(lut->has_frame_time && lut->frame.valid && lut->frame.median_ms > 0);
    {
        int64_t sz[16], me = lut->frame_shape[1] * lut->frame_shape[2] * lut->frame_shape[3];
        int below = 0, above = 0, found = 0;
        for (int i = 0; i < lut->nblocks; i++) {
            const int64_t *o = lut->blocks[i].out_shape;
            sz[i] = o[1] * o[2] * o[3];
            below += sz[i] < me;
            above += sz[i] > me;
            found |= strcmp(lut->blocks[i].name, lut->frame_block) == 0 && sz[i] == me;
        }
        assert_true(found);
        assert_true(below <= (lut->nblocks - 1) / 2 && above <= lut->nblocks / 2);
    }
    hr_device_lut_destroy(lut);
    lut = NULL;
    /* an impossible threshold re-measures nothing, whatever the budget */
    p.remeasure_spread = 1e9;
    p.remeasure_budget_s = 5;
    p.frame_repeat = 0;
    HR_ASSERT_OK(hr_lut_measure(m, &p, &lut, &err), &err);
    assert_int_equal(lut->noise.remeasured, 0);
    assert_false(lut->has_frame_time);
    hr_device_lut_destroy(lut);
    lut = NULL;
    p.remeasure_spread = -0.1;
    assert_int_equal(hr_lut_measure(m, &p, &lut, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "remeasure spread"));
    p.remeasure_spread = 0.1;
    p.frame_repeat = -1;
    assert_int_equal(hr_lut_measure(m, &p, &lut, &err), HR_ERR_INVALID_ARG);
    assert_null(lut);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantiles_and_spread),
        cmocka_unit_test(test_select_noisy),
        cmocka_unit_test(test_stolen_cpu),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_old_files),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_frame_overhead),
        cmocka_unit_test(test_measure_records_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
