-- turnpike.cli: the commands that need no event loop (check, reload, stop, spec).
local _M = {}

local function usage_err(msg)
  io.stderr:write("turnpike: ", msg, "\n")
  return 2
end

-- turnpike spec [busted args]: busted inside this binary's LuaJIT, with our paths.
function _M.spec(argv)
  local home = TURNPIKE_HOME
  package.path = home .. "/spec/?.lua;" .. package.path
  _G.arg = { [0] = "busted" }
  local has_pattern = false
  for i, a in ipairs(argv) do
    _G.arg[i] = a
    if a:match("^%-p") or a:match("^%-%-pattern") then has_pattern = true end
  end
  if not has_pattern then
    table.insert(_G.arg, 1, "--pattern=_spec")
  end
  require("busted.runner")({ standalone = false })
  return 0
end

return _M
