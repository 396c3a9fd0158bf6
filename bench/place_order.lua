-- wrk script: POST /api/v1/orders as one of several signed-in buyers, with a fresh
-- Idempotency-Key each time. WRK_COOKIES names a file of Cookie header values (one per line);
-- WRK_BODY names a file holding the JSON order body.
local cookies = {}
for line in io.lines(os.getenv("WRK_COOKIES")) do
  cookies[#cookies + 1] = line
end
local f = io.open(os.getenv("WRK_BODY"), "r")
local body = f:read("*a")
f:close()

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
  return wrk.format("POST", "/api/v1/orders", headers, body)
end
