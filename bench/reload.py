"""Reload latency: send SIGHUP to a gateway master and time until a path that exists only
in the new config answers 200.

usage: python3 reload.py MASTER_PID PORT PATH [TIMEOUT_S]
prints: RELOAD ms=<float>   (or RELOAD ms=timeout)
Polls with a fresh connection about every millisecond, so the figure is good to ~1 ms.
"""
import http.client
import os
import signal
import sys
import time


def status(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def main(argv):
    pid, port, path = int(argv[1]), int(argv[2]), argv[3]
    timeout = float(argv[4]) if len(argv) > 4 else 10.0
    if status(port, path) == 200:
        sys.exit("reload.py: %s already answers 200 before the reload" % path)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    while time.monotonic() - t0 < timeout:
        if status(port, path) == 200:
            print("RELOAD ms=%.1f" % ((time.monotonic() - t0) * 1000.0))
            return
        time.sleep(0.001)
    print("RELOAD ms=timeout")


if __name__ == "__main__":
    main(sys.argv)
