-- wrk script for bench/load.sh: POST the same JSON body on every request and, when the
-- run ends, write the numbers as one JSON object to $BENCH_WRK_OUT.
--
-- Environment (read in every wrk thread's Lua state):
--   BENCH_BODY_FILE  file holding the request body (required)
--   BENCH_TOKEN      bearer token; sent as `Authorization: Bearer ...` when set
--   BENCH_WRK_OUT    where done() writes its JSON (required)

local function slurp(path)
  local f = assert(io.open(path, "rb"), "cannot open BENCH_BODY_FILE " .. tostring(path))
  local s = f:read("*a")
  f:close()
  return s
end

local body_file = os.getenv("BENCH_BODY_FILE")
assert(body_file and body_file ~= "", "BENCH_BODY_FILE is not set")

wrk.method = "POST"
wrk.body = slurp(body_file)
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

-- done() runs once, in the main Lua state, after every thread has stopped.
-- latency values are microseconds; summary.duration is microseconds.
function done(summary, latency, requests)
  local out = os.getenv("BENCH_WRK_OUT")
  assert(out and out ~= "", "BENCH_WRK_OUT is not set")
  local e = summary.errors
  local fields = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"rps":%.2f', summary.requests / (summary.duration / 1e6)),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}',
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)),
  }
  local f = assert(io.open(out, "w"))
  f:write("{" .. table.concat(fields, ",") .. "}\n")
  f:close()
end
