"""Load and validate config.toml into a frozen Config. Every problem is reported at once."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from republisher.errors import ConfigError

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "REPUBLISHER_CONFIG"

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str  # http(s) or file:// URL; paths are turned into file:// URLs
    interval: float  # seconds


@dataclass(frozen=True)
class PollConfig:
    interval: float = 1800.0
    timeout: float = 30.0
    max_bytes: int = 10_000_000
    workers: int = 8


@dataclass(frozen=True)
class ServeConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080


FORMATS = ("atom", "json")


@dataclass(frozen=True)
class Config:
    path: Path
    base_url: str
    output_dir: Path
    state_dir: Path
    rules_dir: Path
    max_entries: int
    poll: PollConfig
    serve: ServeConfig
    sources: tuple[SourceConfig, ...]
    formats: tuple[str, ...] = ("atom",)  # "json" also writes <slug>.json (JSON Feed 1.1)
    websub_hubs: tuple[str, ...] = ()  # hubs told whenever a derived feed changes

    def source(self, name: str) -> SourceConfig | None:
        """The source called `name`, if configured."""
        return next((s for s in self.sources if s.name == name), None)


def parse_duration(text: str) -> float:
    """'90s', '15m', '2h', '1d' or combinations such as '1h30m' -> seconds."""
    text = text.strip()
    if not text or _DURATION.sub("", text):
        raise ValueError(f"bad duration {text!r} (use e.g. '90s', '15m', '2h', '1d')")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be more than zero")
    return float(seconds)


def default_config_path() -> Path:
    """$REPUBLISHER_CONFIG when set, else ./config.toml."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path) -> Config:
    """Read and validate a config file; raise ConfigError listing every problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: TOML syntax error: {e}"]) from e
    return _Reader(path).config(raw)


class _Reader:
    """Validates the TOML table, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = path.resolve().parent
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def unknown_keys(self, table: dict[str, Any], allowed: set[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                self.problem(prefix + key, "unknown key")

    def get(self, table: dict[str, Any], key: str, kind: type, default: Any, prefix: str) -> Any:
        value = table.get(key, default)
        # bool is an int in Python; a config that says `port = true` is still wrong.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(prefix + key, f"expected {kind.__name__}, got {type(value).__name__}")
            return default
        return value

    def duration(self, table: dict[str, Any], key: str, default: float, prefix: str) -> float:
        if key not in table:
            return default
        text = self.get(table, key, str, None, prefix)
        if text is None:
            return default
        try:
            return parse_duration(text)
        except ValueError as e:
            self.problem(prefix + key, str(e))
            return default

    def positive(self, table: dict[str, Any], key: str, default: int, prefix: str) -> int:
        value: int = self.get(table, key, int, default, prefix)
        if value < 1:
            self.problem(prefix + key, f"must be at least 1, got {value}")
            return default
        return value

    def folder_key(self, table: dict[str, Any], key: str, default: str) -> Path:
        name: str = self.get(table, key, str, default, "")
        return self.folder / name

    def config(self, raw: dict[str, Any]) -> Config:
        top = {"base_url", "output_dir", "state_dir", "rules_dir", "max_entries", "formats"}
        self.unknown_keys(raw, top | {"poll", "serve", "sources", "websub"}, "")
        base_url = self.get(raw, "base_url", str, "http://localhost:8080/", "")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problem("base_url", f"must be an absolute http(s) URL, got {base_url!r}")
        if not base_url.endswith("/"):
            base_url += "/"  # feed URLs are base_url + slug + ".atom"
        poll = self.poll_config(self.table(raw, "poll"))
        config = Config(
            path=self.path,
            base_url=base_url,
            output_dir=self.folder_key(raw, "output_dir", "public"),
            state_dir=self.folder_key(raw, "state_dir", "state"),
            rules_dir=self.folder_key(raw, "rules_dir", "rules"),
            max_entries=self.positive(raw, "max_entries", 50, ""),
            poll=poll,
            serve=self.serve_config(self.table(raw, "serve")),
            sources=self.sources(raw.get("sources", []), poll.interval),
            formats=self.formats(raw.get("formats", ["atom"])),
            websub_hubs=self.hubs(self.table(raw, "websub")),
        )
        if self.problems:
            raise ConfigError(self.problems)
        return config

    def formats(self, raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(isinstance(f, str) for f in raw):
            self.problem("formats", 'expected a list such as ["atom", "json"]')
            return ("atom",)
        for i, name in enumerate(raw):
            if name not in FORMATS:
                self.problem(f"formats[{i}]", f"unknown format {name!r} (one of {', '.join(FORMATS)})")
        if "atom" not in raw:
            self.problem("formats", 'must include "atom": feed ids and links are the Atom files\'')
        return tuple(dict.fromkeys(f for f in raw if f in FORMATS))

    def hubs(self, raw: dict[str, Any]) -> tuple[str, ...]:
        self.unknown_keys(raw, {"hubs"}, "websub.")
        hubs = raw.get("hubs", [])
        if not isinstance(hubs, list) or not all(isinstance(h, str) for h in hubs):
            self.problem("websub.hubs", "expected a list of hub URLs")
            return ()
        for i, hub in enumerate(hubs):
            parts = urlsplit(hub)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                self.problem(f"websub.hubs[{i}]", f"must be an absolute http(s) URL, got {hub!r}")
        return tuple(hubs)

    def table(self, raw: dict[str, Any], key: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, f"expected a table, got {type(value).__name__}")
            return {}
        return value

    def poll_config(self, raw: dict[str, Any]) -> PollConfig:
        self.unknown_keys(raw, {"interval", "timeout", "max_bytes", "workers"}, "poll.")
        d = PollConfig()
        return PollConfig(
            interval=self.duration(raw, "interval", d.interval, "poll."),
            timeout=self.duration(raw, "timeout", d.timeout, "poll."),
            max_bytes=self.positive(raw, "max_bytes", d.max_bytes, "poll."),
            workers=self.positive(raw, "workers", d.workers, "poll."),
        )

    def serve_config(self, raw: dict[str, Any]) -> ServeConfig:
        self.unknown_keys(raw, {"enabled", "host", "port"}, "serve.")
        d = ServeConfig()
        port = self.get(raw, "port", int, d.port, "serve.")
        if not 0 < port < 65536:
            self.problem("serve.port", f"must be 1-65535, got {port}")
        return ServeConfig(
            enabled=self.get(raw, "enabled", bool, d.enabled, "serve."),
            host=self.get(raw, "host", str, d.host, "serve."),
            port=port,
        )

    def sources(self, raw: Any, default_interval: float) -> tuple[SourceConfig, ...]:
        if not isinstance(raw, list):
            self.problem("sources", "expected an array of tables ([[sources]])")
            return ()
        if not raw:
            self.problem("sources", "no sources configured: add at least one [[sources]]")
        sources: list[SourceConfig] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            prefix = f"sources[{i}]."
            if not isinstance(item, dict):
                self.problem(f"sources[{i}]", "expected a table")
                continue
            self.unknown_keys(item, {"name", "url", "interval"}, prefix)
            name = self.get(item, "name", str, "", prefix)
            if not SOURCE_NAME.match(name):
                self.problem(
                    prefix + "name",
                    f"{name!r} is not a valid name (lowercase letters, digits, '-' and '_')",
                )
            elif name in seen:
                self.problem(prefix + "name", f"duplicate source name {name!r}")
            seen.add(name)
            url = self.source_url(self.get(item, "url", str, "", prefix), prefix + "url")
            interval = self.duration(item, "interval", default_interval, prefix)
            sources.append(SourceConfig(name=name, url=url, interval=interval))
        return tuple(sources)

    def source_url(self, url: str, key: str) -> str:
        if not url:
            self.problem(key, "missing: an http(s) URL, a file:// URL or a path")
            return url
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("http", "https"):
            if not urlsplit(url).netloc:
                self.problem(key, f"{url!r} has no host")
            return url
        if scheme == "file":
            return url
        if len(scheme) > 1:  # a one-letter "scheme" is a Windows drive, i.e. a path
            self.problem(key, f"unsupported URL scheme {scheme!r} (use http, https or file)")
            return url
        return (self.folder / url).resolve().as_uri()
