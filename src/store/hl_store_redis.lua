#!lua name=hyperlane_v4
-- hl_store_redis.lua: the Redis backend's server side (hl_store_redis.c),
-- one Redis Functions library.  Every operation of the store is one FCALL,
-- so it runs atomically in Redis whichever host calls it: the counter and
-- its history, and the cache's entries, LRU order and byte accounting can
-- never disagree.  The build embeds this file in the module (hl_store_redis.c
-- loads it with FUNCTION LOAD REPLACE); the library's name carries a version
-- and changes whenever these functions change, so that deployments of two
-- versions can share one Redis.
--
-- Every function takes no declared keys; its first argument is the prefix
-- (HyperlaneRedisPrefix) under which it names its keys:
--   P.."counter"    the counter (a string holding an integer)
--   P.."history"    a list of the newest increments, newest first, each a
--                   JSON object {"value","time","pid","host"}; it may
--                   hold up to HISTORY_SLACK entries beyond the history's
--                   size, which no reader ever takes
--   P.."c:e:"..key  a cache entry: a hash v (value), s (set time, us),
--                   x (expiry, us, 0: never), a (access count), b (bytes),
--                   n (version)
--   P.."c:version"  the counter every write of a value takes its version
--                   from, started at the time of the first write
--   P.."c:keys"     sorted set of every entry's key, all scored 0, so that
--                   ZRANGEBYLEX lists them in byte order (the listing)
--   P.."c:lru"      sorted set of keys by last use (P.."c:tick" orders it)
--   P.."c:exp"      sorted set of the keys that expire, by expiry
--   P.."c:stats"    hash: hits misses sets deletes evictions expirations
--                   entries bytes accesses
-- Times come from the caller (microseconds), as the shm backend takes them.

-- The history is trimmed back to its size once it holds this many more
-- entries: one LTRIM per HISTORY_SLACK increments, not one per increment
-- (each redis.call is a good part of an increment's cost in Redis).
local HISTORY_SLACK = 64

local function incr(keys, args)
    local p, cap, time, pid, host = args[1], tonumber(args[2]), args[3], args[4], args[5]
    local v = redis.call('INCR', p .. 'counter')
    local entry = string.format('{"value":%d,"time":%s,"pid":%s,"host":%s}',
                                v, time, pid, cjson.encode(host))
    if redis.call('LPUSH', p .. 'history', entry) > cap + HISTORY_SLACK then
        redis.call('LTRIM', p .. 'history', 0, cap - 1)
    end
    return v
end

-- {"value":N,"length":L,"recent":[entries, newest first]}
local function counter(keys, args)
    local p, cap, n = args[1], tonumber(args[2]), tonumber(args[3])
    local value = redis.call('GET', p .. 'counter') or '0'
    local length = math.min(redis.call('LLEN', p .. 'history'), cap)
    local recent = {}
    if n > length then n = length end
    if n > 0 then
        recent = redis.call('LRANGE', p .. 'history', 0, n - 1)
    end
    return string.format('{"value":%s,"length":%d,"recent":[%s]}', value,
                         length, table.concat(recent, ','))
end

local function entry_key(p, key)
    return p .. 'c:e:' .. key
end

local function expired(x, now)
    return x ~= '0' and tonumber(now) >= tonumber(x)
end

-- Takes n from a figure (never writing -0, which HINCRBY refuses: a
-- function that fails half-way leaves its writes in place).
local function lower(p, field, n)
    n = tonumber(n)
    if n ~= 0 then
        redis.call('HINCRBY', p .. 'c:stats', field, 0 - n)
    end
end

-- Removes an entry, given its bytes and access count, from the lists and
-- the accounting.
local function remove(p, key, b, a)
    redis.call('DEL', entry_key(p, key))
    redis.call('ZREM', p .. 'c:lru', key)
    redis.call('ZREM', p .. 'c:exp', key)
    redis.call('ZREM', p .. 'c:keys', key)
    redis.call('HINCRBY', p .. 'c:stats', 'entries', -1)
    lower(p, 'bytes', b)
    lower(p, 'accesses', a)
end

local function remove_key(p, key, counter_name)
    local h = redis.call('HMGET', entry_key(p, key), 'b', 'a')
    remove(p, key, h[1] or 0, h[2] or 0)
    redis.call('HINCRBY', p .. 'c:stats', counter_name, 1)
end

-- The soonest expired entry, if one has expired by now, is reclaimed.
local function reclaim_expired(p, now)
    local k = redis.call('ZRANGEBYSCORE', p .. 'c:exp', '-inf', now, 'LIMIT', 0, 1)
    if #k == 0 then return false end
    remove_key(p, k[1], 'expirations')
    return true
end

local function touch(p, key)
    local tick = redis.call('INCR', p .. 'c:tick')
    redis.call('ZADD', p .. 'c:lru', tick, key)
end

-- A hit: {value, set time, expiry, access count, version}; a miss: nil.
local function get(keys, args)
    local p, key, now = args[1], args[2], args[3]
    local ek = entry_key(p, key)
    local h = redis.call('HMGET', ek, 'v', 's', 'x', 'a', 'b', 'n')
    if not h[1] then
        redis.call('HINCRBY', p .. 'c:stats', 'misses', 1)
        return false
    end
    if expired(h[3], now) then
        remove(p, key, h[5], h[4])
        redis.call('HINCRBY', p .. 'c:stats', 'expirations', 1)
        redis.call('HINCRBY', p .. 'c:stats', 'misses', 1)
        return false
    end
    local a = redis.call('HINCRBY', ek, 'a', 1)
    redis.call('HINCRBY', p .. 'c:stats', 'hits', 1)
    redis.call('HINCRBY', p .. 'c:stats', 'accesses', 1)
    touch(p, key)
    return {h[1], h[2], h[3], a, h[6] or '0'}
end

local function bytes_used(p)
    return tonumber(redis.call('HGET', p .. 'c:stats', 'bytes') or '0')
end

-- What a write of the cache API answers: {code, existed, version, expiry,
-- number (add), bytes used now}; the codes are hl_store_redis.c's.
local OK, NOTFOUND, PRECONDITION, NOTINT, OVERFLOW, INVALID, NOSPACE =
    0, 1, 2, 3, 4, 5, 6

local function answer(p, code, existed, n, x, number)
    return {code, existed and 1 or 0, n or '0', x or '0', number or '0',
            bytes_used(p)}
end

local function tag_in(list, n)
    for t in string.gmatch(list, '%d+') do
        if t == n then return true end
    end
    return false
end

-- Whether If-Match im and If-None-Match nim hold for an entry that exists
-- (or not) with version n: each is '' (none), '*' (any) or '=' and the
-- versions, as hl_cache_cond_holds judges them.
local function cond_holds(im, nim, exists, n)
    if im == '*' and not exists then return false end
    if string.sub(im, 1, 1) == '=' and not (exists and tag_in(im, n)) then
        return false
    end
    if nim == '*' and exists then return false end
    if string.sub(nim, 1, 1) == '=' and exists and tag_in(nim, n) then
        return false
    end
    return true
end

-- Stores key (bytes b accounted, capacity cap) with a new version: the old
-- entry goes first, then up to two expired ones, then expired and least
-- recently used ones until it fits, each counted.  Returns whether the key
-- held a live value, and the version.
local function write_entry(p, key, value, now, x, b, cap)
    local stats = p .. 'c:stats'
    local ek = entry_key(p, key)
    local replaced = false
    local h = redis.call('HMGET', ek, 'x', 'a', 'b')
    if h[1] then
        if expired(h[1], now) then
            redis.call('HINCRBY', stats, 'expirations', 1)
        else
            replaced = true
        end
        remove(p, key, h[3], h[2])
    end
    for _ = 1, 2 do
        if not reclaim_expired(p, now) then break end
    end
    while bytes_used(p) + b > cap do
        if not reclaim_expired(p, now) then
            local victim = redis.call('ZRANGE', p .. 'c:lru', 0, 0)
            if #victim == 0 then break end
            remove_key(p, victim[1], 'evictions')
        end
    end
    local n = redis.call('INCR', p .. 'c:version')
    if n == 1 then
        -- A new counter (an empty or wiped Redis) starts at the time, in
        -- microseconds, so that it never gives back a version a client
        -- may still hold from before.
        n = redis.call('INCRBY', p .. 'c:version', now)
    end
    n = string.format('%d', n)
    redis.call('HSET', ek, 'v', value, 's', now, 'x', x, 'a', 0, 'b', b, 'n', n)
    touch(p, key)
    if x ~= '0' then
        redis.call('ZADD', p .. 'c:exp', x, key)
    end
    redis.call('ZADD', p .. 'c:keys', 0, key)
    redis.call('HINCRBY', stats, 'entries', 1)
    redis.call('HINCRBY', stats, 'bytes', b)
    redis.call('HINCRBY', stats, 'sets', 1)
    return replaced, n
end

-- A set (key, value, now, expiry, bytes, capacity) under the conditions
-- im and nim (absent: none), judged before anything changes.
local function set(keys, args)
    local p, key, value, now, x = args[1], args[2], args[3], args[4], args[5]
    local b, cap = tonumber(args[6]), tonumber(args[7])
    local im, nim = args[8] or '', args[9] or ''
    local h = redis.call('HMGET', entry_key(p, key), 'x', 'n')
    local exists = h[1] and not expired(h[1], now)
    if not cond_holds(im, nim, exists, h[2]) then
        if exists then return answer(p, PRECONDITION, true, h[2], h[1]) end
        return answer(p, PRECONDITION, false)
    end
    local replaced, n = write_entry(p, key, value, now, x, b, cap)
    return answer(p, OK, replaced, n, x)
end

-- The live entry's fields {x, a, b, n}, or nil (an expired one is
-- reclaimed and counted).
local function live(p, key, now)
    local h = redis.call('HMGET', entry_key(p, key), 'x', 'a', 'b', 'n')
    if not h[1] then return nil end
    if expired(h[1], now) then
        remove(p, key, h[3], h[2])
        redis.call('HINCRBY', p .. 'c:stats', 'expirations', 1)
        return nil
    end
    return h
end

-- A delete (key, now) under conditions: a missing entry is not found
-- whatever they say.
local function remove_if(keys, args)
    local p, key, now, im, nim = args[1], args[2], args[3], args[4], args[5]
    local h = live(p, key, now)
    if not h then return answer(p, NOTFOUND, false) end
    if not cond_holds(im, nim, true, h[4]) then
        return answer(p, PRECONDITION, true, h[4], h[1])
    end
    remove(p, key, h[3], h[2])
    redis.call('HINCRBY', p .. 'c:stats', 'deletes', 1)
    return answer(p, OK, true)
end

-- A new expiry x (key, now, x) for a live entry; its value and version
-- stay.
local function expire(keys, args)
    local p, key, now, x, im, nim = args[1], args[2], args[3], args[4], args[5], args[6]
    local h = live(p, key, now)
    if not h then return answer(p, NOTFOUND, false) end
    if not cond_holds(im, nim, true, h[4]) then
        return answer(p, PRECONDITION, true, h[4], h[1])
    end
    redis.call('HSET', entry_key(p, key), 'x', x)
    if x ~= '0' then
        redis.call('ZADD', p .. 'c:exp', x, key)
    else
        redis.call('ZREM', p .. 'c:exp', key)
    end
    return answer(p, OK, true, h[4], x)
end

-- Integers as the add reads them: an optional '-' and 1 to 19 digits,
-- within int64 (hl_cache_parse_int).  Lua's numbers are doubles, exact
-- only to 2^53, so an integer is kept as {sign, high, low}: low the last
-- nine digits, high the ones above them; every step below stays exact.
local E9 = 1000000000
local HIGH_MAX = 9223372036         -- int64's limits: HIGH_MAX and
local LOW_MAX = 854775807           -- LOW_MAX (or LOW_MAX + 1 below 0)

local function int_fits(sign, high, low)
    return high < HIGH_MAX
           or (high == HIGH_MAX and low <= LOW_MAX + (sign < 0 and 1 or 0))
end

local function int_parse(s)
    if not s then return nil end
    local minus, digits = string.match(s, '^(%-?)(%d+)$')
    if not digits or #digits > 19 then return nil end
    local sign = minus == '-' and -1 or 1
    local high = tonumber(string.sub(digits, 1, -10)) or 0
    local low = tonumber(string.sub(digits, -9))
    if not int_fits(sign, high, low) then return nil end
    return {sign, high, low}
end

-- a + b, or nil when it leaves int64.
local function int_add(a, b)
    local high = a[1] * a[2] + b[1] * b[2]
    local low = a[1] * a[3] + b[1] * b[3]
    if low >= E9 then
        high, low = high + 1, low - E9
    elseif low <= -E9 then
        high, low = high - 1, low + E9
    end
    -- low gets high's sign
    if high > 0 and low < 0 then
        high, low = high - 1, low + E9
    elseif high < 0 and low > 0 then
        high, low = high + 1, low - E9
    end
    local sign = (high < 0 or (high == 0 and low < 0)) and -1 or 1
    high, low = math.abs(high), math.abs(low)
    if not int_fits(sign, high, low) then return nil end
    return {sign, high, low}
end

local function int_text(v)
    local s = v[2] > 0 and string.format('%d%09d', v[2], v[3])
                       or string.format('%d', v[3])
    if v[1] < 0 and (v[2] > 0 or v[3] > 0) then s = '-' .. s end
    return s
end

-- The atomic add (key, delta, init or '', expiry of a new entry, now,
-- bytes of the entry but its value, capacity, largest value, If-Match,
-- If-None-Match).  A missing entry without init is not found whatever the
-- conditions say; else they are judged before the add's own refusals.
local function add(keys, args)
    local p, key, delta, init, x_new, now = args[1], args[2], args[3], args[4], args[5], args[6]
    local b, cap, max_value = tonumber(args[7]), tonumber(args[8]), tonumber(args[9])
    local im, nim = args[10] or '', args[11] or ''
    local h = live(p, key, now)
    local base, x
    if not h and init == '' then return answer(p, NOTFOUND, false) end
    if not cond_holds(im, nim, h ~= nil, h and h[4]) then
        return answer(p, PRECONDITION, h ~= nil, h and h[4], h and h[1])
    end
    if h then
        base = int_parse(redis.call('HGET', entry_key(p, key), 'v'))
        if not base then return answer(p, NOTINT, true, h[4], h[1]) end
        x = h[1]                        -- an add keeps the lifetime
    else
        base, x = int_parse(init), x_new
    end
    local sum = int_add(base, int_parse(delta))
    if not sum then
        return answer(p, OVERFLOW, h ~= nil, h and h[4], h and h[1])
    end
    local text = int_text(sum)
    if #text > max_value then return answer(p, INVALID, h ~= nil) end
    if b + #text > cap then return answer(p, NOSPACE, h ~= nil) end
    local _, n = write_entry(p, key, text, now, x, b + #text, cap)
    return answer(p, OK, h ~= nil, n, x, text)
end

-- A page of the listing: the keys of P.."c:keys" from start (a
-- ZRANGEBYLEX bound), at most limit of them, while they begin with
-- prefix.  Returns {1 when no key is left after them, the last key looked
-- at, how many, {key, value length, version, expiry} for each live one}.
local function list(keys, args)
    local p, start, prefix, limit, now = args[1], args[2], args[3], tonumber(args[4]), args[5]
    local ks = redis.call('ZRANGEBYLEX', p .. 'c:keys', start, '+', 'LIMIT', 0, limit)
    local done, last, looked, items = #ks < limit and 1 or 0, '', 0, {}
    for _, k in ipairs(ks) do
        if string.sub(k, 1, #prefix) ~= prefix then
            done = 1
            break
        end
        last, looked = k, looked + 1
        local ek = entry_key(p, k)
        local h = redis.call('HMGET', ek, 'x', 'n')
        if h[1] and not expired(h[1], now) then
            items[#items + 1] = {k, redis.call('HSTRLEN', ek, 'v'), h[2] or '0', h[1]}
        end
    end
    return {done, last, looked, items}
end

-- {1: deleted, 0: not found (an expired entry is reclaimed and counted),
-- bytes used now}.
local function del(keys, args)
    local p, key, now = args[1], args[2], args[3]
    local h = redis.call('HMGET', entry_key(p, key), 'x', 'a', 'b')
    if not h[1] then return {0, bytes_used(p)} end
    remove(p, key, h[3], h[2])
    if expired(h[1], now) then
        redis.call('HINCRBY', p .. 'c:stats', 'expirations', 1)
        return {0, bytes_used(p)}
    end
    redis.call('HINCRBY', p .. 'c:stats', 'deletes', 1)
    return {1, bytes_used(p)}
end

-- The cache's figures and the server's own, as JSON strings.
local function stats(keys, args)
    local p = args[1]
    local out = {}
    local names = { 'hits', 'misses', 'sets', 'deletes', 'evictions',
                    'expirations', 'entries', 'bytes', 'accesses' }
    local v = redis.call('HMGET', p .. 'c:stats', unpack(names))
    for i, name in ipairs(names) do
        out[name] = v[i] or '0'
    end
    local info = redis.call('INFO', 'server') .. redis.call('INFO', 'memory')
    out.redis_version = string.match(info, 'redis_version:([^\r\n]*)') or ''
    out.used_memory = string.match(info, 'used_memory:(%d+)') or '0'
    return cjson.encode(out)
end

redis.register_function('hyperlane_v4_incr', incr)
redis.register_function{function_name = 'hyperlane_v4_counter',
                        callback = counter, flags = {'no-writes'}}
redis.register_function('hyperlane_v4_get', get)
redis.register_function('hyperlane_v4_set', set)
redis.register_function('hyperlane_v4_del', del)
redis.register_function('hyperlane_v4_remove', remove_if)
redis.register_function('hyperlane_v4_expire', expire)
redis.register_function('hyperlane_v4_add', add)
redis.register_function{function_name = 'hyperlane_v4_list',
                        callback = list, flags = {'no-writes'}}
redis.register_function{function_name = 'hyperlane_v4_stats',
                        callback = stats, flags = {'no-writes'}}
