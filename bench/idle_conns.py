"""Idle keep-alive connections: open N client connections to a gateway, send one request on
each and read its response, keep them all open, and report the gateway's RSS before and after.

usage: python3 idle_conns.py PORT PATH N PID[,PID...]
prints: IDLE open=<n> rss_before_kb=<sum> rss_after_kb=<sum>   (RSS summed over the PIDs)
   or:  IDLE skipped=<reason>
"""
import resource
import socket
import sys
import time


def rss_kb(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def one_request(sock, req):
    sock.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("closed inside the response body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError("status line %r" % head.split(b"\r\n")[0])


def main(argv):
    port, path, n = int(argv[1]), argv[2], int(argv[3])
    pids = [int(p) for p in argv[4].split(",") if p]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 100
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            print("IDLE skipped=nofile_hard_limit_%d" % hard)
            return
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    req = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode()
    before = rss_kb(pids)
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            one_request(s, req)
        time.sleep(0.5)
        after = rss_kb(pids)
        # every connection must still be usable: the gateway kept them all
        for s in socks[:: max(1, n // 50)]:
            one_request(s, req)
        print("IDLE open=%d rss_before_kb=%d rss_after_kb=%d" % (len(socks), before, after))
    except OSError as e:
        print("IDLE skipped=failed_after_%d_connections:%s" % (len(socks), str(e).replace(" ", "_")))
    finally:
        for s in socks:
            s.close()


if __name__ == "__main__":
    main(sys.argv)
