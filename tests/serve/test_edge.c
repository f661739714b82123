/* The edge runtime (edge.h) in one process, no network: a split, raw and
 * local deployment of repvgg-tiny with random weights and random frames,
 * sequential and pipelined passes whose classes equal the whole model's
 * argmax on the same frames (through hr_edge_verify and through a whole
 * part built here), the notes the edge logs, the frames and distributions,
 * and the errors of calls out of order or with bad arguments. Nothing
 * asserted depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/data.h"
#include "hyperrep/edge.h"

#define SEED 11

static char notes[4096];

static void capture(void *user, hr_log_level level, const char *line)
{
    (void)user;
    assert_int_equal(level, HR_LOG_INFO);
    snprintf(notes + strlen(notes), sizeof notes - strlen(notes), "%s\n", line);
}

static void parse(const char *json, hr_deploy_config *cfg)
{
    hr_error err = {0};
    hr_deploy_config_init(cfg);
    HR_ASSERT_OK(hr_deploy_config_parse(json, "test", cfg, &err), &err);
}

/* An in-process edge of configuration `json`, prepared on `nframes`
 * random frames and deployed. */
static hr_edge *edge_up(const char *json, int64_t nframes)
{
    hr_edge_params ep = hr_edge_params_default();
    hr_edge_prepare_params pp = hr_edge_prepare_params_default();
    hr_deploy_config cfg;
    hr_edge *e = NULL;
    hr_error err = {0};
    ep.seed = SEED;
    ep.log = capture;
    ep.log_level = HR_LOG_INFO;
    notes[0] = '\0';
    parse(json, &cfg);
    pp.data = "random";
    pp.frames = nframes;
    HR_ASSERT_OK(hr_edge_create(&ep, &e, &err), &err);
    HR_ASSERT_OK(hr_edge_prepare(e, &cfg, &pp, &err), &err);
    HR_ASSERT_OK(hr_edge_deploy(e, &err), &err);
    hr_deploy_config_deinit(&cfg);
    return e;
}

static int argmax(const float *v, int64_t n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

/* The whole model built here from the edge's resolved configuration (the
 * same random weights: same seed) classifies each kept frame as the tail did. */
static void check_against_whole(hr_edge *e, const int *classes, int64_t n)
{
    hr_ctx *ctx = NULL;
    hr_deploy_part *whole = NULL;
    hr_error err = {0};
    const hr_edge_frames *fr = hr_edge_input_frames(e);
    const hr_deploy_config *cfg = hr_edge_config(e);
    hr_ctx_params cp = hr_ctx_params_default();
    float logits[64];
    cp.seed = SEED;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_create(ctx, cfg, HR_DEPLOY_WHOLE, NULL, SEED, &whole, &err), &err);
    assert_true(hr_deploy_part_num_classes(whole) <= 64);
    for (int64_t k = 0; k < n; k++) {
        HR_ASSERT_OK(hr_deploy_part_run_whole(whole, hr_edge_frames_at(fr, k), logits, &err), &err);
        assert_int_equal(argmax(logits, hr_deploy_part_num_classes(whole)), classes[k]);
    }
    hr_deploy_part_destroy(whole);
    hr_ctx_destroy(ctx);
}

/* A sequential and a pipelined pass of a split with γ and a pruned branch. */
static void test_split_passes(void **state)
{
    (void)state;
    hr_edge *e = edge_up("{\"arch\": \"repvgg-tiny\", \"split\": 3, \"gamma\": {\"stage1.1\": 9, \"stage2.1\": 5}, "
                         "\"pruned\": [\"stage2.1.hyper_1x1\"]}",
                         6);
    hr_error err = {0};
    const hr_deploy_config *cfg = hr_edge_config(e);
    const hr_deploy_part *head = hr_edge_part(e);
    int64_t classes = hr_deploy_part_num_classes(head);
    int kept[12];
    float *logits = malloc(sizeof(float) * (size_t)(12 * classes));
    hr_edge_stats st;
    hr_edge_verification v;
    assert_non_null(logits);

    /* resolved: every γ explicit, the head is the head */
    assert_int_equal(cfg->split, 3);
    for (int k = 0; k < cfg->nblocks; k++)
        assert_true(cfg->gamma[k] >= 0);
    assert_int_equal(hr_deploy_part_role(head), HR_DEPLOY_HEAD);
    assert_int_equal(hr_edge_input_frames(e)->count, 6);
    assert_null(hr_edge_peer(e));
    assert_null(hr_edge_ack(e));
    assert_string_equal(notes, "");

    for (int window = 1; window <= 3; window += 2) {
        hr_edge_run_params rp = hr_edge_run_params_default();
        rp.window = window;
        rp.warmup = 2;
        rp.frames = window == 1 ? 5 : 9; /* more frames than held: they cycle */
        rp.keep = 10;
        rp.classes = kept;
        rp.logits = logits;
        memset(kept, 0xff, sizeof kept);
        HR_ASSERT_OK(hr_edge_run(e, &rp, &st, &err), &err);
        assert_int_equal(st.frames, rp.frames);
        assert_int_equal(st.e2e.n, rp.frames);
        assert_int_equal(st.head.n, rp.frames);
        assert_int_equal(st.tail.n, rp.frames);
        assert_int_equal(st.link.n, rp.frames);
        assert_true(st.fps > 0);
        assert_true(st.wall_ms > 0);
        assert_true(st.e2e.p50 <= st.e2e.p95 && st.e2e.p95 <= st.e2e.p99 && st.e2e.p99 <= st.e2e.max);
        assert_int_equal(st.labelled, 0); /* random frames carry no labels */
        int64_t n = rp.warmup + rp.frames < rp.keep ? rp.warmup + rp.frames : rp.keep;
        for (int64_t k = 0; k < n; k++)
            assert_true(kept[k] >= 0 && kept[k] < classes);
        HR_ASSERT_OK(hr_edge_verify(e, kept, logits, n, &v, &err), &err);
        assert_int_equal(v.frames, n);
        assert_int_equal(v.class_mismatches, 0);
        assert_true(v.max_abs_logit_diff <= 1e-5);
        check_against_whole(e, kept, n);
    }
    /* a wrong class is a mismatch */
    kept[0] = (kept[0] + 1) % (int)classes;
    HR_ASSERT_OK(hr_edge_verify(e, kept, NULL, 3, &v, &err), &err);
    assert_int_equal(v.class_mismatches, 1);
    assert_true(v.max_abs_logit_diff == 0);
    free(logits);
    hr_edge_destroy(e);
}

/* Raw: the frames' normalisation goes into the configuration, with notes;
 * the tail's classes are those of the whole model on the dequantised frame. */
static void test_raw(void **state)
{
    (void)state;
    hr_edge *e = edge_up("{\"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"input_mean\": [0.5, 0.5, 0.5], "
                         "\"input_std\": [2, 2, 2]}",
                         4);
    hr_error err = {0};
    const hr_deploy_config *cfg = hr_edge_config(e);
    hr_edge_run_params rp = hr_edge_run_params_default();
    hr_edge_stats st;
    hr_edge_verification v;
    int kept[6];
    float logits[6 * 10];

    assert_int_equal(cfg->norm_channels, 3);
    for (int c = 0; c < 3; c++) {
        assert_true(cfg->input_mean[c] == 0.0f); /* random frames: mean 0, std 1 */
        assert_true(cfg->input_std[c] == 1.0f);
    }
    assert_non_null(strstr(notes, "input_mean / input_std differ from the data's"));
    assert_non_null(strstr(notes, "raw placement: the edge sends each frame as the 8-bit image"));
    assert_int_equal(hr_deploy_part_crossing_dtype(hr_edge_part(e)), HR_WIRE_U8);
    assert_int_equal(hr_deploy_part_num_classes(hr_edge_part(e)), 10);
    rp.window = 2;
    rp.warmup = 1;
    rp.frames = 5;
    rp.keep = 6;
    rp.classes = kept;
    rp.logits = logits;
    HR_ASSERT_OK(hr_edge_run(e, &rp, &st, &err), &err);
    assert_int_equal(st.frames, 5);
    HR_ASSERT_OK(hr_edge_verify(e, kept, logits, 6, &v, &err), &err);
    assert_int_equal(v.frames, 6);
    assert_int_equal(v.class_mismatches, 0);
    assert_true(v.max_abs_logit_diff <= 1e-5);
    hr_edge_destroy(e);
}

/* Local: one loop on the calling thread, no tail; an emulated edge set on
 * the part slows it and counts the measured frames' units only. */
static void test_local_emulated(void **state)
{
    (void)state;
    hr_edge *e = edge_up("{\"arch\": \"repvgg-tiny\", \"split\": \"local\"}", 3);
    hr_edge_emu *emu = NULL;
    hr_edge_emu_stats es;
    hr_error err = {0};
    hr_edge_run_params rp = hr_edge_run_params_default();
    hr_edge_stats st;
    int kept[2];

    assert_int_equal(hr_deploy_part_role(hr_edge_part(e)), HR_DEPLOY_WHOLE);
    HR_ASSERT_OK(hr_edge_emu_create_flat(1.5, &emu, &err), &err);
    HR_ASSERT_OK(hr_edge_set_emu(e, emu, &err), &err);
    rp.window = 7; /* ignored */
    rp.warmup = 2;
    rp.frames = 4;
    rp.keep = 2;
    rp.classes = kept;
    HR_ASSERT_OK(hr_edge_run(e, &rp, &st, &err), &err);
    assert_int_equal(st.frames, 4);
    assert_int_equal(st.e2e.n, 4);
    assert_int_equal(st.head.n, 0);
    assert_int_equal(st.tail.n, 0);
    assert_true(st.fps > 0);
    hr_edge_emu_stats_get(emu, &es);
    /* stage 0, 7 blocks and the classifier per measured frame */
    assert_int_equal(es.units, 4 * 9);
    check_against_whole(e, kept, 2);
    hr_edge_destroy(e);
    hr_edge_emu_destroy(emu);
}

#define expect_error(st, err, want, needle) expect_error_at((st), (err), (want), (needle), __LINE__)

static void expect_error_at(hr_status st, const hr_error *err, hr_status want, const char *needle, int line)
{
    if (st != want || !strstr(err->msg, needle))
        fail_msg("line %d: status %d, '%s'; expected %d with '%s'", line, st, err->msg, want, needle);
}

static void test_errors(void **state)
{
    (void)state;
    hr_edge_params ep = hr_edge_params_default();
    hr_edge_prepare_params pp = hr_edge_prepare_params_default();
    hr_edge_run_params rp = hr_edge_run_params_default();
    hr_deploy_config bad, good;
    hr_edge *e = NULL;
    hr_edge_stats st;
    hr_edge_verification v;
    hr_error err = {0};
    int kept[1];

    ep.timeout_ms = -1;
    expect_error(hr_edge_create(&ep, &e, &err), &err, HR_ERR_INVALID_ARG, "timeout_ms = -1");
    assert_null(e);
    ep = hr_edge_params_default();
    ep.threads = 0;
    assert_int_equal(hr_edge_create(&ep, &e, &err), HR_ERR_INVALID_ARG);
    assert_null(e);
    ep.threads = 1;
    HR_ASSERT_OK(hr_edge_create(&ep, &e, &err), &err);
    pp.data = "random";
    pp.frames = 2;

    /* out of order */
    expect_error(hr_edge_run(e, &rp, &st, &err), &err, HR_ERR_INVALID_ARG, "hr_edge_deploy first");
    expect_error(hr_edge_deploy(e, &err), &err, HR_ERR_INVALID_ARG, "hr_edge_prepare first");
    expect_error(hr_edge_set_emu(e, NULL, &err), &err, HR_ERR_INVALID_ARG, "hr_edge_prepare first");
    expect_error(hr_edge_verify(e, kept, NULL, 1, &v, &err), &err, HR_ERR_INVALID_ARG, "hr_edge_deploy first");
    assert_null(hr_edge_config(e));
    assert_null(hr_edge_part(e));
    assert_null(hr_edge_input_frames(e));

    /* a γ the block's live branches cannot take: the model's message, and
     * the edge stays as created */
    parse("{\"arch\": \"repvgg-tiny\", \"split\": 3, \"gamma\": {\"stage1.0\": 13}}", &bad);
    expect_error(hr_edge_prepare(e, &bad, &pp, &err), &err, HR_ERR_INVALID_ARG, "stage1.0: gamma 13");
    assert_null(hr_edge_config(e));
    /* an α file that is not one */
    parse("{\"arch\": \"repvgg-tiny\", \"split\": 3}", &good);
    pp.alpha_path = "/nonexistent/alpha.safetensors";
    expect_error(hr_edge_prepare(e, &good, &pp, &err), &err, HR_ERR_IO, "/nonexistent/alpha.safetensors");
    pp.alpha_path = NULL;
    /* frames that do not exist */
    pp.data = "/nonexistent";
    expect_error(hr_edge_prepare(e, &good, &pp, &err), &err, HR_ERR_NOT_FOUND, "/nonexistent: cannot open");
    pp.data = "random";

    HR_ASSERT_OK(hr_edge_prepare(e, &good, &pp, &err), &err);
    expect_error(hr_edge_prepare(e, &good, &pp, &err), &err, HR_ERR_INVALID_ARG, "prepared already");
    expect_error(hr_edge_run(e, &rp, &st, &err), &err, HR_ERR_INVALID_ARG, "hr_edge_deploy first");
    HR_ASSERT_OK(hr_edge_deploy(e, &err), &err);
    expect_error(hr_edge_deploy(e, &err), &err, HR_ERR_INVALID_ARG, "deployed already");
    rp.window = 0;
    expect_error(hr_edge_run(e, &rp, &st, &err), &err, HR_ERR_INVALID_ARG, "window 0 is out of 1..64");
    rp.window = HR_EDGE_MAX_WINDOW + 1;
    expect_error(hr_edge_run(e, &rp, &st, &err), &err, HR_ERR_INVALID_ARG, "window 65 is out of 1..64");
    rp.window = 2;
    rp.frames = 0;
    expect_error(hr_edge_run(e, &rp, &st, &err), &err, HR_ERR_INVALID_ARG, "measured >= 1");
    rp.frames = 3;
    rp.warmup = 0;
    HR_ASSERT_OK(hr_edge_run(e, &rp, &st, &err), &err);
    assert_int_equal(st.frames, 3);
    expect_error(hr_edge_verify(e, NULL, NULL, 2, &v, &err), &err, HR_ERR_INVALID_ARG, "without their classes");
    hr_deploy_config_deinit(&bad);
    hr_deploy_config_deinit(&good);
    hr_edge_destroy(e);
    hr_edge_destroy(NULL);

    /* the load generator checks its request before touching the network */
    hr_edge_load_params lp = hr_edge_load_params_default();
    hr_edge_load_result lr;
    expect_error(hr_edge_load_run(&lp, &lr, &err), &err, HR_ERR_INVALID_ARG, "a server, a configuration and frames");
    hr_edge_load_result_deinit(NULL);
}

static void test_frames_dist_predict(void **state)
{
    (void)state;
    hr_edge_frames f;
    hr_error err = {0};
    const int64_t shape[4] = {1, 3, 8, 8};
    double v[100];
    hr_edge_dist d;
    hr_edge_prediction p;
    hr_deploy_config cfg;

    HR_ASSERT_OK(hr_edge_frames_load("random", NULL, shape, 100, 5, &f, &err), &err);
    assert_int_equal(f.count, 32); /* the random pool */
    assert_int_equal(f.c * f.h * f.w, 3 * 8 * 8);
    assert_int_equal(hr_edge_frames_label(&f, 40), -1);
    assert_ptr_equal(hr_edge_frames_at(&f, 33), hr_edge_frames_at(&f, 1));
    for (int64_t i = 0; i < f.count * 192; i++)
        assert_true(f.pix[i] >= -1.0f && f.pix[i] < 1.0f);
    assert_non_null(strstr(f.desc, "random frames"));
    hr_edge_frames_deinit(&f);
    assert_null(f.pix);
    hr_edge_frames_deinit(&f);

    for (int i = 0; i < 100; i++)
        v[i] = 100 - i;
    d = hr_edge_dist_of(v, 100);
    assert_int_equal(d.n, 100);
    assert_true(fabs(d.mean - 50.5) < 1e-9);
    assert_true(fabs(d.p50 - 50.5) < 1e-9);
    assert_true(fabs(d.p95 - 95.05) < 1e-9);
    assert_true(fabs(d.p99 - 99.01) < 1e-9);
    assert_true(d.max == 100);
    d = hr_edge_dist_of(v, 0);
    assert_int_equal(d.n, 0);
    assert_true(d.p99 == 0);

    parse("{\"arch\": \"repvgg-tiny\", \"split\": 3}", &cfg);
    hr_edge_predict(NULL, &cfg, NULL, &p);
    assert_int_equal(p.available, 0);
    assert_string_equal(p.reason, "no --lut given");
    hr_edge_predict("/nonexistent/lut.json", &cfg, NULL, &p);
    assert_int_equal(p.available, 0);
    assert_non_null(strstr(p.reason, "/nonexistent/lut.json"));
    hr_deploy_config_deinit(&cfg);
}

/* Domain K's test part, as the data's iterators give it: the same images,
 * corruption and labels, in the part's order. */
static void test_frames_domain(void **state)
{
    (void)state;
    hr_edge_frames f;
    hr_error err = {0};
    const int64_t shape[4] = {1, 1, 28, 28};
    hr_ctx *ctx;
    hr_data *d;
    hr_data_params dp = hr_data_params_default();
    hr_batch_params bp = hr_batch_params_default();
    hr_batch_iter *it;
    hr_batch b;
    if (access(HR_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0)
        skip();
    assert_int_equal(hr_edge_frames_load_domain(NULL, NULL, 10, shape, 8, 42, &f, &err), HR_ERR_INVALID_ARG);
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_edge_frames_load_domain(NULL, ctx, 3, shape, 40, 42, &f, &err), &err);
    assert_int_equal(f.count, 40);
    assert_non_null(strstr(f.desc, "domain 3"));
    dp.seed = 42;
    HR_ASSERT_OK(hr_data_open(ctx, &dp, &d, &err), &err);
    bp.batch_size = 40;
    HR_ASSERT_OK(hr_data_iter_create(ctx, d, 3, HR_PART_TEST, &bp, &it, &err), &err);
    HR_ASSERT_OK(hr_batch_iter_next(it, &b, &err), &err);
    assert_int_equal(b.n, 40);
    assert_memory_equal(f.pix, b.x.data, sizeof(float) * 40 * 784);
    for (int i = 0; i < 40; i++)
        assert_int_equal(f.labels[i], (int32_t)b.labels[i]);
    /* a 3-channel model does not take these images */
    hr_edge_frames g;
    const int64_t rgb[4] = {1, 3, 28, 28};
    assert_int_equal(hr_edge_frames_load_domain(NULL, ctx, 3, rgb, 8, 42, &g, &err), HR_ERR_SHAPE);
    hr_batch_iter_destroy(it);
    hr_data_destroy(d);
    hr_edge_frames_deinit(&f);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_passes),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_local_emulated),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_frames_dist_predict),
        cmocka_unit_test(test_frames_domain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
