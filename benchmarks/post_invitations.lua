-- POST /api/v1/invitations, each request a new transaction (so each is a 201).
--
-- wrk -s post_invitations.lua URL -- API_KEY SERVICE RUN_PREFIX

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")
COUNTERS = { "c201" }
c201 = 0

local headers = {}
local service, prefix
local serial = 0

function init(args)
   headers["Authorization"] = "Bearer " .. args[1]
   headers["Content-Type"] = "application/json"
   service, prefix = args[2], args[3]
end

function request()
   serial = serial + 1
   local body = '{"transaction_ref":"' .. prefix .. "-" .. id .. "-" .. serial
      .. '","service":"' .. service .. '","channel":"web","locale":"vi"}'
   return wrk.format("POST", "/api/v1/invitations", headers, body)
end

function response(status)
   count(status)
   if status == 201 then
      c201 = c201 + 1
   end
end
