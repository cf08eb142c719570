"""entryxml writes each published entry directly; feedgen (tests/feedgen_reference.py) is
the reference: the same bytes for every entry of every sample feed in the repository, and
for generated entries with any text XML can carry in every field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from feedgen_reference import feedgen_entry_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from republisher.models import Category, Enclosure, StoredEntry
from republisher.publish import atom
from republisher.publish.entryxml import entry_parts
from republisher.publish.public import PublicEntry, PublicSource, public_entries, xml_text
from republisher.publish.stories import merge_stories
from republisher.routing.rules import Rule
from republisher.sources.parse import parse_feed

ROOT = Path(__file__).parent.parent
FEEDS = (ROOT / "tests" / "data" / "feeds").iterdir()
SAMPLES = sorted(
    [ROOT / "samples" / "guardian-uighurs.xml", *(p for p in FEEDS if ".expected." not in p.name)]
)
BASE = "https://feeds.example.org/"
T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
RULES = [
    Rule("topic", Path("rules/topic.toml"), "Topic", "About it", None, None, True, ()),
    Rule("odd", Path("rules/odd.toml"), 'Odd & "quoted" <feed>\tand a tab ü 🙂', "", None, None, True, ()),
]


def direct(entry: PublicEntry, rule: Rule) -> bytes:
    before, after = entry_parts(entry)
    return before + atom._category_line(rule, BASE) + after


def stored_entries(path: Path) -> list[StoredEntry]:
    feed = parse_feed(path.read_bytes(), f"https://source.example/{path.name}")
    return [
        StoredEntry("sample", str(n), f"urn:test:{path.name}:{n}", T0, T0, data, feed.meta)
        for n, data in enumerate(feed.entries)
    ]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_entry_is_written_as_feedgen_writes_it(path: Path) -> None:
    entries = public_entries(merge_stories(stored_entries(path)))
    assert entries, path
    for entry in entries:
        for rule in RULES:
            assert direct(entry, rule) == feedgen_entry_bytes(entry, rule, BASE)


def test_the_guardian_sample_exercises_the_shape() -> None:
    """The sample has what the comparison above must cover: content, categories, source."""
    entries = public_entries(merge_stories(stored_entries(ROOT / "samples" / "guardian-uighurs.xml")))
    assert len(entries) == 20
    assert all(e.categories and e.link and e.source.self_link for e in entries)


# Any text XML 1.0 can carry, with the characters escaping treats apart made likely.
SPECIAL = st.sampled_from([*"&<>\"'\t\n\r ]]>", "\u2028", "\x85", "\U0001f642", "é", "&amp;"])
TEXT = st.lists(st.one_of(SPECIAL, st.characters(exclude_categories=["Cs"])), max_size=30).map(
    lambda chars: xml_text("".join(chars))
)
SOME_TEXT = TEXT.filter(lambda value: value.strip() != "")
MAYBE = st.one_of(st.none(), st.just(""), TEXT)
DATES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2030, 1, 1),
    timezones=st.just(timezone(timedelta(hours=5, minutes=30))),
)
SOURCES = st.builds(PublicSource, title=TEXT, id=TEXT, self_link=MAYBE, link=MAYBE, updated=st.none() | DATES)
ENTRIES = st.builds(
    PublicEntry,
    source_name=st.just("wire"),
    key=st.just("k"),
    id=SOME_TEXT,
    title=SOME_TEXT,
    link=MAYBE,
    summary=MAYBE,
    content=MAYBE,
    author=TEXT,
    categories=st.lists(st.builds(Category, term=SOME_TEXT, scheme=MAYBE, label=MAYBE), max_size=3).map(
        tuple
    ),
    published=DATES,
    updated=DATES,
    via=st.lists(SOME_TEXT, max_size=2).map(tuple),
    source=SOURCES,
    enclosures=st.lists(
        st.builds(Enclosure, url=SOME_TEXT, type=MAYBE, length=st.none() | st.integers(0, 10**12)), max_size=2
    ).map(tuple),
)


@settings(max_examples=400, deadline=None)
@given(entry=ENTRIES, rule=st.sampled_from(RULES))
def test_any_entry_is_written_as_feedgen_writes_it(entry: PublicEntry, rule: Rule) -> None:
    assert direct(entry, rule) == feedgen_entry_bytes(entry, rule, BASE)


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\ufffe", "\ud800"])
@pytest.mark.parametrize("field", ["title", "author", "summary", "content", "link"])
def test_text_xml_cannot_carry_is_refused_as_feedgen_refuses_it(bad: str, field: str) -> None:
    """public.py removes such characters; were one to reach the writer, it raises (and the
    entry is skipped, atom.render_entries) rather than write a broken document."""
    source = PublicSource("Wire", "tag:wire", None, None, None)
    entry = PublicEntry(
        "wire",
        "k",
        "urn:x",
        "Title",
        "https://wire.example/a",
        "<p>s</p>",
        None,
        "Ana",
        (),
        T0,
        T0,
        (),
        source,
    )
    changed: dict[str, Any] = {field: f"before {bad} after"}
    entry = replace(entry, **changed)
    with pytest.raises(ValueError):
        feedgen_entry_bytes(entry, RULES[0], BASE)
    with pytest.raises(ValueError):
        entry_parts(entry)
