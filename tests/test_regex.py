"""Rule regexes: linear time whatever the pattern, Python's meaning kept, clear refusals."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from republisher.errors import ConfigError
from republisher.routing.regex import Pattern
from republisher.routing.rules import load_rules

# Patterns that make a backtracking engine take exponential time on a near miss, each
# with such a text (Python's `re` needs 2**40 steps or more) and a text it matches.
CATASTROPHIC: dict[str, tuple[str, str, str]] = {
    "nested plus": ("(a+)+$", "a" * 40 + "!", "aaaa"),
    "alternation of the same letter": ("(a|a)*b", "a" * 40 + "!", "aab"),
    "nested star": ("(a*)*b", "a" * 40 + "!", "aab"),
    "words and optional spaces": (r"(\w+\s?)+$", "word " * 12 + "a" * 30 + "!", "two words"),
    "overlapping alternatives": ("(a|aa)+$", "a" * 60 + "!", "aaa"),
    "email-like": (r"^([a-z0-9]+\.?)+@", "a" * 40 + "!", "a.b@"),
}

_ROUTE_IN_A_CHILD = """
import pickle, sys
from pathlib import Path
from republisher.models import EntryData
from republisher.routing.match import Item, judge_all
from republisher.routing.router import Router
from republisher.routing.rules import load_rules

rules = load_rules(Path(sys.argv[1]))
shipped = pickle.loads(pickle.dumps(rules))  # as parse workers receive them
for text in sys.argv[2:]:
    entry = EntryData(guid=None, title=text, link=None, summary=text, content=None, author=None)
    item = Item.from_entry(entry, "s")
    judged = sorted(v.slug for v in judge_all(rules.rules, item) if v.routed)
    routed = sorted(Router(shipped.rules).route(item))
    assert judged == routed, (text, judged, routed)
    print(",".join(routed))
"""


def test_catastrophic_patterns_route_in_linear_time(tmp_path: Path) -> None:
    """Before RE2 this child never finished: one title held the poll for ever."""
    folder = tmp_path / "rules"
    folder.mkdir()
    for n, (pattern, _, _) in enumerate(CATASTROPHIC.values()):
        toml_pattern = pattern.replace("\\", "\\\\")
        (folder / f"r{n}.toml").write_text(f'title = "R{n}"\n[match]\nany = ["/{toml_pattern}/"]\n')
    texts = [miss for _, miss, _ in CATASTROPHIC.values()] + ["aaab", "A" * 100_000 + "!"]
    try:
        result = subprocess.run(
            [sys.executable, "-c", _ROUTE_IN_A_CHILD, str(folder), *texts],
            capture_output=True,
            text=True,
            timeout=120,  # generous: the whole run takes well under a second
        )
    except subprocess.TimeoutExpired:
        pytest.fail("routing did not finish: a rule regex backtracked exponentially")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Each near-miss is still judged right: the `$` patterns cannot match before "!".
    assert lines[: len(CATASTROPHIC)] == [""] * len(CATASTROPHIC)  # near misses, judged right
    assert lines[-2] == "r1,r2,r3"  # "aaab"
    assert lines[-1] == ""


@pytest.mark.parametrize(("pattern", "miss", "hit"), CATASTROPHIC.values(), ids=CATASTROPHIC.keys())
def test_catastrophic_pattern_compiles_and_answers(pattern: str, miss: str, hit: str) -> None:
    assert Pattern(pattern).search(miss) is None
    assert Pattern(pattern).search(hit) is not None


# (pattern as written, text, whether it matches): Python's meaning kept under RE2
SEMANTICS: dict[str, tuple[str, str, bool]] = {
    "case-insensitive": ("uyghur", "UYGHUR families", True),
    "case-insensitive accented": ("ÉCOLE", "une école", True),
    "class": ("u[iy]ghurs?", "Uyghurs in Turkey", True),
    "\\w takes accented letters": (r"caf\w", "café", True),
    "\\w takes Cyrillic": (r"^\w+$", "путин", True),
    "\\w inside a class": (r"^[\w-]+$", "facial-récognition", True),
    "\\W is not a letter": (r"caf\W", "café", False),
    "\\d takes other digits": (r"^\d+$", "١٢٣", True),
    "\\D": (r"^\D+$", "abc", True),
    "\\s takes a no-break space": (r"a\sb", "a\u00a0b", True),
    "\\S": (r"^\S+$", "a\u2003b", False),
    "\\Z is the end": (r"ban\Z", "import ban", True),
    "\\Z not before the end": (r"ban\Z", "bans", False),
    "\\u escape": (r"caf\u00e9", "CAFÉ", True),
    "\\U escape": (r"\U0001F600", "smile 😀", True),
    "escaped backslash then w": (r"a\\w", "a\\w", True),
    "] first in a class is a literal": (r"[]x]", "]", True),
    "POSIX class inside a class": (r"^[[:digit:]\w]+$", "a1é", True),
    "named group": (r"(?P<word>cotton)", "Cotton", True),
    "dot does not take a newline": ("a.b", "a\nb", False),
}


@pytest.mark.parametrize(("pattern", "text", "matches"), SEMANTICS.values(), ids=SEMANTICS.keys())
def test_python_semantics_are_kept(pattern: str, text: str, matches: bool) -> None:
    assert (Pattern(pattern).search(text) is not None) is matches
    if "[:" not in pattern:  # RE2-only syntax; everything else agrees with Python's re
        assert (re.search(pattern, text, re.IGNORECASE) is not None) is matches


def test_perl_classes_are_unicode_like_pythons() -> None:
    """\\w, \\d and \\s take the characters Python's take, over every assigned BMP character."""
    chars = [
        chr(c)
        for c in range(0x10000)
        if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn" and c != 0x345
    ]  # U+0345 case-folds to a Greek letter: the one difference under case-insensitivity
    for escape in ("w", "W", "d", "D", "s", "S"):
        python = re.compile("\\" + escape, re.IGNORECASE)
        ours = Pattern("\\" + escape)
        differ = [c for c in chars if (python.match(c) is None) != (ours.search(c) is None)]
        assert differ == [], f"\\{escape} differs on {[hex(ord(c)) for c in differ[:10]]}"


def test_span_is_in_characters() -> None:
    assert Pattern("camp").search("Uíghur camps") == (7, 11)


def test_text_with_a_lone_surrogate_is_searched() -> None:
    assert Pattern("cotton").search("\ud800 cotton") == (2, 8)


def test_pattern_pickles_as_its_source() -> None:
    pattern = Pattern(r"u[iy]ghur\w*")
    again = pickle.loads(pickle.dumps(pattern))
    assert again == pattern
    assert again.search("UYGHURS") == (0, 7)


# (term as written in TOML, start of the problem after "match.any[0]: bad regex: ")
REFUSED: dict[str, tuple[str, str]] = {
    "backreference": (r"(a)\\1", "backreferences are not supported"),
    "named backreference": (r"(?P<x>a)(?P=x)", "backreferences are not supported"),
    "lookahead": (r"(?=x)y", "lookahead"),
    "negative lookahead": (r"(?!x)y", "lookahead"),
    "lookbehind": (r"(?<=x)y", "lookbehind"),
    "negative lookbehind": (r"(?<!x)y", "lookbehind"),
    "word boundary": (r"\\bcaf\\b", "\\b is not supported"),
    "not a word boundary": (r"\\Bcaf", "\\B is not supported"),
    "negated class inside a class": (r"[\\Wx]", "\\W inside [...] is not supported"),
    "possessive": ("a++", "bad repetition operator"),
    "too large": ("((a{100}){100}){100}", "invalid repetition size"),
    "unclosed": ("(a", "missing )"),
}


@pytest.mark.parametrize(("term", "expected"), REFUSED.values(), ids=REFUSED.keys())
def test_patterns_re2_cannot_run_are_located_errors(tmp_path: Path, term: str, expected: str) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    path = folder / "feed.toml"
    path.write_text(f'title = "T"\n[match]\nany = ["ok", "/{term}/"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(folder)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: match.any[1]: bad regex: {expected}"), problem
    assert problem.endswith("(line 3)")
