/* Transport: framed messages (proto.h) over TCP, optionally inside mutual
 * TLS 1.3 (OpenSSL), with blocking calls bounded by timeouts.
 *
 * This is the transport of the edge worker (`hyperrep client`), of the
 * experiment drivers that accept one worker (`lut measure --remote`, `joint
 * --mode real`) and of `hyperrep infer`. The multi-client deployment server
 * (`hyperrep serve`) runs the same framing and TLS set-up on libevent.
 *
 * Security rules (SPEC §10):
 *  - with TLS, both sides present a certificate signed by the CA file, TLS
 *    1.3 only; the peer's certificate subject CN is its identity;
 *  - without TLS, a listener binds only to a loopback address and a
 *    connection dials only one, unless params.insecure_plain_tcp is set on
 *    that side (behind an SSH tunnel, or the testbed's namespaces).
 *
 * Every channel starts with a hello exchange (HR_MSG_HELLO both ways,
 * metadata {"protocol": 1, "role": "...", "name": "...", "software":
 * "hyperrep x.y.z"}); a peer speaking another protocol version gets an
 * HR_MSG_ERROR frame and the channel is closed.
 *
 * A channel is used by one thread at a time. Receiving is bounded: a frame
 * whose header is not complete within the timeout, or whose payload stalls
 * for longer than params.io_timeout_ms, fails with HR_ERR_IO ("timed out")
 * and the channel is unusable afterwards (destroy it). Only a receive that
 * timed out before any byte of the frame arrived leaves the channel usable.
 *
 * The library never raises SIGPIPE (sockets are written with MSG_NOSIGNAL,
 * TLS included) and never changes the process's signal handling. Host names
 * are resolved with getaddrinfo(), which may block beyond the timeouts. */
#ifndef HYPERREP_NET_H
#define HYPERREP_NET_H

#include <stdint.h>

#include "hyperrep/error.h"
#include "hyperrep/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hr_tls_params {
    const char *cert;  /* PEM certificate of this side; NULL (with key and ca): plain TCP */
    const char *key;   /* PEM private key */
    const char *ca;    /* PEM CA that signed the peer's certificate */
} hr_tls_params;

typedef struct hr_net_params {
    hr_tls_params tls;
    int connect_timeout_ms;   /* TCP connect + TLS handshake + hello: 10000 */
    int io_timeout_ms;        /* longest stall inside one frame, send or receive: 30000 */
    uint32_t max_payload;     /* largest frame accepted: HR_PROTO_MAX_PAYLOAD */
    int insecure_plain_tcp;   /* allow plain TCP to or on a non-loopback address: 0 */
    const char *role;         /* hello "role" ("client", "server", "infer"); NULL (the
                                 default): "client" when connecting, "server" when listening */
    const char *name;         /* hello "name" (device name); NULL (the default): the host name */
} hr_net_params;

hr_net_params hr_net_params_default(void);

/* Parses "HOST:PORT" ("127.0.0.1:6006", "[::1]:6006", "localhost:0") into
 * host (NUL-terminated, at most hostsz - 1 bytes) and port (0..65535).
 * HR_ERR_INVALID_ARG naming the text. */
hr_status hr_net_parse_addr(const char *text, char *host, size_t hostsz, int *port, hr_error *err);

typedef struct hr_chan hr_chan;

/* Connects to addr ("HOST:PORT"), does the TLS handshake (when
 * params->tls.cert is set) and the hello exchange, all within
 * connect_timeout_ms. Under TLS the server's certificate must also name the
 * host of addr (an IP SAN for an address, a DNS SAN for a name; the peer
 * identity is its CN). HR_ERR_IO (refused,
 * unreachable, timed out, handshake failed — the message names the address
 * and OpenSSL's reason), HR_ERR_UNSUPPORTED (protocol version), HR_ERR_FORMAT
 * (a malformed hello), HR_ERR_INVALID_ARG. */
hr_status hr_chan_connect(const char *addr, const hr_net_params *params, hr_chan **out, hr_error *err);

/* hr_chan_connect retried with exponential back-off (250 ms doubling to 8 s,
 * ±25 % jitter) until it succeeds or give_up_ms has passed (0: forever; an
 * attempt's connect timeout is cut to the time left, and the call gives up
 * early when the next attempt could not start in time). The message then
 * starts "gave up after N attempts in T ms" and ends with the last failure.
 * Errors that a retry cannot cure are returned at once: bad arguments or
 * certificate files, HR_ERR_UNSUPPORTED (protocol version), a malformed
 * hello, a certificate refused by either side, and TLS talking to plain
 * TCP. on_retry (NULL allowed)
 * is told each failure and the wait before the next attempt. */
hr_status hr_chan_connect_retry(const char *addr, const hr_net_params *params, int give_up_ms,
                                void (*on_retry)(void *user, const hr_error *why, int wait_ms), void *user,
                                hr_chan **out, hr_error *err);

/* Closes the channel (TLS: with close_notify) and frees it; NULL is a no-op.
 * When this side has told the peer why it is dropped (an ERROR frame, or a
 * TLS alert after a failed handshake), the close first waits up to 2 s for
 * the peer to close, discarding its input: closing on unread input would
 * send a TCP reset that can destroy the explanation before it is read. */
void hr_chan_destroy(hr_chan *c);

/* Sends one message (see hr_msg_encode). HR_ERR_IO when the peer is gone or
 * a write stalls past io_timeout_ms. */
hr_status hr_chan_send(hr_chan *c, hr_msg_type type, uint32_t id, const char *meta, const hr_wire_tensor *tensors,
                       int n, hr_error *err);
/* Sends an HR_MSG_ERROR frame {"status": st, "message": msg (control
 * characters blanked)}; best effort: failures are ignored, and a peer that
 * does not read can hold it up to io_timeout_ms. */
void hr_chan_send_error(hr_chan *c, uint32_t id, hr_status st, const char *msg);

/* Receives one message into out (init'd by the caller; deinit'd and refilled
 * on success, left empty on failure). timeout_ms bounds the wait for the
 * frame to start (-1: forever); once it has started, io_timeout_ms bounds
 * every stall. The header is checked against params.max_payload before the
 * payload is allocated. An HR_MSG_ERROR frame from the peer is returned as
 * the status it carries (HR_ERR_INTERNAL when that is not a known error),
 * with the message "peer <hr_chan_peer>: <its message>". HR_ERR_IO (closed,
 * timed out, reset), HR_ERR_FORMAT, HR_ERR_UNSUPPORTED (another frame
 * version) and HR_ERR_LIMIT (malformed or oversized frames: the peer is
 * sent an ERROR frame, best effort, and the caller should close). */
hr_status hr_chan_recv(hr_chan *c, int timeout_ms, hr_msg *out, hr_error *err);

/* Receives one message and checks its type is `expect` (any other type is
 * HR_ERR_FORMAT "expected forward, got ack"; an ERROR frame is returned as
 * its status). */
hr_status hr_chan_expect(hr_chan *c, hr_msg_type expect, int timeout_ms, hr_msg *out, hr_error *err);

/* Waits until the channel has data to read (a frame has started, or the
 * peer closed) or wake_fd (any readable descriptor; -1: none) is readable,
 * at most timeout_ms (-1: forever). Reads nothing: *readable is 1 when the
 * next hr_chan_recv has bytes to work on, 0 when wake_fd fired or the time
 * ran out. Lets one thread own a channel and still react at once to work
 * handed over by another (hyperrep infer's link thread). HR_ERR_IO when
 * poll fails. */
hr_status hr_chan_wait(hr_chan *c, int wake_fd, int timeout_ms, int *readable, hr_error *err);

/* 1 while the channel can still receive: after a receive that timed out
 * before any byte of a frame arrived (the only failure that leaves it in
 * step), or no failure at all; 0 once a receive has failed otherwise. Lets a
 * caller polling with short timeouts tell "nothing yet" from a broken link
 * without reading error text. */
int hr_chan_can_receive(const hr_chan *c);

/* The peer's identity: its certificate CN under TLS, else "HOST:PORT". */
const char *hr_chan_peer(const hr_chan *c);
/* The peer's hello metadata (JSON object text). */
const char *hr_chan_peer_hello(const hr_chan *c);
/* 1 when the channel runs over TLS. */
int hr_chan_is_tls(const hr_chan *c);
/* Bytes of frames sent and received so far (headers and the hello
 * included; TLS record overhead not). */
void hr_chan_counters(const hr_chan *c, uint64_t *sent, uint64_t *received);

typedef struct hr_listener hr_listener;

/* Listens on addr ("127.0.0.1:6006"; port 0 picks a free one). Without TLS a
 * non-loopback address is refused (HR_ERR_INVALID_ARG, saying to use TLS or
 * insecure_plain_tcp). Loads and checks the certificate, key and CA up
 * front (HR_ERR_IO / HR_ERR_FORMAT naming the file). */
hr_status hr_listener_open(const char *addr, const hr_net_params *params, hr_listener **out, hr_error *err);
/* The bound port (useful with port 0). */
int hr_listener_port(const hr_listener *l);
/* Accepts one peer, does the TLS handshake and the hello exchange (together
 * bounded by connect_timeout_ms). timeout_ms bounds the wait for a
 * connection (-1: forever; 0: only one already waiting). A peer that fails the
 * handshake or the hello is logged into err and dropped: the call returns
 * that error and the listener stays usable. */
hr_status hr_listener_accept(hr_listener *l, int timeout_ms, hr_chan **out, hr_error *err);
/* Accepts one TCP connection and returns its socket (non-blocking,
 * TCP_NODELAY, close-on-exec) without a TLS handshake or a hello, for a
 * server that does those itself (hr_server_adopt); the peer's "HOST:PORT"
 * goes to addr. timeout_ms as hr_listener_accept. The caller owns *fd. */
hr_status hr_listener_accept_socket(hr_listener *l, int timeout_ms, int *fd, char *addr, size_t addrsz,
                                    hr_error *err);
void hr_listener_destroy(hr_listener *l);

#ifdef __cplusplus
}
#endif
#endif
