-- noop-c: no settings.
return {
  name = "noop-c",
  fields = {
    { config = { type = "record", fields = {} } },
  },
}
