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
    HR_CONV_ALGO_AUTO = 0,   /* pick the fastest known path for the shape (see hr_conv_create) */
    HR_CONV_ALGO_GEMM,       /* implicit GEMM over an NHWC copy of the input (pixel-major straight
                                from NCHW for 1x1 stride 1 and for < 32 channels per group) */
    HR_CONV_ALGO_WINOGRAD,   /* Winograd for 3x3 (tile from the shape, S2 for stride 2); GEMM otherwise */
    HR_CONV_ALGO_WINOGRAD_F2,/* Winograd F(2x2, 3x3): 16 products per 4 outputs, weights x16/9 */
    HR_CONV_ALGO_WINOGRAD_F4,/* Winograd F(4x4, 3x3): 36 products per 16 outputs, weights x36/9 */
    HR_CONV_ALGO_WINOGRAD_S2,/* 3x3 stride 2 as even/odd phases with F(2,2): 25 products per 4 outputs
                                (36 direct), weights x25/9 */
    HR_CONV_ALGO_COUNT
} hr_conv_algo;

/* Instruction set of the inner kernels. AUTO takes the best the CPU supports;
 * the others force one (tests, benchmarks) and make hr_conv_create fail with
 * HR_ERR_UNSUPPORTED where the build or the CPU lacks it. */
typedef enum hr_conv_isa {
    HR_CONV_ISA_AUTO = 0,
    HR_CONV_ISA_GENERIC,     /* portable C, every architecture */
    HR_CONV_ISA_AVX2,        /* x86-64 AVX2 + FMA */
    HR_CONV_ISA_AVX512,      /* x86-64 AVX-512F */
    HR_CONV_ISA_COUNT
} hr_conv_isa;

typedef struct hr_conv_params {
    hr_conv_algo algo;
    /* Keep the weights untransformed (k*k values per kernel, reordered for
     * the GEMM kernels: the plain weights' bytes, plus padding of each
     * group's output channels to a multiple of 64) and let a Winograd run
     * transform them panel by panel into its workspace: less memory, a
     * little more time. Otherwise only the copy the algorithm uses is kept
     * (16/9, 25/9 or 36/9 of the plain bytes for Winograd). The caller's
     * array is never kept. */
    int low_memory;
    hr_conv_isa isa;
    /* Expected input height and width (0: unknown). AUTO uses them to choose
     * the Winograd tile; any input size still runs correctly. */
    int64_t height, width;
} hr_conv_params;

hr_conv_params hr_conv_params_default(void);

/* A convolution with its weights prepacked for the fast path. */
typedef struct hr_conv hr_conv;

/* Copies and packs w ([Cout, Cin/groups, k, k]) and bias (nullable); the
 * caller keeps ownership of w and bias. AUTO picks, for 3x3 with at least
 * 16 input and output channels per group:
 *  - stride 1: Winograd F(4x4,3x3) when the expected output is at least
 *    24x24 and a group has at most 256 x 256 channels (its weight copy is
 *    36/9 of the plain one: worth it only where that is small), otherwise
 *    F(2x2,3x3) (16/9 weight memory, less tile padding at 14x14), and GEMM
 *    below a 4x4 output; ask for WINOGRAD_F4 to trade memory for speed;
 *  - stride 2: WINOGRAD_S2 when the expected output is known and at least
 *    8x8, GEMM otherwise (at 7x7 the tile padding eats the saving, and the
 *    weights would grow 25/9);
 * and GEMM for everything else (1x1, fewer channels, other strides).
 * HR_ERR_INVALID_ARG for an unsupported desc, HR_ERR_UNSUPPORTED for an isa
 * the CPU lacks, HR_ERR_NOMEM. */
hr_status hr_conv_create(hr_ctx *ctx, const hr_conv_desc *desc, const float *w, const float *bias,
                         const hr_conv_params *params, hr_conv **out, hr_error *err);
void hr_conv_destroy(hr_conv *conv);
const hr_conv_desc *hr_conv_get_desc(const hr_conv *conv);
/* The algorithm chosen at create time: GEMM, WINOGRAD_F2, _F4 or _S2. */
hr_conv_algo hr_conv_get_algo(const hr_conv *conv);
/* Name of the kernel instruction set in use ("avx512", "avx2", "generic"). */
const char *hr_conv_get_isa_name(const hr_conv *conv);
/* Bytes of weights held by the object: its one packed or transformed copy
 * (the untransformed one in low-memory mode) and the bias. */
size_t hr_conv_packed_bytes(const hr_conv *conv);
/* Scratch bytes hr_conv_run needs for an input of n x cin x h x w on a
 * context with `threads` threads: exactly what the run uses (the NHWC input
 * copy, Winograd's transformed input, per-thread tiles, and in low-memory
 * mode one transformed weight panel per thread), so a plan can size one
 * shared workspace up front. */
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

/* ======================================================================
 * backward: gradients for training (issue 5). Appended section.
 *
 * Reference kernels take NCHW tensors like the forward references above, are
 * single-threaded and accumulate in double. The fast kernels work on
 * channel-major batches ("CNHW": a 4-d view of shape [C, N, H, W], each
 * channel's whole batch contiguous), the layout the trainer keeps its
 * activations in: a convolution over the batch is then one GEMM per group.
 * They run on the context's threads with work split by shape only, so their
 * results do not depend on the thread count.
 *
 * Flags: HR_EPI_ACCUMULATE adds into the gradient output instead of
 * overwriting it (gradients of a tensor used by several branches).
 * ====================================================================== */

/* ---- reference backward kernels (NCHW) ---- */

/* dx (+)= conv_transpose(dy, w): the gradient of hr_conv2d_ref w.r.t. its
 * input. Shapes as hr_conv_check(desc, dx, dy). HR_ERR_SHAPE /
 * HR_ERR_INVALID_ARG like hr_conv_check. */
hr_status hr_conv2d_backward_data_ref(const hr_conv_desc *desc, const hr_tensor *dy, const float *w, unsigned flags,
                                      hr_tensor *dx, hr_error *err);
/* dw (+)= gradient w.r.t. the weights [Cout, Cin/g, k, k]; db (nullable,
 * [Cout]) (+)= gradient w.r.t. the bias. */
hr_status hr_conv2d_backward_weights_ref(const hr_conv_desc *desc, const hr_tensor *x, const hr_tensor *dy,
                                         unsigned flags, float *dw, float *db, hr_error *err);

/* BatchNorm in training mode over x [N, C, H, W] (statistics over N*H*W per
 * channel; PyTorch semantics): y = gamma (x - mean) / sqrt(var + eps) + beta
 * with the biased batch variance. save_mean / save_invstd (nullable, [C])
 * receive mean and 1/sqrt(var + eps) for the backward pass. When
 * running_mean / running_var are not NULL they are updated with `momentum`:
 * r = (1 - momentum) r + momentum * stat, the variance unbiased
 * (var * M / (M - 1), M = N*H*W). HR_ERR_INVALID_ARG when M < 2 (the
 * variance is undefined, as in PyTorch) or shapes disagree. */
hr_status hr_batchnorm_train_ref(const hr_tensor *x, const float *gamma, const float *beta, float eps, float momentum,
                                 float *running_mean, float *running_var, hr_tensor *y, float *save_mean,
                                 float *save_invstd, hr_error *err);
/* Its gradient: dx (+)= d/dx given dy, with the statistics saved by the
 * forward; dgamma and dbeta (nullable, [C]) are overwritten. */
hr_status hr_batchnorm_train_backward_ref(const hr_tensor *x, const hr_tensor *dy, const float *gamma,
                                          const float *save_mean, const float *save_invstd, unsigned flags,
                                          hr_tensor *dx, float *dgamma, float *dbeta, hr_error *err);
/* Gradient of hr_affine_ref (no epilogue) — also BatchNorm in inference mode,
 * whose forward is the affine scale = gamma / sqrt(running_var + eps),
 * shift = beta - running_mean * scale: dx (+)= dy * scale (dx nullable),
 * dscale[c] = sum dy * x, dshift[c] = sum dy (both nullable, overwritten). */
void hr_affine_backward_ref(const hr_tensor *x, const hr_tensor *dy, const float *scale, unsigned flags,
                            hr_tensor *dx, float *dscale, float *dshift);
/* ReLU: dx (+)= dy where y > 0 (y the ReLU's output), else 0. */
void hr_relu_backward_ref(const hr_tensor *y, const hr_tensor *dy, unsigned flags, hr_tensor *dx);
/* Add: y = a + b gives da = db = dy; with scales (the α of a block),
 * y = sum_i s_i z_i, the gradients are dz_i = s_i dy and ds_i = sum(dy * z_i).
 * This computes ds for one term: returns sum(dy * z) in double. */
double hr_dot_ref(const hr_tensor *dy, const hr_tensor *z);
/* Global average pooling: dx[n, c, :, :] (+)= dy[n, c] / (H W). */
void hr_global_avgpool_backward_ref(const hr_tensor *dy, unsigned flags, hr_tensor *dx);
/* Linear y = x w^T + b: dx (+)= dy w, dw = dy^T x, db = sum_n dy (each
 * nullable; dw, db overwritten). x [N, I], dy [N, O], w [O, I]. */
void hr_linear_backward_ref(const hr_tensor *x, const float *w, const hr_tensor *dy, unsigned flags, hr_tensor *dx,
                            float *dw, float *db);
/* Softmax cross-entropy averaged over the batch: logits [N, K], labels in
 * [0, K). *loss = mean_n (logsumexp(logits_n) - logits_n[label_n]);
 * dlogits (nullable, [N, K]) = (softmax - onehot) / N. HR_ERR_INVALID_ARG for
 * a label out of range (naming the sample) or a non-2-d input. */
hr_status hr_softmax_xent_ref(const hr_tensor *logits, const int64_t *labels, double *loss, hr_tensor *dlogits,
                              hr_error *err);

/* ---- fast backward kernels (CNHW, threaded) ---- */

/* Layout changes between NCHW [N, C, H, W] and CNHW [C, N, H, W]. */
void hr_nchw_to_cnhw(hr_ctx *ctx, const hr_tensor *x, hr_tensor *y);
void hr_cnhw_to_nchw(hr_ctx *ctx, const hr_tensor *x, hr_tensor *y);

/* Workspace bytes the three CNHW convolution kernels need for a batch of n
 * images of h x w: the column matrix and the partial sums of a weight
 * gradient whose reduction is split (64-byte multiples). */
size_t hr_conv_cnhw_workspace_bytes(const hr_conv_desc *desc, int64_t n, int64_t h, int64_t w);
/* y = epi(conv(x, w) + bias) on CNHW tensors (x [Cin, N, H, W], y [Cout, N,
 * OH, OW]; w [Cout, Cin/g, k, k]; bias nullable). ws: NULL (allocated per
 * call) or hr_conv_cnhw_workspace_bytes bytes. HR_ERR_SHAPE,
 * HR_ERR_INVALID_ARG, HR_ERR_NOMEM. */
hr_status hr_conv_cnhw_forward(hr_ctx *ctx, const hr_conv_desc *desc, const hr_tensor *x, const float *w,
                               const float *bias, unsigned flags, hr_tensor *y, void *ws, hr_error *err);
/* dx (+)= gradient w.r.t. the input (CNHW). */
hr_status hr_conv_cnhw_backward_data(hr_ctx *ctx, const hr_conv_desc *desc, const hr_tensor *dy, const float *w,
                                     unsigned flags, hr_tensor *dx, void *ws, hr_error *err);
/* dw (+)= gradient w.r.t. the weights; db (nullable) (+)= w.r.t. the bias. */
hr_status hr_conv_cnhw_backward_weights(hr_ctx *ctx, const hr_conv_desc *desc, const hr_tensor *x,
                                        const hr_tensor *dy, unsigned flags, float *dw, float *db, void *ws,
                                        hr_error *err);
/* BatchNorm in training mode on CNHW tensors: as hr_batchnorm_train_ref. */
hr_status hr_batchnorm_cnhw_train(hr_ctx *ctx, const hr_tensor *x, const float *gamma, const float *beta, float eps,
                                  float momentum, float *running_mean, float *running_var, hr_tensor *y,
                                  float *save_mean, float *save_invstd, hr_error *err);
hr_status hr_batchnorm_cnhw_train_backward(hr_ctx *ctx, const hr_tensor *x, const hr_tensor *dy, const float *gamma,
                                           const float *save_mean, const float *save_invstd, unsigned flags,
                                           hr_tensor *dx, float *dgamma, float *dbeta, hr_error *err);
/* Per-channel affine backward on CNHW tensors (BN in inference mode): as
 * hr_affine_backward_ref. */
void hr_affine_cnhw_backward(hr_ctx *ctx, const hr_tensor *x, const hr_tensor *dy, const float *scale,
                             unsigned flags, hr_tensor *dx, float *dscale, float *dshift);
/* Linear backward through BLAS: as hr_linear_backward_ref. */
void hr_linear_backward(hr_ctx *ctx, const hr_tensor *x, const float *w, const hr_tensor *dy, unsigned flags,
                        hr_tensor *dx, float *dw, float *db);

#ifdef __cplusplus
}
#endif
#endif
