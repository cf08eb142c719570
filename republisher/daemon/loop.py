"""The `run` daemon: APScheduler drives one periodic tick; systemd is told what we do.

The scheduler stays dumb: each tick runs the same `poll_once` as the `poll` command,
and the store decides which sources are due. The only module that imports APScheduler.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from republisher.config import Config
from republisher.daemon import http as serve
from republisher.daemon.systemd import notify, watchdog_interval
from republisher.errors import ConfigError, RepublisherError
from republisher.poll import cycle
from republisher.publish import websub
from republisher.routing.check import load_checked
from republisher.routing.rules import RuleSet
from republisher.sources.workers import ParsePool

log = logging.getLogger("republisher")

MIN_TICK = 1.0
MAX_TICK = 60.0
STOP_GRACE = 5.0  # seconds a running tick may take to finish after SIGTERM


def tick_seconds(config: Config) -> float:
    """How often to ask the store what is due: often enough for the shortest interval."""
    shortest = min((s.interval for s in config.sources), default=MAX_TICK)
    return max(MIN_TICK, min(MAX_TICK, shortest / 2))


def _address(config: Config) -> tuple[str, int] | None:
    """Where [serve] says to serve, or None when it is off."""
    return (config.serve.host, config.serve.port) if config.serve.enabled else None


class Daemon:
    """Holds the running config and rules; ticks, reloads on SIGHUP, stops on SIGTERM."""

    def __init__(self, path: Path, config: Config, rules: RuleSet) -> None:
        self.path = path
        self.current = (config, rules)  # swapped as one object so a tick never sees a mix
        self.pool = ParsePool(cycle.cores(), config.poll.timeout)
        self.ticking = threading.Lock()
        self.wake = threading.Event()
        self.stop_requested = False
        self.reload_requested = False
        self.server: serve.Server | None = serve.make_server(config) if config.serve.enabled else None
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )

    def tick(self) -> None:
        """One poll cycle of whatever is due; never raises."""
        if not self.ticking.acquire(blocking=False):
            return  # the previous tick is still running: overlapping ticks never run
        try:
            config, rules = self.current
            parser = functools.partial(self.pool.prepare, rules=rules)
            report = cycle.poll_once(config, rules, datetime.now(UTC).replace(microsecond=0), parser=parser)
            for outcome in report.outcomes:
                level = logging.INFO if outcome.ok else logging.WARNING
                log.log(level, "%s: %s", outcome.name, outcome.message)
            for name in report.written:
                log.info("wrote %s", name)
            for name in report.removed:
                log.info("removed %s", name)
        except RepublisherError as e:
            log.error("poll failed: %s", e)
        except Exception:
            log.exception("poll failed unexpectedly")
        finally:
            self.ticking.release()

    def ping_hubs(self) -> None:
        """Deliver the WebSub pings that are due; never raises."""
        try:
            for ping in websub.deliver_due(self.current[0], datetime.now(UTC)):
                level = logging.INFO if ping.ok else logging.WARNING
                log.log(level, "websub: %s about %s: %s", ping.hub, ping.topic, ping.detail)
        except Exception:
            log.exception("websub delivery failed unexpectedly")

    def reload(self) -> None:
        """Swap in the config and rules on disk if they pass `check`; else keep the running ones."""
        notify("RELOADING=1")
        try:
            config, rules = load_checked(self.path)
        except ConfigError as e:
            for problem in e.problems:
                log.error("reload refused: %s", problem)
            log.error("reload refused: still running the previous config and rules")
        else:
            previous = self.current[0]
            self.current = (config, rules)
            self.pool.timeout = config.poll.timeout
            self._serve_as(config, previous)
            self.scheduler.reschedule_job("tick", trigger="interval", seconds=tick_seconds(config))
            self.scheduler.modify_job("tick", next_run_time=datetime.now(UTC))
            log.info("reloaded %s: %d sources, %d feeds", self.path, len(config.sources), len(rules.rules))
        notify("READY=1")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested = True
        else:
            self.stop_requested = True
        self.wake.set()

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code."""
        for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        config, rules = self.current
        self.scheduler.add_job(
            self.tick, "interval", id="tick", seconds=tick_seconds(config), next_run_time=datetime.now(UTC)
        )
        if self.server is not None:
            self._start_serving(self.server, config)
        # Pings go out from their own job, so a slow hub never holds up a poll.
        self.scheduler.add_job(self.ping_hubs, "interval", id="websub", seconds=15)
        self.scheduler.start()
        log.info("running: %d sources, %d feeds", len(config.sources), len(rules.rules))
        notify("READY=1")
        ping = watchdog_interval()
        if ping is not None:
            notify("WATCHDOG=1")
        while not self.stop_requested:
            self.wake.wait(ping)
            self.wake.clear()
            if self.reload_requested:
                self.reload_requested = False
                self.reload()
            if ping is not None:
                notify("WATCHDOG=1")
        return self._stop()

    def _serve_as(self, config: Config, previous: Config) -> None:
        """[serve] as a reloaded config says: the running server serves the new output, or
        is started, stopped or moved to the new host and port. A new address that cannot be
        bound is logged, and the server goes on at the old one."""
        old, wanted, before = self.server, _address(config), _address(previous)
        if old is not None and wanted == before:
            old.update(config)
            return
        new = None
        if wanted is not None:
            try:
                new = serve.make_server(config)
            except RepublisherError as e:
                if old is None or before is None or wanted[1] != before[1]:
                    log.error(
                        "reload: %s; %s", e, "still serving at the old address" if old else "not serving"
                    )
                    if old is not None:
                        old.update(config)
                    return
                # The same port on another host: the old socket holds it until it closes.
                self._stop_serving(old)
                old = None
                new = self._bind_or_restore(config, previous)
        if old is not None:
            self._stop_serving(old)
        self.server = new
        if new is not None:
            new.update(config)  # at the old address again, it still serves the new output
            self._start_serving(new, config)
        elif old is not None or before is not None:
            log.info("no longer serving")

    @staticmethod
    def _bind_or_restore(config: Config, previous: Config) -> serve.Server | None:
        """A server at the new address, else at the old one again, else none (logged)."""
        for attempt, fallback in ((config, "serving at the old address"), (previous, "not serving")):
            try:
                return serve.make_server(attempt)
            except RepublisherError as e:
                log.error("reload: %s; %s", e, fallback)
        return None

    @staticmethod
    def _start_serving(server: serve.Server, config: Config) -> None:
        threading.Thread(target=server.serve_forever, name="serve", daemon=True).start()
        host, port = server.server_address[:2]
        log.info("serving %s at http://%s:%s%s", config.output_dir, host, port, server.site.prefix)

    @staticmethod
    def _stop_serving(server: serve.Server) -> None:
        server.shutdown()
        server.server_close()
        server.connections.close_all()  # kept-alive clients too, not just new ones

    def _stop(self) -> int:
        notify("STOPPING=1")
        log.info("stopping")
        self.scheduler.shutdown(wait=False)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        finished = self.ticking.acquire(timeout=STOP_GRACE)
        self.pool.close()
        if not finished:
            # A fetch is still blocked; every completed source is committed and the next
            # start finishes the rest, so leave without waiting for its thread.
            log.info("stopped with a poll in progress")
            logging.shutdown()
            os._exit(0)
        log.info("stopped")
        return 0


def run(path: Path) -> int:
    """`republisher run`: check config and rules, then serve until told to stop."""
    config, rules = load_checked(path)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    return Daemon(path, config, rules).run()
