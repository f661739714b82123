/* Code 2 (SPEC §7): branch FLOPs from each block's real output size
 * (hr_joint_branch_flops), importance = |α| / (FLOPs / 1e9) per domain,
 * rankings ascending, and the original tool's output files. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_io.h"
#include "hyperrep/io.h"
#include "hyperrep/joint.h"
#include "hyperrep/plot.h"

typedef struct branch {
    char name[64];
    int block, br;
    const char *type;   /* dense, 1x1, physical_identity, virtual_identity */
    double flops;
} branch;

typedef struct scored {
    int idx;
    double score;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->idx - y->idx; /* network order breaks ties */
}

/* Appends to a growing buffer; returns 0 when out of memory. */
static int cat(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (k < 0)
            return 0;
        if ((size_t)k < *cap - *len) {
            *len += (size_t)k;
            return 1;
        }
        char *q = realloc(*buf, *cap * 2 + (size_t)k);
        if (!q)
            return 0;
        *buf = q;
        *cap = *cap * 2 + (size_t)k;
    }
}

hr_joint_importance_params hr_joint_importance_params_default(void)
{
    hr_joint_importance_params p;
    memset(&p, 0, sizeof p);
    p.top = 10;
    return p;
}

hr_status hr_joint_importance(const hr_joint_importance_params *p, hr_joint_importance_summary *out, hr_error *err)
{
    const char *alpha = p->alpha, *outdir = p->outdir;
    hr_status st = HR_OK;
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    json_t *root = NULL;
    branch *brs = NULL;
    char alphabuf[512], path[4096];

    memset(out, 0, sizeof *out);
    if (!p->arch || p->input_size < 0 || p->top < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "importance: a model is required (input size %lld, top %d)",
                            (long long)p->input_size, p->top);
    hr_model_params mp = hr_model_params_default();
    mp.input_size = p->input_size;
    if ((st = hr_ctx_create(NULL, &ctx, err)) || (st = hr_model_create(ctx, p->arch, &mp, &m, err)))
        goto done;
    const char *mname = hr_model_arch(m)->name;
    if (!alpha) {
        snprintf(alphabuf, sizeof alphabuf, "task1_trained_weights_%s/trained_hyper_weights.json", mname);
        alpha = alphabuf;
    }
    if (!outdir) {
        snprintf(out->outdir, sizeof out->outdir, "task2_importance_rankings_%s", mname);
        outdir = out->outdir;
    } else {
        snprintf(out->outdir, sizeof out->outdir, "%s", outdir);
    }
    json_error_t je;
    root = json_load_file(alpha, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s:%d:%d: %s", alpha, je.line, je.column, je.text);
        goto done;
    }
    if (!json_is_object(root) || json_object_size(root) == 0) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: expected {\"domain_k\": {branch: alpha}}", alpha);
        goto done;
    }

    /* branches in network order: dense, identity, 1x1 (the original's order) */
    const int nb = hr_model_num_blocks(m), order[3] = {HR_BRANCH_DENSE, HR_BRANCH_IDENTITY, HR_BRANCH_1X1};
    int nbr = nb * 3;
    brs = calloc((size_t)nbr, sizeof *brs);
    if (!brs) {
        st = hr_error_set(err, HR_ERR_NOMEM, "importance: out of memory");
        goto done;
    }
    for (int i = 0; i < nb; i++) {
        hr_block_info bi = hr_model_block(m, i);
        for (int o = 0; o < 3; o++) {
            branch *b = &brs[i * 3 + o];
            b->block = i;
            b->br = order[o];
            hr_model_alpha_name(m, i, (hr_branch)b->br, b->name, sizeof b->name);
            b->flops = hr_joint_branch_flops(m, i, (hr_branch)b->br);
            b->type = b->br == HR_BRANCH_DENSE              ? "dense"
                      : b->br == HR_BRANCH_1X1              ? "1x1"
                      : (bi.existing & HR_BR_IDENTITY) != 0 ? "physical_identity"
                                                            : "virtual_identity";
        }
    }
    if ((st = hr_mkdirs(outdir, err)))
        goto done;

    json_t *flops = json_object(), *info = json_object(), *scores = json_object(), *ranks = json_object();
    json_t *filtered = json_object();
    int ndom = (int)json_object_size(root), d = 0, ok = flops && info && scores && ranks && filtered;
    const char **rows = calloc((size_t)ndom, sizeof *rows), **cols = calloc((size_t)nbr, sizeof *cols);
    double *mat = calloc((size_t)(ndom * nbr), sizeof *mat);
    double *alphas = calloc((size_t)(ndom * nbr), sizeof *alphas);
    scored *sc = calloc((size_t)nbr, sizeof *sc);
    size_t cap = 1 << 14, len = 0, scap = 1 << 14, slen = 0;
    char *csv = malloc(cap), *sum = malloc(scap);
    ok = ok && rows && cols && mat && alphas && sc && csv && sum;
    int ncols = 0;
    for (int k = 0; ok && k < nbr; k++) {
        json_object_set_new(flops, brs[k].name, brs[k].flops > 0 ? json_real(brs[k].flops) : json_integer(0));
        json_object_set_new(info, brs[k].name, json_string(brs[k].type));
        if (strcmp(brs[k].type, "virtual_identity") != 0)
            cols[ncols++] = brs[k].name;
    }
    ok = ok && cat(&csv, &len, &cap, "domain");
    for (int k = 0; ok && k < ncols; k++)
        ok = cat(&csv, &len, &cap, ",%s", cols[k]);
    ok = ok && cat(&csv, &len, &cap, "\n");
    ok = ok && cat(&sum, &slen, &scap, "Importance ranking summary (%s, alpha from %s)\n"
                   "importance = |alpha| / (FLOPs / 1e9); ascending = least important first\n\n", mname, alpha);
    const char *dkey;
    json_t *dval;
    json_object_foreach(root, dkey, dval) {
        if (!ok)
            break;
        if (!json_is_object(dval)) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: \"%s\" is not an object of alpha values", alpha, dkey);
            ok = 0;
            break;
        }
        json_t *ds = json_object(), *dr = json_array(), *df = json_array();
        int n = 0, col = 0;
        rows[d] = dkey;
        ok = ds && dr && df && cat(&csv, &len, &cap, "%s", dkey);
        for (int k = 0; ok && k < nbr; k++) {
            branch *b = &brs[k];
            json_t *v = json_object_get(dval, b->name);
            int virt = strcmp(b->type, "virtual_identity") == 0;
            double a = json_is_number(v) ? json_number_value(v) : (virt ? 1.0 : NAN);
            if (!virt && !json_is_number(v)) {
                st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s has no number for %s", alpha, dkey, b->name);
                ok = 0;
                break;
            }
            alphas[d * nbr + k] = a;
            if (virt) {
                json_array_append_new(df, json_pack("{s:s, s:s, s:f, s:s}", "name", b->name, "type",
                                                    "virtual_identity", "weight", a, "reason",
                                                    "Virtual layer (no actual module)"));
                continue;
            }
            double s = b->flops > 0 ? fabs(a) / (b->flops / 1e9) : 1e10;
            mat[d * ncols + col++] = log10(s + 1.0);
            ok = cat(&csv, &len, &cap, ",%.10g", s);
            if (a == 0.0) {
                json_array_append_new(df, json_pack("{s:s, s:s, s:f, s:s}", "name", b->name, "type", "pruned",
                                                    "weight", a, "reason", "Pruned branch (alpha = 0, never computed)"));
                continue;
            }
            json_object_set_new(ds, b->name, json_real(s));
            sc[n].idx = k;
            sc[n].score = s;
            n++;
        }
        if (!ok) {
            json_decref(ds), json_decref(dr), json_decref(df);
            break;
        }
        ok = cat(&csv, &len, &cap, "\n");
        qsort(sc, (size_t)n, sizeof *sc, cmp_scored);
        ok = ok && cat(&sum, &slen, &scap, "%s: %d ranked branches; least important:\n", dkey, n);
        for (int r = 0; r < n; r++) {
            json_array_append_new(dr, json_string(brs[sc[r].idx].name));
            if (r < p->top && ok)
                ok = cat(&sum, &slen, &scap, "  %3d. %-28s %-18s alpha %9.5f  GFLOPs %9.5f  importance %.6g\n",
                         r + 1, brs[sc[r].idx].name, brs[sc[r].idx].type, alphas[d * nbr + sc[r].idx],
                         brs[sc[r].idx].flops / 1e9, sc[r].score);
        }
        ok = ok && cat(&sum, &slen, &scap, "\n");
        json_object_set_new(scores, dkey, ds);
        json_object_set_new(ranks, dkey, dr);
        json_object_set_new(filtered, dkey, df);
        d++;
    }

    /* per branch type statistics over domains */
    char *stats = malloc(4096);
    size_t tlen = 0, tcap = 4096;
    ok = ok && stats && cat(&stats, &tlen, &tcap, "Branch statistics (%s, %d domains, alpha from %s)\n\n"
                             "%-18s %6s %14s %12s %12s %12s %16s\n", mname, d, alpha, "type", "count", "GFLOPs each",
                             "mean alpha", "min alpha", "max alpha", "mean importance");
    const char *types[] = {"dense", "1x1", "physical_identity", "virtual_identity"};
    for (int ti = 0; ok && ti < 4; ti++) {
        int cnt = 0, nv = 0;
        double fl = 0, sa = 0, mn = INFINITY, mx = -INFINITY, si = 0;
        for (int k = 0; k < nbr; k++) {
            if (strcmp(brs[k].type, types[ti]) != 0)
                continue;
            cnt++;
            fl += brs[k].flops;
            for (int dd = 0; dd < d; dd++) {
                double a = alphas[dd * nbr + k];
                sa += a, nv++;
                mn = a < mn ? a : mn, mx = a > mx ? a : mx;
                si += brs[k].flops > 0 ? fabs(a) / (brs[k].flops / 1e9) : 1e10;
            }
        }
        if (cnt == 0)
            continue;
        ok = cat(&stats, &tlen, &tcap, "%-18s %6d %14.6f %12.5f %12.5f %12.5f %16.6g\n", types[ti], cnt,
                 fl / cnt / 1e9, nv ? sa / nv : 0, nv ? mn : 0, nv ? mx : 0, nv ? si / nv : 0);
    }
    if (ok) {
        char ts[32];
        json_t *run = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "command", "importance", "timestamp",
                                hr__iso_timestamp(ts, sizeof ts), "model", mname, "alpha", alpha, "input_size",
                                (json_int_t)hr_model_input_size(m), "flops",
                                "per image, from each block's output size; groups divide the conv FLOPs",
                                "importance", "|alpha| / (FLOPs / 1e9); zero-FLOP branches 1e10; ascending ranking");
        const struct { const char *file; json_t *json; } files[] = {
            {"importance_scores.json", scores}, {"importance_rankings.json", ranks},
            {"filtered_branches.json", filtered}, {"branch_flops.json", flops}, {"branch_info.json", info}};
        const struct { const char *file; const char *text; size_t len; } texts[] = {
            {"importance_matrix.csv", csv, len}, {"ranking_summary.txt", sum, slen},
            {"branch_statistics.txt", stats, tlen}};
        int rendered = 0;
        for (size_t i = 0; !st && i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", outdir, files[i].file);
            st = hr__json_write(path, files[i].json, err);
        }
        snprintf(path, sizeof path, "%s/run_info.json", outdir);
        if (!st)
            st = run ? hr__run_info_write(path, run, err) : hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; !st && i < sizeof texts / sizeof texts[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", outdir, texts[i].file);
            st = hr_write_file_atomic(path, texts[i].text, texts[i].len, err);
        }
        if (!st)
            st = hr_plot_domain_heatmap(outdir, "importance_heatmap", "log10(importance + 1) per domain", rows, d, cols,
                                        ncols, mat, &rendered, err);
        json_decref(run);
        out->domains = d;
        out->ranked = ncols;
        out->unrendered = !rendered;
    } else if (!st) {
        st = hr_error_set(err, HR_ERR_NOMEM, "importance: out of memory");
    }
    free(stats);
    json_decref(flops), json_decref(info), json_decref(scores), json_decref(ranks), json_decref(filtered);
    free(rows), free(cols), free(mat), free(alphas), free(sc), free(csv), free(sum);
done:
    free(brs);
    json_decref(root);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return st;
}
