/* hyperrep importance: code 2 (SPEC §7) — branch FLOPs from each block's
 * real output size, importance = |α| / (FLOPs / 1e9) per domain, rankings
 * ascending, and the original tool's output files. */
#include <getopt.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_common.h"

static const char *help =
    "usage: hyperrep importance --model M [--alpha trained_hyper_weights.json] [-o DIR]\n"
    "\n"
    "Code 2: for every domain of the alpha file (ours or the original tool's\n"
    "trained_hyper_weights.json), importance = |alpha| / (branch FLOPs / 1e9) with\n"
    "branch FLOPs from each block's output size: dense 2*Cin*Cout*9*H*W/groups,\n"
    "1x1 2*Cin*Cout*H*W/groups, identity 4*C*H*W (a zero-FLOP branch scores 1e10).\n"
    "Blocks without an identity branch have a virtual one (0 FLOPs) that is left out\n"
    "of the ranking; pruned branches (alpha = 0) are left out too. Rankings are\n"
    "ascending (least important first). Writes to DIR (default\n"
    "task2_importance_rankings_<model>): importance_scores.json,\n"
    "importance_rankings.json, filtered_branches.json, branch_flops.json,\n"
    "branch_info.json, importance_matrix.csv, importance_heatmap.dat/.gp (.png with\n"
    "gnuplot; values log10(importance + 1)), ranking_summary.txt,\n"
    "branch_statistics.txt and run_info.json (settings).\n"
    "\n"
    "options:\n"
    "  --model M        architecture (its block shapes give the FLOPs)\n"
    "  --input-size S   input height = width (default: the architecture's)\n"
    "  --alpha FILE     default task1_trained_weights_<model>/trained_hyper_weights.json\n"
    "  --top N          branches listed per domain in ranking_summary.txt (10)\n"
    "  -o DIR           output directory\n";

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

int hr_cmd_importance(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"input-size", required_argument, 0, 's'},
                                         {"alpha", required_argument, 0, 'a'}, {"top", required_argument, 0, 'T'},
                                         {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *arch = NULL, *alpha = NULL, *outdir = NULL;
    int64_t input = 0, top = 10;
    int c, rc = 1;
    hr_error err = {0};
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    json_t *root = NULL;
    branch *brs = NULL;
    char dirbuf[512], alphabuf[512], path[4096];

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': arch = optarg; break;
        case 'a': alpha = optarg; break;
        case 'o': outdir = optarg; break;
        case 's': if (!hr_cli_parse_i64("importance", "--input-size", optarg, 1, 65536, &input)) return 2; break;
        case 'T': if (!hr_cli_parse_i64("importance", "--top", optarg, 1, 100000, &top)) return 2; break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind < argc || !arch) {
        hr_cli_fail("importance", optind < argc ? "unexpected argument '%s'" : "--model is required%s",
                    optind < argc ? argv[optind] : "");
        return 2;
    }
    hr_model_params mp = hr_model_params_default();
    mp.input_size = input;
    if (hr_ctx_create(NULL, &ctx, &err) || hr_model_create(ctx, arch, &mp, &m, &err)) {
        hr_cli_fail("importance", "%s", err.msg);
        goto done;
    }
    const char *mname = hr_model_arch(m)->name;
    if (!alpha) {
        snprintf(alphabuf, sizeof alphabuf, "task1_trained_weights_%s/trained_hyper_weights.json", mname);
        alpha = alphabuf;
    }
    if (!outdir) {
        snprintf(dirbuf, sizeof dirbuf, "task2_importance_rankings_%s", mname);
        outdir = dirbuf;
    }
    json_error_t je;
    root = json_load_file(alpha, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        hr_cli_fail("importance", "%s:%d:%d: %s", alpha, je.line, je.column, je.text);
        goto done;
    }
    if (!json_is_object(root) || json_object_size(root) == 0) {
        hr_cli_fail("importance", "%s: expected {\"domain_k\": {branch: alpha}}", alpha);
        goto done;
    }

    /* branches in network order: dense, identity, 1x1 (the original's order) */
    const int nb = hr_model_num_blocks(m), order[3] = {HR_BRANCH_DENSE, HR_BRANCH_IDENTITY, HR_BRANCH_1X1};
    int nbr = nb * 3;
    brs = calloc((size_t)nbr, sizeof *brs);
    if (!brs) {
        hr_cli_fail("importance", "out of memory");
        goto done;
    }
    for (int i = 0; i < nb; i++) {
        hr_block_info bi = hr_model_block(m, i);
        double hw = (double)(bi.out_h * bi.out_w), cin = (double)bi.cin, cout = (double)bi.cout, g = bi.groups;
        for (int o = 0; o < 3; o++) {
            branch *b = &brs[i * 3 + o];
            b->block = i;
            b->br = order[o];
            hr_model_alpha_name(m, i, (hr_branch)b->br, b->name, sizeof b->name);
            if (b->br == HR_BRANCH_DENSE)
                b->type = "dense", b->flops = 2 * cin * cout * 9 * hw / g;
            else if (b->br == HR_BRANCH_1X1)
                b->type = "1x1", b->flops = 2 * cin * cout * hw / g;
            else if (bi.existing & HR_BR_IDENTITY)
                b->type = "physical_identity", b->flops = 4 * cout * hw;
            else
                b->type = "virtual_identity", b->flops = 0;
        }
    }
    if (!hr_cli_mkdirs("importance", outdir))
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
            hr_cli_fail("importance", "%s: \"%s\" is not an object of alpha values", alpha, dkey);
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
                hr_cli_fail("importance", "%s: %s has no number for %s", alpha, dkey, b->name);
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
            if (r < top && ok)
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
                                hr_cli_timestamp(ts, sizeof ts), "model", mname, "alpha", alpha, "input_size",
                                (json_int_t)hr_model_input_size(m), "flops",
                                "per image, from each block's output size; groups divide the conv FLOPs",
                                "importance", "|alpha| / (FLOPs / 1e9); zero-FLOP branches 1e10; ascending ranking");
        snprintf(path, sizeof path, "%s/importance_scores.json", outdir);
        ok = hr_cli_write_json("importance", path, scores);
        snprintf(path, sizeof path, "%s/importance_rankings.json", outdir);
        ok = ok && hr_cli_write_json("importance", path, ranks);
        snprintf(path, sizeof path, "%s/filtered_branches.json", outdir);
        ok = ok && hr_cli_write_json("importance", path, filtered);
        snprintf(path, sizeof path, "%s/branch_flops.json", outdir);
        ok = ok && hr_cli_write_json("importance", path, flops);
        snprintf(path, sizeof path, "%s/branch_info.json", outdir);
        ok = ok && hr_cli_write_json("importance", path, info);
        snprintf(path, sizeof path, "%s/run_info.json", outdir);
        ok = ok && run && hr_cli_write_run_info("importance", path, run);
        snprintf(path, sizeof path, "%s/importance_matrix.csv", outdir);
        ok = ok && hr_cli_write_text("importance", path, csv, len);
        snprintf(path, sizeof path, "%s/ranking_summary.txt", outdir);
        ok = ok && hr_cli_write_text("importance", path, sum, slen);
        snprintf(path, sizeof path, "%s/branch_statistics.txt", outdir);
        ok = ok && hr_cli_write_text("importance", path, stats, tlen);
        ok = ok && hr_cli_heatmap("importance", outdir, "importance_heatmap", "log10(importance + 1) per domain", rows,
                                  d, cols, ncols, mat);
        json_decref(run);
        if (ok) {
            printf("%d domains, %d ranked branches per domain; outputs in %s/\n", d, ncols, outdir);
            rc = 0;
        }
    } else if (d == ndom) {
        hr_cli_fail("importance", "out of memory");
    }
    free(stats);
    json_decref(flops), json_decref(info), json_decref(scores), json_decref(ranks), json_decref(filtered);
    free(rows), free(cols), free(mat), free(alphas), free(sc), free(csv), free(sum);
done:
    free(brs);
    json_decref(root);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
    return rc;
}
