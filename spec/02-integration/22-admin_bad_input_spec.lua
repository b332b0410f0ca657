-- Bad input against the admin API and config loading (2 workers): POST /config with broken
-- JSON/YAML, empty and huge bodies, and configs that fail validation (unknown field, missing
-- service, duplicate names, wrong type, unknown plugin, plugin schema, path without "/", bad
-- regex, port out of range, deep nesting); unknown admin routes and methods, odd URLs; a
-- repeated failing POST /reload. Each must answer a 4xx JSON naming the problem while the
-- old config keeps serving from the same worker processes; a good POST /config still works
-- at the end. Also `turnpike check` on malformed YAML files: exit 1 with FILE:LINE.
local helpers = require "spec.helpers"
local cjson = require "cjson.safe"
local cmd = require "fixtures.reload.cmd"

local HUGE_BYTES = 5 * 1024 * 1024
local TOO_LARGE_BYTES = 9 * 1024 * 1024 -- above the default client_max_body_size (8m)

local function config(up, extra_path)
  local routes = { { name = "api", paths = { "/api" } } }
  if extra_path then routes[2] = { name = "extra", paths = { extra_path } } end
  return { services = { { name = "api", url = "http://127.0.0.1:" .. up.port, routes = routes } } }
end

local function proxy_status(gw, path)
  return assert(helpers.http(gw.proxy_port, { path = path })).status
end

-- rejected(res, status, fragments...): a JSON error with that status whose message holds
-- every fragment (plain text); returns the message
local function rejected(res, status, ...)
  assert.equal(status, res.status, res.body)
  assert.matches("application/json", res.headers["content-type"], 1, true)
  local body = res:json()
  assert.is_table(body, res.body)
  assert.is_string(body.message)
  for i = 1, select("#", ...) do
    local frag = select(i, ...)
    assert.matches(frag, body.message, 1, true)
  end
  return body.message
end

describe("Admin API: bad input", function()
  local up, gw, pids, gen

  -- the gateway is unharmed: same master and worker pids, every worker still on the
  -- generation it had, the old routes serve and the refused one does not
  local function unharmed()
    assert.is_true(gw:alive())
    assert.same(pids, gw:worker_pids())
    local st = assert(gw:status())
    for _, w in ipairs(st.workers) do assert.equal(gen, w.generation) end
    assert.equal(200, proxy_status(gw, "/api/x"))
    assert.equal(404, proxy_status(gw, "/refused/x"))
  end

  local function post(body, ctype, timeout_ms)
    return assert(gw:admin { method = "POST", path = "/config", body = body,
                             timeout_ms = timeout_ms or 20000,
                             headers = { ["Content-Type"] = ctype or "application/x-yaml" } })
  end

  -- a full config (node settings filled in) with the route /refused, changed by edit(cfg)
  local function bad(edit)
    local cfg = gw:complete(config(up, "/refused"))
    edit(cfg)
    return helpers.to_yaml(cfg)
  end

  lazy_setup(function()
    up = helpers.mock_upstream()
    gw = helpers.start_turnpike { config = config(up), workers = 2 }
    pids = gw:worker_pids()
    gen = assert(gw:status()).configuration_generation
  end)

  lazy_teardown(helpers.cleanup)

  describe("POST /config, unparsable bodies", function()
    it("answers 400 for invalid JSON, naming the posted file and the JSON error", function()
      rejected(post('{"services": [', "application/json"), 400, ".json: invalid JSON: ",
               "T_END")
      unharmed()
    end)

    it("answers 400 for invalid YAML with the line of the unclosed quote", function()
      local text = '_format_version: "3.0"\nservices:\n  - name: "api\n    url: http://x\n'
      rejected(post(text), 400, ".yml:5: ", "quoted scalar")
      rejected(post('_format_version: "3.0"\nservices:\n\t- name: x\n'), 400, ".yml:3: ",
               "cannot start any token")
      unharmed()
    end)

    it("answers 400 for YAML with a duplicate key, naming the key and its line", function()
      rejected(post('_format_version: "3.0"\nservices: []\nservices: []\n'), 400,
               ".yml:3: duplicate key 'services'")
      unharmed()
    end)

    it("answers 400 for an empty or blank body", function()
      rejected(post(""), 400, "empty configuration")
      rejected(post(" \n\t\n"), 400, "empty configuration")
      unharmed()
    end)

    it("answers 400 for a body that is not a mapping: a list, a scalar, binary bytes", function()
      rejected(post("[1, 2, 3]"), 400, "expected a declarative configuration")
      rejected(post("hello"), 400, "expected a declarative configuration")
      rejected(post("\0\1\2\255\254 not yaml", "application/octet-stream"), 400,
               ".yml:1: control characters are not allowed")
      unharmed()
    end)

    it("ignores the Content-Type: an XML body answers 400 for what it holds", function()
      rejected(post("<config><services/></config>", "text/xml"), 400,
               "expected a declarative configuration")
      rejected(post("a=b&c=d", "application/x-www-form-urlencoded"), 400,
               "expected a declarative configuration")
      unharmed()
    end)

    it("reads a 5 MB body whole: the error names the field on its last line", function()
      local text = bad(function(cfg) cfg.services[1].colour = "red" end)
      local _, text_lines = text:gsub("\n", "")
      local pad_line = "# " .. string.rep("p", 61) .. "\n" -- 64 bytes
      local pad_count = math.floor(HUGE_BYTES / #pad_line)
      local body = string.rep(pad_line, pad_count) .. text
      assert.is_true(#body >= HUGE_BYTES)
      local line
      local n = 0
      for l in text:gmatch("([^\n]*)\n") do
        n = n + 1
        if l:find("colour", 1, true) then line = n end
      end
      assert.is_number(line)
      assert.is_true(line <= text_lines)
      rejected(post(body), 400, ".yml:" .. (pad_count + line) .. ": services[1]: colour: unknown field")
      unharmed()
    end)

    it("answers 413 JSON to a body above client_max_body_size without reading it", function()
      local r = assert(helpers.raw(gw.admin_port))
      assert(r:send("POST /config HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-yaml\r\n"
                    .. "Content-Length: " .. TOO_LARGE_BYTES .. "\r\n\r\n"))
      local res = assert(r:read_response { timeout_ms = 5000 })
      r:close()
      rejected(res, 413, "too large")
      unharmed()
    end)

    it("answers 400 for JSON nested too deep", function()
      rejected(post('{"a":' .. string.rep("[", 5000), "application/json"), 400,
               "invalid JSON", "too many nested")
      unharmed()
    end)

    it("answers YAML nested too deep with a 400 naming the nesting and its line", function()
      local res = post('_format_version: "3.0"\nx: ' .. string.rep("[", 200000))
      local msg = rejected(res, 400)
      assert.matches(":2: nested deeper than 200 levels", msg, 1, true)
      unharmed()
    end)
  end)

  describe("POST /config, configs that fail validation", function()
    it("answers 400 for an unknown field, naming entity, field and line", function()
      local text = bad(function(cfg) cfg.services[1].colour = "red" end)
      local msg = rejected(post(text), 400, "services[1]: colour: unknown field")
      assert.matches("%.yml:%d+: services%[1%]", msg)
      unharmed()
    end)

    it("answers 400 for a route referencing a missing service", function()
      local text = bad(function(cfg)
        cfg.routes = { { name = "orphan", paths = { "/refused" }, service = "no-such-service" } }
      end)
      rejected(post(text), 400, "routes[1]: service: unknown service 'no-such-service'")
      unharmed()
    end)

    it("answers 400 for duplicate service and route names, naming both places", function()
      local text = bad(function(cfg)
        cfg.services[2] = { name = "api", url = "http://127.0.0.1:1" }
      end)
      rejected(post(text), 400, "services[2]: duplicate name 'api' (also used by services[1])")
      text = bad(function(cfg) cfg.services[1].routes[2].name = "api" end)
      rejected(post(text), 400, "services[1].routes[2]: duplicate name 'api'",
               "services[1].routes[1]")
      unharmed()
    end)

    it("answers 400 for a string where an integer belongs", function()
      rejected(post(bad(function(cfg) cfg.services[1].retries = "five" end)), 400,
               "services[1]: retries: expected an integer")
      rejected(post(bad(function(cfg) cfg.services[1].connect_timeout = "1000" end)), 400,
               "services[1]: connect_timeout: expected an integer")
      unharmed()
    end)

    it("answers 400 for a plugin that does not exist", function()
      local text = bad(function(cfg) cfg.plugins = { { name = "no-such-plugin-21" } } end)
      rejected(post(text), 400, "plugins[1]: plugin 'no-such-plugin-21' not found")
      unharmed()
    end)

    it("answers 400 for a plugin config failing its schema", function()
      local text = bad(function(cfg)
        cfg.plugins = { { name = "rate-limiting", config = { minute = "lots" } } }
      end)
      rejected(post(text), 400, "plugins[1] (rate-limiting): config.minute: expected a number")
      text = bad(function(cfg)
        cfg.plugins = { { name = "rate-limiting", config = { per_fortnight = 3 } } }
      end)
      rejected(post(text), 400, "rate-limiting", "per_fortnight")
      unharmed()
    end)

    it("answers 400 for a route path that does not start with /", function()
      local text = bad(function(cfg) cfg.services[1].routes[2].paths = { "refused" } end)
      rejected(post(text), 400, "services[1].routes[2]: paths[1]: should start with: /")
      unharmed()
    end)

    it("answers 400 for ports out of range: service, service url, proxy_listen", function()
      rejected(post(bad(function(cfg)
        cfg.services[1].url = nil
        cfg.services[1].host = "127.0.0.1"
        cfg.services[1].port = 70000
      end)), 400, "services[1]: port: value should be between 0 and 65535")
      rejected(post(bad(function(cfg) cfg.services[1].url = "http://127.0.0.1:99999" end)), 400,
               "services[1]: port: value should be between 0 and 65535")
      rejected(post(bad(function(cfg) cfg.turnpike.proxy_listen = { "127.0.0.1:70000" } end)),
               400, "turnpike.proxy_listen: invalid listen address '127.0.0.1:70000'")
      unharmed()
    end)
  end)

  describe("unknown routes, methods and odd URLs", function()
    it("answers 404 JSON for an unknown path", function()
      rejected(assert(gw:admin { path = "/no-such-admin-path" }), 404, "Not found")
      unharmed()
    end)

    it("answers a known path with the wrong method by 405 and Allow", function()
      for _, m in ipairs { { "PUT", "/status", "GET" }, { "GET", "/config", "POST" },
                           { "DELETE", "/config", "POST" }, { "PATCH", "/routes", "GET" },
                           { "POST", "/services", "GET" }, { "GET", "/cache", "DELETE" } } do
        local res = assert(gw:admin { method = m[1], path = m[2], body = "x" })
        rejected(res, 405, "Method not allowed")
        assert.equal(m[3], res.headers["allow"], m[1] .. " " .. m[2])
      end
      unharmed()
    end)

    it("answers 414 JSON for a request line of 20000 bytes, 404 JSON for a 4000-byte path",
       function()
      rejected(assert(gw:admin { path = "/status?" .. string.rep("a", 20000) }), 414, "Too Long")
      rejected(assert(gw:admin { path = "/" .. string.rep("a", 4000) }), 404, "Not found")
      unharmed()
    end)

    it("takes odd characters in the query string and in path parameters", function()
      local res = assert(gw:admin { path = "/status?x=%00%ff&&==;'<>|`$(id)" })
      assert.equal(200, res.status)
      assert.is_number(res:json().configuration_generation)
      -- the upstream name is echoed as sent (not percent-decoded)
      rejected(assert(gw:admin { path = "/upstreams/%2e%2e%2fx/health" }), 404,
               "no such upstream: %2e%2e%2fx")
      rejected(assert(gw:admin { path = "/upstreams/a%00b/health" }), 404,
               "no such upstream: a%00b")
      rejected(assert(gw:admin { method = "DELETE", path = "/cache/%zz%00" }), 404,
               "no cache entry for that key")
      unharmed()
    end)

    it("answers 400 JSON naming what is wrong in a malformed request line or Content-Length", function()
      local r = assert(helpers.raw(gw.admin_port))
      assert(r:send("GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"))
      local res = assert(r:read_response { timeout_ms = 5000 })
      r:close()
      assert.matches("^Bad request: .*[Cc]ontent%-[Ll]ength", rejected(res, 400))
      local r2 = assert(helpers.raw(gw.admin_port))
      assert(r2:send("GET\t/status  HTTP/9\r\n\r\n"))
      local res2 = assert(r2:read_response { timeout_ms = 5000 })
      r2:close()
      assert.matches("^Bad request: %a", rejected(res2, 400))
      unharmed()
    end)
  end)

  describe("POST /reload", function()
    it("answers a repeated identical failing reload at once, each time", function()
      gw:write_config(config(up, "refused")) -- a path without "/"
      for _ = 1, 2 do
        -- each verdict is numbered: the second, identical refusal is seen as new
        local res = assert(gw:admin { method = "POST", path = "/reload", timeout_ms = 5000 })
        rejected(res, 400, "paths[1]: should start with: /")
      end
      gw:write_config(config(up)) -- leave a good file on disk
      unharmed()
    end)
  end)

  describe("after all of that", function()
    it("refuses an invalid regex path with 400 from the master's validation", function()
      local res = post(bad(function(cfg)
        cfg.services[1].routes[2].paths = { "~/refused/(unclosed" }
      end))
      local msg = rejected(res, 400)
      assert.matches("paths[1]: invalid regex path '~/refused/(unclosed'", msg, 1, true)
      local st = assert(gw:status())
      assert.equal(gen, st.configuration_generation)
      for _, w in ipairs(st.workers) do assert.equal(gen, w.generation) end
      unharmed()
    end)

    it("takes a good POST /config: the new route serves on every worker", function()
      local text = helpers.to_yaml(gw:complete(config(up, "/fresh")))
      local res = post(text)
      assert.equal(200, res.status, res.body)
      assert.equal("configuration reloaded", res:json().message)
      local new_gen = res:json().generation
      assert.equal(gen + 1, new_gen)
      helpers.wait_until(function() return gw:ready(new_gen) end, 5, "every worker on " .. new_gen)
      for _ = 1, 4 do
        assert.equal(200, proxy_status(gw, "/fresh/x"))
        assert.equal(200, proxy_status(gw, "/api/x"))
      end
      assert.equal(404, proxy_status(gw, "/refused/x"))
      assert.same(pids, gw:worker_pids())
      assert.is_true(gw:alive())
    end)

    it("keeps no refused posted config in the prefix", function()
      -- every body is written to <prefix>/posted-<ms>.<ext> for the master; refused ones are
      -- removed (the 5 MB body above among them), the one in use stays
      local out = helpers.sh("find '" .. gw.prefix .. "' -name 'posted-*'")
      local n = 0
      for _ in out:gmatch("posted%-%d+%.%a+") do n = n + 1 end
      assert.equal(1, n, out)
    end)
  end)
end)

describe("CLI: turnpike check on malformed YAML", function()
  local dir

  lazy_setup(function() dir = helpers.tmpdir("badyaml") end)

  lazy_teardown(function()
    if dir and dir:match("^/tmp/turnpike%-badyaml%-") then os.execute("rm -rf '" .. dir .. "'") end
  end)

  -- check(name, text) -> exit code (negative: killed by that signal), output, path
  local function check(name, text)
    local path = dir .. "/" .. name .. ".yml"
    helpers.write_file(path, text)
    local code, out = cmd.run { "check", "-c", path }
    return code, out, path
  end

  local CASES = {
    { "a tab in the indentation", "tabs", '_format_version: "3.0"\nservices:\n\t- name: x\n',
      3, "cannot start any token" },
    { "an unclosed quote", "quote",
      '_format_version: "3.0"\nservices:\n  - name: "x\n    url: http://a\n', 5, "quoted scalar" },
    { "a duplicate key", "dupkey",
      '_format_version: "3.0"\nservices:\n  - name: a\n    url: http://127.0.0.1:1\n    name: b\n',
      5, "duplicate key 'name'" },
    { "a binary file", "binary", "\127ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0" ..
      string.rep("\0\255\1\254", 64), 1, "control characters are not allowed" },
  }

  for _, c in ipairs(CASES) do
    it("exits 1 with FILE:LINE for " .. c[1], function()
      local code, out, path = check(c[2], c[3])
      assert.equal(1, code, out)
      assert.matches(path .. ":" .. c[4] .. ": ", out, 1, true)
      assert.matches(c[5], out, 1, true)
      assert.is_nil(out:find("traceback", 1, true), out)
    end)
  end

  it("exits 1 for YAML nested too deep with FILE:LINE and no traceback", function()
    local code, out, path = check("deep", '_format_version: "3.0"\nx: ' .. string.rep("[", 200000))
    assert.equal(1, code, out)
    assert.matches(path .. ":2: nested deeper than 200 levels", out, 1, true)
    assert.is_nil(out:find("traceback", 1, true), out)
  end)
end)
