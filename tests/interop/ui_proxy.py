#!/usr/bin/env python3
"""Serves promlite's UI assets from src/web_ui and forwards every other request to an
upstream server. Used by ui_browser.sh (and for UI development) when the server under
test does not embed promlite's UI yet, e.g. upstream Prometheus.

Usage: ui_proxy.py LISTEN_PORT BACKEND_URL ASSET_DIR [ROUTE_PREFIX]

With ROUTE_PREFIX (e.g. /ui-prefix) everything is served under that prefix, as
--web.route-prefix does, and the prefix is stripped before forwarding: this checks
that the pages use relative URLs only.
"""
import http.server
import os
import sys
import urllib.error
import urllib.request

PAGES = {"graph": "graph.html", "query": "graph.html", "targets": "targets.html", "service-discovery": "targets.html", "alerts": "alerts.html",
         "rules": "rules.html", "status": "status.html", "flags": "status.html",
         "config": "status.html", "tsdb-status": "status.html"}
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8"}


def main():
    port, backend, assets = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
    prefix = sys.argv[4].rstrip("/") if len(sys.argv) > 4 else ""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            if not self.path.startswith(prefix + "/"):
                self.send_error(404, "outside the route prefix " + prefix)
                return
            self.path = self.path[len(prefix):]
            path = self.path.split("?", 1)[0]
            name = None
            if path.lstrip("/") in PAGES:
                name = PAGES[path.lstrip("/")]
            elif path.startswith("/static/") and "/" not in path[len("/static/"):]:
                name = path[len("/static/"):]
            if name is not None:
                full = os.path.join(assets, name)
                ext = os.path.splitext(name)[1]
                if ext in TYPES and os.path.isfile(full):
                    with open(full, "rb") as f:
                        body = f.read()
                    self.send_response(200)
                    self.send_header("Content-Type", TYPES[ext])
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
            self.forward()

        def forward(self):
            try:
                with urllib.request.urlopen(backend + self.path, timeout=10) as r:
                    status, ctype, body = r.status, r.headers.get("Content-Type", ""), r.read()
            except urllib.error.HTTPError as e:
                status, ctype, body = e.code, e.headers.get("Content-Type", ""), e.read()
            except OSError as e:
                status, ctype, body = 502, "text/plain", str(e).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
