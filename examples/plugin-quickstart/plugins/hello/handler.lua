-- hello: a skeleton plugin. It tells the upstream a greeting in a request header and the
-- client, in a response header, what it said. Replace the bodies; keep the shape.
local turnpike = turnpike

local Hello = { PRIORITY = 1000, VERSION = "1.0.0" }

-- access: before the request goes upstream. May wait on I/O (turnpike.http, turnpike.redis,
-- turnpike.sleep) and may answer by itself with turnpike.response.exit.
function Hello:access(conf)
  turnpike.service.request.set_header(conf.header, conf.greeting)
  turnpike.ctx.plugin.said = conf.greeting
end

-- header_filter: the response head is known; change headers here. No I/O, no exit.
function Hello:header_filter(conf)
  local said = turnpike.ctx.plugin.said
  if said then turnpike.response.set_header("X-Said", said) end
end

return Hello
