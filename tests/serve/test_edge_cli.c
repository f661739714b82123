/* `hyperrep infer --edge PROFILE | --edge-slowdown F` and `hyperrep client`'s
 * flags of the same name (SPEC §13.2): the errors for requests a LUT does
 * not fit, the warning for a deployment planned for an emulated edge but
 * run without emulation, and in-process runs that emulate and record it in
 * their report. The LUTs are measured here with `lut measure` (a handful of
 * runs; the profile's host roofline is a file written by the test, so no
 * roofline is measured). Nothing asserted depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/data.h"
#include "hyperrep/lut.h"

HR_CLI_BUFFERS;
static char dir[512];

static void write_text(const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hr_test_write_file(path, text, strlen(text));
}

static json_t *load_json(const char *name)
{
    char path[700];
    json_error_t je;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        print_error("%s: %s\n", path, je.text);
        fail();
    }
    return j;
}

static json_t *get(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(o, a), b);
    if (!v) {
        print_error("%s.%s is missing\n", a, b);
        fail();
    }
    return v;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Server and client LUTs of repvgg-tiny and three merged LUTs: the client
 * plain (lut.json), flat x 4 (lut4.json) and emulated from rpi4
 * (lutrpi.json). */
static int setup(void **state)
{
    (void)state;
    hr_roofline r;
    hr_error err;
    char path[700];
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    memset(&r, 0, sizeof r);
    snprintf(r.device, sizeof r.device, "test host");
    r.peak_gflops = 60;
    r.bandwidth_gbs = 20;
    r.i_knee = 3;
    r.threads = 1;
    snprintf(path, sizeof path, "%s/roof.json", dir);
    HR_ASSERT_OK(hr_roofline_save(path, &r, &err), &err);
    static const char *m = "lut measure --model repvgg-tiny --warmup 1 --repeat 3 ";
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s--role server -o s.json", m);
    HR_EXPECT_CLI(dir, cmd, 0, out_text, "wrote s.json");
    snprintf(cmd, sizeof cmd, "%s--role client -o c.json", m);
    HR_EXPECT_CLI(dir, cmd, 0, out_text, "wrote c.json");
    snprintf(cmd, sizeof cmd, "%s--role client --edge-slowdown 4 -o c4.json", m);
    HR_EXPECT_CLI(dir, cmd, 0, out_text, "wrote c4.json");
    snprintf(cmd, sizeof cmd, "%s--role client --edge rpi4 --roofline roof.json -o crpi.json", m);
    HR_EXPECT_CLI(dir, cmd, 0, out_text, "wrote crpi.json");
    HR_EXPECT_CLI(dir, "lut merge --server-lut s.json --client-lut c.json -o lut.json", 0, out_text, "");
    HR_EXPECT_CLI(dir, "lut merge --server-lut s.json --client-lut c4.json -o lut4.json", 0, out_text, "");
    HR_EXPECT_CLI(dir, "lut merge --server-lut s.json --client-lut crpi.json -o lutrpi.json", 0, out_text, "");
    write_text("tiny.json", "{\"arch\": \"repvgg-tiny\", \"split\": 3}");
    write_text("local.json", "{\"arch\": \"repvgg-tiny\", \"split\": \"local\"}");
    write_text("raw.json", "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\"}");
    return 0;
}

static void test_flag_errors(void **state)
{
    (void)state;
    static const char *base = "infer --in-process --deploy tiny.json --frames 2 --warmup 0 ";
    char a[600];
#define ARGS(rest) (snprintf(a, sizeof a, "%s%s", base, rest), a)
    HR_EXPECT_CLI(dir, ARGS("--edge nosuch"), 2, err_text, "edge profile 'nosuch' is unknown (known: rpi4");
    HR_EXPECT_CLI(dir, ARGS("--edge rpi4 --edge-slowdown 2"), 2, err_text, "--edge and --edge-slowdown are exclusive");
    HR_EXPECT_CLI(dir, ARGS("--edge-slowdown 0.5"), 2, err_text, "--edge-slowdown: '0.5' is not a factor");
    HR_EXPECT_CLI(dir, ARGS("--edge-slowdown x"), 2, err_text, "--edge-slowdown: 'x'");
    /* a profile's times live in a LUT emulated from it */
    HR_EXPECT_CLI(dir, ARGS("--edge rpi4"), 1, err_text, "--edge rpi4 needs --lut");
    HR_EXPECT_CLI(dir, ARGS("--edge rpi4 --lut lut4.json"), 1, err_text,
                  "--edge rpi4, but lut4.json's client was not emulated from an edge profile");
    HR_EXPECT_CLI(dir, ARGS("--edge jetson-nano --lut lutrpi.json"), 1, err_text,
                  "--edge jetson-nano, but lutrpi.json's client was emulated from edge profile rpi4");
    HR_EXPECT_CLI(dir, ARGS("--edge-slowdown 3 --lut lut4.json"), 1, err_text,
                  "--edge-slowdown 3, but lut4.json's client slowdown is 4");
    HR_EXPECT_CLI(dir, ARGS("--edge-slowdown 4 --lut lutrpi.json"), 1, err_text, "emulated from edge profile rpi4");
    HR_EXPECT_CLI(dir, ARGS("--edge-slowdown 2 --lut lut.json"), 1, err_text, "lut.json's client slowdown is 1");
    HR_EXPECT_CLI(dir, ARGS("--edge rpi4 --lut missing.json"), 1, err_text, "missing.json");
    HR_EXPECT_CLI(dir, "infer --deploy tiny.json --server 127.0.0.1:1 --clients 2 --edge-slowdown 2", 2, err_text,
                  "the load generator (--clients) runs unemulated");
    HR_EXPECT_CLI(dir, "client --server 127.0.0.1:1 --edge nosuch", 2, err_text, "edge profile 'nosuch' is unknown");
    HR_EXPECT_CLI(dir, "client --server 127.0.0.1:1 --edge rpi4 --edge-slowdown 2", 2, err_text, "exclusive");
    HR_EXPECT_CLI(dir, "client --server 127.0.0.1:1 --edge-slowdown 0", 2, err_text, "is not a factor");
    HR_EXPECT_CLI(dir, "client --help", 0, out_text, "--edge PROFILE");
    HR_EXPECT_CLI(dir, "infer --help", 0, out_text, "--edge-slowdown F");
#undef ARGS
}

static void test_warning_without_flags(void **state)
{
    (void)state;
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --frames 2 --warmup 0 --lut lutrpi.json -o w.json", 0,
                  err_text, "warning: lutrpi.json was planned for an emulated edge (edge profile rpi4");
    assert_int_equal(count(err_text, "warning"), 1);
    json_t *j = load_json("w.json");
    assert_string_equal(json_string_value(get(j, "edge_emulation", "mode")), "none");
    assert_non_null(strstr(json_string_value(get(j, "edge_emulation", "lut_planned_for")), "rpi4"));
    json_decref(j);
    HR_EXPECT_CLI(dir, "infer --deploy local.json --frames 2 --warmup 0 --lut lut4.json", 0, err_text,
                  "planned for an emulated edge (a flat slowdown x 4");
    assert_int_equal(count(err_text, "warning"), 1);
    /* this machine at its own speed: nothing to warn about */
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --frames 2 --warmup 0 --lut lut.json", 0, out_text,
                  "fps");
    assert_null(strstr(err_text, "warning"));
}

/* The client LUT's time of a unit of lut (a merged LUT file) at γ. */
static double lut_sum(const char *name, json_t *gammas, int blocks, int stage0, int classifier)
{
    hr_lut *l;
    hr_error err;
    char path[700];
    double t = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    HR_ASSERT_OK(hr_lut_load(path, &l, &err), &err);
    assert_true(l->has_stage_times);
    for (int k = 0; k < blocks; k++) {
        json_t *g = json_object_get(gammas, l->blocks[k].name);
        assert_true(json_is_integer(g));
        t += l->blocks[k].t_ms[HR_DEVICE_CLIENT][json_integer_value(g)];
    }
    t += stage0 ? l->t_stage0_ms[HR_DEVICE_CLIENT] : 0;
    t += classifier ? l->t_classifier_ms[HR_DEVICE_CLIENT] : 0;
    hr_lut_destroy(l);
    return t;
}

static void test_emulated_runs(void **state)
{
    (void)state;
    /* a split: stage 0 and blocks [0, 3) on the emulated edge */
    HR_EXPECT_CLI(dir,
                  "infer --in-process --deploy tiny.json --frames 4 --warmup 1 --lut lutrpi.json --edge rpi4 -o e.json",
                  0, out_text, "infer: edge emulated (edge profile rpi4, LUT times)");
    assert_null(strstr(err_text, "warning"));
    json_t *j = load_json("e.json");
    json_t *em = json_object_get(j, "edge_emulation");
    assert_string_equal(json_string_value(json_object_get(em, "mode")), "profile");
    assert_string_equal(json_string_value(json_object_get(em, "profile")), "rpi4");
    assert_string_equal(json_string_value(json_object_get(em, "lut")), "lutrpi.json");
    assert_int_equal(json_integer_value(json_object_get(em, "frames")), 4);
    assert_int_equal(json_integer_value(json_object_get(em, "units_per_frame")), 4);
    double want = lut_sum("lutrpi.json", get(j, "metadata", "gamma"), 3, 1, 0);
    double target = json_number_value(json_object_get(em, "target_ms_per_frame"));
    if (fabs(target - want) > 1e-5)
        fail_msg("target %.9f ms per frame, the LUT gives %.9f", target, want);
    assert_true(json_number_value(json_object_get(em, "emulated_ms_per_frame")) >= target - 1e-9);
    assert_true(json_integer_value(json_object_get(em, "overruns")) >= 0);
    assert_true(json_is_number(json_object_get(em, "host_ms_per_frame")));
    json_decref(j);

    /* a longer pipelined pass than the sequential one: each pass times its own frames */
    HR_EXPECT_CLI(dir,
                  "infer --in-process --deploy tiny.json --frames 2 --pipelined-frames 7 --warmup 1 --lut lutrpi.json "
                  "--edge rpi4 -o pf.json",
                  0, out_text, "fps pipelined");
    j = load_json("pf.json");
    assert_int_equal(json_integer_value(get(j, "metadata", "pipelined_frames")), 7);
    assert_int_equal(json_integer_value(get(j, "sequential", "frames")), 2);
    assert_int_equal(json_integer_value(get(j, "pipelined", "frames")), 7);
    assert_int_equal(json_integer_value(get(j, "edge_emulation", "frames")), 7);
    json_decref(j);
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --pipelined-frames 0", 2, err_text,
                  "--pipelined-frames: '0'");
    /* --domain K: a domain out of range is a usage error; a model that does not take the
       data's images is refused naming the shapes */
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --domain 10", 2, err_text, "--domain: '10'");
    if (access(HR_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) == 0)
        HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --domain 3 --frames 2 --warmup 0", 1, err_text,
                      "the model takes");

    /* local: everything, the classifier included, from the flat LUT */
    HR_EXPECT_CLI(dir, "infer --deploy local.json --frames 3 --warmup 1 --lut lut4.json --edge-slowdown 4 -o l.json", 0,
                  out_text, "edge emulated (slowdown x 4, LUT times)");
    j = load_json("l.json");
    em = json_object_get(j, "edge_emulation");
    assert_string_equal(json_string_value(json_object_get(em, "mode")), "flat");
    assert_true(json_number_value(json_object_get(em, "slowdown")) == 4);
    assert_int_equal(json_integer_value(json_object_get(em, "units_per_frame")), 7 + 2);
    json_t *gam = json_object();
    /* the local report records no gamma map: every block runs its deploy γ */
    hr_ctx *ctx;
    hr_model *m;
    hr_error err;
    hr_ctx_params cp = hr_ctx_params_default();
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &m, &err), &err);
    for (int k = 0; k < hr_model_num_blocks(m); k++)
        json_object_set_new(gam, hr_model_block(m, k).name, json_integer(hr_gamma_deploy(hr_model_block(m, k).live)));
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    want = lut_sum("lut4.json", gam, 7, 1, 1);
    json_decref(gam);
    target = json_number_value(json_object_get(em, "target_ms_per_frame"));
    if (fabs(target - want) > 1e-5)
        fail_msg("target %.9f ms per frame, the LUT gives %.9f", target, want);
    json_decref(j);

    /* flat without a LUT: each unit F x its own time here */
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --frames 3 --warmup 0 --edge-slowdown 2 -o f.json", 0,
                  out_text, "edge emulated (slowdown x 2, measured x factor)");
    j = load_json("f.json");
    em = json_object_get(j, "edge_emulation");
    assert_true(json_is_null(json_object_get(em, "lut")) || !json_object_get(em, "lut"));
    double host = json_number_value(json_object_get(em, "host_ms_per_frame"));
    target = json_number_value(json_object_get(em, "target_ms_per_frame"));
    assert_true(fabs(target - 2 * host) < 1e-5);
    json_decref(j);

    /* raw: the head only quantises; only the framing is emulated, on the
     * link thread, which an in-process run has not, and the report says so */
    HR_EXPECT_CLI(dir, "infer --in-process --deploy raw.json --frames 2 --warmup 0 --edge-slowdown 2 -o r.json", 0,
                  out_text, "edge emulated");
    j = load_json("r.json");
    assert_int_equal(json_integer_value(get(j, "edge_emulation", "units_per_frame")), 0);
    char *notes = json_dumps(json_object_get(j, "notes"), 0);
    assert_non_null(strstr(notes, "only the framing (T_frame) is emulated"));
    assert_non_null(strstr(notes, "none in-process"));
    assert_int_equal(json_integer_value(json_object_get(get(j, "edge_emulation", "framing"), "frames")), 0);
    free(notes);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_warning_without_flags),
        cmocka_unit_test(test_emulated_runs),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
