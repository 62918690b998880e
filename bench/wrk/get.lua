-- get.lua: the same GET on every request, with a cookie (an authorization
-- request of a signed-in browser).
--   BENCH_COOKIE           the Cookie header
--   BENCH_EXPECT_LOCATION  optional: every answer must be a redirect whose
--                          Location starts with it; others count as bad
-- done() prints one line "BENCHJSON {...}" that the bench parses.
local benchjson = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "benchjson.lua")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  expect = os.getenv("BENCH_EXPECT_LOCATION") or ""
  wrk.method = "GET"
  wrk.headers["Cookie"] = os.getenv("BENCH_COOKIE")
end

function response(status, headers, body)
  if expect ~= "" then
    local loc = headers["Location"] or headers["location"] or ""
    if status < 300 or status > 399 or string.sub(loc, 1, #expect) ~= expect then
      bad = bad + 1
    end
  end
end

function done(summary, latency, requests)
  benchjson.report(threads, summary, latency)
end
