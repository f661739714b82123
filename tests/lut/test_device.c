/* Per-device LUTs: the original tool's files load and merge into exactly
 * its hardware_lut_complete.json; a measured LUT of repvgg-tiny has the
 * right validity pattern and statistics and leaves trained α untouched;
 * round trips; malformed files fail naming file, field and value. */
// ctest-labels: numeric
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "hr_test.h"
#include "hyperrep/lut.h"
#include "lut_test_util.h"

#define ORIG HR_FIXTURES_DIR "/lut/original/"

static void test_original_files_merge_like_the_original(void **state)
{
    (void)state;
    hr_device_lut *s = NULL, *c = NULL;
    hr_lut *mine = NULL, *theirs = NULL;
    hr_lut_merge_params mp = hr_lut_merge_params_default();
    hr_error err = {0};

    HR_ASSERT_OK(hr_device_lut_load(ORIG "lut_server.json", &s, &err), &err);
    HR_ASSERT_OK(hr_device_lut_load(ORIG "lut_client.json", &c, &err), &err);
    assert_int_equal(s->role, HR_DEVICE_SERVER);
    assert_int_equal(c->role, HR_DEVICE_CLIENT);
    assert_string_equal(s->model, "repvgg-b3");
    assert_string_equal(s->model_label, "RepVGG-B3");
    assert_string_equal(c->gpu_name, "NVIDIA Tegra X2");
    assert_true(s->original_format && !s->has_median && !s->has_stage_times);
    assert_int_equal(s->nblocks, 27);
    assert_string_equal(s->blocks[12].name, "stage3.2");
    assert_true(c->blocks[0].e[0].valid && c->blocks[0].e[0].time_ms == 1.5477 && c->blocks[0].e[0].std_ms == 0.0464);
    assert_false(c->blocks[0].e[2].valid);
    /* Without median_ms, a median merge falls back to the mean and says so. */
    assert_true(hr_lut_entry_time(&c->blocks[0].e[0], HR_LUT_STAT_MEDIAN) == 1.5477);

    mp.stat = HR_LUT_STAT_MEAN;
    HR_ASSERT_OK(hr_lut_merge(s, c, &mp, &mine, &err), &err);
    HR_ASSERT_OK(hr_lut_load(ORIG "hardware_lut_complete.json", &theirs, &err), &err);
    assert_int_equal(mine->nblocks, theirs->nblocks);
    for (int i = 0; i < mine->nblocks; i++) {
        const hr_lut_block *a = &mine->blocks[i], *b = &theirs->blocks[i];
        assert_string_equal(a->name, b->name);
        assert_memory_equal(a->in_shape, b->in_shape, sizeof a->in_shape);
        assert_memory_equal(a->out_shape, b->out_shape, sizeof a->out_shape);
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                assert_true(a->t_ms[d][g] == b->t_ms[d][g]);
        for (int n = 0; n < 3; n++)
            assert_true(fabs(a->comm_mb[n] - b->comm_mb[n]) <= 1e-12 * b->comm_mb[n]);
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            assert_true(fabs(a->intensity[g] - b->intensity[g]) <= 1e-12 * (b->intensity[g] + 1));
    }
    assert_memory_equal(mine->n_stream, theirs->n_stream, sizeof mine->n_stream);
    assert_string_equal(mine->device[HR_DEVICE_SERVER], "NVIDIA GeForce RTX 3090");
    assert_true(mine->link.bandwidth_mbit_s == 100 && mine->link.latency_ms == 1);
    assert_false(mine->has_stage_times);
    assert_non_null(strstr(mine->note, "T_stage0"));
    hr_lut_destroy(mine);
    mine = NULL;
    mp.stat = HR_LUT_STAT_MEDIAN;
    HR_ASSERT_OK(hr_lut_merge(s, c, &mp, &mine, &err), &err);
    assert_non_null(strstr(mine->note, "has no median_ms"));
    /* Roles swapped: named. */
    {
        hr_lut *none = NULL;
        assert_int_equal(hr_lut_merge(c, s, &mp, &none, &err), HR_ERR_INVALID_ARG);
        assert_non_null(strstr(err.msg, "lut_client.json: a client LUT (T_client) given as the server file"));
        assert_null(none);
    }
    hr_lut_destroy(mine);
    hr_lut_destroy(theirs);
    hr_device_lut_destroy(s);
    hr_device_lut_destroy(c);
}

static hr_model *tiny_model(hr_ctx **ctx, const char *arch, int threads)
{
    hr_ctx_params cp = hr_ctx_params_default();
    hr_model *m;
    hr_error err = {0};
    cp.threads = threads;
    HR_ASSERT_OK(hr_ctx_create(&cp, ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(*ctx, arch, NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 3, &err), &err);
    return m;
}

typedef struct counter {
    int calls, last_done, last_total, finals;
} counter;

static void count_progress(void *user, const hr_lut_progress *p)
{
    counter *c = user;
    assert_true(p->done == c->last_done + 1);
    c->calls++;
    c->last_done = p->done;
    c->last_total = p->total;
    c->finals += p->entry != NULL;
}

static void test_measure_tiny(void **state)
{
    (void)state;
    hr_ctx *ctx;
    hr_model *m = tiny_model(&ctx, "repvgg-tiny", 1);
    hr_lut_measure_params p = hr_lut_measure_params_default();
    hr_device_lut *lut = NULL, *back = NULL;
    hr_error err = {0};
    counter cnt = {0};
    float x[3 * 48 * 48], y0[10], y1[10];
    hr_test_rng rng;
    hr_tensor tx = hr_tensor_4d(x, 1, 3, 48, 48), ty0 = hr_tensor_view(y0, 2, (int64_t[]){1, 10}),
              ty1 = hr_tensor_view(y1, 2, (int64_t[]){1, 10});

    /* A trained α that measurement (α = 1 overrides) must not touch. */
    HR_ASSERT_OK(hr_model_set_alpha(m, 1, HR_BRANCH_1X1, 0.37f, &err), &err);
    HR_ASSERT_OK(hr_model_set_alpha(m, 3, HR_BRANCH_1X1, 0.0f, &err), &err);
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    hr_test_rng_seed(&rng, 5);
    hr_test_fill(&rng, x, 3 * 48 * 48, -1, 1);
    HR_ASSERT_OK(hr_model_forward(m, &tx, &ty0, &err), &err);

    p.role = HR_DEVICE_CLIENT;
    p.warmup = 2;
    p.repeat = 7;
    p.passes = 2;
    p.progress = count_progress;
    p.progress_user = &cnt;
    HR_ASSERT_OK(hr_lut_measure(m, &p, &lut, &err), &err);
    /* repvgg-tiny: 4 blocks without identity (γ 0,1,3,4), 3 with (14 γ). */
    assert_int_equal(cnt.last_total, (4 * 4 + 3 * 14 + 2) * 2);
    assert_int_equal(cnt.calls, cnt.last_total);
    assert_int_equal(cnt.finals, 4 * 4 + 3 * 14 + 2);
    assert_int_equal(lut->threads, 1);
    assert_int_equal(lut->repeat, 7);
    assert_true(lut->gpu_name[0] != '\0');
    assert_true(lut->has_stage_times && lut->has_median);
    for (int i = 0; i < lut->nblocks; i++) {
        hr_block_info bi = hr_model_block(m, i);
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            const hr_lut_entry *e = &lut->blocks[i].e[g];
            int valid = (hr_gamma_get(g)->branches & ~bi.existing) == 0;
            assert_int_equal(e->valid, valid);
            if (valid) {
                assert_true(e->time_ms > 0 && e->min_ms > 0 && e->min_ms <= e->median_ms);
                assert_true(e->min_ms <= e->time_ms && e->std_ms >= 0);
            } else {
                assert_true(e->time_ms == -1);
            }
        }
    }
    assert_true(lut->stage0.valid && lut->stage0.median_ms > 0 && lut->classifier.median_ms > 0);
    /* Trained α untouched, and the model is back at its deploy γ with them. */
    assert_true(hr_model_block(m, 1).alpha[HR_BRANCH_1X1] == 0.37f);
    assert_true(hr_model_block(m, 3).alpha[HR_BRANCH_1X1] == 0.0f);
    assert_int_equal(hr_model_block(m, 3).gamma, HR_GAMMA_FUSED_3_I);
    HR_ASSERT_OK(hr_model_forward(m, &tx, &ty1, &err), &err);
    HR_ASSERT_CLOSE(&ty1, &ty0, 1e-6, "forward after measurement");

    /* Round trip. */
    const char *path = hr_test_tmp_path("lut_client.json");
    HR_ASSERT_OK(hr_device_lut_save(path, lut, &err), &err);
    HR_ASSERT_OK(hr_device_lut_load(path, &back, &err), &err);
    assert_false(back->original_format);
    assert_int_equal(back->role, HR_DEVICE_CLIENT);
    assert_int_equal(back->passes, 2);
    assert_true(back->has_stage_times && back->has_median);
    for (int i = 0; i < lut->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            const hr_lut_entry *a = &lut->blocks[i].e[g], *b = &back->blocks[i].e[g];
            assert_int_equal(a->valid, b->valid);
            assert_true(fabs(a->median_ms - b->median_ms) <= 1e-9 * fabs(a->median_ms));
            assert_true(fabs(a->std_ms - b->std_ms) <= 1e-9 * fabs(a->std_ms) + 1e-15);
        }
    assert_true(fabs(back->classifier.time_ms - lut->classifier.time_ms) <= 1e-9 * lut->classifier.time_ms);
    hr_device_lut_destroy(back);
    hr_device_lut_destroy(lut);

    /* Parameters are checked. */
    p.progress = NULL;
    p.passes = 8;
    assert_int_equal(hr_lut_measure(m, &p, &lut, &err), HR_ERR_INVALID_ARG);
    p.passes = 1;
    p.repeat = 0;
    assert_int_equal(hr_lut_measure(m, &p, &lut, &err), HR_ERR_INVALID_ARG);
    p.repeat = 4;
    p.span_s = -1;
    assert_int_equal(hr_lut_measure(m, &p, &lut, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "span"));
    /* the passes spread over the span: 2 passes over 0.3 s start 0.15 s apart */
    p.span_s = 0.3;
    p.passes = 2;
    p.warmup = 0;
    p.remeasure_budget_s = 0;
    p.frame_repeat = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    HR_ASSERT_OK(hr_lut_measure(m, &p, &lut, &err), &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) >= 0.15);
    hr_device_lut_destroy(lut);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* The merged statistic: median, mean or min of each entry; names parse back. */
static void test_entry_statistics(void **state)
{
    (void)state;
    hr_lut_entry e = {1, 2.0, 1.5, 0.3, 1.2, 0.1};
    assert_true(hr_lut_entry_time(&e, HR_LUT_STAT_MEDIAN) == 1.5);
    assert_true(hr_lut_entry_time(&e, HR_LUT_STAT_MEAN) == 2.0);
    assert_true(hr_lut_entry_time(&e, HR_LUT_STAT_MIN) == 1.2);
    e.min_ms = -1; /* the original's files lack it: the mean */
    assert_true(hr_lut_entry_time(&e, HR_LUT_STAT_MIN) == 2.0);
    e.valid = 0;
    assert_true(hr_lut_entry_time(&e, HR_LUT_STAT_MIN) == -1);
    for (int i = 0; i < HR_LUT_STAT_COUNT; i++)
        assert_int_equal(hr_lut_stat_parse(hr_lut_stat_name((hr_lut_stat)i)), i);
    assert_string_equal(hr_lut_stat_name(HR_LUT_STAT_MIN), "min");
    assert_int_equal(hr_lut_stat_parse("p10"), -1);
    assert_int_equal(hr_lut_stat_parse(NULL), -1);
}

/* Measures a tiny model on 2 threads for both roles and merges: medians by
 * default, stage times carried, model metadata consistent; a grouped model
 * keeps its groups. */
static void test_measure_merge_grouped(void **state)
{
    (void)state;
    hr_ctx *ctx;
    hr_model *m = tiny_model(&ctx, "repvgg-tiny-g2", 2);
    hr_lut_measure_params p = hr_lut_measure_params_default();
    hr_device_lut *d[2] = {NULL, NULL};
    hr_lut *lut = NULL, *back = NULL;
    hr_error err = {0};
    p.warmup = 1;
    p.repeat = 3;
    for (int r = 0; r < 2; r++) {
        p.role = (hr_device)r;
        HR_ASSERT_OK(hr_lut_measure(m, &p, &d[r], &err), &err);
    }
    assert_int_equal(d[0]->threads, 2);
    assert_int_equal(d[0]->blocks[1].groups, 2);
    HR_ASSERT_OK(hr_lut_merge(d[0], d[1], NULL, &lut, &err), &err);
    assert_int_equal(lut->stat, HR_LUT_STAT_MEDIAN);
    assert_true(lut->has_stage_times);
    assert_true(lut->t_stage0_ms[HR_DEVICE_CLIENT] == d[1]->stage0.median_ms);
    assert_true(lut->blocks[2].t_ms[HR_DEVICE_SERVER][4] == d[0]->blocks[2].e[4].median_ms);
    assert_int_equal(lut->blocks[1].groups, 2);
    assert_int_equal(lut->threads[HR_DEVICE_CLIENT], 2);
    assert_int_equal(lut->input_shape[1], 48);
    assert_int_equal(lut->num_classes, 10);
    const char *path = hr_test_tmp_path("merged.json");
    HR_ASSERT_OK(hr_lut_save(path, lut, &err), &err);
    HR_ASSERT_OK(hr_lut_load(path, &back, &err), &err);
    assert_int_equal(back->blocks[1].groups, 2);
    assert_true(fabs(back->blocks[1].intensity_w[9] - lut->blocks[1].intensity_w[9]) < 1e-6 * lut->blocks[1].intensity_w[9]);
    assert_true(back->has_stage_times && back->threads[HR_DEVICE_SERVER] == 2);
    assert_string_equal(back->model, "repvgg-tiny-g2");
    /* Different models: both files named. */
    {
        hr_device_lut *other = NULL;
        hr_ctx *c2;
        hr_model *m2 = tiny_model(&c2, "repvgg-tiny", 1);
        p.role = HR_DEVICE_CLIENT;
        HR_ASSERT_OK(hr_lut_measure(m2, &p, &other, &err), &err);
        snprintf(other->source, sizeof other->source, "c.json");
        snprintf(d[0]->source, sizeof d[0]->source, "s.json");
        hr_lut *bad = NULL;
        assert_int_equal(hr_lut_merge(d[0], other, NULL, &bad, &err), HR_ERR_INVALID_ARG);
        assert_non_null(strstr(err.msg, "s.json and c.json are for different models"));
        assert_null(bad);
        hr_device_lut_destroy(other);
        hr_model_destroy(m2);
        hr_ctx_destroy(c2);
    }
    hr_lut_destroy(back);
    hr_lut_destroy(lut);
    hr_device_lut_destroy(d[0]);
    hr_device_lut_destroy(d[1]);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* In-forward measurement: each entry timed inside a whole forward; same
 * validity and statistics, trained α untouched, the model left at its
 * deploy γ, and the context recorded in the file. */
static void test_measure_in_forward(void **state)
{
    (void)state;
    hr_ctx *ctx;
    hr_model *m = tiny_model(&ctx, "repvgg-tiny", 2);
    hr_lut_measure_params p = hr_lut_measure_params_default();
    hr_device_lut *lut = NULL, *back = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_model_set_alpha(m, 3, HR_BRANCH_1X1, 0.0f, &err), &err);
    p.in_forward = 1;
    p.warmup = 1;
    p.repeat = 4;
    p.passes = 2;
    HR_ASSERT_OK(hr_lut_measure(m, &p, &lut, &err), &err);
    assert_true(lut->in_forward);
    for (int i = 0; i < lut->nblocks; i++) {
        hr_block_info bi = hr_model_block(m, i);
        assert_int_equal(bi.gamma, hr_gamma_deploy(bi.live));
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            const hr_lut_entry *e = &lut->blocks[i].e[g];
            assert_int_equal(e->valid, (hr_gamma_get(g)->branches & ~bi.existing) == 0);
            assert_true(!e->valid || (e->median_ms > 0 && e->min_ms <= e->median_ms));
        }
    }
    assert_true(hr_model_block(m, 3).alpha[HR_BRANCH_1X1] == 0.0f);
    assert_true(lut->stage0.median_ms > 0 && lut->classifier.median_ms > 0);
    const char *path = hr_test_tmp_path("in_forward.json");
    HR_ASSERT_OK(hr_device_lut_save(path, lut, &err), &err);
    HR_ASSERT_OK(hr_device_lut_load(path, &back, &err), &err);
    assert_true(back->in_forward);
    hr_device_lut_destroy(back);
    hr_device_lut_destroy(lut);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

static void expect_bad(const char *base, const char *from, const char *to, const char *want)
{
    char *text = lt_read_file(base, NULL), *bad;
    const char *p = hr_test_tmp_path("bad_client.json");
    hr_device_lut *lut = NULL;
    hr_error err = {0};
    assert_non_null(text);
    bad = lt_replace(text, from, to);
    if (!bad) {
        print_error("fixture lacks '%s'\n", from);
        fail();
    }
    hr_test_write_file(p, bad, strlen(bad));
    hr_status st = hr_device_lut_load(p, &lut, &err);
    if (st == HR_OK || !strstr(err.msg, want) || !strstr(err.msg, "bad_client.json")) {
        print_error("edit '%s' -> '%s': status %d, message '%s' (wanted '%s')\n", from, to, (int)st, err.msg, want);
        fail();
    }
    assert_null(lut);
    free(text);
    free(bad);
}

static void test_malformed_device(void **state)
{
    (void)state;
    const char *o = ORIG "lut_client.json";
    expect_bad(o, "\"time_ms\": 1.5477,", "\"time_ms\": 1.5477", "bad_client.json:13:16: '}' expected");
    expect_bad(o, "\"time_ms\": 1.5477,", "\"time_ms\": NaN,", "NaN and Infinity are not JSON numbers");
    expect_bad(o, "\"time_ms\": 1.5477,", "\"time_ms\": -0.5,", "T_client.stage1.0.0.time_ms: time -0.5 ms is negative");
    expect_bad(o, "\"time_ms\": 1.5477,", "\"time_ms\": null,", "T_client.stage1.0.0.time_ms: expected a time");
    expect_bad(o, "\"time_ms\": 1.5477,", "\"time_ms\": -1,", "status \"ok\" with time -1");
    expect_bad(o, "\"std_ms\": 0.0464,", "\"std_ms\": -7,", "T_client.stage1.0.0.std_ms: time -7 ms is negative");
    expect_bad(o, "\"time_ms\": 1.5477,", "\"time_ms\": 2e6,", "T_client.stage1.0.0.time_ms: time 2000000.0 ms is above the bound");
    expect_bad(o, "\"gamma_name\": \"SOLO_K3\"", "\"gamma_name\": \"SOLO_K1\"", "gamma_name: \"SOLO_K1\", expected \"SOLO_K3\"");
    expect_bad(o, "\"status\": \"ok\"", "\"status\": 3", "T_client.stage1.0.0.status: 3 is not a string");
    /* stage1.0 has no identity: γ 2 cannot have a time. */
    expect_bad(o, "\"time_ms\": null,\n        \"std_ms\": null,\n        \"status\": \"invalid\"",
               "\"time_ms\": 0.2,\n        \"std_ms\": 0.01,\n        \"status\": \"ok\"",
               "T_client.stage1.0.2: status \"ok\" for SOLO_ID, but the block has only dense+1x1");
    expect_bad(o, "\"time_ms\": null,\n        \"std_ms\": null,\n        \"status\": \"invalid\"",
               "\"time_ms\": 0.2,\n        \"std_ms\": null,\n        \"status\": \"invalid\"",
               "status \"invalid\" with time_ms 0.2");
    /* Wrong number of entries; a missing "13"; an unknown block; a missing block. */
    expect_bad(o, "      \"0\": {\n        \"gamma_name\": \"SOLO_K3\",\n        \"time_ms\": 1.5477,\n"
                  "        \"std_ms\": 0.0464,\n        \"status\": \"ok\"\n      },\n",
               "", "T_client.stage1.0: 13 entries, expected 14");
    expect_bad(o, "\"13\": {", "\"14\": {", "T_client.stage1.0: entry \"13\" is missing");
    expect_bad(o, "\"stage1.1\": {", "\"stage9.1\": {", "T_client: unknown block 'stage9.1' for repvgg-b3");
    expect_bad(o, "\"stage1.1\": {", "\"stage1.0x\": {", "unknown block 'stage1.0x'");
    /* Metadata: model, role. */
    expect_bad(o, "\"model\": \"RepVGG-B3\"", "\"model\": \"ResNet-50\"", "metadata.model: unknown model \"ResNet-50\"");
    expect_bad(o, "\"device\": \"client\"", "\"device\": \"server\"", "metadata.device: \"server\", but the file holds T_client");
    expect_bad(o, "\"T_client\"", "\"T_clientX\"", "neither T_server nor T_client");
    expect_bad(o, "\"metadata\": {", "\"metadata\": {\"input_shape\": [3, 224],", "metadata.input_shape: expected an array of 3");
    expect_bad(o, "\"metadata\": {", "\"metadata\": {\"num_classes\": 0,", "metadata.num_classes: 0");
    expect_bad(o, "\"metadata\": {", "\"metadata\": {\"context\": \"cold\",",
               "metadata.context: \"cold\" is not \"isolated\" or \"forward\"");
    expect_bad(o, "\"T_client\": {", "\"model_info\": {\"block_input_shapes\": {\"stage1.0\": [1, 64, 56, 56]}}, "
                                     "\"T_client\": {",
               "model_info.block_input_shapes.stage1.0: [1, 64, 56, 56], but repvgg-b3 at 3x224x224 has [1, 64, 112, 112]");
}

/* A 256x256 file (ours) and a 224x224 one for the same model do not merge;
 * a server file whose model_info disagrees with its input_shape does not
 * even load. */
static void test_merge_input_size_mismatch(void **state)
{
    (void)state;
    char *text = lt_read_file(ORIG "lut_client.json", NULL), *t2, *st = lt_read_file(ORIG "lut_server.json", NULL), *s2;
    const char *p = hr_test_tmp_path("c256.json");
    hr_device_lut *s = NULL, *c = NULL;
    hr_lut *lut = NULL;
    hr_error err = {0};
    assert_non_null(text);
    assert_non_null(st);
    t2 = lt_replace(text, "\"metadata\": {", "\"metadata\": {\"input_shape\": [3, 256, 256],");
    hr_test_write_file(p, t2, strlen(t2));
    HR_ASSERT_OK(hr_device_lut_load(p, &c, &err), &err);
    assert_int_equal(c->blocks[0].in_shape[2], 128);
    HR_ASSERT_OK(hr_device_lut_load(ORIG "lut_server.json", &s, &err), &err);
    assert_int_equal(hr_lut_merge(s, c, NULL, &lut, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "lut_server.json and "));
    assert_non_null(strstr(err.msg, "c256.json were measured at different input sizes"));
    assert_non_null(strstr(err.msg, "[3, 224, 224] vs [3, 256, 256]"));
    assert_null(lut);
    hr_device_lut_destroy(s);
    s = NULL;
    s2 = lt_replace(st, "\"metadata\": {", "\"metadata\": {\"input_shape\": [3, 256, 256],");
    hr_test_write_file(hr_test_tmp_path("s256.json"), s2, strlen(s2));
    assert_int_equal(hr_device_lut_load(hr_test_tmp_path("s256.json"), &s, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "s256.json: model_info.block_input_shapes.stage1.0: [1, 64, 112, 112], but "
                                    "repvgg-b3 at 3x256x256 has [1, 64, 128, 128]"));
    assert_null(s);
    hr_device_lut_destroy(c);
    free(text);
    free(t2);
    free(st);
    free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_statistics),
        cmocka_unit_test(test_original_files_merge_like_the_original),
        cmocka_unit_test(test_measure_tiny),
        cmocka_unit_test(test_measure_merge_grouped),
        cmocka_unit_test(test_measure_in_forward),
        cmocka_unit_test(test_malformed_device),
        cmocka_unit_test(test_merge_input_size_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
