"""Turn the raw numbers of one bench/run.sh run into the Markdown of bench/RESULTS.md.

usage: python3 summarize.py WORKDIR   (reads results.tsv, kv and router.txt; prints Markdown)
Figures are medians over the interleaved rounds; ratios are turnpike / NGINX or case / plain.
"""
import os
import statistics
import sys

LABELS = {
    "tp-plain": "turnpike, plain proxy",
    "nginx": "NGINX, plain proxy",
    "tp-noop3": "turnpike, 3 no-op plugins",
    "tp-routes1000": "turnpike, 1,000 prefix routes (last one matched)",
    "tp-key-auth": "turnpike, key-auth",
    "tp-jwt-hs256": "turnpike, jwt HS256 + exp (one token)",
    "tp-jwt-hs256-uniq": "turnpike, jwt HS256 + exp (12,000 distinct tokens)",
    "tp-jwt-rs256": "turnpike, jwt RS256 + exp (one token)",
    "tp-jwt-rs256-uniq": "turnpike, jwt RS256 + exp (12,000 distinct tokens: first sight)",
    "tp-rate-limiting": "turnpike, rate-limiting local (second: 1000000)",
    "tp-rate-limiting-redis": "turnpike, rate-limiting redis (second: 1000000)",
    "tp-cache-hit": "turnpike, proxy-cache hits",
    "nginx-cache": "NGINX, proxy_cache hits",
    "nginx-lua": "NGINX + lua, key lookup in a Lua table",
}


def load(work):
    kv = {}
    with open(os.path.join(work, "kv")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            kv.setdefault(key, []).append(value)
    hz = float(kv["hz"][0])
    runs, invalid = {}, {}
    with open(os.path.join(work, "results.tsv")) as f:
        for line in f:
            fields = line.split()
            name, rnd, req, dur, p50, p99, sockerr, non2xx, ticks, other = fields[:10]
            user = int(fields[10]) if len(fields) > 10 else None
            req, dur, ticks = int(req), int(dur) / 1e6, int(ticks)
            if ticks < 0 or req == 0 or (ticks == 0 and req > 1000 and name != "upstream"):
                # a gateway process died in this round: it counts only as errors
                invalid.setdefault(name, []).append(rnd)
                continue
            runs.setdefault(name, {})[rnd] = {
                "rps": req / dur, "p50": int(p50) / 1000.0, "p99": int(p99) / 1000.0,
                "cpu_us": ticks / hz * 1e6 / req if req else float("nan"),
                "user_us": user / hz * 1e6 / req if req and user is not None else float("nan"),
                "util": ticks / hz / dur * 100.0, "errors": int(sockerr) + int(non2xx),
                "requests": req, "other": int(other) / hz / dur * 100.0,
            }
    kv["invalid"] = invalid
    return kv, runs


FIELDS = ("rps", "p50", "p99", "cpu_us", "user_us", "util", "other")


def paired(case, base, field):
    """Median over the rounds both ran of case[field] - base[field]: each case against the
    baseline measured in the same round (the kernel's share of a request drifts between rounds
    on a shared VM; a difference within one round is steadier than a difference of minima)."""
    diffs = [case[k][field] - base[k][field] for k in case if k in base]
    return statistics.median(diffs) if diffs else float("nan")


def med(rounds, field, which=None):
    vals = [r[field] for k, r in rounds.items() if which is None or k in which]
    return statistics.median(vals) if vals else float("nan")


def one(kv, key, default="n/a"):
    return kv.get(key, [default])[0]


def mb(kb):
    return "%.1f MB" % (int(kb) / 1024.0)


def main(work):
    kv, runs = load(work)
    numbered = lambda name: {k: v for k, v in runs.get(name, {}).items() if k.isdigit()}
    stats = {}
    for name in LABELS:
        rs = numbered(name)
        if rs:
            stats[name] = {f: med(rs, f) for f in FIELDS}
            # CPU/request: the least disturbed round (other load only ever adds to it)
            stats[name]["cpu_us"] = min(r["cpu_us"] for r in rs.values())
            stats[name]["errors"] = sum(r["errors"] for r in rs.values())
            stats[name]["rounds"] = [r["rps"] for _, r in sorted(rs.items())]
    out = []
    w = out.append
    w("# turnpike benchmark results")
    w("")
    w("Measured %s on %s cores (%s) by `make bench` (bench/run.sh), tree at %s. %s" % (
        one(kv, "date"), one(kv, "nproc"), one(kv, "cpu"), one(kv, "commit"),
        one(kv, "versions")))
    w("")
    w("Setup: wrk -t1 -c%s --latency; %s interleaved rounds per case (%ss for the plain-proxy "
      "pair, %ss for the other cases); figures are medians over the rounds, except CPU/request, "
      "which is the lowest round (other load on the machine only ever adds to it). Gateways run one "
      "worker%s. Both gateways proxy to the same upstream, an NGINX returning `ok` with "
      "keep-alive; access logs are off on both. CPU/request is utime+stime of the gateway's "
      "master and worker over the round divided by the requests served. These are ratios on a "
      "small shared machine, not absolute capacity figures." % (
          one(kv, "conns"), one(kv, "rounds"), one(kv, "head_s"), one(kv, "case_s"),
          ", pinned to core 0 while wrk and the upstream share core 1"
          if one(kv, "pinned") == "yes" else ""))
    w("")
    up = runs.get("upstream", {}).get("1")
    if up:
        w("Upstream alone (wrk straight to it, sharing its core): %.0f req/s." % up["rps"])
        w("")
    for key in kv.get("check_failed", []):
        w("**Check failed before measuring:** %s (target skipped)." % key)
    for key in kv.get("crashes", []):
        name, _, n = key.partition(":")
        w("**turnpike %s: %s worker crash(es) (`killed by signal` in its log).**" % (name, n))
    for name, rounds in sorted(kv["invalid"].items()):
        w("**%s: round(s) %s left out: a gateway process died during them.**" % (
            name, ", ".join(rounds)))
    for key in sorted(set(kv.get("died", []))):
        w("**%s stopped running during the rounds** (its later rounds are missing)." % key)
    for key in kv.get("missing", []):
        w("**Not measured:** %s did not start." % key)
    for key, value in kv.items():
        if key.startswith("alive_") and isinstance(value, list) and value[0] != "yes":
            w("**%s was not running after its rounds.**" % key[6:])
    w("")

    w("## 1. Plain proxy: turnpike vs NGINX")
    w("")
    w("| gateway | req/s | p50 | p99 | CPU/request | req/s per busy core | gateway CPU busy | "
      "worker RSS idle | worker RSS after | other load | errors |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    tp, ng = stats.get("tp-plain"), stats.get("nginx")
    rows = (("turnpike", tp, "idle_rss_tp_kb", "rss_after_tp_kb"),
            ("NGINX", ng, "idle_rss_nginx_kb", "rss_after_nginx_kb"))
    for label, s, idle, after in rows:
        if s:
            w("| %s | %.0f | %.2f ms | %.2f ms | %.1f µs | %.0f | %.0f%% | %s | %s | %.0f%% | %d |"
              % (label, s["rps"], s["p50"], s["p99"], s["cpu_us"], 1e6 / s["cpu_us"], s["util"],
                 mb(one(kv, idle, 0)), mb(one(kv, after, 0)), s["other"], s["errors"]))
    if tp and ng:
        w("| **turnpike / NGINX** | **%.2f** | **%.2f** | **%.2f** | **%.2f** | **%.2f** | | "
          "**%.2f** | **%.2f** | | |" % (
              tp["rps"] / ng["rps"], tp["p50"] / ng["p50"], tp["p99"] / ng["p99"],
              tp["cpu_us"] / ng["cpu_us"], ng["cpu_us"] / tp["cpu_us"],
              int(one(kv, "idle_rss_tp_kb", 0)) / max(1, int(one(kv, "idle_rss_nginx_kb", 1))),
              int(one(kv, "rss_after_tp_kb", 0)) / max(1, int(one(kv, "rss_after_nginx_kb", 1)))))
        w("")
        w("req/s per busy core = 1 s ÷ CPU/request: what one fully busy core would serve.")
        for label, st in (("turnpike", tp), ("NGINX", ng)):
            if st["util"] < 90:
                w("%s's core was only %.0f%% busy: its req/s is capped by wrk and the upstream "
                  "sharing the other core, so compare CPU/request (and req/s per busy core) "
                  "rather than req/s." % (label, st["util"]))
        w("")
        w("CPU/request per round (µs): turnpike %s; NGINX %s." % (
            ", ".join("%.1f" % r["cpu_us"] for _, r in sorted(numbered("tp-plain").items())),
            ", ".join("%.1f" % r["cpu_us"] for _, r in sorted(numbered("nginx").items()))))
        w("req/s per round: turnpike %s; NGINX %s." % (
            ", ".join("%.0f" % x for x in tp["rounds"]),
            ", ".join("%.0f" % x for x in ng["rounds"])))
        if tp["user_us"] == tp["user_us"] and ng["user_us"] == ng["user_us"]:  # not NaN
            w("Where the CPU goes (medians per request): turnpike %.1f µs in its own code "
              "(utime) and %.1f µs in the kernel (stime); NGINX %.1f µs and %.1f µs." % (
                  tp["user_us"], med(numbered("tp-plain"), "cpu_us") - tp["user_us"],
                  ng["user_us"], med(numbered("nginx"), "cpu_us") - ng["user_us"]))
    w("")

    w("## 2–5. Cost of routes and plugins")
    w("")
    w("Each case is its own gateway with one route (or 1,000), measured in the same rounds as "
      "its baseline. Throughput cost (req/s) = 1 − req/s ÷ baseline req/s, as measured (when "
      "the gateway is not the bottleneck, e.g. wrk parsing larger responses on the shared "
      "core, this is not the gateway's cost). CPU added = the median over rounds of CPU/request "
      "− the baseline's CPU/request in the same round; capacity cost (CPU) = CPU added ÷ "
      "(the baseline's median CPU/request + CPU added), the throughput a saturated gateway core would lose. "
      "User CPU added is the same paired median of utime alone: what turnpike's own code adds "
      "(every case makes the same system calls per request, and the kernel's share drifts by "
      "about ±1 µs between rounds on this VM). Other load = CPU time used by processes other "
      "than the gateway, the upstream and wrk during the round, in % of one core; median over "
      "rounds.")
    w("")
    w("| case | req/s | throughput cost (req/s) | CPU/request | CPU added | capacity cost (CPU) "
      "| user CPU added | p99 | other load | errors |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = [("tp-plain", "tp-plain"), ("tp-noop3", "tp-plain"), ("tp-routes1000", "tp-plain"),
             ("tp-key-auth", "tp-plain"), ("tp-jwt-hs256", "tp-plain"),
             ("tp-jwt-hs256-uniq", "tp-plain"), ("tp-jwt-rs256", "tp-plain"),
             ("tp-jwt-rs256-uniq", "tp-plain"),
             ("tp-rate-limiting", "tp-plain"), ("tp-rate-limiting-redis", "tp-plain"),
             ("tp-cache-hit", "tp-plain"), ("nginx", "nginx"), ("nginx-lua", "nginx"),
             ("nginx-cache", "nginx")]
    for name, base in cases:
        s, b = stats.get(name), stats.get(base)
        if not s or not b:
            if name in kv["invalid"] and not s:
                w("| %s | no valid round: the gateway crashed | | | | | | | | |" % LABELS[name])
            elif name == "nginx-lua":
                w("| %s | lua module %s | | | | | | | | |" % (LABELS[name],
                                                             one(kv, "nginx_lua")))
            continue
        if name == base:
            w("| %s (baseline) | %.0f | — | %.1f µs | — | — | — | %.2f ms | %.0f%% | %d |" % (
                LABELS[name], s["rps"], s["cpu_us"], s["p99"], s["other"], s["errors"]))
        else:
            cr, br = numbered(name), numbered(base)
            added = paired(cr, br, "cpu_us")
            w("| %s | %.0f | %.1f%% | %.1f µs | %+.1f µs | %.1f%% | %+.2f µs | %.2f ms | %.0f%% "
              "| %d |" % (LABELS[name], s["rps"], (1 - s["rps"] / b["rps"]) * 100, s["cpu_us"],
                          added, added / (med(br, "cpu_us") + added) * 100,
                          paired(cr, br, "user_us"), s["p99"], s["other"], s["errors"]))
    w("")
    w("The jwt cases with one token exercise the plugin's verified-token cache (a client "
      "reusing its token); the 12,000-token case cycles through more tokens than the cache "
      "holds (10,000), so every request verifies its signature (an HMAC, or the RSA public "
      "operation).")
    w("")

    w("## 6. Reload")
    w("")
    w("Time from `kill -HUP master` until a route that only the new config has answers 200 "
      "(polled about every ms; three reloads each):")
    w("")
    w("| routes in the new config | median | all |")
    w("|---:|---:|---|")
    for n in ("10", "1000"):
        vals = kv.get("reload_%s_ms" % n, [])
        nums = [float(v) for v in vals if v not in ("failed", "timeout")]
        w("| %s | %s | %s |" % (
            "1,000" if n == "1000" else n,
            "%.1f ms" % statistics.median(nums) if nums else "failed",
            ", ".join(v if v in ("failed", "timeout") else "%s ms" % v for v in vals)))
    w("")
    rr = runs.get("tp-reload", {})
    q = {f: med({k: v for k, v in rr.items() if k.startswith("quiet")}, f) for f in FIELDS}
    h = {f: med({k: v for k, v in rr.items() if k.startswith("hup")}, f) for f in FIELDS}
    n_q = sum(1 for k in rr if k.startswith("quiet"))
    n_h = sum(1 for k in rr if k.startswith("hup"))
    if n_q and n_h:
        q["errors"] = sum(v["errors"] for k, v in rr.items() if k.startswith("quiet"))
        h["errors"] = sum(v["errors"] for k, v in rr.items() if k.startswith("hup"))
        w("wrk on a 10-route gateway, %d rounds of %ss alone interleaved with %d rounds with a "
          "SIGHUP every 300 ms (%s reloads in all); medians, errors summed:" % (
              n_q, one(kv, "case_s"), n_h, one(kv, "hups")))
        w("")
        w("| | req/s | p50 | p99 | CPU/request | errors (socket + non-2xx) | other load |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for label, r in (("no reloads", q), ("SIGHUP every 300 ms", h)):
            w("| %s | %.0f | %.2f ms | %.2f ms | %.1f µs | %d | %.0f%% |" % (
                label, r["rps"], r["p50"], r["p99"], r["cpu_us"], r["errors"], r["other"]))
        w("")
        w("p99 during reloads / without: **%.2f**. Worker RSS before the reloads %s, after %s; "
          "%s worker process(es) left after them." % (
              h["p99"] / q["p99"], mb(one(kv, "reload_rss_before_kb", 0)),
              mb(one(kv, "reload_rss_after_kb", 0)), one(kv, "reload_workers_after")))
    w("")

    w("## 7. Idle keep-alive connections")
    w("")
    w("| gateway | connections | worker RSS before | after | per connection |")
    w("|---|---:|---:|---:|---:|")
    for name, label in (("tp-plain", "turnpike"), ("nginx", "NGINX")):
        raw = one(kv, "idle_" + name, "")
        f = dict(p.split("=", 1) for p in raw.split() if "=" in p)
        if "open" in f:
            before, after, n = int(f["rss_before_kb"]), int(f["rss_after_kb"]), int(f["open"])
            w("| %s | %d | %s | %s | %.1f KB |" % (label, n, mb(before), mb(after),
                                                 (after - before) / float(n)))
        else:
            w("| %s | skipped: %s | | | |" % (label, f.get("skipped", "no result")))
    w("")

    w("## Router micro-benchmark (`luajit bench/router_bench.lua 0.3`)")
    w("")
    w("```")
    with open(os.path.join(work, "router.txt")) as fh:
        w(fh.read().rstrip("\n"))
    w("```")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
