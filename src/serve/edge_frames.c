/* The edge's input frames and the percentile distributions of its
 * measurements (edge.h). */
#include "hyperrep/edge.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperrep/data.h"
#include "hyperrep/lut.h"

#define RANDOM_POOL 32 /* distinct random frames; more only cost memory */

void hr_edge_frames_deinit(hr_edge_frames *f)
{
    free(f->pix);
    free(f->labels);
    free(f->mean);
    free(f->std);
    memset(f, 0, sizeof *f);
}

const float *hr_edge_frames_at(const hr_edge_frames *f, int64_t t)
{
    return f->pix + (t % f->count) * f->c * f->h * f->w;
}

int32_t hr_edge_frames_label(const hr_edge_frames *f, int64_t t) { return f->labels[t % f->count]; }

static hr_status frames_alloc(hr_edge_frames *f, int64_t n, hr_error *err)
{
    f->count = n;
    f->pix = malloc(sizeof(float) * (size_t)(n * f->c * f->h * f->w));
    f->labels = malloc(sizeof(int32_t) * (size_t)n);
    f->mean = malloc(sizeof(float) * (size_t)f->c);
    f->std = malloc(sizeof(float) * (size_t)f->c);
    if (!f->pix || !f->labels || !f->mean || !f->std)
        return hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory for %lld frames", (long long)n);
    return HR_OK;
}

hr_status hr_edge_frames_load(const char *src, hr_ctx *ctx, const int64_t in_shape[4], int64_t want, uint64_t seed,
                              hr_edge_frames *out, hr_error *err)
{
    hr_edge_frames f;
    hr_dataset *ds = NULL;
    hr_dataset_load_params lp = hr_dataset_load_params_default();
    int64_t chw[3];
    hr_status st;

    memset(&f, 0, sizeof f);
    f.c = in_shape[1], f.h = in_shape[2], f.w = in_shape[3];
    if (want < 1)
        want = 1;
    if (!src) {
        int fmnist = f.c == 1 && f.h == 28 && f.w == 28 && access(HR_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) == 0;
        src = fmnist ? "fashion-mnist" : "random";
    }
    if (strcmp(src, "random") == 0) {
        uint64_t s = seed * 2654435761u + 12345;
        int64_t n = want < RANDOM_POOL ? want : RANDOM_POOL;
        if ((st = frames_alloc(&f, n, err)))
            goto fail;
        for (int64_t i = 0; i < n * f.c * f.h * f.w; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            f.pix[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
        }
        for (int64_t i = 0; i < n; i++)
            f.labels[i] = -1;
        for (int64_t ch = 0; ch < f.c; ch++)
            f.mean[ch] = 0.0f, f.std[ch] = 1.0f;
        snprintf(f.desc, sizeof f.desc, "random frames, uniform in [-1, 1), seed %llu (%lld distinct)",
                 (unsigned long long)seed, (long long)n);
        *out = f;
        return HR_OK;
    }
    lp.max_samples = want;
    if (strcmp(src, "fashion-mnist") == 0) {
        st = hr_dataset_load_fashion_mnist(NULL, HR_POOL_TEST, &lp, &ds, err);
    } else {
        lp.crop = (int)f.h;
        lp.resize = (int)(f.h * 256 / 224);
        st = hr_dataset_load_folder(ctx, src, HR_POOL_TEST, &lp, &ds, err);
    }
    if (st)
        goto fail;
    hr_dataset_shape(ds, chw);
    if (chw[0] != f.c || chw[1] != f.h || chw[2] != f.w) {
        st = hr_error_set(err, HR_ERR_SHAPE, "infer: %s has %lldx%lldx%lld images, the model takes %lldx%lldx%lld",
                          hr_dataset_name(ds), (long long)chw[0], (long long)chw[1], (long long)chw[2],
                          (long long)f.c, (long long)f.h, (long long)f.w);
        goto fail;
    }
    if ((st = frames_alloc(&f, hr_dataset_size(ds) < want ? hr_dataset_size(ds) : want, err)))
        goto fail;
    for (int64_t i = 0; i < f.count; i++) {
        if ((st = hr_dataset_get(ds, i, HR_DOMAIN_CLEAN, seed, 1, f.pix + i * f.c * f.h * f.w, err)))
            goto fail;
        f.labels[i] = hr_dataset_labels(ds)[i];
    }
    memcpy(f.mean, hr_dataset_mean(ds), sizeof(float) * (size_t)f.c);
    memcpy(f.std, hr_dataset_std(ds), sizeof(float) * (size_t)f.c);
    snprintf(f.desc, sizeof f.desc, "%s: the first %lld test images, clean", hr_dataset_name(ds), (long long)f.count);
    hr_dataset_destroy(ds);
    *out = f;
    return HR_OK;
fail:
    hr_dataset_destroy(ds);
    hr_edge_frames_deinit(&f);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

hr_status hr_edge_frames_load_domain(const char *src, hr_ctx *ctx, int domain, const int64_t in_shape[4],
                                     int64_t want, uint64_t seed, hr_edge_frames *out, hr_error *err)
{
    hr_edge_frames f;
    hr_data *d = NULL;
    hr_data_params dp = hr_data_params_default();
    const hr_dataset *ds;
    const int64_t *idx;
    int64_t n, chw[3];
    hr_status st;

    memset(&f, 0, sizeof f);
    if (domain < 0 || domain >= HR_NUM_DOMAINS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "infer: domain %d is outside 0..%d", domain, HR_NUM_DOMAINS - 1);
    f.c = in_shape[1], f.h = in_shape[2], f.w = in_shape[3];
    if (src)
        dp.source = src;
    dp.seed = seed;
    if ((st = hr_data_open(ctx, &dp, &d, err)))
        return st;
    ds = hr_data_part_pool(d, HR_PART_TEST);
    idx = hr_partition_indices(hr_data_partition(d), domain, HR_PART_TEST, &n);
    hr_dataset_shape(ds, chw);
    if (chw[0] != f.c || chw[1] != f.h || chw[2] != f.w) {
        st = hr_error_set(err, HR_ERR_SHAPE, "infer: %s has %lldx%lldx%lld images, the model takes %lldx%lldx%lld",
                          hr_dataset_name(ds), (long long)chw[0], (long long)chw[1], (long long)chw[2],
                          (long long)f.c, (long long)f.h, (long long)f.w);
        goto out;
    }
    if (!idx || n < 1) {
        st = hr_error_set(err, HR_ERR_NOT_FOUND, "infer: domain %d has no test images", domain);
        goto out;
    }
    if (want < 1)
        want = 1;
    if ((st = frames_alloc(&f, n < want ? n : want, err)))
        goto out;
    /* corrupted under the data's seed, as the data's iterators do */
    for (int64_t i = 0; i < f.count && !st; i++) {
        st = hr_dataset_get(ds, idx[i], domain, hr_data_seed(d), 1, f.pix + i * f.c * f.h * f.w, err);
        f.labels[i] = hr_dataset_labels(ds)[idx[i]];
    }
    if (st)
        goto out;
    memcpy(f.mean, hr_dataset_mean(ds), sizeof(float) * (size_t)f.c);
    memcpy(f.std, hr_dataset_std(ds), sizeof(float) * (size_t)f.c);
    snprintf(f.desc, sizeof f.desc, "%s: domain %d (%s), the first %lld of its %lld test images", hr_data_source(d),
             domain, hr_domain_get(domain)->name, (long long)f.count, (long long)n);
    *out = f;
    memset(&f, 0, sizeof f);
out:
    hr_edge_frames_deinit(&f);
    hr_data_destroy(d);
    return st;
}

hr_edge_dist hr_edge_dist_of(const double *v, int64_t n)
{
    hr_edge_dist d;
    double *s;
    memset(&d, 0, sizeof d);
    if (n < 1 || n > INT_MAX || !(s = malloc(sizeof(double) * (size_t)n)))
        return d;
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    d.n = n;
    for (int64_t i = 0; i < n; i++)
        d.mean += s[i] / (double)n;
    d.p50 = hr_lut_quantile(s, (int)n, 0.50);
    d.p95 = hr_lut_quantile(s, (int)n, 0.95);
    d.p99 = hr_lut_quantile(s, (int)n, 0.99);
    d.max = s[n - 1];
    free(s);
    return d;
}
