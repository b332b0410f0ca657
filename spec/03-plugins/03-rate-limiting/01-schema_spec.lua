-- rate-limiting schema: Kong's fields and defaults, turnpike's rate/burst, Kong 3's flat
-- redis_* names, and the cross-field checks.
local schema = require "turnpike.schema"
local plugin_schema = require "plugins.rate-limiting.schema"

local function validate(conf)
  return schema.validate(plugin_schema, conf)
end

describe("Plugin: rate-limiting (schema)", function()
  it("fills Kong's defaults", function()
    local conf = assert(validate({ minute = 10 }))
    assert.equal(10, conf.minute)
    assert.equal("consumer", conf.limit_by)
    assert.equal("local", conf.policy)
    assert.is_true(conf.fault_tolerant)
    assert.is_false(conf.hide_client_headers)
    assert.equal(429, conf.error_code)
    assert.equal("API rate limit exceeded", conf.error_message)
    assert.equal(-1, conf.sync_rate)
    assert.equal(0, conf.burst)
    assert.is_false(conf.nodelay)
    assert.equal(6379, conf.redis.port)
    assert.equal(0, conf.redis.database)
    assert.equal(2000, conf.redis.timeout)
    assert.is_false(conf.redis.ssl)
  end)

  it("accepts every window", function()
    local conf = assert(validate({ second = 1, minute = 2, hour = 3, day = 4, month = 5,
      year = 6 }))
    assert.equal(6, conf.year)
  end)

  describe("config.<window>", function()
    it("requires at least one window or a rate", function()
      local ok, err = validate({})
      assert.is_nil(ok)
      assert.matches("at least one of these fields must be non%-empty", err)
      assert.matches("config.rate", err, 1, true)
      assert.truthy(validate({ rate = 5 }))
    end)

    it("must be positive numbers", function()
      local ok, err = validate({ minute = 0 })
      assert.is_nil(ok)
      assert.matches("config.minute", err, 1, true)
      ok, err = validate({ minute = "ten" })
      assert.is_nil(ok)
      assert.matches("config.minute: expected a number", err, 1, true)
    end)

    it("refuses a longer window with a lower limit", function()
      local ok, err = validate({ second = 10, hour = 5 })
      assert.is_nil(ok)
      assert.matches("the limit for hour (5) cannot be lower than the limit for second (10)",
        err, 1, true)
      assert.truthy(validate({ second = 10, hour = 10 }))
    end)
  end)

  describe("config.rate / config.burst", function()
    it("takes NGINX-like rate, burst and nodelay", function()
      local conf = assert(validate({ rate = 0.5, burst = 4, nodelay = true }))
      assert.equal(0.5, conf.rate)
      assert.equal(4, conf.burst)
      assert.is_true(conf.nodelay)
    end)

    it("refuses a non-positive rate and a negative burst", function()
      assert.is_nil((validate({ rate = 0 })))
      local ok, err = validate({ rate = 1, burst = -1 })
      assert.is_nil(ok)
      assert.matches("config.burst", err, 1, true)
    end)
  end)

  describe("config.limit_by", function()
    it("accepts Kong's values only", function()
      for _, v in ipairs({ "consumer", "credential", "ip", "service" }) do
        assert.truthy(validate({ minute = 1, limit_by = v }))
      end
      local ok, err = validate({ minute = 1, limit_by = "planet" })
      assert.is_nil(ok)
      assert.matches("config.limit_by", err, 1, true)
    end)

    it("needs header_name with header", function()
      local ok, err = validate({ minute = 1, limit_by = "header" })
      assert.is_nil(ok)
      assert.matches("config.header_name: required field missing", err, 1, true)
      assert.truthy(validate({ minute = 1, limit_by = "header", header_name = "X-Tenant" }))
    end)

    it("needs path with path", function()
      local ok, err = validate({ minute = 1, limit_by = "path" })
      assert.is_nil(ok)
      assert.matches("config.path: required field missing", err, 1, true)
      assert.truthy(validate({ minute = 1, limit_by = "path", path = "/orders" }))
    end)
  end)

  describe("config.policy", function()
    it("accepts local, cluster and redis", function()
      assert.truthy(validate({ minute = 1, policy = "cluster" }))
      assert.is_nil((validate({ minute = 1, policy = "memcached" })))
    end)

    it("needs redis.host with redis", function()
      local ok, err = validate({ minute = 1, policy = "redis" })
      assert.is_nil(ok)
      assert.matches("config.redis.host: required field missing", err, 1, true)
      local conf = assert(validate({ minute = 1, policy = "redis",
        redis = { host = "127.0.0.1", database = 3 } }))
      assert.equal("127.0.0.1", conf.redis.host)
      assert.equal(6379, conf.redis.port)
      assert.equal(3, conf.redis.database)
    end)
  end)

  describe("Kong 3 flat redis_* fields", function()
    it("are mapped into config.redis", function()
      local conf = assert(validate({ minute = 1, policy = "redis", redis_host = "10.0.0.7" }))
      assert.equal("10.0.0.7", conf.redis.host)
      assert.is_nil(conf.redis_host)
      assert.equal(6379, conf.redis.port)
    end)

    it("are type checked", function()
      local ok, err = validate({ minute = 1, redis_port = "x" })
      assert.is_nil(ok)
      assert.matches("config.redis_port", err, 1, true)
    end)

    it("combine with each other", function()
      local conf = assert(validate({ minute = 1, policy = "redis", redis_host = "h",
        redis_port = 6380, redis_password = "pw", redis_database = 2, redis_timeout = 50 }))
      assert.same({ "h", 6380, "pw", 2, 50 }, { conf.redis.host, conf.redis.port,
        conf.redis.password, conf.redis.database, conf.redis.timeout })
    end)
  end)
end)
