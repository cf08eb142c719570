"""Known XSS vectors, sent the ways sources send HTML, never reach EntryData.summary/content.

Every vector goes through parse_feed inside an RSS description (escaped), RSS
content:encoded (CDATA), Atom summary/content under each declared type a source may
use (html, xhtml, text/xml, application/xml, text/html with parameters, an unknown
type, no type on content), and JSON Feed content_html. What comes out is checked by
an HTML parser independent of the sanitizer: only harmless tags and attributes, and
only http(s)/mailto URLs.
"""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser

import pytest

from republisher.sources.parse import parse_feed

URL = "https://example.org/feed"

VECTORS = {
    "script": "<script>alert(1)</script>",
    "img onerror": '<img src="x" onerror="alert(1)">',
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    "object": '<object data="javascript:alert(1)"></object>',
    "embed": '<embed src="https://evil.example/x.swf">',
    "svg onload": '<svg onload="alert(1)"><circle r="1"/></svg>',
    "svg xlink href": '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "svg animate values": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/><text>x</text></a></svg>',
    "svg set": '<svg><a><set attributeName="href" to="javascript:alert(1)"/><text>x</text></a></svg>',
    "svg script": "<svg><script>alert(1)</script></svg>",
    "mathml href": '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "mathml maction": '<math><maction actiontype="statusline" href="javascript:alert(1)">x</maction></math>',
    "form action": '<form action="javascript:alert(1)"><input type="submit"></form>',
    "button formaction": '<button formaction="javascript:alert(1)">x</button>',
    "base href": '<base href="javascript:alert(1)//">',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "link stylesheet": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "style attribute url": '<p style="background:url(javascript:alert(1))">x</p>',
    "style element": "<style>body{background:url(javascript:alert(1))}</style>",
    "encoded javascript": '<a href="jav&#x61;script:alert(1)">x</a>',
    "decimal encoded javascript": '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1)">x</a>',
    "tab in javascript": '<a href="jav\tascript:alert(1)">x</a>',
    "newline entity in javascript": '<a href="java&#10;script:alert(1)">x</a>',
    "uppercase javascript": '<a href="JAVASCRIPT:alert(1)">x</a>',
    "leading space javascript": '<a href=" javascript:alert(1)">x</a>',
    "vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "data url": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "img data url": '<img src="data:image/svg+xml,&lt;svg onload=alert(1)&gt;">',
    "onmouseover": '<p onmouseover="alert(1)">x</p>',
    "unquoted handler": "<p onclick=alert(1)>x</p>",
    "body onload": '<body onload="alert(1)">x</body>',
    "frameset": '<frameset><frame src="javascript:alert(1)"></frameset>',
    "noscript breakout": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "comment breakout": "<!--<img src=x onerror=alert(1)>-->",
    "template": "<template><img src=x onerror=alert(1)></template>",
    "textarea breakout": "<textarea></textarea><img src=x onerror=alert(1)>",
    "marquee": '<marquee onstart="alert(1)">x</marquee>',
    "details ontoggle": '<details open ontoggle="alert(1)">x</details>',
    "video poster": '<video poster="javascript:alert(1)"><source src="x"></video>',
    # cite is a URL attribute nh3 does not check the scheme of: markup.py does.
    "q cite javascript": '<q cite="javascript:alert(1)">x</q>',
    "blockquote cite data": '<blockquote cite="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</blockquote>',
    "blockquote cite spaced uppercase": '<blockquote cite=" JavaScript:alert(1)">x</blockquote>',
    "q cite vbscript": '<q cite="vbscript:msgbox(1)">x</q>',
    "input autofocus": '<input autofocus onfocus="alert(1)">',
    "cdata in html": "<![CDATA[<img src=x onerror=alert(1)>]]>",
    "xml stylesheet pi": '<?xml-stylesheet href="javascript:alert(1)"?>',
}

# Tags and attributes that can do nothing but format text and link to web pages.
SAFE_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dfn", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul",
}  # fmt: skip
SAFE_ATTRIBUTES = {
    "href",
    "src",
    "alt",
    "title",
    "width",
    "height",
    "rel",
    "cite",
    "colspan",
    "rowspan",
    "scope",
    "datetime",
}
URL_ATTRIBUTES = {"href", "src", "cite"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in SAFE_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if "javascript" in (value or "").lower():
                self.problems.append(f"javascript in {name}={value!r} on <{tag}>")
            if name not in SAFE_ATTRIBUTES:
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
            elif name in URL_ATTRIBUTES and not (value or "").startswith(("https://", "http://", "mailto:")):
                self.problems.append(f"URL {name}={value!r} on <{tag}>")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r}")


def unsafe(fragment: str | None) -> list[str]:
    collector = _Collector()
    collector.feed(fragment or "")
    collector.close()
    return collector.problems


def rss_description(vector: str) -> bytes:
    return _rss(f"<description>{html.escape(vector)}</description>")


def rss_content_encoded(vector: str) -> bytes:
    return _rss(f"<content:encoded><![CDATA[{vector}]]></content:encoded>")


def _rss(element: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        "<channel><title>t</title><link>https://example.org/</link><item><title>x</title>"
        f"<link>https://example.org/x</link>{element}</item></channel></rss>"
    ).encode()


def atom_escaped(kind: str) -> object:
    def build(vector: str) -> bytes:
        return _atom(
            f'<summary type="{kind}">{html.escape(vector)}</summary><content type="{kind}">{html.escape(vector)}</content>'
        )

    return build


def atom_inline(kind: str | None) -> object:
    """The vector as literal child markup, as xhtml and XML types carry it."""

    def build(vector: str) -> bytes:
        wrapped = f'<div xmlns="http://www.w3.org/1999/xhtml">{_xml_safe(vector)}</div>'
        attribute = f' type="{kind}"' if kind else ""
        return _atom(f"<content{attribute}>{wrapped}</content>")

    return build


def _xml_safe(vector: str) -> str:
    """The vector as well-formed XML where it can be (void elements closed), so the strict
    parser reads it; feedparser's loose parser takes the rest."""
    return vector.replace("<br>", "<br/>").replace('">', '"/>') if "</" not in vector else vector


def _atom(children: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:xlink="http://www.w3.org/1999/xlink"><title>t</title><id>tag:example.org,2024:f</id>'
        "<updated>2024-01-01T00:00:00Z</updated><entry><title>x</title><id>tag:example.org,2024:1</id>"
        f'<updated>2024-01-01T00:00:00Z</updated><link href="https://example.org/x"/>{children}</entry></feed>'
    ).encode()


def json_content_html(vector: str) -> bytes:
    item = {
        "id": "1",
        "title": "x",
        "url": "https://example.org/x",
        "content_html": vector,
        "summary": vector,
    }
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [item]}).encode()


CARRIERS = {
    "rss description": rss_description,
    "rss content:encoded": rss_content_encoded,
    "atom html": atom_escaped("html"),
    "atom text/html with charset": atom_escaped("text/html; charset=utf-8"),
    "atom text/xml escaped": atom_escaped("text/xml"),
    "atom application/xml escaped": atom_escaped("application/xml"),
    "atom unknown type escaped": atom_escaped("x-unknown/whatever"),
    "atom xhtml": atom_inline("xhtml"),
    "atom text/xml inline": atom_inline("text/xml"),
    "atom application/xhtml+xml inline": atom_inline("application/xhtml+xml"),
    "atom content without type inline": atom_inline(None),
    "json feed content_html": json_content_html,
}


@pytest.mark.parametrize("carrier", CARRIERS.values(), ids=list(CARRIERS))
@pytest.mark.parametrize("vector", VECTORS.values(), ids=list(VECTORS))
def test_no_xss_vector_survives_parsing(carrier: object, vector: str) -> None:
    feed = parse_feed(carrier(vector), URL)  # type: ignore[operator]
    for entry in feed.entries:
        for field in ("summary", "content"):
            fragment = getattr(entry, field)
            assert unsafe(fragment) == [], f"{field}: {fragment!r}"


def atom_summary(kind: str, text: str) -> bytes:
    return _atom(f'<summary type="{kind}">{html.escape(text)}</summary>')


def test_plain_text_is_escaped_not_interpreted() -> None:
    vector = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    for kind in ("text", "text/plain", "TEXT/PLAIN; charset=utf-8"):
        (entry,) = parse_feed(atom_summary(kind, vector), URL).entries
        assert entry.summary == html.escape(vector, quote=False), kind


def test_safe_markup_survives_with_absolute_links() -> None:
    fragment = '<p>A <a href="/a">link</a> and <img src="i.png" alt="i"></p>'
    (entry,) = parse_feed(atom_summary("text/html; charset=utf-8", fragment), URL).entries
    assert entry.summary is not None
    assert '<a href="https://example.org/a"' in entry.summary
    assert '<img src="https://example.org/i.png" alt="i">' in entry.summary


def test_a_cite_keeps_a_web_address_and_resolves_a_relative_one() -> None:
    fragment = '<blockquote cite="https://example.org/said">a</blockquote><q cite="/quoted">b</q>'
    (entry,) = parse_feed(atom_summary("html", fragment), URL).entries
    assert entry.summary is not None
    assert '<blockquote cite="https://example.org/said">' in entry.summary
    assert '<q cite="https://example.org/quoted">' in entry.summary
