-- http-log in unit mode (turnpike.spec over the fake backend and its fake http).
local tp = require "turnpike.spec"
local cjson = require "cjson"
local runner = require "turnpike.runner"

local ENDPOINT = "http://logs.example.com:9000/ingest"

-- One runner (one worker generation) for several requests, so the queue carries over.
local function worker(conf)
  local plugin = tp.load_plugin("http-log")
  local route = { id = "route-1", paths = { "/" } }
  local cfg = { routes = { route }, services = {}, consumers = {}, plugins = {
    { id = "p1", name = "http-log", config = assert(tp.validate(plugin, conf)) } } }
  local router = { match = function(_, _, p) return { route = route, upstream_path = p } end }
  local rn = runner.new(tp.gen_from(cfg, router))
  rn:init_worker()
  return function(path) return tp.execute(rn, { path = path }) end
end

local function calls()
  return tp.backend.http_calls
end

describe("Plugin: http-log (schema)", function()
  local plugin = tp.load_plugin("http-log")

  it("has Kong's defaults", function()
    local conf = assert(tp.validate(plugin, { http_endpoint = ENDPOINT }))
    assert.equal("POST", conf.method)
    assert.equal("application/json", conf.content_type)
    assert.equal(10000, conf.timeout)
    assert.equal(60000, conf.keepalive)
    assert.equal(1, conf.queue.max_batch_size)
    assert.equal(1, conf.queue.max_coalescing_delay)
    assert.equal(10000, conf.queue.max_entries)
    assert.equal(60, conf.queue.max_retry_time)
  end)

  it("needs a URL with a host", function()
    assert.is_nil(tp.validate(plugin, {}))
    local conf, err = tp.validate(plugin, { http_endpoint = "not a url" })
    assert.is_nil(conf)
    assert.matches("config.http_endpoint", err, 1, true)
  end)

  it("maps Kong's deprecated queue_size and flush_timeout into queue", function()
    local conf = assert(tp.validate(plugin, { http_endpoint = ENDPOINT, queue_size = 5,
                                              flush_timeout = 3 }))
    assert.equal(5, conf.queue.max_batch_size)
    assert.equal(3, conf.queue.max_coalescing_delay)
  end)

  it("refuses custom_fields_by_lua and methods Kong does not allow", function()
    local conf, err = tp.validate(plugin, { http_endpoint = ENDPOINT,
                                            custom_fields_by_lua = { a = "return 1" } })
    assert.is_nil(conf)
    assert.matches("custom_fields_by_lua is not supported", err, 1, true)
    assert.is_nil(tp.validate(plugin, { http_endpoint = ENDPOINT, method = "GET" }))
  end)
end)

describe("Plugin: http-log (log)", function()
  before_each(function()
    tp.reset()
    tp.fake_http("^http://logs%.example%.com", { status = 200, body = "" })
  end)

  it("sends one JSON object per request by default", function()
    tp.run_plugin("http-log", { http_endpoint = ENDPOINT, headers = { ["X-Api-Key"] = "k" } },
                  { method = "POST", path = "/orders" })
    assert.equal(1, #calls())
    local call = calls()[1]
    assert.equal(ENDPOINT, call.url)
    assert.equal("POST", call.opts.method)
    assert.equal("application/json", call.opts.headers["Content-Type"])
    assert.equal("k", call.opts.headers["X-Api-Key"])
    assert.equal(10000, call.opts.timeout_ms)
    local entry = cjson.decode(call.opts.body)
    assert.equal("POST", entry.request.method)
    assert.equal("/orders", entry.request.uri)
    assert.equal(200, entry.response.status)
  end)

  it("turns user:password in the URL into Basic authentication", function()
    tp.run_plugin("http-log", { http_endpoint = "http://bob:s%3Acret@logs.example.com/i",
                                method = "PUT" }, { path = "/x" })
    local call = calls()[1]
    assert.equal("http://logs.example.com/i", call.url)
    assert.equal("PUT", call.opts.method)
    -- base64("bob:s:cret")
    assert.equal("Basic Ym9iOnM6Y3JldA==", call.opts.headers["Authorization"])
  end)

  describe("config.queue", function()
    it("batches max_batch_size entries into one JSON array", function()
      local send = worker({ http_endpoint = ENDPOINT, queue = { max_batch_size = 3 } })
      send("/1")
      send("/2")
      assert.equal(0, #calls())
      send("/3")
      assert.equal(1, #calls())
      local batch = cjson.decode(calls()[1].opts.body)
      assert.equal(3, #batch)
      assert.equal("/1", batch[1].request.uri)
      assert.equal("/3", batch[3].request.uri)
    end)

    it("sends a partial batch once max_coalescing_delay has passed", function()
      local send = worker({ http_endpoint = ENDPOINT,
                            queue = { max_batch_size = 10, max_coalescing_delay = 2 } })
      send("/1")
      tp.clock:advance(1000)
      send("/2")
      assert.equal(0, #calls())
      tp.clock:advance(1000)
      send("/3")
      assert.equal(1, #calls())
      assert.equal(3, #cjson.decode(calls()[1].opts.body))
    end)

    it("drops the oldest entry when max_entries is reached", function()
      local send = worker({ http_endpoint = ENDPOINT,
                            queue = { max_batch_size = 3, max_entries = 2 } })
      send("/1")
      send("/2")
      local res = send("/3")
      assert.equal(0, #calls())
      assert.matches("queue full", res.logs[1].msg, 1, true)
    end)
  end)

  describe("retries", function()
    it("retries a failed batch with growing delays until it goes through", function()
      local answers = { 500, 503, 200 }
      tp.fake_http("^http://logs%.example%.com", function()
        return { status = table.remove(answers, 1), body = "" }
      end)
      local t0 = tp.clock.now
      local res = tp.run_plugin("http-log", { http_endpoint = ENDPOINT,
                                              queue = { initial_retry_delay = 1 } }, { path = "/x" })
      assert.equal(3, #calls())
      assert.equal(calls()[1].opts.body, calls()[3].opts.body)
      -- waited 1 s, then 2 s
      assert.equal(3000, tp.clock.now - t0)
      assert.equal("warn", res.logs[1].level)
      assert.matches("returned status code 500", res.logs[1].msg, 1, true)
    end)

    it("gives up after retry_count retries and logs an error", function()
      tp.fake_http("^http://logs%.example%.com", function() return nil, "connection refused" end)
      local res = tp.run_plugin("http-log", { http_endpoint = ENDPOINT, retry_count = 2 },
                                { path = "/x" })
      assert.equal(3, #calls())
      local last = res.logs[#res.logs]
      assert.equal("err", last.level)
      assert.matches("could not send 1 log entries after 3 attempts", last.msg, 1, true)
      assert.matches("connection refused", last.msg, 1, true)
    end)

    it("gives up when max_retry_time would be exceeded", function()
      tp.fake_http("^http://logs%.example%.com", { status = 500, body = "" })
      local t0 = tp.clock.now
      tp.run_plugin("http-log", { http_endpoint = ENDPOINT, queue = {
        initial_retry_delay = 1, max_retry_time = 5 } }, { path = "/x" })
      -- delays 1 + 2, then 4 more would pass 5 s
      assert.equal(3, #calls())
      assert.equal(3000, tp.clock.now - t0)
    end)
  end)
end)
