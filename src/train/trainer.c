/* Trainer creation (layers, buffers, parameter table), SGD, α access,
 * momentum state and learning-rate schedules. The passes are in pass.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/train_internal.h"

hr_trainer_params hr_trainer_params_default(hr_train_mode mode)
{
    hr_trainer_params p;
    memset(&p, 0, sizeof p);
    p.mode = mode;
    p.batch = 32;
    p.momentum = 0.9f;
    p.weight_decay = 0.0f;
    p.l1 = mode == HR_TRAIN_ALPHA ? 0.001f : 0.0f;
    p.bn_momentum = 0.1f;
    return p;
}

static void free_layer(hr_ctx *ctx, hr__tlayer *l)
{
    float *f[] = {l->fw3, l->fb3, l->fw1, l->fb1, l->fs_id, l->ft_id, l->kf, l->out, l->z3, l->z1, l->gw3, l->gw1};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        hr_ctx_free(ctx, f[i]);
    for (int br = 0; br < HR_BRANCH_COUNT; br++) {
        hr_ctx_free(ctx, l->dal[br]);
        hr_ctx_free(ctx, l->mean[br]);
        hr_ctx_free(ctx, l->invstd[br]);
        hr_ctx_free(ctx, l->gbn_w[br]);
        hr_ctx_free(ctx, l->gbn_b[br]);
    }
}

void hr_trainer_destroy(hr_trainer *t)
{
    if (!t)
        return;
    if (t->layers)
        for (int i = 0; i < t->nlayers; i++)
            free_layer(t->ctx, &t->layers[i]);
    float *f[] = {t->xin, t->col, t->dcol, t->partial, t->wt, t->dzt, t->dwt, t->g[0], t->g[1], t->feat, t->logits, t->dlogits, t->dfeat,
                  t->glin_w, t->glin_b, t->momentum};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        hr_ctx_free(t->ctx, f[i]);
    hr_ctx_free(t->ctx, t->xent_sum);
    hr_ctx_free(t->ctx, t->correct);
    free(t->layers);
    free(t->par);
    free(t->names);
    free(t);
}

static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

/* Allocates n floats (zeroed) into *p; returns 0 on failure. */
static int alloc_f(hr_ctx *ctx, float **p, int64_t n)
{
    *p = hr_ctx_calloc(ctx, sizeof(float) * (size_t)(n > 0 ? n : 1));
    return *p != NULL;
}

/* Layer i: geometry always; weights and buffers only for the trainer's own
 * layers [lo, hi) (a part trainer does not need the other side's weights),
 * plus the output buffer of a tail's layer lo - 1, where the features
 * arrive. */
static hr_status setup_layer(hr_trainer *t, int i, hr__block *b, hr_error *err)
{
    const int full = t->params.mode == HR_TRAIN_FULL;
    const int64_t B = t->params.batch;
    hr__tlayer *l = &t->layers[i];
    hr_ctx *ctx = t->ctx;
    int ok = 1;
    l->b = b;
    l->cin = b->cin, l->cout = b->cout, l->H = b->in_h, l->W = b->in_w, l->OH = b->out_h, l->OW = b->out_w;
    l->P = l->OH * l->OW;
    l->stride = b->stride, l->groups = b->groups;
    l->cig = b->cin / b->groups, l->cog = b->cout / b->groups;
    if (i < t->lo || i >= t->hi) {
        if (i == t->lo - 1 && !alloc_f(ctx, &l->out, l->cout * B * l->P))
            return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory for the features of %s", b->name);
        return HR_OK;
    }
    if (b->deploy_only || b->sources_dropped)
        return hr_error_set(err, HR_ERR_UNSUPPORTED,
                            "%s: training needs the training-time weights (this block is %s)", b->name,
                            b->deploy_only ? "a deploy-form rbr_reparam conv" : "built without its sources");
    l->live = hr__block_live(b);
    if (!l->live)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s has no live branch", b->name);
    memcpy(l->alpha, b->alpha, sizeof l->alpha);
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        if (!(l->live >> br & 1u))
            l->alpha[br] = 0.0f;
    l->kk = (l->live & HR_BR_DENSE) ? 9 : 1;
    l->centre = l->kk == 9 ? 4 : 0;
    l->direct = l->kk == 1 && l->stride == 1;
    l->rot = !full && l->kk == 9 && l->stride == 1 && l->cin == l->cout && l->OH == l->H && l->OW == l->W;

    const int64_t act = l->cout * B * l->P, wk = l->cout * l->cig;
    ok = ok && alloc_f(ctx, &l->out, act);
    if (l->live & HR_BR_DENSE)
        ok = ok && alloc_f(ctx, &l->z3, act) && alloc_f(ctx, &l->fw3, wk * 9) && alloc_f(ctx, &l->fb3, l->cout);
    if (l->live & HR_BR_1X1)
        ok = ok && alloc_f(ctx, &l->z1, act) && alloc_f(ctx, &l->fw1, wk) && alloc_f(ctx, &l->fb1, l->cout);
    if (l->live & HR_BR_IDENTITY)
        ok = ok && alloc_f(ctx, &l->fs_id, l->cout) && alloc_f(ctx, &l->ft_id, l->cout);
    if (!full)
        ok = ok && alloc_f(ctx, &l->kf, wk * l->kk);
    for (int br = 0; br < HR_BRANCH_COUNT && ok; br++) {
        ok = ok && (l->dal[br] = hr_ctx_calloc(ctx, sizeof(double) * (size_t)(l->cout * t->nchunks_max))) != NULL;
        if (full && (l->live >> br & 1u))
            ok = ok && alloc_f(ctx, &l->mean[br], l->cout) && alloc_f(ctx, &l->invstd[br], l->cout) &&
                 alloc_f(ctx, &l->gbn_w[br], l->cout) && alloc_f(ctx, &l->gbn_b[br], l->cout);
    }
    if (full && (l->live & HR_BR_DENSE))
        ok = ok && alloc_f(ctx, &l->gw3, wk * 9);
    if (full && (l->live & HR_BR_1X1))
        ok = ok && alloc_f(ctx, &l->gw1, wk);
    if (!ok)
        return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory for %s", b->name);
    return HR_OK;
}

/* Adds a parameter entry; names are laid out in t->names at offset *off. */
static void add_param(hr_trainer *t, size_t *off, const char *block, const char *suffix, float *value, float *grad,
                      int64_t numel, int decay)
{
    hr_train_param *p = &t->par[t->nparams++];
    int len = snprintf(t->names + *off, 96, "%s.%s", block, suffix);
    p->name = t->names + *off;
    *off += (size_t)len + 1;
    p->value = value;
    p->grad = grad;
    p->numel = numel;
    p->decay = decay;
}

static hr_status build_params(hr_trainer *t, hr_error *err)
{
    const int full = t->params.mode == HR_TRAIN_FULL;
    int cap = full ? t->nlayers * 8 + 2 : t->nlayers * 3;
    size_t off = 0;
    int64_t total = 0;
    static const char *hyper[] = {"hyper_dense", "hyper_1x1", "hyper_identity"};
    static const char *bnname[] = {"rbr_dense.bn", "rbr_1x1.bn", "rbr_identity"};
    t->par = calloc((size_t)cap, sizeof *t->par);
    t->names = calloc((size_t)cap, 96);
    if (!t->par || !t->names)
        return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory");
    for (int i = full || t->lo > 1 ? t->lo : 1; i < t->hi; i++) {
        hr__tlayer *l = &t->layers[i];
        const char *bn = l->b->name;
        if (!full) {
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (l->live >> br & 1u)
                    add_param(t, &off, bn, hyper[br], &l->alpha[br], &l->galpha[br], 1, 0);
            continue;
        }
        if (l->live & HR_BR_DENSE)
            add_param(t, &off, bn, "rbr_dense.conv.weight", l->b->dense_w, l->gw3, l->cout * l->cig * 9, 1);
        if (l->live & HR_BR_1X1)
            add_param(t, &off, bn, "rbr_1x1.conv.weight", l->b->k1_w, l->gw1, l->cout * l->cig, 1);
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            if (!(l->live >> br & 1u))
                continue;
            char nm[48];
            hr__bn *b = br == 0 ? &l->b->dense_bn : br == 1 ? &l->b->k1_bn : &l->b->id_bn;
            snprintf(nm, sizeof nm, "%s.weight", bnname[br]);
            add_param(t, &off, bn, nm, b->weight, l->gbn_w[br], l->cout, 0);
            snprintf(nm, sizeof nm, "%s.bias", bnname[br]);
            add_param(t, &off, bn, nm, b->bias, l->gbn_b[br], l->cout, 0);
        }
    }
    if (full) { /* full mode is whole-network only */
        add_param(t, &off, "linear", "weight", t->model->linear_w, t->glin_w, t->classes * t->feat_c, 1);
        add_param(t, &off, "linear", "bias", t->model->linear_b, t->glin_b, t->classes, 0);
    }
    for (int i = 0; i < t->nparams; i++)
        total += t->par[i].numel;
    t->momentum = hr_ctx_calloc(t->ctx, sizeof(float) * (size_t)(total > 0 ? total : 1));
    if (!t->momentum)
        return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory for %lld momentum values", (long long)total);
    total = 0;
    for (int i = 0; i < t->nparams; i++) {
        t->par[i].momentum = t->momentum + total;
        total += t->par[i].numel;
    }
    return HR_OK;
}

hr_status hr_trainer_create(hr_model *m, const hr_trainer_params *params, hr_trainer **out, hr_error *err)
{
    hr_trainer_params p = params ? *params : hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_trainer *t;
    hr_status st = HR_OK;
    size_t col = 0, part = 0, act = 0, wmax = 0;

    if ((unsigned)p.mode >= HR_TRAIN_MODE_COUNT || p.batch < 1 || p.batch > 65536 || !(p.momentum >= 0) ||
        !(p.momentum < 1) || !(p.weight_decay >= 0) || !(p.l1 >= 0) || !(p.bn_momentum >= 0) || !(p.bn_momentum <= 1))
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "trainer: invalid parameters (mode %d, batch %lld, momentum %g, weight decay %g, l1 %g, "
                            "bn momentum %g)", (int)p.mode, (long long)p.batch, p.momentum, p.weight_decay, p.l1,
                            p.bn_momentum);
    if ((unsigned)p.part >= HR_TRAIN_PART_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: invalid part %d", (int)p.part);
    if (p.part != HR_PART_ALL && p.mode != HR_TRAIN_ALPHA)
        return hr_error_set(err, HR_ERR_UNSUPPORTED,
                            "trainer: split training (%s part) trains α only, not the full network",
                            p.part == HR_PART_HEAD ? "head" : "tail");
    if (p.part != HR_PART_ALL && (p.split < 0 || p.split > m->nblocks))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: split %d outside 0..%d (the blocks of %s)", p.split,
                            m->nblocks, hr_model_arch(m)->name);
    if (p.part != HR_PART_HEAD && (!m->linear_w || !m->linear_b))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: the model has no classifier weights");
    t = calloc(1, sizeof *t);
    if (!t)
        return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory");
    t->model = m;
    t->ctx = m->ctx;
    t->params = p;
    t->eps = m->params.bn_eps > 0 ? m->params.bn_eps : 1e-5f;
    t->nlayers = m->nblocks + 1;
    t->classes = m->num_classes;
    t->feat_c = hr_model_feature_channels(m);
    t->nchunks_max = (p.batch + HR__CHUNK - 1) / HR__CHUNK;
    t->lo = p.part == HR_PART_TAIL ? p.split + 1 : 0;
    t->hi = p.part == HR_PART_HEAD ? p.split + 1 : t->nlayers;
    t->layers = calloc((size_t)t->nlayers, sizeof *t->layers);
    if (!t->layers) {
        free(t);
        return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory");
    }
    for (int i = 0; i < t->nlayers && !st; i++)
        st = setup_layer(t, i, i == 0 ? &m->stage0 : &m->blocks[i - 1], err);
    if (st) {
        hr_trainer_destroy(t);
        return st;
    }
    /* shared buffers sized for the largest layer of the part */
    for (int i = t->lo; i < t->hi; i++) {
        const hr__tlayer *l = &t->layers[i];
        const int64_t NP = p.batch * l->P, K = l->cig * l->kk;
        if (!l->direct)
            t->col_ps = (int64_t)maxz((size_t)t->col_ps, (size_t)(l->cin * l->kk * l->P));
        wmax = maxz(wmax, (size_t)(l->cog * K));
        if (p.mode == HR_TRAIN_FULL) {
            int s3 = hr__sgemm_splits(K, l->cog, NP), s1 = hr__sgemm_splits(l->cig, l->cog, NP);
            part = maxz(part, s3 > 1 ? (size_t)(s3 * l->cog * K) : 0);
            part = maxz(part, s1 > 1 ? (size_t)(s1 * l->cog * l->cig) : 0);
            t->act_ps = (int64_t)maxz((size_t)t->act_ps, (size_t)(l->cout * l->P));
            t->act_ps = (int64_t)maxz((size_t)t->act_ps, (size_t)(l->cin * l->H * l->W));
        } else {
            /* α mode: gradients exist w.r.t. the outputs of layers 1..N
             * only (stage 0 gets none), plus a tail's features (the output
             * of layer lo - 1, stage 0's for split 0); the data-gradient
             * columns only where an input gradient is computed: layers
             * 2..N, and a tail's first layer */
            const int gin = i >= 2 || (p.part == HR_PART_TAIL && i == t->lo);
            if (i >= 1)
                t->act_ps = (int64_t)maxz((size_t)t->act_ps, (size_t)(l->cout * l->P));
            if (gin && !l->direct)
                t->dcol_ps = (int64_t)maxz((size_t)t->dcol_ps, (size_t)(l->rot ? l->cout * 9 * l->P
                                                                              : l->cin * l->kk * l->P));
        }
    }
    if (p.mode == HR_TRAIN_FULL)
        t->dcol_ps = t->col_ps; /* one whole-batch pass: dcol is indexed from 0 */
    else if (p.part == HR_PART_TAIL)
        t->act_ps = (int64_t)maxz((size_t)t->act_ps, (size_t)(t->layers[t->lo - 1].cout * t->layers[t->lo - 1].P));
    col = (size_t)(t->col_ps * p.batch);
    act = (size_t)(t->act_ps * p.batch);
    t->xent_sum = hr_ctx_calloc(t->ctx, sizeof(double) * (size_t)t->nchunks_max);
    t->correct = hr_ctx_calloc(t->ctx, sizeof(int64_t) * (size_t)t->nchunks_max);
    const hr__tlayer *l0 = &t->layers[0];
    const int64_t cls = p.part == HR_PART_HEAD ? 0 : p.batch; /* the head has no classifier */
    int ok = alloc_f(t->ctx, &t->xin, t->lo == 0 ? l0->cin * p.batch * l0->H * l0->W : 0) &&
             alloc_f(t->ctx, &t->col, (int64_t)col) &&
             alloc_f(t->ctx, &t->dcol, t->dcol_ps * p.batch) && alloc_f(t->ctx, &t->partial, (int64_t)part) &&
             alloc_f(t->ctx, &t->wt, (int64_t)wmax) && alloc_f(t->ctx, &t->dwt, (int64_t)wmax) &&
             alloc_f(t->ctx, &t->dzt, p.mode == HR_TRAIN_FULL ? (int64_t)act : 1) &&
             alloc_f(t->ctx, &t->g[0], (int64_t)act) && alloc_f(t->ctx, &t->g[1], (int64_t)act) &&
             alloc_f(t->ctx, &t->feat, cls * t->feat_c) && alloc_f(t->ctx, &t->dfeat, cls * t->feat_c) &&
             alloc_f(t->ctx, &t->logits, cls * t->classes) && alloc_f(t->ctx, &t->dlogits, cls * t->classes);
    if (ok && p.mode == HR_TRAIN_FULL)
        ok = alloc_f(t->ctx, &t->glin_w, t->classes * t->feat_c) && alloc_f(t->ctx, &t->glin_b, t->classes);
    if (!ok || !t->xent_sum || !t->correct) {
        hr_trainer_destroy(t);
        return hr_error_set(err, HR_ERR_NOMEM, "trainer: out of memory for batch %lld buffers", (long long)p.batch);
    }
    if ((st = build_params(t, err))) {
        hr_trainer_destroy(t);
        return st;
    }
    if (p.mode == HR_TRAIN_FULL) {
        /* the weights are about to change: fused γ would be stale */
        for (int i = 0; i < t->nlayers; i++)
            hr__block_clear_streams(m, t->layers[i].b);
    }
    hr__trainer_fold(t);
    *out = t;
    return HR_OK;
}

hr_train_mode hr_trainer_mode(const hr_trainer *t) { return t->params.mode; }
hr_model *hr_trainer_model(const hr_trainer *t) { return t->model; }

/* compute and predict run the whole network. */
static hr_status need_whole(const hr_trainer *t, const char *what, hr_error *err)
{
    if (t->params.part == HR_PART_ALL)
        return HR_OK;
    return hr_error_set(err, HR_ERR_UNSUPPORTED, "trainer: %s needs the whole network; this trainer holds the %s "
                        "(split %d): use hr_trainer_%s", what, t->params.part == HR_PART_HEAD ? "head" : "tail",
                        t->params.split, t->params.part == HR_PART_HEAD ? "head_forward/head_backward"
                                                                        : "tail_compute");
}

hr_status hr_trainer_compute(hr_trainer *t, const hr_tensor *x, const int64_t *labels, hr_train_stats *stats,
                             hr_error *err)
{
    const int full = t->params.mode == HR_TRAIN_FULL;
    hr_status st = need_whole(t, "compute", err);
    if (st)
        return st;
    st = hr__trainer_run(t, x, labels, full, stats, err);
    if (full)
        t->folded_valid = 0; /* running statistics moved */
    return st;
}

void hr_trainer_update(hr_trainer *t, float lr)
{
    const float mom = t->params.momentum, wd = t->params.weight_decay;
    for (int i = 0; i < t->nparams; i++) {
        hr_train_param *p = &t->par[i];
        const float d = p->decay ? wd : 0.0f;
        for (int64_t k = 0; k < p->numel; k++) {
            float g = p->grad[k] + d * p->value[k];
            float v = mom * p->momentum[k] + g;
            p->momentum[k] = v;
            p->value[k] -= lr * v;
        }
    }
    if (t->params.mode == HR_TRAIN_FULL)
        t->folded_valid = 0;
}

hr_status hr_trainer_step(hr_trainer *t, const hr_tensor *x, const int64_t *labels, float lr, hr_train_stats *stats,
                          hr_error *err)
{
    hr_status st = hr_trainer_compute(t, x, labels, stats, err);
    if (st)
        return st;
    hr_trainer_update(t, lr);
    return HR_OK;
}

hr_status hr_trainer_predict(hr_trainer *t, const hr_tensor *x, hr_tensor *logits, hr_error *err)
{
    char s[64];
    hr_status st = need_whole(t, "predict", err);
    if (st)
        return st;
    if (logits->ndim != 2 || logits->shape[0] != x->shape[0] || logits->shape[1] != t->classes)
        return hr_error_set(err, HR_ERR_SHAPE, "trainer: logits %s, expected [%lld, %lld]",
                            hr_tensor_shape_str(logits, s, sizeof s), (long long)x->shape[0], (long long)t->classes);
    st = hr__trainer_run(t, x, NULL, 0, NULL, err);
    if (st)
        return st;
    memcpy(logits->data, t->logits, sizeof(float) * (size_t)(x->shape[0] * t->classes));
    return HR_OK;
}

int hr_trainer_num_params(const hr_trainer *t) { return t->nparams; }

const hr_train_param *hr_trainer_param(const hr_trainer *t, int i)
{
    return i >= 0 && i < t->nparams ? &t->par[i] : NULL;
}

const hr_train_param *hr_trainer_find_param(const hr_trainer *t, const char *name)
{
    for (int i = 0; i < t->nparams; i++)
        if (strcmp(t->par[i].name, name) == 0)
            return &t->par[i];
    return NULL;
}

float hr_trainer_alpha(const hr_trainer *t, int block, hr_branch br)
{
    if (block < 0 || block + 1 >= t->nlayers || (unsigned)br >= HR_BRANCH_COUNT)
        return 0.0f;
    return t->layers[block + 1].alpha[br];
}

hr_status hr_trainer_set_alpha(hr_trainer *t, int block, hr_branch br, float value, hr_error *err)
{
    if (t->params.mode != HR_TRAIN_ALPHA)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: α is fixed in full mode");
    if (block < 0 || block + 1 >= t->nlayers || (unsigned)br >= HR_BRANCH_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: block %d / branch %d out of range", block, (int)br);
    if (block + 1 < t->lo || block + 1 >= t->hi)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "trainer: block %d (%s) is not in this trainer's %s (split %d)",
                            block, t->layers[block + 1].b->name, t->params.part == HR_PART_HEAD ? "head" : "tail",
                            t->params.split);
    hr__tlayer *l = &t->layers[block + 1];
    if (!(l->live >> br & 1u))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s.hyper_%s is pruned or missing", l->b->name,
                            hr_branch_name(br));
    if (!isfinite(value))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s.hyper_%s: value is not finite", l->b->name,
                            hr_branch_name(br));
    l->alpha[br] = value;
    return HR_OK;
}

hr_status hr_trainer_sync(hr_trainer *t, hr_error *err)
{
    hr_status st;
    if (t->params.mode == HR_TRAIN_FULL) {
        for (int i = 0; i < t->nlayers; i++)
            hr__block_clear_streams(t->model, t->layers[i].b);
        return HR_OK;
    }
    for (int i = t->lo > 1 ? t->lo : 1; i < t->hi; i++) {
        hr__tlayer *l = &t->layers[i];
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if ((l->live >> br & 1u) && l->b->alpha[br] != l->alpha[br] &&
                (st = hr_model_set_alpha(t->model, i - 1, (hr_branch)br, l->alpha[br], err)))
                return st;
    }
    return HR_OK;
}

void hr_trainer_reset_momentum(hr_trainer *t)
{
    for (int i = 0; i < t->nparams; i++)
        memset(t->par[i].momentum, 0, sizeof(float) * (size_t)t->par[i].numel);
}

hr_status hr_trainer_export_state(const hr_trainer *t, hr_tensor_map *map, hr_error *err)
{
    char name[160];
    for (int i = 0; i < t->nparams; i++) {
        const hr_train_param *p = &t->par[i];
        int64_t shape[1] = {p->numel};
        snprintf(name, sizeof name, "momentum.%s", p->name);
        hr_status st = hr_tensor_map_add(map, name, 1, shape, p->momentum, err);
        if (st)
            return st;
    }
    return HR_OK;
}

hr_status hr_trainer_import_state(hr_trainer *t, const hr_tensor_map *map, hr_error *err)
{
    char name[160];
    for (int i = 0; i < t->nparams; i++) {
        hr_train_param *p = &t->par[i];
        snprintf(name, sizeof name, "momentum.%s", p->name);
        const hr_named_tensor *nt = hr_tensor_map_find(map, name);
        if (!nt) {
            memset(p->momentum, 0, sizeof(float) * (size_t)p->numel);
            continue;
        }
        if (hr_named_tensor_numel(nt) != p->numel)
            return hr_error_set(err, HR_ERR_FORMAT, "%s has %lld values, expected %lld", name,
                                (long long)hr_named_tensor_numel(nt), (long long)p->numel);
        memcpy(p->momentum, nt->data, sizeof(float) * (size_t)p->numel);
    }
    return HR_OK;
}

/* ---- schedules ---- */

static const char *sched_names[HR_LR_SCHEDULE_COUNT] = {"constant", "cosine", "step"};

int hr_lr_schedule_parse(const char *s)
{
    for (int i = 0; s && i < HR_LR_SCHEDULE_COUNT; i++)
        if (strcasecmp(s, sched_names[i]) == 0)
            return i;
    return -1;
}

const char *hr_lr_schedule_name(hr_lr_schedule s)
{
    return (unsigned)s < HR_LR_SCHEDULE_COUNT ? sched_names[s] : "unknown";
}

double hr_lr_at(hr_lr_schedule s, double base, int64_t done, int64_t total)
{
    double f = total > 0 ? (double)done / (double)total : 0;
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    switch (s) {
    case HR_LR_COSINE: return base * 0.5 * (1.0 + cos(3.14159265358979323846 * f));
    case HR_LR_STEP: return base * (f >= 0.75 ? 0.01 : f >= 0.5 ? 0.1 : 1.0);
    default: return base;
    }
}
