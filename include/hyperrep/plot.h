/* Figures (SPEC §9): every figure is a data file NAME.dat and a gnuplot
 * script NAME.gp kept side by side in one directory, so that a user can
 * restyle a figure for a paper and re-render it with `cd DIR && gnuplot
 * NAME.gp`. When gnuplot is installed the script is also run through a pipe
 * and draws NAME.png (pngcairo) and NAME.pdf (pdfcairo); without gnuplot the
 * data and script are still written and the caller is told so (rendered = 0)
 * and can print hr_plot_render_hint(). hr_plot_results draws every figure a
 * pipeline's results directory supports and writes the report over them.
 *
 *   hr_plot_params pp = hr_plot_params_default();
 *   hr_plot_buf d = {0}, s = {0};
 *   hr_plot_bufprintf(&d, "1 2\n2 4\n");
 *   hr_plot_bufprintf(&s, "set title 'y = 2x'\nplot 'line.dat' using 1:2 with lines\n");
 *   int rendered;
 *   hr_status st = hr_plot_figure("out", "line", &d, &s, &pp, &rendered, &err);
 *   hr_plot_buf_free(&d), hr_plot_buf_free(&s);
 */
#ifndef HR_PLOT_H
#define HR_PLOT_H

#include <stddef.h>

#include "hyperrep/ctx.h"
#include "hyperrep/error.h"
#include "hyperrep/lut.h"
#include "hyperrep/joint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growing, NUL-terminated text buffer. Zero-initialise; a failed
 * allocation sets oom and later appends are ignored (checked once at use). */
typedef struct hr_plot_buf {
    char *p;
    size_t n, cap;
    int oom;
} hr_plot_buf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void hr_plot_bufprintf(hr_plot_buf *b, const char *fmt, ...);
/* Frees the buffer's storage and zeroes it; NULL is a no-op. */
void hr_plot_buf_free(hr_plot_buf *b);

typedef struct hr_plot_params {
    const char *gnuplot;  /* program run through popen; default "gnuplot" */
    int render;           /* 0: write data and script only; default 1 */
    int png, pdf;         /* which outputs the pipe renders; default both */
    int width, height;    /* PNG size in pixels; default 800 x 500 (the PDF is 5 x 3.125 in) */
} hr_plot_params;

hr_plot_params hr_plot_params_default(void);

/* 1 when params->gnuplot runs (`gnuplot --version` succeeds), 0 otherwise. */
int hr_plot_gnuplot_available(const hr_plot_params *params);

/* "render with: cd DIR && gnuplot NAME.gp" into buf (always NUL-terminated). */
const char *hr_plot_render_hint(const char *dir, const char *name, char *buf, size_t size);

/* Writes DIR/NAME.dat (data, verbatim) and DIR/NAME.gp: a header that picks
 * pngcairo and pdfcairo outputs named after the gnuplot variable `out`
 * (default 'NAME'), then `body`, which must draw one figure with a single
 * figure (it runs once per output format, after `reset`) and refer to its data as
 * 'NAME.dat'. Both files are written atomically. Then, when params->render
 * and gnuplot is available, runs the script through a pipe in DIR with out
 * set to a temporary name and renames the outputs onto NAME.png/NAME.pdf, so
 * a failed rendering never leaves a partial figure. *rendered (nullable) is
 * 1 when the figures were drawn, 0 when gnuplot is missing or render is 0.
 * dir and name may not contain quotes or newlines; name must be non-empty.
 * Returns HR_OK, HR_ERR_INVALID_ARG (bad name, size outside 100..10000), HR_ERR_NOMEM (a buffer ran out
 * of memory), HR_ERR_IO (a file could not be written, gnuplot failed or
 * exited non-zero: the message names the script and the exit status). */
hr_status hr_plot_figure(const char *dir, const char *name, const hr_plot_buf *data, const hr_plot_buf *body,
                         const hr_plot_params *params, int *rendered, hr_error *err);

/* A heat map: nrows x ncols values (row-major; NaN cells are drawn empty,
 * e.g. invalid LUT entries), row and column labels, a title, axis labels
 * and the colour-box label (with units). Written as NAME.dat (one row of
 * the matrix per line, a comment header naming rows and columns) and
 * NAME.gp, then rendered as hr_plot_figure. Statuses as hr_plot_figure;
 * HR_ERR_INVALID_ARG when nrows or ncols < 1. */
typedef struct hr_plot_heatmap_spec {
    const char *title, *xlabel, *ylabel, *cblabel;
    const char *const *rows;
    int nrows;
    const char *const *cols;
    int ncols;
    const double *values;
    int log_scale; /* colour box on a log scale (values must be > 0) */
} hr_plot_heatmap_spec;

hr_status hr_plot_heatmap(const char *dir, const char *name, const hr_plot_heatmap_spec *spec,
                          const hr_plot_params *params, int *rendered, hr_error *err);

/* A domains × branches matrix (rows: domains, columns: α names) as Code 1
 * and Code 2 draw it: hr_plot_heatmap with the default parameters, x label
 * "branch (block.branch)", y label "domain", sized to the matrix (800×400
 * at least). *rendered as hr_plot_heatmap. */
hr_status hr_plot_domain_heatmap(const char *dir, const char *name, const char *title, const char *const *rows,
                                 int nrows, const char *const *cols, int ncols, const double *values, int *rendered,
                                 hr_error *err);

/* Base64 (RFC 4648, padded) of size bytes appended to out. HR_ERR_NOMEM on
 * a failed allocation. */
hr_status hr_plot_base64(const void *data, size_t size, hr_plot_buf *out, hr_error *err);

/* Text for a gnuplot single-quoted string: ' is doubled, control characters
 * become spaces; truncated to fit buf (always NUL-terminated). */
const char *hr_plot_label(const char *text, char *buf, size_t size);

/* ---- where co-design pays (issue 12, part 6) ---- */

/* Draws sensitivity sweeps (hr_sensitivity_compute) in the manner of
 * Neurosurgeon's partition-versus-bandwidth figures: one column per sweep
 * (1..4, e.g. the latency and the cycle objective; the same grid, model and
 * head), three panels each over the link bandwidth (log scale), one line per
 * edge slowdown (and edge count): the placement the pruned state's exact
 * optimum chooses, raw / split 0..N / local on a categorical axis; the
 * baseline's placement; the gain of the first over the second in % of
 * frames/s, one frame at a time (1/latency, solid) and pipelined (1/cycle,
 * dashed). `label` (nullable) names the state in the title, e.g.
 * "repvgg-fmnist, domain 0 (1 branch pruned)". NAME.dat holds one block per
 * (sweep, edges, slowdown), in that order and separated by two blank lines
 * (gnuplot index = sweep × rows + row), one line per bandwidth; its columns,
 * named in its header:
 *   1 edges  2 slowdown  3 bandwidth_mbit_s
 *   4 codesign_placement (raw | local | s)  5 codesign_y (raw −1, s, local N+1)
 *   6 codesign_latency_ms  7 codesign_cycle_ms  8 codesign_fps  9 codesign_pipelined_fps
 *   10 baseline_placement  11 baseline_y  12 baseline_latency_ms  13 baseline_cycle_ms
 *   14 baseline_fps  15 baseline_pipelined_fps
 *   16 gain_fps_pct  17 gain_pipelined_fps_pct
 *   18 best_split (−1: none)  19 split_saving_pct (NaN: nothing to compare)  20 split_pays (0 | 1)
 *   21 codesign_objective_ms  22 baseline_objective_ms  23 objective (latency | cycle | eff)
 * Statuses as hr_plot_figure; HR_ERR_INVALID_ARG for no sweep, an empty
 * one, or sweeps that differ in grid, model or head. */
hr_status hr_plot_sensitivity_figure(const char *dir, const char *name, const hr_sensitivity *sweeps, int nsweeps,
                                     const char *label, const hr_plot_params *params, int *rendered, hr_error *err);

/* What hr_plot_sensitivity produced. init/deinit (caller storage). */
typedef struct hr_plot_sensitivity_out {
    int rendered;            /* the PNG and PDF were drawn */
    char title[160];         /* the figure's title */
    char state[256];         /* which pruned state was swept, in words */
    char summary[2048];      /* the region sentence, latency objective (hr_sensitivity_summary) */
    char summary_cycle[2048];/* the same for the cycle objective (pipelined stream) */
    hr_plot_buf section;     /* Markdown: "## Where co-design pays", the scenario, both
                                sentences and a slowdown x bandwidth table of placements
                                and gains per objective */
} hr_plot_sensitivity_out;

void hr_plot_sensitivity_out_init(hr_plot_sensitivity_out *out);
/* Frees the section and re-initialises out; NULL is a no-op. */
void hr_plot_sensitivity_out_deinit(hr_plot_sensitivity_out *out);

/* Where co-design pays for one domain: reads its joint result (ours or the
 * original's domain_K_joint.json), takes its final pruned state
 * (final_configuration.pruned when present, else stage1_accuracy.
 * pruned_weights: the state after the last accepted round), sweeps it
 * against its baseline on lut for the latency and the cycle objective with
 * the grid and settings of params (NULL: defaults; its objective is not
 * used; the head follows the joint's metadata.head), writes
 * DIR/sensitivity.{dat,gp} (and .png, .pdf through gnuplot) with
 * hr_plot_sensitivity_figure, and fills out (its previous contents are
 * freed first). `domain` labels the figure and the section.
 * Returns HR_ERR_IO / HR_ERR_FORMAT for an unreadable joint file or one
 * without a pruned state, HR_ERR_INVALID_ARG when it is for another model
 * than the LUT or names branches the LUT lacks, and the statuses of
 * hr_sensitivity_compute and hr_plot_figure; messages name the file. */
hr_status hr_plot_sensitivity(const char *dir, const hr_lut *lut, const char *joint_path, int domain,
                              const hr_sensitivity_params *params, const hr_plot_params *pp,
                              hr_plot_sensitivity_out *out, hr_error *err);

/* ---- a results directory: every figure and the report (SPEC §9) ---- */

/* domain_K_joint.json is read for K = 0 .. HR_PLOT_MAX_DOMAINS - 1. */
#define HR_PLOT_MAX_DOMAINS 64

typedef struct hr_plot_results_params {
    const char *results;     /* the pipeline's results directory (required) */
    const char *out;         /* output directory, created with its parents when missing;
                                NULL (default): RESULTS/visualization */
    hr_plot_params plot;     /* rendering and the gnuplot program; default hr_plot_params_default() */
    int sensitivity_domain;  /* the domain of the sensitivity figure, 0 .. HR_PLOT_MAX_DOMAINS - 1;
                                -1 (default): the lowest with a domain_K_joint.json */
    hr_log_fn log;           /* the note that gnuplot is missing (HR_LOG_WARN) and every failure
                                after the first (HR_LOG_ERROR); NULL: hr_log_stderr */
    void *log_user;
} hr_plot_results_params;

hr_plot_results_params hr_plot_results_params_default(void);

/* What hr_plot_results drew. */
typedef struct hr_plot_results_summary {
    int figures;             /* figures written (NAME.dat + NAME.gp) and listed in the report */
    int unrendered;          /* of those, drawn as data and script only (render 0 or no gnuplot) */
    char out[4096];          /* the output directory used */
} hr_plot_results_summary;

/* Every figure the results in params->results support, and the report over
 * them. Each result file is looked for at the top of the directory, then in
 * joint_optimization/, task1_trained_weights_* and task2_importance_rankings_*
 * (ours or the original tool's); hardware_lut_complete.json only at the top.
 * What is drawn, each through hr_plot_figure / hr_plot_heatmap into out:
 *   lut_<device>, roofline_<device>   hardware_lut_complete.json
 *   convergence                       initial_throughput_config.json (the gradient method's history)
 *   hyper_weights, importance         trained_hyper_weights.json, importance_scores.json
 *   accuracy_throughput[_domain_K], domain_accuracy, domain_throughput, domain_flops,
 *   domain_vs_baseline                domain_K_joint.json (+ training_results.json)
 *   sensitivity                       hr_plot_sensitivity for params->sensitivity_domain
 *   predicted_measured                infer results under RESULTS/real/ or RESULTS/infer*.json
 * then report.md and report.html (the PNGs inlined as base64; a figure not
 * rendered is named with the command that renders it). Every file is
 * written atomically. When params->plot.render is set but gnuplot does not
 * run, the data and scripts are written and the log says how to render them.
 *
 * Failures: the first one's message goes into err and its status is
 * returned; later ones go to params->log. A malformed input file (the
 * message names it as "path:line:column: ...") stops the run before any
 * figure is drawn; a figure that fails leaves the others drawn and no
 * report written. summary (nullable) is filled in either case.
 * Returns HR_OK; HR_ERR_INVALID_ARG (no results directory, sensitivity_domain
 * out of range, a bad output directory name); HR_ERR_IO (the output directory
 * cannot be created, a file cannot be written or read back, gnuplot failed);
 * HR_ERR_FORMAT (a malformed JSON file or LUT); HR_ERR_NOT_FOUND (nothing to
 * plot, or no domain_K_joint.json for sensitivity_domain); HR_ERR_NOMEM; and
 * the statuses of hr_lut_load and hr_plot_sensitivity. */
hr_status hr_plot_results(const hr_plot_results_params *params, hr_plot_results_summary *summary, hr_error *err);

#ifdef __cplusplus
}
#endif

#endif
