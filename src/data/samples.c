/* PNG output for people: one image writer and the per-domain sample sheets. */
#include "data/data_internal.h"
#include "hyperrep/weights.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#define MAX_PNG_SIDE 65536

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    char msg[256];
} membuf;

static void mem_write(png_structp png, png_bytep bytes, png_size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        unsigned char *p;
        while (cap < m->len + n)
            cap *= 2;
        p = realloc(m->data, cap);
        if (!p)
            png_error(png, "out of memory");
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, bytes, n);
    m->len += n;
}

static void mem_flush(png_structp png) { (void)png; }

static void on_error(png_structp png, png_const_charp msg)
{
    membuf *m = png_get_error_ptr(png);
    snprintf(m->msg, sizeof m->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static unsigned char to8(float v)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= 1.0f)
        return 255;
    return (unsigned char)(v * 255.0f + 0.5f);
}

/* Encodes into m; the setjmp lives here so that no local is changed after it. */
static hr_status encode(membuf *m, unsigned char *row, const float *pix, int64_t c, int64_t h, int64_t w, int scale,
                        const char *path, hr_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, m, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;

    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: cannot create a PNG writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: PNG encoding failed: %s", path, m->msg);
    }
    png_set_write_fn(png, m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)(w * scale), (png_uint_32)(h * scale), 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++)
            for (int s = 0; s < scale; s++)
                for (int64_t ch = 0; ch < c; ch++)
                    row[((x * scale + s) * c) + ch] = to8(pix[(ch * h + y) * w + x]);
        for (int s = 0; s < scale; s++)
            png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return HR_OK;
}

hr_status hr_image_write_png(const char *path, const float *pix, int64_t c, int64_t h, int64_t w, int scale,
                             hr_error *err)
{
    membuf m;
    unsigned char *row;
    hr_status st;

    if (!path || !pix)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "png: path and pixels must not be NULL");
    if ((c != 1 && c != 3) || h < 1 || w < 1 || scale < 1 || scale > 256 || h * scale > MAX_PNG_SIDE ||
        w * scale > MAX_PNG_SIDE)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "%s: cannot write %lldx%lldx%lld at scale %d as PNG (1 or 3 channels, sides up to %d)",
                            path, (long long)c, (long long)h, (long long)w, scale, MAX_PNG_SIDE);
    memset(&m, 0, sizeof m);
    row = malloc((size_t)(w * scale * c));
    if (!row)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    st = encode(&m, row, pix, c, h, w, scale, path, err);
    free(row);
    if (st == HR_OK)
        st = hr_write_file_atomic(path, m.data, m.len, err);
    free(m.data);
    return st;
}

/* Copies sample (c×h×w) into a sheet (c×H×W) at (top, left). */
static void blit(float *sheet, int64_t H, int64_t W, const float *s, int64_t c, int64_t h, int64_t w, int64_t top,
                 int64_t left)
{
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t y = 0; y < h; y++)
            memcpy(sheet + (ch * H + top + y) * W + left, s + (ch * h + y) * w, (size_t)w * sizeof *s);
}

hr_status hr_data_write_samples(const hr_data *d, const char *dir, int per_domain, int scale, hr_error *err)
{
    const hr_dataset *ds;
    int64_t c, h, w, k, rw, oh, per;
    float *sample = NULL, *row = NULL, *all = NULL;
    char *path = NULL;
    hr_status st = HR_OK;

    if (!d || !dir)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "samples: data and dir must not be NULL");
    if (per_domain < 1 || per_domain > 1000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "samples: per_domain = %d, expected 1..1000", per_domain);
    ds = hr_data_pool(d, HR_POOL_TEST);
    c = ds->c;
    h = ds->h;
    w = ds->w;
    if (c != 1 && c != 3)
        return hr_error_set(err, HR_ERR_UNSUPPORTED, "samples: %lld channels cannot be shown as PNG", (long long)c);
    k = per_domain < ds->n ? per_domain : ds->n;
    per = c * h * w;
    rw = k * w + (k - 1);               /* a 1-pixel grey gap between samples */
    oh = (HR_NUM_DOMAINS + 1) * h + HR_NUM_DOMAINS;
    sample = malloc((size_t)per * sizeof *sample);
    row = malloc((size_t)(c * h * rw) * sizeof *row);
    all = malloc((size_t)(c * oh * rw) * sizeof *all);
    path = malloc(strlen(dir) + 32);
    if (!sample || !row || !all || !path) {
        st = hr_error_set(err, HR_ERR_NOMEM, "samples: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < c * oh * rw; i++)
        all[i] = 0.5f;
    for (int dom = -1; dom < HR_NUM_DOMAINS && st == HR_OK; dom++) {
        for (int64_t i = 0; i < c * h * rw; i++)
            row[i] = 0.5f;
        for (int64_t j = 0; j < k && st == HR_OK; j++) {
            st = hr_dataset_get(ds, j, dom, hr_data_seed(d), 0, sample, err);
            if (st == HR_OK)
                blit(row, h, rw, sample, c, h, w, 0, j * (w + 1));
        }
        if (st != HR_OK)
            break;
        blit(all, oh, rw, row, c, h, rw, (int64_t)(dom + 1) * (h + 1), 0);
        if (dom < 0)
            snprintf(path, strlen(dir) + 32, "%s/clean.png", dir);
        else
            snprintf(path, strlen(dir) + 32, "%s/domain_%d.png", dir, dom);
        st = hr_image_write_png(path, row, c, h, rw, scale, err);
    }
    if (st == HR_OK) {
        snprintf(path, strlen(dir) + 32, "%s/overview.png", dir);
        st = hr_image_write_png(path, all, c, oh, rw, scale, err);
    }
done:
    free(sample);
    free(row);
    free(all);
    free(path);
    return st;
}
