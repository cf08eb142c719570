"""WebSub: every change of a derived feed is published to each hub, with retries, off the poll's path."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from conftest import SAMPLE, Project

from republisher.cli import main
from republisher.config import load_config
from republisher.errors import ConfigError
from republisher.publish import websub
from republisher.publish.websub import deliver_due as deliver_websub
from republisher.store.store import Store


class Hub:
    """A local hub that records every publish ping and answers with `status`."""

    def __init__(self) -> None:
        self.pings: list[dict[str, str]] = []
        self.status = 204
        self.delay = 0.0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                form["content-type"] = self.headers.get("Content-Type", "")
                time.sleep(hub.delay)
                hub.pings.append(form)
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"

    def topics(self) -> list[str]:
        return sorted(p["hub.url"] for p in self.pings)


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def configure(project: Project, hub: Hub) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)}, extra=f'[websub]\nhubs = ["{hub.url}"]')


def test_changed_feeds_are_published_to_the_hub(project: Project, hub: Hub) -> None:
    configure(project, hub)
    assert main(["--config", str(project.config), "poll"]) == 0
    base = "http://feeds.example.org/topics/"
    assert hub.topics() == [f"{base}diplomacy.atom", f"{base}forced-labour.atom", f"{base}surveillance.atom"]
    assert all(p["hub.mode"] == "publish" for p in hub.pings)
    assert all(p["content-type"] == "application/x-www-form-urlencoded" for p in hub.pings)

    hub.pings.clear()
    assert main(["--config", str(project.config), "poll", "--force"]) == 0
    assert hub.pings == [], "nothing changed, nothing published"

    (project.rules / "surveillance.toml").unlink()
    (project.rules / "olympics.toml").write_text('title = "O"\n[match]\nany = ["olympic*"]\n')
    assert main(["--config", str(project.config), "poll"]) == 0
    assert hub.topics() == [f"{base}olympics.atom"]


def test_a_failing_hub_is_retried_with_back_off_and_never_fails_the_poll(project: Project, hub: Hub) -> None:
    configure(project, hub)
    hub.status = 500
    assert main(["--config", str(project.config), "poll"]) == 0
    assert len(hub.pings) == 3
    config = load_config(project.config)
    store = Store.open(config.state_dir)
    try:
        now = datetime.now(UTC)
        assert store.due_pings(now) == [], "not retried at once"
        later = store.due_pings(now + timedelta(seconds=websub.FIRST_RETRY + 5))
        assert [ping.attempts for ping in later] == [1, 1, 1]
    finally:
        store.close()
    hub.status = 202
    outcomes = deliver_websub(config, datetime.now(UTC) + timedelta(minutes=5))
    assert [o.ok for o in outcomes] == [True, True, True]
    assert len(hub.pings) == 6
    assert deliver_websub(config, datetime.now(UTC) + timedelta(days=1)) == []


def test_pings_are_given_up_after_the_last_attempt(tmp_path: Path) -> None:
    assert websub.retry_at(datetime(2026, 1, 1, tzinfo=UTC), websub.MAX_ATTEMPTS) is None
    delays = [
        (
            websub.retry_at(datetime(2026, 1, 1, tzinfo=UTC), n) - datetime(2026, 1, 1, tzinfo=UTC)
        ).total_seconds()  # type: ignore[operator]
        for n in range(1, websub.MAX_ATTEMPTS)
    ]
    assert delays == sorted(delays) and delays[0] == websub.FIRST_RETRY and delays[-1] <= websub.LONGEST_RETRY


def test_an_unreachable_hub_does_not_hold_up_the_poll(project: Project) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)}, extra='[websub]\nhubs = ["http://127.0.0.1:9/"]')
    started = time.monotonic()
    assert main(["--config", str(project.config), "poll"]) == 0
    assert time.monotonic() - started < 60
    assert (project.public / "diplomacy.atom").exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[websub]\nhubs = ["ftp://hub.example/"]', "websub.hubs[0]: must be an absolute http(s) URL"),
        ('[websub]\nhubs = "https://hub.example/"', "websub.hubs: expected a list of hub URLs"),
        ('[websub]\nhub = ["https://hub.example/"]', "websub.hub: unknown key"),
    ],
    ids=["bad scheme", "not a list", "misspelt key"],
)
def test_websub_config_errors(project: Project, extra: str, expected: str) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)}, extra=extra)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(project.config)
