"""The fee ledger (econnector.ledger) and the statement's files (commands/report.py): the
quarter as the vault computes it (UTC, whatever offset a time carries), the grouping of
the summary, each kind of difference with the vault's billing, one row per vault document
however often it was delivered or replayed (through the real drops.Drops and a real state
store), catching up after a crash, and the texts in three languages. The command against
a real vault: tests/e2e/test_report.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from econnector import ledger as ledger_mod
from econnector.commands.report import (
    FEE_COLUMNS,
    MISMATCH_COLUMNS,
    Comparison,
    fees_csv,
    mismatches_csv,
    summary_text,
)
from econnector.drops import Drops
from econnector.ledger import (
    Fee,
    Ledger,
    LedgerListener,
    catch_up,
    fee_of,
    parse_quarter,
    parse_time,
    quarter_of,
    reconcile,
    summarize,
)
from econnector.listeners import Listeners
from econnector.messages.report_command import REPORT_TEXTS, TYPE_LABELS
from econnector.schedule import DueQueue
from econnector.states import Event, State
from econnector.statestore import Drop, Store
from econnector_testsupport.english import english_words

MATRICULE = "1893120105732"
DOC_A, DOC_B = "90812100", "90555500"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    lg = Ledger(tmp_path / "work" / "ledger.sqlite")
    yield lg
    lg.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "work" / "state.sqlite")
    yield s
    s.close()


def _fee(vid: str, provider: str = DOC_A, type_: str = "invoice", amount: str = "0.30",
         insurer: str | None = "CNS", by: str | None = "anna",
         at: str = "2026-11-25T09:15:02.123Z") -> Fee:
    moment = parse_time(at)
    assert moment is not None
    return Fee(vid, provider, f"D-{vid}", type_, insurer, by, Decimal(amount), "EUR",
               ledger_mod.utc_text(moment), quarter_of(moment), None)


# -- the quarter, as the vault computes it -----------------------------------------------


@pytest.mark.parametrize(("stamp", "quarter"), [
    ("2026-01-01T00:00:00.000Z", "2026Q1"),
    ("2026-03-31T23:59:59.999Z", "2026Q1"),
    ("2026-04-01T00:00:00.000Z", "2026Q2"),
    ("2026-06-30T23:59:59Z", "2026Q2"),
    ("2026-07-01T00:00:00Z", "2026Q3"),
    ("2026-09-30T23:59:59Z", "2026Q3"),
    ("2026-10-01T00:00:00Z", "2026Q4"),
    ("2026-12-31T23:59:59.999Z", "2026Q4"),
    ("2027-01-01T00:00:00Z", "2027Q1"),
    # Luxembourg's New Year's Eve after 23:00 is still the old year in UTC...
    ("2027-01-01T00:30:00+01:00", "2026Q4"),
    # ...and a time written west of UTC can already be the next quarter.
    ("2026-12-31T23:30:00-01:00", "2027Q1"),
    ("2026-04-01T01:59:00+02:00", "2026Q1"),  # summer time: 23:59 UTC on 31 March
    ("2026-10-01T00:00:00", "2026Q4"),  # no offset: UTC
])
def test_the_quarter_is_the_utc_calendar_quarter(stamp: str, quarter: str) -> None:
    moment = parse_time(stamp)
    assert moment is not None and moment.tzinfo is not None
    assert quarter_of(moment) == quarter
    from econnector_vault.billing import quarter_of as vaults_quarter_of

    assert vaults_quarter_of(moment) == quarter  # the same rule as the vault's


def test_times_are_kept_as_the_vault_writes_them() -> None:
    moment = parse_time("2027-01-01T00:30:00.250+01:00")
    assert moment is not None
    assert ledger_mod.utc_text(moment) == "2026-12-31T23:30:00.250Z"
    assert parse_time("yesterday") is None and parse_time("") is None


@pytest.mark.parametrize(("text", "ok"), [("2026Q4", True), ("2000Q1", True),
                                          ("2026Q5", False), ("2026Q0", False),
                                          ("1999Q4", False), ("2026q4", False),
                                          ("26Q4", False), ("2026Q4 ", False)])
def test_parse_quarter(text: str, ok: bool) -> None:
    assert (parse_quarter(text) == text) is ok


# -- drops into fees: the listener, replays, catching up ---------------------------------


def _meta(doc: str, provider: str, type_: str, insurer: str, by: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "document_id": doc, "type": type_, "issued_at": "2026-11-25T10:15:00+01:00",
        "language": "fr",
        "patient": {"matricule": MATRICULE, "last_name": "Muller", "first_name": "Anna",
                    "insurer": insurer},
        "author": {"provider_code": provider}}
    if by is not None:
        meta["submitted_by"] = by
    return meta


class _Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _drops(store: Store, *listeners: Any) -> Drops:
    return Drops(store, Listeners(*listeners), DueQueue(), clock=_Clock(),
                 default_language="fr", retry_base=0.1, retry_cap=1.0, rng=random.Random(1))


def _received(drops: Drops, stem: str, doc: str, provider: str = DOC_A,
              type_: str = "invoice", insurer: str = "CNS", by: str | None = "anna") -> Drop:
    d = drops.store.create(stem, f"{stem}.pdf", f"{stem}.yaml", None, drops.clock())
    drops.claimed(d)
    return drops.store.update(d.id, drops.clock(), provider_code=provider, document_id=doc,
                              doc_key=f"{provider}/{doc}",
                              meta=_meta(doc, provider, type_, insurer, by),
                              original_sha256="aa" * 32)


def _deliver(drops: Drops, d: Drop, vid: str, fee: str = "0.30",
             received_at: str = "2026-11-25T09:15:02.123Z", replayed: bool = False) -> Drop:
    d = drops.transition(d, Event.SIGNED, signed_sha256="bb" * 32,
                         signed_at="2026-11-25T09:15:01Z")
    d = drops.transition(d, Event.UPLOAD)
    return drops.transition(d, Event.CONFIRMED, delivered_at="2026-11-25T09:15:03Z", delivery={
        "vault_document_id": vid, "fee_amount": fee, "fee_currency": "EUR",
        "received_at": received_at, "sha256": "bb" * 32, "replayed": replayed})


def _count(lg: Ledger) -> int:
    return int(lg.conn.execute("SELECT COUNT(*) FROM fees").fetchone()[0])


def test_a_delivered_document_is_recorded_with_its_sidecars_fields(
    store: Store, ledger: Ledger
) -> None:
    drops = _drops(store, LedgerListener(ledger, store))
    d = _received(drops, "inv-1", "INV-1", type_="invoice", insurer="CMFEP", by="anna")
    assert _count(ledger) == 0
    d = drops.transition(d, Event.SIGNED, signed_sha256="bb" * 32)
    d = drops.transition(d, Event.UPLOAD)
    assert _count(ledger) == 0  # nothing before the vault confirmed it
    drops.transition(d, Event.CONFIRMED, delivered_at="2026-12-31T23:59:59Z", delivery={
        "vault_document_id": "vd_1", "fee_amount": "0.30", "fee_currency": "EUR",
        "received_at": "2026-12-31T23:59:58.500Z", "replayed": False})
    [fee] = ledger.fees("2026Q4")
    assert fee == Fee("vd_1", DOC_A, "INV-1", "invoice", "CMFEP", "anna", Decimal("0.30"),
                      "EUR", "2026-12-31T23:59:58.500Z", "2026Q4", d.id)
    assert ledger.fees("2027Q1") == []
    # No patient in the ledger: only the insurer.
    dump = "\n".join(ledger.conn.iterdump())
    assert MATRICULE not in dump and "Muller" not in dump


def test_an_identical_re_drop_is_replayed_and_not_counted_twice(
    store: Store, ledger: Ledger
) -> None:
    drops = _drops(store, LedgerListener(ledger, store))
    first = _deliver(drops, _received(drops, "inv-1", "INV-1"), "vd_1")
    again = drops.replay(_received(drops, "inv-1-again", "INV-1"), first)
    assert again.state is State.DELIVERED and again.delivery == first.delivery
    [fee] = ledger.fees("2026Q4")
    assert fee.drop_id == first.id  # the first delivery's row, unchanged


def test_a_replayed_upload_is_recorded_once_with_the_first_receipts_time(
    store: Store, ledger: Ledger
) -> None:
    """The vault answered 200 (it had the document already, e.g. after a lost database):
    it billed it once, when it first received it."""
    drops = _drops(store, LedgerListener(ledger, store))
    _deliver(drops, _received(drops, "a", "A"), "vd_a", received_at="2026-09-30T23:59:59Z")
    d = _received(drops, "a-again", "A")
    _deliver(drops, d, "vd_a", received_at="2026-09-30T23:59:59Z", replayed=True)
    assert [f.vault_document_id for f in ledger.fees("2026Q3")] == ["vd_a"]
    assert _count(ledger) == 1
    # A replay the ledger has not seen (the first delivery was never committed here)
    # is recorded: the vault billed it once.
    d = _received(drops, "b", "B")
    _deliver(drops, d, "vd_b", received_at="2026-11-02T08:00:00Z", replayed=True)
    assert [f.vault_document_id for f in ledger.fees("2026Q4")] == ["vd_b"]


def test_catch_up_records_what_a_crash_left_out_once(store: Store, ledger: Ledger) -> None:
    drops = _drops(store)  # no listener: the daemon stopped between the two commits
    a = _deliver(drops, _received(drops, "a", "A"), "vd_a")
    b = _deliver(drops, _received(drops, "b", "B", provider=DOC_B, type_="prescription"),
                 "vd_b", fee="0.20")
    drops.replay(_received(drops, "a2", "A"), a)
    _received(drops, "c", "C")  # not delivered: no fee
    assert catch_up(ledger, store) == 2
    assert {(f.vault_document_id, f.drop_id) for f in ledger.fees("2026Q4")} == {
        ("vd_a", a.id), ("vd_b", b.id)}
    assert catch_up(ledger, store) == 0


def test_a_drop_rebuilt_from_its_receipt_is_recorded_from_the_receipt(
    store: Store, ledger: Ledger
) -> None:
    """recovery.py rebuilds a lost database from receipts: no sidecar, no received_at."""
    receipt: Any = {
        "schema": "econnector.receipt/v1", "document_id": "R-1", "type": "certificate",
        "provider_code": DOC_A, "submitted_by": None,
        "patient": {"matricule_masked": "1893******732", "insurer": "CNS"},
        "vault_document_id": "vd_r", "signed_at": "2026-10-01T00:00:01Z",
        "delivered_at": "2026-10-01T00:00:02Z", "signature": {}, "original_sha256": "aa",
        "signed_sha256": "bb", "fee": {"amount": "0.20", "currency": "EUR"}}
    store.import_delivered("r-1", receipt, 5.0, None)
    assert catch_up(ledger, store) == 1
    [fee] = ledger.fees("2026Q4")
    assert (fee.type, fee.insurer, fee.submitted_by, fee.amount, fee.recorded_at) == (
        "certificate", "CNS", None, Decimal("0.20"), "2026-10-01T00:00:02.000Z")


def test_a_failed_write_is_caught_up_by_the_next_delivery(
    store: Store, tmp_path: Path
) -> None:
    lg = Ledger(tmp_path / "work" / "ledger.sqlite")
    listener = LedgerListener(lg, store)
    drops = _drops(store, listener)
    blocker = sqlite3.connect(lg.path, isolation_level=None, timeout=0)
    lg.conn.execute("PRAGMA busy_timeout=0")
    blocker.execute("BEGIN EXCLUSIVE")  # someone holds the file: the write fails
    _deliver(drops, _received(drops, "a", "A"), "vd_a")
    assert listener.behind
    blocker.execute("ROLLBACK")
    blocker.close()
    _deliver(drops, _received(drops, "b", "B"), "vd_b")
    assert not listener.behind
    assert {f.vault_document_id for f in lg.fees("2026Q4")} == {"vd_a", "vd_b"}
    lg.close()


def test_fee_of_refuses_what_is_not_a_delivered_fee(store: Store) -> None:
    drops = _drops(store)
    d = _received(drops, "a", "A")
    assert fee_of(d) is None  # not delivered
    d = _deliver(drops, d, "vd_a", fee="zero")
    assert fee_of(d) is None  # not an amount: the reconciliation will show it missing


def test_the_ledger_file_is_private(ledger: Ledger) -> None:
    assert ledger.path.stat().st_mode & 0o777 == 0o600


# -- the summary -------------------------------------------------------------------------


def _fees() -> list[Fee]:
    return [
        _fee("v1", DOC_A, "invoice", "0.30", "CNS", "anna"),
        _fee("v2", DOC_A, "prescription", "0.20", "CNS", None),
        _fee("v3", DOC_A, "invoice", "0.30", "CMFEP", "anna"),
        _fee("v4", DOC_B, "certificate", "0.20", "CNS", "marc"),
        _fee("v5", DOC_B, "invoice", "0.30", None, None),
    ]


def test_the_summary_groups_counts_and_fees() -> None:
    s = summarize(_fees(), "2026Q4")
    assert s.count == 5 and s.totals == {"EUR": Decimal("1.30")}

    def table(groups: list[ledger_mod.Group]) -> dict[str, tuple[int, str]]:
        return {g.key: (g.count, str(g.totals["EUR"])) for g in groups}

    assert table(s.by_doctor) == {DOC_A: (3, "0.80"), DOC_B: (2, "0.50")}
    assert table(s.by_type) == {"invoice": (3, "0.90"), "prescription": (1, "0.20"),
                                "certificate": (1, "0.20")}
    assert table(s.by_insurer) == {"CNS": (3, "0.70"), "CMFEP": (1, "0.30"), "-": (1, "0.30")}
    assert table(s.by_assistant) == {"anna": (2, "0.60"), "marc": (1, "0.20"),
                                     "-": (2, "0.50")}
    for groups in (s.by_doctor, s.by_type, s.by_insurer, s.by_assistant):
        assert sum(g.count for g in groups) == 5
    empty = summarize([], "2026Q4")
    assert empty.count == 0 and empty.totals == {} and empty.by_doctor == []


@pytest.mark.parametrize("lang", ["fr", "de", "en"])
def test_the_summary_text_in_each_language(lang: str) -> None:
    fees = _fees()
    made = dt.datetime(2027, 1, 5, 9, 0, tzinfo=dt.UTC)
    text = summary_text(summarize(fees, "2026Q4"), lang, made, {DOC_A: "Dr Weber"},
                        Comparison("https://vault.example", []))
    assert "2026Q4" in text and "1.30 EUR" in text and f"{DOC_A} Dr Weber" in text
    assert TYPE_LABELS[lang]["prescription"] in text
    first = text.splitlines()[0]
    assert first == REPORT_TEXTS[lang]["title"].format(
        quarter="2026Q4", scope=REPORT_TEXTS[lang]["scope-all"])
    assert REPORT_TEXTS[lang]["match"].format(url="https://vault.example") in text
    assert REPORT_TEXTS[lang]["total"].format(count=5, fees="1.30 EUR") in text
    # A table line: the doctor, 3 documents, 0.80 EUR.
    assert re.search(rf"^  {DOC_A} Dr Weber +3 +0\.80 EUR$", text, re.M), text
    assert re.search(r"^  - +2 +0\.50 EUR$", text, re.M), text  # no assistant named
    offline = summary_text(summarize(fees, "2026Q4", DOC_A), lang, made, {}, None)
    assert REPORT_TEXTS[lang]["offline"] in offline
    assert REPORT_TEXTS[lang]["scope-one"].format(provider=DOC_A) in offline


# -- the reconciliation ------------------------------------------------------------------


def _billed(f: Fee, amount: str | None = None, currency: str = "EUR") -> dict[str, Any]:
    return {"provider_code": f.provider_code, "vault_document_id": f.vault_document_id,
            "type": f.type, "amount": amount or ledger_mod.money(f.amount),
            "currency": currency, "recorded_at": f.recorded_at, "quarter": f.quarter}


def test_reconcile_finds_nothing_when_both_sides_agree() -> None:
    fees = _fees()
    assert reconcile(fees, [_billed(f) for f in reversed(fees)]) == []
    # "0.3" and "0.30" are the same amount.
    assert reconcile(fees[:1], [_billed(fees[0], "0.3")]) == []
    assert reconcile([], []) == []


def test_reconcile_lists_each_kind_of_difference() -> None:
    a, b, c, d, e = _fees()
    stray = _fee("v9", DOC_A, "certificate", "0.20", at="2026-10-02T08:00:00Z")
    billed = [_billed(a), _billed(b, "0.30"), _billed(c, currency="CHF"), _billed(stray),
              _billed(e)]
    out = reconcile([a, b, c, d, e], billed)
    # By doctor (90555500 first), then kind, then time.
    assert [(m.kind, m.vault_document_id) for m in out] == [
        ("not-billed", "v4"),
        ("not-in-ledger", "v9"),
        ("different-fee", "v2"), ("different-fee", "v3"),
    ]
    by_id = {m.vault_document_id: m for m in out}
    assert (by_id["v2"].ledger_amount, by_id["v2"].vault_amount) == ("0.20", "0.30")
    assert (by_id["v3"].ledger_currency, by_id["v3"].vault_currency) == ("EUR", "CHF")
    assert by_id["v4"].vault_amount is None and by_id["v4"].ledger_amount == "0.20"
    assert by_id["v4"].provider_code == DOC_B and by_id["v4"].document_id == "D-v4"
    assert by_id["v9"].ledger_amount is None and by_id["v9"].vault_amount == "0.20"
    assert by_id["v9"].recorded_at == stray.recorded_at


def test_an_unreadable_vault_amount_is_a_different_fee() -> None:
    a = _fee("v1")
    [m] = reconcile([a], [_billed(a, "n/a")])
    assert (m.kind, m.vault_amount) == ("different-fee", "n/a")


@pytest.mark.parametrize("lang", ["fr", "de", "en"])
def test_the_differences_in_the_summary_and_their_csv(lang: str) -> None:
    a, b, _c, d, _e = _fees()
    stray = _fee("v9", DOC_A, "certificate", "0.20")
    out = reconcile([a, b, d], [_billed(a), _billed(b, "0.30"), _billed(stray)])
    text = summary_text(summarize([a, b, d], "2026Q4"), lang,
                        dt.datetime(2027, 1, 5, tzinfo=dt.UTC), {}, Comparison("V", out))
    t = REPORT_TEXTS[lang]
    assert t["mismatches"].format(url="V", count=3) in text
    diff_lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(diff_lines) == 3
    assert "v4" in diff_lines[0] and "v9" in diff_lines[1] and "v2" in diff_lines[2]
    assert "0.20 EUR" in diff_lines[2] and "0.30 EUR" in diff_lines[2]
    assert " ".join(text.split()).endswith(" ".join(t["advice"].split()))  # wrapped
    one = summary_text(summarize([a], "2026Q4"), lang, dt.datetime(2027, 1, 5, tzinfo=dt.UTC),
                       {}, Comparison("V", out[:1]))
    assert t["mismatches-one"].format(url="V") in one
    assert t["total-one"].format(fees="0.30 EUR") in one
    rows = list(csv.DictReader(io.StringIO(mismatches_csv(out))))
    assert [r["kind"] for r in rows] == ["not-billed", "not-in-ledger", "different-fee"]
    assert tuple(rows[0]) == MISMATCH_COLUMNS
    assert rows[2]["ledger_amount"] == "0.20" and rows[2]["vault_amount"] == "0.30"


def test_the_fees_csv_has_one_row_per_document_and_no_formulas() -> None:
    fees = [*_fees(), Fee("v6", DOC_A, "=HYPERLINK(\"x\")", "invoice", "+CNS", "@anna",
                          Decimal("0.3"), "EUR", "2026-11-25T09:15:02.123Z", "2026Q4", 7)]
    text = fees_csv(fees)
    assert text.startswith(",".join(FEE_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6 and rows[0]["amount"] == "0.30" and rows[5]["amount"] == "0.30"
    assert rows[5]["document_id"].startswith("'=") and rows[5]["insurer"] == "'+CNS"
    assert rows[5]["submitted_by"] == "'@anna" and rows[5]["drop_id"] == "7"
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("1.60")


# -- the texts ----------------------------------------------------------------------------


def test_every_language_has_every_text() -> None:
    keys = set(REPORT_TEXTS["en"])
    for lang in ("fr", "de"):
        assert set(REPORT_TEXTS[lang]) == keys, lang
        assert set(TYPE_LABELS[lang]) == set(TYPE_LABELS["en"]), lang
        for key, text in REPORT_TEXTS[lang].items():
            fields = set(re.findall(r"{(\w+)}", text))
            assert fields == set(re.findall(r"{(\w+)}", REPORT_TEXTS["en"][key])), (lang, key)
            assert not english_words(re.sub(r"--\w+", " ", text)), (lang, key)
    from econnector_vault.billing import REFERENCE_FEES

    assert set(TYPE_LABELS["en"]) == set(REFERENCE_FEES)  # every type the vault bills
