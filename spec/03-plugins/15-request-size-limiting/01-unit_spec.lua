-- request-size-limiting in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local handler = tp.load_plugin("request-size-limiting").handler

local function run(conf, body, headers)
  return tp.run_plugin("request-size-limiting", conf, { method = "POST", path = "/x",
                                                       body = body, headers = headers })
end

local function with_length(body, extra)
  local h = { ["Content-Length"] = tostring(#body) }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

describe("Plugin: request-size-limiting (schema)", function()
  local plugin = tp.load_plugin("request-size-limiting")

  it("has Kong's defaults", function()
    assert.same({ allowed_payload_size = 128, size_unit = "megabytes",
                  require_content_length = false }, assert(tp.validate(plugin, {})))
  end)

  it("rejects an unknown unit and a negative size", function()
    assert.is_nil(tp.validate(plugin, { size_unit = "gigabytes" }))
    assert.is_nil(tp.validate(plugin, { allowed_payload_size = -1 }))
  end)
end)

describe("Plugin: request-size-limiting (access)", function()
  before_each(function() tp.reset() end)

  describe("config.allowed_payload_size / size_unit", function()
    it("returns 413 when the Content-Length is over the limit", function()
      local body = ("x"):rep(11)
      local res = run({ allowed_payload_size = 10, size_unit = "bytes" }, body, with_length(body))
      assert.equal(413, res.status)
      assert.same({ message = handler.ERR_TOO_LARGE }, res.body)
      assert.same({ message = "Request size limit exceeded" }, res.body)
      assert.is_nil(res.upstream)
    end)

    it("lets a body exactly at the limit through", function()
      local body = ("x"):rep(10)
      local res = run({ allowed_payload_size = 10, size_unit = "bytes" }, body, with_length(body))
      assert.equal(200, res.status)
      assert.equal(body, res.upstream.body)
    end)

    it("counts kilobytes and megabytes in powers of two", function()
      local kb = ("x"):rep(1024)
      assert.equal(200, run({ allowed_payload_size = 1, size_unit = "kilobytes" }, kb,
                            with_length(kb)).status)
      assert.equal(413, run({ allowed_payload_size = 1, size_unit = "kilobytes" }, kb .. "x",
                            with_length(kb .. "x")).status)
      assert.equal(413, run({ allowed_payload_size = 1 }, "",
                            { ["Content-Length"] = tostring(1024 * 1024 + 1) }).status)
      assert.equal(200, run({ allowed_payload_size = 1 }, "",
                            { ["Content-Length"] = tostring(1024 * 1024) }).status)
    end)

    it("measures a body sent without Content-Length", function()
      local conf = { allowed_payload_size = 4, size_unit = "bytes" }
      assert.equal(413, run(conf, "12345", { ["Transfer-Encoding"] = "chunked" }).status)
      assert.equal(200, run(conf, "1234", { ["Transfer-Encoding"] = "chunked" }).status)
    end)

    it("measures the body when the Content-Length is not a number", function()
      local conf = { allowed_payload_size = 4, size_unit = "bytes" }
      assert.equal(413, run(conf, "12345", { ["Content-Length"] = "abc" }).status)
    end)

    it("answers 417 to a client waiting on 100-continue", function()
      local res = run({ allowed_payload_size = 1, size_unit = "bytes" }, "",
                      { ["Content-Length"] = "2", Expect = "100-continue" })
      assert.equal(417, res.status)
      assert.same({ message = "Request size limit exceeded" }, res.body)
    end)
  end)

  describe("config.require_content_length", function()
    it("returns 411 when there is no Content-Length", function()
      local res = run({ require_content_length = true }, "abc", {})
      assert.equal(411, res.status)
      assert.same({ message = handler.ERR_NO_LENGTH }, res.body)
    end)

    it("accepts a request that has one", function()
      assert.equal(200, run({ require_content_length = true }, "abc", with_length("abc")).status)
    end)
  end)
end)
