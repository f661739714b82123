/* report.md and report.html over a results directory (hr_plot_results):
 * the scenario, the outcome per domain, the original's results, the
 * baselines, where co-design pays, the LUT summary and the figures. */
#include "plot/plot_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperrep/gamma.h"
#include "hyperrep/lut.h"
#include "hyperrep/weights.h"

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
static void outcome_section(hr__plot_run *run, hr_plot_buf *t)
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
        const hr__plot_domain *r = &run->dom[d];
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
        double fv = hr__plot_num(fc, "objective_value", NAN), drop = hr__plot_num(fc, "accuracy_drop", NAN);
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
            snprintf(gs, sizeof gs, "%+.2f", 100.0 * (hr__plot_num(grid, "objective_value", NAN) / fv - 1));
        else
            snprintf(gs, sizeof gs, "n/a");
        if (parts)
            snprintf(ps, sizeof ps, "%.0f / %.0f / %.0f", hr__plot_num(parts, "selection", NAN),
                     hr__plot_num(parts, "guard", NAN), hr__plot_num(parts, "test", NAN));
        else
            snprintf(ps, sizeof ps, "n/a");
        hr_plot_bufprintf(t, "| %d | %s | %.0f | %zu | %s %.3f | %.2f | %.2f | %s | %+.2f / %+.2f / %+.2f | %s | %s |\n",
                          r->id, placement_of(json_object_get(fc, "placement"), pl, sizeof pl),
                          hr__plot_num(fc, "round", NAN), json_array_size(json_object_get(fc, "pruned")),
                          json_string_value(json_object_get(fc, "objective")) ? json_string_value(json_object_get(fc, "objective")) : "",
                          fv, hr__plot_num(fc, "accuracy", NAN), drop, cis, hr__plot_num(gain, "objective", NAN),
                          hr__plot_num(gain, "latency_fps", NAN), hr__plot_num(gain, "pipelined_fps", NAN), gs, ps);
    }
    hr_plot_bufprintf(t, "\nAccuracy goals (issue 13): the point drop is <= 2 points in %d of %d domains (goal: at "
                         "least 9 of 10); the lower end of the 95 %% interval is <= 2 points in %d of %d domains with "
                         "an interval (goal: every domain).%s\n\n",
                      point_ok, n, lo_ok, have_ci, point_ok * 10 >= 9 * n && lo_ok == have_ci && have_ci == n
                                                           ? " Both goals are met."
                                                           : " Not every goal is met.");
    /* measured, where bench/codesign_measured.sh ran (its OUT copied into the results) */
    json_t *cm = hr__plot_load_json(run, "codesign_measured.json"), *cfgs = json_object_get(cm, "configs");
    json_t *cd = NULL, *e;
    size_t i;
    json_array_foreach(cfgs, i, e)
        if (json_is_string(json_object_get(e, "name")) && strcmp(json_string_value(json_object_get(e, "name")),
                                                                  "co-design") == 0)
            cd = e;
    if (cd) {
        double mf = hr__plot_num(cd, "measured_fps", NAN), mp = hr__plot_num(cd, "measured_pipelined_fps", NAN);
        hr_plot_bufprintf(t, "Measured (codesign_measured.json, bench/codesign_measured.sh): the co-design's gain over "
                             "each configuration streamed, in percent of that configuration's measured fps.\n\n"
                             "| configuration | measured fps | measured pipelined fps | co-design gain fps (%%) | "
                             "co-design gain pipelined (%%) |\n|---|---|---|---|---|\n");
        json_array_foreach(cfgs, i, e) {
            const char *nm = json_string_value(json_object_get(e, "name"));
            double f = hr__plot_num(e, "measured_fps", NAN), pf = hr__plot_num(e, "measured_pipelined_fps", NAN);
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

/* The report text as HTML, line by line: Markdown table rows become table
 * rows (the first of each table a header, the |--- rule dropped), "## "
 * lines headings and other non-empty lines paragraphs. Cells are numbers and
 * names from our own files; '<', '>' and '&' are escaped anyway. */
static void markdown_html(const char *text, hr_plot_buf *html)
{
    const char *p = text;
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
                hr_plot_bufprintf(html, "<table>\n");
                in_table = 1;
                header = 1;
            }
            hr_plot_bufprintf(html, "<tr>");
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
                hr_plot_bufprintf(html, "<%s>", header ? "th" : "td");
                for (; s < q; s++)
                    hr_plot_bufprintf(html, "%s", *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
                                                                             : (char[2]){*s, 0});
                hr_plot_bufprintf(html, "</%s>", header ? "th" : "td");
                c = bar + 1;
            }
            hr_plot_bufprintf(html, "</tr>\n");
            header = 0;
        } else {
            if (in_table)
                hr_plot_bufprintf(html, "</table>\n");
            in_table = 0;
            if (len > 3 && strncmp(p, "## ", 3) == 0)
                hr_plot_bufprintf(html, "<h2>%.*s</h2>\n", (int)len - 3, p + 3);
            else if (len)
                hr_plot_bufprintf(html, "<p>%.*s</p>\n", (int)len, p);
        }
        p += len + (e != NULL);
    }
    if (in_table)
        hr_plot_bufprintf(html, "</table>\n");
}

/* report.md and report.html: the same tables; the HTML inlines the PNGs. */
void hr__plot_write_reports(hr__plot_run *run)
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
            hr__plot_domain *r = &run->dom[d];
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
            double gfps = hr__plot_num(gr, "fps", hr__plot_num(gr, "throughput_fps", NAN));
            hr_plot_bufprintf(&t, "| %d | %.0f | %.2f | %.2f | %.2f | %.3f | %.2f | %.0f | ", r->id,
                              hr__plot_num(st2, "optimal_split_point", NAN), r->initial_acc, r->best_acc,
                              hr__plot_num(s1, "final_accuracy", NAN), hr__plot_num(gr, "latency_ms", NAN), gfps,
                              hr__plot_num(s1, "total_pruned", 0));
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
                const hr__plot_domain *r = &run->dom[d];
                if (!r->has_baseline)
                    continue;
                double a = 100.0 * (r->exact_fps / r->base_fps - 1), b = 100.0 * (r->exact_pfps / r->base_pfps - 1);
                g1 += a, g2 += b;
                hr_plot_bufprintf(&t, "| %d | %s | %.2f | %.2f | %s | %.2f | %.2f | %+.2f | %+.2f | %.2f |\n", r->id,
                                  r->base_place, r->base_fps, r->base_pfps, r->exact_place, r->exact_fps,
                                  r->exact_pfps, a, b,
                                  r->initial_acc - hr__plot_num(json_object_get(r->joint, "stage1_accuracy"),
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
                              hr__plot_num(v, "latency_ms", NAN), hr__plot_num(v, "cycle_ms", NAN),
                              hr__plot_num(v, "fps", NAN), hr__plot_num(v, "pipelined_fps", NAN), obj ? obj : "",
                              hr__plot_num(v, "objective_value", NAN), hr__plot_num(v, "gap_to_exact_pct", NAN));
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
        hr__plot_fail(run, HR_ERR_NOMEM, "out of memory building the report");
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

    hr_plot_bufprintf(&html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                             "<title>hyperrep report</title>\n<style>body{font-family:sans-serif;margin:2em;"
                             "max-width:1100px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid "
                             "#999;padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%%;"
                             "border:1px solid #ccc}</style></head><body>\n<h1>hyperrep report</h1>\n");
    markdown_html(t.p, &html);
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
                hr__plot_fail(run, err.status, "%s", err.msg);
            }
            hr_plot_bufprintf(&html, "\"></p>\n");
        } else {
            hr__plot_fail(run, HR_ERR_IO, "%s: cannot read the figure: %s", path,
                          f ? "short read or size out of range" : strerror(errno));
        }
        free(png);
        if (f)
            fclose(f);
    }
    hr_plot_bufprintf(&html, "</body></html>\n");
    if (md.oom || html.oom) {
        hr__plot_fail(run, HR_ERR_NOMEM, "out of memory building the report");
        goto done;
    }
    snprintf(path, sizeof path, "%s/report.md", run->out);
    if (hr_write_file_atomic(path, md.p, md.n, &err) != HR_OK)
        hr__plot_fail(run, err.status, "%s", err.msg);
    snprintf(path, sizeof path, "%s/report.html", run->out);
    if (!run->failed && hr_write_file_atomic(path, html.p, html.n, &err) != HR_OK)
        hr__plot_fail(run, err.status, "%s", err.msg);
done:
    hr_plot_buf_free(&md), hr_plot_buf_free(&html), hr_plot_buf_free(&t);
}
