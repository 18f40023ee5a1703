-- POST /api/v2/posts with a distinct title each time (so slugs never collide). wrk gives
-- every thread the same random sequence, so each thread also puts its own number in.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"title":"Bench post %d-%d-%d","body":"%s","tags":["bench"]}',
    thread_no or 0, math.random(1, 1000000000), counter, string.rep("lorem ipsum ", 100))
  return wrk.format("POST", "/api/v2/posts", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")}, body)
end
