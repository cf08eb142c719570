"""Command line: `republisher [--config PATH] COMMAND`. Exit 0 ok, 1 a failure, 2 usage or config."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from republisher.arguments import build_parser
from republisher.errors import ConfigError, FetchError, ParseError, RepublisherError

# Each command imports what it needs when it runs: importing every command's libraries
# (the scheduler, the HTTP server, feedparser, feedgen, ...) would cost every command,
# even `--version`, a few hundred milliseconds.
if TYPE_CHECKING:
    from republisher.config import Config
    from republisher.models import StoredEntry
    from republisher.publish.stories import Story
    from republisher.routing.match import Verdict
    from republisher.routing.rules import RuleSet
    from republisher.store.store import Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `republisher` console script."""
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    from republisher.config import default_config_path, load_config

    path = args.config or default_config_path()
    try:
        if not path.exists():
            hint = (
                "pass --config PATH or set $REPUBLISHER_CONFIG" if args.config is None else "check the path"
            )
            raise ConfigError([f"{path}: config file not found ({hint})"])
        if args.command == "run":
            from republisher.daemon import loop

            return loop.run(path)
        if args.command == "serve":
            from republisher.daemon import http

            return http.serve(load_config(path))
        return _COMMANDS[args.command](load_config(path), args)
    except ConfigError as e:
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except RepublisherError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader of our output went away (`republisher status | head -1`): end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as e:  # an unwritable output_dir, a full disk, …
        if args.debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: one line for the user, the traceback with --debug
        if args.debug:
            raise
        print(f"error: unexpected {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return EXIT_FAILED


def _setup_logging(args: argparse.Namespace) -> None:
    """One line per event on stderr; journald adds its own timestamps."""
    daemon = args.command in ("run", "serve")
    level = logging.DEBUG if args.debug else logging.INFO if daemon else logging.WARNING
    stamp = "" if os.environ.get("JOURNAL_STREAM") or not daemon else "%(asctime)s "
    logging.basicConfig(level=level, format=stamp + "%(levelname)s %(message)s", stream=sys.stderr)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _rules(config: Config) -> RuleSet:
    from republisher.routing.rules import load_rules

    return load_rules(config.rules_dir, [s.name for s in config.sources])


def cmd_poll(config: Config, args: argparse.Namespace) -> int:
    from republisher.poll import cycle
    from republisher.publish import websub

    if args.source and config.source(args.source) is None:
        raise _no_such_source(config, args.source)
    report = cycle.poll_once(config, _rules(config), _now(), force=args.force, only=args.source)
    for ping in websub.deliver_due(config, _now()):
        print(f"websub: {ping.hub}: {ping.topic}: {ping.detail}")
    if not report.outcomes:
        brought = " (the output was brought up to date)" if report.written or report.removed else ""
        if args.force:  # only a server's Retry-After or a 410 holds a source back then
            print(f"no source can be polled now{brought}: see `republisher status` for Retry-After or 410")
        else:
            print(f"no source is due{brought}; use --force to poll anyway")
    for outcome in report.outcomes:
        # A document read with items left out is not a source that failed: its good items are in.
        label = "" if outcome.ok else "PARTLY FAILED: " if outcome.read else "FAILED: "
        print(f"{outcome.name}: {label}{outcome.message}")
    _print_files(config, report.written, report.removed)
    return EXIT_FAILED if report.failed else EXIT_OK


def _print_reasons(verdict: Verdict) -> None:
    """The terms behind a verdict: matched, excluding, and (when not routed) missing."""
    # A term used in several branches of a rule matches once per branch: say it once.
    for hit in dict.fromkeys(verdict.matched):
        print(f"    matched {hit.term!r} in {hit.field}: {hit.excerpt}")
    for hit in dict.fromkeys(verdict.excluded_by):
        print(f"    excluded by {hit.term!r} in {hit.field}: {hit.excerpt}")
    if not verdict.routed:
        for missing in verdict.missing:
            print(f"    missing {missing}")


def _print_files(config: Config, written: Sequence[str], removed: Sequence[str]) -> None:
    for name in written:
        print(f"wrote {config.output_dir / name}")
    for name in removed:
        print(f"removed {config.output_dir / name}")


def _no_such_source(config: Config, name: str) -> ConfigError:
    known = ", ".join(source.name for source in config.sources) or "none"
    return ConfigError([f"{config.path}: --source: no source named {name!r} (sources: {known})"])


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    from republisher.routing.check import check_rules
    from republisher.validation import shown

    rules, failures = check_rules(config)
    total = sum(len(r.examples) for r in rules.rules)
    for failure in failures:
        v = failure.verdict
        outcome = (
            "expected routed, but it was not" if failure.example.routed else "expected not routed, but it was"
        )
        print(f"{shown(failure.rule.path)}: example {failure.example.title!r}: {outcome}")
        _print_reasons(v)
    for source, path in _missing_files(config):
        # A warning, not an error: another program may write the file before the next poll.
        print(f"warning: {config.path}: source {source!r}: no file at {path} (yet)")
    print(
        f"{config.path}: ok; {len(rules.rules)} rule files ok; "
        f"{total - len(failures)} of {total} examples pass"
    )
    return EXIT_FAILED if failures else EXIT_OK


def _missing_files(config: Config) -> list[tuple[str, Path]]:
    """(source, path) of each source read from a local file that is not there."""
    from urllib.parse import urlsplit

    from republisher.config import file_path

    files = [(s.name, file_path(s.url)) for s in config.sources if urlsplit(s.url).scheme == "file"]
    return [(name, path) for name, path in files if not path.is_file()]


def cmd_route(config: Config, args: argparse.Namespace) -> int:
    from republisher import text
    from republisher.sources.fetch import Limits, fetch
    from republisher.sources.workers import parse_pool

    rules = _rules(config)
    target = args.feed
    path = Path(target)
    url = path.resolve().as_uri() if "://" not in target else target
    if args.source and config.source(args.source) is None:
        raise _no_such_source(config, args.source)
    source = args.source or next((s.name for s in config.sources if s.url == url), None)
    try:
        result = fetch(url, Limits(timeout=config.poll.timeout, max_bytes=config.poll.max_bytes))
        with parse_pool(1, config.poll.timeout) as pool:
            feed = pool.prepare(result.body or b"", result.url, result.content_type, source or "", rules)
    except (FetchError, ParseError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    for entry in feed.entries:
        data = entry.data
        title = text.display_title(data.title, data.summary, data.content, data.link)
        print(f"{title}\n    -> {', '.join(entry.routes) or '(no feed)'}")
    if feed.warning:
        print(f"{target}: warning: {feed.warning}", file=sys.stderr)
    for line in feed.dropped:  # what a poll would drop and report too
        print(f"{target}: dropped: {line}", file=sys.stderr)
    limited = [rule.slug for rule in rules.rules if rule.sources is not None]
    if source is None and limited:
        print(
            f"note: rules limited to named sources ({', '.join(limited)}) take nothing from a feed "
            "that is not one of them; give --source NAME to route it as one",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_explain(config: Config, args: argparse.Namespace) -> int:
    from republisher.publish.publisher import feed_stories
    from republisher.routing.match import Item, judge_all
    from republisher.store.store import Store

    rules = _rules(config)
    now = _now()
    with Store.open(config.state_dir) as store:
        found = (
            store.find_entries(args.entry)
            or _find_by_link(store, args.entry)
            or store.find_by_title(args.entry)
        )
        if not found:
            print(
                f"error: no stored entry has the id, link or a title containing {args.entry!r}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if len(found) > 1 and not any(args.entry in (e.atom_id, e.data.guid, e.data.link) for e in found):
            print(
                f"error: {len(found)} stored entries have a title containing {args.entry!r}:", file=sys.stderr
            )
            for entry in found[:20]:
                print(f"  {entry.data.title}\n    {entry.data.link or entry.atom_id}", file=sys.stderr)
            print("give one entry's link or id to explain it", file=sys.stderr)
            return EXIT_FAILED
        published = {rule.slug: feed_stories(store, rule, config.max_entries, now) for rule in rules.rules}
    for entry in found:
        print(f"{entry.data.title}\n  id: {entry.atom_id}\n  source: {entry.source}")
        for verdict in judge_all(rules.rules, Item.from_entry(entry.data, entry.source)):
            print(f"  {verdict.slug}: {'ROUTED' if verdict.routed else 'not routed'}")
            _print_reasons(verdict)
            if verdict.routed:
                print(f"    {_place_in_feed(entry, published[verdict.slug])}")
    return EXIT_OK


def _find_by_link(store: Store, link: str) -> list[StoredEntry]:
    """Entries whose link is this one once tracking parameters, fragment and scheme/host
    spelling are set aside (as merging compares links): the link a reader has in hand."""
    from republisher.publish.stories import canonical_link

    if not link.lower().startswith(("http://", "https://")):
        return []
    wanted = canonical_link(link)
    return store.find_by_link(lambda stored: canonical_link(stored) == wanted)


def _place_in_feed(entry: StoredEntry, stories: Sequence[Story]) -> str:
    """Where a routed entry shows in its feed: as its own story, inside another source's
    story (merged), or not at all (older than the feed keeps)."""
    for story in stories:
        if (story.entry.source, story.entry.key) == (entry.source, entry.key):
            carriers = sorted({other.source for other in story.also if other.source != entry.source})
            also = f", also carried by {', '.join(carriers)}" if carriers else ""
            return f"in the feed as its own story{also}"
        if any((other.source, other.key) == (entry.source, entry.key) for other in story.also):
            return (
                f"in the feed as part of {story.entry.source}'s story {story.entry.data.title!r} "
                "(one story carried by several sources is published once)"
            )
    return "not in the feed now: older than the newest stories it keeps (max_entries, max_age)"


def cmd_review(config: Config, args: argparse.Namespace) -> int:
    from republisher.routing.review import find_rule, format_review, review

    rules = _rules(config)
    find_rule(args.slug, rules.rules)  # a mistyped name fails before the whole store is read
    entries, in_feed = _store_for_editing(config, args.slug)
    print("\n".join(format_review(review(args.slug, rules.rules, entries, in_feed, max(args.limit, 1)))))
    return EXIT_OK


def cmd_suggest(config: Config, args: argparse.Namespace) -> int:
    from republisher.routing.review import find_rule
    from republisher.routing.suggest import format_suggestions, suggest

    rules = _rules(config)
    find_rule(args.slug, rules.rules)  # a mistyped name fails before the whole store is read
    entries, in_feed = _store_for_editing(config, args.slug)
    print(
        "\n".join(format_suggestions(suggest(args.slug, rules.rules, entries, in_feed, max(args.limit, 1))))
    )
    return EXIT_OK


def _store_for_editing(config: Config, slug: str) -> tuple[list[StoredEntry], set[tuple[str, str]]]:
    """Every stored entry, and the (source, key) of those the store routes to `slug`."""
    from republisher.store.store import Store

    with Store.open(config.state_dir) as store:
        entries = store.all_entries()
        in_feed = {entry for entry, slugs in store.all_routes().items() if slug in slugs}
    return entries, in_feed


def cmd_reroute(config: Config, args: argparse.Namespace) -> int:
    from republisher.poll.reroute import reroute_and_publish

    progress = _progress_bar if sys.stderr.isatty() else None
    report = reroute_and_publish(config, _rules(config), _now(), dry_run=args.dry_run, progress=progress)
    changes = report.changes
    for change in changes:
        print(f"{change.slug}: {len(change.entering)} entering, {len(change.leaving)} leaving")
        for entry in change.entering:
            print(f"    + {entry.data.title}")
        for entry in change.leaving:
            print(f"    - {entry.data.title}")
    if not changes:
        print("no feed changes")
    _print_files(config, report.written, report.removed)
    return EXIT_OK


def _progress_bar(done: int, total: int) -> None:
    """A bar on stderr for long reroutes; only drawn on a terminal."""
    if total < 2000:
        return
    width = 40
    filled = width * done // total
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)
    if done == total:
        print(file=sys.stderr)


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    import json

    from republisher.poll.status import format_status, status_document
    from republisher.publish.publisher import feed_stories, published_in_feed
    from republisher.store.store import Store

    now = _now()
    try:
        rules: RuleSet | None = _rules(config)
        rules_error = None
    except ConfigError as e:
        rules = None  # status still reports the sources when a rule file is broken
        rules_error = e
    with Store.open(config.state_dir) as store:
        states = store.source_states()
        counts = store.feed_counts()
        if rules is not None:
            slugs = rules.slugs
            in_feed = {
                rule.slug: len(feed_stories(store, rule, config.max_entries, now)) for rule in rules.rules
            }
        else:  # the feeds as last published: their files stay as they are until it is fixed
            in_feed = published_in_feed(store)
            slugs = tuple(sorted(set(counts) | set(in_feed)))
    error = None if rules_error is None else str(rules_error)
    document = status_document(config, states, slugs, counts, in_feed, error)
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print("\n".join(format_status(document)))
    if error is not None:  # what polls now refuse to run with: never "healthy"
        print(
            "rules: broken, polls refuse to run until fixed (feeds listed as last published):",
            file=sys.stderr,
        )
        print("\n".join(f"    {line}" for line in error.splitlines()), file=sys.stderr)
    return EXIT_OK if document["healthy"] else EXIT_FAILED


_COMMANDS = {
    "poll": cmd_poll,
    "check": cmd_check,
    "route": cmd_route,
    "explain": cmd_explain,
    "reroute": cmd_reroute,
    "status": cmd_status,
    "review": cmd_review,
    "suggest": cmd_suggest,
}


if __name__ == "__main__":
    sys.exit(main())
