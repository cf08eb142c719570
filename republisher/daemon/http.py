"""Serve output_dir over HTTP: GET and HEAD for the published files, and nothing else.

HTTP/1.1 on the standard library's http.server: one thread per connection, kept alive
between requests. What to answer is decided in daemon/content.py (each file read whole
once per version, with its gzip encoding and ETags); how long and how many connections
may be held is bounded by daemon/connections.py, so slow or idle clients cannot lock
readers out.

Use `make_server(config)` to serve from a thread (`serve_forever()` / `shutdown()`),
or `serve(config)` to serve in the main thread until SIGTERM or SIGINT.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import FrameType
from typing import Any
from urllib.parse import quote

from republisher import __version__
from republisher.config import Config
from republisher.daemon.connections import Connection, Connections, DeadlineSocketIO, Limits, Refused
from republisher.daemon.content import (
    Answer,
    Site,
    Snapshots,
    Target,
    accepts_gzip,
    answer,
    cache_max_age,
    error_answer,
    not_modified,
    page_of,
    resolve_target,
    site_of,
    wants_page,
)
from republisher.errors import RepublisherError

__all__ = [
    "Limits",
    "Server",
    "Target",
    "accepts_gzip",
    "cache_max_age",
    "make_server",
    "not_modified",
    "resolve_target",
    "serve",
    "site_of",
    "wants_page",
]

log = logging.getLogger(__name__)

ALLOW = "GET, HEAD"
_WRITE_BUFFER = 64 * 1024  # headers and a small body leave in one write
_REFUSALS = {429: b"Too Many Requests", 503: b"Service Unavailable"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Unparsable request lines are answered with a status line and headers, not as HTTP/0.9.
    default_request_version = "HTTP/1.0"
    server_version = f"republisher/{__version__}"
    sys_version = ""
    server: Server
    _agent = "-"  # this request's User-Agent, for the access log

    def __init__(self, request: socket.socket, client_address: Any, server: Server, conn: Connection):
        self.conn = conn
        self._first = True  # no request read yet on this connection
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        # Instead of StreamRequestHandler's per-read socket timeout: reads and writes that
        # end by the connection's deadline, however slowly the bytes come or go.
        self.connection = self.request
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._reader = io.BufferedReader(DeadlineSocketIO(self.request, self.conn))
        self.rfile = self._reader
        self.wfile = io.BufferedWriter(DeadlineSocketIO(self.request, self.conn), _WRITE_BUFFER)

    def version_string(self) -> str:
        return self.server_version  # the base class appends the Python version

    def handle_one_request(self) -> None:
        connections = self.server.connections
        first, self._first = self._first, False
        connections.wait_for_request(self.conn, first)
        if connections.closing:  # the server stopped (or moved) while this one was answering
            self.close_connection = True
            return
        try:
            arrived = self._reader.peek(1)  # the next request's first byte, or end of file
        except (TimeoutError, ConnectionError):
            arrived = b""  # silent too long, or gone
        if not arrived or not connections.request_started(self.conn, first):
            self.close_connection = True  # the client left, or was closed to make room
            return
        # Reads the request line and headers by their deadline, then calls do_GET/do_HEAD;
        # on TimeoutError it closes the connection.
        super().handle_one_request()

    def parse_request(self) -> bool:
        # Every method but GET and HEAD, known or not, gets 405 with Allow (the base class
        # would answer 501 to those it has no do_* method for).
        if not super().parse_request():
            return False
        self.server.connections.headers_received(self.conn)
        self._agent = self.headers.get("User-Agent", "-")
        if self.command in ("GET", "HEAD"):
            return True
        self.close_connection = True  # its body, if any, is left unread
        headers = {"Allow": ALLOW, "Content-Type": "text/plain; charset=utf-8"}
        self._reply(Answer(405, headers, b"method not allowed\n"), send_body=True)
        return False

    def do_GET(self) -> None:
        self._reply(self._decide(), send_body=True)

    def do_HEAD(self) -> None:
        self._reply(self._decide(), send_body=False)

    def _decide(self) -> Answer:
        """The answer to this GET or HEAD; a bug here costs this request a 500, never the
        connection nor the server."""
        # One pass over the headers: Message.get scans them all on every call.
        asked = {name.lower(): value for name, value in self.headers.items()}
        if asked.get("transfer-encoding") or asked.get("content-length", "0") != "0":
            self.close_connection = True  # we never read a request body: do not parse it as a request
        site = self.server.site
        try:
            target = resolve_target(self.path, site.prefix)
            if target.status == 301:
                return Answer(301, {"Location": target.name})
            if target.status != 200:
                return error_answer(target.status)
            snapshot = self.server.files.get(site.root, target.name)
            if snapshot is None:
                return error_answer(404)
            page_name = page_of(target.name)
            page = (
                self.server.files.get(site.root, page_name)
                if page_name and wants_page(asked.get("accept"))
                else None
            )
            return answer(snapshot, asked, site.max_age, page)
        except Exception:
            log.exception("%s: internal error answering %r", self.client_address[0], self.requestline)
            self.close_connection = True
            return error_answer(500)

    def _reply(self, reply: Answer, *, send_body: bool) -> None:
        # send_response_only: the access log line is written below, with the body's size.
        self.send_response_only(reply.status)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 304:  # a 304 has no body and its length would describe the 200
            self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")  # it asked for keep-alive, or we'd close
        self.end_headers()
        sent = send_body and reply.status != 304
        if sent:
            self.wfile.write(reply.body)
        self._access_log(reply.status, len(reply.body) if sent else 0, self._agent)

    def _access_log(self, status: int, size: int | str, agent: str) -> None:
        """One line per request: client, request line, status, body bytes, user agent."""
        log.info('%s "%s" %s %s "%s"', self.client_address[0], self.requestline, status, size, agent)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Only reached for the errors the base class answers itself (malformed request
        # lines, oversized headers), before any header of this request is known.
        self._access_log(int(code), size, "-")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.client_address[0], *args)


class Server(HTTPServer):
    """The HTTP server: `site` says what to serve; `files` holds the snapshots;
    `connections` admits and bounds the connections within `limits`."""

    request_queue_size = 128  # a burst of new connections waits in the kernel, not refused

    def __init__(self, address: tuple[str, int], site: Site, limits: Limits | None = None) -> None:
        self.site = site
        self.files = Snapshots()
        self.connections = Connections(limits or Limits())
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        # _Handler also needs its Connection: _run constructs it, not TCPServer.
        super().__init__(address, _Handler)  # type: ignore[arg-type]

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up in DNS (getfqdn); nothing here uses it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def update(self, config: Config) -> None:
        """Serve what a reloaded configuration says (output_dir, base_url path, max-age).
        Host and port stay: changing them needs a new server."""
        self.site = site_of(config)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Called by the accept loop: admit the connection and give it a thread, or refuse it."""
        ip = str(client_address[0])
        try:
            conn = self.connections.admit(request, ip)
        except Refused as refused:
            log.warning("%s: refused with %d: %s", ip, refused.status, refused)
            with contextlib.suppress(OSError):
                request.setblocking(False)  # the accept loop never waits on a client
                request.send(
                    b"HTTP/1.1 %d %s\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    % (refused.status, _REFUSALS[refused.status])
                )
            self.shutdown_request(request)
            return
        # Daemon threads: idle kept-alive connections never hold up shutdown.
        thread = threading.Thread(target=self._run, args=(request, client_address, conn), daemon=True)
        try:
            thread.start()
        except BaseException:
            self.connections.release(conn)
            raise

    def _run(self, request: socket.socket, client_address: Any, conn: Connection) -> None:
        try:
            _Handler(request, client_address, self, conn)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.connections.release(conn)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]  # called from within an except block
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("%s: connection lost: %s", client_address[0], error)  # the client went away
        else:
            log.error("%s: internal error", client_address[0], exc_info=error)


def make_server(config: Config) -> Server:
    """A server bound to [serve] host and port, not yet serving: call serve_forever()
    (from any thread), and shutdown() then server_close() to stop."""
    host, port = config.serve.host, config.serve.port
    try:
        return Server((host, port), site_of(config))
    except OSError as e:
        raise RepublisherError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def serve(config: Config) -> int:
    """`republisher serve`: serve output_dir until SIGTERM or SIGINT; returns 0.
    Must run in the main thread (it installs signal handlers)."""
    server = make_server(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, which runs in this very thread.
        threading.Thread(target=server.shutdown, name="serve-stop", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    host, port = server.server_address[:2]
    log.info("serving %s at http://%s:%s%s", config.output_dir, host, port, quote(server.site.prefix))
    try:
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
    log.info("stopped serving")
    return 0
