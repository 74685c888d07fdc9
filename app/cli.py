"""The `kabinet` command, built on Flask's CLI.

Every command reads the configuration named by --config or $KABINET_CONFIG, validated
once; a bad value stops the command with the key, the value and what was expected.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from core import __version__
from core.config import Config, ConfigError, load


def _create_app() -> Any:
    from app import create_app

    return create_app(_config())


def _config() -> Config:
    try:
        return load(os.environ.get("KABINET_CONFIG") or None)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _set_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        os.environ["KABINET_CONFIG"] = str(Path(value).resolve())


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
@click.option(
    "--config",
    "-c",
    metavar="PATH",
    expose_value=False,
    is_eager=True,
    callback=_set_config,
    help="Configuration file (default: $KABINET_CONFIG).",
)
@click.version_option(__version__, prog_name="kabinet")
def cli() -> None:
    """Kabinet: the clinic's patient bot, loyalty programme and admin panel."""


def main() -> None:
    cli(prog_name="kabinet")


def _appliance_config() -> Config:
    return current_app.config["KABINET"]


# --- config ---------------------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Check and show the configuration."""


@config_group.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def config_check(path: str | None) -> None:
    """Validate a configuration file (default: the one in use)."""
    target = path or os.environ.get("KABINET_CONFIG")
    try:
        config = load(target)
    except ConfigError as exc:
        click.echo(f"✗ {exc}", err=True)
        sys.exit(1)
    click.echo(f"✓ {config.source}: configuration is valid (MIS profile {config.mis.profile!r})")


@config_group.command("show")
def config_show() -> None:
    """Print the effective configuration, secrets masked."""
    click.echo(json.dumps(_config().redacted(), ensure_ascii=False, indent=2, default=str))


# --- database -------------------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """The local store."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply schema migrations (safe to run at every start)."""
    from app.extensions import db
    from core.migrate import UnsupportedUpgrade, upgrade

    config = _appliance_config()
    try:
        before, after = upgrade(db.engine, Path(config.storage.data_dir, "migrate.lock"))
    except UnsupportedUpgrade as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"schema: {before or 'empty'} -> {after}")


# --- users ----------------------------------------------------------------------------------


@cli.group("user")
def user_group() -> None:
    """Panel accounts."""


# Who the audit log names for a change made with this command: not a panel account (the
# first owner is made here, before there is any), but the appliance's command line.
CLI_ACTOR_LOGIN = "kabinet (командная строка)"


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        return "?"


def _audited(session: Any, action: str, summary: str, change: Any) -> Any:
    """Run `change(session)` and log the rows it flushed as one audit entry, in the same
    transaction: the panel's audit hook logs only requests of a logged-in staff member,
    and an account made or changed here is as much a change of who may do what."""
    from sqlalchemy import event

    from core.access import audit

    changes: list[dict] = []

    def collect(flushed: Any, context: Any) -> None:
        changes.extend(audit.changes_of(flushed.new, flushed.dirty, flushed.deleted))

    event.listen(session, "after_flush", collect)
    try:
        result = change(session)
        session.flush()
    finally:
        event.remove(session, "after_flush", collect)
    audit.write(
        session,
        audit.Actor(None, CLI_ACTOR_LOGIN),
        action,
        changes,
        f"{summary} (пользователь системы: {_os_user()})",
    )
    return result


@user_group.command("add")
@click.argument("login")
@click.option(
    "--role",
    type=click.Choice(["owner", "manager", "admin"]),
    default="admin",
    show_default=True,
    help="What the account may do: app/permissions.py.",
)
@click.option("--name", "full_name", default="", help="Full name shown in the panel.")
@click.option("--password", default=None, help="Omit to generate one.")
@with_appcontext
def user_add(login: str, role: str, full_name: str, password: str | None) -> None:
    """Create a panel account and print its password."""
    from app.extensions import db
    from core.staff import create_user

    try:
        # The panel's action name ("Сотрудники → Добавить"), so one filter finds both.
        user, secret = _audited(
            db.session(),
            "staff.add",
            f"kabinet user add {login.strip().lower()} --role {role}",  # never the password
            lambda s: create_user(s, login, role, password, full_name),
        )
        db.session.commit()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.login!r}; password: {secret}")


# --- MIS and sync ---------------------------------------------------------------------------


@cli.group("mis")
def mis_group() -> None:
    """The clinic's MIS database (read-only)."""


def _mis_in_force(config: Config) -> Config:
    """The configuration with the MIS connection the runner uses: the one checked and kept
    on «Настройки → Подключение к МИС», if any, else the file's. A store that does not
    exist yet is not created here (a check before the first start reads the file's)."""
    from core.db import make_engine, session_factory
    from core.settings.store import mis_in_force

    if (
        not config.storage.database_url
        and not Path(config.storage.url[len("sqlite:///") :]).exists()
    ):
        return config
    engine = make_engine(config.storage.url)
    try:
        return mis_in_force(session_factory(engine), config)
    finally:
        engine.dispose()


@mis_group.command("check")
@click.option(
    "--file",
    "file_only",
    is_flag=True,
    help="Check the configuration file's connection even when the panel keeps another one.",
)
def mis_check(file_only: bool) -> None:
    """Connect and run every query of the profile with a small limit."""
    from core.settings.mis_check import steps

    config = _config()
    in_force = config if file_only else _mis_in_force(config)
    if in_force.mis != config.mis:
        click.echo(
            "checking the MIS connection kept in the panel («Настройки → Подключение к МИС»), "
            "which the runner uses; --file checks the configuration file's"
        )
    report = steps(in_force)  # the same steps as «Проверить» in the panel
    for line in report.lines:
        click.echo(line, err=line.startswith("✗"))
    sys.exit(0 if report.ok else 1)


@mis_group.command("dump")
@click.argument("entity")
@click.option(
    "--since",
    default=None,
    help="Read after this cursor: a number (rowversion, id), or a date-time for timestamp "
    "and window queries (default: the beginning, or the usual window).",
)
@click.option("--limit", default=100, show_default=True)
def mis_dump(entity: str, since: str | None, limit: int) -> None:
    """Print canonical records of ENTITY as JSON lines."""
    from connectors.base import ConnectorError
    from connectors.registry import open_connector

    try:
        connector = open_connector(_mis_in_force(_config()))
    except ConnectorError as exc:
        raise click.ClickException(f"{exc.kind}: {exc}") from None
    if entity not in connector.entities():
        raise click.ClickException(
            f"entity {entity!r}: expected one of {', '.join(connector.entities())}"
        )
    try:
        records = connector.sample(entity, since, limit)
    except ConnectorError as exc:
        raise click.ClickException(f"{exc.kind}: {exc}") from None
    finally:
        connector.close()
    for record in records:
        click.echo(
            json.dumps(
                {"record": type(record).__name__.removesuffix("Record").lower(), **asdict(record)},
                ensure_ascii=False,
                default=str,
            )
        )


@cli.command("sync")
@click.option("--once", is_flag=True, required=True, help="Read changes once and exit.")
def sync_once(once: bool) -> None:
    """Read MIS changes once, apply the rules, print what changed."""
    from datetime import timedelta

    from app.storage import prepare_storage
    from connectors.base import ConnectorError
    from connectors.registry import open_connector
    from connectors.sync import SyncEngine
    from core.db import make_engine, session_factory
    from core.rules import Rules
    from core.visits.no_show_sweep import NoShowSweep

    config = _config()
    prepare_storage(config)
    engine = make_engine(config.storage.url)
    factory = session_factory(engine)
    try:
        connector = open_connector(_mis_in_force(config))  # the runner's own connection
    except ConnectorError as exc:
        engine.dispose()
        raise click.ClickException(f"MIS profile ({exc.kind}): {exc}") from None
    try:
        report = SyncEngine(connector, factory).run_once()
        no_shows = NoShowSweep(factory, grace=timedelta(minutes=config.mis.no_show_grace_minutes))
        report.events.extend(no_shows.run(live="appointment" in report.live))
        handled = Rules(config).process_pending(factory)
    except ConnectorError as exc:
        raise click.ClickException(f"MIS read failed ({exc.kind}): {exc}") from None
    finally:
        connector.close()
        engine.dispose()
    click.echo(report.summary())
    shown = 50
    for kind, subject in report.events[:shown]:
        click.echo(f"  {kind} {subject}")
    if len(report.events) > shown:
        click.echo(f"  ... and {len(report.events) - shown} more")
    click.echo(f"events handled: {handled}")


# --- ledger ---------------------------------------------------------------------------------


@cli.group("ledger")
def ledger_group() -> None:
    """The loyalty ledger."""


@ledger_group.command("verify")
@with_appcontext
def ledger_verify() -> None:
    """Recompute every balance, debt and lot remainder from the entries; report differences."""
    from app.extensions import db
    from core.ledger import verify

    problems = verify(db.session())
    for problem in problems:
        click.echo(f"✗ {problem}")
    if problems:
        sys.exit(1)
    click.echo("✓ every balance equals the sum of its entries; debts and lots agree too")


# --- documents ------------------------------------------------------------------------------


@cli.group("documents")
def documents_group() -> None:
    """Documents signed in the bot: the evidence chain and signed copies."""


@documents_group.command("verify")
@click.argument("path", required=False, type=click.Path(dir_okay=False, exists=True))
@with_appcontext
def documents_verify(path: str | None) -> None:
    """Without FILE: check the evidence chain of every signature. With FILE: say whether
    it is exactly a signed copy, by whom and when — or changed."""
    from sqlalchemy import inspect

    from app.extensions import db
    from core.documents import evidence, verify

    if not inspect(db.engine).has_table("document_signatures"):
        raise click.ClickException("the store has no documents yet: run `kabinet db upgrade`")
    if path is None:
        problems = evidence.verify_chain(db.session())
        for problem in problems:
            click.echo(f"✗ {problem}")
        if problems:
            sys.exit(1)
        click.echo("✓ every signature record is as it was signed; none is missing")
        return
    verdict = verify.check_file(db.session(), _appliance_config(), Path(path).read_bytes())
    for line in verdict.lines:
        click.echo(line)
    sys.exit(0 if verdict.ok else 1)


# --- backups --------------------------------------------------------------------------------


@cli.command("backup")
@click.option("--to", "target", default=None, help="Directory (default: <data_dir>/backups).")
def backup(target: str | None) -> None:
    """Back up the store, the configuration and the secret key; print the file's path."""
    from core.backup import BackupError
    from core.backup import backup as make

    try:
        result = make(_config(), Path(target) if target else None)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    if result.copied_to is not None:
        click.echo(f"copied to {result.copied_to}", err=True)
    if result.copy_error:
        click.echo(f"warning: {result.copy_error}", err=True)
    click.echo(str(result.path))  # the last line: installer/update.sh reads it


@cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--stop-runner",
    is_flag=True,
    help="If Kabinet is running, stop it first (otherwise the restore is refused).",
)
@click.option("--with-config", is_flag=True, help="Also put back the backup's configuration file.")
@click.option("--check", is_flag=True, help="Only check the backup is whole; change nothing.")
def restore(path: str, yes: bool, stop_runner: bool, with_config: bool, check: bool) -> None:
    """Replace the store (and secret key) with a backup, keeping a copy of the current one."""
    from core.backup import BackupError
    from core.restore import verify
    from jobs.restore import RunnerRunning, restore_safely

    config = _config()
    try:
        if check:
            manifest = verify(config, Path(path))
            click.echo(
                f"✓ {path}: whole (Kabinet {manifest.get('kabinet_version', '?')}, schema "
                f"{manifest.get('schema')}, taken {manifest.get('created_at', '?')})"
            )
            return
        if not yes:
            click.confirm("This replaces the current data. Continue?", abort=True)
        report, stopped = restore_safely(
            config,
            Path(path),
            stop_runner=stop_runner,
            with_config=with_config,
            say=lambda line: click.echo(line, err=True),
        )
    except (BackupError, RunnerRunning) as exc:
        raise click.ClickException(str(exc)) from None
    if report.safety_copy is not None:
        click.echo(f"the data it replaced is kept in {report.safety_copy}")
    if report.config_differs:
        click.echo(
            "note: the backup's configuration differs from the one in use; --with-config "
            "puts it back"
        )
    click.echo(f"restored {path} ({', '.join(report.restored)})")
    if stopped:
        click.echo("Kabinet was stopped for this: start it again (systemctl start kabinet)")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="The same report as /healthz, as JSON.")
def status(as_json: bool) -> None:
    """Say in plain words whether this installation works (as /healthz does); exit 1 if not."""
    from core.clock import utcnow
    from core.config import redact
    from core.db import make_engine, session_factory
    from core.healthcheck import report

    config = _config()
    engine = make_engine(config.storage.url)
    try:
        with session_factory(engine)() as session:
            current = report(session, config, utcnow())
    except Exception as exc:  # a store that does not open is the answer, not a crash
        where = redact(config.storage.url, config)
        raise click.ClickException(
            f"the store cannot be read ({where}): {redact(str(exc), config)}"
        ) from None
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(current.as_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(f"Kabinet {__version__} for {config.clinic.name or 'this clinic'}:")
        for check in current.checks:
            mark = {True: "✓", False: "✗", None: "–"}[check.ok]
            click.echo(f"  {mark} {check.name:<9} {check.summary}")
        click.echo("All is well." if current.ok else "Something needs attention (✗ above).")
    sys.exit(0 if current.ok else 1)


# --- releases -------------------------------------------------------------------------------


@cli.command("update")
@click.argument("bundle", type=click.Path(dir_okay=False))
def update(bundle: str) -> None:
    """Update to a signed release bundle (checked first); rolls back by itself on failure."""
    from core.release.bundle import BundleError
    from core.release.deploy import UpdateRefused
    from core.release.deploy import update as run_update

    try:
        code = run_update(Path(bundle))
    except (BundleError, UpdateRefused) as exc:
        raise click.ClickException(f"{exc}; nothing was changed") from None
    sys.exit(code)


@cli.command("rollback")
def rollback() -> None:
    """Go back to the release before the last update (restoring its data if the schema moved)."""
    from core.release.deploy import UpdateRefused
    from core.release.deploy import rollback as run_rollback

    try:
        sys.exit(run_rollback())
    except UpdateRefused as exc:
        raise click.ClickException(str(exc)) from None


@cli.group("release")
def release_group() -> None:
    """Release bundles."""


@release_group.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False))
def release_verify(bundle: str) -> None:
    """Check a bundle's signature (with this release's vendor keys) and checksums."""
    from core.release.bundle import BundleError, verify

    try:
        manifest = verify(Path(bundle))
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"✓ {bundle}: Kabinet {manifest.version} for Python {manifest.python} "
        f"({manifest.platform}), updates from {manifest.upgrades_from}; signature and "
        f"{len(manifest.files)} checksums verified"
    )


# --- running --------------------------------------------------------------------------------


@cli.command("run")
@click.option("--port", type=int, default=None, help="Override web.port (also $KABINET_PORT).")
def run(port: int | None) -> None:
    """Serve the panel and run the bot and the jobs (one runner per installation)."""
    from app.serve import serve

    config = _config()
    if port is not None:
        config = config.replace(web={"port": port})
    serve(config)


@cli.command("demo")
@click.option(
    "--port", type=int, default=None, help="Panel port (default 8080 or $KABINET_PORT; 0: any)."
)
@click.option(
    "--emulator-port",
    type=int,
    default=None,
    help="Telegram emulator port (default 8081; 0: any free port); the MAX emulator takes the next one (any free with 0).",
)
@click.option("--data-dir", default="var/demo", show_default=True)
def demo(port: int | None, emulator_port: int | None, data_dir: str) -> None:
    """Run Kabinet on the embedded demo clinic with the Telegram and MAX emulators."""
    from sandbox.demo import run_demo

    run_demo(Path(data_dir), port=port, emulator_port=emulator_port)


@cli.group("sandbox")
def sandbox_group() -> None:
    """The Telegram Bot API emulator and the demo clinic, standalone."""


@sandbox_group.command(
    "telegram", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.pass_context
def sandbox_telegram(ctx: click.Context) -> None:
    """Run the Telegram Bot API emulator (see --help of the emulator)."""
    from sandbox.telegram.cli import main as emulator_main

    emulator_main(ctx.args)


if __name__ == "__main__":
    main()
