"""How feedparser normalizes the text, links and dates of a feed, reproduced for the fast
reader (fastparse.py): pure functions of strings. Each raises Declined where it cannot be
sure to give feedparser's answer, and the document then goes to feedparser."""

from __future__ import annotations

import calendar
import contextlib
import re
import time
import urllib.parse

from republisher.text import clean


class Declined(Exception):
    """The document is not one the fast reader knows feedparser's answer for."""


# C1 controls: feedparser maps them to Windows-1252 characters.
C1 = re.compile("[\x80-\x9f]")


def repaired(text: str) -> str:
    """feedparser's last steps for every text: its guess that UTF-8 was decoded as Latin-1
    is undone; C1 controls (which it maps to Windows-1252 characters) decline."""
    if text.isascii():  # most text: neither applies
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    if C1.search(text):
        raise Declined("C1 control in text")
    return text


def content_type(kind: str) -> str:
    """feedparser's names for Atom's short type names."""
    kind = kind.lower()
    return {
        "text": "text/plain",
        "plain": "text/plain",
        "html": "text/html",
        "xhtml": "application/xhtml+xml",
    }.get(kind, kind)


_EXTRA_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)/*")


def resolved(base: str, uri: str) -> str:
    """A URI joined to the document URL as feedparser joins it (slashes after "scheme://"
    collapsed first; "" when urllib cannot join it)."""
    uri = _EXTRA_SLASHES.sub(r"\1", uri)
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


_MONTHS = {
    m: n
    for n, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d{2}):(\d{2})(?::(\d{2}))? (GMT|UT|UTC|Z|[+-]\d{4})\Z"
)
# Fractions of a second are dropped, as feedparser drops them (up to 6 digits: more could
# round up to the next second in its float arithmetic).
_W3CDTF = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(Z|[+-]\d{2}:\d{2})\Z")


def strict_date(text: str) -> time.struct_time:
    """An RFC 822 (RSS) or RFC 3339 (Atom) date, in UTC, fractions of a second dropped; anything else
    declines (feedparser's many other formats and repairs stay feedparser's)."""
    if found := _RFC822.match(text):
        day, month, year, hour, minute, second, zone = found.groups()
        fields = (int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second or 0))
        offset = 0 if zone in ("GMT", "UT", "UTC", "Z") else _minutes(zone[0], zone[1:3], zone[3:5])
    elif found := _W3CDTF.match(text):
        *numbers, zone = found.groups()
        fields = tuple(int(n) for n in numbers)  # type: ignore[assignment]
        offset = 0 if zone == "Z" else _minutes(zone[0], zone[1:3], zone[4:6])
    else:
        raise Declined(f"date {text[:40]!r}")
    year, month, day, hour, minute, second = fields
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]) or hour > 23:
        raise Declined("impossible date")  # feedparser "repairs" some of these its own way
    if minute > 59 or second > 59 or abs(offset) >= 24 * 60 or year < 1900:
        raise Declined("impossible time")
    stamp = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset * 60
    return time.gmtime(stamp)


def _minutes(sign: str, hours: str, minutes: str) -> int:
    if int(minutes) > 59:
        raise Declined("zone minutes")
    total = int(hours) * 60 + int(minutes)
    return -total if sign == "-" else total


# RSS's "e-mail (Name)", "Name <e-mail>" or a bare address. feedparser finds the address
# with a regex that knows only 2 to 4 letter top-level domains, so "ana@news.example (Ana)"
# became the name "ple (Ana", and "ana@news.example" the name "ple": parse.py reads these
# forms itself, and only falls back on feedparser's split for anything else.
_EMAIL = r"[^\s@()<>]+@[^\s()<>]+"
_EMAIL_THEN_NAME = re.compile(rf"\s*{_EMAIL}\s*\((.+)\)\s*\Z", re.DOTALL)
_NAME_THEN_EMAIL = re.compile(rf"(.+?)\s*<{_EMAIL}>\s*\Z", re.DOTALL)
_BARE_EMAIL = re.compile(rf"\s*{_EMAIL}\s*\Z")


def named_author(given: str) -> str | None:
    """The author an RSS author string with an e-mail address names: the name in
    "e-mail (Name)" or "Name <e-mail>", or the bare address; None for any other form."""
    if _BARE_EMAIL.match(given):
        return given
    found = _EMAIL_THEN_NAME.match(given) or _NAME_THEN_EMAIL.match(given)
    if found and (name := clean(found.group(1))):
        return name
    return None
