"""An RFC 4287 conformance check for the Atom documents we publish (used by several tests).

Independent of the code under test: it reads the bytes with ElementTree and checks
the requirements a feed reader relies on.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")
ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+\Z")
UNSAFE_HTML = re.compile(r"<\s*(script|style|iframe)|\son\w+\s*=|javascript:", re.IGNORECASE)


def problems(document: bytes) -> list[str]:
    """Every RFC 4287 requirement the document breaks; empty when it conforms."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as e:
        return [f"not well-formed XML: {e}"]
    found: list[str] = []
    if root.tag != ATOM + "feed":
        return [f"root element is {root.tag}, not atom:feed"]
    _common(root, "feed", found)
    if not any(link.get("rel") == "self" for link in root.findall(ATOM + "link")):
        found.append("feed: no link rel=self")
    feed_has_author = root.find(ATOM + "author") is not None
    ids: set[str] = set()
    for i, entry in enumerate(root.findall(ATOM + "entry")):
        where = f"entry[{i}]"
        _common(entry, where, found)
        if not feed_has_author and entry.find(ATOM + "author") is None:
            found.append(f"{where}: no author (and none on the feed)")
        alternate = [
            link for link in entry.findall(ATOM + "link") if link.get("rel", "alternate") == "alternate"
        ]
        if not alternate and entry.find(ATOM + "content") is None:
            found.append(f"{where}: neither an alternate link nor content")
        entry_id = entry.findtext(ATOM + "id") or ""
        if entry_id in ids:
            found.append(f"{where}: duplicate id {entry_id}")
        ids.add(entry_id)
        for name in ("summary", "content"):
            element = entry.find(ATOM + name)
            if (
                element is not None
                and element.get("type") == "html"
                and UNSAFE_HTML.search(element.text or "")
            ):
                found.append(f"{where}: unsafe HTML in {name}")
        source = entry.find(ATOM + "source")
        if source is not None:
            _uris(source, f"{where}/source", found)
    return found


def _common(element: ET.Element, where: str, found: list[str]) -> None:
    for name in ("id", "title", "updated"):
        children = element.findall(ATOM + name)
        if len(children) != 1:
            found.append(f"{where}: {len(children)} atom:{name} elements, expected exactly 1")
    element_id = element.findtext(ATOM + "id")
    if element_id is not None and not ABSOLUTE_IRI.match(element_id):
        found.append(f"{where}: id {element_id!r} is not an absolute IRI")
    for name in ("updated", "published"):
        for stamp in element.findall(ATOM + name):
            if not RFC3339.match(stamp.text or ""):
                found.append(f"{where}: {name} {stamp.text!r} is not RFC 3339 with a timezone")
    _uris(element, where, found)


def _uris(element: ET.Element, where: str, found: list[str]) -> None:
    """URIs that RFC 4287 makes IRIs must be absolute here (we never emit xml:base)."""
    checks = [(link, "href") for link in element.findall(ATOM + "link")]
    checks += [(category, "scheme") for category in element.findall(ATOM + "category")]
    checks += [(generator, "uri") for generator in element.findall(ATOM + "generator")]
    for node, attribute in checks:
        value = node.get(attribute)
        if value is not None and not ABSOLUTE_IRI.match(value):
            found.append(f"{where}: {node.tag.removeprefix(ATOM)}@{attribute} {value!r} is relative")
    for person in element.findall(ATOM + "author"):
        if not (person.findtext(ATOM + "name") or "").strip():
            found.append(f"{where}: author without a name")
        uri = person.findtext(ATOM + "uri")
        if uri is not None and not ABSOLUTE_IRI.match(uri):
            found.append(f"{where}: author uri {uri!r} is relative")
