-- proxy-cache: NOT IMPLEMENTED YET. Only the configuration schema (schema.lua) is done, so a
-- Kong config naming proxy-cache validates and loads; this handler caches nothing and adds no
-- X-Cache-Status header. Every request goes to the service as if the plugin were absent.
-- The caching handler is still to be written (owned by another engineer).
local ProxyCacheHandler = { PRIORITY = 100, VERSION = "0.0.1" }

return ProxyCacheHandler
