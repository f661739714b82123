/* The blocking transport (net.h) on loopback: plain and mutual-TLS round
 * trips, certificate refusals, the loopback-only rule, and a hostile or
 * broken peer (wrong protocol version, oversized, truncated, stalled or
 * garbage frames) played by a raw socket in a thread. Certificates are made
 * at test time by scripts/make-certs.sh. Every wait is bounded by the
 * channel timeouts or by socket timeouts on the raw peers, so a bug fails
 * a test instead of hanging it; nothing here passes or fails on timing.
 */
// ctest-labels: net
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <netdb.h>
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

#define MAKE_CERTS HR_FIXTURES_DIR "/../../scripts/make-certs.sh"
#define RAW_TIMEOUT_S 10

static char g_certs[512];

/* Path of a file in the certificate directory; a ring of buffers, since a
 * test holds the paths of a few parameter sets at once. */
static const char *cert(const char *file)
{
    static char paths[64][640];
    static int next;
    char *p = paths[next++ % 64];
    snprintf(p, sizeof paths[0], "%s/%s", g_certs, file);
    return p;
}

static int setup_certs(void **state)
{
    char cmd[1400];
    (void)state;
    snprintf(g_certs, sizeof g_certs, "%s", hr_test_tmpdir());
    snprintf(cmd, sizeof cmd, "sh '%s' '%s' edge-0 >/dev/null", MAKE_CERTS, g_certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "%s failed (is the openssl command installed?)\n", cmd);
        return -1;
    }
    return 0;
}

static int teardown_certs(void **state)
{
    char cmd[700];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_certs);
    return system(cmd) == 0 ? 0 : -1;
}

/* Short timeouts: every failure below is detected well within them, and a
 * hang turns into a failure after a few seconds. */
static hr_net_params plain_params(void)
{
    hr_net_params p = hr_net_params_default();
    p.connect_timeout_ms = 5000;
    p.io_timeout_ms = 5000;
    p.name = "edge-test";
    return p;
}

static hr_net_params tls_params(const char *crt, const char *key, const char *ca)
{
    hr_net_params p = plain_params();
    p.tls.cert = cert(crt);
    p.tls.key = cert(key);
    p.tls.ca = cert(ca);
    return p;
}

static hr_net_params server_tls(void) { return tls_params("server.crt", "server.key", "ca.crt"); }
static hr_net_params client_tls(void) { return tls_params("edge-0.crt", "edge-0.key", "ca.crt"); }

static hr_listener *open_listener(const char *addr, const hr_net_params *p)
{
    hr_listener *l = NULL;
    hr_error err;
    HR_ASSERT_OK(hr_listener_open(addr, p, &l, &err), &err);
    assert_true(hr_listener_port(l) > 0);
    return l;
}

static void join(pthread_t th)
{
    assert_int_equal(pthread_join(th, NULL), 0);
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part)) {
        print_error("'%s' does not contain '%s'\n", text, part);
        fail();
    }
}

/* ---- a channel peer in a thread ----------------------------------------- */

enum { ECHO, SEND_ERROR, SEND_ON_GO, JUST_CONNECT, CLOSE_AT_ONCE };

typedef struct peer {
    pthread_t th;
    char addr[96];
    hr_net_params params;
    int mode;
    hr_status st;       /* connect, then the first failing step */
    hr_error err;
    char peer_id[256];
    int tls;
    uint64_t sent, received;
} peer;

/* Connects and then, by mode: ECHO answers every FORWARD with a BACKWARD
 * carrying the same tensors until SHUTDOWN; SEND_ERROR sends an ERROR frame;
 * SEND_ON_GO waits for an ACK and answers with a FORWARD. */
static void *peer_main(void *arg)
{
    peer *p = arg;
    hr_chan *c = NULL;
    hr_msg m;

    hr_msg_init(&m);
    hr_error_clear(&p->err);
    p->st = hr_chan_connect(p->addr, &p->params, &c, &p->err);
    if (p->st != HR_OK)
        return NULL;
    snprintf(p->peer_id, sizeof p->peer_id, "%s", hr_chan_peer(c));
    p->tls = hr_chan_is_tls(c);
    switch (p->mode) {
    case ECHO:
        for (;;) {
            p->st = hr_chan_recv(c, 10000, &m, &p->err);
            if (p->st != HR_OK || m.type == HR_MSG_SHUTDOWN)
                break;
            p->st = hr_chan_send(c, HR_MSG_BACKWARD, m.id, m.meta, m.tensor, m.ntensors, &p->err);
            if (p->st != HR_OK)
                break;
        }
        break;
    case SEND_ERROR:
        hr_chan_send_error(c, 9, HR_ERR_SHAPE, "bad crossing tensor\n[forged log line]");
        p->st = hr_chan_expect(c, HR_MSG_SHUTDOWN, 10000, &m, &p->err);
        break;
    case SEND_ON_GO: {
        float x[3] = {1, 2, 3};
        hr_wire_tensor t = {.dtype = HR_WIRE_F32, .ndim = 1, .shape = {3}, .data = x, .nbytes = sizeof x};
        p->st = hr_chan_expect(c, HR_MSG_ACK, 10000, &m, &p->err);
        if (p->st == HR_OK)
            p->st = hr_chan_send(c, HR_MSG_FORWARD, 5, NULL, &t, 1, &p->err);
        if (p->st == HR_OK)
            p->st = hr_chan_expect(c, HR_MSG_SHUTDOWN, 10000, &m, &p->err);
        break;
    }
    case JUST_CONNECT:
        p->st = hr_chan_expect(c, HR_MSG_SHUTDOWN, 10000, &m, &p->err);
        break;
    case CLOSE_AT_ONCE:
        break;
    }
    hr_chan_counters(c, &p->sent, &p->received);
    hr_msg_deinit(&m);
    hr_chan_destroy(c);
    return NULL;
}

static void peer_start(peer *p, const char *host, int port, const hr_net_params *params, int mode)
{
    memset(p, 0, sizeof *p);
    snprintf(p->addr, sizeof p->addr, "%s:%d", host, port);
    p->params = *params;
    p->mode = mode;
    assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
}

/* ---- a raw-socket peer ---------------------------------------------------- */

static void set_timeouts(int fd)
{
    struct timeval tv = {RAW_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int raw_listen(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int raw_accept(int lfd)
{
    struct pollfd pfd = {lfd, POLLIN, 0};
    int fd;
    if (poll(&pfd, 1, RAW_TIMEOUT_S * 1000) != 1)
        return -1;
    fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        set_timeouts(fd);
    return fd;
}

static int raw_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    set_timeouts(fd);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int raw_write(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int raw_read(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = recv(fd, p, n, 0);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int raw_send_msg(int fd, hr_msg_type type, const char *meta)
{
    uint8_t *frame;
    size_t len;
    int rc;
    if (hr_msg_encode(type, 0, meta, NULL, 0, &frame, &len, NULL) != HR_OK)
        return -1;
    rc = raw_write(fd, frame, len);
    free(frame);
    return rc;
}

/* Reads one frame into m; -1 when the connection ends or the frame is bad. */
static int raw_recv_msg(int fd, hr_msg *m)
{
    uint8_t hdr[HR_PROTO_HEADER_SIZE], *payload;
    hr_frame_header h;
    int rc;
    if (raw_read(fd, hdr, sizeof hdr) != 0 || hr_frame_header_decode(hdr, 0, &h, NULL) != HR_OK)
        return -1;
    payload = malloc(h.length + 1);
    if (!payload)
        return -1;
    rc = raw_read(fd, payload, h.length) == 0 && hr_msg_decode(&h, payload, m, NULL) == HR_OK ? 0 : -1;
    free(payload);
    return rc;
}

static int raw_send_hello(int fd, int protocol)
{
    char meta[128];
    snprintf(meta, sizeof meta, "{\"protocol\":%d,\"role\":\"raw\",\"name\":\"raw-peer\"}", protocol);
    return raw_send_msg(fd, HR_MSG_HELLO, meta);
}

/* 1 when m is an ERROR frame whose status is st. */
static int is_error_frame(const hr_msg *m, hr_status st)
{
    json_t *root, *js;
    int ok;
    if (m->type != HR_MSG_ERROR || !m->meta)
        return 0;
    root = json_loads(m->meta, 0, NULL);
    js = json_object_get(root, "status");
    ok = json_is_integer(js) && json_integer_value(js) == st;
    json_decref(root);
    return ok;
}

/* Reads until the connection ends; 1 when one of the frames was an ERROR
 * frame with status st. */
static int raw_drain_for_error(int fd, hr_status st)
{
    int seen = 0;
    for (;;) {
        hr_msg m;
        hr_msg_init(&m);
        if (raw_recv_msg(fd, &m) != 0)
            break;
        seen |= is_error_frame(&m, st);
        hr_msg_deinit(&m);
    }
    return seen;
}

static void put_header(uint8_t *h, int type, uint32_t length)
{
    memcpy(h, "HRP1", 4);
    h[4] = HR_PROTO_VERSION;
    h[5] = 0;
    h[6] = (uint8_t)type;
    h[7] = 0;
    memset(h + 8, 0, 4);
    for (int i = 0; i < 4; i++)
        h[12 + i] = (uint8_t)(length >> (8 * i));
}

enum { RAW_VERSION, RAW_OVERSIZE, RAW_TRUNCATE, RAW_STALL, RAW_GARBAGE };

typedef struct raw_server {
    pthread_t th;
    int lfd, port, mode;
    uint32_t claim;    /* RAW_OVERSIZE: payload length in the header */
    int ok;            /* the raw side did its part */
    int saw_error;     /* it received an ERROR frame with the expected status */
} raw_server;

/* Accepts one hr_chan client, answers its hello, then misbehaves by mode. */
static void *raw_server_main(void *arg)
{
    raw_server *r = arg;
    uint8_t frame[HR_PROTO_HEADER_SIZE + 10];
    hr_msg m;
    int fd = raw_accept(r->lfd);

    if (fd < 0)
        return NULL;
    hr_msg_init(&m);
    if (raw_recv_msg(fd, &m) != 0 || m.type != HR_MSG_HELLO)
        goto done;
    if (raw_send_hello(fd, r->mode == RAW_VERSION ? 99 : HR_PROTO_VERSION) != 0)
        goto done;
    memset(frame, 0xab, sizeof frame);
    switch (r->mode) {
    case RAW_VERSION:
        r->ok = 1;
        r->saw_error = raw_drain_for_error(fd, HR_ERR_UNSUPPORTED);
        break;
    case RAW_OVERSIZE:
        put_header(frame, HR_MSG_ACK, r->claim);
        r->ok = raw_write(fd, frame, HR_PROTO_HEADER_SIZE) == 0;
        r->saw_error = raw_drain_for_error(fd, HR_ERR_LIMIT);
        break;
    case RAW_TRUNCATE:
        put_header(frame, HR_MSG_FORWARD, 100);
        r->ok = raw_write(fd, frame, sizeof frame) == 0;
        break;
    case RAW_STALL:
        /* Part of a frame, then silence until the client gives up and closes. */
        put_header(frame, HR_MSG_FORWARD, 100);
        r->ok = raw_write(fd, frame, sizeof frame) == 0;
        raw_drain_for_error(fd, HR_OK);
        break;
    case RAW_GARBAGE:
        r->ok = raw_write(fd, "GET / HTTP/1.1\r\n", 16) == 0;
        r->saw_error = raw_drain_for_error(fd, HR_ERR_FORMAT);
        break;
    }
done:
    hr_msg_deinit(&m);
    close(fd);
    return NULL;
}

static void raw_server_start(raw_server *r, int mode, uint32_t claim)
{
    memset(r, 0, sizeof *r);
    r->mode = mode;
    r->claim = claim;
    r->lfd = raw_listen(&r->port);
    assert_int_equal(pthread_create(&r->th, NULL, raw_server_main, r), 0);
}

static void raw_server_join(raw_server *r)
{
    join(r->th);
    close(r->lfd);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_parse_addr(void **state)
{
    char host[64];
    int port = -1;
    hr_error err;
    (void)state;

    HR_ASSERT_OK(hr_net_parse_addr("127.0.0.1:6006", host, sizeof host, &port, &err), &err);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6006);
    HR_ASSERT_OK(hr_net_parse_addr("[::1]:0", host, sizeof host, &port, &err), &err);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    HR_ASSERT_OK(hr_net_parse_addr("localhost:65535", host, sizeof host, &port, &err), &err);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 65535);

    const char *bad[] = {"localhost", "::1:6006", ":6006", "host:", "host:65536", "host:-1", "host: 80",
                         "host:0x10", "[::1]6006", "[::1", "a b:1", "host:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hr_error_clear(&err);
        assert_int_equal(hr_net_parse_addr(bad[i], host, sizeof host, &port, &err), HR_ERR_INVALID_ARG);
        assert_contains(err.msg, bad[i]);
    }
    assert_int_equal(hr_net_parse_addr("a-very-long-host-name:1", host, 8, &port, &err), HR_ERR_INVALID_ARG);
}

/* One FORWARD → BACKWARD round trip and a SHUTDOWN, checked on both ends. */
static void round_trip(const char *listen_addr, const char *connect_host, const hr_net_params *sp,
                       const hr_net_params *cp, const char *want_server_id, const char *want_client_id)
{
    hr_listener *l = open_listener(listen_addr, sp);
    float x[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    hr_wire_tensor t = {.dtype = HR_WIRE_F32, .ndim = 2, .shape = {2, 3}, .data = x, .nbytes = sizeof x};
    hr_chan *c = NULL;
    hr_msg m;
    hr_error err;
    uint64_t sent, received;
    peer p;

    peer_start(&p, connect_host, hr_listener_port(l), cp, ECHO);
    HR_ASSERT_OK(hr_listener_accept(l, 10000, &c, &err), &err);
    assert_int_equal(hr_chan_is_tls(c), sp->tls.cert != NULL);
    if (want_client_id)
        assert_string_equal(hr_chan_peer(c), want_client_id);
    else
        assert_contains(hr_chan_peer(c), ":");
    assert_contains(hr_chan_peer_hello(c), "\"protocol\":1");
    assert_contains(hr_chan_peer_hello(c), "\"role\":\"client\"");
    assert_contains(hr_chan_peer_hello(c), "\"name\":\"edge-test\"");
    assert_contains(hr_chan_peer_hello(c), "\"software\":\"hyperrep ");

    hr_msg_init(&m);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_FORWARD, 42, "{\"batch\":2}", &t, 1, &err), &err);
    HR_ASSERT_OK(hr_chan_expect(c, HR_MSG_BACKWARD, 10000, &m, &err), &err);
    assert_int_equal(m.id, 42);
    assert_string_equal(m.meta, "{\"batch\":2}");
    assert_int_equal(m.ntensors, 1);
    assert_int_equal(m.tensor[0].ndim, 2);
    assert_int_equal(m.tensor[0].shape[1], 3);
    assert_memory_equal(m.tensor[0].data, x, sizeof x);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_SHUTDOWN, 43, NULL, NULL, 0, &err), &err);
    join(p.th);
    HR_ASSERT_OK(p.st, &p.err);
    assert_int_equal(p.tls, sp->tls.cert != NULL);
    if (want_server_id)
        assert_string_equal(p.peer_id, want_server_id);
    hr_chan_counters(c, &sent, &received);
    assert_true(sent > sizeof x + 2 * HR_PROTO_HEADER_SIZE);
    assert_int_equal(sent, p.received);
    assert_int_equal(received, p.sent);
    hr_msg_deinit(&m);
    hr_chan_destroy(c);
    hr_listener_destroy(l);
}

static void test_plain_round_trip(void **state)
{
    hr_net_params p = plain_params();
    (void)state;
    round_trip("127.0.0.1:0", "127.0.0.1", &p, &p, NULL, NULL);
}

static void test_plain_round_trip_ipv6(void **state)
{
    hr_net_params p = plain_params();
    hr_listener *l = NULL;
    (void)state;
    if (hr_listener_open("[::1]:0", &p, &l, NULL) != HR_OK)
        skip(); /* no IPv6 loopback in this sandbox */
    hr_listener_destroy(l);
    round_trip("[::1]:0", "[::1]", &p, &p, NULL, NULL);
}

/* Whether the name "localhost" resolves to a loopback address here: a
 * minimal root without /etc/hosts has no such name, and the parts that dial
 * by name say so instead of failing (issue 15). */
static int localhost_resolves(void)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("localhost", "1", &hints, &res) != 0 || !res)
        return 0;
    freeaddrinfo(res);
    return 1;
}

static void test_tls_round_trip(void **state)
{
    hr_net_params s = server_tls(), c = client_tls();
    (void)state;
    round_trip("127.0.0.1:0", "127.0.0.1", &s, &c, "hyperrep-server", "edge-0");
    /* By name: the server certificate's DNS SAN is checked. */
    if (localhost_resolves())
        round_trip("127.0.0.1:0", "localhost", &s, &c, "hyperrep-server", "edge-0");
    else
        print_message("dialling by name not tested: \"localhost\" does not resolve here (no /etc/hosts entry)\n");
}

/* 20 MB in one frame each way under TLS, bytes compared. */
static void test_tls_large_message(void **state)
{
    hr_net_params sp = server_tls(), cp = client_tls();
    hr_listener *l = open_listener("127.0.0.1:0", &sp);
    const int64_t n = 5 * 1000 * 1000;
    float *x = malloc((size_t)n * sizeof *x);
    hr_wire_tensor t = {.dtype = HR_WIRE_F32, .ndim = 1, .shape = {n}, .data = x, .nbytes = (size_t)n * sizeof *x};
    hr_test_rng rng;
    hr_chan *c = NULL;
    hr_msg m;
    hr_error err;
    peer p;
    (void)state;

    assert_non_null(x);
    hr_test_rng_seed(&rng, 7);
    hr_test_fill(&rng, x, n, -1, 1);
    peer_start(&p, "127.0.0.1", hr_listener_port(l), &cp, ECHO);
    HR_ASSERT_OK(hr_listener_accept(l, 10000, &c, &err), &err);
    hr_msg_init(&m);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_FORWARD, 1, NULL, &t, 1, &err), &err);
    HR_ASSERT_OK(hr_chan_expect(c, HR_MSG_BACKWARD, 20000, &m, &err), &err);
    assert_int_equal(m.tensor[0].shape[0], n);
    assert_int_equal(m.tensor[0].nbytes, t.nbytes);
    assert_memory_equal(m.tensor[0].data, x, t.nbytes);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_SHUTDOWN, 2, NULL, NULL, 0, &err), &err);
    join(p.th);
    HR_ASSERT_OK(p.st, &p.err);
    hr_msg_deinit(&m);
    hr_chan_destroy(c);
    hr_listener_destroy(l);
    free(x);
}

/* A good client after a refused one: the listener must still work. */
static void accept_good_client(hr_listener *l, const hr_net_params *cp, const char *want_id)
{
    hr_chan *c = NULL;
    hr_error err;
    peer p;

    peer_start(&p, "127.0.0.1", hr_listener_port(l), cp, JUST_CONNECT);
    HR_ASSERT_OK(hr_listener_accept(l, 10000, &c, &err), &err);
    assert_string_equal(hr_chan_peer(c), want_id);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, &err), &err);
    join(p.th);
    HR_ASSERT_OK(p.st, &p.err);
    hr_chan_destroy(c);
}

typedef struct shell_client {
    pthread_t th;
    char cmd[2048];
    int rc;
} shell_client;

static void *shell_main(void *arg)
{
    shell_client *s = arg;
    s->rc = system(s->cmd);
    return NULL;
}

/* A TLS client that presents no certificate (openssl s_client), and a plain
 * client, are both refused; the listener goes on accepting. */
static void test_tls_client_without_cert(void **state)
{
    hr_net_params sp = server_tls(), cp = client_tls(), plain = plain_params();
    hr_listener *l = open_listener("127.0.0.1:0", &sp);
    hr_chan *c = NULL;
    shell_client s;
    hr_error err;
    peer p;
    (void)state;

    snprintf(s.cmd, sizeof s.cmd,
             "timeout 20 openssl s_client -connect 127.0.0.1:%d -CAfile '%s' -tls1_3 -ign_eof "
             "</dev/null >/dev/null 2>&1",
             hr_listener_port(l), cert("ca.crt"));
    assert_int_equal(pthread_create(&s.th, NULL, shell_main, &s), 0);
    hr_error_clear(&err);
    assert_int_equal(hr_listener_accept(l, 10000, &c, &err), HR_ERR_IO);
    assert_null(c);
    assert_contains(err.msg, "TLS handshake failed");
    assert_contains(err.msg, "certificate");
    join(s.th);

    peer_start(&p, "127.0.0.1", hr_listener_port(l), &plain, JUST_CONNECT);
    hr_error_clear(&err);
    assert_int_not_equal(hr_listener_accept(l, 10000, &c, &err), HR_OK);
    assert_contains(err.msg, "TLS handshake failed");
    join(p.th);
    assert_int_not_equal(p.st, HR_OK);

    accept_good_client(l, &cp, "edge-0");
    hr_listener_destroy(l);
}

/* A client certificate from another CA, even with the right CN, is refused
 * by the server, and connect_retry does not retry it. */
static void test_tls_rogue_client(void **state)
{
    hr_net_params sp = server_tls(), cp = client_tls();
    hr_net_params rogue = tls_params("rogue.crt", "rogue.key", "ca.crt");
    hr_listener *l = open_listener("127.0.0.1:0", &sp);
    hr_chan *c = NULL;
    hr_error err;
    peer p;
    (void)state;

    peer_start(&p, "127.0.0.1", hr_listener_port(l), &rogue, JUST_CONNECT);
    hr_error_clear(&err);
    assert_int_equal(hr_listener_accept(l, 10000, &c, &err), HR_ERR_IO);
    assert_null(c);
    assert_contains(err.msg, "certificate");
    join(p.th);
    assert_int_equal(p.st, HR_ERR_IO);
    assert_contains(p.err.msg, "the peer rejected this side's certificate");
    assert_contains(p.err.msg, "unknown ca");

    accept_good_client(l, &cp, "edge-0");
    hr_listener_destroy(l);
}

/* A server whose certificate the client's CA did not sign is refused by the
 * client, without retries. */
static void test_tls_untrusted_server(void **state)
{
    hr_net_params sp = server_tls(), cp = client_tls();
    hr_net_params wrong_ca = tls_params("edge-0.crt", "edge-0.key", "rogue-ca.crt");
    hr_listener *l = open_listener("127.0.0.1:0", &sp);
    hr_chan *c = NULL;
    hr_error err;
    peer p;
    (void)state;

    peer_start(&p, "127.0.0.1", hr_listener_port(l), &wrong_ca, JUST_CONNECT);
    hr_error_clear(&err);
    assert_int_equal(hr_listener_accept(l, 10000, &c, &err), HR_ERR_IO);
    join(p.th);
    assert_int_equal(p.st, HR_ERR_IO);
    assert_contains(p.err.msg, "certificate is not accepted");
    assert_contains(p.err.msg, "certificate verify failed");

    accept_good_client(l, &cp, "edge-0");
    hr_listener_destroy(l);
}

typedef struct retry_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    int first_wait;
    char last[HR_ERROR_MSG_MAX];
} retry_log;

static void count_retry(void *user, const hr_error *why, int wait_ms)
{
    retry_log *r = user;
    pthread_mutex_lock(&r->mu);
    if (r->count++ == 0)
        r->first_wait = wait_ms;
    snprintf(r->last, sizeof r->last, "%s", why->msg);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void retry_log_init(retry_log *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static void retry_log_deinit(retry_log *r)
{
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

/* Accepts n connections in a thread, keeping each result. */
typedef struct acceptor {
    pthread_t th;
    hr_listener *l;
    int n;
    hr_status st[4];
    hr_error err[4];
} acceptor;

static void *acceptor_main(void *arg)
{
    acceptor *a = arg;
    for (int i = 0; i < a->n; i++) {
        hr_chan *c = NULL;
        hr_error_clear(&a->err[i]);
        a->st[i] = hr_listener_accept(a->l, 10000, &c, &a->err[i]);
        if (c)
            hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, NULL);
        hr_chan_destroy(c);
    }
    return NULL;
}

static void acceptor_start(acceptor *a, hr_listener *l, int n)
{
    memset(a, 0, sizeof *a);
    a->l = l;
    a->n = n;
    assert_int_equal(pthread_create(&a->th, NULL, acceptor_main, a), 0);
}

/* Certificate failures on either side end connect_retry at once. */
static void test_retry_stops_on_certificate_errors(void **state)
{
    hr_net_params sp = server_tls();
    hr_net_params cases[2] = {tls_params("rogue.crt", "rogue.key", "ca.crt"),
                              tls_params("edge-0.crt", "edge-0.key", "rogue-ca.crt")};
    (void)state;

    for (int i = 0; i < 2; i++) {
        hr_listener *l = open_listener("127.0.0.1:0", &sp);
        char addr[64];
        hr_chan *c = NULL;
        retry_log r;
        acceptor a;
        hr_error err;

        retry_log_init(&r);
        snprintf(addr, sizeof addr, "127.0.0.1:%d", hr_listener_port(l));
        acceptor_start(&a, l, 1);
        hr_error_clear(&err);
        assert_int_equal(hr_chan_connect_retry(addr, &cases[i], 3000, count_retry, &r, &c, &err), HR_ERR_IO);
        assert_null(c);
        if (r.count != 0)
            print_error("case %d retried after: %s\n", i, r.last);
        assert_int_equal(r.count, 0);
        join(a.th);
        assert_int_equal(a.st[0], HR_ERR_IO);
        retry_log_deinit(&r);
        hr_listener_destroy(l);
    }
}

typedef struct retry_client {
    pthread_t th;
    char addr[64];
    hr_net_params params;
    retry_log *log;
    hr_status st;
    hr_error err;
} retry_client;

static void *retry_client_main(void *arg)
{
    retry_client *rc = arg;
    hr_chan *c = NULL;
    hr_msg m;

    hr_msg_init(&m);
    hr_error_clear(&rc->err);
    rc->st = hr_chan_connect_retry(rc->addr, &rc->params, 30000, count_retry, rc->log, &c, &rc->err);
    if (rc->st == HR_OK)
        rc->st = hr_chan_expect(c, HR_MSG_SHUTDOWN, 10000, &m, &rc->err);
    hr_msg_deinit(&m);
    hr_chan_destroy(c);
    return NULL;
}

/* The client starts first; the listener opens only after the client has
 * failed at least once, and the client then gets through. */
static void test_connect_retry_until_listener_appears(void **state)
{
    hr_net_params sp = server_tls();
    hr_listener *l;
    hr_chan *c = NULL;
    retry_log r;
    retry_client rc;
    hr_error err;
    char addr[64];
    int port, rv = 0;
    (void)state;

    /* A port that was free a moment ago. */
    l = open_listener("127.0.0.1:0", &sp);
    port = hr_listener_port(l);
    hr_listener_destroy(l);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

    retry_log_init(&r);
    memset(&rc, 0, sizeof rc);
    snprintf(rc.addr, sizeof rc.addr, "%s", addr);
    rc.params = client_tls();
    rc.log = &r;
    assert_int_equal(pthread_create(&rc.th, NULL, retry_client_main, &rc), 0);

    pthread_mutex_lock(&r.mu);
    while (r.count == 0 && rv == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        rv = pthread_cond_timedwait(&r.cv, &r.mu, &ts);
    }
    pthread_mutex_unlock(&r.mu);
    assert_true(r.count >= 1);
    assert_contains(r.last, "refused");
    /* 250 ms ± 25 %. */
    assert_in_range(r.first_wait, 187, 313);

    l = open_listener(addr, &sp);
    HR_ASSERT_OK(hr_listener_accept(l, 20000, &c, &err), &err);
    assert_string_equal(hr_chan_peer(c), "edge-0");
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, &err), &err);
    join(rc.th);
    HR_ASSERT_OK(rc.st, &rc.err);
    hr_chan_destroy(c);
    hr_listener_destroy(l);
    retry_log_deinit(&r);
}

static void test_connect_retry_gives_up(void **state)
{
    hr_net_params cp = plain_params();
    hr_listener *l = open_listener("127.0.0.1:0", &cp);
    char addr[64];
    hr_chan *c = NULL;
    retry_log r;
    hr_error err;
    (void)state;

    snprintf(addr, sizeof addr, "127.0.0.1:%d", hr_listener_port(l));
    hr_listener_destroy(l);
    retry_log_init(&r);
    hr_error_clear(&err);
    assert_int_equal(hr_chan_connect_retry(addr, &cp, 600, count_retry, &r, &c, &err), HR_ERR_IO);
    assert_null(c);
    assert_true(r.count >= 1);
    assert_contains(err.msg, "gave up after");
    assert_contains(err.msg, addr);
    retry_log_deinit(&r);

    hr_error_clear(&err);
    assert_int_equal(hr_chan_connect(addr, &cp, &c, &err), HR_ERR_IO);
    assert_contains(err.msg, addr);
}

static void test_listen_any_needs_tls_or_flag(void **state)
{
    hr_net_params p = plain_params(), s = server_tls();
    hr_listener *l = NULL;
    hr_error err;
    (void)state;

    hr_error_clear(&err);
    assert_int_equal(hr_listener_open("0.0.0.0:0", &p, &l, &err), HR_ERR_INVALID_ARG);
    assert_null(l);
    assert_contains(err.msg, "loopback");
    assert_contains(err.msg, "insecure_plain_tcp");

    /* dialling one is refused too, before any packet leaves */
    {
        hr_chan *c = NULL;
        hr_net_params cp = p;
        assert_int_equal(hr_chan_connect("192.0.2.1:6006", &cp, &c, &err), HR_ERR_INVALID_ARG);
        assert_null(c);
        assert_contains(err.msg, "plain TCP dials only a loopback address");
        assert_contains(err.msg, "--insecure-plain-tcp");
    }

    p.insecure_plain_tcp = 1;
    l = open_listener("0.0.0.0:0", &p);
    hr_listener_destroy(l);
    l = open_listener("0.0.0.0:0", &s);
    hr_listener_destroy(l);
    if (localhost_resolves()) {
        l = open_listener("localhost:0", &p);
        hr_listener_destroy(l);
    } else {
        print_message("listening by name not tested: \"localhost\" does not resolve here (no /etc/hosts entry)\n");
    }
}

static void test_bad_tls_files(void **state)
{
    hr_net_params p = tls_params("server.crt", "edge-0.key", "ca.crt");
    hr_listener *l = NULL;
    hr_chan *c = NULL;
    hr_error err;
    (void)state;

    hr_error_clear(&err);
    assert_int_equal(hr_listener_open("127.0.0.1:0", &p, &l, &err), HR_ERR_FORMAT);
    assert_contains(err.msg, "edge-0.key: does not match");
    assert_contains(err.msg, "server.crt");

    p = server_tls();
    p.tls.ca = cert("missing-ca.crt");
    hr_error_clear(&err);
    assert_int_equal(hr_listener_open("127.0.0.1:0", &p, &l, &err), HR_ERR_IO);
    assert_contains(err.msg, "missing-ca.crt");
    assert_null(l);

    p = server_tls();
    p.tls.cert = cert("ca.key"); /* a key where a certificate belongs */
    hr_error_clear(&err);
    assert_int_equal(hr_listener_open("127.0.0.1:0", &p, &l, &err), HR_ERR_FORMAT);
    assert_contains(err.msg, "ca.key");

    p = server_tls();
    p.tls.key = NULL;
    assert_int_equal(hr_listener_open("127.0.0.1:0", &p, &l, &err), HR_ERR_INVALID_ARG);
    p = client_tls();
    p.io_timeout_ms = 0;
    assert_int_equal(hr_chan_connect("127.0.0.1:1", &p, &c, &err), HR_ERR_INVALID_ARG);
    assert_null(c);
}

/* A TLS client at a plain listener: each side says what is wrong, and the
 * client does not retry. (The other way round is in
 * test_tls_client_without_cert.) */
static void test_tls_plain_mix(void **state)
{
    hr_net_params plain = plain_params(), cp = client_tls();
    hr_listener *l = open_listener("127.0.0.1:0", &plain);
    char addr[64];
    hr_chan *c = NULL;
    retry_log r;
    acceptor a;
    hr_error err;
    (void)state;

    retry_log_init(&r);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", hr_listener_port(l));
    acceptor_start(&a, l, 1);
    hr_error_clear(&err);
    assert_int_equal(hr_chan_connect_retry(addr, &cp, 3000, count_retry, &r, &c, &err), HR_ERR_IO);
    assert_null(c);
    assert_contains(err.msg, "without TLS");
    assert_int_equal(r.count, 0);
    join(a.th);
    assert_int_equal(a.st[0], HR_ERR_FORMAT);
    assert_contains(a.err[0].msg, "speaks TLS");
    retry_log_deinit(&r);
    hr_listener_destroy(l);
}

/* A peer that connects and says nothing cannot hold accept longer than
 * connect_timeout_ms, with or without TLS. */
static void test_accept_silent_peer_times_out(void **state)
{
    hr_net_params params[2] = {plain_params(), server_tls()};
    const char *phase[2] = {"hello exchange", "TLS handshake"};
    (void)state;

    for (int i = 0; i < 2; i++) {
        hr_listener *l;
        hr_chan *c = NULL;
        hr_error err;
        int fd;

        params[i].connect_timeout_ms = 200;
        l = open_listener("127.0.0.1:0", &params[i]);
        fd = raw_connect(hr_listener_port(l));
        assert_true(fd >= 0);
        hr_error_clear(&err);
        assert_int_equal(hr_listener_accept(l, 10000, &c, &err), HR_ERR_IO);
        assert_contains(err.msg, "timed out during the");
        assert_contains(err.msg, phase[i]);
        close(fd);
        hr_error_clear(&err);
        assert_int_equal(hr_listener_accept(l, 0, &c, &err), HR_ERR_IO);
        assert_contains(err.msg, "waiting for a connection");
        hr_listener_destroy(l);
    }
}

typedef struct raw_client {
    pthread_t th;
    int port, ok, saw_error;
} raw_client;

/* Connects and sends a hello with protocol 99, then reads the answer. */
static void *raw_client_main(void *arg)
{
    raw_client *r = arg;
    int fd = raw_connect(r->port);
    if (fd < 0)
        return NULL;
    r->ok = raw_send_hello(fd, 99) == 0;
    r->saw_error = raw_drain_for_error(fd, HR_ERR_UNSUPPORTED);
    close(fd);
    return NULL;
}

static void test_hello_version_mismatch(void **state)
{
    hr_net_params p = plain_params();
    hr_listener *l = open_listener("127.0.0.1:0", &p);
    hr_chan *c = NULL;
    raw_client rc;
    raw_server rs;
    retry_log log;
    char addr[64];
    hr_error err;
    (void)state;

    /* A client speaking protocol 99 to our listener. */
    memset(&rc, 0, sizeof rc);
    rc.port = hr_listener_port(l);
    assert_int_equal(pthread_create(&rc.th, NULL, raw_client_main, &rc), 0);
    hr_error_clear(&err);
    assert_int_equal(hr_listener_accept(l, 10000, &c, &err), HR_ERR_UNSUPPORTED);
    assert_null(c);
    assert_contains(err.msg, "protocol 99");
    join(rc.th);
    assert_true(rc.ok);
    assert_true(rc.saw_error);
    hr_listener_destroy(l);

    /* A server answering with protocol 99: not retried. */
    raw_server_start(&rs, RAW_VERSION, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rs.port);
    retry_log_init(&log);
    hr_error_clear(&err);
    assert_int_equal(hr_chan_connect_retry(addr, &p, 20000, count_retry, &log, &c, &err), HR_ERR_UNSUPPORTED);
    assert_null(c);
    assert_int_equal(log.count, 0);
    assert_contains(err.msg, "protocol 99");
    raw_server_join(&rs);
    assert_true(rs.ok);
    assert_true(rs.saw_error);
    retry_log_deinit(&log);
}

/* Connects to a raw server running `mode` and receives one message. */
static hr_status recv_from_raw(int mode, uint32_t claim, const hr_net_params *p, raw_server *rs, hr_error *err)
{
    char addr[64];
    hr_chan *c = NULL;
    hr_msg m;
    hr_status st;

    raw_server_start(rs, mode, claim);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rs->port);
    hr_msg_init(&m);
    HR_ASSERT_OK(hr_chan_connect(addr, p, &c, err), err);
    hr_error_clear(err);
    st = hr_chan_recv(c, 10000, &m, err);
    assert_null(m.meta);
    assert_null(m.storage);
    if (st != HR_OK) {
        /* The channel stays failed. */
        hr_error e2;
        assert_int_equal(hr_chan_can_receive(c), 0);
        assert_int_equal(hr_chan_recv(c, 10, &m, &e2), HR_ERR_IO);
        assert_contains(e2.msg, "failed earlier");
    }
    hr_chan_destroy(c);
    raw_server_join(rs);
    assert_true(rs->ok);
    return st;
}

static void test_oversized_frame(void **state)
{
    hr_net_params p = plain_params();
    raw_server rs;
    hr_error err;
    (void)state;

    /* 2 GiB claimed: refused from the header, before any allocation. */
    assert_int_equal(recv_from_raw(RAW_OVERSIZE, 0x80000000u, &p, &rs, &err), HR_ERR_LIMIT);
    assert_contains(err.msg, "2147483648");
    assert_true(rs.saw_error);

    /* A lower limit of this channel is honoured too. */
    p.max_payload = 1024;
    assert_int_equal(recv_from_raw(RAW_OVERSIZE, 2000, &p, &rs, &err), HR_ERR_LIMIT);
    assert_contains(err.msg, "2000");
}

static void test_truncated_frame(void **state)
{
    hr_net_params p = plain_params();
    raw_server rs;
    hr_error err;
    (void)state;

    assert_int_equal(recv_from_raw(RAW_TRUNCATE, 0, &p, &rs, &err), HR_ERR_IO);
    assert_contains(err.msg, "closed by peer in the middle of a frame payload (10 of 100 bytes)");
}

static void test_stalled_frame_times_out(void **state)
{
    hr_net_params p = plain_params();
    raw_server rs;
    hr_error err;
    (void)state;

    p.io_timeout_ms = 150;
    assert_int_equal(recv_from_raw(RAW_STALL, 0, &p, &rs, &err), HR_ERR_IO);
    assert_contains(err.msg, "timed out");
    assert_contains(err.msg, "10 of 100 bytes");
}

static void test_garbage(void **state)
{
    hr_net_params p = plain_params();
    raw_server rs;
    hr_error err;
    (void)state;

    assert_int_equal(recv_from_raw(RAW_GARBAGE, 0, &p, &rs, &err), HR_ERR_FORMAT);
    assert_contains(err.msg, "magic");
    assert_true(rs.saw_error);
}

/* A peer's ERROR frame comes back as its status, naming the peer, with
 * control characters neutralised; a wrong message type is HR_ERR_FORMAT. */
static void test_peer_error_and_expect(void **state)
{
    hr_net_params sp = server_tls(), cp = client_tls();
    hr_listener *l = open_listener("127.0.0.1:0", &sp);
    hr_chan *c = NULL;
    hr_msg m;
    hr_error err;
    peer p;
    (void)state;

    peer_start(&p, "127.0.0.1", hr_listener_port(l), &cp, SEND_ERROR);
    HR_ASSERT_OK(hr_listener_accept(l, 10000, &c, &err), &err);
    hr_msg_init(&m);
    hr_error_clear(&err);
    assert_int_equal(hr_chan_recv(c, 10000, &m, &err), HR_ERR_SHAPE);
    assert_string_equal(err.msg, "peer edge-0: bad crossing tensor?[forged log line]");
    assert_null(m.meta);
    /* The channel still works after a peer's error. */
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, &err), &err);
    join(p.th);
    HR_ASSERT_OK(p.st, &p.err);
    hr_chan_destroy(c);

    peer_start(&p, "127.0.0.1", hr_listener_port(l), &cp, SEND_ON_GO);
    HR_ASSERT_OK(hr_listener_accept(l, 10000, &c, &err), &err);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_ACK, 0, NULL, NULL, 0, &err), &err);
    hr_error_clear(&err);
    assert_int_equal(hr_chan_expect(c, HR_MSG_BACKWARD, 10000, &m, &err), HR_ERR_FORMAT);
    assert_contains(err.msg, "expected backward, got forward");
    assert_null(m.meta);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, &err), &err);
    join(p.th);
    HR_ASSERT_OK(p.st, &p.err);
    hr_chan_destroy(c);
    hr_listener_destroy(l);
}

/* A receive that times out before the frame starts leaves the channel in
 * step: the next message still arrives. */
static void test_recv_timeout_keeps_channel(void **state)
{
    hr_net_params sp = plain_params();
    hr_listener *l = open_listener("127.0.0.1:0", &sp);
    hr_chan *c = NULL;
    hr_msg m;
    hr_error err;
    peer p;
    (void)state;

    peer_start(&p, "127.0.0.1", hr_listener_port(l), &sp, SEND_ON_GO);
    HR_ASSERT_OK(hr_listener_accept(l, 10000, &c, &err), &err);
    hr_msg_init(&m);
    hr_error_clear(&err);
    /* The peer sends nothing before our ACK. */
    assert_int_equal(hr_chan_recv(c, 50, &m, &err), HR_ERR_IO);
    assert_contains(err.msg, "timed out waiting for a frame header");
    assert_int_equal(hr_chan_can_receive(c), 1); /* nothing of a frame arrived: still in step */
    /* hr_chan_wait: nothing to read and no wake-up: 0 after the timeout;
     * a wake-up byte: 0 at once; the peer's frame: 1, and nothing was read */
    int wake[2], readable = -1;
    assert_int_equal(pipe(wake), 0);
    HR_ASSERT_OK(hr_chan_wait(c, wake[0], 30, &readable, &err), &err);
    assert_int_equal(readable, 0);
    assert_int_equal(write(wake[1], "w", 1), 1);
    HR_ASSERT_OK(hr_chan_wait(c, wake[0], 10000, &readable, &err), &err);
    assert_int_equal(readable, 0);
    char drain;
    assert_int_equal(read(wake[0], &drain, 1), 1);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_ACK, 0, NULL, NULL, 0, &err), &err);
    HR_ASSERT_OK(hr_chan_wait(c, wake[0], 10000, &readable, &err), &err);
    assert_int_equal(readable, 1);
    close(wake[0]);
    close(wake[1]);
    HR_ASSERT_OK(hr_chan_expect(c, HR_MSG_FORWARD, 10000, &m, &err), &err);
    assert_int_equal(m.id, 5);
    assert_float_equal(((float *)m.tensor[0].data)[2], 3.0f, 0);
    HR_ASSERT_OK(hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, &err), &err);
    join(p.th);
    HR_ASSERT_OK(p.st, &p.err);
    hr_msg_deinit(&m);
    hr_chan_destroy(c);
    hr_listener_destroy(l);
}

/* Writing to a peer that has gone must be an error, not a SIGPIPE that
 * kills the test process (its disposition is left at the default here). */
static void test_send_to_closed_peer(void **state)
{
    hr_net_params params[2] = {plain_params(), server_tls()};
    hr_net_params cparams[2] = {plain_params(), client_tls()};
    const size_t n = 1 << 18;
    uint8_t *buf = calloc(n, 1);
    hr_wire_tensor t = {.dtype = HR_WIRE_U8, .ndim = 1, .shape = {(int64_t)n}, .data = buf, .nbytes = n};
    (void)state;

    assert_non_null(buf);
    for (int i = 0; i < 2; i++) {
        hr_listener *l = open_listener("127.0.0.1:0", &params[i]);
        hr_chan *c = NULL;
        hr_status st = HR_OK;
        hr_error err;
        peer p;

        peer_start(&p, "127.0.0.1", hr_listener_port(l), &cparams[i], CLOSE_AT_ONCE);
        HR_ASSERT_OK(hr_listener_accept(l, 10000, &c, &err), &err);
        join(p.th);
        HR_ASSERT_OK(p.st, &p.err);
        for (int k = 0; k < 200 && st == HR_OK; k++)
            st = hr_chan_send(c, HR_MSG_LINK_PROBE, (uint32_t)k, NULL, &t, 1, &err);
        assert_int_equal(st, HR_ERR_IO);
        assert_int_equal(hr_chan_send(c, HR_MSG_ACK, 0, NULL, NULL, 0, &err), HR_ERR_IO);
        hr_chan_destroy(c);
        hr_listener_destroy(l);
    }
    free(buf);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_addr),
    cmocka_unit_test(test_plain_round_trip),
    cmocka_unit_test(test_plain_round_trip_ipv6),
    cmocka_unit_test(test_tls_round_trip),
    cmocka_unit_test(test_tls_large_message),
    cmocka_unit_test(test_tls_client_without_cert),
    cmocka_unit_test(test_tls_rogue_client),
    cmocka_unit_test(test_tls_untrusted_server),
    cmocka_unit_test(test_retry_stops_on_certificate_errors),
    cmocka_unit_test(test_connect_retry_until_listener_appears),
    cmocka_unit_test(test_connect_retry_gives_up),
    cmocka_unit_test(test_listen_any_needs_tls_or_flag),
    cmocka_unit_test(test_bad_tls_files),
    cmocka_unit_test(test_tls_plain_mix),
    cmocka_unit_test(test_accept_silent_peer_times_out),
    cmocka_unit_test(test_hello_version_mismatch),
    cmocka_unit_test(test_oversized_frame),
    cmocka_unit_test(test_truncated_frame),
    cmocka_unit_test(test_stalled_frame_times_out),
    cmocka_unit_test(test_garbage),
    cmocka_unit_test(test_peer_error_and_expect),
    cmocka_unit_test(test_recv_timeout_keeps_channel),
    cmocka_unit_test(test_send_to_closed_peer),
};

int main(void)
{
    return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
