"""The rule editor's tools on the held-out articles, stored as a poll would store them:
`review` ranks what the shipped rules miss near the top, and `suggest` offers terms an
editor would accept (they occur in the labelled positives and in no labelled negative)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.routing.match import Item, judge_all
from republisher.routing.review import review
from republisher.routing.rules import load_rules
from republisher.routing.suggest import suggest

REPO = Path(__file__).resolve().parent.parent
ARTICLES = tomllib.loads((REPO / "tests" / "data" / "heldout-articles.toml").read_text(encoding="utf-8"))[
    "article"
]
SLUGS = ("forced-labour", "surveillance", "diplomacy")
ORIGIN = SourceMeta(
    title="Held out", id="urn:x:held-out", self_url="https://h.example/rss", link=None, updated=None
)
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def store() -> tuple[list, list[StoredEntry], dict[str, set[tuple[str, str]]]]:
    rules = load_rules(REPO / "rules").rules
    entries = []
    in_feed: dict[str, set[tuple[str, str]]] = {slug: set() for slug in SLUGS}
    for n, article in enumerate(ARTICLES):
        data = EntryData(
            guid=f"a{n}",
            title=article["title"],
            link=f"https://h.example/{n}",
            summary=article["summary"],
            content=None,
            author=None,
        )
        when = T0 + timedelta(hours=n)
        entry = StoredEntry("heldout", f"guid:a{n}", f"urn:x:a{n}", when, when, data, ORIGIN)
        entries.append(entry)
        for verdict in judge_all(rules, Item.from_entry(data, "heldout")):
            if verdict.routed and verdict.slug in in_feed:
                in_feed[verdict.slug].add((entry.source, entry.key))
    return rules, entries, in_feed


@pytest.mark.parametrize("slug", SLUGS)
def test_review_ranks_the_rules_misses_among_its_first_ten(store, slug: str) -> None:  # type: ignore[no-untyped-def]
    rules, entries, in_feed = store
    labelled = {f"guid:a{n}" for n, a in enumerate(ARTICLES) if slug in a["feeds"]}
    missed = {key for key in labelled if ("heldout", key) not in in_feed[slug]}
    if not missed:
        pytest.skip(f"the shipped rules miss no labelled {slug} article")
    top = {finding.key for finding in review(slug, rules, entries, in_feed[slug], limit=10).misses}
    assert len(missed & top) * 2 >= len(missed), (
        f"{slug}: {len(missed & top)} of {len(missed)} misses in the top ten"
    )


@pytest.mark.parametrize("slug", SLUGS)
def test_suggest_offers_terms_of_the_positives_and_not_the_negatives(store, slug: str) -> None:  # type: ignore[no-untyped-def]
    rules, entries, in_feed = store
    from republisher.routing.similarity import terms

    positives = [a for a in ARTICLES if slug in a["feeds"]]
    negatives = [a for a in ARTICLES if not a["feeds"]]
    in_positives = terms(f"{a['title']} {a['summary']}" for a in positives)
    in_negatives = terms(f"{a['title']} {a['summary']}" for a in negatives)
    top = [s.term for s in suggest(slug, rules, entries, in_feed[slug], limit=20).any]
    accepted = [t for t in top if t in in_positives and t not in in_negatives]
    assert len(accepted) >= 3, f"{slug}: {top}"
