/* The server's per-frame overhead measured through a real server (remote.h,
 * hr_remote_serve_probe; SPEC §13.1, docs/PROTOCOL.md "serve_probe").
 *
 * Why a second connection and not the driver's channel: the figure must
 * include what the server's event loop, its hand-offs to the compute worker
 * and the kernel's socket work cost per frame, so the frames must arrive on
 * a socket that hr_server owns, over the same path (shaped link, delay
 * relay) as the worker's channel. The worker dials the address it already
 * dials, the driver accepts that TCP connection without a handshake and
 * gives it to an hr_server running in this process, which does TLS and the
 * hello itself. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hyperrep/edge.h"
#include "hyperrep/remote.h"
#include "hyperrep/serve.h"
#include "remote/remote_internal.h"

#define WHAT "serve_probe"

hr_serve_probe_params hr_serve_probe_params_default(void)
{
    hr_serve_probe_params p;
    memset(&p, 0, sizeof p);
    p.placement = "raw";
    p.threads = 1;
    p.window = 16;
    p.warmup = 200;
    p.frames = 1000;
    p.passes = 5;
    p.seed = 42;
    p.timeout_ms = 120000;
    return p;
}

void hr_serve_probe_init(hr_serve_probe *r)
{
    memset(r, 0, sizeof *r);
}

void hr_serve_probe_deinit(hr_serve_probe *r)
{
    if (!r)
        return;
    free(r->cpu_pass_ms);
    free(r->overhead_ms);
    hr_serve_probe_init(r);
}

/* "raw" or a split "0".."1023" (the model's own range is checked when it
 * is built); -3: anything else, "local" included (nothing would cross). */
static int parse_placement(const char *s)
{
    int v;
    if (hr_placement_parse(s, 1023, &v, NULL) != HR_OK || v == HR_PLACEMENT_LOCAL)
        return -3;
    return v;
}

static double process_cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double *s = malloc(sizeof *s * (size_t)(n > 0 ? n : 1)), m;
    if (!s || n < 1) {
        free(s);
        return 0;
    }
    memcpy(s, v, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    m = hr_lut_quantile(s, n, 0.5);
    free(s);
    return m;
}

/* ------------------------------------------------------------- the worker */

typedef struct probe_log {
    const hr_worker_params *p;
} probe_log;

static void edge_log(void *user, hr_log_level level, const char *line)
{
    const probe_log *pl = user;
    if (pl->p->log && level >= HR_LOG_WARN)
        pl->p->log(pl->p->log_user, line);
}

/* Reports the end of a pass and waits for the driver's go: the driver reads
 * its clocks between the two, so no frame of the next pass is in them. */
static hr_status send_mark(hr_chan *c, uint32_t id, int pass, const hr_edge_stats *s, int timeout_ms, hr_error *err)
{
    hr_msg go;
    hr_status st = hr__send_json(c, HR_MSG_ACK, id,
                                 json_pack("{s:i, s:I, s:f, s:f}", "mark", pass, "frames",
                                           (json_int_t)(s ? s->frames : 0), "fps", s ? s->fps : 0.0, "tail_ms",
                                           s ? s->tail.mean : 0.0),
                                 NULL, 0, err);
    if (st)
        return st;
    hr_msg_init(&go);
    st = hr_chan_expect(c, HR_MSG_ACK, timeout_ms, &go, err);
    hr_msg_deinit(&go);
    return st;
}

hr_status hr__worker_serve_probe(hr_chan *c, const hr_worker_params *wp, const hr_msg *msg, hr_error *err)
{
    json_t *meta = NULL, *cfgj = NULL;
    const char *arch, *placement;
    int64_t input_size, in_ch, classes, threads, window, warmup, frames, passes, seed;
    hr_deploy_config cfg;
    hr_edge *e = NULL;
    char *text = NULL;
    int split;
    probe_log pl = {wp};
    hr_status st;

    hr_deploy_config_init(&cfg);
    if ((st = hr__meta_parse(msg, &meta, err)))
        return st;
    if ((st = hr__meta_str(meta, WHAT, "model", 1, 63, &arch, err)) ||
        (st = hr__meta_str(meta, WHAT, "placement", 0, 15, &placement, err)) ||
        (st = hr__meta_int(meta, WHAT, "input_size", 0, 0, 0, 65536, &input_size, err)) ||
        (st = hr__meta_int(meta, WHAT, "in_channels", 0, 0, 0, 65536, &in_ch, err)) ||
        (st = hr__meta_int(meta, WHAT, "num_classes", 0, 0, 0, 1 << 20, &classes, err)) ||
        (st = hr__meta_int(meta, WHAT, "threads", 0, wp->threads, 1, 1024, &threads, err)) ||
        (st = hr__meta_int(meta, WHAT, "window", 0, 16, 1, HR_EDGE_MAX_WINDOW, &window, err)) ||
        (st = hr__meta_int(meta, WHAT, "warmup", 0, 200, 0, 1000000, &warmup, err)) ||
        (st = hr__meta_int(meta, WHAT, "frames", 0, 1000, 1, 1000000, &frames, err)) ||
        (st = hr__meta_int(meta, WHAT, "passes", 0, 5, 1, 1000, &passes, err)) ||
        (st = hr__meta_int(meta, WHAT, "seed", 0, 42, 0, INT64_MAX, &seed, err)))
        goto out;
    split = parse_placement(placement ? placement : "raw");
    if (split == -3) {
        st = hr_error_set(err, HR_ERR_FORMAT, WHAT ": field 'placement' = '%s' is not raw or a split 0..N", placement);
        goto out;
    }
    /* The deployment as `infer` would send it: this model, this placement,
     * every block at its deploy γ, random weights from the seed. */
    cfgj = json_pack("{s:s, s:I, s:I, s:I}", "arch", arch, "input_size", (json_int_t)input_size, "in_channels",
                     (json_int_t)in_ch, "num_classes", (json_int_t)classes);
    if (cfgj)
        json_object_set_new(cfgj, "split", split == HR_PLACEMENT_RAW ? json_string("raw") : json_integer(split));
    if (!cfgj || !(text = json_dumps(cfgj, JSON_COMPACT))) {
        st = hr_error_set(err, HR_ERR_NOMEM, WHAT ": out of memory");
        goto out;
    }
    if ((st = hr_deploy_config_parse(text, WHAT, &cfg, err)))
        goto out;
    if (cfg.split != HR_PLACEMENT_RAW && cfg.split >= cfg.nblocks) {
        st = hr_error_set(err, HR_ERR_FORMAT, WHAT ": split %d leaves the server only the classifier; use 0..%d or raw",
                          cfg.split, cfg.nblocks - 1);
        goto out;
    }

    hr_edge_params ep = hr_edge_params_default();
    ep.server = wp->server;
    ep.net = wp->net;
    ep.net.role = "infer";
    ep.threads = (int)threads;
    ep.seed = (uint64_t)seed;
    ep.timeout_ms = wp->reply_timeout_ms > 0 ? wp->reply_timeout_ms : 60000;
    ep.log = edge_log;
    ep.log_user = &pl;
    hr_edge_prepare_params pp = hr_edge_prepare_params_default();
    pp.data = "random";
    if ((st = hr_edge_create(&ep, &e, err)) || (st = hr_edge_prepare(e, &cfg, &pp, err)) ||
        (st = hr_edge_deploy(e, err)))
        goto out;
    hr_edge_run_params rp = hr_edge_run_params_default();
    hr_edge_stats s;
    rp.window = (int)window;
    /* The warm-up pass: the server's caches, its queue and TCP's window
     * settle before the first mark. */
    rp.warmup = 0;
    rp.frames = warmup > 0 ? warmup : 1;
    if ((st = hr_edge_run(e, &rp, &s, err)) || (st = send_mark(c, msg->id, 0, NULL, ep.timeout_ms, err)))
        goto out;
    rp.frames = frames;
    for (int64_t i = 1; i <= passes; i++)
        if ((st = hr_edge_run(e, &rp, &s, err)) || (st = send_mark(c, msg->id, (int)i, &s, ep.timeout_ms, err)))
            goto out;
    {
        int64_t sh[4];
        hr_deploy_part_crossing_shape(hr_edge_part(e), sh);
        /* The deployment ends before the report, so that the server's
         * session is closed when the driver stops it. */
        hr_edge_destroy(e);
        e = NULL;
        st = hr__send_json(c, HR_MSG_ACK, msg->id,
                           json_pack("{s:b, s:[I, I, I, I], s:s}", "done", 1, "crossing", (json_int_t)sh[0],
                                     (json_int_t)sh[1], (json_int_t)sh[2], (json_int_t)sh[3], "crossing_dtype",
                                     split == HR_PLACEMENT_RAW ? "u8" : "f32"),
                           NULL, 0, err);
    }
out:
    if (st)
        hr_error_prefix(err, WHAT);
    hr_edge_destroy(e);
    hr_deploy_config_deinit(&cfg);
    free(text);
    json_decref(cfgj);
    json_decref(meta);
    return st;
}

/* ------------------------------------------------------------- the driver */

typedef struct server_thread {
    hr_server *srv;
    hr_status st;
    hr_error err;
} server_thread;

static void *server_main(void *arg)
{
    server_thread *t = arg;
    t->st = hr_server_run(t->srv, &t->err);
    return NULL;
}

typedef struct server_log {
    const hr_serve_probe_params *p;
} server_log;

static void on_server_log(void *user, hr_log_level level, const char *line)
{
    const server_log *sl = user;
    (void)level;
    hr__rlog(sl->p->log, sl->p->log_user, "probe server: %s", line);
}

/* Accepts the worker's connection while watching its channel: a worker
 * that cannot dial says so there (an ERROR) instead of leaving us waiting
 * for the whole timeout. */
static hr_status accept_worker(hr_chan *c, hr_listener *l, int timeout_ms, int *fd, hr_error *err)
{
    double deadline = hr__remote_now_ms() + timeout_ms;
    char addr[128];
    for (;;) {
        int readable = 0;
        hr_status st = hr_listener_accept_socket(l, 100, fd, addr, sizeof addr, err);
        if (st == HR_OK)
            return HR_OK;
        if ((st = hr_chan_wait(c, -1, 0, &readable, err)))
            return st;
        if (readable) {
            hr_msg m;
            hr_msg_init(&m);
            st = hr_chan_recv(c, timeout_ms, &m, err);
            if (!st)
                st = hr_error_set(err, HR_ERR_FORMAT, WHAT ": expected the worker's connection, got %s",
                                  hr_msg_type_name(m.type));
            hr_msg_deinit(&m);
            return st;
        }
        if (hr__remote_now_ms() >= deadline)
            return hr_error_set(err, HR_ERR_IO, WHAT ": the worker did not connect within %d ms", timeout_ms);
    }
}

typedef struct snapshot {
    double cpu_ms, tail_cpu_ms;
    uint64_t frames;
} snapshot;

static snapshot take(hr_server *srv)
{
    hr_server_stats s;
    snapshot r;
    r.cpu_ms = process_cpu_ms();
    hr_server_get_stats(srv, &s);
    r.tail_cpu_ms = s.tail_cpu_ms;
    r.frames = s.frames;
    return r;
}

hr_status hr_remote_serve_probe(hr_chan *c, hr_listener *l, const hr_serve_probe_params *p, hr_serve_probe *out,
                                hr_error *err)
{
    hr_server_params sp = hr_server_params_default();
    hr_server *srv = NULL;
    server_thread th;
    server_log sl = {p};
    pthread_t tid;
    int running = 0, fd = -1, split;
    json_t *req = NULL, *meta = NULL;
    double *cpu = NULL, *tail = NULL, *fps = NULL;
    snapshot prev = {0, 0, 0};
    hr_msg m;
    hr_status st;

    if (!c || !l || !p || !out || !p->arch)
        return hr_error_set(err, HR_ERR_INVALID_ARG, WHAT ": no channel, listener, parameters, output or model");
    split = parse_placement(p->placement);
    if (split == -3 || p->threads < 1 || p->threads > 1024 || p->window < 1 || p->window > HR_EDGE_MAX_WINDOW ||
        p->warmup < 0 || p->frames < 1 || p->passes < 1 || p->passes > 1000 || p->timeout_ms < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, WHAT ": bad parameters (placement '%s' must be raw or a split; "
                            "threads 1..1024, window 1..%d, frames >= 1, passes 1..1000, timeout >= 1 ms)",
                            p->placement ? p->placement : "(none)", HR_EDGE_MAX_WINDOW);
    memset(&th, 0, sizeof th);
    hr_msg_init(&m);
    hr_serve_probe_deinit(out);
    out->overhead_ms = calloc((size_t)p->passes, sizeof *out->overhead_ms);
    out->cpu_pass_ms = calloc((size_t)p->passes, sizeof *out->cpu_pass_ms);
    cpu = calloc((size_t)p->passes, sizeof *cpu);
    tail = calloc((size_t)p->passes, sizeof *tail);
    fps = calloc((size_t)p->passes, sizeof *fps);
    if (!out->overhead_ms || !out->cpu_pass_ms || !cpu || !tail || !fps) {
        st = hr_error_set(err, HR_ERR_NOMEM, WHAT ": out of memory");
        goto out;
    }
    /* Nobody dials this listener: the worker's connection is handed over. */
    sp.listen = "127.0.0.1:0";
    sp.tls = p->tls;
    sp.workers = 1;
    sp.threads_per_model = p->threads;
    sp.max_clients = 1;
    sp.max_queue = p->window;
    sp.log = on_server_log;
    sp.log_user = &sl;
    sp.log_level = HR_LOG_WARN;
    if ((st = hr_server_create(&sp, &srv, err)))
        goto out;
    th.srv = srv;
    if (pthread_create(&tid, NULL, server_main, &th) != 0) {
        st = hr_error_set(err, HR_ERR_INTERNAL, WHAT ": cannot start the server's thread");
        goto out;
    }
    running = 1;
    req = json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:i, s:I}", "model", p->arch, "placement",
                    p->placement, "input_size", (json_int_t)p->input_size, "in_channels", (json_int_t)p->in_channels,
                    "num_classes", (json_int_t)p->num_classes, "window", p->window, "warmup", p->warmup, "frames",
                    p->frames, "passes", p->passes, "seed", (json_int_t)(p->seed & INT64_MAX));
    if (!req) {
        st = hr_error_set(err, HR_ERR_NOMEM, WHAT ": out of memory");
        goto out;
    }
    st = hr__send_json(c, HR_MSG_SERVE_PROBE, 1, req, NULL, 0, err);
    req = NULL; /* taken by the call, sent or not */
    if (st)
        goto out;
    if ((st = accept_worker(c, l, p->timeout_ms, &fd, err)) || (st = hr_server_adopt(srv, fd, err)))
        goto out;
    fd = -1;
    hr__rlog(p->log, p->log_user,
             "probe: the worker streams %d x %d frames (%s placement, window %d) through a server in this process",
             p->passes, p->frames, p->placement, p->window);
    /* One ACK per mark, then the final one. */
    for (int expect = 0;; expect++) {
        json_decref(meta);
        meta = NULL;
        if ((st = hr_chan_recv(c, p->timeout_ms, &m, err)) || (st = hr__meta_parse(&m, &meta, err)))
            goto out;
        snapshot now = take(srv);
        if (m.type != HR_MSG_ACK) {
            st = hr_error_set(err, HR_ERR_FORMAT, WHAT ": expected an ack, got %s", hr_msg_type_name(m.type));
            goto out;
        }
        if (json_is_true(json_object_get(meta, "done"))) {
            if (expect != p->passes + 1) {
                st = hr_error_set(err, HR_ERR_FORMAT, WHAT ": the worker finished after %d of %d passes",
                                  expect - 1 < 0 ? 0 : expect - 1, p->passes);
                goto out;
            }
            const json_t *sh = json_object_get(meta, "crossing");
            for (int d = 0; d < 4; d++) {
                const json_t *v = json_array_get(sh, (size_t)d);
                if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > ((json_int_t)1 << 31)) {
                    st = hr_error_set(err, HR_ERR_FORMAT, WHAT ": field 'crossing' must be 4 integers >= 1");
                    goto out;
                }
                out->crossing_shape[d] = json_integer_value(v);
            }
            break;
        }
        int64_t mark;
        double wfps;
        if ((st = hr__meta_int(meta, WHAT, "mark", 1, 0, expect, expect, &mark, err)) ||
            (st = hr__meta_num(meta, WHAT, "fps", 0, 0, 0, 1e12, &wfps, err)))
            goto out;
        /* The worker waits for this before its next pass. */
        if ((st = hr_chan_send(c, HR_MSG_ACK, m.id, NULL, NULL, 0, err)))
            goto out;
        if (mark > 0) {
            int i = (int)mark - 1;
            uint64_t nf = now.frames - prev.frames;
            if (nf == 0) {
                st = hr_error_set(err, HR_ERR_FORMAT, WHAT ": pass %d: the server saw no frames", i + 1);
                goto out;
            }
            cpu[i] = (now.cpu_ms - prev.cpu_ms) / (double)nf;
            tail[i] = (now.tail_cpu_ms - prev.tail_cpu_ms) / (double)nf;
            /* The tails' CPU is part of the process's: a difference below 0
             * is clock granularity, not a saving. */
            out->overhead_ms[i] = cpu[i] - tail[i] > 0 ? cpu[i] - tail[i] : 0;
            fps[i] = wfps;
            out->frames += (int64_t)nf;
            hr__rlog(p->log, p->log_user,
                     "probe: pass %d/%d: %llu frames, %.4f ms of server CPU per frame, %.4f in the tail, overhead "
                     "%.4f ms (%.0f fps)", i + 1, p->passes, (unsigned long long)nf, cpu[i], tail[i],
                     out->overhead_ms[i], wfps);
        }
        prev = now;
    }
    memcpy(out->cpu_pass_ms, cpu, sizeof *cpu * (size_t)p->passes);
    out->passes = p->passes;
    out->window = p->window;
    out->cpu_ms = median(cpu, p->passes);
    out->tail_cpu_ms = median(tail, p->passes);
    out->fps = median(fps, p->passes);
    snprintf(out->placement, sizeof out->placement, "%s", p->placement);
out:
    if (running) {
        hr_server_stop(srv);
        pthread_join(tid, NULL);
        if (!st && th.st)
            st = hr_error_set(err, th.st, "%s", th.err.msg);
    }
    hr_server_destroy(srv);
    if (fd >= 0)
        close(fd);
    if (st)
        hr_serve_probe_deinit(out);
    free(cpu);
    free(tail);
    free(fps);
    json_decref(req);
    json_decref(meta);
    hr_msg_deinit(&m);
    return st;
}

hr_status hr_serve_probe_apply(const hr_serve_probe *probe, hr_device_lut *lut, hr_lut_stat stat,
                               double *lut_tail_ms, hr_error *err)
{
    double tail, *samples;
    hr_status st;
    if (!probe || !lut || probe->passes < 1 || !probe->cpu_pass_ms)
        return hr_error_set(err, HR_ERR_INVALID_ARG, WHAT ": no probe, passes or LUT");
    if (strcmp(probe->placement, "raw") != 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            WHAT ": a probe of placement '%s' cannot set T_frame (the LUT's tail is that of raw)",
                            probe->placement);
    tail = hr_device_lut_deploy_ms(lut, stat);
    if (!(tail > 0) || !isfinite(tail))
        return hr_error_set(err, HR_ERR_INVALID_ARG, WHAT ": the %s LUT gives the whole model %g ms",
                            hr_device_name(lut->role), tail);
    if (!(samples = malloc(sizeof *samples * (size_t)probe->passes)))
        return hr_error_set(err, HR_ERR_NOMEM, WHAT ": out of memory");
    /* Below 0 (the server ran faster than its LUT) the difference is
     * noise in one or the other, not a negative cost. */
    for (int i = 0; i < probe->passes; i++)
        samples[i] = probe->cpu_pass_ms[i] > tail ? probe->cpu_pass_ms[i] - tail : 0;
    st = hr_device_lut_set_frame(lut, samples, probe->passes, probe->crossing_shape, "raw", "serve", err);
    free(samples);
    if (!st && lut_tail_ms)
        *lut_tail_ms = tail;
    return st;
}
