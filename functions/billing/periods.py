"""Billing periods: calendar months in UTC, and clipping time intervals to them."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

from functions.billing.records import BillingError

_MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


@dataclasses.dataclass(frozen=True, order=True)
class Month:
    """One calendar month in UTC, the half-open interval `[start, end)`."""

    year: int
    month: int

    def __post_init__(self) -> None:
        text = f"{self.year:04d}-{self.month:02d}"
        if not 1 <= self.month <= 12:
            raise BillingError(f"{text} is not a valid month: the month must be 01 to 12.")
        # A month's end is the start of the next month, and `datetime` ends with year 9999.
        if not 1970 <= self.year <= 9998:
            raise BillingError(
                f"{text} is not a valid month: the year must be 1970 to 9998, such as 2026."
            )

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH_PATTERN.match(text.strip())
        if match is None:
            raise BillingError(f"{text!r} is not a month in the form YYYY-MM, such as 2026-11.")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def containing(cls, moment: datetime) -> Month:
        utc = moment.astimezone(UTC)
        return cls(utc.year, utc.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)


def clip(
    start: datetime, end: datetime, window_start: datetime, window_end: datetime
) -> tuple[datetime, datetime] | None:
    """Return the part of `[start, end)` inside `[window_start, window_end)`, or None if empty."""
    clipped_start = max(start, window_start)
    clipped_end = min(end, window_end)
    if clipped_end <= clipped_start:
        return None
    return clipped_start, clipped_end
