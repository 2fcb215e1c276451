"""Uploaded files, written to a temporary folder for `Workspace.import_path`."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from revaxis._errors import InputError

# Uploaded ZIP archives may expand to this many bytes at most, which stops a
# small archive from filling the server's disk.
MAX_ZIP_BYTES = 2 * 1024**3


def extract_zip(archive: Path, target: Path) -> list[Path]:
    """Extract the files of a ZIP archive into `target` and return their paths.

    Members are flattened to their base names, so that none can be written
    outside `target`; hidden files and macOS resource forks are skipped.
    Raises InputError for an invalid archive, two members with one name, or
    more than MAX_ZIP_BYTES once expanded.
    """
    try:
        with zipfile.ZipFile(archive) as opened:
            members = [
                member
                for member in opened.infolist()
                if not member.is_dir()
                and not Path(member.filename).name.startswith(".")
                and "__MACOSX" not in member.filename
            ]
            if sum(member.file_size for member in members) > MAX_ZIP_BYTES:
                raise InputError(
                    f"{archive.name} expands to more than "
                    f"{MAX_ZIP_BYTES // 1024**3} GiB: import the files with "
                    "`revaxis import` on the server."
                )
            written = []
            for member in members:
                path = target / Path(member.filename).name
                if path.exists():
                    raise InputError(
                        f"{archive.name} contains two files named {path.name}: "
                        "keep one."
                    )
                with opened.open(member) as source, path.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                written.append(path)
            return written
    except zipfile.BadZipFile as exc:
        raise InputError(f"{archive.name} is not a valid ZIP archive: {exc}.") from None
