"""Atom entries rendered once per publish and shared by every feed carrying them give, byte
for byte, the document feedgen writes when it is handed the whole feed at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conformance import problems
from feedgen_reference import feedgen_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from republisher import PROJECT_URL, __version__
from republisher.models import Category, Enclosure, EntryData, SourceMeta, StoredEntry
from republisher.publish import atom
from republisher.publish.public import EARLIEST_DATE, PublicCache, PublicEntry, public_entries, xml_text
from republisher.publish.stories import Story, merge_stories
from republisher.routing.rules import Rule
from republisher.text import plausible_date

BASE = "https://feeds.example.org/topics/"
T0 = datetime(2021, 3, 1, 12, tzinfo=UTC)
ORIGIN = SourceMeta("Wire", "https://wire.example/", "https://wire.example/rss", "https://wire.example/", T0)
OTHER = SourceMeta("Paper", "tag:paper.example,2021:feed", "https://paper.example/feed", None, None)


def rule(slug: str, title: str) -> Rule:
    return Rule(slug, Path(f"rules/{slug}.toml"), title, "About it", None, None, True, ())


RULES = [
    rule("topic", "Topic"),
    rule("other", 'Other & "quoted" <topic>\tand a tab'),
    rule("ünï", "Ünïcode — feed 🙂"),
]


def whole_feed(
    the_rule: Rule, entries: Sequence[PublicEntry], hubs: Sequence[str], json_alternate: bool
) -> bytes:
    """The document as feedgen writes it given every entry at once (atom.py before AtomCache)."""
    self_url = atom.feed_url(BASE, the_rule.slug)
    title = xml_text(the_rule.title).strip() or the_rule.slug
    fg = atom.FeedGenerator()
    fg.id(self_url)
    fg.title(title)
    fg.subtitle(xml_text(the_rule.subtitle).strip() or title)
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=atom.page_url(BASE, the_rule.slug), rel="alternate", type="text/html")
    if json_alternate:
        fg.link(href=atom.json_feed_url(BASE, the_rule.slug), rel="alternate", type="application/feed+json")
    for hub in hubs:
        fg.link(href=hub, rel="hub")
    fg.author({"name": "republisher"})
    fg.generator("republisher", version=__version__, uri=PROJECT_URL)
    fg.updated(max((e.updated for e in entries), default=plausible_date(T0) or EARLIEST_DATE))
    for entry in entries:
        fg.add_entry(feedgen_entry(entry, the_rule, BASE), order="append")
    document: bytes = fg.atom_str(pretty=True, encoding="UTF-8")
    return document


def stored(key: str, hours: float = 0, origin: SourceMeta = ORIGIN, **data: Any) -> StoredEntry:
    fields: dict[str, Any] = {
        "guid": None,
        "title": f"Story {key}",
        "link": f"https://wire.example/{key}",
        "summary": f"<p>Body of {key}.</p>",
        "content": None,
        "author": None,
        "published": T0 - timedelta(hours=hours),
    }
    fields.update(data)
    seen = T0 - timedelta(hours=hours)
    return StoredEntry(origin.title, key, f"urn:test:{key}", seen, seen, EntryData(**fields), origin)


def varied() -> list[StoredEntry]:
    """Entries exercising every part of an Atom entry, and text that looks like markup."""
    return [
        stored("plain"),
        stored(
            "categories",
            1,
            categories=(
                Category("topic", BASE, "Topic"),  # the feed's own category, given by the source
                Category("World", "https://wire.example/cats", "World news"),
                Category('<category term="topic"/>', None, "tab\tand\nnewline"),
            ),
        ),
        stored("no-link", 2, link=None, summary=None, content="<p>Only content</p>"),
        stored("untitled", 3, title="", summary="<p>Text that becomes the title</p>"),
        stored(
            "enclosures",
            4,
            enclosures=(
                Enclosure("https://wire.example/a.mp3", "audio/mpeg", 1234),
                Enclosure("https://wire.example/p.jpg", "image/jpeg", None),
            ),
        ),
        stored(
            "markup-text",
            5,
            title='</entry></feed> <category term="topic" scheme="x"/> & "quotes" — ünï 🙂',
            author="Ana <ana@wire.example>",
            summary='<p>&lt;category term="topic"/&gt; <a href="/rel">relative</a></p>',
            content="<div><p>Content &amp; more</p></div>",
        ),
        stored("updated", 6, updated=T0 - timedelta(hours=1)),
        # The same story from another source: merged, with a via link and "Also carried by".
        stored("dup", 7, link="https://wire.example/dup?utm_source=x"),
        stored("dup2", 7.5, OTHER, link="https://wire.example/dup", title="Story dup"),
    ]


def test_shared_entries_render_as_feedgen_renders_the_whole_feed() -> None:
    entries = varied()
    public, cache = PublicCache(), atom.AtomCache()
    for the_rule in RULES:  # the same entries in three feeds, rendered once
        for hubs, json_alternate in [((), False), (("https://hub.example/",), True)]:
            stories = merge_stories(entries)
            made = public_entries(stories, public)
            document = atom.render_entries(
                the_rule, made, BASE, T0, hubs=hubs, json_alternate=json_alternate, cache=cache
            )
            assert document == whole_feed(the_rule, made, hubs, json_alternate)
            assert problems(document) == []


def test_an_empty_feed_is_feedgens_too() -> None:
    for the_rule in RULES:
        assert atom.render_entries(the_rule, [], BASE, T0) == whole_feed(the_rule, [], (), False)


def test_an_entry_that_cannot_render_leaves_only_itself_out() -> None:
    good = public_entries([Story(stored("good")), Story(stored("other", 1))])
    bad = replace(good[0], key="bad", id="urn:test:bad", title="bad \x01")  # lxml refuses it
    document = atom.render_entries(RULES[0], [bad, *good], BASE, T0)
    assert document == whole_feed(RULES[0], good, (), False)


XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).map(xml_text)


@settings(max_examples=150, deadline=None)
@given(
    titles=st.lists(XML_TEXT, min_size=1, max_size=4),
    terms=st.lists(st.tuples(XML_TEXT, XML_TEXT), max_size=3),
    feed_title=XML_TEXT,
    slug=st.sampled_from(["topic", "a-b", "x1"]),
)
def test_any_text_renders_as_feedgen_renders_it(
    titles: list[str], terms: list[tuple[str, str]], feed_title: str, slug: str
) -> None:
    categories = tuple(Category(term, None, label) for term, label in terms if term.strip())
    entries = [
        stored(f"e{n}", n, title=title, summary=f"<p>{title}</p>", categories=categories)
        for n, title in enumerate(titles)
    ]
    public, cache = PublicCache(), atom.AtomCache()
    for the_rule in (rule(slug, feed_title), rule("second", feed_title + " two")):
        made = public_entries([Story(e) for e in entries], public)
        document = atom.render_entries(the_rule, made, BASE, T0, cache=cache)
        assert document == whole_feed(the_rule, made, (), False)
