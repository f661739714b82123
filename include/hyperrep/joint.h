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
 *   - the best candidate wins (ties: first in pool order). best_so_far =
 *     max(initial, every applied round) on validation; when best_so_far −
 *     winner > threshold the run stops without applying it. Otherwise the
 *     winner's α is applied, it leaves the pool and the pool is refilled with
 *     the next ranked branch that is neither pruned nor pooled;
 *   - at most `rounds` rounds; every round is recorded.
 * Selection uses the domain's validation part; reported accuracies come from
 * its test part.
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
    double threshold;      /* percentage points below best_so_far that stop the run: 2 */
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

typedef struct hr_goal_params {
    int alternations;      /* phase A + phase B pairs at most: 5 (1..HR_GOAL_MAX_ITER) */
    int steps;             /* Adam steps of each phase B: 400 */
    double lr;             /* Adam rate of θ, λ and ξ_A: 0.01 */
    double kappa, mu, epsilon, omega; /* 100, 1, 2 (points), 0.5 */
    double beta_r, lambda_i, rho;     /* roofline penalty: 0.01, 0.05, 0.1 */
    int weighted_l1;       /* 1 (ours): phase A's L1 weights each |α| by its branch's share of the
                              block's LUT time on its current side; 0 reproduces the paper */
} hr_goal_params;

hr_goal_params hr_goal_params_default(void);

typedef struct hr_goal_iter {
    int iteration;         /* 1-based */
    double val_acc, test_acc; /* after phase A */
    double xi, lambda;     /* after phase B */
    double j, t_eff, t_lat, t_cyc; /* the loss and its time terms after phase B (ms) */
} hr_goal_iter;

typedef struct hr_goal_result {
    int niter;
    hr_goal_iter iter[HR_GOAL_MAX_ITER];
    double xi, lambda;
    hr_optim_result config; /* γ = argmax θ under the exact mask, placement = round(λ); LUT-evaluated */
    char stop_reason[128];
} hr_goal_result;

/* Goal programming on domain `domain`: alternates (A) α training with the
 * trainer settings of jp (epochs, batch, lr, momentum, l1, seed; the
 * pruning fields are unused) and (B) gp->steps Adam steps on θ, λ, ξ_A
 * (λ starts from op->lambda0 clamped to 0..N, or N / N/2 for lambda_init N
 * / MID), until A >= A_ref − ε − 0.5 and ξ_A < 0.1. A and A_ref are
 * validation accuracies. The trained α are written into model (its applied
 * γ are dropped). s1 receives the α before/after and the accuracies (no
 * rounds); out the history and the final configuration; *problem the
 * problem it was evaluated on (caller destroys). s1 and out are init'd by
 * the caller. Errors: HR_ERR_INVALID_ARG (a LUT for another block count,
 * bad settings), the problem's, trainer's and data's errors, HR_ERR_NOMEM. */
hr_status hr_joint_goal(hr_model *model, const hr_data *data, int domain, const hr_lut *lut,
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
    const hr_goal_result *goal;  /* goal programming: its configuration is the final one; NULL */
} hr_joint_report;

/* results/joint_optimization/domain_<k>_joint.json (SPEC §7), atomically:
 * the original's fields (metadata, stage1_accuracy, stage2_throughput,
 * final_configuration) plus pruning_history (every round and candidate),
 * stage2_throughput.results {grid, exact} and exact_optimum. The original's
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
