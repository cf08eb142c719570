"""How the models are written into the store's columns and read back. No SQL here."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, Protocol

from republisher.models import Category, Enclosure, EntryData, SourceMeta, SourceState


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def entry_to_json(entry: EntryData) -> str:
    return entry.as_json()


# The fields each model accepts. A stored row may lack the fields added since it was
# written (their defaults apply) or carry one a newer version added (ignored), so a
# store survives both an upgrade and going back to the previous version.
_ENTRY_FIELDS = frozenset(f.name for f in fields(EntryData))
_ORIGIN_FIELDS = frozenset(f.name for f in fields(SourceMeta))


def entry_from_json(text: str) -> EntryData:
    raw: dict[str, Any] = json.loads(text)
    raw = {name: value for name, value in raw.items() if name in _ENTRY_FIELDS}
    raw["categories"] = tuple(Category(**c) for c in raw["categories"])
    raw["published"] = dt(raw["published"])
    raw["updated"] = dt(raw["updated"])
    raw["enclosures"] = tuple(Enclosure(**e) for e in raw.get("enclosures") or ())
    return EntryData(**raw)


def origin_to_json(origin: SourceMeta) -> str:
    return json.dumps(asdict(origin), default=iso, ensure_ascii=False, sort_keys=True)


def origin_from_json(text: str) -> SourceMeta:
    raw: dict[str, Any] = json.loads(text)
    raw = {name: value for name, value in raw.items() if name in _ORIGIN_FIELDS}
    raw["updated"] = dt(raw["updated"])
    return SourceMeta(**raw)


def dropped_from_json(text: str | None) -> tuple[str, ...]:
    """The `dropped` column; anything but a JSON list of strings reads as nothing dropped,
    since the list is a report that the next parse rewrites, never data to keep."""
    try:
        lines = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(line) for line in lines) if isinstance(lines, list) else ()


SOURCE_COLUMNS = (
    "name, url, moved_to, etag, last_modified, body_hash, last_poll, last_status, "
    "last_error, consecutive_errors, next_due, not_before, gone, dropped"
)


def state_to_row(state: SourceState) -> tuple[Any, ...]:
    """The values of SOURCE_COLUMNS, in order."""
    return (
        state.name,
        state.url,
        state.moved_to,
        state.etag,
        state.last_modified,
        state.body_hash,
        iso(state.last_poll),
        state.last_status,
        state.last_error,
        state.consecutive_errors,
        iso(state.next_due),
        iso(state.not_before),
        int(state.gone),
        json.dumps(list(state.dropped), ensure_ascii=False),
    )


class Row(Protocol):
    """A row read by column name (sqlite3.Row)."""

    def __getitem__(self, column: str, /) -> Any: ...


def state_from_row(r: Row) -> SourceState:
    return SourceState(
        name=r["name"],
        url=r["url"],
        moved_to=r["moved_to"],
        etag=r["etag"],
        last_modified=r["last_modified"],
        body_hash=r["body_hash"],
        last_poll=dt(r["last_poll"]),
        last_status=r["last_status"],
        last_error=r["last_error"],
        consecutive_errors=r["consecutive_errors"],
        next_due=dt(r["next_due"]),
        not_before=dt(r["not_before"]),
        gone=bool(r["gone"]),
        dropped=dropped_from_json(r["dropped"]),
    )
