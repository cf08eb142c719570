"""republisher.sources.identity: dedup keys, Atom ids and change hashes (pure functions)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from republisher.models import Category, Enclosure, EntryData
from republisher.sources.identity import atom_id, content_hash, entry_key, is_valid_id, json_hash, source_id
from republisher.store import codec

URL = "https://example.org/feed.xml"

ENTRY = EntryData(
    guid="https://www.theguardian.com/world/2021/mar/04/smile-for-the-camera",
    title="Smile for the camera: dark side of China\u2019s emotion-recognition tech",
    link="https://www.theguardian.com/world/2021/mar/04/smile-for-the-camera",
    summary="<p>Xi Jinping wants \u2018positive energy\u2019</p>",
    content=None,
    author="Michael Standaert",
    categories=(
        Category("China"),
        Category("Surveillance", "https://www.theguardian.com/world/surveillance"),
    ),
    published=datetime(2021, 3, 4, 6, 0, 19, tzinfo=UTC),
    updated=None,
)


def entry(**changes: object) -> EntryData:
    return dataclasses.replace(ENTRY, **changes)  # type: ignore[arg-type]


def make_id(source: str, item: EntryData) -> str:
    return atom_id(source, item, entry_key(item))


# --- entry_key -----------------------------------------------------------------

NO_GUID_NO_LINK = entry(guid=None, link=None)
ENTRY_KEYS = {
    "guid wins over link": (entry(guid="post-1001"), "guid:post-1001"),
    "link when no guid": (entry(guid=None), "link:" + ENTRY.link),
    "link when guid is empty": (entry(guid=""), "link:" + ENTRY.link),
    "content hash when neither": (NO_GUID_NO_LINK, "hash:" + content_hash(NO_GUID_NO_LINK)),
}


@pytest.mark.parametrize(("item", "key"), ENTRY_KEYS.values(), ids=list(ENTRY_KEYS))
def test_entry_key(item: EntryData, key: str) -> None:
    assert entry_key(item) == key


def test_entry_key_of_guid_ignores_edits() -> None:
    assert entry_key(entry(title="Corrected headline", summary="new")) == entry_key(ENTRY)


def test_entry_key_hash_follows_content() -> None:
    edited = dataclasses.replace(NO_GUID_NO_LINK, title="Another title")
    assert entry_key(edited) != entry_key(NO_GUID_NO_LINK)
    assert entry_key(dataclasses.replace(NO_GUID_NO_LINK)) == entry_key(NO_GUID_NO_LINK)


# --- atom_id -------------------------------------------------------------------

IRI_GUIDS = {
    "https url": "https://www.theguardian.com/world/2021/mar/04/smile-for-the-camera",
    "http url with query": "http://example.org/blog/?p=1003",
    "tag uri": "tag:example.com,2024:journal/entry-1",
    "urn uuid": "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
    "urn isbn": "urn:isbn:0451450523",
    # Valid ids must never change, however unusual (a changed id is a new item to readers).
    "urn uuid upper case": "URN:UUID:1225C695-CFB8-4EBB-AAAA-80DA344EFA6A",
    "tag with e-mail, full date and fragment": "tag:jo@example.com,2024-02-29:notes/1#part",
    "tag with year only and empty specific": "tag:example.com,2024:",
    "http with port, query, fragment": "http://example.org:8080/a;b?c=d&e=f#g",
    "https with user info": "https://user@example.org/feed/1",
    "https with percent escapes": "https://example.org/caf%C3%A9",
    "http ipv4 host": "http://192.0.2.1/item/1",
    "mailto": "mailto:news@example.org",
    "info doi": "info:doi/10.1000/182",
    "unregistered scheme": "x-post:12345",
}


@pytest.mark.parametrize("guid", IRI_GUIDS.values(), ids=list(IRI_GUIDS))
def test_atom_id_keeps_absolute_iri_guid(guid: str) -> None:
    assert is_valid_id(guid)
    assert make_id("guardian-uighurs", entry(guid=guid)) == guid


NOT_IRI_GUIDS = {
    "number": "12345",
    "word with digits": "example-blog-post-1001",
    "relative path": "/blog/2024/03/post",
    "host without scheme": "example.org/blog/1",
    "contains a space": "post 12",
    "starts with a digit before colon": "2024:entry-1",
}


def assert_urn_uuid(value: str) -> None:
    assert value.startswith("urn:uuid:"), value
    assert uuid.UUID(value.removeprefix("urn:uuid:")).version == 5


# Absolute, but not valid for their scheme: the W3C validator reports most as errors; the
# rest (month 13, 29 February 2023, port 99999, a bare "%") break RFC 4151 or RFC 3986.
INVALID_FOR_SCHEME = {
    "urn uuid too short": "urn:uuid:1234",
    "urn uuid too long": "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a0",
    "urn uuid not hex": "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efz6a",
    "urn uuid without hyphens": "urn:uuid:1225c695cfb84ebbaaaa80da344efa6a",
    "urn without nid": "urn:12345",
    "urn with one-letter nid": "urn:x:12345",
    "urn with empty nss": "urn:isbn:",
    "urn with slash in nid": "urn:a/b:c",
    "tag without date": "tag:example.com:entry-1",
    "tag with two-digit year": "tag:example.com,24:entry-1",
    "tag with upper-case authority": "tag:Example.com,2024:entry-1",
    "tag with month 13": "tag:example.com,2024-13:entry-1",
    "tag with 29 february of a common year": "tag:example.com,2023-02-29:entry-1",
    "tag with space": "tag:example.com,2024:entry 1",
    "http with space": "http://example.org/post 12",
    "http with port out of range": "http://example.org:99999/post",
    "http with non-numeric port": "http://example.org:80a/post",
    "http without host": "http:///post",
    "https with unclosed ipv6": "https://[::1/post",
    "https with ipv6 host": "https://[2001:db8::1]/post",
    "non-ascii iri": "https://example.org/caf\u00e9",
    "bad percent escape": "https://example.org/100%",
    "quote character": 'https://example.org/"post"',
    "nothing after the scheme": "mailto:",
}


@pytest.mark.parametrize("guid", INVALID_FOR_SCHEME.values(), ids=list(INVALID_FOR_SCHEME))
def test_atom_id_for_an_id_invalid_for_its_scheme_is_urn_uuid(guid: str) -> None:
    assert not is_valid_id(guid)
    made = make_id("guardian-uighurs", entry(guid=guid))
    assert_urn_uuid(made)
    assert made == make_id("guardian-uighurs", entry(guid=guid)), "and stable"


def test_source_id_takes_the_first_valid_candidate() -> None:
    assert source_id("tag:example.org,2024:feed", "https://example.org/", URL) == "tag:example.org,2024:feed"
    assert source_id("urn:uuid:1234", "https://example.org/", URL) == "https://example.org/"
    assert source_id("12", None, URL) == URL
    made = source_id(None, None, "https://example.org/feed?q=a b")
    assert_urn_uuid(made)
    assert made == source_id("bad id", None, "https://example.org/feed?q=a b")


@pytest.mark.parametrize("guid", NOT_IRI_GUIDS.values(), ids=list(NOT_IRI_GUIDS))
def test_atom_id_for_non_iri_guid_is_urn_uuid(guid: str) -> None:
    assert not is_valid_id(guid)
    made = make_id("guardian-uighurs", entry(guid=guid))
    assert_urn_uuid(made)
    assert guid not in made


def test_atom_id_without_guid_is_urn_uuid_from_link() -> None:
    made = make_id("guardian-uighurs", entry(guid=None))
    assert_urn_uuid(made)
    assert made != make_id("guardian-uighurs", entry(guid=None, link="https://example.org/other"))


def test_atom_id_without_guid_or_link_is_urn_uuid() -> None:
    assert_urn_uuid(make_id("guardian-uighurs", NO_GUID_NO_LINK))


# SPEC: "the same item always gets the same id, across polls, restarts and rerouting".
# Pinned values: if these change, every reader subscribed to a derived feed sees every
# item again as new.
PINNED = {
    "non-iri guid": (entry(guid="12345"), "urn:uuid:609c0ead-4e29-58ab-b100-312f09c8d993"),
    "link only": (
        entry(guid=None, link="https://example.org/p/1"),
        "urn:uuid:9fd72a10-04b0-583d-ab87-903f72fa62a3",
    ),
}


@pytest.mark.parametrize(("item", "expected"), PINNED.values(), ids=list(PINNED))
def test_atom_id_is_pinned_across_releases(item: EntryData, expected: str) -> None:
    assert make_id("guardian-uighurs", item) == expected


@pytest.mark.parametrize("guid", ["12345", None], ids=["non-iri guid", "no guid"])
def test_atom_id_is_stable(guid: str | None) -> None:
    first = make_id("guardian-uighurs", entry(guid=guid))
    assert make_id("guardian-uighurs", entry(guid=guid)) == first
    # an edited item (new title, summary, categories, date) keeps its id
    edited = entry(
        guid=guid,
        title="Corrected",
        summary="<p>changed</p>",
        categories=(),
        updated=datetime(2021, 3, 5, tzinfo=UTC),
    )
    assert make_id("guardian-uighurs", edited) == first


@pytest.mark.parametrize("guid", ["12345", None], ids=["non-iri guid", "no guid"])
def test_atom_id_differs_by_source(guid: str | None) -> None:
    item = entry(guid=guid)
    assert make_id("guardian-uighurs", item) != make_id("guardian-china", item)


def test_atom_id_differs_by_guid() -> None:
    assert make_id("guardian-uighurs", entry(guid="12345")) != make_id(
        "guardian-uighurs", entry(guid="12346")
    )


def test_atom_id_no_guid_differs_from_guid_equal_to_link() -> None:
    # "guid:X" and "link:X" are different keys, so they never collide.
    link_only = entry(guid=None, link="https://example.org/p/1")
    assert make_id("s", link_only) != make_id("s", entry(guid="p1", link="https://example.org/p/1"))


# --- content_hash --------------------------------------------------------------

CHANGES = {
    "title": {"title": "Smile for the camera (updated)"},
    "summary": {"summary": "<p>Xi Jinping wants \u2018positive energy\u2019.</p>"},
    "summary removed": {"summary": None},
    "content added": {"content": "<p>Full text</p>"},
    "category added": {"categories": (*ENTRY.categories, Category("Technology"))},
    "category removed": {"categories": ENTRY.categories[:1]},
    "category term renamed": {"categories": (Category("China"), Category("Surveillance tech"))},
    "category label added": {
        "categories": (
            Category("China"),
            Category("Surveillance", "https://www.theguardian.com/world/surveillance", "Surveillance"),
        )
    },
    "link": {"link": "https://www.theguardian.com/world/2021/mar/04/smile"},
    "author": {"author": "Guardian staff"},
    "published": {"published": datetime(2021, 3, 4, 7, 0, 19, tzinfo=UTC)},
    "updated": {"updated": datetime(2021, 3, 5, tzinfo=UTC)},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_content_hash_changes_with_published_fields(change: dict[str, object]) -> None:
    assert content_hash(entry(**change)) != content_hash(ENTRY)


def test_content_hash_unchanged_when_nothing_changes() -> None:
    first = content_hash(ENTRY)
    assert content_hash(ENTRY) == first
    assert content_hash(entry()) == first  # a separately built, equal entry
    assert (
        content_hash(entry(categories=tuple(Category(c.term, c.scheme, c.label) for c in ENTRY.categories)))
        == first
    )
    assert len(first) == 64 and int(first, 16) >= 0


def test_content_hash_is_what_every_version_stored() -> None:
    """Stores hold the hashes earlier versions computed: a different one would make every
    stored entry look changed (and republished as updated) after an upgrade."""
    assert content_hash(ENTRY) == "0fff39fc2d40064b7ad521ca3c47c3a3ee77238ad69ea60402dd948d32c6fd85"


TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
# Stored dates are UTC, or an offset in minutes as a source wrote it: a named zone's clock
# time has no one offset across a gap or fold in it, so it cannot be what a store reads back.
OFFSETS = st.integers(-23 * 60, 23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
DATES = st.none() | st.datetimes(timezones=st.just(UTC)) | st.datetimes(timezones=OFFSETS)


@settings(max_examples=300, deadline=None)
@given(
    guid=st.none() | TEXTS,
    title=TEXTS,
    summary=st.none() | TEXTS,
    categories=st.lists(st.builds(Category, TEXTS, st.none() | TEXTS, st.none() | TEXTS), max_size=3),
    published=DATES,
    updated=DATES,
    enclosures=st.lists(
        st.builds(Enclosure, TEXTS, st.none() | TEXTS, st.none() | st.integers(0, 10**12)), max_size=2
    ),
)
def test_one_encoding_gives_the_stored_text_and_the_hash_as_before(
    guid: str | None,
    title: str,
    summary: str | None,
    categories: list[Category],
    published: datetime | None,
    updated: datetime | None,
    enclosures: list[Enclosure],
) -> None:
    data = EntryData(
        guid=guid,
        title=title,
        link=None,
        summary=summary,
        content=None,
        author=None,
        categories=tuple(categories),
        published=published,
        updated=updated,
        enclosures=tuple(enclosures),
    )
    stored = data.as_json()
    before = json.dumps(data.as_dict(), sort_keys=True, default=str, ensure_ascii=False)
    assert stored == before
    assert json_hash(stored) == content_hash(data) == hashlib.sha256(before.encode()).hexdigest()
    assert codec.entry_from_json(stored) == data
    # Rows stored by earlier versions wrote dates with a "T": still read the same.
    older = json.dumps(data.as_dict(), sort_keys=True, default=lambda d: d.isoformat(), ensure_ascii=False)
    assert codec.entry_from_json(older) == data
