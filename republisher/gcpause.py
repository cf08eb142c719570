"""Cyclic garbage collection held off during a bounded burst of allocation.

A publish, or one feed parsed in a worker, makes hundreds of thousands of short-lived
objects, few of them in reference cycles; CPython's collector meanwhile walks every
object held (a publish's caches, a worker's rules) again and again: about a tenth of a
cold publish. Held off for the burst, it runs again at the next allocation after it, over
what is left, so cycles made during the burst are still freed, only later.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside the block; as it was before, after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
