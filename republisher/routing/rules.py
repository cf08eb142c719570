"""Load rule files (rules/<slug>.toml) into validated, compiled Rule objects.

Every problem in every file is collected with its place
(`rules/surveillance.toml: match.any[3]: bad regex ...`) and reported at once.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from republisher import text
from republisher.config import parse_duration
from republisher.errors import ConfigError

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")


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
    source: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Group:
    """Holds when every key present holds: some `any`, every `all`, no `none`."""

    any: tuple[Term, ...] | None = None
    all: tuple[Term, ...] | None = None
    none: tuple[Term, ...] | None = None
    fields: tuple[Field, ...] | None = None  # None: inherit from the enclosing group
    label: str | None = None  # "@name" when the group is a named term list


Term = Phrase | Regex | Group


@dataclass(frozen=True)
class Example:
    """An [[examples]] case: an item and whether the rule file's feed should take it."""

    title: str
    routed: bool
    summary: str = ""
    content: str = ""
    categories: tuple[str, ...] = ()
    author: str = ""
    link: str = ""
    source: str | None = None


@dataclass(frozen=True)
class Rule:
    """One derived feed: what it is called and which items it takes."""

    slug: str
    path: Path
    title: str
    subtitle: str
    sources: frozenset[str] | None
    match: Group | None  # None for an `unrouted` feed
    unrouted: bool
    examples: tuple[Example, ...]
    max_entries: int | None = None  # overrides config's max_entries for this feed
    max_age: float | None = None  # seconds: older entries are left out of the feed (not the store)
    merge_duplicates: bool = True  # one story carried by several sources appears once


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    fingerprint: str  # changes whenever any rule file's bytes change

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(r.slug for r in self.rules)


def load_rules(rules_dir: Path, source_names: Iterable[str] | None = None) -> RuleSet:
    """Load every rules_dir/*.toml; raise ConfigError listing all problems.

    Files starting with '_' are not feeds: they may hold `[terms]` lists that rules use
    as "@name". With `source_names`, a rule naming an unknown source is a problem too.
    """
    if not rules_dir.is_dir():
        raise ConfigError([f"{rules_dir}: rules folder not found"])
    known = frozenset(source_names) if source_names is not None else None
    problems: list[str] = []
    digest = hashlib.sha256()  # over every file, term lists included: they change routing
    parsed: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(rules_dir.glob("*.toml")):
        try:
            data = path.read_bytes()
            parsed.append((path, tomllib.loads(data.decode("utf-8"))))
        except (OSError, UnicodeDecodeError) as e:
            problems.append(f"{path}: cannot read: {e}")
            continue
        except tomllib.TOMLDecodeError as e:
            problems.append(f"{path}: TOML syntax error: {e}")
            continue
        digest.update(path.name.encode() + b"\0" + data + b"\0")
    lists = TermLists([(path, raw) for path, raw in parsed if path.name.startswith("_")])
    rules: list[Rule] = []
    for path, raw in parsed:
        if path.name.startswith("_"):
            continue
        reader = _RuleReader(path, known, lists)
        rule = reader.rule(raw)
        problems.extend(reader.problems)
        if rule is not None:
            rules.append(rule)
    problems.extend(lists.problems)
    if not rules and not problems:
        problems.append(f"{rules_dir}: no rule files (*.toml) found")
    if problems:
        raise ConfigError(problems)
    return RuleSet(rules=tuple(rules), fingerprint=digest.hexdigest())


class TermLists:
    """Named term lists from the `[terms]` tables of `_*.toml` files, resolved on first use.

    "@name" stands for a group that holds when any term of the list matches, wherever it
    is used (in `all`, "@uighur" means "some spelling of Uighur", not every spelling).
    Lists may use other lists; a cycle is an error.
    """

    def __init__(self, files: list[tuple[Path, dict[str, Any]]]) -> None:
        self.problems: list[str] = []
        self.raw: dict[str, tuple[Path, Any]] = {}
        self.resolved: dict[str, Group | None] = {}
        self.resolving: list[str] = []
        for path, table in files:
            for key in table:
                if key != "terms":
                    self.problems.append(f"{path}: {key}: unknown key (a '_' file holds only [terms])")
            terms = table.get("terms", {})
            if not isinstance(terms, dict):
                self.problems.append(f"{path}: terms: expected a table of lists")
                continue
            for name, value in terms.items():
                if name in self.raw:
                    self.problems.append(f"{path}: terms.{name}: also defined in {self.raw[name][0]}")
                    continue
                self.raw[name] = (path, value)

    def get(self, name: str) -> Group | None:
        """The group for "@name"; None (and a problem recorded) when it cannot be built."""
        if name in self.resolved:
            return self.resolved[name]
        path, value = self.raw[name]
        if name in self.resolving:
            cycle = " -> ".join(f"@{n}" for n in [*self.resolving[self.resolving.index(name) :], name])
            self.problems.append(f"{path}: terms.{name}: term lists refer to each other in a cycle: {cycle}")
            return None
        self.resolving.append(name)
        reader = _RuleReader(path, None, self)
        terms = reader.terms(value, f"terms.{name}")
        self.resolving.pop()
        self.problems.extend(reader.problems)
        group = Group(any=terms, label=f"@{name}") if terms and not reader.problems else None
        self.resolved[name] = group
        return group


def compile_term(raw: str) -> Phrase | Regex:
    """A string term as written -> Phrase or Regex. Raises ValueError with the reason."""
    if len(raw) >= 2 and raw.startswith("/") and raw.endswith("/"):
        try:
            pattern = re.compile(raw[1:-1], re.IGNORECASE)
        except re.error as e:
            raise ValueError(f"bad regex: {e}") from None
        if pattern.search(""):
            raise ValueError("regex matches the empty string, so it would match every item")
        return Regex(source=raw, pattern=pattern)
    prefix = raw.rstrip().endswith("*")
    found = text.words(raw.rstrip().rstrip("*") if prefix else raw)
    if not found:
        raise ValueError(f"phrase {raw!r} has no letters or digits")
    return Phrase(source=raw, words=tuple(found), prefix=prefix)


class _RuleReader:
    def __init__(self, path: Path, known_sources: frozenset[str] | None, lists: TermLists) -> None:
        self.path = path
        self.known_sources = known_sources
        self.lists = lists
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def rule(self, raw: dict[str, Any]) -> Rule | None:
        slug = self.path.stem
        if not SLUG.match(slug):
            self.problem("(file name)", "must be lowercase letters, digits, '-' or '_'")
        allowed = {
            "title",
            "subtitle",
            "sources",
            "match",
            "unrouted",
            "examples",
            "max_entries",
            "max_age",
            "merge_duplicates",
        }
        for key in raw:
            if key not in allowed:
                self.problem(key, "unknown key")
        title = self.string(raw, "title", required=True)
        subtitle = self.string(raw, "subtitle", required=False)
        sources = self.sources(raw)
        unrouted = raw.get("unrouted", False)
        if not isinstance(unrouted, bool):
            self.problem("unrouted", "expected true or false")
            unrouted = False
        match: Group | None = None
        if unrouted and "match" in raw:
            self.problem("match", "a feed with unrouted = true takes no [match]")
        elif not unrouted:
            if "match" not in raw:
                self.problem("match", "missing: add a [match] table (or unrouted = true)")
            elif isinstance(raw["match"], dict):
                match = self.group(raw["match"], "match")
            else:
                self.problem("match", "expected a table")
        examples = self.examples(raw.get("examples", []))
        max_entries = raw.get("max_entries")
        if max_entries is not None and (
            not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1
        ):
            self.problem("max_entries", f"expected a whole number of at least 1, got {max_entries!r}")
        max_age: float | None = None
        if "max_age" in raw:
            try:
                max_age = parse_duration(raw["max_age"]) if isinstance(raw["max_age"], str) else None
            except ValueError as e:
                self.problem("max_age", str(e))
            else:
                if max_age is None:
                    self.problem("max_age", 'expected a duration such as "90d"')
        merge = raw.get("merge_duplicates", True)
        if not isinstance(merge, bool):
            self.problem("merge_duplicates", "expected true or false")
        if self.problems:
            return None
        return Rule(
            slug=slug,
            path=self.path,
            title=title,
            subtitle=subtitle,
            sources=sources,
            match=match,
            unrouted=unrouted,
            examples=examples,
            max_entries=max_entries,
            max_age=max_age,
            merge_duplicates=merge,
        )

    def string(self, raw: dict[str, Any], key: str, *, required: bool, where: str = "") -> str:
        value = raw.get(key)
        if value is None:
            if required:
                self.problem(where + key, "missing")
            return ""
        if not isinstance(value, str):
            self.problem(where + key, f"expected a string, got {type(value).__name__}")
            return ""
        if required and not value.strip():
            self.problem(where + key, "must not be empty")
        return value

    def string_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, "expected a list of strings")
            return []
        return value

    def sources(self, raw: dict[str, Any]) -> frozenset[str] | None:
        if "sources" not in raw:
            return None
        names = self.string_list(raw["sources"], "sources")
        if not names and isinstance(raw["sources"], list):
            self.problem("sources", "empty list: leave the key out to take every source")
        for i, name in enumerate(names):
            if self.known_sources is not None and name not in self.known_sources:
                self.problem(f"sources[{i}]", f"no source named {name!r} in the config")
        return frozenset(names)

    def group(self, raw: dict[str, Any], where: str) -> Group | None:
        for key in raw:
            if key not in ("any", "all", "none", "fields"):
                self.problem(f"{where}.{key}", "unknown key (expected any, all, none, fields)")
        lists = {key: self.terms(raw[key], f"{where}.{key}") for key in ("any", "all", "none") if key in raw}
        if not lists:
            self.problem(where, "empty group: give at least one of any, all, none")
        elif "none" in lists and len(lists) == 1 and where == "match":
            self.problem(where, "only `none` would take every other item: add `any` or `all`")
        fields = self.fields(raw["fields"], f"{where}.fields") if "fields" in raw else None
        return Group(
            any=lists.get("any"),
            all=lists.get("all"),
            none=lists.get("none"),
            fields=fields,
        )

    def terms(self, raw: Any, where: str) -> tuple[Term, ...]:
        if not isinstance(raw, list):
            self.problem(where, "expected a list of terms")
            return ()
        if not raw:
            self.problem(where, "empty list")
        terms: list[Term] = []
        for i, item in enumerate(raw):
            place = f"{where}[{i}]"
            if isinstance(item, str) and item.startswith("@"):
                name = item[1:]
                if name not in self.lists.raw:
                    defined = ", ".join(f"@{n}" for n in sorted(self.lists.raw)) or "none"
                    self.problem(place, f"unknown term list {item!r} (defined: {defined})")
                elif (group := self.lists.get(name)) is not None:
                    terms.append(group)
            elif isinstance(item, str):
                try:
                    terms.append(compile_term(item))
                except ValueError as e:
                    self.problem(place, str(e))
            elif isinstance(item, dict):
                group = self.group(item, place)
                if group is not None:
                    terms.append(group)
            else:
                self.problem(place, f"expected a string or a group table, got {type(item).__name__}")
        return tuple(terms)

    def fields(self, raw: Any, where: str) -> tuple[Field, ...] | None:
        names = self.string_list(raw, where)
        if not names and isinstance(raw, list):
            self.problem(where, "empty list")
        fields: list[Field] = []
        for i, name in enumerate(names):
            try:
                fields.append(Field(name))
            except ValueError:
                choices = ", ".join(f.value for f in Field)
                self.problem(f"{where}[{i}]", f"unknown field {name!r} (one of {choices})")
        return tuple(fields) or None

    def examples(self, raw: Any) -> tuple[Example, ...]:
        if not isinstance(raw, list):
            self.problem("examples", "expected an array of tables ([[examples]])")
            return ()
        examples: list[Example] = []
        for i, item in enumerate(raw):
            where = f"examples[{i}]."
            if not isinstance(item, dict):
                self.problem(f"examples[{i}]", "expected a table")
                continue
            allowed = {"title", "summary", "content", "categories", "author", "link", "source"}
            for key in item:
                if key not in allowed | {"routed"}:
                    self.problem(where + key, "unknown key")
            routed = item.get("routed")
            if not isinstance(routed, bool):
                self.problem(where + "routed", "missing or not true/false")
                routed = False
            source = item.get("source")
            if source is not None and not isinstance(source, str):
                self.problem(where + "source", "expected a string")
                source = None
            examples.append(
                Example(
                    title=self.string(item, "title", required=True, where=where),
                    routed=routed,
                    summary=self.string(item, "summary", required=False, where=where),
                    content=self.string(item, "content", required=False, where=where),
                    categories=tuple(self.string_list(item.get("categories", []), where + "categories")),
                    author=self.string(item, "author", required=False, where=where),
                    link=self.string(item, "link", required=False, where=where),
                    source=source,
                )
            )
        return tuple(examples)
