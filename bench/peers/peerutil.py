"""Shared bits of the Python peers: the config, the input folder, CPU time, the result line.

Kept free of signing and HTTP code so each peer shows its own work in full.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Identity:
    pkcs12: Path
    passphrase_file: Path

    def passphrase(self) -> bytes:
        # As econnector's config does: the file's content without the trailing newline.
        return self.passphrase_file.read_bytes().rstrip(b"\r\n")


@dataclass(frozen=True)
class Config:
    vault_url: str
    token: str
    ca_bundle: str
    identities: dict[str, Identity]


def load_config(path: str | Path) -> Config:
    raw: dict[str, Any] = json.loads(Path(path).read_text("utf-8"))
    return Config(
        vault_url=str(raw["vault_url"]).rstrip("/"),
        token=str(raw["token"]),
        ca_bundle=str(raw["ca_bundle"]),
        identities={
            str(pc): Identity(Path(v["pkcs12"]), Path(v["passphrase_file"]))
            for pc, v in raw["identities"].items()
        },
    )


def input_stems(folder: str | Path) -> list[str]:
    """The stems of the PDFs in ``folder``, sorted (each should have ``<stem>.json``)."""
    return sorted(p.stem for p in Path(folder).glob("*.pdf") if p.is_file())


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def tree_cpu_seconds() -> float:
    """User+sys of this process and of its reaped children."""
    return cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)


def print_result(
    peer: str, documents: int, seconds: float, cpu: float, ok: int, failed: int
) -> None:
    line = {
        "peer": peer,
        "documents": documents,
        "seconds": round(seconds, 6),
        "cpu_seconds": round(cpu, 6),
        "ok": ok,
        "failed": failed,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
