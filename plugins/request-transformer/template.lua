-- request-transformer/template: the `$(...)` value templates of Kong's request-transformer,
-- without running Lua. Kong evaluates any Lua expression in a sandbox; turnpike accepts the
-- forms its docs describe, which are lookups with an optional literal fallback:
--   $(headers.x_name)  $(headers["X-Name"])  $(query_params.q)  $(query_params["q"])
--   $(uri_captures.name)  $(uri_captures["name"])  $(uri_captures[1])   ... or "fallback"
-- `\$(` is a literal "$(". A lookup that finds nothing renders as the fallback or "".
--
--   local t, err = template.compile("Bearer $(headers.token)")   -- err: why it is refused
--   t:render(env)   env = { headers = {...}, query_params = {...}, uri_captures = {...} }
--   template.is_template(s) -> bool (cheap test: does s need rendering at all)
local type = type
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local concat = table.concat
local sub = string.sub
local find = string.find
local setmetatable = setmetatable

local SOURCES = { headers = true, query_params = true, uri_captures = true }

-- parse_expr(' headers["X-A"] or "d" ') -> { source, key, default } | nil, err
local function parse_expr(expr)
  local src, rest = expr:match("^%s*([%a_][%w_]*)(.*)$")
  if not src or not SOURCES[src] then
    return nil, "unsupported template expression '" .. expr ..
                "' (use headers, query_params or uri_captures lookups)"
  end
  local key, tail = rest:match("^%.([%a_][%w_]*)(.*)$")
  if not key then key, tail = rest:match('^%[%s*"([^"]*)"%s*%](.*)$') end
  if not key then key, tail = rest:match("^%[%s*'([^']*)'%s*%](.*)$") end
  if not key then
    key, tail = rest:match("^%[%s*(%d+)%s*%](.*)$")
    key = tonumber(key)
  end
  if key == nil then return nil, "unsupported template expression '" .. expr .. "'" end
  local default
  if not tail:find("^%s*$") then
    default = tail:match('^%s+or%s+"([^"]*)"%s*$') or tail:match("^%s+or%s+'([^']*)'%s*$")
    if not default then return nil, "unsupported template expression '" .. expr .. "'" end
  end
  return { source = src, key = key, default = default }
end

-- The index of the ")" closing an expression starting at i, skipping quoted strings.
local function close_of(s, i)
  local quote
  for j = i, #s do
    local c = sub(s, j, j)
    if quote then
      if c == quote then quote = nil end
    elseif c == '"' or c == "'" then
      quote = c
    elseif c == ")" then
      return j
    end
  end
  return nil
end

local template = {}
local mt = { __index = template }

local _M = {}

function _M.is_template(s)
  return type(s) == "string" and find(s, "$(", 1, true) ~= nil
end

-- compile(s) -> template | nil, err
function _M.compile(s)
  local parts, i, lit = {}, 1, {}
  while true do
    local at = find(s, "$(", i, true)
    if not at then break end
    if at > 1 and sub(s, at - 1, at - 1) == "\\" then
      lit[#lit + 1] = sub(s, i, at - 2) .. "$("
      i = at + 2
    else
      local close = close_of(s, at + 2)
      if not close then return nil, "unclosed template in '" .. s .. "'" end
      local e, err = parse_expr(sub(s, at + 2, close - 1))
      if not e then return nil, err end
      lit[#lit + 1] = sub(s, i, at - 1)
      parts[#parts + 1] = concat(lit)
      parts[#parts + 1] = e
      lit = {}
      i = close + 1
    end
  end
  lit[#lit + 1] = sub(s, i)
  parts[#parts + 1] = concat(lit)
  return (setmetatable({ parts = parts }, mt))
end

function template:render(env)
  local out = {}
  for i, p in ipairs(self.parts) do
    if type(p) == "string" then
      out[i] = p
    else
      local t = env[p.source]
      local v = t and t[p.key]
      if type(v) == "table" then v = v[1] end
      if v == nil or v == false then v = p.default or "" end
      if v == true then v = "" end
      out[i] = tostring(v)
    end
  end
  return (concat(out))
end

return _M
