"""The benchmark runs end to end at tiny sizes, so it does not rot. No timing asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from econnector_testsupport.daemon import require_tool
from econnector_testsupport.paths import BENCH
from econnector_testsupport.vault import subprocess_env

pytestmark = pytest.mark.e2e


def test_bench_quick_runs_every_scenario_and_peer(tmp_path: Path) -> None:
    for tool in ("inotifywait", "jq", "curl"):
        require_tool(tool)
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick",
                        "--json", str(out)], capture_output=True, text=True,
                       env=subprocess_env(), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    got = {(row["scenario"], row["system"]) for row in rows}
    assert got == {
        ("throughput", "econnector"), ("latency", "econnector"), ("backlog", "econnector"),
        ("idle", "econnector"), ("big file", "econnector"), ("throughput", "floor"),
        ("throughput", "naive-loop"), ("throughput", "shell-pipeline"),
    }
    for row in rows:
        assert row["value"] > 0 or row["scenario"] == "idle"
        if row["system"] in ("naive-loop", "shell-pipeline"):
            assert row["extra"]["failed"] == 0 and row["extra"]["ok"] == row["docs"]
    assert "| throughput | econnector |" in r.stdout
