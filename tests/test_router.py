"""The compiled router agrees with the reference matcher (match.judge_all) on random input.

The reference walks each rule directly and tests phrases as substrings of the folded
word string: slow, but small enough to be obviously right. The router indexes phrases
and evaluates only candidate rules; any disagreement is a bug in the fast path.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from republisher.models import Category, EntryData
from republisher.routing.match import Item, judge_all
from republisher.routing.router import Router
from republisher.routing.rules import Field, Group, Phrase, Rule, Term, compile_term

# A small vocabulary so that random phrases and random texts meet often, with accents,
# case, ß and shared prefixes to exercise folding and prefix terms.
WORDS = [
    "camera",
    "caméra",
    "Cameras",
    "facial",
    "recognition",
    "Straße",
    "strasse",
    "labour",
    "labor",
    "lab",
    "uighur",
    "Uyghur",
    "surveil",
    "surveillance",
    "police",
    "tracking",
    "x",
    "ai",
]
SEPARATORS = [" ", "  ", "-", " – ", ", ", "’", "'", ". ", "/", " | "]
FIELDS = list(Field)


@st.composite
def texts(draw: st.DrawFn, longest: int = 12) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), max_size=longest))
    out = ""
    for word in words:
        out += word + draw(st.sampled_from(SEPARATORS))
    if draw(st.booleans()):
        out = f'<p class="{draw(st.sampled_from(WORDS))}">{out}</p>'
    return out


@st.composite
def phrases(draw: st.DrawFn) -> Phrase:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
    written = draw(st.sampled_from([" ", "-", " "])).join(words)
    if draw(st.integers(0, 3)) == 0:
        written = written.rstrip() + "*"
    term = compile_term(written)
    assert isinstance(term, Phrase)
    return term


# Regex terms, compiled once: both matchers search with these same pattern objects.
REGEXES = [
    compile_term(t)
    for t in ["/u[iy]ghurs?/", r"/cam\w+a/", "/stra(ss|ß)e/", r"/^\w+$/", "/(a+)+$/", "/lab.r/", r"/x\s+ai/"]
]


def groups(depth: int, with_fields: bool = True) -> st.SearchStrategy[Group]:
    term: st.SearchStrategy[Term] = st.one_of(phrases(), phrases(), phrases(), st.sampled_from(REGEXES))
    if depth > 0:
        term = st.one_of(term, term, groups(depth - 1, with_fields))
    branch = st.one_of(st.none(), st.lists(term, min_size=1, max_size=4).map(tuple))
    some_fields = st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True).map(tuple)
    fields = st.one_of(st.none(), some_fields) if with_fields else st.none()
    return st.builds(Group, any=branch, all=branch, none=branch, fields=fields).filter(
        lambda g: g.any is not None or g.all is not None
    )


@st.composite
def rule_sets(draw: st.DrawFn, with_fields: bool = True) -> list[Rule]:
    count = draw(st.integers(1, 5))
    rules = []
    for n in range(count):
        sources = draw(st.one_of(st.none(), st.just(frozenset({"a"}))))
        unrouted = n == count - 1 and draw(st.integers(0, 4)) == 0
        match = None if unrouted else draw(groups(2, with_fields))
        rules.append(Rule(f"r{n}", Path(f"r{n}.toml"), "R", "", sources, match, unrouted, ()))
    return rules


@st.composite
def items(draw: st.DrawFn, longest: int = 12) -> Item:
    text = texts(longest)
    entry = EntryData(
        guid=None,
        title=draw(text),
        link=draw(st.one_of(st.none(), text)),
        summary=draw(st.one_of(st.none(), text)),
        content=draw(st.one_of(st.none(), text)),
        author=draw(st.one_of(st.none(), text)),
        categories=tuple(Category(term=t) for t in draw(st.lists(text, max_size=3))),
    )
    return Item.from_entry(entry, draw(st.sampled_from(["a", "b"])))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rule_sets(), item=items())
def test_router_agrees_with_the_reference(rules: list[Rule], item: Item) -> None:
    expected = sorted(v.slug for v in judge_all(rules, item) if v.routed)
    assert sorted(Router(rules).route(item)) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rule_sets(with_fields=False), item=items(longest=3))
def test_router_agrees_when_every_rule_uses_the_default_fields(rules: list[Rule], item: Item) -> None:
    # The router scans all fields as one text in this case: phrases must not span fields.
    expected = sorted(v.slug for v in judge_all(rules, item) if v.routed)
    assert sorted(Router(rules).route(item)) == expected


def _rule(slug: str, *terms: str, fields: tuple[Field, ...] | None = None) -> Rule:
    group = Group(any=tuple(compile_term(t) for t in terms), fields=fields)
    return Rule(slug, Path(f"{slug}.toml"), slug, "", None, group, False, ())


def test_a_phrase_never_spans_two_fields_or_two_categories() -> None:
    router = Router([_rule("fr", "facial recognition")])
    split_across_fields = EntryData(
        guid=None,
        title="Cameras with facial",
        link=None,
        summary="recognition is here",
        content=None,
        author=None,
    )
    split_across_tags = EntryData(
        guid=None,
        title="x",
        link=None,
        summary=None,
        content=None,
        author=None,
        categories=(Category("facial"), Category("recognition")),
    )
    whole = EntryData(
        guid=None, title="x", link=None, summary="Facial-recognition cameras", content=None, author=None
    )
    assert router.route(Item.from_entry(split_across_fields, None)) == []
    assert router.route(Item.from_entry(split_across_tags, None)) == []
    assert router.route(Item.from_entry(whole, None)) == ["fr"]


def test_fields_are_kept_apart_when_rules_look_in_different_fields() -> None:
    router = Router(
        [_rule("t", "camera", fields=(Field.TITLE,)), _rule("s", "camera*", fields=(Field.SUMMARY,))]
    )
    entry = EntryData(
        guid=None, title="A camera", link=None, summary="No match here", content=None, author=None
    )
    assert router.route(Item.from_entry(entry, None)) == ["t"]


def test_router_agrees_on_the_shipped_rules() -> None:
    """Big nested groups and term lists, as shipped, on realistic texts in both matchers."""
    import tomllib

    from republisher.routing.rules import load_rules

    root = Path(__file__).resolve().parent
    rules = list(load_rules(root.parent / "rules").rules)
    router = Router(rules)
    articles = tomllib.loads((root / "data" / "heldout-articles.toml").read_text(encoding="utf-8"))["article"]
    texts = [(a["title"], a["summary"]) for a in articles]
    texts += [(e.title, e.summary) for r in rules for e in r.examples]
    for title, summary in texts:
        entry = EntryData(guid=None, title=title, link=None, summary=summary, content=None, author=None)
        item = Item.from_entry(entry, "guardian-uighurs")
        assert sorted(router.route(item)) == sorted(v.slug for v in judge_all(rules, item) if v.routed), title
