-- correlation-id in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local runner = require "turnpike.runner"

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function run(conf, headers)
  return tp.run_plugin("correlation-id", conf, { path = "/x", headers = headers })
end

-- One runner (one worker generation) for several requests, so per-worker state carries over.
local function worker(conf)
  local plugin = tp.load_plugin("correlation-id")
  local route = { id = "route-1", paths = { "/" } }
  local cfg = { routes = { route }, services = {}, consumers = {}, plugins = {
    { id = "p1", name = "correlation-id", config = assert(tp.validate(plugin, conf)) } } }
  local router = { match = function(_, _, path) return { route = route, upstream_path = path } end }
  local rn = runner.new(tp.gen_from(cfg, router))
  rn:init_worker()
  return function(req) return tp.execute(rn, req) end
end

describe("Plugin: correlation-id (schema)", function()
  local plugin = tp.load_plugin("correlation-id")

  it("has Kong's defaults", function()
    assert.same({ header_name = "Kong-Request-ID", generator = "uuid#counter",
                  echo_downstream = false }, assert(tp.validate(plugin, {})))
  end)

  it("rejects an unknown generator and a bad header name", function()
    assert.is_nil(tp.validate(plugin, { generator = "random" }))
    assert.is_nil(tp.validate(plugin, { header_name = "bad name" }))
  end)
end)

describe("Plugin: correlation-id (access)", function()
  before_each(function() tp.reset() end)

  describe("config.generator", function()
    it("uuid: a fresh random v4 UUID per request", function()
      local send = worker({ generator = "uuid" })
      local a = send({ path = "/x" }).upstream.headers["kong-request-id"]
      local b = send({ path = "/x" }).upstream.headers["kong-request-id"]
      assert.matches(UUID, a)
      assert.matches(UUID, b)
      assert.not_equal(a, b)
    end)

    it("uuid#counter: the worker's UUID and a counter that goes up", function()
      local send = worker({})
      local a = send({ path = "/x" }).upstream.headers["kong-request-id"]
      local b = send({ path = "/x" }).upstream.headers["kong-request-id"]
      local ua, na = a:match("^(.+)#(%d+)$")
      local ub, nb = b:match("^(.+)#(%d+)$")
      assert.matches(UUID, ua)
      assert.equal(ua, ub)
      assert.equal(tonumber(na) + 1, tonumber(nb))
    end)

    it("tracker: host, port, worker, counter, client address and time", function()
      local send = worker({ generator = "tracker" })
      local id = send({ path = "/x", host = "gw.local", port = 8000, client_ip = "10.1.2.3" })
        .upstream.headers["kong-request-id"]
      assert.matches("^gw%.local%-8000%-%x+%-1%-10%.1%.2%.3%-%d+%.%d%d%d$", id)
    end)
  end)

  describe("config.header_name", function()
    it("sets the configured header for the service", function()
      local res = run({ header_name = "X-Request-ID", generator = "uuid" })
      assert.matches(UUID, res.upstream.headers["x-request-id"])
      assert.is_nil(res.upstream.headers["kong-request-id"])
    end)

    it("keeps an id the client already sent", function()
      local res = run({}, { ["Kong-Request-ID"] = "from-client" })
      assert.equal("from-client", res.upstream.headers["kong-request-id"])
    end)
  end)

  describe("config.echo_downstream", function()
    it("sends the same id back to the client when true", function()
      local res = run({ echo_downstream = true })
      local sent = res.upstream.headers["kong-request-id"]
      assert.truthy(sent)
      assert.equal(sent, res.headers["kong-request-id"])
      assert.equal(sent, res.ctx.shared.correlation_id)
    end)

    it("echoes the client's own id", function()
      local res = run({ echo_downstream = true }, { ["Kong-Request-ID"] = "abc" })
      assert.equal("abc", res.headers["kong-request-id"])
    end)

    it("does not touch the response when false", function()
      assert.is_nil(run({}).headers["kong-request-id"])
    end)
  end)
end)
