/* The γ analysis report (SPEC §5): Markdown in the format of the original
 * tool's full_gamma_analysis.md, for both devices and every block, with the
 * weight-inclusive intensity beside the original's. */
#include "lut/lut_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable text buffer; `failed` sticks after an allocation failure. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->failed)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
}

const char *hr__report_si(double x, char *buf, size_t size)
{
    if (x >= 1e9)
        snprintf(buf, size, "%.2fG", x / 1e9);
    else if (x >= 1e6)
        snprintf(buf, size, "%.2fM", x / 1e6);
    else if (x >= 1e3)
        snprintf(buf, size, "%.2fK", x / 1e3);
    else
        snprintf(buf, size, "%.0f", x);
    return buf;
}

const char *hr__report_status(double flops, double intensity, double knee, char *buf, size_t size)
{
    double pct = intensity / knee * 100;
    if (flops <= 0)
        snprintf(buf, size, "No compute");
    else
        snprintf(buf, size, "%-10s (%.1f%%)", pct < 80 ? "Mem-bound" : pct <= 120 ? "Balanced" : "Comp-bound", pct);
    return buf;
}

static const char *fuse_text(const hr_gamma_info *g)
{
    if (g->streams == 1)
        return "True";
    for (int s = 0; s < g->streams; s++)
        if (g->layout[s] & (g->layout[s] - 1))
            return "partial";
    return "False";
}

static void kernels_text(const hr_gamma_info *g, char *buf, size_t size)
{
    static const char *k[HR_KERNEL_KIND_COUNT] = {"k3", "k1", "id"};
    size_t n = 0;
    buf[0] = '\0';
    for (int s = 0; s < g->streams && n < size; s++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", s ? ", " : "", k[g->kernels[s]]);
}

static void table(sbuf *b, const hr_lut *lut, const hr_lut_block *lb, hr_device d)
{
    char dn[16], f[32], by[32], bw[32], st[48], stw[48], lat[32], fps[32];
    const double knee = lut->i_knee[d];
    snprintf(dn, sizeof dn, "%s", d == HR_DEVICE_SERVER ? "SERVER" : "CLIENT");
    sb_printf(b, "### %s @ %s (I_knee = %.2f FLOPs/Byte)\n\n", lb->name, dn, knee);
    sb_printf(b, "| γ | Name | Streams | FLOPs | Bytes | Intensity | Latency(ms) | Throughput(FPS) | Roofline Status "
                 "| Bytes_w | Intensity_w | Roofline Status (w) |\n");
    sb_printf(b, "|---:|:------------|-------:|----------:|----------:|--------------:|------------:|----------------:"
                 "|:----------------|----------:|--------------:|:----------------|\n");
    for (int g = 0; g < HR_GAMMA_COUNT; g++) {
        hr_block_cost c = hr_block_cost_eval(g, lb->in_shape, lb->out_shape, lb->groups);
        double t = lb->t_ms[d][g];
        if (t >= 0) {
            snprintf(lat, sizeof lat, "%.3f", t);
            if (t > 0)
                snprintf(fps, sizeof fps, "%.2f", 1000 / t);
            else
                snprintf(fps, sizeof fps, "N/A");
        } else {
            snprintf(lat, sizeof lat, "N/A");
            snprintf(fps, sizeof fps, "N/A");
        }
        sb_printf(b, "| %d | %s | %d | %s | %s | %.2f | %s | %s | %s | %s | %.2f | %s |\n", g, hr_gamma_get(g)->name,
                  c.streams, hr__report_si(c.flops, f, sizeof f), hr__report_si(c.bytes, by, sizeof by), c.intensity,
                  lat, fps, hr__report_status(c.flops, c.intensity, knee, st, sizeof st),
                  hr__report_si(c.bytes_w, bw, sizeof bw), c.intensity_w,
                  hr__report_status(c.flops, c.intensity_w, knee, stw, sizeof stw));
    }
    sb_printf(b, "\n\n");
}

hr_status hr_lut_report_gamma(const hr_lut *lut, char **text, hr_error *err)
{
    sbuf b = {0};
    char k[48];

    for (int i = 0; i < lut->nblocks; i++)
        if (lut->blocks[i].in_shape[0] < 1 || lut->blocks[i].out_shape[0] < 1)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "report: block %s has no shapes", lut->blocks[i].name);
    sb_printf(&b, "# γ Configuration Analysis Report\n\n\n");
    sb_printf(&b, "**Devices:** server, client\n\n");
    sb_printf(&b, "**Model:** %s", lut->model[0] ? lut->model : "(unnamed)");
    if (lut->input_shape[0] > 0)
        sb_printf(&b, ", input %lld×%lld×%lld", (long long)lut->input_shape[0], (long long)lut->input_shape[1],
                  (long long)lut->input_shape[2]);
    sb_printf(&b, "; latencies are the %s per entry%s.\n\n", hr_lut_stat_name(lut->stat),
              lut->original_format ? " (the original's files hold the mean)" : "");
    for (int d = 0; d < HR_DEVICE_COUNT; d++) {
        sb_printf(&b, "**%s:** %s", d == HR_DEVICE_SERVER ? "Server" : "Client",
                  lut->device[d][0] ? lut->device[d] : "unknown device");
        if (lut->threads[d] > 0)
            sb_printf(&b, ", %d thread%s", lut->threads[d], lut->threads[d] == 1 ? "" : "s");
        sb_printf(&b, "; I_knee = %.2f FLOPs/Byte (%s)", lut->i_knee[d],
                  lut->roofline_measured[d] ? "measured" : "the original's default");
        if (lut->peak_gflops[d] > 0)
            sb_printf(&b, ", peak %.1f GFLOP/s, %.1f GB/s", lut->peak_gflops[d], lut->bandwidth_gbs[d]);
        if (lut->has_stage_times)
            sb_printf(&b, "; stage 0 %.3f ms, classifier %.3f ms", lut->t_stage0_ms[d], lut->t_classifier_ms[d]);
        if (lut->has_frame_times)
            sb_printf(&b, "; per-frame overhead T_frame %.4f ms", lut->t_frame_ms[d]);
        sb_printf(&b, "\n\n");
    }
    if (lut->synthetic || lut->note[0])
        sb_printf(&b, "**Note:** %s%s\n\n", lut->synthetic ? "some entries are synthetic. " : "", lut->note);
    sb_printf(&b, "FLOPs ignore groups and Bytes count activations only (streams × input + output, float32), as "
                  "the original tool counted. Bytes_w adds the weights of the γ's kernels and Intensity_w = FLOPs / "
                  "Bytes_w. Roofline status: intensity / I_knee below 80 %%: memory-bound; 80–120 %%: balanced; "
                  "above: compute-bound. Latency N/A: the γ is invalid for the block's branches.\n\n");
    sb_printf(&b, "\n---\n\n## γ Configuration Legend\n\n");
    sb_printf(&b, "| γ | Name | Kernels | Streams | Fuse |\n");
    sb_printf(&b, "|---:|:------------|:-----------------|--------:|:--------|\n");
    for (int g = 0; g < HR_GAMMA_COUNT; g++) {
        const hr_gamma_info *gi = hr_gamma_get(g);
        kernels_text(gi, k, sizeof k);
        sb_printf(&b, "| %d | %s | %s | %d | %s |\n", g, gi->name, k, gi->streams, fuse_text(gi));
    }
    sb_printf(&b, "\n---\n\n## Stage Analysis Tables\n\n");
    for (int i = 0; i < lut->nblocks; i++)
        for (int d = 0; d < HR_DEVICE_COUNT; d++)
            table(&b, lut, &lut->blocks[i], (hr_device)d);
    if (b.failed) {
        free(b.s);
        return hr_error_set(err, HR_ERR_NOMEM, "report: out of memory");
    }
    *text = b.s;
    return HR_OK;
}

hr_status hr_lut_report_gamma_save(const char *path, const hr_lut *lut, hr_error *err)
{
    char *text;
    hr_status st = hr_lut_report_gamma(lut, &text, err);
    if (st)
        return st;
    st = hr_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}
