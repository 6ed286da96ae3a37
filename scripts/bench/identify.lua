-- wrk script for scripts/bench-serve.sh: POSTs the probe photos listed in
-- $BENCH_PROBES (one path per line) round-robin as raw image bodies, with
-- $BENCH_TOKEN, and reports status counts and latency percentiles.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  requests = {}
  local token = os.getenv("BENCH_TOKEN")
  for path in io.lines(os.getenv("BENCH_PROBES")) do
    local f = assert(io.open(path, "rb"))
    local body = f:read("*a")
    f:close()
    table.insert(requests, wrk.format("POST", nil, {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "image/jpeg",
    }, body))
  end
  -- Threads start at different probes.
  next_request = math.random(#requests)
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format("\"%d\": %d", status, n))
  end
  io.write(string.format(
    "BENCH {\"seconds\": %.3f, \"requests\": %d, \"statuses\": {%s}, \"socket_errors\": %d, \"p50_ms\": %.1f, \"p90_ms\": %.1f, \"p99_ms\": %.1f, \"max_ms\": %.1f}\n",
    summary.duration / 1e6, summary.requests, table.concat(parts, ", "),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
