"""Load rule files (rules/<slug>.toml) into validated, compiled Rule objects.

Every problem in every file is collected with its place
(`rules/surveillance.toml: match.any[3]: bad regex ... (line 9)`) and reported at once.
The terms themselves (phrases, regexes, groups) are defined in `terms`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from republisher.errors import ConfigError
from republisher.routing.terms import DEFAULT_FIELDS, Field, Group, Phrase, Regex, Term, compile_term
from republisher.validation import TableReader, read_toml, toml_type

# The term types are re-exported: rules are what the rest of the program imports.
__all__ = [
    "DEFAULT_FIELDS",
    "Example",
    "Field",
    "Group",
    "Phrase",
    "Regex",
    "Rule",
    "RuleSet",
    "Term",
    "TermLists",
    "compile_term",
    "load_rules",
]

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
RESERVED_SLUGS = frozenset({"index"})  # index.html and index.opml list the feeds


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
    parsed: list[tuple[Path, dict[str, Any], str]] = []
    for path in sorted(rules_dir.glob("*.toml")):
        try:
            raw, source = read_toml(path)
        except ConfigError as e:
            problems.extend(e.problems)
            continue
        parsed.append((path, raw, source))
        digest.update(path.name.encode() + b"\0" + source.encode("utf-8") + b"\0")
    lists = TermLists([file for file in parsed if file[0].name.startswith("_")])
    rules: list[Rule] = []
    for path, raw, source in parsed:
        if path.name.startswith("_"):
            continue
        reader = _RuleReader(path, source, known, lists)
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


MAX_EXPANDED_TERMS = 20_000  # the shipped rules' largest list expands to a few hundred


class TermLists:
    """Named term lists from the `[terms]` tables of `_*.toml` files, resolved on first use.

    "@name" stands for a group that holds when any term of the list matches, wherever it
    is used (in `all`, "@uighur" means "some spelling of Uighur", not every spelling).
    Lists may use other lists; a cycle is an error.
    """

    def __init__(self, files: list[tuple[Path, dict[str, Any], str]]) -> None:
        self.problems: list[str] = []
        self.raw: dict[str, tuple[Path, str, Any]] = {}  # name -> (file, its text, the list)
        self.resolved: dict[str, Group | None] = {}
        self.resolving: list[str] = []
        self.sizes: dict[str, int] = {}
        for path, table, source in files:
            reader = TableReader(path, source)
            reader.unknown_keys(table, {"terms"}, note="a '_' file holds only [terms]")
            terms = reader.table(table, "terms")
            for name, value in terms.items():
                if name in self.raw:
                    reader.problem(f"terms.{name}", f"also defined in {self.raw[name][0]}")
                    continue
                self.raw[name] = (path, source, value)
            self.problems.extend(reader.problems)

    def expanded_size(self, name: str, visiting: frozenset[str] = frozenset()) -> int:
        """How many terms "@name" stands for once every list it uses is written out
        (memoised, so computing it is linear in the lists' size; cycles count as 0 here
        and are reported by `get`)."""
        if name in self.sizes:
            return self.sizes[name]
        if name in visiting or name not in self.raw:
            return 0

        def size(value: Any) -> int:
            if isinstance(value, str):
                ref = value[1:] if value.startswith("@") else None
                return self.expanded_size(ref, visiting | {name}) if ref in self.raw else 1
            if isinstance(value, list):
                return sum(size(item) for item in value)
            if isinstance(value, dict):
                return sum(size(value.get(key)) for key in ("any", "all", "none"))
            return 0

        self.sizes[name] = total = size(self.raw[name][2])
        return total

    def get(self, name: str) -> Group | None:
        """The group for "@name"; None (and a problem recorded) when it cannot be built."""
        if name in self.resolved:
            return self.resolved[name]
        path, source, value = self.raw[name]
        reader = _RuleReader(path, source, None, self)
        if name in self.resolving:
            cycle = " -> ".join(f"@{n}" for n in [*self.resolving[self.resolving.index(name) :], name])
            reader.problem(f"terms.{name}", f"term lists refer to each other in a cycle: {cycle}")
            self.problems.extend(reader.problems)
            return None
        if (size := self.expanded_size(name)) > MAX_EXPANDED_TERMS:
            # Lists of lists multiply: ten lists of ten each used ten times is a million
            # terms to walk for every entry. Refused here so no rule can make polls crawl.
            reader.problem(
                f"terms.{name}",
                f"expands to {size:,} terms through the lists it uses (at most {MAX_EXPANDED_TERMS:,})",
            )
            self.problems.extend(reader.problems)
            self.resolved[name] = None
            return None
        self.resolving.append(name)
        terms = reader.terms(value, f"terms.{name}")
        self.resolving.pop()
        self.problems.extend(reader.problems)
        group = Group(any=terms, label=f"@{name}") if terms and not reader.problems else None
        self.resolved[name] = group
        return group


class _RuleReader(TableReader):
    def __init__(
        self, path: Path, source: str, known_sources: frozenset[str] | None, lists: TermLists
    ) -> None:
        super().__init__(path, source)
        self.known_sources = known_sources
        self.lists = lists

    def rule(self, raw: dict[str, Any]) -> Rule | None:
        slug = self.path.stem
        if slug in RESERVED_SLUGS:
            self.problem("(file name)", f"{slug!r} is taken by the site's own {slug}.html: rename the file")
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
        self.unknown_keys(raw, allowed)
        title = self.string(raw, "title", required=True)
        subtitle = self.string(raw, "subtitle")
        sources = self.sources(raw)
        unrouted = self.flag(raw, "unrouted", False)
        match: Group | None = None
        if unrouted and "match" in raw:
            self.problem("match", "a feed with unrouted = true takes no [match]")
        elif not unrouted:
            if "match" not in raw:
                self.problem("match", "missing: add a [match] table (or unrouted = true)")
            elif isinstance(raw["match"], dict):
                match = self.group(raw["match"], "match")
            else:
                self.problem("match", f"expected a table, got {toml_type(raw['match'])}")
        examples = self.examples(raw.get("examples", []))
        max_entries = self.whole(raw, "max_entries", None)
        max_age = self.duration(raw, "max_age", None)
        merge = self.flag(raw, "merge_duplicates", True)
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
        self.unknown_keys(
            raw, ("any", "all", "none", "fields"), f"{where}.", "expected any, all, none, fields"
        )
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
            self.problem(where, f"expected an array of terms, got {toml_type(raw)}")
            return ()
        if not raw:
            self.problem(where, "empty list")
        terms: list[Term] = []
        for i, item in enumerate(raw):
            place = f"{where}[{i}]"
            if isinstance(item, str) and item.startswith("@"):
                name = item[1:]
                if name not in self.lists.raw:
                    close = difflib.get_close_matches(name, list(self.lists.raw), n=1)
                    defined = ", ".join(f"@{n}" for n in sorted(self.lists.raw)) or "none"
                    hint = f"did you mean '@{close[0]}'?" if close else f"defined: {defined}"
                    self.problem(place, f"unknown term list {item!r} ({hint})")
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
                self.problem(place, f"expected a string or a group table, got {toml_type(item)}")
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
            self.problem("examples", f"expected an array of tables ([[examples]]), got {toml_type(raw)}")
            return ()
        examples: list[Example] = []
        for i, item in enumerate(raw):
            where = f"examples[{i}]."
            if not isinstance(item, dict):
                self.problem(f"examples[{i}]", f"expected a table, got {toml_type(item)}")
                continue
            texts = ("title", "summary", "content", "categories", "author", "link", "source")
            self.unknown_keys(item, (*texts, "routed"), where)
            if not isinstance(item.get("routed"), bool):
                self.problem(where + "routed", "missing or not true/false")
            examples.append(
                Example(
                    title=self.string(item, "title", prefix=where, required=True),
                    routed=item.get("routed") is True,
                    summary=self.string(item, "summary", prefix=where),
                    content=self.string(item, "content", prefix=where),
                    categories=tuple(self.string_list(item.get("categories", []), where + "categories")),
                    author=self.string(item, "author", prefix=where),
                    link=self.string(item, "link", prefix=where),
                    source=self.string(item, "source", prefix=where) or None,
                )
            )
        return tuple(examples)
