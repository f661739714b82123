/* tools/delay_relay (hyperrep-delay-relay) on loopback, no privileges
 * needed: the relay runs as a child process with --delay-ms 20 in front of
 * an echo server that runs in threads of this test. Checks: bytes arrive
 * intact and in order in both directions (1 B to 1 MiB); a round trip costs
 * at least 2 x 20 ms and not absurdly more; a half-close crosses the relay
 * while the other direction stays open, and the relay's accounting of it;
 * bounded buffering when the server stops reading; a reset on one side
 * reaches the other as a reset; a refused onward connection; bad arguments;
 * a clean stop on SIGTERM. scripts/delay_relay.py, the Python twin, has the
 * same checks in tests/net/test_relay.c. */
// ctest-labels: net
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include "hr_test.h"
#include "../net/testbed_util.h"

#define RELAY HR_DELAY_RELAY_PATH
#define DELAY_MS 20
#define CAP (256 * 1024)
#define N_TAGS 64

/* What the echo server saw on one connection, found by the tag byte the
 * client sends after the mode byte. */
struct outcome {
    int done;    /* the server closed its end */
    int eof;     /* ... after reading a clean EOF */
    int err;     /* ... after this errno (0: none) */
    long echoed; /* payload bytes echoed back */
};

static struct {
    pid_t relay;
    int relay_fd, relay_port;
    char dir[512], log[700];
    int listen_fd, server_port;
    pthread_t acceptor;
    int stop;
    pthread_mutex_t lock;
    struct outcome seen[N_TAGS];
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------ echo server */

static int recv_some(int fd, void *buf, size_t n)
{
    ssize_t r;
    do
        r = recv(fd, buf, n, 0);
    while (r < 0 && errno == EINTR);
    return (int)r;
}

static int send_every(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One server connection. The client's first byte picks the mode, the second
 * is its tag: 'E' echoes until EOF, then closes; 'H' never reads and waits
 * (at most 60 s) for the connection to be reset or closed. */
static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char head[2], *buf = malloc(65536);
    struct outcome o = {0};
    int tag = -1;
    if (buf && recv_some(fd, head, 1) == 1 && recv_some(fd, head + 1, 1) == 1 && head[1] < N_TAGS) {
        tag = head[1];
        if (head[0] == 'E') {
            for (;;) {
                int r = recv_some(fd, buf, 65536);
                if (r == 0) {
                    o.eof = 1;
                    break;
                }
                if (r < 0 || send_every(fd, buf, (size_t)r) != 0) {
                    o.err = errno;
                    break;
                }
                o.echoed += r;
            }
        } else {
            struct pollfd p = {.fd = fd, .events = POLLRDHUP};
            poll(&p, 1, 60000);
        }
    }
    free(buf);
    close(fd);
    if (tag >= 0) {
        o.done = 1;
        pthread_mutex_lock(&g.lock);
        g.seen[tag] = o;
        pthread_mutex_unlock(&g.lock);
    }
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g.stop, __ATOMIC_RELAXED)) {
        struct pollfd p = {.fd = g.listen_fd, .events = POLLIN};
        pthread_t t;
        int fd, rcvbuf = 65536;
        if (poll(&p, 1, 100) <= 0)
            continue;
        fd = accept(g.listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        /* A small receive buffer keeps the hold test's kernel buffering small. */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
    return NULL;
}

static struct outcome wait_outcome(int tag, int timeout_ms)
{
    double deadline = tb_now_ms() + timeout_ms;
    struct outcome o;
    for (;;) {
        pthread_mutex_lock(&g.lock);
        o = g.seen[tag];
        pthread_mutex_unlock(&g.lock);
        if (o.done || tb_now_ms() > deadline)
            return o;
        usleep(10 * 1000);
    }
}

/* ------------------------------------------------------------ the relay */

static int read_port_file(const char *path, int timeout_ms)
{
    double deadline = tb_now_ms() + timeout_ms;
    while (tb_now_ms() < deadline) {
        FILE *f = fopen(path, "r");
        if (f) {
            char host[128];
            int port = 0;
            int ok = fscanf(f, "%127s %d", host, &port) == 2;
            fclose(f);
            if (ok)
                return port;
        }
        usleep(20 * 1000);
    }
    return -1;
}

static void dump_log(const char *path)
{
    char text[8192];
    hr_test_read_file(path, text, sizeof text);
    print_error("relay log (%s):\n%s\n", path, text);
}

/* Waits up to timeout_ms for needle to appear in the log at path. */
static int log_has(const char *path, const char *needle, int timeout_ms)
{
    double deadline = tb_now_ms() + timeout_ms;
    char text[16384];
    do {
        hr_test_read_file(path, text, sizeof text);
        if (strstr(text, needle))
            return 1;
        usleep(20 * 1000);
    } while (tb_now_ms() < deadline);
    return 0;
}

/* The echo server on a free loopback port and the relay in front of it. */
static int setup(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    char cmd[2048], ready[700];
    (void)state;
    g.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (g.listen_fd < 0 || bind(g.listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(g.listen_fd, 64) != 0 ||
        getsockname(g.listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        print_error("echo server on 127.0.0.1: %s\n", strerror(errno));
        return -1;
    }
    g.server_port = ntohs(a.sin_port);
    if (pthread_create(&g.acceptor, NULL, accept_loop, NULL) != 0) {
        print_error("pthread_create for the echo server failed\n");
        return -1;
    }
    snprintf(g.dir, sizeof g.dir, "%s", hr_test_tmpdir());
    snprintf(ready, sizeof ready, "%s/relay.ready", g.dir);
    snprintf(g.log, sizeof g.log, "%s/relay.log", g.dir);
    snprintf(cmd, sizeof cmd,
             "exec '%s' --listen 127.0.0.1:0 --to 127.0.0.1:%d --delay-ms %d --buffer-cap %d --ready-file '%s' "
             "2>'%s'",
             RELAY, g.server_port, DELAY_MS, CAP, ready, g.log);
    g.relay = tb_spawn(cmd, 300, 0, &g.relay_fd);
    g.relay_port = g.relay > 0 ? read_port_file(ready, 20000) : -1;
    if (g.relay_port <= 0) {
        print_error("the relay did not report ready in %s\n", ready);
        dump_log(g.log);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g.relay > 0) {
        tb_stop(g.relay);
        close(g.relay_fd);
    }
    __atomic_store_n(&g.stop, 1, __ATOMIC_RELAXED);
    pthread_join(g.acceptor, NULL);
    close(g.listen_fd);
    return 0;
}

/* A blocking TCP connection to 127.0.0.1:port with 20 s send/receive limits
 * (a relay bug fails the test rather than hanging it), Nagle off. */
static int dial(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 20};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        print_error("connect 127.0.0.1:%d: %s\n", port, strerror(errno));
        fail();
    }
    return fd;
}

/* dial, then the mode byte and the tag for the echo server. */
static int open_echo(char mode, int tag)
{
    unsigned char head[2] = {(unsigned char)mode, (unsigned char)tag};
    int fd = dial(g.relay_port);
    if (send_every(fd, head, 2) != 0) {
        print_error("send of the mode byte: %s\n", strerror(errno));
        fail();
    }
    return fd;
}

static void recv_exact(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        int r = recv_some(fd, p, n);
        if (r <= 0) {
            print_error("recv: %s with %zu bytes still expected\n", r == 0 ? "EOF" : strerror(errno), n);
            dump_log(g.log);
            fail();
        }
        p += r;
        n -= (size_t)r;
    }
}

/* Sends out[0..n) and reads the echo into in, interleaved (non-blocking) so
 * neither side can stall on full buffers; fails after 30 s. */
static void echo_exchange(int fd, const unsigned char *out, unsigned char *in, size_t n)
{
    size_t sent = 0, got = 0;
    double deadline = tb_now_ms() + 30000;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (got < n) {
        struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (sent < n ? POLLOUT : 0))};
        if (tb_now_ms() > deadline || poll(&p, 1, 1000) < 0) {
            print_error("echo of %zu bytes through the relay: %zu sent, %zu back after 30 s\n", n, sent, got);
            dump_log(g.log);
            fail();
        }
        if ((p.revents & POLLOUT) && sent < n) {
            ssize_t w = send(fd, out + sent, n - sent > 65536 ? 65536 : n - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, in + got, n - got, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                print_error("the echo ended after %zu of %zu bytes: %s\n", got, n, r == 0 ? "EOF" : strerror(errno));
                dump_log(g.log);
                fail();
            }
            if (r > 0)
                got += (size_t)r;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

/* ------------------------------------------------------------ tests */

/* A position-dependent pattern of each size echoed back: any loss,
 * duplication or reordering of a chunk in either direction changes the
 * bytes. Sizes straddle the relay's 64 KiB read and its 256 KiB cap. */
static void test_order_and_integrity(void **state)
{
    static const size_t sizes[] = {1, 100, 800, 4096, 65535, 65536, 65537, 262145, 1 << 20};
    unsigned char *out = malloc(1 << 20), *in = malloc(1 << 20);
    (void)state;
    assert_non_null(out);
    assert_non_null(in);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        int fd;
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)(((i + 7 * k) * 2654435761u) >> 13);
        memset(in, 0, n);
        fd = open_echo('E', (int)k);
        echo_exchange(fd, out, in, n);
        if (memcmp(out, in, n) != 0) {
            size_t i = 0;
            while (out[i] == in[i])
                i++;
            print_error("echo of %zu bytes differs first at byte %zu\n", n, i);
            fail();
        }
        close(fd);
    }
    free(out);
    free(in);
}

/* Every round trip carries the one-way delay twice: each must take at least
 * 2 x 20 ms (the relay never writes before a chunk's time, on the same
 * monotonic clock as ours). The upper bound (+200 ms) is checked on the
 * fastest of the round trips, so one stall of a loaded machine cannot fail
 * it. */
static void test_round_trip_delay(void **state)
{
    char msg[32], back[32];
    double fastest = 1e9;
    int fd;
    (void)state;
    fd = open_echo('E', 20);
    for (int i = 0; i < 7; i++) {
        double t0, rtt;
        memset(msg, 'a' + i, sizeof msg);
        t0 = tb_now_ms();
        assert_int_equal(send_every(fd, msg, sizeof msg), 0);
        recv_exact(fd, back, sizeof back);
        rtt = tb_now_ms() - t0;
        assert_memory_equal(msg, back, sizeof msg);
        if (rtt < 2.0 * DELAY_MS) {
            print_error("round trip %d took %.3f ms through a relay with %d ms each way (want >= %d)\n", i, rtt,
                        DELAY_MS, 2 * DELAY_MS);
            fail();
        }
        fastest = rtt < fastest ? rtt : fastest;
    }
    print_message("fastest round trip through the relay: %.3f ms (2 x %d ms delay)\n", fastest, DELAY_MS);
    if (fastest >= 2.0 * DELAY_MS + 200.0) {
        print_error("the fastest of 7 round trips took %.3f ms (want < %d)\n", fastest, 2 * DELAY_MS + 200);
        fail();
    }
    close(fd);
}

/* shutdown(SHUT_WR) on the client crosses the relay as a half-close: the
 * server sees EOF after all the data, while the echo of that data still
 * comes back through the other direction; the server's close then reaches
 * the client as EOF, and the relay logs both directions' byte counts. */
static void test_half_close(void **state)
{
    enum { N = 100000, TAG = 21 };
    unsigned char *out = malloc(N), *in = malloc(N + 1);
    struct outcome o;
    char needle[128];
    size_t got = 0;
    int fd, r;
    (void)state;
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < N; i++)
        out[i] = (unsigned char)(i * 131u >> 3);
    fd = open_echo('E', TAG);
    assert_int_equal(send_every(fd, out, N), 0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    while ((r = recv_some(fd, in + got, N + 1 - got)) > 0)
        got += (size_t)r;
    if (r < 0) {
        print_error("recv after the half-close: %s after %zu bytes\n", strerror(errno), got);
        dump_log(g.log);
        fail();
    }
    assert_int_equal(got, N);
    assert_memory_equal(out, in, N);
    o = wait_outcome(TAG, 5000);
    assert_true(o.done);
    assert_true(o.eof);
    assert_int_equal(o.echoed, N);
    /* The client's 2 header bytes and the payload went up, the echo down. */
    snprintf(needle, sizeof needle, "closed: up %d bytes, down %d bytes", N + 2, N);
    if (!log_has(g.log, needle, 5000)) {
        print_error("no '%s' in the relay's log\n", needle);
        dump_log(g.log);
        fail();
    }
    close(fd);
    free(out);
    free(in);
}

static long proc_max(const char *path)
{
    char text[256];
    long a, b, c;
    hr_test_read_file(path, text, sizeof text);
    return sscanf(text, "%ld %ld %ld", &a, &b, &c) == 3 ? c : 64L << 20;
}

/* Against a server that never reads, the relay must stop reading too: what
 * the client manages to write is bounded by the relay's cap plus the kernel
 * buffers on the way (bounded from /proc), far below what an unbounded relay
 * would swallow. Writing stops after 1.5 s without progress; that only ends
 * the test early, a slow machine cannot make it fail. */
static void test_back_pressure(void **state)
{
    static char chunk[65536];
    long rmem = proc_max("/proc/sys/net/ipv4/tcp_rmem"), wmem = proc_max("/proc/sys/net/ipv4/tcp_wmem");
    int sndbuf = 65536, fd;
    socklen_t len = sizeof sndbuf;
    long bound, attempt, total = 0;
    (void)state;
    fd = dial(g.relay_port);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    assert_int_equal(send_every(fd, "H\x16", 2), 0);
    /* relay: cap + one read chunk + its receive buffer (from us) + its send
     * buffer (to the server); the server's 64 KiB receive buffer (doubled by
     * the kernel); our own send buffer; 4 MiB for what that misses. */
    bound = CAP + 65536 + rmem + wmem + 2 * 65536 + sndbuf + (4L << 20);
    attempt = 2 * bound + (16L << 20);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (total < attempt) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        ssize_t w;
        if (poll(&p, 1, 1500) <= 0)
            break;
        w = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0) {
            print_error("send to the relay failed after %ld bytes: %s\n", total, strerror(errno));
            dump_log(g.log);
            fail();
        }
        total += w;
    }
    print_message("relay accepted %ld bytes toward a non-reading server (bound %ld, tried %ld)\n", total, bound,
                  attempt);
    if (total >= bound) {
        print_error("the relay buffered without bound: %ld bytes accepted, bound %ld\n", total, bound);
        fail();
    }
    assert_int_equal(kill(g.relay, 0), 0);
    close(fd);
}

/* A client that resets its connection (SO_LINGER 0) ends both sides at
 * once: the server gets a reset too, not an EOF that would claim the stream
 * ended whole, and the relay logs the error. */
static void test_reset(void **state)
{
    enum { TAG = 23 };
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    char msg[64] = "before the reset", back[64];
    struct outcome o;
    int fd;
    (void)state;
    fd = open_echo('E', TAG);
    assert_int_equal(send_every(fd, msg, sizeof msg), 0);
    recv_exact(fd, back, sizeof back);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
    o = wait_outcome(TAG, 5000);
    if (!o.done || o.eof || o.err != ECONNRESET) {
        print_error("server side after the client's reset: done %d, eof %d, errno %d (%s); want a reset\n", o.done,
                    o.eof, o.err, strerror(o.err));
        dump_log(g.log);
        fail();
    }
    if (!log_has(g.log, "read error: ", 5000)) {
        print_error("no 'read error: ' in the relay's log\n");
        dump_log(g.log);
        fail();
    }
}

/* Starts a relay with stderr into log_path, directly (not under `timeout`),
 * so its own exit status can be read; returns its pid and port. */
static pid_t start_own_relay(int to_port, const char *ready, const char *log_path, int *port)
{
    char to[32];
    pid_t pid;
    snprintf(to, sizeof to, "127.0.0.1:%d", to_port);
    unlink(ready);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        execl(RELAY, RELAY, "--listen", "127.0.0.1:0", "--to", to, "--delay-ms", "1", "--ready-file", ready,
              (char *)NULL);
        _exit(127);
    }
    *port = read_port_file(ready, 20000);
    if (*port <= 0) {
        kill(pid, SIGKILL);
        tb_wait(pid);
        print_error("the relay did not report ready in %s\n", ready);
        dump_log(log_path);
        fail();
    }
    return pid;
}

/* Nothing listens behind this relay: the client's connection is closed
 * (EOF) instead of hanging, and the relay keeps running. */
static void test_refused_onward(void **state)
{
    char ready[700], log[700], c;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int hold, fd, port;
    pid_t relay;
    (void)state;
    /* A bound, never-listening socket reserves a port that refuses. */
    hold = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(hold, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(hold, (struct sockaddr *)&a, &alen), 0);
    snprintf(ready, sizeof ready, "%s/refused.ready", g.dir);
    snprintf(log, sizeof log, "%s/refused.log", g.dir);
    relay = start_own_relay(ntohs(a.sin_port), ready, log, &port);
    fd = dial(port);
    assert_int_equal(recv(fd, &c, 1, 0), 0);
    close(fd);
    assert_int_equal(kill(relay, 0), 0);
    kill(relay, SIGTERM);
    assert_int_equal(tb_wait_for(relay, 10000), 0);
    close(hold);
    if (!log_has(log, "cannot connect to 127.0.0.1:", 0)) {
        dump_log(log);
        fail();
    }
}

/* SIGTERM with a connection open: the relay logs "stopping", ends the
 * connection (the client sees it end) and exits 0. */
static void test_sigterm_stops_cleanly(void **state)
{
    char ready[700], log[700], c;
    int fd, port, rc;
    ssize_t r;
    pid_t relay;
    (void)state;
    snprintf(ready, sizeof ready, "%s/stop.ready", g.dir);
    snprintf(log, sizeof log, "%s/stop.log", g.dir);
    relay = start_own_relay(g.server_port, ready, log, &port);
    fd = dial(port);
    assert_int_equal(send_every(fd, "E\x18x", 3), 0);
    recv_exact(fd, &c, 1);
    assert_int_equal(c, 'x');
    assert_int_equal(kill(relay, SIGTERM), 0);
    rc = tb_wait_for(relay, 10000);
    if (rc != 0) {
        print_error("the relay after SIGTERM: %s %d (want exit 0)\n", rc < 0 ? "still running," : "status", rc);
        if (rc < 0) {
            kill(relay, SIGKILL);
            tb_wait(relay);
        }
        dump_log(log);
        fail();
    }
    r = recv(fd, &c, 1, 0);
    assert_true(r <= 0);
    close(fd);
    if (!log_has(log, "stopping", 0) || !log_has(log, "relay stopping: up 3 bytes, down 1 bytes", 0)) {
        dump_log(log);
        fail();
    }
}

static void test_bad_arguments(void **state)
{
    static const struct {
        const char *args, *needle;
    } cases[] = {
        {"--listen 127.0.0.1:0 --to 127.0.0.1:0 --delay-ms 5", "--to: port 0"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms -3", "--delay-ms: -3 is outside"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 99999999", "--delay-ms"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms nan", "--delay-ms"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms five", "invalid float value: 'five'"},
        {"--listen nonsense --to 127.0.0.1:9 --delay-ms 5", "--listen: 'nonsense' is not HOST:PORT"},
        {"--listen 127.0.0.1:70000 --to 127.0.0.1:9 --delay-ms 5", "--listen: port '70000'"},
        {"--listen [::1 --to 127.0.0.1:9 --delay-ms 5", "is not [IPv6]:PORT"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 5 --buffer-cap 10", "--buffer-cap: 10 is outside"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 5 --rate 1e9", "--rate"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 5 --max-conns 0", "--max-conns"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9", "required: --delay-ms"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 5 --frobnicate 1", "unrecognized arguments: --frobnicate"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms", "--delay-ms: expected one argument"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 5 stray", "unrecognized arguments: stray"},
    };
    char out[4096];
    int rc;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rc = tb_run(out, sizeof out, 20, "'%s' %s", RELAY, cases[i].args);
        if (rc != 2 || !strstr(out, cases[i].needle) || !strstr(out, "usage:")) {
            print_error("hyperrep-delay-relay %s -> %d (want 2, with the usage and '%s'):\n%s\n", cases[i].args, rc,
                        cases[i].needle, out);
            fail();
        }
    }
    rc = tb_run(out, sizeof out, 20, "'%s' --help", RELAY);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--buffer-cap"));
    /* Nothing to bind to: a start-up failure exits 1 with the reason. */
    rc = tb_run(out, sizeof out, 20, "'%s' --listen 192.0.2.1:0 --to 127.0.0.1:9 --delay-ms 5", RELAY);
    if (rc != 1 || !strstr(out, "cannot listen on 192.0.2.1:0: bind:")) {
        print_error("hyperrep-delay-relay on an address this host lacks -> %d (want 1, naming bind):\n%s\n", rc, out);
        fail();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_integrity), cmocka_unit_test(test_round_trip_delay),
        cmocka_unit_test(test_half_close),          cmocka_unit_test(test_back_pressure),
        cmocka_unit_test(test_reset),               cmocka_unit_test(test_refused_onward),
        cmocka_unit_test(test_sigterm_stops_cleanly), cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
