"""markup.sanitize builds its nh3 cleaner once and passes each call's base URL to the URL
filter through a thread-local: calls from many threads at once must each resolve
relative links against their own base, never a neighbour's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from republisher.markup import sanitize

FRAGMENT = '<p><a href="story/{n}">link</a> <img src="/img/{n}.png" alt=""> <a href="https://abs.example/x">abs</a></p>'


def _one(n: int) -> tuple[int, str]:
    return n, sanitize(FRAGMENT.format(n=n), f"https://site{n}.example/dir/")


def test_each_thread_resolves_against_its_own_base() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(_one, [n % 50 for n in range(2000)]))
    for n, cleaned in results:
        assert f'href="https://site{n}.example/dir/story/{n}"' in cleaned
        assert f'src="https://site{n}.example/img/{n}.png"' in cleaned
        assert 'href="https://abs.example/x"' in cleaned


def test_without_a_base_relative_links_are_dropped_and_the_next_call_is_unaffected() -> None:
    assert "href" not in sanitize('<a href="relative">x</a>', None)
    assert 'href="https://a.example/relative"' in sanitize('<a href="relative">x</a>', "https://a.example/")
    assert "href" not in sanitize('<a href="relative">x</a>')
