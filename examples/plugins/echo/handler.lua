-- echo: the demo upstream of the quickstart. It answers with the method, path,
-- query and headers it saw, so you can see what the gateway forwarded.
local turnpike = turnpike

local Echo = { PRIORITY = 1, VERSION = "1.0.0" }

function Echo:access(conf)
  local req = turnpike.request
  return turnpike.response.exit(conf.status, {
    message = conf.message,
    method = req.get_method(),
    path = req.get_path(),
    query = req.get_query(),
    headers = req.get_headers(),
  })
end

return Echo
