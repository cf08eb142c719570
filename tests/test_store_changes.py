"""The store notes which derived feeds' entries changed, so that a publish renders only
those; and a publish's reads decode each stored entry once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.store.schema import MIGRATIONS
from republisher.store.store import EntryCache, EntryWrite, Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORIGIN = SourceMeta("S", "https://s.example/", "https://s.example/rss", None, None)


def entry(key: str, title: str = "T", source: str = "src") -> StoredEntry:
    data = EntryData(guid=key, title=title, link=None, summary="<p>x</p>", content=None, author=None)
    return StoredEntry(source, key, f"https://s.example/{key}", NOW, NOW, data, ORIGIN)


def put(store: Store, *writes: tuple[StoredEntry, tuple[str, ...]]) -> None:
    with store.transaction():
        store.put_entries(EntryWrite(e, f"hash-{e.data.title}", routes) for e, routes in writes)


def changes_seen(store: Store) -> set[str]:
    """The changed feeds, which a publish then records as published."""
    changed = store.changed_feeds()
    with store.transaction():
        store.published({}, changed)
    return changed


def test_new_entries_mark_the_feeds_they_join(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert store.changed_feeds() == set()
        put(store, (entry("a"), ("one", "two")), (entry("b"), ()))
        assert changes_seen(store) == {"one", "two"}
        assert store.changed_feeds() == set()


def test_a_new_version_marks_the_feeds_it_leaves_and_joins(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        put(store, (entry("a"), ("one", "two")), (entry("b"), ("three",)))
        changes_seen(store)
        put(store, (entry("a", "T2"), ("two", "four")))
        assert changes_seen(store) == {"one", "two", "four"}


def test_rerouting_marks_only_the_feeds_an_entry_joins_or_leaves(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        put(store, (entry("a"), ("one", "two")), (entry("b"), ("two",)))
        changes_seen(store)
        with store.transaction():
            store.set_routes("src", "a", ["two", "three"])
            store.set_routes("src", "b", ["two"])  # unchanged: left alone
        assert changes_seen(store) == {"one", "three"}
        assert store.routes_of("src", "a") == {"two", "three"}
        assert store.routed_counts(["two"]) == {"two": 2}


def test_a_forgotten_feed_is_no_longer_changed(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        put(store, (entry("a"), ("one", "gone")))
        with store.transaction():
            store.forget_feed("gone")
        assert store.changed_feeds() == {"one"}


def test_records_are_kept_per_feed(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        with store.transaction():
            store.first_written_all(["one", "two"], NOW)
            store.published({"one": "record of one"}, set())
        assert store.published_records() == {"one": "record of one"}


def test_one_publish_decodes_each_entry_once(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        put(store, (entry("a"), ("one", "two")), (entry("b"), ("two",)))
        read = EntryCache()
        one = store.feed_entries("one", 10, read=read)
        two = store.feed_entries("two", 10, read=read)
        assert [e.key for e in two] == ["a", "b"] or [e.key for e in two] == ["b", "a"]
        shared = next(e for e in two if e.key == "a")
        assert shared is one[0]
        # A new version is read by the next publish's cache (none changes during one).
        put(store, (entry("a", "T2"), ("one",)))
        assert store.feed_entries("one", 10, read=EntryCache())[0].data.title == "T2"
        # Without a cache, each read decodes its own.
        assert store.feed_entries("one", 10)[0] is not store.feed_entries("one", 10)[0]


def test_routes_survive_the_upgrade_to_routes_keyed_by_entry(tmp_path: Path) -> None:
    version = len(MIGRATIONS) - 1  # routes with a rowid, no record of what was published
    db = sqlite3.connect(tmp_path / "republisher.sqlite3")
    for script in MIGRATIONS[:version]:
        db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    data = '{"guid": "a", "title": "T", "link": null, "summary": null, "content": null, "author": null, "categories": [], "published": null, "updated": null}'
    origin = '{"title": "S", "id": "i", "self_url": "u", "link": null, "updated": null}'
    db.execute(
        "INSERT INTO entries VALUES ('src', 'a', 'urn:a', 'h', ?, ?, ?, ?, ?)",
        (NOW.isoformat(), NOW.isoformat(), NOW.isoformat(), data, origin),
    )
    for slug in ("one", "two"):
        db.execute(
            "INSERT INTO routes (source, key, slug, sort_time) VALUES ('src', 'a', ?, ?)",
            (slug, NOW.isoformat()),
        )
    db.execute("INSERT INTO feeds (slug, first_written) VALUES ('one', ?)", (NOW.isoformat(),))
    db.commit()
    db.close()
    with Store.open(tmp_path) as store:
        assert store.routes_of("src", "a") == {"one", "two"}
        assert [e.key for e in store.feed_entries("two", 10)] == ["a"]
        assert store.published_records() == {}  # every feed renders once after the upgrade
        indexes = {row[1] for row in store.db.execute("PRAGMA index_list(routes)")}
        assert "routes_by_time" in indexes and "routes_by_entry" not in indexes
        put(store, (entry("a", "T2"), ("two",)))
        assert store.routes_of("src", "a") == {"two"}
        assert store.changed_feeds() == {"one", "two"}
