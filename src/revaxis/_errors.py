"""Exceptions raised by revaxis.

RevaxisError
├── InputError (also ValueError): a value given by the user is invalid
│   ├── ImportRejected: an import found invalid rows and changed nothing
│   ├── UnknownAxisError: an axis key that the workspace does not define
│   └── PeriodError: a period label, range or report day that cannot be read
│       └── PeriodRangeError: a range of periods that is empty or too long
├── MissingRateError: no exchange rate for a currency on a day
└── WorkspaceError: the workspace file cannot be opened or migrated
"""

from __future__ import annotations

from dataclasses import dataclass


class RevaxisError(Exception):
    """Base class of every error that revaxis raises on purpose."""


class InputError(RevaxisError, ValueError):
    """A value given by the user is invalid, and the message tells how to fix it."""


@dataclass(frozen=True)
class Problem:
    """One rejected row of an import: where it is, what is wrong, how to fix it."""

    file: str
    line: int | None
    field: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field is None:
            return f"{place}: {self.reason}"
        return f"{place}: field {self.field!r}, value {self.value!r}: {self.reason}"


class ImportRejected(InputError):
    """An import found invalid rows; the workspace was left unchanged."""

    def __init__(self, problems: list[Problem], rows_read: int) -> None:
        self.problems = problems
        self.rows_read = rows_read
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = len(problems) - 50
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(
            f"Import rejected: {len(problems)} problem(s) in {rows_read} row(s) "
            f"read; nothing was changed in the workspace.\n{shown}{tail}"
        )


class UnknownAxisError(InputError):
    """An axis key that the workspace does not define."""


class PeriodError(InputError):
    """A period label, range or report day that cannot be read."""


class PeriodRangeError(PeriodError):
    """A range of report periods that is empty or longer than a report allows.

    `first` and `last` are the labels of its first and last periods, and
    `count` the number of periods (0 for an empty range), so that each
    interface can name its own parameters in its message.
    """

    def __init__(self, message: str, *, first: str, last: str, count: int) -> None:
        super().__init__(message)
        self.first = first
        self.last = last
        self.count = count


class MissingRateError(RevaxisError):
    """No exchange rate is known for a currency on a day."""

    def __init__(self, missing: list[tuple[str, str]], report_currency: str) -> None:
        self.missing = missing
        sample = ", ".join(f"{cur} on {day}" for cur, day in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        super().__init__(
            f"No exchange rate to {report_currency} for {sample}{more}. Import an "
            "fx_rates.csv (date, currency, rate) that covers these days, or report "
            "in the lines' own currency with --currency."
        )


class WorkspaceError(RevaxisError):
    """The workspace file cannot be opened, read or migrated."""
