#include "net/addr.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "hyperrep/net.h"

/* Accepts "HOST:PORT" with HOST a name or an IPv4 address, and "[V6]:PORT".
 * An unbracketed host containing ':' is refused: "::1:6006" cannot be split
 * unambiguously. */
hr_status hr_net_parse_addr(const char *text, char *host, size_t hostsz, int *port, hr_error *err)
{
    const char *h, *colon, *p;
    size_t hlen;
    long v = 0;

    if (!text || !host || hostsz == 0 || !port)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "address: no text or output given");
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': expected [IPV6]:PORT", text);
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': expected HOST:PORT", text);
        h = text;
        hlen = (size_t)(colon - text);
        if (memchr(h, ':', hlen))
            return hr_error_set(err, HR_ERR_INVALID_ARG,
                                "address '%s': write an IPv6 address in brackets, e.g. [::1]:6006", text);
    }
    if (hlen == 0)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': the host is empty", text);
    if (hlen >= hostsz)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': the host is longer than %zu bytes", text,
                            hostsz - 1);
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)h[i] <= ' ' || h[i] == '[' || h[i] == ']' || h[i] == '/')
            return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': bad character in the host", text);
    p = colon + 1;
    if (!*p)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': the port is missing", text);
    /* Digits only, at most 5 of them: strtol would accept signs and spaces. */
    for (const char *q = p; *q; q++) {
        if (*q < '0' || *q > '9' || q - p >= 5)
            return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': port '%s' is not a number in 0..65535",
                                text, p);
        v = v * 10 + (*q - '0');
    }
    if (v > 65535)
        return hr_error_set(err, HR_ERR_INVALID_ARG, "address '%s': port %ld is over 65535", text, v);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    return HR_OK;
}

hr_status hr__addr_resolve(const char *host, int port, int passive, struct addrinfo **res, hr_error *err)
{
    struct addrinfo hints;
    char service[8];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* No AI_ADDRCONFIG: on a host whose only interface is loopback it hides
     * the very addresses the tests and SSH tunnels use. */
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    snprintf(service, sizeof service, "%d", port);
    rc = getaddrinfo(host, service, &hints, res);
    if (rc != 0)
        return hr_error_set(err, HR_ERR_IO, "%s:%d: cannot resolve: %s", host, port, gai_strerror(rc));
    return HR_OK;
}

int hr__addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char loop6[16] = {[15] = 1};
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(b, loop6, 16) == 0)
            return 1;
        return memcmp(b, mapped, 12) == 0 && b[12] == 127;
    }
    return 0;
}

void hr__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    /* NI_MAXHOST is not POSIX; a numeric IPv6 host with a zone id fits. */
    char host[INET6_ADDRSTRLEN + 32], serv[8];

    if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
        getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, size, "?");
        return;
    }
    snprintf(buf, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}
