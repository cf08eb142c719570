"""One reader for config.toml and rule files: every problem is collected, not just the first.

Each problem reads `file: key: problem (line N)`: the key as a path (`poll.interval`,
`sources[1].url`, `match.any[3]`), a "did you mean" for a misspelt key, types named
as TOML names them, and the line found by a light scan of the file's text (tomllib
gives no positions; a key it cannot place simply has no line).
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tomllib
from collections.abc import Collection
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from republisher.errors import ConfigError
from republisher.text import XML_FORBIDDEN

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_HINT = 'a duration such as "90s", "15m", "2h", "1d"'


MAX_DURATION = 3650 * 86400  # ten years: beyond it, dates overflow and no schedule means it


def parse_duration(text: str) -> float:
    """'90s', '15m', '2h', '1d' or combinations such as '1h30m' -> seconds."""
    text = text.strip()
    if not text or _DURATION.sub("", text):
        raise ValueError(f"bad duration {text!r} (use e.g. '90s', '15m', '2h', '1d')")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be more than zero")
    if seconds > MAX_DURATION:
        raise ValueError(f"bad duration {text!r}: at most {MAX_DURATION // 86400} days")
    return float(seconds)


def shown(path: Path) -> str:
    """A file's name as messages give it: relative to the working folder when it lies inside
    it (`rules/surveillance.toml`, as the config's own path is given), else in full."""
    if path.is_absolute():
        with contextlib.suppress(ValueError, OSError):
            return str(path.relative_to(Path.cwd()))
    return str(path)


def read_toml(path: Path, what: str = "file") -> tuple[dict[str, Any], str]:
    """(table, text) of a TOML file; ConfigError with one located problem if unreadable."""
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{shown(path)}: {what} not found"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{shown(path)}: cannot read: {e}"]) from e
    try:
        return tomllib.loads(source), source
    except tomllib.TOMLDecodeError as e:  # its message ends "(at line 2, column 12)"
        raise ConfigError([f"{shown(path)}: TOML syntax error: {_located(str(e), source)}"]) from e
    except RecursionError:  # tomllib recurses once per nested inline table or array
        raise ConfigError([f"{shown(path)}: TOML nested too deeply"]) from None


def _located(message: str, source: str) -> str:
    """tomllib's message, with a line where it gives none: an error "at end of document" is
    something left open before it (an array, an inline table, a value after "=")."""
    if not message.endswith("(at end of document)"):
        return message
    lines = source.splitlines()
    last = next((n for n in range(len(lines), 0, -1) if lines[n - 1].strip()), 1)
    return message.removesuffix(")") + f": after line {last}, an array, table or value is left unfinished)"


def toml_type(value: object) -> str:
    """What TOML calls the type of a parsed value."""
    if isinstance(value, bool):  # before int: a bool is an int in Python
        return "boolean"
    names: tuple[tuple[type, str], ...] = (
        (str, "string"),
        (int, "integer"),
        (float, "float"),
        (list, "array"),
        (dict, "table"),
        (datetime, "datetime"),  # before date: a datetime is a date
        (date, "date"),
        (time, "time"),
    )
    return next((name for kind, name in names if isinstance(value, kind)), type(value).__name__)


_EXPECTED = {str: "string", int: "integer", bool: "boolean (true or false)", dict: "table", list: "array"}

# Enough of TOML's grammar to find the line of a header or a key; values are skipped.
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"\s*(\[\[|\[)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"\s*({_DOTTED})\s*=")
_PART_RE = re.compile(_PART)


def _key_name(dotted: str) -> str:
    return ".".join(part.strip("\"'") for part in _PART_RE.findall(dotted))


def key_lines(source: str) -> dict[str, int]:
    """Key path (`poll.interval`, `sources[1].url`) -> line number of its first mention."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}  # [[name]] headers seen so far, for the index
    table = ""
    open_string = ""  # the quotes of a multi-line string being skipped
    for number, line in enumerate(source.splitlines(), start=1):
        if open_string:
            if line.count(open_string) % 2:
                open_string = ""
            continue
        if header := _HEADER.match(line):
            table = _key_name(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(table, 0)
                counts[table] = index + 1
                table = f"{table}[{index}]"
            lines.setdefault(table, number)
        elif key := _KEY.match(line):
            name = _key_name(key.group(1))
            lines.setdefault(f"{table}.{name}" if table else name, number)
        open_string = next((q for q in ('"""', "'''") if line.count(q) % 2), "")
    return lines


class TableReader:
    """Reads values out of parsed TOML tables, recording a located problem for each bad one.

    A bad value is replaced by the caller's default, so reading goes on and every
    problem of a file is found in one pass. `prefix` is the path of the enclosing table
    ("poll.", "sources[0].", "" at the top).
    """

    def __init__(self, path: Path, source: str = "") -> None:
        self.path = path
        self.problems: list[str] = []
        self.lines = key_lines(source)

    def line_of(self, key: str) -> int | None:
        """The line of the key, else of the nearest enclosing key or table that has one."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[: max(key.rfind("."), key.rfind("["), 0)]
        return None

    def problem(self, key: str, message: str) -> None:
        line = self.line_of(key)
        self.problems.append(f"{shown(self.path)}: {key}: {message}" + (f" (line {line})" if line else ""))

    def unknown_keys(
        self, table: dict[str, Any], allowed: Collection[str], prefix: str = "", note: str = ""
    ) -> None:
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            if close:
                hint = f"did you mean {close[0]!r}?"
            else:
                hint = note or "known keys: " + ", ".join(sorted(allowed))
            self.problem(prefix + key, f"unknown key ({hint})")

    def value(self, table: dict[str, Any], key: str, kind: type, default: Any, prefix: str = "") -> Any:
        """table[key] if present and of `kind`; else default (with a problem if wrong)."""
        if key not in table:
            return default
        value = table[key]
        # bool is an int in Python; a config that says `port = true` is still wrong.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(
                prefix + key, f"expected {_EXPECTED.get(kind, kind.__name__)}, got {toml_type(value)}"
            )
            return default
        return value

    def flag(self, table: dict[str, Any], key: str, default: bool, prefix: str = "") -> bool:
        value: bool = self.value(table, key, bool, default, prefix)
        return value

    def string(
        self, table: dict[str, Any], key: str, default: str = "", prefix: str = "", *, required: bool = False
    ) -> str:
        """A string that XML can carry (rule titles are published); `required`: not blank."""
        if required and key not in table:
            self.problem(prefix + key, "missing")
            return default
        value: str = self.value(table, key, str, default, prefix)
        if required and key in table and isinstance(table[key], str) and not value.strip():
            self.problem(prefix + key, "must not be empty")
        return value if self.xml_safe(value, prefix + key) else default

    def string_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            got = toml_type(value) if not isinstance(value, list) else "an array with other values"
            self.problem(key, f"expected an array of strings, got {got}")
            return []
        return [v for i, v in enumerate(value) if self.xml_safe(v, f"{key}[{i}]")]

    def xml_safe(self, value: str, key: str) -> bool:
        """False, with a problem, when the text holds a character XML 1.0 forbids."""
        found = XML_FORBIDDEN.search(value)
        if found:
            code = f"U+{ord(found.group()):04X}"
            self.problem(key, f"contains {code} at position {found.start()}, a character XML cannot carry")
        return found is None

    def whole(
        self,
        table: dict[str, Any],
        key: str,
        default: int | None,
        prefix: str = "",
        minimum: int = 1,
        maximum: int = 2**31 - 1,
    ) -> int | None:
        """A whole number from `minimum` to `maximum`."""
        value: int | None = self.value(table, key, int, default, prefix)
        if key in table and value is not None and value < minimum:
            self.problem(prefix + key, f"must be at least {minimum}, got {value}")
            return default
        if key in table and value is not None and value > maximum:
            self.problem(prefix + key, f"must be at most {maximum:,}, got {value:,}")
            return default
        return value

    def duration(
        self, table: dict[str, Any], key: str, default: float | None, prefix: str = ""
    ) -> float | None:
        """Seconds, from a duration string such as "15m"."""
        if key not in table:
            return default
        text = table[key]
        if not isinstance(text, str):
            self.problem(prefix + key, f"expected string ({DURATION_HINT}), got {toml_type(text)}")
            return default
        try:
            return parse_duration(text)
        except ValueError as e:
            self.problem(prefix + key, str(e))
            return default

    def table(self, raw: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
        value: dict[str, Any] = self.value(raw, key, dict, {}, prefix)
        return value
