"""Serving benchmark (issue 5): one 50-entry feed, 16 concurrent keep-alive clients.

Measures, in one run, 10,000 GETs of the same derived feed:
  plain        GET, full body (identity encoding)
  conditional  GET with a validator the file matches: every answer must be 304
against `republisher serve` and, as the baseline, Python's `python -m http.server`
serving the same folder (its default, HTTP/1.0; and with `--protocol HTTP/1.1`).
http.server has no ETags, so its conditional run sends If-Modified-Since instead.

The load generator is wrk (Debian: apt-get install wrk), one thread for 16 connections;
a Lua script counts any answer whose status is not the expected one as an error and
stops wrk after N answers (wrk has no request count of its own). Without wrk, a Python client with 16 threads and
persistent http.client connections stands in (slower: it measures less of the server).

Run by hand:  .venv/bin/python bench/serve_bench.py [--requests 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from sample_text import sample_paragraphs

REPO = Path(__file__).resolve().parent.parent
CONNECTIONS = 16
PREFIX = "/feeds/"
SLUG = "bench"

WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  expected = tonumber(args[1]); limit = tonumber(args[2]); seen = 0; wrong = 0
  if args[3] ~= "" then wrk.headers[args[3]] = args[4] end
end
function response(status, headers, body)
  seen = seen + 1
  if status ~= expected then wrong = wrong + 1 end
  if seen == limit then
    -- wrk's main thread sleeps for the whole -d; the harness sends SIGINT on this line.
    io.write("LIMIT\\n"); io.flush(); wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local wrong_total = 0
  for _, t in ipairs(threads) do wrong_total = wrong_total + t:get("wrong") end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %f, "wrong": %d, "socket_errors": %d, "p50_ms": %f, "p99_ms": %f}\\n',
    summary.requests, summary.duration / 1e6, wrong_total,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def source_feed(items: int) -> bytes:
    """An RSS source of `items` items built from the bundled sample's paragraphs."""
    paragraphs = sample_paragraphs()
    start = datetime(2021, 3, 1, tzinfo=UTC)
    parts = []
    for i in range(items):
        para = paragraphs[i % len(paragraphs)]
        when = format_datetime(start - timedelta(hours=i), usegmt=True)
        parts.append(
            f"<item><title>{escape(para[:70])} #{i}</title>"
            f"<link>https://news.example.org/{i}</link><guid>https://news.example.org/{i}</guid>"
            f"<description>{escape('<p>' + escape(para) + '</p>')}</description>"
            f"<category>World</category><pubDate>{when}</pubDate></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        "<title>Bench source</title><link>https://news.example.org/</link>"
        f"<description>d</description>{''.join(parts)}</channel></rss>"
    ).encode()


def publish(root: Path, port: int, items: int) -> Path:
    """A project whose only derived feed takes every item; polled once. Returns its config."""
    (root / "rules").mkdir()
    (root / "rules" / f"{SLUG}.toml").write_text('title = "Bench"\nunrouted = true\n', encoding="utf-8")
    (root / "source.xml").write_bytes(source_feed(items))
    config = root / "config.toml"
    config.write_text(
        textwrap.dedent(f"""\
            base_url = "http://127.0.0.1:{port}{PREFIX}"
            max_entries = {items}
            [serve]
            host = "127.0.0.1"
            port = {port}
            [[sources]]
            name = "bench"
            url = "source.xml"
            """),
        encoding="utf-8",
    )
    cli = [sys.executable, "-m", "republisher.cli", "--config", str(config), "poll"]
    subprocess.run(cli, check=True, capture_output=True)
    feed = (root / "public" / f"{SLUG}.atom").read_bytes()
    assert feed.count(b"<entry>") == items, "the benchmark feed must hold every item"
    return config


SERVE = """
import logging, sys
from pathlib import Path
from republisher.config import load_config
from republisher.daemon.http import serve
# As in production: one access-log line per request (here to a file, as to journald).
logging.basicConfig(level=logging.INFO, filename=sys.argv[2], format="%(message)s")
sys.exit(serve(load_config(Path(sys.argv[1]))))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(port: int, path: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no server answered on port {port}")


def head(port: int, path: str) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return {k.lower(): v for k, v in response.getheaders()}


def run_wrk(url: str, expected: int, requests: int, header: tuple[str, str] | None, script: Path) -> dict:  # type: ignore[type-arg]
    name, value = header or ("", "")
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", "-d120s", "-s", str(script), url, "--"]
    command += [str(expected), str(requests), name, value]
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert wrk.stdout is not None
    lines = []
    for line in wrk.stdout:
        lines.append(line)
        if line.startswith("LIMIT"):
            wrk.send_signal(signal.SIGINT)  # wrk then stops its clock and reports
    if wrk.wait() != 0:
        raise SystemExit("wrk failed:\n" + "".join(lines))
    line = next(x for x in lines if x.startswith("RESULT "))
    result: dict = json.loads(line.removeprefix("RESULT "))  # type: ignore[type-arg]
    return result


def run_python(url: str, expected: int, requests: int, header: tuple[str, str] | None) -> dict:  # type: ignore[type-arg]
    """Fallback load: 16 threads, each on one persistent connection (reopened if closed)."""
    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    headers = dict([header]) if header else {}
    wrong = errors = 0
    lock = threading.Lock()
    latencies: list[float] = []

    def client(count: int) -> None:
        nonlocal wrong, errors
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine = []
        for _ in range(count):
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/" + path, headers=headers)
                response = conn.getresponse()
                response.read()
                bad = response.status != expected
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                with lock:
                    errors += 1
                continue
            mine.append(time.perf_counter() - t0)
            if bad:
                with lock:
                    wrong += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    share = [requests // CONNECTIONS + (i < requests % CONNECTIONS) for i in range(CONNECTIONS)]
    threads = [threading.Thread(target=client, args=(n,)) for n in share]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "wrong": wrong,
        "socket_errors": errors,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                x.split(":", 1)[1].strip()
                for x in cpuinfo.read_text().splitlines()
                if x.startswith("model name")
            ),
            model,
        )
    return f"{os.cpu_count()} vCPU {model}, Linux {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case; the median is reported")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument(
        "--python-client", action="store_true", help="use the Python client even if wrk is here"
    )
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_client

    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        root = Path(tmp)
        ours_port, base_port, base11_port = free_port(), free_port(), free_port()
        config = publish(root, ours_port, args.items)
        public = root / "public"
        size = (public / f"{SLUG}.atom").stat().st_size
        script = root / "count.lua"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        http_server = [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(public)]
        servers = {
            "republisher serve": (
                [sys.executable, "-c", SERVE, str(config), str(root / "access.log")],
                ours_port,
                PREFIX,
            ),
            "http.server (default, HTTP/1.0)": (
                [*http_server, str(base_port)],
                base_port,
                "/",
            ),
            "http.server --protocol HTTP/1.1": (
                [*http_server, "-p", "HTTP/1.1", str(base11_port)],
                base11_port,
                "/",
            ),
        }
        processes = []
        try:
            for command, port, prefix in servers.values():
                log = open(root / f"stderr-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
                processes.append((subprocess.Popen(command, stdout=log, stderr=log), log))
                wait_for(port, prefix + f"{SLUG}.atom")
            cases = []  # (server, label, url, expected status, extra header)
            for name, (_, port, prefix) in servers.items():
                url = f"http://127.0.0.1:{port}{prefix}{SLUG}.atom"
                validators = head(port, prefix + f"{SLUG}.atom")
                if "etag" in validators:
                    conditional = ("If-None-Match", validators["etag"])
                else:  # http.server: Last-Modified is its only validator
                    conditional = ("If-Modified-Since", validators["last-modified"])
                cases.append((name, "plain", url, 200, None))
                cases.append((name, f"conditional ({conditional[0]})", url, 304, conditional))
            results: dict[int, list[dict]] = {i: [] for i in range(len(cases))}  # type: ignore[type-arg]
            # Rounds interleave the servers, so that a busy moment on the machine hits all alike.
            for _ in range(args.rounds):
                for i, (_, _, url, expected, header) in enumerate(cases):
                    if use_wrk:
                        results[i].append(run_wrk(url, expected, args.requests, header, script))
                    else:
                        results[i].append(run_python(url, expected, args.requests, header))
            rows = []
            for i, (name, label, *_) in enumerate(cases):
                runs = sorted(results[i], key=lambda r: r["requests"] / r["seconds"])
                median = runs[len(runs) // 2]
                errors = sum(r["wrong"] + r["socket_errors"] for r in runs)
                total = sum(r["requests"] for r in runs)
                rows.append((name, label, median["requests"] / median["seconds"], median, errors, total))
        finally:
            for process, log in processes:
                process.terminate()
                process.wait(timeout=10)
                log.close()

    print(f"machine: {machine()}")
    print(f"load: {'wrk -t1 -c16 (Lua: stop after N answers)' if use_wrk else 'Python, 16 threads'}")
    print(f"feed: {args.items} entries, {size} bytes; {args.requests} GETs per run, median of {args.rounds}")
    print()
    print("| server | case | requests/s | p50 ms | p99 ms | errors (all runs) |")
    print("|---|---|---|---|---|---|")
    for name, label, rps, result, errors, total in rows:
        print(
            f"| {name} | {label} | {rps:,.0f} | {result['p50_ms']:.2f} | {result['p99_ms']:.2f} "
            f"| {errors} of {total} |"
        )
    ours = {label: rps for name, label, rps, *_ in rows if name == "republisher serve"}
    print()
    for name in list(servers)[1:]:
        theirs = [rps for n, _, rps, *_ in rows if n == name]
        ratios = " / ".join(f"{o / t:.1f}x" for o, t in zip(ours.values(), theirs, strict=True))
        print(f"republisher serve vs {name}: {ratios} (plain / conditional)")


if __name__ == "__main__":
    main()
