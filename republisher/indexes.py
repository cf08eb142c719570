"""index.opml (subscribe to every derived feed at once) and index.html (a page for people)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

from republisher import PROJECT_URL, __version__
from republisher.atom import feed_url


@dataclass(frozen=True)
class FeedSummary:
    slug: str
    title: str
    subtitle: str
    entries: int
    updated: datetime | None
    newest: tuple[tuple[str, str | None], ...]  # (title, link) of the newest entries


def render_opml(feeds: Sequence[FeedSummary], base_url: str, title: str = "republisher feeds") -> bytes:
    """OPML 2.0 with one rss outline per derived feed."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = title
    if any(f.updated for f in feeds):
        newest = max(f.updated for f in feeds if f.updated)
        ET.SubElement(head, "dateModified").text = newest.strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = ET.SubElement(opml, "body")
    for feed in feeds:
        ET.SubElement(
            body,
            "outline",
            type="rss",
            text=feed.title,
            title=feed.title,
            description=feed.subtitle,
            xmlUrl=feed_url(base_url, feed.slug),
            htmlUrl=base_url,
        )
    ET.indent(opml)
    document: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="alternate" type="text/x-opml" title="All feeds (OPML)" href="index.opml">
{alternates}
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1f; background: #fff; }}
h1 {{ font-size: 1.6rem; }}
section {{ border-top: 1px solid #ddd; padding: 0.5rem 0 1rem; }}
h2 {{ font-size: 1.2rem; margin-bottom: 0.2rem; }}
.meta {{ color: #555; font-size: 0.9rem; }}
a {{ color: #0645ad; }}
.subscribe {{ display: inline-block; padding: 0.1rem 0.6rem; border: 1px solid #0645ad; border-radius: 4px;
             text-decoration: none; font-size: 0.9rem; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>Topic feeds republished from their sources. Subscribe to one in any feed reader, or
import <a href="index.opml">all of them (OPML)</a>.</p>
{sections}
</main>
<footer class="meta"><p>Made by <a href="{project}">republisher</a> {version}.</p></footer>
</body>
</html>
"""


def render_html(feeds: Sequence[FeedSummary], base_url: str, title: str = "republisher feeds") -> bytes:
    """A small accessible page listing each feed with its newest entries; no scripts."""
    e = html.escape
    alternates = "\n".join(
        f'<link rel="alternate" type="application/atom+xml" title="{e(f.title)}" '
        f'href="{e(feed_url(base_url, f.slug))}">'
        for f in feeds
    )
    sections = "\n".join(_section(f, base_url) for f in feeds)
    page = _PAGE.format(
        title=e(title),
        alternates=alternates,
        sections=sections,
        project=e(PROJECT_URL),
        version=e(__version__),
    )
    return page.encode("utf-8")


def _section(feed: FeedSummary, base_url: str) -> str:
    e = html.escape
    updated = feed.updated.strftime("%Y-%m-%d %H:%M UTC") if feed.updated else "never"
    items = "\n".join(
        f'<li><a href="{e(link)}">{e(title)}</a></li>' if link else f"<li>{e(title)}</li>"
        for title, link in feed.newest
    )
    newest = f"<ul>\n{items}\n</ul>" if items else "<p>No entries yet.</p>"
    return (
        f'<section id="{e(feed.slug)}" aria-labelledby="{e(feed.slug)}-title">\n'
        f'<h2 id="{e(feed.slug)}-title">{e(feed.title)}</h2>\n'
        f"<p>{e(feed.subtitle)}</p>\n"
        f'<p class="meta">{feed.entries} entries · updated {updated} · '
        f'<a class="subscribe" href="{e(feed_url(base_url, feed.slug))}">Subscribe (Atom)</a></p>\n'
        f"{newest}\n</section>"
    )
