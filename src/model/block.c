/* HyperRepVGG blocks: branch fusion (SPEC §3), γ application and execution.
 *
 * Every stream of a γ computes Σ_{b ∈ layout} α_b · BN_b(conv_b(x)) as one
 * convolution (or, for the identity alone, one per-channel affine) whose
 * kernel and bias are folded once here. Streams after the first accumulate
 * into the output, and the last one applies the ReLU, so a parallel γ costs
 * no extra activation buffer. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model_internal.h"

#define BN_EPS(m) ((m)->params.bn_eps > 0 ? (m)->params.bn_eps : 1e-5f)

unsigned hr__block_live(const hr__block *b)
{
    unsigned live = 0;
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        if ((b->existing & (1u << br)) && b->alpha[br] != 0.0f)
            live |= 1u << br;
    return live;
}

/* Folded BN of channel c: returns the scale t and writes the shift. A branch
 * without BN (deploy-form reparam conv) folds to scale 1 and its own bias. */
static float bn_fold(const hr__bn *bn, const float *plain_bias, int64_t c, float eps, float *shift)
{
    if (!bn->weight) {
        *shift = plain_bias ? plain_bias[c] : 0.0f;
        return 1.0f;
    }
    float t = bn->weight[c] / sqrtf(bn->var[c] + eps);
    *shift = bn->bias[c] - bn->mean[c] * t;
    return t;
}

/* Builds the fused kernel [cout, cin/g, k, k] and bias of the branch set
 * `set` (k = 3, or k = 1 when the set has no dense branch). */
static void fuse_kernel(const hr_model *m, const hr__block *b, unsigned set, const float *alpha, int k, float *w,
                        float *bias)
{
    const int64_t cig = b->cin / b->groups, kk = (int64_t)k * k, centre = kk / 2;
    const float eps = BN_EPS(m);
    memset(w, 0, sizeof(float) * (size_t)(b->cout * cig * kk));
    memset(bias, 0, sizeof(float) * (size_t)b->cout);
    for (int64_t co = 0; co < b->cout; co++) {
        float *wo = w + co * cig * kk, shift;
        if (set & HR_BR_DENSE) {
            float t = bn_fold(&b->dense_bn, b->dense_b, co, eps, &shift) * alpha[HR_BRANCH_DENSE];
            const float *src = b->dense_w + co * cig * 9;
            for (int64_t i = 0; i < cig * 9; i++)
                wo[i] += t * src[i];
            bias[co] += alpha[HR_BRANCH_DENSE] * shift;
        }
        if (set & HR_BR_1X1) {
            float t = bn_fold(&b->k1_bn, NULL, co, eps, &shift) * alpha[HR_BRANCH_1X1];
            for (int64_t ci = 0; ci < cig; ci++)
                wo[ci * kk + centre] += t * b->k1_w[co * cig + ci];
            bias[co] += alpha[HR_BRANCH_1X1] * shift;
        }
        if (set & HR_BR_IDENTITY) {
            /* Output channel co reads input channel co; inside its group that
             * input channel has index co mod (cin/g). */
            float t = bn_fold(&b->id_bn, NULL, co, eps, &shift) * alpha[HR_BRANCH_IDENTITY];
            wo[(co % cig) * kk + centre] += t;
            bias[co] += alpha[HR_BRANCH_IDENTITY] * shift;
        }
    }
}

void hr__block_clear_streams(hr_model *m, hr__block *b)
{
    for (int s = 0; s < b->nstreams; s++) {
        hr_conv_destroy(b->streams[s].conv);
        hr_ctx_free(m->ctx, b->streams[s].scale);
        hr_ctx_free(m->ctx, b->streams[s].shift);
    }
    memset(b->streams, 0, sizeof b->streams);
    b->nstreams = 0;
    b->gamma = -1;
    b->ws_bytes = 0;
}

static void free_bn(hr_ctx *ctx, hr__bn *bn)
{
    hr_ctx_free(ctx, bn->weight);
    hr_ctx_free(ctx, bn->bias);
    hr_ctx_free(ctx, bn->mean);
    hr_ctx_free(ctx, bn->var);
    memset(bn, 0, sizeof *bn);
}

void hr__block_free_sources(hr_model *m, hr__block *b)
{
    hr_ctx_free(m->ctx, b->dense_w);
    hr_ctx_free(m->ctx, b->dense_b);
    hr_ctx_free(m->ctx, b->k1_w);
    b->dense_w = b->dense_b = b->k1_w = NULL;
    free_bn(m->ctx, &b->dense_bn);
    free_bn(m->ctx, &b->k1_bn);
    free_bn(m->ctx, &b->id_bn);
}

static hr_status build_stream(hr_model *m, hr__block *b, hr_kernel_kind kind, unsigned set, const float *alpha,
                              hr__stream *s, hr_error *err)
{
    const int64_t cig = b->cin / b->groups;
    s->kind = kind;
    if (kind == HR_KERNEL_ID) {
        float eps = BN_EPS(m), shift;
        s->scale = hr_ctx_alloc(m->ctx, sizeof(float) * (size_t)b->cout);
        s->shift = hr_ctx_alloc(m->ctx, sizeof(float) * (size_t)b->cout);
        if (!s->scale || !s->shift)
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", b->name);
        for (int64_t c = 0; c < b->cout; c++) {
            s->scale[c] = bn_fold(&b->id_bn, NULL, c, eps, &shift) * alpha[HR_BRANCH_IDENTITY];
            s->shift[c] = shift * alpha[HR_BRANCH_IDENTITY];
        }
        return HR_OK;
    }
    int k = kind == HR_KERNEL_K3 ? 3 : 1;
    hr_conv_desc d = {b->cin, b->cout, k, b->stride, k / 2, b->groups};
    size_t wbytes = sizeof(float) * (size_t)(b->cout * cig * k * k);
    float *w = hr_ctx_alloc(m->ctx, wbytes), *bias = hr_ctx_alloc(m->ctx, sizeof(float) * (size_t)b->cout);
    hr_status st;
    if (!w || !bias) {
        hr_ctx_free(m->ctx, w);
        hr_ctx_free(m->ctx, bias);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for a %zu-byte fused kernel", b->name, wbytes);
    }
    fuse_kernel(m, b, set, alpha, k, w, bias);
    /* The block's real input size lets AUTO choose the Winograd tile. */
    hr_conv_params cp = m->params.conv;
    cp.height = b->in_h;
    cp.width = b->in_w;
    st = hr_conv_create(m->ctx, &d, w, bias, &cp, &s->conv, err);
    hr_ctx_free(m->ctx, w);
    hr_ctx_free(m->ctx, bias);
    if (st)
        return hr_error_prefix(err, "%s", b->name);
    return HR_OK;
}

hr_status hr__block_apply(hr_model *m, hr__block *b, int gamma, const float *alpha, hr_error *err)
{
    const hr_gamma_info *g = hr_gamma_get(gamma);
    hr_status st = HR_OK;
    char have[48];

    if (!g)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: gamma %d is out of range 0..%d", b->name, gamma,
                            HR_GAMMA_COUNT - 1);
    if (b->sources_dropped)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "%s: training-time weights were dropped; gamma cannot change",
                            b->name);
    if (g->branches & ~b->existing)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: gamma %d (%s) needs branches the block does not have (%s)",
                            b->name, gamma, g->name, hr_branch_mask_str(b->existing, have, sizeof have));
    hr__block_clear_streams(m, b);
    for (int i = 0; i < g->streams && !st; i++)
        st = build_stream(m, b, g->kernels[i], g->layout[i], alpha, &b->streams[b->nstreams++], err);
    if (st) {
        hr__block_clear_streams(m, b);
        return st;
    }
    b->gamma = gamma;
    for (int i = 0; i < b->nstreams; i++)
        if (b->streams[i].conv) {
            size_t ws = hr_conv_workspace_bytes(b->streams[i].conv, m->planned_batch > 0 ? m->planned_batch : 1,
                                                b->in_h, b->in_w, hr_ctx_threads(m->ctx));
            if (ws > b->ws_bytes)
                b->ws_bytes = ws;
        }
    return HR_OK;
}

hr_status hr__block_run(hr_model *m, const hr__block *b, const hr_tensor *x, hr_tensor *y, void *ws, hr_error *err)
{
    for (int i = 0; i < b->nstreams; i++) {
        unsigned flags = (i > 0 ? HR_EPI_ACCUMULATE : 0) | (i == b->nstreams - 1 ? HR_EPI_RELU : 0);
        const hr__stream *s = &b->streams[i];
        if (s->kind == HR_KERNEL_ID) {
            hr_affine(m->ctx, x, s->scale, s->shift, flags, y);
        } else {
            hr_status st = hr_conv_run(m->ctx, s->conv, x, flags, y, ws, err);
            if (st)
                return hr_error_prefix(err, "%s", b->name);
        }
    }
    return HR_OK;
}

/* The ground truth: each existing branch with non-zero α computed on its own
 * with reference kernels and an explicit BN, scaled and summed, then ReLU. */
hr_status hr_model_block_forward_unfused(const hr_model *m, int i, const float *alpha_override, const hr_tensor *x,
                                         hr_tensor *y, hr_error *err)
{
    const hr__block *b;
    const float *alpha;
    const float eps = BN_EPS(m);
    hr_status st = HR_OK;
    int64_t N, P, ny;
    float *tmp;

    if (i < -1 || i >= m->nblocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "block index %d out of range -1..%d", i, m->nblocks - 1);
    b = i < 0 ? &m->stage0 : &m->blocks[i];
    if (b->sources_dropped)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "%s: training-time weights were dropped", b->name);
    alpha = alpha_override ? alpha_override : b->alpha;
    N = x->shape[0];
    P = b->out_h * b->out_w;
    ny = N * b->cout * P;
    if (x->ndim != 4 || x->shape[1] != b->cin || x->shape[2] != b->in_h || x->shape[3] != b->in_w ||
        y->ndim != 4 || y->shape[0] != N || y->shape[1] != b->cout || y->shape[2] != b->out_h ||
        y->shape[3] != b->out_w)
        return hr_error_set(err, HR_ERR_SHAPE, "%s: input/output shapes do not match the block", b->name);
    tmp = hr_ctx_alloc(m->ctx, sizeof(float) * (size_t)ny);
    if (!tmp)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", b->name);
    memset(y->data, 0, sizeof(float) * (size_t)ny);
    hr_tensor t = hr_tensor_4d(tmp, N, b->cout, b->out_h, b->out_w);
    for (int br = 0; br < HR_BRANCH_COUNT && !st; br++) {
        const hr__bn *bn;
        const float *bias = NULL;
        if (!(b->existing & (1u << br)) || alpha[br] == 0.0f)
            continue;
        if (br == HR_BRANCH_IDENTITY) {
            memcpy(tmp, x->data, sizeof(float) * (size_t)ny);
            bn = &b->id_bn;
        } else {
            int k = br == HR_BRANCH_DENSE ? 3 : 1;
            hr_conv_desc d = {b->cin, b->cout, k, b->stride, k / 2, b->groups};
            st = hr_conv2d_ref(&d, x, br == HR_BRANCH_DENSE ? b->dense_w : b->k1_w, NULL, 0, &t, err);
            bn = br == HR_BRANCH_DENSE ? &b->dense_bn : &b->k1_bn;
            bias = br == HR_BRANCH_DENSE ? b->dense_b : NULL;
        }
        for (int64_t n = 0; n < N && !st; n++)
            for (int64_t c = 0; c < b->cout; c++) {
                float shift = bias ? bias[c] : 0.0f;
                float *tp = tmp + (n * b->cout + c) * P, *yp = y->data + (n * b->cout + c) * P;
                for (int64_t p = 0; p < P; p++) {
                    /* Explicit BN in its textbook form, not the folded one. */
                    float v = bn->weight ? (tp[p] - bn->mean[c]) / sqrtf(bn->var[c] + eps) * bn->weight[c] + bn->bias[c]
                                         : tp[p] + shift;
                    yp[p] += alpha[br] * v;
                }
            }
    }
    hr_ctx_free(m->ctx, tmp);
    if (st)
        return hr_error_prefix(err, "%s", b->name);
    hr_relu_ref(y);
    return HR_OK;
}
