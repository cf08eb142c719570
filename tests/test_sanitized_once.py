"""HTML is cleaned once when the sanitizer running now stored it, and again otherwise.

Entries stored by this program's parser carry the id of the sanitizer that cleaned their
HTML (markup.sanitizer_id); a publish cleans every other entry's HTML again: one stored by
an older version, written into the store by anything else, or made without the parser.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SAMPLE, Project

from republisher import codeid, markup
from republisher.cli import main
from republisher.config import load_config
from republisher.models import EntryData, FeedData, SourceMeta, StoredEntry
from republisher.publish import public, publisher
from republisher.publish.stories import Story
from republisher.routing.router import Router
from republisher.routing.rules import load_rules
from republisher.sources.parse import parse_feed
from republisher.sources.prepare import prepare_feed
from republisher.store.schema import MIGRATIONS
from republisher.store.store import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORIGIN = SourceMeta("Wire", "tag:wire.example,2026:feed", "https://wire.example/rss", None, None)
# What the sanitizer changes: a script, an event handler, an attribute not allowed.
HOSTILE = '<p class="lead" onclick="steal()">Sanctions<script>alert(1)</script></p>'


def stored(key: str, sanitized_by: str, summary: str = HOSTILE) -> StoredEntry:
    data = EntryData(
        guid=key,
        title=f"Story {key}",
        link=f"https://wire.example/{key}",
        summary=summary,
        content=None,
        author=None,
        published=NOW,
    )
    return StoredEntry("wire", key, f"tag:wire.example,2026:{key}", NOW, NOW, data, ORIGIN, sanitized_by)


def published_summary(entry: StoredEntry) -> str | None:
    return public.public_entry(Story(entry)).summary


def test_the_parser_says_which_sanitizer_cleaned_a_feed() -> None:
    feed = parse_feed(SAMPLE.read_bytes(), SAMPLE.as_uri())
    assert feed.sanitized_by == markup.sanitizer_id() != ""
    assert prepare_feed(feed, "s", Router(())).sanitized_by == feed.sanitized_by
    made = FeedData(ORIGIN, feed.entries)  # made any other way: its HTML is not vouched for
    assert made.sanitized_by == "" and prepare_feed(made, "s", Router(())).sanitized_by == ""


@pytest.mark.parametrize("sanitized_by", ["", "0123456789abcdef0123456789abcdef"])
def test_html_from_an_unknown_or_older_sanitizer_is_cleaned_again(sanitized_by: str) -> None:
    summary = published_summary(stored("a", sanitized_by))
    assert summary is not None
    assert "Sanctions" in summary
    for unsafe in ("script", "alert", "onclick", "class="):
        assert unsafe not in summary


def test_html_from_the_sanitizer_running_now_is_not_cleaned_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    clean = markup.sanitize('<p><a href="https://wire.example/x">Sanctions</a> &amp; more</p>')
    calls: list[str] = []
    monkeypatch.setattr(markup, "sanitize", lambda fragment, base=None: calls.append(fragment) or fragment)
    assert published_summary(stored("a", markup.sanitizer_id(), clean)) == clean
    assert calls == []
    published_summary(stored("b", "", clean))
    assert calls == [clean]


def test_text_xml_cannot_carry_is_still_dropped_from_html_not_cleaned_again() -> None:
    summary = published_summary(stored("a", markup.sanitizer_id(), "<p>a\x01b\ufffec</p>"))
    assert summary == "<p>abc</p>"


def test_a_poll_stores_the_id_and_a_publish_then_cleans_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    first = {p.name: p.read_bytes() for p in project.public.iterdir()}
    settings = load_config(project.config)
    with Store.open(settings.state_dir) as store:
        entries = store.all_entries()
        assert len(entries) == 20 and {e.sanitized_by for e in entries} == {markup.sanitizer_id()}
        calls: list[str] = []
        real = markup.sanitize
        monkeypatch.setattr(markup, "sanitize", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
        for name in first:
            (project.public / name).unlink()
        public._sanitized_cache.clear()  # what the first publish cleaned: not remembered
        publisher.publish(store, settings, load_rules(settings.rules_dir), datetime.now(UTC))
    assert calls == []
    assert {p.name: p.read_bytes() for p in project.public.iterdir()} == first


def test_sanitizer_id_changes_with_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    now = markup.sanitizer_id.__wrapped__()
    monkeypatch.setattr(markup, "code_digest", lambda: codeid.code_digest() + b"an edit")
    assert markup.sanitizer_id.__wrapped__() != now


def test_entries_stored_before_the_upgrade_are_cleaned_at_every_publish(tmp_path: Path) -> None:
    version = len(MIGRATIONS) - 1  # the store before entries said who sanitized them
    db = sqlite3.connect(tmp_path / "republisher.sqlite3")
    for script in MIGRATIONS[:version]:
        db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    data = json.dumps(
        {
            "guid": "a",
            "title": "T",
            "link": None,
            "summary": HOSTILE,
            "content": None,
            "author": None,
            "categories": [],
            "published": None,
            "updated": None,
        }
    )
    origin = json.dumps({"title": "S", "id": "tag:s,2026:f", "self_url": "u", "link": None, "updated": None})
    db.execute(
        "INSERT INTO entries VALUES ('src', 'a', 'urn:a', 'h', ?, ?, ?, ?, ?)",
        (NOW.isoformat(), NOW.isoformat(), NOW.isoformat(), data, origin),
    )
    db.execute(
        "INSERT INTO routes (source, key, slug, sort_time) VALUES ('src', 'a', 'feed', ?)", (NOW.isoformat(),)
    )
    db.commit()
    db.close()
    with Store.open(tmp_path) as store:
        [entry] = store.feed_entries("feed", 10)
    assert entry.sanitized_by == ""
    summary = published_summary(entry)
    assert summary is not None and "Sanctions" in summary
    assert "script" not in summary and "onclick" not in summary


def test_builds_installed_without_sources_are_told_apart(tmp_path: Path) -> None:
    """Compiled files stand in for missing sources; with neither, no digest (and
    code_digest is then one of this process alone, never shared with another build)."""
    lax, strict = tmp_path / "lax", tmp_path / "strict"
    for package, body in ((lax, b"lax"), (strict, b"strict")):
        (package / "sub").mkdir(parents=True)
        (package / "sub" / "markup.pyc").write_bytes(b"compiled " + body)
    assert codeid.package_digest(lax) is not None
    assert codeid.package_digest(lax) != codeid.package_digest(strict)
    (lax / "markup.py").write_text("sources win when there are any")
    assert codeid.package_digest(lax) != codeid.package_digest(strict)
    assert codeid.package_digest(tmp_path / "nothing-here") is None
    (tmp_path / "empty").mkdir()
    assert codeid.package_digest(tmp_path / "empty") is None
    # The installed package has its sources: its digest is theirs, the same in every process.
    assert codeid.code_digest() == codeid.package_digest(Path(codeid.__file__).resolve().parent)
