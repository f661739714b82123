/* Private to src/plot: the state of one hr_plot_results run, shared by the
 * figures (results.c) and the report writer (report.c). */
#ifndef HR_PLOT_INTERNAL_H
#define HR_PLOT_INTERNAL_H

#include <jansson.h>

#include "hyperrep/plot.h"

#define HR__PLOT_MAX_FIGS 32

typedef struct hr__plot_fig {
    char name[64];
    char title[160];
    int rendered;
} hr__plot_fig;

/* What the figures and the report take from one domain_K_joint.json. */
typedef struct hr__plot_domain {
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
} hr__plot_domain;

typedef struct hr__plot_run {
    const char *results, *out;
    char outbuf[4096];            /* out when the caller gave none: RESULTS/visualization */
    hr_plot_params pp;
    hr_log_fn log;
    void *log_user;
    hr_error *err;                /* receives the first failure (nullable) */
    hr_status status;             /* the first failure's status; HR_OK while none */
    hr__plot_fig figs[HR__PLOT_MAX_FIGS];
    int nfigs;
    int failed;
    int unrendered;
    hr_lut *lut;
    json_t *init_cfg;             /* initial_throughput_config.json, owned */
    json_t *training;             /* training_results.json, owned */
    hr__plot_domain dom[HR_PLOT_MAX_DOMAINS];
    int ndom;
    int sens_domain;              /* -1: the lowest with a joint result */
    hr_plot_sensitivity_out sens;
} hr__plot_run;

/* Records a failure: the first one goes into run->err (and run->status),
 * every later one to the log at HR_LOG_ERROR, so that a run that keeps
 * drawing the other figures still reports each problem once. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void hr__plot_fail(hr__plot_run *run, hr_status st, const char *fmt, ...);

/* Loads the result file `name` found in the results directory (see
 * results.c); NULL (quietly) when absent, NULL with a failure recorded when
 * present but malformed. */
json_t *hr__plot_load_json(hr__plot_run *run, const char *name);

/* o[key] when it is a number, else dflt (also for a NULL or non-object o). */
double hr__plot_num(json_t *o, const char *key, double dflt);

/* Writes OUT/report.md and OUT/report.html from the loaded results and the
 * figures drawn; failures are recorded in run (report.c). */
void hr__plot_write_reports(hr__plot_run *run);

#endif
