/* The merged LUT (hardware_lut_complete.json): creation, reading ours and
 * the original tool's files, and writing with every field the original's
 * optimizer reads plus ours (SPEC §5). */
#include "lut/lut_internal.h"
#include "core/json_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double default_knee[HR_DEVICE_COUNT] = {25.15, 16.1};

hr_status hr_lut_create(int nblocks, hr_lut **out, hr_error *err)
{
    hr_lut *lut;
    if (nblocks < 1 || nblocks > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "LUT: %d blocks, expected 1..%d", nblocks, HR_LUT_MAX_BLOCKS);
    lut = calloc(1, sizeof *lut);
    if (!lut)
        return hr_error_set(err, HR_ERR_NOMEM, "LUT: out of memory");
    lut->blocks = calloc((size_t)nblocks, sizeof *lut->blocks);
    if (!lut->blocks) {
        free(lut);
        return hr_error_set(err, HR_ERR_NOMEM, "LUT: out of memory for %d blocks", nblocks);
    }
    lut->nblocks = nblocks;
    for (int i = 0; i < nblocks; i++) {
        hr_lut_block *b = &lut->blocks[i];
        b->groups = 1;
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                b->t_ms[d][g] = -1;
    }
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        lut->n_stream[g] = hr_gamma_get(g)->streams;
    lut->link = hr_link_default();
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        lut->i_knee[d] = default_knee[d];
        lut->slowdown[d] = 1;
    }
    lut->stat = HR_LUT_STAT_MEDIAN;
    *out = lut;
    return HR_OK;
}

void hr_lut_destroy(hr_lut *lut)
{
    if (!lut)
        return;
    free(lut->blocks);
    free(lut);
}

int hr_lut_find_block(const hr_lut *lut, const char *name)
{
    for (int i = 0; i < lut->nblocks; i++)
        if (strcmp(lut->blocks[i].name, name) == 0)
            return i;
    return -1;
}

void hr_lut_compute_costs(hr_lut *lut)
{
    for (int i = 0; i < lut->nblocks; i++) {
        hr_lut_block *b = &lut->blocks[i];
        if (b->in_shape[0] < 1 || b->out_shape[0] < 1)
            continue;
        for (int n = 1; n <= 3; n++)
            b->comm_mb[n - 1] = hr_block_comm_mb(b->out_shape, n);
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            hr_block_cost c = hr_block_cost_eval(g, b->in_shape, b->out_shape, b->groups);
            b->intensity[g] = c.intensity;
            b->intensity_w[g] = c.intensity_w;
        }
    }
}

/* ---- reading ---- */

static const char *dev_key[HR_DEVICE_COUNT] = {"T_server", "T_client"};

typedef struct name_ref {
    const char *name;
} name_ref;

static int cmp_name_ref(const void *a, const void *b)
{
    return hr_block_name_cmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

/* Collects the block names of T_server in network order and checks that
 * T_client has exactly the same set. */
static hr_status read_block_names(const char *path, json_t *root, name_ref **names, int *n, hr_error *err)
{
    const json_t *t[HR_DEVICE_COUNT];
    const char *key;
    json_t *val;
    size_t k = 0, count;
    name_ref *v;

    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        t[d] = json_object_get(root, dev_key[d]);
        if (!json_is_object(t[d]))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %s", path, dev_key[d],
                                t[d] ? "expected an object {block: [14 times]}"
                                     : "missing (not a merged LUT? per-device files need `hyperrep lut merge`)");
    }
    count = json_object_size(t[0]);
    if (count == 0 || count > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: T_server: %zu blocks, expected 1..%d", path, count,
                            HR_LUT_MAX_BLOCKS);
    v = calloc(count, sizeof *v);
    if (!v)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    json_object_foreach((json_t *)t[0], key, val) {
        int s, i;
        if (!hr__block_name_parse(key, &s, &i) || strlen(key) >= HR_LUT_NAME_MAX) {
            free(v);
            return hr_error_set(err, HR_ERR_FORMAT, "%s: T_server: block name '%s' is not stage<s>.<i>", path, key);
        }
        if (!json_object_get(t[1], key)) {
            free(v);
            return hr_error_set(err, HR_ERR_FORMAT, "%s: T_client: block %s (present in T_server) is missing", path,
                                key);
        }
        v[k++].name = key;
    }
    json_object_foreach((json_t *)t[1], key, val) {
        if (!json_object_get(t[0], key)) {
            free(v);
            return hr_error_set(err, HR_ERR_FORMAT, "%s: T_client: block '%s' is not in T_server", path, key);
        }
    }
    qsort(v, k, sizeof *v, cmp_name_ref);
    *names = v;
    *n = (int)k;
    return HR_OK;
}

/* Reads one per-block array of n numbers: times (finite >= 0, or -1/null
 * for invalid) when is_time, else non-negative numbers; errors name
 * section.block[index] and the value. */
static hr_status read_array(const char *path, const char *section, const char *block, const json_t *a, int n,
                            int is_time, double *out, hr_error *err)
{
    char field[128], r[64];
    if (!json_is_array(a) || (int)json_array_size(a) != n)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s.%s: %s, expected %d entries", path, section, block,
                            json_is_array(a) ? (snprintf(r, sizeof r, "%zu entries", json_array_size(a)), r)
                                             : hr__json_repr(a, r, sizeof r),
                            n);
    for (int g = 0; g < n; g++) {
        const json_t *e = json_array_get(a, (size_t)g);
        hr_status st;
        snprintf(field, sizeof field, "%s.%s[%d]", section, block, g);
        if (is_time)
            st = hr__json_time(path, field, e, 1, &out[g], err);
        else if (!(st = hr__json_number(path, field, e, &out[g], err)) && out[g] < 0)
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %g is negative", path, field, out[g]);
        if (st)
            return st;
    }
    return HR_OK;
}

/* Reads an optional {"server": ms, "client": ms} object (T_stage0,
 * T_classifier, T_frame); *present tells whether it was there. */
static hr_status read_device_pair(const char *path, const json_t *root, const char *key, double out[HR_DEVICE_COUNT],
                                  int *present, hr_error *err)
{
    const json_t *o = json_object_get(root, key);
    char field[64];
    *present = 0;
    if (!o)
        return HR_OK;
    if (!json_is_object(o))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: expected {\"server\": ms, \"client\": ms}", path, key);
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        hr_status st;
        snprintf(field, sizeof field, "%s.%s", key, hr_device_name((hr_device)d));
        if ((st = hr__json_time(path, field, json_object_get(o, hr_device_name((hr_device)d)), 0, &out[d], err)))
            return st;
        if (out[d] < 0)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: -1 is not a stage time", path, field);
    }
    *present = 1;
    return HR_OK;
}

/* The link of a merged LUT. Ours carries bandwidth_mbit_s (and the source
 * of that number); a fitted k (ours or the original's) gives 8000 / k; the
 * original merge's bare bandwidth_mbps is taken as Mbit/s, as its optimizer
 * read it (docs/FORMATS.md, "Bandwidth units"). */
static hr_status read_bandwidth(const char *path, const json_t *root, hr_link *l, hr_error *err)
{
    const json_t *o = json_object_get(root, "bandwidth"), *v;
    hr_status st;
    *l = hr_link_default();
    if (!o)
        return HR_OK;
    if (!json_is_object(o))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: bandwidth: expected an object", path);
    if ((v = json_object_get(o, "bandwidth_mbit_s"))) {
        const char *src = json_string_value(json_object_get(o, "source"));
        if ((st = hr__json_number(path, "bandwidth.bandwidth_mbit_s", v, &l->bandwidth_mbit_s, err)))
            return st;
        l->measured = json_is_true(json_object_get(o, "measured"));
        l->source = HR_BW_MBIT;
        if (src && strcmp(src, "fit") == 0)
            l->source = HR_BW_FIT;
        else if (src && strcmp(src, "default") == 0)
            l->source = HR_BW_DEFAULT;
        else if (src && strcmp(src, "original_mbps") == 0)
            l->source = HR_BW_ORIGINAL_MBPS;
        if ((v = json_object_get(o, "k_ms_per_mb")) &&
            (st = hr__json_number(path, "bandwidth.k_ms_per_mb", v, &l->k_ms_per_mb, err)))
            return st;
    } else if ((v = json_object_get(o, "k")) || (v = json_object_get(o, "k_ms_per_mb"))) {
        if ((st = hr__json_number(path, "bandwidth.k", v, &l->k_ms_per_mb, err)))
            return st;
        if (!(l->k_ms_per_mb > 0))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: bandwidth.k: %g ms/MB must be positive", path,
                                l->k_ms_per_mb);
        l->bandwidth_mbit_s = 8000 / l->k_ms_per_mb;
        l->measured = 1;
        l->source = HR_BW_FIT;
    } else if ((v = json_object_get(o, "bandwidth_mbps"))) {
        if ((st = hr__json_number(path, "bandwidth.bandwidth_mbps", v, &l->bandwidth_mbit_s, err)))
            return st;
        l->source = HR_BW_ORIGINAL_MBPS;
    }
    if (!(l->bandwidth_mbit_s >= HR_LUT_MIN_BANDWIDTH_MBIT) || !isfinite(l->bandwidth_mbit_s))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: bandwidth: %g Mbit/s is not in %g..inf", path,
                            l->bandwidth_mbit_s, HR_LUT_MIN_BANDWIDTH_MBIT);
    v = json_object_get(o, "latency_ms");
    if (!v)
        v = json_object_get(o, "b");
    if (v && (st = hr__json_number(path, "bandwidth.latency_ms", v, &l->latency_ms, err)))
        return st;
    if ((v = json_object_get(o, "per_message_ms")) &&
        (st = hr__json_number(path, "bandwidth.per_message_ms", v, &l->per_message_ms, err)))
        return st;
    if ((v = json_object_get(o, "profile"))) {
        if (!json_is_string(v) || json_string_length(v) >= sizeof l->profile)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: bandwidth.profile: expected a link profile's name (under "
                                "%zu bytes)", path, sizeof l->profile);
        snprintf(l->profile, sizeof l->profile, "%s", json_string_value(v));
    }
    if (!(l->latency_ms >= 0 && l->latency_ms <= HR_LUT_MAX_TIME_MS) ||
        !(l->per_message_ms >= 0 && l->per_message_ms <= HR_LUT_MAX_TIME_MS))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: bandwidth: latency %g ms / per message %g ms is not in 0..%g ms",
                            path, l->latency_ms, l->per_message_ms, HR_LUT_MAX_TIME_MS);
    return HR_OK;
}

/* metadata.edge_profile {server, client}: each the name of the profile that
 * device was emulated from, or null. */
static hr_status read_edge_profiles(const char *path, const json_t *meta, hr_lut *lut, hr_error *err)
{
    const json_t *o = json_object_get(meta, "edge_profile"), *v;
    char r[64];
    if (!o)
        return HR_OK;
    if (!json_is_object(o))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.edge_profile: %s is not {\"server\": name or null, "
                            "\"client\": name or null}", path, hr__json_repr(o, r, sizeof r));
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        v = json_object_get(o, hr_device_name((hr_device)d));
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= HR_LUT_NAME_MAX)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.edge_profile.%s: %s is not a profile name (1..%d "
                                "characters) or null", path, hr_device_name((hr_device)d),
                                hr__json_repr(v, r, sizeof r), HR_LUT_NAME_MAX - 1);
        snprintf(lut->edge_profile[d], sizeof lut->edge_profile[d], "%s", json_string_value(v));
    }
    return HR_OK;
}

/* roofline.source.<device>: "default", "measured", "profile" or "override".
 * Files without it (the original's, older ones) say only whether the knee
 * was measured. "profile" needs the profile's name in metadata.edge_profile. */
static hr_status read_roofline_source(const char *path, const json_t *roof, hr_device d, hr_lut *lut, hr_error *err)
{
    const json_t *src = json_object_get(roof, "source"), *v;
    char r[64];
    lut->roofline_source[d] = lut->roofline_measured[d] ? HR_ROOF_MEASURED : HR_ROOF_DEFAULT;
    if (!src)
        return HR_OK;
    if (!json_is_object(src))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: roofline.source: %s is not {\"server\": source, \"client\": "
                            "source}", path, hr__json_repr(src, r, sizeof r));
    v = json_object_get(src, hr_device_name(d));
    if (!v)
        return HR_OK;
    for (int s = 0; s < HR_ROOF_SOURCE_COUNT; s++)
        if (json_is_string(v) && strcmp(json_string_value(v), hr_roofline_source_name((hr_roofline_source)s)) == 0) {
            lut->roofline_source[d] = (hr_roofline_source)s;
            if (s == HR_ROOF_PROFILE && !lut->edge_profile[d][0])
                return hr_error_set(err, HR_ERR_FORMAT, "%s: roofline.source.%s: \"profile\", but "
                                    "metadata.edge_profile.%s names no profile", path, hr_device_name(d),
                                    hr_device_name(d));
            return HR_OK;
        }
    return hr_error_set(err, HR_ERR_FORMAT, "%s: roofline.source.%s: %s is not \"default\", \"measured\", "
                        "\"profile\" or \"override\"", path, hr_device_name(d), hr__json_repr(v, r, sizeof r));
}

/* Knees (default: the original's 25.15 / 16.1) and, in our files, whether
 * they were measured with the peak and bandwidth behind them. */
static hr_status read_roofline(const char *path, const json_t *root, hr_lut *lut, hr_error *err)
{
    static const char *knee_key[HR_DEVICE_COUNT] = {"I_knee_server", "I_knee_client"};
    const json_t *o = json_object_get(root, "roofline"), *v;
    char field[64];
    hr_status st;
    if (!o)
        return HR_OK;
    if (!json_is_object(o))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: roofline: expected an object", path);
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        const char *dn = hr_device_name((hr_device)d);
        snprintf(field, sizeof field, "roofline.%s", knee_key[d]);
        if ((v = json_object_get(o, knee_key[d]))) {
            if ((st = hr__json_number(path, field, v, &lut->i_knee[d], err)))
                return st;
            if (!(lut->i_knee[d] > 0))
                return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %g must be positive", path, field, lut->i_knee[d]);
        }
        lut->roofline_measured[d] = json_is_true(json_object_get(json_object_get(o, "measured"), dn));
        if ((v = json_object_get(json_object_get(o, "peak_gflops"), dn)) && json_is_number(v))
            lut->peak_gflops[d] = json_number_value(v);
        if ((v = json_object_get(json_object_get(o, "bandwidth_gbs"), dn)) && json_is_number(v))
            lut->bandwidth_gbs[d] = json_number_value(v);
        if ((st = read_roofline_source(path, o, (hr_device)d, lut, err)))
            return st;
    }
    return HR_OK;
}

/* block_shapes.input/output for every block (and our optional groups);
 * *have = 0 when the file has no block_shapes at all. */
static hr_status read_shapes(const char *path, const json_t *root, hr_lut *lut, int *have, hr_error *err)
{
    const json_t *bs = json_object_get(root, "block_shapes");
    static const char *kind[2] = {"input", "output"};
    char field[96];
    hr_status st;
    *have = 0;
    if (!bs)
        return HR_OK;
    if (!json_is_object(bs))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: block_shapes: expected {input: {...}, output: {...}}", path);
    for (int k = 0; k < 2; k++) {
        const json_t *o = json_object_get(bs, kind[k]);
        if (!json_is_object(o))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: block_shapes.%s: expected an object {block: [B, C, H, W]}",
                                path, kind[k]);
        for (int i = 0; i < lut->nblocks; i++) {
            hr_lut_block *b = &lut->blocks[i];
            snprintf(field, sizeof field, "block_shapes.%s.%s", kind[k], b->name);
            if ((st = hr__json_shape(path, field, json_object_get(o, b->name), 4, k ? b->out_shape : b->in_shape,
                                     err)))
                return st;
        }
    }
    const json_t *g = json_object_get(bs, "groups");
    for (int i = 0; g && i < lut->nblocks; i++) {
        const json_t *v = json_object_get(g, lut->blocks[i].name);
        if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
                  lut->blocks[i].in_shape[1] % json_integer_value(v) != 0))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: block_shapes.groups.%s: %s does not divide %lld channels",
                                path, lut->blocks[i].name, hr__json_repr(v, field, sizeof field),
                                (long long)lut->blocks[i].in_shape[1]);
        if (v)
            lut->blocks[i].groups = (int)json_integer_value(v);
    }
    *have = 1;
    return HR_OK;
}

/* When the file names a model we know, its block set and shapes must be that
 * model's; the original's files (no input_shape) take the default input. */
static hr_status check_model(const char *path, hr_lut *lut, int names_only, int have_shapes, hr_error *err)
{
    const hr_arch *arch = hr_arch_find(lut->model);
    hr_ctx *ctx;
    hr_model *m;
    hr_status st;
    char a[64], b[64];

    if (!arch) {
        if (!have_shapes && !names_only)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: block_shapes missing and model '%s' unknown: cannot tell "
                                "the blocks' shapes", path, lut->model);
        return HR_OK;
    }
    if ((st = hr__shape_model(arch->name, lut->input_shape[0], lut->input_shape[1], lut->num_classes, &ctx, &m,
                              err)))
        return hr_error_prefix(err, "%s", path);
    for (int i = 0; i < lut->nblocks; i++)
        if (hr_model_find_block(m, lut->blocks[i].name) < 0) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: T_server: unknown block '%s' for %s", path,
                              lut->blocks[i].name, arch->name);
            goto out;
        }
    for (int i = 0; i < hr_model_num_blocks(m); i++)
        if (hr_lut_find_block(lut, hr_model_block(m, i).name) < 0) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: T_server: block %s of %s is missing", path,
                              hr_model_block(m, i).name, arch->name);
            goto out;
        }
    if (names_only)
        goto out;
    for (int i = 0; i < lut->nblocks; i++) {
        hr_lut_block *lb = &lut->blocks[i];
        hr_block_info bi = hr_model_block(m, i);
        int64_t in[4] = {lb->in_shape[0] > 0 ? lb->in_shape[0] : 1, bi.cin, bi.in_h, bi.in_w};
        int64_t outs[4] = {in[0], bi.cout, bi.out_h, bi.out_w};
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++)
                if (lb->t_ms[d][g] != -1 && (hr_gamma_get(g)->branches & ~bi.existing)) {
                    char have[48];
                    st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s.%s[%d]: %g ms for %s, but %s has only %s (expected "
                                      "-1)", path, dev_key[d], lb->name, g, lb->t_ms[d][g], hr_gamma_get(g)->name,
                                      lb->name, hr_branch_mask_str(bi.existing, have, sizeof have));
                    goto out;
                }
        if (!have_shapes) {
            memcpy(lb->in_shape, in, sizeof in);
            memcpy(lb->out_shape, outs, sizeof outs);
        } else if (memcmp(lb->in_shape + 1, in + 1, 3 * sizeof in[0]) != 0 ||
                   memcmp(lb->out_shape + 1, outs + 1, 3 * sizeof in[0]) != 0) {
            hr_tensor t1 = hr_tensor_view(NULL, 4, lb->in_shape), t2 = hr_tensor_view(NULL, 4, in);
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: block_shapes.*.%s: input %s does not match %s at %lldx%lldx%lld "
                              "(input %s)", path, lb->name, hr_tensor_shape_str(&t1, a, sizeof a), arch->name,
                              (long long)hr_model_in_channels(m), (long long)hr_model_input_size(m),
                              (long long)hr_model_input_size(m), hr_tensor_shape_str(&t2, b, sizeof b));
            goto out;
        }
        if (!have_shapes || lb->groups == 1)
            lb->groups = bi.groups;
    }
    if (!lut->input_shape[0]) {
        lut->input_shape[0] = hr_model_in_channels(m);
        lut->input_shape[1] = lut->input_shape[2] = hr_model_input_size(m);
    }
    if (!lut->num_classes)
        lut->num_classes = hr_model_num_classes(m);
out:
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return st;
}

/* Builds the LUT from a parsed document: metadata, the two time tables in
 * network order, the model check (names first, so an unknown block is
 * reported as such, then shapes and validity), costs, link, knees and
 * stage times. On failure nothing is returned and everything is freed. */
static hr_status load_into(const char *path, json_t *root, hr_lut **out, hr_error *err)
{
    name_ref *names = NULL;
    hr_lut *lut = NULL;
    const json_t *meta = json_object_get(root, "metadata"), *v;
    hr_status st;
    int n = 0, have_shapes, present;
    char field[96];

    if (meta && !json_is_object(meta))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata: expected an object", path);
    if ((st = read_block_names(path, root, &names, &n, err)))
        return st;
    if ((st = hr_lut_create(n, &lut, err)))
        goto fail;
    hr__json_copy_string(meta, "model", lut->model, sizeof lut->model);
    hr__json_copy_string(meta, "server_device", lut->device[HR_DEVICE_SERVER], sizeof lut->device[0]);
    hr__json_copy_string(meta, "client_device", lut->device[HR_DEVICE_CLIENT], sizeof lut->device[0]);
    hr__json_copy_string(meta, "merge_timestamp", lut->timestamp, sizeof lut->timestamp);
    hr__json_copy_string(meta, "note", lut->note, sizeof lut->note);
    lut->synthetic = json_is_true(json_object_get(meta, "synthetic"));
    lut->original_format = json_object_get(meta, "stat") == NULL;
    lut->stat = HR_LUT_STAT_MEAN;
    if ((v = json_object_get(meta, "stat"))) {
        const char *s = json_string_value(v);
        int k = hr_lut_stat_parse(s);
        if (k < 0) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.stat: %s is not \"median\", \"mean\" or \"min\"",
                              path, hr__json_repr(v, field, sizeof field));
            goto fail;
        }
        lut->stat = (hr_lut_stat)k;
    }
    if ((v = json_object_get(meta, "input_shape")) &&
        (st = hr__json_shape(path, "metadata.input_shape", v, 3, lut->input_shape, err)))
        goto fail;
    if (lut->input_shape[0] && lut->input_shape[1] != lut->input_shape[2]) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.input_shape: %lldx%lld is not square", path,
                          (long long)lut->input_shape[1], (long long)lut->input_shape[2]);
        goto fail;
    }
    if ((v = json_object_get(meta, "num_classes"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.num_classes: %s is not a positive integer", path,
                              hr__json_repr(v, field, sizeof field));
            goto fail;
        }
        lut->num_classes = json_integer_value(v);
    }
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        snprintf(field, sizeof field, "metadata.emulated.%s", hr_device_name((hr_device)d));
        if ((v = json_object_get(json_object_get(meta, "emulated"), hr_device_name((hr_device)d))) && !json_is_null(v) &&
            (st = hr__emulated_read(path, field, v, lut->emulated[d], sizeof lut->emulated[d], &lut->slowdown[d], err)))
            goto fail;
    }
    if ((st = read_edge_profiles(path, meta, lut, err)))
        goto fail;
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if ((v = json_object_get(json_object_get(meta, "threads"), hr_device_name((hr_device)d))) &&
            json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 1024)
            lut->threads[d] = (int)json_integer_value(v);

    for (int i = 0; i < n; i++) {
        hr_lut_block *b = &lut->blocks[i];
        snprintf(b->name, sizeof b->name, "%s", names[i].name);
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            if ((st = read_array(path, dev_key[d], b->name, json_object_get(json_object_get(root, dev_key[d]), b->name),
                                 HR_GAMMA_COUNT, 1, b->t_ms[d], err)))
                goto fail;
    }
    if ((st = check_model(path, lut, 1, 0, err)) || (st = read_shapes(path, root, lut, &have_shapes, err)) ||
        (st = check_model(path, lut, 0, have_shapes, err)))
        goto fail;
    hr_lut_compute_costs(lut);
    /* The file's own Comm_size / Intensity win over the recomputed ones (they
     * agree for files written by either tool). */
    static const char *arr_key[2] = {"Comm_size", "Intensity"};
    for (int k = 0; k < 2; k++) {
        const json_t *o = json_object_get(root, arr_key[k]);
        if (!o)
            continue;
        if (!json_is_object(o)) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s: expected an object {block: [...]}", path, arr_key[k]);
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            hr_lut_block *b = &lut->blocks[i];
            if ((st = read_array(path, arr_key[k], b->name, json_object_get(o, b->name), k ? HR_GAMMA_COUNT : 3, 0,
                                 k ? b->intensity : b->comm_mb, err)))
                goto fail;
        }
    }
    if ((v = json_object_get(root, "N_stream"))) {
        if (!json_is_array(v) || json_array_size(v) != HR_GAMMA_COUNT) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: N_stream: %s, expected 14 integers 1..3", path,
                              hr__json_repr(v, field, sizeof field));
            goto fail;
        }
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            const json_t *e = json_array_get(v, (size_t)g);
            if (!json_is_integer(e) || json_integer_value(e) != hr_gamma_get(g)->streams) {
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: N_stream[%d]: %s, expected %d (%s)", path, g,
                                  hr__json_repr(e, field, sizeof field), hr_gamma_get(g)->streams,
                                  hr_gamma_get(g)->name);
                goto fail;
            }
        }
    }
    if ((st = read_bandwidth(path, root, &lut->link, err)) || (st = read_roofline(path, root, lut, err)) ||
        (st = read_device_pair(path, root, "T_stage0", lut->t_stage0_ms, &present, err)))
        goto fail;
    lut->has_stage_times = present;
    if ((st = read_device_pair(path, root, "T_classifier", lut->t_classifier_ms, &present, err)))
        goto fail;
    if (present != lut->has_stage_times) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: T_stage0 and T_classifier must be given together", path);
        goto fail;
    }
    /* Absent (the original's files, older LUTs): 0, so they give the old results. */
    if ((st = read_device_pair(path, root, "T_frame", lut->t_frame_ms, &lut->has_frame_times, err)))
        goto fail;
    free(names);
    *out = lut;
    return HR_OK;
fail:
    free(names);
    hr_lut_destroy(lut);
    return st;
}

hr_status hr_lut_load(const char *path, hr_lut **out, hr_error *err)
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

/* A JSON array of n reals; NULL when out of memory. */
static json_t *times_array(const double *t, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(t[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static const char *source_token(hr_bandwidth_source s)
{
    switch (s) {
    case HR_BW_MBIT: return "mbit";
    case HR_BW_FIT: return "fit";
    case HR_BW_ORIGINAL_MBPS: return "original_mbps";
    default: return "default";
    }
}

/* Refuses to write what could not be read back: times that are neither
 * >= 0 nor -1, or an unusable link. Checked before anything is created. */
static hr_status validate(const char *path, const hr_lut *lut, hr_error *err)
{
    if (lut->nblocks < 1 || lut->nblocks > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %d blocks", path, lut->nblocks);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if ((unsigned)lut->roofline_source[d] >= HR_ROOF_SOURCE_COUNT ||
            (lut->roofline_source[d] == HR_ROOF_PROFILE && !lut->edge_profile[d][0]))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: roofline source %d of the %s names no edge profile",
                                path, (int)lut->roofline_source[d], hr_device_name((hr_device)d));
    for (int i = 0; i < lut->nblocks; i++)
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++) {
                double t = lut->blocks[i].t_ms[d][g];
                if (!isfinite(t) || (t < 0 && t != -1) || t > HR_LUT_MAX_TIME_MS)
                    return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: %s.%s[%d]: time %g is not -1 or in 0..%g ms",
                                        path, dev_key[d], lut->blocks[i].name, g, t, HR_LUT_MAX_TIME_MS);
            }
    if (!(lut->link.bandwidth_mbit_s >= HR_LUT_MIN_BANDWIDTH_MBIT) || !isfinite(lut->link.bandwidth_mbit_s) ||
        !(lut->link.latency_ms >= 0) || !(lut->link.latency_ms <= HR_LUT_MAX_TIME_MS))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: link %g Mbit/s, %g ms is not valid", path,
                            lut->link.bandwidth_mbit_s, lut->link.latency_ms);
    if (!(lut->link.per_message_ms >= 0) || !(lut->link.per_message_ms <= HR_LUT_MAX_TIME_MS))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: link per-message time %g ms is not valid", path,
                            lut->link.per_message_ms);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        if (lut->has_frame_times && (!(lut->t_frame_ms[d] >= 0) || !(lut->t_frame_ms[d] <= HR_LUT_MAX_TIME_MS)))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: T_frame.%s: %g ms is not >= 0", path,
                                hr_device_name((hr_device)d), lut->t_frame_ms[d]);
    return HR_OK;
}

hr_status hr_lut_save(const char *path, const hr_lut *lut, hr_error *err)
{
    hr__jb b = {0};
    json_t *root, *meta, *o;
    hr_status st;
    char ts[64], interp[512];

    if ((st = validate(path, lut, err)))
        return st;
    root = json_object();
    meta = json_object();
    hr__timestamp(ts, sizeof ts);
    hr__jset(&b, root, "metadata", meta);
    hr__jset(&b, meta, "build_time", json_string(ts));
    hr__jset(&b, meta, "model", json_string(lut->model));
    hr__jset(&b, meta, "server_device", json_string(lut->device[HR_DEVICE_SERVER]));
    hr__jset(&b, meta, "client_device", json_string(lut->device[HR_DEVICE_CLIENT]));
    hr__jset(&b, meta, "merge_timestamp", json_string(lut->timestamp[0] ? lut->timestamp : ts));
    if (lut->input_shape[0] > 0)
        hr__jset(&b, meta, "input_shape", hr__jints(lut->input_shape, 3));
    if (lut->num_classes > 0)
        hr__jset(&b, meta, "num_classes", json_integer((json_int_t)lut->num_classes));
    o = json_object();
    hr__jset(&b, meta, "threads", o);
    for (int d = 0; d < HR_DEVICE_COUNT; d++)
        hr__jset(&b, o, hr_device_name((hr_device)d), lut->threads[d] > 0 ? json_integer(lut->threads[d]) : json_null());
    hr__jset(&b, meta, "stat", json_string(hr_lut_stat_name(lut->stat)));
    hr__jset(&b, meta, "synthetic", json_boolean(lut->synthetic));
    if (lut->note[0])
        hr__jset(&b, meta, "note", json_string(lut->note));
    if (lut->emulated[HR_DEVICE_SERVER][0] || lut->emulated[HR_DEVICE_CLIENT][0]) {
        o = json_object();
        hr__jset(&b, meta, "emulated", o);
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            hr__jset(&b, o, hr_device_name((hr_device)d),
                     lut->emulated[d][0] ? hr__emulated_json(lut->emulated[d], lut->slowdown[d]) : json_null());
    }
    if (lut->edge_profile[HR_DEVICE_SERVER][0] || lut->edge_profile[HR_DEVICE_CLIENT][0]) {
        o = json_object();
        hr__jset(&b, meta, "edge_profile", o);
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            hr__jset(&b, o, hr_device_name((hr_device)d),
                     lut->edge_profile[d][0] ? json_string(lut->edge_profile[d]) : json_null());
    }
    hr__jset(&b, meta, "software", hr__software_json());

    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        o = json_object();
        hr__jset(&b, root, dev_key[d], o);
        for (int i = 0; i < lut->nblocks; i++)
            hr__jset(&b, o, lut->blocks[i].name, times_array(lut->blocks[i].t_ms[d], HR_GAMMA_COUNT));
    }
    if (lut->has_stage_times) {
        static const char *k[2] = {"T_stage0", "T_classifier"};
        for (int j = 0; j < 2; j++) {
            o = json_object();
            hr__jset(&b, root, k[j], o);
            for (int d = 0; d < HR_DEVICE_COUNT; d++)
                hr__jset(&b, o, hr_device_name((hr_device)d),
                         json_real(j ? lut->t_classifier_ms[d] : lut->t_stage0_ms[d]));
        }
    }
    if (lut->has_frame_times) {
        o = json_object();
        hr__jset(&b, root, "T_frame", o);
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            hr__jset(&b, o, hr_device_name((hr_device)d), json_real(lut->t_frame_ms[d]));
    }
    static const char *ak[3] = {"Comm_size", "Intensity", "Intensity_w"};
    for (int j = 0; j < 3; j++) {
        o = json_object();
        hr__jset(&b, root, ak[j], o);
        for (int i = 0; i < lut->nblocks; i++) {
            const hr_lut_block *lb = &lut->blocks[i];
            hr__jset(&b, o, lb->name, times_array(j == 0 ? lb->comm_mb : j == 1 ? lb->intensity : lb->intensity_w,
                                                  j == 0 ? 3 : HR_GAMMA_COUNT));
        }
    }
    o = json_array();
    hr__jset(&b, root, "N_stream", o);
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        hr__jpush(&b, o, json_integer(lut->n_stream[g]));

    o = json_object();
    hr__jset(&b, root, "bandwidth", o);
    hr__jset(&b, o, "bandwidth_mbit_s", json_real(lut->link.bandwidth_mbit_s));
    hr__jset(&b, o, "latency_ms", json_real(lut->link.latency_ms));
    hr__jset(&b, o, "per_message_ms", json_real(lut->link.per_message_ms));
    if (lut->link.k_ms_per_mb > 0)
        hr__jset(&b, o, "k_ms_per_mb", json_real(lut->link.k_ms_per_mb));
    hr__jset(&b, o, "measured", json_boolean(lut->link.measured));
    hr__jset(&b, o, "source", json_string(source_token(lut->link.source)));
    if (lut->link.profile[0])
        hr__jset(&b, o, "profile", json_string(lut->link.profile));
    hr__jset(&b, o, "bandwidth_mbps", json_real(lut->link.bandwidth_mbit_s / 8));
    snprintf(interp, sizeof interp,
             "bandwidth_mbit_s is in Mbit/s (%s). bandwidth_mbps is the same bandwidth in MB/s "
             "(bandwidth_mbit_s / 8): the unit the original tool measured and stored under that key.",
             hr_bandwidth_source_text(lut->link.source));
    hr__jset(&b, o, "interpretation", json_string(interp));

    o = json_object();
    hr__jset(&b, root, "roofline", o);
    hr__jset(&b, o, "I_knee_server", json_real(lut->i_knee[HR_DEVICE_SERVER]));
    hr__jset(&b, o, "I_knee_client", json_real(lut->i_knee[HR_DEVICE_CLIENT]));
    {
        json_t *ms = json_object(), *pk = json_object(), *bw = json_object(), *src = json_object();
        hr__jset(&b, o, "measured", ms);
        hr__jset(&b, o, "peak_gflops", pk);
        hr__jset(&b, o, "bandwidth_gbs", bw);
        hr__jset(&b, o, "source", src);
        for (int d = 0; d < HR_DEVICE_COUNT; d++) {
            const char *dn = hr_device_name((hr_device)d);
            hr__jset(&b, src, dn, json_string(hr_roofline_source_name(lut->roofline_source[d])));
            hr__jset(&b, ms, dn, json_boolean(lut->roofline_measured[d]));
            hr__jset(&b, pk, dn, lut->peak_gflops[d] > 0 ? json_real(lut->peak_gflops[d]) : json_null());
            hr__jset(&b, bw, dn, lut->bandwidth_gbs[d] > 0 ? json_real(lut->bandwidth_gbs[d]) : json_null());
        }
    }
    {
        json_t *bs = json_object(), *in = json_object(), *outs = json_object(), *gr = json_object();
        hr__jset(&b, root, "block_shapes", bs);
        hr__jset(&b, bs, "input", in);
        hr__jset(&b, bs, "output", outs);
        hr__jset(&b, bs, "groups", gr);
        for (int i = 0; i < lut->nblocks; i++) {
            const hr_lut_block *lb = &lut->blocks[i];
            hr__jset(&b, in, lb->name, hr__jints(lb->in_shape, 4));
            hr__jset(&b, outs, lb->name, hr__jints(lb->out_shape, 4));
            hr__jset(&b, gr, lb->name, json_integer(lb->groups));
        }
    }
    if (b.failed)
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the LUT", path);
    else
        st = hr__json_save(path, root, err);
    json_decref(root);
    return st;
}
