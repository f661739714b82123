/* 6.3 exact solver. For a fixed placement the LUT objective is a sum over
 * blocks on each side (latency) or a max of such sums (cycle), and the bytes
 * crossing the link do not depend on γ, so giving every block its fastest
 * valid γ on the device that runs it minimises head and tail time at once,
 * hence every objective that is non-decreasing in both (latency, cycle,
 * eff). Trying every placement then gives the global optimum. */
#include <math.h>
#include <stdlib.h>

#include "optim/optim_internal.h"

void hr__optim_exact_gamma(const hr_optim_problem *p, int placement, int *gamma)
{
    int lo = placement == HR_PLACEMENT_RAW ? 0 : placement == HR_PLACEMENT_LOCAL ? p->n : placement;
    for (int k = 0; k < p->n; k++)
        gamma[k] = p->best_gamma[k < lo ? p->head : p->tail][k];
}

/* Placements in the order ties are broken: raw, 0..N, local. Index i in
 * 0..n+2 maps to one of them. */
static int placement_at(const hr_optim_problem *p, int i)
{
    return i == 0 ? HR_PLACEMENT_RAW : i == p->n + 2 ? HR_PLACEMENT_LOCAL : i - 1;
}

/* Scans every available placement; each evaluation is O(N), so the whole
 * scan is O(N²) additions (about 800 for RepVGG-B3), cheap enough and free
 * of any second summation order that could disagree with the evaluator.
 * work (n ints) is scratch and may be gamma itself; the best γ ends in
 * gamma, and, when splits is non-NULL, every placement's evaluation there
 * (their count in *nsplits). */
static int scan(const hr_optim_problem *p, hr_objective objective, int *gamma, double *value, int *work,
                hr_optim_split *splits, int *nsplits)
{
    int best = -1, ns = 0;
    double best_v = INFINITY;
    for (int i = 0; i <= p->n + 2; i++) {
        int pl = placement_at(p, i);
        hr_optim_eval e;
        double v;
        if (!hr_optim_placement_available(p, pl))
            continue;
        hr__optim_exact_gamma(p, pl, work);
        hr__optim_eval(p, work, pl, &e);
        v = hr_optim_objective_value(&e, objective, p->params.eff_omega);
        if (splits) {
            splits[ns].eval = e;
            splits[ns].objective_value = v;
        }
        ns++;
        if (v < best_v) {
            best_v = v;
            best = pl;
        }
    }
    hr__optim_exact_gamma(p, best, gamma);
    if (nsplits)
        *nsplits = ns;
    *value = best_v;
    return best;
}

int hr__optim_exact_best(const hr_optim_problem *p, hr_objective objective, int *gamma, double *value)
{
    return scan(p, objective, gamma, value, gamma, NULL, NULL);
}

hr_status hr_optim_exact(const hr_optim_problem *p, hr_optim_result *out, hr_error *err)
{
    hr_optim_result r;
    hr_status st;
    double v;
    int best;

    if (!p || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "exact solver: needs a problem and a result");
    hr_optim_result_init(&r);
    r.method = HR_METHOD_EXACT;
    if ((st = hr__optim_result_alloc(&r, p->n, err)))
        return st;
    r.splits = calloc((size_t)p->n + 3, sizeof *r.splits);
    if (!r.splits) {
        hr_optim_result_deinit(&r);
        return hr_error_set(err, HR_ERR_NOMEM, "exact solver: out of memory");
    }
    best = scan(p, p->params.objective, r.gamma, &v, r.gamma, r.splits, &r.nsplits);
    hr__optim_finish(p, &r, best);
    hr_optim_result_deinit(out);
    *out = r;
    return HR_OK;
}
