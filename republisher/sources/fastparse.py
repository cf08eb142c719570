"""A fast reader for plain, well-formed RSS 2.0 and Atom 1.0. The only module that imports lxml.

feedparser reads anything, and takes 15-30 ms for a 50-item feed; lxml reads a
well-formed document in under a millisecond. This module reads the documents that most sources send
(valid XML, UTF-8, the usual elements) into the same dicts feedparser would give, so that
parse.py turns both into FeedData by the same code. It *declines* (returns None) at the
first thing it does not know exactly how feedparser treats: malformed XML, a DOCTYPE, an
encoding other than UTF-8, xml:base, markup inside a text element, a date it cannot read
strictly, a repeated single-valued element, any element or attribute outside the short
lists below. parse.py then hands the document to feedparser, as before.

What each accepted element gives is what feedparser's strict parser gives for it (see
tests/test_fastparse.py, which compares the two on every sample feed and on generated
variants of each element): text stripped; RSS links, permalink guids and Atom hrefs
resolved against the document URL; the "UTF-8 read as Latin-1" repair; RSS titles
that look like HTML marked as HTML (feedparser's own test, passed in by parse.py); the
link taken from a permalink guid or Atom id when the entry has no other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from republisher.sources.feedtext import (
    C1,
    Declined,
    content_type,
    named_author,
    repaired,
    resolved,
    strict_date,
)
from republisher.text import clean

log = logging.getLogger(__name__)

LONGEST_AUTHOR = 1000  # parse.py cuts feedparser's RSS authors to this (its regex is quadratic)
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Element -> the attributes it may carry here (xml:lang is allowed everywhere). An element
# not listed in its parent's table, or an attribute not listed for it, declines the document.
_RSS_CHANNEL = {
    "title": (),
    "link": (),
    "description": (),
    "language": (),
    "copyright": (),
    "pubDate": (),
    "lastBuildDate": (),
    "category": ("domain",),
    "generator": (),
    "docs": (),
    "ttl": (),
    "image": (),  # its children checked (_RSS_IMAGE), then skipped: feedparser keeps them apart
    "managingEditor": (),
    "webMaster": (),
    f"{DC}date": (),
    f"{DC}language": (),
    f"{DC}rights": (),
    f"{ATOM}link": ("rel", "href", "type", "title", "hreflang", "length"),
    "item": (),
}
_MEDIA_CONTENT = {f"{MEDIA}credit": ("scheme", "role")}
_RSS_IMAGE = {name: () for name in ("title", "url", "link", "width", "height", "description")}
_RSS_ITEM = {
    "title": (),
    "link": (),
    "description": (),
    "guid": ("isPermaLink",),
    "pubDate": (),
    "author": (),
    "category": ("domain",),
    "enclosure": ("url", "type", "length"),
    "comments": (),
    f"{CONTENT}encoded": (),
    f"{DC}creator": (),
    f"{DC}date": (),
    f"{MEDIA}content": ("url", "type", "fileSize", "medium", "width", "height", "isDefault", "expression"),
    f"{MEDIA}thumbnail": ("url", "width", "height"),
}
_ATOM_FEED = {
    f"{ATOM}title": ("type",),
    f"{ATOM}subtitle": ("type",),
    f"{ATOM}id": (),
    f"{ATOM}link": ("rel", "href", "type", "title", "hreflang", "length"),
    f"{ATOM}updated": (),
    f"{ATOM}author": (),
    f"{ATOM}generator": ("uri", "version"),
    f"{ATOM}icon": (),
    f"{ATOM}logo": (),
    f"{ATOM}rights": ("type",),
    f"{ATOM}category": ("term", "scheme", "label"),
    f"{ATOM}entry": (),
}
_ATOM_ENTRY = {
    f"{ATOM}title": ("type",),
    f"{ATOM}id": (),
    f"{ATOM}link": ("rel", "href", "type", "title", "hreflang", "length"),
    f"{ATOM}published": (),
    f"{ATOM}updated": (),
    f"{ATOM}author": (),
    f"{ATOM}category": ("term", "scheme", "label"),
    f"{ATOM}summary": ("type",),
    f"{ATOM}content": ("type",),
    f"{ATOM}rights": ("type",),
}
_ATOM_PERSON = {f"{ATOM}name": (), f"{ATOM}email": (), f"{ATOM}uri": ()}
# May appear more than once in their parent; every other element only once.
_REPEATABLE = frozenset(
    {
        "category",
        "item",
        "enclosure",
        f"{ATOM}link",
        f"{ATOM}category",
        f"{ATOM}entry",
        f"{MEDIA}content",
        f"{MEDIA}thumbnail",
    }
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


LooksLikeHtml = Callable[[str], bool]


def read(
    body: bytes, url: str, content_type: str | None, looks_like_html: LooksLikeHtml
) -> dict[str, Any] | None:
    """The document as feedparser would give it ({"version", "feed", "entries"}, plain
    dicts), or None when it is not plain, well-formed RSS 2.0 or Atom 1.0 in UTF-8."""
    try:
        return _Reader(url, looks_like_html).document(_root(body, content_type))
    except Declined:
        return None
    except Exception:  # anything unforeseen (lxml's or ours): feedparser reads it, as before
        log.warning("%s: fast reader failed, read by feedparser", url, exc_info=True)
        return None


def _root(body: bytes, content_type: str | None) -> Any:
    """The document's root element, parsed strictly: entities left unresolved, no DTD, no
    network, lxml's limits on depth and text size kept (beyond them: not well-formed)."""
    charset = (content_type or "").lower().partition("charset=")[2].strip(" \"'")
    if charset not in ("", "utf-8", "utf8"):
        raise Declined("charset")
    if not charset and not body.isascii() and (content_type or "").lower().startswith("text/"):
        raise Declined("text/* without a charset: feedparser reads it as US-ASCII")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Declined("not UTF-8") from None
    # feedparser maps C1 controls to Windows-1252 characters; a BOM it strips itself.
    if C1.search(text) or text.startswith("\ufeff"):
        raise Declined("C1 control or byte order mark")
    declared = _DECLARATION.match(text)
    if declared and declared.group(1).lower() not in ("utf-8", "utf8"):
        raise Declined("declared encoding")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        raise Declined("not well-formed") from None
    if root.getroottree().docinfo.doctype:
        raise Declined("DOCTYPE")
    return root


_ENTITY_IN_QUERY = re.compile(r"&([A-Za-z0-9_]+);")
_DECLARATION = re.compile(r"""\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)""")


def _attributes(element: Any) -> dict[str, str]:
    """An element's attributes as feedparser keeps them: names lower-cased, the values of
    rel and type too (xml:lang left out)."""
    normalized = {}
    for name, value in element.attrib.items():
        if name != XML_LANG:
            name = name.lower()
            normalized[name] = value.lower() if name in ("rel", "type") else value
    return normalized


def _check_attributes(element: Any, allowed: tuple[str, ...]) -> None:
    for name in element.attrib:
        if name != XML_LANG and name not in allowed:
            raise Declined(f"attribute {name}")


def _children(element: Any, table: dict[str, Any]) -> list[Any]:
    """The element's children, each checked against the table (comments and PIs skipped)."""
    seen: set[str] = set()
    children = []
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):  # a processing instruction
            continue
        if tag not in table:
            raise Declined(f"element {tag}")
        if tag in seen and tag not in _REPEATABLE:
            raise Declined(f"repeated {tag}")
        seen.add(tag)
        _check_attributes(child, table[tag])
        children.append(child)
    return children


def _raw_text_of(element: Any) -> str:
    """The element's own text (before any child), stripped."""
    return (element.text or "").strip()


def _raw_text(element: Any) -> str:
    """A text element's content, stripped. Markup inside it (child elements) declines."""
    if len(element):
        raise Declined(f"markup inside {element.tag}")
    return _raw_text_of(element)


def _empty(element: Any) -> None:
    """An element that carries only attributes: any content in it declines."""
    if len(element) or _raw_text_of(element):
        raise Declined(f"content inside {element.tag}")


def _text(element: Any) -> str:
    """A text element's content as feedparser gives it (see _repaired)."""
    return repaired(_raw_text(element))


class _Reader:
    def __init__(self, url: str, looks_like_html: LooksLikeHtml) -> None:
        self.url = url
        self.looks_like_html = looks_like_html

    def document(self, root: Any) -> dict[str, Any]:
        # Every element read is checked against its parent's table, the roots here: an
        # attribute no table lists (xml:base among them) declines wherever it is.
        if root.tag == "rss":
            _check_attributes(root, ("version",))
            if root.get("version") != "2.0" or len(root) != 1 or root[0].tag != "channel":
                raise Declined("rss")
            _check_attributes(root[0], ())
            return self.rss(root[0])
        if root.tag == f"{ATOM}feed":
            _check_attributes(root, ())
            return self.atom(root)
        raise Declined("neither RSS 2.0 nor Atom 1.0")

    # --- RSS 2.0 ---------------------------------------------------------------------

    def rss(self, channel: Any) -> dict[str, Any]:
        feed: dict[str, Any] = {}
        entries = []
        for child in _children(channel, _RSS_CHANNEL):
            tag = child.tag
            if tag == "item":
                entries.append(self.rss_item(child))
            elif tag == "title":
                feed["title_detail"] = self.rss_title(child)
            elif tag == "link":
                feed["link"] = self.link_text(child)
            elif tag == "pubDate":
                feed["published_parsed"] = strict_date(_text(child))
            elif tag in ("lastBuildDate", f"{DC}date"):
                if "updated_parsed" in feed:
                    raise Declined("two update dates")  # feedparser keeps the last; simpler to leave it
                feed["updated_parsed"] = strict_date(_text(child))
            elif tag == "managingEditor":
                self.rss_author(feed, child)
            elif tag == f"{ATOM}link":
                self.atom_link(feed, child)
            elif tag == "image":
                for part in _children(child, _RSS_IMAGE):  # anything else in it (an item!) declines
                    _text(part)
            else:
                _text(child)  # checked for markup; feedparser keeps it, parse.py does not read it
        return {"version": "rss20", "feed": feed, "entries": entries}

    def rss_title(self, element: Any) -> dict[str, Any]:
        raw = _raw_text(element)
        # feedparser guesses before its repair of the text, so on the text as written.
        kind = "text/html" if self.looks_like_html(raw) else "text/plain"
        return {"type": kind, "value": repaired(raw), "base": self.url}

    def link_text(self, element: Any, *, unescape: bool = False) -> str:
        """An RSS <link>: resolved against the document URL, then feedparser's repairs of
        the text and of query strings written as entities ("a=1&b;=2" -> "a=1&b=2"; an
        item's link also loses "&amp;" escaped twice)."""
        value = _raw_text(element)
        value = repaired(resolved(self.url, value) if value else value)
        if unescape:
            value = value.replace("&amp;", "&")
        return _ENTITY_IN_QUERY.sub(r"&\g<1>", value)

    def rss_author(self, context: dict[str, Any], element: Any) -> None:
        if "author" in context:
            raise Declined("two authors")
        value = _text(element)
        if len(value) > LONGEST_AUTHOR:
            raise Declined("author longer than parse.py lets feedparser read")
        context["author"] = value
        if value and "@" not in value:
            context["author_detail"] = {"name": value}
        elif value and named_author(clean(value) or "") is None:
            # parse.py then takes the name from feedparser's own split of the address
            raise Declined("an author with an address in no usual form")

    def rss_item(self, item: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        link: str | None = None
        permalink: str | None = None
        for child in _children(item, _RSS_ITEM):
            tag = child.tag
            if tag == "title":
                entry["title_detail"] = self.rss_title(child)
            elif tag == "link":
                link = self.link_text(child, unescape=True)
            elif tag == "description":
                entry["summary_detail"] = {"type": "text/html", "value": _text(child), "base": self.url}
            elif tag == f"{CONTENT}encoded":
                entry["content"] = [{"type": "text/html", "value": _text(child), "base": self.url}]
            elif tag == "guid":
                entry["id"] = _text(child)
                if child.get("isPermaLink", "true") == "true":
                    permalink = entry["id"]
            elif tag == "pubDate":
                entry["published_parsed"] = strict_date(_text(child))
            elif tag == f"{DC}date":  # feedparser: the entry's updated time
                entry["updated_parsed"] = strict_date(_text(child))
            elif tag in ("author", f"{DC}creator"):
                self.rss_author(entry, child)
            elif tag == "category":
                self.tag(entry, _text(child) or None, child.get("domain"), None)
            elif tag == "enclosure":
                _empty(child)
                attributes = _attributes(child)
                if "url" in attributes:
                    attributes["href"] = attributes.pop("url")
                entry.setdefault("enclosures", []).append(attributes)
            elif tag == f"{MEDIA}content":
                if _raw_text_of(child):
                    raise Declined("media:content with text")
                for part in _children(child, _MEDIA_CONTENT):  # credits: feedparser keeps them apart
                    _text(part)
                entry.setdefault("media_content", []).append(_attributes(child))
            elif tag == f"{MEDIA}thumbnail":
                _empty(child)
                entry.setdefault("media_thumbnail", []).append(_attributes(child))
            else:
                _text(child)
        if link is not None:
            entry["link"] = link
        elif permalink is not None:
            entry["link"] = permalink
        return entry

    @staticmethod
    def tag(context: dict[str, Any], term: str | None, scheme: str | None, label: str | None) -> None:
        """feedparser's _add_tag: an all-empty tag is left out, a repeated one kept once."""
        if not term and not scheme and not label:
            return
        value = {"term": term, "scheme": scheme, "label": label}
        tags = context.setdefault("tags", [])
        if value not in tags:
            tags.append(value)

    # --- Atom 1.0 --------------------------------------------------------------------

    def atom(self, root: Any) -> dict[str, Any]:
        feed: dict[str, Any] = {}
        entries = []
        for child in _children(root, _ATOM_FEED):
            tag = child.tag
            if tag == f"{ATOM}entry":
                entries.append(self.atom_entry(child))
            else:
                self.atom_common(feed, child)
        return {"version": "atom10", "feed": feed, "entries": entries}

    def atom_entry(self, element: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        for child in _children(element, _ATOM_ENTRY):
            self.atom_common(entry, child)
        return entry

    def atom_common(self, context: dict[str, Any], child: Any) -> None:
        tag = child.tag[len(ATOM) :]
        if tag == "title":
            context["title_detail"] = self.atom_text(child)
        elif tag in ("summary", "content"):
            detail = self.atom_text(child)
            if tag == "summary":
                context["summary_detail"] = detail
            else:
                context["content"] = [detail]
        elif tag == "id":
            value = _text(child)
            context["id"] = value
            context.setdefault("link", value)  # feedparser: an id is a permalink unless a link came first
        elif tag == "link":
            self.atom_link(context, child)
        elif tag == "published":
            context["published_parsed"] = strict_date(_text(child))
        elif tag == "updated":
            context["updated_parsed"] = strict_date(_text(child))
        elif tag == "author":
            self.atom_author(context, child)
        elif tag == "category":
            _empty(child)
            self.tag(context, child.get("term"), child.get("scheme"), child.get("label"))
        elif tag in ("subtitle", "rights"):
            self.atom_text(child)
        else:
            _text(child)  # generator, icon, logo: checked, not read

    def atom_text(self, element: Any) -> dict[str, Any]:
        kind = content_type(element.get("type") or "text")
        if kind not in ("text/plain", "text/html"):  # xhtml (markup as XML) and the rest
            raise Declined(f"text type {kind!r}")
        return {"type": kind, "value": _text(element), "base": self.url}

    def atom_link(self, context: dict[str, Any], element: Any) -> None:
        _empty(element)
        if element.get("href") is None:
            raise Declined("link without href")
        attributes = _attributes(element)
        attributes.setdefault("rel", "alternate")
        attributes.setdefault("type", "application/atom+xml" if attributes["rel"] == "self" else "text/html")
        attributes["href"] = resolved(self.url, attributes["href"])
        context.setdefault("links", []).append(attributes)
        if attributes["rel"] == "alternate" and content_type(attributes["type"]) in _HTML_TYPES:
            context["link"] = attributes["href"]
        if attributes["rel"] == "enclosure":
            context.setdefault("enclosures", []).append(attributes)

    def atom_author(self, context: dict[str, Any], element: Any) -> None:
        if "author" in context or "author_detail" in context:
            raise Declined("two authors")
        if _raw_text_of(element):
            raise Declined("author with text")
        detail: dict[str, str] = {}
        for child in _children(element, _ATOM_PERSON):
            detail[child.tag[len(ATOM) :]] = _text(child)
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name or email:
            context["author"] = name or email
        context["author_detail"] = detail
