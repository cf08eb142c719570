"""Serve output_dir over HTTP: GET and HEAD for the published files, and nothing else.

The standard library's ThreadingHTTPServer speaking HTTP/1.1: one thread per connection,
kept alive between requests. Each file is read whole into memory once per version
(keyed by inode, size and times) and answered from that snapshot, with its gzip
encoding and ETags computed once; publish replaces files with os.replace, so a
request sees the old version or the new one, never a mix.

Use `make_server(config)` to serve from a thread (`serve_forever()` / `shutdown()`),
or `serve(config)` to serve in the main thread until SIGTERM or SIGINT.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import signal
import socket
import socketserver
import stat
import sys
import threading
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from republisher import __version__
from republisher.config import Config
from republisher.errors import RepublisherError

log = logging.getLogger(__name__)

INDEX = "index.html"
MAX_AGE_CAP = 3600  # seconds: a reader's cache never holds a feed longer than an hour
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection (or a slow client) may stay silent
MAX_CONNECTIONS = 256  # one thread each; more are refused with 503 rather than queued
ALLOW = "GET, HEAD"

ATOM_TYPE = "application/atom+xml"
BROWSER_FEED_TYPE = "application/xml; charset=utf-8"  # the same feed, for a browser (wants_page)
CONTENT_TYPES = {
    ".atom": f"{ATOM_TYPE}; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    # Chromium and Firefox apply an xml-stylesheet served as text/xsl; the registered
    # application/xslt+xml is refused by Chromium.
    ".xsl": "text/xsl; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",  # the JSON Feed versions of the feeds
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
DEFAULT_TYPE = "application/octet-stream"
_COMPRESSIBLE = (
    "text/",
    "application/atom+xml",
    "application/xml",
    "application/feed+json",
    "application/json",
    "image/svg+xml",
)
_MIN_GZIP = 256  # bytes: below this, gzip's own header costs more than it saves

# The feeds' summaries are sanitized HTML from other sites, shown by feed.xsl: forbid
# scripts and plugins anyway. Chromium loads an XSL stylesheet under script-src, hence
# 'self' (this origin serves no scripts; nosniff refuses anything not typed as one).
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src http: https: data:; "
    "base-uri 'none'; form-action 'none'"
)


def cache_max_age(config: Config) -> int:
    """Seconds a client may reuse a file: the shortest poll interval (nothing changes
    faster than that), capped at MAX_AGE_CAP."""
    shortest = min((s.interval for s in config.sources), default=config.poll.interval)
    return int(min(shortest, MAX_AGE_CAP))


@dataclass(frozen=True)
class Site:
    """What the server serves: swapped whole when the configuration is reloaded."""

    root: str  # output_dir, resolved (no symlinks)
    prefix: str  # the path of base_url, decoded, ending in "/"
    max_age: int


def site_of(config: Config) -> Site:
    """The serving settings derived from a configuration."""
    prefix = unquote(urlsplit(config.base_url).path or "/")
    if not prefix.endswith("/"):
        prefix += "/"
    return Site(os.path.realpath(config.output_dir), prefix, cache_max_age(config))


@dataclass(frozen=True)
class Target:
    """Where a request target leads. 200: `name` is a file name relative to output_dir;
    301: `name` is the Location; 400 or 404: nowhere."""

    status: int
    name: str = ""


def resolve_target(target: str, prefix: str) -> Target:
    """Map a request target to a file of output_dir, refusing anything that could leave it.

    The path is percent-decoded once, then split into segments; an empty segment (a
    double slash), `.`, `..` and hidden names (publish's temporary files) are refused.
    Callers still resolve symlinks and check containment (`contained`).
    """
    if target.startswith(("http://", "https://")):  # absolute-form, RFC 9112 section 3.2.2
        path = urlsplit(target).path or "/"
    elif target.startswith("/"):
        path = target.partition("?")[0].partition("#")[0]
    else:
        return Target(400)
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return Target(400)
    if "\x00" in decoded or "\\" in decoded:
        return Target(400)
    if decoded + "/" == prefix:
        return Target(301, quote(prefix))
    if not decoded.startswith(prefix):
        return Target(404)
    segments = (decoded[len(prefix) :] or INDEX).split("/")
    if any(not s or s.startswith(".") for s in segments):
        return Target(404)
    return Target(200, "/".join(segments))


def contained(root: str, name: str) -> str | None:
    """The real path of `name` under root, or None when it (or a symlink in it) leads out."""
    path = os.path.realpath(os.path.join(root, name))
    try:
        inside = os.path.commonpath([root, path]) == root and path != root
    except ValueError:
        return None
    return path if inside else None


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header admits gzip (q-values honoured, `*` included)."""
    if not accept_encoding:
        return False
    gzip_q: float | None = None
    star_q: float | None = None
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        name = name.strip().lower()
        if name in ("gzip", "x-gzip"):
            gzip_q = q
        elif name == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def wants_page(accept: str | None) -> bool:
    """Whether a request for a feed comes from a browser (it asks for HTML, not Atom).

    Chromium shows a document served as application/atom+xml as plain text, ignoring its
    xml-stylesheet; served as application/xml, the stylesheet turns it into a page.
    Feed readers name Atom in Accept (or send none) and keep getting the Atom type.
    """
    if not accept:
        return False
    types = {item.partition(";")[0].strip().lower() for item in accept.split(",")}
    return "text/html" in types and ATOM_TYPE not in types


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: int) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        # Weak comparison, as the RFC asks for If-None-Match.
        return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an unparsable date is ignored, as the RFC says
    if since.tzinfo is None:
        return False
    return mtime <= since.timestamp()


@dataclass(frozen=True)
class Snapshot:
    """One version of one file, with everything a response needs, computed once."""

    body: bytes
    gzipped: bytes | None  # None when not worth compressing
    etag: str
    gzip_etag: str
    mtime: int  # whole seconds, as Last-Modified carries them
    last_modified: str
    content_type: str


def snapshot_of(name: str, body: bytes, mtime: float) -> Snapshot:
    """A file's bytes made ready to serve."""
    content_type = CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), DEFAULT_TYPE)
    gzipped = None
    if content_type.startswith(_COMPRESSIBLE) and len(body) >= _MIN_GZIP:
        # mtime=0: the same bytes always compress to the same bytes, so the ETag holds.
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    # From the content, not the inode: stable across restarts, replicas and re-publishes
    # of identical bytes. Strong, so each encoding has its own.
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Snapshot(
        body=body,
        gzipped=gzipped,
        etag=f'"{digest}"',
        gzip_etag=f'"{digest}-gzip"',
        mtime=int(mtime),
        last_modified=formatdate(int(mtime), usegmt=True),
        content_type=content_type,
    )


_Key = tuple[int, int, int, int, int]


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Snapshots:
    """The files served, read whole and kept until their inode, size or times change."""

    def __init__(self) -> None:
        # Plain dict: single reads and writes are atomic, and two threads reading the
        # same new version at once only do the work twice.
        self._files: dict[str, tuple[_Key, Snapshot]] = {}

    def get(self, root: str, name: str) -> Snapshot | None:
        """The current version of the regular file `name` under root; None when it is
        missing, not a regular file, or leads out of root."""
        found = _locate(root, name)
        if found is None:
            self._files.pop(os.path.join(root, name), None)
            return None
        path, st = found
        cached = self._files.get(path)
        if cached is not None and cached[0] == _key(st):
            return cached[1]
        read = _read_whole(path)
        if read is None:
            return None
        key, snapshot = read
        self._files[path] = (key, snapshot)
        return snapshot


def _locate(root: str, name: str) -> tuple[str, os.stat_result] | None:
    """The path and stat of the regular file `name` under root (itself resolved), or None."""
    path = os.path.join(root, name)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode) or "/" in name:
        # A symlink, or a file in a subfolder that may be one: resolve every link and
        # check where it lands. A plain entry of root itself (resolve_target refused
        # "." and "..") is inside by construction, which spares the common case the
        # lstat of every component that realpath costs.
        real = contained(root, name)
        if real is None:
            return None
        try:
            st = os.stat(real)
        except OSError:
            return None
        path = real
    return (path, st) if stat.S_ISREG(st.st_mode) else None


def _read_whole(path: str, attempts: int = 5) -> tuple[_Key, Snapshot] | None:
    """Read one consistent version of a file: its bytes and the stat of that very inode.

    A file replaced by os.replace is consistent as soon as it is open. A file rewritten
    in place (not by republisher) may change while being read: then read it again.
    """
    for _ in range(attempts):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            before = os.fstat(fd)
            body = f.read()
            after = os.fstat(fd)
        if _key(before) == _key(after) and len(body) == after.st_size:
            return _key(after), snapshot_of(path, body, after.st_mtime)
    log.warning("%s keeps changing while being read; not served", path)
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Unparsable request lines are answered with a status line and headers, not as HTTP/0.9.
    default_request_version = "HTTP/1.0"
    server_version = f"republisher/{__version__}"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True
    # Buffered: headers and a small body leave in one write; flushed after each request.
    wbufsize = 64 * 1024
    server: Server
    _agent = "-"  # this request's User-Agent, for the access log

    def version_string(self) -> str:
        return self.server_version  # the base class appends the Python version

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def parse_request(self) -> bool:
        # Every method but GET and HEAD, known or not, gets 405 with Allow (the base class
        # would answer 501 to those it has no do_* method for).
        if not super().parse_request():
            return False
        self._agent = self.headers.get("User-Agent", "-")
        if self.command in ("GET", "HEAD"):
            return True
        self.close_connection = True  # its body, if any, is left unread
        headers = {"Allow": ALLOW, "Content-Type": "text/plain; charset=utf-8"}
        self._reply(405, b"method not allowed\n", headers, send_body=True)
        return False

    def _serve(self, *, send_body: bool) -> None:
        site = self.server.site
        # One pass over the headers: Message.get scans them all on every call.
        asked = {name.lower(): value for name, value in self.headers.items()}
        if asked.get("transfer-encoding") or asked.get("content-length", "0") != "0":
            self.close_connection = True  # we never read a request body: do not parse it as a request
        target = resolve_target(self.path, site.prefix)
        if target.status == 301:
            self._reply(301, b"", {"Location": target.name}, send_body=send_body)
            return
        if target.status != 200:
            self._error(target.status, send_body=send_body)
            return
        snapshot = self.server.files.get(site.root, target.name)
        if snapshot is None:
            self._error(404, send_body=send_body)
            return
        use_gzip = snapshot.gzipped is not None and accepts_gzip(asked.get("accept-encoding"))
        etag = snapshot.gzip_etag if use_gzip else snapshot.etag
        content_type = snapshot.content_type
        vary = ["Accept-Encoding"] if snapshot.gzipped is not None else []
        if content_type.startswith(ATOM_TYPE):
            vary.append("Accept")
            if wants_page(asked.get("accept")):
                content_type = BROWSER_FEED_TYPE
                etag = etag[:-1] + '-page"'  # another representation, another strong ETag
        headers = {
            "ETag": etag,
            "Last-Modified": snapshot.last_modified,
            "Cache-Control": f"public, max-age={site.max_age}",
        }
        if vary:
            headers["Vary"] = ", ".join(vary)
        if not_modified(asked.get("if-none-match"), asked.get("if-modified-since"), etag, snapshot.mtime):
            self._reply(304, b"", headers, send_body=False)
            return
        headers["Content-Type"] = content_type
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Content-Security-Policy"] = _CSP
        body = snapshot.gzipped if use_gzip and snapshot.gzipped is not None else snapshot.body
        self._reply(200, body, headers, send_body=send_body)

    def _error(self, status: int, *, send_body: bool) -> None:
        text = {400: b"bad request\n", 404: b"not found\n"}.get(status, b"error\n")
        headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"}
        self._reply(status, text, headers, send_body=send_body)

    def _reply(self, status: int, body: bytes, headers: dict[str, str], *, send_body: bool) -> None:
        # send_response_only: the access log line is written below, with the body's size.
        self.send_response_only(status)
        self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:  # a 304 has no body and its length would describe the 200
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")  # it asked for keep-alive, or we'd close
        self.end_headers()
        sent = send_body and status != 304
        if sent:
            self.wfile.write(body)
        self._access_log(status, len(body) if sent else 0, self._agent)

    def _access_log(self, status: int, size: int | str, agent: str) -> None:
        """One line per request: client, request line, status, body bytes, user agent."""
        log.info('%s "%s" %s %s "%s"', self.client_address[0], self.requestline, status, size, agent)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Only reached for the errors the base class answers itself (malformed request
        # lines, oversized headers), before any header of this request is known.
        self._access_log(int(code), size, "-")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.client_address[0], *args)


class Server(ThreadingHTTPServer):
    """The HTTP server: `site` says what to serve; `files` holds the snapshots."""

    daemon_threads = True  # idle kept-alive connections never hold up shutdown
    request_queue_size = 128  # a burst of new connections waits in the kernel, not refused

    def __init__(self, address: tuple[str, int], site: Site, max_connections: int = MAX_CONNECTIONS) -> None:
        self.site = site
        self.files = Snapshots()
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

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
        if not self._slots.acquire(blocking=False):
            log.warning("%s: refused: %d connections open", client_address[0], self.max_connections)
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]  # called from within socketserver's except block
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
