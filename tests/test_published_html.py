"""Everything published as HTML is sanitized at render time: known XSS vectors never
reach the Atom, JSON Feed or HTML output, even from entries stored unsanitized.

The check is independent of the sanitizer: each published fragment is parsed as a browser
would (html5lib, entities decoded) and every element and attribute is inspected.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import html5lib
import pytest
from conformance import ATOM, problems

from republisher.models import EntryData, SourceMeta, StoredEntry
from republisher.publish.atom import render_feed
from republisher.publish.jsonfeed import render_json_feed
from republisher.publish.site import FeedSummary, headlines, render_html
from republisher.publish.stories import Story
from republisher.routing.rules import Rule

BASE = "https://feeds.example.org/topics/"
T0 = datetime(2021, 3, 1, 12, tzinfo=UTC)
RULE = Rule("topic", Path("topic.toml"), "Topic", "Sub", None, None, True, ())
XHTML = "{http://www.w3.org/1999/xhtml}"

VECTORS = {
    "script": "<script>alert(1)</script>",
    "img onerror": "<img src=x onerror=alert(1)>",
    "img onerror unquoted in svg": "<svg><img src=x onerror=alert(1)></svg>",
    "iframe": '<iframe src="javascript:alert(1)"></iframe>',
    "svg xlink:href": '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">XSS</text></a></svg>',
    "svg animate values": '<svg><a><animate attributeName="href" values="javascript:alert(1)"/>'
    "<text>x</text></a></svg>",
    "svg set": '<svg><set attributeName="onmouseover" to="alert(1)"/></svg>',
    "svg onload": "<svg onload=alert(1)>",
    "form action": '<form action="javascript:alert(1)"><input type="submit" value="go"></form>',
    "button formaction": '<button formaction="javascript:alert(1)">go</button>',
    "base href": '<base href="javascript:alert(1)//"><a href="x">x</a>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "style url()": '<div style="background:url(javascript:alert(1))">x</div>',
    "style element": "<style>@import 'javascript:alert(1)'; body{background:url(javascript:alert(1))}</style>",
    "encoded javascript": '<a href="jav&#x61;script:alert(1)">x</a>',
    "decimal-encoded javascript": '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;'
    '&#58;alert(1)">x</a>',
    "javascript with a tab": '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "javascript mixed case and space": '<a href=" JaVaScRiPt:alert(1)">x</a>',
    "javascript with a NUL": '<a href="java\x00script:alert(1)">x</a>',
    "vbscript": '<img src="vbscript:msgbox(1)">',
    "data URL": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "mathml href": '<math href="javascript:alert(1)"><mi>x</mi></math>',
    "mathml xlink": '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">'
    "<mtext>x</mtext></maction></math>",
    "object": '<object data="javascript:alert(1)"></object>',
    "embed": '<embed src="javascript:alert(1)">',
    "srcset": '<img srcset="javascript:alert(1) 1x">',
    "video poster": '<video poster="javascript:alert(1)"></video>',
    "table background": '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    "noscript mutation": '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "svg style mutation": "<svg><style><img src=x onerror=alert(1)></style></svg>",
    "comment": "<!--<img src=x onerror=alert(1)>-->",
    "xmp": "<xmp><img src=x onerror=alert(1)></xmp>",
    "template": "<template><img src=x onerror=alert(1)></template>",
    "isindex": '<isindex action="javascript:alert(1)">',
    "link import": '<link rel="import" href="javascript:alert(1)">',
}

ALLOWED_SCHEMES = {"http", "https", "mailto"}
URL_ATTRIBUTES = {"href", "src", "cite", "action", "formaction", "poster", "background", "srcset", "data"}


def problems_in(fragment: str) -> list[str]:
    """What a browser would find unsafe in this published HTML fragment."""
    found = []
    tree = html5lib.parseFragment(fragment, treebuilder="etree", namespaceHTMLElements=True)
    for element in tree.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        name = tag.rpartition("}")[2]
        if tag and not tag.startswith(XHTML) and tag != "DOCUMENT_FRAGMENT":
            found.append(f"foreign element {tag}")  # SVG or MathML
        if name in {"script", "style", "iframe", "object", "embed", "form", "base", "meta", "link",
                    "svg", "math", "animate", "set", "button", "input", "noscript", "template"}:  # fmt: skip
            found.append(f"element {name}")
        for attribute, value in element.attrib.items():
            local = attribute.rpartition("}")[2].lower()
            compact = re.sub(r"[\x00-\x20]", "", value).lower()
            if local.startswith("on") or local == "style":
                found.append(f"attribute {local}")
            if "javascript:" in compact or "vbscript:" in compact or compact.startswith("data:"):
                found.append(f"script URL in {local}")
            if (
                local in URL_ATTRIBUTES
                and ":" in compact
                and compact.partition(":")[0] not in ALLOWED_SCHEMES
            ):
                found.append(f"{local} with scheme {compact.partition(':')[0]}")
    return found


def entry(
    key: str, html: str, *, content: str | None = None, origin: SourceMeta | None = None
) -> StoredEntry:
    origin = origin or SourceMeta("Wire", "https://wire.example/", "https://wire.example/rss", None, None)
    data = EntryData(
        guid=key,
        title=f"Story {key}",
        link=f"https://wire.example/{key}",
        summary=html,
        content=content,
        author=None,
        published=T0,
    )
    return StoredEntry("wire", key, f"urn:test:{key}", T0, T0, data, origin)


def published_fragments(stories: list[Story]) -> list[str]:
    """Every HTML fragment the Atom and JSON Feed outputs publish."""
    atom = render_feed(RULE, stories, BASE, T0)
    # conformance's own unsafe-HTML check is a regex that also flags escaped text
    # ("&lt;img onerror=…&gt;"): problems_in below parses the HTML instead.
    assert [p for p in problems(atom) if "unsafe HTML" not in p] == []
    fragments = []
    for element in ET.fromstring(atom).iter():
        if element.tag not in (ATOM + "summary", ATOM + "content"):
            continue
        assert element.get("type") == "html"
        fragments.append(element.text or "")
    for item in json.loads(render_json_feed(RULE, stories, BASE))["items"]:
        fragments.append(item["content_html"])
    return fragments


@pytest.mark.parametrize("vector", VECTORS.values(), ids=list(VECTORS))
def test_stored_xss_is_never_published(vector: str) -> None:
    stories = [Story(entry("a", f"<p>Before</p>{vector}<p>After</p>", content=vector))]
    fragments = published_fragments(stories)
    for fragment in fragments:
        assert problems_in(fragment) == []
    assert any("<p>Before</p>" in f and "<p>After</p>" in f for f in fragments), "the text around is kept"


def test_the_checker_catches_every_vector() -> None:
    # The table is worth something only if the vectors are unsafe unsanitized.
    # (A comment, and xmp's raw text, are inert as they stand; a sanitizer could make them live.)
    missed = [
        name for name, vector in VECTORS.items() if not problems_in(vector) and name not in ("comment", "xmp")
    ]
    assert missed == []


def test_safe_markup_survives() -> None:
    html = '<p>Read <a href="https://news.example/a?x=1&amp;y=2">the report</a> <img src="https://i.example/p.png" alt="p"></p>'
    fragment = published_fragments([Story(entry("a", html, content=html))])[0]
    assert 'href="https://news.example/a?x=1&amp;y=2"' in fragment
    assert 'src="https://i.example/p.png"' in fragment


def test_other_sources_names_are_escaped_in_the_carriers_line() -> None:
    hostile = SourceMeta(
        "<img src=x onerror=alert(1)>", "https://evil.example/", "https://evil.example/rss", None, None
    )
    second = replace(entry("b", "<p>Two</p>", origin=hostile), source="evil")
    second = replace(second, data=replace(second.data, link="javascript:alert(1)"))
    for fragment in published_fragments([Story(entry("a", "<p>One</p>"), (second,))]):
        assert problems_in(fragment) == []
        assert "Also carried by: &lt;img src=x onerror=alert(1)&gt;." in fragment


def test_index_page_escapes_titles_and_drops_unsafe_links() -> None:
    hostile = entry("a", "<p>x</p>")
    hostile = replace(
        hostile, data=replace(hostile.data, title="<script>alert(1)</script>", link="javascript:alert(1)")
    )
    summary = FeedSummary("topic", "Topic", "Sub", 1, 1, T0, headlines([Story(hostile)]))
    page = render_html([summary], BASE).decode()
    assert "<script>alert" not in page and "javascript:" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
