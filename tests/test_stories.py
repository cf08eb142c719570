"""One story, many sources: duplicates merge, different stories with similar titles stay apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.publish.stories import canonical_link, merge_stories

T0 = datetime(2021, 3, 1, 12, tzinfo=UTC)


def entry(source: str, title: str, link: str | None, *, hours: float = 0, seen: float = 0) -> StoredEntry:
    origin = SourceMeta(
        title=source, id=f"https://{source}.example/", self_url="https://x/", link=None, updated=None
    )
    data = EntryData(
        guid=None,
        title=title,
        link=link,
        summary=None,
        content=None,
        author=None,
        published=T0 + timedelta(hours=hours),
    )
    first_seen = T0 + timedelta(hours=max(hours, 0) + seen)
    return StoredEntry(
        source, f"{source}:{title}", f"urn:{source}:{title}", first_seen, first_seen, data, origin
    )


LINKS = {
    "utm parameters": (
        "https://news.example.com/a?id=1&utm_source=rss&utm_medium=feed",
        "https://news.example.com/a?id=1",
    ),
    "fbclid and gclid": ("https://news.example.com/a?fbclid=XYZ&gclid=1", "https://news.example.com/a"),
    "fragment": ("https://news.example.com/a#comments", "https://news.example.com/a"),
    "scheme and www": ("http://WWW.News.Example.com/a", "https://news.example.com/a"),
    "default port": ("https://news.example.com:443/a", "https://news.example.com/a"),
    "empty path": ("https://news.example.com", "https://news.example.com/"),
}


@pytest.mark.parametrize(("link", "canonical"), LINKS.values(), ids=list(LINKS))
def test_canonical_link(link: str, canonical: str) -> None:
    assert canonical_link(link) == canonical


def test_other_query_parameters_keep_links_apart() -> None:
    assert canonical_link("https://n.example/a?id=1") != canonical_link("https://n.example/a?id=2")


def test_true_duplicates_merge_and_the_earliest_version_wins() -> None:
    early = entry("wire", "Sanctions on four officials", "https://wire.example/s", hours=0)
    late = entry("paper", "Sanctions on four officials", "https://paper.example/s", hours=2)
    (story,) = merge_stories([late, early])
    assert story.entry is early
    assert story.also == (late,)


def test_tracking_parameter_variants_merge() -> None:
    a = entry("a", "One title here", "https://n.example/story?utm_source=a")
    b = entry("b", "A completely different headline", "https://n.example/story?fbclid=123#top", seen=1)
    (story,) = merge_stories([b, a])
    assert story.entry is a and story.also == (b,)


def test_near_identical_titles_within_days_merge() -> None:
    a = entry("a", "EU imposes sanctions on Chinese officials over Xinjiang", "https://a.example/1")
    b = entry(
        "b", "EU imposes sanctions on Chinese officials over Xinjiang abuses", "https://b.example/2", hours=5
    )
    assert len(merge_stories([b, a])) == 1


@pytest.mark.parametrize(
    ("first", "second", "hours"),
    [
        (
            "China sanctions EU officials over Xinjiang report",
            "EU sanctions China officials over Xinjiang report",
            1,
        ),
        ("Uighur activist arrested in Turkey on Monday", "Uighur activist released in Turkey on Monday", 1),
        (
            "Sanctions on four officials announced today",
            "Sanctions on four officials announced today",
            24 * 10,
        ),
        ("Live updates", "Live updates", 1),
    ],
    ids=["swapped roles", "one word that matters", "same title weeks apart", "too short to tell"],
)
def test_different_stories_stay_apart(first: str, second: str, hours: float) -> None:
    a = entry("a", first, "https://a.example/1")
    b = entry("b", second, "https://b.example/2", hours=hours)
    assert len(merge_stories([b, a])) == 2


def test_stories_come_newest_first() -> None:
    old = entry("a", "Older story about embassies", "https://a.example/old", hours=-48)
    new = entry("a", "Newer story about treaties", "https://a.example/new", hours=0)
    merged = merge_stories([new, old])
    assert [s.entry for s in merged] == [new, old]
