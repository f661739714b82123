/* hyperrep lut measure | merge, roofline and report gamma end to end:
 * outputs, exit codes (0 ok, 1 failure, 2 usage), messages, and no output
 * file left behind by a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hr_test.h"
#include "hyperrep/lut.h"

#define ORIG HR_FIXTURES_DIR "/lut/original/"

HR_CLI_BUFFERS;
static char g_dir[512];

static int exists(const char *name)
{
    char p[700];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return stat(p, &st) == 0;
}

static const char *in_dir(const char *name)
{
    static char p[2][700];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", hr_test_tmpdir());
    return 0;
}

static void test_measure_merge_report(void **state)
{
    (void)state;
    hr_lut *lut = NULL;
    hr_device_lut *d = NULL;
    hr_error err = {0};

    HR_EXPECT_CLI(g_dir, "lut measure --role client --model repvgg-tiny --warmup 1 --repeat 5", 0, out_text,
                  "wrote lut_client.json: repvgg-tiny client LUT, 7 blocks, 1 thread");
    assert_non_null(strstr(out_text, "predicted whole model (median, deploy gamma)"));
    /* stderr is not a terminal here: plain progress lines. */
    assert_non_null(strstr(err_text, "lut measure: block 1/7 stage1.0 done"));
    assert_non_null(strstr(err_text, "lut measure: classifier"));
    HR_EXPECT_CLI(
        g_dir,
        "lut measure --role server --model tiny --threads 2 --warmup 1 --repeat 4 --passes 2 --stat mean -o s.json", 0,
        out_text, "2 threads");
    assert_non_null(strstr(err_text, "lut measure: pass 2/2 block 7/7 stage4.0 done"));
    assert_non_null(strstr(out_text, "(mean, deploy gamma)"));
    HR_ASSERT_OK(hr_device_lut_load(in_dir("s.json"), &d, &err), &err);
    assert_int_equal(d->threads, 2);
    assert_int_equal(d->passes, 2);
    hr_device_lut_destroy(d);

    HR_EXPECT_CLI(g_dir, "roofline --threads 2 --gemm-n 128 --copy-mb 4 --repeat 1 -o r.json", 0, out_text,
                  "wrote r.json");
    assert_non_null(strstr(out_text, "I_knee"));
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model tiny --in-forward --warmup 0 --repeat 2 -o f.json", 0,
                  out_text, "timed inside whole forwards");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut s.json --client-lut f.json -o mf.json", 0, out_text,
                  "client entries were timed inside");
    HR_EXPECT_CLI(g_dir,
                  "lut merge --server-lut s.json --client-lut lut_client.json --bandwidth-mbit 80 --latency-ms 2 "
                  "--per-message-ms 0.5 --roofline-server r.json --roofline-client r.json -o m.json",
                  0, out_text,
                  "wrote m.json: repvgg-tiny, 7 blocks, median of each entry, link 80.000 Mbit/s + 2.000 ms");
    HR_ASSERT_OK(hr_lut_load(in_dir("m.json"), &lut, &err), &err);
    assert_true(lut->link.bandwidth_mbit_s == 80 && lut->link.latency_ms == 2 && lut->link.per_message_ms == 0.5);
    assert_int_equal(lut->link.source, HR_BW_MBIT);
    assert_true(lut->roofline_measured[0] && lut->roofline_measured[1] && lut->peak_gflops[0] > 0);
    assert_true(lut->has_stage_times && lut->threads[HR_DEVICE_SERVER] == 2);
    hr_lut_destroy(lut);
    lut = NULL;

    /* The original's link file: k and b, bandwidth 8000 / k Mbit/s. */
    HR_EXPECT_CLI(g_dir,
                  "lut merge --server-lut s.json --client-lut lut_client.json --stat mean --link " ORIG "lut_comm_model.json",
                  0, out_text, "wrote hardware_lut_complete.json");
    assert_non_null(strstr(out_text, "8000 / k"));
    HR_ASSERT_OK(hr_lut_load(in_dir("hardware_lut_complete.json"), &lut, &err), &err);
    assert_true(fabs(lut->link.bandwidth_mbit_s - 8000 / 0.0823) < 1e-8 * 8000 / 0.0823 && lut->link.latency_ms == 1.37);
    assert_int_equal(lut->stat, HR_LUT_STAT_MEAN);
    hr_lut_destroy(lut);

    /* A named link and hand-given knees (SPEC 13.3), and the min statistic. */
    HR_EXPECT_CLI(g_dir,
                  "lut merge --server-lut s.json --client-lut lut_client.json --link-profile WIFI-N --knee-server 25.15 "
                  "--knee-client 16.1 --stat min -o named.json",
                  0, out_text, "link wifi-n 40.000 Mbit/s + 2.000 ms");
    assert_non_null(strstr(out_text, "(server override, client override)"));
    HR_ASSERT_OK(hr_lut_load(in_dir("named.json"), &lut, &err), &err);
    assert_string_equal(lut->link.profile, "wifi-n");
    assert_true(lut->link.bandwidth_mbit_s == 40 && lut->link.latency_ms == 2);
    assert_true(lut->i_knee[HR_DEVICE_SERVER] == 25.15 && lut->i_knee[HR_DEVICE_CLIENT] == 16.1);
    assert_int_equal(lut->roofline_source[HR_DEVICE_SERVER], HR_ROOF_OVERRIDE);
    assert_false(lut->roofline_measured[HR_DEVICE_SERVER]);
    assert_int_equal(lut->stat, HR_LUT_STAT_MIN);
    hr_lut_destroy(lut);
    lut = NULL;
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --link-profile dial-up", 2, err_text,
                  "link profile 'dial-up' is not known (known: wifi-n");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --link-profile wifi-n --bandwidth-mbit 1 --latency-ms 1", 2,
                  err_text, "exclusive");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --knee-server 3 --roofline-server r.json", 2, err_text,
                  "--roofline-server and --knee-server are exclusive");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --knee-client -1", 2, err_text, "--knee-client: '-1'");
    HR_EXPECT_CLI(g_dir, "lut profiles", 0, out_text, "rpi4");
    assert_non_null(strstr(out_text, "wifi-n "));
    assert_non_null(strstr(out_text, "ethernet-1g"));

    HR_EXPECT_CLI(g_dir, "report gamma --lut m.json", 0, out_text,
                  "wrote full_gamma_analysis.md: repvgg-tiny, 7 blocks x 2 devices");
    assert_true(exists("full_gamma_analysis.md"));
    HR_EXPECT_CLI(g_dir, "report gamma --lut " ORIG "hardware_lut_complete.json -o orig.md", 0, out_text,
                  "RepVGG-B3, 27 blocks");
    /* The original's per-device files merge too. */
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut " ORIG "lut_server.json --client-lut " ORIG "lut_client.json -o om.json", 0,
                  out_text, "has no median_ms");
}

static void test_errors(void **state)
{
    (void)state;
    /* Usage errors: 2. */
    HR_EXPECT_CLI(g_dir, "lut", 2, err_text, "usage: hyperrep lut measure");
    HR_EXPECT_CLI(g_dir, "lut frob", 2, err_text, "unknown subcommand 'frob'");
    HR_EXPECT_CLI(g_dir, "lut --help", 0, out_text, "usage: hyperrep lut measure");
    HR_EXPECT_CLI(g_dir, "lut measure --help", 0, out_text, "usage: hyperrep lut measure");
    HR_EXPECT_CLI(g_dir, "lut measure --model repvgg-tiny", 2, err_text, "--role server|client is required");
    HR_EXPECT_CLI(g_dir, "lut measure --role edge --model repvgg-tiny", 2, err_text, "(got 'edge')");
    HR_EXPECT_CLI(g_dir, "lut measure --role client", 2, err_text, "--model is required");
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model tiny --repeat 3 --passes 4", 2, err_text,
                  "--passes 4 is more than");
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model tiny --repeat 0", 2, err_text, "--repeat");
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model tiny --stat mode", 2, err_text, "--stat: 'mode'");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a.json", 2, err_text, "--server-lut and --client-lut are required");
    /* the old spellings name the new ones */
    HR_EXPECT_CLI(g_dir, "lut merge --server a.json --client-lut b.json", 2, err_text, "--server is now --server-lut");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a.json --client b.json", 2, err_text, "--client is now --client-lut");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --bandwidth-mbit 10", 2, err_text, "go together");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --bandwidth-mbit 10 --latency-ms 1 --link l.json", 2,
                  err_text, "exclusive");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --bandwidth-mbit 0 --latency-ms 1", 2, err_text,
                  "--bandwidth-mbit: '0'");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut a --client-lut b --latency-ms x --bandwidth-mbit 1", 2, err_text,
                  "--latency-ms: 'x'");
    HR_EXPECT_CLI(g_dir, "report", 2, err_text, "usage: hyperrep report gamma");
    HR_EXPECT_CLI(g_dir, "report gamma", 2, err_text, "--lut is required");
    HR_EXPECT_CLI(g_dir, "report frob", 2, err_text, "unknown report 'frob'");
    HR_EXPECT_CLI(g_dir, "roofline --gemm-n 3", 2, err_text, "--gemm-n");
    /* Failures: 1, the file and the place named, no output written. */
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model repvgg-nope", 1, err_text, "unknown model 'repvgg-nope'");
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model tiny --weights nope.safetensors", 1, err_text,
                  "nope.safetensors");
    hr_test_write_file(in_dir("broken.json"), "{\n  \"metadata\": {\n    \"model\": \"RepVGG-B3\",,\n", 45);
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut broken.json --client-lut " ORIG "lut_client.json -o never.json", 1, err_text,
                  "broken.json:3:26: string or");
    assert_false(exists("never.json"));
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut " ORIG "lut_client.json --client-lut " ORIG "lut_client.json -o never.json", 1,
                  err_text, "a client LUT (T_client) given as the server file");
    assert_false(exists("never.json"));
    HR_EXPECT_CLI(g_dir, "lut measure --role server --model repvgg-tiny-g2 --warmup 0 --repeat 2 -o g2.json", 0,
                  out_text, "wrote");
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model repvgg-tiny --warmup 0 --repeat 2 -o t.json", 0, out_text,
                  "wrote");
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut g2.json --client-lut t.json -o never.json", 1, err_text,
                  "are for different models: metadata.model repvgg-tiny-g2 vs repvgg-tiny");
    assert_false(exists("never.json"));
    HR_EXPECT_CLI(g_dir, "lut merge --server-lut g2.json --client-lut t.json --link missing.json -o never.json", 1, err_text,
                  "missing.json");
    HR_EXPECT_CLI(g_dir, "report gamma --lut t.json -o never.md", 1, err_text, "T_server: missing (not a merged LUT?");
    assert_false(exists("never.md"));
    HR_EXPECT_CLI(g_dir, "lut measure --role client --model tiny --repeat 2 -o /nonexistent/dir/x.json", 1, err_text,
                  "/nonexistent/dir/x.json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_measure_merge_report, setup),
        cmocka_unit_test_setup(test_errors, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
