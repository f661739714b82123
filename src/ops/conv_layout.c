/* Layout changes shared by the fast convolution paths: weight panels, the
 * NHWC input copy and the transposing, fused-epilogue output store. */
#include <string.h>

#include "ops/conv_internal.h"

void hr__conv_pack_panel(const hr_conv *c, const float *w, int64_t g, int64_t p, float *dst)
{
    const int kk = c->desc.k * c->desc.k;
    const int64_t cig = c->cig, co0 = g * c->cog + p * HR_PANEL;
    int64_t nc = c->cog - p * HR_PANEL;
    if (nc > HR_PANEL)
        nc = HR_PANEL;
    memset(dst, 0, (size_t)(kk * cig * HR_PANEL) * sizeof(float));
    for (int64_t j = 0; j < nc; j++)
        for (int64_t ci = 0; ci < cig; ci++) {
            const float *wk = w + ((co0 + j) * cig + ci) * kk;
            for (int t = 0; t < kk; t++)
                dst[(t * cig + ci) * HR_PANEL + j] = wk[t];
        }
}

void hr__conv_nhwc_generic(const float *src, int64_t cstride, int64_t cin, int64_t npix, int step, float *dst,
                           int64_t cp)
{
    /* 16 x 16 blocks (channels x pixels) keep reads and writes within a few
     * cache lines each */
    for (int64_t i0 = 0; i0 < npix; i0 += 16) {
        int64_t ni = npix - i0 < 16 ? npix - i0 : 16;
        for (int64_t c0 = 0; c0 < cin; c0 += 16) {
            int64_t ncn = cin - c0 < 16 ? cin - c0 : 16;
            for (int64_t c = 0; c < ncn; c++) {
                const float *s = src + (c0 + c) * cstride + i0 * step;
                float *d = dst + i0 * cp + c0 + c;
                for (int64_t i = 0; i < ni; i++)
                    d[i * cp] = s[i * step];
            }
        }
        if (cp > cin)
            for (int64_t i = 0; i < ni; i++)
                memset(dst + (i0 + i) * cp + cin, 0, (size_t)(cp - cin) * sizeof(float));
    }
}

typedef struct nhwc_job {
    const hr_conv *c;
    const hr__conv_plan *pl;
    const float *x;
    float *xp;
} nhwc_job;

/* One row r of the copy: zeros outside the image, otherwise the image row
 * (every plan->sample-th pixel of every plan->sample-th row) transposed. */
static void nhwc_row(void *arg, int64_t r, int thread)
{
    const nhwc_job *j = arg;
    const hr__conv_plan *pl = j->pl;
    const int64_t CP = pl->CP, ih = (r - pl->top) * pl->sample, nw = pl->sample > 1 ? pl->Wp : pl->W;
    float *row = j->xp + r * pl->Wp * CP;
    (void)thread;
    if (r < pl->top || ih >= pl->H) {
        memset(row, 0, (size_t)(pl->Wp * CP) * sizeof(float));
        return;
    }
    memset(row, 0, (size_t)(pl->left * CP) * sizeof(float));
    memset(row + (pl->left + nw) * CP, 0, (size_t)((pl->Wp - pl->left - nw) * CP) * sizeof(float));
    j->c->kern->nhwc(j->x + ih * pl->W, pl->H * pl->W, j->c->desc.cin, nw, (int)pl->sample, row + pl->left * CP, CP);
}

void hr__conv_to_nhwc(hr_ctx *ctx, const hr_conv *c, const hr__conv_plan *pl, const float *x, float *xp)
{
    nhwc_job j = {c, pl, x, xp};
    const hr_work work = {0, 4.0 * (double)(c->desc.cin * pl->H * pl->W + pl->Hp * pl->Wp * pl->CP)};
    hr_ctx_parallel_for_work(ctx, pl->Hp, work, nhwc_row, &j);
}

void hr__conv_store_generic(float *y, int64_t ystride, const float *src, int64_t npix, int nc, const float *bias,
                            unsigned flags)
{
    const int acc = (flags & HR_EPI_ACCUMULATE) != 0, relu = (flags & HR_EPI_RELU) != 0;
    for (int64_t i0 = 0; i0 < npix; i0 += 16) {
        int64_t ni = npix - i0 < 16 ? npix - i0 : 16;
        for (int j = 0; j < nc; j++) {
            const float *s = src + i0 * HR_PANEL + j;
            float *d = y + j * ystride + i0;
            const float b = bias[j];
            float v[16];
            for (int64_t i = 0; i < ni; i++)
                v[i] = s[i * HR_PANEL] + b;
            if (acc)
                for (int64_t i = 0; i < ni; i++)
                    v[i] += d[i];
            if (relu)
                for (int64_t i = 0; i < ni; i++)
                    v[i] = v[i] > 0 ? v[i] : 0;
            memcpy(d, v, (size_t)ni * sizeof(float));
        }
    }
}
