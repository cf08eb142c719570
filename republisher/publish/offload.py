"""Render feeds in a helper process while this one reads and merges the next ones.

A publish of many feeds does two kinds of work, each about half of it: reading and
merging each feed's entries (render._read_feeds, which needs the store), then rendering
its files (render.render_feed_files, pure). With a RenderHelper the second runs in a
helper process, a batch of feeds at a time, on the core the first leaves idle, and the
files come back to be written here (one writer: a helper that dies leaves nothing half
done). Each stored entry crosses the pipe once: later batches name the entries sent
before by number (pickle's persistent ids), so the helper shares its renderings between
feeds as a publish in one process does.

Nothing here decides what a feed holds: the helper renders exactly what it is given, and
a batch it fails to render (it died, overran, or a bug) is rendered here instead.
"""

from __future__ import annotations

import io
import logging
import pickle
import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from republisher.childprocess import ChildProcess, end_now, limit_this_process
from republisher.config import Config
from republisher.models import StoredEntry
from republisher.routing.rules import Rule

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from republisher.publish.render import FeedContent
    from republisher.publish.site import FeedSummary

log = logging.getLogger(__name__)

MEMORY_LIMIT = 1024 * 1024 * 1024  # bytes of address space of the helper
# A publish that renders fewer feeds than this renders them here: starting the helper
# (an interpreter and the rendering libraries) costs about as much as rendering 20 feeds.
MIN_FEEDS = 40
IN_FLIGHT = 2  # batches sent and not yet rendered, at most: the others are rendered here
# Seconds the helper may take over one batch before it is given up (and the batch, with
# those after it, rendered here). Rendering a batch takes well under a second.
BATCH_TIME = 120.0


@dataclass(frozen=True)
class Rendered:
    """What the helper did with one batch."""

    files: list[tuple[dict[str, bytes], FeedSummary]]  # each feed's, in the batch's order


class RenderHelper:
    """One helper process for one publish. `send` a batch of feeds, then `take` its
    result in the order sent; None from `take` when the helper failed that batch."""

    def __init__(self, config: Config) -> None:
        self.child = ChildProcess(__name__, MEMORY_LIMIT)
        self.sent: deque[list[FeedContent]] = deque()  # batches awaiting their result
        self.numbers: dict[int, int] = {}  # id() of an entry sent -> its number
        self.kept: list[StoredEntry] = []  # the entries sent, kept so no id() is reused
        self.rules_sent: set[str] = set()  # slugs of the rules sent
        self.broken = False
        # Messages go out on a thread of their own: a helper that stops reading (hung, or
        # stopped) then costs BATCH_TIME in `take`, never a send blocked for ever.
        self.outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.sender = threading.Thread(target=self._send_all, name="render-send", daemon=True)
        self.sender.start()
        self.outbox.put(config)

    def send(self, feeds: list[FeedContent]) -> bool:
        """Hand a batch over; False (the batch is the caller's to render) when the helper
        has IN_FLIGHT batches already or is broken."""
        if self.broken or len(self.sent) >= IN_FLIGHT:
            return False
        new = (self._number_new(feeds), self._rules_new(feeds))
        self.outbox.put(("feeds", pickle.dumps(new, pickle.HIGHEST_PROTOCOL), self._pickled(feeds)))
        self.sent.append(feeds)
        return True

    def ready(self) -> bool:
        """Whether the oldest batch sent is rendered (or the helper is gone)."""
        try:
            return self.broken or self.child.connection.poll(0)
        except OSError:
            return True

    def take(self) -> tuple[list[FeedContent], Rendered | None]:
        """The oldest batch sent, with what the helper made of it (None: render it here)."""
        feeds = self.sent.popleft()
        if self.broken:
            return feeds, None
        try:
            if not self.child.connection.poll(BATCH_TIME):
                self._give_up(f"it took longer than {BATCH_TIME:g}s over one batch")
                return feeds, None
            status, value, records = self.child.connection.recv()
        except (EOFError, OSError):
            self._give_up("it died")
            return feeds, None
        for name, level, message in records:  # its warnings, as if logged here
            logging.getLogger(name).log(level, "%s", message)
        if status != "ok":
            self._give_up(str(value))
            return feeds, None
        return feeds, value

    def forget(self) -> None:
        """Both sides drop what they hold of the entries sent so far (bounded memory:
        called when the publish starts its caches afresh)."""
        self.numbers.clear()
        self.kept.clear()
        if not self.broken:
            self.outbox.put(("forget", None, None))

    def close(self) -> None:
        self.outbox.put(None)
        if self.broken:  # a send still under way to a helper given up on fails at once
            self.child.process.kill()
        self.sender.join(timeout=5)  # before the pipe closes: no send on a closed descriptor
        self.child.stop(kill=self.broken)

    def _send_all(self) -> None:
        while (message := self.outbox.get()) is not None:
            try:
                self.child.connection.send(message)
            except (OSError, ValueError):  # the helper is gone (its results say so)
                return

    def _give_up(self, why: str) -> None:
        if not self.broken:
            log.warning("rendering helper stopped (%s): this process renders the rest", why)
        self.broken = True

    def _number_new(self, feeds: list[FeedContent]) -> list[tuple[int, StoredEntry]]:
        """Number the entries of these feeds not sent before; returns them, numbered."""
        new: list[tuple[int, StoredEntry]] = []
        for feed in feeds:
            for story in feed.stories:
                for entry in (story.entry, *story.also):
                    if id(entry) not in self.numbers:
                        self.numbers[id(entry)] = len(self.kept)
                        self.kept.append(entry)
                        new.append((len(self.kept) - 1, entry))
        return new

    def _rules_new(self, feeds: list[FeedContent]) -> list[Rule]:
        """The rules of these feeds not sent before (each crosses once)."""
        new = [feed.rule for feed in feeds if feed.rule.slug not in self.rules_sent]
        self.rules_sent.update(rule.slug for rule in new)
        return new

    def _pickled(self, feeds: list[FeedContent]) -> bytes:
        buffer = io.BytesIO()
        _Pickler(buffer, self.numbers).dump(feeds)
        return buffer.getvalue()


class _Pickler(pickle.Pickler):
    """Names entries already sent by number, and rules by slug (the helper has both)."""

    def __init__(self, file: io.BytesIO, numbers: dict[int, int]) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.numbers = numbers

    def persistent_id(self, obj: Any) -> tuple[str, int | str] | None:
        if type(obj) is StoredEntry:
            return ("entry", self.numbers[id(obj)])
        if type(obj) is Rule:
            return ("rule", obj.slug)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, entries: dict[int, StoredEntry], rules: dict[str, Rule]) -> None:
        super().__init__(io.BytesIO(data))
        self.entries, self.rules = entries, rules

    def persistent_load(self, pid: Any) -> Any:
        kind, key = pid
        return self.entries[key] if kind == "entry" else self.rules[key]


# --- the helper's side ----------------------------------------------------------------


class _Records(logging.Handler):
    """Keeps what the helper logs, to be sent with the batch's result."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))

    def taken(self) -> list[tuple[str, int, str]]:
        records, self.records = self.records, []
        return records


def serve(connection: Connection, memory_limit: int) -> None:
    """The helper's loop: render each batch of feeds received and send back each feed's
    files and summary."""
    limit_this_process(memory_limit)
    from republisher.gcpause import collection_paused
    from republisher.publish.render import RenderCaches, render_feed_files

    records = _Records()
    logging.getLogger().addHandler(records)
    logging.getLogger().setLevel(logging.INFO)
    try:
        config = connection.recv()
    except (EOFError, OSError):
        return
    rules: dict[str, Rule] = {}
    entries: dict[int, StoredEntry] = {}
    caches = RenderCaches()
    received = _receiving(connection)
    with collection_paused():
        while True:
            message = received.get()
            if message is None:  # the parent closed the pipe, or is gone
                end_now()
            kind, new, feeds_data = message
            if kind == "forget":
                entries.clear()
                caches = RenderCaches()
                continue
            try:
                new_entries, new_rules = pickle.loads(new)
                entries.update(new_entries)
                rules.update((rule.slug, rule) for rule in new_rules)
                feeds: list[FeedContent] = _Unpickler(feeds_data, entries, rules).load()
                rendered = Rendered([render_feed_files(feed, config, caches) for feed in feeds])
                outcome: tuple[str, object, list[tuple[str, int, str]]] = ("ok", rendered, records.taken())
            except Exception as e:  # the parent renders the batch itself
                outcome = ("error", f"{type(e).__name__}: {e}", records.taken())
            try:
                connection.send(outcome)
            except OSError:  # the parent is gone
                end_now()


def _receiving(connection: Connection) -> queue.SimpleQueue[Any]:
    """The messages received, read on a thread of their own as they come (None after the
    last): the parent may be sending the next batch while this sends a result, and
    neither may wait for the other to read."""
    received: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def receive() -> None:
        while True:
            try:
                received.put(connection.recv())
            except (EOFError, OSError):
                received.put(None)
                return

    threading.Thread(target=receive, name="receive", daemon=True).start()
    return received
