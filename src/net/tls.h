/* OpenSSL 3 set-up shared by the blocking transport (chan.c) and the
 * libevent server (internal).
 *
 * Both sides run TLS 1.3 only with mutual authentication: every certificate
 * must chain to the CA file of the side that checks it, a server demands a
 * client certificate, and the subject CN of the verified peer certificate is
 * the peer's identity. OpenSSL's default verification purpose also checks
 * the extended key usage (serverAuth for servers, clientAuth for clients),
 * which scripts/make-certs.sh sets. */
#ifndef HR_NET_TLS_H
#define HR_NET_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "hyperrep/error.h"
#include "hyperrep/net.h"

/* A new SSL_CTX for a server (server != 0: verifies the client, whose
 * certificate is mandatory) or a client (verifies the server against the
 * CA; the name check is per connection, see hr__tls_set_host). TLS 1.3 only,
 * no session tickets. Loads p->cert (PEM chain), p->key and p->ca and checks
 * that the key matches the certificate. *out is set only on success and is
 * freed with SSL_CTX_free. HR_ERR_INVALID_ARG (a path missing), HR_ERR_IO (a
 * file cannot be opened: "ca.crt: No such file or directory"), HR_ERR_FORMAT
 * (not PEM, or "client.key: does not match client.crt"), HR_ERR_NOMEM. */
hr_status hr__tls_ctx_create(const hr_tls_params *p, int server, SSL_CTX **out, hr_error *err);

/* Makes a client SSL check that the server's certificate is for `host`: an
 * IP address is matched against the certificate's IP SANs, a name against
 * its DNS SANs (and sent as SNI). HR_ERR_INTERNAL when OpenSSL refuses. */
hr_status hr__tls_set_host(SSL *ssl, const char *host, hr_error *err);

/* A BIO on a connected socket that writes with send(MSG_NOSIGNAL), so a
 * peer that has gone away is an EPIPE error, never a SIGPIPE that would kill
 * the process (OpenSSL's socket BIO uses write()). Non-blocking sockets are
 * reported as retryable like OpenSSL's own. The BIO answers BIO_get_fd
 * (libevent's bufferevent_openssl_socket_new accepts an SSL that already
 * has it) and does not close fd. NULL on allocation failure. */
BIO *hr__tls_bio_new(int fd);

/* Subject CN of the peer's certificate into buf (NUL-terminated, truncated
 * to size - 1), "" when there is no peer certificate or it did not verify.
 * Bytes outside printable ASCII become '?', since the name goes into logs. */
void hr__tls_peer_cn(SSL *ssl, char *buf, size_t size);

/* Writes OpenSSL's queued errors of this thread into buf as "reason;
 * reason" (NUL-terminated; "" when the queue is empty) and clears the
 * queue. Returns buf. */
char *hr__tls_errors(char *buf, size_t size);

/* Appends ": " and OpenSSL's queued errors (see hr__tls_errors) to err's
 * message when err is not NULL and the queue is not empty; always clears
 * the queue. */
void hr__tls_error_append(hr_error *err);

/* 1 when the last failure of this thread's OpenSSL error queue (not
 * cleared) is about a certificate: ours rejected by the peer (alerts bad
 * certificate, unknown CA, certificate required...) or the peer's rejected
 * by us. Such failures do not go away by retrying. */
int hr__tls_error_is_cert(void);

#endif
