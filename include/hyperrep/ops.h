/* Tensor operations over hr_tensor views.
 *
 * Two families live side by side:
 *  - reference kernels (`*_ref`): plain loops, single-threaded, written to be
 *    obviously correct; the tests judge every fast kernel against them;
 *  - fast kernels: convolution through a prepacked hr_conv object (weights are
 *    packed/transformed once, when a γ is applied, never per inference) and
 *    threaded element-wise ops that take the context.
 *
 * Layouts: activations NCHW float32 contiguous; conv weights
 * [Cout, Cin/groups, k, k]; linear weights [out, in].
 *
 * Epilogue flags: HR_EPI_ACCUMULATE adds the result into y instead of
 * overwriting it (how the separate branches of a parallel γ are summed);
 * HR_EPI_RELU applies ReLU to the final value (after accumulation).
 *
 * The backward kernels that training needs (conv w.r.t. input and weights,
 * BN, pooling, linear) take the same descriptors and views. */
#ifndef HYPERREP_OPS_H
#define HYPERREP_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ctx.h"
#include "hyperrep/error.h"
#include "hyperrep/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { HR_EPI_ACCUMULATE = 1u, HR_EPI_RELU = 2u };

typedef struct hr_conv_desc {
    int64_t cin, cout;
    int k;        /* square kernel size: 1 or 3 (the fast path); the reference takes any odd k */
    int stride;   /* 1 or 2 */
    int pad;
    int groups;   /* divides cin and cout */
} hr_conv_desc;

/* Output spatial size of a convolution; -1 when the input is too small. */
int64_t hr_conv_out_size(int64_t in, int k, int stride, int pad);

/* Validates desc against x and y shapes; HR_ERR_SHAPE / HR_ERR_INVALID_ARG with
 * a message naming the mismatching dimension. */
hr_status hr_conv_check(const hr_conv_desc *desc, const hr_tensor *x, const hr_tensor *y, hr_error *err);

/* ---- reference kernels ---- */

/* y = epi(conv(x, w) + bias); bias may be NULL. */
hr_status hr_conv2d_ref(const hr_conv_desc *desc, const hr_tensor *x, const float *w, const float *bias,
                        unsigned flags, hr_tensor *y, hr_error *err);
/* Per-channel affine y[n,c,:,:] = epi(x * scale[c] + shift[c]) (the identity branch). */
void hr_affine_ref(const hr_tensor *x, const float *scale, const float *shift, unsigned flags, hr_tensor *y);
/* y = epi(a + b) element-wise (same shapes). */
void hr_add_ref(const hr_tensor *a, const hr_tensor *b, unsigned flags, hr_tensor *y);
/* In place ReLU. */
void hr_relu_ref(hr_tensor *x);
/* y[n, c] = mean over H, W of x[n, c]. y is [N, C]. */
void hr_global_avgpool_ref(const hr_tensor *x, hr_tensor *y);
/* y[n, o] = sum_i x[n, i] w[o, i] + b[o] (b nullable). x [N, I], y [N, O]. */
void hr_linear_ref(const hr_tensor *x, const float *w, const float *b, hr_tensor *y);
/* idx[n] = argmax over the last dim of x [N, K] (first maximum). */
void hr_argmax(const hr_tensor *x, int64_t *idx);

/* ---- fast kernels ---- */

typedef enum hr_conv_algo {
    HR_CONV_ALGO_AUTO = 0,   /* pick the fastest known path for the shape */
    HR_CONV_ALGO_GEMM,       /* im2col (or direct for 1x1) + sgemm */
    HR_CONV_ALGO_WINOGRAD,   /* Winograd for 3x3 stride 1; falls back to GEMM otherwise */
    HR_CONV_ALGO_COUNT
} hr_conv_algo;

typedef struct hr_conv_params {
    hr_conv_algo algo;
    /* Keep only the plain [Cout, Cin/g, k, k] weights and transform them per
     * run (less memory, more time). */
    int low_memory;
} hr_conv_params;

hr_conv_params hr_conv_params_default(void);

/* A convolution with its weights prepacked for the fast path. */
typedef struct hr_conv hr_conv;

/* Copies and packs w ([Cout, Cin/groups, k, k]) and bias (nullable).
 * HR_ERR_INVALID_ARG for an unsupported desc, HR_ERR_NOMEM. */
hr_status hr_conv_create(hr_ctx *ctx, const hr_conv_desc *desc, const float *w, const float *bias,
                         const hr_conv_params *params, hr_conv **out, hr_error *err);
void hr_conv_destroy(hr_conv *conv);
const hr_conv_desc *hr_conv_get_desc(const hr_conv *conv);
/* Bytes of packed weights held by the object. */
size_t hr_conv_packed_bytes(const hr_conv *conv);
/* Scratch bytes hr_conv_run needs for an input of n x cin x h x w on a
 * context with `threads` threads. */
size_t hr_conv_workspace_bytes(const hr_conv *conv, int64_t n, int64_t h, int64_t w, int threads);
/* y = epi(conv(x) + bias). workspace must hold hr_conv_workspace_bytes bytes
 * (64-byte aligned), or be NULL, in which case the call allocates it.
 * x and y must not alias. */
hr_status hr_conv_run(hr_ctx *ctx, const hr_conv *conv, const hr_tensor *x, unsigned flags, hr_tensor *y,
                      void *workspace, hr_error *err);

/* Threaded equivalents of the reference element-wise kernels. */
void hr_affine(hr_ctx *ctx, const hr_tensor *x, const float *scale, const float *shift, unsigned flags, hr_tensor *y);
void hr_relu(hr_ctx *ctx, hr_tensor *x);
void hr_global_avgpool(hr_ctx *ctx, const hr_tensor *x, hr_tensor *y);
void hr_linear(hr_ctx *ctx, const hr_tensor *x, const float *w, const float *b, hr_tensor *y);

#ifdef __cplusplus
}
#endif
#endif
