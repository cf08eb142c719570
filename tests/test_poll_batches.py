"""Sources whose fetches complete together are stored in one transaction, but a source is
committed as soon as no other fetch completes within LINGER_SECONDS: a slow fetch never
holds back what is stored, and a failure loses only the batch being written, which the
next poll redoes."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import TEST_RULES

from republisher.config import SourceConfig
from republisher.errors import StoreError
from republisher.models import FetchResult, SourceState
from republisher.poll import cycle
from republisher.poll.decide import Fetched
from republisher.routing.router import Router
from republisher.routing.rules import load_rules
from republisher.sources.parse import parse_feed
from republisher.sources.prepare import prepare_feed
from republisher.store.store import DB_NAME, Store

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>
<link>https://{name}.example/</link><description>d</description>
<item><title>Sanctions story from {name}</title><link>https://{name}.example/1</link></item>
</channel></rss>"""


def fetched(name: str) -> Fetched:
    url = f"https://{name}.example/rss"
    body = RSS.format(name=name).encode()
    feed = prepare_feed(parse_feed(body, url), name, Router(load_rules(TEST_RULES).rules))
    return Fetched(
        SourceConfig(name, url, 1800.0), FetchResult(url, 200, body), feed, f"hash-{name}", status=200
    )


def committed(state_dir: Path) -> set[str]:
    """The sources whose entries another connection sees: committed ones."""
    with sqlite3.connect(state_dir / DB_NAME) as db:
        return {row[0] for row in db.execute("SELECT DISTINCT source FROM entries")}


class Scripted:
    """Fetch results in a given order, each followed by whether another one is ready; before
    handing out the next one, notes what a second connection sees committed."""

    def __init__(self, state_dir: Path, script: list[tuple[Fetched, bool]]) -> None:
        self.state_dir = state_dir
        self.script = script
        self.waiting = False
        self.seen: list[set[str]] = []  # committed before each result was handed out
        self.waited: list[float] = []  # how long each ready() could wait

    def __iter__(self) -> Iterator[Fetched]:
        for result, then_ready in self.script:
            self.seen.append(committed(self.state_dir))
            self.waiting = then_ready
            yield result

    def ready(self, within: float = 0.0) -> bool:
        self.waited.append(within)
        return self.waiting


def counting_commits(store: Store) -> list[None]:
    """A list that grows by one at each commit of `store`."""
    commits: list[None] = []
    real = store.commit

    def counted() -> None:
        commits.append(None)
        real()

    store.commit = counted  # type: ignore[method-assign]
    return commits


def store_all(tmp_path: Path, script: list[tuple[Fetched, bool]]) -> tuple[Scripted, int]:
    fetches = Scripted(tmp_path, script)
    with Store.open(tmp_path) as store:
        commits = counting_commits(store)
        states: dict[str, SourceState] = {}
        cycle._store_all(store, fetches, states, NOW, lambda: 0.0)  # type: ignore[arg-type]
    return fetches, len(commits)


def test_fetches_ready_together_share_a_transaction(tmp_path: Path) -> None:
    script = [(fetched("a"), True), (fetched("b"), True), (fetched("c"), False), (fetched("d"), False)]
    fetches, commits = store_all(tmp_path, script)
    assert commits == 2 + 1  # a, b and c together; d alone; the quiet states at the end
    assert fetches.seen == [set(), set(), set(), {"a", "b", "c"}]
    assert committed(tmp_path) == {"a", "b", "c", "d"}


def test_a_source_is_committed_before_waiting_for_the_next(tmp_path: Path) -> None:
    script = [(fetched("a"), False), (fetched("b"), False)]
    fetches, _ = store_all(tmp_path, script)
    assert fetches.seen == [set(), {"a"}]


def test_a_long_batch_is_committed_after_batch_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cycle, "BATCH_SECONDS", 0.0)  # every source has been open long enough
    script = [(fetched("a"), True), (fetched("b"), True), (fetched("c"), False)]
    fetches, commits = store_all(tmp_path, script)
    assert fetches.seen == [set(), {"a"}, {"a", "b"}]
    assert commits == 3 + 1


def test_a_failure_loses_only_the_open_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Store.put_entries

    def failing(store: Store, writes: object) -> list[str]:
        if any(w.entry.source == "c" for w in writes):  # type: ignore[attr-defined]
            raise StoreError("republisher.sqlite3", "disk full")
        return real(store, writes)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "put_entries", failing)
    script = [(fetched("a"), False), (fetched("b"), True), (fetched("c"), True)]
    with pytest.raises(StoreError):
        store_all(tmp_path, script)
    assert committed(tmp_path) == {"a"}  # b shared c's transaction: the next poll fetches it again
    with Store.open(tmp_path) as store:
        assert set(store.source_states()) == {"a"}


def _store_with_real_fetches(tmp_path: Path, fetch_one: object, names: list[str]) -> int:
    """_store_all over the real fetch threads (cycle._fetches); returns the commits."""
    sources = [SourceConfig(name, f"https://{name}.example/rss", 1800.0) for name in names]
    with Store.open(tmp_path) as store:
        commits = counting_commits(store)
        with cycle._fetches(None, 2, fetch_one, sources) as fetches:  # type: ignore[arg-type]
            cycle._store_all(store, fetches, {}, NOW, lambda: 0.0)
    return len(commits)


def test_a_fetch_completing_while_the_transaction_lingers_joins_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cycle, "LINGER_SECONDS", 30.0)  # far longer than b takes

    def fetch_one(source: SourceConfig) -> Fetched:
        if source.name == "b":
            time.sleep(0.3)  # done after a is stored, well within the linger
        return fetched(source.name)

    assert _store_with_real_fetches(tmp_path, fetch_one, ["a", "b"]) == 1 + 1  # a and b; quiet states
    assert committed(tmp_path) == {"a", "b"}


def test_a_slow_fetch_does_not_hold_back_what_is_stored(tmp_path: Path) -> None:
    a_seen = threading.Event()

    def fetch_one(source: SourceConfig) -> Fetched:
        if source.name == "b":
            # Completes only once another connection sees a committed (or after 20 s, far
            # beyond LINGER_SECONDS: then the assertion below fails).
            deadline = time.monotonic() + 20
            while "a" not in committed(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.05)
            if "a" in committed(tmp_path):
                a_seen.set()
        return fetched(source.name)

    _store_with_real_fetches(tmp_path, fetch_one, ["a", "b"])
    assert a_seen.is_set()
    assert committed(tmp_path) == {"a", "b"}
