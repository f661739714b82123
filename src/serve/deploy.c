/* Deployment configurations (what the edge tells the server in MODEL_SYNC)
 * and the head / tail parts of a model built from them (serve.h). */
#include "hyperrep/serve.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/edge_emulate.h"

void hr_deploy_config_init(hr_deploy_config *c)
{
    memset(c, 0, sizeof *c);
    c->mask = HR_MASK_EXACT;
}

void hr_deploy_config_deinit(hr_deploy_config *c)
{
    if (!c)
        return;
    free(c->gamma);
    free(c->alpha);
    free(c->alpha_given);
    free(c->input_mean);
    free(c->input_std);
    free(c->exact_gamma);
    free(c->grid_gamma);
    free(c->grid_alpha);
    free(c->grid_alpha_given);
    hr_deploy_config_init(c);
}

/* A malloc'd copy of n elements of `size` bytes (NULL stays NULL). */
static void *dup_array(const void *src, size_t n, size_t size, int *ok)
{
    void *d;
    if (!src)
        return NULL;
    if (!(d = malloc(n * size > 0 ? n * size : 1))) {
        *ok = 0;
        return NULL;
    }
    memcpy(d, src, n * size);
    return d;
}

hr_status hr_deploy_config_copy(const hr_deploy_config *src, hr_deploy_config *dst, hr_error *err)
{
    size_t n = (size_t)src->nblocks, nc = (size_t)src->norm_channels;
    int ok = 1;
    *dst = *src;
    dst->gamma = dup_array(src->gamma, n, sizeof(int), &ok);
    dst->alpha = dup_array(src->alpha, n * HR_BRANCH_COUNT, sizeof(float), &ok);
    dst->alpha_given = dup_array(src->alpha_given, n, sizeof(unsigned), &ok);
    dst->input_mean = dup_array(src->input_mean, nc, sizeof(float), &ok);
    dst->input_std = dup_array(src->input_std, nc, sizeof(float), &ok);
    dst->exact_gamma = dup_array(src->exact_gamma, n, sizeof(int), &ok);
    dst->grid_gamma = dup_array(src->grid_gamma, n, sizeof(int), &ok);
    dst->grid_alpha = dup_array(src->grid_alpha, n * HR_BRANCH_COUNT, sizeof(float), &ok);
    dst->grid_alpha_given = dup_array(src->grid_alpha_given, n, sizeof(unsigned), &ok);
    if (!ok) {
        hr_deploy_config_deinit(dst);
        return hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory copying a configuration");
    }
    return HR_OK;
}

/* Sets the architecture and allocates the per-block arrays (γ -1, no α). */
static hr_status config_arch(hr_deploy_config *c, const char *name, const char *what, hr_error *err)
{
    const hr_arch *a = hr_arch_find(name);
    if (!a)
        return hr_error_set(err, HR_ERR_NOT_FOUND, "%s: unknown model '%s' (see `hyperrep models`)", what, name);
    snprintf(c->arch, sizeof c->arch, "%s", a->name);
    c->nblocks = a->blocks[0] + a->blocks[1] + a->blocks[2] + a->blocks[3];
    c->gamma = malloc(sizeof(int) * (size_t)c->nblocks);
    c->alpha = calloc((size_t)c->nblocks * HR_BRANCH_COUNT, sizeof(float));
    c->alpha_given = calloc((size_t)c->nblocks, sizeof(unsigned));
    if (!c->gamma || !c->alpha || !c->alpha_given)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", what);
    for (int k = 0; k < c->nblocks; k++)
        c->gamma[k] = -1;
    return HR_OK;
}

/* Block names follow the architecture: stage{s}.{i}, s = 1..4. */
static int block_index(const char *arch, const char *name)
{
    const hr_arch *a = hr_arch_find(arch);
    int stage, i, n = 0, base = 0;
    char tail;
    if (!a || sscanf(name, "stage%d.%d%c", &stage, &i, &tail) != 2 || stage < 1 || stage > 4 || i < 0 ||
        i >= a->blocks[stage - 1])
        return -1;
    /* reject "stage1.01" and the like: the name must print back the same */
    char back[48];
    snprintf(back, sizeof back, "stage%d.%d", stage, i);
    if (strcmp(back, name) != 0)
        return -1;
    for (int s = 0; s < stage - 1; s++)
        base += a->blocks[s];
    n = base + i;
    return n;
}

static hr_status parse_gamma_value(json_t *v, const char *what, const char *where, int *out, hr_error *err)
{
    int g = -1;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x == -1) {
            *out = -1;
            return HR_OK;
        }
        g = x >= 0 && x < HR_GAMMA_COUNT ? (int)x : -2;
    } else if (json_is_string(v)) {
        g = strcmp(json_string_value(v), "deploy") == 0 ? -1 : hr_gamma_parse(json_string_value(v));
        if (g == -1 && strcmp(json_string_value(v), "deploy") != 0)
            g = -2;
    } else {
        g = -2;
    }
    if (g == -2)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s is not a gamma (0..%d, a gamma name or -1 for deploy)", what,
                            where, HR_GAMMA_COUNT - 1);
    *out = g;
    return HR_OK;
}

static hr_status parse_gamma_object(hr_deploy_config *c, json_t *obj, const char *what, const char *field,
                                    hr_error *err)
{
    const char *key;
    json_t *v;
    char where[160];
    hr_status st;
    if (!json_is_object(obj))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s is not an object {block: gamma}", what, field);
    json_object_foreach(obj, key, v) {
        int k = block_index(c->arch, key);
        if (k < 0)
            return hr_error_set(err, HR_ERR_NOT_FOUND, "%s: %s names block '%.64s', which %s does not have", what,
                                field, key, c->arch);
        snprintf(where, sizeof where, "%s.%s", field, key);
        if ((st = parse_gamma_value(v, what, where, &c->gamma[k], err)))
            return st;
    }
    return HR_OK;
}

/* "stage2.3.hyper_1x1" → block and branch. */
static hr_status parse_pruned(hr_deploy_config *c, json_t *arr, const char *what, const char *field, hr_error *err)
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s is not an array of names", what, field);
    json_array_foreach(arr, i, v) {
        const char *name = json_string_value(v), *dot = name ? strstr(name, ".hyper_") : NULL;
        char block[64];
        int br = -1;
        if (!dot || (size_t)(dot - name) >= sizeof block)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: %s[%zu] is not a name like stage2.3.hyper_1x1", what, field,
                                i);
        memcpy(block, name, (size_t)(dot - name));
        block[dot - name] = '\0';
        for (int b = 0; b < HR_BRANCH_COUNT; b++)
            if (strcmp(dot + 7, hr_branch_name((hr_branch)b)) == 0)
                br = b;
        int k = block_index(c->arch, block);
        if (k < 0 || br < 0)
            return hr_error_set(err, HR_ERR_NOT_FOUND, "%s: %s[%zu] = '%.80s' names no branch of %s", what, field, i,
                                name, c->arch);
        c->alpha[k * HR_BRANCH_COUNT + br] = 0.0f;
        c->alpha_given[k] |= 1u << br;
    }
    return HR_OK;
}

/* A placement: 0..N, "raw" / -1 or "local" / -2 (the joint output writes
 * the integers in final_configuration.split_point, the names elsewhere). */
static hr_status parse_split(const hr_deploy_config *c, json_t *v, const char *what, const char *field, int *out,
                             hr_error *err)
{
    const char *text = json_string_value(v);
    json_int_t s;
    int named;
    /* the names only: a split is written as a JSON integer */
    if (text && (strcmp(text, "raw") == 0 || strcmp(text, "local") == 0) &&
        hr_placement_parse(text, c->nblocks, &named, NULL) == HR_OK)
        s = named;
    else if (json_is_integer(v))
        s = json_integer_value(v);
    else
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s is not an integer 0..%d, \"raw\" or \"local\"", what,
                            field, c->nblocks);
    if (s != HR_PLACEMENT_LOCAL && s != HR_PLACEMENT_RAW && (s < 0 || s > c->nblocks))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %s = %lld is out of 0..%d", what, field, (long long)s,
                            c->nblocks);
    *out = (int)s;
    return HR_OK;
}

/* input_mean and input_std: one value per input channel, finite, std > 0.
 * The channel count is the configuration's in_channels, else the
 * architecture's default, so a wrong length is refused before any model is
 * built. */
static hr_status parse_norm(hr_deploy_config *c, json_t *root, const char *what, hr_error *err)
{
    json_t *jm = json_object_get(root, "input_mean"), *js = json_object_get(root, "input_std");
    const hr_arch *a = hr_arch_find(c->arch);
    int64_t ch = c->in_channels ? c->in_channels : (a ? a->in_channels : 0);
    if (!jm && !js)
        return HR_OK;
    if (!jm || !js)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s is given without %s (the raw placement needs both)", what,
                            jm ? "input_mean" : "input_std", jm ? "input_std" : "input_mean");
    for (int k = 0; k < 2; k++) {
        json_t *arr = k ? js : jm;
        const char *field = k ? "input_std" : "input_mean";
        if (!json_is_array(arr))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: %s is not an array of numbers", what, field);
        if ((int64_t)json_array_size(arr) != ch)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %s has %zu values, the model takes %lld input channels",
                                what, field, json_array_size(arr), (long long)ch);
    }
    c->norm_channels = ch;
    c->input_mean = malloc(sizeof(float) * (size_t)ch);
    c->input_std = malloc(sizeof(float) * (size_t)ch);
    if (!c->input_mean || !c->input_std)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", what);
    for (int64_t i = 0; i < ch; i++) {
        json_t *m = json_array_get(jm, (size_t)i), *d = json_array_get(js, (size_t)i);
        double mv = json_number_value(m), sv = json_number_value(d);
        if (!json_is_number(m) || !isfinite(mv) || fabs(mv) > 1e30)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: input_mean[%lld] is not a finite number", what, (long long)i);
        if (!json_is_number(d) || !isfinite(sv) || !(sv > 0) || sv > 1e30 || !((float)sv > 0))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: input_std[%lld] = %g is not a finite number > 0", what,
                                (long long)i, json_is_number(d) ? sv : NAN);
        c->input_mean[i] = (float)mv;
        c->input_std[i] = (float)sv;
    }
    return HR_OK;
}

/* stage2_throughput.exact_optimum: its placement and optimal_gamma, kept
 * aside for hr_deploy_config_use_exact. */
static hr_status parse_exact(hr_deploy_config *c, json_t *eo, const char *what, hr_error *err)
{
    json_t *g = json_object_get(eo, "optimal_gamma");
    hr_deploy_config tmp;
    hr_status st;
    if (!json_is_object(eo))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: stage2_throughput.exact_optimum is not an object", what);
    if (!json_object_get(eo, "placement"))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: stage2_throughput.exact_optimum.placement is missing", what);
    if ((st = parse_split(c, json_object_get(eo, "placement"), what, "stage2_throughput.exact_optimum.placement",
                          &c->exact_split, err)))
        return st;
    if (!(c->exact_gamma = malloc(sizeof(int) * (size_t)c->nblocks)))
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", what);
    for (int k = 0; k < c->nblocks; k++)
        c->exact_gamma[k] = -1;
    if (g) {
        /* parse_gamma_object fills c->gamma: lend it the exact optimum's array */
        tmp = *c;
        tmp.gamma = c->exact_gamma;
        if ((st = parse_gamma_object(&tmp, g, what, "stage2_throughput.exact_optimum.optimal_gamma", err)))
            return st;
    }
    c->has_exact = 1;
    return HR_OK;
}

hr_status hr_deploy_config_use_exact(hr_deploy_config *c, hr_error *err)
{
    if (!c || !c->has_exact || !c->exact_gamma || !c->gamma)
        return hr_error_set(err, HR_ERR_NOT_FOUND,
                            "the configuration has no stage2_throughput.exact_optimum (only the joint output of a "
                            "run with --lut has one)");
    c->split = c->exact_split;
    memcpy(c->gamma, c->exact_gamma, sizeof(int) * (size_t)c->nblocks);
    return HR_OK;
}

hr_status hr_deploy_config_use_grid(hr_deploy_config *c, hr_error *err)
{
    if (!c || !c->has_grid || !c->grid_gamma || !c->gamma || !c->alpha || !c->alpha_given)
        return hr_error_set(err, HR_ERR_NOT_FOUND,
                            "the configuration has no grid result (stage2_throughput.optimal_split_point and "
                            "optimal_gamma: only the joint output of a run with --lut has one)");
    c->split = c->grid_split;
    memcpy(c->gamma, c->grid_gamma, sizeof(int) * (size_t)c->nblocks);
    memcpy(c->alpha, c->grid_alpha, sizeof(float) * (size_t)c->nblocks * HR_BRANCH_COUNT);
    memcpy(c->alpha_given, c->grid_alpha_given, sizeof(unsigned) * (size_t)c->nblocks);
    return HR_OK;
}

/* The original's grid result of a joint output, kept aside: its split, γ
 * and the pruned set of the last pruning state. */
static hr_status parse_grid(hr_deploy_config *c, json_t *s2, json_t *s1, const char *what, hr_error *err)
{
    json_t *sp = json_object_get(s2, "optimal_split_point"), *g = json_object_get(s2, "optimal_gamma");
    hr_deploy_config tmp;
    hr_status st;
    if (!sp || !g)
        return HR_OK;
    c->grid_gamma = malloc(sizeof(int) * (size_t)c->nblocks);
    c->grid_alpha = calloc((size_t)c->nblocks * HR_BRANCH_COUNT, sizeof(float));
    c->grid_alpha_given = calloc((size_t)c->nblocks, sizeof(unsigned));
    if (!c->grid_gamma || !c->grid_alpha || !c->grid_alpha_given)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", what);
    for (int k = 0; k < c->nblocks; k++)
        c->grid_gamma[k] = -1;
    if ((st = parse_split(c, sp, what, "stage2_throughput.optimal_split_point", &c->grid_split, err)))
        return st;
    /* the parsers fill c's arrays: lend them the grid's */
    tmp = *c;
    tmp.gamma = c->grid_gamma;
    tmp.alpha = c->grid_alpha;
    tmp.alpha_given = c->grid_alpha_given;
    if ((st = parse_gamma_object(&tmp, g, what, "stage2_throughput.optimal_gamma", err)))
        return st;
    if (json_object_get(s1, "pruned_weights") &&
        (st = parse_pruned(&tmp, json_object_get(s1, "pruned_weights"), what, "stage1_accuracy.pruned_weights", err)))
        return st;
    c->has_grid = 1;
    return HR_OK;
}

/* final_configuration.alpha: N rows [dense, 1x1, identity], each finite. */
static hr_status parse_alpha_rows(hr_deploy_config *c, json_t *v, const char *what, const char *field, hr_error *err)
{
    size_t i;
    json_t *row;
    if (!json_is_array(v) || json_array_size(v) != (size_t)c->nblocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %s must be an array of %d [dense, 1x1, identity] rows", what,
                            field, c->nblocks);
    json_array_foreach(v, i, row) {
        if (!json_is_array(row) || json_array_size(row) != HR_BRANCH_COUNT)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: %s[%zu] is not [dense, 1x1, identity]", what, field, i);
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            json_t *x = json_array_get(row, (size_t)br);
            double a = json_number_value(x);
            if (!json_is_number(x) || !isfinite(a) || fabs(a) > 1e30)
                return hr_error_set(err, HR_ERR_FORMAT, "%s: %s[%zu][%d] is not a finite number", what, field, i, br);
            c->alpha[i * HR_BRANCH_COUNT + (size_t)br] = (float)a;
        }
        c->alpha_given[i] = HR_BR_ALL;
    }
    return HR_OK;
}

static hr_status parse_dim(json_t *root, const char *key, const char *what, int64_t *out, hr_error *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return HR_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65536)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s is not an integer in 0..65536", what, key);
    *out = json_integer_value(v);
    return HR_OK;
}

static hr_status parse_joint(hr_deploy_config *c, json_t *root, const char *what, hr_error *err)
{
    json_t *meta = json_object_get(root, "metadata"), *fin = json_object_get(root, "final_configuration"),
           *s1 = json_object_get(root, "stage1_accuracy"), *s2 = json_object_get(root, "stage2_throughput");
    const char *model = json_string_value(json_object_get(meta, "model"));
    const char *head = json_string_value(json_object_get(meta, "head"));
    const char *mask = json_string_value(json_object_get(s2, "mask"));
    hr_status st;
    if (!model)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.model is missing", what);
    if ((st = config_arch(c, model, what, err)))
        return st;
    if (!json_is_object(fin))
        return hr_error_set(err, HR_ERR_FORMAT,
                            "%s: final_configuration is missing (the joint run had no --lut, so no split was chosen)",
                            what);
    /* placement names raw and local; split_point is null for them */
    if (json_object_get(fin, "placement")) {
        if ((st = parse_split(c, json_object_get(fin, "placement"), what, "final_configuration.placement", &c->split,
                              err)))
            return st;
    } else if ((st = parse_split(c, json_object_get(fin, "split_point"), what, "final_configuration.split_point",
                                 &c->split, err))) {
        return st;
    }
    if (json_object_get(fin, "gamma_config") &&
        (st = parse_gamma_object(c, json_object_get(fin, "gamma_config"), what, "final_configuration.gamma_config",
                                 err)))
        return st;
    if (json_object_get(fin, "alpha") &&
        (st = parse_alpha_rows(c, json_object_get(fin, "alpha"), what, "final_configuration.alpha", err)))
        return st;
    if (json_object_get(fin, "pruned")) {
        if ((st = parse_pruned(c, json_object_get(fin, "pruned"), what, "final_configuration.pruned", err)))
            return st;
    } else if (json_object_get(s1, "pruned_weights") &&
               (st = parse_pruned(c, json_object_get(s1, "pruned_weights"), what, "stage1_accuracy.pruned_weights",
                                  err))) {
        return st;
    }
    if ((st = parse_grid(c, s2, s1, what, err)))
        return st;
    if (json_object_get(s2, "exact_optimum") &&
        (st = parse_exact(c, json_object_get(s2, "exact_optimum"), what, err)))
        return st;
    if (mask && strcmp(mask, "subset") == 0)
        c->mask = HR_MASK_SUBSET;
    c->head_server = head && strcmp(head, "server") == 0;
    return HR_OK;
}

static hr_status parse_plain(hr_deploy_config *c, json_t *root, const char *what, hr_error *err)
{
    json_t *arch = json_object_get(root, "arch"), *v;
    const char *mask;
    hr_status st;
    if (!arch)
        arch = json_object_get(root, "model");
    if (!json_is_string(arch))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: \"arch\" (the model name) is missing", what);
    if ((st = config_arch(c, json_string_value(arch), what, err)) ||
        (st = parse_dim(root, "input_size", what, &c->input_size, err)) ||
        (st = parse_dim(root, "in_channels", what, &c->in_channels, err)) ||
        (st = parse_dim(root, "num_classes", what, &c->num_classes, err)))
        return st;
    if (!(v = json_object_get(root, "split")))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: \"split\" is missing", what);
    if ((st = parse_split(c, v, what, "split", &c->split, err)) || (st = parse_norm(c, root, what, err)))
        return st;
    if ((v = json_object_get(root, "mask"))) {
        mask = json_string_value(v);
        if (!mask || (strcmp(mask, "exact") != 0 && strcmp(mask, "subset") != 0))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: mask is not \"exact\" or \"subset\"", what);
        c->mask = strcmp(mask, "subset") == 0 ? HR_MASK_SUBSET : HR_MASK_EXACT;
    }
    if ((v = json_object_get(root, "gammas"))) {
        size_t i;
        json_t *g;
        char where[32];
        if (!json_is_array(v) || json_array_size(v) != (size_t)c->nblocks)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: gammas must be an array of %d values (%s has %d blocks)",
                                what, c->nblocks, c->arch, c->nblocks);
        json_array_foreach(v, i, g) {
            snprintf(where, sizeof where, "gammas[%zu]", i);
            if ((st = parse_gamma_value(g, what, where, &c->gamma[i], err)))
                return st;
        }
    } else if ((v = json_object_get(root, "gamma")) && (st = parse_gamma_object(c, v, what, "gamma", err))) {
        return st;
    }
    if ((v = json_object_get(root, "alpha"))) {
        size_t i;
        json_t *row;
        if (!json_is_array(v) || json_array_size(v) != (size_t)c->nblocks)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: alpha must be an array of %d [dense, 1x1, identity] rows",
                                what, c->nblocks);
        json_array_foreach(v, i, row) {
            if (!json_is_array(row) || json_array_size(row) != HR_BRANCH_COUNT)
                return hr_error_set(err, HR_ERR_FORMAT, "%s: alpha[%zu] is not [dense, 1x1, identity]", what, i);
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                json_t *x = json_array_get(row, (size_t)br);
                double a = json_number_value(x);
                if (!json_is_number(x) || !isfinite(a) || fabs(a) > 1e30)
                    return hr_error_set(err, HR_ERR_FORMAT, "%s: alpha[%zu][%d] is not a finite number", what, i, br);
                c->alpha[i * HR_BRANCH_COUNT + (size_t)br] = (float)a;
            }
            c->alpha_given[i] = HR_BR_ALL;
        }
    }
    if ((v = json_object_get(root, "pruned")) && (st = parse_pruned(c, v, what, "pruned", err)))
        return st;
    return HR_OK;
}

hr_status hr_deploy_config_parse(const char *json, const char *what, hr_deploy_config *out, hr_error *err)
{
    json_error_t je;
    json_t *root;
    hr_deploy_config c;
    hr_status st;
    if (!what)
        what = "config";
    if (!json || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: no configuration", what);
    root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return hr_error_set(err, HR_ERR_FORMAT, "%s:%d:%d: %s", what, je.line, je.column, je.text);
    hr_deploy_config_init(&c);
    if (!json_is_object(root))
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: not a JSON object", what);
    else if (json_object_get(root, "final_configuration") || json_object_get(root, "stage1_accuracy"))
        st = parse_joint(&c, root, what, err);
    else
        st = parse_plain(&c, root, what, err);
    json_decref(root);
    if (st) {
        hr_deploy_config_deinit(&c);
        return st;
    }
    hr_deploy_config_deinit(out);
    *out = c;
    return HR_OK;
}

hr_status hr_deploy_config_load(const char *path, hr_deploy_config *out, hr_error *err)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long n;
    hr_status st;
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: %s", path, strerror(errno));
    /* A configuration is a few kB; a joint file with its pruning history a
     * few MB. Anything over 256 MB is not one. */
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (256L << 20) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return hr_error_set(err, HR_ERR_IO, "%s: cannot size the file (or it is over 256 MB)", path);
    }
    text = malloc((size_t)n + 1);
    if (!text) {
        fclose(f);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    }
    if (fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        fclose(f);
        return hr_error_set(err, HR_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    text[n] = '\0';
    st = hr_deploy_config_parse(text, path, out, err);
    free(text);
    return st;
}

hr_status hr_deploy_config_resolve(hr_deploy_config *c, const hr_model *model, hr_error *err)
{
    const hr_arch *a = hr_model_arch(model);
    if (!c->gamma || hr_model_num_blocks(model) != c->nblocks || strcmp(a->name, c->arch) != 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: the model is %s with %d blocks, the configuration %s",
                            a->name, hr_model_num_blocks(model), c->arch[0] ? c->arch : "(empty)");
    for (int k = 0; k < c->nblocks; k++) {
        hr_block_info bi = hr_model_block(model, k);
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            c->alpha[k * HR_BRANCH_COUNT + br] = (bi.existing >> br & 1u) ? bi.alpha[br] : 0.0f;
        c->alpha_given[k] = HR_BR_ALL;
        if (c->gamma[k] < 0)
            c->gamma[k] = hr_gamma_deploy(bi.live);
    }
    c->input_size = hr_model_input_size(model);
    c->in_channels = hr_model_in_channels(model);
    c->num_classes = hr_model_num_classes(model);
    return HR_OK;
}

hr_status hr_deploy_config_to_meta(const hr_deploy_config *c, const char *weights_json, int want_logits, char **out,
                                   hr_error *err)
{
    json_t *root, *gam = json_array(), *alp = json_array(), *w = NULL;
    json_error_t je;
    int ok = gam && alp;
    if (!c->gamma)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: empty configuration");
    if (c->split == HR_PLACEMENT_LOCAL)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: a local configuration runs without a server");
    for (int k = 0; ok && k < c->nblocks; k++) {
        if (c->alpha_given[k] != HR_BR_ALL) {
            json_decref(gam), json_decref(alp);
            return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: alpha of block %d is not explicit (resolve first)",
                                k);
        }
        json_t *row = json_array();
        ok = row && !json_array_append_new(gam, json_integer(c->gamma[k]));
        for (int br = 0; ok && br < HR_BRANCH_COUNT; br++)
            ok = !json_array_append_new(row, json_real(c->alpha[k * HR_BRANCH_COUNT + br]));
        ok = ok && !json_array_append_new(alp, row);
    }
    w = weights_json ? json_loads(weights_json, 0, &je) : json_pack("{s:s, s:i}", "kind", "random", "seed", 0);
    if (!ok || !w || !json_is_object(w)) {
        json_decref(gam), json_decref(alp), json_decref(w);
        return hr_error_set(err, weights_json && ok ? HR_ERR_INVALID_ARG : HR_ERR_NOMEM,
                            "deploy: cannot build the model_sync metadata (weights must be a JSON object)");
    }
    root = json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:s, s:o, s:o, s:o, s:b}", "purpose", "infer", "arch", c->arch,
                     "input_size", (json_int_t)c->input_size, "in_channels", (json_int_t)c->in_channels,
                     "num_classes", (json_int_t)c->num_classes, "split", c->split, "mask",
                     c->mask == HR_MASK_SUBSET ? "subset" : "exact", "gammas", gam, "alpha", alp, "weights", w,
                     "logits", want_logits);
    if (root && c->split == HR_PLACEMENT_RAW) {
        /* the tail turns the pixels back into the network's input with these */
        int64_t ch = c->norm_channels ? c->norm_channels : c->in_channels;
        json_t *jm = json_array(), *js = json_array();
        int nok = jm && js && !json_object_set_new(root, "split", json_string("raw"));
        for (int64_t i = 0; nok && i < ch; i++)
            nok = !json_array_append_new(jm, json_real(c->norm_channels ? c->input_mean[i] : 0.0)) &&
                  !json_array_append_new(js, json_real(c->norm_channels ? c->input_std[i] : 1.0));
        nok = nok && ch >= 1 && !json_object_set(root, "input_mean", jm) && !json_object_set(root, "input_std", js);
        json_decref(jm);
        json_decref(js);
        if (!nok) {
            json_decref(root);
            return hr_error_set(err, ch < 1 ? HR_ERR_INVALID_ARG : HR_ERR_NOMEM,
                                ch < 1 ? "deploy: the raw placement needs the input channels (resolve first)"
                                       : "deploy: out of memory");
        }
    }
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(root);
    if (!text)
        return hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory");
    *out = text;
    return HR_OK;
}

/* ---- parts ---- */

struct hr_deploy_part {
    hr_model *model;
    hr_deploy_role role;
    int split, nblocks;
    int raw;      /* raw placement: u8 image crossing; the tail runs everything */
    int64_t in_shape[4], cross_shape[4], s0_shape[4], feat_shape[4], classes;
    float *s0;    /* stage 0 output (head / whole / raw tail) */
    float *feat;  /* output of the last block (tail) */
    float *x;     /* raw tail: the dequantised frame */
    float *mean, *std; /* raw: [C] normalisation; NULL: 0 and 1 */
    /* edge emulation (hr_deploy_part_set_edge_emu): the units run one at a
     * time, each ending at its deadline, through two buffers of the
     * largest activation between blocks */
    hr_edge_emu *emu;
    float *emu_buf[2];
    int64_t (*emu_shape)[4]; /* [nblocks] output shape of each block */
};

/* Serial OpenBLAS runs the classifier's GEMM and is not safe to call from
 * two threads at once (ctx.h). The server runs tails on several workers, and
 * the tests run reference forwards beside them, so every classifier call
 * made through a deployment part takes this lock. It is process-wide because
 * the library it protects is. */
static pthread_mutex_t classifier_lock = PTHREAD_MUTEX_INITIALIZER;

void hr_deploy_part_destroy(hr_deploy_part *p)
{
    if (!p)
        return;
    hr_model_destroy(p->model);
    free(p->s0);
    free(p->feat);
    free(p->x);
    free(p->mean);
    free(p->std);
    free(p->emu_buf[0]);
    free(p->emu_buf[1]);
    free(p->emu_shape);
    free(p);
}

/* α of the configuration onto the model: non-zero values first, then the
 * zeros, so pruning one branch never meets a block whose other branches are
 * still at a zero the configuration is about to lift. A non-zero α of the
 * original's virtual identity is ignored, with one note (a zero there is
 * how resolved configurations spell a branch the block lacks). */
static hr_status apply_alpha(hr_model *m, const hr_deploy_config *cfg, hr_error *err)
{
    hr_status st;
    hr_virtual_ids virt = {0};
    char note[512];
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < cfg->nblocks; k++) {
            hr_block_info bi = hr_model_block(m, k);
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                float v = cfg->alpha[k * HR_BRANCH_COUNT + br];
                if (!(cfg->alpha_given[k] >> br & 1u) || (pass == 0) != (v != 0.0f))
                    continue;
                if (v != 0.0f && hr_branch_is_virtual(bi.existing, (hr_branch)br)) {
                    hr_virtual_ids_add(&virt, bi.name);
                    continue;
                }
                if (!(bi.existing >> br & 1u)) {
                    if (v != 0.0f)
                        return hr_error_set(err, HR_ERR_INVALID_ARG,
                                            "%s.hyper_%s = %g, but the block has no %s branch", bi.name,
                                            hr_branch_name((hr_branch)br), (double)v, hr_branch_name((hr_branch)br));
                    continue;
                }
                if ((st = hr_model_set_alpha(m, k, (hr_branch)br, v, err)))
                    return st;
            }
        }
    if (virt.count)
        hr_ctx_log(hr_model_ctx(m), HR_LOG_WARN, "%s", hr_virtual_ids_note(&virt, "deploy: alpha", note, sizeof note));
    return HR_OK;
}

/* The raw placement's normalisation, copied into the part (the
 * configuration need not outlive it). */
static hr_status part_norm(hr_deploy_part *p, const hr_deploy_config *cfg, hr_error *err)
{
    int64_t ch = p->in_shape[1];
    if (!cfg->norm_channels)
        return HR_OK;
    if (cfg->norm_channels != ch || !cfg->input_mean || !cfg->input_std)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "deploy: input_mean / input_std have %lld values, the model takes %lld input channels",
                            (long long)cfg->norm_channels, (long long)ch);
    p->mean = malloc(sizeof(float) * (size_t)ch);
    p->std = malloc(sizeof(float) * (size_t)ch);
    if (!p->mean || !p->std)
        return hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory");
    memcpy(p->mean, cfg->input_mean, sizeof(float) * (size_t)ch);
    memcpy(p->std, cfg->input_std, sizeof(float) * (size_t)ch);
    return HR_OK;
}

hr_status hr_deploy_part_create(hr_ctx *ctx, const hr_deploy_config *cfg, hr_deploy_role role,
                                hr_tensor_map *weights, uint64_t seed, hr_deploy_part **out, hr_error *err)
{
    hr_model_params mp = hr_model_params_default();
    hr_deploy_part *p;
    hr_status st;
    int a, b, n;
    char have[48];

    if (!ctx || !cfg || !cfg->gamma || !out || (unsigned)role >= HR_DEPLOY_ROLE_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: missing context, configuration or output");
    if (cfg->split == HR_PLACEMENT_LOCAL && role != HR_DEPLOY_WHOLE)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: the local placement has no %s",
                            role == HR_DEPLOY_HEAD ? "head" : "tail");
    if (!(p = calloc(1, sizeof *p)))
        return hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory");
    p->role = role;
    mp.input_size = cfg->input_size;
    mp.in_channels = cfg->in_channels;
    mp.num_classes = cfg->num_classes;
    if ((st = hr_model_create(ctx, cfg->arch, &mp, &p->model, err)))
        goto fail;
    n = p->nblocks = hr_model_num_blocks(p->model);
    if (n != cfg->nblocks) {
        st = hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: %s has %d blocks, the configuration %d", cfg->arch, n,
                          cfg->nblocks);
        goto fail;
    }
    /* a raw tail is the whole network behind a dequantisation; a whole part
     * of a raw configuration is just the whole network */
    p->raw = cfg->split == HR_PLACEMENT_RAW && role != HR_DEPLOY_WHOLE;
    p->split = cfg->split == HR_PLACEMENT_LOCAL ? n : cfg->split == HR_PLACEMENT_RAW ? 0 : cfg->split;
    st = weights ? hr_model_load(p->model, weights, err) : hr_model_init_random(p->model, seed, err);
    if (st || (st = apply_alpha(p->model, cfg, err)))
        goto fail;
    /* Both sides check the whole configuration, so a bad one is refused with
     * the same message whichever part meets it first. */
    for (int k = 0; k < n; k++) {
        hr_block_info bi = hr_model_block(p->model, k);
        int g = cfg->gamma[k] >= 0 ? cfg->gamma[k] : hr_gamma_deploy(bi.live);
        if (!hr_gamma_valid(g, bi.live, cfg->mask)) {
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s: gamma %d (%s) is invalid for live branches %s (%s mask)",
                              bi.name, g, hr_gamma_get(g) ? hr_gamma_get(g)->name : "?",
                              hr_branch_mask_str(bi.live, have, sizeof have),
                              cfg->mask == HR_MASK_SUBSET ? "subset" : "exact");
            goto fail;
        }
    }
    /* Stage 0 is fused the first time any block's γ is applied (model.h has
     * no call for it alone), so a head with s = 0 also applies block 0. A
     * raw head applies nothing: it only quantises. */
    a = role == HR_DEPLOY_TAIL ? p->split : 0;
    b = role == HR_DEPLOY_HEAD ? (p->raw ? 0 : p->split > 0 ? p->split : 1) : n;
    for (int k = a; k < b; k++) {
        int g = cfg->gamma[k] >= 0 ? cfg->gamma[k] : hr_gamma_deploy(hr_model_block(p->model, k).live);
        if ((st = hr_model_apply_gamma(p->model, k, g, cfg->mask, NULL, err)))
            goto fail;
    }
    hr_model_drop_sources(p->model);
    hr_model_drop_unapplied(p->model); /* a head or tail holds no weights of the other side's blocks */
    if (!(p->raw && role == HR_DEPLOY_HEAD) && (st = hr_model_plan(p->model, 1, err)))
        goto fail;

    hr_block_info s0 = hr_model_block(p->model, -1), last = hr_model_block(p->model, n - 1);
    p->in_shape[0] = 1, p->in_shape[1] = s0.cin, p->in_shape[2] = s0.in_h, p->in_shape[3] = s0.in_w;
    p->s0_shape[0] = 1, p->s0_shape[1] = s0.cout, p->s0_shape[2] = s0.out_h, p->s0_shape[3] = s0.out_w;
    p->feat_shape[0] = 1, p->feat_shape[1] = last.cout, p->feat_shape[2] = last.out_h, p->feat_shape[3] = last.out_w;
    if (p->raw) {
        memcpy(p->cross_shape, p->in_shape, sizeof p->cross_shape);
    } else if (p->split < n) {
        hr_block_info bs = hr_model_block(p->model, p->split);
        p->cross_shape[0] = 1, p->cross_shape[1] = bs.cin, p->cross_shape[2] = bs.in_h, p->cross_shape[3] = bs.in_w;
    } else {
        memcpy(p->cross_shape, p->feat_shape, sizeof p->cross_shape);
    }
    p->classes = hr_model_num_classes(p->model);
    if (cfg->split == HR_PLACEMENT_RAW && (st = part_norm(p, cfg, err)))
        goto fail;
    if (!(p->raw && role == HR_DEPLOY_HEAD)) {
        p->s0 = malloc(sizeof(float) * (size_t)(p->s0_shape[1] * p->s0_shape[2] * p->s0_shape[3]));
        p->feat = malloc(sizeof(float) * (size_t)(p->feat_shape[1] * p->feat_shape[2] * p->feat_shape[3]));
        if (!p->s0 || !p->feat) {
            st = hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory");
            goto fail;
        }
    }
    /* the raw tail's frame buffer, allocated once: the hot path allocates nothing */
    if (p->raw && role == HR_DEPLOY_TAIL &&
        !(p->x = malloc(sizeof(float) * (size_t)(p->in_shape[1] * p->in_shape[2] * p->in_shape[3])))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory");
        goto fail;
    }
    *out = p;
    return HR_OK;
fail:
    hr_deploy_part_destroy(p);
    return st;
}

const hr_model *hr_deploy_part_model(const hr_deploy_part *p) { return p->model; }
hr_deploy_role hr_deploy_part_role(const hr_deploy_part *p) { return p->role; }
int64_t hr_deploy_part_num_classes(const hr_deploy_part *p) { return p->classes; }

void hr_deploy_part_input_shape(const hr_deploy_part *p, int64_t shape[4])
{
    memcpy(shape, p->in_shape, sizeof p->in_shape);
}

void hr_deploy_part_crossing_shape(const hr_deploy_part *p, int64_t shape[4])
{
    memcpy(shape, p->cross_shape, sizeof p->cross_shape);
}

hr_wire_dtype hr_deploy_part_crossing_dtype(const hr_deploy_part *p) { return p->raw ? HR_WIRE_U8 : HR_WIRE_F32; }

size_t hr_deploy_part_crossing_bytes(const hr_deploy_part *p)
{
    return (size_t)(p->cross_shape[0] * p->cross_shape[1] * p->cross_shape[2] * p->cross_shape[3]) *
           hr_wire_dtype_size(hr_deploy_part_crossing_dtype(p));
}

hr_wire_tensor hr_deploy_part_crossing_wire(const hr_deploy_part *p, const void *crossing)
{
    hr_wire_tensor w;
    memset(&w, 0, sizeof w);
    w.dtype = hr_deploy_part_crossing_dtype(p);
    w.ndim = 4;
    memcpy(w.shape, p->cross_shape, sizeof p->cross_shape);
    w.data = (void *)crossing;
    w.nbytes = hr_deploy_part_crossing_bytes(p);
    return w;
}

/* One channel plane. Rounding is the +0.5 before the truncation; the clamps
 * come after it, so the truncated value is always in range, and a NaN fails
 * the first test and becomes 0. Written as one plain loop over restrict
 * pointers so that it vectorises: at 224x224 it is the whole of a raw
 * head's work. */
static void quantise_plane(const float *restrict x, int64_t n, float scale, float offset, uint8_t *restrict u)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * scale + offset + 0.5f;
        v = v > 0.5f ? v : 0.5f;
        v = v < 255.5f ? v : 255.5f;
        u[i] = (uint8_t)v;
    }
}

void hr_deploy_quantise_input(const float *x, int64_t c, int64_t hw, const float *mean, const float *std,
                              uint8_t *u)
{
    for (int64_t ch = 0; ch < c; ch++)
        quantise_plane(x + ch * hw, hw, (std ? std[ch] : 1.0f) * 255.0f, (mean ? mean[ch] : 0.0f) * 255.0f,
                       u + ch * hw);
}

void hr_deploy_dequantise_input(const uint8_t *u, int64_t c, int64_t hw, const float *mean, const float *std,
                                float *x)
{
    for (int64_t ch = 0; ch < c; ch++) {
        float m = mean ? mean[ch] : 0.0f, s = std ? std[ch] : 1.0f;
        for (int64_t i = 0; i < hw; i++)
            x[ch * hw + i] = ((float)u[ch * hw + i] / 255.0f - m) / s;
    }
}

static hr_tensor view4(const float *data, const int64_t s[4])
{
    return hr_tensor_4d((float *)data, s[0], s[1], s[2], s[3]);
}

hr_status hr_deploy_part_set_edge_emu(hr_deploy_part *p, hr_edge_emu *emu, hr_error *err)
{
    if (emu && p->role == HR_DEPLOY_TAIL)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: a tail runs on the server: only the edge's part (a "
                            "head or a whole model) is emulated");
    if (emu && !p->raw && !p->emu_shape) {
        size_t best = 1;
        p->emu_shape = malloc(sizeof *p->emu_shape * (size_t)(p->nblocks > 0 ? p->nblocks : 1));
        if (!p->emu_shape)
            return hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory");
        for (int k = 0; k < p->nblocks; k++) {
            hr_block_info b = hr_model_block(p->model, k);
            size_t n = (size_t)(b.cout * b.out_h * b.out_w);
            p->emu_shape[k][0] = 1, p->emu_shape[k][1] = b.cout, p->emu_shape[k][2] = b.out_h;
            p->emu_shape[k][3] = b.out_w;
            best = n > best ? n : best;
        }
        for (int i = 0; i < 2; i++)
            if (!(p->emu_buf[i] = malloc(sizeof(float) * best))) {
                free(p->emu_buf[0]);
                free(p->emu_shape);
                p->emu_buf[0] = NULL;
                p->emu_shape = NULL;
                return hr_error_set(err, HR_ERR_NOMEM, "deploy: out of memory");
            }
    }
    p->emu = emu;
    return HR_OK;
}

hr_edge_emu *hr_deploy_part_edge_emu(const hr_deploy_part *p) { return p->emu; }

/* Blocks [0, b) one at a time, each an emulated unit ending at its
 * deadline: from s0 (stage 0's output) into y, the output of block b-1,
 * through the part's two buffers. */
static hr_status emu_blocks(hr_deploy_part *p, int b, const hr_tensor *s0, hr_tensor *y, hr_error *err)
{
    hr_tensor in = *s0;
    for (int k = 0; k < b; k++) {
        hr_tensor out = k == b - 1 ? *y : view4(p->emu_buf[k % 2], p->emu_shape[k]);
        hr_status st;
        hr_edge_emu_begin(p->emu, k);
        if ((st = hr_model_forward_range(p->model, k, k + 1, &in, &out, err)))
            return st;
        hr_edge_emu_end(p->emu, k);
        in = out;
    }
    return HR_OK;
}

/* Stage 0 as an emulated unit. */
static hr_status emu_stage0(hr_deploy_part *p, const hr_tensor *x, hr_tensor *y, hr_error *err)
{
    hr_status st;
    hr_edge_emu_begin(p->emu, HR_EDGE_EMU_STAGE0);
    if ((st = hr_model_forward_stage0(p->model, x, y, err)))
        return st;
    hr_edge_emu_end(p->emu, HR_EDGE_EMU_STAGE0);
    return HR_OK;
}

hr_status hr_deploy_part_run_head(hr_deploy_part *p, const float *input, void *crossing, hr_error *err)
{
    hr_status st;
    if (p->role == HR_DEPLOY_TAIL)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: a tail part has no head");
    if (p->emu && !p->raw) {
        hr_tensor x = view4(input, p->in_shape), c = view4(crossing, p->cross_shape), s0 = view4(p->s0, p->s0_shape);
        if (p->split == 0)
            return emu_stage0(p, &x, &c, err);
        if ((st = emu_stage0(p, &x, &s0, err)))
            return st;
        return emu_blocks(p, p->split, &s0, &c, err);
    }
    if (p->raw) {
        hr_deploy_quantise_input(input, p->in_shape[1], p->in_shape[2] * p->in_shape[3], p->mean, p->std, crossing);
        return HR_OK;
    }
    hr_tensor x = view4(input, p->in_shape), c = view4(crossing, p->cross_shape);
    if (p->split == 0)
        return hr_model_forward_stage0(p->model, &x, &c, err);
    hr_tensor s0 = view4(p->s0, p->s0_shape);
    if ((st = hr_model_forward_stage0(p->model, &x, &s0, err)))
        return st;
    return hr_model_forward_range(p->model, 0, p->split, &s0, &c, err);
}

hr_status hr_deploy_part_run_tail(hr_deploy_part *p, const void *crossing, float *logits, hr_error *err)
{
    hr_status st;
    const float *in = crossing;
    if (p->role == HR_DEPLOY_HEAD)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: a head part has no tail");
    if (p->raw) {
        /* pixels → network input, then stage 0 into the crossing's place */
        hr_tensor x, s0;
        hr_deploy_dequantise_input(crossing, p->in_shape[1], p->in_shape[2] * p->in_shape[3], p->mean, p->std, p->x);
        x = view4(p->x, p->in_shape);
        s0 = view4(p->s0, p->s0_shape);
        if ((st = hr_model_forward_stage0(p->model, &x, &s0, err)))
            return st;
        in = p->s0;
    }
    hr_tensor c = view4(in, p->raw ? p->s0_shape : p->cross_shape), f = view4(p->feat, p->feat_shape);
    hr_tensor y = hr_tensor_view(logits, 2, (int64_t[]){1, p->classes});
    if (p->split < p->nblocks && (st = hr_model_forward_range(p->model, p->split, p->nblocks, &c, &f, err)))
        return st;
    pthread_mutex_lock(&classifier_lock);
    st = hr_model_forward_classifier(p->model, p->split < p->nblocks ? &f : &c, &y, err);
    pthread_mutex_unlock(&classifier_lock);
    return st;
}

hr_status hr_deploy_part_run_whole(hr_deploy_part *p, const float *input, float *logits, hr_error *err)
{
    hr_status st;
    if (p->role != HR_DEPLOY_WHOLE)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "deploy: not a whole-model part");
    hr_tensor x = view4(input, p->in_shape);
    hr_tensor y = hr_tensor_view(logits, 2, (int64_t[]){1, p->classes});
    if (p->emu) {
        hr_tensor s0 = view4(p->s0, p->s0_shape), f = view4(p->feat, p->feat_shape);
        if ((st = emu_stage0(p, &x, &s0, err)) || (st = emu_blocks(p, p->nblocks, &s0, &f, err)))
            return st;
        /* the wait comes after the lock is released: a sleeping edge must
         * not hold up another thread's classifier */
        pthread_mutex_lock(&classifier_lock);
        hr_edge_emu_begin(p->emu, HR_EDGE_EMU_CLASSIFIER);
        st = hr_model_forward_classifier(p->model, &f, &y, err);
        pthread_mutex_unlock(&classifier_lock);
        if (!st)
            hr_edge_emu_end(p->emu, HR_EDGE_EMU_CLASSIFIER);
        return st;
    }
    pthread_mutex_lock(&classifier_lock);
    st = hr_model_forward(p->model, &x, &y, err);
    pthread_mutex_unlock(&classifier_lock);
    return st;
}
