"""The fast reader (sources/fastparse.py, lxml) against feedparser: the same FeedData.

parse_feed(fast=True) reads plain, well-formed RSS 2.0 and Atom 1.0 with lxml and
declines everything else to feedparser; parse_feed(fast=False) is feedparser alone.
Every sample feed in the repository and thousands of generated documents, built from
variants of each element the fast reader knows (and of what it must decline), must give
equal FeedData both ways: ids, titles, links, dates, authors, categories, sanitized
content, enclosures, the source's metadata. And the fast reader must actually take the
plain documents, or the comparison would prove nothing.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from republisher.sources import fastparse
from republisher.sources.parse import _LOOKS_LIKE_HTML, parse_feed

ROOT = Path(__file__).resolve().parent.parent
URL = "https://news.example.org/section/feed.xml"
RSS_TYPE = "application/rss+xml; charset=utf-8"

# --- variants of each part --------------------------------------------------------------

TITLES = [
    "Plain headline about trade talks",
    "Caf\u00e9 owners &amp; the \u201csugar tax\u201d",
    "<![CDATA[Tom & Jerry <b>return</b>]]>",
    "Scores &lt;b&gt;bold&lt;/b&gt; rise",  # looks like HTML: feedparser strips it
    "AT&amp;T and 3 &lt; 4",
    "  padded title with spaces  ",
    "Caf\u00c3\u00a9 read as Latin-1",  # feedparser repairs UTF-8 read as Latin-1
    "&#195;&#169;t\u00e9 by reference",
    "Unknown &amp;entity; here",
    "&lt;/notatag&gt; closes",
    "",
    "\u4e2d\u56fd \u65b0\u7586 headline in Chinese",
    "Control &#150; reference",  # a C1 control: feedparser maps it, fast declines
    "Title with <b>markup</b>",  # markup as XML: fast declines
]
HTML = [
    '&lt;p&gt;A paragraph with a &lt;a href="/rel/path"&gt;relative link&lt;/a&gt;.&lt;/p&gt;',
    "<![CDATA[<p>Para <script>alert(1)</script><img src=x onerror=alert(1)> end</p>]]>",
    "Just text &amp; more text",
    "&lt;p onclick='x()'&gt;Handler&lt;/p&gt;&lt;iframe src='https://evil.example'&gt;&lt;/iframe&gt;",
    "",
    "   ",
    "<![CDATA[<p>Caf\u00c3\u00a9 repaired?</p>]]>",
    "<p>markup as XML</p>",  # fast declines
]
LINKS = [
    "https://news.example.org/2026/01/02/story?a=1&amp;b=2",
    "/relative/story.html",
    "https:////news.example.org/extra/slashes",
    "  https://news.example.org/padded  ",
    "https://news.example.org/q?x=1&amp;amp;y=2",
    "https://news.example.org/a&amp;copy;b",
    "",
    "javascript:alert(1)",
    "http://[::1/broken",
]
GUIDS = [
    ('<guid isPermaLink="false">item-{n}</guid>', True),
    ("<guid>https://news.example.org/guid/{n}</guid>", True),
    ('<guid isPermaLink="true">/relative/guid/{n}</guid>', True),
    ('<guid isPermaLink="True">https://news.example.org/cased/{n}</guid>', True),
    ("<guid>  padded-{n}  </guid>", True),
    ("", True),
]
RSS_DATES = [
    "Mon, 30 Nov 2026 05:10:00 GMT",
    "Mon, 30 Nov 2026 05:10:00 +0200",
    "30 Nov 2026 05:10 -0530",
    "Tue, 1 Dec 2026 23:59:59 UT",
    "Sun, 29 Feb 2026 10:00:00 GMT",  # impossible: fast declines, feedparser decides
    "Mon, 30 Nov 2026 05:10:00 EST",  # named zone: fast declines
    "2026-11-30T05:10:00Z",
    "yesterday",
    " Mon, 30 Nov 2026 05:10:00 GMT ",
    "Mon, 30 Nov 1850 05:10:00 GMT",
    "Mon, 30 Nov 2026 05:10:00 +0099",
    "Fri, 31 Dec 9999 23:59:59 -2359",
    "Mon, 1 Jan 1900 00:00:00 +0100",
]
ATOM_DATES = [
    "2026-11-30T05:10:00Z",
    "2026-11-30T05:10:00+05:30",
    "2026-11-30T05:10:00-00:00",
    "2026-11-30T05:10:00.123Z",  # fractions: dropped, as feedparser drops them
    "2026-11-30T05:10:59.999999Z",
    "2026-11-30T05:10:59.9999999999999999Z",  # long fractions: fast declines
    "2026-11-30",
    "2026-13-01T00:00:00Z",
    "Mon, 30 Nov 2026 05:10:00 GMT",
    "2026-11-30T05:10:00+23:59",
    "1900-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
]
AUTHORS = [
    "Reporter One",
    "reporter@news.example.org (Reporter Two)",
    "Name &lt;name@news.example.org&gt;",
    "bare@news.example.org",
    "",
    "  Padded Name  ",
    "Long " * 250,  # over parse.LONGEST_AUTHOR: feedparser's author is cut
    "Desk desk@news.example.org, Reporter",  # no usual form: feedparser's split, fast declines
    "editor@news.co.uk (Ed Itor)",
]
CATEGORIES = [
    "<category>Politics</category>",
    '<category domain="https://news.example.org/tags">World</category>',
    '<category domain="/relative/scheme">Relative</category>',
    "<category></category>",
    "<category>Politics</category>",  # repeated: feedparser keeps one
    '<category domain="">Empty domain</category>',
]
ENCLOSURES = [
    '<enclosure url="https://cdn.example.org/a.mp3" type="audio/mpeg" length="12345"/>',
    '<enclosure url="/relative/b.jpg" length="0"/>',
    '<enclosure url="https://cdn.example.org/c.bin" type="bad type" length="-1"/>',
    '<media:content url="https://cdn.example.org/d.jpg" medium="image" width="460" fileSize="99"/>',
    '<media:thumbnail url="https://cdn.example.org/e.jpg" width="140"/>',
    '<media:content url="https://cdn.example.org/f.jpg" width="140"><media:credit scheme="urn:ebu">Photo: A</media:credit></media:content>',
    '<media:content url="https://cdn.example.org/a.mp3" type="audio/mpeg"/>',
    '<enclosure URL="https://cdn.example.org/upper.mp3"/>',  # unknown attribute: fast declines
]
EXTRAS_RSS_ITEM = [
    "<comments>https://news.example.org/comments</comments>",
    "<content:encoded><![CDATA[<p>Full text <em>here</em></p>]]></content:encoded>",
    "<content:encoded>&lt;p&gt;Same as the description?&lt;/p&gt;</content:encoded>",
    '<source url="https://other.example.org/rss">Other</source>',  # fast declines
    "<dc:date>2026-11-30T05:10:00Z</dc:date>",
    "<dc:date>2026-11-30T05:10:00.25+01:00</dc:date>",
    "<dc:date>Mon, 30 Nov 2026 05:10:00 GMT</dc:date>",
    "<!-- a comment --><?pi inside?>",
]
CHANNEL_EXTRAS = [
    "<language>en-gb</language>",
    "<copyright>Copyright</copyright>",
    "<lastBuildDate>Mon, 30 Nov 2026 06:00:00 GMT</lastBuildDate>",
    "<pubDate>Mon, 30 Nov 2026 06:00:00 +0100</pubDate>",
    "<managingEditor>Editor Name</managingEditor>",
    "<managingEditor>editor@news.example.org (Editor)</managingEditor>",
    "<webMaster>web@news.example.org</webMaster>",
    "<image><title>Logo title</title><url>https://news.example.org/logo.png</url><link>https://news.example.org/img</link></image>",
    '<atom:link rel="self" type="application/rss+xml" href="https://news.example.org/self.xml"/>',
    '<atom:link href="https://news.example.org/alternate"/>',
    '<atom:link rel="hub" href="https://hub.example.org/"/>',
    '<atom:link rel="SELF" type="Application/RSS+XML" href="https://news.example.org/upper-self.xml"/>',
    "<category>Channel tag</category>",
    "<ttl>30</ttl><generator>CMS 1.0</generator><docs>https://www.rssboard.org/rss-specification</docs>",
    "<cloud/>",  # fast declines
    "<dc:date>2026-11-30T06:00:00Z</dc:date><dc:language>en</dc:language><dc:rights>Rights</dc:rights>",
    "<image><url>https://news.example.org/i.png</url><item><title>In the image</title><guid>img</guid></item></image>",
    "<image><title>Logo</title><pubDate>Mon, 30 Nov 2026 05:10:00 GMT</pubDate></image>",
]


def _pick(rng: random.Random, choices: list[str], none: float = 0.2) -> str | None:
    return None if rng.random() < none else rng.choice(choices)


def rss_document(rng: random.Random) -> str:
    items = []
    for n in range(rng.randint(0, 4)):
        parts = []
        if (title := _pick(rng, TITLES)) is not None:
            parts.append(f"<title>{title}</title>")
        if (link := _pick(rng, LINKS, 0.3)) is not None:
            parts.append(f"<link>{link}</link>")
        guid, _ = rng.choice(GUIDS)
        parts.append(guid.format(n=n))
        if (date := _pick(rng, RSS_DATES)) is not None:
            parts.append(f"<pubDate>{date}</pubDate>")
        if (author := _pick(rng, AUTHORS, 0.4)) is not None:
            element = rng.choice(["author", "dc:creator"])
            parts.append(f"<{element}>{author}</{element}>")
        if (description := _pick(rng, HTML)) is not None:
            parts.append(f"<description>{description}</description>")
        parts += rng.sample(CATEGORIES, rng.randint(0, 3))
        parts += rng.sample(ENCLOSURES, rng.randint(0, 2))
        if rng.random() < 0.4:
            parts.append(rng.choice(EXTRAS_RSS_ITEM))
        rng.shuffle(parts)
        items.append(f"<item>{''.join(parts)}</item>")
    channel = [f"<title>{rng.choice(TITLES)}</title>"]
    if (link := _pick(rng, LINKS, 0.2)) is not None:
        channel.append(f"<link>{link}</link>")
    channel.append("<description>Channel description</description>")
    channel += rng.sample(CHANNEL_EXTRAS, rng.randint(0, 3))
    rng.shuffle(channel)
    namespaces = (
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom"'
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"{namespaces}><channel>'
        f"{''.join(channel)}{''.join(items)}</channel></rss>"
    )


# The last two decline; drawn rarely (see _text_type) so that many documents are taken whole.
ATOM_TEXT_TYPES = ["", ' type="text"', ' type="html"', ' type="xhtml"', ' type="text/html"']


def _text_type(rng: random.Random) -> str:
    return rng.choice(ATOM_TEXT_TYPES[3:] if rng.random() < 0.05 else ATOM_TEXT_TYPES[:3])


ATOM_LINKS = [
    '<link href="https://news.example.org/a/{n}"/>',
    '<link rel="alternate" type="text/html" href="/relative/{n}"/>',
    '<link rel="alternate" type="html" href="https://news.example.org/html-type/{n}"/>',
    '<link rel="alternate" type="application/pdf" href="https://news.example.org/pdf/{n}"/>',
    '<link rel="enclosure" type="audio/mpeg" length="321" href="https://cdn.example.org/{n}.mp3"/>',
    '<link rel="enclosure" href="https://cdn.example.org/{n}.png"/>',
    '<link rel="related" href="https://elsewhere.example.org/{n}"/>',
    '<link rel="self" href="https://news.example.org/self/{n}"/>',
    '<link rel="ALTERNATE" type="TEXT/HTML" href="https://news.example.org/upper/{n}"/>',
    '<link rel="Enclosure" type="Audio/MPEG" href="https://cdn.example.org/upper-{n}.mp3"/>',
    "<link>https://news.example.org/text-link</link>",  # fast declines
]
ATOM_IDS = [
    "<id>tag:news.example.org,2026:{n}</id>",
    "<id>https://news.example.org/id/{n}</id>",
    "<id>urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af{n}</id>",
    "<id>  /relative/id/{n}  </id>",
    "",
]
ATOM_AUTHORS = [
    "<author><name>Reporter Atom</name></author>",
    "<author><name>Reporter Mail</name><email>mail@news.example.org</email></author>",
    "<author><email>only@news.example.org</email></author>",
    "<author><name>Named</name><uri>https://news.example.org/named</uri></author>",
    "<author><name></name></author>",
    "<author>Loose text</author>",  # fast declines
]


def atom_document(rng: random.Random) -> str:
    entries = []
    for n in range(rng.randint(0, 4)):
        parts = []
        if (title := _pick(rng, TITLES)) is not None:
            parts.append(f"<title{_text_type(rng)}>{title}</title>")
        parts.append(rng.choice(ATOM_IDS).format(n=n))
        parts += [link.format(n=n) for link in rng.sample(ATOM_LINKS, rng.randint(0, 3))]
        for element in ("published", "updated"):
            if (date := _pick(rng, ATOM_DATES, 0.3)) is not None:
                parts.append(f"<{element}>{date}</{element}>")
        if (author := _pick(rng, ATOM_AUTHORS, 0.4)) is not None:
            parts.append(author)
        for element in ("summary", "content"):
            if (body := _pick(rng, HTML, 0.4)) is not None:
                parts.append(f"<{element}{_text_type(rng)}>{body}</{element}>")
        categories = [
            '<category term="World"/>',
            '<category term="Tech" scheme="/tags" label="Tech &amp; co"/>',
        ]
        parts += rng.sample(categories, rng.randint(0, 2))
        rng.shuffle(parts)
        entries.append(f"<entry>{''.join(parts)}</entry>")
    feed = [f"<title{rng.choice(ATOM_TEXT_TYPES[:3])}>{rng.choice(TITLES)}</title>"]
    feed.append(rng.choice(ATOM_IDS).format(n="feed"))
    feed += [link.format(n="feed") for link in rng.sample(ATOM_LINKS[:8], rng.randint(0, 2))]
    if (date := _pick(rng, ATOM_DATES)) is not None:
        feed.append(f"<updated>{date}</updated>")
    if (author := _pick(rng, ATOM_AUTHORS, 0.5)) is not None:
        feed.append(author)
    if rng.random() < 0.3:
        feed.append(
            rng.choice(["<subtitle>Sub</subtitle>", "<generator>CMS</generator>", "<rights>CC</rights>"])
        )
    rng.shuffle(feed)
    language = rng.choice(["", ' xml:lang="en"'] * 3 + [' xml:base="https://base.example.org/dir/"'])
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{language}>'
        f"{''.join(feed)}{''.join(entries)}</feed>"
    )


# --- the comparisons ------------------------------------------------------------------


def _both(body: bytes, content_type: str | None) -> tuple[object, object, bool]:
    taken = fastparse.read(body, URL, content_type, _LOOKS_LIKE_HTML) is not None
    return (
        parse_feed(body, URL, content_type, fast=True),
        parse_feed(body, URL, content_type, fast=False),
        taken,
    )


def _sample_feeds() -> list[Path]:
    feeds = sorted((ROOT / "samples").glob("*.xml")) + sorted((ROOT / "tests" / "data" / "feeds").glob("*"))
    return [path for path in feeds if path.suffix in (".xml", ".rdf", ".atom")]


@pytest.mark.parametrize("path", _sample_feeds(), ids=lambda p: p.name)
def test_every_sample_feed_reads_the_same_both_ways(path: Path) -> None:
    fast, slow, _ = _both(path.read_bytes(), None)
    assert fast == slow


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_generated_documents_read_the_same_both_ways(kind: str) -> None:
    rng = random.Random(f"fastparse-{kind}")
    make = rss_document if kind == "rss" else atom_document
    taken = 0
    for number in range(1500):
        document = make(rng)
        fast, slow, took = _both(document.encode("utf-8"), RSS_TYPE if kind == "rss" else None)
        assert fast == slow, f"document {number} differs:\n{document}"
        taken += took
    # Most documents hold one variant the fast reader declines; a good share must not.
    assert taken >= 150, f"the fast reader took only {taken} of 1500 {kind} documents"


def test_a_plain_document_of_every_accepted_variant_is_taken() -> None:
    """Each variant the fast reader claims to know, alone in an otherwise plain item."""
    accepted = [
        *(f"<title>{t}</title>" for t in TITLES[:-2]),
        *(f"<description>{h}</description>" for h in HTML[:-1]),
        *(f"<link>{link}</link>" for link in LINKS),
        *(g.format(n=1) for g, _ in GUIDS),
        *(f"<pubDate>{d}</pubDate>" for d in RSS_DATES[:4] + RSS_DATES[8:9]),
        "<author>Reporter One</author>",
        "<author>reporter@news.example.org (Reporter Two)</author>",
        "<dc:creator>Name &lt;name@news.example.org&gt;</dc:creator>",
        "<dc:creator>  Padded Name  </dc:creator>",
        *CATEGORIES,
        *ENCLOSURES[:-1],
        *EXTRAS_RSS_ITEM[:3],
        *EXTRAS_RSS_ITEM[4:7],
    ]
    namespaces = (
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/"'
    )
    for part in accepted:
        body = (
            f'<rss version="2.0"{namespaces}><channel><title>T</title><link>https://news.example.org/</link>'
            f"<item>{'' if 'guid' in part else '<guid>g</guid>'}{part}</item></channel></rss>"
        ).encode()
        fast, slow, took = _both(body, RSS_TYPE)
        assert took, f"declined: {part}"
        assert fast == slow, part


@pytest.mark.parametrize(
    "document, content_type",
    [
        (
            '<rss version="2.0"><channel><title>T</title><item><title>a<b>b</b></title></item></channel></rss>',
            None,
        ),
        ('<!DOCTYPE rss><rss version="2.0"><channel><title>T</title></channel></rss>', None),
        ('<rss version="0.91"><channel><title>T</title></channel></rss>', None),
        ('<rss version="2.0"><channel xml:base="https://b.example/"><title>T</title></channel></rss>', None),
        ('<rss version="2.0"><channel><title>T</title><item><title>x</title>', None),  # cut off
        (
            '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>\xe9</title></channel></rss>',
            None,
        ),
        (
            '<rss version="2.0"><channel><title>T</title></channel></rss>',
            "application/rss+xml; charset=windows-1252",
        ),
        (
            '<rss version="2.0"><channel><title>T</title><item><title>A</title><title>B</title></item></channel></rss>',
            None,
        ),
        (
            '<feed xmlns="http://www.w3.org/2005/Atom"><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></title></feed>',
            None,
        ),
        (
            '<feed xmlns="http://www.w3.org/2005/Atom"><entry><content src="https://x.example/"/></entry></feed>',
            None,
        ),
    ],
)
def test_what_the_fast_reader_declines_goes_to_feedparser(document: str, content_type: str | None) -> None:
    body = document.encode("latin-1" if "iso-8859-1" in document else "utf-8")
    assert fastparse.read(body, URL, content_type, _LOOKS_LIKE_HTML) is None
    fast, slow, _ = _both(body, content_type)
    assert fast == slow


def test_an_unforeseen_error_in_the_fast_reader_leaves_the_document_to_feedparser(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    body = (ROOT / "samples" / "guardian-uighurs.xml").read_bytes()
    expected = parse_feed(body, URL, None, fast=False)

    def broken(self: object, root: object) -> object:
        raise RecursionError("a bug met on one hostile document")

    monkeypatch.setattr(fastparse._Reader, "document", broken)
    assert parse_feed(body, URL, None) == expected
    assert "fast reader failed" in caplog.text
