"""Texts of one patient in several messengers (core/messengers.py, bot_handlers/
messengers.py): the choice of messenger in the bot's settings, and the notes the staff read
in a thread when a message went by the other messenger. Kept apart from core/texts/__init__.py,
which merges them into its CATALOGUE. Russian first, English beside it."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "cmd_messenger": {"ru": "Мессенджер для сообщений", "en": "Messenger for messages"},
    "settings_messenger_button": {"ru": "📨 Мессенджер для сообщений", "en": "📨 Messenger"},
    "messenger_screen": {
        "ru": "Вы подключены к клинике в {channels}. Напоминания и ответы приходят в один из "
        "них, чтобы не дублироваться.\n\nСейчас: {current}.\n\nКуда присылать?",
        "en": "You are connected to the clinic in {channels}. Reminders and replies come to "
        "one of them so that nothing arrives twice.\n\nNow: {current}.\n\nWhere should they go?",
    },
    "messenger_only_one": {
        "ru": "Вы подключены к клинике только в {channel}: все сообщения приходят сюда.\n\n"
        "Если подключите и другой мессенджер (Telegram или MAX) с тем же номером, здесь "
        "можно будет выбрать, куда их присылать.",
        "en": "You are connected to the clinic in {channel} only: every message comes here.\n\n"
        "If you connect another messenger (Telegram or MAX) with the same number, you can "
        "choose here where they should go.",
    },
    "messenger_current_chosen": {"ru": "{channel} (ваш выбор)", "en": "{channel} (your choice)"},
    "messenger_current_last": {
        "ru": "{channel} — где вы писали последним",
        "en": "{channel}, the one you used last",
    },
    "messenger_choose": {"ru": "Присылать в {channel}", "en": "Send to {channel}"},
    "messenger_choose_last": {
        "ru": "Туда, где я писал(а) последним",
        "en": "Where I wrote last",
    },
    "messenger_chosen": {
        "ru": "Готово: сообщения клиники будут приходить в {channel}.",
        "en": "Done: the clinic's messages will come to {channel}.",
    },
    "messenger_chosen_last": {
        "ru": "Готово: сообщения будут приходить туда, где вы писали последним.",
        "en": "Done: messages will come to the messenger you used last.",
    },
    "messenger_unknown": {
        "ru": "Этот выбор больше не действует. Откройте /messenger ещё раз.",
        "en": "This choice is no longer valid. Open /messenger again.",
    },
    "messenger_unavailable": {
        "ru": "В {channel} бот сейчас не может вам писать (он заблокирован или чат удалён). "
        "Откройте бота клиники в {channel} и нажмите «Старт», затем выберите снова.",
        "en": "The bot cannot write to you in {channel} now (it is blocked or the chat is "
        "deleted). Open the clinic's bot in {channel}, press Start, then choose again.",
    },
    # Staff wording, in the thread (the panel and the staff group).
    "rerouted_note": {
        "ru": "{blocked}: не доставлено ({reason}). Отправлено в {target}: {count} сообщ.",
        "en": "{blocked}: not delivered ({reason}). Sent by {target} instead: {count} message(s).",
    },
    "reply_rerouted_note": {
        "ru": "{blocked} недоступен (бот заблокирован или чат удалён): ответ уходит в {target}.",
        "en": "{blocked} is unreachable (bot blocked or chat deleted): the reply goes by {target}.",
    },
}
