"""`review` and `suggest` benchmark (issue 13): 100,000 stored entries, each feed of the shipped rules.

Entries: a title (one sentence of the bundled sample, up to 14 words) and a summary of three
sentences in <p> markup, one word in eight replaced by an invented name or term (so the
vocabulary grows as a real store's does), from 20 sources over a year. The shipped rules
(rules/) plus an `unrouted = true` feed route them (not timed). Each (command, feed) runs
three times on the entries in memory, as after the command's store read, which is timed on
its own (a real SQLite file); the best and the median run are shown (the machine is shared:
the best is what the code costs, the median what a user may see). Memory: what the command
allocates at its peak (tracemalloc, in a forked child running it once), beside the RSS of
the entries.

Run by hand:  .venv/bin/python bench/review_bench.py [--entries 100000] [--append]
(--append adds the result as a new section of BENCHMARKS.md)
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sample_text import sample_paragraphs

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.routing.match import Item
from republisher.routing.review import format_review, review
from republisher.routing.router import Router
from republisher.routing.rules import load_rules
from republisher.routing.suggest import format_suggestions, suggest
from republisher.store.store import EntryWrite, Store

REPO = Path(__file__).resolve().parent.parent


def invented_words(rng: random.Random, count: int = 20_000) -> list[str]:
    syllables = [c + v for c in "bcdfghjklmnprstvwxz" for v in "aeiou"] + ["ash", "orn", "ent", "ux"]
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(rng.choices(syllables, k=rng.randint(2, 4))).capitalize())
    return sorted(found)


def make_entries(count: int, rng: random.Random) -> list[StoredEntry]:
    sentences = [s for p in sample_paragraphs() for s in re.split(r"(?<=[.!?”])\s+", p) if len(s) > 30]
    rare = invented_words(rng)

    def vary(sentence: str) -> str:
        return " ".join(rng.choice(rare) if rng.random() < 0.125 else w for w in sentence.split())

    start = datetime(2024, 1, 1, tzinfo=UTC)
    metas = [
        SourceMeta(f"Source {n}", f"urn:source:{n}", f"https://example.org/{n}.xml", None, None)
        for n in range(20)
    ]
    entries = []
    for i in range(count):
        title = " ".join(vary(rng.choice(sentences)).split()[:14])
        summary = "<p>" + " ".join(vary(s) for s in rng.sample(sentences, 3)) + "</p>"
        when = start + timedelta(minutes=5 * i)
        source = i % 20
        data = EntryData(
            guid=f"urn:entry:{i}",
            title=title,
            link=f"https://example.org/{source}/{i}",
            summary=summary,
            content=None,
            author=None,
            published=when,
        )
        entries.append(
            StoredEntry(f"source-{source}", f"k{i}", f"urn:entry:{i}", when, when, data, metas[source])
        )
    return entries


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def measure(work: Callable[[], Any]) -> dict[str, float]:
    """Wall and CPU seconds of work()."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def peak_mb(work: Callable[[], Any]) -> float:
    """MB that work() allocates at its peak (tracemalloc), run once in a forked child: tracing
    slows it down, and the child leaves this process's heap as it was."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        tracemalloc.start()
        work()
        os.write(write, str(tracemalloc.get_traced_memory()[1] / 2**20).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return float(answer)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} vCPU {cpu}, {ram:.0f} GiB RAM, Linux {platform.release()}, "
        f"CPython {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--append", action="store_true", help="append the result to BENCHMARKS.md")
    parser.add_argument("--show", action="store_true", help="print each command's output too")
    args = parser.parse_args()

    rng = random.Random(13)
    folder = Path(tempfile.mkdtemp(prefix="review-bench-"))
    try:
        rules_dir = folder / "rules"
        shutil.copytree(REPO / "rules", rules_dir)
        (rules_dir / "other.toml").write_text('title = "Everything else"\nunrouted = true\n')
        rules = load_rules(rules_dir).rules
        print(f"generating {args.entries:,} entries ...", file=sys.stderr)
        entries = make_entries(args.entries, rng)
        router = Router(rules)
        routes = {(e.source, e.key): router.route(Item.from_entry(e.data, e.source)) for e in entries}
        in_feed = {r.slug: {k for k, slugs in routes.items() if r.slug in slugs} for r in rules}

        print("writing the SQLite store ...", file=sys.stderr)
        with Store.open(folder / "state") as store, store.transaction():
            store.put_entries(
                EntryWrite(e, str(i), tuple(routes[e.source, e.key])) for i, e in enumerate(entries)
            )

        def load() -> None:
            with Store.open(folder / "state") as store:
                store.all_entries()
                store.all_routes()

        loading = {**measure(load), "peak_mb": peak_mb(load)}
        entries_mb = _status_mb("VmRSS")
        rows = []
        for rule in rules:
            members = in_feed[rule.slug]
            times = {}
            for name, command, show in (
                ("review", review, format_review),
                ("suggest", suggest, format_suggestions),
            ):

                def work(
                    command: Any = command, show: Any = show, slug: str = rule.slug, members: Any = members
                ) -> None:
                    lines = show(command(slug, rules, entries, members))
                    if args.show:
                        print("\n".join(lines))

                runs = sorted((measure(work) for _ in range(3)), key=lambda run: run["wall"])
                times[name] = {**runs[0], "median": runs[1]["wall"], "peak_mb": peak_mb(work)}
            rows.append((rule.slug, len(members), times))
            print(f"{rule.slug}: done", file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load1, load5, _ = os.getloadavg()
    lines = [
        "",
        "## Review and suggest (issue 13)",
        "",
        "```sh",
        f".venv/bin/python bench/review_bench.py --entries {args.entries}",
        "```",
        "",
        f"Machine: {machine()}. Run of {when}; load average at the end {load1:.1f} (1 min),",
        f"{load5:.1f} (5 min): other work shared the machine, so CPU time is shown beside wall time.",
        "",
        f"{args.entries:,} stored entries (a sample sentence as title, three as summary, one word in",
        "eight an invented name), routed by the shipped rules plus an `unrouted = true` feed (the",
        "sample is all about the feeds' subjects, so the feeds are far bigger than in a real store:",
        "the worst case). Each command runs on the entries in memory, as after its store read:",
        "the best of three runs (its CPU time), then the median. Memory: what the command",
        "allocates at its peak (tracemalloc, one run in a forked child), beyond the",
        f"{entries_mb:.0f} MB RSS of the process holding the entries.",
        "",
        "| feed | entries in feed | review s (CPU s) / median | suggest s (CPU s) / median | MB allocated at peak, review / suggest |",
        "|---|---|---|---|---|",
    ]
    for slug, members, times in rows:
        r, s = times["review"], times["suggest"]
        lines.append(
            f"| {slug} | {members:,} | {r['wall']:.2f} ({r['cpu']:.2f}) / {r['median']:.2f} "
            f"| {s['wall']:.2f} ({s['cpu']:.2f}) / {s['median']:.2f} "
            f"| {r['peak_mb']:.0f} / {s['peak_mb']:.0f} |"
        )
    worst = max(max(t["review"]["wall"], t["suggest"]["wall"]) for _, _, t in rows)
    worst_median = max(max(t["review"]["median"], t["suggest"]["median"]) for _, _, t in rows)
    lines += [
        "",
        "| target | measured |",
        "|---|---|",
        f"| `review` and `suggest` under 5 s each on {args.entries:,} entries | slowest: **{worst:.2f} s** (median {worst_median:.2f} s) |",
        "",
        f"Reading the store first (`Store.all_entries` and `all_routes`, {args.entries:,} entries from SQLite):",
        f"{loading['wall']:.2f} s ({loading['cpu']:.2f} s CPU), {loading['peak_mb']:.0f} MB allocated at peak.",
    ]
    print("\n".join(lines))
    if args.append:
        with (REPO / "BENCHMARKS.md").open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
