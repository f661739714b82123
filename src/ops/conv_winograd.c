/* Winograd convolution for 3x3: F(2x2,3x3) and F(4x4,3x3) for stride 1,
 * and the even/odd form of F(2x2,3x3) for stride 2 (conv_wino_tmpl.h).
 *
 * Per image:
 *  1. the input is copied to NHWC, padded so that TH x TW tiles of
 *     alpha x alpha input pixels, step = m * stride apart, cover it,
 *     channels rounded up to 16;
 *  2. each tile is transformed, V = B^T d B, into V[e][t][ci] (e < alpha^2
 *     the transform element, t the tile) — rows of input channels, which is
 *     what the micro-kernel broadcasts from;
 *  3. work units (group, panel of 64 output channels, chunk of tile rows)
 *     compute for every element e the product M[t][e][co] = sum_ci
 *     V[e][t][ci] U[e][ci][co] with the packed transformed weights U, then
 *     the output transform Y = A^T M A of their tiles, and store them to the
 *     NCHW output with the epilogue.
 * The transforms (conv_wino_tmpl.h) run over 16 channels at a time, in the
 * kernel set's instruction set; every output element is computed in the
 * same order whatever the thread count. In low-memory mode a unit first
 * transforms its panel of weights from the GEMM layout. */
#include <string.h>

#include "ops/conv_internal.h"

/* Input channels per micro-kernel call: whole groups up to 1024 (measured
 * faster than 256-channel slices on the B3 shapes). */
#define KC 1024

typedef struct wino_job {
    const hr_conv *c;
    const hr__conv_plan *pl;
    const float *xp;
    float *v;
    float *y;
    float *scratch;
    unsigned flags;
} wino_job;

/* Input transform of tile row ty. */
static void input_row(void *arg, int64_t ty, int thread)
{
    const wino_job *j = arg;
    const hr__conv_plan *pl = j->pl;
    (void)thread;
    j->c->kern->wino_in(j->c->wkind, j->xp + ty * j->c->step * pl->Wp * pl->CP, pl->TW, pl->Wp * pl->CP, pl->CP,
                        j->v + ty * pl->TW * pl->CP, pl->T * pl->CP);
}

static void wino_unit(void *arg, int64_t u, int thread)
{
    const wino_job *j = arg;
    const hr_conv *c = j->c;
    const hr__conv_plan *pl = j->pl;
    const int m = c->m, E = c->E;
    const int64_t chunk = u % pl->nchunks, q = (u / pl->nchunks) % c->npanel, g = u / pl->nchunks / c->npanel;
    const int64_t ty0 = chunk * pl->chunk_rows, ty1 = ty0 + pl->chunk_rows < pl->TH ? ty0 + pl->chunk_rows : pl->TH;
    const int64_t t0 = ty0 * pl->TW, nt = (ty1 - ty0) * pl->TW, CP = pl->CP, cig = c->cig, T = pl->T;
    const int nc = (int)(c->cog - q * HR_PANEL < HR_PANEL ? c->cog - q * HR_PANEL : HR_PANEL);
    const int mr = c->kern->mr[(nc + 15) / 16];
    /* row blocks as even as possible: a lone 1-row call is latency-bound */
    const int64_t nblk = (nt + mr - 1) / mr;
    float *mbuf = j->scratch + (size_t)thread * pl->per_thread_floats;
    float *obuf = mbuf + pl->c_floats;
    float *wpanel = obuf + pl->o_floats;
    const float *b, *ap[HR_MR_MAX];

    if (c->pdepth == c->depth) {
        b = c->packed + (g * c->npanel + q) * c->depth * HR_PANEL;
    } else {
        c->kern->wino_weight(c->wkind, c->packed + (g * c->npanel + q) * c->pdepth * HR_PANEL, cig, wpanel);
        b = wpanel;
    }
    /* products, element by element */
    for (int e = 0; e < E; e++)
        for (int64_t c0 = 0; c0 < cig; c0 += KC) {
            const int64_t kc = cig - c0 < KC ? cig - c0 : KC;
            const float *vrow = j->v + (e * T + t0) * CP + g * cig + c0;
            const float *be = b + (e * cig + c0) * HR_PANEL;
            for (int64_t blk = 0; blk < nblk; blk++) {
                int64_t i0 = nt * blk / nblk;
                int mm = (int)(nt * (blk + 1) / nblk - i0);
                for (int i = 0; i < mm; i++)
                    ap[i] = vrow + (i0 + i) * CP;
                c->kern->gemm(mm, kc, ap, be, HR_PANEL, mbuf + (i0 * E + e) * HR_PANEL, (int64_t)E * HR_PANEL, nc,
                              c0 > 0, NULL, 0);
            }
        }
    /* output transforms into obuf [rows][OW][64] */
    const int64_t oh0 = ty0 * m, oh1 = ty1 * m < pl->OH ? ty1 * m : pl->OH;
    for (int64_t i = 0; i < nt; i++) {
        const int64_t ty = ty0 + i / pl->TW, tx = i % pl->TW;
        const int nr = (int)(pl->OH - ty * m < m ? pl->OH - ty * m : m);
        const int ncol = (int)(pl->OW - tx * m < m ? pl->OW - tx * m : m);
        c->kern->wino_out(c->wkind, mbuf + i * E * HR_PANEL, nc, obuf + ((ty * m - oh0) * pl->OW + tx * m) * HR_PANEL,
                          pl->OW * HR_PANEL, nr, ncol);
    }
    const int64_t co0 = g * c->cog + q * HR_PANEL, P = pl->OH * pl->OW;
    c->kern->store(j->y + co0 * P + oh0 * pl->OW, P, obuf, (oh1 - oh0) * pl->OW, nc, c->bias + co0, j->flags);
}

void hr__conv_winograd_run(hr_ctx *ctx, const hr_conv *c, const hr__conv_plan *pl, const hr_tensor *x,
                           unsigned flags, hr_tensor *y, float *ws)
{
    const hr_conv_desc *d = &c->desc;
    float *xp = ws, *v = ws + pl->xp_floats;
    wino_job j = {c, pl, xp, v, NULL, v + pl->v_floats, flags};
    const hr_work work = hr__conv_work(c, pl);
    /* the input transform: a read of the copy and a write of E/step^2 times it */
    const hr_work tin = {0, 4.0 * (double)(pl->Hp * pl->Wp * pl->CP + c->E * pl->T * pl->CP)};
    for (int64_t n = 0; n < pl->N; n++) {
        hr__conv_to_nhwc(ctx, c, pl, x->data + n * d->cin * pl->H * pl->W, xp);
        hr_ctx_parallel_for_work(ctx, pl->TH, tin, input_row, &j);
        j.y = y->data + n * d->cout * pl->OH * pl->OW;
        hr_ctx_parallel_for_work(ctx, d->groups * c->npanel * pl->nchunks, work, wino_unit, &j);
    }
}
