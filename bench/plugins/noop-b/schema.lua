-- noop-b: no settings.
return {
  name = "noop-b",
  fields = {
    { config = { type = "record", fields = {} } },
  },
}
