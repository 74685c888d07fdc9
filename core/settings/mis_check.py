"""«Проверить» on «Настройки → Подключение к МИС»: the checks of `kabinet mis check` on the
profile and DSN typed in the panel, before they are kept.

`steps` is the check itself, and `kabinet mis check` prints its lines (app/cli.py): open
the profile's connector, connect, read each entity's query with a small limit, explain what
failed in the words of connectors/diagnose.py, then what the data says about phone_region
and the time zones. A line that says what failed starts with «✗».
The whole check runs under a deadline in a worker thread, so a server that does not
answer cannot hold the panel's request. Every line of the report is passed through
core.config.redact with the configured password, so no credential reaches the page or
the log. The headline says in Russian whether the connection works and, if not, why.
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass, field

from connectors.base import ConnectorError
from connectors.diagnose import check_data, explain, explain_connect
from connectors.registry import open_connector
from core.config import Config, ConfigError, redact

log = logging.getLogger(__name__)

# The panel waits at most this long for the whole check (connect + every query); a
# query's own limit is mis.query_timeout_seconds.
CHECK_SECONDS = 30
SAMPLE_ROWS = 5  # as `kabinet mis check`

_WHY = {
    "unreachable": "сервер базы МИС недоступен — проверьте адрес (DSN), что сервер "
    "запущен и что сетевой экран пропускает этот сервер",
    "permission": "база МИС не приняла учётную запись — проверьте логин в DSN и пароль "
    "(mis.password в файле конфигурации)",
    "timeout": "база МИС не ответила вовремя",
    "config": "профиль или DSN не подходят",
}


@dataclass
class MisReport:
    ok: bool
    headline: str  # in Russian, for the owner
    lines: list[str] = field(default_factory=list)  # the command's report, for clinic IT


def _why(error: ConnectorError) -> str:
    return _WHY.get(error.kind, "подключение не удалось")


def steps(config: Config) -> MisReport:
    """The whole check, without a deadline (the command waits; the panel uses `run`)."""
    secrets = (config.mis.password,)

    def clean(text: str) -> str:
        return redact(text, extra=tuple(s for s in secrets if s))

    try:
        connector = open_connector(config)
    except ConnectorError as exc:
        return MisReport(
            False,
            f"Профиль МИС нельзя использовать: {_why(exc)}.",
            [clean(f"✗ the MIS profile cannot be used: {exc}")],
        )
    try:
        try:
            connector.test_connection()
        except ConnectorError as exc:
            return MisReport(
                False,
                f"Подключиться не удалось: {_why(exc)}.",
                [clean(explain_connect(exc, connector.profile))],
            )
        lines = [
            clean(
                f"connected: {connector.profile.description} ({connector.dialect}), "
                f"profile {connector.profile_name!r}"
            )
        ]
        failed = []
        for entity in connector.entities():
            query = connector.profile.entities[entity]
            try:
                records = connector.sample(entity, None, limit=SAMPLE_ROWS)
                lines.append(f"✓ {entity}: OK ({len(records)} rows read, {query.strategy} cursor)")
            except ConnectorError as exc:
                failed.append(entity)
                timeout = config.mis.query_timeout_seconds
                lines.append(clean(explain(entity, exc, connector.profile, query_timeout=timeout)))
        lines += [clean(line) for line in check_data(connector, config)]
    finally:
        connector.close()
    if failed:
        return MisReport(
            False,
            f"Подключение есть, но не читаются: {', '.join(failed)} — подробности ниже "
            "(для ИТ клиники).",
            lines,
        )
    return MisReport(True, "Подключение работает: все запросы профиля выполнены.", lines)


def run(config: Config, *, seconds: float = CHECK_SECONDS, who: str = "") -> MisReport:
    """The check on `config`'s [mis] section, within `seconds`."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mis-check")
    try:
        report = pool.submit(steps, config).result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        report = MisReport(
            False,
            f"Проверка не закончилась за {seconds:g} с: база МИС не отвечает или отвечает "
            "слишком медленно.",
        )
    except (ConfigError, OSError, ValueError) as exc:
        report = MisReport(False, "Проверка не удалась.", [redact(str(exc), config)])
    finally:
        pool.shutdown(wait=False)  # a hung connect is left to its own timeout
    log.info(
        "MIS check from the panel%s: profile %s, %s; %s",
        f" by {who}" if who else "",
        config.mis.profile,
        "ok" if report.ok else "failed",
        " | ".join(report.lines) or report.headline,
    )
    return report
