"""The labeling page: a small local web server in front of a `HumanSession`.

Security: it listens on 127.0.0.1 unless told otherwise; every request must carry the
run's random token (`?token=` or an `X-Token` header), compared in constant time, else
HTTP 403; request bodies are capped at 4 KiB (413); labels are checked against the run's
classes (400); no path or file name is ever taken from the client. The standard library's
threading HTTP server is enough for one person. Imports no JAX.

API (JSON): `GET /api/state` → the open query, its view, progress, classes;
`POST /api/answer {"query_id", "label"}` (label null = can't tell) → 200 once the answer
is in the run's log (400 bad label, 409 not open); `POST /api/undo` → 200 or 409.
"""

from __future__ import annotations

import hmac
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from qsynth.oracles.human.session import HumanSession, NotOpen

__all__ = ["LabelingServer"]

MAX_BODY = 4096


class LabelingServer:
    """Serves `session` on http://host:port/ (port 0: a free one) until `close()`.

    Args:
      session: the queries and answers.
      token: the secret every request must carry.
      title: shown on the page (the run's name).
    """

    def __init__(self, session: HumanSession, token: str, *, host: str = "127.0.0.1", port: int = 0,
                 title: str = "qsynth"):
        if len(token) < 16:
            raise ValueError("LabelingServer: the token must be at least 16 characters")
        self.session, self.token, self.title = session, token, title
        page = resources.files("qsynth.oracles.human").joinpath("page.html").read_text(encoding="utf-8")
        self._page = page.replace("{{TITLE}}", _html_escape(title)).encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the run's own output matters
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="qsynth-labeling-page", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/?token={self.token}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- requests ---------------------------------------------------------------------------------
    def _authorized(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> bool:
        given = h.headers.get("X-Token") or (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query)
        if not self._authorized(h, query):
            return _send(h, 403, {"error": "missing or wrong token"})
        if method == "GET" and url.path == "/":
            return _send(h, 200, self._page, "text/html; charset=utf-8")
        if method == "GET" and url.path == "/api/state":
            return _send(h, 200, self.session.current())
        if method != "POST" or url.path not in ("/api/answer", "/api/undo"):
            return _send(h, 404, {"error": "no such page"})
        try:
            length = int(h.headers.get("Content-Length", "0"))
        except ValueError:
            return _send(h, 400, {"error": "bad Content-Length"})
        if length > MAX_BODY:
            return _send(h, 413, {"error": f"request body over {MAX_BODY} bytes"})
        try:
            body = json.loads(h.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return _send(h, 400, {"error": f"the body is not a JSON object ({exc})"})
        try:
            if url.path == "/api/answer":
                qid = body.get("query_id")
                if not isinstance(qid, str):
                    return _send(h, 400, {"error": "query_id must be a string"})
                self.session.answer(qid, body.get("label"))
            else:
                self.session.undo()
        except ValueError as exc:
            return _send(h, 400, {"error": str(exc)})
        except NotOpen as exc:
            return _send(h, 409, {"error": str(exc)})
        except TimeoutError as exc:
            return _send(h, 503, {"error": str(exc)})
        return _send(h, 200, self.session.current())


def _send(h: BaseHTTPRequestHandler, status: int, body: Any, content_type: str = "application/json") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.send_header("Cache-Control", "no-store")
    h.send_header("X-Content-Type-Options", "nosniff")
    h.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                             "style-src 'unsafe-inline'; img-src data:")
    h.end_headers()
    h.wfile.write(data)


def _html_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
