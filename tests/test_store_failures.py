"""A damaged store file or a full disk is a clear StoreError naming the file, and loses nothing stored."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Project

from republisher.errors import StoreError
from republisher.models import EntryData, SourceMeta, SourceState, StoredEntry
from republisher.store import DB_NAME, EntryWrite, Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ORIGIN = SourceMeta(
    title="S", id="https://s.example/", self_url="https://s.example/rss", link=None, updated=None
)
DAMAGED = "the store is damaged ({}): restore it from a backup or move it away to start afresh"


def writes(keys: range, summary: str = "<p>x</p>") -> list[EntryWrite]:
    return [
        EntryWrite(
            StoredEntry(
                "src",
                f"k{n}",
                f"urn:k{n}",
                NOW,
                NOW,
                EntryData(guid=f"k{n}", title=f"T{n}", link=None, summary=summary, content=None, author=None),
                ORIGIN,
            ),
            "h",
            ("feed",),
        )
        for n in keys
    ]


def filled_store(state: Path, count: int = 300) -> Path:
    """A store of `count` entries, closed (its WAL folded into the file); returns the file."""
    with Store.open(state) as store, store.transaction():
        store.put_entries(writes(range(count), summary="<p>" + "words " * 200 + "</p>"))
    path = state / DB_NAME
    assert not path.with_name(DB_NAME + "-wal").exists()
    return path


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def garbage_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"\0not sqlite\0" * 8)


def truncated_to_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def truncated_to_100_bytes(path: Path) -> None:
    os.truncate(path, 100)


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (garbage, "file is not a database"),
        (garbage_header, "file is not a database"),
        (truncated_to_half, "database disk image is malformed"),
        (truncated_to_100_bytes, "database disk image is malformed"),
    ],
)
def test_a_damaged_store_file_is_refused_with_advice(
    tmp_path: Path, damage: Callable[[Path], None], detail: str
) -> None:
    path = filled_store(tmp_path)
    damage(path)
    with pytest.raises(StoreError) as failure:
        Store.open(tmp_path)
    assert str(failure.value) == f"{path}: " + DAMAGED.format(detail)


def test_damage_found_by_a_later_query_is_the_same_clear_error(tmp_path: Path) -> None:
    path = filled_store(tmp_path)
    with sqlite3.connect(path) as db:
        root: int = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'entries'").fetchone()[0]
        page_size: int = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as f:  # the header and schema are intact; the entries table is not
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)
    with Store.open(tmp_path) as store:
        for read in (
            store.all_entries,
            lambda: store.feed_entries("feed", 10),
            lambda: store.content_hashes("src"),
        ):
            with pytest.raises(StoreError) as failure:
                read()
            assert str(failure.value) == f"{path}: " + DAMAGED.format("database disk image is malformed")


def test_the_command_line_names_the_damaged_store(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from republisher.cli import main

    project.write_config({"s": "https://s.example/rss"})
    state = project.root / "state"
    state.mkdir()
    (state / DB_NAME).write_bytes(b"garbage " * 4096)
    for command in ("status", "poll"):
        assert main(["--config", str(project.config), command]) == 1
        err = capsys.readouterr().err
        assert f"{state / DB_NAME}: " + DAMAGED.format("file is not a database") in err
        assert "unexpected" not in err


def full_disk(store: Store) -> None:
    """No page may be added to the file from now on, as on a disk with no space left."""
    pages: int = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda store: store.put_entries(writes(range(100, 400))), id="entries"),
        pytest.param(
            lambda store: store.put_source_state(
                SourceState(name="s", url="https://s.example/", dropped=("x" * 9000,) * 10)
            ),
            id="source state",
        ),
        pytest.param(lambda store: store.set_meta("k", "v" * 90_000), id="meta"),
    ],
)
def test_a_full_disk_is_a_clear_error_and_keeps_what_was_stored(
    tmp_path: Path, write: Callable[[Store], object]
) -> None:
    with Store.open(tmp_path) as store:
        with store.transaction():
            store.put_entries(writes(range(3)))
        full_disk(store)
        with pytest.raises(StoreError) as failure, store.transaction():
            store.set_meta("first", "written")  # fits: the transaction is half done when the disk fills
            write(store)
        message = str(failure.value)
        assert message.startswith(f"{tmp_path / DB_NAME}: disk full (database or disk is full)"), message
        assert "rollback" not in message
        assert not store.db.in_transaction
        assert store.entry_count() == 3 and store.get_meta("first") is None, "all of it or nothing"
        store.db.execute("PRAGMA max_page_count = 1073741823")  # space freed: the next poll goes on
        with store.transaction():
            store.set_meta("first", "written")
            write(store)
        assert store.get_meta("first") == "written"


def test_a_commit_that_fails_is_rolled_back_and_reported(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        # A deferred constraint fails at COMMIT and, unlike a full disk, leaves the
        # transaction open: it must be rolled back, not left to swallow the next one.
        store.db.executescript(
            "CREATE TEMP TABLE parent (id PRIMARY KEY);"
            "CREATE TEMP TABLE child (id REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
        )
        with (
            pytest.raises(StoreError, match="cannot commit: FOREIGN KEY constraint failed"),
            store.transaction(),
        ):
            store.put_entries(writes(range(2)))
            store.db.execute("INSERT INTO temp.child VALUES (1)")
        assert not store.db.in_transaction
        assert store.entry_count() == 0
        with store.transaction():
            store.put_entries(writes(range(2)))
        assert store.entry_count() == 2


def test_a_write_that_fails_at_commit_loses_nothing_committed(tmp_path: Path) -> None:
    """The disk fills while SQLite appends the transaction to its log at COMMIT (a file size
    limit, in a child process, stands in for the full disk)."""
    filled_store(tmp_path, count=5)
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store_failures import writes
        from republisher.errors import StoreError
        from republisher.store import Store

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        with Store.open(Path({str(tmp_path)!r})) as store:
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
            try:
                with store.transaction():
                    store.put_entries(writes(range(100, 400), summary="<p>" + "many words " * 100 + "</p>"))
            except StoreError as e:
                print(e)
                sys.exit(3)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert child.returncode == 3, child.stderr
    message = child.stdout.strip()
    assert message.startswith(f"{tmp_path / DB_NAME}: "), message
    assert "disk full" in message or "cannot read or write the store file (disk I/O error)" in message, (
        message
    )
    assert "rollback" not in message
    with Store.open(tmp_path) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.entry_count() == 5
        with store.transaction():
            store.put_entries(writes(range(5, 7)))
        assert store.entry_count() == 7


def test_a_new_store_is_readable_by_its_user_only(tmp_path: Path) -> None:
    """Source URLs, which may carry a password, live in the store: whatever the umask."""
    old_umask = os.umask(0o022)
    try:
        with Store.open(tmp_path / "state") as store:
            store.set_meta("k", "v")  # a write: the -wal file exists now
            files = [p for p in (tmp_path / "state").iterdir() if p.name.startswith(DB_NAME)]
            assert {p.name for p in files} >= {DB_NAME, f"{DB_NAME}-wal"}
            assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [
                (p.name, oct(p.stat().st_mode)) for p in files
            ]
    finally:
        os.umask(old_umask)


def test_an_existing_store_keeps_the_mode_its_operator_gave_it(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        store.set_meta("k", "v")
    (tmp_path / DB_NAME).chmod(0o640)
    with Store.open(tmp_path) as store:
        assert store.get_meta("k") == "v"
    assert stat.S_IMODE((tmp_path / DB_NAME).stat().st_mode) == 0o640
