"""A stored entry can never stop a publish, and nothing published is invalid or private.

Entries are built directly (as a store written by any older version may hold them) and
rendered through every output: Atom, JSON Feed, index.html and index.opml.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import html5lib
import pytest
from conformance import ATOM, problems
from conftest import FeedServer, Project, Response

from republisher.cli import main
from republisher.config import load_config
from republisher.models import Category, EntryData, SourceMeta, StoredEntry
from republisher.publish import atom, pages, public, publisher
from republisher.publish.atom import render_feed
from republisher.publish.jsonfeed import render_json_feed
from republisher.publish.public import public_url
from republisher.publish.site import feed_summary, render_html, render_opml
from republisher.publish.stories import Story, merge_stories
from republisher.routing.rules import Rule
from republisher.store.store import EntryWrite, Store

BASE = "https://feeds.example.org/topics/"
T0 = datetime(2021, 3, 1, 12, tzinfo=UTC)
ORIGIN = SourceMeta(
    "Wire", "https://wire.example/", "https://wire.example/rss", "https://wire.example/", None
)


def rule(**changes: Any) -> Rule:
    fields: dict[str, Any] = {
        "slug": "topic",
        "path": Path("rules/topic.toml"),
        "title": "Topic",
        "subtitle": "All about the topic",
        "sources": None,
        "match": None,
        "unrouted": True,
        "examples": (),
    }
    fields.update(changes)
    return Rule(**fields)


def stored(key: str, origin: SourceMeta = ORIGIN, *, hours: float = 0, **data: Any) -> StoredEntry:
    fields: dict[str, Any] = {
        "guid": key,
        "title": f"Story {key} about sanctions on officials",
        "link": f"https://wire.example/{key}",
        "summary": f"<p>Body of {key}.</p>",
        "content": None,
        "author": None,
        "published": T0 - timedelta(hours=hours),
    }
    fields.update(data)
    seen = T0 - timedelta(hours=hours) + timedelta(minutes=5)
    return StoredEntry("wire", key, f"urn:test:{key}", seen, seen, EntryData(**fields), origin)


def outputs(entries: list[StoredEntry], the_rule: Rule | None = None) -> dict[str, bytes]:
    """Every output the publish stage writes for these entries, merged as a feed would be."""
    the_rule = the_rule or rule()
    merged = merge_stories(entries)
    summary = feed_summary(the_rule, merged, len(entries), T0)
    return {
        "atom": render_feed(the_rule, merged, BASE, T0),
        "json": render_json_feed(the_rule, merged, BASE),
        "html": render_html([summary], BASE),
        "opml": render_opml([summary], BASE),
    }


def atom_ids(document: bytes) -> list[str]:
    return [e.findtext(ATOM + "id") or "" for e in ET.fromstring(document).iter(ATOM + "entry")]


def assert_valid(documents: dict[str, bytes]) -> None:
    assert problems(documents["atom"]) == []
    json.loads(documents["json"])
    parser = html5lib.HTMLParser(strict=True)
    parser.parse(documents["html"])
    ET.fromstring(documents["opml"])
    for name, document in documents.items():
        # Every date written has a 4-digit year from 1900 on (never "5-01-01T00:00:00Z").
        for year in re.findall(rb"\b(\d{1,5})-\d\d-\d\dT\d\d:\d\d", document):
            assert len(year) == 4 and int(year) >= 1900, (name, year)


HOSTILE: dict[str, dict[str, Any]] = {
    "port out of range": {"link": "http://evil.example:99999/"},
    "unclosed IPv6 host": {"link": "http://[::1"},
    "javascript link": {"link": "javascript:alert(1)"},
    "link with control characters": {"link": "https://wire.example/a\x00\x01b"},
    "link with spaces": {"link": "https://wire.example/a b"},
    "link without host": {"link": "http:///path"},
    "huge link": {"link": "https://wire.example/" + "a" * 100_000},
    "title with control characters": {"title": "Surveillance \x01\x02\x1b of officials \x7f"},
    "title with a lone surrogate": {"title": "Broken \ud800 title about officials"},
    "100 KB title": {"title": "Sanctions " * 10_000},
    "empty title": {"title": "", "summary": None, "link": None},
    "summary with control characters": {"summary": "<p>a\x00b\x01c</p>"},
    "author with control characters": {"author": "\x0bName\x0c"},
    "year 1 with an offset": {"published": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))},
    "year 9999 with a negative offset": {
        "published": datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
    },
    "year 5": {"published": datetime(5, 1, 1, tzinfo=UTC), "updated": datetime(5, 1, 1, tzinfo=UTC)},
    "year 9999": {"updated": datetime(9999, 12, 31, tzinfo=UTC)},
    "naive date": {"published": datetime(2021, 3, 1, 11)},
    "odd offset": {"published": datetime(2021, 3, 1, 11, tzinfo=timezone(timedelta(hours=5, seconds=17)))},
    "bad categories": {
        "categories": (Category("\x01"), Category("ok\x02", scheme="not a scheme", label="\x03l"))
    },
}


@pytest.mark.parametrize("fields", HOSTILE.values(), ids=list(HOSTILE))
def test_a_hostile_entry_never_stops_a_publish(fields: dict[str, Any]) -> None:
    good = stored("good", hours=1)
    bad = stored("bad", **fields)
    documents = outputs([bad, good])
    assert_valid(documents)
    assert "urn:test:good" in atom_ids(documents["atom"])
    assert "urn:test:good" in [i["id"] for i in json.loads(documents["json"])["items"]]
    assert b"Story good" in documents["html"]


def test_hostile_stored_times_are_dropped_or_skipped(caplog: pytest.LogCaptureFixture) -> None:
    naive = stored("naive", hours=2)
    naive = replace(naive, first_seen=naive.first_seen.replace(tzinfo=None))
    ancient = replace(stored("ancient", hours=3), first_seen=datetime(1, 1, 1, tzinfo=UTC))
    good = stored("good", hours=1)
    with caplog.at_level(logging.WARNING):
        documents = outputs([ancient, naive, good])
    assert_valid(documents)
    assert atom_ids(documents["atom"]) == ["urn:test:good", "urn:test:naive"]
    assert "wire: entry ancient not published" in caplog.text


def test_the_issue_reproduction_publishes_its_neighbours() -> None:
    poisoned = stored("e1", title="Uighur forced labour claims", link="http://evil.example:99999/")
    documents = outputs([poisoned, stored("good", hours=1)])
    assert_valid(documents)
    assert atom_ids(documents["atom"]) == ["urn:test:e1", "urn:test:good"]
    assert b"99999" not in documents["atom"], "a link urllib cannot read is not published"


def test_an_entry_that_fails_to_render_is_skipped_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Whatever gets past the cleaning, lxml's refusal costs that entry only.
    real = public.public_entry

    def leaky(story: Story) -> public.PublicEntry:
        entry = real(story)
        return replace(entry, title="bad \x01") if story.entry.key == "bad" else entry

    monkeypatch.setattr(public, "public_entry", leaky)
    with caplog.at_level(logging.WARNING):
        document = render_feed(rule(), [Story(stored("bad")), Story(stored("good", hours=1))], BASE, T0)
    assert problems(document) == []
    assert atom_ids(document) == ["urn:test:good"]
    assert "wire: entry bad not published" in caplog.text


def fail_for_bad(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> None:
    """Make module.name (a function of one PublicEntry) raise for the entry keyed "bad"."""
    real = getattr(module, name)

    def failing(entry: public.PublicEntry) -> Any:
        if entry.key == "bad":
            raise RuntimeError("boom")
        return real(entry)

    monkeypatch.setattr(module, name, failing)


def test_an_entry_that_raises_while_built_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    fail_for_bad(monkeypatch, atom, "entry_parts")
    document = render_feed(rule(), [Story(stored("bad")), Story(stored("good", hours=1))], BASE, T0)
    assert atom_ids(document) == ["urn:test:good"]


def test_an_id_that_is_not_an_iri_is_skipped() -> None:
    bad = replace(stored("bad"), atom_id="not an id\x01")
    assert atom_ids(outputs([bad, stored("good", hours=1)])["atom"]) == ["urn:test:good"]


def test_rule_text_xml_cannot_carry_is_dropped() -> None:
    documents = outputs([stored("good")], rule(title="Surveillance \x01", subtitle="Sub\x02title \ud800"))
    assert_valid(documents)
    root = ET.fromstring(documents["atom"])
    assert root.findtext(ATOM + "title") == "Surveillance"
    assert root.findtext(ATOM + "subtitle") == "Subtitle"
    assert json.loads(documents["json"])["title"] == "Surveillance"


def test_two_stories_with_one_id_publish_the_first_only(caplog: pytest.LogCaptureFixture) -> None:
    first = stored("a")
    second = replace(stored("b", hours=1), atom_id=first.atom_id)
    merged = [Story(first), Story(second)]  # as merge_duplicates = false passes them
    with caplog.at_level(logging.WARNING):
        document = render_feed(rule(), merged, BASE, T0)
    assert atom_ids(document) == ["urn:test:a"]
    feed = json.loads(render_json_feed(rule(), merged, BASE))
    assert [i["id"] for i in feed["items"]] == ["urn:test:a"]
    assert "already in the feed" in caplog.text


def test_dates_are_published_in_utc_with_four_digit_years() -> None:
    offset = timezone(timedelta(hours=2))
    entry = stored(
        "a", published=datetime(2021, 3, 1, 12, tzinfo=offset), updated=datetime(5, 1, 1, tzinfo=UTC)
    )
    documents = outputs([entry])
    assert_valid(documents)
    published = ET.fromstring(documents["atom"]).find(f"{ATOM}entry/{ATOM}published")
    assert published is not None and published.text == "2021-03-01T10:00:00+00:00"
    assert b'<time datetime="2021-03-01T10:00:00Z">2021-03-01</time>' in documents["html"]


def test_a_feed_with_only_absurd_dates_still_has_an_updated_time() -> None:
    document = render_feed(rule(), [], BASE, datetime(5, 1, 1, tzinfo=UTC))
    assert problems(document) == []
    assert (ET.fromstring(document).findtext(ATOM + "updated") or "").startswith("1900-01-01")


# --- nothing private ----------------------------------------------------------------------

SECRET_URLS = {
    "password": "http://alice:s3cret@wire.example/rss",
    "api key": "http://wire.example/rss?api_key=SECRET123",
    "both": "http://alice:s3cret@wire.example/rss?api_key=SECRET123&format=rss",
}


@pytest.mark.parametrize("url", SECRET_URLS.values(), ids=list(SECRET_URLS))
def test_a_private_source_url_appears_nowhere(url: str) -> None:
    # A feed with no title, no id and relative links: everything fell back to the polled URL.
    origin = SourceMeta(title=url, id=url, self_url=url, link=url.replace("/rss", "/"), updated=None)
    entry = stored(
        "a",
        origin,
        link=url + "#item-1",
        title="",
        summary=f'<p><a href="{url.replace("&", "&amp;")}#top">top</a> <img src="{url}&amp;x=1"></p>',
        categories=(Category("tag", scheme=url),),
    )
    other = stored("b", origin, hours=1, link=url.replace("/rss", "/item-2"))
    for name, document in outputs([entry, other]).items():
        assert b"s3cret" not in document, name
        assert b"SECRET123" not in document, name
        assert b"alice" not in document, name


def test_atom_source_self_link_is_the_polled_url_only_when_public() -> None:
    def self_links(origin: SourceMeta) -> list[str | None]:
        root = ET.fromstring(render_feed(rule(), [Story(stored("a", origin))], BASE, T0))
        return [
            link.get("href")
            for link in root.iter(ATOM + "link")
            if link.get("rel") == "self" and link.get("href") != BASE + "topic.atom"
        ]

    plain = replace(ORIGIN, self_url="https://wire.example/rss")
    assert self_links(plain) == ["https://wire.example/rss"]
    # A URL that carries a password is never published, not even with the password cut.
    assert self_links(replace(ORIGIN, self_url="https://bob:pw@wire.example/rss")) == []
    assert self_links(replace(ORIGIN, self_url="https://bob@wire.example/rss")) == [
        "https://wire.example/rss"
    ]
    assert self_links(replace(ORIGIN, self_url="https://wire.example/rss?token=1")) == []
    assert self_links(replace(ORIGIN, self_url="file:///home/me/samples/feed.xml")) == []
    assert self_links(replace(ORIGIN, self_url="/home/me/samples/feed.xml")) == []


def test_a_file_source_publishes_no_local_path() -> None:
    path = "file:///home/me/private/samples/guardian.xml"
    origin = SourceMeta(title=path, id=path, self_url=path, link=None, updated=None)
    for name, document in outputs([stored("a", origin)]).items():
        assert b"/home/me" not in document, name
    source = ET.fromstring(outputs([stored("a", origin)])["atom"]).find(f"{ATOM}entry/{ATOM}source")
    assert source is not None
    assert source.findtext(ATOM + "title") == "guardian.xml"
    assert (source.findtext(ATOM + "id") or "").startswith("urn:uuid:")


@pytest.mark.parametrize("title", ["http://", "https://?token=x", "file:", "/", "  ", "https:///"])
def test_a_source_title_that_names_nothing_is_published_as_untitled(title: str) -> None:
    """A feed's title is the only name its entries have when they name no author: it is
    never published empty (an empty atom:source title, an entry without an author)."""
    origin = SourceMeta(title=title, id="tag:wire.example,2021:feed", self_url="", link=None, updated=None)
    documents = outputs([stored("a", origin)])
    assert_valid(documents)
    entry = ET.fromstring(documents["atom"]).find(ATOM + "entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}source/{ATOM}title") == "(untitled source)"
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "(untitled source)"


@pytest.mark.parametrize(
    "given", ["javascript:alert(1)", "JavaScript:alert(1)", "vbscript:msgbox(1)", "data:text/plain,hello"]
)
def test_an_id_that_would_run_as_a_link_is_published_hashed(given: str) -> None:
    """Entry and source ids are not links, but some readers follow an entry's id when it has
    no link: an id in a scheme that runs something is published as a stable urn:uuid."""
    origin = replace(ORIGIN, id=given)
    entry = replace(stored("a", origin, link=None), atom_id=given)
    documents = [outputs([entry])["atom"] for _ in range(2)]
    assert documents[0] == documents[1]  # the same id at every publish
    assert given.encode() not in documents[0] and given.lower().encode() not in documents[0].lower()
    root = ET.fromstring(documents[0])
    assert (root.findtext(f"{ATOM}entry/{ATOM}id") or "").startswith("urn:uuid:")
    assert (root.findtext(f"{ATOM}entry/{ATOM}source/{ATOM}id") or "").startswith("urn:uuid:")
    kept = outputs(
        [replace(stored("b", replace(ORIGIN, id="tag:wire.example,2021:feed")), atom_id="tag:x,2021:b")]
    )
    assert atom_ids(kept["atom"]) == ["tag:x,2021:b"]
    assert b"<id>tag:wire.example,2021:feed</id>" in kept["atom"]


def test_an_entry_whose_page_article_fails_leaves_only_itself_out(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fail_for_bad(monkeypatch, pages, "_article_body")
    entries = public.public_entries([Story(stored("bad")), Story(stored("good", hours=1))])
    with caplog.at_level(logging.WARNING):
        page = pages.render_page_entries(rule(), entries, BASE, routed=2, represented=2).decode()
    assert "Story good" in page and "Story bad" not in page
    assert 'id="story-1"' in page and 'id="story-2"' not in page  # numbered as shown
    assert "wire: entry bad not published" in caplog.text


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://wire.example/a?id=1#x", "https://wire.example/a?id=1#x"),
        ("https://u:p@wire.example/a", "https://wire.example/a"),
        ("https://wire.example/a b", "https://wire.example/a%20b"),
        ("ftp://wire.example/a", None),
        ("javascript:alert(1)", None),
        ("http://evil.example:99999/", None),
        ("http://[::1", None),
        ("file:///etc/passwd", None),
        ("/etc/passwd", None),
        ("", None),
    ],
)
def test_public_url(url: str, public: str | None) -> None:
    assert public_url(url) == public


# --- end to end: a poisoned store, as an older version may have left it ----------------------

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>wire</title><link>https://wire.example/</link>
<description>d</description>
<item><title>EU imposes sanctions on Chinese officials</title><link>https://wire.example/eu</link>
<guid>w1</guid><description>Body.</description><pubDate>Mon, 01 Mar 2021 10:00:00 GMT</pubDate></item>
</channel></rss>"""


def poison(state_dir: Path) -> None:
    """Entries routed to diplomacy that the publish stage must survive, written directly."""
    secret = "http://alice:s3cret@wire.example/rss?api_key=SECRET123"
    origin = SourceMeta(secret, secret, secret, None, None)
    entries = [
        stored("port", origin, title="Uighur forced labour claims", link="http://evil.example:99999/"),
        stored("ipv6", origin, title="Sanctions story", link="http://[::1"),
        stored("ctl", origin, title="Sanctions \x0b story", author="x\x0c"),
        stored("year5", origin, title="Sanctions of year five", published=datetime(5, 1, 1, tzinfo=UTC)),
        stored(
            "xss",
            origin,
            title="Sanctions with a script",
            summary="<script>alert(1)</script><svg onload=alert(1)>",
        ),
    ]
    with Store.open(state_dir) as store, store.transaction():
        rejected = store.put_entries(EntryWrite(e, f"hash-{e.key}", ("diplomacy",)) for e in entries)
        publisher.mark_unpublished(store)  # as a poll storing them would
    assert rejected == []


def test_a_poisoned_store_never_stops_publishing(project: Project, feed_server: FeedServer) -> None:
    feed_server.routes["/wire"] = Response(200, RSS.encode())
    project.write_config({"wire": feed_server.url("/wire")})
    assert main(["--config", str(project.config), "poll"]) == 0
    poison(load_config(project.config).state_dir)
    assert main(["--config", str(project.config), "poll", "--force"]) == 0
    document = project.feed("diplomacy")
    assert problems(document) == []
    titles = [e.findtext(ATOM + "title") for e in ET.fromstring(document).iter(ATOM + "entry")]
    assert "EU imposes sanctions on Chinese officials" in titles
    assert "Uighur forced labour claims" in titles and "Sanctions  story" in titles
    for path in project.public.iterdir():
        published = path.read_bytes()
        for secret in (b"s3cret", b"SECRET123", b"<script", b"onload", b"99999", b'"5-01-01'):
            assert secret not in published, (path.name, secret)

    # Even with the source gone from the config, the store's entries publish.
    feed_server.routes["/paper"] = Response(200, RSS.replace("wire", "paper").encode())
    project.write_config({"paper": feed_server.url("/paper")})
    assert main(["--config", str(project.config), "poll", "--force"]) == 0
    assert problems(project.feed("diplomacy")) == []
    summaries = [e.text or "" for e in ET.fromstring(project.feed("diplomacy")).iter(ATOM + "summary")]
    # One story, two sources: whichever was seen first (both polls may share a second) is
    # published, naming the other.
    carried = (
        'Also carried by: <a href="https://paper.example/eu">paper</a>',
        'Also carried by: <a href="https://wire.example/eu">wire</a>',
    )
    assert sum(1 for s in summaries for line in carried if line in s) == 1


URLS = [
    "https://wire.example/a?id=1#x",
    "http://wire.example",
    "http://wire.example.:8080/a/b;c?d=e&f=%20#g?h",
    "http://wire.example:0/",
    "http://wire.example:65536/",
    "http://wire.example:080/a",
    "http://wire.example/%zz",
    "http://wire.example/a%2Fb",
    "http://wire.example/@user",
    "http://user@wire.example/",
    "http://wire_example/",
    "HTTP://wire.example/",
    "http://wire.example/é",
    "http://wire.example/a#b#c",
    "http://-wire.example/",
    "http://wire.example?x",
]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("allow_query", [True, False])
def test_public_url_fast_path_agrees_with_the_full_check(
    url: str, allow_query: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = public_url(url, allow_query=allow_query)
    monkeypatch.setattr(public, "_PLAIN_URL", re.compile(r"(?!)"))  # never matches
    assert fast == public_url(url, allow_query=allow_query)
