"""A care instruction's attachment: a PDF or an image (JPEG, PNG, WebP) sent with its text.

The type is read from the file's content (its first bytes, then the whole of it parsed by
pypdf or Pillow), never from its name or the browser's word. The file is kept under
<data_dir>/files/care/<instruction>/<sha256 prefix><ext>, beside the thread files: named
by its content, so replacing an instruction's attachment leaves what earlier patients got
(their thread lines, «Рекомендации») pointing at the file they got. Sending it is a line of
the patient's thread (the bot's, with the file) and an outbox row of kind "file" that the
transport reads back through core.conversations.files.outgoing_file, in Telegram and MAX
alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from sqlalchemy.orm import Session

from core.config import Config
from core.conversations import files
from core.conversations.lines import add_line, conversation_for
from core.conversations.threads import queue_file
from core.models import Subscriber

LIMIT_MB = 10
# Telegram takes a document of up to 50 MB and a photo of up to 10 MB from a bot; MAX's
# uploads are no tighter. Ten megabytes keep every attachment deliverable as it is.
LIMIT_BYTES = LIMIT_MB * 1024 * 1024
ACCEPTED = "PDF или изображение (.jpg, .png, .webp)"
# What each type is saved as.
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
}
_PILLOW_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class BadFile(ValueError):
    """Why a file cannot be attached, in Russian, for the person uploading it."""


@dataclass(frozen=True)
class Checked:
    data: bytes
    file_name: str  # as the patient sees it
    mime_type: str

    @property
    def as_photo(self) -> bool:
        return files.Upload(self.data, self.file_name, self.mime_type).as_photo


def sniff(data: bytes) -> str:
    """The type the content says it is ("" if none accepted), by its signature."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def _readable(data: bytes, mime: str) -> str:
    """Why a file of that signature is not whole, or ""."""
    if mime == "application/pdf":
        try:
            reader = PdfReader(BytesIO(data), strict=False)
            if reader.is_encrypted:
                return "PDF защищён паролем: пациент его не откроет. Сохраните без пароля."
            if len(reader.pages) == 0:
                return "В PDF нет страниц."
        except Exception as exc:
            return f"PDF не читается ({str(exc)[:100]}): сохраните его заново."
        return ""
    try:
        with Image.open(BytesIO(data)) as image:
            found = _PILLOW_TYPES.get(image.format or "")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"Изображение не читается ({str(exc)[:100]}): сохраните его заново."
    if found != mime:
        return "Содержимое изображения не совпадает с его форматом: сохраните его заново."
    return ""


def check(data: bytes, file_name: str) -> Checked:
    """The upload as it will be kept, or BadFile saying what is wrong with it."""
    if not data:
        raise BadFile("Файл пуст.")
    if len(data) > LIMIT_BYTES:
        raise BadFile(
            f"Файл больше {LIMIT_MB} МБ: уменьшите его (например, сожмите PDF) и загрузите снова."
        )
    mime = sniff(data)
    if not mime:
        raise BadFile(
            f"Файл «{files.clean_name(file_name)}» — не PDF и не изображение (.jpg, .png, "
            ".webp): тип проверен по содержимому, не по имени. Приложите PDF или изображение."
        )
    problem = _readable(data, mime)
    if problem:
        raise BadFile(problem)
    name = files.clean_name(file_name)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return Checked(data, (stem or "памятка")[:240] + EXTENSIONS[mime], mime)


def keep(config: Config, instruction_id: int, checked: Checked) -> str:
    """Save the file; returns its path under <data_dir>/files (for the thread lines)."""
    digest = hashlib.sha256(checked.data).hexdigest()[:32]
    relative = f"care/{instruction_id}/{digest}{EXTENSIONS[checked.mime_type]}"
    target = files.files_dir(config) / relative
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(checked.data)
        tmp.replace(target)
    return relative


def path_of(config: Config, relative: str) -> Path | None:
    """The kept file, only if it is a care file inside the files directory."""
    if not relative.startswith("care/"):
        return None
    root = files.files_dir(config).resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def send(
    session: Session,
    config: Config,
    sub: Subscriber,
    *,
    relative: str,
    file_name: str,
    mime_type: str,
    caption: str,
    priority: int,
    due_at: datetime | None,
    respect_quiet_hours: bool,
    patient_mis_id: str,
) -> bool:
    """The file into the patient's chat as the bot's line of their thread; False when the
    file is no longer kept (nothing is queued then)."""
    path = path_of(config, relative)
    if path is None:
        return False
    size = path.stat().st_size
    as_photo = mime_type in files.PHOTO_TYPES and size <= files.PHOTO_LIMIT
    line = add_line(
        session,
        conversation_for(session, sub),
        direction="out",
        kind="photo" if as_photo else "document",
        text=caption,
        author="",
        file_name=file_name,
        mime_type=mime_type,
        file_size=size,
        file_state="stored",
        file_path=relative,
        subscriber_id=sub.id,
    )
    return queue_file(
        session,
        sub,
        line,
        priority=priority,
        due_at=due_at,
        respect_quiet_hours=respect_quiet_hours,
        patient_mis_id=patient_mis_id,
    )
