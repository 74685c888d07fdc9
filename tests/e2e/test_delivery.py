"""Delivery end to end, through the Bot API emulator: a rating after a visit with a
service-recovery task, a campaign and its Unsubscribe button, and the bot being blocked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import campaigns
from core.db import transaction
from core.models import Subscriber, Task, VisitRating
from core.ratings.survey import plan_rating_requests
from sandbox.demo_clinic import persona
from tests.conftest import Wired, clinic_now
from tests.e2e.flows import connect

REVIEW = "https://2gis.ru/moscow/firm/123/tab/reviews"


def _connect(wired: Wired, key: str, first_name: str) -> int:
    return connect(wired, key, first_name)


def _inline(message: dict) -> list[list[dict]]:
    return (message.get("reply_markup") or {}).get("inline_keyboard", [])


def test_a_low_rating_reaches_the_staff_and_the_review_link_stays(
    wired: Wired, demo_clinic
) -> None:  # type: ignore[no-untyped-def]
    emu, appliance = wired.emulator, wired.appliance
    anna = persona("anna")
    appliance.sync_job()
    chat = _connect(wired, "anna", "Аня")
    doctor_id = demo_clinic.doctors()[0][0]
    start = (clinic_now() - timedelta(hours=3)).replace(minute=0, second=0)
    visit = demo_clinic.book(anna.patient_id, doctor_id, start, minutes=30)
    demo_clinic.complete(visit)
    appliance.sync_job()
    config = wired.config.replace(messaging={"rating_delay_minutes": 60, "review_url": REVIEW})
    assert plan_rating_requests(appliance.factory, config) == 1
    request = wired.wait_messages(chat, 4)[-1]
    scores, link = _inline(request)
    assert [b["text"] for b in scores] == ["1", "2", "3", "4", "5"]
    assert link == [{"text": "✍️ Оставить отзыв", "url": REVIEW}]

    emu.press(chat, request["message_id"], scores[1]["callback_data"])  # "2"
    thanks = wired.wait_messages(chat, 5)[-1]
    assert "администратор свяжется" in thanks["text"]
    staff = wired.wait_messages(wired.staff_chat_id, 1)[-1]
    assert "Оценка 2/5" in staff["text"] and "Иванова Анна Сергеевна" in staff["text"]
    wired.pump(lambda: len(_inline(emu.messages(chat)[3])) == 1)
    assert _inline(emu.messages(chat)[3]) == [link]  # the scores went, the link did not
    with appliance.factory() as s:
        rating = s.scalars(select(VisitRating)).one()
        task = s.get(Task, rating.task_id)
    assert rating.score == 2 and task.kind == "service_recovery" and task.state == "open"


def test_a_campaign_carries_unsubscribe_and_unsubscribing_sticks(wired: Wired) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    chat = _connect(wired, "anna", "Аня")
    with transaction(appliance.factory) as s:
        campaigns.create_campaign(
            s, title="Осень", text="{name}, осенняя акция!", segment="all", created_by="owner"
        )
    assert appliance.campaigns_job() == 1
    sale = wired.wait_messages(chat, 4)[-1]
    assert sale["text"] == "Анна Сергеевна, осенняя акция!"
    (button,) = _inline(sale)[0]
    assert button["text"] == "🔕 Отписаться от рассылок"
    emu.press(chat, sale["message_id"], button["callback_data"])
    assert "Вы отписаны от рассылок" in wired.wait_messages(chat, 5)[-1]["text"]
    with transaction(appliance.factory) as s:
        campaigns.create_campaign(
            s, title="Зима", text="Зимняя акция", segment="all", created_by="owner"
        )
    assert appliance.campaigns_job() == 0
    emu.send_text(chat, "/subscribe")
    assert "снова включены" in wired.wait_messages(chat, 6)[-1]["text"]
    with appliance.factory() as s:
        assert s.scalars(select(Subscriber)).one().marketing_opt_out_at is None


def test_blocking_the_bot_marks_the_patient_before_any_403(wired: Wired) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    chat = _connect(wired, "anna", "Аня")
    emu.block_user(chat)
    wired.pump(lambda: True)
    with appliance.factory() as s:
        sub = s.scalars(select(Subscriber)).one()
    assert sub.unreachable_at is not None and sub.unreachable_reason == "blocked the bot"
    emu.send_text(chat, "/start")  # writing again lifts it
    wired.wait_messages(chat, 4)
    with appliance.factory() as s:
        assert s.scalars(select(Subscriber)).one().unreachable_at is None
