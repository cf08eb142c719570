"""Turn a fetched body into FeedData. The only module that imports feedparser.

feedparser sanitizes HTML (no script, style, iframe, event handlers or javascript:
URLs) and resolves relative URIs against xml:base or the document URL; this module
turns its loose dicts into frozen dataclasses at once.
"""

from __future__ import annotations

import calendar
import html
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from republisher.errors import ParseError
from republisher.identity import is_absolute_iri
from republisher.models import Category, EntryData, FeedData, SourceMeta

# Characters XML 1.0 forbids; one of them would make the whole output file unreadable.
_XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(value: str | None) -> str | None:
    """Drop XML-forbidden characters; empty strings become None."""
    if value is None:
        return None
    value = _XML_FORBIDDEN.sub("", value).strip()
    return value or None


def _web_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL, resolved against base; anything else is dropped."""
    value = clean(value)
    if value is None:
        return None
    resolved = urljoin(base, value)
    return resolved if urlsplit(resolved).scheme in ("http", "https") else None


def _time(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _updated(element: Any) -> time.struct_time | None:
    """The element's own updated time. Plain dict access: feedparser's item access
    silently substitutes the published time, which would hide that none was given."""
    value: time.struct_time | None = dict.get(element, "updated_parsed")
    return value


def _html(detail: Any) -> str | None:
    """Text construct -> HTML (plain text is escaped so it renders as written)."""
    if not detail:
        return None
    value = clean(detail.get("value"))
    if value is None:
        return None
    if detail.get("type", "text/html") == "text/plain":
        return html.escape(value, quote=False)
    return value


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> FeedData:
    """Parse an RSS/Atom body fetched from url. Raises ParseError when it is not a feed."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    if not parsed.version and not parsed.entries:
        raise ParseError(url, _not_a_feed_reason(body, parsed))
    warning = None
    error = parsed.get("bozo_exception")
    if parsed.bozo and parsed.entries and "SAXParseException" in type(error).__name__:
        warning = f"malformed XML ({error}); kept {len(parsed.entries)} entries"
    feed = parsed.feed
    link = _web_url(feed.get("link"), url)
    meta = SourceMeta(
        title=clean(feed.get("title")) or url,
        id=_feed_id(feed.get("id"), link, url),
        self_url=url,
        link=link,
        updated=_time(_updated(feed) or feed.get("published_parsed")),
    )
    entries = tuple(_entry(e, url) for e in parsed.entries)
    return FeedData(meta=meta, entries=entries, warning=warning)


def _feed_id(given: str | None, link: str | None, url: str) -> str:
    given = clean(given)
    if given and is_absolute_iri(given):
        return given
    return link or url


def _not_a_feed_reason(body: bytes, parsed: Any) -> str:
    head = body[:512].lstrip().lower()
    if not head:
        return "empty body"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page, not a feed"
    error = parsed.get("bozo_exception")
    return f"not an RSS or Atom feed ({error})" if error else "not an RSS or Atom feed"


def _entry(e: Any, base: str) -> EntryData:
    link = _web_url(e.get("link"), base)
    summary = _html(e.get("summary_detail"))
    contents = e.get("content") or []
    content = _html(contents[0]) if contents else None
    if summary is not None and summary == content:
        summary = None
    title = clean(e.get("title"))
    author_detail = e.get("author_detail") or {}
    author = clean(author_detail.get("name")) or clean(e.get("author"))
    categories = tuple(
        Category(term=term, scheme=_web_url(t.get("scheme"), base), label=clean(t.get("label")))
        for t in e.get("tags") or []
        if (term := clean(t.get("term")))
    )
    return EntryData(
        guid=clean(e.get("id")),
        title=title or "",
        link=link,
        summary=summary,
        content=content,
        author=author,
        categories=categories,
        published=_time(e.get("published_parsed")),
        updated=_time(_updated(e)),
    )
