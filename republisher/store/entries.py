"""Reading stored entries back as models: a part of Store (store.py), kept apart for size.
Every statement goes through Store._run.

A publish reads the newest entries of every derived feed, and an entry is in several
feeds: with an EntryCache, each entry's columns are fetched and decoded once, and a
feed's newest entries are listed from the route index alone (see feeds_entries).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from republisher.models import SourceMeta, StoredEntry
from republisher.store import codec

log = logging.getLogger(__name__)

_ENTRY_COLUMNS = "e.source, e.key, e.atom_id, e.first_seen, e.changed_at, e.data, e.origin, e.sanitized_by"
# A feed's newest entries (slug, since, limit): routes_by_time yields the slug's routes newest
# first, so this reads about `limit` rows however many entries the feed ever had; atom_id,
# then source and key, only order entries of equal dates.
_NEWEST = (
    "JOIN routes r ON r.source = e.source AND r.key = e.key WHERE r.slug = ? AND r.sort_time >= ? "
    "ORDER BY r.sort_time DESC, e.atom_id, r.source DESC, r.key DESC LIMIT ?"
)


# Entries by (source, key), the pairs given as one JSON parameter, however many.
_WHERE_KEYS = (
    "WHERE (e.source, e.key) IN "
    "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"
)


# A feed's newest routes from routes_by_time alone (a covering index: no entry is read).
_NEWEST_ROUTES = (
    "SELECT sort_time, source, key FROM routes WHERE slug = ? AND sort_time >= ? "
    "ORDER BY sort_time DESC LIMIT ?"
)
# The first `n` routes of one date in _NEWEST's order (the ties at the limit): the join
# orders them by atom_id in SQLite, so however many entries share the date (a source whose
# items carry no date shares the poll's), at most `n` are fetched and decoded.
_TIES_AT = (
    "SELECT r.sort_time, r.source, r.key FROM routes r JOIN entries e ON e.source = r.source AND "
    "e.key = r.key WHERE r.slug = ? AND r.sort_time = ? ORDER BY e.atom_id, r.source DESC, r.key DESC LIMIT ?"
)


class EntryCache:
    """Entries already decoded, by (source, key): the `feeds_entries` calls given the same
    cache share one StoredEntry per entry. For the reads of one publish only, which holds
    the poll lock: no entry changes while it reads (a new cache reads the new version)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], StoredEntry] = {}
        self.origins: dict[str, SourceMeta] = {}


class EntryReads:
    """Store's methods that read entries (Store provides _run, snapshot and path)."""

    path: Path

    def _run(self, sql: str, params: Sequence[Any] = (), doing: str = "SQLite error") -> list[Any]:
        raise NotImplementedError

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def feed_entries(
        self, slug: str, limit: int, since: datetime | None = None, *, read: EntryCache | None = None
    ) -> list[StoredEntry]:
        """The newest `limit` entries routed to a derived feed (dated `since` or later), newest
        first. A publish reads each entry for each of its feeds: `read` decodes it once."""
        if read is None:
            return self._entries(_NEWEST, (slug, codec.iso(since) or "", limit))
        return self.feeds_entries([(slug, limit, since)], read)[0]

    def feeds_entries(
        self, feeds: Sequence[tuple[str, int, datetime | None]], read: EntryCache
    ) -> list[list[StoredEntry]]:
        """feed_entries of each (slug, limit, since), from one state of the store. Each feed's
        newest routes are listed first (route index only), then the entries not in `read`
        yet are fetched and decoded, all in one query: an entry in several feeds is read once."""
        with self.snapshot():
            listed = [
                self._newest_routes(slug, limit, codec.iso(since) or "") for slug, limit, since in feeds
            ]
            missing = {(source, key) for routes in listed for _, source, key in routes} - read.entries.keys()
            if missing:
                self._entries(_WHERE_KEYS, (json.dumps(sorted(missing)),), read)
        # An entry that cannot be read was logged and is left out, as _entries does.
        return [
            _newest(routes, limit, read.entries) for routes, (_, limit, _) in zip(listed, feeds, strict=True)
        ]

    def _newest_routes(self, slug: str, limit: int, since: str) -> list[tuple[str, str, str]]:
        """(sort_time, source, key) of the feed's `limit` newest routes, as _NEWEST picks
        them: the routes dated as the last of them are picked by atom_id, which routes lack."""
        rows = [tuple(row) for row in self._run(_NEWEST_ROUTES, (slug, since, limit))]
        if rows and len(rows) == limit:
            last = rows[-1][0]
            rows = [row for row in rows if row[0] != last]
            rows += [tuple(row) for row in self._run(_TIES_AT, (slug, last, limit - len(rows)))]
        return rows

    def all_entries(self) -> list[StoredEntry]:
        """Every stored entry (for rerouting)."""
        return self._entries("ORDER BY e.source, e.key", ())

    def find_entries(self, id_or_link: str) -> list[StoredEntry]:
        """Entries whose atom id, guid or link is the given string."""
        return self._entries(
            "WHERE e.atom_id = ? OR json_extract(e.data, '$.guid') = ? OR json_extract(e.data, '$.link') = ?",
            (id_or_link, id_or_link, id_or_link),
        )

    def find_by_link(self, matches: Callable[[str], bool]) -> list[StoredEntry]:
        """Entries whose link `matches` says yes to (reads every entry's link: for explain)."""
        rows = self._run("SELECT source, key, json_extract(data, '$.link') FROM entries")
        keys = sorted((source, key) for source, key, link in rows if isinstance(link, str) and matches(link))
        return self._entries(_WHERE_KEYS, (json.dumps(keys),)) if keys else []

    def find_by_title(self, fragment: str) -> list[StoredEntry]:
        """Entries whose title contains the fragment, ignoring case."""
        pattern = "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._entries("WHERE json_extract(e.data, '$.title') LIKE ? ESCAPE '\\'", (pattern,))

    def _entries(
        self, where: str, params: tuple[Any, ...], read: EntryCache | None = None
    ) -> list[StoredEntry]:
        """The entries the query selects, decoded; with `read`, each entry is decoded once
        and shared by every query given the same cache."""
        rows = self._run(f"SELECT {_ENTRY_COLUMNS} FROM entries e {where}", params)
        return list(self._decoded(rows, read))

    def _decoded(self, rows: Iterable[Sequence[Any]], read: EntryCache | None) -> Iterator[StoredEntry]:
        # A source's entries mostly share one origin.
        origins: dict[str, SourceMeta] = read.origins if read is not None else {}
        decoded: dict[tuple[str, str], StoredEntry] | None = read.entries if read is not None else None
        for source, key, atom_id, first_seen, changed_at, data, origin, sanitized_by in rows:
            known = decoded.get((source, key)) if decoded is not None else None
            if known is not None:
                yield known
                continue
            try:
                if origin not in origins:
                    origins[origin] = codec.origin_from_json(origin)
                entry = StoredEntry(
                    source=source,
                    key=key,
                    atom_id=atom_id,
                    first_seen=datetime.fromisoformat(first_seen),
                    changed_at=datetime.fromisoformat(changed_at),
                    data=codec.entry_from_json(data),
                    origin=origins[origin],
                    sanitized_by=sanitized_by,
                )
            except (ValueError, TypeError, KeyError) as e:
                # A row this version cannot read (written by an older one, or by hand) stays
                # stored, but must never stop a publish or a reroute.
                log.warning("%s: entry %s of %s cannot be read, skipped: %s", self.path, key, source, e)
                continue
            if decoded is not None:
                decoded[(source, key)] = entry
            yield entry


def _newest(
    routes: list[tuple[str, str, str]], limit: int, entries: dict[tuple[str, str], StoredEntry]
) -> list[StoredEntry]:
    """The `limit` newest of these routes' entries, in _NEWEST's order: newest first, then
    by atom_id, then by source and key backwards (SQLite compares text as UTF-8 bytes, which
    sort as Python's code points)."""
    found = [(sort_time, entry) for sort_time, source, key in routes if (entry := entries.get((source, key)))]
    if len({sort_time for sort_time, _ in found}) == len(found):  # no ties: already in order
        return [entry for _, entry in found[:limit]]
    # Stable sorts, the last key first: each keeps the order of the one before among ties.
    found.sort(key=lambda dated: (dated[1].source, dated[1].key), reverse=True)
    found.sort(key=lambda dated: dated[1].atom_id)
    found.sort(key=lambda dated: dated[0], reverse=True)
    return [entry for _, entry in found[:limit]]
