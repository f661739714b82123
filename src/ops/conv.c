/* hr_conv: a convolution with prepacked weights. Creation copies the weights
 * and chooses an algorithm once; running only computes. */
#include <stdlib.h>
#include <string.h>

#include "ops/conv_internal.h"

hr_conv_params hr_conv_params_default(void)
{
    hr_conv_params p;
    memset(&p, 0, sizeof p);
    p.algo = HR_CONV_ALGO_AUTO;
    return p;
}

hr_status hr_conv_create(hr_ctx *ctx, const hr_conv_desc *desc, const float *w, const float *bias,
                         const hr_conv_params *params, hr_conv **out, hr_error *err)
{
    hr_conv_params p = params ? *params : hr_conv_params_default();
    const hr_conv_desc *d = desc;
    hr_conv *c;
    int64_t wn;

    if (d->k < 1 || d->k % 2 == 0 || d->stride < 1 || d->pad < 0 || d->groups < 1 || d->cin < 1 || d->cout < 1 ||
        d->cin % d->groups || d->cout % d->groups)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: unsupported descriptor k=%d stride=%d pad=%d groups=%d cin=%lld cout=%lld",
                            d->k, d->stride, d->pad, d->groups, (long long)d->cin, (long long)d->cout);
    if ((unsigned)p.algo >= HR_CONV_ALGO_COUNT)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "conv: unknown algorithm %d", (int)p.algo);
    c = calloc(1, sizeof *c);
    if (!c)
        return hr_error_set(err, HR_ERR_NOMEM, "conv: out of memory");
    c->ctx = ctx;
    c->desc = *d;
    c->params = p;
    c->algo = HR_CONV_ALGO_GEMM;
    wn = d->cout * (d->cin / d->groups) * d->k * d->k;
    c->weight = hr_ctx_alloc(ctx, (size_t)wn * sizeof(float));
    c->bias = hr_ctx_calloc(ctx, (size_t)d->cout * sizeof(float));
    if (!c->weight || !c->bias) {
        hr_conv_destroy(c);
        return hr_error_set(err, HR_ERR_NOMEM, "conv: out of memory for %lld weights", (long long)wn);
    }
    memcpy(c->weight, w, (size_t)wn * sizeof(float));
    if (bias)
        memcpy(c->bias, bias, (size_t)d->cout * sizeof(float));
    *out = c;
    return HR_OK;
}

void hr_conv_destroy(hr_conv *c)
{
    if (!c)
        return;
    hr_ctx_free(c->ctx, c->weight);
    hr_ctx_free(c->ctx, c->bias);
    hr_ctx_free(c->ctx, c->packed);
    free(c);
}

const hr_conv_desc *hr_conv_get_desc(const hr_conv *c) { return &c->desc; }

size_t hr_conv_packed_bytes(const hr_conv *c)
{
    size_t wn = (size_t)(c->desc.cout * (c->desc.cin / c->desc.groups) * c->desc.k * c->desc.k);
    return c->packed_bytes + (wn + (size_t)c->desc.cout) * sizeof(float);
}

size_t hr_conv_workspace_bytes(const hr_conv *c, int64_t n, int64_t h, int64_t w, int threads)
{
    return hr__conv_gemm_workspace(c, n, h, w, threads);
}

hr_status hr_conv_run(hr_ctx *ctx, const hr_conv *c, const hr_tensor *x, unsigned flags, hr_tensor *y,
                      void *workspace, hr_error *err)
{
    hr_status st = hr_conv_check(&c->desc, x, y, err);
    void *own = NULL;
    if (st)
        return st;
    if (!workspace) {
        size_t bytes = hr_conv_workspace_bytes(c, x->shape[0], x->shape[2], x->shape[3], hr_ctx_threads(ctx));
        if (bytes) {
            own = hr_ctx_alloc(ctx, bytes);
            if (!own)
                return hr_error_set(err, HR_ERR_NOMEM, "conv: out of memory for a %zu-byte workspace", bytes);
        }
        workspace = own;
    }
    hr__conv_gemm_run(ctx, c, x, flags, y, workspace);
    hr_ctx_free(ctx, own);
    return HR_OK;
}

void hr__conv_epilogue(float *dst, const float *src, const float *bias, int64_t rows, int64_t hw, unsigned flags)
{
    for (int64_t r = 0; r < rows; r++) {
        float b = bias[r];
        float *d = dst + r * hw;
        const float *s = src + r * hw;
        if (flags & HR_EPI_ACCUMULATE) {
            if (flags & HR_EPI_RELU)
                for (int64_t i = 0; i < hw; i++) {
                    float v = d[i] + s[i] + b;
                    d[i] = v > 0 ? v : 0;
                }
            else
                for (int64_t i = 0; i < hw; i++)
                    d[i] = d[i] + s[i] + b;
        } else {
            if (flags & HR_EPI_RELU)
                for (int64_t i = 0; i < hw; i++) {
                    float v = s[i] + b;
                    d[i] = v > 0 ? v : 0;
                }
            else
                for (int64_t i = 0; i < hw; i++)
                    d[i] = s[i] + b;
        }
    }
}
