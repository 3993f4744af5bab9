"""The invoice QR code's reference and payload (econnector.invoiceqr, issue 12 point 2;
docs/invoice-qr.md): the grammar round trip, the check character against misreads,
parse errors, the QR version at level M, and the payload of a real validated sidecar."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest

from econnector import contract, invoiceqr
from econnector.vault_client import idempotency_key
from econnector_testsupport.daemon import PROVIDER, sidecar

KEY = idempotency_key(PROVIDER, "2026-000123")
REF = invoiceqr.reference(KEY)
SAMPLE = invoiceqr.payload(PROVIDER, REF, date(2026, 11, 25), 8460, False)
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def test_the_reference_is_short_readable_and_stable() -> None:
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", REF), REF
    assert invoiceqr.reference(KEY) == REF
    refs = {invoiceqr.reference(idempotency_key(PROVIDER, f"2026-{n:06d}"))
            for n in range(2000)}
    assert len(refs) == 2000
    assert invoiceqr.reference(idempotency_key("90555500", "2026-000123")) != REF
    for bad in ("", "ec1-" + "0" * 47, "ec2-" + "0" * 48, "ec1-" + "G" * 48, KEY.upper()):
        with pytest.raises(ValueError, match="idempotency key"):
            invoiceqr.reference(bad)


def test_the_sample_payload_reads_as_documented() -> None:
    head, check = SAMPLE[:-1], SAMPLE[-1]
    assert head == f"EC1*{PROVIDER}*{REF}*20261125*8460*0*"
    assert check == invoiceqr.check_character(head)
    assert set(SAMPLE) <= invoiceqr.QR_ALPHANUMERIC == frozenset(ALPHANUMERIC)


@pytest.mark.parametrize(("issued", "cents", "paid"), [
    (date(2026, 11, 25), 8460, False), (date(2026, 1, 1), 1, True),
    (date(1999, 12, 31), 0, True), (date(2030, 2, 28), invoiceqr.MAX_TOTAL_CENTS, False)])
def test_round_trip(issued: date, cents: int, paid: bool) -> None:
    text = invoiceqr.payload(PROVIDER, REF, issued, cents, paid)
    assert invoiceqr.parse(text) == invoiceqr.Fields(PROVIDER, REF, issued, cents, paid)
    assert invoiceqr.parse(text + "\n") == invoiceqr.parse(text)  # a scanner's line end
    assert set(text) <= invoiceqr.QR_ALPHANUMERIC


def test_every_single_substitution_is_caught() -> None:
    misreads = 0
    for i, was in enumerate(SAMPLE):
        for c in ALPHANUMERIC + "abcz0O":
            if c == was:
                continue
            with pytest.raises(ValueError):
                invoiceqr.parse(SAMPLE[:i] + c + SAMPLE[i + 1:])
            misreads += 1
    assert misreads > 2000


def test_every_adjacent_transposition_is_caught() -> None:
    swaps = 0
    for i in range(len(SAMPLE) - 1):
        a, b = SAMPLE[i], SAMPLE[i + 1]
        if a == b:
            continue
        with pytest.raises(ValueError):
            invoiceqr.parse(SAMPLE[:i] + b + a + SAMPLE[i + 2:])
        swaps += 1
    assert swaps > 40


def with_check(body: str) -> str:
    """``body`` with a matching check character: only the structure can be wrong."""
    return body + invoiceqr.check_character(body)


@pytest.mark.parametrize(("text", "says"), [
    ("https://example.org/", "no EC version prefix"),
    ("", "no EC version prefix"),
    (with_check(f"EC2*{PROVIDER}*{REF}*20261125*8460*0*"), "unknown payload version"),
    (with_check(f"EC1*{PROVIDER}*{REF}*20261125*8460*"), "6 fields instead of 7"),
    (with_check(f"EC1*{PROVIDER}*{REF}*20261125*8460*0*1*"), "8 fields instead of 7"),
    (with_check(f"EC1*1234567*{REF}*20261125*8460*0*"), "malformed provider code"),
    (with_check(f"EC1*{PROVIDER}*{REF.replace('-', '')}*20261125*8460*0*"),
     "malformed reference"),
    (with_check(f"EC1*{PROVIDER}*{REF}*2026112*8460*0*"), "malformed issue date"),
    (with_check(f"EC1*{PROVIDER}*{REF}*20261125*08460*0*"), "malformed total"),
    (with_check(f"EC1*{PROVIDER}*{REF}*20261125*8460*2*"), "malformed paid flag"),
    (with_check(f"EC1*{PROVIDER}*{REF}*20261325*8460*0*"), "no such issue date"),
    (SAMPLE[:-1] + "-", "malformed check character"),
    (SAMPLE[:-1] + ("A" if SAMPLE[-1] != "A" else "B"), "check character does not match"),
])
def test_parse_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        invoiceqr.parse(text)


def test_payload_refuses_what_it_cannot_write() -> None:
    day = date(2026, 11, 25)
    for args in (("9081210", REF, day, 1, True), (PROVIDER, "ABCD", day, 1, True),
                 (PROVIDER, REF, day, -1, True),
                 (PROVIDER, REF, day, invoiceqr.MAX_TOTAL_CENTS + 1, True),
                 (PROVIDER, REF, day, True, True)):
        with pytest.raises(ValueError):
            invoiceqr.payload(*args)


def test_the_longest_payload_fits_version_3_at_level_m() -> None:
    """Version 3 is 29 x 29 modules: at the default 20 mm, 0.69 mm a module."""
    longest = invoiceqr.payload(PROVIDER, "ZZZZ-ZZZZ-ZZZZ-ZZZZ", date(2026, 12, 31),
                                invoiceqr.MAX_TOTAL_CENTS, True)
    assert len(longest) == 57
    assert invoiceqr.qr_version(longest) == invoiceqr.MAX_QR_VERSION == 3
    assert invoiceqr.qr_version(SAMPLE) <= 3


def validated(**extra: Any) -> dict[str, Any]:
    """The canonical form of a sidecar the contract accepted (what receive.py has)."""
    raw = json.dumps(sidecar(**extra)).encode()
    meta = contract.parse_sidecar(raw, "json", providers=[PROVIDER], today=date(2026, 12, 1))
    return meta.canonical()


def test_from_meta_of_a_validated_invoice() -> None:
    # 23:30 at -05:00 on 24 November is the 25th in UTC: the invoice's own day counts
    meta = validated(issued_at="2026-11-24T23:30:00-05:00",
                     invoice={"total": "1234.5", "currency": "EUR", "paid": True})
    ref, text = invoiceqr.from_meta(meta, KEY)
    assert ref == REF
    assert invoiceqr.parse(text) == invoiceqr.Fields(PROVIDER, REF, date(2026, 11, 24),
                                                     123450, True)
    ref, text = invoiceqr.from_meta(validated(), KEY)
    assert invoiceqr.parse(text) == invoiceqr.Fields(PROVIDER, REF, date(2026, 11, 25),
                                                     8460, False)
    assert text == SAMPLE


def test_from_meta_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match="only an invoice"):
        invoiceqr.from_meta(validated(type_="prescription"), KEY)
    broken = validated()
    broken["invoice"] = {**broken["invoice"], "total": "84.605"}
    with pytest.raises(ValueError, match="two decimals"):
        invoiceqr.from_meta(broken, KEY)
    broken["invoice"] = {"total": "84.60", "paid": "yes"}
    with pytest.raises(ValueError, match="true or false"):
        invoiceqr.from_meta(broken, KEY)
    with pytest.raises(ValueError, match="idempotency key"):
        invoiceqr.from_meta(validated(), "not-a-key")
