"""`republisher run` as systemd runs it: notify socket, ticks, SIGHUP reloads, SIGTERM stops."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SAMPLE, FeedServer, Project, Response

WAIT = 30.0  # generous upper bound for anything the daemon should do "soon"


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except TimeoutError:
            pass
        return self.messages

    def wait_for(self, message: str, after: int = 0) -> int:
        """Index of the first `message` received at or after index `after`."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for i, received in enumerate(self.drain()[after:], start=after):
                if received == message:
                    return i
        raise AssertionError(f"{message!r} not received; got {self.messages[after:]}")


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {what}")


@pytest.fixture
def daemon(
    project: Project, feed_server: FeedServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], NotifySocket]]:
    feed_server.routes["/feed"] = Response(200, SAMPLE.read_bytes())
    project.config.write_text(
        'base_url = "http://feeds.example.org/"\n[poll]\ninterval = "1s"\ntimeout = "5s"\n'
        f'[[sources]]\nname = "guardian-uighurs"\nurl = "{feed_server.url("/feed")}"\n'
    )
    notify = NotifySocket(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1000000", JOURNAL_STREAM="8:1")
    env.pop("WATCHDOG_PID", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "run"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, notify
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        notify.sock.close()


def test_daemon_lifecycle(
    daemon: tuple[subprocess.Popen[str], NotifySocket], project: Project, feed_server: FeedServer
) -> None:
    process, notify = daemon
    ready = notify.wait_for("READY=1")
    notify.wait_for("WATCHDOG=1", after=ready)

    # It polls on its own, again and again (1 s interval).
    eventually(lambda: len(feed_server.requests_to("/feed")) >= 3, "three polls")
    eventually(lambda: (project.public / "diplomacy.atom").exists(), "feeds written")

    # A new rule, then SIGHUP: takes effect without a restart.
    (project.rules / "olympics.toml").write_text('title = "Olympics"\n[match]\nany = ["olympic*"]\n')
    mark = len(notify.drain())
    process.send_signal(signal.SIGHUP)
    reloading = notify.wait_for("RELOADING=1", after=mark)
    notify.wait_for("READY=1", after=reloading)
    eventually(lambda: (project.public / "olympics.atom").exists(), "the new rule's feed")

    # A broken rule, then SIGHUP: refused, the daemon keeps running with the previous rules.
    (project.rules / "broken.toml").write_text('title = "Broken"\n[match]\nany = ["/(unclosed/"]\n')
    (project.rules / "olympics.toml").unlink()
    mark = len(notify.drain())
    process.send_signal(signal.SIGHUP)
    notify.wait_for("READY=1", after=mark)
    requests_before = len(feed_server.requests_to("/feed"))
    eventually(lambda: len(feed_server.requests_to("/feed")) > requests_before + 1, "polling goes on")
    assert process.poll() is None
    assert (project.public / "olympics.atom").exists(), "old rules still in force"
    assert not (project.public / "broken.atom").exists()

    # SIGTERM: clean stop, exit 0, within a few seconds.
    mark = len(notify.drain())
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=WAIT) == 0
    assert time.monotonic() - started < 10
    notify.wait_for("STOPPING=1", after=mark)
    assert process.stderr is not None
    log = process.stderr.read()
    assert "reload refused" in log and "broken.toml: match.any[0]: bad regex" in log
    assert "Traceback" not in log
    first = log.splitlines()[0]
    assert first.startswith("INFO "), "no timestamps under journald: it adds its own"


def test_run_refuses_to_start_with_a_failing_example(project: Project) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    (project.rules / "cats.toml").write_text(
        'title = "Cats"\n[match]\nany = ["cat"]\n[[examples]]\ntitle = "Dogs"\nrouted = true\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cats.toml: example 'Dogs' is not routed" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _get(url: str) -> tuple[int, str, bytes]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def test_run_serves_the_output_when_enabled(project: Project, tmp_path: Path) -> None:
    port = _free_port()
    project.config.write_text(
        f'base_url = "http://127.0.0.1:{port}/feeds/"\n[poll]\ninterval = "1h"\n'
        f'[serve]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
        f'[[sources]]\nname = "guardian-uighurs"\nurl = "{SAMPLE}"\n'
    )
    notify = NotifySocket(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path))
    process = subprocess.Popen(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "run"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        notify.wait_for("READY=1")
        eventually(lambda: (project.public / "diplomacy.atom").exists(), "feeds written")
        status, kind, body = _get(f"http://127.0.0.1:{port}/feeds/diplomacy.atom")
        assert status == 200 and kind == "application/atom+xml; charset=utf-8"
        assert body == (project.public / "diplomacy.atom").read_bytes()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
        notify.sock.close()


def _can_bind(host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, 0))
        except OSError:
            return False
    return True


def _serving(port: int) -> bool:
    """Whether something answers HTTP at 127.0.0.1:port (False: connection refused)."""
    import urllib.error

    try:
        return _get(f"http://127.0.0.1:{port}/feeds/diplomacy.atom")[0] == 200
    except urllib.error.URLError as e:
        if isinstance(e.reason, ConnectionRefusedError):
            return False
        raise


def test_a_reload_moves_stops_and_starts_the_server(project: Project, tmp_path: Path) -> None:
    """[serve] takes effect on reload like every other setting: a new port, off, on again;
    a port that cannot be had leaves the server where it was."""
    first, second = _free_port(), _free_port()

    def configure(serve: str, output: str = "public") -> None:
        project.config.write_text(
            f'base_url = "http://127.0.0.1/feeds/"\noutput_dir = "{output}"\n[poll]\ninterval = "1h"\n'
            f'[serve]\n{serve}\n[[sources]]\nname = "guardian-uighurs"\nurl = "{SAMPLE}"\n'
        )

    def reload() -> None:
        after = len(notify.drain())
        process.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", notify.wait_for("RELOADING=1", after))

    configure(f'enabled = true\nhost = "127.0.0.1"\nport = {first}')
    notify = NotifySocket(tmp_path / "notify.sock")
    process = subprocess.Popen(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "run"],
        env=dict(os.environ, NOTIFY_SOCKET=str(notify.path)),
        stderr=subprocess.DEVNULL,
    )
    taken = socket.socket()
    try:
        notify.wait_for("READY=1")
        eventually(lambda: (project.public / "diplomacy.atom").exists(), "feeds written")
        assert _serving(first)
        configure(f'enabled = true\nhost = "127.0.0.1"\nport = {second}')
        reload()
        assert _serving(second) and not _serving(first)
        kept_alive = http.client.HTTPConnection("127.0.0.1", second, timeout=10)
        kept_alive.request("GET", "/feeds/diplomacy.atom")
        assert kept_alive.getresponse().read()
        configure(f'enabled = false\nhost = "127.0.0.1"\nport = {second}')
        reload()
        assert not _serving(second)
        with pytest.raises((ConnectionError, http.client.HTTPException)):  # closed, not served on
            kept_alive.request("GET", "/feeds/diplomacy.atom")
            kept_alive.getresponse().read()
        kept_alive.close()
        configure(f'enabled = true\nhost = "127.0.0.1"\nport = {first}')
        reload()
        assert _serving(first)
        if not _can_bind("192.0.2.1"):  # an address of no interface here (TEST-NET-1)
            # The same port on a host it cannot have: back at the old address, serving the
            # new output folder.
            (project.root / "public2").mkdir()
            (project.root / "public2" / "marker.txt").write_text("the new output")
            configure(f'enabled = true\nhost = "192.0.2.1"\nport = {first}', output="public2")
            reload()
            assert _get(f"http://127.0.0.1:{first}/feeds/marker.txt")[2] == b"the new output"
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        configure(f'enabled = true\nhost = "127.0.0.1"\nport = {taken.getsockname()[1]}')
        reload()
        assert _serving(first)  # the port is someone else's: still serving where it was
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 0
    finally:
        taken.close()
        if process.poll() is None:
            process.kill()
        notify.sock.close()


def test_serve_command_stops_cleanly(project: Project) -> None:
    port = _free_port()
    project.write_config({"guardian-uighurs": str(SAMPLE)}, extra=f"[serve]\nport = {port}")
    subprocess.run(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "poll"],
        check=True,
        timeout=120,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "serve"],
        stderr=subprocess.PIPE,
    )
    try:

        def answers() -> bool:
            try:
                return _get(f"http://127.0.0.1:{port}/topics/")[0] == 200
            except OSError:
                return False

        eventually(answers, "serve answers /")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
