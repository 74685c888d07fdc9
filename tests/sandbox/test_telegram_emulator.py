"""The Telegram emulator, driven by the real pyTelegramBotAPI over real HTTP."""

from __future__ import annotations

import base64
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import telebot
from telebot import apihelper, types
from telebot.apihelper import ApiHTTPException, ApiTelegramException

from sandbox.telegram import TelegramEmulator
from sandbox.telegram.formatting import EntityParseError, parse_text

TOKEN = "123456:TEST"
REPO = Path(__file__).resolve().parents[2]


def _png(width: int, height: int) -> bytes:
    """A real (decodable) PNG, so Telegram-style image sniffing and browsers accept it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = _png(2, 3)


def _point_telebot_at(emu: TelegramEmulator) -> None:
    apihelper.API_URL = emu.api_url
    apihelper.FILE_URL = emu.file_url


@pytest.fixture
def api_urls() -> Iterator[None]:
    saved = (apihelper.API_URL, apihelper.FILE_URL)
    yield
    apihelper.API_URL, apihelper.FILE_URL = saved


@pytest.fixture
def emu(api_urls: None) -> Iterator[TelegramEmulator]:
    with TelegramEmulator(enforce_limits=False) as emulator:
        emulator.register_bot(token=TOKEN, username="kabinet_test_bot", first_name="Клиника")
        _point_telebot_at(emulator)
        yield emulator


@pytest.fixture
def limited(api_urls: None) -> Iterator[TelegramEmulator]:
    with TelegramEmulator(
        enforce_limits=True, global_per_second=30, per_chat_per_second=1, group_per_minute=3
    ) as emulator:
        emulator.register_bot(token=TOKEN, username="kabinet_test_bot")
        _point_telebot_at(emulator)
        yield emulator


@pytest.fixture
def bot() -> telebot.TeleBot:
    return telebot.TeleBot(TOKEN, threaded=False)


def started_user(emu: TelegramEmulator, first_name: str = "Анна") -> dict[str, Any]:
    """A user who pressed Start, so the bot may write to them."""
    user = emu.create_user(first_name=first_name, last_name="Иванова")
    emu.send_text(user["id"], "/start")
    return user


def poll(bot: telebot.TeleBot, offset: int | None = None, wait: int = 1) -> list[types.Update]:
    # telebot replaces a long_polling_timeout of 0 with its default of 10 s, so 1 is the floor.
    return bot.get_updates(offset=offset, timeout=wait + 10, long_polling_timeout=max(wait, 1))


def raw(emu: TelegramEmulator, method: str, **kwargs: Any) -> requests.Response:
    return requests.post(emu.api_url.format(TOKEN, method), timeout=10, **kwargs)


def control(emu: TelegramEmulator, verb: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(verb, f"{emu.url}/_emulator/{path}", timeout=10, **kwargs)


# --- basics ----------------------------------------------------------------------------


def test_get_me_and_unauthorized_token(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    me = bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        123456,
        True,
        "kabinet_test_bot",
        "Клиника",
    )
    with pytest.raises(ApiTelegramException) as err:
        telebot.TeleBot("999:NOPE", threaded=False).get_me()
    assert err.value.error_code == 401
    assert err.value.result_json == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_unknown_method_and_case_insensitive_names(emu: TelegramEmulator) -> None:
    reply = raw(emu, "fooBar")
    assert reply.status_code == 404
    assert reply.json()["description"] == "Not Found: method not found"
    assert requests.get(emu.api_url.format(TOKEN, "GETME"), timeout=5).json()["ok"] is True


def test_parameters_in_query_form_json_and_multipart(emu: TelegramEmulator) -> None:
    user = started_user(emu)
    markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    assert raw(emu, "sendMessage", params={"chat_id": user["id"], "text": "query"}).ok
    assert raw(emu, "sendMessage", data={"chat_id": user["id"], "text": "form"}).ok
    reply = raw(
        emu,
        "sendMessage",
        json={"chat_id": user["id"], "text": "json", "reply_markup": json.loads(markup)},
    )
    assert reply.ok
    assert reply.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    reply = raw(
        emu,
        "sendMessage",
        files={"chat_id": (None, str(user["id"])), "text": (None, "multipart")},
        data={"reply_markup": markup},
    )
    assert reply.ok, reply.text
    texts = [m["text"] for m in emu.messages(user["id"])]
    assert texts == ["query", "form", "json", "multipart"]
    assert emu.calls[-1]["params"]["reply_markup"] == json.loads(markup)  # decoded JSON


# --- updates ---------------------------------------------------------------------------


def test_long_polling_with_offset_delivers_each_update_once(
    emu: TelegramEmulator, bot: telebot.TeleBot
) -> None:
    user = emu.create_user("Анна")
    emu.send_text(user["id"], "one")
    emu.send_text(user["id"], "two")
    first = poll(bot)
    assert [u.message.text for u in first] == ["one", "two"]
    assert first[1].update_id == first[0].update_id + 1
    # Without confirming, the same updates come again; with offset they are gone.
    assert [u.update_id for u in poll(bot)] == [u.update_id for u in first]
    offset = first[-1].update_id + 1

    threading.Timer(0.3, emu.send_text, args=(user["id"], "three")).start()
    started = time.monotonic()
    later = poll(bot, offset=offset, wait=5)
    assert time.monotonic() - started < 2.5  # returned when the update arrived
    assert [u.message.text for u in later] == ["three"]
    assert poll(bot, offset=later[-1].update_id + 1, wait=1) == []
    assert emu.stats()["pending_updates"] == 0


def test_limit_and_allowed_updates(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = emu.create_user("Анна")
    for i in range(3):
        emu.send_text(user["id"], f"m{i}")
    assert len(bot.get_updates(limit=2, long_polling_timeout=1, timeout=5)) == 2
    last = poll(bot)[-1].update_id
    bot.get_updates(offset=last + 1, allowed_updates=["callback_query"], long_polling_timeout=1)
    emu.send_text(user["id"], "ignored")  # not a callback_query: never stored
    assert poll(bot, offset=last + 1) == []


def test_overlapping_long_polls_conflict(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    outcome: dict[str, Any] = {}

    def first_poll() -> None:
        reply = requests.get(emu.api_url.format(TOKEN, "getUpdates"), params={"timeout": 5})
        outcome["status"], outcome["body"] = reply.status_code, reply.json()

    thread = threading.Thread(target=first_poll)
    thread.start()
    time.sleep(0.3)
    assert poll(bot, wait=1) == []  # the second instance wins...
    thread.join(timeout=5)
    assert outcome["status"] == 409  # ...and the first one is told so
    assert outcome["body"]["description"] == (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    )


def test_webhook_blocks_get_updates(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    assert bot.set_webhook(url="https://clinic.example/hook")
    assert bot.get_webhook_info().url == "https://clinic.example/hook"
    with pytest.raises(ApiTelegramException) as err:
        poll(bot)
    assert err.value.error_code == 409
    assert err.value.description.startswith("Conflict: can't use getUpdates method")
    assert bot.delete_webhook()
    assert bot.get_webhook_info().url == ""
    assert poll(bot, wait=0) == []


def test_webhook_delivers_updates_with_secret(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        assert bot.set_webhook(url=url, secret_token="s3cret")
        user = emu.create_user("Анна")
        emu.send_text(user["id"], "через вебхук")
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received and received[0][0] == "s3cret"
        assert received[0][1]["message"]["text"] == "через вебхук"
        time.sleep(0.1)
        assert bot.get_webhook_info().pending_update_count == 0
    finally:
        server.shutdown()
        server.server_close()


# --- handlers receive what users do ----------------------------------------------------


def test_handlers_receive_text_start_payload_contact_and_photo(
    emu: TelegramEmulator, bot: telebot.TeleBot
) -> None:
    seen: dict[str, Any] = {"contacts": []}

    @bot.message_handler(commands=["start"])
    def on_start(message: types.Message) -> None:
        seen["payload"] = telebot.util.extract_arguments(message.text)
        seen["entity"] = message.entities[0].type

    @bot.message_handler(content_types=["contact"])
    def on_contact(message: types.Message) -> None:
        seen["contacts"].append((message.from_user.id, message.contact.user_id, message.contact))

    @bot.message_handler(content_types=["photo"])
    def on_photo(message: types.Message) -> None:
        info = bot.get_file(message.photo[-1].file_id)
        seen["photo"] = bot.download_file(info.file_path)
        seen["caption"] = message.caption

    @bot.message_handler(content_types=["text"])
    def on_text(message: types.Message) -> None:
        seen["text"] = message.text

    user = emu.create_user("Анна", "Иванова")
    other = emu.create_user("Пётр")
    emu.send_text(user["id"], "/start inv_AbC-123")
    emu.send_text(user["id"], "Здравствуйте")
    emu.send_contact(user["id"], "+79001234567")
    emu.send_contact(user["id"], "+79007654321", first_name="Мама", contact_user_id=None)
    emu.send_contact(user["id"], "+79005550000", contact_user_id=other["id"])
    emu.send_photo(user["id"], PNG, caption="анализы")
    bot.process_new_updates(poll(bot))

    assert seen["payload"] == "inv_AbC-123"
    assert seen["entity"] == "bot_command"
    assert seen["text"] == "Здравствуйте"
    own, foreign, someone = seen["contacts"]
    assert own[0] == own[1] == user["id"]
    assert own[2].phone_number == "+79001234567" and own[2].first_name == "Анна"
    assert foreign[1] is None and foreign[2].first_name == "Мама"
    assert someone[1] == other["id"] and someone[1] != someone[0]
    assert seen["photo"] == PNG
    assert seen["caption"] == "анализы"
    assert emu.user_phone(user["id"]) == "+79001234567"  # only the own contact is remembered


def test_inline_keyboard_callback_answer_and_edits(
    emu: TelegramEmulator, bot: telebot.TeleBot
) -> None:
    user = started_user(emu)

    @bot.callback_query_handler(func=lambda call: True)
    def on_button(call: types.CallbackQuery) -> None:
        bot.answer_callback_query(call.id, "Записали", show_alert=False)
        bot.edit_message_reply_markup(call.message.chat.id, call.message.message_id)
        bot.edit_message_text(
            f"Вы выбрали {call.data}", call.message.chat.id, call.message.message_id
        )

    keyboard = types.InlineKeyboardMarkup()
    keyboard.row(
        types.InlineKeyboardButton("10:00", callback_data="slot:10"),
        types.InlineKeyboardButton("11:00", callback_data="slot:11"),
    )
    sent = bot.send_message(user["id"], "Выберите время", reply_markup=keyboard)
    assert sent.message_id > 1 and sent.chat.id == user["id"] and sent.from_user.is_bot
    offset = poll(bot)[-1].update_id + 1

    update = emu.press(user["id"], sent.message_id, "slot:11")
    assert update["callback_query"]["message"]["message_id"] == sent.message_id
    bot.process_new_updates(poll(bot, offset=offset))

    [message] = emu.messages(user["id"])
    assert message["text"] == "Вы выбрали slot:11"
    assert "reply_markup" not in message and "edit_date" in message
    [answer] = emu.callback_answers
    assert answer["text"] == "Записали" and answer["show_alert"] is False
    assert answer["callback_query_id"] == update["callback_query"]["id"]
    entries = emu.transcript(user["id"])
    assert [e["from"] for e in entries] == ["user", "bot", "user"]
    assert entries[2]["callback_data"] == "slot:11"
    # The keyboard is gone now, so the same button can no longer be pressed.
    with pytest.raises(ValueError):
        emu.press(user["id"], sent.message_id, "slot:11")


def test_press_checks_buttons_unless_forced(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    keyboard = types.InlineKeyboardMarkup()
    keyboard.add(types.InlineKeyboardButton("Мои баллы", callback_data="points:1"))
    sent = bot.send_message(user["id"], "Меню", reply_markup=keyboard)
    with pytest.raises(ValueError, match="points:2"):
        emu.press(user["id"], sent.message_id, "points:2")
    with pytest.raises(ValueError):
        emu.press(user["id"], 999, "points:1")
    forged = emu.press(user["id"], sent.message_id, "points:2", force=True)
    assert forged["callback_query"]["data"] == "points:2"


def test_answering_a_callback_twice_fails(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    keyboard = types.InlineKeyboardMarkup()
    keyboard.add(types.InlineKeyboardButton("OK", callback_data="ok"))
    sent = bot.send_message(user["id"], "?", reply_markup=keyboard)
    query_id = emu.press(user["id"], sent.message_id, "ok")["callback_query"]["id"]
    assert bot.answer_callback_query(query_id)
    with pytest.raises(ApiTelegramException) as err:
        bot.answer_callback_query(query_id)
    assert err.value.error_code == 400


def test_reply_keyboard_with_request_contact(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    keyboard = types.ReplyKeyboardMarkup(resize_keyboard=True, one_time_keyboard=True)
    keyboard.add(types.KeyboardButton("Поделиться номером", request_contact=True))
    bot.send_message(user["id"], "Пришлите номер", reply_markup=keyboard)

    shown = emu.reply_keyboard(user["id"])
    assert shown is not None and shown["keyboard"][0][0]["request_contact"] is True
    assert emu.messages(user["id"])[-1]["reply_markup"]["keyboard"][0][0]["request_contact"]
    with pytest.raises(ValueError, match="phone"):
        emu.press_reply(user["id"], "Поделиться номером")  # no number known yet
    update = emu.press_reply(user["id"], "Поделиться номером", phone_number="79001112233")
    contact = update["message"]["contact"]
    assert contact == {
        "phone_number": "79001112233",
        "first_name": "Анна",
        "last_name": "Иванова",
        "user_id": user["id"],
    }
    assert emu.reply_keyboard(user["id"]) is None  # one_time_keyboard hides it

    bot.send_message(user["id"], "Меню", reply_markup=types.ReplyKeyboardMarkup().add("Баллы"))
    assert emu.reply_keyboard(user["id"]) is not None
    bot.send_message(user["id"], "Убрали", reply_markup=types.ReplyKeyboardRemove())
    assert emu.reply_keyboard(user["id"]) is None
    with pytest.raises(ApiTelegramException) as err:
        group = emu.create_group("Администраторы", [user["id"]])
        bot.send_message(group, "x", reply_markup=keyboard)
    assert "private chats only" in err.value.description


def test_send_document_upload_and_by_file_id(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    sent = bot.send_document(user["id"], ("выписка.pdf", b"%PDF-1.4 fake"), caption="Выписка")
    assert sent.document.file_name == "выписка.pdf"
    assert sent.document.mime_type == "application/pdf"
    assert sent.caption == "Выписка"
    again = bot.send_document(user["id"], sent.document.file_id)
    assert again.document.file_id == sent.document.file_id
    info = bot.get_file(sent.document.file_id)
    assert bot.download_file(info.file_path) == b"%PDF-1.4 fake"
    photo = bot.send_photo(user["id"], PNG, caption="<b>QR</b>", parse_mode="HTML")
    assert (photo.photo[-1].width, photo.photo[-1].height) == (2, 3)
    assert photo.caption == "QR" and photo.caption_entities[0].type == "bold"
    assert [("document" in m, "photo" in m) for m in emu.messages(user["id"])] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    with pytest.raises(ApiTelegramException) as err:
        bot.send_photo(user["id"], b"not an image")
    assert err.value.description == "Bad Request: IMAGE_PROCESS_FAILED"


def test_my_commands(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    commands = [
        types.BotCommand("start", "Начать"),
        types.BotCommand("points", "Мои баллы"),
    ]
    assert bot.set_my_commands(commands)
    assert [(c.command, c.description) for c in bot.get_my_commands()] == [
        ("start", "Начать"),
        ("points", "Мои баллы"),
    ]
    assert bot.get_my_commands(language_code="en") == []
    assert bot.delete_my_commands()
    assert bot.get_my_commands() == []
    with pytest.raises(ApiTelegramException):
        bot.set_my_commands([types.BotCommand("Bad-Name", "x")])


def test_edit_delete_and_not_modified(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    sent = bot.send_message(user["id"], "Текст")
    with pytest.raises(ApiTelegramException) as err:
        bot.edit_message_text("Текст", user["id"], sent.message_id)
    assert err.value.description.startswith("Bad Request: message is not modified")
    assert bot.delete_message(user["id"], sent.message_id)
    assert emu.messages(user["id"])[0]["deleted"] is True
    with pytest.raises(ApiTelegramException) as err:
        bot.edit_message_text("Новый", user["id"], sent.message_id)
    assert err.value.description == "Bad Request: message to edit not found"


def test_get_chat_and_chat_action(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    chat = bot.get_chat(user["id"])
    assert (chat.type, chat.first_name) == ("private", "Анна")
    assert bot.send_chat_action(user["id"], "typing")
    group = emu.create_group("Администраторы", [user["id"]])
    assert bot.get_chat(group).title == "Администраторы"
    assert bot.send_message(group, "Новая заявка").chat.id == group
    emu.send_text(user["id"], "/report@kabinet_test_bot", chat_id=group)
    update = poll(bot)[-1]
    assert update.message.chat.id == group and update.message.text.startswith("/report")
    assert bot.log_out() and bot.close()


# --- refusals --------------------------------------------------------------------------


def test_text_validation(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "я" * 4097)
    assert (err.value.error_code, err.value.description) == (
        400,
        "Bad Request: message is too long",
    )
    assert bot.send_message(user["id"], "я" * 4096).text == "я" * 4096
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "   ")
    assert err.value.description == "Bad Request: message text is empty"
    keyboard = types.InlineKeyboardMarkup()
    keyboard.add(types.InlineKeyboardButton("x", callback_data="x" * 65))
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "кнопка", reply_markup=keyboard)
    assert err.value.description == "Bad Request: BUTTON_DATA_INVALID"


def test_parse_modes_fail_like_telegram(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "Баллы: 10.5", parse_mode="MarkdownV2")
    assert "Character '.' is reserved" in err.value.description
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "<b>Анна", parse_mode="HTML")
    assert err.value.description.startswith("Bad Request: can't parse entities")
    ok = bot.send_message(user["id"], "*Баллы:* 10\\.5", parse_mode="MarkdownV2")
    assert ok.text == "Баллы: 10.5" and ok.entities[0].type == "bold"


def test_chat_access_errors(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    stranger = emu.create_user("Незнакомец")
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(stranger["id"], "Привет")
    assert (err.value.error_code, err.value.description) == (
        403,
        "Forbidden: bot can't initiate conversation with a user",
    )
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(777, "Привет")
    assert (err.value.error_code, err.value.description) == (400, "Bad Request: chat not found")


def test_block_user_gives_403_and_my_chat_member(
    emu: TelegramEmulator, bot: telebot.TeleBot
) -> None:
    user = started_user(emu)
    offset = poll(bot)[-1].update_id + 1
    emu.block_user(user["id"])
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "Напоминание")
    assert (err.value.error_code, err.value.description) == (
        403,
        "Forbidden: bot was blocked by the user",
    )
    update = poll(bot, offset=offset)[-1]
    assert update.my_chat_member.new_chat_member.status == "kicked"
    assert emu.stats()["http_403"] == 1
    emu.send_text(user["id"], "/start")  # writing again unblocks, as Restart does
    assert bot.send_message(user["id"], "С возвращением").text == "С возвращением"


# --- limits ----------------------------------------------------------------------------


def test_per_chat_limit(limited: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(limited)
    bot.send_message(user["id"], "первое")
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "второе")
    assert err.value.error_code == 429
    retry_after = err.value.result_json["parameters"]["retry_after"]
    assert isinstance(retry_after, int) and retry_after >= 1
    assert err.value.description == f"Too Many Requests: retry after {retry_after}"
    assert [m["text"] for m in limited.messages(user["id"])] == ["первое"]  # refused = not sent
    # Edits do not count against the sending limits.
    bot.edit_message_text("первое!", user["id"], limited.messages(user["id"])[0]["message_id"])
    time.sleep(1.05)
    bot.send_message(user["id"], "второе")
    assert limited.stats()["http_429"] == 1


def test_global_limit(limited: TelegramEmulator, bot: telebot.TeleBot) -> None:
    users = [started_user(limited, f"П{i}") for i in range(31)]
    started = time.monotonic()
    for user in users[:30]:
        bot.send_message(user["id"], "Акция")
    elapsed = time.monotonic() - started
    assert elapsed < 0.9, f"30 sends took {elapsed:.2f}s, too slow to test a 1s window"
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(users[30]["id"], "Акция")
    assert err.value.error_code == 429
    assert err.value.result_json["parameters"]["retry_after"] >= 1
    assert limited.stats()["messages_sent"] == 30


def test_group_limit_per_minute(limited: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = limited.create_user("Админ")
    group = limited.create_group("Администраторы", [user["id"]])
    for i in range(3):
        bot.send_message(group, f"заявка {i}")
        time.sleep(0.01)
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(group, "заявка 3")
    assert 1 <= err.value.result_json["parameters"]["retry_after"] <= 60


# --- faults ----------------------------------------------------------------------------


def test_injected_faults(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    emu.inject_fault("500")
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "a")
    assert err.value.error_code == 500
    assert bot.send_message(user["id"], "b")  # count=1: the fault is used up

    emu.inject_fault("429", method="sendMessage", retry_after=7)
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "c")
    assert err.value.result_json["parameters"] == {"retry_after": 7}

    emu.inject_fault("403", chat_id=user["id"])
    with pytest.raises(ApiTelegramException) as err:
        bot.send_message(user["id"], "d")
    assert err.value.error_code == 403

    emu.inject_fault("502")
    with pytest.raises(ApiHTTPException):  # nginx's HTML page, not JSON
        bot.send_message(user["id"], "e")

    emu.inject_fault("slow", delay=0.3)
    started = time.monotonic()
    assert bot.send_message(user["id"], "f").text == "f"
    assert time.monotonic() - started >= 0.3

    emu.inject_fault("timeout", delay=0.2)
    with pytest.raises(ApiHTTPException):
        bot.send_message(user["id"], "g")

    emu.inject_fault("500", count=None)
    assert bot.get_me()  # not a send method, so not hit
    for _ in range(2):
        with pytest.raises(ApiTelegramException):
            bot.send_message(user["id"], "h")
    emu.clear_faults()
    assert bot.send_message(user["id"], "i")
    assert [m["text"] for m in emu.messages(user["id"])] == ["b", "f", "i"]
    stats = emu.stats()
    assert (stats["http_429"], stats["http_403"], stats["http_5xx"]) == (1, 1, 5)


def test_probabilistic_faults_are_reproducible(emu: TelegramEmulator) -> None:
    user = started_user(emu)

    def pattern() -> list[int]:
        emu.clear_faults()
        emu.inject_fault("500", count=None, probability=0.3, seed=42)
        return [
            emu.handle_api(TOKEN, "sendMessage", {"chat_id": user["id"], "text": "x"}).status
            for _ in range(40)
        ]

    first, second = pattern(), pattern()
    assert first == second
    assert 0 < first.count(500) < 40


# --- observing -------------------------------------------------------------------------


def test_wait_for_messages(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    threading.Timer(0.2, bot.send_message, args=(user["id"], "Ответ")).start()
    assert [m["text"] for m in emu.wait_for_messages(user["id"], 1, timeout=5)] == ["Ответ"]
    with pytest.raises(TimeoutError, match="/start"):
        emu.wait_for_messages(user["id"], 2, timeout=0.2)


def test_reset_keeps_bots_and_ids_grow(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    old_update = poll(bot)[-1].update_id
    emu.inject_fault("500")
    emu.reset()
    assert emu.users() == [] and emu.calls == [] and emu.faults() == []
    assert bot.get_me().username == "kabinet_test_bot"
    fresh = emu.create_user("Анна")
    assert fresh["id"] != user["id"]
    assert emu.send_text(fresh["id"], "/start")["update_id"] > old_update


def test_calls_are_recorded(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    user = started_user(emu)
    bot.send_message(user["id"], "Привет")
    call = emu.calls[-1]
    assert call["method"] == "sendMessage" and call["status"] == 200
    assert call["params"]["text"] == "Привет" and call["params"]["chat_id"] == str(user["id"])
    assert isinstance(call["time"], float)


def test_formatting_offsets_are_utf16() -> None:
    text, entities = parse_text("😀 <b>Анна</b> &amp; <a href='https://x.ru'>ссылка</a>", "HTML")
    assert text == "😀 Анна & ссылка"
    assert entities[0] == {"type": "bold", "offset": 3, "length": 4}
    assert entities[1] == {"type": "text_link", "offset": 10, "length": 6, "url": "https://x.ru"}
    assert parse_text("_курсив_ *жирный*", "Markdown")[1][1]["type"] == "bold"
    with pytest.raises(EntityParseError, match="Can't find end"):
        parse_text("*незакрытый", "Markdown")
    with pytest.raises(EntityParseError, match="Unsupported start tag"):
        parse_text("a < b", "HTML")


# --- control API and phone page --------------------------------------------------------


def test_control_api(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    created = control(emu, "POST", "users", json={"first_name": "Ольга", "last_name": "Ким"})
    assert created.status_code == 201
    uid = created.json()["id"]
    assert created.json()["phone_url"] == emu.phone_url(uid)
    assert any(u["id"] == uid for u in control(emu, "GET", "users").json())

    assert control(emu, "POST", f"users/{uid}/text", json={"text": "/start"}).status_code == 201
    keyboard = types.InlineKeyboardMarkup()
    keyboard.add(types.InlineKeyboardButton("Да", callback_data="yes"))
    sent = bot.send_message(uid, "Подтвердить?", reply_markup=keyboard)
    messages = control(emu, "GET", f"chats/{uid}/messages").json()
    assert messages[0]["text"] == "Подтвердить?"
    press = control(
        emu, "POST", f"users/{uid}/press", json={"message_id": sent.message_id, "data": "yes"}
    )
    assert press.status_code == 201 and press.json()["callback_query"]["data"] == "yes"
    bad = control(
        emu, "POST", f"users/{uid}/press", json={"message_id": sent.message_id, "data": "no"}
    )
    assert bad.status_code == 400 and "no" in bad.json()["error"]

    own = control(emu, "POST", f"users/{uid}/contact", json={"phone_number": "+79001234567"})
    assert own.json()["message"]["contact"]["user_id"] == uid
    foreign = control(
        emu,
        "POST",
        f"users/{uid}/contact",
        json={"phone_number": "+79000000000", "first_name": "Сосед", "omit_user_id": True},
    )
    assert "user_id" not in foreign.json()["message"]["contact"]
    photo = control(
        emu,
        "POST",
        f"users/{uid}/photo",
        json={"data_base64": base64.b64encode(PNG).decode(), "caption": "фото"},
    )
    assert photo.status_code == 201
    upload = control(emu, "POST", f"users/{uid}/photo", files={"photo": ("p.png", PNG)})
    file_id = upload.json()["message"]["photo"][-1]["file_id"]
    assert control(emu, "GET", f"files/{file_id}").content == PNG

    transcript = control(emu, "GET", f"chats/{uid}/transcript").json()
    assert [e["from"] for e in transcript] == [
        "user",
        "bot",
        "user",
        "user",
        "user",
        "user",
        "user",
    ]
    state = control(emu, "GET", f"users/{uid}/state").json()
    assert state["phone_number"] == "+79001234567" and state["bot"]["username"]

    fault = control(emu, "POST", "faults", json={"kind": "500", "count": None})
    assert fault.status_code == 201 and fault.json()["remaining"] is None
    with pytest.raises(ApiTelegramException):
        bot.send_message(uid, "сбой")
    assert control(emu, "DELETE", "faults").ok
    assert control(emu, "GET", "faults").json() == []
    assert control(emu, "POST", "faults", json={"kind": "boom"}).status_code == 400

    calls = control(emu, "GET", "calls", params={"method": "sendMessage"}).json()
    assert [c["status"] for c in calls] == [200, 500]
    stats = control(emu, "GET", "stats").json()
    assert stats["messages_sent"] == 1 and stats["http_5xx"] == 1

    assert control(emu, "POST", f"users/{uid}/block").ok
    with pytest.raises(ApiTelegramException):
        bot.send_message(uid, "после блокировки")
    assert control(emu, "POST", "users/424242/text", json={"text": "x"}).status_code == 404
    assert control(emu, "GET", "nope").status_code == 404
    assert control(emu, "POST", "reset").ok
    assert control(emu, "GET", "users").json() == []


def test_phone_page(emu: TelegramEmulator) -> None:
    user = emu.create_user("Анна")
    page = requests.get(emu.phone_url(user["id"]), timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for marker in ('id="messages"', 'id="text-input"', 'id="send-btn"', "Клиника — бот"):
        assert marker in page.text
    assert "http" not in page.text.split("<script>")[1]  # no external resources in the code
    form = requests.get(f"{emu.url}/phone", timeout=5)
    assert form.status_code == 200 and 'name="first_name"' in form.text
    created = requests.post(
        f"{emu.url}/phone",
        data={"first_name": "Борис", "last_name": "Петров"},
        allow_redirects=False,
        timeout=5,
    )
    assert created.status_code == 303 and "/phone?user=" in created.headers["Location"]
    assert requests.get(f"{emu.url}/phone?user=5", timeout=5).status_code == 404


def test_cli_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.telegram", "--port", "0", "--token", "42:XYZ"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        me = requests.get(f"{url}/bot42:XYZ/getMe", timeout=5).json()
        assert me["result"]["username"] == "kabinet_demo_bot"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bot_profile_methods(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    assert bot.set_my_description("Бот клиники: баллы и запись")
    assert bot.get_my_description().description == "Бот клиники: баллы и запись"
    assert bot.get_my_description(language_code="en").description == "Бот клиники: баллы и запись"
    assert bot.set_my_short_description("Баллы", language_code="ru")
    assert bot.get_my_short_description(language_code="ru").short_description == "Баллы"
    assert bot.get_my_name().name == "Клиника"
    assert bot.set_chat_menu_button(menu_button=types.MenuButtonCommands())


def _chromium() -> str:
    path = os.environ.get("KABINET_TEST_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no Chromium at {path}")
    return path


@pytest.mark.browser
def test_phone_page_in_a_browser(emu: TelegramEmulator, bot: telebot.TeleBot) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()

    @bot.message_handler(commands=["start"])
    def on_start(message: types.Message) -> None:
        keyboard = types.ReplyKeyboardMarkup(resize_keyboard=True)
        keyboard.add(types.KeyboardButton("Поделиться номером", request_contact=True))
        bot.send_message(message.chat.id, "Пришлите номер", reply_markup=keyboard)

    @bot.message_handler(content_types=["contact"])
    def on_contact(message: types.Message) -> None:
        menu = types.InlineKeyboardMarkup()
        menu.add(types.InlineKeyboardButton("Мои баллы", callback_data="points"))
        bot.send_message(
            message.chat.id,
            f"Номер {message.contact.phone_number}",
            reply_markup=types.ReplyKeyboardRemove(),
        )
        bot.send_message(message.chat.id, "Меню", reply_markup=menu)

    @bot.callback_query_handler(func=lambda call: True)
    def on_points(call: types.CallbackQuery) -> None:
        bot.answer_callback_query(call.id, "150 баллов")
        bot.send_message(call.from_user.id, "У вас 150 баллов")

    @bot.message_handler(content_types=["text"])
    def on_text(message: types.Message) -> None:
        bot.send_message(message.chat.id, f"Эхо: {message.text}")

    stop = threading.Event()

    def run_bot() -> None:
        offset = None
        while not stop.is_set():
            updates = bot.get_updates(offset=offset, timeout=10, long_polling_timeout=1)
            if updates:
                offset = updates[-1].update_id + 1
                bot.process_new_updates(updates)

    poller = threading.Thread(target=run_bot, daemon=True)
    poller.start()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{emu.url}/phone")
            page.fill("#first-name", "Анна")
            page.click("#create-user-btn")
            page.wait_for_url("**/phone?user=*")
            user_id = int(page.url.rsplit("=", 1)[1])

            page.click("#start-btn")
            page.wait_for_selector(".msg.bot >> text=Пришлите номер")
            page.click(".reply-btn")
            page.fill("#phone-input", "+79001234567")
            page.click("#phone-ok")
            page.wait_for_selector(".inline-btn")
            page.click(".inline-btn")
            page.wait_for_selector(".msg.bot >> text=У вас 150 баллов")
            page.fill("#text-input", "Привет")
            page.click("#send-btn")
            page.wait_for_selector(".msg.bot >> text=Эхо: Привет")
            assert page.locator(".msg.user").count() == 3  # /start, contact, text
            browser.close()
        assert errors == []
        contact = emu.transcript(user_id)[2]["contact"]
        assert contact["user_id"] == user_id and emu.user_phone(user_id) == "+79001234567"
        assert emu.callback_answers[0]["text"] == "150 баллов"
    finally:
        stop.set()
        poller.join(timeout=5)
