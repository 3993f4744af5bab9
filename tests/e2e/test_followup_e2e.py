"""What happened after delivery, end to end: the real daemon delivers to the real vault,
the patient opens the document (the vault's simulator), and the document's status file
says so at the daemon's next follow-up round (``followup.poll_every_s: 1``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from econnector.testid import TestIdentity
from econnector_testsupport.daemon import (
    PROVIDER,
    SIDECAR_MATRICULE,
    Daemon,
    drop,
    run_cli,
    running_daemon,
    sidecar,
    wait_for,
    write_config,
)
from econnector_testsupport.vault import (
    VaultProcess,
    open_document,
    running_vault,
    unsigned_pdf,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultProcess]:
    with running_vault(tmp_path_factory.mktemp("followup-vault"),
                       patients={SIDECAR_MATRICULE: "green"}, patient_simulator=True) as vp:
        yield vp


@pytest.fixture
def daemon(tmp_path: Path, identity: TestIdentity, vault: VaultProcess) -> Iterator[Daemon]:
    cfg = write_config(tmp_path / "practice", [(PROVIDER, identity)], vault=vault,
                       followup={"poll_every_s": 1})
    with running_daemon(cfg) as d:
        yield d


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_status_file_says_when_the_patient_opened_the_document(
    daemon: Daemon, vault: VaultProcess
) -> None:
    drop(daemon.outbox, "inv-fu-1", unsigned_pdf("Invoice FU-1"), sidecar("FU-1"))
    status = daemon.wait_outcome("inv-fu-1")
    assert status["state"] == "delivered", status
    assert status.get("opened_at") is None  # not opened yet
    receipt = daemon.receipt("inv-fu-1")
    assert receipt is not None

    opened_at = open_document(vault, receipt["vault_document_id"])

    def opened() -> str | None:
        s = daemon.status("inv-fu-1")
        value = s.get("opened_at") if s else None
        return value if isinstance(value, str) else None

    seen = wait_for(opened, 20, "opened_at in the status file",
                    on_fail=lambda: f"status={daemon.status('inv-fu-1')}\nlog:\n{daemon.log()}")
    # The status file may write the time to the second; it is the vault's time.
    assert abs((_utc(seen) - _utc(opened_at)).total_seconds()) < 1.0
    after = daemon.status("inv-fu-1")
    assert after is not None and after["state"] == "delivered"
    # `econnector status` counts it and marks it, in the staff's language.
    r = run_cli("status", "-c", str(daemon.config), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["opened"] == 1, r
    r = run_cli("status", "-c", str(daemon.config), "--lang", "de")
    assert "vom Patienten geöffnet: 1" in r.stdout and "geöffnet am" in r.stdout, r.stdout
    # The daemon's log names no patient.
    assert SIDECAR_MATRICULE not in daemon.log()
