"""Plain frozen dataclasses passed between the steps of the pipeline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Category:
    term: str
    scheme: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Enclosure:
    """A file an entry links to (RSS enclosure, Atom rel="enclosure", Media RSS, JSON Feed
    attachment or image): an absolute http(s) URL, a MIME type such as image/jpeg when
    known, and a size in bytes when the source gave a usable one."""

    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class SourceMeta:
    """What an entry's atom:source says about the feed it came from.

    Fields added later have defaults, so origins stored by an older version still load.
    """

    title: str
    id: str
    self_url: str  # the URL polled
    link: str | None
    updated: datetime | None
    author: str | None = None  # the feed's own author: the entries' author when they name none
    own_self: str | None = None  # the document's own rel="self" link (JSON Feed: feed_url)


@dataclass(frozen=True)
class EntryData:
    """One item as the source gave it, already sanitized and with absolute URIs."""

    guid: str | None
    title: str
    link: str | None
    summary: str | None  # sanitized HTML
    content: str | None  # sanitized HTML
    author: str | None
    categories: tuple[Category, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    enclosures: tuple[Enclosure, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Like dataclasses.asdict, without its deep copies (it is on the hot path).

        A field added later is left out while empty: this dict is what the content hash
        covers, so an entry without enclosures hashes as it did before they existed."""
        fields: dict[str, Any] = {
            "guid": self.guid,
            "title": self.title,
            "link": self.link,
            "summary": self.summary,
            "content": self.content,
            "author": self.author,
            "categories": [{"term": c.term, "scheme": c.scheme, "label": c.label} for c in self.categories],
            "published": self.published,
            "updated": self.updated,
        }
        if self.enclosures:
            fields["enclosures"] = [
                {"url": e.url, "type": e.type, "length": e.length} for e in self.enclosures
            ]
        return fields

    def as_json(self) -> str:
        """The entry as the store keeps it (store/codec.py reads it back): made where the
        entry is parsed, in the worker processes, not by the one thread that writes. The
        content hash is this text's digest (identity.content_hash), so one encoding
        serves both."""
        return _ENTRY_ENCODER.encode(self.as_dict())


# One encoder for every entry: json.dumps would build one per call (a poll stores thousands).
# Dates as str() writes them ("2026-12-01 12:00:00+00:00"; fromisoformat reads them, and the
# "T" form of older rows): what the content hash has always covered.
_ENTRY_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class FeedData:
    """A parsed source feed."""

    meta: SourceMeta
    entries: tuple[EntryData, ...]
    warning: str | None = None  # e.g. "truncated XML: kept 12 entries"
    dropped: tuple[str, ...] = ()  # one line per item left out, naming it and why
    # markup.sanitizer_id() of the sanitizer that cleaned the entries' HTML, when the parser
    # did ("" for a feed made any other way: its HTML is cleaned at publish).
    sanitized_by: str = ""


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the store keeps it, with its stable identity and times."""

    source: str
    key: str
    atom_id: str
    first_seen: datetime
    changed_at: datetime  # when this version was stored
    data: EntryData
    origin: SourceMeta
    # markup.sanitizer_id() of the sanitizer that cleaned its HTML before it was stored, or
    # "" (an entry stored by an older version): a publish cleans it again unless it is the
    # sanitizer running now.
    sanitized_by: str = ""

    @property
    def sort_time(self) -> datetime:
        """The entry's date, never later than when we first saw it (no future dates)."""
        given = self.data.published or self.data.updated or self.first_seen
        return min(given, self.first_seen)

    @property
    def updated_time(self) -> datetime:
        """atom:updated: the source's date, never later than this version's arrival."""
        given = self.data.updated or self.data.published or self.first_seen
        return min(given, self.changed_at)


@dataclass(frozen=True)
class FetchResult:
    """What one fetch of a source produced."""

    url: str  # the URL finally read
    status: int  # HTTP status; 200 for files
    body: bytes | None  # None when not modified
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    moved_to: str | None = None  # set when every redirect hop was permanent (301/308)
    max_age: float | None = None  # Cache-Control max-age, seconds


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about a source between polls."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_poll: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    consecutive_errors: int = 0
    next_due: datetime | None = None
    not_before: datetime | None = None  # the server's Retry-After: even --force waits
    gone: bool = False
    moved_to: str | None = None
    dropped: tuple[str, ...] = ()  # items of the last parsed document left out, and why


@dataclass(frozen=True)
class PreparedEntry:
    """An entry with what the store needs: its key, change hash, routes and Atom id."""

    data: EntryData
    key: str
    content_hash: str
    routes: tuple[str, ...]  # slugs of the derived feeds that take it
    atom_id: str  # identity.atom_id: the id it asks for (the store may give it its own)
    stored_json: str = ""  # data.as_json(), made in the worker ("": the store makes it)


@dataclass(frozen=True)
class PreparedFeed:
    """A parsed source feed whose entries are ready to store."""

    meta: SourceMeta
    entries: tuple[PreparedEntry, ...]
    warning: str | None = None
    dropped: tuple[str, ...] = ()  # one line per item left out, naming it and why
    sanitized_by: str = ""  # FeedData.sanitized_by
