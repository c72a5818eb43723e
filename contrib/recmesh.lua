-- recmesh.lua: lets a PowerDNS Recursor (4.8 and later) skip the
-- authoritative servers the fleet has seen only time out lately, so that a
-- restarted Recursor goes straight to a working server instead of waiting
-- for a timeout; on a Recursor that can take them (5.3 and later, which have
-- putIntoNSSpeedTable), it also loads the fleet's measured speeds of the
-- authoritative servers into the Recursor's NS speed table, so that a
-- restarted Recursor asks the fastest server of a zone first. Load it as the
-- Recursor's lua-dns-script, or paste it into your own script (it defines
-- maintenance() and preoutquery(); merge them with yours if you have them).
--
-- The file comes from `recmesh warm` (written before it replays,
-- --intel-file) and `recmesh proxy|mirror --intel-file` (kept fresh):
--     # recmesh-intel 2 time=UNIXTIME.MMM
--     dead ADDRESS
--     ns NSNAME ADDRESS RTT_US
-- Version 1 files (the same header with 1, dead lines only) are read too.
--
-- What a skip does (every version): preoutquery() returns true without
-- setting an rcode, so the query is not sent; the Recursor treats it like an
-- unusable answer from that server: it records a 1000 ms sample for that (NS
-- name, address), throttles that address for that name and type for 10 s,
-- and moves on to the next address or name server. `all-outqueries` still
-- counts it; `outgoing-timeouts` does not.
--
-- The speeds (5.3 and later; 4.8 and 5.2 check the ns lines and use only the
-- dead lines): the ns lines become a PBNSSpeedDump, the format of the
-- Recursor's getNSSpeedTable(), one entry per NS name with one item per
-- address (the RTT as both the average and the last sample, the import's
-- time as the last use), handed to putIntoNSSpeedTable() once the whole file
-- has been read and found good. The Recursor keeps every name it already has
-- (its own measurements win; so does an earlier import), so a changed file
-- adds only the names the Recursor does not know yet. The table is global to
-- the Recursor while each thread runs its own copy of this script: the first
-- thread that sees a new file claims its import by inserting a marker name,
-- recmesh-import-HASH.invalid. (HASH from the file's header line), into the
-- table; putIntoNSSpeedTable inserts a name only once, under the table's
-- lock, so exactly one thread wins and the others only read the file for its
-- dead lines. The marker has no address, is never asked for, and goes with
-- the Recursor's pruning of entries unused for 300 s. (A thread number cannot
-- choose the importer: with distributor threads, thread 1 never runs
-- maintenance().) What the import cannot do: change a name the Recursor has,
-- keep a name the Recursor prunes (the next file brings it back), or rank the
-- servers of forwarded zones, which the Recursor keys by address.
--
-- Safety: a missing, unreadable, corrupt, oversized (MAX_BYTES) or stale file
-- (older than MAX_AGE) means no skips at all, and a file is imported only
-- when it was read to its end with every line good. A changed file is read a
-- slice (STEP_BYTES) per maintenance() call and imported IMPORT_STEP (name,
-- address) pairs per call, so no file holds a thread's queries for long
-- (bench/intel_reload.sh measures it);
-- the previous list stays in use meanwhile. When the script is loaded (the
-- Recursor starts, or rec_control reload-lua-script), the file is read and
-- imported whole at once, so a restarted Recursor has both from its first
-- query. Every Recursor call is guarded (pcall), and so is maintenance()
-- itself: an error there would wedge a 5.2 Recursor. A server is dead only
-- when the fleet saw it time out at least twice in a row with no answer since
-- (recmesh decides that, not this script). Every RETRY seconds each Recursor
-- thread lets one query through to each dead server, so the fleet notices
-- when it answers again, and the next file no longer lists it.

local INTEL_FILE = os.getenv("RECMESH_INTEL_FILE") or "/var/lib/recmesh/intel.txt"
local MAX_AGE = 900 -- seconds: ignore the list when its file is older than this
local RETRY = 60    -- seconds between queries let through to a dead server
-- Bounds, so that no file can stall a Recursor thread (maintenance() runs in
-- the thread that answers queries) or fill its memory. recmesh writes at most
-- 100000 lines after the header, each at most 320 bytes:
local MAX_LINE = 320       -- bytes, the LF included: longer lines are skipped and counted
local MAX_ENTRIES = 100000 -- lines taken at most (dead and ns together); further good lines are ignored
local MAX_BYTES = MAX_LINE * (MAX_ENTRIES + 1) -- 32000320: a bigger file is refused (nothing skipped)
local STEP_BYTES = 65536   -- read and parsed per maintenance() call: even a file of MAX_BYTES
                           -- is read in 489 calls, well within MAX_AGE at one call a second
local MAX_NS_ADDRS = 32    -- addresses imported per NS name; further ones are ignored
local IMPORT_STEP = 2000   -- (NS name, address) pairs handed to the Recursor per maintenance() call

-- every Recursor thread has its own Lua state, so these are per thread
local dead = {}       -- address text -> true
local file_time = 0   -- the time stamp in the file we loaded; 0: no usable file
local file_header = "" -- its first line: a new one means a new file
local passed = {}     -- address -> when we last skipped-or-let-through it
local loading = nil   -- a new file being read, STEP_BYTES per maintenance() call
local importing = nil -- its NS speeds being handed to the Recursor, IMPORT_STEP names per call
local stats = { loads = 0, refused = 0, overlong = 0, ignored = 0, errors = 0, ns = 0,
                claims = 0, imports = 0, offered = 0, imported = 0, import_failed = 0 }

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

-- Protocol buffers, as the Recursor's dump has them (rec-nsspeeds.cc)

local floor, char = math.floor, string.char
-- a table with room for n keys made at once (LuaJIT's table.new), so that a
-- large one is not rehashed, all in one call, as it grows
local table_new = (function()
  local ok, tnew = pcall(require, "table.new")
  return ok and type(tnew) == "function" and tnew or function() return {} end
end)()

-- a non-negative integer below 2^53 as a varint
local function varint(n)
  if n < 128 then
    return char(n)
  elseif n < 16384 then
    return char(n % 128 + 128, floor(n / 128))
  end
  local out = {}
  while n >= 128 do
    out[#out + 1] = char(n % 128 + 128)
    n = floor(n / 128)
  end
  out[#out + 1] = char(n)
  return table.concat(out)
end

local function pb_bytes(field, s)
  return varint(field * 8 + 2) .. varint(#s) .. s
end

local function pb_uint(field, n)
  return varint(field * 8) .. varint(n)
end

-- a number as an IEEE 754 binary32, its 4 bytes little-endian (protobuf's float), rounded
-- to the nearest, ties to even, as C's conversion from double does; plain Lua
-- 5.1 arithmetic (no string.pack, no bit library)
local function float32_bytes(x)
  if x ~= x then
    return 0, 0, 192, 127 -- a quiet NaN
  end
  local sign = 0
  if x < 0 or (x == 0 and 1 / x < 0) then
    sign = 128
    x = -x
  end
  local e, m
  if x == 0 then
    e, m = 0, 0
  elseif x == math.huge then
    e, m = 255, 0
  else
    local fr, ex = math.frexp(x) -- x = fr * 2^ex, 0.5 <= fr < 1
    e = ex + 126                 -- the biased exponent
    if e >= 1 then
      m = fr * 2 ^ 24 - 2 ^ 23   -- the 23 fraction bits, and what lies below them
    else
      e, m = 0, x * 2 ^ 149      -- subnormal: x = m * 2^-149
    end
    local mi = floor(m)
    local rest = m - mi
    if rest > 0.5 or (rest == 0.5 and mi % 2 == 1) then
      mi = mi + 1
    end
    if mi >= 2 ^ 23 then -- rounded up into the next binade (or from subnormal to normal)
      mi = mi - 2 ^ 23
      e = e + 1
    end
    if e >= 255 then -- too large: infinity
      e, mi = 255, 0
    end
    m = mi
  end
  local bits = e * 2 ^ 23 + m
  return bits % 256, floor(bits / 256) % 256, floor(bits / 65536) % 256, floor(bits / 16777216) + sign
end

local function float32(x)
  return char(float32_bytes(x))
end

-- varint(n) as byte values, for n below 2^28
local function varint_bytes(n)
  if n < 128 then
    return n
  elseif n < 16384 then
    return n % 128 + 128, floor(n / 128)
  elseif n < 2097152 then
    return n % 128 + 128, floor(n / 128) % 128 + 128, floor(n / 16384)
  end
  return n % 128 + 128, floor(n / 128) % 128 + 128, floor(n / 16384) % 128 + 128, floor(n / 2097152)
end

-- the number of bytes of varint(n)
local function varint_len(n)
  local len = 1
  while n >= 128 do
    n = floor(n / 128)
    len = len + 1
  end
  return len
end

-- the fields of a PBNSSpeedDump before its entries
local function pb_head(now)
  return pb_bytes(1, "recmesh") .. pb_bytes(2, "recmesh") .. pb_uint(3, 1) .. pb_uint(4, now)
    .. pb_bytes(5, "PBNSSpeedDump")
end

-- Appends to the buffer `out` one entry (field 6) of a PBNSSpeedDump: the NS
-- name, `lastget` (its last use, fields 2 and 3, made once per dump) and one
-- map item per address: the address with port 53, the RTT as the decaying
-- average (float) and as the last sample (int32). The addresses are those of
-- lines `chain` (line indices into I.raws and I.rtts), a repeated address
-- counting once. Every length is computed first, so that nothing but the
-- buffer is built (a string made of strings is interned, hashed, each time).
-- Returns the number of map items.
local function pb_entry(out, name, lastget, I, chain)
  local raws, rtts = I.raws, I.rtts
  local len, items = 1 + varint_len(#name) + #name + #lastget, 0
  for k = #chain, 1, -1 do -- the earliest line first
    local raw, dup = raws[chain[k]], false
    for q = k + 1, #chain do
      if raws[chain[q]] == raw then
        dup = true
        break
      end
    end
    if dup then
      chain[k] = false
      stats.ignored = stats.ignored + 1 -- a repeated pair
    else
      -- map tag and length, address (port 53, the bytes), val, last
      len = len + 2 + 2 + 4 + (type(raw) == "number" and 4 or #raw) + 5 + 1 + varint_len(rtts[chain[k]])
      items = items + 1
    end
  end
  local n = #out
  out[n + 1] = "\50" .. varint(len) .. "\10" .. varint(#name)
  out[n + 2] = name
  out[n + 3] = lastget
  n = n + 3
  for k = #chain, 1, -1 do
    local i = chain[k]
    if i then
      local raw, rtt = raws[i], rtts[i]
      local f0, f1, f2, f3 = float32_bytes(rtt)
      if type(raw) == "number" then -- IPv4: one string for the whole item
        out[n + 1] = char(34, 2 + 8 + 5 + 1 + varint_len(rtt), 10, 8, 8, 53, 18, 4,
          floor(raw / 16777216), floor(raw / 65536) % 256, floor(raw / 256) % 256, raw % 256,
          21, f0, f1, f2, f3, 24, varint_bytes(rtt))
        n = n + 1
      else
        out[n + 1] = char(34, 2 + 4 + #raw + 5 + 1 + varint_len(rtt), 10, 4 + #raw, 8, 53, 18, #raw)
        out[n + 2] = raw
        out[n + 3] = char(21, f0, f1, f2, f3, 24, varint_bytes(rtt))
        n = n + 3
      end
    end
  end
  return items
end

-- the lastget fields of an entry: now, 0 us
local function pb_lastget(now)
  return "\16" .. varint(now) .. "\24\0"
end

-- The parts of a line, checked byte by byte (LuaJIT compiles these loops;
-- its pattern matching is interpreted and several times slower)

local byte, find, sub = string.byte, string.find, string.sub

-- the IPv4 address in dotted-quad form at s[i..j], as a number below 2^32;
-- nil for anything else
local function ip4_at(s, i, j)
  local a, v, digits, k = 0, 0, 0, 0
  for p = i, j do
    local b = byte(s, p)
    if b == 46 then
      if digits == 0 or k == 3 or v > 255 then
        return nil
      end
      k, a, v, digits = k + 1, a * 256 + v, 0, 0
    elseif b >= 48 and b <= 57 and digits < 3 then
      v, digits = v * 10 + b - 48, digits + 1
    else
      return nil
    end
  end
  if digits == 0 or k ~= 3 or v > 255 then
    return nil
  end
  return a * 256 + v
end

-- the groups of one side of "::", as numbers; nil when one is not 1 to 4 hex digits
local function ip6_groups(part)
  local g = {}
  if part == "" then
    return g
  end
  for x in (part .. ":"):gmatch("([^:]*):") do
    if not x:find("^%x%x?%x?%x?$") then
      return nil
    end
    g[#g + 1] = tonumber(x, 16)
  end
  return g
end

-- an IPv6 address as inet_ntop writes it (any case, "::" once at most, a
-- trailing dotted quad) to its 16 bytes; nil for anything else
local function ip6_bytes(s)
  if find(s, ".", 1, true) then -- a trailing dotted quad: the last two groups
    local pre, v4 = s:match("^(.*:)([%d%.]+)$")
    local a = v4 and ip4_at(v4, 1, #v4)
    if not a then
      return nil
    end
    s = pre .. string.format("%x:%x", floor(a / 65536), a % 65536)
  end
  local left, right = s, ""
  local dc = find(s, "::", 1, true)
  if dc then
    left, right = sub(s, 1, dc - 1), sub(s, dc + 2)
  end
  local l, r = ip6_groups(left), ip6_groups(right)
  if not l or not r then
    return nil
  end
  local zeros = 8 - #l - #r
  if (dc and zeros < 1) or (not dc and zeros ~= 0) then
    return nil
  end
  local out = {}
  for _, v in ipairs(l) do out[#out + 1] = char(floor(v / 256), v % 256) end
  for _ = 1, zeros do out[#out + 1] = "\0\0" end
  for _, v in ipairs(r) do out[#out + 1] = char(floor(v / 256), v % 256) end
  return table.concat(out)
end

-- the address at s[i..j]: an IPv4 address as a number, an IPv6 address as its
-- 16 bytes; nil for anything else
local function addr_at(s, i, j)
  if find(s, ":", i, true) and find(s, ":", i, true) <= j then
    return ip6_bytes(sub(s, i, j))
  end
  return ip4_at(s, i, j)
end

-- the address text s as the dump has it (4 or 16 bytes); nil when it is not one
local function addr_bytes(s)
  local a = addr_at(s, 1, #s)
  if type(a) == "number" then
    return char(floor(a / 16777216), floor(a / 65536) % 256, floor(a / 256) % 256, a % 256)
  end
  return a
end

local LABEL = {} -- the bytes of a label: a-z 0-9 _ -
for b = 48, 57 do LABEL[b] = true end
for b = 97, 122 do LABEL[b] = true end
LABEL[45], LABEL[95] = true, true

-- The line s[i..j], "ns NSNAME ADDRESS RTT_US": the name, the address (see
-- addr_at) and the RTT, or nil unless NSNAME is lower case, absolute, of
-- labels of 1 to 63 of [a-z0-9_-], at most 254 long; ADDRESS an IPv4 or IPv6
-- address; RTT_US a decimal integer from 1 to 10000000. Read in place: only
-- the name is made a string.
local function ns_parts(s, i, j)
  if byte(s, i) ~= 110 or byte(s, i + 1) ~= 115 or byte(s, i + 2) ~= 32 then
    return nil
  end
  local s2 = find(s, " ", i + 3, true)
  local s3 = s2 and s2 < j and find(s, " ", s2 + 1, true)
  if not s3 or s3 >= j or s2 - i - 3 > 254 then
    return nil
  end
  local label = 0
  for p = i + 3, s2 - 1 do
    local b = byte(s, p)
    if b == 46 then
      if label == 0 then
        return nil
      end
      label = 0
    elseif LABEL[b] and label < 63 then
      label = label + 1
    else
      return nil
    end
  end
  if label ~= 0 or s2 == i + 3 or j - s3 > 8 then -- a name ends with "."
    return nil
  end
  local rtt = 0
  for p = s3 + 1, j do
    local b = byte(s, p)
    if b < 48 or b > 57 then
      return nil
    end
    rtt = rtt * 10 + b - 48
  end
  local addr = rtt >= 1 and rtt <= 10000000 and addr_at(s, s2 + 1, s3 - 1)
  if not addr then
    return nil
  end
  return sub(s, i + 3, s2 - 1), addr, rtt
end

-- One line of the list; false when it is not "dead ADDRESS" (or, in a version
-- 2 file, "ns NSNAME ADDRESS RTT_US" with every part in its range)
local function take(L, s, i, j)
  local addr, name, raw, rtt
  if byte(s, i) == 100 then -- "d"
    addr = sub(s, i, j):match("^dead ([%x%.:]+)$")
    if not addr then
      return false
    end
  elseif L.version >= 2 then
    name, raw, rtt = ns_parts(s, i, j)
    if not name then
      return false
    end
  else
    return false
  end
  if L.n >= MAX_ENTRIES then
    L.ignored = L.ignored + 1
    return true
  end
  if addr then
    if not L.new[addr] then
      L.new[addr] = true
      L.n = L.n + 1
      L.passed[addr] = passed[addr] -- keep its turn, drop those of servers no longer listed
    end
    return true
  end
  L.n = L.n + 1
  L.ns = L.ns + 1
  local S = L.speeds
  if S then -- this thread imports the file: flat arrays, one slot per line (few
    -- objects for the collector); the lines of a name are chained through prev
    local prev = S.last[name] -- the name's latest line so far
    local c = prev and S.count[prev] or 0
    if c >= MAX_NS_ADDRS then
      L.ignored = L.ignored + 1 -- too many lines for one name
    else
      local k = S.k + 1
      S.k = k
      S.names[k], S.raws[k], S.rtts[k], S.prev[k], S.count[k] = name, raw, rtt, prev or 0, c + 1
      S.last[name] = k
    end
  end
  return true
end

-- a Recursor call that must not throw: nil when it did
local function guarded(fn, ...)
  local ok, ret = pcall(fn, ...)
  if ok then
    return tonumber(ret) or 0
  end
  stats.import_failed = stats.import_failed + 1
  return nil
end

-- A thread's claim on the import of the file with this header line: true when
-- this thread inserted the marker name first (putIntoNSSpeedTable inserts a
-- name only once, under the table's lock).
local function claim(header)
  local h = 0
  for i = 1, #header do
    h = (h * 31 + byte(header, i)) % 4294967296
  end
  local now = os.time()
  local out = { pb_head(now) }
  pb_entry(out, string.format("recmesh-import-%08x.invalid.", h), pb_lastget(now), {}, {})
  return guarded(putIntoNSSpeedTable, table.concat(out)) == 1
end

-- Hands the next NS names to the Recursor, about `count` addresses' worth
-- (all when nil). A name's entry is made at its last line in the file, from
-- the chain of its lines; a repeated (name, address) pair counts once, the
-- earliest line.
local function import_step(count)
  local I = importing
  local now = os.time()
  local out = { pb_head(now) }
  local lastget = pb_lastget(now)
  local items, visited, names = 0, 0, 0
  while I.pos <= I.k and (not count or (items < count and visited < 8 * count)) do
    local i = I.pos
    I.pos = i + 1
    visited = visited + 1
    local name = I.names[i]
    if I.last[name] == i then
      local chain = {}
      while i > 0 do
        chain[#chain + 1] = i
        i = I.prev[i]
      end
      items = items + pb_entry(out, name, lastget, I, chain)
      names = names + 1
    end
  end
  if names > 0 then
    I.names_done = I.names_done + names
    stats.imports = stats.imports + 1
    stats.offered = stats.offered + names
    local got = guarded(putIntoNSSpeedTable, table.concat(out)) or 0
    I.imported = I.imported + got
    stats.imported = stats.imported + got
  end
  if I.pos > I.k then
    importing = nil
    if pdnslog then
      pcall(pdnslog, string.format("recmesh: NS speeds from '%s': %d of %d name(s) imported"
        .. " (the Recursor keeps the names it has)", INTEL_FILE, I.imported, I.names_done))
    end
  end
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
    local e = (nl or #data + 1) - 1 -- the line is data[pos..e]
    if L.skipping then
      L.skipping = false -- the end of an overlong line
    elseif e - pos + 1 >= MAX_LINE then
      L.overlong = L.overlong + 1
    elseif not take(L, data, pos, e) then -- corrupt: trust none of it
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
    elseif #rest >= MAX_LINE then
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
  stats.ns = L.ns
  if L.speeds and L.speeds.k > 0 then
    importing = L.speeds
    importing.pos, importing.imported, importing.names_done = 1, 0, 0
  end
end

-- Cheap when nothing changed: opens the file and reads its first line.
-- A changed file is read over the next calls, STEP_BYTES at a time, then its
-- speeds are imported, IMPORT_STEP names at a time; the list loaded before
-- stays in use until the new one is complete.
local function load_step()
  if loading then
    step()
    return
  end
  if importing then
    import_step(IMPORT_STEP)
    return
  end
  local f = io.open(INTEL_FILE, "r")
  if not f then
    forget()
    return
  end
  local head = f:read(MAX_LINE) or ""
  local nl = head:find("\n", 1, true)
  local header = nl and head:sub(1, nl - 1)
  if header and header == file_header then
    f:close()
    return -- unchanged
  end
  local version, t
  if header then
    version, t = header:match("^# recmesh%-intel ([12]) time=(%d+)%.?%d*$")
  end
  t = tonumber(t)
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
  loading = { f = f, header = header, t = t, version = tonumber(version), new = {}, passed = {},
              n = 0, ns = 0, read = nl, tail = "", skipping = false, overlong = 0, ignored = 0 }
  if loading.version >= 2 and putIntoNSSpeedTable ~= nil and claim(header) then
    local n = math.min(MAX_ENTRIES, floor(size / 16)) -- at most this many ns lines
    loading.speeds = { k = 0, names = table_new(n, 0), raws = table_new(n, 0), rtts = table_new(n, 0),
                       prev = table_new(n, 0), count = table_new(n, 0), last = table_new(0, n) }
    stats.claims = stats.claims + 1
  end
  step()
end

-- an error anywhere in the loader (out of memory, say) is caught: it drops the
-- list and the import, and is counted; maintenance() itself never fails
local function guarded_load(all)
  local ok = pcall(function()
    load_step()
    while all and (loading or importing) do
      if loading then
        step()
      else
        import_step(nil)
      end
    end
  end)
  if not ok then
    stats.errors = stats.errors + 1
    if loading then
      pcall(loading.f.close, loading.f)
      loading = nil
    end
    importing = nil
    forget()
  end
end

-- What maintenance() does: a slice of a changed file at most
local function load()
  guarded_load(false)
end

-- All of the file at once (at most MAX_BYTES), and all its speeds in one
-- call: only when the script is loaded
local function load_all()
  guarded_load(true)
end

-- Runs in every worker thread every lua-maintenance-interval (1 s by default).
function maintenance()
  load()
end

-- and once when the script is loaded, so a Recursor that starts after the
-- file was written skips dead servers (and has the speeds) from its first query on
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

-- for tests: the parser and the encoders without the Recursor
return {
  load = load, maintenance = maintenance, preoutquery = preoutquery,
  state = function() return dead, file_time, loading ~= nil or importing ~= nil, stats end,
  float32 = float32, addr_bytes = addr_bytes,
}
