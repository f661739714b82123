/* Inner kernels of the fast convolution paths, one set per instruction set.
 *
 * Every product in hr_conv (the implicit GEMM of a direct convolution and the
 * per-element products of Winograd) is cut into calls of one micro-kernel:
 *
 *   C[i][j] (+)= sum_{k < kc} a[i][k] * b[k * ldb + j],  i < mr, j < nc <= 64
 *
 * a is a list of mr row pointers, b a row-major panel (rows ldb floats
 * apart, nc floats read per row), c rows ldc apart.
 * Vectors run along j, so a panel row is loaded once and each a value is
 * broadcast. Two orientations use it: channel-major (a = input pixels of an
 * NHWC image or Winograd tiles, b = packed weights with HR_PANEL output
 * channels per k, ldb = HR_PANEL) and pixel-major (a = weight rows, b = 64
 * pixels of the input or of an im2col panel, c = the NCHW output itself).
 * The sum over k runs in order 0..kc-1 for every element, whatever mr, so
 * results do not depend on how rows were grouped into calls or on the
 * thread count.
 *
 * The generic set is portable C11 (compilers vectorise it on ARM64 NEON as on
 * x86 SSE); the AVX2 and AVX-512 sets exist only on x86-64 and are compiled
 * with per-function target attributes and chosen at run time, so no build
 * needs -march. */
#ifndef HR_OPS_CONV_KERNELS_H
#define HR_OPS_CONV_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ops.h"

#define HR_PANEL 64   /* output channels per packed weight panel */
#define HR_MR_MAX 8   /* most rows one micro-kernel call takes */

/* load_c: add to the current C instead of overwriting it. */
/* rbias (nullable): adds rbias[i] to row i of the result; relu: then clamps
 * it at zero (both after the sum, for the last call over a row). */
typedef void (*hr__gemm_fn)(int mr, int64_t kc, const float *const *a, const float *b, int64_t ldb, float *c,
                            int64_t ldc, int nc, int load_c, const float *rbias, int relu);

/* NCHW -> NHWC for one row: dst[i * cp + c] = src[c * cstride + i * step]
 * for i < npix, c < cin; channels cin..cp-1 of each pixel are zeroed. */
typedef void (*hr__nhwc_fn)(const float *src, int64_t cstride, int64_t cin, int64_t npix, int step, float *dst,
                            int64_t cp);

/* Panel -> NCHW with the epilogue: y[j * ystride + i] = epi(src[i * HR_PANEL
 * + j] + bias[j]) for i < npix, j < nc (HR_EPI_* flags). */
typedef void (*hr__store_fn)(float *y, int64_t ystride, const float *src, int64_t npix, int nc, const float *bias,
                             unsigned flags);

/* Winograd kinds and transforms (conv_wino_tmpl.h has the contracts). */
enum { HR_WINO_F2 = 1, HR_WINO_F4 = 2, HR_WINO_F2S2 = 3 };
typedef void (*hr__wino_in_fn)(int kind, const float *base, int64_t ntiles, int64_t rowstride, int64_t cp, float *v,
                               int64_t estride);
typedef void (*hr__wino_out_fn)(int kind, const float *mt, int nc, float *out, int64_t rowstride, int nr, int ncol);
typedef void (*hr__wino_weight_fn)(int kind, const float *src, int64_t cig, float *dst);

typedef struct hr__conv_kernels {
    hr_conv_isa isa;
    const char *name;
    hr__gemm_fn gemm;
    hr__nhwc_fn nhwc;
    hr__store_fn store;
    hr__wino_in_fn wino_in;
    hr__wino_out_fn wino_out;
    hr__wino_weight_fn wino_weight;
    int mr[5];   /* rows per call the kernel is tuned for, by 16-column vectors in the panel (1..4) */
} hr__conv_kernels;

/* The kernel set for isa (AUTO: the best the CPU supports), or NULL when the
 * build or the CPU lacks it. */
const hr__conv_kernels *hr__conv_kernels_get(hr_conv_isa isa);

const hr__conv_kernels *hr__conv_kernels_generic(void);
void hr__conv_nhwc_generic(const float *src, int64_t cstride, int64_t cin, int64_t npix, int step, float *dst,
                           int64_t cp);
void hr__conv_store_generic(float *y, int64_t ystride, const float *src, int64_t npix, int nc, const float *bias,
                            unsigned flags);
#if defined(__x86_64__)
const hr__conv_kernels *hr__conv_kernels_avx2(void);
const hr__conv_kernels *hr__conv_kernels_avx512(void);
#endif

#endif
