"""The compiled router agrees with the reference matcher at benchmark scale: hundreds of
rules over thousands of phrases sharing words and prefixes, on texts of realistic length.

test_router.py checks every shape of rule on a tiny vocabulary; this checks the automaton
and the occurrence sets where many phrases overlap (one a suffix, prefix or extension of
another), with every rule in the default fields (one pass over all fields) and with rules
that look in different fields.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from republisher.models import Category, EntryData
from republisher.routing.match import Item, judge_all
from republisher.routing.router import Router
from republisher.routing.rules import Field, Group, Rule, Term, compile_term

SYLLABLES = [c + v for c in "bdklmnrst" for v in "aeiou"]
SEPARATORS = [" ", " ", " ", ", ", ". ", "-", " – ", "’s ", " (", ") ", " | "]


def vocabulary(rng: random.Random) -> tuple[list[str], list[str]]:
    """(common words, rare words): texts are mostly common words, phrases mostly rare ones."""
    common = sorted({"".join(rng.choices(SYLLABLES, k=2)) for _ in range(300)})
    rare = {"".join(rng.choices(SYLLABLES, k=rng.randint(3, 4))) for _ in range(2000)}
    special = ["café", "Café", "CAFE", "straße", "strasse", "Ünïcode", "unicode", "ελλάδα", "漢字"]
    return common, sorted(rare) + special


def make_text(rng: random.Random, vocab: tuple[list[str], list[str]], length: int) -> str:
    common, rare = vocab
    chosen = [rng.choice(rare if rng.random() < 0.15 else common) for _ in range(length)]
    out = "".join(word + rng.choice(SEPARATORS) for word in chosen)
    if rng.random() < 0.2:  # some summaries are HTML
        out = f"<p>{out}</p> &amp; <b>{rng.choice(rare)}</b>"
    return out.capitalize() if rng.random() < 0.5 else out.upper() if rng.random() < 0.1 else out


def make_phrase(rng: random.Random, vocab: tuple[list[str], list[str]]) -> Term:
    """A rare word, or two or three words (rare ones mostly), sometimes a prefix term."""
    common, rare = vocab
    length = rng.choice([1, 1, 1, 2, 2, 3])
    chosen = [rng.choice(rare if i == length - 1 or rng.random() < 0.5 else common) for i in range(length)]
    written = " ".join(chosen)
    if rng.random() < 0.15:
        written = written[: max(3, len(written) - rng.randint(0, 3))].rstrip() + "*"
    return compile_term(written)


def make_rules(
    rng: random.Random, vocab: tuple[list[str], list[str]], count: int, mixed_fields: bool
) -> list[Rule]:
    """Lists of 5 phrases; some with a common word that must (all) or must not (none) occur,
    some in their own fields; some for one source only; an unrouted feed last."""
    common = vocab[0]
    rules = []
    for n in range(count):
        phrases = tuple(make_phrase(rng, vocab) for _ in range(5))
        match = Group(any=phrases)
        if mixed_fields and n % 3 == 0:
            fields = tuple(rng.sample(list(Field), rng.randint(1, 3)))
            match = Group(any=phrases, none=(compile_term(rng.choice(common)),), fields=fields)
        elif n % 5 == 0:
            match = Group(all=(Group(any=phrases), compile_term(rng.choice(common))))
        elif n % 4 == 0:
            match = Group(any=phrases, none=(compile_term(rng.choice(common)), make_phrase(rng, vocab)))
        sources = frozenset({"a"}) if n % 7 == 0 else None
        rules.append(Rule(f"r{n}", Path(f"r{n}.toml"), f"R{n}", "", sources, match, False, ()))
    rules.append(Rule("rest", Path("rest.toml"), "Rest", "", None, None, True, ()))
    return rules


def make_entries(rng: random.Random, vocab: tuple[list[str], list[str]], count: int) -> list[Item]:
    items = []
    for _ in range(count):
        entry = EntryData(
            guid=None,
            title=make_text(rng, vocab, 10),
            link=None,
            summary=make_text(rng, vocab, 60),
            content=make_text(rng, vocab, 20) if rng.random() < 0.3 else None,
            author=rng.choice(vocab[1]) if rng.random() < 0.5 else None,
            categories=tuple(Category(rng.choice(vocab[1])) for _ in range(rng.randint(0, 3))),
        )
        items.append(Item.from_entry(entry, rng.choice(["a", "b"])))
    return items


@pytest.mark.parametrize("mixed_fields", [False, True], ids=["default-fields", "mixed-fields"])
def test_router_agrees_with_the_reference_on_300_rules(mixed_fields: bool) -> None:
    rng = random.Random(12)
    vocab = vocabulary(rng)
    rules = make_rules(rng, vocab, 300, mixed_fields)
    router = Router(rules)
    assert router.one_pass is not mixed_fields
    routed = 0
    for item in make_entries(rng, vocab, 200):
        expected = [v.slug for v in judge_all(rules, item) if v.routed]
        got = router.route(item)
        assert got == [r.slug for r in rules if r.slug in expected], item.raw
        routed += len(got)
    assert routed > 400  # the phrases do meet the texts: an entry lands in several feeds
