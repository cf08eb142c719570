"""What to do with one source's fetch: the poll cycle's decisions, as one pure function.

`decide` takes the source's previous state, what the fetch produced, the content hashes
the store already holds for that source, the owners of the entries' ids, the time and a
jitter value, and returns the new state, the entries to store and the line to report.
No clock, network or disk: the cycle gathers the inputs and applies the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from republisher.config import SourceConfig
from republisher.models import FetchResult, PreparedEntry, PreparedFeed, SourceState, StoredEntry
from republisher.poll import schedule
from republisher.sources import identity
from republisher.store.store import EntryWrite

# (content hash, first seen) of every entry the store holds for a source, by key
KnownEntries = Mapping[str, tuple[str, datetime]]
# atom id -> (source, key) of the stored entry that carries it
IdOwners = Mapping[str, tuple[str, str]]


@dataclass(frozen=True)
class Fetched:
    """What the fetch-and-parse step produced for one source."""

    source: SourceConfig
    result: FetchResult | None = None
    feed: PreparedFeed | None = None  # None when not modified, unchanged or failed
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
    read: bool = False  # the document was read: its good entries are stored, whatever failed


@dataclass(frozen=True)
class Decision:
    state: SourceState
    writes: tuple[EntryWrite, ...]  # new and changed entries, with their routes
    outcome: SourceOutcome


def decide(
    fetched: Fetched,
    previous: SourceState | None,
    known: KnownEntries,
    id_owners: IdOwners,
    now: datetime,
    jitter: float,
) -> Decision:
    """The new state of a source, the entries to store, and what to report."""
    source = fetched.source
    before = previous or SourceState(name=source.name, url=source.url)
    if fetched.error is not None:
        return _failed(fetched, before, now, jitter)
    assert fetched.result is not None, "a fetch without error has a result"
    result = fetched.result
    modified = result.status != 304
    # The same bytes as a document that parsed with a warning (say, truncated XML) are
    # still that broken document: keep reporting it until it changes.
    still_broken = fetched.feed is None and before.consecutive_errors == 0 and before.last_error
    feed = fetched.feed
    state = replace(
        before,
        moved_to=result.moved_to or before.moved_to,
        etag=result.etag if modified else before.etag,
        last_modified=result.last_modified if modified else before.last_modified,
        body_hash=fetched.body_hash or before.body_hash,
        last_poll=now,
        last_status=result.status,
        last_error=feed.warning if feed else before.last_error if still_broken else None,
        consecutive_errors=0,
        next_due=schedule.after_success(now, source.interval, result.max_age),
        not_before=None,
        dropped=feed.dropped if feed else before.dropped,
    )
    if feed is None:
        message = "not modified" if not modified else "unchanged"
        if still_broken:
            # Still the document read before, with what it lacked: said as it was then.
            outcome = SourceOutcome(source.name, False, f"{message}, still: {before.last_error}", read=True)
            return Decision(state, (), outcome)
        return Decision(state, (), SourceOutcome(source.name, True, message))
    writes = tuple(_entry_writes(source.name, feed, known, id_owners, now))
    new = sum(1 for w in writes if w.entry.first_seen == now)
    changed = len(writes) - new
    message = f"{len(feed.entries)} entries: {new} new, {changed} changed"
    problems = [feed.warning] if feed.warning else []
    if feed.dropped:
        problems.append(f"{len(feed.dropped)} dropped: " + "; ".join(feed.dropped[:3]))
        if len(feed.dropped) > 3:
            problems[-1] += f"; and {len(feed.dropped) - 3} more"
    if problems:
        # The good entries are stored, but a broken document or a dropped item is still a
        # failure to report (exit 1); it does not count towards back-off since we got data.
        message += f" ({'; '.join(problems)})"
    return Decision(
        state,
        writes,
        SourceOutcome(source.name, not problems, message, new=new, changed=changed, read=True),
    )


def with_dropped(decision: Decision, lines: list[str]) -> Decision:
    """The decision once the store left out entries it could not keep: reported as dropped."""
    state = replace(decision.state, dropped=decision.state.dropped + tuple(lines))
    message = f"{decision.outcome.message} ({len(lines)} dropped by the store: {'; '.join(lines[:3])})"
    return replace(decision, state=state, outcome=replace(decision.outcome, ok=False, message=message))


def _failed(fetched: Fetched, before: SourceState, now: datetime, jitter: float) -> Decision:
    source = fetched.source
    errors = before.consecutive_errors + 1
    next_due, not_before = schedule.after_failure(now, source.interval, errors, jitter, fetched.retry_after)
    state = replace(
        before,
        last_poll=now,
        last_status=fetched.status,
        last_error=fetched.error,
        consecutive_errors=errors,
        next_due=next_due,
        not_before=not_before,
        gone=fetched.status == 410,
    )
    return Decision(state, (), SourceOutcome(source.name, False, fetched.error or "failed"))


def _entry_writes(
    source: str, feed: PreparedFeed, known: KnownEntries, id_owners: IdOwners, now: datetime
) -> list[EntryWrite]:
    """The new and changed entries of a feed, ready to store."""
    writes: list[EntryWrite] = []
    for prepared in feed.entries:
        old = known.get(prepared.key)
        if old is not None and old[0] == prepared.content_hash:
            continue
        entry = StoredEntry(
            source=source,
            key=prepared.key,
            atom_id=_own_id(source, prepared, id_owners),
            first_seen=old[1] if old else now,
            changed_at=now,
            data=prepared.data,
            origin=feed.meta,
            sanitized_by=feed.sanitized_by,
        )
        writes.append(EntryWrite(entry, prepared.content_hash, prepared.routes, prepared.stored_json))
    return writes


def _own_id(source: str, prepared: PreparedEntry, id_owners: IdOwners) -> str:
    """The entry's Atom id, unless another source's entry already carries it: then this
    source's own stable urn:uuid, so no source can take over another's entry."""
    wanted = prepared.atom_id
    owner = id_owners.get(wanted)
    if owner is None or owner == (source, prepared.key):
        return wanted
    return identity.fallback_id(source, prepared.key)
