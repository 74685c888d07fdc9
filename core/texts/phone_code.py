"""Texts of linking by a one-time code (bot_handlers/phone_code.py): the proof of a phone a
messenger cannot vouch for itself (MAX). Kept apart from core/texts/__init__.py, which merges them
into its CATALOGUE. Russian first, English beside it."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "phone_code_sent": {
        "ru": "Мы отправили SMS с кодом на номер …{tail}, записанный в клинике. Напишите "
        "код сюда (6 цифр), он действует 10 минут.",
        "en": "We have sent a text with a code to the number ending {tail} that the clinic "
        "has. Type the code here (6 digits); it is valid for 10 minutes.",
    },
    "phone_code_sms": {
        "ru": "{clinic}: код для входа в бот — {code}. Никому его не сообщайте.",
        "en": "{clinic}: your code for the bot is {code}. Do not tell it to anyone.",
    },
    "phone_code_staff": {
        "ru": "Чтобы убедиться, что номер ваш, администратор позвонит на номер …{tail}, "
        "записанный в клинике, и назовёт код. Напишите его сюда (6 цифр).",
        "en": "To make sure the number is yours, the front desk will call the number ending "
        "{tail} that the clinic has and tell you a code. Type it here (6 digits).",
    },
    "task_phone_confirm": {
        "ru": "Подтвердите номер {phone} для {name} в MAX: позвоните на этот номер и назовите "
        "код {code} (действует 10 минут). Пациент введёт его в боте.",
        "en": "Confirm the number {phone} for {name} in MAX: call this number and tell the "
        "code {code} (valid for 10 minutes). The patient types it in the bot.",
    },
    "phone_code_wrong": {
        "ru": "Код не подошёл. Проверьте SMS и попробуйте ещё раз.",
        "en": "That code is not right. Check the text message and try again.",
    },
    "phone_code_burnt": {
        "ru": "Слишком много неверных попыток. Поделитесь номером ещё раз — пришлём новый код.",
        "en": "Too many wrong attempts. Share your number again and we will send a new code.",
    },
    "phone_code_wait": {
        "ru": "Код уже отправлен. Новый можно запросить через минуту (не больше пяти в сутки).",
        "en": "A code has been sent already. You can ask for a new one in a minute (five a "
        "day at most).",
    },
    "phone_code_none": {
        "ru": "Сейчас мы не ждём кода. Нажмите «Поделиться номером» ниже.",
        "en": "We are not waiting for a code now. Press “Share my number” below.",
    },
}
