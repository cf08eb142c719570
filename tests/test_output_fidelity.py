"""What a source says reaches the derived feeds: the author (the entry's, else the feed's,
else the feed's title), enclosures and media (RSS enclosure, Atom rel="enclosure",
Media RSS, JSON Feed attachments and image) and the source's own rel="self" link.

Feeds are parsed by the real parser and rendered by the real Atom and JSON Feed
writers; the bundled sample goes through a real `poll`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from conformance import ATOM, problems
from conftest import Project

from republisher.cli import main
from republisher.models import Category, Enclosure, EntryData, FeedData, SourceMeta, StoredEntry
from republisher.publish.atom import render_feed
from republisher.publish.jsonfeed import render_json_feed
from republisher.publish.public import public_source
from republisher.publish.stories import Story
from republisher.routing.rules import Rule
from republisher.sources import identity
from republisher.sources.parse import parse_feed
from republisher.store import codec
from republisher.store.store import EntryWrite, Store

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "guardian-uighurs.xml"
URL = "https://news.example/dir/feed.xml"
BASE = "https://feeds.example.org/topics/"
T0 = datetime(2021, 3, 1, 12, tzinfo=UTC)
RULE = Rule(
    slug="topic",
    path=Path("rules/topic.toml"),
    title="Topic",
    subtitle="All about the topic",
    sources=None,
    match=None,
    unrouted=True,
    examples=(),
)


# --- helpers -----------------------------------------------------------------


def stored(feed: FeedData, source: str = "src") -> list[StoredEntry]:
    """The feed's entries as the store would hand them to a publish."""
    found = []
    for entry in feed.entries:
        key = identity.entry_key(entry)
        atom_id = identity.atom_id(source, entry, key)
        found.append(StoredEntry(source, key, atom_id, T0, T0, entry, feed.meta))
    return found


def render(entries: list[StoredEntry]) -> tuple[list[ET.Element], list[dict[str, Any]]]:
    """The Atom entries and the JSON Feed items published for these entries."""
    stories = [Story(e) for e in entries]
    atom = render_feed(RULE, stories, BASE, T0)
    assert problems(atom) == []
    items = json.loads(render_json_feed(RULE, stories, BASE))["items"]
    return ET.fromstring(atom).findall(ATOM + "entry"), items


def published(
    document: str, url: str = URL, content_type: str | None = None
) -> tuple[list[ET.Element], list[Any]]:
    return render(stored(parse_feed(document.encode(), url, content_type)))


def atom_authors(entries: list[ET.Element]) -> list[str]:
    return [e.findtext(f"{ATOM}author/{ATOM}name") or "" for e in entries]


def json_authors(items: list[dict[str, Any]]) -> list[str]:
    return [", ".join(a["name"] for a in item["authors"]) for item in items]


def atom_enclosures(entry: ET.Element) -> list[dict[str, str]]:
    return [dict(link.attrib) for link in entry.findall(ATOM + "link") if link.get("rel") == "enclosure"]


def source_self(entry: ET.Element) -> str | None:
    for link in entry.findall(f"{ATOM}source/{ATOM}link"):
        if link.get("rel") == "self":
            return link.get("href")
    return None


def rss(channel: str, items: str) -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>The Channel</title><link>https://news.example/</link>{channel}{items}"
        "</channel></rss>"
    )


def rss_item(guid: str, extra: str = "") -> str:
    return f"<item><title>Story {guid}</title><link>https://news.example/{guid}</link><guid>{guid}</guid>{extra}</item>"


# --- author ------------------------------------------------------------------

WITH_AND_WITHOUT = rss_item("a", "<author>ana@news.example (Ana Reporter)</author>") + rss_item("b")


@pytest.mark.parametrize(
    ("channel", "feed_author"),
    [
        ("<managingEditor>desk@news.example (News Desk)</managingEditor>", "News Desk"),
        ("<dc:creator>The Desk</dc:creator>", "The Desk"),
    ],
)
def test_rss_entry_without_author_takes_the_feeds_author(channel: str, feed_author: str) -> None:
    entries, items = published(rss(channel, WITH_AND_WITHOUT))
    assert atom_authors(entries) == ["Ana Reporter", feed_author]
    assert json_authors(items) == ["Ana Reporter", feed_author]


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("ana@news.example (Ana Reporter)", "Ana Reporter"),  # a top-level domain over 4 letters
        ("ana@news.photography (Ana Reporter)", "Ana Reporter"),
        ("ana@news.com (Ana Reporter)", "Ana Reporter"),
        ("Ana Reporter", "Ana Reporter"),
        ("ana@news.example", "ana@news.example"),
        ("Ana Reporter &lt;ana@news.example&gt;", "Ana Reporter"),  # escaped in the XML
    ],
)
def test_rss_author_names_are_read_whatever_the_domain(given: str, name: str) -> None:
    (entry,) = parse_feed(rss("", rss_item("a", f"<author>{given}</author>")).encode(), URL).entries
    assert entry.author == name


def test_without_any_author_the_feeds_title_is_the_author() -> None:
    entries, items = published(rss("", WITH_AND_WITHOUT))
    assert atom_authors(entries) == ["Ana Reporter", "The Channel"]
    assert json_authors(items) == ["Ana Reporter", "The Channel"]


def test_atom_feed_author_covers_entries_without_one() -> None:
    document = """<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
    <title>Journal</title><id>tag:journal.example,2024:feed</id><updated>2020-01-02T00:00:00Z</updated>
    <author><name>Journal Desk</name></author>
    <entry><title>One</title><id>tag:journal.example,2024:1</id><updated>2020-01-01T00:00:00Z</updated>
      <link href="https://journal.example/1"/><author><name>Bo Writer</name></author></entry>
    <entry><title>Two</title><id>tag:journal.example,2024:2</id><updated>2020-01-02T00:00:00Z</updated>
      <link href="https://journal.example/2"/></entry>
    </feed>"""
    entries, items = published(document)
    assert atom_authors(entries) == ["Bo Writer", "Journal Desk"]
    assert json_authors(items) == ["Bo Writer", "Journal Desk"]


def test_json_feed_top_level_authors_cover_items_without_one() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Watch",
        "authors": [{"name": "Watch Team"}, {"url": "https://watch.example/"}],
        "items": [
            {"id": "1", "url": "https://watch.example/1", "title": "One", "authors": [{"name": "Ana"}]},
            {"id": "2", "url": "https://watch.example/2", "title": "Two"},
        ],
    }
    entries, items = published(json.dumps(document), "https://watch.example/feed.json")
    assert atom_authors(entries) == ["Ana", "Watch Team"]
    assert json_authors(items) == ["Ana", "Watch Team"]


# --- enclosures: parsing -----------------------------------------------------


def test_rss_enclosures_and_media_rss_are_parsed_checked_and_merged() -> None:
    items = rss_item(
        "a",
        '<enclosure url="/audio/a.mp3" length="1234" type="audio/mpeg"/>'
        # The same file again (as media:content) adds nothing but what the first lacked.
        '<media:content url="https://news.example/audio/a.mp3" fileSize="999" medium="audio"/>'
        '<enclosure url="https://news.example/b.ogg" length="12,345" type="bad type"/>'
        '<media:content url="img/photo.JPG?w=140" medium="image" width="140"/>'
        '<media:thumbnail url="https://cdn.example/t" width="50"/>'
        '<media:group><media:content url="https://cdn.example/v.mp4" type="Video/MP4; codecs=avc1"/></media:group>'
        '<enclosure url="javascript:alert(1)" type="image/png"/>'
        '<media:content url="data:image/png;base64,AAAA"/>'
        '<enclosure url="https://news.example/zero" length="0" type="application/pdf"/>'
        '<enclosure url="https://news.example/neg" length="-5"/>',
    )
    (entry,) = parse_feed(rss("", items).encode(), URL).entries
    assert entry.enclosures == (  # enclosures, then media:content, then thumbnails
        Enclosure("https://news.example/audio/a.mp3", "audio/mpeg", 1234),
        Enclosure("https://news.example/b.ogg", "audio/ogg", None),  # type from the extension
        Enclosure("https://news.example/zero", "application/pdf", None),  # 0 means "unknown"
        Enclosure("https://news.example/neg", None, None),
        Enclosure("https://news.example/dir/img/photo.JPG?w=140", "image/jpeg", None),
        Enclosure("https://cdn.example/v.mp4", "video/mp4", None),
        Enclosure("https://cdn.example/t", None, None),  # nothing says what it is
    )


def test_atom_enclosure_links_resolve_against_xml_base() -> None:
    document = """<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example/x/">
    <title>A</title><id>tag:a.example,2024:f</id><updated>2020-01-01T00:00:00Z</updated>
    <entry xml:base="https://other.example/y/"><title>a</title><id>tag:a.example,2024:1</id>
      <updated>2020-01-01T00:00:00Z</updated><link href="page"/>
      <link rel="enclosure" href="a.mp3" type="audio/mpeg" length="10"/>
      <link rel="enclosure" href="a.mp3" type="audio/mpeg" length="10"/>
      <link rel="enclosure" href="https://base.example/b.pdf" length="x"/>
    </entry></feed>"""
    (entry,) = parse_feed(document.encode(), URL).entries
    assert entry.enclosures == (
        Enclosure("https://other.example/y/a.mp3", "audio/mpeg", 10),
        Enclosure("https://base.example/b.pdf", "application/pdf", None),
    )


def test_json_feed_attachments_and_image_become_enclosures() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Pod",
        "feed_url": "https://pod.example/feed.json",
        "items": [
            {
                "id": "1",
                "url": "https://pod.example/1",
                "image": "img/cover.png",
                "attachments": [
                    {"url": "/ep1.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 4567},
                    {"url": "https://pod.example/ep1.txt", "mime_type": 7, "size_in_bytes": "many"},
                    "not an object",
                    {"mime_type": "audio/mpeg"},
                ],
            },
            {"id": "2", "url": "https://pod.example/2", "attachments": {"url": "not a list"}},
        ],
    }
    first, second = parse_feed(json.dumps(document).encode(), "https://mirror.example/feed.json").entries
    assert first.enclosures == (
        Enclosure("https://pod.example/ep1.mp3", "audio/mpeg", 4567),
        Enclosure("https://pod.example/ep1.txt", None, None),
        Enclosure("https://pod.example/img/cover.png", "image/png", None),
    )
    assert second.enclosures == ()


# --- enclosures: publishing ----------------------------------------------------


def test_enclosures_reach_atom_and_json_feed_with_what_is_known() -> None:
    items = rss_item(
        "a",
        '<enclosure url="https://news.example/a.mp3" length="1234" type="audio/mpeg"/>'
        '<media:thumbnail url="https://cdn.example/t"/>',
    )
    (entry,), (item,) = published(rss("", items))
    assert atom_enclosures(entry) == [
        {"rel": "enclosure", "href": "https://news.example/a.mp3", "type": "audio/mpeg", "length": "1234"},
        {"rel": "enclosure", "href": "https://cdn.example/t"},  # no type or length invented
    ]
    assert item["attachments"] == [
        {"url": "https://news.example/a.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 1234},
        # JSON Feed requires a mime_type: "some file" when nothing says which.
        {"url": "https://cdn.example/t", "mime_type": "application/octet-stream"},
    ]
    assert "image" not in item, "no attachment is known to be a picture"


def test_an_entry_without_enclosures_has_no_attachments() -> None:
    (entry,), (item,) = published(rss("", rss_item("a")))
    assert atom_enclosures(entry) == []
    assert "attachments" not in item


def test_stored_enclosures_are_checked_again_at_publish() -> None:
    """A store written by an older or laxer version may hold anything."""
    origin = SourceMeta(
        "Wire", "https://wire.example/", "https://user:pw@wire.example/rss?token=s3cret", None, None
    )
    data = EntryData(
        guid="g",
        title="T",
        link="https://wire.example/g",
        summary=None,
        content=None,
        author=None,
        enclosures=(
            Enclosure("javascript:alert(1)", "image/png", 1),
            Enclosure("file:///etc/passwd", None, None),
            Enclosure("https://wire.example/img.jpg?token=s3cret", "not a type", -3),
            Enclosure(12, None, None),  # type: ignore[arg-type]
            Enclosure("https://user:pw@cdn.example/a.png", "IMAGE/PNG", "77"),  # type: ignore[arg-type]
            Enclosure("https://cdn.example/a.png", None, 5),
        ),
    )
    (entry,), (item,) = render([StoredEntry("wire", "g", "urn:test:g", T0, T0, data, origin)])
    assert atom_enclosures(entry) == [
        {"rel": "enclosure", "href": "https://wire.example/img.jpg"},
        {"rel": "enclosure", "href": "https://cdn.example/a.png", "type": "image/png", "length": "77"},
    ]
    assert [a["url"] for a in item["attachments"]] == [
        "https://wire.example/img.jpg",
        "https://cdn.example/a.png",
    ]


def test_the_samples_thumbnails_reach_the_derived_feeds(project: Project) -> None:
    """The bundled Guardian sample: every item's media:content thumbnail, through a real poll."""
    for rule in project.rules.glob("*.toml"):
        rule.unlink()
    (project.rules / "everything.toml").write_text(
        'title = "Everything"\nunrouted = true\n', encoding="utf-8"
    )
    shutil.copy(SAMPLE, project.root / "sample.xml")
    project.write_config({"g": "sample.xml"}, extra='formats = ["atom", "json"]')
    assert main(["--config", str(project.config), "poll"]) == 0
    document = project.feed("everything")
    assert problems(document) == []
    entries = ET.fromstring(document).findall(ATOM + "entry")
    assert len(entries) == 20
    for entry in entries:
        (enclosure,) = atom_enclosures(entry)
        assert enclosure["href"].startswith("https://i.guim.co.uk/img/media/"), enclosure
        assert enclosure["type"] == "image/jpeg" and "length" not in enclosure
    items = json.loads((project.public / "everything.json").read_bytes())["items"]
    assert all(item["attachments"][0]["mime_type"] == "image/jpeg" for item in items)
    assert all(item["image"] == item["attachments"][0]["url"] for item in items)
    assert sum(len(item["attachments"]) for item in items) == 20


# --- stored rows and content hashes ----------------------------------------------


# Rows exactly as the version before enclosures and feed authors wrote them.
OLD_ENTRY_ROW = (
    '{"author": null, "categories": [], "content": null, "guid": "g1", "link": "https://wire.example/g1", '
    '"published": "2021-03-01T12:00:00+00:00", "summary": "<p>Stored before enclosures.</p>", '
    '"title": "Old row", "updated": null}'
)
OLD_ORIGIN_ROW = (
    '{"id": "https://wire.example/", "link": "https://wire.example/", '
    '"self_url": "https://wire.example/rss", "title": "Wire", "updated": null}'
)


def test_rows_stored_before_the_new_fields_still_load_and_render(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        data = codec.entry_from_json(OLD_ENTRY_ROW)
        origin = codec.origin_from_json(OLD_ORIGIN_ROW)
        assert data.enclosures == () and origin.author is None and origin.own_self is None
        with store.transaction():
            store.put_entries([_write(StoredEntry("wire", "guid:g1", "urn:test:g1", T0, T0, data, origin))])
        # As an older version left the row: without the new keys at all.
        db = sqlite3.connect(tmp_path / "republisher.sqlite3")
        db.execute("UPDATE entries SET data = ?, origin = ?", (OLD_ENTRY_ROW, OLD_ORIGIN_ROW))
        db.commit()
        db.close()
        (entry,) = store.all_entries()
    finally:
        store.close()
    assert entry.data == data and entry.origin == origin
    (published_entry,), (item,) = render([entry])
    assert atom_authors([published_entry]) == ["Wire"] and json_authors([item]) == ["Wire"]
    assert source_self(published_entry) == "https://wire.example/rss"


def test_rows_written_by_a_newer_version_still_load() -> None:
    newer = json.loads(OLD_ENTRY_ROW) | {
        "enclosures": [{"url": "https://e.example/a.png", "type": None, "length": 3}],
        "later": 1,
    }
    assert codec.entry_from_json(json.dumps(newer)).enclosures == (
        Enclosure("https://e.example/a.png", None, 3),
    )
    origin = json.loads(OLD_ORIGIN_ROW) | {"author": "Desk", "some_later_field": "x"}
    assert codec.origin_from_json(json.dumps(origin)).author == "Desk"


def test_new_fields_round_trip_through_the_store_codec() -> None:
    data = EntryData(
        "g", "T", None, None, None, None, enclosures=(Enclosure("https://e.example/a", "image/png", 9),)
    )
    assert codec.entry_from_json(codec.entry_to_json(data)) == data
    origin = SourceMeta(
        "W", "https://w.example/", "https://w.example/rss", None, None, "Desk", "https://w.example/feed"
    )
    assert codec.origin_from_json(codec.origin_to_json(origin)) == origin


def _write(entry: StoredEntry) -> EntryWrite:
    return EntryWrite(entry, identity.content_hash(entry.data), ("topic",))


def test_an_entry_without_enclosures_hashes_as_before() -> None:
    """Stored entries are compared by this hash: had it changed, every entry of every
    source would be stored again as "changed" on the first poll after the upgrade."""
    entry = EntryData(
        guid="g1",
        title="Café cameras",
        link="https://e.org/a",
        summary="<p>s</p>",
        content=None,
        author="Ana",
        categories=(Category("Xinjiang", "https://e.org/t", None),),
        published=datetime(2021, 3, 1, 12, tzinfo=UTC),
    )
    # The hash the version before enclosures gave this entry.
    assert identity.content_hash(entry) == "27449bbfdfa923ece720c610cfee341bf14192bb5a372f2ef0d96f1f82dd444e"
    # Written out: the fields that version hashed, and nothing else.
    old_fields = {
        "guid": "g1",
        "title": "Café cameras",
        "link": "https://e.org/a",
        "summary": "<p>s</p>",
        "content": None,
        "author": "Ana",
        "categories": [{"term": "Xinjiang", "scheme": "https://e.org/t", "label": None}],
        "published": datetime(2021, 3, 1, 12, tzinfo=UTC),
        "updated": None,
    }
    expected = hashlib.sha256(
        json.dumps(old_fields, sort_keys=True, default=str, ensure_ascii=False).encode()
    )
    assert identity.content_hash(entry) == expected.hexdigest()


def test_an_added_or_changed_enclosure_changes_the_hash() -> None:
    bare = EntryData("g", "T", None, None, None, None)
    one = EntryData(
        "g", "T", None, None, None, None, enclosures=(Enclosure("https://e.example/a.jpg", "image/jpeg"),)
    )
    other = EntryData(
        "g", "T", None, None, None, None, enclosures=(Enclosure("https://e.example/b.jpg", "image/jpeg"),)
    )
    assert len({identity.content_hash(e) for e in (bare, one, other)}) == 3


# --- the source's own self link ----------------------------------------------------


def _meta(polled: str, own: str | None) -> SourceMeta:
    return SourceMeta("S", "https://s.example/", polled, None, None, None, own)


@pytest.mark.parametrize(
    ("polled", "own", "expected"),
    [
        # The document's own self link wins over the URL polled...
        ("https://mirror.example/feed", "https://s.example/feed.xml", "https://s.example/feed.xml"),
        ("/srv/feeds/s.xml", "https://s.example/feed.xml", "https://s.example/feed.xml"),
        ("https://s.example/private?token=abc", "https://s.example/feed.xml", "https://s.example/feed.xml"),
        # ...with its own query (WordPress's ?feed=rss2)...
        ("https://s.example/feed", "https://s.example/?feed=rss2", "https://s.example/?feed=rss2"),
        # ...but never one echoing the polled URL's query (a token?) or carrying a password.
        ("https://s.example/private.atom?token=abc", "https://s.example/private.atom?token=abc", None),
        ("https://s.example/?token=abc", "https://s.example/?token=abc&lang=en", None),
        ("https://s.example/rss", "https://u:pw@s.example/rss", "https://s.example/rss"),
        # Without one: the URL polled, when public and without a query.
        ("https://s.example/rss", None, "https://s.example/rss"),
        ("https://s.example/rss?key=1", None, None),
        ("/srv/feeds/s.xml", None, None),
        ("file:///srv/feeds/s.xml", "ftp://s.example/feed", None),
    ],
)
def test_source_self_link_prefers_the_documents_own(
    polled: str, own: str | None, expected: str | None
) -> None:
    assert public_source(_meta(polled, own)).self_link == expected


def test_parsed_self_links_reach_atom_source_and_json_source() -> None:
    channel = '<atom:link rel="self" href="https://news.example/feed.rss" type="application/rss+xml"/>'
    (entry,), (item,) = published(rss(channel, rss_item("a")), "https://mirror.example/copy.xml?k=1")
    assert source_self(entry) == "https://news.example/feed.rss"
    assert item["_source"]["feed_url"] == "https://news.example/feed.rss"
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "W",
        "feed_url": "https://w.example/feed.json",
        "items": [{"id": "1", "url": "https://w.example/1"}],
    }
    (entry,), _ = published(json.dumps(document), "https://mirror.example/w.json")
    assert source_self(entry) == "https://w.example/feed.json"


# --- the source's date ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "item", "expected"),
    [
        # The channel's own date, when it gives one...
        ("<lastBuildDate>Tue, 02 Feb 2021 08:00:00 GMT</lastBuildDate>", "", "2021-02-02T08:00:00+00:00"),
        ("<pubDate>Mon, 01 Feb 2021 08:00:00 GMT</pubDate>", "", "2021-02-01T08:00:00+00:00"),
        # ...else the entry's: the source was updated no later than the entry it carries.
        ("", "<pubDate>Wed, 03 Feb 2021 09:30:00 GMT</pubDate>", "2021-02-03T09:30:00+00:00"),
        ("", "<dc:date>2021-02-04T10:00:00+01:00</dc:date>", "2021-02-04T09:00:00+00:00"),
    ],
)
def test_atom_source_always_says_when_the_source_was_updated(channel: str, item: str, expected: str) -> None:
    (entry,), _ = published(rss(channel, rss_item("a", item)))
    assert entry.findtext(f"{ATOM}source/{ATOM}updated") == expected


def test_a_source_and_entry_without_dates_give_the_time_the_entry_was_first_seen() -> None:
    (entry,), _ = published(rss("", rss_item("a")))
    updated = entry.findtext(f"{ATOM}source/{ATOM}updated")
    assert updated is not None and updated == entry.findtext(f"{ATOM}updated")
    assert datetime.fromisoformat(updated) <= datetime.now(UTC)
