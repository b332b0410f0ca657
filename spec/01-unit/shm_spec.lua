-- turnpike.ffi.shm: the Lua bindings over the shared-memory zone, the rate-limit hot paths
-- and the circuit breaker (runs inside the binary: `build/turnpike spec spec/01-unit/shm_spec.lua`).
local shm = require "turnpike.ffi.shm"

local NOW = 1700000000000 -- 2023-11-14T22:13:20Z

describe("turnpike.ffi.shm", function()
  before_each(function()
    for _, d in ipairs({ "kv", "ratelimit", "breaker", "cache_meta" }) do
      assert(shm.flush(d))
    end
  end)

  describe("dicts", function()
    it("stores and reads strings, numbers and booleans", function()
      assert.is_true(shm.set("kv", "s", "hello"))
      assert.is_true(shm.set("kv", "n", 4.5))
      assert.is_true(shm.set("kv", "t", true))
      assert.is_true(shm.set("kv", "f", false))
      assert.equal("hello", shm.get("kv", "s"))
      assert.equal(4.5, shm.get("kv", "n"))
      assert.is_true(shm.get("kv", "t"))
      assert.is_false(shm.get("kv", "f"))
      assert.is_nil(shm.get("kv", "missing"))
    end)

    it("reads values longer than the first buffer", function()
      local v = string.rep("x", 500)
      assert.is_true(shm.set("kv", "long", v))
      assert.equal(v, shm.get("kv", "long"))
    end)

    it("deletes with delete() and with set(nil)", function()
      shm.set("kv", "a", "1")
      shm.set("kv", "b", "2")
      assert.is_true(shm.delete("kv", "a"))
      assert.is_true(shm.set("kv", "b", nil))
      assert.is_nil(shm.get("kv", "a"))
      assert.is_nil(shm.get("kv", "b"))
    end)

    it("increments from init and refuses non-numbers", function()
      assert.equal(11, shm.incr("kv", "c", 1, 10))
      assert.equal(13, shm.incr("kv", "c", 2, 10))
      shm.set("kv", "s", "x")
      local v, err = shm.incr("kv", "s", 1)
      assert.is_nil(v)
      assert.equal("not a number", err)
    end)

    it("expires entries after ttl_ms", function()
      shm.set("kv", "e", "v", 30)
      assert.equal("v", shm.get("kv", "e"))
      local deadline = os.clock() + 5
      while shm.get("kv", "e") and os.clock() < deadline do end
      assert.is_nil(shm.get("kv", "e"))
    end)

    it("reports errors as nil, message", function()
      local ok, err = shm.set("kv", "big", string.rep("x", 513))
      assert.is_nil(ok)
      assert.equal("value too large", err)
      ok, err = shm.set("kv", string.rep("k", 129), "v")
      assert.is_nil(ok)
      assert.equal("key empty or too long", err)
      ok, err = shm.set("nope", "k", "v")
      assert.is_nil(ok)
      assert.equal("no such dict", err)
    end)

    it("raises on caller bugs", function()
      assert.has_error(function() shm.get(1, "k") end, "dict must be a string")
      assert.has_error(function() shm.set("kv", "k", {}) end)
    end)

    it("keeps stats", function()
      shm.set("kv", "a", 1)
      shm.set("kv", "b", 2)
      local st = assert(shm.stats("kv"))
      assert.equal(2, st.used)
      assert.equal(512, st.value_size)
      assert.is_true(st.capacity > 100)
      assert.is_number(st.evictions)
    end)

    it("lists workers (none in spec mode)", function()
      assert.same({}, shm.workers())
    end)
  end)

  describe("bucket_take", function()
    it("allows burst at once, then refills at rate", function()
      for i = 1, 3 do
        local ok, rem, wait = shm.bucket_take("b", 2, 3, 1, NOW)
        assert.is_true(ok)
        assert.equal(3 - i, rem)
        assert.equal(0, wait)
      end
      local ok, rem, wait = shm.bucket_take("b", 2, 3, 1, NOW)
      assert.is_false(ok)
      assert.equal(0, rem)
      assert.equal(500, wait)
      assert.is_true((shm.bucket_take("b", 2, 3, 1, NOW + 500)))
    end)

    it("returns a delay without nodelay", function()
      assert.same({ true, 1, 0 }, { shm.bucket_take("d", 4, 2, 1, NOW, false) })
      assert.same({ true, 0, 250 }, { shm.bucket_take("d", 4, 2, 1, NOW, false) })
    end)

    it("rejects a cost above burst", function()
      local ok, err = shm.bucket_take("x", 1, 1, 2, NOW)
      assert.is_nil(ok)
      assert.equal("invalid argument", err)
    end)
  end)

  describe("window_incr", function()
    it("lets exactly limit through and does not count denials", function()
      for i = 1, 5 do
        local ok, count, reset = shm.window_incr("w", 60, 5, 1, NOW)
        assert.is_true(ok)
        assert.equal(i, count)
        assert.equal(40000, reset) -- NOW is 20 s into its minute
      end
      local ok, count = shm.window_incr("w", 60, 5, 1, NOW)
      assert.is_false(ok)
      assert.equal(5, count)
      ok, count = shm.window_incr("w", 60, 5, 1, NOW + 40000)
      assert.is_true(ok)
      assert.equal(1, count)
    end)

    it("uses calendar months", function()
      local _, _, reset = shm.window_incr("m", shm.MONTH, 5, 1, NOW)
      -- 2023-12-01T00:00:00Z is 1701388800
      assert.equal(1701388800000 - NOW, reset)
    end)

    it("computes periods on UTC boundaries", function()
      assert.same({ 1699999980000, 1700000040000 }, { shm.period(60, NOW) })
      -- 2023-11-01 .. 2023-12-01, 2023-01-01 .. 2024-01-01
      assert.same({ 1698796800000, 1701388800000 }, { shm.period(shm.MONTH, NOW) })
      assert.same({ 1672531200000, 1704067200000 }, { shm.period(shm.YEAR, NOW) })
      assert.has_error(function() shm.period(0, NOW) end)
    end)

    it("counts several windows all or nothing", function()
      local ok, counts = shm.windows_incr("mw", { 1, 60 }, { 1, 10 }, 1, NOW)
      assert.is_true(ok)
      assert.same({ 1, 1 }, counts)
      ok, counts = shm.windows_incr("mw", { 1, 60 }, { 1, 10 }, 1, NOW)
      assert.is_false(ok)
      assert.same({ 1, 1 }, counts)
      local resets
      ok, counts, resets = shm.windows_incr("mw", { 1, 60 }, { 1, 10 }, 1, NOW + 1000)
      assert.is_true(ok)
      assert.same({ 1, 2 }, counts)
      assert.same({ 1000, 39000 }, resets)
    end)
  end)

  describe("breaker", function()
    it("opens, goes half-open, and closes", function()
      local conf = shm.breaker_conf { tcp_failures = 2, successes = 1, open_ms = 1000 }
      assert.equal("closed", shm.breaker_report("t", conf, NOW, "tcp_failure"))
      assert.equal("open", shm.breaker_report("t", conf, NOW, "tcp_failure"))
      local ok, retry = shm.breaker_allow("t", conf, NOW + 400)
      assert.is_false(ok)
      assert.equal(600, retry)
      local info = shm.breaker_state("t", NOW + 400)
      assert.equal("open", info.state)
      assert.equal(1, info.trips)
      assert.equal("half_open", shm.breaker_state("t", NOW + 1000).state)
      assert.is_true((shm.breaker_allow("t", conf, NOW + 1000)))
      assert.is_false((shm.breaker_allow("t", conf, NOW + 1000)))
      assert.equal("closed", shm.breaker_report("t", conf, NOW + 1001, "success"))
      assert.equal("closed", shm.breaker_state("t", NOW + 1001).state)
    end)

    it("raises on an unknown outcome", function()
      local conf = shm.breaker_conf {}
      assert.has_error(function() shm.breaker_report("t", conf, NOW, "oops") end)
    end)
  end)
end)
