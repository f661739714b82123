/* Shared helpers for the cmocka tests. Include after <stdarg.h>, <stddef.h>,
 * <setjmp.h> and <cmocka.h> (cmocka's own requirement). */
#ifndef HR_TEST_H
#define HR_TEST_H

#include <stdint.h>

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

/* Runs `hyperrep <args>` (args already shell-quoted) in directory dir (NULL:
 * a fresh temporary one), capturing stdout into out and stderr into err
 * (NUL-terminated, truncated to their sizes). Returns the exit status, or 128
 * when the process did not exit normally. */
int hr_test_run_cli(const char *dir, const char *args, char *out, size_t out_size, char *err, size_t err_size);

/* hr_test_run_cli, then fails the test (printing the command, the exit
 * status and both streams) unless it exited with code and needle occurs in
 * stderr (in_stderr) or stdout. A test file wraps it in a two-line EXPECT
 * macro over its own buffers instead of copying the check. */
void hr_test_expect_cli(const char *dir, const char *args, int code, int in_stderr, const char *needle, char *out,
                        size_t out_size, char *err, size_t err_size, const char *file, int line);

#endif
