"""The API's six enums, named as in the proto files, with proto3's open-enum reading and printing.

A request may give an enum by name or by number. A number the enum does not know is kept, as
proto3 keeps it, and prints as its decimal string, as Go's `String()` prints it; an unknown name
reads as 0, as protojson drops it. No I/O; imports nothing from the application.
"""
from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

_DECIMAL = re.compile(r"-?\d+", re.ASCII)


class ProtoEnum(IntEnum):
    """Base of the API's enums: members are the proto's names and numbers."""

    @classmethod
    def number(cls, value: Any) -> int:
        """The number of a name or of a number; unknown numbers stay open, unknown names are 0."""
        if isinstance(value, str):
            if value in cls.__members__:
                return cls[value].value
            return int(value) if _DECIMAL.fullmatch(value) else 0
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    @classmethod
    def known(cls, number: int) -> bool:
        return number in cls._value2member_map_

    @classmethod
    def name_of(cls, number: int) -> str:
        """Go's `String()`: the name, or the decimal number for a value the enum does not know."""
        return cls(number).name if cls.known(number) else str(number)


class EnvSource(ProtoEnum):
    CONFIGMAP = 0
    SECRET = 1
    RESOURCEFIELD = 2
    FIELD = 3


class Environment(ProtoEnum):
    DEV = 0
    TESTING = 1
    STAGING = 2
    PRODUCTION = 3


class VolumeType(ProtoEnum):
    PERSISTENT_VOLUME_CLAIM = 0
    HOST_PATH = 1
    EPHEMERAL = 2
    CONFIGMAP = 3
    SECRET = 4
    EMPTY_DIR = 5


class HostPathType(ProtoEnum):
    DIRECTORY = 0
    FILE = 1


class MountPropagation(ProtoEnum):
    NONE = 0
    HOSTTOCONTAINER = 1
    BIDIRECTIONAL = 2


class AccessMode(ProtoEnum):
    RWO = 0
    ROX = 1
    RWX = 2
