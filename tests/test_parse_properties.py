"""Property: good items survive any junk beside them (SPEC "Containment").

Hypothesis builds RSS, Atom and JSON Feed documents from a few good items and random
junk items (bad URLs, absurd or garbled dates, fields of the wrong JSON type, hostile
or broken markup, character references to forbidden code points, odd document
encodings) and checks, through parse_feed and prepare_feed:

- no exception escapes;
- every good item comes out, with its title and link;
- every other item is either kept (and then its HTML is sanitized, its link a valid URL,
  its dates plausible, its text free of XML-forbidden characters) or named in `dropped`.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_source_xss import VECTORS, unsafe

from republisher.models import FeedData, PreparedFeed
from republisher.routing.router import Router
from republisher.routing.rules import load_rules
from republisher.sources import identity
from republisher.sources.parse import parse_feed
from republisher.sources.prepare import prepare_feed

URL = "https://example.org/feed"
ROUTER = Router(load_rules(Path(__file__).parent / "data" / "rules").rules)
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BAD_URLS = [
    "http://evil.example:99999/",
    "http://[::1/",
    "http://[evil]/x",
    "https://exa mple.org/",
    "javascript:alert(1)",
    "data:text/html,x",
    "//",
    "http://:80/",
    "https://example.org/a b|c%zz",
    "file:///etc/passwd",
    "",
]
BAD_DATES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0005-01-01T00:00:00Z",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "Fri, 31 Dec 9999 23:59:59 -0100",
    "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
    "2024-13-45T99:99:99Z",
    "yesterday",
    "",
]
BROKEN_MARKUP = [
    "<![ x",
    "<![x y",
    "<![ x ]]>",
    "<!x",
    "</",
    "<a<b",
    "&",
    "&#99999999999;",
    "<p",
    "<!--",
    "<?x",
]
CHAR_REFS = ["&#1;", "&#x0B;", "&#xD800;", "&#xFFFE;", "&#x110000;", "&#99999999999;", "&#0000065;"]

# Text for XML documents: any character XML can carry (forbidden ones come as references).
xml_text = st.text(
    st.characters(exclude_categories=("Cs",)).filter(lambda c: not FORBIDDEN.match(c)), max_size=40
)
url = st.sampled_from(BAD_URLS) | xml_text
date = st.sampled_from(BAD_DATES) | xml_text
markup = st.sampled_from([*VECTORS.values(), *BROKEN_MARKUP]) | xml_text
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def junk_xml_item(draw: st.DrawFn) -> dict[str, str]:
    """An item's fields as XML-ready text: each may be junk, escaped as the format requires."""
    fields = {
        "title": draw(xml_text | st.sampled_from(CHAR_REFS)),
        "link": draw(url),
        "guid": draw(xml_text | st.sampled_from(["urn:uuid:1234", "tag:Bad,2024-13:x", "http://h:99999/"])),
        "date": draw(date),
        "summary": draw(markup),
        "content": draw(markup),
        "type": draw(
            st.sampled_from(
                ["html", "text", "xhtml", "text/xml", "application/xml", "text/html; charset=utf-8", "x/y"]
            )
        ),
    }
    if fields["guid"].startswith("good-"):
        fields["guid"] = "junk"
    return fields


def good_items(count: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"Good item {n}",
            "guid": f"good-{n}",
            "link": f"https://example.org/good/{n}",
            "summary": f"<p>Body {n}</p>",
        }
        for n in range(count)
    ]


def esc(value: str) -> str:
    """Escape for XML text, keeping the few character references we generate on purpose."""
    return value if value in CHAR_REFS else html.escape(value)


def rss_document(items: list[dict[str, str]]) -> str:
    parts = []
    for item in items:
        parts.append(
            f"<item><title>{esc(item['title'])}</title><link>{esc(item['link'])}</link>"
            f'<guid isPermaLink="false">{esc(item["guid"])}</guid>'
            f"<pubDate>{esc(item.get('date', 'Mon, 04 Mar 2024 06:00:19 GMT'))}</pubDate>"
            f"<description>{html.escape(item['summary'])}</description>"
            + (
                f"<content:encoded>{html.escape(item['content'])}</content:encoded>"
                if "content" in item
                else ""
            )
            + "</item>"
        )
    return (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>P</title><link>https://example.org/</link>{''.join(parts)}</channel></rss>"
    )


def atom_document(items: list[dict[str, str]]) -> str:
    parts = []
    for item in items:
        kind = item.get("type", "html")
        parts.append(
            f"<entry><title>{esc(item['title'])}</title><id>{esc(item['guid'])}</id>"
            f'<link href="{html.escape(item["link"])}"/>'
            f"<updated>{esc(item.get('date', '2024-03-04T06:00:19Z'))}</updated>"
            f'<summary type="{kind}">{html.escape(item["summary"])}</summary>'
            + (
                f'<content type="{kind}">{html.escape(item["content"])}</content>'
                if "content" in item
                else ""
            )
            + "</entry>"
        )
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>P</title><id>tag:example.org,2024:p</id>'
        f"<updated>2024-01-01T00:00:00Z</updated>{''.join(parts)}</feed>"
    )


def encode(document: str, encoding: str) -> bytes:
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{document}'.encode(
        encoding, errors="xmlcharrefreplace"
    )


def check(body: bytes, good: list[dict[str, str]], total: int, content_type: str | None = None) -> None:
    parsed = parse_feed(body, URL, content_type)
    prepared = prepare_feed(parsed, "source", ROUTER)
    kept = {p.data.guid: p.data for p in prepared.entries}
    for item in good:
        entry = kept.get(item["guid"])
        assert entry is not None, f"good item {item['guid']} lost; dropped: {prepared.dropped}"
        assert (entry.title, entry.link) == (item["title"], item["link"])
    # every item is kept, dropped and named, or a duplicate of a kept one (same key)
    distinct = len({identity.entry_key(e) for e in parsed.entries})
    assert len(parsed.entries) + len(parsed.dropped) == total, parsed.dropped
    assert len(prepared.entries) + len(prepared.dropped) - len(parsed.dropped) == distinct
    assert_safe(parsed, prepared)


def assert_safe(parsed: FeedData, prepared: PreparedFeed) -> None:
    for entry in parsed.entries:
        for field in ("summary", "content"):
            assert unsafe(getattr(entry, field)) == [], getattr(entry, field)
        if entry.link is not None:
            parts = urlsplit(entry.link)
            assert parts.scheme in ("http", "https") and parts.hostname and parts.port != 0
        for when in (entry.published, entry.updated):
            assert when is None or (isinstance(when, datetime) and 1900 <= when.year <= 9000)
        for value in (entry.title, entry.guid, entry.link, entry.summary, entry.content, entry.author):
            assert value is None or not FORBIDDEN.search(value)
    assert all(isinstance(line, str) and line for line in prepared.dropped)


@st.composite
def xml_case(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[dict[str, str]], str]:
    good = good_items(draw(st.integers(1, 3)))
    junk = draw(st.lists(junk_xml_item(), max_size=4))
    order = draw(st.permutations([*good, *junk]))
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "iso-8859-1", "windows-1252"]))
    return good, order, encoding


@SETTINGS
@given(xml_case())
def test_rss_good_items_survive_junk(case: tuple[list[dict[str, str]], list[dict[str, str]], str]) -> None:
    good, items, encoding = case
    check(encode(rss_document(items), encoding), good, len(items))


@SETTINGS
@given(xml_case())
def test_atom_good_items_survive_junk(case: tuple[list[dict[str, str]], list[dict[str, str]], str]) -> None:
    good, items, encoding = case
    check(encode(atom_document(items), encoding), good, len(items))


JSON_FIELDS = [
    "id",
    "url",
    "external_url",
    "title",
    "content_html",
    "content_text",
    "summary",
    "date_published",
    "date_modified",
    "tags",
    "authors",
    "author",
]


@st.composite
def junk_json_item(draw: st.DrawFn) -> Any:
    """An item whose fields are junk of any JSON type, or not an object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_value)
    choices = {
        "url": st.sampled_from(BAD_URLS),
        "external_url": st.sampled_from(BAD_URLS),
        "date_published": st.sampled_from(BAD_DATES),
        "date_modified": st.sampled_from(BAD_DATES),
        "content_html": st.sampled_from([*VECTORS.values(), *BROKEN_MARKUP]),
        "summary": st.sampled_from(list(VECTORS.values())),
    }
    item = {}
    for name in draw(st.lists(st.sampled_from(JSON_FIELDS), unique=True, max_size=6)):
        item[name] = draw(choices.get(name, json_value) | json_value)
    if isinstance(item.get("id"), str) and item["id"].startswith("good-"):
        item["id"] = "junk"
    return item


@SETTINGS
@given(st.integers(1, 3), st.lists(junk_json_item(), max_size=4), st.randoms())
def test_json_feed_good_items_survive_junk(count: int, junk: list[Any], random: Any) -> None:
    good = good_items(count)
    items: list[Any] = [
        {"id": g["guid"], "title": g["title"], "url": g["link"], "content_html": g["summary"]} for g in good
    ]
    items += junk
    random.shuffle(items)
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "P", "items": items}
    body = json.dumps(document, allow_nan=True).encode()
    check(body, good, len(items), "application/feed+json")
