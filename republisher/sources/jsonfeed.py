"""Read JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) into the same FeedData
as RSS and Atom. feedparser does not read JSON Feed.

Sources are untrusted: a field of the wrong JSON type counts as absent, and an item
that still cannot be read is dropped and named in `dropped`, never its neighbours.
HTML goes through the same sanitizer as RSS and Atom content.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any

from republisher import enclosures
from republisher.errors import ParseError
from republisher.markup import sanitize, sanitizer_id
from republisher.models import Category, Enclosure, EntryData, FeedData, SourceMeta
from republisher.sources import identity
from republisher.text import clean, plausible_date, web_url

VERSION_PREFIX = "https://jsonfeed.org/version/1"
# Integers longer than this stay digit strings: int() refuses more than 4300 digits,
# which would fail the whole document for one absurd id.
_LONGEST_INT = 100


def looks_like_json_feed(body: bytes, content_type: str | None) -> bool:
    """JSON by its declared type, or by its first character when the type says nothing useful."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("application/feed+json", "application/json"):
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _int(digits: str) -> int | str:
    return int(digits) if len(digits) <= _LONGEST_INT else digits


def parse_json_feed(body: bytes, url: str) -> FeedData:
    """Parse a JSON Feed body fetched from url. Raises ParseError when it is not one."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 or UTF-32 byte order mark
        raise ParseError(url, "JSON Feed is not UTF-8 (it starts with a UTF-16/32 byte order mark)")
    try:
        # JSON Feed is UTF-8; a stray invalid byte loses that byte, not the whole document
        # (as in RSS and Atom).
        document = json.loads(body.decode("utf-8-sig", errors="ignore"), parse_int=_int)
    except ValueError as e:
        raise ParseError(url, f"not valid JSON: {e}") from e
    except RecursionError as e:
        raise ParseError(url, "JSON nested too deeply") from e
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(VERSION_PREFIX):
        raise ParseError(url, "JSON, but not a JSON Feed (no jsonfeed.org version)")
    own_self = web_url(_string(document.get("feed_url")), url)
    base = own_self or url
    home = web_url(_string(document.get("home_page_url")), base)
    meta = SourceMeta(
        title=clean(_string(document.get("title"))) or url,
        id=identity.source_id(_string(document.get("feed_url")), home, url),
        self_url=url,
        link=home,
        updated=None,
        author=_author(document),
        own_self=own_self,
    )
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError(url, "JSON Feed without an items list")
    entries: list[EntryData] = []
    dropped: list[str] = []
    for position, item in enumerate(items, 1):
        if not isinstance(item, dict):
            dropped.append(
                identity.dropped_item((), f"not a JSON object but {type(item).__name__}", position)
            )
            continue
        names = (item.get("title"), item.get("id"), item.get("url"))
        try:
            entry = _entry(item, base)
        except Exception as e:  # isolates one item: the rest of the document is kept
            dropped.append(
                identity.dropped_item(names, f"unreadable ({identity.describe_error(e)})", position)
            )
            continue
        if not identity.has_something_to_publish(entry):
            wrong = ", ".join(_wrong_types(item))
            reason = identity.NOTHING_TO_PUBLISH + (f"; of the wrong JSON type: {wrong}" if wrong else "")
            dropped.append(identity.dropped_item(names, reason, position))
            continue
        entries.append(entry)
    return FeedData(meta=meta, entries=tuple(entries), dropped=tuple(dropped), sanitized_by=sanitizer_id())


# The JSON type each text field of an item must have (JSON Feed 1.0 also allowed numeric ids).
_TEXT_FIELDS = {
    "id": (str, int),
    "title": (str,),
    "url": (str,),
    "external_url": (str,),
    "summary": (str,),
    "content_html": (str,),
    "content_text": (str,),
}


def _wrong_types(item: dict[str, Any]) -> list[str]:
    """The item's text fields present with another JSON type, e.g. 'title (list)'."""
    return [
        f"{name} ({type(item[name]).__name__})"
        for name, types in _TEXT_FIELDS.items()
        if name in item
        and item[name] is not None
        and (not isinstance(item[name], types) or isinstance(item[name], bool))
    ]


def _entry(item: dict[str, Any], base: str) -> EntryData:
    content_html = clean(_string(item.get("content_html")))
    content_text = clean(_string(item.get("content_text")))
    if content_html:
        content = clean(sanitize(content_html, base))
    elif content_text:
        content = html.escape(content_text, quote=False)
    else:
        content = None
    summary = clean(_string(item.get("summary")))  # plain text in JSON Feed
    identifier = item.get("id")
    tags = item.get("tags")
    return EntryData(
        # Version 1.0 allowed numeric ids; "123" and 123 are the same item.
        guid=clean(str(identifier))
        if isinstance(identifier, str | int) and not isinstance(identifier, bool)
        else None,
        title=clean(_string(item.get("title"))) or "",
        link=web_url(_string(item.get("url")), base) or web_url(_string(item.get("external_url")), base),
        summary=html.escape(summary, quote=False) if summary else None,
        content=content,
        author=_author(item),
        categories=tuple(
            Category(term=term)
            for tag in (tags if isinstance(tags, list) else ())
            if (term := clean(_string(tag)))
        ),
        published=_date(item.get("date_published")),
        updated=_date(item.get("date_modified")),
        enclosures=_enclosures(item, base),
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _author(item: dict[str, Any]) -> str | None:
    """The names in an item's or the feed's `authors` (1.1), else its `author` (1.0)."""
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item.get("author")]  # JSON Feed 1.0
    names = [clean(_string(a.get("name"))) for a in authors if isinstance(a, dict)]
    return ", ".join(n for n in names if n) or None


def _enclosures(item: dict[str, Any], base: str) -> tuple[Enclosure, ...]:
    """The item's `attachments`, then its main `image` and `banner_image`."""
    given: list[tuple[Any, Any, Any]] = []
    attachments = item.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else ():
        if isinstance(attachment, dict):
            given.append(
                (attachment.get("url"), attachment.get("mime_type"), attachment.get("size_in_bytes"))
            )
    given += [(item.get("image"), None, None), (item.get("banner_image"), None, None)]
    return enclosures.collected(given, base)


def _date(value: Any) -> datetime | None:
    """RFC 3339 as JSON Feed requires; anything unreadable or absurd is treated as absent."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return plausible_date(when)
