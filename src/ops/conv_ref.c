/* Reference kernels: plain loops, single-threaded, double accumulation where
 * it is cheap. They define what the fast kernels must compute. */
#include "hyperrep/ops.h"

#include <float.h>
#include <math.h>
#include <string.h>

int64_t hr_conv_out_size(int64_t in, int k, int stride, int pad)
{
    int64_t span = in + 2 * (int64_t)pad - k;
    if (stride < 1 || span < 0)
        return -1;
    return span / stride + 1;
}

hr_status hr_conv_check(const hr_conv_desc *d, const hr_tensor *x, const hr_tensor *y, hr_error *err)
{
    char xs[64], ys[64];
    if (d->k < 1 || d->k % 2 == 0 || d->stride < 1 || d->pad < 0 || d->groups < 1 || d->cin < 1 || d->cout < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: invalid descriptor k=%d stride=%d pad=%d groups=%d cin=%lld cout=%lld",
                            d->k, d->stride, d->pad, d->groups, (long long)d->cin, (long long)d->cout);
    if (d->cin % d->groups || d->cout % d->groups)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: groups=%d does not divide cin=%lld and cout=%lld",
                            d->groups, (long long)d->cin, (long long)d->cout);
    if (x->ndim != 4 || y->ndim != 4 || !hr_tensor_is_contiguous(x) || !hr_tensor_is_contiguous(y))
        return hr_error_set(err, HR_ERR_SHAPE, "conv: x and y must be contiguous NCHW");
    hr_tensor_shape_str(x, xs, sizeof xs);
    hr_tensor_shape_str(y, ys, sizeof ys);
    if (x->shape[1] != d->cin)
        return hr_error_set(err, HR_ERR_SHAPE, "conv: input %s has %lld channels, expected %lld", xs,
                            (long long)x->shape[1], (long long)d->cin);
    if (y->shape[0] != x->shape[0] || y->shape[1] != d->cout ||
        y->shape[2] != hr_conv_out_size(x->shape[2], d->k, d->stride, d->pad) ||
        y->shape[3] != hr_conv_out_size(x->shape[3], d->k, d->stride, d->pad))
        return hr_error_set(err, HR_ERR_SHAPE, "conv: output %s does not fit input %s (cout=%lld k=%d stride=%d pad=%d)",
                            ys, xs, (long long)d->cout, d->k, d->stride, d->pad);
    return HR_OK;
}

static float epilogue(float v, float old, unsigned flags)
{
    if (flags & HR_EPI_ACCUMULATE)
        v += old;
    if ((flags & HR_EPI_RELU) && v < 0)
        v = 0;
    return v;
}

hr_status hr_conv2d_ref(const hr_conv_desc *d, const hr_tensor *x, const float *w, const float *bias,
                        unsigned flags, hr_tensor *y, hr_error *err)
{
    hr_status st = hr_conv_check(d, x, y, err);
    if (st)
        return st;
    const int64_t N = x->shape[0], H = x->shape[2], W = x->shape[3];
    const int64_t OH = y->shape[2], OW = y->shape[3];
    const int64_t cig = d->cin / d->groups, cog = d->cout / d->groups;
    const int k = d->k;

    for (int64_t n = 0; n < N; n++)
        for (int64_t co = 0; co < d->cout; co++) {
            const int64_t g = co / cog;
            const float *wk = w + co * cig * k * k;
            float *yo = y->data + (n * d->cout + co) * OH * OW;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = bias ? bias[co] : 0.0;
                    for (int64_t ci = 0; ci < cig; ci++) {
                        const float *xc = x->data + (n * d->cin + g * cig + ci) * H * W;
                        for (int kh = 0; kh < k; kh++) {
                            int64_t ih = oh * d->stride - d->pad + kh;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int kw = 0; kw < k; kw++) {
                                int64_t iw = ow * d->stride - d->pad + kw;
                                if (iw < 0 || iw >= W)
                                    continue;
                                acc += (double)xc[ih * W + iw] * wk[(ci * k + kh) * k + kw];
                            }
                        }
                    }
                    float *o = yo + oh * OW + ow;
                    *o = epilogue((float)acc, *o, flags);
                }
        }
    return HR_OK;
}

void hr_affine_ref(const hr_tensor *x, const float *scale, const float *shift, unsigned flags, hr_tensor *y)
{
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *xi = x->data + (n * C + c) * HW;
            float *yo = y->data + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++)
                yo[i] = epilogue(xi[i] * scale[c] + shift[c], yo[i], flags);
        }
}

void hr_add_ref(const hr_tensor *a, const hr_tensor *b, unsigned flags, hr_tensor *y)
{
    const int64_t n = hr_tensor_numel(a);
    for (int64_t i = 0; i < n; i++)
        y->data[i] = epilogue(a->data[i] + b->data[i], y->data[i], flags);
}

void hr_relu_ref(hr_tensor *x)
{
    const int64_t n = hr_tensor_numel(x);
    for (int64_t i = 0; i < n; i++)
        if (x->data[i] < 0)
            x->data[i] = 0;
}

void hr_global_avgpool_ref(const hr_tensor *x, hr_tensor *y)
{
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double acc = 0;
            const float *xi = x->data + (n * C + c) * HW;
            for (int64_t i = 0; i < HW; i++)
                acc += xi[i];
            y->data[n * C + c] = (float)(acc / (double)HW);
        }
}

void hr_linear_ref(const hr_tensor *x, const float *w, const float *b, hr_tensor *y)
{
    const int64_t N = x->shape[0], I = x->shape[1], O = y->shape[1];
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t i = 0; i < I; i++)
                acc += (double)x->data[n * I + i] * w[o * I + i];
            y->data[n * O + o] = (float)acc;
        }
}

void hr_argmax(const hr_tensor *x, int64_t *idx)
{
    const int64_t N = x->shape[0], K = x->shape[1];
    for (int64_t n = 0; n < N; n++) {
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (x->data[n * K + k] > x->data[n * K + best])
                best = k;
        idx[n] = best;
    }
}
