"""republisher.sources.parse: golden feeds, hostile markup, broken bodies and the bundled sample.

Golden files: every feed in tests/data/feeds/ has `<name>.expected.json` beside it, the
FeedData that parse_feed returns (dataclasses.asdict, datetimes as ISO strings). The
expected files were checked by hand against the feed and SPEC.md; they are the spec,
not a snapshot. After an intended change, rewrite them with

    REPUBLISHER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_parse.py

and read the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from republisher.errors import ParseError
from republisher.models import EntryData, FeedData
from republisher.sources.parse import parse_feed

DATA = Path(__file__).parent / "data" / "feeds"
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "guardian-uighurs.xml"
UPDATE_GOLDEN = os.environ.get("REPUBLISHER_UPDATE_GOLDEN") == "1"
URL = "https://example.org/blog/feed.xml"

# Characters XML 1.0 forbids (written out independently of republisher.sources.parse).
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --- helpers -----------------------------------------------------------------


def as_json(feed: FeedData) -> Any:
    """FeedData as plain JSON values: tuples become lists, datetimes ISO strings."""

    def default(value: object) -> str:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"not JSON serialisable: {value!r}")

    # Which sanitizer cleaned it changes with every edit of the code: not the parse's output.
    found = {k: v for k, v in dataclasses.asdict(feed).items() if k != "sanitized_by"}
    return json.loads(json.dumps(found, default=default))


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere in a dataclass tree (keys included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


class _Markup(HTMLParser):
    """Collects tags, attributes and text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((name, value or "") for name, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def markup(fragment: str | None) -> _Markup:
    parser = _Markup()
    parser.feed(fragment or "")
    parser.close()
    return parser


def is_web_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def assert_output_rules(feed: FeedData) -> None:
    """What SPEC.md "Output" asks of every parsed feed, whatever the input."""
    for value in strings(feed):
        assert not FORBIDDEN.search(value), f"XML-forbidden character in {value!r}"
    assert is_web_url(feed.meta.self_url)
    assert feed.meta.link is None or is_web_url(feed.meta.link)
    for entry in feed.entries:
        assert entry.link is None or is_web_url(entry.link), entry.link
        for category in entry.categories:
            assert category.scheme is None or is_web_url(category.scheme), category.scheme
        for field in ("summary", "content"):
            html = markup(getattr(entry, field))
            assert not {"script", "style", "iframe", "object", "embed"} & set(html.tags), (field, html.tags)
            for name, value in html.attrs:
                assert not name.startswith("on"), f"{field}: event handler {name}={value!r}"
                if name in ("href", "src"):
                    # feedparser blanks a javascript: href to "" rather than removing it
                    assert value == "" or is_web_url(value), f"{field}: {name}={value!r}"


def rss(items: str, *, encoding: str = "UTF-8", channel: str = "") -> str:
    """A minimal RSS 2.0 document around the given <item> elements."""
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>Hostile</title><link>https://example.org/blog/</link>"
        f"<description>d</description>{channel}{items}</channel></rss>"
    )


def atom(entries: str) -> str:
    """A minimal Atom 1.0 document with xml:base, around the given <entry> elements."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://example.com/journal/">'
        "<title>Hostile</title><id>tag:example.com,2024:hostile</id>"
        f"<updated>2024-01-01T00:00:00Z</updated>{entries}</feed>"
    )


def only_entry(feed: FeedData) -> EntryData:
    assert len(feed.entries) == 1, feed.entries
    return feed.entries[0]


# --- 1. golden files ---------------------------------------------------------

# feed file -> the URL it was "fetched" from (the base for relative links without xml:base)
GOLDEN = {
    "rss20.xml": "https://example.org/blog/feed.xml",
    "rss10.rdf": "https://example.net/news/index.rdf",
    "atom.xml": "https://feeds.example.com/journal.atom",
}


@pytest.mark.parametrize(("name", "url"), GOLDEN.items(), ids=list(GOLDEN))
def test_golden_feed(name: str, url: str) -> None:
    feed = parse_feed((DATA / name).read_bytes(), url)
    expected_path = DATA / f"{name}.expected.json"
    actual = as_json(feed)
    if UPDATE_GOLDEN:
        expected_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert actual == expected
    assert_output_rules(feed)


# --- 2. hostile and sanitizing cases -----------------------------------------


def _no_active_content(feed: FeedData) -> None:
    entry = only_entry(feed)
    for field in ("summary", "content"):
        html = getattr(entry, field)
        assert html, f"{field} should survive sanitizing"
        text = "".join(markup(html).text)
        assert "alert(" not in text and "color:red" not in text and "steal()" not in html
        assert "javascript" not in html.lower()
    assert "kept" in "".join(markup(entry.content).text)


def _atom_active_content(feed: FeedData) -> None:
    entry = only_entry(feed)
    assert entry.link is None  # javascript: alternate link
    assert entry.summary == "<p>safe summary</p>"
    assert "javascript" not in (entry.content or "").lower()
    assert 'href="https://example.com/journal/rel/page"' in (entry.content or "")


def _control_chars_dropped(feed: FeedData) -> None:
    entry = only_entry(feed)
    assert entry.title == "abc"
    assert entry.summary == "xyz"
    assert [c.term for c in entry.categories] == ["cat"]
    assert entry.guid == "id-1"
    assert entry.author == "Me"


def _char_refs_dropped(feed: FeedData) -> None:
    entry = only_entry(feed)
    assert entry.title == "abcd"
    assert entry.link == "https://example.org/a"
    assert [c.term for c in entry.categories] == ["cat"]


def _surrogate_ref_dropped(feed: FeedData) -> None:
    assert only_entry(feed).title == "ab"


def _script_link_dropped(feed: FeedData) -> None:
    entry = only_entry(feed)
    assert entry.link is None
    assert entry.title == "x"


def _relative_links_absolute(feed: FeedData) -> None:
    entry = only_entry(feed)
    assert entry.link == "https://example.org/a/b"
    assert entry.summary == (
        '<a href="https://example.org/blog/c" rel="noopener noreferrer nofollow">c</a>'
        ' <img src="https://cdn.example.com/i.png">'
    )


def _protocol_relative_link(feed: FeedData) -> None:
    assert only_entry(feed).link == "https://other.example.com/p"


HOSTILE: dict[str, tuple[bytes, Callable[[FeedData], None]]] = {
    "script style iframe onclick javascript in rss": (
        rss(
            "<item><title>x</title><link>https://example.org/a</link>"
            "<description>&lt;p onclick=&quot;steal()&quot;&gt;hi&lt;/p&gt;"
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&quot;javascript:alert(2)&quot;&gt;j&lt;/a&gt;"
            "</description>"
            "<content:encoded><![CDATA[<p>kept</p><script type='text/javascript'>alert('x')</script>"
            "<style>body{color:red}</style><iframe src='https://evil.example/'></iframe>"
            "<p onclick='steal()' onmouseover='steal()'>b</p><a href='javascript:alert(1)'>j</a>"
            "<a href='JaVaScRiPt:alert(1)'>k</a><a href='  javascript:alert(2)'>l</a>"
            "<img src='x.png' onerror='steal()'>]]></content:encoded></item>"
        ).encode(),
        _no_active_content,
    ),
    "script onclick iframe javascript in atom html and xhtml": (
        atom(
            "<entry><title>x</title><id>tag:example.com,2024:1</id><updated>2024-01-01T00:00:00Z</updated>"
            '<link href="javascript:alert(1)"/>'
            '<summary type="html">&lt;p onclick="steal()"&gt;safe summary&lt;/p&gt;'
            "&lt;script&gt;alert(1)&lt;/script&gt;</summary>"
            '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
            '<p onmouseover="steal()">c</p><iframe src="https://evil.example/"></iframe>'
            '<a href="javascript:void(0)">j</a><a href="rel/page">r</a><style>p{}</style></div></content>'
            "</entry>"
        ).encode(),
        _atom_active_content,
    ),
    "control chars in cdata title author category guid": (
        rss(
            "<item><title>a\x01b\x0bc</title><link>https://example.org/a</link>"
            "<description><![CDATA[x\x01y\x0bz\x1f]]></description><author>Me\x03</author>"
            '<category>ca\x04t</category><guid isPermaLink="false">id-\x051</guid></item>'
        ).encode(),
        _control_chars_dropped,
    ),
    "numeric refs to control chars": (
        rss(
            "<item><title>a&#1;b&#x0B;c&#xFFFE;d</title><link>https://example.org/a&#1;</link>"
            "<description>x&#1;y</description><category>ca&#4;t</category></item>"
        ).encode(),
        _char_refs_dropped,
    ),
    "numeric ref to a lone surrogate": (
        rss("<item><title>a&#xD800;b</title><link>https://example.org/a</link></item>").encode(),
        _surrogate_ref_dropped,
    ),
    "javascript entry link": (
        rss(
            "<item><title>x</title><link>javascript:alert(1)</link><description>d</description></item>"
        ).encode(),
        _script_link_dropped,
    ),
    "data entry link": (
        rss(
            "<item><title>x</title><link>data:text/html,hi</link><description>d</description></item>"
        ).encode(),
        _script_link_dropped,
    ),
    "relative links": (
        rss(
            "<item><title>x</title><link>../a/b</link>"
            '<description>&lt;a href="c"&gt;c&lt;/a&gt; &lt;img src="//cdn.example.com/i.png"&gt;</description>'
            "</item>"
        ).encode(),
        _relative_links_absolute,
    ),
    "protocol-relative entry link": (
        rss("<item><title>x</title><link>//other.example.com/p</link></item>").encode(),
        _protocol_relative_link,
    ),
}


@pytest.mark.parametrize(("body", "check"), HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_feed(body: bytes, check: Callable[[FeedData], None]) -> None:
    feed = parse_feed(body, URL)
    assert_output_rules(feed)
    check(feed)


def test_guid_does_not_depend_on_the_feed_url() -> None:
    # A guid is an identifier, not a link: after a 301 the same item must keep its guid
    # (SPEC: same id across polls; docs/design.md: "a moved feed (301) keeps its ids").
    # isPermaLink defaults to true, which feedparser takes as "resolve me as a URL".
    body = rss("<item><title>x</title><guid>12345</guid><link>https://example.org/p/1</link></item>").encode()
    before = only_entry(parse_feed(body, "https://old.example.org/feed.xml"))
    after = only_entry(parse_feed(body, "https://new.example.org/rss"))
    assert before.guid == after.guid
    assert before.link == after.link == "https://example.org/p/1"


# Titles are written to Atom as text, so the parser must hand over plain text:
# entities decoded, markup of type="html"/"xhtml" titles reduced to its text.
TITLES = {
    "rss numeric refs": (
        rss("<item><title>Caf&#233; &#8216;quoted&#8217;</title></item>"),
        "Caf\u00e9 \u2018quoted\u2019",
    ),
    "rss escaped less-than": (rss("<item><title>x &lt; y &amp; z</title></item>"), "x < y & z"),
    "rss double-escaped ampersand": (rss("<item><title>Tom &amp;amp; Jerry</title></item>"), "Tom & Jerry"),
    "rss escaped markup": (rss("<item><title>A &lt;b&gt;bold&lt;/b&gt; move</title></item>"), "A bold move"),
    "atom text with literal <b>": (
        atom('<entry><id>tag:e,2024:1</id><title type="text">Less than &lt;b&gt; ideal</title></entry>'),
        "Less than <b> ideal",
    ),
    "atom html": (
        atom(
            '<entry><id>tag:e,2024:1</id><title type="html">Inside the &lt;em&gt;camps&lt;/em&gt;'
            " &amp;amp; beyond</title></entry>"
        ),
        "Inside the camps & beyond",
    ),
    "atom xhtml": (
        atom(
            '<entry><id>tag:e,2024:1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
            "Inside the <em>camps</em> &amp; beyond</div></title></entry>"
        ),
        "Inside the camps & beyond",
    ),
}


@pytest.mark.parametrize(("document", "title"), TITLES.values(), ids=list(TITLES))
def test_title_is_decoded_text(document: str, title: str) -> None:
    assert only_entry(parse_feed(document.encode(), URL)).title == title


# --- 3. broken inputs ----------------------------------------------------------

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Blog</title>"
    b"<link rel='alternate' type='application/rss+xml' href='/feed.xml'></head>"
    b"<body><h1>Welcome</h1><p>Subscribe to <a href='/feed.xml'>our feed</a>.</p></body></html>"
)
XHTML_PAGE = (
    b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\n'
    b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"'
    b' "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
    b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body><p>x</p></body></html>'
)
# Fixed "random" bytes (a PNG header, then every byte value), so failures reproduce.
GARBAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4

NOT_A_FEED = {
    "html page": (HTML_PAGE, "HTML"),
    "xhtml page with bom and xml declaration": (XHTML_PAGE, "HTML"),
    "html page after blank lines": (b"\r\n" * 400 + HTML_PAGE, "HTML"),
    "empty body": (b"", "empty body"),
    "whitespace-only body": (b" \r\n\t\n", "empty body"),
    "garbage bytes": (GARBAGE, "not an RSS, Atom or JSON feed"),
    "plain text": (
        b"hello\nthis is not a feed\n",
        "not an RSS, Atom or JSON feed (XML syntax error at line ",
    ),
    "json that is not a json feed": (b'{"hello": "world"}', "JSON, but not a JSON Feed"),
    "broken json": (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
}


@pytest.mark.parametrize(("body", "reason"), NOT_A_FEED.values(), ids=list(NOT_A_FEED))
def test_not_a_feed_is_a_parse_error(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, URL)
    assert reason in caught.value.reason
    assert caught.value.url == URL
    assert URL in str(caught.value)


FOUR_ITEMS = rss(
    "".join(
        f"<item><title>Item {i}</title><link>https://example.org/{i}</link>"
        f"<guid>https://example.org/{i}</guid><description>Body {i} text</description></item>"
        for i in range(1, 5)
    )
).encode()
LATIN = rss(
    "<item><title>R\u00e9sum\u00e9 of the caf\u00e9 week</title><link>https://example.org/1</link></item>",
    encoding="ISO-8859-1",
)


def _first_items_recovered(feed: FeedData) -> None:
    assert feed.warning, "a truncated document must say so"
    assert len(feed.entries) >= 2
    for i, entry in enumerate(feed.entries[:2], start=1):
        assert (entry.guid, entry.title, entry.link, entry.summary) == (
            f"https://example.org/{i}",
            f"Item {i}",
            f"https://example.org/{i}",
            f"Body {i} text",
        )


def _title_is_resume(feed: FeedData) -> None:
    entry = only_entry(feed)
    assert entry.title == "R\u00e9sum\u00e9 of the caf\u00e9 week"
    assert entry.link == "https://example.org/1"


def _invalid_bytes_dropped(feed: FeedData) -> None:
    title = only_entry(feed).title
    # the valid UTF-8 "é" must survive; only the two invalid bytes may go
    assert "caf\u00e9" in title, title
    assert title.startswith("caf\u00e9") and title.endswith("end"), title


def _no_entries(feed: FeedData) -> None:
    assert feed.entries == ()
    assert feed.meta.title == "Hostile"
    assert feed.warning is None


RECOVERABLE: dict[str, tuple[bytes, Callable[[FeedData], None]]] = {
    "truncated inside the third item": (
        FOUR_ITEMS[: FOUR_ITEMS.index(b"Body 3") + 3],
        _first_items_recovered,
    ),
    "latin-1 declared iso-8859-1": (LATIN.encode("latin-1"), _title_is_resume),
    "latin-1 without declaration": (
        LATIN.replace(' encoding="ISO-8859-1"', "").encode("latin-1"),
        _title_is_resume,
    ),
    # feedparser 6 tries UTF-8 when the declared charset fails to give a clean parse
    "utf-8 bytes declared iso-8859-1": (LATIN.encode("utf-8"), _title_is_resume),
    "invalid utf-8 bytes in a utf-8 feed": (
        rss("<item><title>caf\u00e9 @@ end</title><link>https://example.org/1</link></item>")
        .encode("utf-8")
        .replace(b"@@", b"\xff\xfe"),
        _invalid_bytes_dropped,
    ),
    "valid feed with no items": (rss("").encode(), _no_entries),
}


@pytest.mark.parametrize(("body", "check"), RECOVERABLE.values(), ids=list(RECOVERABLE))
def test_broken_but_recoverable(body: bytes, check: Callable[[FeedData], None]) -> None:
    feed = parse_feed(body, URL)
    assert_output_rules(feed)
    check(feed)


# --- 4. the bundled Guardian sample ------------------------------------------


def test_guardian_sample() -> None:
    url = "https://www.theguardian.com/world/uighurs/rss"
    feed = parse_feed(SAMPLE.read_bytes(), url, "application/rss+xml; charset=UTF-8")
    assert_output_rules(feed)
    assert feed.warning is None
    assert feed.meta.title == "Uighurs | The Guardian"
    assert feed.meta.self_url == url
    assert feed.meta.link == "https://www.theguardian.com/world/uighurs"
    assert len(feed.entries) == 20
    problems = []
    for n, entry in enumerate(feed.entries):
        if not entry.guid:
            problems.append(f"{n}: no guid")
        if not (entry.link and entry.link.startswith("https://www.theguardian.com/")):
            problems.append(f"{n}: link {entry.link!r}")
        if not entry.author:
            problems.append(f"{n}: no author")
        if len(entry.categories) < 3:
            problems.append(f"{n}: {len(entry.categories)} categories")
        if entry.published is None or entry.published.utcoffset() is None:
            problems.append(f"{n}: published {entry.published!r}")
        if "Continue reading" not in (entry.summary or ""):
            problems.append(f"{n}: summary {entry.summary!r:.60}")
    assert problems == []
    assert len({entry.guid for entry in feed.entries}) == 20
    first = feed.entries[0]
    assert first.title == "Smile for the camera: dark side of China\u2019s emotion-recognition tech"
    assert first.published is not None and first.published.isoformat() == "2021-03-04T06:00:19+00:00"
    assert first.categories[1].term == "Surveillance"
    assert first.categories[1].scheme == "https://www.theguardian.com/world/surveillance"


ENTITY_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE rss SYSTEM "<!--" [<!ENTITY a "{payload}"> <!ENTITY z "-->">]>'
    '<rss version="2.0"><channel><title>t</title><item><title>&a;&a;&a;</title>'
    "<link>https://example.org/1</link></item></channel></rss>"
)


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
)
def test_entity_declarations_are_refused_however_they_hide(encoding: str) -> None:
    """A DOCTYPE literal that opens a fake comment, in every encoding XML allows."""
    body = ENTITY_BOMB.format(payload="x" * 1000).encode(encoding)
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_feed(body, "https://example.org/feed")


def test_escaped_entity_text_in_an_article_is_fine() -> None:
    body = rss(
        "<item><title>How XML works</title><link>https://example.org/x</link>"
        "<description>Write &amp;lt;!ENTITY name &amp;quot;value&amp;quot;&amp;gt;</description></item>"
    ).encode()
    assert parse_feed(body, "https://example.org/feed").entries[0].title == "How XML works"
