-- POST /api/v2/auth/refresh, each request with the refresh token the previous one returned.
-- Run with one connection: a refresh token works once.
local token = os.getenv("BENCH_REFRESH")
request = function()
  return wrk.format("POST", "/api/v2/auth/refresh", {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local t = body:match('"refresh_token":"(rf_[%w]+)"')
  if t then token = t end
end
