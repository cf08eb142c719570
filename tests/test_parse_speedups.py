"""parse.py speeds feedparser up without changing what it returns: a memo of its URL joins,
fast paths in its dict for ordinary keys and a plain copy of its text details. Every
document here gives the same feedparser result, and the same FeedData, with feedparser's
own functions put back."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import feedparser  # tests may use it: this compares parse.py's feedparser with the original
import feedparser.mixin
import feedparser.urls
import feedparser.util
import pytest

from republisher.sources import parse
from republisher.sources.parse import parse_feed

REPO = Path(__file__).resolve().parent.parent
URL = "https://news.example/dir/feed.xml?token=1"


@contextmanager
def original_feedparser() -> Iterator[None]:
    """feedparser as installed (parse.py's corrections of its behaviour stay)."""
    fpd = feedparser.util.FeedParserDict
    patched = (fpd.__getitem__, fpd.get, fpd.__contains__, fpd.__setitem__)
    mixin = (feedparser.mixin.copy, feedparser.mixin.make_safe_absolute_uri, feedparser.mixin._urljoin)
    fpd.__getitem__, fpd.get = parse._special_getitem, parse._special_get
    fpd.__contains__, fpd.__setitem__ = parse._special_contains, parse._special_setitem
    feedparser.mixin.copy = copy
    feedparser.mixin.make_safe_absolute_uri = feedparser.urls.make_safe_absolute_uri
    feedparser.mixin._urljoin = feedparser.urls._urljoin
    try:
        yield
    finally:
        fpd.__getitem__, fpd.get, fpd.__contains__, fpd.__setitem__ = patched
        feedparser.mixin.copy, feedparser.mixin.make_safe_absolute_uri, feedparser.mixin._urljoin = mixin


def plain(value: Any) -> Any:
    """feedparser's result as plain data: dicts (their type too), lists, and the bozo
    exception by its type and message (exceptions compare by identity)."""
    if isinstance(value, dict):
        return (type(value).__name__, {k: plain(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)) and not hasattr(value, "tm_year"):
        return [plain(v) for v in value]
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value))
    return value


def raw(body: bytes, url: str = URL) -> Any:
    headers = {"content-location": url, "content-type": "application/xml"}
    return plain(
        feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    )


ATOM = '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" {attrs}>{body}</feed>'
RSS = '<?xml version="1.0"?><rss version="2.0" {attrs}><channel>{body}</channel></rss>'
MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/"'

# Documents that walk feedparser's special keys, copies and base URIs.
TRICKY = {
    "xml:base nesting": ATOM.format(
        attrs='xml:base="https://a.example/x/"',
        body='<title type="html">A &amp;lt;b&amp;gt;</title><id>tag:a,2021:f</id><updated>2021-03-01T00:00:00Z</updated>'
        '<link rel="self" href="feed.xml"/><entry xml:base="../y/"><id>e1</id><title type="xhtml">'
        '<div xmlns="http://www.w3.org/1999/xhtml">X <b>bold</b></div></title><link href="p1"/>'
        '<link rel="enclosure" href="a.mp3" type="audio/mpeg" length="12"/>'
        '<content type="xhtml" xml:base="/z/"><div xmlns="http://www.w3.org/1999/xhtml"><a href="q">q</a></div></content>'
        '<summary type="text">S &lt;b&gt;</summary><published>2021-03-01T10:00:00+01:00</published>'
        "<author><name>Ana</name><email>ana@a.example</email><uri>/ana</uri></author>"
        '<category term="World" scheme="https://a.example/c" label="World news"/><category term="World"/>'
        "<source><id>tag:s,2021:s</id><title>Src</title></source></entry>",
    ),
    "rss keymap and guid": RSS.format(
        attrs=MEDIA,
        body="<title>T &amp; co</title><link>https://b.example/</link><description>Desc</description>"
        "<lastBuildDate>Mon, 01 Mar 2021 10:00:00 GMT</lastBuildDate><managingEditor>ed@b.example (Ed)</managingEditor>"
        "<image><url>https://b.example/i.png</url><title>Img</title><link>https://b.example/</link></image>"
        "<textInput><title>TI</title><name>q</name><link>https://b.example/s</link></textInput>"
        '<item><title>One &lt;em&gt;x&lt;/em&gt;</title><guid isPermaLink="true">https://b.example/1</guid>'
        "<description>&lt;p&gt;Summary&lt;/p&gt;</description><content:encoded><![CDATA[<p>Full</p>]]></content:encoded>"
        "<dc:date>2021-03-01T09:00:00Z</dc:date><dc:creator>Bo</dc:creator><category domain='https://b.example/c'>News</category>"
        '<enclosure url="/e.mp3" type="audio/mpeg" length="99"/><media:content url="https://b.example/m.jpg" type="image/jpeg"/>'
        '<media:thumbnail url="t.jpg"/><source url="https://other.example/rss">Other</source></item>'
        '<item><guid isPermaLink="false">42</guid><title>Two</title><link>/two?a=1&amp;b=2</link>'
        "<pubDate>Tue, 02 Mar 2021 10:00:00 +0100</pubDate><author>jo@b.example (Jo)</author></item>",
    ),
    "rss 1.0": (REPO / "tests" / "data" / "feeds" / "rss10.rdf").read_text(encoding="utf-8"),
    "mojibake and cp1252": RSS.format(
        attrs="",
        body="<title>CafÃ© \u0093quoted\u0094</title><item><title>Ã©t\u0080</title><link>https://c.example/1</link></item>",
    ),
    "broken xml, loose parser": "<rss version='2.0'><channel><title>Cut<item><title>A & B</title><link>https://d.example/1</link>",
    "not a feed": "<!DOCTYPE html><html><body>Hello</body></html>",
}


def documents() -> Iterator[tuple[str, bytes]]:
    for name, text in TRICKY.items():
        yield name, text.encode()
    for path in sorted((REPO / "tests" / "data" / "feeds").glob("*.*")):
        if path.suffix in (".xml", ".rdf"):
            yield path.name, path.read_bytes()
    yield "sample", (REPO / "samples" / "guardian-uighurs.xml").read_bytes()
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import peer_bench
    finally:
        sys.path.remove(str(REPO / "bench"))
    corpus = peer_bench.generate_corpus(4, 20, 10, lambda path: f"https://bench.example{path}")
    for path, (body, _) in corpus.feeds.items():
        yield path, body


@pytest.mark.parametrize(("name", "body"), list(documents()), ids=[name for name, _ in documents()])
def test_feedparser_returns_what_it_returned(name: str, body: bytes) -> None:
    fast = raw(body)
    with original_feedparser():
        slow = raw(body)
    assert fast == slow
    try:
        fast_feed = parse_feed(body, URL, "application/xml")
    except Exception as e:  # not a feed: the same refusal
        with original_feedparser(), pytest.raises(type(e)):
            parse_feed(body, URL, "application/xml")
        return
    with original_feedparser():
        assert parse_feed(body, URL, "application/xml") == fast_feed


def test_special_keys_still_behave_as_feedparser_says() -> None:
    d = feedparser.util.FeedParserDict()
    d["description"] = "aliased"
    assert dict(d) == {"summary": "aliased"} and d["description"] == "aliased"
    d["links"] = [feedparser.util.FeedParserDict(rel="enclosure", href="h")]
    assert d.get("enclosures") == [{"href": "h"}]
    d["published_parsed"] = (2021,)
    assert "updated_parsed" not in d
    with pytest.deprecated_call():  # feedparser's own warning for this old alias
        assert d.get("updated_parsed") == (2021,)
    assert d.get("missing", 3) == 3 and "missing" not in d
    with pytest.raises(KeyError):
        d["missing"]
