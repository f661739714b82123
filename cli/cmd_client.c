/* hyperrep client: the edge worker of real mode (SPEC §10). It dials the
 * server (edge devices sit behind NAT), serves its commands and reconnects
 * with back-off when the connection is lost. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyperrep/remote.h"
#include "remote_common.h"

static const char *help =
    "usage: hyperrep client --server HOST:PORT [--name NAME] [--threads N] [--stay]\n"
    "         [--timeout-reconnect S] [--max-sessions N] [--tls-cert F --tls-key F --tls-ca F]\n"
    "         [--edge PROFILE | --edge-slowdown F]\n"
    "\n"
    "The edge worker of real mode. Dials the server (HOST:PORT of a driving command\n"
    "such as `hyperrep lut measure --remote --listen ...` or `hyperrep joint --mode real\n"
    "--listen ...`), retrying with exponential back-off (0.25 s doubling to 8 s, +-25%)\n"
    "until the server is up, then serves its commands: measuring this device's LUT,\n"
    "the link benchmark, and the head half of split alpha training and evaluation. A\n"
    "lost connection or a protocol error ends the session and the worker reconnects.\n"
    "After the server's SHUTDOWN it exits 0, or with --stay waits for the next\n"
    "experiment. The server's data source (e.g. Fashion-MNIST) must exist here too.\n"
    "\n"
    "options:\n"
    "  --server HOST:PORT  the server to dial (required)\n"
    "  --name NAME        this device's name in the hello (default: the host name)\n"
    "  --threads N        compute threads (1); the server may ask for another count\n"
    "  --stay             keep serving experiments after a shutdown\n"
    "  --timeout-reconnect S  exit (status 1) when no connection succeeds for S seconds\n"
    "                     (default: retry forever)\n"
    "  --max-sessions N   exit after N sessions however they end (tests)\n"
    "  --timeout-reply S  wait for the server's reply inside an exchange (120)\n"
    "  --max-model-mb N   largest model weights accepted from the server (4096)\n"
    "  --data SRC         an image folder the server may ask for besides fashion-mnist\n"
    "                     (the server names the source; nothing else is opened)\n"
    "  --quiet            no progress lines on stderr\n"
    "  --edge PROFILE     play an edge device (see `hyperrep lut profiles`) in the LUT this\n"
    "                     worker measures for `lut measure --remote`: its roofline here is\n"
    "                     measured at the LUT's threads and every entry scaled by the\n"
    "                     profile (the file records the profile, as `lut measure --role\n"
    "                     client --edge` does)\n"
    "  --edge-slowdown F  the flat form: every time of that LUT x F (F >= 1). With either,\n"
    "                     a server asking for its own slowdown is refused (one emulation per\n"
    "                     LUT). Head passes of split training and evaluation run unemulated\n" HR_CLI_NET_HELP;

enum { O_SERVER = 256, O_OLD_GIVE_UP, O_OLD_REPLY, O_NAME, O_THREADS, O_STAY, O_GIVE_UP, O_MAX_SESSIONS, O_REPLY, O_QUIET, O_MAX_MODEL, O_DATA,
       O_EDGE, O_EDGE_SLOWDOWN };

static int parse_seconds(const char *flag, const char *s, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!*s || errno || *end || !isfinite(v) || v < 0 || v > 1e7) {
        hr_cli_fail("client", "%s: '%s' is not a number of seconds", flag, s);
        return 0;
    }
    *out = v;
    return 1;
}

int hr_cmd_client(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, 0, O_SERVER},
                                         {"name", required_argument, 0, O_NAME},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"stay", no_argument, 0, O_STAY},
                                         {"timeout-reconnect", required_argument, 0, O_GIVE_UP},
                                         {"max-sessions", required_argument, 0, O_MAX_SESSIONS},
                                         {"timeout-reply", required_argument, 0, O_REPLY},
                                         /* old spellings: refused, naming the new ones */
                                         {"give-up", required_argument, 0, O_OLD_GIVE_UP},
                                         {"reply-timeout", required_argument, 0, O_OLD_REPLY},
                                         {"quiet", no_argument, 0, O_QUIET},
                                         {"max-model-mb", required_argument, 0, O_MAX_MODEL},
                                         {"data", required_argument, 0, O_DATA},
                                         {"edge", required_argument, 0, O_EDGE},
                                         {"edge-slowdown", required_argument, 0, O_EDGE_SLOWDOWN},
                                         {"help", no_argument, 0, 'h'},
                                         HR_CLI_NET_OPTIONS,
                                         {0, 0, 0, 0}};
    hr_worker_params wp = hr_worker_params_default();
    hr_cli_net net;
    hr_error err = {0};
    int64_t v;
    double s = 0;
    int c, r, quiet = 0;
    hr_cli_edge edge = {NULL, 0};
    hr_cli_net_init(&net);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_SERVER: wp.server = optarg; break;
        case O_DATA: wp.data = optarg; break;
        case O_NAME: net.net.name = optarg; break;
        case O_STAY: wp.stay = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_EDGE:
        case O_EDGE_SLOWDOWN:
            if (!hr_cli_edge_option("client", &edge, c == O_EDGE, optarg))
                return 2;
            break;
        case O_THREADS:
            if (!hr_cli_parse_i64("client", "--threads", optarg, 1, 1024, &v))
                return 2;
            wp.threads = (int)v;
            break;
        case O_MAX_MODEL:
            if (!hr_cli_parse_i64("client", "--max-model-mb", optarg, 1, 1 << 20, &v))
                return 2;
            wp.max_model_mb = (int)v;
            break;
        case O_MAX_SESSIONS:
            if (!hr_cli_parse_i64("client", "--max-sessions", optarg, 1, 1000000, &v))
                return 2;
            wp.max_sessions = (int)v;
            break;
        case O_OLD_GIVE_UP: return hr_cli_renamed("client", "--give-up", "--timeout-reconnect");
        case O_OLD_REPLY: return hr_cli_renamed("client", "--reply-timeout", "--timeout-reply");
        case O_GIVE_UP:
            if (!parse_seconds("--timeout-reconnect", optarg, &s))
                return 2;
            wp.give_up_ms = s > 0 ? (int)fmin(s * 1000, 2e9) : 0;
            break;
        case O_REPLY:
            if (!parse_seconds("--timeout-reply", optarg, &s))
                return 2;
            if (s < 0.001) {
                hr_cli_fail("client", "--timeout-reply must be at least 0.001 s");
                return 2;
            }
            wp.reply_timeout_ms = (int)fmin(s * 1000, 2e9);
            break;
        case 'h': fputs(help, stdout); return 0;
        default:
            r = hr_cli_net_option("client", &net, c, optarg);
            if (r == 1)
                break;
            if (r < 0)
                fputs(help, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        hr_cli_fail("client", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!wp.server) {
        hr_cli_fail("client", "--server HOST:PORT is required");
        return 2;
    }
    if (!hr_cli_net_check("client", &net))
        return 2;
    {
        char host[256];
        int port;
        if (hr_net_parse_addr(wp.server, host, sizeof host, &port, &err) || port == 0) {
            hr_cli_fail("client", "--server: %s", port == 0 && !err.msg[0] ? "port 0 cannot be dialled" : err.msg);
            return 2;
        }
    }
    net.net.role = "client";
    wp.net = net.net;
    wp.log = quiet ? NULL : hr_cli_remote_log;
    wp.log_user = (void *)"client";
    if (edge.profile && hr_edge_profile_find(edge.profile, &wp.edge, &err)) {
        hr_cli_fail("client", "--edge: %s", err.msg);
        return 2;
    }
    wp.edge_slowdown = edge.slowdown;
    if (hr_worker_run(&wp, &err)) {
        hr_cli_fail("client", "%s", err.msg);
        return 1;
    }
    return 0;
}
