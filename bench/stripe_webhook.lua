-- wrk script: POST /api/v1/payments/stripe/webhook with pre-signed payment_intent.succeeded
-- events, each for a different order. WRK_EVENTS names a file of "signature<TAB>body" lines;
-- the two threads take alternate lines, so no event is sent twice while the file lasts.
local events = {}
for line in io.lines(os.getenv("WRK_EVENTS")) do
  local tab = line:find("\t", 1, true)
  events[#events + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
end

local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
  thread:set("nthreads", 2)
end

local next_index = nil
request = function()
  if next_index == nil then
    next_index = tid
  end
  local e = events[((next_index - 1) % #events) + 1]
  next_index = next_index + nthreads
  return wrk.format("POST", "/api/v1/payments/stripe/webhook",
    { ["Content-Type"] = "application/json", ["Stripe-Signature"] = e[1] }, e[2])
end
