/* The dataset object: storage kinds, accessors, in-memory construction and
 * the sample pipeline shared by every consumer (pixels → corruption →
 * normalisation). */
#include "data/data_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hr_dataset_load_params hr_dataset_load_params_default(void)
{
    hr_dataset_load_params p;
    memset(&p, 0, sizeof p);
    p.on_bad_file = HR_BAD_FILE_STOP;
    p.max_image_pixels = (int64_t)1 << 26;
    p.resize = 256;
    p.crop = 224;
    return p;
}

/* Finalises a 64-bit value so that nearby inputs give unrelated outputs
 * (splitmix64's finaliser). */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t hr__stream(uint64_t tag, uint64_t a, uint64_t b, uint64_t c)
{
    return mix64(tag ^ mix64(a ^ mix64(b ^ mix64(c))));
}

uint64_t hr__rng_below(hr__rng *r, uint64_t n)
{
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do
        x = hr__rng_u64(r);
    while (x >= limit);
    return x % n;
}

void hr__shuffle_i64(hr__rng *r, int64_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)hr__rng_below(r, (uint64_t)i + 1), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

char *hr__path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

void hr__decode_scratch_free(hr__decode_scratch *s)
{
    if (!s)
        return;
    free(s->rgb);
    free(s->rows);
    free(s->tmp);
    free(s->coef);
    free(s->bounds);
    memset(s, 0, sizeof *s);
}

hr_dataset *hr__dataset_alloc(void)
{
    hr_dataset *ds = calloc(1, sizeof *ds);
    if (ds) {
        for (int ch = 0; ch < 3; ch++)
            ds->std[ch] = 1.0f;
    }
    return ds;
}

hr_status hr__dataset_default_names(hr_dataset *ds, hr_error *err)
{
    ds->class_names = calloc((size_t)ds->num_classes, sizeof *ds->class_names);
    if (!ds->class_names)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for class names", ds->name ? ds->name : "dataset");
    for (int k = 0; k < ds->num_classes; k++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", k);
        ds->class_names[k] = strdup(buf);
        if (!ds->class_names[k])
            return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for class names",
                                ds->name ? ds->name : "dataset");
    }
    ds->has_names = 0;
    return HR_OK;
}

void hr_dataset_destroy(hr_dataset *ds)
{
    if (!ds)
        return;
    if (ds->class_names)
        for (int k = 0; k < ds->num_classes; k++)
            free(ds->class_names[k]);
    free(ds->class_names);
    if (ds->paths)
        for (int64_t i = 0; i < ds->n; i++)
            free(ds->paths[i]);
    free(ds->paths);
    free(ds->labels);
    free(ds->u8);
    free(ds->f32);
    free(ds->mean_big);
    free(ds->std_big);
    free(ds->name);
    free(ds);
}

static int finite_in(double v, double lo, double hi) { return v >= lo && v <= hi; }

hr_status hr_dataset_create(const hr_dataset_desc *d, hr_dataset **out, hr_error *err)
{
    const char *name;
    hr_dataset *ds;
    int64_t per, total;
    hr_status st = HR_OK;

    if (!d || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "dataset: desc and out must not be NULL");
    name = d->name ? d->name : "memory";
    if (d->n < 1 || d->n > HR__DATA_MAX_SAMPLES)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: n = %lld, expected 1..%lld", name, (long long)d->n,
                            (long long)HR__DATA_MAX_SAMPLES);
    if (d->c < 1 || d->c > HR__DATA_MAX_SIDE || d->h < 1 || d->h > HR__DATA_MAX_SIDE || d->w < 1 ||
        d->w > HR__DATA_MAX_SIDE)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: sample shape %lldx%lldx%lld, expected sides 1..%d", name,
                            (long long)d->c, (long long)d->h, (long long)d->w, HR__DATA_MAX_SIDE);
    if (d->num_classes < 1 || d->num_classes > HR__DATA_MAX_CLASSES)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: num_classes = %d, expected 1..%d", name, d->num_classes,
                            HR__DATA_MAX_CLASSES);
    if (!d->pixels || !d->labels)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: pixels and labels must not be NULL", name);
    if ((int)d->pool < 0 || d->pool >= HR_POOL_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: pool = %d is not train or test", name, (int)d->pool);
    per = d->c * d->h * d->w;
    if (d->n > ((int64_t)1 << 40) / per)
        return hr_error_set(err, HR_ERR_LIMIT, "%s: %lld samples of %lld values is too large", name,
                            (long long)d->n, (long long)per);
    total = d->n * per;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->num_classes)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: label[%lld] = %d, expected 0..%d", name, (long long)i,
                                (int)d->labels[i], d->num_classes - 1);
    if (d->std)
        for (int64_t ch = 0; ch < d->c; ch++)
            if (!(d->std[ch] > 0.0f) || !finite_in(d->std[ch], 0.0, 1e30))
                return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: std[%lld] = %g must be positive", name,
                                    (long long)ch, (double)d->std[ch]);
    if (d->class_names)
        for (int k = 0; k < d->num_classes; k++)
            if (!d->class_names[k])
                return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: class_names[%d] is NULL", name, k);

    ds = hr__dataset_alloc();
    if (!ds)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", name);
    ds->kind = HR__DS_F32;
    ds->pool = d->pool;
    ds->n = d->n;
    ds->c = d->c;
    ds->h = d->h;
    ds->w = d->w;
    ds->num_classes = d->num_classes;
    ds->name = strdup(name);
    ds->labels = malloc((size_t)d->n * sizeof *ds->labels);
    ds->f32 = malloc((size_t)total * sizeof *ds->f32);
    if (d->c > 3) {
        ds->mean_big = malloc((size_t)d->c * sizeof *ds->mean_big);
        ds->std_big = malloc((size_t)d->c * sizeof *ds->std_big);
    }
    if (!ds->name || !ds->labels || !ds->f32 || (d->c > 3 && (!ds->mean_big || !ds->std_big))) {
        hr_dataset_destroy(ds);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(ds->labels, d->labels, (size_t)d->n * sizeof *ds->labels);
    for (int64_t i = 0; i < total; i++) {
        float v = d->pixels[i];
        ds->f32[i] = v > 1.0f ? 1.0f : v >= 0.0f ? v : 0.0f; /* NaN → 0 */
    }
    for (int64_t ch = 0; ch < d->c; ch++) {
        float m = d->mean ? d->mean[ch] : 0.0f, s = d->std ? d->std[ch] : 1.0f;
        if (d->c > 3) {
            ds->mean_big[ch] = m;
            ds->std_big[ch] = s;
        } else {
            ds->mean[ch] = m;
            ds->std[ch] = s;
        }
    }
    if (d->class_names) {
        ds->class_names = calloc((size_t)d->num_classes, sizeof *ds->class_names);
        if (!ds->class_names)
            st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", name);
        for (int k = 0; st == HR_OK && k < d->num_classes; k++)
            if (!(ds->class_names[k] = strdup(d->class_names[k])))
                st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", name);
        ds->has_names = 1;
    } else {
        st = hr__dataset_default_names(ds, err);
    }
    if (st != HR_OK) {
        hr_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return HR_OK;
}

int64_t hr_dataset_size(const hr_dataset *ds) { return ds->n; }

void hr_dataset_shape(const hr_dataset *ds, int64_t chw[3])
{
    chw[0] = ds->c;
    chw[1] = ds->h;
    chw[2] = ds->w;
}

int hr_dataset_num_classes(const hr_dataset *ds) { return ds->num_classes; }

const char *hr_dataset_class_name(const hr_dataset *ds, int k)
{
    if (k < 0 || k >= ds->num_classes)
        return NULL;
    return ds->class_names[k];
}

int hr_dataset_has_class_names(const hr_dataset *ds) { return ds->has_names; }
const int32_t *hr_dataset_labels(const hr_dataset *ds) { return ds->labels; }
hr_pool hr_dataset_pool(const hr_dataset *ds) { return ds->pool; }
const float *hr_dataset_mean(const hr_dataset *ds) { return ds->c > 3 ? ds->mean_big : ds->mean; }
const float *hr_dataset_std(const hr_dataset *ds) { return ds->c > 3 ? ds->std_big : ds->std; }
const char *hr_dataset_name(const hr_dataset *ds) { return ds->name; }
int64_t hr_dataset_skipped(const hr_dataset *ds) { return ds->skipped; }

const char *hr_dataset_path(const hr_dataset *ds, int64_t i)
{
    if (ds->kind != HR__DS_FILES || i < 0 || i >= ds->n)
        return NULL;
    return ds->paths[i];
}

float hr__dataset_mean(const hr_dataset *ds, int64_t ch) { return ds->c > 3 ? ds->mean_big[ch] : ds->mean[ch]; }
float hr__dataset_std(const hr_dataset *ds, int64_t ch) { return ds->c > 3 ? ds->std_big[ch] : ds->std[ch]; }

hr_status hr__dataset_pixels(const hr_dataset *ds, int64_t i, hr__decode_scratch *scratch, float *out,
                             hr_error *err)
{
    int64_t per = ds->c * ds->h * ds->w, w, h;
    hr_status st;

    switch (ds->kind) {
    case HR__DS_U8: {
        const uint8_t *src = ds->u8 + i * per;
        for (int64_t j = 0; j < per; j++)
            out[j] = (float)src[j] * (1.0f / 255.0f);
        return HR_OK;
    }
    case HR__DS_F32:
        memcpy(out, ds->f32 + i * per, (size_t)per * sizeof *out);
        return HR_OK;
    case HR__DS_FILES:
        st = hr__image_decode(ds->paths[i], ds->max_image_pixels, scratch, &w, &h, err);
        if (st != HR_OK)
            return st;
        st = hr__resize_crop(scratch->rgb, w, h, ds->resize, ds->crop, scratch, out, err);
        if (st != HR_OK)
            return hr_error_prefix(err, "%s", ds->paths[i]);
        return HR_OK;
    }
    return hr_error_set(err, HR_ERR_INTERNAL, "%s: unknown dataset kind", ds->name);
}

void hr__dataset_normalise(const hr_dataset *ds, float *x)
{
    int64_t hw = ds->h * ds->w;
    for (int64_t ch = 0; ch < ds->c; ch++) {
        float m = hr__dataset_mean(ds, ch), inv = 1.0f / hr__dataset_std(ds, ch);
        float *p = x + ch * hw;
        for (int64_t j = 0; j < hw; j++)
            p[j] = (p[j] - m) * inv;
    }
}

hr_status hr_dataset_get(const hr_dataset *ds, int64_t i, int domain, uint64_t seed, int normalise, float *out,
                         hr_error *err)
{
    hr__decode_scratch scratch;
    hr_status st;

    if (!ds || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "dataset get: dataset and out must not be NULL");
    if (i < 0 || i >= ds->n)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: sample %lld out of range 0..%lld", ds->name, (long long)i,
                            (long long)ds->n - 1);
    memset(&scratch, 0, sizeof scratch);
    st = hr__dataset_pixels(ds, i, &scratch, out, err);
    hr__decode_scratch_free(&scratch);
    if (st != HR_OK)
        return st;
    hr_domain_corrupt(domain, seed, ds->pool, i, out, ds->c, ds->h, ds->w);
    if (normalise)
        hr__dataset_normalise(ds, out);
    return HR_OK;
}
