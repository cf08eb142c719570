"""What `serve` answers: request targets mapped to files of output_dir, the files' snapshots,
and the pure decisions of a response (conditional GET, gzip, the feed's type for browsers).

Nothing here touches a socket; daemon/http.py speaks the protocol, daemon/connections.py
bounds the connections.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote, unquote, urlsplit

from republisher.config import Config

log = logging.getLogger(__name__)

INDEX = "index.html"
MAX_AGE_CAP = 3600  # seconds: a reader's cache never holds a feed longer than an hour

ATOM_TYPE = "application/atom+xml"
CONTENT_TYPES = {
    ".atom": f"{ATOM_TYPE}; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
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

# The pages show other sites' (sanitized) HTML: forbid scripts, plugins and forms anyway.
# They need only their inline style and remote images.
_CSP = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; "
    "base-uri 'none'; form-action 'none'"
)
_ERROR_TEXT = {400: b"bad request\n", 404: b"not found\n"}


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
    """Whether a request for a feed comes from a browser (it asks for HTML, not Atom):
    it gets the feed's page (`<slug>.html`) instead, since browsers show Atom as raw text
    or a download. Feed readers name Atom in Accept (or send none) and keep getting Atom.
    """
    if not accept:
        return False
    types = {item.partition(";")[0].strip().lower() for item in accept.split(",")}
    return "text/html" in types and ATOM_TYPE not in types


def http_date(value: str) -> float | None:
    """The POSIX time of an HTTP date header, or None when it is not a usable date.

    Whatever a client sends (year 99999999999999999999, hour 99, an offset of a day, a
    date without a zone) is treated as if the header were absent, as RFC 9110 asks.
    """
    try:
        when = parsedate_to_datetime(value)
        # timestamp() as well: a valid date near year 1 or 9999 can overflow once shifted.
        return when.timestamp() if when.tzinfo is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: int) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        # Weak comparison, as the RFC asks for If-None-Match.
        return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
    if if_modified_since is None:
        return False
    since = http_date(if_modified_since)
    return since is not None and mtime <= since


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


@dataclass(frozen=True)
class Answer:
    """A response, decided: status, headers (without the framing ones) and body."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


def error_answer(status: int) -> Answer:
    headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"}
    return Answer(status, headers, _ERROR_TEXT.get(status, b"error\n"))


def page_of(name: str) -> str | None:
    """The page shown to a browser that asks for a feed: `<slug>.html` for `<slug>.atom`."""
    return name[: -len(".atom")] + ".html" if name.endswith(".atom") else None


def answer(
    snapshot: Snapshot, asked: Mapping[str, str], max_age: int, page: Snapshot | None = None
) -> Answer:
    """The response to a GET of `snapshot`, given the request's headers (names lowercased):
    a browser asking for a feed gets its `page` instead (both vary on Accept); then the
    encoding, and 304 when the client's copy is current."""
    negotiated = snapshot.content_type.startswith(ATOM_TYPE)
    if negotiated and page is not None and wants_page(asked.get("accept")):
        snapshot = page
    use_gzip = snapshot.gzipped is not None and accepts_gzip(asked.get("accept-encoding"))
    etag = snapshot.gzip_etag if use_gzip else snapshot.etag
    content_type = snapshot.content_type
    vary = ["Accept-Encoding"] if snapshot.gzipped is not None else []
    if negotiated:
        vary.append("Accept")
    headers = {
        "ETag": etag,
        "Last-Modified": snapshot.last_modified,
        "Cache-Control": f"public, max-age={max_age}",
    }
    if vary:
        headers["Vary"] = ", ".join(vary)
    if not_modified(asked.get("if-none-match"), asked.get("if-modified-since"), etag, snapshot.mtime):
        return Answer(304, headers)
    headers["Content-Type"] = content_type
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = _CSP
    body = snapshot.gzipped if use_gzip and snapshot.gzipped is not None else snapshot.body
    return Answer(200, headers, body)


_Key = tuple[int, int, int, int, int]


def _key(st: os.stat_result) -> _Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Snapshots:
    """The files served, read whole and kept until their inode, size or times change.

    publish replaces files with os.replace, so a request sees the old version or the new
    one, never a mix."""

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
