/* "Where co-design pays" (issue 12, part 6): the sensitivity figure, drawn
 * like Neurosurgeon's partition-versus-bandwidth plots, and the report
 * section that states the region where a split beats both all-edge and
 * all-server. See include/hyperrep/plot.h. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hyperrep/model.h"
#include "hyperrep/plot.h"

/* Readable on white and for the common colour-vision deficiencies (Okabe and
 * Ito); a sweep with more rows than colours repeats them with other point
 * shapes. */
static const char *const COLORS = "#0072b2 #d55e00 #009e73 #cc79a7 #e69f00 #56b4e9 #000000";
#define NCOLORS 7

static const char *placement_cell(int placement, char *buf, size_t size)
{
    return hr_placement_format(placement, buf, size);
}

/* Position on the categorical axis: raw below every split, local above. */
static int placement_y(int placement, int nblocks)
{
    return placement == HR_PLACEMENT_RAW ? -1 : placement == HR_PLACEMENT_LOCAL ? nblocks + 1 : placement;
}

static void put_num(hr_plot_buf *b, double v)
{
    if (isfinite(v))
        hr_plot_bufprintf(b, " %.9g", v);
    else
        hr_plot_bufprintf(b, " NaN");
}

/* One sweep's rows of the data file: a block per (edges, slowdown). */
static void put_rows(hr_plot_buf *d, const hr_sensitivity *s, int first)
{
    char pl[32];
    int n = s->nblocks;
    for (int e = 0; e < s->nedges; e++)
        for (int sl = 0; sl < s->nslowdown; sl++) {
            if (!first || e || sl)
                hr_plot_bufprintf(d, "\n\n");
            hr_plot_bufprintf(d, "# %s objective, K = %d, slowdown %.9g\n", hr_objective_name(s->objective),
                              s->edges[e], s->slowdown[sl]);
            for (int b = 0; b < s->nbandwidth; b++) {
                const hr_sensitivity_point *p = hr_sensitivity_point_at(s, e, sl, b);
                const hr_optim_eval *f = &p->final_eval, *bl = &p->baseline_eval;
                hr_plot_bufprintf(d, "%d %.9g %.9g %s %d", p->edges, p->slowdown, p->bandwidth_mbit_s,
                                  placement_cell(f->placement, pl, sizeof pl), placement_y(f->placement, n));
                put_num(d, f->latency_ms), put_num(d, f->cycle_ms), put_num(d, f->fps);
                put_num(d, f->pipelined_fps);
                hr_plot_bufprintf(d, " %s %d", placement_cell(bl->placement, pl, sizeof pl),
                                  placement_y(bl->placement, n));
                put_num(d, bl->latency_ms), put_num(d, bl->cycle_ms), put_num(d, bl->fps);
                put_num(d, bl->pipelined_fps), put_num(d, p->gain_fps_pct), put_num(d, p->gain_pipelined_pct);
                hr_plot_bufprintf(d, " %d", p->best_split);
                put_num(d, p->split_saving_pct);
                hr_plot_bufprintf(d, " %d", p->split_pays);
                put_num(d, p->final_value), put_num(d, p->baseline_value);
                hr_plot_bufprintf(d, " %s\n", hr_objective_name(s->objective));
            }
        }
}

/* Places the next panel at fixed screen fractions, so that the columns'
 * x axes and the rows' y axes line up whatever the tic labels' widths. */
static void panel_at(hr_plot_buf *g, double l, double r, double b, double t)
{
    hr_plot_bufprintf(g, "set lmargin at screen %.4f\nset rmargin at screen %.4f\nset bmargin at screen %.4f\n"
                         "set tmargin at screen %.4f\n", l, r, b, t);
}

hr_status hr_plot_sensitivity_figure(const char *dir, const char *name, const hr_sensitivity *sweeps, int nsweeps,
                                     const char *label, const hr_plot_params *params, int *rendered, hr_error *err)
{
    hr_plot_buf d = {0}, g = {0};
    hr_plot_params pp = params ? *params : hr_plot_params_default();
    char l1[512], title[400];
    const char *head, *tail;
    const hr_sensitivity *s = sweeps;
    int n, nseries, stride;
    hr_status st;

    if (rendered)
        *rendered = 0;
    if (!sweeps || nsweeps < 1 || nsweeps > 4 || !name)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity figure %s: %d sweeps, expected 1..4",
                            name ? name : "", nsweeps);
    for (int j = 0; j < nsweeps; j++) {
        const hr_sensitivity *x = &sweeps[j];
        if (!x->points || x->npoints < 1)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity figure %s: sweep %d is empty", name, j);
        if (x->nblocks != s->nblocks || x->nbandwidth != s->nbandwidth || x->nslowdown != s->nslowdown ||
            x->nedges != s->nedges || x->head != s->head)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity figure %s: sweep %d has another grid, model or "
                                "head than sweep 0", name, j);
    }
    n = s->nblocks;
    nseries = s->nedges * s->nslowdown;
    head = s->head == HR_DEVICE_CLIENT ? "edge" : "server";
    tail = s->head == HR_DEVICE_CLIENT ? "server" : "edge";

    hr_plot_bufprintf(&d, "# where co-design pays: exact optimum of %s against its baseline (unpruned, deploy gamma, "
                          "best placement), per objective\n", label ? label : "the pruned state");
    hr_plot_bufprintf(&d, "# link: bandwidth per row, latency %.9g ms and per-message %.9g ms kept; client time = "
                          "host time x slowdown (host = LUT client time / %.9g, a flat factor); %d blocks\n",
                      s->link.latency_ms, s->link.per_message_ms, s->lut_slowdown, n);
    hr_plot_bufprintf(&d, "# one block per (objective, edges, slowdown), separated by two blank lines (gnuplot index "
                          "= objective * %d + row); placement: raw | s | local, y: raw -1, s, local %d\n",
                      nseries, n + 1);
    hr_plot_bufprintf(&d, "# edges slowdown bandwidth_mbit_s codesign_placement codesign_y codesign_latency_ms "
                          "codesign_cycle_ms codesign_fps codesign_pipelined_fps baseline_placement baseline_y "
                          "baseline_latency_ms baseline_cycle_ms baseline_fps baseline_pipelined_fps gain_fps_pct "
                          "gain_pipelined_fps_pct best_split split_saving_pct split_pays codesign_objective_ms "
                          "baseline_objective_ms objective\n");
    for (int j = 0; j < nsweeps; j++)
        put_rows(&d, &sweeps[j], j == 0);

    snprintf(title, sizeof title, "Where co-design pays: %s, K = %d edge%s per server",
             label ? label : "pruned state", s->edges[0], s->nedges > 1 ? "s (several)" : s->edges[0] == 1 ? "" : "s");
    hr_plot_bufprintf(&g, "set multiplot title '%s'\n", hr_plot_label(title, l1, sizeof l1));
    hr_plot_bufprintf(&g, "set logscale x\nset xrange [%.9g:%.9g]\nset grid xtics ytics lc rgb '#dddddd'\n"
                          "set tics nomirror out scale 0.5\n",
                      s->bandwidth_mbit_s[0] / 1.3, s->bandwidth_mbit_s[s->nbandwidth - 1] * 1.3);
    if (s->nbandwidth <= 16) {
        hr_plot_bufprintf(&g, "set xtics (");
        for (int b = 0; b < s->nbandwidth; b++)
            hr_plot_bufprintf(&g, "%s'%g' %.9g", b ? ", " : "", s->bandwidth_mbit_s[b], s->bandwidth_mbit_s[b]);
        hr_plot_bufprintf(&g, ")\n");
    }
    hr_plot_bufprintf(&g, "colors = '%s'\nns = %d\narray sd[%d]\narray ke[%d]\n", COLORS, nseries, nseries, nseries);
    for (int e = 0, i = 1; e < s->nedges; e++)
        for (int sl = 0; sl < s->nslowdown; sl++, i++)
            hr_plot_bufprintf(&g, "sd[%d] = %.9g; ke[%d] = %d\n", i, s->slowdown[sl], i, s->edges[e]);
    /* Series are shifted a little apart so lines that choose the same
     * placement stay visible side by side rather than hiding each other. */
    hr_plot_bufprintf(&g, "off(i) = ns > 1 ? (i - (ns - 1) / 2.0) * %.6g / (ns - 1) : 0\n", n > 12 ? 0.8 : 0.5);
    hr_plot_bufprintf(&g, "col(i) = word(colors, i %% %d + 1)\npt(i) = word('7 5 9 11 13 15 4', i / %d %% 7 + 1) + 0\n",
                      NCOLORS, NCOLORS);
    hr_plot_bufprintf(&g, "st(i) = sprintf('edge %%gx slower%%s', sd[i + 1], %s)\n",
                      s->nedges > 1 ? "sprintf(', K = %d', ke[i + 1])" : "''");
    /* Categorical placement axis: raw, the splits, local; the splits' band
     * is shaded. A deep model's splits are labelled at a stride that keeps
     * about ten labels, none next to raw or local where they would touch. */
    stride = n <= 12 ? 1 : (n + 9) / 10;
    hr_plot_bufprintf(&g, "set_placement_axis = \"set ytics ('all on %s (raw)' -1", tail);
    for (int k = stride > 1 ? stride : 0; k <= (stride > 1 ? n - 2 : n); k += stride)
        hr_plot_bufprintf(&g, ", '%d' %d", k, k);
    hr_plot_bufprintf(&g, ", 'all on %s (local)' %d); set mytics %d; set yrange [-1.6:%d.6]; "
                          "set ylabel 'placement (split s)'; set object 1 rectangle from graph 0, first -0.5 to "
                          "graph 1, first %d.5 behind fillcolor rgb '#eef3f8' fillstyle solid noborder; set label 1 "
                          "'splits 0..%d' at graph 0.99, first %.1f right textcolor rgb '#5a7696'\"\n",
                      head, n + 1, stride, n + 1, n, n, n / 2.0);
    /* Rows (screen fractions): the key under the title, then the panels;
     * columns leave room for the next column's placement labels. */
    const double rows[3][2] = {{0.65, 0.86}, {0.375, 0.585}, {0.085, 0.295}};
    const double gap = 0.12, colw = (0.85 - gap * (nsweeps - 1)) / nsweeps;
    for (int j = 0; j < nsweeps; j++) {
        const hr_sensitivity *x = &sweeps[j];
        const char *obj = x->objective == HR_OBJECTIVE_LATENCY ? "latency objective (one frame at a time)"
                          : x->objective == HR_OBJECTIVE_CYCLE ? "cycle objective (pipelined stream)"
                                                               : "eff objective";
        double l = 0.13 + j * (colw + gap), r = l + colw;
        char letter = (char)('a' + 3 * j);
        hr_plot_bufprintf(&g, "base = %d\n", j * nseries);
        panel_at(&g, l, r, rows[0][0], rows[0][1]);
        hr_plot_bufprintf(&g, "eval set_placement_axis\nunset xlabel\nset ytics nomirror\nunset xzeroaxis\n");
        if (j)
            hr_plot_bufprintf(&g, "unset ylabel\n"); /* it would fall on the column to the left */
        if (j == 0)
            hr_plot_bufprintf(&g, "set key at screen 0.5, screen 0.925 center center horizontal maxcols 4 box "
                                  "opaque spacing 1.1 samplen 3 width 1\n");
        else
            hr_plot_bufprintf(&g, "unset key\n");
        hr_plot_bufprintf(&g, "set title '(%c) %s: co-design placement'\n", letter, obj);
        hr_plot_bufprintf(&g, "plot for [i=0:ns-1] '%s.dat' index base + i using 3:($5 + off(i)) with linespoints "
                              "lw 2 pt pt(i) ps 1 lc rgb col(i) title st(i)", name);
        if (j == 0)
            hr_plot_bufprintf(&g, ", keyentry with lines lw 2 lc rgb 'black' title 'gain in 1/latency', keyentry "
                                  "with lines lw 2 dt 2 lc rgb 'black' title 'gain in 1/cycle (pipelined)'");
        hr_plot_bufprintf(&g, "\nunset key\n");
        panel_at(&g, l, r, rows[1][0], rows[1][1]);
        hr_plot_bufprintf(&g, "set title '(%c) baseline (unpruned, deploy gamma): its best placement'\n",
                          letter + 1);
        hr_plot_bufprintf(&g, "plot for [i=0:ns-1] '%s.dat' index base + i using 3:($11 + off(i)) with linespoints "
                              "lw 2 pt pt(i) ps 1 lc rgb col(i) notitle\n", name);
        panel_at(&g, l, r, rows[2][0], rows[2][1]);
        hr_plot_bufprintf(&g, "unset object 1\nunset label 1\nset ytics auto\nset mytics default\nset yrange [*:*]\n"
                              "set xzeroaxis lt -1\nset xlabel 'link bandwidth (Mbit/s, log scale; link latency %g ms)'\n"
                              "set ylabel '%s'\n"
                              "set title '(%c) co-design gain in frames/s: 1/latency (solid), 1/cycle (dashed)'\n",
                          s->link.latency_ms, j ? "" : "gain over the baseline (%)", letter + 2);
        hr_plot_bufprintf(&g, "plot for [i=0:ns-1] '%s.dat' index base + i using 3:16 with linespoints lw 2 pt pt(i) "
                              "ps 0.9 lc rgb col(i) notitle, for [i=0:ns-1] '%s.dat' index base + i using 3:17 with "
                              "linespoints lw 2 dt 2 pt pt(i) ps 0.6 lc rgb col(i) notitle\n",
                          name, name);
    }
    hr_plot_bufprintf(&g, "unset multiplot\n");
    if (pp.height < 1150)
        pp.height = 1150;
    if (pp.width < 650 * nsweeps + 200)
        pp.width = 650 * nsweeps + 200;
    st = hr_plot_figure(dir, name, &d, &g, &pp, rendered, err);
    hr_plot_buf_free(&d);
    hr_plot_buf_free(&g);
    return st;
}

void hr_plot_sensitivity_out_init(hr_plot_sensitivity_out *out)
{
    if (out)
        memset(out, 0, sizeof *out);
}

void hr_plot_sensitivity_out_deinit(hr_plot_sensitivity_out *out)
{
    if (!out)
        return;
    hr_plot_buf_free(&out->section);
    hr_plot_sensitivity_out_init(out);
}

/* The joint result's model against the LUT's: the same architecture when
 * both are known ones, else the same name ignoring case. */
static int same_model(const char *a, const char *b)
{
    const hr_arch *x = hr_arch_find(a), *y = hr_arch_find(b);
    return x && y ? x == y : strcasecmp(a, b) == 0;
}

/* The pruned state of a joint result as live masks: the final
 * configuration's own list when it has one (SPEC §13.4, which may be the
 * unpruned model), else every branch pruned by the accepted rounds. */
static hr_status load_state(const char *path, const hr_lut *lut, unsigned *live, hr_device *head, char *state,
                            size_t ssize, hr_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *fin, *pr, *meta, *v;
    hr_status st;

    if (!root)
        return hr_error_set(err, json_error_code(&je) == json_error_cannot_open_file ? HR_ERR_IO : HR_ERR_FORMAT,
                            "%s:%d:%d: %s", path, je.line, je.column, je.text);
    meta = json_object_get(root, "metadata");
    v = json_object_get(meta, "model");
    if (json_is_string(v) && lut->model[0] && !same_model(json_string_value(v), lut->model)) {
        st = hr_error_set(err, HR_ERR_INVALID_ARG, "%s is a result for %s, but the LUT is for %s", path,
                          json_string_value(v), lut->model);
        goto done;
    }
    v = json_object_get(meta, "head");
    if (json_is_string(v))
        *head = strcmp(json_string_value(v), "server") == 0 ? HR_DEVICE_SERVER : HR_DEVICE_CLIENT;
    if ((st = hr_optim_existing_branches(lut, live, err)))
        goto done;
    fin = json_object_get(root, "final_configuration");
    pr = json_object_get(fin, "pruned");
    if (json_is_array(pr)) {
        size_t n = json_array_size(pr), i;
        const char **names = malloc(sizeof *names * (n ? n : 1));
        if (!names) {
            st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        json_array_foreach(pr, i, v) names[i] = json_string_value(v);
        if (n > (size_t)HR_LUT_MAX_BLOCKS * HR_BRANCH_COUNT)
            st = hr_error_set(err, HR_ERR_LIMIT, "%s: final_configuration.pruned holds %zu names", path, n);
        else
            st = hr_pruned_apply_names(lut, names, (int)n, live, err);
        free(names);
        if (st) {
            hr_error_prefix(err, "%s: final_configuration.pruned", path);
            goto done;
        }
        v = json_object_get(fin, "round");
        if (json_is_integer(v) && json_integer_value(v) < 0)
            snprintf(state, ssize, "final configuration: the unpruned model (round -1)");
        else
            snprintf(state, ssize, "final configuration (%zu branch%s pruned)", n, n == 1 ? "" : "es");
    } else if (json_is_array(json_object_get(json_object_get(root, "stage1_accuracy"), "pruned_weights"))) {
        size_t n = json_array_size(json_object_get(json_object_get(root, "stage1_accuracy"), "pruned_weights"));
        /* The final configuration does not list its branches (results
         * written before SPEC §13.4): the state after the last accepted
         * round, which hr_pruned_load reads from stage1_accuracy. */
        if ((st = hr_pruned_load(path, lut, NULL, live, err)))
            goto done;
        snprintf(state, ssize, "state after the last accepted pruning round (%zu branch%s pruned)", n,
                 n == 1 ? "" : "es");
    } else {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: no pruned state (neither final_configuration.pruned nor "
                          "stage1_accuracy.pruned_weights)", path);
    }
done:
    json_decref(root);
    return st;
}

/* The scenario, a sentence per objective and a slowdown × bandwidth table
 * per objective, as Markdown that the report writers turn into HTML line
 * by line (paragraphs and tables only). */
static void write_section(hr_plot_buf *t, const hr_sensitivity *sweeps, int nsweeps, int domain, const char *state,
                          const char *figname)
{
    const hr_sensitivity *s = sweeps;
    char text[2048], pl[32], bp[32];

    hr_plot_bufprintf(t, "\n## Where co-design pays\n\n");
    hr_plot_bufprintf(t, "Domain %d, %s, against its baseline (the same model unpruned, deploy gamma on every block, "
                         "best placement), both at the exact optimum on the LUT, over a grid of deployments: link "
                         "bandwidth %g to %g Mbit/s (the LUT link's latency of %g ms kept), edge slowdown %g to %gx "
                         "(client time = the LUT's client time without its recorded emulation factor, here %g, times "
                         "the slowdown: a flat factor, which stands in for an edge profile's per-entry factors) and "
                         "K = %d edge per server (a shared server is not modelled yet). Figure: %s.png.\n\n",
                      domain, state, s->bandwidth_mbit_s[0], s->bandwidth_mbit_s[s->nbandwidth - 1],
                      s->link.latency_ms, s->slowdown[0], s->slowdown[s->nslowdown - 1], s->lut_slowdown,
                      s->edges[0], figname);
    for (int j = 0; j < nsweeps; j++) {
        const hr_sensitivity *x = &sweeps[j];
        hr_sensitivity_summary(x, text, sizeof text);
        hr_plot_bufprintf(t, "%s: %s\n\n",
                          x->objective == HR_OBJECTIVE_LATENCY ? "One frame at a time (latency objective)"
                          : x->objective == HR_OBJECTIVE_CYCLE ? "Pipelined stream (cycle objective)"
                                                               : "The eff objective",
                          text);
    }
    for (int j = 0; j < nsweeps; j++) {
        const hr_sensitivity *x = &sweeps[j];
        int pipelined = x->objective == HR_OBJECTIVE_CYCLE;
        hr_plot_bufprintf(t, "Placement the co-design chooses for the %s objective, and its gain in %s over the "
                             "baseline for the same objective, in %%; \"base\" gives the baseline's placement where "
                             "it differs.\n\n| edge slowdown |",
                          hr_objective_name(x->objective),
                          pipelined ? "pipelined frames/s (1/cycle)" : "frames/s (1/latency)");
        for (int b = 0; b < x->nbandwidth; b++)
            hr_plot_bufprintf(t, " %g Mbit/s |", x->bandwidth_mbit_s[b]);
        hr_plot_bufprintf(t, "\n|---|");
        for (int b = 0; b < x->nbandwidth; b++)
            hr_plot_bufprintf(t, "---|");
        hr_plot_bufprintf(t, "\n");
        for (int e = 0; e < x->nedges; e++)
            for (int sl = 0; sl < x->nslowdown; sl++) {
                hr_plot_bufprintf(t, "| %gx", x->slowdown[sl]);
                if (x->nedges > 1)
                    hr_plot_bufprintf(t, ", K = %d", x->edges[e]);
                hr_plot_bufprintf(t, " |");
                for (int b = 0; b < x->nbandwidth; b++) {
                    const hr_sensitivity_point *p = hr_sensitivity_point_at(x, e, sl, b);
                    hr_plot_bufprintf(t, " %s %+.1f", placement_cell(p->final_eval.placement, pl, sizeof pl),
                                      pipelined ? p->gain_pipelined_pct : p->gain_fps_pct);
                    if (p->baseline_eval.placement != p->final_eval.placement)
                        hr_plot_bufprintf(t, " (base %s)", placement_cell(p->baseline_eval.placement, bp, sizeof bp));
                    hr_plot_bufprintf(t, " |");
                }
                hr_plot_bufprintf(t, "\n");
            }
        hr_plot_bufprintf(t, "\n");
    }
}

hr_status hr_plot_sensitivity(const char *dir, const hr_lut *lut, const char *joint_path, int domain,
                              const hr_sensitivity_params *params, const hr_plot_params *pp,
                              hr_plot_sensitivity_out *out, hr_error *err)
{
    static const hr_objective objectives[2] = {HR_OBJECTIVE_LATENCY, HR_OBJECTIVE_CYCLE};
    hr_sensitivity_params sp = params ? *params : hr_sensitivity_params_default();
    hr_sensitivity sweeps[2];
    unsigned *live;
    char label[400];
    hr_status st = HR_OK;

    if (!dir || !lut || !joint_path || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity: needs a directory, a LUT, a joint result and an "
                            "output");
    hr_plot_sensitivity_out_deinit(out);
    if (lut->nblocks < 1 || lut->nblocks > HR_LUT_MAX_BLOCKS)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "sensitivity: the LUT has %d blocks", lut->nblocks);
    live = malloc(sizeof *live * (size_t)lut->nblocks);
    if (!live)
        return hr_error_set(err, HR_ERR_NOMEM, "sensitivity: out of memory");
    for (int j = 0; j < 2; j++)
        hr_sensitivity_init(&sweeps[j]);
    if ((st = load_state(joint_path, lut, live, &sp.optim.head, out->state, sizeof out->state, err)))
        goto done;
    /* One frame at a time and a pipelined stream: where a split pays
     * differs between them, so both are swept (the figure's two columns). */
    for (int j = 0; j < 2 && !st; j++) {
        sp.optim.objective = objectives[j];
        st = hr_sensitivity_compute(lut, live, &sp, &sweeps[j], err);
    }
    if (st)
        goto done;
    snprintf(label, sizeof label, "%s, domain %d (%d branch%s pruned)", lut->model[0] ? lut->model : "model", domain,
             sweeps[0].npruned, sweeps[0].npruned == 1 ? "" : "es");
    hr_sensitivity_summary(&sweeps[0], out->summary, sizeof out->summary);
    hr_sensitivity_summary(&sweeps[1], out->summary_cycle, sizeof out->summary_cycle);
    snprintf(out->title, sizeof out->title, "Where co-design pays: placement and gain vs link bandwidth and edge "
             "slowdown (domain %d, latency and cycle objectives)", domain);
    if ((st = hr_plot_sensitivity_figure(dir, "sensitivity", sweeps, 2, label, pp, &out->rendered, err)))
        goto done;
    write_section(&out->section, sweeps, 2, domain, out->state, "sensitivity");
    if (out->section.oom)
        st = hr_error_set(err, HR_ERR_NOMEM, "sensitivity: out of memory for the report section");
done:
    for (int j = 0; j < 2; j++)
        hr_sensitivity_deinit(&sweeps[j]);
    free(live);
    return st;
}
