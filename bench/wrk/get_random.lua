-- GETs random existing keys k0 .. k(N-1) below the URL's path:
--   wrk ... -s get_random.lua http://127.0.0.1:P/hl/cache/ -- N [process]
-- Keys that are gone (evicted, refused) show as wrk's non-2xx responses.
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end

function init(args)
   n = tonumber(args[1])
   -- args[2]: which of bench/run's wrk processes this is (one per CPU)
   math.randomseed(os.time() * 256 + (tonumber(args[2]) or 0) * 16 + id)
end

function request()
   return wrk.format("GET", wrk.path .. "k" .. math.random(0, n - 1))
end
