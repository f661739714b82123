/* Portable micro-kernel (see conv_kernels.h). A panel is worked on in blocks
 * of 16 columns with an mr x 16 accumulator block that compilers keep in
 * vector registers (4 NEON or 4 SSE registers per row). */
#include <string.h>

#include "ops/conv_kernels.h"
#include "ops/conv_wino_tmpl.h"

#define GEN_MR 6
#define GEN_NB 16

/* One block of up to GEN_MR rows and GEN_NB columns; MR is a compile-time
 * constant in every call so the loops unroll. */
static inline void block(const int MR, int64_t kc, const float *const *a, const float *b, int64_t ldb, float *c,
                         int64_t ldc, int nc, int load_c, const float *rbias, int relu)
{
    float acc[GEN_MR][GEN_NB];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < GEN_NB; j++)
            acc[i][j] = (load_c && j < nc) ? c[i * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; k++) {
        const float *bk = b + k * ldb;
        for (int i = 0; i < MR; i++) {
            float av = a[i][k];
            for (int j = 0; j < GEN_NB; j++)
                acc[i][j] += av * bk[j];
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < nc; j++) {
            float v = rbias ? acc[i][j] + rbias[i] : acc[i][j];
            c[i * ldc + j] = relu && v < 0 ? 0.0f : v;
        }
}

/* A block narrower than GEN_NB: reads only nc columns of b. */
static void block_narrow(int mr, int64_t kc, const float *const *a, const float *b, int64_t ldb, float *c,
                         int64_t ldc, int nc, int load_c, const float *rbias, int relu)
{
    float acc[GEN_MR][GEN_NB];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nc; j++)
            acc[i][j] = load_c ? c[i * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nc; j++)
                acc[i][j] += a[i][k] * b[k * ldb + j];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nc; j++) {
            float v = rbias ? acc[i][j] + rbias[i] : acc[i][j];
            c[i * ldc + j] = relu && v < 0 ? 0.0f : v;
        }
}

static void gemm_generic(int mr, int64_t kc, const float *const *a, const float *b, int64_t ldb, float *c,
                         int64_t ldc, int nc, int load_c, const float *rbias, int relu)
{
    for (int j0 = 0; j0 < nc; j0 += GEN_NB) {
        int n = nc - j0 < GEN_NB ? nc - j0 : GEN_NB;
        for (int i0 = 0; i0 < mr; i0 += GEN_MR) {
            int m = mr - i0 < GEN_MR ? mr - i0 : GEN_MR;
            const float *const *ai = a + i0;
            const float *rb = rbias ? rbias + i0 : NULL;
            float *ci = c + i0 * ldc + j0;
            if (n < GEN_NB) {
                block_narrow(m, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rbias ? rbias + i0 : NULL, relu);
                continue;
            }
            switch (m) {
            case 1: block(1, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 2: block(2, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 3: block(3, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 4: block(4, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 5: block(5, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            default: block(6, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            }
        }
    }
}

static void wino_in_generic(int kind, const float *base, int64_t ntiles, int64_t rowstride, int64_t cp, float *v,
                            int64_t estride)
{
    hr__wino_input_row(kind, base, ntiles, rowstride, cp, v, estride);
}

static void wino_out_generic(int kind, const float *mt, int nc, float *out, int64_t rowstride, int nr, int ncol)
{
    hr__wino_output_tile(kind, mt, nc, out, rowstride, nr, ncol);
}

static void wino_weight_generic(int kind, const float *src, int64_t cig, float *dst)
{
    hr__wino_weight_panel(kind, src, cig, dst);
}

static const hr__conv_kernels generic = {HR_CONV_ISA_GENERIC, "generic", gemm_generic, hr__conv_nhwc_generic, hr__conv_store_generic,
                                         wino_in_generic, wino_out_generic, wino_weight_generic, {GEN_MR, GEN_MR, GEN_MR, GEN_MR, GEN_MR}};

const hr__conv_kernels *hr__conv_kernels_generic(void) { return &generic; }

const hr__conv_kernels *hr__conv_kernels_get(hr_conv_isa isa)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    switch (isa) {
    case HR_CONV_ISA_AUTO:
        return has512 ? hr__conv_kernels_avx512() : has2 ? hr__conv_kernels_avx2() : &generic;
    case HR_CONV_ISA_AVX512: return has512 ? hr__conv_kernels_avx512() : NULL;
    case HR_CONV_ISA_AVX2: return has2 ? hr__conv_kernels_avx2() : NULL;
    case HR_CONV_ISA_GENERIC: return &generic;
    default: return NULL;
    }
#else
    return (isa == HR_CONV_ISA_AUTO || isa == HR_CONV_ISA_GENERIC) ? &generic : NULL;
#endif
}
