-- The admin API against the real binary (2 workers): served on admin_listen only; status,
-- metrics and the loaded entities (secrets redacted); upstream health; POST /reload and
-- POST /config (YAML and JSON), both refusing a broken config with a 400 while the old one
-- keeps serving; admin_token; DELETE /cache.
local helpers = require "spec.helpers"
local cjson = require "cjson.safe"

local KEYAUTH_KEY = "alice-keyauth-key-7f3a"
local JWT_SECRET = "alice-jwt-secret-91c2"
local TOKEN = "admin-token-5e8d"

local function config(up, extra_paths)
  local routes = { { name = "api", paths = { "/api" } } }
  for i, p in ipairs(extra_paths or {}) do
    routes[#routes + 1] = { name = "extra" .. i, paths = { p } }
  end
  return {
    services = {
      { name = "api", url = "http://127.0.0.1:" .. up.port, routes = routes },
      { name = "pooled", host = "pool", port = 80, protocol = "http",
        routes = { { name = "pooled", paths = { "/pool" } } } },
    },
    upstreams = { { name = "pool", targets = { { target = "127.0.0.1:" .. up.port } } } },
    consumers = { {
      username = "alice",
      keyauth_credentials = { { key = KEYAUTH_KEY } },
      jwt_secrets = { { key = "alice-issuer", secret = JWT_SECRET, algorithm = "HS256" } },
    } },
    plugins = { { name = "key-auth", route = "pooled" } },
  }
end

local function get(gw, path)
  local res = assert(gw:admin { path = path })
  return res, res:json()
end

local function proxy(gw, path)
  return assert(helpers.http(gw.proxy_port, { path = path }))
end

local function by_name(list, field)
  local out = {}
  for _, e in ipairs(list) do out[e[field or "name"]] = e end
  return out
end

-- every worker (and the master) on generation `gen`
local function all_on(gw, gen)
  local st = assert(gw:status())
  if st.configuration_generation ~= gen then return false end
  for _, w in ipairs(st.workers) do
    if w.generation ~= gen then return false end
  end
  return #st.workers == 2
end

describe("Admin API", function()
  local up, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    gw = helpers.start_turnpike { config = config(up), workers = 2 }
  end)

  lazy_teardown(helpers.cleanup)

  describe("listeners", function()
    it("does not answer admin paths on the proxy port: /status is routed (404 JSON)", function()
      local res = proxy(gw, "/status")
      assert.equal(404, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.matches("^no Route matched", res:json().message)
      assert.equal(404, proxy(gw, "/metrics").status)
    end)

    it("does not proxy on the admin port", function()
      up:reset()
      local res = get(gw, "/api/x")
      assert.equal(404, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.is_string(res:json().message)
      assert.equal(200, proxy(gw, "/api/x").status)
      assert.equal(1, #up:requests())
    end)
  end)

  describe("GET /status", function()
    it("lists every worker with pid and generation, and the configuration generation", function()
      local res, st = get(gw, "/status")
      assert.equal(200, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.is_number(st.configuration_generation)
      assert.equal(2, #st.workers)
      local pids = {}
      for _, w in ipairs(st.workers) do
        assert.is_number(w.pid)
        assert.is_true(helpers.pid_alive(w.pid))
        assert.are_not.equal(gw.pid, w.pid)
        assert.equal(st.configuration_generation, w.generation)
        pids[w.pid] = true
      end
      assert.is_nil(pids[0])
      assert.is_number(st.server.total_requests)
      assert.is_number(st.server.connections_active)
    end)
  end)

  describe("GET /metrics", function()
    it("answers Prometheus text with the request counter and the generation per worker", function()
      for i = 1, 3 do proxy(gw, "/api/m" .. i) end
      local res = assert(gw:admin { path = "/metrics" })
      assert.equal(200, res.status)
      assert.matches("^text/plain", res.headers["content-type"])
      assert.matches("# TYPE turnpike_requests_total counter", res.body, 1, true)
      local total = tonumber(res.body:match("\nturnpike_requests_total (%d+)"))
      assert.is_true(total >= 3)
      local _, gens = res.body:gsub('\nturnpike_config_generation{worker="%d+"} %d+', "")
      assert.equal(2, gens)
      -- every line is a comment or a sample: name{labels} value
      for line in res.body:gmatch("[^\n]+") do
        if not line:match("^# ") then
          assert.matches('^[%a_:][%w_:]*[{]?[^}]*[}]? %-?[%d.e+]+$', line)
        end
      end
    end)
  end)

  describe("entities", function()
    it("GET /services and /routes list what is loaded, routes name their service", function()
      local res, body = get(gw, "/services")
      assert.equal(200, res.status)
      local services = by_name(body.data)
      assert.equal("127.0.0.1", services.api.host)
      assert.equal(up.port, services.api.port)
      assert.equal("pool", services.pooled.host)
      local rres, rbody = get(gw, "/routes")
      assert.equal(200, rres.status)
      local routes = by_name(rbody.data)
      assert.same({ "/api" }, routes.api.paths)
      assert.equal(services.api.id, routes.api.service.id)
      assert.equal(services.pooled.id, routes.pooled.service.id)
    end)

    it("GET /consumers lists consumers with credential secrets redacted", function()
      local res, body = get(gw, "/consumers")
      assert.equal(200, res.status)
      assert.is_nil(res.body:find(KEYAUTH_KEY, 1, true), "the key-auth key is in the answer")
      assert.is_nil(res.body:find(JWT_SECRET, 1, true), "the jwt secret is in the answer")
      local alice = by_name(body.data, "username").alice
      assert.is_table(alice)
      assert.equal(1, #alice.keyauth_credentials)
      assert.is_string(alice.keyauth_credentials[1].id)
      assert.are_not.equal(KEYAUTH_KEY, alice.keyauth_credentials[1].key)
      assert.equal(1, #alice.jwt_secrets)
      assert.are_not.equal(JWT_SECRET, alice.jwt_secrets[1].secret)
      -- and the key still works on the proxy
      assert.equal(401, proxy(gw, "/pool/x").status)
      local ok = assert(helpers.http(gw.proxy_port, { path = "/pool/x",
                                                      headers = { apikey = KEYAUTH_KEY } }))
      assert.equal(200, ok.status)
    end)

    it("GET /plugins and /upstreams list what is loaded", function()
      local res, body = get(gw, "/plugins")
      assert.equal(200, res.status)
      local plugins = by_name(body.data)
      assert.is_table(plugins["key-auth"])
      assert.is_table(plugins["key-auth"].config)
      local routes = by_name(select(2, get(gw, "/routes")).data)
      assert.equal(routes.pooled.id, plugins["key-auth"].route.id)
      local ures, ubody = get(gw, "/upstreams")
      assert.equal(200, ures.status)
      local pool = by_name(ubody.data).pool
      assert.is_table(pool)
      assert.equal(1, #pool.targets)
      assert.equal("127.0.0.1:" .. up.port, pool.targets[1].target)
    end)

    it("GET /upstreams/{name}/health gives every target, 404 for an unknown upstream", function()
      local res, body = get(gw, "/upstreams/pool/health")
      assert.equal(200, res.status)
      assert.equal(1, #body.data)
      assert.equal("127.0.0.1:" .. up.port, body.data[1].target)
      assert.equal("HEALTHY", body.data[1].health)
      local nres, nbody = get(gw, "/upstreams/no-such-pool/health")
      assert.equal(404, nres.status)
      assert.matches("no%-such%-pool", nbody.message)
    end)
  end)

  describe("POST /reload", function()
    it("reloads the config file and answers the new generation", function()
      local before = assert(gw:status()).configuration_generation
      gw:write_config(config(up, { "/reloaded" }))
      local res = assert(gw:admin { method = "POST", path = "/reload", timeout_ms = 20000 })
      assert.equal(200, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.equal(before + 1, res:json().generation)
      helpers.wait_until(function() return all_on(gw, before + 1) end, 5, "every worker reloaded")
      for _ = 1, 4 do assert.equal(200, proxy(gw, "/reloaded/x").status) end
    end)

    it("answers 400 with the error for a broken file, and the old config keeps serving", function()
      local before = assert(gw:status()).configuration_generation
      local broken = config(up, { "/never" })
      broken.plugins[#broken.plugins + 1] = { name = "no-such-plugin-here" }
      gw:write_config(broken)
      local res = assert(gw:admin { method = "POST", path = "/reload", timeout_ms = 20000 })
      assert.equal(400, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.matches("no%-such%-plugin%-here", res:json().message)
      assert.equal(404, proxy(gw, "/never/x").status)
      assert.equal(200, proxy(gw, "/reloaded/x").status)
      assert.is_true(all_on(gw, before))
      gw:write_config(config(up, { "/reloaded" })) -- leave a good file on disk
    end)
  end)

  describe("POST /config", function()
    local function post(body, ctype)
      return assert(gw:admin { method = "POST", path = "/config", body = body, timeout_ms = 20000,
                               headers = { ["Content-Type"] = ctype } })
    end

    it("takes a full YAML config: the new route serves on every worker", function()
      local before = assert(gw:status()).configuration_generation
      local text = helpers.to_yaml(gw:complete(config(up, { "/posted-yaml" })))
      local res = post(text, "application/x-yaml")
      assert.equal(200, res.status, res.body)
      local gen = res:json().generation
      assert.equal(before + 1, gen)
      helpers.wait_until(function() return all_on(gw, gen) end, 5, "every worker on " .. gen)
      for _ = 1, 4 do assert.equal(200, proxy(gw, "/posted-yaml/x").status) end
      assert.equal(200, proxy(gw, "/api/x").status)
    end)

    it("takes a full JSON config: the new route serves on every worker", function()
      local before = assert(gw:status()).configuration_generation
      local text = cjson.encode(gw:complete(config(up, { "/posted-json" })))
      local res = post(text, "application/json")
      assert.equal(200, res.status, res.body)
      local gen = res:json().generation
      assert.equal(before + 1, gen)
      helpers.wait_until(function() return all_on(gw, gen) end, 5, "every worker on " .. gen)
      for _ = 1, 4 do assert.equal(200, proxy(gw, "/posted-json/x").status) end
      assert.equal(404, proxy(gw, "/posted-yaml/x").status)
    end)

    it("answers 400 naming the problem for an invalid config; the old one keeps serving", function()
      local before = assert(gw:status()).configuration_generation
      local bad = gw:complete(config(up, { "/posted-bad" }))
      bad.services[1].routes[1].strip_path = "sometimes" -- wrong type
      local res = post(helpers.to_yaml(bad), "application/x-yaml")
      assert.equal(400, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.matches("strip_path", res:json().message)
      -- not YAML at all
      local res2 = post("services: [ { name: \"x\"\n  oops: : :\n", "application/x-yaml")
      assert.equal(400, res2.status)
      assert.is_string(res2:json().message)
      assert.equal(404, proxy(gw, "/posted-bad/x").status)
      assert.equal(200, proxy(gw, "/api/x").status)
      assert.is_true(all_on(gw, before))
    end)

    it("takes a Kong declarative config without node settings, keeping the node's", function()
      -- what a Kong user posts to DB-less Kong's /config: entities only, no `turnpike:`
      local cfg = config(up, { "/posted-kong" })
      cfg._format_version = "3.0"
      local res = post(cjson.encode(cfg), "application/json")
      assert.equal(200, res.status, res.body)
      local gen = res:json().generation
      helpers.wait_until(function() return all_on(gw, gen) end, 5, "every worker on " .. gen)
      assert.equal(200, proxy(gw, "/posted-kong/x").status)
      -- the node settings (prefix: where the admin API posts configs and reads the master's
      -- verdict) are still the node's: the next reload through the admin API answers
      local again, err = gw:admin { method = "POST", path = "/reload", timeout_ms = 5000 }
      assert(again, "POST /reload after a config without node settings: " .. tostring(err))
      assert.equal(200, again.status)
    end)
  end)

  describe("DELETE /cache", function()
    it("answers 200", function()
      local res = assert(gw:admin { method = "DELETE", path = "/cache" })
      assert.equal(200, res.status)
      assert.is_string(res:json().message)
    end)
  end)
end)

describe("Admin API with admin_token", function()
  local up, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    -- the kit polls GET /status without a token while starting: the token comes with a
    -- POST /config once the gateway runs
    gw = helpers.start_turnpike { config = config(up) }
    local cfg = gw:complete(config(up))
    cfg.turnpike.admin_token = TOKEN
    local res = assert(gw:admin { method = "POST", path = "/config", body = cjson.encode(cfg),
                                  timeout_ms = 20000 })
    assert.equal(200, res.status, res.body)
    helpers.wait_until(function()
      return assert(gw:admin { path = "/status" }).status == 401
    end, 5, "the token required")
  end)

  lazy_teardown(helpers.cleanup)

  it("answers 401 without the bearer token", function()
    local res = assert(gw:admin { path = "/status" })
    assert.equal(401, res.status)
    assert.matches("application/json", res.headers["content-type"], 1, true)
    assert.is_string(res:json().message)
    assert.is_string(res.headers["www-authenticate"])
    local wrong = assert(gw:admin { path = "/status",
                                    headers = { Authorization = "Bearer not-" .. TOKEN } })
    assert.equal(401, wrong.status)
    local post = assert(gw:admin { method = "POST", path = "/reload" })
    assert.equal(401, post.status)
    local del = assert(gw:admin { method = "DELETE", path = "/cache" })
    assert.equal(401, del.status)
  end)

  it("answers 200 with Authorization: Bearer <token>", function()
    local res = assert(gw:admin { path = "/status",
                                  headers = { Authorization = "Bearer " .. TOKEN } })
    assert.equal(200, res.status)
    assert.is_number(res:json().configuration_generation)
  end)

  it("does not ask the proxy port for the token", function()
    assert.equal(200, proxy(gw, "/api/x").status)
  end)
end)
