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
-- addresses, anything else gives none. preoutquery() must not fail either.
-- Lines longer than the script's MAX_LINE are skipped, not corrupt (the
-- model below states every rule); a NUL byte is an ordinary byte that no
-- valid line holds, so a file with one in a line is corrupt.
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

-- What the file should give: the set of dead addresses, or nil for none.
-- The script reads the file in blocks, not with f:read("*l"), so bytes are
-- bytes: a NUL is just a byte that no valid line holds. Its rules: the
-- header is the first line, at most MAX_LINE bytes, "# recmesh-intel 1
-- time=T" with T > 0; every further line (the last one may lack its LF) is
-- "dead ADDRESS", or longer than MAX_LINE bytes (skipped and counted); any
-- other line makes the whole file corrupt.
local MAX_LINE = 64
local function model(text)
  local nl = text:find("\n", 1, true)
  if not nl or nl - 1 > MAX_LINE then return nil end
  local t = tonumber(text:sub(1, nl - 1):match("^# recmesh%-intel 1 time=(%d+)%.?%d*$"))
  -- time 0 is the script's "no usable file": it skips nothing
  if not t or t == 0 then return nil end
  local set, pos = {}, nl + 1
  while pos <= #text do
    local e = text:find("\n", pos, true)
    local line = text:sub(pos, (e or #text + 1) - 1)
    pos = (e or #text) + 1
    if #line <= MAX_LINE then
      local a = line:match("^dead ([0-9a-fA-F.:]+)$")
      if not a then return nil end
      set[a] = true
    end
  end
  return set
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
    local dead, t = m.state()
    if t == 0 then dead = {} end -- nothing is skipped without a file time
    local want = model(text)
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
local alphabet = { "\n", " ", ".", ":", "#", "0", "9", "a", "F", "g", "\r", "\0", "-", "%", "dead ", "time=", "\t" }
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
