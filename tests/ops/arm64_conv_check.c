/* Cross-architecture check of the convolution kernels, without cmocka or
 * OpenBLAS so it links with nothing but libc: every fast path (GEMM in both
 * orientations, Winograd F2/F4/S2, AUTO with the size hint), plain and
 * low-memory weights, 1 and 2 threads, against hr_conv2d_ref. Built and run
 * for ARM64 by scripts/check-conv-arm64.sh; exits non-zero on a failure.
 * Tolerances as in test_conv.c: 1e-5 (GEMM) and 1e-4 (Winograd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/ops.h"

static unsigned seed = 1;

static float rnd(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / 16777216.0f - 0.5f;
}

/* n, cin, cout, h, w, k, stride, groups */
static const int cases[][8] = {
    {1, 3, 8, 9, 9, 3, 1, 1},     {1, 33, 31, 17, 19, 3, 1, 1}, {2, 7, 5, 11, 13, 3, 2, 1},
    {1, 16, 16, 9, 7, 3, 1, 4},   {1, 13, 17, 5, 6, 1, 1, 1},   {2, 16, 32, 7, 7, 1, 2, 1},
    {1, 70, 130, 9, 10, 3, 1, 1}, {1, 48, 96, 14, 14, 3, 2, 2}, {1, 3, 64, 37, 41, 3, 2, 1},
    {1, 21, 70, 9, 37, 1, 2, 1},  {1, 64, 64, 28, 28, 3, 1, 1}, {1, 5, 3, 1, 1, 3, 1, 1},
    {1, 17, 19, 1, 2, 3, 1, 1},   {1, 40, 24, 9, 33, 1, 1, 2},
};

static int run(hr_ctx *ctx, const int *c, hr_conv_algo algo, int low, unsigned flags, int threads)
{
    hr_error err = {0};
    hr_conv_desc d = {c[1], c[2], c[5], c[6], c[5] / 2, c[7]};
    int64_t oh = hr_conv_out_size(c[3], d.k, d.stride, d.pad), ow = hr_conv_out_size(c[4], d.k, d.stride, d.pad);
    int64_t nx = (int64_t)c[0] * c[1] * c[3] * c[4], ny = c[0] * c[2] * oh * ow;
    int64_t nw = (int64_t)c[2] * (c[1] / c[7]) * d.k * d.k;
    float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)c[2] * 4);
    float *y = malloc((size_t)ny * 4), *yr = malloc((size_t)ny * 4);
    hr_conv_params p = hr_conv_params_default();
    hr_conv *conv;
    int bad = 0;

    for (int64_t i = 0; i < nx; i++)
        x[i] = rnd();
    for (int64_t i = 0; i < nw; i++)
        w[i] = rnd();
    for (int i = 0; i < c[2]; i++)
        b[i] = rnd();
    for (int64_t i = 0; i < ny; i++)
        y[i] = yr[i] = rnd();
    hr_tensor tx = hr_tensor_4d(x, c[0], c[1], c[3], c[4]);
    hr_tensor ty = hr_tensor_4d(y, c[0], c[2], oh, ow), tr = hr_tensor_4d(yr, c[0], c[2], oh, ow);
    p.algo = algo;
    p.low_memory = low;
    if (algo == HR_CONV_ALGO_AUTO)
        p.height = c[3], p.width = c[4];
    if (hr_conv2d_ref(&d, &tx, w, b, flags, &tr, &err) || hr_conv_create(ctx, &d, w, b, &p, &conv, &err)) {
        printf("error: %s\n", err.msg);
        exit(1);
    }
    if (hr_conv_run(ctx, conv, &tx, flags, &ty, NULL, &err)) {
        printf("error: %s\n", err.msg);
        exit(1);
    }
    double e = hr_tensor_rel_error(&ty, &tr), tol = hr_conv_get_algo(conv) == HR_CONV_ALGO_GEMM ? 1e-5 : 1e-4;
    if (!(e <= tol)) {
        printf("FAIL cin %d cout %d %dx%d k%d s%d g%d algo %d low %d threads %d isa %s: %g > %g\n", c[1], c[2], c[3],
               c[4], c[5], c[6], c[7], (int)hr_conv_get_algo(conv), low, threads, hr_conv_get_isa_name(conv), e, tol);
        bad = 1;
    }
    hr_conv_destroy(conv);
    free(x), free(w), free(b), free(y), free(yr);
    return bad;
}

int main(void)
{
    const hr_conv_algo algos[] = {HR_CONV_ALGO_GEMM, HR_CONV_ALGO_WINOGRAD_F2, HR_CONV_ALGO_WINOGRAD_F4,
                                  HR_CONV_ALGO_WINOGRAD_S2, HR_CONV_ALGO_AUTO};
    int bad = 0, runs = 0;
    for (int t = 1; t <= 2; t++) {
        hr_ctx_params cp = hr_ctx_params_default();
        hr_ctx *ctx;
        hr_error err = {0};
        cp.threads = t;
        if (hr_ctx_create(&cp, &ctx, &err)) {
            printf("error: %s\n", err.msg);
            return 1;
        }
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int a = 0; a < 5; a++)
                for (int low = 0; low < 2; low++, runs++)
                    bad += run(ctx, cases[i], algos[a], low, (unsigned)((i + (size_t)a) % 4), t);
        hr_ctx_destroy(ctx);
    }
    printf("%d passed, %d failed\n", runs - bad, bad);
    return bad != 0;
}
