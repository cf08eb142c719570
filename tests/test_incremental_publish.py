"""A publish renders only the feeds that may have changed, and its output is byte for byte
what rendering every feed from scratch gives."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SAMPLE, FeedServer, Project, Response

from republisher.cli import main
from republisher.config import load_config
from republisher.publish import publisher, render
from republisher.routing.rules import load_rules
from republisher.store.store import DB_NAME, Store

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{name}</title><link>https://{name}.example/</link>
<description>d</description>{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://{name}.example/{n}</link>
<description>{title}, in more words.</description><pubDate>Mon, 0{n} Feb 2021 10:00:00 GMT</pubDate></item>"""


def rss(name: str, *items: tuple[int, str]) -> bytes:
    body = "".join(ITEM.format(name=name, n=n, title=title) for n, title in items)
    return RSS.format(name=name, items=body).encode()


def poll(project: Project) -> int:
    return main(["--config", str(project.config), "poll", "--force"])


def published(project: Project) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(project.public.iterdir()) if path.is_file()}


def from_scratch(project: Project) -> dict[str, bytes]:
    """Every output file rendered from the store, with no record of earlier publishes."""
    config = load_config(project.config)
    rules = load_rules(config.rules_dir)
    now = datetime.now(UTC)  # no feed here ages entries out (max_age)
    with Store.open(config.state_dir) as store:
        counts = store.routed_counts(rules.slugs)
        first_written = store.first_written_all(rules.slugs, now)
        feeds = [
            publisher.FeedContent(
                rule,
                publisher.feed_stories(store, rule, config.max_entries, now),
                counts.get(rule.slug, 0),
                first_written[rule.slug],
            )
            for rule in rules.rules
        ]
    return publisher.plan(feeds, config)


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The slugs of the feeds rendered, in order."""
    slugs: list[str] = []
    real = render.render_feed_files

    def spy(feed: render.FeedContent, *args: object, **kwargs: object) -> object:
        slugs.append(feed.rule.slug)
        return real(feed, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "render_feed_files", spy)
    return slugs


@pytest.fixture
def two_sources(project: Project, feed_server: FeedServer) -> Project:
    """One source about sanctions (diplomacy), one about camps (surveillance), polled once."""
    feed_server.routes["/a"] = Response(200, rss("a", (1, "Sanctions on officials")))
    feed_server.routes["/b"] = Response(200, rss("b", (1, "Surveillance cameras in camps")))
    project.write_config({"a": feed_server.url("/a"), "b": feed_server.url("/b")})
    assert poll(project) == 0
    return project


def test_a_change_renders_only_the_feeds_it_touches(
    two_sources: Project, feed_server: FeedServer, rendered: list[str]
) -> None:
    project = two_sources
    before = published(project)
    feed_server.routes["/a"] = Response(
        200, rss("a", (2, "New sanctions announced"), (1, "Sanctions on officials"))
    )
    assert poll(project) == 0
    assert rendered == ["diplomacy"]
    after = published(project)
    assert after == from_scratch(project)
    changed = {name for name in after if after[name] != before.get(name)}
    assert (
        {"diplomacy.atom", "diplomacy.html"}
        <= changed
        <= {
            "diplomacy.atom",
            "diplomacy.html",
            "index.html",
            "index.opml",
        }
    )


def test_an_entry_leaving_a_feed_renders_that_feed(
    two_sources: Project, feed_server: FeedServer, rendered: list[str]
) -> None:
    project = two_sources
    # The same item, now about camps rather than sanctions: it leaves one feed, joins another.
    feed_server.routes["/a"] = Response(200, rss("a", (1, "Surveillance of officials")))
    assert poll(project) == 0
    assert sorted(rendered) == ["diplomacy", "surveillance"]
    assert published(project) == from_scratch(project)


def test_nothing_changed_renders_nothing(two_sources: Project, rendered: list[str]) -> None:
    project = two_sources
    before = published(project)
    assert poll(project) == 0  # every body is unchanged: nothing is parsed, nothing published
    assert rendered == []
    assert published(project) == before


def test_a_poll_answered_304_renders_nothing(
    project: Project, feed_server: FeedServer, rendered: list[str]
) -> None:
    headers = {"ETag": '"v1"'}
    feed_server.routes["/a"] = Response(200, rss("a", (1, "Sanctions on officials")), headers)
    feed_server.routes["/b"] = Response(200, rss("b", (1, "Surveillance cameras in camps")), headers)
    project.write_config({"a": feed_server.url("/a"), "b": feed_server.url("/b")})
    assert poll(project) == 0
    before = published(project)
    rendered.clear()
    assert poll(project) == 0  # every server answers 304 Not Modified
    assert rendered == []
    assert published(project) == before


def test_a_deleted_file_brings_back_only_its_feed(two_sources: Project, rendered: list[str]) -> None:
    project = two_sources
    before = published(project)
    (project.public / "surveillance.html").unlink()
    assert poll(project) == 0
    assert rendered == ["surveillance"]
    assert published(project) == before


def test_a_rule_or_setting_change_renders_again(two_sources: Project, rendered: list[str]) -> None:
    project = two_sources
    rule = project.rules / "surveillance.toml"
    rule.write_text(
        rule.read_text().replace('title = "Surveillance"', 'title = "Watching"'), encoding="utf-8"
    )
    assert poll(project) == 0
    assert rendered == ["surveillance"]
    assert b"<title>Watching</title>" in project.feed("surveillance")
    assert published(project) == from_scratch(project)

    rendered.clear()
    config = project.config.read_text().replace("feeds.example.org", "news.example.net")
    project.config.write_text(config, encoding="utf-8")
    assert poll(project) == 0
    assert sorted(rendered) == sorted(r.stem for r in project.rules.glob("[!_]*.toml"))
    assert b"news.example.net" in project.feed("diplomacy")
    assert published(project) == from_scratch(project)


def test_a_new_version_of_the_program_renders_every_feed_at_its_first_poll(
    two_sources: Project,
    rendered: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An upgrade's output (a fixed sanitizer or renderer) is published at the next poll,
    though no source changed; files whose bytes are the same are not rewritten."""
    project = two_sources
    before = published(project)
    assert poll(project) == 0
    assert rendered == []  # nothing changed: nothing rendered
    upgraded = publisher.code_digest() + b" and a fix"
    monkeypatch.setattr(publisher, "code_digest", lambda: upgraded)
    monkeypatch.setattr(publisher, "_code_fingerprint", lambda: "the new version")
    capsys.readouterr()
    assert poll(project) == 0
    assert sorted(rendered) == sorted(r.stem for r in project.rules.glob("[!_]*.toml"))
    assert "wrote" not in capsys.readouterr().out  # the same bytes: no file rewritten
    assert published(project) == before
    rendered.clear()
    assert poll(project) == 0
    assert rendered == []  # and only once


def test_a_rule_change_renders_only_the_feeds_whose_entries_moved(
    two_sources: Project, rendered: list[str]
) -> None:
    project = two_sources
    rule = project.rules / "diplomacy.toml"
    rule.write_text(rule.read_text().replace('"sanction", "sanctions", ', ""), encoding="utf-8")
    assert poll(project) == 0
    assert rendered == ["diplomacy"]  # its entry left; the other feeds kept theirs
    assert published(project) == from_scratch(project)


def test_a_record_that_cannot_be_read_renders_the_feed(two_sources: Project, rendered: list[str]) -> None:
    project = two_sources
    before = published(project)
    with sqlite3.connect(project.root / "state" / DB_NAME) as db:
        db.execute("UPDATE feeds SET published = 'not json' WHERE slug = 'diplomacy'")
        db.execute("UPDATE feeds SET published = '{\"inputs\": 1}' WHERE slug = 'surveillance'")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('unpublished', '1')")
    assert poll(project) == 0
    assert sorted(rendered) == ["diplomacy", "surveillance"]
    assert published(project) == before


def test_a_publish_killed_before_recording_is_redone(two_sources: Project, feed_server: FeedServer) -> None:
    project = two_sources
    feed_server.routes["/a"] = Response(
        200, rss("a", (2, "New sanctions announced"), (1, "Sanctions on officials"))
    )
    real = Store.published

    def killed(store: Store, records: dict[str, str], changes_seen: set[str]) -> None:
        raise KeyboardInterrupt  # as if killed after writing the files, before recording them

    Store.published = killed  # type: ignore[method-assign]
    try:
        assert poll(project) != 0
    finally:
        Store.published = real  # type: ignore[method-assign]
    with Store.open(project.root / "state") as store:
        assert "diplomacy" in store.changed_feeds()
    (project.public / "diplomacy.atom").unlink()
    assert poll(project) == 0
    assert published(project) == from_scratch(project)


def test_many_polls_stay_equal_to_rendering_from_scratch(project: Project, feed_server: FeedServer) -> None:
    titles = [
        "Sanctions on officials",
        "Surveillance cameras in camps",
        "Forced labour in cotton fields",
        "Embassy statement on sanctions",
        "Camps and cameras: surveillance grows",
    ]
    project.write_config({"a": feed_server.url("/a"), "b": feed_server.url("/b"), "sample": str(SAMPLE)})
    for step in range(len(titles)):
        feed_server.routes["/a"] = Response(200, rss("a", *((n + 1, titles[n]) for n in range(step + 1))))
        # b rewrites one item's title each time: the version replaces the old one.
        feed_server.routes["/b"] = Response(200, rss("b", (1, titles[(step + 2) % len(titles)])))
        assert poll(project) == 0
        assert published(project) == from_scratch(project), f"after poll {step + 1}"


def test_an_upgraded_store_renders_everything_once(project: Project, tmp_path: Path) -> None:
    project.write_config({"sample": str(SAMPLE)})
    assert poll(project) == 0
    before = published(project)
    with sqlite3.connect(project.root / "state" / DB_NAME) as db:
        db.execute("UPDATE feeds SET published = NULL")  # as the migration leaves them
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('unpublished', '1')")
    assert poll(project) == 0
    assert published(project) == before


def test_caches_started_afresh_give_the_same_files(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.write_config({"sample": str(SAMPLE)})
    assert poll(project) == 0
    shared = published(project)
    monkeypatch.setattr(render, "CACHED_ENTRIES", 0)  # nothing shared between two feeds
    for path in project.public.iterdir():
        path.unlink()
    assert poll(project) == 0
    assert published(project) == shared
