/* Building blocks of the fast backward kernels and of the trainer
 * (src/train/), shared privately: im2col / col2im over channel-major batches
 * (CNHW) and a GEMM cut into tiles fixed by the shape.
 *
 * Determinism: every helper splits its work by the problem's shape only,
 * never by the thread count, and each output element is produced by one work
 * unit in a fixed order (reductions split over K are summed in split order),
 * so results are bit-identical whatever the context's thread count. */
#ifndef HR_OPS_GRAD_INTERNAL_H
#define HR_OPS_GRAD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ops.h"
#include "ops/conv_kernels.h"

/* hr_ctx_parallel_for, or a plain loop on the calling thread when ctx is
 * NULL: every helper below takes a NULL context to run inside a work unit
 * of an outer parallel loop (the trainer's per-chunk passes). */
void hr__pfor(hr_ctx *ctx, int64_t n, hr_parallel_fn fn, void *arg);

/* Geometry of an im2col over a CNHW tensor x [C][N][H][W]: rows (c, kh, kw),
 * columns (n, oh, ow). */
typedef struct hr__col_geom {
    int64_t C, N, H, W, OH, OW;
    int k, stride, pad;
} hr__col_geom;

/* Fills g from the sizes; OH/OW from hr_conv_out_size. */
hr__col_geom hr__col_geom_make(int64_t C, int64_t N, int64_t H, int64_t W, int k, int stride, int pad);

/* col[(c*k + kh)*k + kw][n][oh][ow] = x[c][n][oh*s - pad + kh][ow*s - pad + kw],
 * zero outside the image. col holds C*k*k x N*OH*OW floats. */
void hr__im2col_cnhw(hr_ctx *ctx, const hr__col_geom *g, const float *x, float *col);

/* The adjoint: dx[c][n][ih][iw] (+)= sum over every (kh, kw, oh, ow) that
 * read (ih, iw) of col[(c*k + kh)*k + kw][n][oh][ow]. Overwrites dx unless
 * accumulate. One work unit per channel; fixed summation order. */
void hr__col2im_cnhw(hr_ctx *ctx, const hr__col_geom *g, const float *col, int accumulate, float *dx);

/* C (+)= A B, row-major with row strides lda, ldb, ldc (A rows may be any
 * evenly spaced rows of a larger matrix, e.g. the centre-tap rows of a 3x3
 * column matrix), on the convolution micro-kernels. M x N is cut into tiles
 * fixed by the shape and, where the output is small and the reduction long,
 * K into hr__sgemm_splits(M, N, K) chunks whose partial products (in
 * `partial`, splits * M * N floats; NULL: no split) are added in chunk order. */
int hr__sgemm_splits(int64_t M, int64_t N, int64_t K);
void hr__gemm(hr_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
              int accumulate, float *C, int64_t ldc, float *partial);
/* dst[c * ldd + r] (+)= src[r * lds + c] for r < rows, c < cols. */
void hr__transpose(hr_ctx *ctx, const float *src, int64_t rows, int64_t cols, int64_t lds, int accumulate, float *dst,
                   int64_t ldd);

#endif
