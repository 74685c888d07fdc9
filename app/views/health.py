"""/healthz and /metrics: for the update check, Docker's HEALTHCHECK and monitoring.

Both answer without a login and show no personal data: states, ages and counts.
/healthz is 503 unless every check of core.healthcheck passes (the runner's heartbeat,
the MIS, Telegram, the outbox, the backups, the store); /metrics gives the same numbers
in Prometheus' text format.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from app.extensions import db
from app.permissions import public
from core import __version__
from core.clock import utcnow
from core.healthcheck import Report, report

bp = Blueprint("health", __name__)


def _report() -> Report:
    return report(db.session(), current_app.config["KABINET"], utcnow())


@bp.route("/healthz")
@public
def healthz() -> Any:
    try:
        current = _report()
    except Exception as exc:  # the answer must say what is wrong, not crash
        current_app.logger.warning("healthz: %s", exc)
        return {"status": "error", "version": __version__, "error": "database unavailable"}, 503
    return current.as_dict(), 200 if current.ok else 503


# One gauge per number a monitor alerts on: (metric, help, check, detail key).
GAUGES = (
    (
        "kabinet_runner_heartbeat_age_seconds",
        "Seconds since the runner's last heartbeat",
        "runner",
        "heartbeat_age_seconds",
    ),
    (
        "kabinet_mis_last_read_age_seconds",
        "Seconds since the last successful MIS read",
        "mis",
        "last_read_age_seconds",
    ),
    (
        "kabinet_telegram_poll_lag_seconds",
        "Seconds since Telegram last answered the long poll",
        "telegram",
        "poll_lag_seconds",
    ),
    (
        "kabinet_telegram_updates_waiting",
        "Telegram updates stored and not yet handled",
        "telegram",
        "updates_waiting",
    ),
    ("kabinet_outbox_due_messages", "Messages due and not yet sent", "outbox", "due"),
    (
        "kabinet_outbox_oldest_due_age_seconds",
        "Seconds since the oldest unsent message was due",
        "outbox",
        "oldest_due_age_seconds",
    ),
    ("kabinet_backup_age_seconds", "Seconds since the newest backup", "backup", "age_seconds"),
)


class _ReportCollector(Collector):
    def __init__(self, current: Report | None) -> None:
        self.current = current

    def collect(self) -> Any:
        info = InfoMetricFamily("kabinet", "The running release")
        info.add_metric([], {"version": __version__})
        yield info
        up = GaugeMetricFamily("kabinet_healthy", "1 if /healthz passes, else 0")
        up.add_metric([], 1.0 if self.current is not None and self.current.ok else 0.0)
        yield up
        if self.current is None:
            return
        check = GaugeMetricFamily(
            "kabinet_check_ok", "Per check: 1 ok, 0 bad, -1 not applicable", labels=["check"]
        )
        for c in self.current.checks:
            check.add_metric([c.name], -1.0 if c.ok is None else float(c.ok))
        yield check
        for name, doc, source, key in GAUGES:
            value = self.current.by_name(source).details.get(key)
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=float(value))


@bp.route("/metrics")
@public
def metrics() -> Response:
    try:
        current: Report | None = _report()
    except Exception as exc:  # kabinet_healthy 0 says it; a scrape error would say less
        current_app.logger.warning("metrics: %s", exc)
        current = None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportCollector(current))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
