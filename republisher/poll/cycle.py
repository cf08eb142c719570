"""The poll cycle: fetch -> parse -> store -> route -> publish. Decides nothing itself."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from republisher import text
from republisher.config import Config, SourceConfig
from republisher.errors import FetchError, ParseError
from republisher.models import FetchResult, PreparedFeed, SourceState, StoredEntry
from republisher.poll import schedule
from republisher.poll.lock import poll_lock
from republisher.publish import websub
from republisher.publish.atom import STYLESHEET, render_feed, stylesheet
from republisher.publish.files import remove_stale_temporaries, write_if_changed
from republisher.publish.jsonfeed import render_json_feed
from republisher.publish.site import NEWEST_SHOWN, FeedSummary, Headline, render_html, render_opml
from republisher.publish.stories import Story, merge_stories
from republisher.routing.router import Router
from republisher.routing.rules import Rule, RuleSet
from republisher.sources import identity
from republisher.sources.fetch import Limits, fetch, post_form
from republisher.sources.prepare import routes_of
from republisher.sources.workers import parse_pool
from republisher.store.store import EntryWrite, Store

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")
Mapper = Callable[[Callable[[T], U], Iterable[T]], Iterator[U]]
RULES_KEY = "rules_fingerprint"
UNPUBLISHED_KEY = "unpublished"  # "1" while stored changes are not yet in output_dir


@dataclass(frozen=True)
class Fetched:
    """What the fetch-and-parse step produced for one source."""

    source: SourceConfig
    result: FetchResult | None = None
    feed: PreparedFeed | None = None  # None when not modified or unchanged
    body_hash: str | None = None
    error: str | None = None
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class SourceOutcome:
    name: str
    ok: bool
    message: str  # one line for the user
    new: int = 0
    changed: int = 0


@dataclass(frozen=True)
class PollReport:
    outcomes: tuple[SourceOutcome, ...]
    written: tuple[str, ...]  # output files rewritten
    removed: tuple[str, ...]  # output files deleted

    @property
    def failed(self) -> bool:
        return any(not o.ok for o in self.outcomes)


# (body, url, content type, source name) -> the parsed feed, its entries keyed, hashed, routed
Parser = Callable[[bytes, str, "str | None", str], PreparedFeed]


def poll_once(
    config: Config,
    rules: RuleSet,
    now: datetime,
    *,
    force: bool = False,
    only: str | None = None,
    mapper: Mapper | None = None,  # type: ignore[type-arg]
    parser: Parser | None = None,
    jitter: Callable[[], float] = random.random,
) -> PollReport:
    """One poll cycle, in this order:

    1. reroute every stored entry if the rule files changed since the last cycle;
    2. pick the sources that are due (all of them with `force`, or just `only`);
    3. fetch them in parallel (`mapper`, a thread pool by default) and parse the changed
       ones (`parser`, isolated worker processes by default);
    4. for each source with new or changed entries, in one transaction: store them with
       their routes and the source's state; sources with nothing new (304, unchanged,
       failed) have their state written together at the end; failures are recorded,
       never raised;
    5. publish: rewrite the derived feeds and indexes whose bytes changed, and queue a
       WebSub ping for each changed feed (delivered by `deliver_websub`, never here).
    """
    with poll_lock(config.state_dir), ExitStack() as stack:
        if parser is None:
            pool = stack.enter_context(parse_pool(cores(), config.poll.timeout))
            parser = functools.partial(pool.prepare, rules=rules)
        store = Store.open(config.state_dir)
        stack.callback(store.close)
        # First, so that entries stored below are routed once, by the rules now in force.
        reroute_if_rules_changed(store, rules)
        states = store.source_states()
        due = [
            s
            for s in config.sources
            if (only is None or s.name == only) and schedule.is_due(_state_for(s, states), now, force=force)
        ]
        outcomes: list[SourceOutcome] = []
        quiet: list[SourceState] = []  # state-only updates, written in one transaction
        fetch_one = functools.partial(_fetch_and_parse_safely, states=states, config=config, parser=parser)
        for fetched in _map(mapper, config.poll.workers)(fetch_one, due):
            outcome, state = store_source(store, fetched, _state_for(fetched.source, states), now, jitter())
            outcomes.append(outcome)
            if state is not None:
                quiet.append(state)
        with store.transaction():
            for state in quiet:
                store.put_source_state(state)
        written: list[str] = []
        removed: list[str] = []
        # Publish when stored entries or routes changed since the last publish (a flag
        # committed with them, so a publish cut short by a crash is redone), when forced,
        # or when a feed ages entries out (max_age) as time passes. Idle ticks skip it.
        if force or store.get_meta(UNPUBLISHED_KEY) == "1" or any(r.max_age for r in rules.rules):
            written, removed = publish(store, config, rules, now)
            queue_websub(store, config, written, now)
    return PollReport(tuple(outcomes), tuple(written), tuple(removed))


def cores() -> int:
    """The CPU cores this process may use (one parse worker each)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _map(mapper: Mapper | None, workers: int) -> Mapper:  # type: ignore[type-arg]
    if mapper is not None:
        return mapper

    def pooled(fn: Callable[[T], U], items: Iterable[T]) -> Iterator[U]:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            yield from pool.map(fn, items)

    return pooled


def _state_for(source: SourceConfig, states: dict[str, SourceState]) -> SourceState | None:
    """The stored state, unless the configured URL changed (then start afresh)."""
    state = states.get(source.name)
    if state is None or state.url != source.url:
        return None
    return state


def _fetch_and_parse_safely(
    source: SourceConfig, *, states: dict[str, SourceState], config: Config, parser: Parser
) -> Fetched:
    try:
        return fetch_and_parse(source, _state_for(source, states), config, parser)
    except Exception as e:  # a bug met on one hostile feed must not stop the other sources
        log.exception("%s: unexpected error", source.name)
        return Fetched(source, error=f"internal error: {type(e).__name__}: {e}")


def fetch_and_parse(
    source: SourceConfig, state: SourceState | None, config: Config, parser: Parser
) -> Fetched:
    """Fetch one source and parse it unless it is not modified or byte-identical to last time."""
    limits = Limits(timeout=config.poll.timeout, max_bytes=config.poll.max_bytes)
    url = (state.moved_to if state else None) or source.url
    try:
        result = fetch(url, limits, state.etag if state else None, state.last_modified if state else None)
    except FetchError as e:
        return Fetched(source, error=e.reason, status=e.status, retry_after=e.retry_after)
    if result.body is None:
        return Fetched(source, result=result, status=result.status)
    body_hash = hashlib.sha256(result.body).hexdigest()
    if state is not None and state.body_hash == body_hash:
        return Fetched(source, result=result, body_hash=body_hash, status=result.status)
    try:
        feed = parser(result.body, result.url, result.content_type, source.name)
    except ParseError as e:
        return Fetched(source, result=result, error=e.reason, status=result.status)
    return Fetched(source, result=result, feed=feed, body_hash=body_hash, status=result.status)


def store_source(
    store: Store, fetched: Fetched, state: SourceState | None, now: datetime, jitter: float
) -> tuple[SourceOutcome, SourceState | None]:
    """Record one source's fetch: new or changed entries and the source's state commit in
    one transaction. Returns what happened, and the state still to write when nothing
    else changed (the caller writes those together)."""
    source = fetched.source
    previous = state or SourceState(name=source.name, url=source.url)
    if fetched.error is not None:
        errors = previous.consecutive_errors + 1
        next_due, not_before = schedule.after_failure(
            now, source.interval, errors, jitter, fetched.retry_after
        )
        failed = replace(
            previous,
            last_poll=now,
            last_status=fetched.status,
            last_error=fetched.error,
            consecutive_errors=errors,
            next_due=next_due,
            not_before=not_before,
            gone=fetched.status == 410,
        )
        return SourceOutcome(source.name, False, fetched.error), failed
    assert fetched.result is not None
    result = fetched.result
    modified = result.status != 304
    # The same bytes as a document that parsed with a warning (say, truncated XML) are
    # still that broken document: keep reporting it until it changes.
    still_broken = fetched.feed is None and previous.consecutive_errors == 0 and previous.last_error
    new_state = replace(
        previous,
        moved_to=result.moved_to or previous.moved_to,
        etag=result.etag if modified else previous.etag,
        last_modified=result.last_modified if modified else previous.last_modified,
        body_hash=fetched.body_hash or previous.body_hash,
        last_poll=now,
        last_status=result.status,
        last_error=fetched.feed.warning if fetched.feed else previous.last_error if still_broken else None,
        consecutive_errors=0,
        next_due=schedule.after_success(now, source.interval, result.max_age),
        not_before=None,
    )
    if fetched.feed is None:
        message = "not modified" if not modified else "unchanged"
        if still_broken:
            return SourceOutcome(source.name, False, f"{message}, still: {previous.last_error}"), new_state
        return SourceOutcome(source.name, True, message), new_state
    writes = _entry_writes(store, source.name, fetched.feed, now)
    with store.transaction():
        store.put_entries(writes)
        store.put_source_state(new_state)
        if writes:
            store.set_meta(UNPUBLISHED_KEY, "1")
    new = sum(1 for w in writes if w.entry.first_seen == now)
    changed = len(writes) - new
    message = f"{len(fetched.feed.entries)} entries: {new} new, {changed} changed"
    if fetched.feed.warning:
        # The recovered entries are stored, but a broken document is still a failure to
        # report (exit 1); it does not count towards back-off since we did get data.
        message += f" ({fetched.feed.warning})"
    ok = fetched.feed.warning is None
    return SourceOutcome(source.name, ok, message, new=new, changed=changed), None


def _entry_writes(store: Store, source: str, feed: PreparedFeed, now: datetime) -> list[EntryWrite]:
    """The new and changed entries of a feed, ready to store."""
    known = store.content_hashes(source)
    writes: list[EntryWrite] = []
    for prepared in feed.entries:
        old = known.get(prepared.key)
        if old is not None and old[0] == prepared.content_hash:
            continue
        entry = StoredEntry(
            source=source,
            key=prepared.key,
            atom_id=identity.atom_id(source, prepared.data, prepared.key),
            first_seen=old[1] if old else now,
            changed_at=now,
            data=prepared.data,
            origin=feed.meta,
        )
        writes.append(EntryWrite(entry, prepared.content_hash, prepared.routes))
    return writes


@dataclass(frozen=True)
class RouteChange:
    slug: str
    entering: tuple[StoredEntry, ...]
    leaving: tuple[StoredEntry, ...]


Progress = Callable[[int, int], None]  # (done, total)


def plan_reroute(
    store: Store, router: Router, progress: Progress | None = None
) -> tuple[list[RouteChange], dict[tuple[str, str], tuple[str, ...]]]:
    """What the current rules would change: per feed, entries entering and leaving."""
    entering: dict[str, list[StoredEntry]] = {}
    leaving: dict[str, list[StoredEntry]] = {}
    new_routes: dict[tuple[str, str], tuple[str, ...]] = {}
    old_routes = store.all_routes()
    total = store.entry_count()
    for done, entry in enumerate(store.all_entries(), start=1):
        routes = routes_of(router, entry.data, entry.source)
        old = old_routes.get((entry.source, entry.key), set())
        new_routes[(entry.source, entry.key)] = routes
        for slug in set(routes) - old:
            entering.setdefault(slug, []).append(entry)
        for slug in old - set(routes):
            leaving.setdefault(slug, []).append(entry)
        if progress is not None and (done % 500 == 0 or done == total):
            progress(done, total)
    slugs = sorted(entering.keys() | leaving.keys())
    changes = [RouteChange(s, tuple(entering.get(s, ())), tuple(leaving.get(s, ()))) for s in slugs]
    return changes, new_routes


def reroute(store: Store, rules: RuleSet, progress: Progress | None = None) -> list[RouteChange]:
    """Apply the current rules to every stored entry, in one transaction."""
    changes, new_routes = plan_reroute(store, Router(rules.rules), progress)
    with store.transaction():
        for (source, key), routes in new_routes.items():
            store.set_routes(source, key, routes)
        store.set_meta(RULES_KEY, rules.fingerprint)
        store.set_meta(UNPUBLISHED_KEY, "1")
    return changes


def reroute_and_publish(
    config: Config, rules: RuleSet, now: datetime, *, dry_run: bool, progress: Progress | None = None
) -> RerouteReport:
    """`reroute`: apply the current rules to every stored entry, then rewrite changed feeds."""
    with poll_lock(config.state_dir):
        store = Store.open(config.state_dir)
        try:
            if dry_run:
                return RerouteReport(plan_reroute(store, Router(rules.rules), progress)[0], (), ())
            changes = reroute(store, rules, progress)
            written, removed = publish(store, config, rules, now)
            queue_websub(store, config, written, now)
        finally:
            store.close()
    return RerouteReport(changes, tuple(written), tuple(removed))


@dataclass(frozen=True)
class RerouteReport:
    changes: list[RouteChange]
    written: tuple[str, ...]
    removed: tuple[str, ...]


def reroute_if_rules_changed(store: Store, rules: RuleSet) -> None:
    """Rules edited since the last cycle apply to every stored entry, not just new ones."""
    if store.get_meta(RULES_KEY) != rules.fingerprint:
        changes = reroute(store, rules)
        if changes:
            log.info("rules changed: rerouted %d feeds", len(changes))


def queue_websub(store: Store, config: Config, written: list[str], now: datetime) -> None:
    """Queue a ping to every hub for every derived feed file that changed."""
    topics = [config.base_url + name for name in written if name.endswith((".atom", ".json"))]
    if config.websub_hubs and topics:
        with store.transaction():
            store.queue_pings(config.websub_hubs, topics, now)


def deliver_websub(config: Config, now: datetime, budget: float = 15.0) -> list[websub.PingOutcome]:
    """Send the WebSub pings that are due (after a poll, or from the daemon's own job)."""
    if not config.websub_hubs:
        return []
    store = Store.open(config.state_dir)
    try:
        return websub.deliver_pending(store, now, post_form, budget)
    finally:
        store.close()


MERGE_LOOKAHEAD = 3  # read this many times max_entries so that merged stories still fill the feed


def feed_stories(store: Store, rule: Rule, default_limit: int, now: datetime) -> list[Story]:
    """The stories a derived feed publishes now: its retention, and one story per story."""
    limit = rule.max_entries or default_limit
    since = now - timedelta(seconds=rule.max_age) if rule.max_age else None
    entries = _unique_ids(store.feed_entries(rule.slug, limit * MERGE_LOOKAHEAD, since))
    if not rule.merge_duplicates:
        return [Story(entry) for entry in entries[:limit]]
    return merge_stories(entries)[:limit]


def _unique_ids(entries: list[StoredEntry]) -> list[StoredEntry]:
    """One entry per Atom id: two sources may carry one item under the same absolute guid."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.atom_id not in seen:
            seen.add(entry.atom_id)
            unique.append(entry)
    return unique


def publish(store: Store, config: Config, rules: RuleSet, now: datetime) -> tuple[list[str], list[str]]:
    """Write every derived feed, the indexes and the feeds' stylesheet whose bytes changed;
    drop removed feeds."""
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    written: list[str] = []
    summaries: list[FeedSummary] = []
    counts = store.feed_counts()
    removed = sorted(store.known_feeds() - set(rules.slugs))
    removed_files: list[str] = []
    candidates = [(slug, suffix) for slug in removed for suffix in (".atom", ".json")]
    if "json" not in config.formats:  # JSON output switched off: the .json files leave too
        candidates += [(rule.slug, ".json") for rule in rules.rules]
    # Files first, then the store forgets the feed: a crash in between leaves the slug known,
    # so the next publish removes what is left.
    for slug, suffix in candidates:
        if (out / f"{slug}{suffix}").exists():
            (out / f"{slug}{suffix}").unlink()
            removed_files.append(f"{slug}{suffix}")
    with store.transaction():
        for slug in removed:
            store.forget_feed(slug)
        first_written = {rule.slug: store.first_written(rule.slug, now) for rule in rules.rules}
    for rule in rules.rules:
        stories = feed_stories(store, rule, config.max_entries, now)
        entries = [s.entry for s in stories]
        documents = {
            ".atom": render_feed(
                rule,
                stories,
                config.base_url,
                first_written[rule.slug],
                hubs=config.websub_hubs,
                json_alternate="json" in config.formats,
            )
        }
        if "json" in config.formats:
            documents[".json"] = render_json_feed(rule, stories, config.base_url, config.websub_hubs)
        for suffix, document in documents.items():
            if write_if_changed(out / f"{rule.slug}{suffix}", document):
                written.append(f"{rule.slug}{suffix}")
        summaries.append(
            FeedSummary(
                slug=rule.slug,
                title=rule.title,
                subtitle=rule.subtitle,
                entries=counts.get(rule.slug, (0, None))[0],
                in_feed=len(entries),
                updated=max((e.updated_time for e in entries), default=first_written[rule.slug]),
                newest=tuple(
                    Headline(
                        text.display_title(e.data.title, e.data.summary, e.data.content, e.data.link),
                        e.data.link,
                        e.sort_time,
                    )
                    for e in entries[:NEWEST_SHOWN]
                ),
            )
        )
    for name, document in (
        ("index.opml", render_opml(summaries, config.base_url)),
        ("index.html", render_html(summaries, config.base_url, json="json" in config.formats)),
        (STYLESHEET, stylesheet()),  # each feed's xml-stylesheet points here
    ):
        if write_if_changed(out / name, document):
            written.append(name)
    with store.transaction():
        store.set_meta(UNPUBLISHED_KEY, "0")
    return written, removed_files
