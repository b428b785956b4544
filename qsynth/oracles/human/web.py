"""The labeling page: a small local web server in front of a `HumanSession`.

Security: it listens on 127.0.0.1 unless told otherwise; every request must carry the
run's random token (`?token=` or an `X-Token` header), compared in constant time, else
HTTP 403; request bodies are capped at 4 KiB (413); labels are checked against the run's
classes (400); no path or file name is ever taken from the client. Against other origins:
the `Host` header must name this page (127.0.0.1, localhost or the host it listens on;
else 403, which stops DNS rebinding); a POST must be `application/json` (415: no HTML form
can send that cross-site without a preflight, which is refused) and, where it has an
`Origin`, come from this page (403); every response forbids framing (`X-Frame-Options`,
`frame-ancestors`) and referrers (the URL holds the token). Connections that sit idle are
closed after `idle_timeout` seconds, and requests are served by a bounded pool of
`threads`, so half-open connections cannot pile up threads. The standard library's HTTP
server is enough for one person. Imports no JAX.

API (JSON): `GET /api/state` → the open query, its view, progress, classes, the latest
answers (`history`), flags, the key map, and `ended` once the run is over;
`POST /api/answer {"query_id", "label"}` (label null = can't tell) → 200 once the answer
is in the run's log (400 bad label, 409 not open); `POST /api/undo {"query_id"?}` (default:
the latest answer) → 200 once the retraction is logged, or 409; `POST /api/flag
{"query_id"?, "note"?}` (default: the open query) → 200 once the flag is logged, or 409.
"""

from __future__ import annotations

import concurrent.futures
import hmac
import ipaddress
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from typing import Any

from qsynth.oracles.human.session import HumanSession, NotOpen

__all__ = ["LabelingServer"]

MAX_BODY = 4096
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD = ("", "0.0.0.0", "::")


class _BoundedHTTPServer(HTTPServer):
    """An HTTP server whose requests run on a fixed pool of threads (not one thread per connection)."""

    request_queue_size = 128  # (the listen backlog: a burst of connections is accepted, not dropped)

    def __init__(self, address: tuple[str, int], handler: Any, threads: int):
        # (made first: a port that is taken makes the base class call server_close before it returns)
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="qsynth-labeling-request")
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 (one broken connection must not stop the page)
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: a client that hung up
        pass

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class LabelingServer:
    """Serves `session` on http://host:port/ (port 0: a free one) until `close()`.

    Args:
      session: the queries and answers.
      token: the secret every request must carry.
      title: shown on the page (the run's name).
      idle_timeout: seconds a connection may wait for its request before it is closed.
      threads: requests served at once (more wait their turn).
      keys: the page's key map: "qsynth" (1…n or a class's digit, a / ? can't tell, u / backspace
        undo) or "prodigy" (two classes: a accept = the second class, x reject = the first,
        space can't tell, backspace undo).

    Raises:
      ValueError: a short token, or the Prodigy keys for other than two classes.
      OSError: the port is taken.
    """

    def __init__(self, session: HumanSession, token: str, *, host: str = "127.0.0.1", port: int = 0,
                 title: str = "qsynth", idle_timeout: float = 5.0, threads: int = 16, keys: str = "qsynth"):
        if len(token) < 16:
            raise ValueError("LabelingServer: the token must be at least 16 characters")
        if keys not in ("qsynth", "prodigy"):
            raise ValueError(f"oracle.keys must be 'qsynth' or 'prodigy', got {keys!r}")
        if keys == "prodigy" and len(session.classes) != 2:
            raise ValueError(f"oracle.keys: the Prodigy keys (a accept, x reject) need two classes; this run has "
                             f"{len(session.classes)}")
        self.session, self.token, self.title, self.keys = session, token, title, keys
        self.visited, self.end_seen = False, threading.Event()
        page = resources.files("qsynth.oracles.human").joinpath("page.html").read_text(encoding="utf-8")
        self._page = page.replace("{{TITLE}}", _html_escape(title)).encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = idle_timeout  # (the socket's: a connection that sends nothing is closed)

            def log_message(self, *args: Any) -> None:  # quiet: the run's own output matters
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

        self.httpd = _BoundedHTTPServer((host, port), Handler, threads)
        self.host, self.port = host, self.httpd.server_address[1]
        self._names = {*_LOOPBACK, host if ":" not in host else f"[{host}]"}
        if host in _WILDCARD:  # reachable under this machine's names and any address it has
            self._names |= {socket.gethostname(), socket.getfqdn()}
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

    def _our_host(self, value: str | None) -> bool:
        """Whether a `Host` value (or an `Origin`'s host) names this page: one of its names and its port."""
        if not value:
            return False
        name, _, port = value.rpartition(":")
        if not name or port != str(self.port):
            return False
        if name in self._names:
            return True
        if self.host not in _WILDCARD:
            return False
        try:  # listening on every address: any IP literal is one of ours, a domain name is not
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return True

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query)
        if not self._our_host(h.headers.get("Host")):
            return _send(h, 403, {"error": f"Host {h.headers.get('Host')!r} is not this page's "
                                           f"(http://127.0.0.1:{self.port}/)"})
        if not self._authorized(h, query):
            return _send(h, 403, {"error": "missing or wrong token"})
        if method == "POST":
            origin = h.headers.get("Origin")
            if origin is not None and not (origin.startswith("http://") and self._our_host(origin[7:])):
                return _send(h, 403, {"error": f"a request from another origin ({origin}) is refused"})
            if h.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
                return _send(h, 415, {"error": "a POST must be application/json"})
        if method == "GET" and url.path == "/":
            return _send(h, 200, self._page, "text/html; charset=utf-8")
        if method == "GET" and url.path == "/api/state":
            return _send(h, 200, self._state())
        if method != "POST" or url.path not in ("/api/answer", "/api/undo", "/api/flag"):
            return _send(h, 404, {"error": "no such page"})
        try:
            length = int(h.headers.get("Content-Length", "0"))
        except ValueError:
            return _send(h, 400, {"error": "bad Content-Length"})
        if length < 0:
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
                qid = body.get("query_id")
                if qid is not None and not isinstance(qid, str):
                    return _send(h, 400, {"error": "query_id must be a string"})
                if url.path == "/api/undo":
                    self.session.undo(qid)
                else:
                    self.session.flag(qid, str(body.get("note", "")))
        except ValueError as exc:
            return _send(h, 400, {"error": str(exc)})
        except NotOpen as exc:
            return _send(h, 409, {"error": str(exc)})
        except TimeoutError as exc:
            return _send(h, 503, {"error": str(exc)})
        return _send(h, 200, self._state())

    def _state(self) -> dict[str, Any]:
        state = {**self.session.current(), "keys": self.keys}
        self.visited = True
        if "ended" in state:
            self.end_seen.set()
        return state

    def end(self, how: str, answered: int | None = None, wait_s: float = 2.0) -> None:
        """Tell the page the run is over (`how`: "finished" or "stopped") and give an open page up
        to `wait_s` to fetch that, so it shows a "run finished" page instead of a dead one."""
        self.session.end(how, answered)
        if self.visited:
            self.end_seen.wait(wait_s)


def _send(h: BaseHTTPRequestHandler, status: int, body: Any, content_type: str = "application/json") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.send_header("Cache-Control", "no-store")
    h.send_header("X-Content-Type-Options", "nosniff")
    h.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                                             "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
    h.send_header("X-Frame-Options", "DENY")
    h.send_header("Referrer-Policy", "no-referrer")
    h.end_headers()
    h.wfile.write(data)


def _html_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
