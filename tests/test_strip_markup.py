"""strip_markup: the sanitizer's own markup read by a regex, any other by the HTML parser
(html5ever), hostile markup in linear time. Python's HTMLParser, which strip_markup used
before, is the reference for what the text of well-formed markup is."""

from __future__ import annotations

import random
import time
from html.parser import HTMLParser

import pytest

from republisher import markup, text
from republisher.markup import sanitize

TAGS = ["p", "P", "b", "em", "a", "br", "div", "li", "h2", "span", "img", "Div", "h1", "strong"]
CONTAINERS = ["div", "Div", "span", "b", "em", "strong", "a", "SPAN"]  # none that HTML closes implicitly
RAW = ["script", "style", "SCRIPT"]
ATTRIBUTES = [
    ' href="https://example.org/?a=1&amp;b=2"',
    ' title="a > b"',
    ' title="x &lt; y"',
    ' alt="it&#39;s"',
    " class='single'",
    " title='a > b'",
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
    "\u00a0",
    ">",
]
JUNK = [
    "&amp",
    "&ampx;",
    "&#99999999;",
    "&#xD800;",
    "&unknown;",
    "&",
    "a & b",
    "<",
    "a <3 b",
    "&#",
    "<!DOCTYPE html>",
    "<?pi x?>",
    "<![CDATA[x]]>",
    "<!-->",
    "</>",
    "<>",
    "< p>",
    "<p\u00a0a=''>",
    "<td\u3000>",
    "<p\x0b>",
    '<a x="',
    "<b y='",
]
UNCLOSED_QUOTES = ('<a x="', "<b y='")


class ReferenceExtractor(HTMLParser):
    """The text strip_markup gave when it used HTMLParser: character data only, a space
    for block tags, nothing of scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        elif tag in text.BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skipping:
            self.skipping -= 1
        elif tag in text.BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def by_html_parser(fragment: str) -> str:
    extractor = ReferenceExtractor()
    extractor.feed(fragment)
    extractor.close()
    return text.collapse_space("".join(extractor.parts))


def well_formed_piece(rng: random.Random, depth: int = 0) -> str:
    """Balanced markup: elements (any quoting, any case) holding text and elements, void
    elements, comments, scripts and styles. (Not <hr> or <table> inside <p>: HTML closes
    the paragraph there, a word break HTMLParser does not see.)"""
    kind = rng.random()
    if kind < 0.35 and depth < 4:
        name = rng.choice(CONTAINERS)
        attributes = "".join(rng.choice(ATTRIBUTES) for _ in range(rng.randrange(3)))
        inside = "".join(well_formed_piece(rng, depth + 1) for _ in range(rng.randrange(4)))
        return f"<{name}{attributes}>{inside}</{name}{rng.choice(['', ' '])}>"
    if kind < 0.45:
        return f"<{rng.choice(['br', 'BR', 'img src=x', 'wbr'])}{rng.choice(['', '/', ' /'])}>"
    if kind < 0.5:
        name = rng.choice(RAW)
        return f"<{name}>{rng.choice(TEXTS)}<b>hidden</b></{name}>"
    if kind < 0.55:
        return "<!-- a <b>comment</b> -->"
    return rng.choice(TEXTS)


def piece(rng: random.Random) -> str:
    """Markup of any sort: tags on their own (unbalanced), junk, or balanced pieces."""
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(JUNK)
    if kind < 0.45:
        attributes = "".join(rng.choice(ATTRIBUTES) for _ in range(rng.randrange(3)))
        return f"<{rng.choice(TAGS)}{attributes}{rng.choice(['', ' ', '/', ' /'])}>"
    if kind < 0.6:
        return f"</{rng.choice(TAGS)}{rng.choice(['', ' '])}>"
    return well_formed_piece(rng, 3)


def fragments(seed: int, count: int, make: object = piece) -> list[str]:
    rng = random.Random(seed)
    return ["".join(make(rng) for _ in range(rng.randrange(1, 13))) for _ in range(count)]  # type: ignore[operator]


@pytest.mark.parametrize("seed", range(3))
def test_the_fast_path_gives_what_html_parser_gives(seed: int) -> None:
    taken = 0
    for fragment in fragments(seed, 2000):
        fast = text.strip_simple_markup(fragment)
        if fast is not None:
            taken += 1
            assert fast == by_html_parser(fragment), fragment
    assert taken > 200  # plain ones are generated, and taken


@pytest.mark.parametrize("seed", range(3))
def test_well_formed_markup_gives_what_html_parser_gives(seed: int) -> None:
    for fragment in fragments(seed + 20, 2000, well_formed_piece):
        assert text.strip_markup(fragment) == by_html_parser(fragment), fragment


@pytest.mark.parametrize("seed", range(3))
def test_sanitized_fragments_take_the_fast_path(seed: int) -> None:
    sanitized = [sanitize(fragment, "https://example.org/") for fragment in fragments(seed + 10, 1000)]
    for fragment in sanitized:
        fast = text.strip_simple_markup(fragment)
        assert fast is not None, fragment  # the sanitizer writes nothing the fast path declines
        assert fast == by_html_parser(fragment), fragment


def test_what_the_fast_path_declines() -> None:
    for fragment in [
        "a <3 b",
        "<!-- c -->x",
        "<script>x</script>",
        "<p class='q'>x</p>",
        "<p>x</p >y<",
        "a<p\u00a0x>",
    ]:
        assert text.strip_simple_markup(fragment) is None, fragment


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        # A no-break space does not end a tag name: the rest is text, as browsers show it.
        ('Report<b\u00a0title="x>on forced labour">', 'Reporton forced labour">'),
        ("foo<p\u00a0a=''>bar", "foobar"),
        ("a<td\u3000>b", "ab"),
        ("x<p\x0b>y", "xy"),
        ("before <![ x ]]> after", "before after"),
        ("<a title='a > b'>link</a> text", "link text"),
    ],
)
def test_odd_markup_reads_as_browsers_read_it(fragment: str, expected: str) -> None:
    assert text.strip_markup(fragment) == expected


HIDDEN = [
    '<a title="hiddenword">',
    "<b class='hiddenword'>",
    "<a title='>hiddenword'>x</a>",
    '<img src=x alt="a<3 hiddenword">',
    "<!-- hiddenword -->",
    "<!x <3 hiddenword>",
    "</ hiddenword>",
    "<script>hiddenword</script>",
    "<style>p { content: 'hiddenword' }</style>",
    "<template>hiddenword</template>",
    "<noscript>hiddenword</noscript>",
    "<iframe>hiddenword</iframe>",
    "<svg><desc>hiddenword</desc></svg>",
    "<select><option>hiddenword</option></select>",
    "<hiddenword>",
    "</hiddenword>",
]


@pytest.mark.parametrize("seed", range(3))
def test_tags_attributes_comments_and_scripts_never_reach_the_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(1500):
        # Not after an unclosed quote: what follows one is an attribute value or, once it
        # closes, text that HTML shows (`<b y='<a title='>hiddenword` shows "hiddenword").
        pieces = [p for p in (piece(rng) for _ in range(rng.randrange(0, 8))) if p not in UNCLOSED_QUOTES]
        pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(HIDDEN))
        fragment = "".join(pieces)
        assert "hiddenword" not in text.strip_markup(fragment), fragment


FORMATTING_BOMB = "<p>" + "".join(f"<b z={i}/>" for i in range(2500)) + "<p/>x" * 2500


@pytest.mark.parametrize(
    "filler",
    [
        "<div/>" * (markup.MAX_TAGS + 1),  # more tags than the parser is given
        "<i>" * (markup.MAX_DEPTH + 1),  # nested deeper
        "<span><div></span>" * (markup.MAX_DEPTH + 1),  # nested deeper, though it looks closed
        FORMATTING_BOMB,  # formatting elements copied at every run of text
        "&" * (markup.MAX_ESCAPED + 1),  # characters the parser's output escapes
        "\u00a0" * (markup.MAX_ESCAPED + 1),
    ],
    ids=["tags", "depth", "hidden-depth", "formatting", "ampersands", "no-break-spaces"],
)
def test_markup_not_for_the_parser_keeps_its_text_without_its_markup(filler: str) -> None:
    visible = "<p>forced labour</p> " + " ".join(HIDDEN) + " <p>end</p>"
    fragment = visible + filler
    assert not markup._parseable(fragment)
    plain = text.strip_markup(fragment)
    assert plain.startswith("forced labour x") and "hiddenword" not in plain, plain[:200]
    cleaned = sanitize(fragment)
    assert "<" not in cleaned and "forced labour" in cleaned and "hiddenword" not in cleaned


def test_real_markup_is_given_to_the_parser() -> None:
    article = "".join(
        f'<h2>Part {n}</h2><p>Text with <a href="https://example.org/{n}">a link</a>, <em>stress</em> '
        "&amp; an entity&nbsp;or two.</p><ul><li>one<li>two</ul><p>Unclosed paragraph"
        for n in range(200)
    )
    assert article.count("<") > markup.MAX_DEPTH  # so its tags are read and counted
    assert markup._parseable(article)
    assert '<a href="https://example.org/7"' in sanitize(article)


@pytest.mark.parametrize(
    "unit",
    [
        "<a ",
        '<a x="',
        "<div/>x",
        "<!--",
        "<script>",
        "<a x='<b>",
        "</span><div>",
        "<b><p>x",
        "<!x",
        "</ x",
        "&",
        "a\u00a0",
    ],
)
def test_hostile_markup_of_a_megabyte_costs_linear_time(unit: str) -> None:
    fragment = unit * (markup.MAX_HTML // len(unit)) if unit != "<b><p>x" else FORMATTING_BOMB * 25
    started = time.process_time()
    text.strip_markup(fragment)
    sanitize(fragment)
    # Not a speed test: a guard against the quadratic paths, which took minutes here
    # (HTMLParser on unclosed tags; the depth count's regex; html5ever on hidden nesting).
    assert time.process_time() - started < 20
