"""Bonuses in the bot, end to end through the emulator: the balance screen, a referral from
link to reward, a family's shared account, a muted member, a staff member's link."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from core import ledger
from core.db import transaction
from core.loyalty.referrals import payload_for
from core.models import OutboxMessage, Referral, StaffUser, Task
from sandbox.demo_clinic import BookingConflict, DemoClinic, persona
from tests.conftest import Wired, clinic_now
from tests.e2e.flows import buttons, connect, start_and_consent


def _texts(wired: Wired, chat: int) -> list[str]:
    return [m.get("text", "") for m in wired.emulator.messages(chat)]


def _ask_balance(wired: Wired, chat: int) -> dict:
    seen = len(wired.emulator.messages(chat))
    wired.emulator.send_text(chat, "🎁 Мои бонусы")
    return wired.wait_messages(chat, seen + 1)[-1]


def _paid_visit(clinic: DemoClinic, patient_id: int, amount: str) -> None:
    """A visit earlier today, completed and paid at the desk."""
    doctors = [d[0] for d in clinic.doctors()]
    start = clinic_now().replace(hour=0, minute=0, second=0)
    for slot in range(200):
        try:
            visit = clinic.book(
                patient_id, doctors[slot % len(doctors)], start + timedelta(minutes=15 * slot), 15
            )
            break
        except BookingConflict:
            continue
    clinic.complete(visit)
    clinic.pay(patient_id, amount, method="card", reception_id=visit)


def test_a_referral_from_link_to_reward(wired: Wired, demo_clinic: DemoClinic) -> None:
    emu, appliance = wired.emulator, wired.appliance
    friend = demo_clinic.add_patient(
        "Смирнова", "Ольга", "Петровна", date(1992, 5, 5), "+7 915 555-44-33"
    )
    appliance.sync_job()
    anna = connect(wired, "anna", "Анна")
    screen = _ask_balance(wired, anna)["text"]
    assert "Анна Сергеевна: 0 бонусов (1 бонус = 1 ₽)." in screen
    link = re.search(r"/start (r[a-z2-9]{8})", screen)
    assert link and "вы получите 2000 бонусов, а друг — 500" in screen

    user = emu.create_user(first_name="Ольга")
    seen = start_and_consent(wired, user["id"], f"/start {link.group(1)}")
    emu.send_contact(user["id"], "79155554433", first_name="Ольга")
    assert "Ольга Петровна, здравствуйте" in wired.wait_messages(user["id"], seen + 1)[-1]["text"]
    with appliance.factory() as s:
        referral = s.scalar(select(Referral))
        assert referral is not None
        assert (referral.referrer_id, referral.state) == (
            str(persona("anna").patient_id),
            "pending",
        )

    _paid_visit(demo_clinic, friend, "4000.00")
    appliance.sync_job()
    appliance.sync_job()  # read again: nothing more
    wired.pump(lambda: any("по вашей ссылке" in t for t in _texts(wired, anna)))
    wired.pump(lambda: any("по приглашению" in t for t in _texts(wired, user["id"])))
    wired.pump(
        lambda: any(
            "начислено 200 бонусов за оплату 4\u00a0000 ₽" in t for t in _texts(wired, user["id"])
        )
    )
    screen = _ask_balance(wired, anna)["text"]
    assert "Анна Сергеевна: 2000 бонусов" in screen
    expiry = (clinic_now() + timedelta(days=365)).date()
    assert re.search(rf"Ближайшее сгорание: 2000 бонусов {expiry.day} \w+ {expiry.year}", screen)
    with appliance.factory() as s:
        assert ledger.verify(s) == []
        assert len([m for m in s.scalars(select(OutboxMessage.key)) if "referral" in m]) == 2


def test_a_family_shares_one_account_and_a_member_mutes_notices(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    oleg = connect(wired, "family", "Олег")
    screen = _ask_balance(wired, oleg)
    assert screen["text"].startswith("Семейный счёт (Олег Викторович, ")
    assert "Мария" in screen["text"] and "Артём" in screen["text"]
    ((label, data),) = buttons(screen)
    assert label == "🔕 Без уведомлений о бонусах"

    son = persona("family_son").patient_id
    demo_clinic.pay(son, "2000.00", method="card")
    appliance.sync_job()
    # One phone for the whole family: the notice names the son, whose payment it was.
    wired.pump(lambda: "Артём Олегович, начислено 100 бонусов" in _texts(wired, oleg)[-1])

    emu.press(oleg, screen["message_id"], data)
    wired.pump(lambda: bool(emu.callback_answers))
    assert emu.callback_answers[-1]["text"] == "Уведомления о бонусах выключены."
    demo_clinic.pay(son, "1000.00", method="card")
    appliance.sync_job()
    with appliance.factory() as s:
        # Nothing was even queued for the muted chat.
        keys = [k for k in s.scalars(select(OutboxMessage.key)) if k.startswith("bonus:")]
        assert len(keys) == 1
        family_balance = ledger.balance(s, "family", "1")
        assert family_balance == 150  # the points accrue; only the notice is muted

    screen = _ask_balance(wired, oleg)
    assert "Семейный счёт" in screen["text"] and ": 150 бонусов" in screen["text"]
    ((label, data),) = buttons(screen)
    assert label == "🔔 Уведомлять о бонусах"
    emu.press(oleg, screen["message_id"], data)
    wired.pump(lambda: emu.callback_answers[-1]["text"] == "Уведомления о бонусах включены.")
    demo_clinic.pay(son, "3000.00", method="card")
    appliance.sync_job()
    wired.pump(lambda: any("начислено 150" in t for t in _texts(wired, oleg)))


def test_a_staff_members_link_earns_them_points(wired: Wired, demo_clinic: DemoClinic) -> None:
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    with transaction(appliance.factory) as s:
        s.add(StaffUser(login="olga", password_hash="x", role="admin", full_name="Ольга"))
        s.flush()
        staff_id = s.scalar(select(StaffUser.id).where(StaffUser.login == "olga"))
        link = payload_for(s, "staff", str(staff_id))
    user = emu.create_user(first_name="Анна")
    seen = start_and_consent(wired, user["id"], f"/start {link}")
    emu.send_contact(user["id"], persona("anna").phone_e164.lstrip("+"), first_name="Анна")
    wired.wait_messages(user["id"], seen + 1)
    # A forged or mistyped link is kept out: the grammar refuses it, the code is unknown.
    stranger = emu.create_user(first_name="Иван")
    emu.send_text(stranger["id"], "/start s" + "z" * 8)
    wired.wait_messages(stranger["id"], 1)
    with appliance.factory() as s:
        assert ledger.balance(s, "staff", str(staff_id)) == 100
        referral = s.scalar(select(Referral))
        assert referral is not None and referral.referrer_kind == "staff"


def test_a_referred_friend_not_yet_in_the_mis_is_linked_when_the_mis_gets_them(
    wired: Wired, demo_clinic: DemoClinic
) -> None:
    """The friend opens the link and shares the contact before the front desk has entered
    them: the pending link is completed by the sync that brings the patient, without
    asking for the contact again, and the referral counts."""
    emu, appliance = wired.emulator, wired.appliance
    appliance.sync_job()
    anna = connect(wired, "anna", "Анна")
    link = re.search(r"/start (r[a-z2-9]{8})", _ask_balance(wired, anna)["text"])
    assert link
    user = emu.create_user(first_name="Вера")
    seen = start_and_consent(wired, user["id"], f"/start {link.group(1)}")
    emu.send_contact(user["id"], "79155557788", first_name="Вера")
    assert "Не нашли пациента" in wired.wait_messages(user["id"], seen + 1)[-1]["text"]
    with appliance.factory() as s:
        assert s.scalar(select(Referral)) is None
        task = s.scalar(select(Task).where(Task.kind == "unknown_patient"))
        assert task is not None and task.state == "open"

    friend = demo_clinic.add_patient(
        "Орлова", "Вера", "Игоревна", date(1990, 3, 3), "+7 (915) 555-77-88"
    )
    appliance.sync_job()
    appliance.sync_job()  # read again: nothing more
    wired.pump(
        lambda: any("номер присылать ещё раз не нужно" in t for t in _texts(wired, user["id"]))
    )
    found = [t for t in _texts(wired, user["id"]) if "номер присылать ещё раз" in t]
    assert len(found) == 1 and found[0].startswith("Вера Игоревна, здравствуйте!")
    with appliance.factory() as s:
        referral = s.scalar(select(Referral))
        assert referral is not None
        assert (referral.referred_patient_mis_id, referral.referrer_id, referral.state) == (
            str(friend),
            str(persona("anna").patient_id),
            "pending",
        )
        task = s.scalar(select(Task).where(Task.kind == "unknown_patient"))
        assert task is not None and task.state == "done"

    # The menu works without sharing the contact again, and the referral pays out.
    assert "Вера Игоревна: 0 бонусов" in _ask_balance(wired, user["id"])["text"]
    _paid_visit(demo_clinic, friend, "4000.00")
    appliance.sync_job()
    wired.pump(lambda: any("по вашей ссылке" in t for t in _texts(wired, anna)))
    wired.pump(lambda: any("по приглашению" in t for t in _texts(wired, user["id"])))
