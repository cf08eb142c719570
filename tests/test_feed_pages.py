"""Each derived feed's page for people (<slug>.html): what it shows, that it is valid HTML5
without script, that it counts stories as `status` does, and how publish writes it."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import html5lib
import pytest
from conformance import ATOM
from conftest import FeedServer, Project, Response
from test_published_html import VECTORS, problems_in

from republisher.cli import main
from republisher.models import Enclosure, EntryData, SourceMeta, StoredEntry
from republisher.publish.atom import render_feed
from republisher.publish.pages import render_feed_page, story_count
from republisher.publish.stories import Story, merge_stories
from republisher.routing.rules import Rule

BASE = "https://feeds.example.org/topics/"
T0 = datetime(2021, 3, 4, 6, 0, 19, tzinfo=UTC)
RULE = Rule("topic", Path("topic.toml"), "Topic", "All about the topic", None, None, True, ())
XHTML = "{http://www.w3.org/1999/xhtml}"
WIRE = SourceMeta("Wire", "https://wire.example/", "https://wire.example/rss", "https://wire.example/", None)
PAPER = SourceMeta("Paper", "https://paper.example/", "https://paper.example/rss", None, None)


def stored(key: str, *, origin: SourceMeta = WIRE, hours: int = 0, **data: object) -> StoredEntry:
    fields: dict[str, object] = {
        "guid": key,
        "title": f"Story {key}",
        "link": f"https://news.example/{key}",
        "summary": f"<p>Body of {key}.</p>",
        "content": None,
        "author": "Ann Writer",
        "published": T0 - timedelta(hours=hours),
    }
    fields.update(data)
    when = T0 - timedelta(hours=hours)
    source = "wire" if origin is WIRE else "paper"
    return StoredEntry(source, key, f"urn:test:{key}", when, when, EntryData(**fields), origin)  # type: ignore[arg-type]


def page_of(stories: list[Story], *, routed: int | None = None, json: bool = False) -> bytes:
    routed = sum(1 + len(s.also) for s in stories) if routed is None else routed
    return render_feed_page(RULE, stories, BASE, routed=routed, json=json)


def parse_strict(page: bytes) -> ET.Element:
    """The page as a tree; any HTML5 parse error fails the test."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    tree: ET.Element = parser.parse(page)
    assert parser.errors == []
    return tree


def text_of(element: ET.Element | None) -> str:
    assert element is not None
    return " ".join("".join(element.itertext()).split())


def articles(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{XHTML}article")


STORIES = [Story(stored("a")), Story(stored("b", hours=5, author=None))]


# --- what the page shows --------------------------------------------------------------


def test_page_shows_the_feed_and_how_to_subscribe() -> None:
    root = parse_strict(page_of(STORIES, json=True))
    assert root.get("lang") == "en"
    assert text_of(root.find(f".//{XHTML}title")) == "Topic"
    assert text_of(root.find(f".//{XHTML}h1")) == "Topic"
    body = text_of(root.find(f".//{XHTML}body"))
    assert "All about the topic" in body
    # The subscribe address, as text to copy and as a link; the JSON Feed's too.
    assert f"{BASE}topic.atom" in body and f"{BASE}topic.json" in body
    links = {a.get("href"): text_of(a) for a in root.iter(f"{XHTML}a")}
    assert links[f"{BASE}topic.atom"] == f"{BASE}topic.atom"
    assert links[f"{BASE}topic.json"] == f"{BASE}topic.json"
    assert links["index.html"] == "All feeds"
    viewport = [m for m in root.iter(f"{XHTML}meta") if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0].get("content") or "")


@pytest.mark.parametrize("json", [False, True], ids=["atom only", "with json"])
def test_head_announces_the_feed_to_browsers_and_readers(json: bool) -> None:
    root = parse_strict(page_of(STORIES, json=json))
    alternates = [
        (link.get("type"), link.get("href"))
        for link in root.iter(f"{XHTML}link")
        if link.get("rel") == "alternate"
    ]
    expected = [("application/atom+xml", f"{BASE}topic.atom")]
    if json:
        expected.append(("application/feed+json", f"{BASE}topic.json"))
    assert alternates == expected
    assert ("JSON Feed" in text_of(root)) is json


def test_each_entry_shows_title_link_date_author_source_and_summary() -> None:
    root = parse_strict(page_of(STORIES))
    first, second = articles(root)
    heading = first.find(f"{XHTML}h2/{XHTML}a")
    assert heading is not None and heading.get("href") == "https://news.example/a"
    assert text_of(heading) == "Story a"
    time = first.find(f".//{XHTML}time")
    assert time is not None and time.get("datetime") == "2021-03-04T06:00:19Z"
    assert text_of(time) == "2021-03-04 06:00 UTC", "the date names its zone"
    meta = text_of(first.find(f'{XHTML}p[@class="meta"]'))
    assert "by Ann Writer" in meta and "from Wire" in meta
    source = [a for a in first.iter(f"{XHTML}a") if text_of(a) == "Wire"]
    assert source and source[0].get("href") == "https://wire.example/"
    summary = first.find(f'{XHTML}div[@class="summary"]')
    assert summary is not None and text_of(summary.find(f"{XHTML}p")) == "Body of a.", "summary as HTML"
    # No author: it falls back to the source's title, which the page does not repeat.
    assert "by " not in text_of(second.find(f'{XHTML}p[@class="meta"]'))
    assert "2021-03-04 01:00 UTC" in text_of(second)


def test_the_page_holds_the_same_stories_as_the_atom_feed_in_order() -> None:
    stories = [Story(stored(k, hours=h)) for k, h in (("new", 1), ("old", 9), ("mid", 4))]
    stories.append(Story(stored("bad", link="javascript:alert(1)", title="")))  # no public link
    ordered = merge_stories([s.entry for s in stories])
    atom = ET.fromstring(render_feed(RULE, ordered, BASE, T0))
    in_feed = [e.findtext(ATOM + "title") for e in atom.findall(ATOM + "entry")]
    shown = [text_of(a.find(f"{XHTML}h2")) for a in articles(parse_strict(page_of(ordered)))]
    assert shown == in_feed


def test_a_merged_story_names_the_other_sources() -> None:
    merged = Story(stored("a"), (stored("p", origin=PAPER, link="https://paper.example/a"),))
    root = parse_strict(page_of([merged]))
    (article,) = articles(root)
    assert "Also carried by: Paper." in text_of(article)
    assert "https://paper.example/a" in [a.get("href") for a in article.iter(f"{XHTML}a")]
    assert "1 story in the feed (2 entries routed; a story carried by several sources is shown once)" in (
        text_of(root)
    )


def test_enclosures_show_as_a_thumbnail_and_attachment_links() -> None:
    files = (
        Enclosure("https://cdn.example/pic.jpg?w=140", "image/jpeg"),
        Enclosure("https://cdn.example/show.mp3", "audio/mpeg", 3_400_000),
        Enclosure("https://cdn.example/report", None, None),
    )
    root = parse_strict(page_of([Story(stored("a", enclosures=files))]))
    (article,) = articles(root)
    images = [img.get("src") for img in article.iter(f"{XHTML}img")]
    assert images == ["https://cdn.example/pic.jpg?w=140"]
    text = text_of(article)
    assert "Attached: show.mp3 (audio/mpeg, 3.4 MB), report" in text
    hrefs = [a.get("href") for a in article.iter(f"{XHTML}a")]
    assert "https://cdn.example/show.mp3" in hrefs and "https://cdn.example/report" in hrefs


def test_no_thumbnail_when_the_summary_has_its_own_image() -> None:
    summary = '<p><img src="https://cdn.example/in-text.jpg" alt="x"> Text</p>'
    files = (Enclosure("https://cdn.example/pic.jpg", "image/jpeg"),)
    root = parse_strict(page_of([Story(stored("a", summary=summary, enclosures=files))]))
    assert [img.get("src") for img in root.iter(f"{XHTML}img")] == ["https://cdn.example/in-text.jpg"]


def test_an_entry_without_summary_shows_its_content_and_one_without_link_plain_title() -> None:
    entry = stored("a", summary=None, content="<p>Full text.</p>", link=None)
    (article,) = articles(parse_strict(page_of([Story(entry)])))
    assert article.find(f"{XHTML}h2/{XHTML}a") is None
    assert text_of(article.find(f"{XHTML}h2")) == "Story a"
    assert "Full text." in text_of(article.find(f'{XHTML}div[@class="summary"]'))


def test_empty_feed_page() -> None:
    root = parse_strict(page_of([]))
    assert articles(root) == []
    assert "0 stories in the feed" in text_of(root)
    assert "No stories yet" in text_of(root)


# --- safe and valid -------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS.values(), ids=list(VECTORS))
def test_stored_xss_never_reaches_the_page(vector: str) -> None:
    hostile = stored("x", title=vector, summary=vector, author=vector, link="https://news.example/x")
    page = page_of([Story(hostile)])
    root = parse_strict(page)
    # The page's own head has meta, link and style; everything from the store is in <main>.
    assert problems_in(page.decode().partition("<main>")[2].partition("</main>")[0]) == []
    tags = [e.tag for e in root.iter() if isinstance(e.tag, str)]
    assert [t for t in tags if t.endswith(("}script", "}iframe", "}svg", "}math"))] == []


@pytest.mark.parametrize(
    "text",
    [
        "C1 \x85 control",
        "noncharacter \ufdd0 \U0010ffff",
        "NUL \x00 and \x0b vertical tab",
        "surrogate \ud800",
    ],
    ids=["C1 control", "noncharacters", "XML-forbidden", "lone surrogate"],
)
def test_characters_html_forbids_are_dropped(text: str) -> None:
    entry = stored("a", title=text, summary=f"<p>{text}</p>", author=text)
    rule = replace(RULE, title=text, subtitle=text)
    parse_strict(render_feed_page(rule, [Story(entry)], BASE, routed=1))


def test_page_needs_no_script_and_no_network_for_itself() -> None:
    page = page_of(STORIES, json=True).decode()
    assert "<script" not in page
    assert not re.search(r"\son\w+=", page), "no event handlers"
    assert "@import" not in page and "url(" not in page
    assert 'rel="stylesheet"' not in page and "xsl" not in page.lower()


def test_page_is_a_pure_function_of_its_input() -> None:
    assert page_of(STORIES) == page_of(list(STORIES))


# --- counting, as `status` does ------------------------------------------------------

COUNTS = {
    "all shown": ((3, 3, 3), "3 stories in the feed"),
    "one story": ((1, 1, 1), "1 story in the feed"),
    "merged": (
        (3, 4, 4),
        "3 stories in the feed (4 entries routed; a story carried by several sources is shown once)",
    ),
    "retention": ((50, 120, 50), "50 stories in the feed (120 entries routed; older ones are left out)"),
    "both": (
        (50, 120, 52),
        "50 stories in the feed (120 entries routed; older ones are left out and "
        "a story carried by several sources is shown once)",
    ),
    "all aged out": ((0, 1, 0), "0 stories in the feed (1 entry routed; older ones are left out)"),
}


@pytest.mark.parametrize(("counts", "said"), COUNTS.values(), ids=list(COUNTS))
def test_story_count(counts: tuple[int, int, int], said: str) -> None:
    assert story_count(*counts) == said


# --- through a real poll: publish writes the pages ------------------------------------

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
    """Three diplomacy entries from two sources, two of them one story."""
    wire = item("EU imposes sanctions on Chinese officials", "https://news.example/eu?utm_source=w", 1, "w1")
    paper = item(
        "EU imposes sanctions on Chinese officials over Xinjiang", "https://news.example/eu", 2, "p1"
    )
    other = item("Embassy protest in London", "https://paper.example/embassy", 3, "p2")
    server.routes["/wire"] = Response(200, RSS.format(name="wire", items=wire).encode())
    server.routes["/paper"] = Response(200, RSS.format(name="paper", items=paper + other).encode())
    project.write_config({"wire": server.url("/wire"), "paper": server.url("/paper")}, extra=extra)


def poll(project: Project, *args: str) -> None:
    assert main(["--config", str(project.config), "poll", *args]) == 0


def test_publish_writes_a_page_per_feed(project: Project, feed_server: FeedServer) -> None:
    two_sources(project, feed_server, extra='formats = ["atom", "json"]')
    poll(project, "--source", "wire")
    poll(project, "--force")
    for rule in project.rules.glob("[!_]*.toml"):
        parse_strict((project.public / f"{rule.stem}.html").read_bytes())
    root = parse_strict((project.public / "diplomacy.html").read_bytes())
    atom = ET.fromstring(project.feed("diplomacy"))
    assert [text_of(a.find(f"{XHTML}h2")) for a in articles(root)] == [
        e.findtext(ATOM + "title") for e in atom.findall(ATOM + "entry")
    ]
    said = "2 stories in the feed (3 entries routed; a story carried by several sources is shown once)"
    assert said in text_of(root)
    assert said in text_of(parse_strict((project.public / "index.html").read_bytes()))


def test_retention_is_told_apart_from_merging(project: Project, feed_server: FeedServer) -> None:
    two_sources(project, feed_server, extra="max_entries = 1")
    poll(project, "--source", "wire")
    poll(project, "--force")
    said = "1 story in the feed (3 entries routed; older ones are left out)"
    assert said in text_of(parse_strict((project.public / "diplomacy.html").read_bytes()))
    assert said in text_of(parse_strict((project.public / "index.html").read_bytes()))


def test_pages_are_rewritten_only_when_their_bytes_change(project: Project, feed_server: FeedServer) -> None:
    two_sources(project, feed_server)
    poll(project)
    pages = {p.name: p for p in project.public.glob("*.html")}
    assert set(pages) == {"diplomacy.html", "forced-labour.html", "surveillance.html", "index.html"}
    old = {name: path.stat().st_mtime_ns for name, path in pages.items()}
    for path in pages.values():  # an earlier mtime: a rewrite would show even on a coarse clock
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    poll(project, "--force")
    assert {name: p.stat().st_mtime_ns for name, p in pages.items()} == dict.fromkeys(old, 1_000_000_000)
    # New content in one feed rewrites that feed's page (and the index), not the others.
    feed_server.routes["/wire"] = Response(
        200,
        RSS.format(
            name="wire", items=item("New embassy opens in Oslo", "https://w.example/o", 4, "w2")
        ).encode(),
    )
    poll(project, "--force")
    changed = {name for name, p in pages.items() if p.stat().st_mtime_ns != 1_000_000_000}
    assert changed == {"diplomacy.html", "index.html"}
    assert "New embassy opens in Oslo" in (project.public / "diplomacy.html").read_text(encoding="utf-8")


def test_a_missing_page_is_written_again_by_the_next_poll(project: Project, feed_server: FeedServer) -> None:
    two_sources(project, feed_server)
    poll(project)
    page = project.public / "surveillance.html"
    before = page.read_bytes()
    page.unlink()
    poll(project)  # no source is due: only the missing file makes this publish
    assert page.read_bytes() == before


def test_a_removed_feed_takes_its_page_along(project: Project, feed_server: FeedServer) -> None:
    two_sources(project, feed_server)
    poll(project)
    assert (project.public / "surveillance.html").is_file()
    (project.rules / "surveillance.toml").unlink()
    poll(project)
    assert not (project.public / "surveillance.html").exists()
    assert "surveillance.html" not in (project.public / "index.html").read_text(encoding="utf-8")


def test_publish_removes_the_stylesheet_an_older_version_wrote(
    project: Project, feed_server: FeedServer
) -> None:
    two_sources(project, feed_server)
    poll(project)
    stale = project.public / "feed.xsl"
    stale.write_bytes(b"<xsl:stylesheet/>")
    poll(project)  # nothing due but the retired file
    assert not stale.exists()
    for feed in project.public.glob("*.atom"):
        assert b"xml-stylesheet" not in feed.read_bytes()
