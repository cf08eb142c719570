"""One bad item never costs its neighbours (SPEC "Containment"), in parse, jsonfeed and prepare.

A bad field is repaired or treated as absent when that is safe (a link that is not a
valid URL becomes None, an absurd date None); an item that still cannot be read,
keyed, hashed or routed is dropped and named in `dropped`, and the rest is kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest
from conformance import ATOM, problems
from conftest import FeedServer, Project, Response

from republisher.cli import main
from republisher.models import EntryData, FeedData, SourceMeta
from republisher.routing.match import Item
from republisher.routing.router import Router
from republisher.routing.rules import Field, load_rules
from republisher.sources import parse
from republisher.sources.parse import parse_feed
from republisher.sources.prepare import prepare_feed

URL = "https://example.org/blog/feed.xml"
RULES = Path(__file__).parent / "data" / "rules"
GOOD_RSS = "<item><title>Good item</title><link>https://example.org/good</link><guid>g1</guid></item>"
GOOD_ATOM = (
    "<entry><title>Good item</title><id>tag:example.org,2024:g1</id>"
    '<link href="https://example.org/good"/><updated>2024-01-01T00:00:00Z</updated></entry>'
)


def rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://example.org/</link>{''.join(items)}</channel></rss>"
    ).encode()


def atom(*entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>T</title><id>tag:example.org,2024:feed</id><updated>2024-01-01T00:00:00Z</updated>"
        f"{''.join(entries)}</feed>"
    ).encode()


def json_feed(*items: Any) -> bytes:
    good = {"id": "g1", "title": "Good item", "url": "https://example.org/good"}
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": [good, *items]}
    ).encode()


def by_title(feed: FeedData, title: str) -> EntryData:
    (entry,) = [e for e in feed.entries if e.title == title]
    return entry


def assert_good_kept(feed: FeedData) -> None:
    good = by_title(feed, "Good item")
    assert good.link == "https://example.org/good"


def assert_link_usable(entry: EntryData) -> None:
    """Whatever is stored as a link can be taken apart without an exception."""
    if entry.link is not None:
        parts = urlsplit(entry.link)
        assert parts.scheme in ("http", "https") and parts.hostname
        assert parts.port is None or 0 < parts.port < 65536


# --- links that are not valid URLs --------------------------------------------

BAD_LINKS = {
    "port out of range": "http://evil.example:99999/",
    "port not a number": "http://evil.example:8o/",
    "unclosed ipv6 bracket": "http://[::1/",
    "not an ipv6 address": "http://[evil]/",
    "space in host": "http://evil .example/",
    "no host": "http://:80/path",
    "javascript": "javascript:alert(1)",
}


@pytest.mark.parametrize("link", BAD_LINKS.values(), ids=list(BAD_LINKS))
def test_an_invalid_link_becomes_none_and_the_item_is_kept(link: str) -> None:
    for body in (
        rss(
            GOOD_RSS,
            f'<item><title>Evil</title><link>{link}</link><guid isPermaLink="false">e1</guid></item>',
        ),
        atom(
            GOOD_ATOM,
            f'<entry><title>Evil</title><id>tag:example.org,2024:e1</id><link href="{link}"/></entry>',
        ),
        json_feed({"id": "e1", "title": "Evil", "url": link}),
    ):
        feed = parse_feed(body, URL)
        assert_good_kept(feed)
        evil = by_title(feed, "Evil")
        assert evil.link is None, evil.link
        assert feed.dropped == ()


def test_characters_not_allowed_in_a_url_are_percent_encoded() -> None:
    feed = parse_feed(rss("<item><title>x</title><link>https://example.org/a b|c{d}%zz</link></item>"), URL)
    assert feed.entries[0].link == "https://example.org/a%20b%7Cc%7Bd%7D%25zz"


# --- junk markup that broke the HTML parser ------------------------------------

JUNK_MARKUP = ["&lt;![ x", "&lt;![x y", "&lt;![ x ]]&gt;", "a &lt;![if x]&gt; b", "&lt;!x", "&lt;/"]


@pytest.mark.parametrize("junk", JUNK_MARKUP)
def test_junk_markup_beside_a_good_item(junk: str) -> None:
    body = rss(
        GOOD_RSS,
        f"<item><title>Junk {junk}</title><link>https://example.org/j</link><description>{junk}</description></item>",
    )
    feed = parse_feed(body, URL)
    assert_good_kept(feed)
    (junk_entry,) = [e for e in feed.entries if e.title.startswith("Junk")]
    assert "<![" not in (junk_entry.summary or "")
    # what routing does with it must not fail either (strip_markup on the summary)
    router = Router(load_rules(RULES).rules)
    prepared = prepare_feed(feed, "s", router)
    assert len(prepared.entries) == 2 and prepared.dropped == ()


@pytest.mark.parametrize("reference", ["&#99999999999;", "&#x110000;", "&#x" + "0" * 5000 + "41;"])
def test_a_character_reference_out_of_range_does_not_fail_the_document(reference: str) -> None:
    feed = parse_feed(
        rss(GOOD_RSS, f"<item><title>R{reference}</title><link>https://example.org/r</link></item>"), URL
    )
    assert_good_kept(feed)
    assert len(feed.entries) == 2


# --- dates -----------------------------------------------------------------------

ABSURD_DATES = {
    "year 1 rss": "<pubDate>Mon, 01 Jan 0001 00:00:00 +0100</pubDate>",
    "year 5 rss": "<pubDate>Sat, 01 Jan 0005 00:00:00 GMT</pubDate>",
    "year 9999 rss": "<pubDate>Fri, 31 Dec 9999 23:59:59 -0100</pubDate>",
    "year 1800 atom": "<published>1800-01-01T00:00:00Z</published>",
    "year 9999 atom": "<updated>9999-12-31T23:59:59-01:00</updated>",
}


@pytest.mark.parametrize("date", ABSURD_DATES.values(), ids=list(ABSURD_DATES))
def test_an_absurd_date_is_treated_as_absent(date: str) -> None:
    body = rss(GOOD_RSS, f"<item><title>Dated</title><link>https://example.org/d</link>{date}</item>")
    feed = parse_feed(body, URL)
    assert_good_kept(feed)
    dated = by_title(feed, "Dated")
    assert dated.published is None and dated.updated is None


JSON_DATES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0005-01-01T00:00:00Z",
    "1899-12-31T23:00:00Z",
]


@pytest.mark.parametrize("date", JSON_DATES)
def test_an_absurd_json_feed_date_is_treated_as_absent(date: str) -> None:
    feed = parse_feed(
        json_feed({"id": "d", "title": "Dated", "date_published": date, "date_modified": date}), URL
    )
    assert_good_kept(feed)
    dated = by_title(feed, "Dated")
    assert dated.published is None and dated.updated is None


def test_plausible_dates_are_kept_in_utc() -> None:
    feed = parse_feed(
        json_feed({"id": "d", "title": "Dated", "date_published": "1995-06-01T12:00:00+02:00"}), URL
    )
    assert by_title(feed, "Dated").published == datetime(1995, 6, 1, 10, 0, tzinfo=UTC)


# --- JSON fields of the wrong type --------------------------------------------

WRONG_TYPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "tags a number": ({"tags": 5}, {"categories": ()}),
    "tags a string": ({"tags": "abc"}, {"categories": ()}),
    "title a number": ({"title": 3, "url": "https://example.org/t"}, {"title": ""}),
    "url a list": ({"url": ["x"]}, {"link": None}),
    "authors a string": ({"authors": "x"}, {"author": None}),
    "author a list": ({"author": ["x"]}, {"author": None}),
    "authors of numbers": ({"authors": [1, None, {"name": 2}]}, {"author": None}),
    "summary an object": ({"summary": {"a": 1}}, {"summary": None}),
    "content_html a number": ({"content_html": 7}, {"content": None}),
    "id a boolean": ({"id": True}, {"guid": None}),
    "id a float": ({"id": 1.5}, {"guid": None}),
    "date a number": ({"date_published": 1700000000}, {"published": None}),
}


@pytest.mark.parametrize(("fields", "expected"), WRONG_TYPES.values(), ids=list(WRONG_TYPES))
def test_a_json_field_of_the_wrong_type_counts_as_absent(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    item = {"id": "w", "title": "Wrong", **fields}
    body = json_feed(item)
    feed = parse_feed(body, URL)
    assert_good_kept(feed)
    assert len(feed.entries) == 2 and feed.dropped == ()
    (wrong,) = [e for e in feed.entries if e.title != "Good item"]
    for name, value in expected.items():
        assert getattr(wrong, name) == value, name


def test_a_json_id_too_long_for_int_is_kept_as_its_digits() -> None:
    # int() refuses more than 4300 digits: json.loads would fail the whole document.
    body = json_feed({"id": "HUGE", "title": "Huge"}).replace(b'"HUGE"', b"9" * 5000)
    feed = parse_feed(body, URL)
    assert_good_kept(feed)
    assert by_title(feed, "Huge").guid == "9" * 5000


def test_json_items_that_are_not_objects_are_dropped_and_named() -> None:
    feed = parse_feed(json_feed(1, None, "text", ["list"]), URL)
    assert_good_kept(feed)
    assert len(feed.entries) == 1
    assert [line.split(":")[0] for line in feed.dropped] == ["item 2", "item 3", "item 4", "item 5"]
    assert "not a JSON object but str" in feed.dropped[2]


# --- any failure inside one item ----------------------------------------------


def _failing_sanitize(real: Any) -> Any:
    def sanitize(fragment: str, base: str | None = None) -> str:
        if "POISON" in fragment:
            raise ValueError("Port out of range 0-65535")
        return str(real(fragment, base))

    return sanitize


@pytest.mark.parametrize("kind", ["rss", "atom", "json"])
def test_an_item_that_cannot_be_read_is_dropped_and_named(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong inside one item (here: the sanitizer raising) drops that item only."""
    from republisher.sources import jsonfeed

    monkeypatch.setattr(parse, "sanitize", _failing_sanitize(parse.sanitize))
    monkeypatch.setattr(jsonfeed, "sanitize", _failing_sanitize(jsonfeed.sanitize))
    title = "Uighur forced labour claims " + "x" * 100
    body = {
        "rss": rss(f"<item><title>{title}</title><description>POISON</description></item>", GOOD_RSS),
        "atom": atom(
            f'<entry><title>{title}</title><id>tag:e.org,2024:p</id><content type="html">POISON</content></entry>',
            GOOD_ATOM,
        ),
        "json": json_feed({"id": "p", "title": title, "content_html": "POISON"}),
    }[kind]
    feed = parse_feed(body, URL)
    assert_good_kept(feed)
    assert len(feed.entries) == 1
    (line,) = feed.dropped
    assert line.startswith(f'item {2 if kind == "json" else 1} "Uighur forced labour claims x')
    assert "\u2026" in line, "a long title is shortened"
    assert "ValueError: Port out of range" in line


class _RouterFailingOn:
    """Routes like the real router, except that it raises for one title."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.real = Router(load_rules(RULES).rules)

    def route(self, item: Item) -> list[str]:
        if self.title in item.plain(Field.TITLE):
            raise RecursionError("maximum recursion depth exceeded")
        return self.real.route(item)


def test_an_entry_that_cannot_be_routed_is_dropped_and_named() -> None:
    feed = parse_feed(rss(GOOD_RSS, "<item><title>Bad route</title><guid>b</guid></item>"), URL)
    earlier = FeedData(meta=feed.meta, entries=feed.entries, dropped=("item 9: from parsing",))
    prepared = prepare_feed(earlier, "s", cast(Router, _RouterFailingOn("Bad route")))
    assert [p.data.title for p in prepared.entries] == ["Good item"]
    assert prepared.dropped[0] == "item 9: from parsing", "parse's dropped items are carried over"
    assert prepared.dropped[1].startswith('"Bad route": cannot be keyed or routed (RecursionError')


def test_prepared_entries_keep_their_order_and_first_duplicate() -> None:
    meta = SourceMeta(title="T", id="tag:e.org,2024:f", self_url=URL, link=None, updated=None)
    entries = tuple(
        EntryData(guid=g, title=t, link=None, summary=None, content=None, author=None)
        for g, t in [("1", "a"), ("2", "b"), ("1", "c")]
    )
    prepared = prepare_feed(FeedData(meta=meta, entries=entries), "s", Router(load_rules(RULES).rules))
    assert [p.data.title for p in prepared.entries] == ["a", "b"]


# --- a whole poll -------------------------------------------------------------


def test_a_poll_stores_and_publishes_the_good_items_beside_poisoned_ones(
    project: Project, feed_server: FeedServer
) -> None:
    """The issue's reproductions 1 and 2 through `poll`: the evil link and the junk markup
    cost nothing; every derived feed is written and valid."""
    body = rss(
        "<item><title>Uighur forced labour claims</title><link>http://evil.example:99999/</link>"
        '<guid isPermaLink="false">e1</guid></item>',
        "<item><title>Forced labour in cotton fields</title><link>https://example.org/cotton</link>"
        "<description>&lt;![ x</description></item>",
        "<item><title>Forced labour audit published</title><link>https://example.org/audit</link></item>",
    )
    feed_server.routes["/feed.xml"] = Response(200, body, {"Content-Type": "application/rss+xml"})
    project.write_config({"wire": feed_server.url("/feed.xml")})
    assert main(["--config", str(project.config), "poll"]) == 0
    for _ in range(2):  # and again, from the stored entries
        assert main(["--config", str(project.config), "poll", "--force"]) == 0
    document = (project.public / "forced-labour.atom").read_bytes()
    assert problems(document) == []
    titles = [e.findtext(ATOM + "title") for e in ET.fromstring(document).findall(ATOM + "entry")]
    assert sorted(titles) == [
        "Forced labour audit published",
        "Forced labour in cotton fields",
        "Uighur forced labour claims",
    ]


# --- items with nothing to publish ------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (rss(GOOD_RSS, "<item></item>"), "nothing to publish"),
        (
            rss(
                GOOD_RSS,
                '<item><guid isPermaLink="false">only-an-id</guid><pubDate>Mon, 01 Feb 2021 10:00:00 GMT</pubDate></item>',
            ),
            "nothing to publish",
        ),
        (rss(GOOD_RSS, "<item><title>  </title><description></description></item>"), "nothing to publish"),
        (
            atom(
                GOOD_ATOM,
                "<entry><id>tag:example.org,2024:empty</id><updated>2024-01-01T00:00:00Z</updated></entry>",
            ),
            "nothing to publish",
        ),
        (
            json_feed({"id": {"a": 1}, "title": ["x"], "content_html": 5}),
            "of the wrong JSON type: id (dict), title (list), content_html (int)",
        ),
        (
            json_feed({"id": "2", "url": 7, "summary": False}),
            "of the wrong JSON type: url (int), summary (bool)",
        ),
        (json_feed({"id": "3"}), "nothing to publish"),
    ],
)
def test_an_item_with_nothing_to_publish_is_dropped_and_named(document: bytes, reason: str) -> None:
    content_type = "application/feed+json" if document.startswith(b"{") else None
    feed = parse_feed(document, URL, content_type)
    assert [entry.title for entry in feed.entries] == ["Good item"]
    assert len(feed.dropped) == 1 and reason in feed.dropped[0], feed.dropped


@pytest.mark.parametrize(
    "item",
    [
        "<item><title>Only a title</title></item>",
        "<item><link>https://example.org/only-a-link</link></item>",
        "<item><description>Only a description</description></item>",
        '<item><guid isPermaLink="false">pod-1</guid><enclosure url="https://example.org/a.mp3" type="audio/mpeg" length="1"/></item>',
    ],
)
def test_an_item_with_anything_to_show_is_kept(item: str) -> None:
    feed = parse_feed(rss(GOOD_RSS, item), URL, None)
    assert len(feed.entries) == 2 and not feed.dropped
