/* Pieces of `hyperrep infer` shared by the single-edge run (cmd_infer.c) and
 * the load generator (infer_load.c): the printing and the report around the
 * library's edge (hyperrep/edge.h). */
#ifndef HR_CLI_INFER_H
#define HR_CLI_INFER_H

#include <jansson.h>
#include <stdint.h>

#include "cli.h"
#include "hyperrep/edge.h"
#include "hyperrep/edge_emulate.h"

/* A distribution as the report writes it: {p50, p95, p99, mean, max, n}. */
json_t *hr_infer_dist_json(const hr_edge_dist *d);

/* The load generator's front: runs it (hr_edge_load_run), prints its line
 * and each failed edge's error, and writes -o. The process exit status. */
typedef struct hr_infer_load_opts {
    hr_edge_load_params params;
    const char *config_path;      /* --config, for the report */
    const char *output;           /* -o */
} hr_infer_load_opts;

int hr_infer_load_run(const hr_infer_load_opts *o);

/* A log sink printing "hyperrep infer: <line>" on stderr. */
void hr_infer_log_stderr(void *user, hr_log_level level, const char *line);

/* Run-time edge emulation of this process's part (SPEC 13.2; the library's
 * edge_emulate.h does the work). */
typedef struct hr_infer_edge {
    hr_cli_edge flags;        /* --edge / --edge-slowdown as parsed */
    hr_edge_emu *emu;         /* set on the edge's part; NULL: not emulated */
    char planned[320];        /* what the --lut was planned for; "" when a plain edge */
    int64_t units_per_frame;  /* emulated units of one frame (0: a raw head) */
} hr_infer_edge;

/* Creates the emulator the flags ask for (hr_edge_emu_setup; with --lut its
 * client times, else the flat form) and sets it on the prepared edge's
 * part. When --lut was planned for an emulated edge and neither flag is
 * given, prints one warning naming that edge and adds a note. Errors: a
 * --lut that does not load (when a flag needs it), the library's checks. */
hr_status hr_infer_edge_setup(hr_infer_edge *ie, const char *lut_path, hr_edge *edge, json_t *notes,
                              hr_error *err);
/* The report's "edge_emulation" object: the request and, over `frames`
 * frames since the last hr_edge_emu_stats_reset, the emulated, LUT and host
 * milliseconds per frame, overruns and waits. */
json_t *hr_infer_edge_json(const hr_infer_edge *ie, const char *lut_path, int64_t frames);
/* One line for stdout ("infer: edge emulated ..."), or nothing when off. */
void hr_infer_edge_print(const hr_infer_edge *ie, int64_t frames);
/* Destroys the emulator: after the edge it was set on. */
void hr_infer_edge_deinit(hr_infer_edge *ie);

/* "YYYY-MM-DD HH:MM:SS" UTC into buf. */
void hr_infer_timestamp(char *buf, size_t n);

#endif
