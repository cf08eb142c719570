"""A helper process with a pipe to it, as the parse workers (sources/workers.py) are.

A helper is a plain `python -c` process, not a multiprocessing one: "spawn" (no fork of a
threaded parent) also starts multiprocessing's resource tracker process and imports the
parent's __main__ (the CLI) in every helper; this starts just the interpreter, and the
helper imports only its own module. -P: nothing is imported from the current directory;
the parent's sys.path, sent first, is the helper's, as with "spawn".
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
from typing import NoReturn

# Runs `serve(connection, memory_limit)` of the module named by argv[3].
_BOOTSTRAP = (
    "import importlib, sys\n"
    "from multiprocessing.connection import Connection\n"
    "connection = Connection(int(sys.argv[1]))\n"
    "sys.path[:] = connection.recv()\n"
    "importlib.import_module(sys.argv[3]).serve(connection, int(sys.argv[2]))\n"
)


def cores() -> int:
    """The CPU cores this process may use (one parse worker each)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ChildProcess:
    """A started helper running `module`.serve(connection, memory_limit)."""

    def __init__(self, module: str, memory_limit: int) -> None:
        mine, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-c", _BOOTSTRAP, str(theirs.fileno()), str(memory_limit), module],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stderr is shared: a helper's crash is seen
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        from multiprocessing.connection import Connection  # here: a poll with no helper needs none

        self.connection = Connection(mine.detach())
        try:
            self.connection.send(sys.path)
        except BaseException:  # it died at once: leave no process behind
            self.stop(kill=True)
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, kill: bool = False) -> None:
        """Close the pipe (the helper ends when it reads EOF) and reap the process;
        `kill` ends it at once, and so does a helper still busy after 5 seconds."""
        if kill:
            self.process.kill()
        self.connection.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # still working after the grace period: no orphans
            self.process.kill()
            self.process.wait()


def end_now() -> NoReturn:
    """How a helper ends once its parent is done with it: at once, without freeing what it
    holds object by object (a tenth of a second for a worker's caches, which the parent
    would wait for). A helper keeps nothing that needs saving: it writes no file."""
    os._exit(0)


def limit_this_process(memory_limit: int) -> None:
    """What a helper does first: bound its address space, and leave Ctrl-C to the parent
    (which ends its helpers by closing their pipes)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
