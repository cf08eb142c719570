"""A publish of many feeds renders batches in a helper process (publish/offload.py): the
files, the summaries and what is logged are the same as when one process does it all,
and a helper that dies, hangs or cannot start leaves this process to render the rest."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from republisher.config import Config, load_config
from republisher.models import Category, EntryData, SourceMeta, StoredEntry
from republisher.publish import offload, publisher, render
from republisher.routing.rules import RuleSet, load_rules
from republisher.store.store import EntryWrite, Store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TOPICS = [f"topic{n:02d}" for n in range(14)]
SOURCES = ("alpha", "beta", "gamma")


def project(folder: Path, padding: int = 0) -> tuple[Config, RuleSet]:
    """Fourteen feeds (one per topic word) over three sources, with a store that holds
    entries in several feeds each, stories told by several sources (by link or by title), a
    hostile summary, and an entry whose id cannot be published (left out, and logged).
    `padding`: paragraphs added to every summary (big batches, to fill a pipe)."""
    rules_dir = folder / "rules"
    rules_dir.mkdir(parents=True)
    for topic in TOPICS:
        (rules_dir / f"{topic}.toml").write_text(f'title = "About {topic}"\n[match]\nany = ["{topic}"]\n')
    (folder / "config.toml").write_text(
        'base_url = "https://example.org/feeds/"\noutput_dir = "public"\nstate_dir = "state"\n'
        'rules_dir = "rules"\nmax_entries = 8\n'
        + "".join(f'\n[[sources]]\nname = "{s}"\nurl = "https://{s}.example/rss"\n' for s in SOURCES)
    )
    config = load_config(folder / "config.toml")
    rules = load_rules(config.rules_dir, SOURCES)
    writes = []
    for n in range(90):
        source = SOURCES[n % 3]
        topics = tuple(TOPICS[(n * k) % len(TOPICS)] for k in (1, 3, 5))
        when = NOW - timedelta(hours=n // 2)  # pairs of equal dates
        story = n // 6  # every story told by several sources, by link or by title
        link = f"https://news.example/story/{story}" if n % 2 else f"https://{source}.example/{n}"
        data = EntryData(
            guid=f"{source}-{n}",
            title=f"Story number {story} about the matter at hand",
            link=link,
            summary=f"<p>Body {n} <script>alert({n})</script><b>{' '.join(topics)}</b></p>"
            + "<p>x</p>" * padding,
            content=None,
            author=f"Writer {n % 4}",
            categories=(Category(topics[0]),),
            published=when,
        )
        atom_id = "an id that is no IRI" if n == 10 else f"urn:{source}:{n}"
        origin = SourceMeta(
            source.title(), f"https://{source}.example/", f"https://{source}.example/rss", None, when
        )
        entry = StoredEntry(source, f"k{n}", atom_id, when, when, data, origin)
        writes.append(EntryWrite(entry, f"hash{n}", tuple(sorted(set(topics)))))
    with Store.open(config.state_dir) as store, store.transaction():
        assert store.put_entries(writes) == []
        publisher.mark_unpublished(store)
    return config, rules


def copy_of(config: Config, folder: Path) -> Config:
    """The same store in another folder, publishing into another output folder."""
    shutil.copytree(config.state_dir, folder / "state")
    return dataclasses.replace(config, state_dir=folder / "state", output_dir=folder / "public")


def published(config: Config, rules: RuleSet) -> tuple[dict[str, bytes], list[str], dict[str, Any]]:
    with Store.open(config.state_dir) as store:
        written, removed = publisher.publish(store, config, rules, NOW)
        records = store.published_records()
    assert removed == []
    files = {path.name: path.read_bytes() for path in sorted(config.output_dir.iterdir())}
    # What the index pages show of each feed (the rest of a record names the output folder).
    summaries = {slug: json.loads(record)["summary"] for slug, record in records.items()}
    return files, written, summaries


@pytest.fixture
def helped(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[offload.RenderHelper]]:
    """Every publish renders with a helper, in batches of two or three feeds, starting its
    caches afresh every few batches; the helpers started are listed."""
    started: list[offload.RenderHelper] = []
    real_init = offload.RenderHelper.__init__

    def init(self: offload.RenderHelper, *args: Any) -> None:
        real_init(self, *args)
        started.append(self)

    monkeypatch.setattr(offload.RenderHelper, "__init__", init)
    monkeypatch.setattr(offload, "MIN_FEEDS", 1)
    monkeypatch.setattr(render, "cores", lambda: 2)
    monkeypatch.setattr(render, "OFFLOAD_BATCH_ROWS", 60)
    monkeypatch.setattr(render, "CACHED_ENTRIES", 50)
    yield started


def in_one_process(folder: Path, config: Config, rules: RuleSet, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patched:
        patched.setattr(offload, "MIN_FEEDS", 10**9)
        return published(copy_of(config, folder), rules)


def test_a_helper_renders_what_one_process_renders(
    tmp_path: Path,
    helped: list[offload.RenderHelper],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, rules = project(tmp_path / "project")
    with caplog.at_level(logging.WARNING):
        alone = in_one_process(tmp_path / "alone", config, rules, monkeypatch)
    logged_alone = sorted(r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        together = published(copy_of(config, tmp_path / "helped"), rules)
    logged_helped = sorted(r.getMessage() for r in caplog.records)
    assert len(helped) == 1
    assert together[0] == alone[0]  # every file, byte for byte
    assert sorted(together[1]) == sorted(alone[1]) and len(together[0]) == len(TOPICS) * 2 + 2
    assert together[2] == alone[2]  # what the index pages show of each feed, as recorded
    # The entry whose id is no IRI is left out of its feeds, and said, by either process.
    assert any("k10 not published" in message and "IRI" in message for message in logged_alone)
    assert logged_helped == logged_alone
    assert b"<script" not in b"".join(together[0].values())


def test_a_helper_that_dies_leaves_the_rest_to_this_process(
    tmp_path: Path,
    helped: list[offload.RenderHelper],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, rules = project(tmp_path / "project")
    alone = in_one_process(tmp_path / "alone", config, rules, monkeypatch)
    real_send = offload.RenderHelper.send
    sent: list[int] = []

    def send_then_kill(self: offload.RenderHelper, feeds: list[Any]) -> bool:
        taken = real_send(self, feeds)
        sent.append(len(feeds))
        if len(sent) == 2:  # killed with a batch in flight
            os.kill(self.child.pid, signal.SIGKILL)
        return taken

    monkeypatch.setattr(offload.RenderHelper, "send", send_then_kill)
    with caplog.at_level(logging.WARNING):
        survived = published(copy_of(config, tmp_path / "helped"), rules)
    assert survived[0] == alone[0] and survived[2] == alone[2]
    stopped = [r.getMessage() for r in caplog.records if "rendering helper stopped" in r.getMessage()]
    assert stopped == ["rendering helper stopped (it died): this process renders the rest"]
    assert helped[0].child.process.poll() is not None  # reaped, not left behind


def test_a_helper_that_overruns_is_ended_and_its_batches_rendered_here(
    tmp_path: Path,
    helped: list[offload.RenderHelper],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, rules = project(tmp_path / "project")
    alone = in_one_process(tmp_path / "alone", config, rules, monkeypatch)
    monkeypatch.setattr(offload, "BATCH_TIME", 0.0)  # no batch comes back in time
    with caplog.at_level(logging.WARNING):
        survived = published(copy_of(config, tmp_path / "helped"), rules)
    assert survived[0] == alone[0] and survived[2] == alone[2]
    assert any("took longer than" in r.getMessage() for r in caplog.records)
    assert helped[0].child.process.poll() is not None


def test_no_helper_when_none_can_start(
    tmp_path: Path, helped: list[offload.RenderHelper], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, rules = project(tmp_path / "project")
    alone = in_one_process(tmp_path / "alone", config, rules, monkeypatch)

    def cannot_start(*args: Any) -> offload.RenderHelper:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(offload, "RenderHelper", cannot_start)
    assert published(copy_of(config, tmp_path / "helped"), rules)[0] == alone[0]


def test_a_small_publish_or_one_core_renders_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a helper costs about what rendering twenty feeds does: only for many."""
    config, rules = project(tmp_path / "project")
    monkeypatch.setattr(offload, "RenderHelper", None)  # would fail if called
    assert len(rules.rules) < offload.MIN_FEEDS
    published(copy_of(config, tmp_path / "few"), rules)
    monkeypatch.setattr(offload, "MIN_FEEDS", 1)
    monkeypatch.setattr(render, "cores", lambda: 1)
    published(copy_of(config, tmp_path / "one-core"), rules)


def test_a_helper_that_stops_reading_costs_batch_time_not_a_hang(
    tmp_path: Path,
    helped: list[offload.RenderHelper],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopped (SIGSTOP) after the first batch: the next batches' bytes fill the pipe, and
    a send would block for ever. They are sent from a thread of their own; the publish
    waits BATCH_TIME for a result, then renders everything itself and kills the helper."""
    config, rules = project(tmp_path / "project", padding=20_000)  # 160 KB a summary
    alone = in_one_process(tmp_path / "alone", config, rules, monkeypatch)
    monkeypatch.setattr(offload, "BATCH_TIME", 1.0)
    real_send = offload.RenderHelper.send

    def send_then_stop(self: offload.RenderHelper, feeds: list[Any]) -> bool:
        taken = real_send(self, feeds)
        if taken and len(self.sent) == 1 and not getattr(self, "stopped", False):
            os.kill(self.child.pid, signal.SIGSTOP)
            self.stopped = True  # type: ignore[attr-defined]
        return taken

    monkeypatch.setattr(offload.RenderHelper, "send", send_then_stop)
    with caplog.at_level(logging.WARNING):
        survived = published(copy_of(config, tmp_path / "helped"), rules)
    assert survived[0] == alone[0] and survived[2] == alone[2]
    assert any("took longer than 1s" in r.getMessage() for r in caplog.records)
    assert helped[0].child.process.poll() is not None  # killed and reaped, though stopped
    assert not helped[0].sender.is_alive()
