"""What the running daemon tells IT and staff (issue 9), through the real ``econnector run``.

- a doctor whose certificate is expired (or not yet valid) is never signed for: the
  documents wait ``held`` with that reason, the other doctors' documents flow, and a
  renewed identity file releases them (point 1);
- at start the console names every identity that cannot sign, and
  ``work/daemon-status.json`` is rewritten before the first scan (point 2);
- a PDF whose sidecar never comes gets ``sidecar-missing`` (point 12);
- a Word file renamed ``.pdf`` is ``pdf-not-pdf``, whatever its tail, and a delivered
  status counts its upload (point 13).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from econnector import testid
from econnector_testsupport.daemon import (
    PROVIDER,
    SECOND_PROVIDER,
    Daemon,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import unsigned_pdf

pytestmark = pytest.mark.e2e

stale_started = "2020-01-01T00:00:00Z"

EXPIRED = SECOND_PROVIDER
LOCKED = "90812200"
ORPHAN_S = 3


def console(d: Daemon) -> str:
    return (d.root / "daemon.stderr").read_text("utf-8", errors="replace")


def state_of(d: Daemon, stem: str, state: str) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (s := d.status(stem)) and s["state"] == state and s, 30,
        f"{stem} in state {state}", on_fail=lambda: f"status={d.status(stem)}\n{d.log()}")


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon, three doctors: one fine, one with an expired certificate, one whose
    passphrase is wrong; started over a stale health file of an earlier process."""
    tmp = tmp_path_factory.mktemp("truth")
    now = dt.datetime.now(dt.UTC)
    ok = make_identity(tmp / "ok", PROVIDER)
    # not_after = now - 800 d + 730 d: expired 70 days ago
    expired = testid.make_identity(tmp / "expired", EXPIRED, f"Dr {EXPIRED}",
                                   now=now - dt.timedelta(days=800))
    locked = make_identity(tmp / "locked", LOCKED)
    locked.passphrase_file.write_text("not the passphrase\n")
    root = tmp / "practice"
    cfg = write_config(root, [(PROVIDER, ok), (EXPIRED, expired), (LOCKED, locked)],
                       watch={"orphan_timeout_s": ORPHAN_S})
    (root / "work").mkdir(parents=True)
    stale = {"schema": "econnector.daemon-status/v1", "pid": 1,
             "started_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
             "outbox_missing": True, "identities_locked": []}
    (root / "work" / "daemon-status.json").write_text(json.dumps(stale))
    with running_daemon(cfg) as daemon:
        daemon.expired_folder = tmp / "expired"  # type: ignore[attr-defined]
        yield daemon


def test_start_rewrites_the_health_file_and_says_which_identities_cannot_sign(
    d: Daemon,
) -> None:
    assert d.proc is not None
    h = wait_for(lambda: (h := d.health()) and h.get("pid") == d.proc.pid and h, 10,  # type: ignore[union-attr]
                 "a health file of this process", on_fail=lambda: str(d.health()))
    assert h["started_at"] != stale_started and h["updated_at"] >= h["started_at"]
    assert h["outbox_missing"] is False and h["inbox_missing"] is False
    assert h["folders"]["outbox"] == {"path": str(d.outbox), "ok": True, "reason": None}
    assert h["identities_locked"] == sorted([EXPIRED, LOCKED])
    ids = h["identities"]
    assert ids[PROVIDER]["state"] == "unlocked" and ids[PROVIDER]["reason"] is None
    assert ids[EXPIRED]["state"] == "locked"
    assert ids[EXPIRED]["reason"] == "certificate-expired"
    assert ids[EXPIRED]["not_after"] < dt.datetime.now(dt.UTC).isoformat()
    assert (ids[LOCKED]["state"], ids[LOCKED]["reason"]) == ("locked", "identity-locked")
    assert ids[LOCKED]["not_after"] is None  # the key never opened
    out = console(d)
    lines = [ln for ln in out.splitlines() if "cannot sign" in ln]
    assert len(lines) == 2, out
    assert any(EXPIRED in ln and "certificate-expired" in ln for ln in lines), out
    assert any(LOCKED in ln and "identity-locked" in ln and "wrong passphrase" in ln
               for ln in lines), out
    assert "not the passphrase" not in out  # no secret on the console


def test_expired_certificate_holds_its_documents_and_others_flow(d: Daemon) -> None:
    drop(d.outbox, "exp-1", unsigned_pdf("expired doctor"),
         sidecar("EXP-1", provider=EXPIRED))
    drop(d.outbox, "fine-1", unsigned_pdf("fine doctor"), sidecar("FINE-1"))
    held = state_of(d, "exp-1", "held")
    assert held["reason"] == "certificate-expired", held
    assert d.wait_outcome("fine-1")["state"] == "delivered"
    assert not (d.inbox / "exp-1.signed.pdf").exists()
    assert not list((d.root / "work" / "signed").iterdir())  # never signed, not even in work/
    assert (d.outbox / "exp-1.pdf").exists()

    # IT installs the renewed identity (same paths): the held document is signed and sent
    testid.make_identity(d.expired_folder, EXPIRED, f"Dr {EXPIRED}")  # type: ignore[attr-defined]
    st = d.wait_outcome("exp-1")
    assert st["state"] == "delivered", st
    assert (d.inbox / "exp-1.signed.pdf").exists()
    h = wait_for(lambda: (h := d.health()) and EXPIRED not in h["identities_locked"] and h,
                 10, "the health file to show the renewed identity")
    assert h["identities"][EXPIRED]["state"] == "unlocked"


def test_delivered_status_counts_the_upload(d: Daemon) -> None:
    drop(d.outbox, "count-1", unsigned_pdf("count"), sidecar("COUNT-1"))
    st = d.wait_outcome("count-1")
    assert st["state"] == "delivered" and st["attempts"] == 1, st


def test_pdf_whose_sidecar_never_comes_is_refused_as_sidecar_missing(d: Daemon) -> None:
    (d.outbox / "alone.pdf").write_bytes(unsigned_pdf("alone"))
    assert state_of(d, "alone", "waiting")["reason"] == "awaiting-sidecar"
    st = d.wait_outcome("alone")
    assert (st["state"], st["reason"]) == ("rejected", "sidecar-missing"), st
    err = d.error("alone")
    assert err is not None and err["code"] == "sidecar-missing"
    assert err["files"] == ["alone.pdf"]
    assert (d.inbox / "alone.error.txt").exists()
    assert (d.failed / "alone.pdf").exists() and not (d.outbox / "alone.pdf").exists()


# A .docx is a zip file: "PK\x03\x04" first, no %PDF- anywhere.
WORD = b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + b"word/document.xml" + os.urandom(2000)


@pytest.mark.parametrize("tail", [b"", b"\n%%EOF\n"], ids=["no-eof", "eof-at-end"])
def test_word_file_renamed_pdf_is_not_a_pdf(d: Daemon, tail: bytes) -> None:
    stem = f"word-{len(tail)}"
    assert b"%%EOF" not in WORD and b"%PDF-" not in WORD
    drop(d.outbox, stem, WORD + tail, sidecar(f"WORD-{len(tail)}"))
    st = d.wait_outcome(stem)
    assert (st["state"], st["reason"]) == ("rejected", "pdf-not-pdf"), st
    err = d.error(stem)
    assert err is not None and err["code"] == "pdf-not-pdf"
    assert (d.failed / f"{stem}.pdf").exists()


def test_missing_outbox_and_inbox_outside_root_are_waited_for_never_created(
    tmp_path: Path,
) -> None:
    share = tmp_path / "share"  # a network share that is not mounted yet
    outbox, inbox = share / "outbox", share / "inbox"
    ident = make_identity(tmp_path / "id", PROVIDER)
    cfg = write_config(tmp_path / "practice", [(PROVIDER, ident)],
                       folders={"outbox": str(outbox), "inbox": str(inbox)})
    with running_daemon(cfg) as d:
        h = wait_for(lambda: (h := d.health()) and h.get("pid") == d.proc.pid and h, 10,  # type: ignore[union-attr]
                     "the health file", on_fail=lambda: str(d.health()))
        assert h["outbox_missing"] is True and h["inbox_missing"] is True
        assert h["folders"]["outbox"] == {"path": str(outbox), "ok": False,
                                          "reason": "outbox-missing"}
        assert h["folders"]["inbox"] == {"path": str(inbox), "ok": False,
                                         "reason": "inbox-missing"}
        out = console(d)
        assert f"folders.outbox: {outbox} is missing" in out, out
        assert f"folders.inbox: {inbox} is missing" in out, out
        assert not share.exists()  # never invented

        # the share is mounted with its outbox first: nothing is taken while no answer
        # could be written
        outbox.mkdir(parents=True)
        drop(outbox, "late", unsigned_pdf("late"), sidecar("LATE-1"))
        wait_for(lambda: d.health().get("outbox_missing") is False, 15, "the outbox back",
                 on_fail=lambda: f"{d.health()}\n{d.log()}")
        assert (outbox / "late.pdf").exists() and not inbox.exists()
        inbox.mkdir()
        st = wait_for(lambda: (p := inbox / "late.status.json").exists()
                      and (s := json.loads(p.read_text())) and s["state"] == "delivered" and s,
                      30, "the delivery", on_fail=lambda: f"{d.health()}\n{d.log()}")
        assert st["attempts"] == 1
        h = wait_for(lambda: (h := d.health()) and h["inbox_missing"] is False and h, 10,
                     "the inbox back in the health file")
        assert h["folders"]["outbox"]["ok"] and h["folders"]["inbox"]["ok"]
        out = console(d)
        assert f"folders.outbox: {outbox} is back" in out, out
        assert f"folders.inbox: {inbox} is back" in out, out
