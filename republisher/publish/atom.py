"""Render one derived feed as Atom 1.0 bytes. The only module that imports feedgen.

Output depends only on its inputs (no clock), so unchanged input gives
byte-identical output.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from republisher import PROJECT_URL, __version__
from republisher.models import Enclosure
from republisher.publish.public import EARLIEST_DATE, PublicEntry, PublicSource, public_entries, xml_text
from republisher.publish.stories import Story, skipped
from republisher.routing.rules import Rule
from republisher.text import plausible_date

log = logging.getLogger(__name__)


def feed_url(base_url: str, slug: str) -> str:
    """Public URL (and Atom id) of a derived feed."""
    return f"{base_url}{slug}.atom"


def json_feed_url(base_url: str, slug: str) -> str:
    """Public URL of a derived feed's JSON Feed version (when `formats` asks for it)."""
    return f"{base_url}{slug}.json"


def page_url(base_url: str, slug: str) -> str:
    """Public URL of a derived feed's page for people (its alternate link)."""
    return f"{base_url}{slug}.html"


class _SourceElement:
    """feedgen entry extension writing what feedgen cannot: a complete atom:source (feedgen's
    lacks id and updated), rel="via" and rel="enclosure" links (feedgen drops the rel of
    entry links)."""

    source: PublicSource | None = None
    via: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_rss(self, item: Any) -> Any:
        return item

    def extend_atom(self, entry: Any) -> Any:
        for href in self.via:
            entry.append(entry.makeelement("link", {"rel": "via", "href": href}))
        for enclosure in self.enclosures:
            # type and length only when known (public.public_entry checked them).
            attributes = {"rel": "enclosure", "href": enclosure.url}
            if enclosure.type:
                attributes["type"] = enclosure.type
            if enclosure.length is not None:
                attributes["length"] = str(enclosure.length)
            entry.append(entry.makeelement("link", attributes))
        origin = self.source
        if origin is None:
            return entry
        source = entry.makeelement("source", {})
        _child(source, "id", origin.id)
        _child(source, "title", origin.title)
        if origin.updated is not None:
            _child(source, "updated", origin.updated.isoformat())
        if origin.self_link:
            source.append(source.makeelement("link", {"rel": "self", "href": origin.self_link}))
        if origin.link:
            source.append(
                source.makeelement("link", {"rel": "alternate", "type": "text/html", "href": origin.link})
            )
        entry.append(source)
        return entry


def _child(parent: Any, tag: str, value: str) -> None:
    element = parent.makeelement(tag, {})
    element.text = value
    parent.append(element)


def render_feed(
    rule: Rule,
    stories: Sequence[Story],
    base_url: str,
    first_written: datetime,
    *,
    hubs: Sequence[str] = (),
    json_alternate: bool = False,
) -> bytes:
    """The Atom document of one derived feed; `stories` newest first. A story that cannot
    be rendered is left out (and logged), never the feed."""
    head = _Head(rule, base_url, first_written, tuple(hubs), json_alternate)
    entries = public_entries(stories)
    try:
        return _document(head, entries)
    except Exception:
        # Something lxml refuses got past the cleaning: keep the entries that render alone.
        log.exception("%s: rendering the feed failed; retrying entry by entry", rule.slug)
        return _document(head, [e for e in entries if _renders_alone(e, head)])


@dataclass(frozen=True)
class _Head:
    rule: Rule
    base_url: str
    first_written: datetime
    hubs: tuple[str, ...]
    json_alternate: bool


def _document(head: _Head, entries: Sequence[PublicEntry]) -> bytes:
    rule, base_url = head.rule, head.base_url
    self_url = feed_url(base_url, rule.slug)
    title = xml_text(rule.title).strip() or rule.slug
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(title)
    fg.subtitle(xml_text(rule.subtitle).strip() or title)
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=page_url(base_url, rule.slug), rel="alternate", type="text/html")
    if head.json_alternate:
        fg.link(href=json_feed_url(base_url, rule.slug), rel="alternate", type="application/feed+json")
    for hub in head.hubs:
        fg.link(href=hub, rel="hub")
    fg.author({"name": "republisher"})
    fg.generator("republisher", version=__version__, uri=PROJECT_URL)
    # The newest entry's time, never "now": re-rendering the same entries gives the same bytes.
    first_written = plausible_date(head.first_written) or EARLIEST_DATE
    fg.updated(max((e.updated for e in entries), default=first_written))
    for entry in entries:
        try:
            fe = _feed_entry(entry, rule, base_url)
        except Exception as e:  # one entry must never stop the feed
            skipped(entry.source_name, entry.key, e)
            continue
        fg.add_entry(fe, order="append")
    # No xml-stylesheet: browsers are dropping XSLT; the feed's page is <slug>.html.
    document: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return document


def _renders_alone(entry: PublicEntry, head: _Head) -> bool:
    try:
        _feed_entry(entry, head.rule, head.base_url).atom_entry()
    except Exception as e:
        skipped(entry.source_name, entry.key, e)
        return False
    return True


def _feed_entry(entry: PublicEntry, rule: Rule, base_url: str) -> FeedEntry:
    fe = FeedEntry()
    fe.id(entry.id)
    fe.title(entry.title)
    fe.updated(entry.updated)
    fe.published(entry.published)
    if entry.link:
        fe.link(href=entry.link, rel="alternate", type="text/html")
    fe.author({"name": entry.author})
    # Sanitized HTML, whatever the source declared (public.public_entry made it so).
    if entry.summary:
        fe.summary(entry.summary, type="html")
    if entry.content:
        fe.content(entry.content, type="html")
    elif not entry.link:
        # RFC 4287 4.1.1.1: an entry without an alternate link must have content.
        fe.content(entry.summary or html.escape(entry.title), type="html")
    for category in entry.categories:
        fe.category(term=category.term, scheme=category.scheme, label=category.label)
    fe.category(term=rule.slug, scheme=base_url, label=xml_text(rule.title).strip() or rule.slug)
    fe.register_extension("republisher_source", _SourceElement, atom=True, rss=False)
    fe.republisher_source.source = entry.source
    fe.republisher_source.via = entry.via
    fe.republisher_source.enclosures = entry.enclosures
    return fe
