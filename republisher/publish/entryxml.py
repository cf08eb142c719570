"""One Atom <entry> written directly, byte for byte as feedgen writes it.

feedgen builds an lxml tree for every entry and was the costliest step of a publish (about
a third of it). The entries of a derived feed have one fixed shape (public.PublicEntry), so
this module writes that shape as text, in feedgen's element order, attribute order,
pretty-printing and escaping (libxml2's). tests/test_entry_xml.py holds it to the same
bytes as feedgen on every sample feed's entries and on generated ones. feedgen still writes
each feed's head (atom.py), and the category line naming the feed.
"""

from __future__ import annotations

import html
from datetime import datetime

from republisher import text
from republisher.models import Category, Enclosure
from republisher.publish.public import PublicEntry, PublicSource

_INDENT = "    "  # an entry's children, as lxml pretty-prints them inside <feed><entry>

_SOURCE_INDENT = _INDENT + "  "  # atom:source's children


def entry_parts(entry: PublicEntry) -> tuple[bytes, bytes]:
    """The <entry> element (as a child of <feed>) in two parts, before and after the line
    of the category naming the derived feed (the entry's last category, the one part that
    differs from feed to feed).

    Raises ValueError, as lxml does, for text XML cannot carry (public.py removed it, so
    this only guards against a caller that did not)."""
    lines = [
        "  <entry>\n",
        _element(_INDENT, "id", entry.id),
        _element(_INDENT, "title", entry.title),
        _element(_INDENT, "updated", _date(entry.updated)),
    ]
    if entry.author:  # feedgen leaves out an author without a name
        lines.append(
            f"{_INDENT}<author>\n{_INDENT}  <name>{_text(entry.author)}</name>\n{_INDENT}</author>\n"
        )
    # RFC 4287 4.1.1.1: an entry without an alternate link must have content.
    content = entry.content or (None if entry.link else entry.summary or html.escape(entry.title))
    if content:
        lines.append(_element(_INDENT, "content", content, type="html"))
    if entry.link:  # feedgen writes an entry's link with its href only
        lines.append(_empty(_INDENT, "link", href=entry.link))
    if entry.summary:
        lines.append(_element(_INDENT, "summary", entry.summary, type="html"))
    lines.extend(_category(category) for category in entry.categories)
    before = "".join(lines)
    after = [_element(_INDENT, "published", _date(entry.published))]
    after.extend(_empty(_INDENT, "link", rel="via", href=href) for href in entry.via)
    after.extend(_enclosure(enclosure) for enclosure in entry.enclosures)
    after.append(_source(entry.source))
    after.append("  </entry>\n")
    written = before, "".join(after)
    if any(text.XML_FORBIDDEN.search(part) for part in written):
        raise ValueError("All strings must be XML compatible: no NULL bytes or control characters")
    return written[0].encode(), written[1].encode()


def _source(source: PublicSource) -> str:
    lines = [
        f"{_INDENT}<source>\n",
        _element(_SOURCE_INDENT, "id", source.id),
        _element(_SOURCE_INDENT, "title", source.title),
    ]
    if source.updated is not None:
        lines.append(_element(_SOURCE_INDENT, "updated", source.updated.isoformat()))
    if source.self_link:
        lines.append(_empty(_SOURCE_INDENT, "link", rel="self", href=source.self_link))
    if source.link:
        lines.append(_empty(_SOURCE_INDENT, "link", rel="alternate", type="text/html", href=source.link))
    lines.append(f"{_INDENT}</source>\n")
    return "".join(lines)


def _category(category: Category) -> str:
    attributes = {"term": category.term}
    if category.scheme:
        attributes["scheme"] = category.scheme
    if category.label:
        attributes["label"] = category.label
    return _empty(_INDENT, "category", **attributes)


def _enclosure(enclosure: Enclosure) -> str:
    # type and length only when known (public.public_entry checked them).
    attributes = {"rel": "enclosure", "href": enclosure.url}
    if enclosure.type:
        attributes["type"] = enclosure.type
    if enclosure.length is not None:
        attributes["length"] = str(enclosure.length)
    return _empty(_INDENT, "link", **attributes)


def _date(value: datetime) -> str:
    if value.tzinfo is None:  # feedgen refuses a date without a zone; public.py gives UTC
        raise ValueError("Datetime object has no timezone info")
    return value.isoformat()


def _element(indent: str, tag: str, value: str, **attributes: str) -> str:
    return f"{indent}<{tag}{_attributes(attributes)}>{_text(value)}</{tag}>\n"


def _empty(indent: str, tag: str, **attributes: str) -> str:
    return f"{indent}<{tag}{_attributes(attributes)}/>\n"


def _attributes(attributes: dict[str, str]) -> str:
    return "".join(f' {name}="{_attribute(value)}"' for name, value in attributes.items())


# libxml2's escaping (replace() runs in C: several passes beat one translate() in Python).
def _text(value: str) -> str:
    """Element text: & < > and carriage return escaped."""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("\r", "&#13;") if "\r" in value else value


def _attribute(value: str) -> str:
    """An attribute value: also " and the whitespace that attribute-value normalisation
    would otherwise turn into spaces."""
    value = _text(value).replace('"', "&quot;")
    if "\t" in value or "\n" in value:
        value = value.replace("\t", "&#9;").replace("\n", "&#10;")
    return value
