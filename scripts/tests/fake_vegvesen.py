#!/usr/bin/env python3
"""A fake Statens vegvesen enkeltoppslag endpoint on 127.0.0.1 for the zip parity test.

    fake_vegvesen.py FIXTURE_JSON PLATE API_KEY

`GET /?kjennemerke=PLATE` with `SVV-Authorization: Apikey API_KEY` answers 200 with the fixture;
another plate answers 204 (no such vehicle), a wrong key 403. Prints `listening on HOST:PORT`,
counts calls in `calls` lines on stderr, and stops by itself after 10 minutes.
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def main(argv):
    fixture, plate, key = argv[1], argv[2], argv[3]
    with open(fixture, "rb") as f:
        body = f.read()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = parse_qs(urlparse(self.path).query)
            if self.headers.get("SVV-Authorization") != f"Apikey {key}":
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if query.get("kjennemerke") == [plate]:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(204)
                self.end_headers()

        def log_message(self, *args):
            print("call", file=sys.stderr, flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    print(f"listening on {host}:{port}", flush=True)
    threading.Timer(600, server.shutdown).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
