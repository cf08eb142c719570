"""Render one derived feed as JSON Feed 1.1 (https://jsonfeed.org/version/1.1).

The same stories, ids and order as the Atom file; like it, the output depends only on
its inputs, so unchanged input gives byte-identical output.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from republisher import text
from republisher.publish.atom import json_feed_url
from republisher.publish.stories import Story, with_carriers
from republisher.routing.rules import Rule


def render_json_feed(rule: Rule, stories: Sequence[Story], base_url: str, hubs: Sequence[str] = ()) -> bytes:
    """The JSON Feed document of one derived feed; `stories` newest first."""
    document: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": rule.title,
        "home_page_url": base_url,
        "feed_url": json_feed_url(base_url, rule.slug),
        "description": rule.subtitle or rule.title,
        "authors": [{"name": "republisher"}],
    }
    if hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in hubs]
    document["items"] = [_item(story, rule) for story in stories]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _item(story: Story, rule: Rule) -> dict[str, Any]:
    entry = story.entry
    data = entry.data
    summary, content = with_carriers(story)
    item: dict[str, Any] = {"id": entry.atom_id}
    if data.link:
        item["url"] = data.link
    item["title"] = text.display_title(data.title, data.summary, data.content, data.link)
    item["content_html"] = content or summary or html.escape(item["title"])
    if summary and content:
        item["summary"] = text.strip_markup(summary)
    item["date_published"] = entry.sort_time.isoformat()
    item["date_modified"] = entry.updated_time.isoformat()
    item["authors"] = [{"name": data.author or entry.origin.title}]
    item["tags"] = [c.term for c in data.categories] + [rule.slug]
    # Where this item was found, as the Atom file's atom:source says it.
    item["_source"] = {"title": entry.origin.title, "feed_url": entry.origin.self_url, "id": entry.origin.id}
    return item
