"""Render one derived feed as JSON Feed 1.1 (https://jsonfeed.org/version/1.1).

The same stories, ids and order as the Atom file, made publishable the same way
(public.public_entries); like it, the output depends only on its inputs, so unchanged
input gives byte-identical output.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from republisher import text
from republisher.models import Enclosure
from republisher.publish.atom import json_feed_url, page_url
from republisher.publish.public import PublicEntry, public_entries, xml_text
from republisher.publish.stories import Story, skipped
from republisher.routing.rules import Rule


def render_json_feed(rule: Rule, stories: Sequence[Story], base_url: str, hubs: Sequence[str] = ()) -> bytes:
    """The JSON Feed document of one derived feed; `stories` newest first. A story that
    cannot be rendered is left out (and logged), never the feed."""
    return render_json_entries(rule, public_entries(stories), base_url, hubs)


def render_json_entries(
    rule: Rule, entries: Sequence[PublicEntry], base_url: str, hubs: Sequence[str] = ()
) -> bytes:
    """The JSON Feed document of one derived feed publishing `entries` (public.public_entries,
    newest first). An entry that cannot be rendered is left out (and logged), never the feed."""
    title = xml_text(rule.title).strip() or rule.slug
    document: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": page_url(base_url, rule.slug),
        "feed_url": json_feed_url(base_url, rule.slug),
        "description": xml_text(rule.subtitle).strip() or title,
        "authors": [{"name": "republisher"}],
    }
    if hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in hubs]
    items = []
    for entry in entries:
        try:
            items.append(_item(entry, rule))
        except Exception as e:  # one entry must never stop the feed
            skipped(entry.source_name, entry.key, e)
    document["items"] = items
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _item(entry: PublicEntry, rule: Rule) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.id}
    if entry.link:
        item["url"] = entry.link
    item["title"] = entry.title
    # Sanitized HTML, as in the Atom file (public.public_entry made it so).
    item["content_html"] = entry.content or entry.summary or html.escape(entry.title)
    if entry.summary and entry.content:
        item["summary"] = text.strip_markup(entry.summary)
    item["date_published"] = entry.published.isoformat()
    item["date_modified"] = entry.updated.isoformat()
    item["authors"] = [{"name": entry.author}]
    item["tags"] = [c.term for c in entry.categories] + [rule.slug]
    if entry.enclosures:
        item["attachments"] = [_attachment(e) for e in entry.enclosures]
        # The first picture is the item's main image, which readers show beside it.
        image = next((e.url for e in entry.enclosures if (e.type or "").startswith("image/")), None)
        if image:
            item["image"] = image
    # Where this item was found, as the Atom file's atom:source says it.
    source: dict[str, str] = {"title": entry.source.title}
    if entry.source.self_link:
        source["feed_url"] = entry.source.self_link
    source["id"] = entry.source.id
    item["_source"] = source
    return item


# JSON Feed 1.1 requires an attachment's mime_type; this one means "some file" (RFC 2046).
UNKNOWN_TYPE = "application/octet-stream"


def _attachment(enclosure: Enclosure) -> dict[str, Any]:
    attachment: dict[str, Any] = {"url": enclosure.url, "mime_type": enclosure.type or UNKNOWN_TYPE}
    if enclosure.length is not None:
        attachment["size_in_bytes"] = enclosure.length
    return attachment
