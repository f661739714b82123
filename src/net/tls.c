#include "net/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

char *hr__tls_errors(char *buf, size_t size)
{
    size_t off = 0;
    const char *data;
    int flags;
    unsigned long e;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *reason = ERR_reason_error_string(e);
        char code[32];
        int n;

        if (!reason) {
            snprintf(code, sizeof code, "error %08lx", e);
            reason = code;
        }
        if (off + 1 >= size)
            continue; /* keep draining the queue */
        n = snprintf(buf + off, size - off, "%s%s%s%s", off ? "; " : "", reason,
                     (flags & ERR_TXT_STRING) && data && *data ? " " : "",
                     (flags & ERR_TXT_STRING) && data ? data : "");
        if (n < 0)
            break;
        off += (size_t)n < size - off ? (size_t)n : size - off - 1;
    }
    return buf;
}

void hr__tls_error_append(hr_error *err)
{
    char why[256];

    hr__tls_errors(why, sizeof why);
    if (err && why[0]) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, ": %s", why);
    }
}

int hr__tls_error_is_cert(void)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0 || ERR_GET_LIB(e) != ERR_LIB_SSL)
        return 0;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return 1;
    default:
        return 0;
    }
}

/* OpenSSL would otherwise ask for the pass phrase of an encrypted key on the
 * terminal, which a service must never do: such a key simply fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *user)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)user;
    return -1;
}

/* Fails with HR_ERR_IO naming the file when it cannot be opened, so the
 * message says "No such file or directory" rather than OpenSSL's
 * "system library" chain. */
static hr_status check_readable(const char *what, const char *path, hr_error *err)
{
    FILE *f;

    if (!path || !*path)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "tls: the %s file is not set", what);
    f = fopen(path, "rb");
    if (!f)
        return hr_error_set(err, HR_ERR_IO, "%s: %s", path, strerror(errno));
    fclose(f);
    return HR_OK;
}

hr_status hr__tls_ctx_create(const hr_tls_params *p, int server, SSL_CTX **out, hr_error *err)
{
    SSL_CTX *ctx;
    hr_status st;

    if (!p || !out)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "tls: no parameters");
    if ((st = check_readable("certificate", p->cert, err)) != HR_OK ||
        (st = check_readable("key", p->key, err)) != HR_OK || (st = check_readable("CA", p->ca, err)) != HR_OK)
        return st;

    ERR_clear_error();
    ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        hr_error_set(err, HR_ERR_NOMEM, "tls: cannot create an SSL context");
        hr__tls_error_append(err);
        return HR_ERR_NOMEM;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
        st = hr_error_set(err, HR_ERR_INTERNAL, "tls: cannot restrict the context to TLS 1.3");
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    if (SSL_CTX_use_certificate_chain_file(ctx, p->cert) != 1) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: cannot load the certificate", p->cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL checks the key against the certificate while loading it. */
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: does not match %s", p->key, p->cert);
        else
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: cannot load the private key (PEM, unencrypted)", p->key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: does not match %s", p->key, p->cert);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, p->ca, NULL) != 1) {
        st = hr_error_set(err, HR_ERR_FORMAT, "%s: cannot load the CA certificate", p->ca);
        goto fail;
    }
    if (server) {
        /* The CA names tell a client which of its certificates to present. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(p->ca);
        if (!names) {
            st = hr_error_set(err, HR_ERR_FORMAT, "%s: no CA certificate in it", p->ca);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /* Sessions are never resumed, and tickets would be one more message
         * for a client to read before its first frame. */
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    /* Frames are written in pieces as the socket drains (see chan.c), and a
     * retried write may come from a buffer that moved. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ERR_clear_error();
    *out = ctx;
    return HR_OK;

fail:
    hr__tls_error_append(err);
    SSL_CTX_free(ctx);
    return st;
}

hr_status hr__tls_set_host(SSL *ssl, const char *host, hr_error *err)
{
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);

    if (ip) {
        /* An address literal: match the IP SANs; no SNI (RFC 6066 forbids
         * literal addresses there). */
        ASN1_OCTET_STRING_free(ip);
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
            goto fail;
        return HR_OK;
    }
    ERR_clear_error();
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
        goto fail;
    return HR_OK;

fail:
    hr_error_set(err, HR_ERR_INTERNAL, "tls: cannot set the expected server name '%s'", host);
    hr__tls_error_append(err);
    return HR_ERR_INTERNAL;
}

void hr__tls_peer_cn(SSL *ssl, char *buf, size_t size)
{
    X509 *cert;
    X509_NAME *subject;
    unsigned char *utf8 = NULL;
    int idx, len;

    if (size == 0)
        return;
    buf[0] = '\0';
    if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK)
        return;
    cert = SSL_get0_peer_certificate(ssl);
    if (!cert || !(subject = X509_get_subject_name(cert)))
        return;
    idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx < 0)
        return;
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
    if (len < 0)
        return;
    for (int i = 0; i < len && (size_t)i + 1 < size; i++) {
        buf[i] = utf8[i] >= 0x20 && utf8[i] < 0x7f ? (char)utf8[i] : '?';
        buf[i + 1] = '\0';
    }
    OPENSSL_free(utf8);
}

/* --- a socket BIO that cannot raise SIGPIPE ------------------------------ */

static int bio_write(BIO *b, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    n = recv(fd, buf, (size_t)len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        return -1;
    }
    return (int)n; /* 0: the peer closed */
}

static int bio_puts(BIO *b, const char *s)
{
    return bio_write(b, s, (int)strlen(s));
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    switch (cmd) {
    case BIO_C_GET_FD:
        if (!BIO_get_init(b))
            return -1;
        if (ptr)
            *(int *)ptr = (int)(intptr_t)BIO_get_data(b);
        return (long)(intptr_t)BIO_get_data(b);
    case BIO_CTRL_FLUSH:
        return 1; /* nothing is buffered here */
    default:
        return 0;
    }
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* The method table is built once per process and never freed: it is
 * immutable after creation and shared by every connection of every thread. */
static void bio_method_init(void)
{
    int type = BIO_get_new_index();
    BIO_METHOD *m;

    if (type == -1)
        return;
    m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "hyperrep socket");
    if (!m)
        return;
    if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) || !BIO_meth_set_puts(m, bio_puts) ||
        !BIO_meth_set_ctrl(m, bio_ctrl)) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m;
}

BIO *hr__tls_bio_new(int fd)
{
    BIO *b;

    if (pthread_once(&bio_once, bio_method_init) != 0 || !bio_method)
        return NULL;
    b = BIO_new(bio_method);
    if (!b)
        return NULL;
    BIO_set_data(b, (void *)(intptr_t)fd);
    BIO_set_init(b, 1);
    return b;
}
