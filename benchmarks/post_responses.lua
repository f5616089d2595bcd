-- POST /api/v1/responses, each pre-issued token exactly once across all wrk threads.
--
-- wrk -s post_responses.lua URL -- TOKEN_FILE THREADS API_KEY ACKED_DIR
--
-- Thread i (0-based) takes tokens i, i+T, i+2T, ... so no two requests share a
-- token. The server echoes the token in its 201 body; each thread writes the
-- tokens it saw acknowledged to ACKED_DIR/acked-<i>.txt, so the runner can check
-- that every acknowledged submission is in the database (not just a count).
-- When a thread runs out of tokens it sends one GET /livez (answered 200, never
-- 201, so it is counted apart as "spare") and stops: the run is then flagged.

local next_id = 0
local threads = {}

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local tokens = {}
local cursor = 0
local headers = {}
local acked_file = nil
local reasons = {
   '["portal_error","payment_error"]',
   '["complex_procedure"]',
   '["network_error","device_error"]',
}

-- Counters are globals so done() can read them with thread:get().
c201, c2xx, c4xx, c5xx, cother, spare, exhausted = 0, 0, 0, 0, 0, 0, 0

function init(args)
   local path, nthreads, key, acked_dir = args[1], tonumber(args[2]), args[3], args[4]
   local n = 0
   for line in io.lines(path) do
      if n % nthreads == id then
         tokens[#tokens + 1] = line
      end
      n = n + 1
   end
   headers["Authorization"] = "Bearer " .. key
   headers["Content-Type"] = "application/json"
   acked_file = io.open(acked_dir .. "/acked-" .. id .. ".txt", "w")
end

function request()
   cursor = cursor + 1
   local token = tokens[cursor]
   if token == nil then
      exhausted = 1
      return wrk.format("GET", "/livez")
   end
   -- Ratings 1..5 in turn; reasons only where the questionnaire asks for them.
   local overall = (cursor % 5) + 1
   local answers
   if overall <= 3 then
      answers = '{"overall":' .. overall .. ',"reasons":' .. reasons[overall]
         .. ',"comment":"slow"}'
   else
      answers = '{"overall":' .. overall .. ',"comment":"slow"}'
   end
   local body = '{"token":"' .. token .. '","locale":"vi","answers":' .. answers .. '}'
   return wrk.format("POST", "/api/v1/responses", headers, body)
end

function response(status, _, body)
   if status == 201 then
      c201 = c201 + 1
      c2xx = c2xx + 1
      local token = string.match(body, '"token":"([^"]+)"')
      if token then
         acked_file:write(token, "\n")
      end
      -- Flush now and then: a thread's Lua state is never closed by wrk.
      if c201 % 256 == 0 then
         acked_file:flush()
      end
   elseif status == 200 then
      -- Only the spare GET /livez answers 200; the submission measurement ends here.
      spare = spare + 1
      acked_file:flush()
      wrk.thread:stop()
   elseif status >= 200 and status < 300 then
      c2xx = c2xx + 1
   elseif status >= 400 and status < 500 then
      c4xx = c4xx + 1
   elseif status >= 500 and status < 600 then
      c5xx = c5xx + 1
   else
      cother = cother + 1
   end
end

function done(summary, latency, requests)
   local counts = { c201 = 0, c2xx = 0, c4xx = 0, c5xx = 0, cother = 0, spare = 0, exhausted = 0 }
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
      .. '"status":{"201":%d,"2xx":%d,"4xx":%d,"5xx":%d,"other":%d},'
      .. '"spare":%d,"threads_out_of_tokens":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(75),
      latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status,
      counts.c201, counts.c2xx, counts.c4xx, counts.c5xx, counts.cother,
      counts.spare, counts.exhausted))
end
