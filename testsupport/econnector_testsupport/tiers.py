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


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path.resolve())
        if tier is not None:
            item.add_marker(tier)
