#!/bin/sh
# bench/run.sh: turnpike side by side with NGINX on this machine (`make bench`).
#
# Everything runs on 127.0.0.1. With 2+ cores the gateways are pinned to core 0 and the load
# (wrk, the upstream NGINX, the helper scripts) to core 1, so the gateway has one core to itself.
# Results are ratios and medians over interleaved rounds, never pass/fail. The Markdown table
# goes to stdout and to bench/RESULTS.md; raw numbers stay in the work folder it names.
#
# Knobs (environment): BENCH_CONNS (50), BENCH_ROUNDS (5), BENCH_HEAD_S (5, plain proxy rounds),
# BENCH_CASE_S (3, the other cases), BENCH_IDLE_CONNS (10000), BENCH_KEEP=1 keeps the work folder.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
B=$ROOT/bench
TP=$ROOT/build/turnpike
CONNS=${BENCH_CONNS:-50}
ROUNDS=${BENCH_ROUNDS:-5}
HEAD_S=${BENCH_HEAD_S:-5}
CASE_S=${BENCH_CASE_S:-3}
IDLE_N=${BENCH_IDLE_CONNS:-10000}
KEEPALIVE=64
[ "$KEEPALIVE" -lt "$CONNS" ] && KEEPALIVE=$CONNS
HZ=$(getconf CLK_TCK)

if [ "$(nproc)" -ge 2 ]; then GW="taskset -c 0"; LOAD="taskset -c 1"; else GW=""; LOAD=""; fi

W=$(mktemp -d /tmp/turnpike-bench.XXXXXX)
: > "$W/pids"        # "pid signal" of every process this script started
: > "$W/results.tsv" # one line per wrk run
: > "$W/kv"          # "key value" facts for the summary
export BENCH_DIR=$B

say() { printf '%s\n' "$*" >&2; }
kv() { printf '%s %s\n' "$1" "$2" >> "$W/kv"; }
track() { printf '%s %s\n' "$1" "$2" >> "$W/pids"; }

# children PID: the child processes of PID (the gateway's workers).
children() {
    if ls /proc/"$1"/task/*/children >/dev/null 2>&1; then
        cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$'
    else
        for s in /proc/[0-9]*/stat; do
            sed 's/^.*) //' "$s" 2>/dev/null | awk -v p="$1" -v f="$s" \
                '$2 == p { split(f, a, "/"); print a[3] }'
        done
    fi
}

# fg CMD...: run CMD and wait for it in a way a trapped signal interrupts at once (a plain
# foreground command would make the shell wait for it before running the trap).
FG=""
fg() {
    "$@" &
    FG=$!
    wait "$FG"
    _rc=$?
    FG=""
    return $_rc
}

# Stop what we started: each master by its own signal, then KILL whatever (or whichever
# worker) is left after two seconds.
cleanup() {
    trap - EXIT INT TERM
    [ -n "$FG" ] && kill "$FG" 2>/dev/null
    left=""
    while read -r pid sig; do
        [ -d /proc/"$pid" ] || continue
        left="$left $pid $(children "$pid" | tr '\n' ' ')"
        kill -"$sig" "$pid" 2>/dev/null
    done < "$W/pids"
    i=0
    while [ $i -lt 20 ]; do
        alive=""
        for p in $left; do [ -d /proc/"$p" ] && alive="$alive $p"; done
        [ -z "$alive" ] && break
        sleep 0.1
        i=$((i + 1))
    done
    for p in $left; do [ -d /proc/"$p" ] && kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "work folder kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ports N: N distinct free TCP ports on 127.0.0.1 (held together while picked).
ports() {
    python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# machine_busy: non-idle clock ticks of all CPUs together, from /proc/stat.
machine_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

vmrss() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }

# proc_ticks EXPR PID...: EXPR over the fields of /proc/PID/stat after the command name ($12
# utime, $13 stime, in clock ticks), summed over the processes.
proc_ticks() {
    _expr=$1
    shift
    _ct=0
    for _cp in "$@"; do
        _cv=$(sed 's/^.*) //' /proc/"$_cp"/stat 2>/dev/null | awk "{ print $_expr }")
        _ct=$((_ct + ${_cv:-0}))
    done
    echo $_ct
}
cpu_ticks() { proc_ticks '$12 + $13' "$@"; }   # utime + stime
user_ticks() { proc_ticks '$12' "$@"; }        # utime: the gateway's own code

# http_code PORT PATH [HEADER]: the status code a GET answers with (000 when nothing answers).
http_code() {
    if [ $# -ge 3 ]; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' -H "$3" "http://127.0.0.1:$1$2"
    else
        curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1$2"
    fi
}

# wait_http PORT: wait up to 10 s for anything to answer HTTP on PORT.
wait_http() {
    i=0
    while [ $i -lt 100 ]; do
        [ "$(http_code "$1" /)" != 000 ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# start_turnpike NAME TEMPLATE PORT [NAME=VALUE...]: render bench/configs/TEMPLATE into
# $W/NAME/turnpike.yml and start a gateway on it; the master PID goes in $W/NAME/master.
start_turnpike() {
    name=$1 tmpl=$2 port=$3
    shift 3
    mkdir -p "$W/$name"
    python3 "$B/render.py" "$B/configs/$tmpl" "$W/$name/turnpike.yml" PORT="$port" \
        UP_PORT="$UP_PORT" PREFIX="$W/$name/run" PLUGINS="$B/plugins" KEEPALIVE="$KEEPALIVE" "$@" \
        || return 1
    $GW "$TP" run -c "$W/$name/turnpike.yml" > "$W/$name/log" 2>&1 &
    echo $! > "$W/$name/master"
    track $! QUIT
    echo "$port" > "$W/$name/port"
    if ! wait_http "$port"; then
        say "turnpike $name did not start; its log:"
        cat "$W/$name/log" >&2
        return 1
    fi
}

# start_nginx NAME CONF PORT [NAME=VALUE...]: the same for bench/nginx/CONF.
start_nginx() {
    name=$1 conf=$2 port=$3
    shift 3
    mkdir -p "$W/$name"
    python3 "$B/render.py" "$B/nginx/$conf" "$W/$name/nginx.conf" PORT="$port" \
        UP_PORT="${UP_PORT:-0}" PREFIX="$W/$name" KEEPALIVE="$KEEPALIVE" "$@" || return 1
    if ! nginx -t -q -p "$W/$name" -c "$W/$name/nginx.conf" > "$W/$name/check" 2>&1; then
        return 1
    fi
    cpu=$GW
    [ "$name" = upstream ] && cpu=$LOAD
    $cpu nginx -p "$W/$name" -c "$W/$name/nginx.conf" > "$W/$name/log" 2>&1 &
    echo $! > "$W/$name/master"
    track $! TERM
    echo "$port" > "$W/$name/port"
    wait_http "$port"
}

# gw_pids NAME: the master and its workers.
gw_pids() {
    m=$(cat "$W/$1/master")
    echo "$m $(children "$m" | tr '\n' ' ')"
}
worker_rss() {
    _wt=0
    for _wp in $(children "$(cat "$W/$1/master")"); do _wt=$((_wt + $(vmrss "$_wp"))); done
    echo $_wt
}

# measure NAME ROUND SECONDS [URL]: one wrk run against gateway NAME, with the header in
# $W/NAME/header and the wrk script in $W/NAME/script when present. Appends to results.tsv:
# name round requests duration_us p50_us p99_us sockerr non2xx gateway_cpu_ticks other_ticks
# gateway_user_ticks
measure() {
    name=$1 round=$2 secs=$3
    url=${4:-http://127.0.0.1:$(cat "$W/$name/port")/bench/x}
    script=$B/report.lua
    [ -f "$W/$name/script" ] && script=$(cat "$W/$name/script")
    # tokens.lua cycles through the target's own token file
    [ -f "$W/$name/tokens" ] && export BENCH_TOKENS="$W/$name/tokens"
    pids=$(gw_pids "$name")
    ups=$(gw_pids upstream)
    c0=$(cpu_ticks $pids)
    cu0=$(user_ticks $pids)
    u0=$(cpu_ticks $ups)
    m0=$(machine_busy)
    wt="/usr/bin/time -o $W/$name/wrktime.$round -f %U+%S"
    if ! [ -d /proc/"$(cat "$W/$name/master")" ]; then
        say "  $name round $round: the gateway is not running any more"
        kv "died" "$name"
        return 1
    fi
    if [ -f "$W/$name/header" ]; then
        fg $LOAD $wt wrk -t1 -c"$CONNS" -d"${secs}s" --latency -s "$script" \
            -H "$(cat "$W/$name/header")" "$url" > "$W/$name/wrk.$round" 2>&1
    else
        fg $LOAD $wt wrk -t1 -c"$CONNS" -d"${secs}s" --latency -s "$script" "$url" \
            > "$W/$name/wrk.$round" 2>&1
    fi
    c1=$(cpu_ticks $pids)
    cu1=$(user_ticks $pids)
    u1=$(cpu_ticks $ups)
    # a worker that died (and was replaced) in the round makes its CPU figure meaningless
    if [ "$(gw_pids "$name")" != "$pids" ]; then
        say "  $name round $round: a gateway process died during the round (see $W/$name/log)"
        kv respawned "$name:$round"
        c1=$((c0 - 1))
    fi
    m1=$(machine_busy)
    # ticks the rest of the machine (other users, not gateway, upstream or wrk) spent
    wrk_ticks=$(awk -v hz="$HZ" -F+ '{ printf "%d", ($1 + $2) * hz }' "$W/$name/wrktime.$round")
    other=$((m1 - m0 - (c1 - c0) - (u1 - u0) - ${wrk_ticks:-0}))
    [ $other -lt 0 ] && other=0
    [ $c1 -lt $c0 ] && other=0
    line=$(grep '^BENCH ' "$W/$name/wrk.$round" | tail -n 1)
    if [ -z "$line" ]; then
        say "  $name round $round: wrk gave no result (see $W/$name/wrk.$round)"
        return 1
    fi
    set -- $(echo "$line" | tr ' =' '\n\n' | awk 'NR % 2 == 1 && NR > 1')
    printf '%s %s %s %s %s %s %s %s %s %s %s\n' "$name" "$round" "$1" "$2" "$3" "$4" "$5" "$6" \
        $((c1 - c0)) "$other" $((cu1 - cu0)) >> "$W/results.tsv"
    say "  $name round $round: $(awk -v r="$1" -v d="$2" -v c=$((c1 - c0)) -v o="$other" -v hz="$HZ" \
        'BEGIN { printf "%.0f req/s, %.1f us CPU/req, other load %.0f%% of a core", r / (d / 1e6), c / hz * 1e6 / r, o / hz / (d / 1e6) * 100 }'), p99 $(($4 / 1000)).$(($4 % 1000 / 100)) ms, errors $5+$6"
}

# check NAME EXPECT [HEADER]: the gateway answers /bench/x with EXPECT, else note it.
check() {
    got=$(http_code "$(cat "$W/$1/port")" /bench/x ${3:+"$3"})
    if [ "$got" != "$2" ]; then
        say "  $1: /bench/x answered $got, expected $2"
        kv "check_failed" "$1:$got"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
say "bench: work folder $W, $CONNS connections, $ROUNDS rounds (${HEAD_S}s / ${CASE_S}s)"
[ -x "$TP" ] || { say "build/turnpike is missing: run make"; exit 1; }
kv date "$(date -u '+%Y-%m-%d %H:%M UTC')"
kv nproc "$(nproc)"
kv cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
kv commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git status --porcelain core lua plugins 2>/dev/null | grep -q . && echo ' + uncommitted changes in core/lua/plugins')"
kv conns "$CONNS"
kv hz "$HZ"
kv rounds "$ROUNDS"
kv head_s "$HEAD_S"
kv case_s "$CASE_S"
kv pinned "$([ -n "$GW" ] && echo yes || echo no)"
kv versions "$("$TP" version 2>&1 | head -n 1); $(nginx -v 2>&1 | sed 's/.*: //'); $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"

set -- $(ports 19)
UP_PORT=$1 P_TP=$2 P_NGX=$3 P_NOOP=$4 P_R1000=$5 P_KEY=$6 P_LUA=$7 P_HS=$8 P_HSU=$9
shift 9
P_RS=$1 P_RL=$2 P_RELOAD=$3 P_RLR=$4 P_CACHE=$5 P_NCACHE=$6 P_REDIS=$7 P_RSU=$8

# Keys and tokens.
APIKEY=bench-key-0123456789
HS_SECRET=bench-hs256-secret-0123456789abcdef
python3 "$B/jwt_hs256.py" "$HS_SECRET" bench-hs 1 > "$W/hs.token"
python3 "$B/jwt_hs256.py" "$HS_SECRET" bench-hs 12000 > "$W/hs-unique.tokens"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/rs.key" 2>/dev/null
openssl pkey -in "$W/rs.key" -pubout -out "$W/rs.pub" 2>/dev/null
jh=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
jp=$(printf '{"iss":"bench-rs","exp":%d}' $(($(date +%s) + 3600)) | b64url)
js=$(printf '%s.%s' "$jh" "$jp" | openssl dgst -sha256 -sign "$W/rs.key" -binary | b64url)
echo "$jh.$jp.$js" > "$W/rs.token"
# distinct RS256 tokens, signed by python3's cryptography: each is verified on first sight
python3 "$B/jwt_rs256.py" "$W/rs.key" bench-rs 12000 > "$W/rs-unique.tokens" \
    || : > "$W/rs-unique.tokens"

# Routes for the 1,000-route case and the reload case: N-1 others, then /bench last.
gen_routes() {
    i=1
    while [ "$i" -lt "$1" ]; do
        printf '      - name: r%d\n        paths: ["/route-%d/api"]\n' "$i" "$i"
        i=$((i + 1))
    done
    printf '      - name: last\n        paths: ["/bench"]\n'
    [ -n "${2:-}" ] && printf '      - name: %s\n        paths: ["/%s"]\n' "$2" "$2"
    return 0
}
gen_routes 1000 > "$W/routes-1000.yml"
gen_routes 10 > "$W/routes-10.yml"

say "starting the upstream and the gateways"
start_nginx upstream upstream.conf "$UP_PORT" || { say "upstream nginx failed"; exit 1; }
start_turnpike tp-plain plain.yml "$P_TP" || exit 1
kv idle_rss_tp_kb "$(worker_rss tp-plain)"
start_nginx nginx gateway.conf "$P_NGX" || { say "nginx gateway failed: $(cat "$W/nginx/check")"; exit 1; }
kv idle_rss_nginx_kb "$(worker_rss nginx)"
start_turnpike tp-noop3 noop3.yml "$P_NOOP"
start_turnpike tp-routes1000 routes.yml "$P_R1000" ROUTES="@$W/routes-1000.yml"
start_turnpike tp-key-auth key-auth.yml "$P_KEY" APIKEY="$APIKEY"
echo "apikey: $APIKEY" > "$W/tp-key-auth/header"
start_turnpike tp-jwt-hs256 jwt-hs256.yml "$P_HS" HS_SECRET="$HS_SECRET"
echo "Authorization: Bearer $(cat "$W/hs.token")" > "$W/tp-jwt-hs256/header"
start_turnpike tp-jwt-hs256-uniq jwt-hs256.yml "$P_HSU" HS_SECRET="$HS_SECRET"
echo "$B/tokens.lua" > "$W/tp-jwt-hs256-uniq/script"
cp "$W/hs-unique.tokens" "$W/tp-jwt-hs256-uniq/tokens"
start_turnpike tp-jwt-rs256 jwt-rs256.yml "$P_RS" RSA_PUB="@$W/rs.pub"
echo "Authorization: Bearer $(cat "$W/rs.token")" > "$W/tp-jwt-rs256/header"
if [ -s "$W/rs-unique.tokens" ]; then
    start_turnpike tp-jwt-rs256-uniq jwt-rs256.yml "$P_RSU" RSA_PUB="@$W/rs.pub"
    echo "$B/tokens.lua" > "$W/tp-jwt-rs256-uniq/script"
    cp "$W/rs-unique.tokens" "$W/tp-jwt-rs256-uniq/tokens"
fi
start_turnpike tp-rate-limiting rate-limiting.yml "$P_RL"
# a redis-server for the redis policy, on the load core like the upstream
mkdir -p "$W/redis"
$LOAD redis-server --port "$P_REDIS" --bind 127.0.0.1 --save '' --appendonly no \
    > "$W/redis/log" 2>&1 &
echo $! > "$W/redis/master"
track $! TERM
i=0
while [ $i -lt 50 ] && ! redis-cli -p "$P_REDIS" ping > /dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
start_turnpike tp-rate-limiting-redis rate-limiting-redis.yml "$P_RLR" REDIS_PORT="$P_REDIS"
start_turnpike tp-cache-hit proxy-cache.yml "$P_CACHE"
start_nginx nginx-cache cache.conf "$P_NCACHE" || kv missing nginx-cache
if start_nginx nginx-lua lua.conf "$P_LUA" APIKEY="$APIKEY"; then
    echo "apikey: $APIKEY" > "$W/nginx-lua/header"
    kv nginx_lua loaded
else
    kv nginx_lua "did not load: $(head -n 1 "$W/nginx-lua/check" 2>/dev/null)"
    say "nginx with lua-nginx-module did not start: reporting turnpike only for key lookups"
fi

# Every target answers what it should before anything is measured.
TARGETS="tp-plain nginx tp-noop3 tp-routes1000 tp-key-auth tp-jwt-hs256 tp-jwt-hs256-uniq tp-jwt-rs256 tp-jwt-rs256-uniq tp-rate-limiting tp-rate-limiting-redis tp-cache-hit nginx-cache nginx-lua"
RUN=""
for t in $TARGETS; do
    [ -f "$W/$t/master" ] && [ -d /proc/"$(cat "$W/$t/master")" ] || { kv missing "$t"; continue; }
    case $t in
    tp-key-auth | nginx-lua) check "$t" 401 && check "$t" 200 "$(cat "$W/$t/header")" ;;
    tp-jwt-hs256 | tp-jwt-rs256) check "$t" 401 && check "$t" 200 "$(cat "$W/$t/header")" ;;
    tp-jwt-hs256-uniq | tp-jwt-rs256-uniq)
        check "$t" 200 "Authorization: Bearer $(tail -n 1 "$W/$t/tokens")" ;;
    *) check "$t" 200 ;;
    esac && RUN="$RUN $t"
done

say "upstream alone (the ceiling the gateways are far from)"
echo "$UP_PORT" > "$W/upstream/port"
measure upstream 1 "$CASE_S" "http://127.0.0.1:$UP_PORT/bench/x"

r=1
while [ $r -le "$ROUNDS" ]; do
    say "round $r of $ROUNDS"
    for t in $RUN; do
        case $t in tp-plain | nginx) s=$HEAD_S ;; *) s=$CASE_S ;; esac
        measure "$t" "$r" "$s"
    done
    r=$((r + 1))
    [ -d /proc/"$(cat "$W/upstream/master")" ] || { say "the upstream NGINX died"; exit 1; }
done
kv rss_after_tp_kb "$(worker_rss tp-plain)"
kv rss_after_nginx_kb "$(worker_rss nginx)"
for t in $RUN; do kv "alive_$t" "$([ -d /proc/"$(cat "$W/$t/master")" ] && echo yes || echo no)"; done
crashes() { grep -c 'killed by signal' "$W/$1/log" 2>/dev/null || true; }

# ---------------------------------------------------------------------------------------------
say "reload latency"
mkdir -p "$W/tp-reload"
rcfg="$W/tp-reload/turnpike.yml"
render_reload() { # N EXTRA_ROUTE_NAME
    gen_routes "$1" "$2" > "$W/tp-reload/routes.yml"
    python3 "$B/render.py" "$B/configs/routes.yml" "$rcfg.new" PORT="$P_RELOAD" UP_PORT="$UP_PORT" \
        PREFIX="$W/tp-reload/run" PLUGINS="$B/plugins" KEEPALIVE="$KEEPALIVE" \
        ROUTES="@$W/tp-reload/routes.yml" && mv "$rcfg.new" "$rcfg"
}
render_reload 10 ""
$GW "$TP" run -c "$rcfg" > "$W/tp-reload/log" 2>&1 &
echo $! > "$W/tp-reload/master"
track $! QUIT
echo "$P_RELOAD" > "$W/tp-reload/port"
if wait_http "$P_RELOAD"; then
    RM=$(cat "$W/tp-reload/master")
    k=1
    for n in 10 1000; do
        for trial in 1 2 3; do
            render_reload "$n" "reload-$k"
            fg $LOAD python3 "$B/reload.py" "$RM" "$P_RELOAD" "/reload-$k/x" 15 > "$W/reload.out"
            ms=$(sed -n 's/^RELOAD ms=//p' "$W/reload.out")
            kv "reload_${n}_ms" "${ms:-failed}"
            say "  $n routes, reload $trial: ${ms:-failed} ms"
            k=$((k + 1))
        done
    done
    # p99 with and without a SIGHUP every 300 ms, on the 10-route config
    render_reload 10 "reload-$k"
    fg $LOAD python3 "$B/reload.py" "$RM" "$P_RELOAD" "/reload-$k/x" 15 > /dev/null
    : > "$W/hups"
    for trial in 1 2 3; do
        measure tp-reload "quiet$trial" "$CASE_S"
        [ $trial = 1 ] && kv reload_rss_before_kb "$(worker_rss tp-reload)"
        (while :; do sleep 0.3; kill -HUP "$RM" 2>/dev/null || break; echo >> "$W/hups"; done) &
        HL=$!
        track $HL TERM
        measure tp-reload "hup$trial" "$CASE_S"
        kill "$HL" 2>/dev/null
        wait "$HL" 2>/dev/null
    done
    kv hups "$(wc -l < "$W/hups")"
    sleep 1
    kv reload_workers_after "$(children "$RM" | wc -l)"
    kv reload_rss_after_kb "$(worker_rss tp-reload)"
    kv alive_tp-reload "$([ -d /proc/"$RM" ] && echo yes || echo no)"
else
    say "reload gateway did not start"
    cat "$W/tp-reload/log" >&2
fi

# ---------------------------------------------------------------------------------------------
say "$IDLE_N idle keep-alive connections"
for g in tp-plain nginx; do
    [ -d /proc/"$(cat "$W/$g/master")" ] || continue
    wp=$(children "$(cat "$W/$g/master")" | tr '\n' ',')
    fg $LOAD python3 "$B/idle_conns.py" "$(cat "$W/$g/port")" /bench/x "$IDLE_N" "$wp" \
        > "$W/idle.out"
    out=$(cat "$W/idle.out")
    say "  $g: $out"
    kv "idle_$g" "$(echo "$out" | sed 's/^IDLE //')"
done

for t in $RUN tp-reload; do
    case $t in tp-*) n=$(crashes "$t"); [ "${n:-0}" -gt 0 ] && kv crashes "$t:$n" ;; esac
done

say "router micro-benchmark"
fg $LOAD luajit "$B/router_bench.lua" 0.3 > "$W/router.txt" 2>&1

python3 "$B/summarize.py" "$W" > "$W/RESULTS.md" && cp "$W/RESULTS.md" "$B/RESULTS.md" \
    && cat "$B/RESULTS.md"
