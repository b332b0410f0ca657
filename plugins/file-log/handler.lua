-- file-log: appends one JSON object per request (turnpike.log.serialize()) as a line to a
-- file, as Kong's file-log. This is the one bundled plugin that uses io.* in a phase: it
-- writes in the log phase, which runs after the response was sent, so a slow disk delays
-- only this worker's bookkeeping, never a client (the exception to STYLE.md §3.8 is made on
-- purpose, as Kong's file-log does the same).
--
-- Files are opened in append mode (O_APPEND) and kept open per worker, one handle per path;
-- with reopen = true the handle is closed and opened again for every line (log rotation).
-- Each line is written with one flush from a buffer larger than any line we expect, so
-- workers appending to the same file do not interleave inside a line.
local cjson = require "cjson.safe"

local turnpike = turnpike

local io_open = io.open

local BUFFER_SIZE = 256 * 1024

local FileLogHandler = { PRIORITY = 9, VERSION = "1.0.0" }

-- path -> open file; bounded by the paths named in the configuration.
local handles = {}

-- handle_for(conf) -> file | nil, err
local function handle_for(conf)
  local path = conf.path
  local f = handles[path]
  if f and conf.reopen then
    f:close()
    handles[path] = nil
    f = nil
  end
  if f then return f end
  local err
  f, err = io_open(path, "a")
  if not f then return nil, err end
  f:setvbuf("full", BUFFER_SIZE)
  handles[path] = f
  return f
end

function FileLogHandler:log(conf)
  local line, err = cjson.encode(turnpike.log.serialize())
  if not line then
    return turnpike.log.err("cannot encode the log entry: ", err)
  end
  local f
  f, err = handle_for(conf)
  if not f then
    return turnpike.log.err("cannot open ", conf.path, ": ", err)
  end
  local ok
  ok, err = f:write(line, "\n")
  if ok then ok, err = f:flush() end
  if not ok then
    -- a broken handle (file removed, disk full) is dropped so the next line reopens it
    turnpike.log.err("cannot write to ", conf.path, ": ", err)
    f:close()
    handles[conf.path] = nil
  end
end

return FileLogHandler
