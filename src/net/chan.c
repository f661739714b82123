/* The blocking transport (include/hyperrep/net.h): framed messages over TCP
 * or mutual TLS 1.3, every wait bounded.
 *
 * Sockets are non-blocking and every wait is a poll() with a deadline, so no
 * call can hang on a silent peer: the set-up (TCP connect, TLS handshake,
 * hello) shares one connect_timeout_ms budget, and inside a frame each stall
 * may last io_timeout_ms. SIGPIPE is never raised: plain sockets are written
 * with send(MSG_NOSIGNAL) and TLS goes through a BIO that does the same
 * (tls.c), so the library leaves the process's signal dispositions alone.
 *
 * Receiving reads the 16-byte header, checks it against max_payload, and only
 * then allocates and reads the payload, so a peer cannot make us allocate
 * more than the limit. */
#include "hyperrep/net.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/rng.h"
#include "hyperrep/version.h"
#include "core/text.h"
#include "net/addr.h"
#include "net/tls.h"

/* A best-effort ERROR frame to a misbehaving peer may wait this long. */
#define ERROR_SEND_MS 1000
/* After telling a peer why it is dropped, the close waits this long (and
 * discards at most LINGER_BYTES) for the peer to close first; see
 * linger_close. */
#define LINGER_MS 2000
#define LINGER_BYTES (1u << 20)

struct hr_chan {
    int fd;
    SSL *ssl;               /* NULL: plain TCP */
    int ssl_ready;          /* handshake done and no fatal TLS error since */
    uint32_t max_payload;
    int io_timeout_ms;
    int connect_timeout_ms;
    /* During set-up every wait also ends at this monotonic time (-1: none),
     * so a peer trickling bytes cannot stretch connect_timeout_ms. */
    int64_t setup_deadline;
    const char *phase;      /* what the set-up deadline bounds, for messages */
    int rbroken, wbroken;   /* a frame was cut or rejected: no more frames that way */
    int timed_out;          /* the last failed wait was a timeout */
    int no_retry;           /* the last TLS failure was a refused certificate or a
                               TLS/plain mismatch: retrying cannot help */
    int linger;             /* we told the peer why we drop it: close gently */
    uint64_t sent, received;
    char addr[HR__ADDR_TEXT_MAX]; /* the peer's address */
    char peer[256];               /* its identity: certificate CN, else addr */
    char *peer_hello;
};

struct hr_listener {
    int fd;
    SSL_CTX *ctx;
    int port;
    int connect_timeout_ms, io_timeout_ms;
    uint32_t max_payload;
    char *role, *name;
    char addr[HR__ADDR_TEXT_MAX];
};

hr_net_params hr_net_params_default(void)
{
    hr_net_params p;

    memset(&p, 0, sizeof p);
    p.connect_timeout_ms = 10000;
    p.io_timeout_ms = 30000;
    p.max_payload = HR_PROTO_MAX_PAYLOAD;
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static hr_status check_params(const hr_net_params *p, hr_error *err)
{
    int ntls = (p->tls.cert != NULL) + (p->tls.key != NULL) + (p->tls.ca != NULL);

    if (ntls != 0 && ntls != 3)
        return hr_error_set(err, HR_ERR_INVALID_ARG,
                            "tls: cert, key and ca are given together (all three for TLS, none for plain TCP)");
    if (p->connect_timeout_ms <= 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "connect_timeout_ms = %d must be positive",
                            p->connect_timeout_ms);
    if (p->io_timeout_ms <= 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "io_timeout_ms = %d must be positive", p->io_timeout_ms);
    if (p->max_payload > HR_PROTO_MAX_PAYLOAD)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "max_payload = %lu is over the protocol's %lu bytes",
                            (unsigned long)p->max_payload, (unsigned long)HR_PROTO_MAX_PAYLOAD);
    return HR_OK;
}

/* Non-blocking, close-on-exec and, for connections, no Nagle delay: frames
 * are written whole, and a small reply held back 40 ms would dominate the
 * round trip of a split forward. */
static int setup_fd(int fd, int nodelay)
{
    int flags = fcntl(fd, F_GETFL), one = 1;

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    if (nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return -1;
    return 0;
}

static hr_chan *chan_new(int fd, const char *addr, uint32_t max_payload, int io_timeout_ms, int connect_timeout_ms)
{
    hr_chan *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->fd = fd;
    c->max_payload = max_payload ? max_payload : HR_PROTO_MAX_PAYLOAD;
    c->io_timeout_ms = io_timeout_ms;
    c->connect_timeout_ms = connect_timeout_ms;
    c->setup_deadline = -1;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    snprintf(c->peer, sizeof c->peer, "%s", addr);
    return c;
}

/* Closing a socket that still holds unread input makes the kernel send a
 * reset, and a reset can destroy what we sent just before it — the ERROR
 * frame or TLS alert that says why the peer is dropped — before the peer
 * reads it (a rejected TLS 1.3 client has typically sent its hello already).
 * So: send FIN, discard input until the peer closes too, bounded by
 * LINGER_MS and LINGER_BYTES, then close. */
static void linger_close(int fd)
{
    int64_t deadline = now_ms() + LINGER_MS;
    size_t total = 0;
    char buf[4096];

    shutdown(fd, SHUT_WR);
    while (total < LINGER_BYTES) {
        int64_t left = deadline - now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break;
        if (n > 0)
            total += (size_t)n;
    }
    close(fd);
}

void hr_chan_destroy(hr_chan *c)
{
    if (!c)
        return;
    if (c->ssl) {
        /* close_notify tells the peer the end is deliberate; best effort on
         * the non-blocking socket, and OpenSSL forbids it after a fatal error. */
        if (c->ssl_ready && !c->wbroken) {
            ERR_clear_error();
            SSL_shutdown(c->ssl);
        }
        ERR_clear_error();
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) {
        if (c->linger)
            linger_close(c->fd);
        else
            close(c->fd);
    }
    free(c->peer_hello);
    free(c);
}

/* Waits until fd is ready for `events`, until `deadline` (monotonic ms, -1:
 * none) or the set-up deadline, whichever is first. `what` and `stall_ms`
 * only shape the timeout message. */
static hr_status wait_fd(hr_chan *c, short events, int64_t deadline, int stall_ms, const char *what, hr_error *err)
{
    c->timed_out = 0;
    for (;;) {
        int64_t limit = deadline;
        int by_setup = 0, t = -1, r;
        struct pollfd pfd;

        if (c->setup_deadline >= 0 && (limit < 0 || c->setup_deadline <= limit)) {
            limit = c->setup_deadline;
            by_setup = 1;
        }
        if (limit >= 0) {
            int64_t left = limit - now_ms();
            if (left <= 0) {
                c->timed_out = 1;
                if (by_setup)
                    return hr_error_set(err, HR_ERR_IO, "%s: timed out during %s (connect timeout %d ms)", c->peer,
                                        c->phase ? c->phase : "the set-up", c->connect_timeout_ms);
                return hr_error_set(err, HR_ERR_IO, "%s: timed out %s (%d ms without progress)", c->peer, what,
                                    stall_ms);
            }
            t = left > INT_MAX ? INT_MAX : (int)left;
        }
        pfd.fd = c->fd;
        pfd.events = events;
        pfd.revents = 0;
        r = poll(&pfd, 1, t);
        if (r > 0)
            return HR_OK; /* readable, writable, or an error the next I/O call reports */
        if (r < 0 && errno != EINTR)
            return hr_error_set(err, HR_ERR_IO, "%s: poll: %s", c->peer, strerror(errno));
    }
}

/* Outcome of one TLS call that did not succeed: a wait (HR_OK with *want
 * set), the peer closing (HR_OK with *closed set), or an error. */
static hr_status tls_outcome(hr_chan *c, int ret, int saved_errno, const char *doing, short *want, int *closed,
                             hr_error *err)
{
    int code = SSL_get_error(c->ssl, ret);
    unsigned long last;

    switch (code) {
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        ERR_clear_error();
        return HR_OK;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        ERR_clear_error();
        return HR_OK;
    case SSL_ERROR_ZERO_RETURN:
        *closed = 1;
        ERR_clear_error();
        return HR_OK;
    case SSL_ERROR_SYSCALL:
        c->ssl_ready = 0;
        if (ERR_peek_error() == 0) {
            if (saved_errno == 0 || saved_errno == ECONNRESET) {
                *closed = 1;
                return HR_OK;
            }
            return hr_error_set(err, HR_ERR_IO, "%s: %s: %s", c->peer, doing, strerror(saved_errno));
        }
        break;
    default:
        c->ssl_ready = 0;
        break;
    }
    last = ERR_peek_last_error();
    if (ERR_GET_LIB(last) == ERR_LIB_SSL && ERR_GET_REASON(last) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        *closed = 1;
        return HR_OK;
    }
    c->no_retry = hr__tls_error_is_cert();
    if (c->no_retry)
        hr_error_set(err, HR_ERR_IO, "%s: the peer rejected this side's certificate", c->peer);
    else
        hr_error_set(err, HR_ERR_IO, "%s: TLS error %s", c->peer, doing);
    hr__tls_error_append(err);
    return HR_ERR_IO;
}

/* Reads up to n bytes: *done > 0, or *done == 0 with *want (wait for it) or
 * *closed (the peer closed) set. */
static hr_status read_some(hr_chan *c, void *buf, size_t n, size_t *done, short *want, int *closed, hr_error *err)
{
    *done = 0;
    *want = 0;
    *closed = 0;
    if (c->ssl) {
        int r, saved;
        ERR_clear_error();
        errno = 0;
        r = SSL_read_ex(c->ssl, buf, n, done);
        saved = errno;
        if (r == 1) {
            c->received += *done;
            return HR_OK;
        }
        *done = 0;
        return tls_outcome(c, r, saved, "receiving", want, closed, err);
    }
    for (;;) {
        ssize_t r = recv(c->fd, buf, n, 0);
        if (r > 0) {
            *done = (size_t)r;
            c->received += (size_t)r;
            return HR_OK;
        }
        if (r == 0 || errno == ECONNRESET) {
            *closed = 1;
            return HR_OK;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *want = POLLIN;
            return HR_OK;
        }
        if (errno != EINTR)
            return hr_error_set(err, HR_ERR_IO, "%s: receive: %s", c->peer, strerror(errno));
    }
}

static hr_status write_some(hr_chan *c, const void *buf, size_t n, size_t *done, short *want, hr_error *err)
{
    int closed = 0;
    hr_status st;

    *done = 0;
    *want = 0;
    if (c->ssl) {
        int r, saved;
        ERR_clear_error();
        errno = 0;
        r = SSL_write_ex(c->ssl, buf, n, done);
        saved = errno;
        if (r == 1) {
            c->sent += *done;
            return HR_OK;
        }
        *done = 0;
        st = tls_outcome(c, r, saved, "sending", want, &closed, err);
        if (st == HR_OK && closed)
            return hr_error_set(err, HR_ERR_IO, "%s: connection closed by peer", c->peer);
        return st;
    }
    for (;;) {
        ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0) {
            *done = (size_t)r;
            c->sent += (size_t)r;
            return HR_OK;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *want = POLLOUT;
            return HR_OK;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            return hr_error_set(err, HR_ERR_IO, "%s: connection closed by peer", c->peer);
        if (errno != EINTR)
            return hr_error_set(err, HR_ERR_IO, "%s: send: %s", c->peer, strerror(errno));
    }
}

/* Reads exactly n bytes of `what`. The first byte may take first_ms (-1:
 * forever); after that every stall may take io_timeout_ms. *got says how
 * far it came, so a caller can tell a timeout before the first byte (the
 * stream is still in step) from a frame cut in the middle. */
static hr_status read_full(hr_chan *c, void *buf, size_t n, int first_ms, const char *what, size_t *got,
                           hr_error *err)
{
    int64_t deadline = first_ms < 0 ? -1 : now_ms() + first_ms;
    int stall = first_ms;
    char doing[96];

    *got = 0;
    while (*got < n) {
        size_t k;
        short want;
        int closed;
        hr_status st = read_some(c, (uint8_t *)buf + *got, n - *got, &k, &want, &closed, err);

        if (st != HR_OK)
            return st;
        if (closed) {
            if (*got == 0)
                return hr_error_set(err, HR_ERR_IO, "%s: connection closed by peer", c->peer);
            return hr_error_set(err, HR_ERR_IO, "%s: connection closed by peer in the middle of %s (%zu of %zu bytes)",
                                c->peer, what, *got, n);
        }
        if (k > 0) {
            *got += k;
            deadline = now_ms() + c->io_timeout_ms;
            stall = c->io_timeout_ms;
            continue;
        }
        snprintf(doing, sizeof doing, "receiving %s (%zu of %zu bytes)", what, *got, n);
        if (*got == 0 && first_ms >= 0 && stall == first_ms)
            snprintf(doing, sizeof doing, "waiting for %s", what);
        st = wait_fd(c, want, deadline, stall, doing, err);
        if (st != HR_OK)
            return st;
    }
    return HR_OK;
}

/* Writes all n bytes; each stall may take io_timeout_ms. Any failure leaves
 * the peer with part of a frame, so the write side is closed for good. */
static hr_status write_full(hr_chan *c, const void *buf, size_t n, hr_error *err)
{
    int64_t deadline = now_ms() + c->io_timeout_ms;
    size_t put = 0;
    char doing[96];

    while (put < n) {
        size_t k;
        short want;
        hr_status st = write_some(c, (const uint8_t *)buf + put, n - put, &k, &want, err);

        if (st != HR_OK) {
            c->wbroken = 1;
            return st;
        }
        if (k > 0) {
            put += k;
            deadline = now_ms() + c->io_timeout_ms;
            continue;
        }
        snprintf(doing, sizeof doing, "sending a frame (%zu of %zu bytes)", put, n);
        st = wait_fd(c, want, deadline, c->io_timeout_ms, doing, err);
        if (st != HR_OK) {
            c->wbroken = 1;
            return st;
        }
    }
    return HR_OK;
}

hr_status hr_chan_send(hr_chan *c, hr_msg_type type, uint32_t id, const char *meta, const hr_wire_tensor *tensors,
                       int n, hr_error *err)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    hr_status st;

    if (!c)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "send: no channel");
    if (c->wbroken)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot send: the channel failed earlier", c->peer);
    st = hr_msg_encode(type, id, meta, tensors, n, &frame, &len, err);
    if (st != HR_OK)
        return st;
    st = write_full(c, frame, len, err);
    free(frame);
    return st;
}


void hr_chan_send_error(hr_chan *c, uint32_t id, hr_status st, const char *msg)
{
    char text[1024];
    json_t *root;
    char *meta;

    if (!c || c->wbroken)
        return;
    snprintf(text, sizeof text, "%s", msg ? msg : hr_status_name(st));
    hr__text_clean(text, sizeof text, text);
    root = json_pack("{s:i, s:s}", "status", (int)st, "message", text);
    if (!root) {
        /* Not UTF-8 (or cut inside a character): keep the ASCII of it. */
        for (char *s = text; *s; s++)
            if ((unsigned char)*s >= 0x80)
                *s = '?';
        root = json_pack("{s:i, s:s}", "status", (int)st, "message", text);
    }
    meta = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (meta && hr_chan_send(c, HR_MSG_ERROR, id, meta, NULL, 0, NULL) == HR_OK)
        c->linger = 1;
    free(meta);
}

/* An ERROR frame to a peer whose frame we reject, bounded by ERROR_SEND_MS:
 * the peer is misbehaving and may not be reading. */
static void send_error_bounded(hr_chan *c, uint32_t id, hr_status st, const char *msg)
{
    int64_t saved = c->setup_deadline, limit = now_ms() + ERROR_SEND_MS;
    const char *phase = c->phase;

    if (saved < 0 || limit < saved)
        c->setup_deadline = limit;
    hr_chan_send_error(c, id, st, msg);
    c->setup_deadline = saved;
    c->phase = phase;
}

/* The status and message of a peer's ERROR frame. A status outside the
 * table (or "ok") cannot be passed on as is and becomes HR_ERR_INTERNAL. */
static hr_status peer_error(hr_chan *c, const hr_msg *m, hr_error *err)
{
    json_t *root = m->meta ? json_loads(m->meta, 0, NULL) : NULL;
    json_t *js = json_object_get(root, "status"), *jm = json_object_get(root, "message");
    hr_status st = HR_ERR_INTERNAL;
    char text[400];

    if (json_is_integer(js) && json_integer_value(js) > 0 && json_integer_value(js) < HR_STATUS_COUNT)
        st = (hr_status)json_integer_value(js);
    snprintf(text, sizeof text, "%s", json_is_string(jm) ? json_string_value(jm) : "(no message)");
    hr__text_clean(text, sizeof text, text);
    json_decref(root);
    return hr_error_set(err, st, "peer %s: %s", c->peer, text);
}

hr_status hr_chan_wait(hr_chan *c, int wake_fd, int timeout_ms, int *readable, hr_error *err)
{
    struct pollfd pfd[2];
    int r;
    *readable = 0;
    if (!c)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "wait: no channel");
    /* Records OpenSSL already holds never show on the socket. */
    if (c->ssl && SSL_has_pending(c->ssl)) {
        *readable = 1;
        return HR_OK;
    }
    pfd[0].fd = c->fd;
    pfd[0].events = POLLIN;
    pfd[1].fd = wake_fd;
    pfd[1].events = POLLIN;
    pfd[0].revents = pfd[1].revents = 0;
    do
        r = poll(pfd, wake_fd >= 0 ? 2 : 1, timeout_ms < 0 ? -1 : timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return hr_error_set(err, HR_ERR_IO, "%s: poll: %s", c->peer, strerror(errno));
    *readable = (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    return HR_OK;
}

int hr_chan_can_receive(const hr_chan *c)
{
    return c && !c->rbroken;
}

hr_status hr_chan_recv(hr_chan *c, int timeout_ms, hr_msg *out, hr_error *err)
{
    uint8_t hdr[HR_PROTO_HEADER_SIZE];
    uint8_t *payload;
    hr_frame_header h;
    size_t got;
    hr_error e;
    hr_status st;

    if (!c || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "recv: no channel or no output");
    hr_msg_deinit(out);
    if (c->rbroken)
        return hr_error_set(err, HR_ERR_IO, "%s: cannot receive: the channel failed earlier", c->peer);
    hr_error_clear(&e);

    st = read_full(c, hdr, sizeof hdr, timeout_ms, "a frame header", &got, &e);
    if (st != HR_OK) {
        /* Nothing of the frame arrived before the timeout: still in step. */
        if (got > 0 || !c->timed_out)
            c->rbroken = 1;
        goto out;
    }
    st = hr_frame_header_decode(hdr, c->max_payload, &h, &e);
    if (st != HR_OK) {
        c->rbroken = 1;
        send_error_bounded(c, 0, st, e.msg);
        hr_error_prefix(&e, "%s", c->peer);
        if (!c->ssl && hdr[0] == 0x16 && hdr[1] == 0x03) {
            size_t len = strlen(e.msg);
            snprintf(e.msg + len, sizeof e.msg - len, " (the peer speaks TLS: give this side a cert, key and CA)");
        }
        goto out;
    }
    /* h.length <= max_payload here: the allocation is bounded. */
    payload = malloc(h.length ? h.length : 1);
    if (!payload) {
        c->rbroken = 1;
        st = hr_error_set(&e, HR_ERR_NOMEM, "%s: no memory for a %lu-byte %s payload", c->peer,
                          (unsigned long)h.length, hr_msg_type_name(h.type));
        goto out;
    }
    st = read_full(c, payload, h.length, c->io_timeout_ms, "a frame payload", &got, &e);
    if (st == HR_OK) {
        st = hr_msg_decode(&h, payload, out, &e);
        if (st != HR_OK) {
            send_error_bounded(c, h.id, st, e.msg);
            hr_error_prefix(&e, "%s", c->peer);
        }
    }
    free(payload);
    if (st != HR_OK) {
        c->rbroken = 1;
        goto out;
    }
    if (out->type == HR_MSG_ERROR) {
        st = peer_error(c, out, &e);
        hr_msg_deinit(out);
    }
out:
    if (st != HR_OK && err)
        *err = e;
    return st;
}

hr_status hr_chan_expect(hr_chan *c, hr_msg_type expect, int timeout_ms, hr_msg *out, hr_error *err)
{
    hr_status st = hr_chan_recv(c, timeout_ms, out, err);

    if (st != HR_OK)
        return st;
    if (out->type != expect) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: expected %s, got %s", c->peer, hr_msg_type_name(expect),
                          hr_msg_type_name(out->type));
        hr_msg_deinit(out);
    }
    return st;
}

/* ---- set-up: TLS handshake and hello ------------------------------------ */

static hr_status tls_handshake(hr_chan *c, hr_error *err)
{
    char cn[sizeof c->peer];
    long vr;

    c->phase = "the TLS handshake";
    for (;;) {
        int r, code, saved;
        hr_status st;

        ERR_clear_error();
        errno = 0;
        r = SSL_do_handshake(c->ssl);
        saved = errno;
        if (r == 1)
            break;
        code = SSL_get_error(c->ssl, r);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            st = wait_fd(c, code == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, -1, 0, "", err);
            if (st != HR_OK)
                return st;
            continue;
        }
        vr = SSL_get_verify_result(c->ssl);
        c->no_retry = hr__tls_error_is_cert() || vr != X509_V_OK;
        c->linger = 1; /* OpenSSL has sent an alert saying why */
        if (vr != X509_V_OK)
            hr_error_set(err, HR_ERR_IO, "%s: TLS handshake failed: the peer's certificate is not accepted (%s)",
                         c->addr, X509_verify_cert_error_string(vr));
        else if (code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            hr_error_set(err, HR_ERR_IO, "%s: TLS handshake failed: %s", c->addr,
                         saved && saved != ECONNRESET ? strerror(saved) : "connection closed by peer");
        else {
            unsigned long last = ERR_peek_last_error();
            hr_error_set(err, HR_ERR_IO, "%s: TLS handshake failed", c->addr);
            if (ERR_GET_LIB(last) == ERR_LIB_SSL && (ERR_GET_REASON(last) == SSL_R_WRONG_VERSION_NUMBER ||
                                                     ERR_GET_REASON(last) == SSL_R_PACKET_LENGTH_TOO_LONG ||
                                                     ERR_GET_REASON(last) == SSL_R_HTTP_REQUEST)) {
                c->no_retry = 1;
                if (err) {
                    size_t len = strlen(err->msg);
                    snprintf(err->msg + len, sizeof err->msg - len, " (does the peer run without TLS?)");
                }
            }
        }
        hr__tls_error_append(err);
        return HR_ERR_IO;
    }
    /* The verify mode already refuses these; checked again because the
     * identity below must never come from an unverified certificate. */
    vr = SSL_get_verify_result(c->ssl);
    hr__tls_peer_cn(c->ssl, cn, sizeof cn);
    if (!SSL_get0_peer_certificate(c->ssl) || vr != X509_V_OK || !cn[0]) {
        c->no_retry = 1;
        return hr_error_set(err, HR_ERR_IO, "%s: the peer's certificate is missing, unverified or has no CN",
                            c->addr);
    }
    c->ssl_ready = 1;
    snprintf(c->peer, sizeof c->peer, "%s", cn);
    return HR_OK;
}

static hr_status send_hello(hr_chan *c, const char *role, const char *name, hr_error *err)
{
    char host[256], *meta = NULL;
    hr_status st;

    if (!name) {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "unknown");
        host[sizeof host - 1] = '\0';
        name = host;
    }
    if ((st = hr_hello_encode(role, name, &meta, err)))
        return st;
    st = hr_chan_send(c, HR_MSG_HELLO, 0, meta, NULL, 0, err);
    free(meta);
    return st;
}

/* Receives and checks the peer's hello. A peer speaking another protocol
 * version, or a malformed hello, is told so with an ERROR frame. */
static hr_status recv_hello(hr_chan *c, hr_error *err)
{
    hr_msg m;
    hr_hello h;
    hr_error he = {0};
    hr_status st;

    hr_msg_init(&m);
    st = hr_chan_recv(c, -1, &m, err);
    if (st != HR_OK)
        return st;
    if (m.type != HR_MSG_HELLO) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: expected hello, got %s", c->peer, hr_msg_type_name(m.type));
        send_error_bounded(c, m.id, st, "expected hello first");
        hr_msg_deinit(&m);
        return st;
    }
    if ((st = hr_hello_decode(m.meta, &h, &he))) {
        send_error_bounded(c, m.id, st, he.msg);
        hr_error_set(err, st, "%s: %s", c->peer, he.msg);
    } else if (!(c->peer_hello = strdup(m.meta))) {
        st = hr_error_set(err, HR_ERR_NOMEM, "hello: out of memory");
    }
    hr_msg_deinit(&m);
    return st;
}

/* Connects to the first address of `host` that answers within the deadline. */
static hr_status tcp_connect(const char *host, int port, int64_t deadline, int loopback_only, int *fd_out,
                             char *addr, size_t addrsz, hr_error *err)
{
    struct addrinfo *res, *ai;
    hr_status st = hr__addr_resolve(host, port, 0, &res, err);

    if (st != HR_OK)
        return st;
    /* Plain TCP is for loopback: elsewhere, whoever is on the path reads
     * and changes the frames (issue 15). */
    if (loopback_only)
        for (ai = res; ai; ai = ai->ai_next)
            if (!hr__addr_is_loopback(ai->ai_addr)) {
                freeaddrinfo(res);
                return hr_error_set(err, HR_ERR_INVALID_ARG,
                                    "connect %s:%d: plain TCP dials only a loopback address (127.0.0.1, [::1]); use "
                                    "TLS (cert, key, ca) or, behind an SSH tunnel or in a test bed, insecure_plain_tcp "
                                    "(--insecure-plain-tcp)", host, port);
            }
    st = hr_error_set(err, HR_ERR_IO, "%s:%d: no address to connect to", host, port);
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), soerr = 0;
        socklen_t len = sizeof soerr;

        hr__addr_format(ai->ai_addr, ai->ai_addrlen, addr, addrsz);
        if (fd < 0) {
            st = hr_error_set(err, HR_ERR_IO, "%s: socket: %s", addr, strerror(errno));
            continue;
        }
        if (setup_fd(fd, 1) < 0) {
            st = hr_error_set(err, HR_ERR_IO, "%s: socket options: %s", addr, strerror(errno));
            close(fd);
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS && errno != EINTR) {
                st = hr_error_set(err, HR_ERR_IO, "%s: connect: %s", addr, strerror(errno));
                close(fd);
                continue;
            }
            for (;;) {
                struct pollfd pfd = {fd, POLLOUT, 0};
                int64_t left = deadline - now_ms();
                int r = left > 0 ? poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) : 0;
                if (r > 0)
                    break;
                if (r == 0) {
                    soerr = ETIMEDOUT;
                    break;
                }
                if (errno != EINTR) {
                    soerr = errno;
                    break;
                }
            }
            if (soerr == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
                soerr = errno;
            if (soerr != 0) {
                if (soerr == ETIMEDOUT)
                    st = hr_error_set(err, HR_ERR_IO, "%s: connect: timed out", addr);
                else
                    st = hr_error_set(err, HR_ERR_IO, "%s: connect: %s", addr, strerror(soerr));
                close(fd);
                continue;
            }
        }
        *fd_out = fd;
        st = HR_OK;
        break;
    }
    freeaddrinfo(res);
    return st;
}

/* hr_chan_connect, also saying whether the failure would recur on a retry
 * (*permanent): bad arguments or files, another protocol version, a
 * malformed hello, a certificate either side refuses. */
static hr_status chan_connect(const char *addr, const hr_net_params *params, hr_chan **out, int *permanent,
                              hr_error *err)
{
    hr_net_params def = hr_net_params_default();
    const hr_net_params *p = params ? params : &def;
    char host[256], where[HR__ADDR_TEXT_MAX];
    SSL_CTX *ctx = NULL;
    hr_chan *c = NULL;
    int port, fd = -1;
    int64_t deadline;
    hr_status st;

    *permanent = 1;
    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "connect: no output");
    if ((st = hr_net_parse_addr(addr, host, sizeof host, &port, err)) != HR_OK ||
        (st = check_params(p, err)) != HR_OK)
        return st;
    if (port == 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "connect: address '%s' has port 0", addr);
    if (p->tls.cert && (st = hr__tls_ctx_create(&p->tls, 0, &ctx, err)) != HR_OK)
        return st;
    *permanent = 0;
    deadline = now_ms() + p->connect_timeout_ms;
    st = tcp_connect(host, port, deadline, !p->tls.cert && !p->insecure_plain_tcp, &fd, where, sizeof where, err);
    if (st != HR_OK)
        goto fail;
    c = chan_new(fd, where, p->max_payload, p->io_timeout_ms, p->connect_timeout_ms);
    if (!c) {
        close(fd);
        st = hr_error_set(err, HR_ERR_NOMEM, "connect: out of memory");
        goto fail;
    }
    c->setup_deadline = deadline;
    if (ctx) {
        BIO *bio;
        c->ssl = SSL_new(ctx);
        bio = c->ssl ? hr__tls_bio_new(fd) : NULL;
        if (!bio) {
            st = hr_error_set(err, HR_ERR_NOMEM, "%s: cannot create the TLS session", where);
            hr__tls_error_append(err);
            goto fail;
        }
        SSL_set_bio(c->ssl, bio, bio);
        SSL_set_connect_state(c->ssl);
        if ((st = hr__tls_set_host(c->ssl, host, err)) != HR_OK)
            goto fail;
        if ((st = tls_handshake(c, err)) != HR_OK) {
            *permanent = c->no_retry;
            goto fail;
        }
    }
    c->phase = "the hello exchange";
    if ((st = send_hello(c, p->role ? p->role : "client", p->name, err)) != HR_OK ||
        (st = recv_hello(c, err)) != HR_OK) {
        *permanent = st == HR_ERR_UNSUPPORTED || st == HR_ERR_FORMAT || st == HR_ERR_INVALID_ARG || c->no_retry;
        goto fail;
    }
    c->setup_deadline = -1;
    c->phase = NULL;
    SSL_CTX_free(ctx); /* the session holds its own reference */
    *out = c;
    return HR_OK;

fail:
    if (st == HR_ERR_IO && !strstr(err ? err->msg : "", addr))
        hr_error_prefix(err, "connect %s", addr);
    hr_chan_destroy(c);
    SSL_CTX_free(ctx);
    return st;
}

hr_status hr_chan_connect(const char *addr, const hr_net_params *params, hr_chan **out, hr_error *err)
{
    int permanent;

    return chan_connect(addr, params, out, &permanent, err);
}

hr_status hr_chan_connect_retry(const char *addr, const hr_net_params *params, int give_up_ms,
                                void (*on_retry)(void *user, const hr_error *why, int wait_ms), void *user,
                                hr_chan **out, hr_error *err)
{
    hr_net_params p = params ? *params : hr_net_params_default();
    const int connect_timeout = p.connect_timeout_ms;
    int64_t start = now_ms();
    int base = 250, attempts = 0;
    struct timespec ts;
    hr__rng rng;

    /* Jitter keeps a fleet of edge devices that lost the server together
     * from reconnecting in lock-step; the seed only needs to differ between
     * processes, not to be secret. */
    clock_gettime(CLOCK_REALTIME, &ts);
    hr__rng_seed(&rng, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, (uint64_t)getpid());
    if (give_up_ms < 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "connect %s: give_up_ms = %d is negative", addr, give_up_ms);
    for (;;) {
        hr_error e;
        int permanent, wait;
        hr_status st;

        hr_error_clear(&e);
        if (give_up_ms > 0) {
            int64_t left = start + give_up_ms - now_ms();
            p.connect_timeout_ms = left < 1 ? 1 : left < connect_timeout ? (int)left : connect_timeout;
        }
        st = chan_connect(addr, &p, out, &permanent, &e);
        attempts++;
        if (st == HR_OK)
            return HR_OK;
        if (permanent) {
            if (err)
                *err = e;
            return st;
        }
        wait = (int)(base * (0.75 + 0.5 * hr__rng_uniform(&rng)));
        base = base >= 4000 ? 8000 : base * 2;
        /* No attempt would start before the deadline: stop now, with the
         * last real failure rather than one starved of time. */
        if (give_up_ms > 0 && start + give_up_ms - now_ms() <= wait) {
            hr_error_prefix(&e, "gave up after %d attempts in %lld ms", attempts, (long long)(now_ms() - start));
            if (err)
                *err = e;
            return st;
        }
        if (on_retry)
            on_retry(user, &e, wait);
        sleep_ms(wait);
    }
}

const char *hr_chan_peer(const hr_chan *c)
{
    return c ? c->peer : "";
}

const char *hr_chan_peer_hello(const hr_chan *c)
{
    return c && c->peer_hello ? c->peer_hello : "{}";
}

int hr_chan_is_tls(const hr_chan *c)
{
    return c && c->ssl != NULL;
}

void hr_chan_counters(const hr_chan *c, uint64_t *sent, uint64_t *received)
{
    if (sent)
        *sent = c ? c->sent : 0;
    if (received)
        *received = c ? c->received : 0;
}

/* ---- listener ----------------------------------------------------------- */

hr_status hr_listener_open(const char *addr, const hr_net_params *params, hr_listener **out, hr_error *err)
{
    hr_net_params def = hr_net_params_default();
    const hr_net_params *p = params ? params : &def;
    struct addrinfo *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    char host[256], where[HR__ADDR_TEXT_MAX];
    hr_listener *l;
    int port;
    hr_status st;

    if (!out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "listen: no output");
    if ((st = hr_net_parse_addr(addr, host, sizeof host, &port, err)) != HR_OK ||
        (st = check_params(p, err)) != HR_OK)
        return st;
    if ((st = hr__addr_resolve(host, port, 1, &res, err)) != HR_OK)
        return st;
    if (!p->tls.cert && !p->insecure_plain_tcp) {
        for (ai = res; ai; ai = ai->ai_next) {
            if (!hr__addr_is_loopback(ai->ai_addr)) {
                freeaddrinfo(res);
                return hr_error_set(err, HR_ERR_INVALID_ARG,
                                    "listen %s: plain TCP listens only on a loopback address (127.0.0.1, [::1]); "
                                    "use TLS (cert, key, ca) or, behind an SSH tunnel, insecure_plain_tcp "
                                    "(--insecure-plain-tcp)",
                                    addr);
            }
        }
    }
    l = calloc(1, sizeof *l);
    if (!l || !(l->role = strdup(p->role ? p->role : "server")) || (p->name && !(l->name = strdup(p->name)))) {
        freeaddrinfo(res);
        if (l)
            free(l->role);
        free(l);
        return hr_error_set(err, HR_ERR_NOMEM, "listen %s: out of memory", addr);
    }
    l->fd = -1;
    l->connect_timeout_ms = p->connect_timeout_ms;
    l->io_timeout_ms = p->io_timeout_ms;
    l->max_payload = p->max_payload;
    if (p->tls.cert && (st = hr__tls_ctx_create(&p->tls, 1, &l->ctx, err)) != HR_OK)
        goto fail;
    st = hr_error_set(err, HR_ERR_IO, "listen %s: no address to bind", addr);
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), one = 1;

        hr__addr_format(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
        if (fd < 0) {
            st = hr_error_set(err, HR_ERR_IO, "listen %s: socket: %s", where, strerror(errno));
            continue;
        }
        /* SO_REUSEADDR: a restarted server can bind while old connections
         * linger in TIME_WAIT. */
        if (setup_fd(fd, 0) < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
            st = hr_error_set(err, HR_ERR_IO, "listen %s: %s", where, strerror(errno));
            close(fd);
            continue;
        }
        l->fd = fd;
        st = HR_OK;
        break;
    }
    if (st != HR_OK)
        goto fail;
    if (getsockname(l->fd, (struct sockaddr *)&ss, &sslen) != 0) {
        st = hr_error_set(err, HR_ERR_IO, "listen %s: getsockname: %s", addr, strerror(errno));
        goto fail;
    }
    hr__addr_format((struct sockaddr *)&ss, sslen, l->addr, sizeof l->addr);
    l->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(res);
    *out = l;
    return HR_OK;

fail:
    freeaddrinfo(res);
    hr_listener_destroy(l);
    return st;
}

int hr_listener_port(const hr_listener *l)
{
    return l ? l->port : 0;
}

/* Waits for and accepts one connection. */
static hr_status accept_fd(hr_listener *l, int timeout_ms, int *fd_out, char *addr, size_t addrsz, hr_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        struct pollfd pfd = {l->fd, POLLIN, 0};
        int t = -1, r, fd;

        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            t = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
        r = poll(&pfd, 1, t);
        if (r < 0 && errno != EINTR)
            return hr_error_set(err, HR_ERR_IO, "%s: poll: %s", l->addr, strerror(errno));
        if (r <= 0) {
            if (deadline >= 0 && now_ms() >= deadline)
                return hr_error_set(err, HR_ERR_IO, "%s: timed out waiting for a connection (%d ms)", l->addr,
                                    timeout_ms);
            continue;
        }
        fd = accept(l->fd, (struct sockaddr *)&ss, &len);
        if (fd < 0) {
            /* Gone before we took it, or taken by another thread: wait on. */
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED ||
                errno == EPROTO)
                continue;
            return hr_error_set(err, HR_ERR_IO, "%s: accept: %s", l->addr, strerror(errno));
        }
        hr__addr_format((struct sockaddr *)&ss, len, addr, addrsz);
        if (setup_fd(fd, 1) < 0) {
            hr_status st = hr_error_set(err, HR_ERR_IO, "%s: socket options: %s", addr, strerror(errno));
            close(fd);
            return st;
        }
        *fd_out = fd;
        return HR_OK;
    }
}

hr_status hr_listener_accept_socket(hr_listener *l, int timeout_ms, int *fd, char *addr, size_t addrsz,
                                    hr_error *err)
{
    char where[HR__ADDR_TEXT_MAX];
    hr_status st;
    if (!l || !fd)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "accept: no listener or no output");
    if ((st = accept_fd(l, timeout_ms, fd, where, sizeof where, err)) != HR_OK)
        return st;
    if (addr && addrsz)
        snprintf(addr, addrsz, "%s", where);
    return HR_OK;
}

hr_status hr_listener_accept(hr_listener *l, int timeout_ms, hr_chan **out, hr_error *err)
{
    char where[HR__ADDR_TEXT_MAX];
    hr_chan *c;
    int fd = -1;
    hr_status st;

    if (!l || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "accept: no listener or no output");
    if ((st = accept_fd(l, timeout_ms, &fd, where, sizeof where, err)) != HR_OK)
        return st;
    c = chan_new(fd, where, l->max_payload, l->io_timeout_ms, l->connect_timeout_ms);
    if (!c) {
        close(fd);
        return hr_error_set(err, HR_ERR_NOMEM, "accept %s: out of memory", where);
    }
    c->setup_deadline = now_ms() + l->connect_timeout_ms;
    if (l->ctx) {
        BIO *bio;
        c->ssl = SSL_new(l->ctx);
        bio = c->ssl ? hr__tls_bio_new(fd) : NULL;
        if (!bio) {
            st = hr_error_set(err, HR_ERR_NOMEM, "%s: cannot create the TLS session", where);
            hr__tls_error_append(err);
            goto fail;
        }
        SSL_set_bio(c->ssl, bio, bio);
        SSL_set_accept_state(c->ssl);
        if ((st = tls_handshake(c, err)) != HR_OK)
            goto fail;
    }
    c->phase = "the hello exchange";
    if ((st = recv_hello(c, err)) != HR_OK || (st = send_hello(c, l->role, l->name, err)) != HR_OK)
        goto fail;
    c->setup_deadline = -1;
    c->phase = NULL;
    *out = c;
    return HR_OK;

fail:
    hr_chan_destroy(c);
    return st;
}

void hr_listener_destroy(hr_listener *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    SSL_CTX_free(l->ctx);
    free(l->role);
    free(l->name);
    free(l);
}
