"""Playbooks: the onboarding process as data (YAML validated by pydantic).

Built-in playbooks ship in onboard/playbooks/; operators add theirs in ONBOARD_PLAYBOOK_DIR.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_PLAYBOOK = "managed-services"


class PlaybookError(Exception):
    """A playbook file is malformed; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(_Strict):
    min: int = Field(ge=0)
    max: int = Field(ge=0)


class Task(_Strict):
    title: str = Field(min_length=1, max_length=200)
    owner: str = Field(min_length=1, max_length=80)
    due_day: int = Field(ge=0, description="Business days after the stage starts")


class Gate(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=150)


class Stage(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=100)
    objective: str = Field(min_length=1, max_length=500)
    owner: str = Field(min_length=1, max_length=80)
    duration_days: Duration
    tasks: list[Task] = []
    gates: list[Gate] = []


class Playbook(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=75)
    description: str = ""
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_stage_keys(self) -> Playbook:
        keys = [stage.key for stage in self.stages]
        if len(keys) != len(set(keys)):
            raise ValueError("stage keys must be unique")
        return self

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_file(path: Path) -> Playbook:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Playbook.model_validate(data)
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        raise PlaybookError(f"{path}: {field}: {error['msg']}") from None


@cache
def _builtin() -> dict[str, Playbook]:
    folder = resources.files("onboard") / "playbooks"
    found: dict[str, Playbook] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            with resources.as_file(entry) as path:
                playbook = load_file(path)
            found[playbook.key] = playbook
    return found


def available(extra_dir: Path | None = None) -> dict[str, Playbook]:
    """Built-in playbooks, overridden or extended by the operator's folder."""
    found = dict(_builtin())
    if extra_dir is not None and extra_dir.is_dir():
        for path in sorted(extra_dir.glob("*.yaml")):
            playbook = load_file(path)
            found[playbook.key] = playbook
    return found
