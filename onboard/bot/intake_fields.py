"""Intake answers: checking each one against its question, refusing secrets, showing them back.

Pure functions: no database and no Slack, so every rule can be tested on its own.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

import phonenumbers
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.keyword import REGEX_BY_FILETYPE, KeywordDetector
from detect_secrets.util.filetype import FileType
from email_validator import EmailNotValidError, validate_email

from onboard.bot import places
from onboard.bot.playbooks import Question

_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
_FILE = re.compile(r"F[A-Z0-9]{2,30}")
YES, NO = "yes", "no"

REQUIRED = "Please answer this one: it is required."
SECRET = (
    "This looks like a password, key or token, so it was not saved. Never paste secrets here: "
    "invite our account or share access through a password manager, then say so here."
)


@dataclass(frozen=True)
class Checked:
    """One answer after checking: the value to store (None: no answer) or what to fix."""

    value: Any = None
    error: str | None = None


def is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | dict):
        return not raw
    return False


def check(question: Question, raw: Any, *, country: str = "") -> Checked:
    """Check one raw form value; `country` (the client's) reads phone numbers without +."""
    if is_empty(raw):
        return Checked(None, REQUIRED if question.required else None)
    try:
        value = _CHECKS[question.kind](question, raw, country)
    except _Wrong as wrong:
        return Checked(None, str(wrong))
    return Checked(value)


class _Wrong(ValueError):
    """The answer cannot be stored; the message says how to fix it."""


def _text(question: Question, raw: Any, _country: str) -> str:
    if not isinstance(raw, str):
        raise _Wrong("Type your answer as text.")
    text = raw.strip() if question.kind == "long_text" else " ".join(raw.split())
    if len(text) > question.text_limit:
        raise _Wrong(f"Keep it under {question.text_limit:,} characters (this has {len(text):,}).")
    _refuse_secrets(text, strict=question.credential)
    return text


def _email(_question: Question, raw: Any, _country: str) -> str:
    try:
        return validate_email(str(raw).strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise _Wrong("Enter an email address like name@company.com.") from None


def _url(_question: Question, raw: Any, _country: str) -> str:
    link = str(raw).strip()
    try:
        parts = urllib.parse.urlsplit(link)
    except ValueError:  # "https://[tenant].example": brackets are for IPv6 addresses only
        raise _Wrong("Enter a full link starting with https://") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in link:
        raise _Wrong("Enter a full link starting with https://")
    if len(link) > 3000:
        raise _Wrong("Keep the link under 3,000 characters.")
    _refuse_secrets(link, strict=False)
    return link


def _number(question: Question, raw: Any, _country: str) -> int | float:
    text = str(raw).strip().replace(",", "")
    try:
        number = float(text)
    except ValueError:
        raise _Wrong("Enter a number, e.g. 42.") from None
    if not math.isfinite(number):
        raise _Wrong("Enter a number, e.g. 42.")
    if not question.decimal and not number.is_integer():
        raise _Wrong("Enter a whole number.")
    low, high = question.min, question.max
    if (low is not None and number < low) or (high is not None and number > high):
        raise _Wrong(f"Enter a number {_range(low, high)}.")
    return int(number) if number.is_integer() and not question.decimal else number


def _range(low: float | None, high: float | None) -> str:
    def shown(n: float) -> str:
        return f"{int(n):,}" if float(n).is_integer() else f"{n:,}"

    if low is not None and high is not None:
        return f"from {shown(low)} to {shown(high)}"
    return f"of at least {shown(low)}" if low is not None else f"of at most {shown(high or 0)}"


def _date(_question: Question, raw: Any, _country: str) -> str:
    try:
        return dt.date.fromisoformat(str(raw)).isoformat()
    except ValueError:
        raise _Wrong("Pick a date from the calendar.") from None


def _single(question: Question, raw: Any, _country: str) -> str:
    if raw not in question.options:
        raise _Wrong("Choose one of the options listed.")
    return str(raw)


def _multi(question: Question, raw: Any, _country: str) -> list[str]:
    chosen = raw if isinstance(raw, list) else [raw]
    if any(c not in question.options for c in chosen):
        raise _Wrong("Choose from the options listed.")
    return [o for o in question.options if o in chosen]  # the playbook's order, once each


def _user(_question: Question, raw: Any, _country: str) -> str:
    if not isinstance(raw, str) or not _USER.fullmatch(raw):
        raise _Wrong("Choose a person from the list.")
    return raw


def _files(question: Question, raw: Any, _country: str) -> list[dict[str, str]]:
    files = raw if isinstance(raw, list) else [raw]
    kept = []
    for item in files:
        file_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(file_id, str) or not _FILE.fullmatch(file_id):
            raise _Wrong("Upload the file again: Slack did not pass it on.")
        kept.append({"id": file_id, "name": str(item.get("name") or file_id)[:255]})
    if len(kept) > question.max_files:
        raise _Wrong(f"Upload at most {question.max_files} files here.")
    return kept


def _yes_no(_question: Question, raw: Any, _country: str) -> bool:
    if raw not in (YES, NO):
        raise _Wrong("Choose Yes or No.")
    return raw == YES


def _phone(_question: Question, raw: Any, country: str) -> str:
    text = str(raw).strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else (country or None))
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise _Wrong("Enter the number with its country code, e.g. +44 20 7946 0958.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _country(_question: Question, raw: Any, _country: str) -> str:
    if raw not in places.countries():
        raise _Wrong("Choose a country from the list.")
    return str(raw)


def _timezone(_question: Question, raw: Any, _country: str) -> str:
    if raw not in places.timezones():
        raise _Wrong("Choose a timezone from the list, e.g. Europe/London.")
    return str(raw)


_CHECKS = {
    "text": _text,
    "long_text": _text,
    "email": _email,
    "url": _url,
    "number": _number,
    "date": _date,
    "single_choice": _single,
    "multi_choice": _multi,
    "user": _user,
    "file": _files,
    "yes_no": _yes_no,
    "phone": _phone,
    "country": _country,
    "timezone": _timezone,
}


# -- secrets ------------------------------------------------------------------------------------

# detect-secrets' own entropy plugins flag ordinary words when run on free text, and a public
# IP address is not a secret: those are left out, and our entropy check below replaces them.
_NOT_USED = {"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"}
_KEYWORD_RULES = REGEX_BY_FILETYPE[FileType.YAML]  # `password: x` and `api_key=x`, unquoted
_SAYS_PASSWORD = re.compile(
    r"\b(?:pass(?:word|wd|phrase|code)?|pwd|secret|api[ _-]?key|access[ _-]?key|token|pin)"
    r"\s*(?:[:=]|\bis\b)\s*(\S{4,})",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~!@#$%^&*]{20,}")
_LINK = re.compile(r"https?://\S+")
_SENSITIVE_PARAM = re.compile(
    r"(token|key|secret|sig|signature|password|passwd|pwd|auth|credential)", re.IGNORECASE
)
# A part of a hyphenated or dotted token that reads as a word, a product name or a short code.
_WORDLIKE = re.compile(
    r"[A-Z]?[a-z]+\d{0,4}|[A-Z0-9]{1,8}|[A-Z]{1,5}\d{0,2}|\d{1,4}|[A-Za-z]\d{1,2}|[A-Za-z0-9]{1,3}"
)
_PASSWORDISH = re.compile(r"(?=.*[A-Za-z])(?=.*\d)(?=.*[^A-Za-z0-9\s])\S{8,}")


@cache
def _detectors() -> tuple[Any, ...]:
    found = []
    for plugin in get_mapping_from_secret_type_to_class().values():
        if plugin.__name__ in _NOT_USED or plugin is KeywordDetector:
            continue
        found.append(plugin())
    return tuple(found)


def looks_secret(text: str, *, strict: bool = False) -> bool:
    """True when `text` holds something like a password, key or token.

    detect-secrets' detectors (AWS, Slack, GitHub, Stripe, JWT, private keys, basic auth in
    links...), its keyword rule, a "password is …" rule, and high-entropy strings outside
    ordinary links. `strict` (a question about access) also refuses any password-like word.
    """
    if any(True for detector in _detectors() for _ in detector.analyze_string(text)):
        return True
    keyword = KeywordDetector()
    if any(
        _has_password_shape(found)
        for found in keyword.analyze_string(text, denylist_regex_to_group=_KEYWORD_RULES)
    ):
        return True
    if any(_has_password_shape(m.group(1)) for m in _SAYS_PASSWORD.finditer(text)):
        return True
    if any(_random_looking(token) for token in _TOKEN.findall(_LINK.sub(" ", text))):
        return True
    if any(_link_carries_secret(link) for link in _LINK.findall(text)):
        return True
    return strict and any(_PASSWORDISH.fullmatch(word) for word in text.split())


def _has_password_shape(value: str) -> bool:
    # "password is shared in 1Password" names a tool; "password: hunter2" gives one away.
    value = value.strip("\"'`.,;")
    return len(value) >= 4 and (
        any(c.isdigit() for c in value)
        or any(not c.isalnum() for c in value)
        or (value != value.lower() and value != value.capitalize())
    )


def entropy(token: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def _random_looking(token: str) -> bool:
    token = token.strip(".-_~")
    if len(token) < 20 or "@" in token.strip("@"):
        return False
    classes = sum(
        (
            any(c.islower() for c in token),
            any(c.isupper() for c in token),
            any(c.isdigit() for c in token),
            any(not c.isalnum() for c in token),
        )
    )
    if all(_WORDLIKE.fullmatch(part) for part in re.split(r"[-_./+~]+", token) if part):
        return False  # "Microsoft365-E5-licences-for-everyone" is words, not a key
    hexadecimal = all(c in "0123456789abcdefABCDEF" for c in token)
    if hexadecimal:
        return len(token) >= 32 and entropy(token) >= 3.0
    return classes >= 3 and entropy(token) >= (3.5 if len(token) < 32 else 3.2)


def _link_carries_secret(link: str) -> bool:
    # A shared-folder link's long ID is expected; a token in its query string is not.
    try:
        parts = urllib.parse.urlsplit(link)
    except ValueError:  # not a link after all ("https://[tenant]…" in a sentence)
        return False
    if parts.password:
        return True  # https://user:password@host, whatever characters the password uses
    query = urllib.parse.parse_qsl(parts.query)
    return any(_SENSITIVE_PARAM.search(name) and len(value) >= 8 for name, value in query)


def _refuse_secrets(text: str, *, strict: bool) -> None:
    if looks_secret(text, strict=strict):
        raise _Wrong(SECRET)


# -- showing answers ----------------------------------------------------------------------------


def shown(question: Question, value: Any) -> str:
    """An answer as people read it (plain text: the renderer escapes it)."""
    if value is None:
        return ""
    if question.kind == "yes_no":
        return "Yes" if value else "No"
    if question.kind == "multi_choice":
        return ", ".join(value)
    if question.kind == "file":
        return ", ".join(f["name"] for f in value)
    if question.kind == "country":
        return places.countries().get(value, value)
    if question.kind == "number":
        return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
    if question.kind == "date":
        return dt.date.fromisoformat(value).strftime("%-d %b %Y")
    return str(value)


def flat(question: Question, value: Any) -> str:
    """An answer in one CSV cell."""
    if value is None:
        return ""
    if question.kind == "user":
        return str(value)
    if question.kind == "file":
        return "; ".join(f"{f['name']} ({f['id']})" for f in value)
    if question.kind == "multi_choice":
        return "; ".join(value)
    if question.kind == "yes_no":
        return "yes" if value else "no"
    return str(value)
