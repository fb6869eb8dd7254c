"""Kubernetes resource quantities ("500m", "4Gi", "1e3") in pure Python.

Owns parsing and printing exactly as k8s.io/apimachinery/pkg/api/resource does, because the
strings we write into custom resources and return to clients are the ones upstream's Go
`resource.Quantity` would marshal: `canonical_quantity("0.5") == "500m"`,
`canonical_quantity("1024Mi") == "1Gi"`. That includes Kubernetes' own corners, kept on purpose:
a string already in canonical form is echoed verbatim (so `"+1"` and `"1E3"` survive), values are
rounded away from zero to whole nano units, binary values are capped at 2^63-1, and a decimal
value beyond the `E` suffix loses its suffix (`"1000E"` prints as `"1"`).
No I/O; invalid input raises `ValueError`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {exponent: suffix for suffix, exponent in _BINARY_SUFFIXES.items()}

# sign, digits, optional fraction, then the suffix characters apimachinery's scanner accepts.
_SYNTAX = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?([eEinumkKMGTP]*[+-]?\d*)", re.ASCII)
_EXPONENT = re.compile(r"[eE]([+-]?\d+)", re.ASCII)
_NANO = -9
_MAX_INT64 = 2**63 - 1
_MAX_DIGITS = 18  # decimal digits an int64 always holds: apimachinery's fast path
_INT32 = 2**31


class Format(Enum):
    """How apimachinery prints a quantity: by the kind of suffix it was written with."""

    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


@dataclass(frozen=True)
class Quantity:
    """An exact value (`units` x 10^`scale`) with the format it prints in.

    `verbatim` is the input when apimachinery would keep it as its printed form.
    """

    units: int
    scale: int
    format: Format
    verbatim: str = ""

    def __str__(self) -> str:
        return self.verbatim or _canonical(self)


def parse_quantity(text: str) -> Quantity:
    """`resource.ParseQuantity`: the same accepted syntax, value and rounding."""
    if text == "0":
        return Quantity(0, 0, Format.DECIMAL_SI, "0")
    match = _SYNTAX.fullmatch(text) if text else None
    if match is None:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    sign, whole, fraction, suffix = match.groups()
    exponent, format = _interpret(suffix, text)
    if not whole and not fraction and not _digitless_is_zero(exponent, format):
        raise ValueError(f"unable to parse numeric part of quantity: {text!r}")
    whole, fraction, negative = whole.lstrip("0") or "0", fraction or "", sign == "-"
    if format is Format.BINARY_SI:
        return _binary(text, negative, whole, fraction, exponent)
    return _decimal(text, negative, whole, fraction, exponent, format)


def canonical_quantity(text: str) -> str:
    """The string Kubernetes stores and prints for `text`, e.g. "0.5" -> "500m"."""
    return str(parse_quantity(text))


def _interpret(suffix: str, text: str) -> tuple[int, Format]:
    """The power (of 10, or of 2 for binary suffixes) a suffix stands for, and the print format."""
    if suffix in _DECIMAL_SUFFIXES:
        return _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    exponent = _EXPONENT.fullmatch(suffix)
    # Go silently wraps an exponent beyond int32 into another number; we refuse it instead.
    if exponent is None or not -_INT32 <= int(exponent.group(1)) < _INT32:
        raise ValueError(f"unable to parse quantity's suffix: {text!r}")
    return int(exponent.group(1)), Format.DECIMAL_EXPONENT


def _digitless_is_zero(exponent: int, format: Format) -> bool:
    """"+", "." or "Ki" read as zero on apimachinery's fast path; its slow path refuses them."""
    if format is Format.BINARY_SI:
        return exponent <= 40
    return exponent >= _NANO


def _decimal(text: str, negative: bool, whole: str, fraction: str, exponent: int,
             format: Format) -> Quantity:
    """Exact unless finer than a nano unit, which rounds away from zero ("1.5n" is 2n)."""
    digits = whole + fraction
    scale = exponent - len(fraction)
    units = int(digits)
    verbatim = ""
    if len(digits) <= _MAX_DIGITS and scale >= _NANO:
        # apimachinery keeps the input string when it is already canonical.
        if scale % 3 == 0 and not digits.endswith("000") and digits[0] != "0":
            verbatim = text
    elif scale < _NANO and units:
        units, scale = _round_up(units, _NANO - scale), _NANO
    return Quantity(-units if negative else units, scale, format, verbatim)


def _binary(text: str, negative: bool, whole: str, fraction: str, exponent: int) -> Quantity:
    """Whole numbers within apimachinery's precision estimate take its exact int64 path;
    the rest is rounded to nano units and capped at 2^63-1 (below 1 it prints in decimal)."""
    if not fraction and len(whole) + exponent * 3 // 10 + 1 <= 15:
        units = int(whole) << exponent
        if units <= _MAX_INT64:
            verbatim = text if int(whole) & 7 else ""
            return Quantity(-units if negative else units, 0, Format.BINARY_SI, verbatim)
    value = Fraction(int(whole + fraction), 10 ** len(fraction)) * 2**exponent
    nanos = value * 10**9
    units = min(-(-nanos.numerator // nanos.denominator), _MAX_INT64 * 10**9)
    format = Format.BINARY_SI if units >= 10**9 else Format.DECIMAL_SI
    return Quantity(-units if negative else units, _NANO, format)


def _round_up(units: int, places: int) -> int:
    """`units` / 10^`places`, rounded away from zero (never to zero)."""
    if places > len(str(units)):
        return 1
    divisor: int = 10**places
    quotient, remainder = divmod(units, divisor)
    return quotient + (1 if remainder else 0)


def _canonical(quantity: Quantity) -> str:
    units, scale, format = quantity.units, quantity.scale, quantity.format
    if units == 0:
        return "0"
    if format is Format.BINARY_SI:
        whole, rest = _as_integer(units, scale)
        if abs(units) < 1024 * 10 ** max(-scale, 0) or rest:
            format = Format.DECIMAL_SI  # small or fractional values print in decimal
        else:
            mantissa, power = _remove_factors(whole, 1024)
            return f"{mantissa}{_BINARY_BY_EXPONENT.get(power * 10, '')}"
    mantissa, power = _remove_factors(units, 10)
    exponent = scale + power
    while exponent % 3:
        mantissa, exponent = mantissa * 10, exponent - 1
    if format is Format.DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_BY_EXPONENT.get(exponent, '')}"


def _as_integer(units: int, scale: int) -> tuple[int, int]:
    """The integer part of units x 10^scale and whether anything was left over (non-zero rest)."""
    if scale >= 0:
        return units * 10**scale, 0
    whole, rest = divmod(abs(units), 10**-scale)
    return (-whole if units < 0 else whole), rest


def _remove_factors(value: int, base: int) -> tuple[int, int]:
    times, magnitude = 0, abs(value)
    while magnitude >= base and magnitude % base == 0:
        magnitude //= base
        times += 1
    return (-magnitude if value < 0 else magnitude), times


def stored_quantity(value: Any) -> str:
    """A quantity read back from Kubernetes, canonical; one we cannot read is passed back as it is."""
    if value is None or value == "":
        return ""
    try:
        return canonical_quantity(str(value))
    except ValueError:
        return str(value)
