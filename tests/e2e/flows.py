"""Steps of the patient's loop, shared by the end-to-end and the browser tests.

Each step plays the patient through the Telegram emulator and drives the wired appliance
until the bot has answered; assertions stay in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Appointment
from sandbox.demo_clinic import DemoClinic, persona
from tests.conftest import Wired


def buttons(message: dict) -> list[tuple[str, str]]:
    """(text, callback_data) of a message's inline buttons, row by row."""
    markup = message.get("reply_markup") or {}
    return [
        (b["text"], b.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def appointment_mis_id(wired: Wired, appointment_id: int) -> int:
    with wired.appliance.factory() as s:
        return int(s.get(Appointment, appointment_id).mis_id)


def start_and_consent(wired: Wired, chat: int, start: str = "/start") -> int:
    """/start (with its payload), then «Согласен(на)» on the consent; returns how many
    of the bot's messages the chat has once it asked for the number."""
    emu = wired.emulator
    seen = len(emu.messages(chat))
    emu.send_text(chat, start)
    ask = wired.wait_messages(chat, seen + 1)[-1]
    accept = next(data for _, data in buttons(ask) if data.startswith("cs:yes:"))
    emu.press(chat, ask["message_id"], accept)
    return len(wired.wait_messages(chat, seen + 2))


def connect(
    wired: Wired, persona_key: str, first_name: str, last_name: str = "", *, family: bool = True
) -> int:
    """A new Telegram user sends /start, consents, then shares her own contact; returns
    her chat id. A number several patients share gets «Кто вы?»: with `family` this
    presses «Мы семья — все» (the personas' families are one family in the MIS).

    The contact comes as Telegram sends it: bare international digits.
    """
    emu = wired.emulator
    user = emu.create_user(first_name=first_name, last_name=last_name or None)
    chat = user["id"]
    seen = start_and_consent(wired, chat)
    emu.send_contact(chat, persona(persona_key).phone_e164.lstrip("+"), first_name=first_name)
    answer = wired.wait_messages(chat, seen + 1)[-1]
    # MAX: the card proves the account, not the number; the code sent by SMS is typed back.
    answer, seen = wired.prove_number(chat, answer, seen)
    if family and ("who:all") in [data for _, data in buttons(answer)]:
        emu.press(chat, answer["message_id"], "who:all")
        wired.wait_messages(chat, seen + 2)
    return chat


def confirm_reminder(wired: Wired, chat: int) -> int:
    """Plan the day-before reminders and press Confirm on hers; returns the visit's id."""
    seen = len(wired.emulator.messages(chat))
    wired.appliance.reminders_job()
    reminder = wired.wait_messages(chat, seen + 1)[-1]
    confirm_data = buttons(reminder)[0][1]
    wired.emulator.press(chat, reminder["message_id"], confirm_data)
    wired.wait_messages(chat, seen + 2)
    return int(confirm_data.split(":")[1])


def complete_and_pay(
    wired: Wired, clinic: DemoClinic, appointment_id: int, patient_id: int, amount: str
) -> None:
    """The patient comes, is treated and pays at the desk; the appliance reads it all."""
    mis_id = appointment_mis_id(wired, appointment_id)
    clinic.arrive(mis_id)
    clinic.complete(mis_id)
    clinic.pay(patient_id, amount, method="card", reception_id=mis_id)
    wired.appliance.sync_job()


@dataclass
class Loop:
    chat: int
    appointment_id: int
    patient_id: int


def confirmed_and_paid_visit(
    wired: Wired, clinic: DemoClinic, persona_key: str = "anna", amount: str = "3450.00"
) -> Loop:
    """The happy path: import, connect, confirm tomorrow's visit, complete and pay it."""
    who = persona(persona_key)
    wired.appliance.sync_job()
    chat = connect(wired, persona_key, who.name, who.surname)
    appointment_id = confirm_reminder(wired, chat)
    seen = len(wired.emulator.messages(chat))
    complete_and_pay(wired, clinic, appointment_id, who.patient_id, amount)
    wired.wait_messages(chat, seen + 1)  # "points accrued"
    return Loop(chat, appointment_id, who.patient_id)
