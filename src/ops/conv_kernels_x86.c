/* x86-64 micro-kernels (see conv_kernels.h): AVX2+FMA and AVX-512F, each
 * compiled through a target attribute so the file builds without -march and
 * the CPU check in hr__conv_kernels_get decides which one runs.
 *
 * AVX-512: an mr x (16*nv) accumulator block in zmm registers, mr <= 6 for
 * four vectors (24 accumulators + 4 panel vectors + 1 broadcast of 32
 * registers) and mr <= 8 for narrower panels. Each k step loads nv panel
 * vectors and broadcasts mr input values: 10 loads per 24 FMAs at full
 * width, within Zen 4/5 and Skylake-X load bandwidth.
 * AVX2: the panel is taken 16 columns at a time (2 ymm), mr <= 6. */
#if defined(__x86_64__)

#include <immintrin.h>

#include "ops/conv_kernels.h"
#include "ops/conv_wino_tmpl.h"

#define ATTR512 __attribute__((target("avx512f,fma"), always_inline)) static inline
#define ATTR2 __attribute__((target("avx2,fma"), always_inline)) static inline

ATTR512 void mk512(const int MR, const int NV, int64_t kc, const float *const *a, const float *b, int64_t ldb,
                   float *c, int64_t ldc, __mmask16 last, int load_c, const float *rbias, int relu)
{
    __m512 acc[8][4];
    const float *ap[8];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        ap[i] = a[i];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __mmask16 m = v == NV - 1 ? last : (__mmask16)0xffff;
            acc[i][v] = load_c ? _mm512_maskz_loadu_ps(m, c + i * ldc + 16 * v) : _mm512_setzero_ps();
        }
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, b + k * ldb + 16 * v) : _mm512_loadu_ps(b + k * ldb + 16 * v);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(ap[i][k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        const __m512 bi = _mm512_set1_ps(rbias ? rbias[i] : 0.0f), zero = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __mmask16 m = v == NV - 1 ? last : (__mmask16)0xffff;
            __m512 r = rbias ? _mm512_add_ps(acc[i][v], bi) : acc[i][v];
            _mm512_mask_storeu_ps(c + i * ldc + 16 * v, m, relu ? _mm512_max_ps(r, zero) : r);
        }
    }
}

#define MK512_ROWS(NV)                                                                                               \
    switch (mr) {                                                                                                    \
    case 1: mk512(1, NV, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break;                                                     \
    case 2: mk512(2, NV, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break;                                                     \
    case 3: mk512(3, NV, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break;                                                     \
    case 4: mk512(4, NV, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break;                                                     \
    case 5: mk512(5, NV, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break;                                                     \
    case 6: mk512(6, NV, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break;                                                     \
    case 7: if (NV < 4) { mk512(7, NV < 4 ? NV : 3, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break; } /* fall through */     \
    default: if (NV < 4) { mk512(8, NV < 4 ? NV : 3, kc, a, b, ldb, c, ldc, last, load_c, rbias, relu); break; }                       \
    }

/* One call of at most 6 rows (4 vectors) or 8 rows (fewer vectors). */
__attribute__((target("avx512f,fma"))) static void gemm_avx512_call(int mr, int64_t kc, const float *const *a,
                                                                        const float *b, int64_t ldb, float *c,
                                                                        int64_t ldc, int nc, int load_c,
                                                                        const float *rbias, int relu)
{
    int nv = (nc + 15) / 16;
    __mmask16 last = (__mmask16)(0xffffu >> (16 * nv - nc));
    switch (nv) {
    case 1: MK512_ROWS(1) break;
    case 2: MK512_ROWS(2) break;
    case 3: MK512_ROWS(3) break;
    default: MK512_ROWS(4) break;
    }
}

static void gemm_avx512(int mr, int64_t kc, const float *const *a, const float *b, int64_t ldb, float *c,
                        int64_t ldc, int nc, int load_c, const float *rbias, int relu)
{
    int step = nc > 48 ? 6 : 8;
    for (int i0 = 0; i0 < mr; i0 += step) {
        int m = mr - i0 < step ? mr - i0 : step;
        gemm_avx512_call(m, kc, a + i0, b, ldb, c + i0 * ldc, ldc, nc, load_c, rbias ? rbias + i0 : NULL,
                         relu);
    }
}

/* AVX2: MR rows x 16 columns (2 ymm), the remainder columns through a
 * stack tile. */
ATTR2 void mk256(const int MR, int64_t kc, const float *const *a, const float *b, int64_t ldb, float *c,
                 int64_t ldc, int nc, int load_c, const float *rbias, int relu)
{
    __m256 acc[6][2];
    float tmp[6][16];
    const int full = nc >= 16;
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (!load_c) {
            acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        } else if (full) {
            acc[i][0] = _mm256_loadu_ps(c + i * ldc);
            acc[i][1] = _mm256_loadu_ps(c + i * ldc + 8);
        } else {
            for (int j = 0; j < 16; j++)
                tmp[i][j] = j < nc ? c[i * ldc + j] : 0.0f;
            acc[i][0] = _mm256_loadu_ps(tmp[i]);
            acc[i][1] = _mm256_loadu_ps(tmp[i] + 8);
        }
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc - 8), lane);
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0, b1;
        if (full) {
            b0 = _mm256_loadu_ps(b + k * ldb);
            b1 = _mm256_loadu_ps(b + k * ldb + 8);
        } else {
            b0 = _mm256_maskload_ps(b + k * ldb, m0);
            b1 = _mm256_maskload_ps(b + k * ldb + 8, m1);
        }
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            __m256 av = _mm256_broadcast_ss(a[i] + k);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        if (rbias) {
            __m256 bi = _mm256_set1_ps(rbias[i]);
            acc[i][0] = _mm256_add_ps(acc[i][0], bi);
            acc[i][1] = _mm256_add_ps(acc[i][1], bi);
        }
        if (relu) {
            acc[i][0] = _mm256_max_ps(acc[i][0], _mm256_setzero_ps());
            acc[i][1] = _mm256_max_ps(acc[i][1], _mm256_setzero_ps());
        }
        if (full) {
            _mm256_storeu_ps(c + i * ldc, acc[i][0]);
            _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
        } else {
            _mm256_storeu_ps(tmp[i], acc[i][0]);
            _mm256_storeu_ps(tmp[i] + 8, acc[i][1]);
            for (int j = 0; j < nc; j++)
                c[i * ldc + j] = tmp[i][j];
        }
    }
}

__attribute__((target("avx2,fma"))) static void gemm_avx2(int mr, int64_t kc, const float *const *a, const float *b,
                                                          int64_t ldb, float *c, int64_t ldc, int nc, int load_c,
                                                          const float *rbias, int relu)
{
    for (int j0 = 0; j0 < nc; j0 += 16) {
        int n = nc - j0;
        for (int i0 = 0; i0 < mr; i0 += 6) {
            const float *const *ai = a + i0;
            const float *rb = rbias ? rbias + i0 : NULL;
            float *ci = c + i0 * ldc + j0;
            switch (mr - i0 < 6 ? mr - i0 : 6) {
            case 1: mk256(1, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 2: mk256(2, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 3: mk256(3, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 4: mk256(4, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            case 5: mk256(5, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            default: mk256(6, kc, ai, b + j0, ldb, ci, ldc, n, load_c, rb, relu); break;
            }
        }
    }
}

/* In-register transpose of a 16 x 16 block: r[i] lane j <-> r[j] lane i. */
ATTR512 void tr16(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* r[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3 */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 s0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44), s1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xee);
        __m512 s2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44), s3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xee);
        t[j] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(s0, s2, 0xdd);
        t[8 + j] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(s1, s3, 0xdd);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* NCHW -> NHWC row (see conv_kernels.h) by 16 x 16 blocks; a step of 2
 * (strided 1x1) keeps the even elements of 32 loaded ones. */
__attribute__((target("avx512f,fma"))) static void nhwc_avx512(const float *src, int64_t cstride, int64_t cin,
                                                           int64_t npix, int step, float *dst, int64_t cp)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    if (step > 2) {
        hr__conv_nhwc_generic(src, cstride, cin, npix, step, dst, cp);
        return;
    }
    for (int64_t i0 = 0; i0 < npix; i0 += 16) {
        const int ni = (int)(npix - i0 < 16 ? npix - i0 : 16);
        const __mmask16 pm = (__mmask16)(0xffffu >> (16 - ni));
        for (int64_t c0 = 0; c0 < cp; c0 += 16) {
            const int ncn = (int)(cin - c0 < 16 ? (cin - c0 > 0 ? cin - c0 : 0) : 16);
            const int nstore = (int)(cp - c0 < 16 ? cp - c0 : 16);
            const __mmask16 cm = (__mmask16)(0xffffu >> (16 - nstore));
            __m512 r[16];
#pragma GCC unroll 16
            for (int c = 0; c < 16; c++) {
                if (c >= ncn) {
                    r[c] = _mm512_setzero_ps();
                } else if (step == 1) {
                    r[c] = _mm512_maskz_loadu_ps(pm, src + (c0 + c) * cstride + i0);
                } else {
                    /* elements 2i of the next 32 (only those inside the row) */
                    const float *p = src + (c0 + c) * cstride + 2 * i0;
                    __mmask16 lo = (__mmask16)(2 * ni - 1 >= 16 ? 0xffffu : 0xffffu >> (16 - (2 * ni - 1)));
                    __mmask16 hi = (__mmask16)(ni > 8 ? 0xffffu >> (16 - (2 * (ni - 8) - 1)) : 0);
                    r[c] = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo, p), even,
                                                  _mm512_maskz_loadu_ps(hi, p + 16));
                }
            }
            tr16(r);
            for (int i = 0; i < ni; i++)
                _mm512_mask_storeu_ps(dst + (i0 + i) * cp + c0, cm, r[i]);
        }
    }
}

/* Panel -> NCHW with the epilogue (see conv_kernels.h): 16 pixels x 16
 * channels per transpose. */
__attribute__((target("avx512f,fma"))) static void store_avx512(float *y, int64_t ystride, const float *src,
                                                            int64_t npix, int nc, const float *bias, unsigned flags)
{
    const int acc = (flags & HR_EPI_ACCUMULATE) != 0, relu = (flags & HR_EPI_RELU) != 0;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t i0 = 0; i0 < npix; i0 += 16) {
        const int ni = (int)(npix - i0 < 16 ? npix - i0 : 16);
        const __mmask16 pm = (__mmask16)(0xffffu >> (16 - ni));
        for (int j0 = 0; j0 < nc; j0 += 16) {
            const int nj = nc - j0 < 16 ? nc - j0 : 16;
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = i < ni ? _mm512_load_ps(src + (i0 + i) * HR_PANEL + j0) : zero;
            tr16(r);
            for (int j = 0; j < nj; j++) {
                float *d = y + (j0 + j) * ystride + i0;
                __m512 v = _mm512_add_ps(r[j], _mm512_set1_ps(bias[j0 + j]));
                if (acc)
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(pm, d));
                if (relu)
                    v = _mm512_max_ps(v, zero);
                _mm512_mask_storeu_ps(d, pm, v);
            }
        }
    }
}

/* The Winograd transforms of conv_wino_tmpl.h, vectorised per target. */
#define WINO_WRAPPERS(SUFFIX, TARGET)                                                                                \
    __attribute__((target(TARGET))) static void wino_in_##SUFFIX(int kind, const float *base, int64_t ntiles,          \
                                                                 int64_t rowstride, int64_t cp, float *v,           \
                                                                 int64_t estride)                                   \
    {                                                                                                                \
        hr__wino_input_row(kind, base, ntiles, rowstride, cp, v, estride);                                              \
    }                                                                                                                \
    __attribute__((target(TARGET))) static void wino_out_##SUFFIX(int kind, const float *mt, int nc, float *out,       \
                                                                  int64_t rowstride, int nr, int ncol)              \
    {                                                                                                                \
        hr__wino_output_tile(kind, mt, nc, out, rowstride, nr, ncol);                                                   \
    }                                                                                                                \
    __attribute__((target(TARGET))) static void wino_weight_##SUFFIX(int kind, const float *src, int64_t cig,          \
                                                                     float *dst)                                    \
    {                                                                                                                \
        hr__wino_weight_panel(kind, src, cig, dst);                                                                     \
    }

WINO_WRAPPERS(avx512, "avx512f,fma")
WINO_WRAPPERS(avx2, "avx2,fma")

static const hr__conv_kernels avx512 = {HR_CONV_ISA_AVX512, "avx512", gemm_avx512, nhwc_avx512, store_avx512,
                                        wino_in_avx512, wino_out_avx512, wino_weight_avx512, {6, 8, 8, 8, 6}};
static const hr__conv_kernels avx2 = {HR_CONV_ISA_AVX2, "avx2", gemm_avx2, hr__conv_nhwc_generic,
                                     hr__conv_store_generic, wino_in_avx2, wino_out_avx2, wino_weight_avx2, {6, 6, 6, 6, 6}};

const hr__conv_kernels *hr__conv_kernels_avx512(void) { return &avx512; }
const hr__conv_kernels *hr__conv_kernels_avx2(void) { return &avx2; }

#else
/* ISO C forbids an empty translation unit. */
typedef int hr__conv_kernels_x86_unused;
#endif
