/* The edge worker's own emulation (`hyperrep client --edge PROFILE |
 * --edge-slowdown F`, hr_worker_params.edge / edge_slowdown; SPEC §13.2):
 * the LUT it measures for the driver records the emulation, and a server
 * asking for a slowdown of its own is refused. Workers run in threads on
 * loopback; every wait is bounded; no result depends on timing. */
// ctest-labels: net
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/lut.h"
#include "hyperrep/net.h"
#include "hyperrep/remote.h"

static hr_net_params net_params(const char *role)
{
    hr_net_params p = hr_net_params_default();
    p.connect_timeout_ms = 10000;
    p.io_timeout_ms = 20000;
    p.role = role;
    p.name = strcmp(role, "client") == 0 ? "edge-test" : "server-test";
    return p;
}

typedef struct worker_thread {
    pthread_t th;
    hr_worker_params p;
    char addr[64];
    hr_status st;
    hr_error err;
} worker_thread;

static void *worker_main(void *arg)
{
    worker_thread *w = arg;
    w->st = hr_worker_run(&w->p, &w->err);
    return NULL;
}

/* A worker for one session, dialling the listener, with the given emulation. */
static hr_chan *start(worker_thread *w, hr_listener *l, const char *profile, double slowdown)
{
    hr_error err;
    hr_chan *c = NULL;
    memset(w, 0, sizeof *w);
    snprintf(w->addr, sizeof w->addr, "127.0.0.1:%d", hr_listener_port(l));
    w->p = hr_worker_params_default();
    w->p.net = net_params("client");
    w->p.server = w->addr;
    w->p.give_up_ms = 20000;
    w->p.max_sessions = 1;
    w->p.reply_timeout_ms = 20000;
    if (profile)
        HR_ASSERT_OK(hr_edge_profile_find(profile, &w->p.edge, &err), &err);
    w->p.edge_slowdown = slowdown;
    assert_int_equal(pthread_create(&w->th, NULL, worker_main, w), 0);
    HR_ASSERT_OK(hr_listener_accept(l, 20000, &c, &err), &err);
    return c;
}

static hr_listener *listen_any_port(void)
{
    hr_listener *l = NULL;
    hr_error err;
    hr_net_params p = net_params("server");
    HR_ASSERT_OK(hr_listener_open("127.0.0.1:0", &p, &l, &err), &err);
    return l;
}

static hr_remote_lut_params lut_params(double slowdown)
{
    hr_remote_lut_params p = hr_remote_lut_params_default();
    p.arch = "repvgg-tiny";
    p.warmup = 0;
    p.repeat = 2;
    p.slowdown = slowdown;
    p.idle_timeout_ms = 120000;
    return p;
}

static void finish(worker_thread *w, hr_chan *c, int shutdown)
{
    hr_error err;
    if (shutdown)
        HR_ASSERT_OK(hr_remote_shutdown(c, 10000, &err), &err);
    hr_chan_destroy(c);
    assert_int_equal(pthread_join(w->th, NULL), 0);
}

static void test_flat(void **state)
{
    (void)state;
    hr_error err;
    hr_device_lut *lut = NULL;
    hr_remote_device dev;
    worker_thread w;
    hr_listener *l = listen_any_port();
    hr_chan *c = start(&w, l, NULL, 2.5);
    hr_remote_lut_params p = lut_params(1);
    HR_ASSERT_OK(hr_remote_lut_measure(c, &p, hr_test_tmp_path("flat.json"), &lut, &dev, &err), &err);
    assert_true(dev.emulated);
    assert_true(dev.slowdown == 2.5);
    assert_true(lut->slowdown == 2.5);
    assert_non_null(strstr(lut->emulated, "flat --edge-slowdown"));
    assert_string_equal(lut->edge.name, "");
    hr_device_lut_destroy(lut);
    finish(&w, c, 1);
    HR_ASSERT_OK(w.st, &w.err);
    hr_listener_destroy(l);
}

static void test_profile(void **state)
{
    (void)state;
    hr_error err;
    hr_device_lut *lut = NULL;
    hr_remote_device dev;
    worker_thread w;
    hr_listener *l = listen_any_port();
    hr_chan *c = start(&w, l, "jetson-nano", 0);
    hr_remote_lut_params p = lut_params(1);
    HR_ASSERT_OK(hr_remote_lut_measure(c, &p, hr_test_tmp_path("profile.json"), &lut, &dev, &err), &err);
    /* the file the driver wrote records the profile and the host's roofline */
    assert_true(dev.emulated);
    assert_string_equal(lut->edge.name, "jetson-nano");
    assert_int_equal(lut->edge.host_threads, 1);
    assert_true(lut->edge.host_peak_gflops > 0);
    assert_true(lut->slowdown >= 1);
    /* the reply states the factor the file records (which keeps fewer digits) */
    assert_true(fabs(dev.slowdown - lut->slowdown) <= 1e-6 * lut->slowdown);
    assert_non_null(strstr(lut->emulated, "edge profile jetson-nano"));
    hr_device_lut_destroy(lut);
    finish(&w, c, 1);
    HR_ASSERT_OK(w.st, &w.err);
    hr_listener_destroy(l);
}

static void test_server_slowdown_refused(void **state)
{
    (void)state;
    hr_error err;
    hr_device_lut *lut = NULL;
    worker_thread w;
    hr_listener *l = listen_any_port();
    hr_chan *c = start(&w, l, "rpi4", 0);
    hr_remote_lut_params p = lut_params(3);
    assert_int_not_equal(hr_remote_lut_measure(c, &p, hr_test_tmp_path("no.json"), &lut, NULL, &err), HR_OK);
    assert_null(lut);
    if (!strstr(err.msg, "slowdown 3") || !strstr(err.msg, "rpi4") || !strstr(err.msg, "one emulation per LUT"))
        fail_msg("unexpected error: %s", err.msg);
    finish(&w, c, 0);
    hr_listener_destroy(l);
    /* and the parameters themselves */
    hr_worker_params wp = hr_worker_params_default();
    wp.server = "127.0.0.1:1";
    wp.edge_slowdown = 0.5;
    assert_int_equal(hr_worker_run(&wp, &err), HR_ERR_INVALID_ARG);
    HR_ASSERT_OK(hr_edge_profile_find("rpi4", &wp.edge, &err), &err);
    wp.edge_slowdown = 2;
    assert_int_equal(hr_worker_run(&wp, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "rpi4"));
}

int main(void)
{
    /* A bug must fail the run, never hang it. */
    alarm(600);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_server_slowdown_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
