-- A transaction end to end through the API: a portal asks for the invitation, the
-- citizen's answer follows with its token. Each thread issues invitations and answers
-- the tokens it got back, oldest first, so every answer is to a fresh invitation.
--
-- wrk -s transaction.lua URL -- API_KEY SERVICE RUN_PREFIX

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
COUNTERS = { "invited", "answered" }
invited, answered = 0, 0

local headers = {}
local service, prefix
local serial = 0
local waiting, first, last = {}, 1, 0

function init(args)
   headers["Authorization"] = "Bearer " .. args[1]
   headers["Content-Type"] = "application/json"
   service, prefix = args[2], args[3]
end

function request()
   if first <= last then
      local token = waiting[first]
      waiting[first] = nil
      first = first + 1
      local body = '{"token":"' .. token .. '","locale":"vi","answers":{"overall":'
         .. (first % 5 + 1) .. ',"reasons":["portal_error"]}}'
      return wrk.format("POST", "/api/v1/responses", headers, body)
   end
   serial = serial + 1
   local body = '{"transaction_ref":"' .. prefix .. "-" .. id .. "-" .. serial
      .. '","service":"' .. service .. '","channel":"web","locale":"vi"}'
   return wrk.format("POST", "/api/v1/invitations", headers, body)
end

function response(status, _, body)
   count(status)
   if status ~= 201 then
      return
   end
   local token = string.match(body, '"url":"[^"]*/s/([^"?]+)')
   if token then
      invited = invited + 1
      last = last + 1
      waiting[last] = token
   else
      answered = answered + 1
   end
end
