"""The one error type of the control plane: a component, what went wrong, where to look."""
from __future__ import annotations

from pathlib import Path


class ComponentError(Exception):
    """A failure that names the component and points at its log, so it fits on one line."""

    def __init__(self, component: str, reason: str, log: Path | None) -> None:
        self.component = component
        self.reason = reason
        self.log = log
        where = f" (log: {log})" if log else ""
        super().__init__(f"{component}: {reason}{where}")
