"""`review SLUG`: the stored entries a derived feed likely misses, and its doubtful members.

Likely misses are the entries outside the feed that most resemble it (the cosine against
the feed's centroid, see `similarity`); each comes with why the rule did not take it, in
the reference matcher's words, and the feed's terms it shares. Doubtful members are the
feed's entries that least resemble the other members (left out of the centroid in turn),
with the terms that took them. Pure: the caller reads the store and prints the lines.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from republisher import text
from republisher.errors import ConfigError
from republisher.models import StoredEntry
from republisher.routing.match import Item, Verdict, judge, judge_all
from republisher.routing.rules import Rule
from republisher.routing.similarity import Index, Profile, entry_texts, example_texts


@dataclass(frozen=True)
class Finding:
    """One stored entry worth the editor's look."""

    source: str
    key: str
    title: str
    link: str | None
    date: datetime
    score: float  # cosine similarity with the feed (members: with the other members), 0..1
    reasons: tuple[str, ...]  # why the rule does or does not take it
    shared: tuple[str, ...] = ()  # the feed's distinctive terms it contains, heaviest first


@dataclass(frozen=True)
class Review:
    slug: str
    unrouted: bool
    members: int  # stored entries in the feed
    examples: int  # routed [[examples]] counted as members
    total: int  # stored entries
    misses: tuple[Finding, ...]
    doubtful: tuple[Finding, ...]
    notes: tuple[str, ...]  # why a list is empty, when it is


def find_rule(slug: str, rules: Sequence[Rule]) -> Rule:
    """The rule of a feed; ConfigError naming the feeds there are when none has that slug."""
    for rule in rules:
        if rule.slug == slug:
            return rule
    known = ", ".join(r.slug for r in rules) or "none"
    raise ConfigError([f"no derived feed named {slug!r} (feeds: {known})"])


@dataclass(frozen=True)
class FeedModel:
    """A feed's members placed in an Index of the whole store, with their centroid.

    Documents 0..len(entries)-1 are the stored entries, then the routed examples."""

    rule: Rule
    index: Index
    profile: Profile
    member_entries: tuple[int, ...]  # positions in `entries` of the stored members
    examples: int


def model(
    rule: Rule,
    entries: Sequence[StoredEntry],
    in_feed: Collection[tuple[str, str]],
    stem: bool = True,
) -> FeedModel:
    """One pass over the store; `stem`: compare singular forms (else exact forms, named)."""
    routed_examples = [e for e in rule.examples if e.routed]
    stored = len(entries)

    def texts_of(doc: int) -> tuple[str, ...]:
        if doc < stored:
            return entry_texts(entries[doc].data)
        return example_texts(routed_examples[doc - stored])

    members = tuple(i for i, e in enumerate(entries) if (e.source, e.key) in in_feed)
    everyone = members + tuple(range(stored, stored + len(routed_examples)))
    index = Index(stored + len(routed_examples), texts_of, everyone, stem)
    return FeedModel(rule, index, Profile(index), members, len(routed_examples))


def doubtful_order(feed: FeedModel, limit: int) -> list[tuple[float, int]]:
    """(leave-one-out score, position) of the `limit` stored members least like the others,
    least first; none when there are no others to compare with."""
    if feed.index.members < 2:
        return []
    return feed.profile.least_alike(feed.member_entries, limit)


def review(
    slug: str,
    rules: Sequence[Rule],
    entries: Sequence[StoredEntry],
    in_feed: Collection[tuple[str, str]],
    limit: int = 10,
) -> Review:
    """Likely misses and doubtful members of one feed.

    rules: every rule (an unrouted feed's members depend on the others); entries: every
    stored entry; in_feed: (source, key) of the entries the store routes to the feed."""
    rule = find_rule(slug, rules)
    feed = model(rule, entries, in_feed)
    notes: list[str] = []
    misses: list[Finding] = []
    doubtful: list[Finding] = []
    if feed.index.members == 0:
        notes.append(
            "the feed has no stored entries and no [[examples]] with routed = true: nothing to compare with"
        )
    else:
        members = set(feed.member_entries)
        candidates = (
            i
            for i, entry in enumerate(entries)
            if i not in members and (rule.sources is None or entry.source in rule.sources)
        )
        for score, i in feed.profile.nearest(candidates, limit):
            item = entries[i]
            shared = feed.profile.shared(entry_texts(item.data))
            misses.append(_finding(item, score, _why_not(rule, rules, item), shared))
        if not misses:
            notes.append("no entry outside the feed shares its distinctive terms")
        for score, i in doubtful_order(feed, limit):
            doubtful.append(_finding(entries[i], score, _why(rule, rules, entries[i])))
        if len(feed.member_entries) and feed.index.members < 2:
            notes.append("one member only: nothing to compare it with")
    return Review(
        slug=slug,
        unrouted=rule.unrouted,
        members=len(feed.member_entries),
        examples=feed.examples,
        total=len(entries),
        misses=tuple(misses),
        doubtful=tuple(doubtful),
        notes=tuple(notes),
    )


def _finding(entry: StoredEntry, score: float, reasons: list[str], shared: Sequence[str] = ()) -> Finding:
    data = entry.data
    return Finding(
        source=entry.source,
        key=entry.key,
        title=text.display_title(data.title, data.summary, data.content, data.link),
        link=data.link,
        date=entry.sort_time,
        score=score,
        reasons=tuple(reasons),
        shared=tuple(shared),
    )


def _verdicts(rule: Rule, rules: Sequence[Rule], entry: StoredEntry) -> list[Verdict]:
    """The reference matcher's verdicts on an entry: of every rule for an unrouted feed
    (which takes what the others leave), else of the feed's own rule only."""
    item = Item.from_entry(entry.data, entry.source)
    return judge_all(rules, item) if rule.unrouted else [judge(rule, item)]


def _terms(verdict: Verdict, most: int = 3) -> list[str]:
    """The matched terms, the first few quoted."""
    lines = [f"matched {h.term!r} in {h.field}: {h.excerpt}" for h in verdict.matched[:most]]
    if len(verdict.matched) > most:
        lines.append(f"(and {len(verdict.matched) - most} more matched terms)")
    return lines


def _why_not(rule: Rule, rules: Sequence[Rule], entry: StoredEntry) -> list[str]:
    """Why the feed does not hold an entry, as `explain` would say it."""
    verdicts = _verdicts(rule, rules, entry)
    mine = next(v for v in verdicts if v.slug == rule.slug)
    if mine.routed:
        return ["the current rules take it: the store predates them, run `republisher reroute`"]
    if rule.unrouted:
        taken = [v for v in verdicts if v.routed and v.slug != rule.slug]
        if taken:
            return [f"taken by {v.slug}: " + "; ".join(_terms(v)[:2]) for v in taken]
        return list(mine.missing)
    reasons = [f"excluded by {h.term!r} in {h.field}: {h.excerpt}" for h in mine.excluded_by]
    reasons.extend(f"missing {m}" for m in mine.missing)
    if mine.matched:  # some terms held, not enough
        reasons.extend(_terms(mine))
    return reasons


def _why(rule: Rule, rules: Sequence[Rule], entry: StoredEntry) -> list[str]:
    """The terms that took a member into the feed."""
    verdicts = _verdicts(rule, rules, entry)
    mine = next(v for v in verdicts if v.slug == rule.slug)
    if not mine.routed:
        return [
            "the current rules no longer take it: run `republisher reroute`",
            *_why_not(rule, rules, entry),
        ]
    if rule.unrouted:
        return ["no other feed takes it"]
    return _terms(mine)


def format_review(result: Review) -> list[str]:
    """The lines `republisher review` prints."""
    kind = "unrouted feed" if result.unrouted else "feed"
    lines = [
        f"review {result.slug} ({kind}): {text.counted(result.members, 'stored entry', 'stored entries')} in "
        f"the feed, {text.counted(result.examples, 'routed example', 'routed examples')}, "
        f"{text.counted(result.total, 'stored entry', 'stored entries')} in all",
        "",
        "Likely misses: entries outside the feed that most resemble it (score: cosine similarity, 0-1)",
    ]
    lines.extend(_entry_lines(result.misses))
    lines += ["", "Doubtful members: entries in the feed that least resemble the others"]
    lines.extend(_entry_lines(result.doubtful))
    lines.extend(f"note: {note}" for note in result.notes)
    return lines


def _entry_lines(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["  (none)"]
    lines: list[str] = []
    for rank, f in enumerate(findings, 1):
        lines.append(f"{rank:3}. {f.score:.3f}  {f.title}")
        lines.append(f"       {f.source}, {f.date:%Y-%m-%d}  {f.link or f.key}")
        if f.shared:
            lines.append(f"       shares: {', '.join(f.shared)}")
        lines.extend(f"       {reason}" for reason in f.reasons)
    return lines
