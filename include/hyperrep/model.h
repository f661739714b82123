/* RepVGG / HyperRepVGG models: architectures, weights, γ application and the
 * forward pass (whole, per block range for a split, stage 0, classifier).
 *
 * A model owns the training-time weights of every block (3x3 conv + BN, 1x1
 * conv + BN, identity BN, and the trained α of each branch) and, per block, the
 * executable form of the γ currently applied: prepacked convolutions and
 * affines built by fusing the branches (SPEC §3). Applying a γ never changes
 * α. Activations and workspaces are planned once per batch size; forward
 * calls allocate nothing. */
#ifndef HYPERREP_MODEL_H
#define HYPERREP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/ctx.h"
#include "hyperrep/error.h"
#include "hyperrep/gamma.h"
#include "hyperrep/ops.h"
#include "hyperrep/tensor.h"
#include "hyperrep/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- architectures ---- */

typedef struct hr_arch {
    const char *name;         /* "repvgg-b3" */
    const char *description;
    int blocks[4];            /* blocks per stage 1..4 */
    int widths[4];            /* output channels per stage 1..4 */
    int stage0_channels;
    int stage0_stride;        /* 2 for ImageNet models */
    int group_count;          /* groups on layers 2, 4, 6, … (1 = none) */
    int in_channels, input_size, num_classes; /* defaults */
} hr_arch;

int hr_arch_count(void);
const hr_arch *hr_arch_at(int i);
/* Finds an architecture by name (case-insensitive, "b3" and "RepVGG-B3" also
 * accepted); NULL when unknown. */
const hr_arch *hr_arch_find(const char *name);

/* ---- model ---- */

typedef struct hr_model_params {
    int64_t input_size;   /* H = W; 0: the architecture's default */
    int64_t in_channels;  /* 0: default */
    int64_t num_classes;  /* 0: default */
    hr_conv_params conv;  /* algorithm choice, low-memory mode */
    float bn_eps;         /* 0: 1e-5 */
} hr_model_params;

hr_model_params hr_model_params_default(void);

/* Read-only description of one block (or of stage 0, index -1). */
typedef struct hr_block_info {
    const char *name;          /* "stage1.0" */
    int index;                 /* 0..N-1, -1 for stage 0 */
    int64_t cin, cout, in_h, in_w, out_h, out_w;
    int stride, groups;
    unsigned existing;         /* HR_BR_* present in the weights */
    unsigned live;             /* existing and α != 0 */
    float alpha[HR_BRANCH_COUNT]; /* trained α (0 for missing branches) */
    int gamma;                 /* γ applied, -1 when none */
    int deploy_only;           /* 1 for a deploy-form (rbr_reparam) block */
} hr_block_info;

typedef struct hr_model hr_model;

/* Builds the structure of architecture `arch` with zero weights, α = 1 for
 * every existing branch and no γ applied. HR_ERR_NOT_FOUND for an unknown
 * architecture, HR_ERR_INVALID_ARG for a too-small input. */
hr_status hr_model_create(hr_ctx *ctx, const char *arch, const hr_model_params *params, hr_model **out,
                          hr_error *err);
void hr_model_destroy(hr_model *model);

const hr_arch *hr_model_arch(const hr_model *model);
hr_ctx *hr_model_ctx(const hr_model *model);
int hr_model_num_blocks(const hr_model *model);
/* Block i in 0..N-1, or stage 0 for i == -1. */
hr_block_info hr_model_block(const hr_model *model, int i);
/* Index of a block by name ("stage3.10"), -1 when unknown. */
int hr_model_find_block(const hr_model *model, const char *name);
int64_t hr_model_in_channels(const hr_model *model);
int64_t hr_model_input_size(const hr_model *model);
int64_t hr_model_num_classes(const hr_model *model);
/* Feature width entering the classifier. */
int64_t hr_model_feature_channels(const hr_model *model);

/* Parameters of a block under its deploy γ (fused kernel + bias), and FLOPs
 * (2·MACs, groups counted) of one image under γ (-1 = the applied/deploy γ). */
int64_t hr_model_block_params(const hr_model *model, int i);
double hr_model_block_flops(const hr_model *model, int i, int gamma);
double hr_model_classifier_flops(const hr_model *model);

/* Random initialisation (structure-only models): Kaiming-normal convs, BN with
 * scale 1/sqrt(branches) so activations stay bounded over deep networks,
 * random linear layer; α = 1. Deterministic for a seed. Drops applied γs. */
hr_status hr_model_init_random(hr_model *model, uint64_t seed, hr_error *err);

/* Loads weights named as the PyTorch RepVGG state_dict (SPEC §2): training-time
 * form (rbr_dense/rbr_1x1/rbr_identity + optional hyper_*) or deploy form
 * (rbr_reparam), per block. Missing tensors, wrong shapes and unexpected
 * branches are errors naming the tensor; unknown extra names are errors too
 * (a checkpoint for another architecture). Blocks without hyper_* get α = 1.
 * A hyper_identity of a block without an identity branch (the original
 * tool's virtual identity, gamma.h) is accepted and its value ignored; one
 * note per load names them through the context's log (HR_LOG_WARN).
 * Drops applied γs. */
hr_status hr_model_load(hr_model *model, const hr_tensor_map *map, hr_error *err);
/* Adds every weight of the model (training-time form, with hyper_* α) to map. */
hr_status hr_model_export(const hr_model *model, hr_tensor_map *map, hr_error *err);

/* The name of a branch's α as checkpoints and α files spell it,
 * "stage2.1.hyper_dense", into buf (truncated to size); returns buf. */
const char *hr_model_alpha_name(const hr_model *model, int block, hr_branch branch, char *buf, size_t size);

/* Sets the α of every existing branch from alpha ([blocks][3], dense / 1x1 /
 * identity; entries of branches a block lacks are ignored): the non-zero
 * values first, so no block passes through a state without a live branch;
 * a 0 for a branch already pruned is skipped. Errors of hr_model_set_alpha
 * (a block left without a live branch, a value not finite). */
hr_status hr_model_set_alphas(hr_model *model, const float *alpha, hr_error *err);

/* Sets the trained α of a branch (value 0 prunes it). HR_ERR_INVALID_ARG when
 * the branch does not exist or it would leave the block without a live
 * branch. Drops the block's applied γ. */
hr_status hr_model_set_alpha(hr_model *model, int block, hr_branch branch, float value, hr_error *err);

/* ---- trained α files (`--alpha FILE` in every command, docs/CLI.md) ---- */

/* Reads trained α from path into alpha[nblocks × 3] (dense, 1×1, identity
 * per block; 0 where the block lacks the branch) without touching m, by
 * the rules of hr_alpha_file_apply below; a value that is not finite is
 * HR_ERR_FORMAT. */
hr_status hr_alpha_file_read(const hr_model *m, const char *path, int domain, float *alpha, hr_error *err);


/* Applies trained α from path to m with hr_model_set_alpha (0 prunes). The
 * file is recognised by its content: JSON, Code 1's
 * {"domain_k": {"stage1.0.hyper_dense": v, …}} (domain k; domain < 0 takes
 * a file holding one domain) or a flat {name: v} map, or safetensors of
 * one-value tensors with those names (the joint's domain_K_alpha
 * .safetensors; domain is not used). Every existing branch of the model
 * must have a value; the original's virtual identities are ignored with one
 * note through the model's context log. Errors name the file and the entry:
 * HR_ERR_IO, HR_ERR_FORMAT, HR_ERR_NOT_FOUND (no such domain),
 * HR_ERR_INVALID_ARG (several domains and none chosen, or α that would
 * leave a block without a branch). */
hr_status hr_alpha_file_apply(hr_model *m, const char *path, int domain, hr_error *err);

/* Applies γ to block i: fuses the branches and prepacks the kernels. The
 * branches computed are γ's; validity is checked against the live set under
 * `mask` (an error names the block, the γ and the live branches). With
 * alpha_override (3 values, dense/1x1/identity) those α are used instead of
 * the trained ones, which stay untouched (LUT measurement uses all ones). */
hr_status hr_model_apply_gamma(hr_model *model, int i, int gamma, hr_mask_kind mask, const float *alpha_override,
                               hr_error *err);
/* Applies every block's deploy γ (and fuses stage 0). */
hr_status hr_model_apply_deploy(hr_model *model, hr_error *err);
/* Frees the training-time weights of every block that has a γ applied and
 * of stage 0, keeping only the executable form: the memory-lean deployment
 * mode. Afterwards γ can no longer be changed (HR_ERR_UNSUPPORTED). */
void hr_model_drop_sources(hr_model *model);
/* Frees the training-time weights of every block that has no γ applied: a
 * deployment part that runs only some blocks (the tail of a split) keeps no
 * weights for the others. Those blocks can no longer get a γ
 * (HR_ERR_UNSUPPORTED) nor run (a forward over them fails naming the block,
 * as for any block without a γ). */
void hr_model_drop_unapplied(hr_model *model);

/* Lean deployment build: loads each block from `map` (or, with map NULL,
 * initialises it randomly from seed), applies its γ (gammas[i], or the
 * deploy γ where gammas is NULL or gammas[i] < 0; validity under `mask`, an
 * error names the block) and frees its training-time weights before the next
 * block, so at most one block's unfused weights are ever held. Pages of a
 * mapped safetensors file are returned to the OS as their block is done
 * (hr_tensor_map_release). Same strictness as hr_model_load. Afterwards γ can
 * no longer change and the model cannot be exported. */
hr_status hr_model_build_deploy(hr_model *model, hr_tensor_map *map, uint64_t seed, const int *gammas,
                                hr_mask_kind mask, hr_error *err);

/* Plans activations and workspaces for batches up to `batch`. Forward calls
 * with a larger batch fail with HR_ERR_INVALID_ARG. */
hr_status hr_model_plan(hr_model *model, int64_t batch, hr_error *err);

/* Full forward: x [B, C, H, W] → logits y [B, classes]. Every block must
 * have a γ applied (HR_ERR_INVALID_ARG naming the first that has none). */
hr_status hr_model_forward(hr_model *model, const hr_tensor *x, hr_tensor *y, hr_error *err);
/* Stage 0 only: image → input of block 0. */
hr_status hr_model_forward_stage0(hr_model *model, const hr_tensor *x, hr_tensor *y, hr_error *err);
/* Blocks [a, b): x is the input of block a, y receives the output of block
 * b-1 (a == b copies). 0 <= a <= b <= N. */
hr_status hr_model_forward_range(hr_model *model, int a, int b, const hr_tensor *x, hr_tensor *y, hr_error *err);
/* Global average pooling + linear: output of the last block → logits. */
hr_status hr_model_forward_classifier(hr_model *model, const hr_tensor *x, hr_tensor *y, hr_error *err);

/* Reference forward of block i in its training-time form (three branches with
 * BN and α, reference kernels, no fusion): the ground truth of the
 * consistency tests. With alpha_override as in hr_model_apply_gamma. */
hr_status hr_model_block_forward_unfused(const hr_model *model, int i, const float *alpha_override,
                                         const hr_tensor *x, hr_tensor *y, hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
