"""index.opml (subscribe to every derived feed at once) and index.html (a page for people
listing the feeds, linking each feed's page and its Atom and JSON Feed).

Both are pure functions of their inputs (no clock), so unchanged feeds give unchanged bytes.
Whatever they show of stored entries is cleaned again here, like everything published:
text XML cannot carry is dropped, links must be public http(s) URLs, dates RFC 3339.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from republisher import PROJECT_URL, __version__
from republisher.publish.atom import feed_url, json_feed_url, page_url
from republisher.publish.pages import STYLE, carried, escape, story_count, time_element
from republisher.publish.public import PublicEntry, public_entries, public_url, xml_text
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
    entries: int  # entries routed to the feed, all time (status: ROUTED)
    in_feed: int  # stories the .atom file holds (status: IN FEED; at most max_entries)
    updated: datetime | None
    newest: tuple[Headline, ...]  # newest first; the page shows five
    carried: int | None = None  # routed entries those stories stand for (None: in_feed)


NEWEST_SHOWN = 5


def feed_summary(rule: Rule, stories: Sequence[Story], routed: int, first_written: datetime) -> FeedSummary:
    """What the index pages show of one feed publishing `stories` (newest first): its
    entries made publishable as in the feed itself (those that cannot be are left out)."""
    return summary_of_entries(rule, public_entries(stories), routed, carried(stories), first_written)


def summary_of_entries(
    rule: Rule, entries: Sequence[PublicEntry], routed: int, represented: int, first_written: datetime
) -> FeedSummary:
    """feed_summary, from the stories made public (`represented`: carried(stories))."""
    return FeedSummary(
        slug=rule.slug,
        title=rule.title,
        subtitle=rule.subtitle,
        entries=routed,
        in_feed=len(entries),
        updated=max((e.updated for e in entries), default=first_written),
        newest=tuple(Headline(e.title, e.link, e.published) for e in entries[:NEWEST_SHOWN]),
        carried=represented,
    )


def summary_to_json(summary: FeedSummary) -> str:
    """A summary as text to store, so that a feed left unchanged need not be read again."""
    return json.dumps(
        {
            "slug": summary.slug,
            "title": summary.title,
            "subtitle": summary.subtitle,
            "entries": summary.entries,
            "in_feed": summary.in_feed,
            "updated": summary.updated.isoformat() if summary.updated else None,
            "newest": [[h.title, h.link, h.updated.isoformat()] for h in summary.newest],
            "carried": summary.carried,
        },
        sort_keys=True,  # ASCII: any text, even a lone surrogate, stores as it reads back
    )


def summary_from_json(text: str) -> FeedSummary:
    """summary_to_json, read back; ValueError, KeyError or TypeError when it is not one."""
    raw = json.loads(text)
    return FeedSummary(
        slug=str(raw["slug"]),
        title=str(raw["title"]),
        subtitle=str(raw["subtitle"]),
        entries=int(raw["entries"]),
        in_feed=int(raw["in_feed"]),
        updated=datetime.fromisoformat(raw["updated"]) if raw["updated"] else None,
        newest=tuple(
            Headline(str(title), None if link is None else str(link), datetime.fromisoformat(updated))
            for title, link, updated in raw["newest"]
        ),
        carried=None if raw["carried"] is None else int(raw["carried"]),
    )


def headlines(stories: Sequence[Story]) -> tuple[Headline, ...]:
    """The newest stories as the index page lists them, made publishable like the feeds'
    entries (the ones that cannot be are left out)."""
    return tuple(Headline(e.title, e.link, e.published) for e in public_entries(stories[:NEWEST_SHOWN]))


def render_opml(feeds: Sequence[FeedSummary], base_url: str, title: str = "republisher feeds") -> bytes:
    """OPML 2.0 with one rss outline per derived feed."""
    dates = [d for f in feeds if (d := plausible_date(f.updated))]
    # RFC 822, as OPML 2.0 asks; format_datetime is locale-independent, strftime is not.
    modified = format_datetime(max(dates), usegmt=True) if dates else None
    outlines = tuple((f.slug, f.title, f.subtitle) for f in feeds)
    document = _opml(outlines, base_url, title, modified is not None)
    return (
        document.replace(_MODIFIED, _MODIFIED.replace(_DATE, modified.encode()), 1) if modified else document
    )


# Written where dateModified goes, then replaced: the rest of index.opml changes only with the
# feeds' names, so a long-running process renders it once, however often the date moves.
_DATE = b"republisher-date-modified"
_MODIFIED = b"<dateModified>" + _DATE + b"</dateModified>"


@functools.lru_cache(maxsize=8)
def _opml(outlines: tuple[tuple[str, str, str], ...], base_url: str, title: str, dated: bool) -> bytes:
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = xml_text(title)
    if dated:
        ET.SubElement(head, "dateModified").text = _DATE.decode()
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(opml, "body")
    for slug, feed_title, subtitle in outlines:
        ET.SubElement(
            body,
            "outline",
            type="rss",
            text=xml_text(feed_title),
            title=xml_text(feed_title),
            description=xml_text(subtitle),
            xmlUrl=feed_url(base_url, slug),
            htmlUrl=page_url(base_url, slug),  # the feed's own alternate link: its page
        )
    ET.indent(opml)
    document: bytes = ET.tostring(opml, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


# The style is the feed pages' (pages.STYLE): one look for every page.
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
{style}
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
    e = escape
    alternates = "\n".join(_alternates(f, base_url, json) for f in feeds)
    sections = "\n".join(_section(f, base_url, json) for f in feeds) or "<p>No feeds are configured yet.</p>"
    page = _PAGE.format(
        title=e(title),
        alternates=alternates,
        sections=sections,
        style=STYLE,
        project=e(PROJECT_URL),
        version=e(__version__),
    )
    return page.encode("utf-8")


# A publish renders index.html from every feed's summary, and most are unchanged since the
# last one: a long-running process keeps what each summary gave (the functions are pure).
CACHED_FEEDS = 4096


@functools.lru_cache(maxsize=CACHED_FEEDS)
def _alternates(f: FeedSummary, base_url: str, json: bool) -> str:
    e = escape
    atom = f'<link rel="alternate" type="application/atom+xml" title="{e(f.title)}" href="{e(feed_url(base_url, f.slug))}">'
    if not json:
        return atom
    return (
        f'{atom}\n<link rel="alternate" type="application/feed+json" title="{e(f.title)} (JSON Feed)" '
        f'href="{e(json_feed_url(base_url, f.slug))}">'
    )


@functools.lru_cache(maxsize=CACHED_FEEDS)
def _section(feed: FeedSummary, base_url: str, json: bool = False) -> str:
    e = escape
    url = e(feed_url(base_url, feed.slug))
    page = e(f"{feed.slug}.html")  # relative: the index works from disk and under any host name
    json_link = (
        f' · <a href="{e(json_feed_url(base_url, feed.slug))}" type="application/feed+json" '
        f'aria-label="{e(feed.title)} as JSON Feed">JSON Feed</a>'
        if json
        else ""
    )
    # Ids from the slug are unique per page (slugs are file names) and valid in HTML5.
    heading = f"feed-{e(feed.slug)}"
    updated = time_element(feed.updated) or "never"
    count = story_count(feed.in_feed, feed.entries, feed.in_feed if feed.carried is None else feed.carried)
    items = "\n".join(_headline(h) for h in feed.newest[:NEWEST_SHOWN])
    newest = (
        f'<ul aria-label="Newest in {e(feed.title)}">\n{items}\n</ul>\n'
        f'<p><a href="{page}">All stories in {e(feed.title)}, with their summaries</a></p>'
        if items
        else "<p>No stories yet.</p>"
    )
    return (
        f'<section aria-labelledby="{heading}">\n'
        f'<h2 id="{heading}"><a href="{page}">{e(feed.title)}</a></h2>\n'
        f"<p>{e(feed.subtitle)}</p>\n"
        f'<p class="meta">{count} · updated {updated} · '
        # The accessible name starts with the visible text, and says which feed it is.
        f'<a class="subscribe" href="{url}" type="application/atom+xml" '
        f'aria-label="Subscribe to {e(feed.title)} (Atom feed)">Subscribe</a>{json_link}</p>\n'
        f"{newest}\n</section>"
    )


def _headline(headline: Headline) -> str:
    e = escape
    link = public_url(headline.link)
    title = e(headline.title.strip() or link or "(untitled)")
    text = f'<a href="{e(link)}">{title}</a>' if link else title
    when = time_element(headline.updated, date_only=True)
    return f"<li>{text} {when}</li>" if when else f"<li>{text}</li>"
