#!/usr/bin/env bash
# test_lua.sh: contrib/recmesh.lua's file parser, skip logic and NS speed
# import under LuaJIT (the Recursor embeds LuaJIT), with stand-ins for the
# Recursor's dq object and for putIntoNSSpeedTable (5.3+), which keeps every
# dump the script hands it. The dumps' bytes are then checked by an
# independent decoder (pbnsspeed.py, Python), and the script's float32
# encoder against the C conversion (Python's ctypes).
set -euo pipefail
SRC=${srcdir:-$(dirname "$0")/../..}
LUA_SCRIPT=$SRC/contrib/recmesh.lua
command -v luajit >/dev/null || { echo "luajit is not installed (apt-get install luajit)"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is not installed"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export RECMESH_INTEL_FILE=$dir/intel.txt
mkdir "$dir/dumps"
status=0
luajit - "$LUA_SCRIPT" "$RECMESH_INTEL_FILE" "$dir" <<'LUA' || status=$?
local script, path, dir = arg[1], arg[2], arg[3]
-- a fixed clock, so that the dumps' times are known
local clock = os.time()
os.time = function() return clock end
local m = dofile(script)
local passed, failed = 0, 0
local function check(cond, what)
  if cond then passed = passed + 1; print("  ok   " .. what)
  else failed = failed + 1; print("  FAIL " .. what) end
end
local function write(text) local f = assert(io.open(path, "w")); f:write(text); f:close() end
local function dq(addr) return { remoteaddr = { toString = function() return addr end } } end
local now = os.time()

-- no file: nothing skipped
os.remove(path); maintenance()
check(preoutquery(dq("192.0.2.1")) == false, "missing file: nothing skipped")

write(string.format("# recmesh-intel 1 time=%d.250\ndead 192.0.2.1\ndead 2001:db8::53\n", now))
maintenance()
local dead, t = m.state()
check(dead["192.0.2.1"] and dead["2001:db8::53"] and t == now, "valid file: two dead servers loaded")
check(preoutquery(dq("192.0.2.1")) == true, "dead IPv4 server skipped")
check(preoutquery(dq("2001:db8::53")) == true, "dead IPv6 server skipped")
check(preoutquery(dq("192.0.2.9")) == false, "other server not skipped")
check(preoutquery(dq("192.0.2.1")) == true, "still skipped within the retry interval")

-- corrupt: forget everything
write(string.format("# recmesh-intel 1 time=%d\ndead 192.0.2.1\nrm -rf /\n", now + 1))
maintenance()
check(preoutquery(dq("192.0.2.1")) == false, "corrupt file: nothing skipped")
write("hello\n"); maintenance()
check(preoutquery(dq("192.0.2.1")) == false, "bad header: nothing skipped")
write(string.format("# recmesh-intel 3 time=%d\ndead 192.0.2.1\n", now + 2)); maintenance()
check(preoutquery(dq("192.0.2.1")) == false, "unknown version: nothing skipped")
write(string.format("# recmesh-intel 1 time=%d\ndead 192.0.2.1\nns ns1.example. 192.0.2.1 1000\n", now + 2)); maintenance()
check(preoutquery(dq("192.0.2.1")) == false, "an ns line in a version 1 file: corrupt, nothing skipped")

-- stale: older than 15 minutes
write(string.format("# recmesh-intel 1 time=%d\ndead 192.0.2.1\n", now - 1000)); maintenance()
check(preoutquery(dq("192.0.2.1")) == false, "stale file: nothing skipped")

-- a new file in the same second is loaded too (the header differs)
write(string.format("# recmesh-intel 1 time=%d.100\ndead 192.0.2.7\n", now + 4)); maintenance()
write(string.format("# recmesh-intel 1 time=%d.900\ndead 192.0.2.8\n", now + 4)); maintenance()
local d3 = m.state()
check(d3["192.0.2.8"] and not d3["192.0.2.7"], "a second file within the same second is loaded")

-- empty list is valid
write(string.format("# recmesh-intel 1 time=%d\n", now + 3)); maintenance()
local d2 = m.state()
check(next(d2) == nil, "empty list: no dead servers")

-- calls to maintenance() until the file is loaded; how many it took
local function settle()
  local calls = 0
  repeat maintenance(); calls = calls + 1; local _, _, busy = m.state() until not busy or calls > 10000
  return calls
end
local function biglist(t, n, first) -- a valid file of n dead servers 10.x.y.z
  local parts = { string.format("# recmesh-intel 1 time=%d\n", t) }
  for i = first or 0, (first or 0) + n - 1 do
    parts[#parts + 1] = string.format("dead 10.%d.%d.%d\n", math.floor(i / 65536), math.floor(i / 256) % 256, i % 256)
  end
  return table.concat(parts)
end

-- a large file is read over several calls; the old list serves meanwhile
write(string.format("# recmesh-intel 1 time=%d\ndead 192.0.2.1\n", now + 5)); settle()
check(preoutquery(dq("192.0.2.1")) == true, "small list loaded")
write(biglist(now + 6, 100000)); maintenance()
local _, t_mid, busy = m.state()
check(busy and t_mid == now + 5, "a 100000-server file is not read in one call")
check(preoutquery(dq("192.0.2.1")) == true and preoutquery(dq("10.0.0.1")) == false,
      "while it loads, the previous list is in use")
local calls = settle() + 1
local d4, t4, _, st = m.state()
local n4 = 0; for _ in pairs(d4) do n4 = n4 + 1 end
check(n4 == 100000 and t4 == now + 6 and calls > 10,
      string.format("partial reload: %d servers after %d calls", n4, calls))
check(preoutquery(dq("10.1.134.159")) == true and preoutquery(dq("192.0.2.1")) == false,
      "then the new list replaces the old one")

-- a file rewritten while it loads: the file being read is finished (it stays
-- consistent: we hold it open), then the newest is loaded
write(biglist(now + 7, 50000)); maintenance()
write(biglist(now + 8, 10, 7)); settle()
local _, t5 = m.state()
if t5 == now + 7 then settle() end
local d5, t6 = m.state()
check(t6 == now + 8 and d5["10.0.0.7"] and not d5["10.0.0.0"], "a rewrite during a load: the newest file wins")

-- over MAX_BYTES (32000320): refused, nothing skipped; at MAX_BYTES: read
local refused0 = st.refused
local function sized(t, size) -- a valid file of exactly size bytes: a dead line, then overlong lines
  local head = string.format("# recmesh-intel 2 time=%d\ndead 10.0.0.8\n", t)
  local pad = string.rep(string.rep("x", 999) .. "\n", math.floor((size - #head) / 1000) - 1)
  return head .. pad .. string.rep("y", size - #head - #pad - 1) .. "\n" -- 1000 to 1999 bytes
end
write(sized(now + 9, 32000321)); settle()
local _, _, _, st2 = m.state()
check(preoutquery(dq("10.0.0.8")) == false and st2.refused == refused0 + 1,
      "a file of 32000321 bytes: refused, nothing skipped")
write(sized(now + 9, 32000320)); local c32 = settle()
check(preoutquery(dq("10.0.0.8")) == true and st2.refused == refused0 + 1,
      string.format("a file of 32000320 bytes: read (%d calls)", c32))
-- a 6 MB line: refused by its size without being read as a line
write(string.format("# recmesh-intel 1 time=%d\ndead %s\n", now + 10, string.rep("1", 6000000))); settle()
check(preoutquery(dq("10.0.0.8")) == false, "a 6 MB line: refused")

-- overlong lines (even across read blocks) are skipped and counted; the rest loads
local overlong0 = st2.overlong -- st2 is the script's own table: keep the number
local long = string.rep("a", 100000)
write(string.format("# recmesh-intel 1 time=%d\ndead 192.0.2.3\n%s\ndead 192.0.2.4\ndead %s\n", now + 11, long, long)); settle()
local d6, _, _, st3 = m.state()
check(d6["192.0.2.3"] and d6["192.0.2.4"] and st3.overlong == overlong0 + 2,
      string.format("overlong lines skipped and counted (%d)", st3.overlong - overlong0))
check(preoutquery(dq("192.0.2.4")) == true, "the lines around them still count")
-- a corrupt line at the end of a large file drops it all
write(biglist(now + 12, 20000) .. "rm -rf /\n"); settle()
check(preoutquery(dq("10.0.0.9")) == false and preoutquery(dq("192.0.2.4")) == false,
      "a large file with a bad last line: nothing skipped")
-- lines of 319 bytes (320 with the LF) are lines; 320 bytes and more are overlong
local overlong1 = st3.overlong
write(string.format("# recmesh-intel 2 time=%d\ndead 192.0.2.5\n%s\n", now + 13, string.rep("z", 320))); settle()
check(preoutquery(dq("192.0.2.5")) == true and st3.overlong == overlong1 + 1, "a 321-byte line: skipped and counted")
write(string.format("# recmesh-intel 2 time=%d\ndead 192.0.2.5\n%s\n", now + 14, string.rep("z", 319))); settle()
check(preoutquery(dq("192.0.2.5")) == false and st3.overlong == overlong1 + 1, "a 320-byte bad line: corrupt")

-- MAX_ENTRIES: 100000 lines are taken, dead and ns together; good lines beyond are ignored (counted)
local parts = { string.format("# recmesh-intel 2 time=%d\n", now + 15) }
for i = 0, 99999 do
  parts[#parts + 1] = i % 2 == 0 and string.format("dead 10.%d.%d.%d\n", math.floor(i / 65536), math.floor(i / 256) % 256, i % 256)
    or string.format("ns ns%d.example. 10.0.0.1 %d\n", i, i)
end
parts[#parts + 1] = "dead 192.0.2.200\n"
local ignored0 = st3.ignored
write(table.concat(parts)); settle()
local d7 = m.state()
local n7 = 0; for _ in pairs(d7) do n7 = n7 + 1 end
check(n7 == 50000 and not d7["192.0.2.200"] and st3.ignored == ignored0 + 1 and st3.ns == 50000,
      string.format("100001 lines: %d dead and %d ns taken, %d ignored", n7, st3.ns, st3.ignored - ignored0))

------------------------------------------------------------------------------
-- Version 2: the ns lines
local function v2(t, lines) return string.format("# recmesh-intel 2 time=%d.500\n", t) .. table.concat(lines, "\n") .. "\n" end
local t = now + 20

-- 4.8 and 5.2 (no putIntoNSSpeedTable): ns lines are checked, only dead lines used
write(v2(t, { "dead 192.0.2.1", "ns ns1.example. 192.0.2.2 1500", "ns ns1.example. 2001:db8::2 1000000" })); settle()
local _, _, _, s8 = m.state()
check(preoutquery(dq("192.0.2.1")) == true and preoutquery(dq("192.0.2.2")) == false and s8.ns == 2 and s8.claims == 0
      and s8.imports == 0, "without putIntoNSSpeedTable: dead lines skipped, 2 ns lines read, nothing imported")

-- every kind of bad ns line makes the whole file corrupt, on every version
local bad = {
  "ns NS1.example. 192.0.2.2 1500", "ns ns1.example 192.0.2.2 1500", "ns ns1..example. 192.0.2.2 1500",
  "ns .example. 192.0.2.2 1500", "ns . 192.0.2.2 1500", "ns ns1.ex*ample. 192.0.2.2 1500",
  "ns " .. string.rep("a", 64) .. ".example. 192.0.2.2 1500",
  "ns " .. string.rep(string.rep("a", 62) .. ".", 4) .. "bc. 192.0.2.2 1500", -- 255 characters
  "ns ns1.example. 192.0.2.2 0", "ns ns1.example. 192.0.2.2 10000001", "ns ns1.example. 192.0.2.2 000001500",
  "ns ns1.example. 192.0.2.2 -1", "ns ns1.example. 192.0.2.2 1.5", "ns ns1.example. 192.0.2.2 ",
  "ns ns1.example. 192.0.2.2", "ns ns1.example. 1500", "ns ns1.example.  192.0.2.2 1500",
  "ns ns1.example. 192.0.2.2 1500 x", "ns  ns1.example. 192.0.2.2 1500", "ns\tns1.example.\t192.0.2.2\t1500",
  "ns ns1.example. 256.0.2.2 1500", "ns ns1.example. 192.0.2 1500", "ns ns1.example. 192.0.2.2.1 1500",
  "ns ns1.example. 1920.0.2.2 1500", "ns ns1.example. 192..2.2 1500", "ns ns1.example. 2001:db8::g 1500",
  "ns ns1.example. 2001:db8::1::2 1500", "ns ns1.example. 1:2:3:4:5:6:7:8:9 1500", "ns ns1.example. 1:2:3:4:5:6:7 1500",
  "ns ns1.example. 12345::1 1500", "ns ns1.example. :1:2:3:4:5:6:7 1500", "ns ns1.example. 1:2:3:4:5:6:7: 1500",
  "ns ns1.example. ::ffff:1.2.3.256 1500", "ns ns1.example. 1:2:3:4:5:6:7:1.2.3.4 1500", "ns ns1.example. ::1.2.3 1500",
  "ns ns1.example. 1:2:3:4:5:6:7:8:: 1500", "ns ns1.example. ::: 1500", "NS ns1.example. 192.0.2.2 1500",
  "ns ns1.example. 192.0.2.2 1500\r", "ns ns1.ex\0ample. 192.0.2.2 1500", "nsx ns1.example. 192.0.2.2 1500", "",
}
local still = true
for i, line in ipairs(bad) do
  write(v2(t + 1, { "dead 192.0.2.1" })); settle()
  local ok1 = preoutquery(dq("192.0.2.1")) == true
  write(v2(t + 2 + i, { "dead 192.0.2.1", "ns ns0.example. 192.0.2.9 10", line })); settle()
  if not ok1 or preoutquery(dq("192.0.2.1")) ~= false then
    still = false
    print(string.format("       not corrupt: %q", line))
  end
end
check(still, string.format("%d kinds of bad ns line: each makes the file corrupt (nothing skipped)", #bad))

-- and the good ones at their limits are read
local good = {
  "ns " .. string.rep(string.rep("a", 63) .. ".", 3) .. string.rep("b", 61) .. ". 192.0.2.2 1", -- 254 characters
  "ns a. 0.0.0.0 10000000", "ns _tcp.x-1.example. 255.255.255.255 7", "ns ns1.example. :: 1",
  "ns ns1.example. ::1 1", "ns ns1.example. 1:: 1", "ns ns1.example. 2001:DB8::53 1",
  "ns ns1.example. 1:2:3:4:5:6:7:8 1", "ns ns1.example. 1::8 1", "ns ns1.example. ::ffff:192.0.2.1 1",
  "ns ns1.example. 1:2:3:4:5:6:1.2.3.4 1", "ns ns1.example. 1:2:3:4:5::1.2.3.4 1", "ns ns1.example. 00ff::0 1",
}
write(v2(t + 100, { "dead 192.0.2.1", table.concat(good, "\n") })); settle()
local _, _, _, s9 = m.state()
check(preoutquery(dq("192.0.2.1")) == true and s9.ns == #good, string.format("%d good ns lines at the limits: read", s9.ns))

-- The import (5.3+): a stand-in for the Recursor's global NS speed table. It
-- keeps every dump in DIR/dumps/N.bin and returns what the Recursor would:
-- for a marker (claim) dump 1 if the marker is new, else 0; for a speed dump
-- the number of names in it that it did not have (it never overwrites).
local table_names, ndumps, calls = {}, 0, {}
local function fake_put(dump)
  ndumps = ndumps + 1
  local f = assert(io.open(string.format("%s/dumps/%03d.bin", dir, ndumps), "wb")); f:write(dump); f:close()
  -- the names: each entry starts with field 6 (0x32), a length, then field 1 (0x0a), a length, the name
  local new = 0
  for name in dump:gmatch("\50[\128-\255]*[%z\1-\127]\10[%z\1-\127]([%w%-_%.]+%.)") do
    if not table_names[name] then table_names[name] = true; new = new + 1 end
  end
  calls[#calls + 1] = new
  return new
end
putIntoNSSpeedTable = fake_put
local function expect(lines) -- the decoder's expected output for dump ndumps
  local f = assert(io.open(string.format("%s/dumps/%03d.txt", dir, ndumps), "w"))
  f:write(table.concat(lines, "\n") .. "\n"); f:close()
end
local function head() return { "version recmesh", "identity recmesh", "protocolVersion 1", "time " .. clock, "type PBNSSpeedDump" } end
local function with(lines, extra) for _, l in ipairs(extra) do lines[#lines + 1] = l end; return lines end

local before = ndumps
write(v2(t + 200, { "dead 192.0.2.1", "ns ns1.example. 192.0.2.2 1500", "ns ns2.example. 2001:db8::2 1000000",
                    "ns ns1.example. 2001:db8::1 250", "ns ns1.example. 192.0.2.2 9", "ns ns3.example. 10.1.2.3 10000000" }))
settle()
local _, _, _, s10 = m.state()
check(preoutquery(dq("192.0.2.1")) == true, "with putIntoNSSpeedTable: dead lines skipped as before")
check(ndumps == before + 2 and s10.claims == 1 and s10.imports == 1 and s10.imported == 3 and s10.offered == 3,
      string.format("one claim, one import of 3 names: %d dumps, claims %d, imports %d, imported %d",
                    ndumps - before, s10.claims, s10.imports, s10.imported))
expect(with(head(), { -- a name's entry comes at its last line
  "entry ns2.example. " .. clock .. " 0 2001:db8::2 53 1000000.0 1000000",
  "entry ns1.example. " .. clock .. " 0 192.0.2.2 53 1500.0 1500",
  "entry ns1.example. " .. clock .. " 0 2001:db8::1 53 250.0 250",
  "entry ns3.example. " .. clock .. " 0 10.1.2.3 53 10000000.0 10000000" }))
-- the marker dump before it
local h = 0
local hdr = string.format("# recmesh-intel 2 time=%d.500", t + 200)
for i = 1, #hdr do h = (h * 31 + hdr:byte(i)) % 4294967296 end
ndumps = ndumps - 1
expect(with(head(), { string.format("entry recmesh-import-%08x.invalid. %d 0 - - - -", h, clock) }))
ndumps = ndumps + 1
check(s10.ignored >= 1, "the repeated pair (ns1.example. 192.0.2.2) counted once, as its first line says")

-- the same file again (a new header): claimed again, nothing new for the table
before = ndumps
local imported0 = s10.imported
write(v2(t + 201, { "ns ns1.example. 192.0.2.2 1500", "ns ns4.example. 192.0.2.4 4" })); settle()
check(ndumps == before + 2 and calls[#calls] == 1 and s10.imported == imported0 + 1,
      "a changed file: only the name the table lacks is inserted, and counted")

-- a second Recursor thread (its own copy of the script) sees the same new file:
-- only the first claims it and imports
local m2 = dofile(script) -- loads the file: it is claimed already, so no import
local _, _, _, s2b = m2.state()
local _, _, _, s11 = m.state()
check(s2b.claims == 0 and s2b.imports == 0, "a second thread loading a file already claimed: no import")
before = ndumps
write(v2(t + 202, { "ns ns5.example. 192.0.2.5 5" }))
m2.maintenance(); m.maintenance() -- the second thread sees the new file first
repeat m.maintenance(); m2.maintenance(); local _, _, b1 = m.state(); local _, _, b2 = m2.state() until not b1 and not b2
-- dumps: the second thread's claim and import, the first thread's claim (refused)
check(s2b.claims == 1 and s2b.imported == 1 and s11.claims == 2 and ndumps == before + 3,
      string.format("two threads, one file: the first to see it claims and imports (claims %d and %d, %d dumps)",
                    s2b.claims, s11.claims - 2, ndumps - before))
maintenance = m.maintenance; preoutquery = m.preoutquery -- the second copy replaced the globals

-- a corrupt file is never imported, even with good ns lines before the bad one
before = ndumps
write(v2(t + 203, { "ns ns6.example. 192.0.2.6 6", "ns ns7.example. 192.0.2.7 seven" })); settle()
check(ndumps == before + 1 and not table_names["ns6.example."], "a corrupt file: claimed, but nothing imported")

-- MAX_NS_ADDRS: 32 addresses per name at most
local lines = {}
for i = 1, 40 do lines[#lines + 1] = string.format("ns many.example. 192.0.3.%d %d", i, i) end
before = ndumps
local ignored1 = s11.ignored
write(v2(t + 204, lines)); settle()
local f = assert(io.open(string.format("%s/dumps/%03d.bin", dir, ndumps), "rb")); local d = f:read("*a"); f:close()
local _, items = d:gsub("\8\53\18\4", "")
check(ndumps == before + 2 and items == 32 and s11.ignored == ignored1 + 8,
      string.format("40 addresses for one name: %d imported, %d ignored", items, s11.ignored - ignored1))

-- a large file is imported over several calls, IMPORT_STEP (2000) pairs each
lines = {}
for i = 1, 5000 do lines[#lines + 1] = string.format("ns n%d.big.example. 10.9.%d.%d %d", i, math.floor(i / 256), i % 256, i) end
before = ndumps
local imports0 = s11.imports
write(v2(t + 205, lines)); local calls5 = settle()
check(ndumps == before + 4 and s11.imports == imports0 + 3 and calls[#calls] + calls[#calls - 1] + calls[#calls - 2] == 5000,
      string.format("5000 names over %d calls: %d imports of %d, %d, %d names", calls5, s11.imports - imports0,
                    calls[#calls - 2], calls[#calls - 1], calls[#calls]))
-- at script load, the whole file in one call
before = ndumps
write(v2(t + 206, lines))
local m3 = dofile(script)
check(ndumps == before + 2, string.format("at script load: the claim and one import (%d dumps)", ndumps - before))
maintenance = m.maintenance; preoutquery = m.preoutquery

-- a putIntoNSSpeedTable that throws: counted, the dead list still works, maintenance() does not fail
putIntoNSSpeedTable = function() error("boom") end
local failed0 = s11.import_failed
write(v2(t + 207, { "dead 192.0.2.77", "ns ns8.example. 192.0.2.8 8" }))
local ok = pcall(settle)
check(ok and preoutquery(dq("192.0.2.77")) == true and s11.import_failed == failed0 + 1,
      "putIntoNSSpeedTable throws: caught and counted; dead servers still skipped")
-- an error inside the loader: maintenance() does not fail; nothing skipped
local real_open = io.open
write(v2(t + 208, { "dead 192.0.2.78" }))
io.open = function() error("no memory") end
ok = pcall(maintenance)
io.open = real_open
local _, _, _, s12 = m.state()
check(ok and s12.errors == 1 and preoutquery(dq("192.0.2.77")) == false, "an error in the loader: caught, counted, nothing skipped")
putIntoNSSpeedTable = nil

-- float32: values whose encoding Python's C conversion checks below
local vals = { "0", "-0", "1", "-1", "10000000", "1000000", "1500", "0.1", "1/3", "2^-149", "2^-150", "3*2^-150",
  "2^-149*1.5", "2^-126", "2^-126-2^-150", "2^-126-2^-149", "16777216", "16777217", "16777219", "2^24*1.5+1",
  "3.4028234663852886e38", "3.4028235677973366e38", "3.40282356779733661637539395458142568448e38*(1-2^-30)",
  "1e39", "1/0", "-1/0", "0/0", "1e-46", "5e-324", "123456.789", "-2.5e-40" }
local fv = assert(io.open(dir .. "/floats.txt", "w"))
for _, e in ipairs(vals) do
  local x = assert(loadstring("return " .. e))()
  local b = m.float32(x)
  fv:write(string.format("%s %.17g %02x%02x%02x%02x\n", e, x, b:byte(1), b:byte(2), b:byte(3), b:byte(4)))
end
fv:close()

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
LUA

# The dumps the script built, decoded by an independent decoder, against what
# the file said; a dump without an expectation must still decode.
n=0
for bin in "$dir"/dumps/*.bin; do
	txt=${bin%.bin}.txt
	if ! out=$(python3 "$SRC/tests/unit/pbnsspeed.py" "$bin" 2>&1); then
		echo "  FAIL dump $(basename "$bin") does not decode: $out"; status=1; continue
	fi
	if [[ -f $txt ]]; then
		n=$((n + 1))
		if ! diff <(printf '%s\n' "$out") "$txt" >"$dir/diff" 2>&1; then
			echo "  FAIL dump $(basename "$bin"): decoded (<) and expected (>) differ:"; cat "$dir/diff"; status=1
		fi
	fi
done
((n >= 2)) || { echo "  FAIL only $n dumps with expectations"; status=1; }
echo "  ok   $(ls "$dir"/dumps/*.bin | wc -l) dumps decode; $n of them exactly as expected"

# float32: the script's bytes against C's conversion (round to nearest even, inf on overflow)
if python3 - "$dir/floats.txt" <<'PY'; then echo "  ok   float32 encodings equal C's for $(wc -l <"$dir/floats.txt") values"; else status=1; fi
import ctypes, struct, sys
bad = 0
for line in open(sys.argv[1]):
    expr, text, got = line.split()
    x = float(text)
    want = bytes(ctypes.c_float(x))
    if x != x:
        want = struct.pack("<I", 0x7FC00000)  # the script writes the one quiet NaN
    if want.hex() != got:
        print("  FAIL float32(%s = %s): script %s, C %s" % (expr, text, got, want.hex()))
        bad += 1
sys.exit(1 if bad else 0)
PY
# recmesh warm waits for the script to take a file in (intel_load_seconds): the
# pace it assumes must be the script's own
for k in STEP_BYTES:INTEL_LUA_STEP_BYTES IMPORT_STEP:INTEL_LUA_IMPORT_STEP; do
	lua=$(sed -n "s/^local ${k%%:*} = \([0-9]*\).*/\1/p" "$SRC/contrib/recmesh.lua")
	c=$(sed -n "s/^#define ${k#*:} \([0-9]*\)\$/\1/p" "$SRC/src/nats/intel.h")
	if [[ -n $lua && $lua == "$c" ]]; then
		echo "  ok   recmesh.lua's ${k%%:*} $lua is intel.h's ${k#*:}"
	else
		echo "  FAIL recmesh.lua's ${k%%:*} '$lua' differs from intel.h's ${k#*:} '$c'"
		status=1
	fi
done
exit "$status"
