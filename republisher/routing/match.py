"""Routing: which derived feeds take an entry, and which terms made them take it.

Pure functions of (entry, rules): no clock, network or disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from republisher import text
from republisher.models import EntryData
from republisher.routing.rules import Example, Rule
from republisher.routing.terms import DEFAULT_FIELDS, Field, Group, Phrase, Regex, Term


@dataclass(frozen=True)
class Hit:
    """A term that matched: as written, in which field, and the text around it."""

    term: str
    field: Field
    excerpt: str


class Item:
    """An entry's matchable text per field, each form computed once, when first asked for.

    raw: the field's texts as given (categories are several texts; summary and content
    are HTML); plain(): markup stripped; words(): folded words; folded(): the words as
    one padded string for substring tests.
    """

    _MARKUP = frozenset({Field.SUMMARY, Field.CONTENT})

    def __init__(self, source: str | None, raw: dict[Field, tuple[str, ...]]) -> None:
        self.source = source
        self.raw = raw
        self._plain: dict[Field, tuple[str, ...]] = {}
        self._words: dict[Field, list[str]] = {}
        self._folded: dict[Field, str] = {}

    def plain(self, field: Field) -> tuple[str, ...]:
        found = self._plain.get(field)
        if found is None:
            texts = self.raw.get(field, ())
            clean = text.strip_markup if field in self._MARKUP else text.collapse_space
            found = self._plain[field] = tuple(clean(t) for t in texts)
        return found

    def words(self, field: Field) -> list[str]:
        found = self._words.get(field)
        if found is None:
            # Splitting ignores runs of spaces, so only markup needs removing first.
            texts = self.raw.get(field, ())
            if field in self._MARKUP and any("<" in t or "&" in t for t in texts):
                texts = self.plain(field)
            found = self._words[field] = text.word_list(texts)
        return found

    def folded(self, field: Field) -> str:
        found = self._folded.get(field)
        if found is None:
            found = self._folded[field] = " " + " ".join(self.words(field)) + " "
        return found

    @classmethod
    def from_entry(cls, entry: EntryData, source: str | None) -> Item:
        return cls(
            source,
            {
                Field.TITLE: (entry.title,),
                Field.SUMMARY: (entry.summary or "",),
                Field.CONTENT: (entry.content or "",),
                Field.CATEGORIES: tuple(c.label or c.term for c in entry.categories),
                Field.AUTHOR: (entry.author or "",),
                Field.LINK: (entry.link or "",),
            },
        )

    @classmethod
    def from_example(cls, example: Example, source: str | None) -> Item:
        return cls(
            example.source or source,
            {
                Field.TITLE: (example.title,),
                Field.SUMMARY: (example.summary,),
                Field.CONTENT: (example.content,),
                Field.CATEGORIES: example.categories,
                Field.AUTHOR: (example.author,),
                Field.LINK: (example.link,),
            },
        )


@dataclass(frozen=True)
class Verdict:
    """Whether one rule takes an item, with the terms behind the decision."""

    slug: str
    routed: bool
    matched: tuple[Hit, ...]  # any/all terms that matched
    excluded_by: tuple[Hit, ...]  # none terms that matched
    missing: tuple[str, ...]  # all terms that did not match, or "(no any term)" etc.


def _excerpt(plain: str, start: int, end: int, width: int = 30) -> str:
    left = max(0, start - width)
    right = min(len(plain), end + width)
    return ("…" if left else "") + plain[left:right] + ("…" if right < len(plain) else "")


def _find_phrase(term: Phrase, item: Item, field: Field) -> Hit | None:
    if term.needle not in item.folded(field):
        return None
    # Locate the words again in the plain text only to show the user an excerpt: the
    # text around the whole phrase where it occurs, as the source wrote it.
    for plain in item.plain(field):
        if term.needle not in text.word_string((plain,)):
            continue
        spans = text.word_spans(plain)
        start = _phrase_at(term, [w for w, _, _ in spans]) if spans else None
        if spans is None or start is None:  # folding quirk: quote the start of the text
            return Hit(term.source, field, _excerpt(plain, 0, 0))
        last = start + len(term.words) - 1
        return Hit(term.source, field, _excerpt(plain, spans[start][1], spans[last][2]))
    return Hit(term.source, field, "")


def _phrase_at(term: Phrase, words: list[str]) -> int | None:
    """Index of the first word of the phrase's first occurrence in words."""
    wanted = term.words
    n = len(wanted)
    for i in range(len(words) - n + 1):
        head_ok = all(words[i + k] == wanted[k] for k in range(n - 1))
        tail = words[i + n - 1]
        if head_ok and (tail.startswith(wanted[-1]) if term.prefix else tail == wanted[-1]):
            return i
    return None


def _find_regex(term: Regex, item: Item, field: Field) -> Hit | None:
    for plain in item.plain(field):
        found = term.pattern.search(plain)
        if found is not None:
            return Hit(term.source, field, _excerpt(plain, *found))
    return None


def _term_hits(term: Term, item: Item, fields: tuple[Field, ...]) -> tuple[bool, list[Hit]]:
    if isinstance(term, Group):
        verdict = _group(term, item, fields)
        return verdict[0], verdict[1]
    if isinstance(term, Phrase):
        # The common case, kept to one substring test per field until something matches.
        needle = term.needle
        if not any(needle in item.folded(field) for field in fields):
            return False, []
    for field in fields:
        hit = _find_phrase(term, item, field) if isinstance(term, Phrase) else _find_regex(term, item, field)
        if hit:
            return True, [hit]
    return False, []


def _group(
    group: Group, item: Item, inherited: tuple[Field, ...]
) -> tuple[bool, list[Hit], list[Hit], list[str]]:
    """(holds, matched, excluded_by, missing) for one group."""
    fields = group.fields or inherited
    matched: list[Hit] = []
    excluded: list[Hit] = []
    missing: list[str] = []
    holds = True
    if group.any is not None:
        found_any = False
        for term in group.any:
            ok, hits = _term_hits(term, item, fields)
            if ok:
                found_any = True
                matched.extend(hits)
        if not found_any:
            holds = False
            missing.append("(no `any` term matched)")
    if group.all is not None:
        for term in group.all:
            ok, hits = _term_hits(term, item, fields)
            if ok:
                matched.extend(hits)
            else:
                holds = False
                missing.append(_describe(term))
    if group.none is not None:
        for term in group.none:
            ok, hits = _term_hits(term, item, fields)
            if ok:
                holds = False
                excluded.extend(hits or [Hit(_describe(term), fields[0], "")])
    return holds, matched, excluded, missing


def _describe(term: Term) -> str:
    if isinstance(term, Group) and term.label:
        return term.label
    if isinstance(term, Group):
        parts = [
            f"{key}: [{', '.join(_describe(t) for t in terms)}]"
            for key, terms in (("any", term.any), ("all", term.all), ("none", term.none))
            if terms is not None
        ]
        return "{" + "; ".join(parts) + "}"
    return term.source


def _applies(rule: Rule, item: Item) -> bool:
    return rule.sources is None or item.source in rule.sources


def judge(rule: Rule, item: Item) -> Verdict:
    """Does this (matching, not unrouted) rule take the item, and why."""
    if not _applies(rule, item):
        return Verdict(rule.slug, False, (), (), ("(source not in this feed's sources)",))
    assert rule.match is not None
    holds, matched, excluded, missing = _group(rule.match, item, DEFAULT_FIELDS)
    return Verdict(rule.slug, holds, tuple(matched), tuple(excluded), tuple(missing))


def judge_all(rules: Iterable[Rule], item: Item) -> list[Verdict]:
    """Verdicts of every rule, unrouted feeds decided after the topic feeds."""
    rules = list(rules)
    verdicts = [judge(r, item) for r in rules if not r.unrouted]
    taken = any(v.routed for v in verdicts)
    for rule in rules:
        if rule.unrouted:
            routed = not taken and _applies(rule, item)
            reason = (
                ()
                if routed
                else ("(taken by another feed)" if taken else "(source not in this feed's sources)",)
            )
            verdicts.append(Verdict(rule.slug, routed, (), (), reason))
    return verdicts


def route(rules: Iterable[Rule], item: Item) -> dict[str, tuple[Hit, ...]]:
    """slug -> matched terms, for every derived feed that takes the item."""
    return {v.slug: v.matched for v in judge_all(rules, item) if v.routed}


@dataclass(frozen=True)
class ExampleFailure:
    rule: Rule
    example: Example
    verdict: Verdict


def failing_examples(rules: Iterable[Rule]) -> list[ExampleFailure]:
    """Every [[examples]] case whose routing differs from what it expects."""
    rules = list(rules)
    failures: list[ExampleFailure] = []
    for rule in rules:
        default_source = min(rule.sources) if rule.sources else None
        for example in rule.examples:
            item = Item.from_example(example, default_source)
            verdict = next(v for v in judge_all(rules, item) if v.slug == rule.slug)
            if verdict.routed != example.routed:
                failures.append(ExampleFailure(rule, example, verdict))
    return failures
