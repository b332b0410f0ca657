-- key-auth in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local handler = require("turnpike.plugins").load("key-auth").handler

local function consumers()
  return {
    { id = "c-alice", username = "alice", custom_id = "A1",
      keyauth_credentials = { { id = "cred-1", key = "secret" } } },
    { id = "c-anon", username = "anonymous" },
  }
end

local function run(conf, req)
  req.consumers = req.consumers or consumers()
  req.path = req.path or "/x"
  return tp.run_plugin("key-auth", conf, req)
end

describe("Plugin: key-auth (access)", function()
  before_each(function() tp.reset() end)

  it("lets a valid key through and tells the service who called", function()
    local res = run({}, { headers = { apikey = "secret" } })
    assert.equal(200, res.status)
    assert.equal("alice", res.consumer.username)
    assert.equal("cred-1", res.credential.id)
    local h = res.upstream.headers
    assert.equal("c-alice", h["x-consumer-id"])
    assert.equal("A1", h["x-consumer-custom-id"])
    assert.equal("alice", h["x-consumer-username"])
    assert.equal("cred-1", h["x-credential-identifier"])
    assert.is_nil(h["x-anonymous-consumer"])
    assert.equal("secret", h.apikey)
  end)

  it("returns 401 when the key is missing", function()
    local res = run({}, {})
    assert.equal(401, res.status)
    assert.same({ message = handler.ERR_NO_KEY }, res.body)
    assert.equal('Key realm="kong"', res.headers["www-authenticate"])
    assert.is_nil(res.upstream)
  end)

  it("returns 401 when the key is unknown", function()
    local res = run({ realm = "api" }, { headers = { apikey = "nope" } })
    assert.equal(401, res.status)
    assert.same({ message = "Invalid authentication credentials" }, res.body)
    assert.equal('Key realm="api"', res.headers["www-authenticate"])
  end)

  it("returns 401 when the same key name is sent twice", function()
    local res = run({}, { headers = { apikey = { "secret", "secret" } } })
    assert.equal(401, res.status)
    assert.same({ message = "Duplicate API key found" }, res.body)
  end)

  it("overwrites identity headers sent by the client", function()
    local res = run({}, { headers = { apikey = "secret", ["X-Consumer-ID"] = "forged",
                                      ["X-Anonymous-Consumer"] = "true" } })
    assert.equal("c-alice", res.upstream.headers["x-consumer-id"])
    assert.is_nil(res.upstream.headers["x-anonymous-consumer"])
  end)

  describe("config.key_names", function()
    it("accepts any listed name, with _ matching -", function()
      local res = run({ key_names = { "x_api_key" } }, { headers = { ["X-Api-Key"] = "secret" } })
      assert.equal(200, res.status)
    end)

    it("is validated by the schema", function()
      assert.has_error(function() run({ key_names = { "bad name" } }, {}) end)
    end)
  end)

  describe("config.key_in_query / key_in_header / key_in_body", function()
    it("reads the key from the query string", function()
      assert.equal(200, run({}, { query = "apikey=secret" }).status)
    end)

    it("ignores the query when key_in_query is false", function()
      assert.equal(401, run({ key_in_query = false }, { query = "apikey=secret" }).status)
    end)

    it("ignores headers when key_in_header is false", function()
      local res = run({ key_in_header = false }, { headers = { apikey = "secret" } })
      assert.equal(401, res.status)
    end)

    it("reads the key from a form or JSON body when key_in_body is true", function()
      local form = run({ key_in_body = true }, { method = "POST", body = "apikey=secret",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
      assert.equal(200, form.status)
      local json = run({ key_in_body = true }, { method = "POST", body = '{"apikey":"secret"}',
        headers = { ["Content-Type"] = "application/json" } })
      assert.equal(200, json.status)
      assert.equal(401, run({}, { method = "POST", body = "apikey=secret",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } }).status)
    end)
  end)

  describe("config.hide_credentials", function()
    it("removes the key from header, query and body before proxying", function()
      local res = run({ hide_credentials = true }, { headers = { apikey = "secret" },
                                                     query = "apikey=secret&keep=1" })
      assert.equal(200, res.status)
      assert.is_nil(res.upstream.headers.apikey)
      assert.equal("keep=1", res.upstream.query)
      local body = run({ hide_credentials = true, key_in_body = true }, { method = "POST",
        body = '{"apikey":"secret","a":1}', headers = { ["Content-Type"] = "application/json" } })
      assert.same({ a = 1 }, require("cjson").decode(body.upstream.body))
    end)

    it("keeps the key when false", function()
      local res = run({}, { query = "apikey=secret" })
      assert.equal("apikey=secret", res.upstream.query)
    end)
  end)

  describe("config.anonymous", function()
    it("lets the request through as the anonymous consumer, by username or id", function()
      for _, anon in ipairs({ "anonymous", "c-anon" }) do
        local res = run({ anonymous = anon }, {})
        assert.equal(200, res.status)
        assert.equal("c-anon", res.upstream.headers["x-consumer-id"])
        assert.equal("true", res.upstream.headers["x-anonymous-consumer"])
        assert.is_nil(res.upstream.headers["x-credential-identifier"])
        assert.is_nil(res.credential)
      end
    end)

    it("still authenticates a valid key", function()
      local res = run({ anonymous = "anonymous" }, { headers = { apikey = "secret" } })
      assert.equal("alice", res.upstream.headers["x-consumer-username"])
    end)

    it("answers 500 when the anonymous consumer does not exist", function()
      local res = run({ anonymous = "ghost" }, {})
      assert.equal(500, res.status)
      assert.matches("anonymous consumer ghost is configured but doesn't exist",
                     res.body.message, 1, true)
      assert.equal("[key-auth] anonymous consumer ghost is configured but doesn't exist",
                   res.logs[1].msg)
    end)
  end)

  describe("config.run_on_preflight", function()
    it("lets OPTIONS through unauthenticated when false", function()
      assert.equal(200, run({ run_on_preflight = false }, { method = "OPTIONS" }).status)
      assert.equal(401, run({}, { method = "OPTIONS" }).status)
    end)
  end)

  it("runs in well under a second", function()
    local t = os.clock()
    for _ = 1, 200 do run({}, { headers = { apikey = "secret" } }) end
    assert.is_true(os.clock() - t < 1)
  end)
end)
