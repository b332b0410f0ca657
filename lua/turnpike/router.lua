-- turnpike.router: routes -> compiled matcher, with Kong 3 `traditional_compatible` rules.
--
-- Priority. Every (route, path) pair is one *entry* (a route without paths is one entry
-- that matches any path), and entries are totally ordered once, at build time, by this
-- key, compared field by field, bigger first unless said otherwise. It is the priority
-- Kong 3 computes for traditional_compatible routes (kong/router/compat.lua), field for
-- field, because that is the order a Kong user's config was written against:
--   1. match weight: how many of hosts, paths, methods, headers the route sets.
--      So a route with hosts beats one without for the same path when the host matches,
--      and {paths,methods} beats {paths}.
--   2. plain hosts only: the route has hosts and none is a wildcard.
--   3. header count: how many header names the route requires.
--   4. regex path before plain (prefix) path.
--   5. regex_priority (applies to every entry, as in Kong; it normally only matters
--      between regex paths).
--   6. path length: the longest plain prefix first (`/api/v2` before `/api`).
--   7. definition order: earlier route first, then earlier path within the route.
-- A request gets the first entry in that order whose conditions all hold. Kong's docs say
-- the same thing more loosely: regex paths by regex_priority then order of definition,
-- prefix paths longest first, regex before prefix when everything else is equal.
--
-- Lookup. The order is the rank (1 = best) stored in each entry, so matching is "the
-- matching entry with the smallest rank" and the candidates can come from indexes:
--   * a radix trie over path bytes holds plain paths at the node of their full text and
--     regex paths at the node of their literal prefix (`~/users/(?<id>\d+)` sits at
--     `/users/`); routes without paths sit at the root. Walking the request path visits
--     only nodes whose text is a prefix of it, so the cost follows the path length, not
--     the number of routes.
--   * at each node, entries with exact hosts are also bucketed by host, and the rest
--     (no hosts, wildcard hosts) are kept in one list; every list is sorted by rank, so a
--     scan stops at the first entry that cannot beat the best match found so far.
-- Deeper nodes are visited first since longer prefixes usually rank better.
--
-- Upstream path (path_handling, Kong's documented table; double slashes are collapsed):
--   v0 (default): service.path and the rest are joined as path segments with exactly one
--      `/`: `/s` + `req` = `/s/req`. strip_path=true: rest = request path minus the
--      matched part (the prefix, or the whole regex match); an empty rest gives the service
--      path (`/` if none) with a trailing slash only if the request had one.
--      strip_path=false: rest = the whole request path (`/s` + `/fv0req` = `/s/fv0req`).
--   v1: plain concatenation `service.path .. rest` (`/s` + `req` = `/sreq`); with
--      strip_path=false the rest is the request path without its leading `/`, which gives
--      Kong's documented `/s` + `/fv1req` = `/sfv1req`.

local regex = require("turnpike.router.regex")

local byte, sub, lower, upper, find = string.byte, string.sub, string.lower, string.upper, string.find
local type, ipairs, pairs, next, tostring, error = type, ipairs, pairs, next, tostring, error
local sort, setmetatable = table.sort, setmetatable

local SLASH = 47
local HUGE_RANK = math.huge

local function is_empty(t)
  return t == nil or next(t) == nil
end

local function route_label(route, idx)
  return "route '" .. tostring(route.name or route.id or ("#" .. idx)) .. "'"
end

-------------------------------------------------------------------------------------------
-- hosts
-------------------------------------------------------------------------------------------

-- request Host value -> lower-case host without port, and lower-case host with port
local function normalize_host(host)
  if not host or host == "" then return nil, nil end
  local h = lower(host)
  if byte(h, 1) == 91 then -- "[v6]:port"
    local close = find(h, "]", 2, true)
    if close then return sub(h, 1, close), h end
    return h, h
  end
  local colon = find(h, ":", 1, true)
  if colon then return sub(h, 1, colon - 1), h end
  return h, h
end

-- route hosts -> { exact = {host=true}, wild = {{kind, text, port}} } or error
local function compile_hosts(hosts, label)
  local exact, wild, plain_only = {}, {}, true
  for _, raw in ipairs(hosts) do
    if type(raw) ~= "string" or raw == "" then return nil, label .. ": bad host" end
    local h = lower(raw)
    -- a host written with a port is compared with the request's host:port
    local with_port = find(h, ":%d+$") ~= nil
    if byte(h, 1) == 42 then -- "*.example.com"
      if sub(h, 2, 2) ~= "." or find(h, "*", 2, true) then return nil, label .. ": bad wildcard host " .. raw end
      wild[#wild + 1] = { suffix = sub(h, 2), port = with_port, host = h }
      plain_only = false
    elseif byte(h, -1) == 42 then -- "example.*"
      if sub(h, -2, -2) ~= "." or find(h, "*", 1, true) < #h then return nil, label .. ": bad wildcard host " .. raw end
      wild[#wild + 1] = { prefix = sub(h, 1, -2), port = with_port, host = h }
      plain_only = false
    elseif find(h, "*", 1, true) then
      return nil, label .. ": bad wildcard host " .. raw
    else
      exact[h] = true
    end
  end
  return { exact = exact, wild = wild }, nil, plain_only
end

-- returns the route host (as configured, lower case) that matches, or nil
local function match_host(hm, h, hfull)
  if hm.exact[h] then return h end
  if hfull ~= h and hm.exact[hfull] then return hfull end
  local wild = hm.wild
  for k = 1, #wild do
    local w = wild[k]
    local subject = w.port and hfull or h
    if w.suffix then
      local n = #w.suffix
      if #subject > n and sub(subject, -n) == w.suffix then return w.host end
    elseif #subject > #w.prefix and sub(subject, 1, #w.prefix) == w.prefix then
      return w.host
    end
  end
  return nil
end

-------------------------------------------------------------------------------------------
-- headers: { {name, values = {lower=true}, regexes = {re...}} ... }
-------------------------------------------------------------------------------------------

local function compile_headers(headers, label)
  local list = {}
  for name, values in pairs(headers) do
    if type(name) ~= "string" then return nil, label .. ": bad header name" end
    if type(values) == "string" then values = { values } end
    local h = { name = lower(name), values = {}, regexes = {} }
    for _, v in ipairs(values) do
      if sub(v, 1, 2) == "~*" then
        local re, err = regex.compile(sub(v, 3), { caseless = true })
        if not re then
          return nil, label .. ": invalid regex in header " .. name .. " value '" .. v .. "': " .. err
        end
        h.regexes[#h.regexes + 1] = re
      else
        h.values[lower(v)] = true
      end
    end
    list[#list + 1] = h
  end
  -- deterministic evaluation order
  sort(list, function(a, b) return a.name < b.name end)
  return list
end

local function header_value_ok(h, v)
  if h.values[lower(v)] then return true end
  local res = h.regexes
  for k = 1, #res do
    if res[k]:test(v) then return true end
  end
  return false
end

local function headers_ok(list, get_header, header_arg)
  if not get_header then return false end
  for k = 1, #list do
    local h = list[k]
    local v
    if header_arg ~= nil then v = get_header(header_arg, h.name) else v = get_header(h.name) end
    if v == nil then return false end
    if type(v) == "table" then
      local any = false
      for j = 1, #v do
        if header_value_ok(h, v[j]) then
          any = true
          break
        end
      end
      if not any then return false end
    elseif not header_value_ok(h, v) then
      return false
    end
  end
  return true
end

-------------------------------------------------------------------------------------------
-- radix trie over path bytes; node = { label, kids = {byte -> node}, by_host, any }
-------------------------------------------------------------------------------------------

local function new_node(label)
  return { label = label, kids = {} }
end

local function trie_insert(root, key)
  local node, pos, len = root, 1, #key
  while pos <= len do
    local b = byte(key, pos)
    local child = node.kids[b]
    if not child then
      child = new_node(sub(key, pos))
      node.kids[b] = child
      return child
    end
    local label = child.label
    local l, n = 1, #label
    while l < n and pos + l <= len and byte(label, l + 1) == byte(key, pos + l) do l = l + 1 end
    if l < n then
      -- split the edge: node -> mid(label[1..l]) -> child(label[l+1..])
      local mid = new_node(sub(label, 1, l))
      child.label = sub(label, l + 1)
      mid.kids[byte(child.label, 1)] = child
      node.kids[b] = mid
      child = mid
    end
    node, pos = child, pos + l
  end
  return node
end

local function node_add(node, e)
  if e.hosts and next(e.hosts.exact) then
    node.by_host = node.by_host or {}
    for h in pairs(e.hosts.exact) do
      local list = node.by_host[h] or {}
      node.by_host[h] = list
      list[#list + 1] = e
    end
    if #e.hosts.wild > 0 then
      node.any = node.any or {}
      node.any[#node.any + 1] = e
    end
  else
    node.any = node.any or {}
    node.any[#node.any + 1] = e
  end
  node.has = true
end

local function by_rank(a, b) return a.rank < b.rank end

local function trie_sort(node)
  if node.any then sort(node.any, by_rank) end
  if node.by_host then
    for _, list in pairs(node.by_host) do sort(list, by_rank) end
  end
  for _, kid in pairs(node.kids) do trie_sort(kid) end
end

-------------------------------------------------------------------------------------------
-- entries
-------------------------------------------------------------------------------------------

local function set_of(list, f)
  local s = {}
  for _, v in ipairs(list) do s[f and f(v) or v] = true end
  return s
end

local function count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- the part of the route shared by all its path entries
local function compile_route(route, idx)
  if type(route) ~= "table" then return nil, "route #" .. idx .. " is not a table" end
  local label = route_label(route, idx)
  local base = { route = route, idx = idx, weight = 0, header_count = 0, plain_host = false }
  if not is_empty(route.hosts) then
    local hm, err, plain_only = compile_hosts(route.hosts, label)
    if not hm then return nil, err end
    base.hosts, base.plain_host = hm, plain_only
    base.weight = base.weight + 1
  end
  if not is_empty(route.methods) then
    base.methods = set_of(route.methods, upper)
    base.weight = base.weight + 1
  end
  if not is_empty(route.headers) then
    local hl, err = compile_headers(route.headers, label)
    if not hl then return nil, err end
    base.headers, base.header_count = hl, #hl
    base.weight = base.weight + 1
  end
  if not is_empty(route.protocols) then
    base.protocols = set_of(route.protocols)
    -- a route for ws/wss alone answers requests that do not ask to upgrade with 426
    local p = base.protocols
    base.upgrade_only = (p.ws or p.wss) and not (p.http or p.https) or nil
    -- ws/wss routes take the Upgrade requests that arrive over http/https (the core
    -- tunnels them once the upstream answers 101); http/https routes take them too
    if base.protocols.ws then base.protocols.http = true end
    if base.protocols.wss then base.protocols.https = true end
    -- as Kong: an https-only route matches plain requests too, which then get its
    -- https_redirect_status_code (426 or a redirect) rather than a 404
    if base.protocols.https and not base.protocols.http then
      base.protocols.http, base.https_only = true, true
    end
  end
  base.regex_priority = route.regex_priority or 0
  base.strip_path = route.strip_path ~= false
  base.v1 = route.path_handling == "v1"
  return base, label
end

local function new_entry(base, path, pidx)
  local e = {}
  for k, v in pairs(base) do e[k] = v end
  e.pidx = pidx
  e.path = path
  return e
end

-- Kong's order, see the top of the file
local function entry_before(a, b)
  if a.weight ~= b.weight then return a.weight > b.weight end
  if a.plain_host ~= b.plain_host then return a.plain_host end
  if a.header_count ~= b.header_count then return a.header_count > b.header_count end
  if (a.re ~= nil) ~= (b.re ~= nil) then return a.re ~= nil end
  if a.regex_priority ~= b.regex_priority then return a.regex_priority > b.regex_priority end
  if a.plen ~= b.plen then return a.plen > b.plen end
  if a.idx ~= b.idx then return a.idx < b.idx end
  return a.pidx < b.pidx
end

local function build_entries(routes)
  local entries = {}
  for idx, route in ipairs(routes) do
    local base, label = compile_route(route, idx)
    if not base then return nil, label end
    if is_empty(route.paths) then
      local e = new_entry(base, nil, 0)
      e.plen, e.key = 0, ""
      entries[#entries + 1] = e
    else
      base.weight = base.weight + 1
      for pidx, path in ipairs(route.paths) do
        if type(path) ~= "string" or path == "" then return nil, label .. ": bad path" end
        local e = new_entry(base, path, pidx)
        if byte(path, 1) == 126 then -- "~": a regex path
          local re, err = regex.compile(sub(path, 2))
          if not re then return nil, label .. ": invalid regex path '" .. path .. "': " .. err end
          e.re, e.plen, e.key = re, 0, re.prefix
        else
          e.plen, e.key = #path, path
        end
        entries[#entries + 1] = e
      end
    end
  end
  sort(entries, entry_before)
  for rank, e in ipairs(entries) do e.rank = rank end
  return entries
end

-------------------------------------------------------------------------------------------
-- upstream path
-------------------------------------------------------------------------------------------

local function join_v0(a, b)
  local a_slash, b_slash = byte(a, -1) == SLASH, byte(b, 1) == SLASH
  if a_slash and b_slash then return a .. sub(b, 2) end
  if a_slash or b_slash then return a .. b end
  return a .. "/" .. b
end

local function upstream_path(e, path, matched_len, service)
  local base = service and service.path
  if base == nil or base == "" then base = "/" end
  if e.v1 then
    local rest = e.strip_path and sub(path, matched_len + 1) or sub(path, 2)
    if rest == "" then return base end
    if byte(base, -1) == SLASH and byte(rest, 1) == SLASH then return base .. sub(rest, 2) end
    return base .. rest
  end
  if not e.strip_path then
    if path == "/" then return base end
    return join_v0(base, path)
  end
  local rest = sub(path, matched_len + 1)
  if rest ~= "" then return join_v0(base, rest) end
  if base == "/" then return "/" end
  -- the trailing slash follows the request
  local req_slash, base_slash = #path > 1 and byte(path, -1) == SLASH, byte(base, -1) == SLASH
  if req_slash and not base_slash then return base .. "/" end
  if base_slash and not req_slash then return (sub(base, 1, -2)) end
  return base
end

-------------------------------------------------------------------------------------------
-- router
-------------------------------------------------------------------------------------------

local _M = {}
local mt = { __index = _M }

-- new(routes) -> router | nil, err. routes come from the config loader (see DESIGN.md);
-- an invalid regex (path or `~*` header value) is reported with the route's name.
function _M.new(routes)
  if type(routes) ~= "table" then error("routes must be a table", 2) end
  local entries, err = build_entries(routes)
  if not entries then return nil, err end
  local root = new_node("")
  for _, e in ipairs(entries) do node_add(trie_insert(root, e.key), e) end
  trie_sort(root)
  local self = { root = root, count = #entries, _stack = {} }
  -- Without header conditions a match depends only on (method, path, host, scheme): the
  -- answers are kept by path (see match_memo). Kong's router keeps its matches the same way.
  local memo_ok = true
  for _, e in ipairs(entries) do
    if e.headers then memo_ok = false end
  end
  if memo_ok then self.memo, self.memo_n, self.memo_hits, self.memo_pause = {}, 0, 0, 0 end
  return (setmetatable(self, mt))
end

-- check everything but the path prefix (which the trie position guarantees);
-- returns matched host (or true), end of the regex match, captures
local function check(e, method, h, hfull, get_header, scheme, path, header_arg)
  if scheme and e.protocols and not e.protocols[scheme] then return nil end
  if e.methods and not e.methods[method] then return nil end
  local mhost = true
  if e.hosts then
    if not h then return nil end
    mhost = match_host(e.hosts, h, hfull)
    if not mhost then return nil end
  end
  if e.headers and not headers_ok(e.headers, get_header, header_arg) then return nil end
  if e.re then
    local last, caps = e.re:match(path, 1)
    if not last then return nil end
    -- as Kong: uri_captures only when the regex has groups
    return mhost, last, e.re.ngroups > 0 and caps or nil
  end
  return mhost, e.plen, nil
end

-- scan one rank-sorted list; returns the best entry (and its match data) if it beats `best`
local function scan(list, best, method, h, hfull, get_header, scheme, path, header_arg)
  for k = 1, #list do
    local e = list[k]
    if e.rank >= best then return nil end
    local mhost, last, caps = check(e, method, h, hfull, get_header, scheme, path, header_arg)
    if mhost then return e, mhost, last, caps end
  end
  return nil
end

local find_match

-- match(method, path, host, get_header, scheme) -> match table | nil
--   path: request path without the query; host: Host header (port optional);
--   get_header(lower_name) -> string | {strings} | nil (or get_header(header_arg, name) when
--   header_arg is given: no closure per request), called only for routes with
--   header conditions; scheme: "http" | "https" (nil: do not filter on protocols).
-- The match table is shared by every request with the same method, path, host and scheme:
-- read it, never change it.
function _M:match(method, path, host, get_header, scheme, header_arg)
  path = path or "/"
  local memo = self.memo
  if memo then
    -- one remembered answer per path: a hit needs the same method, host and scheme. The trie
    -- walk's loops stay off the common path, which keeps it one compiled trace.
    local m = memo[path]
    if m and m._method == method and m._host == host and m._scheme == scheme then
      self.memo_hits = self.memo_hits + 1
      return m.route and m or nil
    end
    return self:match_memo(method, path, host, get_header, scheme, header_arg)
  end
  return find_match(self, method, path, host, get_header, scheme, header_arg)
end

-- At most MEMO_MAX paths are remembered; then the memo is emptied in place (its slots kept,
-- no rehashing). A memo that answered fewer requests than it took in while filling (traffic
-- with an id in every path) is not worth its inserts: it pauses for MEMO_PAUSE requests,
-- which then only walk the trie. A match table carries the request it answered (_method,
-- _host, _scheme); a miss is remembered in a small table of its own.
local MEMO_MAX = 4096
local MEMO_PAUSE = 4 * MEMO_MAX
local ok_clear, table_clear = pcall(require, "table.clear")
if not ok_clear then table_clear = function(t) for k in pairs(t) do t[k] = nil end end end

function _M:match_memo(method, path, host, get_header, scheme, header_arg)
  local result = find_match(self, method, path, host, get_header, scheme, header_arg)
  local pause = self.memo_pause
  if pause > 0 then
    self.memo_pause = pause - 1
    return result
  end
  local memo = self.memo
  if self.memo_n >= MEMO_MAX then
    if self.memo_hits < MEMO_MAX then self.memo_pause = MEMO_PAUSE end
    table_clear(memo)
    self.memo_n, self.memo_hits = 0, 0
  end
  if not memo[path] then self.memo_n = self.memo_n + 1 end
  local m = result or {}
  m._method, m._host, m._scheme = method, host, scheme
  memo[path] = m
  return result
end

find_match = function(self, method, path, host, get_header, scheme, header_arg)
  local h, hfull = normalize_host(host)

  -- collect the trie nodes whose text prefixes the path
  local stack, n = self._stack, 0
  local node, pos, len = self.root, 1, #path
  if node.has then
    n = 1
    stack[1] = node
  end
  while pos <= len do
    local child = node.kids[byte(path, pos)]
    if not child then break end
    local label = child.label
    local l = #label
    if pos + l - 1 > len then break end
    -- the rest of the label must follow at pos (a plain find, not an inner loop:
    -- LuaJIT compiles this walk as one trace)
    if l > 1 and find(path, label, pos, true) ~= pos then break end
    pos = pos + l
    node = child
    if node.has then
      n = n + 1
      stack[n] = node
    end
  end

  local best, bhost, blast, bcaps = nil, nil, nil, nil
  local best_rank = HUGE_RANK
  for k = n, 1, -1 do
    node = stack[k]
    stack[k] = nil
    local lists = node.by_host
    local hl = lists and h and lists[h]
    if hl then
      local e, mh, last, caps = scan(hl, best_rank, method, h, hfull, get_header, scheme, path, header_arg)
      if e then best, bhost, blast, bcaps, best_rank = e, mh, last, caps, e.rank end
    end
    hl = lists and hfull and hfull ~= h and lists[hfull]
    if hl then
      local e, mh, last, caps = scan(hl, best_rank, method, h, hfull, get_header, scheme, path, header_arg)
      if e then best, bhost, blast, bcaps, best_rank = e, mh, last, caps, e.rank end
    end
    if node.any then
      local e, mh, last, caps = scan(node.any, best_rank, method, h, hfull, get_header, scheme, path, header_arg)
      if e then best, bhost, blast, bcaps, best_rank = e, mh, last, caps, e.rank end
    end
  end
  if not best then return nil end

  local route = best.route
  return {
    route = route,
    service = route.service,
    upstream_path = upstream_path(best, path, blast, route.service),
    uri_captures = bcaps,
    matched_path = best.path,
    matched_host = bhost ~= true and bhost or nil,
    matched_method = best.methods and method or nil,
    https_only = best.https_only,
    upgrade_only = best.upgrade_only,
  }
end

return _M
