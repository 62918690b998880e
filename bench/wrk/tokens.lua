-- tokens.lua: one token per request, from a file of pre-issued tokens that
-- the wrk threads share out in disjoint slices (line i goes to thread
-- i mod BENCH_THREADS).
--   BENCH_MODE    "refresh": the slice is a queue of refresh tokens; each
--                 request spends the token at its head and the rotated
--                 token of the answer joins its tail, so every token is
--                 sent exactly once across all connections (a token sent
--                 twice would be refused by the server's reuse detection
--                 and counted as an error).
--                 "introspect": the slice is cycled through (access tokens,
--                 more of them than the verified-token cache holds, so
--                 every introspection verifies a token the cache lost).
--   BENCH_TOKENS  the file, one token a line
--   BENCH_THREADS the number of wrk threads (-t)
--   BENCH_AUTH    the Authorization header
--   BENCH_EXPECT  optional: a substring every 2xx body must hold
--   BENCH_OFFSET  optional, "introspect" mode: start this many tokens into
--                 the slice (the warmup starts half-way, so that the tokens
--                 it put in the cache come last in the measured run)
-- done() prints one line "BENCHJSON {...}" that the bench parses.
local benchjson = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "benchjson.lua")
local threads = {}
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  mode = os.getenv("BENCH_MODE")
  expect = os.getenv("BENCH_EXPECT") or ""
  local n = tonumber(os.getenv("BENCH_THREADS"))
  queue, head, tail = {}, 1, 0
  local i = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if i % n == id and line ~= "" then
      tail = tail + 1
      queue[tail] = line
    end
    i = i + 1
  end
  local offset = tonumber(os.getenv("BENCH_OFFSET") or "0") or 0
  if mode ~= "refresh" and tail > 0 then
    for _ = 1, offset % tail do
      tail = tail + 1
      queue[tail] = queue[head]
      queue[head] = nil
      head = head + 1
    end
  end
  bad, starved = 0, 0
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = os.getenv("BENCH_AUTH"),
  }
  if mode == "refresh" then
    prefix = "grant_type=refresh_token&refresh_token="
  else
    prefix = "token="
  end
end

local function take()
  if head > tail then
    return nil
  end
  local tok = queue[head]
  queue[head] = nil
  head = head + 1
  if mode ~= "refresh" then -- cycle: back to the tail
    tail = tail + 1
    queue[tail] = tok
  end
  return tok
end

function request()
  local tok = take()
  if tok == nil then
    -- Every refresh token of this thread is in flight or was lost to a
    -- failed request: send one that cannot exist rather than reuse one.
    starved = starved + 1
    tok = "starved"
  end
  return wrk.format("POST", nil, headers, prefix .. tok)
end

function response(status, headers, body)
  if status >= 300 then
    return
  end
  if expect ~= "" and not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
  if mode == "refresh" then
    local tok = string.match(body, '"refresh_token":"([^"]+)"')
    if tok then
      tail = tail + 1
      queue[tail] = tok
    else
      bad = bad + 1
    end
  end
end

function done(summary, latency, requests)
  benchjson.report(threads, summary, latency, {counters = {"starved"}})
end
