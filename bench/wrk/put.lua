-- The cache set line: PUT the same 64-byte value to the URL's key again
-- and again.  A fixed request, so wrk builds it once and the client costs
-- what it costs for a plain GET line.
wrk.method = "PUT"
wrk.body = string.rep("v", 64)
wrk.headers["Content-Type"] = "application/octet-stream"
