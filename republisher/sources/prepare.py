"""Per-entry work done beside parsing, in the worker processes: identity, change hash, routes.

Pure: the same feed and rules always give the same result. Running it in the parse
workers spreads it over every core instead of leaving it to the thread that writes the store.
"""

from __future__ import annotations

from republisher.models import EntryData, FeedData, PreparedEntry, PreparedFeed
from republisher.routing.match import Item
from republisher.routing.router import Router
from republisher.sources import identity


def routes_of(router: Router, data: EntryData, source: str) -> tuple[str, ...]:
    """Slugs of the derived feeds that take the entry (`explain` recomputes why)."""
    return tuple(router.route(Item.from_entry(data, source)))


def prepare_feed(feed: FeedData, source: str, router: Router) -> PreparedFeed:
    """Key, hash and route every entry; a feed listing an item twice keeps the first (newest).

    An entry that fails any of these is dropped and named in `dropped`; the others go on.
    """
    entries: list[PreparedEntry] = []
    dropped = list(feed.dropped)
    seen: set[str] = set()
    for data in feed.entries:
        try:
            key = identity.entry_key(data)
            if key in seen:
                continue
            stored_json = data.as_json()
            prepared = PreparedEntry(
                data,
                key,
                identity.json_hash(stored_json),
                routes_of(router, data, source),
                identity.atom_id(source, data, key),
                stored_json,
            )
        except Exception as e:  # isolates one entry: its neighbours are still stored
            reason = f"cannot be keyed or routed ({identity.describe_error(e)})"
            dropped.append(identity.dropped_item((data.title, data.guid, data.link), reason))
            continue
        seen.add(key)
        entries.append(prepared)
    return PreparedFeed(
        meta=feed.meta,
        entries=tuple(entries),
        warning=feed.warning,
        dropped=tuple(dropped),
        sanitized_by=feed.sanitized_by,
    )
