#!/bin/sh
# Runs every test suite and ends with one line "N passed, N failed" summed over all
# of them: the C unit tests (built with ASan+UBSan), the busted unit specs, the
# plugin specs, the integration specs against the real build/turnpike, and the
# Redis-backed specs against a redis-server this script starts on a loopback port.
#   spec/run-all.sh          everything
#   spec/run-all.sh c        only the C suites
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOG=$(mktemp -d /tmp/turnpike-test.XXXXXX)
PASSED=0
FAILED=0
SUITE_FAIL=""

add() { PASSED=$((PASSED + $1)); FAILED=$((FAILED + $2)); }

run_c() {
    for t in build/test/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        out="$LOG/$name.out"
        timeout 300 "$t" >"$out" 2>&1
        rc=$?
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
        if [ -z "$line" ]; then
            echo "C  $name: no result line (exit $rc)"; tail -n 20 "$out"
            add 0 1; SUITE_FAIL="$SUITE_FAIL $name"; continue
        fi
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1/')
        f=$(echo "$line" | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\2/')
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        echo "C  $name: $p passed, $f failed"
        [ "$f" -ne 0 ] && { grep -E 'FAIL|ERROR|runtime error' "$out" | head -n 20; SUITE_FAIL="$SUITE_FAIL $name"; }
        add "$p" "$f"
    done
}

# busted prints "N successes / N failures / N errors / N pending"
run_busted() {
    label=$1; shift
    out="$LOG/busted-$label.out"
    timeout 1200 build/turnpike spec "$@" >"$out" 2>&1
    rc=$?
    line=$(grep -E '[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        echo "LUA $label: no busted summary (exit $rc)"; tail -n 30 "$out"
        add 0 1; SUITE_FAIL="$SUITE_FAIL $label"; return
    fi
    s=$(echo "$line" | sed -E 's/.*([^0-9]|^)([0-9]+) success.*/\2/')
    s=$(echo "$line" | grep -oE '[0-9]+ success' | grep -oE '[0-9]+')
    f=$(echo "$line" | grep -oE '[0-9]+ failure' | grep -oE '[0-9]+')
    e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+')
    bad=$((f + e))
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    echo "LUA $label: $s passed, $bad failed"
    if [ "$bad" -ne 0 ]; then
        sed -n '/^Failure\|^Error/,/^$/p' "$out" | head -n 80
        SUITE_FAIL="$SUITE_FAIL $label"
    fi
    add "$s" "$bad"
}

REDIS_PID=""
start_redis() {
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        >"$LOG/redis.log" 2>&1 &
    REDIS_PID=$!
    i=0
    while [ $i -lt 50 ]; do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1; i=$((i + 1))
    done
    export TURNPIKE_TEST_REDIS_PORT="$port"
}
stop_redis() { [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=""; }
trap stop_redis EXIT INT TERM

# Each fuzz target runs for FUZZ_SECONDS (default 15) from its corpus; a crash fails it.
run_fuzz() {
    for f in build/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        case "$f" in *.*) continue ;; esac
        name=$(basename "$f")
        corpus="build/fuzz/corpus-$name"
        mkdir -p "$corpus"
        [ -d "core/fuzz/seeds/$name" ] && cp -n core/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
        out="$LOG/$name.out"
        (cd "$LOG" && timeout 300 "$ROOT/$f" -max_total_time="${FUZZ_SECONDS:-15}" -max_len=8192 \
            "$ROOT/$corpus" >"$out" 2>&1)
        if [ $? -eq 0 ]; then
            echo "FUZZ $name: $(grep -oE 'Done [0-9]+ runs' "$out" | tail -n 1), no crash"; add 1 0
        else
            echo "FUZZ $name: crash or error"; tail -n 30 "$out"; add 0 1; SUITE_FAIL="$SUITE_FAIL $name"
        fi
    done
}

what=${1:-all}
run_c
[ "$what" = all ] && run_fuzz
if [ "$what" = all ]; then
    run_busted unit spec/01-unit
    run_busted plugins spec/03-plugins
    [ -d examples/plugins ] && ls examples/plugins/*/spec >/dev/null 2>&1 && run_busted examples examples/plugins
    # the plugin quickstart as an author outside this repository uses it
    if [ -d examples/plugin-quickstart ]; then
        qs=$(mktemp -d /tmp/turnpike-quickstart.XXXXXX)
        cp -r examples/plugin-quickstart/. "$qs"
        out="$LOG/busted-quickstart.out"
        (cd "$qs" && timeout 300 "$ROOT/build/turnpike" spec plugins) >"$out" 2>&1
        rc=$?
        line=$(grep -E '[0-9]+ successes? / [0-9]+ failures?' "$out" | tail -n 1)
        s=$(echo "$line" | grep -oE '[0-9]+ success' | grep -oE '[0-9]+')
        f=$(echo "$line" | grep -oE '[0-9]+ failure' | grep -oE '[0-9]+')
        e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+')
        bad=$(( ${f:-0} + ${e:-0} ))
        [ -z "$line" ] || [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
        echo "LUA quickstart (outside the repo): ${s:-0} passed, $bad failed"
        [ "$bad" -ne 0 ] && { tail -n 30 "$out"; SUITE_FAIL="$SUITE_FAIL quickstart"; }
        add "${s:-0}" "$bad"
        rm -rf "$qs"
    fi
    run_busted integration spec/02-integration
    # the core's HTTP paths again, against the gateway built with ASan+UBSan (the kit's
    # gw:stop() fails a spec whose gateway logged a sanitizer report: a crashed worker is
    # replaced by the master, so nothing else would show it)
    if [ -x build/asan/turnpike ]; then
        export TURNPIKE_SPEC_BINARY="$ROOT/build/asan/turnpike" ASAN_OPTIONS=detect_leaks=0
        run_busted integration-asan spec/02-integration/01-proxy_spec.lua \
            spec/02-integration/02-http_limits_spec.lua spec/02-integration/03-keepalive_pipelining_spec.lua \
            spec/02-integration/20-outbound_io_spec.lua spec/02-integration/40-proxy_cache_spec.lua \
            spec/02-integration/11-chaos_spec.lua spec/02-integration/12-tls_spec.lua \
            spec/02-integration/13-tls_upstream_spec.lua spec/02-integration/21-outbound_https_spec.lua \
            spec/02-integration/15-websocket_spec.lua spec/02-integration/16-plugin_errors_spec.lua \
            spec/02-integration/50-auth_spec.lua spec/02-integration/17-sdk_heads_spec.lua \
            spec/02-integration/18-response_framing_spec.lua \
            spec/02-integration/19-request_bodies_spec.lua \
            spec/02-integration/20-peers_and_retries_spec.lua
        unset TURNPIKE_SPEC_BINARY ASAN_OPTIONS
    fi
    if command -v redis-server >/dev/null 2>&1; then
        start_redis
        [ -d spec/04-redis ] && ls spec/04-redis/*_spec.lua >/dev/null 2>&1 && run_busted redis spec/04-redis
        stop_redis
    fi
fi

echo
[ -n "$SUITE_FAIL" ] && echo "failing suites:$SUITE_FAIL"
echo "logs: $LOG"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
