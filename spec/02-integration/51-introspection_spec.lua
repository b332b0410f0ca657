-- oauth2-introspection against the real binary (2 workers, one shared answer cache) and a
-- mock RFC 7662 server that checks the gateway's credentials and records every call.
--
-- Tokens the mock knows: "good-*" (active, alice, "read write", exp in an hour),
-- "reader-*" (active, scope "read"), "exp-<epoch>" (active until that second), "slow-*"
-- (answers after SLOW_MS), anything else inactive.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local AUTHZ = "Basic Z2F0ZXdheTpzM2NyZXQ="
local TIMEOUT_MS = 500
local SLOW_MS = 3000
local MARGIN_MS = 1000

local function introspection_server()
  return helpers.mock_upstream { handler = function(req)
    if req.method ~= "POST" or req.headers.authorization ~= AUTHZ then
      return { status = 401, body = '{"error":"invalid_client"}' }
    end
    local args = {}
    for k, v in (req.body or ""):gmatch("([^&=]+)=([^&]*)") do args[k] = v end
    local t, now = args.token or "", os.time()
    local doc = { active = false }
    if t:match("^good%-") then
      doc = { active = true, scope = "read write", client_id = "app-1", sub = "u-1",
              username = "alice", token_type = "access_token", exp = now + 3600, org = "acme" }
    elseif t:match("^reader%-") then
      doc = { active = true, scope = "read", username = "alice", exp = now + 3600 }
    elseif t:match("^exp%-%d+$") then
      doc = { active = true, exp = tonumber(t:sub(5)) }
    elseif t:match("^slow%-") then
      return { status = 200, delay_ms = SLOW_MS, headers = { ["Content-Type"] = "application/json" },
               body = '{"active":true}' }
    end
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
             body = cjson.encode(doc) }
  end }
end

local function plugin(url, extra)
  local conf = { introspection_url = url, authorization_value = AUTHZ, timeout = TIMEOUT_MS,
                 custom_claims_forward = { "org" } }
  for k, v in pairs(extra or {}) do conf[k] = v end
  return { name = "oauth2-introspection", config = conf }
end

local function get(gw, path, token, headers)
  headers = headers or {}
  if token then headers.Authorization = "Bearer " .. token end
  return assert(helpers.http(gw.proxy_port, { path = path, headers = headers, timeout_ms = 8000 }))
end

-- calls the mock received for one token
local function calls(auth, token)
  local n = 0
  for _, r in ipairs(auth:requests()) do
    if (r.body or ""):find("token=" .. token, 1, true) then n = n + 1 end
  end
  return n
end

describe("Plugin: oauth2-introspection (integration)", function()
  local auth, up, gw

  lazy_setup(function()
    auth = introspection_server()
    up = helpers.mock_upstream()
    local url = "http://127.0.0.1:" .. auth.port .. "/introspect"
    local dead = "http://127.0.0.1:" .. helpers.free_port() .. "/introspect"
    local svc = "http://127.0.0.1:" .. up.port
    gw = helpers.start_turnpike { workers = 2, config = {
      turnpike = { workers = 2 },
      consumers = { { username = "alice", custom_id = "app-1" } },
      services = {
        { name = "api", url = svc,
          routes = { { name = "api", paths = { "/api" }, plugins = { plugin(url) } } } },
        { name = "scoped", url = svc,
          routes = { { name = "scoped", paths = { "/scoped" }, plugins = {
            plugin(url), { name = "scopes", config = { required = { "write" } } } } } } },
        { name = "down", url = svc,
          routes = { { name = "down", paths = { "/down" }, plugins = { plugin(dead) } } } },
        { name = "down401", url = svc,
          routes = { { name = "down401", paths = { "/down401" },
                       plugins = { plugin(dead, { error_status = 401 }) } } } },
        { name = "wrongauth", url = svc,
          routes = { { name = "wrongauth", paths = { "/wrongauth" },
                       plugins = { plugin(url, { authorization_value = "Basic bm9wZQ==" }) } } } },
      },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  it("lets an active token through with the X-Credential-* and consumer headers", function()
    local res = get(gw, "/api/x", "good-1", { ["X-Credential-Username"] = "mallory",
                                             ["X-Authenticated-Scope"] = "admin" })
    assert.equal(200, res.status)
    local h = res:json().headers
    assert.equal("read write", h["x-credential-scope"])
    assert.equal("app-1", h["x-credential-client-id"])
    assert.equal("u-1", h["x-credential-sub"])
    assert.equal("alice", h["x-credential-username"])
    assert.equal("access_token", h["x-credential-token-type"])
    assert.truthy(tonumber(h["x-credential-exp"]))
    assert.equal("acme", h["x-credential-org"])
    assert.equal("read write", h["x-authenticated-scope"])
    assert.equal("alice", h["x-consumer-username"])
    assert.truthy(h["x-consumer-id"])
    -- the mock saw the RFC 7662 form and our credentials
    local call = auth:requests()[#auth:requests()]
    assert.equal("token=good-1", call.body)
    assert.equal("application/x-www-form-urlencoded", call.headers["content-type"])
  end)

  it("returns 401 invalid_token for an inactive token", function()
    local res = get(gw, "/api/x", "revoked-1")
    assert.equal(401, res.status)
    assert.equal('Bearer error="invalid_token"', res.headers["www-authenticate"])
    local body = res:json()
    assert.equal("invalid_token", body.error)
    assert.is_string(body.message)
  end)

  it("returns 401 without a token and asks nobody", function()
    local before = #auth:requests()
    local res = get(gw, "/api/x")
    assert.equal(401, res.status)
    assert.equal("Bearer", res.headers["www-authenticate"])
    assert.is_string(res:json().message)
    assert.equal(before, #auth:requests())
  end)

  it("caches an answer for every worker: more requests, one call", function()
    for _ = 1, 6 do assert.equal(200, get(gw, "/api/x", "good-cached").status) end
    assert.equal(1, calls(auth, "good-cached"))
    for _ = 1, 4 do assert.equal(401, get(gw, "/api/x", "bad-cached").status) end
    assert.equal(1, calls(auth, "bad-cached"))
  end)

  it("never serves a cached answer past the token's exp", function()
    local token = "exp-" .. (os.time() + 2)
    assert.equal(200, get(gw, "/api/x", token).status)
    assert.equal(200, get(gw, "/api/x", token).status)
    assert.equal(1, calls(auth, token))
    helpers.wait_until(function() return get(gw, "/api/x", token).status == 401 end, 5,
                       "the token to be refused after its exp")
    -- a new call was made once the cached answer ran out (one more when a request fell
    -- on the boundary millisecond), and the token stays refused
    assert.is_true(calls(auth, token) >= 2)
    for _ = 1, 3 do assert.equal(401, get(gw, "/api/x", token).status) end
  end)

  it("answers 503 fast when the endpoint is down, never letting the request through", function()
    local before = #up:requests()
    local t0 = helpers.now_ms()
    local res = get(gw, "/down/x", "good-2")
    assert.equal(503, res.status)
    assert.is_string(res:json().message)
    assert.is_true(helpers.now_ms() - t0 < TIMEOUT_MS + MARGIN_MS)
    assert.equal(before, #up:requests())
  end)

  it("answers 401 instead with error_status = 401", function()
    local res = get(gw, "/down401/x", "good-3")
    assert.equal(401, res.status)
    assert.truthy(res.headers["www-authenticate"])
  end)

  it("does not hang on a slow endpoint: the call ends at timeout", function()
    local t0 = helpers.now_ms()
    local res = get(gw, "/api/x", "slow-1")
    local took = helpers.now_ms() - t0
    assert.equal(503, res.status)
    assert.is_true(took < TIMEOUT_MS + MARGIN_MS, "took " .. took .. " ms")
    -- nothing was cached: the next request asks again
    get(gw, "/api/x", "slow-1")
    helpers.wait_until(function() return calls(auth, "slow-1") >= 2 end, 5, "a second call")
  end)

  it("treats a refusal of the gateway's own credentials as an endpoint failure", function()
    local res = get(gw, "/wrongauth/x", "good-4")
    assert.equal(503, res.status)
  end)

  it("feeds the scopes plugin from the introspected scope", function()
    assert.equal(200, get(gw, "/scoped/x", "good-5").status)
    local res = get(gw, "/scoped/x", "reader-1")
    assert.equal(403, res.status)
    local body = res:json()
    assert.same({ "write" }, body.required)
    assert.same({ "read" }, body.granted)
  end)
end)
