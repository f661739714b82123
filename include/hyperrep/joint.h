/* Step 3 (joint): progressive pruning under the accuracy constraint, then the
 * split search with the exact mask of the pruned set (SPEC §6.2, §6.3, §7).
 *
 * Stage 1, progressive pruning (the original's current step 3):
 *   - the candidate pool holds the `pool` least important live branches of
 *     the code-2 ranking (importance = |α| / (branch FLOPs / 1e9), ascending,
 *     ties in network order dense, identity, 1x1), computed once from the
 *     starting α;
 *   - each round, every candidate that is not its block's last live branch is
 *     tested: copy the current α, prune the candidate, retrain α (code 1's
 *     trainer: backbone frozen, CE + l1·Σ|α|, SGD with momentum) for `epochs`
 *     epochs, evaluating after each; its score is its best epoch's
 *     validation accuracy, and that epoch's α is kept;
 *   - the best candidate wins (ties: first in pool order). It is accepted
 *     by the accuracy guard (hr_guard_mode): by default when the upper bound
 *     of its cumulative paired drop against round 0 on the guard half of the
 *     validation part is within `threshold` (hr_joint_guard_bound); with
 *     HR_GUARD_POINT, the original's rule, unless best_so_far − winner >
 *     threshold (best_so_far = max(initial, every applied round) on
 *     validation). A rejected winner ends the run unapplied. Otherwise the
 *     winner's α is applied (with any branch the threshold rule zeroed while
 *     it retrained: params.pruning_threshold), it leaves the pool and the
 *     pool is refilled with the next ranked branch that is neither pruned nor
 *     pooled;
 *   - at most `rounds` rounds; every round is recorded.
 * Selection uses the domain's validation part (its selection half under the
 * bound guard); reported accuracies come from its test part, and every
 * state's drop against round 0 is paired image by image there
 * (hr_joint_paired_ci95). The result's final configuration is chosen by
 * hr_joint_choose.
 *
 * Determinism: every candidate's training stream is seeded from (seed,
 * domain, round, candidate branch), momentum starts at zero, and a candidate
 * runs on its own one-thread context with its own copy of the model; the
 * trainer is bit-identical for any thread count. So the result does not
 * depend on how many candidates run at once (params.workers), and a run
 * resumed from a checkpoint ends bit-identical to an uninterrupted one: the
 * checkpoint (written atomically after every round) holds the whole state,
 * α as exact decimal images of the floats.
 *
 * Several processes (MPI ranks, through hr_joint_dist): each process trains
 * its share of a round's candidates, the results are exchanged bit for bit
 * and every process applies the same winner, so the result is the same for
 * any process count too. The library itself links no MPI: the caller
 * supplies the exchange.
 *
 * Stage 2: hr_joint_stage2 runs the grid search (6.2) and the exact solver
 * (6.3) on a merged LUT with the live-branch masks of the pruned model. */
#ifndef HYPERREP_JOINT_H
#define HYPERREP_JOINT_H

#include <stddef.h>
#include <stdint.h>

#include "hyperrep/data.h"
#include "hyperrep/error.h"
#include "hyperrep/model.h"
#include "hyperrep/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HR_JOINT_MAX_EPOCHS 64

/* How a pruning round is accepted (SPEC §7, §13.6).
 *  - HR_GUARD_POINT, the original's rule: selection (best epoch, best
 *    candidate) and acceptance both on the whole validation part; stop when
 *    best_so_far − winner > threshold.
 *  - HR_GUARD_BOUND (default): the validation part is split 50/50 by
 *    position (its images in ascending dataset index; even positions are the
 *    selection half, odd ones the guard half). Selection uses the selection
 *    half. The winner is accepted only when hr_joint_guard_bound of its
 *    cumulative paired drop against round 0 on the guard half is <=
 *    threshold; otherwise the run stops without applying it. */
typedef enum hr_guard_mode { HR_GUARD_POINT, HR_GUARD_BOUND, HR_GUARD_MODE_COUNT } hr_guard_mode;

/* "point" / "bound"; NULL out of range. */
const char *hr_guard_mode_name(hr_guard_mode m);
/* The mode named s, or -1. */
int hr_guard_mode_parse(const char *s);

/* Progress lines ("round 2: candidate stage1.0.hyper_1x1 …"); may be NULL. */
typedef void (*hr_joint_log_fn)(void *user, const char *line);

struct hr_joint_candidate;

/* Where candidates are trained when not on copies of the model in this
 * process: real mode trains every α split between a server (tail) and an
 * edge worker (head). hr_joint_progressive keeps the rules (ranking, pool,
 * winners, stop rules, refill, checkpoints) and calls the hook for the work;
 * candidates then run one after another, and `data` may be NULL. */
typedef struct hr_joint_trainer {
    /* Validation and test accuracy (percent) of the model under alpha [3N]
     * (by HR_BRANCH_*). */
    hr_status (*evaluate)(void *user, const float *alpha, double *val, double *test, hr_error *err);
    /* Trains candidate c of round `round` (1-based) exactly as
     * hr_joint_progressive trains its own: alpha [3N] with c's branch set to
     * 0, momentum zero, the stream seeded from hr_joint_candidate_seed, the
     * validation and test accuracy after every epoch. Fills c->epochs, val,
     * test, loss, best_epoch, best_val, best_test and best_alpha [3N] (the α
     * of the best validation epoch). */
    hr_status (*train)(void *user, int round, const float *alpha, struct hr_joint_candidate *c, float *best_alpha,
                       hr_error *err);
    void *user;
} hr_joint_trainer;

/* Spreads each round's candidates over several processes (MPI ranks, say).
 * Process `rank` trains the round's testable candidates i (0-based, pool
 * order) with i % size == rank; then every process calls allgather once,
 * and all of them end the round holding every candidate's result. The
 * records are native byte images (bit-exact doubles and floats), so every
 * process must run on machines of one byte order and float format. */
typedef struct hr_joint_dist {
    int rank, size;        /* this process in 0..size-1; the number of processes (1..65536) */
    /* Collective, MPI_Allgather's contract: every process calls it in the
     * same order with the same `bytes`, contributing `bytes` bytes at mine;
     * all receives size·bytes bytes, process r's at offset r·bytes. An
     * exchange that fails must fail (or end the job) on every process, so
     * that none waits forever. Required when size > 1. */
    hr_status (*allgather)(void *user, const void *mine, size_t bytes, void *all, hr_error *err);
    void *user;
} hr_joint_dist;

typedef struct hr_joint_params {
    int rounds;            /* at most this many rounds: 10 */
    int pool;              /* candidate pool size: 10 */
    int epochs;            /* α epochs per candidate: 3 (1..HR_JOINT_MAX_EPOCHS) */
    double threshold;      /* the accuracy guard's limit in points (bound: on the guard half's
                              upper bound; point: below best_so_far): 2 */
    int64_t batch;         /* 32 */
    double lr;             /* 0.01 */
    double momentum;       /* 0.9 */
    double l1;             /* 0.001 */
    uint64_t seed;         /* candidate streams: 42 */
    int workers;           /* candidates trained at once; 0: the model context's thread count */
    const char *checkpoint;  /* state file written after every round and resumed from; NULL: none */
    const char *fingerprint; /* settings text kept in the checkpoint; a different one refuses to
                                resume (HR_ERR_INVALID_ARG). NULL: "" */
    int stop_after;        /* end this call after this many new rounds (tests, interruption); 0: no */
    hr_joint_log_fn log;   /* called by process 0 only (see dist) */
    void *log_user;
    const hr_joint_dist *dist; /* NULL: every candidate runs in this process */
    const hr_joint_trainer *trainer; /* NULL: candidates train here on copies of the model;
                                        with a trainer, dist must be NULL or one process */
    /* SPEC §13.7: after every epoch of a candidate's retraining, |α| below
     * this (0.01) becomes exactly 0 and the branch is pruned (never a
     * block's last live branch; see hr_alpha_threshold). 0: off. */
    double pruning_threshold;
    /* SPEC §13.6: the accuracy rule that accepts a round (HR_GUARD_BOUND).
     * BOUND needs per-image results, so it is refused with a trainer hook. */
    hr_guard_mode guard;
    double guard_alpha;    /* BOUND: the bound holds at level 1 − guard_alpha/r, r = rounds tried: 0.10 */
} hr_joint_params;

hr_joint_params hr_joint_params_default(void);

/* One candidate tested in a round. */
typedef struct hr_joint_candidate {
    char name[64];         /* "stage2.3.hyper_1x1" */
    int block;
    hr_branch branch;
    int skipped;           /* 1: its block's last live branch, not tested */
    int epochs;
    double val[HR_JOINT_MAX_EPOCHS], test[HR_JOINT_MAX_EPOCHS], loss[HR_JOINT_MAX_EPOCHS];
    int best_epoch;        /* 1-based; 0 when skipped */
    double best_val, best_test;
    /* At the best epoch, paired against round 0 (the starting α), image by
     * image: b = right at round 0 and wrong now, c = wrong at round 0 and
     * right now; on the guard half (BOUND; the whole validation part with
     * POINT) and on the test part. 0 with a trainer hook (no per-image
     * results). */
    int guard_b, guard_c, test_b, test_c;
} hr_joint_candidate;

typedef struct hr_joint_round {
    int round;             /* 1-based */
    int ncand;
    hr_joint_candidate *cand; /* owned, pool order */
    int winner;            /* index into cand, -1 when none could be tested */
    int applied;           /* 1 when the winner was pruned */
    double val_acc, test_acc;   /* the winner's (validation: its score) */
    double best_so_far;    /* after this round */
    int num_pruned;        /* pruned by this run after this round */
    double remaining_gflops; /* code-2 FLOPs of the live branches, per image */
    double flops_reduction_pct; /* code-2 FLOPs of the pruned branches over the starting live ones */
    /* The winner's paired counts (see hr_joint_candidate) and, on the guard
     * half, its cumulative drop 100·(b − c)/n and the bound the rule tested
     * (hr_joint_guard_bound at level 1 − guard_alpha/round; with POINT the
     * bound is not the rule and is recorded for information). */
    int guard_b, guard_c, test_b, test_c;
    double guard_drop, guard_bound;
    int nthreshold;        /* branches besides the winner that the threshold rule pruned */
    float *alpha;          /* [3N], owned: α after an applied round (NULL otherwise) */
} hr_joint_round;

typedef struct hr_joint_result {
    int nblocks;
    float *alpha_initial;  /* [nblocks·3] by HR_BRANCH_*, owned */
    float *alpha;          /* final α, same layout, owned */
    double initial_val, initial_test;
    double final_val, final_test; /* the last applied round's, else the initial */
    double best_so_far;
    double initial_gflops, final_gflops; /* code-2 FLOPs of the live branches */
    int npruned;
    int *pruned_block;     /* [npruned], owned, in pruning order */
    hr_branch *pruned_branch;
    int nrounds;
    hr_joint_round *rounds; /* owned */
    int complete;          /* 1: stopped by a rule; 0: stop_after ended this call first */
    int resumed_rounds;    /* rounds read from the checkpoint */
    char stop_reason[128];
    /* Paired bookkeeping (SPEC §13.6). paired: 1 when per-image results
     * exist (not with a trainer hook); then n_* are the parts' sizes and
     * *_right0 the images round 0 gets right. */
    hr_guard_mode guard;
    int paired;
    int64_t n_val, n_select, n_guard, n_test;
    int64_t guard_right0, test_right0;
    /* The literally unpruned model (round −1 of the final choice): the
     * starting α with every existing branch it holds at 0 set back to its
     * base value 1. unpruned_same: 1 when that is the starting α itself
     * (then its accuracy is round 0's). */
    int unpruned_same;
    double unpruned_test;
    int unpruned_test_b, unpruned_test_c;
    /* Paired test counts of the final α (res->alpha) against round 0, for a
     * final state no applied round reached (goal programming); 0 otherwise. */
    int final_test_b, final_test_c;
} hr_joint_result;

void hr_joint_result_init(hr_joint_result *r);
/* Frees the owned arrays and re-initialises r; NULL is a no-op. */
void hr_joint_result_deinit(hr_joint_result *r);

/* The seed of candidate (block, branch)'s training stream in round `round`
 * (1-based) of domain `domain`: what every candidate's batches are shuffled
 * with, in any mode or process. */
uint64_t hr_joint_candidate_seed(uint64_t seed, int domain, int round, int block, hr_branch branch);

/* Code-2 FLOPs of one branch per image (SPEC §7): dense 2·Cin·Cout·9·H·W/g,
 * 1x1 2·Cin·Cout·H·W/g, identity 4·C·H·W; 0 for a branch the block lacks. */
double hr_joint_branch_flops(const hr_model *model, int block, hr_branch branch);

/* Code 2 over an α file (ours or the original's trained_hyper_weights.json,
 * every domain in it). */
typedef struct hr_joint_importance_params {
    const char *arch;      /* required: its block shapes give the FLOPs */
    int64_t input_size;    /* 0: the architecture's */
    const char *alpha;     /* NULL: task1_trained_weights_<model>/trained_hyper_weights.json */
    const char *outdir;    /* NULL: task2_importance_rankings_<model> (made when missing) */
    int top;               /* branches listed per domain in ranking_summary.txt: 10 */
} hr_joint_importance_params;

hr_joint_importance_params hr_joint_importance_params_default(void);

typedef struct hr_joint_importance_summary {
    int domains;           /* domains in the α file */
    int ranked;            /* branches ranked per domain (virtual identities left out) */
    int unrendered;        /* 1: gnuplot missing, the heatmap is data and script only */
    char outdir[512];
} hr_joint_importance_summary;

/* Importance = |α| / (FLOPs / 1e9) (hr_joint_branch_flops; a zero-FLOP
 * branch 1e10) per domain, rankings ascending (least important first;
 * virtual identities and pruned branches left out), written as the
 * original's importance_scores.json, importance_rankings.json,
 * filtered_branches.json, branch_flops.json and branch_info.json, with
 * importance_matrix.csv, the heatmap importance_heatmap (log10(importance
 * + 1)), ranking_summary.txt, branch_statistics.txt and run_info.json.
 * HR_ERR_FORMAT naming the file and entry for a malformed α file; errors
 * of the model and the writes. */
hr_status hr_joint_importance(const hr_joint_importance_params *p, hr_joint_importance_summary *out, hr_error *err);

/* Live branches (α ≠ 0) ranked by importance ascending; entries are
 * block·3 + branch. *n receives the count (at most 3·N). HR_ERR_NOMEM. */
hr_status hr_joint_rank(const hr_model *model, int **ranking, int *n, hr_error *err);

/* Stage 1 on domain `domain` of data. model holds training-time weights and
 * the starting α (code 1's); it is not modified (candidates train copies).
 * out is filled (init'd by the caller). Errors: HR_ERR_INVALID_ARG (bad
 * params, domain out of range, a checkpoint made with other settings or from
 * another starting α), HR_ERR_FORMAT (an unreadable checkpoint), the
 * trainer's and data's errors, HR_ERR_IO, HR_ERR_NOMEM.
 *
 * With params->dist of size > 1 every process calls this with the same
 * model, data and params (workers aside). All of them read the checkpoint
 * (it must be visible to every one, e.g. on a shared file system); only
 * process 0 writes it and logs. Before the first round the processes
 * compare a digest of their settings and state: any difference (another
 * checkpoint, other settings or data) fails on every process with
 * HR_ERR_INVALID_ARG naming the process. A candidate that fails on one
 * process fails the round on every process with that error; an error
 * outside the exchanges (e.g. loading the data) is returned by that process
 * alone, and its caller must end the job (MPI_Abort) so the others do not
 * wait. Every process ends with the same out. */
hr_status hr_joint_progressive(hr_model *model, const hr_data *data, int domain, const hr_joint_params *params,
                               hr_joint_result *out, hr_error *err);

/* Stage 2 of a pruned result: live masks from res->alpha, then the grid
 * search over [oparams.min_split, max_split] and the exact solver. grid and
 * exact are init'd by the caller; *problem receives the problem (caller
 * destroys it) for the report. Errors as hr_optim_problem_create /
 * hr_optim_grid; HR_ERR_INVALID_ARG when the LUT's block count differs from
 * the result's. */
hr_status hr_joint_stage2(const hr_lut *lut, const hr_joint_result *res, const hr_optim_params *oparams,
                          hr_optim_problem **problem, hr_optim_result *grid, hr_optim_result *exact,
                          hr_error *err);

/* ---- goal programming (SPEC §6.4) ---- */

#define HR_GOAL_MAX_ITER 64

struct hr_trainer;

/* The accuracy guard every goal-programming state must pass (SPEC §13.5,
 * §13.6). check is called once per alternation, after phase A and the
 * threshold rule, with the trainer holding that state's α (α mode; evaluate
 * with hr_trainer_predict, never train). `tried` counts the states tried so
 * far, this one included (1-based: the Bonferroni factor). It sets *accept
 * (1: the state passes) and *drop (the drop it judged, percentage points,
 * recorded per alternation). It must depend only on the α it is shown, so
 * that a resumed run, which calls it for new alternations only, ends as an
 * uninterrupted one. A failure status ends the run with that status. */
typedef struct hr_goal_guard {
    hr_status (*check)(void *user, struct hr_trainer *t, int tried, int *accept, double *drop, hr_error *err);
    void *user;
} hr_goal_guard;

typedef struct hr_goal_params {
    int alternations;      /* phase A + phase B pairs at most: 5 (1..HR_GOAL_MAX_ITER) */
    int steps;             /* Adam steps of each phase B: 400 */
    double lr;             /* Adam rate of θ, λ and ξ_A: 0.01 */
    double kappa, mu, epsilon, omega; /* 100, 1, 2 (points), 0.5 */
    double beta_r, lambda_i, rho;     /* roofline penalty: 0.01, 0.05, 0.1 */
    int weighted_l1;       /* 1 (ours, SPEC §13.5): phase A's L1 is a proximal step weighted by each
                              branch's share of its block's LUT time on its current side, and the
                              run stops by J and the guard; 0 (--plain-l1) reproduces the paper:
                              the trainer's plain L1 subgradient (params.l1) and the §6.4 stop rule */
    double l1_strength;    /* weighted mode: α ← sign(α)·max(0, |α| − lr·l1_strength·w_b) after every
                              SGD step (w_b: the branch's time share × its block's live count): 0.1
                              (bench/joint_figures.md measures 0.03–1 on the pipeline's domains) */
    double pruning_threshold; /* |α| below it after phase A → exactly 0, pruned (never the last
                              live branch of a block); both modes; 0 turns the rule off: 0.01 */
    int backoffs;          /* weighted mode: on a guard failure the state rolls back to the last
                              one that passed, l1_strength halves and the run goes on, at most
                              this many times; one more failure stops it: 2 (0: stop at the first) */
    int min_alternations;  /* weighted mode: alternations before the J rule may stop the run: 2 */
    double j_tol;          /* weighted mode: stop when J improves by less than this share of |J|
                              (and the guard holds): 0.005 */
    hr_goal_guard guard;   /* weighted mode; check NULL: the point rule, validation accuracy at
                              most epsilon points below the start */
} hr_goal_params;

hr_goal_params hr_goal_params_default(void);

typedef struct hr_goal_iter {
    int iteration;         /* 1-based */
    double val_acc, test_acc; /* after phase A */
    double xi, lambda;     /* after phase B */
    double j, t_eff, t_lat, t_cyc; /* the loss and its time terms after phase B (ms) */
    int new_pruned;        /* branches the threshold rule pruned after this phase A */
    int num_pruned;        /* pruned by this run so far, this alternation's included */
    double gflops;         /* code-2 FLOPs of the live branches after this phase A */
    int accepted;          /* 1: the guard passed (always 1 with plain L1) */
    double guard_drop;     /* the drop the guard judged (points; plain L1: validation drop) */
    double l1_strength;    /* the proximal L1 strength this phase A used (weighted mode; 0 with plain L1) */
} hr_goal_iter;

typedef struct hr_goal_result {
    int niter;
    hr_goal_iter iter[HR_GOAL_MAX_ITER];
    double xi, lambda;
    hr_optim_result config; /* γ = argmax θ under the exact mask, placement = round(λ); LUT-evaluated */
    char stop_reason[128];
    int final_iteration;   /* the alternation whose state is the result (0: the start), which a
                              guard failure rolls back to */
    double l1_strength;    /* the settings the run used, for the record */
    double pruning_threshold;
    int weighted_l1;
} hr_goal_result;

/* Goal programming on domain `domain` (SPEC §6.4, §13.5): alternates
 * (A) α training with the trainer settings of jp (epochs, batch, lr,
 * momentum, seed; l1 only with plain L1; the pruning fields are unused),
 * then the threshold rule, and (B) gp->steps Adam steps on θ, λ, ξ_A (λ
 * starts from op->lambda0 clamped to 0..N, or N / N/2 for lambda_init N /
 * MID). A and A_ref are validation accuracies: with params->guard
 * HR_GUARD_BOUND in weighted mode, on the validation part's selection half
 * (even positions, as hr_joint_progressive selects; the guard half is left
 * to the guard), else on the whole part.
 *
 * Weighted mode (default): phase A is cross-entropy SGD followed, every
 * step, by the proximal L1 step of gp->l1_strength, each branch weighted by
 * its share of its block's LUT time on the side its soft split puts it
 * (recomputed at the start of every phase A). After phase A every live α
 * with |α| < gp->pruning_threshold becomes exactly 0 (a block keeps its
 * largest |α| when all of its live branches fall below; branches the model
 * lacks never count), and the problem is rebuilt with the new live masks
 * (θ of the changed blocks restart uniform). Each state then faces the guard;
 * a failure rolls back to the last state that passed it (the start at worst)
 * and ends the run. Otherwise the run stops, after at least
 * gp->min_alternations alternations, when J improves by less than gp->j_tol
 * of |J|. Plain L1 (weighted_l1 0): the trainer's l1 subgradient and the
 * original stop rule, A >= A_ref − ε − 0.5 and ξ_A < 0.1; the threshold
 * rule still applies.
 *
 * The final α are written into model (its applied γ are dropped). s1
 * receives the α before/after, the accuracies, this run's pruned branches in
 * order (npruned, pruned_block, pruned_branch), FLOPs and one round per
 * alternation (no candidates; applied = accepted with new prunings, so
 * pruning_rounds lists every accepted pruning state); out the history and
 * the final configuration; *problem the problem of the final live masks
 * (caller destroys). s1 and out are init'd by the caller. With
 * jp->checkpoint the state is saved after every alternation and resumed
 * from (bit-identical results). Errors: HR_ERR_INVALID_ARG (a LUT for
 * another block count, bad settings, a checkpoint made with other settings),
 * HR_ERR_FORMAT (a damaged checkpoint), the guard's, problem's, trainer's
 * and data's errors, HR_ERR_NOMEM. */
hr_status hr_joint_goal(hr_model *model, const hr_data *data, int domain, const hr_lut *lut,
                        const hr_joint_params *jp, const hr_optim_params *op, const hr_goal_params *gp,
                        hr_joint_result *s1, hr_goal_result *out, hr_optim_problem **problem, hr_error *err);

/* hr_joint_goal with the accuracy guard and paired bookkeeping of
 * hr_joint_progressive (SPEC §13.5, §13.6); what `hyperrep joint --method
 * goal` runs. Before the run it records round 0's per-image results (the
 * model's starting α) on the validation and test parts, and the literally
 * unpruned model's on the test part. With jp->guard HR_GUARD_BOUND in
 * weighted mode and no gp->guard.check of the caller's, every state faces
 * the bound guard: its paired counts b, c against round 0 on the guard half
 * (odd positions), accepted when hr_joint_guard_bound(b, c, n_guard,
 * jp->guard_alpha, tried) <= jp->threshold; that bound is the iteration's
 * guard_drop. Otherwise gp's guard (the point rule when NULL) stands. After
 * the run s1 is paired like a progressive result: paired 1, guard (BOUND
 * only with the halves, else POINT: the whole part), the parts' sizes,
 * guard_right0 and test_right0, the unpruned model's test accuracy and
 * counts, test_b/test_c of every applied round and final_test_b/c of the
 * final α, so hr_joint_choose reports an interval for goal runs too. The
 * model ends holding the final α. Errors as hr_joint_goal, and
 * HR_ERR_INVALID_ARG for bad guard settings. */
hr_status hr_joint_goal_guarded(hr_model *model, const hr_data *data, int domain, const hr_lut *lut,
                                const hr_joint_params *jp, const hr_optim_params *op, const hr_goal_params *gp,
                                hr_joint_result *s1, hr_goal_result *out, hr_optim_problem **problem, hr_error *err);

/* Everything the joint output file records besides the results. */
typedef struct hr_joint_report {
    const hr_model *model;       /* names of blocks and branches */
    const hr_joint_result *stage1;
    const hr_optim_problem *problem;     /* NULL when stage 2 was not run */
    const hr_optim_result *grid, *exact; /* NULL when not run */
    int domain;
    const char *mode;            /* "pseudo" */
    const char *method;          /* "progressive" */
    const char *lut_file;
    const char *settings_json;   /* a JSON object of settings recorded as metadata.settings; NULL */
    const hr_goal_result *goal;  /* goal programming: its configuration is the grid's place; NULL */
    const hr_joint_params *params; /* the stage-1 settings (guard level, thresholds); NULL: defaults */
} hr_joint_report;

/* results/joint_optimization/domain_<k>_joint.json (SPEC §7, §13.4),
 * atomically: the original's fields (metadata, stage1_accuracy,
 * stage2_throughput, final_configuration) plus pruning_history (every round
 * and candidate), stage2_throughput.results {grid, exact} and
 * exact_optimum. final_configuration is hr_joint_choose's choice (the grid's
 * stays in stage2_throughput.optimal_*); stage1_accuracy.guard records the
 * rule, its level and the parts' sizes. docs/FORMATS.md lists every field. The original's
 * pruning_rounds [{round, num_pruned, acc}] start with round 0 (initial).
 * Accuracies in the original's fields are test accuracies (percent).
 * HR_ERR_IO, HR_ERR_NOMEM, HR_ERR_INVALID_ARG. */
hr_status hr_joint_report_save(const char *path, const hr_joint_report *rep, hr_error *err);

/* The final α as safetensors: one F32 tensor [1] per existing branch named
 * "stage1.0.hyper_dense" (0 for pruned branches), metadata domain and
 * source. HR_ERR_IO, HR_ERR_NOMEM. */
hr_status hr_joint_save_alpha(const char *path, const hr_model *model, const hr_joint_result *res, int domain,
                              hr_error *err);

/* ---- the co-design against its baseline (issue 6) ---- */

/* A Neurosurgeon-style baseline: the same model unpruned (every existing
 * branch live, as the LUT records them), the deploy γ on every block, and the
 * best placement (raw, s = 0..N, local, as available) for params.objective;
 * ties to the first placement. The comparison the paper makes: the
 * co-designed deployment (pruned, γ and placement chosen jointly) against
 * "split only". */
typedef struct hr_joint_baseline {
    int placement;         /* HR_PLACEMENT_RAW, 0..N, HR_PLACEMENT_LOCAL */
    hr_optim_eval eval;
    double objective_value; /* ms, params.objective */
} hr_joint_baseline;

/* Computes the baseline on a merged LUT. Errors as hr_optim_problem_create,
 * HR_ERR_NOMEM. */
hr_status hr_joint_baseline_compute(const hr_lut *lut, const hr_optim_params *params, hr_joint_baseline *out,
                                    hr_error *err);

/* The exact optimum (6.3) of the model as it stood after the first
 * `num_pruned` prunings of res (0: the starting α): live masks from the
 * starting α minus those branches. *out receives its LUT evaluation and
 * *objective_value its objective (ms). Errors as hr_optim_problem_create;
 * HR_ERR_INVALID_ARG when num_pruned is outside 0..res->npruned. */
hr_status hr_joint_optimum_after(const hr_lut *lut, const hr_optim_params *params, const hr_joint_result *res,
                                 int num_pruned, hr_optim_eval *out, double *objective_value, hr_error *err);

/* ---- the accuracy guard's arithmetic (SPEC §13.6) ---- */

/* The regularized incomplete beta function I_x(a, b) (a, b > 0), by its
 * continued fraction (modified Lentz), to about 1e-14. 0 for x <= 0, 1 for
 * x >= 1, NAN for a or b not > 0 or x NAN. */
double hr_stat_beta_inc(double a, double b, double x);
/* Its inverse in x: the x in [0, 1] with I_x(a, b) = p, by bisection (to
 * 1e-15). 0 for p <= 0, 1 for p >= 1, NAN for bad a, b or a NAN p. */
double hr_stat_beta_inv(double a, double b, double p);
/* One-sided Clopper–Pearson upper bound of a binomial proportion: the p
 * with P(Binomial(m, p) <= k) = 1 − level, i.e. I⁻¹(level; k + 1, m − k);
 * 1 when k >= m or m <= 0. level in (0, 1). */
double hr_stat_cp_upper(int64_t k, int64_t m, double level);

/* Upper bound (points) of the cumulative paired drop on n guard images
 * with b images right at round 0 and wrong now, c the reverse:
 * 100·(2·p_hi − 1)·(b + c)/n with p_hi = hr_stat_cp_upper(b, b + c,
 * 1 − alpha/r) (Bonferroni over the r >= 1 rounds tried so far); 0 when
 * b + c = 0 or n <= 0. */
double hr_joint_guard_bound(int64_t b, int64_t c, int64_t n, double alpha, int r);

/* Paired 95 % interval of a drop in accuracy, in points: Newcombe's
 * method 10 (Newcombe 1998, Stat. Med. 17:2635, Wilson score intervals of
 * the two paired proportions combined with the phi correlation). n images,
 * right0 right at round 0, b right then and wrong now, c the reverse; the
 * drop is 100·(b − c)/n. *lo, *hi receive the interval (clamped to
 * [−100, 100]); NAN when n <= 0 or the counts are inconsistent. */
void hr_joint_paired_ci95(int64_t n, int64_t right0, int64_t b, int64_t c, double *lo, double *hi);

/* ---- the final configuration (SPEC §13.4) ---- */

/* The configuration the co-design delivers: the exact optimum for the
 * objective over every candidate state, each under every placement (raw,
 * s = 0..N, local, as the LUT allows):
 *   round −1  the literally unpruned model at deploy γ (the baseline's own
 *             configuration, hr_joint_baseline_compute);
 *   round 0   the starting α;
 *   round r   the state after each applied round r;
 *   and, when the result's pruned list is longer than its last applied
 *   round's (goal programming), the final α as round nrounds + 1.
 * Ties on the objective go to the higher validation accuracy (the selection
 * score; the unpruned model's counts as unknown unless it is round 0), then
 * to the earlier state (fewer prunings). So it is never worse than the
 * baseline on the objective, nor than the exact optimum of any state. */
typedef struct hr_joint_choice {
    int round;             /* −1, 0, or the state's round */
    int num_pruned;        /* prefix of res->pruned_* that defines the state; 0 for round −1 and 0 */
    int nblocks;
    int *gamma;            /* [nblocks], owned */
    float *alpha;          /* [3·nblocks] by HR_BRANCH_*, owned: the state's α (0 = pruned); NULL
                              when the result did not keep it (an older checkpoint) */
    hr_optim_eval eval;    /* placement, times, fps */
    double objective_value; /* ms */
    double accuracy;       /* test part, percent */
    double drop;           /* points below round 0's test accuracy */
    double drop_lo, drop_hi; /* hr_joint_paired_ci95; NAN without per-image results */
    double baseline_value; /* the baseline's objective value (ms), for the gain */
} hr_joint_choice;

void hr_joint_choice_init(hr_joint_choice *c);
/* Frees the owned arrays and re-initialises c; NULL is a no-op. */
void hr_joint_choice_deinit(hr_joint_choice *c);

/* Chooses the final configuration of res on a merged LUT (params: the
 * objective, head, mask and ω of stage 2). out is init'd by the caller and
 * filled only on success. Errors as hr_optim_problem_create,
 * HR_ERR_INVALID_ARG (a LUT for another block count), HR_ERR_NOMEM. */
hr_status hr_joint_choose(const hr_lut *lut, const hr_optim_params *params, const hr_joint_result *res,
                          hr_joint_choice *out, hr_error *err);

/* ---- sensitivity: where co-design pays (issue 12, part 6) ----
 *
 * The exact solver (6.3) run over a grid of deployment scenarios, for a
 * pruned state (the live masks of a domain's final configuration) and for
 * its Neurosurgeon-style baseline (the unpruned model at deploy γ, best
 * placement: hr_joint_baseline_compute). Each grid point is one scenario:
 *   - link bandwidth (Mbit/s): replaces the LUT link's bandwidth; its
 *     latency and per-message time are kept;
 *   - edge slowdown F: every client time (blocks, stage 0, classifier,
 *     per-frame T_frame) = host time × F, where host time = the LUT's
 *     client time / the LUT's recorded client slowdown
 *     (hr_lut.slowdown[HR_DEVICE_CLIENT], 1 when absent or not positive). This is a flat factor: a LUT emulated through
 *     an edge profile, whose factor differs per entry (SPEC §13.2), is
 *     approximated on this axis by its flat recorded factor. Server times and
 *     every other LUT field stay as they are;
 *   - edges K sharing the server (SPEC §13.10): only K = 1 is modelled until
 *     the shared-server model exists; the axis is kept in the data.
 * The question answered: where, if anywhere, a split s = 0..N beats both
 * all-edge (`local`, everything on the client) and all-server (`raw`, the
 * frame sent as it is), and by how much. Every point costs two problem
 * builds and two exact solves (microseconds each).
 *
 *   hr_sensitivity sens;
 *   hr_sensitivity_params sp = hr_sensitivity_params_default();   // latency, 13 × 5 × 1 grid
 *   char text[2048];
 *   hr_sensitivity_init(&sens);
 *   if (hr_sensitivity_compute(lut, live, &sp, &sens, &err) == HR_OK) {
 *       hr_sensitivity_summary(&sens, text, sizeof text);
 *       puts(text);                          // "A split beats both … " / "… there is none …"
 *   }
 *   hr_sensitivity_deinit(&sens);
 */

#define HR_SENSITIVITY_MAX_AXIS 256

typedef struct hr_sensitivity_params {
    /* The solver's settings: objective (default latency), head, mask,
     * eff_omega. When optim.link_override is set its link replaces the LUT's
     * as the base whose bandwidth each point replaces. */
    hr_optim_params optim;
    /* The grid; each axis 1..HR_SENSITIVITY_MAX_AXIS values, NULL (or a count
     * of 0) for the default. The caller keeps ownership (they are copied). */
    const double *bandwidth_mbit_s; /* > 0, strictly increasing; default the 13 values
                                       1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000 */
    int nbandwidth;
    const double *slowdown;         /* > 0, strictly increasing; default 2, 4, 8, 16, 32 */
    int nslowdown;
    const int *edges;               /* default {1}; only 1 is supported yet */
    int nedges;
} hr_sensitivity_params;

hr_sensitivity_params hr_sensitivity_params_default(void);

/* One grid point. `final` is the exact optimum of the pruned state,
 * `baseline` the unpruned model at deploy γ; eval.placement says where each
 * cuts (HR_PLACEMENT_RAW, 0..N, HR_PLACEMENT_LOCAL). */
typedef struct hr_sensitivity_point {
    double bandwidth_mbit_s, slowdown;
    int edges;
    hr_optim_eval final_eval, baseline_eval;
    double final_value, baseline_value; /* objective, ms */
    double gain_fps_pct;           /* 100·(final fps / baseline fps − 1), fps = 1000/latency */
    double gain_pipelined_pct;     /* the same for pipelined fps = 1000/cycle */
    /* The pruned state's placements compared (objective values, ms; NAN when
     * the placement is unavailable): the best split 0..N against raw and
     * local, each with its own fastest γ. */
    int best_split;                /* 0..N; -1 when no split is available */
    double split_value, raw_value, local_value;
    /* 100·(e − split_value)/e with e = the better of raw and local: > 0 when
     * the split is faster, the share of e it saves; NAN when no split or
     * neither end is available. */
    double split_saving_pct;
    int split_pays;                /* 1 when split_value < both available ends */
} hr_sensitivity_point;

/* Where a split pays, over every grid point. */
typedef struct hr_sensitivity_region {
    int npoints;                   /* points where split_pays (0: none) */
    double bandwidth_lo, bandwidth_hi, slowdown_lo, slowdown_hi; /* their bounding box */
    int edges_lo, edges_hi;
    /* The point with the largest split_saving_pct: where a split pays most
     * (npoints > 0) or, when none pays, where it comes closest (the value is
     * then ≤ 0: how much slower it is than the better end). -1 when no point
     * has a split and an end to compare. */
    int best_index;
    double best_saving_pct;
} hr_sensitivity_region;

typedef struct hr_sensitivity {
    hr_objective objective;
    hr_device head;
    int nblocks;
    int nbandwidth, nslowdown, nedges;
    double *bandwidth_mbit_s;      /* [nbandwidth], owned */
    double *slowdown;              /* [nslowdown], owned */
    int *edges;                    /* [nedges], owned */
    /* [nedges × nslowdown × nbandwidth], owned; index
     * (e·nslowdown + s)·nbandwidth + b (hr_sensitivity_point_at) */
    hr_sensitivity_point *points;
    int npoints;
    double lut_slowdown;           /* the LUT's client factor the host times were recovered with */
    hr_link link;                  /* the base link (bandwidth replaced per point) */
    double raw_bytes;              /* what raw sends (the u8 frame); 0 when unavailable */
    double min_split_bytes;        /* the smallest tensor any available split sends */
    int min_split_bytes_at;        /* its split s; -1 when no split is available */
    int npruned;                   /* branches of the LUT's blocks not live in the pruned state */
    hr_sensitivity_region region;
} hr_sensitivity;

void hr_sensitivity_init(hr_sensitivity *s);
/* Frees the owned arrays and re-initialises s; NULL is a no-op. */
void hr_sensitivity_deinit(hr_sensitivity *s);

/* Sweeps the grid. live (lut->nblocks masks, HR_BR_*) is the pruned state,
 * NULL for nothing pruned. lut is only read (each slowdown works on a copy
 * of its blocks). Errors, out untouched:
 *   HR_ERR_INVALID_ARG  a grid value not positive and finite, an axis not
 *                       strictly increasing or longer than
 *                       HR_SENSITIVITY_MAX_AXIS; and every error of
 *                       hr_optim_problem_create (the first point's, with
 *                       the point named);
 *   HR_ERR_UNSUPPORTED  K ≠ 1 edges (the shared server is not modelled yet);
 *   HR_ERR_NOMEM. */
hr_status hr_sensitivity_compute(const hr_lut *lut, const unsigned *live, const hr_sensitivity_params *params,
                                 hr_sensitivity *out, hr_error *err);

/* The point at (edge index, slowdown index, bandwidth index); NULL when an
 * index is out of range. */
const hr_sensitivity_point *hr_sensitivity_point_at(const hr_sensitivity *s, int edge, int slowdown, int bandwidth);

/* The region in words, NUL-terminated into buf (truncated to fit; returns
 * the length the whole text needs, as snprintf). Either "A split (s = 0..N)
 * beats both all-edge (local) and all-server (raw) for the latency
 * objective at n of m grid points: …", naming the bandwidth band per
 * slowdown and the largest saving, or the statement that there is none for
 * this model on the grid, with how close a split comes and the bytes a raw
 * frame and the smallest split tensor send. */
int hr_sensitivity_summary(const hr_sensitivity *s, char *buf, unsigned long size);

#ifdef __cplusplus
}
#endif
#endif
