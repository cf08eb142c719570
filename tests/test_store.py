"""The SQLite store: schema migrations, persistence, and atomic output files."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from republisher.errors import StoreError
from republisher.models import EntryData, SourceMeta, SourceState, StoredEntry
from republisher.publish.files import remove_stale_temporaries, write_if_changed
from republisher.store.schema import MIGRATIONS
from republisher.store.store import EntryWrite, Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORIGIN = SourceMeta(
    title="S", id="https://s.example/", self_url="https://s.example/rss", link=None, updated=None
)


def stored(key: str, title: str = "T") -> StoredEntry:
    data = EntryData(guid=key, title=title, link=None, summary="<p>x</p>", content=None, author=None)
    return StoredEntry("src", key, f"https://s.example/{key}", NOW, NOW, data, ORIGIN)


def old_store(tmp_path: Path, version: int) -> sqlite3.Connection:
    """A store file as republisher left it at schema `version`."""
    db = sqlite3.connect(tmp_path / "republisher.sqlite3")
    for script in MIGRATIONS[:version]:
        db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    return db


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


def test_a_retry_is_due_in_whole_seconds_within_ten_percent() -> None:
    """status shows when a failing source is due again: no fraction of a second in it."""
    from republisher.poll.schedule import after_failure

    now = NOW.replace(microsecond=654321)  # the daemon's clock has them
    for jitter in (0.0, 0.123456, 0.5, 0.999999):
        next_due, _ = after_failure(now, 60.0, 1, jitter)
        assert next_due.microsecond == 0
        assert 0.9 * 60 - 1 <= (next_due - now).total_seconds() <= 1.1 * 60 + 1


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
    db = old_store(tmp_path, 4)
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


def entry(source: str, key: str, when: datetime, atom_id: str | None = None, title: str = "T") -> StoredEntry:
    data = EntryData(
        guid=key, title=title, link=None, summary=None, content=None, author=None, published=when
    )
    return StoredEntry(source, key, atom_id or f"urn:{source}:{key}", NOW, NOW, data, ORIGIN)


def test_the_package_exports_the_store() -> None:
    import republisher.store as package

    assert package.Store is Store and package.EntryWrite is EntryWrite


def test_a_store_closes_at_the_end_of_a_with_block(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.entry_count() == 0
    with pytest.raises(StoreError, match=r"republisher\.sqlite3: .*closed database"):
        store.entry_count()
    with pytest.raises(RuntimeError), Store.open(tmp_path) as store:
        raise RuntimeError("the block failed")
    with pytest.raises(StoreError):
        store.entry_count()


def test_dropped_items_of_a_source_survive_reopening(tmp_path: Path) -> None:
    dropped = ("item 3 (e1): link is not a valid URL", "item 7: date in year 9999 — out of range")
    with Store.open(tmp_path) as store, store.transaction():
        store.put_source_state(SourceState(name="src", url="https://s.example/rss", dropped=dropped))
        store.put_source_state(SourceState(name="clean", url="https://c.example/rss"))
    with Store.open(tmp_path) as store:
        assert store.source_states()["src"].dropped == dropped
        assert store.source_states()["clean"].dropped == ()
        with store.transaction():  # the next parse dropped nothing: the list empties
            store.put_source_state(SourceState(name="src", url="https://s.example/rss"))
        state = store.source_state("src")
        assert state is not None and state.dropped == ()


def test_a_version_5_store_gains_dropped_items_and_dated_routes(tmp_path: Path) -> None:
    db = old_store(tmp_path, 5)
    db.execute(
        "INSERT INTO sources (name, url, etag, consecutive_errors, gone) VALUES ('src', 'https://s.example/rss', '\"e\"', 2, 0)"
    )
    for n, day in enumerate((3, 1, 2)):
        when = datetime(2026, 11, day, tzinfo=UTC).isoformat()
        data = f'{{"guid": "k{n}", "title": "T{n}", "link": null, "summary": null, "content": null, "author": null, "categories": [], "published": "{when}", "updated": null}}'
        origin = '{"title": "S", "id": "i", "self_url": "u", "link": null, "updated": null}'
        db.execute(
            "INSERT INTO entries VALUES ('src', ?, ?, 'h', ?, ?, ?, ?, ?)",
            (f"k{n}", f"urn:k{n}", NOW.isoformat(), NOW.isoformat(), when, data, origin),
        )
        db.execute("INSERT INTO routes (source, key, slug) VALUES ('src', ?, 'feed')", (f"k{n}",))
    db.commit()
    db.close()
    with Store.open(tmp_path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        state = store.source_state("src")
        assert state is not None and state.etag == '"e"' and state.consecutive_errors == 2
        assert state.dropped == ()
        assert [e.key for e in store.feed_entries("feed", 10)] == ["k0", "k2", "k1"]
        assert [e.key for e in store.feed_entries("feed", 10, datetime(2026, 11, 2, tzinfo=UTC))] == [
            "k0",
            "k2",
        ]
        assert store.feed_counts() == {"feed": (3, datetime(2026, 11, 3, tzinfo=UTC))}


def test_a_changed_date_or_a_reroute_keeps_the_feed_in_date_order(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        with store.transaction():
            store.put_entries(
                [
                    EntryWrite(entry("src", "a", datetime(2026, 11, 1, tzinfo=UTC)), "h", ("feed",)),
                    EntryWrite(entry("src", "b", datetime(2026, 11, 2, tzinfo=UTC)), "h", ("feed",)),
                    EntryWrite(entry("src", "c", datetime(2026, 11, 3, tzinfo=UTC)), "h", ()),
                ]
            )
        assert [e.key for e in store.feed_entries("feed", 10)] == ["b", "a"]
        with store.transaction():  # a new version of `a`, dated later than `b`
            store.put_entries(
                [EntryWrite(entry("src", "a", datetime(2026, 11, 5, tzinfo=UTC)), "h2", ("feed",))]
            )
        assert [e.key for e in store.feed_entries("feed", 10)] == ["a", "b"]
        with store.transaction():  # rerouted into the feed: `c` takes its own date along
            store.set_routes("src", "c", ["feed", "other"])
        assert [e.key for e in store.feed_entries("feed", 10)] == ["a", "c", "b"]
        assert [e.key for e in store.feed_entries("feed", 2)] == ["a", "c"]
        assert [e.key for e in store.feed_entries("other", 10)] == ["c"]
        assert store.feed_counts() == {
            "feed": (3, datetime(2026, 11, 5, tzinfo=UTC)),
            "other": (1, datetime(2026, 11, 3, tzinfo=UTC)),
        }


def test_entries_of_equal_date_come_in_atom_id_order(tmp_path: Path) -> None:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    writes = [
        EntryWrite(entry("src", k, when, atom_id=f"urn:{a}"), "h", ("feed",)) for k, a in ("xb", "ya", "zc")
    ]
    with Store.open(tmp_path) as store:
        with store.transaction():
            store.put_entries(writes)
        assert [e.atom_id for e in store.feed_entries("feed", 10)] == ["urn:a", "urn:b", "urn:c"]


def sqlite_steps(store: Store, read: Callable[[], object]) -> int:
    """How many SQLite virtual machine steps `read` takes (in hundreds): work done, not time."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store.db.set_progress_handler(count, 100)
    try:
        read()
    finally:
        store.db.set_progress_handler(None, 100)
    return steps


def test_reading_a_feed_costs_its_limit_not_its_size(tmp_path: Path) -> None:
    steps = {}
    for size in (1_000, 10_000):
        start = datetime(2020, 1, 1, tzinfo=UTC)
        writes = [
            EntryWrite(entry("src", f"k{n}", start + timedelta(minutes=n * 7919 % size)), "h", ("feed",))
            for n in range(size)
        ]
        with Store.open(tmp_path / str(size)) as store:
            with store.transaction():
                store.put_entries(writes)
            newest = store.feed_entries("feed", 20)
            assert [e.sort_time for e in newest] == sorted((e.sort_time for e in newest), reverse=True)
            assert newest[0].sort_time == start + timedelta(minutes=size - 1)
            steps[size] = sqlite_steps(store, functools.partial(store.feed_entries, "feed", 20))
    # Reading every routed entry to sort them took 10 times the steps for 10 times the entries.
    assert steps[10_000] < 2 * steps[1_000], steps


def test_atom_id_owners_name_the_entry_holding_each_id(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        with store.transaction():
            store.put_entries([EntryWrite(entry("a", "1", NOW, atom_id="urn:x"), "h", ())])
            store.put_entries([EntryWrite(entry("a", "2", NOW, atom_id="urn:y"), "h", ())])
        # An older store may hold one id twice: the entry seen first owns it.
        later = StoredEntry(
            "b", "9", "urn:x", NOW + timedelta(hours=1), NOW, entry("b", "9", NOW).data, ORIGIN
        )
        with store.transaction():
            store.put_entries([EntryWrite(later, "h", ())])
        assert store.atom_id_owners(["urn:x", "urn:y", "urn:none", "urn:x"]) == {
            "urn:x": ("a", "1"),
            "urn:y": ("a", "2"),
        }
        assert store.atom_id_owner("urn:y") == ("a", "2")
        assert store.atom_id_owner("urn:none") is None
        assert store.atom_id_owners([]) == {}
        many = [f"urn:{n}" for n in range(40_000)] + ["urn:y"]  # past SQLite's parameter limit
        assert store.atom_id_owners(many) == {"urn:y": ("a", "2")}


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"title": "lone surrogate \ud800"}, id="text that is not UTF-8"),
        pytest.param({"published": datetime(2026, 1, 1)}, id="a date without time zone"),
    ],
)
def test_an_entry_that_cannot_be_stored_leaves_its_neighbours_stored(
    tmp_path: Path, bad: dict[str, Any]
) -> None:
    good = entry("src", "good", NOW)
    broken = replace(good, key="bad", atom_id="urn:bad", data=replace(good.data, **bad))
    with Store.open(tmp_path) as store:
        with store.transaction():
            left_out = store.put_entries(
                [
                    EntryWrite(good, "h", ("feed",)),
                    EntryWrite(broken, "h", ("feed",)),
                    EntryWrite(entry("src", "also", NOW), "h", ("feed",)),
                ]
            )
        assert len(left_out) == 1 and left_out[0].startswith("bad: cannot be stored")
        assert sorted(e.key for e in store.feed_entries("feed", 10)) == ["also", "good"]


def test_an_unreadable_stored_entry_is_skipped_not_fatal(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        with store.transaction():
            store.put_entries([EntryWrite(entry("src", k, NOW), "h", ("feed",)) for k in ("a", "b", "c")])
            store.db.execute("UPDATE entries SET data = '{\"title\": 5' WHERE key = 'b'")
            store.db.execute("UPDATE entries SET data = '{\"unknown\": 1}' WHERE key = 'c'")
        assert [e.key for e in store.feed_entries("feed", 10)] == ["a"]
        assert [e.key for e in store.all_entries()] == ["a"]
        assert store.entry_count() == 3, "the rows stay stored"
