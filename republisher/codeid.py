"""A digest of this program's code as it is on disk: what tells one build from another
when the version number does not (an edited checkout, an upgrade that kept the version)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from republisher import __version__


@functools.cache
def code_digest() -> bytes:
    """sha256 over every module of the package, read once per process (a few ms)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    try:
        for path in sorted(package.rglob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    except OSError:  # not installed as files: the version must do
        digest.update(__version__.encode())
    return digest.digest()
