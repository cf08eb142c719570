"""Command line: `republisher [--config PATH] COMMAND`. Exit 0 ok, 1 a failure, 2 usage or config."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from republisher import __version__, text
from republisher.config import Config, default_config_path, load_config
from republisher.daemon import http as serve
from republisher.daemon import loop as service
from republisher.errors import ConfigError, FetchError, ParseError, RepublisherError
from republisher.poll import cycle as pipeline
from republisher.routing.match import Item, Verdict, failing_examples, judge_all
from republisher.routing.rules import RuleSet, load_rules
from republisher.sources.fetch import Limits, fetch
from republisher.sources.workers import parse_pool
from republisher.store.store import Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="republisher", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="config file (default: $REPUBLISHER_CONFIG or ./config.toml)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"republisher {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    poll = commands.add_parser("poll", help="poll due sources once, store, route, write feeds")
    poll.add_argument("--force", action="store_true", help="ignore intervals and back-off")
    poll.add_argument("--source", metavar="NAME", help="poll only this source")
    commands.add_parser("run", help="the daemon: poll each source on its interval; SIGHUP reloads")
    commands.add_parser("serve", help="serve output_dir over HTTP at [serve] host and port")
    commands.add_parser("check", help="validate config and rules, run every rule's [[examples]]")
    route = commands.add_parser("route", help="dry run: which feeds each item of a feed would go to")
    route.add_argument("feed", metavar="FILE_OR_URL")
    route.add_argument("--source", metavar="NAME", help="treat the items as coming from this source")
    explain = commands.add_parser("explain", help="why a stored entry is (not) in each feed")
    explain.add_argument("entry", metavar="ENTRY", help="a stored entry's id or link, or part of its title")
    reroute = commands.add_parser("reroute", help="re-apply the current rules to every stored entry")
    reroute.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    commands.add_parser("status", help="per source and per derived feed state")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `republisher` console script."""
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    path = args.config or default_config_path()
    try:
        if args.command == "run":
            return service.run(path)
        if args.command == "serve":
            return serve.serve(load_config(path))
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
    return load_rules(config.rules_dir, [s.name for s in config.sources])


def cmd_poll(config: Config, args: argparse.Namespace) -> int:
    if args.source and config.source(args.source) is None:
        raise ConfigError([f"{config.path}: --source: no source named {args.source!r}"])
    report = pipeline.poll_once(config, _rules(config), _now(), force=args.force, only=args.source)
    for ping in pipeline.deliver_websub(config, _now()):
        print(f"websub: {ping.hub}: {ping.topic}: {ping.detail}")
    if not report.outcomes:
        print("no source is due (use --force to poll anyway)")
    for outcome in report.outcomes:
        print(f"{outcome.name}: {'' if outcome.ok else 'FAILED: '}{outcome.message}")
    _print_files(config, report.written, report.removed)
    return EXIT_FAILED if report.failed else EXIT_OK


def _print_reasons(verdict: Verdict) -> None:
    """The terms behind a verdict: matched, excluding, and (when not routed) missing."""
    for hit in verdict.matched:
        print(f"    matched {hit.term!r} in {hit.field}: {hit.excerpt}")
    for hit in verdict.excluded_by:
        print(f"    excluded by {hit.term!r} in {hit.field}: {hit.excerpt}")
    if not verdict.routed:
        for missing in verdict.missing:
            print(f"    missing {missing}")


def _print_files(config: Config, written: Sequence[str], removed: Sequence[str]) -> None:
    for name in written:
        print(f"wrote {config.output_dir / name}")
    for name in removed:
        print(f"removed {config.output_dir / name}")


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    rules = _rules(config)
    failures = failing_examples(rules.rules)
    total = sum(len(r.examples) for r in rules.rules)
    for failure in failures:
        v = failure.verdict
        outcome = (
            "expected routed, but it was not" if failure.example.routed else "expected not routed, but it was"
        )
        print(f"{failure.rule.path}: example {failure.example.title!r}: {outcome}")
        _print_reasons(v)
    print(
        f"{config.path}: ok; {len(rules.rules)} rule files ok; "
        f"{total - len(failures)} of {total} examples pass"
    )
    return EXIT_FAILED if failures else EXIT_OK


def cmd_route(config: Config, args: argparse.Namespace) -> int:
    rules = _rules(config)
    target = args.feed
    path = Path(target)
    url = path.resolve().as_uri() if "://" not in target else target
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
    return EXIT_OK


def cmd_explain(config: Config, args: argparse.Namespace) -> int:
    rules = _rules(config)
    store = Store.open(config.state_dir)
    try:
        found = store.find_entries(args.entry) or store.find_by_title(args.entry)
    finally:
        store.close()
    if not found:
        print(
            f"error: no stored entry has the id, link or a title containing {args.entry!r}", file=sys.stderr
        )
        return EXIT_FAILED
    if len(found) > 1 and not any(args.entry in (e.atom_id, e.data.guid, e.data.link) for e in found):
        print(f"error: {len(found)} stored entries have a title containing {args.entry!r}:", file=sys.stderr)
        for entry in found[:20]:
            print(f"  {entry.data.title}\n    {entry.data.link or entry.atom_id}", file=sys.stderr)
        return EXIT_FAILED
    for entry in found:
        print(f"{entry.data.title}\n  id: {entry.atom_id}\n  source: {entry.source}")
        for verdict in judge_all(rules.rules, Item.from_entry(entry.data, entry.source)):
            print(f"  {verdict.slug}: {'ROUTED' if verdict.routed else 'not routed'}")
            _print_reasons(verdict)
    return EXIT_OK


def cmd_reroute(config: Config, args: argparse.Namespace) -> int:
    progress = _progress_bar if sys.stderr.isatty() else None
    report = pipeline.reroute_and_publish(
        config, _rules(config), _now(), dry_run=args.dry_run, progress=progress
    )
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
    store = Store.open(config.state_dir)
    try:
        states = store.source_states()
        counts = store.feed_counts()
    finally:
        store.close()
    rows: list[tuple[str, ...]] = [("SOURCE", "HTTP", "LAST POLL", "NEXT DUE", "ERRORS", "STATE")]
    notes: list[str] = []
    for source in config.sources:
        state = states.get(source.name)
        if state is None or state.url != source.url:
            rows.append((source.name, "-", "never", "now", "0", "new"))
            notes.append(f"{source.name}: {source.url}")
            continue
        condition = "GONE (410)" if state.gone else "failing" if state.consecutive_errors else "ok"
        due = "never" if state.gone else _when(max(filter(None, (state.next_due, state.not_before))))
        rows.append(
            (
                source.name,
                str(state.last_status or "-"),
                _when(state.last_poll),
                due,
                str(state.consecutive_errors),
                condition,
            )
        )
        notes.append(f"{source.name}: {source.url}")
        if state.moved_to:
            notes.append(f"{source.name}: moved to {state.moved_to}")
        if state.not_before:
            notes.append(f"{source.name}: server asked us to wait until {_when(state.not_before)}")
        if state.last_error:
            notes.append(f"{source.name}: last error: {state.last_error}")
    _print_table(rows)
    print()
    for note in notes:
        print(note)
    print()
    try:
        slugs = _rules(config).slugs
    except ConfigError:
        slugs = tuple(sorted(counts))
    feed_rows: list[tuple[str, ...]] = [("FEED", "ENTRIES", "NEWEST")]
    for slug in slugs:
        n, newest = counts.get(slug, (0, None))
        feed_rows.append((slug, str(n), _when(newest)))
    _print_table(feed_rows)
    return EXIT_OK


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


_COMMANDS = {
    "poll": cmd_poll,
    "check": cmd_check,
    "route": cmd_route,
    "explain": cmd_explain,
    "reroute": cmd_reroute,
    "status": cmd_status,
}


if __name__ == "__main__":
    sys.exit(main())
