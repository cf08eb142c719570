"""republisher.sources.workers: parse workers start only for a body to parse, are plain
processes (no helper process beside them), and a dead or overrunning worker fails one
feed only and is replaced."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE, TEST_RULES, FeedServer, Project, Response

from republisher.config import SourceConfig, load_config
from republisher.errors import ParseError
from republisher.poll import cycle
from republisher.poll.decide import Fetched
from republisher.routing.rules import load_rules
from republisher.sources import workers
from republisher.sources.workers import ParsePool, parse_pool
from republisher.store.store import Store

URL = "https://www.theguardian.com/world/uighurs/rss"


def children() -> set[int]:
    """The pids of this process's live children."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                found.add(int(entry))
    return found


@contextmanager
def recorded_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ParsePool]]:
    """Every pool a poll opens, kept for inspection after the poll closed it."""
    pools: list[ParsePool] = []
    real = cycle.parse_pool

    @contextmanager
    def recording(size: int, timeout: float) -> Iterator[ParsePool]:
        with real(size, timeout) as pool:
            pools.append(pool)
            yield pool

    monkeypatch.setattr(cycle, "parse_pool", recording)
    yield pools


def poll(project: Project, monkeypatch: pytest.MonkeyPatch) -> int:
    """Workers started by one forced poll."""
    config = load_config(project.config)
    rules = load_rules(config.rules_dir, [s.name for s in config.sources])
    with recorded_pools(monkeypatch) as pools:
        report = cycle.poll_once(config, rules, datetime.now(UTC), force=True)
    assert not report.failed, report.outcomes
    assert all(not pool.all for pool in pools)  # closed: no worker outlives the poll
    return sum(pool.started for pool in pools)


@pytest.mark.parametrize("validators", [{"ETag": '"v1"'}, {"Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"}])
def test_a_poll_where_every_source_answers_304_starts_no_worker(
    project: Project, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch, validators: dict[str, str]
) -> None:
    feed_server.routes["/a"] = Response(200, SAMPLE.read_bytes(), dict(validators))
    feed_server.routes["/b"] = Response(200, SAMPLE.read_bytes().replace(b"Uighurs", b"Uyghurs"), {})
    project.write_config({"a": feed_server.url("/a"), "b": feed_server.url("/b")})
    assert poll(project, monkeypatch) >= 1  # two new bodies: parsed
    if "ETag" not in validators:  # the test server answers 304 on a matching ETag only
        feed_server.routes["/a"] = Response(304, b"", {})
    feed_server.routes["/b"] = Response(304, b"", {})
    assert poll(project, monkeypatch) == 0


def test_a_poll_of_unchanged_bodies_without_validators_starts_no_worker(
    project: Project, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in ("/a", "/b", "/c"):
        feed_server.routes[path] = Response(200, SAMPLE.read_bytes().replace(b"Uighurs", path.encode()), {})
    project.write_config({p: feed_server.url(f"/{p}") for p in "abc"})
    assert poll(project, monkeypatch) >= 1
    assert poll(project, monkeypatch) == 0  # every body downloaded, each the same as stored
    feed_server.routes["/b"].body += b"\n"  # one changed body: one parse, so one worker
    assert poll(project, monkeypatch) == 1


def test_a_worker_is_the_only_process_a_pool_starts() -> None:
    """No multiprocessing resource tracker or other helper beside the worker."""
    before = children()
    pool = ParsePool(1, timeout=5)
    try:
        pool.prepare(SAMPLE.read_bytes(), URL, None, "g", load_rules(TEST_RULES))
        (worker,) = pool.all
        assert children() - before == {worker.pid}
    finally:
        pool.close()
    assert children() - before == set()


def test_a_killed_worker_fails_one_feed_and_is_replaced() -> None:
    rules = load_rules(TEST_RULES)
    pool = ParsePool(1, timeout=5)
    try:
        assert len(pool.prepare(SAMPLE.read_bytes(), URL, None, "g", rules).entries) == 20
        (worker,) = pool.all
        os.kill(worker.pid, signal.SIGKILL)  # as the kernel does to a worker out of memory
        worker.process.wait()
        with pytest.raises(ParseError, match="parser process died"):
            pool.prepare(SAMPLE.read_bytes(), URL, None, "g", rules)
        assert len(pool.prepare(SAMPLE.read_bytes(), URL, None, "g", rules).entries) == 20
        assert pool.started == 2 and [w.pid for w in pool.all] != [worker.pid]
    finally:
        pool.close()


def test_a_parse_over_its_time_limit_kills_the_worker_and_the_next_one_parses() -> None:
    rules = load_rules(TEST_RULES)
    pool = ParsePool(1, timeout=5)
    try:
        pool.timeout = 1e-9  # no worker can even start in that time
        with pytest.raises(ParseError, match="took longer"):
            pool.prepare(SAMPLE.read_bytes(), URL, None, "g", rules)
        assert pool.all == set()  # killed and reaped
        pool.timeout = workers.parse_time_limit(5)
        assert len(pool.prepare(SAMPLE.read_bytes(), URL, None, "g", rules).entries) == 20
        assert pool.started == 2
    finally:
        pool.close()


def test_a_worker_does_not_import_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file in the folder the poll runs from never shadows a module the worker imports."""
    (tmp_path / "feedparser.py").write_text("raise SystemExit('imported from the current directory')\n")
    monkeypatch.chdir(tmp_path)
    pool = ParsePool(1, timeout=5)
    try:
        assert len(pool.prepare(SAMPLE.read_bytes(), URL, None, "g", load_rules(TEST_RULES)).entries) == 20
    finally:
        pool.close()


def test_fetched_feeds_never_pile_up_waiting_to_be_stored(
    project: Project, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When storing is slower than fetching, fetching waits: at most AHEAD fetches per
    thread are running or done-but-unstored, so memory does not grow with the sources."""
    names = [f"s{n:02d}" for n in range(30)]
    for name in names:
        feed_server.routes[f"/{name}"] = Response(200, SAMPLE.read_bytes().replace(b"Uighurs", name.encode()))
    project.write_config({name: feed_server.url(f"/{name}") for name in names}, "")
    project.config.write_text(project.config.read_text().replace("[poll]", "[poll]\nworkers = 2"))
    config = load_config(project.config)
    rules = load_rules(config.rules_dir, [s.name for s in config.sources])
    lock = threading.Lock()
    started: list[str] = []
    stored: list[str] = []
    ahead: list[int] = []
    real_fetch, real_decide = cycle.fetch_and_parse, cycle._decide

    def counting_fetch(source: SourceConfig, *args: Any) -> Fetched:
        with lock:
            started.append(source.name)
        return real_fetch(source, *args)

    def slow_decide(store: Store, fetched: Fetched, *args: Any) -> Any:
        time.sleep(0.05)  # storing slower than fetching: before the bound, every fetch ran ahead
        with lock:
            stored.append(fetched.source.name)
            ahead.append(len(started) - len(stored))
        return real_decide(store, fetched, *args)

    monkeypatch.setattr(cycle, "fetch_and_parse", counting_fetch)
    monkeypatch.setattr(cycle, "_decide", slow_decide)
    with parse_pool(1, 5) as pool:
        parser = functools.partial(pool.prepare, rules=rules)
        report = cycle.poll_once(config, rules, datetime.now(UTC), force=True, parser=parser)
    assert not report.failed and len(report.outcomes) == 30
    assert max(ahead) <= 2 * cycle.AHEAD, ahead


def test_the_worker_encodes_each_entry_as_the_store_would() -> None:
    """The parse workers hand the store each entry's JSON: the same the store would write,
    and it reads back to the same entry."""
    from republisher.routing.router import Router
    from republisher.sources.parse import parse_feed
    from republisher.sources.prepare import prepare_feed
    from republisher.store import codec

    feed = prepare_feed(parse_feed(SAMPLE.read_bytes(), SAMPLE.as_uri()), "s", Router(()))
    assert len(feed.entries) == 20
    for prepared in feed.entries:
        assert prepared.stored_json == codec.entry_to_json(prepared.data)
        assert codec.entry_from_json(prepared.stored_json) == prepared.data
