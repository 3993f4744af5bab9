"""Error codes are a type mypy checks (issue 10): ``codes.Code`` lists exactly the
catalog's codes, every language's table is keyed by them, and a misspelt code is a
type error before it is a run-time one (mypy itself is run in
tests/e2e/test_codes_typecheck.py)."""

from __future__ import annotations

from typing import get_args

import pytest

from econnector import codes, messages
from econnector.errors import CATALOG, ConfigError, PdfError, render


def test_the_code_type_names_exactly_the_catalog() -> None:
    assert set(get_args(codes.Code)) == set(CATALOG)
    assert list(get_args(codes.Code)) == list(CATALOG)  # one order: the catalog's
    assert frozenset(CATALOG) == codes.CODES
    assert set(get_args(codes.ErrorCode)) == set(CATALOG) | {"config-invalid"}


def test_every_language_has_a_text_for_exactly_the_catalog_codes() -> None:
    for lang, texts in messages.TEXTS.items():
        assert set(texts) == set(CATALOG), lang


def test_a_code_read_back_from_a_file_is_narrowed_or_internal_error() -> None:
    assert codes.is_code("pdf-damaged") and not codes.is_code("pdf-damagd")
    assert not codes.is_code("config-invalid") and not codes.is_code(None)
    assert codes.as_code("vault-tls") == "vault-tls"
    assert codes.as_code("a-newer-daemons-code") == "internal-error"
    assert codes.as_code(7) == "internal-error"


def test_run_time_checks_stay_for_codes_mypy_could_not_see() -> None:
    unchecked: object = "pdf-damagd"
    with pytest.raises(ValueError, match="unregistered error code"):
        PdfError(unchecked)  # type: ignore[arg-type]
    assert render(unchecked, {}) == render("internal-error", {})  # type: ignore[arg-type]
    assert ConfigError("bad").code == "config-invalid"
    assert render(ConfigError("bad").code, {}) == render("internal-error", {})
