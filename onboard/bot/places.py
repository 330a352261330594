"""Where a client is: IANA timezones and ISO countries, for the modal's searchable selects.

Lists come from tzdata (via zoneinfo) and pycountry, so they stay current with the packages.
"""

from __future__ import annotations

import zoneinfo
from functools import cache

import pycountry

_LEGACY_PREFIXES = ("Etc/", "SystemV/", "US/", "posix/", "right/", "Canada/", "Mexico/", "Brazil/")


@cache
def timezones() -> tuple[str, ...]:
    names = {
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(_LEGACY_PREFIXES)
    }
    return tuple(sorted(names | {"UTC"}))


@cache
def countries() -> dict[str, str]:
    """ISO 3166 alpha-2 code → common name."""
    return {
        c.alpha_2: getattr(c, "common_name", None) or c.name
        for c in sorted(pycountry.countries, key=lambda c: c.name)
    }


def search(options: list[tuple[str, str]], query: str, limit: int = 100) -> list[tuple[str, str]]:
    """Options whose label or value contains every word of the query; best (prefix) first."""
    words = query.lower().replace("_", " ").split()
    hits = [
        (value, label)
        for value, label in options
        if all(w in f"{label} {value}".lower().replace("_", " ") for w in words)
    ]
    first = words[0] if words else ""
    hits.sort(key=lambda o: (not o[1].lower().startswith(first), o[1]))
    return hits[:limit]


def timezone_options(query: str) -> list[tuple[str, str]]:
    return search([(tz, tz.replace("_", " ")) for tz in timezones()], query)


def country_options(query: str) -> list[tuple[str, str]]:
    return search([(code, f"{name} ({code})") for code, name in countries().items()], query)
