/* GEMM convolution (any odd k, any stride, groups), in two orientations.
 *
 * Channel-major (the general case): an implicit GEMM over an NHWC copy of
 * the input. For output pixel p and weight tap (kh, kw) the group's input
 * channels are a contiguous run of the copy, so the micro-kernel broadcasts
 * straight from it, with no im2col matrix, against weight panels of 64
 * output channels. Work units are (group, panel, chunk of output rows); each
 * accumulates its [pixels x 64] block in thread scratch, tap by tap and
 * 256-channel slice by slice (the panel slice stays in L1 while every pixel
 * of the chunk uses it), then stores it transposed into the NCHW output
 * with bias, accumulation and ReLU.
 *
 * Pixel-major (1x1 stride 1, and fewer than 32 channels per group): vectors
 * run along 64 output pixels and the plain weight rows are broadcast, so the
 * products land in the NCHW output directly. A 1x1 stride-1 convolution
 * reads its panels from the input as it is; otherwise a unit gathers an
 * im2col panel [k*k*cig][<= 64 pixels of one output row] first. Units are
 * (group, panel).
 *
 * Every output element is summed in the same order whatever the thread
 * count. */
#include <string.h>

#include "ops/conv_internal.h"

#define KC 256       /* input channels per call, channel-major */
#define KC_PIX 128   /* depth per call, pixel-major: a 128 x 64 panel slice fills half of L1 */

typedef struct gemm_job {
    const hr_conv *c;
    const hr__conv_plan *pl;
    const float *x;  /* this image's input (pixel-major) */
    const float *xp; /* NHWC copy (channel-major) */
    float *y;        /* this image's output */
    float *scratch;  /* per-thread areas */
    unsigned flags;
} gemm_job;

static void gemm_unit(void *arg, int64_t u, int thread)
{
    const gemm_job *j = arg;
    const hr_conv *c = j->c;
    const hr__conv_plan *pl = j->pl;
    const hr_conv_desc *d = &c->desc;
    const int k = d->k, s = pl->sample > 1 ? 1 : d->stride;
    const int64_t chunk = u % pl->nchunks, q = (u / pl->nchunks) % c->npanel, g = u / pl->nchunks / c->npanel;
    const int64_t oh0 = chunk * pl->chunk_rows, oh1 = oh0 + pl->chunk_rows < pl->OH ? oh0 + pl->chunk_rows : pl->OH;
    const int64_t npix = (oh1 - oh0) * pl->OW, CP = pl->CP, cig = c->cig;
    const int nc = (int)(c->cog - q * HR_PANEL < HR_PANEL ? c->cog - q * HR_PANEL : HR_PANEL);
    const int mr = c->kern->mr[(nc + 15) / 16];
    /* pixel blocks as even as possible: a lone 1-row call is latency-bound */
    const int64_t nblk = (npix + mr - 1) / mr;
    float *cs = j->scratch + (size_t)thread * pl->per_thread_floats;
    int64_t *off = (int64_t *)(cs + pl->c_floats);
    const float *b = c->packed + (g * c->npanel + q) * c->pdepth * HR_PANEL, *ap[HR_MR_MAX];

    for (int64_t i = 0; i < npix; i++) {
        int64_t oh = oh0 + i / pl->OW, ow = i % pl->OW;
        off[i] = (oh * s * pl->Wp + ow * s) * CP + g * cig;
    }
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++)
            for (int64_t c0 = 0; c0 < cig; c0 += KC) {
                const int64_t kc = cig - c0 < KC ? cig - c0 : KC;
                const int64_t tap = (kh * pl->Wp + kw) * CP + c0;
                const float *bk = b + ((kh * k + kw) * cig + c0) * HR_PANEL;
                const int first = kh == 0 && kw == 0 && c0 == 0;
                for (int64_t blk = 0; blk < nblk; blk++) {
                    int64_t p0 = npix * blk / nblk;
                    int m = (int)(npix * (blk + 1) / nblk - p0);
                    for (int i = 0; i < m; i++)
                        ap[i] = j->xp + off[p0 + i] + tap;
                    c->kern->gemm(m, kc, ap, bk, HR_PANEL, cs + p0 * HR_PANEL, HR_PANEL, nc, !first, NULL, 0);
                }
            }
    const int64_t co0 = g * c->cog + q * HR_PANEL, P = pl->OH * pl->OW;
    c->kern->store(j->y + co0 * P + oh0 * pl->OW, P, cs, npix, nc, c->bias + co0, j->flags);
}

/* Gathers the im2col panel of output row oh, columns ow0..ow0+np-1:
 * a[(ci*k + kh)*k + kw][i] = x[ci][oh*s - pad + kh][(ow0 + i)*s - pad + kw],
 * zero outside the image. */
static void gather_panel(const hr_conv *c, const hr__conv_plan *pl, const float *xg, int64_t oh, int64_t ow0,
                         int64_t np, float *a)
{
    const hr_conv_desc *d = &c->desc;
    const int k = d->k, s = d->stride;
    for (int64_t ci = 0; ci < c->cig; ci++)
        for (int kh = 0; kh < k; kh++) {
            const int64_t ih = oh * s - d->pad + kh;
            for (int kw = 0; kw < k; kw++) {
                float *row = a + ((ci * k + kh) * k + kw) * HR_PANEL;
                if (ih < 0 || ih >= pl->H) {
                    memset(row, 0, (size_t)np * sizeof(float));
                    continue;
                }
                const float *src = xg + (ci * pl->H + ih) * pl->W;
                /* i in [lo, hi) reads inside the row */
                const int64_t iw0 = ow0 * s - d->pad + kw;
                int64_t lo = iw0 < 0 ? (-iw0 + s - 1) / s : 0, hi = np;
                if (iw0 + (hi - 1) * s >= pl->W)
                    hi = iw0 >= pl->W ? 0 : (pl->W - 1 - iw0) / s + 1;
                if (lo > hi)
                    lo = hi;
                for (int64_t i = 0; i < lo; i++)
                    row[i] = 0;
                for (int64_t i = lo; i < hi; i++)
                    row[i] = src[iw0 + i * s];
                for (int64_t i = hi; i < np; i++)
                    row[i] = 0;
            }
        }
}

static void pix_unit(void *arg, int64_t u, int thread)
{
    const gemm_job *j = arg;
    const hr_conv *c = j->c;
    const hr__conv_plan *pl = j->pl;
    const int64_t g = u / pl->npanels, panel = u % pl->npanels, K = c->depth, P = pl->OH * pl->OW;
    const float *xg = j->x + g * c->cig * pl->H * pl->W;
    float *a = j->scratch + (size_t)thread * pl->per_thread_floats;
    const float *b;
    int64_t p0, np, ldb;

    if (pl->panel_w) {
        const int64_t per_row = (pl->OW + pl->panel_w - 1) / pl->panel_w;
        const int64_t oh = panel / per_row, ow0 = (panel % per_row) * pl->panel_w;
        np = pl->OW - ow0 < pl->panel_w ? pl->OW - ow0 : pl->panel_w;
        p0 = oh * pl->OW + ow0;
        gather_panel(c, pl, xg, oh, ow0, np, a);
        b = a;
        ldb = HR_PANEL;
    } else {
        p0 = panel * HR_PANEL;
        np = P - p0 < HR_PANEL ? P - p0 : HR_PANEL;
        b = xg + p0;
        ldb = P;
    }
    const int mr = c->kern->mr[(np + 15) / 16];
    const int64_t nblk = (c->cog + mr - 1) / mr;
    const float *ap[HR_MR_MAX];
    float *yg = j->y + g * c->cog * P + p0;
    const float *wg = c->packed + g * c->cog * K;
    const float *bias = c->bias + g * c->cog;
    const int relu = (j->flags & HR_EPI_RELU) != 0;
    for (int64_t k0 = 0; k0 < K; k0 += KC_PIX) {
        const int64_t kc = K - k0 < KC_PIX ? K - k0 : KC_PIX;
        /* accumulation: the products start from the output's value; bias
         * and ReLU come with the last slice */
        const int load = k0 > 0 || (j->flags & HR_EPI_ACCUMULATE), last = k0 + kc == K;
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t r0 = c->cog * blk / nblk;
            int m = (int)(c->cog * (blk + 1) / nblk - r0);
            for (int i = 0; i < m; i++)
                ap[i] = wg + (r0 + i) * K + k0;
            c->kern->gemm(m, kc, ap, b + k0 * ldb, ldb, yg + r0 * P, P, (int)np, load, last ? bias + r0 : NULL,
                          last && relu);
        }
    }
}

void hr__conv_gemm_run(hr_ctx *ctx, const hr_conv *c, const hr__conv_plan *pl, const hr_tensor *x, unsigned flags,
                       hr_tensor *y, float *ws)
{
    const hr_conv_desc *d = &c->desc;
    float *xp = ws;
    gemm_job j = {c, pl, NULL, xp, NULL, c->pixmajor ? ws : ws + pl->xp_floats, flags};
    const hr_work work = hr__conv_work(c, pl);
    for (int64_t n = 0; n < pl->N; n++) {
        j.x = x->data + n * d->cin * pl->H * pl->W;
        j.y = y->data + n * d->cout * pl->OH * pl->OW;
        if (c->pixmajor) {
            hr_ctx_parallel_for_work(ctx, d->groups * pl->npanels, work, pix_unit, &j);
        } else {
            hr__conv_to_nhwc(ctx, c, pl, j.x, xp);
            hr_ctx_parallel_for_work(ctx, d->groups * c->npanel * pl->nchunks, work, gemm_unit, &j);
        }
    }
}
