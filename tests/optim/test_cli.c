/* `hyperrep optimize` end to end: exit codes (0 ok, 1 failure, 2 usage),
 * the summary, the output file, warnings and every documented error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hr_test.h"

static char out_text[1 << 16], err_text[1 << 16], dir[512], lut_path[600], out_path[600];

/* Runs `hyperrep optimize <args>`; stdout and stderr land in out_text and
 * err_text. */
static int run(const char *args)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "optimize %s", args);
    return hr_test_run_cli(dir, cmd, out_text, sizeof out_text, err_text, sizeof err_text);
}

#define EXPECT(code, stream, needle, ...)                                                                        \
    do {                                                                                                         \
        char args_[4096];                                                                                        \
        snprintf(args_, sizeof args_, __VA_ARGS__);                                                              \
        int rc_ = run(args_);                                                                                    \
        if (rc_ != (code) || !strstr(stream, needle)) {                                                          \
            print_error("`hyperrep optimize %s` -> %d (want %d)\nstdout: %s\nstderr: %s\n(looked for '%s')\n", \
                        args_, rc_, code, out_text, err_text, needle);                                           \
            fail();                                                                                              \
        }                                                                                                        \
    } while (0)

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    snprintf(lut_path, sizeof lut_path, "%s/optim/lut_tx2_ref.json", HR_FIXTURES_DIR);
    snprintf(out_path, sizeof out_path, "%s/out.json", dir);
    return 0;
}

static void test_runs(void **state)
{
    (void)state;
    json_error_t jerr;
    EXPECT(0, out_text, "usage: hyperrep optimize", "--help");
    EXPECT(0, out_text, "wrote", "--lut %s -o %s --steps 200", lut_path, out_path);
    assert_non_null(strstr(out_text, "gd "));
    assert_non_null(strstr(out_text, "grid "));
    assert_non_null(strstr(out_text, "exact "));
    assert_non_null(strstr(out_text, "head = client"));
    json_t *root = json_load_file(out_path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_object_size(json_object_get(root, "results")), 3);
    assert_string_equal(json_string_value(json_object_get(root, "head")), "client");
    json_decref(root);

    EXPECT(0, out_text, "exact", "--lut %s -o %s --method exact --objective cycle --head server --quiet; cat %s",
           lut_path, out_path, out_path);
    assert_non_null(strstr(out_text, "\"head\": \"server\""));
    assert_non_null(strstr(out_text, "\"objective\": \"cycle\""));
    assert_null(strstr(out_text, "\"gd\""));
    EXPECT(0, out_text, "subset mask", "--lut %s -o %s --method gd --mask subset --steps 50", lut_path, out_path);
    EXPECT(0, out_text, "link 1000 Mbit/s + 0.5 ms",
           "--lut %s -o %s --method exact --bandwidth-mbit 1000 --latency-ms 0.5", lut_path, out_path);
    EXPECT(0, out_text, "gd ", "--lut %s -o %s --method gd --lambda 12 --z-offset 0 --link-streams --steps 50",
           lut_path, out_path);
    root = json_load_file(out_path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "optimal_lambda")), 12);
    assert_true(json_is_true(json_object_get(json_object_get(root, "metadata"), "lambda_fixed")));
    json_decref(root);
    /* a range reaching outside the model: clamped, with a warning */
    EXPECT(0, err_text, "warning: split range 20..40 does not fit the model (splits 0..27); searching 20..27",
           "--lut %s -o %s --method grid --min-split 20 --max-split 40 --steps 20", lut_path, out_path);
    /* pruned list */
    char pruned[700];
    snprintf(pruned, sizeof pruned, "%s/pruned.json", dir);
    hr_test_write_file(pruned, "[\"stage2.3.hyper_1x1\"]", strlen("[\"stage2.3.hyper_1x1\"]"));
    EXPECT(0, out_text, "wrote", "--lut %s -o %s --method exact --pruned %s", lut_path, out_path, pruned);
    root = json_load_file(out_path, 0, &jerr);
    assert_non_null(root);
    json_t *g = json_object_get(json_object_get(root, "optimal_gamma"), "stage2.3");
    assert_true(json_integer_value(g) == 5 || json_integer_value(g) == 6);
    json_decref(root);
}

static void test_errors(void **state)
{
    (void)state;
    char path[700];
    EXPECT(2, err_text, "--lut is required", "--method exact");
    EXPECT(2, err_text, "--method: 'fast' is not", "--lut %s --method fast", lut_path);
    EXPECT(2, err_text, "--objective: 'speed'", "--lut %s --objective speed", lut_path);
    EXPECT(2, err_text, "--head: 'edge'", "--lut %s --head edge", lut_path);
    EXPECT(2, err_text, "--bandwidth-mbit: 0 Mbit/s is not positive", "--lut %s --bandwidth-mbit 0", lut_path);
    EXPECT(2, err_text, "--bandwidth-mbit: -3 Mbit/s is not positive", "--lut %s --bandwidth-mbit -3", lut_path);
    EXPECT(2, err_text, "--bandwidth-mbit: 'fast'", "--lut %s --bandwidth-mbit fast", lut_path);
    EXPECT(2, err_text, "--lambda 40 is outside the model (splits 0..27)", "--lut %s --lambda 40 -o %s", lut_path,
           out_path);
    EXPECT(2, err_text, "use one of them", "--lut %s --lambda 4 --lambda-init N", lut_path);
    EXPECT(2, err_text, "--steps", "--lut %s --steps -4", lut_path);
    EXPECT(2, err_text, "apply to --pruned only", "--lut %s --domain 3", lut_path);
    EXPECT(1, err_text, "split range 30..40 lies outside the model",
           "--lut %s -o %s --method grid --min-split 30 --max-split 40", lut_path, out_path);
    EXPECT(1, err_text, "nonexistent.json", "--lut %s/nonexistent.json -o %s", dir, out_path);

    /* pruned lists naming unknown blocks or branches, or emptying a block */
    snprintf(path, sizeof path, "%s/bad_pruned.json", dir);
    hr_test_write_file(path, "[\"stage5.0.hyper_dense\"]", strlen("[\"stage5.0.hyper_dense\"]"));
    EXPECT(1, err_text, "names block stage5.0, which the LUT does not have", "--lut %s -o %s --pruned %s", lut_path,
           out_path, path);
    /* the original's virtual identity is skipped with a note (SPEC 13.7) */
    hr_test_write_file(path, "[\"stage1.0.hyper_identity\"]", strlen("[\"stage1.0.hyper_identity\"]"));
    EXPECT(0, err_text, "ignored 1 hyper_identity entry of blocks without an identity branch",
           "--lut %s -o %s --pruned %s --quiet", lut_path, out_path, path);
    const char *both = "[\"stage4.0.hyper_dense\", \"stage4.0.hyper_1x1\"]";
    hr_test_write_file(path, both, strlen(both));
    EXPECT(1, err_text, "leaves block stage4.0 without a live branch", "--lut %s -o %s --pruned %s", lut_path,
           out_path, path);

    /* a LUT with an entry missing, and one with a non-positive bandwidth */
    json_error_t jerr;
    json_t *root = json_load_file(lut_path, 0, &jerr);
    assert_non_null(root);
    json_array_set_new(json_object_get(json_object_get(root, "T_client"), "stage2.3"), 9, json_real(-1));
    snprintf(path, sizeof path, "%s/holey.json", dir);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    EXPECT(1, err_text, "stage2.3", "--lut %s -o %s", path, out_path);
    assert_non_null(strstr(err_text, "gamma 9"));
    json_decref(root);
    root = json_load_file(lut_path, 0, &jerr);
    json_object_set_new(json_object_get(root, "bandwidth"), "bandwidth_mbit_s", json_real(0));
    snprintf(path, sizeof path, "%s/nolink.json", dir);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    EXPECT(1, err_text, "bandwidth", "--lut %s -o %s", path, out_path);
    json_decref(root);
    /* a block missing from the file */
    root = json_load_file(lut_path, 0, &jerr);
    const char *secs[] = {"T_server", "T_client", "Comm_size", "Intensity"};
    for (int i = 0; i < 4; i++)
        json_object_del(json_object_get(root, secs[i]), "stage3.4");
    json_object_del(json_object_get(json_object_get(root, "block_shapes"), "input"), "stage3.4");
    json_object_del(json_object_get(json_object_get(root, "block_shapes"), "output"), "stage3.4");
    snprintf(path, sizeof path, "%s/short.json", dir);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    EXPECT(1, err_text, "stage3.4", "--lut %s -o %s", path, out_path);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
