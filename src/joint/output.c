/* Stage 2 of step 3 and the joint output files (SPEC §6.2, §6.3, §7). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/joint.h"
#include "core/json_io.h"
#include "hyperrep/weights.h"

hr_status hr_joint_stage2(const hr_lut *lut, const hr_joint_result *res, const hr_optim_params *oparams,
                          hr_optim_problem **problem, hr_optim_result *grid, hr_optim_result *exact, hr_error *err)
{
    hr_status st;
    unsigned *live;
    *problem = NULL;
    if (!lut || !res || !res->alpha || lut->nblocks != res->nblocks)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint: the LUT has %d blocks, the model %d",
                            lut ? lut->nblocks : 0, res ? res->nblocks : 0);
    live = malloc(sizeof *live * (size_t)lut->nblocks);
    if (!live)
        return hr_error_set(err, HR_ERR_NOMEM, "joint: out of memory");
    if ((st = hr_optim_existing_branches(lut, live, err)))
        goto done;
    for (int k = 0; k < lut->nblocks; k++) {
        unsigned m = 0;
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if (res->alpha[k * 3 + br] != 0.0f)
                m |= 1u << br;
        live[k] &= m;
    }
    if ((st = hr_optim_problem_create(lut, live, oparams, problem, err)) || (st = hr_optim_grid(*problem, grid, err)) ||
        (st = hr_optim_exact(*problem, exact, err))) {
        hr_optim_problem_destroy(*problem);
        *problem = NULL;
    }
done:
    free(live);
    return st;
}

static void put(json_t *o, const char *key, json_t *v, int *ok)
{
    if (!v || json_object_set_new(o, key, v))
        *ok = 0;
}

/* Copies key from src into dst when present. */
static void copy(json_t *dst, const char *key, json_t *src, int *ok)
{
    json_t *v = json_object_get(src, key);
    if (v && json_object_set(dst, key, v))
        *ok = 0;
}

static json_t *round_json(const hr_model *m, const hr_joint_round *r)
{
    json_t *o = json_object(), *cs = json_array();
    int ok = o && cs;
    put(o, "round", json_integer(r->round), &ok);
    put(o, "winner", r->winner >= 0 ? json_string(r->cand[r->winner].name) : json_null(), &ok);
    put(o, "applied", json_boolean(r->applied), &ok);
    put(o, "val_acc", json_real(r->val_acc), &ok);
    put(o, "test_acc", json_real(r->test_acc), &ok);
    put(o, "best_so_far_val", json_real(r->best_so_far), &ok);
    put(o, "num_pruned", json_integer(r->num_pruned), &ok);
    put(o, "remaining_gflops", json_real(r->remaining_gflops), &ok);
    put(o, "flops_reduction_pct", json_real(r->flops_reduction_pct), &ok);
    if (r->winner >= 0) {
        put(o, "guard_drop_points", json_real(r->guard_drop), &ok);
        put(o, "guard_bound_points", json_real(r->guard_bound), &ok);
        put(o, "guard_discordant", json_pack("{s:i, s:i}", "b", r->guard_b, "c", r->guard_c), &ok);
        put(o, "test_discordant", json_pack("{s:i, s:i}", "b", r->test_b, "c", r->test_c), &ok);
    }
    put(o, "threshold_pruned", json_integer(r->nthreshold), &ok);
    for (int i = 0; ok && i < r->ncand; i++) {
        const hr_joint_candidate *c = &r->cand[i];
        json_t *co = json_object(), *va = json_array(), *te = json_array(), *lo = json_array();
        ok = co && va && te && lo;
        for (int e = 0; ok && e < c->epochs; e++)
            ok = !json_array_append_new(va, json_real(c->val[e])) && !json_array_append_new(te, json_real(c->test[e])) &&
                 !json_array_append_new(lo, json_real(c->loss[e]));
        put(co, "name", json_string(c->name), &ok);
        put(co, "skipped", json_boolean(c->skipped), &ok);
        if (c->skipped)
            put(co, "reason", json_string("last live branch of its block"), &ok);
        put(co, "val_acc", va, &ok);
        put(co, "test_acc", te, &ok);
        put(co, "train_loss", lo, &ok);
        put(co, "best_epoch", json_integer(c->best_epoch), &ok);
        if (!c->skipped) {
            put(co, "best_val_acc", json_real(c->best_val), &ok);
            put(co, "best_test_acc", json_real(c->best_test), &ok);
        }
        if (!co || json_array_append_new(cs, co))
            ok = 0;
    }
    (void)m;
    put(o, "candidates", cs, &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *gamma_obj(const hr_model *m, const int *g, int n)
{
    json_t *o = json_object();
    for (int k = 0; o && k < n; k++)
        if (json_object_set_new(o, hr_model_block(m, k).name, json_integer(g[k]))) {
            json_decref(o);
            return NULL;
        }
    return o;
}

/* The LUT-evaluated figures of a placement, as the joint output records them. */
static json_t *eval_json(const hr_optim_eval *e, double objective_value)
{
    char pl[16];
    hr_placement_format(e->placement, pl, sizeof pl);
    return json_pack("{s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "placement", pl, "objective_ms", objective_value,
                     "latency_ms", e->latency_ms, "cycle_ms", e->cycle_ms, "fps", e->fps, "pipelined_fps",
                     e->pipelined_fps, "head_ms", e->head_ms, "link_ms", e->link_ms, "tail_ms", e->tail_ms);
}

/* Per pruning state (round 0 = the starting α, then every applied round) the
 * exact optimum on the LUT: the accuracy–throughput curve of step 4. */
static json_t *round_optimum_json(const hr_optim_problem *prob, const hr_joint_result *s1, int num_pruned,
                                  hr_error *err)
{
    hr_optim_eval ev;
    double v;
    if (hr_joint_optimum_after(hr_optim_problem_lut(prob), hr_optim_problem_params(prob), s1, num_pruned, &ev, &v,
                               err))
        return NULL;
    return eval_json(&ev, v);
}

/* The co-designed deployment (exact optimum of the pruned model, and the
 * configuration chosen by the original's grid) against the unpruned model
 * with deploy γ at its best placement, on the same objective. Gains are in
 * percent of the baseline's fps; the accuracy drop is in test points. */
static json_t *ci_json(double lo, double hi)
{
    return isnan(lo) || isnan(hi) ? json_null() : json_pack("[f, f]", lo, hi);
}

static json_t *baseline_json(const hr_optim_problem *prob, const hr_joint_choice *fin, const hr_optim_result *exact,
                             hr_error *err)
{
    hr_joint_baseline b;
    const hr_optim_params *op = hr_optim_problem_params(prob);
    if (hr_joint_baseline_compute(hr_optim_problem_lut(prob), op, &b, err))
        return NULL;
    double drop = fin->drop;
#define GAIN(ours, base) ((base) > 0 ? 100.0 * ((ours) / (base) - 1.0) : 0.0)
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:f, s:b, s:{s:f, s:f, s:f}}", "description",
        "Neurosurgeon-style baseline: the same model unpruned, deploy gamma on every block, best placement for the "
        "objective; gains in percent of the baseline's fps (latency fps = 1000/latency, pipelined = 1000/cycle)",
        "objective", hr_objective_name(op->objective), "baseline", eval_json(&b.eval, b.objective_value),
        "accuracy_drop_points", drop, "within_2_points", drop <= 2.0, "exact_gain_pct", "latency_fps",
        exact ? GAIN(exact->eval.fps, b.eval.fps) : 0.0, "pipelined_fps",
        exact ? GAIN(exact->eval.pipelined_fps, b.eval.pipelined_fps) : 0.0, "objective",
        exact && exact->objective_value > 0 ? 100.0 * (b.objective_value / exact->objective_value - 1.0) : 0.0);
    if (o) {
        double cv = fin->objective_value;
        if (json_object_set_new(o, "accuracy_drop_ci95", ci_json(fin->drop_lo, fin->drop_hi)) ||
            json_object_set_new(o, "final_configuration_gain_pct",
                                json_pack("{s:f, s:f, s:f}", "latency_fps", GAIN(fin->eval.fps, b.eval.fps),
                                          "pipelined_fps", GAIN(fin->eval.pipelined_fps, b.eval.pipelined_fps),
                                          "objective", cv > 0 ? 100.0 * (b.objective_value / cv - 1.0) : 0.0))) {
            json_decref(o);
            o = NULL;
        }
    }
#undef GAIN
    if (!o)
        hr_error_set(err, HR_ERR_NOMEM, "joint report: out of memory");
    return o;
}

/* The test-part drop of a state against round 0, with its paired interval. */
static void drop_fields(json_t *o, const hr_joint_result *s1, double acc, int b, int c, int *ok)
{
    double lo = NAN, hi = NAN;
    if (s1->paired)
        hr_joint_paired_ci95(s1->n_test, s1->test_right0, b, c, &lo, &hi);
    put(o, "accuracy_drop", json_real(s1->initial_test - acc), ok);
    put(o, "accuracy_drop_ci95", ci_json(lo, hi), ok);
}

/* final_configuration (SPEC §13.4): the original's keys, then the choice's
 * placement, times, state and accuracy drop. */
static json_t *final_json(const hr_model *m, const hr_optim_problem *prob, const hr_joint_result *s1,
                          const hr_joint_choice *fin)
{
    const hr_optim_params *op = hr_optim_problem_params(prob);
    const hr_optim_eval *e = &fin->eval;
    json_t *o = json_object(), *pr = json_array(), *al = json_array();
    int ok = o && pr && al;
    char name[96];
    int split = e->placement >= 0;
    put(o, "split_point", split ? json_integer(e->placement) : json_null(), &ok);
    put(o, "gamma_config", gamma_obj(m, fin->gamma, fin->nblocks), &ok);
    put(o, "accuracy", json_real(fin->accuracy), &ok);
    put(o, "throughput_fps", json_real(e->fps), &ok);
    put(o, "latency_ms", json_real(e->latency_ms), &ok);
    put(o, "placement", hr__placement_json(e->placement), &ok);
    put(o, "objective", json_string(hr_objective_name(op->objective)), &ok);
    put(o, "objective_value", json_real(fin->objective_value), &ok);
    put(o, "head_ms", json_real(e->head_ms), &ok);
    put(o, "link_ms", json_real(e->link_ms), &ok);
    put(o, "tail_ms", json_real(e->tail_ms), &ok);
    put(o, "cycle_ms", json_real(e->cycle_ms), &ok);
    put(o, "pipelined_fps", json_real(e->pipelined_fps), &ok);
    /* every existing branch the state does not run: what a deployment zeroes */
    for (int k = 0; ok && k < fin->nblocks; k++) {
        hr_block_info bi = hr_model_block(m, k);
        unsigned live = bi.existing;
        if (fin->alpha) {
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (fin->alpha[k * 3 + br] == 0.0f)
                    live &= ~(1u << br);
        } else {
            for (int br = 0; br < HR_BRANCH_COUNT; br++)
                if (s1->alpha_initial[k * 3 + br] == 0.0f)
                    live &= ~(1u << br);
            for (int i = 0; i < fin->num_pruned; i++)
                if (s1->pruned_block[i] == k)
                    live &= ~(1u << s1->pruned_branch[i]);
        }
        for (int br = 0; ok && br < HR_BRANCH_COUNT; br++)
            if ((bi.existing >> br & 1u) && !(live >> br & 1u)) {
                hr_model_alpha_name(m, k, (hr_branch)br, name, sizeof name);
                ok = !json_array_append_new(pr, json_string(name));
            }
        if (fin->alpha && ok)
            ok = !json_array_append_new(al, json_pack("[f, f, f]", (double)fin->alpha[k * 3],
                                                      (double)fin->alpha[k * 3 + 1], (double)fin->alpha[k * 3 + 2]));
    }
    put(o, "pruned", pr, &ok);
    pr = NULL;
    put(o, "round", json_integer(fin->round), &ok);
    put(o, "accuracy_drop", json_real(fin->drop), &ok);
    put(o, "accuracy_drop_ci95", ci_json(fin->drop_lo, fin->drop_hi), &ok);
    if (fin->alpha) {
        put(o, "alpha", al, &ok);
        al = NULL;
    }
    json_decref(pr);
    json_decref(al);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* stage1_accuracy.guard: the rule, its level and the parts' sizes. */
static json_t *guard_json(const hr_joint_result *s1, const hr_joint_params *p)
{
    hr_joint_params d = hr_joint_params_default();
    if (!p)
        p = &d;
    json_t *o = json_pack("{s:s, s:f, s:f, s:f}", "mode", hr_guard_mode_name(s1->guard), "threshold_points",
                          p->threshold, "alpha", p->guard_alpha, "pruning_threshold", p->pruning_threshold);
    if (o && s1->paired &&
        json_object_set_new(o, "parts", json_pack("{s:I, s:I, s:I, s:I}", "validation", (json_int_t)s1->n_val,
                                                  "selection", (json_int_t)s1->n_select, "guard",
                                                  (json_int_t)s1->n_guard, "test", (json_int_t)s1->n_test))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

hr_status hr_joint_report_save(const char *path, const hr_joint_report *rep, hr_error *err)
{
    if (!path || !rep || !rep->model || !rep->stage1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "joint report: model and stage 1 result are required");
    hr_error local;
    if (!err)
        err = &local; /* the round and baseline helpers report through it */
    const hr_joint_result *s1 = rep->stage1;
    const hr_model *m = rep->model;
    hr_joint_choice fc;
    hr_joint_choice_init(&fc);
    json_t *root = json_object(), *meta = json_object(), *st1 = json_object(), *pw = json_array(),
           *pr = json_array(), *hist = json_array(), *st2 = NULL, *fin = json_object(), *odoc = NULL;
    int ok = root && meta && st1 && pw && pr && hist && fin;
    char ts[64], name[96];
    hr_status st = HR_OK;
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tmv);

    put(meta, "step", json_string("step_3_joint"), &ok);
    put(meta, "description", json_string("Joint accuracy and throughput optimization"), &ok);
    put(meta, "domain_id", json_integer(rep->domain), &ok);
    put(meta, "mode", json_string(rep->mode ? rep->mode : "pseudo"), &ok);
    put(meta, "method", json_string(rep->method ? rep->method : "progressive"), &ok);
    put(meta, "model", json_string(hr_model_arch(m)->name), &ok);
    if (rep->problem)
        put(meta, "head", json_string(hr_device_name(hr_optim_problem_params(rep->problem)->head)), &ok);
    put(meta, "timestamp", json_string(ts), &ok);
    put(meta, "tool", json_string("hyperrep"), &ok);
    put(meta, "software", hr__software_json(), &ok);
    if (rep->lut_file)
        put(meta, "lut_file", json_string(rep->lut_file), &ok);
    put(meta, "accuracy", json_string("percent on the domain's test part; selection on its validation part"), &ok);
    if (rep->settings_json) {
        json_error_t je;
        json_t *sj = json_loads(rep->settings_json, 0, &je);
        if (!sj) {
            st = hr_error_set(err, HR_ERR_INVALID_ARG, "joint report: settings are not JSON: %s", je.text);
            goto fail;
        }
        put(meta, "settings", sj, &ok);
    }

    put(st1, "initial_accuracy", json_real(s1->initial_test), &ok);
    put(st1, "final_accuracy", json_real(s1->final_test), &ok);
    put(st1, "initial_val_accuracy", json_real(s1->initial_val), &ok);
    put(st1, "final_val_accuracy", json_real(s1->final_val), &ok);
    for (int i = 0; ok && i < s1->npruned; i++) {
        hr_model_alpha_name(m, s1->pruned_block[i], s1->pruned_branch[i], name, sizeof name);
        ok = !json_array_append_new(pw, json_string(name));
    }
    put(st1, "pruned_weights", pw, &ok);
    pw = NULL;
    if (rep->goal) {
        /* the branches the input α already had at 0 (existing ones only: a
           virtual identity is never a branch), beside this run's */
        json_t *ip = json_array();
        ok = ok && ip;
        for (int k = 0; ok && k < s1->nblocks; k++) {
            hr_block_info bi = hr_model_block(m, k);
            for (int br = 0; ok && br < HR_BRANCH_COUNT; br++)
                if ((bi.existing >> br & 1u) && s1->alpha_initial[k * 3 + br] == 0.0f) {
                    hr_model_alpha_name(m, k, (hr_branch)br, name, sizeof name);
                    ok = !json_array_append_new(ip, json_string(name));
                }
        }
        put(st1, "input_pruned_weights", ip, &ok);
    }
    if (ok) {
        json_t *r0 = json_pack("{s:i, s:i, s:f, s:f, s:f}", "round", 0, "num_pruned", 0, "acc", s1->initial_test,
                               "remaining_gflops", s1->initial_gflops, "flops_reduction_pct", 0.0);
        if (r0)
            drop_fields(r0, s1, s1->initial_test, 0, 0, &ok);
        if (r0 && rep->problem) {
            json_t *eo = round_optimum_json(rep->problem, s1, 0, err);
            if (!eo) {
                json_decref(r0);
                st = err->status;
                goto fail;
            }
            put(r0, "exact_optimum", eo, &ok);
        }
        ok = ok && r0 && !json_array_append_new(pr, r0);
    }
    for (int i = 0; ok && i < s1->nrounds; i++) {
        const hr_joint_round *r = &s1->rounds[i];
        if (r->applied) {
            json_t *ro = json_pack("{s:i, s:i, s:f, s:f, s:f}", "round", r->round, "num_pruned", r->num_pruned, "acc",
                                   r->test_acc, "remaining_gflops", r->remaining_gflops, "flops_reduction_pct",
                                   r->flops_reduction_pct);
            if (ro) {
                drop_fields(ro, s1, r->test_acc, r->test_b, r->test_c, &ok);
                put(ro, "guard_bound_points", json_real(r->guard_bound), &ok);
            }
            if (ro && rep->problem) {
                json_t *eo = round_optimum_json(rep->problem, s1, r->num_pruned, err);
                if (!eo) {
                    json_decref(ro);
                    st = err->status;
                    goto fail;
                }
                put(ro, "exact_optimum", eo, &ok);
            }
            ok = ok && ro && !json_array_append_new(pr, ro);
        }
        json_t *rj = round_json(m, r);
        if (!rj || json_array_append_new(hist, rj))
            ok = 0;
    }
    put(st1, "pruning_rounds", pr, &ok);
    pr = NULL;
    put(st1, "total_pruned", json_integer(s1->npruned), &ok);
    put(st1, "initial_gflops", json_real(s1->initial_gflops), &ok);
    put(st1, "final_gflops", json_real(s1->final_gflops), &ok);
    put(st1, "flops_reduction_pct",
        json_real(s1->initial_gflops > 0 ? 100.0 * (1.0 - s1->final_gflops / s1->initial_gflops) : 0), &ok);
    put(st1, "stop_reason", json_string(s1->stop_reason), &ok);
    put(st1, "guard", guard_json(s1, rep->params), &ok);
    put(st1, "complete", json_boolean(s1->complete), &ok);
    put(st1, "pruning_history", hist, &ok);
    hist = NULL;

    const hr_optim_result *best = rep->goal ? &rep->goal->config : rep->grid ? rep->grid : rep->exact;
    if (rep->goal) {
        json_t *gj = json_object(), *hj = json_array();
        int gok = gj && hj;
        for (int i = 0; gok && i < rep->goal->niter; i++) {
            const hr_goal_iter *it = &rep->goal->iter[i];
            gok = !json_array_append_new(
                hj, json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:f, s:b, s:f, s:f}",
                              "iteration", it->iteration, "val_acc", it->val_acc, "test_acc", it->test_acc, "xi_A",
                              it->xi, "lambda", it->lambda, "J", it->j, "T_eff_ms", it->t_eff, "T_lat_ms", it->t_lat,
                              "T_cyc_ms", it->t_cyc, "new_pruned", it->new_pruned, "num_pruned", it->num_pruned,
                              "gflops", it->gflops, "accepted", it->accepted, "guard_drop", it->guard_drop,
                              "l1_strength", it->l1_strength));
        }
        put(gj, "iterations", hj, &gok);
        put(gj, "xi_A", json_real(rep->goal->xi), &gok);
        put(gj, "lambda", json_real(rep->goal->lambda), &gok);
        put(gj, "stop_reason", json_string(rep->goal->stop_reason), &gok);
        put(gj, "final_iteration", json_integer(rep->goal->final_iteration), &gok);
        put(gj, "l1_strength", json_real(rep->goal->l1_strength), &gok);
        put(gj, "pruning_threshold", json_real(rep->goal->pruning_threshold), &gok);
        put(gj, "weighted_l1", json_boolean(rep->goal->weighted_l1), &gok);
        put(st1, "goal_programming", gj, &ok);
        ok = ok && gok;
    }
    if (rep->problem && best) {
        hr_optim_report orep;
        char *text = NULL;
        memset(&orep, 0, sizeof orep);
        orep.problem = rep->problem;
        orep.lut_file = rep->lut_file ? rep->lut_file : "";
        orep.results[HR_METHOD_GD] = rep->goal ? &rep->goal->config : NULL;
        orep.results[HR_METHOD_GRID] = rep->grid;
        orep.results[HR_METHOD_EXACT] = rep->exact;
        if ((st = hr_optim_report_dumps(&orep, &text, err)))
            goto fail;
        json_error_t je;
        odoc = json_loads(text, 0, &je);
        free(text);
        if (!odoc) {
            st = hr_error_set(err, HR_ERR_INTERNAL, "joint report: optimizer output unreadable: %s", je.text);
            goto fail;
        }
        st2 = json_object();
        ok = ok && st2;
        put(st2, "optimal_split_point", json_integer(best->eval.placement), &ok);
        put(st2, "optimal_gamma", gamma_obj(m, best->gamma, best->nblocks), &ok);
        copy(st2, "gamma_distribution", odoc, &ok);
        copy(st2, "performance", odoc, &ok);
        copy(st2, "all_split_results", odoc, &ok);
        json_t *res = json_object_get(odoc, "results");
        if (res && json_object_get(res, "exact"))
            ok = ok && !json_object_set(st2, "exact_optimum", json_object_get(res, "exact"));
        copy(st2, "results", odoc, &ok);
        copy(st2, "head", odoc, &ok);
        copy(st2, "link", odoc, &ok);
        copy(st2, "mask", odoc, &ok);
        copy(st2, "notes", odoc, &ok);
        if ((st = hr_joint_choose(hr_optim_problem_lut(rep->problem), hr_optim_problem_params(rep->problem), s1, &fc,
                                  err)))
            goto fail;
        {
            json_t *bj = baseline_json(rep->problem, &fc, rep->exact, err);
            if (!bj) {
                st = err->status;
                goto fail;
            }
            put(st2, "baseline_comparison", bj, &ok);
        }
        put(root, "metadata", meta, &ok);
        meta = NULL;
        put(root, "stage1_accuracy", st1, &ok);
        st1 = NULL;
        put(root, "stage2_throughput", st2, &ok);
        st2 = NULL;
        json_decref(fin);
        put(root, "final_configuration", final_json(m, rep->problem, s1, &fc), &ok);
        fin = NULL;
    } else {
        put(root, "metadata", meta, &ok);
        meta = NULL;
        put(root, "stage1_accuracy", st1, &ok);
        st1 = NULL;
        json_decref(fin);
        fin = NULL;
    }
    if (!ok) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the joint output", path);
        goto fail;
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!text) {
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    st = hr_write_file_atomic(path, text, strlen(text), err);
    free(text);
fail:
    json_decref(root), json_decref(meta), json_decref(st1), json_decref(pw), json_decref(pr), json_decref(hist);
    json_decref(st2), json_decref(fin), json_decref(odoc);
    hr_joint_choice_deinit(&fc);
    return st;
}

hr_status hr_joint_save_alpha(const char *path, const hr_model *model, const hr_joint_result *res, int domain,
                              hr_error *err)
{
    hr_tensor_map *map = NULL;
    hr_status st;
    char name[96], dom[32];
    const int64_t one = 1;
    if ((st = hr_tensor_map_create(&map, err)))
        return st;
    for (int k = 0; k < res->nblocks; k++) {
        hr_block_info bi = hr_model_block(model, k);
        for (int br = 0; br < HR_BRANCH_COUNT; br++) {
            if (!(bi.existing >> br & 1u))
                continue;
            hr_model_alpha_name(model, k, (hr_branch)br, name, sizeof name);
            if ((st = hr_tensor_map_add(map, name, 1, &one, &res->alpha[k * 3 + br], err)))
                goto done;
        }
    }
    snprintf(dom, sizeof dom, "%d", domain);
    const char *keys[] = {"domain", "source"}, *vals[] = {dom, "hyperrep joint (progressive pruning)"};
    st = hr_safetensors_save(path, map, keys, vals, 2, err);
done:
    hr_tensor_map_destroy(map);
    return st;
}
