"""Test tiers from the folder a test lives in, as a pytest plugin.

``tests/unit``, ``tests/contract``, ``tests/e2e`` and ``vault/tests`` are the tiers
(docs/testing.md says what belongs where); each test gets its tier's marker, so
``pytest -m unit`` selects the same tests as ``pytest tests/unit``. The markers are
registered in the root ``pyproject.toml`` (``--strict-markers``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from econnector_testsupport.paths import REPO

TIERS: dict[Path, str] = {
    Path("tests", "unit"): "unit",
    Path("tests", "contract"): "contract",
    Path("tests", "e2e"): "e2e",
    Path("vault", "tests"): "vault",
}


def tier_of(path: Path) -> str | None:
    """The tier of a test file, or None outside the tier folders."""
    for folder, tier in TIERS.items():
        if path.is_relative_to(REPO / folder):
            return tier
    return None


# The order the tiers run in: slowest tests first. Under pytest-xdist (``make test``) a
# worker that ends its share steals from the other, so the minute-long e2e tests must not
# be the last ones left; the many quick unit and contract tests fill the end instead.
RUN_ORDER = ("e2e", "vault", "contract", "unit")


def run_rank(tier: str | None) -> int:
    """Where a tier's tests go in the run (:data:`RUN_ORDER`); others last."""
    return RUN_ORDER.index(tier) if tier in RUN_ORDER else len(RUN_ORDER)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers: dict[str, str | None] = {}
    for item in items:
        tier = tiers[item.nodeid] = tier_of(item.path.resolve())
        if tier is not None:
            item.add_marker(tier)
    items.sort(key=lambda item: run_rank(tiers[item.nodeid]))  # stable: files keep their order
