"""`suggest`: the terms that set a feed apart from the rest of the store, ready for TOML."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.routing.match import Item, judge_all
from republisher.routing.rules import Rule, load_rules
from republisher.routing.suggest import format_suggestions, log_odds_z, suggest, toml_list

ORIGIN = SourceMeta("Wire", "urn:wire", "https://example.org/feed.xml", None, None)
START = datetime(2024, 3, 1, tzinfo=UTC)

LABOUR_RULE = """
title = "Forced labour"
[match]
any = ["forced labour", "forced labor", "cotton*"]

[[examples]]
title = "Cotton pickers describe forced labour on state farms"
routed = true
"""
OTHER_RULE = 'title = "Everything else"\nunrouted = true\n'

LABOUR = [
    "Forced labour: factory workers say their passports were confiscated by managers",
    "Report finds forced labour among cotton pickers unable to leave the dormitories",
    "Brands audit suppliers after forced labour found at textile factory",
    "Workers held in dormitories describe forced labour and confiscated passports",
    "Customs seize textile shipments over forced labour at factory",
    "Forced labour claims: passports confiscated, wages withheld from factory workers",
    "Cotton pickers used as forced labour, former workers tell investigators",
    "Forced labor in supply chains: factory workers cannot leave dormitories",
    "Passports confiscated at textile plant, investigators find forced labour",
    "Textile workers kept in guarded dormitories, forced labour report says",
    "Investigators trace forced labour in textile supply chains to factory dormitories",
    "Factory managers withheld wages and passports: forced labour inquiry",
    "Forced labour at textile factory: workers describe guarded dormitories",
    "Suppliers dropped after forced labour found among factory workers",
    "Former workers describe forced labour and withheld wages at textile mill",
    "Forced labour inquiry: textile workers unable to leave factory",
    "Customs hold textile goods made with forced labour, investigators say",
    "Forced labour: workers' passports kept by textile factory managers",
]
# Members about something else that the words "forced labour" took in: "a labour of love".
STRAYS = [
    "Chef calls sourdough baking a forced labour of love",
    "Gardener's allotment diary: a forced labour of love",
    "Marathon training was a forced labour of love, says runner",
]
NOISE = [
    "Football league leaders win again as striker scores twice",
    "Heavy rain floods roads across the region overnight",
    "Parliament debates budget as ministers trade blows over taxes",
    "Museum unveils restored paintings in spring exhibition",
    "Storm warning issued for coastal towns this weekend",
    "Train strikes disrupt commuters across the country",
    "Farmers market returns to the town square on Saturday",
    "Election campaign enters final week with televised debate",
    "Scientists map deep ocean currents with new robots",
    "Local council approves plan for new cycle lanes",
    "Heatwave brings record temperatures to the capital",
    "Orchestra announces summer concerts in the park",
    "Passport office warns of summer delays",
]
# Every entry carries the same byline: words everywhere set nothing apart.
BYLINE = "Reported by the wire service in 2024."


def entry(n: int, title: str) -> StoredEntry:
    when = START + timedelta(hours=n)
    data = EntryData(
        guid=f"urn:{n}",
        title=title,
        link=f"https://example.org/{n}",
        summary=BYLINE,
        content=None,
        author=None,
        published=when,
    )
    return StoredEntry("wire", f"k{n}", f"urn:{n}", when, when, data, ORIGIN)


def routes(rules: list[Rule], entries: list[StoredEntry], slug: str) -> set[tuple[str, str]]:
    found = set()
    for e in entries:
        for verdict in judge_all(rules, Item.from_entry(e.data, e.source)):
            if verdict.routed and verdict.slug == slug:
                found.add((e.source, e.key))
    return found


@pytest.fixture
def rules(tmp_path: Path) -> list[Rule]:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "forced-labour.toml").write_text(LABOUR_RULE, encoding="utf-8")
    (folder / "other.toml").write_text(OTHER_RULE, encoding="utf-8")
    return list(load_rules(folder).rules)


@pytest.fixture
def store() -> list[StoredEntry]:
    return [entry(n, title) for n, title in enumerate([*LABOUR, *STRAYS, *NOISE])]


def test_distinctive_vocabulary_ranks_first_with_counts(rules: list[Rule], store: list[StoredEntry]) -> None:
    result = suggest("forced-labour", rules, store, routes(rules, store, "forced-labour"))
    assert result.members == len(LABOUR) + len(STRAYS) and result.examples == 1
    ranked = [s.term for s in result.any]
    topic = {
        "forced",
        "forced labour",
        "labour",
        "workers",
        "factory",
        "passports",
        "confiscated",
        "textile",
        "dormitories",
        "investigators",
        "factory workers",
        "textile factory",
    }
    assert set(ranked[:6]) <= topic, ranked
    # Words every entry has (the byline) set nothing apart; numbers and stop words never appear.
    assert not {"reported", "wire", "service", "wire service", "2024", "the", "by"} & set(ranked)
    passports = next(s for s in result.any if s.term == "passports")
    assert (passports.inside, passports.outside) == (6, 0)  # "passport office" is another word
    confiscated = next(s for s in result.any if s.term == "confiscated")
    assert (confiscated.inside, confiscated.outside) == (4, 0)
    assert [s.z for s in result.any] == sorted((s.z for s in result.any), reverse=True)


def test_terms_the_rule_has_are_marked_and_left_out_of_the_toml(
    rules: list[Rule], store: list[StoredEntry]
) -> None:
    result = suggest("forced-labour", rules, store, routes(rules, store, "forced-labour"))
    by_term = {s.term: s for s in result.any}
    assert by_term["forced labour"].in_rule == "'forced labour'"
    assert by_term["factory"].in_rule is None
    # Any text holding the term is matched by the rule's term: "cotton*" covers "cotton pickers".
    assert by_term["cotton pickers"].in_rule == "'cotton*'"
    lines = format_suggestions(result)
    start = next(i for i, line in enumerate(lines) if line.startswith("any = ["))
    end = next(i for i in range(start, len(lines)) if lines[i].endswith("]"))
    pasted = tomllib.loads("\n".join(lines[start : end + 1]))["any"]
    assert pasted == [s.term for s in result.any if s.in_rule is None]
    assert "forced labour" not in pasted and "factory" in pasted


def test_none_candidates_come_from_the_doubtful_members(rules: list[Rule], store: list[StoredEntry]) -> None:
    result = suggest("forced-labour", rules, store, routes(rules, store, "forced-labour"))
    assert result.doubtful == 3
    candidates = {s.term: s for s in result.none}
    assert result.none[0].term == "love"
    assert (candidates["love"].inside, candidates["love"].outside) == (3, 0)
    # Never a term the rule takes, nor one of a routed example (a `none` would drop it).
    assert not {"forced labour", "forced", "labour", "cotton", "pickers"} & set(candidates)
    lines = format_suggestions(result)
    none_line = next(line for line in lines if line.startswith("none = ["))
    assert tomllib.loads(none_line)["none"][0] == "love"


def test_unrouted_feed(rules: list[Rule], store: list[StoredEntry]) -> None:
    leftovers = routes(rules, store, "other")
    result = suggest("other", rules, store, leftovers)
    assert result.unrouted and result.members == len(NOISE)
    assert result.none == () and any("unrouted" in note for note in result.notes)
    assert all(s.inside >= 1 for s in result.any)
    assert "could start a new feed" in "\n".join(format_suggestions(result))


def test_empty_feed_and_empty_store(rules: list[Rule], tmp_path: Path) -> None:
    store = [entry(n, title) for n, title in enumerate(NOISE)]
    folder = tmp_path / "rules2"
    folder.mkdir()
    (folder / "nothing.toml").write_text('title = "N"\n[match]\nany = ["zeppelin"]\n', encoding="utf-8")
    nothing = list(load_rules(folder).rules)
    result = suggest("nothing", nothing, store, set())
    assert result.any == () and result.none == ()
    assert "nothing to compare with" in result.notes[0]
    assert any("nothing to compare with" in line for line in format_suggestions(result))
    assert suggest("nothing", nothing, [], set()).any == ()
    # A feed known only by its routed example still gets terms.
    only_example = suggest("forced-labour", rules, store, set())
    assert only_example.members == 0 and only_example.examples == 1
    found = {s.term for s in only_example.any}
    assert {"cotton pickers", "state farms"} <= found
    # A word seen only in a phrase adds nothing to the phrase: it is left out.
    assert "pickers" not in found


def test_a_small_feed_gets_no_none_candidates(rules: list[Rule]) -> None:
    store = [entry(n, title) for n, title in enumerate([*LABOUR[:4], *NOISE])]
    result = suggest("forced-labour", rules, store, routes(rules, store, "forced-labour"))
    assert result.none == () and result.doubtful == 0
    assert any("too few" in note for note in result.notes)


def test_log_odds_z() -> None:
    # The same rate in both groups: no lead either way.
    assert log_odds_z(10, 1000, 100, 10000, 110, 11000) == pytest.approx(0.0, abs=1e-12)
    # Over-represented in the first group: positive, and more so with more evidence.
    low = log_odds_z(5, 1000, 5, 10000, 10, 11000)
    high = log_odds_z(50, 1000, 50, 10000, 100, 11000)
    assert 0 < low < high
    assert log_odds_z(1, 1000, 100, 10000, 101, 11000) < 0


def test_toml_list_wraps_and_parses() -> None:
    values = [f"term number {n}" for n in range(20)] + ['with "quotes"', "café"]
    lines = toml_list("any", values, width=60)
    assert len(lines) > 3 and all(len(line) <= 60 for line in lines)
    assert tomllib.loads("\n".join(lines))["any"] == values
    assert toml_list("none", ["a"]) == ['none = ["a"]']
