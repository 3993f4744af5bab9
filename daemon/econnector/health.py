"""``work/daemon-status.json``: what blocks the whole daemon, for ``econnector status``.

The daemon is the one writer (:func:`write`, rewritten at start and on every
change: storage paused, the vault gate, identities, folders); ``status`` is the
one reader (:func:`read`). The format (schema ``econnector.daemon-status/v1``)
is documented in docs/operations.md; readers must tolerate older files (see
:mod:`.statusview`).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fsio
from .receipts import iso
from .vault_gate import GateState, VaultGate

SCHEMA = "econnector.daemon-status/v1"
FILE = "daemon-status.json"  # in work/


@dataclass(frozen=True, slots=True)
class Folder:
    name: str  # "outbox" or "inbox"
    path: Path
    missing: bool


def vault_section(gate: VaultGate) -> dict[str, Any]:
    """The gate as the health file says it (message in English; params render it in
    any language)."""
    return {"state": gate.state.value, "reason": gate.reason, "message": gate.message,
            "params": {k: str(v) for k, v in gate.params.items() if v is not None},
            "next_probe_at": iso(gate.next_probe) if gate.state is not GateState.OPEN else None}


def build(
    *, started_at: str, now: float, storage_paused: str | None, vault: dict[str, Any],
    identities_locked: list[str], identities: dict[str, dict[str, Any]],
    outbox: Folder, inbox: Folder,
) -> dict[str, Any]:
    """The health document. Pure, but for the process id."""
    folders = {f.name: {"path": str(f.path), "ok": not f.missing,
                        "reason": f"{f.name}-missing" if f.missing else None}
               for f in (outbox, inbox)}
    return {
        "schema": SCHEMA,
        "pid": os.getpid(),
        "started_at": started_at,
        "updated_at": iso(now),
        "storage": {"paused": storage_paused is not None, "reason": storage_paused},
        "vault": vault,
        "identities_locked": identities_locked,
        "identities": identities,
        "outbox_missing": outbox.missing,
        "inbox_missing": inbox.missing,
        "folders": folders,
    }


def write(path: Path, doc: dict[str, Any]) -> None:
    """Atomically and fsynced; a failure is not the daemon's business (the disk being
    full is said by the storage pause, and the next change rewrites it)."""
    with contextlib.suppress(OSError):
        fsio.write_json(path, doc)


def read(work: Path) -> dict[str, Any]:
    """The last health document written under ``work``; {} when none is readable."""
    try:
        doc = json.loads((work / FILE).read_text("utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}
