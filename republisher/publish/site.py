"""index.opml (subscribe to every derived feed at once) and index.html (a page for people).

Both are pure functions of their inputs (no clock), so unchanged feeds give unchanged bytes.
Whatever they show of stored entries is cleaned again here, like everything published:
text XML cannot carry is dropped, links must be public http(s) URLs, dates RFC 3339.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from republisher import PROJECT_URL, __version__
from republisher.publish.atom import feed_url, json_feed_url
from republisher.publish.public import public_entries, public_url, xml_text
from republisher.publish.stories import Story
from republisher.routing.rules import Rule
from republisher.text import plausible_date


@dataclass(frozen=True)
class Headline:
    """One of a feed's newest entries, as the index page lists it."""

    title: str
    link: str | None  # an absolute http(s) URL (render_html drops anything else)
    updated: datetime


@dataclass(frozen=True)
class FeedSummary:
    slug: str
    title: str
    subtitle: str
    entries: int  # entries routed to the feed, all time
    in_feed: int  # entries the .atom file holds (at most max_entries)
    updated: datetime | None
    newest: tuple[Headline, ...]  # newest first; the page shows five


NEWEST_SHOWN = 5


def feed_summary(rule: Rule, stories: Sequence[Story], routed: int, first_written: datetime) -> FeedSummary:
    """What the index pages show of one feed publishing `stories` (newest first): its
    entries made publishable as in the feed itself (those that cannot be are left out)."""
    entries = public_entries(stories)
    return FeedSummary(
        slug=rule.slug,
        title=rule.title,
        subtitle=rule.subtitle,
        entries=routed,
        in_feed=len(entries),
        updated=max((e.updated for e in entries), default=first_written),
        newest=tuple(Headline(e.title, e.link, e.published) for e in entries[:NEWEST_SHOWN]),
    )


def headlines(stories: Sequence[Story]) -> tuple[Headline, ...]:
    """The newest stories as the index page lists them, made publishable like the feeds'
    entries (the ones that cannot be are left out)."""
    return tuple(Headline(e.title, e.link, e.published) for e in public_entries(stories[:NEWEST_SHOWN]))


def render_opml(feeds: Sequence[FeedSummary], base_url: str, title: str = "republisher feeds") -> bytes:
    """OPML 2.0 with one rss outline per derived feed."""
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = xml_text(title)
    dates = [d for f in feeds if (d := plausible_date(f.updated))]
    if dates:
        # RFC 822, as OPML 2.0 asks; format_datetime is locale-independent, strftime is not.
        ET.SubElement(head, "dateModified").text = format_datetime(max(dates), usegmt=True)
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(opml, "body")
    for feed in feeds:
        ET.SubElement(
            body,
            "outline",
            type="rss",
            text=xml_text(feed.title),
            title=xml_text(feed.title),
            description=xml_text(feed.subtitle),
            xmlUrl=feed_url(base_url, feed.slug),
            htmlUrl=base_url,  # the feeds' own alternate link: the index page
        )
    ET.indent(opml)
    document: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


# Colours meet WCAG AA contrast in both schemes; system fonts only, so the page needs
# no network access beyond itself.
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="republisher {version}">
<title>{title}</title>
<link rel="alternate" type="text/x-opml" title="All feeds (OPML)" href="index.opml">
{alternates}
<style>
:root {{ color-scheme: light dark; --fg: #1d1d1f; --muted: #555; --line: #ddd; --link: #0645ad; }}
@media (prefers-color-scheme: dark) {{
  :root {{ --fg: #e8e8ea; --muted: #b0b0b8; --line: #444; --link: #8ab4f8; }}
}}
body {{ font: 16px/1.55 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
       color: var(--fg); }}
a {{ color: var(--link); }}
a:focus-visible {{ outline: 3px solid var(--link); outline-offset: 2px; }}
h1 {{ font-size: 1.6rem; }}
section {{ border-top: 1px solid var(--line); padding: 0.5rem 0 1rem; }}
h2 {{ font-size: 1.2rem; margin-bottom: 0.2rem; }}
h2 + p {{ margin-top: 0; }}
.meta {{ color: var(--muted); font-size: 0.9rem; }}
.subscribe {{ display: inline-block; padding: 0.1rem 0.6rem; border: 1px solid var(--link);
             border-radius: 4px; text-decoration: none; }}
ul {{ padding-left: 1.2rem; }}
li {{ margin: 0.25rem 0; }}
li time {{ color: var(--muted); font-size: 0.85rem; white-space: nowrap; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>Topic feeds republished from their sources. Subscribe to one in any feed reader, or
import <a href="index.opml">all of them at once (OPML)</a>.</p>
</header>
<main>
{sections}
</main>
<footer class="meta"><p>Made by <a href="{project}">republisher</a> {version}.</p></footer>
</body>
</html>
"""


def render_html(
    feeds: Sequence[FeedSummary], base_url: str, title: str = "republisher feeds", *, json: bool = False
) -> bytes:
    """A small accessible page listing each feed with its newest entries; no scripts.

    With `json`, each feed's JSON Feed version is advertised and linked too.
    """
    e = _escape
    alternates = "\n".join(
        f'<link rel="alternate" type="application/atom+xml" title="{e(f.title)}" '
        f'href="{e(feed_url(base_url, f.slug))}">'
        + (
            f'\n<link rel="alternate" type="application/feed+json" title="{e(f.title)} (JSON Feed)" '
            f'href="{e(json_feed_url(base_url, f.slug))}">'
            if json
            else ""
        )
        for f in feeds
    )
    sections = "\n".join(_section(f, base_url, json) for f in feeds) or "<p>No feeds are configured yet.</p>"
    page = _PAGE.format(
        title=e(title),
        alternates=alternates,
        sections=sections,
        project=e(PROJECT_URL),
        version=e(__version__),
    )
    return page.encode("utf-8")


# What XML allows but an HTML page may not hold (parse errors): C1 controls and noncharacters.
_HTML_FORBIDDEN = re.compile(
    "[\x7f-\x9f\ufdd0-\ufdef"
    + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0x10000, 0x110000, 0x10000))
    + "]"
)


def _escape(value: str) -> str:
    """Escaped for HTML, without the characters an HTML page may not carry."""
    return html.escape(_HTML_FORBIDDEN.sub("", xml_text(value)))


def _section(feed: FeedSummary, base_url: str, json: bool = False) -> str:
    e = _escape
    url = e(feed_url(base_url, feed.slug))
    json_link = (
        f' · <a href="{e(json_feed_url(base_url, feed.slug))}" type="application/feed+json" '
        f'aria-label="{e(feed.title)} as JSON Feed">JSON Feed</a>'
        if json
        else ""
    )
    # Ids from the slug are unique per page (slugs are file names) and valid in HTML5.
    heading = f"feed-{e(feed.slug)}"
    updated = _time(feed.updated) or "never"
    items = "\n".join(_headline(h) for h in feed.newest[:NEWEST_SHOWN])
    newest = (
        f'<ul aria-label="Newest in {e(feed.title)}">\n{items}\n</ul>' if items else "<p>No entries yet.</p>"
    )
    return (
        f'<section aria-labelledby="{heading}">\n'
        f'<h2 id="{heading}">{e(feed.title)}</h2>\n'
        f"<p>{e(feed.subtitle)}</p>\n"
        f'<p class="meta">{_count(feed)} · updated {updated} · '
        # The accessible name starts with the visible text, and says which feed it is.
        f'<a class="subscribe" href="{url}" type="application/atom+xml" '
        f'aria-label="Subscribe to {e(feed.title)} (Atom feed)">Subscribe</a>{json_link}</p>\n'
        f"{newest}\n</section>"
    )


def _count(feed: FeedSummary) -> str:
    noun = "entry" if feed.entries == 1 else "entries"
    if feed.entries > feed.in_feed:
        return f"{feed.entries} {noun} (the newest {feed.in_feed} in the feed)"
    return f"{feed.entries} {noun}"


def _headline(headline: Headline) -> str:
    e = _escape
    link = public_url(headline.link)
    title = e(headline.title.strip() or link or "(untitled)")
    text = f'<a href="{e(link)}">{title}</a>' if link else title
    when = _time(headline.updated, date_only=True)
    return f"<li>{text} {when}</li>" if when else f"<li>{text}</li>"


def _time(when: datetime | None, *, date_only: bool = False) -> str:
    """A <time> element in UTC with a 4-digit year; "" for a date that cannot be shown."""
    when = plausible_date(when)
    if when is None:
        return ""
    shown = when.date().isoformat() if date_only else f"{when.date().isoformat()} {when:%H:%M} UTC"
    return f'<time datetime="{when.date().isoformat()}T{when:%H:%M:%S}Z">{shown}</time>'
