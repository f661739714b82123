/* Merged LUT, link and roofline files: the original tool's files load with
 * the documented interpretation, ours round-trip, and malformed input fails
 * with a message naming file:line:column or file, field and value, leaving
 * no output file behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "hr_test.h"
#include "hyperrep/lut.h"
#include "lut_test_util.h"

#define ORIG HR_FIXTURES_DIR "/lut/original/"
#define TX2 HR_FIXTURES_DIR "/lut/hardware_lut_tx2.json"

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* No leftover "x.tmp.<pid>" files in the test directory. */
static void assert_no_temporaries(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q '\\.tmp\\.'", hr_test_tmp_path(""));
    assert_int_not_equal(system(cmd), 0);
}

static void test_load_original_merged(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_lut_load(ORIG "hardware_lut_complete.json", &lut, &err), &err);
    assert_int_equal(lut->nblocks, 27);
    assert_string_equal(lut->model, "RepVGG-B3");
    assert_string_equal(lut->blocks[0].name, "stage1.0");
    assert_string_equal(lut->blocks[26].name, "stage4.0");
    /* Network order even though text order puts stage3.10 before stage3.2. */
    assert_string_equal(lut->blocks[12].name, "stage3.2");
    assert_true(lut->original_format);
    assert_int_equal(lut->stat, HR_LUT_STAT_MEAN);
    assert_true(lut->blocks[0].t_ms[HR_DEVICE_SERVER][0] == 0.1905);
    assert_true(lut->blocks[0].t_ms[HR_DEVICE_CLIENT][2] == -1);
    /* Derived from the model: input, classes, groups. */
    assert_int_equal(lut->input_shape[0], 3);
    assert_int_equal(lut->input_shape[1], 224);
    assert_int_equal(lut->num_classes, 1000);
    assert_int_equal(lut->blocks[5].groups, 1);
    /* Its merge's hard-coded 100 "mbps" was meant (and used) as Mbit/s. */
    assert_int_equal(lut->link.source, HR_BW_ORIGINAL_MBPS);
    assert_true(lut->link.bandwidth_mbit_s == 100 && lut->link.latency_ms == 1);
    assert_true(lut->i_knee[HR_DEVICE_SERVER] == 25.15 && lut->i_knee[HR_DEVICE_CLIENT] == 16.1);
    assert_false(lut->has_stage_times);
    assert_true(fabs(lut->blocks[0].comm_mb[0] - 2.408448) < 1e-12);
    assert_true(fabs(lut->blocks[0].intensity[0] - 123.42857142857143) < 1e-9);
    assert_true(lut->blocks[0].intensity_w[0] > 0 && lut->blocks[0].intensity_w[0] < lut->blocks[0].intensity[0]);
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        assert_int_equal(lut->n_stream[g], hr_gamma_get(g)->streams);
    assert_int_equal(hr_lut_find_block(lut, "stage3.10"), 20);
    assert_int_equal(hr_lut_find_block(lut, "stage9.9"), -1);
    hr_lut_destroy(lut);
}

static void test_tx2_fixture_and_round_trip(void **state)
{
    (void)state;
    hr_lut *a = NULL, *b = NULL;
    hr_error err = {0};
    const char *p = hr_test_tmp_path("rt.json");
    HR_ASSERT_OK(hr_lut_load(TX2, &a, &err), &err);
    assert_true(a->synthetic);
    assert_int_equal(a->stat, HR_LUT_STAT_MEAN);
    assert_string_equal(a->model, "repvgg-b3");
    /* The report's TX2 measurements, as printed. */
    assert_true(a->blocks[0].t_ms[HR_DEVICE_CLIENT][0] == 2.547);
    assert_true(a->blocks[1].t_ms[HR_DEVICE_CLIENT][13] == 4.542);
    assert_true(a->blocks[25].t_ms[HR_DEVICE_CLIENT][13] == 6.629);
    assert_true(a->blocks[26].t_ms[HR_DEVICE_SERVER][0] == 0.366);
    /* Every entry valid for the block's branches has a time, and only those. */
    for (int i = 0; i < a->nblocks; i++) {
        int has_id = a->blocks[i].in_shape[1] == a->blocks[i].out_shape[1] &&
                     a->blocks[i].in_shape[2] == a->blocks[i].out_shape[2];
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++) {
                int valid = has_id || !(hr_gamma_get(g)->branches & HR_BR_IDENTITY);
                assert_true(valid ? a->blocks[i].t_ms[d][g] > 0 : a->blocks[i].t_ms[d][g] == -1);
            }
    }
    a->link.per_message_ms = 0.25;
    a->has_stage_times = 1;
    a->t_stage0_ms[0] = 0.5;
    a->t_stage0_ms[1] = 3.5;
    a->t_classifier_ms[0] = 0.01;
    a->t_classifier_ms[1] = 0.2;
    HR_ASSERT_OK(hr_lut_save(p, a, &err), &err);
    HR_ASSERT_OK(hr_lut_load(p, &b, &err), &err);
    assert_int_equal(b->nblocks, a->nblocks);
    assert_false(b->original_format);
    assert_true(b->synthetic);
    for (int i = 0; i < a->nblocks; i++) {
        assert_string_equal(a->blocks[i].name, b->blocks[i].name);
        assert_memory_equal(a->blocks[i].in_shape, b->blocks[i].in_shape, sizeof a->blocks[i].in_shape);
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                assert_true(fabs(a->blocks[i].t_ms[d][g] - b->blocks[i].t_ms[d][g]) <=
                            1e-9 * fabs(a->blocks[i].t_ms[d][g]));
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            assert_true(fabs(a->blocks[i].intensity_w[g] - b->blocks[i].intensity_w[g]) <=
                        1e-9 * a->blocks[i].intensity_w[g]);
    }
    assert_true(b->has_stage_times && b->t_stage0_ms[1] == 3.5 && b->t_classifier_ms[0] == 0.01);
    assert_true(b->link.per_message_ms == 0.25 && b->link.bandwidth_mbit_s == 100);
    assert_int_equal(b->link.source, HR_BW_DEFAULT);
    assert_int_equal(b->input_shape[1], 224);
    assert_int_equal(b->num_classes, 1000);
    /* bandwidth_mbps in our files is MB/s, and says so. */
    {
        char *text = lt_read_file(p, NULL);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"bandwidth_mbps\": 12.5"));
        assert_non_null(strstr(text, "in MB/s"));
        free(text);
    }
    hr_lut_destroy(a);
    hr_lut_destroy(b);
    assert_no_temporaries();
}

/* Each case edits the original's merged LUT and must fail naming the
 * place; `want` is a substring of the message. */
static void expect_bad_lut2(const char *base, const char *from, const char *to, const char *from2, const char *to2,
                            const char *want)
{
    char *text = lt_read_file(base, NULL), *bad;
    const char *p = hr_test_tmp_path("bad.json");
    hr_lut *lut = NULL;
    hr_error err = {0};
    assert_non_null(text);
    bad = lt_replace(text, from, to);
    if (bad && from2) {
        char *again = lt_replace(bad, from2, to2);
        free(bad);
        bad = again;
    }
    if (!bad) {
        print_error("fixture lacks '%s'\n", from);
        fail();
    }
    hr_test_write_file(p, bad, strlen(bad));
    hr_status st = hr_lut_load(p, &lut, &err);
    if (st == HR_OK || !strstr(err.msg, want) || !strstr(err.msg, "bad.json")) {
        print_error("edit '%s' -> '%s': status %d, message '%s' (wanted '%s')\n", from, to, (int)st, err.msg, want);
        fail();
    }
    assert_null(lut);
    free(text);
    free(bad);
}

static void expect_bad_lut(const char *base, const char *from, const char *to, const char *want)
{
    expect_bad_lut2(base, from, to, NULL, NULL, want);
}

static void test_malformed_merged(void **state)
{
    (void)state;
    const char *o = ORIG "hardware_lut_complete.json";
    /* Syntax: file:line:column. */
    expect_bad_lut(o, "\"T_server\": {", "\"T_server\": {,", "bad.json:9:16: string or");
    expect_bad_lut(o, "0.1905,", "NaN,", "NaN and Infinity are not JSON numbers");
    expect_bad_lut(o, "\"stage1.0\": [\n      0.1905,", "\"stage1.0\": [\n      0.1905, 0.1905,", "bad.json:");
    expect_bad_lut(o, "\"stage1.1\": [", "\"stage1.0\": [", "duplicate object key");
    /* Content: field and value. */
    expect_bad_lut(o, "0.1905,", "-3.5,", "T_server.stage1.0[0]: time -3.5 ms is negative");
    /* a time no sum may overflow on (issue 15): above 1e6 ms is refused */
    expect_bad_lut(o, "0.1905,", "1e300,", "T_server.stage1.0[0]: time 1e300 ms is above the bound of 1e+06 ms");
    expect_bad_lut(o, "0.1905,", "\"fast\",", "T_server.stage1.0[0]: expected a time in ms");
    expect_bad_lut(o, "0.1905,\n      0.0333,", "0.1905,", "T_server.stage1.0: 13 entries, expected 14");
    expect_bad_lut(o, "\"stage4.0\": [", "\"stage5.0\": [", "T_client: block stage5.0 (present in T_server) is missing");
    expect_bad_lut2(o, "\"stage4.0\": [", "\"stage5.0\": [", "\"stage4.0\": [", "\"stage5.0\": [",
                    "unknown block 'stage5.0' for repvgg-b3");
    expect_bad_lut(o, "\"T_client\": {\n    \"stage1.0\"", "\"T_client\": {\n    \"stage1.x\"",
                   "T_client: block stage1.0 (present in T_server) is missing");
    expect_bad_lut(o, "\"T_client\": {\n", "\"T_client\": {\n    \"stage1.9\": [],\n",
                   "T_client: block 'stage1.9' is not in T_server");
    expect_bad_lut(o, "\"T_server\": {\n    \"stage1.0\"", "\"T_server\": {\n    \"bogus\"", "block name 'bogus'");
    expect_bad_lut(o, "\"model\": \"RepVGG-B3\"", "\"model\": \"RepVGG-B0\"", "does not match repvgg-b0");
    /* A time for γ 2 (SOLO_ID) on stage1.0, which has no identity branch. */
    expect_bad_lut(o, "0.0333,\n      -1.0,", "0.0333,\n      0.5,", "T_server.stage1.0[2]: 0.5 ms for SOLO_ID");
    expect_bad_lut(o, "\"I_knee_server\": 25.15", "\"I_knee_server\": -2", "roofline.I_knee_server: -2");
    expect_bad_lut(o, "\"bandwidth_mbps\": 100.0", "\"bandwidth_mbps\": 0", "bandwidth: 0 Mbit/s");
    expect_bad_lut(o, "\"N_stream\": [\n    1,", "\"N_stream\": [\n    2,", "N_stream[0]: 2, expected 1");
    expect_bad_lut(o, "\"block_shapes\": {\n    \"input\": {\n      \"stage1.0\": [\n        1,\n        64,",
                   "\"block_shapes\": {\n    \"input\": {\n      \"stage1.0\": [\n        1,\n        65,",
                   "block_shapes.*.stage1.0");
    expect_bad_lut(o, "\"T_server\"", "\"T_serverX\"", "T_server: missing");
    /* Not a JSON object at all, and an empty file. */
    {
        const char *p = hr_test_tmp_path("bad.json");
        hr_lut *lut = NULL;
        hr_error err = {0};
        hr_test_write_file(p, "[1, 2]", 6);
        assert_int_equal(hr_lut_load(p, &lut, &err), HR_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "not a JSON object"));
        hr_test_write_file(p, "", 0);
        assert_int_equal(hr_lut_load(p, &lut, &err), HR_ERR_FORMAT);
        assert_non_null(strstr(err.msg, "bad.json:"));
        assert_int_equal(hr_lut_load(hr_test_tmp_path("missing.json"), &lut, &err), HR_ERR_IO);
        assert_non_null(strstr(err.msg, "missing.json"));
        assert_null(lut);
    }
}

static void test_save_failures_leave_nothing(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_error err = {0};
    const char *p = hr_test_tmp_path("out.json");
    HR_ASSERT_OK(hr_lut_load(TX2, &lut, &err), &err);
    lut->blocks[3].t_ms[HR_DEVICE_CLIENT][4] = NAN;
    assert_int_equal(hr_lut_save(p, lut, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "T_client.stage1.3[4]"));
    assert_false(exists(p));
    lut->blocks[3].t_ms[HR_DEVICE_CLIENT][4] = -2;
    assert_int_equal(hr_lut_save(p, lut, &err), HR_ERR_INVALID_ARG);
    assert_false(exists(p));
    lut->blocks[3].t_ms[HR_DEVICE_CLIENT][4] = 1;
    assert_int_not_equal(hr_lut_save(hr_test_tmp_path("no/such/dir/out.json"), lut, &err), HR_OK);
    assert_int_not_equal(hr_lut_report_gamma_save(hr_test_tmp_path("no/such/dir/r.md"), lut, &err), HR_OK);
    assert_no_temporaries();
    hr_lut_destroy(lut);
}

static void test_create_defaults(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_error err = {0};
    assert_int_equal(hr_lut_create(0, &lut, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_lut_create(HR_LUT_MAX_BLOCKS + 1, &lut, &err), HR_ERR_INVALID_ARG);
    assert_null(lut);
    HR_ASSERT_OK(hr_lut_create(3, &lut, &err), &err);
    assert_true(lut->blocks[2].t_ms[HR_DEVICE_CLIENT][13] == -1);
    assert_true(lut->link.bandwidth_mbit_s == 100 && lut->link.latency_ms == 0);
    assert_true(lut->i_knee[HR_DEVICE_SERVER] == 25.15 && lut->i_knee[HR_DEVICE_CLIENT] == 16.1);
    assert_int_equal(lut->n_stream[9], 3);
    hr_lut_destroy(lut);
    hr_lut_destroy(NULL);
}

/* ---- link ---- */

static void test_link_model(void **state)
{
    (void)state;
    hr_link l = hr_link_default();
    l.bandwidth_mbit_s = 80;
    l.latency_ms = 2;
    l.per_message_ms = 0.5;
    /* 1e6 bytes = 8e6 bits at 80 Mbit/s = 100 ms. */
    assert_true(fabs(hr_link_time_ms(&l, 1e6) - 102) < 1e-12);
    assert_true(fabs(hr_link_occupancy_ms(&l, 1e6) - 100.5) < 1e-12);
    assert_true(hr_link_time_ms(&l, 0) == 2);
}

static void test_link_fit(void **state)
{
    (void)state;
    const double mb[6] = {0.1, 0.5, 1, 2, 5, 5};
    double ms[6];
    hr_link l;
    hr_error err = {0};
    for (int i = 0; i < 6; i++)
        ms[i] = 0.0823 * mb[i] + 1.37;
    HR_ASSERT_OK(hr_link_fit(mb, ms, 6, &l, &err), &err);
    assert_true(fabs(l.k_ms_per_mb - 0.0823) < 1e-12);
    assert_true(fabs(l.latency_ms - 1.37) < 1e-12);
    assert_true(fabs(l.bandwidth_mbit_s - 8000 / 0.0823) < 1e-6);
    assert_true(l.measured && l.source == HR_BW_FIT);
    assert_int_equal(hr_link_fit(mb, ms, 1, &l, &err), HR_ERR_INVALID_ARG);
    const double same[3] = {1, 1, 1};
    assert_int_equal(hr_link_fit(same, ms, 3, &l, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "same size"));
    const double down[3] = {3, 2, 1};
    assert_int_equal(hr_link_fit(mb, down, 3, &l, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "not positive"));
    const double bad[3] = {1, NAN, 3};
    assert_int_equal(hr_link_fit(mb, bad, 3, &l, &err), HR_ERR_INVALID_ARG);
}

/* A fake link: 40 Mbit/s with 3 ms round-trip overhead. */
static hr_status fake_transfer(void *user, size_t bytes, double *ms, hr_error *err)
{
    int *calls = user;
    (void)err;
    ++*calls;
    *ms = 3 + (double)bytes * 8 / (40 * 1000);
    return HR_OK;
}

static hr_status failing_transfer(void *user, size_t bytes, double *ms, hr_error *err)
{
    (void)user;
    (void)bytes;
    (void)ms;
    return hr_error_set(err, HR_ERR_IO, "peer hung up");
}

static void test_link_measure(void **state)
{
    (void)state;
    hr_link l;
    hr_error err = {0};
    int calls = 0;
    HR_ASSERT_OK(hr_link_measure(fake_transfer, &calls, NULL, 0, 5, &l, &err), &err);
    assert_int_equal(calls, 25); /* 0.1, 0.5, 1, 2, 5 MB x 5 */
    assert_true(fabs(l.bandwidth_mbit_s - 40) < 1e-6);
    assert_true(fabs(l.latency_ms - 3) < 1e-9);
    assert_int_equal(hr_link_measure(failing_transfer, NULL, NULL, 0, 5, &l, &err), HR_ERR_IO);
    assert_non_null(strstr(err.msg, "hung up"));
}

static void test_link_files(void **state)
{
    (void)state;
    hr_link l, m;
    hr_error err = {0};
    const char *p = hr_test_tmp_path("link.json");
    /* The original's comm model: k and b preferred; its bandwidth_mbps is MB/s. */
    HR_ASSERT_OK(hr_link_load(ORIG "lut_comm_model.json", &l, &err), &err);
    assert_true(l.k_ms_per_mb == 0.0823 && l.latency_ms == 1.37);
    assert_true(fabs(l.bandwidth_mbit_s - 8000 / 0.0823) < 1e-9);
    assert_int_equal(l.source, HR_BW_FIT);
    l.per_message_ms = 0.125;
    HR_ASSERT_OK(hr_link_save(p, &l, &err), &err);
    HR_ASSERT_OK(hr_link_load(p, &m, &err), &err);
    assert_true(fabs(m.bandwidth_mbit_s - l.bandwidth_mbit_s) < 1e-6 && m.latency_ms == 1.37);
    assert_true(m.per_message_ms == 0.125 && m.measured);
    /* Given in Mbit/s. */
    hr_test_write_file(p, "{\"bandwidth_mbit_s\": 250, \"latency_ms\": 0.5}", 44);
    HR_ASSERT_OK(hr_link_load(p, &m, &err), &err);
    assert_true(m.bandwidth_mbit_s == 250 && m.latency_ms == 0.5 && !m.measured && m.source == HR_BW_MBIT);
    /* Bad ones. */
    static const char *bad[][2] = {
        {"{\"bandwidth_mbps\": 12}", "ambiguous"},
        {"{\"k\": 0, \"b\": 1}", "k: slope 0 ms/MB must be positive"},
        {"{\"k\": 0.1}", "b: expected a number, got (missing)"},
        {"{\"bandwidth_mbit_s\": -5, \"latency_ms\": 1}", "bandwidth -5 Mbit/s"},
        {"{\"bandwidth_mbit_s\": 5, \"latency_ms\": -1}", "latency -1 ms"},
        {"{\"bandwidth_mbit_s\": 1e-300, \"latency_ms\": 1}", "bandwidth 1e-300 Mbit/s is not in 1e-06..inf"},
        {"{\"k\": 1e300, \"b\": 1}", "Mbit/s is not in 1e-06..inf"},
        {"{\"bandwidth_mbit_s\": 5, \"latency_ms\": 1e9}", "latency 1e+09 ms is not in 0..1e+06 ms"},
        {"{\"bandwidth_mbit_s\": 5, \"latency_ms\": \"x\"}", "latency_ms: expected a number, got \"x\""},
        {"{}", "no link model"},
        {"{\"k\": 0.1, \"b\": 1,}", "link.json:1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hr_test_write_file(p, bad[i][0], strlen(bad[i][0]));
        if (hr_link_load(p, &m, &err) == HR_OK || !strstr(err.msg, bad[i][1]) || !strstr(err.msg, "link.json")) {
            print_error("'%s': '%s' (wanted '%s')\n", bad[i][0], err.msg, bad[i][1]);
            fail();
        }
    }
    l.bandwidth_mbit_s = 0;
    assert_int_equal(hr_link_save(hr_test_tmp_path("link2.json"), &l, &err), HR_ERR_INVALID_ARG);
    assert_false(exists(hr_test_tmp_path("link2.json")));
    assert_string_not_equal(hr_bandwidth_source_text(HR_BW_ORIGINAL_MBPS), "");
}

/* ---- roofline ---- */

static void test_roofline(void **state)
{
    (void)state;
    hr_ctx_params cp = hr_ctx_params_default();
    hr_roofline_params rp = hr_roofline_params_default();
    hr_roofline r, s;
    hr_ctx *ctx;
    hr_error err = {0};
    const char *p = hr_test_tmp_path("roofline.json");
    cp.threads = 2;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    rp.gemm_n = 128;
    rp.copy_bytes = (size_t)2 << 20;
    rp.repeat = 2;
    HR_ASSERT_OK(hr_roofline_measure(ctx, &rp, &r, &err), &err);
    assert_true(r.peak_gflops > 0.1 && r.bandwidth_gbs > 0.01);
    assert_true(fabs(r.i_knee - r.peak_gflops / r.bandwidth_gbs) < 1e-9 * r.i_knee);
    assert_int_equal(r.threads, 2);
    assert_true(r.device[0] != '\0');
    HR_ASSERT_OK(hr_roofline_save(p, &r, &err), &err);
    HR_ASSERT_OK(hr_roofline_load(p, &s, &err), &err);
    assert_true(fabs(s.i_knee - r.i_knee) < 1e-6 * r.i_knee && s.threads == 2);
    assert_string_equal(s.device, r.device);
    rp.gemm_n = 8;
    assert_int_equal(hr_roofline_measure(ctx, &rp, &r, &err), HR_ERR_INVALID_ARG);
    hr_test_write_file(p, "{\"peak_gflops\": 10, \"bandwidth_gbs\": 0}", 39);
    assert_int_equal(hr_roofline_load(p, &s, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "bandwidth_gbs: 0 must be positive"));
    hr_test_write_file(p, "{\"peak_gflops\": 10, \"bandwidth_gbs\": 2}", 39);
    HR_ASSERT_OK(hr_roofline_load(p, &s, &err), &err);
    assert_true(s.i_knee == 5);
    hr_ctx_destroy(ctx);
}

/* ---- allocation failures inside jansson ---- */

static long g_alloc_budget = -1; /* < 0: unlimited */

static void *failing_malloc(size_t n)
{
    if (g_alloc_budget == 0)
        return NULL;
    if (g_alloc_budget > 0)
        g_alloc_budget--;
    return malloc(n);
}

/* Every JSON allocation that fails, at every point of loading and saving a
 * merged LUT, a per-device LUT and a link file, gives an error status (or
 * success when the failure came late enough not to matter) and leaks
 * nothing (AddressSanitizer's leak check runs at exit). */
static void test_json_allocation_failures(void **state)
{
    (void)state;
    hr_lut *lut = NULL, *tmp = NULL;
    hr_device_lut *dev = NULL;
    hr_link link;
    hr_error err = {0};
    int failures = 0, successes = 0;
    HR_ASSERT_OK(hr_lut_load(TX2, &lut, &err), &err);
    json_set_alloc_funcs(failing_malloc, free);
    for (long budget = 0;; budget += budget < 200 ? 1 : 97) {
        int ok = 1;
        hr_status st;
        g_alloc_budget = budget;
        st = hr_lut_save(hr_test_tmp_path("f.json"), lut, &err);
        ok &= st == HR_OK;
        failures += st != HR_OK;
        g_alloc_budget = budget;
        st = hr_lut_load(TX2, &tmp, &err);
        ok &= st == HR_OK;
        hr_lut_destroy(tmp);
        tmp = NULL;
        g_alloc_budget = budget;
        st = hr_device_lut_load(ORIG "lut_server.json", &dev, &err);
        ok &= st == HR_OK;
        if (st == HR_OK) {
            g_alloc_budget = budget;
            ok &= hr_device_lut_save(hr_test_tmp_path("d.json"), dev, &err) == HR_OK;
        }
        hr_device_lut_destroy(dev);
        dev = NULL;
        g_alloc_budget = budget;
        ok &= hr_link_load(ORIG "lut_comm_model.json", &link, &err) == HR_OK;
        g_alloc_budget = budget;
        ok &= hr_link_save(hr_test_tmp_path("l.json"), &link, &err) == HR_OK;
        if (ok && ++successes > 2)
            break;
    }
    g_alloc_budget = -1;
    json_set_alloc_funcs(malloc, free);
    assert_true(failures > 100);
    assert_no_temporaries();
    hr_lut_destroy(lut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_original_merged),
        cmocka_unit_test(test_tx2_fixture_and_round_trip),
        cmocka_unit_test(test_malformed_merged),
        cmocka_unit_test(test_save_failures_leave_nothing),
        cmocka_unit_test(test_create_defaults),
        cmocka_unit_test(test_link_model),
        cmocka_unit_test(test_link_fit),
        cmocka_unit_test(test_link_measure),
        cmocka_unit_test(test_link_files),
        cmocka_unit_test(test_roofline),
        cmocka_unit_test(test_json_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
