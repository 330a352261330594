"""Where a client is: IANA timezones, ISO countries and the regions whose public holidays
differ from their country's, for the modal's searchable selects.

Lists come from tzdata (via zoneinfo), pycountry and holidays, so they stay current with the
packages.
"""

from __future__ import annotations

import gettext
import re
import zoneinfo
from functools import cache

import holidays
import pycountry

_LEGACY_PREFIXES = ("Etc/", "SystemV/", "US/", "posix/", "right/", "Canada/", "Mexico/", "Brazil/")
# The subdivision part of an ISO 3166-2 code ("ENG" of "GB-ENG"). `holidays` also has
# pseudo-subdivisions (German "Augsburg", French school "Zone A"): the calendar upper-cases
# what it is given and would quietly fall back to the whole country for those, so they are
# never offered.
_ISO_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")
# Regions are stored in `Client.country`; the longest ISO 3166-2 code is "CC-XXX".
LONGEST_CODE = 10
# Slack shows a modal field's error on a line or two; the CLI prints it as one line too.
_MESSAGE_LIMIT = 150
# Only a code-shaped value is repeated back: anything else could be long or carry markup.
_CODE_SHAPED = re.compile(r"[A-Z0-9 -]{1,16}")


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


def country_of(code: str) -> str:
    """The country part of a client's country or region: "GB-ENG" → "GB", "GB" → "GB"."""
    return code.partition("-")[0]


@cache
def regions() -> dict[str, str]:
    """ISO 3166-2 code → "Country — Region", for each region `holidays` has a calendar of.

    Named in English by pycountry's translations, with the local name beside it when that
    differs ("Germany — Bavaria / Bayern"), so either finds it.
    """
    english = gettext.translation("iso3166-2", pycountry.LOCALES_DIR, languages=["en"])
    known = countries()
    found: dict[str, str] = {}
    supported = holidays.list_supported_countries(include_aliases=False)
    for country, subdivisions in sorted(supported.items()):
        if country not in known:
            continue
        aliases: dict[str, list[str]] | None = None
        for subdivision in subdivisions:
            if not _ISO_SUBDIVISION.fullmatch(subdivision):
                continue
            code = f"{country}-{subdivision}"
            iso = pycountry.subdivisions.get(code=code)
            if iso is not None:
                names = [english.gettext(iso.name), iso.name]
            else:
                # Newer than pycountry (Norway's 2024 counties, Bonaire): holidays' own names.
                if aliases is None:
                    calendar = holidays.country_holidays(country, years=[])
                    aliases = calendar.get_subdivision_aliases()
                names = aliases.get(subdivision, [])
            if names:
                found[code] = f"{known[country]} — {' / '.join(dict.fromkeys(names))}"
    return found


@cache
def _holiday_regions() -> dict[str, tuple[str, ...]]:
    """Each country code `holidays` has a calendar of → its ISO subdivisions, sorted.

    Aliases count ("GBR", "UK"): the calendar reads them as the country itself.
    """
    supported = holidays.list_supported_countries(include_aliases=True)
    return {
        country: tuple(sorted(s for s in subdivisions if _ISO_SUBDIVISION.fullmatch(s)))
        for country, subdivisions in supported.items()
    }


def region_problem(code: str) -> str | None:
    """Why the holiday calendar would not use `code`'s own public holidays; None when it would.

    `code` is read as BusinessCalendar reads it, trimmed and upper-cased. The calendar quietly
    falls back for rows already stored (an unknown region to its country's holidays, an
    unknown country to weekends only); a code someone gives now is checked here instead, so
    they are told. The message names what is wrong and what is accepted, in at most 150
    characters (a Slack modal field error).
    """
    region = code.strip().upper()
    if not _CODE_SHAPED.fullmatch(region):
        return "Not a country or region code: use an ISO 3166 code such as GB, or GB-ENG."
    country, dash, subdivision = region.partition("-")
    known = _holiday_regions()
    if country not in known:
        return (
            f"{region}: no public holidays known for country {country}; "
            "use an ISO 3166 code such as GB, or GB-ENG."
        )
    subdivisions = known[country]
    if not dash or subdivision in subdivisions:
        return None
    if not subdivisions:
        return f"{region}: {country} has no regions with their own holidays; use {country}."
    if subdivision:
        head = f"{region}: {country} has no region {subdivision}; known: "
    else:
        head = f"{region}: no region after {country}-; known: "
    return _shortened(head, [f"{country}-{s}" for s in subdivisions])


def _shortened(head: str, codes: list[str]) -> str:
    """`head` and as many of `codes` as fit in the message limit, counting the rest."""
    whole = head + ", ".join(codes)
    if len(whole) <= _MESSAGE_LIMIT:
        return whole
    for shown in range(len(codes) - 1, 0, -1):
        text = f"{head}{', '.join(codes[:shown])} and {len(codes) - shown} more"
        if len(text) <= _MESSAGE_LIMIT:
            return text
    return f"{head}{len(codes)} regions"


@cache
def client_places() -> dict[str, str]:
    """What the New client form accepts as its country: each country, and each region."""
    return countries() | regions()


def search(options: list[tuple[str, str]], query: str, limit: int = 100) -> list[tuple[str, str]]:
    """Options whose label or value contains every word of the query.

    The option whose code was typed ("GB", and its regions "GB-…") comes first, then those
    whose label starts with the first word.
    """
    words = query.lower().replace("_", " ").split()
    hits = [
        (value, label)
        for value, label in options
        if all(w in f"{label} {value}".lower().replace("_", " ") for w in words)
    ]
    typed = query.strip().lower()
    first = words[0] if words else ""

    def rank(option: tuple[str, str]) -> tuple[bool, bool, str]:
        value, label = option[0].lower(), option[1]
        code = bool(typed) and (value == typed or value.startswith(f"{typed}-"))
        return (not code, not label.lower().startswith(first), label)

    hits.sort(key=rank)
    return hits[:limit]


def timezone_options(query: str) -> list[tuple[str, str]]:
    return search([(tz, tz.replace("_", " ")) for tz in timezones()], query)


@cache
def _labelled(with_regions: bool) -> list[tuple[str, str]]:
    named = client_places() if with_regions else countries()
    return [(code, f"{name} ({code})") for code, name in named.items()]


def country_options(query: str, *, with_regions: bool = False) -> list[tuple[str, str]]:
    """Countries matching the query; with their regions too where a client's holidays count."""
    return search(_labelled(with_regions), query)
