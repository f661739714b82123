/* The hyperrep binary end to end: exit codes, outputs and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/weights.h"

HR_CLI_BUFFERS;

static void test_models(void **state)
{
    (void)state;
    HR_EXPECT_CLI(NULL, "models", 0, out_text, "repvgg-b3g4");
    HR_EXPECT_CLI(NULL, "models", 0, out_text, "110.961");
    HR_EXPECT_CLI(NULL, "models repvgg-b3", 0, out_text, "stage4.0");
    HR_EXPECT_CLI(NULL, "models repvgg-b3", 0, out_text, "52.418 GFLOPs");
    HR_EXPECT_CLI(NULL, "models b3 --input-size 256", 0, out_text, "[3,256,256]");
    HR_EXPECT_CLI(NULL, "models repvgg-nope", 1, err_text, "unknown model 'repvgg-nope'");
    HR_EXPECT_CLI(NULL, "models --input-size 0 b3", 2, err_text, "--input-size");
    HR_EXPECT_CLI(NULL, "models --help", 0, out_text, "usage: hyperrep models");
    HR_EXPECT_CLI(NULL, "frobnicate", 2, err_text, "unknown command 'frobnicate'");
}

static void test_forward_gamma_errors(void **state)
{
    (void)state;
    /* γ 13 needs an identity branch: stage1.0 (stride 2) has none. */
    HR_EXPECT_CLI(NULL, "forward --model repvgg-tiny --gamma 13", 1, err_text, "stage1.0");
    /* γ 4 fits stage1.0 (dense+1x1) but not stage1.1 (all three live). */
    HR_EXPECT_CLI(NULL, "forward --model repvgg-tiny --gamma FUSED_3_1", 1, err_text, "stage1.1");
    HR_EXPECT_CLI(NULL, "forward --model repvgg-tiny --gamma 14", 2, err_text, "'14'");
    HR_EXPECT_CLI(NULL, "forward --model repvgg-tiny --gamma deploy --repeat 3", 0, err_text, "forward_ms median=");
    HR_EXPECT_CLI(NULL, "forward --model repvgg-tiny --repeat 2 --threads 2", 0, err_text, "n=2 threads=2");
    HR_EXPECT_CLI(NULL, "forward --model repvgg-tiny --threads 0", 2, err_text, "--threads");
    HR_EXPECT_CLI(NULL, "forward --gamma 1", 2, err_text, "--model is required");
}

static void test_forward_gamma_file(void **state)
{
    char args[2048], cfg[600], out[600], bad[600];
    const char *dir = hr_test_tmpdir();
    (void)state;
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    snprintf(out, sizeof out, "%s/y.npy", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    /* The original's step 2 output shape: γ under optimal_gamma. stage2.1 has
     * its 1x1 pruned in the fixture, so γ 5 (PARA_3_I) is its valid parallel form. */
    const char *json = "{\"optimal_lambda\": 3, \"optimal_gamma\": {\"stage1.1\": 9, \"stage2.1\": \"PARA_3_I\", "
                       "\"stage3.1\": 12, \"stage1.0\": 3}}";
    hr_test_write_file(cfg, json, strlen(json));
    snprintf(args, sizeof args, "forward --model repvgg-tiny --weights %s/tiny.pth --input %s/tiny_input.npy "
             "--output %s --gamma-file %s", HR_FIXTURES_DIR, HR_FIXTURES_DIR, out, cfg);
    HR_EXPECT_CLI(NULL, args, 0, err_text, "");
    {
        hr_error err = {0};
        int nd, nd2;
        int64_t s[4], s2[4];
        float *y, *want;
        char path[600];
        snprintf(path, sizeof path, "%s/tiny_out.npy", HR_FIXTURES_DIR);
        HR_ASSERT_OK(hr_npy_load(out, &nd, s, &y, &err), &err);
        HR_ASSERT_OK(hr_npy_load(path, &nd2, s2, &want, &err), &err);
        hr_tensor a = hr_tensor_view(y, nd, s), b = hr_tensor_view(want, nd2, s2);
        assert_true(hr_tensor_same_shape(&a, &b));
        HR_ASSERT_CLOSE(&a, &b, 1e-4, "forward --gamma-file vs PyTorch");
        free(y), free(want);
    }
    const char *unknown = "{\"stage9.1\": 13}";
    hr_test_write_file(bad, unknown, strlen(unknown));
    snprintf(args, sizeof args, "forward --model repvgg-tiny --gamma-file %s", bad);
    HR_EXPECT_CLI(NULL, args, 1, err_text, "block 'stage9.1' does not exist");
    const char *invalid = "{\"gamma_config\": {\"stage2.0\": 13}}";
    hr_test_write_file(bad, invalid, strlen(invalid));
    HR_EXPECT_CLI(NULL, args, 1, err_text, "stage2.0: gamma 13 (FUSED_ALL) is invalid");
    const char *broken = "{\"stage1.1\": 13,\n  \"stage1.2\" 4}";
    hr_test_write_file(bad, broken, strlen(broken));
    HR_EXPECT_CLI(NULL, args, 1, err_text, "bad.json:2:");
}

static void test_forward_input_errors(void **state)
{
    char args[2048], path[600];
    const char *dir = hr_test_tmpdir();
    hr_error err = {0};
    float x[2 * 3 * 8 * 8] = {0};
    (void)state;
    snprintf(path, sizeof path, "%s/x.npy", dir);
    HR_ASSERT_OK(hr_npy_save(path, 4, (int64_t[]){2, 3, 8, 8}, x, &err), &err);
    snprintf(args, sizeof args, "forward --model repvgg-tiny --input %s", path);
    HR_EXPECT_CLI(NULL, args, 1, err_text, "[2, 3, 8, 8] does not fit repvgg-tiny");
    snprintf(args, sizeof args, "forward --model repvgg-tiny --input %s/nonexistent.npy", dir);
    HR_EXPECT_CLI(NULL, args, 1, err_text, "nonexistent.npy");
    snprintf(args, sizeof args, "forward --model repvgg-tiny --weights %s/tiny_g2.pth", HR_FIXTURES_DIR);
    HR_EXPECT_CLI(NULL, args, 1, err_text, "tiny_g2.pth");
}

static void test_convert(void **state)
{
    char args[2048], out[600], junk[600];
    const char *dir = hr_test_tmpdir();
    (void)state;
    snprintf(out, sizeof out, "%s/w.safetensors", dir);
    snprintf(junk, sizeof junk, "%s/junk.pth", dir);
    snprintf(args, sizeof args, "convert %s/tiny.pth %s --model repvgg-tiny", HR_FIXTURES_DIR, out);
    HR_EXPECT_CLI(NULL, args, 0, out_text, "130 tensors");
    assert_int_equal(access(out, F_OK), 0);
    hr_test_write_file(junk, "this is not a zip archive at all", 32);
    snprintf(out, sizeof out, "%s/never.safetensors", dir);
    snprintf(args, sizeof args, "convert %s %s", junk, out);
    HR_EXPECT_CLI(NULL, args, 1, err_text, "junk.pth");
    assert_int_not_equal(access(out, F_OK), 0); /* no partial output */
    snprintf(args, sizeof args, "convert %s/tiny.pth %s --model repvgg-b0", HR_FIXTURES_DIR, out);
    HR_EXPECT_CLI(NULL, args, 1, err_text, "tiny.pth");
    assert_int_not_equal(access(out, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_forward_gamma_errors),
        cmocka_unit_test(test_forward_gamma_file),
        cmocka_unit_test(test_forward_input_errors),
        cmocka_unit_test(test_convert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
