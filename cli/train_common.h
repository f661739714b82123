/* Pieces shared by the training commands (train-base, train-hyper,
 * importance, eval): progress display, evaluation, α files, JSON output. */
#ifndef HR_CLI_TRAIN_COMMON_H
#define HR_CLI_TRAIN_COMMON_H

#include <jansson.h>
#include <stdint.h>

#include "hyperrep/data.h"
#include "hyperrep/model.h"
#include "hyperrep/train.h"

/* Progress of a long loop: a bar redrawn in place on a terminal (at most 5
 * times a second), plain lines every `every` percent otherwise. */
typedef struct hr_progress {
    int tty;
    double start_ms, last_ms;
    int last_pct;
    const char *label;
} hr_progress;

void hr_progress_start(hr_progress *p, const char *label);
/* done of total units; loss / acc (percent) / rate (images/s) shown when >= 0. */
void hr_progress_update(hr_progress *p, int64_t done, int64_t total, double loss, double acc, double rate);
/* Ends the bar's line on a terminal. */
void hr_progress_end(hr_progress *p);

/* Parses a number in [lo, hi] from a flag; prints an error naming the flag. */
int hr_cli_parse_f64(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);

/* hr_alpha_file_apply (hyperrep/train.h), printing its error; 1 on success. */
int hr_cli_apply_alpha_file(const char *cmd, hr_model *m, const char *path, int domain);

/* Writes json to path atomically (pretty, keys in insertion order). Prints
 * an error; returns 1 on success. */
int hr_cli_write_json(const char *cmd, const char *path, json_t *json);
/* hr_cli_write_json for a run record (run_info.json, pipeline_info.json, an
 * eval result): adds "software" {name, version, commit} first, so every
 * record names the code that produced it. */
int hr_cli_write_run_info(const char *cmd, const char *path, json_t *info);
/* Writes text to path atomically. */
int hr_cli_write_text(const char *cmd, const char *path, const char *text, size_t len);

/* Creates a directory (and its parents); 1 on success. */
int hr_cli_mkdirs(const char *cmd, const char *path);

/* Through hr_plot_heatmap (include/hyperrep/plot.h): writes DIR/NAME.dat (matrix rows with a header comment), DIR/NAME.gp (a
 * gnuplot script drawing the heat map into NAME.png) and runs gnuplot when
 * it is installed; otherwise prints how to render it. Returns 1 on success. */
int hr_cli_heatmap(const char *cmd, const char *dir, const char *name, const char *title, const char *const *rows,
                   int nrows, const char *const *cols, int ncols, const double *values);

/* Current time as "2024-05-01T12:00:00Z". */
const char *hr_cli_timestamp(char *buf, size_t size);

#endif
