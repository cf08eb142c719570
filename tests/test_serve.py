"""`serve` as clients use it: the real server on 127.0.0.1, real sockets, a real published folder."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.utils import formatdate
from pathlib import Path

import feedparser
import pytest
from conftest import REPO, SAMPLE, Project

from republisher.cli import main
from republisher.config import Config, load_config
from republisher.daemon.http import (
    Server,
    Target,
    accepts_gzip,
    cache_max_age,
    make_server,
    not_modified,
    resolve_target,
    wants_page,
)
from republisher.errors import RepublisherError
from republisher.publish.files import write_if_changed

PREFIX = "/topics/"  # the path of the test config's base_url
TOPICS = ("diplomacy", "forced-labour", "surveillance")
ATOM_TYPE = "application/atom+xml; charset=utf-8"
FEEDPARSER_ACCEPT = feedparser.http.ACCEPT_HEADER
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The bundled sample polled into a folder served under base_url's path, /topics/.
    Beside public/ lie config.toml and a secret: what traversal attempts aim for."""
    project = Project(tmp_path_factory.mktemp("serve"))
    shutil.copytree(REPO / "rules", project.rules)
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    assert main(["--config", str(project.config), "poll"]) == 0
    (project.root / "secret.txt").write_text("do not serve\n", encoding="utf-8")
    config = load_config(project.config)
    return replace(config, serve=replace(config.serve, port=0))  # any free port


@pytest.fixture(scope="module")
def server(published: Config) -> Iterator[Server]:
    httpd = make_server(published)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def connect(server: Server) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)


def fetch(server: Server, path: str, method: str = "GET", **headers: str) -> Reply:
    conn = connect(server)
    try:
        return exchange(conn, path, method, headers)
    finally:
        conn.close()


def exchange(conn: http.client.HTTPConnection, path: str, method: str, headers: dict[str, str]) -> Reply:
    conn.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = conn.getresponse()
    return Reply(response.status, response.headers, response.read())


def public(config: Config, name: str) -> Path:
    return config.output_dir / name


# --- the pure parts -------------------------------------------------------------------

TARGETS = {
    "feed": ("/topics/diplomacy.atom", Target(200, "diplomacy.atom")),
    "index": ("/topics/", Target(200, "index.html")),
    "query ignored": ("/topics/diplomacy.atom?x=1", Target(200, "diplomacy.atom")),
    "absolute form": ("http://feeds.example.org/topics/index.opml", Target(200, "index.opml")),
    "prefix without slash": ("/topics", Target(301, "/topics/")),
    "outside the prefix": ("/diplomacy.atom", Target(404)),
    "dot dot": ("/topics/../config.toml", Target(404)),
    "encoded dot dot": ("/topics/%2e%2e/config.toml", Target(404)),
    "encoded slash": ("/topics/..%2fconfig.toml", Target(404)),
    "double slash": ("/topics//etc/passwd", Target(404)),
    "encoded leading slash": ("/topics/%2fetc/passwd", Target(404)),
    "dot": ("/topics/./diplomacy.atom", Target(404)),
    "hidden file": ("/topics/.diplomacy.atom.x1.tmp", Target(404)),
    "trailing slash": ("/topics/diplomacy.atom/", Target(404)),
    "backslash": ("/topics/..\\config.toml", Target(400)),
    "encoded backslash": ("/topics/..%5cconfig.toml", Target(400)),
    "NUL": ("/topics/diplomacy.atom%00.html", Target(400)),
    "bad UTF-8": ("/topics/%ff.atom", Target(400)),
    "not a path": ("diplomacy.atom", Target(400)),
    "double encoding stays literal": ("/topics/%252e%252e", Target(200, "%2e%2e")),
}


@pytest.mark.parametrize(("target", "expected"), TARGETS.values(), ids=TARGETS.keys())
def test_resolve_target(target: str, expected: Target) -> None:
    assert resolve_target(target, PREFIX) == expected


def test_resolve_target_at_the_root() -> None:
    assert resolve_target("/", "/") == Target(200, "index.html")
    assert resolve_target("//etc/passwd", "/") == Target(404)


ENCODINGS = {
    "absent": (None, False),
    "gzip": ("gzip", True),
    "list": ("br, gzip, deflate", True),
    "refused": ("gzip;q=0", False),
    "q with spaces": ("gzip ; q=0.5", True),
    "star": ("*", True),
    "star refused": ("*;q=0", False),
    "explicit beats star": ("*, gzip;q=0", False),
    "identity only": ("identity", False),
    "x-gzip": ("x-gzip", True),
}


@pytest.mark.parametrize(("header", "expected"), ENCODINGS.values(), ids=ENCODINGS.keys())
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


LAST_MODIFIED = 1_600_000_000
CONDITIONS = {
    "none": (None, None, False),
    "same etag": ('"abc"', None, True),
    "weak form of the etag": ('W/"abc"', None, True),
    "etag in a list": ('"x", "abc"', None, True),
    "star": ("*", None, True),
    "other etag": ('"x"', None, False),
    "etag decides over the date": ('"x"', formatdate(LAST_MODIFIED, usegmt=True), False),
    "same date": (None, formatdate(LAST_MODIFIED, usegmt=True), True),
    "later date": (None, formatdate(LAST_MODIFIED + 60, usegmt=True), True),
    "earlier date": (None, formatdate(LAST_MODIFIED - 1, usegmt=True), False),
    "garbage date": (None, "yesterday", False),
}
# Dates no file can be compared with: each is ignored, as if the header were absent.
BAD_DATES = {
    "year 20 digits": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
    "offset 20 digits": "Mon, 01 Jan 2020 00:00:00 +99999999999999999999",
    "offset of a day": "Mon, 01 Jan 2020 00:00:00 -2400",
    "hour 99": "Mon, 01 Jan 2020 99:99:99 GMT",
    "day 32": "Mon, 32 Jan 2020 00:00:00 GMT",
    "no zone": "Mon, 01 Jan 2020 00:00:00 -0000",
    "empty": "",
    "control characters": "\x00\x01",
    "only a year": "99999999999999999999",
}
CONDITIONS.update({name: (None, value, False) for name, value in BAD_DATES.items()})


@pytest.mark.parametrize(("inm", "ims", "expected"), CONDITIONS.values(), ids=CONDITIONS.keys())
def test_not_modified(inm: str | None, ims: str | None, expected: bool) -> None:
    assert not_modified(inm, ims, '"abc"', LAST_MODIFIED) is expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [(None, False), ("*/*", False), (FEEDPARSER_ACCEPT, False), (BROWSER_ACCEPT, True)],
    ids=["none", "anything", "feedparser", "browser"],
)
def test_wants_page(accept: str | None, expected: bool) -> None:
    assert wants_page(accept) is expected


def test_cache_max_age_follows_the_shortest_interval(published: Config) -> None:
    source = published.sources[0]
    assert cache_max_age(published) == 1800  # the default 30m interval
    fast = replace(published, sources=(replace(source, interval=120.0), source))
    assert cache_max_age(fast) == 120
    slow = replace(published, sources=(replace(source, interval=86400.0),))
    assert cache_max_age(slow) == 3600, "capped at an hour"


# --- files, types and validators ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("diplomacy.atom", ATOM_TYPE),
        ("index.opml", "text/x-opml; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("diplomacy.html", "text/html; charset=utf-8"),
    ],
)
def test_get_serves_each_file_with_its_type(
    server: Server, published: Config, name: str, content_type: str
) -> None:
    reply = fetch(server, PREFIX + name)
    assert reply.status == 200
    assert reply.header("Content-Type") == content_type
    assert reply.body == public(published, name).read_bytes()
    assert reply.header("Content-Length") == str(len(reply.body))
    assert reply.header("X-Content-Type-Options") == "nosniff"


def test_json_feeds_are_typed_and_compressed(server: Server, published: Config) -> None:
    path = public(published, "extra.json")
    document = b'{"version": "https://jsonfeed.org/version/1.1", "items": [' + b'{"id": "x"}, ' * 50 + b"{}]}"
    write_if_changed(path, document)
    try:
        reply = fetch(server, PREFIX + "extra.json", Accept_Encoding="gzip")
        assert reply.header("Content-Type") == "application/feed+json; charset=utf-8"
        assert reply.header("Content-Encoding") == "gzip"
        assert gzip.decompress(reply.body) == document
    finally:
        path.unlink()


def test_feed_validators_and_caching(server: Server, published: Config) -> None:
    reply = fetch(server, PREFIX + "diplomacy.atom")
    etag = reply.header("ETag") or ""
    assert etag.startswith('"') and etag.endswith('"'), "strong, quoted"
    mtime = public(published, "diplomacy.atom").stat().st_mtime
    assert reply.header("Last-Modified") == formatdate(int(mtime), usegmt=True)
    assert reply.header("Cache-Control") == "public, max-age=1800"
    assert reply.header("Vary") == "Accept-Encoding, Accept"
    assert fetch(server, PREFIX + "diplomacy.atom").header("ETag") == etag, "stable"
    assert fetch(server, PREFIX + "surveillance.atom").header("ETag") != etag


def test_root_of_the_prefix_serves_the_index_page(server: Server, published: Config) -> None:
    reply = fetch(server, PREFIX)
    assert reply.status == 200
    assert reply.body == public(published, "index.html").read_bytes()
    moved = fetch(server, PREFIX.rstrip("/"))
    assert moved.status == 301 and moved.header("Location") == PREFIX


def test_head_sends_the_headers_of_get_and_no_body(server: Server) -> None:
    conn = connect(server)
    try:
        get = exchange(conn, PREFIX + "diplomacy.atom", "GET", {})
        head = exchange(conn, PREFIX + "diplomacy.atom", "HEAD", {})
        # Had HEAD sent a body, it would be read as the next response on this connection.
        after = exchange(conn, PREFIX + "index.opml", "GET", {})
    finally:
        conn.close()
    assert head.status == 200 and head.body == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control"):
        assert head.header(name) == get.header(name), name
    assert after.status == 200 and after.body.startswith(b"<?xml")
    missing = fetch(server, PREFIX + "nothing.atom", "HEAD")
    assert missing.status == 404 and missing.body == b""


def test_if_none_match_gives_304(server: Server) -> None:
    etag = fetch(server, PREFIX + "diplomacy.atom").header("ETag") or ""
    reply = fetch(server, PREFIX + "diplomacy.atom", If_None_Match=etag)
    assert reply.status == 304 and reply.body == b""
    assert reply.header("ETag") == etag
    assert reply.header("Cache-Control") == "public, max-age=1800"
    assert fetch(server, PREFIX + "diplomacy.atom", If_None_Match='"other"').status == 200


def test_an_unusable_date_is_ignored_and_the_connection_kept(server: Server, published: Config) -> None:
    """Garbage If-Modified-Since (the base class once dropped the connection with a
    traceback on some of them): a full 200, and the same connection serves the next request."""
    body = public(published, "index.html").read_bytes()
    conn = connect(server)
    try:
        for name, value in BAD_DATES.items():
            if "\x00" in value:
                continue  # http.client refuses to send control characters; the table covers it
            reply = exchange(conn, PREFIX + "index.html", "GET", {"If-Modified-Since": value})
            assert (reply.status, reply.body) == (200, body), name
        sock = conn.sock
        assert exchange(conn, PREFIX + "index.opml", "GET", {}).status == 200
        assert conn.sock is sock, "the same connection, not a new one"
    finally:
        conn.close()


def test_if_modified_since_gives_304(server: Server) -> None:
    last_modified = fetch(server, PREFIX + "index.html").header("Last-Modified") or ""
    assert fetch(server, PREFIX + "index.html", If_Modified_Since=last_modified).status == 304
    old = formatdate(0, usegmt=True)
    assert fetch(server, PREFIX + "index.html", If_Modified_Since=old).status == 200


def test_gzip_round_trip(server: Server, published: Config) -> None:
    plain = fetch(server, PREFIX + "diplomacy.atom")
    packed = fetch(server, PREFIX + "diplomacy.atom", Accept_Encoding="gzip, deflate")
    assert packed.header("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in (packed.header("Vary") or "")
    assert len(packed.body) < len(plain.body)
    assert gzip.decompress(packed.body) == public(published, "diplomacy.atom").read_bytes()
    assert packed.header("ETag") != plain.header("ETag"), "one strong ETag per encoding"
    assert plain.header("Content-Encoding") is None
    refused = fetch(server, PREFIX + "diplomacy.atom", Accept_Encoding="gzip;q=0")
    assert refused.header("Content-Encoding") is None and refused.body == plain.body
    again = fetch(
        server, PREFIX + "diplomacy.atom", Accept_Encoding="gzip", If_None_Match=packed.header("ETag") or ""
    )
    assert again.status == 304


def test_browsers_get_the_feeds_page_and_readers_its_atom(server: Server, published: Config) -> None:
    reader = fetch(server, PREFIX + "diplomacy.atom", Accept=FEEDPARSER_ACCEPT)
    browser = fetch(server, PREFIX + "diplomacy.atom", Accept=BROWSER_ACCEPT)
    page = fetch(server, PREFIX + "diplomacy.html", Accept=BROWSER_ACCEPT)
    assert reader.header("Content-Type") == ATOM_TYPE
    assert reader.body == (published.output_dir / "diplomacy.atom").read_bytes()
    assert browser.header("Content-Type") == "text/html; charset=utf-8"
    assert browser.body == page.body == (published.output_dir / "diplomacy.html").read_bytes()
    assert browser.header("ETag") == page.header("ETag") != reader.header("ETag")
    for reply in (reader, browser):
        assert "Accept" in (reply.header("Vary") or "")
    # The page's own validators work on the .atom URL too.
    again = fetch(
        server, PREFIX + "diplomacy.atom", Accept=BROWSER_ACCEPT, If_None_Match=browser.header("ETag") or ""
    )
    assert again.status == 304
    # No Accept at all (curl, most feed readers): Atom.
    assert fetch(server, PREFIX + "diplomacy.atom").header("Content-Type") == ATOM_TYPE


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_other_methods_get_405_with_allow(server: Server, method: str) -> None:
    reply = fetch(server, PREFIX + "diplomacy.atom", method)
    assert reply.status == 405
    assert reply.header("Allow") == "GET, HEAD"


def test_a_request_body_is_never_read_as_the_next_request(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        smuggled = b"GET /topics/index.html HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(
            b"POST /topics/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 405")
    assert answer.count(b"HTTP/1.1 ") == 1, "the body was not answered as a request"


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --- nothing outside output_dir -----------------------------------------------------


TRAVERSALS = [
    "/topics/../config.toml",
    "/topics/%2e%2e/config.toml",
    "/topics/%2E%2E/secret.txt",
    "/topics/..%2fconfig.toml",
    "/topics/%2e%2e%2fsecret.txt",
    "/../config.toml",
    "/%2e%2e/config.toml",
    "//etc/passwd",
    "/topics//etc/passwd",
    "/topics/%2fetc%2fpasswd",
    "/etc/passwd",
    "/topics/..\\config.toml",
    "/topics/..%5csecret.txt",
    "/topics/config.toml%00.atom",
    "http://feeds.example.org/topics/../config.toml",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_attempts_fail(server: Server, path: str) -> None:
    reply = fetch(server, path)
    assert reply.status in (400, 403, 404)
    assert b"base_url" not in reply.body and b"root:" not in reply.body and b"do not serve" not in reply.body


def test_traversal_over_a_raw_socket(server: Server) -> None:
    """Exactly these bytes, whatever a client library would normalise."""
    for target in (b"/topics/../secret.txt", b"/topics/./../secret.txt", b"/topics/%2e%2e/secret.txt"):
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 404"), target
        assert b"do not serve" not in answer


def test_symlinks_out_of_output_dir_are_not_followed(server: Server, published: Config) -> None:
    out = published.output_dir
    links = {
        "leak.atom": published.path.parent / "secret.txt",
        "up": published.path.parent,
        "passwd.atom": Path("/etc/passwd"),
    }
    for name, target in links.items():
        (out / name).symlink_to(target)
    (out / "alias.atom").symlink_to(out / "diplomacy.atom")  # inside: fine
    try:
        for path in ("leak.atom", "up/secret.txt", "up/config.toml", "passwd.atom", "up/"):
            reply = fetch(server, PREFIX + path)
            assert reply.status == 404, path
            assert b"do not serve" not in reply.body and b"root:" not in reply.body
        alias = fetch(server, PREFIX + "alias.atom")
        assert alias.status == 200 and alias.body == public(published, "diplomacy.atom").read_bytes()
    finally:
        for name in [*links, "alias.atom"]:
            (out / name).unlink()


def test_folders_and_missing_files_are_404(server: Server, published: Config) -> None:
    (published.output_dir / "folder").mkdir()
    try:
        assert fetch(server, PREFIX + "folder").status == 404
        assert fetch(server, PREFIX + "folder/").status == 404
    finally:
        (published.output_dir / "folder").rmdir()
    assert fetch(server, PREFIX + "missing.atom").status == 404
    assert fetch(server, "/elsewhere/diplomacy.atom").status == 404


# --- connections, concurrency, files changing ------------------------------------------


def test_keep_alive_serves_two_requests_on_one_connection(server: Server) -> None:
    conn = connect(server)
    try:
        first = exchange(conn, PREFIX + "diplomacy.atom", "GET", {})
        sock = conn.sock
        second = exchange(conn, PREFIX + "surveillance.atom", "GET", {})
        assert conn.sock is sock, "the same connection, not a new one"
        missing = exchange(conn, PREFIX + "nothing", "GET", {})
        third = exchange(conn, PREFIX + "index.opml", "GET", {})
        assert conn.sock is sock, "a 404 keeps the connection too"
    finally:
        conn.close()
    assert (first.status, second.status, missing.status, third.status) == (200, 200, 404, 200)
    assert first.header("Connection") is None


def test_a_slow_client_does_not_hold_up_the_others(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as slow:
        slow.sendall(b"GET /topics/index.opml HTTP/1.1\r\nHost: x\r\n")  # headers not finished
        # A server answering one connection at a time would never get here (timeout).
        assert fetch(server, PREFIX + "diplomacy.atom").status == 200
        slow.sendall(b"Connection: close\r\n\r\n")
        assert read_all(slow).startswith(b"HTTP/1.1 200")


def test_parallel_clients(server: Server, published: Config) -> None:
    expected = public(published, "diplomacy.atom").read_bytes()
    results: list[bytes] = []

    def client() -> None:
        conn = connect(server)
        try:
            for _ in range(10):
                results.append(exchange(conn, PREFIX + "diplomacy.atom", "GET", {}).body)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [expected] * 80


def test_a_replaced_file_gets_a_new_etag(server: Server, published: Config) -> None:
    path = public(published, "changing.atom")
    write_if_changed(path, b"<feed>first</feed>\n")
    try:
        first = fetch(server, PREFIX + "changing.atom")
        write_if_changed(path, b"<feed>second version</feed>\n")
        second = fetch(server, PREFIX + "changing.atom")
        assert (first.body, second.body) == (b"<feed>first</feed>\n", b"<feed>second version</feed>\n")
        assert first.header("ETag") != second.header("ETag")
        stale = fetch(server, PREFIX + "changing.atom", If_None_Match=first.header("ETag") or "")
        assert stale.status == 200 and stale.body == second.body
        path.unlink()
        assert fetch(server, PREFIX + "changing.atom").status == 404, "a removed file is gone at once"
    finally:
        path.unlink(missing_ok=True)


def test_never_half_old_half_new(server: Server, published: Config) -> None:
    """While publish keeps replacing a file, every response is one whole version,
    with the ETag of exactly those bytes."""
    path = public(published, "flip.atom")
    versions = [bytes([65 + n]) * (50_000 + n * 1000) for n in range(4)]  # different sizes and bytes
    write_if_changed(path, versions[0])
    stop = threading.Event()

    def publisher() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            write_if_changed(path, versions[n % len(versions)])

    thread = threading.Thread(target=publisher)
    thread.start()
    try:
        conn = connect(server)
        seen = set()
        # At least 150 responses, and on until the file was seen changing: on a loaded
        # machine the publisher thread may get no turn during the first ones.
        deadline = time.monotonic() + 30
        for count in itertools.count():
            if count >= 150 and (len(seen) > 1 or time.monotonic() > deadline):
                break
            reply = exchange(conn, PREFIX + "flip.atom", "GET", {})
            assert reply.body in versions
            digest = hashlib.sha256(reply.body).hexdigest()[:32]
            assert reply.header("ETag") == f'"{digest}"'
            seen.add(reply.body[:1])
        conn.close()
    finally:
        stop.set()
        thread.join()
        path.unlink()
    assert len(seen) > 1, "the file did change under the server"


# --- logging, errors, lifecycle ----------------------------------------------------------


def test_one_access_log_line_per_request(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="republisher.daemon.http")
    requests = [
        ("GET", PREFIX + "index.opml", 200),
        ("HEAD", PREFIX + "diplomacy.atom", 200),
        ("GET", PREFIX + "../config.toml", 404),
        ("DELETE", PREFIX, 405),
    ]
    for method, path, status in requests:
        assert fetch(server, path, method, User_Agent="test-agent/1").status == status
    deadline = time.monotonic() + 5
    while len(access_lines(caplog)) < len(requests) and time.monotonic() < deadline:
        time.sleep(0.01)  # a large body may reach us before its log line is written
    lines = access_lines(caplog)
    assert len(lines) == len(requests)
    for (method, path, status), line in zip(requests, sorted(lines, key=order(requests)), strict=True):
        assert line.startswith("127.0.0.1 ")
        assert f'"{method} {path} HTTP/1.1" {status} ' in line
        assert line.endswith('"test-agent/1"')


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "republisher.daemon.http"
        and r.levelno == logging.INFO
        and "test-agent/1" in r.getMessage()
    ]


def order(requests: list[tuple[str, str, int]]):  # type: ignore[no-untyped-def]
    keys = [f'"{m} {p} ' for m, p, _ in requests]
    return lambda line: next(i for i, k in enumerate(keys) if k in line)


def test_malformed_requests_get_400_and_a_log_line(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="republisher.daemon.http")
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 400")
    deadline = time.monotonic() + 5
    while not any(" 400 " in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any(" 400 " in r.getMessage() for r in caplog.records)


def test_a_failure_answering_one_request_costs_only_that_request(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable(root: str, name: str) -> None:
        raise OSError(5, "Input/output error")  # say, a failing disk under one file

    with monkeypatch.context() as patch:
        patch.setattr(server.files, "get", unreadable)
        reply = fetch(server, PREFIX + "diplomacy.atom")
    assert reply.status == 500 and reply.header("Connection") == "close"
    assert any("internal error" in r.getMessage() for r in caplog.records)
    assert fetch(server, PREFIX + "diplomacy.atom").status == 200, "the server goes on"


def test_a_busy_port_is_a_clear_error(server: Server, published: Config) -> None:
    taken = replace(published, serve=replace(published.serve, port=server.server_port))
    with pytest.raises(RepublisherError, match=f"cannot listen on 127.0.0.1:{server.server_port}"):
        make_server(taken)


def test_serve_stops_cleanly_on_sigterm(published: Config) -> None:
    """`serve(config)` in its own process, as `republisher serve` runs it: returns 0 on SIGTERM."""
    code = (
        "import logging, sys\n"
        "from dataclasses import replace\n"
        "from pathlib import Path\n"
        "from republisher.config import load_config\n"
        "from republisher.daemon.http import serve\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "c = load_config(Path(sys.argv[1]))\n"
        "sys.exit(serve(replace(c, serve=replace(c.serve, port=0))))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(published.path)], stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stderr is not None
        banner = child.stderr.readline()  # "serving ... at http://127.0.0.1:PORT/topics/"
        assert "serving" in banner and banner.rstrip().endswith(PREFIX)
        port = int(banner.rsplit(":", 1)[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", PREFIX + "index.opml")
        assert conn.getresponse().status == 200
        conn.close()
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_update_follows_a_reloaded_config(published: Config, tmp_path: Path) -> None:
    httpd = make_server(published)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        shutil.copytree(published.output_dir, tmp_path / "other")
        moved = replace(published, base_url="http://feeds.example.org/news/", output_dir=tmp_path / "other")
        httpd.update(moved)
        assert fetch(httpd, "/news/index.opml").status == 200
        assert fetch(httpd, PREFIX + "index.opml").status == 404
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- real feed readers ----------------------------------------------------------------


def test_feedparser_subscribes_over_http(server: Server, published: Config) -> None:
    for slug in TOPICS:
        url = f"http://127.0.0.1:{server.server_port}{PREFIX}{slug}.atom"
        feed = feedparser.parse(url)
        assert feed.status == 200 and not feed.bozo, feed.get("bozo_exception")
        assert feed.version == "atom10"
        assert feed.headers["content-encoding"] == "gzip", "feedparser asks for gzip"
        on_disk = feedparser.parse(public(published, f"{slug}.atom").read_bytes())
        assert [e.title for e in feed.entries] == [e.title for e in on_disk.entries]
        assert len(feed.entries) > 0 and all(e.link.startswith("https://") for e in feed.entries)
        again = feedparser.parse(url, etag=feed.etag, modified=feed.modified)
        assert again.status == 304 and again.entries == []


def test_feedparser_imports_the_opml_feeds(server: Server) -> None:
    """The outlines' xmlUrl are base_url-based; served here under the same path, they resolve."""
    opml = fetch(server, PREFIX + "index.opml").body.decode()
    assert opml.count('type="rss"') == len(TOPICS)


@pytest.mark.skipif(shutil.which("newsboat") is None, reason="newsboat is not installed")
def test_newsboat_reads_every_entry(server: Server, published: Config, tmp_path: Path) -> None:
    urls = tmp_path / "urls"
    urls.write_text(
        "".join(f"http://127.0.0.1:{server.server_port}{PREFIX}{slug}.atom\n" for slug in TOPICS),
        encoding="utf-8",
    )
    (tmp_path / "config").write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
    }
    run = subprocess.run(
        [
            "newsboat",
            "-u",
            str(urls),
            "-c",
            str(tmp_path / "cache.db"),
            "-C",
            str(tmp_path / "config"),
            "-x",
            "reload",
            "print-unread",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    total = sum(
        len(feedparser.parse(public(published, f"{slug}.atom").read_bytes()).entries) for slug in TOPICS
    )
    assert run.stdout.split()[0] == str(total), run.stdout
