-- poll.lua: a device polling the token endpoint (RFC 8628 §3.4) with one
-- device code nobody approves. Every answer is a 400 by design:
-- authorization_pending, or slow_down for a device polling faster than
-- its interval (§3.5) — the same store operation either way. wrk counts
-- 4xx as errors; this script reports as errors only the answers that are
-- neither (bad), so the row shows what went wrong, not what was asked.
--   BENCH_BODY    the form body (grant_type device_code, device_code)
--   BENCH_AUTH    the Authorization header
-- done() prints one line "BENCHJSON {...}" that the bench parses.
local benchjson = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "benchjson.lua")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  wrk.method = "POST"
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
end

function response(status, headers, body)
  if status ~= 400 or not (string.find(body, "authorization_pending", 1, true) or string.find(body, "slow_down", 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  benchjson.report(threads, summary, latency, {ignore_status = true})
end
