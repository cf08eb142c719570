"""Text normalisation for matching: markup stripped, accents and case folded, words split."""

from __future__ import annotations

import re
import sys
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# Letters and digits make words; everything else (spaces, hyphens, punctuation,
# straight or curly quotes) separates them, so all of those count alike.
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
# Characters XML 1.0 forbids; one of them would make the whole output file unreadable.
XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(value: str | None) -> str | None:
    """Drop XML-forbidden characters; empty strings become None."""
    if value is None:
        return None
    value = XML_FORBIDDEN.sub("", value).strip()
    return value or None


def web_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL, resolved against base; anything else is dropped."""
    value = clean(value)
    if value is None:
        return None
    if value.startswith(("https://", "http://")):
        return value  # already absolute: skip urljoin, which is costly on every link and tag
    resolved = urljoin(base, value)
    return resolved if urlsplit(resolved).scheme in ("http", "https") else None


def display_title(title: str, summary: str | None, content: str | None, link: str | None) -> str:
    """The title to show: the entry's own, else the start of its text, else its link."""
    if title.strip():
        return title
    return strip_markup(summary or content or "")[:80] or link or "(untitled)"


# A separator that never occurs inside a phrase: keeps phrases from spanning two
# categories of the same entry.
BOUNDARY = "|"


class _TextExtractor(HTMLParser):
    """Keeps only character data: tag names and attribute values never reach the matcher."""

    _SKIP = frozenset({"script", "style"})
    _BLOCK = frozenset({"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def strip_markup(html: str) -> str:
    """Plain text of an HTML fragment, entities decoded, whitespace collapsed."""
    if "<" not in html and "&" not in html:
        return collapse_space(html)  # no markup and no entities: nothing to parse
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return collapse_space("".join(extractor.parts))


def collapse_space(text: str) -> str:
    """Runs of whitespace become one space; ends trimmed."""
    return _SPACE.sub(" ", text).strip()


# Every combining mark (accents and the like), mapped to None for str.translate.
_COMBINING = {c: None for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}


def fold(text: str) -> str:
    """Case- and accent-insensitive form: casefold (ß -> ss), then drop combining marks."""
    if text.isascii():
        return text.lower()
    folded = text.casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    return folded if decomposed == folded else decomposed.translate(_COMBINING)


def _separator_table() -> dict[int, str]:
    """Characters that can only separate words, for the fast path of words().

    ASCII, Latin-1 and the General Punctuation block cover nearly all separators in real
    text; a character is in the table only if it is not alphanumeric, so the fast path
    splits exactly where _WORD would.
    """
    candidates = [*range(0x80), *range(0xA0, 0x100), *range(0x2000, 0x2070), 0x3000]
    return {c: " " for c in candidates if not chr(c).isalnum()}


_SEPARATORS = _separator_table()


def words(text: str) -> list[str]:
    """The folded words of a text: runs of letters and digits."""
    folded = fold(text)
    spaced = folded.translate(_SEPARATORS)
    if spaced.isascii():
        return spaced.split()
    return _WORD.findall(folded)  # letters beyond ASCII after folding (Greek, CJK, …)


def word_list(texts: tuple[str, ...]) -> list[str]:
    """Folded words of each text, the texts kept apart by BOUNDARY (never a phrase word)."""
    if len(texts) == 1:
        return words(texts[0])
    joined: list[str] = []
    for i, part in enumerate(texts):
        if i:
            joined.append(BOUNDARY)
        joined.extend(words(part))
    return joined


def word_string(texts: tuple[str, ...]) -> str:
    """word_list as one padded string: a phrase of words w1..wn occurs exactly when
    " w1 ... wn " is a substring of it; a prefix term when " w1 ... wn" is."""
    return " " + " ".join(word_list(texts)) + " "
