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
-- Safety: a missing, unreadable, corrupt, oversized (MAX_BYTES) or stale file
-- (older than MAX_AGE) means no skips at all. A changed file is read a slice
-- (STEP_BYTES) per maintenance() call, so even the largest file never holds a
-- thread's queries for long; the previous list stays in use meanwhile. A server is dead only when the fleet saw it time out
-- at least twice in a row with no answer since (recmesh decides that, not this
-- script). Every RETRY seconds each Recursor thread lets one query through to
-- each dead server, so the fleet notices when it answers again, and the next
-- file no longer lists it.

local INTEL_FILE = os.getenv("RECMESH_INTEL_FILE") or "/var/lib/recmesh/intel.txt"
local MAX_AGE = 900 -- seconds: ignore the list when its file is older than this
local RETRY = 60    -- seconds between queries let through to a dead server
-- Bounds, so that no file can stall a Recursor thread (maintenance() runs in
-- the thread that answers queries) or fill its memory:
local MAX_BYTES = 5300000  -- a bigger file is refused (nothing skipped); recmesh
                           -- writes at most 100000 lines of at most 52 bytes
local MAX_LINE = 64        -- longer lines are skipped and counted
local MAX_ENTRIES = 100000 -- dead servers kept at most; further lines are ignored
local STEP_BYTES = 32768   -- read and parsed per maintenance() call

-- every Recursor thread has its own Lua state, so these are per thread
local dead = {}       -- address text -> true
local file_time = 0   -- the time stamp in the file we loaded; 0: no usable file
local file_header = "" -- its first line: a new one means a new file
local passed = {}     -- address -> when we last skipped-or-let-through it
local loading = nil   -- a new file being read, STEP_BYTES per maintenance() call
local stats = { loads = 0, refused = 0, overlong = 0, ignored = 0 }

local function forget()
  dead = {}
  file_time = 0
  file_header = ""
  passed = {}
end

local function stop_loading()
  if loading then
    loading.f:close()
    loading = nil
  end
end

-- One line of the list; false when it is not "dead ADDRESS"
local function take(L, line)
  local addr = line:match("^dead ([%x%.:]+)$")
  if not addr then
    return false
  end
  if L.n >= MAX_ENTRIES then
    L.ignored = L.ignored + 1
    return true
  end
  if not L.new[addr] then
    L.new[addr] = true
    L.n = L.n + 1
    L.passed[addr] = passed[addr] -- keep its turn, drop those of servers no longer listed
  end
  return true
end

-- Reads and parses the next STEP_BYTES of the file being loaded; the new
-- list replaces the old one at the end of the file, a bad line drops both.
local function step()
  local L = loading
  local block = L.f:read(STEP_BYTES) or ""
  local last = #block < STEP_BYTES -- a short read: the end of the file
  L.read = L.read + #block
  if L.read > MAX_BYTES then -- it grew while we read it
    stop_loading()
    stats.refused = stats.refused + 1
    forget()
    return
  end
  local data = L.tail .. block
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    if not nl and not last then
      break -- the rest of this line comes with the next block
    end
    local line = data:sub(pos, (nl or #data + 1) - 1)
    if L.skipping then
      L.skipping = false -- the end of an overlong line
    elseif #line > MAX_LINE then
      L.overlong = L.overlong + 1
    elseif not take(L, line) then -- corrupt: trust none of it
      stop_loading()
      forget()
      return
    end
    pos = (nl or #data) + 1
  end
  if not last then
    local rest = data:sub(pos)
    if L.skipping then
      L.tail = ""
    elseif #rest > MAX_LINE then
      L.overlong = L.overlong + 1
      L.skipping = true
      L.tail = ""
    else
      L.tail = rest
    end
    return
  end
  -- the end of the file: the new list takes over
  stop_loading()
  dead, passed, file_time, file_header = L.new, L.passed, L.t, L.header
  stats.loads = stats.loads + 1
  stats.overlong = stats.overlong + L.overlong
  stats.ignored = stats.ignored + L.ignored
end

-- Cheap when nothing changed: opens the file and reads its first line.
-- A changed file is read over the next calls, STEP_BYTES at a time; the
-- list loaded before stays in use until the new one is complete.
local function load()
  if loading then
    step()
    return
  end
  local f = io.open(INTEL_FILE, "r")
  if not f then
    forget()
    return
  end
  local head = f:read(MAX_LINE + 1) or ""
  local nl = head:find("\n", 1, true)
  local header = nl and head:sub(1, nl - 1)
  if header and header == file_header then
    f:close()
    return -- unchanged
  end
  local t = header and tonumber(header:match("^# recmesh%-intel 1 time=(%d+)%.?%d*$"))
  local size = t and f:seek("end")
  if not t or not size or size > MAX_BYTES then
    if size and size > MAX_BYTES then
      stats.refused = stats.refused + 1
    end
    f:close()
    forget()
    return
  end
  f:seek("set", nl)
  loading = { f = f, header = header, t = t, new = {}, passed = {}, n = 0, read = nl,
              tail = "", skipping = false, overlong = 0, ignored = 0 }
  step()
end

-- All of the file at once (at most MAX_BYTES): only when the script is loaded
local function load_all()
  load()
  while loading do
    step()
  end
end

-- Runs in every thread every lua-maintenance-interval (1 s by default).
function maintenance()
  load()
end

-- and once when the script is loaded, so a Recursor that starts after the
-- file was written skips dead servers from its first query on
load_all()

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
return { load = load, state = function() return dead, file_time, loading ~= nil, stats end }
