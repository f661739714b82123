/* Pieces shared by the real-mode commands (client, lut measure --remote,
 * joint --mode real): TLS and listening options, accepting the worker. */
#ifndef HR_CLI_REMOTE_COMMON_H
#define HR_CLI_REMOTE_COMMON_H

#include <getopt.h>

#include "hyperrep/net.h"

/* Long options every real-mode command accepts (their values are the
 * HR_CLI_NET_* codes below; append them to the command's option table). */
enum {
    HR_CLI_NET_TLS_CERT = 1000,
    HR_CLI_NET_TLS_KEY,
    HR_CLI_NET_TLS_CA,
    HR_CLI_NET_LISTEN,
    HR_CLI_NET_PORT_FILE,
    HR_CLI_NET_ACCEPT_TIMEOUT,
    HR_CLI_NET_INSECURE_ANY,
    HR_CLI_NET_IO_TIMEOUT,
    HR_CLI_NET_OLD_ACCEPT, /* old spellings: refused, naming the new ones */
    HR_CLI_NET_OLD_IO,
    HR_CLI_NET_OLD_INSECURE
};

#define HR_CLI_NET_OPTIONS                                                                                            \
    {"tls-cert", required_argument, 0, HR_CLI_NET_TLS_CERT}, {"tls-key", required_argument, 0, HR_CLI_NET_TLS_KEY},   \
        {"tls-ca", required_argument, 0, HR_CLI_NET_TLS_CA}, {"listen", required_argument, 0, HR_CLI_NET_LISTEN},     \
        {"port-file", required_argument, 0, HR_CLI_NET_PORT_FILE},                                                    \
        {"timeout-accept", required_argument, 0, HR_CLI_NET_ACCEPT_TIMEOUT},                                          \
        {"insecure-plain-tcp", no_argument, 0, HR_CLI_NET_INSECURE_ANY},                                              \
        {"insecure-listen-any", no_argument, 0, HR_CLI_NET_OLD_INSECURE},                                             \
        {"timeout-io", required_argument, 0, HR_CLI_NET_IO_TIMEOUT},                                                  \
        {"accept-timeout", required_argument, 0, HR_CLI_NET_OLD_ACCEPT},                                              \
        {"io-timeout", required_argument, 0, HR_CLI_NET_OLD_IO}

/* Help text of those options. */
#define HR_CLI_NET_HELP                                                                                               \
    "  --tls-cert F --tls-key F --tls-ca F  mutual TLS 1.3: this side's certificate and key, and\n"                  \
    "                     the CA that signed the peer's (scripts/make-certs.sh); without them plain\n"            \
    "                     TCP, to and on a loopback address only (use an SSH tunnel between\n"                    \
    "                     machines; --insecure-plain-tcp lifts the rule on this side)\n"                          \
    "  --timeout-io S     longest stall inside one frame (30)\n"

#define HR_CLI_LISTEN_HELP                                                                                            \
    "  --listen ADDR      where the worker (`hyperrep client`) dials in (127.0.0.1:6006;\n"                      \
    "                     port 0 picks a free one, printed as \"listening on HOST:PORT\")\n"                     \
    "  --port-file F      also write the bound port to F\n"                                                       \
    "  --timeout-accept S give up when no worker connects within S seconds (0: wait forever)\n"                   \
    "  --insecure-plain-tcp  allow plain TCP on a non-loopback address (behind an SSH tunnel)\n"

typedef struct hr_cli_net {
    hr_net_params net;
    const char *listen;       /* default 127.0.0.1:6006 */
    const char *port_file;
    double accept_timeout_s;  /* 0: forever */
} hr_cli_net;

void hr_cli_net_init(hr_cli_net *n);

/* Handles one of the HR_CLI_NET_* option codes: 1 when c was one of them
 * and its value is good, 0 when it was one and the value is bad (error
 * printed), -1 when c is not a network option. */
int hr_cli_net_option(const char *cmd, hr_cli_net *n, int c, const char *arg);

/* Checks that the TLS files come all three or not at all (error printed);
 * 1 when fine. */
int hr_cli_net_check(const char *cmd, const hr_cli_net *n);

/* Opens the listener (prints "listening on HOST:PORT" to stdout and
 * writes the port file), then accepts one worker within the accept
 * timeout; peers that fail the TLS handshake or the hello are reported
 * on stderr and the wait goes on. Prints "worker connected: ..." and
 * returns 1 with *l and *c set, or 0 (error printed). */
int hr_cli_accept_worker(const char *cmd, const hr_cli_net *n, hr_listener **l, hr_chan **c);

/* Prints a log line of the remote module ("hyperrep client: ..."). */
void hr_cli_remote_log(void *user, const char *line);

#endif
