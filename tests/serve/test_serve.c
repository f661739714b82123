/* The deployment server (serve.h) on loopback, in a thread of this process:
 * split inference through it equals the whole model run here for every
 * split and a few γ / α choices, and so does the raw placement (the 8-bit
 * image crossing) on the dequantised frame; two edges with different configurations
 * at once; hostile or broken peers (malformed, oversized, out-of-sequence,
 * truncated and slow frames, played by raw sockets) each lose their
 * connection with a logged error while a good edge keeps getting correct
 * results; the loopback rule; the client limit; mutual TLS where the
 * server names the edge by its certificate CN. Every wait is bounded
 * (channel and socket timeouts, a poll of the log with a deadline), so a
 * bug fails a test instead of hanging it; nothing passes or fails on
 * timing. */
// ctest-labels: net
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hr_test.h"
#include "hyperrep/net.h"
#include "hyperrep/proto.h"
#include "hyperrep/serve.h"
#include "hyperrep/weights.h"

#define MAKE_CERTS HR_FIXTURES_DIR "/../../scripts/make-certs.sh"
#define WAIT_MS 15000 /* longest wait for anything that should happen at once */
#define SEED 7

/* ---- the server in a thread, its log captured ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 18];
static size_t log_len;

static void capture(void *user, hr_log_level level, const char *line)
{
    (void)user, (void)level;
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(line);
    if (log_len + n + 2 < sizeof log_text) {
        memcpy(log_text + log_len, line, n);
        log_len += n;
        log_text[log_len++] = '\n';
        log_text[log_len] = '\0';
    }
    pthread_mutex_unlock(&log_mu);
}

static void log_clear(void)
{
    pthread_mutex_lock(&log_mu);
    log_len = 0;
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

/* Waits (bounded) until the log holds every needle on one line. */
/* 1 when a log line holds a (and b, when not NULL) right now. */
static int log_has_now(const char *a, const char *b)
{
    int found = 0;
    pthread_mutex_lock(&log_mu);
    for (const char *line = log_text; *line && !found;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char buf[1200];
        snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf - 1 ? n : sizeof buf - 1), line);
        found = strstr(buf, a) && (!b || strstr(buf, b));
        line += n + (end ? 1 : 0);
    }
    pthread_mutex_unlock(&log_mu);
    return found;
}

static int log_has(const char *a, const char *b)
{
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        if (log_has_now(a, b))
            return 1;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    pthread_mutex_lock(&log_mu);
    /* the end of the log: cmocka's messages are short */
    print_error("no log line with '%s'%s%s; the log ends:\n%s\n", a, b ? " and " : "", b ? b : "",
                log_len > 700 ? log_text + log_len - 700 : log_text);
    pthread_mutex_unlock(&log_mu);
    return 0;
}

typedef struct fixture {
    hr_server *srv;
    pthread_t th;
    hr_status run_status;
    int port;
    char addr[64];
} fixture;

static void *server_main(void *arg)
{
    fixture *f = arg;
    hr_error err = {0};
    f->run_status = hr_server_run(f->srv, &err);
    return NULL;
}

static hr_server_params test_params(void)
{
    hr_server_params p = hr_server_params_default();
    p.listen = "127.0.0.1:0";
    p.log = capture;
    p.log_level = HR_LOG_DEBUG;
    p.workers = 2;
    return p;
}

static void start(fixture *f, const hr_server_params *p)
{
    hr_error err = {0};
    memset(f, 0, sizeof *f);
    log_clear();
    HR_ASSERT_OK(hr_server_create(p, &f->srv, &err), &err);
    f->port = hr_server_port(f->srv);
    assert_true(f->port > 0);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", f->port);
    assert_int_equal(pthread_create(&f->th, NULL, server_main, f), 0);
}

static void stop(fixture *f)
{
    hr_server_stop(f->srv);
    assert_int_equal(pthread_join(f->th, NULL), 0);
    assert_int_equal(f->run_status, HR_OK);
    hr_server_destroy(f->srv);
}

/* ---- an edge: head and reference here, tail at the server ---- */

typedef struct edge {
    hr_deploy_config cfg;
    hr_ctx *ctx;
    hr_deploy_part *head, *whole;
    hr_chan *chan;
    int64_t in[4], cross[4], classes;
    hr_test_rng rng;
    uint32_t next_id;
} edge;

static hr_net_params edge_params(void)
{
    hr_net_params p = hr_net_params_default();
    p.connect_timeout_ms = WAIT_MS;
    p.io_timeout_ms = WAIT_MS;
    p.role = "infer";
    p.name = "edge-test";
    return p;
}

/* Sends the deployment: weights random from `seed`, or inline (the bytes
 * of a safetensors file, in chunks of chunk_bytes). */
static hr_status deploy(edge *e, uint64_t seed, const unsigned char *bytes, size_t len, size_t chunk_bytes,
                        hr_error *err)
{
    char wj[300], sha[65], *meta = NULL;
    hr_msg m;
    hr_status st;
    uint32_t chunks = bytes ? (uint32_t)((len + chunk_bytes - 1) / chunk_bytes) : 1;
    if (bytes) {
        hr_sha256_hex(bytes, len, sha);
        snprintf(wj, sizeof wj, "{\"kind\": \"inline\", \"bytes\": %zu, \"chunks\": %u, \"chunk\": 0, \"sha256\": \"%s\"}",
                 len, chunks, sha);
    } else {
        snprintf(wj, sizeof wj, "{\"kind\": \"random\", \"seed\": %llu}", (unsigned long long)seed);
    }
    if ((st = hr_deploy_config_to_meta(&e->cfg, wj, 1, &meta, err)))
        return st;
    for (uint32_t k = 0; k < chunks; k++) {
        hr_wire_tensor t;
        char later[300];
        size_t off = (size_t)k * chunk_bytes, n = bytes ? (len - off < chunk_bytes ? len - off : chunk_bytes) : 0;
        memset(&t, 0, sizeof t);
        t.dtype = HR_WIRE_U8;
        t.ndim = 1;
        t.shape[0] = (int64_t)n;
        t.data = bytes ? (void *)(bytes + off) : NULL;
        t.nbytes = n;
        snprintf(later, sizeof later,
                 "{\"purpose\": \"infer\", \"weights\": {\"kind\": \"inline\", \"bytes\": %zu, \"chunks\": %u, "
                 "\"chunk\": %u, \"sha256\": \"%s\"}}",
                 len, chunks, k, bytes ? sha : "");
        if ((st = hr_chan_send(e->chan, HR_MSG_MODEL_SYNC, k, k ? later : meta, &t, bytes ? 1 : 0, err)))
            break;
    }
    free(meta);
    if (st)
        return st;
    hr_msg_init(&m);
    st = hr_chan_expect(e->chan, HR_MSG_ACK, WAIT_MS, &m, err);
    hr_msg_deinit(&m);
    return st;
}

/* Builds head and reference for a configuration (JSON text) and deploys it;
 * weights random from SEED, or from map (sent inline). */
static void edge_open(edge *e, const fixture *f, const char *json, hr_tensor_map *map, const hr_net_params *np)
{
    hr_error err = {0};
    hr_ctx_params cp = hr_ctx_params_default();
    hr_net_params def = edge_params();
    memset(e, 0, sizeof *e);
    hr_deploy_config_init(&e->cfg);
    HR_ASSERT_OK(hr_deploy_config_parse(json, "test config", &e->cfg, &err), &err);
    HR_ASSERT_OK(hr_ctx_create(&cp, &e->ctx, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_create(e->ctx, &e->cfg, HR_DEPLOY_HEAD, map, SEED, &e->head, &err), &err);
    HR_ASSERT_OK(hr_deploy_part_create(e->ctx, &e->cfg, HR_DEPLOY_WHOLE, map, SEED, &e->whole, &err), &err);
    HR_ASSERT_OK(hr_deploy_config_resolve(&e->cfg, hr_deploy_part_model(e->head), &err), &err);
    hr_deploy_part_input_shape(e->head, e->in);
    hr_deploy_part_crossing_shape(e->head, e->cross);
    e->classes = hr_deploy_part_num_classes(e->head);
    hr_test_rng_seed(&e->rng, 1234 + (uint64_t)e->cfg.split);
    HR_ASSERT_OK(hr_chan_connect(f->addr, np ? np : &def, &e->chan, &err), &err);
    if (map) {
        const char *path = hr_test_tmp_path("inline.safetensors");
        size_t len;
        HR_ASSERT_OK(hr_safetensors_save(path, map, NULL, NULL, 0, &err), &err);
        unsigned char *bytes = hr_test_read_all(path, &len);
        /* small chunks, so several frames carry the weights */
        HR_ASSERT_OK(deploy(e, 0, bytes, len, 4096, &err), &err);
        free(bytes);
    } else {
        HR_ASSERT_OK(deploy(e, SEED, NULL, 0, 0, &err), &err);
    }
}

static void edge_close(edge *e)
{
    hr_msg m;
    hr_error err = {0};
    if (e->chan) {
        hr_msg_init(&m);
        HR_ASSERT_OK(hr_chan_send(e->chan, HR_MSG_SHUTDOWN, 999999, NULL, NULL, 0, &err), &err);
        HR_ASSERT_OK(hr_chan_expect(e->chan, HR_MSG_ACK, WAIT_MS, &m, &err), &err);
        assert_int_equal(m.id, 999999);
        hr_msg_deinit(&m);
    }
    hr_chan_destroy(e->chan);
    hr_deploy_part_destroy(e->head);
    hr_deploy_part_destroy(e->whole);
    hr_ctx_destroy(e->ctx);
    hr_deploy_config_deinit(&e->cfg);
}

/* The network input a raw tail makes of pixels, written out from the
 * formula rather than with the library's function, so that a wrong
 * dequantisation on both sides cannot agree with itself. */
static void dequantise_here(const uint8_t *u, const edge *e, float *x)
{
    int64_t hw = e->in[2] * e->in[3];
    for (int64_t ch = 0; ch < e->in[1]; ch++) {
        float m = e->cfg.norm_channels ? e->cfg.input_mean[ch] : 0.0f;
        float sd = e->cfg.norm_channels ? e->cfg.input_std[ch] : 1.0f;
        for (int64_t i = 0; i < hw; i++)
            x[ch * hw + i] = ((float)u[ch * hw + i] / 255.0f - m) / sd;
    }
}

/* Sends n frames (all of them before the first result: the server queues
 * them) and checks every result against the whole model run here: the
 * same class, logits within 1e-4 of the largest. Under the raw placement
 * the head's crossing is the 8-bit image, and the reference runs on the
 * frame as the tail must see it (the pixels dequantised). */
static void edge_stream(edge *e, int n)
{
    int64_t isz = e->in[1] * e->in[2] * e->in[3];
    int raw = e->cfg.split == HR_PLACEMENT_RAW;
    float *x = malloc(sizeof(float) * (size_t)(isz * n)), *xq = malloc(sizeof(float) * (size_t)isz);
    void *c = malloc(hr_deploy_part_crossing_bytes(e->head));
    float *ref = malloc(sizeof(float) * (size_t)(e->classes * n));
    hr_error err = {0};
    hr_msg m;
    assert_non_null(x);
    assert_non_null(xq);
    assert_non_null(c);
    assert_non_null(ref);
    assert_int_equal(hr_deploy_part_crossing_dtype(e->head), raw ? HR_WIRE_U8 : HR_WIRE_F32);
    hr_test_fill(&e->rng, x, isz * n, -1, 1);
    for (int i = 0; i < n; i++) {
        HR_ASSERT_OK(hr_deploy_part_run_head(e->head, x + i * isz, c, &err), &err);
        if (raw)
            dequantise_here(c, e, xq);
        HR_ASSERT_OK(hr_deploy_part_run_whole(e->whole, raw ? xq : x + i * isz, ref + i * e->classes, &err), &err);
        hr_wire_tensor w = hr_deploy_part_crossing_wire(e->head, c);
        HR_ASSERT_OK(hr_chan_send(e->chan, HR_MSG_INFER_FRAME, e->next_id + (uint32_t)i, NULL, &w, 1, &err), &err);
    }
    hr_msg_init(&m);
    for (int i = 0; i < n; i++) {
        const float *want = ref + i * e->classes;
        int64_t best = 0;
        double scale = 0, diff = 0;
        HR_ASSERT_OK(hr_chan_expect(e->chan, HR_MSG_INFER_RESULT, WAIT_MS, &m, &err), &err);
        assert_int_equal(m.id, e->next_id + (uint32_t)i);
        assert_int_equal(m.ntensors, 1);
        assert_int_equal(m.tensor[0].dtype, HR_WIRE_F32);
        assert_int_equal(m.tensor[0].nbytes, sizeof(float) * (size_t)e->classes);
        const float *got = m.tensor[0].data;
        for (int64_t k = 0; k < e->classes; k++) {
            if (want[k] > want[best])
                best = k;
            scale = fmax(scale, fabs(want[k]));
            diff = fmax(diff, fabs((double)got[k] - want[k]));
        }
        char needle[48];
        snprintf(needle, sizeof needle, "\"class\": %lld,", (long long)best);
        if (!m.meta || !strstr(m.meta, needle)) {
            print_error("split %d frame %d: result %s, expected class %lld\n", e->cfg.split, i, m.meta ? m.meta : "",
                        (long long)best);
            fail();
        }
        if (diff > 1e-4 * fmax(1.0, scale)) {
            print_error("split %d frame %d: logits differ by %g (largest %g)\n", e->cfg.split, i, diff, scale);
            fail();
        }
    }
    hr_msg_deinit(&m);
    e->next_id += (uint32_t)n;
    free(x);
    free(xq);
    free(c);
    free(ref);
}

/* γ text for repvgg-tiny: blocks with all three branches (1, 3, 5) and
 * dense+1x1 blocks (0, 2, 4, 6). */
static void gammas_json(char *buf, size_t n, int g3, int g2)
{
    snprintf(buf, n, "[%d, %d, %d, %d, %d, %d, %d]", g2, g3, g2, g3, g2, g3, g2);
}

static void test_every_split_matches_local(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    static const int choice[][2] = {{-1, -1}, {9, 3}, {11, 4}};
    char json[600], g[80];
    hr_error err = {0};
    (void)state;
    start(&f, &p);
    for (int ci = 0; ci < 3; ci++)
        for (int s = 0; s <= 7; s++) {
            edge e;
            gammas_json(g, sizeof g, choice[ci][0], choice[ci][1]);
            snprintf(json, sizeof json, "{\"arch\": \"repvgg-tiny\", \"split\": %d, \"gammas\": %s}", s, g);
            edge_open(&e, &f, json, NULL, NULL);
            edge_stream(&e, 3);
            edge_close(&e);
        }
    /* pruned branches and trained-looking α travel in the configuration:
     * stage1.1 loses its identity (γ 4 then), stage2.1 its 1x1 (γ 6) */
    snprintf(json, sizeof json,
             "{\"arch\": \"repvgg-tiny\", \"split\": 3, \"gamma\": {\"stage1.1\": 4, \"stage2.1\": \"PARA_3_I\"}, "
             "\"alpha\": [[0.9, 1.1, 0], [0.7, 0.5, 0], [1, 1, 0], [1.2, 0, 0.3], [1, 1, 0], [0.8, 0.6, 0.4], "
             "[1, 0.25, 0]]}");
    {
        edge e;
        edge_open(&e, &f, json, NULL, NULL);
        edge_stream(&e, 4);
        edge_close(&e);
    }
    hr_server_stats st;
    hr_server_get_stats(f.srv, &st);
    assert_int_equal(st.deployed, 25);
    assert_int_equal(st.frames, 3 * 8 * 3 + 4);
    assert_int_equal(st.protocol_errors, 0);
    /* the tails' CPU time: some, and no more than this whole process has used */
    {
        struct timespec ts;
        assert_int_equal(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
        assert_true(st.tail_cpu_ms > 0);
        assert_true(st.tail_cpu_ms <= (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
    }
    /* a socket handed over must be a connected one */
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(hr_server_adopt(f.srv, -1, &err), HR_ERR_INVALID_ARG);
        assert_int_equal(hr_server_adopt(f.srv, fd, &err), HR_ERR_IO);
        assert_non_null(strstr(err.msg, "no peer"));
        close(fd);
    }
    stop(&f);
}

static void test_inline_weights(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    hr_error err = {0};
    hr_ctx *ctx;
    hr_model *m;
    hr_tensor_map *map;
    hr_ctx_params cp = hr_ctx_params_default();
    edge e;
    (void)state;
    /* weights the server cannot make up from a seed */
    HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
    hr_model_params mp = hr_model_params_default();
    HR_ASSERT_OK(hr_model_create(ctx, "repvgg-tiny", &mp, &m, &err), &err);
    HR_ASSERT_OK(hr_model_init_random(m, 4242, &err), &err);
    HR_ASSERT_OK(hr_tensor_map_create(&map, &err), &err);
    HR_ASSERT_OK(hr_model_export(m, map, &err), &err);
    start(&f, &p);
    edge_open(&e, &f, "{\"arch\": \"repvgg-tiny\", \"split\": 4}", map, NULL);
    edge_stream(&e, 3);
    edge_close(&e);
    /* the raw placement: the tail builds stage 0 from the same bytes */
    edge_open(&e, &f, "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"input_mean\": [0.4, 0.5, 0.6], "
                      "\"input_std\": [0.2, 0.3, 0.25]}", map, NULL);
    edge_stream(&e, 3);
    edge_close(&e);
    stop(&f);
    hr_tensor_map_destroy(map);
    hr_model_destroy(m);
    hr_ctx_destroy(ctx);
}

/* ---- two edges at once ---- */

typedef struct runner {
    const fixture *f;
    const char *json;
    int rounds;
} runner;

static void *edge_thread(void *arg)
{
    runner *r = arg;
    edge e;
    edge_open(&e, r->f, r->json, NULL, NULL);
    for (int i = 0; i < r->rounds; i++)
        edge_stream(&e, 5);
    edge_close(&e);
    return NULL;
}

static void test_two_edges_two_configs(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    pthread_t a, b;
    runner ra, rb;
    (void)state;
    start(&f, &p);
    ra.f = rb.f = &f;
    ra.json = "{\"arch\": \"repvgg-tiny\", \"split\": 2}";
    rb.json = "{\"arch\": \"repvgg-tiny\", \"split\": 5, \"gammas\": [3, 9, 3, 10, 3, 12, 3]}";
    ra.rounds = rb.rounds = 6;
    assert_int_equal(pthread_create(&a, NULL, edge_thread, &ra), 0);
    assert_int_equal(pthread_create(&b, NULL, edge_thread, &rb), 0);
    assert_int_equal(pthread_join(a, NULL), 0);
    assert_int_equal(pthread_join(b, NULL), 0);
    hr_server_stats st;
    hr_server_get_stats(f.srv, &st);
    assert_int_equal(st.frames, 60);
    assert_int_equal(st.deployed, 2);
    stop(&f);
}

/* ---- raw peers ---- */

static int raw_connect(int port)
{
    struct sockaddr_in sa;
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void raw_write(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        b += w, n -= (size_t)w;
    }
}

static unsigned char *encode(hr_msg_type type, uint32_t id, const char *meta, const hr_wire_tensor *t, int n,
                             size_t *len)
{
    uint8_t *buf = NULL;
    hr_error err = {0};
    HR_ASSERT_OK(hr_msg_encode(type, id, meta, t, n, &buf, len, &err), &err);
    return buf;
}

static void raw_send(int fd, hr_msg_type type, uint32_t id, const char *meta)
{
    size_t len;
    unsigned char *b = encode(type, id, meta, NULL, 0, &len);
    raw_write(fd, b, len);
    free(b);
}

/* Reads until the server closes (bounded by the socket timeout) and returns
 * the message of the ERROR frame among what arrived ("" when none). */
static void raw_expect_error_and_close(int fd, const char *needle)
{
    static unsigned char buf[1 << 16];
    size_t have = 0, off = 0;
    int closed = 0;
    while (have < sizeof buf) {
        ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
        if (r == 0) {
            closed = 1;
            break;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        have += (size_t)r;
    }
    assert_true(closed);
    int found = 0;
    while (off + HR_PROTO_HEADER_SIZE <= have) {
        hr_frame_header h;
        hr_msg m;
        hr_error err = {0};
        HR_ASSERT_OK(hr_frame_header_decode(buf + off, 0, &h, &err), &err);
        assert_true(off + HR_PROTO_HEADER_SIZE + h.length <= have);
        hr_msg_init(&m);
        HR_ASSERT_OK(hr_msg_decode(&h, buf + off + HR_PROTO_HEADER_SIZE, &m, &err), &err);
        if (m.type == HR_MSG_ERROR) {
            if (!m.meta || !strstr(m.meta, needle)) {
                print_error("ERROR frame %s does not mention '%s'\n", m.meta ? m.meta : "", needle);
                fail();
            }
            found = 1;
        }
        hr_msg_deinit(&m);
        off += HR_PROTO_HEADER_SIZE + h.length;
    }
    assert_true(found);
    close(fd);
}

/* A raw peer past the hello. */
static int raw_hello(int port)
{
    int fd = raw_connect(port);
    raw_send(fd, HR_MSG_HELLO, 0, "{\"protocol\": 1, \"role\": \"infer\", \"name\": \"raw\"}");
    return fd;
}

static const char *tiny_meta =
    "{\"purpose\": \"infer\", \"arch\": \"repvgg-tiny\", \"split\": 3, \"weights\": {\"kind\": \"random\", \"seed\": 7}}";

/* A raw peer with a deployment of `meta`. */
static int raw_deployed_meta(int port, const char *meta)
{
    unsigned char b[4096];
    size_t have = 0;
    int fd = raw_hello(port), acks = 0;
    raw_send(fd, HR_MSG_MODEL_SYNC, 1, meta);
    /* hello, then the ACK of the deployment */
    while (acks == 0) {
        ssize_t r = recv(fd, b + have, sizeof b - have, 0);
        assert_true(r > 0);
        have += (size_t)r;
        size_t off = 0;
        while (off + HR_PROTO_HEADER_SIZE <= have) {
            hr_frame_header h;
            assert_int_equal(hr_frame_header_decode(b + off, 0, &h, NULL), HR_OK);
            if (off + HR_PROTO_HEADER_SIZE + h.length > have)
                break;
            acks += h.type == HR_MSG_ACK;
            assert_true(h.type == HR_MSG_HELLO || h.type == HR_MSG_ACK);
            off += HR_PROTO_HEADER_SIZE + h.length;
        }
    }
    return fd;
}

/* A raw peer with a deployment (split 3: crossing [1, 16, 6, 6]). */
static int raw_deployed(int port) { return raw_deployed_meta(port, tiny_meta); }

static unsigned char *frame_bytes(uint32_t id, size_t *len)
{
    static float x[16 * 6 * 6];
    hr_tensor t = hr_tensor_4d(x, 1, 16, 6, 6);
    hr_wire_tensor w = hr_wire_from_tensor(&t);
    return encode(HR_MSG_INFER_FRAME, id, NULL, &w, 1, len);
}

static void test_bad_peers_closed_others_served(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    hr_server_stats st;
    edge good;
    size_t len;
    unsigned char *b;
    int fd;
    (void)state;
    p.frame_timeout_ms = 500;
    start(&f, &p);
    edge_open(&good, &f, "{\"arch\": \"repvgg-tiny\", \"split\": 3}", NULL, NULL);
    edge_stream(&good, 2);

    /* malformed: a frame whose magic is wrong */
    fd = raw_hello(f.port);
    b = encode(HR_MSG_SHUTDOWN, 5, NULL, NULL, 0, &len);
    b[0] = 'X';
    raw_write(fd, b, len);
    free(b);
    raw_expect_error_and_close(fd, "magic");
    assert_true(log_has("error: frame: magic", "raw"));
    edge_stream(&good, 2);

    /* out of sequence: a frame before any deployment */
    fd = raw_hello(f.port);
    b = frame_bytes(1, &len);
    raw_write(fd, b, len);
    free(b);
    raw_expect_error_and_close(fd, "out of sequence");
    assert_true(log_has("out of sequence: infer_frame", "expected model_sync"));
    edge_stream(&good, 2);

    /* oversized: a frame announcing 40 MiB where [1, 16, 6, 6] fits in 2.4 kB */
    fd = raw_deployed(f.port);
    b = frame_bytes(2, &len);
    b[12] = 0, b[13] = 0, b[14] = 0x80, b[15] = 0x02; /* length 0x02800000 */
    raw_write(fd, b, HR_PROTO_HEADER_SIZE);
    free(b);
    raw_expect_error_and_close(fd, "over this session's limit");
    assert_true(log_has("infer_frame frame (id 2) of 41943040 bytes is over this session's limit", NULL));
    edge_stream(&good, 2);

    /* a tensor of the wrong shape */
    fd = raw_deployed(f.port);
    {
        float y[16 * 5 * 5] = {0};
        hr_tensor t = hr_tensor_4d(y, 1, 16, 5, 5);
        hr_wire_tensor w = hr_wire_from_tensor(&t);
        b = encode(HR_MSG_INFER_FRAME, 3, NULL, &w, 1, &len);
        raw_write(fd, b, len);
        free(b);
    }
    raw_expect_error_and_close(fd, "needs f32 [1, 16, 6, 6]");
    edge_stream(&good, 2);

    /* a malformed payload: a tensor count the type does not allow */
    fd = raw_deployed(f.port);
    b = frame_bytes(4, &len);
    b[HR_PROTO_HEADER_SIZE + 4] = 2; /* meta_len 0, then the tensor count */
    raw_write(fd, b, len);
    free(b);
    raw_expect_error_and_close(fd, "malformed infer_frame");
    edge_stream(&good, 2);

    /* truncated: the peer vanishes in the middle of a frame */
    fd = raw_deployed(f.port);
    b = frame_bytes(5, &len);
    raw_write(fd, b, len / 2);
    free(b);
    close(fd);
    assert_true(log_has("vanished mid-frame", "of a infer_frame frame (id 5)"));
    edge_stream(&good, 2);

    /* slow sender: half a frame, then nothing past the frame timeout */
    fd = raw_deployed(f.port);
    b = frame_bytes(6, &len);
    raw_write(fd, b, len / 2);
    free(b);
    raw_expect_error_and_close(fd, "frame timeout");
    assert_true(log_has("frame timeout", "slow sender"));
    edge_stream(&good, 2);

    /* a configuration the model refuses: γ 13 on stage1.0, which has no identity */
    fd = raw_hello(f.port);
    raw_send(fd, HR_MSG_MODEL_SYNC, 1,
             "{\"purpose\": \"infer\", \"arch\": \"repvgg-tiny\", \"split\": 3, \"gamma\": {\"stage1.0\": 13}, "
             "\"weights\": {\"kind\": \"random\", \"seed\": 7}}");
    raw_expect_error_and_close(fd, "stage1.0: gamma 13 (FUSED_ALL) is invalid");
    assert_true(log_has("deployment refused", "stage1.0"));
    edge_stream(&good, 2);

    /* an edge that sends frames and vanishes without reading the results */
    fd = raw_deployed(f.port);
    for (uint32_t i = 10; i < 14; i++) {
        b = frame_bytes(i, &len);
        raw_write(fd, b, len);
        free(b);
    }
    close(fd);
    /* The results it never read make close() send a reset, which may discard
     * the tail of the last frame before the server reads it: both endings are
     * a clean close of that session alone. */
    int vanished = 0, disconnected = 0;
    for (int waited = 0; waited < WAIT_MS && !vanished && !disconnected; waited += 50) {
        disconnected = log_has_now("disconnected", "frames served");
        vanished = log_has_now("vanished mid-frame", "frame (id 13)");
        if (!vanished && !disconnected)
            nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    assert_true(vanished || disconnected);
    edge_stream(&good, 2);

    hr_server_get_stats(f.srv, &st);
    assert_int_equal(st.protocol_errors, 6 + vanished);
    assert_int_equal(st.timeouts, 1);
    edge_close(&good);
    stop(&f);
}

/* Stopping closes every session, also one with frames in flight, and the
 * run returns once the workers have handed back their jobs. */
static void test_stop_with_frames_in_flight(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    edge e;
    hr_error err = {0};
    hr_msg m;
    float c[16 * 6 * 6] = {0};
    (void)state;
    start(&f, &p);
    edge_open(&e, &f, "{\"arch\": \"repvgg-tiny\", \"split\": 3}", NULL, NULL);
    for (uint32_t i = 0; i < 8; i++) {
        hr_tensor t = hr_tensor_4d(c, 1, 16, 6, 6);
        hr_wire_tensor w = hr_wire_from_tensor(&t);
        HR_ASSERT_OK(hr_chan_send(e.chan, HR_MSG_INFER_FRAME, i, NULL, &w, 1, &err), &err);
    }
    stop(&f);
    /* what the edge sees: some results, then the server's error or the end */
    hr_msg_init(&m);
    hr_status st;
    int results = 0;
    while ((st = hr_chan_recv(e.chan, WAIT_MS, &m, &err)) == HR_OK)
        results += m.type == HR_MSG_INFER_RESULT;
    assert_true(results <= 8);
    hr_msg_deinit(&m);
    hr_chan_destroy(e.chan);
    e.chan = NULL;
    edge_close(&e);
    assert_true(log_has("stopping: closing 1 sessions", NULL));
}

static void test_idle_and_handshake_timeouts(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    int fd;
    (void)state;
    /* one server per limit, so a slow test machine cannot trip the other */
    p.handshake_timeout_ms = 200;
    start(&f, &p);
    fd = raw_connect(f.port); /* never says hello */
    raw_expect_error_and_close(fd, "no hello");
    assert_true(log_has("no hello within 0.2 s", NULL));
    stop(&f);
    p = test_params();
    p.idle_timeout_ms = 1000;
    start(&f, &p);
    fd = raw_deployed(f.port); /* deployed, then silent */
    raw_expect_error_and_close(fd, "idle");
    assert_true(log_has("idle for 1.0 s", "--timeout-idle"));
    stop(&f);
}

static void test_listen_rules_and_client_limit(void **state)
{
    hr_server_params p = test_params();
    hr_server *srv = NULL;
    hr_error err = {0};
    fixture f;
    edge e;
    hr_chan *c = NULL;
    hr_net_params np = edge_params();
    (void)state;
    p.listen = "0.0.0.0:0";
    assert_int_equal(hr_server_create(&p, &srv, &err), HR_ERR_INVALID_ARG);
    assert_null(srv);
    assert_non_null(strstr(err.msg, "loopback"));
    assert_non_null(strstr(err.msg, "--insecure-plain-tcp"));
    p = test_params();
    p.tls.cert = "only-the-cert.pem";
    assert_int_equal(hr_server_create(&p, &srv, &err), HR_ERR_INVALID_ARG);
    p = test_params();
    p.workers = 0;
    assert_int_equal(hr_server_create(&p, &srv, &err), HR_ERR_INVALID_ARG);

    p = test_params();
    p.max_clients = 1;
    start(&f, &p);
    edge_open(&e, &f, "{\"arch\": \"repvgg-tiny\", \"split\": 1}", NULL, NULL);
    assert_int_equal(hr_chan_connect(f.addr, &np, &c, &err), HR_ERR_LIMIT);
    assert_null(c);
    assert_non_null(strstr(err.msg, "maximum of 1 clients"));
    assert_true(log_has("refused", "--max-clients"));
    edge_stream(&e, 2);
    edge_close(&e);
    stop(&f);
}

/* ---- the raw placement ---- */

/* The 8-bit image the edge makes of a frame, value by value. */
/* A TCP connection from `source` (a loopback address) that never speaks. */
static int silent_connection(const char *source, int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, source, &a.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    a.sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* 1 when the server has closed fd (EOF or reset within 5 s). */
static int closed_by_server(int fd)
{
    struct pollfd pf = {fd, POLLIN, 0};
    char b;
    return poll(&pf, 1, 5000) == 1 && recv(fd, &b, 1, 0) <= 0;
}

static uint64_t wait_evicted(fixture *f, uint64_t want)
{
    hr_server_stats st;
    for (int i = 0; i < 500; i++) {
        hr_server_get_stats(f->srv, &st);
        if (st.evicted >= want)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return st.evicted;
}

/* Authentication before cost: connections that never finish their
 * handshake wait in a bounded pool and take no client slot; at the
 * per-source bound the source's oldest goes, at the pool's bound the
 * oldest of all, never the newcomer; so a flood of silent connections
 * from several addresses does not keep an edge out. */
static void test_pending_pool(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    hr_server_stats st;
    int fa[6], fb[3];
    edge e;
    (void)state;
    p.max_clients = 1;
    p.max_pending = 4;
    p.max_pending_per_source = 2;
    start(&f, &p);
    /* 6 from .2: the 4 oldest go (per source); 3 from .3: its oldest goes */
    for (int i = 0; i < 6; i++)
        fa[i] = silent_connection("127.0.0.2", f.port);
    assert_int_equal(wait_evicted(&f, 4), 4);
    for (int i = 0; i < 3; i++)
        fb[i] = silent_connection("127.0.0.3", f.port);
    assert_int_equal(wait_evicted(&f, 5), 5);
    for (int i = 0; i < 4; i++)
        assert_true(closed_by_server(fa[i]));
    assert_true(closed_by_server(fb[0]));
    assert_true(log_has("closed before its hello", "--max-pending-per-source"));
    /* the pool is full (2 + 2): the edge still gets in, the oldest pending goes */
    edge_open(&e, &f, "{\"arch\": \"repvgg-tiny\", \"split\": 2}", NULL, NULL);
    edge_stream(&e, 2);
    assert_int_equal(wait_evicted(&f, 6), 6);
    assert_true(closed_by_server(fa[4]));
    assert_true(log_has("closed before its hello", "(--max-pending)"));
    hr_server_get_stats(f.srv, &st);
    /* only the edge took a client slot: with max_clients 1, it is the one admitted */
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.refused, 0);
    edge_close(&e);
    for (int i = 0; i < 6; i++)
        close(fa[i]);
    for (int i = 0; i < 3; i++)
        close(fb[i]);
    stop(&f);

    /* bounds out of range */
    hr_server *srv = NULL;
    hr_error err = {0};
    p = test_params();
    p.max_pending_per_source = p.max_pending + 1;
    assert_int_equal(hr_server_create(&p, &srv, &err), HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "max pending"));
}

static void test_quantise_formula(void **state)
{
    const float mean[2] = {0.5f, 0.25f}, std[2] = {0.25f, 2.0f};
    /* channel 0: (x·0.25 + 0.5)·255; channel 1: (x·2 + 0.25)·255 */
    const float x[8] = {1.0f, -2.0f, 2.5f, NAN, 0.0f, 0.25f, -0.2f, 100.0f};
    const uint8_t want[8] = {191, 0, 255, 0, 64, 191, 0, 255};
    uint8_t u[8];
    float back[8];
    (void)state;
    hr_deploy_quantise_input(x, 2, 4, mean, std, u);
    for (int i = 0; i < 8; i++)
        if (u[i] != want[i]) {
            print_error("pixel %d: %u, expected %u\n", i, u[i], want[i]);
            fail();
        }
    /* no normalisation: round(x·255) */
    hr_deploy_quantise_input((const float[]){0.5f, 0.999f, -0.001f}, 1, 3, NULL, NULL, u);
    assert_int_equal(u[0], 128);
    assert_int_equal(u[1], 255);
    assert_int_equal(u[2], 0);
    /* the tail's input: (u/255 − mean)/std */
    hr_deploy_dequantise_input((const uint8_t[]){191, 0, 255, 0, 64, 191, 0, 255}, 2, 4, mean, std, back);
    assert_float_equal(back[0], (191.0 / 255 - 0.5) / 0.25, 1e-6);
    assert_float_equal(back[1], -2.0, 1e-6);
    assert_float_equal(back[2], 2.0, 1e-6);
    assert_float_equal(back[4], (64.0 / 255 - 0.25) / 2, 1e-6);
    assert_float_equal(back[7], (1.0 - 0.25) / 2, 1e-6);
}

/* Raw through the server equals the whole model run here on the
 * dequantised frame, with and without a normalisation and for two γ
 * choices; the server's ACK says raw and u8. */
static void test_raw_matches_whole(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    static const char *configs[] = {
        "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\"}",
        "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"gammas\": [3, 9, 3, 11, 4, 13, 3], "
        "\"input_mean\": [0.485, 0.456, 0.406], \"input_std\": [0.229, 0.224, 0.225]}",
        "{\"arch\": \"repvgg-tiny\", \"split\": -1, \"input_mean\": [0.1, -0.3, 0.5], \"input_std\": [0.5, 2, 0.05]}",
    };
    hr_server_stats st;
    (void)state;
    start(&f, &p);
    for (int i = 0; i < 3; i++) {
        edge e;
        edge_open(&e, &f, configs[i], NULL, NULL);
        assert_int_equal(e.cfg.split, HR_PLACEMENT_RAW);
        /* the crossing is the image: [1, 3, 48, 48] bytes */
        assert_memory_equal(e.cross, e.in, sizeof e.in);
        assert_int_equal(hr_deploy_part_crossing_bytes(e.head), 3 * 48 * 48);
        edge_stream(&e, 4);
        edge_close(&e);
    }
    assert_true(log_has("deployed repvgg-tiny split raw/7", NULL));
    hr_server_get_stats(f.srv, &st);
    assert_int_equal(st.deployed, 3);
    assert_int_equal(st.frames, 12);
    assert_int_equal(st.protocol_errors, 0);
    stop(&f);
}

/* A u8 [1, C, H, W] or f32 wire tensor of `bytes` per element, zeros. */
static unsigned char *tensor_frame(uint32_t id, hr_wire_dtype dtype, int64_t c, int64_t h, int64_t w, size_t *len)
{
    size_t n = (size_t)(c * h * w) * hr_wire_dtype_size(dtype);
    void *data = calloc(1, n);
    hr_wire_tensor t;
    assert_non_null(data);
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.ndim = 4;
    t.shape[0] = 1, t.shape[1] = c, t.shape[2] = h, t.shape[3] = w;
    t.data = data;
    t.nbytes = n;
    unsigned char *b = encode(HR_MSG_INFER_FRAME, id, NULL, &t, 1, len);
    free(data);
    return b;
}

/* A raw session sent floats (and a split session sent bytes) is told the
 * dtype and shape it needs and closed, alone; a raw deployment with a bad
 * normalisation is refused naming the field. */
static void test_raw_wrong_dtype_and_norm(void **state)
{
    fixture f;
    hr_server_params p = test_params();
    hr_server_stats st;
    edge good;
    size_t len;
    unsigned char *b;
    int fd;
    (void)state;
    start(&f, &p);
    edge_open(&good, &f, "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\"}", NULL, NULL);
    edge_stream(&good, 2);

    /* f32 of the right shape to a raw 1x28x28 session: small enough to pass
     * the size limit, so the dtype check answers */
    fd = raw_deployed_meta(f.port, "{\"purpose\": \"infer\", \"arch\": \"repvgg-fmnist\", \"split\": \"raw\", "
                                   "\"input_mean\": [0.286], \"input_std\": [0.353], "
                                   "\"weights\": {\"kind\": \"random\", \"seed\": 7}}");
    b = tensor_frame(1, HR_WIRE_F32, 1, 28, 28, &len);
    raw_write(fd, b, len);
    free(b);
    raw_expect_error_and_close(fd, "dtype f32, 4 dims [1, 1, 28, 28]; split raw of repvgg-fmnist needs u8 [1, 1, 28, 28]");
    assert_true(log_has("tensor of dtype f32", "needs u8 [1, 1, 28, 28]; closing"));
    edge_stream(&good, 2);

    /* f32 [1, 3, 48, 48] to a raw repvgg-tiny session: four times the bytes
     * of its image, refused from the header */
    fd = raw_deployed_meta(f.port, "{\"purpose\": \"infer\", \"arch\": \"repvgg-tiny\", \"split\": \"raw\", "
                                   "\"weights\": {\"kind\": \"random\", \"seed\": 7}}");
    b = tensor_frame(2, HR_WIRE_F32, 3, 48, 48, &len);
    raw_write(fd, b, HR_PROTO_HEADER_SIZE);
    free(b);
    raw_expect_error_and_close(fd, "(one u8 [1, 3, 48, 48] tensor and metadata)");
    edge_stream(&good, 2);

    /* u8 pixels to a split session */
    fd = raw_deployed(f.port);
    b = tensor_frame(3, HR_WIRE_U8, 16, 6, 6, &len);
    raw_write(fd, b, len);
    free(b);
    raw_expect_error_and_close(fd, "dtype u8, 4 dims [1, 16, 6, 6]; split 3 of repvgg-tiny needs f32 [1, 16, 6, 6]");
    edge_stream(&good, 2);

    /* a bad normalisation: the field, its index and value */
    fd = raw_hello(f.port);
    raw_send(fd, HR_MSG_MODEL_SYNC, 1,
             "{\"purpose\": \"infer\", \"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"input_mean\": [0, 0, 0], "
             "\"input_std\": [1, 0, 1], \"weights\": {\"kind\": \"random\", \"seed\": 7}}");
    raw_expect_error_and_close(fd, "input_std[1] = 0 is not a finite number > 0");
    assert_true(log_has("model_sync: input_std[1]", "closing"));
    fd = raw_hello(f.port);
    raw_send(fd, HR_MSG_MODEL_SYNC, 1,
             "{\"purpose\": \"infer\", \"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"input_mean\": [0.5, 0.5], "
             "\"input_std\": [1, 1], \"weights\": {\"kind\": \"random\", \"seed\": 7}}");
    raw_expect_error_and_close(fd, "input_mean has 2 values, the model takes 3 input channels");
    edge_stream(&good, 2);

    hr_server_get_stats(f.srv, &st);
    assert_int_equal(st.protocol_errors, 3);
    assert_int_equal(st.deployed, 4);
    edge_close(&good);
    stop(&f);
}

static int have_certs(char *dir, size_t n)
{
    char cmd[1400];
    snprintf(dir, n, "%s", hr_test_tmpdir());
    snprintf(cmd, sizeof cmd, "sh '%s' '%s' edge-0 >/dev/null 2>&1", MAKE_CERTS, dir);
    return system(cmd) == 0;
}

static void test_mutual_tls_identity(void **state)
{
    char dir[512], crt[700], key[700], ca[700], ecrt[700], ekey[700], rcrt[700], rkey[700];
    hr_server_params p = test_params();
    hr_net_params np = edge_params(), rogue;
    hr_error err = {0};
    hr_chan *c = NULL;
    fixture f;
    edge e;
    (void)state;
    if (!have_certs(dir, sizeof dir)) {
        print_message("scripts/make-certs.sh failed (no openssl command?): TLS test skipped\n");
        skip();
    }
    snprintf(crt, sizeof crt, "%s/server.crt", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(ecrt, sizeof ecrt, "%s/edge-0.crt", dir);
    snprintf(ekey, sizeof ekey, "%s/edge-0.key", dir);
    snprintf(rcrt, sizeof rcrt, "%s/rogue.crt", dir);
    snprintf(rkey, sizeof rkey, "%s/rogue.key", dir);
    p.tls.cert = crt, p.tls.key = key, p.tls.ca = ca;
    np.tls.cert = ecrt, np.tls.key = ekey, np.tls.ca = ca;
    start(&f, &p);
    edge_open(&e, &f, "{\"arch\": \"repvgg-tiny\", \"split\": 4}", NULL, &np);
    assert_true(hr_chan_is_tls(e.chan));
    edge_stream(&e, 3);
    assert_true(log_has("edge-0 [127.0.0.1:", "connected (mutual TLS"));
    assert_true(log_has("edge-0 [127.0.0.1:", "deployed repvgg-tiny split 4/7"));
    edge_close(&e);
    /* a certificate from another CA claiming the same name gets nowhere */
    rogue = np;
    rogue.tls.cert = rcrt, rogue.tls.key = rkey;
    assert_int_not_equal(hr_chan_connect(f.addr, &rogue, &c, &err), HR_OK);
    assert_null(c);
    assert_true(log_has("TLS handshake failed", NULL));
    /* and a plain-TCP peer does not get past the handshake either */
    {
        int fd = raw_connect(f.port);
        raw_send(fd, HR_MSG_HELLO, 0, "{\"protocol\": 1}");
        char buf[256];
        ssize_t r;
        while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
            ;
        assert_true(r == 0 || r < 0);
        close(fd);
    }
    stop(&f);
    snprintf(crt, sizeof crt, "rm -rf '%s'", dir);
    assert_int_equal(system(crt), 0);
}

static void test_config_parse(void **state)
{
    hr_deploy_config c;
    hr_error err = {0};
    (void)state;
    hr_deploy_config_init(&c);
    /* the joint output's final configuration */
    HR_ASSERT_OK(hr_deploy_config_parse(
                     "{\"metadata\": {\"model\": \"RepVGG-tiny\", \"head\": \"client\"}, "
                     "\"stage1_accuracy\": {\"pruned_weights\": [\"stage1.1.hyper_identity\"]}, "
                     "\"final_configuration\": {\"split_point\": 5, \"gamma_config\": {\"stage1.1\": 4, \"stage4.0\": 3}}}",
                     "joint.json", &c, &err),
                 &err);
    assert_string_equal(c.arch, "repvgg-tiny");
    assert_int_equal(c.split, 5);
    assert_int_equal(c.gamma[1], 4);
    assert_int_equal(c.gamma[6], 3);
    assert_int_equal(c.gamma[0], -1);
    assert_true(c.alpha_given[1] == HR_BR_IDENTITY && c.alpha[1 * 3 + 2] == 0.0f);
    assert_int_equal(c.head_server, 0);
    assert_int_equal(c.has_exact, 0);
    assert_int_equal(hr_deploy_config_use_exact(&c, &err), HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "exact_optimum"));
    assert_int_equal(c.split, 5);
    /* errors name the field */
    assert_int_equal(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": 8}", "d.json", &c, &err),
                     HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "split = 8 is out of 0..7"));
    assert_int_equal(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": 2, \"gamma\": {\"stage9.0\": 1}}",
                                            "d.json", &c, &err),
                     HR_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "stage9.0"));
    assert_int_equal(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": 2, \"gammas\": [1, 2]}", "d.json",
                                            &c, &err),
                     HR_ERR_INVALID_ARG);
    assert_int_equal(hr_deploy_config_parse("{\"arch\": \"nope\", \"split\": 2}", "d.json", &c, &err),
                     HR_ERR_NOT_FOUND);
    assert_int_equal(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": 2, \"gammas\": [1, 2, 3, 4, 5, 6, 14]}",
                                            "d.json", &c, &err),
                     HR_ERR_FORMAT);
    assert_int_equal(hr_deploy_config_parse("{\"arch\": ", "d.json", &c, &err), HR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "d.json:1:"));
    /* the earlier good configuration is untouched by the failures */
    assert_int_equal(c.split, 5);
    HR_ASSERT_OK(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": \"local\"}", "d.json", &c, &err), &err);
    assert_int_equal(c.split, HR_PLACEMENT_LOCAL);

    /* raw, by name or as the joint output's -1, with its normalisation */
    HR_ASSERT_OK(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": -1}", "d.json", &c, &err), &err);
    assert_int_equal(c.split, HR_PLACEMENT_RAW);
    assert_int_equal(c.norm_channels, 0);
    HR_ASSERT_OK(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"input_mean\": [0.5, 0, -1], "
                                        "\"input_std\": [0.25, 1, 3]}",
                                        "d.json", &c, &err),
                 &err);
    assert_int_equal(c.split, HR_PLACEMENT_RAW);
    assert_int_equal(c.norm_channels, 3);
    assert_true(c.input_mean[2] == -1.0f && c.input_std[0] == 0.25f);
    static const struct {
        const char *json, *needle;
        hr_status st;
    } bad[] = {
        {"\"input_mean\": [0, 0, 0], \"input_std\": [1, -2, 1]", "input_std[1] = -2 is not a finite number > 0",
         HR_ERR_FORMAT},
        {"\"input_mean\": [0, 0, 0], \"input_std\": [1, 1, 0]", "input_std[2] = 0 is not", HR_ERR_FORMAT},
        {"\"input_mean\": [0, \"x\", 0], \"input_std\": [1, 1, 1]", "input_mean[1] is not a finite number",
         HR_ERR_FORMAT},
        {"\"input_mean\": [0, 0, 0], \"input_std\": [1, null, 1]", "input_std[1]", HR_ERR_FORMAT},
        {"\"input_mean\": [0], \"input_std\": [1]", "input_mean has 1 values, the model takes 3 input channels",
         HR_ERR_INVALID_ARG},
        {"\"input_mean\": [0, 0, 0], \"input_std\": [1, 1]", "input_std has 2 values", HR_ERR_INVALID_ARG},
        {"\"input_mean\": [0, 0, 0]", "input_mean is given without input_std", HR_ERR_FORMAT},
        {"\"input_mean\": 0.5, \"input_std\": [1, 1, 1]", "input_mean is not an array", HR_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[300];
        snprintf(json, sizeof json, "{\"arch\": \"repvgg-tiny\", \"split\": \"raw\", %s}", bad[i].json);
        assert_int_equal(hr_deploy_config_parse(json, "model_sync", &c, &err), bad[i].st);
        if (!strstr(err.msg, bad[i].needle) || !strstr(err.msg, "model_sync: ")) {
            print_error("%s: '%s' does not say '%s'\n", json, err.msg, bad[i].needle);
            fail();
        }
    }
    /* a single-channel model takes one value (in_channels decides) */
    HR_ASSERT_OK(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"in_channels\": 1, \"split\": \"raw\", "
                                        "\"input_mean\": [0.3], \"input_std\": [0.4]}",
                                        "d.json", &c, &err),
                 &err);
    assert_int_equal(c.norm_channels, 1);

    /* MODEL_SYNC of a raw configuration says raw and carries the
     * normalisation, which the server parses back */
    {
        hr_ctx *ctx;
        hr_ctx_params cp = hr_ctx_params_default();
        hr_deploy_part *head;
        hr_deploy_config back;
        char *meta = NULL;
        HR_ASSERT_OK(hr_deploy_config_parse("{\"arch\": \"repvgg-tiny\", \"split\": \"raw\", \"input_mean\": [0.1, "
                                            "0.2, 0.3], \"input_std\": [0.5, 0.25, 2]}",
                                            "d.json", &c, &err),
                     &err);
        HR_ASSERT_OK(hr_ctx_create(&cp, &ctx, &err), &err);
        HR_ASSERT_OK(hr_deploy_part_create(ctx, &c, HR_DEPLOY_HEAD, NULL, SEED, &head, &err), &err);
        HR_ASSERT_OK(hr_deploy_config_resolve(&c, hr_deploy_part_model(head), &err), &err);
        HR_ASSERT_OK(hr_deploy_config_to_meta(&c, NULL, 1, &meta, &err), &err);
        assert_non_null(strstr(meta, "\"split\":\"raw\""));
        hr_deploy_config_init(&back);
        HR_ASSERT_OK(hr_deploy_config_parse(meta, "model_sync", &back, &err), &err);
        assert_int_equal(back.split, HR_PLACEMENT_RAW);
        assert_int_equal(back.norm_channels, 3);
        for (int i = 0; i < 3; i++)
            assert_true(back.input_mean[i] == c.input_mean[i] && back.input_std[i] == c.input_std[i]);
        free(meta);
        hr_deploy_config_deinit(&back);
        /* without a normalisation, 0 and 1 are written */
        free(c.input_mean), free(c.input_std);
        c.input_mean = c.input_std = NULL;
        c.norm_channels = 0;
        HR_ASSERT_OK(hr_deploy_config_to_meta(&c, NULL, 1, &meta, &err), &err);
        assert_non_null(strstr(meta, "\"input_std\":[1.0,1.0,1.0]"));
        free(meta);
        hr_deploy_part_destroy(head);
        hr_ctx_destroy(ctx);
    }

    /* the joint output's exact optimum, kept aside until asked for */
    HR_ASSERT_OK(hr_deploy_config_parse(
                     "{\"metadata\": {\"model\": \"repvgg-tiny\"}, \"final_configuration\": {\"split_point\": 5, "
                     "\"gamma_config\": {\"stage1.1\": 13}}, \"stage2_throughput\": {\"exact_optimum\": "
                     "{\"placement\": \"raw\", \"optimal_gamma\": {\"stage1.1\": 9, \"stage4.0\": 3}}}}",
                     "joint.json", &c, &err),
                 &err);
    assert_int_equal(c.split, 5);
    assert_int_equal(c.gamma[1], 13);
    assert_int_equal(c.has_exact, 1);
    {
        hr_deploy_config copy;
        HR_ASSERT_OK(hr_deploy_config_copy(&c, &copy, &err), &err);
        assert_true(copy.exact_gamma != c.exact_gamma && copy.gamma != c.gamma);
        HR_ASSERT_OK(hr_deploy_config_use_exact(&copy, &err), &err);
        assert_int_equal(copy.split, HR_PLACEMENT_RAW);
        assert_int_equal(copy.gamma[1], 9);
        assert_int_equal(copy.gamma[6], 3);
        assert_int_equal(copy.gamma[0], -1);
        hr_deploy_config_deinit(&copy);
    }
    assert_int_equal(c.gamma[1], 13); /* the copy was deep */
    assert_int_equal(hr_deploy_config_parse("{\"metadata\": {\"model\": \"repvgg-tiny\"}, \"final_configuration\": "
                                            "{\"split_point\": 5}, \"stage2_throughput\": {\"exact_optimum\": "
                                            "{\"placement\": 9}}}",
                                            "joint.json", &c, &err),
                     HR_ERR_INVALID_ARG);
    assert_non_null(strstr(err.msg, "exact_optimum.placement = 9 is out of 0..7"));
    hr_deploy_config_deinit(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_parse),
        cmocka_unit_test(test_quantise_formula),
        cmocka_unit_test(test_raw_matches_whole),
        cmocka_unit_test(test_raw_wrong_dtype_and_norm),
        cmocka_unit_test(test_every_split_matches_local),
        cmocka_unit_test(test_inline_weights),
        cmocka_unit_test(test_two_edges_two_configs),
        cmocka_unit_test(test_bad_peers_closed_others_served),
        cmocka_unit_test(test_idle_and_handshake_timeouts),
        cmocka_unit_test(test_stop_with_frames_in_flight),
        cmocka_unit_test(test_listen_rules_and_client_limit),
        cmocka_unit_test(test_pending_pool),
        cmocka_unit_test(test_mutual_tls_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
