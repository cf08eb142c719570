"""Poll-cycle benchmark (issue 3): 500 feeds of 50 items served locally by nginx.

Measures, in one run:
  cold   every feed new: fetch, parse, store, route, publish
  warm   every server answers 304 (validators sent back)
  plain  servers send no validators and nothing changed (body hash skips the parse)
  baseline: feedparser alone parsing the same 500 bodies on one core

Run by hand:  .venv/bin/python bench/poll_bench.py [--feeds 500] [--items 50]
Needs nginx on PATH (Debian: apt-get install nginx-light).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from sample_text import sample_paragraphs

REPO = Path(__file__).resolve().parent.parent


def make_feed(n: int, items: int, paragraphs: list[str], start: datetime) -> bytes:
    parts = []
    for i in range(items):
        para = paragraphs[(n * items + i) % len(paragraphs)]
        words = " ".join(para.split()[:60])
        when = format_datetime(start - timedelta(hours=n * items + i), usegmt=True)
        parts.append(
            f"<item><title>{escape(para[:70])} #{n}-{i}</title>"
            f"<link>https://news{n}.example.org/{i}</link><guid>https://news{n}.example.org/{i}</guid>"
            f"<description>{escape('<p>' + escape(words) + '</p>')}</description>"
            f"<category>World</category><category>China</category>"
            f"<pubDate>{when}</pubDate><dc:creator>Reporter {i}</dc:creator></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Source {n}</title><link>https://news{n}.example.org/</link>"
        f"<description>Feed {n}</description>{''.join(parts)}</channel></rss>"
    ).encode()


NGINX = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/rss+xml;
    keepalive_timeout 0;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location /plain/ {{
            alias {root}/www/;
            etag off;
            if_modified_since off;
            add_header Last-Modified "";
        }}
    }}
}}
"""


def write_config(root: Path, port: int, feeds: int, prefix: str) -> Path:
    lines = [
        'base_url = "http://localhost/"',
        f'state_dir = "{root}/state"',
        f'output_dir = "{root}/public"',
        f'rules_dir = "{REPO}/rules"',
        "[poll]",
        'timeout = "30s"',
        "workers = 8",
    ]
    for n in range(feeds):
        lines += ["[[sources]]", f'name = "s{n}"', f'url = "http://127.0.0.1:{port}/{prefix}{n}.xml"']
    path = root / f"config-{'plain' if prefix else 'etag'}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cycle(config: Path, label: str) -> dict[str, float]:
    """One `republisher poll --force` in a fresh process: wall time and peak memory."""
    code = textwrap.dedent(
        f"""
        import json, resource, time
        from datetime import UTC, datetime
        from pathlib import Path
        from republisher.config import load_config
        from republisher.poll.cycle import poll_once
        from republisher.routing.rules import load_rules
        config = load_config(Path({str(config)!r}))
        rules = load_rules(config.rules_dir)
        started = time.perf_counter()
        report = poll_once(config, rules, datetime.now(UTC), force=True)
        seconds = time.perf_counter() - started
        failed = sum(1 for o in report.outcomes if not o.ok)
        me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps(dict(seconds=seconds, polled=len(report.outcomes), failed=failed,
                              parent_mb=me, worker_mb=kids,
                              messages=sorted({{o.message.split(":")[0] for o in report.outcomes}}))))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    data: dict[str, float] = json.loads(result.stdout)
    print(f"{label}: {json.dumps(data)}", flush=True)
    return data


def feedparser_alone(bodies: list[bytes], port: int, with_location: bool) -> float:
    """feedparser on one core, called as republisher calls it (with the document URL, so it
    resolves relative links) or, for reference, bare."""
    import feedparser

    started = time.perf_counter()
    for n, body in enumerate(bodies):
        headers = {"content-location": f"http://127.0.0.1:{port}/{n}.xml"} if with_location else None
        feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    root = Path(tempfile.mkdtemp(prefix="poll-bench-"))
    root.chmod(0o755)  # nginx's workers run as an unprivileged user
    (root / "www").mkdir()
    paragraphs = sample_paragraphs()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    bodies = [make_feed(n, args.items, paragraphs, start) for n in range(args.feeds)]
    for n, body in enumerate(bodies):
        (root / "www" / f"{n}.xml").write_bytes(body)
    (root / "nginx.conf").write_text(NGINX.format(root=root, port=args.port))
    subprocess.run([nginx, "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")], check=True)
    try:
        time.sleep(0.3)
        total_kb = sum(len(b) for b in bodies) / 1024
        print(f"{args.feeds} feeds x {args.items} items, {total_kb:.0f} KB in all; cpus={os.cpu_count()}")
        baseline = feedparser_alone(bodies, args.port, with_location=True)
        bare = feedparser_alone(bodies, args.port, with_location=False)
        print(f"feedparser alone, one core: {baseline:.2f} s ({args.feeds / baseline:.0f} feeds/s)")
        print(f"feedparser alone, one core, without the document URL: {bare:.2f} s")
        with_etag = write_config(root, args.port, args.feeds, "")
        cold = run_cycle(with_etag, "cold (all new)")
        warm = run_cycle(with_etag, "warm (all 304)")
        shutil.rmtree(root / "state")
        shutil.rmtree(root / "public")
        plain = write_config(root, args.port, args.feeds, "plain/")
        run_cycle(plain, "cold, no validators (setup)")
        unchanged = run_cycle(plain, "no validators, unchanged")
        print()
        print("| cycle | seconds | feeds/s | peak MB (parent / one parse worker) |")
        print("|---|---|---|---|")
        for label, data in (
            ("cold (all new)", cold),
            ("warm (all 304)", warm),
            ("no validators, unchanged", unchanged),
        ):
            print(
                f"| {label} | {data['seconds']:.2f} | {args.feeds / data['seconds']:.0f} | "
                f"{data['parent_mb']:.0f} / {data['worker_mb']:.0f} |"
            )
        print(f"| feedparser alone, one core | {baseline:.2f} | {args.feeds / baseline:.0f} | |")
        print(f"| (same, without the document URL) | {bare:.2f} | {args.feeds / bare:.0f} | |")
        print()
        print(f"cold / feedparser-alone = {cold['seconds'] / baseline:.2f} (target < 1)")
        print(f"cold / feedparser-alone without the document URL = {cold['seconds'] / bare:.2f}")
        print(f"warm feeds/s = {args.feeds / warm['seconds']:.0f} (target >= 1000)")
        print(f"unchanged / warm = {unchanged['seconds'] / warm['seconds']:.2f} (target <= 2)")
        own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"(bench process itself: {own_kb / 1024:.0f} MB)")
    finally:
        subprocess.run([nginx, "-c", str(root / "nginx.conf"), "-s", "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
