/* scripts/testbed.sh end to end, where the machine permits it (root or
 * CAP_NET_ADMIN + CAP_SYS_ADMIN, network namespaces, veth, tbf: what
 * `testbed.sh check` tests). With a unique prefix it brings a testbed up
 * twice (`up` must recreate), then checks with scripts/testbed_probe.py:
 *   (a) the edge reaches the server address and neither the host's
 *       addresses nor the host's loopback (isolation; the server likewise);
 *   (b) a round trip through the edge address costs at least 2 x the one-way
 *       delay minus 1 ms (a lower bound only);
 *   (c) tc shows the configured rate on both veth ends;
 *   (d) `down` leaves no namespace, veth, state directory or relay behind
 *       (teardown runs `down` too, so a failing test cleans up as well);
 * plus `server`/`edge` pinning and thread variables, and `status`.
 * When `check` exits 77 the reason is printed, the test is skipped (cmocka)
 * and the executable exits 77, which ctest shows as Skipped. */
// ctest-labels: net slow
// ctest-skip-return-code: 77
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "hr_test.h"
#include "testbed_util.h"

#define TESTBED TB_SCRIPTS "/testbed.sh"
#define PROBE TB_SCRIPTS "/testbed_probe.py"
#define DELAY_MS 5

static struct {
    int skipped;
    char why[2048];
    char prefix[16];
    int cpu_server, cpu_edge;
    pid_t server;
    int server_fd;
} g;

static char out[1 << 16];

/* Runs testbed.sh with arguments (already shell-quoted), output into `out`. */
#define TB(limit, ...) tb_run(out, sizeof out, (limit), "bash '" TESTBED "' " __VA_ARGS__)

#define EXPECT_OK(rc, what)                                                                                    \
    do {                                                                                                       \
        int rc_ = (rc);                                                                                        \
        if (rc_ != 0) {                                                                                        \
            print_error("%s -> exit %d:\n%s\n", (what), rc_, out);                                             \
            fail();                                                                                            \
        }                                                                                                      \
    } while (0)

/* The first two CPUs this process may run on become the server's and the
 * edge's (one CPU: both share it), so pinning works in any cpuset. */
static void pick_cpus(void)
{
    cpu_set_t set;
    int found = 0;
    char num[16];
    g.cpu_server = g.cpu_edge = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE && found < 2; c++) {
            if (CPU_ISSET(c, &set)) {
                if (found++ == 0)
                    g.cpu_server = g.cpu_edge = c;
                else
                    g.cpu_edge = c;
            }
        }
    }
    snprintf(num, sizeof num, "%d", g.cpu_server);
    setenv("HR_SERVER_CPU", num, 1);
    snprintf(num, sizeof num, "%d", g.cpu_edge);
    setenv("HR_EDGE_CPU", num, 1);
}

static int setup(void **state)
{
    int rc;
    (void)state;
    snprintf(g.prefix, sizeof g.prefix, "hrt%ld", (long)getpid() % 10000000L);
    rc = TB(60, "check");
    if (rc == 77) {
        g.skipped = 1;
        snprintf(g.why, sizeof g.why, "%.2000s", out);
        return 0;
    }
    if (rc != 0) {
        print_error("testbed.sh check -> exit %d (want 0 or 77):\n%s\n", rc, out);
        return -1;
    }
    print_message("%s", out);
    if (!tb_have_python(g.why, sizeof g.why)) {
        /* check passed, so only the probe lacks python3: still not silent. */
        g.skipped = 1;
        return 0;
    }
    pick_cpus();
    return 0;
}

/* Runs even when the test failed half-way: nothing may outlive it. */
static int teardown(void **state)
{
    (void)state;
    if (g.skipped)
        return 0;
    if (g.server > 0) {
        tb_stop(g.server);
        close(g.server_fd);
        g.server = 0;
    }
    if (TB(60, "down --prefix %s", g.prefix) != 0)
        print_error("teardown: testbed.sh down --prefix %s failed:\n%s\n", g.prefix, out);
    return 0;
}

/* Bits per second of the first "rate N<unit>" that tc prints for dev. */
static double tc_rate(const char *ns, const char *dev)
{
    char text[4096], unit[16] = "";
    double v;
    const char *p;
    if (tb_run(text, sizeof text, 20, "tc -n '%s' qdisc show dev '%s'", ns, dev) != 0) {
        print_error("tc -n %s qdisc show dev %s failed:\n%s\n", ns, dev, text);
        return -1;
    }
    p = strstr(text, " rate ");
    if (!p || sscanf(p, " rate %lf%15[A-Za-z]", &v, unit) != 2) {
        print_error("no rate in the qdisc of %s/%s:\n%s\n", ns, dev, text);
        return -1;
    }
    if (strcmp(unit, "bit") == 0)
        return v;
    if (strcmp(unit, "Kbit") == 0)
        return v * 1e3;
    if (strcmp(unit, "Mbit") == 0)
        return v * 1e6;
    if (strcmp(unit, "Gbit") == 0)
        return v * 1e9;
    print_error("unknown rate unit '%s' in:\n%s\n", unit, text);
    return -1;
}

static void expect_rate(const char *state_text, double bps)
{
    char ns[64], dev[64];
    static const char *ends[2][2] = {{"SERVER_NS", "SERVER_DEV"}, {"EDGE_NS", "EDGE_DEV"}};
    for (int i = 0; i < 2; i++) {
        double got;
        tb_get_kv(state_text, ends[i][0], ns, sizeof ns);
        tb_get_kv(state_text, ends[i][1], dev, sizeof dev);
        got = tc_rate(ns, dev);
        if (got < bps * 0.999 || got > bps * 1.001) {
            print_error("%s/%s is shaped at %.0f bit/s, want %.0f\n", ns, dev, got, bps);
            fail();
        }
    }
}

static int in_list(const char *text, const char *ns_or_dev)
{
    /* Whole-word match at a line start (`ip netns list`, `ip -o link`). */
    size_t n = strlen(ns_or_dev);
    for (const char *p = text; (p = strstr(p, ns_or_dev)) != NULL; p += n) {
        int start = p == text || p[-1] == '\n' || p[-1] == ' ';
        int end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n' || p[n] == '@' || p[n] == ':';
        if (start && end)
            return 1;
    }
    return 0;
}

/* "--to A --to B ..." for every non-loopback address of the host namespace
 * (IPv6 link-local ones need a scope and are left out), at port. */
static int host_targets(char *buf, size_t size, int port)
{
    struct ifaddrs *ifa, *i;
    int count = 0;
    size_t n = 0;
    buf[0] = '\0';
    if (getifaddrs(&ifa) != 0)
        return 0;
    for (i = ifa; i; i = i->ifa_next) {
        char addr[INET6_ADDRSTRLEN];
        if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (i->ifa_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, addr, sizeof addr);
            n += (size_t)snprintf(buf + n, size - n, " --to %s:%d", addr, port);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            struct in6_addr *a6 = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr;
            if (IN6_IS_ADDR_LINKLOCAL(a6))
                continue;
            inet_ntop(AF_INET6, a6, addr, sizeof addr);
            n += (size_t)snprintf(buf + n, size - n, " --to [%s]:%d", addr, port);
        } else {
            continue;
        }
        count++;
        if (n + 64 >= size)
            break;
    }
    freeifaddrs(ifa);
    return count;
}

/* (a) from one namespace: every target in `targets` must fail to connect. */
static void expect_unreachable(const char *role, const char *targets)
{
    char text[8192];
    int rc = tb_run(text, sizeof text, 60, "bash '%s' %s --prefix %s python3 '%s' reach %s --timeout 2", TESTBED, role,
                    g.prefix, PROBE, targets);
    if (rc != 0) {
        print_error("reach from %s failed (exit %d):\n%s\n", role, rc, text);
        fail();
    }
    print_message("from the %s namespace:\n%s", role, text);
    for (const char *line = text; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
        const char *sp = strchr(line, ' ');
        if (sp && strncmp(sp, " ok", 3) == 0 && (sp[3] == '\n' || sp[3] == '\0')) {
            print_error("the %s namespace reached %.*s, which must be isolated from it\n", role, (int)(sp - line), line);
            fail();
        }
    }
}

static void test_testbed(void **state)
{
    char state_text[4096], addr[64], server_addr[64], via[16], line[256], targets[4096], text[4096];
    char run_dir[256], relay_pid[32];
    struct sockaddr_in lo = {.sin_family = AF_INET};
    socklen_t lo_len = sizeof lo;
    int lo_fd, n_host;
    double min_ms;
    (void)state;
    if (g.skipped) {
        print_message("testbed not permitted here: %s\n", g.why);
        skip();
    }

    /* A bad --burst or --relay-cpu is refused before anything is built. */
    assert_int_not_equal(TB(30, "up --prefix %s --burst 100", g.prefix), 0);
    assert_non_null(strstr(out, "--burst '100'"));
    assert_int_not_equal(TB(30, "up --prefix %s --relay-cpu 99999", g.prefix), 0);
    assert_non_null(strstr(out, "--relay-cpu '99999'"));

    /* `up` twice: the second must replace the first (other rate, relay). The
     * first sets the token bucket: two full frames. */
    EXPECT_OK(TB(90, "up --prefix %s --rate 1000mbit --delay-ms 0 --burst 3028", g.prefix),
              "up --rate 1000mbit --delay-ms 0 --burst 3028");
    tb_get_kv(out, "DELAY_VIA", via, sizeof via);
    assert_string_equal(via, "none");
    expect_rate(out, 1e9);
    {
        char ns[64], dev[64];
        tb_get_kv(out, "EDGE_NS", ns, sizeof ns);
        tb_get_kv(out, "EDGE_DEV", dev, sizeof dev);
        const char *b;
        unsigned v = 0;
        char unit[8] = "";
        assert_int_equal(tb_run(text, sizeof text, 20, "tc -n '%s' qdisc show dev '%s'", ns, dev), 0);
        /* tc shows the bucket as the kernel rounds it through its clock ticks */
        if (!(b = strstr(text, " burst ")) || sscanf(b, " burst %u%7[A-Za-z]", &v, unit) != 2 ||
            strcmp(unit, "b") != 0 || v < 2900 || v > 3100) {
            print_error("want a bucket of about 3028 bytes:\n%s\n", text);
            fail();
        }
    }
    EXPECT_OK(TB(90, "up --prefix %s --rate 100mbit --delay-ms %d --relay-cpu %d", g.prefix, DELAY_MS, g.cpu_edge),
              "up --rate 100mbit");
    snprintf(state_text, sizeof state_text, "%.4000s", out);
    tb_get_kv(state_text, "ADDR", addr, sizeof addr);
    tb_get_kv(state_text, "SERVER_ADDR", server_addr, sizeof server_addr);
    tb_get_kv(state_text, "DELAY_VIA", via, sizeof via);
    tb_get_kv(state_text, "RELAY_PID", relay_pid, sizeof relay_pid);
    print_message("testbed %s: edge dials %s, server on %s, delay via %s\n", g.prefix, addr, server_addr, via);
    assert_true(strcmp(via, "netem") == 0 || strcmp(via, "relay") == 0);
    assert_true(strcmp(via, "relay") != 0 || relay_pid[0] != '\0');
    if (strcmp(via, "relay") == 0) {
        /* --relay-cpu: the relay runs on the edge's CPU only */
        char path[64], want[32];
        snprintf(path, sizeof path, "/proc/%s/status", relay_pid);
        hr_test_read_file(path, text, sizeof text);
        snprintf(want, sizeof want, "Cpus_allowed_list:\t%d\n", g.cpu_edge);
        if (!strstr(text, want)) {
            print_error("the relay (pid %s) is not pinned to CPU %d:\n%s\n", relay_pid, g.cpu_edge, text);
            fail();
        }
    }

    /* (c) the configured rate on both ends, after the recreation. */
    expect_rate(state_text, 100e6);

    /* server/edge: pinned to their CPU, one thread. */
    EXPECT_OK(TB(30, "edge --prefix %s python3 -c 'import os; print(\"cpus\", sorted(os.sched_getaffinity(0)), "
                     "os.environ[\"OMP_NUM_THREADS\"], os.environ[\"OPENBLAS_NUM_THREADS\"])'",
                 g.prefix),
              "edge python3 (affinity)");
    snprintf(line, sizeof line, "cpus [%d] 1 1", g.cpu_edge);
    if (!strstr(out, line)) {
        print_error("edge: want '%s', got:\n%s\n", line, out);
        fail();
    }
    EXPECT_OK(TB(30, "server --prefix %s python3 -c 'import os; print(\"cpus\", sorted(os.sched_getaffinity(0)))'",
                 g.prefix),
              "server python3 (affinity)");
    snprintf(line, sizeof line, "cpus [%d]", g.cpu_server);
    assert_non_null(strstr(out, line));

    /* The probe server in the server namespace. */
    {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "exec bash '%s' server --prefix %s python3 '%s' serve --listen %s --lifetime 120",
                 TESTBED, g.prefix, PROBE, server_addr);
        g.server = tb_spawn(cmd, 150, 0, &g.server_fd);
        assert_true(g.server > 0);
        if (tb_read_line(g.server_fd, line, sizeof line, 30000) != 0 || strncmp(line, "READY ", 6) != 0) {
            print_error("probe server in the server namespace did not start: '%s'\n", line);
            fail();
        }
    }

    /* (a) isolation. A listener on the host's loopback, which the edge's own
     * loopback must not reach, and every host address, which the namespaces
     * have no route to. */
    lo_fd = socket(AF_INET, SOCK_STREAM, 0);
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lo_fd, (struct sockaddr *)&lo, sizeof lo), 0);
    assert_int_equal(listen(lo_fd, 4), 0);
    assert_int_equal(getsockname(lo_fd, (struct sockaddr *)&lo, &lo_len), 0);
    n_host = host_targets(targets, sizeof targets - 64, ntohs(lo.sin_port));
    if (n_host == 0)
        print_message("the host has no non-loopback address: isolation checked against its loopback only\n");
    snprintf(targets + strlen(targets), 64, " --to 127.0.0.1:%d", ntohs(lo.sin_port));
    {
        char reach[4096];
        int rc = tb_run(reach, sizeof reach, 60, "bash '%s' edge --prefix %s python3 '%s' reach --to %s --to %s",
                        TESTBED, g.prefix, PROBE, server_addr, addr);
        if (rc != 0 || !strstr(reach, " ok\n")) {
            print_error("edge reach %s -> %d:\n%s\n", server_addr, rc, reach);
            fail();
        }
        snprintf(line, sizeof line, "%s ok\n", server_addr);
        if (!strstr(reach, line)) {
            print_error("the edge does not reach the server at %s:\n%s\n", server_addr, reach);
            fail();
        }
        snprintf(line, sizeof line, "%s ok\n", addr);
        if (!strstr(reach, line)) {
            print_error("the edge does not reach its dial address %s:\n%s\n", addr, reach);
            fail();
        }
    }
    expect_unreachable("edge", targets);
    expect_unreachable("server", targets);
    close(lo_fd);

    /* (b) the round trip through the edge's address carries the delay twice. */
    EXPECT_OK(TB(60, "edge --prefix %s python3 '%s' rtt --to %s --count 20 --size 64", g.prefix, PROBE, addr),
              "edge rtt");
    {
        const char *p = strstr(out, "\"min_ms\": ");
        assert_non_null(p);
        min_ms = strtod(p + 10, NULL);
    }
    print_message("round trip through %s (delay %d ms each way via %s): %s", addr, DELAY_MS, via, out);
    if (min_ms < 2.0 * DELAY_MS - 1.0) {
        print_error("fastest round trip %.3f ms < %.1f ms (2 x %d ms one-way delay - 1 ms)\n", min_ms,
                    2.0 * DELAY_MS - 1.0, DELAY_MS);
        fail();
    }
    /* A small transfer arrives whole through shaping and delay. */
    EXPECT_OK(TB(60, "edge --prefix %s python3 '%s' bulk --to %s --bytes 1000000", g.prefix, PROBE, addr),
              "edge bulk 1 MB");

    EXPECT_OK(TB(30, "status --prefix %s", g.prefix), "status");
    assert_non_null(strstr(out, "100Mbit"));
    if (strcmp(via, "relay") == 0)
        assert_non_null(strstr(out, "running"));

    /* (d) down removes everything, and stops what still ran inside. */
    EXPECT_OK(TB(60, "down --prefix %s", g.prefix), "down");
    {
        /* The probe server was still running in the server namespace: down
         * must have stopped it (TERM, or KILL after the grace period). */
        int rc = tb_wait_for(g.server, 15000);
        if (rc != 128 + SIGTERM && rc != 128 + SIGKILL) {
            print_error("the probe server in the server namespace: status %d after down (want killed)\n", rc);
            fail();
        }
        close(g.server_fd);
        g.server = 0;
    }
    assert_int_equal(tb_run(text, sizeof text, 20, "ip netns list"), 0);
    snprintf(line, sizeof line, "%s-srv", g.prefix);
    assert_false(in_list(text, line));
    snprintf(line, sizeof line, "%s-edge", g.prefix);
    assert_false(in_list(text, line));
    assert_int_equal(tb_run(text, sizeof text, 20, "ip -o link show"), 0);
    snprintf(line, sizeof line, " %s-s", g.prefix);
    assert_null(strstr(text, line));
    snprintf(line, sizeof line, " %s-e", g.prefix);
    assert_null(strstr(text, line));
    snprintf(run_dir, sizeof run_dir, "/run/hyperrep-testbed-%s", g.prefix);
    {
        struct stat st;
        if (!getenv("HR_TESTBED_RUNDIR"))
            assert_int_not_equal(stat(run_dir, &st), 0);
    }
    if (relay_pid[0]) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%s/cmdline", relay_pid);
        hr_test_read_file(path, text, sizeof text);
        assert_null(strstr(text, "delay_relay"));
    }
    /* down on a testbed that is already down is fine too. */
    EXPECT_OK(TB(60, "down --prefix %s", g.prefix), "second down");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_testbed, NULL, teardown),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    /* 77 tells ctest (SKIP_RETURN_CODE) the testbed could not be built here. */
    if (rc == 0 && g.skipped) {
        fprintf(stderr, "testbed not permitted here: %s\n", g.why);
        return 77;
    }
    return rc;
}
