"""A review link offered in a rating request: which platform, where it leads, and whether
the patient opened it (through the appliance's /r/<token>, app/views/review_links.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime


class ReviewOffer(Base):
    """One platform's button under one rating request. `tracked`: the button led through
    web.public_url, so an open is counted; otherwise it went straight to the platform and
    nothing is known of it (the report counts opens among tracked offers only)."""

    __tablename__ = "review_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(
        ForeignKey("visit_ratings.id", ondelete="CASCADE"), index=True
    )
    patient_mis_id: Mapped[str] = mapped_column(String(64), index=True)
    platform: Mapped[str] = mapped_column(String(16))  # core.config.REVIEW_PLATFORMS
    name: Mapped[str] = mapped_column(String(40), default="")  # «другая»: the clinic's name
    url: Mapped[str] = mapped_column(Text)  # the platform's page
    # secrets.token_urlsafe: the only key of /r/<token>, unguessable.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opens: Mapped[int] = mapped_column(Integer, default=0)
