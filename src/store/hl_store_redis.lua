#!lua name=hyperlane_v2
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
--                   JSON object {"value","time","pid","host"}
--   P.."c:e:"..key  a cache entry: a hash v (value), s (set time, us),
--                   x (expiry, us, 0: never), a (access count), b (bytes),
--                   n (version: P.."c:ver" counts every write)
--   P.."c:keys"     sorted set of every key, by its bytes (listings)
--   P.."c:lru"      sorted set of keys by last use (P.."c:tick" orders it)
--   P.."c:exp"      sorted set of the keys that expire, by expiry
--   P.."c:stats"    hash: hits misses sets deletes evictions expirations
--                   entries bytes accesses
-- Times come from the caller (microseconds), as the shm backend takes them.

local function incr(keys, args)
    local p, cap, time, pid, host = args[1], tonumber(args[2]), args[3], args[4], args[5]
    local v = redis.call('INCR', p .. 'counter')
    local entry = string.format('{"value":%d,"time":%s,"pid":%s,"host":%s}',
                                v, time, pid, cjson.encode(host))
    redis.call('LPUSH', p .. 'history', entry)
    redis.call('LTRIM', p .. 'history', 0, cap - 1)
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
    redis.call('ZREM', p .. 'c:keys', key)
    redis.call('ZREM', p .. 'c:lru', key)
    redis.call('ZREM', p .. 'c:exp', key)
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

-- A hit: {value, set time, expiry, access count}; a miss: nil.
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
    return {h[1], h[2], h[3], a, h[6]}
end

-- The conditions of a write, from args[i]: if-match kind (0 none, 1 any,
-- 2 list), its count and versions, then the same for if-none-match
-- (hl_store.h, hl_cache_cond).  Whether they hold for an entry that
-- exists (or not) with version.
local function cond_holds(args, i, exists, version)
    if not args[i] then return true end
    local function listed(kind_at)
        local n = tonumber(args[kind_at + 1])
        for j = 1, n do
            if exists and args[kind_at + 1 + j] == version then return true end
        end
        return false
    end
    local mk, nk_at = args[i], i + 2 + tonumber(args[i + 1])
    local nk = args[nk_at]
    local ok = true
    if mk == '1' then ok = exists elseif mk == '2' then ok = listed(i) end
    if nk == '1' then ok = ok and not exists
    elseif nk == '2' then ok = ok and not listed(nk_at) end
    return ok
end

-- The live entry's fields (v, x, n), or nil: an expired one is missing.
local function live(p, key, now)
    local h = redis.call('HMGET', entry_key(p, key), 'v', 'x', 'n')
    if not h[1] or expired(h[2], now) then return nil end
    return h
end

local function bytes_used(p)
    return tonumber(redis.call('HGET', p .. 'c:stats', 'bytes') or '0')
end

-- Stores key (bytes b accounted, capacity cap) if the conditions from
-- args[8] hold: the old entry goes first, then up to two expired ones,
-- then expired and least recently used ones until it fits, each counted.
-- Returns {1 if the key held a live value, bytes used now, the new
-- version}, or {-1, 1 if a live entry exists, its version, its expiry}
-- when the conditions fail, having changed nothing.
local function set(keys, args)
    local p, key, value, now, x = args[1], args[2], args[3], args[4], args[5]
    local b, cap = tonumber(args[6]), tonumber(args[7])
    local stats = p .. 'c:stats'
    local ek = entry_key(p, key)
    local replaced = 0
    local cur = live(p, key, now)
    if not cond_holds(args, 8, cur ~= nil, cur and cur[3]) then
        if cur then return {-1, 1, cur[3], cur[2]} end
        return {-1, 0, '0', '0'}
    end
    local h = redis.call('HMGET', ek, 'x', 'a', 'b')
    if h[1] then
        if expired(h[1], now) then
            redis.call('HINCRBY', stats, 'expirations', 1)
        else
            replaced = 1
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
    local version = redis.call('INCR', p .. 'c:ver')
    redis.call('HSET', ek, 'v', value, 's', now, 'x', x, 'a', 0, 'b', b,
               'n', version)
    redis.call('ZADD', p .. 'c:keys', 0, key)
    touch(p, key)
    if x ~= '0' then
        redis.call('ZADD', p .. 'c:exp', x, key)
    end
    redis.call('HINCRBY', stats, 'entries', 1)
    redis.call('HINCRBY', stats, 'bytes', b)
    redis.call('HINCRBY', stats, 'sets', 1)
    return {replaced, bytes_used(p), version}
end

-- The live entry, for a read-modify-write by the caller (add): {value,
-- expiry, version}, or nil; counts nothing.
local function peek(keys, args)
    local h = live(args[1], args[2], args[3])
    if not h then return false end
    return h
end

-- A delete under the conditions from args[4]: {0} if there is no live
-- entry, {-1, version} if they fail, {1, version} once deleted.
local function remove_if(keys, args)
    local p, key, now = args[1], args[2], args[3]
    local cur = live(p, key, now)
    if not cur then return {0, '0'} end
    if not cond_holds(args, 4, true, cur[3]) then return {-1, cur[3]} end
    local h = redis.call('HMGET', entry_key(p, key), 'b', 'a')
    remove(p, key, h[1], h[2])
    redis.call('HINCRBY', p .. 'c:stats', 'deletes', 1)
    return {1, cur[3]}
end

-- A new expiry x for the live entry, under the conditions from args[5]:
-- {0} if there is none, {-1, version, expiry} if they fail, else
-- {1, version, x}; the value and its version stay.
local function touch_if(keys, args)
    local p, key, now, x = args[1], args[2], args[3], args[4]
    local cur = live(p, key, now)
    if not cur then return {0, '0', '0'} end
    if not cond_holds(args, 5, true, cur[3]) then return {-1, cur[3], cur[2]} end
    redis.call('HSET', entry_key(p, key), 'x', x)
    if x ~= '0' then
        redis.call('ZADD', p .. 'c:exp', x, key)
    else
        redis.call('ZREM', p .. 'c:exp', key)
    end
    return {1, cur[3], x}
end

-- One page of the keys beginning with prefix, in byte order, after the
-- key `after` ('' : from the start), at most limit of them: {1 if there
-- may be more, the last key looked at, keys looked at, then key, value
-- bytes, version, expiry for each live one}.
local function list(keys, args)
    local p, prefix, after, limit, now = args[1], args[2], args[3], tonumber(args[4]), args[5]
    local from = '-'
    if after ~= '' then from = '(' .. after
    elseif prefix ~= '' then from = '[' .. prefix end
    local ks = redis.call('ZRANGEBYLEX', p .. 'c:keys', from, '+', 'LIMIT', 0, limit)
    local out = {0, '', 0}
    local more = #ks == limit
    for _, k in ipairs(ks) do
        if string.sub(k, 1, #prefix) ~= prefix then
            more = false
            break
        end
        out[2] = k
        out[3] = out[3] + 1
        local h = redis.call('HMGET', entry_key(p, k), 'x', 'n')
        if h[1] and not expired(h[1], now) then
            table.insert(out, k)
            table.insert(out, redis.call('HSTRLEN', entry_key(p, k), 'v'))
            table.insert(out, h[2])
            table.insert(out, h[1])
        end
    end
    if more then out[1] = 1 end
    return out
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

redis.register_function('hyperlane_v2_incr', incr)
redis.register_function{function_name = 'hyperlane_v2_counter',
                        callback = counter, flags = {'no-writes'}}
redis.register_function('hyperlane_v2_get', get)
redis.register_function('hyperlane_v2_set', set)
redis.register_function('hyperlane_v2_del', del)
redis.register_function('hyperlane_v2_remove', remove_if)
redis.register_function('hyperlane_v2_touch', touch_if)
redis.register_function{function_name = 'hyperlane_v2_peek',
                        callback = peek, flags = {'no-writes'}}
redis.register_function{function_name = 'hyperlane_v2_list',
                        callback = list, flags = {'no-writes'}}
redis.register_function{function_name = 'hyperlane_v2_stats',
                        callback = stats, flags = {'no-writes'}}
