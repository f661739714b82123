/* The load generator of `hyperrep infer --clients N`: many edges in one
 * process, each a thread with its own connection, head and (with
 * --vary-split) configuration, streaming paced frames one at a time. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "infer.h"

typedef struct client {
    int index;
    const hr_infer_load_opts *o;
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

static void sleep_until(double t_ms)
{
    struct timespec ts;
    double now = hr_cli_now_ms();
    if (t_ms <= now)
        return;
    /* hr_cli_now_ms is CLOCK_MONOTONIC, so an absolute sleep on it */
    ts.tv_sec = (time_t)(t_ms / 1000);
    ts.tv_nsec = (long)((t_ms - (double)ts.tv_sec * 1000) * 1e6);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

static void *client_main(void *arg)
{
    client *c = arg;
    const hr_infer_load_opts *o = c->o;
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
        hr_infer_deploy(chan, &c->cfg, o->weights_bytes, o->weights_len, o->seed, 0, o->timeout_ms, NULL, &e))
        goto fail;
    end = c->t_first + o->duration_s * 1000;
    for (int64_t k = 0;; k++) {
        double planned = c->t_first + (double)k * period, t0, ts;
        if (planned >= end)
            break;
        if (hr_cli_now_ms() > planned + period)
            c->late++;
        sleep_until(planned);
        t0 = hr_cli_now_ms();
        if (hr_deploy_part_run_head(c->head, hr_infer_frame(o->frames, (int64_t)c->index + k), c->cross, &e))
            goto fail;
        hr_wire_tensor w = hr_deploy_part_crossing_wire(c->head, c->cross);
        ts = hr_cli_now_ms();
        if (hr_chan_send(chan, HR_MSG_INFER_FRAME, (uint32_t)k, NULL, &w, 1, &e) ||
            hr_chan_expect(chan, HR_MSG_INFER_RESULT, o->timeout_ms, &m, &e))
            goto fail;
        double tr = hr_cli_now_ms();
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
    hr_infer_shutdown(chan, 0xffffffffu);
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

int hr_infer_load_run(const hr_infer_load_opts *o)
{
    client *cl = calloc((size_t)o->clients, sizeof *cl);
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    int64_t cap = (int64_t)(o->fps * o->duration_s) + 16, total = 0, minf = -1, maxf = 0, late = 0;
    int errors = 0, started = 0, rc = 1;
    double t0, wall;
    json_t *msgs = json_array();

    if (!cl) {
        hr_cli_fail("infer", "out of memory");
        return 1;
    }
    /* heads are built here, one after another, so the weights map is only
     * ever read by one thread */
    for (int i = 0; i < o->clients; i++) {
        client *c = &cl[i];
        c->index = i;
        c->o = o;
        c->cap = cap;
        if (hr_deploy_config_copy(o->cfg, &c->cfg, &err))
            goto fail;
        if (o->vary_split)
            c->cfg.split = i % (o->cfg->nblocks + 1);
        if (hr_ctx_create(&cp, &c->ctx, &err) ||
            hr_deploy_part_create(c->ctx, &c->cfg, HR_DEPLOY_HEAD, o->weights, o->seed, &c->head, &err))
            goto fail;
        c->cross = malloc(hr_deploy_part_crossing_bytes(c->head));
        c->e2e = malloc(sizeof(double) * (size_t)cap);
        c->rtt = malloc(sizeof(double) * (size_t)cap);
        c->tail = malloc(sizeof(double) * (size_t)cap);
        if (!c->cross || !c->e2e || !c->rtt || !c->tail) {
            hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
            goto fail;
        }
    }
    if (!o->quiet)
        fprintf(stderr, "hyperrep infer: %d edges to %s, %.3g fps each for %.3g s%s\n", o->clients, o->server, o->fps,
                o->duration_s, o->vary_split ? ", split varied per edge" : "");
    /* edges start spread over one frame period, not in lock-step */
    t0 = hr_cli_now_ms() + 500;
    for (int i = 0; i < o->clients; i++) {
        cl[i].t_first = t0 + (1000.0 / o->fps) * (double)i / (double)o->clients;
        if (pthread_create(&cl[i].th, NULL, client_main, &cl[i]) != 0) {
            hr_error_set(&err, HR_ERR_INTERNAL, "infer: cannot start client thread %d", i);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(cl[i].th, NULL);
    wall = hr_cli_now_ms() - t0;
    if (started < o->clients)
        goto fail;

    double *e2e = malloc(sizeof(double) * (size_t)(cap * o->clients)),
           *rtt = malloc(sizeof(double) * (size_t)(cap * o->clients)),
           *tail = malloc(sizeof(double) * (size_t)(cap * o->clients));
    if (!e2e || !rtt || !tail) {
        free(e2e), free(rtt), free(tail);
        hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
        goto fail;
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
            errors++;
            fprintf(stderr, "hyperrep infer: edge %d: %s\n", i, c->error);
            if (json_array_size(msgs) < 10)
                json_array_append_new(msgs, json_sprintf("edge %d: %s", i, c->error));
        }
    }
    hr_infer_dist de = hr_infer_dist_of(e2e, total), dr = hr_infer_dist_of(rtt, total),
                  dt = hr_infer_dist_of(tail, total);
    free(e2e), free(rtt), free(tail);
    double agg = 1000.0 * (double)total / (o->duration_s * 1000.0);
    printf("infer: %d edges x %.3g fps for %.3g s: %lld frames, %.1f fps aggregate, %d errors; latency p50 %.3f p95 "
           "%.3f p99 %.3f ms (round trip p99 %.3f ms); %lld frames started late\n",
           o->clients, o->fps, o->duration_s, (long long)total, agg, errors, de.p50, de.p95, de.p99, dr.p99,
           (long long)late);
    fflush(stdout);
    if (o->output) {
        char ts[32], *text;
        hr_infer_timestamp(ts, sizeof ts);
        json_t *root = json_pack(
            "{s:{s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:s, s:b}, s:i, s:f, s:f, s:f, s:I, s:f, s:i, s:o, s:o, s:o, s:o, "
            "s:{s:I, s:I}, s:I, s:{s:i, s:i, s:i}}",
            "metadata", "tool", "hyperrep infer --clients", "timestamp", ts, "config", o->config_path, "model",
            o->cfg->arch, "server", o->server, "split", o->cfg->split, "vary_split", o->vary_split, "data",
            o->frames->desc, "tls", o->net.tls.cert != NULL, "clients", o->clients, "fps_per_client", o->fps,
            "duration_s", o->duration_s, "wall_s", wall / 1000.0, "frames", (json_int_t)total, "aggregate_fps", agg,
            "errors", errors, "error_messages", msgs, "latency_ms", hr_infer_dist_json(&de), "round_trip_ms",
            hr_infer_dist_json(&dr), "tail_ms", hr_infer_dist_json(&dt), "per_client_frames", "min", (json_int_t)minf,
            "max", (json_int_t)maxf, "late_frames", (json_int_t)late, "timeouts_ms", "connect", 10000, "result",
            o->timeout_ms, "deploy_ack", o->timeout_ms);
        msgs = NULL;
        text = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
        json_decref(root);
        if (!text || hr_write_file_atomic(o->output, text, strlen(text), &err)) {
            free(text);
            if (!text)
                hr_error_set(&err, HR_ERR_NOMEM, "infer: out of memory");
            goto fail;
        }
        free(text);
    }
    rc = errors ? 1 : 0;
    goto out;
fail:
    hr_cli_fail("infer", "%s", err.msg);
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
    json_decref(msgs);
    return rc;
}
