-- Reports a plain wrk run (GET /livez, GET /s/<token>) as one JSON line for the runner.
-- Status codes are counted per thread through response(), then summed in done().

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

c2xx, c3xx, c4xx, c5xx = 0, 0, 0, 0

function response(status)
   if status < 300 then
      c2xx = c2xx + 1
   elseif status < 400 then
      c3xx = c3xx + 1
   elseif status < 500 then
      c4xx = c4xx + 1
   else
      c5xx = c5xx + 1
   end
end

function done(summary, latency, requests)
   local counts = { c2xx = 0, c3xx = 0, c4xx = 0, c5xx = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(counts) do
         counts[name] = counts[name] + (thread:get(name) or 0)
      end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p75_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"non_2xx_3xx":%d,'
      .. '"status":{"2xx":%d,"3xx":%d,"4xx":%d,"5xx":%d}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(75),
      latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status,
      counts.c2xx, counts.c3xx, counts.c4xx, counts.c5xx))
end
