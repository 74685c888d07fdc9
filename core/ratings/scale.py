"""The clinic's rating scale (1-5, 1-10 or smileys): what a score is and how it reads.

Its own module because both the rating request (core.ratings.survey) and the follow-up after a
score (core.ratings.followup) need it, and the request imports the follow-up.
"""

from __future__ import annotations

from core.config import Config

# config.messaging.rating_scale -> the scale stored on a rating.
SCALE_OF_SETTING = {"1-5": "5", "1-10": "10", "smileys": "smileys"}
SMILEYS = ("😞", "🙁", "😐", "🙂", "😄")  # 1 … 5


def top_score(scale: str) -> int:
    return 10 if scale == "10" else 5


def shown_score(score: int, scale: str) -> str:
    """How a score reads for the staff: "2/5", "4/10", "🙁 (2/5)"."""
    if scale == "smileys":
        return f"{SMILEYS[score - 1]} ({score}/5)"
    return f"{score}/{top_score(scale)}"


def is_low(config: Config, score: int, scale: str) -> bool:
    m = config.messaging
    return score <= (m.rating_low_score_10 if scale == "10" else m.rating_low_score)
