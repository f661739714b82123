/* Resize-then-centre-crop, as torchvision's Resize(256) + CenterCrop(224) on a
 * PIL image.
 *
 * Sizes: the shorter side becomes `resize` and the longer int(resize·long /
 * short) (torchvision truncates); the crop's top-left is
 * int(round((size − crop) / 2)) with Python's round-half-to-even.
 * Filter: PIL's bilinear resampling, which is antialiased — when shrinking by
 * a factor s the triangle filter is stretched to support s, so a 500-pixel
 * side going to 256 averages about 4 source pixels per tap, not 2. Only the
 * crop's outputs are computed (each output pixel is independent of the
 * others, so this equals resizing everything and cropping). Like PIL we run
 * the horizontal pass first on the rows the vertical pass needs and round the
 * intermediate and the result to 8 bits; PIL's fixed-point arithmetic can
 * still differ from ours by one level in a few pixels. */
#include "data/data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int grow(void **p, size_t *cap, size_t need)
{
    void *q;
    if (*cap >= need)
        return 1;
    q = malloc(need);
    if (!q)
        return 0;
    free(*p);
    *p = q;
    *cap = need;
    return 1;
}

static double triangle(double x)
{
    if (x < 0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Coefficients of outputs [first, first+count) of a resize from in_size to
 * out_size (PIL's precompute_coeffs for the bilinear filter). For output j:
 * taps bounds[2j] .. bounds[2j] + bounds[2j+1] − 1 with weights
 * coef[j·ksize ...]. */
static void coeffs(int64_t in_size, int64_t out_size, int64_t first, int64_t count, int ksize, float *coef,
                   int *bounds)
{
    double scale = (double)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale, support = filterscale, ss = 1.0 / filterscale;

    for (int64_t j = 0; j < count; j++) {
        double center = ((double)(first + j) + 0.5) * scale, ww = 0.0;
        int64_t xmin = (int64_t)(center - support + 0.5), xmax = (int64_t)(center + support + 0.5);
        float *k = coef + j * ksize;
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize)
            xmax = ksize;
        for (int64_t x = 0; x < xmax; x++) {
            double t = triangle(((double)(x + xmin) - center + 0.5) * ss);
            k[x] = (float)t;
            ww += t;
        }
        for (int64_t x = 0; x < ksize; x++)
            k[x] = x < xmax && ww != 0.0 ? (float)(k[x] / ww) : 0.0f;
        bounds[2 * j] = (int)xmin;
        bounds[2 * j + 1] = (int)xmax;
    }
}

static float round8(float v)
{
    v = floorf(v + 0.5f);
    return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
}

/* Python's round() of d/2 for an integer d >= 0: halves go to the even neighbour. */
static int64_t half_round_even(int64_t d)
{
    int64_t q = d / 2;
    if (d % 2 != 0 && q % 2 != 0)
        q++;
    return q;
}

hr_status hr__resize_crop(const uint8_t *rgb, int64_t w, int64_t h, int resize, int crop, hr__decode_scratch *s,
                          float *out, hr_error *err)
{
    int64_t ow, oh, left, top, ylo, yhi, rows;
    int kx, ky;
    float *cx, *cy, *tmp;
    int *bx, *by;
    size_t ncoef;

    if (resize < 1 || crop < 1 || crop > resize)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "resize %d / crop %d: expected 1 <= crop <= resize", resize,
                            crop);
    if (w <= h) {
        ow = resize;
        oh = (int64_t)((double)resize * (double)h / (double)w);
    } else {
        oh = resize;
        ow = (int64_t)((double)resize * (double)w / (double)h);
    }
    left = half_round_even(ow - crop);
    top = half_round_even(oh - crop);
    /* Taps per output: 2·ceil(support) + 1, PIL's ksize. */
    kx = (int)ceil((double)w / (double)ow < 1.0 ? 1.0 : (double)w / (double)ow) * 2 + 1;
    ky = (int)ceil((double)h / (double)oh < 1.0 ? 1.0 : (double)h / (double)oh) * 2 + 1;
    ncoef = (size_t)crop * (size_t)(kx + ky);
    if (!grow((void **)&s->coef, &s->coef_cap, ncoef * sizeof(float)) ||
        !grow((void **)&s->bounds, &s->bounds_cap, (size_t)crop * 4 * sizeof(int)))
        return hr_error_set(err, HR_ERR_NOMEM, "resize: out of memory");
    cx = s->coef;
    cy = s->coef + (size_t)crop * (size_t)kx;
    bx = s->bounds;
    by = s->bounds + 2 * crop;
    coeffs(w, ow, left, crop, kx, cx, bx);
    coeffs(h, oh, top, crop, ky, cy, by);

    /* Source rows the vertical pass reads. */
    ylo = by[0];
    yhi = by[0] + by[1];
    for (int i = 1; i < crop; i++) {
        if (by[2 * i] < ylo)
            ylo = by[2 * i];
        if (by[2 * i] + by[2 * i + 1] > yhi)
            yhi = by[2 * i] + by[2 * i + 1];
    }
    rows = yhi - ylo;
    if (!grow((void **)&s->tmp, &s->tmp_cap, (size_t)rows * (size_t)crop * 3 * sizeof(float)))
        return hr_error_set(err, HR_ERR_NOMEM, "resize: out of memory");
    tmp = s->tmp;

    for (int64_t y = 0; y < rows; y++) {
        const uint8_t *src = rgb + (size_t)((y + ylo) * w * 3);
        float *dst = tmp + (size_t)(y * crop * 3);
        for (int j = 0; j < crop; j++) {
            const float *k = cx + (size_t)j * (size_t)kx;
            int x0 = bx[2 * j], nx = bx[2 * j + 1];
            float r = 0.0f, g = 0.0f, b = 0.0f;
            for (int t = 0; t < nx; t++) {
                const uint8_t *px = src + 3 * (x0 + t);
                r += k[t] * px[0];
                g += k[t] * px[1];
                b += k[t] * px[2];
            }
            dst[3 * j] = round8(r);
            dst[3 * j + 1] = round8(g);
            dst[3 * j + 2] = round8(b);
        }
    }
    for (int i = 0; i < crop; i++) {
        const float *k = cy + (size_t)i * (size_t)ky;
        int y0 = by[2 * i] - (int)ylo, ny = by[2 * i + 1];
        for (int j = 0; j < crop; j++) {
            float acc[3] = {0.0f, 0.0f, 0.0f};
            for (int t = 0; t < ny; t++) {
                const float *px = tmp + (size_t)((y0 + t) * crop + j) * 3;
                acc[0] += k[t] * px[0];
                acc[1] += k[t] * px[1];
                acc[2] += k[t] * px[2];
            }
            for (int ch = 0; ch < 3; ch++)
                out[(size_t)ch * crop * crop + (size_t)i * crop + j] = round8(acc[ch]) * (1.0f / 255.0f);
        }
    }
    return HR_OK;
}
