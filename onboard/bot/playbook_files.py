"""Reading playbook files: the built-in ones, the operator's folder, and file:line errors.

Owns parsing YAML into a validated Playbook and naming the file, line and field of each problem;
the model itself lives in onboard/bot/playbooks.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from onboard.bot.playbooks import AUTHORING, Playbook


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a playbook file, where it is, and what."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class PlaybookError(Exception):
    """A playbook file is malformed; each line of the message is `file:line: field: problem`."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def _field(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int:
    """The 1-based line of the YAML node at `loc`, or of its deepest ancestor that exists."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next((p for p in node.value if str(p[0].value) == str(part)), None)
            if pair is None:
                break
            # The key's line: for a nested block value the value starts on the line below.
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _duplicate_keys(node: yaml.Node, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[str, int]]:
    """Keys written twice in one mapping, which a YAML loader would silently collapse."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield _field((*loc, key)), key_node.start_mark.line + 1
            seen.add(key)
            yield from _duplicate_keys(value_node, (*loc, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, i))


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse(text: str, source: str = "<playbook>") -> Playbook:
    """Validate a playbook's YAML text; `source` names it in every problem reported."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = Problem(source, line, "(yaml)", f"not valid YAML: {exc.problem or exc}")
        raise PlaybookError(str(problem), [problem]) from None
    except yaml.YAMLError as exc:
        problem = Problem(source, 1, "(yaml)", f"not valid YAML: {exc}")
        raise PlaybookError(str(problem), [problem]) from None
    finally:
        loader.dispose()

    try:
        problems = [
            Problem(source, line, field, "this key is written twice")
            for field, line in (_duplicate_keys(root) if root is not None else ())
        ]
        playbook = Playbook.model_validate(data, context={AUTHORING: True})
    except RecursionError:
        # An alias inside its own anchor (`a: &a [*a]`) loads as a structure holding itself.
        reason = "an anchor holds an alias of itself: a playbook cannot be recursive"
        problem = Problem(source, 1, "(yaml)", reason)
        raise PlaybookError(str(problem), [problem]) from None
    except ValidationError as exc:
        problems += [
            Problem(source, _line_of(root, error["loc"]), _field(error["loc"]), _message(error))
            for error in exc.errors()
        ]
    if problems:
        problems.sort(key=lambda p: p.line)
        raise PlaybookError("\n".join(str(p) for p in problems), problems)
    return playbook


def load_file(path: Path | str) -> Playbook:
    """Read and validate one playbook file; PlaybookError names the file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problem = Problem(str(path), 1, "(file)", f"cannot read: {reason}")
        raise PlaybookError(str(problem), [problem]) from None
    return parse(text, str(path))


@cache
def _builtin() -> dict[str, Playbook]:
    folder = resources.files("onboard") / "playbooks"
    found: dict[str, Playbook] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            with resources.as_file(entry) as path:
                playbook = load_file(path)
            found[playbook.key] = playbook
    return found


def operator_playbooks(extra_dir: Path | None) -> dict[str, tuple[Path, Playbook]]:
    """The operator's playbooks in ONBOARD_PLAYBOOK_DIR, each with the file it came from."""
    found: dict[str, tuple[Path, Playbook]] = {}
    if extra_dir is None:
        return found
    if not extra_dir.is_dir():
        # A mistyped path would otherwise drop every playbook of the operator's, silently.
        line = Problem(str(extra_dir), 1, "ONBOARD_PLAYBOOK_DIR", "no such folder")
        raise PlaybookError(str(line), [line])
    paths = sorted([*extra_dir.glob("*.yaml"), *extra_dir.glob("*.yml")])
    for path in paths:
        playbook = load_file(path)
        if playbook.key in found:
            # Two files with one key would make the winner depend on file names: refuse.
            line = Problem(
                str(path), 1, "key", f"{playbook.key!r} is also the key of {found[playbook.key][0]}"
            )
            raise PlaybookError(str(line), [line])
        found[playbook.key] = (path, playbook)
    return found


def available(extra_dir: Path | None = None) -> dict[str, Playbook]:
    """Built-in playbooks, overridden or extended by the operator's folder."""
    found = dict(_builtin())
    for key, (_path, playbook) in operator_playbooks(extra_dir).items():
        found[key] = playbook
    return found
