"""What may be published of a story: every output (Atom, JSON Feed, index pages) renders
a `PublicEntry` made here, so one set of rules holds for all of them.

Stored entries are untrusted: sources are, and an older, laxer version may have stored
them. So at every publish, one entry at a time: text loses the characters XML cannot
carry, HTML is sanitized again (republisher.markup: unless the sanitizer running now is
the one that stored it), dates are the store's plausible ones
in UTC, and only public http(s) URLs remain (no user:password@, no file:// or local path,
not even inside a link that was resolved against the URL polled). An entry that still
cannot be published is skipped and logged, never stopping a publish.
"""

from __future__ import annotations

import functools
import html
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit, urlunsplit

from republisher import enclosures, markup, text
from republisher.models import Category, Enclosure, SourceMeta
from republisher.publish.stories import Story, dated, skipped
from republisher.text import plausible_date

# The earliest date published (text.plausible_date drops earlier ones as junk).
EARLIEST_DATE = datetime(text.EARLIEST_YEAR, 1, 1, tzinfo=UTC)


def xml_text(value: str | None) -> str:
    """The text without the characters XML 1.0 cannot carry (lxml refuses them outright)."""
    return text.xml_allowed(value) if value else ""


_URL_UNSAFE = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f]')


def _url_chars(also_excluded: str) -> str:
    """A regex class of the printable ASCII characters a URL may carry as they are, but for
    these; listed, where a negated class over all of Unicode took 10 ms to compile."""
    allowed = (chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>\\^`{|}' + also_excluded)
    return "[" + "".join(re.escape(c) for c in allowed) + "]"


# An ASCII http(s) URL with a plain host name, no user:password@, only characters allowed
# in a URL and whole %-escapes: public_url would keep it unchanged (given a valid port).
_PLAIN_URL = re.compile(
    r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?(?::(\d{1,5}))?"
    rf"(?:/(?:{_url_chars('%?#')}|%[0-9A-Fa-f]{{2}})*)?"
    rf"(\?(?:{_url_chars('%#')}|%[0-9A-Fa-f]{{2}})*)?"
    rf"(?:#(?:{_url_chars('%')}|%[0-9A-Fa-f]{{2}})*)?\Z"
)
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\"<>\\^`{|}]+\Z")


def public_url(value: str | None, *, allow_query: bool = True) -> str | None:
    """An absolute http(s) URL safe to publish, else None: any user:password@ is dropped,
    and with allow_query=False so is a URL with a query (it may carry a token); never a
    file:// URL, a local path or a link urllib cannot read (port 99999, `http://[::1`)."""
    if value and (plain := _PLAIN_URL.match(value)):
        # The common case, decided without urllib (this runs for every link published).
        port, query = plain.group(1), plain.group(2)
        if (port is None or 0 < int(port) <= 65535) and (allow_query or query is None):
            return value
    value = xml_text(value).strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.query and not allow_query:
        return None
    if "@" in parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        value = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    value = _URL_UNSAFE.sub(lambda m: quote(m.group()), value)
    return value if text.is_web_url(value) else None


@functools.lru_cache(maxsize=1024)
def _secrets(self_url: str) -> tuple[str, ...]:
    """The polled URL's user:password@ and ?query. Relative links of a source were resolved
    against that URL when parsed, so these can be in any stored URL of its entries, HTML
    attributes (where & is written &amp;) included."""
    try:
        parts = urlsplit(self_url)
    except ValueError:
        return ()
    userinfo, at, _ = parts.netloc.rpartition("@")
    secrets = [userinfo + "@"] if at and userinfo else []
    if parts.query:
        secrets += ["?" + parts.query, "?" + parts.query.replace("&", "&amp;")]
    return tuple(secrets)


def _has_password(url: str) -> bool:
    """A URL that carries a password is never published, not even without it (SPEC)."""
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return True


def _without(value: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        value = value.replace(secret, "")
    return value


def _scrubber(origin: SourceMeta) -> Callable[[str | None], str]:
    """A function giving a text of this source XML-safe and without its URL's secrets."""
    secrets = _secrets(origin.self_url)
    return lambda value: _without(xml_text(value), secrets)


@dataclass(frozen=True)
class PublicSource:
    """What an atom:source may say about the feed an entry came from."""

    title: str
    id: str
    self_link: str | None  # the source's address, when it is public
    link: str | None
    updated: datetime | None
    author: str | None = None  # the feed's own author, for entries that name none


@functools.lru_cache(maxsize=1024)  # the entries of one source share it
def public_source(origin: SourceMeta) -> PublicSource:
    scrub = _scrubber(origin)
    return PublicSource(
        title=_public_name(scrub(origin.title)),
        id=_public_id(scrub(origin.id)),
        self_link=_own_self_link(origin) or _polled_self_link(origin),
        link=public_url(scrub(origin.link)),
        updated=plausible_date(origin.updated),
        author=scrub(origin.author).strip() or None,
    )


def _own_self_link(origin: SourceMeta) -> str | None:
    """The document's own rel="self" link, when public. It may have a query (WordPress's
    ?feed=rss2), but none of the polled URL's secrets: a private feed can echo its token."""
    own = origin.own_self
    if not own or _has_password(own):
        return None
    secrets = _secrets(origin.self_url)
    return None if _without(own, secrets) != own else public_url(own)


def _polled_self_link(origin: SourceMeta) -> str | None:
    """The URL polled, when it has no password and no query (which may carry a token)."""
    return None if _has_password(origin.self_url) else public_url(origin.self_url, allow_query=False)


def _public_name(name: str) -> str:
    """A source's title; when it is only an address (the title a feed without one gets),
    the public form of that address: its host or file name, never a path or a token."""
    name = name.strip()
    if name.lower().startswith(("http://", "https://", "file:", "/")):
        try:
            parts = urlsplit(name)
        except ValueError:
            return "(untitled source)"
        shown = public_url(name, allow_query=False) or parts.hostname or parts.path.rpartition("/")[2]
        return shown or "(untitled source)"  # "http://", "/": an address that names nothing
    return name or "(untitled source)"


def _public_id(value: str) -> str:
    """A source id to publish: kept when it is an IRI that reveals nothing and runs nothing
    (tag:, urn:, a plain http(s) URL...), else a stable urn:uuid made from it."""
    value = value.strip()
    scheme = value.partition(":")[0].lower()
    if scheme in ("http", "https"):
        kept = public_url(value, allow_query=False)
        if kept:
            return kept
    elif scheme not in UNPUBLISHED_ID_SCHEMES and _IRI.match(value):
        return value
    return hashed_id(value)


# Ids in these schemes are published as hashed_id: a local path, or a script a reader
# that takes an id for a link (some do, for an entry without one) would run.
UNPUBLISHED_ID_SCHEMES = frozenset({"file", "javascript", "vbscript", "data"})


def hashed_id(value: str) -> str:
    """A stable urn:uuid standing for an id that cannot be published as it is."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, value)}"


@dataclass(frozen=True)
class PublicEntry:
    """A story as every output shows it: text XML can carry, sanitized HTML, plausible
    dates in UTC, only public http(s) URLs."""

    source_name: str  # the configured source and the entry's key, for log lines
    key: str
    id: str
    title: str
    link: str | None
    summary: str | None  # sanitized HTML, with the "Also carried by" line
    content: str | None  # sanitized HTML
    author: str
    categories: tuple[Category, ...]
    published: datetime
    updated: datetime
    via: tuple[str, ...]  # the other sources' links to the same story
    source: PublicSource
    enclosures: tuple[Enclosure, ...] = ()  # public URLs, valid types and lengths only


class PublicCache:
    """The stories of one publish made public once each, however many feeds carry them.

    Known by the identity of their stored entries, which the publish reads once each
    (store.EntryCache) and never changes; the stories are kept, so no id is reused."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, ...], tuple[Story, PublicEntry]] = {}

    def public_entry(self, story: Story) -> PublicEntry:
        key = (id(story.entry), *(id(other) for other in story.also))
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = (story, public_entry(story))
        return made[1]


def public_entries(stories: Iterable[Story], cache: PublicCache | None = None) -> list[PublicEntry]:
    """Each story as published, in order. One that cannot be published is skipped and
    logged; so is one whose id an earlier one has (a feed never repeats an id)."""
    published: list[PublicEntry] = []
    ids: set[str] = set()
    for story in stories:
        try:
            entry = cache.public_entry(story) if cache is not None else public_entry(story)
        except Exception as e:  # one stored entry must never stop a publish
            skipped(story.entry.source, story.entry.key, e)
            continue
        if entry.id in ids:
            skipped(entry.source_name, entry.key, f"id {entry.id} already in the feed")
            continue
        ids.add(entry.id)
        published.append(entry)
    return published


def public_entry(story: Story) -> PublicEntry:
    """The story as published; raises when the entry cannot be published at all."""
    entry = dated(story.entry)
    data, source = entry.data, public_source(entry.origin)
    if source.updated is None:
        # A source feed that gives no date of its own (an RSS channel with neither
        # lastBuildDate nor pubDate) was updated no later than the entry it carries:
        # atom:source always says when, and says it the same way at every publish.
        source = replace(source, updated=entry.updated_time)
    scrub = _scrubber(entry.origin)
    entry_id = xml_text(entry.atom_id).strip()
    if not _IRI.match(entry_id):
        raise ValueError(f"id {entry_id[:100]!r} is not an IRI")
    if entry_id.partition(":")[0].lower() in UNPUBLISHED_ID_SCHEMES:
        entry_id = hashed_id(entry_id)
    link = public_url(scrub(data.link))
    summary, content = with_carriers(story)
    # Plain text taken from the stored HTML when there is no title: never output as markup.
    title = text.display_title(scrub(data.title), scrub(data.summary), scrub(data.content), link)
    categories = tuple(c for c in (_public_category(c, scrub) for c in data.categories) if c)
    via = (public_url(_scrubber(o.origin)(o.data.link)) for o in story.also)
    return PublicEntry(
        source_name=entry.source,
        key=entry.key,
        id=entry_id,
        title=title.strip() or "(untitled)",
        link=link,
        summary=summary,
        content=content,
        author=scrub(data.author).strip() or source.author or source.title,
        categories=categories,
        published=entry.sort_time,
        updated=entry.updated_time,
        via=tuple(dict.fromkeys(v for v in via if v and v != link)),
        source=source,
        enclosures=_public_enclosures(data.enclosures, scrub),
    )


def _public_enclosures(
    given: tuple[Enclosure, ...], scrub: Callable[[str | None], str]
) -> tuple[Enclosure, ...]:
    """The stored enclosures checked again: public URLs, valid types and lengths, one per URL."""
    found = (
        Enclosure(url, enclosures.mime_type(e.type), enclosures.byte_length(e.length))
        for e in given
        if isinstance(e.url, str) and (url := public_url(scrub(e.url)))
    )
    return enclosures.merged(found)


def _public_category(category: Category, scrub: Callable[[str | None], str]) -> Category | None:
    term, scheme = scrub(category.term).strip(), scrub(category.scheme).strip()
    if not term:
        return None
    return Category(term, scheme if _IRI.match(scheme) else None, scrub(category.label).strip() or None)


def also_carried_by(story: Story) -> str:
    """An HTML line naming the other sources that carried the story ("" when none did)."""
    names: dict[str, str | None] = {}
    for other in story.also:
        if other.source != story.entry.source:
            name = public_source(other.origin).title
            names.setdefault(name, public_url(_scrubber(other.origin)(other.data.link)))
    if not names:
        return ""
    links = ", ".join(
        f'<a href="{html.escape(link)}">{html.escape(name)}</a>' if link else html.escape(name)
        for name, link in names.items()
    )
    return f"<p>Also carried by: {links}.</p>"


def with_carriers(story: Story) -> tuple[str | None, str | None]:
    """(summary, content) of the published version as sanitized HTML, the "Also carried
    by" line added to the summary, or to the content when there is no summary."""
    data = story.entry.data
    secrets = _secrets(story.entry.origin.self_url)
    base = public_url(_without(xml_text(data.link), secrets))
    # HTML stored by the sanitizer running now is what it would make of it again.
    clean = story.entry.sanitized_by == markup.sanitizer_id()
    summary = _safe_html(data.summary, base, secrets, clean)
    content = _safe_html(data.content, base, secrets, clean)
    carried = also_carried_by(story)
    if summary:
        return summary + carried, content
    if content:
        return None, content + carried
    return carried or None, None


def _safe_html(fragment: str | None, base: str | None, secrets: tuple[str, ...], clean: bool) -> str | None:
    if not fragment:
        return None
    cleaned = _without(xml_text(fragment) if clean else _sanitized(fragment, base), secrets)
    return cleaned if cleaned.strip() else None


# An entry is in several feeds, and every feed is rendered at each publish: sanitizing is
# the costly part, so results are kept, up to this many characters.
SANITIZED_CACHE_CHARS = 32_000_000
_sanitized_cache: dict[tuple[str, str | None], str] = {}
_sanitized_chars = 0


def _sanitized(fragment: str, base: str | None) -> str:
    """Stored HTML, sanitized again on its way out (an older, laxer version may have
    stored it) and XML-safe (before: nh3 takes no lone surrogates; after: it decodes
    references such as &#1;)."""
    global _sanitized_chars
    done = _sanitized_cache.get((fragment, base))
    if done is None:
        # Without a "<" there is no tag and no attribute: nothing that could run.
        done = xml_text(markup.sanitize(xml_text(fragment), base) if "<" in fragment else fragment)
        if _sanitized_chars > SANITIZED_CACHE_CHARS:
            _sanitized_cache.clear()
            _sanitized_chars = 0
        _sanitized_cache[(fragment, base)] = done
        _sanitized_chars += len(fragment) + len(done)
    return done
