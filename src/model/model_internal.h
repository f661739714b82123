/* Private layout of hr_model, shared by model.c (structure, weights),
 * block.c (fusion, γ) and forward.c (planning, execution). */
#ifndef HR_MODEL_INTERNAL_H
#define HR_MODEL_INTERNAL_H

#include "hyperrep/model.h"

/* Folded BatchNorm of one branch: y = x * scale + shift per output channel. */
typedef struct hr__bn {
    float *weight, *bias, *mean, *var; /* [channels]; NULL when absent */
} hr__bn;

/* One stream of an applied γ: a conv (k = 3 or 1) or a per-channel affine. */
typedef struct hr__stream {
    hr_kernel_kind kind;
    hr_conv *conv;         /* K3 / K1 */
    float *scale, *shift;  /* ID */
} hr__stream;

typedef struct hr__block {
    char name[24];
    int index;                      /* -1 for stage 0 */
    int64_t cin, cout, in_h, in_w, out_h, out_w;
    int stride, groups;
    unsigned existing;
    float alpha[HR_BRANCH_COUNT];
    int deploy_only;                /* rbr_reparam checkpoint block */
    int sources_dropped;

    /* Training-time weights (each its own allocation, freed by drop_sources). */
    float *dense_w;                 /* [cout, cin/g, 3, 3] (deploy form: the reparam kernel) */
    float *dense_b;                 /* deploy form only: [cout] */
    hr__bn dense_bn;
    float *k1_w;                    /* [cout, cin/g, 1, 1] */
    hr__bn k1_bn;
    hr__bn id_bn;

    int gamma;                      /* -1: none applied */
    int nstreams;
    hr__stream streams[3];
    size_t ws_bytes;                /* workspace one forward needs (per planned batch) */
} hr__block;

struct hr_model {
    hr_ctx *ctx;
    const hr_arch *arch;
    hr_model_params params;
    int64_t in_channels, input_size, num_classes;
    int nblocks;
    hr__block stage0;
    hr__block *blocks;
    float *linear_w, *linear_b;     /* [classes, features], [classes] */

    /* Plan: three activation buffers and one workspace, sized for planned_batch. */
    int64_t planned_batch;
    size_t act_floats, ws_bytes;
    float *act[3];
    void *ws;
};

/* Frees the executable form of a block (its streams). */
void hr__block_clear_streams(hr_model *m, hr__block *b);
/* Allocates zeroed training-time tensors for the block's existing branches
 * (the deploy form: one 3x3 kernel and bias). */
hr_status hr__block_alloc_sources(hr_model *m, hr__block *b, hr_error *err);
/* Allocates the linear layer if needed. */
hr_status hr__model_alloc_classifier(hr_model *m, hr_error *err);
/* Random training-time weights for one block (see hr_model_init_random). */
hr_status hr__block_init_random(hr_model *m, hr__block *b, uint64_t seed, hr_error *err);
hr_status hr__model_init_random_classifier(hr_model *m, uint64_t seed, hr_error *err);
/* Frees the training-time weights of a block. */
void hr__block_free_sources(hr_model *m, hr__block *b);
/* Fuses and prepacks γ for block b (stage 0 included) with the given α. */
hr_status hr__block_apply(hr_model *m, hr__block *b, int gamma, const float *alpha, hr_error *err);
/* Runs the applied streams of b: x [B, cin, H, W] → y [B, cout, OH, OW]. */
hr_status hr__block_run(hr_model *m, const hr__block *b, const hr_tensor *x, hr_tensor *y, void *ws, hr_error *err);
/* Branches a block of this shape has in RepVGG: dense and 1x1, plus the
 * identity when the shape is preserved (never for stage 0). */
unsigned hr__block_default_branches(const hr__block *b);
/* Live branch mask of b (existing and α != 0). */
unsigned hr__block_live(const hr__block *b);

#endif
