"""Render one derived feed as Atom 1.0 bytes. The only module that imports feedgen.

Output depends only on its inputs (no clock), so unchanged input gives
byte-identical output.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Any

from feedgen.feed import FeedGenerator

from republisher import PROJECT_URL, __version__, text
from republisher.models import SourceMeta, StoredEntry
from republisher.publish.stories import Story, with_carriers
from republisher.routing.rules import Rule

STYLESHEET = "feed.xsl"
# Relative, so that a browser loads the stylesheet from wherever it fetched the feed:
# an absolute base_url would be cross-origin (and refused) when the feed is viewed
# through another host name, e.g. localhost in front of a proxy.
_STYLESHEET_PI = f'<?xml-stylesheet type="text/xsl" href="{STYLESHEET}"?>'.encode()


def stylesheet() -> bytes:
    """The bundled XSL stylesheet that shows a feed as a readable page in a browser."""
    return resources.files("republisher.publish").joinpath("static", STYLESHEET).read_bytes()


def feed_url(base_url: str, slug: str) -> str:
    """Public URL (and Atom id) of a derived feed."""
    return f"{base_url}{slug}.atom"


def json_feed_url(base_url: str, slug: str) -> str:
    """Public URL of a derived feed's JSON Feed version (when `formats` asks for it)."""
    return f"{base_url}{slug}.json"


class _SourceElement:
    """feedgen entry extension writing what feedgen cannot: a complete atom:source (feedgen's
    lacks id and updated) and rel="via" links (feedgen drops the rel of entry links)."""

    origin: SourceMeta | None = None
    via: tuple[str, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_rss(self, item: Any) -> Any:
        return item

    def extend_atom(self, entry: Any) -> Any:
        for href in self.via:
            entry.append(entry.makeelement("link", {"rel": "via", "href": href}))
        origin = self.origin
        if origin is None:
            return entry
        source = entry.makeelement("source", {})
        _child(source, "id", origin.id)
        _child(source, "title", origin.title)
        if origin.updated is not None:
            _child(source, "updated", origin.updated.isoformat())
        source.append(source.makeelement("link", {"rel": "self", "href": origin.self_url}))
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


def _title(entry: StoredEntry) -> str:
    data = entry.data
    return text.display_title(data.title, data.summary, data.content, data.link)


def render_feed(
    rule: Rule,
    stories: Sequence[Story],
    base_url: str,
    first_written: datetime,
    *,
    hubs: Sequence[str] = (),
    json_alternate: bool = False,
) -> bytes:
    """The Atom document of one derived feed; `stories` newest first."""
    self_url = feed_url(base_url, rule.slug)
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(rule.title)
    fg.subtitle(rule.subtitle or rule.title)
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=base_url, rel="alternate", type="text/html")
    if json_alternate:
        fg.link(href=json_feed_url(base_url, rule.slug), rel="alternate", type="application/feed+json")
    for hub in hubs:
        fg.link(href=hub, rel="hub")
    fg.author({"name": "republisher"})
    fg.generator("republisher", version=__version__, uri=PROJECT_URL)
    # The newest entry's time, never "now": re-rendering the same entries gives the same bytes.
    fg.updated(max((s.entry.updated_time for s in stories), default=first_written))
    for story in stories:
        _add_entry(fg, story, rule, base_url)
    document: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return _with_stylesheet(document)


def _with_stylesheet(document: bytes) -> bytes:
    """The document with the xml-stylesheet instruction right after its XML declaration."""
    declaration, _, body = document.partition(b"\n")
    # feedgen always writes a declaration first; a PI must come after it, before the root.
    assert declaration.startswith(b"<?xml "), declaration[:40]
    return declaration + b"\n" + _STYLESHEET_PI + b"\n" + body


def _add_entry(fg: FeedGenerator, story: Story, rule: Rule, base_url: str) -> None:
    entry = story.entry
    data = entry.data
    fe = fg.add_entry(order="append")
    fe.id(entry.atom_id)
    fe.title(_title(entry))
    fe.updated(entry.updated_time)
    fe.published(entry.sort_time)
    if data.link:
        fe.link(href=data.link, rel="alternate", type="text/html")
    if data.author:
        fe.author({"name": data.author})
    else:
        fe.author({"name": entry.origin.title})
    summary, content = with_carriers(story)
    if summary:
        fe.summary(summary, type="html")
    if content:
        fe.content(content, type="html")
    elif not data.link:
        # RFC 4287 4.1.1.1: an entry without an alternate link must have content.
        fe.content(summary or html.escape(_title(entry)), type="html")
    for category in data.categories:
        fe.category(term=category.term, scheme=category.scheme, label=category.label)
    fe.category(term=rule.slug, scheme=base_url, label=rule.title)
    fe.register_extension("republisher_source", _SourceElement, atom=True, rss=False)
    fe.republisher_source.origin = entry.origin
    fe.republisher_source.via = tuple(
        dict.fromkeys(o.data.link for o in story.also if o.data.link and o.data.link != data.link)
    )
