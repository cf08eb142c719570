"""The poll cycle: fetch -> parse -> store -> route -> publish. Decides nothing itself:
`decide` says what each fetch means, `publisher` what the output must be; this module
gathers their inputs and applies their results, in an order that survives a crash."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from republisher.config import Config, SourceConfig
from republisher.errors import FetchError, ParseError
from republisher.models import PreparedFeed, SourceState
from republisher.poll import schedule
from republisher.poll.decide import Decision, Fetched, SourceOutcome, decide, with_dropped
from republisher.poll.lock import poll_lock
from republisher.poll.reroute import reroute_if_rules_changed
from republisher.publish import publisher, websub
from republisher.routing.rules import RuleSet
from republisher.sources import identity
from republisher.sources.fetch import Limits, fetch
from republisher.sources.workers import parse_pool
from republisher.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")
Mapper = Callable[[Callable[[T], U], Iterable[T]], Iterator[U]]
# (body, url, content type, source name) -> the parsed feed, its entries keyed, hashed, routed
Parser = Callable[[bytes, str, "str | None", str], PreparedFeed]


@dataclass(frozen=True)
class PollReport:
    outcomes: tuple[SourceOutcome, ...]
    written: tuple[str, ...]  # output files rewritten
    removed: tuple[str, ...]  # output files deleted

    @property
    def failed(self) -> bool:
        return any(not o.ok for o in self.outcomes)


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
    5. publish when due (see `publisher.publish_due`): rewrite the files whose bytes
       changed, and queue a WebSub ping for each changed feed (delivered by
       `websub.deliver_due`, never here).
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
            decision = _decide(store, fetched, _state_for(fetched.source, states), now, jitter())
            if decision.writes:
                with store.transaction():
                    left_out = store.put_entries(decision.writes)
                    if left_out:  # entries the store could not encode: reported like parse drops
                        decision = with_dropped(decision, left_out)
                    store.put_source_state(decision.state)
                    publisher.mark_unpublished(store)
            else:
                quiet.append(decision.state)
            outcomes.append(decision.outcome)
        with store.transaction():
            for state in quiet:
                store.put_source_state(state)
        written: list[str] = []
        removed: list[str] = []
        if publisher.publish_due(store, config, rules):
            written, removed = publisher.publish(store, config, rules, now)
            websub.queue_pings(store, config, written, now)
    return PollReport(tuple(outcomes), tuple(written), tuple(removed))


def _decide(
    store: Store, fetched: Fetched, state: SourceState | None, now: datetime, jitter: float
) -> Decision:
    """Read what `decide` needs from the store: only when there are entries to compare."""
    if fetched.feed is None:
        return decide(fetched, state, {}, {}, now, jitter)
    name = fetched.source.name
    known = store.content_hashes(name)
    wanted = [identity.atom_id(name, p.data, p.key) for p in fetched.feed.entries]
    return decide(fetched, state, known, store.atom_id_owners(wanted), now, jitter)


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
