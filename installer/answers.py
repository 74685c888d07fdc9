"""The installer's questions: asked on the terminal or read from an answers file, each
answer checked before the configuration is written.

Standard library only: install.sh runs it with a plain Python before any release is
built (`check`, `port`), then with the new release's Python (`configure`), which hands
the MIS answers to that release's own `kabinet mis check` and `kabinet config check`.

    answers.py check     --answers FILE                      the file alone (fast refusal)
    answers.py port      [--answers FILE] [--config FILE]    "host port" the panel will use
    answers.py port-free HOST PORT                           exit 5 if something listens
    answers.py configure --example EX --config OUT --kabinet BIN --owner-out FILE
                         [--answers FILE | --ask] [--profiles a,b]
    answers.py secret-key PATH                               a new key, never replacing one

Exit codes (install.sh passes them on): 2 the answers file cannot be read, 5 port in use,
6 an answer is refused, 7 the MIS check failed, 1 anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import getpass
import json
import os
import re
import socket
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from answers_config import render, secret_key, write_private

UNREADABLE, PORT_IN_USE, REFUSED, MIS_FAILED = 2, 5, 6, 7

# Answer name -> (config section, key, default). Defaults are config.example.toml's
# where it has one; TIMEZONE's default is the machine's zone (see default_timezone).
KEYS: dict[str, tuple[str, str, str]] = {
    "CLINIC_NAME": ("clinic", "name", "Стоматология «Улыбка»"),
    "TIMEZONE": ("clinic", "timezone", ""),
    "MIS_PROFILE": ("mis", "profile", "demo"),
    "MIS_DSN": ("mis", "dsn", ""),
    "MIS_PASSWORD": ("mis", "password", ""),
    "TELEGRAM_TOKEN": ("telegram", "token", ""),
    "TELEGRAM_API_URL": ("telegram", "api_url", ""),
    "WEB_HOST": ("web", "host", "127.0.0.1"),
    "WEB_PORT": ("web", "port", "8080"),
    "DATABASE_URL": ("storage", "database_url", ""),
}
# Answers that are not config keys.
EXTRA = {"TELEGRAM_CHECK": "no", "OWNER_LOGIN": "owner"}
SECRET = {"MIS_PASSWORD", "TELEGRAM_TOKEN"}
# BotFather's tokens: the bot's numeric id, a colon, ~35 characters of secret.
TOKEN_RE = re.compile(r"\d{5,12}:[A-Za-z0-9_-]{30,64}")
YES, NO = {"yes", "y", "true", "1", "да", "д"}, {"no", "n", "false", "0", "нет", "н", ""}


class Refused(Exception):
    """An answer that cannot be used; the message says which and why."""

    def __init__(self, message: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ the file --


def read_answers(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (shell-like: # comments, optional quotes), or TOML when the file
    ends in .toml (the same names as top-level keys, any case). Unknown names are refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"cannot read the answers file {path}: {exc}", UNREADABLE) from None
    raw: dict[str, str] = {}
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise Refused(f"{path} is not valid TOML: {exc}", UNREADABLE) from None
        for key, value in data.items():
            if isinstance(value, dict | list):
                raise Refused(f"{path}: {key} must be a plain value, not a table or list")
            raw[key.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    else:
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, eq, value = line.partition("=")
            if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
                raise Refused(f"{path}, line {number}: expected KEY=VALUE, got {line!r}")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]  # single quotes: taken literally, as in the shell
            elif len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r'\\(["\\$`])', r"\1", value[1:-1])
            raw[name.strip().upper()] = value
    known = [*KEYS, *EXTRA]
    for name in raw:
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            maybe = f"; did you mean {hint[0]}?" if hint else ""
            raise Refused(f"{path}: unknown answer {name}{maybe} (known: {', '.join(known)})")
    return raw


# ------------------------------------------------------------ one answer each --


def default_timezone() -> str:
    """The machine's zone ($TZ, /etc/timezone, /etc/localtime), else Europe/Moscow."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    with contextlib.suppress(OSError):
        candidates.append(os.readlink("/etc/localtime").split("zoneinfo/", 1)[-1])
    zones = zoneinfo.available_timezones()
    # A server kept on UTC says nothing about where the clinic is.
    utc = {"UTC", "GMT", "Universal", "Zulu", "UCT", "Greenwich"}
    local = (c for c in candidates if c in zones and c not in utc and not c.startswith("Etc/"))
    return next(local, "Europe/Moscow")


def check_timezone(value: str) -> str:
    zones = zoneinfo.available_timezones()
    if value in zones:
        return value
    # "Moscow" or "europe/moscow": suggest by the city as well as by the whole name.
    by_city = {z.rsplit("/", 1)[-1].lower(): z for z in zones}
    hint = by_city.get(value.lower().rsplit("/", 1)[-1]) or next(
        iter(difflib.get_close_matches(value, zones, n=1)), None
    )
    maybe = f"; did you mean {hint}?" if hint else ""
    raise Refused(f"TIMEZONE = {value!r}: not an IANA time zone (like Europe/Moscow){maybe}")


def check_value(name: str, value: str, profiles: list[str]) -> str:
    """The answer as it goes into the config, or Refused saying what was expected."""
    value = value.strip()
    if name == "CLINIC_NAME" and not value:
        raise Refused("CLINIC_NAME: the clinic's name must not be empty")
    if name == "TIMEZONE":
        return check_timezone(value)
    known = not profiles or value in profiles
    if name == "MIS_PROFILE" and not (re.fullmatch(r"[a-z][a-z0-9_]*", value) and known):
        expected = ", ".join(profiles) if profiles else "a profile name such as ident"
        raise Refused(f"MIS_PROFILE = {value!r}: expected one of {expected}")
    if name == "TELEGRAM_TOKEN" and value and not TOKEN_RE.fullmatch(value):
        raise Refused(
            "TELEGRAM_TOKEN: does not look like a token from @BotFather "
            "(digits, a colon, then about 35 letters, digits, '-' or '_')"
        )
    if name == "TELEGRAM_API_URL" and value and not re.match(r"https?://", value):
        raise Refused(f"TELEGRAM_API_URL = {value!r}: expected an http(s):// address")
    if name == "DATABASE_URL" and value:
        if not re.match(r"(postgresql(\+psycopg2)?|sqlite)://", value):
            raise Refused(
                "DATABASE_URL: expected empty (SQLite, recommended) or postgresql://user@host/db"
            )
        # The driver every release carries; SQLAlchemy's default for postgresql:// is not it.
        value = re.sub(r"^postgresql://", "postgresql+psycopg2://", value)
    if name == "WEB_PORT" and not (value.isdigit() and 1 <= int(value) <= 65535):
        raise Refused(f"WEB_PORT = {value!r}: expected a port number 1-65535")
    if name == "TELEGRAM_CHECK" and value.lower() not in YES | NO:
        raise Refused(f"TELEGRAM_CHECK = {value!r}: expected yes or no")
    if name == "OWNER_LOGIN" and not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", value):
        raise Refused(
            f"OWNER_LOGIN = {value!r}: expected 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    return value.lower() if name in {"OWNER_LOGIN", "TELEGRAM_CHECK"} else value


def bot_username(token: str, api_url: str) -> str:
    """Telegram's getMe for the token: the bot's username, or Refused saying why not."""
    url = f"{(api_url or 'https://api.telegram.org').rstrip('/')}/bot{token}/getMe"
    try:
        with urllib.request.urlopen(url, timeout=15) as reply:
            answer = json.load(reply)
    except urllib.error.HTTPError as exc:
        raise Refused(
            f"TELEGRAM_TOKEN: Telegram refused it ({exc.code} {exc.reason}); copy it again "
            "from @BotFather"
        ) from None
    except (OSError, ValueError) as exc:
        where = api_url or "api.telegram.org"
        raise Refused(
            f"TELEGRAM_TOKEN: cannot ask {where} about it ({exc}); with no internet on this "
            "server answer TELEGRAM_CHECK=no"
        ) from None
    return str(answer.get("result", {}).get("username", ""))


# -------------------------------------------------------------- the questions --


@dataclass
class Questions:
    """Each answer from the file (a bad one refused) or from the terminal (asked again)."""

    given: dict[str, str] | None  # None: ask on standard input
    profiles: list[str] = field(default_factory=list)

    @property
    def asking(self) -> bool:
        return self.given is None

    def default(self, name: str) -> str:
        if name == "TIMEZONE":
            return default_timezone()
        if name == "TELEGRAM_CHECK":  # an offline server is common; asking, suggest yes
            return "yes" if self.asking else "no"
        return KEYS[name][2] if name in KEYS else EXTRA[name]

    def get(self, name: str, prompt: str, default: str | None = None) -> str:
        default = self.default(name) if default is None else default
        if self.given is not None:
            return check_value(name, self.given.get(name, default), self.profiles)
        while True:
            if name in SECRET:
                shown = " [empty: none]" if not default else " [keep the one typed before]"
                reply = getpass.getpass(f"{prompt}{shown}: ")
            else:
                print(f"{prompt} [{default}]: ", end="", flush=True)
                reply = sys.stdin.readline()
                if not reply:
                    raise Refused(f"{name}: standard input ended before it was answered")
            try:
                return check_value(name, reply.strip() or default, self.profiles)
            except Refused as exc:
                print(f"  ✗ {exc}", flush=True)

    def refuse_or_retry(self, problem: Refused) -> None:
        """From a file: stop. On a terminal: say why, and the caller asks again."""
        if not self.asking:
            raise problem
        print(f"  ✗ {problem}\n  Let us try again.", flush=True)


def checked_env() -> dict[str, str]:
    # The check is of the answers: an exported KABINET_MIS_DSN would be tested instead.
    drop = {"KABINET_CONFIG", "KABINET_MIS_DSN", "KABINET_MIS_PASSWORD", "KABINET_TELEGRAM_TOKEN"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run_check(kabinet: str, *args: str) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            [kabinet, *args], env=checked_env(), capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{kabinet} {' '.join(args)}: {exc}"
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def configure(args: argparse.Namespace) -> int:
    given = read_answers(Path(args.answers)) if args.answers else None
    if given is None and not args.ask:
        raise Refused("no answers file and not asked to ask (--answers FILE or --ask)", 2)
    q = Questions(given, [p for p in args.profiles.split(",") if p])
    example = Path(args.example).read_text(encoding="utf-8")
    out = Path(args.config)
    candidate = out.with_name(f".{out.name}.candidate")
    values: dict[tuple[str, str], str | int] = {}

    def put(name: str, value: str | int) -> None:
        section, key, _ = KEYS[name]
        values[(section, key)] = value

    if q.asking:
        print("Kabinet needs a few answers; Enter takes the one in [brackets].", flush=True)
    put("CLINIC_NAME", q.get("CLINIC_NAME", "Clinic name, as patients see it"))
    put("TIMEZONE", q.get("TIMEZONE", "Clinic time zone (IANA name)"))
    # From the file only: install.sh checked the port; the store is SQLite unless told.
    for name in ("WEB_HOST", "WEB_PORT", "DATABASE_URL"):
        if given is not None and name in given:
            value = q.get(name, name)
            put(name, int(value) if name == "WEB_PORT" else value)
    try:
        profile, dsn, password = "", "", ""
        while True:
            profile = q.get("MIS_PROFILE", "MIS profile", profile or None)
            dsn = q.get("MIS_DSN", "MIS connection string (DSN) of the read-only account", dsn)
            if not dsn:
                q.refuse_or_retry(Refused("MIS_DSN: empty; Kabinet cannot work without its MIS"))
                continue
            if profile != "demo" or not q.asking:
                password = q.get("MIS_PASSWORD", "MIS account's password", password)
            put("MIS_PROFILE", profile)
            put("MIS_DSN", dsn)
            put("MIS_PASSWORD", password)
            # mis check loads the whole candidate first: a bad value is named there too.
            write_private(candidate, render(example, values))
            print(f"checking the MIS ({profile}) with `kabinet mis check`…", flush=True)
            ok, said = run_check(args.kabinet, "--config", str(candidate), "mis", "check")
            if ok:
                print(indent(said), flush=True)
                break
            q.refuse_or_retry(
                Refused(f"the MIS check failed; nothing was saved:\n{indent(said)}", MIS_FAILED)
            )
        username = ""
        while True:
            token = q.get("TELEGRAM_TOKEN", "Telegram bot token from @BotFather")
            api_url = q.get("TELEGRAM_API_URL", "Telegram Bot API address") if not q.asking else ""
            if token and q.get("TELEGRAM_CHECK", "Check the token with Telegram now?") in YES:
                try:
                    username = bot_username(token, api_url)
                    print(f"  ✓ the token is bot @{username}", flush=True)
                except Refused as exc:
                    q.refuse_or_retry(exc)
                    continue
            break
        put("TELEGRAM_TOKEN", token)
        put("TELEGRAM_API_URL", api_url)
        values[("telegram", "bot_username")] = username
        values[("telegram", "mode")] = "polling" if token else "off"
        owner = q.get("OWNER_LOGIN", "Login of the first owner of the panel")
        text = render(example, values)
        write_private(candidate, text)
        ok, said = run_check(args.kabinet, "config", "check", str(candidate))
        if not ok:
            raise Refused(f"the configuration is refused:\n{indent(said)}")
        os.replace(candidate, out)
    finally:
        candidate.unlink(missing_ok=True)
    Path(args.owner_out).write_text(f"owner={owner}\nbot={'on' if token else 'off'}\n")
    print(f"configuration written to {out} (mode 0600)", flush=True)
    return 0


# ---------------------------------------------------------- the small ones --


def listen_address(args: argparse.Namespace) -> tuple[str, int]:
    """Where the panel will listen: $KABINET_HOST/PORT, the answers, the existing config."""
    web: dict[str, object] = {}
    if args.config and Path(args.config).is_file():
        try:
            web = tomllib.loads(Path(args.config).read_text(encoding="utf-8")).get("web", {})
        except (OSError, tomllib.TOMLDecodeError):
            web = {}
    given = read_answers(Path(args.answers)) if args.answers else {}
    host = os.environ.get("KABINET_HOST") or given.get("WEB_HOST") or web.get("host")
    port = os.environ.get("KABINET_PORT") or given.get("WEB_PORT") or web.get("port")
    port = check_value("WEB_PORT", str(port or KEYS["WEB_PORT"][2]), [])
    return str(host or KEYS["WEB_HOST"][2]), int(port)


def port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: only a listener makes the bind fail, not connections in TIME_WAIT.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise Refused(
                f"port {port} on {host} is in use ({exc.strerror}): another program listens "
                f"there (see: ss -ltnp 'sport = :{port}'); stop it, or give the panel another "
                "port: WEB_PORT=<port> in an answers file (install.sh --answers FILE)",
                PORT_IN_USE,
            ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check")
    check.add_argument("--answers", required=True)
    check.add_argument("--profiles", default="")
    port = sub.add_parser("port")
    port.add_argument("--answers", default="")
    port.add_argument("--config", default="")
    free = sub.add_parser("port-free")
    free.add_argument("host")
    free.add_argument("port", type=int)
    conf = sub.add_parser("configure")
    for name in ("--example", "--config", "--kabinet", "--owner-out"):
        conf.add_argument(name, required=True)
    conf.add_argument("--answers", default="")
    conf.add_argument("--ask", action="store_true")
    conf.add_argument("--profiles", default="")
    key = sub.add_parser("secret-key")
    key.add_argument("path")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            given = read_answers(Path(args.answers))
            q = Questions(given, [p for p in args.profiles.split(",") if p])
            for name in [*KEYS, *EXTRA]:
                q.get(name, name)
            if not given.get("MIS_DSN"):
                raise Refused("MIS_DSN: missing; Kabinet cannot work without its MIS")
            if Path(args.answers).stat().st_mode & 0o077:
                print(f"warning: {args.answers} holds secrets and others may read it", flush=True)
        elif args.command == "port":
            print(*listen_address(args))
        elif args.command == "port-free":
            port_free(args.host, args.port)
        elif args.command == "configure":
            return configure(args)
        elif args.command == "secret-key":
            print(secret_key(Path(args.path)))
    except Refused as exc:
        print(f"kabinet: error: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        print("\nkabinet: interrupted; nothing was saved", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
