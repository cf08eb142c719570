"""Stable identities and change hashes for entries. Pure functions.

- key: how the store deduplicates an entry within its source: the source's guid,
  else its link, else a hash of its content (a feed with neither has nothing
  steadier to offer).
- atom id: the guid when it is a valid absolute IRI of its scheme (keeps the
  source's identity), else a urn:uuid derived from the source name and the key, so
  the same item always gets the same id across polls, restarts and rerouting.
- content hash: covers everything we publish about the entry, so a changed title
  or body replaces the stored version; fetch times are left out because they
  change on every poll without the item changing.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import date
from typing import TYPE_CHECKING

from republisher.models import EntryData
from republisher.text import clean, collapse_space, is_web_url

if TYPE_CHECKING:
    import uuid

# Fixed namespace for urn:uuid ids; changing it would change every generated id.
_NAMESPACE = "6f4d1b52-3c1e-4f5e-9a57-0d5b1f6f8c21"


@functools.cache
def _namespace() -> uuid.UUID:
    """_NAMESPACE as a UUID. uuid is imported here, once: it costs every command a few ms
    (it imports platform), and most never make one."""
    import uuid

    return uuid.UUID(_NAMESPACE)


def _uuid_urn(name: str) -> str:
    """urn:uuid:… made from `name` in _NAMESPACE (uuid5)."""
    import uuid

    return uuid.uuid5(_namespace(), name).urn


# What the W3C feed validator accepts in atom:id (its rfc2396_full, urn_re, uuid_re and
# tag_re), so a kept id never makes a published feed invalid. ASCII only: the validator
# reports an id with non-ASCII characters as an error, IRI or not.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#]+\Z")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URN_UUID = re.compile(
    r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.IGNORECASE
)
_URN = re.compile(
    r"urn:[A-Za-z0-9][A-Za-z0-9-]{1,31}:(?:[A-Za-z0-9()+,.:=@;$_!*'-]|%[0-9A-Fa-f]{2})+\Z", re.IGNORECASE
)
_TAG_CHARS = r"[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,]*"
_TAG = re.compile(
    rf"tag:(?:[a-z0-9._-]+@)?[a-z0-9.-]+,(\d{{4}})(?:-(\d{{2}})(?:-(\d{{2}}))?)?:{_TAG_CHARS}(?:#{_TAG_CHARS})?\Z"
)


def is_valid_id(value: str) -> bool:
    """True for an absolute IRI that is valid for its scheme: https://host/…, tag:host,2024:…,
    urn:nid:…, urn:uuid:<36 characters>, mailto:…; False for "12345", "post 12",
    "urn:uuid:1234", "urn:x", "tag:Host,2024-13:x" or "http://host:99999/"."""
    if not _URI.match(value) or _BAD_ESCAPE.search(value):
        return False
    scheme = value.partition(":")[0].lower()
    if scheme == "tag":
        return _valid_tag(value)
    if scheme == "urn":
        uuid_like = value[:9].lower() == "urn:uuid:"
        return bool(_URN_UUID.match(value) if uuid_like else _URN.match(value))
    if scheme in ("http", "https"):
        return is_web_url(value)
    return True


def _valid_tag(value: str) -> bool:
    """RFC 4151 as the validator reads it, plus a date that exists (no month 13)."""
    found = _TAG.match(value)
    if found is None:
        return False
    year, month, day = (int(part) if part else 1 for part in found.groups())
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def source_id(given: str | None, link: str | None, url: str) -> str:
    """atom:source's id: the feed's own id when valid, else its home page, else the URL
    polled, else (a URL the validator would refuse) a stable urn:uuid made from that URL."""
    for candidate in (clean(given), link, url):
        if candidate and is_valid_id(candidate):
            return candidate
    return _uuid_urn(url)


def content_hash(entry: EntryData) -> str:
    """sha256 over every published field of the entry."""
    return json_hash(entry.as_json())


def json_hash(stored_json: str) -> str:
    """content_hash of the entry whose EntryData.as_json() this is, without encoding again.
    (The text json.dumps(as_dict(), sort_keys=True, default=str, ensure_ascii=False) gives:
    the stores of every version hold hashes of that.)"""
    return hashlib.sha256(stored_json.encode("utf-8")).hexdigest()


def entry_key(entry: EntryData) -> str:
    """Deduplication key within one source."""
    if entry.guid:
        return "guid:" + entry.guid
    if entry.link:
        return "link:" + entry.link
    return "hash:" + content_hash(entry)


def atom_id(source: str, entry: EntryData, key: str) -> str:
    """The id the entry carries in every derived feed."""
    if entry.guid and is_valid_id(entry.guid):
        return entry.guid
    return fallback_id(source, key)


def fallback_id(source: str, key: str) -> str:
    """A stable urn:uuid for an entry of a source, whatever its guid says."""
    return _uuid_urn(f"{source}\n{key}")


def _short(value: object, limit: int) -> str | None:
    text = clean(collapse_space(value)) if isinstance(value, str) else None
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


NOTHING_TO_PUBLISH = "nothing to publish (no title, link, summary, content or enclosure)"


def has_something_to_publish(entry: EntryData) -> bool:
    """Whether an item holds anything a reader could see: an item with none of these
    (`<item></item>`, or fields all of the wrong JSON type) would be an empty entry."""
    return bool(entry.title.strip() or entry.link or entry.summary or entry.content or entry.enclosures)


def dropped_item(names: tuple[object, ...], reason: str, position: int | None = None) -> str:
    """One line for `dropped`: the item by its first usable name (title, guid, link),
    shortened, and why it was left out; e.g. 'item 3 "Border camps": unreadable (…)'."""
    name = next((short for value in names if (short := _short(value, 60))), None)
    if position is not None:
        label = f'item {position} "{name}"' if name else f"item {position}"
    else:
        label = f'"{name}"' if name else "an item with no title, id or link"
    return f"{label}: {_short(reason, 200) or 'no reason given'}"


def describe_error(error: BaseException) -> str:
    """An exception as the reason an item was dropped."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
