"""One story, many sources: duplicates merge, different stories with similar titles stay apart."""

from __future__ import annotations

import logging
import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import SAMPLE
from hypothesis import given, settings
from hypothesis import strategies as st

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.publish import stories
from republisher.publish.stories import Story, canonical_link, merge_stories

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


# --- any stored link or title --------------------------------------------------------------

HOSTILE_LINKS = {
    "port out of range": "http://evil.example:99999/",
    "unclosed IPv6 host": "http://[::1",
    "IPv6 host with a bad port": "http://[::1]:99999/",
    "port not a number": "http://news.example:abc/",
    "negative port": "http://news.example:-1/",
    "javascript": "javascript:alert(1)",
    "empty": "",
    "spaces": "   ",
    "control characters": "http://news.example/\x00\x01\x7f",
    "lone surrogate": "http://news.example/\ud800",
    "100 KB host": "http://" + "a" * 100_000 + "/",
    "many parameters": "https://news.example/?" + "&".join(f"p{i}=1" for i in range(5_000)),
    "stray percent": "https://news.example/%%zz",
    "no scheme": "//news.example/a",
}


@pytest.mark.parametrize("link", HOSTILE_LINKS.values(), ids=list(HOSTILE_LINKS))
def test_canonical_link_accepts_any_string(link: str) -> None:
    assert isinstance(canonical_link(link), str)


@pytest.mark.parametrize("link", HOSTILE_LINKS.values(), ids=list(HOSTILE_LINKS))
def test_a_hostile_link_never_stops_merging(link: str) -> None:
    bad = entry("a", "Uighur forced labour claims in the report", link)
    good = entry("b", "Another story about embassies and envoys", "https://b.example/1", hours=1)
    same = entry("c", "A third story about the same hostile link", link, hours=2)
    merged = merge_stories([same, good, bad])
    assert good in [s.entry for s in merged]
    if link.strip():
        assert len(merged) == 2, "the same link, however odd, is still one story"


def test_hostile_titles_and_dates_never_stop_merging() -> None:
    year_one = timezone(timedelta(hours=1))
    odd = [
        entry("a", "Control \x01\x02 characters in a title", "https://a.example/1"),
        entry("b", "Sanctions " * 10_000, "https://b.example/1"),
        replace(entry("c", "Year one with an offset here", "https://c.example/1"), first_seen=T0),
        entry("d", "A naive date on this story", "https://d.example/1"),
    ]
    odd[2] = replace(odd[2], data=replace(odd[2].data, published=datetime(1, 1, 1, tzinfo=year_one)))
    odd[3] = replace(odd[3], data=replace(odd[3].data, published=datetime(2021, 3, 1, 11)))
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
    odd.append(
        replace(odd[0], key="e", data=replace(odd[0].data, title="Far future", link=None, updated=far))
    )
    merged = merge_stories(odd)
    assert len(merged) == 5
    assert all(s.entry.sort_time.tzinfo is UTC for s in merged)


def test_an_entry_without_a_usable_stored_time_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    bad = replace(
        entry("bad", "Stored by a much older version", "https://a.example/1"), first_seen=datetime.min
    )
    good = entry("good", "A story that is fine in every way", "https://b.example/1")
    with caplog.at_level(logging.WARNING):
        assert [s.entry for s in merge_stories([bad, good])] == [good]
    assert "bad: entry bad:Stored by a much older version not published" in caplog.text


# --- linear work ------------------------------------------------------------------------


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The word counts of every pair of titles merge_stories compares."""
    seen: list[tuple[int, int]] = []
    real = stories._same_title

    def counting(a: Any, b: Any) -> bool:
        seen.append((len(a.words), len(b.words)))
        return real(a, b)

    monkeypatch.setattr(stories, "_same_title", counting)
    return seen


def test_long_near_identical_titles_compare_a_bounded_prefix(comparisons: list[tuple[int, int]]) -> None:
    long_title = " ".join(f"word{i}" for i in range(16_000))  # about 160 KB
    a = entry("a", long_title + " one", "https://a.example/1")
    b = entry("b", long_title + " two", "https://b.example/2", hours=1)
    assert len(merge_stories([b, a])) == 1
    assert comparisons and max(max(pair) for pair in comparisons) <= stories.TITLE_CHARS // 2


def test_distinct_headlines_are_rarely_compared(comparisons: list[tuple[int, int]]) -> None:
    # Words drawn as in real text (Zipf: a few very common, most rare), all within days.
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(5_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    entries = [
        entry(
            f"s{i}",
            " ".join(rng.choices(vocabulary, weights, k=rng.randint(5, 14))),
            f"https://x.example/{i}",
            hours=-i / 100,
        )
        for i in range(2_000)
    ]
    merge_stories(entries)
    assert len(comparisons) < 3 * len(entries)


def test_adversarial_titles_compare_a_bounded_number_of_candidates(
    comparisons: list[tuple[int, int]],
) -> None:
    # Every title shares 8 words with every other, yet none is similar enough to merge:
    # an index alone would find each all the others; the cap keeps it linear.
    entries = [
        entry(
            f"s{i}", f"Officials announce new measures against the spread of x{i}", f"https://x.example/{i}"
        )
        for i in range(1_000)
    ]
    assert len(merge_stories(entries)) == 1_000
    assert len(comparisons) <= len(entries) * stories.MAX_CANDIDATES
    assert len(comparisons) < len(entries) ** 2 / 2 / 5


def test_the_index_finds_what_comparing_every_pair_finds() -> None:
    rng = random.Random(3)
    vocabulary = [f"w{i}" for i in range(60)]
    entries = []
    for i in range(300):
        words = rng.choices(vocabulary, k=rng.randint(4, 30))
        entries.append(entry(f"s{i}", " ".join(words), None, hours=-rng.random() * 200))
        variant = list(words)
        variant[rng.randrange(len(variant))] = rng.choice(vocabulary)
        entries.append(
            entry(
                f"t{i}",
                " ".join(variant + rng.choices(vocabulary, k=rng.randint(0, 1))),
                None,
                hours=-rng.random() * 200,
            )
        )
    entries.sort(key=lambda e: e.sort_time, reverse=True)
    assert groups(merge_stories(entries)) == groups(every_pair(entries))


def groups(merged: list[Story]) -> list[list[str]]:
    return sorted(sorted(e.key for e in (s.entry, *s.also)) for s in merged)


def every_pair(entries: list[StoredEntry]) -> list[Story]:
    """The reference: each entry joins the group of the first earlier entry with a near-identical title."""
    titles = [stories._Title.of(e.data.title, e.sort_time) for e in entries]
    group_of: list[int] = []
    members: list[list[StoredEntry]] = []
    for i, entry_ in enumerate(entries):
        found = next(
            (
                group_of[j]
                for j in range(i)
                if titles[i].words and titles[j].words and stories._same_title(titles[i], titles[j])
            ),
            None,
        )
        if found is None:
            found = len(members)
            members.append([])
        members[found].append(entry_)
        group_of.append(found)
    return [Story(g[0], tuple(g[1:])) for g in members]


LINK_CHARS = st.sampled_from([chr(c) for c in range(0x20, 0x7F)] + ["\t", "\n", "é", "\u3000"])


@settings(max_examples=1500, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "Https", "ftp", ""]),
    www=st.sampled_from(["", "www.", "WWW.", "Www."]),
    labels=st.lists(
        st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True) | st.text(LINK_CHARS, max_size=4),
        min_size=1,
        max_size=3,
    ),
    port=st.sampled_from(["", ":80", ":443", ":8080", ":99999", ":x"]),
    path=st.text(LINK_CHARS, max_size=20),
    tail=st.sampled_from(["", "?utm_source=x", "?id=1&utm_medium=y", "#frag", "?a=1#b", " "]),
)
def test_plain_links_are_made_canonical_as_urllib_makes_them(
    scheme: str, www: str, labels: list[str], port: str, path: str, tail: str
) -> None:
    """The regex fast path for plain links gives exactly what the urllib path gives."""
    url = f"{scheme}://{www}{'.'.join(labels)}{port}/{path}{tail}"
    for link in (url, url.rstrip("/"), f"{scheme}://{www}{'.'.join(labels)}"):
        assert stories._canonical_link(link) == stories._parsed_canonical_link(link), link


def test_the_sample_feeds_links_take_the_fast_path() -> None:
    links = re.findall(rb"<link>([^<]+)</link>", SAMPLE.read_bytes())
    assert len(links) > 20
    assert all(stories._PLAIN_LINK.match(link.decode()) for link in links)
