-- request-transformer: rewrites the request before it goes to the service, as Kong's
-- request-transformer. In order: the method, headers, query string, path (replace.uri) and
-- body; within each, remove, rename, replace (only what exists), add (only what is missing),
-- append (adds another value). Bodies are transformed when they are JSON objects or
-- x-www-form-urlencoded; other bodies (multipart, text) go through unchanged.
--
-- Query-string edits start from turnpike.request.get_query(), the client's query string: an
-- earlier plugin's set_query is not visible to it (the SDK reads the client request there).
local cjson = require "cjson.safe"
local template = require "template"
local util = require "turnpike.sdk.util"

local turnpike = turnpike

local type = type
local next = next
local pairs = pairs
local ipairs = ipairs
local setmetatable = setmetatable

local CT_JSON = "application/json"
local CT_FORM = "application/x-www-form-urlencoded"
local BODYLESS = { GET = true, HEAD = true, TRACE = true }
local OPS = { "rename", "replace", "add", "append" }
local PARTS = { "headers", "querystring", "body" }

local RequestTransformerHandler = { PRIORITY = 801, VERSION = "1.0.0" }

-- conf -> plan: every "name:value" split and its template compiled, once per configuration.
--   plan.remove[part] = { names }   plan[op][part] = { {name, value, tpl} }   plan.uri = tpl
local plans = setmetatable({}, { __mode = "k" })

local function compile_value(v)
  if template.is_template(v) then return (template.compile(v)) end
  return nil
end

local function plan_of(conf)
  local plan = plans[conf]
  if plan then return plan end
  plan = { remove = conf.remove, body = false }
  for _, op in ipairs(OPS) do
    plan[op] = {}
    for _, part in ipairs(PARTS) do
      local list = {}
      for i, pair in ipairs(conf[op][part]) do
        local name, value = pair:match("^([^:]+):(.*)$")
        list[i] = { name = name, value = value, tpl = compile_value(value) }
      end
      plan[op][part] = list
      if part == "body" and #list > 0 then plan.body = true end
    end
  end
  if #conf.remove.body > 0 then plan.body = true end
  local uri = conf.replace.uri
  if uri then plan.uri = compile_value(uri) or { render = function() return uri end } end
  plans[conf] = plan
  return plan
end

-- Template values see the client's request as it arrived at this plugin.
local function template_env(ctx)
  local env = ctx.env
  if env then return env end
  local req = turnpike.request
  local caps = req.get_uri_captures()
  local uri_captures = caps.named
  for k, v in pairs(caps.unnamed) do uri_captures[k] = v end
  env = { headers = req.get_headers(), query_params = req.get_query(),
          uri_captures = uri_captures }
  ctx.env = env
  return env
end

local function value_of(item, ctx)
  if item.tpl then return item.tpl:render(template_env(ctx)) end
  return item.value
end

-- Applies one plan part to a table of args (query or body): returns true when it changed.
local function transform_args(plan, part, args, ctx)
  local changed = false
  for _, name in ipairs(plan.remove[part]) do
    if args[name] ~= nil then
      args[name] = nil
      changed = true
    end
  end
  for _, r in ipairs(plan.rename[part]) do
    if args[r.name] ~= nil then
      args[r.value], args[r.name] = args[r.name], nil
      changed = true
    end
  end
  for _, r in ipairs(plan.replace[part]) do
    if args[r.name] ~= nil then
      args[r.name] = value_of(r, ctx)
      changed = true
    end
  end
  for _, r in ipairs(plan.add[part]) do
    if args[r.name] == nil then
      args[r.name] = value_of(r, ctx)
      changed = true
    end
  end
  for _, r in ipairs(plan.append[part]) do
    local old, v = args[r.name], value_of(r, ctx)
    if old == nil then
      args[r.name] = v
    elseif type(old) == "table" and old[1] ~= nil then
      old[#old + 1] = v
    else
      args[r.name] = { old, v }
    end
    changed = true
  end
  return changed
end

local function transform_headers(plan, ctx)
  local req = turnpike.request
  local out = turnpike.service.request
  for _, name in ipairs(plan.remove.headers) do out.clear_header(name) end
  for _, r in ipairs(plan.rename.headers) do
    local v = req.get_headers()[r.name]
    if v ~= nil then
      out.clear_header(r.name)
      out.set_header(r.value, v)
    end
  end
  for _, r in ipairs(plan.replace.headers) do
    if req.get_header(r.name) ~= nil then out.set_header(r.name, value_of(r, ctx)) end
  end
  for _, r in ipairs(plan.add.headers) do
    if req.get_header(r.name) == nil then out.set_header(r.name, value_of(r, ctx)) end
  end
  for _, r in ipairs(plan.append.headers) do out.add_header(r.name, value_of(r, ctx)) end
end


-- transform_body(plan, ctx) -> true | nil, {status, message}
local function transform_body(plan, ctx)
  if not plan.body then return true end
  local mime = util.mime(turnpike.request.get_header("Content-Type"))
  if mime ~= CT_JSON and mime ~= CT_FORM then return true end
  local raw, err = turnpike.request.get_raw_body()
  if not raw then
    turnpike.log.err("cannot read the request body: ", err)
    return nil, { status = 400, message = "Cannot read the request body" }
  end
  local args
  if mime == CT_FORM then
    args = util.decode_args(raw, 1000)
  else
    -- only a JSON object has named fields; anything else is forwarded as it came
    local first = raw:match("^%s*(%S)")
    if first == nil then
      args = {}
    elseif first == "{" then
      args = cjson.decode(raw)
      if type(args) ~= "table" then return true end
    else
      return true
    end
  end
  if not transform_args(plan, "body", args, ctx) then return true end
  local body = mime == CT_FORM and util.encode_args(args) or cjson.encode(args)
  turnpike.service.request.set_raw_body(body)
  return true
end

-- Kong moves a form body into the query string when the method becomes one without a body.
-- Returns true when it changed `query`.
local function transform_method(conf, query)
  local method = conf.http_method
  if not method then return false end
  turnpike.service.request.set_method(method)
  if not BODYLESS[method] then return false end
  if util.mime(turnpike.request.get_header("Content-Type")) ~= CT_FORM then return false end
  local form = turnpike.request.get_body(CT_FORM)
  if not form or next(form) == nil then return false end
  for k, v in pairs(form) do query[k] = v end
  return true
end

function RequestTransformerHandler:access(conf)
  local plan = plan_of(conf)
  local ctx = {}
  local query = turnpike.request.get_query()
  local moved = transform_method(conf, query)
  transform_headers(plan, ctx)
  if transform_args(plan, "querystring", query, ctx) or moved then
    turnpike.service.request.set_query(query)
  end
  if plan.uri then
    local path = plan.uri:render(template_env(ctx))
    if path:sub(1, 1) ~= "/" then path = "/" .. path end
    turnpike.service.request.set_path(path)
  end
  local ok, err = transform_body(plan, ctx)
  if not ok then return turnpike.response.error(err.status, err.message) end
end

return RequestTransformerHandler
