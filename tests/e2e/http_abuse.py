#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile HTTP clients for hostile_http_test.sh, against 127.0.0.1 inside
the test's own namespace. Every mode is bounded in connections and seconds
and stops by itself.

  http_abuse.py cases PORT                 malformed requests: "name want got"
  http_abuse.py slowloris PORT N SECONDS   N heads sent a byte a second
  http_abuse.py idle PORT N SECONDS        N connections that send nothing
  http_abuse.py slowread PORT N SECONDS    N scrapes whose answer is not read
  http_abuse.py flood PORT SECONDS THREADS good and bad requests, back to back
  http_abuse.py guess PORT SECONDS THREADS scrapes with a made-up password each
"""
import base64
import re
import resource
import selectors
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def status_of(port, data, timeout=5.0):
    """Sends data, returns the response's status code, or why there is none:
    "timeout" (no status line within timeout), "reset" (the connection was
    reset) or "closed" (it was closed without a status line)."""
    response = b""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            try:
                s.sendall(data)
            except OSError:
                pass  # refused mid-send: the answer may still be there
            while b"\r\n" not in response:
                chunk = s.recv(4096)
                if not chunk:
                    break
                response += chunk
    except socket.timeout:
        return "timeout"
    except ConnectionResetError:
        if not response.startswith(b"HTTP/1.1 "):
            return "reset"
    if not response.startswith(b"HTTP/1.1 "):
        return "closed"
    return response[9:12].decode()


CASES = [
    # name, request bytes, expected status
    ("good", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "200"),
    ("http10", b"GET /-/healthy HTTP/1.0\r\n\r\n", "200"),
    ("absolute_form", b"GET http://x:9632/metrics HTTP/1.1\r\n\r\n", "200"),
    ("long_line", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n", "414"),
    ("long_header", b"GET / HTTP/1.1\r\nX: " + b"b" * 20000 + b"\r\n\r\n",
     "431"),
    ("many_headers",
     b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200))
     + b"\r\n", "431"),
    ("bad_method", b"G(T / HTTP/1.1\r\n\r\n", "400"),
    ("other_method", b"DELETE /metrics HTTP/1.1\r\n\r\n", "405"),
    ("unknown_path", b"GET /../../etc/passwd HTTP/1.1\r\n\r\n", "404"),
    ("no_version", b"GET /metrics\r\n\r\n", "400"),
    ("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "505"),
    ("http09_version", b"GET / HTTP/0.9\r\n\r\n", "505"),
    ("binary", bytes(range(256)), "400"),
    ("tls_hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64,
     "400"),
    ("nul_in_header", b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", "400"),
    ("folded_header", b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "400"),
    ("space_before_colon", b"GET / HTTP/1.1\r\nX : a\r\n\r\n", "400"),
    ("body", b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
     "413"),
    ("chunked", b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "413"),
    ("two_lengths",
     b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
     "400"),
    ("control_in_target", b"GET /\x01 HTTP/1.1\r\n\r\n", "400"),
]


def cases(port):
    for name, data, want in CASES:
        print(name, want, status_of(port, data))
    # Pipelined: three requests in one write, three answers in order.
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(b"GET /-/healthy HTTP/1.1\r\n\r\n" * 2 +
                  b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        codes = [c.decode() for c in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
        print("pipelined", "200,200,404", ",".join(codes) or "closed")


def open_many(port, n):
    raise_fd_limit(n)
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        s.connect((HOST, port))
        s.setblocking(False)
        socks.append(s)
    return socks


def closed_by_server(s):
    try:
        return s.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def slowloris(port, n, seconds):
    socks = open_many(port, n)
    for s in socks:
        s.send(b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
    alive = set(socks)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive:
        time.sleep(1)
        for s in list(alive):
            try:
                s.send(b"z")
            except OSError:
                alive.discard(s)
                continue
            if closed_by_server(s):
                alive.discard(s)
    print("opened", n, "closed_by_server", n - len(alive))
    for s in socks:
        s.close()


def idle(port, n, seconds):
    socks = open_many(port, n)
    time.sleep(seconds)
    closed = sum(1 for s in socks if closed_by_server(s))
    print("opened", n, "closed_by_server", closed)
    for s in socks:
        s.close()


def slowread(port, n, seconds):
    raise_fd_limit(n)
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.settimeout(5)
        s.connect((HOST, port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: slowread\r\n\r\n")
        socks.append(s)
    time.sleep(seconds)
    print("opened", n)
    for s in socks:
        s.close()


FLOOD = [
    b"GET /metrics HTTP/1.1\r\nHost: f\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: f\r\n"
    b"Accept: application/openmetrics-text; version=1.0.0\r\n\r\n",
    b"GET /-/ready HTTP/1.1\r\nHost: f\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: f\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: f\r\n\r\n",
    b"PUT /metrics HTTP/1.1\r\nHost: f\r\n\r\n",
    b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n",
    b"\x00\xff garbage\r\n\r\n",
]


def flood(port, seconds, threads):
    """Prints the count of each outcome on one line, then the slowest answer
    and the request that got it."""
    counts = {}
    slowest = [0.0, b""]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(k):
        i = k
        while time.monotonic() < deadline:
            request = FLOOD[i % len(FLOOD)]
            start = time.monotonic()
            status = status_of(port, request)
            took = time.monotonic() - start
            i += 1
            with lock:
                counts[status] = counts.get(status, 0) + 1
                if took > slowest[0]:
                    slowest[:] = [took, request]

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))
    print("slowest %.3f s: %r" % (slowest[0], slowest[1][:60]))


def guess(port, seconds, threads):
    """Password guessing: scrapes as user alice, each with a password never
    sent before, back to back. Prints the count of each outcome."""
    counts = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(k):
        i = 0
        while time.monotonic() < deadline:
            credentials = base64.b64encode(b"alice:guess-%d-%d" % (k, i))
            i += 1
            status = status_of(port, b"GET /metrics HTTP/1.1\r\nHost: g\r\n"
                               b"Authorization: Basic " + credentials +
                               b"\r\nConnection: close\r\n\r\n")
            with lock:
                counts[status] = counts.get(status, 0) + 1

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    args = [int(a) for a in sys.argv[3:]]
    {"cases": cases, "slowloris": slowloris, "idle": idle,
     "slowread": slowread, "flood": flood, "guess": guess}[mode](port, *args)


if __name__ == "__main__":
    main()
