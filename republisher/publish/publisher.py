"""Publish: turn the store's routed entries into the files in output_dir.

`plan` is pure: from the stories of each feed and the settings it computes every output
file's bytes and the files that must go. `publish` reads the store, applies the plan
(writing only files whose bytes changed, atomically) and records that the output is
current. A publish is due when stored entries or routes changed, when a setting that
shapes the output changed, when a file we publish has gone missing (or one an older
version published, such as feed.xsl, is still there), or when a feed ages entries out
(max_age) as time passes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from republisher.config import Config
from republisher.models import StoredEntry
from republisher.publish.atom import render_feed
from republisher.publish.files import remove_stale_temporaries, write_if_changed
from republisher.publish.jsonfeed import render_json_feed
from republisher.publish.pages import INDEX_PAGE, render_feed_page
from republisher.publish.site import FeedSummary, feed_summary, render_html, render_opml
from republisher.publish.stories import Story, merge_stories
from republisher.routing.rules import Rule, RuleSet
from republisher.store.store import Store

log = logging.getLogger(__name__)

UNPUBLISHED_KEY = "unpublished"  # "1" while stored changes are not yet in output_dir
SETTINGS_KEY = "output_settings"  # fingerprint of the settings the output was written with
MERGE_LOOKAHEAD = 3  # read this many times max_entries so that merged stories still fill the feed
INDEX_FILES = ("index.opml", INDEX_PAGE)
FEED_SUFFIXES = (".atom", ".html", ".json")  # what a derived feed publishes, .json only by choice
# Files an older version published that this one does not: removed from output_dir.
RETIRED_FILES = ("feed.xsl",)  # the XSLT view of the feeds, replaced by each feed's page


@dataclass(frozen=True)
class FeedContent:
    """What one derived feed publishes now, as read from the store."""

    rule: Rule
    stories: list[Story]
    routed: int  # entries routed to the feed in the store (before retention and merging)
    first_written: datetime  # `updated` while the feed has no entries


def output_files(config: Config, rules: RuleSet) -> list[str]:
    """Every file a publish writes into output_dir with these settings."""
    suffixes = [s for s in FEED_SUFFIXES if s != ".json" or "json" in config.formats]
    return [f"{rule.slug}{suffix}" for rule in rules.rules for suffix in suffixes] + list(INDEX_FILES)


def settings_fingerprint(config: Config) -> str:
    """Changes when a setting that shapes the published bytes changes (rules have their own)."""
    settings = {
        "base_url": config.base_url,
        "output_dir": str(config.output_dir),
        "max_entries": config.max_entries,
        "formats": sorted(config.formats),
        "websub_hubs": list(config.websub_hubs),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def publish_due(store: Store, config: Config, rules: RuleSet) -> bool:
    """Whether the output may differ from what the store and settings say it should be."""
    return (
        store.get_meta(UNPUBLISHED_KEY) == "1"
        or store.get_meta(SETTINGS_KEY) != settings_fingerprint(config)
        or any(rule.max_age for rule in rules.rules)
        or any(not (config.output_dir / name).is_file() for name in output_files(config, rules))
        or any((config.output_dir / name).is_file() for name in RETIRED_FILES)
    )


def plan(feeds: Sequence[FeedContent], config: Config) -> dict[str, bytes]:
    """Every output file's bytes. Pure: the same stories and settings give the same bytes."""
    json_on = "json" in config.formats
    documents: dict[str, bytes] = {}
    summaries: list[FeedSummary] = []
    for feed in feeds:
        rule, stories = feed.rule, feed.stories
        documents[f"{rule.slug}.atom"] = render_feed(
            rule,
            stories,
            config.base_url,
            feed.first_written,
            hubs=config.websub_hubs,
            json_alternate=json_on,
        )
        if json_on:
            documents[f"{rule.slug}.json"] = render_json_feed(
                rule, stories, config.base_url, config.websub_hubs
            )
        documents[f"{rule.slug}.html"] = render_feed_page(
            rule, stories, config.base_url, routed=feed.routed, json=json_on
        )
        summaries.append(feed_summary(rule, stories, feed.routed, feed.first_written))
    documents["index.opml"] = render_opml(summaries, config.base_url)
    documents[INDEX_PAGE] = render_html(summaries, config.base_url, json=json_on)
    return documents


def publish(store: Store, config: Config, rules: RuleSet, now: datetime) -> tuple[list[str], list[str]]:
    """Write every output file whose bytes changed and remove the feeds that left.
    Returns (written, removed) file names."""
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    gone_slugs = sorted(store.known_feeds() - set(rules.slugs))
    # Files first, then the store forgets the feed: a crash in between leaves the slug
    # known, so the next publish removes what is left.
    removed = _remove_files(out, [f"{slug}{suffix}" for slug in gone_slugs for suffix in FEED_SUFFIXES])
    removed += _remove_files(out, list(RETIRED_FILES))
    if "json" not in config.formats:  # JSON output switched off: the .json files leave too
        removed += _remove_files(out, [f"{rule.slug}.json" for rule in rules.rules])
    with store.transaction():
        for slug in gone_slugs:
            store.forget_feed(slug)
        first_written = {rule.slug: store.first_written(rule.slug, now) for rule in rules.rules}
    counts = store.feed_counts()
    feeds = [
        FeedContent(
            rule,
            feed_stories(store, rule, config.max_entries, now),
            counts.get(rule.slug, (0, None))[0],
            first_written[rule.slug],
        )
        for rule in rules.rules
    ]
    written = [
        name for name, document in plan(feeds, config).items() if write_if_changed(out / name, document)
    ]
    with store.transaction():
        store.set_meta(UNPUBLISHED_KEY, "0")
        store.set_meta(SETTINGS_KEY, settings_fingerprint(config))
    return written, removed


def _remove_files(out: Path, names: list[str]) -> list[str]:
    removed = []
    for name in names:
        if (out / name).is_file() or (out / name).is_symlink():  # never a folder someone put there
            (out / name).unlink()
            removed.append(name)
    return removed


def feed_stories(store: Store, rule: Rule, default_limit: int, now: datetime) -> list[Story]:
    """The stories a derived feed publishes now: its retention, and one story per story."""
    limit = rule.max_entries or default_limit
    since = now - timedelta(seconds=rule.max_age) if rule.max_age else None
    entries = _unique_ids(store.feed_entries(rule.slug, limit * MERGE_LOOKAHEAD, since))
    return merge_stories(entries, merge=rule.merge_duplicates)[:limit]


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


def mark_unpublished(store: Store) -> None:
    """Record (inside the caller's transaction) that stored entries or routes changed."""
    store.set_meta(UNPUBLISHED_KEY, "1")
