"""Cyclic garbage collection is held off while a publish renders, and only then."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from conftest import SAMPLE, Project

from republisher.cli import main
from republisher.gcpause import collection_paused
from republisher.publish import render


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_paused_inside_and_as_before_after() -> None:
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # a caller that had it off keeps it off


def test_on_again_after_an_error() -> None:
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


class Node:
    other: Node


def test_a_cycle_made_while_paused_is_freed_after() -> None:
    with collection_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None  # a cycle: reference counting alone cannot free it
    gc.collect()
    assert gone() is None


def test_a_poll_renders_with_collection_paused_and_leaves_it_on(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = render.render_feed_files

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "render_feed_files", spy)
    project.write_config({"guardian-uighurs": str(SAMPLE)})
    assert main(["--config", str(project.config), "poll"]) == 0
    assert seen and not any(seen)
    assert gc.isenabled()
