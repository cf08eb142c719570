"""A publish of many feeds is shared with a forked helper process: the same files, the same
records, and nothing lost when either process fails."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Project

from republisher import processes
from republisher.cli import main
from republisher.config import load_config
from republisher.publish import publisher, render
from republisher.routing.rules import load_rules
from republisher.store.store import Store

TOPICS = [f"topic{n}" for n in range(12)]  # feeds: more than publisher.SPLIT_AT
ITEM = """<item><title>{title}</title><link>https://news.example/{n}</link><guid>n{n}</guid>
<description>&lt;p&gt;{title}, in &lt;b&gt;more&lt;/b&gt; words.&lt;/p&gt;</description>
<pubDate>Mon, {day:02d} Feb 2021 10:00:00 GMT</pubDate></item>"""


def write_project(project: Project) -> None:
    """Twelve feeds, each taking the items that name its topic; most items name three."""
    for old in project.rules.glob("*.toml"):
        old.unlink()
    for topic in TOPICS:
        (project.rules / f"{topic}.toml").write_text(
            f'title = "{topic.title()}"\n[match]\nany = ["{topic}"]\n', encoding="utf-8"
        )
    items = "".join(
        ITEM.format(
            n=n,
            day=n % 28 + 1,
            title=f"Story {n} about " + " and ".join(TOPICS[(n + k * 5) % len(TOPICS)] for k in range(3)),
        )
        for n in range(60)
    )
    source = project.root / "source.xml"
    source.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>News</title>'
        f"<link>https://news.example/</link><description>d</description>{items}</channel></rss>",
        encoding="utf-8",
    )
    project.write_config({"news": str(source)})


def published(project: Project) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(project.public.iterdir()) if path.is_file()}


def records(project: Project) -> dict[str, str]:
    with Store.open(load_config(project.config).state_dir) as store:
        return store.published_records()


@pytest.fixture
def renderers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A file where every process that renders a feed writes "pid slug" (a forked helper's
    memory is its own: only a file tells the test what it did)."""
    log_file = tmp_path / "renderers.log"
    real = render.render_feed_files

    def spy(feed: render.FeedContent, *args: object, **kwargs: object) -> object:
        with log_file.open("a", encoding="utf-8") as out:
            out.write(f"{os.getpid()} {feed.rule.slug}\n")
        return real(feed, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "render_feed_files", spy)
    return log_file


def rendered_by(log_file: Path) -> dict[str, list[int]]:
    """slug -> the processes that rendered it."""
    by_slug: dict[str, list[int]] = {}
    for line in log_file.read_text(encoding="utf-8").splitlines():
        pid, slug = line.split()
        by_slug.setdefault(slug, []).append(int(pid))
    return by_slug


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cores, and a fork allowed: the test process runs threads of its own (pytest-xdist's),
    which a poll run from the command line does not."""
    monkeypatch.setattr(publisher, "cores", lambda: 2)
    monkeypatch.setattr(publisher, "fork_is_safe", lambda: hasattr(os, "fork"))


def one_process_output(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every feed rendered again, in this process only: the files and records it gives."""
    with monkeypatch.context() as m:
        m.setattr(publisher, "SPLIT_AT", 10**9)
        for path in project.public.iterdir():
            path.unlink()
        assert main(["--config", str(project.config), "poll"]) == 0
    return published(project), records(project)


@pytest.mark.usefixtures("forking")
def test_two_processes_publish_exactly_what_one_does(
    project: Project, renderers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(project)
    assert main(["--config", str(project.config), "poll"]) == 0
    by_slug = rendered_by(renderers)
    assert sorted(by_slug) == sorted(TOPICS)
    assert all(len(pids) == 1 for pids in by_slug.values())  # each feed rendered once
    pids = {pids[0] for pids in by_slug.values()}
    assert os.getpid() in pids and len(pids) == 2  # this process and one helper
    split_files, split_records = published(project), records(project)
    assert {f"{topic}.atom" for topic in TOPICS} <= set(split_files)
    assert all(b"<entry>" in split_files[f"{topic}.atom"] for topic in TOPICS)
    assert one_process_output(project, monkeypatch) == (split_files, split_records)


@pytest.mark.usefixtures("forking")
@pytest.mark.parametrize("failure", ["raises", "killed", "garbled"])
def test_a_helper_that_fails_leaves_its_feeds_to_the_parent(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    write_project(project)

    def broken_helper(*args: object) -> str:
        if failure == "raises":
            raise RuntimeError("disk on fire")
        if failure == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        return "not json"

    monkeypatch.setattr(publisher, "_render_in_helper", broken_helper)
    with caplog.at_level(logging.WARNING):
        assert main(["--config", str(project.config), "poll"]) == 0
    reason = {"raises": "RuntimeError: disk on fire", "killed": "status -9", "garbled": "unreadable answer"}
    assert "rendering feeds in a second process failed (" in caplog.text
    assert reason[failure] in caplog.text
    files = published(project)
    assert {f"{topic}.atom" for topic in TOPICS} <= set(files)
    monkeypatch.undo()
    assert one_process_output(project, monkeypatch) == (files, records(project))


@pytest.mark.usefixtures("forking")
def test_the_parent_failing_ends_the_helper_and_publishes_nothing_as_done(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(project)
    config = load_config(project.config)
    rules = load_rules(config.rules_dir)
    parent = os.getpid()
    real = publisher._render_here

    def parent_fails(*args: object) -> object:
        if os.getpid() == parent:
            raise RuntimeError("parent failed")
        time.sleep(60)  # the helper: would hold the test for a minute if not killed
        return real(*args)  # type: ignore[arg-type]

    assert main(["--config", str(project.config), "poll"]) == 0
    for path in project.public.iterdir():
        path.unlink()  # every feed to render again
    monkeypatch.setattr(publisher, "_render_here", parent_fails)
    started = time.monotonic()
    with Store.open(config.state_dir) as store, pytest.raises(RuntimeError, match="parent failed"):
        publisher.publish(store, config, rules, datetime.now(UTC))
    assert time.monotonic() - started < 30  # the helper was killed, not waited for
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # and reaped: no child left behind
    with Store.open(config.state_dir) as store:
        assert publisher.publish_due(store, config, rules)  # nothing recorded as published


def test_no_helper_while_another_thread_runs(
    project: Project, renderers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(project)
    monkeypatch.setattr(publisher, "cores", lambda: 2)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not processes.fork_is_safe()
        assert main(["--config", str(project.config), "poll"]) == 0
    finally:
        release.set()
        other.join()
    assert {pid for pids in rendered_by(renderers).values() for pid in pids} == {os.getpid()}


@pytest.mark.usefixtures("forking")
def test_few_feeds_or_one_core_render_here(
    project: Project, renderers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(project)
    monkeypatch.setattr(publisher, "cores", lambda: 1)
    assert main(["--config", str(project.config), "poll"]) == 0
    for rule in project.rules.glob("*.toml"):
        if rule.stem not in TOPICS[: publisher.SPLIT_AT - 1]:
            rule.unlink()
    monkeypatch.setattr(publisher, "cores", lambda: 2)
    for path in project.public.iterdir():
        path.unlink()
    assert main(["--config", str(project.config), "poll"]) == 0
    assert {pid for pids in rendered_by(renderers).values() for pid in pids} == {os.getpid()}


# --- the helper process itself ----------------------------------------------------------


def test_a_forked_helper_answers_with_what_its_work_returns() -> None:
    assert processes.Forked(lambda: f"from {os.getpid()}").result() != f"from {os.getpid()}"
    assert processes.Forked(lambda: "é" * 100_000).result() == "é" * 100_000  # beyond a pipe's buffer


@pytest.mark.parametrize(
    ("work", "message"),
    [
        (lambda: (_ for _ in ()).throw(ValueError("bad")), "ValueError: bad"),
        (lambda: os._exit(3), "ended with status 3"),
        (lambda: os.kill(os.getpid(), signal.SIGKILL), "ended with status -9"),
    ],
)
def test_a_helper_that_fails_says_how(work: object, message: str) -> None:
    with pytest.raises(processes.HelperFailed, match=message):
        processes.Forked(work).result()  # type: ignore[arg-type]


def test_killing_a_helper_reaps_it() -> None:
    helper = processes.Forked(lambda: str(time.sleep(60)))
    helper.kill()
    helper.kill()  # twice is harmless
    with pytest.raises(ChildProcessError):
        os.waitpid(helper.pid, os.WNOHANG)


def test_a_closed_store_has_no_connection_and_reopens_as_it_was(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store, store.small_cache():
        store.set_meta("k", "v")
        size = store.db.execute("PRAGMA cache_size").fetchone()[0]
        with store.closed(), pytest.raises(Exception, match="closed"):
            store.db.execute("SELECT 1")
        assert store.get_meta("k") == "v"
        assert store.db.execute("PRAGMA cache_size").fetchone()[0] == size
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
