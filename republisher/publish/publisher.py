"""Publish: turn the store's routed entries into the files in output_dir.

`publish` reads the store, renders the feeds that may have changed (render.py, pure),
writes only files whose bytes changed, atomically, and records that the output is
current. A publish is due when stored entries or routes changed, when a setting that
shapes the output changed, when a file we publish has gone missing (or one an older
version published, such as feed.xsl, is still there), or when a feed ages entries out
(max_age) as time passes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from republisher.codeid import code_digest
from republisher.config import Config
from republisher.gcpause import collection_paused
from republisher.routing.rules import Rule, RuleSet
from republisher.store.store import Store

# The rendering modules (feedgen, lxml, nh3, dateutil: tens of ms to import) are imported
# by `publish` only: a poll with nothing to publish asks `publish_due` and never needs them.
if TYPE_CHECKING:
    from republisher.publish.render import MERGE_LOOKAHEAD as MERGE_LOOKAHEAD
    from republisher.publish.render import FeedContent as FeedContent
    from republisher.publish.render import RenderCaches as RenderCaches
    from republisher.publish.render import feed_stories as feed_stories
    from republisher.publish.render import index_files as index_files
    from republisher.publish.render import plan as plan
    from republisher.publish.render import render_feed_files as render_feed_files
    from republisher.publish.site import FeedSummary

# What other modules know this module by (render.py holds them now, loaded on first use).
_FROM_RENDER = (
    "MERGE_LOOKAHEAD",
    "FeedContent",
    "RenderCaches",
    "feed_stories",
    "index_files",
    "plan",
    "render_feed_files",
)
__all__ = [*_FROM_RENDER, "mark_unpublished", "publish", "publish_due"]


def __getattr__(name: str) -> Any:
    if name in _FROM_RENDER:
        from republisher.publish import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger(__name__)

UNPUBLISHED_KEY = "unpublished"  # "1" while stored changes are not yet in output_dir
SETTINGS_KEY = "output_settings"  # fingerprint of the settings the output was written with
INDEX_FILES = ("index.opml", "index.html")  # site.py's OPML and pages.INDEX_PAGE
FEED_SUFFIXES = (".atom", ".html", ".json")  # what a derived feed publishes, .json only by choice
# Files an older version published that this one does not: removed from output_dir.
RETIRED_FILES = ("feed.xsl",)  # the XSLT view of the feeds, replaced by each feed's page


def output_files(config: Config, rules: RuleSet) -> list[str]:
    """Every file a publish writes into output_dir with these settings."""
    return [name for rule in rules.rules for name in _feed_files(rule, config)] + list(INDEX_FILES)


def settings_fingerprint(config: Config) -> str:
    """Changes when a setting that shapes the published bytes changes (rules have their own),
    and with the program itself: a new version's output (a fix to the sanitizer, to a
    renderer) is published at the first poll after an upgrade, not when a feed next changes.
    (The libraries' versions count only once a publish is due: see _code_fingerprint.)"""
    settings = {
        "base_url": config.base_url,
        "output_dir": str(config.output_dir),
        "max_entries": config.max_entries,
        "formats": sorted(config.formats),
        "websub_hubs": list(config.websub_hubs),
        "code": code_digest().hex(),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def publish_due(store: Store, config: Config, rules: RuleSet) -> bool:
    """Whether the output may differ from what the store and settings say it should be."""
    if (
        store.get_meta(UNPUBLISHED_KEY) == "1"
        or store.get_meta(SETTINGS_KEY) != settings_fingerprint(config)
        or any(rule.max_age for rule in rules.rules)
    ):
        return True
    try:
        present = _listing(config.output_dir)[1]  # one listing, not a stat per output file
    except OSError:  # no output folder (yet): everything is to write
        return True
    return any(name not in present for name in output_files(config, rules)) or any(
        name in present for name in RETIRED_FILES
    )


def publish(store: Store, config: Config, rules: RuleSet, now: datetime) -> tuple[list[str], list[str]]:
    """Write every output file whose bytes changed and remove the feeds that left.
    Returns (written, removed) file names.

    Only the feeds that may have changed are read and rendered: those whose routed entries
    changed (the store notes them), whose rule, settings or code changed since they were
    last published, that age entries out (max_age), or that lack a file. The others are
    left as they are, and the index pages show them as last recorded."""
    # SQLite's page cache is kept small while the feeds are read: it is memory held at the
    # publish's peak, and the publish reads each index page about once.
    with store.small_cache(), collection_paused():
        return _publish(store, config, rules, now)


def _publish(store: Store, config: Config, rules: RuleSet, now: datetime) -> tuple[list[str], list[str]]:
    from republisher.publish.files import remove_stale_temporaries, writer
    from republisher.publish.render import index_files, render_feeds
    from republisher.publish.site import summary_to_json

    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    gone_slugs = sorted(store.known_feeds() - set(rules.slugs))
    # Files first, then the store forgets the feed: a crash in between leaves the slug
    # known, so the next publish removes what is left.
    # One listing of the folder, not a stat per file: what can be removed, what is there.
    listed, regular = _listing(out)
    removed = _remove_files(
        out, [f"{slug}{suffix}" for slug in gone_slugs for suffix in FEED_SUFFIXES], listed
    )
    removed += _remove_files(out, list(RETIRED_FILES), listed)
    if "json" not in config.formats:  # JSON output switched off: the .json files leave too
        removed += _remove_files(out, [f"{rule.slug}.json" for rule in rules.rules], listed)
    with store.transaction():
        for slug in gone_slugs:
            store.forget_feed(slug)
        first_written = store.first_written_all(rules.slugs, now)
    changed = store.changed_feeds()
    recorded = store.published_records()
    settings = settings_fingerprint(config)
    inputs = {
        rule.slug: _inputs_fingerprint(rule, settings, first_written[rule.slug]) for rule in rules.rules
    }
    summaries: dict[str, FeedSummary] = {}
    present = regular - set(removed)
    for rule in rules.rules:
        if rule.slug not in changed and not rule.max_age:
            files_there = all(name in present for name in _feed_files(rule, config))
            if (summary := _unchanged(recorded.get(rule.slug), inputs[rule.slug], files_there)) is not None:
                summaries[rule.slug] = summary
    todo = [rule for rule in rules.rules if rule.slug not in summaries]
    with writer() as files:  # writes while the next feed renders
        rendered = {s.slug: s for s in render_feeds(store, config, todo, first_written, now, files)}
        summaries.update(rendered)
        in_order = [summaries[rule.slug] for rule in rules.rules]
        for name, document in index_files(in_order, config).items():
            files.write(out / name, document)
        written = [path.name for path in files.written()]
    records = {
        slug: json.dumps({"inputs": inputs[slug], "summary": summary_to_json(summary)})
        for slug, summary in rendered.items()
    }
    # Only once every file is written: a crash before leaves the changes to publish again.
    with store.transaction():
        store.published(records, changed)
        store.set_meta(UNPUBLISHED_KEY, "0")
        store.set_meta(SETTINGS_KEY, settings)
    return written, removed


def _feed_files(rule: Rule, config: Config) -> list[str]:
    suffixes = [s for s in FEED_SUFFIXES if s != ".json" or "json" in config.formats]
    return [f"{rule.slug}{suffix}" for suffix in suffixes]


def _inputs_fingerprint(rule: Rule, settings: str, first_written: datetime) -> str:
    """Changes with whatever shapes a feed's files besides its routed entries."""
    shape = (rule.slug, rule.title, rule.subtitle, rule.max_entries, rule.max_age, rule.merge_duplicates)
    return _fingerprint(shape, settings, first_written.isoformat())


@functools.lru_cache(maxsize=4096)  # every publish asks again for every feed
def _fingerprint(shape: tuple[object, ...], settings: str, first_written: str) -> str:
    inputs = {
        "code": _code_fingerprint(),
        "settings": settings,
        "first_written": first_written,
        "rule": list(shape),
    }
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


def _listing(folder: Path) -> tuple[set[str], set[str]]:
    """Every name in the folder, and the names of its regular files (symbolic links to
    one included)."""
    with os.scandir(folder) as listing:
        entries = list(listing)
    return {entry.name for entry in entries}, {entry.name for entry in entries if entry.is_file()}


def _unchanged(record: str | None, inputs: str, files_there: bool) -> FeedSummary | None:
    """The summary recorded when the feed was last published from these inputs, if its
    files are all still there; None when the feed must be rendered."""
    if record is None or not files_there:
        return None
    recorded = _read_record(record)
    return recorded[1] if recorded is not None and recorded[0] == inputs else None


@functools.lru_cache(maxsize=4096)  # every publish reads every feed's record
def _read_record(record: str) -> tuple[str, FeedSummary] | None:
    """(inputs, summary) of a record `publish` wrote; None for one this version cannot read."""
    from republisher.publish.site import summary_from_json

    try:
        recorded = json.loads(record)
        return str(recorded["inputs"]), summary_from_json(recorded["summary"])
    except (ValueError, KeyError, TypeError):  # a record this version cannot read: render
        return None


def published_in_feed(store: Store) -> dict[str, int]:
    """slug -> the stories each feed's file held when it was last published."""
    recorded = ((slug, _read_record(record)) for slug, record in store.published_records().items())
    return {slug: found[1].in_feed for slug, found in recorded if found is not None}


@functools.cache
def _code_fingerprint() -> str:
    """A digest of this program's code (codeid, taken as the program loads) and of the
    libraries that write its output: any change to either renders every feed again. The
    libraries' versions are read at the process's first publish: importlib.metadata is
    costly to import, and a poll with nothing to publish never needs them."""
    import importlib.metadata  # here: costly to import, and only a publish needs it

    digest = hashlib.sha256(code_digest())
    for library in ("feedgen", "lxml", "nh3"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{library} {importlib.metadata.version(library)}".encode())
    return digest.hexdigest()


def _remove_files(out: Path, names: list[str], listed: set[str]) -> list[str]:
    """Remove these files (or links) from `out` where they exist; `listed`: every name in
    the folder (only those can be there). Returns the names removed."""
    removed = []
    for name in names:
        if name not in listed:
            continue
        if (out / name).is_file() or (out / name).is_symlink():  # never a folder someone put there
            (out / name).unlink()
            removed.append(name)
    return removed


def mark_unpublished(store: Store) -> None:
    """Record (inside the caller's transaction) that stored entries or routes changed."""
    store.set_meta(UNPUBLISHED_KEY, "1")
