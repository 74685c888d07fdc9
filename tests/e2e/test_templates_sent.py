"""Texts edited on «Настройки → Тексты сообщений» reach the patient through the real
senders, in Telegram and in MAX (the emulators, the wired appliance, the demo clinic): one
text of each group the screen gained after its first release — the consent's greeting,
linking (and MAX's code), the menu, «Написать в клинику», the bot's settings, family, care instructions,
documents, a friend's invitation, «Мои бонусы» and its screenshot bonus, a bonus notice,
the reminder's buttons and the reschedule questions. The owner's rows are kept as the panel
keeps them (core.settings.templates.save); the appliance's own reading of the settings
hands them to render()."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import transaction
from core.loyalty import settings as loyalty
from core.settings import templates
from sandbox.demo_clinic import DemoClinic, persona
from tests.conftest import clinic_now
from tests.e2e.flows import complete_and_pay
from tests.e2e.phone import Phone, max_emu, menu_phone, smsru  # noqa: F401  (fixtures)
from tests.e2e.test_menu import book

pytestmark = pytest.mark.clock


def _edit(phone: Phone, changes: dict[str, str]) -> None:
    """The owner saves these Russian texts on the screen."""
    with transaction(phone.world.appliance.factory) as s:
        for key, text in changes.items():
            assert templates.save(s, key, {"ru": text}, "owner") == ["ru"]
        templates.publish(s)


def test_edited_texts_of_linking_and_the_menu_reach_the_patient(
    menu_phone: Phone,  # noqa: F811
    demo_clinic: DemoClinic,
) -> None:
    phone = menu_phone
    _edit(
        phone,
        {
            "consent_request": "«{clinic}» просит вашего согласия:\n\n{text}",
            "btn_consent_accept": "👍 Да, согласен(на)",
            "greeting": "{name}, узнали вас в «{clinic}»!",
            "greeting_family": "{name}, узнали вас в «{clinic}»! И ещё: {others}.",
            "phone_code_sent": "Код ушёл SMS на …{tail}, напишите его сюда.",
            "help": "Справка бота «{clinic}»: /visits, /balance.",
            "settings_screen": "Настройки: рассылки {mailings}.\n{kinds}",
            "family_screen": "Ваша семья:\n{lines}",
            "care_none": "Памяток пока нет — «{clinic}».",
            "doc_mine_none": "Документов пока нет.",
            "ask_prompt": "Пишите, «{clinic}» ответит здесь.",
            "friend_screen": "Друзья в «{clinic}»: {link}\n{reward}Пришли: {came}.",
            "balance": "{name}, на счету {balance} (бонус = {value} ₽).",
            "btn_screenshot_review": "📸 Бонус за отзыв",
            "screenshot_ask_review": "Пришлите скриншот отзыва — начислим {points} бонусов.",
        },
    )
    phone.world.appliance.sync_job()
    anna = persona("anna")
    chat = phone.person("Анна")
    phone.start(chat)
    consent = phone.wait(chat, 1)[-1]
    assert consent.text.startswith("«Тестовая клиника» просит вашего согласия:\n\nЯ соглашаюсь")
    phone.press(chat, "👍 Да, согласен(на)", consent)  # the edited button still consents
    phone.wait(chat, 2)
    answer = phone.share_number(chat, anna.phone_e164, "Анна")
    if "who:all" in [data for _, data in answer.buttons]:
        seen = len(phone.messages(chat))
        phone.press_data(chat, answer, "who:all")
        phone.wait(chat, seen + 1)
    said = [m.text for m in phone.messages(chat)]
    assert any(", узнали вас в «Тестовая клиника»!" in text for text in said), said
    if phone.messenger == "max":  # MAX proves the number by a code sent by SMS
        assert any(text.startswith("Код ушёл SMS на …") for text in said)

    assert phone.say(chat, "/help").text == "Справка бота «Тестовая клиника»: /visits, /balance."
    assert phone.say(chat, "⚙️ Настройки").text.startswith("Настройки: рассылки включены.\n")
    assert phone.say(chat, "/family").text.startswith("Ваша семья:\n• ")
    assert phone.say(chat, "/care").text == "Памяток пока нет — «Тестовая клиника»."
    assert phone.say(chat, "/documents").text == "Документов пока нет."
    assert (
        phone.say(chat, "💬 Написать в клинику").text == "Пишите, «Тестовая клиника» ответит здесь."
    )
    friend = phone.say(chat, "/friend", more=2).text
    assert friend.startswith("Друзья в «Тестовая клиника»: https://") and "Пришли: 0." in friend
    with transaction(phone.world.appliance.factory) as s:
        loyalty.save(s, phone.world.config, {"review_bonus": 150, "bonus_screenshots": True}, "o")
    bonuses = phone.say(chat, "🎁 Мои бонусы")
    assert ", на счету 0 (бонус = " in bonuses.text
    seen = len(phone.messages(chat))
    phone.press(chat, "📸 Бонус за отзыв", bonuses)
    ask = phone.wait(chat, seen + 1)[-1].text
    assert ask == "Пришлите скриншот отзыва — начислим 150 бонусов."


def test_an_edited_bonus_notice_reminder_buttons_and_reschedule_questions(
    menu_phone: Phone,  # noqa: F811
    demo_clinic: DemoClinic,
) -> None:
    phone, anna = menu_phone, persona("anna")
    wired = phone.world
    _edit(
        phone,
        {
            "btn_confirm": "👍 Приду",
            "btn_reschedule": "🔁 Другое время",
            "reschedule_days": "Когда вам удобнее?",
            "days_weekdays": "По будням",
            "bonus_accrued": "{name}: +{points} бонусов, всего {balance}. «{clinic}»",
        },
    )
    wired.appliance.sync_job()
    chat = phone.link("anna", "Анна")
    seen = len(phone.messages(chat))
    wired.appliance.reminders_job()
    reminder = phone.wait(chat, seen + 1)[-1]
    assert reminder.labels[:2] == ["👍 Приду", "🔁 Другое время"]
    phone.press(chat, "👍 Приду", reminder)
    assert "подтверждён" in phone.wait(chat, seen + 2)[-1].text
    visit = int(reminder.data("👍 Приду").split(":")[1])

    seen = len(phone.messages(chat))
    complete_and_pay(wired, demo_clinic, visit, anna.patient_id, "3450.00")
    notice = phone.wait(chat, seen + 1)[-1].text
    assert ": +" in notice and notice.endswith("«Тестовая клиника»")
    assert " бонусов, всего " in notice

    # Another visit, on «Мои визиты»: «Другое время» asks the edited question.
    later = (clinic_now() + timedelta(days=3)).replace(hour=11, minute=0, second=0, microsecond=0)
    book(demo_clinic, anna.patient_id, later)
    wired.appliance.sync_job()
    phone.settle()
    screen = phone.say(chat, "/visits")
    assert "🔁 Другое время" in screen.labels
    seen = len(phone.messages(chat))
    phone.press(chat, "🔁 Другое время", screen)
    question = phone.wait(chat, seen + 1)[-1]
    assert question.text == "Когда вам удобнее?" and "По будням" in question.labels
