"""The poll cycle: fetch -> parse -> store -> route -> publish. Decides nothing itself:
`decide` says what each fetch means, `publisher` what the output must be; this module
gathers their inputs and applies their results, in an order that survives a crash."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import queue
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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
    4. as each fetch completes, for a source with new or changed entries: store them with
       their routes and the source's state, in a transaction that also takes the sources
       already fetched by then (see BATCH_SECONDS); sources with nothing new (304,
       unchanged, failed) have their state written together at the end; failures are
       recorded, never raised;
    5. publish when due (see `publisher.publish_due`): rewrite the files whose bytes
       changed, and queue a WebSub ping for each changed feed (delivered by
       `websub.deliver_due`, never here).
    """
    with poll_lock(config.state_dir), Store.open(config.state_dir) as store:
        # First, so that entries stored below are routed once, by the rules now in force.
        reroute_if_rules_changed(store, rules)
        states = store.source_states()
        due = [
            s
            for s in config.sources
            if (only is None or s.name == only) and schedule.is_due(_state_for(s, states), now, force=force)
        ]
        # The fetch threads and parse workers end before the publish (memory).
        with ExitStack() as fetching:
            if parser is None:
                pool = fetching.enter_context(parse_pool(cores(), config.poll.timeout))
                parser = functools.partial(pool.prepare, rules=rules)
            fetch_one = functools.partial(
                _fetch_and_parse_safely, states=states, config=config, parser=parser
            )
            fetches = fetching.enter_context(_fetches(mapper, config.poll.workers, fetch_one, due))
            outcomes = _store_all(store, fetches, states, now, jitter)
        order = {source.name: n for n, source in enumerate(due)}
        outcomes.sort(key=lambda outcome: order[outcome.name])  # as configured, not as fetched
        written: list[str] = []
        removed: list[str] = []
        if publisher.publish_due(store, config, rules):
            written, removed = publisher.publish(store, config, rules, now)
            websub.queue_pings(store, config, written, now)
    return PollReport(tuple(outcomes), tuple(written), tuple(removed))


# A transaction stays open for the next source whose fetch completes within LINGER_SECONDS,
# up to BATCH_SECONDS in all: fewer commits (each rewrites the b-tree pages it touched, so
# a cold poll committing source by source wrote its tables many times over), and a kill
# loses at most this much work, which the next poll redoes. When no other fetch completes
# within LINGER_SECONDS the open transaction is committed: a slow fetch never holds back
# what is stored by more than that.
BATCH_SECONDS = 1.0
LINGER_SECONDS = 0.25


def _store_all(
    store: Store,
    fetches: _Fetches,
    states: dict[str, SourceState],
    now: datetime,
    jitter: Callable[[], float],
) -> list[SourceOutcome]:
    """Store each fetch's outcome as it arrives; returns the outcomes, in arrival order.

    Sources with new or changed entries are written with their state in a transaction
    (several sources share one while their fetches are ready together); sources with
    nothing new (304, unchanged, failed) have their state written together at the end."""
    outcomes: list[SourceOutcome] = []
    quiet: list[SourceState] = []  # state-only updates, written in one transaction
    batch_started: float | None = None  # the open transaction's start
    try:
        for fetched in fetches:
            decision = _decide(store, fetched, _state_for(fetched.source, states), now, jitter())
            if decision.writes:
                if batch_started is None:
                    store.begin()
                    batch_started = time.monotonic()
                decision = _store(store, decision)
            else:
                quiet.append(decision.state)
            outcomes.append(decision.outcome)
            if batch_started is not None and (
                time.monotonic() - batch_started >= BATCH_SECONDS or not fetches.ready(LINGER_SECONDS)
            ):
                store.commit()
                batch_started = None
        if batch_started is not None:
            store.commit()
            batch_started = None
    finally:
        if batch_started is not None:  # an error on the way: what this batch wrote goes
            store.roll_back()
    with store.transaction():
        for state in quiet:
            store.put_source_state(state)
    return outcomes


def _store(store: Store, decision: Decision) -> Decision:
    """Write one source's entries and state (inside the caller's transaction)."""
    left_out = store.put_entries(decision.writes)
    if left_out:  # entries the store could not encode: reported like parse drops
        decision = with_dropped(decision, left_out)
    store.put_source_state(decision.state)
    publisher.mark_unpublished(store)
    return decision


def _decide(
    store: Store, fetched: Fetched, state: SourceState | None, now: datetime, jitter: float
) -> Decision:
    """Read what `decide` needs from the store: only when there are entries to compare."""
    if fetched.feed is None:
        return decide(fetched, state, {}, {}, now, jitter)
    name = fetched.source.name
    known = store.content_hashes(name)
    wanted = [p.atom_id for p in fetched.feed.entries]
    return decide(fetched, state, known, store.atom_id_owners(wanted), now, jitter)


def cores() -> int:
    """The CPU cores this process may use (one parse worker each)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _Fetches:
    """The fetch results, in the order they complete; `ready(within)` says whether another
    one is done, waiting up to `within` seconds for it. Given a `mapper` (tests), its
    results in its order, never said ready."""

    def __init__(
        self, results: Iterator[Fetched], done: queue.SimpleQueue[Future[Fetched]] | None, count: int = 0
    ) -> None:
        self.results = results
        self.done = done
        self.left = count  # fetches not yet handed out
        self.held: list[Future[Fetched]] = []  # taken from `done` by ready(), handed out next

    def __iter__(self) -> Iterator[Fetched]:
        return self.results

    def next_done(self) -> Future[Fetched]:
        assert self.done is not None
        self.left -= 1
        return self.held.pop() if self.held else self.done.get()

    def ready(self, within: float = 0.0) -> bool:
        if self.held:
            return True
        if self.done is None or self.left <= 0:  # none to come: never wait
            return False
        try:
            self.held.append(self.done.get(timeout=within) if within > 0 else self.done.get_nowait())
        except queue.Empty:
            return False
        return True


AHEAD = 2


@contextmanager
def _fetches(
    mapper: Mapper | None,  # type: ignore[type-arg]
    workers: int,
    fetch_one: Callable[[SourceConfig], Fetched],
    due: list[SourceConfig],
) -> Iterator[_Fetches]:
    if mapper is not None:
        yield _Fetches(iter(mapper(fetch_one, due)), None)
        return
    done: queue.SimpleQueue[Future[Fetched]] = queue.SimpleQueue()
    waiting = iter(due)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")

    def submit_next() -> None:
        source = next(waiting, None)
        if source is not None:
            pool.submit(fetch_one, source).add_done_callback(done.put)

    def in_completion_order() -> Iterator[Fetched]:
        for _ in due:
            fetched = fetches.next_done().result()
            submit_next()  # one taken, one more may start
            yield fetched

    fetches = _Fetches(in_completion_order(), done, len(due))
    try:
        # At most AHEAD fetches per thread running or waiting to be stored: when storing is
        # slower than fetching and parsing, the parsed feeds never pile up in memory.
        for _ in range(workers * AHEAD):
            submit_next()
        yield fetches
    finally:
        # Normally every fetch is done by now; after an error, those not started never are.
        pool.shutdown(wait=True, cancel_futures=True)


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
    body = result.body
    if body is None:
        return Fetched(source, result=result, status=result.status)
    # The body is not kept: a fetch waiting to be stored holds its parsed feed only.
    result = dataclasses.replace(result, body=None)
    body_hash = hashlib.sha256(body).hexdigest()
    if state is not None and state.body_hash == body_hash:
        return Fetched(source, result=result, body_hash=body_hash, status=result.status)
    try:
        feed = parser(body, result.url, result.content_type, source.name)
    except ParseError as e:
        return Fetched(source, result=result, error=e.reason, status=result.status)
    return Fetched(source, result=result, feed=feed, body_hash=body_hash, status=result.status)
