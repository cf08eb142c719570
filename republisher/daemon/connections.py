"""The connections `serve` holds open, and the time each may take.

A server with one thread per connection is locked out by clients that hold connections
without finishing anything: a per-read timeout alone lets a client that sends one byte
every few seconds keep its connection (and its thread) forever. So:

- every phase of a connection has a deadline in (monotonic) time, not per read: a new
  connection's request headers must be complete `header_timeout` after accept; a kept-
  alive one may stay silent `idle_timeout`, then its headers must be complete
  `header_timeout` after their first byte; and a request, response included, ends
  `request_timeout` after its first byte;
- one client holds at most `max_per_client` connections (a client: an IPv4 address, or an
  IPv6 /64, the block one host or household usually has);
- when every slot is taken, room is made by closing, in this order: the kept-alive
  connection silent the longest (waiting for its next request), so idle keep-alives never
  refuse a reader; a new connection that has sent nothing for `slow_headers`; the one that
  has been sending its request headers the longest, for `slow_headers` at least (a reader
  sends them at once: a connection still at it is a drip); the one that has been answering
  the longest, for `slow_response` at least (a client that does not read its response
  holds its connection until `request_timeout` otherwise). A new connection is never
  closed for room before it had `slow_headers` to send its request, and only when no
  connection may be closed is a new client refused.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer


@dataclass(frozen=True)
class Limits:
    """The bounds of `serve`: every time in seconds."""

    header_timeout: float = 10.0  # from accept or from a request's first byte to its last header
    idle_timeout: float = 30.0  # a kept-alive connection silent between requests
    request_timeout: float = 60.0  # from a request's first byte to its response's last
    max_connections: int = 256  # one thread each
    max_per_client: int = 16  # connections from one client (client_of)
    slow_headers: float = 1.0  # still sending its headers this long: may be closed for room
    slow_response: float = 5.0  # still answering this long: may be closed for room


def client_of(ip: str) -> str:
    """The client an address belongs to, for max_per_client: the IPv4 address itself
    (also when IPv4-mapped), or the IPv6 /64 it is in."""
    try:
        address = ipaddress.ip_address(ip.partition("%")[0])  # without an IPv6 zone
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Connection:
    """One accepted connection. Its deadline is read and set by its own handler thread
    only; `idle` and `closed` are shared with the accept loop, under the registry's lock."""

    __slots__ = (
        "answering_since",
        "client",
        "closed",
        "deadline",
        "fresh",
        "idle",
        "idle_since",
        "reading_since",
        "request_deadline",
        "sock",
    )

    def __init__(self, sock: socket.socket, client: str, now: float, limits: Limits) -> None:
        self.sock = sock
        self.client = client  # client_of its address
        self.deadline = now + limits.header_timeout  # for the first request's headers
        self.request_deadline = now + limits.request_timeout
        self.idle = True  # waiting for a request: may be closed to make room
        self.idle_since = now
        self.closed = False  # closed to make room (or released)
        self.reading_since: float | None = None  # a request's first byte, until its headers end
        self.answering_since: float | None = None  # its headers' end, until the response's
        self.fresh = True  # accepted, and no byte of a request received yet

    def remaining(self) -> float:
        """Seconds left before the current deadline; TimeoutError when it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


class Refused(Exception):
    """A new connection cannot be taken: `status` says why (429 this client, 503 all)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Connections:
    """The open connections: admits new ones within the limits, closes idle ones for room,
    and moves each through its phases (waiting, reading headers, answering)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.closing = False  # the server stopped: no connection waits for another request
        self._lock = threading.Lock()
        self._open: set[Connection] = set()
        self._per_client: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._open)

    def idle_count(self) -> int:
        with self._lock:
            return sum(1 for c in self._open if c.idle)

    def admit(self, sock: socket.socket, ip: str) -> Connection:
        """Register a new connection, closing another client's idle one if that makes room.
        Raises Refused when the limits leave no room. Called by the accept loop only."""
        limits = self.limits
        client = client_of(ip)
        with self._lock:
            # Room is made by closing a connection of the same client first, then of anyone.
            if self._per_client[client] >= limits.max_per_client and not self._make_room(client):
                raise Refused(429, f"{limits.max_per_client} connections open from this client")
            if len(self._open) >= limits.max_connections and not self._make_room(None):
                raise Refused(503, f"{limits.max_connections} connections busy")
            conn = Connection(sock, client, time.monotonic(), limits)
            self._open.add(conn)
            self._per_client[client] += 1
            return conn

    def close_all(self) -> None:
        """The server stopped: idle connections are closed now, busy ones after their
        answer (their handlers see `closing`), so no kept-alive client is served on."""
        with self._lock:
            self.closing = True
            for conn in [c for c in self._open if c.idle]:
                self._shut(conn)

    def release(self, conn: Connection) -> None:
        """Forget a connection whose handler has finished."""
        with self._lock:
            self._forget(conn)

    def wait_for_request(self, conn: Connection, first: bool) -> None:
        """The connection now waits for a request, and may be closed to make room. The
        first request's deadline runs from accept; a later one may wait idle_timeout."""
        with self._lock:
            conn.idle = True
            conn.idle_since = time.monotonic()
            conn.answering_since = None
        if not first:
            conn.deadline = conn.idle_since + self.limits.idle_timeout

    def request_started(self, conn: Connection, first: bool) -> bool:
        """A request's first byte has arrived: its headers are now due. False when the
        connection was closed to make room meanwhile (then the request is not read)."""
        now = time.monotonic()
        with self._lock:
            if conn.closed:
                return False
            conn.idle = False
            conn.fresh = False
            conn.reading_since = now
        if not first:
            conn.deadline = now + self.limits.header_timeout
        conn.request_deadline = now + self.limits.request_timeout
        return True

    def headers_received(self, conn: Connection) -> None:
        """The headers are in: what is left is the response, due by the request's deadline."""
        with self._lock:
            conn.reading_since = None
            conn.answering_since = time.monotonic()
        conn.deadline = conn.request_deadline

    def _make_room(self, client: str | None) -> bool:
        """Close one connection (of `client`, or of anyone), in the order the module says;
        False if none may be. Its thread then reads end-of-file and ends. Lock held."""
        theirs = [c for c in self._open if client is None or c.client == client]
        now = time.monotonic()
        kept_alive = [(c.idle_since, c) for c in theirs if c.idle and not c.fresh]
        silent_new = [
            (c.idle_since, c) for c in theirs if c.fresh and c.idle_since <= now - self.limits.slow_headers
        ]
        dripping = [
            (c.reading_since, c)
            for c in theirs
            if c.reading_since is not None and c.reading_since <= now - self.limits.slow_headers
        ]
        not_reading = [
            (c.answering_since, c)
            for c in theirs
            if c.answering_since is not None and c.answering_since <= now - self.limits.slow_response
        ]
        for candidates in (kept_alive, silent_new, dripping, not_reading):
            if candidates:
                self._shut(min(candidates, key=lambda pair: pair[0])[1])
                return True
        return False

    def _shut(self, conn: Connection) -> None:
        self._forget(conn)
        with contextlib.suppress(OSError):  # already gone
            conn.sock.shutdown(socket.SHUT_RDWR)

    def _forget(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._open.discard(conn)
        self._per_client[conn.client] -= 1
        if not self._per_client[conn.client]:
            del self._per_client[conn.client]


class DeadlineSocketIO(io.RawIOBase):
    """A socket as a raw stream whose every read and write ends by the connection's
    current deadline, however the bytes trickle in or out (TimeoutError after it)."""

    def __init__(self, sock: socket.socket, conn: Connection) -> None:
        super().__init__()
        self._sock = sock
        self._conn = conn

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        self._sock.settimeout(self._conn.remaining())
        return self._sock.recv_into(buffer)

    def write(self, data: ReadableBuffer, /) -> int:
        self._sock.settimeout(self._conn.remaining())
        return self._sock.send(data)
