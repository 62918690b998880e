-- code.lua: the authorization code flow of a browser that is signed in.
-- One sign-in is two requests: GET /oauth2/authorize with a login
-- session's cookie, answered 302 with a code in the Location, then POST
-- /oauth2/token redeeming that code (authorization_code, PKCE). Each
-- thread keeps the codes its authorize answers bring in a queue; the next
-- request of any of its connections redeems the oldest one, or, when the
-- queue is empty, asks for a new code. Every code is sent exactly once.
--   BENCH_AUTHORIZE  path and query of the authorization request
--   BENCH_COOKIES    file of latchkey_session cookie values, one a line;
--                    each thread cycles through all of them, starting at
--                    its own
--   BENCH_BODY       the token request's body without the code
--   BENCH_AUTH       the token request's Authorization header
-- done() prints one line "BENCHJSON {...}" that the bench parses; "flows"
-- counts the token answers that held an access token: completed sign-ins.
local benchjson = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "benchjson.lua")
local threads = {}
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  cookies = {}
  for line in io.lines(os.getenv("BENCH_COOKIES")) do
    if line ~= "" then
      table.insert(cookies, line)
    end
  end
  nextCookie = id % #cookies
  codes, head, tail = {}, 1, 0
  bad, flows = 0, 0
  authorize = os.getenv("BENCH_AUTHORIZE")
  body = os.getenv("BENCH_BODY") .. "&code="
  tokenHeaders = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = os.getenv("BENCH_AUTH"),
  }
  authorizeHeaders = {}
end

function request()
  if head <= tail then
    local code = codes[head]
    codes[head] = nil
    head = head + 1
    return wrk.format("POST", "/oauth2/token", tokenHeaders, body .. code)
  end
  nextCookie = nextCookie % #cookies + 1
  authorizeHeaders["Cookie"] = "latchkey_session=" .. cookies[nextCookie]
  return wrk.format("GET", authorize, authorizeHeaders)
end

function response(status, headers, body)
  if status == 302 then
    local code = string.match(headers["Location"] or "", "[?&]code=([^&]+)")
    if code then
      tail = tail + 1
      codes[tail] = code
    else
      -- an error for the client, or the login page: the session is gone
      bad = bad + 1
    end
  elseif status == 200 then
    if string.find(body, '"access_token"', 1, true) then
      flows = flows + 1
    else
      bad = bad + 1
    end
  elseif status < 400 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  benchjson.report(threads, summary, latency, {counters = {"flows"}})
end
