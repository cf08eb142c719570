"""The command line as users meet it: exit codes, one-line errors naming the place at fault."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, Project

from republisher.cli import main


def run(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_passes_on_the_shipped_rules(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    assert main(["--config", str(project.config), "check"]) == 0
    assert "examples pass" in capsys.readouterr().out


def test_check_reports_a_broken_rule_with_file_and_key(project: Project) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    (project.rules / "broken.toml").write_text('title = "B"\n[match]\nany = ["ok", "/(unclosed/"]\n')
    result = run(project, "check")
    assert result.returncode == 2
    assert f"{project.rules / 'broken.toml'}: match.any[1]: bad regex" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_rule_file_is_named_as_the_config_is_from_the_working_folder(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inside the working folder, `rules/broken.toml` (as `config.toml` is named), else in full."""
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    (project.rules / "broken.toml").write_text('title = "B"\n[match]\nany = ["ok", "/(unclosed/"]\n')
    (project.rules / "typo.toml").write_text('title = "T"\n[match\nany = ["x"]\n')
    monkeypatch.chdir(project.root)
    assert main(["--config", "config.toml", "check"]) == 2
    err = capsys.readouterr().err
    assert f"{Path('rules') / 'broken.toml'}: match.any[1]: bad regex" in err
    assert f"{Path('rules') / 'typo.toml'}: TOML syntax error" in err
    elsewhere = project.root.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the project is not inside it
    assert main(["--config", str(project.config), "check"]) == 2
    assert f"{project.rules / 'broken.toml'}: match.any[1]" in capsys.readouterr().err


def test_check_exits_1_on_a_failing_example(project: Project) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    (project.rules / "cats.toml").write_text(
        'title = "Cats"\n[match]\nany = ["cat"]\n[[examples]]\ntitle = "Dogs only"\nrouted = true\n'
    )
    result = run(project, "check")
    assert result.returncode == 1
    assert "example 'Dogs only': expected routed, but it was not" in result.stdout


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        ("base_url = 3\n", "base_url: expected str"),
        ('nonsense = "x"\n', "nonsense: unknown key"),
        ('[poll]\ninterval = "soon"\n', "poll.interval: bad duration 'soon'"),
        ("[poll\n", "TOML syntax error"),
    ],
    ids=["wrong type", "unknown key", "bad duration", "syntax error"],
)
def test_bad_config_exits_2_naming_file_and_key(project: Project, config_text: str, expected: str) -> None:
    project.config.write_text(config_text + '[[sources]]\nname = "a"\nurl = "x.xml"\n')
    result = run(project, "poll")
    assert result.returncode == 2
    assert str(project.config) in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "status"]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_route_prints_routing_and_writes_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    assert main(["--config", str(project.config), "route", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "Alibaba offered clients facial recognition to identify Uighur people, report reveals\n" in out
    assert "    -> surveillance\n" in out
    assert out.count("-> diplomacy") == 8
    assert out.count("-> (no feed)") == 7
    assert not (project.root / "public").exists()
    assert not (project.root / "state").exists()


def test_route_of_something_that_is_not_a_feed_fails_cleanly(project: Project, tmp_path: Path) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body>hello</body></html>")
    result = run(project, "route", str(page))
    assert result.returncode == 1
    assert "an HTML page, not a feed" in result.stderr


def test_poll_unknown_source_is_a_usage_error(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    assert main(["--config", str(project.config), "poll", "--source", "nope"]) == 2
    assert "no source named 'nope' (sources: guardian-uighurs)" in capsys.readouterr().err


def test_route_says_when_rules_limited_to_sources_may_be_why_nothing_matched(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    rule = project.rules / "surveillance.toml"
    rule.write_text('sources = ["guardian-uighurs"]\n' + rule.read_text(encoding="utf-8"), encoding="utf-8")
    copy = tmp_path / "copy.xml"  # the same items, not at the configured source's address
    copy.write_bytes(SAMPLE.read_bytes())
    config = str(project.config)
    assert main(["--config", config, "route", str(copy)]) == 0
    captured = capsys.readouterr()
    assert "-> surveillance" not in captured.out
    assert "note: rules limited to named sources (surveillance) take nothing" in captured.err
    assert main(["--config", config, "route", str(copy), "--source", "guardian-uighurs"]) == 0
    captured = capsys.readouterr()
    assert "-> surveillance" in captured.out and "note:" not in captured.err


def test_status_explain_and_reroute(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    capsys.readouterr()

    assert main(["--config", config, "status"]) == 0
    out = capsys.readouterr().out
    source_row = next(line for line in out.splitlines() if line.startswith("guardian-uighurs "))
    assert source_row.split()[1] == "file" and source_row.split()[-2:] == ["0", "ok"]
    assert f"guardian-uighurs: {SAMPLE.as_uri()}" in out
    feed_row = next(line for line in out.splitlines() if line.startswith("diplomacy "))
    assert feed_row.split()[1:4] == ["8", "8", "2021-02-27"]

    link = "https://www.theguardian.com/technology/2021/jan/12/alibaba-offered-clients-facial-recognition-to-identify-uighur-people-report-reveals"
    assert main(["--config", config, "explain", link]) == 0
    out = capsys.readouterr().out
    assert "surveillance: ROUTED" in out and "matched 'recognition' in title" in out
    assert "diplomacy: not routed" in out

    (project.rules / "diplomacy.toml").write_text('title = "D"\n[match]\nany = ["Alibaba"]\n')
    assert main(["--config", config, "reroute", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "diplomacy: 1 entering, 8 leaving" in out
    assert "    + Alibaba offered clients" in out
    before = project.feed("diplomacy")
    assert main(["--config", config, "reroute"]) == 0
    assert project.feed("diplomacy") != before
    assert b"Alibaba offered clients" in project.feed("diplomacy")


def test_poll_exit_code_1_when_a_source_fails(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_config({"gone": str(project.root / "missing.xml"), "guardian-uighurs": str(SAMPLE)})
    assert main(["--config", str(project.config), "poll"]) == 1
    out = capsys.readouterr().out
    assert f"gone: FAILED: cannot read file {project.root / 'missing.xml'}: " in out
    assert "guardian-uighurs: 20 entries: 20 new, 0 changed" in out


def test_a_source_with_items_dropped_partly_failed(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its good items are stored: not the same as a source that failed, though still exit 1."""
    feed = project.root / "some-bad.xml"
    feed.write_text(
        "<rss version='2.0'><channel><title>t</title><link>https://t.example/</link><description>d</description>"
        "<item><title>Good</title><link>https://t.example/1</link></item><item></item></channel></rss>"
    )
    project.write_config({"some-bad": str(feed)})
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 1
    out = capsys.readouterr().out
    assert (
        "some-bad: PARTLY FAILED: 1 entries: 1 new, 0 changed (1 dropped: item 2: nothing to publish" in out
    )
    assert main(["--config", config, "status"]) == 0  # the source itself is fine
    out = capsys.readouterr().out
    assert "some-bad: 1 item of its last document dropped:\n    item 2: nothing to publish" in out


def test_a_truncated_document_partly_failed_and_still_does(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its good entries are stored; the same bytes polled again are still that document."""
    feed = project.root / "cut.xml"
    feed.write_bytes(SAMPLE.read_bytes()[:-400])  # the end of the document is missing
    project.write_config({"cut": str(feed)})
    config = str(project.config)
    assert main(["--config", config, "poll", "--force"]) == 1
    first = capsys.readouterr().out
    assert "cut: PARTLY FAILED: " in first and "entries:" in first
    assert main(["--config", config, "poll", "--force"]) == 1
    assert "cut: PARTLY FAILED: unchanged, still: " in capsys.readouterr().out


def test_check_warns_of_a_source_file_that_is_not_there(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_config({"later": str(project.root / "later.xml"), "guardian-uighurs": str(SAMPLE)})
    assert main(["--config", str(project.config), "check"]) == 0
    out = capsys.readouterr().out
    assert f"warning: {project.config}: source 'later': no file at {project.root / 'later.xml'} (yet)" in out
    assert "guardian-uighurs" not in out


def test_explain_by_title_fragment(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "explain", "extradition treaty"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Pressure on Turkey to protect Uighurs as China ratifies extradition treaty\n")
    assert "diplomacy: ROUTED" in out and "matched 'treaty' in title" in out
    assert "forced-labour: not routed" in out and "missing (no `any` term matched)" in out

    assert main(["--config", config, "explain", "china"]) == 1
    err = capsys.readouterr().err
    assert "stored entries have a title containing 'china'" in err

    assert main(["--config", config, "explain", "no such story"]) == 1


def test_explain_names_the_exclusion(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    (project.rules / "no-olympics.toml").write_text(
        'title = "N"\n[match]\nany = ["boycott*"]\nnone = ["olympic*"]\n', encoding="utf-8"
    )
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "explain", "British Olympians"]) == 0
    out = capsys.readouterr().out
    assert "no-olympics: not routed" in out
    assert "matched 'boycott*' in title" in out
    assert "excluded by 'olympic*' in summary: …to boycott next year’s Winter Olympics" in out


def test_progress_bar_only_for_long_reroutes(capsys: pytest.CaptureFixture[str]) -> None:
    from republisher.cli import _progress_bar

    _progress_bar(10, 100)
    assert capsys.readouterr().err == ""
    _progress_bar(2500, 5000)
    _progress_bar(5000, 5000)
    err = capsys.readouterr().err
    assert "\r[####################....................] 2500/5000" in err
    assert err.endswith("] 5000/5000\n")


def test_an_unwritable_output_dir_is_one_line_not_a_traceback(project: Project) -> None:
    (project.root / "blocker").write_text("a file where the output folder should be")
    project.write_config({"guardian-uighurs": str(SAMPLE)}, extra='output_dir = "blocker/public"')
    result = run(project, "poll")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "blocker" in result.stderr


def test_config_is_accepted_after_the_command(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    assert main(["poll", "--config", str(project.config)]) == 0
    assert main(["status", "--config", str(project.config)]) == 0
    assert "guardian-uighurs" in capsys.readouterr().out


def test_status_exits_1_while_a_source_fails_and_says_its_zone(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_config({"broken": str(project.root / "missing.xml"), "guardian-uighurs": str(SAMPLE)})
    config = str(project.config)
    main(["--config", config, "poll"])
    capsys.readouterr()
    assert main(["--config", config, "status"]) == 1
    out = capsys.readouterr().out
    assert "LAST POLL (UTC)" in out and "FAILING" in out
    # Fixed: the source recovers, status is healthy again.
    (project.root / "missing.xml").write_bytes(SAMPLE.read_bytes())
    assert main(["--config", config, "poll", "--force"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "status"]) == 0
    # Sources read from files show no HTTP status in the HTTP column.
    rows = [
        line.split()
        for line in capsys.readouterr().out.splitlines()
        if line.startswith(("broken", "guardian"))
    ]
    assert [row[:2] for row in rows[:2]] == [["broken", "file"], ["guardian-uighurs", "file"]]


def test_status_says_when_a_rule_file_is_broken_and_exits_1(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    capsys.readouterr()
    broken = project.rules / "broken.toml"
    assert main(["--config", config, "status", "--json"]) == 0
    healthy = json.loads(capsys.readouterr().out)
    assert healthy["healthy"] and healthy["rules_error"] is None
    in_feed = {feed["slug"]: feed["stories_in_feed"] for feed in healthy["feeds"]}
    assert any(in_feed.values())
    broken.write_text(
        'slug = "broken"\ntitle = "Broken"\n[[match]]\nregex = ["(unclosed"]\n', encoding="utf-8"
    )
    assert main(["--config", config, "status"]) == 1
    captured = capsys.readouterr()
    assert "guardian-uighurs" in captured.out  # the sources are still reported
    assert captured.err.startswith("rules: broken, polls refuse to run until fixed")
    lines = captured.err.splitlines()[1:]
    assert lines and all(line.startswith("    ") for line in lines)  # each problem on its own line
    assert "broken.toml" in captured.err
    # The JSON says so too, for a monitor that reads it rather than the exit code, and the
    # feeds are counted as published (their files are still there), not as empty.
    assert main(["--config", config, "status", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["healthy"] is False and "broken.toml" in document["rules_error"]
    assert {feed["slug"]: feed["stories_in_feed"] for feed in document["feeds"]} == in_feed
    broken.unlink()
    assert main(["--config", config, "status"]) == 0


def test_status_json_is_one_document_for_monitoring(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    project.write_config({"broken": "http://alice:s3cret@127.0.0.1:9/rss", "guardian-uighurs": str(SAMPLE)})
    config = str(project.config)
    main(["--config", config, "poll"])
    capsys.readouterr()
    assert main(["--config", config, "status", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["healthy"] is False
    broken = next(s for s in document["sources"] if s["name"] == "broken")
    assert broken["state"] == "failing" and broken["consecutive_errors"] == 1
    assert broken["url"] == "http://alice:***@127.0.0.1:9/rss"  # the password never shows
    assert broken["last_poll"].endswith("+00:00")
    diplomacy = next(f for f in document["feeds"] if f["slug"] == "diplomacy")
    assert diplomacy["stories_in_feed"] == 8 and diplomacy["routed_entries"] == 8


def test_route_with_an_unknown_source_is_a_usage_error(project: Project) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    result = run(project, "route", str(SAMPLE), "--source", "nope")
    assert result.returncode == 2 and "no source named 'nope'" in result.stderr


def test_missing_config_says_how_to_name_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REPUBLISHER_CONFIG", raising=False)
    result = subprocess.run(
        [sys.executable, "-m", "republisher.cli", "status"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "config.toml: config file not found" in result.stderr
    assert "--config" in result.stderr and "$REPUBLISHER_CONFIG" in result.stderr


@pytest.mark.parametrize(
    "command", ["poll", "run", "serve", "check", "route", "explain", "reroute", "status"]
)
def test_every_command_help_says_what_it_does(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "republisher.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    description = result.stdout.split("\n\n")[1]
    assert len(description.split()) >= 8, f"{command} --help has no description"


@pytest.mark.parametrize("command", [["status"], ["route", str(SAMPLE)], ["check"]])
def test_output_into_a_reader_that_stops_early_ends_quietly(project: Project, command: list[str]) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    subprocess.run(
        [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "poll"], timeout=120
    )
    cli = [sys.executable, "-m", "republisher.cli", "--config", str(project.config), *command]
    # `| head -c 1` closes the pipe after one byte, long before the command is done printing.
    result = subprocess.run(
        " ".join(f"'{part}'" for part in cli) + " | head -c 1 >/dev/null; echo ${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stderr == ""
    assert result.stdout.strip() in ("0", "1")  # the command's own verdict, not a crash


def test_a_second_poll_says_it_waits_for_the_first(project: Project) -> None:
    import fcntl

    project.write_config({"guardian-uighurs": str(SAMPLE)})
    state = project.root / "state"
    state.mkdir()
    with (state / "poll.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        poll = subprocess.Popen(
            [sys.executable, "-m", "republisher.cli", "--config", str(project.config), "poll"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert poll.stderr is not None
        first_line = poll.stderr.readline()  # blocks until the poll says something
        assert "waiting for it to finish" in first_line
        assert poll.poll() is None, "the second poll waits while the first holds the lock"
    assert poll.wait(timeout=120) == 0


def test_review_and_suggest_read_the_store_for_a_rules_editor(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    config = str(project.config)
    assert main(["--config", config, "poll"]) == 0
    capsys.readouterr()
    state = sorted(p.name for p in (project.root / "state").iterdir())
    assert main(["--config", config, "review", "diplomacy", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "Likely misses" in out and "Doubtful members" in out
    assert main(["--config", config, "suggest", "diplomacy"]) == 0
    out = capsys.readouterr().out
    assert "z" in out and "in the rule" in out
    assert sorted(p.name for p in (project.root / "state").iterdir()) == state, "read-only"
    assert main(["--config", config, "review", "nope"]) == 2
    assert "no derived feed named 'nope'" in capsys.readouterr().err


LOADED = """
import sys
from republisher.cli import main
code = main(sys.argv[1:])
rare = {"uuid", "platform", "re2", "multiprocessing.connection", "html.parser", "feedparser", "lxml", "nh3"}
print(code, sorted(rare & set(sys.modules)))
"""


def test_a_poll_with_nothing_to_parse_loads_only_what_it_uses(project: Project) -> None:
    """Every command pays for what it imports: a poll whose sources are unchanged loads no
    parser, no sanitizer, no regex engine for rules without regexes, no worker pipes."""
    feed = project.root / "feed.xml"
    feed.write_bytes(SAMPLE.read_bytes())
    project.write_config({"guardian-uighurs": str(feed)})
    assert main(["--config", str(project.config), "poll"]) == 0
    args = ["--config", str(project.config), "poll", "--force"]
    run = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "0 []"


def test_route_names_the_items_a_poll_would_drop(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://t.example/</link>'
        "<item><title>Camps and surveillance</title><link>https://t.example/1</link></item>"
        "<item></item></channel></rss>",
        encoding="utf-8",
    )
    assert main(["--config", str(project.config), "route", str(feed)]) == 0
    captured = capsys.readouterr()
    assert "Camps and surveillance" in captured.out
    assert f"{feed}: dropped: item 2: nothing to publish" in captured.err
