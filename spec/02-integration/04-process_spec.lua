-- The process model: master + workers, a killed worker replaced, graceful and immediate stop,
-- the pid file.
local helpers = require "spec.helpers"

local SIGKILL, SIGTERM, SIGQUIT = 9, 15, 3

local function config(up, slow)
  return {
    services = {
      { name = "echo", url = "http://127.0.0.1:" .. up.port,
        routes = { { name = "echo", paths = { "/" } } } },
      { name = "slow", url = "http://127.0.0.1:" .. slow.port,
        routes = { { name = "slow", paths = { "/slow" } } } },
    },
  }
end

describe("Core: processes", function()
  local up, slow

  lazy_setup(function()
    up = helpers.mock_upstream()
    slow = helpers.mock_upstream { handler = function(req)
      local res = helpers.echo_handler(req)
      res.delay_ms = 700
      return res
    end }
  end)

  lazy_teardown(helpers.cleanup)

  describe("workers: 2", function()
    local gw

    lazy_setup(function()
      gw = helpers.start_turnpike { config = config(up, slow), workers = 2 }
    end)

    lazy_teardown(function() gw:stop() end)

    it("starts two live worker processes besides the master", function()
      local pids = gw:worker_pids()
      assert.is_number(pids[0])
      assert.is_number(pids[1])
      assert.are_not.equal(pids[0], pids[1])
      for _, pid in pairs(pids) do
        assert.is_true(helpers.pid_alive(pid))
        assert.are_not.equal(gw.pid, pid)
      end
    end)

    it("writes the master's pid to <prefix>/turnpike.pid", function()
      local text = helpers.read_file(gw.prefix .. "/turnpike.pid")
      assert.equal(gw.pid, tonumber(text:match("%d+")))
    end)

    it("replaces a worker killed with SIGKILL and keeps answering", function()
      local before = gw:worker_pids()
      assert.is_true(helpers.pid_alive(before[0]))
      assert.equal(0, helpers.kill(before[0], SIGKILL))
      local replaced = helpers.wait_until(function()
        local now = gw:worker_pids()
        return now[0] and now[0] ~= before[0] and helpers.pid_alive(now[0]) and now[0]
      end, 5, "a new worker 0")
      assert.are_not.equal(before[0], replaced)
      assert.equal(before[1], gw:worker_pids()[1])
      for i = 1, 10 do
        local res = assert(helpers.http(gw.proxy_port, { path = "/after-kill/" .. i }))
        assert.equal(200, res.status)
      end
      assert.is_true(gw:alive())
    end)
  end)

  describe("SIGTERM", function()
    it("finishes an in-flight request, then exits 0 and removes the pid file", function()
      local gw = helpers.start_turnpike { config = config(up, slow) }
      slow:reset()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("GET /slow/inflight HTTP/1.1\r\nHost: x\r\n\r\n"))
      slow:wait_requests(1, 5)
      assert.is_true(gw:kill(SIGTERM))
      local res, err = r:read_response { timeout_ms = 5000 }
      assert(res, "the in-flight request was dropped: " .. tostring(err))
      assert.equal(200, res.status)
      assert.equal("/inflight", res:json().path)
      assert.is_true(r:closed(5))
      local code, sig = gw:wait(5)
      assert.is_nil(sig)
      assert.equal(0, code)
      assert.is_nil(io.open(gw.prefix .. "/turnpike.pid"))
      gw:stop()
    end)

    it("serves no new connection while draining", function()
      local gw = helpers.start_turnpike { config = config(up, slow) }
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("GET /slow/drain HTTP/1.1\r\nHost: x\r\n\r\n"))
      helpers.wait_until(function()
        for _, q in ipairs(slow:requests()) do if q.path == "/drain" then return true end end
      end, 5, "the slow request upstream")
      assert.is_true(gw:kill(SIGTERM))
      helpers.wait_until(function()
        return helpers.http(gw.proxy_port, { path = "/new", timeout_ms = 300 }) == nil
      end, 5, "new connections refused")
      assert.equal(200, assert(r:read_response { timeout_ms = 5000 }).status)
      assert.equal(0, gw:wait(5))
      gw:stop()
    end)
  end)

  describe("SIGQUIT", function()
    it("exits at once, even with a request in flight", function()
      local gw = helpers.start_turnpike { config = config(up, slow) }
      local pids = gw:worker_pids()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("GET /slow/quit HTTP/1.1\r\nHost: x\r\n\r\n"))
      helpers.wait_until(function()
        for _, q in ipairs(slow:requests()) do if q.path == "/quit" then return true end end
      end, 5, "the slow request upstream")
      local t0 = helpers.now_ms()
      assert.is_true(gw:kill(SIGQUIT))
      local code = gw:wait(2)
      local took = helpers.now_ms() - t0
      assert.equal(0, code)
      assert.is_true(took < 500, "SIGQUIT took " .. took .. " ms")
      assert.is_false(helpers.pid_alive(pids[0]))
      -- the connection is cut, not answered
      local res = r:read_response { timeout_ms = 2000 }
      assert.is_nil(res)
      gw:stop()
    end)
  end)
end)
