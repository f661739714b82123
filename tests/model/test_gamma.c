// ctest-labels: numeric
/* Consistency (SPEC §3): for random weights, random BN statistics and random
 * α, every γ valid for a block's live-branch set computes the same function
 * as the unfused training-time block, within 1e-4 relative error
 * (max|out - ref| / max|ref|). Also: γ application never touches α, invalid
 * γ are errors naming the block, and deploy γ per live set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/model.h"

/* Replaces the model's BN statistics and α by random values (via export/load,
 * the public path). */
static void randomise(hr_model *m, uint64_t seed)
{
    hr_error err = {0};
    hr_tensor_map *src, *dst;
    hr_test_rng rng;
    hr_test_rng_seed(&rng, seed);
    HR_ASSERT_OK(hr_tensor_map_create(&src, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_create(&dst, &err), &err);
    HR_ASSERT_OK(hr_model_export(m, src, &err), &err);
    for (size_t i = 0; i < hr_tensor_map_count(src); i++) {
        const hr_named_tensor *t = hr_tensor_map_at(src, i);
        int64_t n = hr_named_tensor_numel(t);
        float *v = malloc(sizeof(float) * (size_t)n);
        memcpy(v, t->data, sizeof(float) * (size_t)n);
        const char *suffix = strrchr(t->name, '.') + 1;
        if (strcmp(suffix, "running_var") == 0)
            hr_test_fill(&rng, v, n, 0.5f, 2.0f);
        else if (strcmp(suffix, "running_mean") == 0 || strcmp(suffix, "bias") == 0)
            hr_test_fill(&rng, v, n, -0.3f, 0.3f);
        else if (strcmp(suffix, "weight") == 0 && !strstr(t->name, "conv") && !strstr(t->name, "linear"))
            hr_test_fill(&rng, v, n, 0.4f, 1.4f);
        else if (strncmp(suffix, "hyper_", 6) == 0)
            hr_test_fill(&rng, v, n, 0.2f, 1.5f);
        HR_ASSERT_OK(hr_tensor_map_add(dst, t->name, t->ndim, t->shape, v, &err), &err);
        free(v);
    }
    HR_ASSERT_OK(hr_model_load(m, dst, &err), &err);
    hr_tensor_map_destroy(src);
    hr_tensor_map_destroy(dst);
}

/* Checks every γ valid for every non-empty live subset of block i. */
static void check_block(hr_model *m, int i, hr_test_rng *rng)
{
    hr_error err = {0};
    hr_block_info info = hr_model_block(m, i);
    int64_t B = 2, nx = B * info.cin * info.in_h * info.in_w, ny = B * info.cout * info.out_h * info.out_w;
    float *x = malloc(sizeof(float) * (size_t)nx), *y = malloc(sizeof(float) * (size_t)ny);
    float *yr = malloc(sizeof(float) * (size_t)ny);
    hr_tensor tx = hr_tensor_4d(x, B, info.cin, info.in_h, info.in_w);
    hr_tensor ty = hr_tensor_4d(y, B, info.cout, info.out_h, info.out_w);
    hr_tensor tyr = hr_tensor_4d(yr, B, info.cout, info.out_h, info.out_w);
    float trained[HR_BRANCH_COUNT];
    memcpy(trained, info.alpha, sizeof trained);
    hr_test_fill(rng, x, nx, -1, 1);

    for (unsigned live = 1; live <= HR_BR_ALL; live++) {
        if (live & ~info.existing)
            continue;
        float alpha[HR_BRANCH_COUNT];
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            alpha[br] = (live & (1u << br)) ? trained[br] : 0.0f;
        HR_ASSERT_OK(hr_model_block_forward_unfused(m, i, alpha, &tx, &tyr, &err), &err);
        int tested = 0;
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            char what[128];
            if (!hr_gamma_valid(g, live, HR_MASK_EXACT)) {
                assert_int_equal(hr_model_apply_gamma(m, i, g, HR_MASK_EXACT, alpha, &err), HR_ERR_INVALID_ARG);
                assert_non_null(strstr(err.msg, info.name));
                continue;
            }
            HR_ASSERT_OK(hr_model_apply_gamma(m, i, g, HR_MASK_EXACT, alpha, &err), &err);
            memset(y, 0xff, sizeof(float) * (size_t)ny); /* NaN: stale output cannot pass */
            HR_ASSERT_OK(hr_model_forward_range(m, i, i + 1, &tx, &ty, &err), &err);
            snprintf(what, sizeof what, "%s %s gamma %d (%s) live %u", hr_model_arch(m)->name, info.name, g,
                     hr_gamma_get(g)->name, live);
            HR_ASSERT_CLOSE(&ty, &tyr, 1e-4, what);
            tested++;
        }
        assert_int_equal(tested, __builtin_popcount(live) == 1 ? 1 : __builtin_popcount(live) == 2 ? 2 : 5);
        /* Applying γ with an override never changes the trained α. */
        hr_block_info after = hr_model_block(m, i);
        assert_memory_equal(after.alpha, trained, sizeof trained);
    }
    free(x), free(y), free(yr);
}

static void check_model(const char *arch, int64_t size, int first, int last, int threads)
{
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_model_params mp = hr_model_params_default();
    hr_ctx *ctx;
    hr_model *m;
    hr_test_rng rng;
    cp.threads = threads;
    mp.input_size = size;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, arch, &mp, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 5, &err), &err);
    randomise(m, 11);
    hr_test_rng_seed(&rng, 3);
    if (last < 0)
        last = hr_model_num_blocks(m) - 1;
    for (int i = first; i <= last; i++)
        check_block(m, i, &rng);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

static void test_consistency_tiny(void **state)
{
    (void)state;
    check_model("repvgg-tiny", 48, 0, -1, 1);
}

static void test_consistency_grouped(void **state)
{
    (void)state;
    check_model("repvgg-tiny-g2", 48, 0, -1, 2);
}

static void test_consistency_groups4(void **state)
{
    (void)state;
    /* B1g4: stage1.1 (layer 2, groups 4, identity) and stage1.2 (ungrouped). */
    check_model("repvgg-b1g4", 32, 1, 2, 2);
}

static void test_consistency_fmnist(void **state)
{
    (void)state;
    check_model("repvgg-fmnist", 28, 0, -1, 1);
}

static void test_gamma_table(void **state)
{
    (void)state;
    assert_int_equal(hr_gamma_deploy(HR_BR_ALL), 13);
    assert_int_equal(hr_gamma_deploy(HR_BR_DENSE | HR_BR_1X1), 4);
    assert_int_equal(hr_gamma_deploy(HR_BR_DENSE | HR_BR_IDENTITY), 6);
    assert_int_equal(hr_gamma_deploy(HR_BR_1X1 | HR_BR_IDENTITY), 8);
    assert_int_equal(hr_gamma_deploy(HR_BR_DENSE), 0);
    assert_int_equal(hr_gamma_deploy(HR_BR_1X1), 1);
    assert_int_equal(hr_gamma_deploy(HR_BR_IDENTITY), 2);
    assert_int_equal(hr_gamma_deploy(0), -1);
    assert_int_equal(hr_gamma_parse("FUSED_ALL"), 13);
    assert_int_equal(hr_gamma_parse("para_3_i"), 5);
    assert_int_equal(hr_gamma_parse("12"), 12);
    assert_int_equal(hr_gamma_parse("14"), -1);
    assert_int_equal(hr_gamma_parse("1x"), -1);
    /* Subset mask: γ 0 is valid for any live set containing dense; exact only for {dense}. */
    assert_true(hr_gamma_valid(0, HR_BR_ALL, HR_MASK_SUBSET));
    assert_false(hr_gamma_valid(0, HR_BR_ALL, HR_MASK_EXACT));
    assert_false(hr_gamma_valid(5, HR_BR_DENSE | HR_BR_1X1, HR_MASK_SUBSET));
    int exact_counts[8] = {0};
    for (unsigned live = 1; live < 8; live++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            exact_counts[live] += hr_gamma_valid(g, live, HR_MASK_EXACT);
    for (unsigned live = 1; live < 8; live++)
        assert_int_equal(exact_counts[live], live == 7 ? 5 : __builtin_popcount(live) == 2 ? 2 : 1);
}

static void test_alpha_rules(void **state)
{
    hr_error err = {0};
    hr_ctx *ctx;
    hr_model *m;
    (void)state;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 1, &err), &err);
    int b = hr_model_find_block(m, "stage1.1");
    assert_int_equal(b, 1);
    assert_int_equal(hr_model_find_block(m, "stage9.9"), -1);
    /* stage1.0 has stride 2: no identity branch. */
    assert_int_equal(hr_model_set_alpha(m, 0, HR_BRANCH_IDENTITY, 0.5f, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "stage1.0"));
    HR_ASSERT_OK(hr_model_set_alpha(m, b, HR_BRANCH_DENSE, 0, &err), &err);
    HR_ASSERT_OK(hr_model_set_alpha(m, b, HR_BRANCH_1X1, 0, &err), &err);
    /* The last live branch can never be pruned. */
    assert_int_equal(hr_model_set_alpha(m, b, HR_BRANCH_IDENTITY, 0, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "without a live branch"));
    HR_ASSERT_OK(hr_model_apply_deploy(m, &err), &err);
    assert_int_equal(hr_model_block(m, b).gamma, HR_GAMMA_SOLO_ID);
    assert_int_equal(hr_model_block(m, 0).gamma, HR_GAMMA_FUSED_3_1);
    /* γ 13 needs all three live: exact mask rejects it naming the block. */
    assert_int_equal(hr_model_apply_gamma(m, b, 13, HR_MASK_EXACT, NULL, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "stage1.1"));
    assert_non_null(strstr(err.msg, "identity"));
    /* The subset mask allows dropping live branches only, never adding pruned ones. */
    assert_int_equal(hr_model_apply_gamma(m, b, 13, HR_MASK_SUBSET, NULL, &err), HR_ERR_INVALID_ARG);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gamma_table),
        cmocka_unit_test(test_alpha_rules),
        cmocka_unit_test(test_consistency_tiny),
        cmocka_unit_test(test_consistency_grouped),
        cmocka_unit_test(test_consistency_groups4),
        cmocka_unit_test(test_consistency_fmnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
