#include "session_functions.hpp"

#include <fmt/format.h>

#include <cstdint>

#include "recall/detail/sha256.hpp"

namespace recall::detail {
namespace {

// Any bytes as a Lua string literal.
std::string lua_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) out += fmt::format("\\{:03d}", static_cast<unsigned char>(c));
  return out + "\"";
}

std::string constants(const session_function_config& c) {
  const long long max_per_user =
      c.max_sessions_per_user == SIZE_MAX ? -1 : static_cast<long long>(c.max_sessions_per_user);
  return fmt::format(
      "local P = {}\n"
      "local IDLE, ABS, GRAN = {}, {}, {}\n"
      "local MAXS, MAXU, MAXB = {}, {}, {}\n"
      "local GRACE, TOMB = {}, {}\n",
      lua_string(c.prefix), c.idle_ms, c.absolute_ms, c.granularity_ms, c.max_sessions,
      max_per_user, c.max_bytes_per_session, c.grace_ms, c.tombstone_ms);
}

// A session is the hash P..h (h: the key suffix of its id): 'c' creation time,
// 't' tag + MAC, 'b' quota bytes, 'd' deadline hint, 'u' user (signed in
// only), '.key' values. A tombstone is a hash with only 'x': the new suffix
// after a rotation, "" after an end. The zsets z:0 (anonymous) and z:1
// (signed in) hold every live session with its deadline as score; u:<user>
// the user's sessions with the time each was bound.
//
// The deadline is the zset's score; 'd' is written with every ZADD of it.
// While a session lives its deadline only moves later (every end, rotation
// and sign-in leaves a tombstone in its hash), so 'd' is a lower bound: before
// it has passed the session is live without a ZSCORE. Once it has passed, or
// is missing (a session an older recall wrote), the zset decides.
//
// NOW, ARGV (the call's arguments) and E (the sessions the call ended) are
// set at the start of each call (see `call` below).
constexpr const char* base = R"lua(
local NOW, ARGV, E
local Z0, Z1, CH = P .. 'z:0', P .. 'z:1', P .. 'ended'

local function zkey(u) if u == '' then return Z0 end return Z1 end

-- More fields than the metadata may be asked for in the same call: they come
-- back in m[4], m[5], ... (false when absent).
local function meta(h, ...)
  local m = redis.call('HMGET', P .. h, 'c', 'u', 'd', ...)
  return tonumber(m[1]), m[2] or '', tonumber(m[3]), m
end

local function finish(h, u)
  local k = P .. h
  local tag = string.sub(redis.call('HGET', k, 't') or '', 1, 8)
  redis.call('DEL', k)
  redis.call('HSET', k, 'x', '')
  redis.call('PEXPIRE', k, TOMB)
  redis.call('ZREM', Z0, h)
  redis.call('ZREM', Z1, h)
  if u ~= '' then redis.call('ZREM', P .. 'u:' .. u, h) end
  if #tag == 8 then redis.call('PUBLISH', CH, tag) end
  return tag
end

local function ended(cause, tag) E[#E + 1] = cause E[#E + 1] = tag end
local function expiry(c, d) if c + ABS <= d then return 4 end return 3 end
)lua";

// Ending, sweeping, evicting, binding and creating: what may end other sessions.
constexpr const char* bounds = R"lua(
local function end_hash(h, cause)
  local c, u = meta(h)
  if c then ended(cause, finish(h, u)) return end
  redis.call('ZREM', Z0, h)
  redis.call('ZREM', Z1, h)
end

local function sweep(z, limit)
  local dead = redis.call('ZRANGEBYSCORE', z, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #dead, 2 do
    local h = dead[i]
    local c, u = meta(h)
    if c then ended(expiry(c, tonumber(dead[i + 1])), finish(h, u))
    else redis.call('ZREM', z, h) end
  end
  return #dead / 2
end

local function bind(h, user)
  local uk = P .. 'u:' .. user
  redis.call('ZADD', uk, NOW, h)
  redis.call('PEXPIRE', uk, ABS + GRACE)
  if MAXU < 0 or redis.call('ZCARD', uk) <= MAXU then return end
  for _, m in ipairs(redis.call('ZRANGE', uk, 0, -1)) do
    if m ~= h then
      local c, u = meta(m)
      local d = c and tonumber(redis.call('ZSCORE', Z1, m))
      if not c or u ~= user then redis.call('ZREM', uk, m)
      elseif not d then finish(m, u)
      elseif NOW >= d then ended(expiry(c, d), finish(m, u)) end
    end
  end
  while redis.call('ZCARD', uk) > MAXU do
    local two = redis.call('ZRANGE', uk, 0, 1)
    local victim = two[1]
    if victim == h then victim = two[2] end
    if not victim then break end
    redis.call('ZREM', uk, victim)
    end_hash(victim, 2)
  end
end

local function create(h, tm, c, u)
  local k = P .. h
  if redis.call('EXISTS', k) == 1 then return nil, 4 end
  sweep(Z0, 4)
  sweep(Z1, 4)
  local total = redis.call('ZCARD', Z0) + redis.call('ZCARD', Z1)
  while total >= MAXS do
    local victim = redis.call('ZRANGE', Z0, 0, 0)[1] or redis.call('ZRANGE', Z1, 0, 0)[1]
    if not victim then break end
    end_hash(victim, 5)
    total = total - 1
  end
  local d = math.min(c + IDLE, c + ABS)
  redis.call('HSET', k, 'c', c, 't', tm, 'b', 0, 'd', d)
  if u ~= '' then redis.call('HSET', k, 'u', u) end
  redis.call('PEXPIRE', k, math.max(d - NOW, 0) + GRACE)
  redis.call('ZADD', zkey(u), d, h)
  if u ~= '' then bind(h, u) end
  return h, u, tm
end
)lua";

// What the operations of a handle share: following rotations to the live
// session, or creating it at its first write; the framing of lists and maps.
constexpr const char* handle = R"lua(
-- The live session h leads to (following rotations): live until its 'd'
-- without a ZSCORE; once 'd' has passed (or is missing) the zset decides.
local function live(h, ...)
  for _ = 1, 256 do
    local c, u, d, m = meta(h, ...)
    if c then
      if not d or NOW >= d then d = tonumber(redis.call('ZSCORE', zkey(u), h)) end
      if not d then finish(h, u) return nil, 1 end
      if NOW >= d then ended(expiry(c, d), finish(h, u)) return nil, 1 end
      return h, u, m
    end
    local x = redis.call('HGET', P .. h, 'x')
    if not x or x == '' then return nil, 1 end
    h = x
  end
  return nil, 1
end

-- The live session and, for a write, its byte count and the written field's
-- old value, read with its metadata (a session created now has neither).
local function target(field)
  if ARGV[3] == '1' then
    local h, u = create(ARGV[2], ARGV[4], tonumber(ARGV[5]), ARGV[6])
    return h, u, 0, nil
  end
  local h, u, m = live(ARGV[2], 'b', field)
  if not h then return h, u end
  return h, u, tonumber(m[4]) or 0, m[5] or nil
end

local function reply(status, h, b, extra) return {status, h or '', b or 0, extra or 0, E} end
local function bytes(k) return tonumber(redis.call('HGET', k, 'b')) or 0 end

local function items(blob)
  local out, pos, n = {}, 2, #blob
  while pos <= n do
    if n - pos + 1 < 12 then return nil end
    local len = struct.unpack('>I4', blob, pos)
    if len < 8 or n - pos + 1 - 12 < len then return nil end
    out[#out + 1] = {pos, pos + 11 + len, len}
    pos = pos + 12 + len
  end
  return out
end

local function entries(blob)
  local out, pos, n = {}, 2, #blob
  while pos <= n do
    if n - pos + 1 < 16 then return nil end
    local kl, vl = struct.unpack('>I4I4', blob, pos)
    if kl < 8 or vl < 8 or n - pos + 1 - 16 < kl + vl then return nil end
    out[#out + 1] = {pos, pos + 15 + kl + vl, kl, vl}
    pos = pos + 16 + kl + vl
  end
  return out
end

local function ekey(blob, e) return string.sub(blob, e[1] + 16, e[1] + 15 + e[3]) end

-- The map in field ARGV[7] of the live session, split around the entry keyed
-- ARGV[8]: the other entries' frames in order, and that entry. When there is
-- no such entry (or no session, or not a map), nil and the reply to give.
local function map_split()
  local h, code = live(ARGV[2])
  if not h then return nil, reply(code) end
  local k = P .. h
  local old = redis.call('HGET', k, ARGV[7])
  local b = bytes(k)
  if not old then return nil, reply(0, h, b, 0) end
  if string.sub(old, 1, 1) ~= 'm' then return nil, reply(3, h, b) end
  local en = entries(old)
  if not en then return nil, reply(7, h, b) end
  local parts, hit = {}, nil
  for _, e in ipairs(en) do
    if ekey(old, e) == ARGV[8] then hit = e else parts[#parts + 1] = string.sub(old, e[1], e[2]) end
  end
  if not hit then return nil, reply(0, h, b, 0) end
  return {h = h, k = k, b = b, old = old, parts = parts, hit = hit}
end

local function weight(field, v)
  local w, kind = #field - 1, string.sub(v, 1, 1)
  if kind == 'v' and #v >= 17 then return w + #v + 15 end
  if kind == 'w' and #v >= 25 then return w + #v + 7 end
  if kind == 'l' then
    local it = items(v)
    if not it then return nil end
    for _, e in ipairs(it) do w = w + e[3] + 24 end
    return w
  end
  if kind == 'm' then
    local en = entries(v)
    if not en then return nil end
    for _, e in ipairs(en) do w = w + e[3] + e[4] + 48 end
    return w
  end
  return nil
end

local function over(oldw, neww, total)
  return neww > oldw and (total > MAXB or neww > 4294967295)
end

local function call(body)
  return function(_, args)
    NOW, ARGV, E = tonumber(args[1]), args, {}
    return body()
  end
end
)lua";

constexpr const char* refresh_body = R"lua(
local h = ARGV[2]
local c, u, hint = meta(h)
if not c then return {0, E} end
local z = zkey(u)
local d = tonumber(redis.call('ZSCORE', z, h))
if not d then return {0, E} end
if NOW >= d then ended(expiry(c, d), finish(h, u)) return {2, E} end
if u ~= '' and u ~= ARGV[3] then return {3, E} end
local nd = math.min(NOW + IDLE, c + ABS)
if nd - d >= GRAN then
  d = nd
  redis.call('ZADD', z, 'XX', d, h)
  redis.call('PEXPIRE', P .. h, d - NOW + GRACE)
end
if hint ~= d then redis.call('HSET', P .. h, 'd', d) end
return {1, E}
)lua";

constexpr const char* sign_in_body = R"lua(
local h, nh, tm, user = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local c, u = meta(h)
if not c or u ~= '' then return {1, E} end
local d = tonumber(redis.call('ZSCORE', Z0, h))
if not d then return {1, E} end
if NOW >= d then ended(expiry(c, d), finish(h, u)) return {2, E} end
local k, nk = P .. h, P .. nh
if redis.call('EXISTS', nk) == 1 then return {4, E} end
local nd = math.min(NOW + IDLE, c + ABS)
redis.call('RENAME', k, nk)
redis.call('HSET', nk, 'u', user, 't', tm, 'd', nd)
redis.call('HSET', k, 'x', nh)
redis.call('PEXPIRE', k, TOMB)
redis.call('ZREM', Z0, h)
redis.call('ZADD', Z1, nd, nh)
redis.call('PEXPIRE', nk, nd - NOW + GRACE)
bind(nh, user)
return {0, E}
)lua";

constexpr const char* store_body = R"lua(
local h, code, b = target('b')
if not h then return reply(code) end
return reply(0, h, b)
)lua";

constexpr const char* set_body = R"lua(
local field, value, version = ARGV[7], ARGV[8], ARGV[9]
local h, code, b, old = target(field)
if not h then return reply(code) end
local k = P .. h
if old and version ~= '' and string.sub(old, 1, 1) == 'w' and #old >= 25 then
  local oh, ol = struct.unpack('>I4I4', old, 10)
  local vh, vl = struct.unpack('>I4I4', version)
  if oh > vh or (oh == vh and ol > vl) then return reply(5, h, b) end
end
local oldw = old and weight(field, old) or 0
local neww = weight(field, value)
local total = math.max(b - oldw, 0) + neww
if over(oldw, neww, total) then return reply(2, h, total, neww) end
redis.call('HSET', k, field, value, 'b', total)
return reply(0, h, total)
)lua";

constexpr const char* erase_body = R"lua(
local h, code = live(ARGV[2])
if not h then return reply(code) end
local k, field = P .. h, ARGV[7]
local old = redis.call('HGET', k, field)
local b = bytes(k)
-- With ARGV[8] (a stale version's bytes), only if nobody replaced it since.
if not old or (ARGV[8] and old ~= ARGV[8]) then return reply(0, h, b, 0) end
local total = math.max(b - (weight(field, old) or 0), 0)
redis.call('HDEL', k, field)
redis.call('HSET', k, 'b', total)
return reply(0, h, total, 1)
)lua";

constexpr const char* clear_body = R"lua(
local h, code = live(ARGV[2])
if not h then return reply(code) end
local k = P .. h
for _, name in ipairs(redis.call('HKEYS', k)) do
  if string.sub(name, 1, 1) == '.' then redis.call('HDEL', k, name) end
end
redis.call('HSET', k, 'b', 0)
return reply(0, h, 0)
)lua";

constexpr const char* list_push_body = R"lua(
local field, frame, n = ARGV[7], ARGV[8], tonumber(ARGV[9])
local h, code, b, old = target(field)
if not h then return reply(code) end
local k = P .. h
local kept, keptw, oldw = '', 0, 0
if old then
  if string.sub(old, 1, 1) ~= 'l' then return reply(3, h, b) end
  local it = items(old)
  if not it then return reply(7, h, b) end
  local first = math.max(#it - n + 2, 1)
  if first <= #it then kept = string.sub(old, it[first][1]) end
  for i, e in ipairs(it) do
    oldw = oldw + e[3] + 24
    if i >= first then keptw = keptw + e[3] + 24 end
  end
  oldw = oldw + #field - 1
end
local neww = #field - 1 + keptw + #frame - 12 + 24
local total = math.max(b - oldw, 0) + neww
if over(oldw, neww, total) then return reply(2, h, total, neww) end
redis.call('HSET', k, field, 'l' .. kept .. frame, 'b', total)
return reply(0, h, total)
)lua";

constexpr const char* map_put_body = R"lua(
local field, frame, n = ARGV[7], ARGV[8], tonumber(ARGV[9])
local kc = string.sub(frame, 17, 16 + struct.unpack('>I4', frame))
local h, code, b, old = target(field)
if not h then return reply(code) end
local k = P .. h
local parts, keptw, oldw = {}, 0, 0
if old then
  if string.sub(old, 1, 1) ~= 'm' then return reply(3, h, b) end
  local en = entries(old)
  if not en then return reply(7, h, b) end
  local others = {}
  for _, e in ipairs(en) do
    oldw = oldw + e[3] + e[4] + 48
    if ekey(old, e) ~= kc then others[#others + 1] = e end
  end
  oldw = oldw + #field - 1
  for i = math.max(#others - n + 2, 1), #others do
    local e = others[i]
    parts[#parts + 1] = string.sub(old, e[1], e[2])
    keptw = keptw + e[3] + e[4] + 48
  end
end
local neww = #field - 1 + keptw + #frame - 16 + 48
local total = math.max(b - oldw, 0) + neww
if over(oldw, neww, total) then return reply(2, h, total, neww) end
parts[#parts + 1] = frame
redis.call('HSET', k, field, 'm' .. table.concat(parts), 'b', total)
return reply(0, h, total)
)lua";

constexpr const char* map_touch_body = R"lua(
local m, r = map_split()
if not m then return r end
m.parts[#m.parts + 1] = string.sub(m.old, m.hit[1], m.hit[2])
redis.call('HSET', m.k, ARGV[7], 'm' .. table.concat(m.parts))
return reply(0, m.h, m.b, 1)
)lua";

constexpr const char* map_erase_body = R"lua(
local m, r = map_split()
if not m then return r end
local total = math.max(m.b - (m.hit[3] + m.hit[4] + 48), 0)
redis.call('HSET', m.k, ARGV[7], 'm' .. table.concat(m.parts), 'b', total)
return reply(0, m.h, total, 1)
)lua";

constexpr const char* rotate_body = R"lua(
local h, u = live(ARGV[2])
if not h then return reply(1) end
local nh, tm, expected = ARGV[7], ARGV[8], ARGV[9]
if u ~= expected then return reply(6, h, 0, u) end
local k, nk, z = P .. h, P .. nh, zkey(u)
if redis.call('EXISTS', nk) == 1 then return reply(4, h) end
local d = redis.call('ZSCORE', z, h)
if not d then finish(h, u) return reply(1) end
redis.call('RENAME', k, nk)
redis.call('HSET', nk, 't', tm, 'd', d)
redis.call('HSET', k, 'x', nh)
redis.call('PEXPIRE', k, TOMB)
redis.call('ZREM', z, h)
redis.call('ZADD', z, d, nh)
if u ~= '' then
  local uk = P .. 'u:' .. u
  local s = redis.call('ZSCORE', uk, h)
  if s then
    redis.call('ZREM', uk, h)
    redis.call('ZADD', uk, s, nh)
  end
end
return reply(0, nh, bytes(nk))
)lua";

constexpr const char* end_body = R"lua(
local h, u = live(ARGV[2])
if not h then return reply(1) end
ended(1, finish(h, u))
return reply(0, h)
)lua";

constexpr const char* end_all_body = R"lua(
local user = ARGV[2]
local uk = P .. 'u:' .. user
local n = 0
for _, h in ipairs(redis.call('ZRANGE', uk, 0, -1)) do
  local c, u = meta(h)
  if c and u == user then
    ended(1, finish(h, u))
    n = n + 1
  end
end
redis.call('DEL', uk)
return {n, E}
)lua";

constexpr const char* cleanup_body = R"lua(
local limit = tonumber(ARGV[2])
return {sweep(Z0, limit) + sweep(Z1, limit), E}
)lua";

}  // namespace

session_functions::session_functions(const session_function_config& config) {
  struct entry {
    std::string* name;
    const char* operation;
    const char* body;
  };
  const entry functions[] = {{&refresh, "refresh", refresh_body},
                             {&sign_in, "sign_in", sign_in_body},
                             {&store, "store", store_body},
                             {&set, "set", set_body},
                             {&erase, "erase", erase_body},
                             {&clear, "clear", clear_body},
                             {&list_push, "list_push", list_push_body},
                             {&map_put, "map_put", map_put_body},
                             {&map_touch, "map_touch", map_touch_body},
                             {&map_erase, "map_erase", map_erase_body},
                             {&rotate, "rotate", rotate_body},
                             {&end, "end", end_body},
                             {&end_all, "end_all", end_all_body},
                             {&cleanup, "cleanup", cleanup_body}};
  std::string code = constants(config) + base + bounds + handle;
  for (const entry& f : functions) code += f.body;
  const sha256_digest digest = sha256_of(code);
  library = "recall_sessions_v1_";
  for (std::size_t i = 0; i < 6; ++i) library += fmt::format("{:02x}", digest[i]);
  // No flags: Redis treats every function as one that may write, and refuses
  // it as a whole when it is out of memory instead of failing it halfway.
  load_source =
      fmt::format("#!lua name={}\n{}{}{}{}", library, constants(config), base, bounds, handle);
  for (const entry& f : functions) {
    *f.name = fmt::format("{}_{}", library, f.operation);
    load_source +=
        fmt::format("redis.register_function('{}', call(function()\n{}end))\n", *f.name, f.body);
  }
}

}  // namespace recall::detail
