/* Model structure, weights (random, loaded, exported), α and γ management. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/model_internal.h"

hr_model_params hr_model_params_default(void)
{
    hr_model_params p;
    memset(&p, 0, sizeof p);
    p.conv = hr_conv_params_default();
    p.bn_eps = 1e-5f;
    return p;
}

unsigned hr__block_default_branches(const hr__block *b)
{
    /* Stage 0 never has an identity branch, even when its shapes would allow one. */
    int identity = b->index >= 0 && b->cin == b->cout && b->stride == 1;
    return HR_BR_DENSE | HR_BR_1X1 | (identity ? HR_BR_IDENTITY : 0);
}

static void block_shape(hr__block *b, int64_t cin, int64_t cout, int stride, int groups, int64_t in_hw)
{
    b->cin = cin;
    b->cout = cout;
    b->stride = stride;
    b->groups = groups;
    b->in_h = b->in_w = in_hw;
    b->out_h = b->out_w = hr_conv_out_size(in_hw, 3, stride, 1);
    b->existing = hr__block_default_branches(b);
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        b->alpha[br] = (b->existing & (1u << br)) ? 1.0f : 0.0f;
    b->gamma = -1;
}

hr_status hr_model_create(hr_ctx *ctx, const char *arch_name, const hr_model_params *params, hr_model **out,
                          hr_error *err)
{
    const hr_arch *a = hr_arch_find(arch_name);
    hr_model_params p = params ? *params : hr_model_params_default();
    hr_model *m;
    int64_t hw, cin;
    int idx = 0, layer = 1;

    if (!a)
        return hr_error_set(err, HR_ERR_NOT_FOUND, "unknown model '%s' (see `hyperrep models`)",
                            arch_name ? arch_name : "(null)");
    m = calloc(1, sizeof *m);
    if (!m)
        return hr_error_set(err, HR_ERR_NOMEM, "model: out of memory");
    m->ctx = ctx;
    m->arch = a;
    m->params = p;
    m->in_channels = p.in_channels > 0 ? p.in_channels : a->in_channels;
    m->input_size = p.input_size > 0 ? p.input_size : a->input_size;
    m->num_classes = p.num_classes > 0 ? p.num_classes : a->num_classes;
    if (m->input_size > 65536 || m->in_channels > 4096 || m->num_classes > 1000000) {
        hr_error_set(err, HR_ERR_INVALID_ARG, "%s: input %lldx%lldx%lld or %lld classes out of range", a->name,
                     (long long)m->in_channels, (long long)m->input_size, (long long)m->input_size,
                     (long long)m->num_classes);
        free(m);
        return HR_ERR_INVALID_ARG;
    }
    m->nblocks = a->blocks[0] + a->blocks[1] + a->blocks[2] + a->blocks[3];
    m->blocks = calloc((size_t)m->nblocks, sizeof *m->blocks);
    if (!m->blocks) {
        free(m);
        return hr_error_set(err, HR_ERR_NOMEM, "model: out of memory");
    }
    snprintf(m->stage0.name, sizeof m->stage0.name, "stage0");
    m->stage0.index = -1;
    block_shape(&m->stage0, m->in_channels, a->stage0_channels, a->stage0_stride, 1, m->input_size);
    hw = m->stage0.out_h;
    cin = a->stage0_channels;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < a->blocks[s]; i++, idx++, layer++) {
            hr__block *b = &m->blocks[idx];
            int groups = (a->group_count > 1 && layer % 2 == 0) ? a->group_count : 1;
            snprintf(b->name, sizeof b->name, "stage%d.%d", s + 1, i);
            b->index = idx;
            block_shape(b, cin, a->widths[s], i == 0 ? 2 : 1, groups, hw);
            hw = b->out_h;
            cin = a->widths[s];
        }
    if (hw < 1 || m->stage0.out_h < 1) {
        hr_model_destroy(m);
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: input size %lld is too small", a->name,
                            (long long)m->input_size);
    }
    *out = m;
    return HR_OK;
}

static void free_plan(hr_model *m)
{
    for (int i = 0; i < 3; i++) {
        hr_ctx_free(m->ctx, m->act[i]);
        m->act[i] = NULL;
    }
    hr_ctx_free(m->ctx, m->ws);
    m->ws = NULL;
    m->planned_batch = 0;
    m->act_floats = m->ws_bytes = 0;
}

void hr_model_destroy(hr_model *m)
{
    if (!m)
        return;
    for (int i = -1; i < m->nblocks; i++) {
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        hr__block_clear_streams(m, b);
        hr__block_free_sources(m, b);
    }
    hr_ctx_free(m->ctx, m->linear_w);
    hr_ctx_free(m->ctx, m->linear_b);
    free_plan(m);
    free(m->blocks);
    free(m);
}

const hr_arch *hr_model_arch(const hr_model *m) { return m->arch; }
hr_ctx *hr_model_ctx(const hr_model *m) { return m->ctx; }
int hr_model_num_blocks(const hr_model *m) { return m->nblocks; }
int64_t hr_model_in_channels(const hr_model *m) { return m->in_channels; }
int64_t hr_model_input_size(const hr_model *m) { return m->input_size; }
int64_t hr_model_num_classes(const hr_model *m) { return m->num_classes; }
int64_t hr_model_feature_channels(const hr_model *m) { return m->blocks[m->nblocks - 1].cout; }

hr_block_info hr_model_block(const hr_model *m, int i)
{
    const hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
    hr_block_info info;
    info.name = b->name;
    info.index = b->index;
    info.cin = b->cin;
    info.cout = b->cout;
    info.in_h = b->in_h;
    info.in_w = b->in_w;
    info.out_h = b->out_h;
    info.out_w = b->out_w;
    info.stride = b->stride;
    info.groups = b->groups;
    info.existing = b->existing;
    info.live = hr__block_live(b);
    memcpy(info.alpha, b->alpha, sizeof info.alpha);
    info.gamma = b->gamma;
    info.deploy_only = b->deploy_only;
    return info;
}

int hr_model_find_block(const hr_model *m, const char *name)
{
    for (int i = 0; i < m->nblocks; i++)
        if (strcmp(m->blocks[i].name, name) == 0)
            return i;
    return -1;
}

hr_status hr_model_set_alphas(hr_model *m, const float *a, hr_error *err)
{
    hr_status st;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < hr_model_num_blocks(m); k++) {
            hr_block_info bi = hr_model_block(m, k);
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                float v = a[k * 3 + br];
                if (!(bi.existing >> br & 1u) || (pass == 0) != (v != 0.0f) || (pass == 1 && !(bi.live >> br & 1u)))
                    continue;
                if ((st = hr_model_set_alpha(m, k, (hr_branch)br, v, err)))
                    return st;
                bi = hr_model_block(m, k);
            }
        }
    return HR_OK;
}

const char *hr_model_alpha_name(const hr_model *m, int block, hr_branch br, char *buf, size_t size)
{
    snprintf(buf, size, "%s.hyper_%s", hr_model_block(m, block).name, hr_branch_name(br));
    return buf;
}

int64_t hr_model_block_params(const hr_model *m, int i)
{
    const hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
    return b->cout * (b->cin / b->groups) * 9 + b->cout;
}

double hr_model_block_flops(const hr_model *m, int i, int gamma)
{
    const hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
    const hr_gamma_info *g;
    double per_tap = 2.0 * (double)b->cout * (double)(b->out_h * b->out_w) * (double)(b->cin / b->groups), f = 0;
    if (gamma < 0)
        gamma = b->gamma >= 0 ? b->gamma : hr_gamma_deploy(hr__block_live(b));
    g = hr_gamma_get(gamma);
    if (!g)
        return 0;
    for (int s = 0; s < g->streams; s++)
        f += g->kernels[s] == HR_KERNEL_K3 ? 9 * per_tap : g->kernels[s] == HR_KERNEL_K1 ? per_tap : 0;
    return f;
}

double hr_model_classifier_flops(const hr_model *m)
{
    return 2.0 * (double)hr_model_feature_channels(m) * (double)m->num_classes;
}

static void drop_gammas(hr_model *m)
{
    for (int i = -1; i < m->nblocks; i++)
        hr__block_clear_streams(m, i < 0 ? &m->stage0 : &m->blocks[i]);
}

/* Allocates the training-time tensors of a block for its existing branches. */
hr_status hr__block_alloc_sources(hr_model *m, hr__block *b, hr_error *err)
{
    const int64_t cig = b->cin / b->groups;
    int ok = 1;
    hr__block_free_sources(m, b);
    b->sources_dropped = 0;
#define ALLOC(ptr, n) (ok = ok && ((ptr) = hr_ctx_calloc(m->ctx, sizeof(float) * (size_t)(n))) != NULL)
    if (b->existing & HR_BR_DENSE) {
        ALLOC(b->dense_w, b->cout * cig * 9);
        if (b->deploy_only) {
            ALLOC(b->dense_b, b->cout);
        } else {
            ALLOC(b->dense_bn.weight, b->cout), ALLOC(b->dense_bn.bias, b->cout);
            ALLOC(b->dense_bn.mean, b->cout), ALLOC(b->dense_bn.var, b->cout);
        }
    }
    if (b->existing & HR_BR_1X1) {
        ALLOC(b->k1_w, b->cout * cig);
        ALLOC(b->k1_bn.weight, b->cout), ALLOC(b->k1_bn.bias, b->cout);
        ALLOC(b->k1_bn.mean, b->cout), ALLOC(b->k1_bn.var, b->cout);
    }
    if (b->existing & HR_BR_IDENTITY) {
        ALLOC(b->id_bn.weight, b->cout), ALLOC(b->id_bn.bias, b->cout);
        ALLOC(b->id_bn.mean, b->cout), ALLOC(b->id_bn.var, b->cout);
    }
#undef ALLOC
    if (!ok) {
        hr__block_free_sources(m, b);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for weights", b->name);
    }
    return HR_OK;
}

hr_status hr__model_alloc_classifier(hr_model *m, hr_error *err)
{
    int64_t f = hr_model_feature_channels(m);
    if (!m->linear_w)
        m->linear_w = hr_ctx_calloc(m->ctx, sizeof(float) * (size_t)(m->num_classes * f));
    if (!m->linear_b)
        m->linear_b = hr_ctx_calloc(m->ctx, sizeof(float) * (size_t)m->num_classes);
    if (!m->linear_w || !m->linear_b)
        return hr_error_set(err, HR_ERR_NOMEM, "linear: out of memory");
    return HR_OK;
}

hr_status hr__block_init_random(hr_model *m, hr__block *b, uint64_t seed, hr_error *err)
{
    const int64_t cig = b->cin / b->groups;
    hr__rng rng;
    hr_status st;
    b->deploy_only = 0;
    b->existing = hr__block_default_branches(b);
    if ((st = hr__block_alloc_sources(m, b, err)))
        return st;
    /* One stream per block, so a block's weights do not depend on the others. */
    hr__rng_seed(&rng, seed, (uint64_t)(b->index + 2));
    int nbr = __builtin_popcount(b->existing);
    float bn_scale = 1.0f / sqrtf((float)nbr);
    float sd3 = sqrtf(2.0f / (float)(cig * 9)), sd1 = sqrtf(2.0f / (float)cig);
    for (int64_t k = 0; k < b->cout * cig * 9; k++)
        b->dense_w[k] = (float)hr__rng_normal(&rng) * sd3;
    for (int64_t k = 0; k < b->cout * cig; k++)
        b->k1_w[k] = (float)hr__rng_normal(&rng) * sd1;
    hr__bn *bns[3] = {&b->dense_bn, &b->k1_bn, &b->id_bn};
    for (int j = 0; j < 3; j++) {
        if (!bns[j]->weight)
            continue;
        for (int64_t c = 0; c < b->cout; c++) {
            bns[j]->weight[c] = bn_scale;
            bns[j]->bias[c] = 0.0f;
            bns[j]->mean[c] = 0.0f;
            bns[j]->var[c] = 1.0f;
        }
    }
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        b->alpha[br] = (b->existing & (1u << br)) ? 1.0f : 0.0f;
    return HR_OK;
}

hr_status hr__model_init_random_classifier(hr_model *m, uint64_t seed, hr_error *err)
{
    hr__rng rng;
    int64_t f = hr_model_feature_channels(m);
    float bound = 1.0f / sqrtf((float)f);
    hr_status st = hr__model_alloc_classifier(m, err);
    if (st)
        return st;
    hr__rng_seed(&rng, seed, 1);
    for (int64_t k = 0; k < m->num_classes * f; k++)
        m->linear_w[k] = (float)(2 * hr__rng_uniform(&rng) - 1) * bound;
    for (int64_t k = 0; k < m->num_classes; k++)
        m->linear_b[k] = (float)(2 * hr__rng_uniform(&rng) - 1) * bound;
    return HR_OK;
}

hr_status hr_model_init_random(hr_model *m, uint64_t seed, hr_error *err)
{
    hr_status st;
    drop_gammas(m);
    for (int i = -1; i < m->nblocks; i++)
        if ((st = hr__block_init_random(m, i < 0 ? &m->stage0 : &m->blocks[i], seed, err)))
            return st;
    return hr__model_init_random_classifier(m, seed, err);
}

hr_status hr_model_set_alpha(hr_model *m, int i, hr_branch br, float value, hr_error *err)
{
    hr__block *b;
    if (i < 0 || i >= m->nblocks || (unsigned)br >= HR_BRANCH_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "set_alpha: block %d / branch %d out of range", i, (int)br);
    b = &m->blocks[i];
    if (!(b->existing & (1u << br)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s has no %s branch", b->name, hr_branch_name(br));
    if (!isfinite(value))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s.hyper_%s: value is not finite", b->name, hr_branch_name(br));
    if (value == 0.0f && (hr__block_live(b) & ~(1u << br)) == 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: pruning %s would leave the block without a live branch",
                            b->name, hr_branch_name(br));
    b->alpha[br] = value;
    hr__block_clear_streams(m, b);
    return HR_OK;
}

/* Stage 0 always runs fused (dense + 1x1; a deploy-form checkpoint has only
 * the dense kernel); it is built the first time any γ is applied. */
static hr_status ensure_stage0(hr_model *m, hr_error *err)
{
    if (m->stage0.gamma >= 0 || m->stage0.sources_dropped)
        return HR_OK;
    return hr__block_apply(m, &m->stage0, m->stage0.deploy_only ? HR_GAMMA_SOLO_K3 : HR_GAMMA_FUSED_3_1,
                           m->stage0.alpha, err);
}

hr_status hr_model_apply_gamma(hr_model *m, int i, int gamma, hr_mask_kind mask, const float *alpha_override,
                               hr_error *err)
{
    hr_status st;
    hr__block *b;
    unsigned live;
    char have[48];
    const hr_gamma_info *g = hr_gamma_get(gamma);

    if (i < 0 || i >= m->nblocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "block index %d out of range 0..%d", i, m->nblocks - 1);
    b = &m->blocks[i];
    if (!g)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: gamma %d is out of range 0..%d", b->name, gamma,
                            HR_GAMMA_COUNT - 1);
    if (alpha_override) {
        live = 0;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if ((b->existing & (1u << br)) && alpha_override[br] != 0.0f)
                live |= 1u << br;
    } else {
        live = hr__block_live(b);
    }
    if (!hr_gamma_valid(gamma, live, mask))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: gamma %d (%s) is invalid for live branches %s (%s mask)",
                            b->name, gamma, g->name, hr_branch_mask_str(live, have, sizeof have),
                            mask == HR_MASK_SUBSET ? "subset" : "exact");
    if ((st = ensure_stage0(m, err)))
        return st;
    return hr__block_apply(m, b, gamma, alpha_override ? alpha_override : b->alpha, err);
}

hr_status hr_model_apply_deploy(hr_model *m, hr_error *err)
{
    hr_status st = ensure_stage0(m, err);
    if (st)
        return st;
    for (int i = 0; i < m->nblocks; i++) {
        hr__block *b = &m->blocks[i];
        int g = hr_gamma_deploy(hr__block_live(b));
        if (b->gamma == g)
            continue;
        if ((st = hr__block_apply(m, b, g, b->alpha, err)))
            return st;
    }
    return HR_OK;
}

void hr_model_drop_unapplied(hr_model *m)
{
    for (int i = -1; i < m->nblocks; i++) {
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        if (b->gamma < 0 && !b->sources_dropped) {
            hr__block_free_sources(m, b);
            b->sources_dropped = 1;
        }
    }
}

void hr_model_drop_sources(hr_model *m)
{
    for (int i = -1; i < m->nblocks; i++) {
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        if (b->gamma >= 0 && !b->sources_dropped) {
            hr__block_free_sources(m, b);
            b->sources_dropped = 1;
        }
    }
}
