"""What to tell a person when SQLite fails: the failures they can fix come with advice."""

from __future__ import annotations

_DAMAGED = "the store is damaged ({}): restore it from a backup or move it away to start afresh"
_PERMISSIONS = "check the owner and mode of the file and its folder"
# What to say for each SQLite primary result code (the low byte of an extended code).
_ADVICE: dict[int, str] = {
    3: "no permission to use the store ({}): " + _PERMISSIONS,  # SQLITE_PERM
    5: "the store is busy ({}): another republisher process kept it locked too long",  # SQLITE_BUSY
    6: "the store is busy ({}): another republisher process kept it locked too long",  # SQLITE_LOCKED
    7: "out of memory ({})",  # SQLITE_NOMEM
    8: "the store is read-only ({}): " + _PERMISSIONS,  # SQLITE_READONLY
    10: "cannot read or write the store file ({}): check the disk and its free space",  # SQLITE_IOERR
    11: _DAMAGED,  # SQLITE_CORRUPT
    13: "disk full ({}): free some space and run again; what was stored before is kept",  # SQLITE_FULL
    14: "cannot open the store file ({}): check that its folder is writable",  # SQLITE_CANTOPEN
    26: _DAMAGED,  # SQLITE_NOTADB
}


def reason(error: Exception, doing: str) -> str:
    """What went wrong, for a person: advice for the failures they can fix, else `doing`."""
    code = getattr(error, "sqlite_errorcode", None)
    advice = _ADVICE.get(code & 0xFF) if isinstance(code, int) else None
    return advice.format(error) if advice else f"{doing}: {error}"
