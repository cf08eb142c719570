"""Realistic text for the benchmarks: the paragraphs of the repository's own sample feed."""

from __future__ import annotations

import html
import re
from pathlib import Path
from xml.etree import ElementTree

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "guardian-uighurs.xml"


def sample_paragraphs() -> list[str]:
    """Every title and description paragraph of samples/guardian-uighurs.xml, as plain text."""
    paragraphs: list[str] = []
    for item in ElementTree.parse(SAMPLE).getroot().iter("item"):
        paragraphs.append(item.findtext("title") or "")
        description = item.findtext("description") or ""
        for part in re.split(r"</p>|<br\s*/?>", description):
            plain = html.unescape(re.sub(r"<[^>]+>", " ", part))
            plain = " ".join(plain.split())
            if len(plain) > 80:
                paragraphs.append(plain)
    return [p for p in paragraphs if p]


def sample_words() -> list[str]:
    """The distinct words of the sample (four letters or more)."""
    return sorted(set(re.findall(r"[A-Za-z][a-z]{3,}", " ".join(sample_paragraphs()))))
