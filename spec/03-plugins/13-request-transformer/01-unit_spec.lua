-- request-transformer in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local cjson = require "cjson"

local function run(conf, req)
  req.path = req.path or "/x"
  return tp.run_plugin("request-transformer", conf, req)
end

local function json_post(body, extra)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return { method = "POST", body = body, headers = h }
end

local function form_post(body)
  return { method = "POST", body = body,
           headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } }
end

describe("Plugin: request-transformer (schema)", function()
  local plugin = tp.load_plugin("request-transformer")

  it("has empty lists by default", function()
    local conf = assert(tp.validate(plugin, {}))
    assert.same({ body = {}, headers = {}, querystring = {} }, conf.remove)
    assert.same({ body = {}, headers = {}, querystring = {} }, conf.add)
    assert.same({ body = {}, headers = {}, querystring = {} }, conf.replace)
    assert.is_nil(conf.http_method)
  end)

  it("rejects a pair without a colon and a bad header name", function()
    local conf, err = tp.validate(plugin, { add = { headers = { "X-A" } } })
    assert.is_nil(conf)
    assert.matches("config.add.headers[1]", err, 1, true)
    assert.is_nil(tp.validate(plugin, { add = { headers = { "X A:1" } } }))
  end)

  it("rejects templates it cannot evaluate, naming the field", function()
    local conf, err = tp.validate(plugin, { add = { headers = { "X-A:$(os.exit())" } } })
    assert.is_nil(conf)
    assert.matches("config.add.headers[1]: unsupported template expression", err, 1, true)
    assert.is_nil(tp.validate(plugin, { replace = { uri = "/$(headers.x" } }))
  end)

  it("rejects a lower-case method", function()
    assert.is_nil(tp.validate(plugin, { http_method = "post" }))
  end)
end)

describe("Plugin: request-transformer (access)", function()
  before_each(function() tp.reset() end)

  describe("headers", function()
    it("removes, renames, replaces, adds and appends in Kong's order", function()
      local res = run({
        remove = { headers = { "X-Secret" } },
        rename = { headers = { "X-Old:X-New" } },
        replace = { headers = { "X-Env:prod", "X-Absent:nope" } },
        add = { headers = { "X-Added:1", "X-Env:ignored" } },
        append = { headers = { "X-List:b" } },
      }, { headers = { ["X-Secret"] = "s", ["X-Old"] = "o", ["X-Env"] = "dev",
                       ["X-List"] = "a" } })
      local h = res.upstream.headers
      assert.is_nil(h["x-secret"])
      assert.is_nil(h["x-old"])
      assert.equal("o", h["x-new"])
      assert.equal("prod", h["x-env"])
      assert.is_nil(h["x-absent"])
      assert.equal("1", h["x-added"])
      assert.same({ "a", "b" }, h["x-list"])
    end)

    it("fills templates from headers, query and uri captures", function()
      local res = run({ add = { headers = {
        "X-From-Header:Bearer $(headers.x_token)",
        "X-From-Query:$(query_params[\"user\"])",
        "X-From-Capture:$(uri_captures.id)-$(uri_captures[1])",
        "X-Fallback:$(headers.missing or \"none\")",
        "X-Literal:\\$(headers.x_token)",
      } } }, { headers = { ["X-Token"] = "t0k" }, query = "user=ann",
               uri_captures = { [0] = "/x/7", [1] = "7", id = "7" } })
      local h = res.upstream.headers
      assert.equal("Bearer t0k", h["x-from-header"])
      assert.equal("ann", h["x-from-query"])
      assert.equal("7-7", h["x-from-capture"])
      assert.equal("none", h["x-fallback"])
      assert.equal("$(headers.x_token)", h["x-literal"])
    end)
  end)

  describe("querystring", function()
    it("transforms the query string", function()
      local res = run({
        remove = { querystring = { "drop" } },
        rename = { querystring = { "old:new" } },
        replace = { querystring = { "mode:fast" } },
        add = { querystring = { "page:1", "mode:ignored" } },
        append = { querystring = { "tag:b" } },
      }, { query = "drop=1&old=v&mode=slow&tag=a" })
      assert.equal("mode=fast&new=v&page=1&tag=a&tag=b", res.upstream.query)
    end)

    it("leaves the query alone when nothing applies", function()
      local res = run({ remove = { querystring = { "nope" } } }, { query = "a=1" })
      assert.equal("a=1", res.upstream.query)
    end)
  end)

  describe("config.replace.uri", function()
    it("replaces the path, with templates", function()
      local res = run({ replace = { uri = "/v2/items/$(uri_captures.id)" } },
                      { path = "/items/42", uri_captures = { id = "42" }, query = "a=1" })
      assert.equal("/v2/items/42", res.upstream.path)
      assert.equal("a=1", res.upstream.query)
    end)
  end)

  describe("body", function()
    it("transforms a JSON object body", function()
      local res = run({
        remove = { body = { "password" } },
        rename = { body = { "user:username" } },
        replace = { body = { "role:admin", "absent:x" } },
        add = { body = { "source:gateway", "role:ignored" } },
        append = { body = { "tags:new" } },
      }, json_post('{"password":"p","user":"ann","role":"guest","tags":"old"}'))
      assert.same({ username = "ann", role = "admin", source = "gateway",
                    tags = { "old", "new" } }, cjson.decode(res.upstream.body))
    end)

    it("adds to an empty JSON body", function()
      local res = run({ add = { body = { "a:1" } } }, json_post(""))
      assert.same({ a = "1" }, cjson.decode(res.upstream.body))
    end)

    it("forwards a JSON array or invalid JSON untouched", function()
      assert.equal("[1,2]", run({ add = { body = { "a:1" } } }, json_post("[1,2]")).upstream.body)
      assert.equal("{oops", run({ add = { body = { "a:1" } } }, json_post("{oops")).upstream.body)
    end)

    it("transforms a form body", function()
      local res = run({ remove = { body = { "b" } }, add = { body = { "c:3" } } },
                      form_post("a=1&b=2"))
      assert.equal("a=1&c=3", res.upstream.body)
    end)

    it("does not touch other content types", function()
      local res = run({ add = { body = { "a:1" } } }, { method = "POST", body = "raw text",
                      headers = { ["Content-Type"] = "text/plain" } })
      assert.equal("raw text", res.upstream.body)
    end)

    it("does not read the body when no body rule is set", function()
      local res = run({ add = { headers = { "X-A:1" } } }, json_post('{"a":1}'))
      assert.equal('{"a":1}', res.upstream.body)
    end)
  end)

  describe("config.http_method", function()
    it("changes the method", function()
      assert.equal("PUT", run({ http_method = "PUT" }, { method = "POST" }).upstream.method)
    end)

    it("moves a form body into the query string for GET", function()
      local res = run({ http_method = "GET", add = { querystring = { "z:9" } } },
                      { method = "POST", query = "q=1", body = "a=1&b=2",
                        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
      assert.equal("GET", res.upstream.method)
      assert.equal("a=1&b=2&q=1&z=9", res.upstream.query)
    end)
  end)
end)
