"""How much stored entries resemble a derived feed: the shared core of `review` and `suggest`.

An entry becomes the set of its terms: folded words (stop words and numbers dropped) and
pairs of adjacent such words, from its title and lead. For resemblance, plurals are made
singular (workers = worker); `suggest` counts exact forms, the ones a phrase term matches.
A term is known by its key, the hash of the word or of the pair of words: no string is
built per pair, and 64-bit keys do not collide in practice.

A feed is summed up by a Rocchio centroid: for each term t, how much more often it occurs
in the feed's members (its entries and routed examples) than in the other entries, weighted
by idf:

    c_t = idf_t * max(0, r_t / R - (n_t - r_t) / (N - R))

(R members of N entries; r_t members and n_t entries hold t). A term every entry shares
weighs nothing, whatever its idf. An entry's resemblance is the cosine between its
idf-weighted set of terms and c; a member's is taken against the centroid of the others
(r_t - 1 of R - 1). Only the members' terms can weigh, so of the other entries only the
terms they share with the members are kept (the others count in the entry's length as
rare terms, which nearly all of them are). One pass over the store, then sums over small
arrays: no entry is ever compared with every other.
"""

from __future__ import annotations

import heapq
import html
import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import chain, pairwise, repeat

from republisher import text
from republisher.models import EntryData
from republisher.routing.rules import Example

# A story says what it is about in its headline and opening sentences (later paragraphs
# bring background on other subjects); reading whole articles would multiply the time.
MAX_LEAD = 300  # characters of plain text read after the title

_STOP_TEXT = """
    a about above across after afterwards again against all almost along already also although
    always am among an and another any anyone anything are around as at be became because
    become been before being below beside besides between beyond both but by can cannot could
    did do does doing done down during each either else enough even ever every few for from
    further get gets got had has have having he her here hers herself him himself his how
    however i if in indeed into is it its itself just least less let like made make many may me
    meanwhile might more moreover most mostly much must my myself neither never nevertheless no
    nor not nothing now of off often on once one only onto or other others otherwise our ours
    ourselves out over own per perhaps put rather really said same say says seem seemed seems
    several she should since so some something sometimes still such than that the their theirs
    them themselves then there thereby therefore these they this those though through
    throughout thus to together too told toward towards under unless until up upon us very via
    was we well were what whatever when whenever where whereas whether which while who whoever
    whole whom whose why will with within without would yet you your yours yourself yourselves
    s t d ll m re ve
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[^\W_]+")
_TAG = re.compile(r"<[^>]*>")
# Separators of the ASCII fast path (str.translate is fast only on ASCII text).
_ASCII_SPLIT = {c: " " for c in range(128) if not chr(c).isalnum()}
# Common non-ASCII separators, replaced first so that most text takes the ASCII path.
_TYPOGRAPHY = ("\u2019", "\u2018", "\u201c", "\u201d", "\u2013", "\u2014", "\xa0")
_NO_KEYS: array[int] = array("q")
MIN_FOR_PRUNING = 100  # members from which terms of a single member are left out
UNIVERSAL = 0.9  # share of the members from which a term is left out when comparing them


def singular(word: str) -> str:
    """A light English stemmer for resemblance only: plural -s and -ies made singular
    (workers -> worker, phones -> phone, bodies -> body; not press, census, analysis)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-3] + "y" if word.endswith("ies") and len(word) > 4 else word[:-1]
    return word


class Forms(dict[str, str]):
    """word -> its form in terms: "" for a stop word or a number, else the word itself (or,
    with `stem`, its singular). Filled as words come, so each word is judged once and
    map() looks words up without a Python loop."""

    def __init__(self, stem: bool = False) -> None:
        super().__init__(dict.fromkeys(STOP_WORDS, ""))
        self.stem = stem

    def __missing__(self, word: str) -> str:
        form = "" if word.isdigit() else singular(word) if self.stem else word
        self[word] = form
        return form


def words(raw: str) -> list[str]:
    """Folded words, split exactly as text.words splits them (the matcher's words)."""
    if not raw.isascii():
        for mark in _TYPOGRAPHY:
            if mark in raw:
                raw = raw.replace(mark, " ")
    folded = text.fold(raw)
    if folded.isascii():
        return folded.translate(_ASCII_SPLIT).split()
    return _WORD.findall(folded)


def doc_words(texts: Iterable[str]) -> list[str]:
    """The words of a document's texts; a stop word between two texts keeps pairs apart."""
    return words(" the ".join(texts))


def _keys(found_words: list[str], forms: Forms) -> list[int]:
    """The keys of a document's words and of its pairs of adjacent words, repeats included:
    a word's string hash, a pair's tuple hash (made from the words' cached hashes, so no
    string is built per pair)."""
    kept = list(map(forms.__getitem__, found_words))  # stop words and numbers become ""
    keys = list(map(hash, filter(None, kept)))
    keys.extend(map(hash, filter(all, pairwise(kept))))
    return keys


def _name(found_words: list[str], forms: Forms, names: dict[int, str]) -> None:
    """Record each term of a document under its key."""
    kept = list(map(forms.__getitem__, found_words))
    single = list(filter(None, kept))
    pairs = list(filter(all, pairwise(kept)))
    names.update(zip(map(hash, single), single, strict=True))
    names.update(zip(map(hash, pairs), map(" ".join, pairs), strict=True))


def key(term: str, forms: Forms | None = None) -> int:
    """The key of a term of one or two folded words (with `forms`, of their forms)."""
    found = term.split() if forms is None else [forms[w] for w in term.split()]
    return hash(found[0]) if len(found) == 1 else hash(tuple(found))


def terms(texts: Iterable[str]) -> set[str]:
    """The distinct words of plain texts (stop words and numbers left out) and pairs of
    adjacent such words: what a phrase term of one or two words would match. A pair never
    spans two texts, nor a stop word."""
    names: dict[int, str] = {}
    _name(doc_words(texts), Forms(), names)
    return set(names.values())


def plain(html_text: str | None, limit: int | None = None) -> str:
    """Text of stored (already sanitized) HTML. A regex suffices: the sanitizer leaves no
    script, comment or unquoted '<' that could make it cut text badly."""
    if not html_text:
        return ""
    if limit is not None and len(html_text) > limit:
        html_text = html_text[:limit]
        if html_text.rfind("<") > html_text.rfind(">"):  # cut inside a tag: drop its start
            html_text = html_text[: html_text.rfind("<")]
    if "<" in html_text:
        html_text = _TAG.sub(" ", html_text)
    return html.unescape(html_text) if "&" in html_text else html_text


def entry_texts(data: EntryData) -> tuple[str, ...]:
    """The fields the rules match by default: title, the lead (the summary, and the content
    while the summary is short of MAX_LEAD) cut at a word, and categories."""
    lead = plain(data.summary, 4 * MAX_LEAD)  # markup takes room: read more, cut the text
    if len(lead) < MAX_LEAD and data.content:
        lead = f"{lead} the {plain(data.content, 4 * MAX_LEAD)}"  # a stop word keeps them apart
    if len(lead) > MAX_LEAD:
        lead = lead[: lead.rfind(" ", 0, MAX_LEAD + 1)] if " " in lead[:MAX_LEAD] else lead[:MAX_LEAD]
    return (data.title, lead, *(c.label or c.term for c in data.categories))


def example_texts(example: Example) -> tuple[str, ...]:
    return (example.title, example.summary, example.content, *example.categories)


class Index:
    """The store as a feed sees it, read in one pass, members first.

    For each document: how many terms it has, and the keys of those some member holds.
    For each member term: how many members and how many other documents hold it. With
    `stem`, terms are singular forms (for resemblance); without, exact forms (the terms
    `suggest` offers must be the forms a phrase term matches), which `names` can name."""

    def __init__(
        self,
        size: int,
        texts_of: Callable[[int], Sequence[str]],
        members: Sequence[int] = (),
        stem: bool = True,
    ) -> None:
        self.size = size
        self.members = len(members)
        self._texts_of = texts_of
        self._member_docs = members
        self.forms = Forms(stem)
        self.docs: list[array[int]] = [_NO_KEYS] * size  # keys of member terms in each document
        self.lengths = array("i", bytes(4 * size))  # terms of each document, repeats included
        self.inside: Counter[int] = Counter()  # term key -> members holding it
        self.outside: Counter[int] = Counter()  # term key -> other documents holding it
        for doc in members:
            found = _keys(doc_words(texts_of(doc)), self.forms)
            self.docs[doc] = array("q", set(found))
            self.lengths[doc] = len(found)
        # Counted in one call each: Counter.update costs a little per call.
        self.inside.update(chain.from_iterable(self.docs[doc] for doc in members))
        # In a big feed, a term of a single member says nothing about the feed: leaving
        # those out keeps the tables small (most of them are pairs seen once).
        if len(members) >= MIN_FOR_PRUNING:
            self.inside = Counter({t: r for t, r in self.inside.items() if r > 1})
        watch = set(self.inside)
        is_member = set(members)
        others = [doc for doc in range(size) if doc not in is_member]
        for doc in others:
            # Only the terms some member holds are kept: the set is built from those alone.
            found = _keys(doc_words(texts_of(doc)), self.forms)
            self.docs[doc] = array("q", watch.intersection(found))
            self.lengths[doc] = len(found)
        self.outside.update(chain.from_iterable(self.docs[doc] for doc in others))
        self.inside_total = sum(self.lengths[doc] for doc in members)  # terms, repeats included
        self.outside_total = sum(self.lengths) - self.inside_total

    def names(self, wanted: Collection[int]) -> dict[int, str]:
        """The terms (exact forms) of these keys of member terms, found by reading members
        again until each is named: the few wanted are common, so that is soon."""
        found: dict[int, str] = {}
        missing = set(wanted)
        for doc in self._member_docs:
            if not missing:
                break
            names: dict[int, str] = {}
            _name(doc_words(self._texts_of(doc)), self.forms, names)
            for term in missing & names.keys():
                found[term] = names[term]
            missing -= names.keys()
        return found

    def idf(self, term: int) -> float:
        return math.log((self.size + 1) / (self.inside[term] + self.outside[term] + 1)) + 1


class Profile:
    """The Rocchio centroid of a feed's members against the other documents of an Index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.members = index.members
        members, others = index.members, index.size - index.members
        self.weight: dict[int, float] = {}  # term key -> c_t * idf_t
        self.idf2: dict[int, float] = {}  # term key -> idf_t ** 2
        # A term no member holds is taken as rare (document frequency 1), as nearly all are.
        self.rare2 = (math.log((index.size + 1) / 2) + 1) ** 2
        # Leaving a member out: the centroid of the others, on the terms the member holds.
        self.loo_weight: dict[int, float] = {}
        self.loo_norm_change: dict[int, float] = {}
        square = loo_square = 0.0
        # A term (nearly) every member holds cannot tell members apart; it would only make
        # them all look alike (most often it is the term the rule takes them by).
        universal = UNIVERSAL * members
        for term, r in index.inside.items():
            idf = index.idf(term)
            outside = index.outside[term] / others if others else 0.0
            c = max(0.0, r / members - outside) * idf
            self.weight[term] = c * idf
            self.idf2[term] = idf * idf
            square += c * c
            if members > 1 and r < universal:
                kept = max(0.0, r / (members - 1) - outside) * idf  # this member not left out
                left = max(0.0, (r - 1) / (members - 1) - outside) * idf
                self.loo_weight[term] = left * idf
                self.loo_norm_change[term] = left * left - kept * kept
                loo_square += kept * kept
        self.norm = math.sqrt(square)
        self.loo_square = loo_square

    def nearest(self, docs: Iterable[int], limit: int) -> list[tuple[float, int]]:
        """(score, document) of the `limit` documents most like the centroid, best first.

        A document's length is worked out only when its cosine could make the list: by
        Cauchy-Schwarz the idf-weighted length of its shared terms is at least dot / |c|, so
        cos <= dot / sqrt(dot**2 + unknown * rare2 * |c|**2), from numbers already at hand."""
        best: list[tuple[float, int]] = []  # a heap: the weakest kept comes first
        weight, lengths, c2 = self.weight, self.index.lengths, self.norm * self.norm
        for doc in docs:
            keys = self.index.docs[doc]
            dot = sum(map(weight.__getitem__, keys))
            if dot <= 0.0 or limit <= 0:
                continue
            if len(best) == limit:
                unknown = lengths[doc] - len(keys)
                if dot / math.sqrt(dot * dot + unknown * self.rare2 * c2) <= best[0][0]:
                    continue
            found = (dot / (self.doc_norm(doc) * self.norm), doc)
            if len(best) < limit:
                heapq.heappush(best, found)
            elif found > best[0]:
                heapq.heapreplace(best, found)
        return sorted(best, reverse=True)

    def doc_norm(self, doc: int) -> float:
        """Length of the document's idf-weighted term set (a term not counted is a rare one)."""
        keys = self.index.docs[doc]
        unknown = self.index.lengths[doc] - len(keys)
        return math.sqrt(sum(map(self.idf2.get, keys, repeat(self.rare2))) + unknown * self.rare2)

    def least_alike(self, docs: Iterable[int], limit: int) -> list[tuple[float, int]]:
        """(score, member) of the `limit` members least like the others, least first.

        As in `nearest`, a member's length is worked out only when its cosine could make
        the list: no term weighs more than a rare one, so its length is at most
        sqrt(terms * rare2), and cos >= dot / (sqrt(terms * rare2) * |c|)."""
        worst: list[tuple[float, int]] = []  # (-score, -member): the most alike comes first
        for doc in docs:
            if limit <= 0:
                break
            if len(worst) == limit and self.loo_square > 0.0:
                dot = sum(map(self.loo_weight.get, self.index.docs[doc], repeat(0.0)))
                bound = math.sqrt(self.index.lengths[doc] * self.rare2 * self.loo_square)
                if dot > 0.0 and dot / bound >= -worst[0][0]:
                    continue
            found = (-self.leave_one_out(doc), -doc)
            if len(worst) < limit:
                heapq.heappush(worst, found)
            elif found > worst[0]:
                heapq.heapreplace(worst, found)
        return sorted((-score, -doc) for score, doc in worst)

    def leave_one_out(self, doc: int) -> float:
        """Cosine between a member and the centroid of the other members."""
        keys = self.index.docs[doc]
        dot = sum(map(self.loo_weight.get, keys, repeat(0.0)))
        if dot <= 0.0:
            return 0.0
        square = self.loo_square
        if self.members < MIN_FOR_PRUNING:  # in a big feed, one member hardly moves |c|
            square += sum(map(self.loo_norm_change.get, keys, repeat(0.0)))
        return dot / (self.doc_norm(doc) * math.sqrt(square)) if square > 0 else 0.0

    def shared(self, texts: Sequence[str], count: int = 6) -> list[str]:
        """The document's terms that weigh most towards the feed, heaviest first, one form each."""
        best: dict[int, tuple[float, str]] = {}
        for term in terms(texts):
            term_key = key(term, self.index.forms)
            weight = self.weight.get(term_key, 0.0)
            if weight > 0 and (term_key not in best or term < best[term_key][1]):
                best[term_key] = (weight, term)
        return [t for _, t in sorted(best.values(), key=lambda pair: (-pair[0], pair[1]))[:count]]
