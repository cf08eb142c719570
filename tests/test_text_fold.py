"""republisher.text.fold: the combining-mark table is built lazily and is exactly the
table a scan of every code point gives."""

from __future__ import annotations

import subprocess
import sys
import unicodedata

from republisher import text


def test_the_combining_table_equals_a_scan_of_every_code_point() -> None:
    full = {c: None for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}
    assert text._combining() == full


def test_importing_text_does_not_build_the_table() -> None:
    code = (
        "from republisher import text\n"
        "assert text._combining.cache_info().currsize == 0\n"
        "assert text.fold('Ab-c') == 'ab-c' and text._combining.cache_info().currsize == 0\n"
        "assert text.fold('Çafé Ṩ') == 'cafe s'\n"
        "assert text._combining.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fold_drops_marks_from_every_plane_that_has_them() -> None:
    # É decomposes to E + U+0301 (plane 0); the musical half note U+1D15E to U+1D157 +
    # U+1D165 (plane 1); Ǆ to D Z + U+030C.
    assert text.fold("Été \U0001d15e") == "ete \U0001d157"
    assert text.fold("Ǆ ǅ Å ẞ") == "dz dz a ss"


def test_accents_typed_as_separate_marks_fold_like_precomposed_ones() -> None:
    """Text written decomposed (NFD: "e" then U+0301, as some systems send it) folds to
    the same words as the precomposed "é", so a rule for "café" matches either."""
    from republisher.text import fold

    assert fold("Cafe\u0301") == fold("Caf\u00e9") == "cafe"
    assert fold("U\u0308ru\u0308mqi\u0308") == fold("\u00dcr\u00fcmqi") == "urumqi"
