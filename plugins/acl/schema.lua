-- acl: configuration, Kong's fields and defaults. Exactly one of allow/deny.
local function one_list(config)
  local has_allow = type(config.allow) == "table" and #config.allow > 0
  local has_deny = type(config.deny) == "table" and #config.deny > 0
  if has_allow and has_deny then
    return nil, "config.allow: only one of these fields can be set: 'config.allow', 'config.deny'"
  end
  if not has_allow and not has_deny then
    return nil, "config.allow: at least one of these fields must be non-empty: " ..
                "'config.allow', 'config.deny'"
  end
  return true
end

return {
  name = "acl",
  no_consumer = true,
  fields = {
    { config = {
        type = "record",
        fields = {
          { allow = { type = "array", elements = { type = "string" } } },
          { deny = { type = "array", elements = { type = "string" } } },
          { hide_groups_header = { type = "boolean", required = true, default = false } },
          { always_use_authenticated_groups = { type = "boolean", required = true,
                                                default = false } },
          { include_consumer_groups = { type = "boolean", required = true, default = false } },
        },
        custom_validator = one_list,
    } },
  },
}
