"""Render one derived feed as Atom 1.0 bytes. The only module that imports feedgen.

Output depends only on its inputs (no clock), so unchanged input gives
byte-identical output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from republisher import PROJECT_URL, __version__
from republisher.publish.entryxml import entry_parts
from republisher.publish.public import EARLIEST_DATE, PublicEntry, public_entries, xml_text
from republisher.publish.stories import Story, skipped
from republisher.routing.rules import Rule
from republisher.text import plausible_date


def feed_url(base_url: str, slug: str) -> str:
    """Public URL (and Atom id) of a derived feed."""
    return f"{base_url}{slug}.atom"


def json_feed_url(base_url: str, slug: str) -> str:
    """Public URL of a derived feed's JSON Feed version (when `formats` asks for it)."""
    return f"{base_url}{slug}.json"


def page_url(base_url: str, slug: str) -> str:
    """Public URL of a derived feed's page for people (its alternate link)."""
    return f"{base_url}{slug}.html"


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
    return render_entries(
        rule, public_entries(stories), base_url, first_written, hubs=hubs, json_alternate=json_alternate
    )


class AtomCache:
    """The <entry> elements of one publish, each rendered once however many feeds carry it.

    The entry's bytes (entryxml.py, as feedgen writes them) are kept without the one part
    that differs from feed to feed, the category naming the derived feed, which is always
    the entry's last category. Known by the identity of the PublicEntry
    (public.PublicCache shares them), which is kept."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[PublicEntry, bytes, bytes]] = {}

    def entry(self, entry: PublicEntry, category: bytes) -> bytes:
        """The entry as a child of the feed's <feed> element, with its `category` line."""
        made = self._made.get(id(entry))
        if made is None:
            made = self._made[id(entry)] = (entry, *entry_parts(entry))
        return made[1] + category + made[2]


def render_entries(
    rule: Rule,
    entries: Sequence[PublicEntry],
    base_url: str,
    first_written: datetime,
    *,
    hubs: Sequence[str] = (),
    json_alternate: bool = False,
    cache: AtomCache | None = None,
) -> bytes:
    """The Atom document of one derived feed publishing `entries` (public.public_entries,
    newest first). An entry that cannot be rendered is left out (and logged), never the feed."""
    cache = cache if cache is not None else AtomCache()
    category = _category_line(rule, base_url)
    kept: list[PublicEntry] = []
    elements: list[bytes] = []
    for entry in entries:
        try:
            elements.append(cache.entry(entry, category))
        except Exception as e:  # one entry (say, text lxml refuses) must never stop the feed
            skipped(entry.source_name, entry.key, e)
            continue
        kept.append(entry)
    head = _head(_Head(rule, base_url, first_written, tuple(hubs), json_alternate), kept)
    if not elements:
        return head
    return head[: -len(_FEED_END)] + b"".join(elements) + _FEED_END


@dataclass(frozen=True)
class _Head:
    rule: Rule
    base_url: str
    first_written: datetime
    hubs: tuple[str, ...]
    json_alternate: bool


# How feedgen (lxml, pretty-printed) ends a feed.
_FEED_END = b"</feed>\n"


def _head(head: _Head, entries: Sequence[PublicEntry]) -> bytes:
    """The feed document without entries (render_entries puts them before </feed>)."""
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
    # No xml-stylesheet: browsers are dropping XSLT; the feed's page is <slug>.html.
    document: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return document


def _one_entry_feed(entry: FeedEntry) -> bytes:
    """A minimal feed holding just this entry, as feedgen writes it."""
    fg = FeedGenerator()
    fg.id("urn:republisher:entry")
    fg.title("entry")
    fg.updated(EARLIEST_DATE)
    fg.add_entry(entry, order="append")
    document: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return document


def _category_line(rule: Rule, base_url: str) -> bytes:
    """The line of every entry of this feed that names the feed, as feedgen writes it."""
    fe = FeedEntry()
    fe.id("urn:republisher:category")
    fe.title("category")
    fe.updated(EARLIEST_DATE)
    fe.content("category")
    fe.category(term=rule.slug, scheme=base_url, label=xml_text(rule.title).strip() or rule.slug)
    document = _one_entry_feed(fe)
    start = document.index(b"\n    <category ") + 1
    return document[start : document.index(b"\n", start) + 1]
