"""One story, many sources: entries of a derived feed that are the same story become one.

Pure functions. Two entries are one story when their links are the same once tracking
parameters, fragments and scheme/host spelling are set aside, or, as a second signal,
when their titles are near-identical (case, accents and punctuation aside) and they are
dated within a few days of each other. The earliest version keeps its id and content.

Comparing every pair of titles would be quadratic in entries and in title length: titles
are compared on their first TITLE_CHARS characters only, and an index finds the few
earlier titles worth comparing (see _TitleIndex). Stored entries are untrusted: any link,
title or date is accepted, and an entry that cannot be dated is skipped and logged.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import logging
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from republisher import text
from republisher.models import StoredEntry
from republisher.text import plausible_date

log = logging.getLogger(__name__)

TRACKING_PREFIXES = ("utm_",)
TRACKING_PARAMETERS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "cmpid"}
)
TITLE_WINDOW = timedelta(days=3)
TITLE_SIMILARITY = 0.92  # word-level ratio; "China sanctions EU" vs "EU sanctions China" stays apart
MIN_TITLE_WORDS = 4  # shorter titles ("Live", "Briefing") say too little to merge on
TITLE_CHARS = 300  # only a title's start is compared: longer "titles" are bodies, not headlines
MAX_CANDIDATES = 64  # earlier titles compared with one entry, at most: bounds the worst case


@dataclass(frozen=True)
class Story:
    """An entry as published, with the other sources' versions of the same story."""

    entry: StoredEntry  # the earliest version: its id and content are published
    also: tuple[StoredEntry, ...] = ()


# --- merging ----------------------------------------------------------------------------


# A publish keys each entry once (MergeCache); these keep the work on links and titles for
# the next publish of a long-running process, within bounded memory (a few MB).
CACHED = 4096  # results kept
LONGEST_CACHED_LINK = 500


def canonical_link(url: str) -> str:
    """The link with tracking parameters, fragment and scheme/host spelling set aside.
    Any string is accepted: what urllib cannot take apart is compared as given."""
    return _cached_canonical_link(url) if len(url) <= LONGEST_CACHED_LINK else _canonical_link(url)


# A link with a plain host name, no port, query, fragment, user or odd character: its
# canonical form needs no urllib (most links; tests hold it to _parsed_canonical_link's).
_PLAIN_LINK = re.compile(
    r"(?i:https?://(?:www\.)?)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(/[!-\"$-'*-;=@-~]*)?\Z"
)


def _canonical_link(url: str) -> str:
    if plain := _PLAIN_LINK.match(url):
        host, path = plain.groups()
        return f"https://{host.lower()}{path or '/'}"
    return _parsed_canonical_link(url)


def _parsed_canonical_link(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            return url
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port  # raises ValueError when out of range
    except ValueError:
        return url
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith(TRACKING_PREFIXES) and key.lower() not in TRACKING_PARAMETERS
    ]
    return urlunsplit(("https", host, parts.path or "/", urlencode(query), ""))


_cached_canonical_link = functools.lru_cache(maxsize=CACHED)(_canonical_link)


def title_words(title: str) -> list[str]:
    """The folded words of the title's first TITLE_CHARS characters (so comparing two
    titles costs at most a constant); none for a title too short to merge on."""
    words = text.words(title[:TITLE_CHARS])
    if len(title) > TITLE_CHARS:
        words = words[:-1]  # the cut may have split the last word
    return words if len(words) >= MIN_TITLE_WORDS else []


# A word of a title, numbered from its second occurrence on: "eu", then "eu\x00\x02".
# Tokens sort as (word, occurrence) pairs would (words are letters and digits, so never
# hold "\x00"), and the first occurrence is the word itself: most tokens cost nothing.
Token = str


@functools.lru_cache(maxsize=CACHED)
def _title_tokens(title: str) -> tuple[tuple[str, ...], tuple[Token, ...]]:
    """title_words(title) and those words as tokens, sorted. Called with the title's first
    TITLE_CHARS + 1 characters: all title_words reads. Words are interned: a publish keeps
    every title it merges, and most titles share most of their words."""
    words = tuple(sys.intern(word) for word in title_words(title))
    seen: Counter[str] = Counter()
    tokens = []
    for word in words:
        seen[word] += 1
        tokens.append(word if seen[word] == 1 else sys.intern(f"{word}\x00{chr(seen[word])}"))
    return words, tuple(sorted(tokens))


@dataclass(frozen=True, slots=True)
class _Title:
    words: tuple[str, ...]  # shared with _title_tokens' cache
    when: datetime
    ordered: tuple[Token, ...]  # the words as tokens, sorted

    @classmethod
    def of(cls, title: str, when: datetime) -> _Title:
        words, ordered = _title_tokens(title[: TITLE_CHARS + 1])
        return cls(words, when, ordered)


def _same_title(a: _Title, b: _Title) -> bool:
    """Near-identical titles dated within TITLE_WINDOW of each other."""
    if abs(a.when - b.when) > TITLE_WINDOW:
        return False
    if a.words == b.words:
        return True
    # Word-level ratio 2·matches/(la+lb). Cheap bound first: the words shared in any order
    # bound the matches (difflib's quick_ratio); most candidates stop here. The set is made
    # here, not kept with every title: few pairs get this far (the index picks them).
    if 2 * len(set(a.ordered).intersection(b.ordered)) < TITLE_SIMILARITY * (len(a.words) + len(b.words)):
        return False
    # Both lists are bounded by TITLE_CHARS, so this costs at most a constant per pair.
    return difflib.SequenceMatcher(None, a.words, b.words, autojunk=False).ratio() >= TITLE_SIMILARITY


# Titles with ratio >= r share at least r/(2-r) of either title's tokens.
_OVERLAP = TITLE_SIMILARITY / (2 - TITLE_SIMILARITY)


class _TitleIndex:
    """Finds the earlier titles that may be near-identical to a new one without comparing
    all pairs (prefix filtering): with every title's tokens in one global order, rarest
    first, two titles sharing at least _OVERLAP of their tokens always share one of the
    first few tokens of each, so only those are indexed and looked up. Titles come newest
    first, so a bucket is read nearest first and only back to TITLE_WINDOW, and at most
    MAX_CANDIDATES titles are compared with one entry: even adversarial titles cost
    linear time."""

    def __init__(self, titles: Sequence[_Title]) -> None:
        self.frequency = Counter(itertools.chain.from_iterable(title.ordered for title in titles))
        self.buckets: dict[Token, list[int]] = {}
        self.added: list[tuple[_Title, int]] = []  # (title, its story's group), in order

    def prefix(self, title: _Title) -> list[Token]:
        """The tokens of the title that are indexed and looked up (none for a short title)."""
        if not title.words:
            return []
        # By frequency, then by token: sorting the sorted tokens stably by frequency alone.
        ordered = sorted(title.ordered, key=self.frequency.__getitem__)
        return ordered[: len(ordered) - int(_OVERLAP * len(ordered)) + 1]

    def find(self, title: _Title, prefix: list[Token]) -> int | None:
        """The group of the first earlier title near-identical to this one, if any
        (`prefix`: self.prefix(title))."""
        if not title.words:
            return None
        candidates: set[int] = set()
        for token in prefix:
            for i in reversed(self.buckets.get(token, ())):
                # Titles come newest first: the rest of the bucket is further away still.
                if len(candidates) >= MAX_CANDIDATES or self.added[i][0].when - title.when > TITLE_WINDOW:
                    break
                candidates.add(i)
        # In the order added, as comparing with every earlier title in turn would find it.
        for i in sorted(candidates):
            other, group = self.added[i]
            if _same_title(title, other):
                return group
        return None

    def add(self, title: _Title, prefix: list[Token], group: int) -> None:
        if title.words:
            for token in prefix:
                self.buckets.setdefault(token, []).append(len(self.added))
            self.added.append((title, group))


# An entry as merging needs it: its dates checked (dated), its canonical link, its title.
_Keyed = tuple[StoredEntry, "str | None", _Title]


def _keyed(entry: StoredEntry, merge: bool) -> _Keyed:
    entry = dated(entry)
    link = canonical_link(entry.data.link) if merge and entry.data.link else None
    return entry, link, _Title.of(entry.data.title if merge else "", entry.sort_time)


class MergeCache:
    """What merging needs of each entry, worked out once per publish however many feeds
    it is in. Known by the identity of the stored entry (store.EntryCache shares them),
    which is kept, so no id is reused."""

    def __init__(self) -> None:
        self._keyed: dict[tuple[int, bool], tuple[StoredEntry, _Keyed | Exception]] = {}

    def keyed(self, entry: StoredEntry, merge: bool) -> _Keyed | Exception:
        made = self._keyed.get((id(entry), merge))
        if made is None:
            try:
                result: _Keyed | Exception = _keyed(entry, merge)
            except Exception as e:  # kept too: the entry is skipped in every feed
                result = e
            made = self._keyed[(id(entry), merge)] = (entry, result)
        return made[1]


def merge_stories(
    entries: Sequence[StoredEntry], *, merge: bool = True, cache: MergeCache | None = None
) -> list[Story]:
    """Group entries (newest first) into stories, newest first. An entry that cannot be
    dated or keyed is skipped and logged. With merge=False each entry is its own story."""
    cache = cache if cache is not None else MergeCache()
    keyed: list[_Keyed] = []
    for entry in entries:
        result = cache.keyed(entry, merge)
        if isinstance(result, Exception):  # one stored entry must never stop a publish
            skipped(entry.source, entry.key, result)
        else:
            keyed.append(result)
    # Newest first, as the store gives them (a repaired date may have moved one): the
    # title index relies on it. Stable, so the store's order decides ties.
    keyed.sort(key=lambda k: k[2].when, reverse=True)
    groups: list[list[_Keyed]] = []
    by_link: dict[str, int] = {}
    titles = _TitleIndex([title for _, _, title in keyed])
    for item in keyed:
        _, link, title = item
        index = by_link.get(link) if link else None
        prefix = titles.prefix(title)
        if index is None:
            index = titles.find(title, prefix)
        if index is None:
            index = len(groups)
            groups.append([])
        groups[index].append(item)
        if link:
            by_link.setdefault(link, index)
        titles.add(title, prefix, index)
    stories: list[tuple[datetime, Story]] = []
    for group in groups:
        earliest = group[0]
        if len(group) > 1:
            earliest = min(group, key=lambda k: (k[0].first_seen, k[2].when, k[0].source, k[0].key))
        also = tuple(k[0] for k in group if k is not earliest)
        stories.append((earliest[2].when, Story(earliest[0], also)))
    # Newest first by the published version's date (stable: ties keep the store's order).
    stories.sort(key=lambda s: s[0], reverse=True)
    return [story for _, story in stories]


def skipped(source: str, key: str, error: Exception | str) -> None:
    """Log an entry left out of a publish, naming its source and key."""
    reason = f"{type(error).__name__}: {error}" if isinstance(error, Exception) else error
    log.warning("%s: entry %s not published (%s)", source, key, reason[:300])


# --- dates ------------------------------------------------------------------------------


def dated(entry: StoredEntry) -> StoredEntry:
    """The entry with every date in UTC and the unpublishable ones dropped (the same object
    when nothing changes); raises when it has no usable first-seen time."""
    # The store's rule for dates (text.plausible_date), again: older versions stored any date.
    first_seen, changed_at = plausible_date(entry.first_seen), plausible_date(entry.changed_at)
    if first_seen is None or changed_at is None:
        raise ValueError(f"unusable stored times {entry.first_seen!r}, {entry.changed_at!r}")
    data, origin = entry.data, entry.origin
    published, updated = plausible_date(data.published), plausible_date(data.updated)
    source_updated = plausible_date(origin.updated)
    old = (entry.first_seen, entry.changed_at, data.published, data.updated, origin.updated)
    new = (first_seen, changed_at, published, updated, source_updated)
    if all(a is b for a, b in zip(old, new, strict=True)):
        return entry  # plausible_date returns a date unchanged when it is already fine
    return replace(
        entry,
        first_seen=first_seen,
        changed_at=changed_at,
        data=replace(data, published=published, updated=updated),
        origin=replace(origin, updated=source_updated),
    )
