"""What Slack POSTs to the request URL, read once: checked for shape, then handed to Bolt.

Bolt's WSGI adapter parses every body itself. Decoding a modal's payload (percent-encoded
JSON, often tens of kilobytes) is the largest cost of an ack, so the web layer parses it here,
checks that it is something Slack sends, and gives Bolt the result instead of the text.
This also avoids Bolt's reading of a slash command whose text holds the word "payload" as an
empty request (its parser looks for the word anywhere in the body).
"""

from __future__ import annotations

import binascii
import json
import re
import urllib.parse
from typing import Any

from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context


class NotFromSlack(Exception):
    """The body is not one Slack sends: `status` and `text` for the answer."""

    def __init__(self, status: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _bad() -> NotFromSlack:
    # A new exception each time: a shared one would carry the last request's traceback.
    return NotFromSlack("400 Bad Request", "not a Slack request")


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def parse(content_type: str, body: bytes) -> dict[str, Any]:
    """The request as Bolt reads it (a payload's JSON, or a command's fields); raises
    NotFromSlack when it cannot be one of Slack's."""
    kind = content_type.split(";")[0].strip().lower()
    if kind not in (FORM, JSON):
        raise NotFromSlack("415 Unsupported Media Type", "Slack sends form or JSON bodies")
    try:
        if kind == JSON:
            document = json.loads(body)
        else:
            fields = form_fields(body.decode("utf-8"))
            if "payload" not in fields:
                if "command" in fields or "ssl_check" in fields:
                    return fields
                raise _bad()
            document = json.loads(fields["payload"])
    except (ValueError, UnicodeDecodeError):
        raise _bad() from None
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise _bad()
    view = document.get("view")
    if view is not None and not (isinstance(view, dict) and isinstance(view.get("type"), str)):
        raise _bad()
    return document


# Text urllib's quote_plus (and Slack) would not write: a character outside its alphabet
# (safe characters, "+" for space, %XX escapes) or a "%" that starts no escape. Searched for,
# not the alphabet fullmatched as a repeated group: sre keeps a backtracking mark for each
# repetition, so that match grew a 0.7 MB stack for every 8 KB modal payload, and those
# blocks, freed and made again per ack, fragmented the heap (bench/memory.py).
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9_.~+%-]|%(?![0-9A-Fa-f]{2})")


def form_fields(text: str) -> dict[str, str]:
    """A form body's fields, as `dict(parse_qsl(text, keep_blank_values=True,
    strict_parsing=True))` reads them (a later duplicate wins), only faster."""
    fields: dict[str, str] = {}
    if not text:
        return fields
    for field in text.split("&"):
        name, equals, value = field.partition("=")
        if not equals:
            raise ValueError(f"bad form field: {field[:40]!r}")
        fields[_unquote(name)] = _unquote(value)
    return fields


def _unquote(text: str) -> str:
    """urllib.parse.unquote_plus. Its %XX loop runs in Python, a third of a millisecond for a
    modal's payload; quoted-printable decoding (=XX) is the same work in C, so text in
    quote_plus's alphabet is decoded that way (tests/bot/test_slack_requests.py holds the two
    equal), and anything else by urllib."""
    if "%" not in text or _NOT_PLAIN.search(text):
        return urllib.parse.unquote_plus(text)
    quoted = text.replace("+", " ").replace("%", "=").encode("ascii")
    return binascii.a2b_qp(quoted).decode("utf-8", "replace")


def bolt_request(body: bytes, parsed: dict[str, Any], headers: dict[str, str]) -> BoltRequest:
    """A BoltRequest carrying `parsed` as its body, and the raw text for anything that
    re-reads it. Bolt's copies for lazy listeners parse that text again, with its own parser;
    the bot has no lazy listeners."""
    request = BoltRequest(body="", headers=headers)  # an empty body: nothing is parsed
    request.raw_body = body.decode("utf-8", "replace")  # parse() accepted it: JSON may be UTF-16
    request.body = parsed
    request.context = build_context(BoltContext(), parsed)
    return request
