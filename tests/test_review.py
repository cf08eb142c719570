"""`review`: the stored entries a feed likely misses, and its members that look out of place."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from republisher.errors import ConfigError
from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.routing.match import Item, judge_all
from republisher.routing.review import format_review, review
from republisher.routing.rules import Rule, load_rules
from republisher.routing.similarity import singular, terms

ORIGIN = SourceMeta("Wire", "urn:wire", "https://example.org/feed.xml", None, None)
START = datetime(2024, 3, 1, tzinfo=UTC)

LABOUR_RULE = """
title = "Forced labour"
[match]
any = ["forced labour", "forced labor"]

[[examples]]
title = "Cotton pickers describe forced labour on state farms"
routed = true

[[examples]]
title = "Forced to resign: minister quits"
routed = false
"""
SPORT_RULE = """
title = "Football"
[match]
any = ["football", "league"]
none = ["fantasy"]
"""
OTHER_RULE = """
title = "Everything else"
unrouted = true
"""

# Members of the labour feed: the topic, named.
LABOUR = [
    "Forced labour: factory workers say their passports were confiscated by managers",
    "Report finds forced labour in cotton picking, with workers unable to leave the farms",
    "Brands audit suppliers after forced labour found in cotton spinning factory",
    "Workers held in dormitories describe forced labour and confiscated passports",
    "Customs seize cotton shipments over forced labour at factory",
    "Forced labour claims: passports confiscated, wages withheld from factory workers",
    "Cotton farms used forced labour, former workers tell investigators",
    "Forced labor in supply chains: factory workers cannot leave compound",
]
# The topic told in other words: no "forced labour", so the rule misses it.
HIDDEN = "Cotton pickers had their passports confiscated and could not leave the factory compound"
# A member taken by the words but about something else.
STRAY = "Chef calls sourdough baking a forced labour of love in his bakery kitchen"
# The rest of the store: other news, with a few shared everyday words.
NOISE = [
    "Football league leaders win again as striker scores twice",
    "Heavy rain floods roads across the region overnight",
    "Parliament debates budget as ministers trade blows over taxes",
    "New bakery opens with sourdough loaves and pastries",
    "Football club signs goalkeeper before league deadline",
    "Storm warning issued for coastal towns this weekend",
    "Museum unveils restored paintings in spring exhibition",
    "Fantasy football tips for the weekend's league fixtures",
    "Train strikes disrupt commuters across the country",
    "Farmers market returns to the town square on Saturday",
    "Election campaign enters final week with televised debate",
    "Scientists map deep ocean currents with new robots",
    "Local council approves plan for new cycle lanes",
    "Heatwave brings record temperatures to the capital",
    "Orchestra announces summer concerts in the park",
]


def entry(n: int, title: str, source: str = "wire", summary: str | None = None) -> StoredEntry:
    when = START + timedelta(hours=n)
    data = EntryData(
        guid=f"urn:{n}",
        title=title,
        link=f"https://example.org/{n}",
        summary=summary,
        content=None,
        author=None,
        published=when,
    )
    return StoredEntry(source, f"k{n}", f"urn:{n}", when, when, data, ORIGIN)


def write_rules(folder: Path, **files: str) -> list[Rule]:
    folder.mkdir(exist_ok=True)
    for name, body in files.items():
        (folder / f"{name.replace('_', '-')}.toml").write_text(body, encoding="utf-8")
    return list(load_rules(folder).rules)


def routes(rules: list[Rule], entries: list[StoredEntry], slug: str) -> set[tuple[str, str]]:
    """(source, key) of the entries the rules route to `slug`, as the store would hold them."""
    found = set()
    for e in entries:
        for verdict in judge_all(rules, Item.from_entry(e.data, e.source)):
            if verdict.routed and verdict.slug == slug:
                found.add((e.source, e.key))
    return found


@pytest.fixture
def store() -> list[StoredEntry]:
    titles = [*LABOUR, HIDDEN, STRAY, *NOISE]
    return [entry(n, title) for n, title in enumerate(titles)]


@pytest.fixture
def rules(tmp_path: Path) -> list[Rule]:
    return write_rules(tmp_path / "rules", forced_labour=LABOUR_RULE, sport=SPORT_RULE, other=OTHER_RULE)


def test_an_entry_telling_the_topic_in_other_words_is_the_first_likely_miss(
    rules: list[Rule], store: list[StoredEntry]
) -> None:
    result = review("forced-labour", rules, store, routes(rules, store, "forced-labour"))
    assert result.members == len(LABOUR) + 1  # the stray member too
    assert result.examples == 1  # the routed example; the counter-example is no member
    first = result.misses[0]
    assert first.title == HIDDEN
    assert first.source == "wire" and first.date == START + timedelta(hours=len(LABOUR))
    assert 0 < first.score <= 1
    # Why the rule did not take it, in the matcher's words, and what it shares with the feed.
    assert "missing (no `any` term matched)" in first.reasons
    assert {"passports", "confiscated", "cotton"} <= set(first.shared)
    # Entries about nothing the feed is about are not offered at all.
    offered = {m.title for m in result.misses}
    assert "Museum unveils restored paintings in spring exhibition" not in offered


def test_an_off_topic_member_is_the_first_doubtful_member_with_the_term_that_took_it(
    rules: list[Rule], store: list[StoredEntry]
) -> None:
    result = review("forced-labour", rules, store, routes(rules, store, "forced-labour"))
    first = result.doubtful[0]
    assert first.title == STRAY
    assert any(r.startswith("matched 'forced labour' in title") for r in first.reasons)
    assert first.score < min(d.score for d in result.doubtful[1:])


def test_a_miss_excluded_by_a_none_term_names_it(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", sport=SPORT_RULE)
    titles = [
        "Football league: champions win the derby",
        "Football league table after the weekend derby",
        "Striker scores as league leaders win football derby",
        "Fantasy football: league derby picks for the weekend",
        "Heavy rain floods roads",
        "Budget debate in parliament",
    ]
    store = [entry(n, t) for n, t in enumerate(titles)]
    result = review("sport", rules, store, routes(rules, store, "sport"))
    first = result.misses[0]
    assert first.title.startswith("Fantasy football")
    assert any(r.startswith("excluded by 'fantasy' in title") for r in first.reasons)


def test_missing_all_terms_are_named(tmp_path: Path) -> None:
    rule = 'title = "X"\n[match]\nany = ["camera", "cameras"]\nall = ["police"]\n'
    rules = write_rules(tmp_path / "rules", cameras=rule)
    titles = [
        "Police install cameras at every crossroads",
        "Police cameras scan faces at the station",
        "Cameras at the station scan faces of travellers",  # no "police"
        "Weather: sunny spells and showers",
    ]
    store = [entry(n, t) for n, t in enumerate(titles)]
    result = review("cameras", rules, store, routes(rules, store, "cameras"))
    first = result.misses[0]
    assert first.title.startswith("Cameras at the station")
    assert "missing police" in first.reasons
    assert any(r.startswith("matched 'cameras' in title") for r in first.reasons)


def test_unrouted_feed_reviews_the_leftovers_and_says_which_feed_took_a_miss(
    rules: list[Rule], store: list[StoredEntry]
) -> None:
    store = [
        *store,
        entry(90, "Heavy rain expected to bring floods to northern towns"),
        entry(91, "Football match abandoned as heavy rain floods the pitch"),
    ]
    leftovers = routes(rules, store, "other")
    assert ("wire", "k90") in leftovers and ("wire", "k91") not in leftovers
    result = review("other", rules, store, leftovers)
    assert result.unrouted and result.members == len(leftovers)
    first = result.misses[0]
    assert first.key == "k91"
    assert first.reasons[0].startswith("taken by sport: matched 'football' in title")
    assert all(d.reasons == ("no other feed takes it",) for d in result.doubtful)
    assert format_review(result)[0].startswith("review other (unrouted feed)")


def test_an_empty_feed_says_there_is_nothing_to_compare_with(
    tmp_path: Path, store: list[StoredEntry]
) -> None:
    rules = write_rules(tmp_path / "rules", nothing='title = "N"\n[match]\nany = ["zeppelin"]\n')
    result = review("nothing", rules, store, set())
    assert result.members == 0 and not result.misses and not result.doubtful
    assert "nothing to compare with" in result.notes[0]
    lines = format_review(result)
    assert any("nothing to compare with" in line for line in lines)
    assert lines[0].startswith("review nothing (feed): 0 stored entries in the feed, 0 routed examples, ")
    one = dataclasses.replace(result, members=1, examples=1, total=1)
    assert format_review(one)[0].endswith(
        ": 1 stored entry in the feed, 1 routed example, 1 stored entry in all"
    )
    # An empty store, too.
    assert review("nothing", rules, [], set()).misses == ()


def test_routed_examples_alone_find_misses_for_a_feed_with_no_entries(tmp_path: Path) -> None:
    rule = """
title = "Surveillance"
[match]
any = ["panopticon"]
[[examples]]
title = "Police scan phones and faces with recognition cameras"
routed = true
"""
    rules = write_rules(tmp_path / "rules", surveillance=rule)
    store = [entry(n, t) for n, t in enumerate(["Cameras scan faces of travellers at stations", *NOISE])]
    result = review("surveillance", rules, store, set())
    assert result.members == 0 and result.examples == 1
    assert result.misses[0].title == "Cameras scan faces of travellers at stations"
    assert not result.doubtful


def test_a_member_alone_cannot_be_doubted(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", nothing='title = "N"\n[match]\nany = ["zeppelin"]\n')
    store = [entry(0, "Zeppelin flies over the city"), entry(1, "Rain again")]
    result = review("nothing", rules, store, {("wire", "k0")})
    assert result.doubtful == ()
    assert any("one member only" in note for note in result.notes)


def test_entries_of_other_sources_are_no_misses_of_a_feed_limited_to_some(tmp_path: Path) -> None:
    rule = 'title = "L"\nsources = ["wire"]\n[match]\nany = ["forced labour"]\n'
    rules = write_rules(tmp_path / "rules", labour=rule)
    store = [entry(n, t) for n, t in enumerate(LABOUR)]
    store += [entry(100, HIDDEN, source="blog"), entry(101, HIDDEN.replace("Cotton", "Tomato"))]
    result = review("labour", rules, store, routes(rules, store, "labour"))
    assert result.misses[0].source == "wire"
    assert "blog" not in {m.source for m in result.misses}


def test_stale_routes_are_pointed_out(rules: list[Rule], store: list[StoredEntry]) -> None:
    """When the store predates the rules, an entry the rule now takes is no miss to fix."""
    in_feed = routes(rules, store, "forced-labour") - {("wire", "k0")}
    result = review("forced-labour", rules, store, in_feed)
    stale = next(m for m in result.misses if m.key == "k0")
    assert "run `republisher reroute`" in stale.reasons[0]


def test_limit_and_unknown_feed(rules: list[Rule], store: list[StoredEntry]) -> None:
    in_feed = routes(rules, store, "forced-labour")
    assert len(review("forced-labour", rules, store, in_feed, limit=2).misses) == 2
    assert review("forced-labour", rules, store, in_feed, limit=0).misses == ()
    with pytest.raises(ConfigError, match=r"no derived feed named 'nope'.*forced-labour"):
        review("nope", rules, store, in_feed)


def test_format_review_lists_both_sections(rules: list[Rule], store: list[StoredEntry]) -> None:
    lines = format_review(review("forced-labour", rules, store, routes(rules, store, "forced-labour")))
    text = "\n".join(lines)
    assert "Likely misses" in text and "Doubtful members" in text
    assert "  1. " in text and HIDDEN in text
    assert "wire, 2024-03-01" in text


def test_markup_and_summaries_count_as_text(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules", forced_labour=LABOUR_RULE)
    store = [entry(n, t) for n, t in enumerate(LABOUR)]
    hidden = entry(
        50,
        "Inside the compound",
        summary="<p>Their <b>passports</b> were confiscated &amp; cotton quotas set</p>",
    )
    store += [hidden, *(entry(60 + n, t) for n, t in enumerate(NOISE))]
    result = review("forced-labour", rules, store, routes(rules, store, "forced-labour"))
    assert result.misses[0].title == "Inside the compound"
    assert "b" not in result.misses[0].shared  # a tag's name is no word


def test_terms_are_folded_words_and_adjacent_pairs_without_stop_words_or_numbers() -> None:
    found = terms(["The Uyghur café workers, 2024: forced-labour claims", "Labour party"])
    assert {"uyghur", "cafe", "workers", "forced", "labour", "claims", "party"} <= found
    assert {"uyghur cafe", "cafe workers", "forced labour", "labour claims"} <= found
    assert "the" not in found and "2024" not in found
    assert "workers forced" not in found  # a number stood between them
    assert "claims labour" not in found  # two texts are never joined
    assert singular("workers") == "worker" and singular("bodies") == "body"
    assert singular("press") == "press" and singular("census") == "census"
