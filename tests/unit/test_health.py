"""The health file: the daemon's one writer and the status command's one reader agree."""

from __future__ import annotations

from pathlib import Path

from econnector import health
from econnector.identities import Identities
from econnector.statusview import health_lines
from econnector.vault_gate import GateState, VaultGate


def test_what_the_daemon_writes_the_status_command_reads_and_says(tmp_path: Path) -> None:
    gate = VaultGate(base=1.0, cap=8.0)
    gate.failed(1_800_000_000.0, 0.0, reason="vault-unauthorized", message="401",
                params={"status": 401}, state=GateState.UNAUTHORIZED)
    ids = Identities(locked={"20000000": "wrong passphrase or damaged key"})
    doc = health.build(
        started_at="2027-01-15T08:00:00Z", now=1_800_000_000.0, storage_paused=None,
        vault=health.vault_section(gate), identities_locked=ids.blocked(),
        identities=ids.report(["20000000"]),
        outbox=health.Folder("outbox", tmp_path / "outbox", False),
        inbox=health.Folder("inbox", tmp_path / "inbox", True))
    health.write(tmp_path / health.FILE, doc)
    back = health.read(tmp_path)
    assert back == doc and back["schema"] == health.SCHEMA
    assert back["vault"]["params"] == {"status": "401"}  # params as text, for any language
    assert back["folders"]["inbox"] == {"path": str(tmp_path / "inbox"), "ok": False,
                                        "reason": "inbox-missing"}
    text = "\n".join(health_lines(back, pid=42, lang="en"))
    for code in ("vault-unauthorized", "identity-locked", "inbox-missing"):
        assert code in text


def test_no_health_file_or_a_damaged_one_reads_as_nothing(tmp_path: Path) -> None:
    assert health.read(tmp_path) == {}
    (tmp_path / health.FILE).write_text("[1, 2")
    assert health.read(tmp_path) == {}
    (tmp_path / health.FILE).write_text("[1, 2]")
    assert health.read(tmp_path) == {}


def test_status_says_the_days_left_and_warns_from_30_days() -> None:
    import datetime as dt

    now = dt.datetime(2027, 1, 1, 12, tzinfo=dt.UTC)
    health_doc = {"identities": {
        "20000000": {"state": "unlocked", "not_after": "2027-06-30T00:00:00+00:00"},
        "20000001": {"state": "unlocked", "not_after": "2027-01-21T00:00:00+00:00"},
    }}
    en = health_lines(health_doc, pid=42, lang="en", now=now)
    assert "certificate of 20000000: valid until 2027-06-30 (180 days left)" in en
    assert any(line.startswith("WARNING: the certificate of 20000001 expires on 2027-01-21, "
                               "in 20 days") for line in en)
    fr = health_lines(health_doc, pid=42, lang="fr", now=now)
    assert any("ATTENTION : le certificat de 20000001 expire le 21/01/2027, dans 20 jours"
               in line for line in fr)
    de = health_lines(health_doc, pid=42, lang="de", now=now)
    assert any("läuft am 21.01.2027 ab, in 20 Tagen" in line for line in de)
