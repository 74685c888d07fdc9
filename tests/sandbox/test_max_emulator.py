"""The MAX adapter against the MAX emulator, both held to the official schema's shapes
(sandbox/max/schema.json): every request the adapter sends is checked by the emulator,
every response the emulator gives is checked here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy.orm import Session, sessionmaker

from bot_handlers.channels.base import Contact, DeliveryError, Press, Start, Text
from bot_handlers.channels.max import MaxChannel, MaxClient, deep_link, local_id, update_event
from sandbox.max import MaxEmulator
from sandbox.max.schema import check_request, check_response, errors

TOKEN = "max-test-token"


@pytest.fixture
def max_emu() -> Iterator[MaxEmulator]:
    emu = MaxEmulator(TOKEN).start()
    yield emu
    emu.stop()


@pytest.fixture
def checked() -> list[str]:
    return []


@pytest.fixture
def channel(max_emu: MaxEmulator, factory: sessionmaker[Session], checked: list[str]) -> MaxChannel:
    client = MaxClient(TOKEN, max_emu.url)

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = response.request.path_url.split("?", 1)[0]
        problems = check_response(
            str(response.request.method), path, response.status_code, response.json()
        )
        checked.append(path)
        assert not problems, (path, problems)

    client.http.hooks["response"].append(check)
    return MaxChannel(client, factory)


def _attachments(message: dict[str, Any]) -> list[dict[str, Any]]:
    return message["body"]["attachments"] or []


def test_send_edit_delete_with_buttons(max_emu: MaxEmulator, channel: MaxChannel, checked) -> None:
    chat = max_emu.create_user("Анна")
    keyboard = {
        "inline_keyboard": [
            [
                {"text": "Подтвердить", "callback_data": "rc:1"},
                {"text": "Сайт", "url": "https://x.ru"},
            ]
        ]
    }
    first = channel.send_text(chat, "Напоминание", keyboard)
    share = channel.send_text(
        chat, "Поделитесь номером", {"keyboard": [[{"text": "📱 Номер", "request_contact": True}]]}
    )
    assert first != share and first > 0
    sent = max_emu.messages(chat)
    buttons = _attachments(sent[0])[0]["payload"]["buttons"]
    assert buttons == [
        [
            {"type": "callback", "text": "Подтвердить", "payload": "rc:1"},
            {"type": "link", "text": "Сайт", "url": "https://x.ru"},
        ]
    ]
    assert _attachments(sent[1])[0]["payload"]["buttons"][0][0]["type"] == "request_contact"

    channel.edit_keyboard(chat, first, {"inline_keyboard": []})
    assert max_emu.messages(chat)[0]["body"]["attachments"] is None
    assert max_emu.messages(chat)[0]["body"]["text"] == "Напоминание"  # text kept
    channel.edit_text(chat, first, "Подтверждено")
    assert max_emu.messages(chat)[0]["body"]["text"] == "Подтверждено"
    channel.delete(share)
    assert len(max_emu.messages(chat)) == 1
    assert max_emu.schema_errors == []
    assert {"/messages"} <= set(checked)


def test_answers_uploads_and_commands(max_emu: MaxEmulator, channel: MaxChannel) -> None:
    chat = max_emu.create_user("Анна")
    mid = channel.send_text(chat, "Q", {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    with channel.factory() as s:
        from bot_handlers.channels.max import mid_of

        callback = max_emu.press(chat, mid_of(s, mid), "a")
    channel.answer_press(callback, "Готово")
    channel.answer_press(callback)
    assert max_emu.answers == [
        {"callback_id": callback, "notification": "Готово"},
        {"callback_id": callback},
    ]
    # A file that is not attachable at once: retried after MAX's 2 s (shortened here).
    import bot_handlers.channels.max as adapter

    saved, adapter.NOT_READY_WAIT = adapter.NOT_READY_WAIT, 0.01
    try:
        original = max_emu._op_post_uploads

        def not_ready_once(query: dict[str, str], body: Any) -> tuple[int, Any]:
            status, result = original(query, body)
            max_emu.not_ready_once.add(result["url"].rsplit("/", 1)[-1])
            return status, result

        max_emu._op_post_uploads = not_ready_once  # type: ignore[method-assign]
        channel.send_file(chat, b"%PDF-1.4 care", "care.pdf", caption="Памятка")
        channel.send_file(chat, b"\x89PNG qr", "qr.png", image=True)
    finally:
        adapter.NOT_READY_WAIT = saved
    kinds = [_attachments(m)[0]["type"] for m in max_emu.messages(chat)[1:]]
    assert kinds == ["file", "image"]
    assert b"%PDF-1.4 care" in max_emu.uploads.values()
    channel.set_commands({"ru": [("help", "Помощь")], "en": [("help", "Help")]}, "ru")
    assert max_emu.commands == [{"name": "help", "description": "Помощь"}]
    assert max_emu.schema_errors == []


@pytest.mark.parametrize("name", ["Договор на услуги.pdf", 'План "лечения".pdf', "qr.png"])
def test_a_file_keeps_its_name_after_telegram_sent_one(
    max_emu: MaxEmulator, channel: MaxChannel, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """pyTelegramBotAPI, once it has sent a file, makes urllib3 write file names unquoted
    for the whole process (the runner serves both messengers): MAX's upload must not care."""
    from telebot import apihelper

    assert apihelper.format_header_param is not None
    monkeypatch.setattr(
        apihelper.fields,
        apihelper.format_header_param_name,
        apihelper._no_encode(apihelper.format_header_param),  # what telebot does to send one
    )
    chat = max_emu.create_user("Анна")
    channel.send_file(chat, b"%PDF-1.4 contract", name, caption="Документ")
    assert list(max_emu.upload_names.values()) == [name]
    assert b"%PDF-1.4 contract" in max_emu.uploads.values()


def test_errors_are_classified(max_emu: MaxEmulator, channel: MaxChannel) -> None:
    chat = max_emu.create_user("Анна")
    max_emu.fail_next(1, 429)
    with pytest.raises(DeliveryError) as rate:
        channel.send_text(chat, "x")
    assert rate.value.kind == "rate_limited" and rate.value.retry_after == 1.0
    max_emu.fail_next(1, 503)
    with pytest.raises(DeliveryError) as down:
        channel.send_text(chat, "x")
    assert down.value.kind == "transient"
    max_emu.block(chat)
    with pytest.raises(DeliveryError) as blocked:
        channel.send_text(chat, "x")
    assert blocked.value.kind == "forbidden"
    bad = MaxClient("wrong", max_emu.url)
    with pytest.raises(DeliveryError) as unauthorised:
        bad.call("GET", "/me")
    assert unauthorised.value.kind == "rejected" and "401" in unauthorised.value.detail


def test_a_request_off_the_schema_is_refused(max_emu: MaxEmulator) -> None:
    client = MaxClient(TOKEN, max_emu.url)
    with pytest.raises(DeliveryError) as wrong:
        client.call("POST", "/messages", {"chat_id": 1}, {"text": 5})
    assert "body.text: expected string" in wrong.value.detail
    assert check_request("POST", "/answers", {}, {}) == ["query: 'callback_id' is required"]
    assert errors({"buttons": [[{"type": "callback", "text": "x"}]]}, "Keyboard") == [
        "$.buttons[0][0]: 'payload' is required"
    ]


def test_updates_long_poll_with_marker(max_emu: MaxEmulator, factory) -> None:
    client = MaxClient(TOKEN, max_emu.url)
    chat = max_emu.create_user("Анна", locale="en-GB")
    max_emu.start_bot(chat, "ref-ABC")
    max_emu.send_text(chat, "Здравствуйте")
    max_emu.send_contact(chat, "79161234567")
    max_emu.send_contact(chat, "79990000000", own=False)
    first = client.call("GET", "/updates", {"timeout": 0})
    assert check_response("GET", "/updates", 200, first) == []
    assert len(first["updates"]) == 4
    # Not passing the marker commits nothing: the same updates come again...
    assert len(client.call("GET", "/updates", {"timeout": 0})["updates"]) == 4
    # ... passing it commits them.
    again = client.call("GET", "/updates", {"timeout": 0, "marker": first["marker"]})
    assert again["updates"] == []
    with factory() as s:
        events = [update_event(u, lambda mid: local_id(s, mid)) for u in first["updates"]]
    start, text, own, other = events
    assert isinstance(start, Start) and start.payload == "ref-ABC"
    assert start.user.language == "en-GB" and start.chat.id == chat != start.user.id
    assert isinstance(text, Text) and text.text == "Здравствуйте"
    assert isinstance(own, Contact) and own.own and own.phone == "79161234567"
    assert own.number_proven is False  # MAX never proves the number itself
    assert isinstance(other, Contact) and not other.own
    # A 129-character payload is dropped, as MAX does.
    max_emu.start_bot(chat, "x" * 129)
    late = client.call("GET", "/updates", {"timeout": 0, "marker": first["marker"]})
    assert "payload" not in late["updates"][0]
    assert deep_link("kabinet_max_bot", "ref-ABC") == "https://max.ru/kabinet_max_bot?start=ref-ABC"
    with pytest.raises(ValueError):
        deep_link("kabinet_max_bot", "x" * 129)


def test_a_press_names_the_local_message_id(max_emu: MaxEmulator, channel: MaxChannel) -> None:
    chat = max_emu.create_user("Анна")
    sent = channel.send_text(
        chat, "Q", {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    mid = max_emu.messages(chat)[0]["body"]["mid"]
    max_emu.press(chat, mid, "a")
    update = MaxClient(TOKEN, max_emu.url).call("GET", "/updates", {"timeout": 0})["updates"][0]
    with channel.factory() as s:
        press = update_event(update, lambda m: local_id(s, m))
    assert isinstance(press, Press)
    assert press.message_id == sent and press.data == "a" and press.chat.private
    assert press.keyboard == {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}


def test_webhook_subscription_excludes_long_polling(max_emu: MaxEmulator) -> None:
    client = MaxClient(TOKEN, max_emu.url)
    body = {"url": "https://clinic.example/max/webhook", "secret": "s3cret-Value"}
    assert client.call("POST", "/subscriptions", body=body) == {"success": True}
    listed = client.call("GET", "/subscriptions")
    assert check_response("GET", "/subscriptions", 200, listed) == []
    assert listed["subscriptions"][0]["url"] == body["url"]
    with pytest.raises(DeliveryError) as refused:
        client.call("GET", "/updates", {"timeout": 0})
    assert "405" in refused.value.detail
    client.call("DELETE", "/subscriptions", {"url": body["url"]})
    assert client.call("GET", "/updates", {"timeout": 0})["updates"] == []
    with pytest.raises(DeliveryError):  # a secret MAX would refuse
        client.call("POST", "/subscriptions", body={"url": body["url"], "secret": "a b"})
