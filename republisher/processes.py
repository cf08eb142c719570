"""The cores this process may use, and a forked helper process that shares its memory.

`Forked` runs one function in a child made by fork(): the child starts with the parent's
memory (imports, settings, caches) shared page by page until it writes to them, so it
costs neither an interpreter start nor a second copy of what the parent holds. It is only
made when this process runs no other thread (`fork_is_safe`): a fork copies the memory of
every thread but runs only the one that forked, so a lock another thread held would stay
held in the child for ever.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable


def cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fork_is_safe() -> bool:
    """Whether a helper may be forked now: fork exists here and no other thread runs."""
    return hasattr(os, "fork") and threading.active_count() == 1


class HelperFailed(Exception):
    """The helper process raised, was killed or ended without an answer."""


class Forked:
    """A child process running `work()`; `result()` is what it returned.

    The child must not touch what cannot cross a fork (an open SQLite connection, a
    thread's lock): `work` opens what it needs afresh. It ends with os._exit, so nothing
    the parent set up (atexit handlers, buffered files, open connections) runs twice.
    """

    def __init__(self, work: Callable[[], str]) -> None:
        read_end, write_end = os.pipe()
        sys.stderr.flush()  # else a message buffered here would be written by both
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_end)
            _run_child(work, write_end)
        os.close(write_end)
        self.pid = pid
        self.pipe = os.fdopen(read_end, "rb")
        self.done = False

    def result(self) -> str:
        """Wait for the child; its answer. HelperFailed when it raised or did not end well."""
        try:
            answer = self.pipe.read().decode("utf-8", "replace")
        finally:
            self.pipe.close()
            status = self._reap()
        if status == 0 and answer.startswith("ok\n"):
            return answer.removeprefix("ok\n")
        if answer.startswith("error\n"):
            raise HelperFailed(answer.removeprefix("error\n"))
        raise HelperFailed(f"helper process ended with status {status}")

    def kill(self) -> None:
        """End the child now (the parent failed: its work is no longer wanted)."""
        if not self.done:
            os.kill(self.pid, signal.SIGKILL)
            self.pipe.close()
            self._reap()

    def _reap(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        self.done = True
        return os.waitstatus_to_exitcode(status)


def _run_child(work: Callable[[], str], write_end: int) -> None:
    status = 1
    try:
        try:
            answer = "ok\n" + work()
            status = 0
        except BaseException as e:  # told to the parent, which decides what to do
            answer = f"error\n{type(e).__name__}: {e}"
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(answer.encode("utf-8", "replace"))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
