/* initial_throughput_config.json: the original tool's step-2 fields, so its
 * later steps (and ours) can read the file, plus SPEC §6's `results` with
 * one LUT-evaluated entry per method, the orientation, the link model, the
 * mask and the notes made on the way. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json_io.h"
#include "hyperrep/weights.h"
#include "optim/optim_internal.h"

/* Builders return NULL only when out of memory; json_object_set_new and
 * json_array_append_new accept a NULL value and fail, which sets bad. */
typedef struct builder {
    int bad;
} builder;

/* Both take v's reference in every case, like jansson's *_new calls. */
static void set(builder *b, json_t *obj, const char *key, json_t *v)
{
    if (!obj) {
        json_decref(v);
        b->bad = 1;
    } else if (json_object_set_new(obj, key, v)) {
        b->bad = 1;
    }
}

static void append(builder *b, json_t *arr, json_t *v)
{
    if (!arr) {
        json_decref(v);
        b->bad = 1;
    } else if (json_array_append_new(arr, v)) {
        b->bad = 1;
    }
}

/* A number, or null when it is not finite (JSON has no inf or NaN). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *gamma_object(builder *b, const hr_lut *lut, const int *gamma)
{
    json_t *o = json_object();
    for (int k = 0; k < lut->nblocks; k++)
        set(b, o, lut->blocks[k].name, json_integer(gamma[k]));
    return o;
}

static json_t *gamma_distribution(builder *b, const int *gamma, int n)
{
    int count[HR_GAMMA_COUNT] = {0};
    json_t *o = json_object();
    char key[8];
    for (int k = 0; k < n; k++)
        count[gamma[k]]++;
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        if (count[g]) {
            snprintf(key, sizeof key, "%d", g);
            set(b, o, key, json_integer(count[g]));
        }
    return o;
}

/* Loss terms under the original's device-named keys: time_<head device> is
 * Σ(1−z)E[T_head], roofline_<tail device> is L_rc, and so on, so that with
 * --head server the keys mean what they meant in the original. */
static json_t *loss_json(builder *b, const hr_optim_problem *p, const hr_optim_loss *l, const int *step,
                         const double *lambda)
{
    json_t *o = json_object();
    char key[32];
    if (step)
        set(b, o, "step", json_integer(*step));
    set(b, o, "total", num(l->total));
    snprintf(key, sizeof key, "roofline_%s", hr_device_name(p->tail));
    set(b, o, key, num(l->roofline_tail));
    snprintf(key, sizeof key, "roofline_%s", hr_device_name(p->head));
    set(b, o, key, num(l->roofline_head));
    snprintf(key, sizeof key, "time_%s", hr_device_name(p->head));
    set(b, o, key, num(l->time_head));
    snprintf(key, sizeof key, "time_%s", hr_device_name(p->tail));
    set(b, o, key, num(l->time_tail));
    set(b, o, "trans", num(l->trans));
    set(b, o, "intensity", num(l->intensity));
    if (lambda)
        set(b, o, "lambda", num(*lambda));
    return o;
}

static void eval_fields(builder *b, json_t *o, const hr_optim_eval *e)
{
    set(b, o, "placement", hr__placement_json(e->placement));
    set(b, o, "head_ms", num(e->head_ms));
    set(b, o, "link_ms", num(e->link_ms));
    set(b, o, "link_busy_ms", num(e->link_busy_ms));
    set(b, o, "tail_ms", num(e->tail_ms));
    set(b, o, "link_bytes", num(e->bytes));
    set(b, o, "latency_ms", num(e->latency_ms));
    set(b, o, "cycle_ms", num(e->cycle_ms));
    set(b, o, "fps", num(e->fps));
    set(b, o, "pipelined_fps", num(e->pipelined_fps));
}

static json_t *result_json(builder *b, const hr_optim_problem *p, const hr_optim_result *r)
{
    json_t *o = json_object(), *arr;
    set(b, o, "optimal_gamma", gamma_object(b, p->lut, r->gamma));
    eval_fields(b, o, &r->eval);
    set(b, o, "objective", json_string(hr_objective_name(r->objective)));
    set(b, o, "objective_value", num(r->objective_value));
    set(b, o, "exact_value", num(r->exact_value));
    set(b, o, "gap_to_exact_pct", num(r->gap_to_exact_pct));
    if (r->method == HR_METHOD_GD) {
        set(b, o, "lambda_start", num(r->lambda_start));
        set(b, o, "lambda_final", num(r->lambda_final));
        set(b, o, "final_loss", loss_json(b, p, &r->final_loss, NULL, NULL));
    }
    if (r->method == HR_METHOD_GRID) {
        set(b, o, "split_range", json_pack("[ii]", r->min_split, r->max_split));
        set(b, o, "requested_split_range", json_pack("[ii]", r->req_min_split, r->req_max_split));
        set(b, o, "range_clamped", json_boolean(r->range_clamped));
        set(b, o, "final_loss", loss_json(b, p, &r->final_loss, NULL, NULL));
    }
    if (r->nsplits > 0) {
        arr = json_array();
        for (int i = 0; i < r->nsplits; i++) {
            const hr_optim_split *s = &r->splits[i];
            json_t *e = json_object();
            if (s->eval.placement >= 0)
                set(b, e, "split_point", json_integer(s->eval.placement));
            eval_fields(b, e, &s->eval);
            set(b, e, "objective_value", num(s->objective_value));
            /* the original's all_split_results keys */
            set(b, e, "total_time_ms", num(s->eval.latency_ms));
            set(b, e, "throughput_fps", num(s->eval.fps));
            if (r->split_gamma)
                set(b, e, "gamma_distribution",
                    gamma_distribution(b, r->split_gamma + (size_t)i * (size_t)p->n, p->n));
            append(b, arr, e);
        }
        set(b, o, r->method == HR_METHOD_GRID ? "all_split_results" : "all_placements", arr);
    }
    return o;
}

static json_t *link_json(builder *b, const hr_optim_problem *p)
{
    json_t *o = json_object();
    set(b, o, "bandwidth_mbit_s", num(p->link.bandwidth_mbit_s));
    set(b, o, "latency_ms", num(p->link.latency_ms));
    set(b, o, "per_message_ms", num(p->link.per_message_ms));
    if (p->link.measured)
        set(b, o, "k_ms_per_mb", num(p->link.k_ms_per_mb));
    set(b, o, "measured", json_boolean(p->link.measured));
    set(b, o, "source", json_string(p->params.link_override ? "command line" : "LUT"));
    set(b, o, "interpretation", json_string(hr_bandwidth_source_text(p->link.source)));
    return o;
}

static void timestamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    char base[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, size, "%s.%06ld", base, ts.tv_nsec / 1000);
}

/* The list of pruned hyper-weight names (existing but not live). */
static json_t *pruned_json(builder *b, const hr_optim_problem *p, int *count)
{
    static const char *suffix[HR_BRANCH_COUNT] = {"hyper_dense", "hyper_1x1", "hyper_identity"};
    json_t *arr = json_array();
    char name[HR_LUT_NAME_MAX + 32];
    *count = 0;
    for (int k = 0; k < p->n; k++)
        for (int br = 0; br < HR_BRANCH_COUNT; br++)
            if ((p->existing[k] & ~p->live[k]) & (1u << br)) {
                snprintf(name, sizeof name, "%s.%s", p->lut->blocks[k].name, suffix[br]);
                append(b, arr, json_string(name));
                ++*count;
            }
    return arr;
}

static json_t *build(builder *b, const hr_optim_report *rep, const hr_optim_result *main_r)
{
    const hr_optim_problem *p = rep->problem;
    const hr_optim_params *q = &p->params;
    json_t *root = json_object(), *meta = json_object(), *init = json_object(), *methods = json_array();
    json_t *results = json_object(), *perf = json_object(), *notes = json_array(), *w = json_object(), *pr;
    char ts[64], key[32];
    int npruned;

    timestamp(ts, sizeof ts);
    set(b, meta, "step", json_integer(2));
    set(b, meta, "description", json_string("Initial throughput optimization"));
    set(b, meta, "model", json_string(p->lut->model[0] ? p->lut->model : "unknown"));
    set(b, meta, "lut_file", json_string(rep->lut_file ? rep->lut_file : ""));
    set(b, meta, "lut_stat", json_string(hr_lut_stat_name(p->lut->stat)));
    set(b, meta, "optimization_steps", json_integer(q->steps));
    set(b, meta, "timestamp", json_string(ts));
    set(b, meta, "tool", json_string("hyperrep"));
    set(b, meta, "software",
        hr__software_json());
    for (int m = 0; m < HR_METHOD_COUNT; m++)
        if (rep->results[m])
            append(b, methods, json_string(hr_optim_method_name((hr_optim_method)m)));
    set(b, meta, "methods", methods);
    set(b, meta, "primary_method", json_string(hr_optim_method_name(main_r->method)));
    set(b, meta, "objective", json_string(hr_objective_name(q->objective)));
    set(b, meta, "eff_omega", num(q->eff_omega));
    set(b, meta, "mask", json_string(q->mask == HR_MASK_EXACT ? "exact" : "subset"));
    if (q->mask == HR_MASK_SUBSET)
        set(b, meta, "mask_note", json_string("subset mask (the original's step 2): gammas may drop live branches, "
                                              "which changes the network's function"));
    set(b, meta, "sigma", num(q->sigma));
    set(b, meta, "z_offset", num(q->z_offset));
    set(b, meta, "link_streams", json_boolean(q->link_streams));
    set(b, meta, "intensity", json_string(q->intensity_weights ? "weights" : "activations"));
    set(b, meta, "lambda_init", json_string(hr_lambda_init_name(q->lambda_init)));
    set(b, meta, "lambda_fixed", json_boolean(q->lambda_fixed));
    set(b, meta, "learning_rate", json_pack("{s:f,s:f}", "theta", q->lr_theta, "lambda", q->lr_lambda));
    snprintf(key, sizeof key, "time_%s", hr_device_name(p->head));
    set(b, w, key, num(q->w_head));
    snprintf(key, sizeof key, "time_%s", hr_device_name(p->tail));
    set(b, w, key, num(q->w_tail));
    set(b, w, "trans", num(q->w_trans));
    set(b, w, "intensity", num(q->w_intensity));
    snprintf(key, sizeof key, "roofline_%s", hr_device_name(p->tail));
    set(b, w, key, num(q->w_rc));
    snprintf(key, sizeof key, "roofline_%s", hr_device_name(p->head));
    set(b, w, key, num(q->w_rs));
    set(b, meta, "loss_weights", w);
    set(b, root, "metadata", meta);

    pr = pruned_json(b, p, &npruned);
    set(b, init, "alpha", json_string(npruned ? "1.0 except the pruned branches (0)" : "all 1.0 (no pruning)"));
    set(b, init, "pruned_weights", pr);
    if (rep->pruned_file)
        set(b, init, "pruned_file", json_string(rep->pruned_file));
    set(b, root, "initial_config", init);
    set(b, root, "head", json_string(hr_device_name(p->head)));
    set(b, root, "tail", json_string(hr_device_name(p->tail)));
    set(b, root, "link", link_json(b, p));

    set(b, root, "optimal_gamma", gamma_object(b, p->lut, main_r->gamma));
    set(b, root, "optimal_lambda",
        json_integer(main_r->eval.placement == HR_PLACEMENT_RAW     ? 0
                     : main_r->eval.placement == HR_PLACEMENT_LOCAL ? p->n
                                                                    : main_r->eval.placement));
    set(b, root, "optimal_placement", hr__placement_json(main_r->eval.placement));
    if (main_r->method != HR_METHOD_EXACT) {
        json_t *hist = json_array();
        set(b, root, "final_loss", loss_json(b, p, &main_r->final_loss, NULL, NULL));
        for (int i = 0; i < main_r->nhistory; i++)
            append(b, hist, loss_json(b, p, &main_r->history[i].loss, &main_r->history[i].step,
                                      &main_r->history[i].lambda));
        set(b, root, "optimization_history", hist);
    }
    set(b, root, "gamma_distribution", gamma_distribution(b, main_r->gamma, p->n));

    eval_fields(b, perf, &main_r->eval);
    snprintf(key, sizeof key, "%s_time_ms", hr_device_name(p->head));
    set(b, perf, key, num(main_r->eval.head_ms));
    snprintf(key, sizeof key, "%s_time_ms", hr_device_name(p->tail));
    set(b, perf, key, num(main_r->eval.tail_ms));
    set(b, perf, "comm_time_ms", num(main_r->eval.link_ms));
    set(b, perf, "total_time_ms", num(main_r->eval.latency_ms));
    set(b, perf, "throughput_fps", num(main_r->eval.fps));
    set(b, root, "performance", perf);

    for (int m = 0; m < HR_METHOD_COUNT; m++)
        if (rep->results[m])
            set(b, results, hr_optim_method_name((hr_optim_method)m), result_json(b, p, rep->results[m]));
    set(b, root, "results", results);
    for (int i = 0; i < p->nnotes; i++)
        append(b, notes, json_string(p->notes[i]));
    if (rep->results[HR_METHOD_GRID] && rep->results[HR_METHOD_GRID]->range_clamped) {
        char s[160];
        snprintf(s, sizeof s, "grid split range %d..%d clamped to %d..%d (the model has splits 0..%d)",
                 rep->results[HR_METHOD_GRID]->req_min_split, rep->results[HR_METHOD_GRID]->req_max_split,
                 rep->results[HR_METHOD_GRID]->min_split, rep->results[HR_METHOD_GRID]->max_split, p->n);
        append(b, notes, json_string(s));
    }
    set(b, root, "notes", notes);
    return root;
}

hr_status hr_optim_report_dumps(const hr_optim_report *rep, char **out, hr_error *err)
{
    const hr_optim_result *main_r = NULL;
    builder b = {0};
    json_t *root;
    char *text;

    if (!rep || !rep->problem || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer output: needs a report with a problem");
    for (int m = 0; m < HR_METHOD_COUNT && !main_r; m++)
        main_r = rep->results[m];
    if (!main_r)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer output: no result to write");
    for (int m = 0; m < HR_METHOD_COUNT; m++)
        if (rep->results[m] && (!rep->results[m]->gamma || rep->results[m]->nblocks != rep->problem->n))
            return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer output: the %s result has %d blocks, the LUT %d",
                                hr_optim_method_name((hr_optim_method)m), rep->results[m]->nblocks, rep->problem->n);
    root = build(&b, rep, main_r);
    text = root && !b.bad ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(root);
    if (!text)
        return hr_error_set(err, HR_ERR_NOMEM, "optimizer output: out of memory");
    *out = text;
    return HR_OK;
}

hr_status hr_optim_report_save(const char *path, const hr_optim_report *rep, hr_error *err)
{
    char *text;
    hr_status st;
    size_t len;

    if (!path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "optimizer output: no path");
    if ((st = hr_optim_report_dumps(rep, &text, err)))
        return st;
    len = strlen(text);
    text[len] = '\n';
    st = hr_write_file_atomic(path, text, len + 1, err);
    free(text);
    return st;
}
