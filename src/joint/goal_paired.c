/* Goal programming wired to the accuracy guard and to the paired
 * bookkeeping of progressive pruning (SPEC §13.5, §13.6): round 0's
 * per-image results, the bound guard on the validation part's guard half,
 * and the paired test counts of the states the final choice weighs. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/train.h"
#include "joint/joint_internal.h"

hr_status hr__joint_val_half_iter(hr_ctx *ctx, const hr_data *data, int domain, int half, int64_t batch,
                                  hr_batch_iter **out, int64_t *n, hr_error *err)
{
    hr_batch_params bp = hr_batch_params_default();
    int64_t nval = 0;
    *out = NULL;
    *n = 0;
    bp.batch_size = batch;
    if (half < 0) {
        if (!hr_partition_indices(hr_data_partition(data), domain, HR_PART_VAL, n))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: domain %d has no validation part", domain);
        return hr_data_iter_create(ctx, data, domain, HR_PART_VAL, &bp, out, err);
    }
    const int64_t *idx = hr_partition_indices(hr_data_partition(data), domain, HR_PART_VAL, &nval);
    if (!idx)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: domain %d has no validation part", domain);
    int64_t m = 0, *sub = malloc(sizeof *sub * (size_t)(nval / 2 + 1));
    if (!sub)
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
    for (int64_t i = 0; i < nval; i++)
        if (hr__joint_val_half(i) == half)
            sub[m++] = idx[i];
    hr_status st = HR_OK;
    if (m > 0) {
        /* what hr_data_iter_create sets for a whole part: the domain's
           corruption, keyed by the data's seed and the sample index */
        bp.domain = domain;
        bp.noise_seed = hr_data_seed(data);
        st = hr_batch_iter_create(ctx, hr_data_part_pool(data, HR_PART_VAL), sub, m, &bp, out, err);
    }
    free(sub);
    if (!st)
        *n = m;
    return st;
}

/* Round 0's per-image results on the guard half, the iterator that
 * produces them again for every state, and the guard's settings. */
typedef struct guard_ctx {
    hr_batch_iter *it;
    int64_t n;
    uint8_t *ref, *now;
    float *logits;
    double alpha, threshold;
} guard_ctx;

/* The bound guard of SPEC §13.6 for a goal-programming state: its paired
 * counts against round 0 on the guard half, accepted when the upper bound
 * of the cumulative drop is within the threshold; the bound is what it
 * reports as the drop it judged. An empty guard half judges nothing and
 * accepts (bound 0, as hr_joint_guard_bound has it for n <= 0). */
static hr_status guard_check(void *user, struct hr_trainer *t, int tried, int *accept, double *drop, hr_error *err)
{
    guard_ctx *g = user;
    int64_t b = 0, c = 0;
    if (g->n > 0) {
        hr_status st = hr__joint_correct_per_image(t, g->it, g->logits, g->now, g->n, err);
        if (st)
            return st;
        for (int64_t i = 0; i < g->n; i++) {
            b += g->ref[i] && !g->now[i];
            c += !g->ref[i] && g->now[i];
        }
    }
    *drop = hr_joint_guard_bound(b, c, g->n, g->alpha, tried);
    *accept = *drop <= g->threshold;
    return HR_OK;
}


/* Per-image results of the model under α a (NULL: as it stands) on the
 * iterator's n images, through a fresh inference-only trainer. */
static hr_status predict(hr_model *m, const float *a, int64_t batch, hr_batch_iter *it, int64_t n, float *logits,
                         uint8_t *correct, hr_error *err)
{
    hr_trainer_params tp = hr_trainer_params_default(HR_TRAIN_ALPHA);
    hr_trainer *t = NULL;
    hr_status st = HR_OK;
    tp.batch = batch;
    if ((!a || !(st = hr_model_set_alphas(m, a, err))) && !(st = hr_trainer_create(m, &tp, &t, err)))
        st = hr__joint_correct_per_image(t, it, logits, correct, n, err);
    hr_trainer_destroy(t);
    return st;
}

static void paired(const uint8_t *ref, const uint8_t *now, int64_t n, int *b, int *c)
{
    *b = *c = 0;
    for (int64_t i = 0; i < n; i++) {
        *b += ref[i] && !now[i];
        *c += !ref[i] && now[i];
    }
}

hr_status hr_joint_goal_guarded(hr_model *model, const hr_data *data, int domain, const hr_lut *lut,
                                const hr_joint_params *jp, const hr_optim_params *op, const hr_goal_params *gp,
                                hr_joint_result *s1, hr_goal_result *out, hr_optim_problem **problem, hr_error *err)
{
    if (!model || !data || !jp || !gp || !s1 || !out || !problem)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "goal: model, data, settings and results are required");
    if (domain < 0 || domain >= HR_NUM_DOMAINS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "goal: domain %d is not in 0..%d", domain, HR_NUM_DOMAINS - 1);
    if ((int)jp->guard < 0 || jp->guard >= HR_GUARD_MODE_COUNT || !(jp->guard_alpha > 0 && jp->guard_alpha < 1) ||
        !(jp->threshold >= 0) || jp->batch < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "goal: bad guard settings (guard %d, guard alpha %g in (0, 1), "
                            "threshold %g >= 0, batch %lld >= 1)", (int)jp->guard, jp->guard_alpha, jp->threshold,
                            (long long)jp->batch);
    const int nb = hr_model_num_blocks(model), na = 3 * nb;
    /* the halves exist with the bound guard in weighted mode (plain L1 is the
       paper's form: the whole validation part, no guard) */
    const int halves = jp->guard == HR_GUARD_BOUND && gp->weighted_l1;
    hr_ctx *ctx = hr_model_ctx(model);
    hr_goal_params g = *gp;
    guard_ctx gc;
    hr_batch_iter *va = NULL, *te = NULL;
    int64_t nval = 0, ntest = 0;
    uint8_t *rval = NULL, *rtest = NULL, *now = NULL;
    float *a0 = malloc(sizeof *a0 * (size_t)na + 1), *un = malloc(sizeof *un * (size_t)na + 1), *logits = NULL;
    int unpruned_differs = 0, ub = 0, uc = 0;
    double unpruned_test = 0;
    hr_status st = HR_OK;
    memset(&gc, 0, sizeof gc);
    if (!a0 || !un || !(logits = malloc(sizeof *logits * (size_t)(jp->batch * hr_model_num_classes(model))))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
        goto done;
    }
    for (int k = 0; k < nb; k++) {
        hr_block_info bi = hr_model_block(model, k);
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            int ex = bi.existing >> br & 1u;
            a0[k * 3 + br] = ex ? bi.alpha[br] : 0.0f;
            un[k * 3 + br] = ex && a0[k * 3 + br] == 0.0f ? 1.0f : a0[k * 3 + br];
            unpruned_differs |= ex && a0[k * 3 + br] == 0.0f;
        }
    }
    /* round 0's per-image results on the validation and test parts, and the
       literally unpruned model's on the test part (round −1 of the final
       choice) */
    hr_batch_params bp = hr_batch_params_default();
    bp.batch_size = jp->batch;
    if ((st = hr__joint_val_half_iter(ctx, data, domain, -1, jp->batch, &va, &nval, err)) ||
        (st = hr_data_iter_create(ctx, data, domain, HR_PART_TEST, &bp, &te, err)))
        goto done;
    hr_partition_indices(hr_data_partition(data), domain, HR_PART_TEST, &ntest);
    rval = malloc((size_t)nval + 1);
    rtest = malloc((size_t)ntest + 1);
    now = malloc((size_t)(nval > ntest ? nval : ntest) + 1);
    gc.ref = malloc((size_t)nval / 2 + 1);
    gc.now = malloc((size_t)nval / 2 + 1);
    if (!rval || !rtest || !now || !gc.ref || !gc.now) {
        st = hr_error_set(err, HR_ERR_NOMEM, "goal: out of memory");
        goto done;
    }
    if ((st = predict(model, NULL, jp->batch, va, nval, logits, rval, err)) ||
        (st = predict(model, NULL, jp->batch, te, ntest, logits, rtest, err)))
        goto done;
    if (unpruned_differs) {
        int64_t hit = 0;
        if ((st = predict(model, un, jp->batch, te, ntest, logits, now, err)) || (st = hr_model_set_alphas(model, a0, err)))
            goto done;
        paired(rtest, now, ntest, &ub, &uc);
        for (int64_t i = 0; i < ntest; i++)
            hit += now[i];
        unpruned_test = ntest ? 100.0 * (double)hit / (double)ntest : 0;
    }
    if (halves && !g.guard.check) {
        /* round 0 on the guard half through the iterator every state's check
           uses, so the pairing never depends on how batches fall */
        if ((st = hr__joint_val_half_iter(ctx, data, domain, 1, jp->batch, &gc.it, &gc.n, err)) ||
            (gc.n > 0 && (st = predict(model, NULL, jp->batch, gc.it, gc.n, logits, gc.ref, err))))
            goto done;
        gc.logits = logits;
        gc.alpha = jp->guard_alpha;
        gc.threshold = jp->threshold;
        g.guard.check = guard_check;
        g.guard.user = &gc;
    }
    if ((st = hr_joint_goal(model, data, domain, lut, jp, op, &g, s1, out, problem, err)))
        goto done;

    /* the paired bookkeeping of hr_joint_progressive's reference() */
    s1->paired = 1;
    s1->guard = halves ? HR_GUARD_BOUND : HR_GUARD_POINT;
    s1->n_val = nval;
    s1->n_test = ntest;
    s1->n_select = s1->n_guard = s1->guard_right0 = s1->test_right0 = 0;
    for (int64_t i = 0; i < nval; i++) {
        int sel = !halves || i % 2 == 0, grd = !halves || i % 2 == 1;
        s1->n_select += sel;
        s1->n_guard += grd;
        s1->guard_right0 += grd && rval[i];
    }
    for (int64_t i = 0; i < ntest; i++)
        s1->test_right0 += rtest[i];
    s1->unpruned_same = !unpruned_differs;
    s1->unpruned_test = unpruned_differs ? unpruned_test : s1->initial_test;
    s1->unpruned_test_b = ub;
    s1->unpruned_test_c = uc;
    /* every applied state's test counts, then the final α's (which the model
       holds now, and holds again at the end) */
    for (int i = 0; i < s1->nrounds; i++) {
        hr_joint_round *r = &s1->rounds[i];
        if (!r->applied || !r->alpha)
            continue;
        if ((st = predict(model, r->alpha, jp->batch, te, ntest, logits, now, err)))
            goto done;
        paired(rtest, now, ntest, &r->test_b, &r->test_c);
    }
    if ((st = predict(model, s1->alpha, jp->batch, te, ntest, logits, now, err)))
        goto done;
    paired(rtest, now, ntest, &s1->final_test_b, &s1->final_test_c);
done:
    if (st && s1->alpha_initial) {
        hr_optim_result_deinit(&out->config);
        hr_optim_problem_destroy(*problem);
        *problem = NULL;
        hr_joint_result_deinit(s1);
    }
    hr_batch_iter_destroy(va);
    hr_batch_iter_destroy(te);
    hr_batch_iter_destroy(gc.it);
    free(a0), free(un), free(logits), free(rval), free(rtest), free(now), free(gc.ref), free(gc.now);
    return st;
}
