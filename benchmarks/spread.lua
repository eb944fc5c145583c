-- Redeem one of N vouchers (codes SPREAD-0 .. SPREAD-{N-1}) chosen at random per request.
local count = 20000
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local n = math.random(0, count - 1)
  return wrk.format(nil, "/v1/vouchers/SPREAD-" .. n .. "/redemptions")
end
