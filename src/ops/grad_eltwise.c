/* Fast backward kernels other than convolution, on CNHW batches: layout
 * changes, BatchNorm in training mode, the per-channel affine's gradient and
 * the linear layer's. Each channel's batch is one contiguous row, so every
 * per-channel statistic is one work unit summed in order (double). */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "hyperrep/ops.h"

typedef struct perm_job {
    const float *x;
    float *y;
    int64_t A, B, P; /* x [A][B][P] -> y [B][A][P] */
} perm_job;

static void perm_row(void *arg, int64_t a, int thread)
{
    const perm_job *j = arg;
    (void)thread;
    for (int64_t b = 0; b < j->B; b++)
        memcpy(j->y + (b * j->A + a) * j->P, j->x + (a * j->B + b) * j->P, sizeof(float) * (size_t)j->P);
}

void hr_nchw_to_cnhw(hr_ctx *ctx, const hr_tensor *x, hr_tensor *y)
{
    perm_job j = {x->data, y->data, x->shape[0], x->shape[1], x->shape[2] * x->shape[3]};
    hr_ctx_parallel_for(ctx, j.A, perm_row, &j);
}

void hr_cnhw_to_nchw(hr_ctx *ctx, const hr_tensor *x, hr_tensor *y)
{
    hr_nchw_to_cnhw(ctx, x, y); /* the same permutation of the first two dimensions */
}

typedef struct bn_job {
    const float *x, *dy, *gamma, *beta, *mean_in, *invstd_in, *scale;
    float *y, *dx, *rm, *rv, *mean_out, *invstd_out, *d1, *d2;
    int64_t M;
    float eps, momentum;
    int accumulate;
} bn_job;

static void bn_fwd_channel(void *arg, int64_t c, int thread)
{
    const bn_job *j = arg;
    const float *x = j->x + c * j->M;
    float *y = j->y + c * j->M;
    double mean = 0, var = 0;
    (void)thread;
    for (int64_t i = 0; i < j->M; i++)
        mean += x[i];
    mean /= (double)j->M;
    for (int64_t i = 0; i < j->M; i++) {
        double t = x[i] - mean;
        var += t * t;
    }
    var /= (double)j->M;
    const double invstd = 1.0 / sqrt(var + j->eps);
    const float a = (float)(j->gamma[c] * invstd), b = (float)(j->beta[c] - mean * j->gamma[c] * invstd);
    for (int64_t i = 0; i < j->M; i++)
        y[i] = x[i] * a + b;
    if (j->mean_out)
        j->mean_out[c] = (float)mean;
    if (j->invstd_out)
        j->invstd_out[c] = (float)invstd;
    if (j->rm)
        j->rm[c] = (float)((1.0 - j->momentum) * j->rm[c] + j->momentum * mean);
    if (j->rv)
        j->rv[c] = (float)((1.0 - j->momentum) * j->rv[c] + j->momentum * var * (double)j->M / (double)(j->M - 1));
}

static hr_status bn_check(const hr_tensor *x, const hr_tensor *y, hr_error *err)
{
    if (x->ndim != 4 || !hr_tensor_same_shape(x, y) || !hr_tensor_is_contiguous(x) || !hr_tensor_is_contiguous(y))
        return hr_error_set(err, HR_ERR_SHAPE, "batchnorm (CNHW): x and y/dy must be contiguous 4-d tensors of equal shape");
    if (x->shape[1] * x->shape[2] * x->shape[3] < 2)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "batchnorm: training mode needs more than 1 value per channel (got %lld)",
                            (long long)(x->shape[1] * x->shape[2] * x->shape[3]));
    return HR_OK;
}

hr_status hr_batchnorm_cnhw_train(hr_ctx *ctx, const hr_tensor *x, const float *gamma, const float *beta, float eps,
                                  float momentum, float *running_mean, float *running_var, hr_tensor *y,
                                  float *save_mean, float *save_invstd, hr_error *err)
{
    hr_status st = bn_check(x, y, err);
    if (st)
        return st;
    bn_job j;
    memset(&j, 0, sizeof j);
    j.x = x->data, j.y = y->data, j.gamma = gamma, j.beta = beta, j.rm = running_mean, j.rv = running_var;
    j.mean_out = save_mean, j.invstd_out = save_invstd, j.eps = eps, j.momentum = momentum;
    j.M = x->shape[1] * x->shape[2] * x->shape[3];
    hr_ctx_parallel_for(ctx, x->shape[0], bn_fwd_channel, &j);
    return HR_OK;
}

static void bn_bwd_channel(void *arg, int64_t c, int thread)
{
    const bn_job *j = arg;
    const float *x = j->x + c * j->M, *dy = j->dy + c * j->M;
    const double mu = j->mean_in[c], is = j->invstd_in[c], M = (double)j->M;
    double sg = 0, sgx = 0;
    (void)thread;
    for (int64_t i = 0; i < j->M; i++) {
        sg += dy[i];
        sgx += (double)dy[i] * (x[i] - mu);
    }
    sgx *= is;
    if (j->d1)
        j->d1[c] = (float)sgx;
    if (j->d2)
        j->d2[c] = (float)sg;
    if (!j->dx)
        return;
    float *dx = j->dx + c * j->M;
    const float k = (float)(j->gamma[c] * is), mg = (float)(sg / M), kx = (float)(sgx / M * is);
    for (int64_t i = 0; i < j->M; i++) {
        float v = k * (dy[i] - mg - ((float)(x[i] - mu)) * kx);
        dx[i] = j->accumulate ? dx[i] + v : v;
    }
}

hr_status hr_batchnorm_cnhw_train_backward(hr_ctx *ctx, const hr_tensor *x, const hr_tensor *dy, const float *gamma,
                                           const float *save_mean, const float *save_invstd, unsigned flags,
                                           hr_tensor *dx, float *dgamma, float *dbeta, hr_error *err)
{
    hr_status st = bn_check(x, dy, err);
    if (st)
        return st;
    if (dx && !hr_tensor_same_shape(x, dx))
        return hr_error_set(err, HR_ERR_SHAPE, "batchnorm backward (CNHW): dx shape differs from x");
    bn_job j;
    memset(&j, 0, sizeof j);
    j.x = x->data, j.dy = dy->data, j.gamma = gamma, j.mean_in = save_mean, j.invstd_in = save_invstd;
    j.dx = dx ? dx->data : NULL, j.d1 = dgamma, j.d2 = dbeta, j.accumulate = (flags & HR_EPI_ACCUMULATE) != 0;
    j.M = x->shape[1] * x->shape[2] * x->shape[3];
    hr_ctx_parallel_for(ctx, x->shape[0], bn_bwd_channel, &j);
    return HR_OK;
}

static void affine_bwd_channel(void *arg, int64_t c, int thread)
{
    const bn_job *j = arg;
    const float *dy = j->dy + c * j->M;
    double ss = 0, sb = 0;
    (void)thread;
    for (int64_t i = 0; i < j->M; i++) {
        if (j->x)
            ss += (double)dy[i] * j->x[c * j->M + i];
        sb += dy[i];
    }
    if (j->d1)
        j->d1[c] = (float)ss;
    if (j->d2)
        j->d2[c] = (float)sb;
    if (j->dx) {
        float *dx = j->dx + c * j->M;
        const float s = j->scale[c];
        for (int64_t i = 0; i < j->M; i++)
            dx[i] = j->accumulate ? dx[i] + dy[i] * s : dy[i] * s;
    }
}

void hr_affine_cnhw_backward(hr_ctx *ctx, const hr_tensor *x, const hr_tensor *dy, const float *scale,
                             unsigned flags, hr_tensor *dx, float *dscale, float *dshift)
{
    bn_job j;
    memset(&j, 0, sizeof j);
    j.x = x ? x->data : NULL, j.dy = dy->data, j.scale = scale, j.dx = dx ? dx->data : NULL;
    j.d1 = dscale, j.d2 = dshift, j.accumulate = (flags & HR_EPI_ACCUMULATE) != 0;
    j.M = dy->shape[1] * dy->shape[2] * dy->shape[3];
    hr_ctx_parallel_for(ctx, dy->shape[0], affine_bwd_channel, &j);
}

void hr_linear_backward(hr_ctx *ctx, const hr_tensor *x, const float *w, const hr_tensor *dy, unsigned flags,
                        hr_tensor *dx, float *dw, float *db)
{
    const int64_t nb = x->shape[0], nin = x->shape[1], nout = dy->shape[1];
    (void)ctx; /* classifier-sized: one BLAS call each (cblas.h may define I) */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)nin, (int)nout, 1.0f, dy->data, (int)nout, w,
                    (int)nin, (flags & HR_EPI_ACCUMULATE) ? 1.0f : 0.0f, dx->data, (int)nin);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nout, (int)nin, (int)nb, 1.0f, dy->data, (int)nout, x->data,
                    (int)nin, 0.0f, dw, (int)nin);
    if (db)
        for (int64_t o = 0; o < nout; o++) {
            double a = 0;
            for (int64_t n = 0; n < nb; n++)
                a += dy->data[n * nout + o];
            db[o] = (float)a;
        }
}
