-- benchjson.lua: the one line every bench script prints at the end,
-- "BENCHJSON {...}", which the bench parses. Loaded by the scripts with
--   local benchjson = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "benchjson.lua")
local M = {}

-- report writes wrk's summary and latency percentiles with the threads'
-- "bad" counter and the counters named in opts.counters summed.
-- opts.ignore_status reports no status errors (a script for which 4xx is
-- the expected answer counts its own bad answers).
function M.report(threads, summary, latency, opts)
  opts = opts or {}
  local names = opts.counters or {}
  local bad, sums = 0, {}
  for _, t in ipairs(threads) do
    bad = bad + (t:get("bad") or 0)
    for _, n in ipairs(names) do sums[n] = (sums[n] or 0) + (t:get(n) or 0) end
  end
  local extra = ""
  for _, n in ipairs(names) do extra = extra .. string.format(',"%s":%d', n, sums[n] or 0) end
  local e = summary.errors
  local status = e.status
  if opts.ignore_status then status = 0 end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"bad":%d%s,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, status, e.timeout, bad, extra,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

return M
