/* Real mode across the network testbed, where the machine permits it
 * (scripts/testbed.sh check): the server side in one namespace and the edge
 * in the other, over a veth link shaped to 100 Mbit/s with a 2 ms one-way
 * delay (the user-space relay where the kernel lacks netem), each pinned to
 * its own CPU.
 *   1. `lut measure --remote` in the server namespace with `hyperrep client`
 *      in the edge namespace: the merged LUT records both devices, and the
 *      link it measured is the shaped one (below 200 Mbit/s; loopback
 *      measures thousands);
 *   2. `serve` in the server namespace, `infer --verify` from the edge: the
 *      classes the tail returns equal the whole model's on this side, and
 *      the report has measured and predicted fps.
 * When `check` exits 77 the reason is printed, the test is skipped and the
 * executable exits 77 (ctest: Skipped). Loopback runs of the same flows are
 * in tests/serve and tests/remote. */
// ctest-labels: net slow
// ctest-skip-return-code: 77
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <sched.h>

#include "hr_test.h"
#include "../net/testbed_util.h"

#define TESTBED TB_SCRIPTS "/testbed.sh"

static struct {
    int skipped;
    char why[2048];
    char prefix[16];
    char dir[512];
    pid_t server;
    int server_fd;
} g;

static char out[1 << 16];
HR_CLI_BUFFERS;

#define TB(limit, ...) tb_run(out, sizeof out, (limit), "bash '" TESTBED "' " __VA_ARGS__)

static int setup(void **state)
{
    int rc;
    (void)state;
    snprintf(g.prefix, sizeof g.prefix, "hrr%ld", (long)getpid() % 10000000L);
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
    if (!tb_have_python(g.why, sizeof g.why)) {
        g.skipped = 1; /* the relay needs python3: said, not silent */
        return 0;
    }
    snprintf(g.dir, sizeof g.dir, "%s", hr_test_tmpdir());
    /* the first two CPUs this process may use: server and edge (one CPU: shared) */
    cpu_set_t set;
    int cpus[2] = {0, 0}, found = 0;
    char num[16];
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
            if (CPU_ISSET(c, &set)) {
                cpus[found] = c;
                if (found++ == 0)
                    cpus[1] = c;
            }
    snprintf(num, sizeof num, "%d", cpus[0]);
    setenv("HR_SERVER_CPU", num, 1);
    snprintf(num, sizeof num, "%d", cpus[1]);
    setenv("HR_EDGE_CPU", num, 1);
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

static json_t *load(const char *name)
{
    char p[700];
    json_error_t je;
    snprintf(p, sizeof p, "%s/%s", g.dir, name);
    json_t *j = json_load_file(p, 0, &je);
    if (!j)
        fail_msg("%s: %s", p, je.text);
    return j;
}

static void test_real_mode_over_the_testbed(void **state)
{
    char addr[128], server_addr[128], cmd[4096];
    int rc, fd = -1;
    (void)state;
    if (g.skipped) {
        print_message("testbed not permitted here: %s\n", g.why);
        skip();
    }
    if (TB(120, "up --prefix %s --rate 100mbit --delay-ms 2", g.prefix) != 0)
        fail_msg("testbed.sh up failed:\n%s", out);
    tb_get_kv(out, "ADDR", addr, sizeof addr);
    tb_get_kv(out, "SERVER_ADDR", server_addr, sizeof server_addr);
    assert_true(addr[0] && server_addr[0]);

    /* 1. step 1 for real: the worker dials from the edge namespace */
    snprintf(cmd, sizeof cmd,
             "bash '" TESTBED "' server --prefix %s -- '%s' lut measure --remote --model repvgg-tiny "
             "--listen %s --insecure-plain-tcp --timeout-accept 60 --warmup 1 --repeat 3 --link-sizes 0.25,1,2 "
             "--link-repeats 3 -o '%s/lut.json'",
             g.prefix, HR_CLI_PATH, server_addr, g.dir);
    g.server = tb_spawn(cmd, 180, 1, &g.server_fd);
    assert_true(g.server > 0);
    /* the runner's $HR is the binary; `timeout` as tb_run's, on the whole process group */
    HR_EXPECT_RC(HR_RUN_SH(g.dir, hr_test_fmt("timeout -k 5 120 bash '" TESTBED "' edge --prefix %s -- \"$HR\" client "
                                              "--server %s --insecure-plain-tcp --timeout-reconnect 60", g.prefix, addr)),
                 0, err_text, "");
    rc = tb_wait_for(g.server, 120000);
    close(g.server_fd);
    g.server = 0;
    assert_int_equal(rc, 0);
    json_t *lut = load("lut.json"), *meta = json_object_get(lut, "metadata");
    json_t *devs = json_object_get(meta, "devices");
    assert_non_null(json_object_get(devs, "server"));
    assert_non_null(json_object_get(devs, "client"));
    json_t *link = load("link.json");
    double bw = json_number_value(json_object_get(link, "bandwidth_mbit_s"));
    if (!(bw > 0 && bw < 200))
        fail_msg("the link measured across the testbed is %g Mbit/s; tbf shapes it to 100", bw);
    json_decref(link);
    json_decref(lut);

    /* 2. deployment: serve in the server namespace, infer from the edge */
    snprintf(cmd, sizeof cmd,
             "bash '" TESTBED "' server --prefix %s -- '%s' serve --listen %s --insecure-plain-tcp --workers 1 "
             "--timeout-idle 60",
             g.prefix, HR_CLI_PATH, server_addr);
    g.server = tb_spawn(cmd, 180, 1, &fd);
    g.server_fd = fd;
    assert_true(g.server > 0);
    char line[512] = "";
    int up = 0;
    for (int i = 0; i < 20 && !up && tb_read_line(fd, line, sizeof line, 30000) == 0; i++)
        up = strstr(line, "listening on") != NULL;
    if (!up)
        fail_msg("serve did not start in the server namespace (last line: '%s')", line);
    hr_test_write_file((snprintf(cmd, sizeof cmd, "%s/cfg.json", g.dir), cmd), "{\"arch\": \"repvgg-tiny\", "
                       "\"split\": 3}", strlen("{\"arch\": \"repvgg-tiny\", \"split\": 3}"));
    HR_EXPECT_RC(HR_RUN_SH(g.dir, hr_test_fmt("timeout -k 5 120 bash '" TESTBED "' edge --prefix %s -- \"$HR\" infer "
                                              "--deploy '%s/cfg.json' --server %s --insecure-plain-tcp --frames 30 --warmup 3 --verify "
                                              "--lut '%s/lut.json' -o '%s/infer.json'",
                                              g.prefix, g.dir, addr, g.dir, g.dir)),
                 0, err_text, "");
    json_t *inf = load("infer.json");
    assert_true(json_number_value(json_object_get(inf, "measured_fps")) > 0);
    assert_true(json_number_value(json_object_get(inf, "predicted_fps")) > 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(inf, "verified"), "class_mismatches")), 0);
    json_decref(inf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test_setup_teardown(test_real_mode_over_the_testbed, NULL, teardown)};
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    /* 77 tells ctest (SKIP_RETURN_CODE) the testbed could not be built here. */
    if (rc == 0 && g.skipped) {
        fprintf(stderr, "testbed not permitted here: %s\n", g.why);
        return 77;
    }
    return rc;
}
