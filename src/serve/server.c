/* The deployment server (serve.h): one libevent loop for the sockets of
 * every edge, a pool of compute workers for the tails.
 *
 * Threads. The loop thread owns every socket and every session; it never
 * computes. Workers own nothing but their job queue and their hr_ctx. A
 * session is pinned to one worker when its model is built (the worker with
 * the fewest sessions), because a model is bound to the context it was
 * built on; the worker's FIFO queue then also keeps a session's frames in
 * order. A finished job goes onto one completion list and wakes the loop
 * with event_active (libevent is set up for pthreads once per process), so
 * results are written to the socket by the loop thread only and no
 * bufferevent needs BEV_OPT_THREADSAFE.
 *
 * Memory. Nothing is allocated from a peer's word beyond the limits: a
 * frame's header is checked (type acceptable in the session's state, length
 * within the limit for that type) before its payload is waited for, inline
 * weights grow with the bytes received up to max_model_bytes, and a session
 * whose queue holds max_queue frames, or whose unsent output exceeds
 * OUT_LIMIT, is not read from until that drains (back-pressure; TCP then
 * pushes back on the edge).
 *
 * Time. A sweep timer closes sessions whose handshake, frame or idle time
 * ran out; a session waiting for its own jobs is never idle, and one whose
 * reading is paused by back-pressure is not charged for it. */
#include "hyperrep/serve.h"
#include "hyperrep/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "hyperrep/version.h"
#include "core/text.h"
#include "net/addr.h"
#include "net/tls.h"

#define OUT_LIMIT (4u << 20)          /* unsent bytes of a session before reading pauses */
#define SMALL_FRAME_LIMIT (64u << 10) /* hello, shutdown, error, ack */
#define MODEL_CHUNK_MAX (16u << 20)   /* one weights chunk (the sender's rule) */
#define FRAME_META_MAX 4096u          /* metadata of an INFER_FRAME */
#define CLOSE_FLUSH_MS 2000           /* a closing session's output may drain this long */

typedef enum sstate { ST_TLS, ST_HELLO, ST_READY, ST_SYNCING, ST_BUILDING, ST_STREAMING } sstate;

static const char *state_name(sstate s)
{
    static const char *names[] = {"tls handshake", "hello", "ready", "model sync", "building", "streaming",
                                  "refused"};
    return names[s];
}

typedef struct session session;

typedef struct job {
    enum { JOB_BUILD, JOB_FRAME } kind;
    session *s;
    struct job *next;
    /* build */
    hr_deploy_config cfg;
    void *blob;
    size_t blob_len;
    int inline_weights;
    uint64_t seed;
    hr_deploy_part *part;
    /* frame */
    uint32_t id;
    hr_msg msg;
    double t_received;
    float *logits;
    /* results */
    int64_t cls;
    double queue_ms, run_ms;
    double cpu_ms;           /* the worker thread's CPU time in the tail */
    hr_status st;
    hr_error err;
} job;

typedef struct worker {
    hr_server *srv;
    int index;
    pthread_t thread;
    int started;
    hr_ctx *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int stop;
    int sessions; /* pinned sessions (loop thread only) */
} worker;

struct session {
    hr_server *srv;
    session *prev, *next;
    struct bufferevent *bev;
    sstate state;
    char addr[HR__ADDR_TEXT_MAX];
    char peer[320];          /* identity for logs: "CN [addr]" or "addr" */
    int tls;
    int counted;             /* holds one of max_clients (after its hello) */
    int pending;             /* in the handshake pool (before its hello): one of max_pending */
    char source[64];         /* the peer's address without the port */
    int worker;              /* -1 until a model is built */
    hr_deploy_part *part;
    int64_t cross_shape[4];
    hr_wire_dtype cross_dtype;  /* u8 for the raw placement, else f32 */
    int want_logits;
    hr_deploy_config cfg;    /* while syncing */
    hr_blob_rx *blob;
    uint64_t blob_bytes;
    uint32_t blob_chunks;
    char blob_sha[65];
    int queued;              /* frames submitted whose result is not sent yet */
    int jobs;                /* jobs of any kind at a worker */
    int closing;
    int wr_shut;             /* closing: our side of the socket is shut after the output drained */
    int reading;
    int shutdown_pending;
    uint32_t shutdown_id;
    double t_connect, t_activity, t_partial, t_closing;
    uint64_t frames;
    char close_reason[200];
};

struct hr_server {
    hr_server_params p;
    char listen[300], name[128];
    char tls_cert[1024], tls_key[1024], tls_ca[1024];
    struct event_base *base;
    struct evconnlistener *lis;
    SSL_CTX *ssl_ctx;
    struct event *done_ev, *stop_ev, *sweep_ev, *reap_ev, *sig_int, *sig_term;
    worker *workers;
    int nworkers;
    pthread_mutex_t done_mu;
    job *done_head, *done_tail;
    session *sessions;
    int nsessions, npending;
    int stopping;
    int port;
    pthread_mutex_t stats_mu;
    hr_server_stats stats;
};

static double now_ms(void)
{
    return hr_clock_now_ms();
}

/* CPU time of the calling thread, ms. */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

hr_server_params hr_server_params_default(void)
{
    hr_server_params p;
    memset(&p, 0, sizeof p);
    p.listen = "127.0.0.1:6006";
    p.workers = 2;
    p.threads_per_model = 1;
    p.max_clients = 256;
    p.max_pending = 64;
    p.max_pending_per_source = 16;
    p.max_queue = 4;
    p.max_model_bytes = (uint64_t)1 << 30;
    p.max_frame_bytes = HR_PROTO_MAX_PAYLOAD;
    p.idle_timeout_ms = 120000;
    p.frame_timeout_ms = 30000;
    p.handshake_timeout_ms = 10000;
    p.name = "hyperrep-serve";
    p.log_level = HR_LOG_INFO;
    return p;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void slog(hr_server *srv, hr_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (level < srv->p.log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (srv->p.log)
        srv->p.log(srv->p.log_user, level, line);
    else
        fprintf(stderr, "%s\n", line);
}

#define STAT_ADD(srv, field, n)                   \
    do {                                          \
        pthread_mutex_lock(&(srv)->stats_mu);     \
        (srv)->stats.field += (n);                \
        pthread_mutex_unlock(&(srv)->stats_mu);   \
    } while (0)

/* ---- workers ---- */

static void job_free(job *j)
{
    if (!j)
        return;
    hr_deploy_config_deinit(&j->cfg);
    free(j->blob);
    hr_deploy_part_destroy(j->part);
    hr_msg_deinit(&j->msg);
    free(j->logits);
    free(j);
}

static void run_job(worker *w, job *j)
{
    double t0 = now_ms();
    if (j->kind == JOB_BUILD) {
        hr_tensor_map *map = NULL;
        j->st = HR_OK;
        if (j->inline_weights) {
            j->st = hr_safetensors_load_bytes(j->blob, j->blob_len, &map, &j->err);
            if (j->st)
                hr_error_prefix(&j->err, "inline weights");
            free(j->blob);
            j->blob = NULL;
        }
        if (!j->st)
            j->st = hr_deploy_part_create(w->ctx, &j->cfg, HR_DEPLOY_TAIL, map, j->seed, &j->part, &j->err);
        hr_tensor_map_destroy(map);
        j->run_ms = now_ms() - t0;
        return;
    }
    int64_t k = hr_deploy_part_num_classes(j->s->part);
    j->queue_ms = t0 - j->t_received;
    j->logits = malloc(sizeof(float) * (size_t)k);
    if (!j->logits) {
        j->st = hr_error_set(&j->err, HR_ERR_NOMEM, "out of memory for the logits");
        return;
    }
    double c0 = thread_cpu_ms();
    j->st = hr_deploy_part_run_tail(j->s->part, j->msg.tensor[0].data, j->logits, &j->err);
    j->cpu_ms = thread_cpu_ms() - c0;
    j->run_ms = now_ms() - t0;
    j->cls = 0;
    for (int64_t c = 1; c < k; c++)
        if (j->logits[c] > j->logits[j->cls])
            j->cls = c;
    /* the crossing tensor is not needed any more; free it on this thread */
    hr_msg_deinit(&j->msg);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    hr_server *srv = w->srv;
    for (;;) {
        job *j;
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        j->next = NULL;
        run_job(w, j);
        pthread_mutex_lock(&srv->done_mu);
        if (srv->done_tail)
            srv->done_tail->next = j;
        else
            srv->done_head = j;
        srv->done_tail = j;
        pthread_mutex_unlock(&srv->done_mu);
        event_active(srv->done_ev, EV_READ, 0);
    }
    return NULL;
}

static void submit(session *s, job *j)
{
    worker *w = &s->srv->workers[s->worker];
    j->s = s;
    s->jobs++;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ---- sessions: output ---- */

static void send_msg(session *s, hr_msg_type type, uint32_t id, const char *meta, const hr_wire_tensor *t, int n)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    hr_error e = {0};
    if (!s->bev)
        return;
    if (hr_msg_encode(type, id, meta, t, n, &buf, &len, &e)) {
        slog(s->srv, HR_LOG_ERROR, "serve: %s: cannot encode %s: %s", s->peer, hr_msg_type_name(type), e.msg);
        return;
    }
    if (evbuffer_add(bufferevent_get_output(s->bev), buf, len) != 0)
        slog(s->srv, HR_LOG_ERROR, "serve: %s: out of memory queueing %s", s->peer, hr_msg_type_name(type));
    free(buf);
}

/* Messages may quote what a peer sent: they go into log lines and JSON,
 * so anything but printable ASCII becomes '?'. */

static void send_error(session *s, uint32_t id, hr_status st, const char *msg)
{
    char text[HR_ERROR_MSG_MAX + 200];
    snprintf(text, sizeof text, "%s", msg);
    hr__text_clean(text, sizeof text, text);
    json_t *root = json_pack("{s:i, s:s}", "status", (int)st, "message", text);
    char *meta = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    send_msg(s, HR_MSG_ERROR, id, meta ? meta : "{\"status\": 9, \"message\": \"error\"}", NULL, 0);
    free(meta);
}

static void session_free(session *s);
static void send_hello(session *s);
static void update_reading(session *s, int process);
static void process_input(session *s);

/* Closing is graceful so that our last frame (usually an ERROR) reaches
 * the peer: output is flushed, then our side is shut (FIN), and whatever the
 * peer still sends is read and dropped until it closes or CLOSE_FLUSH_MS
 * pass. Closing a socket with unread input would send a reset instead, and
 * the peer's kernel may then drop the ERROR frame before it is read. */
static void flush_and_shut(session *s)
{
    if (!s->bev || s->wr_shut || evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
        return;
    shutdown(bufferevent_getfd(s->bev), SHUT_WR);
    s->wr_shut = 1;
}

/* Sessions are freed only here (and by the sweep's time limit), never from
 * inside a handler that may still touch them: a closing session goes once no
 * worker holds one of its jobs and its socket is gone or its flush time is
 * over. */
static int can_free(const session *s, double t)
{
    return s->closing && s->jobs == 0 && (!s->bev || t - s->t_closing >= CLOSE_FLUSH_MS);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    hr_server *srv = arg;
    double t = now_ms();
    session *s, *next;
    (void)fd, (void)what;
    for (s = srv->sessions; s; s = next) {
        next = s->next;
        if (can_free(s, t))
            session_free(s);
    }
}

/* Stops serving a session: no more frames are handled; it is freed later. */
static void close_session(session *s, const char *reason)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->t_closing = now_ms();
    snprintf(s->close_reason, sizeof s->close_reason, "%s", reason);
    if (s->bev) {
        /* keep reading (and dropping) so the peer's close is seen */
        bufferevent_enable(s->bev, EV_READ | EV_WRITE);
        flush_and_shut(s);
    }
    s->reading = 0;
    event_active(s->srv->reap_ev, EV_READ, 0);
}

/* A peer that broke the protocol: one logged line, an ERROR frame, close. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void fail_session(session *s, uint32_t id, hr_status st, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    if (s->closing)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hr__text_clean(msg, sizeof msg, msg);
    slog(s->srv, HR_LOG_ERROR, "serve: %s: error: %s; closing the connection", s->peer, msg);
    send_error(s, id, st, msg);
    close_session(s, "error");
}

/* ---- sessions: input ---- */

/* Whether a frame of this type is expected now; NULL if so, else what is. */
static const char *expected(const session *s, hr_msg_type type)
{
    if (type == HR_MSG_ERROR)
        return NULL;
    switch (s->state) {
    case ST_HELLO: return type == HR_MSG_HELLO ? NULL : "hello";
    case ST_READY:
        return type == HR_MSG_MODEL_SYNC || type == HR_MSG_SHUTDOWN ? NULL : "model_sync or shutdown";
    case ST_SYNCING:
        return type == HR_MSG_MODEL_SYNC || type == HR_MSG_SHUTDOWN ? NULL : "the next model_sync chunk";
    case ST_STREAMING:
        return type == HR_MSG_INFER_FRAME || type == HR_MSG_SHUTDOWN ? NULL : "infer_frame or shutdown";
    default: return "nothing";
    }
}

static uint32_t frame_limit(const session *s, hr_msg_type type)
{
    uint64_t lim = SMALL_FRAME_LIMIT;
    if (type == HR_MSG_MODEL_SYNC) {
        lim = (uint64_t)MODEL_CHUNK_MAX + HR_PROTO_MAX_META + 1024;
    } else if (type == HR_MSG_INFER_FRAME && s->part) {
        /* the payload layout of proto.h: meta length, tensor count, then
         * dtype, ndim, padding and 4 dimensions before the elements, whose
         * size is the session's crossing dtype's (1 byte for raw pixels) */
        uint64_t elems = (uint64_t)(s->cross_shape[0] * s->cross_shape[1] * s->cross_shape[2] * s->cross_shape[3]);
        lim = 4 + 4 + 4 + 4 * 8 + elems * hr_wire_dtype_size(s->cross_dtype) + FRAME_META_MAX;
    }
    if (lim > s->srv->p.max_frame_bytes)
        lim = s->srv->p.max_frame_bytes;
    return (uint32_t)lim;
}

static void handle_hello(session *s, hr_msg *m)
{
    hr_hello h;
    hr_error e = {0};
    hr_status st = hr_hello_decode(m->meta, &h, &e);
    if (st) {
        fail_session(s, m->id, st, "%s", e.msg);
        return;
    }
    if (!s->tls) {
        /* without TLS the name is the peer's claim, not an identity: say so */
        char claimed[sizeof s->peer];
        snprintf(claimed, sizeof claimed, "%s (says \"%s\")", s->addr, h.name);
        memcpy(s->peer, claimed, sizeof s->peer);
    }
    /* Authenticated (TLS) and speaking our protocol: only now does the
     * connection take one of max_clients. */
    s->pending = 0;
    s->srv->npending--;
    if (s->srv->nsessions >= s->srv->p.max_clients) {
        STAT_ADD(s->srv, refused, 1);
        char msg[160];
        slog(s->srv, HR_LOG_WARN, "serve: %s: refused: already serving %d clients (--max-clients)", s->peer,
             s->srv->p.max_clients);
        snprintf(msg, sizeof msg, "the server is serving its maximum of %d clients; try again later",
                 s->srv->p.max_clients);
        send_error(s, m->id, HR_ERR_LIMIT, msg);
        close_session(s, "refused");
        return;
    }
    s->counted = 1;
    s->srv->nsessions++;
    pthread_mutex_lock(&s->srv->stats_mu);
    s->srv->stats.accepted++;
    s->srv->stats.active++;
    pthread_mutex_unlock(&s->srv->stats_mu);
    s->state = ST_READY;
    send_hello(s);
    slog(s->srv, HR_LOG_INFO, "serve: %s connected (%s, role %s, %s)", s->peer, s->tls ? "mutual TLS" : "plain TCP",
         h.role, h.software);
}

/* The "weights" object of a MODEL_SYNC chunk against the blob being
 * received; on the first chunk it starts the blob. */
static hr_status inline_chunk(session *s, json_t *w, hr_msg *m, uint32_t *chunk, hr_error *err)
{
    json_t *jb = json_object_get(w, "bytes"), *jc = json_object_get(w, "chunks"), *jk = json_object_get(w, "chunk");
    const char *sha = json_string_value(json_object_get(w, "sha256"));
    hr_status st;
    if (!json_is_integer(jb) || !json_is_integer(jc) || !json_is_integer(jk) || !sha || json_integer_value(jb) < 0 ||
        json_integer_value(jc) < 1 || json_integer_value(jc) > UINT32_MAX || json_integer_value(jk) < 0 ||
        json_integer_value(jk) > UINT32_MAX)
        return hr_error_set(err, HR_ERR_FORMAT,
                            "model_sync: inline weights need integer bytes, chunks, chunk and a sha256 string");
    *chunk = (uint32_t)json_integer_value(jk);
    if (!s->blob) {
        if ((st = hr_blob_rx_create((uint64_t)json_integer_value(jb), (uint32_t)json_integer_value(jc), sha,
                                    s->srv->p.max_model_bytes, &s->blob, err)))
            return hr_error_prefix(err, "model_sync weights (limit %llu bytes)",
                                   (unsigned long long)s->srv->p.max_model_bytes);
        s->blob_bytes = (uint64_t)json_integer_value(jb);
        s->blob_chunks = (uint32_t)json_integer_value(jc);
        snprintf(s->blob_sha, sizeof s->blob_sha, "%s", sha);
    } else if ((uint64_t)json_integer_value(jb) != s->blob_bytes ||
               (uint32_t)json_integer_value(jc) != s->blob_chunks || strcasecmp(sha, s->blob_sha) != 0) {
        return hr_error_set(err, HR_ERR_FORMAT, "model_sync chunk %u announces another blob than chunk 0 did",
                            *chunk);
    }
    if (m->ntensors != 1 || m->tensor[0].dtype != HR_WIRE_U8 || m->tensor[0].ndim != 1)
        return hr_error_set(err, HR_ERR_FORMAT, "model_sync chunk %u must carry one 1-D u8 tensor", *chunk);
    if (m->tensor[0].nbytes > MODEL_CHUNK_MAX)
        return hr_error_set(err, HR_ERR_LIMIT, "model_sync chunk %u: %zu bytes, over the chunk limit of %u", *chunk,
                            m->tensor[0].nbytes, MODEL_CHUNK_MAX);
    return hr_blob_rx_add(s->blob, *chunk, m->tensor[0].data, m->tensor[0].nbytes, err);
}

static void start_build(session *s, void *blob, size_t n, int inline_weights, uint64_t seed)
{
    hr_server *srv = s->srv;
    job *j = calloc(1, sizeof *j);
    if (!j) {
        free(blob);
        fail_session(s, 0, HR_ERR_NOMEM, "out of memory");
        return;
    }
    j->kind = JOB_BUILD;
    j->cfg = s->cfg;
    hr_deploy_config_init(&s->cfg);
    j->blob = blob;
    j->blob_len = n;
    j->inline_weights = inline_weights;
    j->seed = seed;
    hr_msg_init(&j->msg);
    /* the worker with the fewest sessions gets this one for good */
    s->worker = 0;
    for (int i = 1; i < srv->nworkers; i++)
        if (srv->workers[i].sessions < srv->workers[s->worker].sessions)
            s->worker = i;
    srv->workers[s->worker].sessions++;
    s->state = ST_BUILDING;
    update_reading(s, 0);
    submit(s, j);
}

static void handle_model_sync(session *s, hr_msg *m)
{
    json_t *root = m->meta ? json_loads(m->meta, 0, NULL) : NULL;
    json_t *w = json_object_get(root, "weights");
    const char *kind = json_string_value(json_object_get(w, "kind"));
    hr_error e = {0};
    hr_status st;
    uint32_t chunk = 0;

    if (s->state == ST_READY) {
        const char *purpose = json_string_value(json_object_get(root, "purpose"));
        json_t *lg = json_object_get(root, "logits");
        if (!purpose || strcmp(purpose, "infer") != 0) {
            fail_session(s, m->id, HR_ERR_UNSUPPORTED,
                         "model_sync purpose \"%.40s\" is not served here (serve runs purpose \"infer\")",
                         purpose ? purpose : "(none)");
            goto out;
        }
        if ((st = hr_deploy_config_parse(m->meta, "model_sync", &s->cfg, &e))) {
            fail_session(s, m->id, st, "%s", e.msg);
            goto out;
        }
        if (s->cfg.split == HR_PLACEMENT_LOCAL) {
            fail_session(s, m->id, HR_ERR_INVALID_ARG, "model_sync: the local placement runs without a server");
            goto out;
        }
        s->want_logits = !lg || json_is_true(lg);
        if (kind && strcmp(kind, "random") == 0) {
            json_t *seed = json_object_get(w, "seed");
            if (!json_is_integer(seed) || json_integer_value(seed) < 0) {
                fail_session(s, m->id, HR_ERR_FORMAT, "model_sync: random weights need an integer seed >= 0");
                goto out;
            }
            if (m->ntensors != 0) {
                fail_session(s, m->id, HR_ERR_FORMAT, "model_sync: random weights carry no tensor");
                goto out;
            }
            start_build(s, NULL, 0, 0, (uint64_t)json_integer_value(seed));
            goto out;
        }
        if (!kind || strcmp(kind, "inline") != 0) {
            fail_session(s, m->id, HR_ERR_FORMAT, "model_sync: weights.kind must be \"random\" or \"inline\"");
            goto out;
        }
    } else if (!kind || strcmp(kind, "inline") != 0) {
        fail_session(s, m->id, HR_ERR_FORMAT, "model_sync: a later chunk must carry inline weights");
        goto out;
    }
    if ((st = inline_chunk(s, w, m, &chunk, &e))) {
        fail_session(s, m->id, st, "%s", e.msg);
        goto out;
    }
    s->state = ST_SYNCING;
    if (hr_blob_rx_complete(s->blob)) {
        void *data = NULL;
        size_t n = 0;
        st = hr_blob_rx_finish(s->blob, &data, &n, &e);
        hr_blob_rx_destroy(s->blob);
        s->blob = NULL;
        if (st) {
            fail_session(s, m->id, st, "model_sync weights: %s", e.msg);
            goto out;
        }
        start_build(s, data, n, 1, 0);
    }
out:
    json_decref(root);
}

static void handle_frame(session *s, hr_msg *m)
{
    const hr_wire_tensor *t = &m->tensor[0];
    job *j;
    char pl[16];
    if (t->dtype != s->cross_dtype || t->ndim != 4 || memcmp(t->shape, s->cross_shape, sizeof s->cross_shape) != 0) {
        STAT_ADD(s->srv, protocol_errors, 1);
        fail_session(s, m->id,
                     HR_ERR_SHAPE, "infer_frame %u: tensor of dtype %s, %d dims [%lld, %lld, %lld, %lld]; split %s "
                     "of %s needs %s [%lld, %lld, %lld, %lld]",
                     m->id, hr_wire_dtype_name(t->dtype), t->ndim, (long long)t->shape[0],
                     (long long)(t->ndim > 1 ? t->shape[1] : 0), (long long)(t->ndim > 2 ? t->shape[2] : 0),
                     (long long)(t->ndim > 3 ? t->shape[3] : 0), hr_placement_format(s->cfg.split, pl, sizeof pl),
                     s->cfg.arch, hr_wire_dtype_name(s->cross_dtype), (long long)s->cross_shape[0],
                     (long long)s->cross_shape[1], (long long)s->cross_shape[2], (long long)s->cross_shape[3]);
        return;
    }
    if (!(j = calloc(1, sizeof *j))) {
        fail_session(s, m->id, HR_ERR_NOMEM, "out of memory");
        return;
    }
    j->kind = JOB_FRAME;
    j->id = m->id;
    j->msg = *m;
    hr_msg_init(m);
    j->t_received = now_ms();
    s->queued++;
    submit(s, j);
    update_reading(s, 0);
}

static void finish_shutdown(session *s)
{
    send_msg(s, HR_MSG_ACK, s->shutdown_id, "{\"shutdown\": true}", NULL, 0);
    close_session(s, "shutdown");
}

static void handle_msg(session *s, hr_msg *m)
{
    switch (m->type) {
    case HR_MSG_ERROR: {
        json_t *root = m->meta ? json_loads(m->meta, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(root, "message"));
        char text[300];
        snprintf(text, sizeof text, "%s", msg ? msg : "(no message)");
        hr__text_clean(text, sizeof text, text);
        slog(s->srv, HR_LOG_WARN, "serve: %s: the peer reports an error: %s; closing the connection", s->peer, text);
        json_decref(root);
        close_session(s, "peer error");
        break;
    }
    case HR_MSG_HELLO: handle_hello(s, m); break;
    case HR_MSG_MODEL_SYNC: handle_model_sync(s, m); break;
    case HR_MSG_INFER_FRAME: handle_frame(s, m); break;
    case HR_MSG_SHUTDOWN:
        s->shutdown_pending = 1;
        s->shutdown_id = m->id;
        update_reading(s, 0);
        if (s->jobs == 0)
            finish_shutdown(s);
        break;
    default: break; /* expected() let nothing else through */
    }
    hr_msg_deinit(m);
}

static int want_read(const session *s)
{
    return s->bev && !s->closing && !s->shutdown_pending && s->state != ST_BUILDING &&
           s->queued < s->srv->p.max_queue &&
           evbuffer_get_length(bufferevent_get_output(s->bev)) < OUT_LIMIT;
}

/* Pauses or resumes reading. Data that arrived before a pause stays in the
 * input buffer and raises no new read event, so a resume processes it
 * (process != 0; callers inside process_input pass 0). */
static void update_reading(session *s, int process)
{
    int want = want_read(s);
    if (want == s->reading)
        return;
    s->reading = want;
    if (!want) {
        if (s->bev)
            bufferevent_disable(s->bev, EV_READ);
        return;
    }
    bufferevent_enable(s->bev, EV_READ);
    /* the peer is not charged for the time we did not read */
    s->t_partial = evbuffer_get_length(bufferevent_get_input(s->bev)) ? now_ms() : 0;
    if (process)
        process_input(s);
}

static void process_input(session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    int consumed = 0;
    while (want_read(s)) {
        size_t have = evbuffer_get_length(in);
        uint8_t hb[HR_PROTO_HEADER_SIZE];
        hr_frame_header h;
        hr_error e = {0};
        hr_status st;
        hr_msg m;
        const char *want;
        if (have < HR_PROTO_HEADER_SIZE)
            break;
        evbuffer_copyout(in, hb, sizeof hb);
        if ((st = hr_frame_header_decode(hb, s->srv->p.max_frame_bytes, &h, &e))) {
            STAT_ADD(s->srv, protocol_errors, 1);
            fail_session(s, 0, st, "%s", e.msg);
            return;
        }
        if ((want = expected(s, h.type))) {
            STAT_ADD(s->srv, protocol_errors, 1);
            fail_session(s, h.id, HR_ERR_FORMAT, "out of sequence: %s frame (id %u) while %s; expected %s",
                         hr_msg_type_name(h.type), h.id, state_name(s->state), want);
            return;
        }
        if (h.length > frame_limit(s, h.type)) {
            char what[160] = "";
            /* say what fits: an f32 frame sent to a raw session lands here */
            if (h.type == HR_MSG_INFER_FRAME && s->part)
                snprintf(what, sizeof what, " (one %s [%lld, %lld, %lld, %lld] tensor and metadata)",
                         hr_wire_dtype_name(s->cross_dtype), (long long)s->cross_shape[0],
                         (long long)s->cross_shape[1], (long long)s->cross_shape[2], (long long)s->cross_shape[3]);
            STAT_ADD(s->srv, protocol_errors, 1);
            fail_session(s, h.id, HR_ERR_LIMIT, "%s frame (id %u) of %u bytes is over this session's limit of %u%s",
                         hr_msg_type_name(h.type), h.id, h.length, frame_limit(s, h.type), what);
            return;
        }
        if (have < HR_PROTO_HEADER_SIZE + (size_t)h.length)
            break;
        unsigned char *p = evbuffer_pullup(in, (ssize_t)(HR_PROTO_HEADER_SIZE + (size_t)h.length));
        if (!p) {
            fail_session(s, h.id, HR_ERR_NOMEM, "out of memory reading a frame");
            return;
        }
        hr_msg_init(&m);
        st = hr_msg_decode(&h, h.length ? p + HR_PROTO_HEADER_SIZE : NULL, &m, &e);
        evbuffer_drain(in, HR_PROTO_HEADER_SIZE + (size_t)h.length);
        consumed = 1;
        if (st) {
            STAT_ADD(s->srv, protocol_errors, 1);
            fail_session(s, h.id, st, "malformed %s frame (id %u): %s", hr_msg_type_name(h.type), h.id, e.msg);
            return;
        }
        s->t_activity = now_ms();
        handle_msg(s, &m);
    }
    if (s->closing)
        return;
    if (!evbuffer_get_length(in))
        s->t_partial = 0;
    else if (consumed || !s->t_partial)
        s->t_partial = now_ms();
}

/* ---- libevent callbacks ---- */

static void read_cb(struct bufferevent *bev, void *arg)
{
    session *s = arg;
    if (s->closing)
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    else
        process_input(s);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    session *s = arg;
    (void)bev;
    if (s->closing)
        flush_and_shut(s);
    else
        update_reading(s, 1);
}

/* The TLS handshake is done: the verified certificate's CN is the peer's
 * identity. Returns 0 (and closes) when there is none. */
static int tls_established(session *s)
{
    SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
    char cn[200];
    hr__tls_peer_cn(ssl, cn, sizeof cn);
    /* the verify mode already demands this; the identity must never come
     * from an unverified certificate, so check again */
    if (!cn[0] || !SSL_get0_peer_certificate(ssl) || SSL_get_verify_result(ssl) != X509_V_OK) {
        slog(s->srv, HR_LOG_ERROR, "serve: %s: the client certificate is missing, unverified or has no CN; closing",
             s->addr);
        STAT_ADD(s->srv, protocol_errors, 1);
        close_session(s, "certificate");
        return 0;
    }
    snprintf(s->peer, sizeof s->peer, "%s [%s]", cn, s->addr);
    return 1;
}

/* The connection is up (TLS handshake done): a refused one is told why and
 * closed; the others wait for the edge's hello, which speaks first. */
static void connected(session *s)
{
    s->state = ST_HELLO;
}

/* The answer to a good hello. */
static void send_hello(session *s)
{
    char *text = NULL;
    if (hr_hello_encode("server", s->srv->name, &text, NULL) != HR_OK)
        text = NULL;
    send_msg(s, HR_MSG_HELLO, 0, text ? text : "{\"protocol\": 1}", NULL, 0);
    free(text);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t partial = evbuffer_get_length(in);
    char why[300] = "";
    if (what & BEV_EVENT_CONNECTED) {
        if (tls_established(s))
            connected(s);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (s->closing) {
        /* the peer has gone after our last frame: the close is complete */
        bufferevent_free(s->bev);
        s->bev = NULL;
        event_active(s->srv->reap_ev, EV_READ, 0);
        return;
    }
    if (s->state == ST_TLS) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char tls[200] = "";
        if (e)
            ERR_error_string_n(e, tls, sizeof tls);
        else
            hr__tls_errors(tls, sizeof tls);
        snprintf(why, sizeof why, "TLS handshake failed%s%s", tls[0] ? ": " : "", tls);
        STAT_ADD(s->srv, protocol_errors, 1);
        slog(s->srv, HR_LOG_ERROR, "serve: %s: error: %s; closing the connection", s->peer, why);
    } else if (partial) {
        uint8_t hb[HR_PROTO_HEADER_SIZE];
        hr_frame_header h;
        if (partial >= sizeof hb && evbuffer_copyout(in, hb, sizeof hb) == (ssize_t)sizeof hb &&
            hr_frame_header_decode(hb, 0, &h, NULL) == HR_OK)
            snprintf(why, sizeof why, "vanished mid-frame: %zu of %lu bytes of a %s frame (id %u)", partial,
                     (unsigned long)h.length + HR_PROTO_HEADER_SIZE, hr_msg_type_name(h.type), h.id);
        else
            snprintf(why, sizeof why, "vanished mid-frame: %zu bytes of a frame header", partial);
        STAT_ADD(s->srv, protocol_errors, 1);
        slog(s->srv, HR_LOG_ERROR, "serve: %s: error: truncated frame, %s; closing the connection", s->peer, why);
    } else {
        int e = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
        /* a reset is how a peer that did not read everything goes away */
        snprintf(why, sizeof why, "disconnected%s%s%s", s->queued ? " with frames in flight" : "",
                 e ? ": " : "", e ? strerror(e) : "");
    }
    bufferevent_free(s->bev);
    s->bev = NULL;
    close_session(s, why);
}

static void session_free(session *s)
{
    hr_server *srv = s->srv;
    slog(srv, HR_LOG_INFO, "serve: %s closed (%s; %llu frames served)", s->peer,
         s->close_reason[0] ? s->close_reason : "closed", (unsigned long long)s->frames);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->pending)
        srv->npending--;
    if (s->counted) {
        srv->nsessions--;
        STAT_ADD(srv, active, (uint64_t)-1);
    }
    if (s->worker >= 0)
        srv->workers[s->worker].sessions--;
    if (s->bev)
        bufferevent_free(s->bev);
    hr_deploy_part_destroy(s->part);
    hr_deploy_config_deinit(&s->cfg);
    hr_blob_rx_destroy(s->blob);
    free(s);
    if (srv->stopping && !srv->sessions)
        event_base_loopexit(srv->base, NULL);
}

/* The pending connection to close to make room: the oldest of `source`
 * when it is given, else the oldest of all; never `keep` (the newcomer). */
static session *oldest_pending(hr_server *srv, const char *source, const session *keep)
{
    session *best = NULL;
    for (session *s = srv->sessions; s; s = s->next)
        if (s->pending && s != keep && !s->closing && (!source || strcmp(s->source, source) == 0) &&
            (!best || s->t_connect <= best->t_connect))
            best = s;
    return best;
}

static void evict(hr_server *srv, session *s, const char *why)
{
    s->pending = 0;
    srv->npending--;
    STAT_ADD(srv, evicted, 1);
    slog(srv, HR_LOG_WARN, "serve: %s: closed before its hello: %s", s->addr, why);
    close_session(s, "evicted");
}

/* Authentication before cost (issue 15): a new connection joins the pool
 * of pending ones (TLS handshake, hello) and takes no client slot until its
 * hello. At the pool's bounds the oldest pending connection goes, the
 * source's own at the per-source bound: a flood of silent connections
 * cannot keep a certified edge out, and edges behind one NAT do not crowd
 * each other out beyond the cap. */
static void admit_pending(hr_server *srv, session *s)
{
    int same = 0;
    session *v;
    s->pending = 1;
    srv->npending++;
    for (session *o = srv->sessions; o; o = o->next)
        same += o->pending && !o->closing && strcmp(o->source, s->source) == 0;
    if (same > srv->p.max_pending_per_source && (v = oldest_pending(srv, s->source, s)))
        evict(srv, v, "too many pending connections from this address (--max-pending-per-source)");
    if (srv->npending > srv->p.max_pending && (v = oldest_pending(srv, NULL, s)))
        evict(srv, v, "too many pending connections (--max-pending)");
}

/* The address without its port, for the per-source bound. */
static void source_of(const struct sockaddr *sa, char *buf, size_t n)
{
    const void *a = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                                              : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || !inet_ntop(sa->sa_family, a, buf, (socklen_t)n))
        snprintf(buf, n, "?");
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    hr_server *srv = arg;
    session *s;
    int one = 1;
    char addr[HR__ADDR_TEXT_MAX];
    (void)lis;
    hr__addr_format(sa, (socklen_t)salen, addr, sizeof addr);
    if (srv->stopping) {
        slog(srv, HR_LOG_WARN, "serve: %s: refused (stopping)", addr);
        evutil_closesocket(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s = calloc(1, sizeof *s);
    if (!s) {
        evutil_closesocket(fd);
        return;
    }
    s->srv = srv;
    s->worker = -1;
    hr_deploy_config_init(&s->cfg);
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    snprintf(s->peer, sizeof s->peer, "%s", addr);
    source_of(sa, s->source, sizeof s->source);
    s->t_connect = s->t_activity = now_ms();
    s->tls = srv->ssl_ctx != NULL;
    if (srv->ssl_ctx) {
        SSL *ssl = SSL_new(srv->ssl_ctx);
        BIO *bio = ssl ? hr__tls_bio_new(fd) : NULL;
        if (!bio) {
            SSL_free(ssl);
            evutil_closesocket(fd);
            free(s);
            slog(srv, HR_LOG_ERROR, "serve: %s: cannot create a TLS session", addr);
            return;
        }
        SSL_set_bio(ssl, bio, bio);
        s->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        if (!s->bev)
            SSL_free(ssl);
        else
            bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
    } else {
        s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!s->bev) {
        evutil_closesocket(fd);
        free(s);
        slog(srv, HR_LOG_ERROR, "serve: %s: cannot create a connection buffer", addr);
        return;
    }
    s->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = s;
    srv->sessions = s;
    s->state = ST_TLS;
    admit_pending(srv, s);
    bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
    s->reading = 1;
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    /* with TLS, the session goes on once the handshake is done */
    if (!s->tls)
        connected(s);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    hr_server *srv = arg;
    job *list;
    (void)fd, (void)what;
    pthread_mutex_lock(&srv->done_mu);
    list = srv->done_head;
    srv->done_head = srv->done_tail = NULL;
    pthread_mutex_unlock(&srv->done_mu);
    while (list) {
        job *j = list;
        session *s = j->s;
        list = j->next;
        s->jobs--;
        if (j->kind == JOB_FRAME)
            s->queued--;
        if (s->closing) {
            job_free(j);
            event_active(srv->reap_ev, EV_READ, 0);
            continue;
        }
        if (j->kind == JOB_BUILD) {
            if (j->st) {
                hr__text_clean(j->err.msg, sizeof j->err.msg, j->err.msg);
                slog(srv, HR_LOG_ERROR, "serve: %s: error: deployment refused: %s; closing the connection", s->peer,
                     j->err.msg);
                send_error(s, 0, j->st, j->err.msg);
                close_session(s, "deployment refused");
            } else {
                char meta[340], pl[16];
                s->part = j->part;
                j->part = NULL;
                s->cfg = j->cfg;
                hr_deploy_config_init(&j->cfg);
                hr_deploy_part_crossing_shape(s->part, s->cross_shape);
                s->cross_dtype = hr_deploy_part_crossing_dtype(s->part);
                s->state = ST_STREAMING;
                s->t_activity = now_ms();
                STAT_ADD(srv, deployed, 1);
                /* split: a number, or "raw" */
                hr_placement_format(s->cfg.split, pl, sizeof pl);
                snprintf(meta, sizeof meta,
                         "{\"split\": %s%s%s, \"crossing\": [%lld, %lld, %lld, %lld], \"crossing_dtype\": \"%s\", "
                         "\"num_classes\": %lld, \"build_ms\": %.3f, \"worker\": %d}",
                         s->cfg.split < 0 ? "\"" : "", pl, s->cfg.split < 0 ? "\"" : "", (long long)s->cross_shape[0],
                         (long long)s->cross_shape[1], (long long)s->cross_shape[2], (long long)s->cross_shape[3],
                         hr_wire_dtype_name(s->cross_dtype), (long long)hr_deploy_part_num_classes(s->part), j->run_ms,
                         s->worker);
                send_msg(s, HR_MSG_ACK, 0, meta, NULL, 0);
                slog(srv, HR_LOG_INFO, "serve: %s deployed %s split %s/%d on worker %d (%.1f ms)", s->peer,
                     s->cfg.arch, pl, s->cfg.nblocks, s->worker, j->run_ms);
            }
        } else if (j->st) {
            fail_session(s, j->id, j->st, "infer_frame %u: %s", j->id, j->err.msg);
        } else {
            char meta[160];
            hr_wire_tensor t;
            memset(&t, 0, sizeof t);
            t.dtype = HR_WIRE_F32;
            t.ndim = 2;
            t.shape[0] = 1;
            t.shape[1] = hr_deploy_part_num_classes(s->part);
            t.data = j->logits;
            t.nbytes = sizeof(float) * (size_t)t.shape[1];
            snprintf(meta, sizeof meta, "{\"class\": %lld, \"tail_ms\": %.4f, \"queue_ms\": %.4f}", (long long)j->cls,
                     j->run_ms, j->queue_ms);
            /* Counted before the reply leaves: a client that has its
             * reply finds the frame in the statistics. */
            pthread_mutex_lock(&srv->stats_mu);
            srv->stats.frames++;
            srv->stats.tail_cpu_ms += j->cpu_ms;
            pthread_mutex_unlock(&srv->stats_mu);
            send_msg(s, HR_MSG_INFER_RESULT, j->id, meta, &t, s->want_logits ? 1 : 0);
            s->frames++;
            s->t_activity = now_ms();
        }
        job_free(j);
        if (s->closing)
            continue;
        if (s->shutdown_pending && s->jobs == 0)
            finish_shutdown(s);
        else
            update_reading(s, 1);
    }
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    hr_server *srv = arg;
    double t = now_ms();
    session *s = srv->sessions, *next;
    (void)fd, (void)what;
    for (; s; s = next) {
        next = s->next;
        if (s->closing) {
            if (can_free(s, t))
                session_free(s);
            continue;
        }
        if (s->state == ST_TLS || s->state == ST_HELLO) {
            if (t - s->t_connect > srv->p.handshake_timeout_ms) {
                STAT_ADD(srv, timeouts, 1);
                fail_session(s, 0, HR_ERR_IO, "no %s within %.1f s of connecting",
                             s->state == ST_TLS ? "TLS handshake" : "hello", srv->p.handshake_timeout_ms / 1e3);
            }
            continue;
        }
        if (s->reading && s->t_partial > 0 && t - s->t_partial > srv->p.frame_timeout_ms) {
            size_t have = s->bev ? evbuffer_get_length(bufferevent_get_input(s->bev)) : 0;
            STAT_ADD(srv, timeouts, 1);
            fail_session(s, 0, HR_ERR_IO,
                         "frame timeout: only %zu bytes of a frame arrived in %.1f s (slow sender; --timeout-frame)",
                         have, srv->p.frame_timeout_ms / 1e3);
            continue;
        }
        if (s->jobs == 0 && s->t_partial == 0 && t - s->t_activity > srv->p.idle_timeout_ms) {
            STAT_ADD(srv, timeouts, 1);
            fail_session(s, 0, HR_ERR_IO, "idle for %.1f s without a frame (--timeout-idle)",
                         srv->p.idle_timeout_ms / 1e3);
        }
    }
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    hr_server *srv = arg;
    session *s, *next;
    (void)fd, (void)what;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    slog(srv, HR_LOG_INFO, "serve: stopping: closing %d sessions", srv->nsessions);
    if (srv->lis)
        evconnlistener_disable(srv->lis);
    if (!srv->sessions) {
        event_base_loopexit(srv->base, NULL);
        return;
    }
    for (s = srv->sessions; s; s = next) {
        next = s->next;
        if (!s->closing) {
            send_error(s, 0, HR_ERR_IO, "the server is stopping");
            close_session(s, "server stopping");
        }
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    hr_server *srv = arg;
    (void)what;
    slog(srv, HR_LOG_INFO, "serve: %s received", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop_cb(-1, 0, srv);
}

/* ---- life cycle ---- */

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_ok;

static void evthread_setup(void) { evthread_ok = evthread_use_pthreads() == 0; }

static hr_status check_params(const hr_server_params *p, hr_error *err)
{
    if (!p->listen)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: no listen address");
    if (p->workers < 1 || p->workers > 1024)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: workers = %d is out of 1..1024", p->workers);
    if (p->threads_per_model < 1 || p->threads_per_model > 1024)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: threads per model = %d is out of 1..1024",
                            p->threads_per_model);
    if (p->max_clients < 1 || p->max_clients > 1000000)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: max clients = %d is out of 1..1000000", p->max_clients);
    if (p->max_pending < 1 || p->max_pending > 1000000 || p->max_pending_per_source < 1 ||
        p->max_pending_per_source > p->max_pending)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: max pending = %d (1..1000000) and per source = %d "
                            "(1..max pending) are out of range", p->max_pending, p->max_pending_per_source);
    if (p->max_queue < 1 || p->max_queue > 4096)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: max queue = %d is out of 1..4096", p->max_queue);
    if (p->max_frame_bytes < 1024 || p->max_frame_bytes > HR_PROTO_MAX_PAYLOAD)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: max frame bytes = %u is out of 1024..%u",
                            p->max_frame_bytes, HR_PROTO_MAX_PAYLOAD);
    if (p->idle_timeout_ms < 1 || p->frame_timeout_ms < 1 || p->handshake_timeout_ms < 1)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: timeouts must be positive (idle %d, frame %d, "
                            "handshake %d ms)", p->idle_timeout_ms, p->frame_timeout_ms, p->handshake_timeout_ms);
    if ((p->tls.cert || p->tls.key || p->tls.ca) && !(p->tls.cert && p->tls.key && p->tls.ca))
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: TLS needs the certificate, the key and the CA together");
    return HR_OK;
}

/* Binds the first address of host:port that works. */
static hr_status bind_socket(hr_server *srv, evutil_socket_t *out, hr_error *err)
{
    char host[256], where[HR__ADDR_TEXT_MAX];
    struct addrinfo *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    int port;
    hr_status st;
    evutil_socket_t fd = -1;

    if ((st = hr_net_parse_addr(srv->p.listen, host, sizeof host, &port, err)) ||
        (st = hr__addr_resolve(host, port, 1, &res, err)))
        return st;
    if (!srv->p.tls.cert && !srv->p.insecure_plain_tcp)
        for (ai = res; ai; ai = ai->ai_next)
            if (!hr__addr_is_loopback(ai->ai_addr)) {
                freeaddrinfo(res);
                return hr_error_set(err, HR_ERR_INVALID_ARG,
                                    "serve: plain TCP listens only on a loopback address (127.0.0.1, [::1]), not "
                                    "%s; use TLS (--tls-cert, --tls-key, --tls-ca) or, behind an SSH tunnel, "
                                    "--insecure-plain-tcp",
                                    srv->p.listen);
            }
    st = hr_error_set(err, HR_ERR_IO, "serve: %s: no address to bind", srv->p.listen);
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        hr__addr_format(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            st = hr_error_set(err, HR_ERR_IO, "serve: %s: socket: %s", where, strerror(errno));
            continue;
        }
        /* SO_REUSEADDR: a restarted server binds while old connections linger in TIME_WAIT */
        if (evutil_make_socket_nonblocking(fd) < 0 || evutil_make_socket_closeonexec(fd) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
            st = hr_error_set(err, HR_ERR_IO, "serve: listen %s: %s", where, strerror(errno));
            evutil_closesocket(fd);
            fd = -1;
            continue;
        }
        st = HR_OK;
        break;
    }
    freeaddrinfo(res);
    if (st)
        return st;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "serve: getsockname: %s", strerror(errno));
        evutil_closesocket(fd);
        return st;
    }
    srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = fd;
    return HR_OK;
}

hr_status hr_server_create(const hr_server_params *params, hr_server **out, hr_error *err)
{
    hr_server_params def = hr_server_params_default();
    hr_server *srv;
    hr_status st;
    evutil_socket_t fd = -1;
    int sweep_ms;

    if (!params)
        params = &def;
    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: no output");
    if ((st = check_params(params, err)))
        return st;
    pthread_once(&evthread_once, evthread_setup);
    if (!evthread_ok)
        return hr_error_set(err, HR_ERR_INTERNAL, "serve: libevent's pthread support cannot be enabled");
    if (!(srv = calloc(1, sizeof *srv)))
        return hr_error_set(err, HR_ERR_NOMEM, "serve: out of memory");
    srv->p = *params;
    /* keep copies of the strings: the caller's may not outlive the server */
    snprintf(srv->listen, sizeof srv->listen, "%s", params->listen);
    snprintf(srv->name, sizeof srv->name, "%s", params->name ? params->name : "hyperrep-serve");
    srv->p.listen = srv->listen;
    srv->p.name = srv->name;
    if (params->tls.cert) {
        snprintf(srv->tls_cert, sizeof srv->tls_cert, "%s", params->tls.cert);
        snprintf(srv->tls_key, sizeof srv->tls_key, "%s", params->tls.key);
        snprintf(srv->tls_ca, sizeof srv->tls_ca, "%s", params->tls.ca);
        srv->p.tls.cert = srv->tls_cert, srv->p.tls.key = srv->tls_key, srv->p.tls.ca = srv->tls_ca;
    }
    pthread_mutex_init(&srv->done_mu, NULL);
    pthread_mutex_init(&srv->stats_mu, NULL);
    if (srv->p.tls.cert && (st = hr__tls_ctx_create(&srv->p.tls, 1, &srv->ssl_ctx, err)))
        goto fail;
    if ((st = bind_socket(srv, &fd, err)))
        goto fail;
    srv->base = event_base_new();
    if (!srv->base) {
        evutil_closesocket(fd);
        st = hr_error_set(err, HR_ERR_NOMEM, "serve: cannot create the event loop");
        goto fail;
    }
    srv->lis = evconnlistener_new(srv->base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!srv->lis) {
        evutil_closesocket(fd);
        st = hr_error_set(err, HR_ERR_NOMEM, "serve: cannot create the listener");
        goto fail;
    }
    sweep_ms = srv->p.frame_timeout_ms;
    if (srv->p.idle_timeout_ms < sweep_ms)
        sweep_ms = srv->p.idle_timeout_ms;
    if (srv->p.handshake_timeout_ms < sweep_ms)
        sweep_ms = srv->p.handshake_timeout_ms;
    sweep_ms /= 4;
    sweep_ms = sweep_ms < 5 ? 5 : sweep_ms > 500 ? 500 : sweep_ms;
    struct timeval tv = {sweep_ms / 1000, (sweep_ms % 1000) * 1000};
    srv->done_ev = event_new(srv->base, -1, 0, done_cb, srv);
    srv->stop_ev = event_new(srv->base, -1, 0, stop_cb, srv);
    srv->sweep_ev = event_new(srv->base, -1, EV_PERSIST, sweep_cb, srv);
    srv->reap_ev = event_new(srv->base, -1, 0, reap_cb, srv);
    if (!srv->done_ev || !srv->stop_ev || !srv->sweep_ev || !srv->reap_ev || event_add(srv->sweep_ev, &tv) != 0) {
        st = hr_error_set(err, HR_ERR_NOMEM, "serve: cannot create the loop's events");
        goto fail;
    }
    if (srv->p.handle_signals) {
        srv->sig_int = evsignal_new(srv->base, SIGINT, signal_cb, srv);
        srv->sig_term = evsignal_new(srv->base, SIGTERM, signal_cb, srv);
        if (!srv->sig_int || !srv->sig_term || event_add(srv->sig_int, NULL) != 0 ||
            event_add(srv->sig_term, NULL) != 0) {
            st = hr_error_set(err, HR_ERR_INTERNAL, "serve: cannot install the signal handlers");
            goto fail;
        }
    }
    srv->nworkers = srv->p.workers;
    if (!(srv->workers = calloc((size_t)srv->nworkers, sizeof *srv->workers))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "serve: out of memory");
        goto fail;
    }
    for (int i = 0; i < srv->nworkers; i++) {
        worker *w = &srv->workers[i];
        hr_ctx_params cp = hr_ctx_params_default();
        cp.threads = srv->p.threads_per_model;
        w->srv = srv;
        w->index = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        if ((st = hr_ctx_create(&cp, &w->ctx, err)))
            goto fail;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            st = hr_error_set(err, HR_ERR_INTERNAL, "serve: cannot start worker %d", i);
            goto fail;
        }
        w->started = 1;
    }
    slog(srv, HR_LOG_INFO, "serve: listening on %s (port %d, %s), %d workers x %d threads, at most %d clients",
         srv->listen, srv->port, srv->ssl_ctx ? "mutual TLS 1.3" : "plain TCP", srv->nworkers,
         srv->p.threads_per_model, srv->p.max_clients);
    *out = srv;
    return HR_OK;
fail:
    hr_server_destroy(srv);
    return st;
}

int hr_server_port(const hr_server *s) { return s->port; }

hr_status hr_server_run(hr_server *srv, hr_error *err)
{
    sigset_t block, old, pending;
    int rc;
    if (!srv)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: no server");
    /* libevent writes plain sockets with writev(2): a peer that has gone
     * raises SIGPIPE on the writing thread. Blocking it on this thread turns
     * that into EPIPE without touching the process's dispositions. */
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = event_base_dispatch(srv->base);
    /* consume a SIGPIPE left pending, so unblocking cannot deliver it */
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&block, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0)
        return hr_error_set(err, HR_ERR_INTERNAL, "serve: the event loop failed");
    return HR_OK;
}

/* An adopted connection on its way to the loop thread. */
typedef struct adoption {
    hr_server *srv;
    int fd;
    struct sockaddr_storage sa;
    socklen_t salen;
} adoption;

static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
    adoption *a = arg;
    (void)fd, (void)what;
    accept_cb(NULL, a->fd, (struct sockaddr *)&a->sa, (int)a->salen, a->srv);
    free(a);
}

hr_status hr_server_adopt(hr_server *s, int fd, hr_error *err)
{
    struct timeval now = {0, 0};
    adoption *a;
    if (!s || fd < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "serve: adopt: no server or no socket");
    if (!(a = calloc(1, sizeof *a)))
        return hr_error_set(err, HR_ERR_NOMEM, "serve: adopt: out of memory");
    a->srv = s;
    a->fd = fd;
    a->salen = sizeof a->sa;
    if (getpeername(fd, (struct sockaddr *)&a->sa, &a->salen) != 0) {
        int e = errno;
        free(a);
        return hr_error_set(err, HR_ERR_IO, "serve: adopt: the socket has no peer: %s", strerror(e));
    }
    if (evutil_make_socket_nonblocking(fd) != 0 ||
        event_base_once(s->base, -1, EV_TIMEOUT, adopt_cb, a, &now) != 0) {
        free(a);
        return hr_error_set(err, HR_ERR_INTERNAL, "serve: adopt: cannot hand the socket to the event loop");
    }
    return HR_OK;
}

void hr_server_stop(hr_server *s)
{
    if (s && s->stop_ev)
        event_active(s->stop_ev, EV_READ, 0);
}

void hr_server_get_stats(hr_server *s, hr_server_stats *out)
{
    pthread_mutex_lock(&s->stats_mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->stats_mu);
}

void hr_server_destroy(hr_server *srv)
{
    if (!srv)
        return;
    for (int i = 0; srv->workers && i < srv->nworkers; i++) {
        worker *w = &srv->workers[i];
        if (w->started) {
            pthread_mutex_lock(&w->mu);
            w->stop = 1;
            pthread_cond_broadcast(&w->cv);
            pthread_mutex_unlock(&w->mu);
            pthread_join(w->thread, NULL);
        }
    }
    /* jobs never run or never collected (the loop did not finish) */
    for (int i = 0; srv->workers && i < srv->nworkers; i++) {
        worker *w = &srv->workers[i];
        while (w->head) {
            job *j = w->head;
            w->head = j->next;
            job_free(j);
        }
        hr_ctx_destroy(w->ctx);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    while (srv->done_head) {
        job *j = srv->done_head;
        srv->done_head = j->next;
        job_free(j);
    }
    while (srv->sessions) {
        session *s = srv->sessions;
        s->jobs = 0;
        srv->stopping = 0;
        session_free(s);
    }
    free(srv->workers);
    if (srv->sig_int)
        event_free(srv->sig_int);
    if (srv->sig_term)
        event_free(srv->sig_term);
    if (srv->done_ev)
        event_free(srv->done_ev);
    if (srv->stop_ev)
        event_free(srv->stop_ev);
    if (srv->sweep_ev)
        event_free(srv->sweep_ev);
    if (srv->reap_ev)
        event_free(srv->reap_ev);
    if (srv->lis)
        evconnlistener_free(srv->lis);
    if (srv->base)
        event_base_free(srv->base);
    SSL_CTX_free(srv->ssl_ctx);
    pthread_mutex_destroy(&srv->done_mu);
    pthread_mutex_destroy(&srv->stats_mu);
    free(srv);
}
