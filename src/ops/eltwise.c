/* Threaded element-wise kernels. They are memory-bound, so the work is split
 * into (image, channel) planes across the context's threads; each plane's
 * loop is simple enough for the compiler to vectorise. */
#include <cblas.h>

#include "hyperrep/ops.h"

typedef struct affine_job {
    const float *x, *scale, *shift;
    float *y;
    int64_t C, HW;
    unsigned flags;
} affine_job;

static void affine_plane(void *arg, int64_t p, int thread)
{
    const affine_job *j = arg;
    const int64_t c = p % j->C;
    const float s = j->scale[c], b = j->shift[c];
    const float *x = j->x + p * j->HW;
    float *y = j->y + p * j->HW;
    (void)thread;
    switch (j->flags & (HR_EPI_ACCUMULATE | HR_EPI_RELU)) {
    case 0:
        for (int64_t i = 0; i < j->HW; i++)
            y[i] = x[i] * s + b;
        break;
    case HR_EPI_RELU:
        for (int64_t i = 0; i < j->HW; i++) {
            float v = x[i] * s + b;
            y[i] = v > 0 ? v : 0;
        }
        break;
    case HR_EPI_ACCUMULATE:
        for (int64_t i = 0; i < j->HW; i++)
            y[i] += x[i] * s + b;
        break;
    default:
        for (int64_t i = 0; i < j->HW; i++) {
            float v = y[i] + x[i] * s + b;
            y[i] = v > 0 ? v : 0;
        }
        break;
    }
}

void hr_affine(hr_ctx *ctx, const hr_tensor *x, const float *scale, const float *shift, unsigned flags, hr_tensor *y)
{
    affine_job j = {x->data, scale, shift, y->data, x->shape[1], x->shape[2] * x->shape[3], flags};
    const hr_work work = {2.0 * (double)hr_tensor_numel(x), 8.0 * (double)hr_tensor_numel(x)};
    hr_ctx_parallel_for_work(ctx, x->shape[0] * x->shape[1], work, affine_plane, &j);
}

typedef struct relu_job {
    float *x;
    int64_t n, chunk;
} relu_job;

static void relu_chunk(void *arg, int64_t i, int thread)
{
    const relu_job *j = arg;
    int64_t lo = i * j->chunk, hi = lo + j->chunk < j->n ? lo + j->chunk : j->n;
    (void)thread;
    for (int64_t k = lo; k < hi; k++)
        j->x[k] = j->x[k] > 0 ? j->x[k] : 0;
}

void hr_relu(hr_ctx *ctx, hr_tensor *x)
{
    relu_job j = {x->data, hr_tensor_numel(x), 1 << 14};
    const hr_work work = {0, 8.0 * (double)j.n};
    hr_ctx_parallel_for_work(ctx, (j.n + j.chunk - 1) / j.chunk, work, relu_chunk, &j);
}

typedef struct pool_job {
    const float *x;
    float *y;
    int64_t HW;
} pool_job;

static void pool_plane(void *arg, int64_t p, int thread)
{
    const pool_job *j = arg;
    const float *x = j->x + p * j->HW;
    double acc = 0;
    (void)thread;
    for (int64_t i = 0; i < j->HW; i++)
        acc += x[i];
    j->y[p] = (float)(acc / (double)j->HW);
}

void hr_global_avgpool(hr_ctx *ctx, const hr_tensor *x, hr_tensor *y)
{
    pool_job j = {x->data, y->data, x->shape[2] * x->shape[3]};
    const hr_work work = {(double)hr_tensor_numel(x), 4.0 * (double)hr_tensor_numel(x)};
    hr_ctx_parallel_for_work(ctx, x->shape[0] * x->shape[1], work, pool_plane, &j);
}

void hr_linear(hr_ctx *ctx, const hr_tensor *x, const float *w, const float *b, hr_tensor *y)
{
    /* cblas.h may pull in <complex.h>, whose macro I rules out short names. */
    const int64_t nb = x->shape[0], nin = x->shape[1], nout = y->shape[1];
    (void)ctx; /* one small GEMM; not worth splitting */
    for (int64_t n = 0; n < nb; n++)
        for (int64_t o = 0; o < nout; o++)
            y->data[n * nout + o] = b ? b[o] : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nout, (int)nin, 1.0f, x->data, (int)nin, w,
                (int)nin, 1.0f, y->data, (int)nout);
}
