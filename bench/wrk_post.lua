-- wrk script: POST a chat-completions body, then print one machine-readable summary line.
-- Environment: BENCH_BODY_FILE (request body), BENCH_AUTH (bearer key, optional).
-- wrk counts a response with status >= 400 in errors.status; connect/read/write/timeout
-- errors are counted separately. All of them are reported, none is hidden.

local f = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE not set"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. auth
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT {\"duration_us\":%d,\"requests\":%d,\"bytes\":%d," ..
      "\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}," ..
      "\"latency_us\":{\"mean\":%.1f,\"stdev\":%.1f,\"min\":%d,\"max\":%d," ..
      "\"p50\":%d,\"p90\":%d,\"p99\":%d,\"p999\":%d}}\n",
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.min, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9)))
end
