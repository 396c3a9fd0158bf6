-- wrk script: POST /api/v1/orders as one of several signed-in buyers, with a fresh
-- Idempotency-Key each time. WRK_COOKIES names a file of Cookie header values (one per line);
-- WRK_BODIES names a file of JSON order bodies, one per line, taken in turn (one line: every
-- order is the same; many: consecutive orders of a thread are for different products).
local cookies = {}
for line in io.lines(os.getenv("WRK_COOKIES")) do
  cookies[#cookies + 1] = line
end
local bodies = {}
for line in io.lines(os.getenv("WRK_BODIES")) do
  bodies[#bodies + 1] = line
end

local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local run = tostring(os.time())
local counter = 0
request = function()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Cookie"] = cookies[(counter % #cookies) + 1],
    ["Idempotency-Key"] = "bench-" .. run .. "-" .. tostring(tid) .. "-" .. counter,
  }
  return wrk.format("POST", "/api/v1/orders", headers, bodies[(counter % #bodies) + 1])
end
