-- response-transformer: rewrites the response before the client gets it, as Kong's
-- response-transformer. Headers change in header_filter; top-level fields of a JSON object
-- body change in body_filter, once the whole body is buffered (the SDK hands it over at the
-- last chunk). In each: remove, rename, replace (only what exists), add (only what is
-- missing), append (another value; a JSON field becomes an array). Bodies that are not JSON
-- objects go through unchanged.
local cjson = require "cjson.safe"
local util = require "turnpike.sdk.util"

local turnpike = turnpike

local type = type
local ipairs = ipairs
local tonumber = tonumber
local setmetatable = setmetatable

local CT_JSON = "application/json"
local OPS = { "rename", "replace", "add", "append" }

local ResponseTransformerHandler = { PRIORITY = 800, VERSION = "1.0.0" }

local function cast(value, json_type)
  if json_type == "number" then return (tonumber(value)) end
  if json_type == "boolean" then return value == "true" end
  return value
end

-- conf -> plan: pairs split and JSON values typed once per configuration.
--   plan[op].headers = { {name, value} }   plan[op].json = { {name, value} }   plan.json = bool
local plans = setmetatable({}, { __mode = "k" })

local function plan_of(conf)
  local plan = plans[conf]
  if plan then return plan end
  plan = { remove = conf.remove, json = #conf.remove.json > 0 }
  for _, op in ipairs(OPS) do
    local section = conf[op]
    local headers, json = {}, {}
    for i, pair in ipairs(section.headers) do
      local name, value = pair:match("^([^:]+):(.*)$")
      headers[i] = { name = name, value = value }
    end
    for i, pair in ipairs(section.json) do
      local name, value = pair:match("^([^:]+):(.*)$")
      if op ~= "rename" then value = cast(value, section.json_types and section.json_types[i]) end
      json[i] = { name = name, value = value }
    end
    plan[op] = { headers = headers, json = json }
    if #json > 0 then plan.json = true end
  end
  plans[conf] = plan
  return plan
end

local function is_json(content_type)
  local mime = util.mime(content_type)
  return mime == CT_JSON or (mime ~= nil and mime:find("%+json$") ~= nil)
end

local function transform_headers(plan)
  local resp = turnpike.response
  for _, name in ipairs(plan.remove.headers) do resp.clear_header(name) end
  for _, r in ipairs(plan.rename.headers) do
    local v = resp.get_headers()[r.name]
    if v ~= nil then
      resp.clear_header(r.name)
      resp.set_header(r.value, v)
    end
  end
  for _, r in ipairs(plan.replace.headers) do
    if resp.get_header(r.name) ~= nil then resp.set_header(r.name, r.value) end
  end
  for _, r in ipairs(plan.add.headers) do
    if resp.get_header(r.name) == nil then resp.set_header(r.name, r.value) end
  end
  for _, r in ipairs(plan.append.headers) do resp.add_header(r.name, r.value) end
end

-- transform_json(plan, body) -> new body, or the same body when it is not a JSON object.
local function transform_json(plan, body)
  if not body:find("^%s*{") then return body end
  local doc = cjson.decode(body)
  if type(doc) ~= "table" then return body end
  for _, name in ipairs(plan.remove.json) do doc[name] = nil end
  for _, r in ipairs(plan.rename.json) do
    if doc[r.name] ~= nil then doc[r.value], doc[r.name] = doc[r.name], nil end
  end
  for _, r in ipairs(plan.replace.json) do
    if doc[r.name] ~= nil then doc[r.name] = r.value end
  end
  for _, r in ipairs(plan.add.json) do
    if doc[r.name] == nil then doc[r.name] = r.value end
  end
  for _, r in ipairs(plan.append.json) do
    local old = doc[r.name]
    if old == nil then
      doc[r.name] = r.value
    elseif type(old) == "table" and old[1] ~= nil then
      old[#old + 1] = r.value
    else
      doc[r.name] = { old, r.value }
    end
  end
  return cjson.encode(doc) or body
end

function ResponseTransformerHandler:header_filter(conf)
  local plan = plan_of(conf)
  transform_headers(plan)
  if plan.json and is_json(turnpike.response.get_header("Content-Type")) then
    -- the body will change size; the length is the core's to compute
    turnpike.response.clear_header("Content-Length")
    turnpike.ctx.plugin.json = true
  end
end

function ResponseTransformerHandler:body_filter(conf)
  if not turnpike.ctx.plugin.json then return end
  local body = turnpike.response.get_raw_body()
  if body then turnpike.response.set_raw_body(transform_json(plan_of(conf), body)) end
end

return ResponseTransformerHandler
