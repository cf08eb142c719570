"""WebSub publishing: tell each hub when a derived feed changes.

Pings are queued in the store in the same cycle that writes the feed, and delivered
separately (after a poll, or by the daemon's own job), so a slow or failing hub never
holds up polling. A failed ping is retried with exponential back-off and given up after
MAX_ATTEMPTS; a newer change to the same feed restarts its retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from republisher.backoff import backoff_delay
from republisher.config import Config
from republisher.errors import FetchError
from republisher.sources.fetch import post_form
from republisher.store.store import Store

MAX_ATTEMPTS = 8
FIRST_RETRY = 30.0  # seconds; doubles each attempt
LONGEST_RETRY = 6 * 3600.0
PING_TIMEOUT = 10.0

Post = Callable[[str, dict[str, str], float], int]  # (url, form, timeout) -> HTTP status


@dataclass(frozen=True)
class PingOutcome:
    hub: str
    topic: str
    ok: bool
    detail: str


def retry_at(now: datetime, attempts: int) -> datetime | None:
    """When to try again after `attempts` failures; None once it is time to give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + timedelta(seconds=backoff_delay(FIRST_RETRY, attempts, LONGEST_RETRY))


def deliver_pending(store: Store, now: datetime, post: Post, budget: float = 30.0) -> list[PingOutcome]:
    """Send the pings that are due, within about `budget` seconds; the rest wait their turn."""
    outcomes: list[PingOutcome] = []
    deadline = time.monotonic() + budget
    for ping in store.due_pings(now):
        if time.monotonic() > deadline:
            break
        try:
            status = post(ping.hub, {"hub.mode": "publish", "hub.url": ping.topic}, PING_TIMEOUT)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except FetchError as e:
            error = e.reason
        with store.transaction():
            if error is None:
                store.ping_done(ping)
            else:
                store.ping_failed(ping, retry_at(now, ping.attempts + 1), error)
        outcomes.append(PingOutcome(ping.hub, ping.topic, error is None, error or "published"))
    return outcomes


def queue_pings(store: Store, config: Config, written: list[str], now: datetime) -> None:
    """Queue a ping to every hub for every derived feed file that changed."""
    topics = [config.base_url + name for name in written if name.endswith((".atom", ".json"))]
    if config.websub_hubs and topics:
        with store.transaction():
            store.queue_pings(config.websub_hubs, topics, now)


def deliver_due(config: Config, now: datetime, budget: float = 15.0) -> list[PingOutcome]:
    """Send the pings that are due (after a poll, or from the daemon's own job)."""
    if not config.websub_hubs:
        return []
    store = Store.open(config.state_dir)
    try:
        return deliver_pending(store, now, post_form, budget)
    finally:
        store.close()
