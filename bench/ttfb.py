#!/usr/bin/env python3
"""Streaming time to first byte, direct vs through Warden, for bench/load.sh.

Holds one keep-alive HTTP/1.1 connection to each target and sends N streaming chat
completions to each, alternating direct / warden request by request, so slow phases of a
noisy machine hit both sides alike. Raw sockets (standard library only): the clock starts
just before the request is written and stops when recv() first returns bytes, with no
HTTP library parsing in between. The whole response is then read and checked (status 200,
chunked SSE body ending in `data: [DONE]`).

Per request it records, in milliseconds:
  ttfb         first response byte (the status line), like curl's time_starttransfer
  first_event  the first decoded body chunk holding an SSE `data:` event has arrived
  total        the terminating chunk has arrived

Usage: ttfb.py --direct-port P --warden-port Q --body-file F [-n 300] [--warmup 20]
Token from $BENCH_TOKEN. Prints one JSON object on stdout.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time

now = time.perf_counter_ns


class HttpError(Exception):
    pass


class Conn:
    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = bytearray()
        self.last_fill = 0
        self.reconnects = -1
        self.connect()

    def connect(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.reconnects += 1

    def fill(self):
        data = self.sock.recv(262144)
        self.last_fill = now()
        if not data:
            raise HttpError("connection closed by the server")
        self.buf += data

    def take_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self.fill()

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def exchange(self, request):
        """Send one request; return (status, body, t_first_byte, t_first_event, t_end), ns."""
        if self.buf:
            raise HttpError("unexpected bytes before the request")
        t0 = now()
        self.sock.sendall(request)
        self.fill()
        t_first = self.last_fill
        status_line = self.take_line()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        headers = {}
        while True:
            line = self.take_line()
            if not line:
                break
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip().lower()
        body = bytearray()
        t_event = None
        if headers.get(b"transfer-encoding") == b"chunked":
            while True:
                size = int(self.take_line().split(b";")[0], 16)
                if size == 0:
                    while self.take_line():  # trailers, then the empty line
                        pass
                    break
                body += self.take(size)
                if self.take(2) != b"\r\n":
                    raise HttpError("bad chunk terminator")
                if t_event is None and b"data:" in body:
                    t_event = self.last_fill
        elif b"content-length" in headers:
            body += self.take(int(headers[b"content-length"]))
            if b"data:" in body:
                t_event = self.last_fill
        else:
            raise HttpError("response has neither chunked encoding nor a length")
        t_end = self.last_fill
        if headers.get(b"connection") == b"close":
            self.connect()
        return status, bytes(body), t_first - t0, (t_event - t0) if t_event else None, t_end - t0


def pct(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def summarize(ns_values):
    v = sorted(x / 1e6 for x in ns_values)
    if not v:
        return None
    r = lambda x: round(x, 4)
    return {
        "n": len(v),
        "min": r(v[0]),
        "p50": r(pct(v, 50)),
        "p90": r(pct(v, 90)),
        "p99": r(pct(v, 99)),
        "max": r(v[-1]),
        "mean": r(statistics.fmean(v)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--direct-port", type=int, required=True)
    ap.add_argument("--warden-port", type=int, required=True)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--body-file", required=True)
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()

    body = open(args.body_file, "rb").read()
    token = os.environ.get("BENCH_TOKEN", "")

    def request_for(port):
        head = (
            f"POST {args.path} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else "")
            + "Content-Type: application/json\r\n"
            "Accept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    sides = {
        "direct": (Conn(args.direct_port), request_for(args.direct_port)),
        "warden": (Conn(args.warden_port), request_for(args.warden_port)),
    }
    samples = {s: {"ttfb": [], "first_event": [], "total": []} for s in sides}
    failures = {s: {} for s in sides}
    paired = {"ttfb": [], "first_event": []}

    for i in range(args.warmup + args.n):
        measured = i >= args.warmup
        # Alternate which side goes first, so neither always follows the other.
        order = ("direct", "warden") if i % 2 == 0 else ("warden", "direct")
        this = {}
        for side in order:
            conn, req = sides[side]
            try:
                status, resp, ttfb, first_event, total = conn.exchange(req)
                if status != 200:
                    raise HttpError(f"status {status}: {resp[:200]!r}")
                if not resp.rstrip().endswith(b"data: [DONE]"):
                    raise HttpError(f"stream did not end with data: [DONE]: ...{resp[-120:]!r}")
                if first_event is None:
                    raise HttpError("no SSE data event in the body")
            except (HttpError, OSError, ValueError) as e:
                key = str(e)[:160]
                failures[side][key] = failures[side].get(key, 0) + 1
                try:
                    conn.connect()
                except OSError:
                    pass
                continue
            if measured:
                samples[side]["ttfb"].append(ttfb)
                samples[side]["first_event"].append(first_event)
                samples[side]["total"].append(total)
                this[side] = (ttfb, first_event)
        if measured and len(this) == 2:
            paired["ttfb"].append(this["warden"][0] - this["direct"][0])
            paired["first_event"].append(this["warden"][1] - this["direct"][1])

    out = {
        "n": args.n,
        "warmup": args.warmup,
        "body_bytes": len(body),
        "direct": {k: summarize(v) for k, v in samples["direct"].items()},
        "warden": {k: summarize(v) for k, v in samples["warden"].items()},
        "paired_diff_ms": {
            k: (round(statistics.median(v) / 1e6, 4) if v else None) for k, v in paired.items()
        },
        "failures": failures,
        "reconnects": {s: sides[s][0].reconnects for s in sides},
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
