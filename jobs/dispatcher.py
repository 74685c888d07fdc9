"""The outbox dispatcher: sends due messages in priority order within Telegram's limits.

One loop thread claims a short lookahead of due messages (about two seconds' worth) and
hands them to a small pool of sender threads, because one request takes 50-150 ms and the
limit is ~30 a second. Pacing happens where it matters:

- overall: a sender takes a slot from one evenly spaced limiter just before its request,
  so requests leave at most `global_per_second` apart whatever the pool size;
- per chat ("lane"): one request in flight per chat, the next no sooner than ~1 s after
  the previous one left (3 s in the staff group, 20 a minute), in priority order;
- a 429 blocks that chat for exactly `retry_after`; 5xx and timeouts back off
  exponentially with jitter; a 403 marks the patient unreachable and drops their queue.

A claimed message that must wait (a retry) stays in memory and at the head of its chat's
lane, so a later message cannot overtake it. Stopping (SIGTERM) stops claiming, hands
back what was claimed but not sent, and lets requests in flight finish and be recorded.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from core import messengers, outbox
from core.clock import utcnow
from core.config import Config, redact
from core.db import transaction
from core.models import OutboxMessage
from core.ratelimit import AdaptiveSpacer, Spacer
from core.settings import store as settings
from jobs.transports import DeliveryError, Transport

log = logging.getLogger(__name__)

Lane = tuple[str, Any]  # ("telegram", chat_id) | ("sms", phone)

# How often the loop looks for newly due messages when nobody wakes it.
REFILL_SECONDS = 0.25
# Chats with this many messages already in memory are not claimed for again.
PER_LANE_LOOKAHEAD = 2
# Telegram's windows and our clock differ by a little: keep this much more apart.
PACING_MARGIN_SECONDS = 0.05
# Lateness of a send absorbed by the overall schedule (core.ratelimit.Spacer).
GLOBAL_SLACK_SECONDS = 0.002


@dataclass
class _Item:
    message: OutboxMessage
    lane: Lane
    order: tuple[int, datetime, int]
    not_before: float = 0.0  # monotonic; set after a failure

    @property
    def id(self) -> int:
        return self.message.id


@dataclass
class DispatchStats:
    sent: int = 0
    rate_limited: int = 0
    transient: int = 0
    unreachable: int = 0
    rerouted: int = 0  # handed to the person's other messenger after a 403
    failed: int = 0
    dropped: int = 0
    last_error: str = ""
    by_kind: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    def __init__(
        self,
        factory: sessionmaker[Session],
        transport: Transport,
        config: Config,
        *,
        sms: Transport | None = None,
        others: Mapping[str, Transport] | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        workers: int | None = None,
        backoff_base: float = 2.0,
    ) -> None:
        self.factory = factory
        # The per-message statements go straight to the engine, past the ORM session.
        self.engine: Engine = factory.kw["bind"]
        self.transport = transport
        self.sms = sms
        # Messengers besides Telegram (outbox.channel -> transport), each paced by its own
        # overall spacer: one messenger's limits say nothing about another's.
        self.others: dict[str, Transport] = dict(others or {})
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        self.backoff_base = backoff_base
        m = config.messaging
        self.workers = workers or m.send_workers
        self.global_spacer = AdaptiveSpacer(m.global_per_second, slack=GLOBAL_SLACK_SECONDS)
        self.sms_spacer = Spacer(m.sms_per_second)
        self.other_spacers = {
            name: AdaptiveSpacer(config.max.per_second, slack=GLOBAL_SLACK_SECONDS)
            for name in self.others
        }
        self.chat_interval = 1.0 / m.per_chat_per_second + PACING_MARGIN_SECONDS
        self.group_interval = 60.0 / m.group_per_minute + 3 * PACING_MARGIN_SECONDS
        self.quiet = outbox.QuietHours(m.quiet_start, m.quiet_end, config.clinic.tz)
        # About two seconds of sending, so a reply claimed now waits behind little.
        self.capacity = max(int(m.global_per_second * 2), 20) + self.workers
        # Claims are tokened "<this dispatcher>:<batch>" (the column holds 32 characters).
        self.token = uuid.uuid4().hex[:20]
        self._batch = 0
        self.stats = DispatchStats()
        self.wake_event = threading.Event()
        self._signal = threading.Event()  # a sender finished, or someone woke us
        self._lock = threading.Lock()
        self._lanes: dict[Lane, list[_Item]] = {}
        self._busy: set[Lane] = set()
        self._ready_at: dict[Lane, float] = {}
        self._in_flight = 0
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.Semaphore(self.workers)
        self._last_log = time.monotonic()
        self._logged_sent = 0

    # -- public -----------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was enqueued: look for it now rather than at the next tick."""
        self.wake_event.set()
        self._signal.set()

    def recover(self) -> tuple[int, int]:
        """At start: claimed rows back to pending, rows left 'sending' to 'unknown'."""
        with transaction(self.factory) as session:
            back, unknown = outbox.recover_after_restart(session)
        if back or unknown:
            log.warning(
                "outbox after an unclean stop: %s message(s) queued again, %s whose outcome "
                "is unknown held for a person to check (delivery screen)",
                back,
                unknown,
            )
        return back, unknown

    def run(self, stop: threading.Event) -> None:
        """The dispatcher thread, until `stop`; then a graceful drain."""
        self.recover()
        last_refill = 0.0
        try:
            while not stop.is_set():
                try:
                    now_m = time.monotonic()
                    if self.wake_event.is_set() or now_m - last_refill >= REFILL_SECONDS:
                        self.wake_event.clear()
                        self._refill()
                        last_refill = now_m
                    self._submit_ready()
                    self.global_spacer.relax()
                    self._log_progress()
                except Exception:
                    log.exception("dispatcher pass failed")
                    stop.wait(1.0)
                self._signal.wait(self._idle_timeout())
                self._signal.clear()
        finally:
            self.close()

    def dispatch_once(self, limit: int | None = None) -> int:
        """One synchronous pass for tests and tools: claim what is due, send what the
        limits allow right now, wait for those answers, hand the rest back. Returns how
        many messages were settled (sent or finally failed)."""
        before = self._settled()
        self._refill(limit)
        while True:
            submitted = self._submit_ready()
            with self._lock:
                in_flight = self._in_flight
            if not submitted and not in_flight:
                break
            self._signal.wait(0.05)
            self._signal.clear()
        self._release_all()
        return self._settled() - before

    def close(self) -> None:
        """Stop claiming; hand back what was claimed and not sent; let requests in flight
        finish and be recorded. Nothing is left 'claimed' or 'sending' afterwards."""
        self._release_all()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        # A sender that failed while we waited put its message back in a lane.
        self._release_all()

    def queued(self) -> int:
        with self._lock:
            return sum(len(items) for items in self._lanes.values())

    # -- the loop's half ----------------------------------------------------------------

    def _settled(self) -> int:
        s = self.stats
        return s.sent + s.unreachable + s.failed

    def _idle_timeout(self) -> float:
        now = time.monotonic()
        with self._lock:
            if self._in_flight >= self.workers:
                return REFILL_SECONDS  # a sender finishing wakes the loop
            waits = [
                max(items[0].not_before, self._ready_at.get(lane, 0.0)) - now
                for lane, items in self._lanes.items()
                if items and lane not in self._busy
            ]
        soonest = min(waits, default=REFILL_SECONDS)
        return min(max(soonest, 0.005), REFILL_SECONDS)

    def _refill(self, limit: int | None = None) -> int:
        now = self.clock()
        with self._lock:
            queued = sum(len(items) for items in self._lanes.values())
            full = [
                lane
                for lane, items in self._lanes.items()
                if lane[0] != "sms" and len(items) + (lane in self._busy) >= PER_LANE_LOOKAHEAD
            ]
            full_lanes = [chat for channel, chat in full if channel == "telegram"]
            # MAX's chats are paced per chat too (their lanes): not claimed for when full.
            other_lanes = [(channel, chat) for channel, chat in full if channel != "telegram"]
            worst = max(
                (items[-1].order[0] for items in self._lanes.values() if items), default=None
            )
        room = (limit or self.capacity) - queued
        self._batch += 1
        batch = f"{self.token}:{self._batch:x}"
        with transaction(self.factory) as session:
            resume = self._quiet_hours(session).next_allowed(now)
            if resume is not None:
                outbox.defer_for_quiet_hours(session, now, resume)
            if room > 0:
                rows = outbox.claim(
                    session, now, room, batch, skip_chats=full_lanes, skip_lanes=other_lanes
                )
            elif worst is not None and worst > outbox.PRIORITY_REPLY:
                # Full of less urgent messages: take only what should overtake them.
                rows = outbox.claim(
                    session,
                    now,
                    10,
                    batch,
                    skip_chats=full_lanes,
                    skip_lanes=other_lanes,
                    more_urgent_than=worst,
                )
            else:
                rows = []
            session.expunge_all()
        if not rows:
            return 0
        with self._lock:
            for row in rows:
                lane: Lane = (
                    ("sms", row.phone) if row.channel == "sms" else (row.channel, row.chat_id)
                )
                item = _Item(row, lane, (row.priority, row.due_at, row.id))
                items = self._lanes.setdefault(lane, [])
                items.append(item)
                items.sort(key=lambda i: i.order)
            evicted = self._evict_over_capacity(limit or self.capacity)
        if evicted:
            with transaction(self.factory) as session:
                outbox.release(session, self.token, evicted)
        return len(rows)

    def _evict_over_capacity(self, capacity: int) -> list[int]:
        """Hand back the least urgent waiting messages beyond the lookahead (lock held)."""
        queued = sum(len(items) for items in self._lanes.values())
        if queued <= capacity:
            return []
        # A retry keeps its place at the head of its chat; anything else can be claimed
        # again later, in the same order.
        candidates = sorted(
            (item for items in self._lanes.values() for item in items if not item.not_before),
            key=lambda i: i.order,
            reverse=True,
        )
        evicted: list[int] = []
        for item in candidates:
            if queued - len(evicted) <= capacity:
                break
            lane_items = self._lanes[item.lane]
            lane_items.remove(item)
            if not lane_items:
                del self._lanes[item.lane]
            evicted.append(item.id)
        return evicted

    def _quiet_hours(self, session: Session) -> outbox.QuietHours:
        """The quiet hours in force (changed on «Настройки» without a restart); kept for
        the sends between two refills."""
        m = settings.effective(session, self.config).messaging
        self.quiet = outbox.QuietHours(m.quiet_start, m.quiet_end, self.config.clinic.tz)
        return self.quiet

    def _submit_ready(self) -> int:
        """Start a send for each chat whose next message may go now, most urgent first."""
        now = time.monotonic()
        quiet = self.quiet.next_allowed(self.clock()) is not None
        to_release: list[int] = []
        with self._lock:
            heads = []
            for lane, items in list(self._lanes.items()):
                if quiet:
                    # Quiet hours began while these waited in memory: back to the queue,
                    # where the next refill defers them to the morning.
                    keep = [i for i in items if not _waits_for_quiet(i)]
                    to_release += [i.id for i in items if i not in keep]
                    if keep:
                        self._lanes[lane] = items = keep
                    else:
                        del self._lanes[lane]
                        continue
                if lane in self._busy:
                    continue
                head = items[0]
                if head.not_before > now or self._ready_at.get(lane, 0.0) > now:
                    continue
                heads.append(head)
            heads.sort(key=lambda i: i.order)
        if to_release:
            with transaction(self.factory) as session:
                outbox.release(session, self.token, to_release)
        started = 0
        for head in heads:
            if not self._slots.acquire(blocking=False):
                break
            with self._lock:
                lane_items = self._lanes.get(head.lane)
                if not lane_items or lane_items[0] is not head:
                    self._slots.release()
                    continue
                lane_items.pop(0)
                if not lane_items:
                    del self._lanes[head.lane]
                self._busy.add(head.lane)
                self._in_flight += 1
            self._ensure_pool().submit(self._deliver, head)
            started += 1
        return started

    def _release_all(self) -> None:
        with self._lock:
            ids = [item.id for items in self._lanes.values() for item in items]
            self._lanes.clear()
        with transaction(self.factory) as session:
            # Everything this dispatcher claimed and is not sending goes back, including
            # rows a sender put back after a failure (with their retry time as due_at).
            outbox.release(session, self.token)
        if ids:
            log.debug("handed %s claimed message(s) back to the queue", len(ids))

    def _ensure_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="outbox-sender")
        return self._pool

    def _log_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_log < 60:
            return
        sent = self.stats.sent - self._logged_sent
        if sent or self.stats.last_error:
            log.info(
                "outbox: %s sent in the last minute (%.1f/s, paced at %.2f/s, %.1f s of pace "
                "lost to late senders so far), %s waiting in memory; 429s so far %s, retries "
                "%s, unreachable %s, failed %s",
                sent,
                sent / (now - self._last_log),
                self.global_spacer.per_second,
                self.global_spacer.lost_seconds,
                self.queued(),
                self.stats.rate_limited,
                self.stats.transient,
                self.stats.unreachable,
                self.stats.failed,
            )
        self._last_log, self._logged_sent = now, self.stats.sent

    # -- the senders' half ----------------------------------------------------------------

    def _deliver(self, item: _Item) -> None:
        message = item.message
        try:
            with self.engine.begin() as connection:
                if not outbox.begin_send(connection, message.id, message.claim_token):
                    self.stats.dropped += 1  # cancelled or unreachable meanwhile
                    return
            message.attempts += 1
            sms = message.channel == "sms"
            transport, spacer = self._route(message.channel)
            while not spacer.take():
                time.sleep(spacer.wait_time())
            interval = (
                self.group_interval if (not sms and message.chat_id < 0) else self.chat_interval
            )
            try:
                telegram_id = transport.send(message)
            except DeliveryError:
                raise
            except Exception as err:  # an unknown failure is treated as transient, and logged
                log.exception("sending outbox message %s failed", message.id)
                raise DeliveryError("transient", redact(repr(err), self.config)) from None
            finally:
                # Counted from the answer, not the request: Telegram counted this message
                # somewhere in between, so the next one to this chat lands at least
                # `interval` after it however long the round trip took.
                with self._lock:
                    self._ready_at[item.lane] = time.monotonic() + interval
            self._record_sent(message, telegram_id)
        except DeliveryError as err:
            self._failed(item, err)
        except Exception:
            # The store failed around the send; the row stays as it is ('claimed' goes back
            # at release, 'sending' becomes unknown at the next start): never sent twice.
            log.exception("dispatcher could not record outbox message %s", message.id)
        finally:
            with self._lock:
                self._busy.discard(item.lane)
                self._in_flight -= 1
                self._forget_idle_lanes()
            self._slots.release()
            self._signal.set()

    def _route(self, channel: str) -> tuple[Transport, Spacer]:
        if channel == "sms":
            if self.sms is None:
                raise DeliveryError("rejected", "SMS is not configured (messaging.sms_enabled)")
            return self.sms, self.sms_spacer
        if channel == "telegram":
            return self.transport, self.global_spacer
        if channel in self.others:
            return self.others[channel], self.other_spacers[channel]
        raise DeliveryError("rejected", f"the {channel!r} messenger is not enabled")

    def _record_sent(self, message: OutboxMessage, telegram_id: int | None) -> None:
        with self.engine.begin() as connection:
            outbox.mark_sent(connection, message.id, telegram_id, self.clock())
        self.stats.sent += 1
        self.stats.by_kind[message.kind] = self.stats.by_kind.get(message.kind, 0) + 1

    def _failed(self, item: _Item, err: DeliveryError) -> None:
        message = item.message
        now = self.clock()
        error = redact(str(err), self.config)[:2000]
        self.stats.last_error = error
        values: dict[str, Any] = {"last_error": error}
        retry_in: float | None = None
        if err.kind == "already_done":
            values.update(state="sent", sent_at=now, last_error="", claim_token="")
            self.stats.sent += 1
        elif err.kind == "forbidden":
            self.stats.unreachable += 1
            with transaction(self.factory) as session:
                # A person in two messengers: what this chat cannot take goes by the other,
                # and the thread says so (core.messengers); then this chat's queue stops.
                rerouted = messengers.reroute_blocked(
                    session,
                    channel=message.channel,
                    chat_id=message.chat_id,
                    failed_id=message.id,
                    reason=err.detail,
                    lang=self.config.clinic.language,
                )
                outbox.mark_unreachable(
                    session, message.chat_id, err.detail, now, channel=message.channel
                )
            if rerouted:
                self.stats.rerouted += len(rerouted)
                self.wake_event.set()
            values.update(state="unreachable", claim_token="")
            with self._lock:
                dropped = self._lanes.pop(item.lane, [])
            self.stats.dropped += len(dropped)
        elif err.kind == "rejected":
            values.update(state="failed", claim_token="")
            self.stats.failed += 1
        elif err.kind == "rate_limited":
            # Telegram says exactly how long; waiting less only earns another 429.
            self.stats.rate_limited += 1
            if message.channel == "telegram" and message.chat_id > 0:
                # Our per-chat spacing keeps well clear of Telegram's, so a 429 in a
                # private chat says the overall pace was too much for this moment.
                self.global_spacer.too_fast()
            elif message.channel in self.other_spacers:
                self.other_spacers[message.channel].too_fast()
            retry_in = err.retry_after
            message.attempts = max(message.attempts - 1, 0)  # not the message's fault
            values["attempts"] = message.attempts
        elif message.attempts >= self.config.messaging.max_attempts:
            values.update(state="failed", claim_token="")
            self.stats.failed += 1
        else:
            self.stats.transient += 1
            retry_in = min(self.backoff_base * 2 ** (message.attempts - 1), 600.0)
            retry_in *= self.rng.uniform(0.5, 1.5)
        if retry_in is not None:
            # Back to 'claimed' in our hands, due when it may be tried again: it keeps its
            # place at the head of its chat, and a stop hands it back with that due time.
            values.update(state="claimed", due_at=now + timedelta(seconds=retry_in))
        with transaction(self.factory) as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id, OutboxMessage.state == "sending")
                .values(**values)
            )
        if retry_in is not None:
            item.not_before = time.monotonic() + retry_in
            with self._lock:
                # At the head of its chat's lane it holds back later messages of that chat
                # until then; once handed back, its due_at does the same in the store.
                self._lanes.setdefault(item.lane, []).insert(0, item)

    def _forget_idle_lanes(self) -> None:
        """Pacing entries of chats idle for a while (lock held); 30,000 chats add up."""
        if len(self._ready_at) < 5_000:
            return
        now = time.monotonic()
        self._ready_at = {
            lane: at for lane, at in self._ready_at.items() if at > now or lane in self._lanes
        }


def _waits_for_quiet(item: _Item) -> bool:
    m = item.message
    return bool(m.respect_quiet_hours) and m.priority > outbox.PRIORITY_REPLY
