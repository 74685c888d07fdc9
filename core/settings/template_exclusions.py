"""The catalogue texts «Настройки → Тексты сообщений» does not offer, each with the reason
(one line): staff wording, the consent kept in versions, texts no sender uses."""

from __future__ import annotations


def _reasons(reason: str, *keys: str) -> dict[str, str]:
    return dict.fromkeys(keys, reason)


_STAFF = "для сотрудников (задача, группа сотрудников или панель), не для пациента"
_UNUSED = "сейчас ни одна отправка этот текст не использует"

# Not on the screen, with the reason (one line each).
EXCLUDED: dict[str, str] = {
    # /messenger answers, but is not in the «/» menu (bot_handlers/commands.py MENU): it
    # matters only to a patient with both messengers, who finds it in «Настройки».
    "cmd_messenger": "команда /messenger не входит в меню «/»: выбор мессенджера — в "
    "«Настройках» бота",
    "consent_default_text": "текст согласия: меняется версиями на странице «Согласие» "
    "(core/versioned_text.py), у каждого пациента записана принятая версия",
    **_reasons(
        "команды в настройках бота (/stop, /subscribe): их название не меняется",
        "settings_mailings_stop",
        "settings_mailings_start",
    ),
    **_reasons(
        _UNUSED,
        "welcome",
        "not_found",
        "visits_header",
        "message_received",
        "visit_past_cancelled",
    ),
    **_reasons(
        _STAFF,
        "task_reschedule_wish",
        "task_cancel_visit",
        "task_arrival_offer",
        "task_reschedule",
        "task_message",
        "task_unknown_patient",
        "btn_take",
        "btn_done",
        "btn_dismiss",
        "task_taken",
        "task_done",
        "task_dismissed",
        "task_taken_by_other",
        "task_closed_by",
        "post_count",
        "post_more",
        "post_reply",
        "post_link",
        "post_by_system",
        "post_open",
        "post_escalated",
        "post_blocked",
        "staff_ping",
        "staff_ping_many",
        "staff_ping_more",
        "staff_not_linked",
        "staff_button_stale",
        "staff_reply_refused",
        "staff_reply_undelivered",
        "staff_reply_text_only",
        "staff_link_done",
        "staff_link_bad",
        "staff_link_usage",
        "staff_ping_managers",
        "task_service_recovery",
        "task_escalated",
        "task_no_show",
        "task_rebook",
        "task_auto_closed",
        "task_family_confirm",
        "task_second_account",
        "task_manager_discussion",
        "task_rating_comment",
        "task_phone_confirm",
        "task_family_invite",
        "task_screenshot",
        "task_mis_writeback",
        "mis_back",
        "campaign_booking_task",
        "rerouted_note",
        "reply_rerouted_note",
        "screenshot_asked_review",
        "screenshot_asked_social",
        "screenshot_what_review",
        "screenshot_what_social",
    ),
    **_reasons(
        "причина, по которой задача закрыта сама: видит только сотрудник",
        "no_show_arrived",
        "no_show_completed",
        "no_show_cancelled",
        "no_show_deleted",
        "no_show_rescheduled",
        "no_show_rebook",
    ),
    **_reasons(
        "строка переписки о том, что прислал пациент: её читают сотрудники",
        "line_photo",
        "line_document",
        "line_voice",
        "line_audio",
        "line_video",
        "line_video_note",
        "line_sticker",
        "line_location",
        "line_contact",
        "line_file_too_big",
        "line_animation",
    ),
}
