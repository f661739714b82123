/* Image folders: root/<class>/<file>.{jpg,jpeg,png}, ImageNet-val style.
 *
 * Opening lists and sorts the classes and files and checks every file's
 * header (in parallel when a context is given), so that a folder full of
 * non-images fails at once rather than hours into training. Pixels are
 * decoded later, per batch (see data.h for why). */
#include "data/data_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct name_list {
    char **v;
    int64_t n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int names_push(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return 0;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return 0;
    l->n++;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0);
}

/* Lists the entries of dir that are directories (dirs != 0) or regular files
 * with an image extension (dirs == 0), following symbolic links, skipping
 * names that start with '.', sorted by byte order. */
static hr_status list_dir(const char *dir, int dirs, name_list *out, hr_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    hr_status st = HR_OK;

    memset(out, 0, sizeof *out);
    if (!d)
        return hr_error_set(err, errno == ENOENT ? HR_ERR_NOT_FOUND : HR_ERR_IO, "%s: cannot open directory: %s",
                            dir, strerror(errno));
    for (;;) {
        struct stat sb;
        char *path;
        int ok;
        errno = 0;
        e = readdir(d);
        if (!e) {
            if (errno)
                st = hr_error_set(err, HR_ERR_IO, "%s: cannot read directory: %s", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.' || (!dirs && !has_image_ext(e->d_name)))
            continue;
        path = hr__path_join(dir, e->d_name);
        if (!path) {
            st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        ok = stat(path, &sb) == 0 && (dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        free(path);
        if (!ok)
            continue;
        if (out->n >= HR__DATA_MAX_SAMPLES) {
            st = hr_error_set(err, HR_ERR_LIMIT, "%s: more than %lld entries", dir, (long long)HR__DATA_MAX_SAMPLES);
            break;
        }
        if (!names_push(out, e->d_name)) {
            st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
    }
    closedir(d);
    if (st != HR_OK) {
        names_free(out);
        return st;
    }
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return HR_OK;
}

typedef struct probe_job {
    char **paths;
    hr_status *status;
    hr__decode_scratch *scratch; /* one per thread */
    int full;
    int64_t max_pixels;
} probe_job;

static void probe_one(void *arg, int64_t i, int thread)
{
    probe_job *job = arg;
    int64_t w, h;
    job->status[i] = hr__image_probe(job->paths[i], job->full, job->max_pixels, &job->scratch[thread], &w, &h, NULL);
}

/* Checks every file; failures are dropped (SKIP, with a warning) or the
 * first one in path order is the error (STOP). paths/labels are compacted in
 * place; *n is updated. */
static hr_status probe_all(hr_ctx *ctx, const hr_dataset_load_params *p, char **paths, int32_t *labels, int64_t *n,
                           int64_t *skipped, hr_error *err)
{
    int threads = ctx ? hr_ctx_threads(ctx) : 1;
    probe_job job;
    int64_t keep = 0;
    hr_status st = HR_OK;

    job.paths = paths;
    job.full = p->verify;
    job.max_pixels = p->max_image_pixels;
    job.status = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *job.status);
    job.scratch = calloc((size_t)threads, sizeof *job.scratch);
    if (!job.status || !job.scratch) {
        free(job.status);
        free(job.scratch);
        return hr_error_set(err, HR_ERR_NOMEM, "image folder: out of memory");
    }
    if (ctx)
        hr_ctx_parallel_for(ctx, *n, probe_one, &job);
    else
        for (int64_t i = 0; i < *n; i++)
            probe_one(&job, i, 0);
    for (int64_t i = 0; i < *n; i++) {
        if (job.status[i] == HR_OK) {
            paths[keep] = paths[i];
            labels[keep] = labels[i];
            keep++;
            continue;
        }
        if (p->on_bad_file == HR_BAD_FILE_STOP || job.status[i] == HR_ERR_NOMEM) {
            /* Probe again on this thread for the message. */
            int64_t w, h;
            st = hr__image_probe(paths[i], job.full, job.max_pixels, &job.scratch[0], &w, &h, err);
            if (st == HR_OK)
                st = hr_error_set(err, job.status[i], "%s: failed to decode once, then succeeded", paths[i]);
            /* Free the rest (the kept ones are owned by the caller's array). */
            for (int64_t j = i; j < *n; j++) {
                free(paths[j]);
                paths[j] = NULL;
            }
            *n = keep;
            break;
        }
        {
            hr_error e = {0};
            int64_t w, h;
            hr__image_probe(paths[i], job.full, job.max_pixels, &job.scratch[0], &w, &h, &e);
            if (ctx)
                hr_ctx_log(ctx, HR_LOG_WARN, "skipping %s", e.msg[0] ? e.msg : paths[i]);
        }
        free(paths[i]);
        paths[i] = NULL;
        (*skipped)++;
    }
    if (st == HR_OK)
        *n = keep;
    for (int t = 0; t < threads; t++)
        hr__decode_scratch_free(&job.scratch[t]);
    free(job.scratch);
    free(job.status);
    return st;
}

hr_status hr_dataset_load_folder(hr_ctx *ctx, const char *root, hr_pool pool,
                                 const hr_dataset_load_params *params, hr_dataset **out, hr_error *err)
{
    hr_dataset_load_params p = params ? *params : hr_dataset_load_params_default();
    name_list classes, files;
    char **paths = NULL;
    int32_t *labels = NULL;
    int64_t n = 0, cap = 0;
    hr_dataset *ds = NULL;
    hr_status st;

    memset(&files, 0, sizeof files);
    if (!root || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "image folder: root and out must not be NULL");
    if ((int)pool < 0 || pool >= HR_POOL_COUNT || (int)p.on_bad_file < 0 || p.on_bad_file >= HR_BAD_FILE_POLICY_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: bad pool or on_bad_file value", root);
    if (p.resize < 1 || p.resize > 65536 || p.crop < 1 || p.crop > p.resize || p.crop > HR__DATA_MAX_SIDE)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "%s: resize %d / crop %d: expected 1 <= crop <= resize, crop <= %d", root, p.resize,
                            p.crop, HR__DATA_MAX_SIDE);
    if (p.max_samples < 0 || p.max_image_pixels < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: max_samples and max_image_pixels must be positive", root);
    st = list_dir(root, 1, &classes, err);
    if (st != HR_OK)
        return st;
    if (classes.n == 0) {
        names_free(&classes);
        return hr_error_set(err, HR_ERR_NOT_FOUND, "%s: no class sub-directories", root);
    }
    if (classes.n > HR__DATA_MAX_CLASSES) {
        names_free(&classes);
        return hr_error_set(err, HR_ERR_LIMIT, "%s: %lld classes, at most %d", root, (long long)classes.n,
                            HR__DATA_MAX_CLASSES);
    }
    for (int64_t k = 0; k < classes.n; k++) {
        char *dir = hr__path_join(root, classes.v[k]);
        if (!dir) {
            st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", root);
            goto fail;
        }
        st = list_dir(dir, 0, &files, err);
        if (st == HR_OK && files.n == 0) {
            if (p.on_bad_file == HR_BAD_FILE_STOP)
                st = hr_error_set(err, HR_ERR_NOT_FOUND, "%s: class '%s' has no .jpg, .jpeg or .png files", dir,
                                  classes.v[k]);
            else if (ctx)
                hr_ctx_log(ctx, HR_LOG_WARN, "%s: class '%s' has no images", dir, classes.v[k]);
        }
        if (st == HR_OK && n + files.n > HR__DATA_MAX_SAMPLES)
            st = hr_error_set(err, HR_ERR_LIMIT, "%s: more than %lld images", root, (long long)HR__DATA_MAX_SAMPLES);
        if (st == HR_OK && n + files.n > cap) {
            int64_t ncap = cap ? cap : 1024;
            char **np;
            int32_t *nl;
            while (ncap < n + files.n)
                ncap *= 2;
            np = realloc(paths, (size_t)ncap * sizeof *paths);
            if (np)
                paths = np;
            nl = np ? realloc(labels, (size_t)ncap * sizeof *labels) : NULL;
            if (nl)
                labels = nl;
            if (!np || !nl)
                st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", root);
            else
                cap = ncap;
        }
        for (int64_t i = 0; st == HR_OK && i < files.n; i++) {
            if (!(paths[n] = hr__path_join(dir, files.v[i]))) {
                st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", root);
                break;
            }
            labels[n++] = (int32_t)k;
        }
        free(dir);
        names_free(&files);
        if (st != HR_OK)
            goto fail;
    }
    if (n == 0) {
        st = hr_error_set(err, HR_ERR_NOT_FOUND, "%s: no .jpg, .jpeg or .png files in any class", root);
        goto fail;
    }
    if (p.max_samples > 0 && p.max_samples < n) {
        /* Spread the kept samples over the sorted list so that every class
         * keeps some. */
        int64_t m = p.max_samples, j = 0;
        for (int64_t i = 0; i < n; i++) {
            if (j < m && i == (int64_t)((double)j * (double)n / (double)m)) {
                paths[j] = paths[i];
                labels[j] = labels[i];
                j++;
            } else {
                free(paths[i]);
            }
        }
        n = m;
    }

    ds = hr__dataset_alloc();
    if (!ds) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", root);
        goto fail;
    }
    st = probe_all(ctx, &p, paths, labels, &n, &ds->skipped, err);
    if (st != HR_OK)
        goto fail;
    if (n == 0) {
        st = hr_error_set(err, HR_ERR_NOT_FOUND, "%s: every image file was undecodable", root);
        goto fail;
    }
    ds->kind = HR__DS_FILES;
    ds->pool = pool;
    ds->n = n;
    ds->c = 3;
    ds->h = ds->w = p.crop;
    ds->resize = p.resize;
    ds->crop = p.crop;
    ds->max_image_pixels = p.max_image_pixels;
    ds->on_bad_file = p.on_bad_file;
    ds->num_classes = (int)classes.n;
    ds->mean[0] = 0.485f;
    ds->mean[1] = 0.456f;
    ds->mean[2] = 0.406f;
    ds->std[0] = 0.229f;
    ds->std[1] = 0.224f;
    ds->std[2] = 0.225f;
    ds->paths = paths;
    ds->labels = labels;
    ds->class_names = classes.v; /* take ownership: exactly num_classes strings */
    ds->has_names = 1;
    classes.v = NULL;
    classes.n = 0;
    ds->name = strdup(root);
    if (!ds->name) {
        hr_dataset_destroy(ds);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", root);
    }
    *out = ds;
    return HR_OK;
fail:
    for (int64_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(labels);
    free(ds);
    names_free(&classes);
    names_free(&files);
    return st;
}

hr_status hr__dataset_subset(const hr_dataset *src, const int64_t *idx, int64_t n, hr_pool pool,
                             const char *suffix, hr_dataset **out, hr_error *err)
{
    hr_dataset *ds;
    size_t nl;

    if (src->kind != HR__DS_FILES || n < 1)
        return hr_error_set(err, HR_ERR_INTERNAL, "%s: subsets are for non-empty image folders", src->name);
    ds = hr__dataset_alloc();
    if (!ds)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", src->name);
    *ds = *src;
    ds->pool = pool;
    ds->n = 0;
    ds->num_classes = 0;
    ds->skipped = 0;
    ds->paths = calloc((size_t)n, sizeof *ds->paths);
    ds->labels = malloc((size_t)n * sizeof *ds->labels);
    ds->class_names = calloc((size_t)src->num_classes, sizeof *ds->class_names);
    nl = strlen(src->name) + strlen(suffix) + 1;
    ds->name = malloc(nl);
    ds->u8 = NULL;
    ds->f32 = NULL;
    ds->mean_big = ds->std_big = NULL;
    if (!ds->paths || !ds->labels || !ds->class_names || !ds->name)
        goto nomem;
    snprintf(ds->name, nl, "%s%s", src->name, suffix);
    ds->num_classes = src->num_classes;
    for (int k = 0; k < src->num_classes; k++)
        if (!(ds->class_names[k] = strdup(src->class_names[k])))
            goto nomem;
    for (int64_t i = 0; i < n; i++) {
        ds->n = i + 1;
        ds->labels[i] = src->labels[idx[i]];
        if (!(ds->paths[i] = strdup(src->paths[idx[i]])))
            goto nomem;
    }
    *out = ds;
    return HR_OK;
nomem:
    hr_dataset_destroy(ds);
    return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", src->name);
}
