-- lua_intel.lua: fuzz driver for the intelligence-file reader of
-- contrib/recmesh.lua (the Recursor's side of recmesh), run under LuaJIT as
-- the Recursor runs it:
--     luajit tests/fuzz/lua_intel.lua contrib/recmesh.lua CORPUS_DIR [MUTATIONS] [SECONDS]
-- It loads the script unchanged (os.getenv is stubbed to point it at a
-- temporary file; the script needs no other Recursor global to load), then
-- feeds the reader every file of CORPUS_DIR and MUTATIONS mutated copies
-- of them (or as many as fit in SECONDS, when SECONDS > 0). Each file must
-- load without a Lua error, and the state must be all or nothing: a file
-- with a valid header and only "dead ADDRESS" lines gives exactly those
-- addresses, anything else gives none; in a version 2 file, the number of
-- good "ns NSNAME ADDRESS RTT_US" lines read must be the model's too (the
-- script runs as on a Recursor without putIntoNSSpeedTable: the encoder has
-- its own unit test). preoutquery() must not fail either.
-- Lines of MAX_LINE bytes or more (the LF included) are skipped, not corrupt
-- (the model below states every rule); a NUL byte is an ordinary byte that
-- no valid line holds, so a file with one in a line is corrupt.
-- Exits 1 on the first failure, after printing the input in Lua's %q form.
local script, corpus = arg[1], arg[2]
local mutations, seconds = tonumber(arg[3] or "1000"), tonumber(arg[4] or "0")
assert(script and corpus, "usage: lua_intel.lua RECMESH_LUA CORPUS_DIR [MUTATIONS] [SECONDS]")

local path = os.tmpname()
local real_getenv = os.getenv
os.getenv = function(k)
  if k == "RECMESH_INTEL_FILE" then return path end
  return real_getenv(k)
end
local m = dofile(script)
os.getenv = real_getenv

local function write(text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- What the file should give: the set of dead addresses and the number of ns
-- lines, or nil for none. The script reads the file in blocks, not with
-- f:read("*l"), so bytes are bytes: a NUL is just a byte that no valid line
-- holds. Its rules: the header is the first line, under MAX_LINE bytes with
-- its LF, "# recmesh-intel V time=T" with V 1 or 2 and T > 0; every further
-- line (the last one may lack its LF) is "dead ADDRESS", in version 2 also
-- "ns NSNAME ADDRESS RTT_US", or of MAX_LINE bytes or more with its LF
-- (skipped and counted); any other line makes the whole file corrupt. This
-- model checks the ns parts with patterns, where the script reads bytes.
local MAX_LINE = 320
local function ip4(a)
  local q = { a:match("^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$") }
  if #q ~= 4 then return false end
  for _, v in ipairs(q) do if tonumber(v) > 255 then return false end end
  return true
end
local function ip6(a)
  local groups = 8
  local pre, v4 = a:match("^(.*:)([^:]*%.[^:]*)$")
  if pre then
    if not ip4(v4) then return false end
    a, groups = pre .. "0", 7 -- the quad stands for two groups: check the rest with one
  end
  local _, dcs = a:gsub("::", "")
  if dcs > 1 or a:find(":::", 1, true) then return false end
  local parts = {}
  for g in (a .. ":"):gmatch("(.-):") do parts[#parts + 1] = g end
  local n, empty = 0, 0
  for i, g in ipairs(parts) do
    if g == "" then
      empty = empty + 1
      -- only the "::" may leave empty parts: at the start, at the end, or once inside
      if dcs == 0 then return false end
    elseif not g:match("^%x%x?%x?%x?$") then
      return false
    else
      n = n + 1
    end
  end
  if dcs == 0 then return n == groups end
  -- "::" alone gives 3 empty parts, at an end 2, inside 1
  local lead, trail = parts[1] == "", parts[#parts] == ""
  if a == "::" then return true end
  if lead and parts[2] ~= "" then return false end
  if trail and parts[#parts - 1] ~= "" then return false end
  if empty ~= 1 + (lead and 1 or 0) + (trail and 1 or 0) then return false end
  return n <= groups - 1
end
local function ns_ok(line)
  local name, addr, rtt = line:match("^ns ([a-z0-9_%-%.]+) ([0-9a-fA-F%.:]+) ([0-9]+)$")
  if not name or #name > 254 or not name:match("^[^.].*%.$") or name:find("..", 1, true) then return false end
  for label in name:gmatch("[^.]+") do if #label > 63 then return false end end
  if #rtt > 8 or tonumber(rtt) < 1 or tonumber(rtt) > 10000000 then return false end
  if addr:find(":", 1, true) then return ip6(addr) end
  return ip4(addr)
end
local function model(text)
  local nl = text:find("\n", 1, true)
  if not nl or nl > MAX_LINE then return nil end
  local v, t = text:sub(1, nl - 1):match("^# recmesh%-intel ([12]) time=(%d+)%.?%d*$")
  t = tonumber(t)
  -- time 0 is the script's "no usable file": it skips nothing
  if not t or t == 0 then return nil end
  local set, ns, pos = {}, 0, nl + 1
  while pos <= #text do
    local e = text:find("\n", pos, true)
    local line = text:sub(pos, (e or #text + 1) - 1)
    pos = (e or #text) + 1
    if #line < MAX_LINE then
      local a = line:match("^dead ([0-9a-fA-F.:]+)$")
      if a then
        set[a] = true
      elseif v == "2" and ns_ok(line) then
        ns = ns + 1
      else
        return nil
      end
    end
  end
  return set, ns
end

local failures, files = 0, 0
local function check(text, name)
  files = files + 1
  os.remove(path)
  local ok, err = pcall(m.load) -- no file: forgets what the previous input left
  if ok then
    write(text)
    ok, err = pcall(m.load)
  end
  local why
  if not ok then
    why = "Lua error: " .. tostring(err)
  else
    local dead, t, _, st = m.state()
    if t == 0 then dead = {} end -- nothing is skipped without a file time
    local want, want_ns = model(text)
    if want and st.ns ~= want_ns then why = string.format("%d ns lines read, the model says %d", st.ns, want_ns) end
    -- the loader catches its own errors (maintenance() must never fail): any is a bug
    if st.errors > 0 then why = "a Lua error inside the loader (stats.errors " .. st.errors .. ")" end
    local n = 0
    for a in pairs(dead) do
      n = n + 1
      if not (want and want[a]) then why = "unexpected dead address " .. a end
    end
    for a in pairs(want or {}) do
      if not dead[a] then why = "dead address " .. a .. " not loaded" end
    end
    local dq = { remoteaddr = { toString = function() return next(dead) or "192.0.2.1" end } }
    local pok, perr = pcall(preoutquery, dq)
    if not pok then why = "preoutquery: " .. tostring(perr) end
  end
  if why then
    failures = failures + 1
    io.stderr:write(string.format("lua_intel: %s: %s\ninput: %q\n", name, why, text))
    os.remove(path)
    os.exit(1)
  end
end

-- the corpus
local seeds = {}
local ls = assert(io.popen('ls -1 "' .. corpus .. '"'))
for name in ls:lines() do
  local f = io.open(corpus .. "/" .. name, "rb")
  if f then
    local text = f:read("*a")
    f:close()
    seeds[#seeds + 1] = text
    check(text, name)
  end
end
ls:close()
assert(#seeds > 0, "empty corpus " .. corpus)

-- mutations: deterministic unless SECONDS is given
local alphabet = { "\n", " ", ".", ":", "#", "0", "9", "a", "F", "g", "\r", "\0", "-", "%", "dead ", "time=", "\t",
                   "ns ", "::", "_", "255", "256", "10000000", "10000001", "A", string.rep("a", 63) }
local function mutate(text)
  for _ = 1, math.random(1, 4) do
    local op, p = math.random(1, 6), math.random(1, #text + 1)
    if op == 1 and #text > 0 then -- change one octet
      text = text:sub(1, p - 1) .. string.char(math.random(0, 255)) .. text:sub(p + 1)
    elseif op == 2 then -- insert something likely
      text = text:sub(1, p - 1) .. alphabet[math.random(#alphabet)] .. text:sub(p)
    elseif op == 3 then -- delete a range
      text = text:sub(1, p - 1) .. text:sub(p + math.random(1, 8))
    elseif op == 4 then -- cut
      text = text:sub(1, p - 1)
    elseif op == 5 then -- append another seed's lines
      text = text .. seeds[math.random(#seeds)]:gsub("^[^\n]*\n?", "")
    else -- repeat a part
      local q = math.random(p, #text + 1)
      text = text:sub(1, q) .. text:sub(p, q) .. text:sub(q + 1)
    end
  end
  return text
end
math.randomseed(seconds > 0 and os.time() or 42)
local deadline = os.clock() + seconds
local i = 0
while (seconds > 0 and os.clock() < deadline) or (seconds <= 0 and i < mutations) do
  i = i + 1
  check(mutate(seeds[math.random(#seeds)]), "mutation " .. i)
end
os.remove(path)
print(string.format("lua_intel: %d files read, %d failures", files, failures))
print(string.format("lua_intel: %d passed, %d failed", files - failures, failures))
