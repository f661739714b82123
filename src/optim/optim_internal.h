/* Private pieces of the optimizers in src/optim/: the problem object (the
 * validated LUT in the compact form every method reads), the fast evaluator
 * and the gradient method's loss/gradient kernel, which the finite-difference
 * test calls directly. Not part of the public API. */
#ifndef HR_OPTIM_INTERNAL_H
#define HR_OPTIM_INTERNAL_H

#include "hyperrep/optim.h"

#define HR__OPTIM_MAX_NOTES 8
#define HR__OPTIM_NOTE_MAX 256

struct hr_optim_problem {
    const hr_lut *lut;
    hr_optim_params params;
    hr_link link;
    int n;                         /* blocks */
    hr_device head, tail;
    unsigned *existing, *live;     /* [n] */
    /* γ valid under the mask, block by block: gid[off[k] .. off[k+1]) */
    int *off, *gid;
    int total;
    /* per compact entry: FLOPs and bytes of the γ (SPEC §4; intensity and 1
     * when the LUT has no block shapes) and its stream count */
    double *flops, *bytes, *streams;
    /* fastest valid γ of every block on each device */
    int *best_gamma[HR_DEVICE_COUNT];
    int *scratch;                  /* n ints, used only while creating */
    int64_t input_shape[3];
    int64_t num_classes;
    double block0_in_bytes;        /* 0 when unknown */
    double exact_value[HR_OBJECTIVE_COUNT];
    int nnotes;
    char notes[HR__OPTIM_MAX_NOTES][HR__OPTIM_NOTE_MAX];
};

/* Evaluates a configuration known to be valid (no checks): times summed in
 * network order, stage 0 first, classifier last. */
void hr__optim_eval(const hr_optim_problem *p, const int *gamma, int placement, hr_optim_eval *out);

/* Bytes crossing the link at an available placement. */
double hr__optim_placement_bytes(const hr_optim_problem *p, int placement);

/* The exact solver's γ for one placement (each block's fastest valid γ on the
 * side that runs it), written into gamma[n]. */
void hr__optim_exact_gamma(const hr_optim_problem *p, int placement, int *gamma);

/* The exact optimum of an objective: returns its placement (splits 1..N are
 * always available), leaves its γ in gamma (n ints) and its value in *value. */
int hr__optim_exact_best(const hr_optim_problem *p, hr_objective objective, int *gamma, double *value);

/* Fills the common fields of a result: γ copy, evaluation, objective value,
 * gap to the exact optimum. r->gamma must already hold n entries. */
void hr__optim_finish(const hr_optim_problem *p, hr_optim_result *r, int placement);

/* Allocates r->gamma for n blocks (r initialised). */
hr_status hr__optim_result_alloc(hr_optim_result *r, int n, hr_error *err);

/* ---- gradient method kernel ---- */

/* Loss weights, in the order of the SPEC's formula. */
enum { HR__W_HEAD, HR__W_TAIL, HR__W_TRANS, HR__W_INTENSITY, HR__W_RC, HR__W_RS, HR__W_COUNT };

typedef struct hr__gd {
    int n, total;
    const int *off;                /* block k owns entries off[k] .. off[k+1] */
    const double *flops, *bytes, *streams; /* per entry (the problem's) */
    double *t_head, *t_tail;       /* per entry, ms */
    double *comm_mb;               /* [3n] Comm_size of every block */
    double link_lat_ms;            /* linktime(b) = link_lat_ms + b·link_ms_per_byte */
    double link_ms_per_byte;
    int link_streams;
    double sigma, z_offset, knee_head, knee_tail;
    double w[HR__W_COUNT];
    /* scratch, sized at init */
    double *p, *z, *e_head, *e_tail, *e_flops, *e_bytes, *e_streams, *comm_ms, *dcomm;
    double *d_head, *d_tail, *d_flops, *d_bytes, *d_streams, *d_z;
    double *zgap;                  /* I_knee_head − E[F]/E[B] per block */
    /* parameters, Adam moments and the gradient (index total is λ) */
    double *theta, *m, *v, *grad;
    void *mem;
} hr__gd;

/* Builds the kernel for a problem (weights and switches from its params). */
hr_status hr__gd_init(hr__gd *g, const hr_optim_problem *p, hr_error *err);
void hr__gd_deinit(hr__gd *g);

/* Loss at (theta[total], lambda); fills terms when non-NULL and, when
 * g_theta is non-NULL, the analytic gradient (g_theta[total], *g_lambda).
 * Returns the weighted total. */
double hr__gd_loss(hr__gd *g, const double *theta, double lambda, hr_optim_loss *terms, double *g_theta,
                   double *g_lambda);

/* Runs Adam from θ = 0 and λ = lambda0 (λ frozen when fixed) for `steps`
 * steps; leaves the parameters in g->theta and *lambda_out, the loss at them
 * in *final and, when hist is non-NULL, entries every `every` steps
 * (*nhist of them; hist holds steps/every + 1). */
void hr__gd_run(hr__gd *g, int steps, double lr_theta, double lr_lambda, double beta1, double beta2, double eps,
                double lambda0, int fixed, int every, hr_optim_history *hist, int *nhist, double *lambda_out,
                hr_optim_loss *final);

/* γ of every block = argmax of θ over its valid γ (ties to the lowest γ). */
void hr__gd_argmax(const hr__gd *g, const hr_optim_problem *p, int *gamma);

#endif
