/* hyperrep serve: the cloud side of split inference (SPEC §10). Runs the
 * tail of every connected edge's deployment until SIGINT / SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "hyperrep/serve.h"
#include "remote_common.h"

static const char *help =
    "usage: hyperrep serve [--listen 127.0.0.1:6006] [--tls-cert C --tls-key K --tls-ca CA]\n"
    "         [--workers N] [--threads N] [--max-clients N] [--max-pending N] [--max-pending-per-source N]\n"
    "         [--max-queue N] [--max-model-mb N]\n"
    "         [--timeout-idle S] [--timeout-frame S] [--timeout-handshake S] [--port-file F] [--quiet]\n"
    "\n"
    "The cloud side of split inference: every edge that runs `hyperrep infer --server`\n"
    "connects, sends its deployment (model, split, gamma per block, alpha, weights) and\n"
    "streams crossing tensors; the server builds that edge's tail (blocks [s, N) and the\n"
    "classifier; for the raw placement the edge sends 8-bit images and the tail runs\n"
    "everything) and answers each frame with its class. Many edges are served at once,\n"
    "each with its own configuration. Sockets run on one event loop (libevent), the\n"
    "tails on --workers compute threads; an edge stays on the worker that built its\n"
    "model, so its frames are answered in order. Runs until SIGINT or SIGTERM, then\n"
    "closes every session and exits.\n"
    "\n"
    "One log line on stderr per connect, disconnect and error, naming the peer (its\n"
    "certificate CN under TLS, else its address). A malformed, oversized, out-of-\n"
    "sequence or truncated frame, a frame slower than --timeout-frame, or a session idle\n"
    "for --timeout-idle closes that session with an ERROR frame; the others go on.\n"
    "\n"
    "options:\n"
    "  --listen ADDR      address to listen on (127.0.0.1:6006; port 0 picks a free one,\n"
    "                     printed as \"listening on HOST:PORT\"). Without TLS only a\n"
    "                     loopback address is accepted unless --insecure-plain-tcp\n"
    "  --port-file F      also write the bound port to F\n"
    "  --insecure-plain-tcp  allow plain TCP on a non-loopback address (behind an SSH tunnel)\n"
    "  --workers N        compute threads (2), each with its own context\n"
    "  --threads N        threads of each worker's context (1)\n"
    "  --max-clients N    sessions at once, counted after the TLS handshake and the hello;\n"
    "                     more are refused with an ERROR frame (256)\n"
    "  --max-pending N    connections still in the TLS handshake or before their hello; at\n"
    "                     the bound the oldest is closed, never the newcomer (64)\n"
    "  --max-pending-per-source N  of those, from one address; at the bound that address's\n"
    "                     oldest is closed (16)\n"
    "  --max-queue N      frames of one session queued or running before its socket stops\n"
    "                     being read (back-pressure) (4)\n"
    "  --max-model-mb N   largest inline weights of one session, MiB (1024)\n"
    "  --timeout-idle S   close a session without a complete frame for S seconds (120)\n"
    "  --timeout-frame S  a frame that has started must be complete within S seconds (30)\n"
    "  --timeout-handshake S  TCP accept to hello, TLS included (10)\n"
    "  --quiet            only errors on stderr\n"
    "  --tls-cert F --tls-key F --tls-ca F  mutual TLS 1.3: the server's certificate and key,\n"
    "                     and the CA that signed the edges' certificates (scripts/make-certs.sh)\n";

enum { OPT_WORKERS = 1, OPT_OLD_IDLE, OPT_OLD_FRAME, OPT_OLD_HANDSHAKE, OPT_THREADS, OPT_MAX_CLIENTS, OPT_MAX_PENDING, OPT_MAX_PENDING_SRC, OPT_MAX_QUEUE, OPT_MAX_MODEL, OPT_IDLE, OPT_FRAME, OPT_HANDSHAKE,
       OPT_QUIET };

static int parse_seconds(const char *flag, const char *s, int *ms)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!*s || errno || *end || !isfinite(v) || v < 0.001 || v > 1e6) {
        hr_cli_fail("serve", "%s: '%s' is not a number of seconds in 0.001..1000000", flag, s);
        return 0;
    }
    *ms = (int)(v * 1000 + 0.5);
    return 1;
}

static void log_line(void *user, hr_log_level level, const char *line)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tmv;
    (void)user, (void)level;
    localtime_r(&now, &tmv);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tmv);
    fprintf(stderr, "%s %s\n", ts, line);
    fflush(stderr);
}

int hr_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"workers", required_argument, 0, OPT_WORKERS},
        {"threads", required_argument, 0, OPT_THREADS},
        {"max-clients", required_argument, 0, OPT_MAX_CLIENTS},
        {"max-pending", required_argument, 0, OPT_MAX_PENDING},
        {"max-pending-per-source", required_argument, 0, OPT_MAX_PENDING_SRC},
        {"max-queue", required_argument, 0, OPT_MAX_QUEUE},
        {"max-model-mb", required_argument, 0, OPT_MAX_MODEL},
        {"timeout-idle", required_argument, 0, OPT_IDLE},
        {"timeout-frame", required_argument, 0, OPT_FRAME},
        {"timeout-handshake", required_argument, 0, OPT_HANDSHAKE},
        /* old spellings: refused, naming the new ones */
        {"idle-timeout", required_argument, 0, OPT_OLD_IDLE},
        {"frame-timeout", required_argument, 0, OPT_OLD_FRAME},
        {"handshake-timeout", required_argument, 0, OPT_OLD_HANDSHAKE},
        {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, 'h'},
        HR_CLI_NET_OPTIONS,
        {0, 0, 0, 0}};
    hr_server_params sp = hr_server_params_default();
    hr_cli_net net;
    hr_server *srv = NULL;
    hr_server_stats st;
    hr_error err = {0};
    int64_t v;
    int c, r;

    hr_cli_net_init(&net);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_WORKERS:
            if (!hr_cli_parse_i64("serve", "--workers", optarg, 1, 1024, &v))
                return 2;
            sp.workers = (int)v;
            break;
        case OPT_THREADS:
            if (!hr_cli_parse_i64("serve", "--threads", optarg, 1, 1024, &v))
                return 2;
            sp.threads_per_model = (int)v;
            break;
        case OPT_MAX_PENDING:
        case OPT_MAX_PENDING_SRC:
            if (!hr_cli_parse_i64("serve", c == OPT_MAX_PENDING ? "--max-pending" : "--max-pending-per-source", optarg,
                                  1, 1000000, &v))
                return 2;
            *(c == OPT_MAX_PENDING ? &sp.max_pending : &sp.max_pending_per_source) = (int)v;
            break;
        case OPT_MAX_CLIENTS:
            if (!hr_cli_parse_i64("serve", "--max-clients", optarg, 1, 1000000, &v))
                return 2;
            sp.max_clients = (int)v;
            break;
        case OPT_MAX_QUEUE:
            if (!hr_cli_parse_i64("serve", "--max-queue", optarg, 1, 4096, &v))
                return 2;
            sp.max_queue = (int)v;
            break;
        case OPT_MAX_MODEL:
            if (!hr_cli_parse_i64("serve", "--max-model-mb", optarg, 1, 1 << 20, &v))
                return 2;
            sp.max_model_bytes = (uint64_t)v << 20;
            break;
        case OPT_OLD_IDLE: return hr_cli_renamed("serve", "--idle-timeout", "--timeout-idle");
        case OPT_OLD_FRAME: return hr_cli_renamed("serve", "--frame-timeout", "--timeout-frame");
        case OPT_OLD_HANDSHAKE: return hr_cli_renamed("serve", "--handshake-timeout", "--timeout-handshake");
        case OPT_IDLE:
            if (!parse_seconds("--timeout-idle", optarg, &sp.idle_timeout_ms))
                return 2;
            break;
        case OPT_FRAME:
            if (!parse_seconds("--timeout-frame", optarg, &sp.frame_timeout_ms))
                return 2;
            break;
        case OPT_HANDSHAKE:
            if (!parse_seconds("--timeout-handshake", optarg, &sp.handshake_timeout_ms))
                return 2;
            break;
        case OPT_QUIET: sp.log_level = HR_LOG_WARN; break;
        case 'h': fputs(help, stdout); return 0;
        default:
            r = hr_cli_net_option("serve", &net, c, optarg);
            if (r == 0)
                return 2;
            if (r < 0) {
                fputs(help, stderr);
                return 2;
            }
        }
    }
    if (optind != argc) {
        hr_cli_fail("serve", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!hr_cli_net_check("serve", &net))
        return 2;
    sp.listen = net.listen;
    sp.tls = net.net.tls;
    sp.insecure_plain_tcp = net.net.insecure_plain_tcp;
    sp.handle_signals = 1;
    sp.log = log_line;
    if (hr_server_create(&sp, &srv, &err)) {
        hr_cli_fail("serve", "%s", err.msg);
        return 1;
    }
    {
        char host[256], text[32];
        int port;
        if (hr_net_parse_addr(net.listen, host, sizeof host, &port, NULL) == HR_OK)
            printf("listening on %s%s%s:%d%s\n", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                   hr_server_port(srv), net.net.tls.cert ? " (TLS)" : "");
        fflush(stdout);
        if (net.port_file) {
            int len = snprintf(text, sizeof text, "%d\n", hr_server_port(srv));
            if (hr_write_file_atomic(net.port_file, text, (size_t)len, &err)) {
                hr_cli_fail("serve", "%s", err.msg);
                hr_server_destroy(srv);
                return 1;
            }
        }
    }
    /* libevent writes plain sockets with writev: a vanished edge must be an
     * error on that session, not a signal that ends the server */
    signal(SIGPIPE, SIG_IGN);
    if (hr_server_run(srv, &err)) {
        hr_cli_fail("serve", "%s", err.msg);
        hr_server_destroy(srv);
        return 1;
    }
    hr_server_get_stats(srv, &st);
    hr_server_destroy(srv);
    fprintf(stderr,
            "hyperrep serve: stopped: %llu connections (%llu refused), %llu deployments, %llu frames, "
            "%llu protocol errors, %llu timeouts\n",
            (unsigned long long)st.accepted, (unsigned long long)st.refused, (unsigned long long)st.deployed,
            (unsigned long long)st.frames, (unsigned long long)st.protocol_errors, (unsigned long long)st.timeouts);
    return 0;
}
