/* scripts/delay_relay.py on loopback, no privileges needed: the delay it adds
 * to a round trip (a lower bound only), byte order and integrity, half-close
 * in both directions, many connections at once, bounded buffering when the
 * receiver stops reading, a refused onward connection, and argument checks.
 * The counterpart is scripts/testbed_probe.py (echo / sink / hold server).
 * Skipped, with the reason printed and ctest told, when python3 is missing. */
// ctest-labels: net
// ctest-skip-return-code: 77
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "hr_test.h"
#include "testbed_util.h"

#define RELAY TB_SCRIPTS "/delay_relay.py"
#define PROBE TB_SCRIPTS "/testbed_probe.py"
#define DELAY_MS 20
#define CAP (256 * 1024)

static struct {
    int skipped;
    char why[1024];
    pid_t probe, relay;
    int probe_fd, relay_fd;
    int probe_port, relay_port;
    char dir[512], log[700];
} g;

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
        usleep(50 * 1000);
    }
    return -1;
}

static void dump_relay_log(void)
{
    char text[8192];
    hr_test_read_file(g.log, text, sizeof text);
    print_error("relay log (%s):\n%s\n", g.log, text);
}

/* One probe server (echo/sink/hold, receive buffer 64 KiB so the hold test's
 * kernel buffering stays small) and one relay in front of it. */
static int setup(void **state)
{
    char cmd[2048], line[256], ready[700];
    (void)state;
    if (!tb_have_python(g.why, sizeof g.why)) {
        g.skipped = 1;
        return 0;
    }
    snprintf(g.dir, sizeof g.dir, "%s", hr_test_tmpdir());
    snprintf(cmd, sizeof cmd, "exec python3 '%s' serve --listen 127.0.0.1:0 --rcvbuf 65536 --lifetime 120", PROBE);
    g.probe = tb_spawn(cmd, 150, 0, &g.probe_fd);
    if (g.probe < 0 || tb_read_line(g.probe_fd, line, sizeof line, 20000) != 0 ||
        sscanf(line, "READY %*s %d", &g.probe_port) != 1) {
        print_error("probe server did not start: '%s'\n", line);
        return -1;
    }
    snprintf(ready, sizeof ready, "%s/relay.ready", g.dir);
    snprintf(g.log, sizeof g.log, "%s/relay.log", g.dir);
    snprintf(cmd, sizeof cmd,
             "exec python3 '%s' --listen 127.0.0.1:0 --to 127.0.0.1:%d --delay-ms %d --buffer-cap %d "
             "--ready-file '%s' 2>'%s'",
             RELAY, g.probe_port, DELAY_MS, CAP, ready, g.log);
    g.relay = tb_spawn(cmd, 150, 0, &g.relay_fd);
    g.relay_port = g.relay > 0 ? read_port_file(ready, 20000) : -1;
    if (g.relay_port <= 0) {
        print_error("relay did not report ready\n");
        dump_relay_log();
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
    if (g.probe > 0) {
        tb_stop(g.probe);
        close(g.probe_fd);
    }
    return 0;
}

static void skip_if_needed(void)
{
    if (g.skipped) {
        print_message("delay relay test not possible here: %s\n", g.why);
        skip();
    }
}

/* A blocking TCP connection to 127.0.0.1:port with 20 s send/receive limits
 * (so a relay bug fails the test rather than hanging it), Nagle off. */
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

static void send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            print_error("send: %s\n", strerror(errno));
            fail();
        }
        p += w;
        n -= (size_t)w;
    }
}

static void recv_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            print_error("recv: %s with %zu bytes still expected\n", r == 0 ? "EOF" : strerror(errno), n);
            dump_relay_log();
            fail();
        }
        p += r;
        n -= (size_t)r;
    }
}

/* Every round trip through the relay carries the one-way delay twice. Only
 * the lower bound is checked (minus 1 ms for clock granularity); how much
 * longer it takes depends on the machine's load and is not the test's
 * business. */
static void test_round_trip_delay(void **state)
{
    char msg[32], back[32];
    int fd;
    (void)state;
    skip_if_needed();
    fd = dial(g.relay_port);
    send_all(fd, "E", 1);
    for (int i = 0; i < 5; i++) {
        double t0, rtt;
        memset(msg, 'a' + i, sizeof msg);
        t0 = tb_now_ms();
        send_all(fd, msg, sizeof msg);
        recv_all(fd, back, sizeof back);
        rtt = tb_now_ms() - t0;
        assert_memory_equal(msg, back, sizeof msg);
        if (rtt < 2.0 * DELAY_MS - 1.0) {
            print_error("round trip %d took %.3f ms through a relay with %d ms each way (want >= %.1f)\n", i, rtt,
                        DELAY_MS, 2.0 * DELAY_MS - 1.0);
            fail();
        }
    }
    close(fd);
}

/* 4 MiB of a position-dependent pattern echoed back: any reordering, loss or
 * duplication of a chunk in either direction changes the bytes. Reading and
 * writing are interleaved so the echo cannot deadlock on full buffers. */
static void test_order_and_integrity(void **state)
{
    enum { N = 4 << 20 };
    unsigned char *out, *in;
    size_t sent = 0, got = 0;
    int fd, fl;
    double deadline;
    (void)state;
    skip_if_needed();
    out = malloc(N);
    in = malloc(N);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < N; i++)
        out[i] = (unsigned char)((i * 2654435761u) >> 13);
    fd = dial(g.relay_port);
    send_all(fd, "E", 1);
    fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    deadline = tb_now_ms() + 30000;
    while (got < N) {
        struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (sent < N ? POLLOUT : 0))};
        if (tb_now_ms() > deadline || poll(&p, 1, 1000) < 0) {
            print_error("echo of %d bytes through the relay: %zu sent, %zu back after 30 s\n", N, sent, got);
            dump_relay_log();
            fail();
        }
        if ((p.revents & POLLOUT) && sent < N) {
            ssize_t w = send(fd, out + sent, N - sent > 65536 ? 65536 : N - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, in + got, N - got, 0);
            if (r == 0) {
                print_error("relay closed the echo after %zu of %d bytes\n", got, N);
                fail();
            }
            if (r > 0)
                got += (size_t)r;
        }
    }
    assert_memory_equal(out, in, N);
    close(fd);
    free(out);
    free(in);
}

/* The sink only answers after it has read EOF, so the reply proves that our
 * shutdown(SHUT_WR) crossed the relay as a half-close while the other
 * direction stayed open; the EOF after it proves the close came back. */
static void test_half_close(void **state)
{
    enum { N = 100000 };
    char *buf = calloc(N, 1), reply[64] = {0};
    size_t n = 0;
    ssize_t r;
    int fd;
    (void)state;
    skip_if_needed();
    assert_non_null(buf);
    fd = dial(g.relay_port);
    send_all(fd, "S", 1);
    send_all(fd, buf, N);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    while ((r = recv(fd, reply + n, sizeof reply - 1 - n, 0)) > 0)
        n += (size_t)r;
    if (r < 0) {
        print_error("recv after half-close: %s (got '%s')\n", strerror(errno), reply);
        dump_relay_log();
        fail();
    }
    assert_string_equal(reply, "100000\n");
    close(fd);
    free(buf);
}

/* Eight connections open at once, each echoing its own message. */
static void test_many_connections(void **state)
{
    enum { K = 8 };
    int fd[K];
    char msg[32], back[32];
    (void)state;
    skip_if_needed();
    for (int i = 0; i < K; i++) {
        fd[i] = dial(g.relay_port);
        send_all(fd[i], "E", 1);
    }
    for (int i = 0; i < K; i++) {
        snprintf(msg, sizeof msg, "connection %02d of %02d .........", i, K);
        send_all(fd[i], msg, sizeof msg);
    }
    for (int i = K - 1; i >= 0; i--) {
        snprintf(msg, sizeof msg, "connection %02d of %02d .........", i, K);
        recv_all(fd[i], back, sizeof back);
        assert_memory_equal(msg, back, sizeof msg);
        close(fd[i]);
    }
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
    skip_if_needed();
    fd = dial(g.relay_port);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    send_all(fd, "H", 1);
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
            dump_relay_log();
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

/* Nothing listens behind this relay: the client's connection is closed
 * instead of hanging, and the relay keeps running. */
static void test_refused_onward(void **state)
{
    char cmd[2048], ready[700], log[700], c;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    int hold, fd, rfd = -1, port;
    pid_t relay;
    (void)state;
    skip_if_needed();
    /* A bound, never-listening socket reserves a port that refuses. */
    hold = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(hold, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(hold, (struct sockaddr *)&a, &alen), 0);
    snprintf(ready, sizeof ready, "%s/refused.ready", g.dir);
    snprintf(log, sizeof log, "%s/refused.log", g.dir);
    snprintf(cmd, sizeof cmd, "exec python3 '%s' --listen 127.0.0.1:0 --to 127.0.0.1:%d --delay-ms 1 --ready-file '%s' 2>'%s'",
             RELAY, ntohs(a.sin_port), ready, log);
    relay = tb_spawn(cmd, 60, 0, &rfd);
    assert_true(relay > 0);
    port = read_port_file(ready, 20000);
    assert_true(port > 0);
    fd = dial(port);
    assert_int_equal(recv(fd, &c, 1, 0), 0);
    close(fd);
    assert_int_equal(kill(relay, 0), 0);
    tb_stop(relay);
    close(rfd);
    close(hold);
    hr_test_read_file(log, cmd, sizeof cmd);
    assert_non_null(strstr(cmd, "cannot connect"));
}

static void test_bad_arguments(void **state)
{
    static const struct {
        const char *args, *needle;
    } cases[] = {
        {"--listen 127.0.0.1:0 --to 127.0.0.1:0 --delay-ms 5", "--to"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms -3", "--delay-ms"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 99999999", "--delay-ms"},
        {"--listen nonsense --to 127.0.0.1:9 --delay-ms 5", "--listen"},
        {"--listen 127.0.0.1:70000 --to 127.0.0.1:9 --delay-ms 5", "--listen"},
        {"--listen 127.0.0.1:0 --to 127.0.0.1:9 --delay-ms 5 --buffer-cap 10", "--buffer-cap"},
    };
    char out[4096];
    (void)state;
    skip_if_needed();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tb_run(out, sizeof out, 20, "python3 '%s' %s", RELAY, cases[i].args);
        if (rc != 2 || !strstr(out, cases[i].needle)) {
            print_error("delay_relay.py %s -> %d (want 2, naming %s):\n%s\n", cases[i].args, rc, cases[i].needle, out);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_delay), cmocka_unit_test(test_order_and_integrity),
        cmocka_unit_test(test_half_close),       cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_back_pressure),    cmocka_unit_test(test_refused_onward),
        cmocka_unit_test(test_bad_arguments),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    /* 77 tells ctest (SKIP_RETURN_CODE) that nothing could run here. */
    if (rc == 0 && g.skipped) {
        fprintf(stderr, "delay relay test not possible here: %s\n", g.why);
        return 77;
    }
    return rc;
}
