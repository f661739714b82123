/* JSON helpers shared by the LUT, link and roofline files. */
#include "lut/lut_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "core/json_io.h"
#include "hyperrep/weights.h"

/* Python's json module writes NaN/Infinity for non-finite floats; jansson
 * stops at them with a generic "invalid token". Looking at the bytes around
 * the reported position lets the message say what is actually wrong. */
static const char *nan_hint(const char *path, const json_error_t *je)
{
    static const char *hint = " (NaN and Infinity are not JSON numbers: a time must be >= 0, or -1 for invalid)";
    char buf[64];
    FILE *f;
    size_t n;
    long at = (long)je->position - 8;

    if (at < 0)
        at = 0;
    f = fopen(path, "rb");
    if (!f)
        return "";
    if (fseek(f, at, SEEK_SET) != 0) {
        fclose(f);
        return "";
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    return strstr(buf, "NaN") || strstr(buf, "Infinity") ? hint : "";
}

hr_status hr__json_load(const char *path, json_t **out, hr_error *err)
{
    struct stat st;
    json_error_t je;
    json_t *root;

    if (stat(path, &st) != 0)
        return hr_error_set(err, HR_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return hr_error_set(err, HR_ERR_IO, "%s: not a regular file", path);
    if ((long long)st.st_size > HR__LUT_MAX_FILE_BYTES)
        return hr_error_set(err, HR_ERR_LIMIT, "%s: %lld bytes is more than the %lld a LUT file may have", path,
                            (long long)st.st_size, HR__LUT_MAX_FILE_BYTES);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 0)
            return hr_error_set(err, HR_ERR_IO, "%s: %s", path, je.text);
        return hr_error_set(err, HR_ERR_FORMAT, "%s:%d:%d: %s%s", path, je.line, je.column, je.text,
                            nan_hint(path, &je));
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return hr_error_set(err, HR_ERR_FORMAT, "%s: the top level is not a JSON object", path);
    }
    *out = root;
    return HR_OK;
}

hr_status hr__json_save(const char *path, const json_t *root, hr_error *err)
{
    return hr__json_write(path, root, err);
}

const char *hr__json_repr(const json_t *v, char *buf, size_t size)
{
    char *s;
    if (size == 0)
        return buf;
    if (!v) {
        snprintf(buf, size, "(missing)");
        return buf;
    }
    s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (!s) {
        snprintf(buf, size, "?");
        return buf;
    }
    if (strlen(s) >= size && size > 4)
        snprintf(buf, size, "%.*s...", (int)(size - 4), s);
    else
        snprintf(buf, size, "%s", s);
    free(s);
    return buf;
}

hr_status hr__json_number(const char *path, const char *field, const json_t *v, double *out, hr_error *err)
{
    char r[64];
    if (!json_is_number(v))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: expected a number, got %s", path, field,
                            hr__json_repr(v, r, sizeof r));
    *out = json_number_value(v);
    if (!isfinite(*out))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %s is not finite", path, field,
                            hr__json_repr(v, r, sizeof r));
    return HR_OK;
}

hr_status hr__json_shape(const char *path, const char *field, const json_t *v, int n, int64_t *out, hr_error *err)
{
    char r[96];
    if (!json_is_array(v) || (int)json_array_size(v) != n)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: expected an array of %d positive integers, got %s", path,
                            field, n, hr__json_repr(v, r, sizeof r));
    for (int i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > INT32_MAX)
            return hr_error_set(err, HR_ERR_FORMAT, "%s: %s[%d]: %s is not a positive integer", path, field, i,
                                hr__json_repr(e, r, sizeof r));
        out[i] = (int64_t)json_integer_value(e);
    }
    return HR_OK;
}

hr_status hr__json_time(const char *path, const char *field, const json_t *v, int allow_null, double *out,
                        hr_error *err)
{
    char r[64];
    double t;
    if (allow_null && json_is_null(v)) {
        *out = -1;
        return HR_OK;
    }
    if (!json_is_number(v))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: expected a time in ms (a number, -1 for invalid), got %s",
                            path, field, hr__json_repr(v, r, sizeof r));
    t = json_number_value(v);
    if (!isfinite(t) || (t < 0 && t != -1.0))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: time %s ms is %s (only -1 marks an invalid entry)", path,
                            field, hr__json_repr(v, r, sizeof r), isfinite(t) ? "negative" : "not finite");
    if (t > HR_LUT_MAX_TIME_MS)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: time %s ms is above the bound of %g ms", path, field,
                            hr__json_repr(v, r, sizeof r), HR_LUT_MAX_TIME_MS);
    *out = t;
    return HR_OK;
}

void hr__json_copy_string(const json_t *obj, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v) && size > 0)
        snprintf(buf, size, "%s", json_string_value(v));
}

void hr__jset(hr__jb *b, json_t *obj, const char *key, json_t *v)
{
    if (!obj || !v) {
        json_decref(v);
        b->failed = 1;
        return;
    }
    if (json_object_set_new(obj, key, v) != 0)
        b->failed = 1;
}

void hr__jpush(hr__jb *b, json_t *arr, json_t *v)
{
    if (!arr || !v) {
        json_decref(v);
        b->failed = 1;
        return;
    }
    if (json_array_append_new(arr, v) != 0)
        b->failed = 1;
}

json_t *hr__jreal(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *hr__jints(const int64_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer((json_int_t)v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

void hr__timestamp(char *buf, size_t size)
{
    struct timeval tv;
    struct tm tm;
    char s[32];
    gettimeofday(&tv, NULL);
    time_t t = tv.tv_sec;
    if (!localtime_r(&t, &tm) || strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        snprintf(buf, size, "unknown");
        return;
    }
    snprintf(buf, size, "%s.%06ld", s, (long)tv.tv_usec);
}

int hr__block_name_parse(const char *name, int *stage, int *index)
{
    const char *p;
    long v[2];
    if (!name || strncmp(name, "stage", 5) != 0)
        return 0;
    p = name + 5;
    for (int k = 0; k < 2; k++) {
        const char *q = p;
        v[k] = 0;
        while (*q >= '0' && *q <= '9' && q - p < 6)
            v[k] = v[k] * 10 + (*q++ - '0');
        if (q == p || (*q != (k == 0 ? '.' : '\0')))
            return 0;
        p = q + 1;
    }
    *stage = (int)v[0];
    *index = (int)v[1];
    return 1;
}

int hr_block_name_cmp(const char *a, const char *b)
{
    int sa, ia, sb, ib;
    int pa = hr__block_name_parse(a, &sa, &ia), pb = hr__block_name_parse(b, &sb, &ib);
    if (pa && pb)
        return sa != sb ? (sa > sb) - (sa < sb) : (ia > ib) - (ia < ib);
    if (pa != pb)
        return pa ? -1 : 1;
    return strcmp(a, b);
}

hr_status hr__shape_model(const char *arch, int64_t c, int64_t h, int64_t classes, hr_ctx **ctx, hr_model **model,
                          hr_error *err)
{
    hr_ctx_params cp = hr_ctx_params_default();
    hr_model_params mp = hr_model_params_default();
    hr_status st;
    cp.threads = 1;
    mp.in_channels = c;
    mp.input_size = h;
    mp.num_classes = classes;
    *ctx = NULL;
    *model = NULL;
    if ((st = hr_ctx_create(&cp, ctx, err)))
        return st;
    if ((st = hr_model_create(*ctx, arch, &mp, model, err))) {
        hr_ctx_destroy(*ctx);
        *ctx = NULL;
    }
    return st;
}

json_t *hr__emulated_json(const char *description, double slowdown)
{
    return json_pack("{s:s, s:f}", "description", description, "slowdown", slowdown);
}

hr_status hr__emulated_read(const char *path, const char *field, const json_t *v, char *description, size_t size,
                            double *slowdown, hr_error *err)
{
    const json_t *d = json_object_get(v, "description"), *f = json_object_get(v, "slowdown");
    char r[96];
    if (!json_is_object(v) || !json_is_string(d) || !json_string_length(d))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %s is not {\"description\": text, \"slowdown\": factor}",
                            path, field, hr__json_repr(v, r, sizeof r));
    if (!json_is_number(f) || !(json_number_value(f) > 0) || !isfinite(json_number_value(f)))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s.slowdown: %s is not a positive factor", path, field,
                            hr__json_repr(f, r, sizeof r));
    snprintf(description, size, "%s", json_string_value(d));
    *slowdown = json_number_value(f);
    return HR_OK;
}
