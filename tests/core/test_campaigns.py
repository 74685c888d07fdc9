"""Campaigns: who may receive one, resumable expansion, cancelling, unsubscribing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from core import campaigns
from core.clock import utcnow
from core.db import transaction
from core.models import Appointment, Campaign, OutboxMessage
from core.outbox import PRIORITY_CAMPAIGN, PRIORITY_REMINDER, enqueue
from tests.core.people import chat_for, patient

# Time sensitive: `make test` reruns it at frozen instants and under another TZ.
pytestmark = pytest.mark.clock


def _outbox(factory) -> dict[int, OutboxMessage]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return {m.chat_id: m for m in s.scalars(select(OutboxMessage))}


def test_mailings_go_only_where_consent_flags_and_opt_outs_allow(factory, config) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        ok = chat_for(s, patient(s, "1", first="Анна"))
        no_mis_consent = chat_for(s, patient(s, "2", allowed=False))
        archived = chat_for(s, patient(s, "3", status="archived"))
        opted_out = chat_for(s, patient(s, "4"), opted_out=utcnow())
        blocked = chat_for(s, patient(s, "5"), unreachable=True)
        never_shared_contact = chat_for(s, patient(s, "6"), consent=False)
        # A family phone: the child may not be written to, the mother may; she is addressed.
        family = chat_for(
            s,
            patient(s, "7", first="Дочь", birth=date(2015, 1, 1), allowed=False),
            patient(s, "8", first="Мария", middle="Петровна", birth=date(1985, 1, 1)),
        )
        campaigns.create_campaign(
            s, title="Акция", text="{name}, скидка!", segment="all", created_by="owner"
        )
    report = campaigns.advance(factory, config)
    assert report.queued == 2
    sent = _outbox(factory)
    assert set(sent) == {ok.chat_id, family.chat_id}
    assert sent[family.chat_id].text == "Мария Петровна, скидка!"
    assert sent[ok.chat_id].priority == PRIORITY_CAMPAIGN
    assert sent[ok.chat_id].reply_markup["inline_keyboard"][0][0]["callback_data"] == "u"
    for excluded in (no_mis_consent, archived, opted_out, blocked, never_shared_contact):
        assert excluded.chat_id not in sent


def test_expansion_resumes_where_a_crash_left_it(factory, config) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        chats = [chat_for(s, patient(s, str(i))).chat_id for i in range(23)]
        campaign = campaigns.create_campaign(
            s, title="t", text="x", segment="all", created_by="owner"
        )
        campaign_id = campaign.id
    # One chunk of 10 is committed, then the process dies.
    with transaction(factory) as s:
        added, more = campaigns._expand_chunk(s, config, campaign_id, utcnow(), 10)
    assert (added, more) == (10, True)
    # The next start carries on from the cursor; running it again adds nothing.
    campaigns.advance(factory, config, chunk=10)
    campaigns.advance(factory, config, chunk=10)
    assert sorted(_outbox(factory)) == sorted(chats)
    with factory() as s:
        c = s.get(Campaign, campaign_id)
        assert (c.state, c.recipients) == ("sending", 23)


def test_a_campaign_is_done_when_nothing_is_left_and_can_be_cancelled(factory, config) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        for i in range(3):
            chat_for(s, patient(s, str(i)))
        first = campaigns.create_campaign(s, title="a", text="x", segment="all", created_by="o")
        second = campaigns.create_campaign(s, title="b", text="y", segment="all", created_by="o")
        ids = first.id, second.id
    campaigns.advance(factory, config)
    with transaction(factory) as s:
        for m in s.scalars(select(OutboxMessage).where(OutboxMessage.campaign_id == ids[0])):
            m.state = "sent"
        assert campaigns.cancel(s, s.get(Campaign, ids[1])) == 3
    assert campaigns.advance(factory, config).finished == 1
    with factory() as s:
        assert s.get(Campaign, ids[0]).state == "done"
        assert s.get(Campaign, ids[1]).state == "cancelled"
        assert campaigns.progress(s, ids[1]) == {"cancelled": 3}


def test_segments_by_last_visit(factory, config) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with transaction(factory) as s:
        recent = chat_for(s, patient(s, "r"))
        lapsed = chat_for(s, patient(s, "l"))
        for mis_id, when in (("r", now - timedelta(days=40)), ("l", now - timedelta(days=500))):
            s.add(
                Appointment(
                    mis_id=f"a-{mis_id}",
                    patient_mis_id=mis_id,
                    starts_at=when,
                    ends_at=when + timedelta(minutes=30),
                    status="completed",
                )
            )
    with factory() as s:
        visited = [sub.chat_id for sub, _ in campaigns.marketing_chats(s, "visited_year", now)]
        gone = [sub.chat_id for sub, _ in campaigns.marketing_chats(s, "lapsed", now)]
        assert campaigns.audience_size(s, "all", now) == 2
    assert visited == [recent.chat_id] and gone == [lapsed.chat_id]


def test_unsubscribing_drops_queued_mailings_but_not_reminders(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as s:
        sub = chat_for(s, patient(s, "1"))
        enqueue(
            s,
            key="c",
            chat_id=sub.chat_id,
            text="sale",
            kind="campaign",
            priority=PRIORITY_CAMPAIGN,
        )
        enqueue(
            s,
            key="r",
            chat_id=sub.chat_id,
            text="visit",
            kind="reminder",
            priority=PRIORITY_REMINDER,
        )
    with transaction(factory) as s:
        sub = s.merge(sub)
        assert campaigns.opt_out(s, sub, utcnow()) == 1
    with factory() as s:
        states = {m.key: m.state for m in s.scalars(select(OutboxMessage))}
        assert states == {"c": "cancelled", "r": "pending"}
        assert campaigns.audience_size(s, "all", utcnow()) == 0


def _in_both(s, mis_id: str, phone: str, chosen: str | None):  # type: ignore[no-untyped-def]
    """A patient in Telegram and in MAX on one number; `chosen` the messenger they chose."""
    person = patient(s, mis_id)
    telegram, max_chat = chat_for(s, person), chat_for(s, person)
    max_chat.channel = "max"
    for sub in (telegram, max_chat):
        sub.phone = phone
        if sub.channel == chosen:
            sub.preferred_at = utcnow()
    return telegram, max_chat


@pytest.mark.parametrize("max_mailings", [False, True])
def test_mailings_reach_max_only_once_the_clinic_allows_them(
    factory, config, max_mailings: bool
) -> None:  # type: ignore[no-untyped-def]
    config = config.replace(max={"mailings": max_mailings})
    with transaction(factory) as s:
        only_max = chat_for(s, patient(s, "m"))
        only_max.channel = "max"
        telegram, chose_max = _in_both(s, "b", "+79160000001", chosen="max")
        campaigns.create_campaign(s, title="t", text="x", segment="all", created_by="owner")
        expected = 2 if max_mailings else 1
        assert campaigns.audience_size(
            s, "all", utcnow(), campaigns.closed_to_mailings(config)
        ) == expected + (1 if max_mailings else 0)  # the audience counts chats
    campaigns.advance(factory, config)
    with factory() as s:
        sent = {(m.channel, m.chat_id) for m in s.scalars(select(OutboxMessage))}
    if max_mailings:
        # In MAX as well; the person in both gets it once, in the messenger they chose.
        assert sent == {("max", only_max.chat_id), ("max", chose_max.chat_id)}
    else:
        # Not in MAX: the person in both gets it in Telegram, though they chose MAX.
        assert sent == {("telegram", telegram.chat_id)}
