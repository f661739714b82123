/* Server-side drivers of real mode, step 1: the client's LUT measured
 * remotely and the link benchmark (SPEC §4, §5, §10; docs/PROTOCOL.md). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_io.h"
#include "core/text.h"
#include "hyperrep/remote.h"
#include "hyperrep/weights.h"
#include "remote/remote_internal.h"

/* What the worker says about itself is printed and written to files:
 * printable ASCII only (hr__text_clean). */
static void copy_str(char *dst, size_t size, const char *src)
{
    hr__text_clean(dst, size, src);
}

void hr_remote_device_from_chan(const hr_chan *c, hr_remote_device *out)
{
    json_t *hello;
    memset(out, 0, sizeof *out);
    out->slowdown = 1;
    copy_str(out->peer, sizeof out->peer, hr_chan_peer(c));
    out->tls = hr_chan_is_tls(c);
    hello = hr_chan_peer_hello(c) ? json_loads(hr_chan_peer_hello(c), 0, NULL) : NULL;
    copy_str(out->name, sizeof out->name, json_string_value(json_object_get(hello, "name")));
    json_decref(hello);
}

hr_status hr_remote_shutdown(hr_chan *c, int timeout_ms, hr_error *err)
{
    hr_msg m;
    hr_status st;
    if ((st = hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, err)))
        return st;
    hr_msg_init(&m);
    st = hr_chan_expect(c, HR_MSG_ACK, timeout_ms, &m, err);
    hr_msg_deinit(&m);
    return st;
}

/* ------------------------------------------------------------ remote LUT */

hr_remote_lut_params hr_remote_lut_params_default(void)
{
    hr_remote_lut_params p;
    memset(&p, 0, sizeof p);
    p.threads = 0;
    p.warmup = 10;
    p.repeat = 100;
    p.passes = 1;
    p.seed = 42;
    p.slowdown = 1;
    p.idle_timeout_ms = 600000;
    return p;
}

void hr__rlog(hr_remote_log_fn log, void *user, const char *fmt, ...)
{
    char line[640];
    va_list ap;
    if (!log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(user, line);
}

static hr_status read_device(const json_t *meta, hr_remote_device *dev, hr_error *err)
{
    const json_t *d = json_object_get(meta, "device");
    const char *s;
    int64_t threads;
    double slow;
    hr_status st;
    if (!json_is_object(d))
        return hr_error_set(err, HR_ERR_FORMAT, "lut_result: field 'device' must be an object");
    if ((st = hr__meta_str(d, "lut_result device", "host", 0, 127, &s, err)))
        return st;
    copy_str(dev->host, sizeof dev->host, s);
    if ((st = hr__meta_str(d, "lut_result device", "cpu", 0, 127, &s, err)))
        return st;
    copy_str(dev->cpu, sizeof dev->cpu, s);
    if ((st = hr__meta_int(d, "lut_result device", "threads", 0, 0, 0, 1024, &threads, err)) ||
        (st = hr__meta_num(d, "lut_result device", "slowdown", 0, 1, 1, 1e6, &slow, err)))
        return st;
    dev->threads = (int)threads;
    dev->slowdown = slow;
    dev->emulated = json_is_true(json_object_get(d, "emulated")) || slow != 1;
    return HR_OK;
}

hr_status hr_remote_lut_measure(hr_chan *c, const hr_remote_lut_params *params, const char *client_path,
                                hr_device_lut **out, hr_remote_device *dev, hr_error *err)
{
    const hr_remote_lut_params *p = params;
    hr_remote_device d;
    json_t *req, *meta = NULL;
    hr_device_lut *lut = NULL;
    hr_msg m;
    hr_status st;
    char *text = NULL;
    if (!p || !p->arch || !client_path || !out || p->threads < 0 || p->repeat < 1 || p->warmup < 0 ||
        p->passes < 1 || p->passes > p->repeat || !(p->slowdown >= 1) || p->idle_timeout_ms == 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "remote lut: bad parameters (arch and client path required; "
                            "threads >= 0, 1 <= passes <= repeat, slowdown >= 1)");
    hr_remote_device_from_chan(c, &d);
    req = json_pack("{s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:i, s:I, s:f}", "model", p->arch, "input_size",
                    (json_int_t)p->input_size, "in_channels", (json_int_t)p->in_channels, "num_classes",
                    (json_int_t)p->num_classes, "warmup", p->warmup, "repeat", p->repeat, "passes", p->passes,
                    "in_forward", p->in_forward ? 1 : 0, "seed", (json_int_t)(p->seed & INT64_MAX), "slowdown",
                    p->slowdown);
    /* No thread count: the worker uses its own --threads. */
    if (req && p->threads > 0 && json_object_set_new(req, "threads", json_integer(p->threads))) {
        json_decref(req);
        req = NULL;
    }
    if (!req)
        return hr_error_set(err, HR_ERR_NOMEM, "remote lut: out of memory");
    if ((st = hr__send_json(c, HR_MSG_LUT_MEASURE, 1, req, NULL, 0, err)))
        return st;
    hr_msg_init(&m);
    /* Progress ACKs until the LUT_RESULT. */
    for (;;) {
        json_decref(meta);
        meta = NULL;
        if ((st = hr_chan_recv(c, p->idle_timeout_ms, &m, err)) || (st = hr__meta_parse(&m, &meta, err)))
            goto out;
        if (m.type == HR_MSG_LUT_RESULT)
            break;
        if (m.type != HR_MSG_ACK || !json_is_number(json_object_get(meta, "progress"))) {
            st = hr_error_set(err, HR_ERR_FORMAT, "remote lut: expected lut_result or a progress ack, got %s",
                              hr_msg_type_name(m.type));
            goto out;
        }
        char block[64];
        hr__rlog(p->log, p->log_user, "client: %3.0f%% %s", 100 * json_number_value(json_object_get(meta, "progress")),
             hr__text_clean(block, sizeof block, json_string_value(json_object_get(meta, "block"))));
    }
    if ((st = read_device(meta, &d, err)))
        goto out;
    if (!json_is_object(json_object_get(meta, "lut"))) {
        st = hr_error_set(err, HR_ERR_FORMAT, "lut_result: field 'lut' must be the per-device LUT object");
        goto out;
    }
    /* Written as received, then read back through the file checks. */
    if (!(text = json_dumps(json_object_get(meta, "lut"), JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "lut_result: out of memory");
        goto out;
    }
    if ((st = hr_write_file_atomic(client_path, text, strlen(text), err)) ||
        (st = hr_device_lut_load(client_path, &lut, err)))
        goto out;
    if (lut->role != HR_DEVICE_CLIENT) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: the worker sent a %s LUT, expected client", client_path,
                          hr_device_name(lut->role));
        goto out;
    }
    {
        const hr_arch *a = hr_arch_find(p->arch);
        if (!a || strcmp(a->name, lut->model) != 0) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: the worker measured %s, asked for %s", client_path, lut->model,
                              p->arch);
            goto out;
        }
        if (p->input_size > 0 && lut->input_shape[1] != p->input_size) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: the worker measured input size %lld, asked for %lld",
                              client_path, (long long)lut->input_shape[1], (long long)p->input_size);
            goto out;
        }
    }
    if (!d.threads)
        d.threads = lut->threads;
    if (!d.cpu[0])
        copy_str(d.cpu, sizeof d.cpu, lut->gpu_name);
    *out = lut;
    lut = NULL;
    if (dev)
        *dev = d;
out:
    free(text);
    json_decref(meta);
    hr_msg_deinit(&m);
    hr_device_lut_destroy(lut);
    return st;
}

/* --------------------------------------------------------- link benchmark */

hr_link_bench_params hr_link_bench_params_default(void)
{
    hr_link_bench_params p;
    memset(&p, 0, sizeof p);
    p.repeats = 5;
    p.rtt_repeats = 10;
    p.download = 1;
    p.timeout_ms = 60000;
    return p;
}

void hr_link_bench_init(hr_link_bench *b)
{
    memset(b, 0, sizeof *b);
    b->upload = hr_link_default();
    b->download = hr_link_default();
}

void hr_link_bench_deinit(hr_link_bench *b)
{
    if (!b)
        return;
    free(b->samples);
    hr_link_bench_init(b);
}

/* One timed round trip. upload: ask for n bytes back; download: send n
 * bytes, get an empty echo; n = 0: an empty probe both ways. */
static hr_status probe(hr_chan *c, uint32_t id, int upload, size_t n, const uint8_t *payload, int timeout_ms,
                       double *ms, hr_error *err)
{
    hr_wire_tensor t;
    hr_msg m;
    hr_status st;
    char meta[64];
    double t0;
    memset(&t, 0, sizeof t);
    t.dtype = HR_WIRE_U8;
    t.ndim = 1;
    t.shape[0] = (int64_t)n;
    t.data = (void *)payload;
    t.nbytes = n;
    snprintf(meta, sizeof meta, "{\"reply_bytes\":%zu}", upload ? n : (size_t)0);
    hr_msg_init(&m);
    t0 = hr__remote_now_ms();
    if ((st = hr_chan_send(c, HR_MSG_LINK_PROBE, id, upload && n ? meta : NULL, &t, upload || !n ? 0 : 1, err)) ||
        (st = hr_chan_expect(c, HR_MSG_LINK_ECHO, timeout_ms, &m, err)))
        goto out;
    *ms = hr__remote_now_ms() - t0;
    if (m.id != id) {
        st = hr_error_set(err, HR_ERR_FORMAT, "link_echo: id %u answers no probe (expected %u)", m.id, id);
        goto out;
    }
    {
        size_t want = upload ? n : 0, got = m.ntensors ? m.tensor[0].nbytes : 0;
        if (got != want || (m.ntensors && m.tensor[0].dtype != HR_WIRE_U8))
            st = hr_error_set(err, HR_ERR_FORMAT, "link_echo %u: %zu bytes back, expected %zu", id, got, want);
    }
out:
    hr_msg_deinit(&m);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Empty probes per burst, and bursts, for the per-message cost. */
#define LINK_BURST 16
#define LINK_BURSTS 5

/* LINK_BURST empty probes sent back to back, then their echoes read: with
 * the messages in flight together, the burst takes one round trip plus
 * (LINK_BURST - 1) times what each further message occupies the path for
 * (both ends' framing and handling, the echo included), which is what
 * hr_link.per_message_ms models. *ms is the whole burst. */
static hr_status burst(hr_chan *c, uint32_t *id, int timeout_ms, double *ms, hr_error *err)
{
    hr_wire_tensor t;
    hr_status st = HR_OK;
    uint32_t first = *id;
    double t0;
    memset(&t, 0, sizeof t);
    t0 = hr__remote_now_ms();
    for (int i = 0; i < LINK_BURST && !st; i++)
        st = hr_chan_send(c, HR_MSG_LINK_PROBE, (*id)++, NULL, &t, 0, err);
    for (int i = 0; i < LINK_BURST && !st; i++) {
        hr_msg m;
        hr_msg_init(&m);
        if (!(st = hr_chan_expect(c, HR_MSG_LINK_ECHO, timeout_ms, &m, err)) && m.id != first + (uint32_t)i)
            st = hr_error_set(err, HR_ERR_FORMAT, "link_echo: id %u, expected %u (burst)", m.id,
                              first + (uint32_t)i);
        hr_msg_deinit(&m);
    }
    *ms = hr__remote_now_ms() - t0;
    return st;
}

/* Fits one direction on the median round trip of each size: least squares
 * over the sizes as SPEC §4 asks, but a scheduler hiccup in one repeat (a
 * loaded machine, a CI runner) moves a median far less than a mean, so
 * the slope stays positive whenever most round trips grow with size. */
static hr_status fit_dir(hr_link_bench *b, int upload, hr_link *out, hr_error *err)
{
    const size_t n = (size_t)b->nsamples + 1;
    double *x = calloc(n, sizeof(double)), *y = calloc(n, sizeof(double)), *t = calloc(n, sizeof(double));
    int nx = 0;
    hr_status st;
    if (!x || !y || !t) {
        free(x), free(y), free(t);
        return hr_error_set(err, HR_ERR_NOMEM, "link benchmark: out of memory");
    }
    for (int i = 0; i < b->nsamples; i++) {
        const hr_link_sample *s = &b->samples[i];
        int seen = 0, k = 0;
        if (s->upload != upload)
            continue;
        for (int j = 0; j < nx && !seen; j++)
            seen = x[j] == s->mb;
        if (seen)
            continue;
        for (int j = i; j < b->nsamples; j++)
            if (b->samples[j].upload == upload && b->samples[j].mb == s->mb)
                t[k++] = b->samples[j].ms;
        qsort(t, (size_t)k, sizeof *t, cmp_double);
        x[nx] = s->mb;
        y[nx++] = k % 2 ? t[k / 2] : 0.5 * (t[k / 2 - 1] + t[k / 2]);
    }
    st = hr_link_fit_bounded(x, y, nx, out, &b->bound_only[upload ? 1 : 0], err);
    if (st)
        hr_error_prefix(err, "link benchmark (%s)", upload ? "client to server" : "server to client");
    free(x), free(y), free(t);
    return st;
}

hr_status hr_remote_link_bench(hr_chan *c, const hr_link_bench_params *params, hr_link_bench *out, hr_error *err)
{
    static const double def_sizes[] = {0.1, 0.5, 1, 2, 5};
    hr_link_bench_params p = params ? *params : hr_link_bench_params_default();
    const double *sizes = p.sizes_mb ? p.sizes_mb : def_sizes;
    int nsizes = p.sizes_mb ? p.nsizes : 5, dirs, cap;
    double *rtt = NULL, biggest = 0, per_message_ms = 0;
    uint8_t *payload = NULL;
    uint32_t id = 1;
    hr_status st = HR_OK;
    if (nsizes < 2 || nsizes > 100 || p.repeats < 1 || p.repeats > 1000 || p.rtt_repeats < 1 ||
        p.rtt_repeats > 10000 || p.timeout_ms == 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "link benchmark: %d sizes (2..100), %d repeats (1..1000), %d "
                            "empty probes (1..10000)", nsizes, p.repeats, p.rtt_repeats);
    for (int i = 0; i < nsizes; i++) {
        if (!(sizes[i] > 0) || sizes[i] * 1e6 > (double)HR__LINK_MAX_BYTES)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "link benchmark: size %g MB is outside (0, %g]", sizes[i],
                                (double)HR__LINK_MAX_BYTES / 1e6);
        if (sizes[i] > biggest)
            biggest = sizes[i];
    }
    hr_link_bench_deinit(out);
    dirs = p.download ? 2 : 1;
    cap = nsizes * p.repeats * dirs;
    out->samples = calloc((size_t)cap, sizeof *out->samples);
    rtt = malloc(sizeof(double) * (size_t)p.rtt_repeats);
    payload = malloc((size_t)(biggest * 1e6 + 0.5) + 1);
    if (!out->samples || !rtt || !payload) {
        st = hr_error_set(err, HR_ERR_NOMEM, "link benchmark: out of memory");
        goto out;
    }
    memset(payload, 0xa5, (size_t)(biggest * 1e6 + 0.5) + 1);
    for (int i = 0; i < p.rtt_repeats && !st; i++)
        st = probe(c, id++, 0, 0, NULL, p.timeout_ms, &rtt[i], err);
    if (st)
        goto out;
    qsort(rtt, (size_t)p.rtt_repeats, sizeof *rtt, cmp_double);
    out->rtt_min_ms = rtt[0];
    out->rtt_ms = p.rtt_repeats % 2 ? rtt[p.rtt_repeats / 2]
                                    : 0.5 * (rtt[p.rtt_repeats / 2 - 1] + rtt[p.rtt_repeats / 2]);
    {
        double bt[LINK_BURSTS];
        for (int i = 0; i < LINK_BURSTS && !st; i++)
            st = burst(c, &id, p.timeout_ms, &bt[i], err);
        if (st)
            goto out;
        qsort(bt, LINK_BURSTS, sizeof *bt, cmp_double);
        per_message_ms = (bt[LINK_BURSTS / 2] - out->rtt_ms) / (LINK_BURST - 1);
        if (per_message_ms < 0)
            per_message_ms = 0;
    }
    /* Sizes and directions interleaved, so a drifting link touches all alike. */
    for (int r = 0; r < p.repeats && !st; r++)
        for (int s = 0; s < nsizes && !st; s++)
            for (int d = 0; d < dirs && !st; d++) {
                hr_link_sample *smp = &out->samples[out->nsamples];
                size_t n = (size_t)(sizes[s] * 1e6 + 0.5);
                smp->upload = d == 0;
                smp->mb = (double)n / 1e6;
                if (!(st = probe(c, id++, smp->upload, n, payload, p.timeout_ms, &smp->ms, err)))
                    out->nsamples++;
            }
    if (st)
        goto out;
    if ((st = fit_dir(out, 1, &out->upload, err)))
        goto out;
    if (p.download && (st = fit_dir(out, 0, &out->download, err)))
        goto out;
    /* The fixed cost of one transfer is measured, not extrapolated: see
     * hr_link_bench.fit_intercept_ms. */
    out->fit_intercept_ms[1] = out->upload.latency_ms;
    out->upload.latency_ms = out->rtt_ms;
    out->upload.per_message_ms = per_message_ms;
    if (p.download) {
        out->fit_intercept_ms[0] = out->download.latency_ms;
        out->download.latency_ms = out->rtt_ms;
        out->download.per_message_ms = per_message_ms;
    }
out:
    free(rtt);
    free(payload);
    if (st)
        hr_link_bench_deinit(out);
    return st;
}

static json_t *link_json(const hr_link *l, double fit_intercept_ms, int bound_only)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:b, s:s}", "bandwidth_mbit_s", l->bandwidth_mbit_s, "latency_ms",
                     l->latency_ms, "fit_intercept_ms", fit_intercept_ms, "per_message_ms", l->per_message_ms,
                     "k_ms_per_mb", l->k_ms_per_mb, "measured", l->measured, "fit",
                     bound_only ? "bound: the slope was not positive (a link faster than the sizes resolve, or "
                                  "noise); bandwidth = the best size / median round trip seen, a lower bound"
                                : "least squares");
}

hr_status hr_link_bench_save(const char *path, const hr_link_bench *b, const hr_remote_device *client, hr_error *err)
{
    json_t *root = json_object(), *samples = json_array();
    char *text = NULL;
    hr_status st;
    int ok = root && samples;
    for (int i = 0; ok && i < b->nsamples; i++)
        ok = !json_array_append_new(samples, json_pack("{s:s, s:f, s:f}", "direction",
                                                       b->samples[i].upload ? "client_to_server" : "server_to_client",
                                                       "mb", b->samples[i].mb, "ms", b->samples[i].ms));
    if (ok) {
        ok = !json_object_set_new(root, "format", hr__format_json(HR_FORMAT_LINK_BENCH, 1, 0));
        ok = ok && !json_object_set_new(root, "method", json_string("round trips over the hyperrep channel: "
                                  "client_to_server = a short probe out and n bytes back (LINK_PROBE reply_bytes), "
                                  "server_to_client = n bytes out and an empty echo back; time = k * MB + b by least "
                                  "squares per direction (SPEC 4), bandwidth_mbit_s = 8000 / k; latency_ms = the "
                                  "median round trip of an empty probe (the fixed cost of one transfer, "
                                  "the short message's return included, measured rather than extrapolated); "
                                  "fit_intercept_ms = b, for information"));
        ok = ok && !json_object_set_new(root, "client_to_server", link_json(&b->upload, b->fit_intercept_ms[1], b->bound_only[1]));
        if (b->download.measured)
            ok = ok && !json_object_set_new(root, "server_to_client", link_json(&b->download, b->fit_intercept_ms[0], b->bound_only[0]));
        ok = ok && !json_object_set_new(root, "rtt_median_ms", json_real(b->rtt_ms));
        ok = ok && !json_object_set_new(root, "rtt_min_ms", json_real(b->rtt_min_ms));
        if (client)
            ok = ok && !json_object_set_new(root, "client", json_pack("{s:s, s:s, s:b}", "name", client->name, "peer",
                                                                      client->peer, "tls", client->tls));
        ok = ok && !json_object_set(root, "samples", samples);
    }
    if (ok)
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(samples);
    json_decref(root);
    if (!ok || !text)
        return hr_error_set(err, HR_ERR_NOMEM, "%s: out of memory", path);
    st = hr_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}
