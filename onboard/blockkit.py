"""Block Kit checked the way Slack checks it: every block, element, option and text object.

slack_sdk's `validate_json()` checks one object's own fields; `to_dict()` also checks the
elements and composition objects it parsed, but it keeps a static select's options as raw dicts
and knows nothing of several documented rules (text of at least one character, fields that take
plain_text only, initial options that must be among the options). This module runs slack_sdk's
`to_dict()` on each block and adds those rules, each with the page of Slack's reference it
comes from.

The renderer (onboard.messages) refuses to render what fails here and the Slack stand-in
(onboard.standin) refuses it as Slack does. It depends on slack_sdk alone, so both share it
without the bot importing the stand-in or the stand-in importing the bot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

TEXT_TYPES = ("plain_text", "mrkdwn")
MAX_TEXT = 3000
MAX_VIEW_TEXT = 24
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_GROUP_OPTIONS = 100
MAX_CHOICES = {"checkboxes": 10, "radio_buttons": 10}
# Elements whose options are listed in the payload, so initial options can be checked.
LISTED_OPTIONS = ("static_select", "multi_static_select", "checkboxes", "radio_buttons", "overflow")
# Radio buttons and checkboxes are the only elements whose options may use mrkdwn.
MRKDWN_OPTIONS = ("checkboxes", "radio_buttons")
# Not in Slack's reference: chat.postMessage and chat.update answer `msg_blocks_too_long` once
# a message's blocks pass about 13,200 characters, whatever each block's own limit
# (github.com/slackapi/bolt-js/issues/2509, measured there). Their JSON is kept under this.
MAX_MESSAGE_BLOCKS_LENGTH = 12_000


@dataclass(frozen=True)
class Problem:
    """One reason Slack refuses a payload, and where: a JSON pointer into what was sent."""

    message: str
    pointer: str

    def __str__(self) -> str:
        # The shape of Slack's own response_metadata.messages.
        return f"[ERROR] {self.message} [json-pointer:{self.pointer}]"


def block_problems(blocks: Any, pointer: str = "/blocks") -> list[Problem]:
    """Why Slack would refuse these blocks (of a message or a view); empty when it takes them."""
    if not isinstance(blocks, list):
        return [Problem("must provide an array", pointer)]
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, raw in enumerate(blocks):
        where = f"{pointer}/{index}"
        refused = _sdk_refusal(raw, where)
        if refused is not None:
            problems.append(refused)
            continue
        problems += _block(raw, where)
        # "block_id should be unique for each message" (every block's reference page).
        block_id = raw.get("block_id")
        if block_id in seen:
            problems.append(Problem(f"duplicate block_id: {block_id}", f"{where}/block_id"))
        elif block_id is not None:
            seen.add(block_id)
    return problems


def message_too_long(blocks: Any) -> bool:
    """A message whose blocks, each within its limits, Slack still refuses as too long."""
    length = len(json.dumps(blocks, separators=(",", ":"), ensure_ascii=False))
    return length > MAX_MESSAGE_BLOCKS_LENGTH


def view_problems(view: Mapping[str, Any], pointer: str = "/view") -> list[Problem]:
    """Why Slack would refuse this modal or Home tab view; empty when it takes it."""
    blocks = view.get("blocks")
    problems = block_problems(blocks, f"{pointer}/blocks")
    if view.get("type") == "modal":
        # docs.slack.dev/reference/views/modal-views: title (required), submit and close are
        # plain_text of at most 24 characters; submit is required with an input block.
        if not view.get("title"):
            problems.append(Problem("missing required field: title", f"{pointer}/title"))
        for key in ("title", "submit", "close"):
            if view.get(key) is not None:
                problems += _text(view[key], f"{pointer}/{key}", MAX_VIEW_TEXT, plain=True)
        has_input = isinstance(blocks, list) and any(
            isinstance(b, Mapping) and b.get("type") == "input" for b in blocks
        )
        if has_input and not view.get("submit"):
            problems.append(
                Problem("must provide a submit property when using input blocks", pointer)
            )
    if not problems:
        try:
            View(**view).validate_json()  # private_metadata, callback_id, Home without buttons
        except Exception as exc:  # SlackObjectFormationError, or TypeError on odd keys
            problems.append(Problem(str(exc), pointer))
    return problems


def _sdk_refusal(raw: Any, where: str) -> Problem | None:
    """What slack_sdk refuses in the block and everything it parses inside it."""
    if not isinstance(raw, Mapping):
        return Problem(f"unsupported block type: {raw}", where)
    try:
        parsed = Block.parse(dict(raw))
        if parsed is None:
            return Problem(f"unsupported block type: {raw.get('type')}", where)
        parsed.to_dict()  # unlike validate_json(), also validates nested elements
    except Exception as exc:  # SlackObjectFormationError, TypeError, KeyError...
        return Problem(str(exc), where)
    return None


def _block(block: Mapping[str, Any], where: str) -> Iterator[Problem]:
    kind = block.get("type")
    if kind == "header":
        # docs.slack.dev/reference/block-kit/blocks/header-block: plain_text, at most 150.
        yield from _text(block.get("text"), f"{where}/text", 150, plain=True)
    elif kind == "section":
        # docs.slack.dev/reference/block-kit/blocks/section-block: text 1 to 3000 characters;
        # each of the fields at most 2000.
        if "text" in block:
            yield from _text(block["text"], f"{where}/text", MAX_TEXT)
        fields = block.get("fields")
        if isinstance(fields, list):
            for index, field in enumerate(fields):
                yield from _text(field, f"{where}/fields/{index}", 2000)
        if "accessory" in block:
            yield from _element(block["accessory"], f"{where}/accessory")
    elif kind == "context":
        # docs.slack.dev/reference/block-kit/blocks/context-block: image elements and text
        # objects.
        for index, element in enumerate(_list(block.get("elements"))):
            if isinstance(element, Mapping) and element.get("type") in TEXT_TYPES:
                yield from _text(element, f"{where}/elements/{index}", MAX_TEXT)
            else:
                yield from _element(element, f"{where}/elements/{index}")
    elif kind == "actions":
        for index, element in enumerate(_list(block.get("elements"))):
            yield from _element(element, f"{where}/elements/{index}")
    elif kind == "input":
        # docs.slack.dev/reference/block-kit/blocks/input-block: label and hint are
        # plain_text, at most 2000 characters.
        yield from _text(block.get("label"), f"{where}/label", 2000, plain=True)
        if "hint" in block:
            yield from _text(block["hint"], f"{where}/hint", 2000, plain=True)
        yield from _element(block.get("element"), f"{where}/element")


def _element(element: Any, where: str) -> Iterator[Problem]:
    if not isinstance(element, Mapping):
        return
    kind = element.get("type")
    if "placeholder" in element:
        # docs.slack.dev/reference/block-kit/block-elements/select-menu-element (and each
        # input element's page): placeholder is plain_text, at most 150 characters.
        yield from _text(element["placeholder"], f"{where}/placeholder", 150, plain=True)
    if isinstance(element.get("confirm"), Mapping):
        yield from _confirm(element["confirm"], f"{where}/confirm")
    if kind == "button":
        # docs.slack.dev/reference/block-kit/block-elements/button-element: text is
        # plain_text only, at most 75 characters (value and url lengths: slack_sdk).
        yield from _text(element.get("text"), f"{where}/text", MAX_BUTTON_TEXT, plain=True)
    elif kind in LISTED_OPTIONS:
        yield from _options(element, str(kind), where)
    elif kind in ("external_select", "multi_external_select"):
        for key, initial in _initial(element):
            yield from _option(initial, f"{where}/{key}", mrkdwn=False)


def _options(element: Mapping[str, Any], kind: str, where: str) -> Iterator[Problem]:
    """Options of an element that lists them: their number, each option, the initial ones."""
    mrkdwn = kind in MRKDWN_OPTIONS
    listed: list[Any] = []
    groups = element.get("option_groups")
    if isinstance(groups, list):
        # docs.slack.dev/reference/block-kit/composition-objects/option-group-object: label
        # plain_text of at most 75 characters, at most 100 options.
        for g, group in enumerate(groups):
            at = f"{where}/option_groups/{g}"
            if not isinstance(group, Mapping):
                continue
            yield from _text(group.get("label"), f"{at}/label", MAX_OPTION_TEXT, plain=True)
            options = _list(group.get("options"))
            if len(options) > MAX_GROUP_OPTIONS:
                yield Problem(f"no more than {MAX_GROUP_OPTIONS} items allowed", f"{at}/options")
            for index, option in enumerate(options):
                yield from _option(option, f"{at}/options/{index}", mrkdwn)
            listed += options
    options = _list(element.get("options"))
    # docs.slack.dev/reference/block-kit/block-elements/checkboxes-element and
    # .../radio-button-group-element: "A maximum of 10 options are allowed." (Select menus'
    # 100 and overflow's 5: slack_sdk.)
    cap = MAX_CHOICES.get(kind)
    if cap is not None and len(options) > cap:
        yield Problem(f"no more than {cap} items allowed", f"{where}/options")
    for index, option in enumerate(options):
        yield from _option(option, f"{where}/options/{index}", mrkdwn)
    listed += options
    # .../select-menu-element, .../multi-select-menu-element, checkboxes and radio buttons:
    # initial options "exactly match one of the options within options or option_groups".
    for key, initial in _initial(element):
        if not any(_same_option(initial, option) for option in listed):
            yield Problem("must match one of the options", f"{where}/{key}")


def _option(option: Any, where: str, mrkdwn: bool) -> Iterator[Problem]:
    # docs.slack.dev/reference/block-kit/composition-objects/option-object: text at most 75
    # characters, plain_text except in radio buttons and checkboxes; value at most 150;
    # description like text.
    if not isinstance(option, Mapping):
        yield Problem("must provide an object", where)
        return
    yield from _text(option.get("text"), f"{where}/text", MAX_OPTION_TEXT, plain=not mrkdwn)
    value = option.get("value")
    if not isinstance(value, str):
        yield Problem("missing required field: value", f"{where}/value")
    elif len(value) > MAX_OPTION_VALUE:
        yield Problem(f"must be less than {MAX_OPTION_VALUE + 1} characters", f"{where}/value")
    if "description" in option:
        description = option["description"]
        yield from _text(description, f"{where}/description", MAX_OPTION_TEXT, plain=not mrkdwn)


def _confirm(confirm: Mapping[str, Any], where: str) -> Iterator[Problem]:
    # docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object:
    # title (100), confirm and deny (30) are plain_text. Its text (300) may be mrkdwn: the
    # older reference said "a text object" and its example used mrkdwn.
    for key, limit in (("title", 100), ("confirm", 30), ("deny", 30)):
        if key in confirm:
            yield from _text(confirm[key], f"{where}/{key}", limit, plain=True)
    if "text" in confirm:
        yield from _text(confirm["text"], f"{where}/text", 300)


def _text(obj: Any, where: str, limit: int, *, plain: bool = False) -> Iterator[Problem]:
    # docs.slack.dev/reference/block-kit/composition-objects/text-object: plain_text or
    # mrkdwn; text "minimum length is 1 and maximum length is 3000"; emoji only on
    # plain_text, verbatim only on mrkdwn.
    if not isinstance(obj, Mapping) or obj.get("type") not in TEXT_TYPES:
        yield Problem("must provide a text object", where)
        return
    kind = obj["type"]
    if plain and kind != "plain_text":
        yield Problem("must be a plain_text text object", f"{where}/type")
    if "emoji" in obj and kind != "plain_text":
        yield Problem("emoji is only allowed on plain_text", f"{where}/emoji")
    if "verbatim" in obj and kind != "mrkdwn":
        yield Problem("verbatim is only allowed on mrkdwn", f"{where}/verbatim")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        yield Problem("must be more than 0 characters", f"{where}/text")
    elif len(text) > limit:
        yield Problem(f"must be less than {limit + 1} characters", f"{where}/text")


def _initial(element: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    if "initial_option" in element:
        yield "initial_option", element["initial_option"]
    for index, option in enumerate(_list(element.get("initial_options"))):
        yield f"initial_options/{index}", option


def _same_option(a: Any, b: Any) -> bool:
    if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
        return False
    text_a, text_b = a.get("text"), b.get("text")
    if not (isinstance(text_a, Mapping) and isinstance(text_b, Mapping)):
        return False
    return a.get("value") == b.get("value") and (
        (text_a.get("type"), text_a.get("text")) == (text_b.get("type"), text_b.get("text"))
    )


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []
