#!/usr/bin/env python3
"""What a call held for approval costs: memory per held call, on loopback.

    bench/approvals-held.py [--calls N] [--warden BIN] [--mock BIN]

Starts the mock upstream and `warden serve` (release builds from
`cargo build --release -p warden -p warden-testkit`; SQLite, Warden keys,
durable audit) with one approval rule for `o3-pro`, then measures Warden's
resident memory (VmRSS) at three points in the same run:

  1. warm: after 200 ordinary calls and one held and approved (pools,
     tokenizer tables, caches warm);
  2. idle connections: with N TCP connections open and idle (what a
     connection costs Warden before any request);
  3. held: with N calls (1 KB chat bodies) held for approval on those
     connections, every approval pending (counted in the database file:
     asking the API would load them all into Warden while it is measured).

  4. released: every approval approved through the API, every answer read,
     the N connections still open (the store's and allocator's caches as
     warm as while holding).

Per held call = (held - released) / N: what is there only while a call is
held (its request, its pipeline's state, the approval). (held - idle) / N
also counts what the first request on a connection leaves behind (hyper's
read buffer and header write buffer, 8 KiB each, the store's page cache).
The time to approve and release all N is reported too.

RSS alone cannot separate these: the allocator keeps freed pages, so the
released row keeps what the held calls used. Build Warden with
`--features heap-stats` (`cargo build --release -p warden --features
heap-stats`) and the live heap bytes, counted by the allocator, are
reported beside RSS at every point; the per-call figures then come from
them. Everything started is stopped on exit. Only the
Python standard library is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def heap_bytes(path: pathlib.Path) -> int | None:
    """Live heap bytes from a `heap-stats` build (None from other builds).
    Waits for a fresh figure: the file is rewritten every 100 ms."""
    if not path.exists():
        return None
    before = path.stat().st_mtime_ns
    deadline = time.time() + 2
    while time.time() < deadline and path.stat().st_mtime_ns == before:
        time.sleep(0.02)
    return int(path.read_text())


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def body(model: str) -> bytes:
    text = ("the quick brown fox jumps over the lazy dog " * 30)[:1000]
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": text}]},
        separators=(",", ":"),
    ).encode()


def request(port: int, key: str, payload: bytes, path: str = "/v1/chat/completions") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def http(port: int, method: str, path: str, key: str, payload: bytes = b"") -> tuple[int, bytes]:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload
    )
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    if b"transfer-encoding: chunked" in head.lower():
        out, buf = b"", rest
        while buf:
            size, _, buf = buf.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, buf = out + buf[:n], buf[n + 2 :]
        rest = out
    return status, rest


async def hold_all(port: int, key: str, n: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    conns = []
    for _ in range(n):
        conns.append(await asyncio.open_connection("127.0.0.1", port))
    return conns


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument(
        "--control",
        action="store_true",
        help="send calls that need no approval on the N connections instead (what any answered call leaves behind)",
    )
    ap.add_argument(
        "--in-flight",
        action="store_true",
        help="also measure N calls in flight but not held (their bodies half sent): the baseline a held call is compared with",
    )
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    ap.add_argument("--warden", default=str(target / "warden"))
    ap.add_argument("--mock", default=str(target / "mock-openai"))
    args = ap.parse_args()
    n = args.calls
    # N connections here and in Warden (which inherits the limit).
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * n + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="warden-held."))
    procs: list[subprocess.Popen] = []

    def stop(*_: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(1)))
    try:
        mock_err = open(tmp / "mock.err", "w+")
        mock = subprocess.Popen(
            [args.mock, "--port", "0", "--no-record", "--threads", "1"], stderr=mock_err
        )
        procs.append(mock)
        deadline = time.time() + 20
        mock_port = None
        while mock_port is None and time.time() < deadline:
            time.sleep(0.05)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(tmp / "mock.err").read())
            mock_port = int(m.group(1)) if m else None
        assert mock_port, "mock did not start"
        port = free_port()
        config = tmp / "warden.toml"
        config.write_text(
            f"""
[server]
listen = "127.0.0.1:{port}"
[store]
sqlite = "{tmp}/warden.db"
[log]
level = "warn"
[keys]
enabled = true
[[connection]]
name = "mock"
base_url = "http://127.0.0.1:{mock_port}/v1"
api_key_env = "MOCK_KEY"
models = ["*"]
[policy.groups.agents]
models = ["*"]
[approvals]
approver_groups = ["security"]
hold = "10m"
[[approvals.rule]]
id = "o3"
models = ["o3-pro"]
"""
        )
        heap_file = tmp / "heap"
        env = dict(os.environ, MOCK_KEY="sk-mock", WARDEN_HEAP_STATS=str(heap_file))

        def key(owner: str, group: str) -> str:
            out = subprocess.run(
                [args.warden, "keys", "create", "--owner", owner, "--group", group, "--json", "--config", str(config)],
                env=env, check=True, capture_output=True, text=True,
            )
            return json.loads(out.stdout)["key"]

        agent, approver = key("agent", "agents"), key("sec", "security")
        warden = subprocess.Popen(
            [args.warden, "serve", "--config", str(config)], env=env,
            stderr=open(tmp / "warden.err", "w"),
        )
        procs.append(warden)
        wait_port(port)

        # 1. Warm.
        for _ in range(200):
            status, _ = http(port, "POST", "/v1/chat/completions", agent, body("gpt-4o"))
            assert status == 200, status
        # One call held and approved: the tokenizer the cost estimate loads
        # (tens of MB, once per process) and the approval tables are warm
        # before anything is measured.
        import sqlite3
        db = sqlite3.connect(f"file:{tmp}/warden.db?mode=ro", uri=True)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request(port, agent, body("o3-pro")))
        await writer.drain()
        first = None
        deadline = time.time() + 20
        while first is None and time.time() < deadline:
            await asyncio.sleep(0.1)
            row = db.execute("SELECT id FROM approvals WHERE state = 'pending'").fetchone()
            first = row[0] if row else None
        assert first, "the warm-up call was not held"
        status, _ = http(port, "POST", f"/admin/v1/approvals/{first}/approve", approver, b"{}")
        assert status == 200, status
        assert int((await reader.readline()).split()[1]) == 200
        writer.close()
        time.sleep(1)
        warm = rss_kib(warden.pid)
        heap = {"warm": heap_bytes(heap_file)}

        # 2. N idle connections.
        conns = await hold_all(port, agent, n)
        await asyncio.sleep(1.5)
        idle = rss_kib(warden.pid)
        heap["idle_connections"] = heap_bytes(heap_file)

        if args.control:
            payload = body("gpt-4o")
            for _, w in conns:
                w.write(request(port, agent, payload))
            await asyncio.gather(*(w.drain() for _, w in conns))

            async def head(reader: asyncio.StreamReader) -> int:
                return int((await reader.readline()).split()[1])

            codes = await asyncio.gather(*(head(r) for r, _ in conns))
            await asyncio.sleep(1.5)
            after = rss_kib(warden.pid)
            heap["after"] = heap_bytes(heap_file)
            if heap["after"] is not None:
                print(f"live heap per connection after one call, beyond idle: "
                      f"{round((heap['after'] - heap['idle_connections']) / n)} B")
            print(f"control: warm {warm} KiB, {n} idle connections {idle} KiB, "
                  f"after {n} answered calls (connections open) {after} KiB; "
                  f"{sum(c == 200 for c in codes)} answered 200; "
                  f"per connection after one call: {round((after - idle) * 1024 / n)} B beyond idle")
            return

        if args.in_flight:
            # 2b. N calls in flight on fresh connections, waiting for the
            # rest of their bodies: a request's cost before any approval.
            partial = body("o3-pro")
            flight = await hold_all(port, agent, n)
            for _, w in flight:
                full = request(port, agent, partial)
                w.write(full[: len(full) - len(partial) // 2])
            await asyncio.gather(*(w.drain() for _, w in flight))
            await asyncio.sleep(1.5)
            in_flight = rss_kib(warden.pid)
            heap["in_flight"] = heap_bytes(heap_file)
            if heap["in_flight"] is not None:
                print(f"live heap per call in flight: {round((heap['in_flight'] - heap['idle_connections']) / n)} B")
            for _, w in flight:
                w.close()
            await asyncio.sleep(1.0)
            print(f"{n} calls in flight (half their bodies sent), on top of {n} idle connections: "
                  f"{in_flight} KiB, {round((in_flight - idle) * 1024 / n)} B per call")

        # 3. N held calls on them.
        payload = body("o3-pro")
        t0 = time.time()
        for _, w in conns:
            w.write(request(port, agent, payload))
        await asyncio.gather(*(w.drain() for _, w in conns))
        # Counted in the database file directly (read-only): asking the API
        # would itself load every approval into Warden while measuring it.
        pending = 0
        deadline = time.time() + 120
        while time.time() < deadline:
            pending = db.execute("SELECT count(*) FROM approvals WHERE state = 'pending'").fetchone()[0]
            if pending >= n:
                break
            await asyncio.sleep(0.2)
        created_s = time.time() - t0
        assert pending >= n, f"only {pending} of {n} calls held"
        await asyncio.sleep(1.5)
        held = rss_kib(warden.pid)
        heap["held"] = heap_bytes(heap_file)
        # Each is pending, as the approvers' API shows it.
        status, raw = http(port, "GET", "/admin/v1/approvals?state=pending&limit=1000", approver)
        assert status == 200 and len(json.loads(raw)["data"]) >= n, raw[:200]

        # Approve everything; time until every held caller has its answer.
        ids = [a["id"] for a in json.loads(raw)["data"]]
        t1 = time.time()

        async def answer(reader: asyncio.StreamReader) -> int:
            line = await reader.readline()
            return int(line.split()[1])

        waiting = [asyncio.create_task(answer(r)) for r, _ in conns]
        loop = asyncio.get_running_loop()
        for i in ids:
            await loop.run_in_executor(
                None, http, port, "POST", f"/admin/v1/approvals/{i}/approve", approver, b"{}"
            )
        statuses = await asyncio.gather(*waiting)
        released_s = time.time() - t1
        ok = sum(1 for s in statuses if s == 200)
        # 4. The same connections, answered and idle again (the store's
        # caches as warm as while holding): what remains is not the hold's.
        await asyncio.sleep(1.5)
        released = rss_kib(warden.pid)
        heap["released"] = heap_bytes(heap_file)
        for _, w in conns:
            w.close()

        per_call = (held - idle) * 1024 / n
        result = {
            "calls": n,
            "rss_kib": {"warm": warm, "idle_connections": idle, "held": held, "released": released},
            "per_held_call_bytes_beyond_released": round((held - released) * 1024 / n),
            "per_idle_connection_bytes": round((idle - warm) * 1024 / n),
            "per_held_call_bytes_beyond_connection": round(per_call),
            "per_held_call_bytes_beyond_warm": round((held - warm) * 1024 / n),
            "request_body_bytes": len(payload),
            "seconds_to_hold_all": round(created_s, 2),
            "seconds_to_approve_and_release_all": round(released_s, 2),
            "released_ok": ok,
        }
        if heap["held"] is not None:
            result["heap_bytes"] = heap
            result["heap_per_held_call_beyond_released"] = round((heap["held"] - heap["released"]) / n)
            result["heap_per_held_call_beyond_idle_connection"] = round((heap["held"] - heap["idle_connections"]) / n)
            result["heap_per_connection_after_release"] = round((heap["released"] - heap["idle_connections"]) / n)
        print(f"warden RSS: warm {warm} KiB, {n} idle connections {idle} KiB, {n} held calls {held} KiB, "
              f"released (connections open) {released} KiB")
        print(f"per held call beyond the same connections after release: {result['per_held_call_bytes_beyond_released']} B")
        print(f"per idle connection: {result['per_idle_connection_bytes']} B")
        print(f"per held call beyond its connection: {result['per_held_call_bytes_beyond_connection']} B "
              f"(request body {len(payload)} B); beyond warm: {result['per_held_call_bytes_beyond_warm']} B")
        if "heap_bytes" in result:
            print(f"live heap: per held call beyond the same connections after release "
                  f"{result['heap_per_held_call_beyond_released']} B, beyond idle connections "
                  f"{result['heap_per_held_call_beyond_idle_connection']} B; an answered connection keeps "
                  f"{result['heap_per_connection_after_release']} B")
        print(f"holding {n}: {created_s:.2f} s; approving and releasing {n} ({ok} answered 200): {released_s:.2f} s")
        out = ROOT / "bench" / "out"
        out.mkdir(exist_ok=True)
        (out / f"approvals-held-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result))
    finally:
        stop()


if __name__ == "__main__":
    asyncio.run(main())
