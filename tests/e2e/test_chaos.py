"""A small chaos run in CI: random SIGKILLs, then nothing lost, duplicated or orphaned.
The long run (200+ kills, 2,000 documents) is reported in docs/reliability.md."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from econnector_testsupport.paths import BENCH
from econnector_testsupport.vault import subprocess_env

pytestmark = pytest.mark.e2e


def test_small_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    r = subprocess.run(
        [sys.executable, str(BENCH / "chaos.py"), "--cycles", "5", "--batch", "6",
         "--max-run", "3", "--seed", "7", "--json", str(out)],
        capture_output=True, text=True, env=subprocess_env(), timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["kills"] == 5 and summary["documents"] == 30
    assert (summary["lost"], summary["duplicated"], summary["orphaned"]) == (0, 0, 0)
    assert summary["delivered"] == summary["valid"]
