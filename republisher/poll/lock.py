"""One poll at a time per state folder: a second poll waits for the first."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = "poll.lock"
log = logging.getLogger(__name__)


@contextmanager
def poll_lock(state_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on state_dir for the duration of a poll or reroute.

    flock is released by the kernel when the process dies, so a `kill -9` never
    leaves a stale lock behind.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK_NAME).open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another poll or reroute is using %s: waiting for it to finish", state_dir)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
