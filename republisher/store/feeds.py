"""The store's records of derived feeds, WebSub pings and metadata: a part of Store
(store.py), kept apart for size. Every statement goes through Store._run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from republisher.store import codec


@dataclass(frozen=True)
class Ping:
    """A WebSub publish ping waiting to be sent."""

    hub: str
    topic: str
    attempts: int  # failed so far
    due: str  # next_try as stored: identifies this queueing of the ping


class FeedRecords:
    """Store's methods about derived feeds, pings and metadata (Store provides _run)."""

    def _run(self, sql: str, params: Sequence[Any] = (), doing: str = "SQLite error") -> list[Any]:
        raise NotImplementedError

    def _run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def first_written_all(self, slugs: Iterable[str], now: datetime) -> dict[str, datetime]:
        """When each of these derived feeds was first written, recording `now` for those
        never written yet; two statements however many feeds there are."""
        wanted = sorted(set(slugs))
        self._run_many(
            "INSERT OR IGNORE INTO feeds (slug, first_written) VALUES (?, ?)",
            [(slug, codec.iso(now)) for slug in wanted],
        )
        rows = self._run(
            "SELECT slug, first_written FROM feeds WHERE slug IN (SELECT value FROM json_each(?))",
            (json.dumps(wanted),),
        )
        return {slug: datetime.fromisoformat(first) for slug, first in rows}

    def known_feeds(self) -> set[str]:
        return {row[0] for row in self._run("SELECT slug FROM feeds")}

    def forget_feed(self, slug: str) -> None:
        self._run("DELETE FROM feeds WHERE slug = ?", (slug,))
        self._run("DELETE FROM routes WHERE slug = ?", (slug,))
        self._run("DELETE FROM changed_feeds WHERE slug = ?", (slug,))

    def changed_feeds(self) -> set[str]:
        """The derived feeds whose routed entries changed since `published` last recorded them."""
        return {row[0] for row in self._run("SELECT slug FROM changed_feeds")}

    def published_records(self) -> dict[str, str]:
        """slug -> what `published` last recorded for the feed (opaque to the store)."""
        rows = self._run("SELECT slug, published FROM feeds WHERE published IS NOT NULL")
        return {slug: record for slug, record in rows}

    def published(self, records: dict[str, str], changes_seen: Iterable[str]) -> None:
        """Record what each feed was published from, and that the changes seen are published
        (call inside a transaction, once the files are written)."""
        self._run_many("UPDATE feeds SET published = ? WHERE slug = ?", [(r, s) for s, r in records.items()])
        self._run_many("DELETE FROM changed_feeds WHERE slug = ?", [(s,) for s in sorted(changes_seen)])

    def queue_pings(self, hubs: Iterable[str], topics: Iterable[str], now: datetime) -> None:
        """Note that each hub must hear of each topic; a newer change restarts the retries."""
        rows = [(hub, topic, codec.iso(now)) for hub in hubs for topic in topics]
        self._run_many(
            "INSERT OR REPLACE INTO websub_pending (hub, topic, attempts, next_try) VALUES (?, ?, 0, ?)", rows
        )

    def due_pings(self, now: datetime) -> list[Ping]:
        """The pings due now."""
        rows = self._run(
            "SELECT hub, topic, attempts, next_try FROM websub_pending WHERE next_try <= ? ORDER BY next_try",
            (codec.iso(now),),
        )
        return [Ping(hub, topic, attempts, due) for hub, topic, attempts, due in rows]

    def ping_done(self, ping: Ping) -> None:
        """Forget a ping that was sent, unless a newer change queued it again meanwhile."""
        self._run(
            "DELETE FROM websub_pending WHERE hub = ? AND topic = ? AND next_try = ? AND attempts = ?",
            (ping.hub, ping.topic, ping.due, ping.attempts),
        )

    def ping_failed(self, ping: Ping, next_try: datetime | None, error: str) -> None:
        """Record a failed ping; with no next_try it is given up. A ping queued again
        meanwhile (a newer change) is left as it is."""
        if next_try is None:
            self.ping_done(ping)
            return
        self._run(
            "UPDATE websub_pending SET attempts = ?, next_try = ?, last_error = ? "
            "WHERE hub = ? AND topic = ? AND next_try = ? AND attempts = ?",
            (ping.attempts + 1, codec.iso(next_try), error, ping.hub, ping.topic, ping.due, ping.attempts),
        )

    def get_meta(self, key: str) -> str | None:
        rows = self._run("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
