"""Rule regexes, compiled with RE2: matching time is linear in the text, whatever the pattern.

Python's `re` backtracks, so one rule such as `/(a+)+$/` could take 2**40 steps on a
40-letter title and hang a poll. RE2 never backtracks; it refuses the features that
need to (backreferences, lookaround), and `check` reports them as bad regexes.
This is the one module that imports re2.

Rule regexes are written in Python's syntax and run on text in any script, so a few
escapes are translated to keep Python's meaning: `\\w`, `\\d` and `\\s` are Unicode classes
(RE2's are ASCII-only), `\\Z` is RE2's `\\z`, and `\\uXXXX`/`\\UXXXXXXXX` are code points.
`\\b` and `\\B` are refused: RE2 knows only ASCII word boundaries, so `/\\bпутин\\b/`
would never match and `/\\bcaf\\b/` would match "café". Phrases are the whole-word terms.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# Python's \w is str.isalnum() or "_": Unicode letters and numbers.
_WORD = r"\p{L}\p{N}_"
_DIGIT = r"\p{Nd}"
# Python's \s is str.isspace().
_SPACE = r"\t\n\x0b\f\r\x1c-\x20\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_OUTSIDE = {
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "d": _DIGIT,
    "D": r"\P{Nd}",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",
}
_INSIDE = {"w": _WORD, "d": _DIGIT, "D": r"\P{Nd}", "s": _SPACE, "b": r"\x08"}
_HEX = re.compile(r"u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}")

# RE2's wording for the features it refuses, and what to tell the rule's author.
_UNSUPPORTED = (
    ("invalid perl operator: (?=", "lookahead (?=...) is not supported"),
    ("invalid perl operator: (?!", "lookahead (?!...) is not supported"),
    ("invalid perl operator: (?<", "lookbehind (?<=...) is not supported"),
    ("invalid perl operator: (?P", "backreferences are not supported"),
    *((f"invalid escape sequence: \\{n}", "backreferences are not supported") for n in range(1, 10)),
)


def _translate(body: str) -> str:
    """Python regex syntax -> RE2 syntax with the same meaning. Raises ValueError."""
    out: list[str] = []
    i = 0
    in_class = False
    class_start = 0  # index of the class's first member: a "]" there is a literal
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            escape = body[i + 1]
            table = _INSIDE if in_class else _OUTSIDE
            hexcode = _HEX.match(body, i + 1)
            if hexcode:
                out.append(f"\\x{{{hexcode.group()[1:]}}}")
                i = hexcode.end()
                continue
            if escape in table:
                out.append(table[escape])
            elif escape in "bB":
                raise ValueError(
                    f"\\{escape} is not supported (RE2's word boundaries are ASCII-only, wrong for"
                    " accented or non-Latin words): for whole words use a phrase term,"
                    " or write (?:^|\\W)word(?:\\W|$)"
                )
            elif in_class and escape in "WS":
                raise ValueError(f"\\{escape} inside [...] is not supported: write a [^...] class instead")
            else:
                out.append(body[i : i + 2])
            i += 2
            continue
        if in_class and c == "[" and body.startswith("[:", i):
            end = body.find(":]", i + 2)  # a POSIX class such as [:alpha:], copied whole
            if end != -1:
                out.append(body[i : end + 2])
                i = end + 2
                continue
        if not in_class and c == "[":
            in_class = True
            class_start = i + 2 if body.startswith("[^", i) else i + 1
        elif in_class and c == "]" and i != class_start:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


# re2 is imported with the first rule regex compiled: most rule sets have none, and every
# command would pay for the import.
@functools.cache
def _options() -> Any:
    import re2  # type: ignore[import-untyped]

    options = re2.Options()
    options.case_sensitive = False  # rule regexes are case-insensitive, like phrases
    options.log_errors = False  # a bad pattern is reported by `check`, not on stderr
    return options


class Pattern:
    """A compiled, case-insensitive rule regex. Pickles as its source (parse workers)."""

    __slots__ = ("_regexp", "source")

    def __init__(self, source: str) -> None:
        """Compile `source` (Python syntax, without the slashes); ValueError says why not."""
        import re2

        self.source = source
        try:
            self._regexp = re2.compile(_translate(source), _options())
        except re2.error as e:
            reason = e.args[0].decode("utf-8", "replace") if e.args else "invalid"
            hint = next((h for wording, h in _UNSUPPORTED if reason.startswith(wording)), None)
            if hint:
                reason = f"{hint} (rule regexes use RE2, which runs in linear time)"
            raise ValueError(reason) from None

    def search(self, text: str) -> tuple[int, int] | None:
        """(start, end) of the first match in text, or None."""
        try:
            found = self._regexp.search(text)
        except UnicodeEncodeError:
            # A lone surrogate (possible in JSON Feed input) cannot go to RE2 as UTF-8;
            # "?" in its place keeps every other character's offset.
            found = self._regexp.search(text.encode("utf-8", "replace").decode("utf-8"))
        return None if found is None else (found.start(), found.end())

    def __reduce__(self) -> tuple[type[Pattern], tuple[str]]:
        return (Pattern, (self.source,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"
