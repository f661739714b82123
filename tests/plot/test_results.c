/* hr_plot_results, the library side of `hyperrep plot`: over the plot
 * fixtures it writes every figure's data and script and the report with its
 * outcome section; a malformed input is HR_ERR_FORMAT naming the file and
 * nothing is drawn; later failures and the missing-gnuplot note go to the
 * log callback. Nothing is rendered here (test_plot.c renders through the
 * command). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/plot.h"

#define FIX HR_FIXTURES_DIR "/plot"

/* What the log callback received. */
typedef struct log_rec {
    int n[HR_LOG_LEVEL_COUNT];
    char last[HR_LOG_LEVEL_COUNT][1024];
} log_rec;

static void rec_log(void *user, hr_log_level level, const char *msg)
{
    log_rec *r = user;
    r->n[level]++;
    snprintf(r->last[level], sizeof r->last[level], "%s", msg);
}

/* The whole file as a string (hr_test_read_all leaves room for the NUL). */
static char *slurp(const char *path)
{
    size_t n;
    char *p = (char *)hr_test_read_all(path, &n);
    p[n] = '\0';
    return p;
}

static int exists(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void copy_fixture(const char *name, const char *dir)
{
    char from[1024], to[1024];
    size_t n;
    snprintf(from, sizeof from, "%s/%s", FIX, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    unsigned char *b = hr_test_read_all(from, &n);
    hr_test_write_file(to, b, n);
    free(b);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hr_test_write_file(path, text, strlen(text));
}

static void remove_tree(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The fixtures' 17 figures as data and scripts, and report.md / report.html
 * with the outcome per domain (domain 2 carries hyperrep's final
 * configuration) and the sensitivity section. */
static void test_fixture_report(void **state)
{
    (void)state;
    char dir[512], out[600], path[700];
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    snprintf(out, sizeof out, "%s/vis", dir);
    hr_plot_results_params p = hr_plot_results_params_default();
    hr_plot_results_summary s;
    hr_error err = {0};
    log_rec lr;
    memset(&lr, 0, sizeof lr);
    p.results = FIX;
    p.out = out;
    p.plot.render = 0;
    p.log = rec_log;
    p.log_user = &lr;
    HR_ASSERT_OK(hr_plot_results(&p, &s, &err), &err);
    assert_int_equal(s.figures, 17);
    assert_int_equal(s.unrendered, 17);
    assert_string_equal(s.out, out);
    assert_int_equal(lr.n[HR_LOG_WARN] + lr.n[HR_LOG_ERROR], 0);
    static const char *figs[] = {"lut_server", "roofline_client", "convergence", "hyper_weights", "importance",
                                 "accuracy_throughput", "accuracy_throughput_domain_2", "domain_accuracy",
                                 "domain_throughput", "domain_flops", "domain_vs_baseline", "predicted_measured",
                                 "sensitivity"};
    for (size_t i = 0; i < sizeof figs / sizeof *figs; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.dat", figs[i]);
        if (!exists(out, name))
            fail_msg("%s/%s was not written", out, name);
        snprintf(name, sizeof name, "%s.gp", figs[i]);
        if (!exists(out, name))
            fail_msg("%s/%s was not written", out, name);
        snprintf(name, sizeof name, "%s.png", figs[i]);
        assert_false(exists(out, name));
    }
    snprintf(path, sizeof path, "%s/report.md", out);
    char *md = slurp(path);
    assert_non_null(strstr(md, "# hyperrep report\n\nResults: `" FIX "`."));
    assert_non_null(strstr(md, "## Outcome per domain\n\nThe final configuration is the exact optimum"));
    assert_non_null(strstr(md, "\n| 2 | raw | 2 | 2 | latency 2.330 | 47.02 | -15.45 | [-17.41, -13.47] |"));
    assert_non_null(strstr(md, "Accuracy goals (issue 13): the point drop is <= 2 points in 1 of 1 domains"));
    assert_non_null(strstr(md, "## Where co-design pays"));
    assert_non_null(strstr(md, "(not rendered: gnuplot was not available; `gnuplot convergence.gp`)"));
    free(md);
    snprintf(path, sizeof path, "%s/report.html", out);
    char *html = slurp(path);
    assert_non_null(strstr(html, "<h2>Outcome per domain</h2>"));
    assert_non_null(strstr(html, "<tr><th>domain</th><th>placement</th>"));
    free(html);
    remove_tree(dir);
}

/* A malformed domain_0_joint.json: HR_ERR_FORMAT naming the file and the
 * place, no figure and no report; the summary says nothing was drawn. The
 * default output directory is RESULTS/visualization. */
static void test_malformed_joint(void **state)
{
    (void)state;
    char dir[512], vis[600];
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    snprintf(vis, sizeof vis, "%s/visualization", dir);
    copy_fixture("initial_throughput_config.json", dir);
    write_text(dir, "domain_0_joint.json", "{\"stage1_accuracy\": {\"initial_accuracy\": 61.3,\n");
    hr_plot_results_params p = hr_plot_results_params_default();
    hr_plot_results_summary s;
    hr_error err = {0};
    log_rec lr;
    memset(&lr, 0, sizeof lr);
    p.results = dir;
    p.plot.render = 0;
    p.log = rec_log;
    p.log_user = &lr;
    assert_int_equal(hr_plot_results(&p, &s, &err), HR_ERR_FORMAT);
    assert_int_equal(err.status, HR_ERR_FORMAT);
    if (!strstr(err.msg, "/domain_0_joint.json:2:"))
        fail_msg("the message does not name the file and line: %s", err.msg);
    assert_int_equal(lr.n[HR_LOG_ERROR], 0); /* one failure: in err only */
    assert_int_equal(s.figures, 0);
    assert_string_equal(s.out, vis);
    assert_false(exists(vis, "convergence.dat"));
    assert_false(exists(vis, "report.md"));

    /* A second malformed file: the first stays in err, the second is logged. */
    write_text(dir, "training_results.json", "[1,");
    memset(&err, 0, sizeof err);
    assert_int_equal(hr_plot_results(&p, &s, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "training_results.json:1:"));
    assert_int_equal(lr.n[HR_LOG_ERROR], 1);
    assert_non_null(strstr(lr.last[HR_LOG_ERROR], "domain_0_joint.json:2:"));
    remove_tree(dir);
}

/* Render asked for without gnuplot: a warning through the log that says how
 * to render, then data and scripts only. */
static void test_without_gnuplot(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    copy_fixture("domain_0_joint.json", dir);
    hr_plot_results_params p = hr_plot_results_params_default();
    hr_plot_results_summary s;
    hr_error err = {0};
    log_rec lr;
    memset(&lr, 0, sizeof lr);
    p.results = dir;
    p.out = dir;
    p.plot.gnuplot = "/nonexistent/gnuplot";
    p.log = rec_log;
    p.log_user = &lr;
    HR_ASSERT_OK(hr_plot_results(&p, &s, &err), &err);
    assert_int_equal(lr.n[HR_LOG_WARN], 1);
    assert_non_null(strstr(lr.last[HR_LOG_WARN], "/nonexistent/gnuplot is not installed"));
    assert_non_null(strstr(lr.last[HR_LOG_WARN], "gnuplot NAME.gp"));
    assert_true(s.figures > 0);
    assert_int_equal(s.unrendered, s.figures);
    assert_true(exists(dir, "accuracy_throughput_domain_0.gp"));
    assert_true(exists(dir, "report.md"));
    remove_tree(dir);
}

/* Arguments and empty inputs. */
static void test_refusals(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", hr_test_tmpdir());
    hr_plot_results_params p = hr_plot_results_params_default();
    hr_plot_results_summary s;
    hr_error err = {0};
    log_rec lr;
    memset(&lr, 0, sizeof lr);
    p.log = rec_log;
    p.log_user = &lr;
    p.plot.render = 0;
    assert_int_equal(hr_plot_results(NULL, &s, &err), HR_ERR_INVALID_ARG);
    assert_int_equal(hr_plot_results(&p, &s, &err), HR_ERR_INVALID_ARG); /* no results directory */
    p.results = FIX;
    p.sensitivity_domain = HR_PLOT_MAX_DOMAINS;
    assert_int_equal(hr_plot_results(&p, &s, NULL), HR_ERR_INVALID_ARG);
    /* a domain without a joint result: the other figures are drawn, no report */
    char out[600];
    snprintf(out, sizeof out, "%s/vis", dir);
    p.out = out;
    p.sensitivity_domain = 7;
    assert_int_equal(hr_plot_results(&p, &s, &err), HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "has no domain_7_joint.json"));
    assert_true(exists(out, "convergence.dat"));
    assert_false(exists(out, "report.md"));
    /* nothing to plot */
    p.results = dir;
    p.out = NULL;
    p.sensitivity_domain = -1;
    assert_int_equal(hr_plot_results(&p, &s, &err), HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "holds no results to plot"));
    assert_int_equal(lr.n[HR_LOG_ERROR], 0);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_report),
        cmocka_unit_test(test_malformed_joint),
        cmocka_unit_test(test_without_gnuplot),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
