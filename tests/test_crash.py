"""kill -9 at any moment of a poll: nothing committed is lost, no partial file, next poll finishes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from conformance import problems
from conftest import SAMPLE, FeedServer, Project, Response

from republisher.store.store import DB_NAME

RSS = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Second</title>'
    "<link>https://second.example/</link><description>d</description>{}</channel></rss>"
)


def second_feed(count: int) -> bytes:
    items = "".join(
        f"<item><title>Sanctions story {n}</title><link>https://second.example/{n}</link>"
        f"<pubDate>Mon, 01 Mar 2021 0{n % 10}:00:00 GMT</pubDate></item>"
        for n in range(count)
    )
    return RSS.format(items).encode()


def start_poll(project: Project) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "poll", "--force"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stored_count(state: Path) -> int:
    """Entries committed so far (0 while the store is still being created)."""
    if not (state / DB_NAME).exists():
        return 0
    try:
        with sqlite3.connect(state / DB_NAME) as db:
            count: int = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    return count


def assert_consistent(project: Project) -> None:
    db = project.root / "state" / DB_NAME
    if db.exists():
        with sqlite3.connect(db) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for feed in project.public.glob("*.atom") if project.public.exists() else []:
        assert problems(feed.read_bytes()) == [], f"{feed.name} is partial or invalid"


def test_kill_while_a_second_source_is_being_fetched(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/first"] = Response(200, SAMPLE.read_bytes())
    project.write_config({"first": feed_server.url("/first"), "second": feed_server.url("/slow")})
    # One fetch at a time: the first source is stored while the second one hangs.
    project.config.write_text(project.config.read_text().replace("[poll]", "[poll]\nworkers = 1"))
    feed_server.delays["/slow"] = 30.0  # the second fetch hangs until we kill the poll
    feed_server.routes["/slow"] = Response(200, second_feed(5))
    poll = start_poll(project)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stored_count(project.root / "state") == 20:
            break
        time.sleep(0.05)
    poll.send_signal(signal.SIGKILL)
    poll.wait()
    assert stored_count(project.root / "state") == 20, "the first source's commit survived"
    assert_consistent(project)

    feed_server.delays.clear()
    finish = start_poll(project)
    assert finish.wait(timeout=120) == 0
    assert stored_count(project.root / "state") == 25
    assert_consistent(project)
    diplomacy = ET.fromstring((project.public / "diplomacy.atom").read_bytes())
    assert len(diplomacy.findall("{http://www.w3.org/2005/Atom}entry")) == 8 + 5


def test_kill_at_many_moments(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/first"] = Response(200, SAMPLE.read_bytes())
    project.write_config({"first": feed_server.url("/first"), "second": feed_server.url("/second")})
    for attempt in range(8):
        # A slightly different second feed each time, so every poll has work to do.
        feed_server.routes["/second"] = Response(200, second_feed(3 + attempt))
        poll = start_poll(project)
        time.sleep(0.1 + 0.15 * attempt)
        poll.send_signal(signal.SIGKILL)
        poll.wait()
        assert_consistent(project)
    finish = start_poll(project)
    assert finish.wait(timeout=120) == 0
    assert_consistent(project)
    assert stored_count(project.root / "state") == 20 + 3 + 7
    assert not list(project.public.glob(".*.tmp")), "leftover temporaries cleaned up"
    for slug in ("diplomacy", "surveillance", "forced-labour"):
        assert (project.public / f"{slug}.atom").exists()
