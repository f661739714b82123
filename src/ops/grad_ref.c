/* Reference backward kernels: plain loops over NCHW tensors, one thread,
 * double accumulation. They define what the fast kernels (grad_conv.c,
 * grad_eltwise.c) and the trainer must compute, and are themselves checked
 * against central finite differences of the forward references. */
#include <math.h>
#include <string.h>

#include "hyperrep/ops.h"

static float acc(float v, float old, unsigned flags) { return (flags & HR_EPI_ACCUMULATE) ? old + v : v; }

hr_status hr_conv2d_backward_data_ref(const hr_conv_desc *d, const hr_tensor *dy, const float *w, unsigned flags,
                                      hr_tensor *dx, hr_error *err)
{
    hr_status st = hr_conv_check(d, dx, dy, err);
    if (st)
        return st;
    const int64_t N = dx->shape[0], H = dx->shape[2], W = dx->shape[3], OH = dy->shape[2], OW = dy->shape[3];
    const int64_t cig = d->cin / d->groups, cog = d->cout / d->groups;
    const int k = d->k, s = d->stride;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ci = 0; ci < d->cin; ci++) {
            const int64_t g = ci / cig, cl = ci % cig;
            for (int64_t ih = 0; ih < H; ih++)
                for (int64_t iw = 0; iw < W; iw++) {
                    double a = 0;
                    for (int64_t co = g * cog; co < (g + 1) * cog; co++)
                        for (int kh = 0; kh < k; kh++) {
                            int64_t t = ih + d->pad - kh;
                            if (t < 0 || t % s)
                                continue;
                            int64_t oh = t / s;
                            if (oh >= OH)
                                continue;
                            for (int kw = 0; kw < k; kw++) {
                                int64_t u = iw + d->pad - kw;
                                if (u < 0 || u % s)
                                    continue;
                                int64_t ow = u / s;
                                if (ow >= OW)
                                    continue;
                                a += (double)dy->data[((n * d->cout + co) * OH + oh) * OW + ow] *
                                     w[((co * cig + cl) * k + kh) * k + kw];
                            }
                        }
                    float *o = dx->data + ((n * d->cin + ci) * H + ih) * W + iw;
                    *o = acc((float)a, *o, flags);
                }
        }
    return HR_OK;
}

hr_status hr_conv2d_backward_weights_ref(const hr_conv_desc *d, const hr_tensor *x, const hr_tensor *dy,
                                         unsigned flags, float *dw, float *db, hr_error *err)
{
    hr_status st = hr_conv_check(d, x, dy, err);
    if (st)
        return st;
    const int64_t N = x->shape[0], H = x->shape[2], W = x->shape[3], OH = dy->shape[2], OW = dy->shape[3];
    const int64_t cig = d->cin / d->groups, cog = d->cout / d->groups;
    const int k = d->k, s = d->stride;
    for (int64_t co = 0; co < d->cout; co++) {
        const int64_t g = co / cog;
        for (int64_t cl = 0; cl < cig; cl++)
            for (int kh = 0; kh < k; kh++)
                for (int kw = 0; kw < k; kw++) {
                    double a = 0;
                    for (int64_t n = 0; n < N; n++) {
                        const float *xc = x->data + (n * d->cin + g * cig + cl) * H * W;
                        const float *dyc = dy->data + (n * d->cout + co) * OH * OW;
                        for (int64_t oh = 0; oh < OH; oh++) {
                            int64_t ih = oh * s - d->pad + kh;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int64_t ow = 0; ow < OW; ow++) {
                                int64_t iw = ow * s - d->pad + kw;
                                if (iw >= 0 && iw < W)
                                    a += (double)dyc[oh * OW + ow] * xc[ih * W + iw];
                            }
                        }
                    }
                    float *o = dw + ((co * cig + cl) * k + kh) * k + kw;
                    *o = acc((float)a, *o, flags);
                }
        if (db) {
            double a = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t p = 0; p < OH * OW; p++)
                    a += dy->data[(n * d->cout + co) * OH * OW + p];
            db[co] = acc((float)a, db[co], flags);
        }
    }
    return HR_OK;
}

static hr_status bn_check(const hr_tensor *x, const hr_tensor *y, hr_error *err)
{
    if (x->ndim != 4 || !hr_tensor_same_shape(x, y) || !hr_tensor_is_contiguous(x) || !hr_tensor_is_contiguous(y))
        return hr_error_set(err, HR_ERR_SHAPE, "batchnorm: x and y/dy must be contiguous 4-d tensors of equal shape");
    if (x->shape[0] * x->shape[2] * x->shape[3] < 2)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "batchnorm: training mode needs more than 1 value per channel (got %lld)",
                            (long long)(x->shape[0] * x->shape[2] * x->shape[3]));
    return HR_OK;
}

hr_status hr_batchnorm_train_ref(const hr_tensor *x, const float *gamma, const float *beta, float eps, float momentum,
                                 float *running_mean, float *running_var, hr_tensor *y, float *save_mean,
                                 float *save_invstd, hr_error *err)
{
    hr_status st = bn_check(x, y, err);
    if (st)
        return st;
    const int64_t N = x->shape[0], C = x->shape[1], P = x->shape[2] * x->shape[3], M = N * P;
    for (int64_t c = 0; c < C; c++) {
        double mean = 0, var = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < P; p++)
                mean += x->data[(n * C + c) * P + p];
        mean /= (double)M;
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < P; p++) {
                double t = x->data[(n * C + c) * P + p] - mean;
                var += t * t;
            }
        var /= (double)M;
        double invstd = 1.0 / sqrt(var + eps);
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < P; p++) {
                int64_t i = (n * C + c) * P + p;
                y->data[i] = (float)((x->data[i] - mean) * invstd * gamma[c] + beta[c]);
            }
        if (save_mean)
            save_mean[c] = (float)mean;
        if (save_invstd)
            save_invstd[c] = (float)invstd;
        if (running_mean)
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        if (running_var)
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var * (double)M / (double)(M - 1));
    }
    return HR_OK;
}

hr_status hr_batchnorm_train_backward_ref(const hr_tensor *x, const hr_tensor *dy, const float *gamma,
                                          const float *save_mean, const float *save_invstd, unsigned flags,
                                          hr_tensor *dx, float *dgamma, float *dbeta, hr_error *err)
{
    hr_status st = bn_check(x, dy, err);
    if (st)
        return st;
    if (dx && !hr_tensor_same_shape(x, dx))
        return hr_error_set(err, HR_ERR_SHAPE, "batchnorm backward: dx shape differs from x");
    const int64_t N = x->shape[0], C = x->shape[1], P = x->shape[2] * x->shape[3], M = N * P;
    for (int64_t c = 0; c < C; c++) {
        const double mu = save_mean[c], is = save_invstd[c];
        double sg = 0, sgx = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < P; p++) {
                int64_t i = (n * C + c) * P + p;
                sg += dy->data[i];
                sgx += dy->data[i] * (x->data[i] - mu) * is;
            }
        if (dgamma)
            dgamma[c] = (float)sgx;
        if (dbeta)
            dbeta[c] = (float)sg;
        if (!dx)
            continue;
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < P; p++) {
                int64_t i = (n * C + c) * P + p;
                double xh = (x->data[i] - mu) * is;
                double v = gamma[c] * is * (dy->data[i] - sg / (double)M - xh * sgx / (double)M);
                dx->data[i] = acc((float)v, dx->data[i], flags);
            }
    }
    return HR_OK;
}

void hr_affine_backward_ref(const hr_tensor *x, const hr_tensor *dy, const float *scale, unsigned flags,
                            hr_tensor *dx, float *dscale, float *dshift)
{
    const int64_t N = dy->shape[0], C = dy->shape[1], P = dy->shape[2] * dy->shape[3];
    for (int64_t c = 0; c < C; c++) {
        double ss = 0, sb = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < P; p++) {
                int64_t i = (n * C + c) * P + p;
                if (x)
                    ss += (double)dy->data[i] * x->data[i];
                sb += dy->data[i];
                if (dx)
                    dx->data[i] = acc(dy->data[i] * scale[c], dx->data[i], flags);
            }
        if (dscale)
            dscale[c] = (float)ss;
        if (dshift)
            dshift[c] = (float)sb;
    }
}

void hr_relu_backward_ref(const hr_tensor *y, const hr_tensor *dy, unsigned flags, hr_tensor *dx)
{
    const int64_t n = hr_tensor_numel(dy);
    for (int64_t i = 0; i < n; i++)
        dx->data[i] = acc(y->data[i] > 0 ? dy->data[i] : 0.0f, dx->data[i], flags);
}

double hr_dot_ref(const hr_tensor *dy, const hr_tensor *z)
{
    const int64_t n = hr_tensor_numel(dy);
    double a = 0;
    for (int64_t i = 0; i < n; i++)
        a += (double)dy->data[i] * z->data[i];
    return a;
}

void hr_global_avgpool_backward_ref(const hr_tensor *dy, unsigned flags, hr_tensor *dx)
{
    const int64_t N = dx->shape[0], C = dx->shape[1], P = dx->shape[2] * dx->shape[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float v = (float)((double)dy->data[n * C + c] / (double)P);
            for (int64_t p = 0; p < P; p++) {
                float *o = dx->data + (n * C + c) * P + p;
                *o = acc(v, *o, flags);
            }
        }
}

void hr_linear_backward_ref(const hr_tensor *x, const float *w, const hr_tensor *dy, unsigned flags, hr_tensor *dx,
                            float *dw, float *db)
{
    const int64_t N = x->shape[0], I = x->shape[1], O = dy->shape[1];
    if (dx)
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < I; i++) {
                double a = 0;
                for (int64_t o = 0; o < O; o++)
                    a += (double)dy->data[n * O + o] * w[o * I + i];
                dx->data[n * I + i] = acc((float)a, dx->data[n * I + i], flags);
            }
    if (dw)
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++) {
                double a = 0;
                for (int64_t n = 0; n < N; n++)
                    a += (double)dy->data[n * O + o] * x->data[n * I + i];
                dw[o * I + i] = (float)a;
            }
    if (db)
        for (int64_t o = 0; o < O; o++) {
            double a = 0;
            for (int64_t n = 0; n < N; n++)
                a += dy->data[n * O + o];
            db[o] = (float)a;
        }
}

hr_status hr_softmax_xent_ref(const hr_tensor *logits, const int64_t *labels, double *loss, hr_tensor *dlogits,
                              hr_error *err)
{
    if (logits->ndim != 2 || logits->shape[0] < 1 || logits->shape[1] < 1)
        return hr_error_set(err, HR_ERR_SHAPE, "softmax_xent: logits must be [N, K] with N, K >= 1");
    const int64_t N = logits->shape[0], K = logits->shape[1];
    for (int64_t n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= K)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "softmax_xent: sample %lld has label %lld outside 0..%lld",
                                (long long)n, (long long)labels[n], (long long)(K - 1));
    double total = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *z = logits->data + n * K;
        double mx = z[0], se = 0;
        for (int64_t k = 1; k < K; k++)
            if (z[k] > mx)
                mx = z[k];
        for (int64_t k = 0; k < K; k++)
            se += exp((double)z[k] - mx);
        double lse = mx + log(se);
        total += lse - z[labels[n]];
        if (dlogits)
            for (int64_t k = 0; k < K; k++)
                dlogits->data[n * K + k] =
                    (float)((exp((double)z[k] - lse) - (k == labels[n] ? 1.0 : 0.0)) / (double)N);
    }
    *loss = total / (double)N;
    return HR_OK;
}
