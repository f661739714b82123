/* Transport cost on loopback: round-trip time and throughput of messages of
 * one size (1 MB by default) over plain TCP and over mutual TLS 1.3, with
 * the peer in a thread of the same process.
 *
 *   scripts/make-certs.sh /tmp/hr-certs
 *   build/bench/bench_net [--certs /tmp/hr-certs] [--bytes 1048576] [--iters 200]
 *
 * Without --certs only plain TCP is measured. "rtt" is one FORWARD out and
 * the same bytes back as BACKWARD; "stream" is --iters LINK_PROBE frames
 * one way followed by one ACK, i.e. one-way throughput. MB = 10^6 bytes. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperrep/net.h"

typedef struct server_arg {
    hr_listener *l;
    hr_status st;
    hr_error err;
} server_arg;

/* Echoes FORWARD as BACKWARD, counts LINK_PROBEs and ACKs an ACK with their
 * number, until SHUTDOWN. */
static void *server_main(void *p)
{
    server_arg *a = p;
    hr_chan *c = NULL;
    hr_msg m;
    int probes = 0;

    hr_msg_init(&m);
    a->st = hr_listener_accept(a->l, 30000, &c, &a->err);
    while (a->st == HR_OK) {
        a->st = hr_chan_recv(c, 30000, &m, &a->err);
        if (a->st != HR_OK || m.type == HR_MSG_SHUTDOWN)
            break;
        if (m.type == HR_MSG_FORWARD) {
            a->st = hr_chan_send(c, HR_MSG_BACKWARD, m.id, NULL, m.tensor, m.ntensors, &a->err);
        } else if (m.type == HR_MSG_LINK_PROBE) {
            probes++;
        } else if (m.type == HR_MSG_ACK) {
            char meta[64];
            snprintf(meta, sizeof meta, "{\"probes\":%d}", probes);
            probes = 0;
            a->st = hr_chan_send(c, HR_MSG_ACK, m.id, meta, NULL, 0, &a->err);
        }
    }
    hr_msg_deinit(&m);
    hr_chan_destroy(c);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(const char *label, const hr_net_params *sp, const hr_net_params *cp, size_t bytes, int iters)
{
    hr_wire_tensor t = {.dtype = HR_WIRE_U8, .ndim = 1, .shape = {(int64_t)bytes}, .nbytes = bytes};
    double *rtt = malloc((size_t)iters * sizeof *rtt), t0, total;
    uint8_t *buf = malloc(bytes);
    server_arg a;
    pthread_t th;
    hr_chan *c = NULL;
    hr_error err;
    hr_msg m;
    char addr[64];
    hr_status st;

    if (!rtt || !buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < bytes; i++)
        buf[i] = (uint8_t)(i * 131u);
    t.data = buf;
    memset(&a, 0, sizeof a);
    hr_msg_init(&m);
    if ((st = hr_listener_open("127.0.0.1:0", sp, &a.l, &err)) != HR_OK) {
        fprintf(stderr, "%s: %s\n", label, err.msg);
        return 1;
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%d", hr_listener_port(a.l));
    pthread_create(&th, NULL, server_main, &a);
    t0 = now_s();
    st = hr_chan_connect(addr, cp, &c, &err);
    if (st == HR_OK)
        printf("%-6s connect + handshake + hello: %.2f ms\n", label, (now_s() - t0) * 1e3);

    /* Warm-up, then timed round trips. */
    for (int i = -5; st == HR_OK && i < iters; i++) {
        double s = now_s();
        st = hr_chan_send(c, HR_MSG_FORWARD, (uint32_t)i, NULL, &t, 1, &err);
        if (st == HR_OK)
            st = hr_chan_expect(c, HR_MSG_BACKWARD, 30000, &m, &err);
        if (st == HR_OK && i >= 0)
            rtt[i] = now_s() - s;
    }
    if (st == HR_OK) {
        total = 0;
        for (int i = 0; i < iters; i++)
            total += rtt[i];
        qsort(rtt, (size_t)iters, sizeof *rtt, cmp_double);
        printf("%-6s rtt    %zu B: median %.3f ms, p90 %.3f ms, min %.3f ms; %.1f MB/s (both directions)\n", label,
               bytes, rtt[iters / 2] * 1e3, rtt[iters * 9 / 10] * 1e3, rtt[0] * 1e3,
               2.0 * (double)bytes * iters / total / 1e6);
    }
    /* One-way stream. */
    if (st == HR_OK) {
        t0 = now_s();
        for (int i = 0; st == HR_OK && i < iters; i++)
            st = hr_chan_send(c, HR_MSG_LINK_PROBE, (uint32_t)i, NULL, &t, 1, &err);
        if (st == HR_OK)
            st = hr_chan_send(c, HR_MSG_ACK, 0, NULL, NULL, 0, &err);
        if (st == HR_OK)
            st = hr_chan_expect(c, HR_MSG_ACK, 30000, &m, &err);
        if (st == HR_OK) {
            total = now_s() - t0;
            printf("%-6s stream %zu B x %d: %.1f MB/s one way (%.3f ms per message)\n", label, bytes, iters,
                   (double)bytes * iters / total / 1e6, total / iters * 1e3);
        }
    }
    if (st == HR_OK)
        st = hr_chan_send(c, HR_MSG_SHUTDOWN, 0, NULL, NULL, 0, &err);
    if (st != HR_OK)
        fprintf(stderr, "%s: %s\n", label, err.msg);
    hr_msg_deinit(&m);
    hr_chan_destroy(c);
    pthread_join(th, NULL);
    if (a.st != HR_OK && st == HR_OK) {
        fprintf(stderr, "%s server: %s\n", label, a.err.msg);
        st = a.st;
    }
    hr_listener_destroy(a.l);
    free(rtt);
    free(buf);
    return st == HR_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *certs = NULL;
    size_t bytes = 1u << 20;
    int iters = 200, rc = 0;
    char paths[6][1024];
    hr_net_params plain = hr_net_params_default(), sp, cp;

    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--certs") && i + 1 < argc) {
            certs = argv[++i];
        } else if (!strcmp(argv[i], "--bytes") && i + 1 < argc) {
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (!end || *end || v == 0 || v > (48u << 20)) {
                fprintf(stderr, "--bytes: 1..%u\n", 48u << 20);
                return 2;
            }
            bytes = v;
        } else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (!end || *end || v < 1 || v > 100000) {
                fprintf(stderr, "--iters: 1..100000\n");
                return 2;
            }
            iters = (int)v;
        } else {
            fprintf(stderr, "usage: %s [--certs DIR] [--bytes N] [--iters N]\n", argv[0]);
            return 2;
        }
    }
    plain.name = "bench";
    rc |= run("plain", &plain, &plain, bytes, iters);
    if (certs) {
        const char *files[6] = {"server.crt", "server.key", "ca.crt", "edge-0.crt", "edge-0.key", "ca.crt"};
        for (int i = 0; i < 6; i++)
            snprintf(paths[i], sizeof paths[i], "%s/%s", certs, files[i]);
        sp = plain;
        sp.tls = (hr_tls_params){paths[0], paths[1], paths[2]};
        cp = plain;
        cp.tls = (hr_tls_params){paths[3], paths[4], paths[5]};
        rc |= run("tls", &sp, &cp, bytes, iters);
    }
    return rc;
}
