"""Read JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) into the same FeedData
as RSS and Atom. feedparser does not read JSON Feed.

Pure mapping: the HTML sanitizer is passed in by `parse`, the one module that imports
feedparser, so both kinds of feed get the same sanitizing.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from republisher.errors import ParseError
from republisher.models import Category, EntryData, FeedData, SourceMeta
from republisher.sources.identity import is_absolute_iri
from republisher.text import clean, web_url

VERSION_PREFIX = "https://jsonfeed.org/version/1"
Sanitizer = Callable[[str, str], str]  # (html, base URL) -> safe HTML with absolute links


def looks_like_json_feed(body: bytes, content_type: str | None) -> bool:
    """JSON by its declared type, or by its first character when the type says nothing useful."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("application/feed+json", "application/json"):
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_json_feed(body: bytes, url: str, sanitize: Sanitizer) -> FeedData:
    """Parse a JSON Feed body fetched from url. Raises ParseError when it is not one."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ParseError(url, f"JSON Feed is not UTF-8: {e}") from e
    except ValueError as e:
        raise ParseError(url, f"not valid JSON: {e}") from e
    except RecursionError as e:
        raise ParseError(url, "JSON nested too deeply") from e
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(VERSION_PREFIX):
        raise ParseError(url, "JSON, but not a JSON Feed (no jsonfeed.org version)")
    base = _string(document.get("feed_url")) or url
    home = web_url(_string(document.get("home_page_url")), base)
    feed_id = _string(document.get("feed_url"))
    meta = SourceMeta(
        title=clean(_string(document.get("title"))) or url,
        id=feed_id if feed_id and is_absolute_iri(feed_id) else home or url,
        self_url=url,
        link=home,
        updated=None,
    )
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError(url, "JSON Feed without an items list")
    entries = tuple(_entry(item, base, sanitize) for item in items if isinstance(item, dict))
    return FeedData(meta=meta, entries=entries)


def _entry(item: dict[str, Any], base: str, sanitize: Sanitizer) -> EntryData:
    content_html = _string(item.get("content_html"))
    content_text = _string(item.get("content_text"))
    if content_html:
        content = clean(sanitize(content_html, base))
    elif content_text:
        content = clean(html.escape(content_text, quote=False))
    else:
        content = None
    summary = _string(item.get("summary"))
    identifier = item.get("id")
    return EntryData(
        # Version 1.0 allowed numeric ids; "123" and 123 are the same item.
        guid=clean(str(identifier)) if isinstance(identifier, str | int) else None,
        title=clean(_string(item.get("title"))) or "",
        link=web_url(_string(item.get("url")), base) or web_url(_string(item.get("external_url")), base),
        summary=clean(html.escape(summary, quote=False)) if summary else None,
        content=content,
        author=_author(item),
        categories=tuple(Category(term=t) for tag in item.get("tags") or [] if (t := clean(_string(tag)))),
        published=_date(item.get("date_published")),
        updated=_date(item.get("date_modified")),
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item.get("author")]  # JSON Feed 1.0
    names = [clean(_string(a.get("name"))) for a in authors if isinstance(a, dict)]
    return ", ".join(n for n in names if n) or None


def _date(value: Any) -> datetime | None:
    """RFC 3339 as JSON Feed requires; anything unreadable is treated as absent."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
