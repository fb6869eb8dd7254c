"""Fixtures of the contract test: one namespace for each whole run, and their summaries at the end.

The operations of a run share one namespace (not one each, as the integration tests do) so that
what a create leaves behind is there for the reads, the update and the deletes that run after it.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kube import Cluster, fresh_namespaces

REPORT = pytest.StashKey[list[str]]()


@pytest.fixture(scope="module")
def contract_namespace(cluster: Cluster) -> Iterator[str]:
    """Deleted at the end, with everything the generated requests created in it."""
    with fresh_namespaces(cluster, prefix="ct") as [name]:
        yield name


@pytest.fixture(scope="module")
def bare_namespace(cluster: Cluster) -> Iterator[str]:
    """The run without hooks, apart from the other's objects; deleted at the end, as that one is."""
    with fresh_namespaces(cluster, prefix="cb") as [name]:
        yield name


@pytest.fixture(scope="session")
def contract_report(request: pytest.FixtureRequest) -> list[str]:
    """Lines the tests add, printed in the terminal summary (so that `-q` shows them too)."""
    return request.config.stash.setdefault(REPORT, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(REPORT, [])
    if lines:
        terminalreporter.write_sep("-", "schemathesis contract")
        for line in lines:
            terminalreporter.write_line(line)
