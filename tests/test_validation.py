"""The shared reader of config and rule files: key lines, suggestions, types."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from republisher.validation import TableReader, key_lines, toml_type

TOML = '''title = "T"          # line 1
"quoted key" = 1
dotted.key = 2
summary = """
not = "a key"
"""

[match]
any = [
  "x",
]

[[sources]]
name = "a"

[[sources]]
name = "b"
[ poll ]  # a comment
interval = "5m"
'''


def test_key_lines() -> None:
    tomllib.loads(TOML)  # the sample is valid TOML
    assert key_lines(TOML) == {
        "title": 1,
        "quoted key": 2,
        "dotted.key": 3,
        "summary": 4,
        "match": 8,
        "match.any": 9,
        "sources[0]": 13,
        "sources[0].name": 14,
        "sources[1]": 16,
        "sources[1].name": 17,
        "poll": 18,
        "poll.interval": 19,
    }


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("match.any[0]", 9),
        ("match.any[0].all[2]", 9),
        ("sources[1].url", 16),
        ("poll.timeout", 18),
        ("nowhere", None),
        ("not", None),  # inside a multi-line string
    ],
)
def test_a_key_without_a_line_takes_its_table_s(key: str, line: int | None) -> None:
    assert TableReader(Path("f.toml"), TOML).line_of(key) == line


def test_problem_without_a_line_has_no_suffix() -> None:
    reader = TableReader(Path("f.toml"))
    reader.problem("title", "missing")
    assert reader.problems == ["f.toml: title: missing"]


@pytest.mark.parametrize(
    ("value", "name"),
    [("x", "string"), (1, "integer"), (1.5, "float"), (True, "boolean"), ([], "array"), ({}, "table")],
)
def test_toml_type(value: object, name: str) -> None:
    assert toml_type(value) == name


def test_datetime_type() -> None:
    raw = tomllib.loads("a = 1979-05-27T07:32:00Z\nb = 1979-05-27\nc = 07:32:00\n")
    assert [toml_type(v) for v in raw.values()] == ["datetime", "date", "time"]


def test_a_bad_value_is_replaced_by_the_default() -> None:
    reader = TableReader(Path("f.toml"), "n = true\nd = 5\ns = '\\u0001'\n")
    table = {"n": True, "d": 5, "s": "\x01"}
    assert reader.whole(table, "n", 7) == 7
    assert reader.duration(table, "d", 60.0) == 60.0
    assert reader.string(table, "s", "fallback") == "fallback"
    assert reader.whole(table, "absent", 3) == 3
    assert len(reader.problems) == 3
