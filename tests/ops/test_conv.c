// ctest-labels: numeric
/* Fast convolution and element-wise kernels against the reference kernels.
 * Tolerances are stated per kernel below (TOL_GEMM, TOL_WINO). */
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

/* How one case is run: algorithm, kernel instruction set, threads, weight
 * mode, size hint and epilogue. */
typedef struct run_opts {
    hr_conv_algo algo;
    hr_conv_isa isa;
    int threads;
    int low_memory;
    int hint;          /* pass the input size as the params' hint */
    unsigned flags;
    double tol;
    float *out;        /* when set, receives a copy of the output */
} run_opts;

static int64_t case_out(const conv_case *cc, int64_t in)
{
    return hr_conv_out_size(in, cc->k, cc->stride, cc->k / 2);
}

/* Runs one case against the reference with a workspace of exactly
 * hr_conv_workspace_bytes bytes (so the sanitizer build catches any
 * overrun). Returns 0 when the instruction set is not available here. */
static int run_case_opts(const conv_case *cc, const run_opts *o)
{
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_ctx *ctx;
    hr_test_rng rng;
    hr_conv_desc d = {cc->cin, cc->cout, cc->k, cc->stride, cc->k / 2, cc->groups};
    int64_t oh = case_out(cc, cc->h), ow = case_out(cc, cc->w);
    int64_t nx = cc->n * cc->cin * cc->h * cc->w, ny = cc->n * cc->cout * oh * ow;
    int64_t nw = cc->cout * (cc->cin / cc->groups) * d.k * d.k;
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)cc->cout);
    float *y = malloc(sizeof(float) * (size_t)ny), *yr = malloc(sizeof(float) * (size_t)ny);
    hr_conv *conv = NULL;
    hr_conv_params p = hr_conv_params_default();
    char what[200];
    void *ws = NULL;
    size_t wsb;
    hr_status st;

    cp.threads = o->threads;
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
    HR_ASSERT_OK(hr_conv2d_ref(&d, &tx, w, b, o->flags, &tyr, &err), &err);
    p.algo = o->algo;
    p.isa = o->isa;
    p.low_memory = o->low_memory;
    if (o->hint)
        p.height = cc->h, p.width = cc->w;
    st = hr_conv_create(ctx, &d, w, b, &p, &conv, &err);
    if (st == HR_ERR_UNSUPPORTED && o->isa != HR_CONV_ISA_AUTO && o->isa != HR_CONV_ISA_GENERIC) {
        hr_ctx_destroy(ctx);
        free(x), free(w), free(b), free(y), free(yr);
        return 0;
    }
    HR_ASSERT_OK(st, &err);
    /* the object must not keep the caller's weights */
    memset(w, 0, sizeof(float) * (size_t)nw);
    wsb = hr_conv_workspace_bytes(conv, cc->n, cc->h, cc->w, o->threads);
    assert_int_equal(posix_memalign(&ws, 64, wsb ? wsb : 64), 0);
    HR_ASSERT_OK(hr_conv_run(ctx, conv, &tx, o->flags, &ty, ws, &err), &err);
    snprintf(what, sizeof what,
             "conv n%lld cin%lld cout%lld %lldx%lld k%d s%d g%d algo%d->%d isa %s threads%d flags%u lowmem%d",
             (long long)cc->n, (long long)cc->cin, (long long)cc->cout, (long long)cc->h, (long long)cc->w, cc->k,
             cc->stride, cc->groups, (int)o->algo, (int)hr_conv_get_algo(conv), hr_conv_get_isa_name(conv),
             o->threads, o->flags, o->low_memory);
    HR_ASSERT_CLOSE(&ty, &tyr, o->tol, what);
    if (o->out)
        memcpy(o->out, y, sizeof(float) * (size_t)ny);

    free(ws);
    hr_conv_destroy(conv);
    hr_ctx_destroy(ctx);
    free(x), free(w), free(b), free(y), free(yr);
    return 1;
}

static void run_case(const conv_case *cc, hr_conv_algo algo, int threads, double tol, unsigned flags)
{
    run_opts o = {algo, HR_CONV_ISA_AUTO, threads, 0, 0, flags, tol, NULL};
    run_case_opts(cc, &o);
}

/* GEMM edge cases: strided 1x1 (sampled copy) over more than 16 output
 * columns, the 3-channel stem gather, odd channel counts, groups. */
static const conv_case gemm_cases[] = {
    {1, 21, 70, 9, 37, 1, 2, 1},  {1, 19, 33, 40, 35, 3, 2, 1}, {1, 3, 64, 37, 41, 3, 2, 1},
    {1, 40, 24, 9, 33, 1, 1, 2},  {2, 17, 18, 16, 17, 1, 2, 1}, {1, 64, 130, 19, 18, 3, 2, 2},
};

/* Tolerances (max|out - ref| / max|ref|): 1e-5 for GEMM (float accumulation
 * over up to 3456 terms against the reference's double), 1e-4 for every
 * Winograd kind (the transforms scale rounding by up to their matrices'
 * norms, largest for F(4x4,3x3)'s +-8 and 1/24 coefficients; the stride-2
 * form's are 0/+-1 but its sums are longer). */
#define TOL_GEMM 1e-5
#define TOL_WINO 1e-4

static void test_conv_gemm(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 1; t <= 3; t++)
            run_case(&cases[i], HR_CONV_ALGO_GEMM, t, TOL_GEMM, (unsigned)(i % 4));
}

/* AUTO with and without the size hint (which changes the choices). */
static void test_conv_auto(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 1; t <= 2; t++) {
            run_opts o = {HR_CONV_ALGO_AUTO, HR_CONV_ISA_AUTO, t, 0, t == 2, (unsigned)((i + 1) % 4), TOL_WINO, NULL};
            run_case_opts(&cases[i], &o);
        }
    for (size_t i = 0; i < sizeof gemm_cases / sizeof gemm_cases[0]; i++) {
        run_opts o = {HR_CONV_ALGO_AUTO, HR_CONV_ISA_AUTO, 2, 0, 1, (unsigned)(i % 4), TOL_WINO, NULL};
        run_case_opts(&gemm_cases[i], &o);
    }
}

static void test_conv_winograd(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], HR_CONV_ALGO_WINOGRAD, 2, TOL_WINO, (unsigned)((i + 2) % 4));
}

/* Winograd edge cases: outputs that are not multiples of the tile (and
 * smaller than one tile), 1x1 and 2x2 inputs, channel counts that are not
 * multiples of 16 or of the 64-channel panel, several panels, groups. */
static const conv_case wino_cases[] = {
    {1, 1, 1, 1, 1, 3, 1, 1},      {1, 3, 2, 2, 2, 3, 1, 1},     {1, 17, 19, 1, 2, 3, 1, 1},
    {1, 5, 7, 3, 3, 3, 1, 1},      {2, 20, 9, 5, 7, 3, 1, 1},    {1, 31, 33, 13, 11, 3, 1, 1},
    {1, 70, 130, 9, 10, 3, 1, 1},  {1, 48, 96, 7, 7, 3, 1, 2},   {1, 96, 96, 6, 5, 3, 1, 4},
    {1, 40, 200, 4, 4, 3, 1, 8},   {1, 300, 70, 6, 6, 3, 1, 1},  {1, 16, 16, 30, 29, 3, 1, 1},
};

/* The same for the stride-2 form: even and odd sizes (the last input row or
 * column is then a lone odd or even phase), 1x1 to 3x3 inputs. */
static const conv_case wino_s2_cases[] = {
    {1, 1, 1, 1, 1, 3, 2, 1},      {1, 3, 2, 2, 2, 3, 2, 1},     {1, 17, 19, 3, 4, 3, 2, 1},
    {1, 5, 7, 5, 5, 3, 2, 1},      {2, 20, 9, 9, 10, 3, 2, 1},   {1, 31, 33, 13, 11, 3, 2, 1},
    {1, 70, 130, 17, 18, 3, 2, 1}, {1, 48, 96, 14, 14, 3, 2, 2}, {1, 96, 96, 12, 11, 3, 2, 4},
    {1, 300, 70, 8, 8, 3, 2, 1},   {1, 16, 16, 57, 56, 3, 2, 1},
};

static void test_conv_winograd_edges(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof wino_s2_cases / sizeof wino_s2_cases[0]; i++)
        for (int t = 1; t <= 3; t += 2) {
            run_opts o = {HR_CONV_ALGO_WINOGRAD_S2, HR_CONV_ISA_AUTO, t, (int)(i % 3 == 1), 0, (unsigned)(i % 4),
                          TOL_WINO, NULL};
            run_case_opts(&wino_s2_cases[i], &o);
        }
    const hr_conv_algo algos[] = {HR_CONV_ALGO_WINOGRAD_F2, HR_CONV_ALGO_WINOGRAD_F4};
    for (size_t i = 0; i < sizeof wino_cases / sizeof wino_cases[0]; i++)
        for (int a = 0; a < 2; a++)
            for (int t = 1; t <= 3; t += 2) {
                run_opts o = {algos[a], HR_CONV_ISA_AUTO, t, (int)(i % 3 == 0), 0, (unsigned)((i + a) % 4),
                              TOL_WINO, NULL};
                run_case_opts(&wino_cases[i], &o);
            }
}

/* Every kernel instruction set this CPU has (the portable one always), every
 * path, plain and low-memory weights. */
static void test_conv_isas(void **state)
{
    (void)state;
    const hr_conv_algo algos[] = {HR_CONV_ALGO_GEMM, HR_CONV_ALGO_WINOGRAD_F2, HR_CONV_ALGO_WINOGRAD_F4,
                                  HR_CONV_ALGO_WINOGRAD_S2};
    for (int isa = HR_CONV_ISA_GENERIC; isa < HR_CONV_ISA_COUNT; isa++) {
        int ran = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i += 3)
            for (int a = 0; a < 4; a++) {
                run_opts o = {algos[a], (hr_conv_isa)isa, 2, (int)(i % 2), 0, (unsigned)(i % 4),
                              a ? TOL_WINO : TOL_GEMM, NULL};
                ran += run_case_opts(&cases[i], &o);
            }
        for (size_t i = 0; i < sizeof wino_cases / sizeof wino_cases[0]; i += 2) {
            run_opts o = {HR_CONV_ALGO_WINOGRAD_F4, (hr_conv_isa)isa, 1, 0, 0, 3, TOL_WINO, NULL};
            ran += run_case_opts(&wino_cases[i], &o);
        }
        for (size_t i = 0; i < sizeof wino_s2_cases / sizeof wino_s2_cases[0]; i += 2) {
            run_opts o = {HR_CONV_ALGO_WINOGRAD_S2, (hr_conv_isa)isa, 2, (int)(i % 4 == 0), 0, 1, TOL_WINO, NULL};
            ran += run_case_opts(&wino_s2_cases[i], &o);
        }
        for (size_t i = 0; i < sizeof gemm_cases / sizeof gemm_cases[0]; i++)
            for (int t = 1; t <= 2; t++) {
                run_opts o = {HR_CONV_ALGO_GEMM, (hr_conv_isa)isa, t, (int)(i % 2), 0, (unsigned)(i % 4), TOL_GEMM, NULL};
                ran += run_case_opts(&gemm_cases[i], &o);
            }
        print_message("conv isa %d: %d cases\n", isa, ran);
    }
}

/* The result may not depend on the thread count (static partition, fixed
 * summation order per element): outputs of 1, 2 and 3 threads are
 * bit-identical, for every path. */
static void test_conv_thread_invariance(void **state)
{
    (void)state;
    const conv_case cc[] = {{1, 40, 70, 17, 15, 3, 1, 2}, {1, 64, 96, 11, 12, 3, 2, 1}, {1, 33, 130, 9, 9, 1, 1, 1}};
    const hr_conv_algo algos[] = {HR_CONV_ALGO_GEMM, HR_CONV_ALGO_WINOGRAD_F2, HR_CONV_ALGO_WINOGRAD_F4,
                                  HR_CONV_ALGO_WINOGRAD_S2};
    for (size_t i = 0; i < sizeof cc / sizeof cc[0]; i++)
        for (int a = 0; a < 4; a++) {
            size_t ny = (size_t)(cc[i].n * cc[i].cout * case_out(&cc[i], cc[i].h) * case_out(&cc[i], cc[i].w));
            float *y1 = malloc(ny * sizeof(float)), *yt = malloc(ny * sizeof(float));
            for (int t = 1; t <= 3; t++) {
                run_opts o = {algos[a], HR_CONV_ISA_AUTO, t, 0, 0, HR_EPI_RELU, TOL_WINO, t == 1 ? y1 : yt};
                run_case_opts(&cc[i], &o);
                if (t > 1)
                    assert_memory_equal(y1, yt, ny * sizeof(float));
            }
            free(y1), free(yt);
        }
}

/* AUTO's choices, and the weight memory each mode keeps. */
static void test_conv_auto_choice_and_memory(void **state)
{
    hr_error err = {0};
    hr_ctx *ctx;
    (void)state;
    HR_ASSERT_OK(hr_ctx_create(NULL, &ctx, &err), &err);
    struct {
        hr_conv_desc d;
        int64_t hw;
        hr_conv_algo want;
    } t[] = {
        {{192, 192, 3, 1, 1, 1}, 56, HR_CONV_ALGO_WINOGRAD_F4}, {{384, 384, 3, 1, 1, 2}, 28, HR_CONV_ALGO_WINOGRAD_F4},
        {{384, 384, 3, 1, 1, 1}, 28, HR_CONV_ALGO_WINOGRAD_F2},
        {{768, 768, 3, 1, 1, 1}, 14, HR_CONV_ALGO_WINOGRAD_F2}, {{64, 64, 3, 1, 1, 1}, 0, HR_CONV_ALGO_WINOGRAD_F2},
        {{64, 64, 3, 1, 1, 1}, 2, HR_CONV_ALGO_GEMM},           {{3, 64, 3, 1, 1, 1}, 224, HR_CONV_ALGO_GEMM},
        {{192, 384, 3, 2, 1, 1}, 56, HR_CONV_ALGO_WINOGRAD_S2}, {{192, 192, 1, 1, 0, 1}, 56, HR_CONV_ALGO_GEMM},
        {{768, 2560, 3, 2, 1, 1}, 14, HR_CONV_ALGO_GEMM},       {{192, 384, 3, 2, 1, 1}, 0, HR_CONV_ALGO_GEMM},
        {{64, 256, 3, 2, 1, 4}, 112, HR_CONV_ALGO_WINOGRAD_S2},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const hr_conv_desc *d = &t[i].d;
        size_t wn = (size_t)(d->cout * (d->cin / d->groups) * d->k * d->k), cout = (size_t)d->cout;
        float *w = calloc(wn, sizeof(float));
        hr_conv_params p = hr_conv_params_default();
        hr_conv *conv;
        p.height = p.width = t[i].hw;
        HR_ASSERT_OK(hr_conv_create(ctx, d, w, NULL, &p, &conv, &err), &err);
        assert_int_equal(hr_conv_get_algo(conv), t[i].want);
        /* only the packed copy: depth x panel-rounded cout (cout/groups is a
         * multiple of 64 here, except the 3-channel stem's 64) */
        size_t e = t[i].want == HR_CONV_ALGO_WINOGRAD_F4   ? 36
                   : t[i].want == HR_CONV_ALGO_WINOGRAD_S2 ? 25
                   : t[i].want == HR_CONV_ALGO_WINOGRAD_F2 ? 16
                                                            : 9;
        if (d->k == 1)
            e = 1;
        assert_int_equal(hr_conv_packed_bytes(conv), (wn / (size_t)(d->k * d->k) * e + cout) * sizeof(float));
        hr_conv_destroy(conv);
        p.low_memory = 1;
        HR_ASSERT_OK(hr_conv_create(ctx, d, w, NULL, &p, &conv, &err), &err);
        assert_int_equal(hr_conv_packed_bytes(conv), (wn + cout) * sizeof(float));
        hr_conv_destroy(conv);
        free(w);
    }
    hr_ctx_destroy(ctx);
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
        cmocka_unit_test(test_conv_winograd_edges),
        cmocka_unit_test(test_conv_isas),
        cmocka_unit_test(test_conv_thread_invariance),
        cmocka_unit_test(test_conv_auto_choice_and_memory),
        cmocka_unit_test(test_conv_rejects_bad_shapes),
        cmocka_unit_test(test_eltwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
