/* Fast convolution forward and backward on channel-major batches (CNHW):
 * im2col over the whole batch, then one shape-tiled GEMM per group
 * (grad_gemm.c). A 1x1 stride-1 unpadded convolution uses the input as its
 * column matrix directly. K = cig*k*k, NP = N*OH*OW:
 *   forward:          y_g [cog, NP]  = W_g [cog, K] . col_g [K, NP]
 *   backward data:    dcol_g [K, NP] = W_g^T . dy_g, then col2im
 *   backward weights: dW_g^T [K, cog] = col_g . dy_g^T (the reduction over
 *                     NP split into fixed chunks when long), transposed
 * The GEMM takes its left operand by rows, so W_g^T and dy_g^T are laid
 * out in the workspace first. */
#include <string.h>

#include "ops/grad_internal.h"

/* Shapes of CNHW x / y checked as the NCHW tensors they would be with the
 * first two dimensions swapped. */
static hr_status cnhw_check(const hr_conv_desc *d, const hr_tensor *x, const hr_tensor *y, hr_error *err)
{
    if (x->ndim != 4 || y->ndim != 4 || !hr_tensor_is_contiguous(x) || !hr_tensor_is_contiguous(y))
        return hr_error_set(err, HR_ERR_SHAPE, "conv (CNHW): x and y must be contiguous 4-d tensors");
    hr_tensor xs = hr_tensor_4d(x->data, x->shape[1], x->shape[0], x->shape[2], x->shape[3]);
    hr_tensor ys = hr_tensor_4d(y->data, y->shape[1], y->shape[0], y->shape[2], y->shape[3]);
    return hr_conv_check(d, &xs, &ys, err);
}

static int is_direct(const hr_conv_desc *d) { return d->k == 1 && d->stride == 1 && d->pad == 0; }

static size_t col_floats(const hr_conv_desc *d, int64_t n, int64_t h, int64_t w)
{
    int64_t oh = hr_conv_out_size(h, d->k, d->stride, d->pad), ow = hr_conv_out_size(w, d->k, d->stride, d->pad);
    if (oh < 1 || ow < 1 || is_direct(d))
        return 0;
    return (size_t)(d->cin * d->k * d->k * n * oh * ow);
}

/* Workspace layout: column matrix | transposed operand (W^T of every group,
 * or one group's dy^T) | dW_g^T | partial sums. */
typedef struct ws_layout {
    size_t col, tr, dwt, partial, total; /* byte offsets and size */
} ws_layout;

static size_t round64(size_t b) { return (b + 63) & ~(size_t)63; }

static ws_layout layout(const hr_conv_desc *d, int64_t n, int64_t h, int64_t w)
{
    ws_layout l;
    int64_t oh = hr_conv_out_size(h, d->k, d->stride, d->pad), ow = hr_conv_out_size(w, d->k, d->stride, d->pad);
    int64_t g = d->groups > 0 ? d->groups : 1, cog = d->cout / g, K = d->cin / g * d->k * d->k, NP = n * oh * ow;
    size_t tr = (size_t)(d->cout * K), part = 0;
    if (oh < 1 || ow < 1)
        NP = 0;
    if ((size_t)(cog * NP) > tr)
        tr = (size_t)(cog * NP);
    int s = hr__sgemm_splits(K, cog, NP);
    if (s > 1)
        part = (size_t)(s * K * cog);
    l.col = 0;
    l.tr = round64(col_floats(d, n, h, w) * sizeof(float));
    l.dwt = l.tr + round64(tr * sizeof(float));
    l.partial = l.dwt + round64((size_t)(K * cog) * sizeof(float));
    l.total = l.partial + round64(part * sizeof(float));
    return l;
}

size_t hr_conv_cnhw_workspace_bytes(const hr_conv_desc *d, int64_t n, int64_t h, int64_t w)
{
    return layout(d, n, h, w).total;
}

typedef struct epi_job {
    float *y;
    const float *bias;
    int64_t NP;
    int relu;
} epi_job;

static void epi_channel(void *arg, int64_t c, int thread)
{
    const epi_job *j = arg;
    float *y = j->y + c * j->NP;
    const float b = j->bias ? j->bias[c] : 0.0f;
    (void)thread;
    for (int64_t i = 0; i < j->NP; i++) {
        float v = y[i] + b;
        y[i] = j->relu && v < 0 ? 0.0f : v;
    }
}

/* Gets a workspace of `bytes`: the caller's, or a fresh one in *own. */
static void *workspace(hr_ctx *ctx, void *ws, size_t bytes, void **own, hr_error *err)
{
    *own = NULL;
    if (ws || bytes == 0)
        return ws;
    *own = hr_ctx_alloc(ctx, bytes);
    if (!*own)
        hr_error_set(err, HR_ERR_NOMEM, "conv (CNHW): out of memory for a %zu-byte workspace", bytes);
    return *own;
}

hr_status hr_conv_cnhw_forward(hr_ctx *ctx, const hr_conv_desc *d, const hr_tensor *x, const float *w,
                               const float *bias, unsigned flags, hr_tensor *y, void *ws, hr_error *err)
{
    hr_status st = cnhw_check(d, x, y, err);
    void *own;
    if (st)
        return st;
    const int64_t N = x->shape[1], H = x->shape[2], W = x->shape[3];
    const hr__col_geom g = hr__col_geom_make(d->cin, N, H, W, d->k, d->stride, d->pad);
    const int64_t NP = N * g.OH * g.OW, cig = d->cin / d->groups, cog = d->cout / d->groups, K = cig * d->k * d->k;
    float *col = workspace(ctx, ws, hr_conv_cnhw_workspace_bytes(d, N, H, W), &own, err);
    if (!col)
        return HR_ERR_NOMEM;
    if (is_direct(d))
        col = x->data;
    else
        hr__im2col_cnhw(ctx, &g, x->data, col);
    for (int64_t gi = 0; gi < d->groups; gi++)
        hr__gemm(ctx, cog, NP, K, w + gi * cog * K, K, col + gi * K * NP, NP, (flags & HR_EPI_ACCUMULATE) != 0,
                 y->data + gi * cog * NP, NP, NULL);
    if (bias || (flags & HR_EPI_RELU)) {
        epi_job e = {y->data, bias, NP, (flags & HR_EPI_RELU) != 0};
        hr_ctx_parallel_for(ctx, d->cout, epi_channel, &e);
    }
    hr_ctx_free(ctx, own);
    return HR_OK;
}

hr_status hr_conv_cnhw_backward_data(hr_ctx *ctx, const hr_conv_desc *d, const hr_tensor *dy, const float *w,
                                     unsigned flags, hr_tensor *dx, void *ws, hr_error *err)
{
    hr_status st = cnhw_check(d, dx, dy, err);
    void *own;
    if (st)
        return st;
    const int64_t N = dx->shape[1], H = dx->shape[2], W = dx->shape[3];
    const hr__col_geom g = hr__col_geom_make(d->cin, N, H, W, d->k, d->stride, d->pad);
    const int64_t NP = N * g.OH * g.OW, cig = d->cin / d->groups, cog = d->cout / d->groups, K = cig * d->k * d->k;
    const int accumulate = (flags & HR_EPI_ACCUMULATE) != 0;
    unsigned char *base = workspace(ctx, ws, hr_conv_cnhw_workspace_bytes(d, N, H, W), &own, err);
    if (!base)
        return HR_ERR_NOMEM;
    const ws_layout lay = layout(d, N, H, W);
    float *dcol = is_direct(d) ? dx->data : (float *)(base + lay.col), *wt = (float *)(base + lay.tr);
    for (int64_t gi = 0; gi < d->groups; gi++) {
        hr__transpose(ctx, w + gi * cog * K, cog, K, K, 0, wt, cog);
        hr__gemm(ctx, K, NP, cog, wt, cog, dy->data + gi * cog * NP, NP, is_direct(d) && accumulate,
                 dcol + gi * K * NP, NP, NULL);
    }
    if (!is_direct(d))
        hr__col2im_cnhw(ctx, &g, dcol, accumulate, dx->data);
    hr_ctx_free(ctx, own);
    return HR_OK;
}

typedef struct sum_job {
    const float *dy;
    float *db;
    int64_t NP;
    int accumulate;
} sum_job;

static void sum_channel(void *arg, int64_t c, int thread)
{
    const sum_job *j = arg;
    const float *p = j->dy + c * j->NP;
    double a = 0;
    (void)thread;
    for (int64_t i = 0; i < j->NP; i++)
        a += p[i];
    j->db[c] = j->accumulate ? j->db[c] + (float)a : (float)a;
}

hr_status hr_conv_cnhw_backward_weights(hr_ctx *ctx, const hr_conv_desc *d, const hr_tensor *x,
                                        const hr_tensor *dy, unsigned flags, float *dw, float *db, void *ws,
                                        hr_error *err)
{
    hr_status st = cnhw_check(d, x, dy, err);
    void *own;
    if (st)
        return st;
    const int64_t N = x->shape[1], H = x->shape[2], W = x->shape[3];
    const hr__col_geom g = hr__col_geom_make(d->cin, N, H, W, d->k, d->stride, d->pad);
    const int64_t NP = N * g.OH * g.OW, cig = d->cin / d->groups, cog = d->cout / d->groups, K = cig * d->k * d->k;
    const int accumulate = (flags & HR_EPI_ACCUMULATE) != 0;
    unsigned char *base = workspace(ctx, ws, hr_conv_cnhw_workspace_bytes(d, N, H, W), &own, err);
    if (!base)
        return HR_ERR_NOMEM;
    const ws_layout lay = layout(d, N, H, W);
    float *col = (float *)(base + lay.col), *dyt = (float *)(base + lay.tr), *dwt = (float *)(base + lay.dwt);
    float *partial = lay.total > lay.partial ? (float *)(base + lay.partial) : NULL;
    if (is_direct(d))
        col = x->data;
    else
        hr__im2col_cnhw(ctx, &g, x->data, col);
    for (int64_t gi = 0; gi < d->groups; gi++) {
        hr__transpose(ctx, dy->data + gi * cog * NP, cog, NP, NP, 0, dyt, cog);
        hr__gemm(ctx, K, cog, NP, col + gi * K * NP, NP, dyt, cog, 0, dwt, cog, partial);
        if (!accumulate)
            memset(dw + gi * cog * K, 0, sizeof(float) * (size_t)(cog * K));
        hr__transpose(ctx, dwt, K, cog, cog, 1, dw + gi * cog * K, K);
    }
    if (db) {
        sum_job s = {dy->data, db, NP, accumulate};
        hr_ctx_parallel_for(ctx, d->cout, sum_channel, &s);
    }
    hr_ctx_free(ctx, own);
    return HR_OK;
}
