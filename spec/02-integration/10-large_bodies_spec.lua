-- A 1 GB body through the gateway, both ways, keeps the worker's memory flat:
-- bodies stream with back-pressure and are never buffered whole.
local helpers = require "spec.helpers"

local GB = 1024 * 1024 * 1024
local MB = 1024 * 1024
local FLAT_KB = 32 * 1024 -- the worker may grow by at most this much while a GB passes

local function rss_kb(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

describe("Core: large bodies", function()
  local gw, sink_pid, sink_port, worker

  lazy_setup(function()
    sink_port = helpers.free_port()
    local p = io.popen(("python3 %s/spec/fixtures/large/sink.py %d > /dev/null 2>&1 & echo $!")
                       :format(TURNPIKE_HOME, sink_port))
    sink_pid = tonumber(p:read("*l"))
    p:close()
    gw = helpers.start_turnpike {
      config = {
        turnpike = { client_max_body_size = 0, access_log = "off" },
        services = { { name = "sink", url = "http://127.0.0.1:" .. sink_port,
                       routes = { { name = "r", paths = { "/sink" } } } } },
      },
    }
    helpers.wait_until(function()
      local c = helpers.tcp_connect(sink_port, 200)
      if c then c:close() return true end
    end, 5, "the sink upstream to listen")
    local pids = gw:worker_pids()
    worker = pids[0] or pids[1]
  end)

  lazy_teardown(function()
    if sink_pid then helpers.kill(sink_pid, 9) end
    helpers.cleanup()
  end)

  it("streams a 1 GB request body upstream with flat memory", function()
    local c = assert(helpers.tcp_connect(gw.proxy_port, 2000))
    assert(c:send(("POST /sink/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"):format(GB)))
    local chunk = string.rep("\0", MB)
    local base, peak = rss_kb(worker), 0
    for i = 1, GB / MB do
      assert(c:send(chunk, 30000))
      if i % 64 == 0 then peak = math.max(peak, rss_kb(worker)) end
    end
    local deadline = helpers.now_ms() + 30000
    local head = assert(c:read_until("\r\n\r\n", deadline))
    assert.matches("^HTTP/1.1 200", head)
    local len = tonumber(head:match("[Cc]ontent%-[Ll]ength: (%d+)"))
    assert.equal(tostring(GB), c:read_n(len, deadline))
    c:close()
    assert.is_true(peak - base < FLAT_KB,
                   ("worker RSS grew by %d KB while 1 GB went upstream"):format(peak - base))
  end)

  it("streams a 1 GB response body to the client with flat memory", function()
    local c = assert(helpers.tcp_connect(gw.proxy_port, 2000))
    assert(c:send(("GET /sink/bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n"):format(GB)))
    local deadline = helpers.now_ms() + 60000
    local head = assert(c:read_until("\r\n\r\n", deadline))
    assert.matches("^HTTP/1.1 200", head)
    assert.equal(tostring(GB), head:match("[Cc]ontent%-[Ll]ength: (%d+)"))
    local got, base, peak, next_probe = #c.buf, rss_kb(worker), 0, 64 * MB
    c.buf = ""
    while got < GB do
      assert(c:fill(deadline))
      got = got + #c.buf
      c.buf = ""
      if got >= next_probe then
        peak = math.max(peak, rss_kb(worker))
        next_probe = next_probe + 64 * MB
      end
    end
    c:close()
    assert.equal(GB, got)
    assert.is_true(peak - base < FLAT_KB,
                   ("worker RSS grew by %d KB while 1 GB came down"):format(peak - base))
  end)
end)
