-- turnpike.node: facts about this gateway node.
local _M = {}

-- A random v4-shaped id made once per process when the backend has none of its own.
local function random_id()
  math.randomseed(os.time() + math.floor((os.clock() * 1e6) % 1e6))
  return (("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"):gsub("[xy]", function(c)
    local v = c == "x" and math.random(0, 15) or math.random(8, 11)
    return ("%x"):format(v)
  end))
end

local process_id

function _M.new(backend)
  local node = {}

  function node.get_id()
    if backend.get_node_id then return backend.get_node_id() end
    process_id = process_id or random_id()
    return process_id
  end

  function node.get_hostname()
    if backend.get_hostname then return backend.get_hostname() end
    return os.getenv("HOSTNAME") or "localhost"
  end

  return node
end

return _M
