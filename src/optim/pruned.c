/* --pruned inputs: the original's list of pruned hyper-weight names, a joint
 * result's pruned_weights, or a map of trained α values cut at a threshold.
 * Everything is applied to a copy of the live masks, which replaces the
 * caller's only when the whole input is valid. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_internal.h"

hr_pruned_params hr_pruned_params_default(void)
{
    hr_pruned_params p;
    p.threshold = 0.01;
    p.domain = NULL;
    p.log = NULL;
    p.log_user = NULL;
    return p;
}

/* Splits "stage2.3.hyper_dense" into block index and branch. Returns
 * HR_ERR_INVALID_ARG naming the problem; *branch_missing = 1 (and HR_OK)
 * when the block exists but lacks that branch and either lenient is set or
 * the branch is the original's virtual identity (never an error). */
static hr_status parse_name(const hr_lut *lut, const unsigned *existing, const char *name, int lenient, int *block,
                            hr_branch *branch, int *branch_missing, hr_error *err)
{
    static const char *suffix[HR_BRANCH_COUNT] = {"hyper_dense", "hyper_1x1", "hyper_identity"};
    const char *dot = strrchr(name, '.');
    char blk[HR_LUT_NAME_MAX], br[64];
    size_t len;
    int b = -1;

    *branch_missing = 0;
    if (!dot || dot == name)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "'%s' is not a hyper-weight name like stage2.3.hyper_dense",
                            name);
    for (int i = 0; i < HR_BRANCH_COUNT; i++)
        if (strcmp(dot + 1, suffix[i]) == 0)
            b = i;
    if (b < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "'%s' names unknown branch '%s' (expected hyper_dense, hyper_1x1 or hyper_identity)", name,
                            dot + 1);
    len = (size_t)(dot - name);
    if (len >= sizeof blk)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "'%s': block name too long", name);
    memcpy(blk, name, len);
    blk[len] = '\0';
    *block = hr_lut_find_block(lut, blk);
    if (*block < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "'%s' names block %s, which the LUT does not have", name, blk);
    *branch = (hr_branch)b;
    if (!(existing[*block] & (1u << b))) {
        if (lenient || hr_branch_is_virtual(existing[*block], (hr_branch)b)) {
            *branch_missing = 1;
            return HR_OK;
        }
        return hr_error_set(err, HR_ERR_INVALID_ARG, "'%s': block %s has no %s branch (its branches: %s)", name, blk,
                            hr_branch_name((hr_branch)b), hr_branch_mask_str(existing[*block], br, sizeof br));
    }
    return HR_OK;
}

/* Removes one branch from a working copy; refuses to empty a block. */
static hr_status prune_one(const hr_lut *lut, unsigned *work, int block, hr_branch branch, const char *name,
                           hr_error *err)
{
    unsigned left = work[block] & ~(1u << branch);
    if (!left)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "pruning '%s' leaves block %s without a live branch (a block keeps at least one)", name,
                            lut->blocks[block].name);
    work[block] = left;
    return HR_OK;
}

/* Allocates the working copy of live and the existing masks. */
static hr_status begin(const hr_lut *lut, const unsigned *live, unsigned **work, unsigned **existing, hr_error *err)
{
    hr_status st;
    *work = malloc(sizeof(unsigned) * (size_t)lut->nblocks);
    *existing = malloc(sizeof(unsigned) * (size_t)lut->nblocks);
    if (!*work || !*existing) {
        free(*work);
        free(*existing);
        return hr_error_set(err, HR_ERR_NOMEM, "pruned branches: out of memory");
    }
    if ((st = hr_optim_existing_branches(lut, *existing, err))) {
        free(*work);
        free(*existing);
        return st;
    }
    memcpy(*work, live, sizeof(unsigned) * (size_t)lut->nblocks);
    return HR_OK;
}

/* hr_pruned_apply_names, counting the virtual identities it skipped into
 * virt (may be NULL). */
static hr_status apply_names(const hr_lut *lut, const char *const *names, int count, unsigned *live,
                             hr_virtual_ids *virt, hr_error *err)
{
    unsigned *work, *existing;
    hr_status st;

    if (!lut || !live || count < 0 || (count > 0 && !names))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "pruned branches: needs a LUT, names and live masks");
    if ((st = begin(lut, live, &work, &existing, err)))
        return st;
    for (int i = 0; i < count && !st; i++) {
        int block, missing;
        hr_branch br;
        if (!names[i])
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "pruned name %d is missing", i);
        else if ((st = parse_name(lut, existing, names[i], 0, &block, &br, &missing, err)))
            break;
        else if (missing && virt) /* parse_name lets only the virtual identity through */
            hr_virtual_ids_add(virt, lut->blocks[block].name);
        else if (!missing)
            st = prune_one(lut, work, block, br, names[i], err);
    }
    if (!st)
        memcpy(live, work, sizeof(unsigned) * (size_t)lut->nblocks);
    free(work);
    free(existing);
    return st;
}

hr_status hr_pruned_apply_names(const hr_lut *lut, const char *const *names, int count, unsigned *live,
                                hr_error *err)
{
    return apply_names(lut, names, count, live, NULL, err);
}

/* A JSON array of names, every element a string. */
static hr_status apply_array(const hr_lut *lut, json_t *arr, const char *what, unsigned *live, hr_virtual_ids *virt,
                             hr_error *err)
{
    size_t n = json_array_size(arr), i;
    const char **names = malloc(sizeof(char *) * (n ? n : 1));
    json_t *v;
    hr_status st;

    if (!names)
        return hr_error_set(err, HR_ERR_NOMEM, "pruned branches: out of memory");
    if (n > (size_t)INT_MAX / 2) {
        free(names);
        return hr_error_set(err, HR_ERR_LIMIT, "%s holds %zu names", what, n);
    }
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v)) {
            free(names);
            return hr_error_set(err, HR_ERR_FORMAT, "%s[%zu] is not a string", what, i);
        }
        names[i] = json_string_value(v);
    }
    st = apply_names(lut, names, (int)n, live, virt, err);
    if (st)
        hr_error_prefix(err, "%s", what);
    free(names);
    return st;
}

/* Picks the α map out of an object that holds one per domain. */
static hr_status pick_domain(json_t *root, const char *domain, json_t **map, hr_error *err)
{
    char key[64];
    if (!domain) {
        if (json_object_size(root) == 1) {
            *map = json_object_iter_value(json_object_iter(root));
            return HR_OK;
        }
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "the α file holds %zu domains (%s, …): choose one with --domain", json_object_size(root),
                            json_object_iter_key(json_object_iter(root)));
    }
    *map = json_object_get(root, domain);
    if (!*map && strncmp(domain, "domain_", 7) != 0) {
        snprintf(key, sizeof key, "domain_%s", domain);
        *map = json_object_get(root, key);
    }
    if (!*map || !json_is_object(*map))
        return hr_error_set(err, HR_ERR_NOT_FOUND, "the α file has no domain '%s'", domain);
    return HR_OK;
}

/* An α map: pruned where |α| < threshold; α of branches the block lacks are
 * ignored (the original records 1.0 for a stride-2 block's identity, its
 * virtual identity, which virt counts). */
static hr_status apply_alpha(const hr_lut *lut, json_t *map, double threshold, unsigned *live, hr_virtual_ids *virt,
                             hr_error *err)
{
    unsigned *work, *existing;
    const char *key;
    json_t *v;
    hr_status st;

    if ((st = begin(lut, live, &work, &existing, err)))
        return st;
    json_object_foreach(map, key, v) {
        int block, missing;
        hr_branch br;
        double a;
        if (!json_is_number(v)) {
            st = hr_error_set(err, HR_ERR_FORMAT, "α of '%s' is not a number", key);
            break;
        }
        a = json_number_value(v);
        if (!isfinite(a)) {
            st = hr_error_set(err, HR_ERR_FORMAT, "α of '%s' is not finite", key);
            break;
        }
        if ((st = parse_name(lut, existing, key, 1, &block, &br, &missing, err)))
            break;
        if (missing && hr_branch_is_virtual(existing[block], br))
            hr_virtual_ids_add(virt, lut->blocks[block].name);
        if (!missing && fabs(a) < threshold && (st = prune_one(lut, work, block, br, key, err)))
            break;
    }
    if (!st)
        memcpy(live, work, sizeof(unsigned) * (size_t)lut->nblocks);
    free(work);
    free(existing);
    return st;
}

hr_status hr_pruned_load(const char *path, const hr_lut *lut, const hr_pruned_params *params, unsigned *live,
                         hr_error *err)
{
    hr_pruned_params defaults = hr_pruned_params_default();
    json_error_t jerr;
    json_t *root, *sub;
    hr_virtual_ids virt = {0};
    hr_status st;

    if (!path || !lut || !live)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "pruned branches: needs a file, a LUT and live masks");
    if (!params)
        params = &defaults;
    if (!(params->threshold >= 0) || !isfinite(params->threshold))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "pruning threshold %g is not a finite value >= 0",
                            params->threshold);
    errno = 0;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_cannot_open_file)
            return hr_error_set(err, errno == ENOMEM ? HR_ERR_NOMEM : HR_ERR_IO, "%s: %s", path, jerr.text);
        /* jansson leaves the message empty when its lexer cannot allocate */
        if (json_error_code(&jerr) == json_error_out_of_memory || !jerr.text[0])
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory while parsing", path);
        return hr_error_set(err, HR_ERR_FORMAT, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    }
    /* Without JSON_DECODE_ANY the root is an array or an object. */
    if (json_is_array(root)) {
        st = apply_array(lut, root, "pruned list", live, &virt, err);
    } else if ((sub = json_object_get(root, "stage1_accuracy")) && json_is_object(sub) &&
               (sub = json_object_get(sub, "pruned_weights"))) {
        st = json_is_array(sub) ? apply_array(lut, sub, "stage1_accuracy.pruned_weights", live, &virt, err)
                                : hr_error_set(err, HR_ERR_FORMAT, "stage1_accuracy.pruned_weights is not a list");
    } else if ((sub = json_object_get(root, "pruned_weights"))) {
        st = json_is_array(sub) ? apply_array(lut, sub, "pruned_weights", live, &virt, err)
                                : hr_error_set(err, HR_ERR_FORMAT, "pruned_weights is not a list");
    } else {
        json_t *map = root, *first = json_object_iter_value(json_object_iter(root));
        st = HR_OK;
        if (first && json_is_object(first))
            st = pick_domain(root, params->domain, &map, err);
        else if (params->domain)
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "--domain %s given but the α file holds a single map",
                              params->domain);
        if (!st)
            st = apply_alpha(lut, map, params->threshold, live, &virt, err);
    }
    json_decref(root);
    if (st) {
        hr_error_prefix(err, "%s", path);
    } else if (virt.count) {
        char note[512];
        (params->log ? params->log : hr_log_stderr)(params->log_user, HR_LOG_WARN,
                                                    hr_virtual_ids_note(&virt, path, note, sizeof note));
    }
    return st;
}
