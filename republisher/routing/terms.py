"""Match terms as rules hold them: phrases, regexes and groups of terms over fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from republisher import text
from republisher.routing.regex import Pattern


class Field(StrEnum):
    TITLE = "title"
    SUMMARY = "summary"
    CONTENT = "content"
    CATEGORIES = "categories"
    AUTHOR = "author"
    LINK = "link"


DEFAULT_FIELDS: tuple[Field, ...] = (Field.TITLE, Field.SUMMARY, Field.CONTENT, Field.CATEGORIES)


@dataclass(frozen=True)
class Phrase:
    """Whole words in order; `prefix` when written with a trailing '*'."""

    source: str  # as written in the rule file
    words: tuple[str, ...]
    prefix: bool
    needle: str = field(init=False, repr=False, compare=False)  # what to find in a word string

    def __post_init__(self) -> None:
        needle = " " + " ".join(self.words) + ("" if self.prefix else " ")
        object.__setattr__(self, "needle", needle)


@dataclass(frozen=True)
class Regex:
    """A `/.../` term. The reference matcher and the router search with this one object."""

    source: str  # as written, slashes included
    pattern: Pattern


@dataclass(frozen=True)
class Group:
    """Holds when every key present holds: some `any`, every `all`, no `none`."""

    any: tuple[Term, ...] | None = None
    all: tuple[Term, ...] | None = None
    none: tuple[Term, ...] | None = None
    fields: tuple[Field, ...] | None = None  # None: inherit from the enclosing group
    label: str | None = None  # "@name" when the group is a named term list


Term = Phrase | Regex | Group


def compile_term(raw: str) -> Phrase | Regex:
    """A string term as written -> Phrase or Regex. Raises ValueError with the reason."""
    if len(raw) >= 2 and raw.startswith("/") and raw.endswith("/"):
        try:
            pattern = Pattern(raw[1:-1])
        except ValueError as e:
            raise ValueError(f"bad regex: {e}") from None
        if pattern.search("") is not None:
            raise ValueError("regex matches the empty string, so it would match every item")
        return Regex(source=raw, pattern=pattern)
    prefix = raw.rstrip().endswith("*")
    found = text.words(raw.rstrip().rstrip("*") if prefix else raw)
    if not found:
        raise ValueError(f"phrase {raw!r} has no letters or digits")
    return Phrase(source=raw, words=tuple(found), prefix=prefix)
