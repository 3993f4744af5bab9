"""The matricule: format, birth date, both check digits, masking."""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn, verhoeff

from econnector import logs, matricule, vault_client
from econnector.errors import SidecarError

EXAMPLE = "1893120105732"
TODAY = date(2026, 12, 1)


def code_of(value: object, today: date = TODAY) -> str | None:
    try:
        matricule.validate(value, today)
    except SidecarError as e:
        assert e.field == "patient.matricule"
        return e.code
    return None


def test_example_check_digits_are_what_stdnum_computes() -> None:
    assert luhn.calc_check_digit(EXAMPLE[:11]) == EXAMPLE[11]
    assert verhoeff.calc_check_digit(EXAMPLE[:11]) == EXAMPLE[12]
    assert matricule.validate(EXAMPLE, TODAY) == EXAMPLE
    assert matricule.is_valid(EXAMPLE, TODAY)


def test_make_computes_both_check_digits() -> None:
    assert matricule.make("18931201", "057") == EXAMPLE


@pytest.mark.parametrize(
    ("birth", "serial"), [("1893120", "057"), ("18931201", "57"), ("1893120a", "057"), ("", "")]
)
def test_make_refuses_malformed_parts(birth: str, serial: str) -> None:
    with pytest.raises(ValueError):
        matricule.make(birth, serial)


@pytest.mark.parametrize(
    "value",
    [
        1893120105732,
        None,
        b"1893120105732",
        "",
        "189312010573",
        "18931201057321",
        "1893 1201 057 32",
        "1893-12-01-05732",
        " 1893120105732",
        "1893120105732\n",
        "١٨٩٣١٢٠١٠٥٧٣٢",  # Arabic-Indic digits are digits to str.isdigit(), not to us
        "１８９３１２０１０５７３２",  # full-width digits
        "189312010573X",
    ],
)
def test_format(value: object) -> None:
    assert code_of(value) == "matricule-format"
    assert not matricule.is_valid(value)


@pytest.mark.parametrize(
    ("birth", "ok"),
    [
        ("18500101", True),  # earliest year
        ("18491231", False),
        ("19580000", True),  # month and day unknown
        ("19580300", True),  # day unknown
        ("19580015", False),  # a day without its month
        ("19581300", False),
        ("19581301", False),
        ("19580230", False),
        ("19580431", False),
        ("19581232", False),
        ("20000229", True),
        ("19000229", False),  # 1900 was not a leap year
        ("20261201", True),  # today
        ("20261202", False),  # tomorrow
        ("20261200", True),  # this month, day unknown
        ("20270100", False),  # next month, day unknown
        ("20260000", True),  # this year, unknown month
        ("20270000", False),
        ("99991231", False),
    ],
)
def test_birth_date_rules(birth: str, ok: bool) -> None:
    number = matricule.make(birth, "123")
    assert code_of(number) == (None if ok else "matricule-date")
    assert matricule.is_valid(number, TODAY) is ok


def test_is_valid_without_today_skips_only_the_future_check() -> None:
    future = matricule.make("20991231", "001")
    assert matricule.is_valid(future)
    assert not matricule.is_valid(future, TODAY)
    assert not matricule.is_valid(matricule.make("19000229", "001"))


def test_luhn_then_verhoeff() -> None:
    bad_luhn = EXAMPLE[:11] + str((int(EXAMPLE[11]) + 1) % 10) + EXAMPLE[12]
    bad_verhoeff = EXAMPLE[:12] + str((int(EXAMPLE[12]) + 1) % 10)
    both_bad = EXAMPLE[:11] + str((int(EXAMPLE[11]) + 1) % 10) + bad_verhoeff[12]
    assert code_of(bad_luhn) == "matricule-luhn"
    assert code_of(bad_verhoeff) == "matricule-verhoeff"
    assert code_of(both_bad) == "matricule-luhn"


def test_date_is_checked_before_check_digits() -> None:
    number = "1893130105732"  # month 13 and wrong check digits
    assert code_of(number) == "matricule-date"


def test_errors_never_carry_the_number() -> None:
    for value in (EXAMPLE[:12] + "0", "1893120105", "1893133105732"):
        with pytest.raises(SidecarError) as info:
            matricule.validate(value, TODAY)
        rendered = " ".join([str(info.value), info.value.hint, repr(info.value.params)])
        assert value not in rendered
        assert "18931" not in rendered


def test_mask() -> None:
    assert matricule.mask(EXAMPLE) == "1893********2"
    assert matricule.mask("123") == "*" * 13
    assert matricule.mask("18931201057321") == "*" * 13
    assert matricule.mask("") == "*" * 13


# -- properties ---------------------------------------------------------------------

births = st.dates(min_value=date(1850, 1, 1), max_value=TODAY).map(lambda d: d.strftime("%Y%m%d"))
serials = st.integers(0, 999).map(lambda n: f"{n:03d}")
valid_numbers = st.builds(matricule.make, births, serials)


@settings(max_examples=150, deadline=None)
@given(valid_numbers)
def test_generated_numbers_validate(number: str) -> None:
    assert matricule.validate(number, TODAY) == number
    assert matricule.is_valid(number, TODAY)


@settings(max_examples=100, deadline=None)
@given(valid_numbers)
def test_every_single_digit_substitution_is_caught(number: str) -> None:
    """Luhn and Verhoeff each catch any substitution in the 11 digits they cover, and a
    changed check digit breaks its own check: so no single-digit change goes through."""
    for i in range(13):
        for d in "0123456789":
            if d == number[i]:
                continue
            changed = number[:i] + d + number[i + 1 :]
            assert not matricule.is_valid(changed, TODAY)
            if i < 11:
                assert luhn.calc_check_digit(changed[:11]) != changed[11]
                assert verhoeff.calc_check_digit(changed[:11]) != changed[12]


@settings(max_examples=100, deadline=None)
@given(valid_numbers)
def test_every_adjacent_transposition_is_caught(number: str) -> None:
    """Verhoeff catches swaps that Luhn misses (09 <-> 90); swaps touching a check digit
    change the codeword of the other algorithm or of Luhn itself."""
    for i in range(12):
        if number[i] == number[i + 1]:
            continue
        swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
        assert not matricule.is_valid(swapped, TODAY)


def test_luhn_alone_misses_09_swaps_but_the_pair_does_not() -> None:
    base = "1893120109" + "0"  # ends in 0 after 9: swap positions 8 and 9 ("09" <-> "90")
    swapped = base[:8] + base[9] + base[8] + base[10]
    assert luhn.calc_check_digit(base) == luhn.calc_check_digit(swapped)
    number = matricule.make(base[:8], base[8:])
    other = swapped + number[11:]
    assert not matricule.is_valid(other)


@settings(max_examples=200, deadline=None)
@given(st.one_of(valid_numbers, st.text(max_size=20), st.text("0123456789", max_size=20)))
def test_mask_reveals_at_most_five_digits(value: str) -> None:
    masked = matricule.mask(value)
    assert sum(c.isdigit() for c in masked) <= 5
    assert len(masked) == 13
    if matricule.is_valid(value):
        assert masked == value[:4] + "*" * 8 + value[12]


# -- one masker (issue 10): every caller masks free text through mask_text ------------

# The two free-text maskers as they were before issue 10, kept here as the reference.
_OLD_LOG = re.compile(r"(?<!\d)(\d{4})\d{8}(\d)(?!\d)")
_OLD_VAULT_CLIENT = re.compile(r"(?<![0-9])[0-9]{13}(?![0-9])")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(valid_numbers, st.text("0123456789", max_size=16),
                          st.text("abc /?=-_.", max_size=4)), max_size=6).map("".join))
def test_mask_text_gives_the_same_masks_as_before(text: str) -> None:
    """For ASCII text both forms are what they were: the log keeps the birth year and
    the last digit, the vault client's text keeps no digit."""
    assert matricule.mask_text(text) == _OLD_LOG.sub(r"\1********\2", text)
    assert matricule.mask_text(text, reveal=False) == _OLD_VAULT_CLIENT.sub("*" * 13, text)


def test_mask_text_masks_each_run_of_exactly_13_digits_with_mask() -> None:
    text = f"GET /v1/patients/{EXAMPLE}/digital-status x{EXAMPLE}0 {EXAMPLE[:12]}"
    assert matricule.mask_text(text) == (
        f"GET /v1/patients/{matricule.mask(EXAMPLE)}/digital-status x{EXAMPLE}0 {EXAMPLE[:12]}")
    assert matricule.mask_text(EXAMPLE, reveal=False) == matricule.mask(EXAMPLE, reveal=False)
    assert matricule.mask(EXAMPLE, reveal=False) == "*" * 13
    # Other digits than ASCII: nothing is revealed at all (stricter than a partial mask).
    arabic = "".join(chr(0x0660 + int(c)) for c in EXAMPLE)
    assert matricule.mask_text(arabic) == "*" * 13
    assert matricule.mask_text("\u0661" + EXAMPLE, reveal=False) == "\u0661" + "*" * 13


def test_the_log_filter_and_the_vault_client_mask_through_mask_text() -> None:
    text = f"bad value {EXAMPLE} in patient.matricule"
    event = logs.privacy_filter(None, "info", {"event": text, "items": [text],
                                                "last_name": "Muller"})
    assert event == {"event": matricule.mask_text(text), "items": [matricule.mask_text(text)]}
    assert matricule.mask(EXAMPLE) in event["event"]

    rejected = vault_client.error_for_response(422, {"code": "x", "detail": text}, {})
    assert rejected.params["detail"] == matricule.mask_text(text, reveal=False)

    # httpx's request lines: the filter logs.configure installs on its loggers
    # (tests/e2e/test_import_side_effects.py checks that it does, and import does not).
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "GET %s", (text,), None)
    assert logs.RedactMatricules().filter(record)
    assert record.getMessage() == "GET " + matricule.mask_text(text, reveal=False)


def test_no_other_daemon_module_has_a_matricule_pattern() -> None:
    """The daemon's one masker lives in matricule.py (the reference vault has its own,
    for its access log, in econnector/vault/)."""
    package = Path(matricule.__file__).parent
    owners = sorted(p.name for p in package.glob("*.py") if "{13}" in p.read_text("utf-8"))
    assert owners == ["matricule.py"]
