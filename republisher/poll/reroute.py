"""Re-apply the current rules to every stored entry (`reroute`, and after a rule edit)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from republisher.config import Config
from republisher.models import StoredEntry
from republisher.poll.lock import poll_lock
from republisher.publish import publisher, websub
from republisher.routing.rules import RuleSet
from republisher.store.store import Store

# The router is imported when the rules changed, not by every poll that imports this module.
if TYPE_CHECKING:
    from republisher.routing.router import Router

log = logging.getLogger(__name__)

RULES_KEY = "rules_fingerprint"
Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class RouteChange:
    slug: str
    entering: tuple[StoredEntry, ...]
    leaving: tuple[StoredEntry, ...]


@dataclass(frozen=True)
class RerouteReport:
    changes: list[RouteChange]
    written: tuple[str, ...]
    removed: tuple[str, ...]


def plan_reroute(
    store: Store, router: Router, progress: Progress | None = None
) -> tuple[list[RouteChange], dict[tuple[str, str], tuple[str, ...]]]:
    """What the current rules would change: per feed, entries entering and leaving."""
    from republisher.sources.prepare import routes_of

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
    from republisher.routing.router import Router

    changes, new_routes = plan_reroute(store, Router(rules.rules), progress)
    with store.transaction():
        for (source, key), routes in new_routes.items():
            store.set_routes(source, key, routes)
        store.set_meta(RULES_KEY, rules.fingerprint)
        publisher.mark_unpublished(store)
    return changes


def reroute_if_rules_changed(store: Store, rules: RuleSet) -> None:
    """Rules edited since the last cycle apply to every stored entry, not just new ones."""
    if store.get_meta(RULES_KEY) != rules.fingerprint:
        changes = reroute(store, rules)
        if changes:
            log.info("rules changed: rerouted %d feeds", len(changes))


def reroute_and_publish(
    config: Config, rules: RuleSet, now: datetime, *, dry_run: bool, progress: Progress | None = None
) -> RerouteReport:
    """`reroute`: apply the current rules to every stored entry, then rewrite what changed."""
    with poll_lock(config.state_dir):
        store = Store.open(config.state_dir)
        try:
            if dry_run:
                from republisher.routing.router import Router

                return RerouteReport(plan_reroute(store, Router(rules.rules), progress)[0], (), ())
            changes = reroute(store, rules, progress)
            written, removed = publisher.publish(store, config, rules, now)
            websub.queue_pings(store, config, written, now)
        finally:
            store.close()
    return RerouteReport(changes, tuple(written), tuple(removed))
