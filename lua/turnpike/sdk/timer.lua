-- turnpike.timer: run a function later, or every so often, outside any client
-- request. The callback runs in its own coroutine (it may sleep and do I/O) and
-- gets `premature` (false) first, as ngx.timer callbacks do, then its arguments.
-- Timers belong to the current configuration generation and stop after a reload
-- (plugins start them again from init_worker).
--
--   turnpike.timer.at(delay_ms, fn, ...)       -> id
--   turnpike.timer.every(interval_ms, fn, ...) -> id
--   turnpike.timer.cancel(id)
local type = type
local error = error

local _M = {}

function _M.new(backend)
  local timer = {}

  function timer.at(delay_ms, fn, ...)
    if type(delay_ms) ~= "number" or delay_ms < 0 then error("delay_ms must be a non-negative number", 2) end
    if type(fn) ~= "function" then error("fn must be a function", 2) end
    return backend.timer_start(delay_ms, 0, fn, ...)
  end

  function timer.every(interval_ms, fn, ...)
    if type(interval_ms) ~= "number" or interval_ms <= 0 then error("interval_ms must be a positive number", 2) end
    if type(fn) ~= "function" then error("fn must be a function", 2) end
    return backend.timer_start(interval_ms, interval_ms, fn, ...)
  end

  function timer.cancel(id)
    backend.timer_cancel(id)
  end

  return timer
end

return _M
