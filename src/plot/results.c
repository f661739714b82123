/* Every figure of SPEC §9 that a results directory supports, and the
 * report over them (hr_plot_results, include/hyperrep/plot.h): this file
 * finds and loads the pipeline's result files and draws the figures;
 * report.c writes report.md and report.html. */
#include "plot/plot_internal.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hyperrep/gamma.h"
#include "hyperrep/lut.h"

void hr__plot_fail(hr__plot_run *run, hr_status st, const char *fmt, ...)
{
    char msg[4608];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (st == HR_OK)
        st = HR_ERR_INTERNAL; /* a failure always carries a failing status */
    if (!run->failed) {
        run->status = st;
        hr_error_set(run->err, st, "%s", msg);
    } else {
        run->log(run->log_user, HR_LOG_ERROR, msg);
    }
    run->failed = 1;
}

/* Finds name in the results directory as the pipeline lays it out: at the
 * top, under joint_optimization/, or in a Code 1 / Code 2 output directory
 * (task1_trained_weights_<model>/, task2_importance_rankings_<model>/).
 * Writes the first existing path into path; 0 when there is none. */
static int find_result(const hr__plot_run *run, const char *name, char *path, size_t size)
{
    static const char *dirs[] = {"", "joint_optimization/", "task1_trained_weights_*/", "task2_importance_rankings_*/"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char pattern[4096];
        glob_t g;
        snprintf(pattern, sizeof pattern, "%s/%s%s", run->results, dirs[i], name);
        if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            snprintf(path, size, "%s", g.gl_pathv[0]);
            globfree(&g);
            return 1;
        }
        globfree(&g);
    }
    return 0;
}

json_t *hr__plot_load_json(hr__plot_run *run, const char *name)
{
    char path[4096];
    json_error_t je;
    if (!find_result(run, name, path, sizeof path))
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!j)
        hr__plot_fail(run, HR_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return j;
}

double hr__plot_num(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* Records a figure's outcome; a failure is recorded, the other figures are
 * still drawn. */
static void figure_done(hr__plot_run *run, const char *name, const char *title, hr_status st, int rendered,
                        const hr_error *err)
{
    if (st != HR_OK) {
        hr__plot_fail(run, st, "%s", err->msg);
        return;
    }
    if (!rendered)
        run->unrendered++;
    if (run->nfigs < HR__PLOT_MAX_FIGS) {
        hr__plot_fig *f = &run->figs[run->nfigs++];
        snprintf(f->name, sizeof f->name, "%s", name);
        snprintf(f->title, sizeof f->title, "%s", title);
        f->rendered = rendered;
    }
}

/* LUT heat maps: one per device, blocks x γ, latency in ms (invalid γ empty). */
static void plot_lut(hr__plot_run *run)
{
    hr_lut *lut = run->lut;
    const char *cols[HR_GAMMA_COUNT];
    const char **rows = calloc((size_t)lut->nblocks, sizeof *rows);
    double *v = malloc((size_t)lut->nblocks * HR_GAMMA_COUNT * sizeof *v);
    if (!rows || !v) {
        hr__plot_fail(run, HR_ERR_NOMEM, "out of memory for the LUT heat maps");
        free(rows), free(v);
        return;
    }
    for (int g = 0; g < HR_GAMMA_COUNT; g++)
        cols[g] = hr_gamma_get(g)->name;
    for (int b = 0; b < lut->nblocks; b++)
        rows[b] = lut->blocks[b].name;
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        char name[64], title[160];
        int positive = 1;
        for (int b = 0; b < lut->nblocks; b++)
            for (int g = 0; g < HR_GAMMA_COUNT; g++) {
                double t = lut->blocks[b].t_ms[d][g];
                v[b * HR_GAMMA_COUNT + g] = t >= 0 ? t : NAN;
                if (t == 0)
                    positive = 0;
            }
        snprintf(name, sizeof name, "lut_%s", hr_device_name((hr_device)d));
        /* The processor name (often long) is in the report's LUT summary. */
        snprintf(title, sizeof title, "LUT %s: %s latency per block and gamma (grey: invalid)",
                 hr_device_name((hr_device)d), hr_lut_stat_name(lut->stat));
        hr_plot_heatmap_spec s = {title, "gamma", "block", "latency (ms, log scale)", rows, lut->nblocks, cols,
                                  HR_GAMMA_COUNT, v, positive};
        hr_plot_params pp = run->pp;
        pp.height = 220 + 16 * lut->nblocks < 500 ? 500 : 220 + 16 * lut->nblocks;
        hr_error err = {0};
        int rendered = 0;
        hr_status st = hr_plot_heatmap(run->out, name, &s, &pp, &rendered, &err);
        figure_done(run, name, title, st, rendered, &err);
    }
    free(rows), free(v);
}

/* Roofline per device: each valid (block, γ) at Intensity_w and attained
 * GFLOP/s = FLOPs / time; ceilings min(peak, bandwidth x I) when measured,
 * else only the knee the LUT carries. */
static void plot_roofline(hr__plot_run *run)
{
    hr_lut *lut = run->lut;
    char l[256];
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        hr_plot_buf data = {0}, gp = {0};
        char name[64], title[160];
        int npts = 0;
        hr_plot_bufprintf(&data, "# block gamma gamma_name intensity_w(FLOP/byte) attained(GFLOP/s) time_ms flops\n");
        for (int b = 0; b < lut->nblocks; b++) {
            const hr_lut_block *blk = &lut->blocks[b];
            for (int g = 0; g < HR_GAMMA_COUNT; g++) {
                double t = blk->t_ms[d][g];
                if (t <= 0 || blk->intensity_w[g] <= 0)
                    continue;
                hr_block_cost c = hr_block_cost_eval(g, blk->in_shape, blk->out_shape, blk->groups);
                if (c.flops <= 0)
                    continue;
                hr_plot_bufprintf(&data, "%s %d %s %.9g %.9g %.9g %.9g\n", blk->name, g, hr_gamma_get(g)->name,
                                  blk->intensity_w[g], c.flops / (t * 1e6), t, c.flops);
                npts++;
            }
        }
        if (npts == 0) {
            hr_plot_buf_free(&data);
            continue; /* the original's LUTs carry no shapes: no intensities to place */
        }
        snprintf(name, sizeof name, "roofline_%s", hr_device_name((hr_device)d));
        snprintf(title, sizeof title, "Roofline %s: every block under every valid gamma", hr_device_name((hr_device)d));
        hr_plot_bufprintf(&gp, "set title '%s'\n", hr_plot_label(title, l, sizeof l));
        hr_plot_bufprintf(&gp, "set xlabel 'operational intensity Intensity_w (FLOP/byte)'\n"
                               "set ylabel 'attained performance (GFLOP/s)'\n"
                               "set logscale xy\nset grid\nset key bottom right\n"
                               "set cblabel 'gamma id'\nset cbrange [0:13]\nset cbtics 1\n"
                               "set palette defined (0 '#1b9e77', 4 '#d95f02', 9 '#7570b3', 13 '#e7298a')\n");
        if (lut->peak_gflops[d] > 0 && lut->bandwidth_gbs[d] > 0) {
            double peak = lut->peak_gflops[d], bw = lut->bandwidth_gbs[d];
            hr_plot_bufprintf(&gp,
                              "peak = %.9g\nbw = %.9g\nroof(x) = x * bw < peak ? x * bw : peak\n"
                              "set xrange [*:*]\nset samples 400\n"
                              "plot '%s.dat' using 4:5:2 with points pt 7 ps 0.8 lc palette title 'block x gamma', "
                              "roof(x) with lines lw 2 lc rgb 'black' title sprintf('roof: %%.1f GFLOP/s, %%.1f GB/s, "
                              "knee %%.2f FLOP/byte', peak, bw, peak / bw)\n",
                              peak, bw, name);
        } else {
            hr_plot_bufprintf(&gp,
                              "set arrow 1 from %.9g, graph 0 to %.9g, graph 1 nohead dt 2 lc rgb 'black'\n"
                              "set label 1 'knee %.2f FLOP/byte (ceilings not measured)' at %.9g, graph 0.05 "
                              "left offset 1,0\n"
                              "plot '%s.dat' using 4:5:2 with points pt 7 ps 0.8 lc palette title 'block x gamma'\n",
                              lut->i_knee[d], lut->i_knee[d], lut->i_knee[d], lut->i_knee[d], name);
        }
        hr_error err = {0};
        int rendered = 0;
        hr_status st = hr_plot_figure(run->out, name, &data, &gp, &run->pp, &rendered, &err);
        figure_done(run, name, title, st, rendered, &err);
        hr_plot_buf_free(&data), hr_plot_buf_free(&gp);
    }
}

/* Gradient-method convergence: relaxed latency (the history's time_* and
 * trans terms, ms) and the total loss per step, the exact optimum's latency
 * and the gradient method's rounded result as horizontal lines. */
static void plot_convergence(hr__plot_run *run)
{
    json_t *hist = json_object_get(run->init_cfg, "optimization_history");
    json_t *res = json_object_get(run->init_cfg, "results");
    size_t i;
    json_t *h;
    if (!json_is_array(hist) || json_array_size(hist) == 0)
        return;
    double exact = hr__plot_num(json_object_get(res, "exact"), "objective_value", NAN);
    if (!isfinite(exact))
        exact = hr__plot_num(json_object_get(res, "gd"), "exact_value", NAN);
    double gd = hr__plot_num(json_object_get(res, "gd"), "objective_value", NAN);
    const char *obj = json_string_value(json_object_get(json_object_get(res, "gd"), "objective"));
    hr_plot_buf data = {0}, gp = {0};
    hr_plot_bufprintf(&data, "# step relaxed_latency_ms(time_* + trans) loss_total lambda\n");
    json_array_foreach(hist, i, h) {
        double lat = 0;
        const char *k;
        json_t *v;
        json_object_foreach(h, k, v)
            if ((strncmp(k, "time_", 5) == 0 || strcmp(k, "trans") == 0) && json_is_number(v))
                lat += json_number_value(v);
        hr_plot_bufprintf(&data, "%.0f %.9g %.9g %.9g\n", hr__plot_num(h, "step", (double)i), lat,
                          hr__plot_num(h, "total", NAN), hr__plot_num(h, "lambda", NAN));
    }
    const char *title = "Gradient method convergence";
    hr_plot_bufprintf(&gp, "set title '%s'\nset xlabel 'step'\nset ylabel 'latency (ms)'\n"
                           "set y2label 'loss (total, a.u.)'\nset y2tics\nset ytics nomirror\nset grid\n"
                           "set key top right\n", title);
    hr_plot_bufprintf(&gp, "plot 'convergence.dat' using 1:2 with linespoints pt 7 lw 2 title 'relaxed latency "
                           "(head + link + tail)', 'convergence.dat' using 1:3 axes x1y2 with lines dt 3 title "
                           "'loss total (right axis)'");
    if (isfinite(exact))
        hr_plot_bufprintf(&gp, ", %.9g with lines lw 2 lc rgb 'black' title 'exact optimum (%s %.3f ms)'", exact,
                          obj ? obj : "latency", exact);
    if (isfinite(gd))
        hr_plot_bufprintf(&gp, ", %.9g with lines dt 2 lc rgb 'red' title 'gradient method, rounded (%.3f ms)'", gd,
                          gd);
    hr_plot_bufprintf(&gp, "\n");
    hr_error err = {0};
    int rendered = 0;
    hr_status st = hr_plot_figure(run->out, "convergence", &data, &gp, &run->pp, &rendered, &err);
    figure_done(run, "convergence", title, st, rendered, &err);
    hr_plot_buf_free(&data), hr_plot_buf_free(&gp);
}

/* Domains x keys heat map of a {"domain_k": {key: number}} file; columns
 * follow the first domain's key order. transform 1: log10(v + 1). */
static void plot_domain_matrix(hr__plot_run *run, json_t *root, const char *name, const char *title,
                               const char *cblabel, int transform)
{
    const char *dk, *k;
    json_t *dv, *v;
    int nrows = 0, ncols = 0;
    if (!json_is_object(root) || json_object_size(root) == 0 || json_object_size(root) > HR_PLOT_MAX_DOMAINS)
        return;
    json_t *first = json_object_iter_value(json_object_iter(root));
    if (!json_is_object(first) || json_object_size(first) == 0 || json_object_size(first) > 100000)
        return;
    size_t nr = json_object_size(root), nc = json_object_size(first);
    const char **rows = calloc(nr, sizeof *rows), **cols = calloc(nc, sizeof *cols);
    double *val = malloc(nr * nc * sizeof *val);
    if (!rows || !cols || !val) {
        hr__plot_fail(run, HR_ERR_NOMEM, "out of memory for %s", name);
        goto done;
    }
    json_object_foreach(first, k, v)
        cols[ncols++] = k;
    json_object_foreach(root, dk, dv) {
        rows[nrows] = dk;
        for (int c = 0; c < ncols; c++) {
            json_t *x = json_object_get(dv, cols[c]);
            double y = json_is_number(x) ? json_number_value(x) : NAN;
            val[(size_t)nrows * nc + (size_t)c] = transform && isfinite(y) ? log10(fabs(y) + 1) : y;
        }
        nrows++;
    }
    hr_plot_heatmap_spec s = {title, "branch (block.branch)", "domain", cblabel, rows, nrows, cols, ncols, val, 0};
    hr_plot_params pp = run->pp;
    pp.width = 300 + 16 * ncols < 800 ? 800 : 300 + 16 * ncols;
    pp.height = 260 + 28 * nrows < 420 ? 420 : 260 + 28 * nrows;
    hr_error err = {0};
    int rendered = 0;
    hr_status st = hr_plot_heatmap(run->out, name, &s, &pp, &rendered, &err);
    figure_done(run, name, title, st, rendered, &err);
done:
    free(rows), free(cols), free(val);
}

static double initial_fps(hr__plot_run *run)
{
    return hr__plot_num(json_object_get(run->init_cfg, "performance"), "throughput_fps", NAN);
}

/* Accuracy vs throughput: per domain the initial point (initial accuracy at
 * the step-2 fps), every pruning round that carries a throughput, and the
 * final configuration; a figure per domain and one with all domains. */
/* Appends one domain's points: initial, each round with a throughput, final. */
static void domain_points(hr_plot_buf *data, const hr__plot_domain *r, double fps0, int extras)
{
    json_t *rounds = json_object_get(json_object_get(r->joint, "stage1_accuracy"), "pruning_rounds");
    size_t i;
    json_t *e;
    if (extras && isfinite(fps0) && isfinite(r->initial_acc))
        hr_plot_bufprintf(data, "%d step2 %.9g %.9g\n", r->id, fps0, r->initial_acc);
    json_array_foreach(rounds, i, e) {
        /* ours: the exact optimum of each pruning state; the original's
         * files may carry throughput_fps instead */
        double fps = hr__plot_num(json_object_get(e, "exact_optimum"), "fps", hr__plot_num(e, "throughput_fps", NAN));
        double acc = hr__plot_num(e, "acc", NAN);
        if (isfinite(fps) && isfinite(acc))
            hr_plot_bufprintf(data, "%d round_%.0f %.9g %.9g\n", r->id, hr__plot_num(e, "round", (double)i), fps, acc);
    }
    if (isfinite(r->fps) && isfinite(r->final_acc))
        hr_plot_bufprintf(data, "%d final %.9g %.9g\n", r->id, r->fps, r->final_acc);
    if (extras && r->has_baseline && isfinite(r->initial_acc))
        hr_plot_bufprintf(data, "%d baseline %.9g %.9g\n", r->id, r->base_fps, r->initial_acc);
}

static const char ACC_HEADER[] =
    "# domain point throughput_fps accuracy_pct (fps = 1000 / LUT latency; accuracy on the test part)\n"
    "# round_N: the exact optimum of the model after round N (round_0: unpruned); step2: the gradient\n"
    "# method's configuration (initial_throughput_config.json); final: final_configuration (grid);\n"
    "# baseline: unpruned, deploy gamma, best placement (Neurosurgeon-style)\n";
static const char ACC_AXES[] = "set xlabel 'throughput (frames/s)'\nset ylabel 'top-1 accuracy (%)'\n"
                               "set grid\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n";

static void plot_acc_throughput(hr__plot_run *run)
{
    hr_plot_buf data = {0}, gp = {0};
    double fps0 = initial_fps(run);
    hr_error err = {0};
    int rendered = 0;
    hr_status st;
    /* One figure per domain, labelled points... */
    for (int d = 0; d < run->ndom; d++) {
        char name[64], title[160];
        snprintf(name, sizeof name, "accuracy_throughput_domain_%d", run->dom[d].id);
        snprintf(title, sizeof title, "Accuracy vs throughput, domain %d (one point per pruning round)",
                 run->dom[d].id);
        hr_plot_bufprintf(&data, "%s", ACC_HEADER);
        domain_points(&data, &run->dom[d], fps0, 1);
        hr_plot_bufprintf(&gp, "set title '%s'\n", title);
        hr_plot_bufprintf(&gp, "%s", ACC_AXES);
        /* One file, one series per kind of point (gnuplot skips 1/0). */
        hr_plot_bufprintf(&gp,
                          "is(k) = strcol(2) eq k\nround(x) = strcol(2)[1:6] eq 'round_' ? x : 1/0\n"
                          "set key outside bottom center horizontal\n"
                          "plot '%s.dat' using (round($3)):4 with linespoints pt 7 lw 2 title 'exact optimum after "
                          "each pruning round', '' using (is('final') ? $3 : 1/0):4 with points pt 5 ps 1.6 title "
                          "'final configuration (grid)', '' using (is('step2') ? $3 : 1/0):4 with points pt 13 ps 1.6 "
                          "title 'step 2 (gradient method)', '' using (is('baseline') ? $3 : 1/0):4 with points pt 9 "
                          "ps 1.8 lc rgb 'black' title 'baseline: unpruned, deploy gamma, best split', '' using "
                          "(round($3)):4:(substr(strcol(2), 7, 9)) with labels offset 0,1 notitle\n",
                          name);
        memset(&err, 0, sizeof err);
        st = hr_plot_figure(run->out, name, &data, &gp, &run->pp, &rendered, &err);
        figure_done(run, name, title, st, rendered, &err);
        hr_plot_buf_free(&data), hr_plot_buf_free(&gp);
    }
    /* ...and all domains together, one data block per domain. */
    hr_plot_bufprintf(&data, "%s# one block per domain (separated by two blank lines)\n", ACC_HEADER);
    for (int d = 0; d < run->ndom; d++) {
        hr_plot_bufprintf(&data, "%s# domain_%d\n", d ? "\n\n" : "", run->dom[d].id);
        domain_points(&data, &run->dom[d], fps0, 0);
    }
    const char *title = "Accuracy vs throughput, all domains (exact optimum after each pruning round)";
    hr_plot_bufprintf(&gp, "set title '%s'\n", title);
    hr_plot_bufprintf(&gp, "%s", ACC_AXES);
    hr_plot_bufprintf(&gp, "set key outside right\nids = '");
    for (int d = 0; d < run->ndom; d++)
        hr_plot_bufprintf(&gp, "%s%d", d ? " " : "", run->dom[d].id);
    hr_plot_bufprintf(&gp, "'\nplot for [i=0:%d] 'accuracy_throughput.dat' index i using 3:4 with linespoints "
                           "pt 7 lw 2 title 'domain '.word(ids, i + 1)\n", run->ndom - 1);
    memset(&err, 0, sizeof err);
    st = hr_plot_figure(run->out, "accuracy_throughput", &data, &gp, &run->pp, &rendered, &err);
    figure_done(run, "accuracy_throughput", title, st, rendered, &err);
    hr_plot_buf_free(&data), hr_plot_buf_free(&gp);
}

/* Domain comparison: accuracies (initial / best / final) and fps (before,
 * after) as clustered bars, one cluster per domain. */
static void plot_domain_comparison(hr__plot_run *run)
{
    hr_plot_buf data = {0}, gp = {0};
    double fps0 = initial_fps(run);
    hr_plot_bufprintf(&data, "# domain initial_acc_pct best_acc_pct final_acc_pct fps_before fps_after\n");
    for (int d = 0; d < run->ndom; d++) {
        hr__plot_domain *r = &run->dom[d];
        hr_plot_bufprintf(&data, "%d %.9g %.9g %.9g %.9g %.9g\n", r->id, r->initial_acc, r->best_acc,
                          r->final_acc, fps0, r->fps);
    }
    /* A histogram column with no finite value makes gnuplot fail ("No valid
     * points"), e.g. fps before without an initial_throughput_config.json:
     * such columns are left out of the plot (they stay in the data file). */
    int has[7] = {0};
    for (int d = 0; d < run->ndom; d++) {
        const hr__plot_domain *r = &run->dom[d];
        double v[7] = {0, 0, r->initial_acc, r->best_acc, r->final_acc, fps0, r->fps};
        for (int c = 2; c < 7; c++)
            has[c] |= isfinite(v[c]) != 0;
    }
    static const char *const ctitle[7] = {"", "", "initial", "best", "final", "before", "after"};
    const char *t1 = "Accuracy per domain: initial, best, final";
    const char *t2 = "Throughput per domain: before (step 2) and after (joint)";
    for (int f = 0; f < 2; f++) {
        const char *name = f ? "domain_throughput" : "domain_accuracy", *title = f ? t2 : t1;
        int lo = f ? 5 : 2, hi = f ? 6 : 4, n = 0;
        hr_plot_bufprintf(&gp, "set title '%s'\nset xlabel 'domain'\nset ylabel '%s'\n"
                               "set style data histograms\nset style histogram clustered gap 1\n"
                               "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset yrange [0:*]\n"
                               "set grid ytics\nset key outside right\nplot ",
                          title, f ? "throughput (frames/s)" : "top-1 accuracy (%)");
        for (int c = lo; c <= hi; c++)
            if (has[c])
                hr_plot_bufprintf(&gp, "%s'%s.dat' using %d:xtic(1) title '%s'", n++ ? ", " : "", name, c, ctitle[c]);
        hr_plot_bufprintf(&gp, "\n");
        if (n > 0) {
            hr_error err = {0};
            int rendered = 0;
            hr_status st = hr_plot_figure(run->out, name, &data, &gp, &run->pp, &rendered, &err);
            figure_done(run, name, title, st, rendered, &err);
        }
        hr_plot_buf_free(&gp);
    }
    hr_plot_buf_free(&data);
}

/* FLOPs reduction per domain, and the co-design against the baseline:
 * clustered bars of LUT fps (latency and pipelined), one cluster per domain. */
static void plot_domain_flops_baseline(hr__plot_run *run)
{
    hr_plot_buf data = {0}, gp = {0};
    hr_error err = {0};
    int rendered = 0, nb = 0;
    hr_status st;
    if (!run->ndom)
        return;
    hr_plot_bufprintf(&data, "# domain flops_reduction_pct (code-2 FLOPs of the pruned branches over the starting live ones)\n");
    for (int d = 0; d < run->ndom; d++)
        hr_plot_bufprintf(&data, "%d %.9g\n", run->dom[d].id, run->dom[d].flops_reduction_pct);
    const char *t1 = "FLOPs reduction per domain (pruned branches)";
    hr_plot_bufprintf(&gp, "set title '%s'\nset xlabel 'domain'\nset ylabel 'FLOPs reduction (%%)'\n"
                           "set style data histograms\nset style fill solid 0.8 border -1\nset boxwidth 0.7\n"
                           "set yrange [0:*]\nset grid ytics\nset key off\n"
                           "plot 'domain_flops.dat' using 2:xtic(1) lc rgb '#4477aa', '' using 0:2:(sprintf('%%.1f', $2)) "
                           "with labels offset 0,0.7 notitle\n",
                      t1);
    st = hr_plot_figure(run->out, "domain_flops", &data, &gp, &run->pp, &rendered, &err);
    figure_done(run, "domain_flops", t1, st, rendered, &err);
    hr_plot_buf_free(&data), hr_plot_buf_free(&gp);

    hr_plot_bufprintf(&data, "# domain baseline_fps codesign_fps baseline_pipelined_fps codesign_pipelined_fps "
                             "gain_fps_pct gain_pipelined_fps_pct\n"
                             "# LUT-predicted; baseline: unpruned, deploy gamma, best placement; co-design: exact\n"
                             "# optimum of the pruned model (same objective, same LUT)\n");
    for (int d = 0; d < run->ndom; d++) {
        const hr__plot_domain *r = &run->dom[d];
        if (!r->has_baseline)
            continue;
        hr_plot_bufprintf(&data, "%d %.9g %.9g %.9g %.9g %.9g %.9g\n", r->id, r->base_fps, r->exact_fps, r->base_pfps,
                          r->exact_pfps, 100.0 * (r->exact_fps / r->base_fps - 1),
                          100.0 * (r->exact_pfps / r->base_pfps - 1));
        nb++;
    }
    if (nb) {
        const char *t2 = "Co-design gain over the baseline (unpruned, deploy gamma, best split), LUT-predicted";
        memset(&err, 0, sizeof err);
        hr_plot_bufprintf(&gp, "set title '%s'\nset xlabel 'domain'\nset ylabel 'throughput gain over the baseline (%%)'\n"
                               "set style data histograms\nset style histogram clustered gap 1\n"
                               "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset xzeroaxis lt -1\n"
                               "set grid ytics\nset key outside bottom center horizontal\n"
                               "plot 'domain_vs_baseline.dat' using 6:xtic(1) title 'frames/s at one frame at a time "
                               "(1/latency)', '' using 7 title 'pipelined frames/s (1/cycle)'\n",
                          t2);
        st = hr_plot_figure(run->out, "domain_vs_baseline", &data, &gp, &run->pp, &rendered, &err);
        figure_done(run, "domain_vs_baseline", t2, st, rendered, &err);
    }
    hr_plot_buf_free(&data), hr_plot_buf_free(&gp);
}

/* Where co-design pays, for one domain (hr_plot_sensitivity reads its joint result). */
static void plot_sensitivity(hr__plot_run *run)
{
    char name[64], path[4096];
    int k = run->sens_domain >= 0 ? run->sens_domain : run->dom[0].id;
    hr_error err = {0};
    snprintf(name, sizeof name, "domain_%d_joint.json", k);
    if (!find_result(run, name, path, sizeof path)) {
        hr__plot_fail(run, HR_ERR_NOT_FOUND, "sensitivity domain %d: %s has no %s", k, run->results, name);
        return;
    }
    hr_status st = hr_plot_sensitivity(run->out, run->lut, path, k, NULL, &run->pp, &run->sens, &err);
    figure_done(run, "sensitivity", run->sens.title, st, run->sens.rendered, &err);
}

/* Predicted vs measured throughput of real-mode runs: every infer result
 * (`hyperrep infer -o`, JSON with measured_fps and predicted_fps) under
 * DIR/real/ (any depth of one folder) or DIR/infer*.json. One point per run
 * and pass (pipelined, sequential); the line y = x and a ±10 % band. */
static void plot_predicted_measured(hr__plot_run *run)
{
    static const char *patterns[] = {"%s/real/*.json", "%s/real/*/*.json", "%s/infer*.json"};
    hr_plot_buf data = {0}, gp = {0};
    int n = 0, rendered = 0;
    double hi = 0;
    hr_error err = {0};
    hr_plot_bufprintf(&data, "# run predicted_fps measured_fps predicted_sequential_fps measured_sequential_fps "
                             "error_pct error_sequential_pct\n# from hyperrep infer -o files; predicted: the LUT's "
                             "1000/cycle and 1000/latency\n");
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++) {
        char pattern[4200];
        glob_t g;
        snprintf(pattern, sizeof pattern, patterns[k], run->results);
        if (glob(pattern, 0, NULL, &g) != 0) {
            globfree(&g);
            continue;
        }
        for (size_t i = 0; i < g.gl_pathc; i++) {
            json_error_t je;
            json_t *j = json_load_file(g.gl_pathv[i], 0, &je);
            double pf = hr__plot_num(j, "predicted_fps", NAN), mf = hr__plot_num(j, "measured_fps", NAN);
            double ps = hr__plot_num(j, "predicted_sequential_fps", NAN), ms = hr__plot_num(j, "sequential_fps", NAN);
            if (j && isfinite(pf) && isfinite(mf) && isfinite(ps) && isfinite(ms) && pf > 0 && ps > 0) {
                const char *base = strrchr(g.gl_pathv[i], '/');
                char name[128];
                snprintf(name, sizeof name, "%s", base ? base + 1 : g.gl_pathv[i]);
                for (char *c = name; *c; c++)
                    if (*c == ' ')
                        *c = '_';
                hr_plot_bufprintf(&data, "%s %.9g %.9g %.9g %.9g %.9g %.9g\n", name, pf, mf, ps, ms,
                                  100.0 * (mf - pf) / pf, 100.0 * (ms - ps) / ps);
                hi = fmax(hi, fmax(fmax(pf, mf), fmax(ps, ms)));
                n++;
            }
            json_decref(j);
        }
        globfree(&g);
    }
    if (n) {
        const char *title = "Predicted (LUT) vs measured throughput, real mode";
        hr_plot_bufprintf(&gp, "set title '%s'\nset xlabel 'predicted (frames/s)'\nset ylabel 'measured (frames/s)'\n"
                               "set grid\nset key top left\nset xrange [0:%.9g]\nset yrange [0:%.9g]\n"
                               "plot x with lines lc rgb 'black' title 'measured = predicted', 1.1*x with lines dt 2 "
                               "lc rgb 'gray' title '+-10 %%', 0.9*x with lines dt 2 lc rgb 'gray' notitle, "
                               "'predicted_measured.dat' using 2:3 with points pt 7 ps 1.2 lc rgb '#1f5fa8' title 'pipelined', "
                               "'' using 4:5 with points pt 5 ps 1.2 lc rgb '#c0392b' title 'sequential'\n",
                          title, 1.1 * hi, 1.1 * hi);
        hr_status st = hr_plot_figure(run->out, "predicted_measured", &data, &gp, &run->pp, &rendered, &err);
        figure_done(run, "predicted_measured", title, st, rendered, &err);
    }
    hr_plot_buf_free(&data), hr_plot_buf_free(&gp);
}

static void placement_text(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else
        snprintf(buf, size, "?");
}

/* Reads domain_K_joint.json for K = 0.. until HR_PLOT_MAX_DOMAINS (gaps allowed). */
static void load_domains(hr__plot_run *run)
{
    json_t *tr = run->training;
    for (int k = 0; k < HR_PLOT_MAX_DOMAINS; k++) {
        char name[64], dk[32];
        snprintf(name, sizeof name, "domain_%d_joint.json", k);
        json_t *j = hr__plot_load_json(run, name);
        if (!j)
            continue;
        hr__plot_domain *r = &run->dom[run->ndom++];
        json_t *s1 = json_object_get(j, "stage1_accuracy"), *fc = json_object_get(j, "final_configuration");
        r->id = k;
        r->joint = j;
        r->initial_acc = hr__plot_num(s1, "initial_accuracy", NAN);
        r->final_acc = hr__plot_num(fc, "accuracy", hr__plot_num(s1, "final_accuracy", NAN));
        r->fps = hr__plot_num(fc, "throughput_fps", NAN);
        r->latency_ms = hr__plot_num(fc, "latency_ms", NAN);
        r->split = (int)hr__plot_num(fc, "split_point", -1);
        r->flops_reduction_pct = hr__plot_num(s1, "flops_reduction_pct", 0);
        {
            json_t *st2 = json_object_get(j, "stage2_throughput"), *bc = json_object_get(st2, "baseline_comparison");
            json_t *b = json_object_get(bc, "baseline"), *ex = json_object_get(st2, "exact_optimum");
            if (b && ex) {
                r->has_baseline = 1;
                r->base_fps = hr__plot_num(b, "fps", NAN);
                r->base_pfps = hr__plot_num(b, "pipelined_fps", NAN);
                r->exact_fps = hr__plot_num(ex, "fps", NAN);
                r->exact_pfps = hr__plot_num(ex, "pipelined_fps", NAN);
                placement_text(json_object_get(b, "placement"), r->base_place, sizeof r->base_place);
                placement_text(json_object_get(ex, "placement"), r->exact_place, sizeof r->exact_place);
                if (!json_is_string(json_object_get(ex, "placement")))
                    snprintf(r->exact_place, sizeof r->exact_place, "split %.0f",
                             hr__plot_num(ex, "placement", hr__plot_num(ex, "split", -1)));
            }
        }
        snprintf(dk, sizeof dk, "domain_%d", k);
        r->best_acc = hr__plot_num(json_object_get(tr, dk), "best_acc", NAN);
        if (!isfinite(r->best_acc)) {
            size_t i;
            json_t *e;
            r->best_acc = r->initial_acc;
            json_array_foreach(json_object_get(s1, "pruning_rounds"), i, e) {
                double a = hr__plot_num(e, "acc", NAN);
                if (isfinite(a) && !(a <= r->best_acc))
                    r->best_acc = a;
            }
            if (isfinite(r->final_acc) && !(r->final_acc <= r->best_acc))
                r->best_acc = r->final_acc;
        }
    }
}

/* A note or warning through the run's log sink. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void note(hr__plot_run *run, hr_log_level level, const char *fmt, ...)
{
    char msg[4608];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    run->log(run->log_user, level, msg);
}

/* Creates path and its parents, as mkdir -p. */
hr_plot_results_params hr_plot_results_params_default(void)
{
    hr_plot_results_params p;
    memset(&p, 0, sizeof p);
    p.results = NULL;
    p.out = NULL;
    p.plot = hr_plot_params_default();
    p.sensitivity_domain = -1;
    p.log = NULL;
    p.log_user = NULL;
    return p;
}

hr_status hr_plot_results(const hr_plot_results_params *params, hr_plot_results_summary *summary, hr_error *err)
{
    hr__plot_run *run;
    char path[4096];
    json_t *hw = NULL, *imp = NULL;
    hr_error e = {0};
    hr_status st;

    if (summary)
        memset(summary, 0, sizeof *summary);
    if (!params || !params->results || !*params->results)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "no results directory given");
    if (params->sensitivity_domain < -1 || params->sensitivity_domain >= HR_PLOT_MAX_DOMAINS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity domain %d is outside 0..%d (-1: the lowest)",
                            params->sensitivity_domain, HR_PLOT_MAX_DOMAINS - 1);
    /* Tens of kilobytes (figures, domains, the sensitivity text): on the heap, not the caller's stack. */
    run = calloc(1, sizeof *run);
    if (!run)
        return hr_error_set(err, HR_ERR_NOMEM, "out of memory for the plot run");
    run->results = params->results;
    if (params->out) {
        run->out = params->out;
    } else {
        snprintf(run->outbuf, sizeof run->outbuf, "%s/visualization", params->results);
        run->out = run->outbuf;
    }
    run->pp = params->plot;
    run->log = params->log ? params->log : hr_log_stderr;
    run->log_user = params->log_user;
    run->err = err;
    run->sens_domain = params->sensitivity_domain;
    hr_plot_sensitivity_out_init(&run->sens);

    if (hr_mkdirs(run->out, &e) != HR_OK) {
        hr__plot_fail(run, e.status, "%s", e.msg);
        goto out;
    }
    if (run->pp.render && !hr_plot_gnuplot_available(&run->pp)) {
        note(run, HR_LOG_WARN, "%s is not installed (Debian: apt-get install gnuplot-nox): writing data and scripts "
             "only; render each with: cd %s && gnuplot NAME.gp", run->pp.gnuplot ? run->pp.gnuplot : "gnuplot",
             run->out);
        run->pp.render = 0;
    }

    snprintf(path, sizeof path, "%s/hardware_lut_complete.json", run->results);
    FILE *lf = fopen(path, "rb");
    if (lf) {
        fclose(lf);
        if (hr_lut_load(path, &run->lut, &e) != HR_OK)
            hr__plot_fail(run, e.status, "%s", e.msg);
    }
    run->init_cfg = hr__plot_load_json(run, "initial_throughput_config.json");
    run->training = hr__plot_load_json(run, "training_results.json");
    hw = hr__plot_load_json(run, "trained_hyper_weights.json");
    imp = hr__plot_load_json(run, "importance_scores.json");
    load_domains(run);

    if (run->failed)
        goto out; /* a malformed input: draw nothing rather than a partial set */
    if (run->lut) {
        plot_lut(run);
        plot_roofline(run);
    }
    if (run->init_cfg)
        plot_convergence(run);
    if (hw)
        plot_domain_matrix(run, hw, "hyper_weights", "Hyper-weights alpha per domain (Code 1)", "alpha", 0);
    if (imp)
        plot_domain_matrix(run, imp, "importance", "Branch importance per domain (Code 2)",
                           "log10(|alpha| / GFLOPs + 1)", 1);
    if (run->ndom) {
        plot_acc_throughput(run);
        plot_domain_comparison(run);
        plot_domain_flops_baseline(run);
    }
    if (run->lut && (run->ndom || run->sens_domain >= 0))
        plot_sensitivity(run);
    plot_predicted_measured(run);
    if (run->nfigs == 0 && !run->failed)
        hr__plot_fail(run, HR_ERR_NOT_FOUND, "%s holds no results to plot (hardware_lut_complete.json, "
                      "initial_throughput_config.json, trained_hyper_weights.json, importance_scores.json, "
                      "domain_K_joint.json)", run->results);
    if (!run->failed)
        hr__plot_write_reports(run);
out:
    if (summary) {
        summary->figures = run->nfigs;
        summary->unrendered = run->unrendered;
        snprintf(summary->out, sizeof summary->out, "%s", run->out);
    }
    st = run->failed ? run->status : HR_OK;
    hr_lut_destroy(run->lut);
    hr_plot_sensitivity_out_deinit(&run->sens);
    json_decref(run->init_cfg), json_decref(run->training), json_decref(hw), json_decref(imp);
    for (int d = 0; d < run->ndom; d++)
        json_decref(run->dom[d].joint);
    free(run);
    return st;
}
