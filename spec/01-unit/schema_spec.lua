-- turnpike.schema: Kong-shaped plugin schema validation, one rule at a time.
local schema = require "turnpike.schema"
local typedefs = require "kong.db.schema.typedefs"
local cjson = require "cjson"

-- A plugin schema whose config record has the given fields (and optional entity checks).
local function plugin(fields, entity_checks, record_checks)
  return { name = "t", fields = {
    { protocols = typedefs.protocols_http },
    { config = { type = "record", fields = fields, entity_checks = record_checks } },
  }, entity_checks = entity_checks }
end

local function one(def)
  return plugin({ { x = def } })
end

local function ok(s, conf)
  local out, err = schema.validate(s, conf)
  assert.is_nil(err)
  return out
end

local function bad(s, conf, msg)
  local out, err, errs = schema.validate(s, conf)
  assert.is_nil(out)
  assert.equal(msg, err)
  assert.is_table(errs)
  return errs
end

describe("schema.validate", function()
  describe("types", function()
    it("checks strings, numbers, integers and booleans", function()
      bad(one { type = "string" }, { x = 1 }, "config.x: expected a string")
      bad(one { type = "number" }, { x = "1" }, "config.x: expected a number")
      bad(one { type = "integer" }, { x = 1.5 }, "config.x: expected an integer")
      bad(one { type = "boolean" }, { x = "true" }, "config.x: expected a boolean")
      assert.same({ x = 3 }, ok(one { type = "integer" }, { x = 3 }))
      assert.same({ x = 0.5 }, ok(one { type = "number" }, { x = 0.5 }))
    end)

    it("rejects empty strings unless len_min allows them", function()
      bad(one { type = "string" }, { x = "" }, "config.x: length must be at least 1")
      assert.same({ x = "" }, ok(one { type = "string", len_min = 0 }, { x = "" }))
    end)

    it("checks arrays and their elements", function()
      local s = one { type = "array", elements = { type = "integer" } }
      assert.same({ x = { 1, 2, 2 } }, ok(s, { x = { 1, 2, 2 } }))
      bad(s, { x = { a = 1 } }, "config.x: expected an array")
      bad(s, { x = { 1, "two" } }, "config.x[2]: expected an integer")
    end)

    it("deduplicates sets", function()
      local s = one { type = "set", elements = { type = "string" } }
      assert.same({ x = { "a", "b" } }, ok(s, { x = { "a", "b", "a" } }))
    end)

    it("checks map keys and values", function()
      local s = one { type = "map", keys = { type = "string", match = "^%l+$" },
        values = { type = "number" } }
      assert.same({ x = { a = 1 } }, ok(s, { x = { a = 1 } }))
      bad(s, { x = { a = "1" } }, "config.x.a: expected a number")
      bad(s, { x = { B = 1 } }, "config.x.B: invalid value: B")
      bad(s, { x = "a=1" }, "config.x: expected a map")
    end)

    it("checks nested records and names the full path", function()
      local s = plugin { { redis = { type = "record", fields = {
        { host = { type = "string" } }, { port = { type = "integer", default = 6379 } } } } } }
      bad(s, { redis = { host = 1 } }, "config.redis.host: expected a string")
      bad(s, { redis = "localhost" }, "config.redis: expected a record")
      assert.same({ redis = { host = "h", port = 6379 } }, ok(s, { redis = { host = "h" } }))
    end)

    it("rejects unknown fields", function()
      bad(one { type = "string" }, { x = "a", y = 1 }, "config.y: unknown field")
      bad(plugin { { r = { type = "record", fields = {} } } }, { r = { z = 1 } },
        "config.r.z: unknown field")
    end)

    it("accepts other top-level schema fields and a missing config", function()
      assert.same({ x = "d" }, ok(one { type = "string", default = "d" }, nil))
    end)
  end)

  describe("required, default and null", function()
    it("reports a missing required field", function()
      bad(one { type = "string", required = true }, {}, "config.x: required field missing")
    end)

    it("fills defaults without sharing the default table", function()
      local s = one { type = "array", elements = { type = "string" }, default = { "a" } }
      local a, b = ok(s, {}), ok(s, {})
      assert.same({ "a" }, a.x)
      a.x[1] = "changed"
      assert.same({ "a" }, b.x)
    end)

    it("materialises absent records with their defaults, recursively", function()
      local s = plugin { { outer = { type = "record", fields = {
        { inner = { type = "record", fields = { { n = { type = "integer", default = 7 } } } } },
        { opt = { type = "string" } } } } } }
      assert.same({ outer = { inner = { n = 7 } } }, ok(s, {}))
    end)

    it("treats null as unset: no default, and an error when required", function()
      assert.same({}, ok(one { type = "string", default = "d" }, { x = cjson.null }))
      bad(one { type = "string", required = true }, { x = cjson.null },
        "config.x: required field missing")
    end)

    it("does not change its input", function()
      local input = { x = { 1, 1 } }
      ok(one { type = "set", elements = { type = "integer" } }, input)
      assert.same({ x = { 1, 1 } }, input)
    end)
  end)

  describe("validators", function()
    it("one_of", function()
      bad(one { type = "string", one_of = { "a", "b" } }, { x = "c" },
        "config.x: expected one of: a, b")
    end)

    it("between and gt", function()
      bad(one { type = "integer", between = { 1, 5 } }, { x = 6 },
        "config.x: value should be between 1 and 5")
      bad(one { type = "number", gt = 0 }, { x = 0 }, "config.x: value must be greater than 0")
      ok(one { type = "number", gt = 0 }, { x = 0.1 })
    end)

    it("len_min and len_max on strings and arrays", function()
      bad(one { type = "string", len_min = 3 }, { x = "ab" }, "config.x: length must be at least 3")
      bad(one { type = "string", len_max = 2 }, { x = "abc" }, "config.x: length must be at most 2")
      bad(one { type = "array", len_min = 1 }, { x = {} }, "config.x: length must be at least 1")
    end)

    it("match and match_none", function()
      bad(one { type = "string", match = "^%d+$" }, { x = "1a" }, "config.x: invalid value: 1a")
      bad(one { type = "string", match_none = { { pattern = "^_", err = "no leading _" } } },
        { x = "_a" }, "config.x: no leading _")
    end)

    it("eq = null refuses any value (typedefs.no_consumer)", function()
      local s = { name = "t", fields = { { consumer = typedefs.no_consumer } } }
      assert.equal(cjson.null, schema.field(s, "consumer").eq)
    end)

    it("custom_validator", function()
      local s = one { type = "string", custom_validator = function(v)
        if v == "bad" then return nil, "is bad" end
        return true
      end }
      bad(s, { x = "bad" }, "config.x: is bad")
      ok(s, { x = "good" })
    end)

    it("validates array elements with typedefs", function()
      local s = one { type = "array", elements = typedefs.ip_or_cidr }
      ok(s, { x = { "10.0.0.0/8", "::1" } })
      bad(s, { x = { "10.0.0.300" } }, "config.x[1]: invalid ip address: 10.0.0.300")
    end)

    it("typedefs can be called with overrides", function()
      local d = typedefs.port { default = 80 }
      assert.equal(80, d.default)
      assert.is_nil(typedefs.port.default)
    end)
  end)

  describe("shorthand_fields", function()
    it("expands a shorthand into the real fields", function()
      local s = { name = "t", fields = { { config = { type = "record",
        shorthand_fields = { { redis_host = { type = "string", func = function(v)
          return { redis = { host = v } } end } } },
        fields = { { redis = { type = "record", fields = { { host = { type = "string" } } } } } } } } } }
      assert.same({ redis = { host = "h" } }, ok(s, { redis_host = "h" }))
      assert.same({ redis = { host = "explicit" } },
        ok(s, { redis_host = "h", redis = { host = "explicit" } }))
      bad(s, { redis_host = 1 }, "config.redis_host: expected a string")
    end)

    it("merges several shorthands into the same nested record", function()
      local function short(name)
        return { ["redis_" .. name] = { type = "string", func = function(v)
          return { redis = { [name] = v } } end } }
      end
      local s = { name = "t", fields = { { config = { type = "record",
        shorthand_fields = { short("host"), short("password") },
        fields = { { redis = { type = "record", fields = {
          { host = { type = "string" } }, { password = { type = "string" } } } } } } } } } }
      assert.same({ redis = { host = "h", password = "p" } },
        ok(s, { redis_host = "h", redis_password = "p" }))
    end)
  end)

  describe("entity_checks", function()
    local fields = { { a = { type = "number" } }, { b = { type = "number" } },
      { mode = { type = "string" } } }

    it("at_least_one_of (top level, config.* names)", function()
      local s = plugin(fields, { { at_least_one_of = { "config.a", "config.b" } } })
      bad(s, {}, "at least one of these fields must be non-empty: 'config.a', 'config.b'")
      ok(s, { b = 1 })
    end)

    it("only_one_of", function()
      local s = plugin(fields, nil, { { only_one_of = { "a", "b" } } })
      bad(s, { a = 1, b = 2 }, "config: exactly one of these fields must be non-empty: 'a', 'b'")
      bad(s, {}, "config: exactly one of these fields must be non-empty: 'a', 'b'")
      ok(s, { a = 1 })
    end)

    it("mutually_exclusive", function()
      local s = plugin(fields, { { mutually_exclusive = { "config.a", "config.b" } } })
      bad(s, { a = 1, b = 2 }, "only one or none of these fields must be set: 'config.a', 'config.b'")
      ok(s, {})
    end)

    it("conditional", function()
      local s = plugin(fields, { { conditional = { if_field = "config.mode",
        if_match = { eq = "fixed" }, then_field = "config.a", then_match = { required = true } } } })
      bad(s, { mode = "fixed" }, "config.a: required field missing")
      ok(s, { mode = "other" })
      ok(s, { mode = "fixed", a = 1 })
      local s2 = plugin(fields, { { conditional = { if_field = "config.mode",
        if_match = { eq = "small" }, then_field = "config.a", then_match = { between = { 0, 10 } } } } })
      bad(s2, { mode = "small", a = 11 }, "config.a: value should be between 0 and 10")
    end)

    it("conditional_at_least_one_of", function()
      local s = plugin(fields, { { conditional_at_least_one_of = { if_field = "config.mode",
        if_match = { eq = "x" }, then_at_least_one_of = { "config.a", "config.b" },
        then_err = "mode x needs %s" } } })
      bad(s, { mode = "x" }, "mode x needs 'config.a', 'config.b'")
      ok(s, { mode = "x", a = 1 })
      ok(s, { mode = "y" })
    end)

    it("custom_entity_check", function()
      local s = plugin(fields, { { custom_entity_check = { field_sources = { "config.a" },
        fn = function(e)
          if e.config.a and e.config.b and e.config.a > e.config.b then return nil, "a > b" end
          return true
        end } } })
      bad(s, { a = 2, b = 1 }, "a > b")
      ok(s, { a = 1, b = 2 })
    end)

    it("does not run entity checks when fields are invalid", function()
      local s = plugin(fields, { { at_least_one_of = { "config.a" } } })
      bad(s, { b = "x" }, "config.b: expected a number")
    end)
  end)

  it("returns every error with its keys", function()
    local errs = bad(plugin { { a = { type = "number" } }, { b = { type = "string" } } },
      { a = "x", b = 1 }, "config.a: expected a number")
    assert.equal(2, #errs)
    assert.same({ "config", "b" }, errs[2].keys)
    assert.equal("config.b", errs[2].path)
  end)
end)
