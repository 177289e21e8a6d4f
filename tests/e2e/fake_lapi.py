#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for a quiet CrowdSec LAPI's decision stream, for tests where
the LAPI's own behaviour is not what is tested (tests/e2e/crowdsec_test.sh
and the other crowdsec_*_test.sh run Debian's real LAPI):
GET /v1/decisions/stream?startup=true answers ANSWER_FILE (the full set),
every later poll answers "no change". With KEY_FILE, a request whose
X-Api-Key is not that key gets 403. Listens on 127.0.0.1:PORT until killed.

usage: fake_lapi.py PORT ANSWER_FILE [KEY_FILE]
"""
import http.server
import sys

PORT = int(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    FULL = f.read()
KEY = None
if len(sys.argv) > 3:
    with open(sys.argv[3], encoding="ascii") as f:
        KEY = f.read().strip()
NO_CHANGE = b'{"new":null,"deleted":null}'


class Lapi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the http.server API)
        if KEY is not None and self.headers.get("X-Api-Key") != KEY:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = FULL if "startup=true" in self.path else NO_CHANGE
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", PORT), Lapi).serve_forever()
