"""The command line's arguments, and what `--help` says of each command."""

from __future__ import annotations

import argparse
from pathlib import Path

from republisher import __version__

DESCRIPTION = (
    "Command line: `republisher [--config PATH] COMMAND`. Exit 0 ok, 1 a failure, 2 usage or config."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="republisher", description=DESCRIPTION)
    # --config and --debug are accepted before or after the command: `republisher status
    # --config x.toml` works like `republisher --config x.toml status`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: $REPUBLISHER_CONFIG or ./config.toml)",
    )
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    parser.add_argument(
        "--config", type=Path, help="config file (default: $REPUBLISHER_CONFIG or ./config.toml)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"republisher {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=description, parents=[common])

    poll = command(
        "poll",
        "poll due sources once, store, route, write feeds",
        "One cycle: poll every source that is due, store new and changed items, route them, "
        "and rewrite the derived feeds whose bytes changed. Exits 1 when a source failed.",
    )
    poll.add_argument(
        "--force", action="store_true", help="ignore intervals and back-off (never Retry-After or 410)"
    )
    poll.add_argument("--source", metavar="NAME", help="poll only this source")
    command(
        "run",
        "the daemon: poll each source on its interval; SIGHUP reloads",
        "Run as a service: poll each source on its interval, reload config and rules on SIGHUP, "
        "stop cleanly on SIGTERM; serve output_dir too when [serve] enabled = true.",
    )
    command("serve", "serve output_dir over HTTP", "Serve output_dir over HTTP at [serve] host and port.")
    command(
        "check",
        "validate config and rules, run every rule's [[examples]]",
        "Validate the config and every rule file, and run every rule file's [[examples]]. "
        "Exits 2 on a config or rule error, 1 when an example fails.",
    )
    route = command(
        "route",
        "dry run: which feeds each item of a feed would go to",
        "Parse one feed (a file or URL) and print the derived feeds each item would go to. Writes nothing.",
    )
    route.add_argument("feed", metavar="FILE_OR_URL")
    route.add_argument(
        "--source", metavar="NAME", help="treat the items as coming from this configured source"
    )
    explain = command(
        "explain",
        "why a stored entry is (not) in each feed",
        "For a stored entry: every derived feed, and the terms (with field and quoted text) that "
        "routed or excluded it, or what was missing.",
    )
    explain.add_argument("entry", metavar="ENTRY", help="a stored entry's id or link, or part of its title")
    reroute = command(
        "reroute",
        "re-apply the current rules to every stored entry",
        "Re-apply the current rules to every stored entry and rewrite the derived feeds.",
    )
    reroute.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    for name, summary, description in (
        (
            "review",
            "likely misses and doubtful members of a feed, from the whole store",
            "For a rule's editor: the stored entries not in the feed that most resemble its entries "
            "and its [[examples]] (likely misses), and the entries in it that least resemble the rest "
            "(possible false positives), each with the terms that would catch or exclude it. Reads "
            "the store only.",
        ),
        (
            "suggest",
            "terms that best separate a feed's entries from the rest, ready to paste",
            "Candidate terms for `any` (words and phrases that best separate the feed's entries from "
            "the other stored entries, by weighted log-odds with an informative prior), with counts "
            "inside and outside and whether the rule already has them, and candidates for `none`. "
            "Reads the store only.",
        ),
    ):
        editor = command(name, summary, description)
        editor.add_argument("slug", metavar="SLUG", help="the derived feed (its rule file's name)")
        editor.add_argument(
            "--limit", type=int, default=10 if name == "review" else 25, help="how many to show"
        )
    status = command(
        "status",
        "per source and per derived feed state; exit 1 when a source fails or a rule is broken",
        "Per source: URL, last poll, HTTP status, next due, errors, dropped items; per derived "
        "feed: stories in the feed, routed entries, newest. Times are UTC. Exits 1 when any "
        "source is failing or gone, or a rule file is broken.",
    )
    status.add_argument("--json", action="store_true", help="print the same as one JSON document")
    return parser
