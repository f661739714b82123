/* `hyperrep serve` and `hyperrep infer` end to end: the report infer -o
 * writes (in process, through a server in this process, with a LUT's
 * prediction, for the local and raw placements, from a joint output's exact
 * optimum (--use exact) and from the load generator), the
 * serve binary as a child process stopped by SIGTERM, and the errors both
 * commands give for configurations and addresses they refuse. Every wait is
 * bounded (the infer timeouts, a deadline on the child's port file); no
 * result depends on timing. */
// ctest-labels: net
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/serve.h"

HR_CLI_BUFFERS;
static char dir[512];

static void write_text(const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hr_test_write_file(path, text, strlen(text));
}

static json_t *load_json(const char *name)
{
    char path[700];
    json_error_t je;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        print_error("%s: %s\n", path, je.text);
        fail();
    }
    return j;
}

/* A number at a dotted path ("latency_ms.p99"); fails when absent. */
static double num(json_t *root, const char *path)
{
    char buf[200], *save = NULL;
    json_t *v = root;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    if (!json_is_number(v)) {
        print_error("%s is missing or not a number\n", path);
        fail();
    }
    return json_number_value(v);
}

static void check_report(json_t *j, int frames)
{
    assert_true(num(j, "measured_fps") > 0);
    assert_true(num(j, "sequential_fps") > 0);
    assert_true(num(j, "latency_ms.p50") > 0);
    assert_true(num(j, "latency_ms.p50") <= num(j, "latency_ms.p95"));
    assert_true(num(j, "latency_ms.p95") <= num(j, "latency_ms.p99"));
    assert_true(num(j, "stages.head_ms.p50") > 0);
    assert_true(num(j, "stages.tail_ms.p50") > 0);
    assert_true(num(j, "stages.end_to_end_ms.p99") > 0);
    num(j, "stages.link_queue_ms.p95");
    assert_int_equal((int)num(j, "pipelined.latency_ms.n"), frames);
    assert_int_equal((int)num(j, "sequential.latency_ms.n"), frames);
    assert_int_equal((int)num(j, "pipelined.window"), 2);
    assert_int_equal((int)num(j, "sequential.window"), 1);
    assert_true(json_object_get(j, "predicted_fps") != NULL);
}

static void test_in_process_report(void **state)
{
    (void)state;
    write_text("tiny.json", "{\"arch\": \"repvgg-tiny\", \"split\": 3}");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --frames 12 --warmup 2 -o infer.json", 0, out_text,
                  "fps pipelined");
    json_t *j = load_json("infer.json");
    check_report(j, 12);
    /* no LUT: no prediction, and the report says why */
    assert_true(json_is_null(json_object_get(j, "predicted_fps")));
    assert_true(json_is_false(json_object_get(json_object_get(j, "predicted"), "available")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "predicted"), "reason")),
                        "no --lut given");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "mode")), "in-process");
    json_decref(j);
}

static void test_prediction_from_lut(void **state)
{
    (void)state;
    HR_EXPECT_CLI(dir, "lut measure --role server --model repvgg-tiny --warmup 1 --repeat 3 -o s.json", 0, out_text,
                  "");
    HR_EXPECT_CLI(dir, "lut measure --role client --model repvgg-tiny --warmup 1 --repeat 3 -o c.json", 0, out_text,
                  "");
    HR_EXPECT_CLI(dir, "lut merge --server-lut s.json --client-lut c.json -o lut.json", 0, out_text, "");
    write_text("tiny.json", "{\"arch\": \"repvgg-tiny\", \"split\": 4}");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --frames 10 --warmup 1 --lut lut.json -o infer.json", 0,
                  out_text, "predicted (LUT lut.json)");
    json_t *j = load_json("infer.json");
    check_report(j, 10);
    double head = num(j, "predicted.head_ms"), link = num(j, "predicted.link_ms"), tail = num(j, "predicted.tail_ms");
    assert_true(head > 0 && link > 0 && tail > 0);
    /* sequential = 1000 / sum of the stages, pipelined = 1000 / the slowest */
    assert_true(fabs(num(j, "predicted_sequential_fps") - 1000.0 / num(j, "predicted.latency_ms")) < 1e-6 * 1000);
    assert_true(num(j, "predicted_fps") >= num(j, "predicted_sequential_fps"));
    assert_true(json_is_string(json_object_get(json_object_get(json_object_get(j, "predicted"), "devices"),
                                               "head (client)")));
    json_decref(j);
    /* a LUT of another model is refused with the reason, not used */
    write_text("fm.json", "{\"arch\": \"repvgg-fmnist\", \"split\": 4}");
    HR_EXPECT_CLI(
        dir, "infer --in-process --deploy fm.json --data random --frames 3 --warmup 0 --lut lut.json -o fm_out.json", 0,
        out_text, "no prediction: lut.json describes repvgg-tiny");
}

/* ---- a server in this process ---- */

typedef struct server {
    hr_server *srv;
    pthread_t th;
    char addr[64];
} server;

static void quiet(void *user, hr_log_level level, const char *line) { (void)user, (void)level, (void)line; }

static void *server_main(void *arg)
{
    server *s = arg;
    hr_server_run(s->srv, NULL);
    return NULL;
}

static void server_start(server *s)
{
    hr_server_params p = hr_server_params_default();
    hr_error err = {0};
    p.listen = "127.0.0.1:0";
    p.log = quiet;
    HR_ASSERT_OK(hr_server_create(&p, &s->srv, &err), &err);
    snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", hr_server_port(s->srv));
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_stop(server *s, hr_server_stats *st)
{
    hr_server_stop(s->srv);
    assert_int_equal(pthread_join(s->th, NULL), 0);
    hr_server_get_stats(s->srv, st);
    hr_server_destroy(s->srv);
}

static void test_through_server_and_load(void **state)
{
    server s;
    hr_server_stats st;
    char args[600];
    (void)state;
    server_start(&s);
    /* a joint output: split, γ per block and a pruned branch */
    write_text("joint.json",
               "{\"metadata\": {\"model\": \"repvgg-tiny\"}, \"stage1_accuracy\": {\"pruned_weights\": "
               "[\"stage2.1.hyper_1x1\"]}, \"final_configuration\": {\"split_point\": 2, \"gamma_config\": "
               "{\"stage1.1\": 9, \"stage2.1\": 5}}}");
    snprintf(args, sizeof args, "infer --server %s --deploy joint.json --frames 15 --warmup 2 --verify -o srv.json",
             s.addr);
    HR_EXPECT_CLI(dir, args, 0, out_text, "0 class mismatches");
    json_t *j = load_json("srv.json");
    check_report(j, 15);
    json_t *meta = json_object_get(j, "metadata");
    assert_string_equal(json_string_value(json_object_get(meta, "mode")), "server");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "format"), "name")), "hyperrep.infer");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "gamma"), "stage2.1")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "gamma"), "stage1.1")), 9);
    assert_int_equal((int)num(j, "verified.class_mismatches"), 0);
    assert_true(num(j, "verified.max_abs_logit_diff") <= 1e-4);
    assert_int_equal((int)num(j, "server_ack.split"), 2);
    json_decref(j);

    /* an emulated edge over the network: its link thread emulates the framing of every frame */
    snprintf(args, sizeof args,
             "infer --server %s --deploy joint.json --frames 6 --warmup 1 --edge-slowdown 2 -o emu.json", s.addr);
    HR_EXPECT_CLI(dir, args, 0, out_text, "edge emulated");
    j = load_json("emu.json");
    {
        json_t *fr = json_object_get(json_object_get(j, "edge_emulation"), "framing");
        json_int_t nf = json_integer_value(json_object_get(fr, "frames"));
        assert_true(nf >= 6);
        assert_true(json_integer_value(json_object_get(fr, "overruns")) <= nf);
        assert_int_equal(json_integer_value(json_object_get(fr, "untimed")), 0);
        assert_true(json_is_null(json_object_get(fr, "t_frame_ms"))); /* the flat form has no LUT */
    }
    json_decref(j);

    /* the load generator: 4 edges, each its own split */
    snprintf(args, sizeof args,
             "infer --server %s --deploy joint.json --clients 4 --fps 20 --duration 1 --vary-split -o load.json",
             s.addr);
    HR_EXPECT_CLI(dir, args, 0, out_text, "0 errors");
    j = load_json("load.json");
    assert_int_equal((int)num(j, "errors"), 0);
    assert_int_equal((int)num(j, "clients"), 4);
    assert_true(num(j, "frames") >= 4);
    assert_true(num(j, "aggregate_fps") > 0);
    assert_true(num(j, "latency_ms.p99") > 0);
    json_decref(j);
    server_stop(&s, &st);
    assert_int_equal(st.protocol_errors, 0);
    assert_int_equal(st.deployed, 6); /* the verified run, the emulated one and the 4 loaders */
}

static void test_refusals(void **state)
{
    (void)state;
    write_text("rawbad.json", "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"input_mean\": [0, 0, 0], "
                              "\"input_std\": [1, 0, 1]}");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy rawbad.json", 1, err_text,
                  "input_std[1] = 0 is not a finite number > 0");
    write_text("tiny.json", "{\"arch\": \"repvgg-tiny\", \"split\": 3}");
    HR_EXPECT_CLI(dir, "infer --deploy tiny.json", 2, err_text, "--server HOST:PORT");
    HR_EXPECT_CLI(dir, "infer --in-process --server 127.0.0.1:1 --deploy tiny.json", 2, err_text, "exclusive");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --window 0", 2, err_text, "--window");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy missing.json", 1, err_text, "missing.json");
    /* --config is the INI settings only: a deployment given with it names --deploy */
    HR_EXPECT_CLI(dir, "infer --in-process --config tiny.json", 2, err_text, "is now --deploy FILE");
    HR_EXPECT_CLI(dir, "infer --in-process", 2, err_text, "--deploy is required");
    /* -o and --output are one flag */
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --frames 2 --warmup 0 --output long.json", 0, out_text,
                  "");
    json_decref(load_json("long.json"));
    write_text("bad.json", "{\"arch\": \"repvgg-tiny\", \"split\": 3, \"gamma\": {\"stage1.0\": 13}}");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy bad.json", 1, err_text, "stage1.0: gamma 13");
    /* nothing listens on port 1 */
    HR_EXPECT_CLI(dir, "infer --server 127.0.0.1:1 --deploy tiny.json --frames 1", 1, err_text, "127.0.0.1:1");
    HR_EXPECT_CLI(dir, "serve --listen 0.0.0.0:0", 1, err_text, "loopback");
    HR_EXPECT_CLI(dir, "serve --workers 0", 2, err_text, "--workers");
    HR_EXPECT_CLI(dir, "serve --help", 0, out_text, "usage: hyperrep serve");
    HR_EXPECT_CLI(dir, "infer --help", 0, out_text, "usage: hyperrep infer");
    HR_EXPECT_CLI(dir, "infer --help", 0, out_text, "--use final|grid");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --use best", 2, err_text,
                  "--use: 'best' is not final or grid");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy tiny.json --use grid", 1, err_text, "no grid result");
    /* local: everything here, no server needed */
    write_text("local.json", "{\"arch\": \"repvgg-tiny\", \"split\": \"local\"}");
    HR_EXPECT_CLI(dir, "infer --deploy local.json --frames 5 --warmup 1 -o local_out.json", 0, out_text,
                  "no server needed");
    json_t *j = load_json("local_out.json");
    assert_true(num(j, "measured_fps") > 0);
    json_decref(j);
}

/* The serve binary as a child: it prints its port, serves an infer run and
 * stops cleanly on SIGTERM. */
static void test_serve_binary(void **state)
{
    char portfile[700], errfile[700], args[1200], text[64];
    pid_t pid;
    int port = 0;
    (void)state;
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    snprintf(errfile, sizeof errfile, "%s/serve.err", dir);
    unlink(portfile);
    snprintf(args, sizeof args, "serve --listen 127.0.0.1:0 --port-file '%s' --workers 1", portfile);
    pid = hr_test_spawn_cli(dir, args, NULL, errfile);
    for (int waited = 0; waited < 15000 && !port; waited += 20) {
        hr_test_read_file(portfile, text, sizeof text);
        port = (int)strtol(text, NULL, 10);
        if (!port)
            nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
    if (!port) {
        hr_test_wait_cli(pid, 0);
        fail_msg("serve did not write its port file within 15 s");
    }
    write_text("tiny.json", "{\"arch\": \"repvgg-tiny\", \"split\": 5}");
    snprintf(args, sizeof args, "infer --server 127.0.0.1:%d --deploy tiny.json --frames 8 --warmup 1 --name cam-7",
             port);
    int rc = HR_RUN_CLI(dir, args);
    kill(pid, SIGTERM);
    int status = hr_test_wait_cli(pid, 60000);
    HR_EXPECT_RC(rc, 0, err_text, "");
    assert_int_equal(status, 0);
    char log[8192];
    hr_test_read_file(errfile, log, sizeof log);
    if (!strstr(log, "(says \"cam-7\") connected") || !strstr(log, "SIGTERM received") ||
        !strstr(log, "18 frames, 0 protocol errors")) {
        print_error("serve log:\n%s\n", log);
        fail();
    }
}

/* The raw placement from the CLI: in process, through a server (also
 * the load generator), and chosen as the final configuration of a joint
 * output (--use final, the default, or its old name exact) whose grid
 * result is split 3 (--use grid); the report says the placement and the u8
 * crossing, and --verify compares with the whole model on the dequantised
 * frames. */
static void check_raw(json_t *j, const char *mode)
{
    json_t *meta = json_object_get(j, "metadata"), *x = json_object_get(j, "crossing");
    assert_string_equal(json_string_value(json_object_get(meta, "placement")), "raw");
    assert_string_equal(json_string_value(json_object_get(meta, "mode")), mode);
    assert_string_equal(json_string_value(json_object_get(x, "dtype")), "u8");
    assert_int_equal((int)num(j, "crossing.bytes"), 3 * 48 * 48);
    assert_int_equal((int)num(j, "verified.class_mismatches"), 0);
    assert_true(num(j, "verified.frames") > 0);
    assert_true(num(j, "verified.max_abs_logit_diff") <= 1e-4);
}

/* γ of a block in the report's metadata (block names hold a dot). */
static int report_gamma(json_t *j, const char *block)
{
    json_t *g = json_object_get(json_object_get(json_object_get(j, "metadata"), "gamma"), block);
    if (!json_is_integer(g)) {
        print_error("metadata.gamma[%s] is missing\n", block);
        fail();
    }
    return (int)json_integer_value(g);
}

static void test_raw_and_use_exact(void **state)
{
    server s;
    hr_server_stats st;
    char args[600];
    (void)state;
    write_text("raw.json", "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\"}");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy raw.json --frames 8 --warmup 1 --verify -o raw_ip.json", 0,
                  out_text, "split raw/7 (in-process, 6912 bytes per frame)");
    json_t *j = load_json("raw_ip.json");
    check_report(j, 8);
    check_raw(j, "in-process");
    json_decref(j);

    /* a joint output: the final configuration raw (split_point null), the
     * grid's split 3 with another γ */
    write_text("joint_raw.json",
               "{\"metadata\": {\"model\": \"repvgg-tiny\", \"head\": \"client\"}, \"stage1_accuracy\": "
               "{\"pruned_weights\": []}, \"final_configuration\": {\"split_point\": null, \"placement\": \"raw\", "
               "\"gamma_config\": {\"stage1.1\": 9, \"stage2.1\": 11}, \"pruned\": []}, \"stage2_throughput\": "
               "{\"optimal_split_point\": 3, \"optimal_gamma\": {\"stage1.1\": 13}, \"exact_optimum\": "
               "{\"placement\": \"raw\", \"optimal_gamma\": {\"stage1.1\": 9, \"stage2.1\": 11}}}}");
    HR_EXPECT_CLI(dir, "infer --in-process --deploy joint_raw.json --use grid --frames 4 --warmup 0 -o grid.json", 0,
                  out_text, "split 3/7");
    j = load_json("grid.json");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "metadata"), "placement")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "use")), "grid");
    assert_int_equal(report_gamma(j, "stage1.1"), 13);
    json_decref(j);

    server_start(&s);
    snprintf(args, sizeof args,
             "infer --server %s --deploy joint_raw.json --use exact --frames 10 --warmup 1 --verify -o exact.json",
             s.addr);
    HR_EXPECT_CLI(dir, args, 0, out_text, "0 class mismatches");
    j = load_json("exact.json");
    check_report(j, 10);
    check_raw(j, "server");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "use")), "final");
    assert_int_equal(report_gamma(j, "stage1.1"), 9);
    assert_int_equal(report_gamma(j, "stage2.1"), 11);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "server_ack"), "split")), "raw");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "server_ack"), "crossing_dtype")), "u8");
    json_decref(j);
    /* the load generator sends images too */
    snprintf(args, sizeof args, "infer --server %s --deploy raw.json --clients 2 --fps 20 --duration 1 -o rload.json",
             s.addr);
    HR_EXPECT_CLI(dir, args, 0, out_text, "0 errors");
    server_stop(&s, &st);
    assert_int_equal(st.protocol_errors, 0);
    assert_int_equal(st.deployed, 3);

    /* a real joint output (tests/fixtures/plot/domain_2_joint.json): its final
     * configuration is raw (split_point null) with two branches pruned and its
     * state's α; the grid's is split 5 */
    HR_EXPECT_CLI(dir,
                  "infer --in-process --deploy " HR_FIXTURES_DIR "/plot/domain_2_joint.json --data random --frames 3 "
                  "--warmup 0 -o fix_final.json",
                  0, out_text, "split raw/7");
    j = load_json("fix_final.json");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "placement")), "raw");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "use")), "final");
    json_decref(j);
    HR_EXPECT_CLI(dir,
                  "infer --in-process --deploy " HR_FIXTURES_DIR "/plot/domain_2_joint.json --use grid --data random "
                  "--frames 3 --warmup 0 -o fix_grid.json",
                  0, out_text, "split 5/7");
    j = load_json("fix_grid.json");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "metadata"), "placement")), 5);
    json_decref(j);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_process_report), cmocka_unit_test(test_prediction_from_lut),
        cmocka_unit_test(test_through_server_and_load), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_raw_and_use_exact),
        cmocka_unit_test(test_serve_binary),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
