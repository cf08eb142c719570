"""The pages people read: `<slug>.html`, one per derived feed, and what index.html shares
with it (escaping, dates, the way stories are counted, the style).

A feed's page shows what its Atom file carries: the same stories, cleaned the same way
(public.public_entries), with the feed's subscribe address. Plain HTML5 with a small
inline style and no script, so it reads in any browser, opened from disk or served; no
XSLT, which browsers are removing. Pure functions of their inputs (no clock): unchanged
stories give byte-identical pages, which publish then leaves alone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from republisher import PROJECT_URL, __version__
from republisher.models import Enclosure
from republisher.publish.atom import feed_url, json_feed_url
from republisher.publish.public import PublicEntry, public_entries, xml_text
from republisher.publish.stories import Story, skipped
from republisher.routing.rules import Rule
from republisher.text import counted, plausible_date

INDEX_PAGE = "index.html"

# What XML allows but an HTML page may not hold (parse errors): C1 controls and noncharacters.
_HTML_FORBIDDEN = re.compile(
    "[\x7f-\x9f\ufdd0-\ufdef"
    + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0x10000, 0x110000, 0x10000))
    + "]"
)


def escape(value: str) -> str:
    """Text escaped for HTML, without the characters an HTML page may not carry."""
    if value.isascii() and value.isprintable():  # the usual text: none of them (quick check)
        return html.escape(value)
    return html.escape(_HTML_FORBIDDEN.sub("", xml_text(value)))


def fragment(sanitized: str) -> str:
    """Sanitized HTML (public.public_entry's) made fit for a page: the characters XML
    allows and HTML does not are dropped; they are never part of a tag."""
    if sanitized.isascii() and "\x7f" not in sanitized:  # the only such ASCII character
        return sanitized
    return _HTML_FORBIDDEN.sub("", sanitized)


def time_element(when: datetime | None, *, date_only: bool = False) -> str:
    """A <time> element in UTC, the zone named; "" for a date that cannot be shown."""
    when = plausible_date(when)
    if when is None:
        return ""
    day, minute = when.date().isoformat(), f"{when.hour:02d}:{when.minute:02d}"  # strftime is slower
    shown = day if date_only else f"{day} {minute} UTC"
    return f'<time datetime="{day}T{minute}:{when.second:02d}Z">{shown}</time>'


def carried(stories: Sequence[Story]) -> int:
    """The routed entries these stories stand for: each story's own and its merged copies."""
    return sum(1 + len(story.also) for story in stories)


def story_count(in_feed: int, routed: int, represented: int) -> str:
    """How many stories the feed holds, counted as `status` does (IN FEED, ROUTED), and
    why fewer than the entries routed when they differ: stories carried by several
    sources are shown once (`represented` > stories), retention leaves older entries out
    (`routed` > `represented`)."""
    shown = f"{counted(in_feed, 'story', 'stories')} in the feed"
    if routed <= in_feed:
        return shown
    reasons = []
    if routed > represented:
        reasons.append("older ones are left out")
    if represented > in_feed:
        reasons.append("a story carried by several sources is shown once")
    because = f"; {' and '.join(reasons)}" if reasons else ""
    return f"{shown} ({counted(routed, 'entry', 'entries')} routed{because})"


# Colours meet WCAG AA contrast in both schemes; system fonts only, so a page needs no
# network access beyond itself (and the images of the stories).
STYLE = """:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #555; --line: #ddd; --link: #0645ad;
        --box: #f3f5f9; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ea; --muted: #b0b0b8; --line: #444; --link: #8ab4f8; --box: #24262b; }
}
body { font: 16px/1.55 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
       color: var(--fg); overflow-wrap: break-word; }
a { color: var(--link); }
a:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
h1 { font-size: 1.6rem; line-height: 1.25; }
h2 { font-size: 1.2rem; line-height: 1.3; margin-bottom: 0.2rem; }
h2 + p { margin-top: 0; }
section, article { border-top: 1px solid var(--line); padding: 0.5rem 0 1rem; }
.meta { color: var(--muted); font-size: 0.9rem; }
.subscribe { display: inline-block; padding: 0.1rem 0.6rem; border: 1px solid var(--link);
             border-radius: 4px; text-decoration: none; }
ul { padding-left: 1.2rem; }
li { margin: 0.25rem 0; }
li time { color: var(--muted); font-size: 0.85rem; white-space: nowrap; }"""

# Only the feed page's own rules; STYLE comes first.
_FEED_STYLE = """
.address { background: var(--box); border-radius: 6px; padding: 0.6rem 0.8rem; }
.address p { margin: 0.2rem 0; }
.address a { overflow-wrap: anywhere; }
article { display: flow-root; }
.thumb { float: right; max-width: min(160px, 35%); height: auto; margin: 0.3rem 0 0.5rem 1rem;
         border-radius: 4px; }
.summary img { max-width: 100%; height: auto; }
.summary pre, .summary table { display: block; max-width: 100%; overflow-x: auto; }
.summary blockquote { margin-left: 0; padding-left: 1rem; border-left: 3px solid var(--line); }"""

_FEED_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="republisher {version}">
<title>{title}</title>
{alternates}
<style>
{style}
</style>
</head>
<body>
<nav class="meta"><a href="{index}">All feeds</a></nav>
<header>
<h1>{title}</h1>
<p>{subtitle}</p>
<div class="address">
<p>To follow this feed, add its address to a feed reader:</p>
<p><a href="{atom}" type="application/atom+xml">{atom}</a></p>
{json_line}
</div>
<p class="meta">{count}{updated}</p>
</header>
<main>
{articles}
</main>
<footer class="meta"><p><a href="{index}">All feeds</a> · Made by <a href="{project}">republisher</a> {version}.</p></footer>
</body>
</html>
"""


def render_feed_page(
    rule: Rule, stories: Sequence[Story], base_url: str, *, routed: int, json: bool = False
) -> bytes:
    """The page of one derived feed publishing `stories` (newest first): `routed` is the
    number of stored entries its rule takes; with `json`, its JSON Feed is offered too."""
    return render_page_entries(
        rule, public_entries(stories), base_url, routed=routed, represented=carried(stories), json=json
    )


class PageCache:
    """The articles of one publish, each written once however many feed pages show it.
    Known by the identity of the PublicEntry (public.PublicCache shares them), which is kept."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[PublicEntry, str]] = {}

    def article(self, n: int, entry: PublicEntry) -> str:
        """The entry as the page's n-th article."""
        made = self._made.get(id(entry))
        if made is None:
            made = self._made[id(entry)] = (entry, _article_body(entry))
        return f'<article aria-labelledby="story-{n}">\n<h2 id="story-{n}">{made[1]}'


def _articles(entries: Sequence[PublicEntry], cache: PageCache) -> Iterator[str]:
    """Each entry's article, numbered; one that cannot be written is left out (and
    logged), never the page."""
    n = 0
    for entry in entries:
        try:
            article = cache.article(n + 1, entry)
        except Exception as e:  # one entry must never stop the page
            skipped(entry.source_name, entry.key, e)
            continue
        n += 1
        yield article


def render_page_entries(
    rule: Rule,
    entries: Sequence[PublicEntry],
    base_url: str,
    *,
    routed: int,
    represented: int,
    json: bool = False,
    cache: PageCache | None = None,
) -> bytes:
    """The page of one derived feed showing `entries` (public.public_entries of its stories,
    newest first), which stand for `represented` routed entries (carried(stories))."""
    e = escape
    cache = cache if cache is not None else PageCache()
    title = xml_text(rule.title).strip() or rule.slug
    atom = feed_url(base_url, rule.slug)
    alternates = f'<link rel="alternate" type="application/atom+xml" title="{e(title)}" href="{e(atom)}">'
    json_line = ""
    if json:
        url = e(json_feed_url(base_url, rule.slug))
        alternates += f'\n<link rel="alternate" type="application/feed+json" title="{e(title)} (JSON Feed)" href="{url}">'
        json_line = (
            f'<p class="meta">As JSON Feed: <a href="{url}" type="application/feed+json">{url}</a></p>'
        )
    newest = time_element(max((entry.updated for entry in entries), default=None))
    articles = "\n".join(_articles(entries, cache))
    page = _FEED_PAGE.format(
        version=e(__version__),
        title=e(title),
        subtitle=e(xml_text(rule.subtitle).strip()),
        alternates=alternates,
        style=STYLE + _FEED_STYLE,
        index=INDEX_PAGE,  # relative: the page works from disk and under any host name
        atom=e(atom),
        json_line=json_line,
        count=story_count(len(entries), routed, represented),
        updated=f" · updated {newest}" if newest else "",
        articles=articles or "<p>No stories yet: they appear here when a source publishes one.</p>",
        project=e(PROJECT_URL),
    )
    return page.encode("utf-8")


def _article_body(entry: PublicEntry) -> str:
    """An article from its heading's text on: what follows `<h2 id="story-n">`."""
    e = escape
    heading = e(entry.title)
    if entry.link:
        heading = f'<a href="{e(entry.link)}">{heading}</a>'
    meta = [time_element(entry.published)]
    if entry.updated - entry.published >= timedelta(minutes=1):
        meta.append(f"updated {time_element(entry.updated)}")
    if entry.author != entry.source.title:  # an author falls back to the source's title
        meta.append(f"by {e(entry.author)}")
    source = e(entry.source.title)
    meta.append(
        f'from <a href="{e(entry.source.link)}">{source}</a>' if entry.source.link else f"from {source}"
    )
    # The summary, else the content: either ends with the "Also carried by" line of a merged story.
    body = entry.summary or entry.content
    parts = [
        f"{heading}</h2>",
        f'<p class="meta">{" · ".join(m for m in meta if m)}</p>',
        "" if body and "<img" in body else _thumbnail(entry.enclosures),
        f'<div class="summary">{fragment(body)}</div>' if body else "",
        _attachments(entry.enclosures),
        "</article>",
    ]
    return "\n".join(part for part in parts if part)


def _thumbnail(enclosures: Sequence[Enclosure]) -> str:
    """The first image the entry carries (media:thumbnail, media:content), shown small."""
    for enclosure in enclosures:
        if enclosure.type and enclosure.type.startswith("image/"):
            return f'<img class="thumb" src="{escape(enclosure.url)}" alt="" loading="lazy">'
    return ""


def _attachments(enclosures: Sequence[Enclosure]) -> str:
    """Links to the other files (audio, video, documents), with type and size when known."""
    links = []
    for enclosure in enclosures:
        if enclosure.type and enclosure.type.startswith("image/"):
            continue
        name = enclosure.url.rstrip("/").rpartition("/")[2].partition("?")[0] or enclosure.url
        details = [d for d in (enclosure.type, _size(enclosure.length)) if d]
        about = f" ({escape(', '.join(details))})" if details else ""
        links.append(f'<a href="{escape(enclosure.url)}">{escape(name)}</a>{about}')
    return f'<p class="meta">Attached: {", ".join(links)}</p>' if links else ""


def _size(length: int | None) -> str:
    """A byte count as people read it: "512 bytes", "3.4 MB", "23 MB"."""
    if length is None:
        return ""
    size, unit = float(length), "bytes"
    for larger in ("KB", "MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, larger
    if unit == "bytes":
        return f"{length} bytes"
    return f"{size:.1f} {unit}" if size < 10 else f"{size:.0f} {unit}"
