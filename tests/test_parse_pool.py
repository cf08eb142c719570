"""republisher.sources.workers: parsing has its own time limit, not the fetch timeout."""

from __future__ import annotations

from pathlib import Path

from republisher.routing.rules import load_rules
from republisher.sources.workers import MIN_PARSE_TIME, ParsePool, parse_time_limit

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "guardian-uighurs.xml"
RULES = Path(__file__).parent / "data" / "rules"


def test_parse_time_limit_is_at_least_the_minimum() -> None:
    assert parse_time_limit(2) == MIN_PARSE_TIME
    assert parse_time_limit(MIN_PARSE_TIME * 3) == MIN_PARSE_TIME * 3


def test_a_short_fetch_timeout_does_not_fail_a_valid_feed() -> None:
    """With the fetch timeout as parse limit, even starting the worker took too long."""
    pool = ParsePool(1, timeout=0.001)
    try:
        prepared = pool.prepare(
            SAMPLE.read_bytes(), "https://www.theguardian.com/world/uighurs/rss", None, "g", load_rules(RULES)
        )
    finally:
        pool.close()
    assert len(prepared.entries) == 20 and prepared.dropped == ()
