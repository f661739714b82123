/* Private pieces of src/joint/. */
#ifndef HR_JOINT_INTERNAL_H
#define HR_JOINT_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "hyperrep/joint.h"
#include "hyperrep/train.h"
#include "optim/optim_internal.h"

/* Seed of a candidate's training stream from (seed, domain, round,
 * candidate branch block·3 + branch). */
uint64_t hr__joint_seed(uint64_t seed, int domain, int round, int cand);

/* Writes the whole stage-1 state atomically (JSON, reals with 17 significant
 * digits so every float and double reads back bit-identical). */
hr_status hr__joint_checkpoint_save(const char *path, const char *fingerprint, int domain, const int *ranking,
                                    int nrank, const hr_joint_result *r, const int *pool, int npool, int next,
                                    hr_error *err);

/* Reads a checkpoint into r (whose arrays are allocated for r->nblocks and
 * max_rounds rounds), pool (capacity pool_cap), *npool and *next. A missing
 * file leaves *resumed = 0 and returns HR_OK. HR_ERR_INVALID_ARG when its
 * fingerprint, domain, starting α or ranking differ from this run's;
 * HR_ERR_FORMAT (naming the file and field) when it is malformed;
 * HR_ERR_NOMEM. */
hr_status hr__joint_checkpoint_load(const char *path, const char *fingerprint, int domain, const int *ranking,
                                    int nrank, hr_joint_result *r, int max_rounds, int *pool, int *npool,
                                    int pool_cap, int *next, int *resumed, hr_error *err);

/* ---- goal programming kernel (goal.c) ---- */

typedef struct hr__goal {
    hr__gd g;                  /* per-entry times, FLOPs, bytes, link, scratch */
    hr_goal_params gp;
    double knee[2];            /* head, tail: I_knee (FLOP/byte) */
    double flop_ms[2], byte_ms[2]; /* 1000 / Π_peak, 1000 / β_peak per side */
} hr__goal;

typedef struct hr__goal_terms {
    double j, t_eff, t_lat, t_cyc, t_head, t_link, t_tail;
} hr__goal_terms;

hr_status hr__goal_init(hr__goal *G, const hr_optim_problem *p, const hr_goal_params *gp, hr_error *err);
void hr__goal_deinit(hr__goal *G);
/* J at x = [θ (g.total entries), λ, ξ_A] for accuracy acc and reference
 * acc_ref (percent); fills terms when non-NULL and the analytic gradient
 * (g.total + 2 entries) when grad is non-NULL. */
double hr__goal_loss(hr__goal *G, const double *x, double acc, double acc_ref, hr__goal_terms *terms, double *grad);

/* The proximal step of L1 with threshold t >= 0: sign(a)·max(0, |a| − t),
 * exactly +0 when |a| <= t. */
float hr__goal_prox(float a, double t);

/* L1 weight of every α [3N] (SPEC §13.5): a live branch's share of its
 * block's LUT time (its single-branch γ) on the side z_k(λ) puts it (z < ½:
 * the head), times the block's live count, so equal costs give weight 1.
 * Other entries, and blocks whose times are missing, get 1. */
void hr__goal_l1_weights(const hr__goal *G, const hr_optim_problem *p, const unsigned *live, double lambda,
                         double *w);

/* The threshold rule after a goal phase A on alpha [3N]: the branches in
 * live[k] whose α the proximal step left at exactly 0, then
 * hr_alpha_threshold (|α| < threshold → 0, never a block's last live branch,
 * virtual identities never counted). The indices k·3 + branch of every
 * newly pruned branch go to pruned[] (room for 3N) in network order;
 * returns their count. */
int hr__goal_threshold(const hr_model *model, const unsigned *live, float *alpha, double threshold, int *pruned);

/* Per-image top-1 results of the trainer over every batch of it: correct[i]
 * is 1 when image i (iteration order) is classified right. The part must
 * hold exactly cap images (HR_ERR_INTERNAL otherwise): pairing image by
 * image needs the same images in the same order every time. */
hr_status hr__joint_correct_per_image(hr_trainer *t, hr_batch_iter *it, float *logits, uint8_t *correct,
                                      int64_t cap, hr_error *err);

/* The half of the validation part position i belongs to under the bound
 * guard (SPEC §13.6): 0 the selection half (even positions), 1 the guard
 * half (odd). A deterministic 50/50 split: the part's images are in
 * ascending dataset index, which the partition drew at random, so
 * alternation carries no order effect. The one place the rule is written. */
static inline int hr__joint_val_half(int64_t i) { return (int)(i % 2); }

/* An iterator (no shuffling, batch `batch`) over one half of the domain's
 * validation part as the bound guard splits it (SPEC §13.6; see
 * hr_guard_mode): half 0 the selection half (even positions of the part's
 * ascending indices), half 1 the guard half (odd positions); half -1 the
 * whole part. *n receives the half's size; an empty half leaves *out NULL
 * and returns HR_OK. HR_ERR_INVALID_ARG, HR_ERR_NOMEM. */
hr_status hr__joint_val_half_iter(hr_ctx *ctx, const hr_data *data, int domain, int half, int64_t batch,
                                  hr_batch_iter **out, int64_t *n, hr_error *err);

/* JSON arrays of n numbers (checkpoints; floats widen exactly to doubles,
 * written with 17 significant digits); NULL when out of memory. */
json_t *hr__json_reals_f(const float *v, int n);
json_t *hr__json_reals_d(const double *v, int n);

/* Goal programming's state between alternations (goal_checkpoint.c). The
 * caller owns the arrays: alpha_initial and alpha [3·nblocks] (pruned
 * branches exactly 0), x [nx] (θ under the live masks of alpha, λ, ξ; nx
 * varies with the masks, x has room for nx_cap), pruned [3·nblocks] (this
 * run's pruned branches k·3 + branch, in pruning order, npruned of them). */
typedef struct hr__goal_state {
    const char *fingerprint;
    int domain, nblocks, nx, nx_cap;
    const float *alpha_initial;
    float *alpha;
    double *x;
    int *pruned, npruned;
    float *iter_alpha;     /* [HR_GOAL_MAX_ITER·3·nblocks]: α after each alternation's threshold rule */
    int niter;
    hr_goal_iter iter[HR_GOAL_MAX_ITER];
    int done, final_iteration;
    char stop_reason[128];
} hr__goal_state;

/* Writes the state atomically. HR_ERR_IO, HR_ERR_NOMEM. */
hr_status hr__goal_checkpoint_save(const char *path, const hr__goal_state *s, hr_error *err);
/* Reads path into s (fingerprint, domain, nblocks, nx_cap and alpha_initial
 * set by the caller and checked; nx read, at most nx_cap). HR_ERR_NOT_FOUND
 * (no message) when there is no file; HR_ERR_FORMAT for a damaged one,
 * HR_ERR_INVALID_ARG for one made with other settings, another domain or
 * another starting α. */
hr_status hr__goal_checkpoint_load(const char *path, hr__goal_state *s, hr_error *err);

#endif
