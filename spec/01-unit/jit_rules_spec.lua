-- Rules that keep the request path compiled by LuaJIT, checked over the runtime sources.
--
-- A function that LuaJIT starts a trace in (a hot function called from interpreted code)
-- and that ends by tail-calling a built-in (`return tostring(x)`, `return ffi.string(p, n)`)
-- aborts with "leaving loop in root trace at <built-in>"; after a few tries the function is
-- blacklisted, and from then on every trace that calls it aborts too ("blacklisted at ...").
-- One such getter on the request path kept whole plugin phases interpreted. Writing
-- `return (tostring(x))` (one value, not a tail call) avoids it.
local BUILTINS = {
  "ffi_string", "ffi%.string", "tostring", "tonumber", "sub", "str_sub", "concat", "format",
  "lower", "upper", "setmetatable", "floor", "ceil", "max", "min", "rawget", "cast",
  "ffi%.cast", "string%.[a-z]+", "math%.[a-z]+", "table%.concat", "tohex", "char", "band",
  "bor", "bxor", "lshift", "rshift", "C%.[a-z_0-9]+", "ffi_str", "ffi_new", "tobit",
}

local function runtime_sources()
  local files = {}
  local p = io.popen("git ls-files 'lua/*.lua' 'plugins/*.lua' 2>/dev/null")
  for f in p:lines() do
    if not f:match("_spec%.lua$") then files[#files + 1] = f end
  end
  p:close()
  return files
end

describe("JIT rules for the runtime sources", function()
  local files = runtime_sources()

  it("finds the sources", function()
    assert.is_true(#files > 20, "run from the repository root")
  end)

  it("never ends a function by tail-calling a built-in", function()
    local bad = {}
    for _, f in ipairs(files) do
      local n = 0
      for line in io.lines(f) do
        n = n + 1
        if not line:match("^%s*%-%-") then
          for _, b in ipairs(BUILTINS) do
            -- `return builtin(...)` as the whole returned expression (then `end`s or nothing)
            local s = line:match("return " .. b .. "(%b())%s*[end%s]*$")
            if s and not line:match("return " .. b .. "%b()%s*[%.%[:]") then
              bad[#bad + 1] = f .. ":" .. n .. ": " .. line:gsub("^%s+", "")
            end
          end
        end
      end
    end
    assert.same({}, bad)
  end)

  it("the rule catches what it is about", function()
    -- the same check on a known-bad and a known-good line
    local bad_line, good_line = "  return ffi_string(p, len_out[0]) end", "  return (ffi_string(p, n))"
    assert.truthy(bad_line:match("return ffi_string(%b())%s*[end%s]*$"))
    assert.falsy(good_line:match("return ffi_string(%b())%s*[end%s]*$"))
  end)
end)
