"""Parse and prepare feeds in worker processes with a time and memory limit.

feedparser is not safe against every hostile input: its loose parser expands internal
XML entities itself and its author e-mail regex is quadratic. Entity declarations are
refused before parsing (parse.refuse_entity_declarations); this pool bounds what is left:
each parse runs in a worker process with an address-space limit, and a parse that
overruns its time is ended by killing its worker, which is then replaced. The workers
also let parsing, and the per-entry work that follows it (prepare.prepare_feed), use
every core instead of queueing on the GIL.
"""

from __future__ import annotations

import logging
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

from republisher.errors import ParseError
from republisher.gcpause import collection_paused
from republisher.models import PreparedFeed

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from republisher.routing.router import Router
    from republisher.routing.rules import RuleSet

log = logging.getLogger(__name__)

MEMORY_LIMIT = 1024 * 1024 * 1024  # bytes of address space per worker
# Parsing gets its own time limit, never less than this: `[poll] timeout` bounds a fetch
# (a slow server), and a short one must not fail a big valid feed that takes a few
# seconds to parse. The limit is there for parser pathologies, which take far longer.
MIN_PARSE_TIME = 60.0


def parse_time_limit(fetch_timeout: float) -> float:
    """Seconds one parse may take: the fetch timeout, but at least MIN_PARSE_TIME."""
    return max(MIN_PARSE_TIME, fetch_timeout)


# A worker is a plain `python -c` process, not a multiprocessing one: "spawn" (no fork of
# a threaded parent) also starts multiprocessing's resource tracker process and imports
# the parent's __main__ (the CLI) in every worker; this starts just the interpreter, and
# the worker imports only the parser. -P: nothing is imported from the current directory;
# the parent's sys.path, sent first, is the worker's, as with "spawn".
_BOOTSTRAP = (
    "import sys\n"
    "from multiprocessing.connection import Connection\n"
    "connection = Connection(int(sys.argv[1]))\n"
    "sys.path[:] = connection.recv()\n"
    "from republisher.sources.workers import serve\n"
    "serve(connection, int(sys.argv[2]))\n"
)


def serve(connection: Connection, memory_limit: int) -> None:
    """Worker loop: parse and prepare each job received, send back the outcome.

    A job is (body, url, content_type, source, rules); rules is None when unchanged
    since this worker's previous job, so a rule set crosses the pipe once per worker.
    """
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    # Ctrl-C is the parent's to handle: it ends the workers by closing their pipes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Imported here, in the worker only: the parent never parses.
    from republisher.routing.router import Router
    from republisher.sources.parse import parse_feed
    from republisher.sources.prepare import prepare_feed

    router: Router | None = None
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):  # the parent closed the pipe, or is gone
            _end_now()
        body, url, content_type, source, rules = job
        if rules is not None:
            router = Router(rules.rules)
        assert router is not None
        try:
            with collection_paused():  # one feed: a bounded burst (RLIMIT_AS bounds it too)
                feed = parse_feed(body, url, content_type)
                outcome: tuple[str, object] = ("ok", prepare_feed(feed, source, router))
        except ParseError as e:
            outcome = ("error", e.reason)
        except MemoryError:
            outcome = ("error", f"parsing needed more than {memory_limit // 2**20} MB")
        except RecursionError:
            outcome = ("error", "document nested too deeply")
        except Exception as e:  # a parser bug on one hostile feed must not kill the worker
            outcome = ("error", f"parser failed: {type(e).__name__}: {e}")
        del job, body
        try:
            connection.send(outcome)
        except OSError:  # the parent gave up on this job (killed us late) or is gone
            _end_now()


def _end_now() -> NoReturn:
    """How a worker ends once its parent is done with it: at once, without freeing what it
    holds object by object (a tenth of a second for its caches, which the parent would
    wait for). A worker keeps nothing that needs saving: it writes no file."""
    os._exit(0)


class _Worker:
    def __init__(self, memory_limit: int) -> None:
        mine, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-c", _BOOTSTRAP, str(theirs.fileno()), str(memory_limit)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # stderr is shared: a worker's crash is seen
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        from multiprocessing.connection import Connection  # here: a poll with nothing to parse needs none

        self.connection = Connection(mine.detach())
        self.rules_sent: str | None = None  # fingerprint of the rule set this worker holds
        try:
            self.connection.send(sys.path)
        except BaseException:  # it died at once: leave no process behind
            self.stop(kill=True)
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, kill: bool = False) -> None:
        """Close the pipe (the worker ends when it reads EOF) and reap the process;
        `kill` ends it at once, and so does a worker still busy after 5 seconds."""
        if kill:
            self.process.kill()
        self.connection.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # still parsing after the grace period: no orphans
            self.process.kill()
            self.process.wait()


class ParsePool:
    """Thread-safe: any number of threads may call prepare(); workers start when first needed."""

    def __init__(self, workers: int, timeout: float, memory_limit: int = MEMORY_LIMIT) -> None:
        """`timeout` is the fetch timeout; a parse may take parse_time_limit(timeout)."""
        self.size = max(1, workers)
        self.timeout = parse_time_limit(timeout)
        self.memory_limit = memory_limit
        self.idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(self.size):
            self.idle.put(None)  # a slot; the process is started on first use
        self.all: set[_Worker] = set()
        self.started = 0  # worker processes started so far
        self.lock = threading.Lock()

    def prepare(
        self, body: bytes, url: str, content_type: str | None, source: str, rules: RuleSet
    ) -> PreparedFeed:
        """Parse a body and prepare its entries in a worker; ParseError on bad input, overrun, crash."""
        worker: _Worker | None = self.idle.get()
        try:
            if worker is None:
                worker = self._start()
            fresh_rules = rules if worker.rules_sent != rules.fingerprint else None
            worker.connection.send((body, url, content_type, source, fresh_rules))
            worker.rules_sent = rules.fingerprint
            if not worker.connection.poll(self.timeout):
                self._retire(worker)
                worker = None
                raise ParseError(url, f"parsing took longer than {self.timeout:g}s")
            status, value = worker.connection.recv()
        except (EOFError, OSError) as e:
            self._retire(worker)
            worker = None
            raise ParseError(url, "parser process died (out of memory?)") from e
        finally:
            self.idle.put(worker)  # None frees the slot: a new worker starts on next use
        if status == "error":
            raise ParseError(url, str(value))
        assert isinstance(value, PreparedFeed)
        return value

    def _start(self) -> _Worker:
        worker = _Worker(self.memory_limit)
        with self.lock:
            self.all.add(worker)
            self.started += 1
        return worker

    def _retire(self, worker: _Worker | None) -> None:
        """Kill a worker that overran or broke; its slot is refilled on next use."""
        if worker is None:
            return
        with self.lock:
            self.all.discard(worker)
        worker.stop(kill=True)

    def close(self) -> None:
        with self.lock:
            workers, self.all = self.all, set()
        for worker in workers:
            worker.stop()


@contextmanager
def parse_pool(workers: int, timeout: float) -> Iterator[ParsePool]:
    """A ParsePool closed on exit."""
    pool = ParsePool(workers, timeout)
    try:
        yield pool
    finally:
        pool.close()
