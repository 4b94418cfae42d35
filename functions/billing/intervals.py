"""Concurrent seats over time, computed exactly from half-open lease intervals.

A lease interval `[start, end)` holds one seat from `start` up to but not including `end`, so a
seat released at the instant another is acquired never counts twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from functions.billing.records import seconds_between

Interval = tuple[datetime, datetime]
# (time, seats held from this time until the next step)
Step = tuple[datetime, int]


def concurrency_steps(intervals: Iterable[Interval]) -> list[Step]:
    """Return the step function of concurrent seats: one step per time the count changes.

    The last step always has a count of zero. Empty intervals are ignored.
    """
    changes: dict[datetime, int] = {}
    for start, end in intervals:
        if end <= start:
            continue
        changes[start] = changes.get(start, 0) + 1
        changes[end] = changes.get(end, 0) - 1
    steps: list[Step] = []
    count = 0
    for moment in sorted(changes):
        if changes[moment] == 0:
            continue
        count += changes[moment]
        steps.append((moment, count))
    return steps


def peak(steps: list[Step]) -> int:
    return max((count for _, count in steps), default=0)


def seconds_at_or_above(steps: list[Step], level: int) -> Decimal:
    """Return how long the count was at least `level`, in exact seconds."""
    total = Decimal(0)
    for (moment, count), (following, _) in itertools.pairwise(steps):
        if count >= level:
            total += seconds_between(moment, following)
    return total


def seat_seconds_above(steps: list[Step], level: int) -> Decimal:
    """Return the integral of `max(0, count - level)` over time: seat time beyond `level` seats."""
    total = Decimal(0)
    for (moment, count), (following, _) in itertools.pairwise(steps):
        if count > level:
            total += (count - level) * seconds_between(moment, following)
    return total


def add_steps(step_lists: Iterable[list[Step]]) -> list[Step]:
    """Return the pointwise sum of several step functions."""
    changes: dict[datetime, int] = {}
    for steps in step_lists:
        previous = 0
        for moment, count in steps:
            changes[moment] = changes.get(moment, 0) + count - previous
            previous = count
    summed: list[Step] = []
    count = 0
    for moment in sorted(changes):
        if changes[moment] == 0:
            continue
        count += changes[moment]
        summed.append((moment, count))
    return summed
