"""[max]: off by default, a token required when on, the token redacted, the runner's MAX
poller only when enabled."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, redact
from jobs.table import JOBS
from tests.conftest import make_config


def test_max_is_off_by_default_and_needs_a_token(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert config.max.enabled is False
    spec = next(s for s in JOBS if s.id == "max_updates")
    assert spec.thread and not spec.enabled(config)
    with pytest.raises(ConfigError, match="max.token = '': expected the bot's token"):
        make_config(tmp_path, max={"enabled": True})
    on = make_config(tmp_path, max={"enabled": True, "token": "secret-max-token-1"})
    assert spec.enabled(on)
    assert "secret-max-token-1" not in redact("GET /me failed: secret-max-token-1", on)


def test_bad_max_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max.api_url"):
        make_config(tmp_path, max={"api_url": "platform-api2.max.ru"})
    with pytest.raises(ConfigError, match="max.per_second"):
        make_config(tmp_path, max={"per_second": 500})
