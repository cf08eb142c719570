"""One story, many sources: entries of a derived feed that are the same story become one.

Pure functions. Two entries are one story when their links are the same once tracking
parameters, fragments and scheme/host spelling are set aside, or, as a second signal,
when their titles are near-identical (case, accents and punctuation aside) and they are
dated within a few days of each other. The earliest version keeps its id and content.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from republisher import text
from republisher.models import StoredEntry

TRACKING_PREFIXES = ("utm_",)
TRACKING_PARAMETERS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "cmpid"}
)
TITLE_WINDOW = timedelta(days=3)
TITLE_SIMILARITY = 0.92  # word-level ratio; "China sanctions EU" vs "EU sanctions China" stays apart
MIN_TITLE_WORDS = 4  # shorter titles ("Live", "Briefing") say too little to merge on


@dataclass(frozen=True)
class Story:
    """An entry as published, with the other sources' versions of the same story."""

    entry: StoredEntry  # the earliest version: its id and content are published
    also: tuple[StoredEntry, ...] = ()


def also_carried_by(story: Story) -> str:
    """An HTML line naming the other sources that carried the story ("" when none did)."""
    names: dict[str, str | None] = {}
    for other in story.also:
        if other.source != story.entry.source:
            names.setdefault(other.origin.title, other.data.link)
    if not names:
        return ""
    links = ", ".join(
        f'<a href="{html.escape(link)}">{html.escape(name)}</a>' if link else html.escape(name)
        for name, link in names.items()
    )
    return f"<p>Also carried by: {links}.</p>"


def with_carriers(story: Story) -> tuple[str | None, str | None]:
    """(summary, content) HTML of the published version, the "Also carried by" line added
    to the summary, or to the content when there is no summary."""
    data = story.entry.data
    carried = also_carried_by(story)
    if data.summary:
        return data.summary + carried, data.content
    if data.content:
        return None, data.content + carried
    return carried or None, None


def canonical_link(url: str) -> str:
    """The link with tracking parameters, fragment and scheme/host spelling set aside."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = parts.port
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith(TRACKING_PREFIXES) and key.lower() not in TRACKING_PARAMETERS
    ]
    return urlunsplit(("https", host, parts.path or "/", urlencode(query), ""))


def _title_words(entry: StoredEntry) -> list[str]:
    return text.words(entry.data.title)


def _same_title(a: StoredEntry, b: StoredEntry, words_a: list[str], words_b: list[str]) -> bool:
    if min(len(words_a), len(words_b)) < MIN_TITLE_WORDS:
        return False
    if abs(a.sort_time - b.sort_time) > TITLE_WINDOW:
        return False
    if words_a == words_b:
        return True
    # ratio() is at most 2·min/(la+lb): titles of very different lengths cannot be similar.
    if 2 * min(len(words_a), len(words_b)) < TITLE_SIMILARITY * (len(words_a) + len(words_b)):
        return False
    matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
    return matcher.quick_ratio() >= TITLE_SIMILARITY and matcher.ratio() >= TITLE_SIMILARITY


def merge_stories(entries: Sequence[StoredEntry]) -> list[Story]:
    """Group entries (newest first) into stories, newest first."""
    groups: list[list[StoredEntry]] = []
    by_link: dict[str, int] = {}
    titles: list[tuple[int, StoredEntry, list[str]]] = []
    for entry in entries:
        link = canonical_link(entry.data.link) if entry.data.link else None
        words = _title_words(entry)
        index = by_link.get(link) if link else None
        if index is None:
            index = next((i for i, other, w in titles if _same_title(entry, other, words, w)), None)
        if index is None:
            index = len(groups)
            groups.append([])
        groups[index].append(entry)
        if link:
            by_link.setdefault(link, index)
        titles.append((index, entry, words))
    stories = []
    for group in groups:
        earliest = min(group, key=lambda e: (e.first_seen, e.sort_time, e.source, e.key))
        stories.append(Story(earliest, tuple(e for e in group if e is not earliest)))
    # Newest first by the published version's date (stable: ties keep the store's order).
    return sorted(stories, key=lambda s: s.entry.sort_time, reverse=True)
