"""Typed configuration, loaded once at start.

The file is TOML (see config.example.toml). Every section is a frozen dataclass; a wrong
value stops start-up with a `ConfigError` that names the key, the value and what was
expected, because an appliance that starts half-configured fails later, at a patient.
Secrets may come from environment variables so they need not sit in the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """A configuration problem a person can fix; the message says which key and how."""


# Environment variables that override a key. Secrets belong here rather than in a file
# that ends up in backups and support tickets.
ENV_OVERRIDES: dict[str, str] = {
    "KABINET_PORT": "web.port",
    "KABINET_HOST": "web.host",
    "KABINET_SECRET_KEY": "web.secret_key",
    "KABINET_DATA_DIR": "storage.data_dir",
    "KABINET_DATABASE_URL": "storage.database_url",
    "KABINET_TELEGRAM_TOKEN": "telegram.token",
    "KABINET_TELEGRAM_API_URL": "telegram.api_url",
    "KABINET_MAX_TOKEN": "max.token",
    "KABINET_MAX_WEBHOOK_SECRET": "max.webhook_secret",
    "KABINET_MIS_DSN": "mis.dsn",
    "KABINET_MIS_PASSWORD": "mis.password",
    "KABINET_MIS_WRITE_DSN": "mis.write_dsn",
    "KABINET_SMS_API_ID": "messaging.sms_api_id",
    "KABINET_LOG_FORMAT": "logging.format",
}

SECRET_KEYS = {
    "web.secret_key",
    "telegram.token",
    "max.token",
    "max.webhook_secret",
    "mis.dsn",
    "mis.password",
    "mis.write_dsn",
    "messaging.sms_api_id",
    "documents.key_password",
}

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


# --- validators: each returns None when fine, else the "expected ..." phrase ---------------


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "one of " + ", ".join(repr(c) for c in choices)

    return check


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"a number from {low:g} to {high:g}"

    return check


def _timezone(value: Any) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "an IANA time zone such as 'Europe/Moscow' or 'Asia/Yekaterinburg'"
    return None


def _optional_timezone(value: Any) -> str | None:
    return None if value == "" else _timezone(value)


def _clock(value: Any) -> str | None:
    return None if _HHMM.match(value) else "a time of day as 'HH:MM', e.g. '21:00'"


def _region(value: Any) -> str | None:
    return None if re.fullmatch(r"[A-Z]{2}", value) else "a two-letter country code, e.g. 'RU'"


def parse_branches(text: str) -> dict[str, str]:
    """'1 = ул. Ленина, 5; 2 = пр. Мира, 10' -> {"1": "ул. Ленина, 5", "2": "пр. Мира, 10"}."""
    found: dict[str, str] = {}
    for part in text.split(";"):
        branch, sep, address = part.partition("=")
        if not part.strip():
            continue
        if not sep or not branch.strip() or not address.strip():
            raise ValueError(f"{part.strip()!r} is not '<branch id> = <address>'")
        found[branch.strip()] = address.strip()
    return found


def _branches(value: Any) -> str | None:
    try:
        parse_branches(value)
    except ValueError as exc:
        return f"'<branch id> = <address>; ...' ({exc})"
    return None


def _bot_username(value: Any) -> str | None:
    ok = value == "" or re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", value)
    return None if ok else "a Telegram bot username without '@', e.g. 'clinic_smile_bot'"


def _url_or_empty(value: Any) -> str | None:
    ok = value == "" or re.match(r"^https?://", value)
    return None if ok else "an http:// or https:// address, or empty"


def _readable_file_or_empty(value: Any) -> str | None:
    if value == "" or Path(value).is_file():
        return None
    return "the path of an existing file, or empty"


def _check(validator: Callable[[Any], str | None]) -> dict[str, Any]:
    return {"check": validator}


# --- sections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicConfig:
    name: str = "Клиника"
    timezone: str = field(default="Europe/Moscow", metadata=_check(_timezone))
    phone_region: str = field(default="RU", metadata=_check(_region))
    phone: str = ""
    address: str = ""
    language: str = field(default="ru", metadata=_check(_one_of("ru", "en")))
    # Each branch's address, by the MIS's branch id: "1 = ул. Ленина, 5; 2 = пр. Мира, 10".
    # «Мои визиты» shows it with a map link; a branch not listed gets `address`.
    branches: str = field(default="", metadata=_check(_branches))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def branch_address(self, branch_id: str) -> str:
        return parse_branches(self.branches).get(str(branch_id), "") or self.address


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_check(_between(1, 65535)))
    workers: int = field(default=1, metadata=_check(_between(1, 16)))
    threads: int = field(default=4, metadata=_check(_between(1, 32)))
    secret_key: str = ""
    public_url: str = field(default="", metadata=_check(_url_or_empty))
    # Panel sessions end after this many idle minutes, and this many hours after login.
    session_idle_minutes: int = field(default=30, metadata=_check(_between(5, 1440)))
    session_max_hours: int = field(default=12, metadata=_check(_between(1, 720)))
    # Failed logins within `login_lockout_minutes` that lock an account, and an address.
    login_attempts: int = field(default=5, metadata=_check(_between(3, 100)))
    login_attempts_per_address: int = field(default=20, metadata=_check(_between(3, 1000)))
    login_lockout_minutes: int = field(default=15, metadata=_check(_between(1, 1440)))
    # Reverse proxies in front of the panel whose X-Forwarded-For/-Proto to believe.
    proxies: int = field(default=0, metadata=_check(_between(0, 5)))

    @property
    def https(self) -> bool:
        """Served over HTTPS (the public address says so): cookies are then `Secure`."""
        return self.public_url.lower().startswith("https://")


@dataclass(frozen=True)
class StorageConfig:
    data_dir: str = "/var/lib/kabinet"
    database_url: str = ""
    # Retention (core.backup.prune): every backup of the last `backup_keep` days, then the
    # newest of each week for `backup_keep_weeks` weeks; the newest one is never deleted.
    backup_keep: int = field(default=14, metadata=_check(_between(1, 365)))
    backup_keep_weeks: int = field(default=8, metadata=_check(_between(0, 520)))
    # A second directory (another disk, a mounted share) that gets a copy of each backup.
    backup_copy_dir: str = ""

    @property
    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir, 'kabinet.sqlite3')}"


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""
    bot_username: str = field(default="", metadata=_check(_bot_username))
    api_url: str = field(default="", metadata=_check(_url_or_empty))
    staff_chat_id: int = 0
    mode: str = field(default="polling", metadata=_check(_one_of("polling", "webhook", "off")))
    webhook_url: str = field(default="", metadata=_check(_url_or_empty))
    webhook_secret: str = ""


@dataclass(frozen=True)
class MaxConfig:
    """MAX (by VK) as a second messenger: its Bot API, long polling (jobs/max_poller.py)."""

    enabled: bool = False
    token: str = ""
    # The bot's public name, for deep links https://max.ru/<bot_name>?start=<payload>.
    bot_name: str = field(default="", metadata=_check(_bot_username))
    # Empty: MAX itself (bot_handlers/channels/max.API_URL); the sandbox emulator's address
    # in the demo and the tests.
    api_url: str = field(default="", metadata=_check(_url_or_empty))
    # Overall sends per second to MAX. Its limits are not in the schema (third parties cite
    # 30 requests/s); a 429 slows this down further whatever the figure.
    per_second: float = field(default=20.0, metadata=_check(_between(0.1, 30)))
    # "polling" (GET /updates; works behind NAT, "not for production" in MAX's words) or
    # "webhook": at start the runner subscribes webhook_url (POST /subscriptions), which
    # must be public HTTPS forwarded to the panel's /max/webhook; MAX sends webhook_secret
    # in the X-Max-Bot-Api-Secret header and anything without it is refused.
    mode: str = field(default="polling", metadata=_check(_one_of("polling", "webhook")))
    webhook_url: str = field(default="", metadata=_check(_url_or_empty))
    webhook_secret: str = ""
    # Campaigns and holiday / birthday greetings in MAX: off until the clinic has checked
    # MAX's current platform rules on mailings (README: MAX). Service messages (reminders,
    # replies, notices) go to MAX whatever this says.
    mailings: bool = False


@dataclass(frozen=True)
class MisConfig:
    profile: str = field(
        default="demo", metadata=_check(_one_of("demo", "ident", "infodent", "opendental"))
    )
    dsn: str = ""
    password: str = ""
    timezone: str = field(default="", metadata=_check(_optional_timezone))
    poll_seconds: int = field(default=15, metadata=_check(_between(2, 3600)))
    query_timeout_seconds: int = field(default=10, metadata=_check(_between(1, 600)))
    # A TOML file of [entity.NAME] tables replacing keys of the profile's queries.
    profile_overrides: str = field(default="", metadata=_check(_readable_file_or_empty))
    # After a failed read, wait poll_seconds, then twice that, ... up to this long.
    retry_max_seconds: int = field(default=600, metadata=_check(_between(10, 86400)))
    # A scheduled visit whose end passed this long ago with no arrival is a no-show.
    no_show_grace_minutes: int = field(default=60, metadata=_check(_between(0, 1440)))
    # Write a patient's Confirm back to the MIS (where the profile has a column for it),
    # over write_dsn: an account allowed to update that one column. Off by default.
    write_back_confirmations: bool = False
    write_dsn: str = ""


_HOLIDAY_DATE = re.compile(r"^(\d{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def _holidays(value: Any) -> str | None:
    shape = "a list of {date = 'MM-DD' or 'YYYY-MM-DD', text = '...'} tables"
    for entry in value:
        if not isinstance(entry, Mapping) or set(entry) - {"date", "text"}:
            return shape
        if not _HOLIDAY_DATE.match(str(entry.get("date", ""))):
            return f"{shape}; {entry.get('date')!r} is not such a date"
        if not str(entry.get("text", "")).strip():
            return f"{shape}; the text for {entry.get('date')!r} is empty"
    return None


_STEP = re.compile(r"^([1-9]\d?)([dh])$")


def _reminder_sequence(value: Any) -> str | None:
    """["3d", "1d", "2h"]: days (1-14, sent at reminder_send_at) or hours (1-72) before."""
    for step in value:
        found = _STEP.match(str(step))
        if not found:
            return f'steps like "3d" or "2h", not {step!r}'
        n, unit = int(found[1]), found[2]
        if (unit == "d" and n > 14) or (unit == "h" and n > 72):
            return f"at most 14d or 72h, not {step!r}"
    if len(set(value)) != len(value):
        return "each step once"
    return None


# Review platforms a clinic may list (core/ratings/review_links.py); "other" takes a name
# of the clinic's own (it may be empty: the button then says only «Оставить отзыв»).
REVIEW_PLATFORMS = ("yandex", "2gis", "prodoctorov", "google", "other")
REVIEW_LINKS_MAX = 8
HTTPS_ADDRESS = re.compile(r"^https://[^\s/?#]+\.[^\s]*$")


def _review_links(value: Any) -> str | None:
    shape = (
        "a list of {platform = '" + "' | '".join(REVIEW_PLATFORMS) + "', url = 'https://...'"
        "[, name = '...' for 'other']} tables, at most " + str(REVIEW_LINKS_MAX)
    )
    if len(value) > REVIEW_LINKS_MAX:
        return shape
    seen: set[tuple[str, str]] = set()
    for entry in value:
        if not isinstance(entry, Mapping) or set(entry) - {"platform", "url", "name"}:
            return shape
        platform, url = entry.get("platform"), entry.get("url")
        name = entry.get("name", "")
        if platform not in REVIEW_PLATFORMS:
            return f"{shape}; {platform!r} is not a platform"
        if not isinstance(url, str) or len(url) > 1000 or not HTTPS_ADDRESS.match(url):
            return f"{shape}; {url!r} is not an https:// address"
        if not isinstance(name, str) or len(name) > 40 or (name and platform != "other"):
            return f"{shape}; the name (up to 40 characters) is for 'other' only"
        if (platform, name.strip()) in seen:
            return f"{shape}; {platform!r} {name!r} is listed twice"
        seen.add((platform, name.strip()))
    return None


def _offer(value: Any) -> str | None:
    if len(value) > 8 or any(not str(v).strip() or len(str(v)) > 30 for v in value):
        return 'up to 8 short labels, e.g. ["Чай", "Кофе", "Вода"], or []'
    return None


@dataclass(frozen=True)
class MessagingConfig:
    quiet_hours_start: str = field(default="21:00", metadata=_check(_clock))
    quiet_hours_end: str = field(default="09:00", metadata=_check(_clock))
    reminder_send_at: str = field(default="12:00", metadata=_check(_clock))
    reminder_days_before: int = field(default=1, metadata=_check(_between(1, 14)))
    # Several reminders, e.g. ["3d", "1d", "2h"] (core/reminders.py); empty: the one above.
    reminder_sequence: tuple[str, ...] = field(default=(), metadata=_check(_reminder_sequence))
    # When the MIS marks a patient arrived: a welcome, offering these (a choice becomes a
    # task for the front desk); an empty offer sends the welcome alone.
    arrival_welcome_enabled: bool = True
    arrival_offer: tuple[str, ...] = field(default=("Чай", "Кофе", "Вода"), metadata=_check(_offer))
    # Telegram counts 30/s over a sliding second; evenly spaced sends at 29.4/s leave each
    # request ~20 ms of jitter before two land in one window (see docs/performance.md).
    global_per_second: float = field(default=29.4, metadata=_check(_between(0.1, 1000)))
    per_chat_per_second: float = field(default=1.0, metadata=_check(_between(0.01, 30)))
    group_per_minute: int = field(default=20, metadata=_check(_between(1, 60)))
    max_attempts: int = field(default=8, metadata=_check(_between(1, 100)))
    # Concurrent requests: at ~100 ms per call, one connection manages ~10 msg/s.
    send_workers: int = field(default=8, metadata=_check(_between(1, 64)))
    # Sent and settled messages (and handled Telegram updates) are kept this many days.
    keep_days: int = field(default=90, metadata=_check(_between(7, 3650)))
    # An open task nobody took within this many minutes is announced to the staff group
    # once more (0 = never).
    task_escalate_minutes: int = field(default=15, metadata=_check(_between(0, 10_080)))
    rating_enabled: bool = True
    rating_delay_minutes: int = field(default=120, metadata=_check(_between(0, 10_080)))
    # The scale patients rate on: "1-5", "1-10" or "smileys" (five faces, 😞 = 1 … 😄 = 5).
    rating_scale: str = field(default="1-5", metadata=_check(_one_of("1-5", "1-10", "smileys")))
    # A score at or below this opens a service-recovery task for the staff (1-5, smileys) ...
    rating_low_score: int = field(default=3, metadata=_check(_between(1, 4)))
    # ... and on the 1-10 scale.
    rating_low_score_10: int = field(default=6, metadata=_check(_between(1, 9)))
    # One review link (the older form, kept working): used when review_links is empty.
    review_url: str = field(default="", metadata=_check(_url_or_empty))
    # Several platforms, e.g. [{platform = "yandex", url = "https://..."}, ...], and which of
    # them a rating request offers: "all" (a button each), "rotate" (one, the least offered
    # so far, ties by list order) or "first" (core/ratings/review_links.py).
    review_links: tuple[dict[str, str], ...] = field(default=(), metadata=_check(_review_links))
    review_policy: str = field(default="all", metadata=_check(_one_of("all", "rotate", "first")))
    review_every_days: int = field(default=180, metadata=_check(_between(0, 3650)))
    # After a no-show, one message offering to book again, this many minutes after the
    # no-show is noticed (the staff's task opens at once) - unless the MIS shows the visit
    # arrived, completed or cancelled by then (core/visits/no_show.py).
    no_show_message_enabled: bool = True
    no_show_message_delay_minutes: int = field(default=60, metadata=_check(_between(0, 1440)))
    birthday_enabled: bool = True
    birthday_send_at: str = field(default="10:00", metadata=_check(_clock))
    holiday_send_at: str = field(default="10:00", metadata=_check(_clock))
    holidays: tuple[dict[str, str], ...] = field(default=(), metadata=_check(_holidays))
    sms_enabled: bool = False
    sms_provider: str = field(default="smsru", metadata=_check(_one_of("smsru")))
    sms_api_url: str = field(default="https://sms.ru", metadata=_check(_url_or_empty))
    sms_api_id: str = ""
    sms_sender: str = ""
    sms_per_second: float = field(default=5.0, metadata=_check(_between(0.1, 100)))

    @property
    def quiet_start(self) -> time:
        return _hhmm(self.quiet_hours_start)

    @property
    def quiet_end(self) -> time:
        return _hhmm(self.quiet_hours_end)

    @property
    def reminder_time(self) -> time:
        return _hhmm(self.reminder_send_at)

    @property
    def birthday_time(self) -> time:
        return _hhmm(self.birthday_send_at)

    @property
    def holiday_time(self) -> time:
        return _hhmm(self.holiday_send_at)


@dataclass(frozen=True)
class CashbackRule:
    """A cashback percentage for payments of one service, doctor or branch."""

    kind: str  # service | doctor | branch
    match: str
    percent: float


@dataclass(frozen=True)
class Tier:
    """Reached by spending `min_spend_rub` over 12 months; adds `bonus_percent` points."""

    name: str
    min_spend_rub: int
    bonus_percent: float


def parse_cashback_rules(text: str) -> list[CashbackRule]:
    """'service:Имплант=3; doctor:17=7; branch:2=4' -> rules, in order (first match wins)."""
    rules = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        head, sep, percent = part.rpartition("=")
        kind, colon, match = head.partition(":")
        kind, match = kind.strip(), match.strip()
        if not sep or not colon or kind not in ("service", "doctor", "branch") or not match:
            raise ValueError(f"{part!r} is not 'service|doctor|branch:<what>=<percent>'")
        try:
            value = float(percent.replace(",", "."))
        except ValueError:
            raise ValueError(f"{part!r}: {percent.strip()!r} is not a number") from None
        if not 0 <= value <= 100:
            raise ValueError(f"{part!r}: the percentage must be from 0 to 100")
        rules.append(CashbackRule(kind, match, value))
    return rules


def parse_tiers(text: str) -> list[Tier]:
    """'Серебро:50000:1; Золото:150000:2' -> tiers by rising spend."""
    tiers = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        bits = [b.strip() for b in part.split(":")]
        if len(bits) != 3 or not bits[0]:
            raise ValueError(f"{part!r} is not '<name>:<spend in roubles>:<extra percent>'")
        try:
            spend, bonus = int(bits[1]), float(bits[2].replace(",", "."))
        except ValueError:
            raise ValueError(f"{part!r}: spend must be whole roubles, extra a number") from None
        if spend <= 0 or not 0 <= bonus <= 100:
            raise ValueError(f"{part!r}: spend must be positive and the extra 0-100")
        tiers.append(Tier(bits[0], spend, bonus))
    if len({t.name for t in tiers}) != len(tiers) or len({t.min_spend_rub for t in tiers}) != len(
        tiers
    ):
        raise ValueError("tier names and spend thresholds must all differ")
    return sorted(tiers, key=lambda t: t.min_spend_rub)


def _parsed_by(parser: Callable[[str], Any], shape: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        try:
            parser(value)
        except ValueError as exc:
            return f"{shape} ({exc})"
        return None

    return check


_POINTS = _between(0, 1_000_000)


@dataclass(frozen=True)
class LoyaltyConfig:
    enabled: bool = True
    cashback_percent: float = field(default=5.0, metadata=_check(_between(0, 100)))
    cashback_rules: str = field(
        default="",
        metadata=_check(
            _parsed_by(parse_cashback_rules, "rules like 'service:Имплант=3; doctor:17=7'")
        ),
    )
    tiers: str = field(
        default="",
        metadata=_check(_parsed_by(parse_tiers, "tiers like 'Серебро:50000:1; Золото:150000:2'")),
    )
    tier_hold_days: int = field(default=365, metadata=_check(_between(0, 3650)))
    welcome_bonus: int = field(default=0, metadata=_check(_POINTS))
    referrer_points: int = field(default=2000, metadata=_check(_POINTS))
    referred_points: int = field(default=500, metadata=_check(_POINTS))
    staff_connect_points: int = field(default=100, metadata=_check(_POINTS))
    birthday_bonus: int = field(default=300, metadata=_check(_POINTS))
    birthday_expiry_days: int = field(default=30, metadata=_check(_between(0, 3650)))
    review_bonus: int = field(default=0, metadata=_check(_POINTS))
    social_bonus: int = field(default=0, metadata=_check(_POINTS))
    # Patients may send a screenshot of their review or post in the bot (issue 11 part 7);
    # staff approve it in the thread. Off by default, like the bonuses themselves.
    bonus_screenshots: bool = False
    member_cap_per_month: int = field(default=0, metadata=_check(_between(0, 100_000_000)))
    global_cap_per_month: int = field(default=0, metadata=_check(_between(0, 1_000_000_000)))
    point_value_rub: float = field(default=1.0, metadata=_check(_between(0.01, 1000)))
    max_bill_share_percent: float = field(default=30.0, metadata=_check(_between(0, 100)))
    expiry_days: int = field(default=365, metadata=_check(_between(0, 3650)))
    expiry_reminder_days: int = field(default=14, metadata=_check(_between(0, 365)))
    balance_notice_threshold: int = field(default=1000, metadata=_check(_POINTS))
    previous_discount_percent: float = field(default=5.0, metadata=_check(_between(0, 100)))

    @property
    def cashback_rule_list(self) -> list[CashbackRule]:
        return parse_cashback_rules(self.cashback_rules)

    @property
    def tier_list(self) -> list[Tier]:
        return parse_tiers(self.tiers)


def _weekdays(value: Any) -> str | None:
    days = [d.strip() for d in value.split(",")] if isinstance(value, str) else []
    if days and all(d in ("1", "2", "3", "4", "5", "6", "7") for d in days):
        return None
    return "weekday numbers separated by commas, 1 = Monday ... 7 = Sunday, e.g. '1,2,3,4,5'"


def _parse_kind_minutes(value: str) -> dict[str, int]:
    pairs = [p.strip() for p in value.split(",") if p.strip()]
    result = {}
    for pair in pairs:
        kind, _, minutes = pair.partition("=")
        result[kind.strip()] = int(minutes.strip())
    return result


def _kind_minutes(value: object) -> str | None:
    try:
        parsed = _parse_kind_minutes(str(value))
    except ValueError:
        parsed = None
    if parsed is not None and all(k and 0 <= m <= 10_080 for k, m in parsed.items()):
        return None
    return "kind=minutes pairs separated by commas, e.g. 'message=15, reschedule=30'"


def _quick_replies(value: Any) -> str | None:
    """A few short texts: what a click puts into the reply box."""
    if len(value) > 30:
        return "at most 30 quick replies"
    for text in value:
        if not isinstance(text, str) or not text.strip():
            return "each quick reply is a non-empty text"
        if len(text) > 4096:
            return f"a quick reply is at most 4,096 characters, not {len(text)}"
    return None


@dataclass(frozen=True)
class ConversationsConfig:
    """The chat with the clinic (core/conversations/)."""

    # When someone at the clinic reads the chat (clinic time); a patient who writes outside
    # these hours is told when to expect an answer.
    working_hours_start: str = field(default="09:00", metadata=_check(_clock))
    working_hours_end: str = field(default="20:00", metadata=_check(_clock))
    working_days: str = field(default="1,2,3,4,5,6", metadata=_check(_weekdays))
    # Files patients send are kept in <data_dir>/files up to this size; Telegram lets a bot
    # download at most 20 MB.
    max_file_mb: int = field(default=20, metadata=_check(_between(1, 20)))
    # An episode's staff-group post is edited at most this often (seconds) as the thread
    # grows; for a sender who is not a linked patient, at most every `flood_edit_seconds`.
    # Edits of all posts together also stay under messaging.group_per_minute.
    group_edit_seconds: int = field(default=10, metadata=_check(_between(0, 3600)))
    flood_edit_seconds: int = field(default=60, metadata=_check(_between(0, 3600)))
    # Minutes an untaken episode waits, counted in working hours, before the manager is
    # alerted, per kind: "message=15, reschedule=30"; kinds not named use
    # messaging.task_escalate_minutes; 0 switches a kind off.
    escalate_minutes: str = field(default="", metadata=_check(_kind_minutes))
    # Answers the clinic gives often, one click away in a task's reply box (the staff
    # member can still edit one before sending it).
    quick_replies: tuple[str, ...] = field(
        default=(
            "Здравствуйте! Сейчас посмотрю и отвечу.",
            "Спасибо, передали врачу. Ответим здесь, в этом чате.",
            "Ждём вас! Если планы изменятся, напишите, пожалуйста.",
        ),
        metadata=_check(_quick_replies),
    )

    @property
    def escalate_after(self) -> dict[str, int]:
        return _parse_kind_minutes(self.escalate_minutes)

    @property
    def opens(self) -> time:
        return _hhmm(self.working_hours_start)

    @property
    def closes(self) -> time:
        return _hhmm(self.working_hours_end)

    @property
    def days(self) -> frozenset[int]:
        return frozenset(int(d) for d in self.working_days.split(","))


@dataclass(frozen=True)
class DocumentsConfig:
    """Documents signed in the bot with a simple electronic signature (core/documents/)."""

    enabled: bool = True
    # Days a document sent to sign waits for the patient; then the request expires.
    request_days: int = field(default=7, metadata=_check(_between(1, 90)))
    # Without SMS the one-time code can be shown in the bot's own message, to type back:
    # it proves only that the linked chat answered, not the phone (README says so).
    code_in_chat: bool = False
    # The clinic's certificate and key (PEM) for the PAdES signature on signed copies;
    # empty: a self-signed one generated under <data_dir>/documents/ at first use.
    certificate_file: str = field(default="", metadata=_check(_readable_file_or_empty))
    key_file: str = field(default="", metadata=_check(_readable_file_or_empty))
    key_password: str = ""


@dataclass(frozen=True)
class DemoConfig:
    patients: int = field(default=400, metadata=_check(_between(10, 100_000)))
    speed: float = field(default=60.0, metadata=_check(_between(0, 100_000)))
    emulator_port: int = field(default=8081, metadata=_check(_between(0, 65535)))
    seed: int = 42


@dataclass(frozen=True)
class LoggingConfig:
    # "text": a line per record (time level logger: message), as always; "json": one JSON
    # object per line (time in UTC, level, logger, message, the record's extra fields) for
    # a log collector. Either way phone numbers, search terms and secrets are masked
    # (core/logs.py); the access log follows it too.
    format: str = field(default="text", metadata=_check(_one_of("text", "json")))


@dataclass(frozen=True)
class Config:
    clinic: ClinicConfig = field(default_factory=ClinicConfig)
    web: WebConfig = field(default_factory=WebConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    max: MaxConfig = field(default_factory=MaxConfig)
    mis: MisConfig = field(default_factory=MisConfig)
    messaging: MessagingConfig = field(default_factory=MessagingConfig)
    loyalty: LoyaltyConfig = field(default_factory=LoyaltyConfig)
    conversations: ConversationsConfig = field(default_factory=ConversationsConfig)
    documents: DocumentsConfig = field(default_factory=DocumentsConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = "(defaults)"

    @property
    def mis_tz(self) -> ZoneInfo:
        return ZoneInfo(self.mis.timezone or self.clinic.timezone)

    def replace(self, **sections: Any) -> Config:
        """A copy with some keys changed, e.g. ``cfg.replace(web={"port": 0})``."""
        raw = {name: dataclasses.asdict(getattr(self, name)) for name in _section_names()}
        for name, changes in sections.items():
            raw.setdefault(name, {}).update(changes)
        return from_mapping(raw, source=self.source, environ={})

    def redacted(self) -> dict[str, dict[str, Any]]:
        """The configuration as a dict with every secret masked, safe to log or show."""
        out: dict[str, dict[str, Any]] = {}
        for name in _section_names():
            section = dataclasses.asdict(getattr(self, name))
            for key, value in section.items():
                if f"{name}.{key}" in SECRET_KEYS and value:
                    section[key] = "***"
            out[name] = section
        return out


def _section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config) if f.name != "source"]


def _section_types() -> dict[str, type]:
    hints = get_type_hints(Config)
    return {name: hints[name] for name in _section_names()}


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Accept what TOML and environment variables produce; refuse anything else loudly."""
    expected = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif annotation is str and isinstance(value, str):
        return value
    elif get_origin(annotation) is tuple and isinstance(value, list | tuple):
        # TOML arrays (of tables): kept as a tuple of plain dicts, checked by the key's own
        # validator.
        return tuple(dict(v) if isinstance(v, Mapping) else v for v in value)
    raise ConfigError(f"{key} = {value!r}: expected {expected.get(annotation, annotation)}")


def from_mapping(
    raw: Mapping[str, Any], *, source: str = "(mapping)", environ: Mapping[str, str] | None = None
) -> Config:
    """Build and validate a Config from parsed TOML plus environment overrides."""
    environ = os.environ if environ is None else environ
    section_types = _section_types()
    merged: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if name not in section_types:
            hint = difflib.get_close_matches(name, section_types, n=1)
            did_you_mean = f"; did you mean [{hint[0]}]?" if hint else ""
            raise ConfigError(
                f"[{name}]: unknown section in {source}; expected one of "
                + ", ".join(f"[{s}]" for s in section_types)
                + did_you_mean
            )
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} = {value!r}: expected a [{name}] table")
        merged[name] = dict(value)
    for env_name, dotted in ENV_OVERRIDES.items():
        if environ.get(env_name, "") != "":
            section, key = dotted.split(".")
            merged.setdefault(section, {})[key] = environ[env_name]

    sections: dict[str, Any] = {}
    for name, cls in section_types.items():
        values = merged.get(name, {})
        hints = get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            dotted = f"{name}.{key}"
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                did_you_mean = f"; did you mean {name}.{hint[0]}?" if hint else ""
                raise ConfigError(f"{dotted}: unknown key in {source}{did_you_mean}")
            coerced = _coerce(dotted, value, hints[key])
            check = known[key].metadata.get("check")
            problem = check(coerced) if check else None
            if problem:
                shown = "***" if dotted in SECRET_KEYS else repr(value)
                raise ConfigError(f"{dotted} = {shown}: expected {problem}")
            kwargs[key] = coerced
        sections[name] = cls(**kwargs)
    config = Config(**sections, source=source)
    _cross_checks(config)
    return config


def _cross_checks(config: Config) -> None:
    if config.telegram.mode == "webhook":
        url = config.telegram.webhook_url
        # Telegram itself posts to https only; plain http is for a local sandbox, where
        # telegram.api_url points at the emulator.
        sandbox = bool(config.telegram.api_url) and url.startswith("http://")
        if not (url.startswith("https://") or sandbox):
            raise ConfigError(
                f"telegram.webhook_url = {url!r}: expected a public "
                "https:// address when telegram.mode = 'webhook'"
            )
        if len(config.telegram.webhook_secret) < 16:
            raise ConfigError(
                "telegram.webhook_secret: expected at least 16 characters when "
                "telegram.mode = 'webhook' (Telegram echoes it so forged updates are refused)"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", config.telegram.webhook_secret):
            raise ConfigError(
                "telegram.webhook_secret = ***: expected only letters A-Z a-z, digits, '_' "
                "and '-' (Telegram's rule for secret_token)"
            )
    if config.max.enabled and not config.max.token:
        raise ConfigError(
            "max.token = '': expected the bot's token from business.max.ru when "
            "max.enabled = true (or set KABINET_MAX_TOKEN)"
        )
    if config.max.enabled and config.max.mode == "webhook":
        url = config.max.webhook_url
        # MAX posts to HTTPS only (no plain HTTP or self-signed certificates since 25 May
        # 2026); plain http is for a local sandbox, where max.api_url is the emulator.
        sandbox = bool(config.max.api_url) and url.startswith("http://")
        if not (url.startswith("https://") or sandbox):
            raise ConfigError(
                f"max.webhook_url = {url!r}: expected a public https:// address "
                "when max.mode = 'webhook'"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", config.max.webhook_secret):
            raise ConfigError(
                "max.webhook_secret = ***: expected 16-256 characters, only letters A-Z a-z, "
                "digits, '_' and '-', when max.mode = 'webhook' (MAX echoes it in "
                "X-Max-Bot-Api-Secret so forged updates are refused)"
            )
    if config.messaging.sms_enabled and not config.messaging.sms_api_id:
        raise ConfigError(
            "messaging.sms_api_id = '': expected the SMS gateway's API key when "
            "messaging.sms_enabled = true (or set KABINET_SMS_API_ID)"
        )
    if config.mis.profile != "demo" and not config.mis.dsn:
        raise ConfigError(
            f"mis.dsn = '': expected a connection string for profile {config.mis.profile!r} "
            "(or set KABINET_MIS_DSN)"
        )
    _check_write_back(config)


def _check_write_back(config: Config) -> None:
    """mis.write_back_confirmations needs a write DSN other than the read one, and a profile
    (with its overrides) that names a column to write."""
    mis = config.mis
    if not mis.write_back_confirmations:
        return
    if not mis.write_dsn.strip():
        raise ConfigError(
            "mis.write_dsn = '': expected the connection string of an account allowed to "
            "update the confirmation column, when mis.write_back_confirmations = true "
            "(or set KABINET_MIS_WRITE_DSN)"
        )
    if mis.dsn and mis.write_dsn.strip() == mis.dsn.strip() and mis.profile != "demo":
        raise ConfigError(
            "mis.write_dsn: expected another account than mis.dsn's, which stays read-only"
        )
    # Imported here: connectors import this module.
    from connectors.base import ConnectorError
    from connectors.profiles import load_profile

    try:
        profile = load_profile(mis.profile, mis.profile_overrides or None)
    except ConnectorError as exc:
        raise ConfigError(str(exc)) from None
    if profile.confirm is None:
        raise ConfigError(
            f"mis.write_back_confirmations = true: the {mis.profile!r} profile has no column "
            "to write a confirmation to (README: «Confirm»); add a [confirm] "
            "table in mis.profile_overrides, or set it to false"
        )


def load(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the file at ``path`` (or only defaults and environment when None)."""
    if path is None:
        return from_mapping({}, source="(defaults)", environ=environ)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the configuration file ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return from_mapping(raw, source=str(p), environ=environ)


def redact(text: str, config: Config | None = None, extra: tuple[str, ...] = ()) -> str:
    """Mask credentials in a log line or error: passwords in DSNs and the known secrets."""
    text = re.sub(r"(?i)((?:password|pwd|passwd)\s*=\s*)([^;,\s]+)", r"\1***", text)
    text = re.sub(r"(://[^:/@\s]+:)([^@\s]+)(@)", r"\1***\3", text)
    text = re.sub(r"\b\d{6,12}:[A-Za-z0-9_-]{20,}\b", "***bot-token***", text)
    secrets: list[str] = list(extra)
    if config is not None:
        secrets += [
            config.telegram.token,
            config.max.token,
            config.mis.password,
            config.web.secret_key,
        ]
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
