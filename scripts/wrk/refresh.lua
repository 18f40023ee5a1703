-- POST /api/v2/auth/refresh, each request with the refresh token the previous one returned.
-- A refresh token works once, so every wrk thread runs its own chain: BENCH_REFRESH holds
-- one token per thread (comma-separated); run with as many threads as connections.
local list = {}
for t in string.gmatch(os.getenv("BENCH_REFRESH") or "", "[^,]+") do
  list[#list + 1] = t
end
local handed_out = 0
function setup(thread)
  handed_out = handed_out + 1
  thread:set("token", list[handed_out])
end
request = function()
  return wrk.format("POST", "/api/v2/auth/refresh", {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local t = body:match('"refresh_token":"(rf_[%w]+)"')
  if t then token = t end
end
