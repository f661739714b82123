/* 6.2 grid search over the split (the original's step 3, stage 2): the
 * gradient method with λ fixed at every split of a range, each discrete
 * result evaluated on the LUT; the best by the objective wins (the first on
 * ties). One gradient kernel serves every split. */
#include <stdlib.h>
#include <string.h>

#include "optim/optim_internal.h"

/* Resolves the range: defaults, then clamping to 0..N (and to 1.. when
 * split 0 is unavailable). */
static hr_status resolve_range(const hr_optim_problem *p, hr_optim_result *r, hr_error *err)
{
    int n = p->n, a = p->params.min_split, b = p->params.max_split;
    int lo0 = hr_optim_placement_available(p, 0) ? 0 : 1;
    if (a == HR_OPTIM_SPLIT_DEFAULT)
        a = n == 27 ? 8 : 1;
    if (b == HR_OPTIM_SPLIT_DEFAULT)
        b = n == 27 ? 15 : (n > 1 ? n - 1 : 1);
    r->req_min_split = a;
    r->req_max_split = b;
    if (a > b)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "grid search: min split %d is above max split %d", a, b);
    r->min_split = a < lo0 ? lo0 : a;
    r->max_split = b > n ? n : b;
    if (r->min_split > r->max_split)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "grid search: split range %d..%d lies outside the model (%d..%d)",
                            a, b, lo0, n);
    r->range_clamped = r->min_split != a || r->max_split != b;
    return HR_OK;
}

hr_status hr_optim_grid(const hr_optim_problem *p, hr_optim_result *out, hr_error *err)
{
    const hr_optim_params *q;
    hr_optim_history *hist = NULL, *best_hist = NULL;
    hr_optim_result r;
    hr__gd g;
    hr_status st;
    int *gamma, nh = 0, best = -1, nhalloc;

    if (!p || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "grid search: needs a problem and a result");
    q = &p->params;
    hr_optim_result_init(&r);
    r.method = HR_METHOD_GRID;
    if ((st = resolve_range(p, &r, err)))
        return st;
    r.nsplits = r.max_split - r.min_split + 1;
    nhalloc = q->history_every > 0 ? q->steps / q->history_every + 1 : 0;
    if ((st = hr__optim_result_alloc(&r, p->n, err)))
        return st;
    r.splits = calloc((size_t)r.nsplits, sizeof *r.splits);
    r.split_gamma = malloc(sizeof(int) * (size_t)r.nsplits * (size_t)p->n);
    if (nhalloc) {
        hist = calloc((size_t)nhalloc, sizeof *hist);
        best_hist = calloc((size_t)nhalloc, sizeof *best_hist);
    }
    if (!r.splits || !r.split_gamma || (nhalloc && (!hist || !best_hist))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "grid search: out of memory for %d splits", r.nsplits);
        goto fail;
    }
    if ((st = hr__gd_init(&g, p, err)))
        goto fail;
    for (int i = 0; i < r.nsplits; i++) {
        int s = r.min_split + i;
        hr_optim_split *sp = &r.splits[i];
        double lambda;
        gamma = r.split_gamma + (size_t)i * (size_t)p->n;
        hr__gd_run(&g, q->steps, q->lr_theta, q->lr_lambda, q->adam_beta1, q->adam_beta2, q->adam_eps, s, 1,
                   q->history_every, hist, &nh, &lambda, &sp->loss);
        hr__gd_argmax(&g, p, gamma);
        hr__optim_eval(p, gamma, s, &sp->eval);
        sp->objective_value = hr_optim_objective_value(&sp->eval, q->objective, q->eff_omega);
        if (best < 0 || sp->objective_value < r.splits[best].objective_value) {
            hr_optim_history *t = hist;
            best = i;
            hist = best_hist;
            best_hist = t;
            r.nhistory = nh;
        }
    }
    hr__gd_deinit(&g);
    free(hist);
    r.history = best_hist;
    memcpy(r.gamma, r.split_gamma + (size_t)best * (size_t)p->n, sizeof(int) * (size_t)p->n);
    r.lambda_start = r.lambda_final = r.min_split + best;
    r.final_loss = r.splits[best].loss;
    hr__optim_finish(p, &r, r.min_split + best);
    hr_optim_result_deinit(out);
    *out = r;
    return HR_OK;
fail:
    free(hist);
    free(best_hist);
    hr_optim_result_deinit(&r);
    return st;
}
