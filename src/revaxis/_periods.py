"""Reporting periods: labels `2024-03`, `2024-Q1`, `2024`, and their day ranges."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from revaxis._errors import PeriodError, PeriodRangeError

Interval = Literal["month", "quarter", "year"]
INTERVALS: tuple[Interval, ...] = ("month", "quarter", "year")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")

# Years that periods and report days may fall in. pandas stores days as
# nanosecond timestamps, which end on 2262-04-11, and Python dates start in
# year 1, so reports stay well inside both.
MIN_YEAR = 1900
MAX_YEAR = 2200
# Periods that one report may cover: 100 years of months. It caps the rows of
# a report at this number times its segments.
MAX_PERIODS = 1200


def check_interval(interval: str) -> Interval:
    if interval not in INTERVALS:
        raise PeriodError(
            f"Invalid interval {interval!r}: use one of {', '.join(INTERVALS)}."
        )
    return interval  # type: ignore[return-value]


def period_start(day: dt.date, interval: Interval) -> dt.date:
    """First day of the period of `interval` that contains `day`."""
    if interval == "month":
        return day.replace(day=1)
    if interval == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return dt.date(day.year, 1, 1)


def next_start(start: dt.date, interval: Interval) -> dt.date:
    """First day of the period after the one starting on `start`."""
    months = {"month": 1, "quarter": 3, "year": 12}[interval]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def label(start: dt.date, interval: Interval) -> str:
    if interval == "month":
        return f"{start.year:04d}-{start.month:02d}"
    if interval == "quarter":
        return f"{start.year:04d}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year:04d}"


def parse_label(text: str, interval: Interval) -> dt.date:
    """First day of the period that `text` names, in the given interval.

    A finer label is accepted for a coarser interval (`2024-03` with quarter is
    2024-Q1); a coarser label for a finer interval names its first period.
    """
    text = text.strip()
    if m := _MONTH.match(text):
        _check_year(int(m[1]), text)
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise PeriodError(f"Invalid period {text!r}: month {month} is not 01-12.")
        day = dt.date(year, month, 1)
    elif m := _QUARTER.match(text):
        _check_year(int(m[1]), text)
        day = dt.date(int(m[1]), 3 * (int(m[2]) - 1) + 1, 1)
    elif m := _YEAR.match(text):
        _check_year(int(m[1]), text)
        day = dt.date(int(m[1]), 1, 1)
    else:
        raise PeriodError(
            f"Invalid period {text!r}: write a month as 2024-03, a quarter as "
            "2024-Q1 or a year as 2024."
        )
    return period_start(day, interval)


def _check_year(year: int, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(
            f"Invalid period {text!r}: the year must be from {MIN_YEAR} to {MAX_YEAR}."
        )


def check_day(day: dt.date, name: str = "report day") -> dt.date:
    """Return `day`, or raise PeriodError when its year is outside MIN_YEAR to
    MAX_YEAR. `name` is the day's role in the message, such as `as_of`."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise PeriodError(
            f"Invalid {name} {day.isoformat()}: use a day from {MIN_YEAR}-01-01 "
            f"to {MAX_YEAR}-12-31."
        )
    return day


def period_range(first: dt.date, last: dt.date, interval: Interval) -> list[dt.date]:
    """Return the start days of the periods of a report, from the one containing
    `first` to the one containing `last`, both included.

    Raises PeriodRangeError when the range is empty or covers more than
    MAX_PERIODS periods.
    """
    first = period_start(first, interval)
    last = period_start(last, interval)
    first_label, last_label = label(first, interval), label(last, interval)
    if last < first:
        raise PeriodRangeError(
            f"The period range is empty: the first period {first_label} is after "
            f"the last period {last_label}. Give a start on or before the end, "
            "or leave either out.",
            first=first_label,
            last=last_label,
            count=0,
        )
    months = {"month": 1, "quarter": 3, "year": 12}[interval]
    count = ((last.year - first.year) * 12 + last.month - first.month) // months + 1
    if count > MAX_PERIODS:
        raise PeriodRangeError(
            f"The period range from {first_label} to {last_label} covers {count:,} "
            f"{interval}s, and a report covers at most {MAX_PERIODS:,} periods. "
            "Choose a shorter range or a longer interval.",
            first=first_label,
            last=last_label,
            count=count,
        )
    return period_starts(first, last, interval)


def period_starts(first: dt.date, last: dt.date, interval: Interval) -> list[dt.date]:
    """Start days of every period from the one containing `first` to the one
    containing `last`, both included."""
    out = []
    current = period_start(first, interval)
    stop = period_start(last, interval)
    while current <= stop:
        out.append(current)
        current = next_start(current, interval)
    return out
