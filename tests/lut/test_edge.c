/* Edge profiles (SPEC §13.2): the roofline arithmetic on hand-made numbers
 * (compute-bound, memory-bound, a bound that changes side, the clamp at 1),
 * the profile table and its lookup, the per-entry emulation of a per-device
 * LUT against figures recomputed here from SPEC §4 (grouped blocks, stage 0,
 * the classifier, the whole-model factor), the flat form, the per-device and
 * merged files' new fields through save and load, malformed fields, and the
 * merge's roofline sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/lut.h"

#define CLOSE(got, want)                                                                                       \
    do {                                                                                                       \
        double g_ = (got), w_ = (want);                                                                        \
        if (!(fabs(g_ - w_) <= 1e-12 * fmax(1.0, fabs(w_))))                                                   \
            fail_msg("%s = %.17g, expected %.17g", #got, g_, w_);                                              \
    } while (0)

/* ---- arithmetic ---- */

static hr_roofline roof(double peak, double bw, int threads)
{
    hr_roofline r;
    memset(&r, 0, sizeof r);
    snprintf(r.device, sizeof r.device, "test host");
    r.peak_gflops = peak;
    r.bandwidth_gbs = bw;
    r.i_knee = peak / bw;
    r.threads = threads;
    return r;
}

static void test_arithmetic(void **state)
{
    (void)state;
    const hr_roofline host = roof(100, 20, 1), edge = roof(10, 5, 1);

    /* 2e9 FLOPs at 100 GFLOP/s = 20 ms; 1e6 B at 10 GB/s = 0.1 ms. */
    CLOSE(hr_roofline_time_ms(2e9, 1e6, 100, 10), 20.0);
    CLOSE(hr_roofline_time_ms(1e6, 3e8, 100, 10), 30.0);
    /* Compute-bound on both: the ratio of the peaks, 100 / 10. */
    CLOSE(hr_edge_factor(1e9, 1e6, &edge, &host), 10.0);
    /* Memory-bound on both: the ratio of the bandwidths, 20 / 5. */
    CLOSE(hr_edge_factor(1e6, 1e8, &edge, &host), 4.0);
    /* Compute-bound here, memory-bound on the edge: host max(1, 0.5) ms,
     * edge on 50 GFLOP/s / 1 GB/s max(2, 10) ms. */
    const hr_roofline thin = roof(50, 1, 1);
    CLOSE(hr_edge_factor(1e8, 1e7, &thin, &host), 10.0);
    CLOSE(hr_edge_factor(1e8, 1e6, &thin, &host), 2.0);
    /* An edge faster than the host: clamped, an emulation only slows down. */
    const hr_roofline fast = roof(1000, 100, 1);
    CLOSE(hr_edge_factor(1e9, 1e6, &fast, &host), 1.0);
    CLOSE(hr_edge_factor(1e6, 1e8, &fast, &host), 1.0);
    /* The classifier: pool of 2x3x4 (24 adds, reads 24, writes 2) and a 2 -> 5
     * linear layer (20 FLOPs, reads 2 + 10 weights + 5 biases, writes 5). */
    double f, b;
    hr_classifier_cost(2, 3, 4, 5, &f, &b);
    CLOSE(f, 44.0);
    CLOSE(b, 4.0 * (24 + 2 + 2 + 5 + 10 + 5));
}

static void test_profile_table(void **state)
{
    (void)state;
    const hr_edge_profile *p = NULL, *q = (const hr_edge_profile *)&p;
    hr_error err = {0};
    hr_roofline r;
    static const char *want[] = {"rpi4", "jetson-tx2-cpu", "jetson-nano"};

    assert_true(hr_edge_profile_count() >= 3);
    assert_null(hr_edge_profile_get(-1));
    assert_null(hr_edge_profile_get(hr_edge_profile_count()));
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        HR_ASSERT_OK(hr_edge_profile_find(want[k], &p, &err), &err);
        assert_string_equal(p->name, want[k]);
    }
    for (int i = 0; i < hr_edge_profile_count(); i++) {
        p = hr_edge_profile_get(i);
        /* Usable figures, a cited source, and the all-core figures reachable
         * by the per-core ones (so min(t, cores) cores is monotone and ends at
         * the all-core roofline). */
        assert_true(p->cores >= 1 && p->core_gflops > 0 && p->core_bandwidth_gbs > 0);
        assert_true(p->peak_gflops >= p->core_gflops && p->bandwidth_gbs >= p->core_bandwidth_gbs);
        assert_true(p->cores * p->core_gflops >= p->peak_gflops);
        assert_true(p->cores * p->core_bandwidth_gbs >= p->bandwidth_gbs);
        assert_true(strlen(p->source) > 10 && strlen(p->derating) > 10 && strlen(p->description) > 10);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(p->name, hr_edge_profile_get(j)->name);
    }

    /* Unknown: an error listing the known names; *out untouched. */
    p = q;
    assert_int_equal(hr_edge_profile_find("rpi5", &p, &err), HR_ERR_INVALID_ARG);
    assert_ptr_equal(p, q);
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (!strstr(err.msg, want[k]))
            fail_msg("the message does not list %s: %s", want[k], err.msg);
    assert_non_null(strstr(err.msg, "rpi5"));
    assert_int_equal(hr_edge_profile_find(NULL, &p, &err), HR_ERR_INVALID_ARG);

    /* rpi4 at 1, 2 and 8 threads: 1 core; 2 cores with the bandwidth capped at
     * the all-core figure; all 4 cores. */
    HR_ASSERT_OK(hr_edge_profile_find("rpi4", &p, &err), &err);
    HR_ASSERT_OK(hr_edge_profile_roofline(p, 1, &r, &err), &err);
    assert_int_equal(r.threads, 1);
    CLOSE(r.peak_gflops, p->core_gflops);
    CLOSE(r.bandwidth_gbs, p->core_bandwidth_gbs);
    CLOSE(r.i_knee, p->core_gflops / p->core_bandwidth_gbs);
    HR_ASSERT_OK(hr_edge_profile_roofline(p, 2, &r, &err), &err);
    assert_int_equal(r.threads, 2);
    CLOSE(r.peak_gflops, fmin(2 * p->core_gflops, p->peak_gflops));
    CLOSE(r.bandwidth_gbs, fmin(2 * p->core_bandwidth_gbs, p->bandwidth_gbs));
    HR_ASSERT_OK(hr_edge_profile_roofline(p, 8, &r, &err), &err);
    assert_int_equal(r.threads, 4);
    CLOSE(r.peak_gflops, p->peak_gflops);
    CLOSE(r.bandwidth_gbs, p->bandwidth_gbs);
    assert_int_equal(hr_edge_profile_roofline(p, 0, &r, &err), HR_ERR_INVALID_ARG);
}

/* ---- per-device LUTs ---- */

/* A structure-only model and an empty per-device LUT for it. */
static hr_model *g_model;
static hr_ctx *g_ctx;

static int setup(void **state)
{
    (void)state;
    hr_ctx_params cp = hr_ctx_params_default();
    hr_model_params mp = hr_model_params_default();
    hr_error err = {0};
    cp.threads = 1;
    if (hr_ctx_create(&cp, &g_ctx, &err) || hr_model_create(g_ctx, "repvgg-tiny-g2", &mp, &g_model, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hr_model_destroy(g_model);
    hr_ctx_destroy(g_ctx);
    return 0;
}

/* Distinct hand-made times for every valid entry, stage 0 and the classifier. */
static hr_device_lut *make_lut(hr_device role)
{
    hr_device_lut *lut;
    hr_error err = {0};
    HR_ASSERT_OK(hr_device_lut_create(g_model, role, &lut, &err), &err);
    lut->threads = 1;
    lut->has_median = 1;
    lut->has_stage_times = 1;
    snprintf(lut->gpu_name, sizeof lut->gpu_name, "test CPU");
    for (int i = 0; i < lut->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            hr_lut_entry *e = &lut->blocks[i].e[g];
            if (hr_gamma_get(g)->branches & ~lut->blocks[i].existing)
                continue;
            e->valid = 1;
            e->time_ms = 0.5 + 0.1 * i + 0.01 * g;
            e->median_ms = 0.9 * e->time_ms;
            e->std_ms = 0.05;
            e->min_ms = 0.8 * e->time_ms;
        }
    hr_lut_entry *s[2] = {&lut->stage0, &lut->classifier};
    for (int k = 0; k < 2; k++) {
        s[k]->valid = 1;
        s[k]->time_ms = 0.3 + k;
        s[k]->median_ms = 0.25 + k;
        s[k]->std_ms = 0.01;
        s[k]->min_ms = 0.2 + k;
    }
    return lut;
}

/* SPEC §4 recomputed here, with the groups counted in the FLOPs (the work
 * the kernels do) and the weights in the bytes. */
static void spec_cost(int gamma, const int64_t in[4], const int64_t out[4], int groups, double *flops, double *bytes)
{
    const hr_gamma_info *g = hr_gamma_get(gamma);
    const double cin = (double)in[1], cig = cin / groups, cout = (double)out[1];
    const double in_n = cin * (double)in[2] * (double)in[3], out_px = (double)out[2] * (double)out[3];
    double w = 0;
    *flops = 0;
    for (int s = 0; s < g->streams; s++) {
        double k = g->kernels[s] == HR_KERNEL_K3 ? 9 : g->kernels[s] == HR_KERNEL_K1 ? 1 : 0;
        *flops += 2 * cout * out_px * cig * k;
        w += k > 0 ? cout * cig * k : 2 * cin;
    }
    *bytes = 4 * (g->streams * in_n + cout * out_px + w);
}

static double spec_factor(double flops, double bytes, double ep, double eb, double hp, double hb)
{
    double te = fmax(flops / (ep * 1e6), bytes / (eb * 1e6)), th = fmax(flops / (hp * 1e6), bytes / (hb * 1e6));
    return fmax(1.0, te / th);
}

static void expect_entry(const hr_lut_entry *got, const hr_lut_entry *ref, double f, const char *what)
{
    const double g[4] = {got->time_ms, got->median_ms, got->std_ms, got->min_ms};
    const double r[4] = {ref->time_ms, ref->median_ms, ref->std_ms, ref->min_ms};
    assert_int_equal(got->valid, ref->valid);
    for (int k = 0; k < 4; k++)
        if (!(fabs(g[k] - f * r[k]) <= 1e-12 * fmax(1.0, f * r[k])))
            fail_msg("%s statistic %d: %.17g, expected %.17g x %.17g", what, k, g[k], r[k], f);
}

/* A made-up edge: 4 cores of 10 GFLOP/s and 5 GB/s, 30 and 8 for all. */
static const hr_edge_profile test_edge = {"test-edge", "a test edge device", 4, 30, 8, 10, 5,
                                          "hand-made", "tests/lut/test_edge.c"};

static void test_emulate_profile(void **state)
{
    (void)state;
    hr_device_lut *ref = make_lut(HR_DEVICE_CLIENT), *lut = make_lut(HR_DEVICE_CLIENT);
    const hr_roofline host = roof(100, 20, 1);
    const double ep = 10, eb = 5, hp = 100, hb = 20; /* the edge at 1 thread: one core */
    hr_error err = {0};
    double before = 0, after = 0, fmin_seen = 1e300, fmax_seen = 0;
    int grouped = 0;

    HR_ASSERT_OK(hr_device_lut_emulate_profile(lut, &test_edge, &host, &err), &err);
    for (int i = 0; i < lut->nblocks; i++) {
        const hr_device_lut_block *b = &lut->blocks[i];
        grouped += b->groups > 1;
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            char what[64];
            double fl, by, f;
            if (!ref->blocks[i].e[g].valid) {
                assert_false(b->e[g].valid);
                assert_true(b->e[g].time_ms == -1);
                continue;
            }
            spec_cost(g, b->in_shape, b->out_shape, b->groups, &fl, &by);
            f = spec_factor(fl, by, ep, eb, hp, hb);
            fmin_seen = fmin(fmin_seen, f);
            fmax_seen = fmax(fmax_seen, f);
            snprintf(what, sizeof what, "%s gamma %d", b->name, g);
            expect_entry(&b->e[g], &ref->blocks[i].e[g], f, what);
            if (g == hr_gamma_deploy(b->existing)) {
                before += ref->blocks[i].e[g].median_ms;
                after += f * ref->blocks[i].e[g].median_ms;
            }
        }
    }
    assert_true(grouped > 0); /* the grouped FLOPs were exercised */
    /* Between the bandwidth ratio (memory-bound entries) and the peak ratio
     * (compute-bound ones): the factor depends on the entry. */
    assert_true(fmin_seen >= hb / eb - 1e-12 && fmax_seen <= hp / ep + 1e-12);
    assert_true(fmax_seen > fmin_seen * 1.2);

    /* Stage 0 (one fused 3x3 convolution) and the classifier. */
    hr_block_info s0 = hr_model_block(g_model, -1);
    double fl = 2.0 * s0.cout * s0.out_h * s0.out_w * s0.cin * 9;
    double by = 4.0 * (s0.cin * s0.in_h * s0.in_w + s0.cout * s0.out_h * s0.out_w + s0.cout * s0.cin * 9);
    double f0 = spec_factor(fl, by, ep, eb, hp, hb);
    expect_entry(&lut->stage0, &ref->stage0, f0, "stage0");
    const hr_device_lut_block *last = &lut->blocks[lut->nblocks - 1];
    const double c = (double)last->out_shape[1], hw = (double)(last->out_shape[2] * last->out_shape[3]);
    const double k = (double)hr_model_num_classes(g_model);
    double fc = spec_factor(c * hw + 2 * c * k, 4 * (c * hw + c) + 4 * (c + k) + 4 * (c * k + k), ep, eb, hp, hb);
    expect_entry(&lut->classifier, &ref->classifier, fc, "classifier");
    before += ref->stage0.median_ms + ref->classifier.median_ms;
    after += f0 * ref->stage0.median_ms + fc * ref->classifier.median_ms;
    CLOSE(lut->slowdown, after / before);

    /* What was recorded. */
    assert_string_equal(lut->edge.name, "test-edge");
    assert_int_equal(lut->edge.cores, 4);
    assert_int_equal(lut->edge.cores_used, 1);
    CLOSE(lut->edge.peak_gflops, ep);
    CLOSE(lut->edge.bandwidth_gbs, eb);
    CLOSE(lut->edge.host_peak_gflops, hp);
    CLOSE(lut->edge.host_bandwidth_gbs, hb);
    assert_int_equal(lut->edge.host_threads, 1);
    assert_non_null(strstr(lut->emulated, "test-edge"));

    /* A second emulation is refused and changes nothing. */
    double t = lut->stage0.time_ms;
    assert_int_equal(hr_device_lut_emulate_profile(lut, &test_edge, &host, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_device_lut_emulate_flat(lut, 2, &err), HR_ERR_INVALID_ARG);
    assert_true(lut->stage0.time_ms == t);
    hr_device_lut_destroy(lut);
    hr_device_lut_destroy(ref);
}

static void test_emulate_refusals_and_clamp(void **state)
{
    (void)state;
    hr_device_lut *ref = make_lut(HR_DEVICE_CLIENT), *lut = make_lut(HR_DEVICE_CLIENT);
    hr_error err = {0};
    hr_roofline host = roof(100, 20, 2);

    /* A roofline at another thread count than the LUT's, or unusable. */
    assert_int_equal(hr_device_lut_emulate_profile(lut, &test_edge, &host, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "2 threads"));
    host = roof(0, 20, 1);
    assert_int_equal(hr_device_lut_emulate_profile(lut, &test_edge, &host, &err), HR_ERR_INVALID_ARG);
    assert_string_equal(lut->emulated, "");
    expect_entry(&lut->blocks[0].e[0], &ref->blocks[0].e[0], 1, "untouched");

    /* An edge faster than the host in every respect: every factor is 1. */
    const hr_edge_profile fast = {"fast", "faster than the host", 2, 2000, 400, 1000, 200, "x", "y"};
    host = roof(100, 20, 1);
    HR_ASSERT_OK(hr_device_lut_emulate_profile(lut, &fast, &host, &err), &err);
    for (int i = 0; i < lut->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (ref->blocks[i].e[g].valid)
                expect_entry(&lut->blocks[i].e[g], &ref->blocks[i].e[g], 1, "clamped");
    expect_entry(&lut->stage0, &ref->stage0, 1, "clamped stage0");
    CLOSE(lut->slowdown, 1.0);
    hr_device_lut_destroy(lut);

    /* The flat form: F >= 1 only. */
    lut = make_lut(HR_DEVICE_CLIENT);
    assert_int_equal(hr_device_lut_emulate_flat(lut, 0.5, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_device_lut_emulate_flat(lut, NAN, &err), HR_ERR_INVALID_ARG);
    HR_ASSERT_OK(hr_device_lut_emulate_flat(lut, 3, &err), &err);
    expect_entry(&lut->blocks[1].e[0], &ref->blocks[1].e[0], 3, "flat");
    expect_entry(&lut->classifier, &ref->classifier, 3, "flat classifier");
    CLOSE(lut->slowdown, 3.0);
    assert_non_null(strstr(lut->emulated, "flat"));
    assert_string_equal(lut->edge.name, "");
    hr_device_lut_destroy(lut);
    hr_device_lut_destroy(ref);
}

/* ---- files ---- */

static void test_device_round_trip(void **state)
{
    (void)state;
    hr_device_lut *lut = make_lut(HR_DEVICE_CLIENT), *back = NULL, *flat = make_lut(HR_DEVICE_CLIENT);
    const hr_edge_profile *rpi;
    hr_error err = {0};
    hr_roofline host = roof(150, 25, 1);
    const char *path = hr_test_tmp_path("edge_client.json");

    snprintf(host.device, sizeof host.device, "Test CPU 9000");
    HR_ASSERT_OK(hr_edge_profile_find("rpi4", &rpi, &err), &err);
    HR_ASSERT_OK(hr_device_lut_emulate_profile(lut, rpi, &host, &err), &err);
    HR_ASSERT_OK(hr_device_lut_save(path, lut, &err), &err);
    HR_ASSERT_OK(hr_device_lut_load(path, &back, &err), &err);
    assert_string_equal(back->edge.name, "rpi4");
    assert_string_equal(back->edge.source, rpi->source);
    assert_int_equal(back->edge.cores, 4);
    assert_int_equal(back->edge.cores_used, 1);
    CLOSE(back->edge.peak_gflops, rpi->core_gflops);
    CLOSE(back->edge.bandwidth_gbs, rpi->core_bandwidth_gbs);
    CLOSE(back->edge.host_peak_gflops, 150);
    CLOSE(back->edge.host_bandwidth_gbs, 25);
    assert_int_equal(back->edge.host_threads, 1);
    assert_string_equal(back->edge.host_device, "Test CPU 9000");
    assert_string_equal(back->emulated, lut->emulated);
    /* The file keeps 10 significant digits. */
    assert_true(fabs(back->slowdown - lut->slowdown) <= 1e-9 * lut->slowdown);
    assert_true(fabs(back->blocks[2].e[0].median_ms - lut->blocks[2].e[0].median_ms) <= 1e-9);
    hr_device_lut_destroy(back);

    /* The flat form has no edge_profile / host_roofline. */
    HR_ASSERT_OK(hr_device_lut_emulate_flat(flat, 2.5, &err), &err);
    HR_ASSERT_OK(hr_device_lut_save(path, flat, &err), &err);
    size_t n;
    char *text = (char *)hr_test_read_all(path, &n);
    text[n] = '\0';
    assert_null(strstr(text, "edge_profile"));
    assert_null(strstr(text, "host_roofline"));
    free(text);
    HR_ASSERT_OK(hr_device_lut_load(path, &back, &err), &err);
    assert_string_equal(back->edge.name, "");
    CLOSE(back->slowdown, 2.5);
    hr_device_lut_destroy(back);
    hr_device_lut_destroy(flat);
    hr_device_lut_destroy(lut);
}

/* Saves the LUT, applies edit to the parsed metadata, writes it back and
 * expects the load to fail naming `field` and `value`. */
static void expect_malformed(const hr_device_lut *lut, void (*edit)(json_t *meta), const char *field,
                             const char *value)
{
    hr_error err = {0};
    hr_device_lut *back = NULL;
    json_error_t je;
    const char *path = hr_test_tmp_path("malformed.json");
    HR_ASSERT_OK(hr_device_lut_save(path, lut, &err), &err);
    json_t *root = json_load_file(path, 0, &je);
    assert_non_null(root);
    edit(json_object_get(root, "metadata"));
    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
    assert_int_equal(hr_device_lut_load(path, &back, &err), HR_ERR_FORMAT);
    assert_null(back);
    if (!strstr(err.msg, field) || !strstr(err.msg, value) || !strstr(err.msg, "malformed.json"))
        fail_msg("expected file, %s and %s in: %s", field, value, err.msg);
}

static void cores_used_too_many(json_t *m)
{
    json_object_set_new(json_object_get(m, "edge_profile"), "cores_used", json_integer(9));
}
static void peak_negative(json_t *m)
{
    json_object_set_new(json_object_get(m, "edge_profile"), "peak_gflops", json_real(-3.5));
}
static void name_empty(json_t *m)
{
    json_object_set_new(json_object_get(m, "edge_profile"), "name", json_string(""));
}
static void host_threads_text(json_t *m)
{
    json_object_set_new(json_object_get(m, "host_roofline"), "threads", json_string("one"));
}
static void host_bandwidth_missing(json_t *m)
{
    json_object_del(json_object_get(m, "host_roofline"), "bandwidth_gbs");
}
static void host_missing(json_t *m)
{
    json_object_del(m, "host_roofline");
}
static void profile_not_object(json_t *m)
{
    json_object_set_new(m, "edge_profile", json_string("rpi4"));
}
static void not_emulated(json_t *m)
{
    json_object_del(m, "emulated");
}

static void test_device_malformed(void **state)
{
    (void)state;
    hr_device_lut *lut = make_lut(HR_DEVICE_CLIENT);
    hr_error err = {0};
    const hr_roofline host = roof(100, 20, 1);
    HR_ASSERT_OK(hr_device_lut_emulate_profile(lut, &test_edge, &host, &err), &err);
    expect_malformed(lut, cores_used_too_many, "metadata.edge_profile.cores_used", "9");
    expect_malformed(lut, peak_negative, "metadata.edge_profile.peak_gflops", "-3.5");
    expect_malformed(lut, name_empty, "metadata.edge_profile.name", "\"\"");
    expect_malformed(lut, host_threads_text, "metadata.host_roofline.threads", "\"one\"");
    expect_malformed(lut, host_bandwidth_missing, "metadata.host_roofline.bandwidth_gbs", "missing");
    expect_malformed(lut, host_missing, "metadata.edge_profile", "host_roofline");
    expect_malformed(lut, profile_not_object, "metadata.edge_profile", "\"rpi4\"");
    expect_malformed(lut, not_emulated, "metadata.edge_profile", "emulated");
    hr_device_lut_destroy(lut);
}

/* ---- merge ---- */

static void test_merge_sources(void **state)
{
    (void)state;
    hr_device_lut *server = make_lut(HR_DEVICE_SERVER), *client = make_lut(HR_DEVICE_CLIENT);
    hr_lut_merge_params mp = hr_lut_merge_params_default();
    hr_roofline measured = roof(400, 50, 4), host = roof(100, 20, 1);
    hr_lut *lut = NULL, *back = NULL;
    hr_error err = {0};
    const char *path = hr_test_tmp_path("merged.json");

    /* Nothing given: the original's knees, "default" both. */
    HR_ASSERT_OK(hr_lut_merge(server, client, &mp, &lut, &err), &err);
    assert_int_equal(lut->roofline_source[HR_DEVICE_SERVER], HR_ROOF_DEFAULT);
    assert_int_equal(lut->roofline_source[HR_DEVICE_CLIENT], HR_ROOF_DEFAULT);
    CLOSE(lut->i_knee[HR_DEVICE_CLIENT], 16.1);
    hr_lut_destroy(lut);

    /* A measured server and a client emulated from a profile; the roofline
     * given for the client is the host's and gives way to the profile's. */
    HR_ASSERT_OK(hr_device_lut_emulate_profile(client, &test_edge, &host, &err), &err);
    mp.roofline[HR_DEVICE_SERVER] = &measured;
    mp.roofline[HR_DEVICE_CLIENT] = &host;
    HR_ASSERT_OK(hr_lut_merge(server, client, &mp, &lut, &err), &err);
    assert_int_equal(lut->roofline_source[HR_DEVICE_SERVER], HR_ROOF_MEASURED);
    assert_int_equal(lut->roofline_source[HR_DEVICE_CLIENT], HR_ROOF_PROFILE);
    assert_string_equal(lut->edge_profile[HR_DEVICE_CLIENT], "test-edge");
    assert_string_equal(lut->edge_profile[HR_DEVICE_SERVER], "");
    CLOSE(lut->i_knee[HR_DEVICE_SERVER], 8.0);
    CLOSE(lut->peak_gflops[HR_DEVICE_CLIENT], 10.0);
    CLOSE(lut->bandwidth_gbs[HR_DEVICE_CLIENT], 5.0);
    CLOSE(lut->i_knee[HR_DEVICE_CLIENT], 2.0);
    assert_true(lut->roofline_measured[HR_DEVICE_SERVER] && !lut->roofline_measured[HR_DEVICE_CLIENT]);
    assert_non_null(strstr(lut->note, "ignored"));
    HR_ASSERT_OK(hr_lut_save(path, lut, &err), &err);
    size_t n;
    char *text = (char *)hr_test_read_all(path, &n);
    text[n] = '\0';
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    free(text);
    assert_non_null(root);
    json_t *src = json_object_get(json_object_get(root, "roofline"), "source");
    assert_string_equal(json_string_value(json_object_get(src, "server")), "measured");
    assert_string_equal(json_string_value(json_object_get(src, "client")), "profile");
    json_t *ep = json_object_get(json_object_get(root, "metadata"), "edge_profile");
    assert_string_equal(json_string_value(json_object_get(ep, "client")), "test-edge");
    assert_true(json_is_null(json_object_get(ep, "server")));
    HR_ASSERT_OK(hr_lut_load(path, &back, &err), &err);
    assert_int_equal(back->roofline_source[HR_DEVICE_SERVER], HR_ROOF_MEASURED);
    assert_int_equal(back->roofline_source[HR_DEVICE_CLIENT], HR_ROOF_PROFILE);
    assert_string_equal(back->edge_profile[HR_DEVICE_CLIENT], "test-edge");
    CLOSE(back->i_knee[HR_DEVICE_CLIENT], 2.0);
    hr_lut_destroy(back);

    /* Malformed merged fields. */
    static const struct {
        const char *key, *value, *field, *shown;
    } bad[] = {{"source", "\"guess\"", "roofline.source.client", "\"guess\""},
               {"edge", "7", "metadata.edge_profile.client", "7"},
               {"noname", "", "roofline.source.client", "metadata.edge_profile.client names no profile"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        json_t *r = json_deep_copy(root);
        json_t *meta = json_object_get(r, "metadata");
        if (strcmp(bad[k].key, "source") == 0)
            json_object_set_new(json_object_get(json_object_get(r, "roofline"), "source"), "client",
                                json_string("guess"));
        else if (strcmp(bad[k].key, "edge") == 0)
            json_object_set_new(json_object_get(meta, "edge_profile"), "client", json_integer(7));
        else
            json_object_del(meta, "edge_profile");
        const char *bpath = hr_test_tmp_path("bad_merged.json");
        assert_int_equal(json_dump_file(r, bpath, 0), 0);
        json_decref(r);
        assert_int_equal(hr_lut_load(bpath, &back, &err), HR_ERR_FORMAT);
        if (!strstr(err.msg, bad[k].field) || !strstr(err.msg, bad[k].shown) || !strstr(err.msg, "bad_merged.json"))
            fail_msg("case %zu: %s", k, err.msg);
    }
    json_decref(root);
    hr_lut_destroy(lut);

    /* A knee given by hand wins over everything. */
    mp.knee_override[HR_DEVICE_CLIENT] = 30;
    HR_ASSERT_OK(hr_lut_merge(server, client, &mp, &lut, &err), &err);
    assert_int_equal(lut->roofline_source[HR_DEVICE_CLIENT], HR_ROOF_OVERRIDE);
    CLOSE(lut->i_knee[HR_DEVICE_CLIENT], 30.0);
    assert_true(lut->peak_gflops[HR_DEVICE_CLIENT] == 0 && !lut->roofline_measured[HR_DEVICE_CLIENT]);
    HR_ASSERT_OK(hr_lut_save(path, lut, &err), &err);
    HR_ASSERT_OK(hr_lut_load(path, &back, &err), &err);
    assert_int_equal(back->roofline_source[HR_DEVICE_CLIENT], HR_ROOF_OVERRIDE);
    CLOSE(back->i_knee[HR_DEVICE_CLIENT], 30.0);
    hr_lut_destroy(back);
    hr_lut_destroy(lut);
    mp.knee_override[HR_DEVICE_CLIENT] = -1;
    assert_int_equal(hr_lut_merge(server, client, &mp, &lut, &err), HR_ERR_INVALID_ARG);

    hr_device_lut_destroy(server);
    hr_device_lut_destroy(client);
}

/* ---- command line ---- */

HR_CLI_BUFFERS;

static void test_cli(void **state)
{
    (void)state;
    char dir[512], path[700];
    hr_device_lut *d = NULL;
    hr_lut *m = NULL;
    hr_error err = {0};
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    snprintf(path, sizeof path, "%s/host.json", dir);
    static const char host[] = "{\"device\": \"test\", \"peak_gflops\": 80.0, \"bandwidth_gbs\": 12.0, \"threads\": 1}\n";
    hr_test_write_file(path, host, sizeof host - 1);

    HR_EXPECT_CLI(dir, "lut profiles", 0, out_text, "jetson-tx2-cpu");
    assert_non_null(strstr(out_text, "rpi4"));
    assert_non_null(strstr(out_text, "jetson-nano"));
    assert_non_null(strstr(out_text, "sources:"));
    HR_EXPECT_CLI(dir, "lut measure --role client --model repvgg-tiny --edge rpi5", 2, err_text, "known: rpi4");
    HR_EXPECT_CLI(dir, "lut measure --role server --model repvgg-tiny --edge rpi4", 2, err_text, "--role client");
    HR_EXPECT_CLI(dir, "lut measure --role client --model repvgg-tiny --edge-slowdown 0.5", 2, err_text,
                  "--edge-slowdown");
    HR_EXPECT_CLI(dir, "lut measure --role client --model repvgg-tiny --edge rpi4 --edge-slowdown 2", 2, err_text,
                  "exclusive");
    HR_EXPECT_CLI(dir, "lut measure --role client --model repvgg-tiny --roofline host.json", 2, err_text,
                  "needs --edge");
    HR_EXPECT_CLI(dir,
                  "lut measure --role client --model repvgg-tiny --threads 2 --edge rpi4 --roofline host.json "
                  "--warmup 0 --repeat 1",
                  1, err_text, "host.json: threads 1, but --threads is 2");
    HR_EXPECT_CLI(dir,
                  "lut measure --role client --model repvgg-tiny --edge rpi4 --roofline host.json --warmup 0 "
                  "--repeat 2 -o c.json",
                  0, out_text, "emulated: edge profile rpi4, 1 of 4 cores");
    HR_EXPECT_CLI(dir, "lut measure --role server --model repvgg-tiny --warmup 0 --repeat 2 -o s.json", 0, out_text,
                  "wrote");
    HR_EXPECT_CLI(dir, "lut merge --server-lut s.json --client-lut c.json -o m.json", 0, out_text,
                  "(server default, client profile rpi4)");
    snprintf(path, sizeof path, "%s/c.json", dir);
    HR_ASSERT_OK(hr_device_lut_load(path, &d, &err), &err);
    assert_string_equal(d->edge.name, "rpi4");
    CLOSE(d->edge.host_peak_gflops, 80);
    assert_true(d->slowdown > 1);
    hr_device_lut_destroy(d);
    snprintf(path, sizeof path, "%s/m.json", dir);
    HR_ASSERT_OK(hr_lut_load(path, &m, &err), &err);
    assert_int_equal(m->roofline_source[HR_DEVICE_CLIENT], HR_ROOF_PROFILE);
    assert_true(fabs(m->i_knee[HR_DEVICE_CLIENT] - 9.6 / 5.5) < 1e-9); /* 10 digits in the file */
    hr_lut_destroy(m);
    HR_EXPECT_CLI(dir,
                  "lut measure --role client --model repvgg-tiny --edge-slowdown 4 --warmup 0 --repeat 2 -o f.json", 0,
                  out_text, "flat --edge-slowdown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arithmetic),         cmocka_unit_test(test_profile_table),
        cmocka_unit_test(test_emulate_profile),    cmocka_unit_test(test_emulate_refusals_and_clamp),
        cmocka_unit_test(test_device_round_trip),  cmocka_unit_test(test_device_malformed),
        cmocka_unit_test(test_merge_sources),      cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
