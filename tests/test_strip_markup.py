"""strip_markup's fast path (sanitizer-shaped tags taken apart with a regex) gives exactly
what HTMLParser gives, on every fragment it takes, and it takes the sanitizer's output."""

from __future__ import annotations

import random

import pytest

from republisher import text
from republisher.markup import sanitize

TAGS = ["p", "P", "b", "em", "a", "br", "div", "li", "h2", "td", "span", "img", "Div", "x-y", "h1"]
RAW = ["script", "style", "textarea", "title", "SCRIPT", "noscript"]
ATTRIBUTES = [
    ' href="https://example.org/?a=1&amp;b=2"',
    ' title="a > b"',
    ' title="x < y"',
    ' alt="it&#39;s"',
    " class='single'",
    " width=10",
    " hidden",
    ' data-x = "spaced"',
    '\nclass="new line"',
    ' title="&lt;b&gt;"',
    ' a:b="ns"',
]
TEXTS = [
    "word",
    " ",
    "\n",
    "Caméras à Ürümqi",
    "&amp;",
    "&lt;p&gt;",
    "&#39;",
    "&#x27;",
    "&nbsp;",
    "&amp",
    "&ampx;",
    "&#99999999;",
    "&#xD800;",
    "&unknown;",
    "&",
    "a & b",
    ">",
    "<",
    "a <3 b",
    "&#",
    "&#x;",
    "\u00a0",
]
OTHERS = ["<!-- a comment -->", "<!DOCTYPE html>", "<?pi x?>", "<![CDATA[x]]>", "<!-->", "</>", "<>", "< p>"]


def piece(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        name = rng.choice(TAGS)
        attributes = "".join(rng.choice(ATTRIBUTES) for _ in range(rng.randrange(3)))
        return f"<{name}{attributes}{rng.choice(['', ' ', '/', ' /'])}>"
    if kind < 0.5:
        return f"</{rng.choice(TAGS)}{rng.choice(['', ' ', ' class=x'])}>"
    if kind < 0.55:
        name = rng.choice(RAW)
        return f"<{name}>{rng.choice(TEXTS)}<b>x</b></{name}>"
    if kind < 0.6:
        return rng.choice(OTHERS)
    return rng.choice(TEXTS)


def fragments(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(piece(rng) for _ in range(rng.randrange(1, 13))) for _ in range(count)]


def by_html_parser(fragment: str) -> str:
    extractor = text._TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    return text.collapse_space("".join(extractor.parts))


@pytest.mark.parametrize("seed", range(3))
def test_the_fast_path_gives_what_html_parser_gives(seed: int) -> None:
    taken = 0
    for fragment in fragments(seed, 2000):
        fast = text._strip_plain_tags(fragment)
        if fast is not None:
            taken += 1
            assert fast == by_html_parser(fragment), fragment
        assert text.strip_markup(fragment) == by_html_parser(fragment), fragment
    assert taken > 200  # plain ones are generated, and taken


@pytest.mark.parametrize("seed", range(3))
def test_sanitized_fragments_take_the_fast_path(seed: int) -> None:
    sanitized = [sanitize(fragment, "https://example.org/") for fragment in fragments(seed + 10, 1000)]
    taken = [fragment for fragment in sanitized if text._strip_plain_tags(fragment) is not None]
    assert len(taken) == len(sanitized)  # the sanitizer writes nothing the fast path declines
    for fragment in taken:
        assert text._strip_plain_tags(fragment) == by_html_parser(fragment), fragment


def test_what_the_fast_path_declines() -> None:
    for fragment in ["a <3 b", "<!-- c -->x", "<script>x</script>", "<p class='q'>x</p>", "<p>x</p >y<"]:
        assert text._strip_plain_tags(fragment) is None, fragment
