"""The checks an enclosure (a file an entry links to) passes on its way in and out:
its MIME type, its size and the list of them. Pure functions.

Sources send junk here as everywhere: `type="bad type"`, `length="12,345"` or "-1",
the same file as an enclosure and as media:content. A value that is not usable is
treated as absent, never published as given: the W3C validator reports a malformed
type or length as an error, and a reader would trip over it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from republisher.models import Enclosure
from republisher.text import web_url

# Entries with more files than this keep the first ones: a gallery has dozens, a hostile
# feed could send thousands, and every one is stored and published in every feed.
MOST_PER_ENTRY = 50
# RFC 6838 restricted-name, type "/" subtype; parameters (";codecs=…") are dropped.
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\Z")
# A byte count JSON and every reader can hold (below 2**53).
_LENGTH = re.compile(r"\d{1,15}\Z")
# Fixed, not the system's mimetypes table, so output does not depend on the machine.
_BY_EXTENSION = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "svg": "image/svg+xml",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/opus",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "pdf": "application/pdf",
    "epub": "application/epub+zip",
}


def mime_type(value: object) -> str | None:
    """A valid MIME type, lower-cased and without parameters, else None."""
    if not isinstance(value, str):
        return None
    kind = value.partition(";")[0].strip().lower()
    return kind if _MIME.match(kind) else None


def byte_length(value: object) -> int | None:
    """A size in bytes from "12345" or 12345; None for junk, negatives and 0, which RSS
    feeds write to mean "unknown" (a published length of 0 would be a false claim)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not _LENGTH.match(value.strip()):
        return None
    return int(value) or None


def guess_type(url: str) -> str | None:
    """The MIME type a file's extension names (…/photo.jpg?w=140 is image/jpeg), else None."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    name = path.rpartition("/")[2]
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    return _BY_EXTENSION.get(extension)


def merged(enclosures: Iterable[Enclosure]) -> tuple[Enclosure, ...]:
    """One enclosure per URL, in first-seen order, at most MOST_PER_ENTRY: a file given
    twice (as enclosure and media:content) keeps the type and length either one gave."""
    kept: dict[str, Enclosure] = {}
    for enclosure in enclosures:
        first = kept.get(enclosure.url)
        if first is None:
            if len(kept) < MOST_PER_ENTRY:
                kept[enclosure.url] = enclosure
        elif first.type is None or first.length is None:
            kept[enclosure.url] = Enclosure(
                first.url, first.type or enclosure.type, first.length or enclosure.length
            )
    return tuple(kept.values())


def collected(given: Iterable[tuple[object, object, object]], base: str) -> tuple[Enclosure, ...]:
    """Enclosures from (href, type, length) as a source gave them: absolute http(s) URLs
    resolved against `base`, checked types (else guessed from the URL) and lengths, merged."""
    found: list[Enclosure] = []
    for href, kind, length in given:
        if url := web_url(href if isinstance(href, str) else None, base):
            found.append(Enclosure(url, mime_type(kind) or guess_type(url), byte_length(length)))
    return merged(found)
