/* Step 2 and the split search (SPEC §6.1–6.3): choose a γ per block and a
 * placement (where the network is cut between the head and the tail device)
 * from a merged LUT.
 *
 *   - gradient method (6.1, the original tool's step 2): softmax over γ per
 *     block, a sigmoid soft split at λ, Adam on the paper's loss with
 *     analytic gradients;
 *   - grid search (6.2, the original's step 3, stage 2): the gradient method
 *     with λ fixed at every split of a range, each evaluated on the LUT;
 *   - exact solver (6.3, ours): for every placement (raw, s = 0..N, local)
 *     each block takes its fastest valid γ on its side; microseconds, and the
 *     reference every other result is judged against (gap_to_exact_pct).
 *
 * A problem (hr_optim_problem) fixes everything the methods share and is
 * validated once: the LUT, the live branches of every block (existing in the
 * LUT minus pruned), the mask, the orientation (head = client by default) and
 * the link model. It is read-only afterwards, so threads may run methods on
 * one problem at once. Results are caller-storage structs (init/deinit).
 *
 * A block's existing branches are read from the LUT itself (the γ that have
 * times), and every γ they allow must have a time on both devices; so no γ
 * the mask admits lacks a time, and the original's rule "invalid entries
 * count as 1000 ms" (for γ its α-based masks admitted on blocks that lack a
 * branch) never has to apply.
 *
 *   hr_optim_problem *p;
 *   hr_optim_result gd, ex;
 *   hr_optim_params prm = hr_optim_params_default();
 *   prm.objective = HR_OBJECTIVE_CYCLE;
 *   if (hr_optim_problem_create(lut, NULL, &prm, &p, &err)) ...   // NULL: nothing pruned
 *   hr_optim_result_init(&gd); hr_optim_result_init(&ex);
 *   hr_optim_gd(p, &gd, &err); hr_optim_exact(p, &ex, &err);
 *   printf("%.2f ms, %.1f %% above the optimum\n", gd.objective_value, gd.gap_to_exact_pct);
 *   hr_optim_result_deinit(&gd); hr_optim_result_deinit(&ex); hr_optim_problem_destroy(p);
 */
#ifndef HYPERREP_OPTIM_H
#define HYPERREP_OPTIM_H

#include <limits.h>

#include "hyperrep/ctx.h"
#include "hyperrep/error.h"
#include "hyperrep/gamma.h"
#include "hyperrep/lut.h"
#include "hyperrep/placement.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Placements: placement.h (HR_PLACEMENT_RAW, HR_PLACEMENT_LOCAL). */

/* min_split / max_split of hr_optim_params: the default range. */
#define HR_OPTIM_SPLIT_DEFAULT INT_MIN

typedef enum hr_objective {
    HR_OBJECTIVE_LATENCY, /* head + link transfer + tail, one frame at a time */
    HR_OBJECTIVE_CYCLE,   /* max(head, link occupancy, tail), pipelined stream */
    HR_OBJECTIVE_EFF,     /* ω·latency + (1−ω)·cycle (the paper's T_eff) */
    HR_OBJECTIVE_COUNT
} hr_objective;

typedef enum hr_optim_method { HR_METHOD_GD, HR_METHOD_GRID, HR_METHOD_EXACT, HR_METHOD_COUNT } hr_optim_method;

/* Where the gradient method's λ starts when it is learnable. */
typedef enum hr_lambda_init {
    HR_LAMBDA_INIT_VALUE, /* params.lambda0 (default 10, the original's), clamped into 0..N */
    HR_LAMBDA_INIT_N,     /* N: everything on the head */
    HR_LAMBDA_INIT_MID,   /* N/2 */
    HR_LAMBDA_INIT_EXACT, /* the exact solver's split for the objective (raw → 0, local → N) */
    HR_LAMBDA_INIT_COUNT
} hr_lambda_init;

/* "latency", "cycle", "eff" / "gd", "grid", "exact" / "value", "N", "mid",
 * "exact"; parse returns -1 for unknown text. */
const char *hr_objective_name(hr_objective o);
int hr_objective_parse(const char *s);
const char *hr_optim_method_name(hr_optim_method m);
int hr_optim_method_parse(const char *s);
const char *hr_lambda_init_name(hr_lambda_init i);

/* Every setting, with the SPEC's defaults from hr_optim_params_default().
 * Grows by new fields only. */
typedef struct hr_optim_params {
    /* shared */
    hr_device head;          /* device running stage 0 and blocks [0, s): HR_DEVICE_CLIENT */
    hr_mask_kind mask;       /* HR_MASK_EXACT; SUBSET reproduces the original (changes the function) */
    hr_objective objective;  /* HR_OBJECTIVE_LATENCY */
    double eff_omega;        /* ω of the eff objective: 0.5 */
    int link_override;       /* 1: use `link` below instead of the LUT's */
    hr_link link;
    /* gradient method (6.1) */
    int steps;               /* 800 */
    double lr_theta, lr_lambda;            /* 0.01, 0.01 */
    double adam_beta1, adam_beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
    double sigma;            /* sharpness of the soft split: 5 */
    double z_offset;         /* 0.5; 0 reproduces the original (block s half on each side) */
    int link_streams;        /* 1: L_trans interpolates Comm_size at E[streams] (the original) */
    int intensity_weights;   /* 1: intensities count weight bytes too (SPEC §4 Bytes_w);
                                0 (default): activations only, the original's */
    hr_lambda_init lambda_init; /* HR_LAMBDA_INIT_VALUE */
    double lambda0;          /* 10 */
    int lambda_fixed;        /* 1: λ stays at its start value */
    double w_head, w_tail, w_trans, w_intensity, w_rc, w_rs; /* 10, 10, 5, 0.05, 0, 0 */
    double invalid_ms;       /* time of an entry without a LUT value: 1000 */
    int history_every;       /* record the loss every n steps (0: never): 100 */
    /* grid search (6.2) */
    int min_split, max_split; /* HR_OPTIM_SPLIT_DEFAULT: 8 / 15 for a 27-block model
                                (the original's), 1 / N−1 otherwise */
} hr_optim_params;

hr_optim_params hr_optim_params_default(void);

/* LUT-evaluated cost of one discrete configuration (SPEC §6.3, §13.1).
 * Per-frame overhead (the LUT's T_frame, 0 when absent): at a split s = 0..N
 * both sides pay their own; at raw too, since the head still frames the
 * 8-bit image, hands it to its link thread and takes the result back (T_frame
 * was measured for the model's median crossing tensor, which makes it an
 * upper bound for the smaller image); at local neither does, because
 * nothing is framed or handed to a link thread and the tail receives
 * nothing. */
typedef struct hr_optim_eval {
    int placement;           /* HR_PLACEMENT_RAW, 0..N, HR_PLACEMENT_LOCAL */
    double head_ms;          /* stage 0 (unless raw) + head blocks (+ classifier when local)
                                + T_frame of the head (unless local) */
    double link_ms;          /* transfer time of the crossing bytes */
    double link_busy_ms;     /* occupancy of the link by them (bounds the pipelined stream) */
    double tail_ms;          /* tail blocks + classifier (+ stage 0 when raw)
                                + T_frame of the tail (unless local) */
    double bytes;            /* bytes crossing the link */
    double latency_ms, cycle_ms, eff_ms;
    double fps;              /* 1000 / latency (0 when latency is 0) */
    double pipelined_fps;    /* 1000 / cycle (0 when cycle is 0) */
} hr_optim_eval;

/* Terms of the gradient method's loss (unweighted, as in the original's
 * final_loss) and the weighted total. time_head = Σ(1−z)E[T_head],
 * time_tail = Σ z E[T_tail], trans = L_trans, intensity = L_I,
 * roofline_tail = L_rc, roofline_head = L_rs. */
typedef struct hr_optim_loss {
    double total, time_head, time_tail, trans, intensity, roofline_tail, roofline_head;
} hr_optim_loss;

typedef struct hr_optim_history {
    int step;
    double lambda;
    hr_optim_loss loss;
} hr_optim_history;

/* One placement tried by the grid search or the exact solver. */
typedef struct hr_optim_split {
    hr_optim_eval eval;
    double objective_value;
    hr_optim_loss loss;      /* grid: the gradient method's final loss at this split */
} hr_optim_split;

typedef struct hr_optim_result {
    hr_optim_method method;
    hr_objective objective;
    int nblocks;
    int *gamma;              /* [nblocks], owned */
    hr_optim_eval eval;
    double objective_value;  /* ms */
    double exact_value;      /* the exact optimum of the same objective, ms */
    double gap_to_exact_pct; /* 100·(objective_value − exact_value)/exact_value */
    /* gradient method (and the grid's best split) */
    double lambda_start, lambda_final; /* continuous λ before rounding */
    hr_optim_loss final_loss;
    int nhistory;
    hr_optim_history *history; /* owned */
    /* grid: every split of the range; exact: every placement in order raw, 0..N, local */
    int nsplits;
    hr_optim_split *splits;  /* owned */
    int *split_gamma;        /* [nsplits * nblocks], owned (grid only) */
    int min_split, max_split;   /* grid: the range searched, after clamping */
    int req_min_split, req_max_split; /* grid: the range asked for */
    int range_clamped;       /* grid: 1 when the asked range was cut to the model */
} hr_optim_result;

void hr_optim_result_init(hr_optim_result *r);
/* Frees the owned arrays and re-initialises r; NULL is a no-op. */
void hr_optim_result_deinit(hr_optim_result *r);

typedef struct hr_optim_problem hr_optim_problem;

/* Existing branches of every block as the LUT records them: the union of the
 * branch sets of the γ that have a time on either device. existing has
 * lut->nblocks entries. HR_ERR_FORMAT when a block has no time at all. */
hr_status hr_optim_existing_branches(const hr_lut *lut, unsigned *existing, hr_error *err);

/* Validates the LUT and the settings and builds a problem. live[k] is the
 * live branch mask of block k (HR_BR_*), a subset of the existing one; NULL
 * means nothing is pruned. The problem keeps a pointer to lut, which must
 * outlive it, and copies live and params.
 * Errors (message naming block, γ, device and value):
 *   HR_ERR_FORMAT   blocks missing from the stage{s}.{i} sequence or from the
 *                   model the LUT names; a time that is NaN, infinite or
 *                   negative other than -1; a γ the block's branches allow
 *                   without a time on one device; bad Comm_size
 *   HR_ERR_INVALID_ARG  live not a non-empty subset of the existing branches;
 *                   a block whose mask leaves no valid γ; non-positive
 *                   bandwidth, negative latency; steps < 0; bad weights
 *   HR_ERR_NOMEM. */
hr_status hr_optim_problem_create(const hr_lut *lut, const unsigned *live, const hr_optim_params *params,
                                  hr_optim_problem **out, hr_error *err);
void hr_optim_problem_destroy(hr_optim_problem *p);

const hr_lut *hr_optim_problem_lut(const hr_optim_problem *p);
const hr_optim_params *hr_optim_problem_params(const hr_optim_problem *p);
/* The link model in use (the LUT's or the override). */
const hr_link *hr_optim_problem_link(const hr_optim_problem *p);
unsigned hr_optim_problem_live(const hr_optim_problem *p, int block);
unsigned hr_optim_problem_existing(const hr_optim_problem *p, int block);
/* Input [C, H, W] and class count used for `raw` and `local` (from the LUT,
 * else derived from the model it names); 0 when unknown. */
const int64_t *hr_optim_problem_input_shape(const hr_optim_problem *p);
int64_t hr_optim_problem_num_classes(const hr_optim_problem *p);
/* 1 when the placement can be evaluated (raw needs the input shape, local
 * the class count, 0 the input shape of block 0). */
int hr_optim_placement_available(const hr_optim_problem *p, int placement);
/* Remarks made while building the problem (placements left out, stage times
 * absent, subset mask, shapes derived from the model); index 0..count−1. */
int hr_optim_problem_num_notes(const hr_optim_problem *p);
const char *hr_optim_problem_note(const hr_optim_problem *p, int i);

/* Evaluates a configuration on the LUT. gamma[k] must be valid for block k
 * under the problem's mask and have a time on the device that runs it.
 * HR_ERR_INVALID_ARG otherwise, or for an unavailable placement. */
hr_status hr_optim_evaluate(const hr_optim_problem *p, const int *gamma, int placement, hr_optim_eval *out,
                            hr_error *err);
/* The value of an objective for an evaluation (ms). */
double hr_optim_objective_value(const hr_optim_eval *e, hr_objective objective, double omega);

/* 6.3: the exact optimum of params.objective over every available placement.
 * Ties go to the first placement in the order raw, 0..N, local and, per
 * block, to the lowest γ. splits lists every available placement.
 * HR_ERR_NOMEM; out untouched on failure. */
hr_status hr_optim_exact(const hr_optim_problem *p, hr_optim_result *out, hr_error *err);

/* 6.1: the gradient method; result γ_k = argmax p_k (ties to the lowest γ),
 * placement = round(λ) (halves up) clamped to 0..N (1 when split 0 is
 * unavailable), evaluated on the LUT. HR_ERR_NOMEM; out untouched on
 * failure. */
hr_status hr_optim_gd(const hr_optim_problem *p, hr_optim_result *out, hr_error *err);

/* 6.2: the gradient method with λ fixed at every split of
 * [params.min_split, params.max_split]; keeps the best by the objective. A
 * range reaching beyond 0..N is clamped (range_clamped = 1, the caller
 * warns); HR_ERR_INVALID_ARG when min > max or the range misses 0..N. */
hr_status hr_optim_grid(const hr_optim_problem *p, hr_optim_result *out, hr_error *err);

/* ---- pruned branches (--pruned) ---- */

typedef struct hr_pruned_params {
    double threshold;        /* α files: pruned when |α| < threshold; 0.01 */
    const char *domain;      /* α files holding several domains: "3" or "domain_3"; NULL */
    hr_log_fn log;           /* receives the note on the original's virtual
                                identities (HR_LOG_WARN); NULL: hr_log_stderr */
    void *log_user;
} hr_pruned_params;

hr_pruned_params hr_pruned_params_default(void);

/* Removes the branches named (e.g. "stage2.3.hyper_dense") from live, which
 * holds lut->nblocks masks. The original's virtual identity (gamma.h: the
 * identity of a block without one) is skipped: it is never a branch.
 * HR_ERR_INVALID_ARG for a malformed name, a block the LUT lacks, another
 * branch the block does not have, or a block left without branches; live is
 * untouched on failure. */
hr_status hr_pruned_apply_names(const hr_lut *lut, const char *const *names, int count, unsigned *live,
                                hr_error *err);

/* Reads the pruned branches from a file and removes them from live:
 *   - a JSON array of hyper-weight names (the original's pruned list);
 *   - a joint result: its stage1_accuracy.pruned_weights (or a top-level
 *     pruned_weights);
 *   - a JSON object of α values {"stage1.0.hyper_dense": 0.93, …}, or one
 *     per domain {"domain_0": {…}, …} (params.domain picks one; required when
 *     there are several); a branch is pruned when |α| < threshold, and α of
 *     branches the block does not have are ignored (the original writes 1.0
 *     for a stride-2 block's missing identity).
 * The original's virtual identities (gamma.h), in a list or a map, are
 * skipped; a load that met any sends one note naming them to params.log.
 * Errors name the file and the offending entry (HR_ERR_IO, HR_ERR_FORMAT,
 * HR_ERR_INVALID_ARG, HR_ERR_NOT_FOUND for an unknown domain). live is
 * untouched on failure. */
hr_status hr_pruned_load(const char *path, const hr_lut *lut, const hr_pruned_params *params, unsigned *live,
                         hr_error *err);

/* ---- output (initial_throughput_config.json) ---- */

typedef struct hr_optim_report {
    const hr_optim_problem *problem;
    const char *lut_file;    /* as given on the command line */
    const char *pruned_file; /* NULL when nothing was pruned from a file */
    /* results by method (NULL where not run); the original's top-level fields
     * come from gd, else grid, else exact */
    const hr_optim_result *results[HR_METHOD_COUNT];
} hr_optim_report;

/* Writes the original's fields (metadata, initial_config, optimal_gamma,
 * optimal_lambda, final_loss, gamma_distribution, optimization_history)
 * plus SPEC §6's `results`, `head`, `link`, the mask, notes and the
 * LUT-evaluated `performance`, atomically. optimal_lambda is an integer for
 * the original's readers: 0 for raw and N for local, with
 * optimal_placement saying "raw" / "local". Loss terms keep the original's
 * device names: time_<head device> = Σ(1−z)E[T_head], roofline_<tail
 * device> = L_rc, and so on. HR_ERR_IO, HR_ERR_NOMEM, HR_ERR_INVALID_ARG
 * when no result is given. */
hr_status hr_optim_report_save(const char *path, const hr_optim_report *rep, hr_error *err);
/* The same document as a malloc'd string (caller frees). */
hr_status hr_optim_report_dumps(const hr_optim_report *rep, char **out, hr_error *err);

#ifdef __cplusplus
}
#endif
#endif
