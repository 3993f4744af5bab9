"""Issue 12, point 3, through the real daemon and the reference vault: with
``assistants.enforce``, a registered assistant's documents are delivered (signed by the
doctor, the receipt and the vault's metadata naming the assistant), an unknown or a
revoked assistant is refused with ``assistant-not-authorized`` (field submitted_by), the
doctor's own login passes, and a grant edited in the store fails its signature check."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from econnector_testsupport.daemon import (
    drop,
    econnector_cmd,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import running_vault, subprocess_env, unsigned_pdf

pytestmark = pytest.mark.e2e

PROVIDER = "70000095"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with running_vault(tmp_path_factory.mktemp("vault")) as vp:
        yield vp


def assistant(cfg: Path, passphrase: str, *args: str) -> None:
    r = subprocess.run(econnector_cmd("assistant", *args, "-c", str(cfg), "--lang", "en"),
                       input=passphrase + "\n", capture_output=True, text=True,
                       env=subprocess_env(), timeout=120)
    assert r.returncode == 0, r


def outcome(d, stem: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return wait_for(lambda: (s := d.status(stem)) and s["state"] in ("delivered", "rejected")
                    and (s["state"] != "delivered" or d.receipt(stem)) and s, 60,
                    f"{stem}'s outcome", on_fail=lambda: d.log()[-3000:])


def test_enforced_assistants(tmp_path: Path, vault) -> None:  # type: ignore[no-untyped-def]
    ident = make_identity(tmp_path / "id", PROVIDER)
    root = tmp_path / "practice"
    cfg = write_config(root, [(PROVIDER, ident)], vault=vault, assistants={"enforce": True})
    doc = json.loads(json.dumps(__import__("yaml").safe_load(cfg.read_text())))
    doc["identities"][0]["login"] = "drweber"
    cfg.write_text(json.dumps(doc))
    (root / "outbox").mkdir(parents=True, exist_ok=True)
    passphrase = ident.passphrase_file.read_text().strip()
    assistant(cfg, passphrase, "add", "--provider", PROVIDER, "--login", "anna",
              "--name", "Anna Weber")
    assistant(cfg, passphrase, "add", "--provider", PROVIDER, "--login", "marc",
              "--name", "Marc Schmit")
    inbox = root / "inbox"
    with running_daemon(cfg) as d:
        senders = {"by-anna": "anna", "by-bob": "bob", "by-doctor-code": PROVIDER,
                   "by-doctor-login": "drweber", "by-nobody": None}
        for stem, who in senders.items():
            meta = sidecar(stem.upper(), provider=PROVIDER, type_="certificate")
            if who is None:
                del meta["submitted_by"]
            else:
                meta["submitted_by"] = who
            drop(root / "outbox", stem, unsigned_pdf(stem), meta)
        states = {stem: outcome(d, stem)["state"] for stem in senders}
        assert states == {"by-anna": "delivered", "by-bob": "rejected",
                          "by-doctor-code": "delivered", "by-doctor-login": "delivered",
                          "by-nobody": "rejected"}
        receipt = d.receipt("by-anna")
        assert receipt is not None and receipt["submitted_by"] == "anna"
        assert receipt["submitted_by_name"] == "Anna Weber"
        assert "Anna Weber (anna)" in (inbox / "by-anna.receipt.txt").read_text()
        # The vault's metadata names the assistant too; the signature is the doctor's.
        got = httpx.get(f"{vault.base_url}/v1/documents/{receipt['vault_document_id']}",
                        headers={"Authorization": f"Bearer {vault.token}"},
                        verify=str(vault.ca_bundle) if vault.ca_bundle else True)
        meta = got.json()["metadata"]
        assert meta["submitted_by"] == "anna" and meta["submitted_by_name"] == "Anna Weber"
        assert "TEST" in receipt["signature"]["signer_subject"]
        err = json.loads((inbox / "by-bob.error.json").read_text())
        assert err["code"] == "assistant-not-authorized" and err["field"] == "submitted_by"
        assert "bob" in err["message"] and PROVIDER in err["message"]
        assert json.loads((inbox / "by-nobody.error.json").read_text())["code"] == (
            "assistant-not-authorized")

        # Revoked: refused from then on.
        assistant(cfg, passphrase, "revoke", "--provider", PROVIDER, "--login", "anna")
        drop(root / "outbox", "anna-after", unsigned_pdf("anna-after"),
             sidecar("ANNA-AFTER", provider=PROVIDER, type_="certificate"))
        assert outcome(d, "anna-after")["state"] == "rejected"
        err = json.loads((inbox / "anna-after.error.json").read_text())
        assert err["code"] == "assistant-not-authorized" and "révoqué" in err["message"]

        # A grant edited in the store (the name changed behind the doctor's back).
        with sqlite3.connect(root / "work" / "assistants.sqlite") as db:
            db.execute("UPDATE grants SET name = 'Mallory', grant_json = replace(grant_json,"
                       " 'Marc Schmit', 'Mallory') WHERE login = 'marc'")
        meta = sidecar("MARC-1", provider=PROVIDER, type_="certificate")
        meta["submitted_by"] = "marc"
        drop(root / "outbox", "by-marc", unsigned_pdf("by-marc"), meta)
        assert outcome(d, "by-marc")["state"] == "rejected"
        err = json.loads((inbox / "by-marc.error.json").read_text())
        assert err["code"] == "assistant-not-authorized" and "signature" in err["message"]
