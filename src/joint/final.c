/* The final configuration (SPEC §13.4): the exact optimum for the objective
 * over every state the run accepted and the unpruned model at deploy γ. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/joint.h"

void hr_joint_choice_init(hr_joint_choice *c)
{
    memset(c, 0, sizeof *c);
    c->drop_lo = c->drop_hi = NAN;
}

void hr_joint_choice_deinit(hr_joint_choice *c)
{
    if (!c)
        return;
    free(c->gamma);
    free(c->alpha);
    hr_joint_choice_init(c);
}

/* One candidate state: which prefix of the pruned list, its α when kept,
 * its test accuracy and paired counts against round 0, and its validation
 * accuracy (-inf when not measured), which breaks ties. */
typedef struct state_ref {
    int round, num_pruned;
    const float *alpha;
    double accuracy;
    int b, c;
    double val;
} state_ref;

/* Fills out's accuracy fields for a state. */
static void accuracy_of(const hr_joint_result *res, const state_ref *st, hr_joint_choice *out)
{
    out->accuracy = st->accuracy;
    out->drop = res->initial_test - st->accuracy;
    out->drop_lo = out->drop_hi = NAN;
    if (res->paired)
        hr_joint_paired_ci95(res->n_test, res->test_right0, st->b, st->c, &out->drop_lo, &out->drop_hi);
}

/* Copies a state's γ and α into out (replacing what it held). */
static hr_status take(hr_joint_choice *out, const int *gamma, const float *alpha, int nb, hr_error *err)
{
    int *g = malloc(sizeof *g * (size_t)nb + 1);
    float *a = alpha ? malloc(sizeof *a * (size_t)(3 * nb) + 1) : NULL;
    if (!g || (alpha && !a)) {
        free(g), free(a);
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory choosing the final configuration");
    }
    memcpy(g, gamma, sizeof *g * (size_t)nb);
    if (a)
        memcpy(a, alpha, sizeof *a * (size_t)(3 * nb));
    free(out->gamma), free(out->alpha);
    out->gamma = g;
    out->alpha = a;
    out->nblocks = nb;
    return HR_OK;
}

hr_status hr_joint_choose(const hr_lut *lut, const hr_optim_params *params, const hr_joint_result *res,
                          hr_joint_choice *out, hr_error *err)
{
    if (!lut || !params || !res || !res->alpha_initial || !out || lut->nblocks != res->nblocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: final configuration of a result with %d blocks on a "
                            "LUT with %d", res ? res->nblocks : 0, lut ? lut->nblocks : 0);
    const int nb = lut->nblocks, na = 3 * nb;
    hr_joint_choice best;
    double best_val = -INFINITY;
    hr_joint_baseline base;
    hr_optim_problem *p = NULL;
    hr_optim_result ex;
    hr_status st;
    unsigned *existing = malloc(sizeof *existing * (size_t)nb + 1), *live = malloc(sizeof *live * (size_t)nb + 1);
    int *gamma = malloc(sizeof *gamma * (size_t)nb + 1);
    float *un = malloc(sizeof *un * (size_t)na + 1);
    state_ref *states = malloc(sizeof *states * (size_t)(res->nrounds + 2));
    int nstates = 0;
    hr_joint_choice_init(&best);
    hr_optim_result_init(&ex);
    if (!existing || !live || !gamma || !un || !states) {
        st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory choosing the final configuration");
        goto done;
    }
    if ((st = hr_optim_existing_branches(lut, existing, err)))
        goto done;

    /* round −1: the baseline's own configuration (unpruned, deploy γ, its
     * best placement); its α puts back the base value 1 on every existing
     * branch the starting α had at 0 */
    if ((st = hr_joint_baseline_compute(lut, params, &base, err)))
        goto done;
    {
        hr_optim_params prm = *params;
        prm.mask = HR_MASK_EXACT;
        if ((st = hr_optim_problem_create(lut, NULL, &prm, &p, err)))
            goto done;
        for (int k = 0; k < nb; k++)
            gamma[k] = hr_gamma_deploy(hr_optim_problem_live(p, k));
        hr_optim_problem_destroy(p);
        p = NULL;
    }
    for (int i = 0; i < na; i++)
        un[i] = (existing[i / 3] >> (i % 3) & 1u) && res->alpha_initial[i] == 0.0f ? 1.0f : res->alpha_initial[i];
    if ((st = take(&best, gamma, un, nb, err)))
        goto done;
    best.round = -1;
    best.num_pruned = 0;
    best.eval = base.eval;
    best.objective_value = base.objective_value;
    best.baseline_value = base.objective_value;
    {
        state_ref s0 = {-1, 0, un, res->unpruned_same ? res->initial_test : res->unpruned_test,
                        res->unpruned_same ? 0 : res->unpruned_test_b, res->unpruned_same ? 0 : res->unpruned_test_c,
                        res->unpruned_same ? res->initial_val : -INFINITY};
        accuracy_of(res, &s0, &best);
        best_val = s0.val;
    }

    /* round 0, every applied round, and a final state no round reached */
    states[nstates++] = (state_ref){0, 0, res->alpha_initial, res->initial_test, 0, 0, res->initial_val};
    for (int i = 0; i < res->nrounds; i++) {
        const hr_joint_round *r = &res->rounds[i];
        if (r->applied && r->num_pruned <= res->npruned)
            states[nstates++] = (state_ref){r->round, r->num_pruned, r->alpha, r->test_acc, r->test_b, r->test_c,
                                            r->val_acc};
    }
    if (res->npruned > states[nstates - 1].num_pruned)
        states[nstates++] = (state_ref){res->nrounds + 1, res->npruned, res->alpha, res->final_test,
                                        res->final_test_b, res->final_test_c, res->final_val};
    for (int si = 0; si < nstates; si++) {
        const state_ref *sr = &states[si];
        for (int k = 0; k < nb; k++) {
            unsigned m = 0;
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (res->alpha_initial[k * 3 + br] != 0.0f)
                    m |= 1u << br;
            live[k] = existing[k] & m;
        }
        for (int i = 0; i < sr->num_pruned; i++)
            live[res->pruned_block[i]] &= ~(1u << res->pruned_branch[i]);
        if ((st = hr_optim_problem_create(lut, live, params, &p, err)) || (st = hr_optim_exact(p, &ex, err)))
            goto done;
        hr_optim_problem_destroy(p);
        p = NULL;
        /* A tie on the objective (pruning a branch that a fused γ does not
           cost, or a placement that leaves the pruned part on the other
           side) goes to the higher validation accuracy, the selection's
           score: never the test part's. Equal there too, it stays with the
           state that prunes less. */
        const double tol = 1e-12 * fabs(best.objective_value);
        if (ex.objective_value < best.objective_value - tol ||
            (ex.objective_value <= best.objective_value + tol && sr->val > best_val)) {
            if ((st = take(&best, ex.gamma, sr->alpha, nb, err)))
                goto done;
            best.round = sr->round;
            best.num_pruned = sr->num_pruned;
            best.eval = ex.eval;
            best.objective_value = ex.objective_value;
            best_val = sr->val;
            accuracy_of(res, sr, &best);
        }
    }
    hr_joint_choice_deinit(out);
    *out = best;
    hr_joint_choice_init(&best);
done:
    hr_joint_choice_deinit(&best);
    hr_optim_result_deinit(&ex);
    hr_optim_problem_destroy(p);
    free(existing);
    free(live);
    free(gamma);
    free(un);
    free(states);
    return st;
}
