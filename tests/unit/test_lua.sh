#!/usr/bin/env bash
# test_lua.sh: contrib/recmesh.lua's file parser and skip logic under LuaJIT
# (the Recursor embeds LuaJIT), with a stand-in for the Recursor's dq object.
set -euo pipefail
SRC=${srcdir:-$(dirname "$0")/../..}
LUA_SCRIPT=$SRC/contrib/recmesh.lua
command -v luajit >/dev/null || { echo "luajit is not installed (apt-get install luajit)"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export RECMESH_INTEL_FILE=$dir/intel.txt
luajit - "$LUA_SCRIPT" "$RECMESH_INTEL_FILE" <<'LUA'
local script, path = arg[1], arg[2]
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
write(string.format("# recmesh-intel 2 time=%d\ndead 192.0.2.1\n", now + 2)); maintenance()
check(preoutquery(dq("192.0.2.1")) == false, "unknown version: nothing skipped")

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

-- over MAX_BYTES: refused, nothing skipped
local refused0 = st.refused
write(biglist(now + 9, 400000)); settle()
local _, _, _, st2 = m.state()
check(preoutquery(dq("10.0.0.8")) == false and st2.refused == refused0 + 1, "an oversized file: refused, nothing skipped")
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
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
LUA
