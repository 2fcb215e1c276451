"""revaxis: subscription revenue analytics with exact MRR movements by segment."""

from __future__ import annotations

from revaxis._errors import (
    ImportRejected,
    InputError,
    MissingRateError,
    PeriodError,
    Problem,
    RevaxisError,
    UnknownAxisError,
    WorkspaceError,
)
from revaxis.workspace import ImportReport, Workspace

__version__ = "0.1.0"

__all__ = [
    "ImportRejected",
    "ImportReport",
    "InputError",
    "MissingRateError",
    "PeriodError",
    "Problem",
    "RevaxisError",
    "UnknownAxisError",
    "Workspace",
    "WorkspaceError",
    "__version__",
]
