-- response-transformer in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local cjson = require "cjson"
local runner = require "turnpike.runner"

local function service(body, headers)
  return function()
    local h = { ["Content-Type"] = "application/json" }
    for k, v in pairs(headers or {}) do h[k] = v end
    return { status = 200, headers = h, body = body }
  end
end

local function run(conf, body, headers)
  return tp.run_plugin("response-transformer", conf, { path = "/x",
                                                      upstream = service(body, headers) })
end

describe("Plugin: response-transformer (schema)", function()
  local plugin = tp.load_plugin("response-transformer")

  it("has empty lists by default", function()
    local conf = assert(tp.validate(plugin, {}))
    assert.same({ json = {}, headers = {} }, conf.remove)
    assert.same({ json = {}, json_types = {}, headers = {} }, conf.add)
  end)

  it("rejects a pair without a colon and an unknown json type", function()
    local conf, err = tp.validate(plugin, { add = { json = { "a" } } })
    assert.is_nil(conf)
    assert.matches("config.add.json[1]", err, 1, true)
    assert.is_nil(tp.validate(plugin, { add = { json = { "a:1" }, json_types = { "date" } } }))
  end)
end)

describe("Plugin: response-transformer (header_filter, body_filter)", function()
  before_each(function() tp.reset() end)

  it("transforms headers in Kong's order", function()
    local res = run({
      remove = { headers = { "X-Powered-By" } },
      rename = { headers = { "X-Old:X-New" } },
      replace = { headers = { "X-Env:prod", "X-Absent:x" } },
      add = { headers = { "X-Added:1", "X-Env:ignored" } },
      append = { headers = { "X-List:b" } },
    }, "{}", { ["X-Powered-By"] = "php", ["X-Old"] = "o", ["X-Env"] = "dev", ["X-List"] = "a" })
    local h = res.headers
    assert.is_nil(h["x-powered-by"])
    assert.is_nil(h["x-old"])
    assert.equal("o", h["x-new"])
    assert.equal("prod", h["x-env"])
    assert.is_nil(h["x-absent"])
    assert.equal("1", h["x-added"])
    assert.same({ "a", "b" }, h["x-list"])
  end)

  it("transforms top-level JSON fields, typed by json_types", function()
    local res = run({
      remove = { json = { "secret" } },
      rename = { json = { "old:new" } },
      replace = { json = { "count:5", "absent:x" }, json_types = { "number" } },
      add = { json = { "ok:true", "flag:false", "count:9" },
              json_types = { "boolean", "string" } },
      append = { json = { "tags:b" } },
    }, '{"secret":"s","old":1,"count":1,"tags":"a"}', { ["Content-Length"] = "43" })
    assert.same({ new = 1, count = 5, ok = true, flag = "false", tags = { "a", "b" } },
                cjson.decode(res.raw_body))
    assert.is_nil(res.headers["content-length"])
  end)

  it("leaves non-JSON bodies and JSON arrays alone", function()
    local conf = { add = { json = { "a:1" } } }
    local text = run(conf, "plain", { ["Content-Type"] = "text/plain", ["Content-Length"] = "5" })
    assert.equal("plain", text.raw_body)
    assert.equal("5", text.headers["content-length"])
    assert.equal("[1]", run(conf, "[1]").raw_body)
    assert.equal("{bad", run(conf, "{bad").raw_body)
  end)

  it("handles +json media types", function()
    local res = run({ add = { json = { "a:1" } } }, "{}",
                    { ["Content-Type"] = "application/problem+json" })
    assert.same({ a = "1" }, cjson.decode(res.raw_body))
  end)

  it("buffers a body that arrives in chunks and transforms it at the end", function()
    local plugin = tp.load_plugin("response-transformer")
    local route = { id = "route-1", paths = { "/" } }
    local cfg = { routes = { route }, services = {}, consumers = {}, plugins = {
      { id = "p1", name = "response-transformer",
        config = assert(tp.validate(plugin, { add = { json = { "b:2" } } })) } } }
    local router = { match = function(_, _, p) return { route = route, upstream_path = p } end }
    local rn = runner.new(tp.gen_from(cfg, router))
    local r = tp.backend.request({ path = "/x" })
    local ctx = r.ctx
    tp.backend.bind(r)
    rn:process(r, ctx)
    tp.backend.proxy(r, service('{"a":1}'))
    tp.backend.bind(r)
    rn:header_filter(r, ctx)
    local out = {}
    for _, piece in ipairs({ '{"a"', ":1", "}" }) do
      out[#out + 1] = rn:body_filter(r, ctx, piece, false)
    end
    out[#out + 1] = rn:body_filter(r, ctx, "", true)
    tp.backend.active = nil
    assert.equal("", out[1] .. out[2] .. out[3])
    assert.same({ a = 1, b = "2" }, cjson.decode(out[4]))
  end)
end)
