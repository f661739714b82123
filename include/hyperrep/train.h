/* Training: backpropagation through the training-time HyperRepVGG and SGD
 * (SPEC §7).
 *
 * A trainer wraps a model in one of two modes:
 *  - HR_TRAIN_ALPHA (code 1): backbone and BatchNorm frozen, BN in inference
 *    mode, only the α of live branches trained. Each branch's BN is folded
 *    into its convolution once, at creation; the forward pass keeps every
 *    branch's output so that dL/dα_b = Σ g ⊙ branch_b, and the gradient is
 *    carried to earlier blocks through one convolution with the block's
 *    fused kernel (Σ α_b K_b, rebuilt per step). No weight gradient is
 *    computed; stage 0 gets no gradient at all. Pruned α (exactly 0) stay 0
 *    and their branches are never computed.
 *  - HR_TRAIN_FULL (base training): every conv weight, every BN weight and
 *    bias and the classifier trained, BN in training mode (batch
 *    statistics; running statistics updated with momentum, unbiased
 *    variance, as PyTorch), α fixed.
 *
 * Loss: mean softmax cross-entropy, plus l1 · Σ|α| over the live α in α mode.
 * Optimiser: SGD with momentum (PyTorch's form: buf = m·buf + g, w -= lr·buf)
 * and weight decay added to the gradient of conv and linear weights (not BN
 * parameters, biases or α).
 *
 * Activations are kept channel-major (CNHW) so that every convolution of a
 * batch is one GEMM per group. All buffers are planned at creation for
 * batches up to params.batch: a step allocates nothing. Work is split by
 * shape only and every reduction runs in a fixed order, so results are
 * bit-identical for any thread count.
 *
 * While a trainer exists, the model's weights are in use: in full mode the
 * trainer updates them in place (and drops the model's applied γ), in α mode
 * it keeps its own α until hr_trainer_sync. Do not reload the model's
 * weights while a trainer holds it.
 *
 * Split training (α mode, SPEC §10): with params.part = HR_PART_HEAD and
 * split s, a trainer holds stage 0 and blocks [0, s) (the edge); with
 * HR_PART_TAIL, blocks [s, N) and the classifier (the server). One step:
 *   head_forward(x) → features  ──▶  tail_compute(features, labels)
 *   head_backward(grad_features) ◀──  → loss, tail α gradients, grad_features
 * then hr_trainer_update on both. Together they compute exactly what one
 * whole trainer computes (same chunking, same kernels, same reduction
 * order: the α gradients are bit-identical), each side trains only the α
 * of its own blocks and needs only those blocks' training-time weights. */
#ifndef HYPERREP_TRAIN_H
#define HYPERREP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/data.h"
#include "hyperrep/error.h"
#include "hyperrep/model.h"
#include "hyperrep/tensor.h"
#include "hyperrep/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hr_train_mode { HR_TRAIN_ALPHA, HR_TRAIN_FULL, HR_TRAIN_MODE_COUNT } hr_train_mode;

/* Which part of the network a trainer holds (split training, α mode only). */
typedef enum hr_train_part {
    HR_PART_ALL,   /* the whole network */
    HR_PART_HEAD,  /* stage 0 and blocks [0, split) */
    HR_PART_TAIL,  /* blocks [split, N) and the classifier */
    HR_TRAIN_PART_COUNT
} hr_train_part;

typedef struct hr_trainer_params {
    hr_train_mode mode;     /* HR_TRAIN_ALPHA */
    int64_t batch;          /* largest batch; buffers are planned for it (32) */
    float momentum;         /* SGD momentum (0.9) */
    float weight_decay;     /* full mode, conv and linear weights (0) */
    float l1;               /* α mode: weight of Σ|α| in the loss (0.001) */
    float bn_momentum;      /* full mode: running statistics (0.1) */
    hr_train_part part;     /* HR_PART_ALL; HEAD/TAIL need α mode */
    int split;              /* HEAD/TAIL: s in 0..N, the first block of the tail (0); ignored for ALL */
} hr_trainer_params;

hr_trainer_params hr_trainer_params_default(hr_train_mode mode);

/* Statistics of one forward/backward pass. */
typedef struct hr_train_stats {
    double loss;       /* xent + l1 · l1_sum */
    double xent;       /* mean cross-entropy of the batch */
    double l1_sum;     /* Σ|α| over the live α (α mode; 0 in full mode) */
    int64_t correct;   /* top-1 hits in the batch */
    int64_t n;         /* samples */
} hr_train_stats;

/* One trainable tensor. Names follow the state_dict: "stage1.0.hyper_dense"
 * (α mode), "stage1.0.rbr_dense.conv.weight", "stage0.rbr_1x1.bn.bias",
 * "stage2.1.rbr_identity.weight", "linear.weight" (full mode). */
typedef struct hr_train_param {
    const char *name;
    float *value;      /* the live value (inside the model in full mode) */
    float *grad;       /* gradient of the last hr_trainer_compute (loss terms included) */
    float *momentum;   /* SGD momentum buffer */
    int64_t numel;
    int decay;         /* weight decay applies */
} hr_train_param;

typedef struct hr_trainer hr_trainer;

/* Creates a trainer over model (which must outlive it). The model needs its
 * training-time weights (a part trainer: those of its own blocks; stage 0
 * belongs to the head): deploy-form blocks and dropped sources give
 * HR_ERR_UNSUPPORTED naming the block. HR_ERR_INVALID_ARG for bad params
 * (a split outside 0..N names it), HR_ERR_UNSUPPORTED for a part in full
 * mode, HR_ERR_NOMEM. In full mode the model's applied γ are dropped. A part
 * trainer plans buffers for its own blocks only. */
hr_status hr_trainer_create(hr_model *model, const hr_trainer_params *params, hr_trainer **out, hr_error *err);
void hr_trainer_destroy(hr_trainer *t);

hr_train_mode hr_trainer_mode(const hr_trainer *t);
hr_model *hr_trainer_model(const hr_trainer *t);

/* Forward and backward on x [n, C, H, W] (NCHW, normalised; n <= batch) with
 * labels in [0, classes): fills every parameter's grad and *stats (nullable).
 * Full mode updates the BN running statistics. HR_ERR_SHAPE,
 * HR_ERR_INVALID_ARG (label out of range, n > batch, a batch of one image
 * whose last stage has one pixel in full mode). compute, step and predict
 * need a whole trainer: HR_ERR_UNSUPPORTED on a part trainer. */
hr_status hr_trainer_compute(hr_trainer *t, const hr_tensor *x, const int64_t *labels, hr_train_stats *stats,
                             hr_error *err);
/* One SGD step with learning rate lr on the gradients of the last compute
 * (a part trainer: of its own α, from tail_compute or head_backward). */
void hr_trainer_update(hr_trainer *t, float lr);
/* compute + update. */
hr_status hr_trainer_step(hr_trainer *t, const hr_tensor *x, const int64_t *labels, float lr, hr_train_stats *stats,
                          hr_error *err);
/* Inference-mode forward (BN with running statistics, current α):
 * logits [n, classes]. */
hr_status hr_trainer_predict(hr_trainer *t, const hr_tensor *x, hr_tensor *logits, hr_error *err);

/* ---- split training (part trainers, α mode) ----
 * The crossing tensor ("features") is the input of block s in NCHW:
 * [n, C_s, H_s, W_s] with n <= batch, contiguous, in the caller's storage.
 * Every function below returns HR_ERR_UNSUPPORTED on a trainer of the
 * other part (or a whole one) and HR_ERR_SHAPE, naming the expected shape,
 * for a tensor of the wrong shape. Work is chunked and reduced exactly as
 * in hr_trainer_compute: results are bit-identical for any thread count. */

/* Shape of the crossing tensor for a batch of n (4-D: n, C, H, W); for a
 * whole trainer, at params.split clamped to 0..N. */
void hr_trainer_features_shape(const hr_trainer *t, int64_t n, int64_t shape[4]);
/* Head: image x [n, C, H, W] → features (the output of block s-1, or of
 * stage 0 for s = 0). Keeps the activations, n and the α in use for the
 * next hr_trainer_head_backward (the gradient is that of the α of this
 * forward even if they change before the backward). */
hr_status hr_trainer_head_forward(hr_trainer *t, const hr_tensor *x, hr_tensor *features, hr_error *err);
/* Head: dL/d(features) (the shape of the last head_forward's features) →
 * the gradients of the head's α, with the l1 term l1·sign(α) on its live α.
 * stats (nullable): l1_sum = the head's Σ|α|, loss = l1 · l1_sum (the
 * head's share of the loss), xent = 0, correct = 0, n = the batch. With
 * s = 0 the head has no α: only validation. HR_ERR_INVALID_ARG without a
 * head_forward since the last head_predict (the activations are gone). */
hr_status hr_trainer_head_backward(hr_trainer *t, const hr_tensor *grad_features, hr_train_stats *stats,
                                   hr_error *err);
/* Head inference: x → features (BN in inference mode, current α). Reuses
 * the activation buffers: a pending head_backward is no longer possible. */
hr_status hr_trainer_head_predict(hr_trainer *t, const hr_tensor *x, hr_tensor *features, hr_error *err);
/* Tail: features + labels → the gradients of the tail's α (l1 term
 * included) and dL/d(features) into grad_features (same shape as features,
 * caller's storage; it may be the features' own storage, which is then
 * overwritten). For s = 0 this input gradient is an extra data-gradient
 * pass through block 0 that the whole trainer skips. stats (nullable):
 * xent, l1_sum = the tail's Σ|α|, loss = xent + l1 · l1_sum, correct, n.
 * The loss of the whole network is stats.loss + l1 · (the head's l1_sum).
 * HR_ERR_INVALID_ARG for missing labels, a label out of range or
 * n > batch. */
hr_status hr_trainer_tail_compute(hr_trainer *t, const hr_tensor *features, const int64_t *labels,
                                  hr_tensor *grad_features, hr_train_stats *stats, hr_error *err);
/* Tail inference: features → logits [n, classes] (split evaluation). */
hr_status hr_trainer_tail_predict(hr_trainer *t, const hr_tensor *features, hr_tensor *logits, hr_error *err);

hr_train_part hr_trainer_part(const hr_trainer *t);
/* The split s of a part trainer (0 for a whole one). */
int hr_trainer_split(const hr_trainer *t);

int hr_trainer_num_params(const hr_trainer *t);
const hr_train_param *hr_trainer_param(const hr_trainer *t, int i);
/* NULL when no trainable tensor has that name. */
const hr_train_param *hr_trainer_find_param(const hr_trainer *t, const char *name);

/* α of a branch as the trainer currently holds it (α mode: trained so far;
 * full mode: the model's). 0 for pruned or missing branches and for blocks
 * outside a part trainer's part. */
float hr_trainer_alpha(const hr_trainer *t, int block, hr_branch branch);
/* Sets a live branch's α in the trainer (α mode; restoring the best α).
 * HR_ERR_INVALID_ARG for a pruned/missing branch, a block outside a part
 * trainer's part, a non-finite value or full mode. */
hr_status hr_trainer_set_alpha(hr_trainer *t, int block, hr_branch branch, float value, hr_error *err);
/* Writes the trainer's α into the model (α mode; drops the model's applied
 * γ of changed blocks; a part trainer writes its own blocks only) and, in
 * full mode, drops the model's applied γ so that the next hr_model_apply_*
 * refuses the updated weights. */
hr_status hr_trainer_sync(hr_trainer *t, hr_error *err);
/* Zeroes every momentum buffer. */
void hr_trainer_reset_momentum(hr_trainer *t);

/* The threshold rule (SPEC §13.7). In alpha [3N] (by HR_BRANCH_*), every
 * branch the model's block has with 0 < |α| < threshold (compared in
 * float) becomes exactly 0, smallest |α| first within a block, except that
 * a block's last live
 * (non-zero) branch is never zeroed. A branch the block lacks — the
 * virtual identity, the original's hyper_identity on a block without an
 * identity branch — is neither counted nor touched. Returns how many
 * branches it zeroed; when pruned is not NULL (room for 3N) it receives
 * their indices block·3 + branch in block order. threshold <= 0: nothing. */
int hr_alpha_threshold(const hr_model *model, float *alpha, double threshold, int *pruned);

/* hr_alpha_threshold on the α a trainer holds (α mode; a part trainer sees
 * only its own blocks): the zeroed branches are set to 0 in the trainer.
 * *npruned (may be NULL) receives the count and pruned (may be NULL, room
 * for 3N) the indices. HR_ERR_INVALID_ARG in full mode, HR_ERR_NOMEM. */
hr_status hr_trainer_threshold(hr_trainer *t, double threshold, int *npruned, int *pruned, hr_error *err);

/* Momentum buffers in and out of a tensor map, as "momentum.<param name>"
 * (checkpoints). Import fails with HR_ERR_FORMAT naming a tensor of the
 * wrong size; missing entries leave the buffer at zero. */
hr_status hr_trainer_export_state(const hr_trainer *t, hr_tensor_map *map, hr_error *err);
hr_status hr_trainer_import_state(hr_trainer *t, const hr_tensor_map *map, hr_error *err);

/* ---- checkpoints (train-base) ---- */

/* The model's tensors (training-time form, α included; synchronised from t
 * first when t is not NULL) as a safetensors file at path, atomically, with
 * n metadata pairs. Errors of the export and the write. */
hr_status hr_train_weights_save(const char *path, hr_model *m, hr_trainer *t, const char *const *keys,
                                const char *const *vals, size_t n, hr_error *err);

/* A checkpoint: the model, t's momentum buffers ("momentum.*"), and the
 * progress as tensors "train.epochs_done" and "train.minutes"; metadata
 * model = arch. HR_ERR_INVALID_ARG for epochs_done outside 0..2^24 or
 * minutes not a finite non-negative number. */
hr_status hr_train_checkpoint_save(const char *path, hr_model *m, hr_trainer *t, const char *arch,
                                   int64_t epochs_done, double minutes, hr_error *err);

/* Loads a checkpoint: its model tensors into m; *state receives the whole
 * file (for hr_trainer_import_state; the caller destroys it). HR_ERR_FORMAT
 * naming the file for a file without train.epochs_done, an epoch count that
 * is not an integer in 0..2^24 (a NaN, an infinity, 1e30), or minutes that
 * are not a finite non-negative number; errors of the load name the tensor.
 * Nothing is kept on failure (*state NULL). */
hr_status hr_train_checkpoint_load(const char *path, hr_model *m, hr_tensor_map **state, int64_t *epochs_done,
                                   double *minutes, hr_error *err);

/* ---- learning-rate schedules ---- */

typedef enum hr_lr_schedule { HR_LR_CONSTANT, HR_LR_COSINE, HR_LR_STEP, HR_LR_SCHEDULE_COUNT } hr_lr_schedule;

/* "constant", "cosine", "step"; -1 when unknown. */
int hr_lr_schedule_parse(const char *s);
const char *hr_lr_schedule_name(hr_lr_schedule s);
/* Learning rate at progress `done` of `total` steps (0 <= done <= total):
 * constant: base; cosine: base · (1 + cos(π · done / total)) / 2;
 * step: base · 0.1^k, k the number of the milestones 50 % and 75 % passed. */
double hr_lr_at(hr_lr_schedule s, double base, int64_t done, int64_t total);

/* ---- trained α files: hr_alpha_file_read / hr_alpha_file_apply, model.h ---- */

/* ---- evaluation and base training (train-base) ---- */

/* Top-1 accuracy (percent) of the trainer's inference-mode forward over every
 * batch of it (from its start); logits holds batch x classes floats; *n
 * (may be NULL) receives the image count. Errors of the iterator and the
 * forward. */
hr_status hr_eval_trainer(hr_trainer *t, hr_batch_iter *it, float *logits, double *acc, int64_t *n, hr_error *err);

/* One epoch's figures. */
typedef struct hr_train_epoch_report {
    int64_t epoch, epochs;     /* 1-based epoch of epochs */
    double loss;               /* mean training loss of the epoch */
    double train_acc;          /* percent, on the training batches as they were trained */
    double test_acc;           /* percent, clean test set after the epoch */
    double images_per_s;
    double minutes;            /* since the run began, earlier sessions of a resumed run included */
} hr_train_epoch_report;

typedef struct hr_train_base_params {
    const char *arch;          /* required */
    const char *output;        /* the weights (safetensors); the checkpoint is output + ".ckpt" */
    hr_data_params data;       /* its seed is replaced by seed */
    int64_t epochs, batch;     /* 10, 128 */
    int threads;               /* 2 */
    double lr, momentum, weight_decay; /* 0.1, 0.9, 5e-4 */
    hr_lr_schedule schedule;   /* cosine */
    int augment;               /* horizontal flips and shifts of 2 pixels */
    int resume;                /* go on from output + ".ckpt" */
    int64_t stop_after;        /* > 0: stop after this epoch (checkpoint kept; resume goes on) */
    uint64_t seed;             /* 42: weights, shuffling, data */
    /* Progress, on the calling thread (may be NULL): each training step
     * (done of total steps of the epoch; running loss, accuracy %, images/s)
     * and each finished epoch. Messages (the start, a resume, a stop) go to
     * log at HR_LOG_INFO (NULL: hr_log_stderr). */
    void (*on_step)(void *user, int64_t epoch, int64_t done, int64_t total, double loss, double acc, double rate);
    void (*on_epoch)(void *user, const hr_train_epoch_report *r);
    hr_log_fn log;
    void *user;
} hr_train_base_params;

hr_train_base_params hr_train_base_params_default(void);

typedef struct hr_train_base_result {
    double test_acc;           /* percent, after the last epoch run */
    double minutes;
    int64_t epochs_done;
    int stopped;               /* 1: stop_after ended it; no weights written, the checkpoint holds the state */
    char data_source[512];
    int64_t train_images, test_images;
    hr_train_epoch_report *history; /* the epochs this call ran (owned) */
    int nhistory;
} hr_train_base_result;

void hr_train_base_result_deinit(hr_train_base_result *r);

/* Trains p->arch from random weights (or the checkpoint, with resume) with
 * SGD on the clean training part, evaluates the clean test set and writes a
 * checkpoint after every epoch, and writes the trained weights (settings as
 * metadata) to p->output. HR_ERR_INVALID_ARG for settings out of range or a
 * loss that diverges (naming the epoch); HR_ERR_SHAPE for data the model does
 * not take; errors of the data, the checkpoint and the writes. *out is
 * filled on success (deinit it) and cleared on failure. */
hr_status hr_train_base(const hr_train_base_params *p, hr_train_base_result *out, hr_error *err);

/* ---- Code 1: α per domain (train-hyper) ---- */

/* One domain's run; the arrays hold `epochs` values. */
typedef struct hr_train_hyper_domain {
    int trained;
    double initial_val, initial_test;   /* percent, the starting α (after the threshold rule) */
    double best_val, best_test;         /* the best validation epoch's (the start when none beats it) */
    int best_epoch;                     /* 0: the starting α */
    double *train_loss, *val, *test, *l1; /* per epoch: mean loss, accuracies, Σ|α| */
    float *alpha;                       /* the best α, [nblocks][3] (0 where a branch is pruned or missing) */
    int64_t train_images, val_images, test_images;
} hr_train_hyper_domain;

typedef struct hr_train_hyper_params {
    const char *arch, *weights;   /* required; weights: .safetensors or .pth */
    const char *alpha_file;       /* starting α (hr_alpha_file_apply; NULL: the weights' own) */
    int alpha_domain;             /* which domain of alpha_file (-1: a file of one domain) */
    hr_data_params data;          /* its seed is replaced by seed */
    unsigned domains;             /* bit k: train domain k (hr_domains_parse); 0: every domain */
    int64_t epochs, batch;        /* 3, 32 */
    int threads;                  /* 2 */
    double lr, momentum, l1;      /* 0.01, 0.9, 0.001 */
    double pruning_threshold;     /* SPEC §13.7: 0.01; 0 off */
    uint64_t seed;                /* 42; domain k shuffles with seed + k */
    /* Progress, on the calling thread (each may be NULL): a domain's start
     * (its sizes and initial accuracies filled), each step, each epoch
     * (rate in images/s), a domain's end. */
    void (*on_domain)(void *user, int domain, const hr_train_hyper_domain *d);
    void (*on_step)(void *user, int domain, int64_t epoch, int64_t done, int64_t total, double loss, double acc,
                    double rate);
    void (*on_epoch)(void *user, int domain, int64_t epoch, const hr_train_hyper_domain *d, double rate);
    void (*on_domain_done)(void *user, int domain, const hr_train_hyper_domain *d);
    hr_log_fn log;                /* notes of hr_train_hyper_save (NULL: hr_log_stderr) */
    void *user;
} hr_train_hyper_params;

hr_train_hyper_params hr_train_hyper_params_default(void);

typedef struct hr_train_hyper_result {
    char arch[64], data_source[512];
    int nblocks;
    int64_t epochs;
    char (*names)[96];            /* [nblocks × 3] α names, "stage1.0.hyper_dense" */
    unsigned *existing, *live;    /* [nblocks] branch masks (HR_BR_*) of the model as loaded */
    hr_train_hyper_domain domain[HR_NUM_DOMAINS];
} hr_train_hyper_result;

void hr_train_hyper_result_deinit(hr_train_hyper_result *r);

/* Code 1 on every domain (or only_domain). HR_ERR_INVALID_ARG for settings
 * out of range; errors of the weights, the α file, the data and training,
 * prefixed with the domain. *out is filled on success (deinit it) and
 * cleared on failure. */
hr_status hr_train_hyper(const hr_train_hyper_params *p, hr_train_hyper_result *out, hr_error *err);

/* Code 1's outputs in dir (made when missing), each atomically: the
 * original tool's trained_hyper_weights.json {domain_k: {name: α}} (blocks
 * without an identity carry hyper_identity 1.0, as the original's untrained
 * virtual α) and training_results.json {domain_k: {group_id, domain_name,
 * domain_desc, initial_acc, train_loss[], val_acc[], l1_penalty[],
 * best_acc, improvement, initial_val_acc, best_val_acc, test_acc[],
 * best_epoch, pruned_by_threshold[]}}, hyper_weights_matrix.csv (domains ×
 * α), the heatmap hyper_weights_heatmap (.dat, .gp and, with gnuplot, the
 * figure; without, a note to p->log) and run_info.json (p's settings). */
hr_status hr_train_hyper_save(const hr_train_hyper_params *p, const hr_train_hyper_result *r, const char *dir,
                              hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
