"""The SQLite store under state_dir. The only module that imports sqlite3.

Raw entries and routing results live in separate tables, so rerouting after a
rules change is a pure recomputation. Each source's poll is one transaction: a
crash loses at most the source being written, never a completed one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from republisher.errors import StoreError
from republisher.models import Category, EntryData, SourceMeta, SourceState, StoredEntry

DB_NAME = "republisher.sqlite3"

# Numbered migrations: MIGRATIONS[i] takes the schema from user_version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,               -- the configured URL
        moved_to TEXT,                   -- set by a permanent redirect
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,                  -- sha256 of the last body parsed
        last_poll TEXT,
        last_status INTEGER,
        last_error TEXT,
        consecutive_errors INTEGER NOT NULL DEFAULT 0,
        next_due TEXT,
        gone INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE entries (
        source TEXT NOT NULL,
        key TEXT NOT NULL,               -- guid, link or content hash (identity.entry_key)
        atom_id TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        changed_at TEXT NOT NULL,        -- when this version was stored
        sort_time TEXT NOT NULL,         -- the entry's date, never after first_seen
        data TEXT NOT NULL,              -- EntryData as JSON
        origin TEXT NOT NULL,            -- SourceMeta as JSON, for atom:source
        PRIMARY KEY (source, key)
    );
    CREATE INDEX entries_by_atom_id ON entries (atom_id);
    CREATE TABLE routes (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        slug TEXT NOT NULL,
        hits TEXT NOT NULL,              -- dropped by migration 5
        PRIMARY KEY (slug, source, key),
        FOREIGN KEY (source, key) REFERENCES entries (source, key) ON DELETE CASCADE
    );
    CREATE TABLE feeds (
        slug TEXT PRIMARY KEY,
        first_written TEXT NOT NULL      -- `updated` of a feed with no entries yet
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE sources ADD COLUMN not_before TEXT;  -- the server's Retry-After
    """,
    """
    CREATE INDEX routes_by_entry ON routes (source, key);  -- rerouting and replacing one entry
    """,
    """
    CREATE TABLE websub_pending (      -- hubs still to be told that a derived feed changed
        hub TEXT NOT NULL,
        topic TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try TEXT NOT NULL,
        last_error TEXT,
        PRIMARY KEY (hub, topic)
    )
    """,
    """
    ALTER TABLE routes DROP COLUMN hits;  -- never read: `explain` recomputes why an entry matched
    """,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _entry_to_json(entry: EntryData) -> str:
    return json.dumps(entry.as_dict(), default=_iso, ensure_ascii=False, sort_keys=True)


def _entry_from_json(text: str) -> EntryData:
    raw: dict[str, Any] = json.loads(text)
    raw["categories"] = tuple(Category(**c) for c in raw["categories"])
    raw["published"] = _dt(raw["published"])
    raw["updated"] = _dt(raw["updated"])
    return EntryData(**raw)


def _origin_to_json(origin: SourceMeta) -> str:
    return json.dumps(asdict(origin), default=_iso, ensure_ascii=False, sort_keys=True)


def _origin_from_json(text: str) -> SourceMeta:
    raw: dict[str, Any] = json.loads(text)
    raw["updated"] = _dt(raw["updated"])
    return SourceMeta(**raw)


@dataclass(frozen=True)
class Ping:
    """A WebSub publish ping waiting to be sent."""

    hub: str
    topic: str
    attempts: int  # failed so far
    due: str  # next_try as stored: identifies this queueing of the ping


@dataclass(frozen=True)
class EntryWrite:
    """A new or changed entry to store, with the feeds it is routed to."""

    entry: StoredEntry
    content_hash: str
    routes: tuple[str, ...]  # slugs of the feeds that take the entry


def _route_rows(source: str, key: str, routes: Iterable[str]) -> list[tuple[str, str, str]]:
    return [(source, key, slug) for slug in sorted(set(routes))]


class Store:
    """Entries, routes and per-source polling state in one SQLite file."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """Open (creating and migrating as needed) the store in state_dir."""
        path = state_dir / DB_NAME
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per source.
            db = sqlite3.connect(path, isolation_level=None, timeout=60)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL loses nothing when the process dies (kill -9); only a power
            # cut may lose the last commits, never corrupt the file. FULL would fsync every
            # source's commit, which made cold polls of many sources wait on the disk.
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            store = cls(db, path)
            store._migrate()
        except (sqlite3.Error, OSError) as e:
            raise StoreError(str(path), f"cannot open store: {e}") from e
        return store

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version: int = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(str(self.path), f"schema version {version} is newer than this republisher")
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def transaction(self) -> _Transaction:
        """`with store.transaction():` commits on success, rolls back on error."""
        return _Transaction(self)

    # --- sources -------------------------------------------------------------

    def source_state(self, name: str) -> SourceState | None:
        row = self.db.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
        return self._state(row) if row else None

    def source_states(self) -> dict[str, SourceState]:
        rows = self.db.execute("SELECT * FROM sources ORDER BY name").fetchall()
        return {row[0]: self._state(row) for row in rows}

    def _state(self, r: sqlite3.Row) -> SourceState:
        return SourceState(
            name=r["name"],
            url=r["url"],
            moved_to=r["moved_to"],
            etag=r["etag"],
            last_modified=r["last_modified"],
            body_hash=r["body_hash"],
            last_poll=_dt(r["last_poll"]),
            last_status=r["last_status"],
            last_error=r["last_error"],
            consecutive_errors=r["consecutive_errors"],
            next_due=_dt(r["next_due"]),
            not_before=_dt(r["not_before"]),
            gone=bool(r["gone"]),
        )

    def put_source_state(self, state: SourceState) -> None:
        """Insert or replace a source's polling state (call inside a transaction)."""
        self.db.execute(
            """INSERT OR REPLACE INTO sources (name, url, moved_to, etag, last_modified, body_hash,
                   last_poll, last_status, last_error, consecutive_errors, next_due, not_before, gone)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                state.name,
                state.url,
                state.moved_to,
                state.etag,
                state.last_modified,
                state.body_hash,
                _iso(state.last_poll),
                state.last_status,
                state.last_error,
                state.consecutive_errors,
                _iso(state.next_due),
                _iso(state.not_before),
                int(state.gone),
            ),
        )

    # --- entries and routes --------------------------------------------------

    def content_hashes(self, source: str) -> dict[str, tuple[str, datetime]]:
        """key -> (content hash, first seen) of every stored entry of a source."""
        rows = self.db.execute(
            "SELECT key, content_hash, first_seen FROM entries WHERE source = ?", (source,)
        )
        return {key: (h, datetime.fromisoformat(seen)) for key, h, seen in rows}

    def put_entries(self, writes: Iterable[EntryWrite]) -> None:
        """Store new or changed entries and their routes (call inside a transaction)."""
        origins: dict[int, str] = {}  # the entries of one feed share one SourceMeta
        entry_rows: list[tuple[Any, ...]] = []
        route_rows: list[tuple[str, str, str]] = []
        for w in writes:
            e = w.entry
            origin = origins.get(id(e.origin))
            if origin is None:
                origin = origins[id(e.origin)] = _origin_to_json(e.origin)
            entry_rows.append(
                (
                    e.source,
                    e.key,
                    e.atom_id,
                    w.content_hash,
                    _iso(e.first_seen),
                    _iso(e.changed_at),
                    _iso(e.sort_time),
                    _entry_to_json(e.data),
                    origin,
                )
            )
            route_rows.extend(_route_rows(e.source, e.key, w.routes))
        self.db.executemany(
            "DELETE FROM routes WHERE source = ? AND key = ?", [(row[0], row[1]) for row in entry_rows]
        )
        self.db.executemany(
            """INSERT OR REPLACE INTO entries (source, key, atom_id, content_hash, first_seen,
                   changed_at, sort_time, data, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            entry_rows,
        )
        self.db.executemany("INSERT INTO routes (source, key, slug) VALUES (?, ?, ?)", route_rows)

    def set_routes(self, source: str, key: str, routes: Iterable[str]) -> None:
        """Replace an entry's routing results (call inside a transaction)."""
        self.db.execute("DELETE FROM routes WHERE source = ? AND key = ?", (source, key))
        self.db.executemany(
            "INSERT INTO routes (source, key, slug) VALUES (?, ?, ?)",
            _route_rows(source, key, routes),
        )

    def all_routes(self) -> dict[tuple[str, str], set[str]]:
        """(source, key) -> slugs of the feeds the entry is routed to."""
        routes: dict[tuple[str, str], set[str]] = {}
        for source, key, slug in self.db.execute("SELECT source, key, slug FROM routes"):
            routes.setdefault((source, key), set()).add(slug)
        return routes

    def find_by_title(self, fragment: str) -> list[StoredEntry]:
        """Entries whose title contains the fragment, ignoring case."""
        pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._entries("WHERE json_extract(e.data, '$.title') LIKE ? ESCAPE '\\'", (pattern,))

    def routes_of(self, source: str, key: str) -> set[str]:
        """Slugs of the derived feeds the entry is routed to."""
        rows = self.db.execute("SELECT slug FROM routes WHERE source = ? AND key = ?", (source, key))
        return {slug for (slug,) in rows}

    def _entries(self, where: str, params: tuple[Any, ...]) -> list[StoredEntry]:
        rows = self.db.execute(
            "SELECT e.source, e.key, e.atom_id, e.first_seen, e.changed_at, e.data, e.origin "
            f"FROM entries e {where}",
            params,
        )
        return [
            StoredEntry(
                source=source,
                key=key,
                atom_id=atom_id,
                first_seen=datetime.fromisoformat(first_seen),
                changed_at=datetime.fromisoformat(changed_at),
                data=_entry_from_json(data),
                origin=_origin_from_json(origin),
            )
            for source, key, atom_id, first_seen, changed_at, data, origin in rows
        ]

    def feed_entries(self, slug: str, limit: int, since: datetime | None = None) -> list[StoredEntry]:
        """The newest `limit` entries routed to a derived feed (dated `since` or later), newest first."""
        return self._entries(
            "JOIN routes r ON r.source = e.source AND r.key = e.key WHERE r.slug = ? AND e.sort_time >= ? "
            "ORDER BY e.sort_time DESC, e.atom_id LIMIT ?",
            (slug, _iso(since) or "", limit),
        )

    def all_entries(self) -> list[StoredEntry]:
        """Every stored entry (for rerouting)."""
        return self._entries("ORDER BY e.source, e.key", ())

    def find_entries(self, id_or_link: str) -> list[StoredEntry]:
        """Entries whose atom id, guid or link is the given string."""
        return self._entries(
            "WHERE e.atom_id = ? OR json_extract(e.data, '$.guid') = ? OR json_extract(e.data, '$.link') = ?",
            (id_or_link, id_or_link, id_or_link),
        )

    def feed_counts(self) -> dict[str, tuple[int, datetime | None]]:
        """slug -> (entries routed, newest entry's sort time)."""
        rows = self.db.execute(
            "SELECT r.slug, count(*), max(e.sort_time) FROM routes r "
            "JOIN entries e ON r.source = e.source AND r.key = e.key GROUP BY r.slug"
        )
        return {slug: (n, _dt(newest)) for slug, n, newest in rows}

    def entry_count(self) -> int:
        count: int = self.db.execute("SELECT count(*) FROM entries").fetchone()[0]
        return count

    # --- derived feeds and metadata -------------------------------------------

    def first_written(self, slug: str, now: datetime) -> datetime:
        """When a derived feed was first written, recording `now` the first time."""
        self.db.execute("INSERT OR IGNORE INTO feeds (slug, first_written) VALUES (?, ?)", (slug, _iso(now)))
        row = self.db.execute("SELECT first_written FROM feeds WHERE slug = ?", (slug,)).fetchone()
        return datetime.fromisoformat(row[0])

    def known_feeds(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT slug FROM feeds")}

    def forget_feed(self, slug: str) -> None:
        self.db.execute("DELETE FROM feeds WHERE slug = ?", (slug,))
        self.db.execute("DELETE FROM routes WHERE slug = ?", (slug,))

    def queue_pings(self, hubs: Iterable[str], topics: Iterable[str], now: datetime) -> None:
        """Note that each hub must hear of each topic; a newer change restarts the retries."""
        rows = [(hub, topic, _iso(now)) for hub in hubs for topic in topics]
        self.db.executemany(
            "INSERT OR REPLACE INTO websub_pending (hub, topic, attempts, next_try) VALUES (?, ?, 0, ?)", rows
        )

    def due_pings(self, now: datetime) -> list[Ping]:
        """The pings due now."""
        rows = self.db.execute(
            "SELECT hub, topic, attempts, next_try FROM websub_pending WHERE next_try <= ? ORDER BY next_try",
            (_iso(now),),
        )
        return [Ping(hub, topic, attempts, due) for hub, topic, attempts, due in rows]

    def ping_done(self, ping: Ping) -> None:
        """Forget a ping that was sent, unless a newer change queued it again meanwhile."""
        self.db.execute(
            "DELETE FROM websub_pending WHERE hub = ? AND topic = ? AND next_try = ? AND attempts = ?",
            (ping.hub, ping.topic, ping.due, ping.attempts),
        )

    def ping_failed(self, ping: Ping, next_try: datetime | None, error: str) -> None:
        """Record a failed ping; with no next_try it is given up. A ping queued again
        meanwhile (a newer change) is left as it is."""
        if next_try is None:
            self.ping_done(ping)
            return
        self.db.execute(
            "UPDATE websub_pending SET attempts = ?, next_try = ?, last_error = ? "
            "WHERE hub = ? AND topic = ? AND next_try = ? AND attempts = ?",
            (ping.attempts + 1, _iso(next_try), error, ping.hub, ping.topic, ping.due, ping.attempts),
        )

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


class _Transaction:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        try:
            # IMMEDIATE takes the write lock now, so two polls queue instead of deadlocking.
            self.store.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(str(self.store.path), f"cannot start a transaction: {e}") from e

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        try:
            self.store.db.execute("COMMIT" if kind is None else "ROLLBACK")
        except sqlite3.Error as e:
            if self.store.db.in_transaction:  # a failed COMMIT leaves it open: end it
                self.store.db.execute("ROLLBACK")
            raise StoreError(str(self.store.path), f"cannot commit: {e}") from e
