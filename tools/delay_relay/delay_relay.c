/* hyperrep-delay-relay: user-space delay line for TCP, the testbed's
 * stand-in for `tc netem`. It is the C twin of scripts/delay_relay.py: the
 * same flags, the same semantics, the same log lines, at a fraction of the
 * CPU cost per chunk (docs/TESTBED.md has the figures).
 *
 *     hyperrep-delay-relay --listen HOST:PORT --to HOST:PORT --delay-ms D [--rate MBIT]
 *                          [--buffer-cap BYTES] [--max-conns N] [--ready-file PATH]
 *
 * Every connection accepted on --listen is relayed to --to. Each chunk read
 * from either side is written to the other side D ms after it was read (on
 * CLOCK_MONOTONIC), in order, so a round trip through the relay costs at
 * least 2*D ms more than without it. With --rate, each direction is also a
 * link of that many Mbit/s shared by all connections: a chunk leaves when the
 * link is free and takes size/rate to cross it, then D ms of propagation.
 *
 * Back-pressure: at most --buffer-cap bytes per direction per connection are
 * held; reading from that side pauses until the line drains below the cap,
 * and a receiver whose socket is full stops the line. A side's EOF is
 * forwarded as a half-close (shutdown(SHUT_WR)) after the same delay, once
 * the data before it is delivered; a connection is closed when both
 * directions have ended, or at once, with a reset to both sides, when either
 * side resets or a write fails.
 *
 * Design: one thread, epoll, one timerfd per direction of each connection
 * armed with the absolute deadline of the chunk at the head of the line
 * (TFD_TIMER_ABSTIME on CLOCK_MONOTONIC: the kernel never fires it early, and
 * the deadline is exactly the t_read + D of the Python), and a signalfd for
 * SIGTERM/SIGINT. A chunk that is already due when it is read (D = 0, no
 * rate) is written straight from the read buffer, with no copy and no timer.
 * Linux only, like the testbed; nothing but libc.
 *
 * --ready-file is written with "HOST PORT" (atomically) once listening;
 * scripts/testbed.sh waits for it. One line per connection event on stderr.
 * SIGTERM/SIGINT stop it cleanly (exit 0); bad arguments exit 2, a failure
 * to start exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROG "hyperrep-delay-relay"
#define CHUNK (64 * 1024)
#define DEFAULT_CAP (4 * 1024 * 1024) /* per direction: 8 MiB per connection at most */
#define DEFAULT_MAX_CONNS 64
#define MAX_DELAY_MS 60000.0
#define MAX_RATE_MBIT 100000.0
#define MAX_CAP (1LL << 30)
#define MAX_CONNS_LIMIT 10000
#define MAX_LISTENERS 16
#define LISTEN_BACKLOG 100 /* asyncio.start_server's default */
#define MAX_IOV 64
#define MAX_EVENTS 64
#define PEER_LEN (INET6_ADDRSTRLEN + 16) /* "[v6]:port" */

enum { UP = 0, DOWN = 1 };       /* UP: the listen side -> --to; DOWN: back */
enum { CLIENT = 0, SERVER = 1 }; /* direction d reads sock[d], writes sock[1 - d] */

/* ---------------------------------------------------------------- options */

struct params {
    char listen_host[256], to_host[256];
    int listen_port, to_port;
    double delay_ms, rate_mbit;
    long long cap;
    long max_conns;
    const char *ready_file;
};

enum opt_id { OPT_LISTEN, OPT_TO, OPT_DELAY, OPT_RATE, OPT_CAP, OPT_MAX_CONNS, OPT_READY, OPT_COUNT };

/* One entry per flag: the parser, the usage line and --help all read it. */
static const struct opt {
    const char *name, *metavar, *help;
    int required;
} OPTS[OPT_COUNT] = {
    [OPT_LISTEN] = {"--listen", "HOST:PORT", "HOST:PORT to accept on (port 0: any free port)", 1},
    [OPT_TO] = {"--to", "HOST:PORT", "HOST:PORT to connect each accepted connection to", 1},
    [OPT_DELAY] = {"--delay-ms", "D", "one-way delay added in each direction", 1},
    [OPT_RATE] = {"--rate", "MBIT", "link rate in Mbit/s per direction (0: unlimited)", 0},
    [OPT_CAP] = {"--buffer-cap", "BYTES",
                 "bytes held per direction per connection before reading pauses (default 4194304)", 0},
    [OPT_MAX_CONNS] = {"--max-conns", "N", "connections relayed at once; more are closed (default 64)", 0},
    [OPT_READY] = {"--ready-file", "PATH", "written with 'HOST PORT' once listening", 0},
};

static void print_usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [-h]");
    for (int i = 0; i < OPT_COUNT; i++)
        fprintf(f, OPTS[i].required ? " %s %s" : " [%s %s]", OPTS[i].name, OPTS[i].metavar);
    fputc('\n', f);
}

static void print_help(void)
{
    print_usage(stdout);
    printf("\nTCP relay adding a fixed one-way delay (and optionally a rate) in both directions.\n\n"
           "options:\n  -h, --help              show this help message and exit\n");
    for (int i = 0; i < OPT_COUNT; i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", OPTS[i].name, OPTS[i].metavar);
        printf("  %-23s %s\n", head, OPTS[i].help);
    }
}

/* Prints the usage and the message as argparse does and returns 2, the exit
 * status of a command-line error. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    print_usage(stderr);
    fprintf(stderr, PROG ": error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* Splits 'HOST:PORT' or '[v6]:PORT' into host and port (0..65535). Returns 0,
 * or 2 after printing an error naming the flag, like parse_hostport() in the
 * Python. */
static int parse_hostport(const char *text, const char *what, char *host, size_t host_size, int *port)
{
    const char *host_start = text, *port_s;
    size_t host_len;
    long v = 0;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (!end || end[1] != ':')
            return usage_error("%s: '%s' is not [IPv6]:PORT", what, text);
        host_start = text + 1;
        host_len = (size_t)(end - host_start);
        port_s = end + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text)
            return usage_error("%s: '%s' is not HOST:PORT", what, text);
        host_len = (size_t)(colon - text);
        port_s = colon + 1;
    }
    if (host_len >= host_size)
        return usage_error("%s: the host in '%s' is longer than %zu characters", what, text, host_size - 1);
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    /* Digits only, as str.isdigit(); the bound stops long strings early. */
    for (const char *c = port_s; *c && v <= 65535; c++)
        v = *c >= '0' && *c <= '9' ? v * 10 + (*c - '0') : 65536;
    if (!*port_s || v > 65535)
        return usage_error("%s: port '%s' in '%s' is not 0..65535", what, port_s, text);
    *port = (int)v;
    return 0;
}

static int parse_double(const char *name, const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE)
        return usage_error("argument %s: invalid float value: '%s'", name, s);
    return 0;
}

static int parse_ll(const char *name, const char *s, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return usage_error("argument %s: invalid int value: '%s'", name, s);
    return 0;
}

/* Finds the flag named by arg (up to '=' when inline): an exact name, or an
 * unambiguous prefix of one, as argparse allows. Returns its id, -1 when
 * unknown, -2 when ambiguous. */
static int find_opt(const char *arg, size_t len)
{
    int found = -1;
    for (int i = 0; i < OPT_COUNT; i++) {
        if (strlen(OPTS[i].name) == len && strncmp(OPTS[i].name, arg, len) == 0)
            return i;
        if (len > 2 && strncmp(OPTS[i].name, arg, len) == 0)
            found = found == -1 ? i : -2;
    }
    return found;
}

/* Parses and validates argv into p. Returns 0 to run, -1 after --help (exit
 * 0), or 2 after printing a usage error; the checks and their messages are
 * those of parse_args() in scripts/delay_relay.py. */
static int parse_args(int argc, char **argv, struct params *p)
{
    const char *val[OPT_COUNT] = {0};
    long long ll;
    int rc;
    memset(p, 0, sizeof *p);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq;
        size_t len;
        int id;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help();
            return -1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return usage_error("unrecognized arguments: %s", a);
        eq = strchr(a, '=');
        len = eq ? (size_t)(eq - a) : strlen(a);
        id = find_opt(a, len);
        if (id == -2)
            return usage_error("ambiguous option: %.*s", (int)len, a);
        if (id < 0)
            return usage_error("unrecognized arguments: %s", a);
        if (eq) {
            val[id] = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error("argument %s: expected one argument", OPTS[id].name);
            val[id] = argv[++i];
        }
    }
    {
        char missing[256] = "";
        for (int i = 0; i < OPT_COUNT; i++) {
            if (OPTS[i].required && !val[i]) {
                size_t n = strlen(missing);
                snprintf(missing + n, sizeof missing - n, "%s%s", n ? ", " : "", OPTS[i].name);
            }
        }
        if (missing[0])
            return usage_error("the following arguments are required: %s", missing);
    }
    if ((rc = parse_double("--delay-ms", val[OPT_DELAY], &p->delay_ms)) != 0)
        return rc;
    if (val[OPT_RATE] && (rc = parse_double("--rate", val[OPT_RATE], &p->rate_mbit)) != 0)
        return rc;
    p->cap = DEFAULT_CAP;
    if (val[OPT_CAP] && (rc = parse_ll("--buffer-cap", val[OPT_CAP], &p->cap)) != 0)
        return rc;
    ll = DEFAULT_MAX_CONNS;
    if (val[OPT_MAX_CONNS] && (rc = parse_ll("--max-conns", val[OPT_MAX_CONNS], &ll)) != 0)
        return rc;
    p->ready_file = val[OPT_READY];
    if ((rc = parse_hostport(val[OPT_LISTEN], "--listen", p->listen_host, sizeof p->listen_host,
                             &p->listen_port)) != 0)
        return rc;
    if ((rc = parse_hostport(val[OPT_TO], "--to", p->to_host, sizeof p->to_host, &p->to_port)) != 0)
        return rc;
    if (p->to_port == 0)
        return usage_error("--to: port 0 is not a destination");
    if (!(p->delay_ms >= 0.0 && p->delay_ms <= MAX_DELAY_MS))
        return usage_error("--delay-ms: %g is outside 0..%g", p->delay_ms, MAX_DELAY_MS);
    if (!(p->rate_mbit >= 0.0 && p->rate_mbit <= MAX_RATE_MBIT))
        return usage_error("--rate: %g Mbit/s is outside 0..%g", p->rate_mbit, MAX_RATE_MBIT);
    if (p->cap < CHUNK || p->cap > MAX_CAP)
        return usage_error("--buffer-cap: %lld is outside %d..%lld", p->cap, CHUNK, MAX_CAP);
    if (ll < 1 || ll > MAX_CONNS_LIMIT)
        return usage_error("--max-conns: %lld is outside 1..%d", ll, MAX_CONNS_LIMIT);
    p->max_conns = (long)ll;
    return 0;
}

/* ---------------------------------------------------------------- state */

/* One chunk as read, waiting in a delay line until `at`; `off` bytes of it
 * have already been written. */
struct chunk {
    struct chunk *next;
    int64_t at;
    size_t len, off;
    unsigned char data[];
};

/* One direction of the emulated link, shared by every connection: see
 * link_deliver_at(). */
struct link {
    int64_t delay_ns;
    double ns_per_byte; /* 0: no rate */
    double free_at;     /* ns on CLOCK_MONOTONIC when the link is next free */
};

enum kind { K_LISTEN, K_SIGNAL, K_SOCK, K_TIMER };

/* What an epoll event points at. `events` is the mask registered with epoll,
 * 0 when the fd is not in the epoll set (a socket with nothing to wait for is
 * taken out, so a hang-up cannot wake the loop over and over). */
struct handle {
    enum kind kind;
    int fd;
    uint32_t events;
    int index; /* K_SOCK: CLIENT or SERVER; K_TIMER: UP or DOWN */
    struct conn *conn;
};

/* The delay line of one direction of one connection. The EOF marker is kept
 * apart from the chunks since nothing is read after it. */
struct dir {
    struct chunk *head, *tail;
    size_t buffered; /* payload bytes queued and not yet written */
    uint64_t moved;  /* payload bytes written to the other side */
    int read_done;   /* EOF read from the input side */
    int eof_pending; /* ... and its half-close is due at eof_at */
    int64_t eof_at;
    int write_done; /* the half-close has been sent */
    int blocked;    /* the output's send buffer is full: waiting for EPOLLOUT */
    int64_t armed;  /* the timer's deadline; 0: disarmed; -1: fired, not yet reset */
};

struct relay;

struct conn {
    struct relay *relay;
    uint64_t id;
    char peer[PEER_LEN];
    int64_t t0;
    struct handle sock[2], timer[2];
    struct dir dir[2];
    struct addrinfo *targets, *next_target; /* while connecting onward */
    int connecting, connect_errno;
    int dead; /* closed during this batch of events; freed after it */
    struct conn *prev, *next;
};

struct relay {
    struct params p;
    int ep;
    struct handle listen[MAX_LISTENERS];
    int n_listen;
    struct handle sig;
    int reserve_fd; /* given up to accept-and-close when out of descriptors */
    struct link link[2];
    struct conn *conns, *dead;
    long active;
    uint64_t next_id;
    int stopping;
    unsigned char buf[CHUNK];
};

/* ---------------------------------------------------------------- helpers */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One line "delay_relay TIME message" on stderr in a single write(2), so
 * lines from a busy relay never interleave; the prefix is the Python's, so
 * the testbed's logs read the same whichever relay ran. */
static void relay_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void relay_log(const char *fmt, ...)
{
    char line[1024], stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    va_list ap;
    int n;
    if (!localtime_r(&t, &tm) || !strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(stamp, sizeof stamp, "%lld", (long long)t);
    n = snprintf(line, sizeof line, "delay_relay %s ", stamp);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report it. */
    }
}

/* The link model of the Python's Link.deliver_at(): serialisation at the
 * rate followed by a fixed propagation delay. A chunk read at t starts
 * crossing when the link is free (max(t, free_at)), finishes size/rate
 * later, and is delivered delay after that; without a rate only the delay
 * applies. Delivery times are non-decreasing per link, which keeps order. */
static int64_t link_deliver_at(struct link *l, int64_t t, size_t size)
{
    double start;
    if (l->ns_per_byte <= 0.0)
        return t + l->delay_ns;
    start = (double)t > l->free_at ? (double)t : l->free_at;
    l->free_at = start + (double)size * l->ns_per_byte;
    return (int64_t)ceil(l->free_at) + l->delay_ns;
}

static void format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN], port[16];
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, size, "?");
        return;
    }
    snprintf(out, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Registers, changes or removes h in the epoll set so that it waits for
 * exactly `want` (0: not in the set). Returns 0 or -1 with errno set. */
static int handle_watch(struct relay *r, struct handle *h, uint32_t want)
{
    struct epoll_event ev = {.events = want, .data.ptr = h};
    int op;
    if (want == h->events)
        return 0;
    op = want == 0 ? EPOLL_CTL_DEL : h->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(r->ep, op, h->fd, &ev) != 0)
        return -1;
    h->events = want;
    return 0;
}

/* ---------------------------------------------------------------- connections */

/* Ends a connection: one log line (unless why is NULL), both sockets closed
 * (abortive: with SO_LINGER 0, so each peer gets a reset rather than an EOF
 * that would claim the stream ended whole), the delay lines dropped. The
 * struct is only moved to the dead list, since later events of the current
 * batch may still point into it. */
static void conn_end(struct conn *c, int abortive, const char *why)
{
    struct relay *r = c->relay;
    if (c->dead)
        return;
    if (why)
        relay_log("conn %" PRIu64 " from %s %s: up %" PRIu64 " bytes, down %" PRIu64 " bytes, %.3f s", c->id,
                  c->peer, why, c->dir[UP].moved, c->dir[DOWN].moved, (double)(now_ns() - c->t0) / 1e9);
    for (int i = 0; i < 2; i++) {
        struct chunk *ch = c->dir[i].head;
        if (c->sock[i].fd >= 0) {
            if (abortive) {
                struct linger lg = {.l_onoff = 1, .l_linger = 0};
                setsockopt(c->sock[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            }
            close(c->sock[i].fd);
            c->sock[i].fd = -1;
        }
        if (c->timer[i].fd >= 0) {
            close(c->timer[i].fd);
            c->timer[i].fd = -1;
        }
        while (ch) {
            struct chunk *next = ch->next;
            free(ch);
            ch = next;
        }
        c->dir[i].head = c->dir[i].tail = NULL;
    }
    if (c->targets) {
        freeaddrinfo(c->targets);
        c->targets = c->next_target = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = r->dead;
    r->dead = c;
    c->dead = 1;
    r->active--;
}

/* conn_end with a formatted reason and a reset to both sides: the end of a
 * connection on an error. */
static void conn_abort(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_abort(struct conn *c, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    conn_end(c, 1, why);
}

static void free_dead(struct relay *r)
{
    while (r->dead) {
        struct conn *c = r->dead;
        r->dead = c->next;
        free(c);
    }
}

/* Drops the first n written bytes from the head of the line, freeing the
 * chunks that are complete, and counts them as moved. */
static void dir_consume(struct dir *dr, size_t n)
{
    dr->buffered -= n;
    dr->moved += n;
    while (n > 0) {
        struct chunk *ch = dr->head;
        size_t take = ch->len - ch->off < n ? ch->len - ch->off : n;
        ch->off += take;
        n -= take;
        if (ch->off == ch->len) {
            dr->head = ch->next;
            if (!dr->head)
                dr->tail = NULL;
            free(ch);
        }
    }
}

/* Writes every chunk of direction d whose time has come, in order, gathered
 * into as few sendmsg calls as possible, and sends the half-close once the
 * EOF marker is due and everything before it has been written. A full send
 * buffer marks the line blocked: it then waits for EPOLLOUT, not for its
 * timer. Returns 0, or -1 after aborting the connection on a write error. */
static int dir_flush(struct conn *c, int d, int64_t now)
{
    struct dir *dr = &c->dir[d];
    int out = c->sock[1 - d].fd;
    if (dr->blocked)
        return 0;
    while (dr->head && dr->head->at <= now) {
        struct iovec iov[MAX_IOV];
        struct msghdr msg = {.msg_iov = iov};
        size_t want = 0;
        ssize_t w;
        int n = 0;
        for (struct chunk *ch = dr->head; ch && ch->at <= now && n < MAX_IOV; ch = ch->next, n++) {
            iov[n].iov_base = ch->data + ch->off;
            iov[n].iov_len = ch->len - ch->off;
            want += iov[n].iov_len;
        }
        msg.msg_iovlen = (size_t)n;
        w = sendmsg(out, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                dr->blocked = 1;
                return 0;
            }
            conn_abort(c, "write error: %s", strerror(errno));
            return -1;
        }
        dir_consume(dr, (size_t)w);
        if ((size_t)w < want) {
            /* A short write means the send buffer is full. */
            dr->blocked = 1;
            return 0;
        }
    }
    if (!dr->head && dr->eof_pending && dr->eof_at <= now) {
        dr->eof_pending = 0;
        dr->write_done = 1;
        if (shutdown(out, SHUT_WR) != 0) {
            conn_abort(c, "write error: shutdown: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int dir_reading(const struct relay *r, const struct dir *dr)
{
    return !dr->read_done && (long long)dr->buffered <= r->p.cap;
}

/* Reads one chunk (up to 64 KiB) from the input side of direction d into its
 * delay line, stamping it with the time right after the read returned. When
 * the chunk is due at once and nothing waits before it, it is written
 * straight from the read buffer; what the output does not take is queued.
 * EOF queues the half-close. Returns 0, or -1 after aborting the connection
 * (a reset or other read error, or a write error). */
static int dir_pump(struct conn *c, int d)
{
    struct relay *r = c->relay;
    struct dir *dr = &c->dir[d];
    struct chunk *ch;
    int64_t now, at;
    size_t n, sent = 0;
    ssize_t got;
    do
        got = recv(c->sock[d].fd, r->buf, sizeof r->buf, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        conn_abort(c, "read error: %s", strerror(errno));
        return -1;
    }
    now = now_ns();
    if (got == 0) {
        dr->read_done = 1;
        dr->eof_pending = 1;
        dr->eof_at = link_deliver_at(&r->link[d], now, 0);
        return dir_flush(c, d, now);
    }
    n = (size_t)got;
    at = link_deliver_at(&r->link[d], now, n);
    if (!dr->head && !dr->blocked && at <= now) {
        ssize_t w;
        do
            w = send(c->sock[1 - d].fd, r->buf, n, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_abort(c, "write error: %s", strerror(errno));
            return -1;
        }
        sent = w < 0 ? 0 : (size_t)w;
        dr->moved += sent;
        if (sent == n)
            return 0;
        dr->blocked = 1;
    }
    ch = malloc(sizeof *ch + (n - sent));
    if (!ch) {
        conn_abort(c, "out of memory queueing %zu bytes", n - sent);
        return -1;
    }
    ch->next = NULL;
    ch->at = at;
    ch->len = n - sent;
    ch->off = 0;
    memcpy(ch->data, r->buf + sent, n - sent);
    if (dr->tail)
        dr->tail->next = ch;
    else
        dr->head = ch;
    dr->tail = ch;
    dr->buffered += ch->len;
    return at <= now ? dir_flush(c, d, now) : 0;
}

/* Sets direction d's timer to the deadline of what waits at the head of its
 * line (nothing while it is blocked on the output). Setting a timerfd also
 * clears an expiry not yet read, which is how a fired timer is reset. */
static int timer_sync(struct conn *c, int d)
{
    struct dir *dr = &c->dir[d];
    struct itimerspec its = {{0, 0}, {0, 0}};
    int64_t want = 0;
    if (!dr->blocked)
        want = dr->head ? dr->head->at : dr->eof_pending ? dr->eof_at : 0;
    if (want == dr->armed)
        return 0;
    its.it_value.tv_sec = (time_t)(want / 1000000000);
    its.it_value.tv_nsec = (long)(want % 1000000000);
    if (timerfd_settime(c->timer[d].fd, want ? TFD_TIMER_ABSTIME : 0, &its, NULL) != 0)
        return -1;
    dr->armed = want;
    return 0;
}

/* Brings the connection's timers and epoll interests in line with its state
 * after anything happened to it, and closes it once both directions have
 * delivered their EOF. A socket waits for input while its direction reads
 * (not at EOF, not over the cap), and for output while the other direction
 * is blocked on it. */
static void conn_update(struct conn *c)
{
    struct relay *r = c->relay;
    if (c->dead)
        return;
    if (c->dir[UP].write_done && c->dir[DOWN].write_done) {
        conn_end(c, 0, "closed");
        return;
    }
    for (int d = 0; d < 2; d++) {
        if (timer_sync(c, d) != 0) {
            conn_abort(c, "timerfd_settime: %s", strerror(errno));
            return;
        }
    }
    for (int i = 0; i < 2; i++) {
        uint32_t want = 0;
        if (c->connecting)
            want = i == SERVER ? EPOLLOUT : 0;
        else
            want = (dir_reading(r, &c->dir[i]) ? EPOLLIN : 0) | (c->dir[1 - i].blocked ? EPOLLOUT : 0);
        if (handle_watch(r, &c->sock[i], want) != 0) {
            conn_abort(c, "epoll_ctl on the %s socket: %s", i == CLIENT ? "client" : "server", strerror(errno));
            return;
        }
    }
}

static void set_nodelay(struct conn *c, int i)
{
    int one = 1;
    /* The relay must forward each chunk when due, not hold small writes back
     * for Nagle's algorithm (up to 40 ms per message with delayed ACKs). */
    if (setsockopt(c->sock[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        relay_log("conn %" PRIu64 " from %s: TCP_NODELAY on the %s socket: %s", c->id, c->peer,
                  i == CLIENT ? "client" : "server", strerror(errno));
}

static void connect_next(struct conn *c);

static void connect_ok(struct conn *c)
{
    struct relay *r = c->relay;
    c->connecting = 0;
    freeaddrinfo(c->targets);
    c->targets = c->next_target = NULL;
    set_nodelay(c, SERVER);
    relay_log("conn %" PRIu64 " from %s -> %s:%d open", c->id, c->peer, r->p.to_host, r->p.to_port);
    conn_update(c);
}

/* Tries the onward addresses in turn (as asyncio.open_connection does),
 * without blocking: an attempt in progress waits for EPOLLOUT on the server
 * socket. When none is left the client's connection is closed (an EOF: the
 * relay cannot refuse a connection it has already accepted). */
static void connect_next(struct conn *c)
{
    struct relay *r = c->relay;
    while (c->next_target) {
        struct addrinfo *ai = c->next_target;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        c->next_target = ai->ai_next;
        if (fd < 0) {
            c->connect_errno = errno;
            continue;
        }
        c->sock[SERVER].fd = fd;
        c->sock[SERVER].events = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            connect_ok(c);
            return;
        }
        if (errno == EINPROGRESS) {
            c->connecting = 1;
            conn_update(c);
            return;
        }
        c->connect_errno = errno;
        close(fd);
        c->sock[SERVER].fd = -1;
    }
    relay_log("conn %" PRIu64 " from %s: cannot connect to %s:%d: %s", c->id, c->peer, r->p.to_host, r->p.to_port,
              strerror(c->connect_errno));
    conn_end(c, 0, NULL);
}

static void connect_done(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->sock[SERVER].fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(c->sock[SERVER].fd, (struct sockaddr *)&ss, &sl) != 0 && errno == ENOTCONN)
            return; /* not connected yet: a wake-up without a result */
        connect_ok(c);
        return;
    }
    c->connect_errno = err;
    close(c->sock[SERVER].fd); /* also leaves the epoll set */
    c->sock[SERVER].fd = -1;
    c->sock[SERVER].events = 0;
    connect_next(c);
}

/* Takes on one accepted connection: refused over --max-conns (logged and
 * closed, as the Python does), otherwise given its two timers and connected
 * onward. The target is resolved per connection, like the Python; a numeric
 * address (the testbed's) never blocks. */
static void conn_start(struct relay *r, int fd, const struct sockaddr *sa, socklen_t salen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    char peer[PEER_LEN], port[16];
    uint64_t id = r->next_id++;
    struct conn *c;
    int rc;
    format_addr(sa, salen, peer, sizeof peer);
    if (r->active >= r->p.max_conns) {
        relay_log("conn %" PRIu64 " from %s refused: %ld connections open (--max-conns)", id, peer, r->active);
        close(fd);
        return;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        relay_log("conn %" PRIu64 " from %s refused: out of memory", id, peer);
        close(fd);
        return;
    }
    c->relay = r;
    c->id = id;
    c->t0 = now_ns();
    memcpy(c->peer, peer, sizeof peer);
    for (int i = 0; i < 2; i++) {
        c->sock[i] = (struct handle){.kind = K_SOCK, .fd = -1, .index = i, .conn = c};
        c->timer[i] = (struct handle){.kind = K_TIMER, .fd = -1, .index = i, .conn = c};
    }
    c->sock[CLIENT].fd = fd;
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    r->active++;
    set_nodelay(c, CLIENT);
    for (int d = 0; d < 2; d++) {
        c->timer[d].fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (c->timer[d].fd < 0 || handle_watch(r, &c->timer[d], EPOLLIN) != 0) {
            relay_log("conn %" PRIu64 " from %s refused: %s: %s", id, peer,
                      c->timer[d].fd < 0 ? "timerfd_create" : "epoll_ctl", strerror(errno));
            conn_end(c, 0, NULL);
            return;
        }
    }
    snprintf(port, sizeof port, "%d", r->p.to_port);
    rc = getaddrinfo(r->p.to_host, port, &hints, &c->targets);
    if (rc != 0) {
        relay_log("conn %" PRIu64 " from %s: cannot connect to %s:%d: %s", id, peer, r->p.to_host, r->p.to_port,
                  rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        c->targets = NULL;
        conn_end(c, 0, NULL);
        return;
    }
    c->next_target = c->targets;
    c->connect_errno = EHOSTUNREACH;
    connect_next(c);
}

/* ---------------------------------------------------------------- events */

static void on_accept(struct relay *r, struct handle *h)
{
    for (int k = 0; k < MAX_EVENTS; k++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(h->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_start(r, fd, (struct sockaddr *)&ss, len);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && r->reserve_fd >= 0) {
            /* Out of descriptors: take the connection off the queue with
             * the spare one and close it, rather than spin on it. */
            const char *why = strerror(errno);
            close(r->reserve_fd);
            fd = accept(h->fd, NULL, NULL);
            if (fd >= 0)
                close(fd);
            relay_log("conn %" PRIu64 " refused: accept: %s", r->next_id++, why);
            r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            continue;
        }
        relay_log("accept: %s", strerror(errno));
        return;
    }
}

/* A socket event: first the output waiting on it (so the line drains before
 * more is read), then one chunk of input. An error or hang-up goes to
 * whichever of the two waits, which then reads or writes the error. */
static void on_sock(struct conn *c, int i, uint32_t ev)
{
    struct dir *in = &c->dir[i], *out = &c->dir[1 - i];
    int handled = 0;
    if (c->connecting) {
        connect_done(c);
        return;
    }
    if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && out->blocked) {
        out->blocked = 0;
        handled = 1;
        if (dir_flush(c, 1 - i, now_ns()) != 0)
            return;
    }
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && dir_reading(c->relay, in)) {
        handled = 1;
        if (dir_pump(c, i) != 0)
            return;
    }
    if (!handled && (ev & EPOLLERR)) {
        /* Neither side of the socket waits (the event predates a change in
         * this batch); a pending error still ends the connection now. */
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->sock[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
            conn_abort(c, "%s socket: %s", i == CLIENT ? "client" : "server", strerror(err));
            return;
        }
    }
    conn_update(c);
}

static void on_timer(struct conn *c, int d)
{
    c->dir[d].armed = -1;
    if (dir_flush(c, d, now_ns()) == 0)
        conn_update(c);
}

/* ---------------------------------------------------------------- start and run */

/* Binds and listens on every address --listen resolves to (as
 * asyncio.start_server does), registering each with epoll. Returns 0, or -1
 * after logging what failed. */
static int open_listeners(struct relay *r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res, *ai;
    char port[16];
    int rc;
    snprintf(port, sizeof port, "%d", r->p.listen_port);
    rc = getaddrinfo(r->p.listen_host[0] ? r->p.listen_host : NULL, port, &hints, &res);
    if (rc != 0) {
        relay_log("error: cannot resolve --listen %s: %s", r->p.listen_host,
                  rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && r->n_listen < MAX_LISTENERS; ai = ai->ai_next) {
        struct handle *h = &r->listen[r->n_listen];
        char where[INET6_ADDRSTRLEN + 16];
        int one = 1, fd;
        const char *what = "socket";
        format_addr(ai->ai_addr, ai->ai_addrlen, where, sizeof where);
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0) {
            what = "setsockopt";
            if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                (ai->ai_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0) &&
                (what = "bind", bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) &&
                (what = "listen", listen(fd, LISTEN_BACKLOG) == 0)) {
                *h = (struct handle){.kind = K_LISTEN, .fd = fd};
                what = "epoll_ctl";
                if (handle_watch(r, h, EPOLLIN) == 0) {
                    r->n_listen++;
                    continue;
                }
            }
        }
        relay_log("error: cannot listen on %s: %s: %s", where, what, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return 0;
}

/* Writes "HOST PORT" to a temporary file and renames it onto path, so a
 * script waiting for the file never reads half a line. */
static int write_ready(const char *path, const char *host, int port)
{
    char tmp[4096];
    FILE *f;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        relay_log("error: --ready-file path '%s' is too long", path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s %d\n", host, port) < 0 || fclose(f) != 0) {
        relay_log("error: cannot write the ready file %s: %s", tmp, strerror(errno));
        if (f)
            unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        relay_log("error: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The first listener's address, logged and written to --ready-file. */
static int report_ready(struct relay *r)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN], port[16], rate[48];
    int port_no;
    if (getsockname(r->listen[0].fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        relay_log("error: cannot read the listening address: %s", strerror(errno));
        return -1;
    }
    port_no = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    if (r->p.rate_mbit > 0)
        snprintf(rate, sizeof rate, "%g Mbit/s", r->p.rate_mbit);
    else
        snprintf(rate, sizeof rate, "unlimited");
    relay_log("listening on %s:%d -> %s:%d, delay %g ms each way, rate %s, cap %lld B per direction", host, port_no,
              r->p.to_host, r->p.to_port, r->p.delay_ms, rate, r->p.cap);
    return r->p.ready_file ? write_ready(r->p.ready_file, host, port_no) : 0;
}

/* SIGTERM and SIGINT arrive through a signalfd in the event loop, so a stop
 * is handled between events, never inside one. */
static int open_signals(struct relay *r)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        relay_log("error: sigprocmask: %s", strerror(errno));
        return -1;
    }
    r->sig = (struct handle){.kind = K_SIGNAL, .fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)};
    if (r->sig.fd < 0 || handle_watch(r, &r->sig, EPOLLIN) != 0) {
        relay_log("error: %s: %s", r->sig.fd < 0 ? "signalfd" : "epoll_ctl", strerror(errno));
        return -1;
    }
    return 0;
}

/* Each connection takes four descriptors (two sockets, two timers); raise
 * the soft limit toward what --max-conns needs, as far as the hard limit
 * allows. Running short later only refuses connections, with a log line. */
static void raise_fd_limit(const struct relay *r)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)r->p.max_conns * 4 + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        relay_log("warning: cannot raise the open-file limit to %llu: %s", (unsigned long long)need, strerror(errno));
}

static void on_signal(struct relay *r)
{
    struct signalfd_siginfo si;
    if (read(r->sig.fd, &si, sizeof si) == (ssize_t)sizeof si) {
        relay_log("stopping");
        r->stopping = 1;
    }
}

/* Runs the event loop until a stop signal. Returns 0, or 1 when epoll itself
 * fails. */
static int run(struct relay *r)
{
    struct epoll_event evs[MAX_EVENTS];
    while (!r->stopping) {
        int n = epoll_wait(r->ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            relay_log("error: epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int k = 0; k < n; k++) {
            struct handle *h = evs[k].data.ptr;
            if (h->conn && h->conn->dead)
                continue;
            switch (h->kind) {
            case K_LISTEN:
                on_accept(r, h);
                break;
            case K_SIGNAL:
                on_signal(r);
                break;
            case K_SOCK:
                on_sock(h->conn, h->index, evs[k].events);
                break;
            case K_TIMER:
                on_timer(h->conn, h->index);
                break;
            }
        }
        free_dead(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct relay *r = calloc(1, sizeof *r);
    int rc;
    if (!r) {
        relay_log("error: out of memory");
        return 1;
    }
    rc = parse_args(argc, argv, &r->p);
    if (rc != 0) {
        free(r);
        return rc < 0 ? 0 : rc;
    }
    r->next_id = 1;
    r->reserve_fd = -1;
    r->sig.fd = -1;
    for (int d = 0; d < 2; d++) {
        r->link[d].delay_ns = llround(r->p.delay_ms * 1e6);
        r->link[d].ns_per_byte = r->p.rate_mbit > 0 ? 8000.0 / r->p.rate_mbit : 0.0;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(r);
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0) {
        relay_log("error: epoll_create1: %s", strerror(errno));
        free(r);
        return 1;
    }
    rc = 1;
    if (open_signals(r) == 0 && open_listeners(r) == 0 && report_ready(r) == 0) {
        r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        rc = run(r);
    }
    for (int i = 0; i < r->n_listen; i++)
        close(r->listen[i].fd);
    while (r->conns)
        conn_end(r->conns, 1, "relay stopping");
    free_dead(r);
    if (r->sig.fd >= 0)
        close(r->sig.fd);
    if (r->reserve_fd >= 0)
        close(r->reserve_fd);
    close(r->ep);
    free(r);
    return rc;
}
