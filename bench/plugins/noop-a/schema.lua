-- noop-a: no settings.
return {
  name = "noop-a",
  fields = {
    { config = { type = "record", fields = {} } },
  },
}
