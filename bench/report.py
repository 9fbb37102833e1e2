#!/usr/bin/env python3
"""Assemble the numbers bench/load.sh collected into a table and one JSON line.

Usage: report.py RUN_DIR OUT_JSON_PATH
RUN_DIR holds params.json, host.json and one directory per mode (shared, pinned) with the
wrk, TTFB, memory, CPU, sanity and log files written by load.sh. The table goes to stdout,
followed by the JSON on one line; the same JSON is written to OUT_JSON_PATH.
"""

import json
import os
import sqlite3
import sys

TARGETS = {
    # c=32 throughput through Warden as a fraction of direct, same run.
    "throughput_ratio_bar": 0.25,  # product bar: wrk, mock and Warden share 2 cores
    "throughput_ratio_issue": 0.70,  # the target
    # c=1 latency added by Warden (warden minus direct), milliseconds.
    "added_p50_ms_bar": 0.35,  # product bar, one connection
    "added_p50_ms_issue": 0.5,  # the issue: "< 0.5 ms"
    "added_p99_ms": 1.0,
    # streaming: first byte through Warden minus first byte direct, p50, milliseconds.
    "added_ttfb_p50_ms": 0.4,
    # peak resident memory of the Warden process after the load.
    "warden_vmhwm_mib": 64,
}


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        if default is not None:
            return default
        raise


def ms(us):
    return None if us is None else round(us / 1000.0, 4)


def wrk_side(d):
    lat = d["latency_us"]
    e = d["errors"]
    return {
        "requests": d["requests"],
        "duration_s": round(d["duration_us"] / 1e6, 3),
        "rps": round(d["rps"], 1),
        "p50_ms": ms(lat["p50"]),
        "p90_ms": ms(lat["p90"]),
        "p99_ms": ms(lat["p99"]),
        "p999_ms": ms(lat["p999"]),
        "mean_ms": ms(lat["mean"]),
        "max_ms": ms(lat["max"]),
        "non_2xx": e["status"],
        "socket_errors": e["connect"] + e["read"] + e["write"] + e["timeout"],
        "errors": e,
    }


def diff(a, b):
    return None if a is None or b is None else round(a - b, 4)


def records_summary(db):
    if not os.path.exists(db):
        return {"error": f"no database at {db}"}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT status, outcome, stream, COUNT(*) FROM request_records GROUP BY 1, 2, 3 ORDER BY 4 DESC"
        ).fetchall()
        overhead = con.execute(
            "SELECT total_latency_us - upstream_latency_us FROM request_records"
            " WHERE outcome = 'completed' AND stream = 0 AND upstream_latency_us IS NOT NULL"
            " ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    groups = [{"status": s, "outcome": o, "stream": bool(st), "count": n} for s, o, st, n in rows]
    out = {"total": sum(g["count"] for g in groups), "by_status_outcome": groups}
    if overhead:
        v = [r[0] for r in overhead]
        out["self_reported_overhead_us_p50"] = v[len(v) // 2]
        out["self_reported_overhead_us_p99"] = v[min(len(v) - 1, int(len(v) * 0.99))]
    return out


def mode_report(run, mode, params):
    d = os.path.join(run, mode)
    layout = load(os.path.join(d, "layout.json"))
    r = {"layout": layout}
    anomalies = []
    expected_min = 0  # requests through Warden that completed from the client's view
    in_flight_max = 0  # requests wrk may have left in flight when it stopped

    for conc_key, conc in (("c32", params["conc"]), ("c1", 1)):
        sides = {}
        for side in ("direct", "warden"):
            w = wrk_side(load(os.path.join(d, f"{conc_key}-{side}.json")))
            warm = load(os.path.join(d, f"{conc_key}-{side}-warmup.json"))
            cpu = load(os.path.join(d, f"{conc_key}-{side}.cpu.json"))
            if w["requests"]:
                w["warden_cpu_us_per_req"] = round(cpu["warden_cpu_s"] * 1e6 / w["requests"], 1)
                w["mock_cpu_us_per_req"] = round(cpu["mock_cpu_s"] * 1e6 / w["requests"], 1)
            w["warmup_requests"] = warm["requests"]
            for label, x in (("measured", w), ("warm-up", wrk_side(warm))):
                if x["non_2xx"] or x["socket_errors"]:
                    anomalies.append(
                        f"{mode} {conc_key} {side} {label}: {x['non_2xx']} non-2xx, errors {x['errors']}"
                    )
            if w["requests"] == 0:
                anomalies.append(f"{mode} {conc_key} {side}: no request completed")
            if side == "warden":
                expected_min += w["requests"] + warm["requests"]
                in_flight_max += 2 * conc
            sides[side] = w
        dr, wd = sides["direct"], sides["warden"]
        r[conc_key] = {
            "concurrency": conc,
            "direct": dr,
            "warden": wd,
            "throughput_ratio": round(wd["rps"] / dr["rps"], 4) if dr["rps"] else None,
            "added_p50_ms": diff(wd["p50_ms"], dr["p50_ms"]),
            "added_p99_ms": diff(wd["p99_ms"], dr["p99_ms"]),
        }

    t = load(os.path.join(d, "ttfb.json"))
    stream = {"n": t["n"], "warmup": t["warmup"], "failures": t["failures"]}
    for side in ("direct", "warden"):
        stream[side] = {
            f"{metric}_{p}_ms": (t[side][metric] or {}).get(p)
            for metric in ("ttfb", "first_event", "total")
            for p in ("p50", "p90", "p99")
        }
        stream[side]["completed"] = (t[side]["ttfb"] or {}).get("n", 0)
    stream["added_ttfb_p50_ms"] = diff(stream["warden"]["ttfb_p50_ms"], stream["direct"]["ttfb_p50_ms"])
    stream["added_first_event_p50_ms"] = diff(
        stream["warden"]["first_event_p50_ms"], stream["direct"]["first_event_p50_ms"]
    )
    stream["paired_median_added_ms"] = t["paired_diff_ms"]
    for side in ("direct", "warden"):
        if t["failures"][side]:
            anomalies.append(f"{mode} stream {side}: failures {t['failures'][side]}")
        if stream[side]["completed"] != t["n"]:
            anomalies.append(f"{mode} stream {side}: {stream[side]['completed']} of {t['n']} measured requests completed")
    warden_stream_failures = sum(t["failures"]["warden"].values())
    expected_min += t["n"] + t["warmup"] - warden_stream_failures
    r["stream"] = stream

    mem = load(os.path.join(d, "mem.json"))
    mem["warden_vmhwm_mib"] = round(mem["warden_vmhwm_kib"] / 1024.0, 2)
    mem["warden_vmrss_mib"] = round(mem["warden_vmrss_kib"] / 1024.0, 2)
    r["memory"] = mem

    sanity = load(os.path.join(d, "sanity.json"))
    r["sanity"] = sanity
    expected_min += sanity["warden_requests"]
    rec = records_summary(os.path.join(d, "warden.db"))
    rec["expected_min"] = expected_min
    rec["expected_max"] = expected_min + in_flight_max
    r["records"] = rec
    if "error" in rec:
        anomalies.append(f"{mode} records: {rec['error']}")
    else:
        if not (expected_min <= rec["total"] <= expected_min + in_flight_max):
            anomalies.append(
                f"{mode} records: {rec['total']} rows, expected {expected_min}..{expected_min + in_flight_max}"
            )
        # Expected rows: 200/completed for every request, 401/refused for the one sanity
        # request without a token, and client_gone (499) for what wrk left in flight when
        # it stopped (it closes its connections mid-request), at most `in_flight_max`.
        gone = sum(g["count"] for g in rec["by_status_outcome"] if g["outcome"] == "client_gone")
        rec["client_gone_expected_max"] = in_flight_max
        if gone > in_flight_max:
            anomalies.append(f"{mode} records: {gone} client_gone rows, more than the {in_flight_max} wrk may leave in flight")
        for g in rec["by_status_outcome"]:
            ok = (
                (g["status"] == 200 and g["outcome"] == "completed")
                or g["outcome"] == "client_gone"
                or (g["status"] == 401 and g["outcome"] == "refused" and g["count"] == sanity["warden_401_expected"])
            )
            if not ok:
                anomalies.append(f"{mode} records: {g['count']} rows with status {g['status']} outcome {g['outcome']}")

    log = load(os.path.join(d, "warden-log.json"))
    r["warden_log"] = log
    if log["warn_or_error_lines"]:
        anomalies.append(f"{mode} warden stderr: {log['warn_or_error_lines']} WARN/ERROR lines, e.g. {log['sample'][:3]}")
    if log.get("shutdown_exit_code") not in (0, None):
        anomalies.append(f"{mode} warden exited with code {log['shutdown_exit_code']} after SIGTERM")
    if log.get("shutdown_seconds", 0) > 5:
        anomalies.append(f"{mode} warden took {log['shutdown_seconds']} s to stop after SIGTERM")

    c32, c1 = r["c32"], r["c1"]
    v = {
        "throughput_ratio_bar": c32["throughput_ratio"] is not None
        and c32["throughput_ratio"] >= TARGETS["throughput_ratio_bar"],
        "throughput_ratio_issue": c32["throughput_ratio"] is not None
        and c32["throughput_ratio"] >= TARGETS["throughput_ratio_issue"],
        "added_p50_bar": c1["added_p50_ms"] is not None and c1["added_p50_ms"] <= TARGETS["added_p50_ms_bar"],
        "added_p50_issue": c1["added_p50_ms"] is not None and c1["added_p50_ms"] < TARGETS["added_p50_ms_issue"],
        "added_p99": c1["added_p99_ms"] is not None and c1["added_p99_ms"] <= TARGETS["added_p99_ms"],
        "added_ttfb_p50": stream["added_ttfb_p50_ms"] is not None
        and stream["added_ttfb_p50_ms"] <= TARGETS["added_ttfb_p50_ms"],
        "memory": mem["warden_vmhwm_mib"] < TARGETS["warden_vmhwm_mib"],
    }
    r["verdicts"] = v
    r["anomalies"] = anomalies
    return r


def f(x, nd=3, sign=False):
    if x is None:
        return "-"
    return f"{x:+.{nd}f}" if sign else f"{x:.{nd}f}"


def pf(b):
    return "PASS" if b else "FAIL"


def table(mode, r, params):
    lay = r["layout"]
    lines = []
    lines.append("")
    lines.append(f"== mode: {mode} == {lay['description']}")
    hdr = f"{'metric':<34}{'direct':>11}{'warden':>11}{'added':>10}{'ratio':>8}  target -> verdict"
    lines.append(hdr)
    lines.append("-" * len(hdr) + "-" * 24)
    c32, c1, s, m, v = r["c32"], r["c1"], r["stream"], r["memory"], r["verdicts"]

    def row(name, d, w, added="", ratio="", target=""):
        lines.append(f"{name:<34}{d:>11}{w:>11}{added:>10}{ratio:>8}  {target}")

    n32 = params["conc"]
    row(
        f"c={n32} throughput (req/s)",
        f(c32["direct"]["rps"], 0),
        f(c32["warden"]["rps"], 0),
        "",
        f(c32["throughput_ratio"], 3),
        f">=0.25 bar -> {pf(v['throughput_ratio_bar'])}; >=0.70 issue -> {pf(v['throughput_ratio_issue'])}",
    )
    row(f"c={n32} latency p50 (ms)", f(c32["direct"]["p50_ms"]), f(c32["warden"]["p50_ms"]), f(c32["added_p50_ms"], sign=True))
    row(f"c={n32} latency p99 (ms)", f(c32["direct"]["p99_ms"]), f(c32["warden"]["p99_ms"]), f(c32["added_p99_ms"], sign=True))
    row(
        f"c={n32} CPU per request (us)",
        f(c32["direct"].get("mock_cpu_us_per_req"), 1),
        f((c32["warden"].get("warden_cpu_us_per_req") or 0) + (c32["warden"].get("mock_cpu_us_per_req") or 0), 1),
        "",
        "",
        f"direct = mock; warden = Warden {f(c32['warden'].get('warden_cpu_us_per_req'), 1)} + mock {f(c32['warden'].get('mock_cpu_us_per_req'), 1)}",
    )
    row("c=1 throughput (req/s)", f(c1["direct"]["rps"], 0), f(c1["warden"]["rps"], 0), "", f(c1["throughput_ratio"], 3))
    row(
        "c=1 latency p50 (ms)",
        f(c1["direct"]["p50_ms"]),
        f(c1["warden"]["p50_ms"]),
        f(c1["added_p50_ms"], sign=True),
        "",
        f"<=0.35 bar -> {pf(v['added_p50_bar'])}; <0.5 issue -> {pf(v['added_p50_issue'])}",
    )
    row(
        "c=1 latency p99 (ms)",
        f(c1["direct"]["p99_ms"]),
        f(c1["warden"]["p99_ms"]),
        f(c1["added_p99_ms"], sign=True),
        "",
        f"<=1.0 -> {pf(v['added_p99'])}",
    )
    row(
        f"stream TTFB p50 (ms, n={s['n']})",
        f(s["direct"]["ttfb_p50_ms"]),
        f(s["warden"]["ttfb_p50_ms"]),
        f(s["added_ttfb_p50_ms"], sign=True),
        "",
        f"<=0.4 -> {pf(v['added_ttfb_p50'])}  (paired median {f(s['paired_median_added_ms']['ttfb'], sign=True)})",
    )
    row("stream TTFB p99 (ms)", f(s["direct"]["ttfb_p99_ms"]), f(s["warden"]["ttfb_p99_ms"]),
        f(diff(s["warden"]["ttfb_p99_ms"], s["direct"]["ttfb_p99_ms"]), sign=True))
    row(
        "stream first SSE event p50 (ms)",
        f(s["direct"]["first_event_p50_ms"]),
        f(s["warden"]["first_event_p50_ms"]),
        f(s["added_first_event_p50_ms"], sign=True),
        "",
        f"(paired median {f(s['paired_median_added_ms']['first_event'], sign=True)})",
    )
    row("stream whole response p50 (ms)", f(s["direct"]["total_p50_ms"]), f(s["warden"]["total_p50_ms"]),
        f(diff(s["warden"]["total_p50_ms"], s["direct"]["total_p50_ms"]), sign=True))
    row("warden peak RSS, VmHWM (MiB)", "", f(m["warden_vmhwm_mib"], 1), "", "", f"<64 -> {pf(v['memory'])}  (VmRSS now {f(m['warden_vmrss_mib'], 1)})")
    rec = r["records"]
    if "error" not in rec:
        groups = ", ".join(f"{g['status']}/{g['outcome']}{'/stream' if g['stream'] else ''}: {g['count']}" for g in rec["by_status_outcome"])
        lines.append(f"SQLite records: {rec['total']} rows (expected {rec['expected_min']}..{rec['expected_max']}): {groups}")
        if "self_reported_overhead_us_p50" in rec:
            lines.append(
                "  Warden's own records, non-stream total - upstream latency: "
                f"p50 {rec['self_reported_overhead_us_p50']} us, p99 {rec['self_reported_overhead_us_p99']} us"
            )
    errs = (
        f"wrk non-2xx/socket errors: c={n32} direct {c32['direct']['non_2xx']}/{c32['direct']['socket_errors']}, "
        f"warden {c32['warden']['non_2xx']}/{c32['warden']['socket_errors']}; "
        f"c=1 direct {c1['direct']['non_2xx']}/{c1['direct']['socket_errors']}, "
        f"warden {c1['warden']['non_2xx']}/{c1['warden']['socket_errors']}"
    )
    lines.append(errs)
    log = r["warden_log"]
    lines.append(
        f"warden stderr: {log['lines']} lines, {log['warn_or_error_lines']} WARN/ERROR; "
        f"stopped {log.get('shutdown_seconds')} s after SIGTERM, exit code {log.get('shutdown_exit_code')}"
    )
    if r["anomalies"]:
        lines.append("ANOMALIES:")
        lines.extend(f"  - {a}" for a in r["anomalies"])
    else:
        lines.append("anomalies: none")
    return "\n".join(lines)


def main():
    run, out_path = sys.argv[1], sys.argv[2]
    params = load(os.path.join(run, "params.json"))
    host = load(os.path.join(run, "host.json"))
    modes = {}
    for mode in params["modes"]:
        modes[mode] = mode_report(run, mode, params)
    result = {
        "bench": "warden-loopback",
        "timestamp": params["timestamp"],
        "git": params.get("git"),
        "host": host,
        "params": params,
        "targets": TARGETS,
        "modes": modes,
        "anomalies": [a for m in modes.values() for a in m["anomalies"]],
    }
    print(
        f"Warden loopback benchmark {params['timestamp']}  git {params['git']['rev']}{' (dirty, diff ' + params['git'].get('diff_sha256_12', '?') + ')' if params['git']['dirty'] else ''}"
    )
    print(
        f"host: {host['nproc']} CPUs ({host['cpu_model']}), kernel {host['kernel']}; "
        f"loadavg at start {host['loadavg_start']}, at end {host['loadavg_end']}"
    )
    print(
        f"body {params['body_bytes']} B JSON; c={params['conc']} and c=1 runs: {params['warmup_s']} s warm-up + "
        f"{params['duration_s']} s each; stream: {params['ttfb_n']} sequential requests each way "
        f"(+{params['ttfb_warmup']} warm-up), alternating direct/warden"
    )
    for mode, r in modes.items():
        print(table(mode, r, params))
    line = json.dumps(result, separators=(",", ":"))
    with open(out_path, "w") as fh:
        fh.write(line + "\n")
    print("")
    print(f"results written to {out_path}")
    print(line)


if __name__ == "__main__":
    main()
