-- The router's regex engine (turnpike.router.regex): anchored matches with captures,
-- unanchored search, and the compile errors for what it does not support.
local regex = require("turnpike.router.regex")

-- { pattern, subject, want } where want is the matched text (anchored at 1), or false
-- for no match; `caps` checks captures too.
local MATCH_CASES = {
  -- literals and dot
  { "abc", "abcdef", "abc" },
  { "abc", "xabc", false },
  { "a.c", "a-c", "a-c" },
  { "a.c", "ac", false },
  { [[a\.c]], "a.c", "a.c" },
  { [[a\.c]], "abc", false },
  { [[\/x\-y]], "/x-y", "/x-y" },
  -- classes
  { [[\d+]], "123a", "123" },
  { [[\D+]], "ab1", "ab" },
  { [[\w+]], "a_1-", "a_1" },
  { [[\W]], "-", "-" },
  { [[\s\S]], " x", " x" },
  { "[a-c]+", "abcd", "abc" },
  { "[^/]+", "seg/rest", "seg" },
  { "[]a]+", "]a]b", "]a]" },
  { "[a-]+", "a-a-b", "a-a-" },
  { [[[\d_]+]], "1_2x", "1_2" },
  { [[[\]\\]+]], [[]\]], [[]\]] },
  -- quantifiers
  { "a*", "bbb", "" },
  { "a+", "bbb", false },
  { "ab?c", "ac", "ac" },
  { "ab?c", "abc", "abc" },
  { "a{3}", "aaaa", "aaa" },
  { "a{3}", "aa", false },
  { "a{2,}", "aaaaa", "aaaaa" },
  { "a{2,3}", "aaaaa", "aaa" },
  { "a{,3}", "a{,3}", "a{,3}" }, -- not a quantifier: literal, as PCRE
  { "a+?", "aaa", "a" },
  { "a*?b", "aaab", "aaab" },
  { "a{2,3}?", "aaaa", "aa" },
  { ".*/", "/a/b/c", "/a/b/" }, -- greedy backtracks to the last slash
  { ".*?/", "a/b/c", "a/" },
  -- alternation and groups
  { "cat|dog", "dog", "dog" },
  { "cat|dog", "cow", false },
  { "/(v1|v2)/x", "/v2/x", "/v2/x", caps = { "v2" } },
  { "(a|ab)c", "abc", "abc", caps = { "ab" } }, -- backtracks into the alternation
  { "(?:ab)+c", "ababc", "ababc", caps = {} },
  { "(ab)+", "ababx", "abab", caps = { "ab" } },
  { "(a)(b)?(c)", "ac", "ac", caps = { "a", false, "c" } },
  { [[(?<year>\d{4})-(?<month>\d\d)]], "2024-05-01", "2024-05",
    caps = { "2024", "05", year = "2024", month = "05" } },
  { [[(?P<id>\d+)]], "77", "77", caps = { "77", id = "77" } },
  { "((a)b)c", "abc", "abc", caps = { "ab", "a" } },
  { "(a|b)*c", "ababc", "ababc", caps = { "b" } },
  { "(x*)*y", "xxy", "xxy" }, -- an empty iteration must not loop forever
  -- anchors
  { "^abc", "abc", "abc" },
  { "abc$", "abc", "abc" },
  { "abc$", "abcd", false },
  { "a|b$", "ab", "a" },
  { [[foo\b]], "foo bar", "foo" },
  { [[foo\b]], "foobar", false },
  { [[foo\B]], "foobar", "foo" },
  -- escapes
  { [[\x41\t]], "A\t", "A\t" },
}

local ERROR_CASES = {
  { "(abc", "missing )" },
  { "abc)", "unmatched )" },
  { "[abc", "missing ]" },
  { "*a", "nothing to repeat" },
  { "a{3,2}", "out of order" },
  { "[z-a]", "out of order" },
  { "(?=a)", "unsupported group" },
  { "(?<n>a)(?<n>b)", "duplicate group name" },
  { [[\1]], "unsupported escape" },
  { "a++", "possessive" },
  { "[[:alpha:]]", "POSIX" },
  { "abc\\", "trailing backslash" },
}

describe("router regex", function()
  describe("match", function()
    for _, c in ipairs(MATCH_CASES) do
      local pattern, subject, want = c[1], c[2], c[3]
      it(("/%s/ on %q"):format(pattern, subject), function()
        local re = assert(regex.compile(pattern))
        local last, caps = re:match(subject)
        if want == false then
          assert.is_nil(last)
          return
        end
        assert.is_number(last)
        assert.equal(want, subject:sub(1, last))
        if c.caps then assert.same(c.caps, caps) end
      end)
    end

    it("matches from a given start position", function()
      local re = assert(regex.compile([[\d+]]))
      assert.equal(5, re:match("ab123", 3))
      assert.is_nil(re:match("ab123", 1))
    end)
  end)

  describe("compile errors", function()
    for _, c in ipairs(ERROR_CASES) do
      it(("rejects /%s/"):format(c[1]), function()
        local re, err = regex.compile(c[1])
        assert.is_nil(re)
        assert.matches(c[2], err, 1, true)
      end)
    end

    it("raises on a non-string pattern", function()
      assert.has_error(function() regex.compile(42) end)
    end)
  end)

  describe("caseless", function()
    it("matches letters in either case, in literals and classes", function()
      local re = assert(regex.compile("ab[c-e]+", { caseless = true }))
      assert.equal(5, re:match("AbCdE"))
      assert.is_nil(re:match("AbX"))
    end)

    it("accepts a leading (?i)", function()
      local re = assert(regex.compile("(?i)json"))
      assert.equal(4, re:match("JSON"))
    end)

    it("keeps non-letters exact", function()
      local re = assert(regex.compile("a-1", { caseless = true }))
      assert.is_nil(re:match("A_1"))
    end)
  end)

  describe("find", function()
    it("finds the leftmost match anywhere", function()
      local re = assert(regex.compile([[curl/\d+]]))
      assert.same({ 7, 13 }, { re:find("agent curl/73 x") })
      assert.is_nil(re:find("wget/1"))
      assert.is_true(re:test("curl/1"))
      assert.is_false(re:test("curl/"))
    end)
  end)

  describe("literal prefix", function()
    it("is the literal text a match must start with", function()
      assert.equal("/users/", regex.compile([[/users/(?<id>\d+)]]).prefix)
      assert.equal("/v", regex.compile([[/v\d+]]).prefix)
      assert.equal("/a", regex.compile([[^/ab?]]).prefix)
      assert.equal("", regex.compile("/a|/b").prefix)
      assert.equal("", regex.compile("(?i)/abc").prefix)
    end)
  end)

  describe("backtracking", function()
    it("handles long subjects with simple patterns in linear work", function()
      local path = "/" .. ("segment/"):rep(1000) .. "end"
      local re = assert(regex.compile([[/(?:[a-z]+/)*end$]]))
      assert.equal(#path, re:match(path))
      local re2 = assert(regex.compile([[/.*/end$]]))
      assert.equal(#path, re2:match(path))
      assert.is_nil(re2:match(path .. "x"))
    end)

    it("gives up on catastrophic patterns instead of hanging", function()
      local re = assert(regex.compile("(a+)+b"))
      local last, err = re:match(("a"):rep(40))
      assert.is_nil(last)
      assert.matches("backtracking limit", err, 1, true)
    end)

    it("is usable again after giving up", function()
      local re = assert(regex.compile("(a+)+b"))
      re:match(("a"):rep(40))
      local last, caps = re:match("aab")
      assert.equal(3, last)
      assert.same({ "aa" }, caps)
    end)

    it("turns an alternation of single bytes into one class (no nesting per byte)", function()
      local re = assert(regex.compile("(?:a|b|[0-9])+$"))
      local s = ("ab1"):rep(20000)
      assert.equal(#s, re:match(s))
    end)

    it("refuses, without a Lua error, a group repeated beyond the nesting limit", function()
      local re = assert(regex.compile("(?:ab)+$"))
      assert.equal(6000, re:match(("ab"):rep(3000)))
      local last, err = re:match(("ab"):rep(20000))
      assert.is_nil(last)
      assert.matches("nesting limit", err, 1, true)
    end)
  end)
end)
