/* Batch iterator: index list → batches of normalised NCHW floats + labels.
 *
 * Each sample of a batch is produced independently on one of the context's
 * threads (pixels → augmentation → domain corruption → normalisation), each
 * step keyed by (seed, epoch, pool, index) and never by the thread, so the
 * batch is bit-identical for any thread count. The epoch's order is a
 * Fisher–Yates permutation drawn from (seed, epoch) alone, so seeking to any
 * (epoch, batch) reproduces an uninterrupted run. */
#include "data/data_internal.h"

#include <string.h>

struct hr_batch_iter {
    hr_ctx *ctx;
    const hr_dataset *ds;
    hr_batch_params p;
    int64_t n, per, nbatches;
    int64_t *indices;       /* the caller's list (copy) */
    int64_t *order;         /* this epoch's order */
    int64_t epoch, next;    /* position */
    float *x;               /* batch_size · per */
    int64_t *labels, *idx;  /* batch_size */
    hr_status *status;      /* per slot of the batch being built */
    hr_error *errs;         /* per slot */
    int threads;
    hr__decode_scratch *scratch; /* per thread */
    float *aug;             /* per thread: per floats */
};

hr_batch_params hr_batch_params_default(void)
{
    hr_batch_params p;
    memset(&p, 0, sizeof p);
    p.batch_size = 32;
    p.seed = 42;
    p.noise_seed = 42;
    p.domain = HR_DOMAIN_CLEAN;
    return p;
}

void hr_batch_iter_destroy(hr_batch_iter *it)
{
    hr_ctx *ctx;
    if (!it)
        return;
    ctx = it->ctx;
    if (it->scratch)
        for (int t = 0; t < it->threads; t++)
            hr__decode_scratch_free(&it->scratch[t]);
    hr_ctx_free(ctx, it->scratch);
    hr_ctx_free(ctx, it->aug);
    hr_ctx_free(ctx, it->indices);
    hr_ctx_free(ctx, it->order);
    hr_ctx_free(ctx, it->x);
    hr_ctx_free(ctx, it->labels);
    hr_ctx_free(ctx, it->idx);
    hr_ctx_free(ctx, it->status);
    hr_ctx_free(ctx, it->errs);
    hr_ctx_free(ctx, it);
}

hr_status hr_batch_iter_create(hr_ctx *ctx, const hr_dataset *ds, const int64_t *indices, int64_t n,
                               const hr_batch_params *params, hr_batch_iter **out, hr_error *err)
{
    hr_batch_params p = params ? *params : hr_batch_params_default();
    hr_batch_iter *it;
    int64_t bs;

    if (!ctx || !ds || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "batch iterator: ctx, dataset and out must not be NULL");
    if (!indices)
        n = ds->n;
    if (n < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: batch iterator over %lld samples", ds->name, (long long)n);
    if (p.batch_size < 1 || p.batch_size > (1 << 20))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: batch_size = %lld, expected 1..%d", ds->name,
                            (long long)p.batch_size, 1 << 20);
    if (p.shift < 0 || p.shift >= ds->h || p.shift >= ds->w)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: shift = %d, expected 0..%lld", ds->name, p.shift,
                            (long long)(ds->h < ds->w ? ds->h : ds->w) - 1);
    if (p.domain != HR_DOMAIN_CLEAN && !hr_domain_get(p.domain))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: domain %d, expected 0..%d or clean", ds->name, p.domain,
                            HR_NUM_DOMAINS - 1);
    if (indices)
        for (int64_t i = 0; i < n; i++)
            if (indices[i] < 0 || indices[i] >= ds->n)
                return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: index[%lld] = %lld out of range 0..%lld", ds->name,
                                    (long long)i, (long long)indices[i], (long long)ds->n - 1);
    bs = p.batch_size;
    it = hr_ctx_calloc(ctx, sizeof *it);
    if (!it)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", ds->name);
    it->ctx = ctx;
    it->ds = ds;
    it->p = p;
    it->n = n;
    it->per = ds->c * ds->h * ds->w;
    it->nbatches = p.drop_last ? n / bs : (n + bs - 1) / bs;
    it->threads = hr_ctx_threads(ctx);
    it->indices = hr_ctx_alloc(ctx, (size_t)n * sizeof(int64_t));
    it->order = hr_ctx_alloc(ctx, (size_t)n * sizeof(int64_t));
    it->x = hr_ctx_alloc(ctx, (size_t)(bs * it->per) * sizeof(float));
    it->labels = hr_ctx_alloc(ctx, (size_t)bs * sizeof(int64_t));
    it->idx = hr_ctx_alloc(ctx, (size_t)bs * sizeof(int64_t));
    it->status = hr_ctx_alloc(ctx, (size_t)bs * sizeof(hr_status));
    it->errs = hr_ctx_alloc(ctx, (size_t)bs * sizeof(hr_error));
    it->scratch = hr_ctx_calloc(ctx, (size_t)it->threads * sizeof(hr__decode_scratch));
    if (p.hflip || p.shift)
        it->aug = hr_ctx_alloc(ctx, (size_t)(it->threads * it->per) * sizeof(float));
    if (!it->indices || !it->order || !it->x || !it->labels || !it->idx || !it->status || !it->errs ||
        !it->scratch || ((p.hflip || p.shift) && !it->aug)) {
        hr_batch_iter_destroy(it);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for a batch of %lld samples", ds->name,
                            (long long)bs);
    }
    for (int64_t i = 0; i < n; i++)
        it->indices[i] = indices ? indices[i] : i;
    it->epoch = -1;
    hr_batch_iter_seek(it, 0, 0, NULL);
    *out = it;
    return HR_OK;
}

hr_status hr_data_iter_create(hr_ctx *ctx, const hr_data *d, int domain, hr_data_part part,
                              const hr_batch_params *params, hr_batch_iter **out, hr_error *err)
{
    hr_batch_params p = params ? *params : hr_batch_params_default();
    const int64_t *idx;
    int64_t n;

    if (!d)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "data iterator: data must not be NULL");
    idx = hr_partition_indices(hr_data_partition(d), domain, part, &n);
    if (!idx)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "data iterator: domain %d / part %d out of range", domain,
                            (int)part);
    if (n == 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: domain %d has an empty %s part", hr_data_source(d), domain,
                            part == HR_PART_TRAIN ? "train" : part == HR_PART_VAL ? "validation" : "test");
    p.domain = domain;
    p.noise_seed = hr_data_seed(d);
    return hr_batch_iter_create(ctx, hr_data_part_pool(d, part), idx, n, &p, out, err);
}

hr_status hr_batch_iter_seek(hr_batch_iter *it, int64_t epoch, int64_t batch, hr_error *err)
{
    if (!it || epoch < 0 || batch < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "batch iterator: seek to epoch %lld batch %lld",
                            (long long)epoch, (long long)batch);
    if (epoch != it->epoch) {
        memcpy(it->order, it->indices, (size_t)it->n * sizeof(int64_t));
        if (it->p.shuffle) {
            hr__rng r;
            hr__rng_seed(&r, it->p.seed, hr__stream(HR__STREAM_SHUFFLE, (uint64_t)epoch, 0, 0));
            hr__shuffle_i64(&r, it->order, it->n);
        }
        it->epoch = epoch;
    }
    it->next = batch;
    return HR_OK;
}

int64_t hr_batch_iter_batches(const hr_batch_iter *it) { return it->nbatches; }

int64_t hr_batch_iter_samples(const hr_batch_iter *it)
{
    return it->p.drop_last ? it->nbatches * it->p.batch_size : it->n;
}

/* Mirror and/or translate one sample (zero fill), drawn from (seed, pool,
 * epoch, index). */
static void augment(const hr_batch_iter *it, int64_t index, float *x, float *tmp)
{
    const hr_dataset *ds = it->ds;
    int64_t h = ds->h, w = ds->w, dx = 0, dy = 0;
    int flip = 0;
    hr__rng r;

    hr__rng_seed(&r, it->p.seed,
                 hr__stream(HR__STREAM_AUGMENT, (uint64_t)ds->pool, (uint64_t)it->epoch, (uint64_t)index));
    if (it->p.hflip)
        flip = (int)(hr__rng_u64(&r) >> 63);
    if (it->p.shift) {
        dx = (int64_t)hr__rng_below(&r, 2 * (uint64_t)it->p.shift + 1) - it->p.shift;
        dy = (int64_t)hr__rng_below(&r, 2 * (uint64_t)it->p.shift + 1) - it->p.shift;
    }
    if (!flip && dx == 0 && dy == 0)
        return;
    memcpy(tmp, x, (size_t)it->per * sizeof *x);
    for (int64_t ch = 0; ch < ds->c; ch++)
        for (int64_t y = 0; y < h; y++) {
            int64_t sy = y - dy;
            float *dst = x + (ch * h + y) * w;
            for (int64_t xx = 0; xx < w; xx++) {
                int64_t sx = xx - dx;
                if (flip)
                    sx = w - 1 - sx;
                dst[xx] = sy >= 0 && sy < h && sx >= 0 && sx < w ? tmp[(ch * h + sy) * w + sx] : 0.0f;
            }
        }
}

static void fill_slot(void *arg, int64_t j, int thread)
{
    hr_batch_iter *it = arg;
    const hr_dataset *ds = it->ds;
    int64_t i = it->idx[j];
    float *x = it->x + j * it->per;

    it->status[j] = hr__dataset_pixels(ds, i, &it->scratch[thread], x, &it->errs[j]);
    if (it->status[j] != HR_OK)
        return;
    if (it->aug)
        augment(it, i, x, it->aug + (int64_t)thread * it->per);
    hr_domain_corrupt(it->p.domain, it->p.noise_seed, ds->pool, i, x, ds->c, ds->h, ds->w);
    hr__dataset_normalise(ds, x);
}

hr_status hr_batch_iter_next(hr_batch_iter *it, hr_batch *out, hr_error *err)
{
    int64_t keep = 0;

    if (!it || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "batch iterator: iterator and out must not be NULL");
    memset(out, 0, sizeof *out);
    out->epoch = it->epoch;
    out->number = it->next;
    out->labels = it->labels;
    out->indices = it->idx;
    /* A batch whose every file was skipped is passed over, so that n == 0
     * still means the end of the epoch. */
    while (keep == 0 && it->next < it->nbatches) {
        int64_t bs = it->p.batch_size, lo = it->next * bs, cnt = it->n - lo < bs ? it->n - lo : bs;
        for (int64_t j = 0; j < cnt; j++) {
            it->idx[j] = it->order[lo + j];
            it->errs[j].status = HR_OK;
            it->errs[j].msg[0] = '\0';
        }
        hr_ctx_parallel_for(it->ctx, cnt, fill_slot, it);
        for (int64_t j = 0; j < cnt; j++) {
            hr_status st = it->status[j];
            if (st != HR_OK) {
                /* Only a bad file is skippable; running out of memory is not. */
                int skippable = it->ds->kind == HR__DS_FILES && it->ds->on_bad_file == HR_BAD_FILE_SKIP &&
                                (st == HR_ERR_FORMAT || st == HR_ERR_IO || st == HR_ERR_LIMIT);
                if (!skippable)
                    return hr_error_set(err, st, "%s", it->errs[j].msg);
                hr_ctx_log(it->ctx, HR_LOG_WARN, "skipping %s", it->errs[j].msg);
                continue;
            }
            if (keep != j) {
                memcpy(it->x + keep * it->per, it->x + j * it->per, (size_t)it->per * sizeof(float));
                it->idx[keep] = it->idx[j];
            }
            it->labels[keep] = it->ds->labels[it->idx[keep]];
            keep++;
        }
        out->number = it->next;
        it->next++;
    }
    out->n = keep;
    out->x = hr_tensor_4d(it->x, keep, it->ds->c, it->ds->h, it->ds->w);
    return HR_OK;
}
