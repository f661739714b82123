/* Private layout of hr_conv, shared by the convolution implementations
 * (conv.c creates and dispatches; conv_gemm.c and conv_winograd.c compute;
 * conv_layout.c holds the layout changes both use).
 *
 * Both fast paths work on an NHWC copy of the input and on weights packed in
 * panels of HR_PANEL output channels, per group g and panel p:
 *   GEMM:     [g][p][kh][kw][ci][HR_PANEL]   (depth k*k*cig)
 *   Winograd: [g][p][e][ci][HR_PANEL]        (depth E*cig, e a transform element)
 * zero-padded past the group's last output channel. The pixel-major GEMM
 * (1x1 stride 1, and few channels per group such as the RGB stem) keeps the
 * plain [Cout][cig*k*k] rows instead. Only one copy is kept:
 * the layout of the algorithm, or in low-memory mode the GEMM layout (the
 * plain weights' size, k*k values per kernel) from which a Winograd run
 * transforms one panel at a time into thread scratch. */
#ifndef HR_OPS_CONV_INTERNAL_H
#define HR_OPS_CONV_INTERNAL_H

#include "hyperrep/ops.h"
#include "ops/conv_kernels.h"

struct hr_conv {
    hr_ctx *ctx;
    hr_conv_desc desc;
    hr_conv_params params;
    hr_conv_algo algo;    /* the path chosen at create time: GEMM or a WINOGRAD_* */
    const hr__conv_kernels *kern;
    float *bias;          /* [Cout] (zeros when created without bias) */
    float *packed;        /* panels (layout above) */
    size_t packed_bytes;
    int wkind;            /* HR_WINO_* (conv_kernels.h); 0 for GEMM */
    int m, alpha, E;      /* Winograd output tile, input tile, elements (alpha^2); 0 for GEMM */
    int step;             /* input pixels between tiles: m * stride */
    int64_t cig, cog;     /* channels per group */
    int64_t npanel;       /* panels per group: ceil(cog / HR_PANEL) */
    int64_t depth;        /* rows per panel the products use: k*k*cig (GEMM) or E*cig (Winograd) */
    int64_t pdepth;       /* rows per stored panel: depth, or k*k*cig in low-memory mode */
    int pixmajor;         /* GEMM with vectors along pixels, output straight to NCHW (conv_gemm.c) */
};

/* Sizes of one run: derived from the object, the input size and the thread
 * count only, so hr_conv_workspace_bytes and hr_conv_run agree exactly. */
typedef struct hr__conv_plan {
    int64_t N, H, W, OH, OW;
    int64_t Hp, Wp, CP;       /* NHWC input copy: padded height, width, channel stride */
    int64_t top, left;        /* where the image starts in the copy */
    int64_t sample;           /* the copy keeps every sample-th row and column (1x1 stride s, pad 0) */
    int64_t TH, TW, T;        /* Winograd tiles per column, row and image */
    int64_t chunk_rows;       /* output rows (GEMM) or tile rows (Winograd) per work unit */
    int64_t nchunks;
    int64_t npanels;          /* pixel-major: panels of <= 64 output pixels per image */
    int64_t panel_w;          /* pixel-major im2col: pixels per panel, panels stay within a row */
    int threads;
    /* workspace, in floats, each part rounded up to 16 */
    size_t xp_floats, v_floats;                 /* shared */
    size_t c_floats, o_floats, w_floats, a_floats; /* per thread */
    size_t per_thread_floats, total_bytes;
} hr__conv_plan;

void hr__conv_plan_make(const hr_conv *conv, int64_t n, int64_t h, int64_t w, int threads, hr__conv_plan *plan);

/* Packs the panel (g, p) of the plain weights w into dst (k*k*cig *
 * HR_PANEL floats) in the GEMM layout. */
void hr__conv_pack_panel(const hr_conv *conv, const float *w, int64_t g, int64_t p, float *dst);

/* Fills the NHWC copy xp (plan->Hp x plan->Wp x plan->CP, image at
 * (plan->top, plan->left), sampled every plan->sample pixels, zeros
 * elsewhere, channels past Cin zero) of image x, with the object's kernels. */
void hr__conv_to_nhwc(hr_ctx *ctx, const hr_conv *conv, const hr__conv_plan *plan, const float *x, float *xp);

/* The work of one image's products (direct-convolution FLOPs, input,
 * output and weight bytes), for the pool's grain rule. */
hr_work hr__conv_work(const hr_conv *conv, const hr__conv_plan *plan);

void hr__conv_gemm_run(hr_ctx *ctx, const hr_conv *conv, const hr__conv_plan *plan, const hr_tensor *x,
                       unsigned flags, hr_tensor *y, float *ws);
void hr__conv_winograd_run(hr_ctx *ctx, const hr_conv *conv, const hr__conv_plan *plan, const hr_tensor *x,
                           unsigned flags, hr_tensor *y, float *ws);

#endif
