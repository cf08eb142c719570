"""When is a source due? Pure functions of (now, state, interval)."""

from __future__ import annotations

from datetime import datetime, timedelta

from republisher.backoff import backoff_delay
from republisher.models import SourceState

MAX_BACKOFF = 86400.0  # a failing source is still retried once a day
MIN_RETRY = 60.0  # the first retry after a failure waits at least a minute
MAX_AGE_CAP = 4 * 3600.0  # Cache-Control max-age may slow polling down to this, no further
MAX_RETRY_AFTER = 7 * 86400.0  # a Retry-After further out than this is treated as a week


def is_due(state: SourceState | None, now: datetime, *, force: bool = False) -> bool:
    """True when the source should be fetched now.

    `force` overrides the interval and back-off, never a server's Retry-After nor a 410.
    """
    if state is None:
        return True
    if state.gone:
        return False
    if state.not_before is not None and state.not_before > now:
        return False
    return force or state.next_due is None or state.next_due <= now


def after_success(now: datetime, interval: float, max_age: float | None) -> datetime:
    """Next poll after a good fetch: the interval, raised (within a cap) by Cache-Control."""
    if max_age is not None:
        interval = max(interval, min(max_age, MAX_AGE_CAP))
    return now + timedelta(seconds=interval)


def after_failure(
    now: datetime, interval: float, consecutive_errors: int, jitter: float, retry_after: float | None = None
) -> tuple[datetime, datetime | None]:
    """(next due, not before) after a failed fetch: exponential back-off, and Retry-After.

    `jitter` in [0, 1) spreads retries of many failing sources by ±10% so they do not hit
    their servers in lockstep; it is a parameter so this function stays pure.
    """
    delay = backoff_delay(max(interval, MIN_RETRY), consecutive_errors, MAX_BACKOFF)
    # Whole seconds: a time people read in `status`, and jitter finer than that buys nothing.
    next_due = (now + timedelta(seconds=delay * (0.9 + 0.2 * jitter))).replace(microsecond=0)
    if retry_after is None:
        return next_due, None
    not_before = now + timedelta(seconds=min(retry_after, MAX_RETRY_AFTER))
    return max(next_due, not_before), not_before
