-- Citizens: each opens the questionnaire page of a pre-issued invitation (gzip, as a
-- browser asks), then answers it through the API, each token once across all threads.
-- Pages and answers alternate; an answer is to the page opened LAG pages earlier (four
-- times the thread's connections, so long since served), so no page is of an answered
-- invitation.
--
-- wrk -s citizens.lua URL -- TOKEN_FILE THREADS API_KEY CONNECTIONS_PER_THREAD
-- A thread out of tokens sends one GET /livez and stops (counted in "exhausted").

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
COUNTERS = { "pages", "answered", "exhausted" }
pages, answered, exhausted = 0, 0, 0

local LAG = 0
local tokens, cursor, answering = {}, 0, false
local page_headers = { ["Accept-Encoding"] = "gzip" }
local api_headers = {}

function init(args)
   local nthreads = tonumber(args[2])
   local n = 0
   for line in io.lines(args[1]) do
      if n % nthreads == id then
         tokens[#tokens + 1] = line
      end
      n = n + 1
   end
   api_headers["Authorization"] = "Bearer " .. args[3]
   LAG = 4 * tonumber(args[4])
   api_headers["Content-Type"] = "application/json"
end

function request()
   if answering and cursor > LAG then
      answering = false
      local answer = cursor - LAG
      local body = '{"token":"' .. tokens[answer] .. '","locale":"vi","answers":{"overall":'
         .. (answer % 5 + 1) .. ',"reasons":["complex_procedure"]}}'
      return wrk.format("POST", "/api/v1/responses", api_headers, body)
   end
   cursor = cursor + 1
   if tokens[cursor] == nil then
      exhausted = 1
      return wrk.format("GET", "/livez")
   end
   answering = true
   return wrk.format("GET", "/s/" .. tokens[cursor], page_headers)
end

function response(status)
   if exhausted == 1 then
      wrk.thread:stop()
      return
   end
   count(status)
   if status == 201 then
      answered = answered + 1
   elseif status == 200 then
      pages = pages + 1
   end
end
