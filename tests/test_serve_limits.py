"""`serve` under clients that hold connections: slow drips, idle keep-alives, readers that
never read, and one address opening many connections. Each test runs its own server with
short limits; no assertion depends on how fast the machine is (waits are bounded at
BOUND seconds, many times the limits, and only fail a test if the server never acts)."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from republisher.daemon.connections import client_of
from republisher.daemon.content import Site
from republisher.daemon.http import Limits, Server

PREFIX = "/topics/"
PAGE = PREFIX + "index.html"
BOUND = 30.0  # seconds: how long a test waits for something the server must do
OTHER_CLIENT = "127.0.0.2"  # also loopback on Linux: another client address


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("limits")
    (root / "index.html").write_text("<!doctype html><title>feeds</title>\n", encoding="utf-8")
    (root / "big.bin").write_bytes(os.urandom(32 * 1024 * 1024))  # beyond any socket buffers
    return Site(os.path.realpath(root), PREFIX, 60)


@contextmanager
def running(site: Site, **limits: float) -> Iterator[Server]:
    httpd = Server(("127.0.0.1", 0), site, Limits(**limits))  # type: ignore[arg-type]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def get(server: Server, source: str = "127.0.0.1", path: str = PAGE) -> int:
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.server_port, timeout=BOUND, source_address=(source, 0)
    )
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def connect(server: Server, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", server.server_port), timeout=BOUND, source_address=(source, 0)
    )


def request_on(sock: socket.socket, path: str = PAGE) -> bytes:
    """One keep-alive GET on a raw socket; the whole response (this page's is small)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"</title>\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes this connection within BOUND (reading whatever it sent)."""
    sock.settimeout(BOUND)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Drippers:
    """Connections that send a request line, then one header byte every 0.1 s, forever:
    each read arrives long before any per-read timeout, but the headers never end."""

    def __init__(self, server: Server, count: int, sources: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.open: list[socket.socket] = []
        for n in range(count):
            sock = connect(server, sources[n % len(sources)])
            try:
                sock.sendall(b"GET " + PAGE.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Drip: ")
            except OSError:  # refused and closed already
                sock.close()
                continue
            sock.setblocking(False)
            self.open.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        while not self._stop.wait(0.1):
            for sock in list(self.open):
                if self._closed(sock):
                    self.open.remove(sock)
                    sock.close()

    @staticmethod
    def _closed(sock: socket.socket) -> bool:
        try:
            while sock.recv(65536):  # a refusal or an error answer: then the end
                pass
            return True
        except BlockingIOError:
            pass  # nothing from the server: still open
        except OSError:
            return True
        try:
            sock.send(b"x")
        except BlockingIOError:
            pass
        except OSError:
            return True
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.open:
            sock.close()


def test_slow_drip_clients_cannot_lock_out_readers(site: Site) -> None:
    """The reproduction: 300 slow-drip connections from one address, more than the server
    has slots. Another address is served at once; the same address is served as soon as
    the drips' header deadline cuts them; and every drip is cut though it keeps sending."""
    with running(site, header_timeout=0.5) as server:
        drippers = Drippers(server, 300)
        try:
            assert get(server, source=OTHER_CLIENT) == 200
            statuses = [get(server)]
            deadline = time.monotonic() + BOUND
            while statuses[-1] != 200 and time.monotonic() < deadline:
                time.sleep(0.05)
                statuses.append(get(server))
            assert statuses[-1] == 200, statuses
            assert set(statuses) <= {200, 429}, "refused for its own connections, or served"
            assert wait_until(lambda: not drippers.open), f"{len(drippers.open)} drips still open"
            assert wait_until(lambda: len(server.connections) == 0)
        finally:
            drippers.close()


def test_slow_drips_from_many_addresses_cannot_lock_out_readers(site: Site) -> None:
    """Drips from as many addresses as it takes to fill every slot within the per-client
    limit, with a header deadline far off: a reader is still served, in place of the drip
    that has been sending its headers the longest."""
    sources = tuple(f"127.0.0.{n}" for n in range(10, 14))
    with running(site, header_timeout=BOUND, max_connections=8, max_per_client=2, slow_headers=0.2) as server:
        drippers = Drippers(server, 8, sources)
        try:
            assert wait_until(lambda: len(server.connections) == 8)
            time.sleep(0.5)  # every drip now older than slow_headers
            assert get(server, source=OTHER_CLIENT) == 200
            assert get(server, source=OTHER_CLIENT) == 200
            assert wait_until(lambda: len(drippers.open) <= 6), "two drips closed to make room"
        finally:
            drippers.close()


def test_a_new_connection_has_time_to_send_its_request_before_it_may_give_way(site: Site) -> None:
    """The reader's own new connection, accepted while every slot is taken, is not the
    first thing closed to make room for the next newcomer."""
    with running(site, max_connections=2, max_per_client=2, slow_headers=BOUND) as server:
        first = connect(server)
        assert wait_until(lambda: len(server.connections) == 1)
        with connect(server, source=OTHER_CLIENT) as second:
            assert wait_until(lambda: len(server.connections) == 2)
            with connect(server, source="127.0.0.3") as third:
                assert third.recv(65536).startswith(b"HTTP/1.1 503")
            assert request_on(first).startswith(b"HTTP/1.1 200")
            assert request_on(second).startswith(b"HTTP/1.1 200")
        first.close()


def test_a_client_that_does_not_read_its_response_gives_way(site: Site) -> None:
    """Responses a client never reads (a large file, or many pipelined requests) hold its
    connection until request_timeout; past slow_response it is closed for a new reader."""
    with running(
        site, request_timeout=BOUND, max_connections=2, max_per_client=2, slow_response=0.2
    ) as server:
        hogs = [connect(server, source=f"127.0.0.{n}") for n in (20, 21)]
        for hog in hogs:
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            hog.sendall(f"GET {PREFIX}big.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert wait_until(lambda: len(server.connections) == 2)
        time.sleep(0.5)
        assert get(server, source=OTHER_CLIENT) == 200
        for hog in hogs:
            hog.close()


def test_readers_sending_their_headers_are_not_closed_for_room(site: Site) -> None:
    """Within slow_headers of its first byte a request is a reader's: when every slot holds
    one, a new client is refused (503), not let in at its expense."""
    with running(
        site, header_timeout=BOUND, max_connections=4, max_per_client=4, slow_headers=BOUND
    ) as server:
        drippers = Drippers(server, 4)
        try:
            assert wait_until(lambda: len(server.connections) == 4)
            assert get(server, source=OTHER_CLIENT) == 503
            assert len(drippers.open) == 4
        finally:
            drippers.close()


def test_idle_connections_are_closed(site: Site) -> None:
    with running(site, header_timeout=0.5, idle_timeout=0.5) as server:
        with connect(server) as silent:  # never sends a request
            assert closed_by_server(silent)
        with connect(server) as kept:
            assert request_on(kept).startswith(b"HTTP/1.1 200")
            assert closed_by_server(kept), "kept alive, then silent past idle_timeout"
        with connect(server) as slow:  # a second request on a kept-alive connection, dripped
            assert request_on(slow).startswith(b"HTTP/1.1 200")
            slow.sendall(b"GET " + PAGE.encode() + b" HTTP/1.1\r\n")
            cut = threading.Event()
            dripping = threading.Thread(target=drip, args=(slow, cut), daemon=True)
            dripping.start()
            assert closed_by_server(slow), "headers past header_timeout"
            cut.set()
            dripping.join()


def drip(sock: socket.socket, stop: threading.Event) -> None:
    while not stop.wait(0.1):
        try:
            sock.send(b"x")
        except OSError:
            return


def test_a_response_has_a_deadline_too(site: Site) -> None:
    """A client that asks for a large file and never reads it holds its connection until
    request_timeout, not for as long as it likes."""
    with running(site, request_timeout=1.0) as server:
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.settimeout(BOUND)
        reader.connect(("127.0.0.1", server.server_port))
        with reader:
            reader.sendall(f"GET {PREFIX}big.bin HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            start = reader.recv(64)  # the response has begun: the connection is in the server's hands
            assert start.startswith(b"HTTP/1.1 200")
            assert wait_until(lambda: len(server.connections) == 0), "the response was cut"
            received = len(start)
            try:
                while chunk := reader.recv(1 << 20):
                    received += len(chunk)
            except ConnectionResetError:
                pass
        assert received < 32 * 1024 * 1024
        assert get(server) == 200


def test_a_full_server_closes_its_oldest_idle_connection_for_a_new_client(site: Site) -> None:
    with (
        running(site, max_connections=2, header_timeout=60, idle_timeout=60) as server,
        connect(server) as oldest,
    ):
        assert request_on(oldest).startswith(b"HTTP/1.1 200")  # then kept alive, idle
        assert wait_until(lambda: server.connections.idle_count() == 1)
        newer = connect(server)  # idle since after the other's request
        assert wait_until(lambda: server.connections.idle_count() == 2)
        assert get(server, source=OTHER_CLIENT) == 200, "served, not refused"
        assert closed_by_server(oldest), "the connection idle the longest made room"
        assert request_on(newer).startswith(b"HTTP/1.1 200"), "the other one still works"
        newer.close()


def test_when_every_connection_is_busy_new_ones_get_503(site: Site) -> None:
    with running(site, max_connections=2, header_timeout=60) as server:
        held = [connect(server) for _ in range(2)]
        for sock in held:
            sock.sendall(b"GET " + PAGE.encode() + b" HTTP/1.1\r\n")  # headers not finished
        assert wait_until(lambda: len(server.connections) == 2 and server.connections.idle_count() == 0)
        with connect(server) as third:
            answer = third.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer
        for sock in held:
            sock.close()
        assert wait_until(lambda: len(server.connections) == 0)
        assert get(server) == 200


def test_one_client_address_is_capped_and_others_are_not(site: Site) -> None:
    with running(site, max_per_client=2, max_connections=10, header_timeout=60, slow_headers=0.2) as server:
        other = connect(server, source=OTHER_CLIENT)  # idle, and the oldest of all
        busy = [connect(server) for _ in range(2)]
        for sock in busy:
            sock.sendall(b"GET " + PAGE.encode() + b" HTTP/1.1\r\n")
        assert wait_until(lambda: len(server.connections) == 3 and server.connections.idle_count() == 1)
        with connect(server) as third:
            assert third.recv(65536).startswith(b"HTTP/1.1 429")
        assert get(server, source=OTHER_CLIENT) == 200
        assert request_on(other).startswith(b"HTTP/1.1 200"), "another client's idle connection stays"
        for sock in busy:
            sock.close()
        assert wait_until(lambda: len(server.connections) == 1)
        # Connections of the capped address itself that sent nothing for slow_headers make
        # room for its new one.
        first, second = connect(server), connect(server)
        assert wait_until(lambda: len(server.connections) == 3)
        time.sleep(0.5)
        assert get(server) == 200
        assert closed_by_server(first)
        assert request_on(second).startswith(b"HTTP/1.1 200")
        assert request_on(other).startswith(b"HTTP/1.1 200")
        for sock in (other, first, second):
            sock.close()


def test_limits_default_to_bounded_values() -> None:
    limits = Limits()
    assert 0 < limits.header_timeout <= limits.request_timeout
    assert limits.idle_timeout > 0
    assert 1 < limits.max_per_client < limits.max_connections


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(address: str, client: str) -> None:
    """An IPv6 host picks any address of its /64: the cap counts the block, not each one."""
    assert client_of(address) == client
