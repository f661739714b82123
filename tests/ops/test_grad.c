// ctest-labels: numeric
/* Backward kernels: every reference gradient against central finite
 * differences of the forward reference (double loss), and every fast CNHW
 * kernel against its reference, with 1 and 2 threads giving bit-identical
 * results. Shapes are small; they include stride 2, groups 2 and 4, 1x1 and
 * 3x3 kernels and padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr_test.h"
#include "hyperrep/ops.h"

#define FD_EPS 1e-3
#define FD_TOL 2e-3   /* max |analytic - numeric| / max |numeric| */

/* A loss L(params) = sum(r * f(...)) evaluated by a callback. */
typedef double (*loss_fn)(void *user);

/* Compares grad[0..n) with central differences of loss w.r.t. p[0..n). */
static void fd_check(const char *what, float *p, const float *grad, int64_t n, loss_fn f, void *user)
{
    double maxd = 0, maxn = 0;
    for (int64_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + (float)FD_EPS;
        double lp = f(user);
        p[i] = keep - (float)FD_EPS;
        double lm = f(user);
        p[i] = keep;
        double num = (lp - lm) / (2 * FD_EPS);
        double d = fabs(num - grad[i]);
        if (d > maxd)
            maxd = d;
        if (fabs(num) > maxn)
            maxn = fabs(num);
    }
    double rel = maxn > 0 ? maxd / maxn : maxd;
    if (rel > FD_TOL)
        fail_msg("%s: finite-difference mismatch %.3e (max |grad| %.3e)", what, rel, maxn);
}

static double wsum(const float *r, const float *y, int64_t n)
{
    double a = 0;
    for (int64_t i = 0; i < n; i++)
        a += (double)r[i] * y[i];
    return a;
}

/* ---- convolution ---- */

typedef struct conv_case {
    int64_t n, cin, cout, h, w;
    int k, stride, groups;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 4, 6, 5, 5, 3, 1, 1}, {2, 4, 4, 7, 6, 3, 2, 2}, {1, 8, 8, 5, 5, 1, 2, 4}, {2, 3, 5, 4, 4, 1, 1, 1},
    {1, 3, 4, 6, 6, 3, 2, 1}, {1, 8, 12, 4, 5, 3, 1, 4}, {2, 4, 6, 3, 3, 1, 1, 2},
};

typedef struct conv_state {
    hr_conv_desc d;
    hr_tensor x, y;
    float *w, *b, *r;
} conv_state;

static double conv_loss(void *u)
{
    conv_state *s = u;
    assert_int_equal(hr_conv2d_ref(&s->d, &s->x, s->w, s->b, 0, &s->y, NULL), HR_OK);
    return wsum(s->r, s->y.data, hr_tensor_numel(&s->y));
}

static void test_conv_fd(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof conv_cases / sizeof conv_cases[0]; ci++) {
        const conv_case *c = &conv_cases[ci];
        hr_test_rng rng;
        hr_error err = {0};
        conv_state s;
        char what[96];
        hr_test_rng_seed(&rng, 100 + ci);
        s.d = (hr_conv_desc){c->cin, c->cout, c->k, c->stride, c->k / 2, c->groups};
        int64_t oh = hr_conv_out_size(c->h, c->k, c->stride, c->k / 2), ow = hr_conv_out_size(c->w, c->k, c->stride, c->k / 2);
        int64_t nx = c->n * c->cin * c->h * c->w, ny = c->n * c->cout * oh * ow, nw = c->cout * (c->cin / c->groups) * c->k * c->k;
        float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx);
        s.w = malloc(sizeof(float) * nw), s.b = malloc(sizeof(float) * c->cout), s.r = malloc(sizeof(float) * ny);
        float *dw = malloc(sizeof(float) * nw), *db = malloc(sizeof(float) * c->cout);
        hr_test_fill(&rng, x, nx, -1, 1);
        hr_test_fill(&rng, s.w, nw, -1, 1);
        hr_test_fill(&rng, s.b, c->cout, -1, 1);
        hr_test_fill(&rng, s.r, ny, -1, 1);
        s.x = hr_tensor_4d(x, c->n, c->cin, c->h, c->w);
        s.y = hr_tensor_4d(y, c->n, c->cout, oh, ow);
        hr_tensor tdy = hr_tensor_4d(s.r, c->n, c->cout, oh, ow), tdx = hr_tensor_4d(dx, c->n, c->cin, c->h, c->w);
        HR_ASSERT_OK(hr_conv2d_backward_data_ref(&s.d, &tdy, s.w, 0, &tdx, &err), &err);
        HR_ASSERT_OK(hr_conv2d_backward_weights_ref(&s.d, &s.x, &tdy, 0, dw, db, &err), &err);
        snprintf(what, sizeof what, "conv case %zu k%d s%d g%d: dx", ci, c->k, c->stride, c->groups);
        fd_check(what, x, dx, nx, conv_loss, &s);
        snprintf(what, sizeof what, "conv case %zu k%d s%d g%d: dw", ci, c->k, c->stride, c->groups);
        fd_check(what, s.w, dw, nw, conv_loss, &s);
        snprintf(what, sizeof what, "conv case %zu: db", ci);
        fd_check(what, s.b, db, c->cout, conv_loss, &s);
        /* accumulation adds to what is there */
        float *dx2 = malloc(sizeof(float) * nx);
        for (int64_t i = 0; i < nx; i++)
            dx2[i] = 1.0f;
        hr_tensor tdx2 = hr_tensor_4d(dx2, c->n, c->cin, c->h, c->w);
        HR_ASSERT_OK(hr_conv2d_backward_data_ref(&s.d, &tdy, s.w, HR_EPI_ACCUMULATE, &tdx2, &err), &err);
        for (int64_t i = 0; i < nx; i++)
            assert_true(fabsf(dx2[i] - 1.0f - dx[i]) < 1e-5f);
        free(dx2), free(x), free(y), free(dx), free(s.w), free(s.b), free(s.r), free(dw), free(db);
    }
}

/* ---- BatchNorm (training mode) ---- */

typedef struct bn_state {
    hr_tensor x, y;
    float *g, *b, *r;
} bn_state;

static double bn_loss(void *u)
{
    bn_state *s = u;
    assert_int_equal(hr_batchnorm_train_ref(&s->x, s->g, s->b, 1e-5f, 0.1f, NULL, NULL, &s->y, NULL, NULL, NULL), HR_OK);
    return wsum(s->r, s->y.data, hr_tensor_numel(&s->y));
}

static void test_batchnorm_fd(void **state)
{
    (void)state;
    const int64_t N = 3, C = 4, H = 3, W = 2, n = N * C * H * W;
    hr_test_rng rng;
    hr_error err = {0};
    bn_state s;
    float x[72], y[72], r[72], dx[72], g[4], b[4], dg[4], db[4], mean[4], invstd[4];
    float rm[4] = {0.5f, -0.5f, 0, 1}, rv[4] = {1, 2, 0.5f, 1};
    hr_test_rng_seed(&rng, 7);
    hr_test_fill(&rng, x, n, -2, 2);
    hr_test_fill(&rng, r, n, -1, 1);
    hr_test_fill(&rng, g, C, 0.5f, 1.5f);
    hr_test_fill(&rng, b, C, -0.5f, 0.5f);
    s.x = hr_tensor_4d(x, N, C, H, W);
    s.y = hr_tensor_4d(y, N, C, H, W);
    s.g = g, s.b = b, s.r = r;
    HR_ASSERT_OK(hr_batchnorm_train_ref(&s.x, g, b, 1e-5f, 0.1f, rm, rv, &s.y, mean, invstd, &err), &err);
    /* running statistics: momentum 0.1, unbiased variance */
    for (int64_t c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < N; i++)
            for (int64_t p = 0; p < H * W; p++)
                m += x[(i * C + c) * H * W + p];
        m /= N * H * W;
        for (int64_t i = 0; i < N; i++)
            for (int64_t p = 0; p < H * W; p++)
                v += pow(x[(i * C + c) * H * W + p] - m, 2);
        float rm0[4] = {0.5f, -0.5f, 0, 1}, rv0[4] = {1, 2, 0.5f, 1};
        assert_true(fabs(rm[c] - (0.9 * rm0[c] + 0.1 * m)) < 1e-6);
        assert_true(fabs(rv[c] - (0.9 * rv0[c] + 0.1 * v / (N * H * W - 1))) < 1e-5);
        assert_true(fabs(invstd[c] - 1 / sqrt(v / (N * H * W) + 1e-5)) < 1e-4 * invstd[c]);
    }
    hr_tensor tdy = hr_tensor_4d(r, N, C, H, W), tdx = hr_tensor_4d(dx, N, C, H, W);
    HR_ASSERT_OK(hr_batchnorm_train_backward_ref(&s.x, &tdy, g, mean, invstd, 0, &tdx, dg, db, &err), &err);
    fd_check("batchnorm dx", x, dx, n, bn_loss, &s);
    fd_check("batchnorm dgamma", g, dg, C, bn_loss, &s);
    fd_check("batchnorm dbeta", b, db, C, bn_loss, &s);
    /* one value per channel is an error, as in PyTorch */
    hr_tensor one = hr_tensor_4d(x, 1, C, 1, 1), one_y = hr_tensor_4d(y, 1, C, 1, 1);
    assert_int_equal(hr_batchnorm_train_ref(&one, g, b, 1e-5f, 0.1f, NULL, NULL, &one_y, NULL, NULL, &err),
                     HR_ERR_INVALID_ARG);
}

/* ---- affine (BN inference), ReLU, pooling, linear, softmax cross-entropy ---- */

typedef struct small_state {
    hr_tensor x, y;
    float *a, *b, *r;
    int kind;
    const int64_t *labels;
} small_state;

static double small_loss(void *u)
{
    small_state *s = u;
    switch (s->kind) {
    case 0:
        hr_affine_ref(&s->x, s->a, s->b, 0, &s->y);
        break;
    case 1:
        memcpy(s->y.data, s->x.data, sizeof(float) * (size_t)hr_tensor_numel(&s->x));
        hr_relu_ref(&s->y);
        break;
    case 2:
        hr_global_avgpool_ref(&s->x, &s->y);
        break;
    case 3:
        hr_linear_ref(&s->x, s->a, s->b, &s->y);
        break;
    default: {
        double l;
        assert_int_equal(hr_softmax_xent_ref(&s->x, s->labels, &l, NULL, NULL), HR_OK);
        return l;
    }
    }
    return wsum(s->r, s->y.data, hr_tensor_numel(&s->y));
}

static void test_small_ops_fd(void **state)
{
    (void)state;
    hr_test_rng rng;
    hr_error err = {0};
    float x[60], y[60], r[60], dx[60], a[20], b[5], da[20], db[5];
    small_state s = {.a = a, .b = b, .r = r};
    hr_test_rng_seed(&rng, 11);
    hr_test_fill(&rng, x, 60, -1, 1);
    hr_test_fill(&rng, r, 60, -1, 1);
    hr_test_fill(&rng, a, 20, -1, 1);
    hr_test_fill(&rng, b, 5, -1, 1);

    /* affine = BN in inference mode: x [2, 3, 2, 5] */
    s.kind = 0;
    s.x = hr_tensor_4d(x, 2, 3, 2, 5);
    s.y = hr_tensor_4d(y, 2, 3, 2, 5);
    hr_tensor tdy = hr_tensor_4d(r, 2, 3, 2, 5), tdx = hr_tensor_4d(dx, 2, 3, 2, 5);
    hr_affine_backward_ref(&s.x, &tdy, a, 0, &tdx, da, db);
    fd_check("affine dx", x, dx, 60, small_loss, &s);
    fd_check("affine dscale", a, da, 3, small_loss, &s);
    fd_check("affine dshift", b, db, 3, small_loss, &s);

    /* ReLU, away from the kink */
    for (int i = 0; i < 60; i++)
        if (fabsf(x[i]) < 0.05f)
            x[i] = 0.3f;
    s.kind = 1;
    small_loss(&s);
    hr_relu_backward_ref(&s.y, &tdy, 0, &tdx);
    fd_check("relu dx", x, dx, 60, small_loss, &s);

    /* global average pooling: [2, 3, 2, 5] -> [2, 3] */
    s.kind = 2;
    s.y = hr_tensor_view(y, 2, (int64_t[]){2, 3});
    tdy = hr_tensor_view(r, 2, (int64_t[]){2, 3});
    hr_global_avgpool_backward_ref(&tdy, 0, &tdx);
    fd_check("avgpool dx", x, dx, 60, small_loss, &s);

    /* linear: x [3, 4], w [5, 4], b [5] */
    s.kind = 3;
    s.x = hr_tensor_view(x, 2, (int64_t[]){3, 4});
    s.y = hr_tensor_view(y, 2, (int64_t[]){3, 5});
    tdy = hr_tensor_view(r, 2, (int64_t[]){3, 5});
    tdx = hr_tensor_view(dx, 2, (int64_t[]){3, 4});
    hr_linear_backward_ref(&s.x, a, &tdy, 0, &tdx, da, db);
    fd_check("linear dx", x, dx, 12, small_loss, &s);
    fd_check("linear dw", a, da, 20, small_loss, &s);
    fd_check("linear db", b, db, 5, small_loss, &s);
    /* the BLAS version agrees */
    float dx2[12], da2[20], db2[5];
    hr_tensor tdx2 = hr_tensor_view(dx2, 2, (int64_t[]){3, 4});
    hr_linear_backward(NULL, &s.x, a, &tdy, 0, &tdx2, da2, db2);
    for (int i = 0; i < 12; i++)
        assert_true(fabsf(dx2[i] - dx[i]) < 1e-5f);
    for (int i = 0; i < 20; i++)
        assert_true(fabsf(da2[i] - da[i]) < 1e-5f);
    for (int i = 0; i < 5; i++)
        assert_true(fabsf(db2[i] - db[i]) < 1e-5f);

    /* softmax cross-entropy: logits [4, 5] */
    int64_t labels[4] = {0, 4, 2, 2};
    double loss;
    s.kind = 4;
    s.labels = labels;
    s.x = hr_tensor_view(x, 2, (int64_t[]){4, 5});
    tdx = hr_tensor_view(dx, 2, (int64_t[]){4, 5});
    HR_ASSERT_OK(hr_softmax_xent_ref(&s.x, labels, &loss, &tdx, &err), &err);
    fd_check("softmax cross-entropy dlogits", x, dx, 20, small_loss, &s);
    labels[3] = 5;
    assert_int_equal(hr_softmax_xent_ref(&s.x, labels, &loss, &tdx, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "sample 3"));
}

/* ---- fast CNHW kernels against the references ---- */

static void to_cnhw(const float *x, int64_t N, int64_t C, int64_t P, float *y)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            memcpy(y + (c * N + n) * P, x + (n * C + c) * P, sizeof(float) * (size_t)P);
}

static double max_rel(const float *a, const float *b, int64_t n)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d)
            d = fabs(a[i] - b[i]);
        if (fabs(b[i]) > m)
            m = fabs(b[i]);
    }
    return m > 0 ? d / m : d;
}

static void test_conv_cnhw(void **state)
{
    (void)state;
    const conv_case more[] = {{2, 16, 16, 28, 28, 3, 2, 1}, {3, 32, 64, 7, 7, 3, 1, 1}, {32, 16, 16, 14, 14, 3, 1, 1},
                              {32, 1, 16, 28, 28, 3, 1, 1}, {4, 16, 32, 8, 8, 1, 2, 2}};
    for (size_t ci = 0; ci < sizeof conv_cases / sizeof conv_cases[0] + sizeof more / sizeof more[0]; ci++) {
        const conv_case *c = ci < sizeof conv_cases / sizeof conv_cases[0] ? &conv_cases[ci]
                                                                           : &more[ci - sizeof conv_cases / sizeof conv_cases[0]];
        hr_test_rng rng;
        hr_error err = {0};
        hr_conv_desc d = {c->cin, c->cout, c->k, c->stride, c->k / 2, c->groups};
        int64_t oh = hr_conv_out_size(c->h, c->k, c->stride, c->k / 2), ow = hr_conv_out_size(c->w, c->k, c->stride, c->k / 2);
        int64_t P = c->h * c->w, OP = oh * ow;
        int64_t nx = c->n * c->cin * P, ny = c->n * c->cout * OP, nw = c->cout * (c->cin / c->groups) * c->k * c->k;
        float *x = malloc(4 * nx), *dy = malloc(4 * ny), *w = malloc(4 * nw), *bias = malloc(4 * c->cout);
        float *y_ref = malloc(4 * ny), *dx_ref = malloc(4 * nx), *dw_ref = malloc(4 * nw), *db_ref = malloc(4 * c->cout);
        float *xc = malloc(4 * nx), *dyc = malloc(4 * ny), *yc_ref = malloc(4 * ny), *dxc_ref = malloc(4 * nx);
        float *out[2][4];
        hr_test_rng_seed(&rng, 200 + ci);
        hr_test_fill(&rng, x, nx, -1, 1);
        hr_test_fill(&rng, dy, ny, -1, 1);
        hr_test_fill(&rng, w, nw, -1, 1);
        hr_test_fill(&rng, bias, c->cout, -1, 1);
        hr_tensor tx = hr_tensor_4d(x, c->n, c->cin, c->h, c->w), ty = hr_tensor_4d(y_ref, c->n, c->cout, oh, ow);
        hr_tensor tdy = hr_tensor_4d(dy, c->n, c->cout, oh, ow), tdx = hr_tensor_4d(dx_ref, c->n, c->cin, c->h, c->w);
        HR_ASSERT_OK(hr_conv2d_ref(&d, &tx, w, bias, HR_EPI_RELU, &ty, &err), &err);
        HR_ASSERT_OK(hr_conv2d_backward_data_ref(&d, &tdy, w, 0, &tdx, &err), &err);
        HR_ASSERT_OK(hr_conv2d_backward_weights_ref(&d, &tx, &tdy, 0, dw_ref, db_ref, &err), &err);
        to_cnhw(x, c->n, c->cin, P, xc);
        to_cnhw(dy, c->n, c->cout, OP, dyc);
        to_cnhw(y_ref, c->n, c->cout, OP, yc_ref);
        to_cnhw(dx_ref, c->n, c->cin, P, dxc_ref);
        size_t wsb = hr_conv_cnhw_workspace_bytes(&d, c->n, c->h, c->w);
        for (int t = 0; t < 2; t++) {
            hr_ctx_params cp = hr_ctx_params_default();
            hr_ctx *ctx;
            cp.threads = t + 1;
            HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
            void *ws = wsb ? hr_ctx_alloc(ctx, wsb) : NULL;
            out[t][0] = malloc(4 * ny), out[t][1] = malloc(4 * nx), out[t][2] = malloc(4 * nw);
            out[t][3] = malloc(4 * c->cout);
            hr_tensor cx = hr_tensor_4d(xc, c->cin, c->n, c->h, c->w), cy = hr_tensor_4d(out[t][0], c->cout, c->n, oh, ow);
            hr_tensor cdy = hr_tensor_4d(dyc, c->cout, c->n, oh, ow), cdx = hr_tensor_4d(out[t][1], c->cin, c->n, c->h, c->w);
            HR_ASSERT_OK(hr_conv_cnhw_forward(ctx, &d, &cx, w, bias, HR_EPI_RELU, &cy, ws, &err), &err);
            HR_ASSERT_OK(hr_conv_cnhw_backward_data(ctx, &d, &cdy, w, 0, &cdx, ws, &err), &err);
            HR_ASSERT_OK(hr_conv_cnhw_backward_weights(ctx, &d, &cx, &cdy, 0, out[t][2], out[t][3], ws, &err), &err);
            /* accumulate: a second backward-data call doubles dx */
            float *acc = malloc(4 * nx);
            memcpy(acc, out[t][1], 4 * nx);
            hr_tensor cacc = hr_tensor_4d(acc, c->cin, c->n, c->h, c->w);
            HR_ASSERT_OK(hr_conv_cnhw_backward_data(ctx, &d, &cdy, w, HR_EPI_ACCUMULATE, &cacc, NULL, &err), &err);
            for (int64_t i = 0; i < nx; i++)
                assert_true(fabsf(acc[i] - 2 * out[t][1][i]) <= 1e-5f * (1 + fabsf(acc[i])));
            free(acc);
            hr_ctx_free(ctx, ws);
            hr_ctx_destroy(ctx);
        }
        if (max_rel(out[0][0], yc_ref, ny) > 1e-5 || max_rel(out[0][1], dxc_ref, nx) > 1e-5 ||
            max_rel(out[0][2], dw_ref, nw) > 1e-5 || max_rel(out[0][3], db_ref, c->cout) > 1e-5)
            fail_msg("CNHW conv case %zu: y %.2e dx %.2e dw %.2e db %.2e", ci, max_rel(out[0][0], yc_ref, ny),
                     max_rel(out[0][1], dxc_ref, nx), max_rel(out[0][2], dw_ref, nw), max_rel(out[0][3], db_ref, c->cout));
        /* thread-count independence: bit-identical */
        assert_memory_equal(out[0][0], out[1][0], 4 * ny);
        assert_memory_equal(out[0][1], out[1][1], 4 * nx);
        assert_memory_equal(out[0][2], out[1][2], 4 * nw);
        assert_memory_equal(out[0][3], out[1][3], 4 * c->cout);
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 4; k++)
                free(out[t][k]);
        free(x), free(dy), free(w), free(bias), free(y_ref), free(dx_ref), free(dw_ref), free(db_ref);
        free(xc), free(dyc), free(yc_ref), free(dxc_ref);
    }
}

static void test_bn_cnhw(void **state)
{
    (void)state;
    const int64_t N = 5, C = 3, H = 4, W = 3, P = H * W, n = N * C * P;
    hr_test_rng rng;
    hr_error err = {0};
    float x[180], dy[180], y[180], dx[180], xc[180], dyc[180], yc[180], dxc[180], ref_c[180];
    float g[3], b[3], m[3], is[3], m2[3], is2[3], dg[3], db[3], dg2[3], db2[3];
    float rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1}, rm2[3] = {0, 0, 0}, rv2[3] = {1, 1, 1};
    hr_ctx *ctx;
    hr_ctx_params cp = hr_ctx_params_default();
    cp.threads = 2;
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    hr_test_rng_seed(&rng, 5);
    hr_test_fill(&rng, x, n, -2, 3);
    hr_test_fill(&rng, dy, n, -1, 1);
    hr_test_fill(&rng, g, C, 0.5f, 1.5f);
    hr_test_fill(&rng, b, C, -1, 1);
    hr_tensor tx = hr_tensor_4d(x, N, C, H, W), ty = hr_tensor_4d(y, N, C, H, W), tdy = hr_tensor_4d(dy, N, C, H, W);
    hr_tensor tdx = hr_tensor_4d(dx, N, C, H, W);
    HR_ASSERT_OK(hr_batchnorm_train_ref(&tx, g, b, 1e-5f, 0.1f, rm, rv, &ty, m, is, &err), &err);
    HR_ASSERT_OK(hr_batchnorm_train_backward_ref(&tx, &tdy, g, m, is, 0, &tdx, dg, db, &err), &err);
    to_cnhw(x, N, C, P, xc);
    to_cnhw(dy, N, C, P, dyc);
    hr_tensor cx = hr_tensor_4d(xc, C, N, H, W), cy = hr_tensor_4d(yc, C, N, H, W), cdy = hr_tensor_4d(dyc, C, N, H, W);
    hr_tensor cdx = hr_tensor_4d(dxc, C, N, H, W);
    HR_ASSERT_OK(hr_batchnorm_cnhw_train(ctx, &cx, g, b, 1e-5f, 0.1f, rm2, rv2, &cy, m2, is2, &err), &err);
    HR_ASSERT_OK(hr_batchnorm_cnhw_train_backward(ctx, &cx, &cdy, g, m2, is2, 0, &cdx, dg2, db2, &err), &err);
    to_cnhw(y, N, C, P, ref_c);
    assert_true(max_rel(yc, ref_c, n) < 1e-5);
    to_cnhw(dx, N, C, P, ref_c);
    assert_true(max_rel(dxc, ref_c, n) < 1e-5);
    assert_true(max_rel(dg2, dg, C) < 1e-5 && max_rel(db2, db, C) < 1e-5);
    assert_true(max_rel(rm2, rm, C) < 1e-6 && max_rel(rv2, rv, C) < 1e-6);
    /* affine (BN inference) backward */
    hr_affine_backward_ref(&tx, &tdy, g, 0, &tdx, dg, db);
    hr_affine_cnhw_backward(ctx, &cx, &cdy, g, 0, &cdx, dg2, db2);
    to_cnhw(dx, N, C, P, ref_c);
    assert_true(max_rel(dxc, ref_c, n) < 1e-6);
    assert_true(max_rel(dg2, dg, C) < 1e-5 && max_rel(db2, db, C) < 1e-5);
    /* layout round trip */
    float back[180];
    hr_tensor tb = hr_tensor_4d(back, N, C, H, W);
    hr_cnhw_to_nchw(ctx, &cx, &tb);
    assert_memory_equal(back, x, sizeof back);
    hr_ctx_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_fd),  cmocka_unit_test(test_batchnorm_fd), cmocka_unit_test(test_small_ops_fd),
        cmocka_unit_test(test_conv_cnhw), cmocka_unit_test(test_bn_cnhw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
