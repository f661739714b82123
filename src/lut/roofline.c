/* Roofline of the machine running hyperrep (SPEC §5): peak FLOP rate from
 * large SGEMMs and from a large convolution on our own kernels, memory
 * bandwidth from large copies, and the knee between. */
#include "lut/lut_internal.h"
#include "core/json_io.h"

#include "hyperrep/clock.h"
#include "hyperrep/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

hr_roofline_params hr_roofline_params_default(void)
{
    hr_roofline_params p;
    p.gemm_n = 1536;
    p.copy_bytes = (size_t)256 << 20;
    p.repeat = 5;
    return p;
}

static double now_s(void)
{
    return hr_clock_now_ms() / 1e3;
}

typedef struct gemm_job {
    const float *a, *b;
    float *c;
    int64_t n;
    int parts;
} gemm_job;

/* Panel `i` of C = A·B: a contiguous range of columns, one serial SGEMM. */
static void gemm_panel(void *arg, int64_t i, int thread)
{
    const gemm_job *j = arg;
    int64_t c0 = j->n * i / j->parts, c1 = j->n * (i + 1) / j->parts;
    (void)thread;
    if (c1 > c0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->n, (int)(c1 - c0), (int)j->n, 1.0f, j->a,
                    (int)j->n, j->b + c0, (int)j->n, 0.0f, j->c + c0, (int)j->n);
}

typedef struct copy_job {
    const unsigned char *src;
    unsigned char *dst;
    size_t bytes;
    int parts;
} copy_job;

static void copy_part(void *arg, int64_t i, int thread)
{
    const copy_job *j = arg;
    size_t b0 = j->bytes * (size_t)i / (size_t)j->parts, b1 = j->bytes * (size_t)(i + 1) / (size_t)j->parts;
    (void)thread;
    memcpy(j->dst + b0, j->src + b0, b1 - b0);
}

/* The rate of hyperrep's own GEMM path: a 3x3 convolution, 256 -> 256
 * channels at 56x56 (3.7 GFLOP per run, 7 MB of activations: the shape of a
 * large RepVGG stage), forced onto the implicit GEMM so that the FLOPs are
 * the ones done (Winograd would count fewer). Best of `repeat` runs, GFLOP/s;
 * 0 with *err set on failure. */
static double kernel_gflops(hr_ctx *ctx, int repeat, hr_error *err)
{
    const hr_conv_desc d = {256, 256, 3, 1, 1, 1};
    const int64_t hw = 56, wn = d.cout * d.cin * 9, xn = d.cin * hw * hw, yn = d.cout * hw * hw;
    hr_conv_params cp = hr_conv_params_default();
    hr_conv *conv = NULL;
    float *w = hr_ctx_alloc(ctx, (size_t)wn * sizeof(float)), *x = hr_ctx_alloc(ctx, (size_t)xn * sizeof(float)),
          *y = hr_ctx_alloc(ctx, (size_t)yn * sizeof(float));
    void *ws = NULL;
    double best = 0;

    cp.algo = HR_CONV_ALGO_GEMM;
    cp.height = cp.width = hw;
    if (!w || !x || !y) {
        hr_error_set(err, HR_ERR_NOMEM, "roofline: out of memory for the convolution");
        goto out;
    }
    for (int64_t i = 0; i < wn; i++)
        w[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (int64_t i = 0; i < xn; i++)
        x[i] = (float)(i % 7) * 0.25f - 0.75f;
    if (hr_conv_create(ctx, &d, w, NULL, &cp, &conv, err))
        goto out;
    ws = hr_ctx_alloc(ctx, hr_conv_workspace_bytes(conv, 1, hw, hw, hr_ctx_threads(ctx)));
    if (!ws) {
        hr_error_set(err, HR_ERR_NOMEM, "roofline: out of memory for the convolution's workspace");
        goto out;
    }
    hr_tensor tx = hr_tensor_4d(x, 1, d.cin, hw, hw), ty = hr_tensor_4d(y, 1, d.cout, hw, hw);
    if (hr_conv_run(ctx, conv, &tx, 0, &ty, ws, err)) /* warm-up */
        goto out;
    for (int i = 0; i < repeat; i++) {
        double t0 = now_s();
        if (hr_conv_run(ctx, conv, &tx, 0, &ty, ws, err)) {
            best = 0;
            goto out;
        }
        double gf = 2.0 * (double)yn * (double)d.cin * 9 / (now_s() - t0) / 1e9;
        best = gf > best ? gf : best;
    }
out:
    hr_conv_destroy(conv);
    hr_ctx_free(ctx, ws);
    hr_ctx_free(ctx, w);
    hr_ctx_free(ctx, x);
    hr_ctx_free(ctx, y);
    return best;
}

hr_status hr_roofline_measure(hr_ctx *ctx, const hr_roofline_params *params, hr_roofline *out, hr_error *err)
{
    hr_roofline_params p = params ? *params : hr_roofline_params_default();
    const int threads = hr_ctx_threads(ctx);
    float *a = NULL, *b = NULL, *c = NULL;
    unsigned char *src = NULL, *dst = NULL;
    double best_gemm = 0, best_copy = 0;
    hr_roofline r;

    if (p.gemm_n < 64 || p.gemm_n > 16384 || p.copy_bytes < ((size_t)1 << 20) || p.copy_bytes > ((size_t)1 << 34) ||
        p.repeat < 1 || p.repeat > 1000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "roofline: gemm_n %lld (64..16384), copy %zu bytes (1 MiB..16 "
                            "GiB), repeat %d (1..1000) out of range", (long long)p.gemm_n, p.copy_bytes, p.repeat);
    const size_t nn = (size_t)p.gemm_n * (size_t)p.gemm_n;
    a = hr_ctx_alloc(ctx, nn * sizeof(float));
    b = hr_ctx_alloc(ctx, nn * sizeof(float));
    c = hr_ctx_alloc(ctx, nn * sizeof(float));
    src = hr_ctx_alloc(ctx, p.copy_bytes);
    dst = hr_ctx_alloc(ctx, p.copy_bytes);
    if (!a || !b || !c || !src || !dst) {
        hr_ctx_free(ctx, a);
        hr_ctx_free(ctx, b);
        hr_ctx_free(ctx, c);
        hr_ctx_free(ctx, src);
        hr_ctx_free(ctx, dst);
        return hr_error_set(err, HR_ERR_NOMEM, "roofline: out of memory for %zu MB of buffers",
                            (3 * nn * sizeof(float) + 2 * p.copy_bytes) >> 20);
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(i % 7) * 0.25f - 0.75f;
        b[i] = (float)(i % 5) * 0.5f - 1.0f;
    }
    memset(c, 0, nn * sizeof(float));
    /* Touch every page so the copy times exclude page faults. */
    memset(src, 1, p.copy_bytes);
    memset(dst, 0, p.copy_bytes);

    gemm_job gj = {a, b, c, p.gemm_n, threads};
    copy_job cj = {src, dst, p.copy_bytes, threads};
    hr_ctx_parallel_for(ctx, threads, gemm_panel, &gj); /* warm-up */
    for (int i = 0; i < p.repeat; i++) {
        double t0 = now_s();
        hr_ctx_parallel_for(ctx, threads, gemm_panel, &gj);
        double gf = 2.0 * (double)p.gemm_n * (double)p.gemm_n * (double)p.gemm_n / (now_s() - t0) / 1e9;
        best_gemm = gf > best_gemm ? gf : best_gemm;
    }
    hr_ctx_parallel_for(ctx, threads, copy_part, &cj);
    for (int i = 0; i < p.repeat; i++) {
        double t0 = now_s();
        hr_ctx_parallel_for(ctx, threads, copy_part, &cj);
        double gbs = 2.0 * (double)p.copy_bytes / (now_s() - t0) / 1e9;
        best_copy = gbs > best_copy ? gbs : best_copy;
    }
    hr_ctx_free(ctx, a);
    hr_ctx_free(ctx, b);
    hr_ctx_free(ctx, c);
    hr_ctx_free(ctx, src);
    hr_ctx_free(ctx, dst);

    hr_error kerr = {0};
    double best_kernel = kernel_gflops(ctx, p.repeat, &kerr);
    if (!(best_kernel > 0)) {
        if (err)
            *err = kerr;
        return kerr.status ? kerr.status : HR_ERR_INTERNAL;
    }
    memset(&r, 0, sizeof r);
    hr_cpu_model_string(r.device, sizeof r.device);
    r.kernel_gflops = best_kernel;
    r.blas_gflops = best_gemm;
    r.peak_gflops = best_kernel > best_gemm ? best_kernel : best_gemm;
    r.bandwidth_gbs = best_copy;
    r.i_knee = r.peak_gflops / best_copy;
    r.threads = threads;
    r.gemm_n = p.gemm_n;
    r.copy_mb = (double)p.copy_bytes / 1e6;
    if (!(r.i_knee > 0) || !isfinite(r.i_knee))
        return hr_error_set(err, HR_ERR_INTERNAL, "roofline: measured %g GFLOP/s and %g GB/s: no usable knee",
                            r.peak_gflops, r.bandwidth_gbs);
    *out = r;
    return HR_OK;
}

hr_status hr_roofline_load(const char *path, hr_roofline *out, hr_error *err)
{
    static const char *keys[3] = {"peak_gflops", "bandwidth_gbs", "i_knee"};
    json_t *root;
    hr_roofline r;
    double *dst[3] = {&r.peak_gflops, &r.bandwidth_gbs, &r.i_knee};
    const json_t *v;
    hr_status st;

    if ((st = hr__json_load(path, &root, err)))
        return st;
    if ((st = hr__format_check(root, path, HR_FORMAT_ROOFLINE, 1, err))) {
        json_decref(root);
        return st;
    }
    memset(&r, 0, sizeof r);
    for (int k = 0; k < 3; k++) {
        v = json_object_get(root, keys[k]);
        if (k == 2 && !v) {
            r.i_knee = r.peak_gflops / r.bandwidth_gbs;
            break;
        }
        if ((st = hr__json_number(path, keys[k], v, dst[k], err)))
            goto out;
        if (!(*dst[k] > 0)) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: %s: %g must be positive", path, keys[k], *dst[k]);
            goto out;
        }
    }
    hr__json_copy_string(root, "device", r.device, sizeof r.device);
    if ((v = json_object_get(root, "threads")) && json_is_integer(v) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= 1024)
        r.threads = (int)json_integer_value(v);
    if ((v = json_object_get(root, "gemm_n")) && json_is_integer(v))
        r.gemm_n = json_integer_value(v);
    if ((v = json_object_get(root, "copy_mb")) && json_is_number(v))
        r.copy_mb = json_number_value(v);
    if ((v = json_object_get(root, "kernel_gflops")) && json_is_number(v) && json_number_value(v) > 0)
        r.kernel_gflops = json_number_value(v);
    if ((v = json_object_get(root, "blas_gflops")) && json_is_number(v) && json_number_value(v) > 0)
        r.blas_gflops = json_number_value(v);
    *out = r;
out:
    json_decref(root);
    return st;
}

hr_status hr_roofline_save(const char *path, const hr_roofline *r, hr_error *err)
{
    hr__jb b = {0};
    json_t *root;
    hr_status st;
    char ts[64];

    if (!(r->peak_gflops > 0) || !(r->bandwidth_gbs > 0) || !(r->i_knee > 0) || !isfinite(r->peak_gflops) ||
        !isfinite(r->bandwidth_gbs) || !isfinite(r->i_knee))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "%s: roofline %g GFLOP/s, %g GB/s, knee %g is not valid", path,
                            r->peak_gflops, r->bandwidth_gbs, r->i_knee);
    root = json_object();
    hr__timestamp(ts, sizeof ts);
    hr__jset(&b, root, "format", hr__format_json(HR_FORMAT_ROOFLINE, 1, 0));
    hr__jset(&b, root, "device", json_string(r->device));
    hr__jset(&b, root, "peak_gflops", json_real(r->peak_gflops));
    hr__jset(&b, root, "bandwidth_gbs", json_real(r->bandwidth_gbs));
    hr__jset(&b, root, "i_knee", json_real(r->i_knee));
    hr__jset(&b, root, "threads", json_integer(r->threads));
    hr__jset(&b, root, "gemm_n", json_integer((json_int_t)r->gemm_n));
    hr__jset(&b, root, "copy_mb", json_real(r->copy_mb));
    hr__jset(&b, root, "timestamp", json_string(ts));
    if (r->kernel_gflops > 0)
        hr__jset(&b, root, "kernel_gflops", json_real(r->kernel_gflops));
    if (r->blas_gflops > 0)
        hr__jset(&b, root, "blas_gflops", json_real(r->blas_gflops));
    hr__jset(&b, root, "method",
             json_string("peak: the higher of kernel_gflops (a 256->256-channel 3x3 convolution at 56x56 on "
                         "hyperrep's own GEMM kernels over the context's pool) and blas_gflops (large float32 "
                         "SGEMMs, serial OpenBLAS, one column panel per thread), best of the repeats; "
                         "bandwidth: best of large memcpy, bytes read + written, GB = 1e9 bytes; "
                         "i_knee = peak_gflops / bandwidth_gbs in FLOP/byte"));
    if (b.failed)
        st = hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    else
        st = hr__json_save(path, root, err);
    json_decref(root);
    return st;
}
