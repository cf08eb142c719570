"""One story from many sources, JSON Feed output and hub links, end to end through a poll."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest
from conformance import ATOM, problems
from conftest import FeedServer, Project, Response

from republisher.cli import main
from republisher.models import EntryData
from republisher.sources import identity

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{name}</title><link>https://{name}.example/</link>
<description>d</description>{items}</channel></rss>"""


def item(title: str, link: str, day: int, guid: str) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<description>Body of {title}.</description>"
        f"<pubDate>Mon, 0{day} Mar 2021 10:00:00 GMT</pubDate></item>"
    )


def two_sources(project: Project, server: FeedServer, extra: str = "") -> None:
    wire = item(
        "EU imposes sanctions on Chinese officials", "https://news.example/eu?utm_source=wire", 1, "w1"
    )
    paper = item(
        "EU imposes sanctions on Chinese officials over Xinjiang", "https://news.example/eu#top", 2, "p1"
    )
    other = item("Embassy protest in London", "https://paper.example/embassy", 3, "p2")
    server.routes["/wire"] = Response(200, RSS.format(name="wire", items=wire).encode())
    server.routes["/paper"] = Response(200, RSS.format(name="paper", items=paper + other).encode())
    project.write_config({"wire": server.url("/wire"), "paper": server.url("/paper")}, extra=extra)


def entries(document: bytes) -> list[ET.Element]:
    return ET.fromstring(document).findall(ATOM + "entry")


def test_one_story_from_two_sources_appears_once(project: Project, feed_server: FeedServer) -> None:
    two_sources(project, feed_server)
    # The wire's copy is stored first, so it is the earliest version.
    assert main(["--config", str(project.config), "poll", "--source", "wire"]) == 0
    assert main(["--config", str(project.config), "poll", "--force"]) == 0
    document = project.feed("diplomacy")
    assert problems(document) == []
    found = entries(document)
    assert [e.findtext(ATOM + "title") for e in found] == [
        "Embassy protest in London",
        "EU imposes sanctions on Chinese officials",
    ]
    merged = found[1]
    wire_copy = EntryData(guid="w1", title="", link=None, summary=None, content=None, author=None)
    assert merged.findtext(ATOM + "id") == identity.atom_id("wire", wire_copy, "guid:w1"), "the earliest's id"
    via = [link.get("href") for link in merged.findall(ATOM + "link") if link.get("rel") == "via"]
    assert via == ["https://news.example/eu#top"]
    assert 'Also carried by: <a href="https://news.example/eu#top">paper</a>.' in (
        merged.findtext(ATOM + "summary") or ""
    )
    assert merged.find(ATOM + "source/" + ATOM + "title").text == "wire"  # type: ignore[union-attr]


def test_merging_can_be_switched_off_per_feed(project: Project, feed_server: FeedServer) -> None:
    two_sources(project, feed_server)
    rule = project.rules / "diplomacy.toml"
    rule.write_text("merge_duplicates = false\n" + rule.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["--config", str(project.config), "poll"]) == 0
    assert len(entries(project.feed("diplomacy"))) == 3


def test_json_feed_output_mirrors_the_atom_feed(project: Project, feed_server: FeedServer) -> None:
    two_sources(
        project, feed_server, extra='formats = ["atom", "json"]\n[websub]\nhubs = ["https://hub.example/"]'
    )
    assert main(["--config", str(project.config), "poll"]) == 0
    atom = project.feed("diplomacy")
    assert problems(atom) == []
    feed = json.loads((project.public / "diplomacy.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == "http://feeds.example.org/topics/diplomacy.json"
    assert feed["hubs"] == [{"type": "WebSub", "url": "https://hub.example/"}]
    assert [i["id"] for i in feed["items"]] == [e.findtext(ATOM + "id") for e in entries(atom)]
    assert [i["title"] for i in feed["items"]] == [e.findtext(ATOM + "title") for e in entries(atom)]
    for entry in feed["items"]:
        assert entry["content_html"] and entry["date_published"].endswith("+00:00")
        assert "diplomacy" in entry["tags"]
    links = {
        (link.get("rel"), link.get("type")): link.get("href")
        for link in ET.fromstring(atom).findall(ATOM + "link")
    }
    assert links[("alternate", "application/feed+json")] == "http://feeds.example.org/topics/diplomacy.json"
    assert links[("hub", None)] == "https://hub.example/"
    page = (project.public / "index.html").read_text(encoding="utf-8")
    assert (
        'type="application/feed+json"' in page
        and 'href="http://feeds.example.org/topics/diplomacy.json"' in page
    )

    # Unchanged input: byte-identical JSON too; switching JSON off removes the files.
    before = (project.public / "diplomacy.json").read_bytes()
    assert main(["--config", str(project.config), "poll", "--force"]) == 0
    assert (project.public / "diplomacy.json").read_bytes() == before
    project.config.write_text(project.config.read_text().replace('formats = ["atom", "json"]', ""))
    assert main(["--config", str(project.config), "poll", "--force"]) == 0
    assert not (project.public / "diplomacy.json").exists()
    assert b"application/feed+json" not in project.feed("diplomacy")


def test_explain_says_when_an_entry_is_shown_in_another_sources_story(
    project: Project, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    two_sources(project, feed_server)
    config = str(project.config)
    assert main(["--config", config, "poll", "--source", "wire"]) == 0
    assert main(["--config", config, "poll", "--force"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "explain", "Xinjiang"]) == 0  # the paper's copy
    out = capsys.readouterr().out
    assert "diplomacy: ROUTED" in out
    assert "in the feed as part of wire's story 'EU imposes sanctions on Chinese officials'" in out
    assert main(["--config", config, "explain", "https://news.example/eu?utm_source=wire"]) == 0
    assert "in the feed as its own story, also carried by paper" in capsys.readouterr().out
