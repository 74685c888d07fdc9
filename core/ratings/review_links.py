"""Which review links a rating request offers, the buttons that carry them, and an open.

The clinic lists its platforms (messaging.review_links; the older single review_url is one
link of «другая» площадка when the list is empty) and a policy picks among them for each
request: "all" (a button each), "rotate" (one: the platform offered least so far, ties by
list order, so offers spread evenly), "first" (the first alone). Nothing here reads a
score or anything about the patient: the platforms' rules forbid review gating
(../shared/reference/reviews-consent-and-peers.md), and the choice is made before any
score exists.

Each button offered is a ReviewOffer row with an unguessable token. With web.public_url
set the button leads to <public_url>/r/<token> (app/views/review_links.py), which counts
the open and sends the patient on; without it the button leads straight to the platform
and an open is not known.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.config import MessagingConfig
from core.ratings.models import ReviewOffer
from core.texts import render

# What /r/<token> accepts before it asks the store: token_urlsafe's alphabet and length.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")
TOKEN_BYTES = 18  # 24 characters, 144 random bits


@dataclass(frozen=True)
class ReviewLink:
    platform: str  # core.config.REVIEW_PLATFORMS
    url: str
    name: str = ""  # «другая»: the clinic's own name for it

    @property
    def key(self) -> tuple[str, str]:
        """What rotation counts by: a platform, and «другая» ones by their name."""
        return (self.platform, self.name)


def configured(m: MessagingConfig) -> list[ReviewLink]:
    """The clinic's links in its order; review_url alone when no list is given."""
    if m.review_links:
        return [
            ReviewLink(e["platform"], e["url"], str(e.get("name", "")).strip())
            for e in m.review_links
        ]
    return [ReviewLink("other", m.review_url)] if m.review_url else []


class Chooser:
    """Picks the links of each request in one planning run. Rotation's counts are read once
    and kept up to date here, not counted again for every request."""

    def __init__(self, session: Session, links: list[ReviewLink], policy: str) -> None:
        self.session, self.links, self.policy = session, links, policy
        self.counts: Counter[tuple[str, str]] | None = None

    def _counted(self) -> Counter[tuple[str, str]]:
        """The offers so far by platform, read at the first request of the run that needs
        them (most runs ask nobody and read nothing)."""
        if self.counts is None:
            rows = self.session.execute(
                select(ReviewOffer.platform, ReviewOffer.name, func.count()).group_by(
                    ReviewOffer.platform, ReviewOffer.name
                )
            )
            self.counts = Counter({(p, n): c for p, n, c in rows})
        return self.counts

    def next(self) -> list[ReviewLink]:
        if not self.links:
            return []
        if self.policy == "first" or len(self.links) == 1:
            return self.links[:1]
        if self.policy == "rotate":
            counts = self._counted()
            # min() keeps the first of equals: ties go by the clinic's list order.
            chosen = min(self.links, key=lambda link: counts[link.key])
            counts[chosen.key] += 1
            return [chosen]
        return list(self.links)


def button_text(platform: str, name: str, lang: str) -> str:
    if platform != "other":
        return render(f"btn_review_{platform}", lang)
    return render("btn_review_named", lang, name=name) if name else render("btn_review", lang)


def _href(offer: ReviewOffer, public_url: str) -> str:
    base = public_url.rstrip("/")
    return f"{base}/r/{offer.token}" if offer.tracked and base else offer.url


def offer(
    session: Session,
    rating_id: int,
    patient_mis_id: str,
    links: list[ReviewLink],
    public_url: str,
    lang: str,
    now: datetime,
) -> list[list[dict[str, Any]]]:
    """Keep an offer per link and return the keyboard rows of their buttons, one a row."""
    rows = []
    for link in links:
        row = ReviewOffer(
            rating_id=rating_id,
            patient_mis_id=patient_mis_id,
            platform=link.platform,
            name=link.name,
            url=link.url,
            token=secrets.token_urlsafe(TOKEN_BYTES),
            tracked=bool(public_url.strip()),
            offered_at=now,
            opens=0,
        )
        session.add(row)
        rows.append(
            [{"text": button_text(link.platform, link.name, lang), "url": _href(row, public_url)}]
        )
    session.flush()
    return rows


def buttons_of(
    session: Session, rating_id: int, public_url: str, lang: str
) -> list[list[dict[str, Any]]]:
    """The review buttons a rating request was sent with, from its offers."""
    offers = session.scalars(
        select(ReviewOffer).where(ReviewOffer.rating_id == rating_id).order_by(ReviewOffer.id)
    )
    return [
        [{"text": button_text(o.platform, o.name, lang), "url": _href(o, public_url)}]
        for o in offers
    ]


def lookup(session: Session, token: str) -> tuple[int, str] | None:
    """(offer id, the platform's address) for a token; None when it names no offer (a
    garbled one is not even looked up)."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    found = session.execute(
        select(ReviewOffer.id, ReviewOffer.url).where(ReviewOffer.token == token)
    ).first()
    return None if found is None else (int(found[0]), str(found[1]))


def record_open(session: Session, token: str, now: datetime) -> str | None:
    """Count an open of the offer with this token; its platform's address, or None when
    there is no such offer. Two updates of one row, each atomic, so two taps at once
    count twice and the first open's time is the earlier's."""
    found = lookup(session, token)
    if found is None:
        return None
    offer_id, url = found
    session.execute(
        update(ReviewOffer).where(ReviewOffer.id == offer_id).values(opens=ReviewOffer.opens + 1)
    )
    session.execute(
        update(ReviewOffer)
        .where(ReviewOffer.id == offer_id, ReviewOffer.first_opened_at.is_(None))
        .values(first_opened_at=now)
    )
    return url
