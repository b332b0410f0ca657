-- request-size-limiting: refuses request bodies larger than allowed_payload_size, as Kong's
-- request-size-limiting. A Content-Length is trusted when present (nothing is read); without
-- one (chunked bodies) the body is read and measured, unless require_content_length refuses
-- the request first. A client that sent `Expect: 100-continue` gets 417 instead of 413, so it
-- knows not to send the body (RFC 9110 §10.1.1).
local turnpike = turnpike

local type = type
local tonumber = tonumber
local lower = string.lower

local ERR_TOO_LARGE = "Request size limit exceeded"
local ERR_NO_LENGTH = "A valid Content-Length header is required"
local ERR_UNREADABLE = "Cannot read the request body"
local UNIT_BYTES = { bytes = 1, kilobytes = 1024, megabytes = 1024 * 1024 }

local RequestSizeLimitingHandler = { PRIORITY = 951, VERSION = "1.0.0" }

-- A Content-Length we can trust: digits only (RFC 9110 §8.6); a list or anything else is not.
local function content_length()
  local v = turnpike.request.get_header("Content-Length")
  if type(v) ~= "string" or not v:find("^%s*%d+%s*$") then return nil end
  return (tonumber(v))
end

local function too_large()
  local expect = turnpike.request.get_header("Expect")
  if type(expect) == "string" and lower(expect):find("^%s*100%-continue%s*$") then
    return { status = 417, message = ERR_TOO_LARGE }
  end
  return { status = 413, message = ERR_TOO_LARGE }
end

-- check(conf) -> true | nil, {status, message}
local function check(conf)
  local limit = conf.allowed_payload_size * UNIT_BYTES[conf.size_unit]
  local length = content_length()
  if length then
    if length > limit then return nil, too_large() end
    return true
  end
  if conf.require_content_length then
    return nil, { status = 411, message = ERR_NO_LENGTH }
  end
  local body, err = turnpike.request.get_raw_body()
  if not body then
    -- the core refuses bodies beyond client_max_body_size before we can measure them
    if err == "request body too large" then return nil, too_large() end
    turnpike.log.info("cannot read the request body: ", err)
    return nil, { status = 400, message = ERR_UNREADABLE }
  end
  if #body > limit then return nil, too_large() end
  return true
end

function RequestSizeLimitingHandler:access(conf)
  local ok, err = check(conf)
  if not ok then return turnpike.response.error(err.status, err.message) end
end

RequestSizeLimitingHandler.ERR_TOO_LARGE = ERR_TOO_LARGE
RequestSizeLimitingHandler.ERR_NO_LENGTH = ERR_NO_LENGTH

return RequestSizeLimitingHandler
