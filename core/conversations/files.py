"""Files patients send: downloaded from Telegram after the message is stored, kept under
<data_dir>/files/<conversation>/<line><ext>, refused over conversations.max_file_mb.

The download happens outside the update's transaction (no store lock is held across a
network round trip); a line stays `pending` until it is fetched, and any later fetch
picks up lines a crash left behind.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.conversations.models import ThreadMessage
from core.db import transaction
from core.models import OutboxMessage

log = logging.getLogger(__name__)

# file_id -> (bytes, Telegram's file_path); raises FileTooBig before downloading if it can.
Downloader = Callable[[str, int], tuple[bytes, str]]


class FileTooBig(Exception):
    pass


def files_dir(config: Config) -> Path:
    return Path(config.storage.data_dir, "files")


def limit_bytes(config: Config) -> int:
    return config.conversations.max_file_mb * 1024 * 1024


def _extension(line: ThreadMessage, telegram_path: str) -> str:
    for name in (line.file_name, telegram_path):
        suffix = PurePosixPath(name or "").suffix.lower()
        # Only a plain short suffix: the name comes from the patient's device.
        if 1 < len(suffix) <= 8 and suffix[1:].isalnum():
            return suffix
    return mimetypes.guess_extension(line.mime_type or "") or ".bin"


def fetch_pending(
    factory: sessionmaker[Session], download: Downloader, config: Config, limit: int = 20
) -> int:
    """Download up to ``limit`` pending files; returns how many were stored."""
    with factory() as session:
        pending = session.scalars(
            select(ThreadMessage.id)
            .where(ThreadMessage.file_state == "pending")
            .order_by(ThreadMessage.id)
            .limit(limit)
        ).all()
    stored = 0
    for line_id in pending:
        with factory() as session:
            line = session.get(ThreadMessage, line_id)
            if line is None or line.file_state != "pending":
                continue
            file_id, conversation_id = line.file_id, line.conversation_id
        state, error, relative, size = "stored", "", "", None
        try:
            data, telegram_path = download(file_id, limit_bytes(config))
            if len(data) > limit_bytes(config):
                raise FileTooBig
        except FileTooBig:
            state = "too_big"
            error = f"файл больше {config.conversations.max_file_mb} МБ — не принят"
        except Exception as exc:  # Telegram or the network; the line shows why
            log.warning("downloading file of thread line %s failed: %s", line_id, exc)
            state, error = "failed", f"не удалось скачать: {exc}"[:300]
        else:
            with factory() as session:
                line = session.get(ThreadMessage, line_id)
                assert line is not None
                ext = _extension(line, telegram_path)
            relative = f"{conversation_id}/{line_id}{ext}"
            target = files_dir(config) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(target)
            size = len(data)
            stored += 1
        with transaction(factory) as session:
            line = session.get(ThreadMessage, line_id)
            if line is not None:
                line.file_state, line.file_error, line.file_path = state, error, relative
                if size is not None:
                    line.file_size = size
                if not line.mime_type and relative:
                    line.mime_type = mimetypes.guess_type(relative)[0] or ""
    return stored


def stored_path(config: Config, line: ThreadMessage) -> Path | None:
    """The file of a stored line, only if it is inside the files directory."""
    if line.file_state != "stored" or not line.file_path:
        return None
    root = files_dir(config).resolve()
    path = (root / line.file_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


# --- files the clinic sends (a reply from the panel) ---------------------------------------

# What Telegram shows as a photo (sendPhoto takes up to 10 MB); anything else, or a bigger
# picture, goes as a document, which the patient can open or save as it is.
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
PHOTO_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file a staff member attached to a reply."""

    data: bytes
    file_name: str
    mime_type: str = ""

    @property
    def as_photo(self) -> bool:
        return self.mime_type in PHOTO_TYPES and len(self.data) <= PHOTO_LIMIT


def clean_name(name: str) -> str:
    """The name a patient sees: the uploader's own, without any folder part."""
    base = PurePosixPath(name.replace("\\", "/")).name.strip()
    return "".join(ch for ch in base if ch.isprintable())[:255] or "файл"


def save_outgoing(config: Config, conversation_id: int, line_id: int, upload: Upload) -> str:
    """Keep the file beside the thread's others; returns its path under files/."""
    suffix = PurePosixPath(upload.file_name).suffix.lower()
    if not (1 < len(suffix) <= 8 and suffix[1:].isalnum()):
        suffix = mimetypes.guess_extension(upload.mime_type or "") or ".bin"
    relative = f"{conversation_id}/{line_id}-out{suffix}"
    target = files_dir(config) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.write_bytes(upload.data)
    tmp.replace(target)
    return relative


def outgoing_file(
    factory: sessionmaker[Session], config: Config, message: OutboxMessage
) -> tuple[bytes, str, bool] | None:
    """For the transport: the bytes, name and photo-or-document of an outbox row of kind
    "file" (its key names the thread line that holds the file), or None if it is gone."""
    kind, _, rest = message.key.partition(":")
    # "staff-reply:<line>", or "staff-reply:<line>:via:max" once sent by the other messenger.
    raw = rest.split(":", 1)[0]
    if kind != "staff-reply" or not raw.isdigit():
        return None
    with factory() as session:
        line = session.get(ThreadMessage, int(raw))
        if line is None or line.outbox_id != message.id:
            return None
        path = stored_path(config, line)
        if path is None:
            return None
        return path.read_bytes(), line.file_name or path.name, line.kind == "photo"
