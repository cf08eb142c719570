"""republisher.sources.fetch keeps connections alive, and only sound ones.

Each fetching thread reuses its connection to a host for its next fetches there (one TCP
connection for many sources, as a poll's fetch threads do); a connection is never reused
after an error, a body cut short or too large, or the server closing it; a kept-alive
connection the server drops as we reuse it costs one retry, not a failed source; and every
socket is closed when the fetch threads end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import pytest

from republisher.errors import FetchError
from republisher.models import FetchResult
from republisher.sources.fetch import Limits, fetch

LIMITS = Limits(timeout=10, max_bytes=1000)
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<rss>evil</rss>"
T = TypeVar("T")


class KeepAliveServer:
    """An HTTP/1.1 server that counts the connections it accepts and sees closed."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.paths: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            drop_next = False  # per connection: close it at its next request, unanswered

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.opened += 1

            def finish(self) -> None:
                super().finish()
                with server.lock:
                    server.closed += 1

            def do_GET(self) -> None:
                with server.lock:
                    server.paths.append(self.path)
                if self.drop_next or self.path == "/silent":
                    self.close_connection = True  # as a server's idle timeout would
                    return
                if self.path == "/drop-next":
                    self.drop_next = True
                    self.answer(200, b"<rss/>")
                elif self.path.startswith("/ok/"):
                    etag = f'"{self.path}"'
                    if self.headers.get("If-None-Match") == etag:
                        self.answer(304, b"", {"ETag": etag})
                    else:
                        self.answer(200, b"<rss>" + self.path.encode() + b"</rss>", {"ETag": etag})
                elif self.path == "/304-with-body":
                    # A 304 that announces a body, sent only after the client's next request
                    # on this connection: a crafted response the next source must never read.
                    self.send_response(304)
                    self.send_header("Content-Length", str(len(SMUGGLED)))
                    self.end_headers()
                    self.wfile.flush()
                    self.rfile.peek(1)  # the next request arrives (or the client closes)
                    self.wfile.write(SMUGGLED)
                    self.close_connection = True
                elif self.path == "/redirect":
                    self.answer(301, b"moved", {"Location": "/ok/target"})
                elif self.path == "/close":
                    self.answer(200, b"<rss/>", {"Connection": "close"})
                elif self.path == "/error":
                    self.answer(500, b"oops " * 20)
                elif self.path == "/big":
                    self.answer(200, b"x" * 300_000)  # more than one read: left unread
                elif self.path == "/truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", "900")
                    self.end_headers()
                    self.wfile.write(b"<rss>")
                    self.close_connection = True
                else:
                    self.answer(404, b"not found")

            def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def wait_all_closed(self) -> None:
        """Wait (bounded) until every accepted connection was closed by the client."""
        for _ in range(500):
            with self.lock:
                if self.closed == self.opened:
                    return
            time.sleep(0.02)
        raise AssertionError(f"{self.opened - self.closed} of {self.opened} connections left open")


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    server = KeepAliveServer()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def in_own_thread(work: Callable[[], T]) -> T:
    """Run work in a thread of its own, as a poll's fetch thread: its client ends with it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def test_fetches_of_one_host_in_one_thread_share_one_connection(server: KeepAliveServer) -> None:
    urls = [server.url(f"/ok/{n}") for n in range(10)]

    def poll_twice() -> list[FetchResult]:
        first = [fetch(url, LIMITS) for url in urls]
        return first + [fetch(url, LIMITS, etag=result.etag) for url, result in zip(urls, first, strict=True)]

    results = in_own_thread(poll_twice)
    assert [r.status for r in results] == [200] * 10 + [304] * 10
    assert results[3].body == b"<rss>/ok/3</rss>"
    assert server.opened == 1
    server.wait_all_closed()


def test_each_fetch_thread_keeps_its_connection_and_closes_it_when_it_ends(server: KeepAliveServer) -> None:
    urls = [server.url(f"/ok/{n}") for n in range(30)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = [r.status for r in pool.map(lambda url: fetch(url, LIMITS), urls)]
    assert statuses == [200] * 30
    assert 1 <= server.opened <= 3 < len(urls)
    server.wait_all_closed()


def test_a_redirect_keeps_its_connection_for_the_target(server: KeepAliveServer) -> None:
    result = in_own_thread(lambda: fetch(server.url("/redirect"), LIMITS))
    assert result.body == b"<rss>/ok/target</rss>"
    assert result.moved_to == server.url("/ok/target")
    assert server.opened == 1


@pytest.mark.parametrize(
    ("path", "failure"),
    [
        ("/error", "HTTP 500"),
        ("/big", "larger than max_bytes"),
        ("/truncated", ""),
        ("/close", None),  # not a failure: the server said it closes the connection
    ],
)
def test_no_connection_is_reused_after_a_failure_or_a_close(
    server: KeepAliveServer, path: str, failure: str | None
) -> None:
    def failure_then_next_source() -> tuple[str | None, FetchResult]:
        try:
            fetch(server.url(path), LIMITS)
            reason = None
        except FetchError as e:
            reason = e.reason
        return reason, fetch(server.url("/ok/next"), LIMITS)

    reason, result = in_own_thread(failure_then_next_source)
    if failure is None:
        assert reason is None
    else:
        assert reason is not None and failure in reason, reason
    assert result.status == 200 and result.body == b"<rss>/ok/next</rss>"
    assert server.opened == 2  # the next source got a fresh connection
    server.wait_all_closed()


def test_a_kept_alive_connection_dropped_by_the_server_is_retried_once(server: KeepAliveServer) -> None:
    def two_sources() -> tuple[FetchResult, FetchResult]:
        return fetch(server.url("/drop-next"), LIMITS), fetch(server.url("/ok/after"), LIMITS)

    first, second = in_own_thread(two_sources)
    assert first.status == 200
    assert second.body == b"<rss>/ok/after</rss>"
    assert server.paths == ["/drop-next", "/ok/after", "/ok/after"]
    assert server.opened == 2


def test_a_new_connection_closed_unanswered_is_an_error_not_retried(server: KeepAliveServer) -> None:
    def silent() -> str:
        with pytest.raises(FetchError) as caught:
            fetch(server.url("/silent"), LIMITS)
        return caught.value.reason

    assert in_own_thread(silent) == "connection failed"
    assert server.paths == ["/silent"]


def test_a_304_announcing_a_body_never_lends_its_connection_to_the_next_source(
    server: KeepAliveServer,
) -> None:
    def two_sources() -> tuple[FetchResult, FetchResult]:
        return fetch(server.url("/304-with-body"), LIMITS, etag='"x"'), fetch(server.url("/ok/next"), LIMITS)

    not_modified, following = in_own_thread(two_sources)
    assert not_modified.status == 304
    assert following.body == b"<rss>/ok/next</rss>"  # its own response, on a new connection
    assert server.opened == 2
