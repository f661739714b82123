/* Stage-1 checkpoints of progressive pruning (see joint_internal.h).
 *
 * {"format": "hyperrep-joint-checkpoint", "version": 1, "fingerprint": …,
 *  "domain": k, "nblocks": N, "alpha_initial": [3N], "alpha": [3N],
 *  "ranking": […], "pool": […], "next": n, "pruned": [[block, branch], …],
 *  "initial_val", "initial_test", "final_val", "final_test", "best_so_far",
 *  "initial_gflops", "final_gflops", "complete", "stop_reason",
 *  "rounds": [{…, "pair": [guard b, guard c, test b, test c], "guard_drop",
 *              "guard_bound", "nthreshold", "alpha" (applied rounds),
 *              "cand": [{…, "pair": […]}]}]}
 * The paired fields (issue 13) are read when present and 0 otherwise: the
 * fingerprint, which names the guard, keeps an older checkpoint from
 * resuming a run that needs them.
 * There is no RNG state to carry: every stream is seeded from (seed, domain,
 * round, candidate) and momentum starts at zero for every candidate. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/weights.h"
#include "joint/joint_internal.h"

#define CKPT_FORMAT "hyperrep-joint-checkpoint"

json_t *hr__json_reals_f(const float *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real((double)v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *hr__json_reals_d(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *ints(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Sets key to v (stolen); a NULL v marks failure in *ok. */
static void put(json_t *o, const char *key, json_t *v, int *ok)
{
    if (!v || json_object_set_new(o, key, v))
        *ok = 0;
}

hr_status hr__joint_checkpoint_save(const char *path, const char *fingerprint, int domain, const int *ranking,
                                    int nrank, const hr_joint_result *r, const int *pool, int npool, int next,
                                    hr_error *err)
{
    json_t *o = json_object(), *rounds = json_array(), *pruned = json_array();
    int ok = o && rounds && pruned, na = r->nblocks * 3;
    put(o, "format", json_string(CKPT_FORMAT), &ok);
    put(o, "version", json_integer(1), &ok);
    put(o, "fingerprint", json_string(fingerprint), &ok);
    put(o, "domain", json_integer(domain), &ok);
    put(o, "nblocks", json_integer(r->nblocks), &ok);
    put(o, "alpha_initial", hr__json_reals_f(r->alpha_initial, na), &ok);
    put(o, "alpha", hr__json_reals_f(r->alpha, na), &ok);
    put(o, "ranking", ints(ranking, nrank), &ok);
    put(o, "pool", ints(pool, npool), &ok);
    put(o, "next", json_integer(next), &ok);
    for (int i = 0; ok && i < r->npruned; i++)
        ok = !json_array_append_new(pruned, json_pack("[i, i]", r->pruned_block[i], (int)r->pruned_branch[i]));
    const char *dk[] = {"initial_val", "initial_test", "final_val", "final_test", "best_so_far", "initial_gflops",
                        "final_gflops"};
    const double dv[] = {r->initial_val, r->initial_test, r->final_val, r->final_test, r->best_so_far,
                         r->initial_gflops, r->final_gflops};
    for (int i = 0; i < 7; i++)
        put(o, dk[i], json_real(dv[i]), &ok);
    put(o, "complete", json_boolean(r->complete), &ok);
    put(o, "stop_reason", json_string(r->stop_reason), &ok);
    for (int i = 0; ok && i < r->nrounds; i++) {
        const hr_joint_round *rd = &r->rounds[i];
        json_t *ro = json_object(), *cs = json_array();
        ok = ro && cs;
        put(ro, "round", json_integer(rd->round), &ok);
        put(ro, "winner", json_integer(rd->winner), &ok);
        put(ro, "applied", json_boolean(rd->applied), &ok);
        put(ro, "val_acc", json_real(rd->val_acc), &ok);
        put(ro, "test_acc", json_real(rd->test_acc), &ok);
        put(ro, "best_so_far", json_real(rd->best_so_far), &ok);
        put(ro, "num_pruned", json_integer(rd->num_pruned), &ok);
        put(ro, "remaining_gflops", json_real(rd->remaining_gflops), &ok);
        put(ro, "flops_reduction_pct", json_real(rd->flops_reduction_pct), &ok);
        put(ro, "pair", json_pack("[i, i, i, i]", rd->guard_b, rd->guard_c, rd->test_b, rd->test_c), &ok);
        put(ro, "guard_drop", json_real(rd->guard_drop), &ok);
        put(ro, "guard_bound", json_real(rd->guard_bound), &ok);
        put(ro, "nthreshold", json_integer(rd->nthreshold), &ok);
        if (rd->alpha)
            put(ro, "alpha", hr__json_reals_f(rd->alpha, na), &ok);
        for (int c = 0; ok && c < rd->ncand; c++) {
            const hr_joint_candidate *cd = &rd->cand[c];
            json_t *co = json_object();
            ok = co != NULL;
            put(co, "block", json_integer(cd->block), &ok);
            put(co, "branch", json_integer((int)cd->branch), &ok);
            put(co, "skipped", json_boolean(cd->skipped), &ok);
            put(co, "epochs", json_integer(cd->epochs), &ok);
            put(co, "val", hr__json_reals_d(cd->val, cd->epochs), &ok);
            put(co, "test", hr__json_reals_d(cd->test, cd->epochs), &ok);
            put(co, "loss", hr__json_reals_d(cd->loss, cd->epochs), &ok);
            put(co, "best_epoch", json_integer(cd->best_epoch), &ok);
            put(co, "best_val", json_real(cd->best_val), &ok);
            put(co, "best_test", json_real(cd->best_test), &ok);
            put(co, "pair", json_pack("[i, i, i, i]", cd->guard_b, cd->guard_c, cd->test_b, cd->test_c), &ok);
            if (!co || json_array_append_new(cs, co))
                ok = 0;
        }
        put(ro, "cand", cs, &ok);
        cs = NULL;
        if (!ro || json_array_append_new(rounds, ro))
            ok = 0;
    }
    put(o, "pruned", pruned, &ok);
    put(o, "rounds", rounds, &ok);
    pruned = rounds = NULL;
    char *text = ok ? json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    if (!text)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory writing the checkpoint", path);
    hr_status st = hr_write_file_atomic_private(path, text, strlen(text), err);
    free(text);
    return st;
}

/* ---- reading ---- */

typedef struct reader {
    const char *path;
    hr_error *err;
    hr_status st;
} reader;

static json_t *need(reader *rd, json_t *o, const char *key, int (*is)(const json_t *), const char *what)
{
    json_t *v = json_object_get(o, key);
    if (rd->st)
        return NULL;
    if (!v || !is(v)) {
        rd->st = hr_error_set(rd->err, HR_ERR_FORMAT, "%s: checkpoint field \"%s\" is missing or not %s", rd->path,
                              key, what);
        return NULL;
    }
    return v;
}

static int is_num(const json_t *v) { return json_is_number(v); }
static int is_int(const json_t *v) { return json_is_integer(v); }
static int is_arr(const json_t *v) { return json_is_array(v); }
static int is_str(const json_t *v) { return json_is_string(v); }
static int is_bool(const json_t *v) { return json_is_boolean(v); }

static double num(reader *rd, json_t *o, const char *key)
{
    json_t *v = need(rd, o, key, is_num, "a number");
    return v ? json_number_value(v) : 0;
}

static long long integer(reader *rd, json_t *o, const char *key, long long lo, long long hi)
{
    json_t *v = need(rd, o, key, is_int, "an integer");
    if (!v)
        return lo;
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        rd->st = hr_error_set(rd->err, HR_ERR_FORMAT, "%s: checkpoint field \"%s\" = %lld is not in %lld..%lld",
                              rd->path, key, x, lo, hi);
        return lo;
    }
    return x;
}

static int boolean(reader *rd, json_t *o, const char *key)
{
    json_t *v = need(rd, o, key, is_bool, "a boolean");
    return v ? json_is_true(v) : 0;
}

/* An array of exactly n numbers (n < 0: at most -n, *got receives the count). */
static json_t *array(reader *rd, json_t *o, const char *key, int n, int *got)
{
    json_t *a = need(rd, o, key, is_arr, "an array");
    if (!a)
        return NULL;
    int sz = (int)json_array_size(a);
    if ((n >= 0 && sz != n) || (n < 0 && sz > -n)) {
        rd->st = hr_error_set(rd->err, HR_ERR_FORMAT, "%s: checkpoint field \"%s\" has %d entries, expected %s%d",
                              rd->path, key, sz, n < 0 ? "at most " : "", n < 0 ? -n : n);
        return NULL;
    }
    /* α and the like become floats: a number beyond FLT_MAX would turn
     * into inf there (issue 15) */
    for (int i = 0; i < sz; i++)
        if (!json_is_number(json_array_get(a, (size_t)i)) ||
            !(fabs(json_number_value(json_array_get(a, (size_t)i))) <= FLT_MAX)) {
            rd->st = hr_error_set(rd->err, HR_ERR_FORMAT, "%s: checkpoint field \"%s\"[%d] is not a finite number",
                                  rd->path, key, i);
            return NULL;
        }
    if (got)
        *got = sz;
    return a;
}

/* The optional "pair" [4 integers >= 0] of a round or candidate. */
static void pair(reader *rd, json_t *o, int *v)
{
    json_t *a = json_object_get(o, "pair");
    if (!a || rd->st)
        return;
    if (!json_is_array(a) || json_array_size(a) != 4) {
        rd->st = hr_error_set(rd->err, HR_ERR_FORMAT, "%s: checkpoint field \"pair\" is not 4 integers", rd->path);
        return;
    }
    for (int i = 0; i < 4; i++) {
        json_t *x = json_array_get(a, (size_t)i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX) {
            rd->st = hr_error_set(rd->err, HR_ERR_FORMAT, "%s: checkpoint field \"pair\"[%d] is not a count", rd->path,
                                  i);
            return;
        }
        v[i] = (int)json_integer_value(x);
    }
}

hr_status hr__joint_checkpoint_load(const char *path, const char *fingerprint, int domain, const int *ranking,
                                    int nrank, hr_joint_result *r, int max_rounds, int *pool, int *npool,
                                    int pool_cap, int *next, int *resumed, hr_error *err)
{
    json_error_t je;
    reader rd = {path, err, HR_OK};
    const int na = r->nblocks * 3;
    *resumed = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return HR_OK;
        return hr_error_set(err, HR_ERR_IO, "%s: cannot open the checkpoint: %s", path, strerror(errno));
    }
    json_t *o = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!o)
        return hr_error_set(err, HR_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    json_t *v, *a;
    if (!json_is_object(o) || !(v = json_object_get(o, "format")) || !json_is_string(v) ||
        strcmp(json_string_value(v), CKPT_FORMAT) != 0 || integer(&rd, o, "version", 1, 1) != 1) {
        json_decref(o);
        if (rd.st)
            return rd.st;
        return hr_error_set(err, HR_ERR_FORMAT, "%s: not a hyperrep joint checkpoint (format \"%s\")", path,
                            CKPT_FORMAT);
    }
    v = need(&rd, o, "fingerprint", is_str, "a string");
    if (v && strcmp(json_string_value(v), fingerprint) != 0) {
        json_decref(o);
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "%s: the checkpoint was made with other settings (%s); now %s: remove it or rerun with "
                            "the same settings",
                            path, json_string_value(v), fingerprint);
    }
    if (!rd.st && (integer(&rd, o, "domain", 0, 1000) != domain || integer(&rd, o, "nblocks", 0, 1 << 20) != r->nblocks)) {
        json_decref(o);
        return rd.st ? rd.st
                     : hr_error_set(err, HR_ERR_INVALID_ARG, "%s: the checkpoint is for another domain or model", path);
    }
    if ((a = array(&rd, o, "alpha_initial", na, NULL)))
        for (int i = 0; i < na; i++)
            if ((float)json_number_value(json_array_get(a, (size_t)i)) != r->alpha_initial[i]) {
                json_decref(o);
                return hr_error_set(err, HR_ERR_INVALID_ARG,
                                    "%s: the checkpoint started from other alpha (entry %d): remove it or start from "
                                    "the same alpha",
                                    path, i);
            }
    if ((a = array(&rd, o, "ranking", nrank, NULL)))
        for (int i = 0; i < nrank; i++)
            if ((int)json_number_value(json_array_get(a, (size_t)i)) != ranking[i]) {
                json_decref(o);
                return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: the checkpoint's ranking differs at entry %d", path,
                                    i);
            }
    if ((a = array(&rd, o, "alpha", na, NULL)))
        for (int i = 0; i < na; i++)
            r->alpha[i] = (float)json_number_value(json_array_get(a, (size_t)i));
    if ((a = array(&rd, o, "pool", -pool_cap, npool)))
        for (int i = 0; i < *npool; i++) {
            double x = json_number_value(json_array_get(a, (size_t)i));
            if (!(x >= 0 && x < na)) {
                rd.st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint pool entry %d out of range", path, i);
                break;
            }
            pool[i] = (int)x;
        }
    *next = (int)integer(&rd, o, "next", 0, nrank);
    r->initial_val = num(&rd, o, "initial_val");
    r->initial_test = num(&rd, o, "initial_test");
    r->final_val = num(&rd, o, "final_val");
    r->final_test = num(&rd, o, "final_test");
    r->best_so_far = num(&rd, o, "best_so_far");
    r->initial_gflops = num(&rd, o, "initial_gflops");
    r->final_gflops = num(&rd, o, "final_gflops");
    r->complete = boolean(&rd, o, "complete");
    if ((v = need(&rd, o, "stop_reason", is_str, "a string")))
        snprintf(r->stop_reason, sizeof r->stop_reason, "%s", json_string_value(v));
    if ((a = need(&rd, o, "pruned", is_arr, "an array"))) {
        size_t n = json_array_size(a);
        if (n > (size_t)na)
            rd.st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint lists %zu pruned branches", path, n);
        for (size_t i = 0; !rd.st && i < n; i++) {
            json_t *e = json_array_get(a, i);
            long long b, br;
            if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(json_array_get(e, 0)) ||
                !json_is_integer(json_array_get(e, 1)) || (b = json_integer_value(json_array_get(e, 0))) < 0 ||
                b >= r->nblocks || (br = json_integer_value(json_array_get(e, 1))) < 0 || br >= HR_BRANCH_COUNT) {
                rd.st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint pruned entry %zu is not [block, branch]",
                                     path, i);
                break;
            }
            r->pruned_block[i] = (int)b;
            r->pruned_branch[i] = (hr_branch)br;
            r->npruned = (int)i + 1;
        }
    }
    if ((a = need(&rd, o, "rounds", is_arr, "an array"))) {
        size_t n = json_array_size(a);
        if (n > (size_t)max_rounds)
            rd.st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint holds %zu rounds, more than %d", path, n,
                                 max_rounds);
        for (size_t i = 0; !rd.st && i < n; i++) {
            json_t *ro = json_array_get(a, i), *cs, *ax;
            hr_joint_round *rr = &r->rounds[i];
            memset(rr, 0, sizeof *rr);
            if (!json_is_object(ro)) {
                rd.st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint round %zu is not an object", path, i);
                break;
            }
            rr->round = (int)integer(&rd, ro, "round", 1, max_rounds);
            rr->applied = boolean(&rd, ro, "applied");
            rr->val_acc = num(&rd, ro, "val_acc");
            rr->test_acc = num(&rd, ro, "test_acc");
            rr->best_so_far = num(&rd, ro, "best_so_far");
            rr->num_pruned = (int)integer(&rd, ro, "num_pruned", 0, na);
            rr->remaining_gflops = num(&rd, ro, "remaining_gflops");
            rr->flops_reduction_pct = num(&rd, ro, "flops_reduction_pct");
            {
                int pv[4] = {0, 0, 0, 0};
                pair(&rd, ro, pv);
                rr->guard_b = pv[0], rr->guard_c = pv[1], rr->test_b = pv[2], rr->test_c = pv[3];
            }
            if (json_object_get(ro, "guard_drop"))
                rr->guard_drop = num(&rd, ro, "guard_drop");
            if (json_object_get(ro, "guard_bound"))
                rr->guard_bound = num(&rd, ro, "guard_bound");
            if (json_object_get(ro, "nthreshold"))
                rr->nthreshold = (int)integer(&rd, ro, "nthreshold", 0, na);
            if (json_object_get(ro, "alpha") && (ax = array(&rd, ro, "alpha", na, NULL))) {
                if (!(rr->alpha = malloc(sizeof(float) * (size_t)na + 1))) {
                    rd.st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
                for (int k = 0; k < na; k++)
                    rr->alpha[k] = (float)json_number_value(json_array_get(ax, (size_t)k));
            }
            if (!(cs = need(&rd, ro, "cand", is_arr, "an array")))
                break;
            if (json_array_size(cs) > (size_t)pool_cap) {
                rd.st = hr_error_set(err, HR_ERR_FORMAT, "%s: checkpoint round %zu has %zu candidates, more than the "
                                     "pool of %d", path, i, json_array_size(cs), pool_cap);
                break;
            }
            rr->ncand = (int)json_array_size(cs);
            rr->winner = (int)integer(&rd, ro, "winner", -1, rr->ncand - 1);
            rr->cand = calloc((size_t)rr->ncand + 1, sizeof *rr->cand);
            r->nrounds = (int)i + 1;
            if (!rr->cand) {
                rd.st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            for (int c = 0; !rd.st && c < rr->ncand; c++) {
                json_t *co = json_array_get(cs, (size_t)c), *x;
                hr_joint_candidate *cd = &rr->cand[c];
                if (!json_is_object(co)) {
                    rd.st = hr_error_set(err, HR_ERR_FORMAT, "%s: round %zu candidate %d is not an object", path, i, c);
                    break;
                }
                cd->block = (int)integer(&rd, co, "block", 0, r->nblocks - 1);
                cd->branch = (hr_branch)integer(&rd, co, "branch", 0, HR_BRANCH_COUNT - 1);
                cd->skipped = boolean(&rd, co, "skipped");
                cd->epochs = (int)integer(&rd, co, "epochs", 0, HR_JOINT_MAX_EPOCHS);
                const char *keys[3] = {"val", "test", "loss"};
                double *dst[3] = {cd->val, cd->test, cd->loss};
                for (int k = 0; k < 3; k++)
                    if ((x = array(&rd, co, keys[k], cd->epochs, NULL)))
                        for (int e = 0; e < cd->epochs; e++)
                            dst[k][e] = json_number_value(json_array_get(x, (size_t)e));
                cd->best_epoch = (int)integer(&rd, co, "best_epoch", 0, HR_JOINT_MAX_EPOCHS);
                cd->best_val = num(&rd, co, "best_val");
                cd->best_test = num(&rd, co, "best_test");
                {
                    int pv[4] = {0, 0, 0, 0};
                    pair(&rd, co, pv);
                    cd->guard_b = pv[0], cd->guard_c = pv[1], cd->test_b = pv[2], cd->test_c = pv[3];
                }
            }
        }
    }
    json_decref(o);
    if (rd.st) {
        for (int i = 0; i < r->nrounds; i++) {
            free(r->rounds[i].cand);
            free(r->rounds[i].alpha);
            r->rounds[i].cand = NULL;
            r->rounds[i].alpha = NULL;
        }
        r->nrounds = 0;
        return rd.st;
    }
    *resumed = 1;
    return HR_OK;
}
