"""Loading and validating config.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from republisher.config import default_config_path, load_config
from republisher.errors import ConfigError
from republisher.validation import parse_duration

REPO = Path(__file__).resolve().parent.parent

SOURCE = '[[sources]]\nname = "guardian"\nurl = "https://example.org/feed"\n'


def write_config(folder: Path, toml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(toml, encoding="utf-8")
    return path


# --- durations ---------------------------------------------------------------------------------

DURATIONS: dict[str, tuple[str, float]] = {
    "seconds": ("90s", 90),
    "minutes": ("15m", 900),
    "hours": ("2h", 7200),
    "days": ("1d", 86400),
    "combined": ("1h30m", 5400),
}


@pytest.mark.parametrize(("text", "seconds"), DURATIONS.values(), ids=DURATIONS.keys())
def test_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


BAD_DURATIONS = {
    "empty": "",
    "no unit": "15",
    "no number": "m",
    "fraction": "1.5h",
    "negative": "-5m",
    "zero": "0s",
    "words": "15 minutes",
}


@pytest.mark.parametrize("text", BAD_DURATIONS.values(), ids=BAD_DURATIONS.keys())
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- loading -----------------------------------------------------------------------------------


def test_repository_config_loads() -> None:
    config = load_config(REPO / "config.toml")
    assert config.base_url == "http://localhost:8080/"
    assert config.output_dir == REPO / "public"
    assert config.rules_dir == REPO / "rules"
    assert config.poll.interval == 1800
    [source] = config.sources
    assert source.name == "guardian-uighurs"
    assert source.url == (REPO / "samples" / "guardian-uighurs.xml").as_uri()
    assert source.interval == 900


def test_paths_are_relative_to_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = (
        'base_url = "https://example.org/feeds"\noutput_dir = "out"\nstate_dir = "var/state"\n'
        '[[sources]]\nname = "local"\nurl = "feeds/local.xml"\n'
        '[[sources]]\nname = "remote"\nurl = "https://example.org/rss"\n'
        '[[sources]]\nname = "absolute"\nurl = "/srv/feeds/a.xml"\n'
    )
    write_config(tmp_path / "sub", toml)
    monkeypatch.chdir(tmp_path)  # a relative config path, read from another folder
    config = load_config(Path("sub/config.toml"))
    folder = (tmp_path / "sub").resolve()
    assert config.output_dir.resolve() == folder / "out"
    assert config.state_dir.resolve() == folder / "var" / "state"
    assert config.rules_dir.resolve() == folder / "rules"
    assert [s.url for s in config.sources] == [
        (folder / "feeds" / "local.xml").as_uri(),
        "https://example.org/rss",
        "file:///srv/feeds/a.xml",
    ]
    assert config.base_url == "https://example.org/feeds/"


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, SOURCE))
    assert config.max_entries == 50
    assert (config.poll.interval, config.poll.timeout, config.poll.workers) == (1800, 30, 8)
    assert config.poll.max_bytes == 10_000_000
    assert (config.serve.enabled, config.serve.host, config.serve.port) == (False, "127.0.0.1", 8080)
    assert config.sources[0].interval == 1800


def test_source_interval_overrides_poll_interval(tmp_path: Path) -> None:
    toml = f'[poll]\ninterval = "1h"\n{SOURCE}interval = "15m"\n[[sources]]\nname = "b"\nurl = "b.xml"\n'
    config = load_config(write_config(tmp_path, toml))
    assert [s.interval for s in config.sources] == [900, 3600]


# --- errors ------------------------------------------------------------------------------------

# (config file, "key: start of the message" expected after the file's path)
INVALID_CASES: dict[str, tuple[str, str]] = {
    "unknown top-level key": (f'colour = "red"\n{SOURCE}', "colour: unknown key"),
    "unknown key in [poll]": (f'[poll]\nintervall = "5m"\n{SOURCE}', "poll.intervall: unknown key"),
    "unknown key in [serve]": (f"[serve]\ntls = true\n{SOURCE}", "serve.tls: unknown key"),
    "unknown key in [[sources]]": (f'{SOURCE}tags = ["x"]\n', "sources[0].tags: unknown key"),
    "max_entries is a string": (f'max_entries = "50"\n{SOURCE}', "max_entries: expected int"),
    "max_entries is zero": (f"max_entries = 0\n{SOURCE}", "max_entries: must be at least 1"),
    "port is a bool": (f"[serve]\nport = true\n{SOURCE}", "serve.port: expected int"),
    "port out of range": (f"[serve]\nport = 70000\n{SOURCE}", "serve.port: must be 1-65535"),
    "enabled is a string": (f'[serve]\nenabled = "yes"\n{SOURCE}', "serve.enabled: expected bool"),
    "workers is zero": (f"[poll]\nworkers = 0\n{SOURCE}", "poll.workers: must be at least 1"),
    "bad duration": (f'[poll]\ninterval = "soon"\n{SOURCE}', "poll.interval: bad duration 'soon'"),
    "duration is a number": (f"[poll]\ntimeout = 30\n{SOURCE}", "poll.timeout: expected str"),
    "bad source interval": (f'{SOURCE}interval = "often"\n', "sources[0].interval: bad duration"),
    "base_url not http": (f'base_url = "ftp://example.org/"\n{SOURCE}', "base_url: must be an absolute"),
    "output_dir not a string": (f"output_dir = 3\n{SOURCE}", "output_dir: expected str"),
    "poll is not a table": (f'poll = "30m"\n{SOURCE}', "poll: expected table, got string"),
    "duplicate source names": (f"{SOURCE}{SOURCE}", "sources[1].name: duplicate source name 'guardian'"),
    "invalid source name": (
        '[[sources]]\nname = "The Guardian"\nurl = "https://example.org/feed"\n',
        "sources[0].name: 'The Guardian' is not a valid name",
    ),
    "missing source name": ('[[sources]]\nurl = "https://example.org/feed"\n', "sources[0].name: "),
    "unsupported URL scheme": (
        '[[sources]]\nname = "a"\nurl = "ftp://example.org/feed.xml"\n',
        "sources[0].url: unsupported URL scheme 'ftp'",
    ),
    "http URL without a host": ('[[sources]]\nname = "a"\nurl = "https:///feed"\n', "sources[0].url: "),
    "missing url": ('[[sources]]\nname = "a"\n', "sources[0].url: missing"),
    "no sources": ('base_url = "http://localhost:8080/"\n', "sources: no sources"),
    "empty sources list": ("sources = []\n", "sources: no sources"),
    "sources is a table": ('[sources]\nname = "a"\n', "sources: expected an array"),
}


@pytest.mark.parametrize(("toml", "expected"), INVALID_CASES.values(), ids=INVALID_CASES.keys())
def test_invalid_config(tmp_path: Path, toml: str, expected: str) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: {expected}" in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    toml = (
        'colour = "red"\nmax_entries = "50"\n[poll]\ninterval = "soon"\n[serve]\nport = true\n'
        f'{SOURCE}[[sources]]\nname = "guardian"\nurl = "ftp://example.org/"\n'
    )
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert all(p.startswith(f"{path}: ") for p in problems)
    keys = {p.removeprefix(f"{path}: ").split(":")[0] for p in problems}
    assert {
        "colour",
        "max_entries",
        "poll.interval",
        "serve.port",
        "sources[1].name",
        "sources[1].url",
    } <= keys


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, f"{SOURCE}max_entries = = 5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 4" in message


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


# --- default path ------------------------------------------------------------------------------


def test_default_config_path_honours_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPUBLISHER_CONFIG", "/etc/republisher/config.toml")
    assert default_config_path() == Path("/etc/republisher/config.toml")


def test_default_config_path_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPUBLISHER_CONFIG", raising=False)
    assert default_config_path() == Path("config.toml")


# --- what output_dir may be ----------------------------------------------------------------------

# (extra top-level keys, what the output_dir problem says) for a config at site/config.toml
# with state_dir = "state" and rules_dir = "rules" unless changed
OVERLAPS: dict[str, tuple[str, str]] = {
    "the config's folder": ('output_dir = "."', "is the config's folder"),
    "the config's folder, spelt differently": ('output_dir = "public/.."', "is the config's folder"),
    "the config folder's parent": ('output_dir = ".."', "contains the config's folder"),
    "the root": ('output_dir = "/"', "contains the config's folder"),
    "state_dir": ('output_dir = "state"', "is state_dir"),
    "rules_dir": ('output_dir = "rules"', "is rules_dir"),
    "a folder inside rules_dir": ('output_dir = "rules/public"', "lies inside rules_dir"),
    "a folder inside state_dir": ('output_dir = "state/www"', "lies inside state_dir"),
    "contains state_dir": ('output_dir = "www"\nstate_dir = "www/state"', "contains state_dir"),
    "contains rules_dir": ('output_dir = "www"\nrules_dir = "www/rules"', "contains rules_dir"),
    "state_dir given elsewhere": ('output_dir = "/srv/x"\nstate_dir = "/srv/x/db"', "contains state_dir"),
}


@pytest.mark.parametrize(("extra", "expected"), OVERLAPS.values(), ids=OVERLAPS.keys())
def test_output_dir_holding_private_files_is_refused(tmp_path: Path, extra: str, expected: str) -> None:
    """Everything in output_dir is published: config.toml, the store and the rules must not be."""
    path = write_config(tmp_path / "site", f"{extra}\n{SOURCE}")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = [p for p in caught.value.problems if ": output_dir: " in p]
    assert problem.startswith(f"{path}: output_dir: {expected} (")
    assert "everything in output_dir is published" in problem


def test_output_dir_reaching_state_dir_through_a_symlink_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "state").mkdir(parents=True)
    (site / "www").symlink_to(site / "state")
    path = write_config(site, f'output_dir = "www"\n{SOURCE}')
    with pytest.raises(ConfigError, match="output_dir: is state_dir"):
        load_config(path)


@pytest.mark.parametrize(
    "output_dir",
    ["public", "../www", "/srv/www/feeds", "site-public"],
    ids=["default", "sibling", "absolute", "prefix"],
)
def test_output_dir_apart_from_private_files_loads(tmp_path: Path, output_dir: str) -> None:
    # "prefix": /site-public is not inside /site, whatever the strings share
    path = write_config(tmp_path / "site", f'output_dir = "{output_dir}"\nstate_dir = "state"\n{SOURCE}')
    assert load_config(path).output_dir == (tmp_path / "site").resolve() / output_dir


def test_output_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, SOURCE)
    (tmp_path / "public").write_text("not a folder")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: output_dir: {tmp_path.resolve() / 'public'} exists and is not a folder" in str(
        caught.value
    )


# --- base_url, URLs ------------------------------------------------------------------------------

BAD_BASE_URLS: dict[str, tuple[str, str]] = {
    "query and fragment": ("http://127.0.0.1:8080/?x=1#frag", "must have no query or fragment"),
    "query": ("https://example.org/feeds/?x=1", "must have no query or fragment"),
    "fragment": ("https://example.org/feeds/#top", "must have no query or fragment"),
    "empty query": ("https://example.org/feeds/?", "must have no query or fragment"),
    "password": ("https://alice:s3cret@example.org/", "must not carry a user name or password"),
    "port out of range": ("http://example.org:99999/", "must be an absolute http(s) URL"),
    "broken IPv6 host": ("http://[::1/", "must be an absolute http(s) URL"),
    "space": ("https://exa mple.org/", "must not contain spaces or control characters"),
    "control character": ("https://example.org/\\u007f", "must not contain spaces or control characters"),
    "character XML cannot carry": ("https://example.org/\\u0001", "contains U+0001"),
}


@pytest.mark.parametrize(("base_url", "expected"), BAD_BASE_URLS.values(), ids=BAD_BASE_URLS.keys())
def test_bad_base_url_is_refused(tmp_path: Path, base_url: str, expected: str) -> None:
    path = write_config(tmp_path, f'base_url = "{base_url}"\n{SOURCE}')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: base_url: {expected}" in str(caught.value)


def test_ipv6_base_url_loads(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'base_url = "http://[::1]:8080/feeds"\n{SOURCE}')
    assert load_config(path).base_url == "http://[::1]:8080/feeds/"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[[sources]]\nname = "a"\nurl = "http://[::1/feed"\n',
            "sources[0].url: 'http://[::1/feed' is not a valid URL",
        ),
        ('[[sources]]\nname = "a"\nurl = "http://example.org:99999/"\n', "sources[0].url: "),
        (f'{SOURCE}[websub]\nhubs = ["http://[::1/"]\n', "websub.hubs[0]: must be an absolute http(s) URL"),
    ],
    ids=["source URL urlsplit refuses", "source port out of range", "hub urlsplit refuses"],
)
def test_unsplittable_urls_are_problems_not_crashes(tmp_path: Path, toml: str, expected: str) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: {expected}" in str(caught.value)


# --- located messages ----------------------------------------------------------------------------

MISSPELT: dict[str, tuple[str, str]] = {
    "top level": (
        f'base_ulr = "http://x/"\n{SOURCE}',
        "base_ulr: unknown key (did you mean 'base_url'?) (line 1)",
    ),
    "in [poll]": (
        f'[poll]\nworkers = 2\nintervall = "5m"\n{SOURCE}',
        "poll.intervall: unknown key (did you mean 'interval'?) (line 3)",
    ),
    "in the second source": (
        f'{SOURCE}[[sources]]\nname = "b"\nurl = "b.xml"\nintreval = "1h"\n',
        "sources[1].intreval: unknown key (did you mean 'interval'?) (line 7)",
    ),
    "far from every key": (
        f"[serve]\ntls = true\n{SOURCE}",
        "serve.tls: unknown key (known keys: enabled, host, port) (line 2)",
    ),
}


@pytest.mark.parametrize(("toml", "expected"), MISSPELT.values(), ids=MISSPELT.keys())
def test_misspelt_key_gets_a_suggestion_and_a_line(tmp_path: Path, toml: str, expected: str) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: {expected}" in caught.value.problems


def test_wrong_types_are_named_as_toml_names_them(tmp_path: Path) -> None:
    toml = f'max_entries = "50"\n[serve]\nenabled = 1\nport = 8080.0\n[poll]\ntimeout = 30\n{SOURCE}'
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert sorted(caught.value.problems) == [
        f"{path}: max_entries: expected integer, got string (line 1)",
        f'{path}: poll.timeout: expected string (a duration such as "90s", "15m", "2h", "1d"), got integer (line 6)',
        f"{path}: serve.enabled: expected boolean (true or false), got integer (line 3)",
        f"{path}: serve.port: expected integer, got float (line 4)",
    ]
