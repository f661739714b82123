/* Shared pieces of the training commands (see train_common.h). */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hyperrep/version.h"
#include "cli.h"
#include "train_common.h"
#include "hyperrep/plot.h"

void hr_progress_start(hr_progress *p, const char *label)
{
    p->tty = isatty(fileno(stderr));
    p->start_ms = p->last_ms = hr_cli_now_ms();
    p->last_pct = -1;
    p->label = label;
}

void hr_progress_update(hr_progress *p, int64_t done, int64_t total, double loss, double acc, double rate)
{
    double now = hr_cli_now_ms();
    int pct = total > 0 ? (int)(100 * done / total) : 100;
    char extra[128] = "";
    int n = 0;
    if (loss >= 0)
        n += snprintf(extra + n, sizeof extra - (size_t)n, " loss %.4f", loss);
    if (acc >= 0)
        n += snprintf(extra + n, sizeof extra - (size_t)n, " acc %.2f%%", acc);
    if (rate >= 0)
        snprintf(extra + n, sizeof extra - (size_t)n, " %.0f img/s", rate);
    if (p->tty) {
        if (now - p->last_ms < 200 && done < total)
            return;
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %3d%%%s   ", p->label, bar, pct, extra);
        fflush(stderr);
    } else {
        if (pct / 10 == p->last_pct / 10 && done < total)
            return;
        fprintf(stderr, "%s %3d%%%s\n", p->label, pct, extra);
    }
    p->last_ms = now;
    p->last_pct = pct;
}

void hr_progress_end(hr_progress *p)
{
    if (p->tty)
        fputc('\n', stderr);
}

int hr_cli_parse_f64(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s ? s : "", &end);
    if (!s || errno || end == s || *end || !(v >= lo && v <= hi)) {
        hr_cli_fail(cmd, "%s: '%s' is not a number in %g..%g", flag, s ? s : "", lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int hr_cli_apply_alpha_file(const char *cmd, hr_model *m, const char *path, int domain)
{
    hr_error err = {0};
    if (hr_alpha_file_apply(m, path, domain, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        return 0;
    }
    return 1;
}

int hr_cli_write_text(const char *cmd, const char *path, const char *text, size_t len)
{
    hr_error err = {0};
    if (hr_write_file_atomic(path, text, len, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        return 0;
    }
    return 1;
}

int hr_cli_write_json(const char *cmd, const char *path, json_t *json)
{
    char *s = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    int ok;
    if (!s) {
        hr_cli_fail(cmd, "%s: out of memory encoding JSON", path);
        return 0;
    }
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        hr_cli_fail(cmd, "%s: out of memory", path);
        return 0;
    }
    t[n] = '\n';
    t[n + 1] = 0;
    ok = hr_cli_write_text(cmd, path, t, n + 1);
    free(t);
    return ok;
}

int hr_cli_write_run_info(const char *cmd, const char *path, json_t *info)
{
    json_t *sw = json_pack("{s:s, s:s, s:s}", "name", "hyperrep", "version", hr_version(), "commit", hr_git_commit());
    if (!sw || json_object_set_new(info, "software", sw)) {
        hr_cli_fail(cmd, "%s: out of memory", path);
        return 0;
    }
    return hr_cli_write_json(cmd, path, info);
}

int hr_cli_mkdirs(const char *cmd, const char *path)
{
    hr_error err = {0};
    if (hr_mkdirs(path, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        return 0;
    }
    return 1;
}

int hr_cli_heatmap(const char *cmd, const char *dir, const char *name, const char *title, const char *const *rows,
                   int nrows, const char *const *cols, int ncols, const double *values)
{
    hr_error err = {0};
    char hint[4400];
    int rendered = 0;
    if (hr_plot_domain_heatmap(dir, name, title, rows, nrows, cols, ncols, values, &rendered, &err) != HR_OK) {
        hr_cli_fail(cmd, "%s", err.msg);
        return 0;
    }
    if (!rendered)
        fprintf(stderr, "hyperrep %s: gnuplot is not installed: wrote %s/%s.dat and %s.gp (%s)\n", cmd, dir, name, name,
                hr_plot_render_hint(dir, name, hint, sizeof hint));
    return 1;
}

const char *hr_cli_timestamp(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}
