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
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
LUA
