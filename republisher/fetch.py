"""Fetch a source's bytes: HTTP(S) with conditional GET and hard bounds, or a local file.

The only module that imports requests. One fetch never takes longer than `timeout`
in total (a watchdog closes a slow-dripping connection) nor reads more than
`max_bytes` after decompression.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests

from republisher import USER_AGENT
from republisher.errors import FetchError
from republisher.models import FetchResult

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = frozenset({301, 308})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_CHUNK = 64 * 1024


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
    path = Path(url2pathname(unquote(urlsplit(url).path)))
    try:
        with path.open("rb") as f:
            body = f.read(limits.max_bytes + 1)
    except OSError as e:
        raise FetchError(url, f"cannot read file: {e.strerror or e}") from e
    if len(body) > limits.max_bytes:
        raise FetchError(url, f"file larger than max_bytes ({limits.max_bytes})")
    return FetchResult(url=url, status=200, body=body)


def _fetch_http(url: str, limits: Limits, etag: str | None, last_modified: str | None) -> FetchResult:
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    session = requests.Session()  # a fresh session per fetch: no cookies carried between polls
    session.max_redirects = MAX_REDIRECTS
    timed_out = threading.Event()
    response: requests.Response | None = None

    def cut_off() -> None:
        timed_out.set()
        if response is not None:
            response.close()  # unblocks a read that a slow-drip server keeps alive

    watchdog = threading.Timer(limits.timeout, cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        response = session.get(
            url, headers=headers, stream=True, timeout=limits.timeout, allow_redirects=True
        )
        if response.status_code == 304:
            return _result(response, None)
        if not 200 <= response.status_code < 300:
            raise FetchError(
                url,
                f"HTTP {response.status_code} {response.reason or ''}".strip(),
                response.status_code,
                retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
                if response.status_code in (429, 503)
                else None,
            )
        body = _read_bounded(response, url, limits, timed_out)
        return _result(response, body)
    except requests.TooManyRedirects as e:
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects") from e
    except requests.RequestException as e:
        if timed_out.is_set():
            raise FetchError(url, f"timed out after {limits.timeout:g}s") from e
        raise FetchError(url, _describe(e)) from e
    except (OSError, AttributeError, ValueError) as e:
        # A connection closed under a read by the watchdog surfaces as one of these.
        if timed_out.is_set():
            raise FetchError(url, f"timed out after {limits.timeout:g}s") from e
        raise FetchError(url, f"connection error: {e}") from e
    finally:
        watchdog.cancel()
        if response is not None:
            response.close()
        session.close()


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


def _result(response: requests.Response, body: bytes | None) -> FetchResult:
    permanent = bool(response.history) and all(
        hop.status_code in PERMANENT_REDIRECTS for hop in response.history
    )
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


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds: either delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


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
