"""`suggest SLUG`: the words and phrases that set a derived feed apart from the rest of the store.

Each term is scored with the weighted log-odds ratio with an informative Dirichlet prior
(Monroe, Colaresi & Quinn 2008, "Fightin' words"): the log-odds of the term in the feed
minus its log-odds in the other entries, both smoothed by the term's count in the whole
store, divided by its standard error. The z-score is high for a term both frequent in the
feed and rare elsewhere; a term seen twice gets no credit for never being seen outside.
Counts are entries (an entry counts once per term), so one long article cannot outweigh many.

Candidates for `none` come the same way from the feed's doubtful members (the ones least
like the others, see `review`) against the rest of the feed, with the feed as the prior.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from republisher.models import StoredEntry
from republisher.routing.review import doubtful_order, find_rule, model
from republisher.routing.rules import Group, Phrase, Regex, Rule, Term
from republisher.routing.similarity import entry_texts, example_texts, key, terms
from republisher.text import counted

MAX_NONE = 10
Z_FOR_NONE = 1.0  # a weaker lead is chance, and a `none` costs the feed good entries too


@dataclass(frozen=True)
class Suggestion:
    term: str  # folded words, as a phrase term would be written
    z: float
    inside: int  # `any`: feed entries and routed examples holding it; `none`: doubtful members
    outside: int  # `any`: other stored entries holding it; `none`: the rest of the feed
    in_rule: str | None  # the rule's term that already matches it, as written, if any


@dataclass(frozen=True)
class Suggestions:
    slug: str
    unrouted: bool
    members: int  # stored entries in the feed
    examples: int  # routed [[examples]] counted with them
    total: int  # stored entries
    any: tuple[Suggestion, ...]
    none: tuple[Suggestion, ...]
    doubtful: int  # members the `none` candidates were drawn from
    notes: tuple[str, ...]


def log_odds_z(y_i: int, n_i: int, y_j: int, n_j: int, alpha: float, alpha0: float) -> float:
    """Monroe et al. (2008), eq. 16 and 18: z-score of the log-odds ratio of a term in group
    i (y_i of n_i) against group j (y_j of n_j), with prior count alpha of alpha0 in all."""
    odds_i = (y_i + alpha) / (n_i + alpha0 - y_i - alpha)
    odds_j = (y_j + alpha) / (n_j + alpha0 - y_j - alpha)
    variance = 1 / (y_i + alpha) + 1 / (y_j + alpha)
    return math.log(odds_i / odds_j) / math.sqrt(variance)


def suggest(
    slug: str,
    rules: Sequence[Rule],
    entries: Sequence[StoredEntry],
    in_feed: Collection[tuple[str, str]],
    limit: int = 25,
) -> Suggestions:
    """Terms for a feed's `any` and `none`; arguments as for review.review."""
    rule = find_rule(slug, rules)
    feed = model(rule, entries, in_feed, stem=False)
    index = feed.index
    notes: list[str] = []
    known = list(rule_terms(rule.match))
    if feed.index.members == 0:
        notes.append(
            "the feed has no stored entries and no [[examples]] with routed = true: nothing to compare with"
        )
        return Suggestions(slug, rule.unrouted, 0, 0, len(entries), (), (), 0, tuple(notes))
    n_i, n_j = index.inside_total, index.outside_total
    least = 2 if feed.index.members >= 5 else 1  # a term of a single entry says little
    scored: dict[int, tuple[float, int, int]] = {}  # term key -> (z, inside, outside)
    for term_key, y_i in index.inside.items():
        if y_i >= least:
            y_j = index.outside[term_key]
            z = log_odds_z(y_i, n_i, y_j, n_j, y_i + y_j, n_i + n_j)
            if z > 0:
                scored[term_key] = (z, y_i, y_j)
    # Only the best are named (the names come from reading members again); a margin
    # leaves room for the words that phrases shadow.
    cut = heapq.nlargest(3 * limit, (z for z, _, _ in scored.values()))[-1:] or [math.inf]
    top = [k for k, (z, _, _) in scored.items() if z >= cut[0]]  # ties at the cut kept
    names = index.names(top)
    ranked = [Suggestion(names[k], *scored[k], None) for k in top if k in names]
    ranked.sort(key=lambda s: (-s.z, s.term))
    best = tuple(_with_rule(s, known) for s in _without_shadowed(ranked, scored)[:limit])

    none: tuple[Suggestion, ...] = ()
    doubtful = 0
    if rule.unrouted:
        notes.append("an unrouted feed has no [match]: no `none` candidates")
    elif len(feed.member_entries) < 6:
        notes.append("fewer than 6 stored entries in the feed: too few to tell doubtful members apart")
    else:
        doubtful = max(3, min(50, len(feed.member_entries) // 10))
        group = [i for _, i in doubtful_order(feed, doubtful)]
        size = sum(index.lengths[i] for i in group)  # terms, repeats included, as inside_total
        protected = {t for e in rule.examples if e.routed for t in terms(example_texts(e))}
        texts = [entry_texts(entries[i].data) for i in group]
        none = _none_candidates(texts, size, index.inside, index.inside_total, protected, known)
    return Suggestions(
        slug=slug,
        unrouted=rule.unrouted,
        members=len(feed.member_entries),
        examples=feed.examples,
        total=len(entries),
        any=best,
        none=none,
        doubtful=doubtful,
        notes=tuple(notes),
    )


def _none_candidates(
    group: Sequence[Sequence[str]],
    n_i: int,
    feed_counts: Counter[int],
    feed_total: int,
    protected: set[str],
    known: list[tuple[Phrase | Regex, str, bool]],
) -> tuple[Suggestion, ...]:
    """Terms overrepresented among a feed's doubtful members (their texts, n_i terms in all)
    against the rest of the feed (the feed's own counts are the prior); never a term of a
    routed example, which a `none` would drop, nor one the rule already requires."""
    counts: Counter[str] = Counter()
    for texts in group:
        counts.update(terms(texts))
    scored: list[Suggestion] = []
    for term, y_i in counts.items():
        if y_i < 2 or term in protected:  # one entry's word is no pattern
            continue
        in_feed = max(feed_counts[key(term)], y_i)
        y_j = in_feed - y_i
        z = log_odds_z(y_i, n_i, y_j, feed_total - n_i, in_feed, feed_total)
        covered = _covering(term, known)
        if z >= Z_FOR_NONE and not (covered and not covered[1]):  # the rule's own term: no exclusion
            scored.append(Suggestion(term, z, y_i, y_j, covered[0] if covered else None))
    scored.sort(key=lambda s: (-s.z, s.term))
    return tuple(scored[:MAX_NONE])


def _without_shadowed(
    ranked: list[Suggestion], scored: dict[int, tuple[float, int, int]]
) -> list[Suggestion]:
    """Leave out a word that only ever occurs in one phrase ("facial" when every entry with
    it says "facial recognition"): the phrase says more, the word adds nothing."""
    shadowed = {
        word
        for s in ranked
        if " " in s.term
        for word in s.term.split()
        if scored.get(key(word), (0.0, -1, -1))[1:] == (s.inside, s.outside)
    }
    return [s for s in ranked if s.term not in shadowed]


def rule_terms(
    group: Group | None, label: str = "", excluding: bool = False
) -> Iterator[tuple[Phrase | Regex, str, bool]]:
    """Every phrase and regex of a rule: (term, how to name it, whether it excludes)."""
    if group is None:
        return
    label = group.label or label
    lists: tuple[tuple[tuple[Term, ...] | None, bool], ...] = (
        (group.any, excluding),
        (group.all, excluding),
        (group.none, not excluding),
    )
    for found, negated in lists:
        for term in found or ():
            if isinstance(term, Group):
                yield from rule_terms(term, label, negated)
            else:
                name = repr(term.source) + (f" in {label}" if label else "") + (" (none)" if negated else "")
                yield term, name, negated


def _covering(term: str, known: list[tuple[Phrase | Regex, str, bool]]) -> tuple[str, bool] | None:
    """The rule's term that matches any text holding this one: (its name, whether it excludes)."""
    padded = " " + term + " "
    for rule_term, name, negated in known:
        if isinstance(rule_term, Phrase):
            if rule_term.needle in padded:
                return name, negated
        elif rule_term.pattern.search(term) is not None:
            return name, negated
    return None


def _with_rule(suggestion: Suggestion, known: list[tuple[Phrase | Regex, str, bool]]) -> Suggestion:
    covered = _covering(suggestion.term, known)
    if covered is None:
        return suggestion
    return Suggestion(suggestion.term, suggestion.z, suggestion.inside, suggestion.outside, covered[0])


def toml_list(key: str, values: Sequence[str], width: int = 100) -> list[str]:
    """`key = [...]` as TOML, wrapped over several lines when long."""
    quoted = [json.dumps(v, ensure_ascii=False) for v in values]  # a JSON string is a TOML string
    one_line = f"{key} = [{', '.join(quoted)}]"
    if len(one_line) <= width:
        return [one_line]
    lines = [f"{key} = ["]
    line = "   "
    for q in quoted:
        if len(line) + len(q) + 2 > width:
            lines.append(line)
            line = "   "
        line += f" {q},"
    return [*lines, line, "]"]


def format_suggestions(result: Suggestions) -> list[str]:
    """The lines `republisher suggest` prints."""
    kind = "unrouted feed" if result.unrouted else "feed"
    lines = [
        f"suggest {result.slug} ({kind}): {counted(result.members, 'stored entry', 'stored entries')} "
        f"and {counted(result.examples, 'routed example', 'routed examples')}, against "
        f"{counted(result.total - result.members, 'other stored entry', 'other stored entries')}",
    ]
    if result.any:
        lines += [
            "",
            "Terms that set the feed apart (z: weighted log-odds, store-wide prior; "
            "in: feed entries and routed examples holding it, out: other entries)",
            *_table(result.any, "in", "out"),
            "",
        ]
        fresh = [s.term for s in result.any if s.in_rule is None]
        if result.unrouted:
            lines.append("An unrouted feed takes no [match]; these terms could start a new feed's:")
        else:
            lines.append("The terms above that the rule does not have yet, to pick from for [match]:")
        lines.extend(toml_list("any", fresh) if fresh else ["  (none: the rule has them all)"])
    if result.none:
        lines += [
            "",
            f"Candidates for `none`: terms common among the {result.doubtful} entries least like the "
            "rest of the feed (in: of those, out: rest of the feed)",
            *_table(result.none, "in", "rest"),
        ]
        fresh = [s.term for s in result.none if s.in_rule is None]
        lines += ["", *toml_list("none", fresh)] if fresh else []
    if result.any or result.none:
        lines.append("Check each term: `republisher check`, then `republisher reroute --dry-run`.")
    lines.extend(f"note: {note}" for note in result.notes)
    return lines


def _table(rows: Sequence[Suggestion], inside: str, outside: str) -> list[str]:
    width = max(20, *(len(s.term) for s in rows))
    lines = [f"  {'z':>6} {inside:>6} {outside:>7}  {'term':<{width}}  in the rule"]
    for s in rows:
        lines.append(
            f"  {s.z:6.1f} {s.inside:6} {s.outside:7}  {s.term:<{width}}  {s.in_rule or ''}".rstrip()
        )
    return lines
