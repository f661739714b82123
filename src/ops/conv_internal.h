/* Private layout of hr_conv, shared by the convolution implementations
 * (conv.c dispatches; conv_gemm.c, conv_winograd.c … implement). */
#ifndef HR_OPS_CONV_INTERNAL_H
#define HR_OPS_CONV_INTERNAL_H

#include "hyperrep/ops.h"

struct hr_conv {
    hr_ctx *ctx;
    hr_conv_desc desc;
    hr_conv_params params;
    hr_conv_algo algo;    /* the path chosen at create time (never AUTO) */
    float *weight;        /* [Cout, Cin/g, k, k], kept for GEMM and low-memory paths */
    float *bias;          /* [Cout] (zeros when created without bias) */
    void *packed;         /* algorithm-specific prepacked weights, or NULL */
    size_t packed_bytes;
};

/* GEMM path: im2col (skipped for 1x1 stride 1) + sgemm per group. */
size_t hr__conv_gemm_workspace(const hr_conv *conv, int64_t n, int64_t h, int64_t w, int threads);
void hr__conv_gemm_run(hr_ctx *ctx, const hr_conv *conv, const hr_tensor *x, unsigned flags, hr_tensor *y,
                       void *ws);

/* Applies bias, accumulation and ReLU to `rows` output rows of length hw:
 * dst[r] = epi(src[r] + bias[r]); src may equal dst. */
void hr__conv_epilogue(float *dst, const float *src, const float *bias, int64_t rows, int64_t hw,
                       unsigned flags);

#endif
