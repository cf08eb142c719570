"""`status`: what monitoring needs to know, as one document. Pure: built from the config,
the stored source states and feed counts, so the command only reads and prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from republisher.config import Config
from republisher.models import SourceState


def mask_password(url: str) -> str:
    """The URL with any password replaced by ***, so status output can be shared."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


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
) -> dict[str, Any]:
    """Every source and derived feed; `healthy` is false when any source fails or is gone."""
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
    healthy = all(s["state"] in ("ok", "new") for s in sources)
    return {"healthy": healthy, "sources": sources, "feeds": feeds}
