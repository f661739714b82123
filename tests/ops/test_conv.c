// ctest-labels: numeric
/* Fast convolution and element-wise kernels against the reference kernels.
 * Tolerance: 1e-5 relative for GEMM paths (float accumulation over K <= 3456
 * terms vs the reference's double accumulation), 1e-4 for Winograd paths
 * (transforms amplify rounding by roughly the transform matrices' norms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/ops.h"

typedef struct conv_case {
    int64_t n, cin, cout, h, w;
    int k, stride, groups;
} conv_case;

static const conv_case cases[] = {
    {1, 3, 8, 9, 9, 3, 1, 1},      {1, 16, 16, 14, 14, 3, 1, 1},  {2, 7, 5, 11, 13, 3, 2, 1},
    {1, 8, 8, 10, 10, 3, 1, 2},    {1, 16, 16, 9, 7, 3, 1, 4},    {1, 12, 20, 15, 15, 3, 2, 4},
    {1, 13, 17, 5, 6, 1, 1, 1},    {2, 16, 32, 7, 7, 1, 2, 1},    {1, 8, 8, 6, 6, 1, 1, 2},
    {1, 24, 24, 8, 8, 1, 2, 4},    {1, 33, 31, 17, 19, 3, 1, 1},  {1, 64, 64, 28, 28, 3, 1, 1},
    {1, 48, 96, 56, 56, 3, 2, 1},  {1, 5, 3, 1, 1, 3, 1, 1},      {1, 4, 4, 2, 3, 3, 2, 1},
    {3, 6, 9, 23, 5, 3, 1, 3},
};

static void run_case(const conv_case *cc, hr_conv_algo algo, int threads, double tol, unsigned flags)
{
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_test_rng rng;
    hr_conv_desc d = {cc->cin, cc->cout, cc->k, cc->stride, cc->k / 2, cc->groups};
    int64_t oh = hr_conv_out_size(cc->h, d.k, d.stride, d.pad), ow = hr_conv_out_size(cc->w, d.k, d.stride, d.pad);
    int64_t nx = cc->n * cc->cin * cc->h * cc->w, ny = cc->n * cc->cout * oh * ow;
    int64_t nw = cc->cout * (cc->cin / cc->groups) * d.k * d.k;
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)cc->cout);
    float *y = malloc(sizeof(float) * (size_t)ny), *yr = malloc(sizeof(float) * (size_t)ny);
    hr_conv *conv = NULL;
    hr_conv_params p = hr_conv_params_default();
    char what[160];

    cp.threads = threads;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    hr_test_rng_seed(&rng, (uint64_t)(cc->cin * 131 + cc->h));
    hr_test_fill(&rng, x, nx, -1, 1);
    hr_test_fill(&rng, w, nw, -0.5f, 0.5f);
    hr_test_fill(&rng, b, cc->cout, -1, 1);
    hr_test_fill(&rng, y, ny, -1, 1);
    for (int64_t i = 0; i < ny; i++)
        yr[i] = y[i];

    hr_tensor tx = hr_tensor_4d(x, cc->n, cc->cin, cc->h, cc->w);
    hr_tensor ty = hr_tensor_4d(y, cc->n, cc->cout, oh, ow), tyr = hr_tensor_4d(yr, cc->n, cc->cout, oh, ow);
    HR_ASSERT_OK(hr_conv2d_ref(&d, &tx, w, b, flags, &tyr, &err), &err);
    p.algo = algo;
    HR_ASSERT_OK(hr_conv_create(ctx, &d, w, b, &p, &conv, &err), &err);
    HR_ASSERT_OK(hr_conv_run(ctx, conv, &tx, flags, &ty, NULL, &err), &err);
    snprintf(what, sizeof what, "conv n%lld cin%lld cout%lld %lldx%lld k%d s%d g%d algo%d threads%d flags%u",
             (long long)cc->n, (long long)cc->cin, (long long)cc->cout, (long long)cc->h, (long long)cc->w, cc->k,
             cc->stride, cc->groups, (int)algo, threads, flags);
    HR_ASSERT_CLOSE(&ty, &tyr, tol, what);

    hr_conv_destroy(conv);
    hr_ctx_destroy(ctx);
    free(x), free(w), free(b), free(y), free(yr);
}

static void test_conv_gemm(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 1; t <= 3; t++)
            run_case(&cases[i], HR_CONV_ALGO_GEMM, t, 1e-5, (unsigned)(i % 4));
}

static void test_conv_auto(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 1; t <= 2; t++)
            run_case(&cases[i], HR_CONV_ALGO_AUTO, t, 1e-4, (unsigned)((i + 1) % 4));
}

static void test_conv_winograd(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], HR_CONV_ALGO_WINOGRAD, 2, 1e-4, (unsigned)((i + 2) % 4));
}

static void test_conv_rejects_bad_shapes(void **state)
{
    hr_error err = {0};
    hr_ctx *ctx;
    hr_conv *conv;
    float w[4 * 3 * 9] = {0}, x[3 * 5 * 5] = {0}, y[4 * 5 * 5];
    hr_conv_desc d = {3, 4, 3, 1, 1, 1}, bad = {3, 4, 3, 1, 1, 2};
    (void)state;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    assert_int_equal(hr_conv_create(ctx, &bad, w, NULL, NULL, &conv, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "groups"));
    HR_ASSERT_OK(hr_conv_create(ctx, &d, w, NULL, NULL, &conv, &err), &err);
    hr_tensor tx = hr_tensor_4d(x, 1, 3, 5, 5), ty = hr_tensor_4d(y, 1, 4, 4, 5);
    assert_int_equal(hr_conv_run(ctx, conv, &tx, 0, &ty, NULL, &err), HR_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "output"));
    hr_conv_destroy(conv);
    hr_ctx_destroy(ctx);
}

static void test_eltwise(void **state)
{
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_test_rng rng;
    enum { N = 2, C = 5, H = 7, W = 3, O = 9 };
    float x[N * C * H * W], s[C], b[C], y[N * C * H * W], yr[N * C * H * W];
    float p[N * C], pr[N * C], lw[O * C], lb[O], l[N * O], lr[N * O];
    (void)state;
    cp.threads = 2;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    hr_test_rng_seed(&rng, 7);
    hr_test_fill(&rng, x, N * C * H * W, -1, 1);
    hr_test_fill(&rng, s, C, -1, 1);
    hr_test_fill(&rng, b, C, -1, 1);
    hr_test_fill(&rng, lw, O * C, -1, 1);
    hr_test_fill(&rng, lb, O, -1, 1);
    hr_tensor tx = hr_tensor_4d(x, N, C, H, W), ty = hr_tensor_4d(y, N, C, H, W), tyr = hr_tensor_4d(yr, N, C, H, W);
    for (unsigned flags = 0; flags < 4; flags++) {
        hr_test_fill(&rng, y, N * C * H * W, -1, 1);
        memcpy(yr, y, sizeof y);
        hr_affine(ctx, &tx, s, b, flags, &ty);
        hr_affine_ref(&tx, s, b, flags, &tyr);
        HR_ASSERT_CLOSE(&ty, &tyr, 1e-6, "affine");
    }
    memcpy(yr, x, sizeof x);
    memcpy(y, x, sizeof x);
    hr_relu(ctx, &ty);
    hr_relu_ref(&tyr);
    HR_ASSERT_CLOSE(&ty, &tyr, 0, "relu");
    hr_tensor tp = hr_tensor_view(p, 2, (int64_t[]){N, C}), tpr = hr_tensor_view(pr, 2, (int64_t[]){N, C});
    hr_global_avgpool(ctx, &tx, &tp);
    hr_global_avgpool_ref(&tx, &tpr);
    HR_ASSERT_CLOSE(&tp, &tpr, 1e-6, "avgpool");
    hr_tensor tl = hr_tensor_view(l, 2, (int64_t[]){N, O}), tlr = hr_tensor_view(lr, 2, (int64_t[]){N, O});
    hr_linear(ctx, &tp, lw, lb, &tl);
    hr_linear_ref(&tp, lw, lb, &tlr);
    HR_ASSERT_CLOSE(&tl, &tlr, 1e-6, "linear");
    int64_t idx[N];
    hr_argmax(&tlr, idx);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            assert_true(lr[n * O + o] <= lr[n * O + idx[n]]);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_gemm),
        cmocka_unit_test(test_conv_auto),
        cmocka_unit_test(test_conv_winograd),
        cmocka_unit_test(test_conv_rejects_bad_shapes),
        cmocka_unit_test(test_eltwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
