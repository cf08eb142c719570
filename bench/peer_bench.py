"""Peer benchmark: republisher against reader (lemon24/reader 3.x) on the same local feeds.

What it measures, as whole processes timed by wall clock from this script:
  cold            every feed new: republisher `poll` on a fresh state dir; reader
                  `add_feed` for every URL then `update_feeds(workers=8)` on a fresh db
  warm            every server answers 304: republisher `poll --force` and reader
                  `update_feeds` again, on state populated by a cold poll with validators
  no validators   the server sends no ETag/Last-Modified, so every poll downloads the
                  unchanged body: same commands, on state populated (untimed) by a cold poll
                  that already got no validators

How:
  1. Generates into a temp dir, deterministically (seeded random), N feeds of M items,
     RSS 2.0 and Atom 1.0 alternating (title, link, guid/id, dates, one or two paragraphs
     of HTML, categories), and R rule files of five two-word phrases each. Every item
     carries 2 to 6 (4 on average) of those phrases, in its title and description, and
     nothing else from their vocabulary, so an average item lands in about four feeds.
  2. Serves the feeds from 127.0.0.1 with a threaded http.server in this process (keep-alive,
     TCP_NODELAY as production servers set it): ETag and
     Last-Modified, 304 on If-None-Match / If-Modified-Since; a switch turns validators off.
  3. Installs reader into a benchmark-only venv (~/.cache/republisher-bench/reader-venv,
     created on first run); it is never a dependency of the project.
  4. After an untimed cold run of each (bytecode and file caches; both processes run with
     bytecode cached under ~/.cache/republisher-bench/pycache, as a deployed install has it,
     even where PYTHONDONTWRITEBYTECODE is set), runs republisher (A) and reader (B)
     alternately, A B A B, for --rounds rounds and reports the median of each, with the
     ratio republisher / reader against the goals.

A republisher run counts only if it exits 0, the server answered every feed as the cycle
says (all 200, or all 304), and a cold poll wrote one .atom file per rule; otherwise it is
retried a minute later (the package may be mid-restructure). reader's db is checked to hold
every item after a cold run.

republisher is only run through its CLI (never imported), so this script does not depend
on the package's internals. reader's `update_feeds` is called with `scheduled=False`: since
3.13 it otherwise skips feeds not yet due (1 hour), which would make the warm cycle a no-op;
that is the counterpart of republisher's `--force`.

Run:  python3 bench/peer_bench.py [--feeds 200] [--items 50] [--rules 300] [--rounds 3]
Stdlib only; needs network access to PyPI on the first run (pip install reader).
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar
from xml.sax.saxutils import escape, quoteattr

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
# What pip resolved for reader==3.* when this was written. reader vendors a feedparser that
# imports `sgmllib`, which the feedparser on this index no longer pulls in: sgmllib3k gives it.
READER_SPEC = ["reader==3.26", "sgmllib3k==1.0.0"]
CACHE = Path.home() / ".cache" / "republisher-bench"
READER_VENV = CACHE / "reader-venv"
PYCACHE = CACHE / "pycache"  # bytecode of both contenders, kept out of the source tree
SEED = 20261202
WORKERS = 8
GOALS = {"cold": 0.40, "warm": 0.50, "no validators": 0.10}
CLI_RETRIES = 5  # the CLI may be briefly broken while someone restructures the package
CLI_RETRY_WAIT = 60.0


def words(text: str) -> list[str]:
    return text.split()


# Rule phrases are pairs of TOPIC_WORDS; the rest of the text is FILLER_WORDS, so a phrase
# appears in an item only where it was put on purpose.
TOPIC_WORDS = words(
    """
    aquifer ballot bandwidth battery biodiversity border budget cabinet carbon census
    chipmaker coalition coastline commodity copper court crop currency cyber dairy
    deficit delta drought election embargo emissions enzyme estuary euro fertiliser
    fishery forestry freight frontier gallery genome glacier grain graphite harbour
    heatwave hospital housing hydrogen inflation insurance irrigation judiciary lithium
    livestock malaria mangrove maritime migration militia mining monsoon mortgage museum
    nickel nuclear orchestra outbreak parliament pension pharmacy pipeline plankton
    plateau pollution port poverty protein quarry railway rainfall referendum refinery
    reservoir rice satellite semiconductor senate shipping smelter soil solar sovereign
    spectrum steel subsidy subway sugar tariff telescope tenancy textile timber tourism
    trawler treasury tribunal tuition turbine typhoon uranium vaccine vineyard volcano
    wage warehouse watershed wetland wheat wildfire wind yield zinc
"""
)

FILLER_WORDS = words(
    """
    the a of and to in on for with as by from at about after before over under between
    while when where which that this these those their its our new old early late many
    few more most some several other another each every such only also still already
    again often rarely now then today yesterday report reports said says told say
    officials people group groups plan plans week weeks month months year years region
    city town country countries company companies sector local national regional global
    public private recent major minor growing falling rising steady sharp slow quick
    agreed rejected announced expected warned argued noted showed found raised cut
    expanded reduced delayed approved questioned reviewed debated continued began ended
    latest first second third final long short record level levels figures data change
    changes issue issues question questions decision decisions talks deal deals move
    step steps effort efforts concern concerns pressure demand supply costs prices
"""
)

CATEGORIES = ["World", "Business", "Science", "Environment", "Politics", "Technology", "Health", "Culture"]


@dataclass
class Corpus:
    """The generated feeds (bodies served) and rules (phrases per rule)."""

    feeds: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (body, content type)
    rules: list[list[str]] = field(default_factory=list)
    items: int = 0
    rule_hits: int = 0  # sum over items of the number of rules whose phrase it carries


# ---------------------------------------------------------------------------------------
# 1. Generating feeds and rules
# ---------------------------------------------------------------------------------------


def make_rule_phrases(rng: random.Random, rules: int, per_rule: int = 5) -> list[list[str]]:
    """Distinct two-word phrases from TOPIC_WORDS, `per_rule` for each rule."""
    assert not set(TOPIC_WORDS) & set(FILLER_WORDS), "topic and filler words must not overlap"
    assert not {c.lower() for c in CATEGORIES} & set(TOPIC_WORDS)
    pairs = [(a, b) for a in TOPIC_WORDS for b in TOPIC_WORDS if a != b]
    chosen = rng.sample(pairs, rules * per_rule)
    phrases = [f"{a} {b}" for a, b in chosen]
    return [phrases[i * per_rule : (i + 1) * per_rule] for i in range(rules)]


def filler_sentence(rng: random.Random, phrases: list[str], low: int = 8, high: int = 16) -> str:
    """`low` to `high` filler words with each phrase put between two of them."""
    words = rng.choices(FILLER_WORDS, k=rng.randint(low, high))
    for phrase in phrases:
        words.insert(rng.randint(1, len(words) - 1), phrase)
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def make_item(
    rng: random.Random, feed_no: int, item_no: int, pool: list[tuple[str, int]], when: datetime
) -> dict:
    """One item: a title with one phrase, one or two HTML paragraphs with the others."""
    picked = rng.sample(pool, rng.randint(2, 6))
    phrases = [phrase for phrase, _ in picked]
    title = filler_sentence(rng, phrases[:1], 5, 10).rstrip(".")
    sentences = [filler_sentence(rng, []) for _ in range(rng.randint(3, 7))]
    for phrase in phrases[1:]:  # each into a random sentence, as a clause of its own
        k = rng.randrange(len(sentences))
        sentences[k] = sentences[k][:-1] + ", " + filler_sentence(rng, [phrase], 4, 8).lower()
    split = (
        rng.randint(2, len(sentences) - 1) if len(sentences) > 3 and rng.random() < 0.6 else len(sentences)
    )
    host = f"news{feed_no:03d}.example.org"
    link = f"https://{host}/{when:%Y/%m/%d}/story-{feed_no:03d}-{item_no:03d}"
    first = " ".join(sentences[:split])
    first = first.replace(". ", f'. <a href="https://{host}/topics/{item_no % 7}">More</a> ', 1)
    html = f"<p>{first}</p>"
    if split < len(sentences):
        html += f"<p><em>{' '.join(sentences[split:])}</em></p>"
    return {
        "title": title,
        "link": link,
        "id": f"tag:{host},2026:story-{item_no}",
        "when": when,
        "html": html,
        "categories": rng.sample(CATEGORIES, rng.randint(1, 3)),
        "author": f"Reporter {rng.randint(1, 40)}",
        "rules": {rule for _, rule in picked},
    }


def render_rss(feed_no: int, items: list[dict]) -> bytes:
    host = f"news{feed_no:03d}.example.org"
    parts = []
    for it in items:
        cats = "".join(f"<category>{escape(c)}</category>" for c in it["categories"])
        parts.append(
            f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
            f'<guid isPermaLink="true">{escape(it["link"])}</guid>'
            f"<pubDate>{email.utils.format_datetime(it['when'], usegmt=True)}</pubDate>"
            f"<dc:creator>{escape(it['author'])}</dc:creator>{cats}"
            f"<description>{escape(it['html'])}</description></item>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>\n'
        f"<title>Source {feed_no:03d}</title><link>https://{host}/</link>"
        f"<description>News from source {feed_no:03d}</description><language>en</language>\n"
        f"{''.join(parts)}</channel></rss>\n"
    ).encode()


def render_atom(feed_no: int, items: list[dict], url: str) -> bytes:
    host = f"news{feed_no:03d}.example.org"
    parts = []
    for it in items:
        stamp = it["when"].isoformat().replace("+00:00", "Z")
        cats = "".join(f"<category term={quoteattr(c)}/>" for c in it["categories"])
        parts.append(
            f"<entry><title>{escape(it['title'])}</title><id>{escape(it['id'])}</id>"
            f'<link rel="alternate" href={quoteattr(it["link"])}/>'
            f"<published>{stamp}</published><updated>{stamp}</updated>"
            f"<author><name>{escape(it['author'])}</name></author>{cats}"
            f'<summary type="html">{escape(it["html"])}</summary></entry>\n'
        )
    updated = items[0]["when"].isoformat().replace("+00:00", "Z")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<title>Source {feed_no:03d}</title><id>tag:{host},2026:feed</id><updated>{updated}</updated>"
        f'<link rel="alternate" href="https://{host}/"/><link rel="self" href={quoteattr(url)}/>\n'
        f"{''.join(parts)}</feed>\n"
    ).encode()


def generate_corpus(feeds: int, items: int, rules: int, url_for) -> Corpus:
    rng = random.Random(SEED)
    corpus = Corpus(rules=make_rule_phrases(rng, rules))
    pool = [(phrase, r) for r, phrases in enumerate(corpus.rules) for phrase in phrases]
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    for n in range(1, feeds + 1):
        batch = [
            make_item(rng, n, i, pool, start - timedelta(minutes=37 * (n * items + i))) for i in range(items)
        ]
        corpus.items += len(batch)
        corpus.rule_hits += sum(len(it["rules"]) for it in batch)
        path = f"/feed-{n:03d}.xml"
        if n % 2:
            corpus.feeds[path] = (render_rss(n, batch), "application/rss+xml")
        else:
            corpus.feeds[path] = (render_atom(n, batch, url_for(path)), "application/atom+xml")
    return corpus


def write_rules(rules_dir: Path, rules: list[list[str]]) -> None:
    rules_dir.mkdir(parents=True)
    for r, phrases in enumerate(rules, 1):
        slug = f"topic-{r:03d}-{phrases[0].replace(' ', '-')}"
        listed = ", ".join(json.dumps(p) for p in phrases)
        (rules_dir / f"{slug}.toml").write_text(
            f'title = "Topic {r:03d}: {phrases[0].title()}"\n'
            f'subtitle = "Items about {", ".join(phrases)}"\n\n'
            f"[match]\nany = [{listed}]\n",
            encoding="utf-8",
        )


def write_config(folder: Path, rules_dir: Path, port: int, feeds: int) -> Path:
    """A republisher config whose state and output live in `folder`."""
    folder.mkdir(parents=True)
    sources = "".join(
        f'\n[[sources]]\nname = "feed-{n:03d}"\nurl = "http://127.0.0.1:{port}/feed-{n:03d}.xml"\n'
        for n in range(1, feeds + 1)
    )
    config = folder / "config.toml"
    config.write_text(
        f'base_url = "http://127.0.0.1:8080/"\noutput_dir = "public"\nstate_dir = "state"\n'
        f"rules_dir = {json.dumps(str(rules_dir))}\nmax_entries = 50\n\n"
        f'[poll]\ninterval = "30m"\ntimeout = "30s"\nmax_bytes = 10_000_000\nworkers = {WORKERS}\n'
        f"{sources}",
        encoding="utf-8",
    )
    return config


# ---------------------------------------------------------------------------------------
# 2. Serving the feeds
# ---------------------------------------------------------------------------------------

LAST_MODIFIED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class FeedServer(ThreadingHTTPServer):
    """Serves Corpus.feeds; `validators` switches ETag/Last-Modified (and so 304s) on/off."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, feeds: dict[str, tuple[bytes, str]]):
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.feeds = {
            path: (body, ctype, '"' + hashlib.sha1(body).hexdigest()[:20] + '"')
            for path, (body, ctype) in feeds.items()
        }
        self.validators = True
        self.counts = {200: 0, 304: 0, 404: 0}
        self.lock = threading.Lock()

    def count(self, status: int) -> None:
        with self.lock:
            self.counts[status] += 1

    def take_counts(self) -> dict[int, int]:
        with self.lock:
            counts, self.counts = self.counts, {200: 0, 304: 0, 404: 0}
        return counts


class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real servers set it (nginx's tcp_nodelay is on by default): without it
    # every keep-alive response after the first waits ~40 ms for the client's delayed ACK
    # (headers and body are written separately), the same for both contenders.
    disable_nagle_algorithm = True
    server: FeedServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def not_modified(self, etag: str) -> bool:
        match = self.headers.get("If-None-Match")
        if match is not None:
            return etag in [m.strip().removeprefix("W/") for m in match.split(",")] or match.strip() == "*"
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return email.utils.parsedate_to_datetime(since) >= LAST_MODIFIED
            except (TypeError, ValueError):
                return False
        return False

    def do_GET(self) -> None:
        entry = self.server.feeds.get(self.path.split("?")[0])
        if entry is None:
            self.server.count(404)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, ctype, etag = entry
        validators = self.server.validators
        if validators and self.not_modified(etag):
            self.server.count(304)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.server.count(200)
        self.send_response(200)
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.format_datetime(LAST_MODIFIED, usegmt=True))
        self.end_headers()
        self.wfile.write(body)


# ---------------------------------------------------------------------------------------
# 3. The two contenders
# ---------------------------------------------------------------------------------------

READER_SCRIPT = '''\
"""Run by the peer benchmark with reader's venv: add | update | count."""
import json
import sys

from reader import make_reader

db, urls_file, action = sys.argv[1:4]
reader = make_reader(db)
if action == "add":
    for url in open(urls_file, encoding="utf-8").read().split():
        reader.add_feed(url)
if action in ("add", "update"):
    # scheduled=False: update every feed now, as republisher's `poll --force` does.
    reader.update_feeds(workers=WORKERS, scheduled=False)
if action == "count":
    print(json.dumps({
        "feeds": reader.get_feed_counts().total,
        "broken": reader.get_feed_counts(broken=True).total,
        "entries": reader.get_entry_counts().total,
    }))
reader.close()
'''.replace("WORKERS", str(WORKERS))


def ensure_reader_venv() -> Path:
    """reader in a venv of its own under ~/.cache, created on first use."""
    python = READER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import reader, sgmllib"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {READER_VENV} with {' '.join(READER_SPEC)} ...", flush=True)
    shutil.rmtree(READER_VENV, ignore_errors=True)
    READER_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(READER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *READER_SPEC], check=True)
    return python


def find_republisher() -> str:
    local = REPO / ".venv" / "bin" / "republisher"
    found = str(local) if local.exists() else shutil.which("republisher")
    if not found:
        sys.exit("republisher not found: install the project (.venv/bin/republisher) first")
    return found


def clean_env() -> dict[str, str]:
    """No proxies; bytecode cached (as in a deployed install) even where the shell says not to."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(key, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def run_timed(cmd: list[str], label: str) -> float | None:
    """Wall-clock seconds of one process, or None (after printing why) if it failed."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    elapsed = time.perf_counter() - start
    if proc.returncode == 0:
        return elapsed
    print(f"  {label}: exit {proc.returncode}", flush=True)
    print("  " + (proc.stderr or proc.stdout).strip()[-1500:].replace("\n", "\n  "), flush=True)
    return None


def with_retries(label: str, attempt: Callable[[], T | None], tries: int = CLI_RETRIES) -> T:
    """attempt() until it gives a result; a minute apart, as the CLI may be mid-restructure."""
    for n in range(1, tries + 1):
        result = attempt()
        if result is not None:
            return result
        if n < tries:
            print(f"  {label}: attempt {n}/{tries} failed, retrying in {CLI_RETRY_WAIT:.0f} s", flush=True)
            time.sleep(CLI_RETRY_WAIT)
    sys.exit(f"{label} failed {tries} times")


class Republisher:
    """republisher runs, each in a folder of its own (config, state, output).

    A run counts only if it exits 0 and the server saw every feed answered as the cycle
    says (and, for a cold poll, one .atom file per rule was written); otherwise it is
    retried a minute later, since the package may be mid-restructure.
    """

    def __init__(self, exe: str, root: Path, rules_dir: Path, server: FeedServer, feeds: int, rules: int):
        self.exe, self.root, self.rules_dir, self.server = exe, root, rules_dir, server
        self.feeds, self.rules = feeds, rules
        self.runs = 0

    def fresh_config(self) -> Path:
        self.runs += 1
        port = self.server.server_address[1]
        return write_config(self.root / f"republisher-{self.runs:02d}", self.rules_dir, port, self.feeds)

    def served_all(self, status: int, label: str) -> bool:
        counts = self.server.take_counts()
        if counts[status] == self.feeds:
            return True
        print(f"  {label}: server answered {counts}, expected {self.feeds} x {status}", flush=True)
        return False

    def cold(self) -> tuple[float, Path]:
        """`poll` on a fresh state dir; returns the seconds and the config (for later polls)."""

        def attempt() -> tuple[float, Path] | None:
            config = self.fresh_config()
            self.server.take_counts()
            seconds = run_timed([self.exe, "--config", str(config), "poll"], "republisher poll")
            if seconds is None or not self.served_all(200, "republisher poll"):
                return None
            atoms = len(list((config.parent / "public").glob("*.atom")))
            if atoms != self.rules:
                print(f"  republisher poll: wrote {atoms} .atom files, expected {self.rules}", flush=True)
                return None
            return seconds, config

        return with_retries("republisher poll", attempt)

    def force(self, config: Path, status: int) -> float:
        """`poll --force` on populated state; every feed should be answered with `status`."""
        cmd = [self.exe, "--config", str(config), "poll", "--force"]

        def attempt() -> float | None:
            self.server.take_counts()
            seconds = run_timed(cmd, "republisher poll --force")
            ok = seconds is not None and self.served_all(status, "republisher poll --force")
            return seconds if ok else None

        return with_retries("republisher poll --force", attempt)


class Reader:
    """reader runs: a fresh process per update, a fresh db per cold run."""

    def __init__(self, python: Path, root: Path, urls: list[str], server: FeedServer):
        self.python, self.root, self.server = python, root, server
        self.script = root / "reader_update.py"
        self.script.write_text(READER_SCRIPT, encoding="utf-8")
        self.urls = root / "urls.txt"
        self.urls.write_text("\n".join(urls) + "\n", encoding="utf-8")
        self.feeds = len(urls)
        self.runs = 0

    def run(self, db: Path, action: str, status: int) -> float:
        cmd = [str(self.python), str(self.script), str(db), str(self.urls), action]
        self.server.take_counts()
        seconds = with_retries(f"reader {action}", lambda: run_timed(cmd, f"reader {action}"), tries=1)
        counts = self.server.take_counts()
        if counts[status] != self.feeds:
            print(f"  warning: reader {action}: server answered {counts}, expected {self.feeds} x {status}")
        return seconds

    def cold(self) -> tuple[float, Path]:
        self.runs += 1
        db = self.root / f"reader-{self.runs:02d}.sqlite"
        return self.run(db, "add", 200), db

    def update(self, db: Path, status: int) -> float:
        return self.run(db, "update", status)

    def counts(self, db: Path) -> dict[str, int]:
        cmd = [str(self.python), str(self.script), str(db), str(self.urls), "count"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=clean_env())
        return json.loads(out.stdout)


# ---------------------------------------------------------------------------------------
# 4. Measuring and reporting
# ---------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, Python {platform.python_version()}"


def versions(republisher: str, reader_python: Path) -> str:
    rep = subprocess.run([republisher, "--version"], capture_output=True, text=True).stdout.strip()
    code = (
        "import reader, requests; from reader._vendor import feedparser; "
        "print(reader.__version__, feedparser.__version__, requests.__version__)"
    )
    out = subprocess.run([str(reader_python), "-c", code], capture_output=True, text=True).stdout.split()
    rdr, fp, rq = out if len(out) == 3 else ("?", "?", "?")
    return f"{rep or 'republisher'}; reader {rdr} (its vendored feedparser {fp}, requests {rq})"


def print_table(results: dict[str, dict[str, list[float]]]) -> None:
    print("\n| cycle | reader s | republisher s | ratio (republisher / reader) | goal | met? |")
    print("|---|---|---|---|---|---|")
    for cycle, goal in GOALS.items():
        rdr = statistics.median(results[cycle]["reader"])
        rep = statistics.median(results[cycle]["republisher"])
        ratio = rep / rdr
        print(
            f"| {cycle} | {rdr:.2f} | {rep:.2f} | {ratio:.2f} | ≤ {goal:.2f} | {'yes' if ratio <= goal else 'no'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--rules", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    republisher_exe = find_republisher()
    reader_python = ensure_reader_venv()
    root = Path(tempfile.mkdtemp(prefix="peer-bench-"))
    server = FeedServer({})
    port = server.server_address[1]
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    try:
        url_for = lambda path: f"http://127.0.0.1:{port}{path}"  # noqa: E731
        corpus = generate_corpus(args.feeds, args.items, args.rules, url_for)
        server.feeds = FeedServer(corpus.feeds).feeds
        rules_dir = root / "rules"
        write_rules(rules_dir, corpus.rules)
        feed_dir = root / "feeds"  # a copy on disk, for inspection with --keep
        feed_dir.mkdir()
        for path, (body, _) in corpus.feeds.items():
            (feed_dir / path.lstrip("/")).write_bytes(body)
        megabytes = sum(len(b) for b, _ in corpus.feeds.values()) / 1e6
        serving.start()

        print(f"machine: {machine()}")
        print(
            f"corpus: {args.feeds} feeds x {args.items} items ({megabytes:.1f} MB), {args.rules} rules; "
            f"an item carries phrases of {corpus.rule_hits / corpus.items:.2f} rules on average; in {root}",
            flush=True,
        )
        rep = Republisher(republisher_exe, root, rules_dir, server, args.feeds, args.rules)
        rdr = Reader(reader_python, root, [url_for(p) for p in corpus.feeds], server)
        results: dict[str, dict[str, list[float]]] = {
            cycle: {"republisher": [], "reader": []} for cycle in GOALS
        }

        loads: list[float] = []  # 1-minute load average after each timed run: others' work shows

        def record(cycle: str, name: str, seconds: float) -> None:
            results[cycle][name].append(seconds)
            loads.append(os.getloadavg()[0])
            print(f"  {cycle:14} {name:12} {seconds:7.2f} s   (load {loads[-1]:.2f})", flush=True)

        server.validators = True
        print("warm-up (untimed): one cold run of each, to fill the bytecode and file caches", flush=True)
        _, rep_config = rep.cold()
        atoms = len(list((rep_config.parent / "public").glob("*.atom")))
        print(f"  check: republisher wrote {atoms} .atom files (expected {args.rules})", flush=True)
        _, reader_db = rdr.cold()
        counts = rdr.counts(reader_db)
        print(
            f"  check: reader holds {counts['entries']} entries of {counts['feeds']} feeds, "
            f"{counts['broken']} broken (expected {corpus.items})",
            flush=True,
        )

        print(f"versions: {versions(republisher_exe, reader_python)}", flush=True)

        # cold and warm: validators on; each warm run uses the state its round's cold run made
        for r in range(1, args.rounds + 1):
            print(f"round {r} (validators on)", flush=True)
            seconds, rep_config = rep.cold()
            record("cold", "republisher", seconds)
            seconds, reader_db = rdr.cold()
            record("cold", "reader", seconds)
            record("warm", "republisher", rep.force(rep_config, 304))
            record("warm", "reader", rdr.update(reader_db, 304))

        # no validators: state populated (untimed) by a cold run that got no validators either
        server.validators = False
        print("populating state without validators (untimed)", flush=True)
        _, rep_config = rep.cold()
        _, reader_db = rdr.cold()
        for r in range(1, args.rounds + 1):
            print(f"round {r} (no validators)", flush=True)
            record("no validators", "republisher", rep.force(rep_config, 200))
            record("no validators", "reader", rdr.update(reader_db, 200))

        print(f"\nmachine: {machine()}")
        print(f"command: python3 bench/peer_bench.py {' '.join(sys.argv[1:])}".rstrip())
        print(f"load average (1 min) after the timed runs: {min(loads):.2f} to {max(loads):.2f}")
        print(f"medians of {args.rounds} rounds, wall clock of whole processes:")
        print_table(results)
        print("\nall runs (seconds):")
        for cycle, by_name in results.items():
            for name, runs in by_name.items():
                print(f"  {cycle:14} {name:12} " + " ".join(f"{s:.2f}" for s in runs))
    finally:
        if serving.is_alive():
            server.shutdown()
        server.server_close()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
