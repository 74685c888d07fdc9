"""«Тексты сообщений» → «Кнопки меню» in the panel: the group says when a patient sees a new
label; a label another menu button has is refused with the reason in Russian and what was
typed stays to be corrected; a good one is kept and the bot's menu shows it."""

from __future__ import annotations

import html

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import texts
from core.settings.models import PanelSetting
from core.texts import menu_labels
from tests.conftest import Persona


def _rows(factory: sessionmaker[Session]) -> dict[str, object]:
    with factory() as s:
        return {row.key: row.value for row in s.scalars(select(PanelSetting))}


def test_a_menu_label_is_edited_or_refused_on_the_screen(
    owner: Persona, factory: sessionmaker[Session]
) -> None:
    page = html.unescape(owner.get("/settings/templates?group=menu-buttons").get_data(as_text=True))
    assert 'id="g-menu-buttons" open' in page and 'id="t-menu_balance"' in page
    assert "Пациент увидит новую надпись, когда бот в следующий раз пришлёт ему меню" in page
    refused = owner.post(
        "/settings/templates",
        {
            "key": "menu_balance",
            "text_ru": "🗓 Мои визиты",
            "text_en": "🎁 Points",
            "action": "save",
        },
    )
    assert refused.status_code == 400
    said = html.unescape(refused.get_data(as_text=True))
    assert (
        "Не сохранено: «Кнопка меню «Мои бонусы»» (по-русски): «🗓 Мои визиты» уже стоит на "
        "кнопке меню «🗓 Мои визиты»." in said
    )
    assert "🎁 Points" in said  # what was typed stays
    assert _rows(factory) == {}
    saved = owner.post(
        "/settings/templates",
        {"key": "menu_balance", "text_ru": "🎁 Бонусы", "text_en": "🎁 Points", "action": "save"},
    )
    assert saved.status_code == 302
    assert _rows(factory) == {
        "template:menu_balance:ru": "🎁 Бонусы",
        "template:menu_balance:en": "🎁 Points",
    }
    assert texts.menu_keyboard("en")["keyboard"][0][1]["text"] == "🎁 Points"
    assert (
        owner.post("/settings/templates/reset", {"key": "menu_balance", "lang": "en"}).status_code
        == 302
    )
    assert _rows(factory)["template_former:menu_balance"] == ["🎁 Points"]
    assert menu_labels.key_of("🎁 Points") == "menu_balance"  # an old keyboard still works
