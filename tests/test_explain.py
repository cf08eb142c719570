"""`explain` quotes the text around where each term actually matched, as the source wrote it.

It used to quote the first place the phrase's first word occurred as a substring of the
folded text ("matched 'foreign office' in summary: The foreign press corps was told…"),
which is wrong for multi-word phrases, prefixes, words inside other words ("xi" in
"Xinjiang"), and after folding changed the text's length (ß -> ss, ligatures).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Project
from hypothesis import given, settings
from hypothesis import strategies as st

from republisher import text
from republisher.cli import main
from republisher.models import Category, EntryData
from republisher.routing.match import Hit, Item, judge
from republisher.routing.rules import Field, Group, Rule, compile_term

PADDING = "and then, after a long and winding paragraph of unrelated words, "  # > excerpt width


def rule(*terms: str, none: tuple[str, ...] = ()) -> Rule:
    group = Group(
        any=tuple(compile_term(t) for t in terms), none=tuple(compile_term(t) for t in none) or None
    )
    return Rule("r", Path("r.toml"), "R", "", None, group, False, ())


def item(title: str = "", summary: str = "", categories: tuple[str, ...] = ()) -> Item:
    entry = EntryData(
        guid=None,
        title=title,
        link=None,
        summary=summary,
        content=None,
        author=None,
        categories=tuple(Category(term=c) for c in categories),
    )
    return Item.from_entry(entry, "s")


def only_hit(term: str, summary: str) -> Hit:
    verdict = judge(rule(term), item(summary=summary))
    assert verdict.routed
    (hit,) = verdict.matched
    assert hit.field is Field.SUMMARY
    return hit


# (term, summary, what the excerpt must quote, what it must not: the decoy the old code quoted)
CASES = {
    "two-word phrase after its first word alone": (
        "foreign office",
        "The foreign press corps was told, " + PADDING + "that the Foreign Office had summoned the envoy.",
        "the Foreign Office had summoned",
        "The foreign press",
    ),
    "first word inside another word": (
        "Xi Jinping",
        "Xinjiang officials said, " + PADDING + "that Xi Jinping would visit in May.",
        "that Xi Jinping would",
        "Xinjiang officials",
    ),
    "prefix phrase": (
        "labour transfer*",
        "Labour shortages hit farms, " + PADDING + "while Labour-transfer schemes moved thousands.",
        "while Labour-transfer schemes",
        "Labour shortages",
    ),
    "single word that also occurs inside a longer word": (
        "camp",
        "A campaign began, " + PADDING + "near the camp gates in Hotan.",
        "near the camp gates",
        "A campaign",
    ),
    "ß folds to two letters before the match": (
        "facial recognition",
        "Start: " + "Grüße aus der Straße; " * 20 + "facial-recognition cameras.",  # folds 40 longer
        "facial-recognition cameras",
        "Start",
    ),
    "ligature folds to two letters before the match": (
        "summoned",
        "Start: " + "ﬁnal ﬁles, " * 20 + "the envoy was summoned at dawn.",  # folds 40 longer
        "envoy was summoned at dawn",
        "Start",
    ),
    "accented text is quoted with its accents": (
        "cameras",
        "Les caméras de Kashgar",
        "Les caméras de Kashgar",
        "cameras",
    ),
    "curly quotes and markup are quoted as plain text": (
        "re-education camp",
        "<p>She spent a year in a <b>‘re-education’</b> camp near Aksu.</p>",
        "‘re-education’ camp near Aksu",
        "<b>",
    ),
    "regex": (
        r"/summon\w+/",
        "Summer came; " + PADDING + "the ambassador was summoned.",
        "was summoned",
        "Summer came",
    ),
}


@pytest.mark.parametrize(("term", "summary", "quoted", "not_quoted"), CASES.values(), ids=list(CASES))
def test_excerpt_quotes_where_the_term_matched(term: str, summary: str, quoted: str, not_quoted: str) -> None:
    hit = only_hit(term, summary)
    assert quoted in hit.excerpt
    assert not_quoted not in hit.excerpt


def test_excerpt_names_the_field_and_the_category_that_matched() -> None:
    verdict = judge(
        rule("police cloud"), item(title="Cloud costs", categories=("Police", "Police cloud data"))
    )
    (hit,) = verdict.matched
    assert hit.field is Field.CATEGORIES and hit.excerpt == "Police cloud data"


def test_exclusions_quote_where_they_matched() -> None:
    summary = "Brand new: " + PADDING + "the pop star was named brand ambassador for a label."
    verdict = judge(rule("ambassador", none=("brand ambassador",)), item(summary=summary))
    assert not verdict.routed
    (hit,) = verdict.excluded_by
    assert "named brand ambassador for" in hit.excerpt and "Brand new" not in hit.excerpt


def test_word_spans_point_into_the_original_text() -> None:
    original = "Die Straße, ‘ﬁne’ CAFÉS — x_y"
    spans = text.word_spans(original)
    assert spans is not None
    assert [w for w, _, _ in spans] == text.words(original)
    assert [original[a:b] for _, a, b in spans] == ["Die", "Straße", "ﬁne", "CAFÉS", "x", "y"]


def test_word_spans_follow_accents_written_as_separate_marks() -> None:
    # Folding drops a combining accent written apart, as it drops a precomposed one, so
    # folding one character at a time splits the words as folding the whole text does.
    assert text.words("cafe\u0301s é") == ["cafes", "e"]
    spans = text.word_spans("cafe\u0301s é")
    assert spans is not None
    assert [("cafe\u0301s é")[a:b] for _, a, b in spans] == ["cafe\u0301s", "é"]
    hit = only_hit("cafes", "cafe\u0301s é")
    assert hit.excerpt.startswith("cafe")


WORDS = ["camera", "Caméra", "facial", "recognition", "Straße", "strasse", "ﬁle", "labour", "lab", "x"]
SEPARATORS = [" ", "-", " – ", ", ", "’", ". ", "/"]


@st.composite
def texts_and_phrases(draw: st.DrawFn) -> tuple[str, str]:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=15))
    summary = "".join(w + draw(st.sampled_from(SEPARATORS)) for w in words)
    start = draw(st.integers(0, len(words) - 1))
    length = draw(st.integers(1, min(3, len(words) - start)))
    phrase = " ".join(words[start : start + length])
    if draw(st.booleans()):
        phrase = phrase[: max(1, len(phrase) - 2)] + "*"
    return summary, phrase


@settings(max_examples=300, deadline=None)
@given(texts_and_phrases())
def test_the_excerpt_always_holds_the_matched_phrase(case: tuple[str, str]) -> None:
    summary, phrase = case
    term = compile_term(phrase)
    if not judge(rule(phrase), item(summary=summary)).routed:
        return  # a cut prefix can end in a separator; nothing to quote then
    hit = only_hit(phrase, summary)
    quoted = " " + " ".join(text.words(hit.excerpt.strip("…"))) + ("" if phrase.endswith("*") else " ")
    assert " " + " ".join(term.words) in quoted  # type: ignore[union-attr]


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>https://news.example/</link><description>d</description>
<item><title>Envoy summoned</title><link>https://news.example/envoy</link><guid>envoy</guid>
<description>The foreign press corps was told on Monday, after a long briefing on other matters entirely, that the Foreign Office had summoned China's envoy.</description></item>
</channel></rss>"""


def test_the_explain_command_quotes_the_phrase(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    feed = project.root / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    project.write_config({"news": str(feed)})
    (project.rules / "fo.toml").write_text(
        'title = "FO"\n[match]\nany = ["foreign office"]\n', encoding="utf-8"
    )
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "explain", "https://news.example/envoy"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "matched 'foreign office'" in line)
    assert "in summary: …" in line and "the Foreign Office had summoned" in line
    assert "The foreign press" not in line


TRACKED = RSS.replace("https://news.example/envoy", "https://news.example/envoy?utm_source=rss&amp;id=7#top")


@pytest.mark.parametrize(
    "given",
    [
        "https://news.example/envoy?id=7",  # without the tracking parameter and fragment
        "http://www.news.example/envoy?id=7&utm_medium=x",  # another scheme, www, other tracking
        "https://NEWS.example/envoy?utm_campaign=y&id=7#elsewhere",
    ],
)
def test_explain_finds_an_entry_by_its_link_as_a_reader_has_it(
    project: Project, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    feed = project.root / "feed.xml"
    feed.write_text(TRACKED, encoding="utf-8")
    project.write_config({"news": str(feed)})
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "explain", given]) == 0
    assert "Envoy summoned" in capsys.readouterr().out
    # Another page of the same site is not that entry.
    assert main(["--config", config, "explain", "https://news.example/envoy?id=8"]) == 1
