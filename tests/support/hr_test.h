/* Shared helpers for the cmocka tests. Include after <stdarg.h>, <stddef.h>,
 * <setjmp.h> and <cmocka.h> (cmocka's own requirement). */
#ifndef HR_TEST_H
#define HR_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hyperrep/error.h"
#include "hyperrep/tensor.h"

/* Deterministic xorshift RNG for test data. */
typedef struct hr_test_rng { uint64_t s; } hr_test_rng;
void hr_test_rng_seed(hr_test_rng *r, uint64_t seed);
/* Uniform in [lo, hi). */
float hr_test_uniform(hr_test_rng *r, float lo, float hi);
void hr_test_fill(hr_test_rng *r, float *x, int64_t n, float lo, float hi);

/* Fails the test with the error message when st != HR_OK. */
#define HR_ASSERT_OK(st, err) hr_test_assert_ok((st), (err), __FILE__, __LINE__)
void hr_test_assert_ok(hr_status st, const hr_error *err, const char *file, int line);

/* Fails when hr_tensor_rel_error(got, want) > tol, printing both. */
#define HR_ASSERT_CLOSE(got, want, tol, what) hr_test_assert_close((got), (want), (tol), (what), __FILE__, __LINE__)
void hr_test_assert_close(const hr_tensor *got, const hr_tensor *want, double tol, const char *what,
                          const char *file, int line);

/* A fresh empty directory under $TMPDIR (or /tmp) for one test; the path is
 * static storage valid until the next call. */
const char *hr_test_tmpdir(void);

/* path of `name` inside one temporary directory created on first use for
 * this test process; the result stays valid for the next 3 calls. */
const char *hr_test_tmp_path(const char *name);

/* The whole file, malloc'd with one extra byte; *size receives its length.
 * Fails the test when the file cannot be read. */
unsigned char *hr_test_read_all(const char *path, size_t *size);

/* Writes bytes to path; fails the test on error. */
void hr_test_write_file(const char *path, const void *data, size_t size);

/* Reads up to size-1 bytes of path into buf, NUL-terminated (empty when the
 * file cannot be opened). */
void hr_test_read_file(const char *path, char *buf, size_t size);

/* ---- Running the hyperrep binary ----
 * Every test that runs the binary goes through the functions below, usually
 * through the macros: a test file declares the standard capture buffers once
 * with `HR_CLI_BUFFERS;` at file scope, then
 *
 *     HR_EXPECT_CLI(dir, "models repvgg-nope", 1, err_text, "unknown model");
 *     int rc = HR_RUN_CLI(dir, args);              (checks of its own after)
 *     HR_EXPECT_RC(run_mpi(2, args), 0, out_text, "on 2 processes");
 *
 * A failed expectation prints file:line, the command, its exit status, both
 * streams and the text looked for. */

/* The buffers every HR_RUN_* and HR_EXPECT_* macro captures into. */
#define HR_CLI_BUFFERS static char out_text[1 << 17], err_text[1 << 16]

/* Runs `hyperrep <args>` (args already shell-quoted) in directory dir (NULL:
 * a fresh temporary one), capturing stdout into out and stderr into err
 * (NUL-terminated, truncated to their sizes). Returns the exit status, or 128
 * when the process did not exit normally. */
int hr_test_run_cli(const char *dir, const char *args, char *out, size_t out_size, char *err, size_t err_size);
#define HR_RUN_CLI(dir, args) hr_test_run_cli((dir), (args), out_text, sizeof out_text, err_text, sizeof err_text)

/* As hr_test_run_cli for a whole shell command line (run as `{ cmd; }`, so
 * its redirections cover every part), with the environment variable HR set
 * to the hyperrep binary: for what wraps the binary (an environment, a
 * `timeout`, mpiexec, a network namespace) or a shell around it. */
int hr_test_run_sh(const char *dir, const char *cmd, char *out, size_t out_size, char *err, size_t err_size);
#define HR_RUN_SH(dir, cmd) hr_test_run_sh((dir), (cmd), out_text, sizeof out_text, err_text, sizeof err_text)

/* Fails the test (printing file:line, the last command run, its exit status
 * and both streams) unless rc == code and needle occurs in stderr (in_stderr)
 * or stdout. rc is usually the last run's exit status; when it is a value
 * derived from it, the status is printed beside it. */
void hr_test_check_cli(int rc, int code, int in_stderr, const char *needle, const char *out, const char *err,
                       const char *file, int line);

/* hr_test_run_cli, then hr_test_check_cli. */
void hr_test_expect_cli(const char *dir, const char *args, int code, int in_stderr, const char *needle, char *out,
                        size_t out_size, char *err, size_t err_size, const char *file, int line);

/* stream is out_text or err_text: which one the needle is looked for in. */
#define HR__IN_STDERR(stream) ((const char *)(stream) == (const char *)err_text)

/* Runs `hyperrep <args>` in dir and fails unless it exits with code and
 * needle ("" for any) occurs in stream. */
#define HR_EXPECT_CLI(dir, args, code, stream, needle)                                                                 \
    hr_test_expect_cli((dir), (args), (code), HR__IN_STDERR(stream), (needle), out_text, sizeof out_text, err_text,     \
                       sizeof err_text, __FILE__, __LINE__)

/* Fails unless rc (from HR_RUN_CLI, HR_RUN_SH or a function over them) equals
 * code and needle occurs in stream. */
#define HR_EXPECT_RC(rc, code, stream, needle)                                                                         \
    hr_test_check_cli((rc), (code), HR__IN_STDERR(stream), (needle), out_text, err_text, __FILE__, __LINE__)

/* Starts `hyperrep <args>` in the background in dir (NULL: the current
 * directory), stdout into out_path and stderr into err_path (NULL:
 * /dev/null). The shell execs the binary, so the pid returned is the
 * binary's own and signals sent to it reach it. Fails the test when it
 * cannot fork. */
pid_t hr_test_spawn_cli(const char *dir, const char *args, const char *out_path, const char *err_path);

/* Waits up to timeout_ms for a child started by hr_test_spawn_cli. Returns
 * its exit status (128 + the signal when a signal ended it), or -1 when it
 * was still running: it is then killed (SIGKILL) and reaped. */
int hr_test_wait_cli(pid_t pid, int timeout_ms);

/* printf into one of 4 rotating static buffers of 8 KiB (the result stays
 * valid for the next 3 calls): arguments built in place, as in
 * HR_EXPECT_CLI(dir, hr_test_fmt("optimize --lut %s", lut), 0, out_text, "wrote"). */
__attribute__((format(printf, 1, 2)))
const char *hr_test_fmt(const char *fmt, ...);

#endif
