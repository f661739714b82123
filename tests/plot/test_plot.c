/* The plot module and `hyperrep plot`: data files hold the expected values,
 * every PNG decodes and is not blank, report.html renders in headless
 * Chromium. gnuplot and Chromium are required (CI installs them through
 * scripts/install-deps.sh): a missing one fails the test, never skips it. */
// ctest-labels: slow
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/gamma.h"
#include "hyperrep/lut.h"
#include "hyperrep/plot.h"

#define FIX HR_FIXTURES_DIR "/plot"

HR_CLI_BUFFERS;
static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hr_test_plot_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) &&
        fread(p, 1, (size_t)n, f) == (size_t)n) {
        p[n] = '\0';
        if (len)
            *len = (size_t)n;
    } else {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

/* Decodes a PNG with libpng and returns the variance of its grey levels
 * (0 for a blank image); -1 when it is not a valid PNG. */
static double png_variance(const char *path, int *w, int *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return -1;
    img.format = PNG_FORMAT_GRAY;
    size_t n = PNG_IMAGE_SIZE(img);
    unsigned char *buf = malloc(n);
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        png_image_free(&img);
        return -1;
    }
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += buf[i], s2 += (double)buf[i] * buf[i];
    free(buf);
    *w = (int)img.width, *h = (int)img.height;
    return s2 / (double)n - (s / (double)n) * (s / (double)n);
}

static void assert_png_ok(const char *path)
{
    int w = 0, h = 0;
    double var = png_variance(path, &w, &h);
    if (var < 0)
        fail_msg("%s is not a valid PNG", path);
    if (w < 100 || h < 100 || var < 20)
        fail_msg("%s looks blank: %d x %d, grey variance %.2f", path, w, h, var);
}

static void require_tool(const char *cmd, const char *what)
{
    if (system(cmd) != 0)
        fail_msg("%s is not installed (scripts/install-deps.sh installs it; these tests never skip)", what);
}

static void test_base64(void **state)
{
    static const struct { const char *in, *out; } v[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hr_plot_buf b = {0};
        assert_int_equal(hr_plot_base64(v[i].in, strlen(v[i].in), &b, NULL), HR_OK);
        assert_string_equal(b.p, v[i].out);
        hr_plot_buf_free(&b);
    }
}

static void test_label_escapes(void **state)
{
    char buf[32];
    assert_string_equal(hr_plot_label("it's\nok", buf, sizeof buf), "it''s ok");
    assert_string_equal(hr_plot_label("abcdef", buf, 4), "ab");
}

/* Without gnuplot the data and the script are written, nothing is drawn,
 * and the call succeeds. */
static void test_without_gnuplot(void **state)
{
    hr_plot_params pp = hr_plot_params_default();
    hr_plot_buf d = {0}, g = {0};
    char path[1024];
    int rendered = 7;
    hr_error err = {0};
    pp.gnuplot = "/nonexistent/gnuplot";
    hr_plot_bufprintf(&d, "1 2\n2 4\n");
    hr_plot_bufprintf(&g, "plot 'line.dat' using 1:2 with lines title 'y'\n");
    assert_int_equal(hr_plot_figure(tmpdir, "line", &d, &g, &pp, &rendered, &err), HR_OK);
    assert_int_equal(rendered, 0);
    snprintf(path, sizeof path, "%s/line.dat", tmpdir);
    char *dat = slurp(path, NULL);
    assert_non_null(dat);
    assert_string_equal(dat, "1 2\n2 4\n");
    free(dat);
    snprintf(path, sizeof path, "%s/line.gp", tmpdir);
    char *gp = slurp(path, NULL);
    assert_non_null(gp);
    assert_non_null(strstr(gp, "plot 'line.dat' using 1:2"));
    assert_non_null(strstr(gp, "pngcairo"));
    free(gp);
    snprintf(path, sizeof path, "%s/line.png", tmpdir);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(hr_plot_figure(tmpdir, "bad'name", &d, &g, &pp, &rendered, &err), HR_ERR_INVALID_ARG);
    hr_plot_buf_free(&d), hr_plot_buf_free(&g);
}

/* A heat map through gnuplot: the data file holds the matrix (NaN for
 * empty cells), the PNG is valid and not blank, the PDF exists; the script
 * alone re-renders it. */
static void test_heatmap_renders(void **state)
{
    require_tool("gnuplot --version >/dev/null 2>&1", "gnuplot (Debian gnuplot-nox)");
    const char *rows[] = {"domain_0", "domain_1"}, *cols[] = {"a", "b", "c"};
    double v[] = {1, 2, NAN, 4, 5, 6};
    hr_plot_heatmap_spec s = {"test heat map", "branch", "domain", "alpha", rows, 2, cols, 3, v, 0};
    hr_plot_params pp = hr_plot_params_default();
    char path[1024];
    int rendered = 0;
    hr_error err = {0};
    assert_int_equal(hr_plot_heatmap(tmpdir, "hm", &s, &pp, &rendered, &err), HR_OK);
    assert_int_equal(rendered, 1);
    snprintf(path, sizeof path, "%s/hm.dat", tmpdir);
    char *dat = slurp(path, NULL);
    assert_non_null(dat);
    assert_non_null(strstr(dat, "\n1 2 NaN\n4 5 6\n"));
    free(dat);
    snprintf(path, sizeof path, "%s/hm.png", tmpdir);
    assert_png_ok(path);
    snprintf(path, sizeof path, "%s/hm.pdf", tmpdir);
    size_t n = 0;
    char *pdf = slurp(path, &n);
    assert_non_null(pdf);
    assert_true(n > 100 && memcmp(pdf, "%PDF", 4) == 0);
    free(pdf);
    /* The script kept beside the figure renders on its own. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && rm hm.png && gnuplot hm.gp 2>/dev/null", tmpdir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/hm.png", tmpdir);
    assert_png_ok(path);
}

/* gnuplot's failure is an error naming the script and the exit status, and
 * leaves neither a figure nor a temporary file. */
static void test_gnuplot_error(void **state)
{
    require_tool("gnuplot --version >/dev/null 2>&1", "gnuplot (Debian gnuplot-nox)");
    hr_plot_params pp = hr_plot_params_default();
    hr_plot_buf d = {0}, g = {0};
    int rendered = 1;
    hr_error err = {0};
    hr_plot_bufprintf(&d, "1 2\n");
    hr_plot_bufprintf(&g, "plot undefined_variable_here\n");
    fflush(NULL);
    int saved = dup(2);
    FILE *null = freopen("/dev/null", "w", stderr); /* gnuplot's own message */
    hr_status st = hr_plot_figure(tmpdir, "broken", &d, &g, &pp, &rendered, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    (void)null;
    assert_int_equal(st, HR_ERR_IO);
    assert_int_equal(rendered, 0);
    assert_non_null(strstr(err.msg, "broken.gp"));
    assert_non_null(strstr(err.msg, "exited with status"));
    DIR *dir = opendir(tmpdir);
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strncmp(e->d_name, "broken", 6) == 0 && strcmp(e->d_name, "broken.dat") && strcmp(e->d_name, "broken.gp"))
            fail_msg("left behind: %s", e->d_name);
    closedir(dir);
    hr_plot_buf_free(&d), hr_plot_buf_free(&g);
}

/* Finds the line of a data file that starts with prefix; NULL if none. */
static const char *line_starting(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0)
            return p;
    return NULL;
}

static char *vis_file(const char *name)
{
    char path[1536];
    snprintf(path, sizeof path, "%s/vis/%s", tmpdir, name);
    char *p = slurp(path, NULL);
    if (!p)
        fail_msg("%s was not written", path);
    return p;
}

static void test_cli_plot(void **state)
{
    require_tool("gnuplot --version >/dev/null 2>&1", "gnuplot (Debian gnuplot-nox)");
    char cmd[4096], path[1024];
    HR_EXPECT_CLI(tmpdir, hr_test_fmt("plot --results '%s' -o '%s/vis'", FIX, tmpdir), 0, err_text, "");
    static const char *figs[] = {"lut_server", "lut_client", "roofline_server", "roofline_client", "convergence",
                                 "hyper_weights", "importance", "accuracy_throughput", "accuracy_throughput_domain_0",
                                 "accuracy_throughput_domain_1", "accuracy_throughput_domain_2", "domain_accuracy",
                                 "domain_throughput", "domain_flops", "domain_vs_baseline", "predicted_measured",
                                 "sensitivity"};
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        static const char *ext[] = {"dat", "gp", "pdf"};
        for (int e = 0; e < 3; e++) {
            snprintf(path, sizeof path, "%s/vis/%s.%s", tmpdir, figs[i], ext[e]);
            if (access(path, F_OK) != 0)
                fail_msg("%s missing", path);
        }
        snprintf(path, sizeof path, "%s/vis/%s.png", tmpdir, figs[i]);
        assert_png_ok(path);
        char *gp = vis_file((snprintf(path, sizeof path, "%s.gp", figs[i]), path));
        assert_non_null(strstr(gp, "set title '"));
        assert_non_null(strstr(gp, "set xlabel '"));
        assert_non_null(strstr(gp, "set ylabel '"));
        free(gp);
    }

    /* LUT heat maps: every cell is the LUT's time, NaN where invalid. */
    hr_lut *lut = NULL;
    assert_int_equal(hr_lut_load(FIX "/hardware_lut_complete.json", &lut, NULL), HR_OK);
    char *dat = vis_file("lut_client.dat");
    const char *p = dat;
    while (*p == '#')
        p = strchr(p, '\n') + 1;
    for (int b = 0; b < lut->nblocks; b++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            char *end;
            double x = strtod(p, &end);
            assert_true(end != p);
            double t = lut->blocks[b].t_ms[HR_DEVICE_CLIENT][g];
            if (t < 0)
                assert_true(isnan(x));
            else
                assert_float_equal(x, t, 1e-9 * (1 + t));
            p = end;
        }
    free(dat);

    /* Roofline: one point per valid (block, γ), at Intensity_w and FLOPs / time. */
    dat = vis_file("roofline_server.dat");
    int npts = 0, want = 0;
    for (int b = 0; b < lut->nblocks; b++)
        for (int g = 0; g < HR_GAMMA_COUNT; g++)
            want += lut->blocks[b].t_ms[HR_DEVICE_SERVER][g] > 0 && lut->blocks[b].intensity_w[g] > 0;
    for (p = dat; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        npts += *p != '#' && *p != '\n';
    assert_int_equal(npts, want);
    const hr_lut_block *b0 = &lut->blocks[0];
    hr_block_cost c = hr_block_cost_eval(0, b0->in_shape, b0->out_shape, b0->groups);
    char name[64], gname[32];
    int g;
    double iw, gf;
    p = line_starting(dat, "stage1.0 0 ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "%63s %d %31s %lf %lf", name, &g, gname, &iw, &gf), 5);
    assert_float_equal(iw, b0->intensity_w[0], 1e-6 * iw);
    assert_float_equal(gf, c.flops / (b0->t_ms[HR_DEVICE_SERVER][0] * 1e6), 1e-6 * gf);
    free(dat);
    dat = vis_file("roofline_server.gp");
    assert_non_null(strstr(dat, "peak = 6000"));
    assert_non_null(strstr(dat, "bw = 240"));
    free(dat);
    hr_lut_destroy(lut);

    /* Convergence: relaxed latency = time_* + trans per step; exact optimum line. */
    dat = vis_file("convergence.dat");
    double step, lat, loss;
    p = line_starting(dat, "0 ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "%lf %lf %lf", &step, &lat, &loss), 3);
    assert_float_equal(lat, 154.5494563486054, 1e-6);
    assert_float_equal(loss, 1077.07501168109, 1e-6);
    p = line_starting(dat, "100 ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "%lf %lf", &step, &lat), 2);
    assert_float_equal(lat, 115.06118576306551, 1e-6);
    free(dat);
    dat = vis_file("convergence.gp");
    assert_non_null(strstr(dat, "24.60884 with lines lw 2 lc rgb 'black' title 'exact optimum"));
    free(dat);

    /* Heat maps of Code 1 and Code 2. */
    dat = vis_file("hyper_weights.dat");
    p = line_starting(dat, "1.3602 1.5011 1 ");
    assert_non_null(p);
    free(dat);
    dat = vis_file("importance.dat");
    p = line_starting(dat, "0.47143537");
    assert_non_null(p);
    free(dat);

    /* Joint results. */
    dat = vis_file("accuracy_throughput.dat");
    assert_null(line_starting(dat, "0 step2 ")); /* the all-domains figure: rounds and final only */
    assert_non_null(line_starting(dat, "0 final 15.42 62.1\n"));
    assert_non_null(line_starting(dat, "1 round_1 15 58.4\n"));
    assert_non_null(line_starting(dat, "1 final 16.1 58\n"));
    assert_non_null(line_starting(dat, "2 round_0 426.521739 31.5693431\n"));
    assert_non_null(line_starting(dat, "2 round_2 429.166244 47.0194647\n"));
    free(dat);
    dat = vis_file("accuracy_throughput_domain_1.dat");
    assert_non_null(line_starting(dat, "1 step2 9.27179679 56.2\n"));
    assert_non_null(line_starting(dat, "1 round_1 15 58.4\n"));
    assert_null(line_starting(dat, "0 "));
    free(dat);
    /* Ours: the exact optimum of every pruning state and the baseline point
     * (unpruned accuracy at the baseline's fps). */
    dat = vis_file("accuracy_throughput_domain_2.dat");
    assert_non_null(line_starting(dat, "2 round_0 426.521739 31.5693431\n"));
    /* the final configuration: the exact optimum of round 2, the best state */
    assert_non_null(line_starting(dat, "2 final 429.166244 47.0194647\n"));
    assert_non_null(line_starting(dat, "2 baseline 426.253938 31.5693431\n"));
    free(dat);
    dat = vis_file("domain_accuracy.dat");
    assert_non_null(line_starting(dat, "0 61.3 59.6 62.1 9.27179679 15.42\n"));
    assert_non_null(line_starting(dat, "1 56.2 59.6 58 9.27179679 16.1\n"));
    free(dat);
    /* Real mode: one row per infer result under real/, its four fps figures. */
    dat = vis_file("predicted_measured.dat");
    p = line_starting(dat, "infer_500mbit_para_s5.json ");
    assert_non_null(p);
    double f[4];
    assert_int_equal(sscanf(p, "%*s %lf %lf %lf %lf", &f[0], &f[1], &f[2], &f[3]), 4);
    assert_float_equal(f[0], 124.009966, 1e-5);
    assert_float_equal(f[1], 108.072126, 1e-5);
    assert_float_equal(f[2], 49.6212594, 1e-5);
    assert_float_equal(f[3], 50.0227528, 1e-5);
    assert_non_null(line_starting(dat, "infer_100mbit_deploy_s11.json "));
    free(dat);
    dat = vis_file("domain_flops.dat");
    assert_non_null(line_starting(dat, "0 0\n"));
    assert_non_null(line_starting(dat, "2 24.2499844\n"));
    free(dat);
    /* Gains: 100 (429.1662442 / 426.2539382 - 1), 100 (6377.55102 / 6377.55102 - 1). */
    dat = vis_file("domain_vs_baseline.dat");
    p = line_starting(dat, "2 ");
    assert_non_null(p);
    double v[7];
    assert_int_equal(sscanf(p, "%lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]), 7);
    assert_float_equal(v[1], 426.2539382, 1e-6);
    assert_float_equal(v[5], 0.68323263, 1e-6);
    assert_float_equal(v[6], 0.0, 1e-9);
    assert_null(line_starting(dat, "0 ")); /* the original's files carry no baseline */
    free(dat);

    /* Reports: tables and inlined figures. */
    char *md = vis_file("report.md");
    /* the scenario comes first: here the original's TX2 LUT, both devices measured */
    assert_non_null(strstr(md, "## Scenario\n\nEvery figure below"));
    /* then the outcome, then the original's results */
    assert_non_null(strstr(md, "## Outcome per domain"));
    assert_true(strstr(md, "## Scenario") < strstr(md, "## Outcome per domain"));
    assert_true(strstr(md, "## Outcome per domain") < strstr(md, "## The original's results"));
    assert_non_null(strstr(md, "- **edge (client)**: measured on "));
    assert_non_null(strstr(md, "- **link**: "));
    assert_non_null(strstr(md, "## The original's results: grid search and gradient method"));
    assert_non_null(strstr(md, "| 0 | 12 | 61.30 |"));
    assert_non_null(strstr(md, "## The last pruned state's exact optimum vs the Neurosurgeon-style baseline"));
    assert_non_null(strstr(md, "| 2 | raw | 426.25 | 6377.55 | raw | 429.17 | 6377.55 | +0.68 | +0.00 | -15.45 |"));
    /* the outcome: domain 2's final configuration (round 2, raw), its gains and its paired interval; the
       original's files (domains 0 and 1) have no outcome row */
    assert_non_null(strstr(md, "| 2 | raw | 2 | 2 | latency 2.330 | 47.02 | -15.45 | [-17.41, -13.47] | +0.68 / +0.68 / "
                               "+0.00 | +59.69 | 740 / 739 / 1644 |"));
    assert_null(strstr(md, "| 0 | split 12 |"));
    assert_non_null(strstr(md, "the point drop is <= 2 points in 1 of 1 domains"));
    assert_non_null(strstr(md, "Measured gains: not available"));
    assert_non_null(strstr(md, "| 2 | 5 | 31.57 | 47.02 | 47.02 | 3.721 | 268.75 | 2 |"));
    /* Where co-design pays: domain 0 (the lowest), 65 points per objective;
     * on the TX2 LUT no split beats both ends (every split tensor of
     * RepVGG-B3 is larger than the frame). */
    assert_non_null(strstr(md, "## Where co-design pays\n\nDomain 0, state after the last accepted pruning round "
                               "(3 branches pruned)"));
    assert_non_null(strstr(md, "One frame at a time (latency objective): There is none for this model: "));
    assert_non_null(strstr(md, "| edge slowdown | 1 Mbit/s |"));
    dat = vis_file("sensitivity.dat");
    int nrows = 0;
    for (p = dat; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        nrows += *p != '#' && *p != '\n';
    assert_int_equal(nrows, 2 * 13 * 5);
    assert_non_null(line_starting(dat, "1 2 1 local 28 "));
    free(dat);
    assert_non_null(strstr(md, "## Baselines comparison"));
    assert_non_null(strstr(md, "| exact |"));
    assert_non_null(strstr(md, "## LUT summary"));
    assert_non_null(strstr(md, "![")); /* figures referenced */
    free(md);
    char *html = vis_file("report.html");
    size_t nimg = 0;
    for (p = html; (p = strstr(p, "src=\"data:image/png;base64,")); p++)
        nimg++;
    assert_int_equal(nimg, sizeof figs / sizeof figs[0]);
    assert_null(strstr(html, "src=\"http"));
    assert_null(strstr(html, ".png\""));
    free(html);

    /* report.html renders in headless Chromium to a non-blank screenshot. */
    require_tool("command -v chromium >/dev/null 2>&1", "chromium (Debian chromium)");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir -p chrome-profile && timeout 180 chromium --headless --no-sandbox --disable-gpu "
             "--disable-background-networking --disable-component-update --disable-sync --no-first-run "
             "--user-data-dir='%s/chrome-profile' --window-size=1200,1600 --screenshot='%s/shot.png' "
             "'file://%s/vis/report.html' >chrome.log 2>&1",
             tmpdir, tmpdir, tmpdir, tmpdir);
    if (system(cmd) != 0) {
        snprintf(path, sizeof path, "%s/chrome.log", tmpdir);
        char *log = slurp(path, NULL);
        fail_msg("chromium failed:\n%s", log ? log : "(no log)");
    }
    snprintf(path, sizeof path, "%s/shot.png", tmpdir);
    assert_png_ok(path);
}

/* Without gnuplot the command still writes data and scripts and says how
 * to render them. */
static void test_cli_plot_no_gnuplot(void **state)
{
    char path[1024];
    HR_EXPECT_CLI(tmpdir, hr_test_fmt("plot --results '%s' -o '%s/vis2' --gnuplot /nonexistent/gnuplot", FIX, tmpdir),
                  0, err_text, "gnuplot NAME.gp");
    snprintf(path, sizeof path, "%s/vis2/convergence.gp", tmpdir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/vis2/convergence.png", tmpdir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/vis2/report.html", tmpdir);
    assert_int_equal(access(path, F_OK), 0);
}

/* A malformed input file is an error naming the file and place; nothing is
 * drawn. */
static void test_cli_plot_malformed(void **state)
{
    char cmd[4096], path[1024];
    snprintf(path, sizeof path, "%s/training_results.json", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"domain_0\": ", f);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "cp '%s/domain_0_joint.json' '%s/'", FIX, tmpdir);
    assert_int_equal(system(cmd), 0);
    HR_EXPECT_CLI(tmpdir, hr_test_fmt("plot --results '%s'", tmpdir), 1, err_text, "training_results.json:1:");
    snprintf(path, sizeof path, "%s/visualization/domain_accuracy.dat", tmpdir);
    assert_int_not_equal(access(path, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_label_escapes),
        cmocka_unit_test_setup_teardown(test_without_gnuplot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heatmap_renders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gnuplot_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_plot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_plot_no_gnuplot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_plot_malformed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
