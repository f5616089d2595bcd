-- Shared by the benchmark scripts (loaded with dofile from beside the script): status
-- counts per thread, summed in done() into the one JSON line the runner reads.
-- A script lists its own counters (globals) in COUNTERS; count(status) keeps the classes.

threads = {}
COUNTERS = COUNTERS or {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

c2xx, c3xx, c4xx, c5xx = 0, 0, 0, 0

function count(status)
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
   local names = { "c2xx", "c3xx", "c4xx", "c5xx" }
   for _, name in ipairs(COUNTERS) do
      table.insert(names, name)
   end
   local parts = {}
   for _, name in ipairs(names) do
      local total = 0
      for _, thread in ipairs(threads) do
         total = total + (thread:get(name) or 0)
      end
      table.insert(parts, string.format('"%s":%d', name, total))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p75_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
      .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"non_2xx_3xx":%d,'
      .. '"counts":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(75),
      latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status, table.concat(parts, ",")))
end
