"""Documentation that cannot drift from the code: every setting and CLI command
has an entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command

from revaxis.cli import app
from revaxis.workspace import SETTINGS

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("key", sorted(SETTINGS))
def test_setting_is_documented(key):
    assert f"| `{key}` |" in (DOCS / "settings.md").read_text()


def _commands():
    root = get_command(app)
    for name, command in root.commands.items():
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for sub in subcommands:
                yield f"{name} {sub}"
        else:
            yield name


@pytest.mark.parametrize("command", sorted(_commands()))
def test_command_is_documented(command):
    text = "\n".join(
        p.read_text() for p in [*DOCS.glob("*.md"), DOCS.parent / "README.md"]
    )
    assert f"revaxis {command}" in text or f"revaxis --db demo.duckdb {command}" in text
