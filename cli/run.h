/* The commands whose work `pipeline` also runs: settings already parsed, the
 * library does the work, these show its progress and print its result the
 * way the command does. Each returns the command's exit status. */
#ifndef HR_CLI_RUN_H
#define HR_CLI_RUN_H

#include "hyperrep/joint.h"
#include "hyperrep/plot.h"
#include "hyperrep/train.h"

/* train-base (cmd_train.c); sets p's callbacks. */
int hr_cli_run_train_base(hr_train_base_params *p);
/* train-hyper into outdir (NULL: task1_trained_weights_<model>); sets p's callbacks. */
int hr_cli_run_train_hyper(hr_train_hyper_params *p, const char *outdir);
/* importance (cmd_importance.c). */
int hr_cli_run_importance(const hr_joint_importance_params *p);
/* plot (cmd_plot.c); sets p's log. */
int hr_cli_run_plot(hr_plot_results_params *p);

#endif
