/* Message metadata helpers of the real mode (see remote_internal.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperrep/clock.h"
#include "hyperrep/weights.h"
#include "remote/remote_internal.h"

double hr__remote_now_ms(void)
{
    return hr_clock_now_ms();
}

hr_status hr__meta_parse(const hr_msg *m, json_t **out, hr_error *err)
{
    json_error_t je;
    json_t *o;
    if (!m->meta || m->meta_len == 0) {
        if (!(*out = json_object()))
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", hr_msg_type_name(m->type));
        return HR_OK;
    }
    o = json_loadb(m->meta, m->meta_len, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata is not a JSON object (%s)", hr_msg_type_name(m->type),
                            o ? "another JSON value" : je.text);
    }
    *out = o;
    return HR_OK;
}

hr_status hr__meta_int(const json_t *o, const char *what, const char *key, int required, int64_t def, int64_t lo,
                       int64_t hi, int64_t *out, hr_error *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: field '%s' is missing", what, key);
        *out = def;
        return HR_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char buf[64] = "a non-integer";
        if (json_is_integer(v))
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return hr_error_set(err, HR_ERR_FORMAT, "%s: field '%s' = %s is not an integer in %lld..%lld", what, key, buf,
                            (long long)lo, (long long)hi);
    }
    *out = json_integer_value(v);
    return HR_OK;
}

hr_status hr__meta_num(const json_t *o, const char *what, const char *key, int required, double def, double lo,
                       double hi, double *out, hr_error *err)
{
    const json_t *v = json_object_get(o, key);
    double d;
    if (!v) {
        if (required)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: field '%s' is missing", what, key);
        *out = def;
        return HR_OK;
    }
    d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || d < lo || d > hi)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: field '%s' = %g is not a number in %g..%g", what, key, d, lo, hi);
    *out = d;
    return HR_OK;
}

hr_status hr__meta_str(const json_t *o, const char *what, const char *key, int required, size_t maxlen,
                       const char **out, hr_error *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: field '%s' is missing", what, key);
        *out = NULL;
        return HR_OK;
    }
    if (!json_is_string(v) || json_string_length(v) > maxlen || strlen(json_string_value(v)) != json_string_length(v))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: field '%s' is not a string of at most %zu bytes", what, key,
                            maxlen);
    *out = json_string_value(v);
    return HR_OK;
}

hr_status hr__send_json(hr_chan *c, hr_msg_type type, uint32_t id, json_t *meta, const hr_wire_tensor *t, int n,
                        hr_error *err)
{
    char *text = NULL;
    hr_status st;
    if (meta && !(text = json_dumps(meta, JSON_COMPACT | JSON_REAL_PRECISION(17)))) {
        json_decref(meta);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory serialising the metadata", hr_msg_type_name(type));
    }
    json_decref(meta);
    st = hr_chan_send(c, type, id, text, t, n, err);
    free(text);
    return st;
}

json_t *hr__alpha_to_json(const float *alpha, int nblocks)
{
    json_t *a = json_array();
    for (int i = 0; a && i < nblocks; i++) {
        /* 17 significant digits (hr__send_json) carry every float exactly. */
        json_t *row = json_pack("[f, f, f]", (double)alpha[i * 3], (double)alpha[i * 3 + 1], (double)alpha[i * 3 + 2]);
        if (!row || json_array_append_new(a, row)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

hr_status hr__alpha_from_json(const json_t *v, const char *what, int nblocks, float *alpha, hr_error *err)
{
    if (!json_is_array(v) || (int)json_array_size(v) != nblocks)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: 'alpha' must be an array of %d [dense, 1x1, identity] triples",
                            what, nblocks);
    for (int i = 0; i < nblocks; i++) {
        const json_t *row = json_array_get(v, (size_t)i);
        if (!json_is_array(row) || json_array_size(row) != 3)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: alpha[%d] is not a triple", what, i);
        for (int b = 0; b < 3; b++) {
            const json_t *x = json_array_get(row, (size_t)b);
            double d = json_is_number(x) ? json_number_value(x) : NAN;
            if (!isfinite(d) || fabs(d) > 1e30)
                return hr_error_set(err, HR_ERR_FORMAT, "%s: alpha[%d][%d] is not a finite number", what, i, b);
            alpha[i * 3 + b] = (float)d;
        }
    }
    return HR_OK;
}

void hr__model_get_alpha(const hr_model *m, float *alpha)
{
    for (int i = 0; i < hr_model_num_blocks(m); i++) {
        hr_block_info bi = hr_model_block(m, i);
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            alpha[i * 3 + br] = (bi.existing >> br & 1u) ? bi.alpha[br] : 0.0f;
    }
}

hr_status hr__model_set_alpha_all(hr_model *m, const float *a, hr_error *err)
{
    hr_status st;
    for (int i = 0; i < hr_model_num_blocks(m); i++) {
        hr_block_info bi = hr_model_block(m, i);
        int live = 0;
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            if (a[i * 3 + br] != 0.0f && !(bi.existing >> br & 1u))
                return hr_error_set(err, HR_ERR_INVALID_ARG, "alpha: block %s has no %s branch (alpha %g)", bi.name,
                                    hr_branch_name((hr_branch)br), (double)a[i * 3 + br]);
            live += a[i * 3 + br] != 0.0f;
        }
        if (!live)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "alpha: block %s would have no live branch", bi.name);
    }
    /* Two passes: live values first, then the prunings, so a block never
     * passes through a state without a live branch. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < hr_model_num_blocks(m); i++)
            for (int br = 0; br < HR_BRANCH_COUNT; br++) {
                hr_block_info bi = hr_model_block(m, i);
                float v = a[i * 3 + br];
                if (!(bi.existing >> br & 1u) || (pass == 0) != (v != 0.0f))
                    continue;
                if (pass == 1 && !(bi.live >> br & 1u))
                    continue;
                if (pass == 0 && bi.alpha[br] == v && (bi.live >> br & 1u))
                    continue;
                if ((st = hr_model_set_alpha(m, i, (hr_branch)br, v, err)))
                    return st;
            }
    return HR_OK;
}

hr_status hr__tmp_file(const char *tag, char *buf, size_t size, hr_error *err)
{
    const char *dir = getenv("TMPDIR");
    int fd;
    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t)snprintf(buf, size, "%s/hyperrep-%s-XXXXXX", dir, tag) >= size)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "temporary file: TMPDIR '%s' is too long", dir);
    if ((fd = mkstemp(buf)) < 0)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot create a temporary file: %s", buf, strerror(errno));
    close(fd);
    return HR_OK;
}

hr_status hr__read_small_file(const char *path, size_t limit, char **out, size_t *n, hr_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return hr_error_set(err, HR_ERR_IO, "%s: cannot determine its size", path);
    }
    if ((unsigned long)len > limit) {
        fclose(f);
        return hr_error_set(err, HR_ERR_LIMIT, "%s: %ld bytes, more than the %zu allowed", path, len, limit);
    }
    if (!(buf = malloc((size_t)len + 1))) {
        fclose(f);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for %ld bytes", path, len);
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return hr_error_set(err, HR_ERR_IO, "%s: short read", path);
    }
    fclose(f);
    buf[len] = '\0';
    *out = buf;
    *n = (size_t)len;
    return HR_OK;
}

hr_status hr__model_to_blob(const hr_model *m, void **data, size_t *n, hr_error *err)
{
    hr_tensor_map *map = NULL;
    hr_status st;
    if (!(st = hr_tensor_map_create(&map, err)) && !(st = hr_model_export(m, map, err)))
        st = hr_safetensors_save_bytes(map, data, n, err);
    hr_tensor_map_destroy(map);
    return st;
}

hr_status hr__model_from_blob(hr_model *m, const void *data, size_t n, hr_error *err)
{
    hr_tensor_map *map = NULL;
    hr_status st = hr_safetensors_load_bytes(data, n, &map, err);
    if (!st)
        st = hr_model_load(m, map, err);
    hr_tensor_map_destroy(map);
    if (st)
        hr_error_prefix(err, "model_sync weights");
    return st;
}
