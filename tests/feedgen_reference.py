"""feedgen's own rendering of a published entry: the reference that
republisher.publish.entryxml, which writes entries directly, is held to byte for byte.

This is how atom.py built every entry before entryxml.py: a feedgen FeedEntry, with an
extension for what feedgen cannot write (a complete atom:source, rel="via" and
rel="enclosure" links), rendered in a feed of its own."""

from __future__ import annotations

import html
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from republisher.models import Enclosure
from republisher.publish.public import EARLIEST_DATE, PublicEntry, PublicSource, xml_text
from republisher.routing.rules import Rule

ENTRY_START = b"  <entry>\n"  # how feedgen (lxml, pretty-printed) writes an entry in a feed
FEED_END = b"</feed>\n"


class _SourceElement:
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


def feedgen_entry(entry: PublicEntry, rule: Rule, base_url: str) -> FeedEntry:
    """The entry as a feedgen FeedEntry, the derived feed's category last."""
    fe = FeedEntry()
    fe.id(entry.id)
    fe.title(entry.title)
    fe.updated(entry.updated)
    fe.published(entry.published)
    if entry.link:
        fe.link(href=entry.link, rel="alternate", type="text/html")
    fe.author({"name": entry.author})
    if entry.summary:
        fe.summary(entry.summary, type="html")
    if entry.content:
        fe.content(entry.content, type="html")
    elif not entry.link:
        fe.content(entry.summary or html.escape(entry.title), type="html")
    for category in entry.categories:
        fe.category(term=category.term, scheme=category.scheme, label=category.label)
    fe.category(term=rule.slug, scheme=base_url, label=xml_text(rule.title).strip() or rule.slug)
    fe.register_extension("republisher_source", _SourceElement, atom=True, rss=False)
    fe.republisher_source.source = entry.source
    fe.republisher_source.via = entry.via
    fe.republisher_source.enclosures = entry.enclosures
    return fe


def feedgen_entry_bytes(entry: PublicEntry, rule: Rule, base_url: str) -> bytes:
    """The <entry> element as feedgen writes it inside a feed (raises as lxml does)."""
    fg = FeedGenerator()
    fg.id("urn:republisher:entry")
    fg.title("entry")
    fg.updated(EARLIEST_DATE)
    fg.add_entry(feedgen_entry(entry, rule, base_url), order="append")
    document: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return document[document.index(ENTRY_START) : -len(FEED_END)]
