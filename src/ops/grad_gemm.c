/* im2col / col2im over channel-major batches and the shape-tiled GEMM that
 * the fast backward kernels and the trainer are built from (see
 * grad_internal.h for the determinism contract).
 *
 * Why channel-major (CNHW) batches: a convolution over a whole batch is then
 * one GEMM per group whose output [Cout][N*OH*OW] is already the next
 * layer's layout, BatchNorm's per-channel statistics run over one contiguous
 * row, and the small spatial sizes of late stages (2x2 at batch 32 is 128
 * columns) still make GEMMs large enough to run at full speed.
 *
 * The GEMM runs on the convolution micro-kernels (ops/conv_kernels.h), not
 * on BLAS: Debian's serial OpenBLAS is not safe to call from several threads
 * at once (concurrent small sgemm calls return wrong results), and the
 * micro-kernels sum every element over k in order whatever the row grouping,
 * which keeps results independent of the thread count. */
#include <string.h>

#include "ops/grad_internal.h"

void hr__pfor(hr_ctx *ctx, int64_t n, hr_parallel_fn fn, void *arg)
{
    if (ctx) {
        hr_ctx_parallel_for(ctx, n, fn, arg);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        fn(arg, i, 0);
}

hr__col_geom hr__col_geom_make(int64_t C, int64_t N, int64_t H, int64_t W, int k, int stride, int pad)
{
    hr__col_geom g;
    g.C = C, g.N = N, g.H = H, g.W = W, g.k = k, g.stride = stride, g.pad = pad;
    g.OH = hr_conv_out_size(H, k, stride, pad);
    g.OW = hr_conv_out_size(W, k, stride, pad);
    return g;
}

typedef struct col_job {
    const hr__col_geom *g;
    const float *src;
    float *dst;
    int accumulate;
} col_job;

/* 3x3, stride 1, pad 1 ("same"): tap (kh, kw) of an image is the whole
 * plane shifted by (kh - 1) * W + (kw - 1), so one copy per plane, then the
 * column that wrapped around a row edge is zeroed. Plane loops instead of
 * row loops matter at the small sizes of late stages (7x7, 4x4, 2x2). */
static int same3(const hr__col_geom *g)
{
    return g->k == 3 && g->stride == 1 && g->pad == 1 && g->OH == g->H && g->OW == g->W;
}

static void shift_range(const hr__col_geom *g, int kh, int kw, int64_t *shift, int64_t *lo, int64_t *hi)
{
    const int64_t HW = g->H * g->W;
    *shift = (kh - 1) * g->W + (kw - 1);
    *lo = *shift < 0 ? -*shift : 0;
    *hi = *shift > 0 ? HW - *shift : HW;
    if (*hi < *lo)
        *hi = *lo;
}

static void im2col_same3(const col_job *j, int64_t r)
{
    const hr__col_geom *g = j->g;
    const int64_t c = r / 9, kh = (r / 3) % 3, kw = r % 3, HW = g->H * g->W;
    int64_t shift, lo, hi;
    shift_range(g, (int)kh, (int)kw, &shift, &lo, &hi);
    for (int64_t n = 0; n < g->N; n++) {
        const float *x = j->src + (c * g->N + n) * HW;
        float *o = j->dst + r * g->N * HW + n * HW;
        for (int64_t i = 0; i < lo; i++)
            o[i] = 0;
        for (int64_t i = lo; i < hi; i++)
            o[i] = x[i + shift];
        for (int64_t i = hi; i < HW; i++)
            o[i] = 0;
        if (kw != 1)
            for (int64_t oh = 0, col = kw == 0 ? 0 : g->W - 1; oh < g->H; oh++)
                o[oh * g->W + col] = 0;
    }
}

/* One row (c, kh, kw) of the column matrix. */
static void im2col_row(void *arg, int64_t r, int thread)
{
    const col_job *j = arg;
    const hr__col_geom *g = j->g;
    if (same3(g)) {
        im2col_same3(j, r);
        return;
    }
    const int k = g->k, s = g->stride;
    const int64_t c = r / (k * k), kh = (r / k) % k, kw = r % k;
    const int64_t P = g->OH * g->OW;
    /* output columns [lo, hi) read inside the row */
    const int64_t iw0 = kw - g->pad;
    int64_t lo = iw0 < 0 ? (-iw0 + s - 1) / s : 0, hi = g->OW;
    (void)thread;
    if (iw0 + (hi - 1) * s >= g->W)
        hi = iw0 >= g->W ? 0 : (g->W - 1 - iw0) / s + 1;
    if (lo > hi)
        lo = hi;
    for (int64_t n = 0; n < g->N; n++) {
        const float *xc = j->src + (c * g->N + n) * g->H * g->W;
        float *out = j->dst + r * g->N * P + n * P;
        for (int64_t oh = 0; oh < g->OH; oh++) {
            const int64_t ih = oh * s - g->pad + kh;
            float *o = out + oh * g->OW;
            if (ih < 0 || ih >= g->H) {
                memset(o, 0, sizeof(float) * (size_t)g->OW);
                continue;
            }
            const float *xr = xc + ih * g->W + iw0;
            for (int64_t i = 0; i < lo; i++)
                o[i] = 0;
            if (s == 1)
                for (int64_t i = lo; i < hi; i++) /* rows are short: no memcpy call */
                    o[i] = xr[i];
            else
                for (int64_t i = lo; i < hi; i++)
                    o[i] = xr[i * s];
            for (int64_t i = hi; i < g->OW; i++)
                o[i] = 0;
        }
    }
}

void hr__im2col_cnhw(hr_ctx *ctx, const hr__col_geom *g, const float *x, float *col)
{
    col_job j = {g, x, col, 0};
    hr__pfor(ctx, g->C * g->k * g->k, im2col_row, &j);
}

/* Channel c of dx: its k*k rows scattered back, taps in order. */
static void col2im_channel(void *arg, int64_t c, int thread)
{
    const col_job *j = arg;
    const hr__col_geom *g = j->g;
    const int k = g->k, s = g->stride;
    const int64_t P = g->OH * g->OW, HW = g->H * g->W;
    float *dxc = j->dst + c * g->N * HW;
    (void)thread;
    if (!j->accumulate)
        memset(dxc, 0, sizeof(float) * (size_t)(g->N * HW));
    if (same3(g)) {
        /* the adjoint of im2col_same3: taps in the same order, the wrapped
         * column left out */
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
                const float *row = j->src + ((c * 3 + kh) * 3 + kw) * g->N * HW;
                int64_t shift, lo, hi;
                shift_range(g, kh, kw, &shift, &lo, &hi);
                for (int64_t n = 0; n < g->N; n++) {
                    const float *src = row + n * HW;
                    float *d = dxc + n * HW + shift;
                    if (kw == 1) {
                        for (int64_t i = lo; i < hi; i++)
                            d[i] += src[i];
                        continue;
                    }
                    /* runs between the skipped positions (one per row) */
                    const int64_t skip = kw == 0 ? 0 : g->W - 1;
                    for (int64_t i = lo; i < hi;) {
                        int64_t e = i + (skip - i % g->W + g->W) % g->W;
                        if (e > hi)
                            e = hi;
                        for (int64_t q = i; q < e; q++)
                            d[q] += src[q];
                        i = e + 1;
                    }
                }
            }
        return;
    }
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++) {
            const float *row = j->src + ((c * k + kh) * k + kw) * g->N * P;
            const int64_t iw0 = kw - g->pad;
            int64_t lo = iw0 < 0 ? (-iw0 + s - 1) / s : 0, hi = g->OW;
            if (iw0 + (hi - 1) * s >= g->W)
                hi = iw0 >= g->W ? 0 : (g->W - 1 - iw0) / s + 1;
            if (lo > hi)
                lo = hi;
            for (int64_t n = 0; n < g->N; n++)
                for (int64_t oh = 0; oh < g->OH; oh++) {
                    const int64_t ih = oh * s - g->pad + kh;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    const float *src = row + n * P + oh * g->OW;
                    float *d = dxc + n * HW + ih * g->W + iw0;
                    if (s == 1)
                        for (int64_t i = lo; i < hi; i++)
                            d[i] += src[i];
                    else
                        for (int64_t i = lo; i < hi; i++)
                            d[i * s] += src[i];
                }
        }
}

void hr__col2im_cnhw(hr_ctx *ctx, const hr__col_geom *g, const float *col, int accumulate, float *dx)
{
    col_job j = {g, col, dx, accumulate};
    hr__pfor(ctx, g->C, col2im_channel, &j);
}

/* ---- GEMM in shape-fixed tiles on the micro-kernels ---- */

#define KC 256 /* depth per micro-kernel call: a 256 x 64 slice of B stays in L2 */

typedef struct gemm_job {
    const hr__conv_kernels *kern;
    int64_t M, N, K, lda, ldb, ldc;
    const float *A, *B;
    float *C, *partial;
    int accumulate;
    int nm, nn, ns;
} gemm_job;

/* Tile t of n over [0, len): boundaries on multiples of 16 (the last tile
 * takes the rest). */
static int64_t cut(int64_t len, int64_t t, int64_t n)
{
    if (t >= n)
        return len;
    return (len * t / n) & ~(int64_t)15;
}

static void tiles(int64_t M, int64_t N, int *nm, int *nn)
{
    int64_t a = N >= 256 ? N / 128 : 1, b;
    if (a > 8)
        a = 8;
    b = M >= 64 ? M / 32 : 1;
    if (b > 8 / a)
        b = 8 / a;
    if (b < 1)
        b = 1;
    *nn = (int)a;
    *nm = (int)b;
}

int hr__sgemm_splits(int64_t M, int64_t N, int64_t K)
{
    int nm, nn;
    int64_t s;
    tiles(M, N, &nm, &nn);
    if (nm * nn >= 4 || K < 8192)
        return 1;
    s = K / 4096;
    return (int)(s > 16 ? 16 : s);
}

static void gemm_unit(void *arg, int64_t u, int thread)
{
    const gemm_job *j = arg;
    const int64_t r = u % j->ns, tn = (u / j->ns) % j->nn, tm = u / j->ns / j->nn;
    const int64_t m0 = cut(j->M, tm, j->nm), m1 = cut(j->M, tm + 1, j->nm);
    const int64_t n0 = cut(j->N, tn, j->nn), n1 = cut(j->N, tn + 1, j->nn);
    const int64_t k0 = cut(j->K, r, j->ns), k1 = cut(j->K, r + 1, j->ns);
    float *c = j->ns > 1 ? j->partial + r * j->M * j->N : j->C;
    const int64_t ldc = j->ns > 1 ? j->N : j->ldc;
    const int accumulate = j->ns > 1 ? 0 : j->accumulate;
    const float *ap[HR_MR_MAX];
    (void)thread;
    if (m1 <= m0 || n1 <= n0)
        return;
    if (k1 <= k0) {
        if (!accumulate)
            for (int64_t i = m0; i < m1; i++)
                memset(c + i * ldc + n0, 0, sizeof(float) * (size_t)(n1 - n0));
        return;
    }
    for (int64_t p0 = n0; p0 < n1; p0 += 64) {
        const int nc = (int)(n1 - p0 < 64 ? n1 - p0 : 64);
        const int mr = j->kern->mr[(nc + 15) / 16];
        for (int64_t kc0 = k0; kc0 < k1; kc0 += KC) {
            const int64_t kc = k1 - kc0 < KC ? k1 - kc0 : KC;
            const int load = kc0 > k0 || accumulate;
            const float *b = j->B + kc0 * j->ldb + p0;
            for (int64_t i0 = m0; i0 < m1; i0 += mr) {
                const int m = (int)(m1 - i0 < mr ? m1 - i0 : mr);
                for (int i = 0; i < m; i++)
                    ap[i] = j->A + (i0 + i) * j->lda + kc0;
                j->kern->gemm(m, kc, ap, b, j->ldb, c + i0 * ldc + p0, ldc, nc, load, NULL, 0);
            }
        }
    }
}

/* Row i of C: (C +) partial_0 + partial_1 + … in split order. */
static void reduce_row(void *arg, int64_t i, int thread)
{
    const gemm_job *j = arg;
    float *c = j->C + i * j->ldc;
    (void)thread;
    for (int64_t q = 0; q < j->N; q++) {
        float v = j->accumulate ? c[q] : 0.0f;
        for (int r = 0; r < j->ns; r++)
            v += j->partial[r * j->M * j->N + i * j->N + q];
        c[q] = v;
    }
}

void hr__gemm(hr_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
              int accumulate, float *C, int64_t ldc, float *partial)
{
    gemm_job j = {hr__conv_kernels_get(HR_CONV_ISA_AUTO), M, N, K, lda, ldb, ldc, A, B, C, partial, accumulate, 1, 1, 1};
    if (M <= 0 || N <= 0)
        return;
    tiles(M, N, &j.nm, &j.nn);
    j.ns = partial ? hr__sgemm_splits(M, N, K) : 1;
    hr__pfor(ctx, (int64_t)j.nm * j.nn * j.ns, gemm_unit, &j);
    if (j.ns > 1)
        hr__pfor(ctx, M, reduce_row, &j);
}

typedef struct tr_job {
    const float *src;
    float *dst;
    int64_t rows, cols, lds, ldd;
    int accumulate;
} tr_job;

/* Columns [32u, 32u + 32) of src, i.e. rows of dst, in 32 x 32 blocks. */
static void transpose_unit(void *arg, int64_t u, int thread)
{
    const tr_job *j = arg;
    const int64_t c0 = u * 32, c1 = c0 + 32 < j->cols ? c0 + 32 : j->cols;
    (void)thread;
    for (int64_t r0 = 0; r0 < j->rows; r0 += 32) {
        const int64_t r1 = r0 + 32 < j->rows ? r0 + 32 : j->rows;
        for (int64_t c = c0; c < c1; c++) {
            float *d = j->dst + c * j->ldd;
            if (j->accumulate)
                for (int64_t r = r0; r < r1; r++)
                    d[r] += j->src[r * j->lds + c];
            else
                for (int64_t r = r0; r < r1; r++)
                    d[r] = j->src[r * j->lds + c];
        }
    }
}

void hr__transpose(hr_ctx *ctx, const float *src, int64_t rows, int64_t cols, int64_t lds, int accumulate, float *dst,
                   int64_t ldd)
{
    tr_job j = {src, dst, rows, cols, lds, ldd, accumulate};
    hr__pfor(ctx, (cols + 31) / 32, transpose_unit, &j);
}
