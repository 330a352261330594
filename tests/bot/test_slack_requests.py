"""Slack's form bodies are read exactly as urllib reads them, whatever they hold."""

from __future__ import annotations

import json
import tracemalloc
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard.bot.slack_requests import NotFromSlack, form_fields, parse

FORM = "application/x-www-form-urlencoded"


def urllib_reads(text: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True))


@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_every_encoded_form_reads_back_as_urllib_reads_it(fields: dict[str, str]) -> None:
    text = urllib.parse.urlencode(fields)

    assert form_fields(text) == urllib_reads(text) == fields


@given(st.text(alphabet=st.sampled_from("ab=&%+2Fe9xé \n"), min_size=1))
def test_odd_bodies_read_as_urllib_reads_them_or_fail_as_it_fails(text: str) -> None:
    try:
        expected = urllib_reads(text)
    except ValueError:
        with pytest.raises(ValueError):
            form_fields(text)
    else:
        assert form_fields(text) == expected


def test_a_modal_payload_comes_back_as_its_json() -> None:
    payload = {"type": "view_submission", "view": {"type": "modal", "title": "Ünïcødé & 100%"}}
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    assert parse(FORM, body) == payload


def test_a_command_whose_text_says_payload_is_still_a_command() -> None:
    body = urllib.parse.urlencode({"command": "/onboard", "text": "new payload inc"}).encode()

    assert parse(FORM, body)["text"] == "new payload inc"


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b"command=%2Fonboard", "415 Unsupported Media Type"),
        (FORM, b"payload=%7Bnot+json", "400 Bad Request"),
        (FORM, b"payload=%5B%5D", "400 Bad Request"),
        (FORM, b"text=hello", "400 Bad Request"),
        (FORM, b"command=%2Fonboard&&text=x", "400 Bad Request"),
        (FORM, b"\xff\xfe", "400 Bad Request"),
        ("application/json", b'{"type": "block_actions", "view": "V1"}', "400 Bad Request"),
    ],
)
def test_bodies_slack_never_sends_are_refused(content_type: str, body: bytes, status: str) -> None:
    with pytest.raises(NotFromSlack) as refused:
        parse(content_type, body)

    assert refused.value.status == status


def test_a_long_modal_payload_is_read_in_memory_of_its_own_size() -> None:
    # A regular expression that kept state per character once took 4 MB to read this 48 KB
    # body (90 times its size); the allocator kept such blocks, and `onboard serve` grew.
    payload = {"type": "view_submission", "view": {"type": "modal", "blocks": ["x%y é"] * 2000}}
    text = urllib.parse.urlencode({"payload": json.dumps(payload)})
    tracemalloc.start()
    try:
        fields = form_fields(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert json.loads(fields["payload"]) == payload
    assert peak < 8 * len(text)
