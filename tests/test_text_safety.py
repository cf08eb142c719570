"""republisher.text: URLs, dates and markup from sources, made safe for everything downstream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from republisher.sources.feedtext import Declined, repaired
from republisher.text import XML_FORBIDDEN, clean, plausible_date, strip_markup, web_url

BASE = "https://example.org/blog/feed.xml"

WEB_URLS = {
    "absolute": ("https://example.org/a?b=c#d", "https://example.org/a?b=c#d"),
    "relative": ("../a", "https://example.org/a"),
    "protocol-relative": ("//cdn.example.com/i.png", "https://cdn.example.com/i.png"),
    "port": ("http://example.org:8080/", "http://example.org:8080/"),
    "ipv6": ("http://[2001:db8::1]/x", "http://[2001:db8::1]/x"),
    "idn": ("https://例え.jp/パス", "https://例え.jp/パス"),
    "spaces and pipes encoded": ("https://example.org/a b|c", "https://example.org/a%20b%7Cc"),
    "brackets in path encoded": ("https://example.org/a[1]", "https://example.org/a%5B1%5D"),
    "bare percent encoded": ("https://example.org/100%", "https://example.org/100%25"),
    "line breaks removed": ("https://example.org/a\n/b", "https://example.org/a/b"),
    "port out of range": ("http://evil.example:99999/", None),
    "port zero": ("http://evil.example:0/", None),
    "port not a number": ("http://evil.example:8o/", None),
    "unclosed ipv6": ("http://[::1/", None),
    "bad ipv6": ("http://[fe80::zz]/", None),
    "space in host": ("http://evil .example/", None),
    "empty host": ("http://:80/", None),
    "javascript": ("javascript:alert(1)", None),
    "javascript with a newline": ("java\nscript:alert(1)", None),
    "data": ("data:text/html,x", None),
    "file": ("file:///etc/passwd", None),
    "empty": ("", None),
}


@pytest.mark.parametrize(("value", "expected"), WEB_URLS.values(), ids=list(WEB_URLS))
def test_web_url(value: str, expected: str | None) -> None:
    assert web_url(value, BASE) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30), st.sampled_from([BASE, "http://[::1", "file:///x", ""]))
def test_a_web_url_can_always_be_taken_apart(value: str, base: str) -> None:
    for candidate in (value, "http://" + value, "https://example.org:" + value):
        url = web_url(candidate, base)
        if url is not None:
            parts = urlsplit(url)
            assert parts.scheme in ("http", "https") and parts.hostname
            assert parts.port is None or 0 < parts.port < 65536


DATES = {
    "plausible": (datetime(2024, 3, 4, 6, 0, tzinfo=UTC), datetime(2024, 3, 4, 6, 0, tzinfo=UTC)),
    "naive is utc": (datetime(2024, 3, 4, 6, 0), datetime(2024, 3, 4, 6, 0, tzinfo=UTC)),
    "offset converted": (
        datetime(2024, 3, 4, 8, 0, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 3, 4, 6, 0, tzinfo=UTC),
    ),
    "year 1": (datetime(1, 1, 1, tzinfo=UTC), None),
    "year 5": (datetime(5, 1, 1, tzinfo=UTC), None),
    "year 1899": (datetime(1899, 12, 31, tzinfo=UTC), None),
    "year 9999": (datetime(9999, 1, 1, tzinfo=UTC), None),
    "past datetime.max in utc": (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))), None),
    "before datetime.min in utc": (datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=1))), None),
}


@pytest.mark.parametrize(("when", "expected"), DATES.values(), ids=list(DATES))
def test_plausible_date(when: datetime, expected: datetime | None) -> None:
    assert plausible_date(when) == expected


@pytest.mark.parametrize(
    "junk", ["<![ x", "<![x y", "a <![ x ]]> b", "<![CDATA[x", "<!x", "</", "<a<b", "&#99999999999;"]
)
def test_strip_markup_never_fails_on_junk(junk: str) -> None:
    assert isinstance(strip_markup(junk), str)


def test_strip_markup_drops_a_marked_section_like_a_browser() -> None:
    assert strip_markup("before <![ x ]]> after") == "before after"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("<![]>!-?/&#;xa \n"), max_size=40))
def test_strip_markup_never_fails(fragment: str) -> None:
    assert isinstance(strip_markup(fragment), str)


def test_xml_forbidden_is_exactly_what_xml_1_0_does_not_allow() -> None:
    """XML 1.0's Char production, checked over every code point."""

    def allowed(c: int) -> bool:
        return (
            c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or 0x10000 <= c <= 0x10FFFF
        )

    wrong = [hex(c) for c in range(0x110000) if bool(XML_FORBIDDEN.match(chr(c))) == allowed(c)]
    assert not wrong, wrong[:10]


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.characters(codec="utf-8") | st.sampled_from(["\x00", "\x01", "\t", "\n", "\r", "\x7f", "\x85"])
    )
)
def test_clean_drops_exactly_what_xml_forbids_and_trims(value: str) -> None:
    """clean skips the regex for printable ASCII: the same result as always running it."""
    assert clean(value) == (XML_FORBIDDEN.sub("", value).strip() or None)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_repaired_leaves_ascii_alone_and_undoes_utf8_read_as_latin1(value: str) -> None:
    if value.isascii():
        assert repaired(value) == value
    try:
        mangled = value.encode("utf-8").decode("iso-8859-1")
        result = repaired(mangled)
    except Declined:  # a C1 control: feedparser's answer is not known, feedparser reads it
        return
    assert result == value
