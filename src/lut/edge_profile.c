/* Edge profiles (SPEC §13.2): published rooflines of real edge devices, and
 * the per-entry arithmetic that turns a LUT measured on this machine into an
 * honest emulation of one. docs/EDGE_PROFILES.md gives every figure's source
 * and the reasoning behind each derating; keep the two in step. */
#include "lut/lut_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Figures are float32 GEMM-class GFLOP/s and copy bandwidth counting bytes
 * read + written, the quantities hr_roofline_measure reports for the host, so
 * the ratio of the two rooflines compares like with like. */
static const hr_edge_profile profiles[] = {
    {"rpi4", "Raspberry Pi 4 Model B: 4x Cortex-A72 @ 1.5 GHz, LPDDR4-3200 32-bit (12.8 GB/s)", 4,
     22.9, 7.7, 9.6, 5.5,
     "peak: 8 float32 FLOP/cycle/core (one 4-wide FMA) x 1.5 GHz = 12.0 GFLOP/s per core, 48.0 for 4; "
     "one core derated by 0.80 (measured 1-core HPL 4.8 of 6.0 GFLOP/s fp64), four by 0.476 (measured "
     "4-core HPL 11.433 of 24.0 on the same BCM2711 at 1.5 GHz); bandwidth: one core measured (STREAM copy "
     "5.53 GB/s), four cores derated from the 12.8 GB/s wire rate by 0.6 (no all-core measurement found)",
     "OpenBLAS issue #2230 (github.com/OpenMathLib/OpenBLAS/issues/2230); geerlingguy/top500-benchmark "
     "README, Raspberry Pi CM4 @ 1.5 GHz; sci-pi.org.uk/bench/stream.html; ThomasKaiser/sbc-bench "
     "Results.md (tinymembench memcpy 2550 MB/s); wlog.flatlib.jp vfpbench Cortex-A72 (8 FLOP/cycle)"},
    {"jetson-tx2-cpu",
     "NVIDIA Jetson TX2 CPU complex (MAXN): 2x Denver2 + 4x Cortex-A57 @ 2.0 GHz, LPDDR4 128-bit (58.4 GB/s)", 6,
     56.6, 35.0, 12.8, 7.36,
     "peak: 8 float32 FLOP/cycle/core for both core types (A57: one 4-wide FMA; Denver measured at 8 by "
     "vfpbench) x 2.0 GHz = 16.0 GFLOP/s per core, 96.0 for 6; one core derated by 0.80, six by 0.59 (the "
     "1-core and best 4-core HPL efficiencies measured on Cortex-A72, same FP pipes; no TX2 GEMM figure "
     "found); bandwidth: one core 7.36 GB/s (the Jetson Nano's measured A57 copy, same core), all cores "
     "derated from the 58.4 GB/s wire rate by 0.6",
     "NVIDIA Jetson TX2 data sheet; hardwareluxx.de Jetson TX2 launch (58.4 GB/s); wlog.flatlib.jp "
     "vfpbench Tegra K1 Denver; OpenBLAS issue #2230; ThomasKaiser/sbc-bench Results.md (Jetson Nano)"},
    {"jetson-nano", "NVIDIA Jetson Nano: 4x Cortex-A57 @ 1.43 GHz, LPDDR4 64-bit (25.6 GB/s)", 4,
     27.0, 15.4, 9.15, 7.36,
     "peak: 8 float32 FLOP/cycle/core x 1.43 GHz = 11.44 GFLOP/s per core, 45.8 for 4; one core derated "
     "by 0.80, four by 0.59 (1-core and best 4-core HPL efficiencies measured on Cortex-A72; no Nano GEMM "
     "figure found); bandwidth: one core measured (tinymembench memcpy 3680 MB/s copied = 7.36 GB/s read + "
     "written), four cores derated from the 25.6 GB/s wire rate by 0.6",
     "ThomasKaiser/sbc-bench Results.md (Jetson Nano, 1430 MHz); NVIDIA Jetson Nano specifications "
     "(25.6 GB/s); OpenBLAS issue #2230; OpenBLAS issue #4149 (A57 4 fp64 FLOP/cycle)"},
};

#define NPROFILES ((int)(sizeof profiles / sizeof profiles[0]))

int hr_edge_profile_count(void)
{
    return NPROFILES;
}

const hr_edge_profile *hr_edge_profile_get(int i)
{
    return i >= 0 && i < NPROFILES ? &profiles[i] : NULL;
}

hr_status hr_edge_profile_find(const char *name, const hr_edge_profile **out, hr_error *err)
{
    char known[256] = "";
    for (int i = 0; i < NPROFILES; i++)
        if (name && strcmp(profiles[i].name, name) == 0) {
            *out = &profiles[i];
            return HR_OK;
        }
    for (int i = 0; i < NPROFILES; i++) {
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", profiles[i].name);
    }
    return hr_error_set(err, HR_ERR_INVALID_ARG, "edge profile '%s' is unknown (known: %s; see `hyperrep lut profiles`)",
                        name ? name : "(null)", known);
}

hr_status hr_edge_profile_roofline(const hr_edge_profile *prof, int threads, hr_roofline *out, hr_error *err)
{
    hr_roofline r;
    if (threads < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge profile %s: %d threads, need at least 1", prof->name,
                            threads);
    const int t = threads < prof->cores ? threads : prof->cores;
    memset(&r, 0, sizeof r);
    snprintf(r.device, sizeof r.device, "%s", prof->description);
    /* Compute scales with cores; bandwidth grows with them only until the
     * DRAM's limit, the all-core figure. */
    r.peak_gflops = fmin(t * prof->core_gflops, prof->peak_gflops);
    r.bandwidth_gbs = fmin(t * prof->core_bandwidth_gbs, prof->bandwidth_gbs);
    r.i_knee = r.peak_gflops / r.bandwidth_gbs;
    r.threads = t;
    *out = r;
    return HR_OK;
}

double hr_roofline_time_ms(double flops, double bytes, double peak_gflops, double bandwidth_gbs)
{
    /* GFLOP/s = 1e6 FLOP/ms and GB/s = 1e6 B/ms. */
    return fmax(flops / (peak_gflops * 1e6), bytes / (bandwidth_gbs * 1e6));
}

double hr_edge_factor(double flops, double bytes, const hr_roofline *edge, const hr_roofline *host)
{
    double te = hr_roofline_time_ms(flops, bytes, edge->peak_gflops, edge->bandwidth_gbs);
    double th = hr_roofline_time_ms(flops, bytes, host->peak_gflops, host->bandwidth_gbs);
    if (!(th > 0) || !isfinite(te / th))
        return 1;
    return fmax(1.0, te / th);
}

void hr_classifier_cost(int64_t c, int64_t h, int64_t w, int64_t classes, double *flops, double *bytes)
{
    const double chw = (double)c * (double)h * (double)w, cd = (double)c, k = (double)classes;
    *flops = chw + 2 * cd * k;
    *bytes = 4 * (chw + cd) + 4 * (cd + k) + 4 * (cd * k + k);
}

static int roofline_usable(const hr_roofline *r)
{
    return r->peak_gflops > 0 && r->bandwidth_gbs > 0 && isfinite(r->peak_gflops) && isfinite(r->bandwidth_gbs);
}

hr_status hr_device_lut_emulate_profile(hr_device_lut *lut, const hr_edge_profile *prof, const hr_roofline *host,
                                        hr_error *err)
{
    hr_roofline edge;
    hr_ctx *ctx = NULL;
    hr_model *m = NULL;
    hr_status st;
    double before, after, f[2] = {1, 1};

    if (!prof || !host)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: a profile and the host roofline are required");
    if (lut->emulated[0])
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: the LUT is already an emulation (%.200s)",
                            lut->emulated);
    if (!roofline_usable(host))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: host roofline %g GFLOP/s, %g GB/s is not usable",
                            host->peak_gflops, host->bandwidth_gbs);
    /* The host roofline must describe the client as it was measured: a
     * 1-thread LUT against a 16-thread roofline would credit the host with
     * cores the entries never used, and shrink every factor. */
    if (host->threads < 1 || (lut->threads > 0 && host->threads != lut->threads))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: the host roofline was measured at %d threads, "
                            "the LUT at %d: measure it at the client's thread count", host->threads, lut->threads);
    if ((st = hr_edge_profile_roofline(prof, host->threads, &edge, err)))
        return st;
    if (lut->has_stage_times) {
        /* Stage 0 and the classifier are not LUT blocks: their shapes come
         * from the model the file names. */
        if ((st = hr__shape_model(lut->model, lut->input_shape[0], lut->input_shape[1], lut->num_classes, &ctx, &m,
                                  err))) {
            hr_error_prefix(err, "edge emulation");
            return st;
        }
        hr_block_info s0 = hr_model_block(m, -1);
        int64_t in[4] = {1, s0.cin, s0.in_h, s0.in_w}, out[4] = {1, s0.cout, s0.out_h, s0.out_w};
        hr_block_cost c = hr_block_cost_eval(hr_gamma_deploy(s0.existing), in, out, s0.groups);
        const hr_device_lut_block *last = &lut->blocks[lut->nblocks - 1];
        double cf, cb;
        hr_classifier_cost(last->out_shape[1], last->out_shape[2], last->out_shape[3], lut->num_classes, &cf, &cb);
        f[0] = hr_edge_factor(c.flops_grouped, c.bytes_w, &edge, host);
        f[1] = hr_edge_factor(cf, cb, &edge, host);
        hr_model_destroy(m);
        hr_ctx_destroy(ctx);
    }
    before = hr_device_lut_deploy_ms(lut, HR_LUT_STAT_MEDIAN);
    for (int i = 0; i < lut->nblocks; i++) {
        hr_device_lut_block *b = &lut->blocks[i];
        for (int g = 0; g < HR_GAMMA_COUNT; g++) {
            if (!b->e[g].valid)
                continue;
            hr_block_cost c = hr_block_cost_eval(g, b->in_shape, b->out_shape, b->groups);
            hr__lut_entry_scale(&b->e[g], hr_edge_factor(c.flops_grouped, c.bytes_w, &edge, host));
        }
    }
    if (lut->has_stage_times) {
        hr__lut_entry_scale(&lut->stage0, f[0]);
        hr__lut_entry_scale(&lut->classifier, f[1]);
    }
    after = hr_device_lut_deploy_ms(lut, HR_LUT_STAT_MEDIAN);
    lut->slowdown = before > 0 ? after / before : 1;
    /* The per-frame overhead (framing, hand-offs) has no FLOP/byte count of
     * its own: it is CPU work that slows down like the model as a whole. */
    if (lut->has_frame_time)
        hr__lut_entry_scale(&lut->frame, lut->slowdown);
    snprintf(lut->emulated, sizeof lut->emulated,
             "edge profile %s, %d of %d cores (%.3g GFLOP/s, %.3g GB/s), against this machine at %d thread%s "
             "(%.3g GFLOP/s, %.3g GB/s): per-entry roofline factor, whole model x %.3g",
             prof->name, edge.threads, prof->cores, edge.peak_gflops, edge.bandwidth_gbs, host->threads,
             host->threads == 1 ? "" : "s", host->peak_gflops, host->bandwidth_gbs, lut->slowdown);
    memset(&lut->edge, 0, sizeof lut->edge);
    snprintf(lut->edge.name, sizeof lut->edge.name, "%s", prof->name);
    snprintf(lut->edge.source, sizeof lut->edge.source, "%s", prof->source);
    lut->edge.cores = prof->cores;
    lut->edge.cores_used = edge.threads;
    lut->edge.peak_gflops = edge.peak_gflops;
    lut->edge.bandwidth_gbs = edge.bandwidth_gbs;
    lut->edge.host_peak_gflops = host->peak_gflops;
    lut->edge.host_bandwidth_gbs = host->bandwidth_gbs;
    lut->edge.host_threads = host->threads;
    snprintf(lut->edge.host_device, sizeof lut->edge.host_device, "%s", host->device);
    return HR_OK;
}

hr_status hr_device_lut_emulate_flat(hr_device_lut *lut, double slowdown, hr_error *err)
{
    char d[160];
    if (!(slowdown >= 1) || !isfinite(slowdown))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: slowdown %g is not a finite factor >= 1 "
                            "(an emulation can only slow this machine down)", slowdown);
    if (lut->emulated[0])
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge emulation: the LUT is already an emulation (%.200s)",
                            lut->emulated);
    snprintf(d, sizeof d, "this machine, %d thread%s, times x %g (flat --edge-slowdown)", lut->threads,
             lut->threads == 1 ? "" : "s", slowdown);
    return hr_device_lut_emulate(lut, d, slowdown, err);
}

const char *hr_roofline_source_name(hr_roofline_source s)
{
    switch (s) {
    case HR_ROOF_MEASURED: return "measured";
    case HR_ROOF_PROFILE: return "profile";
    case HR_ROOF_OVERRIDE: return "override";
    default: return "default";
    }
}

/* ---- the per-device file's metadata.edge_profile / host_roofline ---- */

json_t *hr__edge_json(const hr_edge_applied *e, json_t **host)
{
    *host = json_pack("{s:s, s:f, s:f, s:i}", "device", e->host_device, "peak_gflops", e->host_peak_gflops,
                      "bandwidth_gbs", e->host_bandwidth_gbs, "threads", e->host_threads);
    return json_pack("{s:s, s:i, s:i, s:f, s:f, s:s}", "name", e->name, "cores", e->cores, "cores_used",
                     e->cores_used, "peak_gflops", e->peak_gflops, "bandwidth_gbs", e->bandwidth_gbs, "source",
                     e->source);
}

/* A positive finite number at obj.key; names path, field and value otherwise. */
static hr_status positive(const char *path, const char *field, const json_t *obj, const char *key, double *out,
                          hr_error *err)
{
    char f[96], r[64];
    const json_t *v = json_object_get(obj, key);
    snprintf(f, sizeof f, "%s.%s", field, key);
    if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v)))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %s is not a positive number", path, f,
                            hr__json_repr(v, r, sizeof r));
    *out = json_number_value(v);
    return HR_OK;
}

/* An integer lo..hi at obj.key. */
static hr_status count(const char *path, const char *field, const json_t *obj, const char *key, int lo, int hi,
                       int *out, hr_error *err)
{
    char f[96], r[64];
    const json_t *v = json_object_get(obj, key);
    snprintf(f, sizeof f, "%s.%s", field, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %s is not an integer in %d..%d", path, f,
                            hr__json_repr(v, r, sizeof r), lo, hi);
    *out = (int)json_integer_value(v);
    return HR_OK;
}

/* A non-empty string shorter than size at obj.key. */
static hr_status text(const char *path, const char *field, const json_t *obj, const char *key, char *out,
                      size_t size, hr_error *err)
{
    char f[96], r[64];
    const json_t *v = json_object_get(obj, key);
    snprintf(f, sizeof f, "%s.%s", field, key);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= size)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %s is not a string of 1..%zu characters", path, f,
                            hr__json_repr(v, r, sizeof r), size - 1);
    snprintf(out, size, "%s", json_string_value(v));
    return HR_OK;
}

hr_status hr__edge_read(const char *path, const json_t *meta, int emulated, hr_edge_applied *e, hr_error *err)
{
    const json_t *p = json_object_get(meta, "edge_profile"), *h = json_object_get(meta, "host_roofline");
    char r[64];
    hr_edge_applied x;
    hr_status st;

    memset(e, 0, sizeof *e);
    if (!p && !h)
        return HR_OK;
    if (!p || !h)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.%s without metadata.%s: an edge emulation records both",
                            path, p ? "edge_profile" : "host_roofline", p ? "host_roofline" : "edge_profile");
    if (!emulated)
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.edge_profile without metadata.emulated", path);
    if (!json_is_object(p))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.edge_profile: %s is not {name, cores, cores_used, "
                            "peak_gflops, bandwidth_gbs, source}", path, hr__json_repr(p, r, sizeof r));
    if (!json_is_object(h))
        return hr_error_set(err, HR_ERR_FORMAT, "%s: metadata.host_roofline: %s is not {device, peak_gflops, "
                            "bandwidth_gbs, threads}", path, hr__json_repr(h, r, sizeof r));
    memset(&x, 0, sizeof x);
    if ((st = text(path, "metadata.edge_profile", p, "name", x.name, sizeof x.name, err)) ||
        (st = text(path, "metadata.edge_profile", p, "source", x.source, sizeof x.source, err)) ||
        (st = count(path, "metadata.edge_profile", p, "cores", 1, 1024, &x.cores, err)) ||
        (st = count(path, "metadata.edge_profile", p, "cores_used", 1, x.cores, &x.cores_used, err)) ||
        (st = positive(path, "metadata.edge_profile", p, "peak_gflops", &x.peak_gflops, err)) ||
        (st = positive(path, "metadata.edge_profile", p, "bandwidth_gbs", &x.bandwidth_gbs, err)) ||
        (st = positive(path, "metadata.host_roofline", h, "peak_gflops", &x.host_peak_gflops, err)) ||
        (st = positive(path, "metadata.host_roofline", h, "bandwidth_gbs", &x.host_bandwidth_gbs, err)) ||
        (st = count(path, "metadata.host_roofline", h, "threads", 1, 1024, &x.host_threads, err)))
        return st;
    hr__json_copy_string(h, "device", x.host_device, sizeof x.host_device);
    *e = x;
    return HR_OK;
}
