"""`status`: what monitoring needs to know, as one document. Pure: built from the config,
the stored source states and feed counts, so the command only reads and prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from republisher.config import Config
from republisher.models import SourceState
from republisher.text import counted


def mask_password(url: str) -> str:
    """The URL with any password and query (which often carries a token) replaced by ***,
    so status output can be shared."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if parts.query:
        parts = parts._replace(query="***")
    if password is not None:
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{netloc[1]}")
    return urlunsplit(parts)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def source_status(name: str, url: str, state: SourceState | None) -> dict[str, Any]:
    """One source's condition: new, ok, failing or gone, with its times and errors."""
    if state is None or state.url != url:
        condition = "new"
        state = SourceState(name=name, url=url)
    else:
        condition = "gone" if state.gone else "failing" if state.consecutive_errors else "ok"
    due = [t for t in (state.next_due, state.not_before) if t is not None]
    return {
        "name": name,
        "url": mask_password(url),
        "moved_to": mask_password(state.moved_to) if state.moved_to else None,
        "state": condition,
        "last_poll": _iso(state.last_poll),
        "last_status": state.last_status,
        "next_due": None if state.gone else _iso(max(due)) if due else None,
        "not_before": _iso(state.not_before),
        "consecutive_errors": state.consecutive_errors,
        "last_error": state.last_error,
        "gone": state.gone,
        "dropped_items": list(state.dropped),
    }


def status_document(
    config: Config,
    states: Mapping[str, SourceState],
    slugs: Sequence[str],
    counts: Mapping[str, tuple[int, datetime | None]],
    in_feed: Mapping[str, int],
    rules_error: str | None = None,
) -> dict[str, Any]:
    """Every source and derived feed; `healthy` is false when any source fails or is gone,
    or when a rule file is broken (`rules_error`: polls refuse to run until it is fixed)."""
    sources = [source_status(s.name, s.url, states.get(s.name)) for s in config.sources]
    feeds = [
        {
            "slug": slug,
            "routed_entries": counts.get(slug, (0, None))[0],
            "stories_in_feed": in_feed.get(slug, 0),
            "newest": _iso(counts.get(slug, (0, None))[1]),
        }
        for slug in slugs
    ]
    healthy = rules_error is None and all(s["state"] in ("ok", "new") for s in sources)
    return {"healthy": healthy, "rules_error": rules_error, "sources": sources, "feeds": feeds}


def format_status(document: dict[str, Any]) -> list[str]:
    """The status document as the lines `republisher status` prints: a table of sources,
    notes (URLs, errors, dropped items), a table of feeds. Times are UTC."""
    rows: list[tuple[str, ...]] = [("SOURCE", "HTTP", "LAST POLL (UTC)", "NEXT DUE (UTC)", "ERRORS", "STATE")]
    notes: list[str] = []
    for source in document["sources"]:
        name = source["name"]
        due = "never" if source["gone"] else "now" if source["state"] == "new" else _when(source["next_due"])
        state = {"gone": "GONE (410)", "failing": "FAILING"}.get(source["state"], source["state"])
        last = _when(source["last_poll"]) if source["last_poll"] else "never"
        errors = str(source["consecutive_errors"])
        # A file read has no HTTP status (the store records 200 for it).
        http = "file" if source["url"].lower().startswith("file:") else str(source["last_status"] or "-")
        rows.append((name, http, last, due, errors, state))
        notes.append(f"{name}: {source['url']}")
        if source["moved_to"]:
            notes.append(f"{name}: moved to {source['moved_to']}")
        if source["not_before"]:
            notes.append(f"{name}: server asked us to wait until {_when(source['not_before'])} UTC")
        if source["last_error"]:
            notes.append(f"{name}: last error: {source['last_error']}")
        if source["dropped_items"]:
            count = len(source["dropped_items"])
            notes.append(f"{name}: {counted(count, 'item', 'items')} of its last document dropped:")
            notes.extend(f"    {line}" for line in source["dropped_items"][:10])
    feed_rows: list[tuple[str, ...]] = [("FEED", "IN FEED", "ROUTED", "NEWEST (UTC)")]
    for feed in document["feeds"]:
        feed_rows.append(
            (feed["slug"], str(feed["stories_in_feed"]), str(feed["routed_entries"]), _when(feed["newest"]))
        )
    return [
        *table(rows),
        "",
        *notes,
        "",
        *table(feed_rows),
        "",
        "IN FEED: stories published now (retention applied, one per story carried by several",
        "sources); ROUTED: stored entries the feed's rule takes.",
    ]


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"
