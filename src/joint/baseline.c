/* The co-design's yardstick: a Neurosurgeon-style baseline (unpruned, deploy
 * γ everywhere, best placement) and the exact optimum after each pruning
 * round, both on the merged LUT. */
#include <stdlib.h>
#include <string.h>

#include "hyperrep/joint.h"

hr_status hr_joint_baseline_compute(const hr_lut *lut, const hr_optim_params *params, hr_joint_baseline *out,
                                    hr_error *err)
{
    hr_optim_problem *p = NULL;
    hr_optim_params prm = *params;
    hr_status st;
    int n = lut->nblocks, have = 0;
    int *gamma = malloc(sizeof *gamma * (size_t)(n > 0 ? n : 1));
    if (!gamma)
        return hr_error_set(err, HR_ERR_NOMEM, "baseline: out of memory");
    /* The deploy γ fuses every existing branch into one kernel: the exact
     * mask is what the unpruned network computes. */
    prm.mask = HR_MASK_EXACT;
    if ((st = hr_optim_problem_create(lut, NULL, &prm, &p, err)))
        goto done;
    for (int k = 0; k < n; k++)
        gamma[k] = hr_gamma_deploy(hr_optim_problem_live(p, k));
    /* Placements in the exact solver's order, so ties resolve the same way. */
    for (int placement = HR_PLACEMENT_RAW; placement <= n + 1; placement++) {
        int pl = placement == n + 1 ? HR_PLACEMENT_LOCAL : placement;
        hr_optim_eval ev;
        if (!hr_optim_placement_available(p, pl))
            continue;
        if ((st = hr_optim_evaluate(p, gamma, pl, &ev, err)))
            goto done;
        double v = hr_optim_objective_value(&ev, prm.objective, prm.eff_omega);
        if (!have || v < out->objective_value) {
            out->placement = pl;
            out->eval = ev;
            out->objective_value = v;
            have = 1;
        }
    }
    if (!have)
        st = hr_error_set(err, HR_ERR_INVALID_ARG, "baseline: the LUT allows no placement");
done:
    hr_optim_problem_destroy(p);
    free(gamma);
    return st;
}

hr_status hr_joint_optimum_after(const hr_lut *lut, const hr_optim_params *params, const hr_joint_result *res,
                                 int num_pruned, hr_optim_eval *out, double *objective_value, hr_error *err)
{
    hr_optim_problem *p = NULL;
    hr_optim_result ex;
    hr_status st;
    unsigned *live;
    if (!res || !res->alpha_initial || lut->nblocks != res->nblocks || num_pruned < 0 || num_pruned > res->npruned)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: optimum after %d prunings of a result with %d (LUT %d "
                            "blocks, result %d)", num_pruned, res ? res->npruned : 0, lut->nblocks,
                            res ? res->nblocks : 0);
    live = malloc(sizeof *live * (size_t)(lut->nblocks > 0 ? lut->nblocks : 1));
    if (!live)
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
    hr_optim_result_init(&ex);
    if ((st = hr_optim_existing_branches(lut, live, err)))
        goto done;
    for (int k = 0; k < lut->nblocks; k++) {
        unsigned m = 0;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (res->alpha_initial[k * 3 + br] != 0.0f)
                m |= 1u << br;
        live[k] &= m;
    }
    for (int i = 0; i < num_pruned; i++)
        live[res->pruned_block[i]] &= ~(1u << res->pruned_branch[i]);
    if ((st = hr_optim_problem_create(lut, live, params, &p, err)) || (st = hr_optim_exact(p, &ex, err)))
        goto done;
    *out = ex.eval;
    *objective_value = ex.objective_value;
done:
    hr_optim_result_deinit(&ex);
    hr_optim_problem_destroy(p);
    free(live);
    return st;
}
