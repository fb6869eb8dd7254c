"""The API's enums: names and numbers as in the proto files, read and printed as proto3's open enums."""
from __future__ import annotations

from typing import Any

import pytest

from app.translate.enums import (
    AccessMode,
    Environment,
    EnvSource,
    HostPathType,
    MountPropagation,
    ProtoEnum,
    VolumeType,
)

ENUMS: dict[str, tuple[type[ProtoEnum], list[str]]] = {
    "EnvSource": (EnvSource, ["CONFIGMAP", "SECRET", "RESOURCEFIELD", "FIELD"]),
    "Environment": (Environment, ["DEV", "TESTING", "STAGING", "PRODUCTION"]),
    "VolumeType": (VolumeType, ["PERSISTENT_VOLUME_CLAIM", "HOST_PATH", "EPHEMERAL", "CONFIGMAP", "SECRET",
                                "EMPTY_DIR"]),
    "HostPathType": (HostPathType, ["DIRECTORY", "FILE"]),
    "MountPropagation": (MountPropagation, ["NONE", "HOSTTOCONTAINER", "BIDIRECTIONAL"]),
    "AccessMode": (AccessMode, ["RWO", "ROX", "RWX"]),
}


@pytest.mark.parametrize("enum_name", ENUMS)
def test_enums_follow_the_proto(enum_name: str) -> None:
    enum, names = ENUMS[enum_name]
    assert [enum.number(name) for name in names] == list(range(len(names)))
    assert [enum.name_of(number) for number in range(len(names))] == names
    assert [member.name for member in enum] == names


@pytest.mark.parametrize(("value", "expected"), [
    ("SECRET", 1),
    (1, 1),
    ("1", 1),
    (7, 7),  # open enum: unknown numbers are kept
    ("7", 7),
    ("-1", -1),
    ("secret", 0),  # unknown names become the default, as protojson drops them
    ("1.5", 0),
    (None, 0),
    (True, 0),
    (1.0, 0),
])
def test_enum_reads_names_and_numbers(value: Any, expected: int) -> None:
    assert EnvSource.number(value) == expected
    assert type(EnvSource.number(value)) is int


@pytest.mark.parametrize(("number", "name"), [(3, "PRODUCTION"), (7, "7"), (-1, "-1")])
def test_unknown_number_prints_as_its_decimal_string(number: int, name: str) -> None:
    assert Environment.name_of(number) == name


@pytest.mark.parametrize(("number", "known"), [(0, True), (5, True), (6, False), (-1, False)])
def test_known_numbers(number: int, known: bool) -> None:
    assert VolumeType.known(number) is known
