"""Word splitting: the fast paths of text.words/word_list/word_string split exactly as the
plain definition does (runs of letters and digits of the folded text, texts kept apart by
BOUNDARY), on ASCII, accented, non-Latin and separator-heavy text alike."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from republisher import text

_WORD = re.compile(r"[^\W_]+")


def reference_words(value: str) -> list[str]:
    return _WORD.findall(text.fold(value))


def reference_word_list(texts: list[str]) -> list[str]:
    joined: list[str] = []
    for i, part in enumerate(texts):
        if i:
            joined.append(text.BOUNDARY)
        joined.extend(reference_words(part))
    return joined


# Characters that stress each path: ASCII separators (BOUNDARY itself among them), the byte
# the ASCII path joins texts with, Latin-1 letters and separators, combining marks, ß,
# General Punctuation (some decomposing into several characters or a combining mark),
# fractions and superscripts (digits), Greek, CJK, other scripts' digits, "_", controls.
ALPHABET = st.sampled_from(
    [
        *"aZ09 _-|,.'\t\n\x00\x1c\x7f\xff\xa0\xe9\xc9\xdf\u0301\u2019\u2013\u2003\u3000",
        *"\u03a3\u03c2\u6f22\u0661\ufb01\u212a\u0130",
        *"\u201c\u201d\u2026\u2033\u00a8\u00b4\u00b8\u00bd\u00b2",  # quotes; separators that decompose
    ]
)
TEXTS = st.text(ALPHABET, max_size=30) | st.text(max_size=30)


@settings(max_examples=500)
@given(value=TEXTS)
def test_words_are_runs_of_letters_and_digits_of_the_folded_text(value: str) -> None:
    assert text.words(value) == reference_words(value)


@settings(max_examples=500)
@given(texts=st.lists(TEXTS, max_size=4))
def test_texts_are_kept_apart_by_the_boundary(texts: list[str]) -> None:
    expected = reference_word_list(texts)
    assert text.word_list(texts) == expected
    assert text.word_string(texts) == " " + " ".join(expected) + " "


def test_the_boundary_is_never_a_word_of_a_text() -> None:
    # "|" in a text separates like any punctuation, and the byte the ASCII path joins texts
    # with is a letter in a text (ÿ folds to y); only the join of two texts yields BOUNDARY.
    assert text.words("facial|recognition") == ["facial", "recognition"]
    assert text.word_list(["a|b", "c\xffd"]) == ["a", "b", "|", "cyd"]
    assert text.word_list(["Facial", "RECOGNITION"]) == ["facial", "|", "recognition"]
    assert text.word_string(["Caf\u00e9", "na\u00efve x"]) == " cafe | naive x "


def test_every_character_near_the_fast_paths_splits_as_defined() -> None:
    # Each character of the ranges the separator table covers, among ASCII letters and
    # beside an accented letter (which takes the full folding path).
    for code in [*range(0x100), *range(0x2000, 0x2070), 0x3000]:
        char = chr(code)
        for value in (f"Ab{char}cd", f"{char}x{char}", f"\u00c9{char}x"):
            assert text.words(value) == reference_words(value), hex(code)
            assert text.word_list([value, "q"]) == reference_word_list([value, "q"]), hex(code)


def test_curly_quotes_and_dashes_take_the_fast_path_without_changing_the_words() -> None:
    assert text.words("China\u2019s \u201cre-education\u201d camps \u2013 and more") == [
        "china",
        "s",
        "re",
        "education",
        "camps",
        "and",
        "more",
    ]
    # A combining mark written apart is dropped by folding, as a precomposed one is, whatever
    # else the text holds; quotes must not change that.
    assert text.words("cafe\u0301s\u2019 x") == reference_words("cafe\u0301s\u2019 x") == ["cafes", "x"]
    assert (
        text.words("cafe\u0301s\u2019 \u00e9")
        == reference_words("cafe\u0301s\u2019 \u00e9")
        == ["cafes", "e"]
    )
