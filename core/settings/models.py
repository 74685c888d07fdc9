"""An owner's change to one config key made on the «Настройки» screen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime


class PanelSetting(Base):
    """The value the panel set for "section.key" (e.g. "messaging.rating_scale"); the file
    keeps the default, and a row equal to the file's value is not kept."""

    __tablename__ = "panel_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
