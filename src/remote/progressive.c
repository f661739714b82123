/* Progressive pruning in real mode (SPEC §7 step 3 stage 1, §10):
 * hr_joint_progressive's rules with every candidate's α training and
 * evaluation run split through the worker, one candidate after another (the
 * worker is one device: candidates cannot run at once there). This file
 * only supplies the work (an hr_joint_trainer); ranking, pool, winners,
 * stop rules, refill and checkpoints are the library's.
 *
 * Each candidate gets what pseudo mode gives it: the current α with its
 * branch pruned on both sides, trainers rebuilt (momentum zero), the
 * training stream seeded by hr_joint_candidate_seed, the epochs evaluated
 * on the domain's validation and test parts, the best validation epoch's α
 * kept. So the rounds, winners and α are those of `joint --mode pseudo`
 * with the same settings, up to float rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/joint.h"
#include "hyperrep/remote.h"
#include "remote/remote_internal.h"

typedef struct real_trainer {
    hr_split *s;
    const hr_split_data *data;
    int domain;
    const hr_joint_params *p;
    float *work;
} real_trainer;

static hr_status real_evaluate(void *user, const float *alpha, double *val, double *test, hr_error *err)
{
    real_trainer *rt = user;
    hr_status st;
    if ((st = hr_split_set_alpha(rt->s, alpha, err)) ||
        (st = hr_split_domain_start(rt->s, rt->data, rt->domain, rt->p->seed, NULL, err)) ||
        (st = hr_split_evaluate(rt->s, HR_PART_VAL, val, NULL, err)) ||
        (st = hr_split_evaluate(rt->s, HR_PART_TEST, test, NULL, err)))
        return st;
    return hr_split_domain_end(rt->s, err);
}

/* One candidate through the worker: fills c and its best α. */
static hr_status real_train(void *user, int round, const float *cur, hr_joint_candidate *c, float *best_alpha,
                            hr_error *err)
{
    real_trainer *rt = user;
    const hr_joint_params *p = rt->p;
    const int na = hr_model_num_blocks(hr_split_model(rt->s)) * 3;
    hr_status st;
    memcpy(rt->work, cur, sizeof(float) * (size_t)na);
    rt->work[c->block * 3 + (int)c->branch] = 0.0f;
    if ((st = hr_split_set_alpha(rt->s, rt->work, err)) ||
        (st = hr_split_domain_start(rt->s, rt->data, rt->domain,
                                    hr_joint_candidate_seed(p->seed, rt->domain, round, c->block, c->branch), NULL,
                                    err)))
        goto done;
    c->epochs = p->epochs;
    c->best_epoch = 0;
    c->best_val = -1;
    for (int e = 0; e < p->epochs; e++) {
        hr_split_epoch ep;
        if ((st = hr_split_train_epoch(rt->s, e, p->lr, &ep, err)) ||
            (st = hr_split_evaluate(rt->s, HR_PART_VAL, &c->val[e], NULL, err)) ||
            (st = hr_split_evaluate(rt->s, HR_PART_TEST, &c->test[e], NULL, err)))
            goto done;
        c->loss[e] = ep.loss;
        if (c->val[e] > c->best_val) {
            c->best_val = c->val[e];
            c->best_test = c->test[e];
            c->best_epoch = e + 1;
            if ((st = hr_split_get_alpha(rt->s, best_alpha, err)))
                goto done;
        }
    }
    st = hr_split_domain_end(rt->s, err);
done:
    if (st)
        hr_error_prefix(err, "candidate %s", c->name);
    return st;
}

hr_status hr_split_progressive(hr_split *s, const hr_split_data *data, int domain, const hr_joint_params *params,
                               hr_joint_result *out, hr_error *err)
{
    hr_joint_params p = params ? *params : hr_joint_params_default();
    if (!s || !data || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint (real): split, data and result are required");
    if (p.batch != hr_split_batch(s) || fabs(p.momentum - hr_split_momentum(s)) > 0 || fabs(p.l1 - hr_split_l1(s)) > 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint (real): batch %lld, momentum %g, l1 %g differ from the "
                            "split's (set them in hr_split_params)", (long long)p.batch, p.momentum, p.l1);
    hr_model *model = hr_split_model(s);
    real_trainer rt = {s, data, domain, params ? params : &p, NULL};
    hr_joint_trainer hook = {real_evaluate, real_train, &rt};
    rt.work = malloc(sizeof(float) * (size_t)hr_model_num_blocks(model) * 3);
    if (!rt.work)
        return hr_error_set(err, HR_ERR_NOMEM, "joint (real): out of memory");
    p.trainer = &hook;
    p.dist = NULL;
    rt.p = &p;
    /* The library reads the starting α from the model: the split's model holds
     * the α it sent to the worker. */
    hr_status st = hr_joint_progressive(model, NULL, domain, &p, out, err);
    free(rt.work);
    return st;
}
