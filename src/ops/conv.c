/* hr_conv: a convolution with prepacked weights. Creation chooses an
 * algorithm and packs (or, in low-memory mode, copies) the weights once;
 * running plans the workspace from the input size and computes. */
#include <stdlib.h>
#include <string.h>

#include "ops/conv_internal.h"

/* Work units aim at this many bytes of per-thread product scratch: large
 * enough that a panel of weights is reused over many pixels or tiles, small
 * enough to stay in a core's L2 cache. */
#define UNIT_SCRATCH_BYTES ((int64_t)512 * 1024)

hr_conv_params hr_conv_params_default(void)
{
    hr_conv_params p;
    memset(&p, 0, sizeof p);
    p.algo = HR_CONV_ALGO_AUTO;
    p.isa = HR_CONV_ISA_AUTO;
    return p;
}

/* F(4x4,3x3) only for groups of at most 256 x 256 channels: its 36/9 copy
 * is then at most 9.4 MB per group. On RepVGG-B3 it would add 59 MB at the
 * 384-channel stage for 1.4 ms per layer, and the whole model's resident
 * weights would exceed PyTorch's resident size for the same forward. */
#define F4_MAX_PAIRS ((int64_t)256 * 256)

/* Resolves AUTO and WINOGRAD to a concrete path (see hr_conv_create in
 * ops.h for the rules).
 * - F(4x4,3x3) does 36 products per 16 outputs against F(2x2,3x3)'s 16 per 4
 *   (1.78x fewer), but keeps 36/9 = 4x the weights against 16/9 and pads the
 *   output to a multiple of 4: at 14x14 it computes 16x16 with 16 tiles of
 *   weight reuse, so its weight traffic dominates (measured no faster than
 *   F2 on B3's 768-channel stage) and that stage would need 1.3 GB of
 *   transformed weights.
 * - The stride-2 form saves 1.44x of the products; at a 7x7 output its 8x8
 *   tiling leaves 1.1x, not worth B3's 2560-channel head growing to 197 MB.
 * - Fewer than 16 channels per group (the RGB stem): the transforms would
 *   cost more than the products they save. */
static hr_conv_algo choose_algo(const hr_conv_desc *d, const hr_conv_params *p)
{
    int64_t oh = p->height > 0 ? hr_conv_out_size(p->height, d->k, d->stride, d->pad) : 0;
    int64_t ow = p->width > 0 ? hr_conv_out_size(p->width, d->k, d->stride, d->pad) : 0;
    int64_t small = oh < ow ? oh : ow;
    int known = p->height > 0 && p->width > 0;

    if (d->k != 3 || d->stride > 2)
        return HR_CONV_ALGO_GEMM;
    if (d->stride == 2) {
        if (p->algo == HR_CONV_ALGO_WINOGRAD || p->algo == HR_CONV_ALGO_WINOGRAD_S2)
            return HR_CONV_ALGO_WINOGRAD_S2;
        if (p->algo == HR_CONV_ALGO_AUTO && known && small >= 8 && d->cin / d->groups >= 16 &&
            d->cout / d->groups >= 16)
            return HR_CONV_ALGO_WINOGRAD_S2;
        return HR_CONV_ALGO_GEMM;
    }
    int64_t pairs = (d->cin / d->groups) * (d->cout / d->groups);
    hr_conv_algo wino = (known && small >= 24 && pairs <= F4_MAX_PAIRS) ? HR_CONV_ALGO_WINOGRAD_F4
                                                                        : HR_CONV_ALGO_WINOGRAD_F2;
    switch (p->algo) {
    case HR_CONV_ALGO_GEMM:
    case HR_CONV_ALGO_WINOGRAD_F2:
    case HR_CONV_ALGO_WINOGRAD_F4: return p->algo;
    case HR_CONV_ALGO_WINOGRAD: return wino;
    case HR_CONV_ALGO_WINOGRAD_S2: return HR_CONV_ALGO_GEMM;
    default:
        if (d->cin / d->groups < 16 || d->cout / d->groups < 16 || (known && small < 4))
            return HR_CONV_ALGO_GEMM;
        return wino;
    }
}

hr_status hr_conv_create(hr_ctx *ctx, const hr_conv_desc *desc, const float *w, const float *bias,
                         const hr_conv_params *params, hr_conv **out, hr_error *err)
{
    hr_conv_params p = params ? *params : hr_conv_params_default();
    const hr_conv_desc *d = desc;
    hr_conv *c;
    int64_t wn;

    if (d->k < 1 || d->k % 2 == 0 || d->stride < 1 || d->pad < 0 || d->groups < 1 || d->cin < 1 || d->cout < 1 ||
        d->cin % d->groups || d->cout % d->groups)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: unsupported descriptor k=%d stride=%d pad=%d groups=%d cin=%lld cout=%lld",
                            d->k, d->stride, d->pad, d->groups, (long long)d->cin, (long long)d->cout);
    if ((unsigned)p.algo >= HR_CONV_ALGO_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: unknown algorithm %d", (int)p.algo);
    if ((unsigned)p.isa >= HR_CONV_ISA_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: unknown instruction set %d", (int)p.isa);
    if (p.height < 0 || p.width < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: negative size hint %lldx%lld", (long long)p.height,
                            (long long)p.width);
    const hr__conv_kernels *kern = hr__conv_kernels_get(p.isa);
    if (!kern)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "conv: instruction set %d is not available on this CPU or build",
                            (int)p.isa);
    c = calloc(1, sizeof *c);
    if (!c)
        return hr_error_set(err, HR_ERR_NOMEM, "conv: out of memory");
    c->ctx = ctx;
    c->desc = *d;
    c->params = p;
    c->kern = kern;
    c->algo = choose_algo(d, &p);
    switch (c->algo) {
    case HR_CONV_ALGO_WINOGRAD_F2: c->wkind = HR_WINO_F2, c->m = 2, c->alpha = 4; break;
    case HR_CONV_ALGO_WINOGRAD_F4: c->wkind = HR_WINO_F4, c->m = 4, c->alpha = 6; break;
    case HR_CONV_ALGO_WINOGRAD_S2: c->wkind = HR_WINO_F2S2, c->m = 2, c->alpha = 5; break;
    default: break;
    }
    c->E = c->alpha * c->alpha;
    c->step = c->m * d->stride;
    c->cig = d->cin / d->groups;
    c->cog = d->cout / d->groups;
    c->npanel = (c->cog + HR_PANEL - 1) / HR_PANEL;
    c->depth = c->m ? c->E * c->cig : (int64_t)d->k * d->k * c->cig;

    c->pdepth = (c->m && !p.low_memory) ? c->depth : (int64_t)d->k * d->k * c->cig;
    /* Pixel-major GEMM where the channel-major one would spend more on layout
     * than on products: 1x1 stride 1 reads the NCHW input as it is (unless
     * the output is known to be under 256 pixels: then panels of 64 pixels
     * leave a thin remainder and too few units), and with few channels per
     * group (the RGB stem) rows of k*k*cig are short. */
    int small_out = p.height > 0 && p.width > 0 && p.height * p.width < 256;
    c->pixmajor = !c->m && ((d->k == 1 && d->stride == 1 && d->pad == 0 && !small_out) || c->cig < 32);
    wn = d->cout * c->cig * d->k * d->k;
    c->bias = hr_ctx_calloc(ctx, (size_t)d->cout * sizeof(float));
    if (!c->bias)
        goto nomem;
    if (bias)
        memcpy(c->bias, bias, (size_t)d->cout * sizeof(float));
    const int64_t panel = c->pdepth * HR_PANEL;
    c->packed_bytes = c->pixmajor ? (size_t)wn * sizeof(float) : (size_t)(d->groups * c->npanel * panel) * sizeof(float);
    c->packed = hr_ctx_alloc(ctx, c->packed_bytes);
    if (!c->packed)
        goto nomem;
    if (c->pixmajor) {
        memcpy(c->packed, w, (size_t)wn * sizeof(float));
    } else if (c->pdepth == c->depth && c->m) {
        /* Winograd: pack each panel, then transform it into place */
        float *tmp = hr_ctx_alloc(ctx, (size_t)(9 * c->cig * HR_PANEL) * sizeof(float));
        if (!tmp)
            goto nomem;
        for (int64_t g = 0; g < d->groups; g++)
            for (int64_t q = 0; q < c->npanel; q++) {
                hr__conv_pack_panel(c, w, g, q, tmp);
                kern->wino_weight(c->wkind, tmp, c->cig, c->packed + (g * c->npanel + q) * panel);
            }
        hr_ctx_free(ctx, tmp);
    } else {
        for (int64_t g = 0; g < d->groups; g++)
            for (int64_t q = 0; q < c->npanel; q++)
                hr__conv_pack_panel(c, w, g, q, c->packed + (g * c->npanel + q) * panel);
    }
    *out = c;
    return HR_OK;
nomem:
    hr_conv_destroy(c);
    return hr_error_set(err, HR_ERR_NOMEM, "conv: out of memory for %lld weights (cin=%lld cout=%lld k=%d)",
                        (long long)wn, (long long)d->cin, (long long)d->cout, d->k);
}

void hr_conv_destroy(hr_conv *c)
{
    if (!c)
        return;
    hr_ctx_free(c->ctx, c->bias);
    hr_ctx_free(c->ctx, c->packed);
    free(c);
}

const hr_conv_desc *hr_conv_get_desc(const hr_conv *c) { return &c->desc; }
hr_conv_algo hr_conv_get_algo(const hr_conv *c) { return c->algo; }
const char *hr_conv_get_isa_name(const hr_conv *c) { return c->kern->name; }

size_t hr_conv_packed_bytes(const hr_conv *c) { return c->packed_bytes + (size_t)c->desc.cout * sizeof(float); }

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Splits `rows` rows of `row_bytes` scratch each into chunks of at most
 * UNIT_SCRATCH_BYTES, then into more chunks while there are fewer than two
 * units per thread (so the pool's claiming stays balanced), then evens them
 * out. The unit count depends on the thread count, but only which output
 * rows a unit covers does: every output element is still summed over the
 * same taps and channel slices in the same order, so results do not change
 * (tests/core/test_pool). A fixed count of 8 units instead cost 9 % on a
 * 1-thread repvgg-fmnist forward (0.087 -> 0.095 ms), the edge's case. */
static void split_rows(hr__conv_plan *pl, int64_t rows, int64_t row_bytes, int64_t units_per_chunk, int threads)
{
    int64_t per = UNIT_SCRATCH_BYTES / (row_bytes > 0 ? row_bytes : 1);
    int64_t n;
    if (per < 1)
        per = 1;
    if (per > rows)
        per = rows;
    n = (rows + per - 1) / per;
    while (threads > 1 && n < rows && n * units_per_chunk < 2 * threads)
        n++;
    pl->chunk_rows = (rows + n - 1) / n;
    pl->nchunks = (rows + pl->chunk_rows - 1) / pl->chunk_rows;
}

void hr__conv_plan_make(const hr_conv *c, int64_t n, int64_t h, int64_t w, int threads, hr__conv_plan *pl)
{
    const hr_conv_desc *d = &c->desc;
    int64_t units = d->groups * c->npanel;
    memset(pl, 0, sizeof *pl);
    pl->N = n, pl->H = h, pl->W = w, pl->threads = threads;
    pl->OH = hr_conv_out_size(h, d->k, d->stride, d->pad);
    pl->OW = hr_conv_out_size(w, d->k, d->stride, d->pad);
    if (pl->OH < 1 || pl->OW < 1)
        return;
    pl->sample = 1;
    pl->top = pl->left = d->pad;
    if (c->m) {
        pl->TH = (pl->OH + c->m - 1) / c->m;
        pl->TW = (pl->OW + c->m - 1) / c->m;
        pl->T = pl->TH * pl->TW;
        pl->Hp = pl->TH * c->step + c->alpha - c->step;
        pl->Wp = pl->TW * c->step + c->alpha - c->step;
        pl->CP = (int64_t)round16((size_t)d->cin);
        pl->v_floats = round16((size_t)(c->E * pl->T * pl->CP));
        split_rows(pl, pl->TH, pl->TW * c->E * HR_PANEL * (int64_t)sizeof(float), units, threads);
        pl->c_floats = round16((size_t)(pl->chunk_rows * pl->TW * c->E * HR_PANEL));
        pl->o_floats = round16((size_t)(pl->chunk_rows * c->m * pl->OW * HR_PANEL));
    } else if (c->pixmajor) {
        int64_t K = c->depth;
        if (d->k == 1 && d->stride == 1 && d->pad == 0) {
            pl->npanels = (pl->OH * pl->OW + HR_PANEL - 1) / HR_PANEL;
        } else {
            int64_t per_row = (pl->OW + HR_PANEL - 1) / HR_PANEL;
            pl->panel_w = (pl->OW + per_row - 1) / per_row;
            pl->npanels = pl->OH * per_row;
            pl->a_floats = round16((size_t)(K * HR_PANEL));
        }
        pl->per_thread_floats = pl->a_floats;
        pl->total_bytes = (size_t)threads * pl->per_thread_floats * sizeof(float);
        return;
    } else {
        pl->Hp = h + 2 * d->pad;
        pl->Wp = w + 2 * d->pad;
        if (d->k == 1 && d->pad == 0 && d->stride > 1) {
            /* a strided 1x1 reads one pixel in stride^2: copy only those */
            pl->sample = d->stride;
            pl->Hp = pl->OH;
            pl->Wp = pl->OW;
        }
        pl->CP = d->cin;
        split_rows(pl, pl->OH, pl->OW * HR_PANEL * (int64_t)sizeof(float), units, threads);
        pl->c_floats = round16((size_t)(pl->chunk_rows * pl->OW * HR_PANEL));
        /* pixel offsets (int64) of the chunk */
        pl->o_floats = round16((size_t)(pl->chunk_rows * pl->OW) * 2);
    }
    pl->xp_floats = round16((size_t)(pl->Hp * pl->Wp * pl->CP));
    if (c->pdepth != c->depth)
        pl->w_floats = round16((size_t)(c->depth * HR_PANEL));
    pl->per_thread_floats = pl->c_floats + pl->o_floats + pl->w_floats + pl->a_floats;
    pl->total_bytes = (pl->xp_floats + pl->v_floats + (size_t)threads * pl->per_thread_floats) * sizeof(float);
}

hr_work hr__conv_work(const hr_conv *c, const hr__conv_plan *pl)
{
    const hr_conv_desc *d = &c->desc;
    const double out = (double)d->cout * (double)pl->OH * (double)pl->OW;
    hr_work w;
    w.flops = 2.0 * out * (double)c->cig * d->k * d->k;
    w.bytes = 4.0 * ((double)d->cin * (double)pl->H * (double)pl->W + out + (double)d->cout * (double)c->cig * d->k * d->k);
    return w;
}

size_t hr_conv_workspace_bytes(const hr_conv *c, int64_t n, int64_t h, int64_t w, int threads)
{
    hr__conv_plan pl;
    hr__conv_plan_make(c, n, h, w, threads < 1 ? 1 : threads, &pl);
    return pl.total_bytes;
}

hr_status hr_conv_run(hr_ctx *ctx, const hr_conv *c, const hr_tensor *x, unsigned flags, hr_tensor *y,
                      void *workspace, hr_error *err)
{
    hr_status st = hr_conv_check(&c->desc, x, y, err);
    hr__conv_plan pl;
    void *own = NULL;
    if (st)
        return st;
    hr__conv_plan_make(c, x->shape[0], x->shape[2], x->shape[3], hr_ctx_threads(ctx), &pl);
    if (!workspace) {
        own = hr_ctx_alloc(ctx, pl.total_bytes);
        if (!own)
            return hr_error_set(err, HR_ERR_NOMEM, "conv: out of memory for a %zu-byte workspace", pl.total_bytes);
        workspace = own;
    }
    if (c->m)
        hr__conv_winograd_run(ctx, c, &pl, x, flags, y, workspace);
    else
        hr__conv_gemm_run(ctx, c, &pl, x, flags, y, workspace);
    hr_ctx_free(ctx, own);
    return HR_OK;
}
