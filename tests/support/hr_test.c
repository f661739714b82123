#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hr_test.h"

void hr_test_rng_seed(hr_test_rng *r, uint64_t seed)
{
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (!r->s)
        r->s = 1;
}

static uint64_t next_u64(hr_test_rng *r)
{
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return r->s = x;
}

float hr_test_uniform(hr_test_rng *r, float lo, float hi)
{
    double u = (double)(next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(lo + (hi - lo) * u);
}

void hr_test_fill(hr_test_rng *r, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = hr_test_uniform(r, lo, hi);
}

void hr_test_assert_ok(hr_status st, const hr_error *err, const char *file, int line)
{
    if (st != HR_OK) {
        print_error("%s:%d: status %d (%s): %s\n", file, line, (int)st, hr_status_name(st),
                    err ? err->msg : "(no message)");
        _fail(file, line);
    }
}

void hr_test_assert_close(const hr_tensor *got, const hr_tensor *want, double tol, const char *what,
                          const char *file, int line)
{
    double rel = hr_tensor_rel_error(got, want);
    if (!(rel <= tol)) {
        print_error("%s:%d: %s: relative error %.3g > tolerance %.3g\n", file, line, what, rel, tol);
        _fail(file, line);
    }
}

const char *hr_test_tmpdir(void)
{
    static char path[512];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/hrtest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) {
        print_error("mkdtemp(%s) failed\n", path);
        fail();
    }
    return path;
}

void hr_test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        print_error("cannot write %s\n", path);
        fail();
    }
}

void hr_test_read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, size - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
}

/* The command line of the last run and its exit status, for the failure
 * messages of hr_test_check_cli. */
static char last_cmd[8192];
static int last_status;

/* Runs the shell command line cmd, whose stdout and stderr go to the files
 * o and e, and reads them back into out and err. */
static int run_shell(const char *cmd, const char *o, const char *e, char *out, size_t out_size, char *err,
                     size_t err_size)
{
    int st = system(cmd);
    hr_test_read_file(o, out, out_size);
    hr_test_read_file(e, err, err_size);
    return last_status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int hr_test_run_cli(const char *dir, const char *args, char *out, size_t out_size, char *err, size_t err_size)
{
    char cmd[8192], o[600], e[600];
    if (!dir)
        dir = hr_test_tmpdir();
    snprintf(o, sizeof o, "%s/cli_stdout.txt", dir);
    snprintf(e, sizeof e, "%s/cli_stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s' 2>'%s'", dir, HR_CLI_PATH, args, o, e);
    snprintf(last_cmd, sizeof last_cmd, "hyperrep %s", args);
    return run_shell(cmd, o, e, out, out_size, err, err_size);
}

int hr_test_run_sh(const char *dir, const char *cmd, char *out, size_t out_size, char *err, size_t err_size)
{
    char line[12288], o[600], e[600];
    if (!dir)
        dir = hr_test_tmpdir();
    snprintf(o, sizeof o, "%s/cli_stdout.txt", dir);
    snprintf(e, sizeof e, "%s/cli_stderr.txt", dir);
    /* The newline ends a last command that the closing brace would
     * otherwise join (a comment, an unterminated word list). */
    snprintf(line, sizeof line, "cd '%s' && HR='%s' && export HR && { %s\n} >'%s' 2>'%s'", dir, HR_CLI_PATH, cmd, o,
             e);
    snprintf(last_cmd, sizeof last_cmd, "%s", cmd);
    return run_shell(line, o, e, out, out_size, err, err_size);
}

/* Prints a captured stream whole: cmocka's print_error keeps only about 1 KiB
 * of each call. */
static void print_stream(const char *name, const char *text)
{
    size_t n = strlen(text);
    print_error("%s: ", name);
    for (size_t i = 0; i < n; i += 1000)
        print_error("%.*s", (int)(n - i < 1000 ? n - i : 1000), text + i);
    print_error("\n");
}

void hr_test_check_cli(int rc, int code, int in_stderr, const char *needle, const char *out, const char *err,
                       const char *file, int line)
{
    if (rc == code && strstr(in_stderr ? err : out, needle))
        return;
    if (rc == last_status)
        print_error("%s:%d: `%s` -> %d (want %d)\n", file, line, last_cmd, rc, code);
    else
        print_error("%s:%d: `%s` -> exit status %d; checked value %d (want %d)\n", file, line, last_cmd,
                    last_status, rc, code);
    print_stream("stdout", out);
    print_stream("stderr", err);
    print_error("(looked for '%s' in %s)\n", needle, in_stderr ? "stderr" : "stdout");
    _fail(file, line);
}

void hr_test_expect_cli(const char *dir, const char *args, int code, int in_stderr, const char *needle, char *out,
                        size_t out_size, char *err, size_t err_size, const char *file, int line)
{
    int rc = hr_test_run_cli(dir, args, out, out_size, err, err_size);
    hr_test_check_cli(rc, code, in_stderr, needle, out, err, file, line);
}

pid_t hr_test_spawn_cli(const char *dir, const char *args, const char *out_path, const char *err_path)
{
    char cmd[8192];
    pid_t pid;
    /* Built before fork: the child only execs (the test may run threads). */
    snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' %s >'%s' 2>'%s'", dir ? dir : ".", HR_CLI_PATH, args,
             out_path ? out_path : "/dev/null", err_path ? err_path : "/dev/null");
    pid = fork();
    if (pid < 0) {
        print_error("fork for `hyperrep %s` failed\n", args);
        fail();
    }
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int hr_test_wait_cli(pid_t pid, int timeout_ms)
{
    int st;
    for (int waited = 0;; waited += 20) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 128;
        if (r < 0 && errno != EINTR)
            return 128;
        if (waited >= timeout_ms)
            break;
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

const char *hr_test_fmt(const char *fmt, ...)
{
    static char buf[4][8192];
    static int k;
    va_list ap;
    k = (k + 1) % 4;
    va_start(ap, fmt);
    vsnprintf(buf[k], sizeof buf[k], fmt, ap);
    va_end(ap);
    return buf[k];
}

const char *hr_test_tmp_path(const char *name)
{
    static char dir[512], path[4][700];
    static int k;
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

unsigned char *hr_test_read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}
