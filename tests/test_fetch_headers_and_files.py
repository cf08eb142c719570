"""republisher.sources.fetch: a header or a file a source controls never breaks a fetch.

An unreadable Retry-After is ignored (never a traceback, never "connection error"); a
file source that is not a regular file (a FIFO, a directory) is refused at once instead
of blocking past `[poll] timeout`.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest import FeedServer, Response

from republisher.errors import FetchError
from republisher.sources.fetch import Limits, fetch, retry_after

NOW = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
LIMITS = Limits(timeout=5, max_bytes=1_000_000)

RETRY_AFTER = {
    "seconds": ("120", 120.0),
    "seconds with spaces": (" 120 ", 120.0),
    "http date ahead": (format_datetime(NOW + timedelta(minutes=5), usegmt=True), 300.0),
    "http date past": ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
    "superscript two": ("\u00b2", None),
    "fullwidth digits": ("\uff11\uff12", None),
    "arabic-indic digits": ("\u0661\u0662", None),
    "negative": ("-5", None),
    "fraction": ("1.5", None),
    "year 99999999999999999999": ("Sun, 06 Nov 99999999999999999999 08:49:37 GMT", None),
    "year 10000": ("Sun, 06 Nov 10000 08:49:37 GMT", None),
    "day 99": ("Sun, 99 Nov 2024 08:49:37 GMT", None),
    "words": ("later, please", None),
    "empty": ("", None),
}


@pytest.mark.parametrize(("value", "expected"), RETRY_AFTER.values(), ids=list(RETRY_AFTER))
def test_retry_after(value: str, expected: float | None) -> None:
    assert retry_after(value, NOW) == expected


def test_a_huge_retry_after_in_seconds_is_infinite_not_an_error() -> None:
    # the scheduler caps it (schedule.MAX_RETRY_AFTER)
    assert retry_after("9" * 400, NOW) == math.inf


@pytest.mark.parametrize(
    "header",
    ["\u00b2", "Sun, 06 Nov 99999999999999999999 08:49:37 GMT", "soon"],
    ids=["superscript", "huge year", "words"],
)
def test_an_unreadable_retry_after_is_ignored_by_fetch(feed_server: FeedServer, header: str) -> None:
    feed_server.routes["/feed"] = Response(503, b"busy", {"Retry-After": header})
    with pytest.raises(FetchError) as caught:
        fetch(feed_server.url("/feed"), LIMITS)
    assert caught.value.reason.startswith("HTTP 503"), caught.value.reason
    assert caught.value.status == 503
    assert caught.value.retry_after is None


def _fetch_in_thread(url: str) -> tuple[threading.Thread, list[BaseException | object]]:
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(fetch(url, LIMITS))
        except BaseException as e:  # handed to the test thread
            outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_fifo_source_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.xml"
    os.mkfifo(fifo)
    thread, outcome = _fetch_in_thread(fifo.as_uri())
    thread.join(timeout=10)
    finished = not thread.is_alive()
    if not finished:  # release the blocked open so the thread can end
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert finished, "reading a FIFO blocked"
    (error,) = outcome
    assert isinstance(error, FetchError) and "not a regular file" in error.reason


def test_a_directory_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="not a regular file"):
        fetch(tmp_path.as_uri(), LIMITS)


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(b"<rss/>")
    assert fetch(path.as_uri(), LIMITS).body == b"<rss/>"


FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        (b"\x1f\x8b\x08\x00garbage", "gzip", "body empty once decompressed: cut short or not gzip"),
        (b"\x1f\x8b", "gzip", "body empty once decompressed: cut short or not gzip"),
        (b"\x0b\x02\x80hello", "br", "encoded as 'br', which was not asked for"),
        (FEED, "compress", "encoded as 'compress', which was not asked for"),
        (gzip.compress(FEED, mtime=0), "gzip, zstd", "encoded as 'zstd', which was not asked for"),
    ],
    ids=["garbage-gzip", "cut-gzip", "brotli", "compress", "gzip-then-zstd"],
)
def test_a_body_that_cannot_be_decoded_says_so(
    feed_server: FeedServer, body: bytes, encoding: str, message: str
) -> None:
    feed_server.routes["/feed"] = Response(200, body, {"Content-Encoding": encoding})
    with pytest.raises(FetchError, match=re.escape(message)):
        fetch(feed_server.url("/feed"), LIMITS)


@pytest.mark.parametrize(
    "encoding", ["gzip", "x-gzip", "GZIP", "identity", "gzip, gzip", "none", "UTF-8", "binary"]
)
def test_the_encodings_asked_for_are_decoded_and_junk_ones_ignored(
    feed_server: FeedServer, encoding: str
) -> None:
    body = FEED
    for coding in reversed([c.strip().lower() for c in encoding.split(",")]):
        if coding in ("gzip", "x-gzip"):
            body = gzip.compress(body)
    feed_server.routes["/feed"] = Response(200, body, {"Content-Encoding": encoding})
    assert fetch(feed_server.url("/feed"), LIMITS).body == FEED
