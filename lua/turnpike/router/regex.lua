-- turnpike.router.regex: a small backtracking regex engine for the PCRE subset found in
-- Kong routes (regex paths and `~*` header values). LuaJIT has no PCRE and Lua patterns
-- have neither alternation nor groups, so patterns are parsed into a tree and compiled,
-- once, into a chain of closures: every node is compiled together with its continuation
-- (the matcher of whatever follows it), and a matcher returns the end position of the
-- whole match or nil. Nothing is allocated while matching except the captures table.
--
-- Supported: literals; `.`; `\d \D \w \W \s \S \b \B \t \n \r \xHH` and escaped
-- punctuation; classes `[a-z_\d]`, `[^/]`; groups `(...)`, `(?:...)`, `(?<name>...)`,
-- `(?P<name>...)`; alternation `|`; quantifiers `* + ? {n} {n,} {n,m}` and their lazy
-- forms (`*?`...); anchors `^` and `$` (end of subject); a leading `(?i)`.
-- Not supported (compile error): look-around, back-references, possessive quantifiers,
-- POSIX classes, Unicode properties.
--
-- Runaway backtracking is bounded: a match that takes more than STEP_LIMIT steps gives up
-- and reports no match with an error, as PCRE does with its match limit.

local byte, sub, char, lower, upper = string.byte, string.sub, string.char, string.lower, string.upper
local find, tonumber, setmetatable, pcall, error = string.find, tonumber, setmetatable, pcall, error
local huge = math.huge
local pairs, type, tostring, concat = pairs, type, tostring, table.concat

local STEP_LIMIT = 100000
local ERR_STEPS = "regex: backtracking limit exceeded"
local ERR_DEPTH = "regex: nesting limit exceeded"

-- byte sets are plain tables indexed by byte value; a few shared constant ones
local function range_set(set, a, b)
  for c = a, b do set[c] = true end
  return set
end

local DIGIT = range_set({}, 48, 57)
local WORD = range_set(range_set(range_set(range_set({}, 48, 57), 65, 90), 97, 122), 95, 95)
local SPACE = { [32] = true, [9] = true, [10] = true, [11] = true, [12] = true, [13] = true }

local function negate(set)
  local n = {}
  for c = 0, 255 do
    if not set[c] then n[c] = true end
  end
  return n
end

local function merge(dst, src)
  for c = 0, 255 do
    if src[c] then dst[c] = true end
  end
end

local CLASS_ESCAPES = {
  d = DIGIT, D = negate(DIGIT), w = WORD, W = negate(WORD), s = SPACE, S = negate(SPACE),
}
local CHAR_ESCAPES = { t = 9, n = 10, r = 13, f = 12, v = 11, e = 27, a = 7 }

-------------------------------------------------------------------------------------------
-- parser: pattern string -> tree
--   { t = "byte", b }  { t = "set", set }  { t = "any" }  { t = "bol" }  { t = "eol" }
--   { t = "wb", neg }  { t = "seq", list }  { t = "alt", list }
--   { t = "group", n (nil for (?:)), body }  { t = "rep", node, min, max, greedy }
-------------------------------------------------------------------------------------------

local parse_alt

local function perr(p, msg)
  error({ msg = msg .. " at offset " .. (p.pos - 1) }, 0)
end

-- one escape after a backslash (p.pos is on the escaped char); returns a node
local function parse_escape(p, in_class)
  local s, i = p.src, p.pos
  local c = sub(s, i, i)
  if c == "" then perr(p, "trailing backslash") end
  p.pos = i + 1
  if CLASS_ESCAPES[c] then return { t = "set", set = CLASS_ESCAPES[c] } end
  if CHAR_ESCAPES[c] then return { t = "byte", b = CHAR_ESCAPES[c] } end
  if c == "x" then
    local hex = s:match("^%x%x", i + 1)
    if not hex then perr(p, "bad \\x escape") end
    p.pos = i + 3
    return { t = "byte", b = tonumber(hex, 16) }
  end
  if not in_class and (c == "b" or c == "B") then return { t = "wb", neg = c == "B" } end
  if find(c, "%w") then perr(p, "unsupported escape \\" .. c) end
  return { t = "byte", b = byte(c) }
end

local function parse_class(p)
  local s = p.src
  local set, neg = {}, false
  if sub(s, p.pos, p.pos) == "^" then
    neg = true
    p.pos = p.pos + 1
  end
  local first = true
  while true do
    local c = sub(s, p.pos, p.pos)
    if c == "" then perr(p, "missing ]") end
    if c == "]" and not first then
      p.pos = p.pos + 1
      break
    end
    first = false
    if c == "[" and sub(s, p.pos + 1, p.pos + 1) == ":" then perr(p, "POSIX classes are not supported") end
    local lo
    if c == "\\" then
      p.pos = p.pos + 1
      local node = parse_escape(p, true)
      if node.t == "set" then merge(set, node.set) else lo = node.b end
    else
      lo = byte(c)
      p.pos = p.pos + 1
    end
    if lo then
      -- a range needs a '-' followed by something other than the closing ']'
      if sub(s, p.pos, p.pos) == "-" and sub(s, p.pos + 1, p.pos + 1) ~= "]"
          and sub(s, p.pos + 1, p.pos + 1) ~= "" then
        p.pos = p.pos + 1
        local hi
        if sub(s, p.pos, p.pos) == "\\" then
          p.pos = p.pos + 1
          local node = parse_escape(p, true)
          if node.t ~= "byte" then perr(p, "bad range in class") end
          hi = node.b
        else
          hi = byte(s, p.pos)
          p.pos = p.pos + 1
        end
        if hi < lo then perr(p, "range out of order in class") end
        range_set(set, lo, hi)
      else
        set[lo] = true
      end
    end
  end
  return { t = "set", set = neg and negate(set) or set }
end

-- `{n}`, `{n,}`, `{n,m}` at p.pos; returns min, max or nil when it is not a quantifier
-- (PCRE then takes the brace literally)
local function parse_braces(p)
  local a, b, e = p.src:match("^{(%d+)(,?%d*)}()", p.pos)
  if not a then return nil end
  local min, max = tonumber(a), tonumber(a)
  if b ~= "" then max = b == "," and huge or tonumber(sub(b, 2)) end
  if max < min then perr(p, "numbers out of order in {} quantifier") end
  p.pos = e
  return min, max
end

local function parse_group(p)
  local s = p.src
  local n, name
  if sub(s, p.pos, p.pos) == "?" then
    local c = sub(s, p.pos + 1, p.pos + 1)
    if c == ":" then
      p.pos = p.pos + 2
    elseif c == "<" or (c == "P" and sub(s, p.pos + 2, p.pos + 2) == "<") then
      local nm, e = s:match("^<([%a_][%w_]*)>()", p.pos + (c == "P" and 2 or 1))
      if not nm then perr(p, "bad group name") end
      if p.names[nm] then perr(p, "duplicate group name " .. nm) end
      p.ngroups = p.ngroups + 1
      n, name = p.ngroups, nm
      p.names[nm] = n
      p.pos = e
    else
      perr(p, "unsupported group syntax (?" .. c)
    end
  else
    p.ngroups = p.ngroups + 1
    n = p.ngroups
  end
  local body = parse_alt(p)
  if sub(s, p.pos, p.pos) ~= ")" then perr(p, "missing )") end
  p.pos = p.pos + 1
  return { t = "group", n = n, name = name, body = body }
end

local function parse_atom(p)
  local s = p.src
  local c = sub(s, p.pos, p.pos)
  p.pos = p.pos + 1
  if c == "(" then return parse_group(p) end
  if c == "[" then return parse_class(p) end
  if c == "." then return { t = "any" } end
  if c == "^" then return { t = "bol" } end
  if c == "$" then return { t = "eol" } end
  if c == "\\" then return parse_escape(p, false) end
  if c == "*" or c == "+" or c == "?" then perr(p, "nothing to repeat") end
  if c == "{" then
    p.pos = p.pos - 1
    if parse_braces(p) then perr(p, "nothing to repeat") end
    p.pos = p.pos + 1
  end
  return { t = "byte", b = byte(c) }
end

local function parse_seq(p)
  local s, list = p.src, {}
  while true do
    local c = sub(s, p.pos, p.pos)
    if c == "" or c == "|" or c == ")" then break end
    local atom = parse_atom(p)
    local q = sub(s, p.pos, p.pos)
    local min, max
    if q == "*" then min, max = 0, huge
    elseif q == "+" then min, max = 1, huge
    elseif q == "?" then min, max = 0, 1
    elseif q == "{" then min, max = parse_braces(p) end
    if min then
      if q ~= "{" then p.pos = p.pos + 1 end
      if atom.t == "bol" or atom.t == "eol" or atom.t == "wb" then perr(p, "nothing to repeat") end
      local greedy = true
      local nq = sub(s, p.pos, p.pos)
      if nq == "?" then
        greedy = false
        p.pos = p.pos + 1
      elseif nq == "+" then
        perr(p, "possessive quantifiers are not supported")
      end
      atom = { t = "rep", node = atom, min = min, max = max, greedy = greedy }
    end
    list[#list + 1] = atom
  end
  return { t = "seq", list = list }
end

function parse_alt(p)
  local list = { parse_seq(p) }
  while sub(p.src, p.pos, p.pos) == "|" do
    p.pos = p.pos + 1
    list[#list + 1] = parse_seq(p)
  end
  if #list == 1 then return list[1] end
  return { t = "alt", list = list }
end

-- caseless matching is done at compile time: every letter becomes a two-byte set
local function fold_set(set)
  local f = {}
  for c = 0, 255 do
    if set[c] then
      f[c] = true
      f[byte(lower(char(c)))] = true
      f[byte(upper(char(c)))] = true
    end
  end
  return f
end

-------------------------------------------------------------------------------------------
-- compiler: tree -> closures. All matchers of one regex share the subject, its length, the
-- capture slots and the step budget through upvalues of `build`; matching never re-enters
-- the same regex, so this is safe and keeps the hot path free of argument shuffling.
-------------------------------------------------------------------------------------------

local function build(tree, ngroups, caseless)
  local S, LEN, STEPS = "", 0, 0
  local CAPS = {}

  -- the byte set of a node that always matches exactly one byte (`x`, `[..]`, `(?:a|b)`),
  -- or nil; `.` is not a set since it is handled on its own
  local function as_set(node)
    local t = node.t
    if t == "byte" then return { [node.b] = true } end
    if t == "set" then return node.set end
    if t == "group" and not node.n then return as_set(node.body) end
    if t == "seq" and #node.list == 1 then return as_set(node.list[1]) end
    if t == "alt" then
      local u = {}
      for k = 1, #node.list do
        local s = as_set(node.list[k])
        if not s then return nil end
        merge(u, s)
      end
      return u
    end
    return nil
  end

  local function single(node)
    -- returns a byte test for one-char nodes, or nil
    local t = node.t
    if t ~= "byte" and t ~= "set" and t ~= "any" then
      local set = as_set(node)
      if not set then return nil end
      node = { t = "set", set = set }
      t = "set"
    end
    if t == "byte" then
      local b = node.b
      if caseless and find(char(b), "%a") then
        local set = fold_set({ [b] = true })
        return function(c) return set[c] end
      end
      return function(c) return c == b end
    elseif t == "set" then
      local set = caseless and fold_set(node.set) or node.set
      return function(c) return set[c] end
    elseif t == "any" then
      return function(c) return c ~= nil and c ~= 10 end
    end
  end

  local compile

  local function compile_rep(node, nxt)
    local min, max, greedy = node.min, node.max, node.greedy
    local test = single(node.node)
    if test then
      -- one-char body: count the run once, then hand positions to the continuation
      if greedy then
        return function(i)
          local j = i
          while j - i < max and test(byte(S, j)) do j = j + 1 end
          while j >= i + min do
            STEPS = STEPS - 1
            if STEPS < 0 then error(ERR_STEPS, 0) end
            local r = nxt(j)
            if r then return r end
            j = j - 1
          end
        end
      end
      return function(i)
        local j = i
        while j - i < min do
          if not test(byte(S, j)) then return nil end
          j = j + 1
        end
        while true do
          STEPS = STEPS - 1
          if STEPS < 0 then error(ERR_STEPS, 0) end
          local r = nxt(j)
          if r then return r end
          if j - i >= max or not test(byte(S, j)) then return nil end
          j = j + 1
        end
      end
    end
    -- general body: iteration count and iteration start live in upvalues, saved and
    -- restored around each recursive step so nested/re-entered loops stay consistent
    local cnt, start = 0, 0
    local body
    local function more(i)
      STEPS = STEPS - 1
      if STEPS < 0 then error(ERR_STEPS, 0) end
      if greedy then
        if cnt < max then
          local r = body(i)
          if r then return r end
        end
        if cnt >= min then return nxt(i) end
        return nil
      end
      if cnt >= min then
        local r = nxt(i)
        if r then return r end
      end
      if cnt < max then return body(i) end
      return nil
    end
    local function after_body(i)
      -- an empty iteration once the minimum is reached would loop forever
      if i == start and cnt >= min then return nil end
      local sc, ss = cnt, start
      cnt, start = cnt + 1, i
      local r = more(i)
      cnt, start = sc, ss
      return r
    end
    body = compile(node.node, after_body)
    return function(i)
      local sc, ss = cnt, start
      cnt, start = 0, i
      local r = more(i)
      cnt, start = sc, ss
      return r
    end
  end

  function compile(node, nxt)
    local t = node.t
    local test = single(node)
    if test then
      return function(i)
        if test(byte(S, i)) then return nxt(i + 1) end
      end
    elseif t == "seq" then
      local m = nxt
      for k = #node.list, 1, -1 do m = compile(node.list[k], m) end
      return m
    elseif t == "alt" then
      local ms = {}
      for k = 1, #node.list do ms[k] = compile(node.list[k], nxt) end
      local n = #ms
      return function(i)
        for k = 1, n do
          local r = ms[k](i)
          if r then return r end
        end
        STEPS = STEPS - 1
        if STEPS < 0 then error(ERR_STEPS, 0) end
      end
    elseif t == "group" then
      if not node.n then return compile(node.body, nxt) end
      local so, eo = 2 * node.n - 1, 2 * node.n
      local body = compile(node.body, function(i)
        local old = CAPS[eo]
        CAPS[eo] = i
        local r = nxt(i)
        if not r then CAPS[eo] = old end
        return r
      end)
      return function(i)
        local old = CAPS[so]
        CAPS[so] = i
        local r = body(i)
        if not r then CAPS[so] = old end
        return r
      end
    elseif t == "rep" then
      return compile_rep(node, nxt)
    elseif t == "bol" then
      return function(i) if i == 1 then return nxt(i) end end
    elseif t == "eol" then
      return function(i) if i == LEN + 1 then return nxt(i) end end
    elseif t == "wb" then
      local neg = node.neg
      return function(i)
        local a, b = WORD[byte(S, i - 1) or 0] or false, WORD[byte(S, i) or 0] or false
        if (a ~= b) ~= neg then return nxt(i) end
      end
    end
    error("regex: unknown node " .. tostring(t))
  end

  local top = compile(tree, function(i) return i end)

  -- run at one start position; returns end (exclusive) or nil, err
  local function run(s, init)
    S, LEN, STEPS = s, #s, STEP_LIMIT
    for k = 1, 2 * ngroups do CAPS[k] = false end
    local ok, r = pcall(top, init)
    if not ok then
      if r == ERR_STEPS then return nil, r end
      -- each repetition of a group nests a call; a real bug must not pass for "no match"
      if find(tostring(r), "stack overflow", 1, true) then return nil, ERR_DEPTH end
      error(r, 0)
    end
    return r
  end

  local function captures(s, names)
    local caps = {}
    for g = 1, ngroups do
      local a, b = CAPS[2 * g - 1], CAPS[2 * g]
      caps[g] = a and b and sub(s, a, b - 1) or false
    end
    for name, g in pairs(names) do caps[name] = caps[g] end
    return caps
  end

  return run, captures
end

-- the literal text every match must start with (used by the router to index regex paths)
local function literal_prefix(tree)
  local list = tree.t == "seq" and tree.list or { tree }
  local out = {}
  for k = 1, #list do
    local n = list[k]
    if n.t == "byte" then
      out[#out + 1] = char(n.b)
    elseif not (k == 1 and n.t == "bol") then
      break
    end
  end
  return (concat(out))
end

local _M = {}
local mt = { __index = _M }

-- compile(pattern, opts) -> regex | nil, err. opts.caseless: match letters in any case.
function _M.compile(pattern, opts)
  if type(pattern) ~= "string" then error("regex pattern must be a string", 2) end
  local caseless = opts and opts.caseless or false
  local src = pattern
  if sub(src, 1, 4) == "(?i)" then
    caseless = true
    src = sub(src, 5)
  end
  local p = { src = src, pos = 1, ngroups = 0, names = {} }
  local ok, tree = pcall(function()
    local t = parse_alt(p)
    if p.pos <= #src then perr(p, "unmatched )") end
    return t
  end)
  if not ok then
    if type(tree) == "table" then return nil, tree.msg end
    error(tree, 0)
  end
  local run, captures = build(tree, p.ngroups, caseless)
  local self = {
    pattern = pattern, ngroups = p.ngroups, names = p.names,
    prefix = caseless and "" or literal_prefix(tree),
    _run = run, _captures = captures,
  }
  return (setmetatable(self, mt))
end

-- match(s, init) -> end, captures | nil[, err]: anchored at init (default 1). `end` is
-- the index of the last matched byte (init - 1 for an empty match). captures has
-- [1..n] and names; groups that took no part are false (as ngx.re.match).
function _M:match(s, init)
  init = init or 1
  local e, err = self._run(s, init)
  if not e then return nil, err end
  return e - 1, self._captures(s, self.names)
end

-- find(s) -> start, end | nil[, err]: the leftmost match anywhere in s.
function _M:find(s)
  local run = self._run
  for i = 1, #s + 1 do
    local e, err = run(s, i)
    if e then return i, e - 1 end
    if err then return nil, err end
  end
  return nil
end

-- test(s) -> bool: is there a match anywhere in s (for `~*` header values)
function _M:test(s)
  return self:find(s) ~= nil
end

return _M
