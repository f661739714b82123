/* Data sources: a source string → training pool, test pool, partition. */
#include "data/data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct hr_data {
    char *source;
    uint64_t seed;
    hr_dataset *pool[HR_POOL_COUNT];
    hr_partition *part;
};

hr_data_params hr_data_params_default(void)
{
    hr_data_params p;
    memset(&p, 0, sizeof p);
    p.source = "fashion-mnist";
    p.seed = 42;
    p.load = hr_dataset_load_params_default();
    p.partition = hr_partition_params_default();
    p.test_fraction = 0.2;
    return p;
}

void hr_data_destroy(hr_data *d)
{
    if (!d)
        return;
    hr_partition_destroy(d->part);
    for (int i = 0; i < HR_POOL_COUNT; i++)
        hr_dataset_destroy(d->pool[i]);
    free(d->source);
    free(d);
}

const hr_dataset *hr_data_pool(const hr_data *d, hr_pool pool)
{
    if ((int)pool < 0 || pool >= HR_POOL_COUNT)
        return NULL;
    return d->pool[pool];
}

const hr_dataset *hr_data_part_pool(const hr_data *d, hr_data_part part)
{
    return d->pool[part == HR_PART_TEST ? HR_POOL_TEST : HR_POOL_TRAIN];
}

const hr_partition *hr_data_partition(const hr_data *d) { return d->part; }
uint64_t hr_data_seed(const hr_data *d) { return d->seed; }
const char *hr_data_source(const hr_data *d) { return d->source; }

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Splits one image folder into training and test pools: per class, a seeded
 * random test_fraction of the files (rounded) goes to the test pool. Both
 * pools keep the folder's (class, name) order. */
static hr_status split_folder(const hr_dataset *all, double test_fraction, uint64_t seed, hr_dataset **train,
                              hr_dataset **test, hr_error *err)
{
    int64_t *order = malloc((size_t)all->n * sizeof *order), *tr = malloc((size_t)all->n * sizeof *tr),
            *te = malloc((size_t)all->n * sizeof *te), ntr = 0, nte = 0;
    unsigned char *in_test = calloc((size_t)all->n, 1);
    hr_status st = HR_OK;

    if (!order || !tr || !te || !in_test) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", all->name);
        goto done;
    }
    /* The folder loader lists class by class, so each class is one run. */
    for (int64_t i = 0; i < all->n; i++)
        order[i] = i;
    for (int64_t lo = 0; lo < all->n;) {
        int k = all->labels[lo];
        int64_t hi = lo, ntest;
        hr__rng r;
        while (hi < all->n && all->labels[hi] == k)
            hi++;
        hr__rng_seed(&r, seed, hr__stream(HR__STREAM_FOLDER_SPLIT, (uint64_t)k, 0, 0));
        hr__shuffle_i64(&r, order + lo, hi - lo);
        ntest = (int64_t)llround(test_fraction * (double)(hi - lo));
        for (int64_t i = lo; i < lo + ntest; i++)
            in_test[order[i]] = 1;
        lo = hi;
    }
    for (int64_t i = 0; i < all->n; i++) {
        if (in_test[i])
            te[nte++] = i;
        else
            tr[ntr++] = i;
    }
    if (ntr == 0 || nte == 0) {
        st = hr_error_set(err, HR_ERR_INVALID_ARG,
                          "%s: %lld images split %lld/%lld into training and test pools (test_fraction %g); "
                          "both need images",
                          all->name, (long long)all->n, (long long)ntr, (long long)nte, test_fraction);
        goto done;
    }
    st = hr__dataset_subset(all, tr, ntr, HR_POOL_TRAIN, ":train", train, err);
    if (st == HR_OK) {
        st = hr__dataset_subset(all, te, nte, HR_POOL_TEST, ":test", test, err);
        if (st != HR_OK) {
            hr_dataset_destroy(*train);
            *train = NULL;
        }
    }
done:
    free(order);
    free(tr);
    free(te);
    free(in_test);
    return st;
}

/* Opens the pools of an image-folder source. */
static hr_status open_folder(hr_ctx *ctx, const hr_data_params *p, hr_dataset **pools, hr_error *err)
{
    char *tr_dir = hr__path_join(p->source, "train"), *val_dir = hr__path_join(p->source, "val"),
         *test_dir = hr__path_join(p->source, "test");
    hr_dataset *all = NULL;
    hr_status st;

    if (!tr_dir || !val_dir || !test_dir) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", p->source);
    } else if (is_dir(tr_dir) && (is_dir(val_dir) || is_dir(test_dir))) {
        st = hr_dataset_load_folder(ctx, tr_dir, HR_POOL_TRAIN, &p->load, &pools[HR_POOL_TRAIN], err);
        if (st == HR_OK)
            st = hr_dataset_load_folder(ctx, is_dir(val_dir) ? val_dir : test_dir, HR_POOL_TEST, &p->load,
                                        &pools[HR_POOL_TEST], err);
        if (st == HR_OK) {
            const hr_dataset *a = pools[HR_POOL_TRAIN], *b = pools[HR_POOL_TEST];
            if (a->num_classes != b->num_classes)
                st = hr_error_set(err, HR_ERR_FORMAT, "%s has %d classes but %s has %d", a->name, a->num_classes,
                                  b->name, b->num_classes);
            for (int k = 0; st == HR_OK && k < a->num_classes; k++)
                if (strcmp(a->class_names[k], b->class_names[k]) != 0)
                    st = hr_error_set(err, HR_ERR_FORMAT, "class %d is '%s' in %s but '%s' in %s", k,
                                      a->class_names[k], a->name, b->class_names[k], b->name);
        }
    } else if (!(p->test_fraction > 0.0 && p->test_fraction < 1.0)) {
        st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s: test_fraction = %g, expected (0, 1)", p->source,
                          p->test_fraction);
    } else {
        st = hr_dataset_load_folder(ctx, p->source, HR_POOL_TRAIN, &p->load, &all, err);
        if (st == HR_OK)
            st = split_folder(all, p->test_fraction, p->seed, &pools[HR_POOL_TRAIN], &pools[HR_POOL_TEST], err);
        if (st == HR_OK)
            pools[HR_POOL_TRAIN]->skipped = all->skipped;
    }
    hr_dataset_destroy(all);
    free(tr_dir);
    free(val_dir);
    free(test_dir);
    return st;
}

hr_status hr_data_open(hr_ctx *ctx, const hr_data_params *params, hr_data **out, hr_error *err)
{
    hr_data_params p = params ? *params : hr_data_params_default();
    static const char fm[] = "fashion-mnist";
    hr_data *d;
    hr_status st;

    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "data: out must not be NULL");
    if (!p.source || !*p.source)
        p.source = fm;
    d = calloc(1, sizeof *d);
    if (!d || !(d->source = strdup(p.source))) {
        free(d);
        return hr_error_set(err, HR_ERR_NOMEM, "data: out of memory");
    }
    d->seed = p.seed;
    if (strncmp(p.source, fm, sizeof fm - 1) == 0 &&
        (p.source[sizeof fm - 1] == '\0' || p.source[sizeof fm - 1] == ':')) {
        const char *dir = p.source[sizeof fm - 1] == ':' ? p.source + sizeof fm : NULL;
        st = hr_dataset_load_fashion_mnist(dir, HR_POOL_TRAIN, &p.load, &d->pool[HR_POOL_TRAIN], err);
        if (st == HR_OK)
            st = hr_dataset_load_fashion_mnist(dir, HR_POOL_TEST, &p.load, &d->pool[HR_POOL_TEST], err);
    } else if (!is_dir(p.source)) {
        st = hr_error_set(err, HR_ERR_NOT_FOUND,
                          "data source '%s' is neither fashion-mnist[:DIR] nor an image-folder directory", p.source);
    } else {
        st = open_folder(ctx, &p, d->pool, err);
    }
    if (st == HR_OK) {
        p.partition.seed = p.seed;
        st = hr_partition_create(d->pool[HR_POOL_TRAIN], d->pool[HR_POOL_TEST], &p.partition, &d->part, err);
    }
    if (st != HR_OK) {
        hr_data_destroy(d);
        return st;
    }
    *out = d;
    return HR_OK;
}
