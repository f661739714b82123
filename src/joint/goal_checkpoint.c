/* Checkpoints of goal programming (SPEC §6.4, §13.5), written after every
 * alternation so that an interrupted run resumes and ends exactly where an
 * uninterrupted one does:
 *
 * {"format": "hyperrep-goal-checkpoint", "version": 3, "fingerprint": "...",
 *  "domain": k, "nblocks": N, "alpha_initial": [3N], "alpha": [3N],
 *  "x": [θ…, λ, ξ], "pruned": [k·3 + branch, …], "final_iteration": j,
 *  "done": false, "stop_reason": "...",
 *  "iterations": [{iteration, val_acc, test_acc, xi, lambda, j, t_eff, t_lat,
 *                  t_cyc, new_pruned, num_pruned, gflops, accepted, guard_drop,
 *                  alpha: [3N] after its threshold rule}]}
 *
 * alpha is the state after the alternation's decision (a guard failure has
 * already rolled it back): its zeros are the pruned branches, so the masks,
 * and with them the length of θ in x, follow from it. Nothing else carries
 * state between alternations: phase A's stream is seeded from (seed, domain,
 * alternation), its momentum and phase B's Adam moments start at zero each
 * time, and the state that last passed the guard is the saved one. Numbers
 * are written with 17 significant digits (jansson's default), so floats and
 * doubles come back bit-exact. The fingerprint holds the L1 strength, the
 * pruning threshold and the stop settings, so other ones refuse to resume. */
#include <errno.h>
#include <jansson.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperrep/weights.h"
#include "joint/joint_internal.h"

#define GOAL_FORMAT "hyperrep-goal-checkpoint"

hr_status hr__goal_checkpoint_save(const char *path, const hr__goal_state *s, hr_error *err)
{
    json_t *root = json_object(), *its = json_array();
    int ok = root && its;
    const int na = s->nblocks * 3;
    for (int i = 0; ok && i < s->niter; i++) {
        const hr_goal_iter *g = &s->iter[i];
        ok = !json_array_append_new(
            its, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:f, s:b, s:f, s:f, s:o}",
                           "iteration", g->iteration, "val_acc", g->val_acc, "test_acc", g->test_acc, "xi", g->xi,
                           "lambda", g->lambda, "j", g->j, "t_eff", g->t_eff, "t_lat", g->t_lat, "t_cyc", g->t_cyc,
                           "new_pruned", g->new_pruned, "num_pruned", g->num_pruned, "gflops", g->gflops, "accepted",
                           g->accepted, "guard_drop", g->guard_drop, "l1_strength", g->l1_strength, "alpha",
                           hr__json_reals_f(s->iter_alpha + (size_t)i * na, na)));
    }
    json_t *pr = json_array();
    ok = ok && pr;
    for (int i = 0; ok && i < s->npruned; i++)
        ok = !json_array_append_new(pr, json_integer(s->pruned[i]));
    if (ok)
        ok = !json_object_set_new(root, "format", json_string(GOAL_FORMAT)) &&
             !json_object_set_new(root, "version", json_integer(3)) &&
             !json_object_set_new(root, "fingerprint", json_string(s->fingerprint)) &&
             !json_object_set_new(root, "domain", json_integer(s->domain)) &&
             !json_object_set_new(root, "nblocks", json_integer(s->nblocks)) &&
             !json_object_set_new(root, "alpha_initial", hr__json_reals_f(s->alpha_initial, na)) &&
             !json_object_set_new(root, "alpha", hr__json_reals_f(s->alpha, na)) &&
             !json_object_set_new(root, "x", hr__json_reals_d(s->x, s->nx)) &&
             !json_object_set(root, "pruned", pr) &&
             !json_object_set_new(root, "final_iteration", json_integer(s->final_iteration)) &&
             !json_object_set_new(root, "done", json_boolean(s->done)) &&
             !json_object_set_new(root, "stop_reason", json_string(s->stop_reason)) &&
             !json_object_set(root, "iterations", its);
    json_decref(its);
    json_decref(pr);
    char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory writing the checkpoint", path);
    hr_status st = hr_write_file_atomic_private(path, text, strlen(text), err);
    free(text);
    return st;
}

/* Reads n numbers of array `key` into d (doubles) or f (floats); with
 * n_out, any length up to n, stored in *n_out. */
static hr_status read_reals(const char *path, const json_t *root, const char *key, double *d, float *f, int n,
                            int *n_out, hr_error *err)
{
    const json_t *a = json_object_get(root, key);
    if (!json_is_array(a) || (n_out ? json_array_size(a) > (size_t)n : json_array_size(a) != (size_t)n))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"%s\" is not an array of %s%d numbers", path,
                            key, n_out ? "at most " : "", n);
    if (n_out)
        *n_out = n = (int)json_array_size(a);
    for (int i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, (size_t)i);
        if (!json_is_number(v) || !isfinite(json_number_value(v)) || (!d && !(fabs(json_number_value(v)) <= FLT_MAX)))
            return hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"%s\"[%d] is not a finite number", path, key,
                                i);
        if (d)
            d[i] = json_number_value(v);
        else
            f[i] = (float)json_number_value(v);
    }
    return HR_OK;
}

hr_status hr__goal_checkpoint_load(const char *path, hr__goal_state *s, hr_error *err)
{
    json_error_t je;
    json_t *root;
    hr_status st;
    const int na = s->nblocks * 3;
    if (access(path, F_OK) != 0)
        return HR_ERR_NOT_FOUND;
    if (!(root = json_load_file(path, JSON_REJECT_DUPLICATES, &je)))
        return hr_error_set(err, HR_ERR_FORMAT, "%s:%d:%d: unreadable checkpoint: %s", path, je.line, je.column,
                            je.text);
    const char *fmt = json_string_value(json_object_get(root, "format"));
    const char *fp = json_string_value(json_object_get(root, "fingerprint"));
    if (!fmt || strcmp(fmt, GOAL_FORMAT) != 0) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: not a goal-programming checkpoint (format \"%s\"): remove it or "
                          "rerun with --restart", path, fmt ? fmt : "");
        goto done;
    }
    if (!fp || strcmp(fp, s->fingerprint) != 0) {
        st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s: the checkpoint was made with other settings: remove it or "
                          "rerun with --restart", path);
        goto done;
    }
    if (json_integer_value(json_object_get(root, "domain")) != s->domain ||
        json_integer_value(json_object_get(root, "nblocks")) != s->nblocks) {
        st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s: the checkpoint is for another domain or model", path);
        goto done;
    }
    float *ai = malloc(sizeof(float) * (size_t)na);
    if (!ai) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = read_reals(path, root, "alpha_initial", NULL, ai, na, NULL, err))) {
        free(ai);
        goto done;
    }
    for (int i = 0; i < na; i++)
        if (ai[i] != s->alpha_initial[i]) {
            free(ai);
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s: the checkpoint started from other alpha (entry %d): remove "
                              "it or start from the same alpha", path, i);
            goto done;
        }
    free(ai);
    if ((st = read_reals(path, root, "alpha", NULL, s->alpha, na, NULL, err)) ||
        (st = read_reals(path, root, "x", s->x, NULL, s->nx_cap, &s->nx, err)))
        goto done;
    for (int i = 0; i < na; i++)
        if (s->alpha[i] != 0.0f && s->alpha_initial[i] == 0.0f) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint alpha entry %d revives a branch the start had "
                              "pruned", path, i);
            goto done;
        }
    const json_t *pr = json_object_get(root, "pruned");
    if (!json_is_array(pr) || json_array_size(pr) > (size_t)na) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"pruned\" is not an array of at most %d", path,
                          na);
        goto done;
    }
    s->npruned = (int)json_array_size(pr);
    for (int i = 0; i < s->npruned; i++) {
        const json_t *v = json_array_get(pr, (size_t)i);
        json_int_t e = json_integer_value(v);
        if (!json_is_integer(v) || e < 0 || e >= na || s->alpha[e] != 0.0f || s->alpha_initial[e] == 0.0f) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint \"pruned\"[%d] is not a branch pruned by the run",
                              path, i);
            goto done;
        }
        s->pruned[i] = (int)e;
    }
    const json_t *fi = json_object_get(root, "final_iteration");
    const json_t *its = json_object_get(root, "iterations");
    if (!json_is_array(its) || json_array_size(its) > HR_GOAL_MAX_ITER) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"iterations\" is not an array of at most %d", path,
                          HR_GOAL_MAX_ITER);
        goto done;
    }
    s->niter = (int)json_array_size(its);
    s->final_iteration = (int)json_integer_value(fi);
    if (!json_is_integer(fi) || s->final_iteration < 0 || s->final_iteration > s->niter) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"final_iteration\" is not in 0..%d", path,
                          s->niter);
        goto done;
    }
    for (int i = 0; i < s->niter; i++) {
        const json_t *o = json_array_get(its, (size_t)i);
        hr_goal_iter *g = &s->iter[i];
        static const char *k[9] = {"val_acc", "test_acc", "xi", "lambda", "j", "t_eff", "t_lat", "t_cyc",
                                   "l1_strength"};
        double *dst[9] = {&g->val_acc, &g->test_acc, &g->xi,    &g->lambda,     &g->j,
                          &g->t_eff,   &g->t_lat,    &g->t_cyc, &g->l1_strength};
        g->iteration = (int)json_integer_value(json_object_get(o, "iteration"));
        if (g->iteration != i + 1) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint iteration %d is numbered %d", path, i + 1,
                              g->iteration);
            goto done;
        }
        for (int j = 0; j < 9; j++) {
            const json_t *v = json_object_get(o, k[j]);
            if (!json_is_number(v)) {
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint iteration %d: \"%s\" is not a number", path,
                                  i + 1, k[j]);
                goto done;
            }
            *dst[j] = json_number_value(v);
        }
        const json_t *np = json_object_get(o, "new_pruned"), *nu = json_object_get(o, "num_pruned"),
                     *gf = json_object_get(o, "gflops"), *ac = json_object_get(o, "accepted"),
                     *gd = json_object_get(o, "guard_drop");
        if (!json_is_integer(np) || !json_is_integer(nu) || !json_is_number(gf) || !json_is_boolean(ac) ||
            !json_is_number(gd) || json_integer_value(np) < 0 || json_integer_value(np) > na ||
            json_integer_value(nu) < 0 || json_integer_value(nu) > na) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint iteration %d: bad new_pruned, num_pruned, gflops, "
                              "accepted or guard_drop", path, i + 1);
            goto done;
        }
        g->new_pruned = (int)json_integer_value(np);
        g->num_pruned = (int)json_integer_value(nu);
        g->gflops = json_number_value(gf);
        g->accepted = json_is_true(ac);
        g->guard_drop = json_number_value(gd);
        if ((st = read_reals(path, o, "alpha", NULL, s->iter_alpha + (size_t)i * na, na, NULL, err)))
            goto done;
    }
    s->done = json_is_true(json_object_get(root, "done"));
    snprintf(s->stop_reason, sizeof s->stop_reason, "%s",
             json_string_value(json_object_get(root, "stop_reason")) ? json_string_value(json_object_get(root,
                                                                                             "stop_reason"))
                                                                      : "");
    st = HR_OK;
done:
    json_decref(root);
    return st;
}
