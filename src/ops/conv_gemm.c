/* GEMM convolution: for each image and group, Y[cog, OH*OW] = W[cog, K] ·
 * col[K, OH*OW] with K = cig*k*k. A 1x1 stride-1 convolution needs no im2col
 * (the input is already the column matrix). Threads split the output
 * channels of each GEMM, so every thread writes disjoint rows and results do
 * not depend on the thread count beyond sgemm's own blocking. The GEMM writes
 * into a scratch tile and the epilogue (bias, accumulate, ReLU) is applied
 * while the tile is hot in cache. */
#include <cblas.h>
#include <string.h>

#include "ops/conv_internal.h"

static int64_t col_floats(const hr_conv *c, int64_t oh, int64_t ow)
{
    const hr_conv_desc *d = &c->desc;
    if (d->k == 1 && d->stride == 1 && d->pad == 0)
        return 0;
    return (d->cin / d->groups) * d->k * d->k * oh * ow;
}

size_t hr__conv_gemm_workspace(const hr_conv *c, int64_t n, int64_t h, int64_t w, int threads)
{
    const hr_conv_desc *d = &c->desc;
    int64_t oh = hr_conv_out_size(h, d->k, d->stride, d->pad), ow = hr_conv_out_size(w, d->k, d->stride, d->pad);
    (void)n;
    if (oh < 0 || ow < 0)
        return 0;
    /* im2col of one group, plus a per-thread output tile of the group's rows. */
    return (size_t)(col_floats(c, oh, ow) + (d->cout / d->groups) * oh * ow) * sizeof(float) + 128;
}

typedef struct im2col_job {
    const float *x;
    float *col;
    int64_t H, W, OH, OW;
    int k, stride, pad;
} im2col_job;

/* One input channel's k*k rows of the column matrix. */
static void im2col_channel(void *arg, int64_t ci, int thread)
{
    const im2col_job *j = arg;
    const float *xc = j->x + ci * j->H * j->W;
    (void)thread;
    for (int kh = 0; kh < j->k; kh++)
        for (int kw = 0; kw < j->k; kw++) {
            float *row = j->col + ((ci * j->k + kh) * j->k + kw) * j->OH * j->OW;
            for (int64_t oh = 0; oh < j->OH; oh++) {
                int64_t ih = oh * j->stride - j->pad + kh;
                float *r = row + oh * j->OW;
                if (ih < 0 || ih >= j->H) {
                    memset(r, 0, (size_t)j->OW * sizeof(float));
                    continue;
                }
                const float *xr = xc + ih * j->W;
                if (j->stride == 1) {
                    int64_t lo = j->pad - kw, ow0 = lo > 0 ? lo : 0;
                    int64_t ow1 = j->W + j->pad - kw;
                    if (ow1 > j->OW)
                        ow1 = j->OW;
                    for (int64_t ow = 0; ow < ow0 && ow < j->OW; ow++)
                        r[ow] = 0;
                    if (ow1 > ow0)
                        memcpy(r + ow0, xr + ow0 - j->pad + kw, (size_t)(ow1 - ow0) * sizeof(float));
                    for (int64_t ow = ow1 > ow0 ? ow1 : ow0; ow < j->OW; ow++)
                        r[ow] = 0;
                } else {
                    for (int64_t ow = 0; ow < j->OW; ow++) {
                        int64_t iw = ow * j->stride - j->pad + kw;
                        r[ow] = (iw >= 0 && iw < j->W) ? xr[iw] : 0.0f;
                    }
                }
            }
        }
}

typedef struct gemm_job {
    const hr_conv *conv;
    const float *w;      /* group's weights [cog, K] */
    const float *b;      /* group's bias */
    const float *col;    /* [K, P] */
    float *y;            /* group's output rows [cog, P] */
    float *tile;         /* scratch [cog, P] */
    int64_t cog, K, P;
    int nthreads;
    unsigned flags;
} gemm_job;

/* Thread t computes rows [t*cog/T, (t+1)*cog/T). */
static void gemm_rows(void *arg, int64_t t, int thread)
{
    const gemm_job *j = arg;
    int64_t r0 = j->cog * t / j->nthreads, r1 = j->cog * (t + 1) / j->nthreads;
    (void)thread;
    if (r1 <= r0)
        return;
    float *dst = (j->flags & HR_EPI_ACCUMULATE) ? j->tile + r0 * j->P : j->y + r0 * j->P;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)j->P, (int)j->K, 1.0f,
                j->w + r0 * j->K, (int)j->K, j->col, (int)j->P, 0.0f, dst, (int)j->P);
    hr__conv_epilogue(j->y + r0 * j->P, dst, j->b + r0, r1 - r0, j->P, j->flags);
}

void hr__conv_gemm_run(hr_ctx *ctx, const hr_conv *c, const hr_tensor *x, unsigned flags, hr_tensor *y, void *ws)
{
    const hr_conv_desc *d = &c->desc;
    const int64_t N = x->shape[0], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    const int64_t cig = d->cin / d->groups, cog = d->cout / d->groups, K = cig * d->k * d->k, P = OH * OW;
    const int64_t ncol = col_floats(c, OH, OW);
    float *col = ws, *tile = (float *)ws + ((ncol + 15) & ~(int64_t)15);
    int nt = hr_ctx_threads(ctx);

    for (int64_t n = 0; n < N; n++)
        for (int g = 0; g < d->groups; g++) {
            const float *xg = x->data + (n * d->cin + g * cig) * H * W;
            const float *cm = xg;
            if (ncol) {
                im2col_job ij = {xg, col, H, W, OH, OW, d->k, d->stride, d->pad};
                hr_ctx_parallel_for(ctx, cig, im2col_channel, &ij);
                cm = col;
            }
            gemm_job gj = {c, c->weight + g * cog * K, c->bias + g * cog, cm,
                           y->data + (n * d->cout + g * cog) * P, tile, cog, K, P, nt, flags};
            hr_ctx_parallel_for(ctx, nt, gemm_rows, &gj);
        }
}
