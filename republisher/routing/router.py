"""Fast routing: every rule compiled into one word index, built once per rule set.

`match` holds the reference semantics (a direct, obviously-correct walk over each rule)
and the explanations. This module computes the same routing faster: each phrase of
every rule is indexed by its first word (single-word prefixes by their first letters),
so one pass over an entry's words finds every phrase that occurs, whatever the number of
rules; only the rules that contain a found phrase are then evaluated, on sets.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from republisher.routing.match import Item
from republisher.routing.rules import Rule
from republisher.routing.terms import DEFAULT_FIELDS, Field, Phrase, Regex, Term
from republisher.text import BOUNDARY

_FIELD_BIT = {field: 1 << i for i, field in enumerate(Field)}
_PREFIX_KEY = 4  # single-word prefixes are indexed by up to this many first letters
# word -> its first n letters, as a C-level callable (this runs for every word of every entry)
_FIRST_LETTERS = {n: operator.itemgetter(slice(0, n)) for n in range(1, _PREFIX_KEY + 1)}


def _mask(fields: tuple[Field, ...]) -> int:
    mask = 0
    for field in fields:
        mask |= _FIELD_BIT[field]
    return mask


@dataclass(frozen=True)
class _PhraseLeaf:
    pid: int
    mask: int  # the fields this occurrence of the phrase looks in


@dataclass(frozen=True)
class _RegexLeaf:
    term: Regex
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class _Node:
    any: tuple[_Tree, ...] | None
    all: tuple[_Tree, ...] | None
    none: tuple[_Tree, ...] | None
    # The node can hold only if one of these phrases occurs (in any field); None when no
    # such set is known (a regex may make it hold). Big topic groups are skipped at once.
    needs: frozenset[int] | None = None


_Tree = _PhraseLeaf | _RegexLeaf | _Node


class _Compiler:
    """Turns rule terms into trees over phrase ids, interning identical phrases."""

    def __init__(self) -> None:
        self.phrases: list[Phrase] = []
        self.ids: dict[tuple[tuple[str, ...], bool], int] = {}
        self.has_regex = False

    def tree(self, term: Term, fields: tuple[Field, ...]) -> _Tree:
        if isinstance(term, Phrase):
            key = (term.words, term.prefix)
            if key not in self.ids:
                self.ids[key] = len(self.phrases)
                self.phrases.append(term)
            return _PhraseLeaf(self.ids[key], _mask(fields))
        if isinstance(term, Regex):
            self.has_regex = True
            return _RegexLeaf(term, fields)
        inner = term.fields or fields

        def branch(terms: tuple[Term, ...] | None) -> tuple[_Tree, ...] | None:
            return None if terms is None else tuple(self.tree(t, inner) for t in terms)

        any_, all_ = branch(term.any), branch(term.all)
        return _Node(any_, all_, branch(term.none), _needs(any_, all_))


def _needed(tree: _Tree) -> frozenset[int] | None:
    if isinstance(tree, _PhraseLeaf):
        return frozenset((tree.pid,))
    return None if isinstance(tree, _RegexLeaf) else tree.needs


def _needs(any_: tuple[_Tree, ...] | None, all_: tuple[_Tree, ...] | None) -> frozenset[int] | None:
    """Phrases of which one must occur for a node with these branches to hold: those of
    every `any` term together, or those of any one `all` term (the smallest such set)."""
    bounds: list[frozenset[int]] = []
    if any_ is not None:
        kids = [_needed(t) for t in any_]
        if all(k is not None for k in kids):
            bounds.append(frozenset().union(*(k for k in kids if k is not None)))
    if all_ is not None:
        bounds.extend(k for t in all_ if (k := _needed(t)) is not None)
    return min(bounds, key=len) if bounds else None


def _holds_with_nothing(tree: _Tree) -> bool:
    """Could this tree hold for an item in which no phrase occurs?"""
    if isinstance(tree, _PhraseLeaf):
        return False
    if isinstance(tree, _RegexLeaf):
        return True  # regexes are not indexed: assume they might match
    if tree.any is not None and not any(_holds_with_nothing(t) for t in tree.any):
        return False
    return tree.all is None or all(_holds_with_nothing(t) for t in tree.all)


def _fields_used(tree: _Tree) -> int:
    """Bit mask of the fields a tree's phrases look in (regexes search plain text)."""
    if isinstance(tree, _PhraseLeaf):
        return tree.mask
    if isinstance(tree, _RegexLeaf):
        return 0
    used = 0
    for branch in (tree.any, tree.all, tree.none):
        for child in branch or ():
            used |= _fields_used(child)
    return used


def _phrase_leaves(tree: _Tree) -> list[_PhraseLeaf]:
    if isinstance(tree, _PhraseLeaf):
        return [tree]
    if isinstance(tree, _RegexLeaf):
        return []
    return [
        leaf
        for branch in (tree.any, tree.all, tree.none)
        for child in branch or ()
        for leaf in _phrase_leaves(child)
    ]


def _phrase_ids(tree: _Tree) -> set[int]:
    return {leaf.pid for leaf in _phrase_leaves(tree)}


class Router:
    """Routes items by the given rules; the same answers as match.judge_all, faster."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        compiler = _Compiler()
        self.trees: list[_Tree | None] = [
            None if rule.match is None else compiler.tree(rule.match, DEFAULT_FIELDS) for rule in self.rules
        ]
        self.phrases = compiler.phrases
        # Each phrase is indexed where a set lookup finds it in one pass over an entry's words:
        self.single: dict[str, int] = {}  # "cctv": one exact word
        self.pairs: dict[str, int] = {}  # "facial recognition": two exact words, as "w1 w2"
        self.longer: dict[str, list[int]] = {}  # first pair "w1 w2" -> longer phrases, checked in place
        self.prefixed: dict[str, list[int]] = {}  # first word -> "w1 w2*" phrases, checked in place
        self.prefixes: dict[int, dict[str, list[int]]] = {}  # key length -> first letters -> "surveil*"
        for pid, phrase in enumerate(self.phrases):
            words = phrase.words
            if len(words) == 1 and phrase.prefix:
                key = words[0][:_PREFIX_KEY]
                self.prefixes.setdefault(len(key), {}).setdefault(key, []).append(pid)
            elif len(words) == 1:
                self.single[words[0]] = pid
            elif phrase.prefix and len(words) == 2:
                self.prefixed.setdefault(words[0], []).append(pid)
            elif len(words) == 2:
                self.pairs[f"{words[0]} {words[1]}"] = pid
            else:
                self.longer.setdefault(f"{words[0]} {words[1]}", []).append(pid)
        self.single_words = frozenset(self.single)
        self.pair_keys = frozenset(self.pairs) | frozenset(self.longer)
        self.prefixed_first = frozenset(self.prefixed)
        self.unrouted = [i for i, rule in enumerate(self.rules) if rule.unrouted]
        # Only the fields some rule looks in are tokenised.
        used = 0
        for tree in self.trees:
            if tree is not None:
                used |= _fields_used(tree)
        self.fields = [field for field in Field if used & _FIELD_BIT[field]]
        masks = {leaf.mask for tree in self.trees if tree is not None for leaf in _phrase_leaves(tree)}
        self.uniform_mask = used if masks == {used} else 0
        self.rules_of_phrase: dict[int, list[int]] = {}
        self.always: list[int] = []  # rules to evaluate even when none of their phrases occur
        for index, tree in enumerate(self.trees):
            if tree is None:
                continue
            for pid in _phrase_ids(tree):
                self.rules_of_phrase.setdefault(pid, []).append(index)
            if _holds_with_nothing(tree):
                self.always.append(index)

    def _occurrences(self, item: Item) -> dict[int, int]:
        """phrase id -> bit mask of the fields it occurs in. Set operations do the scanning."""
        found: dict[int, int] = {}
        if self.uniform_mask:
            # Every phrase looks in the same fields: scan them as one text, kept apart by
            # BOUNDARY so that no phrase spans two fields.
            words: list[str] = []
            for field in self.fields:
                if words:
                    words.append(BOUNDARY)
                words.extend(item.words(field))
            passes = [(self.uniform_mask, words)]
        else:
            passes = [(_FIELD_BIT[field], item.words(field)) for field in self.fields]
        for bit, words in passes:
            if not words:
                continue
            hits: list[int] = []
            present = set(words)
            hits.extend(self.single[w] for w in present & self.single_words)
            if self.pair_keys:
                pairs = set(map(" ".join, itertools.pairwise(words))) & self.pair_keys
                for pair in pairs:
                    if pair in self.pairs:
                        hits.append(self.pairs[pair])
                    hits.extend(pid for pid in self.longer.get(pair, ()) if self._anywhere(pid, words))
            for first in present & self.prefixed_first:
                hits.extend(pid for pid in self.prefixed[first] if self._anywhere(pid, words))
            ordered: list[str] | None = None  # sorted once, for prefix look-ups by bisection
            for length, table in self.prefixes.items():
                for key in set(map(_FIRST_LETTERS[length], present)) & table.keys():
                    if ordered is None:
                        ordered = sorted(present)
                    hits.extend(pid for pid in table[key] if _has_prefix(ordered, self.phrases[pid].words[0]))
            for pid in hits:
                found[pid] = found.get(pid, 0) | bit
        return found

    def _anywhere(self, pid: int, words: list[str]) -> bool:
        phrase = self.phrases[pid]
        first = phrase.words[0]
        start = -1
        try:
            while True:  # list.index scans in C: most words are not the first word
                start = words.index(first, start + 1)
                if _occurs_at(phrase, words, start):
                    return True
        except ValueError:
            return False

    def _holds(self, tree: _Tree, found: dict[int, int], item: Item) -> bool:
        if isinstance(tree, _PhraseLeaf):
            return bool(found.get(tree.pid, 0) & tree.mask)
        if isinstance(tree, _RegexLeaf):
            pattern = tree.term.pattern
            return any(
                pattern.search(plain) is not None for field in tree.fields for plain in item.plain(field)
            )
        if tree.needs is not None and tree.needs.isdisjoint(found):
            return False
        if tree.any is not None and not any(self._holds(t, found, item) for t in tree.any):
            return False
        if tree.all is not None and not all(self._holds(t, found, item) for t in tree.all):
            return False
        return tree.none is None or not any(self._holds(t, found, item) for t in tree.none)

    def route(self, item: Item) -> list[str]:
        """Slugs of the derived feeds that take the item, in rule order."""
        return [slug for slug, _ in self._taken(item, self._occurrences(item))]

    def _taken(self, item: Item, found: dict[int, int]) -> list[tuple[str, int]]:
        """(slug, rule index) of every feed that takes the item, in rule order."""
        candidates = set(self.always)
        for pid in found:
            candidates.update(self.rules_of_phrase.get(pid, ()))
        taken: list[int] = []
        for index in sorted(candidates):
            rule = self.rules[index]
            tree = self.trees[index]
            if tree is None or (rule.sources is not None and item.source not in rule.sources):
                continue
            if self._holds(tree, found, item):
                taken.append(index)
        if not taken:
            for index in self.unrouted:
                sources = self.rules[index].sources
                if sources is None or item.source in sources:
                    taken.append(index)
        return [(self.rules[i].slug, i) for i in sorted(taken)]


def _has_prefix(ordered: list[str], prefix: str) -> bool:
    """Does a word of the sorted list start with prefix? Such words sort right at prefix."""
    at = bisect.bisect_left(ordered, prefix)
    return at < len(ordered) and ordered[at].startswith(prefix)


def _occurs_at(phrase: Phrase, words: list[str], start: int) -> bool:
    wanted = phrase.words
    if start + len(wanted) > len(words):
        return False
    last = len(wanted) - 1
    for offset in range(1, len(wanted)):
        word = words[start + offset]
        if offset == last and phrase.prefix:
            if not word.startswith(wanted[offset]):
                return False
        elif word != wanted[offset]:
            return False
    return True
