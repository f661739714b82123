/* Figures through gnuplot: data file + script beside it, rendered through a
 * pipe (see include/hyperrep/plot.h). */
#include "hyperrep/plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hyperrep/weights.h"

void hr_plot_bufprintf(hr_plot_buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->oom)
        return;
    for (;;) {
        size_t room = b->cap - b->n;
        int k = -1;
        if (b->p) {
            va_start(ap, fmt);
            k = vsnprintf(b->p + b->n, room, fmt, ap);
            va_end(ap);
            if (k < 0) {
                b->oom = 1;
                return;
            }
            if ((size_t)k < room) {
                b->n += (size_t)k;
                return;
            }
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (k >= 0 && cap - b->n <= (size_t)k)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

void hr_plot_buf_free(hr_plot_buf *b)
{
    if (!b)
        return;
    free(b->p);
    memset(b, 0, sizeof *b);
}

hr_plot_params hr_plot_params_default(void)
{
    hr_plot_params p;
    p.gnuplot = "gnuplot";
    p.render = 1;
    p.png = 1;
    p.pdf = 1;
    p.width = 800;
    p.height = 500;
    return p;
}

/* Names go inside single-quoted gnuplot strings and shell-free popen lines;
 * refusing quotes and control characters keeps both unambiguous. */
static int safe_name(const char *s)
{
    for (; *s; s++)
        if (*s == '\'' || *s == '"' || (unsigned char)*s < 0x20)
            return 0;
    return 1;
}

int hr_plot_gnuplot_available(const hr_plot_params *params)
{
    char cmd[512];
    const char *prog = params && params->gnuplot ? params->gnuplot : "gnuplot";
    if (!safe_name(prog) || strlen(prog) > 400)
        return 0;
    snprintf(cmd, sizeof cmd, "'%s' --version >/dev/null 2>&1", prog);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

const char *hr_plot_render_hint(const char *dir, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "render with: cd %s && gnuplot %s.gp", dir, name);
    return buf;
}

const char *hr_plot_label(const char *text, char *buf, size_t size)
{
    size_t j = 0;
    if (size == 0)
        return buf;
    for (const char *s = text ? text : ""; *s && j + 2 < size; s++) {
        if (*s == '\'') {
            buf[j++] = '\'';
            buf[j++] = '\'';
        } else {
            buf[j++] = (unsigned char)*s < 0x20 ? ' ' : *s;
        }
    }
    buf[j] = '\0';
    return buf;
}

static hr_status write_buf(const char *dir, const char *name, const char *ext, const hr_plot_buf *b, hr_error *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext) >= sizeof path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s/%s.%s: path too long", dir, name, ext);
    return hr_write_file_atomic(path, b->p ? b->p : "", b->n, err);
}

/* Runs "cd DIR; out = TMP; load NAME.gp" through a pipe to gnuplot, then
 * moves TMP.png / TMP.pdf onto NAME.png / NAME.pdf. The temporary names keep a
 * failed or interrupted run from replacing good figures with partial ones. */
static hr_status render(const char *dir, const char *name, const hr_plot_params *pp, hr_error *err)
{
    char tmp[600], cmd[512], from[4096], to[4096];
    const char *exts[2] = {"png", "pdf"};
    int want[2] = {pp->png, pp->pdf};
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", name, (long)getpid());
    snprintf(cmd, sizeof cmd, "'%s'", pp->gnuplot);
    fflush(NULL);
    FILE *f = popen(cmd, "w");
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s/%s.gp: cannot start %s: %s", dir, name, pp->gnuplot, strerror(errno));
    fprintf(f, "cd '%s'\nout = '%s'\nwant_png = %d\nwant_pdf = %d\nload '%s.gp'\n", dir, tmp, want[0], want[1], name);
    int werr = ferror(f);
    int st = pclose(f);
    hr_status rc = HR_OK;
    if (werr || st == -1)
        rc = hr_error_set(err, HR_ERR_IO, "%s/%s.gp: writing to %s failed", dir, name, pp->gnuplot);
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        rc = hr_error_set(err, HR_ERR_IO, "%s/%s.gp: %s %s %d (its messages are above)", dir, name, pp->gnuplot,
                          WIFEXITED(st) ? "exited with status" : "was killed by signal",
                          WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    for (int i = 0; i < 2; i++) {
        if (!want[i])
            continue;
        snprintf(from, sizeof from, "%s/%s.%s", dir, tmp, exts[i]);
        snprintf(to, sizeof to, "%s/%s.%s", dir, name, exts[i]);
        if (rc != HR_OK) {
            remove(from);
            continue;
        }
        if (rename(from, to) != 0)
            rc = hr_error_set(err, HR_ERR_IO, "%s: gnuplot did not produce it (%s)", to, strerror(errno));
    }
    if (rc != HR_OK)
        for (int i = 0; i < 2; i++) {
            snprintf(from, sizeof from, "%s/%s.%s", dir, tmp, exts[i]);
            remove(from);
        }
    return rc;
}

hr_status hr_plot_figure(const char *dir, const char *name, const hr_plot_buf *data, const hr_plot_buf *body,
                         const hr_plot_params *params, int *rendered, hr_error *err)
{
    hr_plot_params pp = params ? *params : hr_plot_params_default();
    hr_plot_buf gp = {0};
    hr_status st;
    if (rendered)
        *rendered = 0;
    if (!dir || !name || !*name || !safe_name(dir) || !safe_name(name) || strchr(name, '/') ||
        strlen(dir) > 3000 || strlen(name) > 200)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "figure '%s' in '%s': names may not be empty, contain quotes, "
                            "slashes (name) or control characters", name ? name : "", dir ? dir : "");
    if (!pp.gnuplot || !safe_name(pp.gnuplot) || strlen(pp.gnuplot) > 400)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "gnuplot program name is empty or contains quotes");
    if (pp.width < 100 || pp.height < 100 || pp.width > 10000 || pp.height > 10000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "figure size %d x %d is outside 100..10000", pp.width, pp.height);
    if (data->oom || body->oom)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the figure", name);
    /* The header lets the script run alone (defaults) and from the pipe
     * (which predefines out / want_png / want_pdf). The body is replayed
     * once per terminal inside a loop, so it may use any gnuplot command
     * (several plots, labels), not only one replot-able plot. */
    hr_plot_bufprintf(&gp,
                      "# %s.gp: written by hyperrep (data: %s.dat). Render: gnuplot %s.gp -> %s.png, %s.pdf\n"
                      "if (!exists('out')) out = '%s'\n"
                      "if (!exists('want_png')) want_png = 1\n"
                      "if (!exists('want_pdf')) want_pdf = 1\n"
                      "do for [fmt = 1:2] {\n"
                      "if ((fmt == 1 && want_png) || (fmt == 2 && want_pdf)) {\n"
                      "reset\n"
                      "if (fmt == 1) { set terminal pngcairo noenhanced size %d,%d font 'DejaVu Sans,10'; "
                      "set output out.'.png' } "
                      "else { set terminal pdfcairo noenhanced size %.3fin,%.3fin font 'DejaVu Sans,7'; "
                      "set output out.'.pdf' }\n",
                      name, name, name, name, name, name, pp.width, pp.height, pp.width / 160.0, pp.height / 160.0);
    hr_plot_bufprintf(&gp, "%s%s", body->p ? body->p : "", body->n && body->p[body->n - 1] != '\n' ? "\n" : "");
    hr_plot_bufprintf(&gp, "set output\n}\n}\n");
    if (gp.oom) {
        hr_plot_buf_free(&gp);
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory building the script", name);
    }
    st = write_buf(dir, name, "dat", data, err);
    if (st == HR_OK)
        st = write_buf(dir, name, "gp", &gp, err);
    hr_plot_buf_free(&gp);
    if (st != HR_OK || !pp.render || (!pp.png && !pp.pdf) || !hr_plot_gnuplot_available(&pp))
        return st;
    st = render(dir, name, &pp, err);
    if (st == HR_OK && rendered)
        *rendered = 1;
    return st;
}

hr_status hr_plot_heatmap(const char *dir, const char *name, const hr_plot_heatmap_spec *s,
                          const hr_plot_params *params, int *rendered, hr_error *err)
{
    hr_plot_buf d = {0}, g = {0};
    char l1[512], l2[512];
    hr_status st;
    if (rendered)
        *rendered = 0;
    if (!s || s->nrows < 1 || s->ncols < 1 || !s->rows || !s->cols || !s->values)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "heat map %s: needs at least one row and one column",
                            name ? name : "");
    hr_plot_bufprintf(&d, "# %s\n# rows (%d):", s->title ? s->title : "", s->nrows);
    for (int r = 0; r < s->nrows; r++)
        hr_plot_bufprintf(&d, " %s", s->rows[r]);
    hr_plot_bufprintf(&d, "\n# columns (%d):", s->ncols);
    for (int c = 0; c < s->ncols; c++)
        hr_plot_bufprintf(&d, " %s", s->cols[c]);
    hr_plot_bufprintf(&d, "\n# one row per line; NaN: no value\n");
    for (int r = 0; r < s->nrows; r++) {
        for (int c = 0; c < s->ncols; c++) {
            double v = s->values[(size_t)r * (size_t)s->ncols + (size_t)c];
            if (isfinite(v))
                hr_plot_bufprintf(&d, "%s%.9g", c ? " " : "", v);
            else
                hr_plot_bufprintf(&d, "%sNaN", c ? " " : "");
        }
        hr_plot_bufprintf(&d, "\n");
    }
    hr_plot_bufprintf(&g, "set title '%s'\n", hr_plot_label(s->title, l1, sizeof l1));
    hr_plot_bufprintf(&g, "set xlabel '%s'\nset ylabel '%s'\n", hr_plot_label(s->xlabel, l1, sizeof l1),
                      hr_plot_label(s->ylabel, l2, sizeof l2));
    hr_plot_bufprintf(&g, "set cblabel '%s'\nunset key\nset tics nomirror out scale 0.5\n",
                      hr_plot_label(s->cblabel, l1, sizeof l1));
    hr_plot_bufprintf(&g, "set palette defined (0 '#ffffcc', 1 '#fdbb84', 2 '#d7301f', 3 '#7f0000')\n");
    /* Empty (NaN) cells show the grey background, distinct from every colour. */
    hr_plot_bufprintf(&g, "set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#bdbdbd' "
                          "fillstyle solid noborder\n");
    if (s->log_scale)
        hr_plot_bufprintf(&g, "set logscale cb\n");
    /* Tic labels keep the terminal's font: gnuplot sizes the bottom margin
     * for it, and a smaller tic font leaves an empty band or clips the
     * axis label. Callers widen the figure for many columns. */
    hr_plot_bufprintf(&g, "set xtics rotate by 90 right (");
    for (int c = 0; c < s->ncols; c++)
        hr_plot_bufprintf(&g, "%s'%s' %d", c ? ", " : "", hr_plot_label(s->cols[c], l1, sizeof l1), c);
    hr_plot_bufprintf(&g, ")\nset ytics (");
    for (int r = 0; r < s->nrows; r++)
        hr_plot_bufprintf(&g, "%s'%s' %d", r ? ", " : "", hr_plot_label(s->rows[r], l1, sizeof l1), r);
    hr_plot_bufprintf(&g, ")\nset xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\n", s->ncols - 1, s->nrows - 1);
    hr_plot_bufprintf(&g, "plot '%s.dat' matrix with image notitle\n", name ? name : "");
    st = hr_plot_figure(dir, name, &d, &g, params, rendered, err);
    hr_plot_buf_free(&d);
    hr_plot_buf_free(&g);
    return st;
}

hr_status hr_plot_base64(const void *data, size_t size, hr_plot_buf *out, hr_error *err)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t need = out->n + (size + 2) / 3 * 4 + 1;
    if (need > out->cap) {
        char *q = realloc(out->p, need);
        if (!q) {
            out->oom = 1;
            return hr_error_set(err, HR_ERR_NOMEM, "base64: out of memory for %zu bytes", size);
        }
        out->p = q;
        out->cap = need;
    }
    char *o = out->p + out->n;
    size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = tab[v & 63];
    }
    if (i < size) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < size ? (unsigned)p[i + 1] << 8 : 0u);
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < size ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    out->n = (size_t)(o - out->p);
    return HR_OK;
}

hr_status hr_plot_domain_heatmap(const char *dir, const char *name, const char *title, const char *const *rows,
                                 int nrows, const char *const *cols, int ncols, const double *values, int *rendered,
                                 hr_error *err)
{
    hr_plot_params pp = hr_plot_params_default();
    hr_plot_heatmap_spec spec = {title, "branch (block.branch)", "domain", title, rows, nrows, cols, ncols, values, 0};
    pp.width = 300 + 16 * ncols < 800 ? 800 : 300 + 16 * ncols;
    pp.height = 200 + 28 * nrows < 400 ? 400 : 200 + 28 * nrows;
    return hr_plot_heatmap(dir, name, &spec, &pp, rendered, err);
}
