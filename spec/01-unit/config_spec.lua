-- turnpike.config: declarative config -> validated entities, node settings, FILE:LINE errors,
-- and `turnpike check` end to end.
local config = require "turnpike.config"
local plugins = require "turnpike.plugins"

local HOME = TURNPIKE_HOME
local FIXTURES = HOME .. "/spec/fixtures"
local BIN = HOME .. "/build/turnpike"

local function load_plugin(name)
  return plugins.load(name, { FIXTURES .. "/plugins" })
end

-- Loads YAML text as "kong.yml" with no environment and the fixture plugins.
local function load(text, opts)
  opts = opts or {}
  opts.env = opts.env or {}
  opts.load_plugin = opts.load_plugin or load_plugin
  return config.load_string(text, opts.source or "kong.yml", opts)
end

local function yml(lines)
  return table.concat(lines, "\n") .. "\n"
end

-- A PEM file of spec/fixtures/tls as a YAML block scalar `field: |` at `indent`.
local function pem_block(field, name, indent)
  local f = assert(io.open(FIXTURES .. "/tls/" .. name))
  local lines = { indent .. field .. ": |" }
  for l in f:read("*a"):gmatch("[^\n]+") do lines[#lines + 1] = indent .. "  " .. l end
  f:close()
  return table.concat(lines, "\n")
end

-- One certificates entry (RSA, for a.test) as YAML lines.
local function a_certificate()
  return { "certificates:", "  - snis: [a.test]", pem_block("cert", "a.crt", "    "),
           pem_block("key", "a.key", "    ") }
end

local function by_name(list, name)
  for _, e in ipairs(list) do
    if e.name == name then return e end
  end
end

-- Runs the binary; returns exit code and combined output.
local function run(args)
  local p = io.popen(BIN .. " " .. args .. " 2>&1; echo \"EXIT:$?\"")
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("EXIT:(%d+)%s*$"))
  return code, (out:gsub("EXIT:%d+%s*$", ""))
end

describe("config", function()
  describe("entities", function()
    it("loads nested routes and plugins and flat references", function()
      local cfg = assert(load(yml {
        '_format_version: "3.0"',
        "services:",
        "  - name: a",
        "    url: http://127.0.0.1:9000/base",
        "    plugins: [{ name: fx-cors }]",
        "    routes:",
        "      - name: ra",
        "        paths: [/a]",
        "        plugins: [{ name: fx-auth }]",
        "  - name: b",
        "    host: b.internal",
        "routes:",
        "  - name: rb",
        "    service: b",
        "    hosts: [b.example.test]",
        "consumers:",
        "  - username: alice",
        "    plugins: [{ name: fx-cache, config: { strategy: memory } }]",
        "plugins:",
        "  - name: fx-limit",
        "    route: rb",
        "    config: { minute: 10 }",
        "  - name: fx-cors",
      }))
      assert.equal(2, #cfg.services)
      assert.equal(2, #cfg.routes)
      local a, b = by_name(cfg.services, "a"), by_name(cfg.services, "b")
      assert.equal(a, by_name(cfg.routes, "ra").service)
      assert.equal(b, by_name(cfg.routes, "rb").service)
      assert.equal(5, #cfg.plugins)
      local p = cfg.plugins
      assert.same({ "fx-auth", "fx-cors", "fx-cache", "fx-limit", "fx-cors" },
        { p[1].name, p[2].name, p[3].name, p[4].name, p[5].name })
      -- nested under a route of a service: route only
      assert.equal(by_name(cfg.routes, "ra"), p[1].route)
      assert.is_nil(p[1].service)
      assert.equal(a, p[2].service)
      assert.equal(cfg.consumers[1], p[3].consumer)
      assert.equal(by_name(cfg.routes, "rb"), p[4].route)
      assert.is_nil(p[5].route or p[5].service or p[5].consumer)
    end)

    it("fills Kong defaults and splits the service url", function()
      local cfg = assert(load(yml {
        "services:",
        "  - name: s",
        "    url: https://api.example.test/v1",
        "    routes: [{ name: r, paths: [/x] }]",
        "  - name: plain",
        "    url: http://127.0.0.1",
      }))
      local s = cfg.services[1]
      assert.same({ "https", "api.example.test", 443, "/v1" }, { s.protocol, s.host, s.port, s.path })
      assert.same({ 5, 60000, 60000, 60000, true },
        { s.retries, s.connect_timeout, s.write_timeout, s.read_timeout, s.enabled })
      assert.equal(80, cfg.services[2].port)
      assert.is_nil(cfg.services[2].path)
      local r = cfg.routes[1]
      assert.same({ "http", "https" }, r.protocols)
      assert.same({ true, false, 0, "v0", 426 },
        { r.strip_path, r.preserve_host, r.regex_priority, r.path_handling, r.https_redirect_status_code })
      assert.equal("3.0", cfg.format_version)
    end)

    it("fills plugin config defaults with the plugin schema", function()
      local cfg = assert(load(yml {
        "plugins:",
        "  - name: fx-limit",
        "    config: { second: 5 }",
      }))
      local p = cfg.plugins[1]
      assert.is_true(p.enabled)
      assert.same({ "http", "https" }, p.protocols)
      assert.same({ second = 5, policy = "local", redis = { port = 6379, timeout = 2000 } }, p.config)
    end)

    it("loads upstreams with targets and healthcheck defaults", function()
      local cfg = assert(load(yml {
        "upstreams:",
        "  - name: up",
        "    healthchecks: { breaker: { error_ratio: 0.5 } }",
        "    targets:",
        "      - target: 10.0.0.1:8080",
        "      - target: backend.internal",
        "        weight: 5",
      }))
      local u = cfg.upstreams[1]
      assert.same({ "round-robin", "none", 10000 }, { u.algorithm, u.hash_on, u.slots })
      assert.equal("/", u.healthchecks.active.http_path)
      assert.same({ 200, 302 }, u.healthchecks.active.healthy.http_statuses)
      assert.same({ 10000, 300000, 1, 0.5 }, { u.healthchecks.breaker.open_ms,
        u.healthchecks.breaker.max_open_ms, u.healthchecks.breaker.half_open_probes,
        u.healthchecks.breaker.error_ratio })
      assert.same({ "10.0.0.1", 8080, 100 }, { u.targets[1].host, u.targets[1].port, u.targets[1].weight })
      assert.same({ "backend.internal", 8000, 5 }, { u.targets[2].host, u.targets[2].port, u.targets[2].weight })
    end)

    it("attaches nested and top-level credentials to consumers", function()
      local cfg = assert(load(yml {
        "consumers:",
        "  - username: alice",
        "    keyauth_credentials: [{ key: k1 }]",
        "    acls: [{ group: admin }]",
        "  - custom_id: c-2",
        "keyauth_credentials:",
        "  - { key: k2, consumer: alice }",
        "jwt_secrets:",
        "  - { key: iss, secret: s3cret, consumer: c-2 }",
      }))
      local alice, c2 = cfg.consumers[1], cfg.consumers[2]
      assert.same({ "k1", "k2" }, { alice.keyauth_credentials[1].key, alice.keyauth_credentials[2].key })
      assert.equal(alice.id, alice.keyauth_credentials[2].consumer.id)
      assert.equal("admin", alice.acls[1].group)
      assert.equal("HS256", c2.jwt_secrets[1].algorithm)
    end)

    it("loads certificates with snis", function()
      local cfg = assert(load(yml {
        "certificates:",
        "  - snis: [a.example.test, { name: b.example.test }]",
        pem_block("cert", "a.crt", "    "),
        pem_block("key", "a.key", "    "),
        "  - snis: ['*.b.test']",
        pem_block("cert", "b.crt", "    "),
        pem_block("key", "b.key", "    "),
        pem_block("cert_alt", "a.crt", "    "),
        pem_block("key_alt", "a.key", "    "),
      }))
      assert.same({ "a.example.test", "b.example.test" }, cfg.certificates[1].snis)
      assert.same({ "*.b.test" }, cfg.certificates[2].snis)
    end)

    describe("certificates", function()
      it("refuses a key that does not belong to its certificate", function()
        local cfg, err = load(yml {
          "certificates:",
          "  - snis: [a.test]",
          pem_block("cert", "a.crt", "    "),
          pem_block("key", "other_rsa.key", "    "),
        })
        assert.is_nil(cfg)
        assert.matches("^kong.yml:%d+: certificates%[1%]: key: does not match the certificate's public key", err)
      end)

      it("refuses PEM that does not decode", function()
        local cfg, err = load(yml {
          "certificates:",
          "  - cert: not a certificate",
          pem_block("key", "a.key", "    "),
        })
        assert.is_nil(cfg)
        assert.matches("kong.yml:2: certificates[1]: cert: not valid PEM text", err, 1, true)
      end)

      it("refuses cert_alt without key_alt, and a bad alternate pair", function()
        local lines = a_certificate()
        lines[#lines + 1] = pem_block("cert_alt", "b.crt", "    ")
        local cfg, err = load(yml(lines))
        assert.is_nil(cfg)
        assert.matches("cert_alt and key_alt must be given together", err, 1, true)
        lines[#lines + 1] = pem_block("key_alt", "a.key", "    ")
        cfg, err = load(yml(lines))
        assert.is_nil(cfg)
        assert.matches("certificates[1]: key_alt: does not match", err, 1, true)
      end)

      it("refuses an sni used by two certificates", function()
        local lines = a_certificate()
        lines[#lines + 1] = "  - snis: [A.test]"
        lines[#lines + 1] = pem_block("cert", "b.crt", "    ")
        lines[#lines + 1] = pem_block("key", "b.key", "    ")
        local cfg, err = load(yml(lines))
        assert.is_nil(cfg)
        assert.matches("certificates[2]: sni 'A.test' is already used by certificates[1]", err, 1, true)
      end)

      it("refuses an ssl listener without any certificate", function()
        local cfg, err = load(yml {
          "turnpike:",
          '  proxy_listen: ["127.0.0.1:9000", "0.0.0.0:9443 ssl"]',
        })
        assert.is_nil(cfg)
        assert.equal("kong.yml:2: proxy_listen: '0.0.0.0:9443 ssl' needs at least one entry in certificates", err)
        cfg, err = load("services: []\n", { env = { TURNPIKE_PROXY_LISTEN = "127.0.0.1:2 ssl" } })
        assert.is_nil(cfg)
        assert.matches("needs at least one entry in certificates", err, 1, true)
      end)
    end)

    it("derives stable UUIDs for entities without ids", function()
      local text = yml {
        "services: [{ name: s, host: h, routes: [{ paths: [/a] }, { name: r, paths: [/b] }] }]",
        "consumers: [{ username: u, keyauth_credentials: [{ key: k }] }]",
        "plugins: [{ name: fx-cors, service: s }]",
      }
      local a, b = assert(load(text)), assert(load(text))
      local uuid = "^%x+%-%x+%-5%x+%-[89ab]%x+%-%x+$"
      for _, list in ipairs({ "services", "routes", "consumers", "plugins" }) do
        for i, e in ipairs(a[list]) do
          assert.matches(uuid, e.id)
          assert.equal(e.id, b[list][i].id)
        end
      end
      assert.not_equal(a.routes[1].id, a.routes[2].id)
      assert.matches(uuid, a.consumers[1].keyauth_credentials[1].id)
      assert.equal(config.derive_id("services", "name:s"), a.services[1].id)
    end)

    it("keeps ids given in the file", function()
      local id = "6f7c3fa2-0d1f-4a4e-9c1e-2d3f4a5b6c7d"
      local cfg = assert(load("services: [{ id: " .. id .. ", host: h }]\n" ..
        "routes: [{ service: " .. id .. ", paths: [/] }]\n"))
      assert.equal(id, cfg.routes[1].service.id)
    end)

    it("accepts JSON with the same shape", function()
      local cfg = assert(load('{"_format_version": "3.0", "services": [{"name": "s", ' ..
        '"url": "http://127.0.0.1:9", "routes": [{"name": "r", "paths": ["/x"], ' ..
        '"plugins": [{"name": "fx-auth", "config": {"hide_credentials": true}}]}]}]}'))
      assert.equal(9, cfg.services[1].port)
      assert.is_true(cfg.plugins[1].config.hide_credentials)
      assert.same({ "apikey" }, cfg.plugins[1].config.key_names)
    end)
  end)

  describe("errors", function()
    local function err_of(text, opts)
      local cfg, err = load(text, opts)
      assert.is_nil(cfg)
      return err
    end

    it("names FILE:LINE for a YAML syntax error", function()
      local e = err_of(yml { "services:", "  - name: a: b", "    host: h" })
      assert.equal("kong.yml:2: mapping values are not allowed in this context", e)
    end)

    it("names the entity and field for a wrong type", function()
      local e = err_of(yml { "services:", "  - name: a", "    host: h", "    retries: many" })
      assert.equal("kong.yml:4: services[1]: retries: expected an integer", e)
    end)

    it("names the plugin entry of an unknown plugin", function()
      local e = err_of(yml { "services:", "  - name: a", "    host: h", "    routes:",
        "      - paths: [/]", "        plugins:", "          - name: fx-cors",
        "          - name: no-such-plugin" })
      assert.equal("kong.yml:8: services[1].routes[1].plugins[2]: plugin 'no-such-plugin' not found", e)
    end)

    it("names plugin, field and line for an invalid plugin config", function()
      local e = err_of(yml { "services:", "  - name: a", "    host: h", "    plugins:",
        "      - name: fx-cors", "      - name: fx-limit", "        config:", "          minute: lots" })
      assert.equal("kong.yml:8: services[1].plugins[2] (fx-limit): config.minute: expected a number", e)
      e = err_of(yml { "plugins:", "  - name: fx-limit", "    config: { redis: { host: 1 }, hour: 1 }" })
      assert.equal("kong.yml:3: plugins[1] (fx-limit): config.redis.host: expected a string", e)
    end)

    it("reports a missing required plugin field and failed entity checks", function()
      assert.equal("kong.yml:3: plugins[1] (fx-cache): config.strategy: required field missing",
        err_of(yml { "plugins:", "  - name: fx-cache", "    config:", "      cache_ttl: 30" }))
      assert.matches("^kong%.yml:2: plugins%[1%] %(fx%-limit%): at least one of these fields",
        err_of(yml { "plugins:", "  - name: fx-limit" }))
    end)

    it("rejects unknown keys everywhere", function()
      assert.equal("kong.yml:2: servics: unknown field", err_of(yml { "services: []", "servics: []" }))
      assert.equal("kong.yml:3: services[1]: colour: unknown field",
        err_of(yml { "services:", "  - host: h", "    colour: red" }))
      assert.equal("kong.yml:3: plugins[1] (fx-cors): config.colour: unknown field",
        err_of(yml { "plugins:", "  - name: fx-cors", "    config: { colour: red }" }))
      assert.equal("kong.yml:2: turnpike.colour: unknown setting",
        err_of(yml { "turnpike:", "  colour: red" }))
    end)

    it("requires a route matcher and a consumer name", function()
      assert.matches("^kong%.yml:2: routes%[1%]: must set one of 'methods', 'hosts'",
        err_of(yml { "routes:", "  - name: r" }))
      assert.matches("^kong%.yml:2: consumers%[1%]: at least one of these fields must be non%-empty",
        err_of(yml { "consumers:", "  - tags: [x]" }))
    end)

    it("rejects duplicate names and ids and unknown references", function()
      assert.matches("^kong%.yml:3: services%[2%]: duplicate name 's'",
        err_of(yml { "services:", "  - { name: s, host: h }", "  - { name: s, host: h }" }))
      assert.matches("^kong%.yml:2: routes%[1%]: service: unknown service 'nope'",
        err_of(yml { "routes:", "  - { service: nope, paths: [/] }" }))
      assert.matches("consumer: unknown consumer 'bob'",
        err_of(yml { "plugins:", "  - { name: fx-cors, consumer: bob }" }))
      assert.matches("duplicate credential",
        err_of(yml { "consumers:", "  - username: a", "    keyauth_credentials: [{ key: k }, { key: k }]" }))
    end)

    it("refuses a plugin on an entity its schema forbids", function()
      assert.matches("route: value must be null",
        err_of(yml { "routes:", "  - name: r", "    paths: [/]", "    plugins: [{ name: fx-global-only }]" }))
    end)

    it("names the field for JSON input without a line", function()
      assert.equal("kong.json: services[1]: retries: expected an integer",
        err_of('{"services": [{"host": "h", "retries": "x"}]}', { source = "kong.json" }))
    end)
  end)

  describe("node settings", function()
    it("has the documented defaults", function()
      local cfg = assert(load("services: []\n", { cwd = "/srv/gw" }))
      local n = cfg.node
      assert.same({ { host = "0.0.0.0", port = 8000, ssl = false } }, n.proxy_listen)
      assert.same({ host = "127.0.0.1", port = 8001 }, n.admin_listen)
      assert.same({ 0, "/srv/gw/run", "stdout", "stderr", "notice" },
        { n.workers, n.prefix, n.access_log, n.error_log, n.log_level })
      assert.same({ host = "127.0.0.1", port = 6379, database = 0, timeout_ms = 200 }, n.redis)
      assert.same({ 8 * 1024 * 1024, 32 * 1024, 64 * 1024 * 1024, 32 * 1024 * 1024 },
        { n.client_max_body_size, n.client_max_header_size, n.shm_size, n.cache_size })
      assert.same({ 10000, 60000, 64, 30000, 60000 }, { n.client_header_timeout_ms,
        n.client_body_timeout_ms, n.upstream_keepalive, n.drain_timeout_ms, n.keepalive_timeout_ms })
      assert.same({}, n.plugins_path)
      assert.is_nil(n.admin_token)
    end)

    it("reads the turnpike: key", function()
      local cfg = assert(load(yml {
        "turnpike:",
        '  proxy_listen: ["127.0.0.1:9000", "0.0.0.0:9443 ssl"]',
        "  admin_listen: off",
        "  workers: 3",
        "  client_max_body_size: 0",
        "  plugins_path: [./custom]",
        "  redis: { host: redis.internal, password: pw }",
        table.concat(a_certificate(), "\n"),
      }, { source = "/etc/tp/kong.yml" }))
      local n = cfg.node
      assert.same({ { host = "127.0.0.1", port = 9000, ssl = false },
        { host = "0.0.0.0", port = 9443, ssl = true } }, n.proxy_listen)
      assert.is_false(n.admin_listen)
      assert.equal(3, n.workers)
      assert.equal(0, n.client_max_body_size)
      assert.same({ "/etc/tp/custom" }, n.plugins_path)
      assert.same({ host = "redis.internal", port = 6379, password = "pw", database = 0,
        timeout_ms = 200 }, n.redis)
    end)

    it("lets TURNPIKE_<NAME> override each setting", function()
      local cfg = assert(load("turnpike: { workers: 2, admin_listen: '127.0.0.1:1' }\n"
                              .. yml(a_certificate()), { env = {
        TURNPIKE_WORKERS = "4", TURNPIKE_ADMIN_LISTEN = "127.0.0.1:9001",
        TURNPIKE_PROXY_LISTEN = "127.0.0.1:1,127.0.0.1:2 ssl", TURNPIKE_CLIENT_MAX_BODY_SIZE = "1k",
        TURNPIKE_REDIS_PORT = "6380", TURNPIKE_PLUGINS_PATH = '["/a", "/b"]',
      } }))
      local n = cfg.node
      assert.equal(4, n.workers)
      assert.same({ host = "127.0.0.1", port = 9001 }, n.admin_listen)
      assert.same({ { host = "127.0.0.1", port = 1, ssl = false },
        { host = "127.0.0.1", port = 2, ssl = true } }, n.proxy_listen)
      assert.equal(1024, n.client_max_body_size)
      assert.equal(6380, n.redis.port)
      assert.same({ "/a", "/b" }, n.plugins_path)
      assert.is_false(assert(load("", { env = { TURNPIKE_ADMIN_LISTEN = "off" } })
        or { node = { admin_listen = false } }).node.admin_listen)
    end)

    it("reports bad settings with their origin", function()
      assert.equal("kong.yml:2: turnpike.workers: expected an integer >= 1",
        select(2, load(yml { "turnpike:", "  workers: many" })))
      assert.equal("kong.yml: environment TURNPIKE_CLIENT_MAX_BODY_SIZE: expected a size (a number with k, m or g)",
        select(2, load("services: []\n", { env = { TURNPIKE_CLIENT_MAX_BODY_SIZE = "huge" } })))
    end)
  end)

  describe("turnpike check", function()
    local cases = {
      { "check_good.yml", 0, "configuration .*check_good%.yml is ok" },
      { "check_good.json", 0, "is ok" },
      { "check_bad_yaml.yml", 1, "check_bad_yaml%.yml:8: mapping values are not allowed" },
      { "check_unknown_plugin.yml", 1, "check_unknown_plugin%.yml:10: .*'no%-such%-plugin' not found" },
      { "check_wrong_type.yml", 1, "check_wrong_type%.yml:5: services%[1%]: retries: expected an integer" },
      { "check_missing_required.yml", 1, "%(fx%-cache%): config%.strategy: required field missing" },
    }
    for _, c in ipairs(cases) do
      it("exits " .. c[2] .. " for " .. c[1], function()
        local code, out = run("check -c " .. FIXTURES .. "/config/" .. c[1])
        assert.equal(c[2], code, out)
        assert.matches(c[3], out)
      end)
    end

    it("exits 2 without -c", function()
      local code, out = run("check")
      assert.equal(2, code)
      assert.matches("missing %-c FILE", out)
    end)
  end)

  describe("turnpike reload and stop", function()
    local ffi = require "ffi"
    pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
    pcall(ffi.cdef, "int kill(int pid, int sig);")
    local dir, cfg_path, master

    local function wait_until(fn, ms)
      for _ = 1, (ms or 5000) / 20 do
        if fn() then return true end
        ffi.C.poll(nil, 0, 20)
      end
      error("condition not met in time", 2)
    end

    local function exists(path)
      local f = io.open(path)
      if f then f:close() end
      return f ~= nil
    end

    -- A stand-in master: writes its pid file once its traps are set; on SIGHUP it writes
    -- `answer` to <prefix>/generation, on SIGTERM it exits.
    local function start_master(answer)
      local f = io.open(dir .. "/master.sh", "w")
      f:write("trap 'echo \"", answer, "\" > ", dir, "/generation' HUP\n",
        "trap 'exit 0' TERM\n", "echo $$ > ", dir, "/turnpike.pid\n",
        "while :; do sleep 1 & wait $!; done\n")
      f:close()
      local p = io.popen("sh " .. dir .. "/master.sh >/dev/null 2>&1 & echo $!")
      master = tonumber(p:read("*l"))
      p:close()
      wait_until(function() return exists(dir .. "/turnpike.pid") end)
    end

    before_each(function()
      local p = io.popen("mktemp -d")
      dir = p:read("*l")
      p:close()
      cfg_path = dir .. "/turnpike.yml"
      local f = io.open(cfg_path, "w")
      f:write("turnpike: { prefix: " .. dir .. ", admin_listen: off }\nservices: []\n")
      f:close()
      master = nil
    end)

    after_each(function()
      if master and ffi.C.kill(master, 0) == 0 then ffi.C.kill(master, 9) end
      os.remove(dir .. "/turnpike.pid")
      os.remove(dir .. "/generation")
      os.remove(cfg_path)
      os.remove(dir .. "/master.sh")
      os.remove(dir)
    end)

    it("fails clearly when no pid file exists", function()
      local code, out = run("reload -c " .. cfg_path)
      assert.equal(1, code)
      assert.matches("not running %(no pid file " .. dir:gsub("%p", "%%%0") .. "/turnpike%.pid%)", out)
      code, out = run("stop -c " .. cfg_path)
      assert.equal(1, code)
      assert.matches("not running", out)
    end)

    it("fails clearly when the process is gone", function()
      local f = io.open(dir .. "/turnpike.pid", "w")
      f:write("999999999\n")
      f:close()
      local code, out = run("stop -c " .. cfg_path)
      assert.equal(1, code)
      assert.matches("process 999999999 .* is gone", out)
    end)

    it("signals a reload and reports the new generation", function()
      start_master("7 ok")
      local code, out = run("reload -c " .. cfg_path)
      assert.equal(0, code, out)
      assert.matches("generation 7", out)
    end)

    it("exits 1 when the master reports a failed reload", function()
      start_master("8 failed: plugin boom")
      local code, out = run("reload -c " .. cfg_path)
      assert.equal(1, code, out)
      assert.matches("reload failed: plugin boom", out)
    end)

    it("does not signal when the new config is invalid", function()
      start_master("9 ok")
      local f = io.open(cfg_path, "a")
      f:write("bogus: 1\n")
      f:close()
      local code, out = run("reload -c " .. cfg_path)
      assert.equal(1, code)
      assert.matches("turnpike%.yml:3: bogus: unknown field", out)
      assert.is_false(exists(dir .. "/generation"))
    end)

    it("stops the master and waits until it is gone", function()
      start_master("1 ok")
      local code, out = run("stop -c " .. cfg_path)
      assert.equal(0, code, out)
      assert.matches("stopped", out)
      assert.not_equal(0, ffi.C.kill(master, 0))
    end)
  end)
end)
