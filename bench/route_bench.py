"""Routing benchmark (issues 4 and 12): the compiled router against the naive approach.

50,000 entries (a title and a ~60-word summary drawn from the seed articles' words)
routed against 10, 100, 300 and 1,000 rules of 5 phrases each. In the same run:
  naive       every phrase as re.search(r"\\bphrase\\b", text, re.IGNORECASE), rule after rule
              (patterns precompiled, so Python's 512-pattern cache does not make it slower)
Reports entries/s (one core: the best of --rounds passes over all entries), the ratio,
build time and memory of the compiled router. Before timing, the router's routes on the
first --check entries must equal the reference matcher's (match.judge_all), or the
benchmark stops.

Run by hand:  .venv/bin/python bench/route_bench.py [--entries 50000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import time
import tracemalloc
from pathlib import Path

from sample_text import sample_words

from republisher.models import EntryData
from republisher.routing.match import Item, judge_all
from republisher.routing.router import Router
from republisher.routing.rules import DEFAULT_FIELDS, Group, Rule, compile_term

REPO = Path(__file__).resolve().parent.parent


def vocabulary() -> list[str]:
    """Common words: those of the bundled sample feed (what most of a text is made of)."""
    return sample_words()


def topic_words(rng: random.Random, count: int = 5000) -> list[str]:
    """Rarer words (names, places, jargon): what rule phrases are mostly made of."""
    syllables = [c + v for c in "bcdfghjklmnprstvwxz" for v in "aeiou"] + ["ash", "orn", "ent", "ux"]
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return sorted(found)


def make_entries(count: int, common: list[str], rare: list[str], rng: random.Random) -> list[EntryData]:
    """A title of 10 words and a summary of 60, one word in eight a rare one, with punctuation."""

    def text(length: int) -> str:
        chosen = [rng.choice(rare) if rng.random() < 0.125 else rng.choice(common) for _ in range(length)]
        return " ".join(w + ("," if rng.random() < 0.08 else "") for w in chosen).capitalize() + "."

    return [
        EntryData(guid=None, title=text(10), link=None, summary=text(60), content=None, author=None)
        for _ in range(count)
    ]


def make_rules(count: int, common: list[str], rare: list[str], rng: random.Random) -> list[Rule]:
    """Rules of 5 phrases: rare single words, two-word phrases, and prefixes."""
    rules = []
    for n in range(count):
        phrases = []
        for _ in range(5):
            kind = rng.random()
            if kind < 0.5:
                phrases.append(rng.choice(rare))
            elif kind < 0.8:
                phrases.append(f"{rng.choice(common)} {rng.choice(rare)}")
            elif kind < 0.9:
                phrases.append(" ".join(rng.choices(common, k=2)))
            else:
                phrases.append(rng.choice(rare)[:6] + "*")
        terms = tuple(compile_term(p) for p in phrases)
        rules.append(Rule(f"r{n}", Path(f"r{n}.toml"), f"R{n}", "", None, Group(any=terms), False, ()))
    return rules


def naive_patterns(rules: list[Rule]) -> list[tuple[str, list[re.Pattern[str]]]]:
    compiled = []
    for rule in rules:
        assert rule.match is not None and rule.match.any is not None
        patterns = []
        for term in rule.match.any:
            source = term.source  # type: ignore[union-attr]
            if source.endswith("*"):
                patterns.append(re.compile(r"\b" + re.escape(source[:-1]), re.IGNORECASE))
            else:
                patterns.append(re.compile(r"\b" + re.escape(source) + r"\b", re.IGNORECASE))
        compiled.append((rule.slug, patterns))
    return compiled


def naive_route(entry: EntryData, compiled: list[tuple[str, list[re.Pattern[str]]]]) -> list[str]:
    text = entry.title + "\n" + (entry.summary or "")
    return [slug for slug, patterns in compiled if any(p.search(text) for p in patterns)]


def literal_naive_route(entry: EntryData, rules: list[tuple[str, list[str]]]) -> list[str]:
    """Exactly as the issue words it: re.search per phrase, letting re's cache compile."""
    text = entry.title + "\n" + (entry.summary or "")
    return [slug for slug, patterns in rules if any(re.search(p, text, re.IGNORECASE) for p in patterns)]


def check_against_reference(router: Router, rules: list[Rule], entries: list[EntryData]) -> None:
    """Stop unless the router routes every entry exactly as the reference matcher does."""
    for number, entry in enumerate(entries):
        item = Item.from_entry(entry, None)
        expected = [v.slug for v in judge_all(rules, item) if v.routed]
        if router.route(item) != expected:
            raise SystemExit(
                f"{len(rules)} rules, entry {number}: router {router.route(item)} != reference {expected}"
            )


_WORKER: tuple[Router, list[EntryData]] | None = None


def _init_worker(rules: list[Rule], entries: list[EntryData]) -> None:
    """Each worker gets the rules and its share of the entries once, before timing starts:
    in a poll, entries are parsed in the worker that routes them, so nothing crosses a pipe."""
    global _WORKER
    _WORKER = (Router(rules), entries)


def _route_share(share: tuple[int, int]) -> float:
    """Route entries[start:stop] in this worker; returns the seconds it took."""
    assert _WORKER is not None
    router, entries = _WORKER
    started = time.perf_counter()
    for entry in entries[share[0] : share[1]]:
        router.route(Item.from_entry(entry, None))
    return time.perf_counter() - started


def two_process_rate(rules: list[Rule], entries: list[EntryData]) -> float:
    """Entries/s with the entries split over two worker processes, as the parse workers do it:
    all entries divided by the slower worker's routing time."""
    half = len(entries) // 2
    context = multiprocessing.get_context("spawn")
    with context.Pool(2, _init_worker, (rules, entries)) as pool:
        pool.map(_route_share, [(0, 200), (200, 400)])  # warm up
        seconds = pool.map(_route_share, [(0, half), (half, len(entries))], chunksize=1)
    return len(entries) / max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--naive-entries", type=int, default=2_000, help="naive is slow: time fewer")
    parser.add_argument("--check", type=int, default=1_000, help="entries checked against the reference")
    parser.add_argument("--rounds", type=int, default=3, help="one-core rounds; the best is reported")
    args = parser.parse_args()
    rng = random.Random(20261128)
    common = vocabulary()
    rare = topic_words(rng)
    entries = make_entries(args.entries, common, rare, rng)
    print(
        f"{args.entries} entries; {len(common)} common and {len(rare)} rare words; "
        f"fields {[f.value for f in DEFAULT_FIELDS]}"
    )
    print()
    print(
        "| rules | router, 1 core | router, 2 processes | naive, precompiled | ratio (1 core) "
        "| naive, re.search as worded | ratio | build ms | router KB | feeds per entry |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = {}
    for count in (10, 100, 300, 1000):
        rules = make_rules(count, common, rare, rng)
        tracemalloc.start()
        started = time.perf_counter()
        router = Router(rules)
        build = time.perf_counter() - started
        memory = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        check_against_reference(router, rules, entries[: args.check])

        fast = 0.0
        for _ in range(args.rounds):  # the best round: a busy moment on a shared machine is not the router
            started = time.perf_counter()
            routed = 0
            for entry in entries:
                routed += len(router.route(Item.from_entry(entry, None)))
            fast = max(fast, len(entries) / (time.perf_counter() - started))

        parallel = two_process_rate(rules, entries)

        compiled = naive_patterns(rules)
        sample = entries[: args.naive_entries]
        started = time.perf_counter()
        for entry in sample:
            naive_route(entry, compiled)
        naive = len(sample) / (time.perf_counter() - started)
        worded = [(slug, [p.pattern for p in patterns]) for slug, patterns in compiled]
        sample = entries[: max(args.naive_entries // 10, 20)]
        started = time.perf_counter()
        for entry in sample:
            literal_naive_route(entry, worded)
        literal = len(sample) / (time.perf_counter() - started)
        results[count] = fast
        print(
            f"| {count} | {fast:,.0f} | {parallel:,.0f} | {naive:,.0f} | {fast / naive:,.0f}x "
            f"| {literal:,.1f} | {fast / literal:,.0f}x | {build * 1000:.1f} | {memory / 1024:,.0f} "
            f"| {routed / len(entries):.2f} |",
            flush=True,
        )
    print()
    print(
        f"routes identical to the reference matcher's on the first {args.check:,} entries at every rule count"
    )
    print(f"one core at 300 rules: {results[300]:,.0f} entries/s (target >= 50,000)")
    print(f"throughput at 1,000 rules / at 10 rules = {results[1000] / results[10]:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
