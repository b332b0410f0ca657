-- spec/helpers.lua: what our own specs use; the same kit plugin authors get from
-- require("turnpike.spec").integration (start_turnpike, mock_upstream, http, client, raw,
-- wait_until, free_port, cleanup, ...), plus the unit-mode kit as helpers.unit.
local integration = require "turnpike.spec.integration"

local helpers = setmetatable({}, { __index = integration })
helpers.unit = setmetatable({}, { __index = function(_, k) return require("turnpike.spec")[k] end })

-- service(name, port, extra) -> a service table pointing at a mock upstream on 127.0.0.1:port
function helpers.service(name, port, extra)
  local s = { name = name, url = "http://127.0.0.1:" .. port }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

-- sh(cmd) -> combined output, exit code (specs only: io.popen never runs in the gateway)
function helpers.sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"EXIT:$?\"")
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("EXIT:(%d+)%s*$"))
  return (out:gsub("EXIT:%d+%s*$", "")), code
end

-- read_file(path) -> bytes (raises when missing); write_file(path, bytes)
function helpers.read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

function helpers.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- write_plugin(dir, name, handler_src): a plugin `name` in dir (a plugins_path entry) with
-- handler_src as its handler.lua and a schema with an empty config record.
function helpers.write_plugin(dir, name, handler_src)
  local pdir = dir .. "/" .. name
  assert(os.execute("mkdir -p '" .. pdir .. "'"))
  helpers.write_file(pdir .. "/schema.lua", string.format(
    "return { name = %q, fields = { { config = { type = 'record', fields = {} } } } }\n", name))
  helpers.write_file(pdir .. "/handler.lua", handler_src)
end

-- stop_and_clean(gw, dir): end of a spec that started gw on plugins written under dir
-- (helpers.tmpdir("plugins")): stops the gateway, cleans up, removes dir.
function helpers.stop_and_clean(gw, dir)
  if gw then gw:stop() end
  helpers.cleanup()
  if dir and dir:match("^/tmp/turnpike%-plugins%-") then os.execute("rm -rf '" .. dir .. "'") end
end

-- kill_and_clean(pids, dir): end of a spec that spawned helper processes (a pid or a list of
-- them, e.g. from spawn_python) and kept files in dir under /tmp: cleans up what the kit
-- started, kills the processes, removes dir.
function helpers.kill_and_clean(pids, dir)
  helpers.cleanup()
  if type(pids) ~= "table" then pids = { pids } end
  for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
  if dir and dir:match("^/tmp/") then os.execute("rm -rf '" .. dir .. "'") end
end

-- spawn_python(dir, args, port, pids): `python3 ARGS --lifetime=360` in the background from
-- dir (bounded by timeout 400, output to dir/py.log); its pid goes into pids (the spec kills
-- them in teardown) and this returns once port accepts connections.
function helpers.spawn_python(dir, args, port, pids)
  local out = helpers.sh(("cd %s && (timeout 400 python3 %s --lifetime=360 >>%s/py.log 2>&1 & echo PID:$!)")
    :format(dir, args, dir))
  local pid = tonumber(out:match("PID:(%d+)"))
  assert(pid, out)
  pids[#pids + 1] = pid
  helpers.wait_until(function()
    local c = helpers.raw(port)
    if c then c:close() end
    return c ~= nil
  end, 10, "python server on port " .. port)
end

-- openssl_in(dir, cmd): `openssl CMD` run from dir, which must succeed
function helpers.openssl_in(dir, cmd)
  local out, code = helpers.sh("cd " .. dir .. " && timeout 30 openssl " .. cmd)
  assert(code == 0, out)
end

-- check_config(dir, cfg) -> output, exit code of `turnpike check` on cfg (a Lua table with
-- the declarative config; _format_version added), written as YAML to dir/check.yml
function helpers.check_config(dir, cfg)
  local bin = os.getenv("TURNPIKE_SPEC_BINARY") or (TURNPIKE_HOME .. "/build/turnpike")
  local path = dir .. "/check.yml"
  cfg._format_version = "3.0"
  helpers.write_file(path, helpers.to_yaml(cfg))
  return helpers.sh(bin .. " check -c " .. path)
end

return helpers
