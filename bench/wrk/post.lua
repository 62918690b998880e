-- post.lua: the same POST on every request (baseline, client_credentials,
-- password, introspection with one token: the verified-token cache warm).
--   BENCH_BODY    the form body
--   BENCH_AUTH    the Authorization header
--   BENCH_EXPECT  optional: a substring every 2xx body must hold (e.g.
--                 "active":true); a body without it is counted as bad
-- done() prints one line "BENCHJSON {...}" that the bench parses.
local benchjson = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "benchjson.lua")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  expect = os.getenv("BENCH_EXPECT") or ""
  wrk.method = "POST"
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
end

-- Defined only when there is something to check: without it wrk does not
-- hand bodies to Lua at all.
if (os.getenv("BENCH_EXPECT") or "") ~= "" then
  function response(status, headers, body)
    if status < 300 and not string.find(body, expect, 1, true) then
      bad = bad + 1
    end
  end
end

function done(summary, latency, requests)
  benchjson.report(threads, summary, latency)
end
