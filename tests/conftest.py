"""Shared fixtures: a real HTTP server on 127.0.0.1 and a project folder to poll into."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "guardian-uighurs.xml"
# The tests' own copy of the rule files: editing the shipped rules/ never breaks a test
# (tests of the shipped rules themselves read REPO / "rules").
TEST_RULES = Path(__file__).resolve().parent / "data" / "rules"


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class FeedServer:
    """Serves canned responses by path and records every request it receives."""

    def __init__(self) -> None:
        self.routes: dict[str, Response] = {}
        self.requests: list[Request] = []
        self.delays: dict[str, float] = {}  # path -> seconds to wait before answering
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(Request(self.path, dict(self.headers.items())))
                if self.path in server.delays:
                    time.sleep(server.delays[self.path])
                response = server.routes.get(self.path, Response(404, b"not found"))
                etag = response.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Project:
    """A config folder with the tests' rule files, polling the given sources."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def public(self) -> Path:
        return self.root / "public"

    @property
    def rules(self) -> Path:
        return self.root / "rules"

    def write_config(self, sources: dict[str, str], extra: str = "") -> Path:
        lines = ['base_url = "http://feeds.example.org/topics/"', extra, "[poll]", 'timeout = "5s"']
        for name, url in sources.items():
            lines += ["[[sources]]", f'name = "{name}"', f'url = "{url}"']
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config

    def feed(self, slug: str) -> bytes:
        return (self.public / f"{slug}.atom").read_bytes()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    shutil.copytree(TEST_RULES, tmp_path / "rules")
    return Project(tmp_path)
