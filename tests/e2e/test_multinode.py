"""Several PCs on one shared outbox (issue 13): three real daemons, 500 documents, one
SIGKILLed while it holds claims; the survivors take its claims over after the lease
and every document is delivered exactly once (bench/multinode.py does the run and the
counting from the outside: the vault's billing, the receipts, the folders)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from econnector_testsupport.vault import subprocess_env

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_three_nodes_one_killed_deliver_each_document_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "nodes.json"
    r = subprocess.run(
        [sys.executable, str(BENCH / "multinode.py"), "--nodes", "3", "--documents", "500",
         "--lease", "10", "--workers", "1", "--json", str(out),
         "--keep", str(tmp_path / "run")],
        capture_output=True, text=True, env=subprocess_env(), timeout=1200,
    )
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]
    s = json.loads(out.read_text())
    assert (s["nodes"], s["documents"], s["kills"]) == (3, 500, 1)
    assert s["claims_at_kill"] > 0  # it died holding pairs: the takeover was exercised
    assert s["delivered_once"] == s["vault_records"] == 500  # billed once each
    assert (s["duplicated"], s["lost"], s["errors"], s["left_behind"]) == (0, 0, 0, 0)
    assert s["archived_twice"] == 0
    assert sum(s["by_node"].values()) == 500 and set(s["by_node"]) <= {"pc-a", "pc-b", "pc-c"}
    assert len(s["by_node"]) == 3  # each node did its share
    # back after the takeover, the killed node finished nothing the others had done
    assert s["victim_taken_over"] > 0 and s["victim_unfinished"] == 0
