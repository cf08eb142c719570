"""A digest of this program's code as it is on disk: what tells one build from another
when the version number does not (an edited checkout, an upgrade that kept the version)."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path


@functools.cache
def code_digest() -> bytes:
    """sha256 over every module of the package, read once per process (a few ms). Where
    the code cannot be read (a zip archive), a digest of this process alone: no two
    processes then agree, so nothing is taken to be what this build made (the publish
    renders and sanitizes everything again), where a constant would let builds pass for
    each other."""
    return package_digest(Path(__file__).resolve().parent) or os.urandom(32)


def package_digest(package: Path) -> bytes | None:
    """sha256 over the package's source files, or over its compiled ones when it was
    installed without sources; None when there are neither (or they cannot be read)."""
    try:
        files = sorted(package.rglob("*.py")) or sorted(package.rglob("*.pyc"))
        if not files:
            return None
        digest = hashlib.sha256()
        for path in files:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    except OSError:
        return None
    return digest.digest()


# Taken as the program loads, so that it names the code this process runs: a daemon whose
# files are upgraded under it must not take the new files' digest for its own.
code_digest()
