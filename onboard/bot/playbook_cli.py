"""`onboard playbook …`: list, show, validate, plan and print the schema of playbooks.

Owns the operator's view of playbooks from a terminal; every failure is one clear line on stderr.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from onboard.bot import places, playbook_files, playbooks
from onboard.bot.calendar import BusinessCalendar, StagePlan
from onboard.bot.playbook_files import PlaybookError
from onboard.bot.playbooks import Playbook, Stage
from onboard.bot.settings import SettingsError, load_settings

playbook_cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Playbooks: list, show, validate, plan and schema.",
)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _folder() -> Path | None:
    try:
        return load_settings().playbook_dir
    except SettingsError as exc:
        _fail(f"onboard: {exc}", 2)


def _all() -> tuple[dict[str, Playbook], dict[str, Path]]:
    """Every playbook by key, and the operator file of those that come from the folder."""
    folder = _folder()
    try:
        found = playbook_files.available(folder)
        origins = {
            key: path for key, (path, _) in playbook_files.operator_playbooks(folder).items()
        }
    except PlaybookError as exc:
        _fail(str(exc))
    return found, origins


def _named(name: str) -> Playbook:
    """A playbook by key, or a YAML file given by path (to check one before installing it)."""
    path = Path(name)
    if name.endswith((".yaml", ".yml")) and path.is_file():
        try:
            return playbook_files.load_file(path)
        except PlaybookError as exc:
            _fail(str(exc))
    found, _ = _all()
    if name not in found:
        _fail(f"onboard: no playbook {name!r}; available: {', '.join(sorted(found))}")
    return found[name]


def _days(n: int) -> str:
    return f"{n} business day{'' if n == 1 else 's'}"


def _day(day: dt.date) -> str:
    return day.strftime("%a %Y-%m-%d")


@playbook_cli.command("list")
def list_playbooks() -> None:
    """List the playbooks: built-in ones and those in ONBOARD_PLAYBOOK_DIR."""
    found, origins = _all()
    width = max(len(key) for key in found)
    for key in sorted(found):
        playbook = found[key]
        origin = str(origins[key]) if key in origins else "built-in"
        default = " (default)" if key == playbooks.DEFAULT_PLAYBOOK else ""
        stages = f"{len(playbook.stages)} stages"
        typer.echo(f"{key:<{width}}  {stages:<10}  {playbook.name}{default}  [{origin}]")


def _stage_lines(number: int, stage: Stage) -> list[str]:
    lines = [f"{number}. {stage.name}  [{stage.key}]  {stage.duration_label}  owner: {stage.owner}"]
    lines.append(f"   Objective: {stage.objective}")
    if stage.raci:
        lines.append("   RACI: " + ", ".join(f"{role} {k}" for role, k in stage.raci.items()))
    for task in stage.tasks:
        lines.append(f"   - day {task.due_day:>2}  {task.title}  ({task.owner})")
    for gate in stage.gates:
        loop = ""
        if gate.on_fail is not None:
            loop = f"  ↺ on fail: {gate.on_fail.label} → back to {gate.on_fail.back_to}"
        lines.append(f"   ◆ {gate.kind}: {gate.name}  [{gate.key}]{loop}")
    for output in stage.outputs:
        lines.append(f"   ⇒ output: {output}")
    automation = stage.automation
    if automation and automation.reminders:
        r = automation.reminders
        lines.append(
            f"   Reminders: after {_days(r.after_business_days)}, every "
            f"{_days(r.every_business_days)}, at most {r.max_reminders}"
        )
    if automation and automation.hypercare:
        h = automation.hypercare
        review = f", weekly review on {h.weekly_review_weekday}" if h.weekly_review_weekday else ""
        lines.append(
            f"   Hypercare: {h.days} days, stand-up at {h.standup_time:%H:%M} on the first "
            f"{h.standup_business_days} business days{review}"
        )
        if h.exit_criteria:
            lines.append(f"   Exit criteria: {', '.join(h.exit_criteria)}")
    return lines


@playbook_cli.command("show")
def show(name: Annotated[str, typer.Argument(help="A playbook's key, or a YAML file.")]) -> None:
    """Show a playbook: its stages, tasks, gates and loops."""
    playbook = _named(name)
    lines = [f"{playbook.name}  [{playbook.key}]"]
    if playbook.description:
        lines.append(playbook.description)
    for number, stage in enumerate(playbook.stages, start=1):
        lines.append("")
        lines.extend(_stage_lines(number, stage))
    if playbook.governance:
        lines += ["", "Governance (every stage):", *(f"- {g}" for g in playbook.governance)]
    if playbook.kpis:
        lines += ["", "KPIs:", *(f"- {k}" for k in playbook.kpis)]
    if playbook.review_cadence:
        cadence = ", ".join(f"{tier} {how}" for tier, how in playbook.review_cadence.items())
        lines += ["", f"Review cadence: {cadence}"]
    typer.echo("\n".join(lines))


@playbook_cli.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="The playbook YAML file to check.")],
) -> None:
    """Check a playbook file; problems are printed as file:line: field: message."""
    try:
        playbook = playbook_files.load_file(file)
    except PlaybookError as exc:
        _fail(str(exc))
    typer.echo(f"{file}: valid ({playbook.key}, {len(playbook.stages)} stages)")


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _plan_lines(
    playbook: Playbook, calendar: BusinessCalendar, start: dt.date, plans: list[StagePlan]
) -> list[str]:
    skipped = "weekends and public holidays" if calendar.knows_holidays else "weekends"
    lines = [
        f"{playbook.name}: plan from {_day(start)}",
        f"Country {calendar.country or '-'}, timezone {calendar.timezone}; {skipped} skipped.",
    ]
    if not calendar.knows_holidays:
        lines.append(f"No public holidays known for {calendar.country or 'no country'}.")
    lines.append("")
    rows = [("#", "stage", "start", "earliest end", "latest end", "length")]
    for number, (plan, stage) in enumerate(zip(plans, playbook.stages, strict=True), start=1):
        rows.append(
            (
                str(number),
                plan.name,
                _day(plan.start),
                _day(plan.earliest_end),
                _day(plan.end),
                stage.duration_label,
            )
        )
    lines += _table(rows)
    for number, plan in enumerate(plans, start=1):
        lines += ["", f"{number}. {plan.name}"]
        task_rows = [("  due", "day", "task", "owner")]
        task_rows += [
            (f"  {_day(t.due)}", str(t.due_day), t.title, t.owner)
            # A calendar reads in date order; the sort is stable, so the checklist order stays.
            for t in sorted(plan.tasks, key=lambda t: t.due)
        ]
        if plan.tasks:
            lines += _table(task_rows)
        else:
            lines.append("  (no tasks)")
        if plan.standups:
            local = [s.astimezone(calendar.zone) for s in plan.standups]
            shown = ", ".join(f"{s:%a %Y-%m-%d %H:%M %Z}" for s in local)
            lines.append(f"  stand-ups: {shown}")
        if plan.reviews:
            lines.append(f"  weekly reviews: {', '.join(_day(d) for d in plan.reviews)}")
    days_off = calendar.days_off_between(plans[0].start, plans[-1].end)
    if days_off:
        lines += ["", "Days off skipped:", *(f"  {_day(d)}  {name}" for d, name in days_off)]
    return lines


@playbook_cli.command("plan")
def plan(
    name: Annotated[str, typer.Argument(help="A playbook's key, or a YAML file.")],
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    country: Annotated[
        str, typer.Option(help="ISO country or region code for public holidays: GB, GB-ENG.")
    ] = "GB",
    timezone: Annotated[str, typer.Option(help="IANA timezone of the client.")] = "Europe/London",
) -> None:
    """Print the calendar a playbook would produce: stage dates and task due dates."""
    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        _fail(f"onboard: --start: not a date (YYYY-MM-DD): {start!r}")
    # The calendar would quietly plan GB-XYZ as GB, ZZ as weekends only: say so instead. An
    # empty --country asks for no holidays, and the plan says that it skips weekends only.
    problem = places.region_problem(country) if country.strip() else None
    if problem is not None:
        _fail(f"onboard: --country: {problem}")
    try:
        calendar = BusinessCalendar(timezone, country)
    except ValueError as exc:
        _fail(f"onboard: --timezone: {exc}")
    playbook = _named(name)
    try:
        plans = calendar.plan(playbook, first)
    except (ValueError, OverflowError) as exc:
        _fail(f"onboard: cannot plan {playbook.key}: {exc}")
    typer.echo("\n".join(_plan_lines(playbook, calendar, first, plans)))


@playbook_cli.command("schema")
def schema() -> None:
    """Print the JSON Schema of a playbook file, for editors."""
    typer.echo(json.dumps(playbooks.schema_json(), indent=2, ensure_ascii=False))
