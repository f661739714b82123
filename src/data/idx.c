/* IDX files (LeCun's MNIST format) through zlib, and the Fashion-MNIST
 * loader.
 *
 * IDX: 4 magic bytes {0, 0, type, ndim}, ndim big-endian uint32 dimensions,
 * then the items. We accept only type 0x08 (unsigned byte), which is what
 * MNIST-style image and label files use. gzread reads gzip and plain files
 * alike, so uncompressed copies work too. */
#include "data/data_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAX_ITEMS 100000000ll  /* items (images, labels) in one file */
#define IDX_MAX_BYTES ((int64_t)1 << 32)

/* Reads exactly n bytes or reports how many arrived. Returns the number of
 * bytes read, or -1 on a zlib error (message in *zmsg). */
static int64_t gz_read_full(gzFile f, void *buf, int64_t n, const char **zmsg)
{
    int64_t got = 0;
    while (got < n) {
        int64_t want = n - got;
        int r;
        if (want > (1 << 30))
            want = 1 << 30;
        r = gzread(f, (unsigned char *)buf + got, (unsigned)want);
        if (r < 0) {
            int errnum;
            *zmsg = gzerror(f, &errnum);
            return -1;
        }
        if (r == 0)
            break;
        got += r;
    }
    /* A stream cut short returns what it had; zlib flags it as an error. */
    if (got < n) {
        int errnum;
        const char *m = gzerror(f, &errnum);
        if (errnum != Z_OK) {
            *zmsg = m;
            return -1;
        }
    }
    return got;
}

hr_status hr__idx_read(const char *path, int want_ndim, hr__idx *out, hr_error *err)
{
    unsigned char head[4], dimbuf[12], extra;
    const char *zmsg = "";
    int64_t items, got, bytes = 1;
    struct stat sb;
    gzFile f;
    hr_status st = HR_OK;
    hr__idx idx;

    memset(&idx, 0, sizeof idx);
    /* gzopen would happily "read" a directory as an empty stream. */
    if (stat(path, &sb) != 0)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return hr_error_set(err, HR_ERR_IO, "%s: not a regular file", path);
    f = gzopen(path, "rb");
    if (!f)
        return hr_error_set(err, errno == ENOMEM ? HR_ERR_NOMEM : HR_ERR_IO, "%s: cannot open: %s", path,
                            errno ? strerror(errno) : "zlib could not allocate its state");

    got = gz_read_full(f, head, 4, &zmsg);
    if (got < 0) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: corrupt or truncated gzip data in the header: %s", path, zmsg);
        goto done;
    }
    if (got < 4) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: magic: file ends after %lld bytes, expected 4", path,
                          (long long)got);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: magic: bytes %02x %02x %02x %02x are not an IDX header", path,
                          head[0], head[1], head[2], head[3]);
        goto done;
    }
    if (head[2] != 0x08) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: magic: data type 0x%02x, expected 0x08 (unsigned byte)", path,
                          head[2]);
        goto done;
    }
    if (head[3] != want_ndim) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: magic: %d dimensions, expected %d (%s file)", path, head[3],
                          want_ndim, want_ndim == 1 ? "a labels" : "an images");
        goto done;
    }
    idx.ndim = want_ndim;
    got = gz_read_full(f, dimbuf, 4 * want_ndim, &zmsg);
    if (got < 0) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: corrupt or truncated gzip data in the header: %s", path, zmsg);
        goto done;
    }
    if (got < 4 * want_ndim) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: dimensions: file ends after %lld of %d header bytes", path,
                          (long long)(4 + got), 4 + 4 * want_ndim);
        goto done;
    }
    for (int d = 0; d < want_ndim; d++) {
        const unsigned char *b = dimbuf + 4 * d;
        int64_t v = ((int64_t)b[0] << 24) | ((int64_t)b[1] << 16) | ((int64_t)b[2] << 8) | (int64_t)b[3];
        if (v == 0) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: dimension %d is 0", path, d);
            goto done;
        }
        if (d == 0 && v > IDX_MAX_ITEMS) {
            st = hr_error_set(err, HR_ERR_LIMIT, "%s: item count %lld exceeds the limit %lld", path, (long long)v,
                              IDX_MAX_ITEMS);
            goto done;
        }
        if (d > 0 && v > HR__DATA_MAX_SIDE) {
            st = hr_error_set(err, HR_ERR_LIMIT, "%s: dimension %d is %lld, at most %d accepted", path, d,
                              (long long)v, HR__DATA_MAX_SIDE);
            goto done;
        }
        idx.dims[d] = v;
        bytes *= v;
    }
    for (int d = want_ndim; d < 3; d++)
        idx.dims[d] = 1;
    if (bytes > IDX_MAX_BYTES) {
        st = hr_error_set(err, HR_ERR_LIMIT, "%s: %lld bytes of data exceed the limit %lld", path, (long long)bytes,
                          (long long)IDX_MAX_BYTES);
        goto done;
    }
    idx.data = malloc((size_t)bytes);
    if (!idx.data) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory for %lld bytes", path, (long long)bytes);
        goto done;
    }
    got = gz_read_full(f, idx.data, bytes, &zmsg);
    if (got < 0) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", path, zmsg);
        goto done;
    }
    items = idx.dims[0];
    if (got < bytes) {
        int64_t per = bytes / items;
        st = hr_error_set(err, HR_ERR_FORMAT,
                          "%s: truncated: header says %lld items (%lld bytes) but the data ends after %lld bytes "
                          "(%lld complete items)",
                          path, (long long)items, (long long)bytes, (long long)got, (long long)(got / per));
        goto done;
    }
    got = gz_read_full(f, &extra, 1, &zmsg);
    if (got != 0) {
        if (got < 0)
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: corrupt or truncated gzip data after the items: %s", path,
                              zmsg);
        else
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: trailing data after the %lld items the header declares",
                              path, (long long)items);
        goto done;
    }
done:
    gzclose(f);
    if (st != HR_OK) {
        free(idx.data);
        return st;
    }
    *out = idx;
    return HR_OK;
}

static const char *const fmnist_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Picks "<dir>/<base>.gz", or "<dir>/<base>" when only that exists. */
static char *idx_path(const char *dir, const char *base)
{
    char name[80];
    struct stat sb;
    char *p;

    snprintf(name, sizeof name, "%s.gz", base);
    p = hr__path_join(dir, name);
    if (p && stat(p, &sb) != 0) {
        char *plain = hr__path_join(dir, base);
        if (plain && stat(plain, &sb) == 0) {
            free(p);
            return plain;
        }
        free(plain);
    }
    return p;
}

hr_status hr_dataset_load_fashion_mnist(const char *dir, hr_pool pool, const hr_dataset_load_params *params,
                                        hr_dataset **out, hr_error *err)
{
    hr_dataset_load_params p = params ? *params : hr_dataset_load_params_default();
    const char *prefix = pool == HR_POOL_TEST ? "t10k" : "train";
    char base[64], *img_path = NULL, *lab_path = NULL;
    hr__idx img, lab;
    hr_dataset *ds = NULL;
    hr_status st;
    int64_t n;

    memset(&img, 0, sizeof img);
    memset(&lab, 0, sizeof lab);
    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "fashion-mnist: out must not be NULL");
    if ((int)pool < 0 || pool >= HR_POOL_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "fashion-mnist: pool %d is not train or test", (int)pool);
    if (p.max_samples < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "fashion-mnist: max_samples = %lld is negative",
                            (long long)p.max_samples);
    if (!dir)
        dir = HR_FASHION_MNIST_DIR;
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    img_path = idx_path(dir, base);
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    lab_path = idx_path(dir, base);
    if (!img_path || !lab_path) {
        st = hr_error_set(err, HR_ERR_NOMEM, "fashion-mnist: out of memory");
        goto fail;
    }
    st = hr__idx_read(img_path, 3, &img, err);
    if (st != HR_OK)
        goto fail;
    st = hr__idx_read(lab_path, 1, &lab, err);
    if (st != HR_OK)
        goto fail;
    if (img.dims[0] != lab.dims[0]) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: %lld labels but %s has %lld images", lab_path,
                          (long long)lab.dims[0], img_path, (long long)img.dims[0]);
        goto fail;
    }
    n = img.dims[0];
    for (int64_t i = 0; i < n; i++)
        if (lab.data[i] > 9) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: label of item %lld is %d, expected 0..9", lab_path,
                              (long long)i, lab.data[i]);
            goto fail;
        }
    if (p.max_samples > 0 && p.max_samples < n)
        n = p.max_samples;

    ds = hr__dataset_alloc();
    if (!ds) {
        st = hr_error_set(err, HR_ERR_NOMEM, "fashion-mnist: out of memory");
        goto fail;
    }
    ds->kind = HR__DS_U8;
    ds->pool = pool;
    ds->n = n;
    ds->c = 1;
    ds->h = img.dims[1];
    ds->w = img.dims[2];
    ds->num_classes = 10;
    ds->mean[0] = HR_FASHION_MNIST_MEAN;
    ds->std[0] = HR_FASHION_MNIST_STD;
    ds->u8 = img.data; /* the first n images; the tail is never read */
    img.data = NULL;
    ds->labels = malloc((size_t)n * sizeof *ds->labels);
    ds->class_names = calloc(10, sizeof *ds->class_names);
    ds->name = strdup(pool == HR_POOL_TEST ? "fashion-mnist:test" : "fashion-mnist:train");
    if (!ds->labels || !ds->class_names || !ds->name) {
        st = hr_error_set(err, HR_ERR_NOMEM, "fashion-mnist: out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < n; i++)
        ds->labels[i] = lab.data[i];
    for (int k = 0; k < 10; k++)
        if (!(ds->class_names[k] = strdup(fmnist_names[k]))) {
            st = hr_error_set(err, HR_ERR_NOMEM, "fashion-mnist: out of memory");
            goto fail;
        }
    ds->has_names = 1;
    free(lab.data);
    free(img_path);
    free(lab_path);
    *out = ds;
    return HR_OK;
fail:
    hr_dataset_destroy(ds);
    free(img.data);
    free(lab.data);
    free(img_path);
    free(lab_path);
    return st;
}
