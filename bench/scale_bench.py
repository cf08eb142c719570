"""Scale on this machine: whole cycles at many sources, peak memory, and the cost of
publishing one changed feed from a large store.

What it measures:
  cycles   for each --sources N (200, 1,000, 5,000 by default): N local feeds of 50 items,
           RSS 2.0 and Atom 1.0 alternating, and 300 rule files, generated and served on
           127.0.0.1 exactly as bench/peer_bench.py does (its generators and server are
           imported). `cold` is `republisher --config X poll` on a fresh state dir; `warm`
           is `poll --force` on that state right after, every server answering 304 (the
           median of --warm-rounds). Wall clock of the whole process, plus peak memory:
           the parent's from `/usr/bin/time -v` ("Maximum resident set size"), and each
           descendant's (the parse workers) from the VmHWM in /proc/<pid>/status,
           sampled by a thread every 0.1 s while it runs. "total" (the goal's figure)
           sums those per-process peaks, as if all peaked at once; "at once" is the
           largest sum over the tree at one sample, as RSS and as PSS (smaps_rollup:
           shared pages divided among the processes sharing them). Also CPU seconds (user + system of the parent and its waited-for workers, from
           `time -v`), which, unlike wall clock, hardly moves when others load the machine.
  publish  for each --store N (100,000 and 1,000,000 by default): a store built with the
           Store API (batches of 10,000 entries in one transaction each) from 1,000
           sources, each entry routed to 1 to 4 of the 300 rules' feeds; one full publish
           (untimed for the goal, reported); then, --publish-rounds times, one new entry
           routed to one feed is stored and `publisher.publish(store, config, rules, now)`
           is timed: what a poll pays to publish one changed feed.

Every figure is printed with the 1-minute load average when it was taken: the machine may
be shared. A cycle counts only if it exits 0, the server answered every feed as the cycle
says (all 200, or all 304), and a cold poll wrote one .atom file per rule.

Run:  python3 bench/scale_bench.py [--sources 200,1000,5000] [--store 100000,1000000]
      (--sources "" or --store "" skips that part). Stdlib and republisher only; the
      stores go under /tmp and are removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_bench  # the generators and the feed server

RULES = 300
ITEMS = 50
STORE_SOURCES = 1000
BATCH = 10_000
TIME = "/usr/bin/time"


def load() -> float:
    return os.getloadavg()[0]


# ---------------------------------------------------------------------------------------
# Peak memory of a process tree
# ---------------------------------------------------------------------------------------


def _ppids() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc/<pid>/stat)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name (field 2) is in parentheses and may hold spaces
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _hwm_kb(pid: int) -> tuple[int, str, int, int] | None:
    """(VmHWM in kB, command line, VmRSS in kB, Pss in kB) of a live process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    pss = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
    if not (hwm and rss and pss):
        return None
    return int(hwm.group(1)), cmdline.strip(), int(rss.group(1)), int(pss.group(1))


class TreePeaks(threading.Thread):
    """Samples the peak RSS of every descendant of `root` until stopped. The parent is
    root's child (root is /usr/bin/time); its descendants are the workers.

    Besides each process's own peak (VmHWM, exact), it keeps the largest sum over the tree
    of what was resident at one sampling moment, as RSS and as PSS (shared pages, such as
    the interpreter's and libraries' code, divided among the processes sharing them): the
    memory the tree held at once. Sampled every `interval`, so a shorter spike can be missed."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.parent: int | None = None
        self.peaks: dict[int, tuple[int, str]] = {}  # pid -> (peak kB, command line)
        self.together_rss_kb = 0  # largest sum of VmRSS over the tree at one moment
        self.together_pss_kb = 0  # the same for Pss
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            parents = _ppids()
            children: dict[int, list[int]] = {}
            for pid, ppid in parents.items():
                children.setdefault(ppid, []).append(pid)
            if self.parent is None and children.get(self.root):
                self.parent = children[self.root][0]
            stack = list(children.get(self.parent, [])) if self.parent else []
            if self.parent:
                stack.append(self.parent)
            rss = pss = 0
            while stack:
                pid = stack.pop()
                if pid != self.parent:
                    stack.extend(children.get(pid, []))
                sample = _hwm_kb(pid)
                if sample is None:
                    continue
                rss, pss = rss + sample[2], pss + sample[3]
                if sample[0] >= self.peaks.get(pid, (0, ""))[0]:
                    self.peaks[pid] = sample[:2]
            self.together_rss_kb = max(self.together_rss_kb, rss)
            self.together_pss_kb = max(self.together_pss_kb, pss)
            self.done.wait(self.interval)

    def workers(self) -> list[tuple[int, str]]:
        return [peak for pid, peak in self.peaks.items() if pid != self.parent]


# ---------------------------------------------------------------------------------------
# Whole cycles through the CLI
# ---------------------------------------------------------------------------------------


@dataclass
class Cycle:
    seconds: float
    parent_mb: float  # /usr/bin/time -v
    parent_sampled_mb: float  # VmHWM sampled (a cross-check)
    workers_mb: list[float] = field(default_factory=list)
    load: float = 0.0
    cpu_s: float = 0.0  # user + system, the parent and every worker (/usr/bin/time -v)
    together_rss_mb: float = 0.0  # the most the tree held at one moment (sampled), RSS
    together_pss_mb: float = 0.0  # the same, PSS

    @property
    def total_mb(self) -> float:
        """The goal's figure: each process's own peak, summed (as if they all peaked at once)."""
        return self.parent_mb + sum(self.workers_mb)


def run_cycle(exe: str, config: Path, force: bool) -> Cycle | None:
    cmd = [TIME, "-v", exe, "--config", str(config), "poll", *(["--force"] if force else [])]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=peer_bench.clean_env()
    )
    sampler = TreePeaks(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        print(f"  exit {proc.returncode}: {(err or out).strip()[-1500:]}", flush=True)
        return None
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    parent_kb = int(match.group(1)) if match else 0
    cpu_s = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", err))
    sampled = sampler.peaks.get(sampler.parent or -1, (0, ""))[0]
    workers = [kb / 1024 for kb, _ in sampler.workers()]
    return Cycle(
        seconds,
        parent_kb / 1024,
        sampled / 1024,
        workers,
        load(),
        cpu_s,
        sampler.together_rss_kb / 1024,
        sampler.together_pss_kb / 1024,
    )


def cycles(exe: str, sizes: list[int], warm_rounds: int, root: Path) -> list[tuple[str, int, Cycle]]:
    server = peer_bench.FeedServer({})
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url_for = lambda path: f"http://127.0.0.1:{port}{path}"  # noqa: E731
    results: list[tuple[str, int, Cycle]] = []
    rules_dir = root / "rules"
    try:
        for n, sources in enumerate(sizes):
            started = time.perf_counter()
            corpus = peer_bench.generate_corpus(sources, ITEMS, RULES, url_for)
            server.feeds = peer_bench.FeedServer(corpus.feeds).feeds
            if not rules_dir.exists():  # the rules do not depend on the number of feeds
                peer_bench.write_rules(rules_dir, corpus.rules)
            megabytes = sum(len(b) for b, _ in corpus.feeds.values()) / 1e6
            print(
                f"{sources} sources x {ITEMS} items ({megabytes:.0f} MB), {RULES} rules "
                f"(generated in {time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            if n == 0:  # untimed: bytecode and file caches, as a deployed install has them
                config = peer_bench.write_config(root / f"warmup-{sources}", rules_dir, port, sources)
                run_cycle(exe, config, force=False)
            config = peer_bench.write_config(root / f"state-{sources}", rules_dir, port, sources)
            server.take_counts()
            cold = run_cycle(exe, config, force=False)
            atoms = len(list((config.parent / "public").glob("*.atom")))
            counts = server.take_counts()
            if cold is None or counts[200] != sources or atoms != RULES:
                print(f"  cold poll not counted: served {counts}, wrote {atoms} .atom files", flush=True)
                continue
            show("cold", sources, cold)
            results.append(("cold", sources, cold))
            warms = []
            for _ in range(warm_rounds):
                warm = run_cycle(exe, config, force=True)
                counts = server.take_counts()
                if warm is None or counts[304] != sources:
                    print(f"  warm poll not counted: served {counts}", flush=True)
                    continue
                show("warm", sources, warm)
                warms.append(warm)
            if warms:
                results.append(("warm", sources, sorted(warms, key=lambda c: c.seconds)[len(warms) // 2]))
            shutil.rmtree(config.parent, ignore_errors=True)
    finally:
        server.shutdown()
        server.server_close()
    return results


def show(kind: str, sources: int, c: Cycle) -> None:
    print(
        f"  {kind:4} {c.seconds:7.2f} s (CPU {c.cpu_s:.1f} s)  parent {c.parent_mb:.0f} MB (sampled {c.parent_sampled_mb:.0f})"
        f"  workers {' + '.join(f'{w:.0f}' for w in c.workers_mb) or '-'} MB"
        f"  total {c.total_mb:.0f} MB  at once: RSS {c.together_rss_mb:.0f} MB, PSS {c.together_pss_mb:.0f} MB"
        f"  load {c.load:.2f}",
        flush=True,
    )


# ---------------------------------------------------------------------------------------
# Publishing one changed feed from a large store (Python API)
# ---------------------------------------------------------------------------------------

WORDS = peer_bench.TOPIC_WORDS + peer_bench.FILLER_WORDS


@dataclass
class PublishResult:
    entries: int
    build_s: float
    db_mb: float
    full_s: float
    one_ms: list[float]
    one_cpu_ms: list[float]  # CPU time of this process (every thread), robust to others' load
    written: list[str]
    loads: list[float]


def build_store(state_dir: Path, entries: int, slugs: list[str], now: datetime) -> float:
    """Entries of STORE_SOURCES sources, newest first by index, each routed to 1-4 feeds."""
    from republisher.models import Category, EntryData, SourceMeta, StoredEntry
    from republisher.store.store import EntryWrite, Store

    rng = random.Random(peer_bench.SEED)
    origins = [
        SourceMeta(
            title=f"Source {s:04d}",
            id=f"tag:news{s:04d}.example.org,2026:feed",
            self_url=f"http://127.0.0.1:9/feed-{s:04d}.xml",
            link=f"https://news{s:04d}.example.org/",
            updated=now,
        )
        for s in range(STORE_SOURCES)
    ]
    started = time.perf_counter()
    with Store.open(state_dir) as store:
        for low in range(0, entries, BATCH):
            writes = []
            for i in range(low, min(entries, low + BATCH)):
                s = i % STORE_SOURCES
                when = now - timedelta(seconds=30 * (i + 1))  # i = 0 is the newest
                text = " ".join(rng.choices(WORDS, k=60))
                data = EntryData(
                    guid=f"tag:news{s:04d}.example.org,2026:story-{i}",
                    title=" ".join(rng.choices(WORDS, k=9)).capitalize(),
                    link=f"https://news{s:04d}.example.org/story-{i}",
                    summary=f"<p>{text}.</p>",
                    content=None,
                    author=f"Reporter {i % 40}",
                    categories=(Category("World"), Category("Science")),
                    published=when,
                    updated=when,
                )
                entry = StoredEntry(
                    source=f"feed-{s:04d}",
                    key=data.guid or "",
                    atom_id=data.guid or "",
                    first_seen=when,
                    changed_at=when,
                    data=data,
                    origin=origins[s],
                )
                routes = tuple(rng.sample(slugs, rng.randint(1, 4)))
                writes.append(EntryWrite(entry, hashlib.sha256(str(i).encode()).hexdigest(), routes))
            with store.transaction():
                rejected = store.put_entries(writes)
                assert not rejected, rejected[:3]
            if (low // BATCH) % 20 == 19:
                print(f"  stored {low + BATCH:,} entries ({time.perf_counter() - started:.0f} s)", flush=True)
    return time.perf_counter() - started


def publish_one_feed(entries: int, rounds: int, root: Path) -> PublishResult:
    from republisher.config import load_config
    from republisher.models import Category, EntryData, SourceMeta, StoredEntry
    from republisher.publish import publisher
    from republisher.routing.rules import load_rules
    from republisher.store.store import EntryWrite, Store

    folder = root / f"store-{entries}"
    rules_dir = root / "store-rules"
    if not rules_dir.exists():
        rng = random.Random(peer_bench.SEED)
        peer_bench.write_rules(rules_dir, peer_bench.make_rule_phrases(rng, RULES))
    config_path = peer_bench.write_config(folder, rules_dir, 9, STORE_SOURCES)
    config = load_config(config_path)
    rules = load_rules(config.rules_dir, [s.name for s in config.sources])
    slugs = list(rules.slugs)
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"store of {entries:,} entries from {STORE_SOURCES} sources over {len(slugs)} feeds", flush=True)
    build_s = build_store(config.state_dir, entries, slugs, now)
    db = config.state_dir / "republisher.sqlite3"
    db_mb = sum(p.stat().st_size for p in config.state_dir.glob("republisher.sqlite3*")) / 1e6
    print(f"  built in {build_s:.0f} s ({entries / build_s:,.0f} entries/s), {db_mb:.0f} MB", flush=True)
    one_ms: list[float] = []
    one_cpu_ms: list[float] = []
    loads: list[float] = []
    written: list[str] = []
    with Store.open(config.state_dir) as store:
        with store.transaction():
            publisher.mark_unpublished(store)
        started = time.perf_counter()
        publisher.publish(store, config, rules, now)
        full_s = time.perf_counter() - started
        print(f"  full publish of {len(slugs)} feeds: {full_s:.2f} s (load {load():.2f})", flush=True)
        rng = random.Random(entries)
        origin = SourceMeta(
            "Source 0000", "tag:news0000.example.org,2026:feed", "http://127.0.0.1:9/", None, now
        )
        for r in range(rounds):
            now += timedelta(minutes=15)  # the next poll
            slug = rng.choice(slugs)
            data = EntryData(
                guid=f"tag:news0000.example.org,2026:changed-{r}",
                title=f"A changed story, round {r}",
                link=f"https://news0000.example.org/changed-{r}",
                summary="<p>" + " ".join(rng.choices(WORDS, k=60)) + ".</p>",
                content=None,
                author="Reporter 1",
                categories=(Category("World"),),
                published=now,
                updated=now,
            )
            entry = StoredEntry("feed-0000", data.guid or "", data.guid or "", now, now, data, origin)
            with store.transaction():  # what a poll's transaction for the one changed source does
                store.put_entries([EntryWrite(entry, f"changed-{r}", (slug,))])
                publisher.mark_unpublished(store)
            assert publisher.publish_due(store, config, rules)
            started, cpu = time.perf_counter(), time.process_time()
            written, _ = publisher.publish(store, config, rules, now)
            one_ms.append((time.perf_counter() - started) * 1000)
            one_cpu_ms.append((time.process_time() - cpu) * 1000)
            loads.append(load())
            print(
                f"  one changed feed: {one_ms[-1]:.1f} ms (CPU {one_cpu_ms[-1]:.1f} ms), wrote {written} (load {loads[-1]:.2f})",
                flush=True,
            )
    assert db.exists()
    return PublishResult(entries, build_s, db_mb, full_s, one_ms, one_cpu_ms, written, loads)


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def print_tables(runs: list[tuple[str, int, Cycle]], stores: list[PublishResult], command: str) -> None:
    print(f"\nmachine: {peer_bench.machine()}")
    print(f"command: {command}")
    if runs:
        print(
            "\n| cycle | sources | wall s | wall ms per source | CPU s (all processes) | CPU ms per source "
            "| parent peak MB | workers' peaks MB | total MB | at once, RSS MB | at once, PSS MB "
            "| load (1 min) |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for kind, sources, c in runs:
            workers = " + ".join(f"{w:.0f}" for w in c.workers_mb) or "–"
            print(
                f"| {kind} | {sources:,} | {c.seconds:.2f} | {1000 * c.seconds / sources:.1f} "
                f"| {c.cpu_s:.1f} | {1000 * c.cpu_s / sources:.1f} "
                f"| {c.parent_mb:.0f} | {workers} | **{c.total_mb:.0f}** | {c.together_rss_mb:.0f} "
                f"| {c.together_pss_mb:.0f} | {c.load:.2f} |"
            )
    if stores:
        print(
            "\n| store entries | build s | db MB | full publish, 300 feeds, s "
            "| publish one changed feed, ms (median; min–max) | CPU ms (median) | rounds | load (1 min) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for s in stores:
            print(
                f"| {s.entries:,} | {s.build_s:.0f} | {s.db_mb:.0f} | {s.full_s:.2f} "
                f"| **{statistics.median(s.one_ms):.1f}** ({min(s.one_ms):.1f}–{max(s.one_ms):.1f}) "
                f"| {statistics.median(s.one_cpu_ms):.1f} | {len(s.one_ms)} | {min(s.loads):.2f}–{max(s.loads):.2f} |"
            )


def sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", default="200,1000,5000", help="comma-separated; '' skips cycles")
    parser.add_argument("--store", default="100000,1000000", help="comma-separated; '' skips publish")
    parser.add_argument("--warm-rounds", type=int, default=3)
    parser.add_argument("--publish-rounds", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    try:
        import republisher  # noqa: F401
    except ImportError:  # run with the system python: use the project's venv
        venv = peer_bench.REPO / ".venv" / "bin" / "python"
        if not venv.exists():
            sys.exit("republisher is not importable: install the project (.venv) first")
        os.execv(str(venv), [str(venv), *sys.argv])
    if not Path(TIME).exists():
        sys.exit(f"{TIME} not found (apt-get install time)")
    exe = peer_bench.find_republisher()
    root = Path(tempfile.mkdtemp(prefix="scale-bench-", dir="/tmp"))
    command = f"python3 bench/scale_bench.py {shlex.join(sys.argv[1:])}".rstrip()
    print(f"machine: {peer_bench.machine()}; in {root}", flush=True)
    try:
        runs = cycles(exe, sizes(args.sources), args.warm_rounds, root) if sizes(args.sources) else []
        stores = [publish_one_feed(n, args.publish_rounds, root) for n in sizes(args.store)]
        print_tables(runs, stores, command)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
