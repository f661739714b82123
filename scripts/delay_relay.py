#!/usr/bin/env python3
"""User-space delay line for TCP: the testbed's stand-in for `tc netem`.

    delay_relay.py --listen HOST:PORT --to HOST:PORT --delay-ms D [--rate MBIT]

Every connection accepted on --listen is relayed to --to. Each chunk read
from either side is written to the other side D ms after it was read (a
monotonic clock), in order, so a round trip through the relay costs at least
2*D ms more than without it. With --rate, each direction is also a link of
that many Mbit/s shared by all connections: a chunk leaves when the link is
free and takes size/rate to cross it, then D ms of propagation.

Why a relay and not netem: the kernels this project's CI runs on are built
without sch_netem, and a TCP relay needs nothing but an unprivileged Python.
What it cannot do (see docs/TESTBED.md): delay individual packets, jitter,
loss, or the TCP handshake (the relay accepts at once and connects onward,
so connection set-up costs no round trip).

Back-pressure: at most --buffer-cap bytes per direction per connection are
held in the delay line; reading from that side pauses until the line drains,
so a slow receiver slows the sender instead of growing the relay's memory.
A side's EOF is forwarded as a half-close (shutdown(SHUT_WR)) after the same
delay, once the data before it is delivered; a connection is closed when both
directions have ended, or at once when either side resets.

Standard library only (Python >= 3.8). Logs one line per connection event on
stderr. SIGTERM/SIGINT stop it cleanly.
"""

import argparse
import asyncio
import collections
import os
import signal
import socket
import sys
import time

CHUNK = 64 * 1024
DEFAULT_CAP = 4 * 1024 * 1024   # per direction: 8 MiB per connection at most
DEFAULT_MAX_CONNS = 64
MAX_DELAY_MS = 60_000.0


def log(msg):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"delay_relay {stamp} {msg}", file=sys.stderr, flush=True)


def parse_hostport(text, what):
    """'HOST:PORT' or '[v6]:PORT' -> (host, port); raises ValueError naming the flag."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise ValueError(f"{what}: '{text}' is not [IPv6]:PORT")
        host, port_s = text[1:end], text[end + 2:]
    else:
        host, sep, port_s = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{what}: '{text}' is not HOST:PORT")
    if not port_s.isdigit() or int(port_s) > 65535:
        raise ValueError(f"{what}: port '{port_s}' in '{text}' is not 0..65535")
    return host, int(port_s)


class Link:
    """One direction of the emulated link, shared by every connection.

    The link is modelled as serialisation at `rate` bits/s followed by a fixed
    propagation delay: a chunk read at t starts crossing when the link is free
    (max(t, free_at)), finishes size/rate later, and is delivered `delay`
    seconds after that. Without a rate only the delay applies. Delivery times
    are therefore non-decreasing per connection, which preserves order.
    """

    def __init__(self, delay_s, rate_bps):
        self.delay_s = delay_s
        self.rate_bps = rate_bps
        self.free_at = 0.0

    def deliver_at(self, t_read, size):
        if self.rate_bps <= 0:
            return t_read + self.delay_s
        start = max(t_read, self.free_at)
        self.free_at = start + size * 8.0 / self.rate_bps
        return self.free_at + self.delay_s


class Direction:
    """The delay line of one direction of one connection.

    Items are (deliver_at, bytes) or (deliver_at, None) for EOF. `buffered`
    counts queued payload bytes; the reader waits on `space` while it exceeds
    the cap, and the writer sets it again once below.
    """

    def __init__(self, name, cap):
        self.name = name
        self.cap = cap
        self.items = collections.deque()
        self.buffered = 0
        self.moved = 0
        self.ready = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()

    def push(self, at, data):
        self.items.append((at, data))
        if data:
            self.buffered += len(data)
            if self.buffered > self.cap:
                self.space.clear()
        self.ready.set()

    async def pop(self):
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        return self.items.popleft()

    def release(self, size):
        self.buffered -= size
        self.moved += size
        if self.buffered <= self.cap:
            self.space.set()


async def pump(reader, line, link, loop):
    """Reads chunks from one side into the delay line until EOF or error.

    The timestamp is taken right after the read returns so the delay counts
    from when the relay saw the bytes. On a reset the EOF marker is still
    queued: the writer then ends and the connection is torn down.
    """
    try:
        while True:
            await line.space.wait()
            data = await reader.read(CHUNK)
            now = loop.time()
            if not data:
                line.push(link.deliver_at(now, 0), None)
                return "eof"
            line.push(link.deliver_at(now, len(data)), data)
    except (ConnectionError, OSError) as e:
        line.push(loop.time(), None)
        return f"read error: {e}"


async def deliver(line, writer, loop):
    """Writes each queued chunk to the other side no earlier than its time.

    Sleeps until each chunk's delivery time (re-checking the monotonic clock,
    so an early wake-up never shortens the delay), writes it and waits for the
    transport to drain, which carries the receiver's back-pressure upstream.
    EOF becomes a half-close when the transport supports it.
    """
    while True:
        at, data = await line.pop()
        while True:
            wait = at - loop.time()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if writer.transport.is_closing():
            return "peer gone"
        if data is None:
            if writer.can_write_eof():
                writer.write_eof()
            return "eof"
        writer.write(data)
        try:
            await writer.drain()
        except (ConnectionError, OSError) as e:
            return f"write error: {e}"
        line.release(len(data))


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        # The relay must forward each chunk when due, not hold small writes
        # back for Nagle's algorithm (which would add up to 40 ms per message).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Relay:
    def __init__(self, args):
        self.to_host, self.to_port = args.to
        self.cap = args.buffer_cap
        self.max_conns = args.max_conns
        delay_s = args.delay_ms / 1000.0
        rate_bps = args.rate * 1e6 if args.rate else 0.0
        self.up = Link(delay_s, rate_bps)     # listen side -> target
        self.down = Link(delay_s, rate_bps)   # target -> listen side
        self.active = 0
        self.next_id = 1
        self.tasks = set()

    async def handle(self, c_reader, c_writer):
        task = asyncio.current_task()
        self.tasks.add(task)
        cid = self.next_id
        self.next_id += 1
        peer = c_writer.get_extra_info("peername")
        try:
            if self.active >= self.max_conns:
                log(f"conn {cid} from {peer} refused: {self.active} connections open (--max-conns)")
                c_writer.close()
                return
            self.active += 1
            try:
                await self.relay(cid, peer, c_reader, c_writer)
            except asyncio.CancelledError:
                # Only our own shutdown cancels a handler; asyncio's stream
                # callback would report a re-raised cancel as an error.
                pass
            finally:
                self.active -= 1
        finally:
            self.tasks.discard(task)

    async def relay(self, cid, peer, c_reader, c_writer):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            s_reader, s_writer = await asyncio.open_connection(self.to_host, self.to_port)
        except OSError as e:
            log(f"conn {cid} from {peer}: cannot connect to {self.to_host}:{self.to_port}: {e}")
            c_writer.close()
            return
        nodelay(c_writer)
        nodelay(s_writer)
        log(f"conn {cid} from {peer} -> {self.to_host}:{self.to_port} open")
        up = Direction("up", self.cap)
        down = Direction("down", self.cap)
        tasks = [
            asyncio.ensure_future(pump(c_reader, up, self.up, loop)),
            asyncio.ensure_future(deliver(up, s_writer, loop)),
            asyncio.ensure_future(pump(s_reader, down, self.down, loop)),
            asyncio.ensure_future(deliver(down, c_writer, loop)),
        ]
        why = "closed"
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    result = t.result()
                    if result not in ("eof",):
                        # A reset or write failure on either side ends both:
                        # waiting for the other direction could last forever.
                        why = result
                        for w in (c_writer, s_writer):
                            w.transport.abort()
        except asyncio.CancelledError:
            why = "relay stopping"
            for t in tasks:
                t.cancel()
            for w in (c_writer, s_writer):
                w.transport.abort()
            raise
        finally:
            for w in (c_writer, s_writer):
                w.close()
            log(f"conn {cid} from {peer} {why}: up {up.moved} bytes, down {down.moved} bytes, "
                f"{loop.time() - t0:.3f} s")


def write_ready(path, host, port):
    """Atomically writes 'HOST PORT' so a waiting script never reads half a line."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{host} {port}\n")
    os.replace(tmp, path)


async def main_async(args):
    relay = Relay(args)
    host, port = args.listen
    server = await asyncio.start_server(relay.handle, host, port, reuse_address=True)
    bound = server.sockets[0].getsockname()
    log(f"listening on {bound[0]}:{bound[1]} -> {relay.to_host}:{relay.to_port}, "
        f"delay {args.delay_ms:g} ms each way, rate {f'{args.rate:g} Mbit/s' if args.rate else 'unlimited'}, "
        f"cap {args.buffer_cap} B per direction")
    if args.ready_file:
        write_ready(args.ready_file, bound[0], bound[1])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log("stopping")
    server.close()
    await server.wait_closed()
    for t in list(relay.tasks):
        t.cancel()
    if relay.tasks:
        await asyncio.gather(*relay.tasks, return_exceptions=True)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="TCP relay adding a fixed one-way delay (and optionally a rate) in both directions.")
    p.add_argument("--listen", required=True, help="HOST:PORT to accept on (port 0: any free port)")
    p.add_argument("--to", required=True, help="HOST:PORT to connect each accepted connection to")
    p.add_argument("--delay-ms", type=float, required=True, help="one-way delay added in each direction")
    p.add_argument("--rate", type=float, default=0.0, help="link rate in Mbit/s per direction (0: unlimited)")
    p.add_argument("--buffer-cap", type=int, default=DEFAULT_CAP,
                   help=f"bytes held per direction per connection before reading pauses (default {DEFAULT_CAP})")
    p.add_argument("--max-conns", type=int, default=DEFAULT_MAX_CONNS,
                   help=f"connections relayed at once; more are closed (default {DEFAULT_MAX_CONNS})")
    p.add_argument("--ready-file", help="written with 'HOST PORT' once listening")
    args = p.parse_args(argv)
    try:
        args.listen = parse_hostport(args.listen, "--listen")
        args.to = parse_hostport(args.to, "--to")
    except ValueError as e:
        p.error(str(e))
    if args.to[1] == 0:
        p.error("--to: port 0 is not a destination")
    if not 0.0 <= args.delay_ms <= MAX_DELAY_MS:
        p.error(f"--delay-ms: {args.delay_ms:g} is outside 0..{MAX_DELAY_MS:g}")
    if not 0.0 <= args.rate <= 100_000.0:
        p.error(f"--rate: {args.rate:g} Mbit/s is outside 0..100000")
    if not CHUNK <= args.buffer_cap <= 1 << 30:
        p.error(f"--buffer-cap: {args.buffer_cap} is outside {CHUNK}..{1 << 30}")
    if not 1 <= args.max_conns <= 10_000:
        p.error(f"--max-conns: {args.max_conns} is outside 1..10000")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(main_async(args))
    except OSError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
