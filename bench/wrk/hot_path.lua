-- wrk script for the tracker's hot path: every connection alternates a peer heartbeat and a list_files of the
-- peer's group, cycling over all preloaded peers.  Usage: wrk -s hot_path.lua <url> -- <peers file>
-- Peers file: one line per peer, "<session token> <group id> <sha256 of a file it holds, or ->".
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local peers = {}
local i = 0
local n = 0

function init(args)
  for line in io.lines(args[1]) do
    local tok, gid, sha = line:match("^(%S+) (%S+) (%S+)$")
    if tok then
      peers[#peers + 1] = {tok, gid, sha}
    end
  end
  i = (tid * 7919) % #peers  -- threads start at different peers
end

function request()
  n = n + 1
  i = i % #peers + 1
  local p = peers[i]
  local hdr = {["Authorization"] = "Bearer " .. p[1], ["Content-Type"] = "application/json"}
  if n % 2 == 0 then
    return wrk.format("GET", "/api/v1/groups/" .. p[2] .. "/files", hdr)
  end
  local body = '{"holdings":[]}'
  if p[3] ~= "-" then
    body = '{"holdings":[{"group_id":"' .. p[2] .. '","file_sha256":"' .. p[3] .. '","pieces":"all"}]}'
  end
  return wrk.format("POST", "/api/v1/heartbeat", hdr, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
