"""index.html and index.opml, and how the Atom feeds point browsers at their pages."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree as ET

import html5lib
import pytest
from conftest import REPO, SAMPLE, Project

from republisher.cli import main
from republisher.publish.site import FeedSummary, Headline, render_html, render_opml

BASE = "https://feeds.example.org/topics/"
XHTML = "{http://www.w3.org/1999/xhtml}"
WHEN = datetime(2021, 3, 4, 6, 0, 19, tzinfo=UTC)


def headline(n: int, title: str | None = None) -> Headline:
    return Headline(title or f"Story {n}", f"https://news.example.com/{n}", datetime(2021, 3, n, tzinfo=UTC))


def summary(slug: str = "surveillance", **changes: object) -> FeedSummary:
    fields: dict[str, object] = {
        "slug": slug,
        "title": slug.capitalize(),
        "subtitle": f"All about {slug}",
        "entries": 3,
        "in_feed": 3,
        "updated": WHEN,
        "newest": tuple(headline(n) for n in (3, 2, 1)),
    }
    fields.update(changes)
    return FeedSummary(**fields)  # type: ignore[arg-type]


FEEDS = [summary("diplomacy"), summary("surveillance")]


def parse_strict(page: bytes) -> ET.Element:
    """The page as a tree; any HTML5 parse error fails the test."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    tree: ET.Element = parser.parse(page)
    assert parser.errors == []
    return tree


def text_of(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


# --- index.html ---------------------------------------------------------------------


def test_page_is_valid_html5() -> None:
    parse_strict(render_html(FEEDS, BASE))


def test_page_structure_is_accessible() -> None:
    root = parse_strict(render_html(FEEDS, BASE))
    assert root.get("lang") == "en"
    assert len(root.findall(f".//{XHTML}h1")) == 1
    assert root.find(f".//{XHTML}main") is not None
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids)), "ids are unique"
    for section in root.iter(f"{XHTML}section"):
        heading = section.find(f"{XHTML}h2")
        assert heading is not None and heading.get("id") == section.get("aria-labelledby")
    for link in root.iter(f"{XHTML}a"):
        name = link.get("aria-label") or text_of(link)
        assert name.startswith(text_of(link)), "the accessible name contains the visible text"


def test_page_lists_each_feed_with_what_a_reader_needs() -> None:
    root = parse_strict(render_html(FEEDS, BASE))
    sections = root.findall(f".//{XHTML}section")
    assert [text_of(s.find(f"{XHTML}h2")) for s in sections] == ["Diplomacy", "Surveillance"]  # type: ignore[arg-type]
    diplomacy = text_of(sections[0])
    assert "All about diplomacy" in diplomacy
    assert "3 stories in the feed · updated 2021-03-04 06:00 UTC" in diplomacy
    links = [(a.get("href"), text_of(a)) for a in sections[0].iter(f"{XHTML}a")]
    assert (f"{BASE}diplomacy.atom", "Subscribe") in links
    assert ("https://news.example.com/3", "Story 3") in links
    # The feed's page: from its heading and after its newest stories.
    assert ("diplomacy.html", "Diplomacy") in links
    assert ("diplomacy.html", "All stories in Diplomacy, with their summaries") in links
    time = sections[0].find(f".//{XHTML}time")
    assert time is not None and time.get("datetime") == "2021-03-04T06:00:19Z"


def test_page_links_the_opml_and_announces_the_feeds() -> None:
    root = parse_strict(render_html(FEEDS, BASE))
    assert "index.opml" in [a.get("href") for a in root.iter(f"{XHTML}a")]
    alternates = [
        (link.get("type"), link.get("href"))
        for link in root.iter(f"{XHTML}link")
        if link.get("rel") == "alternate"
    ]
    assert ("application/atom+xml", f"{BASE}diplomacy.atom") in alternates
    assert ("text/x-opml", "index.opml") in alternates


def test_page_links_each_feeds_page_atom_and_json() -> None:
    root = parse_strict(render_html(FEEDS, BASE, json=True))
    hrefs = [a.get("href") for a in root.iter(f"{XHTML}a")]
    for slug in ("diplomacy", "surveillance"):
        assert f"{slug}.html" in hrefs
        assert f"{BASE}{slug}.atom" in hrefs
        assert f"{BASE}{slug}.json" in hrefs


def test_page_shows_the_five_newest_entries() -> None:
    feed = summary(entries=120, in_feed=50, newest=tuple(headline(n) for n in range(9, 0, -1)))
    root = parse_strict(render_html([feed], BASE))
    items = [text_of(li) for li in root.iter(f"{XHTML}li")]
    assert items == [f"Story {n} 2021-03-0{n}" for n in (9, 8, 7, 6, 5)]
    assert "50 stories in the feed (120 entries routed; older ones are left out)" in text_of(root)


@pytest.mark.parametrize(
    ("feed", "shown"),
    [
        (summary(entries=1, in_feed=1, newest=(headline(1),)), "1 story in the feed ·"),
        (summary(entries=0, in_feed=0, newest=(), updated=None), "0 stories in the feed · updated never"),
        (summary(entries=0, in_feed=0, newest=()), "No stories yet."),
        # A story carried by two sources is one story, not a max_entries cut.
        (
            summary(entries=4, in_feed=3, carried=4),
            "3 stories in the feed (4 entries routed; a story carried by several sources is shown once)",
        ),
        (
            summary(entries=9, in_feed=3, carried=4),
            "3 stories in the feed (9 entries routed; older ones are left out and "
            "a story carried by several sources is shown once)",
        ),
    ],
    ids=["one story", "never updated", "empty feed", "merged", "merged and retention"],
)
def test_page_counts(feed: FeedSummary, shown: str) -> None:
    assert shown in text_of(parse_strict(render_html([feed], BASE)))


def test_page_with_no_feeds_is_still_valid() -> None:
    root = parse_strict(render_html([], BASE))
    assert "No feeds are configured yet." in text_of(root)


def test_page_escapes_hostile_titles() -> None:
    evil = '<script>alert("x")</script> & "quotes"'
    feed = summary(title=evil, subtitle=evil, newest=(headline(1, evil),))
    page = render_html([feed], BASE)
    root = parse_strict(page)
    assert root.find(f".//{XHTML}script") is None
    assert evil in text_of(root)


def test_page_needs_no_network_and_no_javascript() -> None:
    page = render_html(FEEDS, BASE).decode()
    assert "<script" not in page
    assert not re.search(r"\son\w+=", page), "no event handlers"
    assert "@import" not in page and "url(" not in page and "src=" not in page
    assert 'rel="stylesheet"' not in page


def test_page_is_deterministic() -> None:
    assert render_html(FEEDS, BASE) == render_html(list(FEEDS), BASE)


# --- index.opml ---------------------------------------------------------------------


def test_opml_is_opml_2_with_one_rss_outline_per_feed() -> None:
    root = ET.fromstring(render_opml(FEEDS, BASE))
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title")
    modified = parsedate_to_datetime(root.findtext("head/dateModified") or "")
    assert modified == WHEN.replace(microsecond=0)
    outlines = root.findall("body/outline")
    assert [o.attrib for o in outlines] == [
        {
            "type": "rss",
            "text": feed.title,
            "title": feed.title,
            "description": feed.subtitle,
            "xmlUrl": f"{BASE}{feed.slug}.atom",
            "htmlUrl": f"{BASE}{feed.slug}.html",
        }
        for feed in FEEDS
    ]


def test_opml_without_feeds_or_dates() -> None:
    root = ET.fromstring(render_opml([summary(updated=None)], BASE))
    assert root.find("head/dateModified") is None
    assert ET.fromstring(render_opml([], BASE)).find("body") is not None


# --- the Atom feeds point browsers at their pages ------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("indexes"))
    shutil.copytree(REPO / "rules", project.rules)
    project.write_config({"guardian-uighurs": str(SAMPLE)}, extra='formats = ["atom", "json"]')
    assert main(["--config", str(project.config), "poll"]) == 0
    return project


def test_every_feed_links_its_page_once_per_type(published: Project) -> None:
    atom = "{http://www.w3.org/2005/Atom}"
    for feed in published.public.glob("*.atom"):
        root = ET.fromstring(feed.read_bytes())
        alternates = [
            (link.get("type"), link.get("href"))
            for link in root.findall(f"{atom}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        base = "http://feeds.example.org/topics/"
        assert sorted(alternates) == [
            ("application/feed+json", f"{base}{feed.stem}.json"),
            ("text/html", f"{base}{feed.stem}.html"),
        ]
        assert (published.public / f"{feed.stem}.html").is_file()


def test_feeds_carry_no_stylesheet_and_none_is_published(published: Project) -> None:
    """XSLT is leaving browsers (Chromium shows a warning banner): each feed has a page."""
    for feed in published.public.glob("*.atom"):
        assert b"xml-stylesheet" not in feed.read_bytes()
    assert sorted(p.name for p in published.public.iterdir() if not p.name.endswith((".atom", ".json"))) == [
        "diplomacy.html",
        "forced-labour.html",
        "index.html",
        "index.opml",
        "surveillance.html",
    ]
    assert not (REPO / "republisher" / "publish" / "static").exists()
