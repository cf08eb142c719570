"""Publish-stage benchmark (issue 10): story merging and rendering grow linearly.

Times what one derived feed costs at publish: merge_stories over its entries, then the
Atom, JSON Feed and index page renderings (every summary sanitized, caches cold), for
  titles   the same number of entries with 1x and 4x the title length; every entry has a
           near-identical twin (the titles differ in their last word), the case that was
           quadratic in title length (difflib on whole titles)
  entries  1x and 4x the entries with headline-sized titles, a third of them duplicates,
           all within the merge window: the case that was quadratic in entries
and prints the 4x/1x ratios (linear is 4.0; the goal is within 1.5x of it, <= 6.0).

Run by hand:  .venv/bin/python bench/publish_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import html
import platform
import random
import re
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.publish import public, stories
from republisher.publish.atom import render_feed
from republisher.publish.jsonfeed import render_json_feed
from republisher.publish.site import feed_summary, render_html
from republisher.routing.rules import Rule

BASE = "https://feeds.example.org/topics/"
T0 = datetime(2021, 3, 1, 12, tzinfo=UTC)
RULE = Rule("bench", Path("rules/bench.toml"), "Bench", "Benchmark feed", None, None, True, ())
REPO = Path(__file__).resolve().parent.parent


def corpus_words() -> list[str]:
    """Every word of the repository's sample articles, in order: drawing from this list
    gives words at their natural frequencies (a few very common, most rare)."""
    sample = (REPO / "samples" / "guardian-uighurs.xml").read_text(encoding="utf-8")
    articles = tomllib.loads((REPO / "tests" / "data" / "heldout-articles.toml").read_text(encoding="utf-8"))
    texts = [html.unescape(re.sub(r"<[^>]*>", " ", html.unescape(sample)))]
    texts += [f"{a['title']} {a['summary']}" for a in articles["article"]]
    return [w for t in texts for w in re.findall(r"[A-Za-z]+", t)]


WORDS = corpus_words()


def summary(rng: random.Random) -> str:
    """About 1 KB of the HTML a feed carries: paragraphs, links and an image."""
    paragraphs = []
    for _ in range(4):
        text = " ".join(rng.choices(WORDS, k=30))
        paragraphs.append(
            f'<p>{text} <a href="https://news.example/{rng.randrange(10**6)}?utm_source=rss">more</a></p>'
        )
    return "".join(paragraphs) + '<img src="https://img.example/p.jpg" alt="photo">'


def entries_with(count: int, title_words: int, twins: bool, seed: int = 1) -> list[StoredEntry]:
    """`count` entries, newest first, all within three days; with `twins`, each has a twin
    from another source whose title differs in its last word, else one in three is a
    duplicate (same title from another source)."""
    rng = random.Random(seed)
    entries = []
    for i in range(count):
        origin = SourceMeta(
            f"Source {i % 7}", f"https://s{i % 7}.example/", f"https://s{i % 7}.example/rss", None, None
        )
        if twins and i % 2:
            title = entries[-1].data.title.rsplit(" ", 1)[0] + " twin"
        elif not twins and i % 3 == 2:
            title = entries[-1].data.title
        else:
            title = " ".join(rng.choices(WORDS, k=title_words)) + f" n{i}"
        when = T0 - timedelta(minutes=3 * i)
        data = EntryData(
            guid=f"g{i}",
            title=title,
            link=f"https://s{i % 7}.example/story/{i}",
            summary=summary(rng),
            content=None,
            author=f"Reporter {i % 13}",
            published=when,
        )
        entries.append(StoredEntry(f"s{i % 7}", f"k{i}", f"urn:bench:{i}", when, when, data, origin))
    return entries


def publish_once(entries: list[StoredEntry]) -> None:
    public._sanitized_cache.clear()  # cold: as a `poll` process starts
    public.public_entry.cache_clear()
    merged = stories.merge_stories(entries)
    render_feed(RULE, merged, BASE, T0)
    render_json_feed(RULE, merged, BASE)
    summary = feed_summary(RULE, merged, len(entries), T0)
    render_html([summary], BASE)


def best_of(repeat: int, fn: Callable[[], None]) -> float:
    """The fastest of `repeat` runs in CPU seconds of this process (the work is single-
    threaded, and CPU time is not inflated by other processes on a busy machine), with
    the garbage collector off while timing, as timeit does: its passes scan every live
    object and would blur the ratios."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        finally:
            gc.enable()
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or platform.platform()}"
    )
    cases = {
        "titles": [("1x titles", entries_with(150, 1_250, twins=True)),
                   ("4x titles", entries_with(150, 5_000, twins=True))],
        "entries": [("1x entries (500)", entries_with(500, 10, twins=False)),
                    ("4x entries (2000)", entries_with(2_000, 10, twins=False))],
    }  # fmt: skip
    worst = 0.0
    for name, ((label1, small), (label4, large)) in cases.items():
        t1 = best_of(args.repeat, lambda e=small: publish_once(e))  # type: ignore[misc]
        t4 = best_of(args.repeat, lambda e=large: publish_once(e))  # type: ignore[misc]
        chars1 = sum(len(e.data.title) for e in small) // len(small)
        chars4 = sum(len(e.data.title) for e in large) // len(large)
        print(f"{name}: {label1}: {t1 * 1000:8.1f} ms CPU  ({len(small)} entries, titles ~{chars1} chars)")
        print(f"{name}: {label4}: {t4 * 1000:8.1f} ms CPU  ({len(large)} entries, titles ~{chars4} chars)")
        print(f"{name}: ratio 4x/1x = {t4 / t1:.2f} (linear 4.0; goal <= 6.0)")
        worst = max(worst, t4 / t1)
    return 0 if worst <= 6.0 else 1


if __name__ == "__main__":
    sys.exit(main())
