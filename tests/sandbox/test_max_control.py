"""The MAX emulator's control API over HTTP (users, start, text, contact — own and another's —,
press, block, faults, transcripts, stats), its webhook deliveries, and its phone page in a
browser. The bot side is plain HTTP to the emulator's Bot API, every answer held to the
official schema's shapes (sandbox/max/schema.json)."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy.orm import sessionmaker
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot_handlers.channels.base import Attachment, Text
from bot_handlers.channels.max import MaxChannel, MaxClient, update_event
from core.conversations.files import FileTooBig
from sandbox.max import MaxEmulator
from sandbox.max.schema import SchemaError, check_response

TOKEN = "max-control-token"


@pytest.fixture
def emu() -> Iterator[MaxEmulator]:
    e = MaxEmulator(TOKEN).start()
    yield e
    e.stop()


def bot(emu: MaxEmulator, method: str, path: str, query: dict | None = None, body: Any = None):
    """One Bot API call as the bot makes it; the answer must fit the schema."""
    r = requests.request(
        method,
        emu.url + path,
        params=query,
        json=body,
        headers={"Authorization": TOKEN},
        timeout=10,
    )
    assert check_response(method, path, r.status_code, r.json()) == [], r.text
    return r


def updates(emu: MaxEmulator) -> list[dict[str, Any]]:
    answer = bot(emu, "GET", "/updates", {"timeout": 0}).json()
    if answer.get("marker"):  # commit them, as the adapter does with its next request
        bot(emu, "GET", "/updates", {"timeout": 0, "marker": answer["marker"]})
    return list(answer["updates"])


def control(emu: MaxEmulator, method: str, path: str, **body: Any) -> requests.Response:
    return requests.request(method, f"{emu.url}/_emulator{path}", json=body or None, timeout=10)


def new_user(emu: MaxEmulator, **fields: Any) -> dict[str, Any]:
    r = control(emu, "POST", "/users", first_name="Анна", last_name="Иванова", **fields)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_users_are_listed_and_addressed_by_their_max_user_id(emu: MaxEmulator) -> None:
    anna = new_user(emu, phone_number="+79001234567")
    assert anna["chat_id"] != anna["user_id"]  # a MAX dialog has an id of its own
    assert anna["phone_url"].endswith(f"/phone?user={anna['user_id']}")
    listed = control(emu, "GET", "/users").json()
    assert [u["user_id"] for u in listed] == [anna["user_id"]]
    one = control(emu, "GET", f"/users/{anna['user_id']}").json()
    assert one["phone_number"] == "+79001234567" and one["blocked"] is False
    missing = control(emu, "GET", "/users/42")
    assert missing.status_code == 404 and "unknown user 42" in missing.json()["error"]
    assert control(emu, "GET", "/nothing").status_code == 404
    assert control(emu, "DELETE", "/users").status_code == 405


def test_start_with_a_deep_link_payload_and_text(emu: MaxEmulator) -> None:
    anna = new_user(emu)
    uid = anna["user_id"]
    assert control(emu, "POST", f"/users/{uid}/start", payload="ref_abc").json()["payload_kept"]
    # MAX drops (does not cut) a payload over 128 characters.
    too_long = control(emu, "POST", f"/users/{uid}/start", payload="x" * 129).json()
    assert too_long["payload_kept"] is False
    assert control(emu, "POST", f"/users/{uid}/text", text="Здравствуйте").status_code == 201
    empty = control(emu, "POST", f"/users/{uid}/text", text="")
    assert empty.status_code == 400 and "text" in empty.json()["error"]
    got = updates(emu)
    assert [u["update_type"] for u in got] == ["bot_started", "bot_started", "message_created"]
    assert got[0]["payload"] == "ref_abc" and got[0]["chat_id"] == anna["chat_id"]
    assert "payload" not in got[1]
    assert got[2]["message"]["body"]["text"] == "Здравствуйте"
    assert got[2]["message"]["sender"]["user_id"] == uid
    assert updates(emu) == []  # committed: given once


def test_own_contact_and_another_persons_card(emu: MaxEmulator) -> None:
    uid = new_user(emu)["user_id"]
    own = control(emu, "POST", f"/users/{uid}/contact", phone_number="+79001234567")
    assert own.json()["own"] is True
    other = control(
        emu, "POST", f"/users/{uid}/contact", phone_number="+79007654321", own=False
    ).json()
    assert other["own"] is False
    # The Telegram page's shape: a card naming no account, or naming this very user.
    no_account = control(
        emu, "POST", f"/users/{uid}/contact", phone_number="+79000000000", omit_user_id=True
    ).json()
    assert no_account["own"] is False
    named = control(
        emu, "POST", f"/users/{uid}/contact", phone_number="+79001234567", contact_user_id=uid
    ).json()
    assert named["own"] is True
    cards = [u["message"]["body"]["attachments"][0]["payload"] for u in updates(emu)]
    assert "TEL;TYPE=cell:+79001234567" in cards[0]["vcf_info"]
    assert [c["max_info"]["user_id"] == uid for c in cards] == [True, False, False, True]
    nothing = control(emu, "POST", f"/users/{uid}/contact")
    assert nothing.status_code == 400


def test_a_persons_files_location_sticker_and_edit_as_max_delivers_them(
    emu: MaxEmulator,
) -> None:
    uid = new_user(emu)["user_id"]
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nimage").decode()
    sent = {
        "image": control(emu, "POST", f"/users/{uid}/image", data_base64=png,
                         content_type="image/png", caption="снимок"),
        "audio": control(emu, "POST", f"/users/{uid}/audio", data_base64=png),
        "video": control(emu, "POST", f"/users/{uid}/video", data_base64=png, duration=4),
        "sticker": control(emu, "POST", f"/users/{uid}/sticker", code="smile"),
        "location": control(emu, "POST", f"/users/{uid}/location", latitude=55.75,
                            longitude=37.61),
    }  # fmt: skip
    multipart = requests.post(
        f"{emu.url}/_emulator/users/{uid}/file",
        files={"file": ("Направление.pdf", b"%PDF-1.4 small", "application/pdf")},
        data={"caption": "вот"},
        timeout=10,
    )
    assert [r.status_code for r in [*sent.values(), multipart]] == [201] * 6
    got = updates(emu)  # each one held to the schema by bot()
    attachments = [u["message"]["body"]["attachments"][0] for u in got]
    assert [a["type"] for a in attachments] == [*sent, "file"]
    image, audio, video, sticker, location, document = attachments
    assert got[0]["message"]["body"]["text"] == "снимок"
    assert set(image["payload"]) == {"photo_id", "token", "url"}
    assert set(audio["payload"]) == {"url", "token"} and video["duration"] == 4
    assert sticker["payload"]["code"] == "smile" and sticker["width"] > 0
    assert (location["latitude"], location["longitude"]) == (55.75, 37.61)
    assert document["filename"] == "Направление.pdf" and document["size"] == 14
    # The attachment's URL serves the file, with no token, in its content type.
    served = requests.get(image["payload"]["url"], timeout=10)
    assert served.content == b"\x89PNG\r\n\x1a\nimage" and served.headers["Content-Type"] == (
        "image/png"
    )
    pdf = requests.get(document["payload"]["url"], timeout=10)
    assert pdf.content == b"%PDF-1.4 small" and pdf.headers["Content-Type"] == "application/pdf"
    assert requests.get(f"{emu.url}/_files/nope", timeout=10).status_code == 404

    # An edit: message_edited with the message as it is now; the page shows the new words.
    mid = got[0]["message"]["body"]["mid"]
    edited = control(emu, "POST", f"/users/{uid}/edit", mid=mid, text="снимок колена")
    assert edited.status_code == 201
    (update,) = updates(emu)
    assert update["update_type"] == "message_edited"
    assert update["message"]["body"]["mid"] == mid
    assert update["message"]["body"]["text"] == "снимок колена"
    assert update["message"]["body"]["attachments"] == [image]
    chat = emu.chat_of(uid)
    assert control(emu, "GET", f"/chats/{chat}/transcript").json()[0]["text"] == "снимок колена"
    # Bad input is told, never a 500.
    assert control(emu, "POST", f"/users/{uid}/edit", mid="mid.x", text="а").status_code == 404
    assert control(emu, "POST", f"/users/{uid}/edit", mid=mid).status_code == 400
    assert control(emu, "POST", f"/users/{uid}/image").status_code == 400
    assert control(emu, "POST", f"/users/{uid}/image", data_base64="***").status_code == 400
    assert control(emu, "POST", f"/users/{uid}/file", data_base64=png).status_code == 400
    assert control(emu, "POST", f"/users/{uid}/location", latitude=91,
                   longitude=0).status_code == 400  # fmt: skip
    assert control(emu, "POST", f"/users/{uid}/location", latitude="x").status_code == 400
    # The phone page's photo button: multipart field "photo".
    page = requests.post(
        f"{emu.url}/_emulator/users/{uid}/photo",
        files={"photo": ("a.png", b"\x89PNG page", "image/png")},
        timeout=10,
    )
    assert page.status_code == 201
    (update,) = updates(emu)
    assert update["message"]["body"]["attachments"][0]["type"] == "image"
    assert emu.schema_errors == []


def test_an_update_that_does_not_fit_the_schema_is_refused(emu: MaxEmulator) -> None:
    chat = emu.create_user("Анна")
    with pytest.raises(SchemaError, match="filename"):
        emu._user_message(chat, None, [{"type": "file", "payload": {"url": "u", "token": "t"}}])
    assert emu.schema_errors == [
        "update.message.body.attachments[0]: 'filename' is required",
        "update.message.body.attachments[0]: 'size' is required",
    ]
    assert emu.stats()["schema_errors"] == 2 and updates(emu) == []


def test_the_adapter_downloads_a_persons_file_within_the_limit(emu: MaxEmulator) -> None:
    chat = emu.create_user("Анна")
    channel = MaxChannel(MaxClient(TOKEN, emu.url), sessionmaker())
    emu.send_audio(chat, b"OggS" + b"v" * 300)
    emu.send_image(chat, b"\x89PNG" + b"i" * 300, content_type="image/png")
    voice, image = [u["message"]["body"]["attachments"][0]["payload"]["url"] for u in updates(emu)]
    data, name = channel.fetch_file(voice, 1000)
    assert data == b"OggS" + b"v" * 300 and name.endswith((".ogg", ".oga"))
    assert channel.fetch_file(image, 1000)[1].endswith(".png")
    with pytest.raises(FileTooBig):
        channel.fetch_file(image, 100)


def test_press_answer_and_the_transcript(emu: MaxEmulator) -> None:
    anna = new_user(emu)
    uid, chat = anna["user_id"], anna["chat_id"]
    keyboard = {
        "type": "inline_keyboard",
        "payload": {
            "buttons": [
                [
                    {"type": "callback", "text": "Мои баллы", "payload": "points"},
                    {"type": "request_contact", "text": "📱 Номер"},
                ]
            ]
        },
    }
    sent = bot(
        emu,
        "POST",
        "/messages",
        {"chat_id": chat},
        {"text": "<b>Меню</b>", "format": "html", "attachments": [keyboard]},
    ).json()["message"]
    mid = sent["body"]["mid"]
    pressed = control(emu, "POST", f"/users/{uid}/press", message_id=mid, data="points")
    assert pressed.status_code == 201
    callback = updates(emu)[0]
    assert callback["update_type"] == "message_callback"
    assert callback["callback"]["payload"] == "points"
    assert callback["callback"]["callback_id"] == pressed.json()["callback_id"]
    assert callback["message"]["body"]["mid"] == mid
    bot(emu, "POST", "/answers", {"callback_id": callback["callback"]["callback_id"]},
        {"notification": "150 баллов"})  # fmt: skip
    answers = control(emu, "GET", "/callback-answers").json()
    assert answers == [{"callback_id": pressed.json()["callback_id"], "notification": "150 баллов"}]
    assert control(emu, "POST", f"/users/{uid}/press", message_id=mid).status_code == 400

    bot(emu, "PUT", "/messages", {"message_id": mid}, {"text": "Меню (старое)", "attachments": []})
    second = bot(emu, "POST", "/messages", {"chat_id": chat}, {"text": "Пока"}).json()
    bot(emu, "DELETE", "/messages", {"message_id": second["message"]["body"]["mid"]})

    transcript = control(emu, "GET", f"/chats/{chat}/transcript").json()
    first, press, gone = transcript
    assert first["from"] == "bot" and first["text"] == "Меню (старое)"
    assert "reply_markup" not in first  # the edit removed the buttons
    assert press["callback_data"] == "points" and press["answer"] == {"text": "150 баллов"}
    assert gone["deleted"] is True
    # messages: the bot's as MAX holds them now (the deleted one gone).
    held = control(emu, "GET", f"/chats/{chat}/messages").json()
    assert [m["body"]["mid"] for m in held] == [mid]

    state = control(emu, "GET", f"/users/{uid}/state").json()
    assert state["user"]["id"] == uid and state["reply_keyboard"] is None
    assert state["transcript"] == transcript


def test_the_phone_state_shows_html_marks_and_max_buttons(emu: MaxEmulator) -> None:
    anna = new_user(emu)
    keyboard = {
        "type": "inline_keyboard",
        "payload": {
            "buttons": [
                [{"type": "request_contact", "text": "📱 Номер"}],
                [{"type": "link", "text": "Сайт", "url": "https://example.ru"}],
            ]
        },
    }
    bot(emu, "POST", "/messages", {"chat_id": anna["chat_id"]},
        {"text": "Анна, <b>добро пожаловать</b>", "format": "html", "attachments": [keyboard]})  # fmt: skip
    entry = control(emu, "GET", f"/users/{anna['user_id']}/state").json()["transcript"][0]
    assert entry["text"] == "Анна, добро пожаловать"
    assert entry["entities"] == [{"type": "bold", "offset": 6, "length": 16}]
    assert entry["reply_markup"]["inline_keyboard"] == [
        [{"text": "📱 Номер", "request_contact": True}],
        [{"text": "Сайт", "url": "https://example.ru"}],
    ]


def test_block_and_start_again(emu: MaxEmulator) -> None:
    anna = new_user(emu)
    uid, chat = anna["user_id"], anna["chat_id"]
    assert control(emu, "POST", f"/users/{uid}/block").json() == {"ok": True}
    refused = bot(emu, "POST", "/messages", {"chat_id": chat}, {"text": "Напоминание"})
    assert refused.status_code == 403
    assert control(emu, "GET", f"/users/{uid}").json()["blocked"] is True
    control(emu, "POST", f"/users/{uid}/unblock")
    assert bot(emu, "POST", "/messages", {"chat_id": chat}, {"text": "Снова"}).status_code == 200
    assert [u["update_type"] for u in updates(emu)] == ["bot_stopped", "bot_started"]
    events = [e.get("event") for e in control(emu, "GET", f"/chats/{chat}/transcript").json()]
    assert events[:2] == ["blocked", "started"]


def test_faults_are_injected_listed_and_cleared(emu: MaxEmulator) -> None:
    chat = new_user(emu)["chat_id"]
    r = control(emu, "POST", "/faults", status=429, count=2, retry_after=3)
    assert r.status_code == 201 and r.json() == [429, 429]
    limited = bot(emu, "POST", "/messages", {"chat_id": chat}, {"text": "1"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert limited.json()["code"] == "too.many.requests"
    assert control(emu, "GET", "/faults").json() == [429]
    control(emu, "DELETE", "/faults")
    assert bot(emu, "POST", "/messages", {"chat_id": chat}, {"text": "2"}).status_code == 200
    control(emu, "POST", "/faults", status=503)
    assert bot(emu, "GET", "/me").status_code == 503
    assert control(emu, "POST", "/faults", status=200).status_code == 400
    assert control(emu, "POST", "/faults", status=429, count=0).status_code == 400
    assert control(emu, "POST", "/faults", status="lots").status_code == 400


def test_stats_and_calls(emu: MaxEmulator) -> None:
    anna = new_user(emu)
    control(emu, "POST", f"/users/{anna['user_id']}/text", text="Привет")
    bot(emu, "POST", "/messages", {"chat_id": anna["chat_id"]}, {"text": "Здравствуйте"})
    stats = control(emu, "GET", "/stats").json()
    assert stats["users"] == 1 and stats["pending_updates"] == 1 and stats["messages"] == 1
    assert stats["schema_errors"] == 0
    calls = control(emu, "GET", "/calls").json()
    assert calls[-1]["method"] == "POST" and calls[-1]["path"] == "/messages"
    assert calls[-1]["query"] == {"chat_id": str(anna["chat_id"])}
    # A request off the schema is refused and counted, so an adapter's test sees it.
    bad = requests.post(
        emu.url + "/messages",
        params={"chat_id": anna["chat_id"]},
        json={"text": 5},
        headers={"Authorization": TOKEN},
        timeout=10,
    )
    assert bad.status_code == 400 and control(emu, "GET", "/stats").json()["schema_errors"] == 1
    index = control(emu, "GET", "/").json()
    assert index["api_url"] == emu.url and index["subscription"] is None


class _Receiver:
    """A webhook endpoint: answers `status` and keeps what came."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        self.cv = threading.Condition()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _app(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        with self.cv:
            self.got.append(
                (request.headers.get("X-Max-Bot-Api-Secret", ""), json.loads(request.data))
            )
            self.cv.notify_all()
        return Response("{}", status=self.status)(environ, start_response)

    def wait(self, count: int) -> None:
        with self.cv:
            assert self.cv.wait_for(lambda: len(self.got) >= count, timeout=10), self.got


def test_webhook_subscription_pushes_updates_with_the_secret(emu: MaxEmulator) -> None:
    receiver = _Receiver()
    try:
        plain = bot(emu, "POST", "/subscriptions", body={"url": "http://example.ru/hook"})
        assert plain.status_code == 400  # MAX takes HTTPS only
        body = {"url": receiver.url, "secret": "s3cret-value-0123", "update_types": ["x"]}
        assert bot(emu, "POST", "/subscriptions", body=body).json() == {"success": True}
        subs = bot(emu, "GET", "/subscriptions").json()["subscriptions"]
        assert [s["url"] for s in subs] == [receiver.url]
        assert "secret" not in json.dumps(control(emu, "GET", "/webhook").json())
        # Long polling and a webhook cannot be used at once.
        assert bot(emu, "GET", "/updates", {"timeout": 0}).status_code == 405

        anna = new_user(emu)
        control(emu, "POST", f"/users/{anna['user_id']}/start")
        control(emu, "POST", f"/users/{anna['user_id']}/text", text="Первое")
        control(emu, "POST", f"/users/{anna['user_id']}/text", text="Второе")
        receiver.wait(3)
        assert {secret for secret, _ in receiver.got} == {"s3cret-value-0123"}
        texts = [u["message"]["body"]["text"] for _, u in receiver.got[1:]]
        assert texts == ["Первое", "Второе"]  # in order, one at a time

        # A delivery that fails is tried again.
        receiver.status = 500
        control(emu, "POST", f"/users/{anna['user_id']}/text", text="Третье")
        deadline = time.monotonic() + 10
        while len(emu.deliveries) < 3 + 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # the third try is recorded once its answer came
        deliveries = control(emu, "GET", "/webhook").json()["deliveries"]
        assert len(deliveries) == 6
        assert [d["status"] for d in deliveries[-3:]] == [500, 500, 500]
        assert [d["attempt"] for d in deliveries[-3:]] == [1, 2, 3]

        gone = bot(emu, "DELETE", "/subscriptions", {"url": "https://other.ru/"}).json()
        assert gone["success"] is False
        assert bot(emu, "DELETE", "/subscriptions", {"url": receiver.url}).json()["success"]
        assert bot(emu, "GET", "/subscriptions").json() == {"subscriptions": []}
        assert bot(emu, "GET", "/updates", {"timeout": 0}).status_code == 200
    finally:
        receiver.server.shutdown()


def _chromium() -> str:
    path = os.environ.get("KABINET_TEST_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no Chromium at {path}")
    return path


@pytest.mark.browser
def test_phone_page_shows_a_max_chat_in_a_browser(emu: MaxEmulator) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    stop = threading.Event()
    menu = {
        "type": "inline_keyboard",
        "payload": {"buttons": [[{"type": "callback", "text": "Мои баллы", "payload": "pts"}]]},
    }
    share = {
        "type": "inline_keyboard",
        "payload": {"buttons": [[{"type": "request_contact", "text": "📱 Поделиться номером"}]]},
    }

    def answer(update: dict[str, Any]) -> None:
        kind = update["update_type"]
        if kind == "bot_started":
            chat = update["chat_id"]
            text = f"Пришлите номер (метка {update.get('payload', '')})"
            bot(emu, "POST", "/messages", {"chat_id": chat}, {"text": text, "attachments": [share]})
        elif kind == "message_created":
            message = update["message"]
            chat = message["recipient"]["chat_id"]
            card = (message["body"].get("attachments") or [{}])[0]
            if card.get("type") == "contact":
                bot(emu, "POST", "/messages", {"chat_id": chat},
                    {"text": "Спасибо", "attachments": [menu]})  # fmt: skip
            else:
                bot(emu, "POST", "/messages", {"chat_id": chat},
                    {"text": f"Эхо: <i>{message['body']['text']}</i>", "format": "html"})  # fmt: skip
        elif kind == "message_callback":
            callback = update["callback"]
            bot(emu, "POST", "/answers", {"callback_id": callback["callback_id"]},
                {"notification": "150 баллов"})  # fmt: skip
            chat = update["message"]["recipient"]["chat_id"]
            bot(emu, "POST", "/messages", {"chat_id": chat}, {"text": "У вас 150 баллов"})

    def run_bot() -> None:
        marker = None
        while not stop.is_set():
            got = bot(emu, "GET", "/updates", {"timeout": 1, "marker": marker}).json()
            marker = got.get("marker") or marker
            for update in got["updates"]:
                answer(update)

    poller = threading.Thread(target=run_bot, daemon=True)
    poller.start()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=executable,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{emu.url}/phone")
            assert "MAX" in page.content()
            page.fill("#first-name", "Анна")
            page.click("#create-user-btn")
            page.wait_for_url("**/phone?user=*")
            user_id = int(page.url.rsplit("=", 1)[1])
            page.goto(page.url + "&start=demo")

            page.click("#start-btn")  # MAX's Start: bot_started with the payload
            page.wait_for_selector(".msg.bot >> text=Пришлите номер (метка demo)")
            page.click("[data-request-contact]")  # the inline request_contact button
            page.fill("#phone-input", "+79001234567")
            page.click("#phone-ok")
            page.wait_for_selector(".inline-btn >> text=Мои баллы")
            page.click(".inline-btn >> text=Мои баллы")
            page.wait_for_selector(".msg.bot >> text=У вас 150 баллов")
            page.wait_for_selector("#toast >> text=150 баллов")
            page.fill("#text-input", "Привет")
            page.click("#send-btn")
            page.wait_for_selector(".msg.bot i >> text=Привет")
            assert page.locator(".msg.user").count() == 2  # the contact card, the text
            assert page.locator(".event >> text=Вы запустили бота").count() == 1
            browser.close()
        assert errors == []
        chat = emu.chat_of(user_id)
        transcript = control(emu, "GET", f"/chats/{chat}/transcript").json()
        card = next(e["contact"] for e in transcript if "contact" in e)
        assert card == {"first_name": "Анна", "phone_number": "+79001234567", "user_id": user_id}
    finally:
        stop.set()
        poller.join(timeout=5)


def test_a_links_preview_leaves_the_words_and_an_unknown_kind_alone_is_unsupported(
    emu: MaxEmulator,
) -> None:
    chat = emu.create_user("Анна")
    share = {"type": "share", "payload": {"url": "https://example.ru/x"}}
    emu._user_message(chat, "Смотрите https://example.ru/x", [share])
    emu._user_message(chat, None, [share])
    words, alone = (update_event(u, lambda mid: 1) for u in updates(emu))
    assert isinstance(words, Text) and words.text == "Смотрите https://example.ru/x"
    assert isinstance(alone, Attachment) and alone.kind == "unsupported"
    assert alone.extra == {"type": "share"}
