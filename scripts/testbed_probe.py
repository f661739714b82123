#!/usr/bin/env python3
"""Small TCP probe for the testbed (standard library only).

    testbed_probe.py serve --listen HOST:PORT [--rcvbuf BYTES] [--lifetime S]
    testbed_probe.py rtt   --to HOST:PORT [--count 50] [--size 64]
    testbed_probe.py bulk  --to HOST:PORT [--bytes 20000000]
    testbed_probe.py reach --to HOST:PORT [--to HOST:PORT ...] [--timeout 2]

`serve` prints "READY HOST PORT" on stdout once listening, then serves each
connection in a thread according to its first byte:
  E  echo every byte back (round-trip times);
  S  sink: read to EOF, then send "<bytes>\\n" and close (a one-way transfer;
     the reply only comes after the peer's half-close has arrived);
  H  hold: never read, keep the connection until the peer goes (back-pressure).
`rtt` and `bulk` print one JSON object; `reach` prints "HOST:PORT ok" or
"HOST:PORT ERRNO_NAME" per target and exits 0 (the caller judges).
"""

import argparse
import errno
import json
import os
import socket
import statistics
import sys
import threading
import time


def hostport(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not HOST:PORT")
    return host, int(port)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError(f"peer closed after {len(buf)} of {n} bytes")
        buf += part
    return bytes(buf)


def serve_conn(conn):
    with conn:
        mode = conn.recv(1)
        if mode == b"E":
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)
        elif mode == b"S":
            total = 0
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    break
                total += len(data)
            conn.sendall(f"{total}\n".encode())
        elif mode == b"H":
            # Waits without reading; the peer's reset or close wakes it up
            # only once it reads, so poll for the socket being gone instead.
            while True:
                time.sleep(0.2)
                try:
                    if conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                        return
                except BlockingIOError:
                    continue
                except OSError:
                    return


def cmd_serve(args):
    host, port = args.listen
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.rcvbuf:
        # Set before listen so accepted sockets inherit it (and skip autotuning).
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    srv.bind((host, port))
    srv.listen(64)
    bound = srv.getsockname()
    print(f"READY {bound[0]} {bound[1]}", flush=True)
    if args.lifetime:
        # A safety net: the probe never outlives a test that forgot it.
        threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_conn, args=(conn,), daemon=True).start()


def connect(target, timeout):
    sock = socket.create_connection(target, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def cmd_rtt(args):
    with connect(args.to, args.timeout) as sock:
        sock.sendall(b"E")
        msg = os.urandom(args.size)
        times = []
        for _ in range(args.count):
            t0 = time.monotonic()
            sock.sendall(msg)
            back = recv_exact(sock, len(msg))
            times.append((time.monotonic() - t0) * 1e3)
            if back != msg:
                raise SystemExit("rtt: echo differs from what was sent")
    times.sort()
    print(json.dumps({"count": len(times), "size": args.size, "min_ms": times[0],
                      "median_ms": statistics.median(times),
                      "p90_ms": times[int(0.9 * (len(times) - 1))], "max_ms": times[-1]}))


def cmd_bulk(args):
    chunk = os.urandom(65536)
    with connect(args.to, args.timeout) as sock:
        sock.sendall(b"S")
        t0 = time.monotonic()
        left = args.bytes
        while left > 0:
            n = min(left, len(chunk))
            sock.sendall(chunk[:n])
            left -= n
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while not reply.endswith(b"\n"):
            part = sock.recv(64)
            if not part:
                break
            reply += part
        elapsed = time.monotonic() - t0
    got = int(reply.strip() or b"-1")
    if got != args.bytes:
        raise SystemExit(f"bulk: server counted {got} bytes, sent {args.bytes}")
    # Includes one round trip (the count comes back after the FIN crossed).
    print(json.dumps({"bytes": args.bytes, "seconds": elapsed,
                      "mbit_per_s": args.bytes * 8 / elapsed / 1e6}))


def cmd_reach(args):
    for target in args.to:
        name = f"[{target[0]}]:{target[1]}" if ":" in target[0] else f"{target[0]}:{target[1]}"
        try:
            with connect(target, args.timeout):
                print(f"{name} ok", flush=True)
        except socket.timeout:
            print(f"{name} TIMEOUT", flush=True)
        except OSError as e:
            print(f"{name} {errno.errorcode.get(e.errno, str(e.errno))}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", type=hostport, required=True)
    s.add_argument("--rcvbuf", type=int, default=0)
    s.add_argument("--lifetime", type=float, default=0.0)
    for name in ("rtt", "bulk", "reach"):
        c = sub.add_parser(name)
        c.add_argument("--to", type=hostport, required=True, action="append" if name == "reach" else None)
        c.add_argument("--timeout", type=float, default=10.0 if name != "reach" else 2.0)
        if name == "rtt":
            c.add_argument("--count", type=int, default=50)
            c.add_argument("--size", type=int, default=64)
        if name == "bulk":
            c.add_argument("--bytes", type=int, default=20_000_000)
    args = p.parse_args()
    if args.cmd in ("rtt", "bulk") and isinstance(args.to, list):
        args.to = args.to[0]
    {"serve": cmd_serve, "rtt": cmd_rtt, "bulk": cmd_bulk, "reach": cmd_reach}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
