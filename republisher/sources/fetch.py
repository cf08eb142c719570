"""Fetch a source's bytes: HTTP(S) with conditional GET and hard bounds, or a local file.

The only module that imports requests. One fetch never takes longer than `timeout`
in total (deadline.py shuts a slow-dripping connection down) nor reads more than
`max_bytes` after decompression.

No cookie is ever sent or kept: no source can track us, none leaks to another source.
Connections are kept alive: each fetching thread has one client whose connections serve
its next fetches of the same host, and are closed when the thread ends (a poll's fetch
threads end with the poll). A connection is given back for reuse only after a response
read to its end; after an error, an oversized body or a timeout it is closed.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.exceptions
import urllib3.response

from republisher import USER_AGENT
from republisher.config import file_path
from republisher.errors import FetchError
from republisher.models import FetchResult
from republisher.sources.deadline import Deadline, watch

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, application/json;q=0.8, */*;q=0.1"
)
MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = frozenset({301, 308})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_CHUNK = 64 * 1024
# A redirect's body up to this size is read to keep its connection; a larger one closes it.
_DRAIN_BYTES = 16 * 1024


_PER_THREAD = threading.local()


def _awaiting_response(connection: _WatchedConnection | _WatchedTLSConnection) -> None:
    """Let the watchdog of the fetch running in this thread shut this connection's socket
    down, and note whether the socket already carried an exchange (see _get)."""
    sock = connection.sock
    if sock is not None:
        watch(sock)
    _PER_THREAD.reused = sock is not None and connection.answered_on is sock
    connection.answered_on = sock


class _WatchedConnection(urllib3.connection.HTTPConnection):
    """Hands its socket to the watchdog while a response is awaited and read."""

    answered_on: socket.socket | None = None

    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]
        _awaiting_response(self)
        return super().getresponse()


class _WatchedTLSConnection(urllib3.connection.HTTPSConnection):
    answered_on: socket.socket | None = None

    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]
        _awaiting_response(self)
        return super().getresponse()


class _WatchedPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedTLSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedTLSConnection


class _Client:
    """One thread's HTTP client: requests' adapter (its connection pools) without a Session.

    A Session would only add what we refuse or do by hand (cookies, .netrc credentials,
    redirects) and merge settings on every request, a third of the CPU of a 304.
    """

    def __init__(self) -> None:
        self.adapter = requests.adapters.HTTPAdapter()  # no retries: see _get
        self.adapter.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedTLSPool}
        self.verify: bool | str = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self.proxied = bool(urllib.request.getproxies())

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        timeout: float,
        form: dict[str, str] | None = None,
    ) -> requests.Response:
        request = requests.Request(method, url, headers=headers, data=form).prepare()
        # Proxies as requests would take them from the environment (no_proxy included).
        proxies = requests.utils.get_environ_proxies(url) if self.proxied else {}
        return self.adapter.send(request, stream=True, timeout=timeout, verify=self.verify, proxies=proxies)

    def __del__(self) -> None:
        # Held only by its thread's local data, which goes when the thread ends (a poll's
        # fetch threads end with the poll): its kept-alive sockets close with it.
        self.adapter.close()


def _client() -> _Client:
    """The calling thread's client: its connections serve this thread's next fetches."""
    client: _Client | None = getattr(_PER_THREAD, "client", None)
    if client is None:
        client = _PER_THREAD.client = _Client()
    return client


@dataclass(frozen=True)
class Limits:
    timeout: float  # seconds for the whole fetch, body included
    max_bytes: int  # largest body accepted, after decompression


def fetch(url: str, limits: Limits, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
    """Fetch url (http, https or file). Raises FetchError with a one-line reason."""
    if urlsplit(url).scheme == "file":
        return _fetch_file(url, limits)
    return _fetch_http(url, limits, etag, last_modified)


def _fetch_file(url: str, limits: Limits) -> FetchResult:
    """Read a regular file. Anything else is refused before reading: a FIFO would block
    until a writer came (past any timeout), a device (/dev/zero) never ends."""
    path = file_path(url)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
        except OSError:
            os.close(descriptor)
            raise
        if not regular:
            os.close(descriptor)
            raise FetchError(url, "not a regular file (a directory, FIFO or device)")
        with open(descriptor, "rb") as f:
            body = f.read(limits.max_bytes + 1)
    except OSError as e:
        raise FetchError(url, f"cannot read file {path}: {e.strerror or e}") from e
    if len(body) > limits.max_bytes:
        raise FetchError(url, f"file larger than max_bytes ({limits.max_bytes})")
    return FetchResult(url=url, status=200, body=body)


def _fetch_http(url: str, limits: Limits, etag: str | None, last_modified: str | None) -> FetchResult:
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    client = _client()
    deadline = Deadline(limits.timeout)
    response: requests.Response | None = None
    try:
        response, hops = _follow_redirects(client, url, headers, deadline)
        if response.status_code == 304:
            _release(response)
            return _result(response, None, hops)
        if not 200 <= response.status_code < 300:
            raise FetchError(
                url,
                f"HTTP {response.status_code} {response.reason or ''}".strip(),
                response.status_code,
                retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
                if response.status_code in (429, 503)
                else None,
            )
        encoding = _content_encoding(response)
        if encoding in _UNDECODABLE:
            raise FetchError(url, f"body encoded as {encoding!r}, which was not asked for (Content-Encoding)")
        body = _read_bounded(response, url, limits, deadline.passed)
        if not body and encoding in ("gzip", "x-gzip", "deflate") and response.raw.tell():
            raise FetchError(
                url, f"body empty once decompressed: cut short or not {encoding} (Content-Encoding)"
            )
        return _result(response, body, hops)
    except requests.RequestException as e:
        if deadline.passed.is_set():
            raise FetchError(url, f"timed out after {limits.timeout:g}s") from e
        raise FetchError(url, _describe(e)) from e
    except (OSError, AttributeError, ValueError) as e:
        # A connection shut down under a read by the watchdog surfaces as one of these.
        if deadline.passed.is_set():
            raise FetchError(url, f"timed out after {limits.timeout:g}s") from e
        raise FetchError(url, f"connection error: {e}") from e
    finally:
        deadline.end()
        if response is not None:
            # A body read to its end has given its connection back for the next fetch
            # already; anything else (an error, a body cut short) closes the connection here.
            response.close()


def _follow_redirects(
    client: _Client, url: str, headers: dict[str, str], deadline: Deadline
) -> tuple[requests.Response, list[int]]:
    """GET url, following at most MAX_REDIRECTS redirects by hand.

    By hand because requests carries cookies set by one hop to the next, and because we
    need every hop's status to tell a permanent move (all 301/308) from a temporary one.
    """
    hops: list[int] = []
    current = url
    while True:
        response = _get(client, current, headers, deadline)
        location = response.headers.get("Location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            return response, hops
        _release(response)
        if len(hops) == MAX_REDIRECTS:
            raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")
        hops.append(response.status_code)
        current = urljoin(current, location)
        if urlsplit(current).scheme not in ("http", "https"):
            raise FetchError(url, f"redirected to a non-HTTP URL: {current}")


def _get(client: _Client, url: str, headers: dict[str, str], deadline: Deadline) -> requests.Response:
    """GET url, once more on a new connection if a kept-alive one failed before any response:
    the server closed it as we reused it (its idle timeout), which says nothing about the
    source. A GET may be repeated (RFC 9110 9.2.2)."""
    try:
        return _get_once(client, url, headers, deadline)
    except requests.ConnectionError:
        if not _PER_THREAD.reused or deadline.passed.is_set():
            raise
    return _get_once(client, url, headers, deadline)


def _get_once(client: _Client, url: str, headers: dict[str, str], deadline: Deadline) -> requests.Response:
    _PER_THREAD.reused = False  # set by _awaiting_response if a response is awaited
    timeout = max(deadline.ends_at - time.monotonic(), 0.001)  # what remains of the deadline
    return client.send("GET", url, headers, timeout)


def _release(response: requests.Response) -> None:
    """Read the rest of a body we do not want (a 304's is empty, a redirect's small) so that
    its connection can serve the next request; one too large or of unknown length is left
    for response.close() to close with its connection."""
    raw = response.raw
    remaining = raw.length_remaining
    headers = response.headers
    if response.status_code == 304 and (
        headers.get("Content-Length", "0").strip() != "0" or "Transfer-Encoding" in headers
    ):
        # A 304 has no body (RFC 9110 15.4.5): one that announces one has its framing
        # wrong, and whatever follows on the connection cannot be trusted to be the next
        # response. Closed, never pooled.
        response.close()
        return
    if remaining is not None and remaining <= _DRAIN_BYTES:
        # At its end urllib3 puts the connection back; a failure here only loses it.
        with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
            raw.read(decode_content=False)
    response.close()


# Compressions we never ask for and cannot decode: a body in one of them is unreadable.
# Any other Content-Encoding value (junk such as "none", "UTF-8" or "binary", which some
# servers send with a plain body) is ignored, as it always was: the body is read as is.
_UNDECODABLE = frozenset({"br", "zstd", "compress", "x-compress", "bzip2", "x-bzip2", "xz", "lzma"})


def _content_encoding(response: requests.Response) -> str:
    """The body's Content-Encoding, lower-cased: the first undecodable one when there is
    one, else the last applied ("" for none)."""
    codings = [c.strip().lower() for c in (response.headers.get("Content-Encoding") or "").split(",")]
    return next((c for c in codings if c in _UNDECODABLE), codings[-1])


def _read_bounded(response: requests.Response, url: str, limits: Limits, timed_out: threading.Event) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(url, f"body larger than max_bytes ({limits.max_bytes}) after decompression")
        chunks.append(chunk)
    if timed_out.is_set():
        raise FetchError(url, f"timed out after {limits.timeout:g}s")
    return b"".join(chunks)


def _result(response: requests.Response, body: bytes | None, hops: list[int]) -> FetchResult:
    permanent = bool(hops) and all(status in PERMANENT_REDIRECTS for status in hops)
    return FetchResult(
        url=response.url,
        moved_to=response.url if permanent else None,
        max_age=cache_max_age(response.headers.get("Cache-Control")),
        status=response.status_code,
        body=body,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        content_type=response.headers.get("Content-Type"),
    )


def post_form(url: str, form: dict[str, str], timeout: float) -> int:
    """POST a form (a WebSub publish ping) within `timeout` in total; returns the HTTP status."""
    deadline = Deadline(timeout)
    try:
        response = _client().send("POST", url, {"User-Agent": USER_AGENT}, timeout, form)
        response.close()  # the body unread: this closes the connection, a ping is rare
    except requests.RequestException as e:
        raise FetchError(
            url, f"timed out after {timeout:g}s" if deadline.passed.is_set() else _describe(e)
        ) from e
    except OSError as e:  # the watchdog shut the socket down under a read
        raise FetchError(url, f"timed out after {timeout:g}s" if deadline.passed.is_set() else str(e)) from e
    finally:
        deadline.end()
    return response.status_code


_DELAY_SECONDS = re.compile(r"[0-9]+\Z")  # ASCII digits only: str.isdigit() also takes "²"


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds: either delay-seconds or an HTTP date (RFC 9110 10.2.3).
    None for anything else: a header we cannot read is ignored, never an error."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.match(value):
        return float(value)  # a huge number is inf: the scheduler caps it
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - now).total_seconds(), 0.0)
    except (TypeError, ValueError, OverflowError, IndexError):  # e.g. year 99999999999999999999
        return None


def cache_max_age(value: str | None) -> float | None:
    """max-age of a Cache-Control header, in seconds."""
    found = _MAX_AGE.search(value or "")
    return float(found.group(1)) if found else None


def _describe(error: requests.RequestException) -> str:
    """One line for the usual network failures instead of urllib3's nested reprs."""
    text = str(error)
    if isinstance(error, requests.ConnectionError):
        if "Name or service not known" in text or "getaddrinfo" in text or "NameResolution" in text:
            return "DNS lookup failed"
        if "Connection refused" in text:
            return "connection refused"
        return "connection failed"
    if isinstance(error, requests.Timeout):
        return "timed out"
    return type(error).__name__
