"""Quantities print exactly as Kubernetes prints them.

Every row was produced by k8s.io/apimachinery v0.37.2: `resource.ParseQuantity(in)` marshalled to
JSON (which is what a Go client writes into an object), or the parse error.
"""
from __future__ import annotations

import re

import pytest

from app.translate.quantity import Format, canonical_quantity, parse_quantity

CANONICAL = [
    # the forms the API deals in
    ("0.5", "500m"), ("1024Mi", "1Gi"), ("4Gi", "4Gi"), ("500m", "500m"), ("512Mi", "512Mi"),
    ("1", "1"), ("2", "2"), ("1000", "1k"), ("1000m", "1"), ("1500m", "1500m"), ("1.5", "1500m"),
    ("0.1", "100m"), (".5", "500m"), ("0.5Gi", "512Mi"), ("1.5Gi", "1536Mi"), ("8.5Gi", "8704Mi"),
    ("1.5Mi", "1536Ki"), ("1536Mi", "1536Mi"), ("1000Mi", "1000Mi"), ("100Mi", "100Mi"),
    ("123Mi", "123Mi"), ("3Mi", "3Mi"), ("1Ki", "1Ki"), ("1024Ki", "1Mi"), ("-2048Mi", "-2Gi"),
    ("1G", "1G"), ("8G", "8G"), ("1.5G", "1500M"), ("129M", "129M"), ("5Gi", "5Gi"), ("2Gi", "2Gi"),
    ("1000Gi", "1000Gi"), ("1234Gi", "1234Gi"), ("12345Gi", "12345Gi"), ("123456Gi", "123456Gi"),
    ("1Pi", "1Pi"), ("2Ti", "2Ti"), ("123Ti", "123Ti"), ("1Ei", "1Ei"), ("128974848", "128974848"),
    ("1.5k", "1500"), ("100k", "100k"), ("1k", "1k"), ("1.000k", "1k"), ("1023", "1023"),
    ("1024", "1024"), ("-1024", "-1024"), ("-0.5", "-500m"), ("-1Ki", "-1Ki"),
    # small values: binary below 1024 prints in decimal, sub-nano rounds up (away from zero)
    ("0.5Ki", "512"), ("1n", "1n"), ("1.5n", "2n"), ("-1.5n", "-2n"), ("0.0000000001", "1n"),
    ("0.00000000001Ki", "11n"), ("1u", "1u"), ("1000u", "1m"), ("1000n", "1u"), ("0.001", "1m"),
    ("0.0001", "100u"), ("1.0001Ki", "1024102400u"), ("0.1234567891", "123456790n"),
    # exponent notation
    ("1e3", "1e3"), ("1e+3", "1e+3"), ("1e-3", "1e-3"), ("12e3", "12e3"), ("10e2", "1e3"),
    ("100e1", "1e3"), ("1e-12", "1e-9"), ("1e18", "1e18"), ("1e21", "1e21"), ("129e6", "129e6"),
    # large values: binary ones are capped at 2^63-1, decimal ones are not
    ("8Ei", "9223372036854775807"), ("16Ei", "9223372036854775807"),
    ("123456789012345678", "123456789012345678"), ("1234567890123456789", "1234567890123456789"),
    ("12345678901234567890", "12345678901234567890"),
    # Kubernetes' own corners: canonical-looking input is echoed, zero in many spellings,
    # and a decimal suffix beyond E is lost
    ("0", "0"), ("-0", "0"), ("00", "0"), ("0Ki", "0"), ("-", "0"), ("+", "0"), (".", "0"),
    ("e3", "0"), ("Gi", "0"), ("1E3", "1E3"), ("2E-3", "2E-3"), ("+1", "+1"), ("01", "01"),
    ("1.", "1."), ("1.G", "1.G"), ("1000E", "1"), ("1000000E", "1"),
]

INVALID = [
    "", "1e", "2e", "abc", "1Gb", "1 Gi", " 1", "1KiB", "1..5", "1.5.5", "++1", "+-1", "1e3.5",
    "1k3", "1Mi1", "1Mm", "5ki", "5K", ".Pi", "+Ei", "e-12",
]


@pytest.mark.parametrize(("text", "expected"), CANONICAL, ids=[text or "empty" for text, _ in CANONICAL])
def test_canonical_form_is_kubernetes_form(text: str, expected: str) -> None:
    assert canonical_quantity(text) == expected


@pytest.mark.parametrize("text", INVALID, ids=[repr(text) for text in INVALID])
def test_invalid_quantity_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"{re.escape(repr(text))}$"):  # each refusal names the text
        parse_quantity(text)


@pytest.mark.parametrize(("text", "units", "scale", "format"), [
    ("500m", 500, -3, Format.DECIMAL_SI),
    ("4Gi", 4 * 2**30, 0, Format.BINARY_SI),
    ("0.5Ki", 512 * 10**9, -9, Format.BINARY_SI),  # still binary: printed in decimal as < 1024
    ("1e3", 1, 3, Format.DECIMAL_EXPONENT),
    ("-1.5n", -2, -9, Format.DECIMAL_SI),
])
def test_parsed_value_is_exact(text: str, units: int, scale: int, format: Format) -> None:
    quantity = parse_quantity(text)
    assert (quantity.units, quantity.scale, quantity.format) == (units, scale, format)
