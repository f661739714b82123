/* A part of a model (the tail of a split) keeps no weights of the blocks it
 * does not run: hr_model_drop_unapplied frees them, the applied blocks still
 * compute what a whole model computes, and the dropped ones refuse to run or
 * take a γ. Memory is counted through the context's allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/model.h"

typedef struct counter {
    size_t live;
} counter;

/* Every block carries its size in front of the caller's aligned pointer. */
static void *count_alloc(void *user, size_t bytes, size_t align)
{
    counter *c = user;
    size_t pad = align < 64 ? 64 : align;
    unsigned char *raw = aligned_alloc(pad, ((pad + bytes + pad - 1) / pad) * pad);
    if (!raw)
        return NULL;
    memcpy(raw + pad - sizeof(size_t), &bytes, sizeof bytes);
    memcpy(raw + pad - 2 * sizeof(size_t), &pad, sizeof pad);
    c->live += bytes;
    return raw + pad;
}

static void count_free(void *user, void *ptr)
{
    counter *c = user;
    size_t bytes, pad;
    if (!ptr)
        return;
    memcpy(&bytes, (unsigned char *)ptr - sizeof(size_t), sizeof bytes);
    memcpy(&pad, (unsigned char *)ptr - 2 * sizeof(size_t), sizeof pad);
    c->live -= bytes;
    free((unsigned char *)ptr - pad);
}

static void test_tail_drops_head_weights(void **state)
{
    (void)state;
    counter cnt = {0};
    hr_allocator al = {count_alloc, count_free, &cnt};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx, *ref_ctx;
    hr_model *tail, *whole;
    hr_error err = {0};
    cp.allocator = &al;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    HR_ASSERT_OK(hr_ctx_create(NULL, &ref_ctx, &err), &err);
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", NULL, &tail, &err), &err);
    HR_ASSERT_OK(hr_model_create(ref_ctx, "repvgg-tiny", NULL, &whole, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(tail, 5, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(whole, 5, &err), &err);
    const int n = hr_model_num_blocks(tail), s = 3;
    for (int k = s; k < n; k++)
        HR_ASSERT_OK(hr_model_apply_gamma(tail, k, hr_gamma_deploy(hr_model_block(tail, k).live), HR_MASK_EXACT, NULL,
                                          &err),
                     &err);
    HR_ASSERT_OK(hr_model_apply_deploy(whole, &err), &err);
    hr_model_drop_sources(tail);
    size_t before = cnt.live;
    hr_model_drop_unapplied(tail);
    /* at least the head blocks' 3x3 weights are gone */
    size_t head_dense = 0;
    for (int k = 0; k < s; k++) {
        hr_block_info bi = hr_model_block(tail, k);
        head_dense += sizeof(float) * (size_t)(bi.cout * (bi.cin / bi.groups) * 9);
    }
    assert_true(before - cnt.live >= head_dense);

    /* the tail still computes what the whole model computes from block s on */
    HR_ASSERT_OK(hr_model_plan(tail, 1, &err), &err);
    HR_ASSERT_OK(hr_model_plan(whole, 1, &err), &err);
    hr_block_info bs = hr_model_block(whole, s), bl = hr_model_block(whole, n - 1);
    int64_t xn = bs.cin * bs.in_h * bs.in_w, yn = bl.cout * bl.out_h * bl.out_w;
    float *x = malloc(sizeof(float) * (size_t)xn), *y1 = malloc(sizeof(float) * (size_t)yn),
          *y2 = malloc(sizeof(float) * (size_t)yn);
    assert_non_null(x);
    assert_non_null(y1);
    assert_non_null(y2);
    hr_test_rng rng;
    hr_test_rng_seed(&rng, 9);
    hr_test_fill(&rng, x, xn, -1, 1);
    hr_tensor tx = hr_tensor_4d(x, 1, bs.cin, bs.in_h, bs.in_w), t1 = hr_tensor_4d(y1, 1, bl.cout, bl.out_h, bl.out_w),
              t2 = hr_tensor_4d(y2, 1, bl.cout, bl.out_h, bl.out_w);
    HR_ASSERT_OK(hr_model_forward_range(tail, s, n, &tx, &t1, &err), &err);
    HR_ASSERT_OK(hr_model_forward_range(whole, s, n, &tx, &t2, &err), &err);
    assert_memory_equal(y1, y2, sizeof(float) * (size_t)yn);

    /* the dropped blocks neither run nor take a γ */
    hr_block_info b0 = hr_model_block(tail, 0);
    assert_int_equal(hr_model_apply_gamma(tail, 0, hr_gamma_deploy(b0.live), HR_MASK_EXACT, NULL, &err),
                     HR_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, b0.name));
    free(x), free(y1), free(y2);
    hr_model_destroy(tail);
    hr_model_destroy(whole);
    assert_int_equal(cnt.live, 0);
    hr_ctx_destroy(ctx);
    hr_ctx_destroy(ref_ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tail_drops_head_weights)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
