"""Text normalisation for matching: markup stripped, accents and case folded, words split."""

from __future__ import annotations

import re
import sys
import unicodedata
from html.parser import HTMLParser

# Letters and digits make words; everything else (spaces, hyphens, punctuation,
# straight or curly quotes) separates them, so all of those count alike.
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
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


def words(text: str) -> list[str]:
    """The folded words of a text."""
    return _WORD.findall(fold(text))


def word_string(texts: list[str]) -> str:
    """Folded words of each text, space separated and padded, texts kept apart by BOUNDARY.

    A phrase of words w1..wn occurs in a text exactly when " w1 ... wn " is a substring
    of this string; a prefix term when " w1 ... wn" is.
    """
    return " " + f" {BOUNDARY} ".join(" ".join(words(t)) for t in texts) + " "
