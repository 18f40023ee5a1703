-- POST /api/v2/posts with a distinct title each time (so slugs never collide).
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"title":"Bench post %d-%d","body":"%s","tags":["bench"]}',
    math.random(1, 1000000000), counter, string.rep("lorem ipsum ", 100))
  return wrk.format("POST", "/api/v2/posts", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")}, body)
end
