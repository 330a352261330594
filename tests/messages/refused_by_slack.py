"""Payloads Slack refuses although each block's own fields are fine: the fault is in an element,
an option or a text object inside it. Shared by the renderer's and the stand-in's tests, which
must both refuse them, naming where (a JSON pointer, as Slack's response_metadata does)."""

from __future__ import annotations

from typing import Any

Payload = list[dict[str, Any]]


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def option(i: int | str, text: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"text": text or plain(f"Option {i}"), "value": str(i)}


def button(**fields: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": "go", "text": plain("Go")} | fields


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def beside(accessory: dict[str, Any]) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn("Pick one"), "accessory": accessory}


def select(**fields: Any) -> dict[str, Any]:
    return {"type": "static_select", "action_id": "pick", "options": [option(1)]} | fields


def choices(kind: str, count: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "action_id": "pick",
        "options": [option(i) for i in range(count)],
    } | fields


def field(element: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "input", "block_id": "f", "label": plain("Field"), "element": element} | fields


TEXT_INPUT = {"type": "plain_text_input", "action_id": "typed"}

# name: (blocks of a message, where Slack says the fault is: the block itself where slack_sdk's
# checks of the elements it parses find it)
REFUSED_IN_MESSAGES: dict[str, tuple[Payload, str]] = {
    # text objects: "The minimum length is 1" (composition-objects/text-object)
    "a header of no text": ([{"type": "header", "text": plain("")}], "/blocks/0/text/text"),
    "a section of no text": ([{"type": "section", "text": mrkdwn("")}], "/blocks/0/text/text"),
    "a context line of no text": (
        [{"type": "context", "elements": [mrkdwn("")]}],
        "/blocks/0/elements/0/text",
    ),
    # header: plain_text only (blocks/header-block)
    "a header in mrkdwn": ([{"type": "header", "text": mrkdwn("Hi")}], "/blocks/0/text/type"),
    # section: each field at most 2000 characters (blocks/section-block)
    "a field of 2001 characters": (
        [{"type": "section", "fields": [mrkdwn("x" * 2001)]}],
        "/blocks/0/fields/0/text",
    ),
    # button: plain_text of at most 75 characters, value at most 2000 (button-element)
    "a button of 76 characters": ([actions(button(text=plain("x" * 76)))], "/blocks/0"),
    "a button in mrkdwn": ([actions(button(text=mrkdwn("Go")))], "/blocks/0/elements/0/text/type"),
    "a button value of 2001 characters": ([actions(button(value="v" * 2001))], "/blocks/0"),
    # confirm dialog: title plain_text (composition-objects/confirmation-dialog-object)
    "a confirm title in mrkdwn": (
        [
            actions(
                button(
                    confirm={
                        "title": mrkdwn("Sure?"),
                        "text": mrkdwn("It is recorded."),
                        "confirm": plain("Yes"),
                        "deny": plain("No"),
                    }
                )
            )
        ],
        "/blocks/0/elements/0/confirm/title/type",
    ),
    # checkboxes and radio buttons: at most 10 options (checkboxes-element,
    # radio-button-group-element); overflow: at most 5 (overflow-menu-element)
    "11 checkboxes": ([actions(choices("checkboxes", 11))], "/blocks/0/elements/0/options"),
    "11 radio buttons": ([actions(choices("radio_buttons", 11))], "/blocks/0/elements/0/options"),
    "an overflow menu of 6 options": ([beside(choices("overflow", 6))], "/blocks/0"),
    # option: text plain_text (but in checkboxes and radio buttons) of at most 75 characters,
    # value at most 150 (composition-objects/option-object)
    "an option of 76 characters": (
        [beside(select(options=[option(1, plain("x" * 76))]))],
        "/blocks/0/accessory/options/0/text/text",
    ),
    "an option value of 151 characters": (
        [beside(select(options=[{"text": plain("One"), "value": "v" * 151}]))],
        "/blocks/0/accessory/options/0/value",
    ),
    "a menu option in mrkdwn": (
        [beside(select(options=[option(1, mrkdwn("*One*"))]))],
        "/blocks/0/accessory/options/0/text/type",
    ),
    # option group: label plain_text of at most 75 characters (option-group-object)
    "an option group label of 76 characters": (
        [
            beside(
                {
                    "type": "static_select",
                    "action_id": "pick",
                    "option_groups": [{"label": plain("x" * 76), "options": [option(1)]}],
                }
            )
        ],
        "/blocks/0/accessory/option_groups/0/label/text",
    ),
    # placeholder: plain_text (select-menu-element)
    "a menu placeholder in mrkdwn": (
        [beside(select(placeholder=mrkdwn("Pick")))],
        "/blocks/0/accessory/placeholder/type",
    ),
    # initial options "exactly match one of the options" (select-menu-element,
    # checkboxes-element, radio-button-group-element)
    "an initial option that is not an option": (
        [beside(select(initial_option=option(2)))],
        "/blocks/0/accessory/initial_option",
    ),
    "a ticked checkbox that is not an option": (
        [actions(choices("checkboxes", 3, initial_options=[option(1), option(7)]))],
        "/blocks/0/elements/0/initial_options/1",
    ),
}

# name: (blocks of a modal, where Slack says the fault is). Input blocks belong in views.
REFUSED_IN_VIEWS: dict[str, tuple[Payload, str]] = {
    # input: label and hint plain_text (blocks/input-block)
    "an input label in mrkdwn": (
        [field(TEXT_INPUT, label=mrkdwn("*Name*"))],
        "/view/blocks/0/label/type",
    ),
    "an input hint in mrkdwn": (
        [field(TEXT_INPUT, hint=mrkdwn("_As on the contract_"))],
        "/view/blocks/0/hint/type",
    ),
    "a selected radio button that is not an option": (
        [field(choices("radio_buttons", 2, initial_option=option(5)))],
        "/view/blocks/0/element/initial_option",
    ),
}

# What Slack takes, at each limit above: the checks must not refuse it.
TAKEN_BY_SLACK: Payload = [
    {"type": "header", "text": plain("x" * 150)},
    # Ten fields, one at its 2,000 characters: ten at theirs would pass what a message's
    # blocks may hold in all (MESSAGE_TOO_LONG).
    {"type": "section", "fields": [mrkdwn("x" * 2000)] + [mrkdwn("x")] * 9},
    actions(
        button(text=plain("x" * 75), value="v" * 2000),
        choices("checkboxes", 10, initial_options=[option(9)]),
        choices("radio_buttons", 10, initial_option=option(0)),
        choices("overflow", 1),
    ),
    beside(choices("overflow", 5)),
    actions(
        {
            "type": "checkboxes",
            "action_id": "tick",
            "options": [option(1, mrkdwn("*Bold* task")) | {"description": mrkdwn("_why_")}],
        }
    ),
    beside(
        select(
            options=[option(1, plain("x" * 75)), {"text": plain("Two"), "value": "v" * 150}],
            initial_option={"text": plain("Two"), "value": "v" * 150},
            placeholder=plain("x" * 150),
        )
    ),
    beside(
        {
            "type": "multi_static_select",
            "action_id": "many",
            "option_groups": [{"label": plain("x" * 75), "options": [option(1), option(2)]}],
            "initial_options": [option(2)],
        }
    ),
]

# Every block within its own limits, the message's blocks over what Slack takes in all
# (msg_blocks_too_long: github.com/slackapi/bolt-js/issues/2509 measured about 13,200).
MESSAGE_TOO_LONG: Payload = [{"type": "section", "text": mrkdwn("x" * 2900)}] * 5
