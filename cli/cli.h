/* Shared pieces of the hyperrep command-line tool: the subcommand table,
 * checked option parsing and small utilities. */
#ifndef HR_CLI_H
#define HR_CLI_H

#include <jansson.h>
#include <stdint.h>

#include "hyperrep/error.h"
#include "hyperrep/model.h"
#include "hyperrep/weights.h"

typedef struct hr_cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} hr_cli_command;

/* Subcommands (one file each). Each returns the process exit status:
 * 0 success, 1 failure, 2 usage error. */
int hr_cmd_models(int argc, char **argv);
int hr_cmd_forward(int argc, char **argv);
int hr_cmd_convert(int argc, char **argv);
int hr_cmd_data(int argc, char **argv);
int hr_cmd_lut(int argc, char **argv);
int hr_cmd_roofline(int argc, char **argv);
int hr_cmd_report(int argc, char **argv);
int hr_cmd_optimize(int argc, char **argv);
int hr_cmd_train_base(int argc, char **argv);
int hr_cmd_train_hyper(int argc, char **argv);
int hr_cmd_importance(int argc, char **argv);
int hr_cmd_eval(int argc, char **argv);
int hr_cmd_joint(int argc, char **argv);
int hr_cmd_pipeline(int argc, char **argv);
int hr_cmd_plot(int argc, char **argv);
/* Real mode: the edge worker, and the remote variants of lut measure and
 * joint (dispatched from hr_cmd_lut / hr_cmd_joint). */
int hr_cmd_client(int argc, char **argv);
int hr_cmd_lut_remote(int argc, char **argv);
int hr_cmd_joint_real(int argc, char **argv);
/* Split-inference deployment: the cloud server and the edge (cmd_serve.c, cmd_infer.c). */
int hr_cmd_serve(int argc, char **argv);
int hr_cmd_infer(int argc, char **argv);
/* 1 when argv[1..] holds `flag` (value NULL), or `flag value` / `flag=value`. */
int hr_cli_has_option(int argc, char **argv, const char *flag, const char *value);

/* Prints "hyperrep <cmd>: <message>" to stderr. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void hr_cli_fail(const char *cmd, const char *fmt, ...);

/* An old spelling of a flag (docs/CLI.md, "Renamed"): prints "hyperrep
 * <cmd>: <old> is now <now> (docs/CLI.md)" and returns 2, the exit code of
 * a usage error. */
int hr_cli_renamed(const char *cmd, const char *old, const char *now);

/* Stamps a result the CLI writes in one of the project's own formats:
 * "format": {"name": name, "version": "1.0"} (docs/FORMATS.md, "Format
 * stamps"). root may be NULL (then nothing). */
void hr_cli_format_stamp(json_t *root, const char *name);

/* Parses a decimal integer in [lo, hi] from a flag value; prints an error
 * naming the flag and returns 0 on failure, 1 on success. */
int hr_cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Reads a γ assignment file: out[i] = γ of block i of m, left untouched
 * where the file is silent. Blocks must exist and values be 0..13 or γ
 * names; validity against a block's live branches is the caller's (the
 * model checks it when the γ is applied). Prints the error (file:line:column
 * for malformed JSON) and returns 0 on failure, 1 on success. */
int hr_cli_read_gamma_file(const char *cmd, const hr_model *m, const char *path, int *out);

/* Monotonic clock in milliseconds. */
double hr_cli_now_ms(void);

/* --edge PROFILE / --edge-slowdown F: the run-time edge emulation of infer
 * and client (SPEC 13.2), one meaning in both (cli/edge_flags.c). */
typedef struct hr_cli_edge {
    const char *profile;      /* --edge: a known profile's name; NULL: none */
    double slowdown;          /* --edge-slowdown: >= 1; 0: none */
} hr_cli_edge;

/* Parses the value of --edge (is_profile) or --edge-slowdown into e. An
 * unknown profile (the error lists the known ones), a factor that is not a
 * number >= 1, or the other flag given already: prints an error naming the
 * flag and returns 0; 1 on success. */
int hr_cli_edge_option(const char *cmd, hr_cli_edge *e, int is_profile, const char *arg);

#endif
