"""Poll cycles over real HTTP and a real SQLite file: nothing stored is ever lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

from conformance import ATOM, problems
from conftest import SAMPLE, FeedServer, Project, Response

from republisher.cli import main
from republisher.store.store import Store

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Test source</title><link>https://news.example.com/</link>
<description>d</description>{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://news.example.com/{n}</link><guid>https://news.example.com/{n}</guid>
<description>{summary}</description><pubDate>Mon, 0{n} Feb 2021 10:00:00 GMT</pubDate></item>"""


def rss(*items: tuple[int, str], summary: str = "Body text.") -> bytes:
    body = "".join(ITEM.format(n=n, title=title, summary=summary) for n, title in items)
    return RSS.format(items=body).encode()


def entry_titles(project: Project, slug: str) -> list[str]:
    root = ET.fromstring(project.feed(slug))
    return [e.findtext(ATOM + "title") or "" for e in root.findall(ATOM + "entry")]


def poll(project: Project, *args: str) -> int:
    return main(["--config", str(project.config), "poll", "--force", *args])


def test_entries_stay_after_the_source_drops_them(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Response(200, rss((1, "Sanctions on Xinjiang officials"), (2, "New treaty")))
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 0
    feed_server.routes["/a"] = Response(200, rss((3, "Ambassador expelled")))
    assert poll(project) == 0
    assert entry_titles(project, "diplomacy") == [
        "Ambassador expelled",
        "New treaty",
        "Sanctions on Xinjiang officials",
    ]


def test_changed_entry_replaces_its_old_version(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Response(200, rss((1, "Sanctions annouced")))
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 0
    feed_server.routes["/a"] = Response(200, rss((1, "Sanctions announced")))
    assert poll(project) == 0
    assert entry_titles(project, "diplomacy") == ["Sanctions announced"]
    store = Store.open(project.root / "state")
    try:
        assert store.entry_count() == 1
    finally:
        store.close()


def test_a_failing_source_never_stops_the_others(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/good"] = Response(200, rss((1, "Sanctions on officials")))
    feed_server.routes["/html"] = Response(200, b"<!DOCTYPE html><html><body>Hi</body></html>")
    project.write_config(
        {
            "broken": feed_server.url("/missing"),
            "html": feed_server.url("/html"),
            "refused": "http://127.0.0.1:9/feed",
            "good": feed_server.url("/good"),
        }
    )
    assert poll(project) == 1
    assert entry_titles(project, "diplomacy") == ["Sanctions on officials"]
    store = Store.open(project.root / "state")
    try:
        states = store.source_states()
    finally:
        store.close()
    assert states["broken"].last_error == "HTTP 404 Not Found"
    assert states["broken"].last_status == 404
    assert states["html"].last_error == "an HTML page, not a feed"
    assert states["refused"].last_error == "connection refused"
    assert all(states[name].consecutive_errors == 1 for name in ("broken", "html", "refused"))
    assert states["good"].consecutive_errors == 0


def test_a_source_that_breaks_later_loses_nothing(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Response(200, SAMPLE.read_bytes())
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 0
    before = {slug: project.feed(slug) for slug in ("diplomacy", "surveillance", "forced-labour")}
    for broken in (b"", b"<rss><channel><item><title>cut", b"\x00\xff garbage", b"<html></html>"):
        feed_server.routes["/a"] = Response(200, broken)
        poll(project)
        after = {slug: project.feed(slug) for slug in before}
        for slug, document in before.items():
            assert set(entry_titles_of(after[slug])) >= set(entry_titles_of(document)), (broken, slug)


def entry_titles_of(document: bytes) -> list[str]:
    return [e.findtext(ATOM + "title") or "" for e in ET.fromstring(document).findall(ATOM + "entry")]


def test_edited_rules_apply_to_stored_entries(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Response(200, SAMPLE.read_bytes())
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 0
    (project.rules / "olympics.toml").write_text(
        'title = "Olympics"\n[match]\nany = ["olympic*", "winter games"]\n', encoding="utf-8"
    )
    (project.rules / "surveillance.toml").unlink()
    assert poll(project) == 0
    assert entry_titles(project, "olympics") == [
        "Libs Dems warn China over ‘international bullying’ after sanctions threat",
        "MPs urge British Olympians to boycott 2022 Beijing Winter Games",
    ]
    assert not (project.public / "surveillance.atom").exists()
    assert "surveillance" not in (project.public / "index.opml").read_text(encoding="utf-8")
    assert "surveillance" not in (project.public / "index.html").read_text(encoding="utf-8")


def test_unrouted_feed_takes_what_no_other_feed_took(project: Project, feed_server: FeedServer) -> None:
    (project.rules / "everything-else.toml").write_text(
        'title = "Other"\nunrouted = true\n', encoding="utf-8"
    )
    feed_server.routes["/a"] = Response(200, SAMPLE.read_bytes())
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 0
    other = set(entry_titles(project, "everything-else"))
    topics = {
        t for slug in ("diplomacy", "surveillance", "forced-labour") for t in entry_titles(project, slug)
    }
    assert len(other) == 7
    assert other.isdisjoint(topics)
    assert len(other | topics) == 20


def test_max_entries_keeps_the_newest(project: Project, feed_server: FeedServer) -> None:
    items = [(n, f"Sanctions round {n}") for n in range(1, 8)]
    feed_server.routes["/a"] = Response(200, rss(*items))
    project.write_config({"a": feed_server.url("/a")}, extra="max_entries = 3")
    assert poll(project) == 0
    assert entry_titles(project, "diplomacy") == [
        "Sanctions round 7",
        "Sanctions round 6",
        "Sanctions round 5",
    ]


def test_empty_feed_is_valid_and_stable(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Response(200, rss((1, "Weather today")))
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 0
    first = project.feed("diplomacy")
    assert problems(first) == []
    assert entry_titles(project, "diplomacy") == []
    assert poll(project) == 0
    assert project.feed("diplomacy") == first


def test_hostile_content_never_reaches_the_output(project: Project, feed_server: FeedServer) -> None:
    summary = (
        '&lt;p onclick="steal()"&gt;Sanctions &lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;'
        '&lt;script&gt;alert(1)&lt;/script&gt;&lt;iframe src="https://evil.example/"&gt;&lt;/iframe&gt;'
        '&lt;a href="/relative/page"&gt;more&lt;/a&gt;&lt;/p&gt;&#1;'
    )
    body = rss((1, "Sanctions \x0b on \x01 officials"), summary=summary)
    feed_server.routes["/a"] = Response(200, body)
    project.write_config({"a": feed_server.url("/a")})
    poll(project)
    document = project.feed("diplomacy")
    assert problems(document) == []
    summary_text = ET.fromstring(document).findtext(f"{ATOM}entry/{ATOM}summary") or ""
    assert "Sanctions" in summary_text
    assert (
        "onclick" not in summary_text and "<script" not in summary_text and "javascript:" not in summary_text
    )
    assert f'href="{feed_server.url("/relative/page")}"' in summary_text


def test_two_polls_at_once_neither_corrupt_nor_duplicate(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Response(200, SAMPLE.read_bytes())
    config = project.write_config({"a": feed_server.url("/a")})
    command = [sys.executable, "-m", "republisher.cli", "--config", str(config), "poll", "--force"]
    polls = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(4)]
    assert [p.wait(timeout=120) for p in polls] == [0, 0, 0, 0]
    store = Store.open(project.root / "state")
    try:
        assert store.entry_count() == 20
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
    assert problems(project.feed("diplomacy")) == []


def test_file_sources_and_paths_work(project: Project) -> None:
    project.write_config({"sample": str(SAMPLE)})
    assert poll(project) == 0
    assert len(entry_titles(project, "diplomacy")) == 8


def test_output_survives_a_restart_byte_for_byte(project: Project, tmp_path: Path) -> None:
    project.write_config({"sample": str(SAMPLE)})
    assert poll(project) == 0
    first = project.feed("surveillance")
    (project.public / "surveillance.atom").unlink()
    assert poll(project) == 0
    assert project.feed("surveillance") == first


def test_retention_per_feed_and_loosening_brings_entries_back(
    project: Project, feed_server: FeedServer
) -> None:
    items = [(n, f"Sanctions round {n}") for n in range(1, 8)]  # dated 1 to 7 February 2021
    feed_server.routes["/a"] = Response(200, rss(*items))
    project.write_config({"a": feed_server.url("/a")})
    rule = project.rules / "diplomacy.toml"
    original = rule.read_text(encoding="utf-8")
    rule.write_text("max_entries = 2\n" + original, encoding="utf-8")
    assert poll(project) == 0
    assert entry_titles(project, "diplomacy") == ["Sanctions round 7", "Sanctions round 6"]
    assert len(entry_titles(project, "surveillance")) == 0

    # max_age counts back from now: nothing published in February 2021 is younger than 30 days.
    rule.write_text('max_age = "30d"\n' + original, encoding="utf-8")
    assert poll(project) == 0
    assert entry_titles(project, "diplomacy") == []
    assert problems(project.feed("diplomacy")) == []

    rule.write_text(original, encoding="utf-8")
    assert poll(project) == 0
    assert len(entry_titles(project, "diplomacy")) == 7, "the store kept them all"


def test_future_dated_entries_are_placed_at_first_seen(project: Project, feed_server: FeedServer) -> None:
    body = RSS.format(
        items="<item><title>Sanctions from the future</title><link>https://news.example.com/f</link>"
        "<pubDate>Mon, 01 Jan 2035 00:00:00 GMT</pubDate></item>"
        + ITEM.format(n=1, title="Sanctions of the past", summary="x")
    ).encode()
    feed_server.routes["/a"] = Response(200, body)
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 0
    root = ET.fromstring(project.feed("diplomacy"))
    entries = root.findall(ATOM + "entry")
    assert entries[0].findtext(ATOM + "title") == "Sanctions from the future"
    assert not (entries[0].findtext(ATOM + "updated") or "").startswith("2035"), "never dated in the future"
    assert not (root.findtext(ATOM + "updated") or "").startswith("2035")


def test_a_broken_document_is_reported_until_it_changes(project: Project, feed_server: FeedServer) -> None:
    truncated = rss((1, "Sanctions one"), (2, "Sanctions two"))[:-40]
    feed_server.routes["/a"] = Response(200, truncated)
    project.write_config({"a": feed_server.url("/a")})
    assert poll(project) == 1, "entries recovered, but the document is broken"
    assert poll(project) == 1, "the same broken bytes: still reported"
    assert entry_titles(project, "diplomacy") == ["Sanctions two", "Sanctions one"]
    feed_server.routes["/a"] = Response(200, rss((1, "Sanctions one"), (2, "Sanctions two")))
    assert poll(project) == 0


def test_a_publish_cut_short_is_redone_by_the_next_poll(project: Project) -> None:
    project.write_config({"sample": str(SAMPLE)})
    assert main(["--config", str(project.config), "poll"]) == 0
    first = project.feed("surveillance")
    mtime = (project.public / "diplomacy.atom").stat().st_mtime_ns
    # Nothing is due and nothing changed: an idle poll does not even render.
    assert main(["--config", str(project.config), "poll"]) == 0
    assert (project.public / "diplomacy.atom").stat().st_mtime_ns == mtime
    # Entries committed, then killed before publishing: the flag committed with them remains.
    (project.public / "surveillance.atom").unlink()
    store = Store.open(project.root / "state")
    try:
        with store.transaction():
            store.set_meta("unpublished", "1")
    finally:
        store.close()
    assert main(["--config", str(project.config), "poll"]) == 0
    assert project.feed("surveillance") == first
