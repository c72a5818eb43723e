-- recmesh.lua: lets a PowerDNS Recursor (4.8 and later) skip the
-- authoritative servers the fleet has seen only time out lately, so that a
-- restarted Recursor goes straight to a working server instead of waiting
-- for a timeout. Load it as the Recursor's lua-dns-script, or paste it into
-- your own script (it defines maintenance() and preoutquery(); merge them
-- with yours if you have them).
--
-- The list comes from a file that `recmesh warm` writes before it replays
-- (--intel-file) and that `recmesh proxy|mirror --intel-file` keeps fresh:
--     # recmesh-intel 1 time=UNIXTIME.MMM
--     dead ADDRESS
--
-- What a skip does in 4.8: preoutquery() returns true without setting an
-- rcode, so the query is not sent; the Recursor treats it like an unusable
-- answer from that server: it records a 1000 ms sample for that (NS name,
-- address), throttles that address for that name and type for 10 s, and moves
-- on to the next address or name server. `all-outqueries` still counts it;
-- `outgoing-timeouts` does not.
--
-- Safety: a missing, unreadable, corrupt or stale file (older than MAX_AGE)
-- means no skips at all. A server is dead only when the fleet saw it time out
-- at least twice in a row with no answer since (recmesh decides that, not this
-- script). Every RETRY seconds each Recursor thread lets one query through to
-- each dead server, so the fleet notices when it answers again, and the next
-- file no longer lists it.

local INTEL_FILE = os.getenv("RECMESH_INTEL_FILE") or "/var/lib/recmesh/intel.txt"
local MAX_AGE = 900 -- seconds: ignore the list when its file is older than this
local RETRY = 60    -- seconds between queries let through to a dead server

-- every Recursor thread has its own Lua state, so these are per thread
local dead = {}       -- address text -> true
local file_time = 0   -- the time stamp in the file we loaded; 0: no usable file
local file_header = "" -- its first line: a new one means a new file
local passed = {}     -- address -> when we last skipped-or-let-through it

local function forget()
  dead = {}
  file_time = 0
  file_header = ""
end

-- Cheap when nothing changed: opens the file and reads its first line.
local function load()
  local f = io.open(INTEL_FILE, "r")
  if not f then
    forget()
    return
  end
  local header = f:read("*l")
  if header and header == file_header then
    f:close()
    return -- unchanged
  end
  local t = header and tonumber(header:match("^# recmesh%-intel 1 time=(%d+)%.?%d*$"))
  if not t then
    f:close()
    forget()
    return
  end
  local new = {}
  for line in f:lines() do
    local addr = line:match("^dead ([%x%.:]+)$")
    if not addr then -- corrupt: trust none of it
      f:close()
      forget()
      return
    end
    new[addr] = true
  end
  f:close()
  dead = new
  file_time = t
  file_header = header
end

-- Runs in every thread every lua-maintenance-interval (1 s by default).
function maintenance()
  load()
end

-- and once when the script is loaded, so a Recursor that starts after the
-- file was written skips dead servers from its first query on
load()

function preoutquery(dq)
  if file_time == 0 then
    return false
  end
  local now = os.time()
  if now - file_time > MAX_AGE then
    return false
  end
  local addr = dq.remoteaddr:toString()
  if not dead[addr] then
    return false
  end
  local last = passed[addr]
  if last and now - last >= RETRY then
    passed[addr] = now
    return false -- let this one through: is it back?
  end
  if not last then
    passed[addr] = now
  end
  return true -- not sent; the Recursor moves on to the next server
end

-- for tests: the parser without the Recursor
return { load = load, state = function() return dead, file_time end }
