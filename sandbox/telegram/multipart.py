"""multipart/form-data request bodies: how files reach the emulator's Bot API.

Its own module because both sides use it: the HTTP layer (server.py) parses bodies into
uploads, the emulator (emulator.py) stores them; neither imports the other for it.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

__all__ = ["Upload", "parse_multipart"]


class Upload(NamedTuple):
    """A file that arrived in a multipart request."""

    filename: str
    data: bytes
    content_type: str | None = None


_NAME_RE = re.compile(r'(?:^|;)\s*name="([^"]*)"')
_FILENAME_RE = re.compile(r'(?:^|;)\s*filename="([^"]*)"|(?:^|;)\s*filename=([^;]*)')
_FILENAME_STAR_RE = re.compile(r"(?:^|;)\s*filename\*=([^']*)'[^']*'([^;]*)")


def parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, Upload]]:
    """Split a multipart body into fields and files.

    Hand-rolled because pyTelegramBotAPI writes non-ASCII file names unquoted and raw
    (``filename=выписка.pdf``), which Telegram accepts but werkzeug's parser reads as a
    plain text field, losing the bytes.
    """
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    if not boundary:
        return fields, files
    for part in body.split(b"--" + boundary.encode("latin-1"))[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        disposition, content_type = "", None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = value.strip()
            elif key.strip().lower() == "content-type":
                content_type = value.strip() or None
        name_match = _NAME_RE.search(disposition)
        if not name_match:
            continue
        name = name_match.group(1)
        filename: str | None = None
        star = _FILENAME_STAR_RE.search(disposition)
        if star:
            filename = unquote(star.group(2), encoding=star.group(1) or "utf-8", errors="replace")
        else:
            plain = _FILENAME_RE.search(disposition)
            if plain:
                filename = (
                    plain.group(1) if plain.group(1) is not None else plain.group(2)
                ).strip()
        if filename is None:
            fields[name] = content.decode("utf-8", "replace")
        else:
            files[name] = Upload(filename or name, content, content_type)
    return fields, files
