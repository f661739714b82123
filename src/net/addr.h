/* Socket addresses for the transport and the libevent server (internal). */
#ifndef HR_NET_ADDR_H
#define HR_NET_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "hyperrep/error.h"

struct addrinfo;

/* Longest "[v6-address]:port" text plus its NUL. */
#define HR__ADDR_TEXT_MAX 64

/* Resolves host and port to stream-socket addresses (passive: for bind).
 * Numeric hosts are not looked up; names go through the resolver, which
 * may block. *res is freed with freeaddrinfo. HR_ERR_IO naming host:port
 * and the resolver's reason. */
hr_status hr__addr_resolve(const char *host, int port, int passive, struct addrinfo **res, hr_error *err);

/* 1 for 127.0.0.0/8, ::1 and IPv4-mapped 127.x addresses. */
int hr__addr_is_loopback(const struct sockaddr *sa);

/* "127.0.0.1:6006" or "[::1]:6006" into buf ("?" when the family is not IP). */
void hr__addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

#endif
