"""Uploaded files, written to a temporary folder for `Workspace.import_path`:
their names, the ZIP archives among them, and the size of a request body."""

from __future__ import annotations

import os
import shutil
import unicodedata
import zipfile
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revaxis._errors import InputError

# Uploaded ZIP archives may expand to this many bytes at most, which stops a
# small archive from filling the server's disk.
MAX_ZIP_BYTES = 512 * 1024**2
# Bytes that one request body may carry, unless $REVAXIS_MAX_UPLOAD_MB sets
# another number of mebibytes.
DEFAULT_MAX_UPLOAD_MB = 200
MAX_UPLOAD_ENV = "REVAXIS_MAX_UPLOAD_MB"
# Uploaded names are cut to this many UTF-8 bytes, well below the 255-byte
# limit of a name on ext4, XFS and APFS.
MAX_NAME_BYTES = 120
# A suffix longer than this is part of the name rather than a file type.
_MAX_SUFFIX_BYTES = 16


def upload_name(filename: str | None) -> str:
    """Return a name under which an uploaded file can be written in a folder.

    Folders are dropped (some browsers send `C:\\data\\lines.csv`), control
    characters such as NUL are removed, and a name longer than MAX_NAME_BYTES
    is shortened, keeping its suffix, from which the import reads the file type.
    Raises InputError for an empty name, `.` or `..`.
    """
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) != "Cc").strip()
    if name in ("", ".", ".."):
        raise InputError(
            f"Invalid file name {filename!r}: give the uploaded file a name, such "
            "as lines.csv."
        )
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    suffix = Path(name).suffix
    if len(suffix.encode()) > _MAX_SUFFIX_BYTES:
        suffix = ""
    stem = name[: len(name) - len(suffix)]
    room = MAX_NAME_BYTES - len(suffix.encode())
    # Cutting the UTF-8 bytes may split a character: drop its first bytes.
    stem = stem.encode()[:room].decode(errors="ignore")
    return stem + suffix


def max_upload_bytes() -> int:
    """Return the bytes that one request body may carry: $REVAXIS_MAX_UPLOAD_MB
    mebibytes, else DEFAULT_MAX_UPLOAD_MB. Raises InputError for a value that
    is not a whole number of 1 or more."""
    text = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_UPLOAD_MB * 1024**2
    try:
        megabytes = int(text)
    except ValueError:
        megabytes = 0
    if megabytes < 1:
        raise InputError(
            f"Invalid {MAX_UPLOAD_ENV} {text!r}: give the largest request body "
            "as a whole number of mebibytes, 1 or more."
        )
    return megabytes * 1024**2


class BodySizeLimit:
    """ASGI middleware that stops reading a request body beyond `max_bytes`.

    A request whose Content-Length is too large fails on its first read, any
    other when the bytes read pass the limit. Either way the route gets an
    HTTPException 413, which the app's handler turns into a JSON error or a
    page. Bodies that no route reads are never counted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        read = 0

        async def limited_receive() -> Message:
            nonlocal read
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)

    def _too_large(self) -> HTTPException:
        megabytes = self.max_bytes / 1024**2
        return HTTPException(
            413,
            f"Request body too large: this server accepts at most "
            f"{megabytes:g} MiB ({MAX_UPLOAD_ENV}). Upload smaller files, or "
            "import the data with `revaxis import` on the server.",
        )


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
                    f"{MAX_ZIP_BYTES // 1024**2} MiB: import the files with "
                    "`revaxis import` on the server."
                )
            written = []
            for member in members:
                path = target / upload_name(Path(member.filename).name)
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
