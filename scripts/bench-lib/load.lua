-- wrk script for scripts/bench: POSTs to server functions, or GETs pages with the headers a
-- browser sends, as many different clients.
-- Environment:
--   BENCH_METHOD   POST (server functions, the default) or GET (pages: Accept text/html and a
--                  browser's Accept-Encoding "gzip, deflate, br, zstd")
--   BENCH_PATHS    comma-separated "path|body" pairs, taken in turn (body may be empty)
--   BENCH_CLIENTS  how many client addresses to rotate through (X-Forwarded-For; the server
--                  trusts it from 127.0.0.1 in the bench), so per-client limits apply as
--                  they would to that many visitors
--   BENCH_COOKIES  optional file with one Cookie header value per line (signed-in sessions)
-- Prints one JSON line at the end: requests, duration, errors, latency percentiles.

local requests_list = {}
local counter = 0
local method = "POST"

local function split(text, sep)
  local out = {}
  for piece in string.gmatch(text, "([^" .. sep .. "]+)") do table.insert(out, piece) end
  return out
end

function init(args)
  local paths = split(os.getenv("BENCH_PATHS") or "/api/overview_kpis|", ",")
  local clients = tonumber(os.getenv("BENCH_CLIENTS") or "4096")
  method = os.getenv("BENCH_METHOD") or "POST"
  local cookies = {}
  local cookie_file = os.getenv("BENCH_COOKIES")
  if cookie_file and cookie_file ~= "" then
    for line in io.lines(cookie_file) do
      if line ~= "" then table.insert(cookies, line) end
    end
  end
  -- Each thread starts at its own offset so threads do not march in step.
  local offset = math.random(0, clients - 1)
  local count = math.max(clients, #cookies, 1)
  for i = 0, count - 1 do
    local n = (i + offset) % clients
    local entry = split(paths[(i % #paths) + 1], "|")
    local forwarded = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    local headers
    if method == "GET" then
      headers = {
        ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ["Accept-Encoding"] = "gzip, deflate, br, zstd",
        ["Accept-Language"] = "en-GB,en;q=0.9",
        ["User-Agent"] = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
        ["X-Forwarded-For"] = forwarded,
      }
    else
      headers = {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Accept"] = "application/json",
        ["Accept-Encoding"] = "gzip, deflate, br, zstd",
        -- What a browser sends on every POST (a request with a session but no Origin is refused).
        ["Origin"] = string.format("%s://%s:%s", wrk.scheme or "http", wrk.host, tostring(wrk.port)),
        ["X-Forwarded-For"] = forwarded,
      }
    end
    if #cookies > 0 then headers["Cookie"] = cookies[(i % #cookies) + 1] end
    requests_list[i + 1] = wrk.format(method, entry[1], headers, method == "GET" and nil or (entry[2] or ""))
  end
end

function request()
  counter = counter + 1
  return requests_list[(counter % #requests_list) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
