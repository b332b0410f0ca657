-- cors in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"

local ORIGIN = "https://app.example.com"

local function preflight(conf, headers)
  local h = { Origin = ORIGIN, ["Access-Control-Request-Method"] = "POST" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return tp.run_plugin("cors", conf, { method = "OPTIONS", path = "/x", headers = h })
end

local function simple(conf, headers, upstream)
  return tp.run_plugin("cors", conf, { method = "GET", path = "/x", headers = headers,
                                       upstream = upstream })
end

describe("Plugin: cors (schema)", function()
  local plugin = tp.load_plugin("cors")

  it("loads with no config at all, with Kong's defaults", function()
    local conf = assert(tp.validate(plugin, {}))
    assert.same({ "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE",
                  "CONNECT" }, conf.methods)
    assert.is_false(conf.credentials)
    assert.is_false(conf.preflight_continue)
    assert.is_false(conf.private_network)
    assert.is_nil(conf.origins)
    assert.is_nil(conf.max_age)
  end)

  it("rejects an origin regex that does not compile", function()
    local conf, err = tp.validate(plugin, { origins = { "https://(.*\\.example.com" } })
    assert.is_nil(conf)
    assert.matches("config.origins[1]", err, 1, true)
  end)

  it("rejects an unknown method", function()
    local conf, err = tp.validate(plugin, { methods = { "FETCH" } })
    assert.is_nil(conf)
    assert.matches("config.methods", err, 1, true)
  end)
end)

describe("Plugin: cors (access)", function()
  before_each(function() tp.reset() end)

  describe("preflight", function()
    it("answers 200 itself with every Access-Control-Allow-* header", function()
      local res = preflight({ origins = { ORIGIN }, headers = { "X-Token", "Content-Type" },
                              max_age = 3600, credentials = true })
      assert.equal(200, res.status)
      assert.is_nil(res.upstream)
      assert.equal(ORIGIN, res.headers["access-control-allow-origin"])
      assert.equal("true", res.headers["access-control-allow-credentials"])
      assert.equal("X-Token,Content-Type", res.headers["access-control-allow-headers"])
      assert.equal("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT",
                   res.headers["access-control-allow-methods"])
      assert.equal("3600", res.headers["access-control-max-age"])
      assert.equal("Origin", res.headers["vary"])
    end)

    it("allows every origin with no config, and echoes the requested headers", function()
      local res = preflight({}, { ["Access-Control-Request-Headers"] = "x-a,x-b" })
      assert.equal(200, res.status)
      assert.equal("*", res.headers["access-control-allow-origin"])
      assert.equal("x-a,x-b", res.headers["access-control-allow-headers"])
      assert.is_nil(res.headers["access-control-allow-credentials"])
      assert.is_nil(res.headers["access-control-max-age"])
      assert.equal("Origin", res.headers["vary"])
    end)

    it("sends the configured methods only", function()
      local res = preflight({ methods = { "GET", "POST" } })
      assert.equal("GET,POST", res.headers["access-control-allow-methods"])
    end)

    it("leaves out Allow-Origin for an origin not on the list, still answering 200", function()
      local res = preflight({ origins = { "https://other.example.com" } })
      assert.equal(200, res.status)
      assert.is_nil(res.headers["access-control-allow-origin"])
    end)

    it("is a plain OPTIONS request without Access-Control-Request-Method", function()
      local res = tp.run_plugin("cors", {}, { method = "OPTIONS", path = "/x",
                                              headers = { Origin = ORIGIN } })
      assert.equal("OPTIONS", res.upstream.method)
      assert.equal("*", res.headers["access-control-allow-origin"])
    end)

    it("goes to the service untouched with preflight_continue", function()
      local res = preflight({ preflight_continue = true })
      assert.equal("OPTIONS", res.upstream.method)
      assert.is_nil(res.headers["access-control-allow-origin"])
      assert.is_nil(res.headers["access-control-allow-methods"])
    end)

    it("allows private network access only when asked and configured", function()
      local ask = { ["Access-Control-Request-Private-Network"] = "true" }
      assert.equal("true", preflight({ private_network = true }, ask)
        .headers["access-control-allow-private-network"])
      assert.is_nil(preflight({}, ask).headers["access-control-allow-private-network"])
      assert.is_nil(preflight({ private_network = true })
        .headers["access-control-allow-private-network"])
    end)
  end)

  describe("config.origins", function()
    it("matches literal origins ignoring case and default ports", function()
      local conf = { origins = { "https://App.Example.com:443" } }
      local res = simple(conf, { Origin = ORIGIN })
      assert.equal(ORIGIN, res.headers["access-control-allow-origin"])
      assert.is_nil(simple(conf, { Origin = "https://app.example.com:8443" })
        .headers["access-control-allow-origin"])
    end)

    it("matches regex origins against the whole origin", function()
      local conf = { origins = { "https://.*\\.example\\.com" } }
      assert.equal(ORIGIN, simple(conf, { Origin = ORIGIN }).headers["access-control-allow-origin"])
      assert.is_nil(simple(conf, { Origin = "https://app.example.com.evil.io" })
        .headers["access-control-allow-origin"])
      assert.is_nil(simple(conf, { Origin = "https://example.com" })
        .headers["access-control-allow-origin"])
    end)

    it("treats \"*\" as every origin", function()
      local res = simple({ origins = { "*" } }, { Origin = ORIGIN })
      assert.equal("*", res.headers["access-control-allow-origin"])
    end)
  end)

  describe("actual requests", function()
    it("adds Allow-Origin, Expose-Headers and merges Vary with the service's", function()
      local res = simple({ origins = { ORIGIN }, exposed_headers = { "X-Total", "X-Page" } },
        { Origin = ORIGIN }, function()
          return { status = 201, headers = { Vary = "Accept-Encoding" }, body = "ok" }
        end)
      assert.equal(201, res.status)
      assert.equal(ORIGIN, res.headers["access-control-allow-origin"])
      assert.equal("X-Total,X-Page", res.headers["access-control-expose-headers"])
      assert.equal("Accept-Encoding, Origin", res.headers["vary"])
      assert.is_nil(res.headers["access-control-allow-methods"])
    end)

    it("does not repeat Origin in Vary", function()
      local res = simple({ origins = { ORIGIN } }, { Origin = ORIGIN }, function()
        return { status = 200, headers = { Vary = "origin" }, body = "" }
      end)
      assert.equal("origin", res.headers["vary"])
    end)

    it("echoes the origin instead of * when credentials are on", function()
      local res = simple({ credentials = true }, { Origin = ORIGIN })
      assert.equal(ORIGIN, res.headers["access-control-allow-origin"])
      assert.equal("true", res.headers["access-control-allow-credentials"])
    end)

    it("adds the headers to gateway-made errors too", function()
      local res = tp.run_plugin("cors", { origins = { ORIGIN } }, {
        path = "/x", headers = { Origin = ORIGIN },
        plugins = { { name = "key-auth" } },
      })
      assert.equal(401, res.status)
      assert.equal(ORIGIN, res.headers["access-control-allow-origin"])
    end)

    it("adds nothing without an Origin when allow_origin_absent is false", function()
      local res = simple({ allow_origin_absent = false }, {})
      assert.is_nil(res.headers["access-control-allow-origin"])
      assert.equal("*", simple({}, {}).headers["access-control-allow-origin"])
    end)
  end)
end)
