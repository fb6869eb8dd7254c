"""Cron schedules as the KubeRay operator reads a RayCronJob's: robfig/cron v3's `ParseStandard`
(github.com/robfig/cron/v3@v3.0.1, parser.go and spec.go), rule for rule, so that a schedule
accepted here is one the operator schedules, and one refused is one it would only have reported
in a Warning event.

Kept from robfig: five fields (minute, hour, day of month, month, day of week) split on white
space; each a comma list (empty items skipped) of `*`, `?`, `n`, `a-b`, each with an optional
`/step`; `n/step` runs from n to the field's maximum; `*` or `?` before a `-` ignores what follows
it; numbers are Go's `strconv.Atoi` (an optional sign, ASCII digits, 64 bits); month and weekday
names (three letters, any case); the descriptors `@yearly`, `@annually`, `@monthly`, `@weekly`,
`@daily`, `@midnight`, `@hourly` and `@every <Go duration>`, matched exactly.
Ours on top: a `CRON_TZ=` or `TZ=` prefix is refused (the API's `timeZone` writes it), and an
`@every` duration must be positive (robfig would silently run it every second).
Pure: no I/O, no clock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.translate.cronjobs import ZONE_PREFIXES

DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
EVERY = "@every "

_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


@dataclass(frozen=True)
class Bounds:
    field: str  # its name in messages
    low: int
    high: int
    names: dict[str, int] | None = None


FIELDS = (
    Bounds("minute", 0, 59),
    Bounds("hour", 0, 23),
    Bounds("day of month", 1, 31),
    Bounds("month", 1, 12, _MONTHS),
    Bounds("day of week", 0, 6, _WEEKDAYS),
)

_INT64 = 2**63 - 1
_ATOI = re.compile(r"[+-]?[0-9]+")
_GO_SPACE_EXCLUDED = frozenset("\x1c\x1d\x1e\x1f")  # white space to Python, not to Go's unicode.IsSpace


class ScheduleError(ValueError):
    """Why a schedule is not one the operator accepts."""


def parse_schedule(schedule: str) -> None:
    """Raises `ScheduleError` unless robfig's `ParseStandard` accepts `schedule` (our two rules aside)."""
    if not schedule:
        raise ScheduleError("it is empty")
    if schedule.startswith(ZONE_PREFIXES):
        raise ScheduleError("it carries its own time zone prefix (CRON_TZ= or TZ=); give the zone in timeZone instead")
    if schedule.startswith("@"):
        _descriptor(schedule)
        return
    fields = _go_fields(schedule)
    if len(fields) != len(FIELDS):
        raise ScheduleError(f"expected exactly {len(FIELDS)} fields (minute, hour, day of month, month, "
                            f"day of week), found {len(fields)}")
    for text, bounds in zip(fields, FIELDS, strict=True):
        for expression in filter(None, text.split(",")):
            _range(expression, bounds)


def _go_fields(text: str) -> list[str]:
    """Go's strings.Fields: split on Unicode white space as Go defines it."""
    fields: list[str] = []
    current: list[str] = []
    for char in text:
        if char.isspace() and char not in _GO_SPACE_EXCLUDED:
            if current:
                fields.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        fields.append("".join(current))
    return fields


def _descriptor(schedule: str) -> None:
    if schedule in DESCRIPTORS:
        return
    if schedule.startswith(EVERY):
        text = schedule[len(EVERY):]
        try:
            nanoseconds = go_duration(text)
        except ValueError as exc:
            raise ScheduleError(f"the duration of @every is not a Go duration such as 1h30m: {exc}") from None
        if nanoseconds <= 0:
            raise ScheduleError(f"the duration of @every must be positive, not {text}")
        return
    raise ScheduleError(f"unrecognized descriptor {schedule}: use @yearly, @annually, @monthly, @weekly, @daily, "
                        "@midnight, @hourly or @every <duration>")


def _range(expression: str, bounds: Bounds) -> None:
    """robfig's getRange: number | number "-" number [ "/" number ], or `*` / `?`."""
    where = f"{bounds.field} {expression!r}"
    range_and_step = expression.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = bounds.low, bounds.high
    else:
        start = _int_or_name(low_and_high[0], bounds, where)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], bounds, where)
        else:
            raise ScheduleError(f"{where}: too many hyphens")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _atoi(range_and_step[1], where)
        if single:  # "n/step" is "n-max/step"
            end = bounds.high
    else:
        raise ScheduleError(f"{where}: too many slashes")
    if start < bounds.low:
        raise ScheduleError(f"{where}: {start} is below the minimum {bounds.low}")
    if end > bounds.high:
        raise ScheduleError(f"{where}: {end} is above the maximum {bounds.high}")
    if start > end:
        raise ScheduleError(f"{where}: the range starts ({start}) after it ends ({end})")
    if step == 0:
        raise ScheduleError(f"{where}: the step must be a positive number")


def _int_or_name(text: str, bounds: Bounds, where: str) -> int:
    if bounds.names is not None and text.lower() in bounds.names:
        return bounds.names[text.lower()]
    return _atoi(text, where)


def _atoi(text: str, where: str) -> int:
    """Go's strconv.Atoi, then robfig's refusal of a negative number."""
    if not _ATOI.fullmatch(text) or not -_INT64 - 1 <= int(text) <= _INT64:
        raise ScheduleError(f"{where}: {text!r} is not a number")
    number = int(text)
    if number < 0:
        raise ScheduleError(f"{where}: negative number {number} not allowed")
    return number


# Go's time.ParseDuration: units and their length in nanoseconds.
_UNITS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9,
          "m": 60 * 10**9, "h": 3600 * 10**9}
_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: `[-+]` then one or more decimal numbers, each
    with a unit (ns, us, µs, ms, s, m, h), or "0"; raises ValueError as Go would refuse it."""
    rest = text
    sign = 1
    if rest[:1] in ("-", "+"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    while rest:
        match = _COMPONENT.match(rest)
        whole, fraction, unit = (match.group(1), match.group(2), match.group(3)) if match else ("", None, "")
        if not whole and not fraction:
            raise ValueError(f"invalid duration {text!r}")
        if not unit:
            raise ValueError(f"missing unit in duration {text!r}")
        # the unit runs up to the next digit or '.'
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if fraction:
            value += int(fraction) * scale // 10 ** len(fraction)
        total += value
        if total > 2**63:  # Go refuses anything past its int64 (allowing -2^63 exactly)
            raise ValueError(f"invalid duration {text!r}")
        rest = rest[match.end():] if match else ""
    if total > _INT64 and sign == 1:
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def check_zone(zone: str) -> None:
    """Raises ScheduleError unless `zone` is an IANA time zone name (Go's time.LoadLocation on a
    zone database), such as `Europe/Paris` or `UTC`."""
    if zone != zone.strip() or not zone or any(char.isspace() for char in zone) or zone == "Local":
        raise ScheduleError(f"{zone!r} is not an IANA time zone name such as Europe/Paris")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"{zone!r} is not an IANA time zone name such as Europe/Paris") from None
