/* Private layout of hr_trainer, shared by trainer.c (creation, parameters,
 * SGD, state) and pass.c (forward and backward passes). */
#ifndef HR_TRAIN_INTERNAL_H
#define HR_TRAIN_INTERNAL_H

#include "hyperrep/train.h"
#include "model/model_internal.h"
#include "ops/grad_internal.h"

/* One trained layer: stage 0 or a block of stages 1-4. */
typedef struct hr__tlayer {
    hr__block *b;
    int64_t cin, cout, H, W, OH, OW;
    int64_t P;                 /* OH * OW */
    int64_t cig, cog;
    int stride, groups;
    unsigned live;             /* branches computed (existing, α != 0) */
    int kk, centre;            /* column rows per input channel: 9 (dense live) or 1; the 1x1 tap's row */
    int direct;                /* kk == 1 and stride 1: the input is its own column matrix */
    int rot;                   /* α mode, 3x3 stride 1: backward data as a forward conv of the
                                  gradient with the fused kernel rotated 180° (im2col, no col2im) */
    float alpha[HR_BRANCH_COUNT];

    /* BN folded into the branches (inference mode): conv weights without bias
     * plus per-channel biases; identity scale and shift. */
    float *fw3, *fb3, *fw1, *fb1, *fs_id, *ft_id;
    float *kf;                 /* α mode: fused kernel, transposed per group: [g][cig * kk][cog],
                                  or (rot) rotated: [g][cig][cog * 9] */

    /* activations, [cout, batch, OH, OW] */
    float *out, *z3, *z1;

    /* per-channel scratch: dα terms, BN batch statistics */
    double *dal[HR_BRANCH_COUNT];  /* [chunk][cout] */
    float *mean[HR_BRANCH_COUNT], *invstd[HR_BRANCH_COUNT];

    /* gradients */
    float *gw3, *gw1, *gbn_w[HR_BRANCH_COUNT], *gbn_b[HR_BRANCH_COUNT];
    float galpha[HR_BRANCH_COUNT];
} hr__tlayer;

struct hr_trainer {
    hr_model *model;
    hr_ctx *ctx;
    hr_trainer_params params;
    float eps;
    int nlayers;               /* stage 0 + blocks */
    hr__tlayer *layers;
    /* Layers [lo, hi) are this trainer's (whole: [0, nlayers); head:
     * [0, s + 1); tail: [s + 1, nlayers)). The others keep only their
     * geometry, except that a tail's layer lo - 1 keeps its `out` buffer:
     * the features arrive there as the input of layer lo. */
    int lo, hi;
    int64_t head_n;            /* batch of the last head_forward, 0 when none is pending */
    int folded_valid;          /* the folded weights match the current ones */

    /* α mode and prediction run per chunk of HR__CHUNK samples, one work
     * unit each: samples are independent there (BN in inference mode), so
     * one parallel region covers the whole pass. Each chunk owns a
     * contiguous slice of every buffer below (per-sample sizes). */
    int64_t nchunks_max;
    int64_t act_ps, col_ps;    /* floats per sample: gradient (g), column matrix (col) */
    int64_t dcol_ps;           /* floats per sample: column matrix of the data gradient (dcol) */
    double *xent_sum;          /* per chunk */
    int64_t *correct;          /* per chunk */

    /* shared buffers */
    float *xin;                /* input as CNHW */
    float *col, *dcol, *partial;
    float *wt, *dzt, *dwt;     /* transposed weights, one group's dz^T, dW^T */
    float *g[2];               /* gradient ping-pong */
    float *feat, *logits, *dlogits, *dfeat;
    float *glin_w, *glin_b;
    int64_t classes, feat_c;

    /* parameters */
    int nparams;
    hr_train_param *par;
    char *names;               /* storage of the names */
    float *momentum;           /* all momentum buffers */
};

#define HR__CHUNK 8 /* samples per work unit of the chunked passes */

/* pass.c */
/* Recomputes the folded (inference-mode) weights of every layer from the
 * model's current weights. */
void hr__trainer_fold(hr_trainer *t);
/* Forward pass of x (logits in t->logits) and, with labels, the loss and
 * the backward pass (gradients of the trainer's parameters). bn_train: BN
 * in training mode (full mode's training step); otherwise inference mode. */
hr_status hr__trainer_run(hr_trainer *t, const hr_tensor *x, const int64_t *labels, int bn_train,
                          hr_train_stats *stats, hr_error *err);

/* Passes of a part trainer (α mode, arguments already validated; n is the
 * batch). Chunked exactly like the whole pass. */
/* Head: x → features; with for_backward, also builds the fused kernels
 * that head_backward needs. */
void hr__trainer_head_run(hr_trainer *t, const hr_tensor *x, hr_tensor *features, int for_backward);
/* Head: grad_features → dα terms of the head's layers. */
void hr__trainer_head_back(hr_trainer *t, const hr_tensor *grad_features, int64_t n);
/* Tail: features → logits (t->logits); with labels, the loss terms (per
 * chunk), the dα terms and grad_features. */
void hr__trainer_tail_run(hr_trainer *t, const hr_tensor *features, const int64_t *labels,
                          hr_tensor *grad_features);
/* Gradients of the live α of layers [max(lo, 1), hi) from the dα terms of
 * a pass of n samples, plus l1·sign(α); returns their Σ|α|. */
double hr__trainer_alpha_grads(hr_trainer *t, int lo, int hi, int64_t n);

#endif
