/* Winograd transforms F(2x2,3x3) and F(4x4,3x3), written once as plain C
 * over 16 channels at a time and included by each kernel set: the generic
 * one compiles them for the baseline ISA, the x86 ones inline them into
 * functions with AVX2 or AVX-512 target attributes, where the same loops
 * vectorise to full width.
 *
 * Kinds (conv_kernels.h): F(2x2,3x3) and F(4x4,3x3) for stride 1, and
 * F(2x2,3x3) for stride 2 by the even/odd decomposition: along each
 * dimension the taps w0, w2 act on the even input points and form a 2-tap
 * convolution done as F(2,2) (exact integer transforms: B^T = [1 -1 0;
 * 0 1 0; 0 -1 1], G = [1 0; 1 1; 0 1], A^T = [1 1 0; 0 1 1]), while w1
 * multiplies the odd points directly; 3 + 2 = 5 elements per dimension, 25
 * products per 2x2 outputs against 36 direct.
 *
 * Conventions: a transform element e = i * alpha + j (row i, column j);
 * B^T, G and A^T of the stride-1 kinds are those of Lavin & Gray with the
 * points 0, 1, -1 (F2) and 0, 1, -1, 2, -2 (F4) plus infinity. */
#ifndef HR_OPS_CONV_WINO_TMPL_H
#define HR_OPS_CONV_WINO_TMPL_H

#include <stdint.h>
#include <string.h>

#include "ops/conv_kernels.h"

#define HR_WCB 16   /* channels per transform step */

/* Forced inline, so each kernel set's wrapper compiles the transform for its
 * own instruction set. */
#if defined(__GNUC__)
#define HR_WINO_INLINE __attribute__((always_inline)) static inline
#else
#define HR_WINO_INLINE static inline
#endif

static inline int hr__wk_m(int kind) { return kind == HR_WINO_F4 ? 4 : 2; }
static inline int hr__wk_alpha(int kind) { return kind == HR_WINO_F4 ? 6 : kind == HR_WINO_F2S2 ? 5 : 4; }
static inline int hr__wk_step(int kind) { return kind == HR_WINO_F2S2 ? 4 : hr__wk_m(kind); }

/* 1-D transforms along n points st apart into points ost apart. */
static inline void hr__bt2(const float *d, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float d0 = d[c], d1 = d[st + c], d2 = d[2 * st + c], d3 = d[3 * st + c];
        o[c] = d0 - d2;
        o[ost + c] = d1 + d2;
        o[2 * ost + c] = d2 - d1;
        o[3 * ost + c] = d1 - d3;
    }
}

static inline void hr__bt4(const float *d, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float d0 = d[c], d1 = d[st + c], d2 = d[2 * st + c], d3 = d[3 * st + c], d4 = d[4 * st + c],
              d5 = d[5 * st + c];
        o[c] = 4 * d0 - 5 * d2 + d4;
        o[ost + c] = -4 * (d1 + d2) + d3 + d4;
        o[2 * ost + c] = 4 * (d1 - d2) - d3 + d4;
        o[3 * ost + c] = -2 * (d1 - d3) - d2 + d4;
        o[4 * ost + c] = 2 * (d1 - d3) - d2 + d4;
        o[5 * ost + c] = 4 * d1 - 5 * d3 + d5;
    }
}

static inline void hr__at2(const float *m, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float m0 = m[c], m1 = m[st + c], m2 = m[2 * st + c], m3 = m[3 * st + c];
        o[c] = m0 + m1 + m2;
        o[ost + c] = m1 - m2 - m3;
    }
}

static inline void hr__at4(const float *m, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float m0 = m[c], m1 = m[st + c], m2 = m[2 * st + c], m3 = m[3 * st + c], m4 = m[4 * st + c],
              m5 = m[5 * st + c];
        float a = m1 + m2, b = m1 - m2, p = m3 + m4, q = m3 - m4;
        o[c] = m0 + a + p;
        o[ost + c] = b + 2 * q;
        o[2 * ost + c] = a + 4 * p;
        o[3 * ost + c] = b + 8 * q + m5;
    }
}

/* Stride 2: 5 points p0..p4 -> [p0 - p2, p2, p4 - p2, p1, p3]. */
static inline void hr__bts2(const float *d, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float d0 = d[c], d1 = d[st + c], d2 = d[2 * st + c], d3 = d[3 * st + c], d4 = d[4 * st + c];
        o[c] = d0 - d2;
        o[ost + c] = d2;
        o[2 * ost + c] = d4 - d2;
        o[3 * ost + c] = d1;
        o[4 * ost + c] = d3;
    }
}

static inline void hr__ats2(const float *m, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float m0 = m[c], m1 = m[st + c], m2 = m[2 * st + c], m3 = m[3 * st + c], m4 = m[4 * st + c];
        o[c] = m0 + m1 + m3;
        o[ost + c] = m1 + m2 + m4;
    }
}

static inline void hr__bt(int kind, const float *d, float *o, int64_t st, int64_t ost)
{
    if (kind == HR_WINO_F4)
        hr__bt4(d, o, st, ost);
    else if (kind == HR_WINO_F2S2)
        hr__bts2(d, o, st, ost);
    else
        hr__bt2(d, o, st, ost);
}

static inline void hr__at(int kind, const float *m, float *o, int64_t st, int64_t ost)
{
    if (kind == HR_WINO_F4)
        hr__at4(m, o, st, ost);
    else if (kind == HR_WINO_F2S2)
        hr__ats2(m, o, st, ost);
    else
        hr__at2(m, o, st, ost);
}

/* G applied to 3 points st apart, into alpha points ost apart. */
static inline void hr__g2(const float *g, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float g0 = g[c], g1 = g[st + c], g2 = g[2 * st + c];
        o[c] = g0;
        o[ost + c] = 0.5f * (g0 + g1 + g2);
        o[2 * ost + c] = 0.5f * (g0 - g1 + g2);
        o[3 * ost + c] = g2;
    }
}

static inline void hr__gs2(const float *g, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float g0 = g[c], g1 = g[st + c], g2 = g[2 * st + c];
        o[c] = g0;
        o[ost + c] = g0 + g2;
        o[2 * ost + c] = g2;
        o[3 * ost + c] = g1;
        o[4 * ost + c] = g1;
    }
}

static inline void hr__g4(const float *g, float *o, int64_t st, int64_t ost)
{
    for (int c = 0; c < HR_WCB; c++) {
        float g0 = g[c], g1 = g[st + c], g2 = g[2 * st + c];
        o[c] = 0.25f * g0;
        o[ost + c] = (-1.0f / 6) * (g0 + g1 + g2);
        o[2 * ost + c] = (-1.0f / 6) * (g0 - g1 + g2);
        o[3 * ost + c] = (1.0f / 24) * g0 + (1.0f / 12) * g1 + (1.0f / 6) * g2;
        o[4 * ost + c] = (1.0f / 24) * g0 - (1.0f / 12) * g1 + (1.0f / 6) * g2;
        o[5 * ost + c] = g2;
    }
}

static inline void hr__g(int kind, const float *g, float *o, int64_t st, int64_t ost)
{
    if (kind == HR_WINO_F4)
        hr__g4(g, o, st, ost);
    else if (kind == HR_WINO_F2S2)
        hr__gs2(g, o, st, ost);
    else
        hr__g2(g, o, st, ost);
}

/* Input transform of ntiles tiles along a tile row: tile i's alpha x alpha
 * patch starts at base + i * step * cp (rows rowstride apart, pixels cp apart,
 * cp channels, a multiple of 16); V of element e, tile i goes to
 * v + e * estride + i * cp. */
HR_WINO_INLINE void hr__wino_input_row(int kind, const float *base, int64_t ntiles, int64_t rowstride, int64_t cp,
                                      float *v, int64_t estride)
{
    const int a = hr__wk_alpha(kind), step = hr__wk_step(kind);
    float tmp[36 * HR_WCB], out[36 * HR_WCB];
    for (int64_t i = 0; i < ntiles; i++) {
        const float *tb = base + i * step * cp;
        for (int64_t c0 = 0; c0 < cp; c0 += HR_WCB) {
            for (int col = 0; col < a; col++)
                hr__bt(kind, tb + col * cp + c0, tmp + col * HR_WCB, rowstride, a * HR_WCB);
            for (int r = 0; r < a; r++)
                hr__bt(kind, tmp + r * a * HR_WCB, out + r * a * HR_WCB, HR_WCB, HR_WCB);
            float *vt = v + i * cp + c0;
            for (int e = 0; e < a * a; e++)
                memcpy(vt + e * estride, out + e * HR_WCB, HR_WCB * sizeof(float));
        }
    }
}

/* Output transform of one tile: mt holds its alpha^2 elements, HR_PANEL
 * floats each (nc used); the m x m outputs go to out + (r * m + col) *
 * HR_PANEL, for rows r < nr and columns col < ncol (the rest is cut off by
 * the image border). */
HR_WINO_INLINE void hr__wino_output_tile(int kind, const float *mt, int nc, float *out, int64_t rowstride, int nr,
                                        int ncol)
{
    const int a = hr__wk_alpha(kind), m = hr__wk_m(kind);
    float tmp[6 * 4 * HR_WCB], o[4 * 4 * HR_WCB];
    for (int c0 = 0; c0 < nc; c0 += HR_WCB) {
        for (int col = 0; col < a; col++)
            hr__at(kind, mt + col * HR_PANEL + c0, tmp + col * HR_WCB, a * HR_PANEL, a * HR_WCB);
        for (int r = 0; r < m; r++)
            hr__at(kind, tmp + r * a * HR_WCB, o + r * m * HR_WCB, HR_WCB, HR_WCB);
        for (int r = 0; r < nr; r++)
            for (int col = 0; col < ncol; col++)
                memcpy(out + r * rowstride + col * HR_PANEL + c0, o + (r * m + col) * HR_WCB,
                       HR_WCB * sizeof(float));
    }
}

/* Weight transform of a panel: src is a GEMM panel [3][3][cig][HR_PANEL],
 * dst the Winograd panel [alpha^2][cig][HR_PANEL]. */
HR_WINO_INLINE void hr__wino_weight_panel(int kind, const float *src, int64_t cig, float *dst)
{
    const int a = hr__wk_alpha(kind);
    const int64_t tap = cig * HR_PANEL;
    float tmp[6 * 3 * HR_WCB], u[36 * HR_WCB];
    for (int64_t ci = 0; ci < cig; ci++)
        for (int c0 = 0; c0 < HR_PANEL; c0 += HR_WCB) {
            const float *g = src + ci * HR_PANEL + c0;
            /* columns kw: G over kh */
            for (int kw = 0; kw < 3; kw++)
                hr__g(kind, g + kw * tap, tmp + kw * HR_WCB, 3 * tap, 3 * HR_WCB);
            for (int i = 0; i < a; i++)
                hr__g(kind, tmp + i * 3 * HR_WCB, u + i * a * HR_WCB, HR_WCB, HR_WCB);
            for (int e = 0; e < a * a; e++)
                memcpy(dst + (e * cig + ci) * HR_PANEL + c0, u + e * HR_WCB, HR_WCB * sizeof(float));
        }
}

#endif
