"""A tiny HTTP backend for the gateway tests: answers every request with ``<TRACK> <HOSTNAME>`` and
counts what it received (``GET /__count``; ``/slow...`` answers after 3 s), so a test can see mirrored requests nobody answered."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT = 0
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream connections use
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def _answer(self) -> None:
        global COUNT
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/slow"):
            time.sleep(3.0)
        if self.path == "/__count":
            body = str(COUNT).encode()
        else:
            with LOCK:
                COUNT += 1
            body = f"{os.environ.get('TRACK', '?')} {os.environ.get('HOSTNAME', '?')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["MLAIOPS_SANDBOX_PORT_8080"])), Handler).serve_forever()
