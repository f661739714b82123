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

#include "hr_test.h"

HR_CLI_BUFFERS;
static char dir[512], lut_path[600], out_path[600];

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
    HR_EXPECT_CLI(dir, "optimize --help", 0, out_text, "usage: hyperrep optimize");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s --steps 200", lut_path, out_path), 0, out_text, "wrote");
    assert_non_null(strstr(out_text, "gd "));
    assert_non_null(strstr(out_text, "grid "));
    assert_non_null(strstr(out_text, "exact "));
    assert_non_null(strstr(out_text, "head = client"));
    json_t *root = json_load_file(out_path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_object_size(json_object_get(root, "results")), 3);
    assert_string_equal(json_string_value(json_object_get(root, "head")), "client");
    json_decref(root);

    HR_EXPECT_CLI(dir,
                  hr_test_fmt("optimize --lut %s -o %s --method exact --objective cycle --head server --quiet; cat %s",
                              lut_path, out_path, out_path),
                  0, out_text, "exact");
    assert_non_null(strstr(out_text, "\"head\": \"server\""));
    assert_non_null(strstr(out_text, "\"objective\": \"cycle\""));
    assert_null(strstr(out_text, "\"gd\""));
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s --method gd --mask subset --steps 50", lut_path, out_path),
                  0, out_text, "subset mask");
    HR_EXPECT_CLI(dir,
                  hr_test_fmt("optimize --lut %s -o %s --method exact --bandwidth-mbit 1000 --latency-ms 0.5", lut_path,
                              out_path),
                  0, out_text, "link 1000 Mbit/s + 0.5 ms");
    HR_EXPECT_CLI(dir,
                  hr_test_fmt("optimize --lut %s -o %s --method gd --lambda 12 --z-offset 0 --link-streams --steps 50",
                              lut_path, out_path),
                  0, out_text, "gd ");
    root = json_load_file(out_path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "optimal_lambda")), 12);
    assert_true(json_is_true(json_object_get(json_object_get(root, "metadata"), "lambda_fixed")));
    json_decref(root);
    /* a range reaching outside the model: clamped, with a warning */
    HR_EXPECT_CLI(dir,
                  hr_test_fmt("optimize --lut %s -o %s --method grid --min-split 20 --max-split 40 --steps 20",
                              lut_path, out_path),
                  0, err_text, "warning: split range 20..40 does not fit the model (splits 0..27); searching 20..27");
    /* pruned list */
    char pruned[700];
    snprintf(pruned, sizeof pruned, "%s/pruned.json", dir);
    hr_test_write_file(pruned, "[\"stage2.3.hyper_1x1\"]", strlen("[\"stage2.3.hyper_1x1\"]"));
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s --method exact --pruned %s", lut_path, out_path, pruned), 0,
                  out_text, "wrote");
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
    HR_EXPECT_CLI(dir, "optimize --method exact", 2, err_text, "--lut is required");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --method fast", lut_path), 2, err_text,
                  "--method: 'fast' is not");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --objective speed", lut_path), 2, err_text,
                  "--objective: 'speed'");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --head edge", lut_path), 2, err_text, "--head: 'edge'");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --bandwidth-mbit 0", lut_path), 2, err_text,
                  "--bandwidth-mbit: 0 Mbit/s is not positive");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --bandwidth-mbit -3", lut_path), 2, err_text,
                  "--bandwidth-mbit: -3 Mbit/s is not positive");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --bandwidth-mbit fast", lut_path), 2, err_text,
                  "--bandwidth-mbit: 'fast'");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --lambda 40 -o %s", lut_path, out_path), 2, err_text,
                  "--lambda 40 is outside the model (splits 0..27)");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --lambda 4 --lambda-init N", lut_path), 2, err_text,
                  "use one of them");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --steps -4", lut_path), 2, err_text, "--steps");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s --domain 3", lut_path), 2, err_text, "apply to --pruned only");
    HR_EXPECT_CLI(
        dir, hr_test_fmt("optimize --lut %s -o %s --method grid --min-split 30 --max-split 40", lut_path, out_path), 1,
        err_text, "split range 30..40 lies outside the model");
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s/nonexistent.json -o %s", dir, out_path), 1, err_text,
                  "nonexistent.json");

    /* pruned lists naming unknown blocks or branches, or emptying a block */
    snprintf(path, sizeof path, "%s/bad_pruned.json", dir);
    hr_test_write_file(path, "[\"stage5.0.hyper_dense\"]", strlen("[\"stage5.0.hyper_dense\"]"));
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s --pruned %s", lut_path, out_path, path), 1, err_text,
                  "names block stage5.0, which the LUT does not have");
    /* the original's virtual identity is skipped with a note (SPEC 13.7) */
    hr_test_write_file(path, "[\"stage1.0.hyper_identity\"]", strlen("[\"stage1.0.hyper_identity\"]"));
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s --pruned %s --quiet", lut_path, out_path, path), 0,
                  err_text, "ignored 1 hyper_identity entry of blocks without an identity branch");
    const char *both = "[\"stage4.0.hyper_dense\", \"stage4.0.hyper_1x1\"]";
    hr_test_write_file(path, both, strlen(both));
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s --pruned %s", lut_path, out_path, path), 1, err_text,
                  "leaves block stage4.0 without a live branch");

    /* a LUT with an entry missing, and one with a non-positive bandwidth */
    json_error_t jerr;
    json_t *root = json_load_file(lut_path, 0, &jerr);
    assert_non_null(root);
    json_array_set_new(json_object_get(json_object_get(root, "T_client"), "stage2.3"), 9, json_real(-1));
    snprintf(path, sizeof path, "%s/holey.json", dir);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s", path, out_path), 1, err_text, "stage2.3");
    assert_non_null(strstr(err_text, "gamma 9"));
    json_decref(root);
    root = json_load_file(lut_path, 0, &jerr);
    json_object_set_new(json_object_get(root, "bandwidth"), "bandwidth_mbit_s", json_real(0));
    snprintf(path, sizeof path, "%s/nolink.json", dir);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s", path, out_path), 1, err_text, "bandwidth");
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
    HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s -o %s", path, out_path), 1, err_text, "stage3.4");
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
