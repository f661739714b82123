/* Checkpoints of goal programming (SPEC §6.4), written after every
 * alternation so that an interrupted run resumes and ends exactly where an
 * uninterrupted one does:
 *
 * {"format": "hyperrep-goal-checkpoint", "version": 1, "fingerprint": "...",
 *  "domain": k, "nblocks": N, "alpha_initial": [3N], "alpha": [3N],
 *  "x": [θ…, λ, ξ], "done": false, "stop_reason": "...",
 *  "iterations": [{iteration, val_acc, test_acc, xi, lambda, j, t_eff, t_lat, t_cyc}]}
 *
 * Nothing else carries state between alternations: phase A's stream is
 * seeded from (seed, domain, alternation), its momentum and phase B's Adam
 * moments start at zero each time. Numbers are written with 17 significant
 * digits (jansson's default), so floats and doubles come back bit-exact. */
#include <errno.h>
#include <jansson.h>
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
            its, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "iteration", g->iteration, "val_acc",
                           g->val_acc, "test_acc", g->test_acc, "xi", g->xi, "lambda", g->lambda, "j", g->j, "t_eff",
                           g->t_eff, "t_lat", g->t_lat, "t_cyc", g->t_cyc));
    }
    if (ok)
        ok = !json_object_set_new(root, "format", json_string(GOAL_FORMAT)) &&
             !json_object_set_new(root, "version", json_integer(1)) &&
             !json_object_set_new(root, "fingerprint", json_string(s->fingerprint)) &&
             !json_object_set_new(root, "domain", json_integer(s->domain)) &&
             !json_object_set_new(root, "nblocks", json_integer(s->nblocks)) &&
             !json_object_set_new(root, "alpha_initial", hr__json_reals_f(s->alpha_initial, na)) &&
             !json_object_set_new(root, "alpha", hr__json_reals_f(s->alpha, na)) &&
             !json_object_set_new(root, "x", hr__json_reals_d(s->x, s->nx)) &&
             !json_object_set_new(root, "done", json_boolean(s->done)) &&
             !json_object_set_new(root, "stop_reason", json_string(s->stop_reason)) &&
             !json_object_set(root, "iterations", its);
    json_decref(its);
    char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory writing the checkpoint", path);
    hr_status st = hr_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}

/* Reads n numbers of array `key` into d (doubles) or f (floats). */
static hr_status read_reals(const char *path, const json_t *root, const char *key, double *d, float *f, int n,
                            hr_error *err)
{
    const json_t *a = json_object_get(root, key);
    if (!json_is_array(a) || json_array_size(a) != (size_t)n)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"%s\" is not an array of %d numbers", path, key,
                            n);
    for (int i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, (size_t)i);
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
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
    if ((st = read_reals(path, root, "alpha_initial", NULL, ai, na, err))) {
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
    if ((st = read_reals(path, root, "alpha", NULL, s->alpha, na, err)) ||
        (st = read_reals(path, root, "x", s->x, NULL, s->nx, err)))
        goto done;
    const json_t *its = json_object_get(root, "iterations");
    if (!json_is_array(its) || json_array_size(its) > HR_GOAL_MAX_ITER) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint field \"iterations\" is not an array of at most %d", path,
                          HR_GOAL_MAX_ITER);
        goto done;
    }
    s->niter = (int)json_array_size(its);
    for (int i = 0; i < s->niter; i++) {
        const json_t *o = json_array_get(its, (size_t)i);
        hr_goal_iter *g = &s->iter[i];
        static const char *k[8] = {"val_acc", "test_acc", "xi", "lambda", "j", "t_eff", "t_lat", "t_cyc"};
        double *dst[8] = {&g->val_acc, &g->test_acc, &g->xi, &g->lambda, &g->j, &g->t_eff, &g->t_lat, &g->t_cyc};
        g->iteration = (int)json_integer_value(json_object_get(o, "iteration"));
        if (g->iteration != i + 1) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint iteration %d is numbered %d", path, i + 1,
                              g->iteration);
            goto done;
        }
        for (int j = 0; j < 8; j++) {
            const json_t *v = json_object_get(o, k[j]);
            if (!json_is_number(v)) {
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint iteration %d: \"%s\" is not a number", path,
                                  i + 1, k[j]);
                goto done;
            }
            *dst[j] = json_number_value(v);
        }
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
