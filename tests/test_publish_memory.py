"""What a publish holds in memory, and what a poll with nothing to publish loads: SQLite's
page cache is small while a publish reads and restored after it, title tokens are compact
and sort as before, and deciding whether to publish loads no rendering module."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from republisher.publish import stories
from republisher.store import store as store_module
from republisher.store.store import Store


def cache_size(store: Store) -> int:
    value: int = store.db.execute("PRAGMA cache_size").fetchone()[0]
    return value


def test_small_cache_while_reading_then_the_usual_one_again(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert cache_size(store) == -store_module.CACHE_KB
        with store.small_cache():
            assert cache_size(store) == -store_module.READ_CACHE_KB
        assert cache_size(store) == -store_module.CACHE_KB
        with pytest.raises(RuntimeError), store.small_cache():
            raise RuntimeError("a publish that fails")
        assert cache_size(store) == -store_module.CACHE_KB


def project(folder: Path) -> Path:
    """A config with one source and one rule, in `folder`; its path."""
    rules_dir = folder / "rules"
    rules_dir.mkdir()
    (rules_dir / "all.toml").write_text('title = "All"\n[match]\nany = ["news"]\n')
    config_path = folder / "config.toml"
    config_path.write_text(
        'base_url = "https://example.org/"\noutput_dir = "public"\nstate_dir = "state"\n'
        'rules_dir = "rules"\n\n[[sources]]\nname = "a"\nurl = "https://a.example/feed.xml"\n'
    )
    return config_path


def test_publish_reads_with_the_small_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from republisher.config import load_config
    from republisher.publish import publisher, render
    from republisher.routing.rules import load_rules

    config = load_config(project(tmp_path))
    rules = load_rules(config.rules_dir, ["a"])
    seen: list[int] = []
    real = render.render_feeds

    def spying(store: Store, *args: Any, **kwargs: Any) -> Any:
        seen.append(cache_size(store))
        return real(store, *args, **kwargs)

    monkeypatch.setattr(render, "render_feeds", spying)
    with Store.open(config.state_dir) as store:
        written, _ = publisher.publish(store, config, rules, datetime(2024, 1, 1, tzinfo=UTC))
        assert cache_size(store) == -store_module.CACHE_KB
    assert seen == [-store_module.READ_CACHE_KB]
    assert "all.atom" in written


WARM = """
import sys
from pathlib import Path
from republisher.config import load_config
from republisher.publish import publisher
from republisher.routing.rules import load_rules
from republisher.store.store import Store

config = load_config(Path(sys.argv[1]))
with Store.open(config.state_dir) as store:
    print(publisher.publish_due(store, config, load_rules(config.rules_dir, ["a"])))
heavy = {"feedgen", "lxml", "nh3", "dateutil", "republisher.publish.render", "republisher.publish.atom",
         "republisher.publish.pages", "republisher.publish.site", "republisher.publish.public"}
print(sorted(heavy & set(sys.modules)))
print(publisher._code_fingerprint.cache_info().currsize)
print(publisher.FeedContent.__name__, publisher.MERGE_LOOKAHEAD > 0)
try:
    publisher.no_such_name
except AttributeError:
    print("AttributeError")
"""


def test_deciding_to_publish_loads_no_rendering_module(tmp_path: Path) -> None:
    """A warm poll only asks publish_due: the rendering libraries and modules stay unloaded,
    and the program's code is not read; what other modules use from publisher still is."""
    config = project(tmp_path)
    run = subprocess.run([sys.executable, "-c", WARM, str(config)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:5] == ["True", "[]", "0", "FeedContent True", "AttributeError"]


# Words that are prefixes of one another, digits, repeats: where string order and
# (word, occurrence) order could part.
WORDS = st.sampled_from(["a", "ab", "a1", "b", "ba", "z", "zz", "9", "é", "eu", "china", "chinas"])


@given(st.lists(WORDS, min_size=4, max_size=40))
def test_tokens_sort_as_word_and_occurrence_pairs(words: list[str]) -> None:
    title = " ".join(words)
    got_words, ordered = stories._title_tokens(title)
    seen: Counter[str] = Counter()
    pairs = []
    for word in got_words:
        seen[word] += 1
        pairs.append((word, seen[word]))
    assert len(set(ordered)) == len(ordered) == len(pairs)
    # The same order as the (word, occurrence) pairs, token for token.
    as_pairs = {
        token: (token.partition("\x00")[0], ord(token.partition("\x00")[2] or "\x01")) for token in ordered
    }
    assert [as_pairs[token] for token in ordered] == sorted(pairs)
