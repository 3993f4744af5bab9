"""The daemon against the real reference vault over TLS (issue 9, points 5 and 7).

- a vault whose certificate does not verify (a wrong ``ca_bundle``) is a
  misconfiguration: documents wait ``held`` with ``vault-tls``, the health file says
  so, and when IT writes the right CA into the bundle file delivery resumes by itself;
- a patient who opted out of the vault is a final outcome, not an error: the signed PDF
  goes to the inbox to be printed, the original to the archive, an answer file says
  what to do, and nothing is stored or billed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from econnector_testsupport.daemon import (
    drop,
    make_identity,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import (
    VaultProcess,
    make_tls,
    running_vault,
    unsigned_pdf,
    vault_records,
)

pytestmark = pytest.mark.e2e

RED = "1953010100115"  # the vault's patient map makes this patient opt out
TLS_PROVIDER = "90812300"
OPTED_PROVIDER = "90812400"


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    folder = tmp_path_factory.mktemp("vault")
    with running_vault(folder, tls=make_tls(folder / "tls"), patients={RED: "red"}) as vp:
        yield vp


def test_untrusted_vault_certificate_holds_deliveries_until_the_ca_bundle_is_fixed(
    tmp_path: Path, vault: VaultProcess
) -> None:
    assert vault.ca_bundle is not None
    bundle = tmp_path / "vault-ca.pem"
    shutil.copy(make_tls(tmp_path / "other").ca_bundle, bundle)  # some other CA: wrong
    ident = make_identity(tmp_path / "id", TLS_PROVIDER)
    cfg = write_config(tmp_path / "practice", [(TLS_PROVIDER, ident)], vault=vault,
                       ca_bundle=bundle)
    with running_daemon(cfg) as d:
        drop(d.outbox, "tls-1", unsigned_pdf("tls 1"), sidecar("TLS-1", provider=TLS_PROVIDER))
        drop(d.outbox, "tls-2", unsigned_pdf("tls 2"), sidecar("TLS-2", provider=TLS_PROVIDER))
        for stem in ("tls-1", "tls-2"):
            st = wait_for(lambda s=stem: (x := d.status(s)) and x["state"] == "held" and x,
                          30, f"{stem} held", on_fail=lambda s=stem: f"{d.status(s)}\n{d.log()}")
            assert st["reason"] == "vault-tls", st
        h = wait_for(lambda: (h := d.health()) and h["vault"]["state"] == "tls" and h, 10,
                     "the health file to show the TLS failure", on_fail=lambda: str(d.health()))
        assert h["vault"]["reason"] == "vault-tls"
        assert vault_records(vault, TLS_PROVIDER) == []

        # IT puts the vault's CA into the bundle file: deliveries resume without a restart
        bundle.write_bytes(vault.ca_bundle.read_bytes())
        for stem in ("tls-1", "tls-2"):
            assert d.wait_outcome(stem, timeout=60)["state"] == "delivered"
        h = wait_for(lambda: (h := d.health()) and h["vault"]["state"] == "open" and h, 10,
                     "the health file to show the vault open", on_fail=lambda: str(d.health()))
    assert len(vault_records(vault, TLS_PROVIDER)) == 2


def test_patient_who_opted_out_gets_the_signed_pdf_to_print(
    tmp_path: Path, vault: VaultProcess
) -> None:
    ident = make_identity(tmp_path / "id", OPTED_PROVIDER)
    cfg = write_config(tmp_path / "practice", [(OPTED_PROVIDER, ident)], vault=vault)
    pdf = unsigned_pdf("for a patient who opted out")
    with running_daemon(cfg) as d:
        drop(d.outbox, "red", pdf, sidecar("RED-1", provider=OPTED_PROVIDER, mat=RED,
                                           language="en"))
        st = wait_for(lambda: (s := d.status("red")) and s["state"] == "patient-opted-out"
                      and s, 30, "the opted-out outcome",
                      on_fail=lambda: f"{d.status('red')}\n{d.log()}")
        answer = wait_for(lambda: (d.inbox / "red.opted-out.json").exists()
                          and json.loads((d.inbox / "red.opted-out.json").read_text()),
                          10, "the answer file")
    assert st["attempts"] == 1
    assert answer["code"] == "patient-opted-out" and answer["signed_file"] == "red.signed.pdf"
    assert answer["document_id"] == "RED-1"
    text = (d.inbox / "red.opted-out.txt").read_text("utf-8")
    assert "red.signed.pdf" in text and "print" in text.lower()
    signed = (d.inbox / "red.signed.pdf").read_bytes()
    assert signed.startswith(pdf) and len(signed) > len(pdf)  # signed, to be printed
    # finished, not failed: nothing to correct
    assert sorted(p.name for p in d.archived()) == ["red.pdf", "red.signed.pdf", "red.yaml"]
    assert not d.failed.exists() or not list(d.failed.iterdir())
    assert d.error("red") is None and d.receipt("red") is None
    assert not list(d.outbox.iterdir())
    assert vault_records(vault, OPTED_PROVIDER) == []  # not stored, not billed
