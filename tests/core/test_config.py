from pathlib import Path

import pytest

from core.config import ConfigError, from_mapping, load, redact

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid_and_documents_every_key() -> None:
    config = load(ROOT / "config.example.toml", environ={})
    text = (ROOT / "config.example.toml").read_text()
    for section, values in config.redacted().items():
        assert f"[{section}]" in text
        for key in values:
            assert f"\n{key} = " in text, f"{section}.{key} is not in config.example.toml"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"web": {"port": 70000}}, "web.port = 70000: expected a number from 1 to 65535"),
        ({"web": {"port": "eighty"}}, "web.port = 'eighty': expected a whole number"),
        (
            {"clinic": {"timezone": "Moscow"}},
            "clinic.timezone = 'Moscow': expected an IANA time zone",
        ),
        (
            {"messaging": {"quiet_hours_start": "9pm"}},
            "messaging.quiet_hours_start = '9pm': expected a time",
        ),
        ({"mis": {"profile": "medods"}}, "mis.profile = 'medods': expected one of 'demo'"),
        ({"mis": {"profile": "ident"}}, "mis.dsn = '': expected a connection string"),
        ({"mis": {"dns": "x"}}, "mis.dns: unknown key in (test); did you mean mis.dsn?"),
        ({"telgram": {}}, "[telgram]: unknown section in (test)"),
        (
            {"telegram": {"mode": "webhook"}},
            "telegram.webhook_url = '': expected a public https://",
        ),
    ],
)
def test_wrong_values_name_key_value_and_expectation(raw: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_mapping(raw, source="(test)", environ={})
    assert fragment in str(err.value)


def test_environment_overrides_port_and_secrets() -> None:
    config = from_mapping(
        {"web": {"port": 8080}},
        environ={
            "KABINET_PORT": "9191",
            "KABINET_TELEGRAM_TOKEN": "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        },
    )
    assert config.web.port == 9191
    assert config.telegram.token.startswith("123456:")
    assert config.redacted()["telegram"]["token"] == "***"


def test_bad_environment_value_is_reported_like_a_file_value() -> None:
    with pytest.raises(ConfigError, match="web.port = 'x': expected a whole number"):
        from_mapping({}, environ={"KABINET_PORT": "x"})


def test_secret_values_are_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as err:
        from_mapping({"mis": {"password": 5}}, environ={})
    assert "expected text" in str(err.value)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[web\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(broken)


def test_redact_masks_credentials_everywhere() -> None:
    line = (
        "connect failed: DRIVER={ODBC};SERVER=db;UID=ro;PWD=s3cret; "
        "mysql://ro:hunter2@db/od token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    )
    out = redact(line)
    assert "s3cret" not in out and "hunter2" not in out and "AAHdq" not in out
    assert "PWD=***" in out
