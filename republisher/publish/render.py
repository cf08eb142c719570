"""Render derived feeds: read each feed's stories from the store, turn them into its files
(Atom, JSON Feed, page) and what the index pages show of it.

`render_feed_files` and `plan` are pure: the same stories and settings give the same bytes.
One publish shares a RenderCaches across its feeds, so that an entry carried by several
feeds is decoded, merged, cleaned and rendered once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from republisher.config import Config
from republisher.models import StoredEntry
from republisher.publish.atom import AtomCache, render_entries
from republisher.publish.files import Writer
from republisher.publish.jsonfeed import render_json_entries
from republisher.publish.pages import INDEX_PAGE, PageCache, carried, render_page_entries
from republisher.publish.public import PublicCache, public_entries
from republisher.publish.site import FeedSummary, render_html, render_opml, summary_of_entries
from republisher.publish.stories import MergeCache, Story, merge_stories
from republisher.routing.rules import Rule
from republisher.store.store import EntryCache, Store

MERGE_LOOKAHEAD = 3  # read this many times max_entries so that merged stories still fill the feed
# A publish shares the work on each entry between feeds for this many entries at most: the
# cache then starts afresh (tens of MB: feeds of max_entries 50 read 150 entries each).
CACHED_ENTRIES = 20_000


@dataclass(frozen=True)
class FeedContent:
    """What one derived feed publishes now, as read from the store."""

    rule: Rule
    stories: list[Story]
    routed: int  # entries routed to the feed in the store (before retention and merging)
    first_written: datetime  # `updated` while the feed has no entries


class RenderCaches:
    """What one publish renders once and every feed shares: each stored entry decoded, each
    story made public, each Atom entry and page article written once, however many feeds
    carry them."""

    def __init__(self) -> None:
        self.read = EntryCache()
        self.merged = MergeCache()
        self.public = PublicCache()
        self.atom = AtomCache()
        self.page = PageCache()

    def entries(self) -> int:
        """Stored entries held (read, and what was made of them)."""
        return len(self.read.entries)


def render_feed_files(
    feed: FeedContent, config: Config, caches: RenderCaches | None = None
) -> tuple[dict[str, bytes], FeedSummary]:
    """One derived feed's files and what the index pages show of it. Pure."""
    caches = caches or RenderCaches()
    json_on = "json" in config.formats
    rule = feed.rule
    entries = public_entries(feed.stories, caches.public)
    represented = carried(feed.stories)
    documents = {
        f"{rule.slug}.atom": render_entries(
            rule,
            entries,
            config.base_url,
            feed.first_written,
            hubs=config.websub_hubs,
            json_alternate=json_on,
            cache=caches.atom,
        )
    }
    if json_on:
        documents[f"{rule.slug}.json"] = render_json_entries(
            rule, entries, config.base_url, config.websub_hubs
        )
    documents[f"{rule.slug}.html"] = render_page_entries(
        rule,
        entries,
        config.base_url,
        routed=feed.routed,
        represented=represented,
        json=json_on,
        cache=caches.page,
    )
    return documents, summary_of_entries(rule, entries, feed.routed, represented, feed.first_written)


def index_files(summaries: Sequence[FeedSummary], config: Config) -> dict[str, bytes]:
    """index.opml and index.html, listing every feed. Pure."""
    return {
        "index.opml": render_opml(summaries, config.base_url),
        INDEX_PAGE: render_html(summaries, config.base_url, json="json" in config.formats),
    }


def plan(feeds: Sequence[FeedContent], config: Config) -> dict[str, bytes]:
    """Every output file's bytes. Pure: the same stories and settings give the same bytes."""
    caches = RenderCaches()
    documents: dict[str, bytes] = {}
    summaries: list[FeedSummary] = []
    for feed in feeds:
        files, summary = render_feed_files(feed, config, caches)
        documents.update(files)
        summaries.append(summary)
    documents.update(index_files(summaries, config))
    return documents


def render_feeds(
    store: Store,
    config: Config,
    rules: Sequence[Rule],
    first_written: dict[str, datetime],
    now: datetime,
    files: Writer,
) -> list[FeedSummary]:
    """Read, render and hand to `files` each of these feeds; their summaries, in order.

    The feeds are read a batch at a time, each batch in one go before any is rendered: an
    entry in several feeds of the batch is fetched once, and no query waits on the threads
    writing files (each query lets them take the interpreter)."""
    caches = RenderCaches()
    summaries = []
    for batch in _batches(rules, config.max_entries):
        if caches.entries() > CACHED_ENTRIES:  # bounded memory, whatever the feeds hold
            caches = RenderCaches()
        for feed in _read_feeds(store, batch, config.max_entries, now, first_written, caches):
            documents, summary = render_feed_files(feed, config, caches)
            for name, document in documents.items():
                files.write(config.output_dir / name, document)
            summaries.append(summary)
    return summaries


def _batches(rules: Sequence[Rule], default_limit: int) -> list[list[Rule]]:
    """The rules in order, in batches reading at most about CACHED_ENTRIES / 2 entries."""
    batches: list[list[Rule]] = [[]]
    rows = 0
    for rule in rules:
        wanted = (rule.max_entries or default_limit) * MERGE_LOOKAHEAD
        if batches[-1] and rows + wanted > CACHED_ENTRIES // 2:
            batches.append([])
            rows = 0
        batches[-1].append(rule)
        rows += wanted
    return [batch for batch in batches if batch]


def _read_feeds(
    store: Store,
    rules: Sequence[Rule],
    default_limit: int,
    now: datetime,
    first_written: dict[str, datetime],
    caches: RenderCaches,
) -> list[FeedContent]:
    """What each of these feeds publishes now (see feed_stories)."""
    wanted = [_wanted(rule, default_limit, now) for rule in rules]
    reads = [
        (rule.slug, limit * MERGE_LOOKAHEAD, since)
        for rule, (limit, since) in zip(rules, wanted, strict=True)
    ]
    entries = store.feeds_entries(reads, caches.read)
    counts = store.routed_counts([rule.slug for rule in rules])
    return [
        FeedContent(
            rule,
            _stories(read, rule, limit, caches.merged),
            counts.get(rule.slug, 0),
            first_written[rule.slug],
        )
        for rule, read, (limit, _) in zip(rules, entries, wanted, strict=True)
    ]


def feed_stories(
    store: Store,
    rule: Rule,
    default_limit: int,
    now: datetime,
    *,
    read: EntryCache | None = None,
    merged: MergeCache | None = None,
) -> list[Story]:
    """The stories a derived feed publishes now: its retention, and one story per story.
    (`read`, `merged`: what this publish already did for entries of other feeds.)"""
    limit, since = _wanted(rule, default_limit, now)
    return _stories(
        store.feed_entries(rule.slug, limit * MERGE_LOOKAHEAD, since, read=read), rule, limit, merged
    )


def _wanted(rule: Rule, default_limit: int, now: datetime) -> tuple[int, datetime | None]:
    """(stories published, oldest date kept) of a feed."""
    limit = rule.max_entries or default_limit
    return limit, (now - timedelta(seconds=rule.max_age) if rule.max_age else None)


def _stories(entries: list[StoredEntry], rule: Rule, limit: int, merged: MergeCache | None) -> list[Story]:
    return merge_stories(_unique_ids(entries), merge=rule.merge_duplicates, cache=merged)[:limit]


def _unique_ids(entries: list[StoredEntry]) -> list[StoredEntry]:
    """One entry per Atom id: a store written by an older version may hold two sources'
    entries under one id, and a feed must never repeat an id."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.atom_id not in seen:
            seen.add(entry.atom_id)
            unique.append(entry)
    return unique
