-- wrk script: POST a fixed body, count non-2xx responses, report latency percentiles as one JSON line.
--   WRK_BODY_FILE     file holding the request body (required)
--   WRK_HEADERS_FILE  optional file of "Name: value" lines (default: Content-Type: application/json)
--   WRK_MAX_REQUESTS  optional: the run stops soon after a thread has this many responses (fixed-count
--                     runs): the thread has wrk sent a SIGINT, which ends the run and reports as usual
local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local data = f:read("*a")
  f:close()
  return data
end

local body_file = os.getenv("WRK_BODY_FILE")
assert(body_file, "WRK_BODY_FILE is not set")
wrk.method = "POST"
wrk.body = read_file(body_file)
wrk.headers["Content-Type"] = "application/json"
local headers_file = os.getenv("WRK_HEADERS_FILE")
if headers_file and headers_file ~= "" then
  for line in read_file(headers_file):gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
end
local max_requests = tonumber(os.getenv("WRK_MAX_REQUESTS") or "0") or 0

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  responses = 0
  first_bad = ""
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
  if max_requests > 0 and responses == max_requests then
    -- wrk's main thread sleeps for the whole -d; SIGINT wakes it, stops every thread and reports
    -- the real elapsed time. The shell's parent is wrk itself; the kill runs in the background
    -- because system() ignores SIGINT in wrk while it waits (a few more responses arrive meanwhile,
    -- and the summary counts them).
    os.execute("(sleep 0.05; kill -INT $PPID) &")
  end
end

local function json_str(s)
  s = s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub("[%c]", " ")
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local bad, bad_text = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    local fb = t:get("first_bad") or ""
    if bad_text == "" and fb ~= "" then bad_text = fb end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"non2xx":%d,'
      .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"first_bad":%s}\n',
    summary.requests, secs, summary.requests / secs, bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    json_str(bad_text)))
end
