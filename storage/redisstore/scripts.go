package redisstore

import "github.com/redis/go-redis/v9"

// Every atomic step is one Lua script rather than MULTI/WATCH: a script runs
// in one round trip and Redis runs it alone, so a read-check-write never has
// to be retried. WATCH would cost a round trip for the WATCH and the reads,
// another for MULTI/EXEC, and under contention (many concurrent rotations of
// one token) every loser would have to retry the whole loop.
//
// Every script touches only the keys it is given (KEYS), and the keys of one
// call always share a hash slot (the family's hash tag, or a single key), so
// the scripts run unchanged on Redis Cluster.
//
// Times are milliseconds since the Unix epoch, 0 for a zero time. An expiry
// of 0 means "never" in the checks. ARGV "floor" is the earliest PEXPIREAT
// any key gets (see expireAt in redisstore.go).

// createFamilyScript stores a family with its first token.
// KEYS: family. ARGV: pexpireat (0: never), then the hash's fields as
// name/value pairs. Returns "ok", or "conflict" when the family exists.
var createFamilyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 'conflict' end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
if tonumber(ARGV[1]) ~= 0 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return 'ok'
`)

// rotateScript replaces a family's live refresh token.
// KEYS: family. ARGV: now, generation presented, hash presented, clientID
// ("" for any), next hash, next created, next expires, arrived, grace,
// commit time (the last three in microseconds: a request and a rotation
// often fall in one millisecond).
// Returns {"ok", family fields...} (a rotation, or a repeat of the previous
// token within the grace) or {"notfound"} or {"reused"}; see
// storage.Tokens.Rotate for the rules, which sqlstore follows too. The key
// keeps its expiry (the family's cap), which also bounds the new token. A
// rotation keeps the spent token's hash ("ph") and its commit time ("ra", Unix
// microseconds).
var rotateScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'client', 'exp', 'revoked', 'gen', 'th', 'te', 'ph', 'ra')
if not f[2] then return {'notfound'} end
local fexp, frev, gen, texp = tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[6])
local rgen = tonumber(ARGV[2])
if fexp ~= 0 and fexp <= now then return {'notfound'} end
if rgen < gen then
  local ra = tonumber(f[8] or '0')
  local arrived, grace = tonumber(ARGV[8]), tonumber(ARGV[9])
  if rgen == gen - 1 and f[7] and f[7] == ARGV[3] and frev == 0 and ra ~= 0
      and (texp == 0 or texp > now) then
    if grace > 0 and (ARGV[4] == '' or ARGV[4] == f[1]) and arrived < ra + grace then
      redis.call('HSET', KEYS[1], 'used', ARGV[1])
      local r = redis.call('HGETALL', KEYS[1])
      table.insert(r, 1, 'ok')
      return r
    end
    if grace <= 0 and arrived < ra then return {'notfound'} end
  end
  if frev == 0 then redis.call('HSET', KEYS[1], 'revoked', ARGV[1]) end
  return {'reused'}
end
if rgen > gen or f[5] ~= ARGV[3] or frev ~= 0 or (texp ~= 0 and texp <= now) then
  return {'notfound'}
end
if ARGV[4] ~= '' and ARGV[4] ~= f[1] then return {'notfound'} end
local nexp = tonumber(ARGV[7])
if fexp ~= 0 and (nexp == 0 or fexp < nexp) then nexp = fexp end
redis.call('HSET', KEYS[1], 'gen', gen + 1, 'th', ARGV[5], 'tc', ARGV[6], 'te', nexp, 'used', ARGV[1],
  'ph', f[5], 'ra', ARGV[10])
local r = redis.call('HGETALL', KEYS[1])
table.insert(r, 1, 'ok')
return r
`)

// revokeFamilyScript revokes a family, keeping the first revocation time.
// KEYS: family. ARGV: now, onlyActive ("1": leave an expired family alone).
// Returns -1 for a missing family, 1 when this call revoked it, else 0.
var revokeFamilyScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'revoked')
if not f[1] then return -1 end
if tonumber(f[2]) ~= 0 then return 0 end
local exp = tonumber(f[1])
if ARGV[2] == '1' and exp ~= 0 and exp <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'revoked', ARGV[1])
return 1
`)

// subjectScript adds a family to its subject's sorted set and pushes the
// set's expiry out to the newest family's.
// KEYS: subject set. ARGV: score (created), family ID, pexpireat (0: never),
// wall-clock now.
var subjectScript = redis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2])
local want = tonumber(ARGV[3])
if want == 0 then
  redis.call('PERSIST', KEYS[1])
elseif existed == 0 then
  redis.call('PEXPIREAT', KEYS[1], want)
else
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl >= 0 and want - tonumber(ARGV[4]) > pttl then
    redis.call('PEXPIREAT', KEYS[1], want)
  end
end
return 1
`)

// revokeTokenScript denies a jti until a time, keeping the later time.
// KEYS: revocation. ARGV: until, pexpireat.
var revokeTokenScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
end
return 1
`)

// revokeSubjectScript sets a subject mark "<before>:<until>", keeping the
// later before and the later until of the stored mark and the new one; the
// key expires at until, but not before the floor.
// KEYS: the mark. ARGV: before, until, floor (all Unix ms).
var revokeSubjectScript = redis.NewScript(`
local b, u = ARGV[1], ARGV[2]
local v = redis.call('GET', KEYS[1])
if v then
  local i = string.find(v, ':', 1, true)
  if i then
    local cb, cu = string.sub(v, 1, i - 1), string.sub(v, i + 1)
    if tonumber(cb) > tonumber(b) then b = cb end
    if tonumber(cu) > tonumber(u) then u = cu end
  end
end
local at = u
if tonumber(ARGV[3]) > tonumber(at) then at = ARGV[3] end
redis.call('SET', KEYS[1], b .. ':' .. u, 'PXAT', at)
return 1
`)

// purgeSubjectScript deletes a subject mark whose until has passed.
// KEYS: the mark. ARGV: now.
var purgeSubjectScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local i = string.find(v, ':', 1, true)
if i and tonumber(string.sub(v, i + 1)) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// purgeValueScript deletes a revocation whose time has passed.
// KEYS: revocation. ARGV: now.
var purgeValueScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// purgeHashScript deletes a family whose 'exp' field has passed. KEYS: the hash. ARGV: now.
var purgeHashScript = redis.NewScript(`
local exp = tonumber(redis.call('HGET', KEYS[1], 'exp') or '0')
if exp ~= 0 and exp <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)

// delIfScript deletes a key if it holds the given value.
// KEYS: the key. ARGV: value.
var delIfScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
