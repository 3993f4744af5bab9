"""Assistants' grants (issue 12, point 3): signed with the doctor's real PKCS#12 key by
pyHanko, verified against the certificate the doctor signs with, and refused when the
store was edited, the key was another doctor's, or the grant was revoked. The CLI is
tested as a process in tests/e2e/test_assistants_cli.py; PKCS#11 there too."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from econnector import assistants, config, testid
from econnector.assistants import AlreadyGranted, DoctorKey, Grants, NotGranted
from econnector.commands import assistants as command
from econnector.config import Identity
from econnector.errors import IdentityHeld
from econnector.messages.assistants_command import ASSISTANT_TEXTS
from econnector_testsupport.configs import MINIMAL
from econnector_testsupport.english import english_words

PC, OTHER = "90812100", "90555500"
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def ident_of(ti: testid.TestIdentity, pc: str = PC, login: str | None = None) -> Identity:
    return Identity(pc, f"Dr {pc}", ti.pkcs12, ti.passphrase_file, None, login=login)


def secret(ti: testid.TestIdentity) -> bytes:
    return ti.passphrase_file.read_bytes().rstrip(b"\n")


@pytest.fixture(scope="module")
def doctors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, testid.TestIdentity]:
    base = tmp_path_factory.mktemp("doctors")
    return {PC: testid.make_identity(base / "a", PC), OTHER: testid.make_identity(base / "b",
                                                                                  OTHER)}


@pytest.fixture
def key(doctors: dict[str, testid.TestIdentity]) -> Iterator[DoctorKey]:
    with assistants.doctor_key(ident_of(doctors[PC]), secret(doctors[PC])) as k:
        yield k


@pytest.fixture
def grants(tmp_path: Path) -> Iterator[Grants]:
    g = Grants(tmp_path / "work" / assistants.DB_NAME)
    yield g
    g.close()


def check(g: Grants, who: str | None, cert: str, login: str | None = None,
          now: dt.datetime = LATER) -> assistants.Verdict:
    return g.check(PC, who, doctor_login=login, doctor_cert_sha256=cert, now=now)


def edit(g: Grants, sql: str, *args: Any) -> None:
    """Change the database as someone with the file would: another connection."""
    conn = sqlite3.connect(g.path)
    with conn:
        conn.execute(sql, args)
    conn.close()


def test_a_signed_grant_lets_the_assistant_send_and_names_her(
        grants: Grants, key: DoctorKey) -> None:
    g = grants.add(key, "anna", "Anna Weber", NOW)
    v = check(grants, "anna", key.cert_sha256)
    assert v == assistants.Verdict(True, role="assistant", name="Anna Weber", grant_id=g.id)
    # The stored grant is what the doctor signed: canonical JSON pinned to the certificate.
    row = grants.latest(PC, "anna")
    assert row is not None and row.signature_ok(key.cert_sha256)
    assert row.grant_json == assistants.canonical({
        "schema": assistants.GRANT_SCHEMA, "provider_code": PC, "login": "anna",
        "name": "Anna Weber", "granted_at": "2026-06-01T12:00:00+00:00",
        "doctor_cert_sha256": key.cert_sha256})
    assert assistants.verify_cms(row.grant_json.encode(), row.grant_cms) == key.cert_sha256
    assert assistants.verify_cms(row.grant_json.encode() + b" ", row.grant_cms) is None


def test_the_doctor_passes_by_provider_code_or_login_and_nobody_else_without_a_grant(
        grants: Grants, key: DoctorKey) -> None:
    assert check(grants, PC, key.cert_sha256) == assistants.Verdict(True, role="doctor")
    assert check(grants, "drweber", key.cert_sha256, login="drweber").role == "doctor"
    assert check(grants, "drweber", key.cert_sha256).reason == "unknown-assistant"
    assert check(grants, None, key.cert_sha256).reason == "missing"
    assert check(grants, "", key.cert_sha256).reason == "missing"
    # Another doctor's provider code is not this doctor, nor its assistant.
    assert check(grants, OTHER, key.cert_sha256).reason == "unknown-assistant"


@pytest.mark.parametrize("sql", [
    # The signed text edited (another name), with or without the column to match.
    "UPDATE grants SET grant_json = replace(grant_json, 'Anna Weber', 'Anna Wagner')",
    "UPDATE grants SET grant_json = replace(grant_json, 'Anna Weber', 'Anna Wagner'), "
    "name = 'Anna Wagner'",
    # The row moved to another login or date: the text no longer says the same.
    "UPDATE grants SET login = 'mallory'",
    "UPDATE grants SET granted_at = '2020-01-01T00:00:00+00:00'",
    # The signature itself damaged, or replaced by text.
    "UPDATE grants SET grant_cms = substr(grant_cms, 1, length(grant_cms) - 1) || x'00'",
    "UPDATE grants SET grant_cms = zeroblob(length(grant_cms))",
    "UPDATE grants SET grant_json = CAST(x'ff' || grant_json AS BLOB)",
])
def test_a_grant_edited_in_the_store_fails_its_check(
        grants: Grants, key: DoctorKey, sql: str) -> None:
    grants.add(key, "anna", "Anna Weber", NOW)
    assert check(grants, "anna", key.cert_sha256).ok  # verified and cached first
    edit(grants, sql)
    login = "mallory" if "mallory" in sql else "anna"
    assert check(grants, login, key.cert_sha256).reason == "grant-invalid"
    row = grants.latest(PC, login)
    assert row is not None and command.signature_state(row, None) == "invalid"


def test_a_grant_signed_by_another_doctors_key_fails(
        grants: Grants, key: DoctorKey, doctors: dict[str, testid.TestIdentity]) -> None:
    other = doctors[OTHER]
    # The other doctor's key, used for this provider code: an intact signature, but not
    # by the certificate this doctor signs with.
    with assistants.doctor_key(ident_of(other, PC), secret(other)) as wrong:
        grants.add(wrong, "anna", "Anna Weber", NOW)
        assert check(grants, "anna", key.cert_sha256).reason == "grant-invalid"
        assert check(grants, "anna", wrong.cert_sha256).ok  # it is intact, just not hers
        # The other key claiming this doctor's certificate in the text: refused too.
        liar = DoctorKey(PC, key.cert_sha256, wrong.signer)
        grants.add(liar, "bob", "Bob Muller", NOW)
    assert check(grants, "bob", key.cert_sha256).reason == "grant-invalid"


def test_a_revoked_grant_fails_and_a_new_grant_brings_the_assistant_back(
        grants: Grants, key: DoctorKey) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    added = grants.add(key, "anna", "Anna Weber", NOW, on_event=lambda k, d: events.append(
        (k, d)))
    with pytest.raises(AlreadyGranted):
        grants.add(key, "anna", "Anna Weber", NOW)
    revoked = grants.revoke(key, "anna", NOW + dt.timedelta(minutes=5),
                            on_event=lambda k, d: events.append((k, d)))
    assert check(grants, "anna", key.cert_sha256).reason == "revoked"
    assert revoked.revocation_ok() and revoked.signature_ok(key.cert_sha256)
    with pytest.raises(NotGranted):
        grants.revoke(key, "anna", LATER)
    assert [k for k, _ in events] == ["assistant-added", "assistant-revoked"]
    assert events[0][1] == {"provider_code": PC, "login": "anna", "name": "Anna Weber",
                            "grant_id": added.id, "granted_at": added.granted_at,
                            "grant_sha256": assistants.sha256_hex(added.grant_json.encode()),
                            "doctor_cert_sha256": key.cert_sha256}
    assert events[1][1]["revoked_at"] == "2026-06-01T12:05:00+00:00"
    again = grants.add(key, "anna", "Anna Weber", NOW + dt.timedelta(minutes=10))
    assert check(grants, "anna", key.cert_sha256).grant_id == again.id != added.id
    # A revocation edited away in the store is not detectable by signature (documented),
    # but an edited revocation shows as INVALID in the list.
    edit(grants, "UPDATE grants SET revoked_at = '2026-06-01T12:06:00+00:00' WHERE id = ?",
         added.id)
    first = grants.rows(PC)[0]
    assert first.revoked_at is not None and not first.revocation_ok()


def test_a_grant_dated_after_now_is_not_in_force(grants: Grants, key: DoctorKey) -> None:
    grants.add(key, "anna", "Anna Weber", NOW)
    assert check(grants, "anna", key.cert_sha256,
                 now=NOW - dt.timedelta(seconds=1)).reason == "grant-invalid"
    # The pipeline's clock gives wall-clock seconds.
    assert grants.check(PC, "anna", doctor_login=None, doctor_cert_sha256=key.cert_sha256,
                        now=NOW.timestamp()).ok
    assert grants.check(PC, "anna", doctor_login=None, doctor_cert_sha256=key.cert_sha256,
                        now=NOW.timestamp() - 1).reason == "grant-invalid"


def test_a_grant_added_by_another_connection_is_seen_and_verdicts_are_cached(
        tmp_path: Path, key: DoctorKey, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "work" / assistants.DB_NAME
    daemon, cli = Grants(path), Grants(path)
    try:
        assert check(daemon, "anna", key.cert_sha256).reason == "unknown-assistant"
        cli.add(key, "anna", "Anna Weber", NOW)
        calls: list[int] = []
        real = assistants.verify_cms

        def counting(data: bytes, blob: bytes) -> str | None:
            calls.append(1)
            return real(data, blob)

        monkeypatch.setattr(assistants, "verify_cms", counting)
        for _ in range(3):
            assert check(daemon, "anna", key.cert_sha256).ok
        assert len(calls) == 1  # verified once; then a dict lookup per document
        cli.revoke(key, "anna", NOW)
        assert check(daemon, "anna", key.cert_sha256).reason == "revoked"
    finally:
        daemon.close()
        cli.close()


def test_a_wrong_passphrase_opens_nothing(
        grants: Grants, doctors: dict[str, testid.TestIdentity]) -> None:
    with pytest.raises(IdentityHeld) as e, \
            assistants.doctor_key(ident_of(doctors[PC]), b"not the passphrase"):
        pass
    assert e.value.code == "identity-locked"
    assert e.value.params["detail"] == assistants.WRONG_PASSPHRASE
    assert grants.rows() == []


def test_the_database_is_private(grants: Grants) -> None:
    assert stat.S_IMODE(grants.path.stat().st_mode) == 0o600


def test_list_lines_and_signature_states(grants: Grants, key: DoctorKey) -> None:
    grants.add(key, "anna", "Anna Weber", NOW)
    row = grants.rows()[0]
    assert command.signature_state(row, key.cert_sha256) == "valid"
    assert command.signature_state(row, "00" * 32) == "other-cert"
    cfg = config.parse(MINIMAL, base=Path("/srv"))
    items = [{"provider_code": PC, "login": "anna", "name": "Anna Weber",
              "granted_at": row.granted_at, "revoked_at": None, "revocation_signature": None,
              "signature": "other-cert"}]
    lines = command.list_lines(cfg, items, "en")
    assert lines[0].split() == ["Login", "Name", "Doctor", "Since", "Revoked", "Signature"]
    assert lines[1].split() == ["anna", "Anna", "Weber", PC, "Dr", "A", "2026-06-01",
                                "12:00", "UTC", "-", "another", "certificate"]
    assert lines[2].startswith("another certificate: signed with the doctor's previous")


def test_texts_exist_in_every_language_with_the_same_fields() -> None:
    def fields(t: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(t) if f}

    for lang in ("fr", "de"):
        assert set(ASSISTANT_TEXTS[lang]) == set(ASSISTANT_TEXTS["en"])
        for k, t in ASSISTANT_TEXTS[lang].items():
            assert fields(t) == fields(ASSISTANT_TEXTS["en"][k]), (lang, k)
            assert not english_words(t), (lang, k, english_words(t))
