-- wrk script: requests the paths given after `--` in turn, and prints one JSON line at the end.
local paths = { "/" }
local next_path = 0

function init(args)
  if #args > 0 then paths = args end
  next_path = math.random(0, #paths - 1)
end

function request()
  next_path = next_path + 1
  return wrk.format(nil, paths[(next_path % #paths) + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"bytes":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%f}}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
