-- Fills a cache with N distinct keys, each answered once as a new key:
--   wrk -t T -c C -d LIMIT -s fill.lua http://127.0.0.1:P/hl/cache/ -- N T VALUE_BYTES DONEFILE
-- The keys must not be in the cache before (an answer for a key that was
-- there already does not count).
-- The path of the URL is the prefix; the keys are k0 .. k(N-1), thread i
-- taking i, i+T, i+2T, ... (and again from the start, see request()).  A
-- thread stops once every one of its keys has been answered and appends a
-- line to DONEFILE.  wrk itself sleeps for the whole -d, so bench/run
-- watches DONEFILE and sends wrk SIGINT when all T
-- lines are there: the run is bounded by N, and by -d as a time limit.
-- done() prints "fill_sent=S fill_failed=F" for bench/run.
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   n = tonumber(args[1])
   step = tonumber(args[2])
   value = string.rep("v", tonumber(args[3]))
   donefile = args[4]
   finished = false
   key = id                -- the next key this thread PUTs
   answered = 0
   failed = 0
   share = 0               -- how many keys this thread owns
   for k = id, n - 1, step do share = share + 1 end
   if share == 0 then finish() end
end

function finish()
   if finished then return end
   finished = true
   local f = io.open(donefile, "a")
   f:write("done\n")
   f:close()
   wrk.thread:stop()
end

function request()
   -- Once the share is sent, it is sent again from the start until every
   -- key has been answered: wrk drops the request of a connection that
   -- fails (and the first a thread makes), so a key may not arrive the
   -- first time.  A key that did arrive answers "replaced" the second
   -- time, which is not counted; so only one answer per key counts,
   -- whatever order the connections answer in.
   if key >= n then key = id end
   local path = wrk.path .. "k" .. key
   key = key + step
   return wrk.format("PUT", path, nil, value)
end

function response(status, headers, body)
   if status == 200 and body and body:find('"replaced":true', 1, true) then
      return
   end
   answered = answered + 1
   if answered <= share and (status < 200 or status > 299) then
      failed = failed + 1
   end
   if answered >= share then finish() end
end

function done(summary, latency, requests)
   local sent, bad = 0, 0
   for _, t in ipairs(threads) do
      sent = sent + math.min(t:get("answered"), t:get("share"))
      bad = bad + t:get("failed")
   end
   io.write(string.format("fill_sent=%d fill_failed=%d\n", sent, bad))
end
