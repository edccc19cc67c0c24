#!/usr/bin/env python3
"""A stand-in for the Elbatt runner that answers what scripts/smoke.sh checks, for
scripts/tests/test-scripts.sh. Listens on 127.0.0.1 (a free port) and prints `listening on
HOST:PORT`.

    fake_elbatt.py [BROKEN_PATH ...]

Each BROKEN_PATH (e.g. /api/health) answers 500 with a JSON error instead, for every method, so
a test can prove smoke.sh counts a failing check.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BROKEN = set(sys.argv[1:])
ALLOWED_ORIGINS = {"https://elbatt.no", "https://www.elbatt.no"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=None, headers=()):
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def route(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if path in BROKEN:
            return self.answer(500, {"error": {"code": "internal", "message": "broken on purpose"}})
        if self.command == "OPTIONS":
            origin = self.headers.get("Origin", "")
            extra = [("Access-Control-Allow-Origin", origin)] if origin in ALLOWED_ORIGINS else []
            return self.answer(204, None, extra)
        if path == "/health":
            if self.command in ("GET", "HEAD"):
                return self.answer(200, {"status": "healthy"})
            return self.answer(405, {"error": {"code": "method_not_allowed"}}, [("Allow", "GET, HEAD, OPTIONS")])
        if path == "/api/health":
            return self.answer(200, {"ok": True})
        if path.startswith("/plate-lookup"):
            if "NOT-A-PLATE" in self.path:
                return self.answer(400, {"error": {"code": "plate_invalid"}})
            return self.answer(503, {"error": {"code": "not_configured", "message": "set VEGVESEN_API_KEY"}})
        return self.answer(404, {"error": {"code": "not_found"}})

    do_GET = do_HEAD = do_POST = do_OPTIONS = route


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening on %s:%d" % server.server_address, flush=True)
server.serve_forever()
