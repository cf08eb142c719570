"""The rule engine: term and group semantics, validation of rule files, shipped rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from republisher.config import load_config
from republisher.errors import ConfigError
from republisher.models import Category, EntryData
from republisher.routing.match import Item, failing_examples, route
from republisher.routing.rules import Field, RuleSet, load_rules

REPO = Path(__file__).resolve().parent.parent
SHIPPED_RULES = REPO / "rules"


def load(tmp_path: Path, files: dict[str, str], source_names: list[str] | None = None) -> RuleSet:
    """Write each {slug: toml} to tmp_path/rules/<slug>.toml and load the folder."""
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for slug, toml in files.items():
        (folder / f"{slug}.toml").write_text(toml, encoding="utf-8")
    return load_rules(folder, source_names)


def routed_to(
    rules: RuleSet,
    *,
    source: str = "guardian-uighurs",
    title: str = "",
    summary: str | None = None,
    content: str | None = None,
    categories: tuple[str, ...] = (),
    author: str | None = None,
    link: str | None = None,
) -> set[str]:
    """Slugs of the derived feeds that take an entry built from these fields."""
    entry = EntryData(
        guid=None,
        title=title,
        link=link,
        summary=summary,
        content=content,
        author=author,
        categories=tuple(Category(term=c) for c in categories),
    )
    return set(route(rules.rules, Item.from_entry(entry, source)))


def toml_string(value: str) -> str:
    # A JSON string (ASCII, \u escapes) is also a valid TOML basic string.
    return json.dumps(value)


# --- terms -------------------------------------------------------------------------------------

# (summary HTML, term, matches)
TERM_CASES: dict[str, tuple[str, str, bool]] = {
    "exact word": ("a new camera in the square", "camera", True),
    "whole words: cam is not camera": ("a new camera in the square", "cam", False),
    "whole words: singular is not plural": ("cameras in the square", "camera", False),
    "whole words: not inside a word": ("he said so", "ai", False),
    "whole words: phrase not followed by more letters": ("forced labourers", "forced labour", False),
    "case-insensitive text": ("XINJIANG police", "xinjiang", True),
    "case-insensitive term": ("cctv footage", "CCTV", True),
    "accent in text only": ("les caméras de Kashgar", "cameras", True),
    "accent in term only": ("more cameras in Kashgar", "caméras", True),
    "Uighur term, Uíghur text": ("Uíghur families", "Uighur", True),
    "Uíghur term, Uighur text": ("Uighur families", "Uíghur", True),
    "other letters still differ": ("Uyghur families", "Uighur", False),
    "ß in text folds to ss": ("die Straße", "strasse", True),
    "ß in term folds to ss": ("STRASSE", "straße", True),
    "hyphen equals space": ("facial-recognition cameras", "facial recognition", True),
    "em dash equals space": ("facial—recognition cameras", "facial recognition", True),
    "run of spaces equals space": ("facial   recognition cameras", "facial recognition", True),
    "line break equals space": ("facial\nrecognition cameras", "facial recognition", True),
    "full stop equals space": ("facial.recognition", "facial recognition", True),
    "hyphen in term equals space in text": ("emotion recognition tech", "emotion-recognition", True),
    "phrase words must be in order": ("recognition, facial", "facial recognition", False),
    "phrase words must be adjacent": ("facial and voice recognition", "facial recognition", False),
    "straight quote term, curly text": ("China’s camps", "China's", True),
    "curly quote term, straight text": ("China's camps", "China’s", True),
    "curly double quotes around the phrase": ("“forced labour” claims", "forced labour", True),
    "prefix matches a longer word": ("mass surveillance", "surveil*", True),
    "prefix matches the bare word": ("to surveil people", "surveil*", True),
    "prefix starts at a word start": ("to resurveil people", "surveil*", False),
    "prefix phrase: last word extended": ("labour transfers", "labour transfer*", True),
    "prefix phrase: hyphenated": ("labour-transfer programmes", "labour transfer*", True),
    "prefix phrase: first word is whole": ("hardlabour transfers", "labour transfer*", False),
    "prefix phrase: words in order": ("transfers of labour", "labour transfer*", False),
    "regex matches": ("Uyghurs in Turkey", "/u[iy]ghurs?/", True),
    "regex is case-insensitive": ("UYGHUR families", "/uyghur/", True),
    "regex can fail": ("Uzbek families", "/u[iy]ghur/", False),
    "regex sees the text": ("Section 301 tariffs", r"/section\s+\d+/", True),
    "text inside inline tags matches": ("<p>forced <em>labour</em></p>", "forced labour", True),
    "tag name never matches": ("<p>police <strong>raids</strong></p>", "strong", False),
    "attribute name never matches": ('<a href="https://example.org/">a story</a>', "href", False),
    "class attribute name never matches": ('<p class="lead">a story</p>', "class", False),
    "attribute value never matches": ('<p class="surveillance">a story</p>', "surveillance", False),
    "alt text is an attribute value": ('<img alt="surveillance camera" src="a.jpg">', "surveillance", False),
    "URL in an attribute never matches": (
        '<a href="https://example.org/forced-labour">read more</a>',
        "forced labour",
        False,
    ),
    "regex never sees an attribute": (
        '<a href="https://example.org/forced-labour">more</a>',
        "/forced/",
        False,
    ),
    "&amp; is punctuation between words": ("Marks &amp; Spencer", "Marks Spencer", True),
    "&amp; is not the word amp": ("Marks &amp; Spencer", "amp", False),
    "named entity decoded": ("caf&eacute; owners", "cafe", True),
    "numeric entity decoded": ("caf&#233; owners", "café", True),
    "&nbsp; is a space": ("facial&nbsp;recognition", "facial recognition", True),
}


@pytest.mark.parametrize(("summary", "term", "expected"), TERM_CASES.values(), ids=TERM_CASES.keys())
def test_term(tmp_path: Path, summary: str, term: str, expected: bool) -> None:
    rules = load(tmp_path, {"feed": f'title = "Feed"\n[match]\nany = [{toml_string(term)}]\n'})
    assert routed_to(rules, summary=summary) == ({"feed"} if expected else set())


CATEGORY_CASES: dict[str, tuple[tuple[str, ...], bool]] = {
    "phrase within one category": (("Surveillance", "Facial recognition"), True),
    "phrase does not span two categories": (("Facial", "Recognition"), False),
}


@pytest.mark.parametrize(("categories", "expected"), CATEGORY_CASES.values(), ids=CATEGORY_CASES.keys())
def test_phrase_in_categories(tmp_path: Path, categories: tuple[str, ...], expected: bool) -> None:
    rules = load(tmp_path, {"feed": 'title = "Feed"\n[match]\nany = ["facial recognition"]\n'})
    assert routed_to(rules, categories=categories) == ({"feed"} if expected else set())


# --- groups ------------------------------------------------------------------------------------

# ([match] body, entry fields, routed)
GROUP_CASES: dict[str, tuple[str, dict[str, object], bool]] = {
    "any: one term is enough": ('any = ["cotton", "tomato"]', {"title": "Tomato harvest"}, True),
    "any: no term matches": ('any = ["cotton", "tomato"]', {"title": "Wheat harvest"}, False),
    "all: every term present": ('all = ["cotton", "forced"]', {"title": "Cotton pickers forced"}, True),
    "all: one term missing": ('all = ["cotton", "forced"]', {"title": "Cotton prices"}, False),
    "all: terms may sit in different fields": (
        'all = ["cotton", "forced"]',
        {"title": "Cotton harvest", "summary": "Pickers were forced"},
        True,
    ),
    "none: excluded": ('any = ["cotton"]\nnone = ["review"]', {"title": "Cotton review"}, False),
    "none: absent": ('any = ["cotton"]\nnone = ["review"]', {"title": "Cotton harvest"}, True),
    "any and all must both hold": ('any = ["xinjiang"]\nall = ["cotton"]', {"title": "Xinjiang news"}, False),
    "nested all inside any: holds": (
        'any = ["slavery", { all = ["cotton", "forced"] }]',
        {"title": "Cotton pickers forced"},
        True,
    ),
    "nested all inside any: half": (
        'any = ["slavery", { all = ["cotton", "forced"] }]',
        {"title": "Cotton pickers"},
        False,
    ),
    "nested any inside all": (
        'all = [{ any = ["cotton", "tomato"] }, { any = ["forced", "coerced"] }]',
        {"title": "Coerced tomato pickers"},
        True,
    ),
    "nested none: excluded": (
        'any = [{ any = ["ambassador"], none = ["brand ambassador"] }]',
        {"title": "Pop star named brand ambassador"},
        False,
    ),
    "nested none: not excluded": (
        'any = [{ any = ["ambassador"], none = ["brand ambassador"] }]',
        {"title": "UK ambassador summoned"},
        True,
    ),
    "three levels deep": (
        'all = [{ any = [{ all = ["deep", "nested"] }] }]',
        {"title": "Deep and nested"},
        True,
    ),
    "none limited to title: word only in summary": (
        'any = ["cotton"]\nnone = [{ any = ["review"], fields = ["title"] }]',
        {"title": "Cotton harvest", "summary": "A review of the year"},
        True,
    ),
    "none limited to title: word in title": (
        'any = ["cotton"]\nnone = [{ any = ["review"], fields = ["title"] }]',
        {"title": "Cotton review"},
        False,
    ),
    "match fields: term outside them": (
        'fields = ["title"]\nany = ["cotton"]',
        {"title": "Harvest", "summary": "cotton"},
        False,
    ),
    "match fields: term inside them": ('fields = ["title"]\nany = ["cotton"]', {"title": "Cotton"}, True),
    "fields inherited by a nested group": (
        'fields = ["title"]\nany = [{ all = ["cotton", "forced"] }]',
        {"title": "Cotton harvest", "summary": "Pickers were forced"},
        False,
    ),
    "nested group's own fields override": (
        'fields = ["title"]\nany = [{ any = ["forced"], fields = ["summary"] }]',
        {"title": "Cotton harvest", "summary": "Pickers were forced"},
        True,
    ),
    "default fields include content": ('any = ["cotton"]', {"content": "<p>Cotton</p>"}, True),
    "default fields include categories": ('any = ["cotton"]', {"categories": ("Cotton",)}, True),
    "default fields leave out author": ('any = ["smith"]', {"author": "Jane Smith"}, False),
    "author field": ('fields = ["author"]\nany = ["smith"]', {"author": "Jane Smith"}, True),
    "default fields leave out link": (
        'any = ["forced labour"]',
        {"link": "https://e.org/forced-labour"},
        False,
    ),
    "link field": (
        'fields = ["link"]\nany = ["forced labour"]',
        {"link": "https://e.org/forced-labour"},
        True,
    ),
}


@pytest.mark.parametrize(("match", "fields", "expected"), GROUP_CASES.values(), ids=GROUP_CASES.keys())
def test_group(tmp_path: Path, match: str, fields: dict[str, object], expected: bool) -> None:
    rules = load(tmp_path, {"feed": f'title = "Feed"\n[match]\n{match}\n'})
    assert routed_to(rules, **fields) == ({"feed"} if expected else set())  # type: ignore[arg-type]


COTTON = 'title = "Cotton"\n[match]\nany = ["cotton"]\n'
BANS = 'title = "Bans"\n[match]\nany = ["import ban*"]\n'
UNROUTED = 'title = "Everything else"\nunrouted = true\n'
BBC_COTTON = 'title = "BBC cotton"\nsources = ["bbc"]\n[match]\nany = ["cotton"]\n'

# (rule files, item source, item title, feeds that take it)
ROUTING_CASES: dict[str, tuple[dict[str, str], str, str, set[str]]] = {
    "sources: item from a listed source": ({"bbc-cotton": BBC_COTTON}, "bbc", "Cotton news", {"bbc-cotton"}),
    "sources: item from another source": ({"bbc-cotton": BBC_COTTON}, "guardian", "Cotton news", set()),
    "item lands in two feeds": (
        {"cotton": COTTON, "bans": BANS},
        "guardian",
        "US import bans on Xinjiang cotton",
        {"cotton", "bans"},
    ),
    "item lands in one of two feeds": (
        {"cotton": COTTON, "bans": BANS},
        "guardian",
        "Cotton prices",
        {"cotton"},
    ),
    "unrouted takes an item no feed took": (
        {"cotton": COTTON, "other": UNROUTED},
        "guardian",
        "Weather",
        {"other"},
    ),
    "unrouted leaves an item another feed took": (
        {"cotton": COTTON, "other": UNROUTED},
        "guardian",
        "Cotton prices",
        {"cotton"},
    ),
    "unrouted takes an item refused for its source": (
        {"bbc-cotton": BBC_COTTON, "other": UNROUTED},
        "guardian",
        "Cotton news",
        {"other"},
    ),
    "unrouted feed limited to its sources": (
        {"cotton": COTTON, "other": 'title = "Other"\nunrouted = true\nsources = ["bbc"]\n'},
        "guardian",
        "Weather",
        set(),
    ),
}


@pytest.mark.parametrize(
    ("files", "source", "title", "expected"), ROUTING_CASES.values(), ids=ROUTING_CASES.keys()
)
def test_routing(tmp_path: Path, files: dict[str, str], source: str, title: str, expected: set[str]) -> None:
    assert routed_to(load(tmp_path, files), source=source, title=title) == expected


# --- validation --------------------------------------------------------------------------------

OK_MATCH = '[match]\nany = ["cotton"]\n'

# (rule file, "key: start of the message" expected after the file's path)
INVALID_CASES: dict[str, tuple[str, str]] = {
    "bad regex": ('title = "T"\n[match]\nany = ["/(unclosed/"]\n', "match.any[0]: bad regex"),
    "bad regex in a nested group": (
        'title = "T"\n[match]\nany = ["ok", { all = ["/[a-/"] }]\n',
        "match.any[1].all[0]: bad regex",
    ),
    "regex matching the empty string": (
        'title = "T"\n[match]\nany = ["/x*/"]\n',
        "match.any[0]: regex matches the empty string",
    ),
    "empty [match]": ('title = "T"\n[match]\n', "match: empty group"),
    "missing [match]": ('title = "T"\n', "match: missing"),
    "match is not a table": ('title = "T"\nmatch = "cotton"\n', "match: expected a table"),
    "empty any list": ('title = "T"\n[match]\nany = []\n', "match.any: empty list"),
    "empty nested group": ('title = "T"\n[match]\nany = [{}]\n', "match.any[0]: empty group"),
    "unknown top-level key": (f'title = "T"\ncolour = "red"\n{OK_MATCH}', "colour: unknown key"),
    "unknown key in match": ('title = "T"\n[match]\nany = ["x"]\nanny = ["y"]\n', "match.anny: unknown key"),
    "unknown key in a nested group": (
        'title = "T"\n[match]\nany = [{ anny = ["x"] }]\n',
        "match.any[0].anny: unknown key",
    ),
    "title is not a string": (f"title = 3\n{OK_MATCH}", "title: expected string, got integer"),
    "any is not a list": (
        'title = "T"\n[match]\nany = "x"\n',
        "match.any: expected an array of terms, got string",
    ),
    "term is neither string nor group": (
        'title = "T"\n[match]\nany = [3]\n',
        "match.any[0]: expected a string or a group",
    ),
    "unknown field": (
        'title = "T"\n[match]\nfields = ["body"]\nany = ["x"]\n',
        "match.fields[0]: unknown field 'body'",
    ),
    "unknown field in a nested group": (
        'title = "T"\n[match]\nany = [{ any = ["x"], fields = ["titel"] }]\n',
        "match.any[0].fields[0]: unknown field 'titel'",
    ),
    "fields is not a list": (
        'title = "T"\n[match]\nfields = "title"\nany = ["x"]\n',
        "match.fields: expected an array of strings, got string",
    ),
    "none alone at top level": ('title = "T"\n[match]\nnone = ["x"]\n', "match: only `none`"),
    "phrase with no letters": (
        'title = "T"\n[match]\nany = ["!!!"]\n',
        "match.any[0]: phrase '!!!' has no letters",
    ),
    "prefix with no letters": (
        'title = "T"\n[match]\nany = ["*"]\n',
        "match.any[0]: phrase '*' has no letters",
    ),
    "unknown source": (f'title = "T"\nsources = ["bbc"]\n{OK_MATCH}', "sources[0]: no source named 'bbc'"),
    "sources is not a list": (
        f'title = "T"\nsources = "guardian-uighurs"\n{OK_MATCH}',
        "sources: expected an array of strings, got string",
    ),
    "example missing routed": (
        f'title = "T"\n{OK_MATCH}[[examples]]\ntitle = "x"\n',
        "examples[0].routed: missing",
    ),
    "example routed not a bool": (
        f'title = "T"\n{OK_MATCH}[[examples]]\ntitle = "x"\nrouted = "yes"\n',
        "examples[0].routed: ",
    ),
    "example with an unknown key": (
        f'title = "T"\n{OK_MATCH}[[examples]]\ntitle = "x"\nrouted = true\nroutd = true\n',
        "examples[0].routd: unknown key",
    ),
    "unrouted with a [match]": (f'title = "T"\nunrouted = true\n{OK_MATCH}', "match: a feed with unrouted"),
    "unrouted is not a bool": (
        f'title = "T"\nunrouted = "yes"\n{OK_MATCH}',
        "unrouted: expected boolean (true or false), got string",
    ),
}


@pytest.mark.parametrize(("toml", "expected"), INVALID_CASES.values(), ids=INVALID_CASES.keys())
def test_invalid_rule_file(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"feed": toml}, source_names=["guardian-uighurs"])
    path = tmp_path / "rules" / "feed.toml"
    assert f"{path}: {expected}" in str(caught.value)


def test_valid_rule_file_naming_a_known_source_loads(tmp_path: Path) -> None:
    toml = (
        f'title = "T"\nsources = ["guardian-uighurs"]\n{OK_MATCH}[[examples]]\ntitle = "x"\nrouted = false\n'
    )
    rules = load(tmp_path, {"feed": toml}, source_names=["guardian-uighurs"])
    assert rules.slugs == ("feed",)
    assert rules.rules[0].sources == {"guardian-uighurs"}


def test_every_broken_file_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            {
                "a": 'title = "A"\n[match]\nany = ["/(/"]\n',
                "b": f'title = "B"\ncolour = "red"\n{OK_MATCH}',
                "c": f'title = "C"\n{OK_MATCH}',
            },
        )
    problems = caught.value.problems
    folder = tmp_path / "rules"
    assert any(p.startswith(f"{folder / 'a.toml'}: match.any[0]: bad regex") for p in problems)
    assert any(p.startswith(f"{folder / 'b.toml'}: colour: unknown key") for p in problems)
    assert not any(str(folder / "c.toml") in p for p in problems)


def test_several_problems_in_one_file_are_all_reported(tmp_path: Path) -> None:
    toml = 'title = 3\ncolour = "red"\n[match]\nany = ["/(/", "!!!"]\n'
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"feed": toml})
    keys = [p.split(": ")[1] for p in caught.value.problems]
    assert {"title", "colour", "match.any[0]", "match.any[1]"} <= set(keys)


def test_files_starting_with_underscore_are_not_feeds(tmp_path: Path) -> None:
    rules = load(tmp_path, {"_terms": '[terms]\nx = ["y"]\n', "feed": f'title = "T"\n{OK_MATCH}'})
    assert rules.slugs == ("feed",)


def test_a_broken_term_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"_terms\.toml: TOML syntax error"):
        load(tmp_path, {"_terms": "this is not TOML [", "feed": f'title = "T"\n{OK_MATCH}'})


# --- named term lists ----------------------------------------------------------------------------

TERMS = """
[terms]
uighur = ["Uighur*", "Uyghur*", "Uigur*"]
region = ["Xinjiang", "East Turkestan", "@uighur"]
"""


@pytest.mark.parametrize(
    ("match", "title", "routed"),
    [
        ('any = ["@uighur"]', "Uyghurs in exile", True),
        ('any = ["@uighur"]', "Tibetans in exile", False),
        ('any = ["@region"]', "Uigur families", True),
        ('any = ["@region"]', "East-Turkestan independence", True),
        ('all = ["@uighur", "camera*"]', "Cameras watch Uyghur homes", True),
        ('all = ["@uighur", "camera*"]', "Cameras watch homes", False),
        ('any = ["camera*"]\nnone = ["@uighur"]', "Cameras watch Uighur homes", False),
        ('any = [{ any = ["@uighur"], fields = ["summary"] }]', "Uighur in the title only", False),
    ],
    ids=[
        "list in any",
        "list does not match",
        "list using a list",
        "list phrase with hyphen",
        "list in all means any of its terms",
        "list in all missing",
        "list in none excludes",
        "list inherits the group's fields",
    ],
)
def test_named_term_lists(tmp_path: Path, match: str, title: str, routed: bool) -> None:
    rules = load(tmp_path, {"_terms": TERMS, "feed": f'title = "T"\n[match]\n{match}\n'})
    assert (routed_to(rules, title=title) == {"feed"}) is routed


@pytest.mark.parametrize(
    ("terms", "match", "expected"),
    [
        (
            TERMS,
            'any = ["@nope"]',
            "feed.toml: match.any[0]: unknown term list '@nope' (defined: @region, @uighur)",
        ),
        (
            '[terms]\na = ["@b"]\nb = ["@a"]\n',
            'any = ["@a"]',
            "terms.a: term lists refer to each other in a cycle: @a -> @b -> @a",
        ),
        ('[terms]\na = ["ok", "/(bad/"]\n', 'any = ["@a"]', "_terms.toml: terms.a[1]: bad regex"),
        ("[terms]\na = []\n", 'any = ["@a"]', "_terms.toml: terms.a: empty list"),
        ('[terms]\na = ["x"]\n[other]\n', 'any = ["@a"]', "_terms.toml: other: unknown key"),
    ],
    ids=["unknown list", "cycle", "bad regex in a list", "empty list", "unknown table"],
)
def test_term_list_errors_are_located(tmp_path: Path, terms: str, match: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"_terms": terms, "feed": f'title = "T"\n[match]\n{match}\n'})
    assert expected in str(caught.value)


def test_editing_a_term_list_changes_the_fingerprint(tmp_path: Path) -> None:
    files = {"_terms": TERMS, "feed": 'title = "T"\n[match]\nany = ["@uighur"]\n'}
    before = load(tmp_path, files).fingerprint
    files["_terms"] = TERMS.replace('"Uigur*"', '"Ouighour*"')
    assert load(tmp_path, files).fingerprint != before


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"feed": f'title = "T"\nsubtitle = = "S"\n{OK_MATCH}'})
    message = str(caught.value)
    assert str(tmp_path / "rules" / "feed.toml") in message
    assert "line 2" in message


@pytest.mark.parametrize(
    "ending",
    ['[match]\nany = ["a", "b",\n', '[match]\nany = ["a", "b",\n\n\n', "[match]\nany = {fields = [\n"],
    ids=["unclosed array", "unclosed array, blank lines after", "unclosed inline table"],
)
def test_toml_left_open_at_the_end_names_the_last_line(tmp_path: Path, ending: str) -> None:
    """tomllib says only "at end of document" for something left open: the message says
    after which line, and what may be unfinished."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"feed": f'title = "T"\n{ending}'})
    message = str(caught.value)
    assert str(tmp_path / "rules" / "feed.toml") in message
    assert "after line 3" in message and "left unfinished" in message


# --- examples ----------------------------------------------------------------------------------

SHIPPED_FILES = sorted(p for p in SHIPPED_RULES.glob("*.toml") if not p.name.startswith("_"))


def test_shipped_rules_pass_their_examples() -> None:
    sources = [s.name for s in load_config(REPO / "config.toml").sources]
    rules = load_rules(SHIPPED_RULES, sources)
    failures = [(f.rule.slug, f.example.title) for f in failing_examples(rules.rules)]
    assert failures == []
    assert len(rules.rules) == len(SHIPPED_FILES) > 0


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=[p.stem for p in SHIPPED_FILES])
def test_shipped_rule_has_enough_examples(path: Path) -> None:
    rule = next(r for r in load_rules(SHIPPED_RULES).rules if r.path == path)
    assert len(rule.examples) >= 20
    assert sum(not e.routed for e in rule.examples) * 3 >= len(rule.examples), "a third are counter-examples"


def test_failing_example_is_reported_with_the_matched_term(tmp_path: Path) -> None:
    toml = (
        'title = "Cotton"\n[match]\nany = ["cotton"]\n'
        '[[examples]]\ntitle = "Cotton pickers forced to work"\nrouted = true\n'
        '[[examples]]\ntitle = "Cotton prices fall"\nrouted = false\n'
    )
    failures = failing_examples(load(tmp_path, {"cotton": toml}).rules)
    assert [f.example.title for f in failures] == ["Cotton prices fall"]
    verdict = failures[0].verdict
    assert verdict.routed is True
    assert [(hit.term, hit.field) for hit in verdict.matched] == [("cotton", Field.TITLE)]


def test_failing_example_of_an_unrouted_feed(tmp_path: Path) -> None:
    """An unrouted feed's examples are judged against the other feeds too."""
    other = UNROUTED + '[[examples]]\ntitle = "Cotton prices fall"\nrouted = true\n'
    failures = failing_examples(load(tmp_path, {"cotton": COTTON, "other": other}).rules)
    assert [(f.rule.slug, f.example.title) for f in failures] == [("other", "Cotton prices fall")]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("max_entries = 0", "max_entries: must be at least 1, got 0"),
        ('max_entries = "5"', "max_entries: expected integer, got string"),
        ('max_age = "soon"', "max_age: bad duration 'soon'"),
        ("max_age = 30", "max_age: expected string (a duration such as"),
        ('merge_duplicates = "yes"', "merge_duplicates: expected boolean (true or false)"),
    ],
    ids=["zero entries", "entries as text", "bad duration", "age as a number", "merge not a bool"],
)
def test_retention_keys_are_checked(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"feed": f'title = "T"\n{extra}\n{OK_MATCH}'})
    assert f"feed.toml: {expected}" in str(caught.value)


def test_retention_keys_are_read(tmp_path: Path) -> None:
    rules = load(tmp_path, {"feed": f'title = "T"\nmax_entries = 5\nmax_age = "90d"\n{OK_MATCH}'})
    (rule,) = rules.rules
    assert (rule.max_entries, rule.max_age, rule.merge_duplicates) == (5, 90 * 86400.0, True)


# --- text XML cannot carry, misspelt keys ----------------------------------------------------

# (rule file with a \u escape TOML decodes to a character XML 1.0 forbids, key, the character)
UNPUBLISHABLE: dict[str, tuple[str, str, str]] = {
    "title": (f'title = "Surveillance \\u0001"\n{OK_MATCH}', "title", "U+0001"),
    "subtitle": (f'title = "T"\nsubtitle = "Cameras\\u001f"\n{OK_MATCH}', "subtitle", "U+001F"),
    "noncharacter in the title": (f'title = "T\\uFFFE"\n{OK_MATCH}', "title", "U+FFFE"),
    "example title": (
        f'title = "T"\n{OK_MATCH}[[examples]]\ntitle = "\\u0008 cotton"\nrouted = true\n',
        "examples[0].title",
        "U+0008",
    ),
    "example summary": (
        f'title = "T"\n{OK_MATCH}[[examples]]\ntitle = "x"\nsummary = "\\u000b"\nrouted = false\n',
        "examples[0].summary",
        "U+000B",
    ),
    "example category": (
        f'title = "T"\n{OK_MATCH}[[examples]]\ntitle = "x"\ncategories = ["ok", "\\u0000"]\nrouted = false\n',
        "examples[0].categories[1]",
        "U+0000",
    ),
}


@pytest.mark.parametrize(("toml", "key", "char"), UNPUBLISHABLE.values(), ids=UNPUBLISHABLE.keys())
def test_rule_text_xml_cannot_carry_is_refused(tmp_path: Path, toml: str, key: str, char: str) -> None:
    """Before, such a title passed `check` and then broke every publish."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"feed": toml})
    path = tmp_path / "rules" / "feed.toml"
    assert f"{path}: {key}: contains {char} at position" in str(caught.value)


def test_rule_text_xml_can_carry_loads(tmp_path: Path) -> None:
    toml = f'title = "Tab\\tand newline\\n, emoji 😀, accents é"\n{OK_MATCH}'
    assert load(tmp_path, {"feed": toml}).rules[0].title == "Tab\tand newline\n, emoji 😀, accents é"


MISSPELT: dict[str, tuple[str, str]] = {
    "top level": (
        f'titel = "T"\ntitle = "T"\n{OK_MATCH}',
        "titel: unknown key (did you mean 'title'?) (line 1)",
    ),
    "in [match]": (
        'title = "T"\n[match]\nany = ["x"]\nnoen = ["y"]\n',
        "match.noen: unknown key (did you mean 'none'?) (line 4)",
    ),
    "in a nested group": (
        'title = "T"\n[match]\nany = [{ alll = ["x"], any = ["y"] }]\n',
        "match.any[0].alll: unknown key (did you mean 'all'?) (line 3)",
    ),
    "in an example": (
        f'title = "T"\n{OK_MATCH}[[examples]]\ntitle = "x"\nrouted = true\n[[examples]]\ntitle = "y"\nrouted = false\nsumary = "z"\n',
        "examples[1].sumary: unknown key (did you mean 'summary'?) (line 10)",
    ),
    "far from every key": (
        f'title = "T"\ncolour = "red"\n{OK_MATCH}',
        "colour: unknown key (known keys: examples, match, max_age, max_entries, merge_duplicates, sources, subtitle, title, unrouted) (line 2)",
    ),
}


@pytest.mark.parametrize(("toml", "expected"), MISSPELT.values(), ids=MISSPELT.keys())
def test_misspelt_key_gets_a_suggestion_and_a_line(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"feed": toml})
    assert f"{tmp_path / 'rules' / 'feed.toml'}: {expected}" in caught.value.problems


def test_term_list_problem_names_its_line(tmp_path: Path) -> None:
    terms = '[terms]\nok = ["x"]\n\nbad = [\n  "fine",\n  "/(?=x)y/",\n]\n'
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"_terms": terms, "feed": 'title = "T"\n[match]\nany = ["@bad"]\n'})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'rules' / '_terms.toml'}: terms.bad[1]: bad regex: lookahead")
    assert problem.endswith("(line 4)")
