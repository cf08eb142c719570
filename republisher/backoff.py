"""Exponential back-off: the one formula for failing sources and failing WebSub hubs."""

from __future__ import annotations


def backoff_delay(first: float, failures: int, cap: float) -> float:
    """Seconds to wait after `failures` consecutive failures (1 or more): `first`, then
    doubling each time, never more than `cap`."""
    doublings = min(max(failures - 1, 0), 32)  # 2**32 times any first delay is past any cap
    return min(first * float(2**doublings), cap)
