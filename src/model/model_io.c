/* Model weights ↔ named tensors, with the PyTorch RepVGG state_dict names
 * (SPEC §2). Loading is strict: every tensor the architecture needs must be
 * present with the right shape, and every tensor in the map must be used, so
 * a checkpoint of another architecture fails loudly instead of half-loading. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

typedef struct loader {
    hr_model *m;
    const hr_tensor_map *map;
    unsigned char *used;      /* one flag per map entry */
    hr_error *err;
    hr_virtual_ids virt;      /* the original's virtual identities met, for one note */
} loader;

static size_t entry_index(const loader *L, const hr_named_tensor *t)
{
    for (size_t i = 0, n = hr_tensor_map_count(L->map); i < n; i++)
        if (hr_tensor_map_at(L->map, i) == t)
            return i;
    return (size_t)-1;
}

/* Finds "<prefix>.<suffix>" and marks it used; NULL when absent. */
static const hr_named_tensor *find(loader *L, const char *prefix, const char *suffix)
{
    char name[HR_WEIGHTS_MAX_NAME + 1];
    const hr_named_tensor *t;
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    t = hr_tensor_map_find(L->map, name);
    if (t) {
        size_t i = entry_index(L, t);
        if (i != (size_t)-1)
            L->used[i] = 1;
    }
    return t;
}

static char *shape_str(const hr_named_tensor *t, char *buf, size_t size)
{
    hr_tensor v = {0};
    v.ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++)
        v.shape[i] = t->shape[i];
    return hr_tensor_shape_str(&v, buf, size);
}

/* Copies a required tensor of the given shape into dst. */
static hr_status take(loader *L, const char *prefix, const char *suffix, int ndim, const int64_t *shape, float *dst)
{
    const hr_named_tensor *t = find(L, prefix, suffix);
    char have[64], want[64];
    int64_t n = 1;
    if (!t)
        return hr_error_set(L->err, HR_ERR_NOT_FOUND, "missing tensor '%s.%s'", prefix, suffix);
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        hr_tensor w = hr_tensor_view(NULL, ndim, shape);
        return hr_error_set(L->err, HR_ERR_SHAPE, "tensor '%s.%s' has shape %s, the model needs %s", prefix, suffix,
                            shape_str(t, have, sizeof have), hr_tensor_shape_str(&w, want, sizeof want));
    }
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(t->data[i]))
            return hr_error_set(L->err, HR_ERR_FORMAT, "tensor '%s.%s' holds a non-finite value at element %lld",
                                prefix, suffix, (long long)i);
    memcpy(dst, t->data, sizeof(float) * (size_t)n);
    return HR_OK;
}

static hr_status take_bn(loader *L, const char *prefix, int64_t c, hr__bn *bn)
{
    const int64_t shape[1] = {c};
    hr_status st;
    if ((st = take(L, prefix, "weight", 1, shape, bn->weight)) || (st = take(L, prefix, "bias", 1, shape, bn->bias)) ||
        (st = take(L, prefix, "running_mean", 1, shape, bn->mean)) ||
        (st = take(L, prefix, "running_var", 1, shape, bn->var)))
        return st;
    for (int64_t i = 0; i < c; i++)
        if (bn->var[i] < 0)
            return hr_error_set(L->err, HR_ERR_FORMAT, "tensor '%s.running_var' is negative at channel %lld", prefix,
                                (long long)i);
    find(L, prefix, "num_batches_tracked");
    return HR_OK;
}

static int has_prefix(loader *L, const char *prefix)
{
    size_t len = strlen(prefix);
    for (size_t i = 0, n = hr_tensor_map_count(L->map); i < n; i++) {
        const char *name = hr_tensor_map_at(L->map, i)->name;
        if (strncmp(name, prefix, len) == 0 && name[len] == '.')
            return 1;
    }
    return 0;
}

/* First phase of loading a block: which branches the checkpoint has (the
 * training-time form, or the deploy form's single rbr_reparam conv) and its
 * α, without touching any weight data. */
static hr_status probe_block(loader *L, hr__block *b)
{
    char p[64];
    unsigned existing = 0;

    snprintf(p, sizeof p, "%s.rbr_reparam", b->name);
    b->deploy_only = has_prefix(L, p);
    if (b->deploy_only) {
        existing = HR_BR_DENSE;
    } else {
        snprintf(p, sizeof p, "%s.rbr_dense", b->name);
        existing |= has_prefix(L, p) ? HR_BR_DENSE : 0;
        snprintf(p, sizeof p, "%s.rbr_1x1", b->name);
        existing |= has_prefix(L, p) ? HR_BR_1X1 : 0;
        snprintf(p, sizeof p, "%s.rbr_identity", b->name);
        existing |= has_prefix(L, p) ? HR_BR_IDENTITY : 0;
    }
    if (!existing)
        return hr_error_set(L->err, HR_ERR_NOT_FOUND, "no weights for block %s (expected %s.rbr_dense.*, "
                            "%s.rbr_reparam.* …)", b->name, b->name, b->name);
    if ((existing & HR_BR_IDENTITY) && (b->cin != b->cout || b->stride != 1))
        return hr_error_set(L->err, HR_ERR_FORMAT, "%s.rbr_identity given, but the block changes shape "
                            "(%lld -> %lld channels, stride %d)", b->name, (long long)b->cin, (long long)b->cout,
                            b->stride);
    if (b->index < 0 && (existing & HR_BR_IDENTITY))
        return hr_error_set(L->err, HR_ERR_FORMAT, "stage0 cannot have an identity branch");
    b->existing = existing;
    /* α: absent (official checkpoints) means 1 for every existing branch. */
    for (int br = 0; br < HR_BRANCH_COUNT; br++) {
        static const char *suffix[HR_BRANCH_COUNT] = {"hyper_dense", "hyper_1x1", "hyper_identity"};
        const hr_named_tensor *t = find(L, b->name, suffix[br]);
        b->alpha[br] = (existing & (1u << br)) ? 1.0f : 0.0f;
        if (!t)
            continue;
        if (b->index < 0 || b->deploy_only)
            return hr_error_set(L->err, HR_ERR_FORMAT, "tensor '%s.%s': %s has no trainable hyper-weights", b->name,
                                suffix[br], b->index < 0 ? "stage0" : "a deploy-form block");
        if (hr_branch_is_virtual(existing, (hr_branch)br)) {
            hr_virtual_ids_add(&L->virt, b->name); /* the original's virtual identity: value ignored */
            continue;
        }
        if (!(existing & (1u << br)))
            return hr_error_set(L->err, HR_ERR_FORMAT, "tensor '%s.%s' given, but the block has no %s branch",
                                b->name, suffix[br], hr_branch_name((hr_branch)br));
        if (hr_named_tensor_numel(t) != 1 || t->ndim > 1)
            return hr_error_set(L->err, HR_ERR_SHAPE, "tensor '%s.%s' must hold one value", b->name, suffix[br]);
        if (!isfinite(t->data[0]))
            return hr_error_set(L->err, HR_ERR_FORMAT, "tensor '%s.%s' is not finite", b->name, suffix[br]);
        b->alpha[br] = t->data[0];
    }
    if (!hr__block_live(b))
        return hr_error_set(L->err, HR_ERR_FORMAT, "%s: every hyper-weight is 0, the block has no live branch",
                            b->name);
    return HR_OK;
}

/* Second phase: allocates the block's training-time tensors and copies them
 * from the map, checking every shape. */
static hr_status load_block_weights(loader *L, hr__block *b)
{
    char p[64];
    const int64_t cig = b->cin / b->groups;
    const int64_t s3[4] = {b->cout, cig, 3, 3}, s1[4] = {b->cout, cig, 1, 1}, sc[1] = {b->cout};
    hr_status st;

    if ((st = hr__block_alloc_sources(L->m, b, L->err)))
        return st;
    if (b->deploy_only) {
        snprintf(p, sizeof p, "%s.rbr_reparam", b->name);
        if ((st = take(L, p, "weight", 4, s3, b->dense_w)) || (st = take(L, p, "bias", 1, sc, b->dense_b)))
            return st;
    }
    if (!b->deploy_only && (b->existing & HR_BR_DENSE)) {
        snprintf(p, sizeof p, "%s.rbr_dense", b->name);
        if ((st = take(L, p, "conv.weight", 4, s3, b->dense_w)))
            return st;
        snprintf(p, sizeof p, "%s.rbr_dense.bn", b->name);
        if ((st = take_bn(L, p, b->cout, &b->dense_bn)))
            return st;
    }
    if (b->existing & HR_BR_1X1) {
        snprintf(p, sizeof p, "%s.rbr_1x1", b->name);
        if ((st = take(L, p, "conv.weight", 4, s1, b->k1_w)))
            return st;
        snprintf(p, sizeof p, "%s.rbr_1x1.bn", b->name);
        if ((st = take_bn(L, p, b->cout, &b->k1_bn)))
            return st;
    }
    if (b->existing & HR_BR_IDENTITY) {
        snprintf(p, sizeof p, "%s.rbr_identity", b->name);
        if ((st = take_bn(L, p, b->cout, &b->id_bn)))
            return st;
    }
    return HR_OK;
}

/* Loads the classifier and fails on any tensor no block used. */
static hr_status finish_load(loader *L)
{
    hr_model *m = L->m;
    const int64_t sw[2] = {m->num_classes, hr_model_feature_channels(m)}, sb[1] = {m->num_classes};
    hr_status st = hr__model_alloc_classifier(m, L->err);
    if (!st && !(st = take(L, "linear", "weight", 2, sw, m->linear_w)))
        st = take(L, "linear", "bias", 1, sb, m->linear_b);
    for (size_t i = 0, n = hr_tensor_map_count(L->map); i < n && !st; i++)
        if (!L->used[i])
            st = hr_error_set(L->err, HR_ERR_FORMAT, "unexpected tensor '%s' for %s (another architecture or "
                              "input size?)", hr_tensor_map_at(L->map, i)->name, m->arch->name);
    return st;
}

/* The one note of a load that met the original's virtual identities. The
 * map has no file name, so the note says "weights". */
static void note_virtual(const loader *L)
{
    char note[512];
    if (L->virt.count)
        hr_ctx_log(L->m->ctx, HR_LOG_WARN, "%s", hr_virtual_ids_note(&L->virt, "weights", note, sizeof note));
}

hr_status hr_model_load(hr_model *m, const hr_tensor_map *map, hr_error *err)
{
    loader L = {m, map, NULL, err, {0}};
    size_t n = hr_tensor_map_count(map);
    hr_status st = HR_OK;

    for (int i = -1; i < m->nblocks; i++)
        hr__block_clear_streams(m, i < 0 ? &m->stage0 : &m->blocks[i]);
    L.used = calloc(n ? n : 1, 1);
    if (!L.used)
        return hr_error_set(err, HR_ERR_NOMEM, "load: out of memory");
    for (int i = -1; i < m->nblocks && !st; i++) {
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        if (!(st = probe_block(&L, b)))
            st = load_block_weights(&L, b);
    }
    if (!st)
        st = finish_load(&L);
    if (!st)
        note_virtual(&L);
    free(L.used);
    return st;
}

static hr_status put(hr_tensor_map *map, const char *prefix, const char *suffix, int ndim, const int64_t *shape,
                     const float *data, hr_error *err)
{
    char name[HR_WEIGHTS_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return hr_tensor_map_add(map, name, ndim, shape, data, err);
}

static hr_status put_bn(hr_tensor_map *map, const char *prefix, int64_t c, const hr__bn *bn, hr_error *err)
{
    const int64_t s[1] = {c};
    hr_status st;
    if ((st = put(map, prefix, "weight", 1, s, bn->weight, err)) || (st = put(map, prefix, "bias", 1, s, bn->bias, err)) ||
        (st = put(map, prefix, "running_mean", 1, s, bn->mean, err)))
        return st;
    return put(map, prefix, "running_var", 1, s, bn->var, err);
}

hr_status hr_model_export(const hr_model *m, hr_tensor_map *map, hr_error *err)
{
    hr_status st = HR_OK;
    char p[64];
    for (int i = -1; i < m->nblocks && !st; i++) {
        const hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        const int64_t cig = b->cin / b->groups;
        const int64_t s3[4] = {b->cout, cig, 3, 3}, s1[4] = {b->cout, cig, 1, 1}, sc[1] = {b->cout}, one[1] = {1};
        if (b->sources_dropped || (!b->dense_w && !b->k1_w && !b->id_bn.weight))
            return hr_error_set(err, HR_ERR_UNSUPPORTED, "%s: no training-time weights to export", b->name);
        if (b->deploy_only) {
            snprintf(p, sizeof p, "%s.rbr_reparam", b->name);
            if (!(st = put(map, p, "weight", 4, s3, b->dense_w, err)))
                st = put(map, p, "bias", 1, sc, b->dense_b, err);
            continue;
        }
        if (b->index >= 0)
            for (int br = 0; br < HR_BRANCH_COUNT && !st; br++) {
                static const char *suffix[HR_BRANCH_COUNT] = {"hyper_dense", "hyper_1x1", "hyper_identity"};
                if (b->existing & (1u << br))
                    st = put(map, b->name, suffix[br], 1, one, &b->alpha[br], err);
            }
        if (!st && (b->existing & HR_BR_DENSE)) {
            snprintf(p, sizeof p, "%s.rbr_dense", b->name);
            if (!(st = put(map, p, "conv.weight", 4, s3, b->dense_w, err))) {
                snprintf(p, sizeof p, "%s.rbr_dense.bn", b->name);
                st = put_bn(map, p, b->cout, &b->dense_bn, err);
            }
        }
        if (!st && (b->existing & HR_BR_1X1)) {
            snprintf(p, sizeof p, "%s.rbr_1x1", b->name);
            if (!(st = put(map, p, "conv.weight", 4, s1, b->k1_w, err))) {
                snprintf(p, sizeof p, "%s.rbr_1x1.bn", b->name);
                st = put_bn(map, p, b->cout, &b->k1_bn, err);
            }
        }
        if (!st && (b->existing & HR_BR_IDENTITY)) {
            snprintf(p, sizeof p, "%s.rbr_identity", b->name);
            st = put_bn(map, p, b->cout, &b->id_bn, err);
        }
    }
    if (!st) {
        const int64_t sw[2] = {m->num_classes, hr_model_feature_channels(m)}, sb[1] = {m->num_classes};
        if (!m->linear_w)
            return hr_error_set(err, HR_ERR_UNSUPPORTED, "linear: no weights to export");
        if (!(st = put(map, "linear", "weight", 2, sw, m->linear_w, err)))
            st = put(map, "linear", "bias", 1, sb, m->linear_b, err);
    }
    return st;
}

/* Returns the pages of every tensor named "<block>.*" to the OS. */
static void release_block(hr_tensor_map *map, const char *block)
{
    size_t len = strlen(block);
    for (size_t i = 0, n = hr_tensor_map_count(map); i < n; i++) {
        const hr_named_tensor *t = hr_tensor_map_at(map, i);
        if (strncmp(t->name, block, len) == 0 && t->name[len] == '.')
            hr_tensor_map_release(map, t);
    }
}

/* Build order of the lean deployment: blocks with the most weights first.
 * Each block briefly holds its unfused, fused and packed weights at once; done
 * while little else is resident, the largest of these peaks (RepVGG-B3's
 * 2560-channel head: ~150 MB) no longer sits on top of everything else. */
static void build_order(const hr_model *m, int *order)
{
    int n = 0;
    for (int i = 0; i < m->nblocks; i++)
        order[n++] = i;
    for (int i = 1; i < n; i++) { /* insertion sort, stable: params descending */
        int v = order[i], j = i;
        while (j > 0 && hr_model_block_params(m, order[j - 1]) < hr_model_block_params(m, v)) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    order[n] = -1; /* stage 0 last: it is tiny */
}

hr_status hr_model_build_deploy(hr_model *m, hr_tensor_map *map, uint64_t seed, const int *gammas, hr_mask_kind mask,
                                hr_error *err)
{
    loader L = {m, map, NULL, err, {0}};
    size_t n = map ? hr_tensor_map_count(map) : 0;
    int *order = NULL, *chosen = NULL;
    hr_status st = HR_OK;

    for (int i = -1; i < m->nblocks; i++) {
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        hr__block_clear_streams(m, b);
        hr__block_free_sources(m, b);
        b->sources_dropped = 0;
    }
    order = malloc(sizeof(int) * (size_t)(m->nblocks + 1));
    chosen = malloc(sizeof(int) * (size_t)m->nblocks);
    if (!order || !chosen || (map && !(L.used = calloc(n ? n : 1, 1)))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "build: out of memory");
        goto out;
    }
    /* Pass 1, network order: branches, α and γ validity of every block, so the
     * first invalid block is reported whatever the build order. */
    for (int i = -1; i < m->nblocks && !st; i++) {
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        if (map) {
            st = probe_block(&L, b);
        } else {
            b->deploy_only = 0;
            b->existing = hr__block_default_branches(b);
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                b->alpha[br] = (b->existing & (1u << br)) ? 1.0f : 0.0f;
        }
        if (st || i < 0)
            continue;
        unsigned live = hr__block_live(b);
        char have[48];
        int g = gammas && gammas[i] >= 0 ? gammas[i] : hr_gamma_deploy(live);
        if (!hr_gamma_valid(g, live, mask))
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s: gamma %d (%s) is invalid for live branches %s (%s mask)",
                              b->name, g, hr_gamma_get(g) ? hr_gamma_get(g)->name : "?",
                              hr_branch_mask_str(live, have, sizeof have), mask == HR_MASK_SUBSET ? "subset" : "exact");
        chosen[i] = g;
    }
    /* Pass 2, largest first: weights, fusion, packing, then the sources go. */
    build_order(m, order);
    for (int k = 0; k <= m->nblocks && !st; k++) {
        int i = order[k];
        hr__block *b = i < 0 ? &m->stage0 : &m->blocks[i];
        int g = i < 0 ? (b->deploy_only ? HR_GAMMA_SOLO_K3 : HR_GAMMA_FUSED_3_1) : chosen[i];
        st = map ? load_block_weights(&L, b) : hr__block_init_random(m, b, seed, err);
        if (!st)
            st = hr__block_apply(m, b, g, b->alpha, err);
        if (st)
            break;
        hr__block_free_sources(m, b);
        b->sources_dropped = 1;
        if (map)
            release_block(map, b->name);
    }
    if (!st)
        st = map ? finish_load(&L) : hr__model_init_random_classifier(m, seed, err);
    if (!st)
        note_virtual(&L);
out:
    free(L.used);
    free(order);
    free(chosen);
    return st;
}
