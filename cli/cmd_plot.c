/* hyperrep plot: every figure of SPEC §9 that the results in a directory
 * support, drawn through the plot module, plus report.md and a
 * self-contained report.html. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/gamma.h"
#include "hyperrep/lut.h"
#include "hyperrep/plot.h"
#include "hyperrep/weights.h"
#include "train_common.h"

static const char help[] =
    "usage: hyperrep plot --results DIR [-o DIR/visualization] [--domain K] [--no-render] [--gnuplot PROG]\n"
    "\n"
    "Draws every figure the results in DIR support (SPEC section 9), each as NAME.dat +\n"
    "NAME.gp and, with gnuplot installed, NAME.png and NAME.pdf:\n"
    "  lut_<device>            hardware_lut_complete.json: latency per block x gamma\n"
    "  roofline_<device>       the same LUT: measured ceilings (peak GFLOP/s, bandwidth),\n"
    "                          each block's gamma at Intensity_w and attained GFLOP/s\n"
    "  convergence             initial_throughput_config.json: gradient method, relaxed\n"
    "                          latency and loss per step, the exact optimum as a line\n"
    "  hyper_weights           trained_hyper_weights.json: alpha, domains x branches\n"
    "  importance              importance_scores.json: log10(importance + 1)\n"
    "  accuracy_throughput     domain_K_joint.json: accuracy vs fps, all domains, and\n"
    "  _domain_K               one figure per domain (a point per pruning round)\n"
    "  domain_accuracy         the same with training_results.json: initial / best / final\n"
    "  domain_throughput       fps before (initial_throughput_config.json) and after\n"
    "  domain_flops            FLOPs reduction per domain\n"
    "  predicted_measured      real mode: infer results (DIR/real/**.json, DIR/infer*.json)\n"
    "                          LUT-predicted vs measured fps, pipelined and sequential\n"
    "  domain_vs_baseline      co-design vs the baseline (unpruned, deploy gamma, best\n"
    "                          split): LUT fps gain in %, latency and pipelined\n"
    "  sensitivity             where co-design pays: placement and gain of one domain's\n"
    "                          final state against its baseline, link 1-1000 Mbit/s x\n"
    "                          edge slowdown 2-32x (the LUT's link latency kept)\n"
    "and report.md / report.html (figures inlined) with the final configuration\n"
    "per domain, the baselines comparison and the LUT summary. Outputs are written\n"
    "atomically. Without gnuplot the data and scripts are written and the command\n"
    "says how to render them.\n"
    "  --domain K   the domain of the sensitivity figure (default: the lowest with a\n"
    "               domain_K_joint.json)\n"
    "  --no-render  write data and scripts only\n"
    "  --gnuplot    the gnuplot program (default gnuplot)\n";

#define MAX_DOMAINS 64
#define MAX_FIGS 32

typedef struct fig {
    char name[64];
    char title[160];
    int rendered;
} fig;

typedef struct domain_res {
    int id;
    json_t *joint;                 /* owned */
    double initial_acc, best_acc, final_acc;
    double fps, latency_ms;
    int split;
    double flops_reduction_pct;
    /* stage2_throughput.baseline_comparison: the Neurosurgeon-style baseline
     * (unpruned, deploy γ, best placement) and the exact co-design */
    int has_baseline;
    double base_fps, base_pfps, exact_fps, exact_pfps;
    char base_place[16], exact_place[16];
} domain_res;

typedef struct plot_run {
    const char *results, *out;
    hr_plot_params pp;
    fig figs[MAX_FIGS];
    int nfigs;
    int failed;
    int unrendered;
    hr_lut *lut;
    json_t *init_cfg;             /* initial_throughput_config.json, owned */
    json_t *training;             /* training_results.json, owned */
    domain_res dom[MAX_DOMAINS];
    int ndom;
    int sens_domain;              /* --domain, -1: the lowest with a joint result */
    hr_plot_sensitivity_out sens;
} plot_run;

static const char *CMD = "plot";

/* Loads DIR/name as JSON; NULL (quietly) when absent, NULL with an error and
 * run->failed set when present but malformed. */
/* Finds name in the results directory as the pipeline lays it out: at the
 * top, under joint_optimization/, or in a Code 1 / Code 2 output directory
 * (task1_trained_weights_<model>/, task2_importance_rankings_<model>/).
 * Writes the first existing path into path; 0 when there is none. */
static int find_result(const plot_run *run, const char *name, char *path, size_t size)
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

static json_t *load_json(plot_run *run, const char *name)
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
    if (!j) {
        hr_cli_fail(CMD, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        run->failed = 1;
    }
    return j;
}

static double num_or(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* Records a figure's outcome; a failure is printed and remembered, the other
 * figures are still drawn. */
static void figure_done(plot_run *run, const char *name, const char *title, hr_status st, int rendered,
                        const hr_error *err)
{
    if (st != HR_OK) {
        hr_cli_fail(CMD, "%s", err->msg);
        run->failed = 1;
        return;
    }
    if (!rendered)
        run->unrendered++;
    if (run->nfigs < MAX_FIGS) {
        fig *f = &run->figs[run->nfigs++];
        snprintf(f->name, sizeof f->name, "%s", name);
        snprintf(f->title, sizeof f->title, "%s", title);
        f->rendered = rendered;
    }
}

/* LUT heat maps: one per device, blocks x γ, latency in ms (invalid γ empty). */
static void plot_lut(plot_run *run)
{
    hr_lut *lut = run->lut;
    const char *cols[HR_GAMMA_COUNT];
    const char **rows = calloc((size_t)lut->nblocks, sizeof *rows);
    double *v = malloc((size_t)lut->nblocks * HR_GAMMA_COUNT * sizeof *v);
    if (!rows || !v) {
        hr_cli_fail(CMD, "out of memory for the LUT heat maps");
        run->failed = 1;
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
static void plot_roofline(plot_run *run)
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
static void plot_convergence(plot_run *run)
{
    json_t *hist = json_object_get(run->init_cfg, "optimization_history");
    json_t *res = json_object_get(run->init_cfg, "results");
    size_t i;
    json_t *h;
    if (!json_is_array(hist) || json_array_size(hist) == 0)
        return;
    double exact = num_or(json_object_get(res, "exact"), "objective_value", NAN);
    if (!isfinite(exact))
        exact = num_or(json_object_get(res, "gd"), "exact_value", NAN);
    double gd = num_or(json_object_get(res, "gd"), "objective_value", NAN);
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
        hr_plot_bufprintf(&data, "%.0f %.9g %.9g %.9g\n", num_or(h, "step", (double)i), lat, num_or(h, "total", NAN),
                          num_or(h, "lambda", NAN));
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
static void plot_domain_matrix(plot_run *run, json_t *root, const char *name, const char *title, const char *cblabel,
                               int transform)
{
    const char *dk, *k;
    json_t *dv, *v;
    int nrows = 0, ncols = 0;
    if (!json_is_object(root) || json_object_size(root) == 0 || json_object_size(root) > MAX_DOMAINS)
        return;
    json_t *first = json_object_iter_value(json_object_iter(root));
    if (!json_is_object(first) || json_object_size(first) == 0 || json_object_size(first) > 100000)
        return;
    size_t nr = json_object_size(root), nc = json_object_size(first);
    const char **rows = calloc(nr, sizeof *rows), **cols = calloc(nc, sizeof *cols);
    double *val = malloc(nr * nc * sizeof *val);
    if (!rows || !cols || !val) {
        hr_cli_fail(CMD, "out of memory for %s", name);
        run->failed = 1;
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

static double initial_fps(plot_run *run)
{
    return num_or(json_object_get(run->init_cfg, "performance"), "throughput_fps", NAN);
}

/* Accuracy vs throughput: per domain the initial point (initial accuracy at
 * the step-2 fps), every pruning round that carries a throughput, and the
 * final configuration; a figure per domain and one with all domains. */
/* Appends one domain's points: initial, each round with a throughput, final. */
static void domain_points(hr_plot_buf *data, const domain_res *r, double fps0, int extras)
{
    json_t *rounds = json_object_get(json_object_get(r->joint, "stage1_accuracy"), "pruning_rounds");
    size_t i;
    json_t *e;
    if (extras && isfinite(fps0) && isfinite(r->initial_acc))
        hr_plot_bufprintf(data, "%d step2 %.9g %.9g\n", r->id, fps0, r->initial_acc);
    json_array_foreach(rounds, i, e) {
        /* ours: the exact optimum of each pruning state; the original's
         * files may carry throughput_fps instead */
        double fps = num_or(json_object_get(e, "exact_optimum"), "fps", num_or(e, "throughput_fps", NAN));
        double acc = num_or(e, "acc", NAN);
        if (isfinite(fps) && isfinite(acc))
            hr_plot_bufprintf(data, "%d round_%.0f %.9g %.9g\n", r->id, num_or(e, "round", (double)i), fps, acc);
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

static void plot_acc_throughput(plot_run *run)
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
static void plot_domain_comparison(plot_run *run)
{
    hr_plot_buf data = {0}, gp = {0};
    double fps0 = initial_fps(run);
    hr_plot_bufprintf(&data, "# domain initial_acc_pct best_acc_pct final_acc_pct fps_before fps_after\n");
    for (int d = 0; d < run->ndom; d++) {
        domain_res *r = &run->dom[d];
        hr_plot_bufprintf(&data, "%d %.9g %.9g %.9g %.9g %.9g\n", r->id, r->initial_acc, r->best_acc,
                          r->final_acc, fps0, r->fps);
    }
    /* A histogram column with no finite value makes gnuplot fail ("No valid
     * points"), e.g. fps before without an initial_throughput_config.json:
     * such columns are left out of the plot (they stay in the data file). */
    int has[7] = {0};
    for (int d = 0; d < run->ndom; d++) {
        const domain_res *r = &run->dom[d];
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
static void plot_domain_flops_baseline(plot_run *run)
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
        const domain_res *r = &run->dom[d];
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

/* Where co-design pays, for one domain (the library reads its joint result). */
static void plot_sensitivity(plot_run *run)
{
    char name[64], path[4096];
    int k = run->sens_domain >= 0 ? run->sens_domain : run->dom[0].id;
    hr_error err = {0};
    snprintf(name, sizeof name, "domain_%d_joint.json", k);
    if (!find_result(run, name, path, sizeof path)) {
        hr_cli_fail(CMD, "--domain %d: %s has no %s", k, run->results, name);
        run->failed = 1;
        return;
    }
    hr_status st = hr_plot_sensitivity(run->out, run->lut, path, k, NULL, &run->pp, &run->sens, &err);
    figure_done(run, "sensitivity", run->sens.title, st, run->sens.rendered, &err);
}

/* Predicted vs measured throughput of real-mode runs: every infer result
 * (`hyperrep infer -o`, JSON with measured_fps and predicted_fps) under
 * DIR/real/ (any depth of one folder) or DIR/infer*.json. One point per run
 * and pass (pipelined, sequential); the line y = x and a ±10 % band. */
static void plot_predicted_measured(plot_run *run)
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
            double pf = num_or(j, "predicted_fps", NAN), mf = num_or(j, "measured_fps", NAN);
            double ps = num_or(j, "predicted_sequential_fps", NAN), ms = num_or(j, "sequential_fps", NAN);
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

/* Reads domain_K_joint.json for K = 0.. until MAX_DOMAINS (gaps allowed). */
static void load_domains(plot_run *run)
{
    json_t *tr = run->training;
    for (int k = 0; k < MAX_DOMAINS; k++) {
        char name[64], dk[32];
        snprintf(name, sizeof name, "domain_%d_joint.json", k);
        json_t *j = load_json(run, name);
        if (!j)
            continue;
        domain_res *r = &run->dom[run->ndom++];
        json_t *s1 = json_object_get(j, "stage1_accuracy"), *fc = json_object_get(j, "final_configuration");
        r->id = k;
        r->joint = j;
        r->initial_acc = num_or(s1, "initial_accuracy", NAN);
        r->final_acc = num_or(fc, "accuracy", num_or(s1, "final_accuracy", NAN));
        r->fps = num_or(fc, "throughput_fps", NAN);
        r->latency_ms = num_or(fc, "latency_ms", NAN);
        r->split = (int)num_or(fc, "split_point", -1);
        r->flops_reduction_pct = num_or(s1, "flops_reduction_pct", 0);
        {
            json_t *st2 = json_object_get(j, "stage2_throughput"), *bc = json_object_get(st2, "baseline_comparison");
            json_t *b = json_object_get(bc, "baseline"), *ex = json_object_get(st2, "exact_optimum");
            if (b && ex) {
                r->has_baseline = 1;
                r->base_fps = num_or(b, "fps", NAN);
                r->base_pfps = num_or(b, "pipelined_fps", NAN);
                r->exact_fps = num_or(ex, "fps", NAN);
                r->exact_pfps = num_or(ex, "pipelined_fps", NAN);
                placement_text(json_object_get(b, "placement"), r->base_place, sizeof r->base_place);
                placement_text(json_object_get(ex, "placement"), r->exact_place, sizeof r->exact_place);
                if (!json_is_string(json_object_get(ex, "placement")))
                    snprintf(r->exact_place, sizeof r->exact_place, "split %.0f",
                             num_or(ex, "placement", num_or(ex, "split", -1)));
            }
        }
        snprintf(dk, sizeof dk, "domain_%d", k);
        r->best_acc = num_or(json_object_get(tr, dk), "best_acc", NAN);
        if (!isfinite(r->best_acc)) {
            size_t i;
            json_t *e;
            r->best_acc = r->initial_acc;
            json_array_foreach(json_object_get(s1, "pruning_rounds"), i, e) {
                double a = num_or(e, "acc", NAN);
                if (isfinite(a) && !(a <= r->best_acc))
                    r->best_acc = a;
            }
            if (isfinite(r->final_acc) && !(r->final_acc <= r->best_acc))
                r->best_acc = r->final_acc;
        }
    }
}

/* A free-text value (a processor name) for a Markdown table cell: '|' and
 * line breaks would end the cell or the row. */
static const char *md_cell(const char *text, char *buf, size_t size)
{
    size_t j = 0;
    for (; text[j] && j + 1 < size; j++)
        buf[j] = text[j] == '|' ? '/' : (unsigned char)text[j] < 0x20 ? ' ' : text[j];
    buf[j] = '\0';
    return buf;
}

/* A placement value ("raw", "local" or a split number) as text. */
static const char *placement_of(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, size, "split %lld", (long long)json_integer_value(v));
    else
        snprintf(buf, size, "?");
    return buf;
}

/* The outcome first (issue 13, part 6): per domain the final configuration,
 * its predicted gain over each baseline and its test-part accuracy drop with
 * the paired 95 % interval; then whether the accuracy goals are met. */
static void outcome_section(plot_run *run, hr_plot_buf *t)
{
    int n = 0, point_ok = 0, lo_ok = 0, have_ci = 0;
    const char *guard = NULL;
    hr_plot_bufprintf(t, "## Outcome per domain\n\n");
    /* the original's files and ours before issue 13 have no objective_value: no outcome to show */
    for (int d = 0; d < run->ndom; d++)
        n += json_is_number(json_object_get(json_object_get(run->dom[d].joint, "final_configuration"),
                                            "objective_value"));
    if (!n) {
        hr_plot_bufprintf(t, "No domain_K_joint.json with hyperrep's final configuration (the joint runs need "
                             "--lut).\n\n");
        return;
    }
    hr_plot_bufprintf(t, "The final configuration is the exact optimum for the objective over every accepted pruning "
                         "state (round r >= 0) and the unpruned model at deploy gamma (round -1), each under every "
                         "placement (raw, every split, local). Gains are LUT-predicted, in percent: on the objective "
                         "(baseline value / final value - 1), and on fps = 1000/latency and pipelined fps = 1000/cycle. "
                         "Baselines: Neurosurgeon-style (the same model unpruned, deploy gamma, best placement) and "
                         "the original's grid result (gradient method with the split fixed, splits 1..N-1, on the last "
                         "pruned state). The accuracy drop is on the test part against round 0, with its paired 95 %% "
                         "interval (Newcombe's method 10).\n\n"
                         "| domain | placement | round | pruned | objective (ms) | accuracy (%%) | drop (points) | "
                         "drop 95 %% CI | gain vs Neurosurgeon: objective / fps / pipelined (%%) | gain vs grid: "
                         "objective (%%) | selection / guard / test images |\n"
                         "|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int d = 0; d < run->ndom; d++) {
        const domain_res *r = &run->dom[d];
        json_t *fc = json_object_get(r->joint, "final_configuration");
        json_t *s1 = json_object_get(r->joint, "stage1_accuracy"), *s2 = json_object_get(r->joint, "stage2_throughput");
        json_t *gain = json_object_get(json_object_get(s2, "baseline_comparison"), "final_configuration_gain_pct");
        json_t *res = json_object_get(s2, "results"), *grid = json_object_get(res, "grid");
        json_t *ci = json_object_get(fc, "accuracy_drop_ci95"), *parts = json_object_get(json_object_get(s1, "guard"),
                                                                                          "parts");
        char pl[32], cis[48], gs[32], ps[64];
        if (!json_is_number(json_object_get(fc, "objective_value")))
            continue;
        if (!grid)
            grid = json_object_get(res, "gd");
        double fv = num_or(fc, "objective_value", NAN), drop = num_or(fc, "accuracy_drop", NAN);
        if (!guard)
            guard = json_string_value(json_object_get(json_object_get(s1, "guard"), "mode"));
        if (json_is_array(ci) && json_array_size(ci) == 2) {
            double lo = json_number_value(json_array_get(ci, 0)), hi = json_number_value(json_array_get(ci, 1));
            snprintf(cis, sizeof cis, "[%.2f, %.2f]", lo, hi);
            have_ci++;
            lo_ok += lo <= 2.0;
        } else {
            snprintf(cis, sizeof cis, "n/a");
        }
        point_ok += drop <= 2.0;
        if (grid && fv > 0)
            snprintf(gs, sizeof gs, "%+.2f", 100.0 * (num_or(grid, "objective_value", NAN) / fv - 1));
        else
            snprintf(gs, sizeof gs, "n/a");
        if (parts)
            snprintf(ps, sizeof ps, "%.0f / %.0f / %.0f", num_or(parts, "selection", NAN), num_or(parts, "guard", NAN),
                     num_or(parts, "test", NAN));
        else
            snprintf(ps, sizeof ps, "n/a");
        hr_plot_bufprintf(t, "| %d | %s | %.0f | %zu | %s %.3f | %.2f | %.2f | %s | %+.2f / %+.2f / %+.2f | %s | %s |\n",
                          r->id, placement_of(json_object_get(fc, "placement"), pl, sizeof pl),
                          num_or(fc, "round", NAN), json_array_size(json_object_get(fc, "pruned")),
                          json_string_value(json_object_get(fc, "objective")) ? json_string_value(json_object_get(fc, "objective")) : "",
                          fv, num_or(fc, "accuracy", NAN), drop, cis, num_or(gain, "objective", NAN),
                          num_or(gain, "latency_fps", NAN), num_or(gain, "pipelined_fps", NAN), gs, ps);
    }
    hr_plot_bufprintf(t, "\nAccuracy goals (issue 13): the point drop is <= 2 points in %d of %d domains (goal: at "
                         "least 9 of 10); the lower end of the 95 %% interval is <= 2 points in %d of %d domains with "
                         "an interval (goal: every domain).%s\n\n",
                      point_ok, n, lo_ok, have_ci, point_ok * 10 >= 9 * n && lo_ok == have_ci && have_ci == n
                                                           ? " Both goals are met."
                                                           : " Not every goal is met.");
    /* measured, where bench/codesign_measured.sh ran (its OUT copied into the results) */
    json_t *cm = load_json(run, "codesign_measured.json"), *cfgs = json_object_get(cm, "configs"), *cd = NULL, *e;
    size_t i;
    json_array_foreach(cfgs, i, e)
        if (json_is_string(json_object_get(e, "name")) && strcmp(json_string_value(json_object_get(e, "name")),
                                                                  "co-design") == 0)
            cd = e;
    if (cd) {
        double mf = num_or(cd, "measured_fps", NAN), mp = num_or(cd, "measured_pipelined_fps", NAN);
        hr_plot_bufprintf(t, "Measured (codesign_measured.json, bench/codesign_measured.sh): the co-design's gain over "
                             "each configuration streamed, in percent of that configuration's measured fps.\n\n"
                             "| configuration | measured fps | measured pipelined fps | co-design gain fps (%%) | "
                             "co-design gain pipelined (%%) |\n|---|---|---|---|---|\n");
        json_array_foreach(cfgs, i, e) {
            const char *nm = json_string_value(json_object_get(e, "name"));
            double f = num_or(e, "measured_fps", NAN), pf = num_or(e, "measured_pipelined_fps", NAN);
            hr_plot_bufprintf(t, "| %s | %.2f | %.2f | %+.2f | %+.2f |\n", nm ? nm : "?", f, pf,
                              100.0 * (mf / f - 1), 100.0 * (mp / pf - 1));
        }
        hr_plot_bufprintf(t, "\n");
    } else {
        hr_plot_bufprintf(t, "Measured gains: not available (no codesign_measured.json in the results; "
                             "bench/codesign_measured.sh measures them).\n\n");
    }
    json_decref(cm);
    if (guard && strcmp(guard, "bound") == 0)
        hr_plot_bufprintf(t, "Rounds were accepted by the bound guard: the validation part is split 50/50 into a "
                             "selection half (best epoch, best candidate) and a guard half, and a round is accepted "
                             "only when the exact binomial upper bound of the cumulative paired drop against round 0 "
                             "on the guard half is within the threshold (level 1 - alpha/r over the r rounds tried). "
                             "On the smallest domains (a guard half of about 200 images) even a neutral step can fail "
                             "the bound: the run then stops early by design.\n\n");
    else if (guard)
        hr_plot_bufprintf(t, "Rounds were accepted by the original's point rule on the whole validation part, which "
                             "also chose the best epoch and candidate: the test-part drop may exceed the threshold.\n\n");
}

/* report.md and report.html: the same tables; the HTML inlines the PNGs. */
static void write_reports(plot_run *run)
{
    hr_plot_buf md = {0}, html = {0}, t = {0};
    char path[4096];
    hr_error err = {0};

    hr_plot_bufprintf(&t, "## Scenario\n\n");
    if (run->lut) {
        size_t need = hr_lut_scenario_markdown(run->lut, NULL, 0);
        char *sc = malloc(need + 1);
        if (sc) {
            hr_lut_scenario_markdown(run->lut, sc, need + 1);
            hr_plot_bufprintf(&t, "Every figure below that involves a device or the link depends on this "
                                  "scenario (from hardware_lut_complete.json); emulated parts are named as such.\n\n"
                                  "%s\n", sc);
            free(sc);
        } else {
            t.oom = 1;
        }
    } else {
        hr_plot_bufprintf(&t, "No hardware_lut_complete.json in the results: the scenario is unknown.\n\n");
    }
    outcome_section(run, &t);
    hr_plot_bufprintf(&t, "## The original's results: grid search and gradient method\n\n");
    if (run->ndom) {
        hr_plot_bufprintf(&t, "The original's configuration per domain: the last pruned state, the split chosen by "
                              "the grid search (gradient method with the split fixed; the goal method's own "
                              "configuration for --method goal), LUT-evaluated.\n\n"
                              "| domain | split | initial acc (%%) | best acc (%%) | last state acc (%%) | latency (ms) "
                              "| throughput (fps) | pruned | gamma distribution |\n|---|---|---|---|---|---|---|---|---|\n");
        for (int d = 0; d < run->ndom; d++) {
            domain_res *r = &run->dom[d];
            json_t *st2 = json_object_get(r->joint, "stage2_throughput");
            json_t *dist = json_object_get(st2, "gamma_distribution");
            json_t *s1 = json_object_get(r->joint, "stage1_accuracy");
            json_t *gr = json_object_get(json_object_get(st2, "results"), "grid");
            const char *k;
            json_t *v;
            int first = 1;
            if (!gr)
                gr = json_object_get(json_object_get(st2, "results"), "gd");
            if (!gr) /* the original's files: their final configuration is the grid's */
                gr = json_object_get(r->joint, "final_configuration");
            double gfps = num_or(gr, "fps", num_or(gr, "throughput_fps", NAN));
            hr_plot_bufprintf(&t, "| %d | %.0f | %.2f | %.2f | %.2f | %.3f | %.2f | %.0f | ", r->id,
                              num_or(st2, "optimal_split_point", NAN), r->initial_acc, r->best_acc,
                              num_or(s1, "final_accuracy", NAN), num_or(gr, "latency_ms", NAN), gfps,
                              num_or(s1, "total_pruned", 0));
            json_object_foreach(dist, k, v) {
                const hr_gamma_info *gi = NULL;
                char *end;
                long g = strtol(k, &end, 10);
                if (*end == '\0')
                    gi = hr_gamma_get((int)g);
                hr_plot_bufprintf(&t, "%s%s x%.0f", first ? "" : ", ", gi ? gi->name : k,
                                  json_is_number(v) ? json_number_value(v) : 0.0);
                first = 0;
            }
            hr_plot_bufprintf(&t, " |\n");
        }
    } else {
        hr_plot_bufprintf(&t, "No domain_K_joint.json in the results.\n");
    }
    hr_plot_bufprintf(&t, "\n## The last pruned state's exact optimum vs the Neurosurgeon-style baseline\n\n");
    {
        int nb = 0;
        double g1 = 0, g2 = 0;
        for (int d = 0; d < run->ndom; d++)
            nb += run->dom[d].has_baseline;
        if (nb) {
            hr_plot_bufprintf(&t, "Baseline: the same model unpruned, deploy gamma on every block, best placement for "
                                  "the objective. Here: the exact optimum of the last pruned state (the final "
                                  "configuration above may be an earlier state). LUT-predicted; "
                                  "accuracy drop in test points.\n\n| domain | baseline placement | baseline fps | "
                                  "baseline pipelined fps | co-design placement | co-design fps | co-design pipelined "
                                  "fps | gain fps (%%) | gain pipelined (%%) | accuracy drop (points) |\n"
                                  "|---|---|---|---|---|---|---|---|---|---|\n");
            for (int d = 0; d < run->ndom; d++) {
                const domain_res *r = &run->dom[d];
                if (!r->has_baseline)
                    continue;
                double a = 100.0 * (r->exact_fps / r->base_fps - 1), b = 100.0 * (r->exact_pfps / r->base_pfps - 1);
                g1 += a, g2 += b;
                hr_plot_bufprintf(&t, "| %d | %s | %.2f | %.2f | %s | %.2f | %.2f | %+.2f | %+.2f | %.2f |\n", r->id,
                                  r->base_place, r->base_fps, r->base_pfps, r->exact_place, r->exact_fps,
                                  r->exact_pfps, a, b,
                                  r->initial_acc - num_or(json_object_get(r->joint, "stage1_accuracy"),
                                                          "final_accuracy", r->final_acc));
            }
            hr_plot_bufprintf(&t, "| mean | | | | | | | %+.2f | %+.2f | |\n", g1 / nb, g2 / nb);
        } else {
            hr_plot_bufprintf(&t, "No domain_K_joint.json with a baseline comparison.\n");
        }
    }
    if (run->sens.section.p)
        hr_plot_bufprintf(&t, "%s", run->sens.section.p);
    else
        hr_plot_bufprintf(&t, "\n## Where co-design pays\n\nNeeds hardware_lut_complete.json and a "
                              "domain_K_joint.json.\n");
    hr_plot_bufprintf(&t, "\n## Baselines comparison (step 2)\n\n");
    json_t *res = json_object_get(run->init_cfg, "results");
    if (json_is_object(res) && json_object_size(res)) {
        const char *k;
        json_t *v;
        hr_plot_bufprintf(&t, "| method | placement | latency (ms) | cycle (ms) | throughput (fps) | pipelined (fps) "
                              "| objective | gap to exact (%%) |\n|---|---|---|---|---|---|---|---|\n");
        json_object_foreach(res, k, v) {
            json_t *pl = json_object_get(v, "placement");
            char pbuf[32];
            if (json_is_string(pl))
                snprintf(pbuf, sizeof pbuf, "%s", json_string_value(pl));
            else
                snprintf(pbuf, sizeof pbuf, "split %.0f", json_is_number(pl) ? json_number_value(pl) : -1.0);
            const char *obj = json_string_value(json_object_get(v, "objective"));
            hr_plot_bufprintf(&t, "| %s | %s | %.3f | %.3f | %.2f | %.2f | %s %.3f | %.2f |\n", k, pbuf,
                              num_or(v, "latency_ms", NAN), num_or(v, "cycle_ms", NAN), num_or(v, "fps", NAN),
                              num_or(v, "pipelined_fps", NAN), obj ? obj : "", num_or(v, "objective_value", NAN),
                              num_or(v, "gap_to_exact_pct", NAN));
        }
    } else {
        hr_plot_bufprintf(&t, "No initial_throughput_config.json with per-method results.\n");
    }
    hr_plot_bufprintf(&t, "\n## LUT summary\n\n");
    if (run->lut) {
        hr_lut *lut = run->lut;
        hr_plot_bufprintf(&t, "Model %s, %d blocks, statistic %s%s.\n\n| device | processor | knee (FLOP/byte) "
                              "| peak (GFLOP/s) | bandwidth (GB/s) | sum of fastest gamma (ms) | sum at the highest valid "
                              "gamma, the fused deploy form (ms) |\n|---|---|---|---|---|---|---|\n",
                          lut->model, lut->nblocks, hr_lut_stat_name(lut->stat),
                          lut->synthetic ? " (synthetic entries: see the LUT's note)" : "");
        for (int d = 0; d < HR_DEVICE_COUNT; d++) {
            double best = 0, last = 0;
            for (int b = 0; b < lut->nblocks; b++) {
                double m = INFINITY, l = -1;
                for (int g = 0; g < HR_GAMMA_COUNT; g++) {
                    double x = lut->blocks[b].t_ms[d][g];
                    if (x >= 0 && x < m)
                        m = x;
                    if (x >= 0)
                        l = x; /* the highest valid γ: the fully fused deploy form */
                }
                best += isfinite(m) ? m : 0;
                last += l > 0 ? l : 0;
            }
            char peak[32] = "not measured", bw[32] = "not measured", cell[sizeof lut->device[0]];
            if (lut->peak_gflops[d] > 0)
                snprintf(peak, sizeof peak, "%.1f", lut->peak_gflops[d]);
            if (lut->bandwidth_gbs[d] > 0)
                snprintf(bw, sizeof bw, "%.1f", lut->bandwidth_gbs[d]);
            hr_plot_bufprintf(&t, "| %s | %s | %.2f | %s | %s | %.3f | %.3f |\n", hr_device_name((hr_device)d),
                              md_cell(lut->device[d][0] ? lut->device[d] : "unknown", cell, sizeof cell), lut->i_knee[d],
                              peak, bw, best, last);
        }
    } else {
        hr_plot_bufprintf(&t, "No hardware_lut_complete.json in the results.\n");
    }
    if (t.oom) {
        hr_cli_fail(CMD, "out of memory building the report");
        run->failed = 1;
        goto done;
    }

    hr_plot_bufprintf(&md, "# hyperrep report\n\nResults: `%s`. Figures: PNG and PDF beside this file, each drawn "
                           "from NAME.dat by NAME.gp.\n\n%s\n## Figures\n\n", run->results, t.p);
    for (int i = 0; i < run->nfigs; i++) {
        if (run->figs[i].rendered)
            hr_plot_bufprintf(&md, "### %s\n\n![%s](%s.png)\n\n", run->figs[i].title, run->figs[i].title,
                              run->figs[i].name);
        else
            hr_plot_bufprintf(&md, "### %s\n\n(not rendered: gnuplot was not available; `gnuplot %s.gp`)\n\n",
                              run->figs[i].title, run->figs[i].name);
    }

    /* HTML: the markdown tables converted line by line (cells are numbers and
     * names from our own files; '<', '>' and '&' are escaped anyway). */
    hr_plot_bufprintf(&html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                             "<title>hyperrep report</title>\n<style>body{font-family:sans-serif;margin:2em;"
                             "max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid "
                             "#999;padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%%;"
                             "border:1px solid #ccc}</style></head><body>\n<h1>hyperrep report</h1>\n");
    {
        const char *p = t.p;
        int in_table = 0, header = 0;
        while (*p) {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len && p[0] == '|') {
                if (len > 4 && strncmp(p, "|---", 4) == 0) {
                    p += len + (e != NULL);
                    continue;
                }
                if (!in_table) {
                    hr_plot_bufprintf(&html, "<table>\n");
                    in_table = 1;
                    header = 1;
                }
                hr_plot_bufprintf(&html, "<tr>");
                const char *c = p + 1;
                while (c < p + len) {
                    const char *bar = memchr(c, '|', (size_t)(p + len - c));
                    if (!bar)
                        break;
                    const char *s = c, *q = bar;
                    while (s < q && *s == ' ')
                        s++;
                    while (q > s && q[-1] == ' ')
                        q--;
                    hr_plot_bufprintf(&html, "<%s>", header ? "th" : "td");
                    for (; s < q; s++)
                        hr_plot_bufprintf(&html, "%s", *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
                                                                                     : (char[2]){*s, 0});
                    hr_plot_bufprintf(&html, "</%s>", header ? "th" : "td");
                    c = bar + 1;
                }
                hr_plot_bufprintf(&html, "</tr>\n");
                header = 0;
            } else {
                if (in_table)
                    hr_plot_bufprintf(&html, "</table>\n");
                in_table = 0;
                if (len > 3 && strncmp(p, "## ", 3) == 0)
                    hr_plot_bufprintf(&html, "<h2>%.*s</h2>\n", (int)len - 3, p + 3);
                else if (len)
                    hr_plot_bufprintf(&html, "<p>%.*s</p>\n", (int)len, p);
            }
            p += len + (e != NULL);
        }
        if (in_table)
            hr_plot_bufprintf(&html, "</table>\n");
    }
    hr_plot_bufprintf(&html, "<h2>Figures</h2>\n");
    for (int i = 0; i < run->nfigs && !run->failed; i++) {
        hr_plot_bufprintf(&html, "<h3>%s</h3>\n", run->figs[i].title);
        if (!run->figs[i].rendered) {
            hr_plot_bufprintf(&html, "<p>(not rendered: gnuplot was not available; run <code>gnuplot %s.gp</code>)</p>\n",
                              run->figs[i].name);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s.png", run->out, run->figs[i].name);
        FILE *f = fopen(path, "rb");
        long sz = -1;
        unsigned char *png = NULL;
        if (f && fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 && sz < (64L << 20) && fseek(f, 0, SEEK_SET) == 0 &&
            (png = malloc((size_t)sz)) && fread(png, 1, (size_t)sz, f) == (size_t)sz) {
            hr_plot_bufprintf(&html, "<p><img alt=\"%s\" src=\"data:image/png;base64,", run->figs[i].name);
            if (hr_plot_base64(png, (size_t)sz, &html, &err) != HR_OK) {
                hr_cli_fail(CMD, "%s", err.msg);
                run->failed = 1;
            }
            hr_plot_bufprintf(&html, "\"></p>\n");
        } else {
            hr_cli_fail(CMD, "%s: cannot read the figure: %s", path, f ? "short read or size out of range" : strerror(errno));
            run->failed = 1;
        }
        free(png);
        if (f)
            fclose(f);
    }
    hr_plot_bufprintf(&html, "</body></html>\n");
    if (md.oom || html.oom) {
        hr_cli_fail(CMD, "out of memory building the report");
        run->failed = 1;
        goto done;
    }
    snprintf(path, sizeof path, "%s/report.md", run->out);
    if (!hr_cli_write_text(CMD, path, md.p, md.n))
        run->failed = 1;
    snprintf(path, sizeof path, "%s/report.html", run->out);
    if (!run->failed && !hr_cli_write_text(CMD, path, html.p, html.n))
        run->failed = 1;
done:
    hr_plot_buf_free(&md), hr_plot_buf_free(&html), hr_plot_buf_free(&t);
}

int hr_cmd_plot(int argc, char **argv)
{
    static const struct option opts[] = {{"results", required_argument, 0, 'r'}, {"output", required_argument, 0, 'o'},
                                         {"no-render", no_argument, 0, 'n'},      {"gnuplot", required_argument, 0, 'g'},
                                         {"domain", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    static plot_run run;
    char outbuf[4096], path[4096];
    int c;

    memset(&run, 0, sizeof run);
    run.pp = hr_plot_params_default();
    run.sens_domain = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'r': run.results = optarg; break;
        case 'o': run.out = optarg; break;
        case 'n': run.pp.render = 0; break;
        case 'g': run.pp.gnuplot = optarg; break;
        case 'd': {
            int64_t v;
            if (!hr_cli_parse_i64(CMD, "--domain", optarg, 0, MAX_DOMAINS - 1, &v))
                return 2;
            run.sens_domain = (int)v;
            break;
        }
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind != argc) {
        hr_cli_fail(CMD, "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!run.results) {
        hr_cli_fail(CMD, "--results DIR is required");
        fputs(help, stderr);
        return 2;
    }
    if (!run.out) {
        snprintf(outbuf, sizeof outbuf, "%s/visualization", run.results);
        run.out = outbuf;
    }
    if (!hr_cli_mkdirs(CMD, run.out))
        return 1;
    if (run.pp.render && !hr_plot_gnuplot_available(&run.pp)) {
        fprintf(stderr, "hyperrep plot: %s is not installed (Debian: apt-get install gnuplot-nox): writing data and "
                        "scripts only; render each with: cd %s && gnuplot NAME.gp\n", run.pp.gnuplot, run.out);
        run.pp.render = 0;
    }

    snprintf(path, sizeof path, "%s/hardware_lut_complete.json", run.results);
    FILE *lf = fopen(path, "rb");
    if (lf) {
        hr_error err = {0};
        fclose(lf);
        if (hr_lut_load(path, &run.lut, &err) != HR_OK) {
            hr_cli_fail(CMD, "%s", err.msg);
            run.failed = 1;
        }
    }
    run.init_cfg = load_json(&run, "initial_throughput_config.json");
    run.training = load_json(&run, "training_results.json");
    json_t *hw = load_json(&run, "trained_hyper_weights.json");
    json_t *imp = load_json(&run, "importance_scores.json");
    load_domains(&run);

    if (run.failed)
        goto out; /* a malformed input: draw nothing rather than a partial set */
    if (run.lut) {
        plot_lut(&run);
        plot_roofline(&run);
    }
    if (run.init_cfg)
        plot_convergence(&run);
    if (hw)
        plot_domain_matrix(&run, hw, "hyper_weights", "Hyper-weights alpha per domain (Code 1)", "alpha", 0);
    if (imp)
        plot_domain_matrix(&run, imp, "importance", "Branch importance per domain (Code 2)",
                           "log10(|alpha| / GFLOPs + 1)", 1);
    if (run.ndom) {
        plot_acc_throughput(&run);
        plot_domain_comparison(&run);
        plot_domain_flops_baseline(&run);
    }
    if (run.lut && (run.ndom || run.sens_domain >= 0))
        plot_sensitivity(&run);
    plot_predicted_measured(&run);
    if (run.nfigs == 0 && !run.failed) {
        hr_cli_fail(CMD, "%s holds no results to plot (hardware_lut_complete.json, initial_throughput_config.json, "
                         "trained_hyper_weights.json, importance_scores.json, domain_K_joint.json)", run.results);
        run.failed = 1;
    }
    if (!run.failed)
        write_reports(&run);
    if (!run.failed) {
        printf("wrote %d figures%s and report.md, report.html to %s\n", run.nfigs,
               run.unrendered ? " (data + scripts only)" : " (PNG + PDF)", run.out);
        if (run.unrendered)
            printf("render with: cd %s && for f in *.gp; do gnuplot \"$f\"; done\n", run.out);
    }
out:
    hr_lut_destroy(run.lut);
    hr_plot_sensitivity_out_deinit(&run.sens);
    json_decref(run.init_cfg), json_decref(run.training), json_decref(hw), json_decref(imp);
    for (int d = 0; d < run.ndom; d++)
        json_decref(run.dom[d].joint);
    return run.failed ? 1 : 0;
}
