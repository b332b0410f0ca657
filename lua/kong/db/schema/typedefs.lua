-- kong.db.schema.typedefs: lets Kong plugin schemas load; the definitions live in turnpike.typedefs.
return require "turnpike.typedefs"
