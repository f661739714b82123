/* Progressive pruning in real mode (SPEC §7 step 3 stage 1, §10): the
 * rules of hr_joint_progressive (src/joint/progressive.c), with every
 * candidate's α training and evaluation run split through the worker, one
 * candidate after another (the worker is one device: candidates cannot run
 * at once there).
 *
 * Each candidate gets what pseudo mode gives it: the current α with its
 * branch pruned on both sides, trainers rebuilt (momentum zero), the
 * training stream seeded from (seed, domain, round, candidate branch), the
 * epochs evaluated on the domain's validation and test parts, the best
 * validation epoch's α kept. So the rounds, winners and α are those of
 * `joint --mode pseudo` with the same settings, up to float rounding. The
 * state is checkpointed after every round in pseudo mode's format, so an
 * interrupted real run resumes where it stopped. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/joint.h"
#include "hyperrep/remote.h"
#include "joint/joint_internal.h"
#include "remote/remote_internal.h"

static void plog(const hr_joint_params *p, const char *fmt, ...)
{
    char line[640];
    va_list ap;
    if (!p->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->log(p->log_user, line);
}

static double live_gflops(const hr_model *m, const float *a)
{
    double f = 0;
    for (int i = 0; i < hr_model_num_blocks(m); i++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (a[i * 3 + br] != 0.0f)
                f += hr_joint_branch_flops(m, i, (hr_branch)br);
    return f / 1e9;
}

static int live_in_block(const float *a, int block)
{
    int n = 0;
    for (int br = 0; br < HR_BRANCH_COUNT; br++)
        n += a[block * 3 + br] != 0.0f;
    return n;
}

/* One candidate through the worker: fills c and its best α. */
static hr_status run_candidate(hr_split *s, const hr_model *m, const hr_split_data *data, int domain, int round,
                               const hr_joint_params *p, const float *cur, hr_joint_candidate *c, float *best_alpha,
                               float *work, hr_error *err)
{
    const int na = hr_model_num_blocks(m) * 3;
    hr_status st;
    memcpy(work, cur, sizeof(float) * (size_t)na);
    work[c->block * 3 + (int)c->branch] = 0.0f;
    if ((st = hr_split_set_alpha(s, work, err)) ||
        (st = hr_split_domain_start(s, data, domain, hr__joint_seed(p->seed, domain, round, c->block * 3 + (int)c->branch),
                                    NULL, err)))
        goto done;
    c->epochs = p->epochs;
    c->best_epoch = 0;
    c->best_val = -1;
    for (int e = 0; e < p->epochs; e++) {
        hr_split_epoch ep;
        if ((st = hr_split_train_epoch(s, e, p->lr, &ep, err)) ||
            (st = hr_split_evaluate(s, HR_PART_VAL, &c->val[e], NULL, err)) ||
            (st = hr_split_evaluate(s, HR_PART_TEST, &c->test[e], NULL, err)))
            goto done;
        c->loss[e] = ep.loss;
        if (c->val[e] > c->best_val) {
            c->best_val = c->val[e];
            c->best_test = c->test[e];
            c->best_epoch = e + 1;
            if ((st = hr_split_get_alpha(s, best_alpha, err)))
                goto done;
        }
    }
    st = hr_split_domain_end(s, err);
done:
    if (st)
        hr_error_prefix(err, "candidate %s", c->name);
    return st;
}

hr_status hr_split_progressive(hr_split *s, const hr_split_data *data, int domain, const hr_joint_params *params,
                               hr_joint_result *out, hr_error *err)
{
    hr_joint_params defaults = hr_joint_params_default();
    const hr_joint_params *p = params ? params : &defaults;
    hr_model *model;
    if (!s || !data || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint (real): split, data and result are required");
    model = hr_split_model(s);
    if (domain < 0 || domain >= HR_NUM_DOMAINS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: domain %d is not in 0..%d", domain, HR_NUM_DOMAINS - 1);
    if (p->rounds < 0 || p->pool < 1 || p->epochs < 1 || p->epochs > HR_JOINT_MAX_EPOCHS || p->batch < 1 ||
        !(p->threshold >= 0) || !(p->lr >= 0) || p->stop_after < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "joint: bad settings (rounds %d >= 0, pool %d >= 1, epochs %d in 1..%d, threshold %g >= 0, "
                            "lr %g >= 0)", p->rounds, p->pool, p->epochs, HR_JOINT_MAX_EPOCHS, p->threshold, p->lr);
    if (p->batch != hr_split_batch(s) || fabs(p->momentum - hr_split_momentum(s)) > 0 ||
        fabs(p->l1 - hr_split_l1(s)) > 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint (real): batch %lld, momentum %g, l1 %g differ from the "
                            "split's (set them in hr_split_params)", (long long)p->batch, p->momentum, p->l1);

    const int nb = hr_model_num_blocks(model), na = nb * 3;
    hr_status st = HR_OK;
    int *ranking = NULL, nrank = 0, *pool = NULL, npool = 0, next = 0, new_rounds = 0, resumed = 0;
    hr_joint_candidate *cand = NULL;
    float *cand_alpha = NULL, *work = NULL;
    hr_joint_result_deinit(out);
    out->nblocks = nb;
    out->alpha_initial = malloc(sizeof(float) * (size_t)na);
    out->alpha = malloc(sizeof(float) * (size_t)na);
    out->pruned_block = malloc(sizeof(int) * (size_t)na);
    out->pruned_branch = malloc(sizeof(hr_branch) * (size_t)na);
    out->rounds = calloc((size_t)p->rounds + 1, sizeof *out->rounds);
    pool = malloc(sizeof(int) * (size_t)p->pool);
    cand = calloc((size_t)p->pool, sizeof *cand);
    cand_alpha = malloc(sizeof(float) * (size_t)na * (size_t)p->pool);
    work = malloc(sizeof(float) * (size_t)na);
    if (!out->alpha_initial || !out->alpha || !out->pruned_block || !out->pruned_branch || !out->rounds || !pool ||
        !cand || !cand_alpha || !work) {
        st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
        goto done;
    }
    /* The starting α: the model's (the split sent them to the worker). */
    hr__model_get_alpha(model, out->alpha_initial);
    memcpy(out->alpha, out->alpha_initial, sizeof(float) * (size_t)na);
    if ((st = hr_joint_rank(model, &ranking, &nrank, err)))
        goto done;
    out->initial_gflops = live_gflops(model, out->alpha_initial);

    if (p->checkpoint &&
        (st = hr__joint_checkpoint_load(p->checkpoint, p->fingerprint ? p->fingerprint : "", domain, ranking, nrank,
                                        out, p->rounds, pool, &npool, p->pool, &next, &resumed, err)))
        goto done;
    if (!resumed) {
        if ((st = hr_split_set_alpha(s, out->alpha, err)) ||
            (st = hr_split_domain_start(s, data, domain, p->seed, NULL, err)) ||
            (st = hr_split_evaluate(s, HR_PART_VAL, &out->initial_val, NULL, err)) ||
            (st = hr_split_evaluate(s, HR_PART_TEST, &out->initial_test, NULL, err)) ||
            (st = hr_split_domain_end(s, err)))
            goto done;
        out->final_val = out->initial_val;
        out->final_test = out->initial_test;
        out->best_so_far = out->initial_val;
        out->final_gflops = out->initial_gflops;
        for (npool = 0; npool < p->pool && next < nrank; next++)
            pool[npool++] = ranking[next];
        plog(p, "domain %d: initial accuracy validation %.2f%% test %.2f%%, %d ranked branches, %.4f GFLOPs (split "
             "across server and worker)", domain, out->initial_val, out->initial_test, nrank, out->initial_gflops);
    } else {
        out->resumed_rounds = out->nrounds;
        for (int i = 0; i < out->nrounds; i++)
            for (int k = 0; k < out->rounds[i].ncand; k++) {
                hr_joint_candidate *c = &out->rounds[i].cand[k];
                snprintf(c->name, sizeof c->name, "%s.hyper_%s", hr_model_block(model, c->block).name,
                         hr_branch_name(c->branch));
            }
        plog(p, "domain %d: resumed from %s after %d rounds%s", domain, p->checkpoint, out->nrounds,
             out->complete ? " (finished)" : "");
    }

    while (!out->complete) {
        if (out->nrounds >= p->rounds) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "round limit (%d)", p->rounds);
            out->complete = 1;
            break;
        }
        if (npool == 0) {
            snprintf(out->stop_reason, sizeof out->stop_reason, "no branch left to prune");
            out->complete = 1;
            break;
        }
        if (p->stop_after && new_rounds >= p->stop_after)
            break;
        hr_joint_round *r = &out->rounds[out->nrounds];
        int ntest = 0;
        memset(r, 0, sizeof *r);
        r->round = out->nrounds + 1;
        r->winner = -1;
        if (!(r->cand = calloc((size_t)npool, sizeof *r->cand))) {
            st = hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
            goto done;
        }
        r->ncand = npool;
        for (int i = 0; i < npool; i++) {
            hr_joint_candidate *c = &r->cand[i];
            c->block = pool[i] / 3;
            c->branch = (hr_branch)(pool[i] % 3);
            snprintf(c->name, sizeof c->name, "%s.hyper_%s", hr_model_block(model, c->block).name,
                     hr_branch_name(c->branch));
            c->skipped = live_in_block(out->alpha, c->block) <= 1;
            if (!c->skipped)
                cand[ntest++] = *c;
        }
        plog(p, "round %d: testing %d of %d candidates one after another through the worker", r->round, ntest, npool);
        for (int k = 0; k < ntest; k++)
            if ((st = run_candidate(s, model, data, domain, r->round, p, out->alpha, &cand[k],
                                    cand_alpha + (size_t)k * (size_t)na, work, err))) {
                hr_error_prefix(err, "joint round %d", r->round);
                free(r->cand);
                r->cand = NULL;
                goto done;
            }
        /* results in pool order; winner: best validation, first in pool order */
        int best = -1, bt = -1;
        for (int i = 0, k = 0; i < npool; i++) {
            if (r->cand[i].skipped)
                continue;
            r->cand[i] = cand[k];
            if (best < 0 || r->cand[i].best_val > r->cand[best].best_val)
                best = i, bt = k;
            k++;
        }
        for (int i = 0; i < npool; i++) {
            const hr_joint_candidate *c = &r->cand[i];
            if (c->skipped)
                plog(p, "round %d: %s skipped (last live branch of its block)", r->round, c->name);
            else
                plog(p, "round %d: %s best epoch %d validation %.2f%% test %.2f%%", r->round, c->name, c->best_epoch,
                     c->best_val, c->best_test);
        }
        r->winner = best;
        out->nrounds++;
        new_rounds++;
        if (best < 0) {
            r->best_so_far = out->best_so_far;
            r->num_pruned = out->npruned;
            r->remaining_gflops = live_gflops(model, out->alpha);
            r->flops_reduction_pct = 100.0 * (1.0 - r->remaining_gflops / out->initial_gflops);
            snprintf(out->stop_reason, sizeof out->stop_reason, "every candidate is its block's last live branch");
            out->complete = 1;
        } else {
            const hr_joint_candidate *w = &r->cand[best];
            r->val_acc = w->best_val;
            r->test_acc = w->best_test;
            if (out->best_so_far - w->best_val > p->threshold) {
                char why[2048];
                snprintf(why, sizeof why, "accuracy: best candidate %s %.2f%% is more than %.2f points below %.2f%%",
                         w->name, w->best_val, p->threshold, out->best_so_far);
                why[sizeof out->stop_reason - 1] = '\0';
                memcpy(out->stop_reason, why, sizeof out->stop_reason);
                out->complete = 1;
            } else {
                r->applied = 1;
                memcpy(out->alpha, cand_alpha + (size_t)bt * (size_t)na, sizeof(float) * (size_t)na);
                out->alpha[w->block * 3 + (int)w->branch] = 0.0f;
                out->pruned_block[out->npruned] = w->block;
                out->pruned_branch[out->npruned] = w->branch;
                out->npruned++;
                if (w->best_val > out->best_so_far)
                    out->best_so_far = w->best_val;
                out->final_val = w->best_val;
                out->final_test = w->best_test;
                memmove(pool + best, pool + best + 1, sizeof(int) * (size_t)(npool - best - 1));
                npool--;
                for (; npool < p->pool && next < nrank; next++)
                    if (out->alpha[ranking[next]] != 0.0f)
                        pool[npool++] = ranking[next];
            }
            r->best_so_far = out->best_so_far;
            r->num_pruned = out->npruned;
            r->remaining_gflops = live_gflops(model, out->alpha);
            out->final_gflops = r->remaining_gflops;
            r->flops_reduction_pct = 100.0 * (1.0 - r->remaining_gflops / out->initial_gflops);
            plog(p, "round %d: %s %s (validation %.2f%%, test %.2f%%), %.4f GFLOPs left (-%.2f%%)", r->round,
                 r->applied ? "pruned" : "stopped before pruning", w->name, w->best_val, w->best_test,
                 r->remaining_gflops, r->flops_reduction_pct);
        }
        if (p->checkpoint && (st = hr__joint_checkpoint_save(p->checkpoint, p->fingerprint ? p->fingerprint : "",
                                                             domain, ranking, nrank, out, pool, npool, next, err)))
            goto done;
    }
    if (out->complete && p->checkpoint && !(resumed && out->resumed_rounds == out->nrounds) &&
        (st = hr__joint_checkpoint_save(p->checkpoint, p->fingerprint ? p->fingerprint : "", domain, ranking, nrank,
                                        out, pool, npool, next, err)))
        goto done;
    if (out->complete)
        plog(p, "domain %d: stopped: %s; %d branches pruned, test accuracy %.2f%% -> %.2f%%", domain, out->stop_reason,
             out->npruned, out->initial_test, out->final_test);
done:
    free(cand);
    free(cand_alpha);
    free(work);
    free(pool);
    free(ranking);
    if (st)
        hr_joint_result_deinit(out);
    return st;
}
