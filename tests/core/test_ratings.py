"""Ratings after a visit: asked once, answered once, low scores become tasks, and the
review link is never made to depend on the score."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import transaction
from core.models import Appointment, Doctor, OutboxMessage, Subscriber, Task, VisitRating
from core.ratings.survey import plan_rating_requests, record_rating
from tests.conftest import make_config
from tests.core.people import chat_for, patient

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock

REVIEW = "https://yandex.ru/maps/org/ulybka/123/reviews"


def _visit(
    s, mis_id: str, patient_id: str, ended_minutes_ago: int, status: str = "completed"
) -> None:  # type: ignore[no-untyped-def]
    end = utcnow() - timedelta(minutes=ended_minutes_ago)
    s.add(
        Appointment(
            mis_id=mis_id,
            patient_mis_id=patient_id,
            doctor_mis_id="d1",
            starts_at=end - timedelta(minutes=30),
            ends_at=end,
            status=status,
        )
    )


def _setup(tmp_path: Path, factory, **messaging):  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path,
        telegram={"staff_chat_id": -100},
        messaging={"rating_delay_minutes": 60, "review_url": REVIEW, **messaging},
    )
    with transaction(factory) as s:
        s.add(Doctor(mis_id="d1", full_name="Петров П. П.", specialty="Терапевт"))
        anna = patient(s, "p1")
        sub = chat_for(s, anna)
        _visit(s, "v1", "p1", ended_minutes_ago=90)
        _visit(s, "v2", "p1", ended_minutes_ago=30)  # too soon
        _visit(s, "v3", "p1", ended_minutes_ago=90, status="no_show")
        _visit(s, "v4", "p1", ended_minutes_ago=60 * 24 * 3)  # long ago
    return config, sub


def _requests(factory) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "rating")))


def test_one_request_per_completed_visit_with_the_review_link_for_everyone(
    tmp_path: Path, factory
) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory)
    assert plan_rating_requests(factory, config) == 1
    assert plan_rating_requests(factory, config) == 0
    (request,) = _requests(factory)
    rows = request.reply_markup["inline_keyboard"]
    assert [b["text"] for b in rows[0]] == ["1", "2", "3", "4", "5"]
    # The link is there before any score exists: nobody is selected for it by a score.
    assert rows[1] == [{"text": "✍️ Оставить отзыв", "url": REVIEW}]
    assert "Терапевт Петров П. П." in request.text and "отзыв" in request.text


def _press(factory, config, sub, data: str):  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        return record_rating(
            s,
            config,
            s.get(Subscriber, sub.id),
            data,
            chat_id=sub.chat_id,
            message_id=7,
            now=utcnow(),
        )


def _rating(factory) -> VisitRating:  # type: ignore[no-untyped-def]
    with factory() as s:
        return s.scalars(select(VisitRating)).one()


def test_a_low_score_opens_a_task_and_keeps_the_review_link(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, sub = _setup(tmp_path, factory)
    plan_rating_requests(factory, config)
    rating = _rating(factory)
    assert _press(factory, config, sub, f"rt:{rating.id}:2").accepted
    with factory() as s:
        task = s.scalars(select(Task)).one()
        edit = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "edit_markup"))
        thanks = s.scalar(
            select(OutboxMessage).where(OutboxMessage.key.startswith("rating-thanks"))
        )
    assert task.kind == "service_recovery" and "Оценка 2/5" in task.text
    assert _rating(factory).task_id == task.id
    assert "администратор свяжется" in thanks.text
    # The score buttons go; the review link stays, after a low score as after a high one.
    assert edit.reply_markup == {"inline_keyboard": [[{"text": "✍️ Оставить отзыв", "url": REVIEW}]]}
    assert _press(factory, config, sub, f"rt:{rating.id}:5").notice == "Ответ уже получен, спасибо."
    assert _rating(factory).score == 2


def test_a_high_score_thanks_and_opens_nothing(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, sub = _setup(tmp_path, factory)
    plan_rating_requests(factory, config)
    rating = _rating(factory)
    _press(factory, config, sub, f"rt:{rating.id}:5")
    with factory() as s:
        assert s.scalars(select(Task)).all() == []
        edit = s.scalar(select(OutboxMessage).where(OutboxMessage.kind == "edit_markup"))
    assert edit.reply_markup == {"inline_keyboard": [[{"text": "✍️ Оставить отзыв", "url": REVIEW}]]}


def test_forged_presses_change_nothing(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory)
    plan_rating_requests(factory, config)
    rating = _rating(factory)
    with transaction(factory) as s:
        stranger = chat_for(s, patient(s, "p2"))
    for data in (f"rt:{rating.id}:1", f"rt:{rating.id}:9", "rt:x:1", f"rt:{rating.id + 1}:1"):
        assert _press(factory, config, stranger, data).notice == "Эта кнопка не для вас."
    assert _rating(factory).score is None


def test_the_review_link_is_offered_at_most_once_per_period(tmp_path: Path, factory) -> None:  # type: ignore[no-untyped-def]
    config, _ = _setup(tmp_path, factory, review_every_days=180)
    plan_rating_requests(factory, config)
    with transaction(factory) as s:
        _visit(s, "v5", "p1", ended_minutes_ago=70)
    plan_rating_requests(factory, config)
    first, second = sorted(_requests(factory), key=lambda m: m.id)
    assert len(first.reply_markup["inline_keyboard"]) == 2
    assert len(second.reply_markup["inline_keyboard"]) == 1  # scores only, this time
