-- echo: answers every request itself with a JSON description of what it received.
-- The quickstart uses it as its demo upstream, so `make run` needs no other server.
return {
  name = "echo",
  fields = {
    { config = {
        type = "record",
        fields = {
          { status = { type = "integer", default = 200, between = { 100, 599 } } },
          { message = { type = "string", default = "hello from the turnpike demo upstream" } },
        },
    } },
  },
}
