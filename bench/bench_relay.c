/* Load for a TCP relay on loopback: an echo server and a client that keeps
 * a fixed number of messages in flight, for bench/relay_cost.sh, which puts
 * the delay relay (C or Python) between them and reads the relay's CPU time.
 *
 *   build/bench/bench_relay echo --listen 127.0.0.1:0 [--size 800 --reply 800]
 *       prints "READY PORT", then serves connections one after another
 *       until killed: each message of --size bytes is answered with --reply
 *       bytes (the same bytes back when the two are equal).
 *   build/bench/bench_relay load --to 127.0.0.1:PORT [--size 800 --reply 800]
 *       [--inflight 1] [--seconds 5]
 *       sends --inflight messages, then one more per reply, for --seconds,
 *       then waits for the last replies; prints
 *       "messages N seconds S msg_per_s R" (a message: one request and its reply).
 *
 * Both use blocking sockets with TCP_NODELAY; with --inflight K the client
 * keeps K * size bytes outstanding, which must fit the socket buffers
 * (48 x 800 B does by far). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG (1 << 20)

struct opts {
    const char *mode, *addr;
    long size, reply, inflight;
    double seconds;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "bench_relay: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(const char *msg)
{
    fprintf(stderr,
            "bench_relay: %s\nusage: bench_relay echo --listen HOST:PORT [--size N --reply N]\n"
            "       bench_relay load --to HOST:PORT [--size N --reply N --inflight K --seconds S]\n",
            msg);
    exit(2);
}

static long parse_long(const char *flag, const char *s, long lo, long hi)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "bench_relay: %s '%s' is not an integer in %ld..%ld\n", flag, s, lo, hi);
        exit(2);
    }
    return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.size = 800, .reply = -1, .inflight = 1, .seconds = 5};
    if (argc < 2)
        usage("no mode given");
    o->mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage("a flag without its value");
        if (strcmp(f, "--listen") == 0 || strcmp(f, "--to") == 0) {
            o->addr = v;
        } else if (strcmp(f, "--size") == 0) {
            o->size = parse_long(f, v, 1, MAX_MSG);
        } else if (strcmp(f, "--reply") == 0) {
            o->reply = parse_long(f, v, 1, MAX_MSG);
        } else if (strcmp(f, "--inflight") == 0) {
            o->inflight = parse_long(f, v, 1, 4096);
        } else if (strcmp(f, "--seconds") == 0) {
            o->seconds = (double)parse_long(f, v, 1, 3600);
        } else {
            fprintf(stderr, "bench_relay: unknown flag '%s'\n", f);
            exit(2);
        }
    }
    if (o->reply < 0)
        o->reply = o->size;
    if (!o->addr)
        usage("--listen or --to is required");
}

/* IPv4 HOST:PORT into a; exits 2 on a malformed address. */
static void parse_addr(const char *text, struct sockaddr_in *a)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host)
        usage("the address is not IPv4 HOST:PORT");
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    *a = (struct sockaddr_in){.sin_family = AF_INET};
    a->sin_port = htons((uint16_t)parse_long("port", colon + 1, 0, 65535));
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        usage("the host is not an IPv4 address");
}

static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        die("setsockopt TCP_NODELAY");
}

static int recv_exact(int fd, char *buf, long n)
{
    while (n > 0) {
        ssize_t r = recv(fd, buf, (size_t)n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        n -= r;
    }
    return 0;
}

static int send_all(int fd, const char *buf, long n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= w;
    }
    return 0;
}

/* Serves one connection: bytes echoed as they come when reply == size,
 * otherwise one reply per complete message; returns at EOF or an error. */
static void serve(int fd, const struct opts *o, char *buf)
{
    nodelay(fd);
    for (;;) {
        if (o->reply == o->size) {
            ssize_t r = recv(fd, buf, MAX_MSG, 0);
            if (r <= 0 || send_all(fd, buf, r) != 0)
                return;
        } else if (recv_exact(fd, buf, o->size) != 0 || send_all(fd, buf, o->reply) != 0) {
            return;
        }
    }
}

static _Noreturn void run_echo(const struct opts *o, char *buf)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    parse_addr(o->addr, &a);
    if (l < 0)
        die("socket");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 16) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        die("bind/listen");
    printf("READY %d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            die("accept");
        }
        serve(fd, o, buf);
        close(fd);
    }
}

static int run_load(const struct opts *o, char *buf)
{
    struct sockaddr_in a;
    long sent = 0, got = 0;
    double t0, t_end;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    parse_addr(o->addr, &a);
    if (fd < 0)
        die("socket");
    nodelay(fd);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    memset(buf, 'm', (size_t)o->size);
    t0 = now_s();
    t_end = t0 + o->seconds;
    for (; sent < o->inflight; sent++)
        if (send_all(fd, buf, o->size) != 0)
            die("send");
    while (got < sent) {
        if (recv_exact(fd, buf, o->reply) != 0)
            die("recv (the reply ended early)");
        got++;
        if (now_s() < t_end) {
            if (send_all(fd, buf, o->size) != 0)
                die("send");
            sent++;
        }
    }
    t_end = now_s();
    close(fd);
    printf("messages %ld seconds %.3f msg_per_s %.1f\n", got, t_end - t0, (double)got / (t_end - t0));
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    char *buf = malloc(MAX_MSG);
    if (!buf)
        die("malloc");
    parse(argc, argv, &o);
    if (strcmp(o.mode, "echo") == 0)
        run_echo(&o, buf);
    if (strcmp(o.mode, "load") == 0)
        return run_load(&o, buf);
    usage("the mode is neither echo nor load");
    return 2;
}
