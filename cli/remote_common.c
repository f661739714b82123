/* Shared options and the accept step of the real-mode commands. */
#include "remote_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/weights.h"

void hr_cli_net_init(hr_cli_net *n)
{
    memset(n, 0, sizeof *n);
    n->net = hr_net_params_default();
    n->net.role = "server";
    n->listen = "127.0.0.1:6006";
}

static int parse_seconds(const char *cmd, const char *flag, const char *s, double lo, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!*s || errno || *end || !isfinite(v) || v < lo || v > 1e7) {
        hr_cli_fail(cmd, "%s: '%s' is not a number of seconds >= %g", flag, s, lo);
        return 0;
    }
    *out = v;
    return 1;
}

int hr_cli_net_option(const char *cmd, hr_cli_net *n, int c, const char *arg)
{
    double s;
    switch (c) {
    case HR_CLI_NET_TLS_CERT: n->net.tls.cert = arg; return 1;
    case HR_CLI_NET_TLS_KEY: n->net.tls.key = arg; return 1;
    case HR_CLI_NET_TLS_CA: n->net.tls.ca = arg; return 1;
    case HR_CLI_NET_LISTEN: n->listen = arg; return 1;
    case HR_CLI_NET_PORT_FILE: n->port_file = arg; return 1;
    case HR_CLI_NET_INSECURE_ANY: n->net.insecure_plain_tcp = 1; return 1;
    case HR_CLI_NET_ACCEPT_TIMEOUT: return parse_seconds(cmd, "--timeout-accept", arg, 0, &n->accept_timeout_s);
    case HR_CLI_NET_OLD_ACCEPT: hr_cli_renamed(cmd, "--accept-timeout", "--timeout-accept"); return 0;
    case HR_CLI_NET_OLD_IO: hr_cli_renamed(cmd, "--io-timeout", "--timeout-io"); return 0;
    case HR_CLI_NET_OLD_INSECURE: hr_cli_renamed(cmd, "--insecure-listen-any", "--insecure-plain-tcp"); return 0;
    case HR_CLI_NET_IO_TIMEOUT:
        if (!parse_seconds(cmd, "--timeout-io", arg, 0.001, &s))
            return 0;
        n->net.io_timeout_ms = (int)(s * 1000);
        return 1;
    default: return -1;
    }
}

int hr_cli_net_check(const char *cmd, const hr_cli_net *n)
{
    int k = !!n->net.tls.cert + !!n->net.tls.key + !!n->net.tls.ca;
    if (k != 0 && k != 3) {
        hr_cli_fail(cmd, "--tls-cert, --tls-key and --tls-ca go together (got %d of 3)", k);
        return 0;
    }
    return 1;
}

int hr_cli_accept_worker(const char *cmd, const hr_cli_net *n, hr_listener **l, hr_chan **c)
{
    hr_error err = {0};
    char host[256], text[64];
    int port;
    double t0 = hr_cli_now_ms();
    if (hr_net_parse_addr(n->listen, host, sizeof host, &port, &err) ||
        hr_listener_open(n->listen, &n->net, l, &err)) {
        hr_cli_fail(cmd, "%s", err.msg);
        return 0;
    }
    printf("listening on %s%s%s:%d%s\n", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
           hr_listener_port(*l), n->net.tls.cert ? " (TLS)" : "");
    fflush(stdout);
    if (n->port_file) {
        int len = snprintf(text, sizeof text, "%d\n", hr_listener_port(*l));
        if (hr_write_file_atomic(n->port_file, text, (size_t)len, &err)) {
            hr_cli_fail(cmd, "%s", err.msg);
            return 0;
        }
    }
    for (;;) {
        int wait = -1;
        if (n->accept_timeout_s > 0) {
            double left = n->accept_timeout_s * 1000 - (hr_cli_now_ms() - t0);
            if (left <= 0) {
                hr_cli_fail(cmd, "no worker connected within %g s (start `hyperrep client --server %s`)",
                            n->accept_timeout_s, n->listen);
                return 0;
            }
            wait = (int)left + 1;
        }
        if (hr_listener_accept(*l, wait, c, &err) == HR_OK)
            break;
        /* A peer that failed the handshake or the hello: say so, keep waiting
         * for a proper worker unless the wait itself ran out. */
        fprintf(stderr, "hyperrep %s: %s\n", cmd, err.msg);
        if (n->accept_timeout_s > 0 && hr_cli_now_ms() - t0 >= n->accept_timeout_s * 1000) {
            hr_cli_fail(cmd, "no worker connected within %g s", n->accept_timeout_s);
            return 0;
        }
    }
    printf("worker connected: %s%s\n", hr_chan_peer(*c), hr_chan_is_tls(*c) ? " (TLS, certificate verified)" : "");
    fflush(stdout);
    return 1;
}

void hr_cli_remote_log(void *user, const char *line)
{
    const char *cmd = user;
    fprintf(stderr, "hyperrep %s: %s\n", cmd ? cmd : "remote", line);
}

int hr_cli_has_option(int argc, char **argv, const char *flag, const char *value)
{
    size_t n = strlen(flag);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], flag, n) != 0)
            continue;
        if (!value && argv[i][n] == '\0')
            return 1;
        if (value && argv[i][n] == '=' && strcmp(argv[i] + n + 1, value) == 0)
            return 1;
        if (value && argv[i][n] == '\0' && i + 1 < argc && strcmp(argv[i + 1], value) == 0)
            return 1;
    }
    return 0;
}
