"""The SQLite store: schema migrations, persistence, and atomic output files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from republisher.errors import StoreError
from republisher.models import EntryData, SourceMeta, SourceState, StoredEntry
from republisher.publish.files import remove_stale_temporaries, write_if_changed
from republisher.store.store import MIGRATIONS, EntryWrite, Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORIGIN = SourceMeta(
    title="S", id="https://s.example/", self_url="https://s.example/rss", link=None, updated=None
)


def stored(key: str, title: str = "T") -> StoredEntry:
    data = EntryData(guid=key, title=title, link=None, summary="<p>x</p>", content=None, author=None)
    return StoredEntry("src", key, f"https://s.example/{key}", NOW, NOW, data, ORIGIN)


def test_new_store_is_at_the_latest_schema(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        store.close()


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    store = Store.open(tmp_path)
    store.db.execute("PRAGMA user_version = 99")
    store.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        Store.open(tmp_path)


def test_entries_routes_and_state_survive_reopening(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with store.transaction():
        store.put_entries([EntryWrite(stored("a"), "h1", ("feed",))])
        store.put_source_state(
            SourceState(name="src", url="https://s.example/rss", etag='"e"', last_poll=NOW)
        )
    store.close()
    store = Store.open(tmp_path)
    try:
        assert [e.data.title for e in store.feed_entries("feed", 10)] == ["T"]
        assert store.routes_of("src", "a") == {"feed"}
        state = store.source_state("src")
        assert state is not None and state.etag == '"e"' and state.last_poll == NOW
    finally:
        store.close()


def test_a_failed_transaction_stores_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        with pytest.raises(RuntimeError), store.transaction():
            store.put_entries([EntryWrite(stored("a"), "h1", ())])
            raise RuntimeError("crash half-way")
        assert store.entry_count() == 0
    finally:
        store.close()


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open store"):
        Store.open(blocker / "state")


def test_write_if_changed_skips_identical_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out" / "feed.atom"
    assert write_if_changed(target, b"one") is True
    mtime = target.stat().st_mtime_ns
    assert write_if_changed(target, b"one") is False
    assert target.stat().st_mtime_ns == mtime
    assert write_if_changed(target, b"two") is True
    assert target.read_bytes() == b"two"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in target.parent.iterdir()] == ["feed.atom"], "no temporary left behind"


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".feed.atom.abc.tmp").write_bytes(b"partial")
    (tmp_path / "feed.atom").write_bytes(b"whole")
    remove_stale_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["feed.atom"]


def test_back_off_never_overflows() -> None:
    from republisher.poll.schedule import MAX_BACKOFF, after_failure

    next_due, _ = after_failure(NOW, 900.0, 5000, 0.5)
    assert (next_due - NOW).total_seconds() == MAX_BACKOFF


def test_a_worker_that_cannot_start_does_not_hang_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    from republisher.errors import ParseError
    from republisher.routing.rules import RuleSet
    from republisher.sources.workers import ParsePool

    pool = ParsePool(1, timeout=5)

    def cannot_start() -> object:
        raise OSError("cannot fork")

    monkeypatch.setattr(pool, "_start", cannot_start)
    rules = RuleSet(rules=(), fingerprint="x")
    for _ in range(2):  # the second call would block forever if the slot were lost
        with pytest.raises((OSError, ParseError)):
            pool.prepare(b"<rss/>", "https://x.example/", None, "x", rules)
    pool.close()


def test_a_store_with_routing_hits_keeps_its_routes_when_the_column_goes(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "republisher.sqlite3")
    for script in MIGRATIONS[:4]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 4")
    db.execute(
        "INSERT INTO entries VALUES ('src', 'a', 'https://s.example/a', 'h', ?, ?, ?, ?, ?)",
        (NOW.isoformat(), NOW.isoformat(), NOW.isoformat(), '{"guid": "a", "title": "T"}', "{}"),
    )
    db.execute("INSERT INTO routes VALUES ('src', 'a', 'feed', '[[\"t\", \"title\", \"x\"]]')")
    db.commit()
    db.close()
    store = Store.open(tmp_path)
    try:
        assert store.routes_of("src", "a") == {"feed"}
        columns = [row[1] for row in store.db.execute("PRAGMA table_info(routes)")]
        assert "hits" not in columns
    finally:
        store.close()
