"""The main job end to end: poll the bundled sample over real HTTP, write the three feeds."""

from __future__ import annotations

import tomllib
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conformance import ATOM, problems
from conftest import SAMPLE, FeedServer, Project, Response

from republisher import USER_AGENT
from republisher.cli import main

LABELS = Path(__file__).parent / "data" / "guardian-uighurs-labels.toml"
TOPICS = ("forced-labour", "surveillance", "diplomacy")


def labelled() -> dict[str, set[str]]:
    articles = tomllib.loads(LABELS.read_text(encoding="utf-8"))["article"]
    return {a["title"]: set(a["feeds"]) for a in articles}


def titles(document: bytes) -> list[str]:
    root = ET.fromstring(document)
    return [e.findtext(ATOM + "title") or "" for e in root.findall(ATOM + "entry")]


@pytest.fixture
def polled(project: Project, feed_server: FeedServer) -> Project:
    feed_server.routes["/uighurs/rss"] = Response(
        200, SAMPLE.read_bytes(), {"Content-Type": "application/rss+xml; charset=UTF-8", "ETag": '"v1"'}
    )
    project.write_config({"guardian-uighurs": feed_server.url("/uighurs/rss")})
    assert main(["--config", str(project.config), "poll"]) == 0
    return project


def test_labels_cover_the_whole_sample() -> None:
    sample_titles = titles_of_sample()
    assert sorted(labelled()) == sorted(sample_titles)
    assert len(sample_titles) == 20


def titles_of_sample() -> list[str]:
    channel = ET.fromstring(SAMPLE.read_bytes()).find("channel")
    assert channel is not None
    return [item.findtext("title") or "" for item in channel.findall("item")]


def test_poll_writes_the_three_feeds_and_indexes(polled: Project) -> None:
    for name in [f"{slug}.atom" for slug in TOPICS] + ["index.opml", "index.html"]:
        assert (polled.public / name).stat().st_size > 0, name


@pytest.mark.parametrize("slug", TOPICS)
def test_each_feed_holds_exactly_the_labelled_articles(polled: Project, slug: str) -> None:
    expected = {title for title, feeds in labelled().items() if slug in feeds}
    assert set(titles(polled.feed(slug))) == expected


@pytest.mark.parametrize("slug", TOPICS)
def test_each_feed_conforms_to_rfc_4287(polled: Project, slug: str) -> None:
    assert problems(polled.feed(slug)) == []


@pytest.mark.parametrize("slug", TOPICS)
def test_feed_identity_and_order(polled: Project, slug: str) -> None:
    root = ET.fromstring(polled.feed(slug))
    url = f"http://feeds.example.org/topics/{slug}.atom"
    assert root.findtext(ATOM + "id") == url
    self_links = [link.get("href") for link in root.findall(ATOM + "link") if link.get("rel") == "self"]
    assert self_links == [url]
    entries = root.findall(ATOM + "entry")
    published = [e.findtext(ATOM + "published") or "" for e in entries]
    assert published == sorted(published, reverse=True), "newest first"
    newest_updated = max(e.findtext(ATOM + "updated") or "" for e in entries)
    assert root.findtext(ATOM + "updated") == newest_updated, "feed updated = newest entry, never now"
    for entry in entries:
        categories = [c.get("term") for c in entry.findall(ATOM + "category")]
        assert slug in categories and "Uighurs" in categories
        source = entry.find(ATOM + "source")
        assert source is not None
        assert source.findtext(ATOM + "title") == "Uighurs | The Guardian"
        assert entry.findtext(ATOM + "id", "").startswith("https://www.theguardian.com/")


def test_second_forced_poll_leaves_every_file_untouched(polled: Project) -> None:
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in polled.public.iterdir()}
    assert main(["--config", str(polled.config), "poll", "--force"]) == 0
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in polled.public.iterdir()}
    assert after == before


def test_polite_requests(polled: Project, feed_server: FeedServer) -> None:
    assert main(["--config", str(polled.config), "poll", "--force"]) == 0
    first, second = feed_server.requests_to("/uighurs/rss")
    assert first.headers["User-Agent"] == USER_AGENT
    assert "application/atom+xml" in first.headers["Accept"]
    assert "gzip" in first.headers["Accept-Encoding"]
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == '"v1"'


def test_poll_respects_the_interval(polled: Project, feed_server: FeedServer) -> None:
    assert main(["--config", str(polled.config), "poll"]) == 0
    assert len(feed_server.requests_to("/uighurs/rss")) == 1, "not due again for 30 minutes"


def test_index_files_list_every_feed(polled: Project) -> None:
    opml = ET.fromstring((polled.public / "index.opml").read_bytes())
    outlines = opml.findall("./body/outline")
    assert {o.get("xmlUrl") for o in outlines} == {
        f"http://feeds.example.org/topics/{slug}.atom" for slug in TOPICS
    }
    assert all(o.get("type") == "rss" and o.get("text") for o in outlines)
    page = (polled.public / "index.html").read_text(encoding="utf-8")
    for slug in TOPICS:
        assert f'href="http://feeds.example.org/topics/{slug}.atom"' in page
    assert "<script" not in page
    assert "Xinjiang: more than half a million forced to pick cotton" in page


HELDOUT = Path(__file__).parent / "data" / "heldout-labels.toml"
HELDOUT_ARTICLES = tomllib.loads(HELDOUT.read_text(encoding="utf-8"))["article"]


@pytest.mark.parametrize("article", HELDOUT_ARTICLES, ids=[a["title"][:50] for a in HELDOUT_ARTICLES])
def test_shipped_rules_generalise_to_articles_they_were_not_written_for(article: dict[str, object]) -> None:
    from republisher.models import EntryData
    from republisher.routing.match import Item, judge_all
    from republisher.routing.rules import load_rules

    rules = load_rules(Path(__file__).resolve().parent.parent / "rules")
    entry = EntryData(
        guid=None,
        title=str(article["title"]),
        link=None,
        summary=str(article["summary"]),
        content=None,
        author=None,
    )
    routed = {v.slug for v in judge_all(rules.rules, Item.from_entry(entry, "guardian-uighurs")) if v.routed}
    assert routed == set(article["feeds"])  # type: ignore[arg-type]
