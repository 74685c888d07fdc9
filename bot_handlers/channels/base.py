"""The conversation layer's contract with a messenger: typed events in, a few operations out.

The patient flows (bot_handlers/onboarding.py, visits.py, loyalty.py, care.py, delivery.py,
chat.py, commands.py) see only what is here. A messenger is an *adapter*: it turns its own
updates into the events below, and carries out the operations of `Channel`. Telegram's
adapter is bot_handlers/channels/telegram.py, on pyTelegramBotAPI; the registry of adapters
is bot_handlers/channels/registry.py.

What a MAX adapter (bot_handlers/channels/max.py, its own issue) has to provide, and nothing
else — no flow is copied:

- ``open_channel(config) -> Channel`` and a line in ``registry.ADAPTERS``.
- Inbound, from MAX's updates (``GET /updates`` long polling or a webhook, stored first like
  Telegram's): ``bot_started`` → `Start` (its ``payload``, up to 128 characters);
  ``message_created`` → `Text` / `Command` / `Contact` / `Attachment`;
  ``message_callback`` → `Press` (``callback.callback_id`` as `Press.press_id`, the
  button's ``payload`` as `Press.data`, the message's ``mid`` as `message_id`);
  ``message_edited`` → `Edited`; the update MAX sends when a person stops the bot →
  `Membership(blocked=True)` (settle its name from ``schema.yaml``; a 403 on sending marks
  the chat unreachable in any case), and ``bot_started`` after that → unblocked.
- `Contact.own`: the adapter alone decides whether a shared number is the sender's own. For
  MAX that is at least ``max_info.user_id`` equal to the sender's ``user_id`` on a contact
  sent by a ``request_contact`` button; anything weaker is ``own=False`` and refused.
- Outbound: `Keyboard` (below, the outbox's stored markup) translated into MAX's
  ``inline_keyboard`` attachment — `InlineButton.callback_data` → a ``callback`` button
  with that payload, `url` → a ``link`` button; a reply keyboard's ``request_contact``
  button → a ``request_contact`` button; plain reply-keyboard labels → ``message``
  buttons (MAX has no persistent reply keyboard). ``answer_press`` is
  ``POST /answers?callback_id=…`` with a notification; files go through
  ``POST /uploads`` and may answer ``attachment.not.ready`` for a moment (retry).
- Errors as `DeliveryError`: 429 → rate_limited, 403 → forbidden, other 4xx → rejected,
  5xx and network → transient.
- Storage it will need, which the Telegram-only schema does not have yet: subscribers keyed
  by (channel, user id) instead of ``telegram_user_id`` alone, and MAX's message ids are
  strings (``mid.…``), so the outbox's message-id columns must hold text. The outbox's
  ``channel`` column already names the messenger ("telegram", "sms"); the dispatcher picks
  the transport by it.
- Its emulator (sandbox/max/, like sandbox/telegram/) so the same conversation tests run
  against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, Protocol, TypedDict


@dataclass(frozen=True)
class User:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    language: str = ""  # the messenger's hint (IETF tag), e.g. "ru" or "en-GB"

    @property
    def full_name(self) -> str:
        return " ".join(filter(None, [self.first_name, self.last_name]))


@dataclass(frozen=True)
class Chat:
    id: int
    private: bool


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something a person did in a chat with the bot."""

    channel: str
    chat: Chat
    user: User
    message_id: int = 0  # the message it is, or (a press) the message whose button it was


@dataclass(frozen=True, kw_only=True)
class Text(Event):
    text: str


@dataclass(frozen=True, kw_only=True)
class Command(Event):
    """``/name args``; ``/start`` is `Start` instead."""

    name: str  # lower case, without the slash or a bot's @name
    args: str = ""


@dataclass(frozen=True, kw_only=True)
class Start(Event):
    """The person opened the bot, possibly by a deep link carrying a payload."""

    payload: str = ""


@dataclass(frozen=True, kw_only=True)
class Contact(Event):
    phone: str
    # True only when the messenger itself vouches that the number is the sender's own
    # (Telegram: contact.user_id == from.id). A forwarded or typed card is never own.
    own: bool
    first_name: str = ""
    last_name: str = ""
    # True only when the messenger also vouches that the number on an own card is the
    # account's verified number (Telegram: yes, it is the number the account signed up
    # with). False (MAX: see bot_handlers/channels/max.py) means an own card proves the
    # account, not the phone: linking then needs a one-time code sent by SMS to the MIS
    # phone (bot_handlers/phone_code.py). Off unless an adapter says so.
    number_proven: bool = False


@dataclass(frozen=True, kw_only=True)
class Attachment(Event):
    """A photo, document, voice note, audio, video, video note, sticker or location."""

    kind: str
    text: str = ""  # the caption; for a location "lat, lon"
    file_id: str = ""  # the messenger's handle, for `Channel.fetch_file`
    file_name: str = ""
    mime_type: str = ""
    file_size: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Edited(Event):
    """The person edited an earlier message (`message_id`)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class Press(Event):
    """An inline button was pressed on the bot's message `message_id`."""

    press_id: str
    data: str
    message_text: str = ""
    # The message's buttons as they are now, in the `Keyboard` shape.
    keyboard: Keyboard | None = None


@dataclass(frozen=True, kw_only=True)
class Membership(Event):
    """The person blocked the bot (``blocked``) or came back."""

    blocked: bool


# --- outbound -------------------------------------------------------------------------------


class InlineButton(TypedDict):
    text: str
    callback_data: NotRequired[str]  # at most 64 bytes (Telegram's limit, the tighter one)
    url: NotRequired[str]


class ReplyButton(TypedDict):
    text: str
    request_contact: NotRequired[bool]


class Keyboard(TypedDict, total=False):
    """Buttons as the outbox stores them (core.outbox.inline_keyboard, core.texts.menu_keyboard).

    The shape is Telegram's reply_markup, which the Telegram adapter sends as it is; any
    other adapter translates it. Either ``inline_keyboard`` (buttons under a message) or
    ``keyboard`` (the menu below the input field) or ``remove_keyboard``.
    """

    inline_keyboard: list[list[InlineButton]]
    keyboard: list[list[ReplyButton]]
    resize_keyboard: bool
    one_time_keyboard: bool
    is_persistent: bool
    remove_keyboard: bool


@dataclass
class DeliveryError(Exception):
    """kind: rate_limited (wait retry_after) | transient (back off) | forbidden (stop) |
    rejected (the message itself is wrong; retrying cannot help) | already_done."""

    kind: str
    detail: str
    retry_after: float = 0.0

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class Channel(Protocol):
    """One messenger. Outbound operations raise `DeliveryError`; message ids are the
    messenger's own."""

    name: str

    def send_text(
        self, chat_id: int, text: str, keyboard: Keyboard | None = None, parse_mode: str = ""
    ) -> int: ...

    def edit_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        keyboard: Keyboard | None = None,
        parse_mode: str = "",
    ) -> int: ...

    def edit_keyboard(self, chat_id: int, message_id: int, keyboard: Keyboard | None) -> int: ...

    def answer_press(self, press_id: str, text: str = "") -> None:
        """Stop the pressed button's spinner, with a short notice if `text`."""

    def send_file(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        *,
        caption: str = "",
        image: bool = False,
        keyboard: Keyboard | None = None,
    ) -> int: ...

    def fetch_file(self, file_id: str, limit: int) -> tuple[bytes, str]:
        """The bytes of a file a person sent, and its path or name; raises
        core.conversations.files.FileTooBig past `limit` bytes or the messenger's own limit."""

    def set_commands(
        self, commands: Mapping[str, Sequence[tuple[str, str]]], default_language: str
    ) -> None:
        """The command menu, per language code: {"ru": [("help", "Помощь"), ...], ...}."""


def as_keyboard(markup: dict[str, Any] | None) -> Keyboard | None:
    """The outbox's stored markup (plain JSON) as a `Keyboard`, for the type checker."""
    return markup  # type: ignore[return-value]
