/* Helpers shared by tests/net/test_relay.c and tests/net/test_testbed.c:
 * running the scripts/ tools under a time limit, children in their own
 * process group (so one kill stops `timeout`, bash and python together), and
 * reading their output with a deadline, so a broken script fails the test
 * instead of hanging ctest. Include after cmocka.h. */
#ifndef HR_TESTBED_UTIL_H
#define HR_TESTBED_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The source tree's scripts/ directory, found from the fixtures path so no
 * build-system change is needed. */
#define TB_SCRIPTS HR_FIXTURES_DIR "/../../scripts"

static inline double tb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Starts `sh -c cmd` under `timeout -k 5 limit_s` in a new process group,
 * its stdout (and stderr when merge_err) on the pipe *out_fd. Returns the pid
 * (also the group id), or -1 after printing why. */
static inline pid_t tb_spawn(const char *cmd, int limit_s, int merge_err, int *out_fd)
{
    int fds[2];
    char limit[16];
    pid_t pid;
    if (pipe(fds) != 0) {
        print_error("pipe: %s\n", strerror(errno));
        return -1;
    }
    snprintf(limit, sizeof limit, "%d", limit_s);
    pid = fork();
    if (pid < 0) {
        print_error("fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(fds[1], STDOUT_FILENO);
        if (merge_err)
            dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp("timeout", "timeout", "-k", "5", limit, "/bin/sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

/* Waits for pid; returns its exit status, 128 + signal when killed. */
static inline int tb_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return 128;
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 128;
}

/* Waits up to timeout_ms for pid; its status as tb_wait, or -1 if it is
 * still running. */
static inline int tb_wait_for(pid_t pid, int timeout_ms)
{
    double deadline = tb_now_ms() + timeout_ms;
    int st;
    do {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 128;
        if (r < 0 && errno != EINTR)
            return 128;
        usleep(20 * 1000);
    } while (tb_now_ms() < deadline);
    return -1;
}

/* Stops a tb_spawn child and its whole group: SIGTERM, 3 s grace, SIGKILL. */
static inline void tb_stop(pid_t pid)
{
    int st;
    if (pid <= 0)
        return;
    kill(-pid, SIGTERM);
    for (int i = 0; i < 30; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        usleep(100 * 1000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* Reads one line (without the newline) from fd within timeout_ms; returns 0,
 * or -1 on EOF, error or timeout with whatever was read in buf. */
static inline int tb_read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;
    double deadline = tb_now_ms() + timeout_ms;
    buf[0] = '\0';
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - tb_now_ms());
        char c;
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        if (read(fd, &c, 1) != 1)
            return -1;
        if (c == '\n')
            return 0;
        if (n + 1 < size) {
            buf[n++] = c;
            buf[n] = '\0';
        }
    }
}

/* Runs a command built from fmt under `timeout limit_s`, stdout and stderr
 * together into out (truncated, NUL-terminated). Returns the exit status:
 * 124 when the limit was hit, 128+ when killed. */
static inline int tb_run(char *out, size_t size, int limit_s, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int fd, rc;
    size_t n = 0;
    pid_t pid;
    double deadline;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    pid = tb_spawn(cmd, limit_s, 1, &fd);
    if (pid < 0)
        return 128;
    /* `timeout` ends the command at limit_s; the extra margin covers its
     * -k grace, after which a descendant still holding the pipe is cut off. */
    deadline = tb_now_ms() + (limit_s + 10) * 1e3;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char chunk[4096];
        int left = (int)(deadline - tb_now_ms());
        ssize_t got;
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            print_error("`%s`: output still open after %d s; stopping it\n", cmd, limit_s + 10);
            close(fd);
            tb_stop(pid);
            return 124;
        }
        got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        for (ssize_t i = 0; i < got && n + 1 < size; i++)
            out[n++] = chunk[i];
        out[n] = '\0';
    }
    close(fd);
    rc = tb_wait(pid);
    return rc;
}

/* Copies the value of "KEY=value" lines in text into val (empty if absent). */
static inline void tb_get_kv(const char *text, const char *key, char *val, size_t size)
{
    size_t klen = strlen(key);
    const char *p = text;
    val[0] = '\0';
    while (p && *p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t n = strcspn(p + klen + 1, "\r\n");
            if (n >= size)
                n = size - 1;
            memcpy(val, p + klen + 1, n);
            val[n] = '\0';
            return;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
}

/* True when python3 can be run (the relay and the probe need it). */
static inline int tb_have_python(char *why, size_t size)
{
    char out[512];
    int rc = tb_run(out, sizeof out, 20, "python3 -c 'import asyncio, sys; sys.exit(sys.version_info < (3, 8))'");
    if (rc != 0)
        snprintf(why, size, "python3 >= 3.8 is needed (exit %d: %s)", rc, out);
    return rc == 0;
}

#endif
