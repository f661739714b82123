/* Per-device LUTs (lut_server.json / lut_client.json): ours and the
 * original tool's, read strictly against the model they name. */
#include "lut/lut_internal.h"
#include "core/json_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *role_key[HR_DEVICE_COUNT] = {"T_server", "T_client"};

static void entry_invalid(hr_lut_entry *e)
{
    e->valid = 0;
    e->time_ms = e->median_ms = e->std_ms = e->min_ms = -1;
    e->spread = -1;
}

hr_status hr_device_lut_create(const hr_model *model, hr_device role, hr_device_lut **out, hr_error *err)
{
    hr_device_lut *lut;
    int n = hr_model_num_blocks(model);
    if (role != HR_DEVICE_SERVER && role != HR_DEVICE_CLIENT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "per-device LUT: role %d is not server or client", (int)role);
    if (n < 1 || n > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "per-device LUT: %d blocks, expected 1..%d", n,
                            HR_LUT_MAX_BLOCKS);
    lut = calloc(1, sizeof *lut);
    if (!lut || !(lut->blocks = calloc((size_t)n, sizeof *lut->blocks))) {
        free(lut);
        return hr_error_set(err, HR_ERR_NOMEM, "per-device LUT: out of memory");
    }
    lut->slowdown = 1;
    lut->role = role;
    lut->nblocks = n;
    snprintf(lut->model, sizeof lut->model, "%s", hr_model_arch(model)->name);
    snprintf(lut->model_label, sizeof lut->model_label, "%s", hr_model_arch(model)->name);
    lut->input_shape[0] = hr_model_in_channels(model);
    lut->input_shape[1] = lut->input_shape[2] = hr_model_input_size(model);
    lut->num_classes = hr_model_num_classes(model);
    for (int i = 0; i < n; i++) {
        hr_block_info bi = hr_model_block(model, i);
        hr_device_lut_block *b = &lut->blocks[i];
        snprintf(b->name, sizeof b->name, "%s", bi.name);
        b->in_shape[0] = b->out_shape[0] = 1;
        b->in_shape[1] = bi.cin;
        b->in_shape[2] = bi.in_h;
        b->in_shape[3] = bi.in_w;
        b->out_shape[1] = bi.cout;
        b->out_shape[2] = bi.out_h;
        b->out_shape[3] = bi.out_w;
        b->groups = bi.groups;
        b->existing = bi.existing;
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            entry_invalid(&b->e[g]);
    }
    entry_invalid(&lut->stage0);
    entry_invalid(&lut->classifier);
    entry_invalid(&lut->frame);
    lut->noise.median_spread = lut->noise.stolen_cpu_pct = -1;
    *out = lut;
    return HR_OK;
}

void hr_device_lut_destroy(hr_device_lut *lut)
{
    if (!lut)
        return;
    free(lut->blocks);
    free(lut);
}

double hr_lut_entry_time(const hr_lut_entry *e, hr_lut_stat stat)
{
    if (!e->valid)
        return -1;
    if (stat == HR_LUT_STAT_MEDIAN && e->median_ms >= 0)
        return e->median_ms;
    if (stat == HR_LUT_STAT_MIN && e->min_ms >= 0)
        return e->min_ms;
    return e->time_ms;
}

/* ---- reading ---- */

/* One {gamma_name, time_ms, median_ms?, std_ms, min_ms?, spread?, status} entry.
 * field is "T_client.stage2.3.7" for messages. */
static hr_status read_entry(const char *path, const char *field, const json_t *o, int gamma, unsigned existing,
                            hr_lut_entry *e, int *has_median, hr_error *err)
{
    char f[160], r[64];
    const json_t *v;
    const char *status;
    hr_status st;

    entry_invalid(e);
    if (!json_is_object(o))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: expected an object {gamma_name, time_ms, std_ms, status}, "
                            "got %s", path, field, hr__json_repr(o, r, sizeof r));
    v = json_object_get(o, "status");
    status = json_string_value(v);
    if (!status)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s.status: %s is not a string", path, field,
                            hr__json_repr(v, r, sizeof r));
    if (gamma >= 0 && (v = json_object_get(o, "gamma_name")) &&
        (!json_is_string(v) || strcmp(json_string_value(v), hr_gamma_get(gamma)->name) != 0))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s.gamma_name: %s, expected \"%s\"", path, field,
                            hr__json_repr(v, r, sizeof r), hr_gamma_get(gamma)->name);
    if (strcmp(status, "ok") != 0) {
        /* "invalid", or a failed measurement: no time. */
        snprintf(f, sizeof f, "%s.time_ms", field);
        double t;
        if ((st = hr__json_time(path, f, json_object_get(o, "time_ms"), 1, &t, err)))
            return st;
        if (t != -1)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: status \"%s\" with time_ms %g (expected null or -1)",
                                path, field, status, t);
        return HR_OK;
    }
    if (gamma >= 0 && (hr_gamma_get(gamma)->branches & ~existing)) {
        char have[48];
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: status \"ok\" for %s, but the block has only %s", path,
                            field, hr_gamma_get(gamma)->name, hr_branch_mask_str(existing, have, sizeof have));
    }
    snprintf(f, sizeof f, "%s.time_ms", field);
    if ((st = hr__json_time(path, f, json_object_get(o, "time_ms"), 0, &e->time_ms, err)))
        return st;
    if (e->time_ms < 0)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: status \"ok\" with time -1", path, f);
    static const char *opt[4] = {"median_ms", "std_ms", "min_ms", "spread"};
    double *dst[4] = {&e->median_ms, &e->std_ms, &e->min_ms, &e->spread};
    for (int k = 0; k < 4; k++) {
        if (!(v = json_object_get(o, opt[k])))
            continue;
        snprintf(f, sizeof f, "%s.%s", field, opt[k]);
        if ((st = hr__json_time(path, f, v, 1, dst[k], err)))
            return st;
        if (k == 0 && *dst[k] >= 0)
            *has_median = 1;
    }
    e->valid = 1;
    return HR_OK;
}

/* Checks model_info's shapes (when present) against the model the file
 * names: every listed block must exist and agree on [C, H, W]. */
static hr_status read_shapes(const char *path, const json_t *mi, hr_device_lut *lut, hr_error *err)
{
    static const char *key[2] = {"block_input_shapes", "block_output_shapes"};
    char f[128], a[64], b[64];
    hr_status st;
    if (!json_is_object(mi))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: model_info: expected an object", path);
    for (int k = 0; k < 2; k++) {
        const json_t *o = json_object_get(mi, key[k]), *v;
        const char *name;
        if (!o)
            continue;
        if (!json_is_object(o))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: model_info.%s: expected {block: [B, C, H, W]}", path, key[k]);
        json_object_foreach((json_t *)o, name, v) {
            int64_t shape[4];
            int i;
            snprintf(f, sizeof f, "model_info.%s.%s", key[k], name);
            for (i = 0; i < lut->nblocks && strcmp(lut->blocks[i].name, name); i++)
                ;
            if (i == lut->nblocks)
                return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: unknown block '%s' for %s", path, f, name, lut->model);
            if ((st = hr__json_shape(path, f, v, 4, shape, err)))
                return st;
            const int64_t *want = k ? lut->blocks[i].out_shape : lut->blocks[i].in_shape;
            if (memcmp(shape + 1, want + 1, 3 * sizeof shape[0]) != 0) {
                hr_tensor t1 = hr_tensor_view(NULL, 4, shape), t2 = hr_tensor_view(NULL, 4, want);
                return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %s, but %s at %lldx%lldx%lld has %s", path, f,
                                    hr_tensor_shape_str(&t1, a, sizeof a), lut->model,
                                    (long long)lut->input_shape[0], (long long)lut->input_shape[1],
                                    (long long)lut->input_shape[2], hr_tensor_shape_str(&t2, b, sizeof b));
            }
        }
    }
    return HR_OK;
}

/* metadata.noise {median_spread, remeasured, stolen_cpu_pct, busy, method?,
 * remeasure_spread?, remeasure_s?}: unknown figures are -1 (or null). */
static hr_status read_noise(const char *path, const json_t *o, hr_lut_noise *n, hr_error *err)
{
    static const char *key[4] = {"median_spread", "stolen_cpu_pct", "remeasure_spread", "remeasure_s"};
    double *dst[4] = {&n->median_spread, &n->stolen_cpu_pct, &n->remeasure_spread, &n->remeasure_s};
    const json_t *v;
    char f[64], r[64];
    hr_status st;
    if (!json_is_object(o))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.noise: expected an object {median_spread, remeasured, "
                            "stolen_cpu_pct, busy}", path);
    for (int k = 0; k < 4; k++) {
        *dst[k] = k < 2 ? -1 : 0;
        if (!(v = json_object_get(o, key[k])))
            continue;
        snprintf(f, sizeof f, "metadata.noise.%s", key[k]);
        if ((st = hr__json_time(path, f, v, 1, dst[k], err)))
            return st;
    }
    if (n->stolen_cpu_pct > 100)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.noise.stolen_cpu_pct: %g is over 100", path,
                            n->stolen_cpu_pct);
    v = json_object_get(o, "remeasured");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.noise.remeasured: %s is not a count", path,
                            hr__json_repr(v, r, sizeof r));
    n->remeasured = v ? (int)json_integer_value(v) : 0;
    v = json_object_get(o, "busy");
    if (v && !json_is_boolean(v))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.noise.busy: %s is not true or false", path,
                            hr__json_repr(v, r, sizeof r));
    n->busy = json_is_true(v);
    n->method[0] = '\0';
    hr__json_copy_string(o, "method", n->method, sizeof n->method);
    return HR_OK;
}

/* Top-level T_frame: an entry (status "ok") plus crossing_shape and block. */
static hr_status read_frame(const char *path, const json_t *o, hr_device_lut *lut, hr_error *err)
{
    const json_t *v;
    hr_status st;
    int dummy = 0;
    if ((st = read_entry(path, "T_frame", o, -1, 0, &lut->frame, &dummy, err)))
        return st;
    if (!lut->frame.valid)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: T_frame: status must be \"ok\"", path);
    if ((v = json_object_get(o, "crossing_shape")) &&
        (st = hr__json_shape(path, "T_frame.crossing_shape", v, 4, lut->frame_shape, err)))
        return st;
    hr__json_copy_string(o, "block", lut->frame_block, sizeof lut->frame_block);
    hr__json_copy_string(o, "method", lut->frame_method, sizeof lut->frame_method);
    if (!lut->frame_method[0])
        snprintf(lut->frame_method, sizeof lut->frame_method, "in-process");
    lut->has_frame_time = 1;
    return HR_OK;
}

/* Resolves role and model from the document, builds an empty LUT shaped by
 * that model, then fills and checks every entry (see hr_device_lut_load).
 * On failure nothing is returned and everything is freed. */
static hr_status load_into(const char *path, const json_t *root, hr_device_lut **out, hr_error *err)
{
    const json_t *meta = json_object_get(root, "metadata"), *v, *t;
    hr_device_lut *lut = NULL;
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_device role;
    int64_t in_shape[3] = {0, 0, 0}, classes = 0;
    char r[96], f[128];
    const char *key;
    json_t *val;
    hr_status st;
    int has_median = 0;

    if (!json_is_object(meta))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata: %s", path,
                            meta ? "expected an object" : "missing (a per-device LUT names its model there)");
    if (json_object_get(root, role_key[0]) && json_object_get(root, role_key[1]))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: both T_server and T_client: a merged LUT, not a per-device one",
                            path);
    if (json_object_get(root, role_key[0]))
        role = HR_DEVICE_SERVER;
    else if (json_object_get(root, role_key[1]))
        role = HR_DEVICE_CLIENT;
    else
        return hr_error_set(err, HR_ERR_FORMAT, "%s: neither T_server nor T_client: not a LUT", path);
    t = json_object_get(root, role_key[role]);
    if (!json_is_object(t) || json_object_size(t) > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: expected an object of at most %d blocks", path,
                            role_key[role], HR_LUT_MAX_BLOCKS);
    if ((v = json_object_get(meta, "device")) &&
        (!json_is_string(v) || strcmp(json_string_value(v), hr_device_name(role)) != 0))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.device: %s, but the file holds %s", path,
                            hr__json_repr(v, r, sizeof r), role_key[role]);
    v = json_object_get(meta, "model");
    if (!json_is_string(v))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.model: %s is not a model name", path,
                            hr__json_repr(v, r, sizeof r));
    if (!hr_arch_find(json_string_value(v)))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.model: unknown model %s (see `hyperrep models`)", path,
                            hr__json_repr(v, r, sizeof r));
    if ((v = json_object_get(meta, "input_shape"))) {
        if ((st = hr__json_shape(path, "metadata.input_shape", v, 3, in_shape, err)))
            return st;
        if (in_shape[1] != in_shape[2])
            return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.input_shape: %lldx%lld is not square", path,
                                (long long)in_shape[1], (long long)in_shape[2]);
    }
    if ((v = json_object_get(meta, "num_classes"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.num_classes: %s is not a positive integer", path,
                                hr__json_repr(v, r, sizeof r));
        classes = json_integer_value(v);
    }
    if ((st = hr__shape_model(json_string_value(json_object_get(meta, "model")), in_shape[0], in_shape[1], classes,
                              &ctx, &m, err))) {
        hr_error_prefix(err, "%s: metadata", path);
        return st;
    }
    if ((st = hr_device_lut_create(m, role, &lut, err)))
        goto fail;
    lut->original_format = json_object_get(meta, "input_shape") == NULL;
    snprintf(lut->source, sizeof lut->source, "%s", path);
    hr__json_copy_string(meta, "model", lut->model_label, sizeof lut->model_label);
    hr__json_copy_string(meta, "gpu_name", lut->gpu_name, sizeof lut->gpu_name);
    hr__json_copy_string(meta, "timestamp", lut->timestamp, sizeof lut->timestamp);
    static const char *ikey[4] = {"threads", "warmup", "repeat", "passes"};
    int *idst[4] = {&lut->threads, &lut->warmup, &lut->repeat, &lut->passes};
    for (int k = 0; k < 4; k++)
        if ((v = json_object_get(meta, ikey[k]))) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000) {
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.%s: %s is not a count", path, ikey[k],
                                  hr__json_repr(v, r, sizeof r));
                goto fail;
            }
            *idst[k] = (int)json_integer_value(v);
        }
    if ((v = json_object_get(meta, "context"))) {
        const char *c = json_string_value(v);
        if (!c || (strcmp(c, "forward") && strcmp(c, "isolated"))) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.context: %s is not \"isolated\" or \"forward\"", path,
                              hr__json_repr(v, r, sizeof r));
            goto fail;
        }
        lut->in_forward = strcmp(c, "forward") == 0;
    }
    if ((v = json_object_get(meta, "emulated")) &&
        (st = hr__emulated_read(path, "metadata.emulated", v, lut->emulated, sizeof lut->emulated, &lut->slowdown,
                                err)))
        goto fail;
    if ((st = hr__edge_read(path, meta, lut->emulated[0] != 0, &lut->edge, err)))
        goto fail;
    if ((v = json_object_get(root, "model_info")) && !json_is_null(v) && (st = read_shapes(path, v, lut, err)))
        goto fail;

    json_object_foreach((json_t *)t, key, val) {
        int i = hr_model_find_block(m, key);
        if (i < 0) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s: unknown block '%s' for %s", path, role_key[role], key,
                              lut->model);
            goto fail;
        }
    }
    for (int i = 0; i < lut->nblocks; i++) {
        hr_device_lut_block *b = &lut->blocks[i];
        const json_t *bo = json_object_get(t, b->name);
        if (!bo) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s: block %s of %s is missing", path, role_key[role], b->name,
                              lut->model);
            goto fail;
        }
        if (!json_is_object(bo) || json_object_size(bo) != HR_GAMMA_COUNT) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s.%s: %zu entries, expected %d (one per gamma, \"0\"..\"13\")",
                              path, role_key[role], b->name, json_is_object(bo) ? json_object_size(bo) : (size_t)0,
                              HR_GAMMA_COUNT);
            goto fail;
        }
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            char gk[8];
            snprintf(gk, sizeof gk, "%d", g);
            if (!json_object_get(bo, gk)) {
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s.%s: entry \"%s\" is missing (keys must be \"0\"..\"13\")",
                                  path, role_key[role], b->name, gk);
                goto fail;
            }
            snprintf(f, sizeof f, "%s.%s.%s", role_key[role], b->name, gk);
            if ((st = read_entry(path, f, json_object_get(bo, gk), g, b->existing, &b->e[g], &has_median, err)))
                goto fail;
        }
    }
    static const char *sk[2] = {"T_stage0", "T_classifier"};
    hr_lut_entry *sd[2] = {&lut->stage0, &lut->classifier};
    for (int k = 0; k < 2; k++) {
        int dummy = 0;
        if (!(v = json_object_get(root, sk[k])))
            continue;
        if ((st = read_entry(path, sk[k], v, -1, 0, sd[k], &dummy, err)))
            goto fail;
        if (!sd[k]->valid) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s: status must be \"ok\"", path, sk[k]);
            goto fail;
        }
    }
    if (!!json_object_get(root, sk[0]) != !!json_object_get(root, sk[1])) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: T_stage0 and T_classifier must be given together", path);
        goto fail;
    }
    lut->has_stage_times = json_object_get(root, sk[0]) != NULL;
    lut->has_median = has_median;
    if ((v = json_object_get(meta, "noise")) && !json_is_null(v)) {
        if ((st = read_noise(path, v, &lut->noise, err)))
            goto fail;
        lut->has_noise = 1;
    }
    if ((v = json_object_get(root, "T_frame")) && (st = read_frame(path, v, lut, err)))
        goto fail;
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    *out = lut;
    return HR_OK;
fail:
    hr_device_lut_destroy(lut);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return st;
}

hr_status hr_device_lut_load(const char *path, hr_device_lut **out, hr_error *err)
{
    json_t *root;
    hr_status st = hr__json_load(path, &root, err);
    if (st)
        return st;
    st = load_into(path, root, out, err);
    json_decref(root);
    return st;
}

/* ---- writing ---- */

/* One entry object in the original's field order plus ours; NULL when out
 * of memory. Invalid entries carry -1 times and status "invalid". */
static json_t *entry_json(const hr_lut_entry *e, const char *gamma_name)
{
    hr__jb b = {0};
    json_t *o = json_object();
    if (gamma_name)
        hr__jset(&b, o, "gamma_name", json_string(gamma_name));
    hr__jset(&b, o, "time_ms", json_real(e->valid ? e->time_ms : -1));
    if (e->valid) {
        hr__jset(&b, o, "median_ms", e->median_ms >= 0 ? json_real(e->median_ms) : json_null());
        hr__jset(&b, o, "std_ms", e->std_ms >= 0 ? json_real(e->std_ms) : json_null());
        hr__jset(&b, o, "min_ms", e->min_ms >= 0 ? json_real(e->min_ms) : json_null());
        if (e->spread >= 0)
            hr__jset(&b, o, "spread", json_real(e->spread));
    } else {
        hr__jset(&b, o, "median_ms", json_real(-1));
        hr__jset(&b, o, "std_ms", json_real(-1));
    }
    hr__jset(&b, o, "status", json_string(e->valid ? "ok" : "invalid"));
    if (b.failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int entry_ok(const hr_lut_entry *e)
{
    if (!e->valid)
        return 1;
    return isfinite(e->time_ms) && e->time_ms >= 0 && isfinite(e->median_ms) && isfinite(e->std_ms) &&
           isfinite(e->min_ms) && isfinite(e->spread);
}

hr_status hr_device_lut_save(const char *path, const hr_device_lut *lut, hr_error *err)
{
    hr__jb b = {0};
    json_t *root, *meta, *t, *mi, *ins, *outs, *grs;
    hr_status st;

    if (lut->role != HR_DEVICE_SERVER && lut->role != HR_DEVICE_CLIENT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: role %d is not server or client", path, (int)lut->role);
    for (int i = 0; i < lut->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (!entry_ok(&lut->blocks[i].e[g]))
                return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %s gamma %d: time %g is not a valid measurement",
                                    path, lut->blocks[i].name, g, lut->blocks[i].e[g].time_ms);
    if (lut->has_stage_times && (!entry_ok(&lut->stage0) || !entry_ok(&lut->classifier)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: stage 0 / classifier times are not valid", path);
    if (lut->emulated[0] && lut->edge.name[0] &&
        !(lut->edge.peak_gflops > 0 && lut->edge.bandwidth_gbs > 0 && lut->edge.host_peak_gflops > 0 &&
          lut->edge.host_bandwidth_gbs > 0 && isfinite(lut->edge.peak_gflops + lut->edge.bandwidth_gbs +
                                                       lut->edge.host_peak_gflops + lut->edge.host_bandwidth_gbs) &&
          lut->edge.cores_used >= 1 && lut->edge.cores_used <= lut->edge.cores && lut->edge.host_threads >= 1))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: edge profile %s: figures %g GFLOP/s, %g GB/s (host %g, %g) "
                            "or cores %d of %d are not valid", path, lut->edge.name, lut->edge.peak_gflops,
                            lut->edge.bandwidth_gbs, lut->edge.host_peak_gflops, lut->edge.host_bandwidth_gbs,
                            lut->edge.cores_used, lut->edge.cores);
    if (lut->has_frame_time && (!lut->frame.valid || !entry_ok(&lut->frame)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: T_frame %g ms is not a valid measurement", path,
                            lut->frame.time_ms);
    if (lut->has_noise && (!isfinite(lut->noise.median_spread) || !isfinite(lut->noise.stolen_cpu_pct) ||
                           !isfinite(lut->noise.remeasure_spread) || !isfinite(lut->noise.remeasure_s)))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: metadata.noise holds a non-finite figure", path);

    root = json_object();
    meta = json_object();
    hr__jset(&b, root, "metadata", meta);
    hr__jset(&b, meta, "device", json_string(hr_device_name(lut->role)));
    hr__jset(&b, meta, "gpu_name", json_string(lut->gpu_name));
    hr__jset(&b, meta, "model", json_string(lut->model));
    hr__jset(&b, meta, "timestamp", json_string(lut->timestamp));
    hr__jset(&b, meta, "threads", json_integer(lut->threads));
    hr__jset(&b, meta, "input_shape", hr__jints(lut->input_shape, 3));
    hr__jset(&b, meta, "num_classes", json_integer((json_int_t)lut->num_classes));
    hr__jset(&b, meta, "warmup", json_integer(lut->warmup));
    hr__jset(&b, meta, "repeat", json_integer(lut->repeat));
    hr__jset(&b, meta, "passes", json_integer(lut->passes));
    hr__jset(&b, meta, "context", json_string(lut->in_forward ? "forward" : "isolated"));
    if (lut->emulated[0])
        hr__jset(&b, meta, "emulated", hr__emulated_json(lut->emulated, lut->slowdown));
    if (lut->emulated[0] && lut->edge.name[0]) {
        json_t *host = NULL;
        hr__jset(&b, meta, "edge_profile", hr__edge_json(&lut->edge, &host));
        hr__jset(&b, meta, "host_roofline", host);
    }
    hr__jset(&b, meta, "software", hr__software_json());
    hr__jset(&b, meta, "alpha", json_string("1 for each branch of the measured gamma (trained alpha untouched)"));
    if (lut->has_noise) {
        const hr_lut_noise *n = &lut->noise;
        json_t *no = json_object();
        hr__jset(&b, meta, "noise", no);
        hr__jset(&b, no, "median_spread", n->median_spread >= 0 ? json_real(n->median_spread) : json_null());
        hr__jset(&b, no, "remeasured", json_integer(n->remeasured));
        hr__jset(&b, no, "stolen_cpu_pct", n->stolen_cpu_pct >= 0 ? json_real(n->stolen_cpu_pct) : json_null());
        hr__jset(&b, no, "busy", json_boolean(n->busy));
        hr__jset(&b, no, "method", json_string(n->method));
        hr__jset(&b, no, "remeasure_spread", json_real(n->remeasure_spread));
        hr__jset(&b, no, "remeasure_s", json_real(n->remeasure_s));
    }

    t = json_object();
    hr__jset(&b, root, role_key[lut->role], t);
    for (int i = 0; i < lut->nblocks; i++) {
        const hr_device_lut_block *blk = &lut->blocks[i];
        json_t *bo = json_object();
        hr__jset(&b, t, blk->name, bo);
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            char gk[8];
            snprintf(gk, sizeof gk, "%d", g);
            hr__jset(&b, bo, gk, entry_json(&blk->e[g], hr_gamma_get(g)->name));
        }
    }
    if (lut->has_stage_times) {
        hr__jset(&b, root, "T_stage0", entry_json(&lut->stage0, NULL));
        hr__jset(&b, root, "T_classifier", entry_json(&lut->classifier, NULL));
    }
    if (lut->has_frame_time) {
        json_t *fo = entry_json(&lut->frame, NULL);
        hr__jset(&b, root, "T_frame", fo);
        if (fo && lut->frame_shape[0] > 0)
            hr__jset(&b, fo, "crossing_shape", hr__jints(lut->frame_shape, 4));
        if (fo && lut->frame_block[0])
            hr__jset(&b, fo, "block", json_string(lut->frame_block));
        if (fo && lut->frame_method[0])
            hr__jset(&b, fo, "method", json_string(lut->frame_method));
    }
    mi = json_object();
    ins = json_object();
    outs = json_object();
    grs = json_object();
    hr__jset(&b, root, "model_info", mi);
    hr__jset(&b, mi, "block_input_shapes", ins);
    hr__jset(&b, mi, "block_output_shapes", outs);
    hr__jset(&b, mi, "block_groups", grs);
    for (int i = 0; i < lut->nblocks; i++) {
        const hr_device_lut_block *blk = &lut->blocks[i];
        hr__jset(&b, ins, blk->name, hr__jints(blk->in_shape, 4));
        hr__jset(&b, outs, blk->name, hr__jints(blk->out_shape, 4));
        hr__jset(&b, grs, blk->name, json_integer(blk->groups));
    }
    if (b.failed)
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the LUT", path);
    else
        st = hr__json_save(path, root, err);
    json_decref(root);
    return st;
}

void hr__lut_entry_scale(hr_lut_entry *e, double f)
{
    /* -1 marks an absent statistic; every present one is a time (or, for
     * std, a spread of times) and scales with them. */
    double *v[4] = {&e->time_ms, &e->median_ms, &e->std_ms, &e->min_ms};
    for (int k = 0; k < 4; k++)
        if (*v[k] >= 0)
            *v[k] *= f;
}

hr_status hr_device_lut_emulate(hr_device_lut *lut, const char *description, double slowdown, hr_error *err)
{
    if (!(slowdown > 0) || !isfinite(slowdown))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "emulation: slowdown %g is not a positive factor", slowdown);
    if (!description || !*description)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "emulation: a description of the emulated device is required");
    for (int i = 0; i < lut->nblocks; i++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            if (lut->blocks[i].e[g].valid)
                hr__lut_entry_scale(&lut->blocks[i].e[g], slowdown);
    if (lut->has_stage_times) {
        hr__lut_entry_scale(&lut->stage0, slowdown);
        hr__lut_entry_scale(&lut->classifier, slowdown);
    }
    /* Framing and hand-offs are CPU work on the emulated device too. */
    if (lut->has_frame_time)
        hr__lut_entry_scale(&lut->frame, slowdown);
    snprintf(lut->emulated, sizeof lut->emulated, "%s", description);
    lut->slowdown *= slowdown;
    return HR_OK;
}

double hr_device_lut_deploy_ms(const hr_device_lut *lut, hr_lut_stat stat)
{
    double t = 0;
    for (int i = 0; i < lut->nblocks; i++) {
        int g = hr_gamma_deploy(lut->blocks[i].existing);
        if (g >= 0 && lut->blocks[i].e[g].valid)
            t += hr_lut_entry_time(&lut->blocks[i].e[g], stat);
    }
    if (lut->has_stage_times)
        t += hr_lut_entry_time(&lut->stage0, stat) + hr_lut_entry_time(&lut->classifier, stat);
    return t;
}

hr_status hr_device_lut_set_frame(hr_device_lut *lut, double *samples, int n, const int64_t shape[4],
                                  const char *block, const char *method, hr_error *err)
{
    if (!lut || !samples || n < 1 || !shape || !block || !method)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "T_frame: no LUT, samples, shape, block or method");
    for (int i = 0; i < n; i++)
        if (!isfinite(samples[i]) || samples[i] < 0)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "T_frame: sample %d = %g ms is not a time >= 0", i,
                                samples[i]);
    for (int d = 0; d < 4; d++)
        if (shape[d] < 1)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "T_frame: crossing shape dim %d = %lld is not >= 1", d,
                                (long long)shape[d]);
    if (strlen(block) >= sizeof lut->frame_block || strlen(method) >= sizeof lut->frame_method)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "T_frame: block '%s' or method '%s' is too long", block, method);
    hr__lut_summarise(samples, n, &lut->frame);
    memcpy(lut->frame_shape, shape, sizeof lut->frame_shape);
    snprintf(lut->frame_block, sizeof lut->frame_block, "%s", block);
    snprintf(lut->frame_method, sizeof lut->frame_method, "%s", method);
    lut->has_frame_time = 1;
    return HR_OK;
}
