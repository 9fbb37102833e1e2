#!/usr/bin/env bash
# Warden loopback load benchmark. See bench/README.md for what each number means.
#
#   bench/load.sh [--mode shared|pinned|both] [--duration S] [--warmup S] [--conc N]
#                 [--ttfb-n N] [--no-build] [--keep-tmp] [--extra-config FILE]
#
# --extra-config appends a TOML file to Warden's config (e.g. bench/limits-on.toml
# to measure the cost of limits; compare its ratios with a run without it).
#
# Starts, on 127.0.0.1 only: the real OIDC provider (testkit/oidc), the mock OpenAI
# upstream (mock-openai) and `warden serve` in front of it, then measures direct-to-mock
# against through-Warden in the same run, so the ratios survive a noisy machine.
# Everything it starts is stopped on exit (trap). Prints a table, then one JSON line,
# also written to bench/out/results-<timestamp>.json.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"

MODE=both          # shared: no pinning; pinned: Warden on one CPU, wrk + mock on another
DURATION=10        # seconds per measured wrk run
WARMUP=2           # seconds of wrk warm-up before each measured run (discarded)
CONC=32            # connections for the throughput run
WRK_THREADS=2      # wrk threads for the throughput run in shared mode
TTFB_N=300         # measured streaming requests each way
TTFB_WARMUP=20     # discarded streaming requests each way
BUILD=1
KEEP_TMP=0
EXTRA_CONFIG=""

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) MODE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --conc) CONC=$2; shift 2 ;;
    --ttfb-n) TTFB_N=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    --extra-config) EXTRA_CONFIG=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/load.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$MODE" in
  shared) MODES=(shared) ;;
  pinned) MODES=(pinned) ;;
  both) MODES=(shared pinned) ;;
  *) echo "bench/load.sh: --mode must be shared, pinned or both" >&2; exit 2 ;;
esac
for n in "$DURATION" "$WARMUP" "$CONC" "$TTFB_N"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "bench/load.sh: '$n' is not a whole number" >&2; exit 2; }
done
[ "$DURATION" -ge 1 ] && [ "$CONC" -ge 2 ] && [ "$TTFB_N" -ge 1 ] ||
  { echo "bench/load.sh: need --duration >= 1, --conc >= 2, --ttfb-n >= 1" >&2; exit 2; }

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench/load.sh: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Tools: install what is missing from Debian, fail clearly otherwise
# ---------------------------------------------------------------------------------------
APT_UPDATED=0
apt_install() { # package...
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need to install $* but I am not root and there is no sudo"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || die "need to install $* but there is no apt-get; install it yourself"
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}
need() { # command [debian package]
  command -v "$1" >/dev/null 2>&1 && return 0
  apt_install "${2:-$1}"
  command -v "$1" >/dev/null 2>&1 || die "'$1' is still missing after installing ${2:-$1}"
}
need wrk
need curl
need python3
need taskset util-linux
need node nodejs
python3 -c 'import sqlite3, json, socket' 2>/dev/null || die "python3 lacks sqlite3/json/socket modules"

OIDC_DIR="$ROOT/testkit/oidc"
if [ ! -d "$OIDC_DIR/node_modules/oidc-provider" ]; then
  need npm
  log "installing the OIDC provider's npm packages (npm ci --prefix testkit/oidc)"
  npm ci --prefix "$OIDC_DIR" --no-audit --no-fund --loglevel=error >&2 || die "npm ci in testkit/oidc failed"
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WARDEN_BIN="$TARGET_DIR/release/warden"
MOCK_BIN="$TARGET_DIR/release/mock-openai"
if [ "$BUILD" = 1 ]; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found (or pass --no-build with prebuilt binaries)"
  log "cargo build --release -p warden -p warden-testkit"
  (cd "$ROOT" && cargo build --release -p warden -p warden-testkit) >&2 || die "cargo build failed"
fi
[ -x "$WARDEN_BIN" ] || die "$WARDEN_BIN is missing (run without --no-build)"
[ -x "$MOCK_BIN" ] || die "$MOCK_BIN is missing (run without --no-build)"

# CPUs this process may use; pinned mode puts Warden on the first, wrk + mock on the second.
read -r -a CPUS < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')
if [[ " ${MODES[*]} " == *" pinned "* ]] && [ "${#CPUS[@]}" -lt 2 ]; then
  log "only ${#CPUS[@]} CPU available: skipping pinned mode"
  MODES=(shared)
fi

# ---------------------------------------------------------------------------------------
# Process bookkeeping: everything started is stopped on exit
# ---------------------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/warden-bench.XXXXXX")"
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  exec 3>&- 2>/dev/null || true # the OIDC provider's stdin: it exits on EOF
  if [ "$rc" -ne 0 ]; then
    local f
    for f in "$TMP"/*/warden.err "$TMP"/*/mock.err "$TMP"/oidc.err; do
      [ -s "$f" ] && { echo "---- last lines of $f" >&2; tail -n 15 "$f" >&2; }
    done
  fi
  if [ "$KEEP_TMP" = 1 ]; then echo "bench/load.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() { local p keep=(); for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; PIDS=("${keep[@]}"); }
# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL. Sets STOP_RC and STOP_SECS.
stop_pid() {
  local pid=$1 limit=$2 t0 t1
  t0=$(date +%s.%N)
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < limit * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { log "pid $pid still alive ${limit}s after SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  STOP_RC=0
  wait "$pid" 2>/dev/null || STOP_RC=$?
  t1=$(date +%s.%N)
  STOP_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  forget_pid "$pid"
}
wait_for() { # seconds description command...: poll until the command succeeds
  local limit=$1 what=$2; shift 2
  local i
  for ((i = 0; i < limit * 10; i++)); do "$@" && return 0; sleep 0.1; done
  die "timed out after ${limit}s waiting for $what"
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_seconds() { # utime + stime of a process, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# ---------------------------------------------------------------------------------------
# Shared inputs: the OIDC provider, a token, the request bodies
# ---------------------------------------------------------------------------------------
TS="$(date -u +%Y%m%dT%H%M%SZ)"
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$BENCH_DIR/out"

log "starting the OIDC provider (testkit/oidc/server.mjs)"
mkfifo "$TMP/oidc.in"
exec 3<>"$TMP/oidc.in" # held open by this script only; the provider exits when it closes
OIDC_PORT=0 node "$OIDC_DIR/server.mjs" <"$TMP/oidc.in" >"$TMP/oidc.out" 2>"$TMP/oidc.err" 3>&- &
OIDC_PID=$!
PIDS+=("$OIDC_PID")
oidc_ready() { [ -s "$TMP/oidc.out" ] || { kill -0 "$OIDC_PID" 2>/dev/null || die "the OIDC provider exited: $(tail -n 5 "$TMP/oidc.err")"; return 1; }; }
wait_for 30 "the OIDC provider's ready line" oidc_ready
read -r ISSUER TOKEN_ENDPOINT < <(python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).readline())
print(d["issuer"], d["token_endpoint"])' "$TMP/oidc.out") || die "bad ready line from the provider: $(cat "$TMP/oidc.out")"
case "$ISSUER" in http://127.0.0.1:*) ;; *) die "the provider's issuer $ISSUER is not on 127.0.0.1" ;; esac
log "OIDC issuer $ISSUER"

get_token() { # prints an access token for alice (groups ["eng"], RS256, 10 min)
  local resp
  resp=$(curl -sS --max-time 10 -X POST "$TOKEN_ENDPOINT" -d grant_type=client_credentials \
    -d client_id=alice -d client_secret=alice-secret -d resource=urn:warden) || die "token request failed"
  python3 -c 'import json, sys; print(json.loads(sys.argv[1])["access_token"])' "$resp" 2>/dev/null ||
    die "no access_token in the token response: $resp"
}

BODY="$TMP/body.json"
STREAM_BODY="$TMP/body-stream.json"
python3 - "$BODY" "$STREAM_BODY" <<'PY'
import json, sys
words = "the quick brown fox jumps over the lazy dog while warden checks who is asking ".split()
text, i = "", 0
while len(text) < 1000:
    text += words[i % len(words)] + " "
    i += 1
text = text[:1000]
msg = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
open(sys.argv[1], "w").write(json.dumps(msg, separators=(",", ":")))
open(sys.argv[2], "w").write(json.dumps(dict(msg, stream=True), separators=(",", ":")))
PY
BODY_BYTES=$(wc -c <"$BODY")

# ---------------------------------------------------------------------------------------
# One mode: start mock + Warden (pinned or not), measure, stop, collect
# ---------------------------------------------------------------------------------------
run_mode() {
  local mode=$1 d="$TMP/$1"
  mkdir -p "$d"
  local warden_pin=() load_pin=() mock_threads wrk_threads desc
  if [ "$mode" = pinned ]; then
    warden_pin=(taskset -c "${CPUS[0]}")
    load_pin=(taskset -c "${CPUS[1]}")
    mock_threads=1
    wrk_threads=1
    desc="Warden on CPU ${CPUS[0]} (1 tokio worker); wrk (1 thread), mock (1 worker) and the TTFB client on CPU ${CPUS[1]}"
  else
    mock_threads=2
    wrk_threads=$WRK_THREADS
    desc="no pinning: wrk ($wrk_threads threads), mock ($mock_threads workers) and Warden (default workers) share CPUs ${CPUS[*]}"
  fi
  python3 -c 'import json, sys; json.dump({"description": sys.argv[1], "warden_cpus": sys.argv[2], "load_cpus": sys.argv[3], "mock_threads": int(sys.argv[4]), "wrk_threads_c32": int(sys.argv[5])}, open(sys.argv[6], "w"))' \
    "$desc" "${warden_pin[2]:-any}" "${load_pin[2]:-any}" "$mock_threads" "$wrk_threads" "$d/layout.json"
  log "== mode $mode: $desc"

  # The mock upstream.
  "${load_pin[@]}" "$MOCK_BIN" --port 0 --no-record --threads "$mock_threads" 2>"$d/mock.err" 3>&- &
  local mock_pid=$!
  PIDS+=("$mock_pid")
  mock_ready() { grep -q 'listening on 127.0.0.1:' "$d/mock.err" || { kill -0 "$mock_pid" 2>/dev/null || die "mock-openai exited: $(cat "$d/mock.err")"; return 1; }; }
  wait_for 20 "mock-openai" mock_ready
  local mock_port
  mock_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$d/mock.err" | head -n1)

  # Warden.
  local warden_port
  warden_port=$(free_port)
  cat >"$d/warden.toml" <<EOF
[store]
sqlite = "$d/warden.db"

[log]
level = "warn"

[[issuer]]
name = "bench-idp"
issuer = "$ISSUER"
audiences = ["warden"]

[[connection]]
name = "mock"
base_url = "http://127.0.0.1:$mock_port/v1"
api_key_env = "MOCK_UPSTREAM_KEY"
models = ["*"]
default = true

[policy.groups.eng]
models = ["*"]
EOF
  if [ -n "$EXTRA_CONFIG" ]; then
    [ -f "$EXTRA_CONFIG" ] || die "--extra-config: $EXTRA_CONFIG does not exist"
    cat "$EXTRA_CONFIG" >>"$d/warden.toml"
    log "extra config appended: $EXTRA_CONFIG"
  fi
  MOCK_UPSTREAM_KEY=sk-bench "${warden_pin[@]}" "$WARDEN_BIN" serve --config "$d/warden.toml" \
    --listen "127.0.0.1:$warden_port" 2>"$d/warden.err" 3>&- &
  local warden_pid=$!
  PIDS+=("$warden_pid")
  warden_ready() {
    kill -0 "$warden_pid" 2>/dev/null || die "warden exited: $(tail -n 20 "$d/warden.err")"
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$warden_port/healthz")" = 200 ]
  }
  wait_for 30 "warden /healthz" warden_ready
  log "mock on 127.0.0.1:$mock_port (pid $mock_pid), warden on 127.0.0.1:$warden_port (pid $warden_pid)"

  local token
  token=$(get_token)
  printf 'Authorization: Bearer %s\n' "$token" >"$d/auth.hdr"
  local direct_url="http://127.0.0.1:$mock_port/v1/chat/completions"
  local warden_url="http://127.0.0.1:$warden_port/v1/chat/completions"

  # Sanity: both paths answer 200 with the mock's reply, a stream ends in [DONE], and a
  # request without a token is refused (so authentication is really on the measured path).
  local code
  code=$(curl -sS --max-time 10 -o "$d/sanity-direct.out" -w '%{http_code}' -H @"$d/auth.hdr" \
    -H 'Content-Type: application/json' --data-binary @"$BODY" "$direct_url")
  [ "$code" = 200 ] && grep -q '"mock reply: ' "$d/sanity-direct.out" || die "direct sanity request: HTTP $code $(head -c 300 "$d/sanity-direct.out")"
  code=$(curl -sS --max-time 10 -o "$d/sanity-warden.out" -w '%{http_code}' -H @"$d/auth.hdr" \
    -H 'Content-Type: application/json' --data-binary @"$BODY" "$warden_url")
  [ "$code" = 200 ] && grep -q '"mock reply: ' "$d/sanity-warden.out" || die "warden sanity request: HTTP $code $(head -c 300 "$d/sanity-warden.out")"
  code=$(curl -sS -N --max-time 10 -o "$d/sanity-stream.out" -w '%{http_code}' -H @"$d/auth.hdr" \
    -H 'Content-Type: application/json' --data-binary @"$STREAM_BODY" "$warden_url")
  [ "$code" = 200 ] && grep -q '^data: \[DONE\]' "$d/sanity-stream.out" || die "warden streaming sanity request: HTTP $code $(tail -c 300 "$d/sanity-stream.out")"
  code=$(curl -sS --max-time 10 -o "$d/sanity-noauth.out" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary @"$BODY" "$warden_url")
  [ "$code" = 401 ] || die "warden answered HTTP $code (not 401) to a request without a token: $(head -c 300 "$d/sanity-noauth.out")"
  echo '{"warden_requests": 3, "warden_401_expected": 1, "checks": ["direct 200", "warden 200", "warden stream 200 + [DONE]", "warden no token 401"]}' >"$d/sanity.json"

  # wrk runs: warm-up (discarded), then measured, direct first then warden.
  run_wrk() { # tag side conc threads seconds
    local tag=$1 side=$2 conc=$3 thr=$4 secs=$5 url
    if [ "$side" = direct ]; then url=$direct_url; else url=$warden_url; fi
    BENCH_BODY_FILE="$BODY" BENCH_TOKEN="$token" BENCH_WRK_OUT="$d/$tag.json" \
      "${load_pin[@]}" wrk -t"$thr" -c"$conc" -d"${secs}s" --timeout 5s --latency \
      -s "$BENCH_DIR/post.lua" "$url" >"$d/$tag.txt" 2>&1 3>&- ||
      die "wrk failed ($tag): $(tail -n 5 "$d/$tag.txt")"
    [ -s "$d/$tag.json" ] || die "wrk wrote no results ($tag): $(tail -n 5 "$d/$tag.txt")"
  }
  local key conc thr side w0 m0
  for key in c32 c1; do
    if [ "$key" = c32 ]; then conc=$CONC; thr=$wrk_threads; else conc=1; thr=1; fi
    for side in direct warden; do
      run_wrk "$key-$side-warmup" "$side" "$conc" "$thr" "$WARMUP"
      w0=$(cpu_seconds "$warden_pid"); m0=$(cpu_seconds "$mock_pid")
      run_wrk "$key-$side" "$side" "$conc" "$thr" "$DURATION"
      awk -v w0="$w0" -v w1="$(cpu_seconds "$warden_pid")" -v m0="$m0" -v m1="$(cpu_seconds "$mock_pid")" \
        'BEGIN { printf "{\"warden_cpu_s\": %.2f, \"mock_cpu_s\": %.2f}\n", w1 - w0, m1 - m0 }' >"$d/$key-$side.cpu.json"
      python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); l = d["latency_us"]
print("%14s: %9.0f req/s  p50 %.3f ms  p99 %.3f ms  non-2xx %d" % (sys.argv[2], d["rps"], l["p50"] / 1000, l["p99"] / 1000, d["errors"]["status"]))' \
        "$d/$key-$side.json" "$key $side" >&2
    done
  done

  # Streaming TTFB, direct and warden interleaved request by request.
  log "streaming TTFB: $TTFB_N requests each way (+$TTFB_WARMUP warm-up)"
  BENCH_TOKEN="$token" "${load_pin[@]}" python3 "$BENCH_DIR/ttfb.py" --direct-port "$mock_port" \
    --warden-port "$warden_port" --body-file "$STREAM_BODY" -n "$TTFB_N" --warmup "$TTFB_WARMUP" \
    >"$d/ttfb.json" 2>"$d/ttfb.err" 3>&- || die "ttfb.py failed: $(tail -n 5 "$d/ttfb.err")"

  # Peak memory after the load, before shutdown.
  printf '{"warden_vmhwm_kib": %s, "warden_vmrss_kib": %s, "mock_vmhwm_kib": %s}\n' \
    "$(status_kib "$warden_pid" VmHWM)" "$(status_kib "$warden_pid" VmRSS)" "$(status_kib "$mock_pid" VmHWM)" >"$d/mem.json"

  # Stop Warden (it flushes its records), then the mock.
  stop_pid "$warden_pid" 40
  local w_rc=$STOP_RC w_secs=$STOP_SECS
  stop_pid "$mock_pid" 5
  python3 - "$d/warden.err" "$w_rc" "$w_secs" >"$d/warden-log.json" <<'PY'
import json, re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], errors="replace").read())
lines = [l for l in text.splitlines() if l.strip()]
bad = [l for l in lines if re.search(r"\b(WARN|ERROR)\b", l)]
print(json.dumps({"lines": len(lines), "warn_or_error_lines": len(bad), "sample": bad[:10],
                  "shutdown_exit_code": int(sys.argv[2]), "shutdown_seconds": float(sys.argv[3])}))
PY
  log "mode $mode done (warden stopped in ${w_secs}s, exit code $w_rc)"
}

for m in "${MODES[@]}"; do
  run_mode "$m"
done

stop_pid "$OIDC_PID" 5

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=false
GIT_DIFF_SHA=none
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  GIT_DIRTY=true # identify the uncommitted tracked changes that were benchmarked
  GIT_DIFF_SHA=$(git -C "$ROOT" diff HEAD 2>/dev/null | sha256sum | cut -c1-12)
fi
python3 - "$TMP" <<PY
import json, os, platform, sys
run = sys.argv[1]
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
json.dump({"nproc": os.cpu_count(), "cpus_allowed": sorted(os.sched_getaffinity(0)), "cpu_model": cpu,
           "kernel": platform.release(), "loadavg_start": "$LOADAVG_START",
           "loadavg_end": " ".join(open("/proc/loadavg").read().split()[:3])},
          open(os.path.join(run, "host.json"), "w"))
json.dump({"timestamp": "$TS", "git": {"rev": "$GIT_REV", "dirty": $([ "$GIT_DIRTY" = true ] && echo True || echo False), "diff_sha256_12": "$GIT_DIFF_SHA"},
           "modes": "${MODES[*]}".split(), "duration_s": $DURATION, "warmup_s": $WARMUP, "conc": $CONC,
           "wrk_threads_shared": $WRK_THREADS, "ttfb_n": $TTFB_N, "ttfb_warmup": $TTFB_WARMUP,
           "body_bytes": $BODY_BYTES, "wrk": "$(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"},
          open(os.path.join(run, "params.json"), "w"))
PY
python3 "$BENCH_DIR/report.py" "$TMP" "$BENCH_DIR/out/results-$TS.json"
