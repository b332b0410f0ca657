-- hello: its configuration. `turnpike check -c turnpike.yml` and the gateway validate every
-- config against this, fill the defaults, and the handler trusts what it gets.
return {
  name = "hello",
  fields = {
    { config = {
        type = "record",
        fields = {
          { greeting = { type = "string", required = true, default = "hello" } },
          -- the request header the upstream receives the greeting in
          { header = { type = "string", required = true, default = "X-Greeting",
                       match = "^[%w%-]+$" } },
        },
    } },
  },
}
