"""The SQLite store under state_dir. The only module that imports sqlite3.

Raw entries and routing results live in separate tables, so rerouting after a
rules change is a pure recomputation. Each source's poll is one transaction: a
crash loses at most the source being written, never a completed one. Every
SQLite failure leaves this module as a StoreError that names the file and says
what to do (a damaged file, a full disk), never as a bare sqlite3 error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from republisher.errors import StoreError
from republisher.models import SourceState, StoredEntry
from republisher.store import codec
from republisher.store.entries import EntryCache, EntryReads
from republisher.store.failures import reason as _reason
from republisher.store.feeds import FeedRecords, Ping
from republisher.store.schema import DB_NAME, MIGRATIONS, statements

__all__ = ["DB_NAME", "MIGRATIONS", "EntryCache", "EntryWrite", "Ping", "Store"]

log = logging.getLogger(__name__)

CHECKPOINT_PAGES = 8192  # 32 MB of 4 KB pages
# SQLite's page cache, in KB (SQLite's default is 2 MB): a cold poll's inserts land all over
# the route indexes, and a cache that holds their hot pages spares rereading them. Allocated
# only as pages are used. 16 MB: at 1,000 sources 32 MB was no faster (cold poll 14.2 s /
# 22.5 CPU s against 11.5 / 17.9 with 16 MB) and held 17 MB more at the cycle's peak.
CACHE_KB = 16_384
# The page cache while a publish reads (see Store.small_cache): its reads go through the
# route index once, so a large cache only holds memory at the publish's peak (30 MB).
READ_CACHE_KB = 2_048


@dataclass(frozen=True)
class EntryWrite:
    """A new or changed entry to store, with the feeds it is routed to."""

    entry: StoredEntry
    content_hash: str
    routes: tuple[str, ...]  # slugs of the feeds that take the entry
    stored_json: str = ""  # entry.data as codec.entry_to_json writes it, when already made


def _encodable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row, if SQLite can take every text in it (UTF-8: no lone surrogates)."""
    for value in row:
        if isinstance(value, str):
            value.encode()  # raises UnicodeEncodeError
    return row


class Store(FeedRecords, EntryReads):
    """Entries, routes and per-source polling state in one SQLite file.

    `with Store.open(state_dir) as store:` closes it at the end."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.db = connection
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """Open (creating and migrating as needed) the store in state_dir."""
        path = state_dir / DB_NAME
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            # Created readable by this user only: the store holds source URLs, which may
            # carry a password. SQLite gives its -wal and -shm files the same mode.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per source.
            db = sqlite3.connect(path, isolation_level=None, timeout=60)
        except OSError as e:
            raise StoreError(str(path), f"cannot open store: {e}") from e
        except sqlite3.Error as e:
            raise StoreError(str(path), _reason(e, "cannot open store")) from e
        db.row_factory = sqlite3.Row
        store = cls(db, path)
        try:
            # The first read of the file: a damaged one fails here, with its own message.
            store._run("PRAGMA journal_mode = WAL", doing="cannot open store")
            # In WAL mode NORMAL loses nothing when the process dies (kill -9); only a power
            # cut may lose the last commits, never corrupt the file. FULL would fsync every
            # source's commit, which made cold polls of many sources wait on the disk.
            store._run("PRAGMA synchronous = NORMAL")
            # Copy the log into the file every CHECKPOINT_PAGES pages rather than SQLite's 1000:
            # a cold poll of many sources writes tens of MB, and each copy waits on the disk.
            store._run(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
            store._run("PRAGMA foreign_keys = ON")
            store._run(f"PRAGMA cache_size = -{CACHE_KB}")
            store._migrate()
        except BaseException:
            db.close()
            raise
        return store

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error as e:
            raise StoreError(str(self.path), _reason(e, "cannot close the store")) from e

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        self.close()

    def _run(self, sql: str, params: Sequence[Any] = (), doing: str = "SQLite error") -> list[Any]:
        """Every statement goes through here (or _run_many), so that no sqlite3 error escapes."""
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StoreError(str(self.path), _reason(e, doing)) from e

    def _run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error as e:
            raise StoreError(str(self.path), _reason(e, "SQLite error")) from e

    def _migrate(self) -> None:
        version: int = self._run("PRAGMA user_version")[0][0]
        if version > len(MIGRATIONS):
            raise StoreError(str(self.path), f"schema version {version} is newer than this republisher")
        for number in range(version, len(MIGRATIONS)):
            doing = f"cannot upgrade the store to schema version {number + 1}"
            with self.transaction():
                for statement in statements(MIGRATIONS[number]):
                    self._run(statement, doing=doing)
                self._run(f"PRAGMA user_version = {number + 1}", doing=doing)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """`with store.snapshot():` the reads in the block see one state of the store, whatever
        other processes commit meanwhile (inside a transaction, that one's)."""
        if self.db.in_transaction:
            yield
            return
        self._run("BEGIN", doing="cannot start a read")
        try:
            yield
        finally:
            self.roll_back()  # nothing was written: ending the read is all it does

    @contextlib.contextmanager
    def small_cache(self) -> Iterator[None]:
        """`with store.small_cache():` SQLite keeps at most READ_CACHE_KB of pages in the
        block, and frees what a poll's writes cached beyond that before it starts."""
        self._run(f"PRAGMA cache_size = -{READ_CACHE_KB}")
        self._run("PRAGMA shrink_memory")
        try:
            yield
        finally:
            self._run(f"PRAGMA cache_size = -{CACHE_KB}")

    def transaction(self) -> _Transaction:
        """`with store.transaction():` commits on success, rolls back on error."""
        return _Transaction(self)

    def begin(self) -> None:
        """Start a transaction that `commit` or `roll_back` ends (see `transaction`)."""
        # IMMEDIATE takes the write lock now, so two polls queue instead of deadlocking.
        self._run("BEGIN IMMEDIATE", doing="cannot start a transaction")

    def commit(self) -> None:
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            self.roll_back()
            raise StoreError(str(self.path), _reason(e, "cannot commit")) from e

    def roll_back(self) -> None:
        # After some failures (a full disk, an I/O error) SQLite has already rolled the
        # transaction back itself; a second ROLLBACK would fail and hide the real error.
        if not self.db.in_transaction:
            return
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error as e:  # the error that brought us here says more
            log.warning("%s: cannot roll back: %s", self.path, e)

    # --- sources -------------------------------------------------------------

    def source_state(self, name: str) -> SourceState | None:
        rows = self._run("SELECT * FROM sources WHERE name = ?", (name,))
        return codec.state_from_row(rows[0]) if rows else None

    def source_states(self) -> dict[str, SourceState]:
        rows = self._run("SELECT * FROM sources ORDER BY name")
        return {row["name"]: codec.state_from_row(row) for row in rows}

    def put_source_state(self, state: SourceState) -> None:
        """Insert or replace a source's polling state (call inside a transaction)."""
        values = codec.state_to_row(state)
        self._run(
            f"INSERT OR REPLACE INTO sources ({codec.SOURCE_COLUMNS}) VALUES ({', '.join('?' * len(values))})",
            values,
        )

    # --- entries and routes --------------------------------------------------

    def content_hashes(self, source: str) -> dict[str, tuple[str, datetime]]:
        """key -> (content hash, first seen) of every stored entry of a source."""
        rows = self._run("SELECT key, content_hash, first_seen FROM entries WHERE source = ?", (source,))
        return {key: (h, datetime.fromisoformat(seen)) for key, h, seen in rows}

    def put_entries(self, writes: Iterable[EntryWrite]) -> list[str]:
        """Store new or changed entries and their routes (call inside a transaction).

        A write that cannot be encoded (a naive date, text that is not UTF-8) is left out
        and the others are stored: returns one line per write left out, naming it and why.
        Of two writes of one entry, the later is stored."""
        origins: dict[int, str] = {}  # the entries of one feed share one SourceMeta
        entry_rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        routes: dict[tuple[str, str], tuple[str, ...]] = {}
        rejected: list[str] = []
        for w in writes:
            e = w.entry
            try:
                origin = origins.get(id(e.origin))
                if origin is None:
                    origin = origins[id(e.origin)] = codec.origin_to_json(e.origin)
                row = (
                    e.source,
                    e.key,
                    e.atom_id,
                    w.content_hash,
                    e.first_seen.isoformat(),
                    e.changed_at.isoformat(),
                    e.sort_time.isoformat(),
                    w.stored_json or codec.entry_to_json(e.data),
                    origin,
                    e.sanitized_by,
                )
                entry_rows[(e.source, e.key)] = _encodable(row)
            except (ValueError, TypeError, OverflowError) as error:
                rejected.append(f"{e.key}: cannot be stored ({error})")
                log.warning("%s: entry %s of %s cannot be stored: %s", self.path, e.key, e.source, error)
                continue
            routes[(e.source, e.key)] = tuple(sorted(set(w.routes)))
        # Only an entry stored before has routes to forget, and its feeds must be published
        # again, as must its new ones: a new entry (most of a poll's) costs no lookups.
        stored = sorted(self._stored_keys(entry_rows))
        self._run_many(
            "INSERT OR IGNORE INTO changed_feeds (slug) SELECT slug FROM routes WHERE source = ? AND key = ?",
            stored,
        )
        self._run_many("DELETE FROM routes WHERE source = ? AND key = ?", stored)
        # An upsert changes a stored row in place, where INSERT OR REPLACE deleted it (and
        # its index entries) first. In key order: the b-tree pages are written in turn.
        self._run_many(
            """INSERT INTO entries (source, key, atom_id, content_hash, first_seen, changed_at,
                   sort_time, data, origin, sanitized_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (source, key) DO UPDATE SET atom_id = excluded.atom_id,
                   content_hash = excluded.content_hash, first_seen = excluded.first_seen,
                   changed_at = excluded.changed_at, sort_time = excluded.sort_time,
                   data = excluded.data, origin = excluded.origin,
                   sanitized_by = excluded.sanitized_by""",
            [entry_rows[k] for k in sorted(entry_rows)],
        )
        self._run_many(
            "INSERT INTO routes (source, key, slug, sort_time) VALUES (?, ?, ?, ?)",
            [(*k, slug, entry_rows[k][6]) for k in sorted(routes) for slug in routes[k]],
        )
        self._mark_changed({slug for slugs in routes.values() for slug in slugs})
        return rejected

    def _stored_keys(self, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (source, key) pairs that name a stored entry: one query per source."""
        by_source: dict[str, list[str]] = {}
        for source, key in keys:
            by_source.setdefault(source, []).append(key)
        stored: list[tuple[str, str]] = []
        for source, wanted in by_source.items():
            rows = self._run(
                "SELECT key FROM entries WHERE source = ? AND key IN (SELECT value FROM json_each(?))",
                (source, json.dumps(wanted)),
            )
            stored += [(source, key) for (key,) in rows]
        return stored

    def set_routes(self, source: str, key: str, routes: Iterable[str]) -> None:
        """Replace an entry's routing results (call inside a transaction). Routes that stay
        the same are left alone, so that only the feeds an entry joins or leaves change."""
        new = set(routes)
        old = self.routes_of(source, key)
        if new == old:
            return
        self._run("DELETE FROM routes WHERE source = ? AND key = ?", (source, key))
        self._run_many(
            "INSERT INTO routes (source, key, slug, sort_time) "
            "SELECT source, key, ?, sort_time FROM entries WHERE source = ? AND key = ?",
            [(slug, source, key) for slug in sorted(new)],
        )
        self._mark_changed(old ^ new)

    def _mark_changed(self, slugs: Iterable[str]) -> None:
        """Note that these feeds' routed entries changed (see changed_feeds)."""
        self._run_many("INSERT OR IGNORE INTO changed_feeds (slug) VALUES (?)", [(s,) for s in sorted(slugs)])

    def all_routes(self) -> dict[tuple[str, str], set[str]]:
        """(source, key) -> slugs of the feeds the entry is routed to."""
        routes: dict[tuple[str, str], set[str]] = {}
        for source, key, slug in self._run("SELECT source, key, slug FROM routes"):
            routes.setdefault((source, key), set()).add(slug)
        return routes

    def atom_id_owner(self, atom_id: str) -> tuple[str, str] | None:
        """(source, key) of the stored entry that holds an Atom id, if one does."""
        return self.atom_id_owners([atom_id]).get(atom_id)

    def atom_id_owners(self, atom_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """atom id -> (source, key) of the stored entry holding it, for the ids that are held.

        Where several entries hold one id (stores written before ids were checked), the
        entry first seen owns it."""
        wanted = json.dumps(sorted(set(atom_ids)))  # one parameter, however many ids
        rows = self._run(
            "SELECT atom_id, source, key FROM entries WHERE atom_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY first_seen, source, key",
            (wanted,),
        )
        owners: dict[str, tuple[str, str]] = {}
        for atom_id, source, key in rows:
            owners.setdefault(atom_id, (source, key))
        return owners

    def routes_of(self, source: str, key: str) -> set[str]:
        """Slugs of the derived feeds the entry is routed to."""
        rows = self._run("SELECT slug FROM routes WHERE source = ? AND key = ?", (source, key))
        return {slug for (slug,) in rows}

    def routed_counts(self, slugs: Iterable[str]) -> dict[str, int]:
        """slug -> the number of entries routed to it, for those of these feeds that have any."""
        rows = self._run(
            "SELECT slug, count(*) FROM routes WHERE slug IN (SELECT value FROM json_each(?)) GROUP BY slug",
            (json.dumps(sorted(set(slugs))),),
        )
        return {slug: n for slug, n in rows}

    def feed_counts(self) -> dict[str, tuple[int, datetime | None]]:
        """slug -> (entries routed, newest entry's sort time)."""
        rows = self._run("SELECT slug, count(*), max(sort_time) FROM routes GROUP BY slug")
        return {slug: (n, codec.dt(newest)) for slug, n, newest in rows}

    def entry_count(self) -> int:
        count: int = self._run("SELECT count(*) FROM entries")[0][0]
        return count


class _Transaction:
    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        self.store.begin()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.store.roll_back()  # and the error in the block goes on, unmasked
            return
        self.store.commit()
