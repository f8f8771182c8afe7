-- wrk script for replicated writes: every request shares a new one-piece file (a durable, logged mutation)
-- with a unique name and op_id.  Usage: wrk -s writes.lua <url> -- <peers file> <run tag>
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local peers = {}
local i = 0
local n = 0
local tag = "r"

function init(args)
  for line in io.lines(args[1]) do
    local tok, gid = line:match("^(%S+) (%S+)")
    if tok then
      peers[#peers + 1] = {tok, gid}
    end
  end
  tag = args[2] or tag
  i = tid
end

function request()
  n = n + 1
  i = i % #peers + 1
  local p = peers[i]
  local id = string.format("%s-%d-%d", tag, tid, n)
  local sha = string.format("%08x%056x", tid, n)
  local body = '{"file_name":"w' .. id .. '.bin","size":1,"piece_size":524288,"sha256":"' .. sha ..
    '","piece_hashes":["' .. sha .. '"],"op_id":"' .. id .. '"}'
  local hdr = {["Authorization"] = "Bearer " .. p[1], ["Content-Type"] = "application/json"}
  return wrk.format("POST", "/api/v1/groups/" .. p[2] .. "/files", hdr, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
