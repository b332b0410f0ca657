-- Router: a table of cases. Each case builds a router from `routes` (services default to
-- SVC, path "/base") and sends one request; `want` names the matching route (or false
-- for no match) and optionally the upstream path, captures and matched host.
local router = require("turnpike.router")

local SVC = { id = "s1", name = "svc", protocol = "http", host = "up", port = 80, path = "/base" }
local NOPATH = { id = "s2", name = "nopath", protocol = "http", host = "up", port = 80 }

local function svc_path(p)
  return { id = "s-" .. tostring(p), name = "svc", protocol = "http", host = "up", port = 80, path = p }
end

-- a route with Kong's defaults filled in, as the config loader gives them
local function R(name, t)
  t.name = name
  t.id = t.id or ("id-" .. name)
  t.service = t.service or SVC
  if t.strip_path == nil then t.strip_path = true end
  t.preserve_host = t.preserve_host or false
  t.regex_priority = t.regex_priority or 0
  t.protocols = t.protocols or { "http", "https" }
  t.path_handling = t.path_handling or "v0"
  return t
end

local CASES = {
  -- plain prefixes
  { "prefix matches the exact path",
    { R("a", { paths = { "/api" } }) }, { path = "/api" }, { route = "a", upstream = "/base" } },
  { "prefix matches a sub path",
    { R("a", { paths = { "/api" } }) }, { path = "/api/x/y" }, { route = "a", upstream = "/base/x/y" } },
  { "prefix matches by string, as Kong (/api matches /apix)",
    { R("a", { paths = { "/api" } }) }, { path = "/apix" }, { route = "a", upstream = "/base/x" } },
  { "prefix does not match a shorter path",
    { R("a", { paths = { "/api" } }) }, { path = "/ap" }, { route = false } },
  { "no route at all",
    {}, { path = "/" }, { route = false } },
  { "longest prefix wins (/api/v2 over /api)",
    { R("api", { paths = { "/api" } }), R("v2", { paths = { "/api/v2" } }) },
    { path = "/api/v2/items" }, { route = "v2", upstream = "/base/items" } },
  { "longest prefix wins whatever the definition order",
    { R("v2", { paths = { "/api/v2" } }), R("api", { paths = { "/api" } }) },
    { path = "/api/v3" }, { route = "api", upstream = "/base/v3" } },
  { "root path catches everything else",
    { R("root", { paths = { "/" } }), R("api", { paths = { "/api" } }) },
    { path = "/other/x" }, { route = "root", upstream = "/base/other/x" } },
  { "a route with several paths matches on any of them",
    { R("multi", { paths = { "/one", "/two" } }) }, { path = "/two/x" },
    { route = "multi", matched_path = "/two" } },
  { "split radix edges keep both routes reachable",
    { R("abc", { paths = { "/abcdef" } }), R("abx", { paths = { "/abxyz" } }) },
    { path = "/abxyz/1" }, { route = "abx" } },

  -- regex paths
  { "regex with a named capture",
    { R("u", { paths = { [[~/users/(?<id>\d+)$]] } }) }, { path = "/users/42" },
    { route = "u", upstream = "/base", caps = { "42", id = "42" } } },
  { "regex without groups gives no captures",
    { R("u", { paths = { [[~/users/\d+$]] } }) }, { path = "/users/42" },
    { route = "u", caps = "none" } },
  { "regex anchored at the start",
    { R("u", { paths = { [[~/users/\d+]] } }) }, { path = "/x/users/42" }, { route = false } },
  { "regex $ rejects a longer path",
    { R("u", { paths = { [[~/users/\d+$]] } }) }, { path = "/users/42/x" }, { route = false } },
  { "regex without $ strips only the matched part",
    { R("u", { paths = { [[~/users/(\d+)]] } }) }, { path = "/users/42/orders" },
    { route = "u", upstream = "/base/orders", caps = { "42" } } },
  { "regex with alternation and two groups",
    { R("v", { paths = { [[~/(v1|v2)/(?<res>[a-z]+)]] } }) }, { path = "/v2/items" },
    { route = "v", caps = { "v2", "items", res = "items" } } },
  { "regex beats a plain prefix of the same category",
    { R("plain", { paths = { "/users" } }), R("re", { paths = { [[~/users/\d+]] } }) },
    { path = "/users/7" }, { route = "re" } },
  { "plain prefix still matches when the regex does not",
    { R("plain", { paths = { "/users" } }), R("re", { paths = { [[~/users/\d+]] } }) },
    { path = "/users/me" }, { route = "plain", upstream = "/base/me" } },
  { "higher regex_priority first",
    { R("low", { paths = { [[~/a/.*]] } }), R("high", { paths = { [[~/a/\d+]] }, regex_priority = 5 }) },
    { path = "/a/1" }, { route = "high" } },
  { "equal regex_priority: definition order",
    { R("first", { paths = { [[~/a/.*]] } }), R("second", { paths = { [[~/a/\d+]] } }) },
    { path = "/a/1" }, { route = "first" } },
  { "regex_priority orders plain paths too, before length (Kong's sort)",
    { R("root", { paths = { "/" }, regex_priority = 1 }), R("v1", { paths = { "/v1" } }) },
    { path = "/v1/x" }, { route = "root", upstream = "/base/v1/x" } },
  { "regex with no literal prefix is still tried",
    { R("any", { paths = { [[~/(?<a>[^/]+)/(?<b>[^/]+)$]] } }) }, { path = "/x/y" },
    { route = "any", caps = { "x", "y", a = "x", b = "y" } } },
  { "unparticipating group is false",
    { R("o", { paths = { [[~/o(/(\d+))?$]] } }) }, { path = "/o" },
    { route = "o", caps = { false, false } } },

  -- hosts
  { "exact host",
    { R("h", { hosts = { "example.com" } }) }, { host = "example.com" }, { route = "h", host = "example.com" } },
  { "host is case-insensitive and the port is ignored",
    { R("h", { hosts = { "Example.COM" } }) }, { host = "EXAMPLE.com:8000" }, { route = "h" } },
  { "other host does not match",
    { R("h", { hosts = { "example.com" } }) }, { host = "example.org" }, { route = false } },
  { "missing host does not match a host route",
    { R("h", { hosts = { "example.com" } }) }, { host = nil }, { route = false } },
  { "leading wildcard matches a sub domain",
    { R("w", { hosts = { "*.example.com" } }) }, { host = "api.example.com" },
    { route = "w", host = "*.example.com" } },
  { "leading wildcard matches several labels",
    { R("w", { hosts = { "*.example.com" } }) }, { host = "a.b.example.com:443" }, { route = "w" } },
  { "leading wildcard does not match the bare domain",
    { R("w", { hosts = { "*.example.com" } }) }, { host = "example.com" }, { route = false } },
  { "trailing wildcard",
    { R("w", { hosts = { "example.*" } }) }, { host = "example.org" }, { route = "w", host = "example.*" } },
  { "trailing wildcard ignores the request port",
    { R("w", { hosts = { "example.*" } }) }, { host = "example.co.uk:8443" }, { route = "w" } },
  { "trailing wildcard does not match another name",
    { R("w", { hosts = { "example.*" } }) }, { host = "examples.org" }, { route = false } },
  { "host written with a port matches only that port",
    { R("p", { hosts = { "example.com:8080" } }) }, { host = "example.com:8080" }, { route = "p" } },
  { "host written with a port rejects another port",
    { R("p", { hosts = { "example.com:8080" } }) }, { host = "example.com:9090" }, { route = false } },
  { "IPv6 host literal with port",
    { R("v6", { hosts = { "[::1]" } }) }, { host = "[::1]:8000" }, { route = "v6" } },
  { "route with hosts beats one without for the same path",
    { R("nohost", { paths = { "/api" } }), R("host", { paths = { "/api" }, hosts = { "a.com" } }) },
    { path = "/api", host = "a.com" }, { route = "host" } },
  { "route with hosts beats a longer path without hosts",
    { R("nohost", { paths = { "/api/v2" } }), R("host", { paths = { "/api" }, hosts = { "a.com" } }) },
    { path = "/api/v2", host = "a.com" }, { route = "host" } },
  { "route without hosts when the host differs",
    { R("nohost", { paths = { "/api" } }), R("host", { paths = { "/api" }, hosts = { "a.com" } }) },
    { path = "/api", host = "b.com" }, { route = "nohost" } },
  { "plain host beats wildcard host",
    { R("wild", { hosts = { "*.a.com" } }), R("plain", { hosts = { "x.a.com" } }) },
    { host = "x.a.com" }, { route = "plain" } },

  -- methods
  { "method matches",
    { R("get", { paths = { "/m" }, methods = { "GET" } }) }, { method = "GET", path = "/m" }, { route = "get" } },
  { "method restricted route does not match another method",
    { R("get", { paths = { "/m" }, methods = { "GET" } }) }, { method = "POST", path = "/m" }, { route = false } },
  { "method is compared upper-case exactly",
    { R("get", { paths = { "/m" }, methods = { "get" } }) }, { method = "get", path = "/m" }, { route = false } },
  { "method route beats plain route for the same path",
    { R("any", { paths = { "/m" } }), R("post", { paths = { "/m" }, methods = { "POST" } }) },
    { method = "POST", path = "/m" }, { route = "post" } },
  { "falls back to the route without methods",
    { R("any", { paths = { "/m" } }), R("post", { paths = { "/m" }, methods = { "POST" } }) },
    { method = "GET", path = "/m" }, { route = "any" } },
  { "method-only route",
    { R("del", { methods = { "DELETE" } }) }, { method = "DELETE", path = "/x" },
    { route = "del", upstream = "/base/x" } },

  -- headers
  { "header value matches case-insensitively",
    { R("hd", { headers = { ["x-version"] = { "v1", "V2" } } }) },
    { headers = { ["x-version"] = "v2" } }, { route = "hd" } },
  { "header value differs",
    { R("hd", { headers = { ["x-version"] = { "v1" } } }) },
    { headers = { ["x-version"] = "v3" } }, { route = false } },
  { "header missing",
    { R("hd", { headers = { ["x-version"] = { "v1" } } }) }, { headers = {} }, { route = false } },
  { "repeated header: any value may match",
    { R("hd", { headers = { ["x-tag"] = { "b" } } }) },
    { headers = { ["x-tag"] = { "a", "B" } } }, { route = "hd" } },
  { "~* header regex, case-insensitive",
    { R("hd", { headers = { ["user-agent"] = { [[~*curl/\d+]] } } }) },
    { headers = { ["user-agent"] = "CURL/8.1" } }, { route = "hd" } },
  { "~* header regex that does not match",
    { R("hd", { headers = { ["user-agent"] = { "~*^curl" } } }) },
    { headers = { ["user-agent"] = "wget curl" } }, { route = false } },
  { "several header names are ANDed",
    { R("hd", { headers = { ["x-a"] = { "1" }, ["x-b"] = { "2" } } }) },
    { headers = { ["x-a"] = "1", ["x-b"] = "3" } }, { route = false } },
  { "more headers win",
    { R("one", { headers = { ["x-a"] = { "1" } } }),
      R("two", { headers = { ["x-a"] = { "1" }, ["x-b"] = { "2" } } }) },
    { headers = { ["x-a"] = "1", ["x-b"] = "2" } }, { route = "two" } },
  { "header route beats plain route for the same path",
    { R("plain", { paths = { "/h" } }), R("hdr", { paths = { "/h" }, headers = { ["x-a"] = { "1" } } }) },
    { path = "/h", headers = { ["x-a"] = "1" } }, { route = "hdr" } },

  -- categories
  { "more categories beat a longer prefix",
    { R("long", { paths = { "/a/b/c" } }), R("gm", { paths = { "/a" }, methods = { "GET" } }) },
    { method = "GET", path = "/a/b/c" }, { route = "gm" } },
  { "regex_priority does not lift a route over more categories",
    { R("re", { paths = { "~/a" }, regex_priority = 100 }), R("hp", { paths = { "/a" }, hosts = { "h" } }) },
    { path = "/a", host = "h" }, { route = "hp" } },

  -- protocols
  -- as Kong: an https-only route still matches plain http, so the runner can answer 426
  { "https-only route matches http too (the runner answers 426)",
    { R("tls", { paths = { "/s" }, protocols = { "https" } }) }, { path = "/s", scheme = "http" }, { route = "tls" } },
  { "http-only route does not match https",
    { R("plain", { paths = { "/s" }, protocols = { "http" } }) }, { path = "/s", scheme = "https" }, { route = false } },
  { "https-only route matches https",
    { R("tls", { paths = { "/s" }, protocols = { "https" } }) }, { path = "/s", scheme = "https" }, { route = "tls" } },
  -- ws/wss routes take the upgrade requests that arrive over http/https
  { "ws route matches http",
    { R("ws", { paths = { "/s" }, protocols = { "ws" } }) }, { path = "/s", scheme = "http" }, { route = "ws" } },
  { "ws route does not match https",
    { R("ws", { paths = { "/s" }, protocols = { "ws" } }) }, { path = "/s", scheme = "https" }, { route = false } },
  { "wss route matches https",
    { R("wss", { paths = { "/s" }, protocols = { "wss" } }) }, { path = "/s", scheme = "https" }, { route = "wss" } },

  -- strip_path and path_handling (Kong's documented table, service path /s)
  { "v0 strip: /s + /tv0req -> /s/req",
    { R("r", { paths = { "/tv0" }, service = svc_path("/s") }) }, { path = "/tv0req" }, { upstream = "/s/req" } },
  { "v0 strip: trailing slash route -> /s/req",
    { R("r", { paths = { "/tv0/" }, service = svc_path("/s") }) }, { path = "/tv0/req" }, { upstream = "/s/req" } },
  { "v0 no strip: /s + /fv0req -> /s/fv0req",
    { R("r", { paths = { "/fv0" }, strip_path = false, service = svc_path("/s") }) },
    { path = "/fv0req" }, { upstream = "/s/fv0req" } },
  { "v0 no strip, service path with slash: no double slash",
    { R("r", { paths = { "/fv0" }, strip_path = false, service = svc_path("/s/") }) },
    { path = "/fv0/req" }, { upstream = "/s/fv0/req" } },
  { "v1 strip: /s + req -> /sreq",
    { R("r", { paths = { "/tv1" }, path_handling = "v1", service = svc_path("/s") }) },
    { path = "/tv1req" }, { upstream = "/sreq" } },
  { "v1 strip, trailing slash route: /sreq",
    { R("r", { paths = { "/tv1/" }, path_handling = "v1", service = svc_path("/s") }) },
    { path = "/tv1/req" }, { upstream = "/sreq" } },
  { "v1 no strip: /s + /fv1req -> /sfv1req",
    { R("r", { paths = { "/fv1" }, strip_path = false, path_handling = "v1", service = svc_path("/s") }) },
    { path = "/fv1req" }, { upstream = "/sfv1req" } },
  { "v1 strip with slash-ended service path: no double slash",
    { R("r", { paths = { "/tv1" }, path_handling = "v1", service = svc_path("/s/") }) },
    { path = "/tv1/req" }, { upstream = "/s/req" } },
  { "strip to nothing, no service path -> /",
    { R("r", { paths = { "/api" }, service = NOPATH }) }, { path = "/api" }, { upstream = "/" } },
  { "strip to nothing -> the service path",
    { R("r", { paths = { "/api" } }) }, { path = "/api" }, { upstream = "/base" } },
  { "strip keeps the request's trailing slash",
    { R("r", { paths = { "/api" } }) }, { path = "/api/" }, { upstream = "/base/" } },
  { "strip, slash-ended route, exact request keeps the slash",
    { R("r", { paths = { "/api/" } }) }, { path = "/api/" }, { upstream = "/base/" } },
  { "strip, no service path, rest appended",
    { R("r", { paths = { "/api" }, service = NOPATH }) }, { path = "/api/x/" }, { upstream = "/x/" } },
  { "no strip, no service path: the request path as is",
    { R("r", { paths = { "/api" }, strip_path = false, service = NOPATH }) },
    { path = "/api/x" }, { upstream = "/api/x" } },
  { "no strip, request / -> service path",
    { R("r", { paths = { "/" }, strip_path = false }) }, { path = "/" }, { upstream = "/base" } },
  { "regex strip removes the whole match",
    { R("r", { paths = { [[~/v\d+/users]] } }) }, { path = "/v12/users/9" }, { upstream = "/base/9" } },
  { "regex no strip keeps the path",
    { R("r", { paths = { [[~/v\d+/users]] }, strip_path = false }) },
    { path = "/v12/users/9" }, { upstream = "/base/v12/users/9" } },
}

local function request(req)
  local headers = req.headers or {}
  local calls = {}
  local get = function(name)
    calls[#calls + 1] = name
    return headers[name]
  end
  return req.method or "GET", req.path or "/", req.host, get, req.scheme, calls
end

describe("router", function()
  describe("match (table of cases)", function()
    for _, c in ipairs(CASES) do
      local desc, routes, req, want = c[1], c[2], c[3], c[4]
      it(desc, function()
        local r = assert(router.new(routes))
        local method, path, host, get, scheme = request(req)
        local m = r:match(method, path, host, get, scheme)
        if want.route == false then
          assert.is_nil(m)
          return
        end
        assert.is_table(m)
        if want.route then assert.equal(want.route, m.route.name) end
        assert.equal(m.route.service, m.service)
        if want.upstream then assert.equal(want.upstream, m.upstream_path) end
        if want.caps == "none" then
          assert.is_nil(m.uri_captures)
        elseif want.caps then
          assert.same(want.caps, m.uri_captures)
        end
        if want.host then assert.equal(want.host, m.matched_host) end
        if want.matched_path then assert.equal(want.matched_path, m.matched_path) end
      end)
    end
  end)

  describe("remembered matches", function()
    -- every case again, asked twice of one router: the second answer comes from the memo
    for _, c in ipairs(CASES) do
      local desc, routes, req = c[1], c[2], c[3]
      it("gives the same answer twice: " .. desc, function()
        local r = assert(router.new(routes))
        local method, path, host, get, scheme = request(req)
        local first = r:match(method, path, host, get, scheme)
        local second = r:match(method, path, host, get, scheme)
        assert.same(first, second)
      end)
    end

    it("marks routes for ws/wss alone as taking upgrades only", function()
      local r = assert(router.new({
        R("ws", { paths = { "/ws" }, protocols = { "ws" } }),
        R("wss", { paths = { "/wss" }, protocols = { "wss" } }),
        R("both", { paths = { "/both" }, protocols = { "ws", "http" } }),
        R("plain", { paths = { "/plain" } }),
      }))
      assert.is_true(r:match("GET", "/ws", nil, nil, "http").upgrade_only)
      assert.is_true(r:match("GET", "/wss", nil, nil, "https").upgrade_only)
      assert.is_nil(r:match("GET", "/both", nil, nil, "http").upgrade_only)
      assert.is_nil(r:match("GET", "/plain", nil, nil, "http").upgrade_only)
    end)

    it("tells apart requests for one path that differ in method, host or scheme", function()
      local r = assert(router.new({
        R("get", { paths = { "/p" }, methods = { "GET" } }),
        R("post", { paths = { "/p" }, methods = { "POST" } }),
        R("host", { paths = { "/p" }, hosts = { "a.test" }, methods = { "PUT" } }),
        R("tls", { paths = { "/s" }, protocols = { "https" } }),
        R("plain", { paths = { "/h" }, protocols = { "http" } }),
      }))
      for _ = 1, 2 do
        assert.equal("get", r:match("GET", "/p", nil, nil, "http").route.name)
        assert.equal("post", r:match("POST", "/p", nil, nil, "http").route.name)
        assert.is_nil(r:match("PUT", "/p", "b.test", nil, "http"))
        assert.equal("host", r:match("PUT", "/p", "a.test", nil, "http").route.name)
        assert.is_nil(r:match("PUT", "/p", "b.test", nil, "http"))
        assert.is_true(r:match("GET", "/s", nil, nil, "http").https_only)
        assert.equal("tls", r:match("GET", "/s", nil, nil, "https").route.name)
        assert.equal("plain", r:match("GET", "/h", nil, nil, "http").route.name)
        assert.is_nil(r:match("GET", "/h", nil, nil, "https"))
      end
    end)

    it("stays bounded and right when clients send endless distinct paths", function()
      local r = assert(router.new({ R("a", { paths = { "/a" } }), R("b", { paths = { "/b" } }) }))
      for i = 1, 10000 do
        local m = r:match("GET", "/a/" .. i, nil, nil, "http")
        assert(m and m.route.name == "a" and m.upstream_path == "/base/" .. i)
        assert(r:match("GET", "/nothing/" .. i, nil, nil, "http") == nil)
      end
      assert.is_true(r.memo_n <= 4096)
      assert.equal("b", r:match("GET", "/b", nil, nil, "http").route.name)
    end)

    it("pauses when most paths are new (an id in every path), and comes back", function()
      local r = assert(router.new({ R("a", { paths = { "/a" } }) }))
      for i = 1, 4097 do assert.equal("a", r:match("GET", "/a/" .. i, nil, nil, "http").route.name) end
      assert.is_true(r.memo_pause > 0)
      for i = 1, r.memo_pause do
        assert(r:match("GET", "/a/x" .. i, nil, nil, "http").route.name == "a")
      end
      assert.equal(0, r.memo_pause)
      -- repeated paths fill it again and are answered from it
      for _ = 1, 5000 do r:match("GET", "/a/same", nil, nil, "http") end
      assert.is_true(r.memo_hits > 4000)
      assert.equal("a", r:match("GET", "/a/same", nil, nil, "http").route.name)
    end)

    it("is not used when a route has header conditions", function()
      local r = assert(router.new({
        R("hdr", { paths = { "/h" }, headers = { ["x-a"] = { "1" } } }),
        R("plain", { paths = { "/h" } }),
      }))
      assert.is_nil(r.memo)
      local _, _, host, get = request({ headers = { ["x-a"] = "1" } })
      local _, _, host2, get2 = request({ headers = { ["x-a"] = "2" } })
      for _ = 1, 2 do
        assert.equal("hdr", r:match("GET", "/h", host, get, "http").route.name)
        assert.equal("plain", r:match("GET", "/h", host2, get2, "http").route.name)
      end
    end)
  end)

  describe("match result", function()
    it("has no captures for a plain path and names the matched path", function()
      local r = assert(router.new({ R("a", { paths = { "/x", "/api" } }) }))
      local m = r:match("GET", "/api/1", nil, nil, "http")
      assert.is_nil(m.uri_captures)
      assert.equal("/api", m.matched_path)
      assert.is_nil(m.matched_host)
    end)

    it("calls get_header only for routes with header conditions", function()
      local r = assert(router.new({
        R("plain", { paths = { "/p" } }),
        R("hdr", { paths = { "/h" }, headers = { ["x-a"] = { "1" } } }),
      }))
      local method, _, host, get, scheme, calls = request({ headers = { ["x-a"] = "1" } })
      assert.equal("plain", r:match(method, "/p", host, get, scheme).route.name)
      assert.same({}, calls)
      assert.equal("hdr", r:match(method, "/h", host, get, scheme).route.name)
      assert.same({ "x-a" }, calls)
    end)

    it("is stable across repeated calls (no state left behind)", function()
      local r = assert(router.new({ R("a", { paths = { "/a" } }), R("ab", { paths = { "/a/b" } }) }))
      for _ = 1, 3 do
        assert.equal("ab", r:match("GET", "/a/b", nil).route.name)
        assert.equal("a", r:match("GET", "/a/c", nil).route.name)
        assert.is_nil(r:match("GET", "/b", nil))
      end
    end)
  end)

  describe("new", function()
    it("names the route with a bad regex path", function()
      local r, err = router.new({ R("broken", { paths = { "~/a/(b" } }) })
      assert.is_nil(r)
      assert.matches("route 'broken'", err, 1, true)
      assert.matches("~/a/(b", err, 1, true)
    end)

    it("names the route with a bad header regex", function()
      local r, err = router.new({ R("hbad", { headers = { ["x-a"] = { "~*[a-" } } }) })
      assert.is_nil(r)
      assert.matches("route 'hbad'", err, 1, true)
    end)

    it("rejects a malformed wildcard host", function()
      local r, err = router.new({ R("w", { hosts = { "a.*.com" } }) })
      assert.is_nil(r)
      assert.matches("bad wildcard host", err, 1, true)
    end)

    it("raises on a caller bug", function()
      assert.has_error(function() router.new("nope") end)
    end)
  end)

  describe("scale", function()
    -- cost must follow the request path, not the number of routes: with 10,000 prefix
    -- routes the trie walk visits the same few nodes as with 10
    it("finds the right one among 10,000 prefix routes", function()
      local routes = {}
      for i = 1, 10000 do routes[i] = R("r" .. i, { paths = { "/svc" .. i .. "/api" } }) end
      local r = assert(router.new(routes))
      assert.equal("r7777", r:match("GET", "/svc7777/api/x").route.name)
      assert.equal("r1", r:match("GET", "/svc1/api").route.name)
      assert.is_nil(r:match("GET", "/svc10001/api"))
      assert.is_nil(r:match("GET", "/svc7777/ap"))
    end)

    it("finds host-only routes among 10,000 through the host buckets", function()
      local routes = {}
      for i = 1, 10000 do routes[i] = R("h" .. i, { hosts = { "h" .. i .. ".example.com" } }) end
      local r = assert(router.new(routes))
      assert.equal("h4242", r:match("GET", "/", "H4242.example.com:80").route.name)
      assert.is_nil(r:match("GET", "/", "nope.example.com"))
    end)
  end)
end)
