"""Config documents for tests of the config's parsing and of the CLI's answers to it."""

from __future__ import annotations

import json
from typing import Any

# The smallest valid config document: every other key takes the schema's default.
MINIMAL: dict[str, Any] = {
    "schema": "econnector.config/v1",
    "folders": {"root": "data"},
    "identities": [
        {
            "provider_code": "90812100",
            "name": "Dr A",
            "pkcs12": "k.p12",
            "passphrase_file": "k.pass",
        }
    ],
    "vault": {"kind": "local"},
}


def with_(path: str, value: object) -> dict[str, Any]:
    """A copy of :data:`MINIMAL` with one dotted key set (list items by index)."""
    doc: dict[str, Any] = json.loads(json.dumps(MINIMAL))
    *parents, last = path.split(".")
    node: Any = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[last] = value
    return doc
