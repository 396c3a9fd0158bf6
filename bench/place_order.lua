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
local counter = 0
local tag = tostring(math.random(1, 1000000000))
request = function()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Cookie"] = cookies[(counter % #cookies) + 1],
    ["Idempotency-Key"] = "bench-" .. tag .. "-" .. counter,
  }
  return wrk.format("POST", "/api/v1/orders", headers, body)
end
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  tag = tostring(math.random(1, 1000000000))
end
