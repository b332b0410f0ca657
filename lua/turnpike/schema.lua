-- turnpike.schema: validates a table against a Kong-shaped schema and fills defaults.
--
-- A plugin schema looks like Kong's:
--   { name = "x", fields = { { consumer = typedefs.no_consumer },
--                            { config = { type = "record", fields = { { minute = {...} } } } } },
--     entity_checks = { { at_least_one_of = { "config.minute", "config.hour" } } } }
--
-- validate(plugin_schema, conf) returns a new table (the input is never changed) with defaults
-- filled in, or nil, "config.<path>: why", errs where errs is the list of every problem found as
-- { path = "config.redis.host", keys = { "config", "redis", "host" }, message = "why" }.
-- Absent fields and explicit nulls (cjson.null) come out as nil: a null skips the default, an
-- absent field takes it. Records without a default are materialised with their own defaults.
local cjson = require "cjson"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local concat = table.concat
local floor = math.floor

local null = cjson.null

local TYPE_ERR = {
  string = "expected a string", number = "expected a number", integer = "expected an integer",
  boolean = "expected a boolean", array = "expected an array", set = "expected a set",
  map = "expected a map", record = "expected a record", foreign = "expected a foreign key",
  ["function"] = "expected a function",
}

local ENTITY_CHECKS -- forward: the table of entity check implementations

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return out
end

local function is_sequence(t)
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or floor(k) ~= k then return false end
    n = n + 1
  end
  return n == #t
end

-- Kong's notion of "set": not nil, not null, not an empty table or string.
local function is_nonempty(v)
  if v == nil or v == null then return false end
  if type(v) == "table" then return next(v) ~= nil end
  if type(v) == "string" then return v ~= "" end
  return true
end

-- The single field definition inside a { name = def } entry.
local function field_entry(entry)
  local name, def = next(entry)
  return name, def
end

local function fmt_value(v)
  if type(v) == "string" then return v end
  return (tostring(v))
end

local function quoted_list(names)
  local q = {}
  for i, n in ipairs(names) do q[i] = "'" .. n .. "'" end
  return (concat(q, ", "))
end

local function add_err(errs, keys, msg)
  local path = {}
  for _, k in ipairs(keys) do
    if type(k) == "number" then
      path[#path > 0 and #path or 1] = (path[#path] or "") .. "[" .. k .. "]"
    else
      path[#path + 1] = k
    end
  end
  errs[#errs + 1] = { path = concat(path, "."), keys = keys, message = msg }
end

local function child_keys(keys, k)
  local out = {}
  for i, x in ipairs(keys) do out[i] = x end
  out[#out + 1] = k
  return out
end

local function check_type(def, v)
  local t = def.type
  if t == "string" or t == "number" or t == "boolean" or t == "function" then
    return type(v) == t
  elseif t == "integer" then
    return type(v) == "number" and floor(v) == v and v > -math.huge and v < math.huge
  elseif t == "array" or t == "set" then
    return type(v) == "table" and is_sequence(v)
  elseif t == "map" or t == "record" or t == "foreign" then
    return type(v) == "table"
  end
  return true -- unknown types ("any", "json") are not checked
end

-- Value-level validators shared by fields and `if_match`/`then_match` clauses.
-- Returns nil or the reason the value fails.
local function check_rules(def, v)
  if def.eq ~= nil then
    if def.eq == null then return "value must be null" end
    if v ~= def.eq then return "value must be " .. fmt_value(def.eq) end
  end
  if def.ne ~= nil and v == def.ne then return "value must not be " .. fmt_value(def.ne) end
  if def.one_of then
    for _, x in ipairs(def.one_of) do
      if x == v then goto ok end
    end
    do
      local names = {}
      for i, x in ipairs(def.one_of) do names[i] = fmt_value(x) end
      return "expected one of: " .. concat(names, ", ")
    end
    ::ok::
  end
  if def.not_one_of then
    for _, x in ipairs(def.not_one_of) do
      if x == v then return "must not be one of: " .. concat(def.not_one_of, ", ") end
    end
  end
  if type(v) == "number" then
    if def.between and (v < def.between[1] or v > def.between[2]) then
      return "value should be between " .. def.between[1] .. " and " .. def.between[2]
    end
    if def.gt and not (v > def.gt) then return "value must be greater than " .. def.gt end
    if def.lt and not (v < def.lt) then return "value must be less than " .. def.lt end
  end
  if type(v) == "string" or (type(v) == "table" and (def.type == "array" or def.type == "set")) then
    local len = type(v) == "string" and #v or #v
    local len_min = def.len_min
    if len_min == nil and def.type == "string" then len_min = 1 end
    if len_min and len < len_min then return "length must be at least " .. len_min end
    if def.len_eq and len ~= def.len_eq then return "length must be " .. def.len_eq end
    if def.len_max and len > def.len_max then return "length must be at most " .. def.len_max end
  end
  if type(v) == "string" then
    if def.match and not v:find(def.match) then return "invalid value: " .. v end
    if def.match_all then
      for _, m in ipairs(def.match_all) do
        if not v:find(m.pattern) then return m.err or ("invalid value: " .. v) end
      end
    end
    if def.match_none then
      for _, m in ipairs(def.match_none) do
        if v:find(m.pattern) then return m.err or ("invalid value: " .. v) end
      end
    end
    if def.match_any then
      local ok = false
      for _, p in ipairs(def.match_any.patterns) do
        if v:find(p) then ok = true break end
      end
      if not ok then return def.match_any.err or ("invalid value: " .. v) end
    end
    if def.starts_with and v:sub(1, #def.starts_with) ~= def.starts_with then
      return "should start with: " .. def.starts_with
    end
    if def.uuid and not v:match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") then
      return "expected a valid UUID"
    end
  end
  if def.contains ~= nil and type(v) == "table" then
    local found = false
    for _, x in ipairs(v) do if x == def.contains then found = true end end
    if not found then return "expected to contain: " .. fmt_value(def.contains) end
  end
  return nil
end

local validate_field -- forward

-- Runs one entity check against `rec` (the record the check is declared on).
-- `keys` is the record's path, used to name fields in errors.
local function run_entity_check(check, rec, keys, errs)
  local name, arg = next(check)
  local impl = ENTITY_CHECKS[name]
  if not impl then return end
  local field_err, msg = impl(rec, arg)
  if msg then
    local k = keys
    if field_err then
      for part in field_err:gmatch("[^.]+") do k = child_keys(k, part) end
    end
    add_err(errs, k, msg)
  end
end

-- Reads a dotted field name ("config.redis.host") from rec.
local function get_field(rec, name)
  local v = rec
  for part in name:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  if v == null then return nil end
  return v
end

-- Copies into dst the keys of src it lacks, recursing into tables both have, so several
-- shorthands may fill the same nested record and explicit values win.
local function merge_missing(dst, src)
  for k, x in pairs(src) do
    if dst[k] == nil or dst[k] == null then
      dst[k] = deep_copy(x)
    elseif type(dst[k]) == "table" and type(x) == "table" then
      merge_missing(dst[k], x)
    end
  end
end

-- Applies shorthand_fields: each present shorthand is type checked, expanded with its func and
-- removed. The result of func fills what the input does not set.
local function expand_shorthands(def, input, keys, errs)
  if not def.shorthand_fields then return input end
  local out
  for _, entry in ipairs(def.shorthand_fields) do
    local sname, sdef = field_entry(entry)
    local v = input[sname]
    if v ~= nil then
      out = out or deep_copy(input)
      out[sname] = nil
      if v ~= null and not check_type(sdef, v) then
        add_err(errs, child_keys(keys, sname), TYPE_ERR[sdef.type] or "invalid value")
      elseif v ~= null and sdef.func then
        local expanded = sdef.func(v)
        if type(expanded) == "table" then merge_missing(out, expanded) end
      end
    end
  end
  return out or input
end

local function validate_record(def, input, keys, errs)
  input = expand_shorthands(def, input, keys, errs)
  local out = {}
  local known = {}
  for _, entry in ipairs(def.fields or {}) do
    local fname, fdef = field_entry(entry)
    known[fname] = true
    out[fname] = validate_field(fdef, input[fname], child_keys(keys, fname), errs)
  end
  for k in pairs(input) do
    if not known[k] then add_err(errs, child_keys(keys, tostring(k)), "unknown field") end
  end
  return out
end

-- Returns the validated value of one field (nil when absent) and appends any errors.
function validate_field(def, v, keys, errs)
  if v == null then
    if def.required then add_err(errs, keys, "required field missing") end
    return nil
  end
  if v == nil then
    if def.default ~= nil and def.default ~= null then
      v = deep_copy(def.default)
    elseif def.type == "record" and not def.abstract and def.fields then
      v = {}
    elseif def.required then
      add_err(errs, keys, "required field missing")
      return nil
    else
      return nil
    end
  end
  if not check_type(def, v) then
    add_err(errs, keys, TYPE_ERR[def.type] or "invalid value")
    return nil
  end
  local nerr = #errs
  local out = v
  local t = def.type
  if t == "array" or t == "set" then
    out = {}
    local seen = {}
    for i, x in ipairs(v) do
      local ev = def.elements and validate_field(def.elements, x, child_keys(keys, i), errs) or x
      if t == "set" then
        if ev ~= nil and not seen[ev] then
          seen[ev] = true
          out[#out + 1] = ev
        end
      else
        out[#out + 1] = ev
      end
    end
  elseif t == "map" then
    out = {}
    for k, x in pairs(v) do
      local kk = def.keys and validate_field(def.keys, k, child_keys(keys, tostring(k)), errs) or k
      local vv = def.values and validate_field(def.values, x, child_keys(keys, tostring(k)), errs) or x
      if kk ~= nil then out[kk] = vv end
    end
  elseif t == "record" and def.fields then
    out = validate_record(def, v, keys, errs)
  else
    out = deep_copy(v)
  end
  if #errs > nerr then return out end
  local why = check_rules(def, out)
  if why then
    add_err(errs, keys, why)
    return out
  end
  if def.custom_validator then
    local ok, cerr = def.custom_validator(out)
    if not ok then add_err(errs, keys, cerr or "invalid value") end
  end
  if t == "record" and def.entity_checks and #errs == nerr then
    for _, check in ipairs(def.entity_checks) do run_entity_check(check, out, keys, errs) end
  end
  return out
end

-- count_nonempty(rec, names) -> how many of the named (dotted) fields are set.
local function count_nonempty(rec, names)
  local n = 0
  for _, f in ipairs(names) do
    if is_nonempty(get_field(rec, f)) then n = n + 1 end
  end
  return n
end

-- Each check returns nil when it passes, else (field name or nil, message).
ENTITY_CHECKS = {
  at_least_one_of = function(rec, names)
    if count_nonempty(rec, names) > 0 then return nil end
    return nil, "at least one of these fields must be non-empty: " .. quoted_list(names)
  end,
  only_one_of = function(rec, names)
    local n = count_nonempty(rec, names)
    if n == 1 then return nil end
    return nil, "exactly one of these fields must be non-empty: " .. quoted_list(names)
  end,
  mutually_exclusive = function(rec, names)
    local n = count_nonempty(rec, names)
    if n <= 1 then return nil end
    return nil, "only one or none of these fields must be set: " .. quoted_list(names)
  end,
  mutually_required = function(rec, names)
    local n = count_nonempty(rec, names)
    if n == 0 or n == #names then return nil end
    return nil, "all or none of these fields must be set: " .. quoted_list(names)
  end,
  conditional = function(rec, arg)
    local iv = get_field(rec, arg.if_field)
    if iv == nil or check_rules(arg.if_match, iv) then return nil end
    local tv = get_field(rec, arg.then_field)
    local m = arg.then_match
    if tv == nil then
      if m.required then return arg.then_field, arg.then_err or "required field missing" end
      return nil
    end
    local why = check_rules(m, tv)
    if why then return arg.then_field, arg.then_err or why end
    return nil
  end,
  conditional_at_least_one_of = function(rec, arg)
    local iv = get_field(rec, arg.if_field)
    local matched = iv ~= nil and not check_rules(arg.if_match, iv)
    local names, err = arg.then_at_least_one_of, arg.then_err
    if not matched then
      names, err = arg.else_then_at_least_one_of, arg.else_then_err
      if arg.else_match and (iv == nil or check_rules(arg.else_match, iv)) then names = nil end
    end
    if not names or count_nonempty(rec, names) > 0 then return nil end
    local msg = "at least one of these fields must be non-empty: " .. quoted_list(names)
    if err then msg = err:gsub("%%s", quoted_list(names)) end
    return nil, msg
  end,
  custom_entity_check = function(rec, arg)
    local ok, err = arg.fn(rec)
    if ok then return nil end
    return nil, err or "invalid entity"
  end,
}

local _M = { null = null }

--- The definition of the top-level field `name` of a schema, or nil.
function _M.field(plugin_schema, name)
  for _, entry in ipairs(plugin_schema.fields or {}) do
    local fname, fdef = field_entry(entry)
    if fname == name then return fdef end
  end
  return nil
end

--- Validates one value against a field definition. `prefix` names the value in errors
-- (a string, or a list of keys). Returns value | nil, first_message, errs.
function _M.validate_value(def, value, prefix)
  local keys = type(prefix) == "table" and prefix or (prefix and { prefix } or {})
  local errs = {}
  local out = validate_field(def, value, keys, errs)
  if #errs > 0 then
    local e = errs[1]
    return nil, (e.path ~= "" and (e.path .. ": ") or "") .. e.message, errs
  end
  return out
end

--- Validates a plugin's config table against plugin_schema (whose `config` field is a record).
-- Top-level entity_checks see { config = <validated config> } and name fields "config.x".
function _M.validate(plugin_schema, conf)
  if type(plugin_schema) ~= "table" then error("schema.validate: schema must be a table", 2) end
  local def = _M.field(plugin_schema, "config") or { type = "record", fields = {} }
  if def.type ~= "record" then error("schema.validate: config must be a record", 2) end
  local errs = {}
  local out = validate_field(def, conf, { "config" }, errs)
  if #errs == 0 and plugin_schema.entity_checks then
    for _, check in ipairs(plugin_schema.entity_checks) do
      run_entity_check(check, { config = out }, {}, errs)
    end
  end
  if #errs > 0 then
    local e = errs[1]
    return nil, (e.path ~= "" and (e.path .. ": ") or "") .. e.message, errs
  end
  return out
end

return _M
