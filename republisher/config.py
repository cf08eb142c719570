"""Load and validate config.toml into a frozen Config. Every problem is reported at once."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from republisher.errors import ConfigError
from republisher.validation import TableReader, read_toml

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "REPUBLISHER_CONFIG"

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


def default_config_path() -> Path:
    """$REPUBLISHER_CONFIG when set, else ./config.toml."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: Path) -> Config:
    """Read and validate a config file; raise ConfigError listing every problem."""
    raw, source = read_toml(path, "config file")
    return _Reader(path, source).config(raw)


def _split_url(url: str) -> SplitResult | None:
    """urlsplit, or None for text it cannot split or a port out of range."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port such as 99999
    except ValueError:
        return None
    return parts


def _is_web_url(url: str) -> bool:
    parts = _split_url(url)
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)


def _private_folders(config: Config, folder: Path) -> list[tuple[str, Path, bool]]:
    """(name, folder, whether output_dir may not lie inside it) for what must never be served.

    output_dir normally lies inside the config's folder (`public`), so only being it or
    containing it is refused there; the config file may be reached through a symlink,
    so both its folders count.
    """
    config_folders = dict.fromkeys([folder, config.path.absolute().parent])
    return [("the config's folder", f, False) for f in config_folders] + [
        ("state_dir", config.state_dir, True),
        ("rules_dir", config.rules_dir, True),
    ]


class _Reader(TableReader):
    """Validates the TOML table, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, source: str) -> None:
        super().__init__(path, source)
        self.folder = path.resolve().parent

    def positive(self, table: dict[str, Any], key: str, default: int, prefix: str, maximum: int) -> int:
        return self.whole(table, key, default, prefix, maximum=maximum) or default

    def folder_key(self, table: dict[str, Any], key: str, default: str) -> Path:
        name: str = self.value(table, key, str, default)
        return self.folder / name

    def config(self, raw: dict[str, Any]) -> Config:
        top = {"base_url", "output_dir", "state_dir", "rules_dir", "max_entries", "formats"}
        self.unknown_keys(raw, top | {"poll", "serve", "sources", "websub"})
        poll = self.poll_config(self.table(raw, "poll"))
        config = Config(
            path=self.path,
            base_url=self.base_url(self.string(raw, "base_url", "http://localhost:8080/")),
            output_dir=self.folder_key(raw, "output_dir", "public"),
            state_dir=self.folder_key(raw, "state_dir", "state"),
            rules_dir=self.folder_key(raw, "rules_dir", "rules"),
            max_entries=self.positive(raw, "max_entries", 50, "", maximum=100_000),
            poll=poll,
            serve=self.serve_config(self.table(raw, "serve")),
            sources=self.sources(raw.get("sources", []), poll.interval),
            formats=self.formats(raw.get("formats", ["atom"])),
            websub_hubs=self.hubs(self.table(raw, "websub")),
        )
        self.check_output_dir(config)
        if self.problems:
            raise ConfigError(self.problems)
        return config

    def base_url(self, base_url: str) -> str:
        """Every feed id and link starts with it, so it must be a plain public URL."""
        parts = _split_url(base_url)
        if parts is None or not _is_web_url(base_url):
            self.problem("base_url", f"must be an absolute http(s) URL, got {base_url!r}")
        elif "?" in base_url or "#" in base_url:
            self.problem("base_url", f"must have no query or fragment ('?' or '#'), got {base_url!r}")
        elif parts.username is not None or parts.password is not None:
            self.problem("base_url", "must not carry a user name or password: it is published")
        elif any(c.isspace() or not c.isprintable() for c in base_url):
            self.problem("base_url", f"must not contain spaces or control characters, got {base_url!r}")
        return base_url if base_url.endswith("/") else base_url + "/"  # feeds are base_url + slug

    def check_output_dir(self, config: Config) -> None:
        """Everything in output_dir is published: it must hold nothing private."""
        try:
            output = config.output_dir.resolve()
            private = [
                (name, f.resolve(), inside) for name, f, inside in _private_folders(config, self.folder)
            ]
        except (OSError, RuntimeError) as e:  # a symlink loop, an unreadable folder
            self.problem("output_dir", f"cannot resolve the folders: {e}")
            return
        if output.exists() and not output.is_dir():
            self.problem("output_dir", f"{output} exists and is not a folder")
        for name, folder, inside_refused in private:
            if output == folder:
                problem = f"is {name} ({folder})"
            elif folder.is_relative_to(output):
                problem = f"contains {name} ({folder})"
            elif inside_refused and output.is_relative_to(folder):
                problem = f"lies inside {name} ({folder})"
            else:
                continue
            self.problem("output_dir", f"{problem}: everything in output_dir is published")
            return

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
            if not _is_web_url(hub) or not self.xml_safe(hub, f"websub.hubs[{i}]"):
                self.problem(f"websub.hubs[{i}]", f"must be an absolute http(s) URL, got {hub!r}")
        return tuple(hubs)

    def poll_config(self, raw: dict[str, Any]) -> PollConfig:
        self.unknown_keys(raw, {"interval", "timeout", "max_bytes", "workers"}, "poll.")
        d = PollConfig()
        return PollConfig(
            interval=self.duration(raw, "interval", d.interval, "poll.") or d.interval,
            timeout=self.duration(raw, "timeout", d.timeout, "poll.") or d.timeout,
            max_bytes=self.positive(raw, "max_bytes", d.max_bytes, "poll.", maximum=2**31 - 1),
            workers=self.positive(raw, "workers", d.workers, "poll.", maximum=256),
        )

    def serve_config(self, raw: dict[str, Any]) -> ServeConfig:
        self.unknown_keys(raw, {"enabled", "host", "port"}, "serve.")
        d = ServeConfig()
        port: int = self.value(raw, "port", int, d.port, "serve.")
        if not 0 < port < 65536:
            self.problem("serve.port", f"must be 1-65535, got {port}")
        return ServeConfig(
            enabled=self.flag(raw, "enabled", d.enabled, "serve."),
            host=self.string(raw, "host", d.host, "serve."),
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
            name = self.string(item, "name", "", prefix)
            if "name" not in item:
                self.problem(prefix + "name", 'missing: a short name such as "guardian-uighurs"')
            elif not SOURCE_NAME.match(name):
                self.problem(
                    prefix + "name",
                    f"{name!r} is not a valid name (lowercase letters, digits, '-' and '_')",
                )
            elif name in seen:
                self.problem(prefix + "name", f"duplicate source name {name!r}")
            seen.add(name)
            url = self.source_url(self.string(item, "url", "", prefix), prefix + "url")
            interval = self.duration(item, "interval", default_interval, prefix) or default_interval
            sources.append(SourceConfig(name=name, url=url, interval=interval))
        return tuple(sources)

    def source_url(self, url: str, key: str) -> str:
        if not url:
            self.problem(key, "missing: an http(s) URL, a file:// URL or a path")
            return url
        parts = _split_url(url)
        if parts is None:
            self.problem(key, f"{url!r} is not a valid URL")
            return url
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            if not parts.hostname:
                self.problem(key, f"{url!r} has no host")
            return url
        if scheme == "file":
            return url
        if len(scheme) > 1:  # a one-letter "scheme" is a Windows drive, i.e. a path
            self.problem(key, f"unsupported URL scheme {scheme!r} (use http, https or file)")
            return url
        return (self.folder / url).resolve().as_uri()


def file_path(url: str) -> Path:
    """The local file a file:// source URL names."""
    from urllib.request import url2pathname  # here: only file sources need it

    return Path(url2pathname(unquote(urlsplit(url).path)))
