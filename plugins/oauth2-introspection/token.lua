-- Where oauth2-introspection finds the access token (RFC 6750 §2): the Authorization header
-- (`Bearer <token>`), an `access_token` query parameter, or an `access_token` field of a
-- form-encoded body. The same token sent in several places counts once; two different
-- tokens are ambiguous and refused by the caller.
local turnpike = turnpike

local type = type
local ipairs = ipairs

local PARAM = "access_token"
local FORM = "application/x-www-form-urlencoded"

local _M = { NONE = "none", MULTIPLE = "multiple" }

-- find() -> token, where ("header" | "query" | "body") | nil, _M.NONE | _M.MULTIPLE
function _M.find()
  local found, order = {}, {}
  local function add(v, from)
    if type(v) == "table" then
      for _, x in ipairs(v) do add(x, from) end
    elseif type(v) == "string" and v ~= "" and not found[v] then
      found[v] = from
      order[#order + 1] = v
    end
  end
  local auth = turnpike.request.get_headers().authorization
  for _, h in ipairs(type(auth) == "table" and auth or { auth }) do
    add(h:match("^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$"), "header")
  end
  add(turnpike.request.get_query()[PARAM], "query")
  local method = turnpike.request.get_method()
  if method ~= "GET" and method ~= "HEAD" then
    local ct = turnpike.request.get_header("content-type")
    if type(ct) == "string" and ct:lower():find(FORM, 1, true) then
      local body = turnpike.request.get_body()
      if body then add(body[PARAM], "body") end
    end
  end
  if #order == 0 then return nil, _M.NONE end
  if #order > 1 then return nil, _M.MULTIPLE end
  return order[1], found[order[1]]
end

-- hide(where): the token does not reach the service
function _M.hide(where)
  local req = turnpike.service.request
  if where == "header" then
    req.clear_header("Authorization")
  elseif where == "query" then
    local q = turnpike.request.get_query()
    q[PARAM] = nil
    req.set_query(q)
  elseif where == "body" then
    local body = turnpike.request.get_body()
    body[PARAM] = nil
    req.set_body(body)
  end
end

return _M
