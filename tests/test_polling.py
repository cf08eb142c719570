"""Polite, bounded polling against a real HTTP server on 127.0.0.1 (issue 3, "Tests").

One named table, POLLING, with a row per behaviour. Every row runs the same story:

1. a good feed with three "sanctions" items (routed to the shipped `diplomacy` feed) is
   polled for the source `subject`, next to a second, well-behaved source `other`;
2. the row switches the server (or the config) to its behaviour and polls again;
3. the test asserts what was requested (paths, counts, headers), what was stored, the exit
   code, the row's own follow-up checks, and that no derived feed lost an entry.

Every response the server sends sets a cookie, so every request is also checked for the
polite headers and for the absence of a Cookie header.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import re
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from conformance import ATOM, problems
from conftest import Project

from republisher.cli import main
from republisher.config import load_config
from republisher.models import SourceState
from republisher.poll import schedule
from republisher.poll.cycle import poll_once
from republisher.routing.rules import load_rules
from republisher.store.store import Store

SUBJECT, OTHER = "subject", "other"
INTERVAL = 1800.0  # [poll] interval = "30m"
COOKIE = "session=s3cr3t; Path=/"

# --- feeds -------------------------------------------------------------------

RSS_HEAD = """<?xml version="1.0" encoding="{encoding}"?>
<rss version="2.0"><channel><title>{title}</title><link>https://{host}/</link>
<description>Test source</description>"""
ITEM = """<item><title>{title}</title><link>https://{host}/{n}</link><guid>https://{host}/{n}</guid>
<description>{summary}</description>{extra}<pubDate>Mon, 0{day} Feb 2021 10:00:00 GMT</pubDate></item>"""

BASELINE = [
    (1, "Sanctions on Xinjiang officials"),
    (2, "EU sanctions Chinese firms over forced labour claims"),
    (3, "US extends sanctions list"),
]
FOURTH = (4, "Sanctions widened to cotton traders")


def rss(
    items: list[tuple[int, str]],
    *,
    host: str = "news.example.com",
    encoding: str = "UTF-8",
    summary: str = "Body text.",
    extra: dict[int, str] | None = None,
) -> bytes:
    parts = [RSS_HEAD.format(encoding=encoding, title=f"Source at {host}", host=host)]
    for n, title in items:
        parts.append(
            ITEM.format(
                n=n, day=n % 9 + 1, title=title, host=host, summary=summary, extra=(extra or {}).get(n, "")
            )
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode(encoding)


GOOD = rss(BASELINE)
GOOD_PLUS_ONE = rss([*BASELINE, FOURTH])
OTHER_FEED = rss([(1, "Embassy reopens after two years")], host="other.example.com")


@functools.cache
def gzip_bomb() -> bytes:
    """gzip of 50 MB of spaces (about 50 KB on the wire), built without holding 50 MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    chunk = b" " * 1_000_000
    return b"".join(packer.compress(chunk) for _ in range(50)) + packer.flush()


def entity_bomb(doctype: str = "rss") -> bytes:
    """A classic "billion laughs": ten levels of ten references each."""
    declarations = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE {doctype} [\n'
        + "\n".join(declarations)
        + '\n]>\n<rss version="2.0"><channel><title>t</title><link>https://news.example.com/</link>'
        "<item><title>Sanctions &lol9;</title><link>https://news.example.com/9</link></item>"
        "</channel></rss>"
    ).encode()


def quadratic_bomb() -> bytes:
    """A 13 KB feed whose one 10 KB entity, referenced a thousand times, makes a 10 MB title.

    The DOCTYPE's system literal contains a '>' (legal XML): a check that scans for '[' only
    up to the first '>' misses the internal subset, while feedparser still finds the entity.
    """
    refs = "&a;" * 1000
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "http://dtd.example.com/rss?v=2>1" [\n'
        f'<!ENTITY a "{"x" * 10_000}">\n]>\n'
        '<rss version="2.0"><channel><title>t</title><link>https://news.example.com/</link>'
        f"<item><title>Sanctions {refs}</title><link>https://news.example.com/9</link></item>"
        "</channel></rss>"
    ).encode()


# --- a scriptable HTTP server --------------------------------------------------

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # names lower-cased


class Server:
    """ThreadingHTTPServer on 127.0.0.1:0: each path is served by a Python callable; every
    request's path and headers are recorded. `stop` releases handlers that drip forever."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.requests: list[Seen] = []
        self.stop = threading.Event()
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                handler = server.handlers.get(self.path, reply(404, b"not found"))
                with contextlib.suppress(OSError):  # the client hung up (a fetch cut off)
                    handler(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def since(self, mark: int) -> list[Seen]:
        return self.requests[mark:]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        sent = {"Content-Type": "application/rss+xml", "Set-Cookie": COOKIE, **(headers or {})}
        for name, value in sent.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def redirect(status: int, location: str) -> Handler:
    return reply(status, b"moved", {"Location": location, "Content-Type": "text/plain"})


def conditional(header: str, body: bytes, headers: dict[str, str]) -> Handler:
    """304 whenever the request carries `header`, else 200 with body (so a missing validator
    shows up as a full response, and a wrong one in the recorded headers)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get(header) is not None:
            h.send_response(304)
            for name, value in {"Set-Cookie": COOKIE, **headers}.items():
                h.send_header(name, value)
            h.end_headers()
        else:
            reply(200, body, headers)(h)

    return handle


def drip_body(stop: threading.Event) -> Handler:
    """Headers at once, then one byte every half second until the client hangs up."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Set-Cookie", COOKIE)
        h.end_headers()
        h.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>slow</title>')
        while not stop.wait(0.5):
            h.wfile.write(b" ")
            h.wfile.flush()

    return handle


def drip_headers(stop: threading.Event) -> Handler:
    """The status line, then one header line one byte every half second: never a full head."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Slow: ")
        while not stop.wait(0.5):
            h.wfile.write(b"a")
            h.wfile.flush()

    return handle


# --- the project under test ----------------------------------------------------


@dataclass
class Ctx:
    project: Project
    server: Server
    capsys: pytest.CaptureFixture[str]
    poll_settings: str
    sources: dict[str, str] = field(default_factory=dict)
    out: str = ""  # stdout of the last CLI poll
    rc: int | None = None  # exit code of the row's poll
    mark: int = 0  # index of the row's first request
    mtimes: dict[str, tuple[int, int]] = field(default_factory=dict)  # output files after the baseline
    baseline: SourceState | None = None  # the subject's state after the baseline
    retry_at: datetime | None = None  # the date a row's server asked to retry at
    peak: int = 0  # peak traced memory during the row's poll (trace_memory rows)

    def write_config(self) -> None:
        settings = {"interval": '"30m"', "timeout": '"5s"', "workers": "4"}
        for line in self.poll_settings.splitlines():
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
        lines = ['base_url = "http://feeds.example.org/topics/"', "[poll]"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        for name, url in self.sources.items():
            lines += ["[[sources]]", f'name = "{name}"', f'url = "{url}"']
        self.project.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def move(self, name: str, url: str) -> None:
        self.sources[name] = url
        self.write_config()

    def poll(self, *args: str) -> int:
        """`republisher poll --force` (or with args) through the CLI; stdout kept in self.out."""
        self.capsys.readouterr()
        rc = main(["--config", str(self.project.config), "poll", *(args or ("--force",))])
        self.out = self.capsys.readouterr().out
        return rc

    def poll_at(self, now: datetime, *, force: bool = False) -> int:
        """pipeline.poll_once at a fixed time with a fixed jitter (0.5: the back-off's midpoint)."""
        config = load_config(self.project.config)
        rules = load_rules(config.rules_dir, [s.name for s in config.sources])
        report = poll_once(config, rules, now, force=force, jitter=lambda: 0.5)
        return 1 if report.failed else 0

    def state(self, name: str = SUBJECT) -> SourceState:
        store = Store.open(self.project.root / "state")
        try:
            return store.source_states()[name]
        finally:
            store.close()

    def entry_count(self) -> int:
        store = Store.open(self.project.root / "state")
        try:
            return store.entry_count()
        finally:
            store.close()

    def stored_titles(self) -> list[str]:
        store = Store.open(self.project.root / "state")
        try:
            return [e.data.title for e in store.all_entries()]
        finally:
            store.close()

    def count(self, path: str, mark: int | None = None) -> int:
        return sum(1 for r in self.server.since(self.mark if mark is None else mark) if r.path == path)

    def last_request(self, path: str) -> Seen:
        return [r for r in self.server.requests if r.path == path][-1]

    def output_stats(self) -> dict[str, tuple[int, int]]:
        return {
            p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(self.project.public.iterdir())
        }


def atom_titles(document: bytes) -> list[str]:
    return [e.findtext(ATOM + "title") or "" for e in ET.fromstring(document).findall(ATOM + "entry")]


def derived_feeds(project: Project) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.public.glob("*.atom"))}


def run_bounded(ctx: Ctx, poll: Callable[[], int], bound: float) -> float:
    """Run a poll in a thread; fail (after releasing the server's drips) if it overruns."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["rc"] = poll()
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(bound)
    elapsed = time.monotonic() - start
    if thread.is_alive():
        ctx.server.stop.set()  # let the hung fetch end so the test can finish
        thread.join(30)
        pytest.fail(f"the poll was still running after {bound:g}s")
    if "error" in box:
        raise box["error"]
    ctx.rc = box["rc"]
    return elapsed


# --- row-specific steps ----------------------------------------------------------


def serving(**routes: Handler) -> Callable[[Ctx], None]:
    """Replace handlers: keyword names are paths without the leading slash."""

    def hostile(ctx: Ctx) -> None:
        for name, handler in routes.items():
            ctx.server.handlers["/" + name] = handler

    return hostile


def nothing(ctx: Ctx) -> None:
    pass


def assert_untouched(ctx: Ctx) -> None:
    assert ctx.output_stats() == ctx.mtimes, "an output file was rewritten"
    assert "wrote " not in ctx.out


def then_etag_304(ctx: Ctx) -> None:
    assert ctx.last_request("/feed").headers.get("if-none-match") == 'W/"5f2b-17a0"'
    assert f"{SUBJECT}: not modified" in ctx.out
    state = ctx.state()
    assert state.last_status == 304
    assert state.etag == 'W/"5f2b-17a0"'
    assert_untouched(ctx)


def then_last_modified_304(ctx: Ctx) -> None:
    headers = ctx.last_request("/feed").headers
    assert headers.get("if-modified-since") == "Mon, 01 Feb 2021 10:00:00 GMT"
    assert "if-none-match" not in headers
    assert f"{SUBJECT}: not modified" in ctx.out
    assert ctx.state().last_status == 304
    assert_untouched(ctx)


def then_unchanged(ctx: Ctx) -> None:
    headers = ctx.last_request("/feed").headers
    assert "if-none-match" not in headers and "if-modified-since" not in headers
    assert f"{SUBJECT}: unchanged" in ctx.out  # byte-identical: not parsed
    assert_untouched(ctx)


def then_retry_after(seconds: float | None) -> Callable[[Ctx], None]:
    """not_before is what the server asked for; no request before then, --force included."""

    def then(ctx: Ctx) -> None:
        state = ctx.state()
        assert state.not_before is not None and state.last_poll is not None
        if seconds is not None:
            wanted = state.last_poll + timedelta(seconds=seconds)
        else:
            assert ctx.retry_at is not None
            wanted = ctx.retry_at
        assert abs((state.not_before - wanted).total_seconds()) <= 2, (state.not_before, wanted)
        assert state.next_due is not None and state.next_due >= state.not_before
        mark = len(ctx.server.requests)
        assert ctx.poll("--force") == 0
        assert ctx.count("/feed", mark) == 0, "--force polled a source before its Retry-After"
        assert ctx.count("/other", mark) == 1, "the other source was not polled"
        mark = len(ctx.server.requests)
        assert ctx.poll("--force", "--source", SUBJECT) == 0
        assert ctx.count("/feed", mark) == 0

    return then


def hostile_503_date(ctx: Ctx) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=600)
    ctx.retry_at = when
    ctx.server.handlers["/feed"] = reply(503, b"busy", {"Retry-After": format_datetime(when, usegmt=True)})


def then_moved(new_path: str, remembered: bool) -> Callable[[Ctx], None]:
    def then(ctx: Ctx) -> None:
        state = ctx.state()
        assert state.moved_to == (ctx.server.url(new_path) if remembered else None)
        assert state.consecutive_errors == 0
        mark = len(ctx.server.requests)
        assert ctx.poll() == 0
        if remembered:
            assert ctx.count("/feed", mark) == 0, "a permanent redirect was not remembered"
            assert ctx.count(new_path, mark) == 1
            assert ctx.state().moved_to == ctx.server.url(new_path)
            ctx.capsys.readouterr()
            assert main(["--config", str(ctx.project.config), "status"]) == 0
            assert ctx.server.url(new_path) in ctx.capsys.readouterr().out
        else:
            assert ctx.count("/feed", mark) == 1, "a temporary redirect was remembered"

    return then


def then_gone(ctx: Ctx) -> None:
    state = ctx.state()
    assert state.gone is True and state.last_status == 410
    mark = len(ctx.server.requests)
    ctx.poll("--force")
    assert ctx.count("/feed", mark) == 0, "--force polled a source that is gone"
    assert ctx.count("/other", mark) == 1
    ctx.server.handlers["/feed2"] = reply(200, GOOD_PLUS_ONE)
    ctx.move(SUBJECT, ctx.server.url("/feed2"))
    mark = len(ctx.server.requests)
    assert ctx.poll("--force") == 0
    assert ctx.count("/feed2", mark) == 1, "a new URL for a gone source was not polled"
    state = ctx.state()
    assert state.gone is False and state.url == ctx.server.url("/feed2")
    assert ctx.entry_count() == 5


def then_backoff(ctx: Ctx) -> None:
    """consecutive_errors 1, 2, 3 with the delay doubling; a 200 resets both."""
    s1 = ctx.state()
    assert s1.next_due is not None and s1.last_poll is not None
    d1 = (s1.next_due - s1.last_poll).total_seconds()  # random jitter: within ±10%
    delays = [d1]
    state = s1
    for errors in (2, 3):
        assert state.next_due is not None
        mark = len(ctx.server.requests)
        assert ctx.poll_at(state.next_due - timedelta(seconds=1)) == 0
        assert ctx.count("/feed", mark) == 0, "polled before the back-off ended"
        now = state.next_due
        assert ctx.poll_at(now) == 1
        assert ctx.count("/feed", mark) == 1
        state = ctx.state()
        assert state.consecutive_errors == errors and state.last_poll == now
        assert state.next_due is not None
        delays.append((state.next_due - now).total_seconds())
    assert delays[2] == 2 * delays[1], delays  # jitter 0.5: exactly the back-off
    assert 0.9 * delays[1] / 2 <= delays[0] <= 1.1 * delays[1] / 2, delays
    assert delays[0] >= 0.9 * INTERVAL
    assert delays[2] <= schedule.MAX_BACKOFF * 1.1
    ctx.server.handlers["/feed"] = reply(200, GOOD_PLUS_ONE)
    assert state.next_due is not None
    now = state.next_due
    assert ctx.poll_at(now) == 0
    state = ctx.state()
    assert state.consecutive_errors == 0 and state.last_error is None
    assert state.next_due == now + timedelta(seconds=INTERVAL)
    assert ctx.entry_count() == 5


def then_max_age(ctx: Ctx) -> None:
    state = ctx.state()
    assert state.next_due is not None and state.last_poll is not None
    assert (state.next_due - state.last_poll).total_seconds() == 7200
    for max_age, expected in ((10 * 86400, schedule.MAX_AGE_CAP), (60, INTERVAL)):
        ctx.server.handlers["/feed"] = reply(200, GOOD, {"Cache-Control": f"public, max-age={max_age}"})
        assert ctx.poll() == 0
        state = ctx.state()
        assert state.next_due is not None and state.last_poll is not None
        assert (state.next_due - state.last_poll).total_seconds() == expected, max_age


def then_nothing_stored(ctx: Ctx) -> None:
    state, baseline = ctx.state(), ctx.baseline
    assert baseline is not None
    assert (state.body_hash, state.etag, state.last_modified) == (
        baseline.body_hash,
        baseline.etag,
        baseline.last_modified,
    )
    assert ctx.output_stats() == ctx.mtimes


def then_bomb_memory(ctx: Ctx) -> None:
    then_nothing_stored(ctx)
    assert 0 < ctx.peak < 200 * 2**20, f"peak {ctx.peak / 2**20:.0f} MB"


def then_no_huge_entry(ctx: Ctx) -> None:
    longest = max(len(t) for t in ctx.stored_titles())
    assert longest < 100_000, f"an entity expanded into a {longest}-character stored title"
    assert max(len(d) for d in derived_feeds(ctx.project).values()) < 1_000_000


def then_author_bounded(ctx: Ctx) -> None:
    """Either parsed (every item stored) or refused with a clear reason; never unbounded."""
    state = ctx.state()
    if state.consecutive_errors:
        assert ctx.rc == 1
        assert re.search(r"(?i)took longer|timed? ?out|time limit", state.last_error or ""), state.last_error
        assert ctx.entry_count() == 4
    else:
        assert ctx.rc == 0
        assert ctx.entry_count() == 6
        assert "Sanctions imposed on port operator" in ctx.stored_titles()


def then_truncated(ctx: Ctx) -> None:
    titles = ctx.stored_titles()
    assert len(titles) >= 6
    assert FOURTH[1] in titles and "Sanctions hit shipping firms" in titles
    assert "malformed" in (ctx.state().last_error or "") or "malformed" in ctx.out
    feed = atom_titles(ctx.project.feed("diplomacy"))
    assert FOURTH[1] in feed


def then_latin1(ctx: Ctx) -> None:
    assert "Sanctions hit café owners" in ctx.stored_titles()
    assert "Sanctions hit café owners" in atom_titles(ctx.project.feed("diplomacy"))


def then_redirect_count(most: int) -> Callable[[Ctx], None]:
    def then(ctx: Ctx) -> None:
        chain = [r.path for r in ctx.server.since(ctx.mark) if r.path != "/other"]
        assert len(chain) <= 1 + most, chain  # the first request, then at most `most` redirects

    return then


def then_five_redirects(ctx: Ctx) -> None:
    assert ctx.state().moved_to is None  # 302s: not remembered
    assert ctx.count("/hop5") == 1


def dripping_body(ctx: Ctx) -> None:
    ctx.server.handlers["/feed"] = drip_body(ctx.server.stop)


def dripping_headers(ctx: Ctx) -> None:
    ctx.server.handlers["/feed"] = drip_headers(ctx.server.stop)


def moved_permanently(ctx: Ctx) -> None:
    serving(feed=redirect(301, ctx.server.url("/new")), new=reply(200, GOOD_PLUS_ONE))(ctx)


def gzip_bombing(ctx: Ctx) -> None:
    ctx.server.handlers["/feed"] = reply(200, gzip_bomb(), {"Content-Encoding": "gzip"})


def dns_failure(ctx: Ctx) -> None:
    ctx.move(SUBJECT, "http://nonexistent.invalid/feed")


def refused(ctx: Ctx) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx.move(SUBJECT, f"http://127.0.0.1:{port}/feed")


def five_redirects(ctx: Ctx) -> None:
    hops = ["/feed", "/hop1", "/hop2", "/hop3", "/hop4"]
    for here, there in zip(hops, [*hops[1:], "/hop5"], strict=True):
        ctx.server.handlers[here] = redirect(302, there)
    ctx.server.handlers["/hop5"] = reply(200, GOOD_PLUS_ONE)


# --- the table ---------------------------------------------------------------------


UNCHECKED = ""  # an empty regex: matches any last_error, or none


@dataclass(frozen=True)
class Case:
    hostile: Callable[[Ctx], None]  # what changes after the good baseline poll
    exit_code: int | None  # of the poll after the change (None: the row's `then` decides)
    requested: dict[str, int]  # path -> requests during that poll ("/other": 1 is implied)
    error: str | None  # regex the subject's last_error must match; None: no error recorded;
    # UNCHECKED: the row's `then` decides
    entries: int | None = 4  # entries stored afterwards (3 + 1 from `other` at baseline)
    then: Callable[[Ctx], None] = nothing  # follow-up polls and row-specific assertions
    poll: str = ""  # [poll] settings for the row
    baseline_headers: dict[str, str] = field(default_factory=dict)
    bound: float = 30.0  # seconds the poll may take at most (a bound, not a benchmark)
    trace_memory: bool = False


# Items 1-5 complete, then the connection dropped in the middle of item 6.
TRUNCATED = (
    rss([*BASELINE, FOURTH, (5, "Sanctions hit shipping firms")]).removesuffix(b"</channel></rss>")
    + b"<item><title>Sanctions cut off mid"
)

AUTHOR_40K = rss(
    [*BASELINE, FOURTH, (5, "Sanctions imposed on port operator")],
    extra={4: "<author>" + "a" * 40_000 + "</author>"},
)

POLLING: dict[str, Case] = {
    "etag-304": Case(
        hostile=serving(feed=conditional("If-None-Match", GOOD, {"ETag": 'W/"5f2b-17a0"'})),
        baseline_headers={"ETag": 'W/"5f2b-17a0"'},
        exit_code=0,
        requested={"/feed": 1},
        error=None,
        then=then_etag_304,
    ),
    "last-modified-304": Case(
        hostile=serving(
            feed=conditional("If-Modified-Since", GOOD, {"Last-Modified": "Mon, 01 Feb 2021 10:00:00 GMT"})
        ),
        baseline_headers={"Last-Modified": "Mon, 01 Feb 2021 10:00:00 GMT"},
        exit_code=0,
        requested={"/feed": 1},
        error=None,
        then=then_last_modified_304,
    ),
    "unchanged-without-validators": Case(
        hostile=nothing, exit_code=0, requested={"/feed": 1}, error=None, then=then_unchanged
    ),
    "429-retry-after-seconds": Case(
        hostile=serving(feed=reply(429, b"slow down", {"Retry-After": "120"})),
        exit_code=1,
        requested={"/feed": 1},
        error=r"429",
        then=then_retry_after(120),
    ),
    "503-retry-after-date": Case(
        hostile=hostile_503_date,
        exit_code=1,
        requested={"/feed": 1},
        error=r"503",
        then=then_retry_after(None),
    ),
    "301-remembered": Case(
        hostile=moved_permanently,  # an absolute Location
        exit_code=0,
        requested={"/feed": 1, "/new": 1},
        error=None,
        entries=5,
        then=then_moved("/new", remembered=True),
    ),
    "308-301-chain-remembered": Case(
        hostile=serving(feed=redirect(308, "/mid"), mid=redirect(301, "/new"), new=reply(200, GOOD_PLUS_ONE)),
        exit_code=0,
        requested={"/feed": 1, "/mid": 1, "/new": 1},
        error=None,
        entries=5,
        then=then_moved("/new", remembered=True),
    ),
    "302-not-remembered": Case(
        hostile=serving(feed=redirect(302, "/new"), new=reply(200, GOOD_PLUS_ONE)),
        exit_code=0,
        requested={"/feed": 1, "/new": 1},
        error=None,
        entries=5,
        then=then_moved("/new", remembered=False),
    ),
    "301-then-302-not-remembered": Case(
        hostile=serving(feed=redirect(301, "/mid"), mid=redirect(302, "/new"), new=reply(200, GOOD_PLUS_ONE)),
        exit_code=0,
        requested={"/feed": 1, "/mid": 1, "/new": 1},
        error=None,
        entries=5,
        then=then_moved("/new", remembered=False),
    ),
    "410-gone": Case(
        hostile=serving(feed=reply(410, b"gone")),
        exit_code=1,
        requested={"/feed": 1},
        error=r"410",
        then=then_gone,
    ),
    "500-backoff-grows-then-resets": Case(
        hostile=serving(feed=reply(500, b"oops")),
        exit_code=1,
        requested={"/feed": 1},
        error=r"500",
        then=then_backoff,
    ),
    "cache-control-max-age": Case(
        hostile=serving(feed=reply(200, GOOD, {"Cache-Control": "public, max-age=7200"})),
        exit_code=0,
        requested={"/feed": 1},
        error=None,
        then=then_max_age,
    ),
    "gzip-encoded-feed": Case(
        hostile=serving(feed=reply(200, gzip.compress(GOOD_PLUS_ONE), {"Content-Encoding": "gzip"})),
        exit_code=0,
        requested={"/feed": 1},
        error=None,
        entries=5,
    ),
    "slow-drip-body": Case(
        hostile=dripping_body,
        poll='timeout = "2s"',
        exit_code=1,
        requested={"/feed": 1},
        error=r"timed out",
        bound=10.0,
    ),
    "slow-drip-headers": Case(
        hostile=dripping_headers,
        poll='timeout = "2s"',
        exit_code=1,
        requested={"/feed": 1},
        error=r"timed out",
        bound=10.0,
    ),
    "oversize-body": Case(
        hostile=serving(feed=reply(200, rss([*BASELINE, FOURTH], summary="x" * 50_000))),
        poll="max_bytes = 10000",
        exit_code=1,
        requested={"/feed": 1},
        error=r"max_bytes",
        then=then_nothing_stored,
    ),
    "gzip-bomb": Case(
        hostile=gzip_bombing,
        poll="max_bytes = 1_000_000",
        exit_code=1,
        requested={"/feed": 1},
        error=r"max_bytes",
        then=then_bomb_memory,
        trace_memory=True,
    ),
    "entity-bomb-billion-laughs": Case(
        hostile=serving(feed=reply(200, entity_bomb())),
        exit_code=1,
        requested={"/feed": 1},
        error=r"(?i)entit|doctype",
        then=then_no_huge_entry,
        bound=10.0,
    ),
    "entity-bomb-gt-in-doctype-literal": Case(
        hostile=serving(feed=reply(200, quadratic_bomb())),
        exit_code=1,
        requested={"/feed": 1},
        error=r"(?i)entit|doctype",
        then=then_no_huge_entry,
        bound=10.0,
    ),
    "author-40kb-bounded": Case(
        hostile=serving(feed=reply(200, AUTHOR_40K)),
        poll='timeout = "2s"',
        exit_code=None,
        requested={"/feed": 1},
        error=UNCHECKED,
        entries=None,
        then=then_author_bounded,
        bound=12.0,
    ),
    "html-page": Case(
        hostile=serving(
            feed=reply(
                200,
                b"<!DOCTYPE html><html><head><title>Sanctions</title></head><body><p>Hi</p></body></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        ),
        exit_code=1,
        requested={"/feed": 1},
        error=r"(?i)html",
    ),
    "empty-body": Case(
        hostile=serving(feed=reply(200, b"")), exit_code=1, requested={"/feed": 1}, error=r"(?i)empty"
    ),
    "truncated-xml": Case(
        hostile=serving(feed=reply(200, TRUNCATED)),
        exit_code=1,
        requested={"/feed": 1},
        error=r"(?i)malformed",
        entries=None,
        then=then_truncated,
    ),
    "latin1-declared": Case(
        hostile=serving(
            feed=reply(
                200,
                rss([*BASELINE, (6, "Sanctions hit café owners")], encoding="ISO-8859-1"),
                {"Content-Type": "text/xml"},
            )
        ),
        exit_code=0,
        requested={"/feed": 1},
        error=None,
        entries=5,
        then=then_latin1,
    ),
    "garbage-bytes": Case(
        hostile=serving(feed=reply(200, bytes(range(256)) * 8 + b"\x89PNG\r\n\x1a\n\x00\xff")),
        exit_code=1,
        requested={"/feed": 1},
        error=r"(?i)not an rss, atom or json feed|not a feed|unreadable",
    ),
    "dns-failure": Case(
        hostile=dns_failure, exit_code=1, requested={"/feed": 0}, error=r"(?i)dns|resolve|name"
    ),
    "connection-refused": Case(hostile=refused, exit_code=1, requested={"/feed": 0}, error=r"(?i)refused"),
    "redirect-loop": Case(
        hostile=serving(feed=redirect(302, "/loop"), loop=redirect(302, "/loop")),
        exit_code=1,
        requested={"/feed": 1},
        error=r"redirects",
        then=then_redirect_count(5),  # relative Locations
    ),
    "five-redirects-followed": Case(
        hostile=five_redirects,
        exit_code=0,
        requested={"/feed": 1, "/hop1": 1, "/hop4": 1, "/hop5": 1},
        error=None,
        entries=5,
        then=then_five_redirects,
    ),
}


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    try:
        yield s
    finally:
        s.close()


UA = re.compile(r"republisher/\S+ \(\+https?://\S+\)\Z")


@pytest.mark.parametrize("case", POLLING.values(), ids=POLLING.keys())
def test_polling(case: Case, project: Project, server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = Ctx(project, server, capsys, case.poll)
    server.handlers["/feed"] = reply(200, GOOD, case.baseline_headers)
    server.handlers["/other"] = reply(200, OTHER_FEED)
    ctx.sources = {SUBJECT: server.url("/feed"), OTHER: server.url("/other")}
    ctx.write_config()

    # 1. the good baseline
    assert ctx.poll() == 0, ctx.out
    before = derived_feeds(project)
    assert len(atom_titles(before["diplomacy.atom"])) == 4
    assert ctx.entry_count() == 4
    ctx.baseline = ctx.state()
    ctx.mtimes = ctx.output_stats()

    # 2. the row's behaviour
    case.hostile(ctx)
    ctx.mark = len(server.requests)
    if case.trace_memory:
        tracemalloc.start()
    try:
        elapsed = run_bounded(ctx, ctx.poll, case.bound)
    finally:
        if case.trace_memory:
            ctx.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert elapsed < case.bound

    # 3. what was requested, stored, and the exit code
    if case.exit_code is not None:
        assert ctx.rc == case.exit_code, ctx.out
    for path, n in {"/other": 1, **case.requested}.items():
        assert ctx.count(path) == n, (path, [r.path for r in server.since(ctx.mark)])
    state = ctx.state()
    if case.error is None:
        assert state.last_error is None, state.last_error
    else:
        assert re.search(case.error, state.last_error or ""), state.last_error
        assert "\n" not in (state.last_error or "")
    if case.exit_code == 1 and case.entries == 4:
        assert state.consecutive_errors == 1
    assert ctx.state(OTHER).last_error is None and ctx.state(OTHER).consecutive_errors == 0
    if case.entries is not None:
        assert ctx.entry_count() == case.entries
    case.then(ctx)

    # 4. no derived feed lost an entry, and each still conforms
    after = derived_feeds(project)
    assert after.keys() == before.keys()
    for name, document in before.items():
        assert set(atom_titles(after[name])) >= set(atom_titles(document)), name
        assert problems(after[name]) == [], name

    # 5. every request was polite, and never sent back a cookie
    assert server.requests
    for seen in server.requests:
        headers = seen.headers
        assert UA.match(headers.get("user-agent", "")), headers
        assert "application/atom+xml" in headers.get("accept", ""), headers
        assert "gzip" in headers.get("accept-encoding", ""), headers
        assert "cookie" not in headers, (seen.path, headers.get("cookie"))
