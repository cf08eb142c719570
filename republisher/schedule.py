"""When is a source due? Pure functions of (now, state, interval)."""

from __future__ import annotations

from datetime import datetime, timedelta

from republisher.models import SourceState

MAX_BACKOFF = 86400.0  # a failing source is retried at least once a day
MIN_RETRY = 60.0


def is_due(state: SourceState | None, now: datetime, *, force: bool = False) -> bool:
    """True when the source should be fetched now."""
    if state is None:
        return True
    if state.gone:
        return False
    return force or state.next_due is None or state.next_due <= now


def next_due(now: datetime, interval: float, consecutive_errors: int, jitter: float) -> datetime:
    """The next poll: `interval` after a success; after failures, exponential back-off.

    `jitter` in [0, 1) spreads retries of many failing sources (±10%) so they do not
    hit their servers in lockstep; it is a parameter so the function stays pure.
    """
    if consecutive_errors <= 0:
        return now + timedelta(seconds=interval)
    delay = min(max(interval, MIN_RETRY) * 2 ** (consecutive_errors - 1), MAX_BACKOFF)
    return now + timedelta(seconds=delay * (0.9 + 0.2 * jitter))
