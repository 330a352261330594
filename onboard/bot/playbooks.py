"""Playbooks: the onboarding process as data, YAML files validated by pydantic.

Owns the playbook model and its JSON Schema; reading files is onboard/bot/playbook_files.py.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

DEFAULT_PLAYBOOK = "managed-services"

# Generous enough for any real process, small enough that Slack can render a stage in one card.
MAX_STAGES = 40
MAX_TASKS = 60
MAX_GATES = 20
MAX_DAYS = 365

# Validation context flag: rules for files being written, beyond what every snapshot must meet.
AUTHORING = "authoring"

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
Key = Annotated[str, Field(pattern=KEY_PATTERN, max_length=60)]
TIERS = ("Platinum", "Gold", "Silver")  # a client's service tier, as the New client form offers
Tier = Literal["Platinum", "Gold", "Silver"]
Role = Annotated[str, Field(min_length=1, max_length=80)]
Line = Annotated[str, Field(min_length=1, max_length=300)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _refuse(title: str, problems: list[tuple[tuple[str | int, ...], str, Any]]) -> None:
    """Raise pydantic's own error with an exact `loc`, so a file error can name the line."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    # The message goes through the context so braces in user text stay literal.
                    type=PydanticCustomError("playbook", "{detail}", {"detail": message}),
                    loc=loc,
                    input=value,
                )
                for loc, message, value in problems
            ],
        )


class Duration(_Strict):
    """How long a stage should take, in business days: the shortest and the longest."""

    min: int = Field(ge=0, le=MAX_DAYS)
    max: int = Field(ge=1, le=MAX_DAYS)

    @model_validator(mode="after")
    def _ordered(self) -> Duration:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class Task(_Strict):
    """A checklist item of a stage."""

    title: str = Field(min_length=1, max_length=150)
    owner: Role
    due_day: int = Field(
        ge=0,
        le=MAX_DAYS,
        description="Business days after the stage starts: 0 is the stage's first business day.",
    )


class GateLoop(_Strict):
    """Where a failed gate sends the journey: a decision loop of the seed processes."""

    back_to: Key = Field(description="Key of this stage or an earlier one.")
    label: str = Field(min_length=1, max_length=100, description="The loop's name, e.g. Revisions")


class Gate(_Strict):
    """Something that must hold before a stage closes."""

    key: Key
    name: str = Field(min_length=1, max_length=150)
    kind: Literal["approval", "condition"] = Field(
        "approval",
        description="approval: a client or internal sign-off recorded by a button; "
        "condition: a checklist condition an internal user confirms.",
    )
    on_fail: GateLoop | None = None


class Reminders(_Strict):
    """Nudges for a stage's open tasks; capped so nobody is nagged into muting the bot."""

    after_business_days: int = Field(1, ge=0, le=60)
    every_business_days: int = Field(2, ge=1, le=60)
    max_reminders: int = Field(3, ge=1, le=10)


class Hypercare(_Strict):
    """Daily stand-ups and weekly reviews after go-live, in the client's timezone."""

    days: int = Field(ge=1, le=MAX_DAYS, description="Calendar days of hypercare.")
    standup_time: dt.time = Field(description='Local time of the daily stand-up, e.g. "09:30".')
    standup_business_days: int = Field(
        ge=0, le=60, description="Stand-ups on this many first business days of hypercare."
    )
    weekly_review_weekday: Weekday | None = None
    exit_criteria: list[Key] = Field(
        default_factory=list, description="Keys of this stage's gates that end hypercare."
    )
    satisfaction_gate: Key | None = Field(
        None,
        description="The gate a satisfaction survey passes when its average reaches "
        "`satisfaction_target` (seed 002: 8/10).",
    )
    satisfaction_target: float = Field(8.0, ge=0, le=10)

    @field_validator("standup_time", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        if isinstance(value, int | float):  # bool is an int too
            # YAML 1.1 reads an unquoted 10:30 as the base-60 number 630.
            raise ValueError('write the time in quotes, e.g. "10:30"')
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            hours, minutes = (int(part) for part in value.strip().split(":"))
            if hours > 23 or minutes > 59:
                raise ValueError(f"not a time of day: {value!r}")
            return dt.time(hours, minutes)
        return value

    @field_validator("standup_time")
    @classmethod
    def _local(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError("give a local time without an offset: the client's timezone applies")
        return value


class Automation(_Strict):
    """What the bot does on its own while a stage is current."""

    reminders: Reminders | None = None
    hypercare: Hypercare | None = None


class Stage(_Strict):
    """One step of the journey: what it is for, who owns it, its checklist and its exit gates."""

    key: Key
    name: str = Field(min_length=1, max_length=100)
    objective: str = Field(min_length=1, max_length=500)
    owner: Role
    duration_days: Duration = Field(
        description="Expected length in business days (for a calendar-day stage, its "
        "business-day equivalent, used wherever business days are counted)."
    )
    calendar_days: int | None = Field(
        None,
        ge=1,
        le=MAX_DAYS,
        description="When set, the stage lasts exactly this many calendar days (hypercare).",
    )
    raci: dict[Role, Literal["R", "A", "C", "I"]] = Field(
        default_factory=dict, description="Role → Responsible, Accountable, Consulted, Informed."
    )
    tasks: list[Task] = Field(default_factory=list, max_length=MAX_TASKS)
    gates: list[Gate] = Field(default_factory=list, max_length=MAX_GATES)
    outputs: list[Line] = Field(default_factory=list, max_length=20)
    automation: Automation | None = None

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Stage:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        last = self.duration_days.max - 1
        # Checked when a file is read, not when a client's snapshot is: snapshots taken under
        # the first release's playbook have tasks due on the day after their stage's end.
        authoring = bool(info.context and info.context.get(AUTHORING))
        for i, task in enumerate(self.tasks):
            if authoring and task.due_day > last:
                problems.append(
                    (
                        ("tasks", i, "due_day"),
                        f"due day {task.due_day} is after the stage's last business day "
                        f"(day {last} of a {self.duration_days.max}-day stage; day 0 is the first)",
                        task.due_day,
                    )
                )
        if self.calendar_days is not None and self.duration_days.max > self.calendar_days:
            problems.append(
                (
                    ("duration_days", "max"),
                    f"{self.duration_days.max} business days do not fit in "
                    f"{self.calendar_days} calendar days",
                    self.duration_days.max,
                )
            )
        accountable = [role for role, letter in self.raci.items() if letter == "A"]
        if len(accountable) > 1:
            problems.append(
                (("raci",), f"only one role may be accountable (A): {', '.join(accountable)}", "")
            )
        hypercare = self.automation.hypercare if self.automation else None
        if hypercare is not None:
            where: tuple[str | int, ...] = ("automation", "hypercare")
            if self.calendar_days is not None and hypercare.days > self.calendar_days:
                problems.append(
                    (
                        (*where, "days"),
                        f"{hypercare.days} days of hypercare do not fit in this "
                        f"{self.calendar_days}-calendar-day stage",
                        hypercare.days,
                    )
                )
            gate_keys = {gate.key for gate in self.gates}
            if hypercare.satisfaction_gate and hypercare.satisfaction_gate not in gate_keys:
                # Its survey would pass a gate no stage has, and never the real one.
                problems.append(
                    (
                        (*where, "satisfaction_gate"),
                        f"no gate {hypercare.satisfaction_gate!r} in this stage (gates: "
                        f"{', '.join(sorted(gate_keys)) or 'none'})",
                        hypercare.satisfaction_gate,
                    )
                )
            for i, key in enumerate(hypercare.exit_criteria):
                if key not in gate_keys:
                    problems.append(
                        (
                            (*where, "exit_criteria", i),
                            f"no gate {key!r} in this stage (gates: "
                            f"{', '.join(sorted(gate_keys)) or 'none'})",
                            key,
                        )
                    )
        _refuse("Stage", problems)
        return self

    @property
    def duration_label(self) -> str:
        """How long the stage takes, as people say it: "2–3 business days", "30 calendar days"."""
        if self.calendar_days is not None:
            return f"{self.calendar_days} calendar days"
        low, high = self.duration_days.min, self.duration_days.max
        span = str(high) if low == high else f"{low}–{high}"
        return f"{span} business day{'' if span == '1' else 's'}"


# -- the client intake questionnaire --------------------------------------------------------

QuestionKind = Literal[
    "text",
    "long_text",
    "email",
    "url",
    "number",
    "date",
    "single_choice",
    "multi_choice",
    "user",
    "file",
    "yes_no",
    "phone",
    "country",
    "timezone",
]
CHOICE_KINDS = ("single_choice", "multi_choice")
TEXT_KINDS = ("text", "long_text")
# Slack's ceilings: 100 options in a static select, 10 in checkboxes, 3000 typed characters.
MAX_OPTIONS = 100
MAX_CHECKBOXES = 10
MAX_TEXT_LENGTH = 3000
# Enough for the longest seed form; small enough that a page fits one modal (100 blocks) and the
# "Ask for changes" list of every field fits one select (100 options).
MAX_PAGES = 12
MAX_PAGE_QUESTIONS = 20
MAX_QUESTIONS = 100
# Where an answer lands in the client record: the client's own columns, a contact by role, or a
# named fact of its profile (compliance requirements, user count...).
MAPS_TO_PATTERN = (
    r"^(client\.(timezone|country)"
    r"|contacts\.[a-z][a-z0-9-]*\.(name|email|slack_user)"
    r"|profile\.[a-z0-9][a-z0-9-]*)$"
)
Choice = Annotated[str, Field(min_length=1, max_length=75)]


class Question(_Strict):
    """One field of an intake page: what is asked, of which kind, and where the answer goes."""

    key: Key
    label: str = Field(min_length=1, max_length=150)
    kind: QuestionKind = "text"
    required: bool = False
    help: str | None = Field(None, max_length=500, description="Shown under the field.")
    placeholder: str | None = Field(None, max_length=150)
    options: list[Choice] = Field(
        default_factory=list, max_length=MAX_OPTIONS, description="For single or multi choice."
    )
    min: float | None = Field(None, description="Smallest number accepted (number only).")
    max: float | None = Field(None, description="Largest number accepted (number only).")
    decimal: bool = Field(False, description="Numbers may have decimals (number only).")
    max_length: int | None = Field(None, ge=1, le=MAX_TEXT_LENGTH)
    max_files: int = Field(1, ge=1, le=10, description="Files accepted (file only).")
    credential: bool = Field(
        False,
        description="The question is about access to a system: the form explains how to share "
        "access safely, and anything that looks like a password is refused.",
    )
    maps_to: str | None = Field(
        None,
        pattern=MAPS_TO_PATTERN,
        description="client.timezone, client.country, contacts.<role>.name|email|slack_user, "
        "or profile.<key>: the answer feeds the client record when the data is verified.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        if self.kind in CHOICE_KINDS and not self.options:
            problems.append((("options",), f"a {self.kind} question needs options", ""))
        if self.kind not in CHOICE_KINDS and self.options:
            problems.append((("options",), "only single_choice and multi_choice take options", ""))
        if len(set(self.options)) != len(self.options):
            problems.append((("options",), "an option is listed twice", ""))
        if self.kind != "number" and (self.min is not None or self.max is not None):
            problems.append((("min",), "only a number question takes min and max", self.min))
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append((("min",), f"min ({self.min}) must not exceed max ({self.max})", ""))
        if self.max_length is not None and self.kind not in TEXT_KINDS:
            problems.append((("max_length",), "only text questions take max_length", ""))
        wanted = _MAPPABLE.get((self.maps_to or "").rsplit(".", 1)[-1] if self.maps_to else "")
        if self.maps_to and not self.maps_to.startswith("profile.") and self.kind not in wanted:
            problems.append(
                (
                    ("maps_to",),
                    f"{self.maps_to} needs a question of kind {' or '.join(wanted)}",
                    self.maps_to,
                )
            )
        _refuse("Question", problems)
        return self

    @property
    def text_limit(self) -> int:
        """The most characters Slack lets the person type here."""
        if self.max_length is not None:
            return self.max_length
        return MAX_TEXT_LENGTH if self.kind == "long_text" else 300


# maps_to's last part → the question kinds whose answers fit it.
_MAPPABLE: dict[str, tuple[str, ...]] = {
    "timezone": ("timezone",),
    "country": ("country",),
    "name": ("text",),
    "email": ("email",),
    "slack_user": ("user",),
}


class QuestionPage(_Strict):
    """One modal page of the questionnaire: a section of related questions."""

    key: Key
    title: str = Field(min_length=1, max_length=60)
    intro: str | None = Field(None, max_length=1000)
    questions: list[Question] = Field(min_length=1, max_length=MAX_PAGE_QUESTIONS)


class IntakeReminders(_Strict):
    """The reminder loop of an unfinished intake (seed 001): channel, then DM, then a call."""

    channel_after_business_days: int = Field(
        2, ge=1, le=60, description="A friendly nudge in the client channel."
    )
    dm_after_business_days: int = Field(
        4, ge=1, le=60, description="A direct message to the primary contact."
    )
    support_call_after_business_days: int = Field(
        6, ge=1, le=60, description="Prompt the account manager to book a support call."
    )
    every_business_days: int = Field(
        2, ge=1, le=60, description="After the support call prompt, channel nudges this often."
    )
    max_reminders: int = Field(4, ge=1, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> IntakeReminders:
        steps = (
            self.channel_after_business_days,
            self.dm_after_business_days,
            self.support_call_after_business_days,
        )
        if list(steps) != sorted(steps):
            raise ValueError("the channel nudge comes first, then the DM, then the support call")
        return self


class Questionnaire(_Strict):
    """What the client is asked in the intake modals, when, and which gate it passes."""

    title: str = Field("Client intake", min_length=1, max_length=60)
    why: str = Field(min_length=1, max_length=500, description="What the answers are for.")
    minutes: int = Field(ge=1, le=480, description="About how long it takes to fill.")
    stage: Key = Field(description="The stage whose start posts the intake in the channel.")
    gate: Key | None = Field(
        None, description="A gate of that stage, passed when the team marks the data verified."
    )
    access_guidance: str = Field(
        "Never paste passwords, keys or tokens here. To give us access, invite our team's "
        "account as a user of the system, or share the login through your password manager "
        "(a 1Password or Bitwarden share) and tell us here that you did.",
        min_length=1,
        max_length=1000,
        description="How to share access safely, shown with every credential question.",
    )
    reminders: IntakeReminders = Field(default_factory=IntakeReminders)
    pages: list[QuestionPage] = Field(min_length=1, max_length=MAX_PAGES)

    @model_validator(mode="after")
    def _unique(self) -> Questionnaire:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        pages: set[str] = set()
        seen: dict[str, int] = {}
        for p, page in enumerate(self.pages):
            if page.key in pages:
                problems.append((("pages", p, "key"), f"page key {page.key!r} is used twice", ""))
            pages.add(page.key)
            for q, question in enumerate(page.questions):
                if question.key in seen:
                    problems.append(
                        (
                            ("pages", p, "questions", q, "key"),
                            f"question key {question.key!r} is already used on page "
                            f"{seen[question.key]}",
                            question.key,
                        )
                    )
                seen.setdefault(question.key, p)
        if len(seen) > MAX_QUESTIONS:
            problems.append((("pages",), f"at most {MAX_QUESTIONS} questions in all", ""))
        _refuse("Questionnaire", problems)
        return self

    def questions(self) -> list[tuple[QuestionPage, Question]]:
        """Every question with its page, in the order the client meets them."""
        return [(page, question) for page in self.pages for question in page.questions]

    def question(self, key: str) -> Question:
        for _, question in self.questions():
            if question.key == key:
                return question
        raise KeyError(key)


class Playbook(_Strict):
    """An onboarding process: ordered stages, and what applies to all of them."""

    key: Key
    name: str = Field(min_length=1, max_length=75)
    description: str = Field("", max_length=1000)
    stages: list[Stage] = Field(min_length=1, max_length=MAX_STAGES)
    kpis: list[Line] = Field(default_factory=list, max_length=20)
    review_cadence: dict[Tier, Literal["monthly", "quarterly"]] = Field(
        default_factory=dict,
        description="Service tier (Platinum, Gold, Silver) → how often the client is reviewed.",
    )
    governance: list[Line] = Field(
        default_factory=list, max_length=20, description="Rules that apply to every stage."
    )
    intake: Questionnaire | None = Field(
        None, description="The client intake questionnaire, filled in modals in the channel."
    )

    @model_validator(mode="after")
    def _references(self) -> Playbook:
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        position: dict[str, int] = {}
        gates: dict[str, int] = {}
        for s, stage in enumerate(self.stages):
            if stage.key in position:
                problems.append(
                    (
                        ("stages", s, "key"),
                        f"stage key {stage.key!r} is already used by stage {position[stage.key]}",
                        stage.key,
                    )
                )
            position.setdefault(stage.key, s)
            for g, gate in enumerate(stage.gates):
                if gate.key in gates:
                    problems.append(
                        (
                            ("stages", s, "gates", g, "key"),
                            f"gate key {gate.key!r} is already used in stage {gates[gate.key]}",
                            gate.key,
                        )
                    )
                gates.setdefault(gate.key, s)
        for s, stage in enumerate(self.stages):
            for g, gate in enumerate(stage.gates):
                if gate.on_fail is None:
                    continue
                target = gate.on_fail.back_to
                loc = ("stages", s, "gates", g, "on_fail", "back_to")
                if target not in position:
                    problems.append((loc, f"no stage {target!r} in this playbook", target))
                elif position[target] > s:
                    problems.append(
                        (
                            loc,
                            f"a loop goes back to this stage or an earlier one, not {target!r}",
                            target,
                        )
                    )
        if self.intake is not None:
            if self.intake.stage not in position:
                problems.append(
                    (("intake", "stage"), f"no stage {self.intake.stage!r} in this playbook", "")
                )
            elif self.intake.gate is not None:
                stage_gates = {g.key for g in self.stages[position[self.intake.stage]].gates}
                if self.intake.gate not in stage_gates:
                    problems.append(
                        (
                            ("intake", "gate"),
                            f"no gate {self.intake.gate!r} in stage {self.intake.stage!r} "
                            f"(gates: {', '.join(sorted(stage_gates)) or 'none'})",
                            self.intake.gate,
                        )
                    )
        _refuse("Playbook", problems)
        return self

    def stage(self, key: str) -> Stage:
        """The stage with this key (KeyError when there is none)."""
        for stage in self.stages:
            if stage.key == key:
                return stage
        raise KeyError(key)

    def snapshot(self) -> dict[str, Any]:
        """The playbook as plain JSON, stored with a client so later edits never rewrite it."""
        return self.model_dump(mode="json")


def schema_json() -> dict[str, Any]:
    """The JSON Schema of a playbook file, for editors and `onboard playbook schema`."""
    schema = Playbook.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
