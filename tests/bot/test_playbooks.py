"""An operator runs the seed processes as playbooks, writes their own, and is told what is wrong.

Covers the playbook model, the five built-in playbooks, file:line:field errors and the CLI.
"""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from onboard.bot import playbooks
from onboard.bot.playbook_cli import playbook_cli
from onboard.bot.playbook_files import PlaybookError, available, load_file, parse
from onboard.bot.playbooks import Playbook

BUILT_IN = sorted(
    Path(str(entry))
    for entry in (resources.files("onboard") / "playbooks").iterdir()
    if entry.name.endswith(".yaml")
)

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ONBOARD_PLAYBOOK_DIR", "ONBOARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# -- the built-in playbooks --------------------------------------------------------------------


def test_the_five_seed_processes_ship_as_playbooks() -> None:
    assert set(available()) == {
        "managed-services",
        "agency",
        "standard",
        "sustainability-marketing",
        "digital-launch",
    }
    assert playbooks.DEFAULT_PLAYBOOK in available()


@pytest.mark.parametrize("path", BUILT_IN, ids=lambda p: p.stem)
def test_every_built_in_playbook_validates_against_the_model_and_its_json_schema(
    path: Path,
) -> None:
    playbook = load_file(path)
    assert playbook.key == path.stem
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), playbooks.schema_json())
    # A client's snapshot reads back as the same playbook, hypercare times included.
    assert Playbook.model_validate(playbook.snapshot()) == playbook
    assert json.loads(json.dumps(playbook.snapshot())) == playbook.snapshot()


def test_managed_services_follows_seed_002_stage_by_stage() -> None:
    playbook = available()["managed-services"]
    assert [(s.name, s.duration_label, s.owner) for s in playbook.stages] == [
        ("Sales Handoff & Kickoff", "2–3 business days", "Account Manager + Onboarding Lead"),
        ("Technical Discovery", "5–7 business days", "Solutions Architect + Onboarding Engineer"),
        ("Solution Design", "5–7 business days", "Solutions Architect"),
        ("Implementation Planning", "3–5 business days", "Project Manager"),
        ("Deployment & Migration", "7–14 business days", "Senior Engineer + Project Manager"),
        ("Go-Live & Hypercare", "30 calendar days", "Onboarding Lead + Service Desk Lead"),
        ("Transition to BAU", "3–5 business days", "Onboarding Lead + Service Delivery Manager"),
    ]
    assert playbook.review_cadence == {
        "Platinum": "monthly",
        "Gold": "quarterly",
        "Silver": "quarterly",
    }


def test_managed_services_carries_the_seed_raci_matrix() -> None:
    roles = [
        "Account Manager",
        "Onboarding Lead",
        "Solutions Architect",
        "Project Manager",
        "Engineers",
        "Service Desk",
        "Client",
    ]
    seed = ["RAIIIIC", "IARICIR", "IARCCIC", "ICCRCIC", "IACRRIC", "IRIRRRA", "CRIIIAI"]
    stages = available()["managed-services"].stages
    assert [dict(zip(roles, row, strict=True)) for row in seed] == [s.raci for s in stages]


def test_managed_services_checklists_are_tasks_and_uat_and_hypercare_exit_are_gates() -> None:
    playbook = available()["managed-services"]
    handoff = playbook.stage("sales-handoff")
    titles = [t.title for t in handoff.tasks]
    assert sum(t.startswith("Handoff:") for t in titles) == 8
    assert sum(t.startswith("Kickoff:") for t in titles) == 8
    assert sum(t.startswith("From the client:") for t in titles) == 6
    deployment = playbook.stage("deployment")
    assert sum(t.title.startswith("Test:") for t in deployment.tasks) == 8
    uat = deployment.gates[-1]
    assert (uat.key, uat.kind) == ("uat-signoff", "approval")
    hypercare = playbook.stage("hypercare")
    assert hypercare.calendar_days == 30
    settings = hypercare.automation.hypercare  # type: ignore[union-attr]
    assert settings is not None and settings.days == 30 and settings.standup_business_days == 5
    assert settings.exit_criteria == [g.key for g in hypercare.gates]
    assert len(settings.exit_criteria) == 7
    assert hypercare.gates[-1].name == "Client sign-off on hypercare completion"
    assert hypercare.gates[-1].kind == "approval"


def test_agency_turns_each_step_output_into_a_gate_under_its_governance_layer() -> None:
    playbook = available()["agency"]
    assert len(playbook.stages) == 8
    assert playbook.stages[0].name == "Inquiry & Lead Capture"
    assert playbook.stages[-1].name == "Post-Project & Retention"
    gate_names = {g.name for s in playbook.stages for g in s.gates}
    assert {"Onboarding Approved", "Data Verified", "Completed – Awaiting Feedback"} <= gate_names
    assert all(stage.outputs and stage.gates for stage in playbook.stages)
    assert len(playbook.governance) == 3


def test_standard_keeps_the_numbered_steps_of_its_four_phases_and_its_kpis() -> None:
    playbook = available()["standard"]
    numbers = [[t.title.split(" ", 1)[0] for t in s.tasks] for s in playbook.stages]
    assert numbers == [
        ["1.1", "1.2", "1.3", "1.4"],
        ["2.1", "2.2", "2.3", "2.4"],
        ["3.1", "3.2", "3.3"],
        ["4.1", "4.2", "4.3", "4.4"],
    ]
    assert [k.split(":")[0] for k in playbook.kpis] == [
        "Time to Onboard",
        "Client Satisfaction Score",
        "First Service Delivery Success Rate",
        "Retention Rate",
    ]


def test_sustainability_marketing_has_six_stages_with_their_sub_steps() -> None:
    playbook = available()["sustainability-marketing"]
    assert [s.name for s in playbook.stages] == [
        "Initial Consultation",
        "Pre-Onboarding Preparation",
        "Kickoff Meeting",
        "Documentation & Strategy",
        "Implementation",
        "Ongoing Support",
    ]
    assert [len(s.tasks) for s in playbook.stages[1:]] == [3, 4, 4, 3, 3]


def test_digital_launch_sends_each_failed_check_back_to_the_step_the_seed_names() -> None:
    playbook = available()["digital-launch"]
    loops = {
        g.on_fail.label: (stage.key, g.on_fail.back_to)
        for stage in playbook.stages
        for g in stage.gates
        if g.on_fail is not None
    }
    assert loops == {
        "Send Access Setup + Reminders": ("portal-access", "portal-access"),
        "Reminders + Support Call": ("client-intake", "client-intake"),
        "Compliance Corrections": ("data-compliance", "data-compliance"),
        "Account Setup Loop": ("integrations", "integrations"),
        "Fix Credentials": ("integrations", "integrations"),
        "Technical Debug": ("integrations", "integrations"),
        "Asset Recovery Loop": ("content", "content"),
        "Revisions": ("content", "content"),
        "Fix Defects": ("build-qa", "build-qa"),
        "Revision Loop": ("final-review", "build-qa"),
        "Optimization Loop": ("monitoring", "monitoring"),
    }
    reminded = [s.key for s in playbook.stages if s.automation and s.automation.reminders]
    assert reminded == ["portal-access", "client-intake"]


# -- malformed files -------------------------------------------------------------------------

GOOD = """\
key: mine
name: My process
stages:
  - key: first
    name: First
    objective: Start.
    owner: Account Manager
    duration_days: {min: 1, max: 3}
    tasks:
      - {title: Say hello, owner: Account Manager, due_day: 0}
    gates:
      - {key: hello-said, name: Hello said, kind: condition}
  - key: second
    name: Second
    objective: Finish.
    owner: Account Manager
    duration_days: {min: 2, max: 2}
    gates:
      - key: approved
        name: Client approves
        on_fail: {back_to: first, label: Start again}
"""


def test_a_good_operator_file_is_valid_and_gates_default_to_approvals(tmp_path: Path) -> None:
    playbook = load_file(write(tmp_path, "mine.yaml", GOOD))
    assert playbook.stage("second").gates[0].kind == "approval"
    assert playbook.stage("second").gates[0].on_fail.back_to == "first"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        (
            "due_day: 0}",
            "due_day: -1}",
            10,
            "stages.0.tasks.0.due_day",
            "greater than or equal to 0",
        ),
        (
            "due_day: 0}",
            "due_day: 3}",
            10,
            "stages.0.tasks.0.due_day",
            "after the stage's last business day",
        ),
        ("{title: Say hello", "{tittle: Say hello", 10, "stages.0.tasks.0.tittle", "Extra inputs"),
        ("    objective: Finish.\n", "", 13, "stages.1.objective", "Field required"),
        ("kind: condition", "kind: signoff", 12, "stages.0.gates.0.kind", "'approval' or"),
        ("{min: 2, max: 2}", "{min: 3, max: 2}", 17, "stages.1.duration_days", "must not exceed"),
        ("key: second", "key: first", 13, "stages.1.key", "already used"),
        ("key: approved", "key: hello-said", 19, "stages.1.gates.0.key", "already used"),
        ("back_to: first", "back_to: third", 21, "stages.1.gates.0.on_fail.back_to", "no stage"),
        ("Say hello", "x" * 151, 10, "stages.0.tasks.0.title", "at most 150 characters"),
        ("name: My process", "name: My process\nname: Again", 3, "name", "written twice"),
        ("key: mine", "key: My Playbook", 1, "key", "should match pattern"),
        ("name: Hello said,", "name: [Hello said,", 12, "(yaml)", "not valid YAML"),
    ],
    ids=[
        "negative-due-day",
        "due-after-stage",
        "typo-field",
        "missing-field",
        "unknown-gate-kind",
        "min-over-max",
        "duplicate-stage",
        "duplicate-gate",
        "loop-to-missing-stage",
        "title-too-long",
        "duplicate-yaml-key",
        "bad-key",
        "broken-yaml",
    ],
)
def test_a_malformed_file_is_refused_naming_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, "mine.yaml", GOOD.replace(old, new, 1))
    with pytest.raises(PlaybookError) as refused:
        load_file(path)
    named = [p for p in refused.value.problems if p.field == field]
    assert named, refused.value
    assert (named[0].file, named[0].line) == (str(path), line)
    assert message in named[0].message
    assert f"{path}:{line}: {field}: " in str(refused.value)


def test_a_client_snapshot_from_the_first_release_still_loads() -> None:
    # The first managed-services playbook had tasks due the day after their stage's end.
    old = yaml.safe_load(GOOD.replace("due_day: 0}", "due_day: 3}"))
    assert Playbook.model_validate(old).stages[0].tasks[0].due_day == 3
    with pytest.raises(PlaybookError, match="after the stage's last business day"):
        parse(yaml.safe_dump(old), "old.yaml")


def test_a_loop_gate_pointing_to_a_missing_stage_is_refused() -> None:
    text = GOOD.replace("back_to: first", "back_to: nowhere")
    with pytest.raises(PlaybookError) as refused:
        parse(text, "playbooks/x.yaml")
    assert str(refused.value) == (
        "playbooks/x.yaml:21: stages.1.gates.0.on_fail.back_to: no stage 'nowhere' in this playbook"
    )


def test_a_loop_may_not_jump_forward_to_a_later_stage() -> None:
    text = GOOD.replace(
        "{key: hello-said, name: Hello said, kind: condition}",
        "{key: hello-said, name: Hello said, on_fail: {back_to: second, label: Skip}}",
    )
    with pytest.raises(PlaybookError) as refused:
        parse(text, "x.yaml")
    assert "x.yaml:12: stages.0.gates.0.on_fail.back_to: a loop goes back" in str(refused.value)


def test_every_problem_of_a_file_is_listed_in_line_order(tmp_path: Path) -> None:
    text = GOOD.replace("due_day: 0}", "due_day: -1}").replace("kind: condition", "kind: maybe")
    with pytest.raises(PlaybookError) as refused:
        load_file(write(tmp_path, "two.yaml", text))
    assert [(p.line, p.field) for p in refused.value.problems] == [
        (10, "stages.0.tasks.0.due_day"),
        (12, "stages.0.gates.0.kind"),
    ]


def test_an_unquoted_stand_up_time_is_explained_not_misread() -> None:
    text = GOOD.replace(
        "    duration_days: {min: 2, max: 2}\n",
        "    duration_days: {min: 2, max: 2}\n    calendar_days: 10\n    automation:\n"
        "      hypercare: {days: 10, standup_time: 10:30, standup_business_days: 2}\n",
    )
    with pytest.raises(PlaybookError) as refused:
        parse(text, "h.yaml")
    assert 'standup_time: write the time in quotes, e.g. "10:30"' in str(refused.value)
    fixed = parse(text.replace("10:30", '"10:30"'), "h.yaml")
    assert fixed.stage("second").automation.hypercare.standup_time.hour == 10  # type: ignore[union-attr]


def with_hypercare(extra: str) -> str:
    """GOOD with a week of hypercare in its second stage, `extra` added to its rules."""
    return GOOD.replace(
        "    duration_days: {min: 2, max: 2}\n",
        "    duration_days: {min: 2, max: 2}\n    calendar_days: 7\n    automation:\n"
        '      hypercare: {days: 7, standup_time: "09:30", standup_business_days: 2,'
        f" {extra}}}\n",
    )


def test_hypercare_exit_criteria_must_be_gates_of_the_stage() -> None:
    with pytest.raises(PlaybookError) as refused:
        parse(with_hypercare("exit_criteria: [approved, happy]"), "h.yaml")
    assert "stages.1.automation.hypercare.exit_criteria.1: no gate 'happy'" in str(refused.value)


def test_the_survey_gate_must_be_a_gate_of_the_stage_and_tiers_ones_clients_have() -> None:
    # A typo here would leave the real exit gate never passed by the survey, or stop reviews.
    with pytest.raises(PlaybookError) as refused:
        parse(with_hypercare("satisfaction_gate: aproved"), "h.yaml")
    assert "hypercare.satisfaction_gate: no gate 'aproved'" in str(refused.value)
    with pytest.raises(PlaybookError) as refused:
        parse(GOOD + "review_cadence: {gold: monthly}\n", "r.yaml")
    assert "review_cadence" in str(refused.value)
    assert parse(GOOD + "review_cadence: {Gold: monthly}\n", "r.yaml").review_cadence


def test_a_playbook_folder_that_is_not_there_is_refused_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="ONBOARD_PLAYBOOK_DIR: no such folder"):
        available(tmp_path / "playbok")


def test_an_empty_or_unreadable_file_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match=r"empty.yaml:1: \(top level\): "):
        load_file(write(tmp_path, "empty.yaml", ""))
    with pytest.raises(PlaybookError, match=r"missing.yaml:1: \(file\): cannot read"):
        load_file(tmp_path / "missing.yaml")


def test_the_schema_is_json_schema_for_editors() -> None:
    schema = playbooks.schema_json()
    jsonschema.Draft202012Validator.check_schema(schema)
    gate = schema["$defs"]["Gate"]["properties"]
    assert gate["kind"]["enum"] == ["approval", "condition"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"key": "x", "name": "x", "stages": [], "colour": 1}, schema)


# -- the operator's folder -------------------------------------------------------------------


def test_an_operator_playbook_extends_and_overrides_the_built_in_ones(tmp_path: Path) -> None:
    write(tmp_path, "mine.yaml", GOOD)
    write(tmp_path, "agency.yaml", GOOD.replace("key: mine", "key: agency"))
    found = available(tmp_path)
    assert found["mine"].name == "My process"
    assert found["agency"].name == "My process"
    assert available()["agency"].name == "Agency client journey"


def test_two_operator_files_with_one_key_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD)
    with pytest.raises(PlaybookError, match=r"b.yaml:1: key: 'mine' is also the key of"):
        available(tmp_path)


# -- the command line ------------------------------------------------------------------------


def test_operator_lists_built_in_and_own_playbooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    write(folder, "mine.yaml", GOOD)
    monkeypatch.setenv("ONBOARD_PLAYBOOK_DIR", str(folder))
    result = runner.invoke(playbook_cli, ["list"])
    assert result.exit_code == 0, result.output
    for key in ("managed-services", "agency", "standard", "sustainability-marketing", "mine"):
        assert key in result.stdout
    assert str(folder / "mine.yaml") in result.stdout


def test_a_broken_file_in_the_operator_folder_stops_list_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "bad.yaml", GOOD.replace("due_day: 0}", "due_day: -1}"))
    monkeypatch.setenv("ONBOARD_PLAYBOOK_DIR", str(tmp_path))
    result = runner.invoke(playbook_cli, ["list"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}:10: stages.0.tasks.0.due_day" in result.stderr


def test_operator_shows_a_playbook_with_its_gates_and_loops() -> None:
    result = runner.invoke(playbook_cli, ["show", "digital-launch"])
    assert result.exit_code == 0, result.output
    assert "Client Final Review" in result.stdout
    assert "Revision Loop → back to build-qa" in result.stdout
    unknown = runner.invoke(playbook_cli, ["show", "nope"])
    assert unknown.exit_code == 1 and "no playbook 'nope'" in unknown.stderr


def test_operator_validates_a_file_before_installing_it(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", GOOD)
    result = runner.invoke(playbook_cli, ["validate", str(good)])
    assert result.exit_code == 0 and "valid" in result.stdout

    bad = write(tmp_path, "bad.yaml", GOOD.replace("back_to: first", "back_to: third"))
    result = runner.invoke(playbook_cli, ["validate", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"{bad}:21: stages.1.gates.0.on_fail.back_to: no stage 'third' in this playbook"
    )
    assert result.stdout == ""


def test_operator_plans_a_playbook_over_christmas_with_holidays_skipped() -> None:
    result = runner.invoke(
        playbook_cli, ["plan", "managed-services", "--start", "2026-12-21", "--country", "GB"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Sales Handoff & Kickoff  Mon 2026-12-21  Tue 2026-12-22  Wed 2026-12-23" in out
    assert "Technical Discovery      Thu 2026-12-24" in out
    assert "Fri 2026-12-25  Christmas Day" in out
    assert "Mon 2026-12-28  Boxing Day (observed)" in out
    assert "30 calendar days" in out
    assert "stand-ups: Fri 2027-02-12 09:30 GMT" in out


def test_a_bad_plan_request_is_one_line_on_stderr() -> None:
    date = runner.invoke(playbook_cli, ["plan", "agency", "--start", "21/12/2026"])
    assert date.exit_code == 1 and "--start: not a date" in date.stderr
    zone = runner.invoke(
        playbook_cli, ["plan", "agency", "--start", "2026-12-21", "--timezone", "Mars/Base"]
    )
    assert zone.exit_code == 1 and "unknown timezone 'Mars/Base'" in zone.stderr


def test_operator_who_mistypes_a_region_is_told_which_regions_there_are() -> None:
    plan = ["plan", "managed-services", "--start", "2027-03-22", "--country"]

    mistyped = runner.invoke(playbook_cli, [*plan, "GB-XYZ"])

    assert mistyped.exit_code == 1
    assert mistyped.stderr == (
        "onboard: --country: GB-XYZ: GB has no region XYZ; known: GB-ENG, GB-NIR, GB-SCT, GB-WLS\n"
    )
    assert mistyped.stdout == ""
    # Typed in lower case with spaces, as the calendar reads it: England's Easter Monday.
    corrected = runner.invoke(playbook_cli, [*plan, " gb-eng "])
    assert corrected.exit_code == 0, corrected.output
    assert "Country GB-ENG" in corrected.stdout
    assert "Mon 2027-03-29  Easter Monday" in corrected.stdout


@pytest.mark.parametrize(
    ("country", "says"),
    [
        ("gb-xyz", "--country: GB-XYZ: GB has no region XYZ; known: GB-ENG,"),
        ("ZZ", "--country: ZZ: no public holidays known for country ZZ;"),
        ("IS-1", "--country: IS-1: IS has no regions with their own holidays; use IS."),
    ],
)
def test_a_plan_for_a_region_without_known_holidays_is_one_line_on_stderr(
    country: str, says: str
) -> None:
    result = runner.invoke(
        playbook_cli, ["plan", "agency", "--start", "2026-12-21", "--country", country]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"onboard: {says}")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_operator_prints_the_schema_for_an_editor() -> None:
    result = runner.invoke(playbook_cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == playbooks.schema_json()
