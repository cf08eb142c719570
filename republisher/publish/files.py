"""Write output files atomically, and only when their bytes change."""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path


def write_if_changed(path: Path, data: bytes, *, sync_folder: bool = True) -> bool:
    """Atomically replace path with data unless it already holds exactly that.

    Returns True when the file was written. A reader sees the old file or the new
    one, never a partial one: the bytes go to a temporary file in the same folder,
    are fsynced, then renamed over the target. The rename itself is made durable by
    fsyncing the folder, unless `sync_folder` is False: then the caller does that, once
    for many files (as Writer does).
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the web server must be able to read feeds
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_folder:
        _fsync_dir(path.parent)
    return True


class Writer:
    """Writes files (write_if_changed) on a few threads while the caller goes on: the
    disk's waits overlap the rendering of the next files, and concurrent fsyncs share
    the filesystem's journal commits. `written()` waits for every write, raises the
    first error met, and makes the renames durable with one fsync per folder."""

    THREADS = 4
    QUEUED = 32  # writes waiting at most: the bytes waiting are bounded

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.pending: list[tuple[Path, Future[bool]]] = []
        self.unfinished: deque[Future[bool]] = deque()

    def write(self, path: Path, data: bytes) -> None:
        while len(self.unfinished) >= self.QUEUED:
            self.unfinished.popleft().exception()  # waits; errors are raised by written()
        future = self.pool.submit(write_if_changed, path, data, sync_folder=False)
        self.pending.append((path, future))
        self.unfinished.append(future)

    def written(self) -> list[Path]:
        """The files written since the last call, in the order given."""
        pending, self.pending = self.pending, []
        self.unfinished.clear()
        written = [path for path, future in pending if future.result()]
        for folder in sorted({path.parent for path in written}):
            _fsync_dir(folder)
        return written


@contextmanager
def writer() -> Iterator[Writer]:
    """A Writer whose threads end with the block, once they finished what they were given."""
    with ThreadPoolExecutor(max_workers=Writer.THREADS, thread_name_prefix="write") as pool:
        yield Writer(pool)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files left by a write that was killed half-way."""
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable across a power cut.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
