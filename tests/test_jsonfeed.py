"""JSON Feed sources: parsed into the same entries as RSS and Atom, with the same safety."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conformance import ATOM, problems
from conftest import FeedServer, Project, Response

from republisher.cli import main
from republisher.errors import ParseError
from republisher.sources import identity
from republisher.sources.parse import parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://watch.example.org/feed.json"


def test_json_feed_1_1_maps_every_field() -> None:
    feed = parse_feed((FEEDS / "jsonfeed11.json").read_bytes(), URL, "application/feed+json")
    assert feed.meta.title == "Xinjiang Watch"
    assert feed.meta.id == URL
    assert feed.meta.link == "https://watch.example.org/"
    first, second, third = feed.entries
    assert first.guid == "https://watch.example.org/2021/03/cameras"
    assert first.link == "https://watch.example.org/2021/03/cameras?utm_source=feed"
    assert first.title == "Cameras at every checkpoint"
    assert first.summary == "How facial recognition spread across the region &lt;b&gt;fast&lt;/b&gt;."
    assert first.author == "Ana Reporter, Ben Editor"
    assert [c.term for c in first.categories] == ["Surveillance", "Xinjiang"]
    assert first.published == datetime(2021, 3, 5, 8, 0, tzinfo=UTC)
    assert first.updated == datetime(2021, 3, 5, 8, 30, tzinfo=UTC)
    assert second.guid == "42", "JSON Feed 1.0 allowed numbers; 42 and '42' are one id"
    assert second.link == "https://watch.example.org/2021/03/cotton", "relative to feed_url"
    assert second.content == "Customs officials cited forced labour &amp; coercion."
    assert second.published == datetime(2021, 3, 4, 15, 0, tzinfo=UTC)
    assert third.title == "" and third.link is None and third.guid == "no-url-item"


def test_json_feed_html_is_sanitized_like_any_feed() -> None:
    content = parse_feed((FEEDS / "jsonfeed11.json").read_bytes(), URL).entries[0].content or ""
    assert "<script" not in content and "<iframe" not in content
    assert "onclick" not in content and "javascript:" not in content
    assert 'href="https://watch.example.org/tags/cctv"' in content


def test_json_feed_1_0_single_author() -> None:
    feed = parse_feed((FEEDS / "jsonfeed10.json").read_bytes(), "https://old.example.org/feed.json")
    (entry,) = feed.entries
    assert entry.author == "Single Author"
    assert feed.meta.id == "https://old.example.org/", "no feed_url: the home page identifies it"


def test_json_feed_ids_follow_the_same_identity_rules() -> None:
    feed = parse_feed((FEEDS / "jsonfeed11.json").read_bytes(), URL)
    first, second, _ = feed.entries
    assert identity.atom_id("watch", first, identity.entry_key(first)) == first.guid
    assert identity.atom_id("watch", second, identity.entry_key(second)).startswith("urn:uuid:")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": "nope"}', "without an items list"),
        (b'{"items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "ti', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
    ],
    ids=["items not a list", "no version", "truncated", "not utf-8", "nesting bomb"],
)
def test_broken_json_feeds_are_clear_errors(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, URL, "application/json")
    assert reason in caught.value.reason


def test_a_json_feed_source_is_polled_stored_and_routed(
    project: Project, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_server.routes["/feed.json"] = Response(
        200, (FEEDS / "jsonfeed11.json").read_bytes(), {"Content-Type": "application/feed+json"}
    )
    project.write_config({"watch": feed_server.url("/feed.json")})
    # The fixture's last item is a bare string: dropped and reported (exit 1), the rest stored.
    assert main(["--config", str(project.config), "poll"]) == 1
    assert "item 4: not a JSON object" in capsys.readouterr().out
    surveillance = (project.public / "surveillance.atom").read_bytes()
    assert problems(surveillance) == []
    titles = [e.findtext(ATOM + "title") for e in ET.fromstring(surveillance).findall(ATOM + "entry")]
    assert titles == ["Cameras at every checkpoint"]
    assert "application/feed+json" in feed_server.requests[0].headers["Accept"]
