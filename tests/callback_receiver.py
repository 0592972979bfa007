"""A callback receiver for the tests: a local HTTP server in a thread."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Refuses the first `failures` POSTs (503), then accepts (204); with hang_seconds,
    holds each POST that long before answering. Records each body and its signature."""

    def __init__(self, failures=0, hang_seconds=0):
        self.failures, self.hang_seconds, self.received = failures, hang_seconds, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, self.headers["X-Signature"]))
                time.sleep(receiver.hang_seconds)
                self.send_response(503 if len(receiver.received) <= receiver.failures else 204)
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
