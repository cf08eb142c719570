"""Golden files for what is published: the bundled sample, polled with the tests' rules and
a fixed clock, must give exactly these bytes (Atom, JSON Feed, the pages, OPML). Output is
declared byte-deterministic, so any change here is a change users' readers will see:
review the diff, then regenerate with REPUBLISHER_UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SAMPLE, TEST_RULES

from republisher.config import load_config
from republisher.poll.cycle import poll_once
from republisher.routing.rules import load_rules

GOLDEN = Path(__file__).parent / "data" / "golden"
UPDATE = os.environ.get("REPUBLISHER_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden")
    shutil.copytree(TEST_RULES, root / "rules")
    shutil.copy(SAMPLE, root / "sample.xml")
    (root / "config.toml").write_text(
        'base_url = "https://feeds.example.org/topics/"\nformats = ["atom", "json"]\n'
        '[[sources]]\nname = "guardian-uighurs"\nurl = "sample.xml"\n',
        encoding="utf-8",
    )
    config = load_config(root / "config.toml")
    report = poll_once(config, load_rules(config.rules_dir), NOW, mapper=map)
    assert not report.failed
    return config.output_dir


NAMES = [
    f"{slug}{suffix}"
    for slug in ("diplomacy", "forced-labour", "surveillance")
    for suffix in (".atom", ".json", ".html")
] + ["index.html", "index.opml"]


@pytest.mark.parametrize("name", NAMES)
def test_published_bytes_are_the_golden_ones(published: Path, name: str) -> None:
    actual = (published / name).read_bytes()
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / name).write_bytes(actual)
    assert actual == (GOLDEN / name).read_bytes(), f"{name} differs from tests/data/golden/{name}"


def test_nothing_else_is_published(published: Path) -> None:
    assert sorted(p.name for p in published.iterdir()) == sorted(NAMES)
