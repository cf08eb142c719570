"""Per-feed precision, recall and F1 of a rule set on a labelled set of articles.

Used by tests/test_heldout.py and runnable as a script from the repository root:

    .venv/bin/python tests/heldout_eval.py [rules_dir] [articles.toml ...] [--misses]

Each article (title, summary, feeds) is routed as an entry of one source with
`match.judge_all`, exactly as a polled item would be.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from republisher.models import EntryData
from republisher.routing.match import Item, judge_all
from republisher.routing.rules import Rule, load_rules
from republisher.sources.parse import parse_feed

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
ARTICLES = DATA / "heldout-articles.toml"
LABELS = DATA / "heldout-labels.toml"
SEED = REPO / "samples" / "guardian-uighurs.xml"  # the seed feed, whole summaries and content
SEED_LABELS = DATA / "guardian-uighurs-labels.toml"
TOPICS = ("forced-labour", "surveillance", "diplomacy")


@dataclass(frozen=True)
class Article:
    title: str
    summary: str
    feeds: frozenset[str]
    outlet: str = ""


@dataclass(frozen=True)
class Outcome:
    article: Article
    routed: frozenset[str]


@dataclass(frozen=True)
class Score:
    slug: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_articles(path: Path) -> list[Article]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))["article"]
    return [
        Article(a["title"], a.get("summary", ""), frozenset(a["feeds"]), a.get("outlet", "")) for a in raw
    ]


def route(rules: list[Rule], article: Article) -> frozenset[str]:
    entry = EntryData(
        guid=None, title=article.title, link=None, summary=article.summary, content=None, author=None
    )
    item = Item.from_entry(entry, "guardian-uighurs")
    return frozenset(v.slug for v in judge_all(rules, item) if v.routed)


def evaluate(rules: list[Rule], articles: list[Article]) -> list[Outcome]:
    return [Outcome(a, route(rules, a)) for a in articles]


def evaluate_seed(rules: list[Rule]) -> list[Outcome]:
    """The seed feed parsed as a poll would parse it, routed with its full text."""
    labels = {a.title: a.feeds for a in load_articles(SEED_LABELS)}
    feed = parse_feed(SEED.read_bytes(), "https://www.theguardian.com/world/uighurs/rss")
    outcomes = []
    for entry in feed.entries:
        routed = frozenset(
            v.slug for v in judge_all(rules, Item.from_entry(entry, "guardian-uighurs")) if v.routed
        )
        outcomes.append(Outcome(Article(entry.title, entry.summary or "", labels[entry.title]), routed))
    return outcomes


def scores(outcomes: list[Outcome], topics: tuple[str, ...] = TOPICS) -> list[Score]:
    result = []
    for slug in topics:
        tp = sum(1 for o in outcomes if slug in o.routed and slug in o.article.feeds)
        fp = sum(1 for o in outcomes if slug in o.routed and slug not in o.article.feeds)
        fn = sum(1 for o in outcomes if slug not in o.routed and slug in o.article.feeds)
        result.append(Score(slug, tp, fp, fn))
    return result


def macro_f1(found: list[Score]) -> float:
    return sum(s.f1 for s in found) / len(found)


def table(found: list[Score], name: str = "") -> str:
    lines = [f"{name}", f"{'feed':<15} {'P':>5} {'R':>5} {'F1':>5}   tp fp fn"]
    for s in found:
        lines.append(
            f"{s.slug:<15} {s.precision:5.2f} {s.recall:5.2f} {s.f1:5.2f}  {s.tp:3} {s.fp:2} {s.fn:2}"
        )
    lines.append(f"{'macro-F1':<15} {'':>5} {'':>5} {macro_f1(found):5.2f}")
    return "\n".join(lines)


def errors(outcomes: list[Outcome]) -> list[str]:
    """One line per wrong routing: missed (-) or wrongly taken (+) feeds, with the title."""
    lines = []
    for o in outcomes:
        missed = sorted(o.article.feeds - o.routed)
        extra = sorted(o.routed - o.article.feeds)
        if missed or extra:
            marks = " ".join([f"-{s}" for s in missed] + [f"+{s}" for s in extra])
            lines.append(f"{marks}: {o.article.title}")
    return lines


def main(argv: list[str]) -> int:
    show = "--misses" in argv
    args = [a for a in argv if a != "--misses"]
    rules_dir = Path(args[0]) if args else REPO / "rules"
    sets = [Path(a) for a in args[1:]] or [ARTICLES, LABELS]
    rules = list(load_rules(rules_dir).rules)
    for path in sets:
        outcomes = evaluate(rules, load_articles(path))
        print(table(scores(outcomes), f"{path.name} ({len(outcomes)} articles)"))
        if show:
            print("\n".join(errors(outcomes)))
        print()
    if not args[1:]:
        outcomes = evaluate_seed(rules)
        print(table(scores(outcomes), f"{SEED.name} ({len(outcomes)} entries, full text)"))
        if show:
            print("\n".join(errors(outcomes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
