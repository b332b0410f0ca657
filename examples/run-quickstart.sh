#!/bin/sh
# `make run`: start the gateway in the foreground on examples/quickstart.yml.
cd "$(dirname "$0")/.."
cat <<MSG

turnpike quickstart: proxy on http://127.0.0.1:8000, admin on http://127.0.0.1:8001
  curl -i http://127.0.0.1:8000/hello/world
  curl -i http://127.0.0.1:8000/private/data -H 'apikey: alice-secret-key'
  curl -s http://127.0.0.1:8001/status
Ctrl-C stops it.

MSG
exec build/turnpike run -c examples/quickstart.yml
