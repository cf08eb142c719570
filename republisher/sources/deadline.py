"""A total time limit for one exchange on the network, however its bytes trickle in.

A per-read timeout lets a server that sends one byte every few seconds hold a fetch for
ever. A Deadline arms an alarm on one shared watchdog thread; at the deadline the sockets
the exchange uses (`watch`) are shut down, which wakes a thread blocked reading them.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable


class _Watchdog:
    """One thread that runs callbacks at deadlines: cheaper than a Timer thread per fetch."""

    def __init__(self) -> None:
        self.alarms: list[tuple[float, int, Callable[[], None]]] = []
        self.condition = threading.Condition()
        self.counter = itertools.count()
        self.thread: threading.Thread | None = None

    def arm(self, seconds: float, callback: Callable[[], None]) -> int:
        with self.condition:
            ticket = next(self.counter)
            heapq.heappush(self.alarms, (time.monotonic() + seconds, ticket, callback))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="fetch-watchdog", daemon=True)
                self.thread.start()
            self.condition.notify()
            return ticket

    def disarm(self, ticket: int) -> None:
        with self.condition:
            self.alarms = [a for a in self.alarms if a[1] != ticket]
            heapq.heapify(self.alarms)

    def _run(self) -> None:
        while True:
            with self.condition:
                while not self.alarms or self.alarms[0][0] > time.monotonic():
                    wait = self.alarms[0][0] - time.monotonic() if self.alarms else None
                    self.condition.wait(wait)
                _, _, callback = heapq.heappop(self.alarms)
            # Closing a response that already finished may raise; nothing is lost by ignoring it.
            with contextlib.suppress(Exception):
                callback()


_WATCHDOG = _Watchdog()


class Deadline:
    """A total time limit for the HTTP exchange running in this thread.

    At the deadline the watchdog shuts down the sockets this exchange used (handed over by
    `watch`); shutdown() wakes a thread blocked in recv(), close() would not.
    end() disarms it under a lock, so a late alarm cannot touch a socket that the thread's
    next exchange has taken from the pool.
    """

    def __init__(self, seconds: float) -> None:
        self.passed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.over = False
        self.ends_at = time.monotonic() + seconds
        _CURRENT.deadline = self
        self.alarm = _WATCHDOG.arm(seconds, self._cut_off)

    def _cut_off(self) -> None:
        with self.lock:
            if self.over:
                return
            self.passed.set()
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def end(self) -> None:
        with self.lock:
            self.over = True
        _WATCHDOG.disarm(self.alarm)
        _CURRENT.deadline = None


_CURRENT = threading.local()  # the Deadline of the exchange running in this thread


def watch(sock: socket.socket) -> None:
    """Let the deadline of the exchange running in this thread shut this socket down."""
    current: Deadline | None = getattr(_CURRENT, "deadline", None)
    if current is not None:
        current.sockets.append(sock)
