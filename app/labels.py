"""The panel's Russian names for the store's internal values: task kinds, the kinds of
messages in the outbox, the tables the audit log names, and plain values (yes / no, an
empty value, a moment written as ISO text).

One table each, so a screen never shows «reminder» or «True» because its own dictionary
missed a kind: a kind without a name here is shown as a neutral Russian word, with the
internal name beside it for whoever has to look it up (tests/app/test_panel_russian.py
reads every page for leaks, and tests/app/test_labels.py checks every task kind the code
creates has its name).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from markupsafe import Markup, escape

from app import ledger_basis

TASK_KINDS = {
    "message": "сообщение",
    "reschedule": "перенос визита",
    "cancel_visit": "отмена визита",
    "unknown_patient": "неизвестный пациент",
    "service_recovery": "низкая оценка",
    "no_show": "не пришёл(ла)",
    "mis_writeback": "подтверждение не записано в МИС",
    "arrival_offer": "пациент в холле",
    "second_account": "второй аккаунт пациента",
    "phone_confirm": "подтвердить номер",
    "family_confirm": "подтвердить семью",
    "document_question": "вопрос по документу",
    "document_locked": "подпись заблокирована",
    "document_unavailable": "документ недоступен",
    "review_screenshot": "скриншот отзыва",
    "social_screenshot": "скриншот публикации",
    "booking": "запись по рассылке",
}

OUTBOX_KINDS = {
    "reminder": "напоминание",
    "awaiting": "ждём вас",
    "booked": "запись",
    "moved": "перенос",
    "cancelled": "отмена",
    "no_show": "неявка",
    "arrival": "приход",
    "rating": "оценка визита",
    "care": "рекомендации",
    "bonus": "бонусы",
    "birthday": "день рождения",
    "holiday": "праздник",
    "campaign": "рассылка",
    "welcome": "приветствие",
    "linked": "подключение",
    "reply": "ответ клиники",
    "file": "файл клиники",
    "text": "сообщение",
    "notice": "уведомление",
    "task": "задача персоналу",
    "alert": "оповещение персоналу",
    "edit_text": "правка сообщения",
    "edit_markup": "правка кнопок",
    "phone_code": "код по SMS",
    "document": "документ",
    "document_code": "код подписи",
}

AUDIT_TABLES = {
    "staff_users": "сотрудники",
    "staff_sessions": "сеансы входа",
    "staff_telegram": "Telegram сотрудников",
    "tasks": "задачи",
    "patients": "пациенты",
    "subscribers": "чаты пациентов",
    "patient_links": "связи чатов с пациентами",
    "loyalty_settings": "настройки бонусов",
    "loyalty_accounts": "бонусные счета",
    "loyalty_families": "семьи",
    "loyalty_members": "члены семей",
    "ledger_entries": "бонусные операции",
    "campaigns": "рассылки",
    "outbox": "исходящие сообщения",
    "consent_texts": "тексты согласия",
    "care_instructions": "рекомендации после лечения",
    "document_templates": "шаблоны документов",
    "document_requests": "документы на подпись",
    "pep_agreements": "соглашения о ПЭП",
    "conversations": "переписки",
    "thread_messages": "сообщения переписок",
    "kv": "служебные значения",
    "panel_settings": "настройки",
    "review_offers": "ссылки на отзывы",
    "visit_ratings": "оценки визитов",
    "loyalty_lots": "начисления бонусов",
    "ledger_allocations": "списания по начислениям",
    "loyalty_referral_codes": "ссылки «пригласить друга»",
    "loyalty_referrals": "рекомендации",
    "family_invites": "приглашения в семью",
    "patient_phones": "телефоны пациентов",
    "phone_codes": "коды подтверждения номера",
    "document_signatures": "подписи документов",
    "care_sent": "отправленные рекомендации",
    "staff_posts": "сообщения в группе сотрудников",
    "mis_writebacks": "записи в МИС",
    "appointments": "визиты",
    "doctors": "врачи",
    "payments": "оплаты",
    "domain_events": "события",
    "reminder_reach": "доставка напоминаний",
    "sync_cursors": "чтение МИС",
    "telegram_updates": "входящие из Telegram",
    "max_updates": "входящие из MAX",
    "max_messages": "сообщения MAX",
    "login_failures": "неудачные входы",
    "audit_log": "журнал",
}

# The panel's actions as the Журнал names them: an audit entry's action is the endpoint
# that made the change (app/audit.py), or an event of signing in (app/auth.py).
AUDIT_ACTIONS = {
    "auth.login": "вход",
    "auth.logout": "выход",
    "auth.login_failed": "неудачный вход",
    "auth.locked": "вход заблокирован",
    "bonus_screenshots.approve": "скриншот за бонусы одобрен",
    "bonus_screenshots.reject": "скриншот за бонусы отклонён",
    "campaigns.cancel": "рассылка отменена",
    "campaigns.create": "рассылка создана",
    "campaigns.preview": "предпросмотр рассылки",
    "care.create": "рекомендация добавлена",
    "care.delete": "рекомендация удалена",
    "care.toggle": "рекомендация включена или выключена",
    "care.update": "рекомендация изменена",
    "consent.save": "текст согласия изменён",
    "delivery.resend": "сообщение отправлено снова",
    "documents.check": "проверка документа",
    "documents.create_template": "шаблон документа добавлен",
    "documents.first_visit": "документ перед первым визитом выбран",
    "documents.save_agreement": "соглашение о подписи изменено",
    "documents.send": "документ отправлен на подпись",
    "documents.update_template": "шаблон документа изменён",
    "documents.withdraw": "документ отозван",
    "loyalty.approve": "бонус одобрен",
    "loyalty.family": "семья изменена",
    "loyalty.grant": "бонусы начислены или списаны вручную",
    "loyalty.leaderboard_links": "ссылки сотрудников",
    "loyalty.settings_view": "настройки бонусов изменены",
    "loyalty.spend": "списание бонусов на стойке",
    "max.webhook": "входящее из MAX",
    "settings.index": "настройки изменены",
    "settings.mis_view": "подключение к МИС изменено",
    "settings.reset": "настройка возвращена к файлу",
    "settings.templates_preview": "предпросмотр текста",
    "settings.templates_reset": "текст возвращён к исходному",
    "settings.templates_view": "текст сообщения изменён",
    "staff.activate": "сотрудник снова допущен",
    "staff.add": "сотрудник добавлен",
    "staff.deactivate": "сотрудник отключён",
    "staff.reset_password": "пароль сброшен",
    "staff.telegram_code": "код для Telegram выдан",
    "staff.telegram_unlink": "Telegram отвязан",
    "task_reports.telegram_code": "код для Telegram выдан",
    "task_reports.telegram_unlink": "Telegram отвязан",
    "tasks.act": "задача взята, закрыта или отклонена",
    "tasks.reply_view": "ответ пациенту",
    "telegram.webhook": "входящее из Telegram",
}

_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?$")


def _named(table: dict[str, str], value: str, fallback: str) -> Markup:
    if value in table:
        return Markup(escape(table[value]))
    # Not named yet: a neutral word a person can read, the internal name for whoever asks.
    return Markup(f"{escape(fallback)} <code>{escape(value)}</code>")


def task_kind(value: str) -> Markup:
    return _named(TASK_KINDS, value, "задача")


def outbox_kind(value: str) -> Markup:
    return _named(OUTBOX_KINDS, value, "сообщение")


def audit_table(value: str) -> Markup:
    return _named(AUDIT_TABLES, value, "таблица")


def audit_action(value: str) -> Markup:
    return _named(AUDIT_ACTIONS, value, "действие")


def plain(value: Any, tz: ZoneInfo) -> str:
    """A stored value as a Russian reader expects it: «да» / «нет», «—» for nothing, a
    moment in the clinic's time as 02.12.2026 09:30:15."""
    if value is None or value == "":
        return "—"
    if value is True or value == "True" or value == "true":
        return "да"
    if value is False or value == "False" or value == "false":
        return "нет"
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%d.%m.%Y %H:%M:%S")
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return moment.strftime("%d.%m.%Y %H:%M:%S")
        return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M:%S")
    return str(value)


def register(app: Flask, tz: ZoneInfo) -> None:
    app.add_template_filter(task_kind, "task_kind")
    app.add_template_filter(outbox_kind, "outbox_kind")
    app.add_template_filter(audit_table, "audit_table")
    app.add_template_filter(audit_action, "audit_action")
    app.add_template_filter(lambda value: plain(value, tz), "plain")
    app.add_template_filter(ledger_basis.basis, "ledger_basis")
    app.add_template_filter(ledger_basis.in_russian, "ledger_reason")
