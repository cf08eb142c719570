"""Stable identities and change hashes for entries. Pure functions.

- key: how the store deduplicates an entry within its source: the source's guid,
  else its link, else a hash of its content (a feed with neither has nothing
  steadier to offer).
- atom id: the guid when it is an absolute IRI (keeps the source's identity),
  else a urn:uuid derived from the source name and the key, so the same item
  always gets the same id across polls, restarts and rerouting.
- content hash: covers everything we publish about the entry, so a changed title
  or body replaces the stored version; fetch times are left out because they
  change on every poll without the item changing.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

from republisher.models import EntryData

# Fixed namespace for urn:uuid ids; changing it would change every generated id.
_NAMESPACE = uuid.UUID("6f4d1b52-3c1e-4f5e-9a57-0d5b1f6f8c21")
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+\Z")


def is_absolute_iri(value: str) -> bool:
    """True for 'scheme:rest' with no spaces, e.g. https://…, tag:…, urn:…."""
    return bool(_ABSOLUTE_IRI.match(value))


def content_hash(entry: EntryData) -> str:
    """sha256 over every published field of the entry."""
    data = json.dumps(entry.as_dict(), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def entry_key(entry: EntryData) -> str:
    """Deduplication key within one source."""
    if entry.guid:
        return "guid:" + entry.guid
    if entry.link:
        return "link:" + entry.link
    return "hash:" + content_hash(entry)


def atom_id(source: str, entry: EntryData, key: str) -> str:
    """The id the entry carries in every derived feed."""
    if entry.guid and is_absolute_iri(entry.guid):
        return entry.guid
    return uuid.uuid5(_NAMESPACE, f"{source}\n{key}").urn
