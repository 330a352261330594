"""The `onboard` command line: serve, socket, manifest, db, audit and demo.

Every failure a user can cause ends in one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from typer.core import TyperGroup

from onboard.bot import memory, playbook_files, visits
from onboard.bot.audit_cli import audit_cli
from onboard.bot.cli_errors import fail as _fail
from onboard.bot.cli_errors import one_line, require_existing_database
from onboard.bot.erasure import client_cli
from onboard.bot.intake_cli import intake_cli
from onboard.bot.playbook_cli import playbook_cli
from onboard.bot.playbook_files import PlaybookError
from onboard.bot.settings import Settings, SettingsError, load_settings


class _OneLineGroup(TyperGroup):
    """Every command, sub-commands included, under `one_line()`: a database that is down or
    from a newer version, a port in use or a folder missing is one line, not a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        with one_line():
            return super().invoke(ctx)


cli = typer.Typer(
    cls=_OneLineGroup,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="onboard: client onboarding in Slack.",
)
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
jobs_cli = typer.Typer(no_args_is_help=True, help="The scheduler's periodic sweeps.")
cli.add_typer(db_cli, name="db")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(playbook_cli, name="playbook", help="Playbooks: list, show, validate, plan.")
cli.add_typer(client_cli, name="client", help="Clients' personal data: erase, retention.")
cli.add_typer(intake_cli, name="intake", help="Client intake answers: export.")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _ready(*required: str) -> Settings:
    """The settings of a command that runs the bot, every one it needs checked before it
    touches the database (migrations included)."""
    settings = _settings()
    try:
        settings.require(*required)
    except SettingsError as exc:
        _fail(str(exc))
    try:
        playbook_files.available(settings.playbook_dir)
    except playbook_files.PlaybookError as exc:
        _fail(f"setting ONBOARD_PLAYBOOK_DIR: {_first_problem(exc)}")
    return settings


def _first_problem(exc: PlaybookError) -> str:
    """The first of a folder's problems, in one line (`playbook validate` lists them all)."""
    if not exc.problems:
        return str(exc).splitlines()[0]
    first, more = exc.problems[0], len(exc.problems) - 1
    told = f"{first.message}: {first.file}" if first.field == "ONBOARD_PLAYBOOK_DIR" else str(first)
    return told + (f" (and {more} more: `onboard playbook validate FILE`)" if more else "")


def _logging(settings: Settings) -> None:
    from onboard.bot.logs import configure

    configure(settings.log_level, settings.log_format)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 3000,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Run no periodic sweeps here.")
    ] = False,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Do not apply pending migrations at start.")
    ] = False,
    no_outbox: Annotated[
        bool,
        typer.Option(
            "--no-outbox",
            help="Make no queued Slack calls here: leave them to `onboard scheduler`.",
        ),
    ] = False,
    ack_only: Annotated[
        bool,
        typer.Option(
            "--ack-only",
            help="Only answer Slack: keep each request's work in the database for "
            "`onboard scheduler` (or another serve) to do, and make no queued Slack calls.",
        ),
    ] = False,
) -> None:
    """Serve Slack's requests over HTTP (POST /slack/events, GET /healthz)."""
    from onboard.bot.app import build
    from onboard.bot.web import HttpServer

    settings = _ready("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    _logging(settings)
    bot = build(settings, migrate=not no_migrate)
    try:
        server = HttpServer(bot, host, port)
    except OSError as exc:
        bot.stop()
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    bot.start_background(
        scheduler=not no_scheduler, outbox=not (no_outbox or ack_only), work=not ack_only
    )
    memory.settle()
    signal.signal(signal.SIGTERM, _interrupt)
    logging.getLogger("onboard").info("listening on %s", server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logging.getLogger("onboard").info("stopping")
    finally:
        server.stop()
        bot.stop()


def _interrupt(*_: object) -> None:
    # SIGTERM stops serve like Ctrl-C: the poll loop is interrupted, then everything closes.
    raise KeyboardInterrupt


@cli.command()
def scheduler() -> None:
    """Run the periodic sweeps, outbox delivery and acked requests' work, next to `serve
    --no-scheduler` (or `serve --ack-only`)."""

    from onboard.bot.app import build

    settings = _ready("SLACK_BOT_TOKEN")
    _logging(settings)
    bot = build(settings)
    bot.start_background(scheduler=True)
    memory.settle()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        logging.getLogger("onboard").info("stopping")
    finally:
        bot.stop()


@jobs_cli.command("list")
def jobs_list() -> None:
    """The sweeps and how often they run."""
    from onboard.schedules.jobs import JOBS

    for job in JOBS.values():
        typer.echo(f"{job.name:<18} every {job.every_seconds:>5} s  {job.what}")


@jobs_cli.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="A name from `onboard jobs list`.")],
    at: Annotated[
        str | None, typer.Option(help="Run as if the clock read this ISO time (default: now).")
    ] = None,
) -> None:
    """Run one sweep now, as of `--at`, and deliver what it queued. Twice sends nothing twice."""
    import datetime as dt

    from onboard.bot.app import build
    from onboard.schedules.jobs import JOBS

    if name not in JOBS:
        _fail(f"no job {name!r}; `onboard jobs list` shows them")
    try:
        moment = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
    except ValueError:
        _fail(f"--at: not an ISO date and time: {at!r}")
    if moment.tzinfo is None:
        _fail("--at: give a timezone, e.g. 2026-11-23T09:00:00+00:00")
    settings = _ready("SLACK_BOT_TOKEN")
    _logging(settings)
    # The sweep decides as of `moment`; its Slack calls are made now. A lease taken as of a
    # past moment would look expired to a `serve` beside it, which would send the row again.
    bot = build(settings, clock=lambda: moment, sending_clock=lambda: dt.datetime.now(dt.UTC))
    failed: RuntimeError | None = None
    try:
        try:
            queued = JOBS[name].run(bot, moment)
        except RuntimeError as exc:
            if not _visits_failed(exc):
                raise
            failed = exc
        finally:
            # What the sweep queued for its other visits is delivered all the same.
            bot.delivery.drain()
    finally:
        bot.stop()
    if failed is not None:
        told = f"{name} as of {moment.isoformat()}: {failed}"
        _fail(f"{told}; the other visits' sends were delivered", 1)
    typer.echo(f"{name} as of {moment.isoformat()}: {queued} queued")


def _visits_failed(exc: RuntimeError) -> bool:
    """Whether `exc` is visits.Failures' report at the end of a sweep (each failed visit was
    logged as it happened, the others done), rather than a bug of the sweep itself."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_globals.get("__name__") == visits.__name__


@cli.command()
def socket() -> None:
    """Run the bot over Socket Mode (needs SLACK_APP_TOKEN), for a workspace with no public URL."""
    from onboard.bot.app import build
    from onboard.bot.socket_mode import SocketMode

    settings = _ready("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    _logging(settings)
    bot = build(settings)
    bot.start_background()
    memory.settle()
    link = SocketMode(bot)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        link.connect()
        logging.getLogger("onboard").info("connected to Slack over Socket Mode")
        threading.Event().wait()
    except KeyboardInterrupt:
        logging.getLogger("onboard").info("stopping")
    finally:
        link.stop()  # the requests in hand are answered before it hangs up
        bot.stop()


@cli.command()
def manifest(
    url: Annotated[str, typer.Option(help="Public base URL of `onboard serve`.")] = (
        "https://onboard.example.com"
    ),
    socket_mode: Annotated[bool, typer.Option("--socket", help="A Socket Mode app.")] = False,
) -> None:
    """Print the Slack app manifest (YAML): create the app from it."""
    from onboard.bot.manifest import manifest_yaml

    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    # Slack sends requests to https only; http is for a local stand-in or tunnel.
    if not socket_mode and not (
        parts.hostname and (parts.scheme == "https" or (parts.scheme == "http" and local))
    ):
        _fail(f"--url {url!r}: give the https:// address where Slack reaches `onboard serve`")
    typer.echo(manifest_yaml(url, socket_mode=socket_mode), nl=False)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to DATABASE_URL."""
    from onboard.storage.db import Database
    from onboard.storage.schema import upgrade

    settings = _settings()
    upgrade(Database(settings.database_url))
    typer.echo("database is up to date")


@cli.command()
def digest(
    preview: Annotated[
        bool, typer.Option("--preview", help="Print the digest here instead of sending it.")
    ] = True,
    manager: Annotated[
        str | None, typer.Option(help="Whose timezone to use (a Slack user ID).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Build it as of this date or ISO time.")
    ] = None,
    png: Annotated[Path | None, typer.Option(help="Also write the chart to this PNG file.")] = None,
) -> None:
    """Show the managers' weekly digest as of a moment (it is sent by the weekly-digest job)."""
    import datetime as dt

    from onboard.bot.charts import digest_chart
    from onboard.bot.digest import build
    from onboard.bot.weekly import WeeklyDigest
    from onboard.standin.transcript import blocks_as_text
    from onboard.storage.db import Database

    del preview  # sending is the job's; this command only shows
    settings = _settings()
    try:
        moment = dt.datetime.fromisoformat(as_of) if as_of else dt.datetime.now(dt.UTC)
    except ValueError:
        _fail(f"--as-of: not an ISO date or time: {as_of!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    require_existing_database(settings.database_url)
    db = Database(settings.database_url)
    with db.transaction() as session:
        built = build(session, moment, nudge_days=settings.approval_nudge_days)
    zone = None
    if manager and settings.slack_bot_token:
        from onboard.bot.gateway import SlackCallError, SlackGateway, web_client

        gateway = SlackGateway(
            web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        )
        try:
            zone = gateway.call("users.info", user=manager)["user"].get("tz")
        except SlackCallError as exc:
            typer.echo(f"(timezone of {manager} unavailable: {exc.error}; using UTC)", err=True)
    message = WeeklyDigest(db, None, list).message(built, zone)  # type: ignore[arg-type]
    for line in blocks_as_text(message["blocks"]):
        typer.echo(line)
    if png is not None:
        try:
            png.write_bytes(digest_chart(built))
        except OSError as exc:
            _fail(f"cannot write {png}: {exc.strerror or exc}")
        typer.echo(f"chart written to {png}")


@cli.command()
def demo(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep the demo's database here, new each run (default: a temp dir)."),
    ] = None,
) -> None:
    """Run the journey end to end against a local Slack stand-in; exit 0 when every step worked."""
    from onboard.demo import run_demo

    raise typer.Exit(run_demo(workdir))


def main() -> None:
    cli()
