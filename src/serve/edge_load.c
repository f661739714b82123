/* The load generator (edge.h): many edges in one process, each a thread
 * with its own connection, head and (with vary_split) configuration,
 * streaming paced frames one at a time. */
#include "serve/edge_internal.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct client {
    int index;
    const hr_edge_load_params *o;
    const void *weights_bytes;
    size_t weights_len;
    hr_deploy_config cfg;
    hr_ctx *ctx;
    hr_deploy_part *head;
    void *cross;             /* crossing buffer (u8 for raw, else f32) */
    double *e2e, *rtt, *tail;
    int64_t n, cap, late;
    double t_first;          /* planned start (monotonic ms) */
    int failed;
    char error[HR_ERROR_MSG_MAX];
    pthread_t th;
} client;

hr_edge_load_params hr_edge_load_params_default(void)
{
    hr_edge_load_params p;
    memset(&p, 0, sizeof p);
    p.net = hr_net_params_default();
    p.net.role = "infer";
    p.seed = 42;
    p.clients = 1;
    p.fps = 10;
    p.duration_s = 60;
    p.timeout_ms = 60000;
    p.log_level = HR_LOG_WARN;
    return p;
}

void hr_edge_load_result_deinit(hr_edge_load_result *r)
{
    if (!r)
        return;
    free(r->failures);
    memset(r, 0, sizeof *r);
}

static void sleep_until(double t_ms)
{
    struct timespec ts;
    double now = hr__edge_now_ms();
    if (t_ms <= now)
        return;
    /* hr__edge_now_ms is CLOCK_MONOTONIC, so an absolute sleep on it */
    ts.tv_sec = (time_t)(t_ms / 1000);
    ts.tv_nsec = (long)((t_ms - (double)ts.tv_sec * 1000) * 1e6);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

static void *client_main(void *arg)
{
    client *c = arg;
    const hr_edge_load_params *o = c->o;
    hr_chan *chan = NULL;
    hr_error e = {0};
    hr_msg m;
    double period = 1000.0 / o->fps, end;
    char name[64];
    hr_net_params np = o->net;

    hr_msg_init(&m);
    snprintf(name, sizeof name, "%s-%d", np.name ? np.name : "load", c->index);
    np.name = name;
    sleep_until(c->t_first - 100);
    if (hr_chan_connect(o->server, &np, &chan, &e) ||
        hr__edge_sync(chan, &c->cfg, c->weights_bytes, c->weights_len, o->seed, 0, o->timeout_ms, NULL, &e))
        goto fail;
    end = c->t_first + o->duration_s * 1000;
    for (int64_t k = 0;; k++) {
        double planned = c->t_first + (double)k * period, t0, ts;
        if (planned >= end)
            break;
        if (hr__edge_now_ms() > planned + period)
            c->late++;
        sleep_until(planned);
        t0 = hr__edge_now_ms();
        if (hr_deploy_part_run_head(c->head, hr_edge_frames_at(o->frames, (int64_t)c->index + k), c->cross, &e))
            goto fail;
        hr_wire_tensor w = hr_deploy_part_crossing_wire(c->head, c->cross);
        ts = hr__edge_now_ms();
        if (hr_chan_send(chan, HR_MSG_INFER_FRAME, (uint32_t)k, NULL, &w, 1, &e) ||
            hr_chan_expect(chan, HR_MSG_INFER_RESULT, o->timeout_ms, &m, &e))
            goto fail;
        double tr = hr__edge_now_ms();
        json_t *root = m.meta ? json_loads(m.meta, 0, NULL) : NULL;
        json_t *jt = json_object_get(root, "tail_ms");
        if (m.id != (uint32_t)k || !json_is_integer(json_object_get(root, "class")) || !json_is_number(jt)) {
            hr_error_set(&e, HR_ERR_FORMAT, "infer_result %u: expected id %lld with a class and tail_ms", m.id,
                         (long long)k);
            json_decref(root);
            goto fail;
        }
        if (c->n < c->cap) {
            c->e2e[c->n] = tr - t0;
            c->rtt[c->n] = tr - ts;
            c->tail[c->n] = json_number_value(jt);
            c->n++;
        }
        json_decref(root);
    }
    hr__edge_shutdown(chan, 0xffffffffu);
    hr_msg_deinit(&m);
    hr_chan_destroy(chan);
    return NULL;
fail:
    c->failed = 1;
    snprintf(c->error, sizeof c->error, "%s", e.msg);
    hr_msg_deinit(&m);
    hr_chan_destroy(chan);
    return NULL;
}

static void load_log(const hr_edge_load_params *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* One line through the load generator's log. */
static void load_log(const hr_edge_load_params *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (HR_LOG_INFO < o->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    (o->log ? o->log : hr_log_stderr)(o->log_user, HR_LOG_INFO, line);
}

hr_status hr_edge_load_run(const hr_edge_load_params *o, hr_edge_load_result *out, hr_error *err)
{
    client *cl;
    void *wbytes = NULL;
    size_t wlen = 0;
    hr_ctx_params cp = hr_ctx_params_default();
    int64_t cap, total = 0, minf = -1, maxf = 0, late = 0;
    int errors = 0, started = 0;
    double t0, wall;
    hr_edge_load_failure *failures = NULL;
    hr_status st = HR_OK;

    if (!o->server || !o->cfg || !o->frames || o->frames->count < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "edge load: a server, a configuration and frames are required");
    if (o->clients < 1 || !(o->fps > 0) || !isfinite(o->fps) || !(o->duration_s > 0) || !isfinite(o->duration_s) ||
        o->timeout_ms < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "edge load: %d clients at %g fps for %g s (timeout %d ms): each must be positive",
                            o->clients, o->fps, o->duration_s, o->timeout_ms);
    cap = (int64_t)(o->fps * o->duration_s) + 16;
    if (o->weights && (st = hr__edge_weights_bytes(o->weights_path, o->weights, &wbytes, &wlen, err)))
        return st;
    if (!(cl = calloc((size_t)o->clients, sizeof *cl))) {
        free(wbytes);
        return hr_error_set(err, HR_ERR_NOMEM, "out of memory");
    }
    /* heads are built here, one after another, so the weights map is only
     * ever read by one thread */
    for (int i = 0; i < o->clients; i++) {
        client *c = &cl[i];
        c->index = i;
        c->o = o;
        c->weights_bytes = wbytes;
        c->weights_len = wlen;
        c->cap = cap;
        hr_deploy_config_init(&c->cfg);
        if ((st = hr_deploy_config_copy(o->cfg, &c->cfg, err)))
            goto out;
        if (o->vary_split)
            c->cfg.split = i % (o->cfg->nblocks + 1);
        if ((st = hr_ctx_create(&cp, &c->ctx, err)) ||
            (st = hr_deploy_part_create(c->ctx, &c->cfg, HR_DEPLOY_HEAD, o->weights, o->seed, &c->head, err)))
            goto out;
        c->cross = malloc(hr_deploy_part_crossing_bytes(c->head));
        c->e2e = malloc(sizeof(double) * (size_t)cap);
        c->rtt = malloc(sizeof(double) * (size_t)cap);
        c->tail = malloc(sizeof(double) * (size_t)cap);
        if (!c->cross || !c->e2e || !c->rtt || !c->tail) {
            st = hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
            goto out;
        }
    }
    load_log(o, "%d edges to %s, %.3g fps each for %.3g s%s", o->clients, o->server, o->fps, o->duration_s,
             o->vary_split ? ", split varied per edge" : "");
    /* edges start spread over one frame period, not in lock-step */
    t0 = hr__edge_now_ms() + 500;
    for (int i = 0; i < o->clients; i++) {
        cl[i].t_first = t0 + (1000.0 / o->fps) * (double)i / (double)o->clients;
        if (pthread_create(&cl[i].th, NULL, client_main, &cl[i]) != 0) {
            st = hr_error_set(err, HR_ERR_INTERNAL, "infer: cannot start client thread %d", i);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(cl[i].th, NULL);
    wall = hr__edge_now_ms() - t0;
    if (started < o->clients)
        goto out;

    double *e2e = malloc(sizeof(double) * (size_t)(cap * o->clients)),
           *rtt = malloc(sizeof(double) * (size_t)(cap * o->clients)),
           *tail = malloc(sizeof(double) * (size_t)(cap * o->clients));
    failures = calloc((size_t)o->clients, sizeof *failures);
    if (!e2e || !rtt || !tail || !failures) {
        free(e2e), free(rtt), free(tail), free(failures);
        st = hr_error_set(err, HR_ERR_NOMEM, "infer: out of memory");
        goto out;
    }
    for (int i = 0; i < o->clients; i++) {
        client *c = &cl[i];
        memcpy(e2e + total, c->e2e, sizeof(double) * (size_t)c->n);
        memcpy(rtt + total, c->rtt, sizeof(double) * (size_t)c->n);
        memcpy(tail + total, c->tail, sizeof(double) * (size_t)c->n);
        total += c->n;
        late += c->late;
        minf = minf < 0 || c->n < minf ? c->n : minf;
        maxf = c->n > maxf ? c->n : maxf;
        if (c->failed) {
            failures[errors].edge = i;
            snprintf(failures[errors].msg, sizeof failures[errors].msg, "%s", c->error);
            errors++;
        }
    }
    memset(out, 0, sizeof *out);
    out->wall_s = wall / 1000.0;
    out->frames = total;
    out->aggregate_fps = 1000.0 * (double)total / (o->duration_s * 1000.0);
    out->errors = errors;
    out->failures = failures;
    out->latency_ms = hr_edge_dist_of(e2e, total);
    out->round_trip_ms = hr_edge_dist_of(rtt, total);
    out->tail_ms = hr_edge_dist_of(tail, total);
    out->min_frames = minf;
    out->max_frames = maxf;
    out->late_frames = late;
    free(e2e), free(rtt), free(tail);
out:
    for (int i = 0; i < o->clients; i++) {
        hr_deploy_part_destroy(cl[i].head);
        hr_ctx_destroy(cl[i].ctx);
        hr_deploy_config_deinit(&cl[i].cfg);
        free(cl[i].cross);
        free(cl[i].e2e);
        free(cl[i].rtt);
        free(cl[i].tail);
    }
    free(cl);
    free(wbytes);
    return st;
}
