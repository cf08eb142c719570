"""Inputs found by attacking the product: each one bounded, refused with a clear message,
or kept from harming anything else."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import Project

from republisher.cli import main
from republisher.config import load_config
from republisher.errors import ConfigError
from republisher.markup import MAX_HTML, sanitize
from republisher.poll.status import mask_password
from republisher.routing.rules import load_rules
from republisher.sources.jsonfeed import parse_json_feed


@pytest.mark.parametrize("depth", [300, 30_000])
def test_deeply_nested_markup_keeps_its_text_and_costs_linear_time(depth: int) -> None:
    fragment = (
        "<div>" * depth + "words <script>alert(1)</script><img src=x onerror=alert(1)>" + "</div>" * depth
    )
    started = time.process_time()
    cleaned = sanitize(fragment, "https://example.org/")
    assert "words" in cleaned and "<" not in cleaned and "alert" not in cleaned
    # Not a timing test of speed, a guard against the quadratic path: 30,000 levels took
    # seconds through the sanitizer; text extraction takes milliseconds.
    assert time.process_time() - started < 20


def test_ordinary_nesting_is_sanitized_as_html() -> None:
    fragment = "<div>" * 50 + '<p>ok <a href="/x">link</a></p>' + "</div>" * 50
    assert '<a href="https://example.org/x"' in sanitize(fragment, "https://example.org/")


def test_a_huge_fragment_is_cut() -> None:
    assert len(sanitize("<p>" + "x" * (3 * MAX_HTML) + "</p>")) <= MAX_HTML + 10


def test_term_lists_that_multiply_are_refused_at_load(tmp_path: Path) -> None:
    lists = "".join(f"bomb{i} = [{', '.join([json.dumps(f'@bomb{i + 1}')] * 10)}]\n" for i in range(1, 6))
    (tmp_path / "_terms.toml").write_text(f'[terms]\n{lists}bomb6 = ["zzz qqq"]\n')
    (tmp_path / "bomb.toml").write_text('title = "B"\n[match]\nany = ["@bomb1"]\n')
    started = time.process_time()
    with pytest.raises(ConfigError, match=r"terms.bomb1: expands to 100,000 terms"):
        load_rules(tmp_path)
    assert time.process_time() - started < 20


def test_a_feed_named_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.toml").write_text('title = "I"\n[match]\nany = ["x"]\n')
    with pytest.raises(ConfigError, match=r"index.toml: \(file name\): 'index' is taken"):
        load_rules(tmp_path)


def test_toml_nested_too_deeply_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "deep.toml").write_text(
        'title = "D"\n[match]\nany = [' + "{ any = [" * 400 + '"x"' + "] }" * 400 + "]\n"
    )
    with pytest.raises(ConfigError, match=r"deep.toml: TOML nested too deeply"):
        load_rules(tmp_path)


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("max_entries = 9223372036854775807", "max_entries: must be at most"),
        ('[poll]\ninterval = "99999999999999d"', "poll.interval: bad duration"),
        ("[poll]\nmax_bytes = 99999999999999999999", "poll.max_bytes"),
        ('[poll]\ntimeout = "99999999d"', "poll.timeout: bad duration"),
        ("[poll]\nworkers = 100000", "poll.workers: must be at most 256"),
    ],
)
def test_numbers_past_what_the_program_can_use_are_config_errors(
    tmp_path: Path, setting: str, key: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'{setting}\n[[sources]]\nname = "a"\nurl = "a.xml"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert any(key in problem for problem in raised.value.problems), raised.value.problems


def test_one_invalid_byte_in_a_json_feed_loses_that_byte_not_the_feed() -> None:
    body = (
        b'{"version":"https://jsonfeed.org/version/1.1","title":"t","items":['
        b'{"id":"g1","title":"good","url":"https://example.com/g1"},'
        b'{"id":"b1","title":"bad \xff byte","url":"https://example.com/b1"}]}'
    )
    feed = parse_json_feed(body, "https://example.com/feed.json")
    assert [e.title for e in feed.entries] == ["good", "bad  byte"]


def test_status_masks_tokens_in_queries_too() -> None:
    assert mask_password("http://admin:pw@h.example/rss?token=SECRET") == "http://admin:***@h.example/rss?***"
    assert mask_password("https://h.example/rss") == "https://h.example/rss"


def test_a_term_list_bomb_in_the_shipped_layout_fails_check_quickly(project: Project) -> None:
    project.write_config({"a": str(project.root / "a.xml")})
    terms = project.rules / "_terms.toml"
    lists = "".join(f"bomb{i} = [{', '.join([json.dumps(f'@bomb{i + 1}')] * 10)}]\n" for i in range(1, 8))
    terms.write_text(terms.read_text().replace("[terms]\n", f'[terms]\n{lists}bomb8 = ["zzz qqq"]\n', 1))
    (project.rules / "bomb.toml").write_text('title = "B"\n[match]\nany = ["@bomb1"]\n')
    assert main(["--config", str(project.config), "check"]) == 2


@pytest.mark.parametrize("junk", ["<a " * 80_000, '<a x="' * 50_000, "<div/>x" * 40_000])
def test_an_item_of_junk_markup_never_sinks_its_neighbours(project: Project, junk: str) -> None:
    """Unclosed tags made HTMLParser, the depth count and the sanitizer quadratic: one such
    item ran the parse past its time limit, and the whole source failed on every poll."""
    escaped = junk.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    feed = project.root / "feed.xml"
    feed.write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>S</title><id>urn:uuid:8c1f4b3e-3f5a-4a63-9e0f-0a1b2c3d4e5f</id><updated>2021-02-01T00:00:00Z</updated>"
        "<entry><title>Neighbour on forced labour</title><id>https://s.example/1</id>"
        "<link href='https://s.example/1'/><updated>2021-02-01T00:00:00Z</updated></entry>"
        f"<entry><title type='html'>{escaped}</title><id>https://s.example/2</id>"
        f"<updated>2021-02-01T00:00:00Z</updated><summary type='html'>{escaped}</summary></entry>"
        "</feed>",
        encoding="utf-8",
    )
    project.write_config({"s": str(feed)})
    assert main(["--config", str(project.config), "poll"]) == 0
    assert b"Neighbour on forced labour" in (project.public / "forced-labour.atom").read_bytes()
