"""Text normalisation: markup stripped, accents and case folded, words split; and the
checks that keep a source's junk (bad URLs, absurd dates, forbidden characters) out of
the store."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urljoin, urlsplit

# Letters and digits make words; everything else (spaces, hyphens, punctuation,
# straight or curly quotes) separates them, so all of those count alike.
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
# Characters XML 1.0 forbids; one of them would make the whole output file unreadable.
# (Written as what is forbidden, not as the negation of what is allowed: the same set,
# tested over every code point, and ten times cheaper to compile, which every process does.)
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_allowed(value: str) -> str:
    """The text without the characters XML 1.0 forbids."""
    if value.isascii() and value.isprintable():  # the usual text: none of them (quick check)
        return value
    return XML_FORBIDDEN.sub("", value)


def clean(value: str | None) -> str | None:
    """Drop XML-forbidden characters; empty strings become None."""
    if value is None:
        return None
    return xml_allowed(value).strip() or None


# Characters never allowed in a URL (RFC 3986 and 3987), and a "%" that starts no escape.
# Browsers percent-encode them; so do we, so the URL we publish is a valid one.
_URL_ILLEGAL = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f]|%(?![0-9A-Fa-f]{2})')
_URL_ILLEGAL_AFTER_HOST = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f\[\]]|%(?![0-9A-Fa-f]{2})')
_AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*")
# A registered host name: unreserved and sub-delimiter characters, or any non-ASCII (IDN).
_HOST = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|[^\x00-\x7f])+\Z")


def _percent(found: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in found.group(0).encode("utf-8"))


def _repair_url(value: str) -> str:
    """Tabs and line breaks removed, characters never allowed in a URL percent-encoded
    (brackets too, except around an IPv6 host); the authority is left for is_web_url to judge."""
    value = value.replace("\t", "").replace("\n", "").replace("\r", "")
    head = found.group(0) if (found := _AUTHORITY.match(value)) else ""
    return head + _URL_ILLEGAL_AFTER_HOST.sub(_percent, value[len(head) :])


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a valid host and port: urlsplit(url).hostname and
    .port never raise on it, so nothing downstream can trip over it."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:  # "Port out of range", "Invalid IPv6 URL", bad normalisation, ...
        return False
    if parts.scheme not in ("http", "https") or not host or port == 0 or _URL_ILLEGAL.search(url):
        return False
    if parts.netloc.rpartition("@")[2].startswith("["):
        import ipaddress  # here: rare, and a few ms to import in every process

        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return bool(_HOST.match(host))


def web_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL, resolved against base; None for anything else (another
    scheme, no host, a bad port or host): a link that is not a valid URL never gets stored."""
    value = clean(value)
    if value is None:
        return None
    try:
        # Already absolute: skip urljoin, which is costly on every link and tag.
        resolved = value if value.startswith(("https://", "http://")) else urljoin(base, value)
    except ValueError:  # a base or value urlsplit refuses (bad IPv6 brackets, ...)
        return None
    resolved = _repair_url(resolved)
    return resolved if is_web_url(resolved) else None


# Dates outside these years are junk, not history: feeds send 0001-01-01 or 9999-12-31 as
# "no date", and years before 1000 cannot even be written as RFC 3339's four digits. 1900
# is before any web feed (1990s); 9000 leaves room below datetime.max, so shifting by a
# time zone or adding a poll interval can never overflow.
EARLIEST_YEAR = 1900
LATEST_YEAR = 9000


def plausible_date(when: datetime | None) -> datetime | None:
    """The date in UTC when its year is plausible (naive dates are taken as UTC), else None:
    the entry is kept as if undated rather than published with an absurd date."""
    if when is None:
        return None
    try:
        when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):  # 9999-12-31T23:59:59-01:00 is past datetime.max in UTC
        return None
    return when if EARLIEST_YEAR <= when.year <= LATEST_YEAR else None


def display_title(title: str, summary: str | None, content: str | None, link: str | None) -> str:
    """The title to show: the entry's own, else the start of its text, else its link."""
    if title.strip():
        return title
    return strip_markup(summary or content or "")[:80] or link or "(untitled)"


# A separator that never occurs inside a phrase: keeps phrases from spanning two
# categories of the same entry.
BOUNDARY = "|"


# Tags that separate words where they stand (a paragraph, a line break, a cell): their
# text does not run into its neighbours' ("one</p><p>two" is "one two").
BLOCK_TAGS = frozenset({"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "tr"})


def strip_markup(html: str) -> str:
    """Plain text of an HTML fragment, entities decoded, whitespace collapsed, in time
    linear in its length: tag names, attribute values, comments, scripts and styles are
    never in it."""
    if "<" not in html and "&" not in html:
        return collapse_space(html)  # no markup and no entities: nothing to parse
    plain = strip_simple_markup(html)
    if plain is not None:
        return plain
    from republisher.markup import plain_text  # the HTML parser, for any other markup

    return plain_text(html)


# A tag as the sanitizer writes it: a name, then attributes with double-quoted values (or
# none), spaces as HTML counts them (never \s: a no-break space is not one); an end tag has
# no attributes. The fragments routed and stored are mostly the sanitizer's output and hold
# no other markup: strip_simple_markup takes those apart with this, ten times faster than
# a parser, and leaves anything else to one.
_PLAIN_TAG = re.compile(
    r'<(?:([A-Za-z][A-Za-z0-9]*)(?:[ \t\n\r\f]+[A-Za-z_:][-A-Za-z0-9_:.]*(?:[ \t\n\r\f]*=[ \t\n\r\f]*"[^"]*")?)*'
    r"[ \t\n\r\f]*/?|/([A-Za-z][A-Za-z0-9]*)[ \t\n\r\f]*)>"
)
# Elements whose content is not text a reader sees: the sanitizer drops them with their
# content (markup.DROPPED_WITH_CONTENT), and their text must not route an item either.
HIDDEN_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "svg", "math",
                            "form", "noscript", "title", "textarea", "select", "button"})  # fmt: skip
# Those, and the elements whose content a parser reads as raw text: left to the parser.
_NOT_SIMPLE = HIDDEN_CONTENT | {"xmp", "noembed", "noframes", "plaintext"}


def strip_simple_markup(fragment: str) -> str | None:
    """strip_markup's result for a fragment made only of text, entities and _PLAIN_TAG
    tags; None for any other (a comment, a raw "<", a script...). What HTML's own parsing
    gives (tests/test_strip_markup.py checks it against Python's HTMLParser): each run of
    text unescaped on its own (an entity never spans a tag), a space for each block tag,
    nothing for the others."""
    parts: list[str] = []
    start = 0
    for tag in _PLAIN_TAG.finditer(fragment):
        data = fragment[start : tag.start()]
        if "<" in data:
            return None
        name = (tag.group(1) or tag.group(2)).lower()
        if name in _NOT_SIMPLE:
            return None
        parts.append(unescape(data) if "&" in data else data)
        if name in BLOCK_TAGS:
            parts.append(" ")
        start = tag.end()
    data = fragment[start:]
    if "<" in data:
        return None
    parts.append(unescape(data) if "&" in data else data)
    return collapse_space("".join(parts))


def collapse_space(text: str) -> str:
    """Runs of whitespace become one space; ends trimmed."""
    return _SPACE.sub(" ", text).strip()


# Unicode puts every combining mark in the first two planes (the last is U+1E94A in
# Unicode 14); tests/test_text_fold.py checks this table against a scan of every code point.
_LAST_PLANES_WITH_MARKS = 0x1FFFF


@functools.cache
def _combining() -> dict[int, None]:
    """Every combining mark (accents and the like), mapped to None for str.translate.
    Built on first use, not at import: the scan costs tens of milliseconds, which every
    process (each command, each parse worker) would pay even when all its text is ASCII."""
    return {c: None for c in range(_LAST_PLANES_WITH_MARKS + 1) if unicodedata.combining(chr(c))}


def fold(text: str) -> str:
    """Case- and accent-insensitive form: casefold (ß -> ss), then drop combining marks."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Always without marks: text already decomposed ("e" + U+0301) has them too.
    return decomposed.translate(_combining())


def _separator_table() -> dict[int, str]:
    """Characters that can only separate words, for the fast path of words().

    ASCII, Latin-1 and the General Punctuation block cover nearly all separators in real
    text; a character is in the table only if it is not alphanumeric, so the fast path
    splits exactly where _WORD would.
    """
    candidates = [*range(0x80), *range(0xA0, 0x100), *range(0x2000, 0x2070), 0x3000]
    return {c: " " for c in candidates if not chr(c).isalnum()}


_SEPARATORS = _separator_table()

# The ASCII fast path, as one bytes.translate: an ASCII text folds to its lower case, and
# every ASCII character but a letter or digit separates words. Byte 0xFF, which no ASCII
# text contains, is what word_list joins texts with: it becomes BOUNDARY.
_ASCII_JOIN = " \xff "
_ASCII_FOLD = bytes(ord(chr(b).lower()) if chr(b).isalnum() else ord(" ") for b in range(0x80)) + bytes(
    ord(BOUNDARY) if b == 0xFF else ord(" ") for b in range(0x80, 0x100)
)
# BOUNDARY itself written in a text is a separator like any other: it never becomes a word.
assert _SEPARATORS[ord(BOUNDARY)] == " " and _ASCII_FOLD[ord(BOUNDARY)] == ord(" ")

# Punctuation that keeps most English text from being ASCII: curly quotes, dashes,
# guillemets. Folding leaves each of them as it is (no case, no decomposition, so whether
# fold() decomposes a text does not depend on them), so a space in their place splits the
# same words, and the text can take the ASCII path.
_PLAIN_PUNCTUATION = "\u2018\u2019\u201c\u201d\u2013\u2014\u00ab\u00bb"
assert all(
    ord(c) in _SEPARATORS and c.casefold() == c == unicodedata.normalize("NFKD", c)
    for c in _PLAIN_PUNCTUATION
)


def _ascii_spaced(texts: Sequence[str]) -> str:
    """ASCII texts folded, every separator a space, joined by " | " (BOUNDARY)."""
    return _ASCII_JOIN.join(texts).encode("latin-1").translate(_ASCII_FOLD).decode("ascii")


def _unpunctuated(text: str) -> str:
    """The text with _PLAIN_PUNCTUATION replaced by spaces (str.replace scans in C; a
    translate table would look every character up in a dict)."""
    for char in _PLAIN_PUNCTUATION:
        if char in text:
            text = text.replace(char, " ")
    return text


def words(text: str) -> list[str]:
    """The folded words of a text: runs of letters and digits."""
    if not text.isascii():
        text = _unpunctuated(text)
    if text.isascii():
        return _ascii_spaced((text,)).split()
    folded = fold(text)
    spaced = folded.translate(_SEPARATORS)
    if spaced.isascii():
        return spaced.split()
    return _WORD.findall(folded)  # letters beyond ASCII after folding (Greek, CJK, …)


def word_spans(text: str) -> list[tuple[str, int, int]] | None:
    """words(text), each with its (start, end) in the original text, for quoting where a
    phrase matched; None in the rare texts where folding character by character splits
    words differently from folding the whole text (combining marks written apart)."""
    folded: list[str] = []
    origin: list[int] = []  # folded character -> index of the original character
    for i, char in enumerate(text):
        piece = fold(char)
        folded.append(piece)
        origin.extend([i] * len(piece))
    spans = [(m.group(), origin[m.start()], origin[m.end() - 1] + 1) for m in _WORD.finditer("".join(folded))]
    return spans if [w for w, _, _ in spans] == words(text) else None


def word_list(texts: Sequence[str]) -> list[str]:
    """Folded words of each text, the texts kept apart by BOUNDARY (never a phrase word):
    words() of each text joined, in one split when every text can take the ASCII path."""
    if not all(map(str.isascii, texts)):
        texts = [t if t.isascii() else _unpunctuated(t) for t in texts]
    if all(map(str.isascii, texts)):
        return _ascii_spaced(texts).split()
    joined: list[str] = []
    for i, part in enumerate(texts):
        if i:
            joined.append(BOUNDARY)
        joined.extend(words(part))
    return joined


def word_string(texts: Sequence[str]) -> str:
    """word_list as one padded string: a phrase of words w1..wn occurs exactly when
    " w1 ... wn " is a substring of it; a prefix term when " w1 ... wn" is."""
    return " " + " ".join(word_list(texts)) + " "


def counted(count: int, one: str, many: str) -> str:
    """ "1 entry", "2 entries": a count with its noun."""
    return f"{count} {one if count == 1 else many}"
